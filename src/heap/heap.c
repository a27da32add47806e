/*
 * heap.c -- arenas, pools and the pool allocator (CPython's pymalloc model).
 *
 * Owns: the pm_heap structure and its life cycle, arena ordering, pool carving, the malloc/free/realloc fast paths and the return
 * of empty pools and arenas to the OS. Types and invariants: heap.h.
 *
 * Fast paths. malloc of a small size reads the cache's used[class] (a
 * private heap's one cache is h->main: heap.h, pmh_cache); the pool there
 * always has a free block (I1), so it pops the LIFO list and, only when the
 * list runs dry, carves the next block or unlinks the full pool. free finds
 * the owning heap in the process-wide owner map (owners.c: two dependent
 * loads, no touch of memory that may be unmapped), the pool by masking, and pushes the block; only a pool
 * that was full or becomes empty takes the slow path.
 *
 * Arena order. Arenas sit in buckets by their number of free pools; a new
 * pool comes from the usable arena with the fewest free pools, so busy
 * arenas fill up and quiet ones drain and can be unmapped (one empty arena
 * is kept as a spare). Empty pools stay committed up to config.dirty_max
 * bytes; beyond it the pools of the emptiest arenas are decommitted down to
 * half of it, so a program that frees and reallocates in waves does not pay
 * a page fault per pool. Empty memory beyond that budget (more empty pools,
 * more empty arenas) is given back only once it has stayed beyond it for
 * config.release_delay_ms (mimalloc's purge delay, jemalloc's decay): a
 * program that drops a 100 MB structure and builds the next one reuses the
 * pages instead of faulting them all in again.
 */
#define _GNU_SOURCE /* PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP */
#include "heap/heap.h"
#include "heap/os.h"
#include "heap/internal_alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ARENA_SIZE (2u << 20) /* one transparent huge page */
#define DEFAULT_POOL_SIZE (64u << 10)
#define DEFAULT_DIRTY_MAX (8u << 20)
#define DEFAULT_RELEASE_DELAY_MS 1000u

static void *pool_calloc_ctx(void *ctx, size_t nelem, size_t elsize);
static void *pool_realloc_ctx(void *ctx, void *p, size_t n);

#define RAW_TABLE                                                                                  \
    { NULL, pmh_raw_malloc, pmh_raw_calloc, pmh_raw_realloc, pmh_raw_free }
#define POOL_TABLE(h)                                                                              \
    { (h), pmh_pool_malloc_ctx, pool_calloc_ctx, pool_realloc_ctx, pmh_pool_free_ctx }
#define TS_POOL_TABLE(h)                                                                           \
    { (h), pmh_ts_malloc_ctx, pool_calloc_ctx, pool_realloc_ctx, pmh_ts_free_ctx }
#define DEFAULT_POOL_TABLE                                                                         \
    {                                                                                              \
        &pmh_default_heap, pmh_default_malloc_ctx, pool_calloc_ctx, pool_realloc_ctx,              \
            pmh_default_free_ctx                                                                   \
    }

/* The default heap is a constant-initialized object: it works before main()
 * and needs no set-up call. Its buckets are allocated with its first arena. */
pm_heap pmh_default_heap = {
    /* main is the default runtime's cache and no one else's (O1). */
    .main = {.heap = &pmh_default_heap, .heap_id = PMH_DEFAULT_HEAP_ID, .for_runtime = true},
    .pool_mask = ~(uintptr_t)(DEFAULT_POOL_SIZE - 1),
    .colour_mask = PMH_COLOUR_MASK(DEFAULT_POOL_SIZE),
    .special = true,
    .domains = {RAW_TABLE, DEFAULT_POOL_TABLE, DEFAULT_POOL_TABLE},
    .config = {.struct_size = sizeof(pm_heap_config),
               .arena_size = DEFAULT_ARENA_SIZE,
               .pool_size = DEFAULT_POOL_SIZE,
               .dirty_max = DEFAULT_DIRTY_MAX,
               .release_delay_ms = DEFAULT_RELEASE_DELAY_MS},
    .pool_size = DEFAULT_POOL_SIZE,
    .arena_size = DEFAULT_ARENA_SIZE,
    .pools_per_arena = DEFAULT_ARENA_SIZE / DEFAULT_POOL_SIZE,
    .lowest = 1,
    .hugepages = true, /* until the first arena reads PYMM_HUGEPAGES */
    .is_default = true,
    /* Thread-safe (threads.c): first in the registry, main is the default
     * runtime's cache, the threads' caches come and go. */
    .threadsafe = true,
    .id = PMH_DEFAULT_HEAP_ID,
    .lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP,
};

pm_heap *pm_heap_default(void) { return &pmh_default_heap; }

unsigned long pm_version(void) { return PYMM_VERSION_NUMBER; }
const char *pm_version_string(void) { return PYMM_VERSION_STRING; }

/* ------------------------------------------------------------------------ */
/* Configuration and life cycle                                             */
/* ------------------------------------------------------------------------ */

void pm_heap_config_init(pm_heap_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->flags = 0;
    cfg->arena_size = DEFAULT_ARENA_SIZE;
    cfg->pool_size = DEFAULT_POOL_SIZE;
    cfg->dirty_max = DEFAULT_DIRTY_MAX;
    cfg->debug = 0;
    cfg->release_delay_ms = DEFAULT_RELEASE_DELAY_MS;
}

_Static_assert(sizeof(pmh_pool) <= PMH_POOL_HEADER && PMH_POOL_HEADER % 64 == 0,
               "a pool's header holds its struct, in whole cache lines");
_Static_assert(offsetof(pm_heap, main) == 0, "a private heap's cache is at its address");
_Static_assert(PMH_POOL_MAX / PMOS_PAGE_SIZE <= 64,
               "a pool's pages must fit the mask pool->purged");

/* PYMM_HUGEPAGES=0 turns huge pages off for the heaps made from then on
 * (the default heap: read at its first arena). */
static bool env_allows_hugepages(void) {
    const char *v = getenv("PYMM_HUGEPAGES");
    return v == NULL || strcmp(v, "0") != 0;
}

static bool is_pow2(size_t x) { return x && (x & (x - 1)) == 0; }

/* Why c cannot make a heap, or NULL when it can. The limits: a pool's
 * purged pages are one bit each of a 64-bit mask (PMH_POOL_MAX); an arena
 * holds at least 4 pools, covers whole MiB slots of the owner map and is
 * at most PMH_ARENA_MAX. */
static const char *config_problem(const pm_heap_config *c, char *buf, size_t buflen) {
    if (!is_pow2(c->pool_size) || c->pool_size < PMH_POOL_MIN || c->pool_size > PMH_POOL_MAX)
        snprintf(buf, buflen,
                 "pool_size %zu: must be a power of two from %u to %u (4 KiB .. 256 KiB)",
                 c->pool_size, PMH_POOL_MIN, PMH_POOL_MAX);
    else if (!is_pow2(c->arena_size) || c->arena_size < PMH_ARENA_MIN ||
             c->arena_size > PMH_ARENA_MAX)
        snprintf(buf, buflen,
                 "arena_size %zu: must be a power of two from %u to %u (1 MiB .. 64 MiB)",
                 c->arena_size, PMH_ARENA_MIN, PMH_ARENA_MAX);
    else if (c->arena_size < 4 * c->pool_size)
        snprintf(buf, buflen, "arena_size %zu: must hold at least 4 pools of pool_size %zu",
                 c->arena_size, c->pool_size);
    else if (c->flags & ~(PM_HEAP_THREADSAFE | PM_HEAP_NO_HUGEPAGES))
        snprintf(buf, buflen, "flags 0x%x: unknown bits",
                 c->flags & ~(PM_HEAP_THREADSAFE | PM_HEAP_NO_HUGEPAGES));
    else return NULL;
    return buf;
}

/* How far a newer caller's struct may extend beyond this library's. */
#define PMH_STRUCT_GROWTH_MAX 4096

