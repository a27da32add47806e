/*
 * test_heap_hugepages.c -- transparent huge pages for large heaps
 * (PM_HEAP_NO_HUGEPAGES, PYMM_HUGEPAGES, pm_heap_stats.arenas_huge).
 *
 * What is checked, through the heap's statistics and the kernel's own view
 * (the VmFlags of /proc/self/smaps: "hg" is MADV_HUGEPAGE, "nh" is
 * MADV_NOHUGEPAGE):
 *   - a heap below 16 MiB of arenas asks for none;
 *   - every arena mapped once the heap holds 16 MiB asks for them;
 *   - PM_HEAP_NO_HUGEPAGES and PYMM_HUGEPAGES=0 ask for none;
 *   - an arena that gives pages back is asked against them;
 *   - a large block of 4 MiB or more is a mapping of the heap's own with
 *     them, grown in place or moved whole; one of 1 MiB is the C
 *     library's (unless they are turned off); a freed one is kept for the
 *     next (up to 32 MiB) and given back by trim.
 * Skipped (77) where the kernel has no transparent huge pages (madvise
 * refuses MADV_HUGEPAGE).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ASan and valgrind builds leave every large block to the C library,
 * where their tools watch it (heap.c, large_maps_itself). */
#if defined(PM_VALGRIND) || defined(__SANITIZE_ADDRESS__)
#define LARGE_BLOCKS_MAPPED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LARGE_BLOCKS_MAPPED 0
#endif
#endif
#ifndef LARGE_BLOCKS_MAPPED
#define LARGE_BLOCKS_MAPPED 1
#endif

#define MIB (1u << 20)
#define BLOCK 512
/* Blocks per MiB of pools, near enough: the heaps below grow by counting. */
#define BLOCKS_PER_MIB (MIB / BLOCK)

static bool kernel_has_thp(void) {
    size_t size = 2 * MIB;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    bool ok = madvise(p, size, MADV_HUGEPAGE) == 0;
    munmap(p, size);
    return ok;
}

/* The VmFlags of the mapping holding p has `flag` (a two-letter word). */
static bool vma_has_flag(const void *p, const char *flag) {
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f != NULL);
    if (!f) return false;
    char line[512];
    bool inside = false, found = false;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = a >= lo && a < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            char word[4];
            snprintf(word, sizeof word, "%s", flag);
            for (char *t = strtok(line + 8, " \n"); t; t = strtok(NULL, " \n"))
                found |= strcmp(t, word) == 0;
            break;
        }
    }
    fclose(f);
    return found;
}

static pm_heap *heap_with(unsigned flags) {
    pm_heap_config c = PM_HEAP_CONFIG_INIT;
    c.flags = flags;
    c.dirty_max = 0;        /* an empty pool goes back at once */
    c.release_delay_ms = 0; /* ... without waiting            */
    return pm_heap_new(&c);
}

static uint64_t huge_arenas(pm_heap *h, uint64_t *arenas) {
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    if (arenas) *arenas = s.arenas;
    return s.arenas_huge;
}

/* Fills h with `mib` MiB of blocks into v (the caller frees them). */
static size_t fill(pm_heap *h, void **v, unsigned mib) {
    size_t n = (size_t)mib * BLOCKS_PER_MIB;
    for (size_t i = 0; i < n; i++) {
        v[i] = pm_heap_malloc(h, BLOCK);
        CHECK(v[i] != NULL);
    }
    return n;
}

static void free_all(pm_heap *h, void **v, size_t n) {
    for (size_t i = 0; i < n; i++) pm_heap_free(h, v[i]);
}

static void test_small_heap_asks_none(void **v) {
    pm_heap *h = heap_with(0);
    size_t n = fill(h, v, 14);
    uint64_t arenas;
    CHECK_EQ(huge_arenas(h, &arenas), 0);
    CHECK(arenas >= 7 && arenas <= 8);
    CHECK(!vma_has_flag(v[n - 1], "hg"));
    free_all(h, v, n);
    pm_heap_destroy(h);
}

