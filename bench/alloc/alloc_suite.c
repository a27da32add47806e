/*
 * alloc_suite.c -- the `alloc` suite: options, the allocator workers
 * (cases pair-N, batch-1000, mix, frag-*), and the callgrind runs that give
 * instructions per pair. The py cases are in alloc_python.c, the report in
 * alloc_table.c.
 *
 * Every allocator runs in its own worker process (alloc_worker.c built once
 * per allocator, found by pmb_workers_dir); the worker prints
 * "PMB <case> <metric> <value> <unit>" lines that become records here.
 */
#define _GNU_SOURCE
#include "pmb_alloc.h"
#include "pmb_proc.h"
#include "pmb_suites.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Rounds of the timed cases (ns, py): every allocator's timing worker (every
 * py impl) once per round; the median over the rounds is reported. */
#define ROUNDS_QUICK 3
#define ROUNDS_FULL 5

const char *const pmb_allocator_names[PMB_NUM_ALLOCATORS] = {
    "pymm", "glibc", "mimalloc", "jemalloc", "pymalloc",
};

const char *const pmb_dropin_names[PMB_NUM_DROPINS] = {
    "pymm-dropin",
    "mimalloc-dropin",
    "jemalloc-dropin",
};

/* Why CMake built no worker for an allocator (set in bench/alloc/alloc.cmake). */
static const char *missing_reason(int impl) {
    switch (impl) {
        case PMB_MIMALLOC:
            return PMB_HAVE_MIMALLOC ? "worker not built"
                                     : "mimalloc.h/libmimalloc not found by CMake "
                                       "(Debian: libmimalloc-dev)";
        case PMB_JEMALLOC:
            return PMB_HAVE_JEMALLOC ? "worker not built"
                                     : "jemalloc/jemalloc.h/libjemalloc not found "
                                       "by CMake (Debian: libjemalloc-dev)";
        case PMB_PYMALLOC:
            return PMB_HAVE_PYMALLOC ? "worker not built"
                                     : "python3-config --embed not found on PATH "
                                       "at configure time";
        default: return "worker not built";
    }
}

static int worker_path(const alloc_ctx *cx, int impl, char *buf, size_t len) {
    char file[64];
    snprintf(file, sizeof file, "pymm-bench-alloc-%s", pmb_allocator_names[impl]);
    return (pmb_path(buf, len, cx->workers_dir, file, "") == 0 && pmb_is_executable(buf)) ? 0 : -1;
}

/* Turns the worker's "PMB case metric value unit" lines into records: the
 * samples of round, or one value when round < 0 (the frag run). A case
 * --cases leaves out is read (the worker measures its cases in one
 * process) but not kept. */
static int collect_records(alloc_ctx *cx, const char *impl, const char *text, int round) {
    int count = 0;
    for (const char *line = text; line && *line;) {
        char case_name[48];
        if (sscanf(line, "PMB %47s", case_name) == 1) {
            count++;
            if (pmb_option_case(&cx->opt, case_name))
                pmb_records_take_line(&cx->recs, impl, line, round);
        }
        line = strchr(line, '\n');
        if (line) line++;
    }
    return count;
}

static void describe_failure(alloc_ctx *cx, const char *what, const pmb_child *c) {
    if (c->term_signal) pmb_note(&cx->notes, "%s: killed by signal %d", what, c->term_signal);
    else pmb_note(&cx->notes, "%s: failed (exit status %d)", what, c->exit_code);
}

/* Runs one worker mode ("time" in round, or "frag" with round -1) in a
 * fresh process, its records named name; preload: LD_PRELOAD, or NULL. */
static int run_named_worker(alloc_ctx *cx, const char *name, const char *path, const char *mode,
                            int round, const char *preload) {
    char *argv[] = {(char *)path, (char *)mode, cx->opt.quick ? "--quick" : NULL, NULL};
    pmb_env env = {"LD_PRELOAD", preload};
    pmb_child c;
    if (round >= 0) pmb_progress("%-9s %s, round %d/%d", name, mode, round + 1, cx->rounds);
    else pmb_progress("%-9s %s", name, mode);
    int rc = pmb_run(argv, preload ? &env : NULL, preload ? 1 : 0, 0, &c);
    int count = c.out ? collect_records(cx, name, c.out, round) : 0;
    char what[96];
    snprintf(what, sizeof what, "%s worker (%s)", name, mode);
    if (rc != 0) {
        describe_failure(cx, what, &c);
    } else if (count == 0) {
        pmb_note(&cx->notes, "%s: printed no results", what);
        rc = -1;
    }
    pmb_child_release(&c);
    return rc;
}

