/*
 * alloc_python.c -- case (e) of the `alloc` suite: py-NAME, the
 * allocation-heavy Python scripts of bench/scripts/ run by
 *   pymm-python              (impl "pymm-python": pymm is the allocator)
 *   pymm-python, PYMM_OFF=1  (impl "pymalloc": CPython's own allocator in
 *                             the very same binary, the fair anchor)
 *   the real python3         (impl "python3": resolved at configure time)
 * CPU time (user + sys) and peak RSS come from wait4, a sample per round;
 * the rounds are interleaved across the impls (every impl once, then again)
 * so that drifts in machine state hit all of them alike, and the report
 * shows the median over the rounds and the median of per-round ratios.
 */
#define _GNU_SOURCE
#include "pmb_alloc.h"
#include "pmb_proc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pmb_py_impl_names[PMB_NUM_PY_IMPLS] = {"pymm-python", "pymalloc", "python3"};
const char *const pmb_py_scripts[PMB_NUM_SCRIPTS] = {"containers", "strings", "trees", "jsonio"};

/* The scripts take one argument, a work multiplier; --quick is a quarter. */
#define PY_SCALE_FULL "4"
#define PY_SCALE_QUICK "1"

/* What the runs of one impl printed. */
typedef struct py_runs {
    int runs;
    char checksum[160]; /* the script's last output line, from the first run */
    int mismatch;
} py_runs;

static void last_line(const char *text, char *buf, size_t len) {
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) n--;
    size_t start = n;
    while (start > 0 && text[start - 1] != '\n') start--;
    snprintf(buf, len, "%.*s", (int)(n - start), text + start);
}

/* The run of round of one script by one impl: its samples become records,
 * its checksum is compared with the impl's first. */
static void run_once(alloc_ctx *cx, const char *exe, int impl, const char *script,
                     const char *case_name, int round, py_runs *best) {
    pmb_env env = {"PYMM_OFF", impl == PMB_PY_OFF ? "1" : NULL};
    char *argv[] = {(char *)exe, (char *)script, cx->opt.quick ? PY_SCALE_QUICK : PY_SCALE_FULL,
                    NULL};
    pmb_child c;
    if (pmb_run(argv, &env, 1, 0, &c) != 0) {
        pmb_note(&cx->notes, "%s: %s failed (exit status %d, signal %d)", case_name,
                 pmb_py_impl_names[impl], c.exit_code, c.term_signal);
        pmb_child_release(&c);
        return;
    }
    char line[sizeof best->checksum];
    last_line(c.out, line, sizeof line);
    if (best->runs == 0) snprintf(best->checksum, sizeof best->checksum, "%s", line);
    else if (strcmp(best->checksum, line) != 0) best->mismatch = 1;
    const char *name = pmb_py_impl_names[impl];
    pmb_records_add_sample(&cx->recs, case_name, name, "cpu_ms", round, c.cpu_s * 1e3, "ms");
    pmb_records_add_sample(&cx->recs, case_name, name, "peak_rss_kb", round, (double)c.maxrss_kb,
                           "KiB");
    best->runs++;
    pmb_child_release(&c);
}

static void check_case(alloc_ctx *cx, const char *case_name, const py_runs *best, const int *have) {
    for (int i = 0; i < PMB_NUM_PY_IMPLS; i++) {
        if (!have[i] || best[i].runs == 0) continue;
        if (best[i].mismatch)
            pmb_note(&cx->notes, "%s: %s printed different results across runs", case_name,
                     pmb_py_impl_names[i]);
    }
    /* Every impl runs the same program: a differing result is a bug. */
    for (int i = 1; i < PMB_NUM_PY_IMPLS; i++) {
        if (best[0].runs && best[i].runs && strcmp(best[0].checksum, best[i].checksum) != 0)
            pmb_note(&cx->notes, "%s: %s and %s printed different results", case_name,
                     pmb_py_impl_names[0], pmb_py_impl_names[i]);
    }
}

static void run_script(alloc_ctx *cx, const char *const *exe, const int *have, const char *name) {
    char script[PATH_MAX], case_name[48];
    snprintf(case_name, sizeof case_name, "py-%s", name);
    FILE *probe = NULL;
    if (pmb_path(script, sizeof script, pmb_scripts_dir(), name, ".py") == 0)
        probe = fopen(script, "r");
    if (!probe) {
        pmb_note(&cx->notes, "%s skipped: %s not found (set PYMM_BENCH_SCRIPTS)", case_name,
                 script);
        return;
    }
    fclose(probe);
    pmb_progress("%-9s %d interleaved rounds", case_name, cx->rounds);
    py_runs best[PMB_NUM_PY_IMPLS];
    memset(best, 0, sizeof best);
    for (int r = 0; r < cx->rounds; r++) {
        /* Each round starts with the next impl: none always runs first. */
        for (int k = 0; k < PMB_NUM_PY_IMPLS; k++) {
            int i = (k + r) % PMB_NUM_PY_IMPLS;
            if (have[i]) run_once(cx, exe[i], i, script, case_name, r, &best[i]);
        }
    }
    check_case(cx, case_name, best, have);
}

void pmb_alloc_python(alloc_ctx *cx) {
    char pymm_python[PATH_MAX];
    if (!pmb_option_group(&cx->opt, "py-")) return;
    if (pmb_path(pymm_python, sizeof pymm_python, cx->self_dir, "pymm-python", "") != 0 ||
        !pmb_is_executable(pymm_python)) {
        pmb_note(&cx->notes, "py cases skipped: %s not built (tools/pymm-python)", pymm_python);
        return;
    }
    const char *python3 = pmb_python3_path();
    const char *exe[PMB_NUM_PY_IMPLS] = {pymm_python, pymm_python, python3};
    int have[PMB_NUM_PY_IMPLS] = {1, pmb_option_impl(&cx->opt, "pymalloc"),
                                  pmb_option_impl(&cx->opt, "python3")};
    if (have[PMB_PY_PYTHON3] && !pmb_is_executable(python3)) {
        have[PMB_PY_PYTHON3] = 0;
        pmb_note(&cx->notes,
                 "python3 column skipped: '%s' is no executable (python3 as found "
                 "at configure time, or PYMM_BENCH_PYTHON3)",
                 python3);
    }
    for (int s = 0; s < PMB_NUM_SCRIPTS; s++) {
        char case_name[48];
        snprintf(case_name, sizeof case_name, "py-%s", pmb_py_scripts[s]);
        if (pmb_option_case(&cx->opt, case_name)) run_script(cx, exe, have, pmb_py_scripts[s]);
    }
}
