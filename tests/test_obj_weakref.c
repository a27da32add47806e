/*
 * test_obj_weakref.c -- weak references and the weak-value dict.
 *
 * Each group runs in a private runtime and ends with no object alive
 * (objects_allocated == objects_freed). Callbacks log the int they were
 * given as argument, so order and count are checked exactly (CPython's
 * order: the newest weak reference is called first).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a weakly referenceable test type: one strong child slot ------------ */

typedef struct node {
    pm_object ob;
    pm_object *child;
} node;

static void node_dealloc(pm_object *self) {
    pm_object *c = ((node *)self)->child;
    ((node *)self)->child = NULL;
    pm_xdecref(c);
}

static int node_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    pm_object *c = ((node *)self)->child;
    return c ? visit(c, arg) : 0;
}

static int node_clear(pm_object *self) {
    node_dealloc(self);
    return 0;
}

static pm_type *node_type;

static void make_node_type(void) {
    pm_type_spec spec = {
        .name = "Node",
        .basicsize = sizeof(node),
        .flags = PM_TPFLAGS_GC | PM_TPFLAGS_WEAKREF,
        .slots = {.dealloc = node_dealloc, .traverse = node_traverse, .clear = node_clear},
    };
    node_type = pm_type_new(&spec);
    CHECK(node_type != NULL);
}

static pm_object *new_node(void) { return pm_object_new(node_type); }

/* ---- runtime per group, leak check ------------------------------------------ */

static pm_runtime *rt, *saved_rt;
static bool debug_mode;

static void group_begin(void) {
    debug_mode = tu_debug_env(); /* PYMM_DEBUG=1: freed objects quarantined */
    pm_runtime_config cfg = {.heap = NULL, .debug = debug_mode};
    rt = pm_runtime_new(&cfg);
    saved_rt = pm_runtime_enter(rt);
    make_node_type();
}

static void group_end(const char *name) {
    pm_decref((pm_object *)node_type);
    node_type = NULL;
    pm_runtime_stats s;
    pm_runtime_get_stats(rt, &s);
    /* In debug mode a freed instance waits in the quarantine, and keeps its
     * heap type (Node) referenced until it leaves: that one may remain. */
    uint64_t live = s.objects_allocated - s.objects_freed, allowed = debug_mode ? 1 : 0;
    if (live > allowed)
        fprintf(stderr, "%s: %llu objects leaked\n", name, (unsigned long long)live);
    CHECK(live <= allowed);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    pm_runtime_enter(saved_rt);
    pm_runtime_destroy(rt);
}

/* ---- callback log --------------------------------------------------------------- */

static int64_t cb_log[64];
static int cb_count;

static void log_cb(pm_object *wr, pm_object *arg) {
    int64_t v = -1;
    if (arg && pm_is_type(arg, &pm_int_type)) pm_int_value(arg, &v);
    if (cb_count < 64) cb_log[cb_count] = v;
    cb_count++;
    /* The reference is cleared before any callback runs. */
    pm_object *t = pm_weakref_get(wr);
    CHECK(t == pm_none());
    pm_decref(t);
}

static void log_reset(void) { cb_count = 0; }

/* ---- tests ---------------------------------------------------------------------- */

static void test_get_before_after_death(void) {
    group_begin();
    pm_object *o = new_node();
    pm_object *wr = pm_weakref_new(o, NULL, NULL);
    CHECK(wr != NULL);
    CHECK(pm_is_type(wr, &pm_weakref_type));
    CHECK_EQ(pm_weakref_count(o), 1);
    CHECK(o->flags & PM_OF_HAS_WEAKREF);
    pm_object *t = pm_weakref_get(wr);
    CHECK(t == o);
    CHECK_EQ(o->refcnt, 2);
    pm_decref(t);
    pm_decref(o);
    t = pm_weakref_get(wr);
    CHECK(t == pm_none());
    pm_decref(t);
    /* Never shared: two calls make two objects. */
    pm_object *o2 = new_node();
    pm_object *a = pm_weakref_new(o2, NULL, NULL), *b = pm_weakref_new(o2, NULL, NULL);
    CHECK(a != b);
    CHECK_EQ(pm_weakref_count(o2), 2);
    pm_decref(a);
    CHECK_EQ(pm_weakref_count(o2), 1);
    pm_decref(b);
    CHECK_EQ(pm_weakref_count(o2), 0);
    CHECK(!(o2->flags & PM_OF_HAS_WEAKREF));
    pm_decref(o2);
    /* pm_weakref_get on something else. */
    CHECK(pm_weakref_get(pm_none()) == NULL);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_TYPE);
    pm_exc_clear();
    pm_decref(wr);
    group_end("get");
}