static int run_worker(alloc_ctx *cx, int impl, const char *path, const char *mode, int round) {
    return run_named_worker(cx, pmb_allocator_names[impl], path, mode, round, NULL);
}

/* The library that replaces malloc for drop-in d, into buf; -1 (with a
 * note) when it is not there. pymm's is beside the command
 * (pmb_dropin_library). */
static int dropin_library(alloc_ctx *cx, int d, char *buf, size_t len) {
    if (d == PMB_DROPIN_PYMM) {
        if (pmb_dropin_library(buf, len) == 0) return 0;
        pmb_note(&cx->notes, "%s skipped: no libpymm-malloc.so beside the command",
                 pmb_dropin_names[d]);
        return -1;
    }
    snprintf(buf, len, "%s", d == PMB_DROPIN_MIMALLOC ? PMB_MIMALLOC_SO : PMB_JEMALLOC_SO);
    if (buf[0] && access(buf, R_OK) == 0) return 0;
    pmb_note(&cx->notes, "%s skipped: no library to preload (%s)", pmb_dropin_names[d],
             buf[0] ? buf : "not found by CMake");
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Callgrind                                                                */
/* ------------------------------------------------------------------------ */

/* Reads one callgrind dump: the client-request name it was triggered by
 * (e.g. "pair-16/100000") and its total instruction count. */
static int read_dump(const char *path, char *name, size_t name_len, double *total) {
    static const char trigger[] = "desc: Trigger: Client Request: ";
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    int have_name = 0, have_total = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, trigger, sizeof trigger - 1) == 0) {
            const char *src = line + sizeof trigger - 1;
            size_t n = strcspn(src, "\r\n");
            if (n >= name_len) n = name_len - 1;
            memcpy(name, src, n);
            name[n] = '\0';
            have_name = 1;
        } else if (strncmp(line, "totals:", 7) == 0 ||
                   (!have_total && strncmp(line, "summary:", 8) == 0)) {
            *total = strtod(line + (line[0] == 't' ? 7 : 8), NULL);
            have_total = 1;
        }
    }
    fclose(f);
    return (have_name && have_total) ? 0 : -1;
}

/* Turns the dumps OUT.1, OUT.2, ... into instructions_per_op records:
 * (pair region - empty-loop region) / N for every class. */
static int collect_dumps(alloc_ctx *cx, const char *impl, const char *out) {
    double pair[PMB_NUM_CLASSES + 1] = {0}, empty[PMB_NUM_CLASSES + 1] = {0};
    double heap_pair = 0, heap_empty = 0; /* pymm's private heap, class 1 */
    long n[PMB_NUM_CLASSES + 1] = {0}, heap_n = 0;
    char path[PATH_MAX + 16], name[128];
    for (int k = 1;; k++) {
        double total = 0;
        snprintf(path, sizeof path, "%s.%d", out, k);
        if (read_dump(path, name, sizeof name, &total) != 0) break;
        char kind[16];
        int size;
        long count;
        if (sscanf(name, "%15[a-z]-%d/%ld", kind, &size, &count) != 3 || size % PMB_CLASS_STEP ||
            size < PMB_CLASS_STEP || size > PMB_NUM_CLASSES * PMB_CLASS_STEP || count <= 0)
            continue;
        int c = size / PMB_CLASS_STEP;
        if (strcmp(kind, "pair") == 0) {
            pair[c] = total;
            n[c] = count;
        } else if (strcmp(kind, "empty") == 0) {
            empty[c] = total;
        } else if (strcmp(kind, "heappair") == 0 && c == 1) {
            heap_pair = total;
            heap_n = count;
        } else if (strcmp(kind, "heapempty") == 0 && c == 1) {
            heap_empty = total;
        }
    }
    if (heap_n > 0 && pmb_option_case(&cx->opt, "pair-16"))
        pmb_records_add(&cx->recs, "pair-16", impl, "instr_per_op_private",
                        (heap_pair - heap_empty) / (double)heap_n, "instructions");
    int got = 0;
    for (int c = 1; c <= PMB_NUM_CLASSES; c++) {
        if (n[c] == 0) continue;
        snprintf(name, sizeof name, "pair-%d", c * PMB_CLASS_STEP);
        got++;
        if (!pmb_option_case(&cx->opt, name)) continue;
        pmb_records_add(&cx->recs, name, impl, "instructions_per_op",
                        (pair[c] - empty[c]) / (double)n[c], "instructions");
    }
    return got;
}

