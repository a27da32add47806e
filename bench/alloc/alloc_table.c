/*
 * alloc_table.c -- the Markdown report of the `alloc` suite: the header
 * (host, method, notes), the allocator table (cases a-d), the Python table
 * (case e) and the targets, target next to measured.
 *
 * Every comparison is a ratio of two impls measured in the same run; the
 * targets are shown, never enforced (the exit status does not depend on
 * them).
 */
#define _GNU_SOURCE
#include "pmb_alloc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

static double value_of(const alloc_ctx *cx, const char *case_name, const char *impl,
                       const char *metric) {
    const pmb_record *r = pmb_records_find(&cx->recs, case_name, impl, metric);
    return r ? r->value : NAN;
}

static void pair_name(char *buf, size_t len, int c) {
    snprintf(buf, len, "pair-%d", c * PMB_CLASS_STEP);
}

/* Geometric mean of a metric over pair-16..pair-512; NAN unless all exist. */
static double pairs_geomean(const alloc_ctx *cx, const char *impl, const char *metric) {
    double sum = 0;
    char name[32];
    for (int c = 1; c <= PMB_NUM_CLASSES; c++) {
        pair_name(name, sizeof name, c);
        double v = value_of(cx, name, impl, metric);
        if (!(v > 0)) return NAN;
        sum += log(v);
    }
    return exp(sum / PMB_NUM_CLASSES);
}

/* Maximum of a metric over the classes; its class in *which. */
static double pairs_max(const alloc_ctx *cx, const char *impl, const char *metric, int *which) {
    double best = NAN;
    char name[32];
    for (int c = 1; c <= PMB_NUM_CLASSES; c++) {
        pair_name(name, sizeof name, c);
        double v = value_of(cx, name, impl, metric);
        if (isnan(v)) return NAN;
        if (isnan(best) || v > best) {
            best = v;
            *which = c * PMB_CLASS_STEP;
        }
    }
    return best;
}

/* Geometric mean over the py cases of num/den, where both exist. */
static double py_ratio_geomean(const alloc_ctx *cx, const char *num, const char *den,
                               const char *metric) {
    double sum = 0;
    int n = 0;
    char name[48];
    for (int s = 0; s < PMB_NUM_SCRIPTS; s++) {
        snprintf(name, sizeof name, "py-%s", pmb_py_scripts[s]);
        double a = value_of(cx, name, num, metric), b = value_of(cx, name, den, metric);
        if (a > 0 && b > 0) {
            sum += log(a / b);
            n++;
        }
    }
    return n ? exp(sum / n) : NAN;
}

/* Geometric mean over the py cases of one impl's metric. */
static double py_geomean(const alloc_ctx *cx, const char *impl, const char *metric) {
    double sum = 0;
    char name[48];
    for (int s = 0; s < PMB_NUM_SCRIPTS; s++) {
        snprintf(name, sizeof name, "py-%s", pmb_py_scripts[s]);
        double v = value_of(cx, name, impl, metric);
        if (!(v > 0)) return NAN;
        sum += log(v);
    }
    return exp(sum / PMB_NUM_SCRIPTS);
}

/* ------------------------------------------------------------------------ */
/* Cells                                                                    */
/* ------------------------------------------------------------------------ */

static void print_value(const char *metric, double v) {
    if (isnan(v)) printf(" n/a |");
    else if (strcmp(metric, "ns_per_op") == 0) printf(" %.2f |", v);
    else if (strcmp(metric, "instructions_per_op") == 0) printf(" %.1f |", v);
    else printf(" %.0f |", v);
}

static void print_ratio(double num, double den) {
    if (isnan(num) || isnan(den) || den <= 0) printf(" n/a |");
    else printf(" %.2fx |", num / den);
}

/* ------------------------------------------------------------------------ */
/* Header                                                                   */
/* ------------------------------------------------------------------------ */