static void test_callback_order(void) {
    group_begin();
    log_reset();
    pm_object *o = new_node();
    pm_object *wr[5];
    for (int i = 0; i < 5; i++) {
        pm_object *id = pm_int(i + 1);
        wr[i] = pm_weakref_new(o, log_cb, id);
        pm_decref(id);
    }
    /* A weak reference that dies first gets no callback. */
    pm_decref(wr[2]);
    CHECK_EQ(pm_weakref_count(o), 4);
    pm_decref(o);
    CHECK_EQ(cb_count, 4);
    CHECK_EQ(cb_log[0], 5);
    CHECK_EQ(cb_log[1], 4);
    CHECK_EQ(cb_log[2], 2);
    CHECK_EQ(cb_log[3], 1);
    for (int i = 0; i < 5; i++)
        if (i != 2) pm_decref(wr[i]);
    /* A callback without argument, and weak references without callback. */
    log_reset();
    o = new_node();
    pm_object *plain = pm_weakref_new(o, NULL, NULL);
    pm_object *noarg = pm_weakref_new(o, log_cb, NULL);
    pm_decref(o);
    CHECK_EQ(cb_count, 1);
    CHECK_EQ(cb_log[0], -1);
    pm_decref(plain);
    pm_decref(noarg);
    group_end("order");
}

/* A callback that drops the only reference its owner had to it. */
static pm_object *held[4];

static void drop_self_cb(pm_object *wr, pm_object *arg) {
    (void)arg;
    for (int i = 0; i < 4; i++)
        if (held[i] == wr) {
            held[i] = NULL;
            pm_decref(wr); /* the clearing code still holds one: wr stays valid */
            CHECK(wr->refcnt >= 1);
        }
    cb_count++;
}

/* A callback that drops another weak reference (already cleared, and
 * pending its own callback: that one still runs, as in CPython). */
static void drop_other_cb(pm_object *wr, pm_object *arg) {
    (void)wr;
    (void)arg;
    if (held[1]) {
        pm_object *other = held[1];
        held[1] = NULL;
        pm_decref(other);
    }
    cb_count++;
}

static void test_callback_drops_refs(void) {
    group_begin();
    log_reset();
    pm_object *o = new_node();
    held[0] = pm_weakref_new(o, drop_self_cb, NULL);
    held[1] = pm_weakref_new(o, drop_self_cb, NULL);
    pm_decref(o);
    CHECK_EQ(cb_count, 2);
    CHECK(held[0] == NULL && held[1] == NULL);

    log_reset();
    o = new_node();
    held[1] = pm_weakref_new(o, drop_self_cb, NULL); /* older: called second */
    held[0] = pm_weakref_new(o, drop_other_cb, NULL);
    pm_decref(o);
    CHECK_EQ(cb_count, 2);
    CHECK(held[1] == NULL);
    pm_decref(held[0]);
    held[0] = NULL;
    group_end("drop refs");
}

/* A callback that makes and drops weak references, to other objects and
 * to new ones, while the registry is being used. */
static pm_object *others[8];

static void churn_cb(pm_object *wr, pm_object *arg) {
    (void)wr;
    (void)arg;
    for (int i = 0; i < 8; i++) {
        pm_object *n = new_node();
        pm_object *w = pm_weakref_new(n, log_cb, NULL);
        pm_object *w2 = pm_weakref_new(others[i], NULL, NULL);
        pm_decref(n); /* runs log_cb inside this callback */
        pm_decref(w);
        pm_decref(w2);
    }
    cb_count += 100;
}

static void test_callback_churn(void) {
    group_begin();
    log_reset();
    for (int i = 0; i < 8; i++) others[i] = new_node();
    pm_object *o = new_node();
    pm_object *w = pm_weakref_new(o, churn_cb, NULL);
    pm_decref(o);
    CHECK_EQ(cb_count, 108);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(pm_weakref_count(others[i]), 0);
        pm_decref(others[i]);
    }
    pm_decref(w);
    group_end("churn");
}

