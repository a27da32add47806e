/*
 * threads_suite.c -- the `threads` suite: the heap serving many threads,
 * against glibc, mimalloc and jemalloc (bench/README.md, the cases).
 *
 * Each (workload, thread count) is one case, e.g. larson-2. A round runs
 * every allocator's worker (threads_worker.c, built once per allocator)
 * once on every case, each in a fresh process, interleaved; the figures
 * are the medians over the rounds, ratios the medians of the per-round
 * ratios. Throughput is operations per second of wall time (the threads
 * run at once; 8 threads oversubscribe a 2-core machine on purpose), peak
 * RSS the worker's VmHWM.
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

#define ROUNDS_QUICK 3
#define ROUNDS_FULL 5

enum { IMPL_PYMM, IMPL_GLIBC, IMPL_MIMALLOC, IMPL_JEMALLOC, NUM_IMPLS };
static const char *const IMPLS[NUM_IMPLS + 1] = {"pymm", "glibc", "mimalloc", "jemalloc", NULL};

static const char *const WORKLOADS[] = {"larson", "xmalloc", "scratch", "mix"};
#define NUM_WORKLOADS (sizeof WORKLOADS / sizeof WORKLOADS[0])
static const int THREAD_COUNTS[] = {1, 2, 8};
#define NUM_COUNTS (sizeof THREAD_COUNTS / sizeof THREAD_COUNTS[0])
#define NUM_CASES (NUM_WORKLOADS * NUM_COUNTS)

typedef struct threads_ctx {
    pmb_options opt;
    int rounds;
    char workers_dir[PATH_MAX];
    char case_names[NUM_CASES][32];
    pmb_records recs;
    pmb_notes notes;
} threads_ctx;

static const char USAGE[] =
    "usage: pymm bench threads [--quick] [--json FILE] [--rounds N] [--cases LIST] "
    "[--impls LIST]\n"
    "  --quick       a tenth of the work per case, 3 rounds instead of 5\n"
    "  --json FILE   also write the records as JSON to FILE (samples by round)\n"
    "  --rounds N    interleaved rounds (1..64)\n"
    "  --cases LIST  only these cases (comma-separated names or prefixes): larson-1,\n"
    "                larson-2, larson-8, xmalloc-, scratch-, mix- (1, 2 and 8 threads)\n"
    "  --impls LIST  only these impls: pymm glibc mimalloc jemalloc (pymm always runs)\n"
    "Throughput (ops/s, wall time) and peak RSS; a figure is the median over the rounds\n"
    "(min-max), a ratio the median of the per-round ratios. See bench/README.md.\n";

static const char *case_name(threads_ctx *cx, size_t w, size_t k) {
    return cx->case_names[w * NUM_COUNTS + k];
}

/* Why there is no worker for an allocator. */
static const char *missing_reason(int impl) {
    switch (impl) {
        case IMPL_MIMALLOC: return "not built (Debian: libmimalloc-dev)";
        case IMPL_JEMALLOC: return "not built (Debian: libjemalloc-dev)";
        default: return "worker not built";
    }
}

/* One worker run: its records join the round's samples. */
static int run_case(threads_ctx *cx, int impl, const char *path, size_t w, size_t k, int round) {
    char nthreads[8];
    snprintf(nthreads, sizeof nthreads, "%d", THREAD_COUNTS[k]);
    char *argv[] = {(char *)path, (char *)WORKLOADS[w], nthreads, cx->opt.quick ? "--quick" : NULL,
                    NULL};
    pmb_child c;
    pmb_progress("%-9s %-11s round %d/%d", IMPLS[impl], case_name(cx, w, k), round + 1, cx->rounds);
    int rc = pmb_run(argv, NULL, 0, 0, &c);
    int results = 0;
    for (const char *line = c.out; line && *line;) {
        if (strncmp(line, "PMB ", 4) == 0 &&
            pmb_records_take_line(&cx->recs, IMPLS[impl], line, round))
            results++;
        line = strchr(line, '\n');
        if (line) line++;
    }
    pmb_note_worker(&cx->notes, case_name(cx, w, k), IMPLS[impl], rc, c.term_signal, c.exit_code,
                    results);
    pmb_child_release(&c);
    return rc == 0 && results > 0 ? 0 : -1;
}