static void print_header(const alloc_ctx *cx, double elapsed_s) {
    char host[320];
    pmb_host_description(host, sizeof host);
    pmb_print_title("alloc", cx->quick);
    printf("Host: %s. Suite time: %.0f s.\n\n", host, elapsed_s);
    printf("Every allocator runs in its own process. ns: minimum of 5 timed repetitions "
           "in each of 2 processes (CLOCK_MONOTONIC); one op = one malloc plus one free. "
           "Instructions: callgrind, "
           "N pairs minus an empty loop of N, over N. RSS: VmRSS in KiB. py: minimum of %d "
           "interleaved runs (wait4: user+sys CPU, ru_maxrss). Compare ratios, not absolute "
           "numbers. Cases: bench/README.md.\n\n",
           cx->py_runs);
    pmb_notes_print(&cx->notes);
}

/* ------------------------------------------------------------------------ */
/* Allocator table                                                          */
/* ------------------------------------------------------------------------ */

static int row_has_values(const alloc_ctx *cx, const char *case_name, const char *metric) {
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) {
        if (!isnan(value_of(cx, case_name, pmb_allocator_names[i], metric))) return 1;
    }
    return 0;
}

/* One row: a value per allocator, then pymm/glibc and pymm/pymalloc. */
static void alloc_row(const char *label, const char *metric, const double *v) {
    printf("| %s | %s |", label, metric);
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) print_value(metric, v[i]);
    print_ratio(v[PMB_PYMM], v[PMB_GLIBC]);
    print_ratio(v[PMB_PYMM], v[PMB_PYMALLOC]);
    printf("\n");
}

static void alloc_case_row(const alloc_ctx *cx, const char *case_name, const char *metric) {
    double v[PMB_NUM_ALLOCATORS];
    if (!row_has_values(cx, case_name, metric)) return;
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++)
        v[i] = value_of(cx, case_name, pmb_allocator_names[i], metric);
    alloc_row(case_name, metric, v);
}

static void alloc_summary_rows(const alloc_ctx *cx) {
    double g[PMB_NUM_ALLOCATORS], m[PMB_NUM_ALLOCATORS];
    int any_g = 0, any_m = 0, which;
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) {
        g[i] = pairs_geomean(cx, pmb_allocator_names[i], "ns_per_op");
        m[i] = pairs_max(cx, pmb_allocator_names[i], "instructions_per_op", &which);
        any_g |= !isnan(g[i]);
        any_m |= !isnan(m[i]);
    }
    if (any_g) alloc_row("**geomean pair-\\***", "ns_per_op", g);
    if (any_m) alloc_row("**max pair-\\***", "instructions_per_op", m);
}

static void print_alloc_table(const alloc_ctx *cx) {
    static const char *const metrics[] = {"ns_per_op", "instructions_per_op"};
    static const char *const rss_cases[] = {"frag-base", "frag-peak", "frag-freed", "frag-trimmed"};
    char name[32];
    printf("### Allocators: pair-N, batch-1000, mix, frag\n\n| case | metric |");
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) printf(" %s |", pmb_allocator_names[i]);
    printf(" pymm/glibc | pymm/pymalloc |\n|---|---|");
    for (int i = 0; i < PMB_NUM_ALLOCATORS + 2; i++) printf("--:|");
    printf("\n");
    for (int m = 0; m < 2; m++) {
        for (int c = 1; c <= PMB_NUM_CLASSES; c++) {
            pair_name(name, sizeof name, c);
            alloc_case_row(cx, name, metrics[m]);
        }
    }
    alloc_case_row(cx, "batch-1000", "ns_per_op");
    alloc_case_row(cx, "mix", "ns_per_op");
    for (size_t k = 0; k < sizeof rss_cases / sizeof rss_cases[0]; k++)
        alloc_case_row(cx, rss_cases[k], "rss_kb");
    alloc_summary_rows(cx);
    printf("\n");
}

/* ------------------------------------------------------------------------ */
/* Python table                                                             */
/* ------------------------------------------------------------------------ */

static void py_row(const char *label, const char *metric, const double *v) {
    printf("| %s | %s |", label, metric);
    for (int i = 0; i < PMB_NUM_PY_IMPLS; i++) print_value(metric, v[i]);
    print_ratio(v[PMB_PY_PYMM], v[PMB_PY_OFF]);
    printf("\n");
}