/* A callback that raises: reported, cleared, the others still run, and the
 * exception pending before the target died is still there afterwards. */
static void raise_cb(pm_object *wr, pm_object *arg) {
    (void)wr;
    (void)arg;
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE); /* the pending one is saved away */
    cb_count++;
    pm_exc_set(PM_EXC_VALUE, "boom %d", cb_count);
}

static void raising_child(void *arg) {
    (void)arg;
    group_begin();
    log_reset();
    pm_object *o = new_node();
    pm_object *a = pm_weakref_new(o, raise_cb, NULL);
    pm_object *b = pm_weakref_new(o, raise_cb, NULL);
    pm_exc_set(PM_EXC_KEY, "pending");
    pm_decref(o);
    if (cb_count != 2) fprintf(stderr, "WRONG COUNT %d\n", cb_count);
    if (pm_exc_occurred() != PM_EXC_KEY || strcmp(pm_exc_message(), "pending") != 0)
        fprintf(stderr, "WRONG EXCEPTION %s\n", pm_exc_message());
    pm_exc_clear();
    pm_decref(a);
    pm_decref(b);
    group_end("raise");
    fprintf(stderr, "failures=%d\n", tu_failures);
}

static void test_callback_raises(void) {
    tu_result r;
    tu_child(raising_child, NULL, &r);
    CHECK(r.exited && r.status == 0);
    CHECK(tu_contains(r.err, "Exception ignored in: weakref callback"));
    CHECK(tu_contains(r.err, "ValueError: boom 1"));
    CHECK(tu_contains(r.err, "ValueError: boom 2"));
    CHECK(!tu_contains(r.err, "WRONG"));
    CHECK(tu_contains(r.err, "failures=0"));
}

/* The callback's argument is held strongly, and released with the weak
 * reference (or after the callback ran). */
static void test_callback_arg_lifetime(void) {
    group_begin();
    log_reset();
    pm_object *o = new_node(), *arg = new_node();
    pm_object *w = pm_weakref_new(o, NULL, arg);
    CHECK_EQ(arg->refcnt, 2);
    pm_decref(w);
    CHECK_EQ(arg->refcnt, 1);
    w = pm_weakref_new(o, log_cb, arg);
    CHECK_EQ(arg->refcnt, 2);
    pm_decref(o);
    CHECK_EQ(cb_count, 1);
    CHECK_EQ(arg->refcnt, 1); /* dropped after the callback ran */
    pm_decref(arg);
    pm_decref(w);
    group_end("arg");
}

/* A weak reference owned by its own target is still alive when the target's
 * weak references are cleared (the target releases what it holds only
 * afterwards), so its callback runs: CPython's order. */
static void test_owned_by_target(void) {
    group_begin();
    log_reset();
    pm_object *o = new_node();
    pm_object *id = pm_int(7);
    ((node *)o)->child = pm_weakref_new(o, log_cb, id);
    pm_decref(id);
    pm_decref(o);
    CHECK_EQ(cb_count, 1);
    CHECK_EQ(cb_log[0], 7);
    group_end("owned");
}

static void test_not_weakrefable(void) {
    group_begin();
    pm_object *objs[] = {pm_int(1000),    pm_int(1),      pm_str_from("hello"),
                         pm_tuple_new(0), pm_list_new(0), pm_dict_new(),
                         pm_none(),       pm_float(1.5),  pm_bool(1)};
    const char *names[] = {"int",  "int",      "str",   "tuple", "list",
                           "dict", "NoneType", "float", "bool"};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) {
        pm_object *w = pm_weakref_new(objs[i], NULL, NULL);
        CHECK(w == NULL);
        CHECK_EQ(pm_exc_occurred(), PM_EXC_TYPE);
        char want[96];
        snprintf(want, sizeof want, "cannot create weak reference to '%s' object", names[i]);
        if (strcmp(pm_exc_message(), want) != 0)
            fprintf(stderr, "got '%s', want '%s'\n", pm_exc_message(), want);
        CHECK(strcmp(pm_exc_message(), want) == 0);
        pm_exc_clear();
        CHECK_EQ(pm_weakref_count(objs[i]), 0);
        pm_decref(objs[i]);
    }
    /* A weak reference to a weak reference: not allowed either (CPython). */
    pm_object *o = new_node(), *w = pm_weakref_new(o, NULL, NULL);
    CHECK(pm_weakref_new(w, NULL, NULL) == NULL);
    pm_exc_clear();
    CHECK(pm_weakref_new(NULL, NULL, NULL) == NULL);
    pm_exc_clear();
    pm_decref(w);
    pm_decref(o);
    group_end("not weakrefable");
}

