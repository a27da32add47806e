/*
 * trace_suite.c -- the `trace` suite: what the allocation recorder
 * (PYMM_TRACE) costs a C program whose work is mostly allocation, beside
 * heaptrack (bench/README.md, section trace):
 *   binarytrees-mutable-D  the objects suite's worker, GC-tracked nodes,
 *                          built with frame pointers (pymm-bench-trace-trees)
 *   mix                    pymm-bench-trace-pymm: a random allocate/free mix
 * (both programs and their library are built with frame pointers: the
 * targets are for such builds; bench/trace/trace.cmake)
 *   py-containers, py-jsonio  the alloc suite's scripts in pymm-python (the
 *                          pymm modes) and python3 (alone, -X tracemalloc)
 * Each case runs as a child process per mode (the "impls"): untraced;
 * full-1 and full-16 (PYMM_TRACE with PYMM_TRACE_FRAMES=1 or 16); sampled
 * (PYMM_TRACE_SAMPLE=524288, 16 frames); and the anchor: malloc (the
 * case's program on the C library's malloc: the objects suite's malloc
 * worker, pymm-bench-trace-malloc) and heaptrack (that under heaptrack).
 * Not PYMM_MALLOC=malloc: pymm's raw domain calls __libc_malloc, which
 * heaptrack's preloaded malloc does not see (it recorded 2 allocations).
 * The whole process is measured: CPU time (user+sys) and peak RSS from
 * wait4. A traced run's capture is then read by `pymm report FILE --format
 * json`, timed (wall), which gives the recorded allocations and frees.
 * The rounds are interleaved (every mode of every case, then again); a
 * figure is the median over the rounds, a ratio the median of the
 * per-round ratios (pmb_report.h). The targets are printed beside
 * the figures, never enforced. The html-page case (trace_page.c), a round
 * of its own in each round, is headless Chromium's load time of the HTML
 * report of a capture of 10,000,000 allocations from 1,000,000 stacks.
 */
#define _GNU_SOURCE
#include "pmb_proc.h"
#include "pmb_report.h"
#include "pmb_suites.h"
#include "trace_page.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    M_UNTRACED,
    M_FULL1,
    M_FULL16,
    M_SAMPLED,
    M_MALLOC,
    M_HEAPTRACK,
    M_PYTHON3,
    M_TM1,
    M_TM16,
    M_NUM
};
static const char *const MODE_NAMES[M_NUM + 1] = {
    "untraced",  "full-1",  "full-16",       "sampled",        "malloc",
    "heaptrack", "python3", "tracemalloc-1", "tracemalloc-16", NULL};
/* What each mode is, for the report. */
static const char *const MODE_DESC[M_NUM] = {
    "no PYMM_TRACE",
    "PYMM_TRACE, PYMM_TRACE_FRAMES=1",
    "PYMM_TRACE, PYMM_TRACE_FRAMES=16",
    "PYMM_TRACE, PYMM_TRACE_FRAMES=16, PYMM_TRACE_SAMPLE=524288",
    "the same workload on the C library's malloc (its own program), no tracing",
    "that malloc program under heaptrack",
    "(py cases) the real python3 running the script",
    "python3 -X tracemalloc=1",
    "python3 -X tracemalloc=16"};

#define SAMPLE_BYTES "524288"
#define ROUNDS_QUICK 3
#define ROUNDS_FULL 5

enum { C_TREES, C_MIX, C_PY_CONTAINERS, C_PY_JSONIO, C_NUM };

/* The sizes: the tree depth, the mix's steps, the scripts' work scale. */
typedef struct trace_case {
    const char *name;
    long n_full, n_quick;
} trace_case;

static const trace_case CASES[C_NUM] = {
    {"binarytrees-mutable-16", 16, 16},
    {"mix", 8000000, 2000000},
    {"py-containers", 4, 1},
    {"py-jsonio", 4, 1},
};
/* The names --cases takes: the cases above, and html-page (trace_page.c),
 * which is measured apart from the modes. */
static const char *const CASE_NAMES[C_NUM + 2] = {
    "binarytrees-mutable-16", "mix", "py-containers", "py-jsonio", "html-page", NULL};