const char *pmh_struct_read(void *dst, size_t known, const void *src, size_t base, const char *what,
                            char *buf, size_t buflen) {
    size_t size;
    memcpy(&size, src, sizeof size);
    if (size == 0) size = base;
    if (size < base) {
        snprintf(buf, buflen, "%s.struct_size %zu: smaller than its first layout (%zu bytes)", what,
                 size, base);
        return buf;
    }
    /* A version of pymm may add fields, not pages of them: a larger size is
     * an uninitialized struct (or one of a header without struct_size),
     * refused before its bytes beyond are read. */
    if (size > known + PMH_STRUCT_GROWTH_MAX) {
        snprintf(buf, buflen,
                 "%s.struct_size %zu: not a size this struct can have (uninitialized? use the "
                 "_INIT macro or the init function)",
                 what, size);
        return buf;
    }
    for (size_t i = known; i < size; i++) {
        if (((const unsigned char *)src)[i] != 0) {
            snprintf(buf, buflen,
                     "%s.struct_size %zu: byte %zu is set, beyond the %zu bytes pymm %s knows "
                     "(a field of a newer version)",
                     what, size, i, known, PYMM_VERSION_STRING);
            return buf;
        }
    }
    memcpy(dst, src, size < known ? size : known);
    memcpy(dst, &known, sizeof known);
    return NULL;
}

/* cfg (NULL: the defaults) in this library's layout, or buf saying why
 * it is refused. */
static const char *config_read(const pm_heap_config *cfg, pm_heap_config *c, char *buf,
                               size_t buflen) {
    pm_heap_config_init(c);
    if (cfg && pmh_struct_read(c, sizeof *c, cfg, PMH_END_OF(pm_heap_config, release_delay_ms),
                               "pm_heap_config", buf, buflen))
        return buf;
    return config_problem(c, buf, buflen);
}

int pm_heap_config_check(const pm_heap_config *cfg, char *buf, size_t buflen) {
    char local[200];
    if (buf == NULL || buflen == 0) {
        buf = local;
        buflen = sizeof local;
    }
    pm_heap_config c;
    if (config_read(cfg, &c, buf, buflen) == NULL) {
        buf[0] = '\0';
        return 0;
    }
    return -1;
}

/* The pool allocator's table: private, thread-safe, or the default heap's
 * (whose thread cache is one thread-local load: threads.c). */
static pm_allocator pool_table(pm_heap *h) {
    const pm_allocator pool = POOL_TABLE(h), ts = TS_POOL_TABLE(h), def = DEFAULT_POOL_TABLE;
    return h->is_default ? def : h->threadsafe ? ts : pool;
}

void pmh_domains_init(pm_heap *h) {
    const pm_allocator raw = RAW_TABLE;
    h->domains[PM_DOMAIN_RAW] = raw;
    h->domains[PM_DOMAIN_MEM] = pool_table(h);
    h->domains[PM_DOMAIN_OBJ] = pool_table(h);
}

/* h joins the list of live heaps; a watch (the recorder) hears of it. */
static void register_heap(pm_heap *h) {
    pthread_mutex_lock(&pmh_process.heaps.lock);
    pm_heap **last = &pmh_process.heaps.first;
    while (*last) last = &(*last)->all_next;
    *last = h; /* in order of making: the recorder's walks read better so */
    if (pmh_process.heaps.watch) pmh_process.heaps.watch->made(h);
    pthread_mutex_unlock(&pmh_process.heaps.lock);
}

static void unregister_heap(pm_heap *h) {
    pthread_mutex_lock(&pmh_process.heaps.lock);
    if (pmh_process.heaps.watch) pmh_process.heaps.watch->gone(h);
    pm_heap **link = &pmh_process.heaps.first;
    while (*link != h) link = &(*link)->all_next;
    *link = h->all_next;
    pthread_mutex_unlock(&pmh_process.heaps.lock);
}

