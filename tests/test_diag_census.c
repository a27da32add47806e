/*
 * test_diag_census.c -- the census of objects (src/diag/census.c): exact
 * counts and bytes by type of known objects (ints, strs, lists, dicts,
 * instances of a user type, large objects), free-list blocks left out,
 * differences and the tracker, the objects new since a mark (blocks
 * reused included), the census's own memory never counted, out of memory
 * at every internal allocation, and a 10,000,000-long chain on a 256 KiB
 * stack.
 */
#define _GNU_SOURCE /* open_memstream */
#include "testutil.h"

#include "heap/internal_alloc.h"
#include "objects/object.h" /* rt->cache, the large table */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t count_of(const pm_census *c, const char *type) {
    const pm_census_row *r = pm_census_find(c, type);
    return r ? r->count : 0;
}

static int64_t bytes_of(const pm_census *c, const char *type) {
    const pm_census_row *r = pm_census_find(c, type);
    return r ? r->bytes : 0;
}

/* n ints from first on (beyond the static small ints), appended to l. */
static void append_ints(pm_object *l, int64_t first, int n) {
    for (int i = 0; i < n; i++) CHECK_EQ(pm_list_append_steal(l, pm_int(first + i)), 0);
}

static int64_t objects_allocated(void) {
    pm_runtime_stats st;
    pm_runtime_get_stats(pm_runtime_current(), &st);
    return (int64_t)st.objects_allocated;
}

typedef struct widget {
    pm_object ob;
    pm_object *a, *b;
} widget;

static pm_type *widget_type(const char *name, unsigned flags) {
    pm_type_spec spec = {.name = name, .basicsize = sizeof(widget), .nrefs = 2, .flags = flags};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    return t;
}

