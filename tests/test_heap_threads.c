/*
 * test_heap_threads.c -- owns: the promise of pymm.h that different heaps
 * on different threads run in parallel and share no mutable state.
 *
 * Several threads each drive their own heap (pm_heap_new) with a randomized
 * malloc / calloc / realloc / free workload, writing a pattern into every
 * block and verifying it before the block is resized or freed, while one
 * more thread does the same on the default heap (the only thread touching
 * it). Heaps are created both by the thread that uses them and by the main
 * thread (handed over through pthread_create/pthread_join), so both
 * hand-offs are covered. Configurations differ per thread (pool sizes,
 * dirty_max 0, pm_heap_trim), and in the second group every thread creates
 * and destroys heaps in turn, so arenas are mapped and unmapped all the
 * time: addresses one thread's heap gives back are reused by another's,
 * which is where shared state, if any, would show. CI runs this under
 * ThreadSanitizer (label "threads").
 *
 * CHECK's counter is a plain global, so worker threads record failures in
 * their own struct and the main thread turns them into CHECKs after join.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSLOTS 512
#define LARGE_MAX 40000 /* above every medium class of the pool sizes used */

typedef struct slot {
    unsigned char *p;
    size_t size;
    uint8_t tag;
} slot;

typedef enum heap_source {
    HEAP_OWN,    /* the worker creates and destroys its heap itself  */
    HEAP_GIVEN,  /* the main thread created it and destroys it after */
    HEAP_DEFAULT /* pm_heap_default(), also via the pm_mem/pm_obj shorthands */
} heap_source;

typedef struct worker {
    int id;
    heap_source source;
    pm_heap_config cfg;
    pm_heap *heap;
    long ops;
    int rounds; /* HEAP_OWN: heaps created and destroyed in turn */
    uint64_t seed;
    int failures;
    uint64_t checked_bytes;
    size_t pool_block_max; /* of the heap in use (pm_heap_stats) */
    slot slots[NSLOTS];
} worker;

#define W_CHECK(w, cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: worker %d: CHECK failed: %s\n", __FILE__, __LINE__, (w)->id,   \
                    #cond);                                                                        \
            (w)->failures++;                                                                       \
        }                                                                                          \
    } while (0)

/* Block contents: a window into a random byte string, starting at the
 * slot's tag, so a block overwritten by another block (or by another heap)
 * is noticed. Filled once before any thread starts and only read after;
 * memcpy and memcmp keep the checks cheap under ThreadSanitizer. */
static unsigned char noise[LARGE_MAX + 256];

static void fill(slot *s) {
    if (s->size) memcpy(s->p, noise + s->tag, s->size);
}

static bool intact(worker *w, const slot *s, size_t upto) {
    w->checked_bytes += upto;
    return upto == 0 || memcmp(s->p, noise + s->tag, upto) == 0;
}

/* Sizes: mostly small, spread over every class; some 0; some large. */
static size_t pick_size(uint64_t *rng) {
    uint64_t r = tu_rand(rng);
    unsigned k = (unsigned)(r % 100);
    r >>= 8;
    if (k < 2) return 0;
    if (k < 60) return 1 + (size_t)(r % 128);
    if (k < 85) return 1 + (size_t)(r % PM_SMALL_MAX);
    if (k < 95) return PM_SMALL_MAX + 1 + (size_t)(r % 5000); /* medium, some large */
    return PM_SMALL_MAX + 1 + (size_t)(r % (LARGE_MAX - PM_SMALL_MAX));
}

/* Three ways in, chosen per slot index so that a block always goes back
 * the way it came: 0 the pool allocator itself (pm_heap_*), 1 and 2 the
 * MEM and OBJ domain tables (the pm_mem_* / pm_obj_* shorthands on the
 * default heap). On the debug heap the tables are the debug hooks. */
static unsigned slot_how(size_t i) { return (unsigned)(i % 3); }

static pm_domain how_domain(unsigned how) { return how == 1 ? PM_DOMAIN_MEM : PM_DOMAIN_OBJ; }

static void *w_malloc(worker *w, size_t n, unsigned how) {
    if (how == 0) return pm_heap_malloc(w->heap, n);
    if (w->source == HEAP_DEFAULT) return how == 1 ? pm_mem_malloc(n) : pm_obj_malloc(n);
    return pm_domain_malloc(w->heap, how_domain(how), n);
}

