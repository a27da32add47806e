/*
 * test_obj_faults.c -- whole workloads with their n-th allocation failing,
 * and the collector's out-of-memory fallbacks, each reached on purpose.
 *
 * One countdown (src/heap/internal_alloc.h, pmh_fault_arm) counts every
 * allocation: the library's internal memory, the raw domain, and here the
 * runtime's MEM and OBJ domains, wrapped by a table that ticks it. A
 * workload (containers, JSON, interning, a user type with finalizers,
 * cycles, weak references with callbacks, collections) runs in a fresh
 * runtime for n = 1, 2, ... until it runs without meeting the fault, once
 * with only the n-th allocation failing and once with every allocation
 * from the n-th on failing. Each step must succeed (a documented fallback)
 * or fail with MemoryError; afterwards, with the fault off, everything is
 * dropped and collected: no object, no heap block and no internal block
 * may stay behind, and pm_heap_check and pm_gc_check must pass.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include "heap/internal_alloc.h"
#include "objects/object.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the runtime's domains, through the countdown ---------------------------- */

static pm_allocator saved[PM_NUM_DOMAINS];

#define WRAP(dom)                                                                                  \
    static void *malloc_##dom(void *ctx, size_t n) {                                               \
        (void)ctx;                                                                                 \
        return pmh_fault_tick() ? NULL : saved[dom].malloc(saved[dom].ctx, n);                     \
    }                                                                                              \
    static void *calloc_##dom(void *ctx, size_t a, size_t b) {                                     \
        (void)ctx;                                                                                 \
        return pmh_fault_tick() ? NULL : saved[dom].calloc(saved[dom].ctx, a, b);                  \
    }                                                                                              \
    static void *realloc_##dom(void *ctx, void *p, size_t n) {                                     \
        (void)ctx;                                                                                 \
        return pmh_fault_tick() ? NULL : saved[dom].realloc(saved[dom].ctx, p, n);                 \
    }                                                                                              \
    static void free_##dom(void *ctx, void *p) {                                                   \
        (void)ctx;                                                                                 \
        saved[dom].free(saved[dom].ctx, p);                                                        \
    }
WRAP(1)
WRAP(2)

static void wrap_domains(pm_heap *h) {
    pm_allocator mem = {NULL, malloc_1, calloc_1, realloc_1, free_1};
    pm_allocator obj = {NULL, malloc_2, calloc_2, realloc_2, free_2};
    pm_heap_get_allocator(h, PM_DOMAIN_MEM, &saved[PM_DOMAIN_MEM]);
    pm_heap_get_allocator(h, PM_DOMAIN_OBJ, &saved[PM_DOMAIN_OBJ]);
    pm_heap_set_allocator(h, PM_DOMAIN_MEM, &mem);
    pm_heap_set_allocator(h, PM_DOMAIN_OBJ, &obj);
}

/* ---- a user type: two references, a finalizer that allocates ------------------- */

typedef struct node {
    pm_object ob;
    pm_object *next, *other;
} node;

static long finalized, callbacks;

/* Allocates while the collector works; an allocation failure here is the
 * finalizer's own business (it clears the error). */
static void node_finalize(pm_object *self) {
    finalized++;
    /* Issue 12's bug 3 (a pending exception and finalizers) is not this
     * test's business: with one pending, do not touch the state. */
    if (pm_exc_occurred() != PM_EXC_NONE) return;
    pm_object *l = pm_list_new(0);
    if (l == NULL || pm_list_append(l, self) != 0) pm_exc_clear();
    pm_xdecref(l);
}

static void weak_callback(pm_object *wr, pm_object *arg) {
    (void)wr;
    callbacks++;
    if (pm_exc_occurred() != PM_EXC_NONE) return;
    pm_object *d = pm_dict_new();
    if (d == NULL || pm_dict_set_str(d, "arg", arg ? arg : wr) != 0) pm_exc_clear();
    pm_xdecref(d);
}

