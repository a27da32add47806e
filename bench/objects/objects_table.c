/*
 * objects_table.c -- the Markdown report of the `objects` suite: the header
 * (host, method, notes), one table per workload with pymm beside its
 * anchors of the same run and the ratios pymm/anchor, then the issue's
 * targets, target next to measured (shown, never enforced: the exit status
 * does not depend on them). A timed cell is "median (min–max)" over the
 * rounds, a ratio the median of the per-round ratios (pmb_report.h); the
 * targets are judged on the medians.
 */
#define _GNU_SOURCE
#include "pmb_objects.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const pmb_record *rec(const objects_ctx *cx, const char *case_name, int impl,
                             const char *metric) {
    return pmb_records_find(&cx->recs, case_name, pmb_o_impl_names[impl], metric);
}

/* The median of the per-round ratios num / den of a metric (the cases may
 * differ: the node kinds compare pymm's mutable case to malloc's). */
static pmb_spread ratio_of(const objects_ctx *cx, const char *num_case, int num,
                           const char *den_case, int den, const char *metric) {
    return pmb_ratio_spread(rec(cx, num_case, num, metric), rec(cx, den_case, den, metric));
}

/* ------------------------------------------------------------------------ */
/* Cells and tables                                                         */
/* ------------------------------------------------------------------------ */

static void print_value(const char *metric, const pmb_record *r) {
    size_t len = strlen(metric);
    const char *fmt = "%.1f";
    char buf[128];
    if (len > 2 && strcmp(metric + len - 2, "_s") == 0)
        fmt = "%.4g"; /* seconds: from milliseconds to minutes */
    else if (strcmp(metric, "peak_rss_kb") == 0) fmt = "%.0f";
    pmb_format_spread(buf, sizeof buf, fmt, pmb_record_spread(r));
    printf(" %s |", buf);
}

static void print_ratio(pmb_spread s) {
    char buf[96];
    pmb_format_spread(buf, sizeof buf, "%.2fx", s);
    printf(" %s |", buf);
}

/* The header of a table: case, metric, the impls, pymm/each anchor. */
static void table_head(const char *title, const int *impls) {
    printf("### %s\n\n| case | metric |", title);
    int cols = 0;
    for (const int *i = impls; *i >= 0; i++, cols++) printf(" %s |", pmb_o_impl_names[*i]);
    for (const int *i = impls + 1; *i >= 0; i++) printf(" pymm/%s |", pmb_o_impl_names[*i]);
    printf("\n|---|---|");
    for (int c = 0; c < 2 * cols - 1; c++) printf("--:|");
    printf("\n");
}

/* One row, or nothing when no impl measured it. impls[0] is pymm. */
static int table_row(const objects_ctx *cx, const int *impls, const char *case_name,
                     const char *metric) {
    const pmb_record *v[PMB_O_NUM_IMPLS];
    int n = 0, any = 0;
    for (const int *i = impls; *i >= 0; i++, n++) {
        v[n] = rec(cx, case_name, *i, metric);
        any |= v[n] != NULL;
    }
    if (!any) return 0;
    printf("| %s | %s |", case_name, metric);
    for (int k = 0; k < n; k++) print_value(metric, v[k]);
    for (int k = 1; k < n; k++) print_ratio(pmb_ratio_spread(v[0], v[k]));
    printf("\n");
    return 1;
}

static void print_table(const objects_ctx *cx, const char *title, const int *impls,
                        const char *const *cases, int ncases, const char *const *metrics,
                        int nmetrics) {
    int any = 0; /* --cases may have left every case of the workload out */
    for (int c = 0; c < ncases; c++) {
        for (int m = 0; m < nmetrics; m++) {
            for (const int *i = impls; *i >= 0; i++) any |= rec(cx, cases[c], *i, metrics[m]) != 0;
        }
    }
    if (!any) return;
    table_head(title, impls);
    for (int c = 0; c < ncases; c++) {
        for (int m = 0; m < nmetrics; m++) table_row(cx, impls, cases[c], metrics[m]);
    }
    printf("\n");
}

/* ------------------------------------------------------------------------ */
/* Header                                                                   */
/* ------------------------------------------------------------------------ */