/* A fresh runtime holds no object; afterwards exactly what was made. */
static void test_counts_by_type(void) {
    tu_group g = tu_group_begin();
    pm_heap *h = pm_runtime_heap(g.rt);
    pm_census *c = pm_census_take(NULL);
    CHECK(c != NULL);
    int64_t count = -1, bytes = -1;
    pm_census_totals(c, &count, &bytes);
    CHECK_EQ(count, 0);
    CHECK_EQ(bytes, 0);
    CHECK_EQ(pm_census_size(c), 0);
    pm_census_free(c);

    enum { NINT = 100, NSTR = 50, NLIST = 20, NDICT = 10, NWIDGET = 7, NBIG = 3 };
    pm_object *keep = pm_list_new(0); /* holds everything: 1 list */
    append_ints(keep, 1000000, NINT);
    char text[32];
    for (int i = 0; i < NSTR; i++) {
        snprintf(text, sizeof text, "string number %d", i);
        pm_object *s = pm_str_from(text);
        pm_list_append(keep, s);
        pm_decref(s);
    }
    for (int i = 0; i < NLIST; i++) {
        pm_object *l = pm_list_new(0);
        pm_list_append(keep, l);
        pm_decref(l);
    }
    for (int i = 0; i < NDICT; i++) {
        pm_object *d = pm_dict_new();
        pm_list_append(keep, d);
        pm_decref(d);
    }
    pm_type *wt = widget_type("Widget", 0); /* a heap type: an object too */
    for (int i = 0; i < NWIDGET; i++) {
        pm_object *w = pm_object_new(wt);
        pm_list_append(keep, w);
        pm_decref(w);
    }
    /* Large objects: strs beyond the largest pool block. */
    char *big = malloc(100001);
    memset(big, 'x', 100000);
    big[100000] = 0;
    int64_t big_bytes = 0;
    for (int i = 0; i < NBIG; i++) {
        big[0] = (char)('a' + i);
        pm_object *s = pm_str_from(big);
        CHECK(!pm_heap_owns(h, s)); /* not in an arena: a large block */
        big_bytes += (int64_t)pm_heap_block_size(h, s);
        pm_list_append(keep, s);
        pm_decref(s);
    }
    free(big);
    /* Blocks on free lists are not objects: floats, lists, dicts, tuples
     * made and dropped here wait on the runtime's free lists. */
    pm_object *dropped[4][30];
    for (int i = 0; i < 30; i++) {
        dropped[0][i] = pm_float(i + 0.5);
        dropped[1][i] = pm_list_new(0);
        dropped[2][i] = pm_dict_new();
        dropped[3][i] = pm_tuple_new(2);
    }
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 30; i++) pm_decref(dropped[k][i]);
    pm_freelist_stats fls[64];
    size_t nfl = pm_runtime_freelists(pm_runtime_current(), fls, 64);
    int64_t waiting = 0;
    for (size_t i = 0; i < nfl && i < 64; i++) waiting += (int64_t)fls[i].size;
    CHECK(waiting >= 4 * 30);

    c = pm_census_take(NULL);
    CHECK(c != NULL);
    CHECK_EQ(count_of(c, "int"), NINT);
    CHECK_EQ(count_of(c, "str"), NSTR + NBIG);
    CHECK_EQ(count_of(c, "list"), NLIST + 1);
    CHECK_EQ(count_of(c, "dict"), NDICT);
    CHECK_EQ(count_of(c, "Widget"), NWIDGET);
    CHECK_EQ(count_of(c, "type"), 1);
    CHECK_EQ(count_of(c, "float"), 0);
    CHECK_EQ(count_of(c, "tuple"), 0);
    CHECK(pm_census_find_type(c, wt) == pm_census_find(c, "Widget"));
    pm_census_totals(c, &count, &bytes);
    CHECK_EQ(count, NINT + NSTR + NBIG + NLIST + 1 + NDICT + NWIDGET + 1);
    /* Bytes: the blocks' sizes, as the heap reports them. */
    pm_object *i0 = pm_list_get(keep, 0), *w0 = pm_list_get(keep, NINT + NSTR + NLIST + NDICT);
    CHECK_EQ(bytes_of(c, "int"), NINT * (int64_t)pm_heap_block_size(h, i0));
    CHECK_EQ(bytes_of(c, "Widget"), NWIDGET * (int64_t)pm_heap_block_size(h, w0));
    int64_t str_bytes = 0;
    for (int i = 0; i < NSTR; i++)
        str_bytes += (int64_t)pm_heap_block_size(h, pm_list_get(keep, NINT + i));
    CHECK_EQ(bytes_of(c, "str"), str_bytes + big_bytes);
    CHECK(big_bytes > 3 * 100000);
    /* Sorted: largest count first. */
    CHECK(strcmp(pm_census_row_at(c, 0)->type_name, "int") == 0);
    for (size_t i = 1; i < pm_census_size(c); i++)
        CHECK(pm_census_row_at(c, i - 1)->count >= pm_census_row_at(c, i)->count);
    CHECK(pm_census_row_at(c, pm_census_size(c)) == NULL);
    pm_census_free(c);

    pm_decref(keep);
    c = pm_census_take(NULL);
    CHECK_EQ(count_of(c, "int") + count_of(c, "str") + count_of(c, "Widget"), 0);
    CHECK_EQ(count_of(c, "type"), 1);
    pm_census_free(c);
    pm_decref(PM_OBJ(wt));
    tu_group_end(&g, 0);
}

/* Differences, growth and the tracker, exact per type. */
static void test_growth(void) {
    tu_group g = tu_group_begin();
    pm_census_tracker *tr = pm_census_tracker_new(NULL);
    CHECK(tr != NULL);
    pm_object *keep = pm_list_new(0);
    pm_census *d = pm_census_tracker_growth(tr);
    CHECK_EQ(pm_census_size(d), 1); /* keep */
    CHECK_EQ(count_of(d, "list"), 1);
    pm_census_free(d);

    for (int i = 0; i < 5; i++) {
        pm_object *x = pm_dict_new(), *n = pm_int(5000 + i);
        pm_list_append(keep, x);
        pm_list_append(keep, n);
        pm_decref(x);
        pm_decref(n);
    }
    d = pm_census_tracker_growth(tr);
    CHECK_EQ(count_of(d, "dict"), 5);
    CHECK_EQ(count_of(d, "int"), 5);
    CHECK_EQ(pm_census_size(d), 2);
    int64_t count, bytes;
    pm_census_totals(d, &count, &bytes);
    CHECK_EQ(count, 10);
    CHECK(bytes > 0);
    pm_census_free(d);

    d = pm_census_tracker_growth(tr); /* nothing since the previous call */
    CHECK_EQ(pm_census_size(d), 0);
    pm_census_free(d);

    while (pm_list_size(keep) > 0) pm_decref(pm_list_pop(keep, -1));
    d = pm_census_tracker_growth(tr);
    CHECK_EQ(count_of(d, "dict"), -5);
    CHECK_EQ(count_of(d, "int"), -5);
    CHECK(bytes_of(d, "int") < 0);
    /* Growth first: the rows with the largest change of count lead. */
    CHECK(pm_census_row_at(d, 0)->count <= 0);
    pm_census_free(d);

    d = pm_census_tracker_since_baseline(tr);
    CHECK_EQ(pm_census_size(d), 1);
    CHECK_EQ(count_of(d, "list"), 1);
    pm_census_free(d);

    /* Printing: a table with signed changes. */
    pm_object *x = pm_dict_new();
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK_EQ(pm_census_tracker_print_diff(tr, out), 0);
    fclose(out);
    CHECK(tu_contains(text, "dict"));
    CHECK(tu_contains(text, "+1"));
    CHECK(tu_contains(text, "total"));
    free(text);
    pm_decref(x);

    CHECK_EQ(pm_census_tracker_rebase(tr), 0);
    d = pm_census_tracker_since_baseline(tr);
    CHECK_EQ(pm_census_size(d), 0);
    pm_census_free(d);
    pm_census_tracker_free(tr);
    pm_decref(keep);
    tu_group_end(&g, 0);
}

