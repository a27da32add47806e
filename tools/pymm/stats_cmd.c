/*
 * stats_cmd.c -- `pymm stats [--json] [--blocks N]`: the heap statistics
 * (pm_heap_print_stats, like sys._debugmallocstats) of a described
 * workload, to read the report's columns on live figures.
 *
 * The command's own default heap is nearly empty (this process allocates
 * almost nothing from it), so the workload runs in a fresh private heap:
 * N small blocks (default 100,000) of 16 to 512 bytes at random, then every
 * other one freed, then 16 large blocks of 64 KiB. A program's own heap is
 * reported by the program: PYMM_STATS=1 at its exit, or
 * pm_heap_print_stats from its code.
 */
#include "pymm.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pymm_stats_main(int argc, char **argv);

enum { LARGE_BLOCKS = 16, LARGE_SIZE = 64 << 10 };

static int usage(FILE *f) {
    fprintf(f, "usage: pymm stats [--json] [--blocks N]\n"
               "  a fresh heap: N random small blocks (16..512 bytes; default 100000),\n"
               "  every other one freed, 16 large blocks of 64 KiB; then its statistics\n"
               "  (--json: one JSON object). A program's own heap: PYMM_STATS=1.\n");
    return f == stderr ? 2 : 0;
}

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The workload in h; false when out of memory (everything freed). */
static bool run_workload(pm_heap *h, size_t n, void **blocks) {
    uint64_t seed = 1;
    for (size_t i = 0; i < n + LARGE_BLOCKS; i++) {
        size_t size = i < n ? 16 + next_rand(&seed) % 497 : LARGE_SIZE;
        if ((blocks[i] = pm_heap_malloc(h, size)) == NULL) {
            for (size_t j = 0; j < i; j++) pm_heap_free(h, blocks[j]);
            return false;
        }
    }
    for (size_t i = 0; i < n; i += 2) {
        pm_heap_free(h, blocks[i]);
        blocks[i] = NULL;
    }
    return true;
}

int pymm_stats_main(int argc, char **argv) {
    bool json = false;
    size_t n = 100000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--blocks") == 0 && i + 1 < argc) {
            char *end;
            long long v = strtoll(argv[++i], &end, 10);
            if (*end != '\0' || v < 0 || v > 100000000) return usage(stderr);
            n = (size_t)v;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return usage(stdout);
        } else {
            return usage(stderr);
        }
    }
    pm_heap *h = pm_heap_new(NULL);
    void **blocks = malloc((n + LARGE_BLOCKS) * sizeof *blocks);
    if (h == NULL || blocks == NULL || !run_workload(h, n, blocks)) {
        fprintf(stderr, "pymm stats: out of memory\n");
        free(blocks);
        if (h) pm_heap_destroy(h);
        return 1;
    }
    if (json) {
        pm_heap_print_stats_json(h, stdout);
    } else {
        printf("pymm stats: a fresh heap after %zu random small blocks (16..512 bytes), every\n"
               "other one freed, and %d large blocks of %d KiB:\n",
               n, LARGE_BLOCKS, LARGE_SIZE >> 10);
        pm_heap_print_stats(h, stdout);
    }
    for (size_t i = 0; i < n + LARGE_BLOCKS; i++)
        if (blocks[i]) pm_heap_free(h, blocks[i]);
    free(blocks);
    pm_heap_destroy(h);
    return fflush(stdout) == 0 ? 0 : 1;
}