static void print_header(const objects_ctx *cx, double elapsed_s) {
    pmb_print_head("objects", cx->opt.quick, elapsed_s);
    printf("**Rounds: binary-trees %d (python3 %d, and 1 at depth %d and deeper), JSON %d, dict "
           "%d.** A round runs every impl once, each in a fresh process, interleaved (A B A B "
           "...; each binary-trees round starts a depth with the next impl). A measured cell is "
           "the **median over the rounds (min\xe2\x80\x93max)**; a ratio pymm / anchor is the "
           "**median of the per-round ratios (min\xe2\x80\x93max)**, over the rounds where both "
           "ran (below 1: pymm smaller or faster); bytes per value are exact, one value. Every "
           "time is CPU time of the process (user+sys, CLOCK_PROCESS_CPUTIME_ID), peak RSS its "
           "VmHWM. binarytrees: the whole workload. json: median of %d loads and frees per "
           "process, from bytes in memory; bytes per value from heap statistics (pymm), a "
           "counting allocator (jansson, cJSON), tracemalloc (python3). dict: %ld keys, median "
           "of %d repetitions per process. Collectors run with their defaults (pymm's and "
           "CPython's generational, Boehm's). Cases: bench/README.md.\n\n",
           cx->tree_rounds, pmb_o_python3_tree_rounds(cx, cx->depth_min), PMB_O_PY_DEEP,
           cx->json_rounds, cx->dict_rounds, cx->json_runs, cx->dict_keys, cx->dict_reps);
    pmb_notes_print(&cx->notes);
}

/* ------------------------------------------------------------------------ */
/* The workload tables                                                      */
/* ------------------------------------------------------------------------ */

/* What the node's type costs: pymm's frozen nodes (binarytrees-D, never
 * tracked) and mutable ones (binarytrees-mutable-D, every node tracked),
 * each against malloc's binarytrees-D. */
static void print_node_kinds(const objects_ctx *cx) {
    printf("### binary-trees, pymm's node types (CPU / malloc's, per round)\n\n"
           "| depth | frozen (untracked) | mutable (tracked) |\n|---|--:|--:|\n");
    for (int d = cx->depth_min; d <= cx->depth_max; d++) {
        char frozen[48], mutable_nodes[48];
        snprintf(frozen, sizeof frozen, "binarytrees-%d", d);
        snprintf(mutable_nodes, sizeof mutable_nodes, "binarytrees-mutable-%d", d);
        pmb_spread f = ratio_of(cx, frozen, PMB_O_PYMM, frozen, PMB_O_MALLOC, "cpu_s");
        pmb_spread m = ratio_of(cx, mutable_nodes, PMB_O_PYMM, frozen, PMB_O_MALLOC, "cpu_s");
        if (f.n == 0 && m.n == 0) continue; /* a depth --cases left out */
        printf("| %d |", d);
        print_ratio(f);
        print_ratio(m);
        printf("\n");
    }
    printf("\n");
}

static void print_trees(const objects_ctx *cx) {
    static const char *const metrics[] = {"cpu_s", "peak_rss_kb"};
    char names[8][48];
    const char *cases[8];
    int n = 0;
    for (int d = cx->depth_min; d <= cx->depth_max && n < 8; d++, n++) {
        snprintf(names[n], sizeof names[n], "binarytrees-%d", d);
        cases[n] = names[n];
    }
    print_table(cx, "binary-trees", pmb_o_trees_impls, cases, n, metrics, 2);
    print_node_kinds(cx);
}

/* The documents: size and number of values (from the first impl that
 * counted them; every impl's count is checked against it). */
static void print_json_docs(const objects_ctx *cx) {
    printf("### JSON loading\n\n| case | MB | values |\n|---|--:|--:|\n");
    for (int k = 0; k < cx->njson; k++) {
        const pmb_record *v = NULL;
        for (size_t i = 0; i < cx->checks.n && !v; i++) {
            if (strcmp(cx->checks.v[i].case_name, cx->json_case[k]) == 0) v = &cx->checks.v[i];
        }
        printf("| %s | %.2f |", cx->json_case[k], (double)cx->json_bytes[k] / 1e6);
        if (v) printf(" %.0f |\n", v->value);
        else printf(" n/a |\n");
    }
    printf("\n");
}

static void print_json(const objects_ctx *cx) {
    static const char *const metrics[] = {"load_s", "free_s", "peak_rss_kb", "bytes_per_value"};
    const char *cases[PMB_O_MAX_JSON];
    if (cx->njson == 0) return;
    for (int k = 0; k < cx->njson; k++) cases[k] = cx->json_case[k];
    print_json_docs(cx);
    print_table(cx, "JSON loading: measurements", pmb_o_json_impls, cases, cx->njson, metrics, 4);
}

