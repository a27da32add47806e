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

/* "PMB case metric value unit": the sample of round (pmb_report.h), or
 * nothing for a case --cases leaves out (one dict process measures three). */
static int take_record(objects_ctx *cx, const char *impl, const char *line, int round) {
    char case_name[48];
    if (sscanf(line, "PMB %47s", case_name) != 1 || !pmb_option_case(&cx->opt, case_name)) return 0;
    return pmb_records_take_line(&cx->recs, impl, line, round);
}

/* "PMB-CHECK case what value": kept per impl, compared by pmb_verify_checks. */
static void take_check(objects_ctx *cx, const char *impl, const char *line) {
    char case_name[48], what[32];
    double value;
    if (sscanf(line, "PMB-CHECK %47s %31s %lf", case_name, what, &value) == 3)
        pmb_records_add(&cx->checks, case_name, impl, what, value, "");
}

static int take_output(objects_ctx *cx, const char *impl, const char *text, int round) {
    int count = 0;
    for (const char *line = text; line && *line;) {
        size_t len = strcspn(line, "\n");
        if (strncmp(line, "PMB ", 4) == 0) count += take_record(cx, impl, line, round);
        else if (strncmp(line, "PMB-CHECK ", 10) == 0) take_check(cx, impl, line);
        else if (strncmp(line, "PMB-NOTE ", 9) == 0)
            pmb_note(&cx->notes, "%.*s", (int)(len - 9), line + 9);
        line = line[len] ? line + len + 1 : NULL;
    }
    return count;
}

/* Runs impl on one case in round: a worker "WORKER MODE ARGS..." or, for
 * python3, "python3 SCRIPT ARGS...". args ends with NULL. */
static void run_impl(objects_ctx *cx, int impl, const char *mode, const char *script,
                     const char *case_name, char *const *args, int round) {
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
    int got = c.out ? take_output(cx, name, c.out, round) : 0;
    /* A dict process whose cases --cases all left out printed records too. */
    if (got == 0 && rc == 0 && c.out && strstr(c.out, "PMB ")) got = 1;
    pmb_note_worker(&cx->notes, case_name, name, rc, c.term_signal, c.exit_code, got);
    pmb_child_release(&c);
}

/* ------------------------------------------------------------------------ */
/* The workloads                                                            */
/* ------------------------------------------------------------------------ */

/* Whether impl runs in round r at depth d: selected, built, and python3 in
 * its first rounds only. */
static int trees_runs(const objects_ctx *cx, int impl, int d, int r) {
    if (!cx->have[impl] || !pmb_option_impl(&cx->opt, pmb_o_impl_names[impl])) return 0;
    return impl != PMB_O_PYTHON3 || r < pmb_o_python3_tree_rounds(cx, d);
}

int pmb_o_python3_tree_rounds(const objects_ctx *cx, int depth) {
    int cap = depth >= PMB_O_PY_DEEP ? 1 : PMB_O_PY_TREE_ROUNDS;
    return cx->tree_rounds < cap ? cx->tree_rounds : cap;
}

/* One depth of round r: every impl once, starting with the next impl each
 * round, so that no impl always runs first after a long process (pymm,
 * always first at depth 16, was once 15% slow there in both rounds, against
 * 4% fast when run by hand); then pymm with mutable nodes, which the
 * collector tracks (binarytrees-mutable-D). */
static void run_trees_depth(objects_ctx *cx, int d, int r) {
    char depth[16], case_name[48];
    snprintf(depth, sizeof depth, "%d", d);
    snprintf(case_name, sizeof case_name, "binarytrees-%d", d);
    char *args[] = {depth, NULL};
    int nimpls = 0;
    while (pmb_o_trees_impls[nimpls] >= 0) nimpls++;
    for (int k = 0; k < nimpls && pmb_option_case(&cx->opt, case_name); k++) {
        int impl = pmb_o_trees_impls[(k + r) % nimpls];
        if (!trees_runs(cx, impl, d, r)) continue;
        pmb_progress("%-18s %-8s round %d/%d", case_name, pmb_o_impl_names[impl], r + 1,
                     cx->tree_rounds);
        run_impl(cx, impl, "trees", "objects_trees", case_name, args, r);
    }
    snprintf(case_name, sizeof case_name, "binarytrees-mutable-%d", d);
    if (cx->have[PMB_O_PYMM] && pmb_option_case(&cx->opt, case_name)) {
        char *mutable_args[] = {depth, "mutable", NULL};
        pmb_progress("%-18s %-8s round %d/%d", case_name, "pymm", r + 1, cx->tree_rounds);
        run_impl(cx, PMB_O_PYMM, "trees", "objects_trees", case_name, mutable_args, r);
    }
}

