/*
 * inspect_suite.c -- the `inspect` suite: issue 15's diagnostics (census,
 * the path to an object at depth 1,000, deep size, every object's retained
 * size, the leak check at exit) side by side with objgraph, gc.get_referrers and sys.getsizeof
 * walks in /usr/bin/python3, on the same graph shapes (bench/README.md,
 * section inspect). Each shape runs in a fresh process per impl and round:
 * the worker pymm-bench-inspect-pymm (inspect_worker.c) and /usr/bin/python3
 * running bench/scripts/inspect_bench.py (Debian's python3-objgraph lives
 * there, not in the python3 the other suites use), with the arguments
 * "SHAPE N REPS" (and the script's time LIMIT). Rounds interleave the
 * impls; a figure is the median over the rounds with its spread, a ratio
 * the median of the per-round ratios (pmb_report.h). The report ends with
 * the targets, shown and never enforced.
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

enum { IN_PYMM, IN_PYTHON3, IN_NUM_IMPLS };
static const char *const IMPL_NAMES[IN_NUM_IMPLS] = {"pymm", "python3"};

#define N_FULL 1000000
#define N_QUICK 200000
#define REPS_FULL 3
#define REPS_QUICK 1
#define ROUNDS_FULL 5
#define ROUNDS_QUICK 3
/* Wall seconds a Python path search may take before it is stopped. */
#define LIMIT_FULL "60"
#define LIMIT_QUICK "10"
#define DEFAULT_PYTHON3 "/usr/bin/python3"

static const char *const CASE_NAMES[] = {"tree", "random", "chain", NULL};
#define NUM_CASES 3

typedef struct in_ctx {
    pmb_options opt;
    int rounds;
    int have[IN_NUM_IMPLS];
    char exe[IN_NUM_IMPLS][PATH_MAX];
    char script[PATH_MAX];
    char python_version[32], objgraph_version[32];
    pmb_records recs, checks;
    pmb_notes notes;
} in_ctx;

/* ---- the impls ------------------------------------------------------------- */

static void find_impls(in_ctx *cx) {
    char dir[PATH_MAX];
    cx->have[IN_PYMM] = pmb_workers_dir(dir, sizeof dir) == 0 &&
                        pmb_path(cx->exe[IN_PYMM], sizeof cx->exe[IN_PYMM], dir,
                                 "pymm-bench-inspect-pymm", "") == 0 &&
                        pmb_is_executable(cx->exe[IN_PYMM]);
    if (!cx->have[IN_PYMM])
        pmb_note(&cx->notes, "pymm skipped: pymm-bench-inspect-pymm not found in the workers' "
                             "directory (bench/inspect/inspect.cmake builds it)");
    const char *py = getenv("PYMM_BENCH_INSPECT_PYTHON3");
    snprintf(cx->exe[IN_PYTHON3], sizeof cx->exe[IN_PYTHON3], "%s",
             py && *py ? py : DEFAULT_PYTHON3);
    int script =
        pmb_path(cx->script, sizeof cx->script, pmb_scripts_dir(), "inspect_bench", ".py") == 0;
    FILE *probe = script ? fopen(cx->script, "r") : NULL;
    if (probe) fclose(probe);
    /* The anchor needs objgraph: ask the interpreter before any round. */
    char *argv[] = {cx->exe[IN_PYTHON3], "-c", "import objgraph", NULL};
    pmb_child ch;
    int ok = pmb_is_executable(cx->exe[IN_PYTHON3]) && probe && pmb_run(argv, NULL, 0, 1, &ch) == 0;
    if (pmb_is_executable(cx->exe[IN_PYTHON3]) && probe) pmb_child_release(&ch);
    cx->have[IN_PYTHON3] = ok;
    if (!ok)
        pmb_note(&cx->notes,
                 "python3 skipped: %s with objgraph and %s are needed (apt-get install "
                 "python3-objgraph; PYMM_BENCH_INSPECT_PYTHON3 names another interpreter)",
                 cx->exe[IN_PYTHON3], cx->script);
}

/* ---- one child ------------------------------------------------------------- */