/* The Python cases run bench/scripts/NAME.py (NAME: the case without
 * "py-") in pymm-python (the pymm modes) and the real python3 (the
 * tracemalloc modes); the C cases their worker and its malloc build. */
static int is_py(int c) { return c >= C_PY_CONTAINERS; }

static int applies(int c, int m) {
    return is_py(c) ? (m <= M_SAMPLED || m >= M_PYTHON3) : m <= M_HEAPTRACK;
}

/* The mode runs the case's anchor program (malloc build, python3). */
static int uses_anchor(int m) { return m >= M_MALLOC; }

/* The base of a mode's ratios. */
static int base_of(int m) {
    if (m == M_HEAPTRACK) return M_MALLOC;
    if (m == M_TM1 || m == M_TM16) return M_PYTHON3;
    return M_UNTRACED;
}

typedef struct trace_ctx {
    pmb_options opt;
    int rounds;
    int have_case[C_NUM];
    int have_mode[M_NUM];
    char worker[C_NUM][PATH_MAX]; /* the workload programs        */
    char anchor[C_NUM][PATH_MAX]; /* their malloc builds           */
    int have_anchor[C_NUM];
    char script[C_NUM][PATH_MAX]; /* the py cases' scripts         */
    char pymm[PATH_MAX];          /* the pymm command (reports)    */
    char heaptrack[PATH_MAX];
    char dir[PATH_MAX]; /* the captures, removed at the end */
    pmb_records recs;
    pmb_records checks;
    pmb_notes notes;
} trace_ctx;

/* ------------------------------------------------------------------------ */
/* Finding the programs                                                     */
/* ------------------------------------------------------------------------ */

static int find_worker(char *buf, size_t len, const char *name) {
    char dir[PATH_MAX];
    return pmb_workers_dir(dir, sizeof dir) == 0 && pmb_path(buf, len, dir, name, "") == 0 &&
           pmb_is_executable(buf);
}

/* pymm-python is built next to the pymm command (only in a build tree). */
static void find_python(trace_ctx *cx) {
    char self[PATH_MAX];
    const char *py3 = pmb_python3_path();
    for (int c = C_PY_CONTAINERS; c < C_NUM; c++) {
        FILE *probe = NULL;
        if (pmb_path(cx->script[c], sizeof cx->script[c], pmb_scripts_dir(), CASES[c].name + 3,
                     ".py") == 0)
            probe = fopen(cx->script[c], "r");
        cx->have_case[c] =
            probe != NULL && pmb_self_dir(self, sizeof self) == 0 &&
            pmb_path(cx->worker[c], sizeof cx->worker[c], self, "pymm-python", "") == 0 &&
            pmb_is_executable(cx->worker[c]);
        if (probe) fclose(probe);
        if (!cx->have_case[c])
            pmb_note(&cx->notes,
                     "%s skipped: pymm-python not built (it is next to the pymm "
                     "command of a build tree only) or %s not found",
                     CASES[c].name, cx->script[c]);
        snprintf(cx->anchor[c], sizeof cx->anchor[c], "%s", py3);
        cx->have_anchor[c] = *py3 && pmb_is_executable(py3);
        if (!cx->have_anchor[c] && c == C_PY_CONTAINERS)
            pmb_note(&cx->notes, "python3 and tracemalloc skipped: no python3 found at "
                                 "configure time (PYMM_BENCH_PYTHON3)");
    }
}

