/*
 * test_gc_api.c -- the cycle collector's C API (the gc module's surface):
 * collection of cycles of user objects and of built-in containers,
 * generations and thresholds, automatic collection, PEP 442 finalizers and
 * resurrection, legacy finalizers (uncollectable, gc.garbage), weak
 * references to garbage, SAVEALL, statistics and pause histogram,
 * callbacks, get_objects / get_referrers / get_referents, freeze, tuple,
 * list and frozen-type tracking rules, adaptive pacing, and a 10,000,000-long cycle
 * collected on a 256 KiB stack.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct node {
    pm_object ob;
    pm_object *next;
    pm_object *other;
} node;

static int freed_nodes, finalized_nodes;
static pm_object *resurrected;

static int node_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    node *n = (node *)self;
    if (n->next && visit(n->next, arg)) return 1;
    return n->other ? visit(n->other, arg) : 0;
}

static int node_clear(pm_object *self) {
    PM_CLEAR(((node *)self)->next);
    PM_CLEAR(((node *)self)->other);
    return 0;
}

static void node_dealloc(pm_object *self) {
    freed_nodes++;
    node_clear(self);
}

static void node_finalize(pm_object *self) {
    (void)self;
    finalized_nodes++;
}

static void node_resurrect(pm_object *self) {
    finalized_nodes++;
    if (resurrected == NULL) resurrected = pm_newref(self);
}

static void node_legacy(pm_object *self) { (void)self; }

static pm_type *make_type(const char *name, void (*fin)(pm_object *), void (*legacy)(pm_object *)) {
    pm_type_spec spec = {.name = name,
                         .basicsize = sizeof(node),
                         .flags = PM_TPFLAGS_GC | PM_TPFLAGS_WEAKREF,
                         .slots = {.dealloc = node_dealloc,
                                   .traverse = node_traverse,
                                   .clear = node_clear,
                                   .finalize = fin,
                                   .legacy_del = legacy}};
    pm_type *t = pm_type_new(&spec);
    if (t == NULL) abort();
    return t;
}

static pm_object *pair(pm_type *t) {
    pm_object *a = pm_object_new(t), *b = pm_object_new(t);
    ((node *)a)->next = pm_newref(b);
    ((node *)b)->next = pm_newref(a);
    pm_decref(b);
    return a; /* the caller owns a; a <-> b */
}

static void test_basic_cycles(void) {
    pm_type *t = make_type("node", NULL, NULL);
    pm_gc_collect(2);
    freed_nodes = 0;
    for (int i = 0; i < 100; i++) pm_decref(pair(t));
    CHECK_EQ(freed_nodes, 0); /* reference counting alone leaks them */
    CHECK_EQ(pm_gc_collect(2), 200);
    CHECK_EQ(freed_nodes, 200);
    CHECK_EQ(pm_gc_collect(2), 0);
    /* A reachable cycle stays. */
    pm_object *keep = pair(t);
    CHECK_EQ(pm_gc_collect(2), 0);
    CHECK(pm_gc_is_tracked(keep));
    pm_decref(keep);
    CHECK_EQ(pm_gc_collect(2), 2); /* it had moved to the oldest generation */
    /* Built-in containers: a list containing itself, a dict cycle. */
    pm_object *l = pm_list_new(0);
    pm_list_append(l, l);
    pm_decref(l);
    pm_object *d = pm_dict_new(), *e = pm_dict_new();
    pm_dict_set_str(d, "e", e);
    pm_dict_set_str(e, "d", d);
    pm_decref(d);
    pm_decref(e);
    CHECK_EQ(pm_gc_collect(2), 3);
    pm_decref(PM_OBJ(t));
}

static void test_generations(void) {
    pm_type *t = make_type("gen", NULL, NULL);
    pm_gc_disable();
    CHECK(!pm_gc_is_enabled());
    int t0, t1, t2;
    pm_gc_get_threshold(&t0, &t1, &t2);
    CHECK(t0 == 2000 && t1 == 10 && t2 == 10);
    pm_gc_collect(2);
    int c0, c1, c2;
    pm_object *objs[10];
    for (int i = 0; i < 10; i++) objs[i] = pm_object_new(t);
    pm_gc_get_count(&c0, &c1, &c2);
    CHECK(c0 >= 10);
    pm_object *young = pm_gc_get_objects(0);
    CHECK(pm_contains(young, objs[3]) == 1);
    pm_decref(young);
    pm_gc_collect(0); /* survivors move to generation 1 */
    pm_object *g1 = pm_gc_get_objects(1);
    CHECK(pm_contains(g1, objs[3]) == 1);
    pm_decref(g1);
    pm_gc_get_count(&c0, &c1, &c2);
    CHECK_EQ(c1, 1);
    pm_gc_collect(1);
    pm_object *g2 = pm_gc_get_objects(2);
    CHECK(pm_contains(g2, objs[3]) == 1);
    pm_decref(g2);
    CHECK(pm_gc_get_objects(5) == NULL && pm_exc_occurred() == PM_EXC_VALUE);
    pm_exc_clear();
    CHECK_EQ(pm_gc_collect(7), -1);
    pm_exc_clear();
    for (int i = 0; i < 10; i++) pm_decref(objs[i]);
    /* Automatic collection: threshold 50, cycles get collected with no call. */
    pm_gc_set_threshold(50, 10, 10);
    pm_gc_enable();
    freed_nodes = 0;
    for (int i = 0; i < 1000; i++) pm_decref(pair(t));
    CHECK(freed_nodes > 1500);
    pm_gc_set_threshold(2000, 10, 10);
    pm_gc_collect(2);
    pm_decref(PM_OBJ(t));
}