static void take_line(in_ctx *cx, const char *impl, const char *line, size_t len, int round) {
    char a[48], b[32], c[32];
    double v;
    if (strncmp(line, "PMB ", 4) == 0) {
        pmb_records_take_line(&cx->recs, impl, line, round);
    } else if (sscanf(line, "PMB-CHECK %47s %31s %lf", a, b, &v) == 3) {
        pmb_records_add(&cx->checks, a, impl, b, v, "");
    } else if (strncmp(line, "PMB-NOTE ", 9) == 0) {
        if (round == 0) pmb_note(&cx->notes, "%.*s", (int)(len - 9), line + 9);
    } else if (sscanf(line, "PMB-INFO %31s %31s", b, c) == 2) {
        if (strcmp(b, "python") == 0) snprintf(cx->python_version, 32, "%s", c);
        if (strcmp(b, "objgraph") == 0) snprintf(cx->objgraph_version, 32, "%s", c);
    }
}

static int take_output(in_ctx *cx, const char *impl, const char *text, int round) {
    int count = 0;
    for (const char *line = text; line && *line;) {
        size_t len = strcspn(line, "\n");
        count += strncmp(line, "PMB ", 4) == 0;
        take_line(cx, impl, line, len, round);
        line = line[len] ? line + len + 1 : NULL;
    }
    return count;
}

static void run_impl(in_ctx *cx, int impl, const char *shape, int round) {
    char n[24], reps[16];
    snprintf(n, sizeof n, "%d", cx->opt.quick ? N_QUICK : N_FULL);
    snprintf(reps, sizeof reps, "%d", cx->opt.quick ? REPS_QUICK : REPS_FULL);
    char *argv[8];
    int k = 0;
    argv[k++] = cx->exe[impl];
    if (impl == IN_PYTHON3) argv[k++] = cx->script;
    argv[k++] = (char *)shape;
    argv[k++] = n;
    argv[k++] = reps;
    if (impl == IN_PYTHON3) argv[k++] = cx->opt.quick ? LIMIT_QUICK : LIMIT_FULL;
    argv[k] = NULL;
    pmb_child ch;
    pmb_progress("%-7s %-8s N=%s reps=%s round %d/%d", shape, IMPL_NAMES[impl], n, reps, round + 1,
                 cx->rounds);
    int rc = pmb_run(argv, NULL, 0, 0, &ch);
    int got = ch.out ? take_output(cx, IMPL_NAMES[impl], ch.out, round) : 0;
    pmb_note_worker(&cx->notes, shape, IMPL_NAMES[impl], rc, ch.term_signal, ch.exit_code, got);
    pmb_child_release(&ch);
}

/* ---- the tables ------------------------------------------------------------ */

static const pmb_record *rec(const in_ctx *cx, const char *shape, int impl, const char *metric) {
    return pmb_records_find(&cx->recs, shape, IMPL_NAMES[impl], metric);
}

static void print_cell(const pmb_record *r) {
    char buf[128];
    pmb_spread s = pmb_record_spread(r);
    const char *fmt = "%.0f";
    if (r && strcmp(r->unit, "objects/s") == 0) {
        s.median /= 1e6, s.min /= 1e6, s.max /= 1e6;
        fmt = "%.3f M";
    } else if (r && strcmp(r->unit, "s") == 0) {
        fmt = "%.3f";
    }
    pmb_format_spread(buf, sizeof buf, fmt, s);
    printf(" %s |", buf);
}

/* One row per (shape, metric) in the order reported; the python3 column
 * of pymm's "path" is objgraph's, path_referrers python3's alone. */
static void print_measurements(const in_ctx *cx) {
    printf("### Measurements\n\n| shape | metric | pymm | python3 | pymm / python3, per round "
           "|\n|---|---|--:|--:|--:|\n");
    for (size_t c = 0; CASE_NAMES[c]; c++) {
        for (size_t i = 0; i < cx->recs.n; i++) {
            const pmb_record *r = &cx->recs.v[i];
            if (strcmp(r->case_name, CASE_NAMES[c]) != 0) continue;
            int dup = 0;
            for (size_t j = 0; j < i && !dup; j++)
                dup = strcmp(cx->recs.v[j].case_name, r->case_name) == 0 &&
                      strcmp(cx->recs.v[j].metric, r->metric) == 0;
            if (dup) continue;
            const pmb_record *a = rec(cx, r->case_name, IN_PYMM, r->metric);
            const pmb_record *b = rec(cx, r->case_name, IN_PYTHON3, r->metric);
            printf("| %s | %s (%s) |", r->case_name, r->metric, r->unit);
            print_cell(a);
            print_cell(b);
            char buf[96];
            pmb_spread s = pmb_ratio_spread(a, b);
            if (a && b && strcmp(r->unit, "objects/s") == 0) {
                pmb_format_spread(buf, sizeof buf, "%.1fx", s);
                printf(" %s |\n", buf);
            } else {
                printf(" |\n");
            }
        }
    }
    printf("\n");
}