static void run_callgrind(alloc_ctx *cx, int impl, const char *valgrind, const char *worker,
                          const char *tmpdir) {
    const char *name = pmb_allocator_names[impl];
    char out[PATH_MAX], opt[PATH_MAX + 32];
    if (pmb_path(out, sizeof out, tmpdir, name, ".out") != 0) return;
    snprintf(opt, sizeof opt, "--callgrind-out-file=%s", out);
    char *argv[] = {(char *)valgrind,
                    "--tool=callgrind",
                    "-q",
                    "--collect-atstart=no",
                    opt,
                    (char *)worker,
                    "instr",
                    cx->opt.quick ? "--quick" : NULL,
                    NULL};
    pmb_child c;
    pmb_progress("%-9s instr (callgrind)", name);
    if (pmb_run(argv, NULL, 0, 0, &c) != 0) {
        char what[96];
        snprintf(what, sizeof what, "%s worker under callgrind", name);
        describe_failure(cx, what, &c);
    } else if (!c.out || !strstr(c.out, "PMB-INSTR valgrind")) {
        pmb_note(&cx->notes, "%s: the instr run did not run under valgrind", name);
    } else if (collect_dumps(cx, name, out) != PMB_NUM_CLASSES) {
        pmb_note(&cx->notes, "%s: incomplete callgrind dumps in %s", name, tmpdir);
    }
    pmb_child_release(&c);
}

static void run_all_callgrind(alloc_ctx *cx, const int *have) {
    char valgrind[PATH_MAX], tmpdir[PATH_MAX], worker[PATH_MAX];
    if (!pmb_option_group(&cx->opt, "pair-")) return; /* no pair-N case selected */
    if (!PMB_HAVE_CALLGRIND_H) {
        pmb_note(&cx->notes,
                 "instructions per pair skipped: valgrind/callgrind.h not found by CMake");
        return;
    }
    if (pmb_find_in_path("valgrind", valgrind, sizeof valgrind) != 0) {
        pmb_note(&cx->notes, "instructions per pair skipped: valgrind not on PATH");
        return;
    }
    if (pmb_make_tempdir(tmpdir, sizeof tmpdir) != 0) {
        pmb_note(&cx->notes, "instructions per pair skipped: cannot create a temp dir");
        return;
    }
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) {
        if (have[i] && worker_path(cx, i, worker, sizeof worker) == 0)
            run_callgrind(cx, i, valgrind, worker, tmpdir);
    }
    pmb_remove_tempdir(tmpdir);
}

/* ------------------------------------------------------------------------ */
/* The suite                                                                */
/* ------------------------------------------------------------------------ */

static const char USAGE[] =
    "usage: pymm bench alloc [--quick] [--json FILE] [--rounds N] [--cases LIST] [--impls LIST]\n"
    "  --quick       every case at a quarter of its size, 3 rounds instead of 5\n"
    "  --json FILE   also write the records as JSON to FILE (samples by round)\n"
    "  --rounds N    interleaved rounds of the timed cases, ns and py (1..64)\n"
    "  --cases LIST  only these cases (comma-separated names or prefixes): pair-16 ..\n"
    "                pair-512 (pair- for all), batch-1000, mix, frag, py-containers,\n"
    "                py-strings, py-trees, py-jsonio (py- for all)\n"
    "  --impls LIST  only these impls: pymm glibc mimalloc jemalloc pymalloc, the\n"
    "                drop-ins pymm-dropin mimalloc-dropin jemalloc-dropin (the glibc\n"
    "                worker with each one's malloc in LD_PRELOAD; glibc must run too),\n"
    "                the py cases' pymm-python pymalloc python3; pymm and pymm-python\n"
    "                always run\n"
    "A timed figure is the median over the rounds (min-max); a ratio the median of the\n"
    "per-round ratios; instructions are exact. See bench/README.md for the cases.\n";