static int gen_next(void *state, pm_object **item) {
    (void)state;
    (void)item;
    return 0;
}

static void test_weakrefable_builtins(void) {
    group_begin();
    log_reset();
    pm_object *objs[] = {pm_set_new(NULL), pm_frozenset_new(NULL),
                         pm_generator_new(gen_next, NULL, NULL), pm_weakvaluedict_new()};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) {
        CHECK(objs[i] != NULL);
        pm_object *id = pm_int((int64_t)i);
        pm_object *w = pm_weakref_new(objs[i], log_cb, id);
        pm_decref(id);
        if (w == NULL)
            fprintf(stderr, "weakref to %s: %s\n", pm_type_name(objs[i]->type), pm_exc_message());
        CHECK(w != NULL);
        pm_decref(objs[i]);
        pm_xdecref(w);
    }
    CHECK_EQ(cb_count, 4);
    /* A type made at run time dies with its last reference: so does the
     * weak reference's target. */
    pm_type_spec spec = {.name = "Tmp", .basicsize = sizeof(pm_object)};
    pm_type *t = pm_type_new(&spec);
    pm_object *w = pm_weakref_new((pm_object *)t, log_cb, NULL);
    CHECK(w != NULL);
    pm_object *inst = pm_object_new(t);
    pm_decref((pm_object *)t);
    CHECK_EQ(cb_count, 4); /* the instance keeps its type alive */
    pm_decref(inst);
    if (!debug_mode) CHECK_EQ(cb_count, 5); /* (quarantined, the instance still holds it) */
    pm_decref(w);
    /* A static type never dies; its weak references are counted all the
     * same, and no flag is written on the shared static object. */
    w = pm_weakref_new((pm_object *)&pm_int_type, NULL, NULL);
    CHECK(w != NULL);
    CHECK_EQ(pm_weakref_count((pm_object *)&pm_int_type), 1);
    CHECK(!(((pm_object *)&pm_int_type)->flags & PM_OF_HAS_WEAKREF));
    pm_object *got = pm_weakref_get(w);
    CHECK(got == (pm_object *)&pm_int_type);
    pm_decref(got);
    pm_decref(w);
    CHECK_EQ(pm_weakref_count((pm_object *)&pm_int_type), 0);
    group_end("builtins");
}

static void test_hash_and_equality(void) {
    group_begin();
    pm_object *o = new_node(), *p = new_node();
    pm_object *a = pm_weakref_new(o, NULL, NULL), *b = pm_weakref_new(o, NULL, NULL);
    pm_object *c = pm_weakref_new(p, NULL, NULL);
    uint64_t ho = 0, ha = 1, hb = 2;
    CHECK(pm_hash(o, &ho) == 0 && pm_hash(a, &ha) == 0 && pm_hash(b, &hb) == 0);
    CHECK(ho == ha && ha == hb);
    CHECK_EQ(pm_equal(a, b), 1);
    CHECK_EQ(pm_equal(a, c), 0);
    CHECK_EQ(pm_compare(a, b, PM_NE), 0);
    /* Dead: equal only to itself; the hash was kept. */
    pm_decref(o);
    CHECK_EQ(pm_equal(a, b), 0);
    CHECK_EQ(pm_equal(a, a), 1);
    uint64_t h2 = 0;
    CHECK(pm_hash(a, &h2) == 0 && h2 == ha);
    /* Never hashed before its target died: TypeError. */
    pm_decref(p);
    CHECK(pm_hash(c, &h2) == -1);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_TYPE);
    pm_exc_clear();
    pm_object *r = pm_repr(a);
    CHECK(r && tu_contains(pm_str_utf8(r, NULL), "dead"));
    pm_xdecref(r);
    pm_decref(a);
    pm_decref(b);
    pm_decref(c);
    group_end("hash");
}

