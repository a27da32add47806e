/*
 * trim.c -- giving memory back to the OS, down to single pages.
 *
 * Owns: pm_heap_trim and the purged pages of pools still in use.
 *
 * CPython returns only whole empty arenas. pymm also decommits empty pools
 * (heap.c, with hysteresis) and, on trim, the 4 KiB pages of a used pool
 * that no live block overlaps. Such a page is marked in pool->purged, and
 * the rule that keeps the free list sound is:
 *
 *   a free block whose first byte lies in a purged page is off the free
 *   list (its link would read as zero once the page is gone); every other
 *   free block is on it.
 *
 * Only pages lying wholly inside the carved part of the pool are purged, so
 * carving never lands in a purged page. When the list runs dry, the refill
 * path brings back one purged page by threading the blocks that start in
 * it (all free, by the rule): the page faults back in as zeros.
 */
#define _DEFAULT_SOURCE
#include "heap/heap.h"
#include "heap/os.h"

#include <string.h>

/* Pages are counted from the pool's slot, whose first page holds the
 * header (P1: colour + header < PMH_COLOUR_SPAN == PMOS_PAGE_SIZE). */
_Static_assert(PMH_COLOUR_SPAN == PMOS_PAGE_SIZE, "a header's slot is its page's");
static size_t page_of(const pmh_pool *pool, uintptr_t addr) {
    return (addr - pmh_pool_slot(pool)) / PMOS_PAGE_SIZE;
}

/* Where page p of the pool's slot starts, counted from block 0. */
static size_t page_start(const pmh_pool *pool, size_t p) {
    return p * PMOS_PAGE_SIZE - pmh_pool_colour(pool) - PMH_POOL_HEADER;
}

static size_t carved_blocks(const pmh_pool *pool) {
    return (pool->nextoffset - PMH_POOL_HEADER) / pool->size;
}

static char *block_at(const pmh_pool *pool, size_t i) {
    return (char *)pool + PMH_POOL_HEADER + i * pool->size;
}

size_t pmh_pool_free_map(const pm_heap *h, const pmh_pool *pool, uint8_t *is_free,
                         const char **why) {
    size_t size = pool->size, n = carved_blocks(pool);
    size_t nfree = 0;
    (void)h;
    memset(is_free, 0, n);
    for (pmh_block *b = pool->freeblock; b; b = blk_next(b)) {
        uintptr_t off = (uintptr_t)b - (uintptr_t)pool;
        if ((uintptr_t)b < (uintptr_t)pool || off < PMH_POOL_HEADER || off >= pool->nextoffset ||
            (off - PMH_POOL_HEADER) % size) {
            *why = "free list points outside the pool's carved blocks";
            return SIZE_MAX;
        }
        size_t i = (off - PMH_POOL_HEADER) / size;
        if (is_free[i]) {
            *why = "free list holds a block twice (a cycle or a double free)";
            return SIZE_MAX;
        }
        if (pool->purged >> page_of(pool, (uintptr_t)b) & 1) {
            *why = "free list holds a block of a purged page";
            return SIZE_MAX;
        }
        is_free[i] = 1;
        if (++nfree > n) break;
    }
    for (size_t i = 0; i < n; i++)
        if (pool->purged >> page_of(pool, (uintptr_t)block_at(pool, i)) & 1) is_free[i] = 1;
    return n;
}

/* Thread the free blocks that start outside purged pages, in address order
 * (allocation then walks memory forwards). */
static void rebuild_free_list(pmh_pool *pool, const uint8_t *is_free, size_t n) {
    pmh_block *head = NULL;
    for (size_t i = n; i-- > 0;) {
        char *b = block_at(pool, i);
        if (!is_free[i] || (pool->purged >> page_of(pool, (uintptr_t)b) & 1)) continue;
        blk_set_next((pmh_block *)b, head);
        head = (pmh_block *)b;
    }
    pool->freeblock = head;
}

/* True when no live block overlaps page p of the pool. */
static bool page_is_free(const pmh_pool *pool, size_t p, const uint8_t *is_free, size_t n) {
    size_t size = pool->size;
    size_t start = page_start(pool, p);
    size_t end = start + PMOS_PAGE_SIZE; /* exclusive, relative to block 0 */
    for (size_t i = start / size; i < n && i * size < end; i++)
        if (!is_free[i]) return false;
    return true;
}