pm_heap *pm_heap_new(const pm_heap_config *cfg) {
    pm_heap_config c;
    char why[200];
    if (config_read(cfg, &c, why, sizeof why)) {
        errno = EINVAL; /* pm_heap_config_check says why */
        return NULL;
    }
    pm_heap *h = pmh_internal_calloc(1, sizeof *h);
    if (h == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    h->config = c;
    h->pool_size = c.pool_size;
    h->arena_size = c.arena_size;
    h->pool_mask = ~(uintptr_t)(c.pool_size - 1);
    h->colour_mask = PMH_COLOUR_MASK(c.pool_size);
    h->pools_per_arena = (uint32_t)(c.arena_size / c.pool_size);
    pmh_classes_init(h);
    h->lowest = 1;
    h->main.heap = h;
    h->hugepages = !(c.flags & PM_HEAP_NO_HUGEPAGES) && env_allows_hugepages();
    if ((c.flags & PM_HEAP_THREADSAFE) && pmh_ts_init(h) != 0) {
        pmh_internal_free(h);
        errno = ENOMEM;
        return NULL;
    }
    pmh_domains_init(h);
    if (c.debug && pm_heap_enable_debug(h) != 0) {
        pmh_ts_destroy(h);
        pmh_internal_free(h);
        errno = ENOMEM;
        return NULL;
    }
    register_heap(h);
    return h;
}

static void large_release_all(pm_heap *h);

void pm_heap_destroy(pm_heap *h) {
    if (h == NULL || h->is_default) return;
    unregister_heap(h);      /* first: the recorder forgets h's blocks */
    pmh_debug_release(h, 0); /* outer debug blocks first: see debug.c */
    large_release_all(h);
    pmh_release_large_spare(h);
    pmh_debug_destroy(h);
    pmh_ts_destroy(h); /* no other thread uses h any more (pymm.h): its caches go */
    for (pmh_cache *c = h->caches, *next; c; c = next) { /* a private heap's runtimes' */
        next = c->next;
        pmh_internal_free(c);
    }
#ifdef PM_VALGRIND
    if (RUNNING_ON_VALGRIND) pmh_vg_forget_pool_blocks(h);
#endif
    for (uint32_t k = 0; h->buckets && k <= h->pools_per_arena; k++) {
        pmh_arena *a = h->buckets[k];
        while (a) {
            pmh_arena *next = a->next;
            pmh_map_set(a->base, h->arena_size, NULL);
            pm_unpoison((void *)a->base, h->arena_size);
            pmos_unmap((void *)a->base, h->arena_size);
            pmh_internal_free(a);
            a = next;
        }
    }
    pmh_internal_free(h->buckets);
    pmh_internal_free(h->large.slots);
    pmh_internal_free(h);
}

/* ------------------------------------------------------------------------ */
/* Ownership (the owner map: owners.c)                                      */
/* ------------------------------------------------------------------------ */

int pm_heap_owns(const pm_heap *h, const void *p) {
    return h != NULL && pmh_arena_owns(h, (uintptr_t)p);
}

/* ------------------------------------------------------------------------ */
/* Arena buckets                                                            */
/* ------------------------------------------------------------------------ */

static void bucket_link(pm_heap *h, pmh_arena *a) {
    pmh_arena **head = &h->buckets[a->nfree];
    a->prev = NULL;
    a->next = *head;
    if (*head) (*head)->prev = a;
    *head = a;
    if (a->nfree >= 1 && a->nfree < h->lowest) h->lowest = a->nfree;
}

static void bucket_unlink(pm_heap *h, pmh_arena *a) {
    if (a->prev) a->prev->next = a->next;
    else h->buckets[a->nfree] = a->next;
    if (a->next) a->next->prev = a->prev;
}

/* The usable arena with the fewest free pools, or NULL. */
static pmh_arena *usable_arena(pm_heap *h) {
    if (h->buckets == NULL) return NULL;
    for (uint32_t k = h->lowest; k <= h->pools_per_arena; k++) {
        if (h->buckets[k]) {
            h->lowest = k;
            return h->buckets[k];
        }
    }
    h->lowest = h->pools_per_arena + 1;
    return NULL;
}

/* The arena to take a pool from: the most used one that has a free pool
 * (CPython's order, so that the least used drain and can be given back),
 * unless it has no committed empty pool while another arena does: a pool
 * whose pages are already resident serves before pages never touched, so
 * that peak RSS follows the pools in use rather than the pools ever used. */
static pmh_arena *arena_to_take_from(pm_heap *h) {
    pmh_arena *a = usable_arena(h);
    if (a == NULL || a->empty != NULL || h->nempty_pools == 0) return a;
    for (uint32_t k = h->lowest; k <= h->pools_per_arena; k++)
        for (pmh_arena *b = h->buckets[k]; b; b = b->next)
            if (b->empty) return b;
    return a;
}

static void arena_set_nfree(pm_heap *h, pmh_arena *a, uint32_t nfree) {
    PM_ASSERT(nfree <= a->npools); /* I4 */
    bucket_unlink(h, a);
    if (a->nfree == a->npools) h->nempty_arenas--;
    a->nfree = nfree;
    if (a->nfree == a->npools) h->nempty_arenas++;
    bucket_link(h, a);
}

/* The default heap exists before main(): it reads PYMM_HUGEPAGES at its
 * first arena or large block instead. */
static void heap_reads_env(pm_heap *h) {
    if (!h->is_default || h->env_read) return;
    h->hugepages = env_allows_hugepages();
    h->env_read = true;
}

/* Bytes carved in h's pools (empty pools kept committed too: they are
 * resident), counted until `enough`. */
typedef struct carved_count {
    size_t bytes, enough;
} carved_count;

/* Owners carve without the lock: nextoffset, a word read whole, only
 * grows while the pool is in use, so the sum is a snapshot of some
 * moment, as the statistics' (stats.c, live_blocks). */
PM_NO_TSAN static int add_carved(const pm_heap *h, const pmh_arena *a, pmh_pool *pool, void *arg) {
    (void)h, (void)a;
    carved_count *n = arg;
    n->bytes += *(const volatile uint32_t *)&pool->nextoffset;
    return n->bytes >= n->enough;
}

/* Huge pages for the next arena: asked for (the default), possible (an
 * arena of at least a huge page, aligned to its size) and worth it (the
 * heap already holds PMH_HUGE_AFTER_BYTES carved in its pools). Carved
 * bytes, not arenas: a heap of many threads holds a pool per class per
 * thread, mostly uncarved, and its arenas say little of its memory
 * (larson on 8 threads: 10 arenas, 5 MiB carved). Under the lock. */
static bool wants_huge_pages(const pm_heap *h) {
    if (!h->hugepages || h->arena_size < PMOS_HUGE_PAGE_SIZE ||
        h->narenas * h->arena_size < PMH_HUGE_AFTER_BYTES)
        return false;
    carved_count n = {0, PMH_HUGE_AFTER_BYTES};
    pmh_for_each_pool(h, add_carved, &n);
    return n.bytes >= n.enough;
}

void pmh_arena_drop_huge(pm_heap *h, pmh_arena *a) {
    if (!a->huge) return;
    pmos_advise_huge((void *)a->base, h->arena_size, false);
    a->huge = false;
    h->narenas_huge--;
}

static pmh_arena *arena_new(pm_heap *h) {
    if (h->buckets == NULL) {
        heap_reads_env(h);
        h->buckets = pmh_internal_calloc(h->pools_per_arena + 1, sizeof *h->buckets);
        if (h->buckets == NULL) return NULL;
    }
    pmh_arena *a = pmh_internal_malloc(sizeof *a + h->pools_per_arena * sizeof(uint32_t));
    if (a == NULL) return NULL;
    void *base = pmos_map_aligned(h->arena_size, h->arena_size);
    bool mapped = base != NULL && ((uintptr_t)base + h->arena_size) >> PMH_ADDRESS_BITS == 0 &&
                  pmh_map_set((uintptr_t)base, h->arena_size, h);
    if (!mapped) {
        if (base) pmos_unmap(base, h->arena_size);
        pmh_internal_free(a);
        return NULL;
    }
    memset(a, 0, sizeof *a);
    a->base = (uintptr_t)base;
    a->npools = h->pools_per_arena;
    a->nfree = a->npools;
    /* Asked for, or asked against: where THP is `always`, the kernel would
     * back a small heap's 2 MiB-aligned arenas with huge pages unasked. */
    bool huge = wants_huge_pages(h);
    if (h->arena_size >= PMOS_HUGE_PAGE_SIZE)
        a->huge = pmos_advise_huge(base, h->arena_size, huge) && huge;
    h->narenas_huge += a->huge;
    pm_poison(base, h->arena_size);
    pm_vg_noaccess(base, h->arena_size);
    h->nempty_arenas++;
    bucket_link(h, a);
    h->narenas++;
    h->arenas_allocated++;
    if (h->narenas > h->narenas_peak) h->narenas_peak = h->narenas;
    return a;
}

static void arena_free(pm_heap *h, pmh_arena *a) {
    bucket_unlink(h, a);
    h->nempty_arenas--;
    h->nempty_pools -= a->nempty;
    h->bytes_returned += (uint64_t)(a->nfresh - a->ndecommitted) * h->pool_size;
    h->narenas_huge -= a->huge;
    pmh_map_set(a->base, h->arena_size, NULL);
    pm_unpoison((void *)a->base, h->arena_size);
    pmos_unmap((void *)a->base, h->arena_size);
    pmh_internal_free(a);
    h->narenas--;
    h->arenas_reclaimed++;
}

/* Unmap empty arenas until at most `keep` remain. */
void pmh_arena_release_empty(pm_heap *h, uint64_t keep) {
    while (h->nempty_arenas > keep) arena_free(h, h->buckets[h->pools_per_arena]);
}

/* ------------------------------------------------------------------------ */
/* Pools                                                                    */
/* ------------------------------------------------------------------------ */

/* The header of the pool in slot `index` of arena a (P1). */
static pmh_pool *pool_at(const pm_heap *h, const pmh_arena *a, uint32_t index) {
    uintptr_t slot = a->base + (uintptr_t)index * h->pool_size;
    return (pmh_pool *)(slot + pmh_colour(h, (const void *)slot));
}

static void empty_list_remove(pmh_arena *a, pmh_pool *pool) {
    PM_ASSERT(a->nempty > 0 && pool->arena == a && pool->nused == 0); /* I3 */
    if (pool->prev) pool->prev->next = pool->next;
    else a->empty = pool->next;
    if (pool->next) pool->next->prev = pool->prev;
    a->nempty--;
}

static void empty_list_push(pmh_arena *a, pmh_pool *pool) {
    pool->prev = NULL;
    pool->next = a->empty;
    if (a->empty) a->empty->prev = pool;
    a->empty = pool;
    a->nempty++;
}

/* A pool of arena a for new use: a committed empty one if any (no page
 * fault), else a decommitted one, else a fresh one. *committed tells
 * whether its header is still valid. */
static pmh_pool *arena_take_pool(pm_heap *h, pmh_arena *a, bool *committed) {
    PM_ASSERT(a->nfree > 0 &&
              a->nfree == a->npools - a->nfresh + a->nempty + a->ndecommitted); /* I4 */
    pmh_pool *pool;
    *committed = a->empty != NULL;
    if (a->empty) {
        pool = a->empty;
        empty_list_remove(a, pool);
        h->nempty_pools--;
    } else if (a->ndecommitted) {
        pool = pool_at(h, a, a->decommitted[--a->ndecommitted]);
    } else {
        pool = pool_at(h, a, a->nfresh++);
    }
    arena_set_nfree(h, a, a->nfree - 1);
    return pool;
}

static void used_link(pmh_cache *c, pmh_pool *pool) {
    PM_ASSERT(pool->szidx < c->heap->nclasses && pool->freeblock != NULL); /* I1 */
    PM_ASSERT(pool->owner == c);                                           /* T2 */
    pmh_pool **head = &c->used[pool->szidx];
    pool->prev = NULL;
    pool->next = *head;
    if (*head) (*head)->prev = pool;
    *head = pool;
}

/* List a pool that was full behind its class's first pool, which goes on
 * serving until its own list runs dry. Put first, it would be drained by
 * the next malloc of its class and leave the list again: in a class of
 * several pools, every free into a full one then cost a relisting and a
 * refill (the `mix` case of `pymm bench alloc`). */
static void used_link_behind(pmh_cache *c, pmh_pool *pool) {
    pmh_pool *head = c->used[pool->szidx];
    if (head == NULL) {
        used_link(c, pool);
        return;
    }
    PM_ASSERT(pool->freeblock != NULL && pool->owner == c); /* I1, T2 */
    pool->prev = head;
    pool->next = head->next;
    if (head->next) head->next->prev = pool;
    head->next = pool;
}

static void used_unlink(pmh_pool *pool) {
    if (pool->prev) pool->prev->next = pool->next;
    else pool->owner->used[pool->szidx] = pool->next;
    if (pool->next) pool->next->prev = pool->prev;
}

/* Make pool serve class c with one carved free block, and list it in
 * cache's lists. */
static void pool_init(pm_heap *h, pmh_cache *cache, pmh_arena *a, pmh_pool *pool, unsigned c) {
    PM_ASSERT(c < h->nclasses);
    size_t size = h->class_size[c];
    pm_unpoison(pool, PMH_POOL_HEADER);
    pm_vg_undefined(pool, PMH_POOL_HEADER);
    pool->arena = a;
    pool->owner = cache;
    atomic_init(&pool->xfree, NULL);
    pool->remote_next = NULL;
    atomic_init(&pool->trace, NULL);
    atomic_init(&pool->trace_gen, 0);
    pool->szidx = (uint16_t)c;
    pool->size = (uint16_t)size;
    pool->nused = 0;
    pool->purged = 0;
    pool->freeblock = (pmh_block *)((char *)pool + PMH_POOL_HEADER);
    blk_set_next(pool->freeblock, NULL);
    pool->nextoffset = (uint32_t)(PMH_POOL_HEADER + size);
    pool->maxnextoffset = (uint32_t)(h->pool_size - pmh_pool_colour(pool) - size);
    used_link(cache, pool);
}

/* Take an empty pool off its arena's list and record it as decommitted;
 * the pages go back in decommit_runs. */
static void pool_detach_for_decommit(pm_heap *h, pmh_arena *a, pmh_pool *pool) {
    empty_list_remove(a, pool);
    h->nempty_pools--;
    a->decommitted[a->ndecommitted++] = (uint32_t)((pmh_slot_of(h, pool) - a->base) / h->pool_size);
    h->bytes_returned += h->pool_size;
}

static int cmp_u32(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* Give back the pools recorded since index `first` of a->decommitted, one
 * madvise per run of adjacent pools. */
static void decommit_runs(pm_heap *h, pmh_arena *a, uint32_t first) {
    uint32_t *idx = a->decommitted + first, n = a->ndecommitted - first;
    if (n) pmh_arena_drop_huge(h, a);
    qsort(idx, n, sizeof *idx, cmp_u32);
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i + 1;
        while (j < n && idx[j] == idx[j - 1] + 1) j++;
        char *start = (char *)a->base + (uintptr_t)idx[i] * h->pool_size;
        size_t len = (size_t)(j - i) * h->pool_size;
        pm_unpoison(start, len);
        pmos_decommit(start, len);
        pm_poison(start, len);
        pm_vg_noaccess(start, len);
        i = j;
    }
}

/* Decommit empty pools, emptiest arenas first, until at most `target`
 * bytes of empty pools stay committed. */
void pmh_purge_empty_pools(pm_heap *h, uint64_t target) {
    for (uint32_t k = h->pools_per_arena; k >= 1; k--) {
        for (pmh_arena *a = h->buckets[k]; a; a = a->next) {
            uint32_t first = a->ndecommitted;
            while (a->empty && h->nempty_pools * h->pool_size > target)
                pool_detach_for_decommit(h, a, a->empty);
            if (a->ndecommitted > first) decommit_runs(h, a, first);
            if (h->nempty_pools * h->pool_size <= target) return;
        }
    }
}

/* The budget of empty memory kept for reuse: one spare empty arena and
 * config.dirty_max bytes of committed empty pools. */
static bool over_budget(const pm_heap *h) {
    return h->nempty_arenas > 1 || h->nempty_pools * h->pool_size > h->config.dirty_max;
}

/* Give back what is beyond the budget once it has been beyond it for the
 * release delay: every empty arena but one, then empty pools down to half
 * of dirty_max. Called on the slow paths that change the empty memory. */
static void release_excess(pm_heap *h) {
    if (!over_budget(h)) {
        h->over_budget_since = 0;
        return;
    }
    if (h->config.release_delay_ms) {
        uint64_t now = pmos_now_ms();
        if (h->over_budget_since == 0) h->over_budget_since = now;
        if (now - h->over_budget_since < h->config.release_delay_ms) return;
    }
    h->over_budget_since = 0;
    pmh_arena_release_empty(h, 1);
    if (h->nempty_pools * h->pool_size > h->config.dirty_max)
        pmh_purge_empty_pools(h, h->config.dirty_max / 2);
}

/* A pool lost its last live block: it joins its arena's empty pools, and
 * the arena may become empty, and the empty memory may exceed the budget. */
static void pool_became_empty(pm_heap *h, pmh_pool *pool) {
    pmh_lock(h);
    pmh_arena *a = pool->arena;
    PM_ASSERT(pool->nused == 0 && a->nfree < a->npools);                         /* I3, I4 */
    PM_ASSERT(atomic_load_explicit(&pool->xfree, memory_order_relaxed) == NULL); /* T1 */
    pool->owner = NULL;                                                          /* T2 */
    h->pages_decommitted -= (uint64_t)__builtin_popcountll(pool->purged);
    empty_list_push(a, pool);
    h->nempty_pools++;
    arena_set_nfree(h, a, a->nfree + 1);
    release_excess(h);
    pmh_unlock(h);
}

/* Slow path of free: the pool was full (now has a free block) or is now
 * empty. The sole pool of a class stays listed even when empty ("parked"):
 * a loop of malloc/free pairs then never leaves the fast path, where
 * CPython pays for releasing and re-taking the pool on every pair. A pool
 * that was full comes with its freed block still counted in nused: the
 * fast path then has one decrement, in memory, right before its test. */
PM_NOINLINE void pmh_pool_transition(pm_heap *h, pmh_pool *pool, bool was_full) {
    if (was_full) pool->nused--;
    pmh_pool_settle(h, pool, was_full);
}

void pmh_pool_settle(pm_heap *h, pmh_pool *pool, bool was_full) {
    /* The blocks just freed are in this pool, which one of h's arenas holds. */
    PM_ASSERT(pool->freeblock != NULL &&
              pool->nused < (pool->nextoffset - PMH_POOL_HEADER) / pool->size);
    PM_ASSERT((uintptr_t)pool - pool->arena->base < h->arena_size);
    if (pool->nused != 0) {
        if (was_full) {
            /* A parked pool must stay its class's only listed pool. */
            pmh_pool *parked = pool->owner->used[pool->szidx];
            if (parked && parked->nused == 0) {
                used_unlink(parked);
                pool_became_empty(h, parked);
            }
            used_link_behind(pool->owner, pool);
        }
        PMH_EXPENSIVE_CHECK(h);
        return;
    }
    if (!was_full) {
        if (pool->prev == NULL && pool->next == NULL) return;
        used_unlink(pool);
    }
    pool_became_empty(h, pool);
    PMH_EXPENSIVE_CHECK(h);
}

int pmh_for_each_pool(const pm_heap *h, pmh_pool_visit_fn fn, void *arg) {
    uint64_t decommitted[PMH_ARENA_MAX / PMH_POOL_MIN / 64];
    int r = 0;
    for (uint32_t k = 0; h->buckets && k <= h->pools_per_arena && r == 0; k++) {
        for (const pmh_arena *a = h->buckets[k]; a && r == 0; a = a->next) {
            memset(decommitted, 0, (a->npools + 63) / 64 * sizeof *decommitted);
            for (uint32_t i = 0; i < a->ndecommitted; i++)
                decommitted[a->decommitted[i] / 64] |= 1ull << (a->decommitted[i] % 64);
            for (uint32_t i = 0; i < a->nfresh && r == 0; i++)
                if (!(decommitted[i / 64] >> (i % 64) & 1)) r = fn(h, a, pool_at(h, a, i), arg);
        }
    }
    return r;
}

/* Release cache's parked pools (see pool_transition), for trim. */
void pmh_unpark_pools(pm_heap *h, pmh_cache *cache) {
    for (unsigned c = 0; c < h->nclasses; c++) {
        pmh_pool *pool = cache->used[c];
        if (pool && pool->nused == 0) {
            used_unlink(pool);
            pool_became_empty(h, pool);
        }
    }
}

/* A pool with an empty free list gets a free block, if it has room for
 * one: the next block carved, or the blocks of a purged page brought back.
 * Returns whether it has one now. */
static bool pool_carve_or_unpurge(pm_heap *h, pmh_pool *pool) {
    PM_ASSERT(pool->freeblock == NULL);
    if (pool->nextoffset <= pool->maxnextoffset) {
        pmh_block *b = (pmh_block *)((char *)pool + pool->nextoffset);
        pool->nextoffset += pool->size;
        blk_set_next(b, NULL);
        pool->freeblock = b;
        return true;
    }
    if (pool->purged == 0) return false;
    pmh_lock(h); /* the heap's count of purged pages */
    bool back = pmh_pool_unpurge_page(h, pool);
    pmh_unlock(h);
    return back;
}

/* The pool's free list ran dry after a pop: refill it, or unlink the pool
 * as full. */
static PM_NOINLINE void pool_refill(pm_heap *h, pmh_pool *pool) {
    PM_ASSERT(pool->nused > 0); /* the pop took the last free block */
    if (!pool_carve_or_unpurge(h, pool)) used_unlink(pool);
}

/* ------------------------------------------------------------------------ */
/* Large blocks                                                             */
/* ------------------------------------------------------------------------ */

static size_t large_hash(uintptr_t p, size_t cap) {
    return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

#define LARGE_TOMB ((uintptr_t)1)

static pmh_large_slot *large_find(const pmh_large_table *t, uintptr_t p) {
    if (t->cap == 0) return NULL;
    for (size_t i = large_hash(p, t->cap);; i = (i + 1) & (t->cap - 1)) {
        pmh_large_slot *s = &t->slots[i];
        if (s->ptr == p) return s;
        if (s->ptr == 0) return NULL;
    }
}

static void large_insert(pmh_large_table *t, uintptr_t p, size_t size, bool mapped,
                         const pmh_cache *objects) {
    for (size_t i = large_hash(p, t->cap);; i = (i + 1) & (t->cap - 1)) {
        pmh_large_slot *s = &t->slots[i];
        if (s->ptr == 0 || s->ptr == LARGE_TOMB) {
            if (s->ptr == LARGE_TOMB) t->tombs--;
            s->ptr = p;
            s->size = size;
            s->mapped = mapped;
            s->objects = objects;
            t->count++;
            t->bytes += size;
            return;
        }
    }
}

/* Insert a block, with the room a large_reserve promised. */
static void large_put(pmh_large_table *t, uintptr_t p, size_t size, bool mapped,
                      const pmh_cache *objects) {
    PM_ASSERT(t->reserved > 0);
    t->reserved--;
    large_insert(t, p, size, mapped, objects);
}

static void large_remove(pmh_large_table *t, pmh_large_slot *s) {
    t->bytes -= s->size;
    s->ptr = LARGE_TOMB;
    s->size = 0;
    s->objects = NULL;
    t->count--;
    t->tombs++;
}

/* Promise room for one more entry, so that an insert after a successful
 * raw allocation can never fail; the raw allocation may then run outside
 * the heap's lock, with other threads' promises beside this one. Kept by
 * large_put, or given back by large_unreserve. */
static bool large_reserve(pmh_large_table *t) {
    if ((t->count + t->tombs + t->reserved + 1) * 4 <= t->cap * 3) {
        t->reserved++;
        return true;
    }
    size_t cap = t->cap ? t->cap : 64;
    while ((t->count + t->reserved + 1) * 2 > cap) cap *= 2;
    pmh_large_slot *old = t->slots;
    size_t oldcap = t->cap;
    t->slots = pmh_internal_calloc(cap, sizeof *t->slots);
    if (t->slots == NULL) {
        t->slots = old;
        return false;
    }
    t->cap = cap;
    t->count = t->tombs = 0;
    t->bytes = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].ptr > LARGE_TOMB)
            large_insert(t, old[i].ptr, old[i].size, old[i].mapped, old[i].objects);
    pmh_internal_free(old);
    t->reserved++;
    return true;
}

