/*
 * report_sites.c -- a run with known allocation sites, traced under
 * PYMM_TRACE by tests/cli/cli_test.sh to check `pymm report`'s formats
 * (collapsed, pprof, speedscope) against figures known in advance.
 *
 * It plays an interpreter running a script "sites.py" (pm_trace_push_frame)
 * whose functions call C functions that allocate:
 *   main:1 -> keep:7  -> site_keep:  3 blocks of 30,000 B (obj), never freed
 *   main:2 -> load:3  -> site_load: 10 blocks of 100,000 B (mem), freed at main:3
 *   main:4 -> churn:9 -> site_churn: 5 blocks of 64 B (raw), each freed at once
 * So at the peak (the last load) load holds 1,000,000 B and keep 90,000 B;
 * at the exit keep holds 90,000 B. Temporary (freed before the thread's
 * next allocation): churn's 320 B, and the last of load's blocks, 100,000 B
 * (freed at main:3 before anything else is allocated). The site_*
 * functions are neither inlined nor given arguments (gcc would clone them
 * as site_keep.constprop.0), so that with debug information the report
 * names them as written.
 *
 * `report_sites hostile` runs the same under a script frame, a section
 * and a mark whose names are markup meant to break out of the HTML
 * page's <script> element (and one name that is not UTF-8), to check
 * that the page escapes them. `report_sites many N` makes N distinct
 * stacks of long names (one 64-byte block each, half of them freed), a
 * capture whose page must stay under its size cap.
 *
 * `report_sites gc` makes what the timeline's RSS and pauses show: three
 * explicit collections, of generations 0, 1 and 2, each finding
 * GC_GARBAGE self-referencing lists (fewer than an automatic collection
 * waits for), and between them a GC_TOUCHED-byte block written through,
 * held for GC_HOLD_MS and freed, so that the RSS rises by that much and
 * falls back while the recorder samples it.
 *
 * `report_sites leaky` leaves, with the collector off, a cycle of a dict
 * and a list (the dict's key is the hostile function name above) for
 * PYMM_LEAKS=FILE to report: a real leak report for `pymm report
 * --leaks` (with PYMM_TRACE, its stack: built also as a fixed executable,
 * cli_report_sites_nopie, for the offsets of a module that is not moved).
 *
 * `report_sites exit N` runs the sites and exits with status N;
 * `report_sites kill` runs them and kills itself (SIGKILL): what `pymm
 * run` passes on.
 */
#define _POSIX_C_SOURCE 200809L
#include <pymm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>

#define KEEP_BLOCKS 3
#define KEEP_SIZE 30000
#define LOAD_BLOCKS 10
#define LOAD_SIZE 100000
#define CHURN_BLOCKS 5
#define CHURN_SIZE 64

static const char script[] = "sites.py";

/* Static, so that the blocks are still held when tracing stops. */
static void *kept[KEEP_BLOCKS], *loaded[LOAD_BLOCKS];

__attribute__((noinline)) static int site_keep(void) {
    for (int i = 0; i < KEEP_BLOCKS; i++)
        if ((kept[i] = pm_obj_malloc(KEEP_SIZE)) == NULL) return 1;
    return 0;
}

__attribute__((noinline)) static int site_load(void) {
    for (int i = 0; i < LOAD_BLOCKS; i++)
        if ((loaded[i] = pm_mem_malloc(LOAD_SIZE)) == NULL) return 1;
    return 0;
}

__attribute__((noinline)) static int site_churn(void) {
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        void *p = pm_raw_malloc(CHURN_SIZE);
        if (p == NULL) return 1;
        pm_raw_free(p);
    }
    return 0;
}

/* The names of `hostile`: each tries to end the page's data early. */
static const char evil_function[] = "</script><script>document.body.setAttribute('data-pwned',"
                                    "'1')</script><!--";
static const char evil_file[] = "<!--<script>/x.py\xff\xfe";
static const char evil_label[] = "</SCRIPT><img src=x onerror=alert(1)>";