static void find_programs(trace_ctx *cx) {
    static const char *const workers[C_NUM] = {"pymm-bench-trace-trees", "pymm-bench-trace-pymm"};
    static const char *const anchors[C_NUM] = {"pymm-bench-objects-malloc",
                                               "pymm-bench-trace-malloc"};
    for (int c = 0; c < C_PY_CONTAINERS; c++) {
        cx->have_case[c] = find_worker(cx->worker[c], sizeof cx->worker[c], workers[c]);
        if (!cx->have_case[c])
            pmb_note(&cx->notes, "%s skipped: %s not found in the workers' directory",
                     CASES[c].name, workers[c]);
        cx->have_anchor[c] = find_worker(cx->anchor[c], sizeof cx->anchor[c], anchors[c]);
        if (!cx->have_anchor[c])
            pmb_note(&cx->notes, "%s: malloc and heaptrack skipped: %s not found", CASES[c].name,
                     anchors[c]);
    }
    find_python(cx);
    /* The pymm command sits next to the workers in the build tree; an
     * installed one is the running program itself. */
    char self[PATH_MAX];
    int have_pymm = pmb_self_dir(self, sizeof self) == 0 &&
                    pmb_path(cx->pymm, sizeof cx->pymm, self, "pymm", "") == 0 &&
                    pmb_is_executable(cx->pymm);
    if (!have_pymm)
        pmb_note(&cx->notes, "no reading figures: the pymm command not found next to this "
                             "program");
    for (int m = 0; m < M_NUM; m++) cx->have_mode[m] = 1;
    if (pmb_find_in_path("heaptrack", cx->heaptrack, sizeof cx->heaptrack) != 0) {
        cx->have_mode[M_HEAPTRACK] = 0;
        pmb_note(&cx->notes, "heaptrack: not installed (not found on PATH; Debian: heaptrack)");
    }
}

/* ------------------------------------------------------------------------ */
/* One run                                                                  */
/* ------------------------------------------------------------------------ */

static int is_traced(int mode) { return mode >= M_FULL1 && mode <= M_SAMPLED; }

