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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Processes per allocator for the ns cases; the minimum is reported. */
#define TIME_ROUNDS 2

const char *const pmb_allocator_names[PMB_NUM_ALLOCATORS] = {
    "pymm", "glibc", "mimalloc", "jemalloc", "pymalloc",
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

/* Turns the worker's "PMB case metric value unit" lines into records. A
 * number measured by an earlier run of the same worker keeps the smaller
 * value (the timing rounds take the minimum across processes). */
static int collect_records(alloc_ctx *cx, const char *impl, const char *text) {
    int count = 0;
    for (const char *line = text; line && *line;) {
        char case_name[48], metric[32], unit[16];
        double value;
        if (strncmp(line, "PMB ", 4) == 0 &&
            sscanf(line + 4, "%47s %31s %lf %15s", case_name, metric, &value, unit) == 4) {
            const pmb_record *old = pmb_records_find(&cx->recs, case_name, impl, metric);
            if (old && old->value < value) value = old->value;
            if (pmb_records_add(&cx->recs, case_name, impl, metric, value, unit) == 0) count++;
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

/* Runs one worker mode ("time" or "frag") in a fresh process. */
static int run_worker(alloc_ctx *cx, int impl, const char *path, const char *mode) {
    const char *name = pmb_allocator_names[impl];
    char *argv[] = {(char *)path, (char *)mode, cx->quick ? "--quick" : NULL, NULL};
    pmb_child c;
    pmb_progress("%-9s %s", name, mode);
    int rc = pmb_run(argv, NULL, 0, 0, &c);
    int count = c.out ? collect_records(cx, name, c.out) : 0;
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
    long n[PMB_NUM_CLASSES + 1] = {0};
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
        }
    }
    int got = 0;
    for (int c = 1; c <= PMB_NUM_CLASSES; c++) {
        if (n[c] == 0) continue;
        snprintf(name, sizeof name, "pair-%d", c * PMB_CLASS_STEP);
        pmb_records_add(&cx->recs, name, impl, "instructions_per_op",
                        (pair[c] - empty[c]) / (double)n[c], "instructions");
        got++;
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
                    cx->quick ? "--quick" : NULL,
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

static const char USAGE[] = "usage: pymm bench alloc [--quick] [--json FILE]\n"
                            "  --quick      every case at a quarter of its size (a minute or two)\n"
                            "  --json FILE  also write the records as JSON to FILE\n"
                            "See bench/README.md for the cases.\n";

static int parse_options(alloc_ctx *cx, int argc, char **argv) {
    return pmb_parse_options("alloc", USAGE, argc, argv, &cx->quick, &cx->json_path);
}

/* Cases (a)-(d), each worker run in a fresh process: the timing worker of
 * every allocator TIME_ROUNDS times, round after round (so that a slow
 * period of the machine does not fall on one allocator only; the minimum
 * is kept), then the frag worker of every allocator once. */
static int run_allocators(alloc_ctx *cx, int *have) {
    int ok[PMB_NUM_ALLOCATORS];
    char path[PMB_NUM_ALLOCATORS][PATH_MAX];
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) {
        have[i] = ok[i] = worker_path(cx, i, path[i], sizeof path[i]) == 0;
        if (!have[i])
            pmb_note(&cx->notes, "%s skipped: %s", pmb_allocator_names[i], missing_reason(i));
    }
    for (int round = 0; round < TIME_ROUNDS; round++) {
        for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) {
            if (have[i] && run_worker(cx, i, path[i], "time") != 0) ok[i] = 0;
        }
    }
    for (int i = 0; i < PMB_NUM_ALLOCATORS; i++) {
        if (have[i] && run_worker(cx, i, path[i], "frag") != 0) ok[i] = 0;
    }
    return ok[PMB_PYMM];
}

int pmb_suite_alloc(int argc, char **argv) {
    alloc_ctx cx;
    memset(&cx, 0, sizeof cx);
    int rc = parse_options(&cx, argc, argv);
    if (rc >= 0) return rc;
    cx.py_runs = cx.quick ? 3 : 5;
    if (pmb_self_dir(cx.self_dir, sizeof cx.self_dir) != 0 ||
        pmb_workers_dir(cx.workers_dir, sizeof cx.workers_dir) != 0) {
        fprintf(stderr, "pymm bench alloc: cannot resolve /proc/self/exe\n");
        return 1;
    }
    double t0 = pmb_monotonic_s();
    int have[PMB_NUM_ALLOCATORS];
    int pymm_ok = run_allocators(&cx, have);
    run_all_callgrind(&cx, have);
    pmb_alloc_python(&cx);
    pmb_alloc_print(&cx, pmb_monotonic_s() - t0);

    rc = pmb_suite_status(&cx.recs, "alloc", cx.json_path, pymm_ok);
    pmb_records_free(&cx.recs);
    pmb_notes_free(&cx.notes);
    return rc;
}
