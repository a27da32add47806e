/*
 * test_obj_containers.c -- tuple, list, dict, set, frozenset, iterators and
 * generators: every public function, every slot, the error paths, reference
 * ownership (each container owns exactly one reference per stored item and
 * gives it back), mutation during comparison and iteration, and no leaks.
 *
 * Everything runs on a private runtime; at the end every object it
 * allocated has been freed (objects_allocated == objects_freed).
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include "objects/containers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

/* Temporaries: S() and I() register what they make in a pool that
 * drain() releases after each test, so tests can pass them inline. */
static pm_object **pool;
static size_t pool_len, pool_cap;

static pm_object *G(pm_object *o) {
    if (pool_len == pool_cap) {
        pool_cap = pool_cap ? pool_cap * 2 : 1024;
        pool = realloc(pool, pool_cap * sizeof *pool);
        if (!pool) abort();
    }
    pool[pool_len++] = o;
    return o;
}

static void drain(void) {
    while (pool_len) pm_xdecref(pool[--pool_len]);
}

static pm_object *S(const char *s) { return G(pm_str_from(s)); }
static pm_object *I(int64_t v) { return G(pm_int(v)); }

/* A heap int (not a cached small one), so its count is observable. */
static pm_object *big(int64_t v) { return pm_int(1000000 + v); }

/* ---- tuple ------------------------------------------------------------------ */

static void test_tuple_basics(void) {
    pm_object *e = pm_tuple_new(0);
    CHECK(e == pm_tuple_new(0));
    CHECK(pm_is_immortal(e));
    CHECK_EQ(pm_tuple_size(e), 0);
    CHECK(tu_repr_is(e, "()"));
    pm_decref(e);

    pm_object *x = big(1), *y = pm_str_from("y");
    pm_object *t = pm_tuple_pack(2, x, y);
    CHECK(t && pm_is_type(t, &pm_tuple_type));
    CHECK_EQ(x->refcnt, 2);
    CHECK_EQ(pm_tuple_size(t), 2);
    CHECK(pm_tuple_get(t, 0) == x);
    CHECK(pm_tuple_get(t, 1) == y);
    CHECK(pm_tuple_get(t, 2) == NULL && tu_raised(PM_EXC_INDEX, "out of range"));
    CHECK(tu_repr_is(t, "(1000001, 'y')"));
    CHECK_EQ(pm_len(t), 2);
    CHECK_EQ(pm_truth(t), 1);

    pm_object *one = pm_tuple_new(1);
    CHECK(pm_tuple_get(one, 0) == NULL && !pm_exc_occurred());
    CHECK_EQ(pm_tuple_set_steal(one, 0, pm_newref(x)), 0);
    CHECK_EQ(x->refcnt, 3);
    CHECK(tu_repr_is(one, "(1000001,)"));
    CHECK_EQ(pm_tuple_set_steal(one, 0, pm_newref(y)), 0); /* replaces: drops x */
    CHECK_EQ(x->refcnt, 2);
    pm_incref(x);
    CHECK_EQ(pm_tuple_set_steal(one, 1, x), -1); /* stolen even on failure */
    CHECK(tu_raised(PM_EXC_INDEX, NULL));
    CHECK_EQ(x->refcnt, 2);
    pm_incref(x);
    CHECK_EQ(pm_tuple_set_steal(y, 0, x), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "tuple"));
    CHECK_EQ(x->refcnt, 2);
    pm_incref(one); /* shared: no more setting */
    pm_incref(x);
    CHECK_EQ(pm_tuple_set_steal(one, 0, x), -1);
    CHECK(tu_raised(PM_EXC_RUNTIME, "shared"));
    CHECK_EQ(x->refcnt, 2);
    pm_decref(one);
    CHECK_EQ(pm_tuple_set_steal(one, 0, NULL), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(pm_tuple_size(y), 0);
    CHECK(tu_raised(PM_EXC_TYPE, "expected tuple, got str"));
    CHECK_EQ(pm_tuple_size(NULL), 0);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK(pm_tuple_pack(2, x, NULL) == NULL && tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(x->refcnt, 2);

    /* getitem slot: int index, negative, bool, errors */
    pm_object *k = I(-1), *v = pm_getitem(t, k);
    CHECK(v == y);
    pm_decref(v);
    v = pm_getitem(t, pm_bool(1));
    CHECK(v == y);
    pm_decref(v);
    CHECK(pm_getitem(t, I(2)) == NULL && tu_raised(PM_EXC_INDEX, "tuple index out of range"));
    CHECK(pm_getitem(t, I(-3)) == NULL && tu_raised(PM_EXC_INDEX, NULL));
    CHECK(pm_getitem(t, y) == NULL &&
          tu_raised(PM_EXC_TYPE, "tuple indices must be integers, not str"));
    CHECK_EQ(pm_setitem(t, I(0), x), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "does not support item assignment"));

    /* contains */
    pm_object *x2 = big(1);
    CHECK_EQ(pm_contains(t, x2), 1); /* equal, not identical */
    CHECK_EQ(pm_contains(t, I(5)), 0);
    pm_decref(x2);

    pm_decref(one);
    pm_decref(t);
    CHECK_EQ(x->refcnt, 1);
    pm_decref(x);
    pm_decref(y);
}

static void test_tuple_hash_compare(void) {
    pm_object *a = pm_tuple_pack(2, I(1), I(2)), *b = pm_tuple_pack(2, I(1), I(2));
    pm_object *c = pm_tuple_pack(2, I(2), I(1)), *d = pm_tuple_pack(3, I(1), I(2), I(0));
    uint64_t ha, hb, hc;
    CHECK_EQ(pm_hash(a, &ha), 0);
    CHECK_EQ(pm_hash(b, &hb), 0);
    CHECK_EQ(pm_hash(c, &hc), 0);
    CHECK(ha == hb);
    CHECK(ha != hc);
    CHECK_EQ(pm_equal(a, b), 1);
    CHECK_EQ(pm_equal(a, c), 0);
    CHECK_EQ(pm_compare(a, c, PM_LT), 1);
    CHECK_EQ(pm_compare(a, c, PM_LE), 1);
    CHECK_EQ(pm_compare(a, c, PM_GT), 0);
    CHECK_EQ(pm_compare(a, c, PM_GE), 0);
    CHECK_EQ(pm_compare(a, c, PM_NE), 1);
    CHECK_EQ(pm_compare(a, d, PM_LT), 1); /* prefix is smaller */
    CHECK_EQ(pm_compare(d, a, PM_GT), 1);
    CHECK_EQ(pm_compare(a, b, PM_LE), 1);
    CHECK_EQ(pm_compare(a, b, PM_GE), 1);
    CHECK_EQ(pm_compare(a, b, PM_LT), 0);
    CHECK_EQ(pm_compare(a, d, PM_EQ), 0);
    /* an unorderable pair in the deciding position */
    pm_object *e = pm_tuple_pack(1, S("x")), *f = pm_tuple_pack(1, I(1));
    CHECK_EQ(pm_compare(e, f, PM_LT), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "not supported"));
    CHECK_EQ(pm_equal(e, f), 0);
    /* tuples are not lists */
    pm_object *l = pm_list_new(0), *empty = pm_tuple_new(0);
    CHECK_EQ(pm_equal(l, empty), 0);
    CHECK_EQ(pm_compare(l, empty, PM_LT), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    /* unhashable item */
    pm_object *g = pm_tuple_pack(2, I(1), l);
    uint64_t h;
    CHECK_EQ(pm_hash(g, &h), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable type: 'list'"));
    /* nested tuples hash by value */
    pm_object *n1 = pm_tuple_pack(2, a, S("s")), *n2 = pm_tuple_pack(2, b, S("s"));
    uint64_t h1, h2;
    CHECK(pm_hash(n1, &h1) == 0 && pm_hash(n2, &h2) == 0 && h1 == h2);
    CHECK(tu_repr_is(n1, "((1, 2), 's')"));
    pm_object *objs[] = {a, b, c, d, e, f, l, empty, g, n1, n2};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) pm_decref(objs[i]);
}

