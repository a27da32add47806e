/*
 * gc_worker.c -- pymm-bench-gc-pymm, the pymm side of `pymm bench gc`: one
 * case of the cycle-collector suite in a fresh process. Its CPython twin is
 * bench/scripts/gc_bench.py; both build the same graph shapes from the same
 * arguments, so only the collector differs.
 *
 * Usage (normally run by the driver, gc_suite.c):
 *   pymm-bench-gc-pymm CASE N REPS AUX
 * with CASE one of
 *   pairs              N objects in N/2 two-object cycles, garbage; REPS
 *                      builds, each followed by a timed pm_gc_collect(2)
 *   selfref-lists      N lists that contain themselves, garbage; likewise
 *   live-full          N/2 two-object cycles whose first objects a root list
 *                      holds (N + 1 live objects); REPS timed full collections
 *   young-pause-100k   the live graph above with N old objects moved to the
 *   young-pause-1m     oldest generation, then REPS times: AUX young objects
 *                      (AUX/2 garbage cycles) and a timed pm_gc_collect(0)
 *   json-load          a generated document of N records (gen_record),
 *                      loaded REPS times with automatic collection on
 *                      (adaptive pacing, the default), off, and on with
 *                      CPython's exact schedule (pm_gc_set_adaptive(0))
 *   header-bytes       heap bytes per instance of an empty GC type, and
 *                      (node-bytes) of the node type, over N instances
 * Timed sections use the thread's CPU time (see now_s); a timed figure is the
 * median of the process's repetitions (the driver takes the median over
 * its rounds of processes, with the spread). It prints lines for
 * the driver:
 *   PMB <case> <metric> <value> <unit>   a measured number
 *   PMB-CHECK <case> <what> <value>      a result both impls must share
 *   PMB-NOTE <text>                      something the report must say
 *
 * The node type is what `class Node: ref` is in the script: a GC type with
 * one reference, and traverse/clear/dealloc slots. Automatic collection is
 * off while graphs are built (pm_gc_disable), as gc.disable() in the script.
 */
#define _GNU_SOURCE
#include "pymm.h"
#include "pmb_stats.h"
#include "pmb_status.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Output and helpers                                                       */
/* ------------------------------------------------------------------------ */

static void emit(const char *case_name, const char *metric, double value, const char *unit) {
    printf("PMB %s %s %.9g %s\n", case_name, metric, value, unit);
    fflush(stdout);
}

static void check(const char *case_name, const char *what, double value) {
    printf("PMB-CHECK %s %s %.0f\n", case_name, what, value);
    fflush(stdout);
}

static void die(const char *what) {
    fprintf(stderr, "pymm-bench-gc-pymm: %s (%s)\n", what, pm_exc_message());
    exit(1);
}

/* CPU time of this thread (user + system): on a shared machine, wall time
 * would also count whatever else ran meanwhile. The script uses the same
 * clock (time.thread_time). */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmHWM in KiB: this process's own peak RSS since exec (ru_maxrss seen by
 * the driver would include the driver's RSS at fork time). */
static long peak_rss_kb(void) { return pmb_status_kb("VmHWM:"); }

/* Room for the repetitions' times (REPS is checked against it in main). */
#define MAX_REPS 10000

/* The median of a process's repetitions: one value per process, whose
 * spread the driver shows over the rounds. */
static double median_of(double *v, int n) { return pmb_spread_sort(v, (size_t)n).median; }

static double *times_array(int reps) {
    double *v = malloc((size_t)reps * sizeof *v);
    if (!v) die("out of memory");
    return v;
}

/* Objects every collection of this process sees besides the benchmark's
 * own (the script counts the interpreter's the same way). */
static int64_t tracked_now(void) {
    pm_object *all = pm_gc_get_objects(-1);
    if (!all) die("pm_gc_get_objects");
    int64_t n = (int64_t)pm_list_size(all);
    pm_decref(all);
    return n;
}

/* ------------------------------------------------------------------------ */
/* The node type: one reference, like the script's plain class              */
/* ------------------------------------------------------------------------ */

typedef struct node {
    pm_object ob;
    pm_object *ref;
} node;

#define NODE(o) ((node *)(o))

