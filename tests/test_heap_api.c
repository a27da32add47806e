/*
 * test_heap_api.c -- the heap's public API, call by call: configuration, size
 * classes, alignment, ownership, calloc, realloc, large and foreign
 * pointers, arena reuse and release, empty-pool decommit with hysteresis,
 * trim down to pages, walk, and destroy.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdbool.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bytes at the start of each pool taken by its header (src/heap/heap.h). */
#define POOL_HEADER 128
/* The largest colour of a pool of this size (src/heap/heap.h, P1): its
 * header sits up to that many bytes into its slot, and every pool must
 * hold a medium class's blocks whatever its colour. */
static size_t colour_max(size_t pool) {
    return pool >= 256 << 10   ? 0xC00
           : pool >= 128 << 10 ? 0xE00
           : pool >= 64 << 10  ? 0x700
           : pool >= 32 << 10  ? 0x380
                               : 0x1C0;
}

/* The blocks of `size` bytes a pool of pool_size bytes holds, its slot
 * holding `block`: its colour is three bits of the slot's number (P1). */
static size_t pool_capacity(const void *block, size_t pool_size, size_t size) {
    size_t colour = ((uintptr_t)block >> 8) & colour_max(pool_size);
    return (pool_size - POOL_HEADER - colour) / size;
}

/* Whether blocks a and b lie in one slot of pool_size bytes. */
static bool same_pool(const void *a, const void *b, size_t pool_size) {
    return ((uintptr_t)a ^ (uintptr_t)b) < pool_size;
}

static pm_heap *new_heap(size_t arena, size_t pool, size_t dirty_max) {
    pm_heap_config c;
    pm_heap_config_init(&c);
    if (arena) c.arena_size = arena;
    if (pool) c.pool_size = pool;
    c.dirty_max = dirty_max;
    c.release_delay_ms = 0; /* these tests follow the budget step by step */
    return pm_heap_new(&c);
}

/* The medium classes of every pool size: increasing multiples of 16 (C1),
 * at least three blocks to a pool (C3), each as wide as its count of blocks
 * allows, the largest at most 32 KiB; and a block of each is used whole. */
static void test_medium_classes(void) {
    for (size_t pool = 4 << 10; pool <= 256 << 10; pool *= 2) {
        pm_heap *h = new_heap(pool * 8 > (1 << 20) ? pool * 8 : 1 << 20, pool, 0);
        CHECK(h != NULL);
        pm_heap_stats s;
        pm_heap_get_stats(h, &s);
        size_t usable = pool - POOL_HEADER - colour_max(pool), prev = PM_SMALL_MAX;
        CHECK(s.medium_classes > 0);
        for (uint64_t k = 0; k < s.medium_classes; k++) {
            size_t size = s.medium[k].block_size, blocks = usable / size;
            CHECK(size > prev && size % 16 == 0);
            CHECK(blocks >= 3 && usable / blocks / 16 * 16 == size);
            void *p = pm_heap_malloc(h, size);
            CHECK(p != NULL && pm_heap_owns(h, p) && pm_heap_block_size(h, p) == size);
            memset(p, 0x5a, size);
            pm_heap_free(h, p);
            prev = size;
        }
        CHECK(s.pool_block_max == prev && prev <= 32 << 10);
        if (pool == 16 << 10) CHECK_EQ(s.pool_block_max, 5264);
        if (pool == 64 << 10) CHECK_EQ(s.pool_block_max, 21200);
        CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
        pm_heap_destroy(h);
    }
}

static void test_config(void) {
    pm_heap_config c;
    pm_heap_config_init(&c);
    CHECK_EQ(c.arena_size, 2 << 20);
    CHECK_EQ(c.pool_size, 64 << 10);
    pm_heap *h = pm_heap_new(NULL);
    CHECK(h != NULL);
    pm_heap_destroy(h);
    CHECK(new_heap(3 << 20, 0, 0) == NULL);         /* not a power of two */
    CHECK(new_heap(1 << 20, 1 << 10, 0) == NULL);   /* pool below 4 KiB */
    CHECK(new_heap(1 << 20, 512 << 10, 0) == NULL); /* arena < 4 pools, pool > max */
    CHECK(new_heap(128 << 20, 0, 0) == NULL);       /* arena above 64 MiB */
    CHECK(new_heap(512 << 10, 4 << 10, 0) == NULL); /* arena below 1 MiB */
    h = new_heap(1 << 20, 4 << 10, 0);
    CHECK(h != NULL);
    void *p = pm_heap_malloc(h, 100);
    CHECK(pm_heap_owns(h, p));
    pm_heap_free(h, p);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    pm_heap_destroy(h);
    pm_heap_destroy(NULL);
    pm_heap_destroy(pm_heap_default()); /* ignored */
    p = pm_obj_malloc(10);
    CHECK(pm_heap_owns(pm_heap_default(), p));
    pm_obj_free(p);
}

