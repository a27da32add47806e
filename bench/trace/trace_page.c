/*
 * trace_page.c -- the `html-page` case of `pymm bench trace`: how long
 * headless Chromium takes to load the HTML report of a big capture (a
 * figure, never a target: the issue asks for it to be reported).
 *
 * The capture: pymm-bench-trace-pymm `stacks 1000000 10` under
 * PYMM_TRACE (PYMM_TRACE_FRAMES=1): 10,000,000 allocations from
 * 1,000,000 distinct stacks, made once. Its pages: `pymm report --format
 * html` with the default caps (page-default: 500 stacks, 100 buckets) and
 * with the largest (page-largest: --max-stacks 100000 --buckets 100000,
 * which the report lowers to stay under 10 MB), each made once, its size
 * and the report's wall time recorded. Each round then opens both pages
 * in one headless Chromium, driven by tests/cli/cdp.py's --time mode
 * (the DevTools protocol over a pipe; the same driver the browser tests
 * use), which reads the page's own clock: from the start of the
 * navigation to the end of the load event, and to the page's
 * "pymm-rendered" performance mark (set when its script has drawn
 * everything).
 *
 * Skipped with a note when chromium, python3 or cdp.py is not found (an
 * installed pymm has cdp.py beside the bench scripts, a build tree in
 * tests/cli of its source).
 */
#define _GNU_SOURCE
#include "trace_page.h"

#include "pmb_proc.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE_STACKS "1000000"
#define PAGE_PER "10"

static const char *const PAGE_IMPLS[2] = {"page-default", "page-largest"};

struct pmb_page {
    char chromium[PATH_MAX], python[PATH_MAX], cdp[PATH_MAX];
    char html[2][PATH_MAX + 32];
    int ready; /* the pages were made */
};

/* chromium, python3 and cdp.py: 0, or -1 with a note. */
static int find_tools(pmb_page *p, pmb_notes *notes) {
    static const char *const browsers[] = {"chromium", "chromium-browser", "google-chrome"};
    int have = 0;
    for (size_t i = 0; i < sizeof browsers / sizeof browsers[0] && !have; i++)
        have = pmb_find_in_path(browsers[i], p->chromium, sizeof p->chromium) == 0;
    if (!have) {
        pmb_note(notes, "html-page skipped: no chromium on PATH (Debian: chromium)");
        return -1;
    }
    const char *py = pmb_python3_path();
    if (*py) snprintf(p->python, sizeof p->python, "%s", py);
    if (!*py && pmb_find_in_path("python3", p->python, sizeof p->python) != 0) {
        pmb_note(notes, "html-page skipped: no python3 to drive chromium");
        return -1;
    }
    if (pmb_path(p->cdp, sizeof p->cdp, pmb_scripts_dir(), "cdp", ".py") != 0 ||
        access(p->cdp, R_OK) != 0)
        snprintf(p->cdp, sizeof p->cdp, "%s", PMB_CDP_PY);
    if (access(p->cdp, R_OK) != 0) {
        pmb_note(notes, "html-page skipped: cdp.py not found (%s)", p->cdp);
        return -1;
    }
    return 0;
}

/* The capture, then its two pages, with their sizes and the report's
 * wall time: 0, or -1 with a note. */
static int make_pages(pmb_page *p, const char *pymm, const char *worker, const char *dir,
                      pmb_records *recs, pmb_notes *notes) {
    char capture[PATH_MAX + 16];
    snprintf(capture, sizeof capture, "%s/page.trc", dir);
    char *gen[] = {(char *)worker, "stacks", PAGE_STACKS, PAGE_PER, NULL};
    pmb_env env[2] = {{"PYMM_TRACE", capture}, {"PYMM_TRACE_FRAMES", "1"}};
    pmb_child ch;
    pmb_progress("html-page: tracing %s stacks x %s allocations", PAGE_STACKS, PAGE_PER);
    int rc = pmb_run(gen, env, 2, 0, &ch);
    pmb_child_release(&ch);
    if (rc != 0) {
        pmb_note(notes, "html-page skipped: `%s stacks` failed", worker);
        return -1;
    }
    for (int k = 0; k < 2 && rc == 0; k++) {
        snprintf(p->html[k], sizeof p->html[k], "%s/%s.html", dir, PAGE_IMPLS[k]);
        char *argv[] = {(char *)pymm, "report",    capture,    "--format",
                        "html",       "-o",        p->html[k], k ? "--max-stacks" : NULL,
                        "100000",     "--buckets", "100000",   NULL};
        pmb_progress("html-page: pymm report --format html (%s)", PAGE_IMPLS[k]);
        double t0 = pmb_monotonic_s();
        rc = pmb_run(argv, NULL, 0, 1, &ch);
        double wall = pmb_monotonic_s() - t0;
        pmb_child_release(&ch);
        struct stat st;
        if (rc != 0 || stat(p->html[k], &st) != 0) {
            pmb_note(notes, "html-page skipped: `pymm report %s --format html` failed", capture);
            rc = -1;
            break;
        }
        pmb_records_add(recs, "html-page", PAGE_IMPLS[k], "html_bytes", (double)st.st_size, "B");
        pmb_records_add(recs, "html-page", PAGE_IMPLS[k], "report_s", wall, "s");
    }
    unlink(capture);
    return rc;
}