/* pm_census_diff by hand: a type present in only one census, and the
 * same name for two types kept apart by identity. */
static void test_diff_identity(void) {
    tu_group g = tu_group_begin();
    pm_type *t1 = widget_type("Twin", 0), *t2 = widget_type("Twin", 0);
    pm_census *before = pm_census_take(NULL);
    pm_object *a = pm_object_new(t1), *b = pm_object_new(t2), *b2 = pm_object_new(t2);
    pm_census *now = pm_census_take(NULL);
    pm_census *d = pm_census_diff(now, before);
    CHECK_EQ(pm_census_size(d), 2);
    CHECK_EQ(pm_census_find_type(d, t1)->count, 1);
    CHECK_EQ(pm_census_find_type(d, t2)->count, 2);
    CHECK_EQ(pm_census_find(d, "Twin")->count, 2); /* the largest of the name */
    pm_census *back = pm_census_diff(before, now);
    CHECK_EQ(pm_census_find_type(back, t2)->count, -2);
    pm_census_free(d);
    pm_census_free(back);
    pm_census_free(now);
    pm_census_free(before);
    pm_decref(a);
    pm_decref(b);
    pm_decref(b2);
    pm_decref(PM_OBJ(t1));
    pm_decref(PM_OBJ(t2));
    tu_group_end(&g, 0);
}

static bool contains_ptr(pm_object **v, size_t n, const void *p) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == p) return true;
    return false;
}

/* New since a mark: exactly the objects made after it, even in blocks of
 * objects that died after it, and free-list blocks reused. */
static void test_new_since_mark(void) {
    tu_group g = tu_group_begin();
    pm_type *wt = widget_type("Gadget", PM_TPFLAGS_FROZEN); /* a plain type: its fast path */
    enum { OLD = 10, NEW = 5 };
    pm_object *old[OLD], *fresh[NEW];
    pm_object *refs[2] = {NULL, NULL};
    for (int i = 0; i < OLD; i++) old[i] = pm_object_new_refs_steal(wt, refs);
    pm_object *f = pm_float(1.5);
    pm_decref(f); /* its block waits on the float free list */

    size_t n = 99;
    CHECK(pm_census_new_objects(NULL, &n) == NULL);
    CHECK(tu_raised(PM_EXC_RUNTIME, "no mark"));
    CHECK_EQ(pm_census_mark(NULL), 0);
    pm_census *c = pm_census_take_new(NULL);
    CHECK_EQ(pm_census_size(c), 0);
    pm_census_free(c);

    void *died = old[OLD - 1];
    for (int i = OLD - NEW; i < OLD; i++) pm_decref(old[i]);
    for (int i = 0; i < NEW; i++) fresh[i] = pm_object_new_refs_steal(wt, refs);
    CHECK(contains_ptr(fresh, NEW, died)); /* the pool gave a dead one's block again */
    pm_object *f2 = pm_float(2.5);
    CHECK(f2 == f); /* from the free list */

    pm_object **objs = pm_census_new_objects(NULL, &n);
    CHECK(objs != NULL);
    CHECK_EQ(n, NEW + 1);
    for (int i = 0; i < NEW; i++) CHECK(contains_ptr(objs, n, fresh[i]));
    CHECK(contains_ptr(objs, n, f2));
    for (int i = 0; i < OLD - NEW; i++) CHECK(!contains_ptr(objs, n, old[i]));
    pm_census_objects_free(objs);
    c = pm_census_take_new(NULL);
    CHECK_EQ(count_of(c, "Gadget"), NEW);
    CHECK_EQ(count_of(c, "float"), 1);
    CHECK_EQ(pm_census_size(c), 2);
    pm_census_free(c);

    /* A new mark starts anew; unmark ends it. */
    CHECK_EQ(pm_census_mark(NULL), 0);
    objs = pm_census_new_objects(NULL, &n);
    CHECK(objs != NULL);
    CHECK_EQ(n, 0);
    pm_census_objects_free(objs);
    pm_census_unmark(NULL);
    CHECK(pm_census_take_new(NULL) == NULL);
    CHECK(tu_raised(PM_EXC_RUNTIME, "no mark"));

    pm_decref(f2);
    for (int i = 0; i < OLD - NEW; i++) pm_decref(old[i]);
    for (int i = 0; i < NEW; i++) pm_decref(fresh[i]);
    CHECK_EQ(pm_census_mark(NULL), 0); /* left set: the runtime's destruction frees it */
    pm_decref(PM_OBJ(wt));
    tu_group_end(&g, 0);
}