static void large_unreserve(pmh_large_table *t) {
    PM_ASSERT(t->reserved > 0);
    t->reserved--;
}

/* Give back at once every empty arena and empty pool, the budget and the
 * release delay notwithstanding (trim; and when memory ran out, so that a
 * retry finds the address space they held). true when something was given
 * back. */
bool pmh_release_kept(pm_heap *h) {
    uint64_t before = h->arenas_reclaimed + h->bytes_returned;
    pmh_release_large_spare(h);
    if (h->buckets == NULL) return h->arenas_reclaimed + h->bytes_returned != before;
    pmh_arena_release_empty(h, 0);
    pmh_purge_empty_pools(h, 0);
    h->over_budget_since = 0;
    PMH_EXPENSIVE_CHECK(h);
    return h->arenas_reclaimed + h->bytes_returned != before;
}

/* Large blocks of PMH_HUGE_BLOCK_MIN bytes or more are the heap's own
 * mappings, 2 MiB-aligned, with huge pages asked for over all of them: a
 * dict of a million keys probes its table at random, and on 4 KiB pages
 * the TLB misses were half of its insert time. Growing one moves no byte
 * (mremap). Only while huge pages are wanted and the raw domain is the
 * heap's own: a program's allocator sees every block it would have; and
 * not in ASan and valgrind builds, whose tools watch the C library's
 * blocks (overruns, leaks) and not a mapping. */
