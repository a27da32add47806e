/*
 * test_diag_sizes.c -- how much memory an object stands for
 * (src/diag/sizes.c): flat and owned sizes of each built-in type and of a
 * user type's owned_size slot (and the slot ignored under the first
 * layout of pm_type_spec), deep sizes with shared objects counted once,
 * retained sizes on diamonds, cycles and C references, every object's
 * dominator checked against a brute-force one on random graphs, the top
 * retainers report, out of memory at every internal allocation, and a
 * 10,000,000-long chain sized and dominated on a 256 KiB stack.
 */
#define _GNU_SOURCE /* open_memstream */
#include "testutil.h"
#include "heap/internal_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Widget (tu_widget: two reference fields) holding a and b (borrowed). */
static pm_object *widget(pm_type *t, pm_object *a, pm_object *b) {
    pm_object *refs[2] = {a ? pm_incref(a) : NULL, b ? pm_incref(b) : NULL};
    pm_object *w = pm_object_new_refs_steal(t, refs);
    CHECK(w != NULL);
    return w;
}

static void set_field(pm_object *w, int which, pm_object *v) {
    pm_object **f = which ? &((tu_widget *)w)->b : &((tu_widget *)w)->a;
    pm_object *old = *f;
    *f = v ? pm_incref(v) : NULL;
    if (old) pm_decref(old);
}

/* ---- flat and owned ---------------------------------------------------------- */

typedef struct buf_obj {
    pm_object ob;
    size_t len;
    char *data; /* malloc'd: owned outside the block */
} buf_obj;

static size_t buf_owned(pm_object *self) { return ((buf_obj *)self)->len; }

static void buf_dealloc(pm_object *self) { free(((buf_obj *)self)->data); }

static pm_object *buf_new(pm_type *t, size_t len) {
    buf_obj *b = (buf_obj *)pm_object_new(t);
    CHECK(b != NULL);
    b->data = malloc(len);
    b->len = len;
    return &b->ob;
}