/* The census allocates from no heap and makes no object (C1): the heap's
 * blocks do not change, and a census taken while others and a tracker are
 * alive counts the same. */
static void test_own_memory_not_counted(void) {
    tu_group g = tu_group_begin();
    pm_heap *h = pm_runtime_heap(g.rt);
    pm_object *keep = pm_list_new(0);
    append_ints(keep, 70000, 1000);
    pm_heap_stats before, after;
    pm_heap_get_stats(h, &before);
    int64_t allocated = objects_allocated();
    pm_census *a = pm_census_take(NULL);
    pm_census_tracker *tr = pm_census_tracker_new(NULL);
    CHECK_EQ(pm_census_mark(NULL), 0);
    pm_census *b = pm_census_take(NULL);
    pm_census *d = pm_census_diff(b, a);
    CHECK_EQ(pm_census_size(d), 0);
    pm_census *growth = pm_census_tracker_growth(tr);
    CHECK_EQ(pm_census_size(growth), 0);
    size_t n = 1;
    pm_object **objs = pm_census_new_objects(NULL, &n);
    CHECK_EQ(n, 0);
    pm_heap_get_stats(h, &after);
    CHECK_EQ(after.bytes_in_use, before.bytes_in_use);
    CHECK_EQ(after.pools_used, before.pools_used);
    CHECK_EQ(after.large_blocks, before.large_blocks);
    CHECK_EQ(objects_allocated(), allocated);
    pm_census_objects_free(objs);
    pm_census_free(growth);
    pm_census_free(d);
    pm_census_free(b);
    pm_census_free(a);
    pm_census_tracker_free(tr);
    pm_census_unmark(NULL);
    pm_decref(keep);
    tu_group_end(&g, 0);
}

/* Out of memory at each internal allocation of each entry, once and for
 * good: NULL or -1 with MemoryError, nothing left behind (C4); then it
 * works. */