/* A heap of many pools, mostly uncarved (one block in each class, as a
 * thread's cache holds), maps more than 16 MiB of arenas with almost
 * nothing carved: it asks for no huge page, which would be resident whole. */
static void test_sparse_heap_asks_none(void) {
    pm_heap_config c = PM_HEAP_CONFIG_INIT;
    c.pool_size = 256 << 10; /* 8 pools to an arena */
    pm_heap *h = pm_heap_new(&c);
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    uint64_t nclasses = PM_NUM_CLASSES + s.medium_classes;
    void *p[PM_NUM_CLASSES + PM_MAX_MEDIUM_CLASSES];
    for (uint64_t k = 0; k < nclasses; k++) {
        size_t size = k < PM_NUM_CLASSES ? 16 * (k + 1) : s.medium[k - PM_NUM_CLASSES].block_size;
        p[k] = pm_heap_malloc(h, size);
        CHECK(p[k] != NULL);
    }
    uint64_t arenas, huge = huge_arenas(h, &arenas);
    printf("  one block in each of %" PRIu64 " classes: %" PRIu64 " arenas, %" PRIu64 " huge\n",
           nclasses, arenas, huge);
    CHECK(arenas * 2 > 16);
    CHECK_EQ(huge, 0);
    for (uint64_t k = 0; k < nclasses; k++) pm_heap_free(h, p[k]);
    pm_heap_destroy(h);
}

static void test_large_heap_asks(void **v) {
    pm_heap *h = heap_with(0);
    size_t n = fill(h, v, 20);
    uint64_t arenas, huge = huge_arenas(h, &arenas);
    printf("  20 MiB of blocks: %" PRIu64 " arenas, %" PRIu64 " with huge pages\n", arenas, huge);
    /* Every arena mapped once 16 MiB were carved: the first 8 carve a little
     * less (colours, headers, tails), so the 9th may come before too. */
    CHECK(huge + 8 <= arenas && huge + 9 >= arenas);
    CHECK(!vma_has_flag(v[0], "hg"));
    CHECK(vma_has_flag(v[n - 1], "hg"));
    CHECK_EQ(pm_heap_check(h, NULL, 0, 1), 0);

    /* Free every block of the last arena but one: its empty pools go
     * back (dirty_max 0), and with them its huge pages. */
    void *keep = v[n - 1];
    size_t i = n - 1;
    while (i > 0 && ((uintptr_t)v[i - 1] ^ (uintptr_t)keep) < 2 * MIB) pm_heap_free(h, v[--i]);
    CHECK_EQ(huge_arenas(h, NULL), huge - 1);
    CHECK(vma_has_flag(keep, "nh"));
    CHECK_EQ(pm_heap_check(h, NULL, 0, 1), 0);
    free_all(h, v, i);
    pm_heap_free(h, keep);
    CHECK_EQ(huge_arenas(h, NULL), 0);
    pm_heap_destroy(h);
}

static void test_turned_off(void **v) {
    pm_heap *h = heap_with(PM_HEAP_NO_HUGEPAGES);
    size_t n = fill(h, v, 20);
    CHECK_EQ(huge_arenas(h, NULL), 0);
    CHECK(!vma_has_flag(v[n - 1], "hg"));
    free_all(h, v, n);
    pm_heap_destroy(h);

    setenv("PYMM_HUGEPAGES", "0", 1);
    h = heap_with(0);
    unsetenv("PYMM_HUGEPAGES");
    n = fill(h, v, 20);
    CHECK_EQ(huge_arenas(h, NULL), 0);
    free_all(h, v, n);
    pm_heap_destroy(h);
}

/* A large block of 4 MiB or more is the heap's own mapping with huge
 * pages, all of it (one mapping: growing it moves no byte); one of 1 MiB
 * comes from the C library, unadvised. */