static void test_finalizers(void) {
    pm_type *fin = make_type("fin", node_finalize, NULL);
    pm_type *res = make_type("res", node_resurrect, NULL);
    pm_gc_collect(2);
    finalized_nodes = freed_nodes = 0;
    pm_decref(pair(fin));
    CHECK_EQ(pm_gc_collect(2), 2);
    CHECK_EQ(finalized_nodes, 2);
    CHECK_EQ(freed_nodes, 2);
    /* Resurrection: the object and what it reaches survive. */
    finalized_nodes = freed_nodes = 0;
    pm_object *a = pair(res);
    pm_object *b = pm_newref(((node *)a)->next);
    pm_decref(a);
    pm_decref(b);
    resurrected = NULL;
    pm_gc_collect(2);
    CHECK(resurrected != NULL);
    CHECK_EQ(freed_nodes, 0);
    CHECK(pm_gc_is_finalized(resurrected));
    /* Dropped again: finalizers do not run twice, the pair is freed. */
    pm_object *r = resurrected;
    resurrected = NULL;
    finalized_nodes = 0;
    pm_decref(r);
    CHECK_EQ(pm_gc_collect(2), 2);
    CHECK_EQ(finalized_nodes, 0);
    CHECK_EQ(freed_nodes, 2);
    pm_decref(PM_OBJ(fin));
    pm_decref(PM_OBJ(res));
}

static void test_uncollectable_and_saveall(void) {
    pm_type *legacy = make_type("legacy", NULL, node_legacy);
    pm_type *plain = make_type("plain", NULL, NULL);
    pm_gc_collect(2);
    pm_object *garbage = pm_gc_garbage();
    size_t before = pm_list_size(garbage);
    pm_object *a = pair(legacy);
    /* A plain object hanging off the cycle is uncollectable too. */
    ((node *)a)->other = pm_object_new(plain);
    pm_decref(a);
    CHECK_EQ(pm_gc_collect(2), 3);
    pm_gc_generation_stats st[3];
    pm_gc_get_stats(st);
    CHECK(st[2].uncollectable >= 3);
    CHECK_EQ(pm_list_size(garbage), before + 3);
    /* SAVEALL keeps every unreachable object in gc.garbage. */
    pm_gc_set_debug(PM_GC_DEBUG_SAVEALL);
    CHECK_EQ(pm_gc_get_debug(), PM_GC_DEBUG_SAVEALL);
    freed_nodes = 0;
    pm_decref(pair(plain));
    CHECK_EQ(pm_gc_collect(2), 2);
    CHECK_EQ(freed_nodes, 0);
    CHECK_EQ(pm_list_size(garbage), before + 5);
    pm_gc_set_debug(0);
    /* Emptying gc.garbage lets the saved pair go; the legacy ones stay
     * uncollectable every time. */
    while (pm_list_size(garbage)) pm_decref(pm_list_pop(garbage, -1));
    pm_gc_collect(2);
    CHECK(freed_nodes >= 2);
    while (pm_list_size(garbage)) pm_decref(pm_list_pop(garbage, -1));
    pm_decref(PM_OBJ(legacy));
    pm_decref(PM_OBJ(plain));
}

static int callbacks_run;
static void on_weak(pm_object *wr, pm_object *arg) {
    (void)wr;
    (void)arg;
    callbacks_run++;
}

static void test_weakrefs(void) {
    pm_type *t = make_type("weak", NULL, NULL);
    pm_gc_collect(2);
    pm_object *a = pair(t);
    pm_object *outside = pm_weakref_new(a, on_weak, NULL);
    /* A weak reference owned by the garbage itself: cleared, no callback. */
    ((node *)a)->other = pm_weakref_new(((node *)a)->next, on_weak, NULL);
    callbacks_run = 0;
    pm_decref(a);
    pm_gc_collect(2);
    CHECK_EQ(callbacks_run, 1);
    pm_object *v = pm_weakref_get(outside);
    CHECK(v == pm_none());
    pm_decref(v);
    pm_decref(outside);
    pm_decref(PM_OBJ(t));
}

typedef struct cb_log {
    int starts, stops;
    int64_t collected;
} cb_log;
static void on_gc(const char *phase, const pm_gc_info *info, void *arg) {
    cb_log *log = arg;
    if (strcmp(phase, "start") == 0) log->starts++;
    else log->stops++, log->collected += info->collected;
}

static void test_stats_callbacks_queries(void) {
    pm_type *t = make_type("q", NULL, NULL);
    cb_log log = {0};
    CHECK_EQ(pm_gc_callback_add(on_gc, &log), 0);
    pm_decref(pair(t));
    pm_gc_collect(2);
    CHECK_EQ(log.starts, 1);
    CHECK_EQ(log.stops, 1);
    CHECK_EQ(log.collected, 2);
    CHECK_EQ(pm_gc_callback_remove(on_gc, &log), 0);
    CHECK_EQ(pm_gc_callback_remove(on_gc, &log), -1);
    pm_gc_collect(2);
    CHECK_EQ(log.starts, 1);
    pm_gc_generation_stats st[3];
    pm_gc_get_stats(st);
    uint64_t hist = 0;
    for (int i = 0; i < PM_GC_PAUSE_BUCKETS; i++) hist += st[2].pause_histogram[i];
    CHECK_EQ(hist, st[2].collections);
    CHECK(st[2].collected >= 2);
    /* Referrers and referents. */
    pm_object *a = pair(t);
    pm_object *b = ((node *)a)->next;
    pm_object *refs = pm_gc_get_referents(a);
    CHECK_EQ(pm_list_size(refs), 1);
    CHECK(pm_list_get(refs, 0) == b);
    pm_decref(refs);
    pm_object *holders = pm_gc_get_referrers(b);
    CHECK_EQ(pm_list_size(holders), 1);
    CHECK(pm_list_get(holders, 0) == a);
    pm_decref(holders);
    /* Freeze: frozen objects are not collected, even when garbage. */
    pm_gc_collect(2);
    pm_gc_freeze();
    CHECK(pm_gc_get_freeze_count() >= 2);
    pm_decref(a);
    CHECK_EQ(pm_gc_collect(2), 0);
    pm_gc_unfreeze();
    CHECK_EQ(pm_gc_get_freeze_count(), 0);
    CHECK_EQ(pm_gc_collect(2), 2);
    pm_decref(PM_OBJ(t));
}