static void test_out_of_memory(void) {
    tu_group g = tu_group_begin();
    pm_object *keep = pm_list_new(0);
    for (int i = 0; i < 300; i++) {
        pm_object *v = i % 2 ? pm_int(90000 + i) : pm_dict_new();
        pm_list_append(keep, v);
        pm_decref(v);
    }
    pm_census *base = pm_census_take(NULL);
    for (int persistent = 0; persistent <= 1; persistent++) {
        for (int op = 0; op < 4; op++) {
            bool done = false;
            int failures = 0;
            for (long nth = 1; !done && nth < 200; nth++) {
                long live = pmh_internal_live();
                pmh_fault_arm(nth, persistent);
                bool ok;
                if (op == 0) {
                    pm_census *c = pm_census_take(NULL);
                    ok = c != NULL;
                    if (ok) CHECK_EQ(count_of(c, "dict"), 150);
                    pm_census_free(c);
                } else if (op == 1) {
                    pm_census *c = pm_census_take(NULL), *d = c ? pm_census_diff(c, base) : NULL;
                    ok = d != NULL;
                    if (ok) CHECK_EQ(pm_census_size(d), 0);
                    pm_census_free(d);
                    pm_census_free(c);
                } else if (op == 2) {
                    pm_census_tracker *tr = pm_census_tracker_new(NULL);
                    pm_census *d = tr ? pm_census_tracker_growth(tr) : NULL;
                    ok = d != NULL;
                    pm_census_free(d);
                    pm_census_tracker_free(tr);
                } else {
                    size_t n = 0;
                    ok = pm_census_mark(NULL) == 0;
                    pm_object *x = ok ? pm_int(123456) : NULL; /* a birth to record */
                    pm_object **objs = ok && x ? pm_census_new_objects(NULL, &n) : NULL;
                    ok = objs != NULL;
                    if (ok) CHECK_EQ(n, 1);
                    pm_census_objects_free(objs);
                    if (x) pm_decref(x);
                    pm_census_unmark(NULL);
                }
                bool injected = pmh_fault_injected() > 0;
                pmh_fault_disarm();
                CHECK(ok != injected); /* no fallback: any failure is the call's */
                if (!ok) {
                    failures++;
                    CHECK(tu_raised(PM_EXC_MEMORY, NULL));
                }
                CHECK_EQ(pmh_internal_live(), live);
                done = !injected; /* it ran to its end without meeting the fault */
            }
            CHECK(done);
            CHECK(failures > 0); /* the census did meet the fault */
        }
    }
    pm_census_free(base);
    pm_decref(keep);
    tu_group_end(&g, 0);
}

/* A birth the mark cannot record (its set cannot grow) makes the mark's
 * questions fail with MemoryError instead of answering wrong. */
static void test_mark_lost(void) {
    tu_group g = tu_group_begin();
    pm_object *warm = pm_int(434343); /* its class has a pool from now on */
    CHECK_EQ(pm_census_mark(NULL), 0);
    pmh_fault_arm(1, true);
    pm_object *x = pm_int(424242); /* the pool has room: only the set fails */
    pmh_fault_disarm();
    CHECK(x != NULL);
    if (x == NULL) return;
    size_t n;
    CHECK(pm_census_new_objects(NULL, &n) == NULL);
    CHECK(tu_raised(PM_EXC_MEMORY, "lost"));
    CHECK_EQ(pm_census_mark(NULL), 0); /* a new mark works again */
    pm_census *c = pm_census_take_new(NULL);
    CHECK(c != NULL);
    CHECK_EQ(pm_census_size(c), 0);
    pm_census_free(c);
    pm_decref(x);
    pm_decref(warm);
    tu_group_end(&g, 0);
}

/* A runtime whose objects go through debug hooks cannot be censused. */
static void test_refused(void) {
    pm_heap_config cfg;
    pm_heap_config_init(&cfg);
    cfg.debug = 1;
    pm_heap *h = pm_heap_new(&cfg);
    pm_runtime_config rc = PM_RUNTIME_CONFIG_INIT;
    rc.heap = h;
    pm_runtime *rt = pm_runtime_new(&rc);
    pm_runtime *prev = pm_runtime_enter(rt);
    CHECK(pm_census_take(NULL) == NULL);
    CHECK(tu_raised(PM_EXC_RUNTIME, "heap's pools"));
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt);
    pm_heap_destroy(h);
}

/* The default runtime, on the thread-safe default heap: differences are
 * exact there too. */
static void test_default_runtime(void) {
    pm_census *before = pm_census_take(pm_runtime_default());
    CHECK(before != NULL);
    pm_object *l = pm_list_new(0);
    append_ints(l, 3000000, 40);
    pm_census *now = pm_census_take(pm_runtime_default());
    pm_census *d = pm_census_diff(now, before);
    CHECK_EQ(count_of(d, "int"), 40);
    CHECK_EQ(count_of(d, "list"), 1);
    CHECK_EQ(pm_census_size(d), 2);
    pm_census_free(d);
    pm_census_free(now);
    pm_census_free(before);
    pm_decref(l);
}

/* A runtime in debug mode keeps freed objects in a quarantine, marked
 * dead: they are not live objects. */