/* Many targets, many references: the registry grows and shrinks. */
static void test_many(void) {
    group_begin();
    log_reset();
    enum { N = 20000 };
    pm_object **objs = calloc(N, sizeof *objs), **wrs = calloc(3 * N, sizeof *wrs);
    for (int i = 0; i < N; i++) {
        objs[i] = new_node();
        for (int k = 0; k < 1 + i % 3; k++) wrs[3 * i + k] = pm_weakref_new(objs[i], log_cb, NULL);
    }
    for (int i = 0; i < N; i++) CHECK_EQ(pm_weakref_count(objs[i]), 1 + i % 3);
    /* Drop the weak references of odd targets, then every target. */
    for (int i = 1; i < N; i += 2)
        for (int k = 0; k < 3; k++) {
            pm_xdecref(wrs[3 * i + k]);
            wrs[3 * i + k] = NULL;
        }
    for (int i = 0; i < N; i++) CHECK_EQ(pm_weakref_count(objs[i]), i % 2 ? 0 : 1 + i % 3);
    int expected = 0;
    for (int i = 0; i < N; i += 2) expected += 1 + i % 3;
    for (int i = 0; i < N; i++) pm_decref(objs[i]);
    CHECK_EQ(cb_count, expected);
    for (int i = 0; i < 3 * N; i++) pm_xdecref(wrs[i]);
    free(objs);
    free(wrs);
    group_end("many");
}

/* A weak reference that waits in the deferred-deallocation queue (count
 * zero) when its target dies must get no callback and cause no harm. */
static void test_deferred(void) {
    group_begin();
    log_reset();
    for (int order = 0; order < 2; order++) {
        pm_object *target = new_node();
        pm_object *w = pm_weakref_new(target, log_cb, NULL);
        pm_object *inner = pm_list_new(0);
        pm_list_append_steal(inner, order ? target : w);
        pm_list_append_steal(inner, order ? w : target);
        /* A chain of 200 nodes ending in the list: freeing it goes past the
         * nesting limit, so the list's items are deferred. */
        pm_object *head = inner;
        for (int i = 0; i < 200; i++) {
            pm_object *n = new_node();
            ((node *)n)->child = head;
            head = n;
        }
        pm_decref(head);
    }
    CHECK(cb_count <= 2);
    group_end("deferred");
}

/* ---- weak-value dict --------------------------------------------------------------- */

static void test_wvd_basic(void) {
    group_begin();
    pm_object *d = pm_weakvaluedict_new();
    pm_object *ka = pm_str_from("alpha"), *kb = pm_str_from("beta");
    pm_object *va = new_node(), *vb = new_node();
    CHECK_EQ(pm_weakvaluedict_set(d, ka, va), 0);
    CHECK_EQ(pm_weakvaluedict_set(d, kb, vb), 0);
    CHECK_EQ(pm_weakvaluedict_size(d), 2);
    CHECK_EQ(pm_len(d), 2);
    CHECK_EQ(va->refcnt, 1); /* held weakly */
    pm_object *g = pm_weakvaluedict_get(d, ka);
    CHECK(g == va);
    pm_xdecref(g);
    pm_decref(va);
    g = pm_weakvaluedict_get(d, ka);
    CHECK(g == NULL);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    CHECK_EQ(pm_weakvaluedict_size(d), 1);
    /* Missing key: NULL, no exception. */
    pm_object *kc = pm_str_from("gamma");
    CHECK(pm_weakvaluedict_get(d, kc) == NULL);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    /* Overwrite: the old value's death no longer touches the entry. */
    pm_object *vb2 = new_node();
    CHECK_EQ(pm_weakvaluedict_set(d, kb, vb2), 0);
    CHECK_EQ(pm_weakref_count(vb), 0);
    pm_decref(vb);
    g = pm_weakvaluedict_get(d, kb);
    CHECK(g == vb2);
    pm_xdecref(g);
    /* One value under two keys. */
    CHECK_EQ(pm_weakvaluedict_set(d, kc, vb2), 0);
    CHECK_EQ(pm_weakvaluedict_size(d), 2);
    pm_decref(vb2);
    CHECK_EQ(pm_weakvaluedict_size(d), 0);
    /* Errors change nothing. */
    pm_object *unhashable = pm_list_new(0), *v = new_node(), *i = pm_int(5000);
    CHECK_EQ(pm_weakvaluedict_set(d, unhashable, v), -1);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_TYPE);
    pm_exc_clear();
    CHECK_EQ(pm_weakref_count(v), 0);
    CHECK_EQ(pm_weakvaluedict_set(d, ka, i), -1); /* an int cannot be weakly referenced */
    CHECK_EQ(pm_exc_occurred(), PM_EXC_TYPE);
    pm_exc_clear();
    CHECK(pm_weakvaluedict_get(d, unhashable) == NULL);
    CHECK(pm_exc_occurred() == PM_EXC_TYPE);
    pm_exc_clear();
    CHECK_EQ(pm_weakvaluedict_set(v, ka, v), -1); /* not a weak-value dict */
    pm_exc_clear();
    CHECK_EQ(pm_weakvaluedict_size(d), 0);
    /* The dict dies first; its values later. */
    CHECK_EQ(pm_weakvaluedict_set(d, ka, v), 0);
    pm_decref(d);
    CHECK_EQ(pm_weakref_count(v), 0);
    pm_decref(v);
    pm_decref(i);
    pm_decref(unhashable);
    pm_decref(ka);
    pm_decref(kb);
    pm_decref(kc);
    group_end("wvd basic");
}