static bool large_maps_itself(pm_heap *h, size_t n) {
#if defined(PM_ASAN) || defined(PM_VALGRIND)
    (void)h, (void)n;
    return false;
#else
    if (n < PMH_HUGE_BLOCK_MIN) return false; /* decided without the heap's lock */
    heap_reads_env(h);
    return h->hugepages && h->domains[PM_DOMAIN_RAW].malloc == pmh_raw_malloc;
#endif
}

static size_t page_round(size_t n) {
    return (n + PMOS_PAGE_SIZE - 1) & ~(size_t)(PMOS_PAGE_SIZE - 1);
}

/* A fresh mapping, or the spare one resized (its pages stay resident: a
 * program that frees a big buffer and makes the next one, as glibc serves
 * it from its heap once its mmap threshold has risen, takes no fault). */
static void *large_map(pm_heap *h, size_t n) {
    if (n > SIZE_MAX - PMOS_HUGE_PAGE_SIZE || pmh_fault_tick()) {
        errno = ENOMEM; /* as a failed mmap says, and malloc's callers read */
        return NULL;
    }
    size_t size = page_round(n);
    if (h->large_spare) {
        void *p = pmos_remap(h->large_spare, h->large_spare_size, size);
        if (p) {
            h->large_spare = NULL;
            return p;
        }
    }
    void *p = pmos_map_aligned(size, PMOS_HUGE_PAGE_SIZE);
    if (p) pmos_advise_huge(p, size, true);
    return p;
}

/* A freed mapping becomes the spare (the older spare goes back), unless it
 * is larger than PMH_LARGE_SPARE_MAX. */
