/*
 * test_heap_stress.c -- randomized malloc/calloc/realloc/free against a shadow
 * copy of every live block.
 *
 * Each live block carries a pattern derived from its slot and generation;
 * after every operation the touched block is compared with its shadow, and
 * every so often all blocks are, the heap is checked and trimmed. Several
 * heap shapes run (small pools and arenas put the slow paths under load),
 * one of them in debug mode. PYMM_STRESS_STEPS scales the run.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

enum { SLOTS = 4096 };

/* The debug run goes through the obj domain, where the hooks sit. */
static bool through_domain;

static void *h_malloc(pm_heap *h, size_t n) {
    return through_domain ? pm_domain_malloc(h, PM_DOMAIN_OBJ, n) : pm_heap_malloc(h, n);
}
static void *h_calloc(pm_heap *h, size_t n, size_t m) {
    return through_domain ? pm_domain_calloc(h, PM_DOMAIN_OBJ, n, m) : pm_heap_calloc(h, n, m);
}
static void *h_realloc(pm_heap *h, void *p, size_t n) {
    return through_domain ? pm_domain_realloc(h, PM_DOMAIN_OBJ, p, n) : pm_heap_realloc(h, p, n);
}
static void h_free(pm_heap *h, void *p) {
    if (through_domain) pm_domain_free(h, PM_DOMAIN_OBJ, p);
    else pm_heap_free(h, p);
}

typedef struct slot {
    unsigned char *p;
    size_t n;
    unsigned char seed;
} slot;

static void paint(slot *s) {
    for (size_t i = 0; i < s->n; i++) s->p[i] = (unsigned char)(s->seed ^ (i * 31));
}

static bool intact(const slot *s, size_t upto) {
    for (size_t i = 0; i < upto && i < s->n; i++)
        if (s->p[i] != (unsigned char)(s->seed ^ (i * 31))) return false;
    return true;
}

static size_t random_size(uint64_t *rng) {
    uint64_t r = tu_rand(rng);
    switch (r % 16) {
        case 0: return (size_t)(r >> 8) % 70000; /* large now and then */
        case 1: return 0;
        default: return (size_t)(r >> 8) % 513; /* mostly small */
    }
}

static void check_all(pm_heap *h, slot *slots) {
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p && !intact(&slots[i], slots[i].n)) {
            CHECK(!"a live block changed under the user");
            break;
        }
    char why[256];
    int r = pm_heap_check(h, why, sizeof why, 0);
    if (r) fprintf(stderr, "heap check: %s\n", why);
    CHECK_EQ(r, 0);
}

static void step(pm_heap *h, slot *s, uint64_t *rng) {
    uint64_t op = tu_rand(rng) % 10;
    if (s->p == NULL) {
        s->n = random_size(rng);
        s->seed = (unsigned char)tu_rand(rng);
        s->p = op < 2 ? h_calloc(h, s->n, 1) : h_malloc(h, s->n);
        CHECK(s->p != NULL);
        if (op < 2)
            for (size_t i = 0; i < s->n; i++) CHECK(s->p[i] == 0);
        CHECK(((uintptr_t)s->p & 15) == 0);
        paint(s);
    } else if (op < 3) {
        size_t n = random_size(rng);
        unsigned char *q = h_realloc(h, s->p, n);
        CHECK(q != NULL);
        s->p = q;
        size_t keep = n < s->n ? n : s->n;
        CHECK(intact(s, keep));
        s->n = n;
        paint(s);
    } else {
        CHECK(intact(s, s->n));
        h_free(h, s->p);
        s->p = NULL;
    }
}

static int count_live(void *arg, void *block, size_t size, int is_large) {
    (void)block, (void)size, (void)is_large;
    ++*(int *)arg;
    return 0;
}

static void run(const char *name, pm_heap *h, long steps, uint64_t seed) {
    slot *slots = calloc(SLOTS, sizeof *slots);
    uint64_t rng = seed;
    for (long k = 0; k < steps && tu_failures == 0; k++) {
        /* Bursts make pools fill and drain completely now and then. */
        long phase = (k / 50000) % 3;
        slot *s = &slots[tu_rand(&rng) % (phase == 2 ? 64 : SLOTS)];
        step(h, s, &rng);
        if (k % 100000 == 0) check_all(h, slots);
        if (k % 250000 == 0) pm_heap_trim(h);
    }
    check_all(h, slots);
    pm_heap_trim(h);
    check_all(h, slots);
    for (int i = 0; i < SLOTS; i++) h_free(h, slots[i].p);
    if (through_domain) {
        /* Freed blocks wait in the quarantine: count what the walk sees. */
        int live = 0;
        pm_heap_walk(h, count_live, &live);
        CHECK_EQ(live, 0);
    } else {
        pm_heap_stats st;
        pm_heap_get_stats(h, &st);
        CHECK_EQ(st.pools_used, 0);
        CHECK_EQ(st.large_blocks, 0);
    }
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    free(slots);
    printf("  %s: %ld steps\n", name, steps);
}

int main(void) {
    const char *env = getenv("PYMM_STRESS_STEPS");
    long steps = env ? atol(env) : 1000000;
    pm_heap_config c;

    pm_heap *h = pm_heap_new(NULL);
    run("default heap shape", h, steps, 1);
    pm_heap_destroy(h);

    pm_heap_config_init(&c);
    c.arena_size = 1 << 20;
    c.pool_size = 4 << 10;
    c.dirty_max = 0;
    c.release_delay_ms = 0;
    h = pm_heap_new(&c);
    run("1 MiB arenas, 4 KiB pools, no dirty pools", h, steps, 2);
    pm_heap_destroy(h);

    pm_heap_config_init(&c);
    c.arena_size = 4 << 20;
    c.pool_size = 256 << 10;
    h = pm_heap_new(&c);
    run("4 MiB arenas, 256 KiB pools", h, steps / 2, 3);
    pm_heap_destroy(h);

    pm_heap_config_init(&c);
    c.debug = 1;
    h = pm_heap_new(&c);
    through_domain = true;
    run("debug mode", h, steps / 4, 4);
    pm_heap_destroy(h);
    return tu_finish("test_heap_stress");
}