/* The intended use: a cache that forgets values nobody uses. */
static int created;

static pm_object *cache_get(pm_object *cache, int64_t key) {
    pm_object *k = pm_int(key);
    pm_object *v = pm_weakvaluedict_get(cache, k);
    if (v == NULL) {
        v = new_node();
        created++;
        CHECK_EQ(pm_weakvaluedict_set(cache, k, v), 0);
    }
    pm_decref(k);
    return v;
}

static void test_wvd_cache(void) {
    group_begin();
    pm_object *cache = pm_weakvaluedict_new();
    enum { N = 5000 };
    pm_object **keep = calloc(N, sizeof *keep);
    for (int i = 0; i < N; i++) keep[i] = cache_get(cache, i);
    CHECK_EQ(created, N);
    for (int i = 0; i < N; i++) {
        pm_object *again = cache_get(cache, i);
        CHECK(again == keep[i]);
        pm_decref(again);
    }
    CHECK_EQ(created, N);
    for (int i = 0; i < N; i += 2) {
        pm_decref(keep[i]);
        keep[i] = NULL;
    }
    CHECK_EQ(pm_weakvaluedict_size(cache), N / 2);
    for (int i = 0; i < N; i++) {
        pm_object *v = cache_get(cache, i);
        pm_decref(v);
    }
    CHECK_EQ(created, N + N / 2);
    CHECK_EQ(pm_weakvaluedict_size(cache), N / 2);
    for (int i = 0; i < N; i++) pm_xdecref(keep[i]);
    CHECK_EQ(pm_weakvaluedict_size(cache), 0);
    free(keep);
    pm_decref(cache);
    group_end("wvd cache");
}

/* A value's callback that drops the dict while other entries of the same
 * dict are pending their callbacks (one value held under many keys). */
static pm_object *victim_dict;

static void kill_dict_cb(pm_object *wr, pm_object *arg) {
    (void)wr;
    (void)arg;
    if (victim_dict) {
        pm_object *d = victim_dict;
        victim_dict = NULL;
        pm_decref(d);
    }
    cb_count++;
}

static void test_wvd_dict_dies_in_callback(void) {
    group_begin();
    log_reset();
    victim_dict = pm_weakvaluedict_new();
    pm_object *v = new_node();
    for (int i = 0; i < 10; i++) {
        pm_object *k = pm_int(i);
        CHECK_EQ(pm_weakvaluedict_set(victim_dict, k, v), 0);
        pm_decref(k);
    }
    pm_object *w = pm_weakref_new(v, kill_dict_cb, NULL); /* newest: called first */
    pm_decref(v);
    CHECK_EQ(cb_count, 1);
    CHECK(victim_dict == NULL);
    pm_decref(w);
    group_end("wvd dies in callback");
}

/* A runtime destroyed while weak references and their targets are alive:
 * the registry goes with it (ASan and valgrind see no leak, no bad read). */