/* The value after "\"key\": " in a JSON text, or NAN. */
static double json_number(const char *text, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(text, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* `pymm report FILE --format json`: its wall time, and the recorded
 * allocations and frees of its summary, as samples of round. */
static void read_capture(trace_ctx *cx, const char *case_name, int mode, const char *file,
                         int round) {
    const char *impl = MODE_NAMES[mode];
    struct stat st;
    if (!cx->pymm[0] || stat(file, &st) != 0) {
        pmb_note(&cx->notes, "%s %s: no capture file", case_name, impl);
        return;
    }
    char *argv[] = {cx->pymm, "report", (char *)file, "--format", "json", NULL};
    pmb_child ch;
    double t0 = pmb_monotonic_s();
    int rc = pmb_run(argv, NULL, 0, 0, &ch);
    double wall = pmb_monotonic_s() - t0;
    /* The events in the file (in a sampled capture "allocations" is the
     * weighted estimate of all of them). */
    double allocs = ch.out ? json_number(ch.out, "recorded_allocations") : NAN;
    double frees = ch.out ? json_number(ch.out, "recorded_frees") : NAN;
    pmb_child_release(&ch);
    if (rc != 0 || isnan(allocs) || allocs <= 0) {
        pmb_note(&cx->notes, "%s %s: `pymm report --format json` failed or recorded nothing",
                 case_name, impl);
        return;
    }
    pmb_records_add_sample(&cx->recs, case_name, impl, "recorded", round, allocs, "allocs");
    pmb_records_add_sample(&cx->recs, case_name, impl, "capture_per_alloc", round,
                           (double)st.st_size / allocs, "B/alloc");
    pmb_records_add_sample(&cx->recs, case_name, impl, "read_s", round, wall, "s");
    pmb_records_add_sample(&cx->recs, case_name, impl, "read_events_per_s", round,
                           (allocs + (isnan(frees) ? 0 : frees)) / wall, "events/s");
}

static void take_checks(trace_ctx *cx, const char *impl, const char *text) {
    for (const char *line = text; line && *line;) {
        size_t len = strcspn(line, "\n");
        char case_name[48], what[32];
        double value;
        if (sscanf(line, "PMB-CHECK %47s %31s %lf", case_name, what, &value) == 3)
            pmb_records_add(&cx->checks, case_name, impl, what, value, "");
        line = line[len] ? line + len + 1 : NULL;
    }
}

static void run_mode(trace_ctx *cx, int c, int mode, int round) {
    const char *impl = MODE_NAMES[mode];
    char n[24], capture[PATH_MAX + 16], htout[PATH_MAX + 16];
    long size = cx->opt.quick ? CASES[c].n_quick : CASES[c].n_full;
    snprintf(n, sizeof n, "%ld", size);
    snprintf(capture, sizeof capture, "%s/%s.trc", cx->dir, impl);
    snprintf(htout, sizeof htout, "%s/heaptrack", cx->dir);

    char *argv[12];
    int k = 0;
    if (mode == M_HEAPTRACK) {
        argv[k++] = cx->heaptrack;
        argv[k++] = "-o";
        argv[k++] = htout;
    }
    int anchor = uses_anchor(mode);
    argv[k++] = anchor ? cx->anchor[c] : cx->worker[c];
    if (is_py(c)) {
        if (mode == M_TM1 || mode == M_TM16) {
            argv[k++] = "-X";
            argv[k++] = mode == M_TM1 ? "tracemalloc=1" : "tracemalloc=16";
        }
        argv[k++] = cx->script[c];
        argv[k++] = n;
    } else if (c == C_TREES) {
        argv[k++] = "trees";
        argv[k++] = n;
        /* The malloc worker's nodes are plain structs: no mutable ones. */
        if (!anchor) argv[k++] = "mutable";
    } else {
        argv[k++] = "mix";
        argv[k++] = n;
    }
    argv[k] = NULL;

    pmb_env env[4] = {{"PYMM_TRACE", NULL},
                      {"PYMM_TRACE_FRAMES", NULL},
                      {"PYMM_TRACE_SAMPLE", NULL},
                      {"PYMM_MALLOC", NULL}};
    if (is_traced(mode)) {
        env[0].value = capture;
        env[1].value = mode == M_FULL1 ? "1" : "16";
        if (mode == M_SAMPLED) env[2].value = SAMPLE_BYTES;
    }

    pmb_progress("%-22s %-14s round %d/%d", CASES[c].name, impl, round + 1, cx->rounds);
    pmb_child ch;
    unlink(capture);
    int rc = pmb_run(argv, env, 4, mode == M_HEAPTRACK, &ch);
    if (rc == 0) {
        pmb_records_add_sample(&cx->recs, CASES[c].name, impl, "cpu_s", round, ch.cpu_s, "s");
        pmb_records_add_sample(&cx->recs, CASES[c].name, impl, "peak_rss_kb", round,
                               (double)ch.maxrss_kb, "KiB");
        if (ch.out) take_checks(cx, impl, ch.out);
    }
    pmb_note_worker(&cx->notes, CASES[c].name, impl, rc, ch.term_signal, ch.exit_code, rc == 0);
    pmb_child_release(&ch);
    if (rc == 0 && is_traced(mode)) read_capture(cx, CASES[c].name, mode, capture, round);
    unlink(capture);
    /* heaptrack names its file after the compressor it found. */
    static const char *const ht_suffixes[] = {"", ".zst", ".gz"};
    for (size_t i = 0; i < sizeof ht_suffixes / sizeof ht_suffixes[0]; i++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof p, "%s%s", htout, ht_suffixes[i]);
        unlink(p);
    }
}

/* The recorder's cost per recorded allocation, per round: (CPU of the
 * traced run - CPU of the untraced run of the same round) / recorded. */
static void add_overheads(trace_ctx *cx) {
    for (int c = 0; c < C_NUM; c++) {
        const char *cn = CASES[c].name;
        const pmb_record *base = pmb_records_find(&cx->recs, cn, "untraced", "cpu_s");
        for (int m = M_FULL1; m <= M_SAMPLED && base; m++) {
            const pmb_record *cpu = pmb_records_find(&cx->recs, cn, MODE_NAMES[m], "cpu_s");
            const pmb_record *n = pmb_records_find(&cx->recs, cn, MODE_NAMES[m], "recorded");
            for (int r = 0; r < cx->rounds && cpu && n; r++) {
                double d = cpu->samples[r] - base->samples[r];
                if (!isnan(d) && !isnan(n->samples[r]) && n->samples[r] > 0)
                    pmb_records_add_sample(&cx->recs, cn, MODE_NAMES[m], "overhead_ns_per_alloc", r,
                                           d / n->samples[r] * 1e9, "ns");
                /* pmb_records_add_sample may move the array: look again. */
                base = pmb_records_find(&cx->recs, cn, "untraced", "cpu_s");
                cpu = pmb_records_find(&cx->recs, cn, MODE_NAMES[m], "cpu_s");
                n = pmb_records_find(&cx->recs, cn, MODE_NAMES[m], "recorded");
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The report                                                               */
/* ------------------------------------------------------------------------ */

static const pmb_record *rec(const trace_ctx *cx, int c, int mode, const char *metric) {
    return pmb_records_find(&cx->recs, CASES[c].name, MODE_NAMES[mode], metric);
}

/* A cell: the record's spread with fmt, scaled by div. */
static void cell(const pmb_record *r, const char *fmt, double div) {
    char buf[96];
    pmb_spread s = pmb_record_spread(r);
    s.median /= div, s.min /= div, s.max /= div;
    pmb_format_spread(buf, sizeof buf, fmt, s);
    printf(" %s |", r ? buf : "");
}

static void ratio_cell(const trace_ctx *cx, int c, int mode, int base, const char *metric) {
    char buf[96] = "";
    if (mode != base) {
        pmb_spread s = pmb_ratio_spread(rec(cx, c, mode, metric), rec(cx, c, base, metric));
        pmb_format_spread(buf, sizeof buf, "%.2fx", s);
    }
    printf(" %s |", buf);
}

/* Whether any case ran in any mode (a run of html-page alone has none). */
static int measured(const trace_ctx *cx) {
    for (int c = 0; c < C_NUM; c++)
        if (rec(cx, c, M_UNTRACED, "cpu_s")) return 1;
    return 0;
}

static void print_measurements(const trace_ctx *cx) {
    if (!measured(cx)) return;
    printf("### Measurements\n\n"
           "| case | mode | CPU s | CPU / base | peak RSS KiB | RSS / base | recorded allocs | "
           "overhead ns / recorded alloc | capture B / alloc | report read s | read M events/s "
           "|\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for (int c = 0; c < C_NUM; c++) {
        for (int m = 0; m < M_NUM; m++) {
            if (!rec(cx, c, m, "cpu_s")) {
                if (m == M_HEAPTRACK && !cx->have_mode[m] && cx->have_case[c] && !is_py(c) &&
                    pmb_option_case(&cx->opt, CASES[c].name))
                    printf("| %s | heaptrack | not installed | | | | | | | | |\n", CASES[c].name);
                continue;
            }
            int base = base_of(m);
            printf("| %s | %s |", CASES[c].name, MODE_NAMES[m]);
            cell(rec(cx, c, m, "cpu_s"), "%.3f", 1);
            ratio_cell(cx, c, m, base, "cpu_s");
            cell(rec(cx, c, m, "peak_rss_kb"), "%.0f", 1);
            ratio_cell(cx, c, m, base, "peak_rss_kb");
            cell(rec(cx, c, m, "recorded"), "%.0f", 1);
            cell(rec(cx, c, m, "overhead_ns_per_alloc"), "%.1f", 1);
            cell(rec(cx, c, m, "capture_per_alloc"), "%.2f", 1);
            cell(rec(cx, c, m, "read_s"), "%.3f", 1);
            cell(rec(cx, c, m, "read_events_per_s"), "%.2f", 1e6);
            printf("\n");
        }
    }
    printf("\n");
}

static const char *within(double measured, double goal, int at_least) {
    if (isnan(measured) || isnan(goal)) return "n/a";
    return (at_least ? measured >= goal : measured <= goal) ? "yes" : "no";
}

static double med(pmb_spread s) { return s.n ? s.median : NAN; }

static void target_ratio(const trace_ctx *cx, int c, int mode, const char *metric, const char *what,
                         double goal, const char *extra) {
    char buf[96];
    pmb_spread s = pmb_ratio_spread(rec(cx, c, mode, metric), rec(cx, c, M_UNTRACED, metric));
    pmb_format_spread(buf, sizeof buf, "%.2fx", s);
    printf("| %s: %s %s / untraced%s | %s | <= %.2fx | %s |\n", CASES[c].name, MODE_NAMES[mode],
           what, extra, buf, goal, within(med(s), goal, 0));
}

static void target_heaptrack(const trace_ctx *cx, int c) {
    char a[96], b[96];
    pmb_spread pm =
        pmb_ratio_spread(rec(cx, c, M_FULL16, "cpu_s"), rec(cx, c, M_UNTRACED, "cpu_s"));
    pmb_spread ht =
        pmb_ratio_spread(rec(cx, c, M_HEAPTRACK, "cpu_s"), rec(cx, c, M_MALLOC, "cpu_s"));
    pmb_format_spread(a, sizeof a, "%.2fx", pm);
    if (!cx->have_mode[M_HEAPTRACK]) snprintf(b, sizeof b, "heaptrack not installed");
    else pmb_format_spread(b, sizeof b, "%.2fx", ht);
    printf("| %s: full-16 CPU ratio below heaptrack's (heaptrack / malloc) | %s vs %s | below | "
           "%s |\n",
           CASES[c].name, a, b, ht.n ? within(med(pm), med(ht) - 1e-12, 0) : "n/a");
}

static void target_value(const trace_ctx *cx, int c, int mode, const char *metric, const char *what,
                         const char *fmt, double div, double goal, int at_least) {
    char buf[96];
    pmb_spread s = pmb_record_spread(rec(cx, c, mode, metric));
    s.median /= div, s.min /= div, s.max /= div;
    pmb_format_spread(buf, sizeof buf, fmt, s);
    printf("| %s: %s %s | %s | %s %g | %s |\n", CASES[c].name, MODE_NAMES[mode], what, buf,
           at_least ? ">=" : "<=", goal, within(med(s), goal, at_least));
}

static void print_targets(const trace_ctx *cx) {
    if (!measured(cx)) return;
    printf("### Targets of the issue (shown, not enforced)\n\n"
           "| target | measured | goal | within |\n|---|--:|--:|:-:|\n");
    for (int c = 0; c < C_PY_CONTAINERS; c++) {
        if (!rec(cx, c, M_UNTRACED, "cpu_s")) continue;
        target_ratio(cx, c, M_FULL16, "cpu_s", "CPU", 3.0, "");
        target_heaptrack(cx, c);
        target_ratio(cx, c, M_FULL16, "peak_rss_kb", "peak RSS", 1.5, "");
        target_ratio(cx, c, M_SAMPLED, "cpu_s", "CPU", 1.03,
                     " (the target is in instructions; this is CPU time)");
        target_value(cx, c, M_FULL16, "capture_per_alloc", "capture bytes / recorded alloc", "%.2f",
                     1, 3.0, 0);
        target_value(cx, c, M_FULL16, "read_events_per_s", "report read, M events/s", "%.2f", 1e6,
                     5.0, 1);
    }
    printf("\n");
}

static void print_header(const trace_ctx *cx, double elapsed_s) {
    pmb_print_head("trace", cx->opt.quick, elapsed_s);
    printf(
        "**%d rounds.** Every case runs in a fresh process per mode and round, the rounds "
        "interleaved (every mode of every case, then again, each round starting with the "
        "next mode). A cell is the **median over the rounds (min\xe2\x80\x93max)**, a ratio "
        "the **median of the per-round ratios** to the base (untraced; heaptrack's base is "
        "malloc). CPU s: user+sys CPU time of the whole process (wait4), start-up, exit and "
        "the capture's writing included; heaptrack's includes its interpreter process. peak "
        "RSS: ru_maxrss of wait4, the largest single process of the tree (heaptrack's "
        "interpreter is a separate process), never below the driver's own few MiB. "
        "recorded allocs: the summary of `pymm report FILE --format json`. overhead ns: "
        "(CPU traced - CPU untraced of the same round) / recorded allocations. capture B: "
        "file size / recorded allocations. report read: the wall time of `pymm report "
        "--format json` on the capture; M events/s: (allocations + frees) / that time. The "
        "machine is a shared 2-CPU VM: per-round ratios spread by 10-30%% in the runs so far.\n\n",
        cx->rounds);
    printf("Modes:");
    for (int m = 0; m < M_NUM; m++) printf("%s %s: %s", m ? ";" : "", MODE_NAMES[m], MODE_DESC[m]);
    printf(".\n\nSizes: binarytrees-mutable-16 depth %ld (GC-tracked nodes, the objects suite's "
           "worker); mix %ld steps over 4096 slots; py-containers and py-jsonio: "
           "bench/scripts/containers.py and jsonio.py at scale %ld, in pymm-python (untraced, "
           "full-*, sampled: the pymm recorder) and in python3 (python3, tracemalloc-*) "
           "(bench/README.md).\n\n",
           cx->opt.quick ? CASES[C_TREES].n_quick : CASES[C_TREES].n_full,
           cx->opt.quick ? CASES[C_MIX].n_quick : CASES[C_MIX].n_full,
           cx->opt.quick ? CASES[C_PY_JSONIO].n_quick : CASES[C_PY_JSONIO].n_full);
    pmb_notes_print(&cx->notes);
}

/* ------------------------------------------------------------------------ */
/* The suite                                                                */
/* ------------------------------------------------------------------------ */

static const char USAGE[] =
    "usage: pymm bench trace [--quick] [--json FILE] [--rounds N] [--cases LIST] [--impls "
    "LIST]\n"
    "  --quick        a shorter mix (2,000,000 steps, not 8,000,000), the scripts at\n"
    "                 scale 1, not 4, 3 rounds, not 5\n"
    "  --json FILE    also write the records as JSON to FILE (samples by round)\n"
    "  --rounds N     interleaved rounds (1..64)\n"
    "  --cases LIST   only these cases: binarytrees-mutable-16, mix, py-containers,\n"
    "                 py-jsonio, html-page (headless Chromium loading the HTML report\n"
    "                 of 10,000,000 allocations from 1,000,000 stacks; a figure)\n"
    "  --impls LIST   only these modes: untraced, full-1, full-16, sampled, malloc,\n"
    "                 heaptrack, python3, tracemalloc-1, tracemalloc-16 (untraced always\n"
    "                 runs: it is the base)\n"
    "See bench/README.md (section trace).\n";

int pmb_suite_trace(int argc, char **argv) {
    trace_ctx *cx = calloc(1, sizeof *cx);
    if (!cx) return 1;
    int rc = pmb_parse_options("trace", USAGE, argc, argv, CASE_NAMES, MODE_NAMES, &cx->opt);
    if (rc >= 0) {
        free(cx);
        return rc;
    }
    cx->rounds = pmb_option_rounds(&cx->opt, cx->opt.quick ? ROUNDS_QUICK : ROUNDS_FULL);
    double t0 = pmb_monotonic_s();
    find_programs(cx);
    if (pmb_make_tempdir(cx->dir, sizeof cx->dir) != 0) {
        fprintf(stderr, "pymm bench trace: cannot make a temporary directory\n");
        free(cx);
        return 1;
    }
    pmb_page *page = NULL;
    if (pmb_option_case(&cx->opt, "html-page")) {
        char worker[PATH_MAX] = "";
        if (!find_worker(worker, sizeof worker, "pymm-bench-trace-pymm")) worker[0] = '\0';
        page = pmb_page_prepare(cx->pymm, worker, cx->dir, &cx->recs, &cx->notes);
    }
    for (int round = 0; round < cx->rounds; round++) {
        pmb_page_round(page, round, &cx->recs, &cx->notes);
        for (int c = 0; c < C_NUM; c++) {
            if (!cx->have_case[c] || !pmb_option_case(&cx->opt, CASES[c].name)) continue;
            for (int k = 0; k < M_NUM; k++) {
                int m = (k + round) % M_NUM;
                int ok =
                    applies(c, m) && cx->have_mode[m] && (!uses_anchor(m) || cx->have_anchor[c]);
                if (ok && (m == M_UNTRACED || pmb_option_impl(&cx->opt, MODE_NAMES[m])))
                    run_mode(cx, c, m, round);
            }
        }
    }
    pmb_page_free(page);
    pmb_remove_tempdir(cx->dir);
    add_overheads(cx);
    pmb_verify_checks(&cx->checks, &cx->notes);
    print_header(cx, pmb_monotonic_s() - t0);
    print_measurements(cx);
    print_targets(cx);
    pmb_page_print(&cx->recs);
    fflush(stdout);
    rc = pmb_suite_status(&cx->recs, "trace", cx->opt.json_path,
                          pmb_records_have_impl(&cx->recs, "untraced") ||
                              pmb_records_find(&cx->recs, "html-page", "page-default", "load_ms"));
    pmb_records_free(&cx->recs);
    pmb_records_free(&cx->checks);
    pmb_notes_free(&cx->notes);
    free(cx);
    return rc;
}