static pm_type *node_type(void) {
    /* next and other are reference fields: pymm visits, clears and
     * releases them. */
    pm_type_spec spec = {.name = "fnode",
                         .basicsize = sizeof(node),
                         .flags = PM_TPFLAGS_GC | PM_TPFLAGS_WEAKREF,
                         .slots = {.finalize = node_finalize},
                         .nrefs = 2};
    return pm_type_new(&spec);
}

/* ---- the workload ---------------------------------------------------------------- */

/* A step's result: success, or MemoryError (cleared here). Anything else
 * fails the test. false: stop the workload. */
static bool step_ok(bool ok, const char *what, long nth) {
    if (ok) {
        if (pm_exc_occurred() != PM_EXC_NONE) {
            fprintf(stderr, "n=%ld %s: succeeded with %s pending\n", nth, what,
                    pm_exc_name(pm_exc_occurred()));
            tu_failures++;
            pm_exc_clear();
        }
        return true;
    }
    if (pm_exc_occurred() != PM_EXC_MEMORY || pmh_fault_injected() == 0) {
        fprintf(stderr, "n=%ld %s: failed with %s (%s), %ld faults injected\n", nth, what,
                pm_exc_name(pm_exc_occurred()), pm_exc_message(), pmh_fault_injected());
        tu_failures++;
    }
    if (getenv("FAULTS_VERBOSE")) fprintf(stderr, "n=%ld: %s failed\n", nth, what);
    pm_exc_clear();
    return false;
}

#define STEP(cond, what)                                                                           \
    if (!step_ok((cond), (what), nth)) goto out

typedef struct held {
    pm_type *t;
    pm_object *list, *doc, *back, *text, *weak, *cycle_weak, *keep, *set, *deep;
} held;

/* Scale: about `scale` records; n counts allocations for the messages. */
static void workload(held *h, int scale, long nth) {
    char key[32];
    pm_json_error err;
    STEP((h->t = node_type()) != NULL, "type");
    STEP((h->list = pm_list_new(0)) != NULL, "list");
    for (int i = 0; i < scale; i++) {
        pm_object *d = pm_dict_new();
        STEP(d != NULL, "dict");
        int r = pm_list_append_steal(h->list, d);
        STEP(r == 0, "append");
        snprintf(key, sizeof key, "key%d", i);
        pm_object *s = pm_str_from(key);
        STEP(s != NULL, "str");
        pm_object *v = pm_int(i * 1000);
        r = v ? pm_dict_set(d, s, v) : -1;
        pm_xdecref(v);
        if (r != 0) pm_decref(s);
        STEP(r == 0, "dict_set");
        pm_object *t = pm_tuple_pack(2, s, s);
        pm_decref(s);
        STEP(t != NULL, "tuple");
        r = pm_dict_set_str(d, "t", t);
        pm_decref(t);
        STEP(r == 0, "dict_set_str");
        pm_object *in = pm_str_from(key);
        STEP(in != NULL, "str for intern");
        pm_object *interned = pm_str_intern(in);
        pm_decref(in);
        STEP(interned != NULL, "intern");
        pm_decref(interned);
    }
    /* JSON both ways, and the round trip holds. */
    STEP((h->text = pm_json_dumps(h->list, -1)) != NULL, "json dumps");
    size_t n;
    const char *utf8 = pm_str_utf8(h->text, &n);
    STEP(utf8 != NULL, "str_utf8");
    STEP((h->doc = pm_json_loads(utf8, n, 0, &err)) != NULL, "json loads");
    /* A set, a weak-value dict, a document nested beyond the parser's and
     * the writer's inline stacks. */
    STEP((h->set = pm_set_new(NULL)) != NULL, "set");
    for (int i = 0; i < scale; i++) {
        pm_object *k = pm_int(i * 7919);
        int r = k ? pm_set_add(h->set, k) : -1;
        pm_xdecref(k);
        STEP(r == 0, "set_add");
    }
    STEP((h->weak = pm_weakvaluedict_new()) != NULL, "weakvaluedict");
    for (int i = 0; i < scale / 4 + 1; i++) {
        pm_object *v = pm_object_new(h->t);
        STEP(v != NULL, "weak value");
        pm_object *k = pm_int(i);
        int r = k ? pm_weakvaluedict_set(h->weak, k, v) : -1;
        pm_xdecref(k);
        if (i % 2 == 0 && r == 0) r = pm_list_append(h->list, v); /* half stay alive */
        pm_decref(v);
        STEP(r == 0, "weakvaluedict_set");
    }
    char nested[2 * 100 + 8];
    int depth = 100;
    memset(nested, '[', (size_t)depth);
    memcpy(nested + depth, "\"x\"", 3);
    memset(nested + depth + 3, ']', (size_t)depth);
    STEP((h->deep = pm_json_loads(nested, (size_t)(2 * depth + 3), 0, &err)) != NULL, "deep loads");
    STEP((h->back = pm_json_dumps(h->deep, 1)) != NULL, "deep dumps");
    /* Cycles of nodes with finalizers, weakly referenced with callbacks. */
    STEP((h->keep = pm_list_new(0)) != NULL, "keep");
    for (int i = 0; i < scale / 4 + 1; i++) {
        pm_object *a = pm_object_new(h->t);
        STEP(a != NULL, "node");
        pm_object *b = pm_object_new(h->t);
        if (b == NULL) {
            step_ok(false, "node", nth);
            pm_decref(a);
            goto out;
        }
        ((node *)a)->next = pm_newref(b);
        ((node *)b)->next = a; /* a's reference: the cycle */
        ((node *)a)->other = pm_newref(h->list);
        pm_object *wr = pm_weakref_new(b, weak_callback, NULL);
        if (wr == NULL) {
            step_ok(false, "weakref", nth);
            pm_decref(b);
            goto out;
        }
        int r = pm_list_append_steal(h->keep, wr);
        pm_decref(b); /* garbage now: a cycle held by nothing */
        STEP(r == 0, "append weakref");
    }
    STEP(pm_gc_collect(0) >= 0, "young collection");
    STEP(pm_gc_collect(2) >= 0, "full collection");
    /* The document is the list again. */
    STEP(pm_equal(h->doc, h->list) >= 0, "equal");
    pm_object *objs = pm_gc_get_objects(-1);
    STEP(objs != NULL, "get_objects");
    pm_decref(objs);
out:
    return;
}