static void test_flat_and_owned(void) {
    tu_group g = tu_group_begin();
    pm_object *s = pm_str_from("hello"); /* header, hash, nbytes, length + 6 bytes: 46 */
    CHECK_EQ(pm_size_flat(s), 48);
    CHECK_EQ(pm_size_owned(s), 0);
    pm_object *l = pm_list_new(10); /* 32-byte object, 80-byte item array */
    CHECK_EQ(pm_size_flat(l), 32);
    CHECK_EQ(pm_size_owned(l), 80);
    pm_object *big = pm_list_new(100);                                 /* 800 bytes */
    CHECK(pm_size_owned(big) >= 800 && pm_size_owned(big) < 800 + 64); /* its size class */
    pm_object *empty = pm_list_new(0);
    CHECK_EQ(pm_size_owned(empty), 0);
    pm_object *d = pm_dict_new();
    CHECK_EQ(pm_size_flat(d), 32);
    CHECK_EQ(pm_size_owned(d), 0); /* no table yet (D1) */
    CHECK_EQ(pm_dict_set_str(d, "k", s), 0);
    /* a str table of 8 slots: 24-byte header, 8 one-byte indices, 5 entries of 16 */
    CHECK_EQ(pm_size_owned(d), 112);
    pm_object *set = pm_set_new(NULL);
    for (int i = 0; i < 4; i++) {
        pm_object *k = pm_int(1000 + i);
        CHECK_EQ(pm_set_add(set, k), 0);
        pm_decref(k);
    }
    CHECK_EQ(pm_size_owned(set), 0); /* in the object's own small table */
    pm_object *k5 = pm_int(1004);
    CHECK_EQ(pm_set_add(set, k5), 0); /* the fifth fills 3/5 of 8: a table of 32 */
    pm_decref(k5);
    CHECK_EQ(pm_size_owned(set), 32 * 16);
    for (int i = 5; i < 100; i++) {
        pm_object *k = pm_int(1000 + i);
        CHECK_EQ(pm_set_add(set, k), 0);
        pm_decref(k);
    }
    /* A power-of-two table of 16-byte entries at most 3/5 full, in the
     * block that holds it: a pool class (at most 1/8 wider: eight classes
     * per doubling, heap/classes.c) or a large block of its exact size. */
    int64_t so = pm_size_owned(set), entries = 1;
    while (entries * 2 * 16 <= so) entries *= 2;
    CHECK(so % 16 == 0 && entries * 3 >= 100 * 5);
    CHECK(so - entries * 16 <= entries * 16 / 8);
    CHECK_EQ(pm_size_flat(pm_none()), 0); /* a static: in no heap */

    pm_type_spec spec = PM_TYPE_SPEC_INIT;
    spec.name = "Buf";
    spec.basicsize = sizeof(buf_obj);
    spec.slots.dealloc = buf_dealloc;
    spec.owned_size = buf_owned;
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    pm_object *b = buf_new(t, 1000);
    CHECK_EQ(pm_size_flat(b), 32);
    CHECK_EQ(pm_size_owned(b), 1000);
    CHECK_EQ(pm_size_owned(PM_OBJ(t)), 16); /* its name, "Buf\0", in a 16-byte block */
    /* The first layout (struct_size 0) ends at nrefs: the slot is not read. */
    spec.struct_size = 0;
    pm_type *t0 = pm_type_new(&spec);
    CHECK(t0 != NULL);
    pm_object *b0 = buf_new(t0, 1000);
    CHECK_EQ(pm_size_owned(b0), 0);

    CHECK_EQ(pm_size_flat(NULL), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "pm_size_flat"));
    CHECK_EQ(pm_size_owned(NULL), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    pm_decref(b0);
    pm_decref(PM_OBJ(t0));
    pm_decref(b);
    pm_decref(PM_OBJ(t));
    pm_decref(set);
    pm_decref(d);
    pm_decref(empty);
    pm_decref(big);
    pm_decref(l);
    pm_decref(s);
    tu_group_end(&g, 0);
}

/* ---- deep sizes ----------------------------------------------------------------- */

static void test_deep(void) {
    tu_group g = tu_group_begin();
    pm_type *t = tu_widget_type();
    pm_object *c = widget(t, pm_none(), NULL); /* None: a static, 0 bytes */
    pm_object *b = widget(t, c, NULL);
    pm_object *a = widget(t, b, c); /* c shared: counted once */
    CHECK_EQ(pm_size_flat(a), 32);
    CHECK_EQ(pm_size_deep(a), 3 * 32); /* and the type left out */
    CHECK_EQ(pm_size_deep(b), 2 * 32);
    CHECK_EQ(pm_size_deep(c), 32);
    set_field(c, 1, a); /* a cycle: a -> b -> c -> a */
    CHECK_EQ(pm_size_deep(c), 3 * 32);
    set_field(c, 1, NULL);

    pm_object *s = pm_str_from("hello"), *l = pm_list_new(0);
    for (int i = 0; i < 10; i++) CHECK_EQ(pm_list_append(l, s), 0);
    /* the list, its item array and one str */
    CHECK_EQ(pm_size_deep(l), pm_size_flat(l) + pm_size_owned(l) + 48);
    pm_object *d = pm_dict_new();
    CHECK_EQ(pm_dict_set_str(d, "list", l), 0); /* key, value, and what the value holds */
    /* its block, its table, the key "list" (a 48-byte str) and the list's deep size */
    CHECK_EQ(pm_size_deep(d), 32 + 112 + 48 + pm_size_deep(l));

    CHECK_EQ(pm_size_deep(pm_none()), -1);
    CHECK(tu_raised(PM_EXC_VALUE, "not a live object"));
    CHECK_EQ(pm_size_deep(NULL), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    pm_decref(d);
    pm_decref(l);
    pm_decref(s);
    pm_decref(a);
    pm_decref(b);
    pm_decref(c);
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 0);
}

