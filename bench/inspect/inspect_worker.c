/*
 * inspect_worker.c -- pymm-bench-inspect-pymm, the pymm side of `pymm bench
 * inspect`: the diagnostics of issue 15 on one graph shape in a fresh
 * process. Its CPython twin is bench/scripts/inspect_bench.py; both build
 * the same shape from the same arguments and the same generator, so that
 * only the tools differ.
 *
 * Usage (normally run by the driver, inspect_suite.c):
 *   pymm-bench-inspect-pymm SHAPE N REPS
 * SHAPE is one of (every object a container: lists and dicts, whose dict
 * keys are small ints, static in both, so objgraph -- which sees what
 * CPython's collector tracks -- counts the same N objects):
 *   tree    a 4-ary tree of N - 1001 dicts and lists (node i: a dict when i
 *           is even and has children, else a list; under node (i - 1) / 4
 *           at key or index (i - 1) % 4)
 *   random  N - 1001 lists, list i holding lists 2i+1 and 2i+2 and one
 *           drawn by the generator (cycles)
 *   chain   N - 1 lists, each holding the next
 * under a root list: ROOT = [body, spine], the spine a chain of 1,000 lists
 * whose last is at depth 1,000 (for chain, ROOT = [first] and the target
 * is the list at depth 1,000 of the chain itself). The generator is
 * xorshift64 from seed 42 (the script's twin). Measured, each REPS times
 * (median of the repetitions; CPU time of the thread):
 *   census    pm_census_take
 *   path      pm_path_to(target at depth 1,000)
 *   deep      pm_size_deep(ROOT)
 *   retained  pm_dominators_take (every object's retained size)
 *   leakcheck pm_leaks_check(NULL, NULL, PM_LEAKS_AT_EXIT), the check
 *             PYMM_LEAKS makes at exit (every object judged, the program's
 *             memory scanned); every shape is reachable from ROOT, so a
 *             right check finds no leak (checked: leak_verdicts 0)
 * and the process's peak RSS. It prints "PMB shape metric value unit",
 * "PMB-CHECK shape what value" (what the script must agree with).
 */
#define _GNU_SOURCE
#include "pymm.h"
#include "pmb_stats.h"
#include "pmb_status.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEPTH 1000
#define MAX_REPS 100

static void emit(const char *shape, const char *metric, double value, const char *unit) {
    printf("PMB %s %s %.9g %s\n", shape, metric, value, unit);
    fflush(stdout);
}

