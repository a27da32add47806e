/*
 * objects_suite.c -- the `objects` suite: pymm's object layer against its
 * anchors on three workloads (bench/README.md, section objects):
 *   binarytrees-D             pymm, malloc, boehm, python3
 *   binarytrees-mutable-D     pymm (nodes the collector tracks)
 *   json-NAME                 pymm, python3, jansson, cjson
 *   dict-insert/lookup/delete pymm, cpython-capi
 * Every impl runs in a child process of its own: a worker
 * pymm-bench-objects-IMPL (objects_worker.c), built next to the pymm command
 * or installed in LIBEXECDIR/pymm (pmb_workers_dir), or the real python3 running a script of bench/scripts/. Children print
 * "PMB case metric value unit" lines (records), "PMB-CHECK case what value"
 * (results every impl must share: compared here) and "PMB-NOTE text".
 * The generated JSON documents are written to a temporary directory, the
 * public corpora are read where they are. The report is objects_table.c.
 */
#define _GNU_SOURCE
#include "pmb_objects.h"
#include "pmb_proc.h"
#include "pmb_suites.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const pmb_o_impl_names[PMB_O_NUM_IMPLS] = {
    "pymm", "malloc", "boehm", "python3", "jansson", "cjson", "cpython-capi",
};
const int pmb_o_trees_impls[] = {PMB_O_PYMM, PMB_O_MALLOC, PMB_O_BOEHM, PMB_O_PYTHON3, -1};
const int pmb_o_json_impls[] = {PMB_O_PYMM, PMB_O_PYTHON3, PMB_O_JANSSON, PMB_O_CJSON, -1};
const int pmb_o_dict_impls[] = {PMB_O_PYMM, PMB_O_CPYTHON, -1};

/* The public corpora of case (b), read in place, never copied. */
static const char *const CORPORA[] = {"twitter", "canada", "citm_catalog"};
#define NUM_CORPORA (sizeof CORPORA / sizeof CORPORA[0])

/* ------------------------------------------------------------------------ */
/* Finding the impls                                                        */
/* ------------------------------------------------------------------------ */

/* Why there is no worker (the PMB_HAVE_* come from bench/objects/objects.cmake). */
static const char *missing_reason(int impl) {
    switch (impl) {
        case PMB_O_BOEHM:
            return PMB_HAVE_BOEHM ? "worker not built"
                                  : "gc.h/libgc not found by CMake (Debian: libgc-dev)";
        case PMB_O_JANSSON:
            return PMB_HAVE_JANSSON
                       ? "worker not built"
                       : "jansson.h/libjansson not found by CMake (Debian: libjansson-dev)";
        case PMB_O_CJSON:
            return PMB_HAVE_CJSON
                       ? "worker not built"
                       : "cjson/cJSON.h/libcjson not found by CMake (Debian: libcjson-dev)";
        case PMB_O_CPYTHON:
            return PMB_HAVE_PYMALLOC ? "worker not built"
                                     : "python3-config --embed not found on PATH at configure time";
        default: return "worker not built";
    }
}

static void find_python3(objects_ctx *cx) {
    const char *py = pmb_python3_path();
    snprintf(cx->exe[PMB_O_PYTHON3], sizeof cx->exe[PMB_O_PYTHON3], "%s", py);
    cx->have[PMB_O_PYTHON3] = *py && pmb_is_executable(py);
    if (!cx->have[PMB_O_PYTHON3])
        pmb_note(&cx->notes,
                 "python3 skipped: '%s' is no executable (python3 as found at "
                 "configure time, or PYMM_BENCH_PYTHON3)",
                 py);
}

static void find_impls(objects_ctx *cx) {
    for (int i = 0; i < PMB_O_NUM_IMPLS; i++) {
        if (i == PMB_O_PYTHON3) continue;
        char file[64];
        snprintf(file, sizeof file, "pymm-bench-objects-%s", pmb_o_impl_names[i]);
        cx->have[i] = pmb_path(cx->exe[i], sizeof cx->exe[i], cx->workers_dir, file, "") == 0 &&
                      pmb_is_executable(cx->exe[i]);
        if (!cx->have[i])
            pmb_note(&cx->notes, "%s skipped: %s", pmb_o_impl_names[i], missing_reason(i));
    }
    find_python3(cx);
}

/* ------------------------------------------------------------------------ */
/* Running one child                                                        */
/* ------------------------------------------------------------------------ */

/* "PMB case metric value unit": a record; a value already measured by an
 * earlier process of the same impl keeps the smaller of the two. */
static int take_record(objects_ctx *cx, const char *impl, const char *line) {
    char case_name[48], metric[32], unit[16];
    double value;
    if (sscanf(line, "PMB %47s %31s %lf %15s", case_name, metric, &value, unit) != 4) return 0;
    const pmb_record *old = pmb_records_find(&cx->recs, case_name, impl, metric);
    if (old && old->value < value) value = old->value;
    return pmb_records_add(&cx->recs, case_name, impl, metric, value, unit) == 0;
}

