/*
 * test_gc_stress.c -- the collector's stress mode (PYMM_GC_STRESS=1) and
 * the debug build's assertions (PM_ASSERT).
 *
 * Stress mode: a runtime made with PYMM_GC_STRESS=1 in the environment
 * collects at every allocation of a GC object (generation 1 every 100th,
 * a full collection every 1,000th), never skips or paces, and stops at
 * the first invariant pm_gc_check finds broken; a runtime made without it
 * keeps its schedule. Debug builds (PM_DEBUG): a failed PM_ASSERT names
 * file, line and expression and aborts.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include "objects/object.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static pm_runtime *stress_runtime(bool stress) {
    if (stress) setenv("PYMM_GC_STRESS", "1", 1);
    else unsetenv("PYMM_GC_STRESS");
    pm_runtime *rt = pm_runtime_new(NULL);
    unsetenv("PYMM_GC_STRESS");
    return rt;
}

static uint64_t collections(int gen) {
    pm_gc_generation_stats s[3];
    pm_gc_get_stats(s);
    return s[gen].collections;
}

static uint64_t skipped(void) {
    pm_gc_generation_stats s[3];
    pm_gc_get_stats(s);
    return s[0].skipped + s[1].skipped + s[2].skipped;
}

/* n GC allocations, each an empty list kept alive in `keep`'s items. */
static void allocate_lists(pm_object *keep, int n) {
    for (int i = 0; i < n; i++) {
        pm_object *l = pm_list_new(0);
        CHECK(l != NULL && pm_list_append_steal(keep, l) == 0);
    }
}

/* Every GC allocation collects: 2,000 lists make (about) 2,000
 * collections, 20 of generation 1 or 2 and 2 full ones; none is skipped
 * and pacing is off. */
static void test_schedule(void) {
    pm_runtime *rt = stress_runtime(true);
    pm_runtime *prev = pm_runtime_enter(rt);
    CHECK(pm_gc_get_adaptive() == 0);
    pm_gc_set_adaptive(1); /* stress mode keeps pacing off */
    CHECK(pm_gc_get_adaptive() == 0);
    pm_object *keep = pm_list_new(0);
    uint64_t before = collections(0) + collections(1) + collections(2);
    allocate_lists(keep, 2000);
    uint64_t total = collections(0) + collections(1) + collections(2) - before;
    CHECK(total >= 2000 && total <= 2003);
    CHECK(collections(2) >= 2 && collections(2) <= 3);
    CHECK(collections(1) >= 18 && collections(1) <= 21);
    CHECK_EQ(skipped(), 0);
    pm_decref(keep);
    CHECK(pm_gc_check() >= 0);
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt);
}

/* A garbage cycle is collected at the next GC allocation, not 2,000
 * later; a disabled collector stays disabled. */
static void test_cycle_found_at_once(void) {
    pm_runtime *rt = stress_runtime(true);
    pm_runtime *prev = pm_runtime_enter(rt);
    pm_object *a = pm_list_new(0), *b = pm_list_new(0);
    CHECK(pm_list_append(a, b) == 0 && pm_list_append(b, a) == 0);
    pm_decref(a);
    pm_decref(b);
    int64_t live = tu_live_objects();
    pm_object *one = pm_list_new(0); /* the collection before it frees a, b */
    CHECK_EQ(tu_live_objects(), live - 2 + 1);
    pm_decref(one);

    pm_gc_disable();
    uint64_t before = collections(0);
    pm_object *keep = pm_list_new(0);
    allocate_lists(keep, 50);
    CHECK_EQ(collections(0), before);
    pm_gc_enable();
    allocate_lists(keep, 10);
    CHECK_EQ(collections(0), before + 10);
    pm_decref(keep);
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt);
}

/* Without PYMM_GC_STRESS the schedule is the usual one. */
static void test_off(void) {
    pm_runtime *rt = stress_runtime(false);
    pm_runtime *prev = pm_runtime_enter(rt);
    pm_object *keep = pm_list_new(0);
    allocate_lists(keep, 1500);
    CHECK_EQ(collections(0) + collections(1) + collections(2) + skipped(), 0);
    pm_decref(keep);
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt);
}

/* A broken invariant stops the program at the next collection that checks
 * its set (for generation 2: the next full one, 1,000 allocations on),
 * with pm_gc_check's reason: an object of generation 2 whose flags name
 * generation 1 is placed a second time in generation 2's map, whose count
 * then disagrees with its bits. */
static void corrupt_then_allocate(void *arg) {
    (void)arg;
    pm_runtime *rt = stress_runtime(true);
    pm_runtime_enter(rt);
    pm_object *keep = pm_list_new(0), *victim = pm_list_new(0);
    pm_gc_track(victim);
    CHECK(pm_list_append(keep, victim) == 0);
    allocate_lists(keep, 1000); /* a full collection: victim is old */
    victim->flags = (victim->flags & ~PMO_OF_GEN_MASK) | PMO_OF_GEN(1);
    allocate_lists(keep, 1000);
    exit(0); /* not reached: the next full collection aborts */
}

static void test_broken_invariant_aborts(void) {
    tu_result r;
    tu_child(corrupt_then_allocate, NULL, &r);
    CHECK(!r.exited && r.status == SIGABRT);
    CHECK(tu_contains(r.err, "PYMM_GC_STRESS"));
    CHECK(tu_contains(r.err, "address map 1 counts"));
}

#ifdef PM_DEBUG
/* pm_dealloc on a live object breaks O1 (refcnt == 0 only while pm_dealloc
 * runs): PM_ASSERT stops there, naming the expression. */
static void dealloc_live(void *arg) {
    (void)arg;
    pm_object *l = pm_list_new(0);
    pm_dealloc(l);
    exit(0);
}

static void test_assert_reports(void) {
    tu_result r;
    tu_child(dealloc_live, NULL, &r);
    CHECK(!r.exited && r.status == SIGABRT);
    CHECK(tu_contains(r.err, "object.c:"));
    CHECK(tu_contains(r.err, "assertion failed: o->refcnt == 0"));
}
#endif

int main(void) {
    test_schedule();
    test_cycle_found_at_once();
    test_off();
    test_broken_invariant_aborts();
#ifdef PM_DEBUG
    test_assert_reports();
#endif
    return tu_finish("test_gc_stress");
}