/* Cycles through tuples whose tracking could go wrong (a review's cases):
 * a tuple stolen into a list and filled afterwards, tuples filled top-down,
 * a tuple holding an empty list or dict (untracked, but no atomic item:
 * a collection must not untrack the tuple for it), and a tuple refilled
 * after a collection untracked it. Each cycle must be collected. */
static void collected_alone(const char *what, int64_t live0) {
    pm_gc_collect(2);
    if (tu_live_objects() != live0) fprintf(stderr, "leaked: %s\n", what);
    CHECK_EQ(tu_live_objects(), live0);
}

static void test_tuple_cycles(void) {
    pm_gc_collect(2);
    int64_t live0 = tu_live_objects();
    pm_object *l = pm_list_new(0), *t = pm_tuple_new(1);
    CHECK_EQ(pm_list_append_steal(l, t), 0);
    CHECK_EQ(pm_tuple_set_steal(t, 0, pm_newref(l)), 0);
    pm_decref(l);
    collected_alone("tuple stolen into a list, then filled with it", live0);

    l = pm_list_new(0);
    pm_object *outer = pm_tuple_new(1), *inner = pm_tuple_new(1);
    CHECK_EQ(pm_tuple_set_steal(outer, 0, inner), 0);
    CHECK_EQ(pm_tuple_set_steal(inner, 0, pm_newref(l)), 0);
    CHECK_EQ(pm_list_append(l, outer), 0);
    pm_decref(outer);
    pm_decref(l);
    collected_alone("tuples filled top-down", live0);

    l = pm_list_new(0);
    t = pm_tuple_pack(1, l);
    pm_gc_collect(0);
    CHECK(pm_gc_is_tracked(t)); /* an empty list is no atomic item */
    CHECK_EQ(pm_list_append(l, t), 0);
    CHECK(pm_gc_is_tracked(l));
    pm_decref(t);
    pm_decref(l);
    collected_alone("tuple holding an empty list", live0);

    pm_object *d = pm_dict_new();
    t = pm_tuple_pack(1, d);
    pm_gc_collect(0);
    pm_dict_set_str(d, "t", t);
    CHECK(pm_gc_is_tracked(d));
    pm_decref(t);
    pm_decref(d);
    collected_alone("tuple holding an empty dict", live0);

    pm_object *one = pm_int(1000);
    t = pm_tuple_pack(1, one);
    pm_decref(one);
    pm_gc_collect(0);
    CHECK(!pm_gc_is_tracked(t)); /* only an atomic item: untracked */
    l = pm_list_new(0);
    CHECK_EQ(pm_tuple_set_steal(t, 0, pm_newref(l)), 0); /* refilled before it is shared */
    CHECK(pm_gc_is_tracked(t));
    CHECK_EQ(pm_list_append(l, t), 0);
    pm_decref(t);
    pm_decref(l);
    collected_alone("tuple refilled after a collection untracked it", live0);
}

static void test_tracking_rules(void) {
    pm_object *one = pm_int(1000), *s = pm_str_from("x");
    CHECK(!pm_gc_is_tracked(one));
    CHECK(!pm_gc_is_tracked(s));
    pm_object *tup = pm_tuple_pack(2, one, s);
    /* Lists: untracked until they hold something that may be tracked
     * (beyond CPython, which tracks every list), and never untracked. */
    pm_object *l = pm_list_new(0);
    CHECK(!pm_gc_is_tracked(l));
    pm_list_append(l, one);
    pm_list_insert(l, 0, s);
    pm_list_set(l, 0, one);
    CHECK(!pm_gc_is_tracked(l));
    pm_object *inner = pm_list_new(0);
    pm_list_append(l, inner); /* a list may always become tracked */
    CHECK(pm_gc_is_tracked(l));
    CHECK(!pm_gc_is_tracked(inner));
    pm_object *byset = pm_list_new(1), *byins = pm_list_new(0), *byitem = pm_list_new(1);
    pm_list_set(byset, 0, inner);
    pm_list_insert(byins, 0, inner);
    pm_object *zero = pm_int(0);
    pm_setitem(byitem, zero, inner);
    CHECK(pm_gc_is_tracked(byset) && pm_gc_is_tracked(byins) && pm_gc_is_tracked(byitem));
    pm_decref(byset);
    pm_decref(byins);
    pm_decref(byitem);
    pm_decref(zero);
    pm_decref(pm_list_pop(l, -1));
    pm_gc_collect(2);
    CHECK(pm_gc_is_tracked(l));
    pm_decref(inner);
    pm_object *nested = pm_tuple_pack(1, l);
    pm_gc_collect(2);
    CHECK(!pm_gc_is_tracked(tup)); /* only atomic items: untracked */
    CHECK(pm_gc_is_tracked(nested));
    /* Dicts: untracked until they hold a container; a tracked dict left
     * with only atomic values is untracked by the next full collection
     * (CPython 3.11: younger ones leave dicts alone, bpo-14775). */
    pm_object *d = pm_dict_new();
    pm_dict_set_str(d, "n", one);
    CHECK(!pm_gc_is_tracked(d));
    pm_dict_set_str(d, "l", l);
    CHECK(pm_gc_is_tracked(d));
    pm_dict_set_str(d, "l", s);
    pm_gc_collect(0);
    pm_gc_collect(1);
    CHECK(pm_gc_is_tracked(d));
    pm_gc_collect(2);
    CHECK(!pm_gc_is_tracked(d));
    pm_decref(d);
    pm_decref(tup);
    pm_decref(nested);
    pm_decref(l);
    pm_decref(one);
    pm_decref(s);
}

