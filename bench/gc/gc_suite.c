/*
 * gc_suite.c -- the `gc` suite: pymm's cycle collector side by side with
 * CPython's on the same graph shapes (bench/README.md, section gc):
 *   pairs, selfref-lists, live-full   objects per second of a full collection
 *   young-pause-100k, young-pause-1m  the pause of a young collection
 *   json-load                         the collector's share of a JSON load
 *   header-bytes (and node-bytes)     bytes per tracked object
 * Every case runs in a fresh process per impl: the worker pymm-bench-gc-pymm
 * (gc_worker.c, found by pmb_workers_dir) and the real python3 running
 * bench/scripts/gc_bench.py, with the same arguments "CASE N REPS AUX" from
 * the table below, so the sizes live in one place. Children print
 * "PMB case metric value unit" (records), "PMB-CHECK case what value"
 * (results both must share: compared here), "PMB-NOTE text" and
 * "PMB-INFO key value". The report is Markdown on stdout: the measurements,
 * then the targets, target next to measured (never enforced).
 */
#define _GNU_SOURCE
#include "pmb_proc.h"
#include "pmb_report.h"
#include "pmb_suites.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { GC_PYMM, GC_PYTHON3, GC_NUM_IMPLS };
static const char *const IMPL_NAMES[GC_NUM_IMPLS] = {"pymm", "python3"};

/* One case: its size N and repetitions REPS in a full and a --quick run,
 * AUX (young objects per young collection; 0 when unused), and whether it
 * is timed (timed cases run in ROUNDS processes per impl). --quick keeps
 * every N at a quarter or more and cuts repetitions. */
typedef struct gc_case {
    const char *name;
    long n_full, n_quick;
    int reps_full, reps_quick;
    long aux;
    int timed;
} gc_case;

/* Processes per impl for a timed case, round after round (every case of
 * both impls, then again), so that a slow period of the shared machine
 * spoils one sample of each rather than every sample of one. */
#define ROUNDS 2

static const gc_case CASES[] = {
    {"pairs", 1000000, 250000, 5, 3, 0, 1},
    {"selfref-lists", 1000000, 250000, 5, 3, 0, 1},
    {"live-full", 1000000, 250000, 5, 3, 0, 1},
    {"young-pause-100k", 100000, 100000, 51, 21, 2000, 1},
    {"young-pause-1m", 1000000, 1000000, 51, 21, 2000, 1},
    {"json-load", 200000, 50000, 5, 3, 0, 1},
    /* Exact at any size; tracemalloc needs ~600 bytes per traced block. */
    {"header-bytes", 100000, 100000, 1, 1, 0, 0},
};
#define NUM_CASES (sizeof CASES / sizeof CASES[0])

typedef struct gc_ctx {
    int quick;
    const char *json_path;
    int have[GC_NUM_IMPLS];
    char exe[GC_NUM_IMPLS][PATH_MAX]; /* the worker; the python3 interpreter */
    char script[PATH_MAX];
    char python_version[32]; /* from the script's PMB-INFO        */
    long getsizeof_empty;    /* sys.getsizeof of an empty instance */
    pmb_records recs;        /* the measurements (the JSON output) */
    pmb_records checks;      /* compared between the impls         */
    pmb_notes notes;
} gc_ctx;

/* ------------------------------------------------------------------------ */
/* Finding the impls                                                        */
/* ------------------------------------------------------------------------ */

static void find_pymm(gc_ctx *cx) {
    char dir[PATH_MAX];
    cx->have[GC_PYMM] =
        pmb_workers_dir(dir, sizeof dir) == 0 &&
        pmb_path(cx->exe[GC_PYMM], sizeof cx->exe[GC_PYMM], dir, "pymm-bench-gc-pymm", "") == 0 &&
        pmb_is_executable(cx->exe[GC_PYMM]);
    if (!cx->have[GC_PYMM])
        pmb_note(&cx->notes, "pymm skipped: pymm-bench-gc-pymm not found in the workers' "
                             "directory, LIBEXECDIR/pymm or the pymm command's own "
                             "(bench/gc/gc.cmake builds and installs it)");
}