/* The block size pm_heap_stats says serves n bytes, or n for a large block. */
static size_t class_size_for(const pm_heap_stats *s, size_t n) {
    if (n <= PM_SMALL_MAX) return n == 0 ? 16 : (n + 15) / 16 * 16;
    for (uint64_t k = 0; k < s->medium_classes; k++)
        if (s->medium[k].block_size >= n) return s->medium[k].block_size;
    return n;
}

static void test_classes_and_alignment(pm_heap *h) {
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    CHECK(s.medium_classes > 0 && s.medium_classes <= PM_MAX_MEDIUM_CLASSES);
    CHECK_EQ(s.pool_block_max, s.medium[s.medium_classes - 1].block_size);
    for (size_t n = 0; n <= s.pool_block_max + 100; n++) {
        unsigned char *p = pm_heap_malloc(h, n);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p & 15) == 0);
        CHECK_EQ(pm_heap_block_size(h, p), class_size_for(&s, n));
        CHECK_EQ(pm_heap_good_size(h, n), pm_heap_block_size(h, p));
        CHECK_EQ(pm_heap_owns(h, p), n <= s.pool_block_max);
        memset(p, 0xAB, n);
        pm_heap_free(h, p);
    }
    /* Two blocks of a class are distinct and do not overlap. */
    char *a = pm_heap_malloc(h, 48), *b = pm_heap_malloc(h, 48);
    CHECK(a != b && (a + 48 <= b || b + 48 <= a));
    /* LIFO: a block just freed is the next one given. */
    pm_heap_free(h, a);
    CHECK(pm_heap_malloc(h, 40) == a);
    pm_heap_free(h, a);
    pm_heap_free(h, b);
    int local;
    CHECK(!pm_heap_owns(h, &local));
    CHECK(!pm_heap_owns(h, NULL));
    CHECK(!pm_heap_owns(h, (void *)~(uintptr_t)0));
    CHECK_EQ(pm_heap_block_size(h, &local), 0);
    CHECK_EQ(pm_heap_good_size(h, (size_t)1 << 30), (size_t)1 << 30); /* large: as asked */
}

static void test_calloc(pm_heap *h) {
    for (size_t n = 1; n < 2000; n += 37) {
        unsigned char *p = pm_heap_malloc(h, n);
        memset(p, 0xFF, n);
        pm_heap_free(h, p);
        unsigned char *q = pm_heap_calloc(h, n, 1);
        size_t nonzero = 0;
        for (size_t i = 0; i < n; i++) nonzero += q[i] != 0;
        CHECK_EQ(nonzero, 0);
        pm_heap_free(h, q);
    }
    volatile size_t half = SIZE_MAX / 2; /* the overflow is the point: hidden from alloc_size */
    CHECK(pm_heap_calloc(h, half, 3) == NULL);
    void *z = pm_heap_calloc(h, 0, 8);
    CHECK(z != NULL);
    pm_heap_free(h, z);
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 7);
}

static bool same(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7)) return false;
    return true;
}