static void test_destroy_runtime_with_weakrefs(void) {
    pm_runtime *r = pm_runtime_new(NULL);
    pm_runtime *prev = pm_runtime_enter(r);
    make_node_type();
    pm_object *keep[100];
    for (int i = 0; i < 100; i++) {
        keep[i] = new_node();
        pm_object *w = pm_weakref_new(keep[i], log_cb, NULL);
        ((node *)keep[i])->child = w; /* owned by its own target */
    }
    pm_object *d = pm_weakvaluedict_new();
    pm_weakvaluedict_set(d, keep[0], keep[1]);
    pm_runtime_enter(prev);
    pm_runtime_destroy(r); /* no deallocation runs: no callback either */
    node_type = NULL;
}

/* ---- out of memory ------------------------------------------------------------
 * The object and buffer domains of a private heap fail their k-th call, for
 * k = 1, 2, ... until a script of weak-reference operations runs through.
 * Every failure must be a MemoryError that changes nothing and leaks
 * nothing. */

static tu_failing fa; /* testutil's failing allocator */

/* The script: 0 when every step succeeded; -1 at the first failure, which
 * must be a MemoryError leaving the state as it was before that step. */
static int oom_script(void) {
    int rc = -1;
    pm_object *o = new_node(), *d = NULL, *w = NULL, *k = NULL;
    if (o == NULL) goto out;
    if ((w = pm_weakref_new(o, log_cb, NULL)) == NULL) {
        CHECK_EQ(pm_weakref_count(o), 0);
        goto out;
    }
    if ((d = pm_weakvaluedict_new()) == NULL) goto out;
    for (int i = 0; i < 40; i++) {
        pm_xdecref(k);
        if ((k = pm_int(1000 + i)) == NULL) goto out;
        size_t before = pm_weakref_count(o), size = pm_weakvaluedict_size(d);
        if (pm_weakvaluedict_set(d, k, o) < 0) {
            CHECK_EQ(pm_weakref_count(o), before); /* nothing changed */
            CHECK_EQ(pm_weakvaluedict_size(d), size);
            goto out;
        }
    }
    CHECK_EQ(pm_weakvaluedict_size(d), 40);
    rc = 0;
out:
    if (rc < 0) CHECK_EQ(pm_exc_occurred(), PM_EXC_MEMORY);
    pm_exc_clear();
    pm_xdecref(k);
    pm_xdecref(o); /* the entries' callbacks run here (or nothing was made) */
    if (d) CHECK_EQ(pm_weakvaluedict_size(d), 0);
    pm_xdecref(d);
    pm_xdecref(w);
    return rc;
}

static void test_out_of_memory(void) {
    pm_heap *h = pm_heap_new(NULL);
    tu_failing_install(&fa, h);
    pm_runtime_config cfg = {.heap = h, .debug = 0};
    long k;
    int failures = 0;
    for (k = 1; k < 10000; k++) {
        pm_runtime *r = pm_runtime_new(&cfg);
        pm_runtime *prev = pm_runtime_enter(r);
        make_node_type(); /* before the faults start */
        tu_failing_arm(&fa, k, false);
        int rc = oom_script();
        bool reached = fa.calls >= k;
        tu_failing_disarm(&fa);
        pm_decref((pm_object *)node_type);
        node_type = NULL;
        pm_runtime_stats st;
        pm_runtime_get_stats(r, &st);
        CHECK_EQ(st.objects_allocated, st.objects_freed);
        pm_runtime_enter(prev);
        pm_runtime_destroy(r);
        if (rc < 0) failures++;
        if (!reached) {
            CHECK_EQ(rc, 0);
            break;
        }
    }
    CHECK(failures > 10 && k < 10000);
    pm_heap_destroy(h);
}

int main(void) {
    test_get_before_after_death();
    test_callback_order();
    test_callback_drops_refs();
    test_callback_churn();
    test_callback_raises();
    test_callback_arg_lifetime();
    test_owned_by_target();
    test_not_weakrefable();
    test_weakrefable_builtins();
    test_hash_and_equality();
    test_many();
    test_deferred();
    test_wvd_basic();
    test_wvd_cache();
    test_wvd_dict_dies_in_callback();
    test_out_of_memory();
    test_destroy_runtime_with_weakrefs();
    return tu_finish("test_obj_weakref");
}