static void release(held *h) {
    pm_xdecref(h->list);
    pm_xdecref(h->doc);
    pm_xdecref(h->back);
    pm_xdecref(h->text);
    pm_xdecref(h->weak);
    pm_xdecref(h->cycle_weak);
    pm_xdecref(h->keep);
    pm_xdecref(h->set);
    pm_xdecref(h->deep);
    pm_xdecref((pm_object *)h->t);
    memset(h, 0, sizeof *h);
}

static uint64_t heap_in_use(pm_heap *heap) {
    pm_heap_stats st;
    pm_heap_get_stats(heap, &st);
    return st.bytes_in_use + st.large_bytes;
}

/* The runtime of a run: plain, on a heap in debug mode (its hooks wrap
 * the domains, their tables are internal memory), or in object debug mode. */
enum { PLAIN, DEBUG_HEAP, DEBUG_RUNTIME };
static int mode;

static pm_runtime *new_runtime(pm_heap **own) {
    pm_runtime_config cfg = {0};
    *own = NULL;
    if (mode == DEBUG_HEAP) {
        pm_heap_config hc;
        pm_heap_config_init(&hc);
        hc.debug = 1;
        if ((*own = pm_heap_new(&hc)) == NULL) return NULL;
        cfg.heap = *own;
    }
    cfg.debug = mode == DEBUG_RUNTIME;
    pm_runtime *rt = pm_runtime_new(&cfg);
    if (rt == NULL && *own) pm_heap_destroy(*own);
    return rt;
}

/* One run of the workload in a fresh runtime with the n-th allocation
 * failing (n = 0: none). Returns the faults injected; *allocs gets the
 * allocations counted. */