static void large_unmap(pm_heap *h, void *p, size_t n) {
    size_t size = page_round(n);
    if (size > PMH_LARGE_SPARE_MAX) {
        pmos_unmap(p, size);
        return;
    }
    pmh_release_large_spare(h);
    h->large_spare = p;
    h->large_spare_size = size;
}

void pmh_release_large_spare(pm_heap *h) {
    if (h->large_spare == NULL) return;
    pmos_unmap(h->large_spare, h->large_spare_size);
    h->bytes_returned += h->large_spare_size;
    h->large_spare = NULL;
}

/* The raw domain's block, or the heap's own mapping (large_maps_itself). */
static void *large_get(pm_heap *h, size_t n, bool *mapped) {
    *mapped = large_maps_itself(h, n);
    if (*mapped) return large_map(h, n);
    const pm_allocator *raw = &h->domains[PM_DOMAIN_RAW];
    return raw->malloc(raw->ctx, n);
}

static void large_put_back(pm_heap *h, void *p, size_t size, bool mapped) {
    if (mapped) {
        large_unmap(h, p, size);
    } else {
        const pm_allocator *raw = &h->domains[PM_DOMAIN_RAW];
        raw->free(raw->ctx, p);
    }
}

static void *raw_malloc(pm_heap *h, size_t n) {
    const pm_allocator *raw = &h->domains[PM_DOMAIN_RAW];
    return raw->malloc(raw->ctx, n);
}

/* Takes the heap's lock itself, once: a raw block is allocated outside
 * it (the C library has locks of its own) and entered in the table after;
 * if the table cannot grow for it, the block goes back and the call fails.
 * A mapping of the heap's own (4 MiB and more) is made under it (the
 * spare). */
static void *large_malloc(pm_heap *h, size_t n, const pmh_cache *objects) {
    bool mapped = n >= PMH_HUGE_BLOCK_MIN; /* maybe: decided under the lock */
    void *p = mapped ? NULL : raw_malloc(h, n);
    pmh_lock(h);
    if (mapped && (mapped = large_maps_itself(h, n))) p = large_map(h, n);
    else if (p == NULL && n >= PMH_HUGE_BLOCK_MIN) p = raw_malloc(h, n);
    if (p == NULL && pmh_release_kept(h)) p = large_get(h, n, &mapped);
    bool entered = p != NULL && large_reserve(&h->large);
    if (entered) large_put(&h->large, (uintptr_t)p, n, mapped, objects);
    else if (p) large_put_back(h, p, n, mapped);
    pmh_unlock(h);
    return entered ? p : NULL;
}

static void large_release_all(pm_heap *h) {
    for (size_t i = 0; i < h->large.cap; i++) {
        pmh_large_slot *s = &h->large.slots[i];
        if (s->ptr > LARGE_TOMB) {
            large_put_back(h, (void *)s->ptr, s->size, s->mapped);
            large_remove(&h->large, s);
        }
    }
}

bool pmh_large_contains(const pm_heap *h, const void *p) {
    return large_find(&h->large, (uintptr_t)p) != NULL;
}

/* The large blocks whose slot names `objects` (any block: ANY_BLOCK). */
#define ANY_BLOCK ((const pmh_cache *)1)
static int large_walk(const pm_heap *h, const pmh_cache *objects, pm_walk_fn fn, void *arg) {
    for (size_t i = 0; i < h->large.cap; i++) {
        const pmh_large_slot *s = &h->large.slots[i];
        if (s->ptr > LARGE_TOMB && (objects == ANY_BLOCK || s->objects == objects)) {
            int r = fn(arg, (void *)s->ptr, s->size, 1);
            if (r) return r;
        }
    }
    return 0;
}

int pmh_large_walk(const pm_heap *h, pm_walk_fn fn, void *arg) {
    return large_walk(h, ANY_BLOCK, fn, arg);
}

int pmh_large_walk_objects(const pm_heap *h, const pmh_cache *c, pm_walk_fn fn, void *arg) {
    PM_ASSERT(c != NULL && c->for_runtime);
    return large_walk(h, c, fn, arg);
}

void pmh_large_disown(pm_heap *h, const pmh_cache *c) {
    for (size_t i = 0; i < h->large.cap; i++)
        if (h->large.slots[i].objects == c) h->large.slots[i].objects = NULL;
}

/* ------------------------------------------------------------------------ */
/* malloc / free / realloc                                                  */
/* ------------------------------------------------------------------------ */

/* ---- a fork child's caches ------------------------------------------------ */

typedef struct rebuild {
    pmh_pool *emptied; /* pools with no live block, linked by `next` */
} rebuild;

/* A pool whose free list does not hold together: lost for good, but
 * consistent (I2, I3): every block counted live, nothing left to carve
 * or to bring back, out of every list. */
static void pool_lose(pm_heap *h, pmh_pool *pool) {
    h->pages_decommitted -= (uint64_t)__builtin_popcountll(pool->purged);
    pool->purged = 0;
    pool->nextoffset = pool->maxnextoffset + pool->size;
    pool->freeblock = NULL;
    pool->nused = (pool->nextoffset - PMH_POOL_HEADER) / pool->size;
}

/* One pool in a fork child's rebuild. A pool of a cache that was not cut
 * keeps its lists; only its place on its owner's remote stack is made
 * anew (a thread cut between its xfree push and its stack push left it on
 * none: T1). A pool of a cut cache: what others freed rejoins its free
 * list, its count is what the list says (a block popped or pushed half
 * way counts as live: at worst one block is never given again), and it
 * goes back on its class's list, or, with no live block, on `emptied`
 * (its arena takes it after the walk, which must not see arenas move
 * between buckets). */
static int rebuild_pool(const pm_heap *ch, const pmh_arena *a, pmh_pool *pool, void *arg) {
    pm_heap *h = (pm_heap *)ch;
    rebuild *r = arg;
    pmh_cache *c = pool->owner;
    (void)a;
    if (c == NULL) return 0;
    if (!c->cut) {
        if (atomic_load_explicit(&pool->xfree, memory_order_relaxed) == NULL) return 0;
        pool->remote_next = atomic_load_explicit(&c->remote, memory_order_relaxed);
        atomic_store_explicit(&c->remote, pool, memory_order_relaxed);
        return 0;
    }
    pmh_block *b = atomic_exchange_explicit(&pool->xfree, NULL, memory_order_relaxed);
    if (b) (void)pmh_pool_splice(pool, b); /* counted below, from the list */
    uint8_t is_free[PMH_MAX_BLOCKS];
    const char *why;
    size_t carved = pmh_pool_free_map(h, pool, is_free, &why), nfree = 0;
    if (carved == SIZE_MAX) {
        pool_lose(h, pool);
        return 0;
    }
    for (size_t i = 0; i < carved; i++) nfree += is_free[i];
    pool->nused = (uint32_t)(carved - nfree);
    if (pool->nused == 0) {
        pool->next = r->emptied;
        r->emptied = pool;
        return 0;
    }
    if (pool->freeblock == NULL) pool_carve_or_unpurge(h, pool); /* cut before a refill */
    if (pool->freeblock) used_link(c, pool);
    return 0;
}

void pmh_rebuild_cut_caches(pm_heap *h) {
    /* Every remote stack is made anew by the walk (every pool is seen). */
    for (pmh_cache *c = &h->main; c; c = pmh_next_cache(h, c)) {
        atomic_store_explicit(&c->remote, NULL, memory_order_relaxed);
        if (c->cut)
            for (unsigned k = 0; k < PMH_MAX_CLASSES; k++) c->used[k] = NULL;
    }
    rebuild r = {NULL};
    pmh_for_each_pool(h, rebuild_pool, &r);
    for (pmh_pool *pool = r.emptied, *next; pool; pool = next) {
        next = pool->next;
        pool_became_empty(h, pool);
    }
}

/* The list ran dry with b's pop: refill, then hand b out. A tail call from
 * the fast path (heap.h), which therefore needs no saved registers. */