static void test_debug_quarantine(void) {
    pm_runtime_config cfg = PM_RUNTIME_CONFIG_INIT;
    cfg.debug = 1;
    pm_runtime *rt = pm_runtime_new(&cfg);
    pm_runtime *prev = pm_runtime_enter(rt);
    pm_object *keep = pm_list_new(0);
    append_ints(keep, 600000, 20);
    pm_census *c = pm_census_take(NULL);
    CHECK_EQ(count_of(c, "int"), 20);
    pm_census_free(c);
    while (pm_list_size(keep) > 5) pm_decref(pm_list_pop(keep, -1));
    c = pm_census_take(NULL);
    CHECK_EQ(count_of(c, "int"), 5); /* 15 wait in the quarantine */
    CHECK_EQ(count_of(c, "list"), 1);
    CHECK_EQ(pm_census_size(c), 2); /* no row for them, under any type */
    pm_census_free(c);
    pm_decref(keep);
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt);
}

/* Runtimes on a shared heap: each has pools of its own (O1), never a dead
 * runtime's with its leftover objects, and a runtime whose objects all
 * died leaves no cache behind. */
/* Never released: memcheck finds them here (volatile: the stores stay). */
static pm_object *volatile outliving[2];

static void test_runtimes_on_shared_heap(void) {
    pm_runtime_config cfg = PM_RUNTIME_CONFIG_INIT;
    cfg.heap = pm_heap_default();
    pm_runtime *a = pm_runtime_new(&cfg);
    pm_runtime *prev = pm_runtime_enter(a);
    pm_object *leftover = outliving[0] = pm_list_new(0); /* outlives a */
    append_ints(leftover, 8000000, 10);
    pm_runtime_enter(prev);
    pm_runtime_destroy(a);
    /* A runtime whose one leftover is a large object: its cache owns no
     * pool and is freed, and a later runtime's cache may take its address;
     * the large object is no longer a runtime's. */
    char *text = calloc(1, 20001);
    memset(text, 'y', 20000);
    a = pm_runtime_new(&cfg);
    const void *gone = a->cache;
    prev = pm_runtime_enter(a);
    pm_object *big = outliving[1] = pm_str_from(text);
    CHECK(big != NULL);
    pm_runtime_enter(prev);
    pm_runtime_destroy(a);
    free(text);
    const pm_heap *h = pm_heap_default();
    for (size_t i = 0; i < h->large.cap; i++) CHECK(h->large.slots[i].objects != gone);

    long live = -1;
    for (int i = 0; i < 50; i++) {
        pm_runtime *b = pm_runtime_new(&cfg);
        prev = pm_runtime_enter(b);
        pm_census *c = pm_census_take(NULL);
        CHECK_EQ(pm_census_size(c), 0); /* not a's leftovers */
        pm_census_free(c);
        pm_object *x = pm_dict_new();
        c = pm_census_take(NULL);
        CHECK_EQ(count_of(c, "dict"), 1);
        pm_census_free(c);
        pm_decref(x);
        pm_runtime_enter(prev);
        pm_runtime_destroy(b);
        if (i == 0) live = pmh_internal_live();
    }
    CHECK_EQ(pmh_internal_live(), live); /* no cache piles up */
}

/* A chain of 10,000,000 objects (each holds the next) on a 256 KiB stack. */
static void *chain_run(void *arg) {
    long n = *(long *)arg;
    tu_group g = tu_group_begin();
    pm_type *t;
    pm_object *head = tu_chain(n, &t, NULL);
    pm_census *c = pm_census_take(NULL);
    CHECK(c != NULL);
    CHECK_EQ(count_of(c, "Link"), n);
    CHECK_EQ(pm_census_size(c), 2); /* Link and its type */
    pm_census_free(c);
    pm_decref(head);
    c = pm_census_take(NULL);
    CHECK_EQ(count_of(c, "Link"), 0);
    pm_census_free(c);
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 0);
    return NULL;
}

static void test_deep_chain(void) {
    long n = tu_big_count(10000000);
    tu_run_on_stack(chain_run, &n, 256 << 10);
}

int main(void) {
    test_counts_by_type();
    test_growth();
    test_diff_identity();
    test_new_since_mark();
    test_own_memory_not_counted();
    test_out_of_memory();
    test_mark_lost();
    test_refused();
    test_default_runtime();
    test_debug_quarantine();
    test_runtimes_on_shared_heap();
    test_deep_chain();
    return tu_finish("test_diag_census");
}