static int run_all(threads_ctx *cx) {
    char path[NUM_IMPLS][PATH_MAX];
    int have[NUM_IMPLS], pymm_ok = 1;
    for (int i = 0; i < NUM_IMPLS; i++) {
        char file[64];
        snprintf(file, sizeof file, "pymm-bench-threads-%s", IMPLS[i]);
        have[i] = pmb_path(path[i], sizeof path[i], cx->workers_dir, file, "") == 0 &&
                  pmb_is_executable(path[i]);
        if (!have[i]) pmb_note(&cx->notes, "%s skipped: %s", IMPLS[i], missing_reason(i));
        have[i] = have[i] && pmb_option_impl(&cx->opt, IMPLS[i]);
    }
    for (int round = 0; round < cx->rounds; round++)
        for (size_t w = 0; w < NUM_WORKLOADS; w++)
            for (size_t k = 0; k < NUM_COUNTS; k++) {
                if (!pmb_option_case(&cx->opt, case_name(cx, w, k))) continue;
                for (int i = 0; i < NUM_IMPLS; i++)
                    if (have[i] && run_case(cx, i, path[i], w, k, round) != 0 && i == IMPL_PYMM)
                        pymm_ok = 0;
            }
    return pymm_ok && have[IMPL_PYMM];
}

/* ---- the report ----------------------------------------------------------- */

static const pmb_record *rec(const threads_ctx *cx, const char *name, int impl,
                             const char *metric) {
    return pmb_records_find(&cx->recs, name, IMPLS[impl], metric);
}

static void ratio_cell(pmb_spread s) {
    char buf[96] = "n/a";
    if (s.n > 0) pmb_format_spread(buf, sizeof buf, "%.2fx", s);
    printf(" %s |", buf);
}

/* Worst (smallest for throughput, largest for RSS) per-case median ratio of
 * pymm to impl over the cases measured, and its case. */
static double worst_ratio(const threads_ctx *cx, int impl, const char *metric, int higher_better,
                          const char **which) {
    double worst = NAN;
    for (size_t i = 0; i < NUM_CASES; i++) {
        const char *name = cx->case_names[i];
        pmb_spread s =
            pmb_ratio_spread(rec(cx, name, IMPL_PYMM, metric), rec(cx, name, impl, metric));
        if (s.n == 0) continue;
        if (isnan(worst) || (higher_better ? s.median < worst : s.median > worst)) {
            worst = s.median;
            *which = name;
        }
    }
    return worst;
}

static void target_row(const threads_ctx *cx, const char *what, int impl, const char *metric,
                       int higher_better, double goal) {
    const char *which = "";
    double v = worst_ratio(cx, impl, metric, higher_better, &which);
    if (isnan(v)) {
        printf("| %s | n/a | %s %.2fx | n/a |\n", what, higher_better ? ">=" : "<=", goal);
        return;
    }
    int ok = higher_better ? v >= goal : v <= goal;
    printf("| %s | %.2fx (%s) | %s %.2fx | %s |\n", what, v, which,
           higher_better ? ">=" : "<=", goal, ok ? "yes" : "**no**");
}