/* The python3 resolved at configure time (never the pyenv shim), and the
 * script; either missing skips the python3 column. */
static void find_python3(gc_ctx *cx) {
    const char *py = pmb_python3_path();
    snprintf(cx->exe[GC_PYTHON3], sizeof cx->exe[GC_PYTHON3], "%s", py);
    int have_script = 0;
    if (pmb_path(cx->script, sizeof cx->script, pmb_scripts_dir(), "gc_bench", ".py") == 0) {
        FILE *probe = fopen(cx->script, "r");
        have_script = probe != NULL;
        if (probe) fclose(probe);
    }
    cx->have[GC_PYTHON3] = *py && pmb_is_executable(py) && have_script;
    if (!*py || !pmb_is_executable(py))
        pmb_note(&cx->notes,
                 "python3 skipped: '%s' is no executable (python3 as found at "
                 "configure time, or PYMM_BENCH_PYTHON3)",
                 py);
    else if (!have_script)
        pmb_note(&cx->notes, "python3 skipped: %s not found (set PYMM_BENCH_SCRIPTS)", cx->script);
}

/* ------------------------------------------------------------------------ */
/* Running one child                                                        */
/* ------------------------------------------------------------------------ */

/* A value measured by an earlier process of the same impl keeps the best
 * of the two: the larger rate, the smaller of anything else (times, peak
 * RSS; counts are equal anyway). */
static int take_record(gc_ctx *cx, const char *impl, const char *line) {
    char case_name[48], metric[32], unit[16];
    double value;
    if (sscanf(line, "PMB %47s %31s %lf %15s", case_name, metric, &value, unit) != 4) return 0;
    const pmb_record *old = pmb_records_find(&cx->recs, case_name, impl, metric);
    if (old && (strcmp(unit, "objects/s") == 0 ? old->value > value : old->value < value))
        value = old->value;
    return pmb_records_add(&cx->recs, case_name, impl, metric, value, unit) == 0;
}

/* The collector's share from the best load with it on and the best with it
 * off over all processes (each process reports its own share; the merged
 * times would not match it). */
static void derive_gc_share(gc_ctx *cx) {
    for (int impl = 0; impl < GC_NUM_IMPLS; impl++) {
        const char *name = IMPL_NAMES[impl];
        const pmb_record *on = pmb_records_find(&cx->recs, "json-load", name, "load_gc_on_s");
        const pmb_record *off = pmb_records_find(&cx->recs, "json-load", name, "load_gc_off_s");
        if (on && off && on->value > 0)
            pmb_records_add(&cx->recs, "json-load", name, "gc_share",
                            100.0 * (on->value - off->value) / on->value, "%");
    }
}

static void take_check(gc_ctx *cx, const char *impl, const char *line) {
    char case_name[48], what[32];
    double value;
    if (sscanf(line, "PMB-CHECK %47s %31s %lf", case_name, what, &value) == 3)
        pmb_records_add(&cx->checks, case_name, impl, what, value, "");
}

static void take_info(gc_ctx *cx, const char *line) {
    char key[32], value[32];
    if (sscanf(line, "PMB-INFO %31s %31s", key, value) != 2) return;
    if (strcmp(key, "python") == 0)
        snprintf(cx->python_version, sizeof cx->python_version, "%s", value);
    else if (strcmp(key, "getsizeof_empty") == 0) cx->getsizeof_empty = strtol(value, NULL, 10);
}

static int take_output(gc_ctx *cx, const char *impl, const char *text) {
    int count = 0;
    for (const char *line = text; line && *line;) {
        size_t len = strcspn(line, "\n");
        if (strncmp(line, "PMB ", 4) == 0) count += take_record(cx, impl, line);
        else if (strncmp(line, "PMB-CHECK ", 10) == 0) take_check(cx, impl, line);
        else if (strncmp(line, "PMB-NOTE ", 9) == 0)
            pmb_note(&cx->notes, "%.*s", (int)(len - 9), line + 9);
        else if (strncmp(line, "PMB-INFO ", 9) == 0) take_info(cx, line);
        line = line[len] ? line + len + 1 : NULL;
    }
    return count;
}