/* A finalizer that resurrects an object whose deallocation was deferred
 * (deep in a chain): the object must be tracked again, so that a cycle it
 * joins later is still collected. */
static pm_object *kept;

static void keep_in_cycle(pm_object *self) {
    kept = pm_newref(self);
    ((node *)self)->other = pm_newref(self); /* a self-cycle from now on */
}

/* The same, tracking itself first (it was untracked when queued): it must
 * not end up in the young generation twice. */
static void track_and_keep(pm_object *self) {
    pm_gc_track(self);
    keep_in_cycle(self);
}

/* A weak reference callback that collects while its referent is being
 * deallocated (count zero): the collector must not meet the referent. */
static int weak_collects;
static void collect_in_callback(pm_object *wr, pm_object *arg) {
    (void)wr;
    (void)arg;
    pm_gc_collect(0);
    weak_collects++;
}

static void test_collect_during_dealloc(void) {
    pm_type *t = make_type("weak-collect", NULL, NULL);
    pm_gc_collect(2);
    pm_object *o = pm_object_new(t);
    pm_object *wr = pm_weakref_new(o, collect_in_callback, NULL);
    freed_nodes = weak_collects = 0;
    pm_decref(o);
    CHECK_EQ(weak_collects, 1);
    CHECK_EQ(freed_nodes, 1);
    CHECK(pm_gc_check() >= 0);
    pm_decref(wr);
    pm_decref(PM_OBJ(t));
}

static void test_deferred_resurrection(void) {
    pm_type *plain = make_type("link", NULL, NULL);
    pm_type *fin = make_type("last", keep_in_cycle, NULL);
    pm_type *fin_tracking = make_type("last-tracking", track_and_keep, NULL);
    for (int n = 60; n <= 70; n++) {
        if (n == 70) { /* the finalizer tracks its object itself */
            pm_decref(PM_OBJ(fin));
            fin = fin_tracking;
            pm_incref(PM_OBJ(fin));
        }
        pm_object *head = pm_object_new(fin);
        for (int i = 0; i < n; i++) {
            pm_object *x = pm_object_new(plain);
            ((node *)x)->next = head;
            head = x;
        }
        kept = NULL;
        pm_decref(head);
        CHECK(kept != NULL);
        if (kept == NULL) continue;
        CHECK(pm_gc_is_tracked(kept));
        CHECK(pm_gc_check() >= 0); /* in one place only */
        pm_decref(kept);
        freed_nodes = 0;
        CHECK_EQ(pm_gc_collect(2), 1);
        CHECK_EQ(freed_nodes, 1);
        CHECK(pm_gc_check() >= 0);
    }
    pm_decref(PM_OBJ(plain));
    pm_decref(PM_OBJ(fin));
    pm_decref(PM_OBJ(fin_tracking));
}

typedef struct ring_job {
    pm_runtime *rt;
    long n;
    int64_t collected;
} ring_job;

static void *collect_ring(void *arg) {
    ring_job *job = arg;
    pm_runtime_enter(job->rt);
    pm_gc_disable();
    pm_type *t = make_type("ring", NULL, NULL);
    pm_object *first = pm_object_new(t), *prev = first;
    for (long i = 1; i < job->n; i++) {
        pm_object *n = pm_object_new(t);
        ((node *)prev)->next = n; /* steals n's reference */
        prev = n;
    }
    ((node *)prev)->next = pm_newref(first);
    pm_decref(first);
    job->collected = pm_gc_collect(2);
    pm_decref(PM_OBJ(t));
    return NULL;
}

static void test_long_cycle(void) {
    ring_job job = {pm_runtime_new(NULL), tu_big_count(10000000), 0};
    tu_run_on_stack(collect_ring, &job, 256 << 10);
    CHECK_EQ(job.collected, job.n);
    pm_runtime_destroy(job.rt);
}

/* The collector's invariants (pm_gc_check) hold after collections of
 * every generation that resurrect, keep uncollectable garbage, save all,
 * clear weak references and freeze; survivors land on the next list. */
/* A finalizer that untracks its garbage object and tracks it again: the
 * collector still holds it, frees it, and its sets stay right. */
static void untrack_retrack(pm_object *self) {
    pm_gc_untrack(self);
    CHECK(!pm_gc_is_tracked(self));
    pm_gc_track(self);
    CHECK(pm_gc_is_tracked(self));
}

static void test_tracking_in_finalizers(void) {
    pm_type *re = make_type("retrack", untrack_retrack, NULL);
    pm_gc_collect(2);
    int64_t before = pm_gc_check();
    freed_nodes = 0;
    pm_decref(pair(re));
    pm_gc_collect(0);
    CHECK_EQ(freed_nodes, 2);
    CHECK_EQ(pm_gc_check(), before);
    pm_decref(PM_OBJ(re));
}