static int node_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    pm_object *r = NODE(self)->ref;
    return r ? visit(r, arg) : 0;
}

/* The collector breaks a cycle by clearing one object; the other then dies
 * by reference counting. */
static int node_clear(pm_object *self) {
    PM_CLEAR(NODE(self)->ref);
    return 0;
}

static void node_dealloc(pm_object *self) { PM_CLEAR(NODE(self)->ref); }

static int empty_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    (void)self, (void)visit, (void)arg;
    return 0;
}

static pm_type *node_type;

static pm_type *make_type(const char *name, size_t basicsize, int has_ref) {
    pm_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.name = name;
    spec.basicsize = basicsize;
    spec.flags = PM_TPFLAGS_GC;
    spec.slots.traverse = has_ref ? node_traverse : empty_traverse;
    if (has_ref) {
        spec.slots.clear = node_clear;
        spec.slots.dealloc = node_dealloc;
    }
    pm_type *t = pm_type_new(&spec);
    if (!t) die("pm_type_new");
    return t;
}

static pm_object *new_node(void) {
    pm_object *o = pm_object_new(node_type);
    if (!o) die("pm_object_new");
    return o;
}

/* ------------------------------------------------------------------------ */
/* Graphs                                                                   */
/* ------------------------------------------------------------------------ */

/* a.ref = b, b.ref = a. Returns a new reference to a; b is held by a only. */
static pm_object *new_pair(void) {
    pm_object *a = new_node(), *b = new_node();
    NODE(a)->ref = b; /* our reference to b moves into a */
    NODE(b)->ref = pm_newref(a);
    return a;
}

static void build_garbage_pairs(long nobjects) {
    for (long i = 0; i < nobjects / 2; i++) pm_decref(new_pair());
}

static void build_selfref_lists(long n) {
    for (long i = 0; i < n; i++) {
        pm_object *l = pm_list_new(0);
        if (!l || pm_list_append(l, l) != 0) die("pm_list_new/append");
        pm_decref(l);
    }
}

/* A root list holding the first object of each of nobjects/2 pairs: every
 * object stays reachable. */
static pm_object *build_live_pairs(long nobjects) {
    pm_object *root = pm_list_new(0);
    if (!root) die("pm_list_new");
    for (long i = 0; i < nobjects / 2; i++) {
        if (pm_list_append_steal(root, new_pair()) != 0) die("pm_list_append_steal");
    }
    return root;
}

/* ------------------------------------------------------------------------ */
/* (a) (b) (c): objects per second of a full collection                     */
/* ------------------------------------------------------------------------ */

/* The time of one full collection, and a check of what it found. */
static double timed_full(const char *case_name, int64_t expect_found) {
    double t0 = now_s();
    int64_t found = pm_gc_collect(2);
    double t = now_s() - t0;
    if (found != expect_found) {
        printf("PMB-NOTE %s: pymm: pm_gc_collect(2) found %lld unreachable objects, expected "
               "%lld\n",
               case_name, (long long)found, (long long)expect_found);
    }
    return t;
}

/* The median collection time of the reps (times[], sorted here). */
static void emit_rate(const char *case_name, int64_t tracked, double *times, int reps) {
    double median_s = median_of(times, reps);
    emit(case_name, "objects_per_s", (double)tracked / median_s, "objects/s");
    emit(case_name, "collect_ms", median_s * 1e3, "ms");
    emit(case_name, "tracked", (double)tracked, "objects");
}

/* pairs and selfref-lists: build the garbage, collect it; median of reps. */
static void case_garbage(const char *case_name, long n, int reps, void (*build)(long)) {
    double *times = times_array(reps);
    int64_t tracked = 0;
    for (int r = 0; r < reps; r++) {
        int64_t base = tracked_now();
        build(n);
        tracked = base + n;
        times[r] = timed_full(case_name, n);
    }
    emit_rate(case_name, tracked, times, reps);
    check(case_name, "found", (double)n);
    free(times);
}