static void test_realloc(pm_heap *h) {
    unsigned char *p = pm_heap_realloc(h, NULL, 20);
    CHECK(p && pm_heap_owns(h, p));
    fill(p, 20, 1);
    CHECK(pm_heap_realloc(h, p, 30) == p);       /* same class: in place */
    CHECK(pm_heap_realloc(h, p, 17) == p);       /* still more than half */
    unsigned char *q = pm_heap_realloc(h, p, 8); /* class 16 halves it: moves */
    CHECK(q != p && same(q, 8, 1));
    p = pm_heap_realloc(h, q, 400); /* grows into another class */
    CHECK(same(p, 8, 1));
    fill(p, 400, 2);
    q = pm_heap_realloc(h, p, 1000); /* small -> medium */
    CHECK(q && pm_heap_owns(h, q) && same(q, 400, 2) && pm_heap_block_size(h, q) >= 1000);
    p = pm_heap_realloc(h, q, 990); /* the same medium class: in place */
    CHECK(p == q && same(p, 400, 2));
    fill(p, 990, 2);
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    const size_t large = (size_t)s.pool_block_max + 1000;
    q = pm_heap_realloc(h, p, large); /* medium -> large */
    CHECK(q && !pm_heap_owns(h, q) && same(q, 990, 2));
    CHECK_EQ(pm_heap_block_size(h, q), large);
    fill(q, large, 3);
    p = pm_heap_realloc(h, q, 90000); /* large -> large */
    CHECK(same(p, large, 3));
    CHECK_EQ(pm_heap_block_size(h, p), 90000);
    q = pm_heap_realloc(h, p, 3000); /* large -> medium */
    CHECK(q && pm_heap_owns(h, q) && same(q, 3000, 3));
    p = q;
    q = pm_heap_realloc(h, p, 100); /* medium -> small */
    CHECK(pm_heap_owns(h, q) && same(q, 100, 3));
    p = pm_heap_realloc(h, q, 0); /* zero keeps a valid block */
    CHECK(p != NULL);
    pm_heap_free(h, p);
    /* A foreign pointer goes to the raw domain, which is the C library's. */
    char *m = malloc(64);
    strcpy(m, "foreign");
    m = pm_heap_realloc(h, m, 128);
    CHECK(m && strcmp(m, "foreign") == 0);
    pm_heap_free(h, m);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
}

static void test_large_and_foreign(pm_heap *h) {
    pm_heap_stats s;
    void *big[100];
    pm_heap_get_stats(h, &s);
    for (int i = 0; i < 100; i++)
        big[i] = pm_heap_malloc(h, (size_t)s.pool_block_max + 1 + (size_t)i * 1000);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.large_blocks, 100);
    for (int i = 0; i < 100; i += 2) pm_heap_free(h, big[i]);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.large_blocks, 50);
    for (int i = 1; i < 100; i += 2) pm_heap_free(h, big[i]);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.large_blocks, 0);
    CHECK_EQ(s.large_bytes, 0);
    pm_heap_free(h, malloc(10)); /* foreign: passed to free(), no crash */
    pm_heap_free(h, NULL);
}

static void test_arenas(void) {
    /* 1 MiB arenas of 4 KiB pools: many pools, many arenas. */
    pm_heap *h = new_heap(1 << 20, 4 << 10, 0);
    enum { N = 60000 };
    void **p = malloc(N * sizeof *p);
    for (int i = 0; i < N; i++) p[i] = pm_heap_malloc(h, 64);
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    uint64_t arenas = s.arenas;
    CHECK(arenas >= (uint64_t)N * 64 / (1 << 20));
    CHECK_EQ(s.classes[3].blocks_used, N);
    CHECK_EQ(s.bytes_in_use, (uint64_t)N * 64);
    for (int i = 0; i < N; i++) pm_heap_free(h, p[i]);
    pm_heap_get_stats(h, &s);
    /* dirty_max 0: every empty pool was decommitted, every arena was
     * unmapped but one spare and the one holding the class's parked pool. */
    CHECK_EQ(s.arenas, 2);
    CHECK_EQ(s.arenas_reclaimed, arenas - 2);
    CHECK_EQ(s.pools_used, 0);
    CHECK_EQ(s.pools_empty, 0);
    CHECK(s.bytes_returned > 0);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    /* The parked pool and the spare are reused. */
    for (int i = 0; i < 100; i++) p[i] = pm_heap_malloc(h, 64);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.arenas, 2);
    for (int i = 0; i < 100; i++) pm_heap_free(h, p[i]);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    pm_heap_trim(h);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.arenas, 0);
    pm_heap_destroy(h);
    free(p);
}