static void test_invariants_every_generation(void) {
    pm_type *res = make_type("res2", node_resurrect, NULL);
    pm_type *legacy = make_type("legacy2", NULL, node_legacy);
    pm_type *plain = make_type("plain2", NULL, NULL);
    pm_gc_disable();
    pm_gc_collect(2);
    CHECK(pm_gc_check() >= 0);
    for (int gen = 0; gen < 3; gen++) {
        resurrected = NULL;
        pm_decref(pair(res));
        pm_object *keep = pair(plain);
        pm_object *wr = pm_weakref_new(keep, on_weak, NULL);
        pm_decref(pair(legacy));
        if (gen > 0) pm_gc_collect(gen - 1); /* older by one step first */
        CHECK(pm_gc_check() >= 0);
        pm_gc_collect(gen);
        CHECK(pm_gc_check() >= 0);
        CHECK(resurrected != NULL);
        pm_object *where = pm_gc_get_objects(gen < 2 ? gen + 1 : 2);
        CHECK(pm_contains(where, resurrected) == 1);
        CHECK(pm_contains(where, keep) == 1);
        pm_decref(where);
        pm_gc_set_debug(PM_GC_DEBUG_SAVEALL);
        pm_decref(pair(plain));
        pm_gc_collect(0);
        pm_gc_set_debug(0);
        CHECK(pm_gc_check() >= 0);
        pm_gc_freeze();
        CHECK(pm_gc_check() >= 0);
        pm_decref(pair(plain));
        CHECK_EQ(pm_gc_collect(0), 2); /* frozen objects are not in the set */
        pm_gc_unfreeze();
        CHECK(pm_gc_check() >= 0);
        pm_object *r = resurrected;
        resurrected = NULL;
        pm_decref(r);
        pm_decref(wr);
        pm_decref(keep);
        pm_gc_collect(2);
        CHECK(pm_gc_check() >= 0);
    }
    /* The check can fail: a generation bit flipped by hand (bits 12-13,
     * collector-private) is reported with the object's type. */
    pm_object *probe = pm_object_new(plain);
    probe->flags ^= 1u << 13;
    CHECK_EQ(pm_gc_check(), -1);
    CHECK(pm_exc_occurred() == PM_EXC_RUNTIME && strstr(pm_exc_message(), "plain2") != NULL);
    pm_exc_clear();
    probe->flags ^= 1u << 13;
    CHECK(pm_gc_check() >= 1);
    pm_decref(probe);
    pm_object *garbage = pm_gc_garbage();
    while (pm_list_size(garbage)) pm_decref(pm_list_pop(garbage, -1));
    pm_gc_collect(2);
    CHECK(pm_gc_check() >= 0);
    while (pm_list_size(garbage)) pm_decref(pm_list_pop(garbage, -1));
    pm_gc_enable();
    pm_decref(PM_OBJ(res));
    pm_decref(PM_OBJ(legacy));
    pm_decref(PM_OBJ(plain));
}

static uint64_t collections_so_far(void) {
    pm_gc_generation_stats st[3];
    pm_gc_get_stats(st);
    return st[0].collections + st[1].collections + st[2].collections;
}

/* Young collections skipped because no young object lost a reference. */
static uint64_t young_skipped(void) {
    pm_gc_generation_stats st[3];
    pm_gc_get_stats(st);
    return st[0].skipped;
}

/* Automatic collections run or skipped: the windows pacing opened. */
static uint64_t windows_so_far(void) { return collections_so_far() + young_skipped(); }

static int64_t objects_in(int generation) {
    pm_object *l = pm_gc_get_objects(generation);
    int64_t n = (int64_t)pm_list_size(l);
    pm_decref(l);
    return n;
}

/* n live instances appended to keep, with automatic collection on; the
 * number of automatic collections they caused. Each loses a reference on
 * the way (appended, then the maker's reference dropped), so young
 * collections run (see test_young_skip). */
static void keep_one(pm_object *keep, pm_object *o) {
    pm_list_append(keep, o);
    pm_decref(o);
}

static uint64_t grow(pm_object *keep, pm_type *t, int n) {
    uint64_t before = windows_so_far();
    for (int i = 0; i < n; i++) keep_one(keep, pm_object_new(t));
    return windows_so_far() - before;
}

/* The same, stealing the new references: nothing loses one, so young
 * collections are skipped. */
static uint64_t grow_stealing(pm_object *keep, pm_type *t, int n) {
    uint64_t before = windows_so_far();
    for (int i = 0; i < n; i++) pm_list_append_steal(keep, pm_object_new(t));
    return windows_so_far() - before;
}

/* The same, with `temps` short-lived instances made and dropped before
 * each kept one (a program that churns). */
static uint64_t grow_churning(pm_object *keep, pm_type *t, int n, int temps) {
    uint64_t before = windows_so_far();
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < temps; k++) pm_decref(pm_object_new(t));
        keep_one(keep, pm_object_new(t));
    }
    return windows_so_far() - before;
}

static uint64_t collections_of(int generation) {
    pm_gc_generation_stats st[3];
    pm_gc_get_stats(st);
    return st[generation].collections;
}

/* Skipped young collections (collector.c, promote_young): while no young
 * object loses a reference, automatic young collections only promote;
 * one decref that leaves an object alive brings them back; a cycle made
 * only by stealing references waits for a full collection; CPython's
 * schedule never skips. */