static const char *const DICT_CASES[] = {"dict-insert", "dict-lookup", "dict-delete"};

static void print_dict(const objects_ctx *cx) {
    static const char *const metrics[] = {"ns_per_op"};
    char title[64];
    snprintf(title, sizeof title, "dict of %ld str keys", cx->dict_keys);
    print_table(cx, title, pmb_o_dict_impls, DICT_CASES, 3, metrics, 1);
}

/* ------------------------------------------------------------------------ */
/* Targets                                                                  */
/* ------------------------------------------------------------------------ */

/* The worst (largest) and geometric mean over cases of the median of the
 * per-round ratios num/den. */
typedef struct ratio_summary {
    double worst, geomean;
    const char *worst_case;
} ratio_summary;

static ratio_summary summarize(const objects_ctx *cx, const char *const *cases, int n, int num,
                               int den, const char *metric) {
    ratio_summary s = {NAN, NAN, ""};
    double logsum = 0;
    int k = 0;
    for (int c = 0; c < n; c++) {
        pmb_spread rs = ratio_of(cx, cases[c], num, cases[c], den, metric);
        double r = rs.median;
        if (rs.n == 0) continue;
        if (isnan(s.worst) || r > s.worst) {
            s.worst = r;
            s.worst_case = cases[c];
        }
        logsum += log(r);
        k++;
    }
    if (k) s.geomean = exp(logsum / k);
    return s;
}

/* A target row: measured (worst case and geomean) and the goal. at_least:
 * the goal is a lower bound (a speed-up), else an upper bound. */
static void target_row(const char *what, ratio_summary s, double goal, int at_least) {
    printf("| %s | ", what);
    if (isnan(s.worst)) printf("n/a");
    else printf("%.2fx (%s; geomean %.2fx)", s.worst, s.worst_case, s.geomean);
    printf(" | %s %.2fx | %s |\n", at_least ? ">=" : "<=", goal,
           isnan(s.worst)                                   ? "n/a"
           : (at_least ? s.worst >= goal : s.worst <= goal) ? "yes"
                                                            : "no");
}

/* python3/pymm is a speed-up: its worst case is the smallest. */
static ratio_summary speedup(const objects_ctx *cx, const char *const *cases, int n) {
    ratio_summary s = summarize(cx, cases, n, PMB_O_PYMM, PMB_O_PYTHON3, "cpu_s");
    /* The worst speed-up is 1 / the largest pymm/python3. */
    if (!isnan(s.worst)) {
        s.worst = 1.0 / s.worst;
        s.geomean = 1.0 / s.geomean;
    }
    return s;
}

static void print_targets(const objects_ctx *cx) {
    char names[8][48];
    const char *trees[8], *json[PMB_O_MAX_JSON];
    int nt = 0;
    for (int d = cx->depth_min; d <= cx->depth_max && nt < 8; d++, nt++) {
        snprintf(names[nt], sizeof names[nt], "binarytrees-%d", d);
        trees[nt] = names[nt];
    }
    for (int k = 0; k < cx->njson; k++) json[k] = cx->json_case[k];

    printf("### Targets of the issue (shown, not enforced)\n\n"
           "Measured: the worst case over the workload's cases, then the geometric mean, of the "
           "medians of the per-round ratios.\n\n"
           "| target | measured | goal | within |\n|---|--:|--:|:-:|\n");
    target_row("binary-trees CPU, pymm / malloc",
               summarize(cx, trees, nt, PMB_O_PYMM, PMB_O_MALLOC, "cpu_s"), 1.0, 0);
    target_row("binary-trees speed-up, python3 / pymm", speedup(cx, trees, nt), 10.0, 1);
    target_row("JSON bytes per value, pymm / python3",
               summarize(cx, json, cx->njson, PMB_O_PYMM, PMB_O_PYTHON3, "bytes_per_value"), 1.0,
               0);
    target_row("JSON load time, pymm / cjson",
               summarize(cx, json, cx->njson, PMB_O_PYMM, PMB_O_CJSON, "load_s"), 1.0, 0);
    target_row("dict ns per op, pymm / cpython-capi",
               summarize(cx, DICT_CASES, 3, PMB_O_PYMM, PMB_O_CPYTHON, "ns_per_op"), 1.0, 0);
    printf("\n");
}

void pmb_objects_print(const objects_ctx *cx, double elapsed_s) {
    print_header(cx, elapsed_s);
    print_trees(cx);
    print_json(cx);
    print_dict(cx);
    print_targets(cx);
    fflush(stdout);
}
