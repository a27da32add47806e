/*
 * alloc_worker.c -- the worker process of `pymm bench alloc`.
 *
 * This one file builds one executable per allocator
 * (pymm-bench-alloc-{pymm,glibc,mimalloc,jemalloc,pymalloc}); exactly one of
 * PMB_IMPL_PYMM, PMB_IMPL_GLIBC, PMB_IMPL_MIMALLOC, PMB_IMPL_JEMALLOC or
 * PMB_IMPL_PYMALLOC selects the allocator at compile time. Each allocator
 * runs in its own process because Debian's mimalloc and jemalloc export
 * `malloc` and would replace glibc's in a shared process.
 *
 * It owns the measuring loops of every allocator case:
 *   time   pair-N (ns), batch-1000 (ns), mix (ns)
 *   frag   frag-base, frag-peak, frag-freed, frag-trimmed (VmRSS, KiB)
 *   instr  pair-N under callgrind: marks the counted regions with client
 *          requests and dumps one profile per region; the driver reads them.
 * Results go to stdout as lines "PMB <case> <metric> <value> <unit>", which
 * the driver (alloc_suite.c) collects through a pipe.
 *
 * The worker allocates its own bookkeeping (step tables, pointer arrays) with
 * mmap, so the allocator under test sees only the blocks being measured.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#if defined(PMB_HAVE_CALLGRIND_H)
#include <valgrind/callgrind.h>
#endif

#include "pm_config.h" /* PM_NOINLINE */
#include "pmb_status.h"
#include "pmb_stats.h"

/* ------------------------------------------------------------------------ */
/* The allocator under test                                                 */
/* ------------------------------------------------------------------------ */

#if defined(PMB_IMPL_PYMM)
#include "pymm.h"
#define IMPL_NAME "pymm"
/* The API a pymm user calls: the default heap's OBJ domain. */
static inline void *impl_malloc(size_t n) { return pm_obj_malloc(n); }
static inline void impl_free(void *p) { pm_obj_free(p); }
static void impl_trim(void) { (void)pm_heap_trim(pm_heap_default()); }

#elif defined(PMB_IMPL_GLIBC)
#include <malloc.h>
#define IMPL_NAME "glibc"
static inline void *impl_malloc(size_t n) { return malloc(n); }
static inline void impl_free(void *p) { free(p); }
static void impl_trim(void) { (void)malloc_trim(0); }

#elif defined(PMB_IMPL_MIMALLOC)
#include <mimalloc.h>
#define IMPL_NAME "mimalloc"
static inline void *impl_malloc(size_t n) { return mi_malloc(n); }
static inline void impl_free(void *p) { mi_free(p); }
static void impl_trim(void) { mi_collect(true); }

#elif defined(PMB_IMPL_JEMALLOC)
#include <jemalloc/jemalloc.h>
#define IMPL_NAME "jemalloc"
/* Debian builds jemalloc without a symbol prefix: its malloc replaces
 * glibc's. A prefixed build (je_malloc) is detected by CMake. */
#if defined(PMB_JEMALLOC_PREFIXED)
#define PMB_JE(name) je_##name
#else
#define PMB_JE(name) name
#endif
#define PMB_STR2(x) #x
#define PMB_STR(x) PMB_STR2(x)
static inline void *impl_malloc(size_t n) { return PMB_JE(malloc)(n); }
static inline void impl_free(void *p) { PMB_JE(free)(p); }
static void impl_trim(void) {
    /* Purge the dirty pages of every arena now instead of after decay. */
    (void)PMB_JE(mallctl)("arena." PMB_STR(MALLCTL_ARENAS_ALL) ".purge", NULL, NULL, NULL, 0);
}

#elif defined(PMB_IMPL_PYMALLOC)
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define IMPL_NAME "pymalloc"
/* CPython 3.11 initializes its allocator tables statically, so
 * PyObject_Malloc is pymalloc without Py_Initialize (checked by hand: the
 * blocks come from pymalloc arenas). Not initializing keeps the
 * interpreter's own objects out of the pools and the RSS baseline. */
static inline void *impl_malloc(size_t n) { return PyObject_Malloc(n); }
static inline void impl_free(void *p) { PyObject_Free(p); }
static void impl_trim(void) { /* pymalloc has no trim entry point */
}

#else
#error "define one of PMB_IMPL_PYMM/GLIBC/MIMALLOC/JEMALLOC/PYMALLOC"
#endif

