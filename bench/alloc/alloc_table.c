/*
 * alloc_table.c -- the Markdown report of the `alloc` suite: the header
 * (host, method, notes), the allocator table (cases a-d), the Python table
 * (case e) and the targets, target next to measured.
 *
 * Every comparison is a ratio of two impls measured in the same run: the
 * median of the per-round ratios, with their range (pmb_report.h); a timed
 * cell is "median (min–max)" over the rounds. The targets are judged on the
 * medians, shown, never enforced (the exit status does not depend on them).
 */
#define _GNU_SOURCE
#include "pmb_alloc.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

static const pmb_record *rec(const alloc_ctx *cx, const char *case_name, const char *impl,
                             const char *metric) {
    return pmb_records_find(&cx->recs, case_name, impl, metric);
}

static double value_of(const alloc_ctx *cx, const char *case_name, const char *impl,
                       const char *metric) {
    const pmb_record *r = rec(cx, case_name, impl, metric);
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

/* The per-round geometric mean over pair-16..pair-512 of num/den (one
 * process measures every class of a round), as median and range. */
static pmb_spread pairs_ratio(const alloc_ctx *cx, const char *num, const char *den,
                              const char *metric) {
    const pmb_record *a[PMB_NUM_CLASSES], *b[PMB_NUM_CLASSES];
    char name[32];
    for (int c = 1; c <= PMB_NUM_CLASSES; c++) {
        pair_name(name, sizeof name, c);
        a[c - 1] = rec(cx, name, num, metric);
        b[c - 1] = rec(cx, name, den, metric);
    }
    return pmb_geomean_ratio_spread(a, b, PMB_NUM_CLASSES);
}

/* Geometric mean over the py cases of the median of num/den's per-round
 * ratios, where both exist. */
static double py_ratio_geomean(const alloc_ctx *cx, const char *num, const char *den,
                               const char *metric) {
    double sum = 0;
    int n = 0;
    char name[48];
    for (int s = 0; s < PMB_NUM_SCRIPTS; s++) {
        snprintf(name, sizeof name, "py-%s", pmb_py_scripts[s]);
        pmb_spread r = pmb_ratio_spread(rec(cx, name, num, metric), rec(cx, name, den, metric));
        if (r.n > 0 && r.median > 0) {
            sum += log(r.median);
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

/* A cell: "median (min–max)" of a record's rounds, or its one value. */
static void print_spread(const char *metric, pmb_spread s) {
    char buf[128];
    const char *fmt = "%.0f";
    if (strcmp(metric, "ns_per_op") == 0) fmt = "%.2f";
    else if (strcmp(metric, "instructions_per_op") == 0) fmt = "%.1f";
    pmb_format_spread(buf, sizeof buf, fmt, s);
    printf(" %s |", buf);
}

static void print_ratio(pmb_spread s) {
    char buf[96];
    pmb_format_spread(buf, sizeof buf, "%.2fx", s);
    printf(" %s |", buf);
}

/* A plain value as a cell (a geometric mean of medians): no spread. */
static pmb_spread one(double v) {
    pmb_spread s = {v, v, v, isnan(v) ? 0 : 1};
    return s;
}

/* ------------------------------------------------------------------------ */
/* Header                                                                   */
/* ------------------------------------------------------------------------ */

static void print_header(const alloc_ctx *cx, double elapsed_s) {
    pmb_print_head("alloc", cx->opt.quick, elapsed_s);
    printf("**%d rounds.** A round runs the timing worker of every allocator once (and each "
           "py script by every impl once), each in a fresh process, interleaved. A timed cell "
           "is the **median over the rounds (min\xe2\x80\x93max)**; a ratio is the **median "
           "of the per-round ratios (min\xe2\x80\x93max)**. ns: in each process the median "
           "of 5 timed repetitions (CLOCK_MONOTONIC); one op = one malloc plus one free. "
           "Instructions (exact, one value): callgrind, N pairs minus an empty loop of N, over "
           "N. RSS (frag, one process): VmRSS in KiB. py: wait4's user+sys CPU and ru_maxrss "
           "of each run. Geomean rows: the geometric mean of the medians; their ratios the "
           "median over the rounds of the per-round geomean ratio. Compare ratios, not "
           "absolute numbers. Cases: bench/README.md.\n\n",
           cx->rounds);
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

/* One row: a cell per allocator, then pymm/glibc and pymm/pymalloc. */
static void alloc_row(const char *label, const char *metric, const pmb_spread *v,
                      pmb_spread to_glibc, pmb_spread to_pymalloc) {
    printf("| %s | %s |", label, metric);
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) print_spread(metric, v[i]);
    print_ratio(to_glibc);
    print_ratio(to_pymalloc);
    printf("\n");
}

static void alloc_case_row(const alloc_ctx *cx, const char *case_name, const char *metric) {
    pmb_spread v[PMB_NUM_ALLOCATORS];
    const pmb_record *r[PMB_NUM_ALLOCATORS];
    if (!row_has_values(cx, case_name, metric)) return;
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) {
        r[i] = rec(cx, case_name, pmb_allocator_names[i], metric);
        v[i] = pmb_record_spread(r[i]);
    }
    alloc_row(case_name, metric, v, pmb_ratio_spread(r[PMB_PYMM], r[PMB_GLIBC]),
              pmb_ratio_spread(r[PMB_PYMM], r[PMB_PYMALLOC]));
}

static void alloc_summary_rows(const alloc_ctx *cx) {
    pmb_spread g[PMB_NUM_ALLOCATORS], m[PMB_NUM_ALLOCATORS];
    int any_g = 0, any_m = 0, which;
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) {
        g[i] = one(pairs_geomean(cx, pmb_allocator_names[i], "ns_per_op"));
        m[i] = one(pairs_max(cx, pmb_allocator_names[i], "instructions_per_op", &which));
        any_g |= g[i].n > 0;
        any_m |= m[i].n > 0;
    }
    if (any_g)
        alloc_row("**geomean pair-\\***", "ns_per_op", g,
                  pairs_ratio(cx, "pymm", "glibc", "ns_per_op"),
                  pairs_ratio(cx, "pymm", "pymalloc", "ns_per_op"));
    if (any_m)
        alloc_row("**max pair-\\***", "instructions_per_op", m,
                  one(m[PMB_PYMM].median / m[PMB_GLIBC].median),
                  one(m[PMB_PYMM].median / m[PMB_PYMALLOC].median));
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
    /* Each class's instruction count (exact) right under its time. */
    for (int c = 1; c <= PMB_NUM_CLASSES; c++) {
        pair_name(name, sizeof name, c);
        for (int m = 0; m < 2; m++) alloc_case_row(cx, name, metrics[m]);
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

static void py_row(const char *label, const char *metric, const pmb_spread *v, pmb_spread ratio) {
    printf("| %s | %s |", label, metric);
    for (int i = 0; i < PMB_NUM_PY_IMPLS; i++) print_spread(metric, v[i]);
    print_ratio(ratio);
    printf("\n");
}

/* One script's row of a metric; 0 when no impl measured it. */
static int py_case_row(const alloc_ctx *cx, const char *name, const char *metric, int first) {
    const pmb_record *r[PMB_NUM_PY_IMPLS];
    pmb_spread v[PMB_NUM_PY_IMPLS];
    int any = 0;
    for (int i = 0; i < PMB_NUM_PY_IMPLS; i++) {
        r[i] = rec(cx, name, pmb_py_impl_names[i], metric);
        v[i] = pmb_record_spread(r[i]);
        any |= r[i] != NULL;
    }
    if (!any) return 0;
    if (first)
        printf("### Python workloads: py-NAME\n\n| case | metric | pymm-python | "
               "pymalloc (PYMM_OFF=1) | python3 | pymm-python/pymalloc |\n"
               "|---|---|--:|--:|--:|--:|\n");
    py_row(name, metric, v, pmb_ratio_spread(r[PMB_PY_PYMM], r[PMB_PY_OFF]));
    return 1;
}

static void print_py_table(const alloc_ctx *cx) {
    static const char *const metrics[] = {"cpu_ms", "peak_rss_kb"};
    pmb_spread v[PMB_NUM_PY_IMPLS];
    char name[48];
    int rows = 0;
    for (int s = 0; s < PMB_NUM_SCRIPTS; s++) {
        snprintf(name, sizeof name, "py-%s", pmb_py_scripts[s]);
        for (int m = 0; m < 2; m++) rows += py_case_row(cx, name, metrics[m], rows == 0);
    }
    if (!rows) return;
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < PMB_NUM_PY_IMPLS; i++)
            v[i] = one(py_geomean(cx, pmb_py_impl_names[i], metrics[m]));
        py_row("**geomean py-\\***", metrics[m], v,
               one(py_ratio_geomean(cx, "pymm-python", "pymalloc", metrics[m])));
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
    /* An instruction count is judged as shown, to a tenth: a region's one-off
     * costs (its first refill, the toggles) add 0.0001 or so per pair. */
    if (!is_ratio) measured = round(measured * 10) / 10;
    printf(" %s |\n", isnan(measured) ? "n/a" : measured <= goal ? "yes" : "no");
}

/* " (min–max)" of a ratio's rounds, "" when there is no range. */
static const char *range_detail(char *buf, size_t len, pmb_spread s) {
    if (s.n > 1 && s.min < s.max) snprintf(buf, len, " (%.2f\xe2\x80\x93%.2fx)", s.min, s.max);
    else buf[0] = '\0';
    return buf;
}

static void print_targets(const alloc_ctx *cx) {
    int which = 0;
    char detail[48] = "", d1[48], d2[48];
    double max_instr = pairs_max(cx, "pymm", "instructions_per_op", &which);
    if (!isnan(max_instr)) snprintf(detail, sizeof detail, " (pair-%d)", which);
    double frag_pymm = value_of(cx, "frag-trimmed", "pymm", "rss_kb");
    double frag_py = value_of(cx, "frag-trimmed", "pymalloc", "rss_kb");

    printf("### Targets of the issue (shown, not enforced)\n\n"
           "| target | measured | goal | within |\n|---|--:|--:|:-:|\n");
    target_row("pymm instructions per pair, thread-safe default heap (pm_obj_*), max over the "
               "classes",
               max_instr, detail, 56, 0);
    target_row("pymm instructions per pair, a private heap (pm_heap_*), pair-16",
               value_of(cx, "pair-16", "pymm", "instr_per_op_private"), "", 50, 0);
    pmb_spread to_glibc = pairs_ratio(cx, "pymm", "glibc", "ns_per_op");
    pmb_spread to_pymalloc = pairs_ratio(cx, "pymm", "pymalloc", "ns_per_op");
    target_row("geomean ns per pair, pymm / glibc (median of the rounds)",
               to_glibc.n ? to_glibc.median : NAN, range_detail(d1, sizeof d1, to_glibc), 0.60, 1);
    target_row("geomean ns per pair, pymm / pymalloc (median of the rounds)",
               to_pymalloc.n ? to_pymalloc.median : NAN, range_detail(d2, sizeof d2, to_pymalloc),
               1.00, 1);
    target_row("frag-trimmed RSS, pymm / pymalloc", frag_pymm / frag_py, "", 0.50, 1);
    target_row("py CPU geomean, pymm-python / pymalloc (PYMM_OFF=1)",
               py_ratio_geomean(cx, "pymm-python", "pymalloc", "cpu_ms"), "", 1.03, 1);
    target_row("py peak RSS geomean, pymm-python / pymalloc (PYMM_OFF=1)",
               py_ratio_geomean(cx, "pymm-python", "pymalloc", "peak_rss_kb"), "", 1.05, 1);
    printf("\n");
}

/* ------------------------------------------------------------------------ */
/* Drop-in table                                                            */
/* ------------------------------------------------------------------------ */

/* One row of the drop-in table: glibc's worker plain, then with each
 * drop-in, then pymm's drop-in over glibc and over mimalloc's. */
static void dropin_row(const alloc_ctx *cx, const char *label, const char *case_name,
                       const char *metric, bool pairs) {
    const char *names[1 + PMB_NUM_DROPINS] = {"glibc"};
    for (int d = 0; d < PMB_NUM_DROPINS; d++) names[1 + d] = pmb_dropin_names[d];
    pmb_spread v[1 + PMB_NUM_DROPINS];
    bool any = false;
    for (int i = 0; i < 1 + PMB_NUM_DROPINS; i++) {
        v[i] = pairs ? one(pairs_geomean(cx, names[i], metric))
                     : pmb_record_spread(rec(cx, case_name, names[i], metric));
        any |= i > 0 && v[i].n > 0;
    }
    if (!any) return;
    printf("| %s | %s |", label, metric);
    for (int i = 0; i < 1 + PMB_NUM_DROPINS; i++) print_spread(metric, v[i]);
    if (pairs) {
        print_ratio(pairs_ratio(cx, "pymm-dropin", "glibc", metric));
        print_ratio(pairs_ratio(cx, "pymm-dropin", "mimalloc-dropin", metric));
    } else {
        const pmb_record *p = rec(cx, case_name, "pymm-dropin", metric);
        print_ratio(pmb_ratio_spread(p, rec(cx, case_name, "glibc", metric)));
        print_ratio(pmb_ratio_spread(p, rec(cx, case_name, "mimalloc-dropin", metric)));
    }
    printf("\n");
}

static void print_dropin_table(const alloc_ctx *cx) {
    if (isnan(value_of(cx, "mix", "pymm-dropin", "ns_per_op")) &&
        isnan(value_of(cx, "frag-peak", "pymm-dropin", "rss_kb")))
        return;
    printf("### Drop-in: the glibc worker with each malloc in LD_PRELOAD\n\n| case | metric | "
           "glibc |");
    for (int d = 0; d < PMB_NUM_DROPINS; d++) printf(" %s |", pmb_dropin_names[d]);
    printf(" pymm-dropin/glibc | pymm-dropin/mimalloc-dropin |\n|---|---|");
    for (int i = 0; i < PMB_NUM_DROPINS + 3; i++) printf("--:|");
    printf("\n");
    dropin_row(cx, "**geomean pair-\\***", NULL, "ns_per_op", true);
    dropin_row(cx, "batch-1000", "batch-1000", "ns_per_op", false);
    dropin_row(cx, "mix", "mix", "ns_per_op", false);
    dropin_row(cx, "frag-peak", "frag-peak", "rss_kb", false);
    dropin_row(cx, "frag-freed", "frag-freed", "rss_kb", false);
    printf("\n");
}

void pmb_alloc_print(const alloc_ctx *cx, double elapsed_s) {
    print_header(cx, elapsed_s);
    print_alloc_table(cx);
    print_dropin_table(cx);
    print_py_table(cx);
    print_targets(cx);
    fflush(stdout);
}