/* "WORKER CASE N REPS AUX" or "python3 SCRIPT CASE N REPS AUX". */
static void run_impl(gc_ctx *cx, int impl, const gc_case *c) {
    char n[24], reps[16], aux[24];
    snprintf(n, sizeof n, "%ld", cx->quick ? c->n_quick : c->n_full);
    snprintf(reps, sizeof reps, "%d", cx->quick ? c->reps_quick : c->reps_full);
    snprintf(aux, sizeof aux, "%ld", c->aux);
    char *argv[8];
    int k = 0;
    argv[k++] = cx->exe[impl];
    if (impl == GC_PYTHON3) argv[k++] = cx->script;
    argv[k++] = (char *)c->name;
    argv[k++] = n;
    argv[k++] = reps;
    argv[k++] = aux;
    argv[k] = NULL;

    pmb_child ch;
    pmb_progress("%-17s %-8s N=%s reps=%s", c->name, IMPL_NAMES[impl], n, reps);
    int rc = pmb_run(argv, NULL, 0, 0, &ch);
    int got = ch.out ? take_output(cx, IMPL_NAMES[impl], ch.out) : 0;
    pmb_note_worker(&cx->notes, c->name, IMPL_NAMES[impl], rc, ch.term_signal, ch.exit_code, got);
    pmb_child_release(&ch);
}

/* ------------------------------------------------------------------------ */
/* The measurements table                                                   */
/* ------------------------------------------------------------------------ */

static double value_of(const gc_ctx *cx, const char *case_name, int impl, const char *metric) {
    const pmb_record *r = pmb_records_find(&cx->recs, case_name, IMPL_NAMES[impl], metric);
    return r ? r->value : NAN;
}

/* A cell by unit: rates in millions, times and bytes with decimals,
 * counts whole. */
static void print_value(const char *unit, double v) {
    if (isnan(v)) printf(" n/a |");
    else if (strcmp(unit, "objects/s") == 0) printf(" %.2f M |", v / 1e6);
    else if (strcmp(unit, "ms") == 0 || strcmp(unit, "s") == 0) printf(" %.3f |", v);
    else if (strcmp(unit, "%") == 0 || strcmp(unit, "B") == 0) printf(" %.1f |", v);
    else printf(" %.0f |", v);
}

/* Whether record i repeats the case (metric NULL) or the (case, metric)
 * of an earlier record: the table follows the order in which the children
 * reported, grouped by case. */
static int seen_before(const gc_ctx *cx, size_t i, const char *metric) {
    const pmb_record *r = &cx->recs.v[i];
    for (size_t j = 0; j < i; j++) {
        const pmb_record *q = &cx->recs.v[j];
        if (strcmp(q->case_name, r->case_name) == 0 && (!metric || strcmp(q->metric, metric) == 0))
            return 1;
    }
    return 0;
}

/* Counts that describe the set-up (graph sizes, thresholds) get no ratio. */
static int is_setup(const char *unit) {
    return strcmp(unit, "objects") == 0 || strcmp(unit, "allocations") == 0;
}

static void print_row(const gc_ctx *cx, const pmb_record *r) {
    double a = value_of(cx, r->case_name, GC_PYMM, r->metric);
    double b = value_of(cx, r->case_name, GC_PYTHON3, r->metric);
    printf("| %s | %s (%s) |", r->case_name, r->metric, r->unit);
    print_value(r->unit, a);
    print_value(r->unit, b);
    if (isnan(a) || isnan(b) || b <= 0 || a < 0 || is_setup(r->unit)) printf(" |\n");
    else printf(" %.2fx |\n", a / b);
}

static void print_case_rows(const gc_ctx *cx, const char *case_name) {
    for (size_t i = 0; i < cx->recs.n; i++) {
        const pmb_record *r = &cx->recs.v[i];
        if (strcmp(r->case_name, case_name) == 0 && !seen_before(cx, i, r->metric))
            print_row(cx, r);
    }
}