static void *w_calloc(worker *w, size_t n, unsigned how) {
    if (how == 0) return pm_heap_calloc(w->heap, n, 1);
    if (w->source == HEAP_DEFAULT) return how == 1 ? pm_mem_calloc(n, 1) : pm_obj_calloc(1, n);
    return pm_domain_calloc(w->heap, how_domain(how), 1, n);
}

static void *w_realloc(worker *w, void *p, size_t n, unsigned how) {
    if (how == 0) return pm_heap_realloc(w->heap, p, n);
    if (w->source == HEAP_DEFAULT) return how == 1 ? pm_mem_realloc(p, n) : pm_obj_realloc(p, n);
    return pm_domain_realloc(w->heap, how_domain(how), p, n);
}

static void w_free(worker *w, void *p, unsigned how) {
    if (how == 0) pm_heap_free(w->heap, p);
    else if (w->source == HEAP_DEFAULT && how == 1) pm_mem_free(p);
    else if (w->source == HEAP_DEFAULT) pm_obj_free(p);
    else pm_domain_free(w->heap, how_domain(how), p);
}

static void release(worker *w, size_t i) {
    slot *s = &w->slots[i];
    if (s->p == NULL) return;
    W_CHECK(w, intact(w, s, s->size));
    w_free(w, s->p, slot_how(i));
    s->p = NULL;
    s->size = 0;
}

static void check_heap(worker *w) {
    char why[256];
    int r = pm_heap_check(w->heap, why, sizeof why, 0);
    if (r != 0) fprintf(stderr, "worker %d: pm_heap_check: %s\n", w->id, why);
    W_CHECK(w, r == 0);
}

static void workload(worker *w, uint64_t *rng) {
    for (long op = 0; op < w->ops; op++) {
        uint64_t r = tu_rand(rng);
        size_t i = (size_t)(r % NSLOTS);
        unsigned how = slot_how(i);
        unsigned kind = (unsigned)((r >> 16) % 100);
        slot *s = &w->slots[i];
        if (kind < 40) { /* (re)place the block */
            release(w, i);
            size_t n = pick_size(rng);
            bool zeroed = (r >> 24) % 8 == 0;
            s->p = zeroed ? w_calloc(w, n, how) : w_malloc(w, n, how);
            W_CHECK(w, s->p != NULL);
            if (s->p == NULL) continue;
            W_CHECK(w, ((uintptr_t)s->p & (PM_ALIGNMENT - 1)) == 0);
            if (zeroed) {
                size_t k = 0;
                while (k < n && s->p[k] == 0) k++;
                W_CHECK(w, k == n);
            }
            /* Debug blocks carry 48 bytes of guards: the pool serves less. */
            size_t pool_max = w->pool_block_max - (pm_heap_debug_enabled(w->heap) ? 48 : 0);
            if (how == 0 && n > 0 && n <= pool_max) {
                W_CHECK(w, pm_heap_owns(w->heap, s->p));
                W_CHECK(w, pm_heap_block_size(w->heap, s->p) >= n);
            }
            s->size = n;
            s->tag = (uint8_t)(r >> 40);
            fill(s);
        } else if (kind < 70) {
            release(w, i);
        } else if (kind < 95) { /* resize, keeping the common prefix */
            size_t n = pick_size(rng);
            unsigned char *q = w_realloc(w, s->p, n, how);
            W_CHECK(w, q != NULL);
            if (q == NULL) continue;
            size_t keep = s->size < n ? s->size : n;
            s->p = q;
            W_CHECK(w, intact(w, s, keep));
            s->size = n;
            s->tag = (uint8_t)(r >> 40);
            fill(s);
        } else if (kind < 99) {
            /* Verify a few blocks in place: they must not have moved. */
            for (size_t k = 0; k < 8; k++) {
                const slot *t = &w->slots[(i + k) % NSLOTS];
                if (t->p) W_CHECK(w, intact(w, t, t->size));
            }
        } else if ((r >> 32) % 8 == 0) {
            check_heap(w);
            pm_heap_trim(w->heap);
        }
    }
    for (size_t i = 0; i < NSLOTS; i++) release(w, i);
}

