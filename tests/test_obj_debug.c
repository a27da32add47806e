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

/* ---- 3. PYMM_BREAK_ALLOC ------------------------------------------------ */

/* Ten allocations in the three domains of a debug heap, each announced
 * with its serial, with PYMM_BREAK_ALLOC=arg. */
static void allocate_ten(void *arg) {
    setenv("PYMM_BREAK_ALLOC", arg, 1);
    pm_heap_config hc;
    pm_heap_config_init(&hc);
    hc.debug = 1;
    pm_heap *h = pm_heap_new(&hc);
    if (h == NULL) abort();
    for (int i = 1; i <= 10; i++) {
        void *p = pm_domain_malloc(h, (pm_domain)(i % PM_NUM_DOMAINS), (size_t)(24 * i));
        fprintf(stderr, "block #%d %p\n", i, p);
    }
    pm_heap_destroy(h);
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) n++;
    return n;
}

/* The hook's line for serial n names the block announced as #n, and no
 * other line of the hook appears. */
static void test_break_alloc(void) {
    tu_result r;
    tu_child(allocate_ten, "7", &r);
    CHECK(r.exited && r.status == 0);
    char addr[64] = "", expect[128];
    const char *line = strstr(r.err, "block #7 ");
    if (line) sscanf(line, "block #7 %63s", addr);
    snprintf(expect, sizeof expect, "pymm: allocation #7 (168 bytes) at %s: PYMM_BREAK_ALLOC", addr);
    CHECK(addr[0] && tu_contains(r.err, expect));
    CHECK_EQ(count_of(r.err, "PYMM_BREAK_ALLOC"), 1);
    /* The hook fires when the block exists: before its announcement. */
    const char *hook = strstr(r.err, "PYMM_BREAK_ALLOC");
    CHECK(line && hook && hook < line && strstr(r.err, "block #6 ") < hook);
    if (!tu_contains(r.err, expect)) fprintf(stderr, "child's stderr:\n%s\n", r.err);

    tu_child(allocate_ten, "11", &r); /* never reached */
    CHECK(r.exited && r.status == 0);
    CHECK_EQ(count_of(r.err, "PYMM_BREAK_ALLOC"), 0);
    tu_child(allocate_ten, "seven", &r); /* refused, with a reason */
    CHECK(r.exited && r.status == 0);
    CHECK(tu_contains(r.err, "PYMM_BREAK_ALLOC=seven is not an allocation number"));
    CHECK_EQ(count_of(r.err, "pymm: allocation #"), 0);
}

/* The workflow the reports promise: a report names allocation #K; a rerun
 * with PYMM_BREAK_ALLOC=K stops where that object was made. The child
 * makes a few objects, frees a dict and decrefs it once more. */
static void decref_freed_dict(void *arg) {
    if (arg) setenv("PYMM_BREAK_ALLOC", arg, 1);
    pm_runtime *prev;
    debug_runtime(NULL, 1, &prev);
    pm_object *keep = pm_list_new(3);
    pm_object *d = pm_dict_new();
    fprintf(stderr, "dict %p\n", (void *)d);
    pm_decref(d);
    pm_decref(d); /* reported, aborts */
    pm_decref(keep);
}

static void test_break_at_reported_serial(void) {
    tu_result r;
    tu_child(decref_freed_dict, NULL, &r);
    CHECK(!r.exited && r.status == SIGABRT);
    unsigned long long serial = 0;
    const char *at = strstr(r.err, "allocation #");
    if (at) sscanf(at, "allocation #%llu", &serial);
    CHECK(serial > 0);
    char dict[64] = "", arg[32], expect[128];
    if (strstr(r.err, "dict ")) sscanf(strstr(r.err, "dict "), "dict %63s", dict);
    CHECK(dict[0] && tu_contains(r.err, dict));
    snprintf(arg, sizeof arg, "%llu", serial);
    tu_child(decref_freed_dict, arg, &r);
    snprintf(expect, sizeof expect, "pymm: allocation #%llu (", serial);
    CHECK(tu_contains(r.err, expect));
    const char *hook = strstr(r.err, expect);
    CHECK(hook && strstr(hook, dict) && strstr(hook, dict) < strstr(hook, "\n"));
    CHECK_EQ(count_of(r.err, "PYMM_BREAK_ALLOC"), 1);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    test_quarantine_evictions(0);
    test_quarantine_evictions(1);
    test_break_alloc();
    test_break_at_reported_serial();
    return tu_finish("test_obj_debug");
}
