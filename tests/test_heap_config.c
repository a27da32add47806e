/*
 * test_heap_config.c -- owns: which heap configurations pm_heap_new accepts
 * (the limits pymm.h documents) and how it says why it refuses one.
 *
 * Every documented pool size (4 KiB .. 256 KiB) with every arena size that
 * holds at least 4 of its pools makes a working heap: blocks of every
 * class, a trim that purges free pages inside used pools (a 256 KiB pool
 * has 64 of them, the width of the purge mask), a clean pm_heap_check. A
 * refused configuration gives NULL with errno EINVAL, and
 * pm_heap_config_check names the field, its value and its limits.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static pm_heap_config config(size_t arena, size_t pool) {
    pm_heap_config c;
    pm_heap_config_init(&c);
    c.arena_size = arena;
    c.pool_size = pool;
    return c;
}

/* Fill a heap with blocks of every class, free most of them, trim. */
static void exercise(pm_heap *h) {
    enum { N = 3000 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = pm_heap_malloc(h, (size_t)(i % PM_NUM_CLASSES + 1) * PM_ALIGNMENT);
        CHECK(blocks[i] != NULL && pm_heap_owns(h, blocks[i]));
        if (blocks[i]) memset(blocks[i], 0x5a, (size_t)(i % PM_NUM_CLASSES + 1) * PM_ALIGNMENT);
    }
    for (int i = 0; i < N; i++)
        if (i % 50 != 0) pm_heap_free(h, blocks[i]);
    pm_heap_trim(h);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    for (int i = 0; i < N; i++) { /* refill through the purged pages */
        if (i % 50 != 0) blocks[i] = pm_heap_malloc(h, 64);
        CHECK(blocks[i] != NULL);
    }
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    for (int i = 0; i < N; i++) pm_heap_free(h, blocks[i]);
}

static void test_documented_sizes_work(void) {
    for (size_t pool = 4u << 10; pool <= 256u << 10; pool *= 2) {
        size_t arenas[] = {1u << 20, 4u << 20, 64u << 20};
        for (size_t k = 0; k < sizeof arenas / sizeof *arenas; k++) {
            if (arenas[k] < 4 * pool) continue;
            pm_heap_config c = config(arenas[k], pool);
            char why[160] = "unchanged";
            CHECK_EQ(pm_heap_config_check(&c, why, sizeof why), 0);
            CHECK_EQ(why[0], '\0');
            pm_heap *h = pm_heap_new(&c);
            if (h == NULL) fprintf(stderr, "refused: arena %zu, pool %zu\n", arenas[k], pool);
            CHECK(h != NULL);
            if (h) exercise(h);
            pm_heap_destroy(h);
        }
    }
    CHECK_EQ(pm_heap_config_check(NULL, NULL, 0), 0);
}

typedef struct refusal {
    size_t arena, pool;
    const char *says; /* part of the message */
} refusal;

static void test_refusals_say_why(void) {
    const refusal cases[] = {
        {1u << 20, 512u << 10, "pool_size 524288: must be a power of two from 4096 to 262144"},
        {4u << 20, 1u << 20, "pool_size 1048576"},
        {1u << 20, 2u << 10, "pool_size 2048"},
        {1u << 20, 12u << 10, "pool_size 12288"},
        {3u << 20, 16u << 10, "arena_size 3145728: must be a power of two"},
        {128u << 20, 16u << 10, "(1 MiB .. 64 MiB)"},
        {512u << 10, 4u << 10, "arena_size 524288"},
        {1u << 20, 256u << 10, NULL}, /* exactly 4 pools: fine */
        {2u << 20, 256u << 10, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pm_heap_config c = config(cases[i].arena, cases[i].pool);
        char why[160] = "";
        int rc = pm_heap_config_check(&c, why, sizeof why);
        errno = 0;
        pm_heap *h = pm_heap_new(&c);
        if (cases[i].says == NULL) {
            CHECK(rc == 0 && h != NULL);
            pm_heap_destroy(h);
            continue;
        }
        if (!tu_contains(why, cases[i].says)) fprintf(stderr, "case %zu says: %s\n", i, why);
        CHECK(rc == -1 && tu_contains(why, cases[i].says));
        CHECK(h == NULL);
        CHECK_EQ(errno, EINVAL);
    }
    /* A message that does not fit is cut, never overflows. */
    pm_heap_config c = config(1u << 20, 512u << 10);
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    CHECK_EQ(pm_heap_config_check(&c, tiny, 5), -1);
    CHECK(tiny[4] == '\0' && tiny[5] == 'x');
    CHECK_EQ(pm_heap_config_check(&c, NULL, 0), -1);
}

int main(void) {
    test_documented_sizes_work();
    test_refusals_say_why();
    return tu_finish("test_heap_config");
}