static void test_fill_busiest_arena(void) {
    /* Allocation comes from the fullest usable arena: after draining one
     * arena a little and another a lot, new pools come from the fuller. */
    pm_heap *h = new_heap(1 << 20, 4 << 10, 1 << 20);
    /* Three arenas' pools filled; a pool holds 7 or 6 blocks of 512 bytes
     * by its colour (P1): start[k] is where pool k's blocks start in p[]. */
    enum { PER_POOL = (4096 - POOL_HEADER) / 512, PPA = 256, POOLS = PPA * 3 };
    void **p = malloc(POOLS * PER_POOL * sizeof *p);
    int *start = malloc((POOLS + 1) * sizeof *start), n = 0;
    for (int k = 0; k < POOLS; k++) {
        start[k] = n;
        p[n++] = pm_heap_malloc(h, 512);
        for (size_t left = pool_capacity(p[n - 1], 4096, 512) - 1; left > 0; left--)
            p[n++] = pm_heap_malloc(h, 512);
    }
    start[POOLS] = n;
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.arenas, 3);
    /* Empty 4 pools of the second arena and 12 of the third (allocation
     * order is address order within an arena, arenas in turn). */
    for (int i = start[PPA + 16]; i < start[PPA + 20]; i++) pm_heap_free(h, p[i]);
    for (int i = start[2 * PPA + 36]; i < start[2 * PPA + 48]; i++) pm_heap_free(h, p[i]);
    /* The last pool emptied stays parked on the class's list and serves
     * first; after it, new pools come from the fuller second arena. */
    void *fresh[2 * PER_POOL];
    int parked = start[2 * PPA + 48] - start[2 * PPA + 47];
    for (int i = 0; i < 2 * PER_POOL; i++) fresh[i] = pm_heap_malloc(h, 512);
    uintptr_t arena_mask = ~(uintptr_t)((1 << 20) - 1);
    uintptr_t second = (uintptr_t)p[start[PPA + 16]] & arena_mask;
    uintptr_t third = (uintptr_t)p[start[2 * PPA + 36]] & arena_mask;
    for (int i = 0; i < parked; i++) CHECK(((uintptr_t)fresh[i] & arena_mask) == third);
    for (int i = parked; i < 2 * PER_POOL; i++) CHECK(((uintptr_t)fresh[i] & arena_mask) == second);
    for (int i = 0; i < 2 * PER_POOL; i++) pm_heap_free(h, fresh[i]);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    free(p);
    free(start);
    pm_heap_destroy(h);
}

static void test_hysteresis(void) {
    /* dirty_max 256 KiB of 16 KiB pools: up to 16 empty pools stay
     * committed; the 17th triggers a purge down to 8. The first pool to
     * empty stays parked on its class's list. */
    pm_heap *h = new_heap(0, 16 << 10, 256 << 10);
    /* 40 pools filled whole, so none is listed: a pool holds 63 or 62
     * blocks of 256 bytes by its colour (P1); start[k] is where pool k's
     * blocks start in p[]. */
    enum { PER_POOL = (16384 - POOL_HEADER) / 256 };
    void *p[40 * PER_POOL];
    int start[41], n = 0;
    for (int k = 0; k < 40; k++) {
        start[k] = n;
        p[n++] = pm_heap_malloc(h, 256);
        for (size_t left = pool_capacity(p[n - 1], 16384, 256) - 1; left > 0; left--)
            p[n++] = pm_heap_malloc(h, 256);
    }
    start[40] = n;
    pm_heap_stats s;
    for (int i = 0; i < start[17]; i++) pm_heap_free(h, p[i]);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.pools_empty, 16);
    CHECK_EQ(s.pools_decommitted, 0);
    for (int i = start[17]; i < start[18]; i++) pm_heap_free(h, p[i]);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.pools_empty, 8);
    CHECK_EQ(s.pools_decommitted, 9);
    size_t back = pm_heap_trim(h);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.pools_empty, 0);
    CHECK_EQ(s.pools_decommitted, 18); /* the parked pool too */
    CHECK(back >= 9 * 16384);
    for (int i = start[18]; i < n; i++) pm_heap_free(h, p[i]);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    pm_heap_destroy(h);
}

static void test_trim_pages(void) {
    /* 16-byte blocks, one live block per pool at the start: trim gives back
     * the three other pages of each pool; the pool then refills them. */
    pm_heap *h = new_heap(0, 16 << 10, 1 << 20);
    /* POOLS pools filled whole (their counts of blocks differ by colour). */
    enum { PER_POOL = (16384 - POOL_HEADER) / 16, POOLS = 32 };
    void **p = malloc((POOLS + 1) * PER_POOL * sizeof *p);
    bool *first = calloc((POOLS + 1) * PER_POOL, sizeof *first);
    int n = 0;
    for (int pools = 0;; n++) {
        p[n] = pm_heap_malloc(h, 16);
        first[n] = n == 0 || !same_pool(p[n], p[n - 1], 16384);
        if (first[n] && ++pools > POOLS) break;
    }
    pm_heap_free(h, p[n]); /* the first block of one pool too many */
    for (int i = 0; i < n; i++)
        if (!first[i]) pm_heap_free(h, p[i]);
    size_t back = pm_heap_trim(h);
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.pages_decommitted, POOLS * 3);
    CHECK(back >= (size_t)POOLS * 3 * 4096);
    CHECK_EQ(s.classes[0].blocks_used, POOLS);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    /* Refill everything: blocks come back from the purged pages. */
    for (int i = 0; i < n; i++)
        if (!first[i]) p[i] = pm_heap_malloc(h, 16);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.pages_decommitted, 0);
    CHECK_EQ(s.pools_used, POOLS);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    for (int i = 0; i < n; i++) {
        memset(p[i], i & 0xFF, 16);
    }
    for (int i = 0; i < n; i++) pm_heap_free(h, p[i]);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    free(p);
    free(first);
    pm_heap_destroy(h);
}

