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
 * Timed cases run in interleaved rounds (every timed case of both impls,
 * then again); a figure is the median over the rounds, with its spread, and
 * a ratio the median of the per-round ratios (pmb_report.h).
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
 * is timed (timed cases run in every round, the others in the first only).
 * --quick keeps every N at a quarter or more and cuts repetitions. */
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
#define ROUNDS_QUICK 3
#define ROUNDS_FULL 7

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

/* What --cases and --impls may name. */
static const char *const CASE_NAMES[] = {
    "pairs",          "selfref-lists", "live-full",    "young-pause-100k",
    "young-pause-1m", "json-load",     "header-bytes", NULL};

typedef struct gc_ctx {
    pmb_options opt;
    int rounds; /* of the timed cases */
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

/* round: the sample's round, or -1 for a case run once (one value). Each
 * process reports its own collector shares (gc_share, gc_share_direct), so
 * that they are per round like every other sample. */
static int take_output(gc_ctx *cx, const char *impl, const char *text, int round) {
    int count = 0;
    for (const char *line = text; line && *line;) {
        size_t len = strcspn(line, "\n");
        if (strncmp(line, "PMB ", 4) == 0)
            count += pmb_records_take_line(&cx->recs, impl, line, round);
        else if (strncmp(line, "PMB-CHECK ", 10) == 0) take_check(cx, impl, line);
        else if (strncmp(line, "PMB-NOTE ", 9) == 0)
            pmb_note(&cx->notes, "%.*s", (int)(len - 9), line + 9);
        else if (strncmp(line, "PMB-INFO ", 9) == 0) take_info(cx, line);
        line = line[len] ? line + len + 1 : NULL;
    }
    return count;
}

/* "WORKER CASE N REPS AUX" or "python3 SCRIPT CASE N REPS AUX". */
static void run_impl(gc_ctx *cx, int impl, const gc_case *c, int round) {
    char n[24], reps[16], aux[24];
    snprintf(n, sizeof n, "%ld", cx->opt.quick ? c->n_quick : c->n_full);
    snprintf(reps, sizeof reps, "%d", cx->opt.quick ? c->reps_quick : c->reps_full);
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
    pmb_progress("%-17s %-8s N=%s reps=%s round %d/%d", c->name, IMPL_NAMES[impl], n, reps,
                 round + 1, c->timed ? cx->rounds : 1);
    int rc = pmb_run(argv, NULL, 0, 0, &ch);
    int got = ch.out ? take_output(cx, IMPL_NAMES[impl], ch.out, c->timed ? round : -1) : 0;
    pmb_note_worker(&cx->notes, c->name, IMPL_NAMES[impl], rc, ch.term_signal, ch.exit_code, got);
    pmb_child_release(&ch);
}

/* ------------------------------------------------------------------------ */
/* The measurements table                                                   */
/* ------------------------------------------------------------------------ */

static const pmb_record *rec(const gc_ctx *cx, const char *case_name, int impl,
                             const char *metric) {
    return pmb_records_find(&cx->recs, case_name, IMPL_NAMES[impl], metric);
}

/* The figure (the median over the rounds, or the one value), NAN if none. */
static double value_of(const gc_ctx *cx, const char *case_name, int impl, const char *metric) {
    const pmb_record *r = rec(cx, case_name, impl, metric);
    return r ? r->value : NAN;
}

/* The median of the per-round ratios pymm / python3 of a metric. */
static pmb_spread ratio_of(const gc_ctx *cx, const char *case_name, const char *metric) {
    return pmb_ratio_spread(rec(cx, case_name, GC_PYMM, metric),
                            rec(cx, case_name, GC_PYTHON3, metric));
}

/* A cell by unit, "median (min–max)": rates in millions, times and bytes
 * with decimals, counts whole. */
static void print_value(const char *unit, const pmb_record *r) {
    char buf[128];
    pmb_spread s = pmb_record_spread(r);
    const char *fmt = "%.0f";
    if (strcmp(unit, "objects/s") == 0) {
        s.median /= 1e6, s.min /= 1e6, s.max /= 1e6;
        fmt = "%.2f M";
    } else if (strcmp(unit, "ms") == 0 || strcmp(unit, "s") == 0) {
        fmt = "%.3f";
    } else if (strcmp(unit, "%") == 0 || strcmp(unit, "B") == 0) {
        fmt = "%.1f";
    }
    pmb_format_spread(buf, sizeof buf, fmt, s);
    printf(" %s |", buf);
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

/* How a metric is labeled: the difference-based share says so. */
static const char *metric_label(const char *metric) {
    if (strcmp(metric, "gc_share") == 0) return "gc_share, (on - off) / on";
    if (strcmp(metric, "gc_share_direct") == 0) return "gc_share_direct, collector / load";
    return metric;
}

static void print_row(const gc_ctx *cx, const pmb_record *r) {
    const pmb_record *a = rec(cx, r->case_name, GC_PYMM, r->metric);
    const pmb_record *b = rec(cx, r->case_name, GC_PYTHON3, r->metric);
    char buf[128];
    printf("| %s | %s (%s) |", r->case_name, metric_label(r->metric), r->unit);
    print_value(r->unit, a);
    print_value(r->unit, b);
    /* A share can be negative (noise): no ratio of those either. */
    if (!a || !b || a->value <= 0 || is_setup(r->unit) || strcmp(r->unit, "%") == 0) {
        printf(" |\n");
        return;
    }
    pmb_format_spread(buf, sizeof buf, "%.2fx", ratio_of(cx, r->case_name, r->metric));
    printf(" %s |\n", buf);
}

static void print_case_rows(const gc_ctx *cx, const char *case_name) {
    for (size_t i = 0; i < cx->recs.n; i++) {
        const pmb_record *r = &cx->recs.v[i];
        if (strcmp(r->case_name, case_name) == 0 && !seen_before(cx, i, r->metric))
            print_row(cx, r);
    }
}

static void print_measurements(const gc_ctx *cx) {
    printf("### Measurements\n\n| case | metric | pymm | python3 | pymm / python3, per round |\n"
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

/* (a)-(c): pymm's objects per second over CPython's, at least 3x: the
 * median of the per-round ratios, with their range. */
static void target_rate(const gc_ctx *cx, const char *case_name) {
    char r[64], a[32], b[32];
    double pm = value_of(cx, case_name, GC_PYMM, "objects_per_s");
    double py = value_of(cx, case_name, GC_PYTHON3, "objects_per_s");
    pmb_spread s = ratio_of(cx, case_name, "objects_per_s");
    pmb_format_spread(r, sizeof r, "%.2fx", s);
    printf("| %s: objects/s, pymm / python3 | %s (%s vs %s) | >= 3x | %s |\n", case_name, r,
           num(a, sizeof a, "%.2f M", pm / 1e6), num(b, sizeof b, "%.2f M", py / 1e6),
           within(s.n ? s.median : NAN, 3.0, 1));
}

/* The pause with 1,000,000 old objects (median over the rounds) and its
 * growth from 100,000: the median of the per-round ratios of pymm's. */
static void target_pause(const gc_ctx *cx) {
    char a[64], b[32], c[64];
    const pmb_record *p1m = rec(cx, "young-pause-1m", GC_PYMM, "pause_ms");
    const pmb_record *p100k = rec(cx, "young-pause-100k", GC_PYMM, "pause_ms");
    pmb_spread s = pmb_record_spread(p1m);
    pmb_format_spread(a, sizeof a, "%.3f ms", s);
    printf("| young pause with 1,000,000 old objects (pymm) | %s (python3 %s) | <= 1 ms | %s |\n",
           a, num(b, sizeof b, "%.3f ms", value_of(cx, "young-pause-1m", GC_PYTHON3, "pause_ms")),
           within(s.n ? s.median : NAN, 1.0, 0));
    pmb_spread g = pmb_ratio_spread(p1m, p100k);
    pmb_format_spread(a, sizeof a, "%.2fx", g);
    printf("| young pause, 1,000,000 / 100,000 old objects (pymm), per round | %s (%s / %s) | "
           "<= 1.5x | %s |\n",
           a, num(b, sizeof b, "%.3f", s.n ? s.median : NAN),
           num(c, sizeof c, "%.3f ms", p100k ? p100k->value : NAN),
           within(g.n ? g.median : NAN, 1.5, 0));
}

/* Judged on the direct share (the collector's own time inside the load,
 * from the start/stop callbacks): the difference of two loads is smaller
 * than its noise. */
static void target_json(const gc_ctx *cx) {
    char a[64], b[64];
    pmb_spread pm = pmb_record_spread(rec(cx, "json-load", GC_PYMM, "gc_share_direct"));
    pmb_spread py = pmb_record_spread(rec(cx, "json-load", GC_PYTHON3, "gc_share_direct"));
    pmb_format_spread(a, sizeof a, "%.1f%%", pm);
    pmb_format_spread(b, sizeof b, "%.1f%%", py);
    printf("| json-load: the collector's share of the load time, collector_s / load (pymm) | "
           "%s (python3 %s) | <= 5%% | %s |\n",
           a, b, within(pm.n ? pm.median : NAN, 5.0, 0));
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
        printf("%s %s %ld x %d", i ? "," : "", c->name, cx->opt.quick ? c->n_quick : c->n_full,
               cx->opt.quick ? c->reps_quick : c->reps_full);
        if (c->aux) young = c->aux;
    }
    printf(". Each young collection sees %ld young objects.\n\n", young);
}

static void print_header(const gc_ctx *cx, double elapsed_s) {
    char host[320];
    pmb_host_description(host, sizeof host);
    pmb_print_title("gc", cx->opt.quick);
    printf("Host: %s. python3: CPython %s. Suite time: %.0f s.\n\n", host,
           cx->python_version[0] ? cx->python_version : "?", elapsed_s);
    printf("**%d rounds.** Every timed case runs in a fresh process per impl and round, the "
           "rounds interleaved (every timed case of both impls, then again); header-bytes runs "
           "once. A timed cell is the **median over the rounds (min\xe2\x80\x93max)**, the "
           "last column the **median of the per-round ratios** pymm / python3 (min\xe2\x80\x93"
           "max). The same graph shapes in both (bench/README.md). Times are CPU time of the "
           "thread (CLOCK_THREAD_CPUTIME_ID; time.thread_time in Python). objects_per_s: "
           "tracked objects in the collection / time of pm_gc_collect(2) or gc.collect(), "
           "freeing included, median of the repetitions in the process. pause_ms: median of "
           "the young collections. gc_share_direct: the collector's own time in the load "
           "(start/stop callbacks) / the load, median of the loads (the target is judged on "
           "it); gc_share: (load with the collector on - load with it off) / on, from the "
           "medians of the process's loads. bytes: heap blocks per instance (pymm's heap "
           "statistics; tracemalloc rounded to pymalloc's 16-byte classes). peak_rss_kb: the "
           "child's VmHWM. For objects_per_s a ratio above 1 means pymm is faster, for "
           "everything else below 1 means pymm is smaller or faster.\n\n",
           cx->rounds);
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
    "usage: pymm bench gc [--quick] [--json FILE] [--rounds N] [--cases LIST] [--impls LIST]\n"
    "  --quick        smaller graphs (a quarter), fewer repetitions and rounds (3, not 7)\n"
    "  --json FILE    also write the records as JSON to FILE (samples by round)\n"
    "  --rounds N     interleaved rounds of the timed cases (1..64)\n"
    "  --cases LIST   only these cases (comma-separated names or prefixes): pairs,\n"
    "                 selfref-lists, live-full, young-pause-100k, young-pause-1m,\n"
    "                 json-load, header-bytes\n"
    "  --impls LIST   only these impls (pymm, python3); pymm always runs\n"
    "A timed figure is the median over the rounds (min-max); a ratio the median of the\n"
    "per-round ratios. See bench/README.md (section gc) for the cases.\n";

static int parse_options(gc_ctx *cx, int argc, char **argv) {
    static const char *const impls[] = {"pymm", "python3", NULL};
    int rc = pmb_parse_options("gc", USAGE, argc, argv, CASE_NAMES, impls, &cx->opt);
    cx->rounds = pmb_option_rounds(&cx->opt, cx->opt.quick ? ROUNDS_QUICK : ROUNDS_FULL);
    return rc;
}

static void run_cases(gc_ctx *cx) {
    for (int round = 0; round < cx->rounds; round++) {
        for (size_t i = 0; i < NUM_CASES; i++) {
            const gc_case *c = &CASES[i];
            if (!pmb_option_case(&cx->opt, c->name) || (round > 0 && !c->timed)) continue;
            /* Each round starts with the other impl: neither always runs
             * first after the other's large process. */
            for (int k = 0; k < GC_NUM_IMPLS; k++) {
                int impl = (k + round) % GC_NUM_IMPLS;
                if (cx->have[impl] && pmb_option_impl(&cx->opt, IMPL_NAMES[impl]))
                    run_impl(cx, impl, c, round);
            }
        }
    }
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
    pmb_pin_noted(&cx->notes);
    double t0 = pmb_monotonic_s();
    find_pymm(cx);
    find_python3(cx);
    run_cases(cx);
    pmb_verify_checks(&cx->checks, &cx->notes);
    pmb_note_unmatched_cases(&cx->opt, &cx->recs, &cx->notes);
    print_header(cx, pmb_monotonic_s() - t0);
    print_measurements(cx);
    print_targets(cx);
    fflush(stdout);

    rc = pmb_suite_status(&cx->recs, "gc", cx->opt.json_path,
                          pmb_records_have_impl(&cx->recs, IMPL_NAMES[GC_PYMM]));
    pmb_records_free(&cx->recs);
    pmb_records_free(&cx->checks);
    pmb_notes_free(&cx->notes);
    free(cx);
    return rc;
}
