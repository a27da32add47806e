/*
 * classes.c -- the heap's size classes: which block size serves a request.
 *
 * Owns: h->class_size, h->medium_class, h->nclasses and h->block_max.
 *
 * Small classes (16, 32, ..., PM_SMALL_MAX) are arithmetic, pymalloc's:
 * class (n - 1) >> 4, computed inline by the fast paths (heap.h). Medium
 * classes carry requests above PM_SMALL_MAX, up to the heap's block_max,
 * in pools as well, so that a program whose blocks are a few KiB does not
 * pay the large-block table's lock on every call. They depend on the pool
 * size: starting from eight sizes per doubling (576, 640, ... 1024, 1152,
 * ...), each is widened to the largest multiple of 16 that leaves the same
 * number of blocks in a pool of the largest colour (heap.h, P1), so that
 * pool's tail is never big enough for one more block; sizes that widen to
 * the same block are one class. The series stops where a pool would hold
 * fewer than PMH_MEDIUM_MIN_BLOCKS blocks (the waste of a pool's tail and
 * a half-used pool would outweigh the gain) or at PMH_BLOCK_CAP. With
 * 64 KiB pools (the default): 35 medium classes, the largest 21200 bytes
 * (three blocks: a buffer of a few KiB, common in C programs, stays out of
 * the large-block table's lock); with 16 KiB pools 19, up to 5264; with
 * 4 KiB pools the largest is 1168.
 *
 * Invariants (pm_heap_check verifies each; C3 pool by pool):
 *   C1 class_size[] strictly increases and holds multiples of PM_ALIGNMENT;
 *      class c < PM_NUM_CLASSES has size 16 (c + 1); block_max is the size
 *      of class nclasses - 1.
 *   C2 for PM_SMALL_MAX < n <= block_max, medium_class[((n - 1) >> 4) -
 *      PM_NUM_CLASSES] is the smallest class whose size is at least n.
 *   C3 a pool of a medium class holds at least PMH_MEDIUM_MIN_BLOCKS blocks.
 *
 * A heap made by pm_heap_new has its classes from the start. The default
 * heap, a constant-initialized object, makes them under its lock when it
 * first takes a pool or first sees a request above PM_SMALL_MAX; until then
 * block_max reads 0. block_max is stored last, with release order, so a
 * thread that reads it non-zero without the lock also sees the tables.
 */
#include "heap/heap.h"

/* The block size that want widens to in a pool of `usable` bytes, or 0
 * when the series stops there (C3, PMH_BLOCK_CAP). */
static size_t widened(size_t usable, size_t want) {
    size_t blocks = usable / want;
    if (blocks < PMH_MEDIUM_MIN_BLOCKS) return 0;
    size_t size = usable / blocks / PM_ALIGNMENT * PM_ALIGNMENT;
    return size <= PMH_BLOCK_CAP ? size : 0;
}

static unsigned add_medium_classes(pm_heap *h, unsigned n) {
    /* Every pool must hold the blocks, whatever its colour (P1). */
    size_t usable = h->pool_size - PMH_POOL_HEADER - h->colour_mask;
    for (size_t base = PM_SMALL_MAX; base < PMH_BLOCK_CAP; base *= 2) {
        for (unsigned k = 1; k <= PMH_MEDIUM_PER_DOUBLING; k++) {
            size_t size = widened(usable, base + base / PMH_MEDIUM_PER_DOUBLING * k);
            if (size == 0) return n;
            if (size > h->class_size[n - 1]) {
                PM_ASSERT(n < PMH_MAX_CLASSES);
                h->class_size[n++] = (uint16_t)size;
            }
        }
    }
    return n;
}

static void fill_medium_lookup(pm_heap *h, size_t block_max) {
    unsigned c = PM_NUM_CLASSES;
    for (size_t i = 0; i < (block_max - PM_SMALL_MAX) / PM_ALIGNMENT; i++) {
        size_t largest_request = PM_SMALL_MAX + (i + 1) * PM_ALIGNMENT;
        while (h->class_size[c] < largest_request) c++;
        h->medium_class[i] = (uint8_t)c;
    }
}

/* Under h's lock for the default heap (pm_heap_new's heap is not shared
 * yet). Idempotent. */
void pmh_classes_init(pm_heap *h) {
    if (h->nclasses) return;
    unsigned n = 0;
    for (; n < PM_NUM_CLASSES; n++) h->class_size[n] = (uint16_t)((n + 1) * PM_ALIGNMENT);
    n = add_medium_classes(h, n);
    size_t block_max = h->class_size[n - 1];
    fill_medium_lookup(h, block_max);
    h->nclasses = n;
    atomic_store_explicit(&h->block_max, block_max, memory_order_release);
}

size_t pmh_classes_make(pm_heap *h) {
    pmh_lock(h);
    pmh_classes_init(h);
    pmh_unlock(h);
    return atomic_load_explicit(&h->block_max, memory_order_relaxed);
}