typedef struct walk_count {
    size_t small, large, bytes;
} walk_count;

static int count_block(void *arg, void *block, size_t size, int is_large) {
    walk_count *w = arg;
    (void)block;
    if (is_large) w->large++;
    else w->small++;
    w->bytes += size;
    return 0;
}

static int stop_at_third(void *arg, void *block, size_t size, int is_large) {
    (void)block, (void)size, (void)is_large;
    return ++*(int *)arg == 3 ? 7 : 0;
}

static void test_walk(void) {
    pm_heap *h = pm_heap_new(NULL);
    void *p[1000];
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    size_t max = (size_t)s.pool_block_max;
    for (int i = 0; i < 1000; i++) p[i] = pm_heap_malloc(h, (size_t)(i % 600) * 12 + 1);
    for (int i = 0; i < 1000; i += 3) pm_heap_free(h, p[i]);
    walk_count w = {0};
    CHECK_EQ(pm_heap_walk(h, count_block, &w), 0);
    size_t small = 0, large = 0;
    for (int i = 0; i < 1000; i++)
        if (i % 3) {
            if ((size_t)(i % 600) * 12 + 1 <= max) small++;
            else large++;
        }
    CHECK_EQ(w.small, small);
    CHECK_EQ(w.large, large);
    int n = 0;
    CHECK_EQ(pm_heap_walk(h, stop_at_third, &n), 7);
    pm_heap_destroy(h);
}

/* A full pool that gets a block back is listed behind its class's first
 * pool: the next malloc comes from the first, not from the block just
 * freed (listed first, the pool would be drained and unlisted again at
 * once). With the first pool parked (empty), the pool back from full
 * takes its place. */
static void test_full_pool_listed_behind(void) {
    enum { SIZE = 1024, POOL = 16 << 10, MAX = POOL / SIZE };
    pm_heap *h = new_heap(0, POOL, 8 << 20);
    void *a[MAX];
    size_t n = 0;
    a[n++] = pm_heap_malloc(h, SIZE);
    while (n < pool_capacity(a[0], POOL, SIZE)) a[n++] = pm_heap_malloc(h, SIZE);
    void *b = pm_heap_malloc(h, SIZE); /* the first pool is full: a second */
    CHECK(b != NULL && !same_pool(b, a[0], POOL));
    pm_heap_free(h, a[3]);
    void *c = pm_heap_malloc(h, SIZE);
    CHECK(c != a[3] && same_pool(c, b, POOL));
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    /* The second pool emptied goes (the first is listed behind it); the
     * first, full again, leaves the list; a third pool, emptied, stays
     * parked as its class's sole pool. */
    pm_heap_free(h, c);
    pm_heap_free(h, b);
    CHECK(pm_heap_malloc(h, SIZE) == a[3]);
    void *d = pm_heap_malloc(h, SIZE);
    CHECK(d != NULL && !same_pool(d, a[0], POOL));
    pm_heap_free(h, d);
    pm_heap_stats st;
    pm_heap_get_stats(h, &st);
    CHECK_EQ(st.pools_used, 1);
    CHECK_EQ(st.pools_empty, 0); /* parked: still listed */
    pm_heap_free(h, a[5]);       /* back from full beside the parked pool, which goes */
    CHECK(pm_heap_malloc(h, SIZE) == a[5]);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    for (size_t i = 0; i < n; i++) pm_heap_free(h, a[i]);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    pm_heap_destroy(h);
}

/* A parked pool (a class's sole pool, kept listed while empty) must not
 * stay beside a pool that rejoins the list after being full. */