static long run_once(int scale, long nth, bool persistent, long *allocs) {
    long internal_before = pmh_internal_live();
    pmh_fault_arm(nth ? nth : LONG_MAX, persistent);
    pm_heap *own;
    pm_runtime *rt = new_runtime(&own);
    if (rt == NULL) {
        long injected = pmh_fault_injected();
        pmh_fault_disarm();
        CHECK(injected > 0);
        CHECK_EQ(pmh_internal_live(), internal_before);
        return injected;
    }
    pm_heap *heap = pm_runtime_heap(rt);
    wrap_domains(heap);
    pm_runtime *prev = pm_runtime_enter(rt);
    int64_t live_before = tu_live_objects();
    held h = {0};
    workload(&h, scale, nth);
    /* Done: the fault off, everything let go and collected. */
    long injected = pmh_fault_injected();
    if (allocs) *allocs = pmh_fault_calls();
    pmh_fault_disarm();
    release(&h);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    pm_gc_collect(2);
    pm_gc_collect(2);
    pmo_freelists_clear(rt);
    pmo_intern_destroy(rt); /* empty by now (no string lives): its table */
    char why[256] = "";
    if (pm_heap_check(heap, why, sizeof why, 0) != 0) {
        fprintf(stderr, "n=%ld: heap check: %s\n", nth, why);
        tu_failures++;
    }
    int64_t tracked = pm_gc_check();
    if (tracked < 0) {
        fprintf(stderr, "n=%ld: %s\n", nth, pm_exc_message());
        tu_failures++;
        pm_exc_clear();
    }
    /* A debug heap keeps freed blocks in quarantine, and a debug runtime
     * freed objects: counts there only once the runtime is gone. */
    if ((mode != DEBUG_RUNTIME && tu_live_objects() != live_before) ||
        (mode == PLAIN && heap_in_use(heap) != 0)) {
        fprintf(stderr, "n=%ld%s: %lld objects, %llu heap bytes left, %lld tracked\n", nth,
                persistent ? " (persistent)" : "", (long long)(tu_live_objects() - live_before),
                (unsigned long long)heap_in_use(heap), (long long)tracked);
        tu_failures++;
    }
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt);
    if (own) pm_heap_destroy(own);
    if (pmh_internal_live() != internal_before) {
        fprintf(stderr, "n=%ld%s: %ld internal blocks left\n", nth,
                persistent ? " (persistent)" : "", pmh_internal_live() - internal_before);
        tu_failures++;
    }
    return injected;
}

static void test_workload(int scale) {
    long allocs = 0;
    finalized = callbacks = 0;
    CHECK_EQ(run_once(scale, 0, false, &allocs), 0);
    CHECK(finalized > 0);
    CHECK(callbacks > 0);
    printf("workload of scale %d, mode %d: %ld allocations\n", scale, mode, allocs);
    for (int persistent = 0; persistent <= 1; persistent++) {
        long nth = 1;
        int failures_before = tu_failures;
        for (; nth <= allocs + 1 && tu_failures - failures_before < 10; nth++)
            if (run_once(scale, nth, persistent, NULL) == 0) break;
        CHECK(nth <= allocs + 1); /* a run that met no fault ended the loop */
    }
}

/* ---- the collector's fallbacks, each reached ------------------------------------ */

static pmgc_fallbacks fallbacks(void) {
    pmgc_fallbacks f;
    pmgc_get_fallbacks(pm_runtime_current(), &f);
    return f;
}

/* A cycle of two nodes held by nothing. */
static void garbage_pair(pm_type *t) {
    pm_object *a = pm_object_new(t), *b = pm_object_new(t);
    if (a == NULL || b == NULL) abort();
    ((node *)a)->next = b;
    ((node *)b)->next = a;
}

/* The reachability walk's stack cannot grow: a rescan finds what it would
 * have held. `count` nodes are reachable only through a list allocated
 * after them (so the walk sets them aside first and must rescue them all
 * at once), beside `count` garbage pairs; with every n-th allocation of
 * the collection failing in turn, each collection that ran finds exactly
 * the garbage, and some of them got there by rescanning. */