static void print_measurements(const gc_ctx *cx) {
    printf("### Measurements\n\n| case | metric | pymm | python3 | pymm / python3 |\n"
           "|---|---|--:|--:|--:|\n");
    for (size_t i = 0; i < cx->recs.n; i++) {
        if (!seen_before(cx, i, NULL)) print_case_rows(cx, cx->recs.v[i].case_name);
    }
    printf("\n");
}

/* ------------------------------------------------------------------------ */
/* Targets                                                                  */
/* ------------------------------------------------------------------------ */

static const char *within(double measured, double goal, int at_least) {
    if (isnan(measured) || isnan(goal)) return "n/a";
    return (at_least ? measured >= goal : measured <= goal) ? "yes" : "no";
}

/* v printed with fmt (one double), or "n/a" when it was not measured. */
static const char *num(char *buf, size_t len, const char *fmt, double v) {
    if (isnan(v)) snprintf(buf, len, "n/a");
    else snprintf(buf, len, fmt, v);
    return buf;
}

/* (a)-(c): pymm's objects per second over CPython's, at least 3x. */
static void target_rate(const gc_ctx *cx, const char *case_name) {
    char r[32], a[32], b[32];
    double pm = value_of(cx, case_name, GC_PYMM, "objects_per_s");
    double py = value_of(cx, case_name, GC_PYTHON3, "objects_per_s");
    printf("| %s: objects/s, pymm / python3 | %s (%s vs %s) | >= 3x | %s |\n", case_name,
           num(r, sizeof r, "%.2fx", pm / py), num(a, sizeof a, "%.2f M", pm / 1e6),
           num(b, sizeof b, "%.2f M", py / 1e6), within(pm / py, 3.0, 1));
}

static void target_pause(const gc_ctx *cx) {
    char a[32], b[32], c[32];
    double p1m = value_of(cx, "young-pause-1m", GC_PYMM, "pause_ms");
    double p100k = value_of(cx, "young-pause-100k", GC_PYMM, "pause_ms");
    double py = value_of(cx, "young-pause-1m", GC_PYTHON3, "pause_ms");
    printf("| young pause with 1,000,000 old objects (pymm) | %s (python3 %s) | <= 1 ms | %s |\n",
           num(a, sizeof a, "%.3f ms", p1m), num(b, sizeof b, "%.3f ms", py), within(p1m, 1.0, 0));
    printf("| young pause, 1,000,000 / 100,000 old objects (pymm) | %s (%s / %s) | <= 1.5x | "
           "%s |\n",
           num(a, sizeof a, "%.2fx", p1m / p100k), num(b, sizeof b, "%.3f", p1m),
           num(c, sizeof c, "%.3f ms", p100k), within(p1m / p100k, 1.5, 0));
}

static void target_json(const gc_ctx *cx) {
    char a[32], b[32];
    double pm = value_of(cx, "json-load", GC_PYMM, "gc_share");
    double py = value_of(cx, "json-load", GC_PYTHON3, "gc_share");
    printf("| json-load: the collector's share of the load time (pymm) | %s (python3 %s) | "
           "<= 5%% | %s |\n",
           num(a, sizeof a, "%.1f%%", pm), num(b, sizeof b, "%.1f%%", py), within(pm, 5.0, 0));
}

/* Goal: no more than CPython's measured bytes; stretch: 16. */
static void target_header(const gc_ctx *cx) {
    char a[32], b[32];
    double pm = value_of(cx, "header-bytes", GC_PYMM, "bytes");
    double py = value_of(cx, "header-bytes", GC_PYTHON3, "bytes");
    printf("| header bytes per tracked object (pymm) | %s (python3 %s) | <= python3 (stretch 16) "
           "| %s; stretch %s |\n",
           num(a, sizeof a, "%.1f", pm), num(b, sizeof b, "%.1f", py), within(pm, py, 0),
           within(pm, 16.0, 0));
}

static void print_targets(const gc_ctx *cx) {
    printf("### Targets of the issue (shown, not enforced)\n\n"
           "| target | measured | goal | within |\n|---|--:|--:|:-:|\n");
    target_rate(cx, "pairs");
    target_rate(cx, "selfref-lists");
    target_rate(cx, "live-full");
    target_pause(cx);
    target_json(cx);
    target_header(cx);
    printf("\n");
}