/* Purge the free pages of one used pool. Returns bytes given back. Only
 * pools of blocks no bigger than a page: then every page inside the carved
 * part holds the start of a block, which is what the rule above and the
 * refill's unpurge rely on. The medium classes above 4 KiB (4240 to 21200
 * bytes with 64 KiB pools; fewer with smaller pools) are left whole. */
static size_t trim_pool_pages(pm_heap *h, pmh_pool *pool) {
    if (pool->size > PMOS_PAGE_SIZE) return 0;
    uint8_t is_free[PMH_MAX_BLOCKS];
    const char *why;
    size_t n = pmh_pool_free_map(h, pool, is_free, &why);
    if (n == SIZE_MAX) return 0; /* pm_heap_check reports corruption */
    size_t npages_carved = (pmh_pool_colour(pool) + pool->nextoffset) / PMOS_PAGE_SIZE;
    uint64_t newly = 0;
    for (size_t p = 1; p < npages_carved; p++)
        if (!(pool->purged >> p & 1) && page_is_free(pool, p, is_free, n)) newly |= 1ull << p;
    if (newly == 0) return 0;
    pool->purged |= newly;
    rebuild_free_list(pool, is_free, n);
    if (pool->freeblock == NULL) {
        /* Every free block sat in the new pages: keep the last one, so the
         * pool still has a listed free block (invariant I1). */
        uint64_t keep = 1ull << (63 - __builtin_clzll(newly));
        newly &= ~keep;
        pool->purged &= ~keep;
        rebuild_free_list(pool, is_free, n);
    }
    size_t given = 0;
    if (newly) pmh_arena_drop_huge(h, pool->arena);
    for (size_t p = 1; p < npages_carved; p++) {
        if (!(newly >> p & 1)) continue;
        char *page = (char *)pmh_pool_slot(pool) + p * PMOS_PAGE_SIZE;
        pm_unpoison(page, PMOS_PAGE_SIZE);
        pmos_decommit(page, PMOS_PAGE_SIZE);
        pm_poison(page, PMOS_PAGE_SIZE);
        pm_vg_noaccess(page, PMOS_PAGE_SIZE);
        given += PMOS_PAGE_SIZE;
    }
    h->pages_decommitted += (uint64_t)__builtin_popcountll(newly);
    h->bytes_returned += given;
    return given;
}

bool pmh_pool_unpurge_page(pm_heap *h, pmh_pool *pool) {
    size_t p = (size_t)__builtin_ctzll(pool->purged);
    pool->purged &= pool->purged - 1;
    h->pages_decommitted--;
    size_t size = pool->size, n = carved_blocks(pool);
    size_t start = page_start(pool, p);
    size_t first = (start + size - 1) / size;
    pmh_block *head = pool->freeblock;
    for (size_t i = n; i-- > first;) {
        if (i * size >= start + PMOS_PAGE_SIZE) continue;
        pmh_block *b = (pmh_block *)block_at(pool, i);
        blk_set_next(b, head);
        head = b;
    }
    pool->freeblock = head;
    return head != NULL;
}

/* The caches trim may work on: every cache of a private heap (its main
 * and its runtimes': its caller serializes every use of it); of a
 * thread-safe heap, the calling thread's and the abandoned ones (the
 * others' threads are at work on them). */
static bool trimmable(const pm_heap *h, const pmh_cache *c, const pmh_cache *mine) {
    return !h->threadsafe || c == mine || (c != &h->main && c->abandoned);
}

size_t pm_heap_trim(pm_heap *h) {
    pmh_lock(h);
    uint64_t before = h->bytes_returned;
    pmh_release_large_spare(h);
    if (h->buckets != NULL) {
        const pmh_cache *mine = h->threadsafe ? pmh_ts_bound_cache(h) : NULL;
        for (pmh_cache *c = &h->main; c; c = pmh_next_cache(h, c)) {
            if (!trimmable(h, c, mine)) continue;
            pmh_cache_collect(h, c);
            pmh_unpark_pools(h, c);
        }
        (void)pmh_release_kept(h);
        for (pmh_cache *c = &h->main; c; c = pmh_next_cache(h, c)) {
            if (!trimmable(h, c, mine)) continue;
            for (unsigned k = 0; k < h->nclasses; k++)
                for (pmh_pool *pool = c->used[k]; pool; pool = pool->next) trim_pool_pages(h, pool);
        }
    }
    size_t given = (size_t)(h->bytes_returned - before);
    pmh_unlock(h);
    return given;
}