static void print_report(threads_ctx *cx, double secs) {
    char host[256];
    pmb_host_description(host, sizeof host);
    printf("## pymm bench threads%s\n\n", cx->opt.quick ? " --quick" : "");
    printf("Host: %s. Took %.0f s.\n\n", host, secs);
    printf("**%d rounds.** A round runs every allocator's worker once on every case, each in a "
           "fresh process, interleaved. A cell is the **median over the rounds (min\xe2\x80\x93max)"
           "**; a ratio the **median of the per-round ratios (min\xe2\x80\x93max)**. Throughput: "
           "millions of operations per second of wall time, every thread included; RSS: the "
           "worker's peak (VmHWM), MiB. Cases: bench/README.md.\n\n",
           cx->rounds);
    pmb_notes_print(&cx->notes);
    printf("| case | metric | pymm | glibc | mimalloc | jemalloc | pymm/glibc | pymm/mimalloc |\n");
    printf("|---|---|--:|--:|--:|--:|--:|--:|\n");
    for (size_t i = 0; i < NUM_CASES; i++) {
        const char *name = cx->case_names[i];
        if (!rec(cx, name, IMPL_PYMM, "ops_per_s")) continue;
        static const struct {
            const char *metric, *label, *fmt;
            double scale;
        } rows[] = {{"ops_per_s", "Mops/s", "%.2f", 1e6},
                    {"peak_rss_kb", "peak RSS MiB", "%.1f", 1024}};
        for (size_t m = 0; m < 2; m++) {
            printf("| %s | %s |", name, rows[m].label);
            for (int impl = 0; impl < NUM_IMPLS; impl++)
                pmb_print_cell(rec(cx, name, impl, rows[m].metric), rows[m].fmt, rows[m].scale);
            ratio_cell(pmb_ratio_spread(rec(cx, name, IMPL_PYMM, rows[m].metric),
                                        rec(cx, name, IMPL_GLIBC, rows[m].metric)));
            ratio_cell(pmb_ratio_spread(rec(cx, name, IMPL_PYMM, rows[m].metric),
                                        rec(cx, name, IMPL_MIMALLOC, rows[m].metric)));
            printf("\n");
        }
    }
    printf("\n### Targets of the issue (shown, not enforced; the worst case by its median)\n\n");
    printf("| target | measured (case) | goal | within |\n|---|--:|--:|:-:|\n");
    target_row(cx, "throughput, pymm / glibc", IMPL_GLIBC, "ops_per_s", 1, 1.0);
    target_row(cx, "throughput, pymm / mimalloc", IMPL_MIMALLOC, "ops_per_s", 1, 0.9);
    target_row(cx, "peak RSS, pymm / glibc", IMPL_GLIBC, "peak_rss_kb", 0, 1.0);
    printf("\n");
}

int pmb_suite_threads(int argc, char **argv) {
    threads_ctx *cx = calloc(1, sizeof *cx);
    if (cx == NULL) return 1;
    const char *cases[NUM_CASES + 1];
    for (size_t w = 0; w < NUM_WORKLOADS; w++)
        for (size_t k = 0; k < NUM_COUNTS; k++) {
            snprintf(cx->case_names[w * NUM_COUNTS + k], sizeof cx->case_names[0], "%s-%d",
                     WORKLOADS[w], THREAD_COUNTS[k]);
            cases[w * NUM_COUNTS + k] = cx->case_names[w * NUM_COUNTS + k];
        }
    cases[NUM_CASES] = NULL;
    int rc = pmb_parse_options("threads", USAGE, argc, argv, cases, IMPLS, &cx->opt);
    if (rc >= 0) {
        free(cx);
        return rc;
    }
    cx->rounds = pmb_option_rounds(&cx->opt, cx->opt.quick ? ROUNDS_QUICK : ROUNDS_FULL);
    if (pmb_workers_dir(cx->workers_dir, sizeof cx->workers_dir) != 0) {
        fprintf(stderr, "pymm bench threads: cannot resolve /proc/self/exe\n");
        free(cx);
        return 1;
    }
    double t0 = pmb_monotonic_s();
    int pymm_ok = run_all(cx);
    pmb_note_unmatched_cases(&cx->opt, &cx->recs, &cx->notes);
    print_report(cx, pmb_monotonic_s() - t0);
    rc = pmb_suite_status(&cx->recs, "threads", cx->opt.json_path, pymm_ok);
    pmb_records_free(&cx->recs);
    pmb_notes_free(&cx->notes);
    free(cx);
    return rc;
}