static void test_rescan(int count) {
    uint64_t rescans = 0;
    for (long nth = 1;; nth++) {
        tu_group g = tu_group_begin();
        pm_gc_disable();
        pm_type *t = node_type();
        pm_object *nodes[1024];
        for (int i = 0; i < count; i++) nodes[i] = pm_object_new(t);
        pm_object *list = pm_list_new(0);
        for (int i = 0; i < count; i++) {
            CHECK_EQ(pm_list_append_steal(list, nodes[i]), 0);
            garbage_pair(t);
        }
        int64_t live = tu_live_objects();
        pmh_fault_arm(nth, false);
        int64_t found = pm_gc_collect(2);
        long injected = pmh_fault_injected();
        pmh_fault_disarm();
        pmgc_fallbacks f = fallbacks();
        rescans += f.rescans;
        if (f.collections_skipped == 0 && f.untracked == 0) {
            CHECK_EQ(found, 2 * count);
            CHECK_EQ(tu_live_objects(), live - 2 * count);
        }
        CHECK_EQ(pm_list_size(list), count);
        for (int i = 0; i < count; i++) CHECK(pm_list_get(list, i)->type == t);
        CHECK(pm_gc_check() >= 0);
        pm_gc_collect(2);
        pm_decref(list);
        pm_decref((pm_object *)t);
        pm_gc_collect(2);
        tu_group_end(&g, 0);
        if (injected == 0) break;
    }
    CHECK(rescans > 0);
}

/* gc_refs beyond 0xffff with no room in their table: the object counts
 * as reachable for that collection (its cycle waits for the next one),
 * and one that is reachable indeed is never taken for garbage. */
static void test_saturated_refs(void) {
    long refs = 70000;
    for (int held = 0; held <= 1; held++) {
        tu_group g = tu_group_begin();
        pm_gc_disable();
        pm_type *t = node_type();
        pm_object *x = pm_object_new(t), *many = pm_list_new(0);
        CHECK_EQ(pm_list_append(many, x), 0);
        /* The set's vector and x's map chunk exist: the gc_refs table is
         * what cannot grow. */
        CHECK_EQ(pm_gc_collect(2), 0);
        for (long i = 1; i < refs; i++) CHECK_EQ(pm_list_append(many, x), 0);
        ((node *)x)->next = many; /* the cycle x -> many -> x (70,000 times) */
        if (!held) pm_decref(x);
        int64_t live = tu_live_objects();
        pmh_fault_arm(1, true); /* every allocation of the collection fails */
        int64_t found = pm_gc_collect(2);
        pmh_fault_disarm();
        pmgc_fallbacks f = fallbacks();
        CHECK_EQ(f.collections_skipped, 0);
        CHECK(f.refs_unknown > 0);
        CHECK_EQ(found, 0); /* x taken as reachable, and many with it */
        CHECK_EQ(tu_live_objects(), live);
        CHECK(pm_gc_check() >= 0);
        /* With memory, the table knows x's count: garbage unless held. */
        pmh_fault_arm(0, false);
        found = pm_gc_collect(2);
        CHECK_EQ(found, held ? 0 : 2);
        if (held) {
            CHECK(((node *)x)->next == many);
            CHECK_EQ(pm_list_size(many), refs);
            pm_decref(x);
            CHECK_EQ(pm_gc_collect(2), 2);
        }
        pm_decref((pm_object *)t);
        pm_gc_collect(2);
        tu_group_end(&g, 0);
    }
}

/* The young vector full (65,535 objects with automatic collection off):
 * generation 1 takes them all, with no collection; their cycles are
 * collected by the next collection of generation 1. When the vector cannot
 * grow and generation 1's map has no chunk either (out of memory), they
 * stay young, tracked: their cycles are collected all the same (they were
 * left untracked, and leaked, before). */