/* The value cdp.py printed as `name VALUE` in the block of page number
 * page (0, 1), or NAN. */
static double cdp_field(const char *out, int page, const char *name) {
    int at = -1;
    size_t n = strlen(name);
    for (const char *line = out; line && *line;) {
        if (strncmp(line, "page ", 5) == 0) at++;
        else if (at == page && strncmp(line, name, n) == 0 && line[n] == ' ') {
            char *end;
            double v = strtod(line + n + 1, &end);
            return end == line + n + 1 ? NAN : v;
        }
        line = strchr(line, '\n');
        if (line) line++;
    }
    return NAN;
}

pmb_page *pmb_page_prepare(const char *pymm, const char *worker, const char *dir, pmb_records *recs,
                           pmb_notes *notes) {
    pmb_page *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    if (!*pymm || !pmb_is_executable(worker)) {
        pmb_note(notes, "html-page skipped: the pymm command or pymm-bench-trace-pymm not found");
        return p;
    }
    p->ready = find_tools(p, notes) == 0 && make_pages(p, pymm, worker, dir, recs, notes) == 0;
    return p;
}

void pmb_page_round(pmb_page *p, int round, pmb_records *recs, pmb_notes *notes) {
    if (p == NULL || !p->ready) return;
    char url[2][PATH_MAX + 48];
    for (int k = 0; k < 2; k++) snprintf(url[k], sizeof url[k], "file://%s", p->html[k]);
    char *argv[] = {p->python, p->cdp,   p->chromium, "--page", url[0],
                    "--time",  "--page", url[1],      "--time", NULL};
    pmb_progress("html-page: chromium, round %d", round + 1);
    pmb_child ch;
    int rc = pmb_run(argv, NULL, 0, 1, &ch);
    for (int k = 0; k < 2 && rc == 0; k++) {
        double load = cdp_field(ch.out, k, "load_ms"), drawn = cdp_field(ch.out, k, "rendered_ms");
        if (isnan(load)) rc = -1;
        else pmb_records_add_sample(recs, "html-page", PAGE_IMPLS[k], "load_ms", round, load, "ms");
        if (!isnan(drawn))
            pmb_records_add_sample(recs, "html-page", PAGE_IMPLS[k], "rendered_ms", round, drawn,
                                   "ms");
    }
    if (rc != 0) pmb_note(notes, "html-page: round %d: cdp.py gave no load time", round + 1);
    pmb_child_release(&ch);
}

static void cell(const pmb_records *recs, const char *impl, const char *metric, const char *fmt,
                 double div) {
    pmb_print_cell(pmb_records_find(recs, "html-page", impl, metric), fmt, div);
}

void pmb_page_print(const pmb_records *recs) {
    if (!pmb_records_find(recs, "html-page", PAGE_IMPLS[0], "html_bytes")) return;
    printf("### The HTML report of a big capture in headless Chromium (a figure, not a "
           "target)\n\n"
           "Capture: %s stacks x %s allocations (pymm-bench-trace-pymm stacks, "
           "PYMM_TRACE_FRAMES=1). page-default: `pymm report --format html`; page-largest: "
           "with `--max-stacks 100000 --buckets 100000`, lowered to stay under 10 MB. "
           "load ms: from the start of the navigation to the end of the load event; "
           "rendered ms: to the page's \"pymm-rendered\" mark (its script done), both on the "
           "page's clock (tests/cli/cdp.py --time).\n\n"
           "| page | size MB | report s | load ms | rendered ms |\n|---|--:|--:|--:|--:|\n",
           PAGE_STACKS, PAGE_PER);
    for (int k = 0; k < 2; k++) {
        printf("| %s |", PAGE_IMPLS[k]);
        cell(recs, PAGE_IMPLS[k], "html_bytes", "%.2f", 1e6);
        cell(recs, PAGE_IMPLS[k], "report_s", "%.2f", 1);
        cell(recs, PAGE_IMPLS[k], "load_ms", "%.0f", 1);
        cell(recs, PAGE_IMPLS[k], "rendered_ms", "%.0f", 1);
        printf("\n");
    }
    printf("\n");
}

void pmb_page_free(pmb_page *p) {
    if (p == NULL) return;
    for (int k = 0; k < 2; k++)
        if (p->html[k][0]) unlink(p->html[k]);
    free(p);
}