static void print_py_table(const alloc_ctx *cx) {
    static const char *const metrics[] = {"cpu_ms", "peak_rss_kb"};
    double v[PMB_NUM_PY_IMPLS];
    char name[48];
    int rows = 0;
    for (int s = 0; s < PMB_NUM_SCRIPTS; s++) {
        snprintf(name, sizeof name, "py-%s", pmb_py_scripts[s]);
        for (int m = 0; m < 2; m++) {
            int any = 0;
            for (int i = 0; i < PMB_NUM_PY_IMPLS; i++) {
                v[i] = value_of(cx, name, pmb_py_impl_names[i], metrics[m]);
                any |= !isnan(v[i]);
            }
            if (!any) continue;
            if (rows++ == 0)
                printf("### Python workloads: py-NAME\n\n| case | metric | pymm-python | "
                       "pymalloc (PYMM_OFF=1) | python3 | pymm-python/pymalloc |\n"
                       "|---|---|--:|--:|--:|--:|\n");
            py_row(name, metrics[m], v);
        }
    }
    if (!rows) return;
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < PMB_NUM_PY_IMPLS; i++)
            v[i] = py_geomean(cx, pmb_py_impl_names[i], metrics[m]);
        py_row("**geomean py-\\***", metrics[m], v);
    }
    printf("\n");
}

/* ------------------------------------------------------------------------ */
/* Targets                                                                  */
/* ------------------------------------------------------------------------ */

/* A target row: measured as a ratio ("0.53x") or a count, and the goal. */
static void target_row(const char *what, double measured, const char *detail, double goal,
                       int is_ratio) {
    printf("| %s | ", what);
    if (isnan(measured)) printf("n/a");
    else if (is_ratio) printf("%.2fx%s", measured, detail);
    else printf("%.1f%s", measured, detail);
    if (is_ratio) printf(" | <= %.2fx |", goal);
    else printf(" | <= %.0f |", goal);
    printf(" %s |\n", isnan(measured) ? "n/a" : measured <= goal ? "yes" : "no");
}

static void print_targets(const alloc_ctx *cx) {
    int which = 0;
    char detail[48] = "";
    double max_instr = pairs_max(cx, "pymm", "instructions_per_op", &which);
    if (!isnan(max_instr)) snprintf(detail, sizeof detail, " (pair-%d)", which);
    double g_pymm = pairs_geomean(cx, "pymm", "ns_per_op");
    double frag_pymm = value_of(cx, "frag-trimmed", "pymm", "rss_kb");
    double frag_py = value_of(cx, "frag-trimmed", "pymalloc", "rss_kb");

    printf("### Targets of the issue (shown, not enforced)\n\n"
           "| target | measured | goal | within |\n|---|--:|--:|:-:|\n");
    target_row("pymm instructions per pair, max over the classes", max_instr, detail, 50, 0);
    target_row("geomean ns per pair, pymm / glibc",
               g_pymm / pairs_geomean(cx, "glibc", "ns_per_op"), "", 0.60, 1);
    target_row("geomean ns per pair, pymm / pymalloc",
               g_pymm / pairs_geomean(cx, "pymalloc", "ns_per_op"), "", 1.00, 1);
    target_row("frag-trimmed RSS, pymm / pymalloc", frag_pymm / frag_py, "", 0.50, 1);
    target_row("py CPU geomean, pymm-python / pymalloc (PYMM_OFF=1)",
               py_ratio_geomean(cx, "pymm-python", "pymalloc", "cpu_ms"), "", 1.03, 1);
    target_row("py peak RSS geomean, pymm-python / pymalloc (PYMM_OFF=1)",
               py_ratio_geomean(cx, "pymm-python", "pymalloc", "peak_rss_kb"), "", 1.05, 1);
    printf("\n");
}

void pmb_alloc_print(const alloc_ctx *cx, double elapsed_s) {
    print_header(cx, elapsed_s);
    print_alloc_table(cx);
    print_py_table(cx);
    print_targets(cx);
    fflush(stdout);
}