static void test_young_full(void) {
    for (int oom = 0; oom <= 1; oom++) {
        tu_group g = tu_group_begin();
        pm_gc_disable();
        pm_type *t = node_type();
        garbage_pair(t);
        int n = oom ? 1000 : 70000;
        pm_object *keep = pm_object_new(t); /* a chain: no allocation but the nodes' */
        if (oom) pmh_fault_arm(1, true);    /* the young vector cannot grow */
        for (int i = 0; i < n; i++) {
            pm_object *l = pm_object_new(t);
            CHECK(l != NULL);
            ((node *)l)->next = keep;
            keep = l;
        }
        pmh_fault_disarm();
        pmgc_fallbacks f = fallbacks();
        CHECK(f.young_moved_on > 0);
        CHECK(pm_gc_check() >= 0);
        /* Moved on to generation 1, or (no map chunk) kept young. */
        if (oom) CHECK(f.stayed_young > 0); /* and, with no room at all, untracked */
        pm_object *gen1 = pm_gc_get_objects(oom ? 0 : 1);
        CHECK(gen1 != NULL && pm_list_size(gen1) >= 2); /* the pair at least */
        pm_xdecref(gen1);
        CHECK_EQ(pm_gc_collect(1), 2);
        pm_decref(keep);
        pm_decref((pm_object *)t);
        pm_gc_collect(2);
        tu_group_end(&g, 0);
    }
}

/* No memory to note the weak-reference callbacks a collection must run:
 * the collection gives up before it clears anything, and the next one
 * runs each callback once (the callback was lost before). */
static void test_weakref_callbacks_kept(void) {
    tu_group g = tu_group_begin();
    pm_gc_disable();
    pm_type *t = node_type();
    pm_object *kept = pm_object_new(t);
    CHECK_EQ(pm_gc_collect(2), 0); /* the set's vector and a map chunk exist */
    pm_object *a = pm_object_new(t), *b = pm_object_new(t);
    ((node *)a)->next = b;
    ((node *)b)->next = a;
    pm_object *wr = pm_weakref_new(a, weak_callback, NULL);
    CHECK(wr != NULL);
    callbacks = 0;
    pmh_fault_arm(1, true);
    int64_t found = pm_gc_collect(2);
    pmh_fault_disarm();
    pmgc_fallbacks f = fallbacks();
    CHECK_EQ(f.collections_skipped, 1);
    CHECK_EQ(found, 0);
    CHECK_EQ(callbacks, 0);
    pm_object *target = pm_weakref_get(wr);
    CHECK(target == a); /* not cleared */
    pm_xdecref(target);
    CHECK(pm_gc_check() >= 0);
    CHECK_EQ(pm_gc_collect(2), 2);
    CHECK_EQ(callbacks, 1);
    target = pm_weakref_get(wr);
    CHECK(target != NULL && target->type == &pm_none_type);
    pm_xdecref(target);
    pm_decref(wr);
    pm_decref(kept);
    pm_decref((pm_object *)t);
    pm_gc_collect(2);
    tu_group_end(&g, 0);
}

/* pm_gc_check in a runtime whose collector state cannot be allocated
 * still checks, and counts, the tracked objects (it answered 0). */
static void test_check_without_state(void) {
    tu_group g = tu_group_begin();
    pm_object *l = pm_list_new(0), *d = pm_dict_new();
    CHECK_EQ(pm_list_append(l, d), 0); /* l tracked: it holds a container */
    CHECK(pm_gc_is_tracked(l));
    pmh_fault_arm(1, true);
    int64_t tracked = pm_gc_check();
    pmh_fault_disarm();
    CHECK(tracked >= 1);
    CHECK_EQ(tracked, pm_gc_check());
    pm_decref(l);
    pm_decref(d);
    tu_group_end(&g, 0);
}

int main(void) {
    test_workload(4);
    test_workload(tu_big_count(2000) < 200 ? 40 : 200);
    for (mode = DEBUG_HEAP; mode <= DEBUG_RUNTIME; mode++) test_workload(4);
    mode = PLAIN;
    test_rescan(300);
    test_saturated_refs();
    test_young_full();
    test_weakref_callbacks_kept();
    test_check_without_state();
    return tu_finish("test_obj_faults");
}
