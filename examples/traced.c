/*
 * traced.c -- an embedder's view of the allocation recorder: a toy
 * "interpreter" runs a script of three functions, tells pymm its
 * script-level frames (pm_trace_push_frame, as a Lua or Python host
 * would), and asks the questions tracemalloc answers: which script lines
 * hold the most memory, what grew between two snapshots, what a section
 * of the run cost. docs/TRACING.md walks through it.
 *
 * Run as it is, it traces itself in memory; under PYMM_TRACE=FILE it
 * also leaves a capture for `pymm report`. It checks its own answers
 * (the sizes are known), so CTest runs it as a test.
 */
#include <pymm.h>
#include <stdio.h>
#include <string.h>

/* The "script": file, function, line of each statement that allocates. */
static const char script[] = "report.toy";

/* The host's C code that the script's statements call. */
static void *host_new_buffer(size_t n) { return pm_mem_malloc(n); }

static pm_object *host_new_list(size_t n) {
    pm_object *l = pm_list_new(0);
    for (size_t i = 0; l && i < n; i++) {
        pm_object *x = pm_int(i);
        if (x == NULL || pm_list_append(l, x) != 0) return NULL;
        pm_decref(x);
    }
    return l;
}

/* load(): line 3 reads a 64 KiB file into a buffer, kept. */
static void *run_load(void) {
    pm_trace_push_frame(script, "load", 3);
    void *buf = host_new_buffer(64 * 1024);
    pm_trace_pop_frame();
    return buf;
}

/* index(): line 8 builds a list of 10,000 ints, kept. */
static pm_object *run_index(void) {
    pm_trace_push_frame(script, "index", 8);
    pm_object *l = host_new_list(10000);
    pm_trace_pop_frame();
    return l;
}

/* main(): line 1 calls load, line 2 index; the section measures index. */
static int check(int ok, const char *what) {
    if (!ok) fprintf(stderr, "traced: %s\n", what);
    return ok ? 0 : 1;
}

#define MAX_ENTRIES 256

/* The script lines among the statistics (C frames are keys too). */
static void print_top(const pm_trace_snapshot *now, const pm_trace_snapshot *base) {
    static pm_trace_entry e[MAX_ENTRIES];
    size_t n = pm_trace_snapshot_statistics(now, base, PM_TRACE_BY_LINE, 1, e, MAX_ENTRIES);
    printf("%s, by script line (cumulative):\n", base ? "grown since the first snapshot" : "live");
    for (size_t i = 0; i < n && i < MAX_ENTRIES; i++) {
        if (!e[i].where.interpreter) continue;
        printf("  %s:%d %-6s %8zu bytes in %5zu blocks", e[i].where.file, e[i].where.line,
               e[i].where.function, e[i].size, e[i].count);
        if (base) printf(" (%+lld)", (long long)e[i].size_diff);
        printf("\n");
    }
}

int main(void) {
    int self_started = !pm_trace_is_tracing(); /* PYMM_TRACE may have started it */
    if (self_started && pm_trace_start(NULL) != 0) return perror("pm_trace_start"), 1;
    pm_runtime *rt = pm_runtime_new(NULL);
    if (rt == NULL) return 1;
    pm_runtime *saved = pm_runtime_enter(rt);

    pm_trace_push_frame(script, "main", 1);
    void *buf = run_load();
    pm_trace_snapshot *first = pm_trace_take_snapshot();
    pm_trace_set_line(2);
    pm_trace_section_begin("index");
    pm_object *list = run_index();
    pm_trace_section_end();
    pm_trace_snapshot *second = pm_trace_take_snapshot();
    pm_trace_pop_frame();
    int bad = check(buf && list && first && second, "out of memory");

    print_top(second, NULL);
    print_top(second, first);
    static pm_trace_entry e[MAX_ENTRIES];
    size_t n = pm_trace_snapshot_statistics(second, first, PM_TRACE_BY_LINE, 1, e, MAX_ENTRIES);
    int seen = 0;
    for (size_t i = 0; i < n && i < MAX_ENTRIES; i++) {
        if (!e[i].where.interpreter) continue;
        if (e[i].where.line == 3) {
            seen |= 1;
            bad |= check(e[i].size == 64 * 1024 && e[i].size_diff == 0, "load's line is wrong");
        } else if (e[i].where.line == 8) {
            seen |= 2;
            bad |= check(e[i].size_diff > 10000 * 16, "index's growth is too small");
        }
    }
    bad |= check(seen == 3, "a script line is missing");
    pm_trace_section s[4];
    size_t ns = pm_trace_sections(s, 4);
    for (size_t i = 0; i < ns; i++)
        printf("section %s: %lld bytes net, peak +%zu, %llu time(s)\n", s[i].name,
               (long long)s[i].net_bytes, s[i].peak_bytes, (unsigned long long)s[i].occurrences);
    bad |= check(ns == 1 && s[0].net_bytes > 10000 * 16, "the section's net is wrong");

    pm_trace_snapshot_free(first);
    pm_trace_snapshot_free(second);
    pm_decref(list);
    pm_mem_free(buf);
    pm_runtime_enter(saved);
    pm_runtime_destroy(rt);
    if (self_started) pm_trace_stop();
    return bad;
}