static const char *yes_no(double measured, double goal, int at_least) {
    if (isnan(measured)) return "n/a";
    return (at_least ? measured >= goal : measured <= goal) ? "met" : "not met";
}

/* census and path: pymm's objects/s at least 20x objgraph's. */
static void target_ratio(const in_ctx *cx, const char *shape, const char *metric,
                         const char *what) {
    char buf[96];
    pmb_spread s =
        pmb_ratio_spread(rec(cx, shape, IN_PYMM, metric), rec(cx, shape, IN_PYTHON3, metric));
    pmb_format_spread(buf, sizeof buf, "%.1fx", s);
    printf("| %s, %s: objects/s, pymm / %s | %s | >= 20x | %s |\n", shape, metric, what, buf,
           yes_no(s.n ? s.median : NAN, 20.0, 1));
}

/* Retained sizes of 1,000,000 objects in at most 1 s of CPU: judged at
 * N = 1,000,000; a --quick run shows its time scaled to 1,000,000. */
static void target_retained(const in_ctx *cx, const char *shape) {
    char buf[96];
    const pmb_record *r = rec(cx, shape, IN_PYMM, "retained_s");
    pmb_spread s = pmb_record_spread(r);
    double scale = cx->opt.quick ? (double)N_FULL / N_QUICK : 1.0;
    s.median *= scale, s.min *= scale, s.max *= scale;
    pmb_format_spread(buf, sizeof buf, "%.3f s", s);
    printf("| %s: retained sizes of 1,000,000 objects, CPU%s | %s | <= 1 s | %s |\n", shape,
           cx->opt.quick ? " (quick: scaled from 200,000)" : "", buf,
           yes_no(s.n ? s.median : NAN, 1.0, 0));
}

/* The leak check at exit adds at most 0.5 s of CPU for 1,000,000 live
 * objects: judged at N = 1,000,000, a --quick run scaled as above. */
static void target_leakcheck(const in_ctx *cx, const char *shape) {
    char buf[96];
    pmb_spread s = pmb_record_spread(rec(cx, shape, IN_PYMM, "leakcheck_s"));
    double scale = cx->opt.quick ? (double)N_FULL / N_QUICK : 1.0;
    s.median *= scale, s.min *= scale, s.max *= scale;
    pmb_format_spread(buf, sizeof buf, "%.3f s", s);
    printf("| %s: the leak check at exit of 1,000,000 live objects, CPU%s | %s | <= 0.5 s | %s "
           "|\n",
           shape, cx->opt.quick ? " (quick: scaled from 200,000)" : "", buf,
           yes_no(s.n ? s.median : NAN, 0.5, 0));
}

/* Every shape is reachable from its declared root: a verdict is wrong. */
static void note_false_verdicts(in_ctx *cx) {
    for (size_t i = 0; i < cx->checks.n; i++) {
        const pmb_record *r = &cx->checks.v[i];
        if (strcmp(r->metric, "leak_verdicts") == 0 && r->value != 0)
            pmb_note(&cx->notes, "%s: pm_leaks_check gave %.0f verdicts on a shape with no leak",
                     r->case_name, r->value);
    }
}

static void print_targets(const in_ctx *cx) {
    printf("### Targets of the issue (shown, not enforced)\n\n"
           "| target | measured | goal | within |\n|---|--:|--:|:-:|\n");
    for (size_t c = 0; CASE_NAMES[c]; c++) {
        if (!pmb_option_case(&cx->opt, CASE_NAMES[c])) continue;
        target_ratio(cx, CASE_NAMES[c], "census_objects_per_s", "objgraph.typestats");
        target_ratio(cx, CASE_NAMES[c], "path_objects_per_s", "objgraph.find_backref_chain");
        target_retained(cx, CASE_NAMES[c]);
        target_leakcheck(cx, CASE_NAMES[c]);
    }
    printf("\n");
}