/* ------------------------------------------------------------------------ */
/* Sizes of the runs                                                        */
/* ------------------------------------------------------------------------ */

#define NUM_CLASSES 32 /* 16, 32, ..., 512 */
#define CLASS_STEP 16
#define BATCH_BLOCKS 1000
#define MIX_SLOTS 10000
#define MIX_MIN 8
#define MIX_MAX 512
#define FRAG_KEEP_PER_MILLE 10 /* 1% of the blocks survive */
#define REPS 5                 /* timed repetitions; the median is reported */

typedef struct scale {
    long pair_n;       /* pairs per timed repetition and per class    */
    long batch_rounds; /* batches of BATCH_BLOCKS per timed repetition */
    long mix_steps;    /* steps per timed repetition                   */
    long frag_blocks;  /* blocks allocated by the frag case            */
    long instr_n;      /* pairs per class counted under callgrind      */
} scale;

/* --quick divides every case by four at most (the rule). */
static const scale FULL = {1000000, 2000, 2000000, 2000000, 100000};
static const scale QUICK = {250000, 500, 500000, 500000, 25000};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Make p observable so the compiler keeps the allocation that produced it
 * (GCC and clang delete a malloc whose result only reaches free). */
static inline void escape(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

static void die(const char *what) {
    fprintf(stderr, "pymm-bench-alloc-%s: %s\n", IMPL_NAME, what);
    exit(1);
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void emit(const char *case_name, const char *metric, double value, const char *unit) {
    printf("PMB %s %s %.4f %s\n", case_name, metric, value, unit);
    fflush(stdout);
}

/* Bookkeeping memory straight from the kernel, invisible to the allocator. */
static void *map_pages(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap failed");
    return p;
}

/* xorshift64*: small, fast, and the same sequence on every allocator. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}
static uint32_t rng_below(uint32_t n) { return (uint32_t)((rng_next() >> 32) % n); }

/* VmRSS of this process in KiB. */
static long vm_rss_kb(void) { return pmb_status_kb("VmRSS:"); }

/* ------------------------------------------------------------------------ */
/* pair-N: malloc then free of one size, in a loop                          */
/* ------------------------------------------------------------------------ */

static PM_NOINLINE void pair_loop(size_t size, long n) {
    for (long i = 0; i < n; i++) {
        void *p = impl_malloc(size);
        escape(p);
        impl_free(p);
    }
}

/* The same loop without the calls: what callgrind subtracts. */
static PM_NOINLINE void empty_loop(size_t size, long n) {
    for (long i = 0; i < n; i++) escape((void *)(uintptr_t)size);
}

/* The median of the REPS repetitions' times (sorted in place; no
 * allocation, which would go to the allocator under test). */
static double median_ns(double *t) { return pmb_spread_sort(t, REPS).median; }

/* The repetitions go round the classes (class 1..32, then again) rather
 * than one class at a time: a disturbance of the machine lasting longer
 * than one measurement then spoils one sample of several classes, not every
 * sample of one class, and the median passes over it. */
static void run_pairs(const scale *sc) {
    double t[NUM_CLASSES + 1][REPS];
    for (int c = 1; c <= NUM_CLASSES; c++)
        pair_loop((size_t)c * CLASS_STEP, sc->pair_n / 8); /* warm: pools, lazy binding */
    for (int r = 0; r < REPS; r++) {
        for (int c = 1; c <= NUM_CLASSES; c++) {
            double t0 = now_ns();
            pair_loop((size_t)c * CLASS_STEP, sc->pair_n);
            t[c][r] = now_ns() - t0;
        }
    }
    for (int c = 1; c <= NUM_CLASSES; c++) {
        char name[32];
        snprintf(name, sizeof name, "pair-%d", c * CLASS_STEP);
        emit(name, "ns_per_op", median_ns(t[c]) / (double)sc->pair_n, "ns");
    }
}

/* ------------------------------------------------------------------------ */
/* batch-1000: 1000 blocks allocated, then freed in allocation order         */
/* ------------------------------------------------------------------------ */

static PM_NOINLINE void batch_round(void **slots) {
    for (int i = 0; i < BATCH_BLOCKS; i++) {
        /* Sizes cycle over the 32 classes; the first word is written as an
         * object header would be. */
        uint64_t *p = impl_malloc((size_t)(i % NUM_CLASSES + 1) * CLASS_STEP);
        if (!p) die("out of memory in batch");
        *p = (uint64_t)i;
        slots[i] = p;
    }
    for (int i = 0; i < BATCH_BLOCKS; i++) impl_free(slots[i]);
}

static void run_batch(const scale *sc) {
    void **slots = map_pages(BATCH_BLOCKS * sizeof(void *));
    for (long k = 0; k < sc->batch_rounds / 8; k++) batch_round(slots);
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = now_ns();
        for (long k = 0; k < sc->batch_rounds; k++) batch_round(slots);
        t[r] = now_ns() - t0;
    }
    /* One op = one malloc plus its free, as in pair-N. */
    emit("batch-1000", "ns_per_op", median_ns(t) / ((double)sc->batch_rounds * BATCH_BLOCKS), "ns");
    munmap(slots, BATCH_BLOCKS * sizeof(void *));
}

/* ------------------------------------------------------------------------ */
/* mix: random sizes, random lifetimes                                      */
/* ------------------------------------------------------------------------ */

typedef struct mix_step {
    uint32_t slot; /* the slot whose block is freed and replaced */
    uint32_t size; /* the size of the replacement, MIX_MIN..MIX_MAX */
} mix_step;

static uint32_t mix_size(void) { return MIX_MIN + rng_below(MIX_MAX - MIX_MIN + 1); }

static PM_NOINLINE void mix_round(void **slots, const mix_step *steps, long n) {
    for (long i = 0; i < n; i++) {
        impl_free(slots[steps[i].slot]);
        uint64_t *p = impl_malloc(steps[i].size);
        if (!p) die("out of memory in mix");
        *p = (uint64_t)i;
        slots[steps[i].slot] = p;
    }
}

static void run_mix(const scale *sc) {
    /* The steps are drawn before timing so the RNG is not measured, and from
     * a fixed seed so every allocator replays the same sequence. */
    size_t steps_bytes = (size_t)sc->mix_steps * sizeof(mix_step);
    mix_step *steps = map_pages(steps_bytes);
    void **slots = map_pages(MIX_SLOTS * sizeof(void *));
    rng_state = 0x5EED0001ull;
    for (int s = 0; s < MIX_SLOTS; s++) {
        slots[s] = impl_malloc(mix_size());
        if (!slots[s]) die("out of memory in mix");
    }
    for (long i = 0; i < sc->mix_steps; i++) {
        steps[i].slot = rng_below(MIX_SLOTS);
        steps[i].size = mix_size();
    }
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = now_ns();
        mix_round(slots, steps, sc->mix_steps);
        t[r] = now_ns() - t0;
    }
    emit("mix", "ns_per_op", median_ns(t) / (double)sc->mix_steps, "ns");
    for (int s = 0; s < MIX_SLOTS; s++) impl_free(slots[s]);
    munmap(slots, MIX_SLOTS * sizeof(void *));
    munmap(steps, steps_bytes);
}