static void resurrect_into_child(pm_object *self) {
    node *child = (node *)((node *)self)->next;
    if (child && !child->next) child->next = pm_newref(self);
}

static void test_young_skip(void) {
    pm_type *t = make_type("skip", NULL, NULL);
    pm_object *keep = pm_list_new(0);
    pm_gc_set_threshold(100, 10, 10);
    pm_gc_enable();
    pm_gc_collect(2);
    /* Building by stealing: every window skipped, its objects promoted. */
    uint64_t runs = collections_of(0), skips = young_skipped();
    grow_stealing(keep, t, 1000);
    CHECK(young_skipped() - skips >= 9);
    CHECK_EQ(collections_of(0), runs);
    CHECK(objects_in(0) < 100);
    CHECK(pm_gc_check() >= 1000);
    /* A young cycle left by a decref: found by the next young window. */
    freed_nodes = 0;
    pm_decref(pair(t));
    runs = collections_of(0);
    grow_stealing(keep, t, 150);
    CHECK_EQ(collections_of(0), runs + 1);
    CHECK_EQ(freed_nodes, 2);
    /* A cycle of stolen references (no decref): young windows skip it,
     * a full collection finds it. */
    freed_nodes = 0;
    pm_object *a = pm_object_new(t), *b = pm_object_new(t);
    ((node *)a)->next = b;
    ((node *)b)->next = a;
    skips = young_skipped();
    grow_stealing(keep, t, 300);
    CHECK(young_skipped() > skips);
    CHECK_EQ(freed_nodes, 0);
    CHECK_EQ(pm_gc_collect(2), 2);
    CHECK_EQ(freed_nodes, 2);
    /* A finalizer that resurrects its object into a cycle with its child
     * (no decref of anything alive): the resurrection counts as a loss. */
    pm_type *rt_type = make_type("skip-resurrect", resurrect_into_child, NULL);
    pm_object *parent = pm_object_new(rt_type);
    ((node *)parent)->next = pm_object_new(t);
    freed_nodes = 0;
    pm_decref(parent); /* finalized and resurrected: parent <-> child */
    CHECK_EQ(freed_nodes, 0);
    runs = collections_of(0);
    grow_stealing(keep, t, 150);
    CHECK_EQ(collections_of(0), runs + 1);
    CHECK_EQ(freed_nodes, 2);
    pm_decref(PM_OBJ(rt_type));
    /* CPython's schedule runs every young collection. */
    pm_gc_set_adaptive(0);
    skips = young_skipped();
    runs = collections_of(0);
    grow_stealing(keep, t, 1000);
    CHECK_EQ(young_skipped(), skips);
    CHECK(collections_of(0) - runs >= 9);
    pm_gc_set_adaptive(1);
    pm_decref(keep);
    pm_gc_collect(2);
    pm_gc_set_threshold(2000, 10, 10);
    pm_decref(PM_OBJ(t));
}

/* Adaptive pacing (collector.c): automatic collections that find nothing
 * space out (the young window widens while objects die young in it, and
 * generation 1 waits longer), young survivors skip generation 1 once it
 * proved fruitless, garbage brings CPython's schedule back, and cycles
 * that die in the oldest generation are still collected with no explicit
 * call. */
static void test_adaptive_pacing(void) {
    pm_type *t = make_type("paced", NULL, NULL);
    pm_object *keep = pm_list_new(0);
    pm_gc_set_threshold(100, 10, 10);
    pm_gc_enable();
    /* Off: CPython's schedule, a young collection every 100 allocations;
     * generation 1 holds the survivors of up to 10 of them. */
    pm_gc_set_adaptive(0);
    CHECK(!pm_gc_get_adaptive());
    pm_gc_collect(2);
    uint64_t gen1_before = collections_of(1);
    uint64_t fixed = grow(keep, t, 4000);
    CHECK(fixed >= 35);
    CHECK(collections_of(1) - gen1_before >= 3);
    CHECK(objects_in(1) > 0);
    uint64_t fixed_churning = grow_churning(keep, t, 2000, 3);
    CHECK(fixed_churning >= 18);
    /* On, building (nothing dies young): the window stays at 100, where
     * the young objects are still in the cache, but generation 1 waits 4x
     * as many young collections, and once it found nothing young
     * survivors go straight to generation 2. */
    pm_gc_set_adaptive(1);
    CHECK(pm_gc_get_adaptive());
    pm_gc_collect(2);
    gen1_before = collections_of(1);
    uint64_t paced = grow(keep, t, 8000);
    CHECK(paced >= 75);
    CHECK(collections_of(1) - gen1_before <= 2); /* CPython's schedule: 8 */
    CHECK_EQ(objects_in(1), 0);
    /* On, churning (three of four die young): the window widens to 200,
     * then 400 allocations. */
    uint64_t paced_churning = grow_churning(keep, t, 2000, 3);
    CHECK(paced_churning >= 4 && paced_churning * 2 < fixed_churning);
    int t0, t1, t2;
    pm_gc_get_threshold(&t0, &t1, &t2);
    CHECK_EQ(t0, 100); /* the base is what the user set */
    /* Garbage: the first productive collection restores the schedule. */
    freed_nodes = 0;
    uint64_t before = collections_so_far();
    for (int i = 0; i < 2000; i++) pm_decref(pair(t));
    CHECK(collections_so_far() - before >= 30);
    CHECK(freed_nodes > 3000);
    pm_gc_collect(2); /* the last pairs (some were promoted half-built) */
    /* Cycles promoted while alive, dropped in the oldest generation: a
     * later automatic full collection frees them. */
    pm_object *root = pm_list_new(0);
    for (int i = 0; i < 500; i++) pm_list_append_steal(root, pair(t));
    grow(keep, t, 8000); /* promotes them: the collections find nothing */
    pm_gc_collect(0);
    pm_object *old = pm_gc_get_objects(2);
    CHECK(pm_contains(old, pm_list_get(root, 0)) == 1);
    pm_decref(old);
    freed_nodes = 0;
    pm_decref(root);
    CHECK_EQ(freed_nodes, 0);
    for (int i = 0; i < 50 && freed_nodes < 1000; i++) grow(keep, t, 2000);
    CHECK_EQ(freed_nodes, 1000);
    pm_decref(keep);
    pm_gc_set_threshold(2000, 10, 10);
    pm_gc_collect(2);
    pm_decref(PM_OBJ(t));
}