/* ---- retained sizes --------------------------------------------------------------- */

static const pm_retained *row_of(const pm_dominators *d, pm_object *o) {
    const pm_retained *r = pm_dominators_find(d, o);
    CHECK(r != NULL);
    return r;
}

static void test_retained(void) {
    tu_group g = tu_group_begin();
    pm_type *t = tu_widget_type();
    /* A diamond from a root: r -> x -> s, r -> y -> s. s is r's alone. */
    pm_object *s = widget(t, NULL, NULL), *x = widget(t, s, NULL), *y = widget(t, s, NULL);
    pm_object *r = widget(t, x, y);
    CHECK_EQ(pm_root_add(r, "r"), 0);
    pm_decref(s);
    pm_decref(x);
    pm_decref(y);
    pm_decref(r); /* the root table holds r alone now */
    CHECK_EQ(pm_size_retained(r), 4 * 32);
    CHECK_EQ(pm_size_retained(x), 32);
    CHECK_EQ(pm_size_retained(y), 32);
    CHECK_EQ(pm_size_retained(s), 32);
    pm_dominators *d = pm_dominators_take(NULL);
    CHECK(d != NULL);
    CHECK(row_of(d, s)->dominator == r && row_of(d, x)->dominator == r);
    CHECK(row_of(d, r)->dominator == NULL && row_of(d, r)->count == 4);
    pm_dominators_free(d);

    /* A cycle under the root: r -> x -> s -> x' ... make s hold x: x, s
     * dominated by x still (every way to s passes x or y). */
    set_field(y, 0, NULL); /* now r -> x -> s only */
    set_field(s, 0, x);    /* and s -> x: a cycle */
    CHECK_EQ(pm_size_retained(x), 2 * 32);
    CHECK_EQ(pm_size_retained(s), 32);
    CHECK_EQ(pm_size_retained(r), 4 * 32);
    /* C holds s too: x no longer retains s, nor r x (s leads to it). */
    pm_incref(s);
    CHECK_EQ(pm_size_retained(x), 32);
    CHECK_EQ(pm_size_retained(r), 2 * 32);
    d = pm_dominators_take(NULL);
    CHECK(d != NULL && row_of(d, s)->dominator == NULL && row_of(d, s)->count == 1);
    pm_dominators_free(d);
    pm_decref(s);

    /* An unreachable cycle: nothing holds p and q. */
    pm_object *p = widget(t, NULL, NULL), *q = widget(t, p, NULL);
    set_field(p, 0, q);
    pm_decref(q);
    pm_object *keep = p; /* borrowed from here on: the cycle holds it */
    pm_decref(p);
    CHECK_EQ(pm_size_retained(keep), 0);
    d = pm_dominators_take(NULL);
    CHECK(d != NULL && row_of(d, keep)->count == 0 && row_of(d, keep)->dominator == NULL);
    int64_t reached, bytes;
    pm_dominators_totals(d, &reached, &bytes);
    CHECK_EQ(reached, (int64_t)pm_dominators_size(d) - 2); /* all but p and q */
    /* Top retainers: the type (a big object, held from C), then r with
     * its 4 widgets. */
    const pm_retained *top[2];
    CHECK_EQ(pm_dominators_top(d, 2, top), 2);
    CHECK(top[0]->object == PM_OBJ(t) && top[0]->count == 1 && top[0]->bytes > 128);
    CHECK(top[1]->object == r && top[1]->count == 4 && top[1]->bytes == 128);
    char *text = NULL, want[128];
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK_EQ(pm_dominators_print_top(d, out, 2), 0);
    fclose(out);
    fputs(text, stderr);
    snprintf(want, sizeof want, "\n%-16s %12d %14d  Widget at %p\n", "Widget", 4, 128, (void *)r);
    CHECK(strstr(text, want) != NULL);
    free(text);
    pm_dominators_free(d);
    set_field(keep, 0, NULL); /* frees the cycle */

    CHECK_EQ(pm_size_retained(pm_none()), -1);
    CHECK(tu_raised(PM_EXC_VALUE, NULL));
    CHECK_EQ(pm_root_remove(r), 0);
    pm_gc_collect(2); /* x and s */
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 0);
}