static void print_header(const in_ctx *cx, double elapsed) {
    char host[320];
    pmb_host_description(host, sizeof host);
    pmb_print_title("inspect", cx->opt.quick);
    printf("Host: %s. python3: %s (CPython %s, objgraph %s). Suite time: %.0f s.\n\n", host,
           cx->exe[IN_PYTHON3], cx->python_version[0] ? cx->python_version : "?",
           cx->objgraph_version[0] ? cx->objgraph_version : "?", elapsed);
    printf("**%d rounds**, each shape in a fresh process per impl and round, the impls "
           "interleaved; a cell is the **median over the rounds (min\xe2\x80\x93max)** of each "
           "process's median of %d repetitions, the last column the **median of the per-round "
           "ratios**. N = %d containers per shape (bench/README.md, section inspect). Times "
           "are CPU time of the thread. objects/s = N / time. pymm: census pm_census_take, "
           "path pm_path_to (target at depth 1,000), deep pm_size_deep(ROOT), retained "
           "pm_dominators_take, leakcheck pm_leaks_check(NULL, NULL, PM_LEAKS_AT_EXIT) (what "
           "PYMM_LEAKS runs at exit; no Python tool has it); python3: census "
           "objgraph.typestats, path "
           "objgraph.find_backref_chain (max_depth 1,000), path_referrers a breadth-first "
           "search through gc.get_referrers, deep a sys.getsizeof walk of gc.get_referents; "
           "a Python path search is stopped after %s s of wall time. No Python tool has "
           "retained sizes. peak_rss_kb: the child's VmHWM.\n\n",
           cx->rounds, cx->opt.quick ? REPS_QUICK : REPS_FULL, cx->opt.quick ? N_QUICK : N_FULL,
           cx->opt.quick ? LIMIT_QUICK : LIMIT_FULL);
    pmb_notes_print(&cx->notes);
}

static const char USAGE[] =
    "usage: pymm bench inspect [--quick] [--json FILE] [--rounds N] [--cases LIST] "
    "[--impls LIST]\n"
    "  --quick        200,000 objects a shape instead of 1,000,000, 3 rounds (not 5),\n"
    "                 1 repetition (not 3), Python path searches stopped at 10 s (not 60)\n"
    "  --json FILE    also write the records as JSON to FILE (samples by round)\n"
    "  --rounds N     interleaved rounds (1..64)\n"
    "  --cases LIST   only these shapes: tree, random, chain\n"
    "  --impls LIST   only these impls (pymm, python3); pymm always runs\n"
    "See bench/README.md (section inspect).\n";

int pmb_suite_inspect(int argc, char **argv) {
    in_ctx *cx = calloc(1, sizeof *cx);
    if (!cx) return 1;
    static const char *const impls[] = {"pymm", "python3", NULL};
    int rc = pmb_parse_options("inspect", USAGE, argc, argv, CASE_NAMES, impls, &cx->opt);
    if (rc >= 0) {
        free(cx);
        return rc;
    }
    cx->rounds = pmb_option_rounds(&cx->opt, cx->opt.quick ? ROUNDS_QUICK : ROUNDS_FULL);
    pmb_pin_noted(&cx->notes);
    double t0 = pmb_monotonic_s();
    find_impls(cx);
    for (int round = 0; round < cx->rounds; round++) {
        for (size_t c = 0; c < NUM_CASES; c++) {
            if (!pmb_option_case(&cx->opt, CASE_NAMES[c])) continue;
            for (int k = 0; k < IN_NUM_IMPLS; k++) {
                int impl = (k + round) % IN_NUM_IMPLS;
                if (cx->have[impl] && pmb_option_impl(&cx->opt, IMPL_NAMES[impl]))
                    run_impl(cx, impl, CASE_NAMES[c], round);
            }
        }
    }
    pmb_verify_checks(&cx->checks, &cx->notes);
    note_false_verdicts(cx);
    print_header(cx, pmb_monotonic_s() - t0);
    print_measurements(cx);
    print_targets(cx);
    fflush(stdout);
    rc = pmb_suite_status(&cx->recs, "inspect", cx->opt.json_path,
                          pmb_records_have_impl(&cx->recs, IMPL_NAMES[IN_PYMM]));
    pmb_records_free(&cx->recs);
    pmb_records_free(&cx->checks);
    pmb_notes_free(&cx->notes);
    free(cx);
    return rc;
}