/* ------------------------------------------------------------------------ */
/* Header                                                                   */
/* ------------------------------------------------------------------------ */

static void print_sizes(const gc_ctx *cx) {
    long young = 0;
    printf("Sizes (N x repetitions):");
    for (size_t i = 0; i < NUM_CASES; i++) {
        const gc_case *c = &CASES[i];
        printf("%s %s %ld x %d", i ? "," : "", c->name, cx->quick ? c->n_quick : c->n_full,
               cx->quick ? c->reps_quick : c->reps_full);
        if (c->aux) young = c->aux;
    }
    printf(". Each young collection sees %ld young objects.\n\n", young);
}

static void print_header(const gc_ctx *cx, double elapsed_s) {
    char host[320];
    pmb_host_description(host, sizeof host);
    pmb_print_title("gc", cx->quick);
    printf("Host: %s. python3: CPython %s. Suite time: %.0f s.\n\n", host,
           cx->python_version[0] ? cx->python_version : "?", elapsed_s);
    printf("Every case runs in a fresh process per impl (%d per timed case, interleaved; the "
           "best value of them), the same graph shapes in both (bench/README.md). Times are CPU "
           "time of the thread (CLOCK_THREAD_CPUTIME_ID; time.thread_time in Python). "
           "objects_per_s: tracked objects in the collection / time of "
           "pm_gc_collect(2) or gc.collect(), freeing included, best of the repetitions. "
           "pause_ms: median of the young collections. gc_share: (load with the collector on "
           "- load with it off) / load with it on, best of each. bytes: heap blocks per "
           "instance (pymm's heap statistics; tracemalloc rounded to pymalloc's 16-byte "
           "classes). peak_rss_kb: the child's VmHWM. The last column is pymm / python3 (for "
           "objects_per_s above 1 means pymm is faster, for everything else below 1 means "
           "pymm is smaller or faster).\n\n",
           ROUNDS);
    print_sizes(cx);
    if (cx->getsizeof_empty)
        printf("sys.getsizeof of an empty `__slots__ = ()` instance: %ld.\n\n",
               cx->getsizeof_empty);
    pmb_notes_print(&cx->notes);
}

/* ------------------------------------------------------------------------ */
/* The suite                                                                */
/* ------------------------------------------------------------------------ */

static const char USAGE[] =
    "usage: pymm bench gc [--quick] [--json FILE]\n"
    "  --quick      smaller graphs (a quarter), fewer repetitions (under a minute)\n"
    "  --json FILE  also write the records as JSON to FILE\n"
    "See bench/README.md (section gc) for the cases.\n";

static int parse_options(gc_ctx *cx, int argc, char **argv) {
    return pmb_parse_options("gc", USAGE, argc, argv, &cx->quick, &cx->json_path);
}

static void run_cases(gc_ctx *cx) {
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < NUM_CASES; i++) {
            for (int impl = 0; impl < GC_NUM_IMPLS; impl++) {
                if (cx->have[impl] && (round == 0 || CASES[i].timed)) run_impl(cx, impl, &CASES[i]);
            }
        }
    }
    derive_gc_share(cx);
}

int pmb_suite_gc(int argc, char **argv) {
    /* Paths per impl: on the heap, not the stack. */
    gc_ctx *cx = calloc(1, sizeof *cx);
    if (!cx) return 1;
    int rc = parse_options(cx, argc, argv);
    if (rc >= 0) {
        free(cx);
        return rc;
    }
    double t0 = pmb_monotonic_s();
    find_pymm(cx);
    find_python3(cx);
    run_cases(cx);
    pmb_verify_checks(&cx->checks, &cx->notes);
    print_header(cx, pmb_monotonic_s() - t0);
    print_measurements(cx);
    print_targets(cx);
    fflush(stdout);

    rc = pmb_suite_status(&cx->recs, "gc", cx->json_path,
                          pmb_records_have_impl(&cx->recs, IMPL_NAMES[GC_PYMM]));
    pmb_records_free(&cx->recs);
    pmb_records_free(&cx->checks);
    pmb_notes_free(&cx->notes);
    free(cx);
    return rc;
}