/* A type made of reference fields only: the collector reads them in place
 * (no traverse slot); cycles through them are found and broken, and what
 * is reachable through them survives. */
typedef struct duo {
    pm_object ob;
    pm_object *a, *b;
} duo;

static void test_ref_field_cycles(void) {
    pm_type_spec spec = {.name = "duo", .basicsize = sizeof(duo), .nrefs = 2};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    pm_gc_collect(2);
    pm_gc_disable(); /* every ring for the explicit collection */
    int64_t live0 = tu_live_objects();
    pm_object *root = pm_object_new(t);
    for (int i = 0; i < 1000; i++) { /* rings of three, a -> next, b -> self */
        pm_object *x = pm_object_new(t), *y = pm_object_new(t), *z = pm_object_new(t);
        ((duo *)x)->a = pm_newref(y);
        ((duo *)y)->a = pm_newref(z);
        ((duo *)z)->a = pm_newref(x);
        ((duo *)y)->b = pm_newref(y);
        if (i == 0) ((duo *)root)->a = pm_newref(x); /* one ring stays reachable */
        pm_decref(x);
        pm_decref(y);
        pm_decref(z);
    }
    CHECK_EQ(pm_gc_collect(2), 999 * 3);
    CHECK(pm_gc_check() >= 4);
    CHECK_EQ(tu_live_objects() - live0, 4);
    pm_object *kept = ((duo *)root)->a;
    pm_object *referrers = pm_gc_get_referrers(kept);
    CHECK(pm_contains(referrers, root) == 1);
    pm_decref(referrers);
    pm_decref(root);
    CHECK_EQ(pm_gc_collect(2), 3);
    CHECK_EQ(tu_live_objects(), live0);
    pm_gc_enable();
    pm_decref(PM_OBJ(t));
}

/* Frozen types: an instance is tracked only if a field may take part in
 * a cycle, and a cycle through a tracked one is collected. */
static void test_frozen_types(void) {
    pm_type_spec bad = {.name = "f", .basicsize = sizeof(duo), .flags = PM_TPFLAGS_FROZEN};
    CHECK(pm_type_new(&bad) == NULL && pm_exc_occurred() == PM_EXC_VALUE); /* no fields */
    pm_exc_clear();
    bad.nrefs = 2;
    bad.flags |= PM_TPFLAGS_ATTRS;
    CHECK(pm_type_new(&bad) == NULL && strstr(pm_exc_message(), "frozen") != NULL);
    pm_exc_clear();
    bad.flags = PM_TPFLAGS_FROZEN;
    bad.slots.traverse = node_traverse;
    CHECK(pm_type_new(&bad) == NULL && pm_exc_occurred() == PM_EXC_VALUE);
    pm_exc_clear();

    pm_type_spec spec = {
        .name = "fduo", .basicsize = sizeof(duo), .nrefs = 2, .flags = PM_TPFLAGS_FROZEN};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    pm_gc_collect(2);
    int64_t live0 = tu_live_objects();
    pm_object *leaf = pm_object_new(t); /* empty fields */
    CHECK(!pm_gc_is_tracked(leaf));
    pm_object *refs[2] = {pm_int(100000), pm_str_from("atomic")};
    pm_object *atoms = pm_object_new_refs_steal(t, refs);
    CHECK(atoms && !pm_gc_is_tracked(atoms));
    pm_object *tree_refs[2] = {leaf, atoms};
    pm_object *tree = pm_object_new_refs_steal(t, tree_refs);
    CHECK(tree && !pm_gc_is_tracked(tree));               /* untracked frozen fields */
    CHECK(((duo *)tree)->a == leaf && leaf->refcnt == 1); /* stolen */

    /* A field that may be in a cycle: a list, even an empty untracked one. */
    pm_object *l = pm_list_new(0);
    pm_object *lrefs[2] = {pm_newref(l), tree};
    pm_object *holder = pm_object_new_refs_steal(t, lrefs);
    CHECK(holder && pm_gc_is_tracked(holder));
    CHECK_EQ(pm_list_append(l, holder), 0); /* l -> holder -> l */
    CHECK(pm_gc_is_tracked(l));
    pm_decref(holder);
    pm_decref(l);
    collected_alone("a cycle through a frozen instance", live0);

    /* A tracked tuple field: the instance is born tracked, and untracked
     * by the collection that untracks the tuple. */
    pm_object *one = pm_int(1000);
    pm_object *trefs[2] = {pm_tuple_pack(1, one), NULL};
    pm_decref(one);
    pm_object *o = pm_object_new_refs_steal(t, trefs);
    CHECK(o && pm_gc_is_tracked(o) && pm_gc_is_tracked(trefs[0]));
    pm_gc_collect(2);
    CHECK(!pm_gc_is_tracked(trefs[0]));
    pm_gc_collect(2);
    CHECK(!pm_gc_is_tracked(o));
    pm_decref(o);
    CHECK_EQ(tu_live_objects(), live0);

    /* A tuple the collector untracked (acyclic), tracked again by hand and
     * refilled with a list before it is shared, is no longer acyclic: a
     * frozen instance holding it is tracked, and the cycle is collected. */
    pm_object *t1 = pm_tuple_new(1);
    CHECK_EQ(pm_tuple_set_steal(t1, 0, pm_int(100000)), 0);
    pm_gc_collect(2);
    CHECK(!pm_gc_is_tracked(t1));
    pm_gc_track(t1);
    l = pm_list_new(0);
    CHECK_EQ(pm_tuple_set_steal(t1, 0, pm_newref(l)), 0);
    pm_object *frefs[2] = {t1, NULL};
    o = pm_object_new_refs_steal(t, frefs);
    CHECK(o && pm_gc_is_tracked(o));
    CHECK_EQ(pm_list_append(l, o), 0); /* o -> t1 -> l -> o */
    pm_decref(o);
    pm_decref(l);
    collected_alone("a refilled tuple in a frozen instance", live0);

    /* A type that is not frozen: tracked whatever its fields. */
    pm_type_spec open = {.name = "oduo", .basicsize = sizeof(duo), .nrefs = 2};
    pm_type *ot = pm_type_new(&open);
    pm_object *none2[2] = {NULL, NULL};
    o = pm_object_new_refs_steal(ot, none2);
    CHECK(o && pm_gc_is_tracked(o));
    pm_decref(o);
    pm_decref(PM_OBJ(ot));

    /* Refused: a variable-size type; the references go all the same. */
    pm_type_spec var = {.name = "var", .basicsize = sizeof(duo), .itemsize = 8, .nrefs = 2};
    pm_type *vt = pm_type_new(&var);
    pm_object *s = pm_str_from("stolen even on failure");
    pm_object *srefs[2] = {pm_newref(s), NULL};
    CHECK(pm_object_new_refs_steal(vt, srefs) == NULL && pm_exc_occurred() == PM_EXC_TYPE);
    pm_exc_clear();
    CHECK_EQ(s->refcnt, 1);
    pm_decref(s);
    CHECK(pm_object_new_refs_steal(NULL, NULL) == NULL && pm_exc_occurred() == PM_EXC_TYPE);
    pm_exc_clear();
    pm_decref(PM_OBJ(vt));
    CHECK_EQ(tu_live_objects(), live0);
    pm_decref(PM_OBJ(t));
}