static void die(const char *what) {
    fprintf(stderr, "pymm-bench-inspect-pymm: %s (%s)\n", what, pm_exc_message());
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64, the script's rand(). */
static uint64_t rng = 42;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static pm_object *must(pm_object *o) {
    if (!o) die("out of memory");
    return o;
}

static void append_steal(pm_object *l, pm_object *item) {
    if (pm_list_append(l, item) != 0) die("pm_list_append");
    pm_decref(item);
}

/* A chain of n lists, each holding the next (built from the end: no
 * recursion anywhere); the first is returned, the one at index `at` (0:
 * the first) goes to *at_obj. */
static pm_object *chain(long n, long at, pm_object **at_obj) {
    pm_object *next = NULL;
    for (long k = n - 1; k >= 0; k--) {
        pm_object *l = must(pm_list_new(0));
        if (next) append_steal(l, next);
        if (k == at) *at_obj = l;
        next = l;
    }
    return next;
}

/* Node i of the tree is a dict when i is even and it has children: CPython
 * tracks a dict only once it holds a container, and objgraph counts only
 * what CPython tracks (a list is tracked even when empty). */
static int is_dict(long i, long m) { return i % 2 == 0 && 4 * i + 1 < m; }

static pm_object *tree(long m) {
    pm_object **nodes = malloc((size_t)m * sizeof *nodes);
    if (!nodes) die("out of memory");
    for (long i = 0; i < m; i++) {
        nodes[i] = must(is_dict(i, m) ? pm_dict_new() : pm_list_new(0));
        if (i == 0) continue;
        pm_object *parent = nodes[(i - 1) / 4];
        if (pm_is_type(parent, &pm_dict_type)) {
            pm_object *key = must(pm_int((i - 1) % 4));
            if (pm_dict_set(parent, key, nodes[i]) != 0) die("pm_dict_set");
            pm_decref(key);
        } else if (pm_list_append(parent, nodes[i]) != 0) {
            die("pm_list_append");
        }
        pm_decref(nodes[i]); /* the parent's now */
    }
    pm_object *root = nodes[0];
    free(nodes);
    return root;
}

static pm_object *random_graph(long m) {
    pm_object **nodes = malloc((size_t)m * sizeof *nodes);
    if (!nodes) die("out of memory");
    for (long i = 0; i < m; i++) nodes[i] = must(pm_list_new(0));
    for (long i = 0; i < m; i++) {
        if (2 * i + 1 < m && pm_list_append(nodes[i], nodes[2 * i + 1]) != 0) die("append");
        if (2 * i + 2 < m && pm_list_append(nodes[i], nodes[2 * i + 2]) != 0) die("append");
        if (pm_list_append(nodes[i], nodes[next_rand() % (uint64_t)m]) != 0) die("append");
    }
    pm_object *root = pm_newref(nodes[0]);
    for (long i = 0; i < m; i++) pm_decref(nodes[i]);
    free(nodes);
    return root;
}

/* ROOT (declared as a root) and the target at depth DEPTH. */
static pm_object *build(const char *shape, long n, pm_object **target) {
    pm_object *root = must(pm_list_new(0));
    if (strcmp(shape, "chain") == 0) {
        append_steal(root, chain(n - 1, DEPTH - 1, target));
    } else {
        long m = n - 1 - DEPTH;
        if (strcmp(shape, "tree") == 0) append_steal(root, tree(m));
        else if (strcmp(shape, "random") == 0) append_steal(root, random_graph(m));
        else return NULL;
        append_steal(root, chain(DEPTH, DEPTH - 1, target));
    }
    if (pm_root_add(root, "ROOT") != 0) die("pm_root_add");
    pm_decref(root);
    return root;
}

static void report(const char *shape, const char *what, double *t, int reps, long n) {
    char metric[32];
    double s = pmb_spread_sort(t, (size_t)reps).median;
    snprintf(metric, sizeof metric, "%s_s", what);
    emit(shape, metric, s, "s");
    snprintf(metric, sizeof metric, "%s_objects_per_s", what);
    emit(shape, metric, (double)n / s, "objects/s");
}

static void run(const char *shape, long n, int reps, pm_object *root, pm_object *target) {
    double t[MAX_REPS];
    int64_t count = 0, bytes = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        pm_census *c = pm_census_take(NULL);
        t[r] = now_s() - t0;
        if (!c) die("pm_census_take");
        pm_census_totals(c, &count, NULL);
        pm_census_free(c);
    }
    report(shape, "census", t, reps, n);
    printf("PMB-CHECK %s census_at_least_n %d\n", shape, count >= n);
    size_t len = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        pm_path *p = pm_path_to(target);
        t[r] = now_s() - t0;
        if (!p) die("pm_path_to");
        len = pm_path_length(p);
        pm_path_free(p);
    }
    report(shape, "path", t, reps, n);
    printf("PMB-CHECK %s path_objects %zu\n", shape, len);
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        bytes = pm_size_deep(root);
        t[r] = now_s() - t0;
        if (bytes < 0) die("pm_size_deep");
    }
    report(shape, "deep", t, reps, n);
    emit(shape, "deep_bytes", (double)bytes, "B");
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        pm_dominators *d = pm_dominators_take(NULL);
        t[r] = now_s() - t0;
        if (!d) die("pm_dominators_take");
        const pm_retained *row = pm_dominators_find(d, root);
        if (!row || row->count < n) die("ROOT does not retain the shape");
        pm_dominators_free(d);
    }
    report(shape, "retained", t, reps, n);
    size_t verdicts = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        pm_leaks *l = pm_leaks_check(NULL, NULL, PM_LEAKS_AT_EXIT);
        t[r] = now_s() - t0;
        if (!l) die("pm_leaks_check");
        verdicts = pm_leaks_count(l);
        pm_leaks_free(l);
    }
    report(shape, "leakcheck", t, reps, n);
    printf("PMB-CHECK %s leak_verdicts %zu\n", shape, verdicts);
    emit(shape, "peak_rss_kb", (double)pmb_status_kb("VmHWM:"), "kB");
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: pymm-bench-inspect-pymm SHAPE N REPS (normally run by "
                        "`pymm bench inspect`; see bench/README.md)\n");
        return 2;
    }
    long n = strtol(argv[2], NULL, 10), reps = strtol(argv[3], NULL, 10);
    if (n < 2 * DEPTH + 2 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "pymm-bench-inspect-pymm: N must be >= %d, REPS 1..%d\n", 2 * DEPTH + 2,
                MAX_REPS);
        return 2;
    }
    pm_gc_disable(); /* the shapes are all alive: no collection to time */
    pm_object *target = NULL, *root = build(argv[1], n, &target);
    if (!root) {
        fprintf(stderr, "pymm-bench-inspect-pymm: unknown shape '%s'\n", argv[1]);
        return 2;
    }
    run(argv[1], n, (int)reps, root, target);
    return 0;
}