/* ---- against brute force -------------------------------------------------------------- */

#define NRAND 120

/* Widgets reachable from the held ones without passing through `avoid`
 * (NRAND: avoid nothing), as flags in seen[]. */
static void reach(pm_object **w, int nheld, int avoid, bool *seen) {
    int stack[NRAND], top = 0;
    memset(seen, 0, NRAND * sizeof *seen);
    for (int i = 0; i < nheld; i++)
        if (i != avoid && !seen[i]) seen[i] = true, stack[top++] = i;
    while (top) {
        tu_widget *x = (tu_widget *)w[stack[--top]];
        pm_object *f[2] = {x->a, x->b};
        for (int k = 0; k < 2; k++) {
            for (int j = 0; f[k] && j < NRAND; j++) {
                if (w[j] != f[k]) continue;
                if (j != avoid && !seen[j]) seen[j] = true, stack[top++] = j;
            }
        }
    }
}

static void check_random(unsigned seed, int nheld) {
    tu_group g = tu_group_begin();
    pm_type *t = tu_widget_type();
    pm_object *w[NRAND];
    srand(seed);
    for (int i = 0; i < NRAND; i++) w[i] = widget(t, NULL, NULL);
    for (int i = 0; i < NRAND; i++) { /* mostly forward edges, some back: cycles */
        int a = rand() % 4 ? i + 1 + rand() % 6 : rand() % NRAND;
        int b = rand() % 3 ? -1 : rand() % NRAND;
        if (a < NRAND) set_field(w[i], 0, w[a]);
        if (b >= 0) set_field(w[i], 1, w[b]);
    }
    for (int i = nheld; i < NRAND; i++) pm_decref(w[i]); /* C holds w[0 .. nheld-1] */
    static bool all[NRAND], without[NRAND][NRAND];
    reach(w, nheld, NRAND, all);
    for (int a = 0; a < NRAND; a++)
        if (all[a]) reach(w, nheld, a, without[a]);
    pm_dominators *d = pm_dominators_take(NULL);
    CHECK(d != NULL);
    for (int v = 0; d && v < NRAND; v++) {
        if (!all[v]) continue; /* freed or unreachable: not checked here */
        int dominated = 0, idom = -1, idom_size = NRAND + 1;
        for (int x = 0; x < NRAND; x++) dominated += all[x] && !without[v][x];
        for (int a = 0; a < NRAND; a++) { /* the strict dominator dominating least */
            if (a == v || !all[a] || without[a][v]) continue;
            int size = 0;
            for (int x = 0; x < NRAND; x++) size += all[x] && !without[a][x];
            if (size < idom_size) idom = a, idom_size = size;
        }
        const pm_retained *r = row_of(d, w[v]);
        CHECK_EQ(r->count, dominated);
        CHECK_EQ(r->bytes, 32 * dominated);
        CHECK(r->dominator == (idom >= 0 ? w[idom] : NULL));
    }
    pm_dominators_free(d);
    for (int i = 0; i < nheld; i++) pm_decref(w[i]);
    pm_gc_collect(2); /* the cycles */
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 0);
}

static void test_against_brute_force(void) {
    for (unsigned seed = 1; seed <= 8; seed++) check_random(seed, 1 + (int)seed % 3);
}

/* ---- out of memory ------------------------------------------------------------------------ */

typedef struct oom_case {
    pm_object *top;
    int64_t deep, retained;
} oom_case;

