/*
 * trace_worker.c -- pymm-bench-trace-pymm, the C workload of `pymm bench
 * trace` that is not binary-trees (that one is the objects suite's worker,
 * `pymm-bench-objects-pymm trees D mutable`).
 *
 *   pymm-bench-trace-pymm mix OPS
 *   pymm-bench-trace-pymm stacks STACKS PER
 *
 * A random allocate/free mix through pm_mem_malloc / pm_mem_free; built
 * with PMB_TRACE_MALLOC (pymm-bench-trace-malloc, heaptrack's program),
 * through malloc / free. Not PYMM_MALLOC=malloc: pymm's raw domain calls
 * __libc_malloc, which heaptrack's preloaded malloc does not see. SLOTS
 * slots, each step picks a slot at
 * random, frees its block if it holds one and allocates a new one of a
 * size drawn from SIZES (xorshift64*, a fixed seed: every run and mode
 * makes the same calls), writing its first byte. At the end every block
 * is freed. The driver runs this process with or without PYMM_TRACE and
 * measures the whole process (wait4); the worker prints only its own
 * count of calls, "PMB mix calls N allocations" (allocations and frees
 * made), and a checksum.
 *
 * `stacks` (the pymm build only) makes the big capture whose HTML page
 * the suite loads in Chromium and tests/cli checks for size: STACKS
 * distinct stacks (a script line each, pm_trace_push_frame), each making
 * PER allocations of 16 to 64 bytes, each freed before the next but the
 * stack's last, which lives until the end: STACKS * PER allocations.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(PMB_TRACE_MALLOC)
#define mix_alloc malloc
#define mix_free free
#define WORKER "pymm-bench-trace-malloc"
#else
#include "pymm.h"
#define mix_alloc pm_mem_malloc
#define mix_free pm_mem_free
#define WORKER "pymm-bench-trace-pymm"
#endif

#define SLOTS 4096

/* Mostly small blocks, as a Python program makes them; one in 16 above
 * 512 bytes (the pools' limit). */
static const size_t SIZES[16] = {8,  16, 16,  24,  32,  32,  48,   64,
                                 64, 96, 128, 192, 256, 512, 1024, 4096};

static uint64_t rng_next(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int mix(long ops) {
    static unsigned char *slot[SLOTS];
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    uint64_t calls = 0, check = 0;
    for (long i = 0; i < ops; i++) {
        uint64_t r = rng_next(&rng);
        size_t k = (size_t)(r % SLOTS);
        if (slot[k]) {
            check += slot[k][0];
            mix_free(slot[k]);
            calls++;
        }
        size_t size = SIZES[(r >> 32) & 15];
        slot[k] = mix_alloc(size);
        if (!slot[k]) {
            fprintf(stderr, WORKER ": out of memory\n");
            return 1;
        }
        slot[k][0] = (unsigned char)i;
        calls++;
    }
    for (size_t k = 0; k < SLOTS; k++) {
        if (slot[k]) {
            mix_free(slot[k]);
            calls++;
        }
    }
    printf("PMB mix calls %llu allocations\n", (unsigned long long)calls);
    printf("PMB-CHECK mix checksum %llu\n", (unsigned long long)check);
    return 0;
}

#if !defined(PMB_TRACE_MALLOC)
static int stacks(long nstacks, long per) {
    void **last = malloc((size_t)nstacks * sizeof *last);
    if (last == NULL) return 1;
    int failed = 0;
    for (long i = 0; i < nstacks && !failed; i++) {
        pm_trace_push_frame("big.py", "work", (int)(i + 1));
        for (long k = 0; k < per && !failed; k++) {
            failed = (last[i] = pm_mem_malloc(16 + (size_t)(k % 4) * 16)) == NULL;
            if (k + 1 < per && !failed) pm_mem_free(last[i]);
        }
        pm_trace_pop_frame();
        if (failed) last[i] = NULL;
    }
    for (long i = 0; i < nstacks; i++) pm_mem_free(last[i]);
    free(last);
    if (failed) fprintf(stderr, WORKER ": out of memory\n");
    return failed;
}
#endif

/* A count argument: from 1 up to INT_MAX (a script line), else 0. */
static long count_arg(const char *text) {
    char *end;
    long v = strtol(text, &end, 10);
    return *end == '\0' && v >= 1 && v <= 0x7fffffff ? v : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "mix") == 0 && count_arg(argv[2]))
        return mix(count_arg(argv[2]));
#if !defined(PMB_TRACE_MALLOC)
    if (argc == 4 && strcmp(argv[1], "stacks") == 0 && count_arg(argv[2]) && count_arg(argv[3]))
        return stacks(count_arg(argv[2]), count_arg(argv[3]));
#endif
    fprintf(stderr, "usage: " WORKER " mix OPS | stacks STACKS PER\n");
    return 2;
}