PM_NOINLINE void *pmh_malloc_refill(pm_heap *h, pmh_pool *pool, pmh_block *b, size_t n) {
    pool_refill(h, pool);
    /* Blocks other threads freed come back whenever a pool runs dry (this
     * pool's among them: it is relisted then if it was full), not only
     * when a class has no pool left: until then they are memory the owner
     * cannot use, and it would take fresh pools instead (larson's pattern,
     * where most frees are remote). None on a private heap. */
    pmh_cache *owner = pool->owner;
    if (atomic_load_explicit(&owner->remote, memory_order_relaxed)) pmh_cache_collect(h, owner);
    pmh_block_given(b, n, pool->size);
    return b;
}

/* Class c of cache has no listed pool: give it one from an arena. */
static bool cache_take_pool(pm_heap *h, pmh_cache *cache, unsigned c) {
    pmh_lock(h);
    pmh_classes_init(h); /* the default heap's first pool */
    pmh_arena *a = arena_to_take_from(h);
    if (a == NULL && (a = arena_new(h)) == NULL) {
        pmh_unlock(h);
        return false;
    }
    bool committed;
    pmh_pool *pool = arena_take_pool(h, a, &committed);
    /* An empty pool of the same class keeps its carved free list, as in
     * CPython: no re-carving, block by block, of what is still there. */
    if (committed && pool->szidx == c && pool->purged == 0) {
        pool->owner = cache;
        used_link(cache, pool);
    } else {
        pool_init(h, cache, a, pool, c);
    }
    if (h->over_budget_since) release_excess(h);
    PM_ASSERT(cache->used[c] == pool && pool->freeblock != NULL);
    PMH_EXPENSIVE_CHECK(h);
    pmh_unlock(h);
    return true;
}

/* A block of class c from cache's first pool of that class. */
static inline void *pool_pop(pm_heap *h, pmh_cache *cache, unsigned c, size_t n) {
    pmh_pool *pool = cache->used[c];
    pmh_block *b = pool->freeblock, *next = blk_next(b);
    pool->nused++;
    pool->freeblock = next;
    if (pm_unlikely(next == NULL)) return pmh_malloc_refill(h, pool, b, n);
    pmh_block_given(b, n, pool->size);
    return b;
}

/* Everything the inline fast path (heap.h) leaves: size 0, a medium class
 * (its path: this call, the class lookup and the pop), a class with no
 * pool listed, a thread with no cache yet, a large block. */
PM_NOINLINE void *pmh_malloc_slow(pm_heap *h, size_t n, pmh_cache *cache) {
    if (n == 0) n = 1;
    if (n > PM_SMALL_MAX && n > pmh_block_max(h))
        return large_malloc(h, n, cache->for_runtime ? cache : NULL);
    unsigned c = pmh_class_for(h, n);
    if (pm_likely(cache->used[c] != NULL)) return pool_pop(h, cache, c, n);
    if (pm_unlikely(cache->unbound)) return pmh_ts_malloc_unbound(h, n);
    /* What other threads freed comes first (none on a private heap). */
    if (cache->used[c] == NULL && atomic_load_explicit(&cache->remote, memory_order_relaxed))
        pmh_cache_collect(h, cache);
    if (cache->used[c] == NULL && !cache_take_pool(h, cache, c)) return NULL;
    return pool_pop(h, cache, c, n);
}

/* The entry leaves the table under the lock; a raw block goes back to the
 * C library outside it (its address may then be reused at once). */
PM_NOINLINE void pmh_free_slow(pm_heap *h, void *p) {
    if (p == NULL) return;
    pmh_lock(h);
    pmh_large_slot *s = large_find(&h->large, (uintptr_t)p);
    bool raw_block = s == NULL || !s->mapped;
    if (s) {
        size_t size = s->size;
        large_remove(&h->large, s);
        if (!raw_block) large_unmap(h, p, size);
    }
    pmh_unlock(h);
    if (!raw_block) return;
    /* A raw large block, or not ours at all: the raw domain may know it
     * (CPython's rule). */
    const pm_allocator *raw = &h->domains[PM_DOMAIN_RAW];
    raw->free(raw->ctx, p);
}

PM_NOINLINE void pmh_free_miss(pm_heap *h, pmh_cache *c, void *p) {
    if (pm_unlikely(pmh_map_on_tree()) && pmh_arena_owns(h, (uintptr_t)p)) {
        pmh_pool *pool = pmh_pool_of(h, p);
        if (c == NULL || pool->owner == c) pmh_pool_push(h, pool, p);
        else pmh_free_remote(pool, p);
        return;
    }
    pmh_free_slow(h, p);
}

/* The entry points honour the heap's debug mode (cfg.debug or
 * pm_heap_enable_debug): one predictable branch on a field beside
 * pool_mask, which free reads anyway. */
void *pmh_heap_malloc(pm_heap *h, size_t n) {
    return h->threadsafe ? pmh_ts_malloc_ctx(h, n) : pmh_pool_malloc(h, n);
}

void pmh_heap_free(pm_heap *h, void *p) {
    if (h->threadsafe) pmh_ts_free_ctx(h, p);
    else pmh_pool_free(h, p);
}

void *pm_heap_malloc(pm_heap *h, size_t n) {
    if (pm_unlikely(h->special)) {
        if (h->entry_wrap) return h->entry_wrap->malloc(h->entry_wrap->ctx, n);
        if (h->debug) return pmh_debug_malloc(h, n);
        return pmh_ts_malloc_ctx(h, n);
    }
    return pmh_pool_malloc(h, n);
}

void pm_heap_free(pm_heap *h, void *p) {
    if (pm_unlikely(h->special)) {
        if (h->entry_wrap) h->entry_wrap->free(h->entry_wrap->ctx, p);
        else if (h->debug) pmh_debug_free(h, p);
        else pmh_ts_free_ctx(h, p);
        return;
    }
    pmh_pool_free(h, p);
}

static void *pool_calloc(pm_heap *h, size_t nelem, size_t elsize) {
    size_t n;
    if (__builtin_mul_overflow(nelem, elsize, &n)) return NULL;
    void *p = pmh_heap_malloc(h, n);
    if (p) memset(p, 0, n);
    return p;
}

#ifdef PM_VALGRIND
/* The size memcheck knows pool block p by (the request, not the class
 * size): it has no query for it, but GET_VBITS fails (3) on any
 * unaddressable byte, so find the first 512-byte step that fails and
 * bisect inside it (a medium block is up to 32 KiB: too big a buffer for
 * the stack). */
static size_t vg_block_size(void *p, size_t size) {
    enum { STEP = 512 };
    unsigned char vbits[STEP];
    if (!RUNNING_ON_VALGRIND) return size;
    size_t lo = 0; /* lo bytes are addressable */
    while (lo < size) {
        size_t n = size - lo < STEP ? size - lo : STEP;
        if (VALGRIND_GET_VBITS((char *)p + lo, vbits, n) == 3) break;
        lo += n;
    }
    if (lo == size) return size;
    char *base = (char *)p + lo;                     /* bytes before base are addressable */
    size_t hi = lo + STEP < size ? lo + STEP : size; /* [lo, hi) has a hole */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (VALGRIND_GET_VBITS(base, vbits, (size_t)((char *)p + mid - base)) == 3) hi = mid;
        else lo = mid;
    }
    return lo;
}
#endif

/* Move a block to a new one of n bytes; the old one is freed only once the
 * new one exists, so failure leaves p intact. */
static void *realloc_move(pm_heap *h, void *p, size_t old_size, size_t n) {
    void *q = pmh_heap_malloc(h, n);
    if (q == NULL) return NULL;
    /* old_size may be the class size, beyond what the user asked for: let
     * the sanitizers see the copy of those bytes as legitimate. */
    pm_unpoison(p, old_size);
    pm_vg_defined(p, old_size);
    memcpy(q, p, old_size < n ? old_size : n);
    pmh_heap_free(h, p);
    return q;
}

/* The large block s (at p) resized to n > block_max bytes, of the kind
 * n calls for (*mapped): a mapping grows or shrinks without copying, a
 * raw block through the raw domain's realloc, and a block that changes
 * kind is copied once. NULL when it cannot; p is then unchanged. */