static void test_parked_pool_relist(void) {
    pm_heap *h = new_heap(0, 16 << 10, 8 << 20);
    enum { PER_POOL = (16384 - POOL_HEADER) / 16 };
    void *a[PER_POOL + 1];
    for (int i = 0; i <= PER_POOL; i++) a[i] = pm_heap_malloc(h, 16);
    pm_heap_free(h, a[PER_POOL]); /* second pool empties: parked */
    pm_heap_free(h, a[0]);        /* first pool was full: relisted */
    char why[256] = "";
    CHECK_EQ(pm_heap_check(h, why, sizeof why, 0), 0);
    if (why[0]) fprintf(stderr, "%s\n", why);
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.pools_empty, 1);
    for (int i = 1; i < PER_POOL; i++) pm_heap_free(h, a[i]);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    pm_heap_destroy(h);
}

static void test_destroy_releases(void) {
    long before = tu_rss_kb();
    for (int round = 0; round < 5; round++) {
        pm_heap *h = pm_heap_new(NULL);
        for (int i = 0; i < 200000; i++) CHECK(pm_heap_malloc(h, (size_t)(i % 512) + 1) != NULL);
        for (int i = 0; i < 200; i++) CHECK(pm_heap_malloc(h, 100000) != NULL);
        pm_heap_destroy(h);
    }
    long after = tu_rss_kb();
    /* Each round held ~70 MiB; nothing of it may stay. (Not under ASan,
     * whose quarantine keeps the freed large blocks resident.) */
#if defined(__SANITIZE_ADDRESS__)
    (void)before, (void)after;
#else
    CHECK(after - before < 20000);
#endif
}

/* Empty memory beyond the budget waits release_delay_ms before it goes
 * back to the OS: freed and rebuilt at once, a structure reuses its
 * arenas; left empty past the delay, they go at the next slow path. Two
 * heaps, so that no check depends on how fast the machine is: one whose
 * delay never ends during the test, one whose delay is long over. */
static pm_heap *delay_heap(unsigned ms) {
    pm_heap_config c;
    pm_heap_config_init(&c);
    c.arena_size = 1 << 20; /* DELAY_N blocks fill several arenas */
    c.dirty_max = 0;
    c.release_delay_ms = ms;
    return pm_heap_new(&c);
}

enum { DELAY_N = 60000 };

static void fill_and_empty(pm_heap *h, void **p) {
    for (int i = 0; i < DELAY_N; i++) p[i] = pm_heap_malloc(h, 64);
    for (int i = 0; i < DELAY_N; i++) pm_heap_free(h, p[i]);
}

static void test_release_delay(void) {
    pm_heap_config c;
    pm_heap_config_init(&c);
    CHECK_EQ(c.release_delay_ms, 1000);
    void **p = malloc(DELAY_N * sizeof *p);
    pm_heap_stats s;

    pm_heap *h = delay_heap(600000); /* ten minutes: kept throughout */
    fill_and_empty(h, p);
    pm_heap_get_stats(h, &s);
    uint64_t arenas = s.arenas, allocated = s.arenas_allocated;
    CHECK(arenas >= 4);
    CHECK_EQ(s.arenas_reclaimed, 0);
    fill_and_empty(h, p);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.arenas_allocated, allocated); /* rebuilt in the same arenas */
    CHECK_EQ(s.arenas, arenas);
    pm_heap_trim(h); /* at once, whatever the delay */
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.arenas, 0);
    pm_heap_destroy(h);

    h = delay_heap(20); /* (a slow run may release some while it frees) */
    fill_and_empty(h, p);
    struct timespec nap = {0, 100 * 1000000L};
    nanosleep(&nap, NULL);
    void *q = pm_heap_malloc(h, 256); /* a slow path: a pool taken */
    pm_heap_get_stats(h, &s);
    CHECK(s.arenas_allocated >= 4);
    CHECK(s.arenas <= 3);
    CHECK_EQ(s.arenas_reclaimed + s.arenas, s.arenas_allocated);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    pm_heap_free(h, q);
    pm_heap_destroy(h);
    free(p);
}

int main(void) {
    test_config();
    test_medium_classes();
    pm_heap *h = pm_heap_new(NULL);
    test_classes_and_alignment(h);
    test_calloc(h);
    test_realloc(h);
    test_large_and_foreign(h);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    pm_heap_destroy(h);
    test_arenas();
    test_fill_busiest_arena();
    test_hysteresis();
    test_trim_pages();
    test_walk();
    test_parked_pool_relist();
    test_full_pool_listed_behind();
    test_destroy_releases();
    test_release_delay();
    return tu_finish("test_heap_api");
}