/* Items set with pm_tuple_pack of fresh strs leak nothing: check pack
 * borrowed (the test's own references are dropped here). */
static void test_tuple_pack_borrows(void) {
    pm_object *s = pm_str_from("abc");
    pm_object *t = pm_tuple_pack(3, s, s, s);
    CHECK_EQ(s->refcnt, 4);
    pm_decref(t);
    CHECK_EQ(s->refcnt, 1);
    pm_decref(s);
}

static void test_freelists(void) {
    pm_runtime *rt = pm_runtime_current();
    pm_freelist_stats st[64];
    size_t n = pm_runtime_freelists(rt, st, 64);
    int idx3 = -1;
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(st[i].name, "tuple[3]") == 0) idx3 = (int)i;
    CHECK(idx3 >= 0);
    if (idx3 < 0) return;
    pm_object *t = pm_tuple_new(3);
    pm_decref(t); /* to the free list */
    pm_runtime_freelists(rt, st, 64);
    uint64_t size = st[idx3].size, reused = st[idx3].reused;
    CHECK(size >= 1);
    pm_object *u = pm_tuple_new(3);
    CHECK(u == t); /* LIFO reuse of the same block */
    CHECK(u->refcnt == 1 && pm_tuple_get(u, 0) == NULL && pm_tuple_size(u) == 3);
    pm_runtime_freelists(rt, st, 64);
    CHECK_EQ(st[idx3].reused, reused + 1);
    CHECK_EQ(st[idx3].size, size - 1);
    pm_decref(u);
    /* the limit holds */
    pm_object *many[PMO_TUPLE_FREELIST + 10];
    for (size_t i = 0; i < PMO_TUPLE_FREELIST + 10; i++) many[i] = pm_tuple_new(2);
    for (size_t i = 0; i < PMO_TUPLE_FREELIST + 10; i++) pm_decref(many[i]);
    pm_runtime_freelists(rt, st, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(st[i].name, "tuple[2]") == 0) CHECK_EQ(st[i].size, PMO_TUPLE_FREELIST);
    /* lists and dicts come back from their free lists too */
    pm_object *l = pm_list_new(0);
    pm_list_append(l, I(1));
    pm_decref(l);
    pm_object *l2 = pm_list_new(0);
    CHECK(l2 == l && pm_list_size(l2) == 0 && PMO_LIST(l2)->items == NULL);
    CHECK(!pm_gc_is_tracked(l2)); /* reused untracked: it holds nothing */
    pm_decref(l2);
    pm_object *d = pm_dict_new();
    pm_dict_set(d, I(1), I(2));
    pm_decref(d);
    pm_object *d2 = pm_dict_new();
    CHECK(d2 == d && pm_dict_size(d2) == 0 && pm_dict_get(d2, I(1)) == NULL);
    CHECK(tu_repr_is(d2, "{}"));
    pm_decref(d2);
    pm_runtime_clear_freelists(rt);
    pm_runtime_freelists(rt, st, 64);
    for (size_t i = 0; i < n && i < 64; i++) CHECK_EQ(st[i].size, 0);
    /* a big tuple is simply freed */
    pm_object *bigt = pm_tuple_new(100);
    for (size_t i = 0; i < 100; i++) pm_tuple_set_steal(bigt, i, pm_int((int64_t)i));
    CHECK(tu_repr_is(pm_tuple_get(bigt, 99), "99"));
    pm_decref(bigt);
}

/* ---- list ------------------------------------------------------------------- */