/* binarytrees-D: one process per (impl, depth, round), the rounds
 * interleaved (round 1 of every depth and impl, then round 2) so that a
 * slow period of the machine does not fall on one impl only. */
static void run_trees(objects_ctx *cx) {
    for (int r = 0; r < cx->tree_rounds; r++) {
        for (int d = cx->depth_min; d <= cx->depth_max; d++) run_trees_depth(cx, d, r);
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

/* Whether --cases selects the document json-NAME. */
static int json_selected(const objects_ctx *cx, const char *name) {
    char case_name[48];
    snprintf(case_name, sizeof case_name, "json-%s", name);
    return pmb_option_case(&cx->opt, case_name);
}

/* The corpora of ../shared/data/json (baked in at configure time). */
static void add_corpora(objects_ctx *cx) {
    char path[PATH_MAX];
    for (size_t i = 0; i < NUM_CORPORA; i++) {
        long n = -1;
        if (!json_selected(cx, CORPORA[i])) continue;
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
    int any = 0;
    for (int i = 0; i < PMB_NUM_GEN_DOCS; i++) any |= json_selected(cx, pmb_gen_doc_name(i));
    if (!any) return;
    if (pmb_make_tempdir(cx->tmpdir, sizeof cx->tmpdir) != 0) {
        cx->tmpdir[0] = '\0';
        pmb_note(&cx->notes, "json-gen-* skipped: cannot create a temporary directory");
        return;
    }
    for (int i = 0; i < PMB_NUM_GEN_DOCS; i++) {
        const char *name = pmb_gen_doc_name(i);
        long n = -1;
        if (!json_selected(cx, name)) continue;
        if (pmb_path(path, sizeof path, cx->tmpdir, name, ".json") == 0) {
            pmb_progress("generating %s", path);
            n = pmb_gen_doc_write(i, path, cx->opt.quick);
        }
        if (n < 0) pmb_note(&cx->notes, "json-%s skipped: cannot write %s", name, path);
        else add_json_case(cx, name, path, n);
    }
}

/* Whether impl is built and selected by --impls. */
static int selected(const objects_ctx *cx, int impl) {
    return cx->have[impl] && pmb_option_impl(&cx->opt, pmb_o_impl_names[impl]);
}

/* json-NAME: one process per (impl, document, round), the rounds
 * interleaved (every document and impl, then again); each process does
 * json_runs loads and reports their medians. */
static void run_json(objects_ctx *cx) {
    add_corpora(cx);
    add_generated(cx);
    char runs[16];
    snprintf(runs, sizeof runs, "%d", cx->json_runs);
    for (int r = 0; r < cx->json_rounds; r++) {
        for (int k = 0; k < cx->njson; k++) {
            char *args[] = {cx->json_case[k], cx->json_file[k], runs, NULL};
            for (const int *i = pmb_o_json_impls; *i >= 0; i++) {
                if (!selected(cx, *i)) continue;
                pmb_progress("%-18s %-8s %d runs, round %d/%d", cx->json_case[k],
                             pmb_o_impl_names[*i], cx->json_runs, r + 1, cx->json_rounds);
                run_impl(cx, *i, "json", "objects_json", cx->json_case[k], args, r);
            }
        }
    }
}

/* dict-*: every impl in a fresh process dict_rounds times, alternating;
 * one process measures the three cases. */
static void run_dict(objects_ctx *cx) {
    if (!pmb_option_group(&cx->opt, "dict-")) return;
    char keys[24], reps[16];
    snprintf(keys, sizeof keys, "%ld", cx->dict_keys);
    snprintf(reps, sizeof reps, "%d", cx->dict_reps);
    char *args[] = {keys, reps, NULL};
    for (int r = 0; r < cx->dict_rounds; r++) {
        for (const int *i = pmb_o_dict_impls; *i >= 0; i++) {
            if (!selected(cx, *i)) continue;
            pmb_progress("dict-*             %-8s round %d/%d", pmb_o_impl_names[*i], r + 1,
                         cx->dict_rounds);
            run_impl(cx, *i, "dict", NULL, "dict-*", args, r);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The suite                                                                */
/* ------------------------------------------------------------------------ */

static const char USAGE[] =
    "usage: pymm bench objects [--quick] [--json FILE] [--rounds N] [--cases LIST]\n"
    "                          [--impls LIST]\n"
    "  --quick       binarytrees-16..18 instead of 16..20, smaller generated JSON,\n"
    "                fewer rounds: binary-trees 5 (not 11), JSON and dict 3 (not 5)\n"
    "  --json FILE   also write the records as JSON to FILE (samples by round)\n"
    "  --rounds N    interleaved rounds of every workload (1..64); python3's\n"
    "                binary-trees stays at most 3 (1 at depth 19 and 20)\n"
    "  --cases LIST  only these cases (comma-separated names or prefixes), e.g.\n"
    "                binarytrees-16,binarytrees-18 or json-gen or dict\n"
    "  --impls LIST  only these impls (pymm malloc boehm python3 jansson cjson\n"
    "                cpython-capi); pymm always runs\n"
    "A timed figure is the median over the rounds (min-max); a ratio the median of the\n"
    "per-round ratios. Reproduce the issue's check with\n"
    "  pymm bench objects --cases binarytrees-16,binarytrees-18 --impls pymm,malloc "
    "--rounds 15\n"
    "See bench/README.md (section objects) for the cases.\n";

/* Every case a run can have, for checking --cases. */
static void case_names(const char **names, char (*buf)[48], size_t cap) {
    size_t n = 0;
    for (int d = 16; d <= 20 && n + 2 < cap; d++) {
        snprintf(buf[n], sizeof buf[n], "binarytrees-%d", d), n++;
        snprintf(buf[n], sizeof buf[n], "binarytrees-mutable-%d", d), n++;
    }
    for (size_t i = 0; i < NUM_CORPORA && n < cap; i++)
        snprintf(buf[n], sizeof buf[n], "json-%s", CORPORA[i]), n++;
    for (int i = 0; i < PMB_NUM_GEN_DOCS && n < cap; i++)
        snprintf(buf[n], sizeof buf[n], "json-%s", pmb_gen_doc_name(i)), n++;
    static const char *const dict[] = {"dict-insert", "dict-lookup", "dict-delete"};
    for (int i = 0; i < 3 && n < cap; i++) snprintf(buf[n], sizeof buf[n], "%s", dict[i]), n++;
    for (size_t i = 0; i < n; i++) names[i] = buf[i];
    names[n] = NULL;
}

static int parse_options(objects_ctx *cx, int argc, char **argv) {
    char buf[32][48];
    const char *names[33];
    const char *impls[PMB_O_NUM_IMPLS + 1];
    case_names(names, buf, 32);
    for (int i = 0; i < PMB_O_NUM_IMPLS; i++) impls[i] = pmb_o_impl_names[i];
    impls[PMB_O_NUM_IMPLS] = NULL;
    return pmb_parse_options("objects", USAGE, argc, argv, names, impls, &cx->opt);
}

/* The sizes and rounds of a full and a --quick run (bench/README.md
 * explains them); --rounds sets every workload's. */
static void set_sizes(objects_ctx *cx) {
    int quick = cx->opt.quick;
    cx->depth_min = 16;
    cx->depth_max = quick ? 18 : 20;
    cx->tree_rounds = pmb_option_rounds(&cx->opt, quick ? 5 : 11);
    cx->json_rounds = pmb_option_rounds(&cx->opt, quick ? 3 : 5);
    cx->json_runs = 3;
    cx->dict_keys = 1000000;
    cx->dict_reps = 3;
    cx->dict_rounds = pmb_option_rounds(&cx->opt, quick ? 3 : 5);
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
    pmb_pin_noted(&cx->notes);
    set_sizes(cx);
    double t0 = pmb_monotonic_s();
    find_impls(cx);
    run_trees(cx);
    run_json(cx);
    run_dict(cx);
    pmb_verify_checks(&cx->checks, &cx->notes);
    pmb_note_unmatched_cases(&cx->opt, &cx->recs, &cx->notes);
    pmb_objects_print(cx, pmb_monotonic_s() - t0);

    rc = pmb_suite_status(&cx->recs, "objects", cx->opt.json_path,
                          pmb_records_have_impl(&cx->recs, "pymm"));
    release_ctx(cx);
    return rc;
}