static void test_large_blocks(void) {
    if (!LARGE_BLOCKS_MAPPED) {
        printf("  large blocks: the C library's in this build (ASan, valgrind)\n");
        return;
    }
    for (int off = 0; off <= 1; off++) {
        pm_heap *h = heap_with(off ? PM_HEAP_NO_HUGEPAGES : 0);
        char *big = pm_heap_malloc(h, 8 * MIB), *small = pm_heap_malloc(h, MIB);
        CHECK(big != NULL && small != NULL);
        if (!big || !small) return;
        CHECK_EQ(vma_has_flag(big, "hg"), !off);
        CHECK_EQ(vma_has_flag(big + 8 * MIB - 1, "hg"), !off);
        CHECK(!vma_has_flag(small + MIB / 2, "hg"));
        memset(big, 0x5A, 8 * MIB);
        char *bigger = pm_heap_realloc(h, big, 24 * MIB);
        CHECK(bigger != NULL);
        if (bigger) big = bigger;
        CHECK(big[0] == 0x5A && big[8 * MIB - 1] == 0x5A);
        CHECK_EQ(vma_has_flag(big + 20 * MIB, "hg"), !off);
        CHECK_EQ(huge_arenas(h, NULL), 0);           /* large blocks are not arenas */
        char *shrunk = pm_heap_realloc(h, big, MIB); /* back to the C library */
        CHECK(shrunk != NULL);
        if (shrunk) big = shrunk;
        CHECK(big[0] == 0x5A && big[MIB - 1] == 0x5A);
        CHECK(!vma_has_flag(big + MIB / 2, "hg"));
        CHECK_EQ(pm_heap_check(h, NULL, 0, 1), 0);
        pm_heap_free(h, big);
        pm_heap_free(h, small);
        pm_heap_destroy(h);
    }
}

/* A freed mapping is kept for the next large block (no page faults for a
 * program that frees a buffer and makes the next), and trim gives it back. */
static void test_large_spare(void) {
    if (!LARGE_BLOCKS_MAPPED) return;
    pm_heap *h = heap_with(0);
    char *a = pm_heap_malloc(h, 8 * MIB);
    CHECK(a != NULL);
    if (!a) return;
    memset(a, 1, 8 * MIB);
    pm_heap_free(h, a);
    CHECK(vma_has_flag(a, "hg")); /* still mapped: the spare */
    char *b = pm_heap_malloc(h, 6 * MIB);
    CHECK(b == a); /* the spare, shrunk in place */
    CHECK(b[0] == 1);
    pm_heap_free(h, b);
    pm_heap_stats before, after;
    pm_heap_get_stats(h, &before);
    pm_heap_trim(h);
    pm_heap_get_stats(h, &after);
    CHECK(!vma_has_flag(a, "hg")); /* unmapped */
    CHECK_EQ(after.bytes_returned - before.bytes_returned, 6 * MIB);
    char *big = pm_heap_malloc(h, 40 * MIB); /* beyond PMH_LARGE_SPARE_MAX */
    CHECK(big != NULL);
    pm_heap_free(h, big);
    CHECK(!vma_has_flag(big, "hg")); /* not kept */
    pm_heap_destroy(h);
}

/* The flag is a known bit; the next one is not. */
static void test_config_flag(void) {
    pm_heap_config c = PM_HEAP_CONFIG_INIT;
    c.flags = PM_HEAP_NO_HUGEPAGES;
    CHECK_EQ(pm_heap_config_check(&c, NULL, 0), 0);
    c.flags = PM_HEAP_NO_HUGEPAGES << 1;
    CHECK(pm_heap_config_check(&c, NULL, 0) != 0);
}

int main(void) {
    if (!kernel_has_thp()) {
        printf("test_heap_hugepages: skipped: madvise(MADV_HUGEPAGE) refused (no THP)\n");
        return 77;
    }
    void **v = malloc(20 * BLOCKS_PER_MIB * sizeof *v);
    CHECK(v != NULL);
    if (!v) return 1;
    test_small_heap_asks_none(v);
    test_large_heap_asks(v);
    test_sparse_heap_asks_none();
    test_turned_off(v);
    test_large_blocks();
    test_large_spare();
    test_config_flag();
    free(v);
    return tu_finish("test_heap_hugepages");
}