static void case_live_full(const char *case_name, long n, int reps) {
    int64_t base = tracked_now();
    pm_object *root = build_live_pairs(n);
    int64_t tracked = base + n + 1; /* the root list too */
    double *times = times_array(reps);
    for (int r = 0; r < reps; r++) times[r] = timed_full(case_name, 0);
    emit_rate(case_name, tracked, times, reps);
    free(times);
    pm_decref(root);
}

/* ------------------------------------------------------------------------ */
/* (d) the pause of a young collection                                      */
/* ------------------------------------------------------------------------ */

/* n old objects in the oldest generation, then reps young collections of
 * `young` fresh objects (garbage cycles) each; the median pause. */
static void case_young(const char *case_name, long n, int reps, long young) {
    pm_object *root = build_live_pairs(n);
    pm_gc_collect(2);
    double *pause = times_array(reps);
    int64_t found = 0;
    for (int r = 0; r < reps; r++) {
        build_garbage_pairs(young);
        double t0 = now_s();
        found = pm_gc_collect(0);
        pause[r] = (now_s() - t0) * 1e3;
    }
    pmb_spread s = pmb_spread_sort(pause, (size_t)reps);
    emit(case_name, "pause_ms", s.median, "ms");
    emit(case_name, "pause_max_ms", s.max, "ms");
    emit(case_name, "old_objects", (double)n, "objects");
    check(case_name, "found", (double)found);
    free(pause);
    pm_decref(root);
}

/* ------------------------------------------------------------------------ */
/* (e) the collector's share of loading a JSON document                     */
/* ------------------------------------------------------------------------ */

/* The document, byte for byte what gc_bench.py's gen_doc makes: a list of
 * n records; record i is drawn from x = i * 2654435761 mod 2^32 (Knuth's
 * multiplicative hash: no generator state to keep in step). Each record is
 * a dict holding ints, a float, a bool, strings, two lists and a dict. */