static int parse_options(alloc_ctx *cx, int argc, char **argv) {
    static const char *const impls[] = {
        "pymm",        "glibc",           "mimalloc",        "jemalloc", "pymalloc", "pymm-python",
        "pymm-dropin", "mimalloc-dropin", "jemalloc-dropin", "python3",  NULL};
    char buf[PMB_NUM_CLASSES][16];
    const char *cases[PMB_NUM_CLASSES + 8 + PMB_NUM_SCRIPTS + 1];
    char py[PMB_NUM_SCRIPTS][48];
    size_t n = 0;
    for (int c = 1; c <= PMB_NUM_CLASSES; c++) {
        snprintf(buf[c - 1], sizeof buf[c - 1], "pair-%d", c * PMB_CLASS_STEP);
        cases[n++] = buf[c - 1];
    }
    static const char *const others[] = {"batch-1000", "mix",        "frag-base",
                                         "frag-peak",  "frag-freed", "frag-trimmed"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) cases[n++] = others[i];
    for (int s = 0; s < PMB_NUM_SCRIPTS; s++) {
        snprintf(py[s], sizeof py[s], "py-%s", pmb_py_scripts[s]);
        cases[n++] = py[s];
    }
    cases[n] = NULL;
    int rc = pmb_parse_options("alloc", USAGE, argc, argv, cases, impls, &cx->opt);
    cx->rounds = pmb_option_rounds(&cx->opt, cx->opt.quick ? ROUNDS_QUICK : ROUNDS_FULL);
    return rc;
}

/* Whether --cases selects a case the time worker measures. */
static int time_cases_selected(const alloc_ctx *cx) {
    return pmb_option_group(&cx->opt, "pair-") || pmb_option_case(&cx->opt, "batch-1000") ||
           pmb_option_case(&cx->opt, "mix");
}

/* Cases (a)-(d), each worker run in a fresh process: the timing worker of
 * every allocator once per round, round after round (so that a slow period
 * of the machine does not fall on one allocator only; the median over the
 * rounds is reported), then the frag worker of every allocator once. */
static int run_allocators(alloc_ctx *cx, int *have) {
    int ok[PMB_NUM_ALLOCATORS];
    char path[PMB_NUM_ALLOCATORS][PATH_MAX], lib[PMB_NUM_DROPINS][PATH_MAX];
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) {
        have[i] = ok[i] = worker_path(cx, i, path[i], sizeof path[i]) == 0;
        if (!have[i])
            pmb_note(&cx->notes, "%s skipped: %s", pmb_allocator_names[i], missing_reason(i));
        have[i] = have[i] && pmb_option_impl(&cx->opt, pmb_allocator_names[i]);
    }
    /* The drop-ins run the glibc worker, in the same rounds as the rest. */
    bool dropin[PMB_NUM_DROPINS];
    for (int d = 0; d < PMB_NUM_DROPINS; d++)
        dropin[d] = have[PMB_GLIBC] && pmb_option_impl(&cx->opt, pmb_dropin_names[d]) &&
                    dropin_library(cx, d, lib[d], sizeof lib[d]) == 0;
    for (int round = 0; round < cx->rounds && time_cases_selected(cx); round++) {
        for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) {
            if (have[i] && run_worker(cx, i, path[i], "time", round) != 0) ok[i] = 0;
        }
        for (int d = 0; d < PMB_NUM_DROPINS; d++)
            if (dropin[d])
                run_named_worker(cx, pmb_dropin_names[d], path[PMB_GLIBC], "time", round, lib[d]);
    }
    for (int i = 0; i < PMB_NUM_ALLOCATORS && pmb_option_group(&cx->opt, "frag-"); i++) {
        if (have[i] && run_worker(cx, i, path[i], "frag", -1) != 0) ok[i] = 0;
    }
    for (int d = 0; d < PMB_NUM_DROPINS && pmb_option_group(&cx->opt, "frag-"); d++)
        if (dropin[d])
            run_named_worker(cx, pmb_dropin_names[d], path[PMB_GLIBC], "frag", -1, lib[d]);
    return ok[PMB_PYMM];
}

int pmb_suite_alloc(int argc, char **argv) {
    alloc_ctx cx;
    memset(&cx, 0, sizeof cx);
    int rc = parse_options(&cx, argc, argv);
    if (rc >= 0) return rc;
    if (pmb_self_dir(cx.self_dir, sizeof cx.self_dir) != 0 ||
        pmb_workers_dir(cx.workers_dir, sizeof cx.workers_dir) != 0) {
        fprintf(stderr, "pymm bench alloc: cannot resolve /proc/self/exe\n");
        return 1;
    }
    pmb_pin_noted(&cx.notes);
    double t0 = pmb_monotonic_s();
    int have[PMB_NUM_ALLOCATORS];
    int pymm_ok = run_allocators(&cx, have);
    run_all_callgrind(&cx, have);
    pmb_alloc_python(&cx);
    pmb_note_unmatched_cases(&cx.opt, &cx.recs, &cx.notes);
    pmb_alloc_print(&cx, pmb_monotonic_s() - t0);

    rc = pmb_suite_status(&cx.recs, "alloc", cx.opt.json_path, pymm_ok);
    pmb_records_free(&cx.recs);
    pmb_notes_free(&cx.notes);
    return rc;
}