/* "PMB-CHECK case what value": kept per impl, compared by pmb_verify_checks. */
static void take_check(objects_ctx *cx, const char *impl, const char *line) {
    char case_name[48], what[32];
    double value;
    if (sscanf(line, "PMB-CHECK %47s %31s %lf", case_name, what, &value) == 3)
        pmb_records_add(&cx->checks, case_name, impl, what, value, "");
}

static int take_output(objects_ctx *cx, const char *impl, const char *text) {
    int count = 0;
    for (const char *line = text; line && *line;) {
        size_t len = strcspn(line, "\n");
        if (strncmp(line, "PMB ", 4) == 0) count += take_record(cx, impl, line);
        else if (strncmp(line, "PMB-CHECK ", 10) == 0) take_check(cx, impl, line);
        else if (strncmp(line, "PMB-NOTE ", 9) == 0)
            pmb_note(&cx->notes, "%.*s", (int)(len - 9), line + 9);
        line = line[len] ? line + len + 1 : NULL;
    }
    return count;
}

/* Runs impl on one case: a worker "WORKER MODE ARGS..." or, for python3,
 * "python3 SCRIPT ARGS...". args ends with NULL. */
static void run_impl(objects_ctx *cx, int impl, const char *mode, const char *script,
                     const char *case_name, char *const *args) {
    char script_path[PATH_MAX];
    char *argv[8];
    int n = 0;
    argv[n++] = cx->exe[impl];
    if (impl == PMB_O_PYTHON3) {
        if (pmb_path(script_path, sizeof script_path, pmb_scripts_dir(), script, ".py") != 0) {
            pmb_note(&cx->notes, "%s: python3 skipped: the scripts path is too long", case_name);
            return;
        }
        argv[n++] = script_path;
    } else {
        argv[n++] = (char *)mode;
    }
    for (int i = 0; args[i] && n < 7; i++) argv[n++] = args[i];
    argv[n] = NULL;

    const char *name = pmb_o_impl_names[impl];
    pmb_child c;
    int rc = pmb_run(argv, NULL, 0, 0, &c);
    int got = c.out ? take_output(cx, name, c.out) : 0;
    pmb_note_worker(&cx->notes, case_name, name, rc, c.term_signal, c.exit_code, got);
    pmb_child_release(&c);
}

/* ------------------------------------------------------------------------ */
/* The workloads                                                            */
/* ------------------------------------------------------------------------ */

/* binarytrees-D: one process per (impl, depth), the rounds interleaved
 * (round 1 of every depth and impl, then round 2) so that a slow period of
 * the machine does not fall on one impl only; the minimum is kept. Each
 * round starts a depth with the next impl, so that no impl always runs
 * first after a long process (pymm, always first at depth 16, was once
 * 15% slow there in both rounds, against 4% fast when run by hand). pymm
 * runs a second time per depth with mutable nodes, which the collector
 * tracks (binarytrees-mutable-D). */
static void run_trees(objects_ctx *cx) {
    for (int r = 0; r < cx->tree_rounds; r++) {
        for (int d = cx->depth_min; d <= cx->depth_max; d++) {
            char depth[16], case_name[48];
            snprintf(depth, sizeof depth, "%d", d);
            snprintf(case_name, sizeof case_name, "binarytrees-%d", d);
            char *args[] = {depth, NULL};
            int nimpls = 0;
            while (pmb_o_trees_impls[nimpls] >= 0) nimpls++;
            for (int k = 0; k < nimpls; k++) {
                int impl = pmb_o_trees_impls[(k + r) % nimpls]; /* each round starts elsewhere */
                if (!cx->have[impl]) continue;
                pmb_progress("%-18s %-8s round %d/%d", case_name, pmb_o_impl_names[impl], r + 1,
                             cx->tree_rounds);
                run_impl(cx, impl, "trees", "objects_trees", case_name, args);
            }
            if (cx->have[PMB_O_PYMM]) {
                char *mutable_args[] = {depth, "mutable", NULL};
                snprintf(case_name, sizeof case_name, "binarytrees-mutable-%d", d);
                pmb_progress("%-18s %-8s round %d/%d", case_name, "pymm", r + 1, cx->tree_rounds);
                run_impl(cx, PMB_O_PYMM, "trees", "objects_trees", case_name, mutable_args);
            }
        }
    }
}

static void add_json_case(objects_ctx *cx, const char *name, const char *path, long bytes) {
    if (cx->njson == PMB_O_MAX_JSON) return;
    snprintf(cx->json_case[cx->njson], sizeof cx->json_case[0], "json-%s", name);
    snprintf(cx->json_file[cx->njson], sizeof cx->json_file[0], "%s", path);
    cx->json_bytes[cx->njson] = bytes;
    cx->njson++;
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    fclose(f);
    return n;
}

/* The corpora of ../shared/data/json (baked in at configure time). */
static void add_corpora(objects_ctx *cx) {
    char path[PATH_MAX];
    for (size_t i = 0; i < NUM_CORPORA; i++) {
        long n = -1;
        if (pmb_path(path, sizeof path, PMB_JSON_CORPUS_DIR, CORPORA[i], ".json") == 0)
            n = file_size(path);
        if (n < 0)
            pmb_note(&cx->notes,
                     "json-%s skipped: %s not found (the public corpora live in "
                     "../shared/data/json next to the source tree)",
                     CORPORA[i], path);
        else add_json_case(cx, CORPORA[i], path, n);
    }
}