static bool oom_deep(void *arg) {
    oom_case *c = arg;
    int64_t n = pm_size_deep(c->top);
    if (n >= 0) CHECK_EQ(n, c->deep);
    return n >= 0;
}

static bool oom_retained(void *arg) {
    oom_case *c = arg;
    int64_t n = pm_size_retained(c->top);
    if (n >= 0) CHECK_EQ(n, c->retained);
    return n >= 0;
}

static bool oom_dominators(void *arg) {
    oom_case *c = arg;
    pm_dominators *d = pm_dominators_take(NULL);
    if (d) CHECK_EQ(pm_dominators_find(d, c->top)->bytes, c->retained);
    pm_dominators_free(d);
    return d != NULL;
}

static void test_out_of_memory(void) {
    tu_group g = tu_group_begin();
    pm_object *top = pm_dict_new(), *l = pm_list_new(0);
    CHECK_EQ(pm_dict_set_str(top, "l", l), 0);
    for (int i = 0; i < 100; i++) {
        pm_object *v = pm_int(5000 + i);
        CHECK_EQ(pm_list_append(l, v), 0);
        pm_decref(v);
    }
    pm_decref(l);
    CHECK_EQ(pm_root_add(top, "top"), 0);
    oom_case c = {top, pm_size_deep(top), pm_size_retained(top)};
    CHECK(c.deep > 100 * 32 && c.retained == c.deep);
    tu_fault_each(oom_deep, &c, false);
    tu_fault_each(oom_deep, &c, true);
    tu_fault_each(oom_retained, &c, false);
    tu_fault_each(oom_retained, &c, true);
    tu_fault_each(oom_dominators, &c, false);
    tu_fault_each(oom_dominators, &c, true);
    pm_dominators *d = pm_dominators_take(NULL); /* the report's own allocation */
    CHECK(d != NULL);
    FILE *out = fopen("/dev/null", "w");
    pmh_fault_arm(1, false);
    CHECK_EQ(pm_dominators_print_top(d, out, 5), -1);
    pmh_fault_disarm();
    CHECK(tu_raised(PM_EXC_MEMORY, "pm_dominators_print_top"));
    CHECK_EQ(pm_dominators_print_top(d, out, 5), 0);
    CHECK_EQ(pm_dominators_print_top(d, out, SIZE_MAX), 0); /* every row, no overflow */
    fclose(out);
    pm_dominators_free(d);
    CHECK_EQ(pm_root_remove(top), 0);
    pm_decref(top);
    tu_group_end(&g, 0);
}

/* ---- a 10,000,000-long chain -------------------------------------------------------------- */

static void chain_check(pm_object *head, pm_object *tail, long n) {
    int64_t link = pm_size_flat(head);
    CHECK(link == 32);
    double t0 = tu_now();
    CHECK_EQ(pm_size_deep(head), link * n);
    double t1 = tu_now();
    CHECK_EQ(pm_size_retained(head), link * n);
    double t2 = tu_now();
    pm_dominators *d = pm_dominators_take(NULL);
    double t3 = tu_now();
    CHECK(d != NULL);
    const pm_retained *rt = row_of(d, tail), *rh = row_of(d, head);
    CHECK(rt->count == 1 && rt->bytes == link && rt->dominator != NULL);
    CHECK(rh->count == n && rh->dominator == NULL);
    CHECK(((tu_widget *)rt->dominator)->a == tail); /* the link before it */
    pm_dominators_free(d);
    fprintf(stderr, "chain of %ld: deep %.2f s, retained %.2f s, all dominators %.2f s\n", n,
            t1 - t0, t2 - t1, t3 - t2);
}

static void test_deep_chain(void) { tu_rooted_chain_on_small_stack(chain_check); }

int main(void) {
    test_flat_and_owned();
    test_deep();
    test_retained();
    test_against_brute_force();
    test_out_of_memory();
    test_deep_chain();
    return tu_finish("test_diag_sizes");
}