static void *run_worker(void *arg) {
    worker *w = arg;
    uint64_t rng = w->seed;
    int rounds = w->source == HEAP_OWN ? w->rounds : 1;
    for (int round = 0; round < rounds; round++) {
        if (w->source == HEAP_OWN) {
            w->heap = pm_heap_new(&w->cfg);
            W_CHECK(w, w->heap != NULL);
            if (w->heap == NULL) return NULL;
        } else if (w->source == HEAP_DEFAULT) {
            w->heap = pm_heap_default();
        }
        pm_heap_stats before;
        pm_heap_get_stats(w->heap, &before);
        w->pool_block_max = before.pool_block_max;
        workload(w, &rng);
        check_heap(w);
        pm_heap_stats after;
        pm_heap_get_stats(w->heap, &after);
        /* Everything this worker allocated is back. For the default heap
         * compare with what it held before (the C runtime might use it). */
        if (!pm_heap_debug_enabled(w->heap)) { /* else the quarantine holds some */
            W_CHECK(w, after.large_blocks == before.large_blocks);
            W_CHECK(w, after.bytes_in_use == before.bytes_in_use);
        }
        if (w->source == HEAP_OWN) {
            W_CHECK(w, after.bytes_in_use == 0 && after.large_blocks == 0);
            pm_heap_destroy(w->heap);
            w->heap = NULL;
        }
    }
    return NULL;
}

static void run_group(worker *ws, int n) {
    pthread_t tids[8];
    bool started[8];
    for (int i = 0; i < n; i++) {
        if (ws[i].source == HEAP_GIVEN) {
            ws[i].heap = pm_heap_new(&ws[i].cfg);
            CHECK(ws[i].heap != NULL);
        }
        started[i] = ws[i].source != HEAP_GIVEN || ws[i].heap != NULL;
        if (started[i]) CHECK_EQ(pthread_create(&tids[i], NULL, run_worker, &ws[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        if (!started[i]) continue;
        CHECK_EQ(pthread_join(tids[i], NULL), 0);
        CHECK_EQ(ws[i].failures, 0);
        CHECK(ws[i].checked_bytes > 0);
        if (ws[i].source == HEAP_GIVEN) {
            /* Joined: the heap is the main thread's again. */
            char why[256];
            CHECK_EQ(pm_heap_check(ws[i].heap, why, sizeof why, 0), 0);
            pm_heap_destroy(ws[i].heap);
        }
    }
}

static void config(worker *w, size_t arena, size_t pool, size_t dirty, int debug) {
    pm_heap_config_init(&w->cfg);
    if (arena) w->cfg.arena_size = arena;
    if (pool) w->cfg.pool_size = pool;
    w->cfg.dirty_max = dirty;
    w->cfg.release_delay_ms = 0;
    w->cfg.debug = debug;
}

int main(int argc, char **argv) {
    /* An optional argument scales the work (ops per worker). */
    long ops = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    static worker ws[4];
    uint64_t rng = 42;
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (unsigned char)(tu_rand(&rng) >> 56);

    /* Group 1: three heaps handed over by the main thread, one of them in
     * debug mode, next to a thread on the default heap. */
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < 4; i++) {
        ws[i].id = i;
        ws[i].ops = ops;
        ws[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
    }
    ws[0].source = HEAP_GIVEN;
    config(&ws[0], 0, 0, 1u << 20, 0);
    ws[1].source = HEAP_GIVEN;
    config(&ws[1], 0, 4u << 10, 0, 0); /* 256 small pools, purged at once */
    ws[2].source = HEAP_GIVEN;
    config(&ws[2], 0, 0, 256u << 10, 1); /* debug hooks */
    ws[3].source = HEAP_DEFAULT;
    run_group(ws, 4);

    /* Group 2: every thread creates and destroys its own heaps, several
     * times, so arenas are mapped and unmapped by all threads at once. */
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < 4; i++) {
        ws[i].id = 10 + i;
        ws[i].ops = ops / 4;
        ws[i].rounds = 4;
        ws[i].source = HEAP_OWN;
        ws[i].seed = 0xD1B54A32D192ED03ull * (uint64_t)(i + 7);
    }
    config(&ws[0], 0, 0, 1u << 20, 0);
    config(&ws[1], 0, 4u << 10, 0, 0);
    config(&ws[2], 2u << 20, 256u << 10, 0, 0);
    config(&ws[3], 0, 16u << 10, 32u << 10, 0);
    run_group(ws, 4);

    return tu_finish("test_heap_threads");
}