/* ------------------------------------------------------------------------ */
/* frag: 99% of the blocks freed in random order, 1% kept                   */
/* ------------------------------------------------------------------------ */

/* A random permutation of 0..n-1 (Fisher-Yates). */
static uint32_t *random_order(long n) {
    uint32_t *order = map_pages((size_t)n * sizeof(uint32_t));
    for (long i = 0; i < n; i++) order[i] = (uint32_t)i;
    for (long i = n - 1; i > 0; i--) {
        uint32_t j = rng_below((uint32_t)(i + 1));
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    return order;
}

static void run_frag(const scale *sc) {
    long n = sc->frag_blocks;
    long keep = n * FRAG_KEEP_PER_MILLE / 1000;
    emit("frag-base", "rss_kb", (double)vm_rss_kb(), "KiB");
    /* The bookkeeping (order, pointers: 12 bytes a block) is in frag-peak
     * alike for every allocator and unmapped before frag-freed. */
    rng_state = 0x5EED0002ull;
    uint32_t *order = random_order(n);
    void **blocks = map_pages((size_t)n * sizeof(void *));
    void **kept = map_pages((size_t)keep * sizeof(void *));

    for (long i = 0; i < n; i++) {
        uint64_t *p = impl_malloc((size_t)(rng_below(NUM_CLASSES) + 1) * CLASS_STEP);
        if (!p) die("out of memory in frag");
        *p = (uint64_t)i; /* touch it, as a program would */
        blocks[i] = p;
    }
    emit("frag-peak", "rss_kb", (double)vm_rss_kb(), "KiB");

    for (long i = 0; i < n - keep; i++) impl_free(blocks[order[i]]);
    for (long i = 0; i < keep; i++) kept[i] = blocks[order[n - keep + i]];
    munmap(blocks, (size_t)n * sizeof(void *));
    munmap(order, (size_t)n * sizeof(uint32_t));
    emit("frag-freed", "rss_kb", (double)vm_rss_kb(), "KiB");

    impl_trim();
    emit("frag-trimmed", "rss_kb", (double)vm_rss_kb(), "KiB");

    /* The survivors stay alive through every measurement above. */
    for (long i = 0; i < keep; i++) impl_free(kept[i]);
    munmap(kept, (size_t)keep * sizeof(void *));
}

/* ------------------------------------------------------------------------ */
/* instr: pair-N under callgrind                                            */
/* ------------------------------------------------------------------------ */

#if defined(PMB_HAVE_CALLGRIND_H)
/* Dump what was counted since the last dump as "KIND-SIZE/N". */
static void dump_region(const char *kind, size_t size, long n) {
    char name[48];
    snprintf(name, sizeof name, "%s-%zu/%ld", kind, size, n);
    CALLGRIND_DUMP_STATS_AT(name);
}

/* The empty loop of N iterations, counted and dumped as KIND-SIZE/N. */
static void count_empty(const char *kind, size_t size, long n) {
    CALLGRIND_TOGGLE_COLLECT;
    empty_loop(size, n);
    CALLGRIND_TOGGLE_COLLECT;
    dump_region(kind, size, n);
}

#if defined(PMB_IMPL_PYMM)
static PM_NOINLINE void heap_pair_loop(pm_heap *h, size_t size, long n) {
    for (long i = 0; i < n; i++) {
        void *p = pm_heap_malloc(h, size);
        escape(p);
        pm_heap_free(h, p);
    }
}

/* The same pairs on a private heap (pm_heap_malloc/pm_heap_free, no domain
 * table, no thread-local cache): the budget of the heap one thread uses,
 * beside the thread-safe default heap's of pair-N. Dumps "heappair-16/N"
 * and the empty loop again as "heapempty-16/N". */
static void private_heap_instr(long n) {
    pm_heap *h = pm_heap_new(NULL);
    if (h == NULL) die("pm_heap_new failed");
    heap_pair_loop(h, CLASS_STEP, 1000);
    CALLGRIND_TOGGLE_COLLECT;
    heap_pair_loop(h, CLASS_STEP, n);
    CALLGRIND_TOGGLE_COLLECT;
    dump_region("heappair", CLASS_STEP, n);
    count_empty("heapempty", CLASS_STEP, n);
    pm_heap_destroy(h);
}
#endif

/* Run with --collect-atstart=no: only the toggled regions are counted, and
 * each dump (named "pair-16/N", "empty-16/N") holds one region's total. */
static void run_instr(const scale *sc) {
    long n = sc->instr_n;
    for (int c = 1; c <= NUM_CLASSES; c++) {
        size_t size = (size_t)c * CLASS_STEP;
        pair_loop(size, 1000); /* warm, outside the counted region */
        CALLGRIND_TOGGLE_COLLECT;
        pair_loop(size, n);
        CALLGRIND_TOGGLE_COLLECT;
        dump_region("pair", size, n);
        count_empty("empty", size, n);
    }
#if defined(PMB_IMPL_PYMM)
    private_heap_instr(n);
#endif
    /* Tells the driver the run was really under callgrind. */
    printf("PMB-INSTR %s %d\n", RUNNING_ON_VALGRIND ? "valgrind" : "native", NUM_CLASSES);
}
#else
static void run_instr(const scale *sc) {
    (void)sc;
    die("built without valgrind/callgrind.h: no instr mode");
}
#endif

/* ------------------------------------------------------------------------ */

static int usage(void) {
    fprintf(stderr,
            "usage: pymm-bench-alloc-%s time|frag|instr [--quick]\n"
            "(normally run by `pymm bench alloc`)\n",
            IMPL_NAME);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) return usage();
    const scale *sc = &FULL;
    if (argc == 3) {
        if (strcmp(argv[2], "--quick") != 0) return usage();
        sc = &QUICK;
    }
    if (strcmp(argv[1], "time") == 0) {
        run_pairs(sc);
        run_batch(sc);
        run_mix(sc);
    } else if (strcmp(argv[1], "frag") == 0) {
        run_frag(sc);
    } else if (strcmp(argv[1], "instr") == 0) {
        run_instr(sc);
    } else {
        return usage();
    }
    return 0;
}