static void *large_resize(pm_heap *h, const pmh_large_slot *s, void *p, size_t n, bool *mapped) {
    bool was_mapped = s->mapped;
    *mapped = large_maps_itself(h, n);
    if (was_mapped && *mapped) return pmos_remap(p, page_round(s->size), page_round(n));
    if (!was_mapped && !*mapped) {
        const pm_allocator *raw = &h->domains[PM_DOMAIN_RAW];
        return raw->realloc(raw->ctx, p, n);
    }
    void *q = large_get(h, n, mapped);
    if (q == NULL) return NULL;
    memcpy(q, p, s->size < n ? s->size : n);
    large_put_back(h, p, s->size, was_mapped);
    return q;
}

/* Under the lock. A mapping, or a block that changes kind, is resized
 * here; NULL with *raw_n set means: a raw block to resize through the raw
 * domain's realloc, its entry already out of the table and room reserved
 * for the result (realloc_raw_large). */
static void *realloc_large(pm_heap *h, pmh_large_slot *s, void *p, size_t n, size_t *raw_n) {
    if (!large_reserve(&h->large)) return NULL;
    s = large_find(&h->large, (uintptr_t)p); /* the table may have moved */
    bool mapped;
    if (!s->mapped && !large_maps_itself(h, n)) {
        *raw_n = s->size;
        large_remove(&h->large, s);
        return NULL;
    }
    void *q = large_resize(h, s, p, n, &mapped);
    if (q == NULL && pmh_release_kept(h)) q = large_resize(h, s, p, n, &mapped);
    if (q == NULL) {
        large_unreserve(&h->large);
        return NULL;
    }
    large_remove(&h->large, s);
    large_put(&h->large, (uintptr_t)q, n, mapped, NULL);
    return q;
}

/* The C library's realloc of a raw large block, outside the heap's lock
 * (its entry is out of the table: the old address may be reused at once),
 * then the entry of the result, or of p again when it failed. */
static void *realloc_raw_large(pm_heap *h, void *p, size_t old_n, size_t n) {
    const pm_allocator *raw = &h->domains[PM_DOMAIN_RAW];
    void *q = raw->realloc(raw->ctx, p, n);
    pmh_lock(h);
    if (q == NULL && pmh_release_kept(h)) q = raw->realloc(raw->ctx, p, n);
    if (q) large_put(&h->large, (uintptr_t)q, n, false, NULL);
    else large_put(&h->large, (uintptr_t)p, old_n, false, NULL);
    pmh_unlock(h);
    return q;
}

static void *pool_realloc(pm_heap *h, void *p, size_t n) {
    if (p == NULL) return pmh_heap_malloc(h, n);
    if (pmh_arena_owns(h, (uintptr_t)p)) {
        size_t size = pmh_pool_of(h, p)->size;
        if (n <= size && 2 * n > size) {
            /* In place: the class still fits and moving would save little. */
            pm_poison(p, size);
            pm_unpoison(p, n ? n : 1);
#ifdef PM_VALGRIND
            VALGRIND_RESIZEINPLACE_BLOCK(p, vg_block_size(p, size), n, 0);
#endif
            return p;
        }
        return realloc_move(h, p, size, n ? n : 1);
    }
    bool to_pool = n <= pmh_block_max(h);
    pmh_lock(h);
    pmh_large_slot *s = large_find(&h->large, (uintptr_t)p);
    size_t old_n = s ? s->size : 0, raw_n = 0;
    void *q = s && !to_pool ? realloc_large(h, s, p, n, &raw_n) : NULL;
    pmh_unlock(h);
    if (s && to_pool) return realloc_move(h, p, old_n, n);
    if (raw_n) return realloc_raw_large(h, p, raw_n, n);
    if (s) return q;
    const pm_allocator *raw = &h->domains[PM_DOMAIN_RAW];
    return raw->realloc(raw->ctx, p, n);
}

void *pm_heap_calloc(pm_heap *h, size_t nelem, size_t elsize) {
    if (pm_unlikely(h->special)) {
        if (h->entry_wrap) return h->entry_wrap->calloc(h->entry_wrap->ctx, nelem, elsize);
        if (h->debug) return pmh_debug_calloc(h, nelem, elsize);
    }
    return pool_calloc(h, nelem, elsize);
}

void *pm_heap_realloc(pm_heap *h, void *p, size_t n) {
    if (pm_unlikely(h->special)) {
        if (h->entry_wrap) return h->entry_wrap->realloc(h->entry_wrap->ctx, p, n);
        if (h->debug) return pmh_debug_realloc(h, p, n);
    }
    return pool_realloc(h, p, n);
}

/* The entry points as they are without a wrapper: what the recorder's
 * wrapper calls (ctx is the heap). */
static void *entry_malloc(void *ctx, size_t n) {
    pm_heap *h = ctx;
    return h->debug ? pmh_debug_malloc(h, n) : pmh_heap_malloc(h, n);
}
static void *entry_calloc(void *ctx, size_t nelem, size_t elsize) {
    pm_heap *h = ctx;
    return h->debug ? pmh_debug_calloc(h, nelem, elsize) : pool_calloc(h, nelem, elsize);
}
static void *entry_realloc(void *ctx, void *p, size_t n) {
    pm_heap *h = ctx;
    return h->debug ? pmh_debug_realloc(h, p, n) : pool_realloc(h, p, n);
}
static void entry_free(void *ctx, void *p) {
    pm_heap *h = ctx;
    if (h->debug) pmh_debug_free(h, p);
    else pmh_heap_free(h, p);
}

void pmh_heap_entries(pm_heap *h, pm_allocator *out) {
    *out = (pm_allocator){h, entry_malloc, entry_calloc, entry_realloc, entry_free};
}

void pmh_heap_set_entry_wrap(pm_heap *h, const pm_allocator *wrap) {
    h->entry_wrap = wrap;
    pmh_update_special(h);
}

size_t pm_heap_block_size(const pm_heap *h, const void *p) {
    if (pm_unlikely(h->debug != NULL)) {
        size_t n = pmh_debug_block_size(h, p);
        if (n) return n;
    }
    if (pmh_arena_owns(h, (uintptr_t)p)) return pmh_pool_of(h, p)->size;
    pmh_lock((pm_heap *)h);
    const pmh_large_slot *s = large_find(&h->large, (uintptr_t)p);
    size_t n = s ? s->size : 0;
    pmh_unlock((pm_heap *)h);
    return n;
}

size_t pm_heap_good_size(pm_heap *h, size_t n) {
    if (n == 0) n = 1; /* as pm_heap_malloc serves it */
    if (n <= PM_SMALL_MAX) return (n + PM_ALIGNMENT - 1) & ~(size_t)(PM_ALIGNMENT - 1);
    if (n > pmh_block_max(h)) return n;
    return h->class_size[pmh_class_for(h, n)];
}

/* The pool allocator as a domain table (ctx is the heap). */
void *pmh_pool_malloc_ctx(void *ctx, size_t n) { return pmh_pool_malloc(ctx, n); }
void pmh_pool_free_ctx(void *ctx, void *p) { pmh_pool_free(ctx, p); }
static void *pool_calloc_ctx(void *ctx, size_t nelem, size_t elsize) {
    return pool_calloc(ctx, nelem, elsize);
}
static void *pool_realloc_ctx(void *ctx, void *p, size_t n) { return pool_realloc(ctx, p, n); }

void pm_heap_pool_allocator(pm_heap *h, pm_allocator *out) { *out = pool_table(h); }

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

void pm_heap_set_error_handler(pm_heap *h, pm_error_handler fn, void *arg) {
    h->on_error = fn;
    h->on_error_arg = arg;
}

void pmh_report(pm_heap *h, const pm_error *err) {
    if (h->on_error) {
        h->on_error(h, err, h->on_error_arg);
        return;
    }
    fprintf(stderr, "pymm: %s\n", err->message);
    fflush(stderr);
    abort();
}