static void add_generated(objects_ctx *cx) {
    char path[PATH_MAX];
    if (pmb_make_tempdir(cx->tmpdir, sizeof cx->tmpdir) != 0) {
        cx->tmpdir[0] = '\0';
        pmb_note(&cx->notes, "json-gen-* skipped: cannot create a temporary directory");
        return;
    }
    for (int i = 0; i < PMB_NUM_GEN_DOCS; i++) {
        const char *name = pmb_gen_doc_name(i);
        long n = -1;
        if (pmb_path(path, sizeof path, cx->tmpdir, name, ".json") == 0) {
            pmb_progress("generating %s", path);
            n = pmb_gen_doc_write(i, path, cx->quick);
        }
        if (n < 0) pmb_note(&cx->notes, "json-%s skipped: cannot write %s", name, path);
        else add_json_case(cx, name, path, n);
    }
}

/* json-NAME: one process per (impl, document); each does its own runs. */
static void run_json(objects_ctx *cx) {
    add_corpora(cx);
    add_generated(cx);
    char runs[16];
    snprintf(runs, sizeof runs, "%d", cx->json_runs);
    for (int k = 0; k < cx->njson; k++) {
        char *args[] = {cx->json_case[k], cx->json_file[k], runs, NULL};
        for (const int *i = pmb_o_json_impls; *i >= 0; i++) {
            if (!cx->have[*i]) continue;
            pmb_progress("%-18s %-8s %d runs", cx->json_case[k], pmb_o_impl_names[*i],
                         cx->json_runs);
            run_impl(cx, *i, "json", "objects_json", cx->json_case[k], args);
        }
    }
}

/* dict-*: every impl in a fresh process dict_rounds times, alternating. */
static void run_dict(objects_ctx *cx) {
    char keys[24], reps[16];
    snprintf(keys, sizeof keys, "%ld", cx->dict_keys);
    snprintf(reps, sizeof reps, "%d", cx->dict_reps);
    char *args[] = {keys, reps, NULL};
    for (int r = 0; r < cx->dict_rounds; r++) {
        for (const int *i = pmb_o_dict_impls; *i >= 0; i++) {
            if (!cx->have[*i]) continue;
            pmb_progress("dict-*             %-8s round %d/%d", pmb_o_impl_names[*i], r + 1,
                         cx->dict_rounds);
            run_impl(cx, *i, "dict", NULL, "dict-*", args);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The suite                                                                */
/* ------------------------------------------------------------------------ */

static const char USAGE[] =
    "usage: pymm bench objects [--quick] [--json FILE]\n"
    "  --quick      binarytrees-16..18 instead of 16..20, smaller generated JSON,\n"
    "               fewer runs (a minute or two)\n"
    "  --json FILE  also write the records as JSON to FILE\n"
    "See bench/README.md (section objects) for the cases.\n";

static int parse_options(objects_ctx *cx, int argc, char **argv) {
    return pmb_parse_options("objects", USAGE, argc, argv, &cx->quick, &cx->json_path);
}

/* The sizes of a full and a --quick run (bench/README.md explains them). */
static void set_sizes(objects_ctx *cx) {
    cx->depth_min = 16;
    cx->depth_max = cx->quick ? 18 : 20;
    cx->tree_rounds = cx->quick ? 1 : 2; /* a single round at depth 16 can be 1.5x off */
    cx->json_runs = cx->quick ? 3 : 5;
    cx->dict_keys = 1000000;
    cx->dict_reps = cx->quick ? 3 : 5;
    cx->dict_rounds = 2;
}

static void release_ctx(objects_ctx *cx) {
    if (cx->tmpdir[0]) pmb_remove_tempdir(cx->tmpdir);
    pmb_records_free(&cx->recs);
    pmb_records_free(&cx->checks);
    pmb_notes_free(&cx->notes);
    free(cx);
}

int pmb_suite_objects(int argc, char **argv) {
    /* Large (paths per impl and per document): on the heap, not the stack. */
    objects_ctx *cx = calloc(1, sizeof *cx);
    if (!cx) return 1;
    int rc = parse_options(cx, argc, argv);
    if (rc >= 0) {
        free(cx);
        return rc;
    }
    if (pmb_workers_dir(cx->workers_dir, sizeof cx->workers_dir) != 0) {
        fprintf(stderr, "pymm bench objects: cannot resolve /proc/self/exe\n");
        free(cx);
        return 1;
    }
    set_sizes(cx);
    double t0 = pmb_monotonic_s();
    find_impls(cx);
    run_trees(cx);
    run_json(cx);
    run_dict(cx);
    pmb_verify_checks(&cx->checks, &cx->notes);
    pmb_objects_print(cx, pmb_monotonic_s() - t0);

    rc = pmb_suite_status(&cx->recs, "objects", cx->json_path,
                          pmb_records_have_impl(&cx->recs, "pymm"));
    release_ctx(cx);
    return rc;
}