static void test_list_basics(void) {
    pm_object *l = pm_list_new(3);
    CHECK_EQ(pm_list_size(l), 3);
    CHECK(pm_list_get(l, 0) == pm_none());
    CHECK(tu_repr_is(l, "[None, None, None]"));
    pm_decref(l);

    l = pm_list_new(0);
    CHECK(tu_repr_is(l, "[]"));
    CHECK_EQ(pm_truth(l), 0);
    pm_object *x = big(7);
    CHECK_EQ(pm_list_append(l, x), 0);
    CHECK_EQ(x->refcnt, 2);
    CHECK_EQ(pm_list_append_steal(l, pm_str_from("b")), 0);
    CHECK_EQ(pm_list_insert(l, 0, I(0)), 0);     /* [0, x, 'b'] */
    CHECK_EQ(pm_list_insert(l, -1, I(5)), 0);    /* [0, x, 5, 'b'] */
    CHECK_EQ(pm_list_insert(l, 100, I(9)), 0);   /* append */
    CHECK_EQ(pm_list_insert(l, -100, I(-1)), 0); /* front */
    CHECK(tu_repr_is(l, "[-1, 0, 1000007, 5, 'b', 9]"));
    CHECK_EQ(pm_truth(l), 1);
    CHECK(pm_list_get(l, -1) == I(9));
    CHECK(pm_list_get(l, -6) == I(-1));
    CHECK(pm_list_get(l, 6) == NULL && tu_raised(PM_EXC_INDEX, "list index out of range"));
    CHECK(pm_list_get(l, -7) == NULL && tu_raised(PM_EXC_INDEX, NULL));
    CHECK_EQ(pm_list_set(l, -2, x), 0); /* [-1, 0, x, 5, x, 9] */
    CHECK_EQ(x->refcnt, 3);
    CHECK_EQ(pm_list_set(l, 6, x), -1);
    CHECK(tu_raised(PM_EXC_INDEX, "assignment"));
    CHECK_EQ(pm_list_set(l, 0, NULL), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    pm_object *p = pm_list_pop(l, 2);
    CHECK(p == x);
    CHECK_EQ(x->refcnt, 3); /* moved to the caller */
    pm_decref(p);
    p = pm_list_pop(l, -1);
    CHECK(p == I(9));
    pm_decref(p);
    CHECK(tu_repr_is(l, "[-1, 0, 5, 1000007]"));
    CHECK(pm_list_pop(l, 4) == NULL && tu_raised(PM_EXC_INDEX, "pop index out of range"));

    /* getitem / setitem / delitem slots */
    pm_object *v = pm_getitem(l, I(-1));
    CHECK(v == x);
    pm_decref(v);
    CHECK_EQ(pm_setitem(l, I(0), S("z")), 0);
    CHECK_EQ(pm_delitem(l, I(1)), 0);
    CHECK(tu_repr_is(l, "['z', 5, 1000007]"));
    CHECK_EQ(pm_delitem(l, I(3)), -1);
    CHECK(tu_raised(PM_EXC_INDEX, NULL));
    CHECK_EQ(pm_setitem(l, S("a"), x), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "list indices must be integers, not str"));
    CHECK(pm_getitem(l, pm_none()) == NULL && tu_raised(PM_EXC_TYPE, "not NoneType"));
    CHECK_EQ(pm_contains(l, I(5)), 1);
    CHECK_EQ(pm_contains(l, I(6)), 0);
    CHECK_EQ(pm_contains(l, S("z")), 1);

    while (pm_list_size(l)) pm_decref(pm_list_pop(l, 0));
    CHECK(pm_list_pop(l, 0) == NULL && tu_raised(PM_EXC_INDEX, "pop from empty list"));
    CHECK_EQ(x->refcnt, 1);

    /* wrong types: nothing stolen that was not given, steal honoured */
    pm_object *t = pm_tuple_new(0);
    CHECK_EQ(pm_list_append(t, x), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "expected list, got tuple"));
    pm_incref(x);
    CHECK_EQ(pm_list_append_steal(t, x), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(x->refcnt, 1);
    CHECK_EQ(pm_list_append(l, NULL), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(pm_list_insert(NULL, 0, x), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK(pm_list_pop(NULL, 0) == NULL && tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(pm_list_size(t), 0);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    pm_decref(t);
    pm_decref(x);
    pm_decref(l);
}

static void test_list_growth(void) {
    /* CPython 3.11's capacities when appending one at a time. */
    static const size_t expect[] = {4, 8, 16, 24, 32, 40, 52, 64, 76, 92, 108, 128};
    pm_object *l = pm_list_new(0);
    size_t k = 0, last = 0;
    for (int i = 0; i < 128; i++) {
        pm_list_append(l, pm_none());
        size_t cap = PMO_LIST(l)->allocated;
        if (cap != last) {
            CHECK(k < sizeof expect / sizeof *expect);
            if (k < sizeof expect / sizeof *expect) CHECK_EQ(cap, expect[k]);
            k++;
            last = cap;
        }
    }
    CHECK_EQ(k, 12);
    /* popping shrinks once under half */
    while (pm_list_size(l) > 20) pm_decref(pm_list_pop(l, -1));
    CHECK(PMO_LIST(l)->allocated <= 40);
    while (pm_list_size(l) > 0) pm_decref(pm_list_pop(l, 0));
    CHECK_EQ(PMO_LIST(l)->allocated, 0);
    CHECK(PMO_LIST(l)->items == NULL);
    pm_decref(l);
    /* The 32-bit counts: a longer list is refused before any allocation. */
    CHECK(sizeof(pmo_list) == 32);
    if (SIZE_MAX > PMO_LIST_MAX) {
        CHECK(pm_list_new((size_t)PMO_LIST_MAX + 1) == NULL);
        CHECK_EQ(pm_exc_occurred(), PM_EXC_MEMORY);
        CHECK(strstr(pm_exc_message(), "list too long") != NULL);
        pm_exc_clear();
    }
}

static void test_list_compare_repr(void) {
    pm_object *a = pm_list_new(0), *b = pm_list_new(0);
    for (int i = 0; i < 3; i++) {
        pm_list_append(a, I(i));
        pm_list_append(b, I(i));
    }
    CHECK_EQ(pm_equal(a, b), 1);
    CHECK_EQ(pm_compare(a, b, PM_LE), 1);
    pm_list_append(b, I(0));
    CHECK_EQ(pm_compare(a, b, PM_LT), 1);
    CHECK_EQ(pm_compare(a, b, PM_NE), 1);
    pm_list_set(a, 2, I(7));
    CHECK_EQ(pm_compare(a, b, PM_GT), 1);
    CHECK_EQ(pm_compare(a, b, PM_GE), 1);
    CHECK_EQ(pm_compare(a, b, PM_EQ), 0);
    uint64_t h;
    CHECK_EQ(pm_hash(a, &h), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable type: 'list'"));

    /* self reference: [[...]] */
    pm_object *self = pm_list_new(0);
    pm_list_append(self, self);
    CHECK(tu_repr_is(self, "[[...]]"));
    pm_object *outer = pm_list_new(0);
    pm_list_append(outer, self);
    pm_list_append(outer, self);
    CHECK(tu_repr_is(outer, "[[[...]], [[...]]]"));
    pm_object *t = pm_tuple_pack(1, self);
    pm_list_append(self, t);
    CHECK(tu_repr_is(self, "[[...], ([...],)]"));
    /* break the cycle by hand (no collector here) */
    pm_object *taken = pm_list_pop(self, 0);
    pm_decref(taken);
    pm_decref(pm_list_pop(self, 0));
    pm_decref(t);
    pm_decref(outer);
    pm_decref(self);
    pm_decref(a);
    pm_decref(b);
}

/* ---- a user type whose comparison runs code ------------------------------------ */

typedef struct evil {
    pm_object ob;
    int64_t id;
} evil;

static pm_type *evil_type;
static pm_object *evil_victim; /* the container the comparison mutates */
static int evil_mode;          /* 0 nothing, 1 delete/clear, 2 grow, 3 fail;
                                  1 and 2 act once, then reset */
static int evil_calls;

static int evil_hash(pm_object *self, uint64_t *out) {
    (void)self;
    *out = 42; /* every evil collides */
    return 0;
}

static void evil_mutate(int mode) {
    if (!evil_victim) return;
    if (pm_is_type(evil_victim, &pm_dict_type)) {
        size_t pos = 0;
        pm_object *k, *v;
        if (mode == 1) {
            while (pm_dict_next(evil_victim, &pos, &k, &v)) {
                pm_incref(k);
                pm_dict_del(evil_victim, k);
                pm_decref(k);
                pos = 0;
            }
        } else {
            for (int i = 0; i < 100; i++) pm_dict_set(evil_victim, I(1000 + i), I(i));
        }
    } else if (pm_is_type(evil_victim, &pm_set_type)) {
        if (mode == 1) {
            pm_object *it = pm_iter(evil_victim), *k;
            pm_object *keys = pm_list_new(0);
            while ((k = pm_next(it))) pm_list_append_steal(keys, k);
            pm_decref(it);
            for (size_t i = 0; i < pm_list_size(keys); i++)
                pm_set_discard(evil_victim, pm_list_get(keys, (int64_t)i));
            pm_decref(keys);
        } else {
            for (int i = 0; i < 100; i++) pm_set_add(evil_victim, I(1000 + i));
        }
    } else if (pm_is_type(evil_victim, &pm_list_type)) {
        while (pm_list_size(evil_victim)) pm_decref(pm_list_pop(evil_victim, -1));
    }
}

static int evil_compare(pm_object *a, pm_object *b, int op) {
    if (!pm_is_type(a, evil_type) || !pm_is_type(b, evil_type)) return PM_CMP_UNSUPPORTED;
    evil_calls++;
    if (evil_mode == 3) {
        pm_exc_set(PM_EXC_VALUE, "evil comparison");
        return -1;
    }
    int eq = ((evil *)a)->id == ((evil *)b)->id;
    if (evil_mode) {
        int mode = evil_mode;
        evil_mode = 0; /* once: the mutation's own comparisons do nothing */
        evil_mutate(mode);
    }
    if (op == PM_EQ) return eq;
    if (op == PM_NE) return !eq;
    return PM_CMP_UNSUPPORTED;
}

static pm_object *evil_new(int64_t id) {
    pm_object *o = pm_object_new(evil_type);
    ((evil *)o)->id = id;
    return o;
}

static void make_evil_type(void) {
    pm_type_spec spec = {.name = "Evil", .basicsize = sizeof(evil)};
    spec.slots.hash = evil_hash;
    spec.slots.compare = evil_compare;
    evil_type = pm_type_new(&spec);
    CHECK(evil_type != NULL);
}

static void test_list_mutation_during_compare(void) {
    pm_object *a = pm_list_new(0), *b = pm_list_new(0);
    for (int i = 0; i < 5; i++) {
        pm_list_append_steal(a, evil_new(i));
        pm_list_append_steal(b, evil_new(i));
    }
    evil_victim = a;
    evil_mode = 1;
    int r = pm_equal(a, b); /* a is emptied during the first comparison */
    CHECK(r == 0 || r == 1);
    CHECK_EQ(pm_list_size(a), 0);
    evil_victim = b;
    evil_mode = 1;
    pm_object *probe = evil_new(3);
    r = pm_contains(b, probe);
    CHECK(r == 0 || r == 1);
    pm_decref(probe);
    evil_victim = NULL;
    evil_mode = 0;
    pm_decref(a);
    pm_decref(b);
}

/* ---- dict ------------------------------------------------------------------- */

static void test_dict_basics(void) {
    pm_object *d = pm_dict_new();
    CHECK(tu_repr_is(d, "{}"));
    CHECK_EQ(pm_truth(d), 0);
    pm_object *a = pm_str_from("ak"), *v = big(1);
    CHECK_EQ(pm_dict_set(d, a, v), 0);
    CHECK_EQ(a->refcnt, 2);
    CHECK_EQ(v->refcnt, 2);
    CHECK(tu_repr_is(d, "{'ak': 1000001}"));
    CHECK(pm_dict_get(d, a) == v);
    pm_object *a2 = pm_str_from("ak");
    CHECK(pm_dict_get(d, a2) == v); /* equal, not identical */
    CHECK(pm_dict_get_str(d, "ak") == v);
    CHECK(pm_dict_get_str(d, "b") == NULL && !pm_exc_occurred());
    CHECK_EQ(pm_dict_set_str(d, "b", I(2)), 0);
    CHECK_EQ(pm_dict_set(d, I(3), S("three")), 0);
    pm_object *tk = pm_tuple_pack(2, I(1), I(2));
    CHECK_EQ(pm_dict_set(d, tk, pm_none()), 0);
    CHECK(tu_repr_is(d, "{'ak': 1000001, 'b': 2, 3: 'three', (1, 2): None}"));
    CHECK_EQ(pm_dict_size(d), 4);
    CHECK_EQ(pm_len(d), 4);
    CHECK_EQ(pm_truth(d), 1);
    /* replace keeps the first key object and the position */
    CHECK_EQ(pm_dict_set(d, a2, I(5)), 0);
    CHECK_EQ(v->refcnt, 1);
    CHECK_EQ(a2->refcnt, 1);
    CHECK(tu_repr_is(d, "{'ak': 5, 'b': 2, 3: 'three', (1, 2): None}"));
    /* 1 == 1.0 == True: one key */
    CHECK_EQ(pm_dict_set(d, G(pm_float(3.0)), I(33)), 0);
    CHECK_EQ(pm_dict_size(d), 4);
    CHECK(tu_repr_is(pm_dict_get(d, I(3)), "33"));
    /* unhashable key: TypeError, nothing changes */
    pm_object *l = pm_list_new(0);
    CHECK_EQ(pm_dict_set(d, l, I(1)), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable type: 'list'"));
    CHECK(pm_dict_get(d, l) == NULL && tu_raised(PM_EXC_TYPE, "unhashable"));
    CHECK_EQ(pm_dict_del(d, l), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable"));
    CHECK_EQ(pm_contains(d, l), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable"));
    CHECK_EQ(pm_dict_size(d), 4);
    CHECK_EQ(l->refcnt, 1);
    /* slots */
    pm_object *g = pm_getitem(d, a);
    CHECK(g == I(5));
    pm_decref(g);
    pm_object *missing = pm_str_from("missing");
    CHECK(pm_getitem(d, missing) == NULL && tu_raised(PM_EXC_KEY, "'missing'"));
    CHECK(pm_getitem(d, tk) == pm_none());
    pm_decref(pm_none());
    CHECK_EQ(pm_setitem(d, missing, I(8)), 0);
    CHECK_EQ(pm_contains(d, missing), 1);
    CHECK_EQ(pm_delitem(d, missing), 0);
    CHECK_EQ(pm_contains(d, missing), 0);
    CHECK_EQ(pm_delitem(d, missing), -1);
    CHECK(tu_raised(PM_EXC_KEY, "'missing'"));
    CHECK_EQ(pm_dict_del(d, missing), -1);
    CHECK(tu_raised(PM_EXC_KEY, "'missing'"));
    pm_object *badkey = pm_tuple_pack(1, I(99));
    CHECK_EQ(pm_dict_del(d, badkey), -1);
    CHECK(tu_raised(PM_EXC_KEY, "(99,)"));
    pm_decref(badkey);
    /* pm_dict_next, in order */
    size_t pos = 0;
    pm_object *k, *val;
    int n = 0;
    while (pm_dict_next(d, &pos, &k, &val)) n++;
    CHECK_EQ(n, 4);
    CHECK_EQ(pm_dict_next(d, &pos, &k, &val), 0);
    /* wrong types and NULLs */
    CHECK_EQ(pm_dict_set(l, a, a), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "expected dict, got list"));
    CHECK_EQ(pm_dict_set(d, NULL, a), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(pm_dict_set(d, a, NULL), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK(pm_dict_get(NULL, a) == NULL && tu_raised(PM_EXC_TYPE, NULL));
    CHECK(pm_dict_get_str(d, NULL) == NULL && tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(pm_dict_set_str(d, "\xff", a), -1);
    CHECK(tu_raised(PM_EXC_UNICODE, NULL));
    CHECK_EQ(pm_dict_size(l), 0);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(pm_dict_next(l, &pos, &k, &val), 0);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(pm_dict_del(d, NULL), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));

    pm_decref(d);
    CHECK_EQ(a->refcnt, 1);
    pm_object *objs[] = {a, a2, v, tk, l, missing};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) pm_decref(objs[i]);
}

static void test_dict_order(void) {
    pm_object *d = pm_dict_new();
    enum { N = 2000 };
    for (int i = 0; i < N; i++) pm_dict_set(d, I(i * 7919 % 10007), I(i));
    /* delete every third, then grow by N more: order is insertion order */
    for (int i = 0; i < N; i += 3) CHECK_EQ(pm_dict_del(d, I(i * 7919 % 10007)), 0);
    for (int i = N; i < 2 * N; i++) pm_dict_set(d, I(i * 7919 % 10007), I(i));
    size_t pos = 0;
    pm_object *k, *v;
    int64_t prev = -1, cnt = 0, x;
    bool ordered = true;
    while (pm_dict_next(d, &pos, &k, &v)) {
        pm_int_value(v, &x);
        if (x <= prev || (x < N && x % 3 == 0)) ordered = false;
        prev = x;
        cnt++;
    }
    CHECK(ordered);
    CHECK_EQ(cnt, (int64_t)pm_dict_size(d));
    CHECK_EQ(cnt, N - (N + 2) / 3 + N);
    /* a re-inserted key goes to the end */
    CHECK_EQ(pm_dict_del(d, I(7919)), 0);
    CHECK_EQ(pm_dict_set(d, I(7919), I(-1)), 0);
    pos = 0;
    while (pm_dict_next(d, &pos, &k, &v)) pm_int_value(k, &prev);
    CHECK_EQ(prev, 7919);
    pm_decref(d);
}

static void test_dict_shrink(void) {
    /* a dict that lost most keys shrinks when its table is rebuilt */
    pm_object *d = pm_dict_new();
    for (int i = 0; i < 10000; i++) pm_dict_set(d, I(i), pm_none());
    for (int i = 0; i < 10000; i++) pm_dict_del(d, I(i));
    CHECK_EQ(pm_dict_size(d), 0);
    for (int i = 0; i < 20000; i++) {
        pm_dict_set(d, I(-i - 1), pm_none());
        pm_dict_del(d, I(-i - 1));
    }
    CHECK_EQ(pm_dict_size(d), 0);
    pm_dict_set(d, S("k"), pm_none());
    CHECK(tu_repr_is(d, "{'k': None}"));
    pm_decref(d);
}

static void test_dict_compare(void) {
    pm_object *a = pm_dict_new(), *b = pm_dict_new();
    pm_dict_set_str(a, "x", I(1));
    pm_dict_set_str(a, "y", I(2));
    pm_dict_set_str(b, "y", I(2));
    pm_dict_set_str(b, "x", I(1));
    CHECK_EQ(pm_equal(a, b), 1); /* order does not matter */
    CHECK_EQ(pm_compare(a, b, PM_NE), 0);
    pm_dict_set_str(b, "x", I(3));
    CHECK_EQ(pm_equal(a, b), 0);
    CHECK_EQ(pm_compare(a, b, PM_LT), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "'<' not supported between instances of 'dict' and 'dict'"));
    uint64_t h;
    CHECK_EQ(pm_hash(a, &h), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable type: 'dict'"));
    pm_dict_set_str(b, "z", I(3));
    CHECK_EQ(pm_equal(a, b), 0);
    /* nested and self-referencing */
    pm_dict_set_str(a, "self", a);
    CHECK(tu_repr_is(a, "{'x': 1, 'y': 2, 'self': {...}}"));
    pm_dict_set_str(a, "self", pm_none());
    pm_decref(a);
    pm_decref(b);
}

static void test_dict_mutation_during_lookup(void) {
    for (int mode = 1; mode <= 3; mode++) {
        pm_object *d = pm_dict_new();
        pm_object *e1 = evil_new(1), *e2 = evil_new(2), *e1b = evil_new(1);
        pm_dict_set(d, e1, I(1));
        evil_victim = d;
        evil_mode = mode;
        evil_calls = 0;
        int r = pm_dict_set(d, e2, I(2)); /* compares e1 with e2 */
        if (mode == 3) {
            CHECK_EQ(r, -1);
            CHECK(tu_raised(PM_EXC_VALUE, "evil"));
            CHECK_EQ(pm_dict_size(d), 1); /* nothing changed */
        } else {
            CHECK_EQ(r, 0);
            CHECK(pm_dict_get(d, e2) == I(2));
        }
        CHECK(evil_calls >= 1);
        evil_mode = mode == 3 ? 0 : mode;
        pm_object *g = pm_dict_get(d, e1b);
        CHECK(g == NULL || g == I(1));
        pm_exc_clear();
        evil_victim = NULL;
        evil_mode = 0;
        pm_decref(d);
        pm_decref(e1);
        pm_decref(e2);
        pm_decref(e1b);
    }
}

static void test_dict_iteration(void) {
    pm_object *d = pm_dict_new();
    for (int i = 0; i < 10; i++) pm_dict_set(d, I(i), I(i * i));
    pm_object *it = pm_iter(d), *k;
    CHECK(it && pm_is_type(it, &pm_iter_type));
    int64_t sum = 0, x;
    while ((k = pm_next(it))) {
        pm_int_value(k, &x);
        sum += x;
        pm_decref(k);
    }
    CHECK(!pm_exc_occurred());
    CHECK_EQ(sum, 45);
    CHECK(pm_next(it) == NULL && !pm_exc_occurred()); /* stays exhausted */
    pm_decref(it);
    /* size change while iterating */
    it = pm_iter(d);
    k = pm_next(it);
    pm_decref(k);
    pm_dict_set(d, I(100), I(0));
    CHECK(pm_next(it) == NULL);
    CHECK(tu_raised(PM_EXC_RUNTIME, "dictionary changed size during iteration"));
    CHECK(pm_next(it) == NULL && tu_raised(PM_EXC_RUNTIME, "changed size"));
    pm_dict_del(d, I(100));
    CHECK(pm_next(it) == NULL && tu_raised(PM_EXC_RUNTIME, NULL)); /* sticky */
    pm_decref(it);
    /* a value replaced meanwhile is fine */
    it = pm_iter(d);
    int n = 0;
    while ((k = pm_next(it))) {
        pm_dict_set(d, k, pm_none());
        pm_decref(k);
        n++;
    }
    CHECK(!pm_exc_occurred());
    CHECK_EQ(n, 10);
    /* the iterator owns the dict */
    int64_t rc = (int64_t)d->refcnt;
    pm_object *it2 = pm_iter(d);
    CHECK_EQ(d->refcnt, rc + 1);
    pm_decref(it2);
    CHECK_EQ(d->refcnt, rc);
    pm_decref(it);
    pm_decref(d);
}

/* ---- set -------------------------------------------------------------------- */

static void test_set_basics(void) {
    pm_object *s = pm_set_new(NULL);
    CHECK(tu_repr_is(s, "set()"));
    CHECK_EQ(pm_truth(s), 0);
    pm_object *x = big(3);
    CHECK_EQ(pm_set_add(s, x), 0);
    CHECK_EQ(x->refcnt, 2);
    CHECK_EQ(pm_set_add(s, x), 0);
    CHECK_EQ(x->refcnt, 2);
    CHECK_EQ(pm_set_size(s), 1);
    CHECK(tu_repr_is(s, "{1000003}"));
    CHECK_EQ(pm_truth(s), 1);
    CHECK_EQ(pm_contains(s, x), 1);
    pm_object *x2 = big(3);
    CHECK_EQ(pm_contains(s, x2), 1);
    CHECK_EQ(pm_set_discard(s, x2), 1);
    CHECK_EQ(x->refcnt, 1);
    CHECK_EQ(pm_set_discard(s, x2), 0);
    CHECK_EQ(pm_set_size(s), 0);
    /* many items: growth, discard, re-add */
    for (int i = 0; i < 1000; i++) CHECK_EQ(pm_set_add(s, I(i)), 0);
    for (int i = 0; i < 1000; i += 2) CHECK_EQ(pm_set_discard(s, I(i)), 1);
    CHECK_EQ(pm_set_size(s), 500);
    for (int i = 0; i < 1000; i++) CHECK_EQ(pm_contains(s, I(i)), i % 2);
    for (int i = 0; i < 1000; i++) pm_set_add(s, I(i));
    CHECK_EQ(pm_set_size(s), 1000);
    CHECK_EQ(pm_len(s), 1000);
    /* errors */
    pm_object *l = pm_list_new(0);
    CHECK_EQ(pm_set_add(s, l), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable type: 'list'"));
    CHECK_EQ(pm_set_size(s), 1000);
    CHECK_EQ(pm_set_discard(s, l), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable"));
    CHECK_EQ(pm_contains(s, l), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable"));
    CHECK_EQ(pm_set_add(l, x), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "expected set, got list"));
    CHECK_EQ(pm_set_add(s, NULL), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(pm_set_discard(NULL, x), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    CHECK_EQ(pm_set_size(l), 0);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    uint64_t h;
    CHECK_EQ(pm_hash(s, &h), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable type: 'set'"));
    pm_decref(l);
    pm_decref(s);
    pm_decref(x2);
    pm_decref(x);
}

static void test_set_from_and_frozen(void) {
    pm_object *l = pm_list_new(0);
    for (int i = 0; i < 5; i++) pm_list_append(l, I(i % 3));
    pm_object *s = pm_set_new(l);
    CHECK_EQ(pm_set_size(s), 3);
    pm_object *f = pm_frozenset_new(s);
    CHECK(pm_is_type(f, &pm_frozenset_type));
    CHECK_EQ(pm_set_size(f), 3);
    CHECK(tu_repr_is(f, "frozenset({0, 1, 2})"));
    pm_object *ef = pm_frozenset_new(NULL);
    CHECK(tu_repr_is(ef, "frozenset()"));
    CHECK_EQ(pm_equal(s, f), 1);
    CHECK_EQ(pm_equal(f, s), 1);
    uint64_t h1, h2;
    CHECK_EQ(pm_hash(f, &h1), 0);
    pm_object *f2 = pm_frozenset_new(l);
    CHECK_EQ(pm_hash(f2, &h2), 0);
    CHECK(h1 == h2);
    /* frozensets as dict keys and set members; a set looks up as frozenset */
    pm_object *d = pm_dict_new();
    CHECK_EQ(pm_dict_set(d, f, I(1)), 0);
    /* a shared frozenset cannot change (a new one can be filled); nothing
     * can be discarded from one */
    CHECK_EQ(pm_set_add(f, I(9)), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "frozenset"));
    CHECK_EQ(pm_set_discard(f, I(0)), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    pm_object *fill = pm_frozenset_new(NULL);
    CHECK_EQ(pm_set_add(fill, I(1)), 0);
    CHECK(tu_repr_is(fill, "frozenset({1})"));
    pm_decref(fill);
    CHECK(pm_dict_get(d, f2) == I(1));
    pm_object *ss = pm_set_new(NULL);
    CHECK_EQ(pm_set_add(ss, f), 0);
    CHECK_EQ(pm_contains(ss, s), 1);
    CHECK_EQ(pm_set_discard(ss, s), 1);
    CHECK_EQ(pm_set_add(ss, s), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "unhashable type: 'set'"));
    /* from a dict (its keys), a str (its characters), a tuple, a generator */
    pm_object *fromd = pm_set_new(d);
    CHECK_EQ(pm_set_size(fromd), 1);
    pm_object *str = pm_str_from("abca");
    pm_object *froms = pm_frozenset_new(str);
    CHECK_EQ(pm_set_size(froms), 3);
    CHECK(pm_set_new(I(5)) == NULL && tu_raised(PM_EXC_TYPE, "not iterable"));
    pm_object *bad = pm_list_new(0);
    pm_list_append_steal(bad, pm_list_new(0));
    CHECK(pm_set_new(bad) == NULL && tu_raised(PM_EXC_TYPE, "unhashable"));
    pm_object *objs[] = {l, s, f, ef, f2, d, ss, fromd, str, froms, bad};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) pm_decref(objs[i]);
}

static void test_set_compare(void) {
    pm_object *a = pm_set_new(NULL), *b = pm_set_new(NULL);
    for (int i = 0; i < 3; i++) pm_set_add(a, I(i));
    for (int i = 0; i < 5; i++) pm_set_add(b, I(i));
    CHECK_EQ(pm_compare(a, b, PM_LT), 1);
    CHECK_EQ(pm_compare(a, b, PM_LE), 1);
    CHECK_EQ(pm_compare(a, b, PM_GT), 0);
    CHECK_EQ(pm_compare(b, a, PM_GT), 1);
    CHECK_EQ(pm_compare(b, a, PM_GE), 1);
    CHECK_EQ(pm_compare(a, a, PM_LT), 0);
    CHECK_EQ(pm_compare(a, a, PM_LE), 1);
    CHECK_EQ(pm_equal(a, b), 0);
    CHECK_EQ(pm_compare(a, b, PM_NE), 1);
    pm_set_add(a, I(7));
    CHECK_EQ(pm_compare(a, b, PM_LE), 0); /* not a subset any more */
    CHECK_EQ(pm_compare(b, a, PM_GE), 0);
    pm_object *f = pm_frozenset_new(a);
    CHECK_EQ(pm_compare(f, a, PM_EQ), 1);
    CHECK_EQ(pm_compare(f, a, PM_GE), 1);
    pm_object *l = pm_list_new(0);
    CHECK_EQ(pm_equal(a, l), 0);
    CHECK_EQ(pm_compare(a, l, PM_LT), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    pm_decref(l);
    pm_decref(f);
    pm_decref(a);
    pm_decref(b);
}

static void test_set_mutation(void) {
    for (int mode = 1; mode <= 3; mode++) {
        pm_object *s = pm_set_new(NULL), *e1 = evil_new(1), *e2 = evil_new(2);
        pm_set_add(s, e1);
        evil_victim = s;
        evil_mode = mode;
        int r = pm_set_add(s, e2);
        if (mode == 3) {
            CHECK_EQ(r, -1);
            CHECK(tu_raised(PM_EXC_VALUE, "evil"));
            CHECK_EQ(pm_set_size(s), 1);
        } else {
            CHECK_EQ(r, 0);
            CHECK_EQ(pm_contains(s, e2), 1);
        }
        evil_victim = NULL;
        evil_mode = 0;
        pm_decref(s);
        pm_decref(e1);
        pm_decref(e2);
    }
    /* size change during iteration */
    pm_object *s = pm_set_new(NULL);
    for (int i = 0; i < 10; i++) pm_set_add(s, I(i));
    pm_object *it = pm_iter(s), *k = pm_next(it);
    CHECK(k != NULL);
    pm_decref(k);
    pm_set_discard(s, I(5));
    CHECK(pm_next(it) == NULL && tu_raised(PM_EXC_RUNTIME, "Set changed size during iteration"));
    pm_decref(it);
    it = pm_iter(s);
    int n = 0;
    while ((k = pm_next(it))) {
        n++;
        pm_decref(k);
    }
    CHECK_EQ(n, 9);
    CHECK(!pm_exc_occurred());
    pm_decref(it);
    pm_decref(s);
}

/* Adding and discarding distinct keys forever: dummies are recycled and
 * the table is rebuilt, so it neither grows without bound nor loops (S2). */
static void test_set_churn(void) {
    pm_object *s = pm_set_new(NULL);
    for (int i = 0; i < 100000; i++) {
        pm_object *k = pm_int(1000000 + i);
        CHECK_EQ(pm_set_add(s, k), 0);
        if (i >= 3) {
            pm_object *old = pm_int(1000000 + i - 3);
            CHECK_EQ(pm_set_discard(s, old), 1);
            pm_decref(old);
        }
        pm_decref(k);
    }
    CHECK_EQ(pm_set_size(s), 3);
    pm_decref(s);
}

/* ---- iterators over every container ------------------------------------------------ */

static int64_t count_items(pm_object *o) {
    pm_object *it = pm_iter(o), *x;
    if (!it) return -1;
    int64_t n = 0;
    while ((x = pm_next(it))) {
        n++;
        pm_decref(x);
    }
    pm_decref(it);
    return pm_exc_occurred() ? -1 : n;
}

static void test_iterators(void) {
    pm_object *l = pm_list_new(0);
    for (int i = 0; i < 4; i++) pm_list_append(l, I(i));
    CHECK_EQ(count_items(l), 4);
    /* appending during list iteration is seen (Python semantics) */
    pm_object *it = pm_iter(l), *x;
    int n = 0;
    while ((x = pm_next(it))) {
        if (n < 2) pm_list_append(l, I(9));
        pm_decref(x);
        n++;
    }
    CHECK_EQ(n, 6);
    pm_object *it2 = pm_iter(it); /* an iterator is its own iterator */
    CHECK(it2 == it);
    pm_decref(it2);
    pm_decref(it);
    pm_object *t = pm_tuple_pack(3, I(1), I(2), I(3));
    CHECK_EQ(count_items(t), 3);
    CHECK_EQ(count_items(pm_tuple_new(0)), 0);
    /* str by code point */
    pm_object *s = pm_str_from("h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80!"); /* h é € 😀 ! */
    it = pm_iter(s);
    const char *want[] = {"h", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "!"};
    n = 0;
    while ((x = pm_next(it))) {
        CHECK(n < 5 && strcmp(pm_str_utf8(x, NULL), want[n]) == 0);
        CHECK_EQ(pm_str_length(x), 1);
        pm_decref(x);
        n++;
    }
    CHECK_EQ(n, 5);
    pm_decref(it);
    /* bytes by int */
    pm_object *b = pm_bytes_from("\x00\x7f\xff", 3);
    it = pm_iter(b);
    int64_t v[3] = {-1, -1, -1};
    for (int i = 0; i < 3; i++) {
        x = pm_next(it);
        CHECK(x && pm_is_type(x, &pm_int_type));
        if (x) pm_int_value(x, &v[i]);
        pm_xdecref(x);
    }
    CHECK(pm_next(it) == NULL && !pm_exc_occurred());
    CHECK(v[0] == 0 && v[1] == 127 && v[2] == 255);
    pm_decref(it);
    pm_object *f = pm_frozenset_new(l);
    CHECK_EQ(count_items(f), 5);
    /* not iterable */
    CHECK(pm_iter(I(1)) == NULL && tu_raised(PM_EXC_TYPE, "not iterable"));
    pm_object *objs[] = {l, t, s, b, f};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) pm_decref(objs[i]);
}

/* ---- generators ---------------------------------------------------------------------- */

typedef struct counter {
    uint64_t next, limit;
    int released;
    int fail_at;
} counter;

static int counter_next(void *state, pm_object **item) {
    counter *c = state;
    if (c->fail_at >= 0 && c->next == (uint64_t)c->fail_at) {
        pm_exc_set(PM_EXC_VALUE, "counter failed");
        return -1;
    }
    if (c->next >= c->limit) return 0;
    *item = pm_int((int64_t)c->next++);
    return *item ? 1 : -1;
}

static void counter_release(void *state) { ((counter *)state)->released++; }

static void test_generator(void) {
    /* lazy: 10^9 items, only what is asked for is produced */
    counter c = {0, 1000000000ull, 0, -1};
    pm_object *g = pm_generator_new(counter_next, &c, counter_release);
    CHECK(g && pm_is_type(g, &pm_generator_type));
    for (int i = 0; i < 5; i++) {
        pm_object *x = pm_next(g);
        int64_t v = -1;
        pm_int_value(x, &v);
        CHECK_EQ(v, i);
        pm_decref(x);
    }
    CHECK_EQ(c.next, 5);
    pm_object *same = pm_iter(g);
    CHECK(same == g);
    pm_decref(same);
    CHECK_EQ(c.released, 0);
    pm_decref(g);
    CHECK_EQ(c.released, 1);

    /* exhausted: release still only when freed, and once */
    counter d = {0, 3, 0, -1};
    g = pm_generator_new(counter_next, &d, counter_release);
    CHECK_EQ(count_items(g), 3);
    CHECK(pm_next(g) == NULL && !pm_exc_occurred());
    CHECK_EQ(d.next, 3);
    CHECK_EQ(d.released, 0);
    pm_decref(g);
    CHECK_EQ(d.released, 1);

    /* an error ends it */
    counter e = {0, 10, 0, 2};
    g = pm_generator_new(counter_next, &e, counter_release);
    pm_decref(pm_next(g));
    pm_decref(pm_next(g));
    CHECK(pm_next(g) == NULL && tu_raised(PM_EXC_VALUE, "counter failed"));
    CHECK(pm_next(g) == NULL && !pm_exc_occurred());
    pm_decref(g);
    CHECK_EQ(e.released, 1);

    /* a generator feeds a set and a frozenset */
    counter f = {0, 100, 0, -1};
    g = pm_generator_new(counter_next, &f, NULL);
    pm_object *s = pm_set_new(g);
    CHECK_EQ(pm_set_size(s), 100);
    pm_decref(s);
    pm_decref(g);
    CHECK(pm_generator_new(NULL, NULL, NULL) == NULL && tu_raised(PM_EXC_TYPE, NULL));
}

/* ---- traverse and clear --------------------------------------------------------------- */

static int count_visit(pm_object *o, void *arg) {
    (void)o;
    (*(int *)arg)++;
    return 0;
}

static int stop_visit(pm_object *o, void *arg) {
    (void)o;
    (*(int *)arg)++;
    return 7;
}

static void test_traverse_clear(void) {
    pm_object *t = pm_tuple_pack(2, I(1), I(2));
    pm_object *l = pm_list_new(0);
    pm_list_append(l, t);
    pm_list_append(l, I(3));
    pm_object *d = pm_dict_new();
    pm_dict_set(d, I(1), l);
    pm_dict_set(d, I(2), t);
    pm_object *s = pm_set_new(t);
    pm_object *it = pm_iter(l);
    struct {
        pm_object *o;
        int refs;
    } cases[] = {{t, 2}, {l, 2}, {d, 4}, {s, 2}, {it, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int n = 0;
        CHECK(pm_type_flags(cases[i].o->type) & PM_TPFLAGS_GC);
        CHECK_EQ(cases[i].o->type->slots.traverse(cases[i].o, count_visit, &n), 0);
        CHECK_EQ(n, cases[i].refs);
        n = 0;
        CHECK_EQ(cases[i].o->type->slots.traverse(cases[i].o, stop_visit, &n), 7);
        CHECK_EQ(n, 1);
    }
    /* clear leaves valid empty objects */
    int64_t trc = (int64_t)t->refcnt;
    for (size_t i = sizeof cases / sizeof *cases; i-- > 0;) {
        CHECK_EQ(cases[i].o->type->slots.clear(cases[i].o), 0);
        int n = 0;
        cases[i].o->type->slots.traverse(cases[i].o, count_visit, &n);
        CHECK_EQ(n, 0);
    }
    CHECK_EQ(t->refcnt, trc - 2); /* the list and the dict let go of it */
    CHECK(tu_repr_is(l, "[]") && tu_repr_is(d, "{}") && tu_repr_is(s, "set()"));
    CHECK(tu_repr_is(t, "(<NULL>, <NULL>)"));
    CHECK(pm_next(it) == NULL && !pm_exc_occurred());
    CHECK_EQ(pm_list_append(l, I(1)), 0);
    CHECK_EQ(pm_dict_set(d, I(1), I(1)), 0);
    CHECK_EQ(pm_set_add(s, I(1)), 0);
    uint64_t h;
    CHECK_EQ(pm_hash(t, &h), -1);
    CHECK(tu_raised(PM_EXC_RUNTIME, "not set"));
    CHECK_EQ(count_items(t), 0);
    pm_object *objs[] = {t, l, d, s, it};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) pm_decref(objs[i]);
}

/* ---- recursion limits ------------------------------------------------------------------ */

static void test_recursion_limits(void) {
    enum { DEPTH = 100000 };
    pm_object *a = pm_list_new(0), *b = pm_list_new(0), *t = pm_tuple_new(0);
    for (int i = 0; i < DEPTH; i++) {
        pm_object *x = pm_list_new(0), *y = pm_list_new(0), *z = pm_tuple_new(1);
        pm_list_append_steal(x, a);
        pm_list_append_steal(y, b);
        pm_tuple_set_steal(z, 0, t);
        a = x;
        b = y;
        t = z;
    }
    CHECK(pm_repr(a) == NULL && tu_raised(PM_EXC_RECURSION, "maximum recursion depth"));
    CHECK_EQ(pm_equal(a, b), -1);
    CHECK(tu_raised(PM_EXC_RECURSION, NULL));
    uint64_t h;
    CHECK_EQ(pm_hash(t, &h), -1);
    CHECK(tu_raised(PM_EXC_RECURSION, NULL));
    /* within the limit, all fine */
    pm_object *c = pm_list_new(0), *e = pm_list_new(0);
    for (int i = 0; i < 500; i++) {
        pm_object *x = pm_list_new(0), *y = pm_list_new(0);
        pm_list_append_steal(x, c);
        pm_list_append_steal(y, e);
        c = x;
        e = y;
    }
    CHECK_EQ(pm_equal(c, e), 1);
    pm_object *r = pm_repr(c);
    CHECK(r && pm_str_length(r) == 1002);
    pm_xdecref(r);
    pm_decref(a);
    pm_decref(b);
    pm_decref(t);
    pm_decref(c);
    pm_decref(e);
}

/* ---- cycles through containers, collected -------------------------------------------- */

static pm_type *node_type; /* instances with attributes: hashable by identity */

static void test_gc_cycles(void) {
    pm_type_spec spec = {.name = "Node", .basicsize = sizeof(pm_object), .flags = PM_TPFLAGS_ATTRS};
    node_type = pm_type_new(&spec);
    pm_gc_collect(2);
    int64_t live = tu_live_objects();
    /* a list holding itself */
    pm_object *l = pm_list_new(0);
    CHECK(!pm_gc_is_tracked(l)); /* pymm: tracked once it may hold a container */
    pm_list_append(l, l);
    CHECK(pm_gc_is_tracked(l));
    /* a dict holding itself as a value */
    pm_object *d = pm_dict_new();
    CHECK(!pm_gc_is_tracked(d)); /* CPython's rule: tracked once it holds a container */
    pm_dict_set_str(d, "me", d);
    CHECK(pm_gc_is_tracked(d));
    /* a list and a tuple holding each other */
    pm_object *l2 = pm_list_new(0), *t = pm_tuple_pack(1, l2);
    CHECK(pm_gc_is_tracked(t));
    pm_list_append(l2, t);
    CHECK(pm_gc_is_tracked(l2));
    /* a set holding an object whose attribute holds the set */
    pm_object *s = pm_set_new(NULL), *n = pm_object_new(node_type);
    CHECK(pm_gc_is_tracked(s));
    pm_set_add(s, n);
    pm_setattr(n, "owner", s);
    /* a frozenset in the same kind of cycle */
    pm_object *n2 = pm_object_new(node_type), *f = pm_frozenset_new(NULL);
    pm_set_add(f, n2);
    pm_setattr(n2, "owner", f);
    /* an iterator stored in the list it iterates */
    pm_object *l3 = pm_list_new(0), *it = pm_iter(l3);
    CHECK(pm_gc_is_tracked(it));
    pm_list_append(l3, it);
    pm_object *all[] = {l, d, l2, t, s, n, n2, f, l3, it};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) pm_decref(all[i]);
    CHECK(tu_live_objects() > live);
    int64_t found = pm_gc_collect(2);
    CHECK(found >= 10);
    CHECK_EQ(tu_live_objects(), live);
    pm_decref(&node_type->ob);
}

/* The whole suite on a fresh runtime; debug mode quarantines freed objects
 * (so a decref too many is caught) and keeps them off the free lists. */
static void run_suite(bool debug) {
    pm_runtime_config cfg = {.heap = NULL, .debug = debug};
    pm_runtime *rt = pm_runtime_new(&cfg);
    pm_runtime_enter(rt);
    pm_runtime_stats st0, st1;
    pm_runtime_get_stats(rt, &st0);
    int64_t live0 = tu_live_objects();
    make_evil_type();
    void (*tests[])(void) = {
        test_tuple_basics,
        test_tuple_hash_compare,
        test_tuple_pack_borrows,
        test_list_basics,
        test_list_growth,
        test_list_compare_repr,
        test_list_mutation_during_compare,
        test_dict_basics,
        test_dict_order,
        test_dict_shrink,
        test_dict_compare,
        test_dict_mutation_during_lookup,
        test_dict_iteration,
        test_set_basics,
        test_set_from_and_frozen,
        test_set_compare,
        test_set_mutation,
        test_set_churn,
        test_iterators,
        test_generator,
        test_traverse_clear,
        test_recursion_limits,
        test_gc_cycles,
    };
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        tests[i]();
        drain();
        CHECK(!pm_exc_occurred());
        pm_exc_clear();
    }
    if (!debug) test_freelists();
    pm_decref(&evil_type->ob);
    /* In debug mode, quarantined instances still hold their heap type:
     * Evil and Node may outlive their last reference until eviction. */
    CHECK(tu_live_objects() >= live0 && tu_live_objects() <= live0 + (debug ? 2 : 0));
    pm_runtime_get_stats(rt, &st1);
    if (st0.total_refcount >= 0 && !debug) /* PM_DEBUG builds */
        CHECK_EQ(st1.total_refcount, st0.total_refcount);
    pm_runtime_enter(NULL);
    pm_runtime_destroy(rt);
}

int main(void) {
    run_suite(false);
    run_suite(true);
    free(pool);
    return tu_finish("test_obj_containers");
}
