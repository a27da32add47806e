/*
 * trace_worker.c -- pymm-bench-trace-pymm, the C workload of `pymm bench
 * trace` that is not binary-trees (that one is the objects suite's worker,
 * `pymm-bench-objects-pymm trees D mutable`).
 *
 *   pymm-bench-trace-pymm mix OPS
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

int main(int argc, char **argv) {
    char *end = NULL;
    long ops = argc == 3 ? strtol(argv[2], &end, 10) : 0;
    if (argc != 3 || strcmp(argv[1], "mix") != 0 || *end != '\0' || ops < 1) {
        fprintf(stderr, "usage: " WORKER " mix OPS\n");
        return 2;
    }
    return mix(ops);
}