/* An object whose references all lead outside the set is not walked for
 * reachability (NO_SET_REFS), but a finalizer may store into it before
 * the garbage is analysed again: the second analysis must read it anew.
 * Garbage: K = [K, L, F]; L = [D] (D an untracked dict: L leads nowhere in
 * the set); F's finalizer appends F to L and keeps L. L and F survive. */
static pm_object *flagged_list, *kept_list;

static void store_into_flagged(pm_object *self) {
    pm_list_append(flagged_list, self);
    kept_list = pm_newref(flagged_list);
}

static void test_resurrection_into_flagged(void) {
    pm_type *t = make_type("into-flagged", store_into_flagged, NULL);
    pm_gc_collect(2);
    pm_gc_disable();
    int64_t live0 = tu_live_objects();
    pm_object *d = pm_dict_new(), *l = pm_list_new(0), *k = pm_list_new(0), *f = pm_object_new(t);
    pm_list_append(l, d);
    CHECK(pm_gc_is_tracked(l) && !pm_gc_is_tracked(d));
    pm_list_append(k, k);
    pm_list_append(k, l);
    pm_list_append(k, f);
    flagged_list = l;
    pm_decref(d);
    pm_decref(l);
    pm_decref(f);
    pm_decref(k);
    CHECK_EQ(pm_gc_collect(0), 1); /* K only: L and F were resurrected */
    CHECK(kept_list == l && pm_list_size(l) == 2 && pm_list_get(l, 1) == f);
    CHECK(pm_gc_check() >= 2);
    CHECK_EQ(tu_live_objects() - live0, 3); /* L, D, F */
    pm_decref(kept_list);
    kept_list = flagged_list = NULL;
    CHECK_EQ(tu_live_objects(), live0);
    pm_gc_enable();
    pm_decref(PM_OBJ(t));
}

int main(void) {
    pm_runtime *rt = pm_runtime_new(NULL);
    pm_runtime_enter(rt);
    /* In stress mode (PYMM_GC_STRESS) every allocation collects: the tests
     * of when collections run, and of what generation 0 holds between
     * them, do not apply; the others must pass as they are. */
    bool schedule = !tu_gc_stress();
    if (schedule) test_basic_cycles();
    test_generations();
    test_finalizers();
    test_uncollectable_and_saveall();
    test_weakrefs();
    if (schedule) test_stats_callbacks_queries();
    test_tracking_rules();
    test_tuple_cycles();
    test_deferred_resurrection();
    test_collect_during_dealloc();
    if (schedule) test_adaptive_pacing();
    if (schedule) test_young_skip();
    test_ref_field_cycles();
    if (schedule) test_frozen_types();
    test_resurrection_into_flagged();
    test_invariants_every_generation();
    if (schedule) test_tracking_in_finalizers();
    pm_runtime_enter(NULL);
    pm_runtime_destroy(rt);
    test_long_cycle();
    return tu_finish("test_gc_api");
}