/* N stacks, each a script line of its own under a long function name. */
static int many(long n) {
    static char name[200];
    memset(name, 'f', sizeof name - 1);
    void **blocks = malloc((size_t)n * sizeof *blocks);
    if (blocks == NULL) return 1;
    int failed = 0;
    for (long i = 0; i < n; i++) {
        pm_trace_push_frame(script, name, (int)i + 1);
        failed |= (blocks[i] = pm_mem_malloc(CHURN_SIZE)) == NULL;
        pm_trace_pop_frame();
        if (i % 2) pm_mem_free(blocks[i]);
    }
    for (long i = 0; i < n; i += 2) pm_mem_free(blocks[i]);
    free(blocks);
    return failed;
}

static int sites(void) {
    int failed = 0;
    pm_trace_push_frame(script, "main", 1);
    pm_trace_push_frame(script, "keep", 7);
    failed |= site_keep();
    pm_trace_pop_frame();
    pm_trace_set_line(2);
    pm_trace_push_frame(script, "load", 3);
    failed |= site_load();
    pm_trace_pop_frame();
    pm_trace_set_line(3);
    for (int i = 0; i < LOAD_BLOCKS; i++) pm_mem_free(loaded[i]);
    pm_trace_set_line(4);
    pm_trace_push_frame(script, "churn", 9);
    failed |= site_churn();
    pm_trace_pop_frame();
    pm_trace_pop_frame();
    return failed;
}

#define GC_GARBAGE 500
#define GC_TOUCHED (24u << 20)
#define GC_HOLD_MS 40

static void sleep_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0) continue;
}

/* GC_GARBAGE lists, each holding itself, with no other reference. */
static int cycles(void) {
    for (int i = 0; i < GC_GARBAGE; i++) {
        pm_object *l = pm_list_new(0);
        if (l == NULL || pm_list_append(l, l) != 0) return 1;
        pm_decref(l);
    }
    return 0;
}

static int collections(void) {
    int failed = 0;
    for (int gen = 0; gen < 3; gen++) {
        failed |= cycles();
        if (pm_gc_collect(gen) != GC_GARBAGE) {
            fprintf(stderr, "report_sites gc: generation %d did not find the garbage\n", gen);
            failed = 1;
        }
        unsigned char *big = pm_raw_malloc(GC_TOUCHED);
        if (big == NULL) return 1;
        memset(big, 1, GC_TOUCHED);
        sleep_ms(GC_HOLD_MS); /* the next event's time samples the RSS */
        pm_raw_free(pm_raw_malloc(16));
        pm_raw_free(big);
        sleep_ms(GC_HOLD_MS);
        pm_raw_free(pm_raw_malloc(16));
    }
    return failed;
}

/* A dict and a list that hold each other, and nothing else holds them.
 * Not inlined: a traced run's verdict names this function, at the line
 * of its pm_dict_new (cli_test.sh, report_leaks_stacks). */
static __attribute__((noinline)) int leaky(void) {
    pm_gc_disable();
    pm_object *d = pm_dict_new(), *l = pm_list_new(0);
    int failed = d == NULL || l == NULL || pm_dict_set_str(d, evil_function, l) != 0 ||
                 pm_list_append(l, d) != 0;
    pm_decref(l);
    pm_decref(d);
    return failed;
}

int main(int argc, char **argv) {
    int failed;
    if (argc == 3 && strcmp(argv[1], "many") == 0) failed = many(atol(argv[2]));
    else if (argc == 2 && strcmp(argv[1], "gc") == 0) failed = collections();
    else if (argc == 2 && strcmp(argv[1], "leaky") == 0) failed = leaky();
    else if (argc == 3 && strcmp(argv[1], "exit") == 0) return sites() ? 1 : atoi(argv[2]);
    else if (argc == 2 && strcmp(argv[1], "kill") == 0) {
        failed = sites();
        raise(SIGKILL);
    } else if (argc == 2 && strcmp(argv[1], "hostile") == 0) {
        pm_trace_push_frame(evil_file, evil_function, 1);
        pm_trace_section_begin(evil_label);
        pm_trace_mark(evil_label);
        failed = sites();
        pm_trace_section_end();
        pm_trace_pop_frame();
    } else failed = sites();
    if (failed) fprintf(stderr, "report_sites: out of memory\n");
    return failed;
}