static const char *const TAGS[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"};
static const char *const CITIES[] = {"Paris", "Tokyo", "Lima",  "Oslo",
                                     "Cairo", "Quito", "Perth", "Dakar"};
static const char *const STREETS[] = {"Main", "Oak", "Pine", "Maple", "Cedar"};

static int gen_record(char *buf, size_t cap, uint32_t i) {
    uint32_t x = (uint32_t)(i * 2654435761u);
    return snprintf(buf, cap,
                    "{\"id\":%u,\"name\":\"user%u\",\"active\":%s,\"score\":%u.%02u,"
                    "\"tags\":[\"%s\",\"%s\",\"%s\"],\"point\":[%u,%u],"
                    "\"address\":{\"street\":\"%u %s St\",\"city\":\"%s\",\"zip\":\"%05u\"}}",
                    i, x % 100000u, (x & 1u) ? "true" : "false", x % 10000u, (x >> 8) % 100u,
                    TAGS[x % 7u], TAGS[(x >> 3) % 7u], TAGS[(x >> 6) % 7u], x % 1000u,
                    (x >> 10) % 1000u, 1u + (x >> 4) % 999u, STREETS[(x >> 9) % 5u],
                    CITIES[(x >> 12) % 8u], (x >> 7) % 100000u);
}

/* "[" record ("," record)* "]" in one malloc'd buffer (not pymm's heap). */
static char *gen_doc(long n, size_t *len) {
    size_t cap = (size_t)n * 256 + 16, used = 0;
    char *doc = malloc(cap);
    if (!doc) die("out of memory (document)");
    doc[used++] = '[';
    for (long i = 0; i < n; i++) {
        if (i) doc[used++] = ',';
        used += (size_t)gen_record(doc + used, cap - used, (uint32_t)i);
    }
    doc[used++] = ']';
    doc[used] = '\0';
    *len = used;
    return doc;
}

/* zlib's crc32: the script checks its document with zlib.crc32. */
static uint32_t crc32_of(const char *p, size_t n) {
    uint32_t table[256];
    for (uint32_t k = 0; k < 256; k++) {
        uint32_t c = k;
        for (int b = 0; b < 8; b++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[k] = c;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ (uint8_t)p[i]) & 0xFFu] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

/* Collections run so far: of every generation, or full ones only. */
static uint64_t total_collections(int full_only) {
    pm_gc_generation_stats st[3];
    pm_gc_get_stats(st);
    if (full_only) return st[2].collections;
    return st[0].collections + st[1].collections + st[2].collections;
}

/* What the collections of one load cost, measured from inside: the CPU
 * time between each collection's "start" and "stop" callbacks. */
typedef struct load_stats {
    double t;           /* the load, collections included */
    double in_gc, mark; /* CPU time inside collections; start of the current one */
    uint64_t ncoll, nfull;
} load_stats;

static void on_collection(const char *phase, const pm_gc_info *info, void *arg) {
    load_stats *ls = arg;
    (void)info;
    if (phase[2] == 'a') /* "start" */
        ls->mark = now_s();
    else ls->in_gc += now_s() - ls->mark;
}

/* One load from a clean state (no garbage, counts zero, the pacing as a
 * fresh process has it: adaptive unless `fixed`, CPython's schedule). */
static load_stats timed_load(const char *doc, size_t len, int gc_on, int fixed) {
    pm_json_error err;
    load_stats ls = {0, 0, 0, 0, 0};
    pm_gc_collect(2);
    pm_gc_set_adaptive(!fixed);
    uint64_t c0 = total_collections(0), f0 = total_collections(1);
    pm_gc_callback_add(on_collection, &ls);
    if (gc_on) pm_gc_enable();
    double t0 = now_s();
    pm_object *o = pm_json_loads(doc, len, 0, &err);
    ls.t = now_s() - t0;
    pm_gc_disable();
    pm_gc_callback_remove(on_collection, &ls);
    if (!o) {
        fprintf(stderr, "pymm-bench-gc-pymm: json: line %zu col %zu: %s\n", err.line, err.col,
                err.message);
        exit(1);
    }
    ls.ncoll = total_collections(0) - c0;
    ls.nfull = total_collections(1) - f0;
    pm_decref(o);
    return ls;
}

/* The loads of one process, by repetition: with the collector on (its
 * time, its own time inside, their ratio), off, and on with CPython's
 * schedule. */
typedef struct json_reps {
    double *on, *in_gc, *direct, *off, *fixed;
    uint64_t ncoll, nfull; /* of the last load with it on: equal in every one */
} json_reps;

/* Medians of the repetitions. gc_share_direct is the median of the
 * per-load shares collector / load (the script computes it the same way);
 * gc_share compares the medians of two sets of loads. */
static void emit_json(const char *case_name, json_reps *jr, int reps) {
    int t0, t1, t2;
    pm_gc_get_threshold(&t0, &t1, &t2);
    double on = median_of(jr->on, reps), off = median_of(jr->off, reps);
    double fixed = median_of(jr->fixed, reps);
    emit(case_name, "gc_share_direct", median_of(jr->direct, reps), "%");
    emit(case_name, "gc_share", 100.0 * (on - off) / on, "%");
    /* For the record: pymm with CPython's exact schedule (no pacing). */
    emit(case_name, "gc_share_cpython_schedule", 100.0 * (fixed - off) / fixed, "%");
    emit(case_name, "load_gc_on_s", on, "s");
    emit(case_name, "load_gc_off_s", off, "s");
    emit(case_name, "collector_s", median_of(jr->in_gc, reps), "s");
    emit(case_name, "collections", (double)jr->ncoll, "collections");
    emit(case_name, "full_collections", (double)jr->nfull, "collections");
    emit(case_name, "threshold0", t0, "allocations");
}

/* reps runs of (collector on, collector off, on with CPython's schedule),
 * alternating so that a slow period of the machine does not fall on one
 * mode only; the median of each. */
static void case_json(const char *case_name, long n, int reps) {
    size_t len;
    char *doc = gen_doc(n, &len);
    check(case_name, "bytes", (double)len);
    check(case_name, "crc32", crc32_of(doc, len));
    json_reps jr = {times_array(reps),
                    times_array(reps),
                    times_array(reps),
                    times_array(reps),
                    times_array(reps),
                    0,
                    0};
    for (int r = 0; r < reps; r++) {
        load_stats ls = timed_load(doc, len, 1, 0);
        jr.on[r] = ls.t;
        jr.in_gc[r] = ls.in_gc;
        jr.direct[r] = 100.0 * ls.in_gc / ls.t;
        jr.ncoll = ls.ncoll;
        jr.nfull = ls.nfull;
        jr.off[r] = timed_load(doc, len, 0, 0).t;
        jr.fixed[r] = timed_load(doc, len, 1, 1).t;
    }
    pm_gc_set_adaptive(1);
    emit_json(case_name, &jr, reps);
    free(jr.on), free(jr.in_gc), free(jr.direct), free(jr.off), free(jr.fixed);
    free(doc);
}

/* ------------------------------------------------------------------------ */
/* (f) bytes per tracked object                                             */
/* ------------------------------------------------------------------------ */

static uint64_t heap_bytes(void) {
    pm_heap_stats st;
    pm_heap_get_stats(pm_runtime_heap(pm_runtime_current()), &st);
    return st.bytes_in_use + st.large_bytes;
}

/* Heap bytes per instance of t over n live instances (their pointer array
 * comes from malloc, outside pymm's heap). */
static double bytes_per_instance(pm_type *t, long n) {
    pm_object **v = malloc((size_t)n * sizeof *v);
    if (!v) die("out of memory");
    pm_runtime_clear_freelists(pm_runtime_current());
    uint64_t before = heap_bytes();
    for (long i = 0; i < n; i++) {
        v[i] = pm_object_new(t);
        if (!v[i]) die("pm_object_new");
    }
    double per = (double)(heap_bytes() - before) / (double)n;
    for (long i = 0; i < n; i++) pm_decref(v[i]);
    free(v);
    return per;
}

/* header-bytes: an empty GC type (basicsize = the 16-byte header, no
 * payload), so every byte measured is header or rounding (pymm has no gc
 * head; its collector's address maps, about 3 bits per 16 bytes of
 * address, are raw memory outside the heap measured here); the request
 * (16) is a size class, so rounding is 0. node-bytes: the benchmark's
 * node (8-byte payload: 24 bytes requested, a 32-byte block). */
static void case_header(const char *case_name, long n) {
    pm_type *empty = make_type("Empty", sizeof(pm_object), 0);
    double per = bytes_per_instance(empty, n);
    emit(case_name, "bytes", per, "B");
    emit(case_name, "requested_bytes", (double)sizeof(pm_object), "B");
    per = bytes_per_instance(node_type, n);
    emit("node-bytes", "bytes", per, "B");
    emit("node-bytes", "requested_bytes", (double)sizeof(node), "B");
    pm_decref(PM_OBJ(empty));
}

/* ------------------------------------------------------------------------ */

static long parse_long(const char *s, const char *what) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "pymm-bench-gc-pymm: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

static int run_case(const char *c, long n, int reps, long aux) {
    if (strcmp(c, "pairs") == 0) case_garbage(c, n, reps, build_garbage_pairs);
    else if (strcmp(c, "selfref-lists") == 0) case_garbage(c, n, reps, build_selfref_lists);
    else if (strcmp(c, "live-full") == 0) case_live_full(c, n, reps);
    else if (strncmp(c, "young-pause-", 12) == 0) case_young(c, n, reps, aux);
    else if (strcmp(c, "json-load") == 0) case_json(c, n, reps);
    else if (strcmp(c, "header-bytes") == 0) case_header(c, n);
    else return 2;
    emit(c, "peak_rss_kb", (double)peak_rss_kb(), "KiB");
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: pymm-bench-gc-pymm CASE N REPS AUX (normally run by "
                        "`pymm bench gc`; see bench/README.md)\n");
        return 2;
    }
    long n = parse_long(argv[2], "N"), reps = parse_long(argv[3], "REPS");
    long aux = parse_long(argv[4], "AUX");
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "pymm-bench-gc-pymm: REPS must be 1..10000\n");
        return 2;
    }
    pm_gc_disable();  /* graphs are built with automatic collection off */
    pm_gc_collect(2); /* start empty, as the script does */
    node_type = make_type("Node", sizeof(node), 1);
    int rc = run_case(argv[1], n, (int)reps, aux);
    if (rc == 2) fprintf(stderr, "pymm-bench-gc-pymm: unknown case '%s'\n", argv[1]);
    return rc;
}
