/*
 * heap.h -- the heap's internal types, shared by the files of src/heap/.
 *
 * Vocabulary (docs/DESIGN.md draws it):
 *   arena  an OS mapping of arena_size bytes, aligned to arena_size;
 *   slot   a pool_size slice of an arena, aligned to pool_size;
 *   pool   a slot serving one size class; its header sits `colour` bytes
 *          into the slot (P1), its blocks right after the header;
 *   block  a unit of a pool handed to the user; free blocks form a LIFO list
 *          threaded through their first word.
 *
 * Invariants (pm_heap_check verifies each):
 *   I1  a cache's used[c] lists exactly the pools of class c it owns that
 *       have a free block, and every such pool's `freeblock` is non-NULL.
 *   I2  pool->nused counts its live blocks; carved blocks = nused + length
 *       of the free list (+ blocks in purged pages, which are off the list).
 *   I3  a pool with nused == 0 is on its arena's empty list (committed) or
 *       decommitted, except a class's sole listed pool, which stays listed
 *       ("parked") so that malloc/free pairs stay on the fast path.
 *   I4  arena->nfree = untouched + empty + decommitted pools; the arena sits
 *       in bucket[nfree]; buckets below h->lowest (except 0) are empty.
 *   I5  the owner map (owners.c) names h for an address's MiB iff it lies
 *       in a live arena of h.
 *   I6  arena->huge iff huge pages were asked for the arena and none of its
 *       memory has been given back since; h->narenas_huge counts them.
 *   T2  a pool in use (nused > 0, or listed) has an owner, a cache of its
 *       heap, and only that cache's used lists may hold it; an empty pool
 *       (on its arena's empty list, decommitted, untouched) has none. A
 *       private heap's caches are h->main and one per runtime made on it.
 *   P1  a pool's header is at slot + colour, colour = pmh_colour(h, slot)
 *       < PMH_COLOUR_SPAN: a function of the slot's address alone, so
 *       that free finds the header from a block's address. Headers at the
 *       same offset of every slot would all fall in one set of the L1
 *       cache (the set index is address bits 6..11): the hot headers of
 *       more than 8 classes then evict each other (docs/DESIGN.md,
 *       "Pool colours"). The slot's first colour bytes hold nothing.
 *   O1  a pool owned by a runtime's cache (for_runtime) holds only that
 *       runtime's objects and free-list blocks (pmh_cache, O-pools).
 * Sanitizer builds poison every byte the user may not touch (free blocks,
 * rounding, pool slack); the allocator reaches free-list links only through
 * blk_next/blk_set_next, which lift the poison for the one word.
 */
#ifndef PM_HEAP_HEAP_H
#define PM_HEAP_HEAP_H

#include "pm_config.h"
#include "pymm.h"
#include "heap/process.h" /* the owner map's root, read by the free path */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- limits ------------------------------------------------------------ */

#define PMH_POOL_MIN (4u << 10)
#define PMH_POOL_MAX (256u << 10) /* pages of a pool fit a uint64 mask */
#define PMH_ARENA_MAX (64u << 20)
/* The owner map (owners.c; its shape in process.h) has one slot per MiB
 * of address space: arenas are at least a MiB and aligned to their size. */
#define PMH_ARENA_MIN (1u << PMH_MAP_SHIFT)
#define PMH_POOL_HEADER 128 /* bytes; two cache lines (pmh_pool) */
/* A header's colour (P1) is below this: it lies in its slot's first page,
 * and the slot is pool_size-aligned, so header & ~(span - 1) is the slot
 * and header & (span - 1) the colour, with no heap at hand. */
#define PMH_COLOUR_SPAN 4096u
/* Colours are multiples of 64 bytes (a line), eight of them (four with
 * 256 KiB pools), so a pool's blocks are 64-byte aligned at least. */
#define PMH_COLOUR_SHIFT 8
/* The colour mask for pools of `pool_size` bytes (a power of two): it
 * picks three bits of the pool number at or above bit 14 (address bits
 * from PMH_COLOUR_SHIFT + 6), so that the step is a line for pools up to
 * 16 KiB (smaller pools change colour every 16 KiB), and the colour stays
 * below PMH_COLOUR_SPAN (256 KiB pools: two bits, 1 KiB steps). The mask
 * is also the largest colour. */
#define PMH_COLOUR_MASK(pool_size)                                                                 \
    ((pool_size) >= (256u << 10)   ? (uintptr_t)0xC00                                              \
     : (pool_size) >= (128u << 10) ? (uintptr_t)0xE00                                              \
     : (pool_size) >= (64u << 10)  ? (uintptr_t)0x700                                              \
     : (pool_size) >= (32u << 10)  ? (uintptr_t)0x380                                              \
                                   : (uintptr_t)0x1C0)
/* Arenas ask for transparent huge pages once the heap already holds this
 * much carved in its pools: a small heap stays small (a huge page is resident as a
 * whole once touched: at 8 MiB, pymm-python's py-trees script grew its
 * peak RSS by 5%), a large one takes a fault and a TLB entry per 2 MiB. */
#define PMH_HUGE_AFTER_BYTES (16u << 20)
/* Large blocks from this size on are mapped by the heap itself, with huge
 * pages (large_map). */
#define PMH_HUGE_BLOCK_MIN (4u << 20)
/* The largest freed mapping kept for the next large block (large_unmap):
 * glibc's own mmap threshold stops rising there, so blocks up to it are
 * reused by glibc too, and beyond it both fault every time. */
#define PMH_LARGE_SPARE_MAX (32u << 20)

/* Size classes (classes.c). Small classes step by 16 bytes up to
 * PM_SMALL_MAX: class (n - 1) >> 4, found inline by the fast paths.
 * Medium classes follow, up to the heap's block_max: eight per doubling
 * of the size, each widened to the largest multiple of 16 that leaves the
 * same number of blocks in a pool (no slack is wasted that a bigger block
 * could use), kept only while a pool holds at least PMH_MEDIUM_MIN_BLOCKS
 * blocks, and never above PMH_BLOCK_CAP. */
#define PMH_BLOCK_CAP (32u << 10)
#define PMH_MEDIUM_PER_DOUBLING 8
#define PMH_MEDIUM_MIN_BLOCKS 3
#define PMH_MAX_MEDIUM (6 * PMH_MEDIUM_PER_DOUBLING) /* 512 B .. 32 KiB */
#define PMH_MAX_CLASSES (PM_NUM_CLASSES + PMH_MAX_MEDIUM)
#define PMH_MEDIUM_SLOTS ((PMH_BLOCK_CAP - PM_SMALL_MAX) / PM_ALIGNMENT)
_Static_assert(PMH_MAX_MEDIUM <= PM_MAX_MEDIUM_CLASSES, "pm_heap_stats.medium holds every class");
_Static_assert(PMH_MAX_CLASSES <= 255, "medium_class holds a class number in a byte");
_Static_assert(PMH_BLOCK_CAP <= UINT16_MAX, "pool->size holds a block size in 16 bits");

static inline unsigned pmh_small_class(size_t n) { return (unsigned)((n - 1) >> 4); }

/* ---- blocks, pools, arenas --------------------------------------------- */

typedef struct pmh_block {
    struct pmh_block *next;
} pmh_block;

typedef struct pmh_arena pmh_arena;

typedef struct pmh_cache pmh_cache;

/* A pool's header: two cache lines. The first is its owner's (only the
 * thread working on pool->owner reads or writes it, T2); the second is
 * written by other threads' frees (thread-safe heaps: docs/DESIGN.md,
 * "Threads"), so that their pushes do not slow the owner's pops. */
typedef struct pmh_pool {
    pmh_block *freeblock;   /* first free block, NULL when full          */
    uint32_t nused;         /* live blocks                               */
    uint16_t szidx;         /* size class                                */
    uint16_t size;          /* its block size (h->class_size[szidx])    */
    uint32_t nextoffset;    /* offset of the next block never carved     */
    uint32_t maxnextoffset; /* last offset at which a block still fits  */
    struct pmh_pool *next;  /* used list of its class, or arena's empty */
    struct pmh_pool *prev;
    pmh_arena *arena;
    uint64_t purged;                         /* pages given back while the pool is in use */
    pmh_cache *owner;                        /* the cache whose used lists may hold it (T2) */
    _Alignas(64) _Atomic(pmh_block *) xfree; /* blocks freed by others */
    struct pmh_pool *remote_next;            /* link of owner->remote  */
    /* The allocation recorder's (diag/trace.c): its records of this pool's
     * blocks, for recorder number trace_gen; a cache of its own map, so
     * zero (a new pool, a decommitted header) only costs it a lookup. */
    _Atomic(void *) trace;
    _Atomic uint64_t trace_gen;
} pmh_pool;

struct pmh_arena {
    uintptr_t base;
    pmh_arena *next, *prev; /* bucket list, by nfree                     */
    uint32_t npools;
    uint32_t nfree;  /* pools with no live block                  */
    uint32_t nfresh; /* pools [nfresh, npools) never touched      */
    uint32_t nempty; /* committed empty pools, on `empty`         */
    bool huge;       /* transparent huge pages asked for (I6)     */
    pmh_pool *empty;
    uint32_t ndecommitted; /* empty pools given back: indices below     */
    uint32_t decommitted[];
};

/* Large blocks: open-addressing table, pointer -> requested size. */
typedef struct pmh_large_slot {
    uintptr_t ptr;
    size_t size;
    bool mapped; /* the heap's own mapping (large_map), not the raw domain's */
    /* The runtime's cache whose object this block is (the census walks a
     * runtime's large objects by it: diag/census.c), or NULL for any other
     * block. Objects are never resized, so a realloc's result has NULL. */
    const struct pmh_cache *objects;
} pmh_large_slot;
typedef struct pmh_large_table {
    pmh_large_slot *slots;
    size_t cap, count, tombs;
    size_t reserved; /* inserts promised (large_reserve), not yet made */
    uint64_t bytes;
} pmh_large_table;

typedef struct pmh_debug pmh_debug;

/* One owner's pools (docs/DESIGN.md, "Threads"): one thread at a time
 * works on a cache. A private heap has h->main, at its very start, so
 * that h->main.used[c] is at the heap's own address, and one more per
 * runtime made on it (on h->caches).
 *   O-pools  a runtime's cache (for_runtime) serves that runtime's objects
 *       and nothing else: the object layer allocates from it inline, every
 *       other caller (domains, pm_heap_*, threads) from other caches, and a
 *       runtime never adopts a cache that served anyone else. So a block
 *       of a pool it owns is an object, a free-list block or free; the
 *       census (diag/census.c) counts objects by walking those pools and
 *       the large blocks marked with the cache (pmh_large_slot.objects). */
struct pmh_cache {
    pmh_pool *used[PMH_MAX_CLASSES]; /* I1: read by the fast paths     */
    pm_heap *heap;
    _Atomic(pmh_pool *) remote; /* pools others freed into (T1)      */
    pmh_cache *next;            /* the heap's list of thread caches  */
    /* Thread-safe heaps only (threads.c); under the heap's lock: */
    uint64_t heap_id;      /* h->id: a binding outlives its heap     */
    pmh_cache *bound_next; /* the bound thread's other caches        */
    bool abandoned;        /* its thread exited: no owner at work    */
    bool for_runtime;      /* a runtime's (pmh_cache_for_runtime): its
                              pools hold that runtime's objects and
                              nothing else (O-pools, below)          */
    bool cut;              /* its thread vanished in fork: to rebuild */
    bool unbound;          /* threads.c's stand-in: no pool, ever    */
    _Atomic bool retired;  /* its heap is gone (the thread frees it):
                              set by pm_heap_destroy, read by the thread
                              with no lock (threads.c) */
};

struct pm_heap {
    /* Hot fields first: the fast paths read only these. */
    pmh_cache main;        /* a private heap's only cache (first: see pmh_cache) */
    uintptr_t pool_mask;   /* ~(pool_size - 1)                      */
    uintptr_t colour_mask; /* pmh_colour: the slot's bits that colour */
    pmh_debug *debug;      /* debug hooks, or NULL                  */
    bool special;          /* debug hooks, thread-safe or traced:
                            the pm_heap_* entry points leave the
                            private fast path (one branch)        */
    pm_allocator domains[PM_NUM_DOMAINS];

    pm_heap_config config;
    size_t pool_size, arena_size;
    uint32_t pools_per_arena;
    /* Size classes (classes.c: C1-C3). block_max is 0 until they are
     * made (the default heap makes them on first need). */
    _Atomic size_t block_max; /* the largest request a pool serves      */
    uint32_t nclasses;        /* small and medium                        */
    uint16_t class_size[PMH_MAX_CLASSES];
    uint8_t medium_class[PMH_MEDIUM_SLOTS]; /* C2 */
    pmh_arena **buckets;                    /* [0 .. pools_per_arena]                */
    uint32_t lowest;                        /* lower bound of usable buckets (>= 1)  */

    uint64_t narenas, narenas_peak, arenas_allocated, arenas_reclaimed;
    uint64_t narenas_huge;      /* arenas with huge pages asked (I6)     */
    bool hugepages;             /* ask for them (flags, PYMM_HUGEPAGES)  */
    bool env_read;              /* the default heap read PYMM_HUGEPAGES */
    uint64_t nempty_arenas;     /* arenas whose every pool is free       */
    uint64_t nempty_pools;      /* committed empty pools, all arenas     */
    uint64_t over_budget_since; /* pmos_now_ms() when empty memory went
                                   beyond the budget; 0: within it      */
    uint64_t bytes_returned;
    uint64_t pages_decommitted; /* pages purged inside used pools        */
    pmh_large_table large;
    void *large_spare; /* a freed large mapping kept, or NULL   */
    size_t large_spare_size;

    pm_error_handler on_error;
    void *on_error_arg;
    bool is_default;

    /* Thread-safe heaps (threads.c): the lock of everything not in a
     * cache, the thread caches, and the heap's place in the process's
     * registry (fork holds every such lock). id is never reused. */
    bool threadsafe;
    uint64_t id;
    pthread_mutex_t lock; /* recursive: debug hooks wrap the allocator */
    pmh_cache *caches;
    pm_heap *ts_next;

    /* Every live heap (pmh_process.heaps, under its lock), and the
     * recorder's wrapper of the pm_heap_* entry points while it traces
     * (pmh_heap_set_entry_wrap), or NULL. */
    pm_heap *all_next;
    const pm_allocator *entry_wrap;
};

/* ---- cross-file functions of the heap layer ---------------------------- */

/* h->special from what h is: debug hooks, thread-safe, or wrapped. */
static inline void pmh_update_special(pm_heap *h) {
    h->special = h->debug != NULL || h->threadsafe || h->entry_wrap != NULL;
}

/* heap.c: the pm_heap_* entry points as a table, without a wrapper; and
 * the wrapper that pm_heap_malloc and friends call instead while it is
 * set (the recorder's, diag/trace.c; NULL to remove). Set it while no
 * other thread uses h (pm_trace_start's contract). */
PM_HIDDEN void pmh_heap_entries(pm_heap *h, pm_allocator *out);
PM_HIDDEN void pmh_heap_set_entry_wrap(pm_heap *h, const pm_allocator *wrap);

/* classes.c: make h's classes (under the lock for the default heap; a
 * no-op once made), or make them under the lock and return block_max. */
PM_HIDDEN void pmh_classes_init(pm_heap *h);
PM_HIDDEN size_t pmh_classes_make(pm_heap *h);

/* The largest request a pool of h serves, its classes made if need be. */
static inline size_t pmh_block_max(pm_heap *h) {
    size_t max = atomic_load_explicit(&h->block_max, memory_order_acquire);
    return pm_likely(max != 0) ? max : pmh_classes_make(h);
}

/* The class that serves a request of n bytes, 1 <= n <= block_max (C2). */
static inline unsigned pmh_class_for(const pm_heap *h, size_t n) {
    if (n <= PM_SMALL_MAX) return pmh_small_class(n);
    return h->medium_class[pmh_small_class(n) - PM_NUM_CLASSES];
}

/* threads.c: the heap's lock, for the slow paths that touch what no cache
 * owns (arenas, empty pools, the budget, large blocks, debug tables). A
 * private heap takes none. Recursive: the debug hooks hold it around the
 * allocator they wrap. */
static inline void pmh_lock(pm_heap *h) {
    if (h->threadsafe) pthread_mutex_lock(&h->lock);
}
static inline void pmh_unlock(pm_heap *h) {
    if (h->threadsafe) pthread_mutex_unlock(&h->lock);
}
/* Make h thread-safe (pm_heap_new with PM_HEAP_THREADSAFE): 0, or -1 with
 * nothing changed. pmh_ts_destroy undoes it. */
PM_HIDDEN int pmh_ts_init(pm_heap *h);
PM_HIDDEN void pmh_ts_destroy(pm_heap *h);
/* The pool allocator of a thread-safe heap, as its domains' table. */
PM_HIDDEN void *pmh_ts_malloc_ctx(void *ctx, size_t n);
PM_HIDDEN void pmh_ts_free_ctx(void *ctx, void *p);
/* The same for the default heap, which finds the thread's cache with one
 * thread-local load (its fast-path budget: docs/DESIGN.md, "Threads"). */
PM_HIDDEN void *pmh_default_malloc_ctx(void *ctx, size_t n);
PM_HIDDEN void pmh_default_free_ctx(void *ctx, void *p);
/* The calling thread's cache of thread-safe heap h, or NULL when none
 * could be made (out of memory). */
PM_HIDDEN pmh_cache *pmh_ts_cache(pm_heap *h);
/* malloc on h by a thread whose cache is the stand-in `unbound`: binds the
 * thread to a cache first (or, in its exit, borrows one). */
PM_HIDDEN void *pmh_ts_malloc_unbound(pm_heap *h, size_t n);
/* A new cache of h for a runtime (one thread at a time uses it, as the
 * runtime), bound to no thread, on h->caches: never one adopted, whose
 * pools would hold other blocks (O-pools); NULL when out of memory.
 * pmh_cache_leave gives it back: freed when it owns no pool any more,
 * else abandoned (a thread may adopt it; a private heap frees it with
 * itself). */
PM_HIDDEN pmh_cache *pmh_cache_for_runtime(pm_heap *h);
PM_HIDDEN void pmh_cache_leave(pm_heap *h, pmh_cache *c);
/* Visit the large blocks that are objects of runtime cache c (O-pools),
 * as pmh_large_walk does; under the lock for a thread-safe heap. */
PM_HIDDEN int pmh_large_walk_objects(const pm_heap *h, const pmh_cache *c, pm_walk_fn fn,
                                     void *arg);
/* Runtime cache c is left: its large objects are no runtime's any more
 * (a cache made later at c's address must not find them). Under the lock. */
PM_HIDDEN void pmh_large_disown(pm_heap *h, const pmh_cache *c);
/* The calling thread's cache of h if it has one; none is made. */
PM_HIDDEN pmh_cache *pmh_ts_bound_cache(const pm_heap *h);
/* No cache of h but the calling thread's is in use (abandoned ones
 * aside; h->main, the default runtime's, is not counted): the expensive
 * checks may walk every cache. Under h's lock. */
PM_HIDDEN bool pmh_ts_alone(const pm_heap *h);
/* The caches of h after c (from &h->main on): a thread-safe heap's thread
 * caches follow its unused main. Under the lock for a thread-safe heap. */
static inline pmh_cache *pmh_next_cache(const pm_heap *h, const pmh_cache *c) {
    return c == &h->main ? h->caches : c->next;
}
/* malloc and free on any heap: its private path, or the thread's cache. */
PM_HIDDEN void *pmh_heap_malloc(pm_heap *h, size_t n);
PM_HIDDEN void pmh_heap_free(pm_heap *h, void *p);
/* Bring back the blocks other threads freed into c's pools (T1); the
 * caller works on c (its thread's, or an abandoned one under the lock). */
PM_HIDDEN void pmh_cache_collect(pm_heap *h, pmh_cache *c);
/* The pool has a free block again, or fewer live ones: relist it, park
 * it, or give it back to its arena (heap.c). */
PM_HIDDEN void pmh_pool_settle(pm_heap *h, pmh_pool *pool, bool was_full);

/* heap.c */
/* Visit every pool of h whose header is there to read: carved at least
 * once and not given back (in use, parked, or empty and committed), in
 * arena order, until fn returns non-zero (returned). Allocates nothing, so
 * that stats, walk and check work when memory has run out. */
typedef int (*pmh_pool_visit_fn)(const pm_heap *h, const pmh_arena *a, pmh_pool *pool, void *arg);
PM_HIDDEN int pmh_for_each_pool(const pm_heap *h, pmh_pool_visit_fn fn, void *arg);
/* In a child of fork(), the threads of the caches marked `cut` are gone,
 * perhaps cut in the middle of an operation on their pools: make those
 * pools and lists whole again, in one walk over h's pools (every lock
 * held, no other thread yet). */
PM_HIDDEN void pmh_rebuild_cut_caches(pm_heap *h);
PM_HIDDEN void pmh_arena_release_empty(pm_heap *h, uint64_t keep);
PM_HIDDEN void pmh_purge_empty_pools(pm_heap *h, uint64_t target);
PM_HIDDEN bool pmh_release_kept(pm_heap *h);
/* Unmap the spare large mapping, if any (trim, destroy, out of memory). */
PM_HIDDEN void pmh_release_large_spare(pm_heap *h);
PM_HIDDEN void pmh_unpark_pools(pm_heap *h, pmh_cache *c);
PM_HIDDEN bool pmh_large_contains(const pm_heap *h, const void *p);
PM_HIDDEN int pmh_large_walk(const pm_heap *h, pm_walk_fn fn, void *arg);
PM_HIDDEN void pmh_report(pm_heap *h, const pm_error *err);

/* The end of field f of struct type T: the size of a layout that ends
 * with f (pymm.h, "The API as a contract"). */
#define PMH_END_OF(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))
/* Copy a struct the caller filled (its first field a size_t `size`) into
 * dst, which holds known bytes of the library's layout with the defaults
 * in place: the bytes the caller's size covers replace them, size 0
 * meaning base (the first layout). Then dst's size is known. Returns NULL,
 * or buf saying why src is refused: a size below base, or bytes set
 * beyond known (fields this library does not have). what names the
 * struct in the message. */
PM_HIDDEN const char *pmh_struct_read(void *dst, size_t known, const void *src, size_t base,
                                      const char *what, char *buf, size_t buflen);
/* Copy the library's known-byte struct src into the caller's, of size
 * bytes: at most size bytes are written. Returns the bytes written. */
static inline size_t pmh_struct_write(void *dst, size_t size, const void *src, size_t known) {
    size_t n = size < known ? size : known;
    if (n) memcpy(dst, src, n);
    return n;
}
PM_HIDDEN extern pm_heap pmh_default_heap;

/* domain.c: the live table of a domain (it follows later set_allocator
 * calls), for layers that allocate in hot loops and want no extra call
 * per block (the object layer's runtimes). */
PM_HIDDEN const pm_allocator *pmh_allocator_ref(const pm_heap *h, pm_domain d);
/* domain.c: the raw domain's default table (the C library's allocator). */
PM_HIDDEN void *pmh_raw_malloc(void *ctx, size_t n);
PM_HIDDEN void *pmh_raw_calloc(void *ctx, size_t nelem, size_t elsize);
PM_HIDDEN void *pmh_raw_realloc(void *ctx, void *p, size_t n);
PM_HIDDEN void pmh_raw_free(void *ctx, void *p);
PM_HIDDEN void pmh_domains_init(pm_heap *h);

/* Free-list links, reached without tripping sanitizers on poisoned blocks. */
PM_NO_ASAN static inline pmh_block *blk_next(pmh_block *b) {
#ifdef PM_VALGRIND
    pm_vg_defined(b, sizeof *b);
    pmh_block *n = b->next;
    pm_vg_noaccess(b, sizeof *b);
    return n;
#else
    return b->next;
#endif
}

PM_NO_ASAN static inline void blk_set_next(pmh_block *b, pmh_block *n) {
    pm_vg_undefined(b, sizeof *b);
    b->next = n;
    pm_vg_noaccess(b, sizeof *b);
}

/* The colour of the slot holding address p (P1): two or three bits of its pool
 * number picked by the heap's mask, times the colour step. The shift is
 * fixed so that free pays a shift, an and and an add for it. */
static inline uintptr_t pmh_colour(const pm_heap *h, const void *p) {
    return ((uintptr_t)p >> PMH_COLOUR_SHIFT) & h->colour_mask;
}

/* The slot, and the pool header, of a block of h's pools. */
static inline uintptr_t pmh_slot_of(const pm_heap *h, const void *p) {
    return (uintptr_t)p & h->pool_mask;
}
static inline pmh_pool *pmh_pool_of(const pm_heap *h, const void *p) {
    return (pmh_pool *)(pmh_slot_of(h, p) + pmh_colour(h, p));
}

/* A header's own colour and slot, read from its address (P1). */
static inline uintptr_t pmh_pool_colour(const pmh_pool *pool) {
    return (uintptr_t)pool & (PMH_COLOUR_SPAN - 1);
}
static inline uintptr_t pmh_pool_slot(const pmh_pool *pool) {
    return (uintptr_t)pool & ~(uintptr_t)(PMH_COLOUR_SPAN - 1);
}

/* The blocks a pool of block size `size` holds once carved whole. */
static inline size_t pmh_pool_capacity(const pm_heap *h, const pmh_pool *pool, size_t size) {
    return (h->pool_size - pmh_pool_colour(pool) - PMH_POOL_HEADER) / size;
}

/* Every block of a pool is carved at header + k * size. */
static inline bool pmh_is_block_start(const pmh_pool *pool, const void *p) {
    uintptr_t off = (uintptr_t)p - (uintptr_t)pool;
    size_t size = pool->size;
    return off >= PMH_POOL_HEADER && (off - PMH_POOL_HEADER) % size == 0 && off < pool->nextoffset;
}

/* owners.c: the process-wide owner map, one slot per MiB (M1-M3). */
PM_HIDDEN bool pmh_map_set(uintptr_t base, size_t size, const pm_heap *h);

/* The owner map's two reads (M1-M3): the table's size (0 until the first
 * arena: M1), then a slot. They race with the map's writers by design. On
 * x86-64 they are plain loads, so that the compiler folds each into its
 * compare (it never folds an atomic load: two instructions of the free
 * path's budget); a word-sized aligned load is atomic there, loads are not
 * reordered by the processor (TSO), and the signal fence keeps the compiler
 * from reading the table before its size (M1's acquire). Elsewhere, and
 * under ThreadSanitizer, they are the atomic loads they stand for. */
#if defined(__x86_64__) && !PM_UNDER_TSAN
#define PMH_MAP_SLOTS_READ() (pmh_process.map_slots)
#define PMH_MAP_SLOT_READ(mib) (atomic_signal_fence(memory_order_acquire), pmh_process.map[mib])
#else
#define PMH_MAP_SLOTS_READ() __atomic_load_n(&pmh_process.map_slots, __ATOMIC_ACQUIRE)
#define PMH_MAP_SLOT_READ(mib) __atomic_load_n(&pmh_process.map[mib], __ATOMIC_RELAXED)
#endif

/* owners.c: the slot of MiB number mib in the fallback tree (M4), or
 * NULL; and whether the process keeps its map there. */
PM_HIDDEN const pm_heap *pmh_map_tree_owner(uintptr_t mib);
static inline bool pmh_map_on_tree(void) {
    return __atomic_load_n(&pmh_process.map_tree, __ATOMIC_ACQUIRE);
}

/* The heap whose live arena holds address a, or NULL: a compare and one
 * load (the tree's lookup in a process that could not reserve the
 * table: M4), no lock, no touch of memory that may be unmapped. */
static inline const pm_heap *pmh_map_owner(uintptr_t a) {
    uintptr_t mib = a >> PMH_MAP_SHIFT;
    if (pm_likely(mib < PMH_MAP_SLOTS_READ())) return PMH_MAP_SLOT_READ(mib);
    return pm_unlikely(pmh_map_on_tree()) ? pmh_map_tree_owner(mib) : NULL;
}

/* Does address a lie in one of h's arenas (I5)? */
static inline bool pmh_arena_owns(const pm_heap *h, uintptr_t a) { return pmh_map_owner(a) == h; }

/* The free fast paths' question: pmh_arena_owns from the table alone,
 * spelled so that each branch has its own compare. false for every
 * address of a process on the tree (M4): the caller's miss path,
 * pmh_free_miss, asks again with pmh_arena_owns. */
static inline bool pmh_arena_owns_fast(const pm_heap *h, uintptr_t a) {
    uintptr_t mib = a >> PMH_MAP_SHIFT;
    if (pm_unlikely(mib >= PMH_MAP_SLOTS_READ())) return false;
    return PMH_MAP_SLOT_READ(mib) == h;
}

/* ---- the fast paths -------------------------------------------------------
 * Inline here so that the object layer, which allocates most, calls no
 * function when its obj-domain table is the heap's own (pmh_pool_malloc_ctx):
 * a pop or a push on the size class's first pool. Everything else is the
 * out-of-line slow paths of heap.c. */
PM_HIDDEN void *pmh_malloc_refill(pm_heap *h, pmh_pool *pool, pmh_block *b, size_t n);
PM_HIDDEN void *pmh_malloc_slow(pm_heap *h, size_t n, pmh_cache *c);
PM_HIDDEN void pmh_free_slow(pm_heap *h, void *p);
/* The free fast paths' miss: p is a pool block of h all the same when the
 * process keeps its owner map in the tree (owners.c, M4): pushed as the
 * fast path would (c: the thread's cache; NULL on a private heap, whose
 * fast path pushes on any of its pools); else pmh_free_slow. */
PM_HIDDEN void pmh_free_miss(pm_heap *h, pmh_cache *c, void *p);
/* The arena gives memory back: huge pages would make the kernel fault its
 * holes in again whole (khugepaged), so they are asked against (I6). */
PM_HIDDEN void pmh_arena_drop_huge(pm_heap *h, pmh_arena *a);
PM_HIDDEN void pmh_pool_transition(pm_heap *h, pmh_pool *pool, bool was_full);
/* The pool allocator's table entries (POOL_TABLE in heap.c). */
PM_HIDDEN void *pmh_pool_malloc_ctx(void *ctx, size_t n);
PM_HIDDEN void pmh_pool_free_ctx(void *ctx, void *p);

/* What the sanitizers must learn when a block changes hands. */
static inline void pmh_block_given(void *b, size_t n, size_t size) {
    (void)size;
    pm_unpoison(b, n);
    pm_vg_malloclike(b, n);
}

static inline void pmh_block_taken_back(void *b, size_t size) {
    pm_vg_freelike(b);
    pm_vg_noaccess(b, size);
    pm_poison(b, size);
    (void)size;
}

/* malloc on cache c of heap h. */
static inline void *pmh_cache_malloc(pm_heap *h, pmh_cache *c, size_t n) {
    if (pm_likely(n - 1 < PM_SMALL_MAX)) {
        pmh_pool *pool = c->used[(n - 1) >> 4];
        if (pm_likely(pool != NULL)) {
            pmh_block *b = pool->freeblock;
            pmh_block *next = blk_next(b);
            pool->nused++;
            pool->freeblock = next;
            if (pm_unlikely(next == NULL)) return pmh_malloc_refill(h, pool, b, n);
            pmh_block_given(b, n, pool->size);
            return b;
        }
    }
    return pmh_malloc_slow(h, n, c); /* n stays in its register */
}

static inline void *pmh_pool_malloc(pm_heap *h, size_t n) {
    return pmh_cache_malloc(h, &h->main, n);
}

/* pmh_cache_malloc's fast path alone, for a size the caller knows is small
 * (1..PM_SMALL_MAX): NULL, with nothing changed, when it would need the
 * slow path. For callers whose own fast path makes no call. */
static inline void *pmh_cache_try_malloc(pmh_cache *c, size_t n) {
    pmh_pool *pool = c->used[(n - 1) >> 4];
    if (pm_unlikely(pool == NULL)) return NULL;
    pmh_block *b = pool->freeblock, *next = blk_next(b);
    if (pm_unlikely(next == NULL)) return NULL;
    pool->nused++;
    pool->freeblock = next;
    pmh_block_given(b, n, pool->size);
    return b;
}

static inline void *pmh_pool_try_malloc(pm_heap *h, size_t n) {
    return pmh_cache_try_malloc(&h->main, n);
}

/* Push block p on its pool, which the calling thread's cache owns. */
static inline void pmh_pool_push(pm_heap *h, pmh_pool *pool, void *p) {
    pmh_block *b = p, *head = pool->freeblock;
    pmh_block_taken_back(b, pool->size);
    blk_set_next(b, head);
    pool->freeblock = b;
    if (pm_unlikely(head == NULL)) {
        pmh_pool_transition(h, pool, true); /* counts the block out itself */
    } else if (pm_unlikely(--pool->nused == 0)) {
        /* A class's sole pool stays parked: no slow path (I3). */
        if (((uintptr_t)pool->prev | (uintptr_t)pool->next) != 0)
            pmh_pool_transition(h, pool, false);
    }
}

PM_HIDDEN void pmh_free_remote(pmh_pool *pool, void *p);
/* threads.c: the list b.. (blocks others freed, from xfree) put at the
 * head of pool's free list; their number. The caller settles the counts. */
PM_HIDDEN uint32_t pmh_pool_splice(pmh_pool *pool, pmh_block *b);

/* free on cache c of heap h: a pool c owns takes the block back as on a
 * private heap; another cache's goes the remote way (threads.c). On a
 * private heap every pool's owner is h->main. */
static inline void pmh_cache_free(pm_heap *h, pmh_cache *c, void *p) {
    if (pm_likely(pmh_arena_owns_fast(h, (uintptr_t)p))) {
        pmh_pool *pool = pmh_pool_of(h, p);
        if (pm_likely(pool->owner == c)) pmh_pool_push(h, pool, p);
        else pmh_free_remote(pool, p);
        return;
    }
    pmh_free_miss(h, c, p);
}

static inline void pmh_pool_free(pm_heap *h, void *p) {
    if (pm_likely(pmh_arena_owns_fast(h, (uintptr_t)p))) {
        pmh_pool_push(h, pmh_pool_of(h, p), p);
        return;
    }
    pmh_free_miss(h, NULL, p);
}

/* trim.c */
PM_HIDDEN bool pmh_pool_unpurge_page(pm_heap *h, pmh_pool *pool);
/* Mark in `is_free` (one byte per carved block) every free block of a used
 * pool: on its free list or starting in a purged page. Returns the number
 * of carved blocks, or SIZE_MAX when the free list is corrupt (with a
 * reason in *why). */
PM_HIDDEN size_t pmh_pool_free_map(const pm_heap *h, const pmh_pool *pool, uint8_t *is_free,
                                   const char **why);
#define PMH_MAX_BLOCKS ((PMH_POOL_MAX - PMH_POOL_HEADER) / PM_ALIGNMENT)

/* debug.c */
/* The pool allocator's own calls (pm_heap_malloc and friends) in debug
 * mode: checked like a fourth domain, PMH_DOMAIN_POOL, whose wrapped table
 * is the pool allocator itself. */
#define PMH_DOMAIN_POOL PM_NUM_DOMAINS
PM_HIDDEN void *pmh_debug_malloc(pm_heap *h, size_t n);
PM_HIDDEN void *pmh_debug_calloc(pm_heap *h, size_t nelem, size_t elsize);
PM_HIDDEN void *pmh_debug_realloc(pm_heap *h, void *p, size_t n);
PM_HIDDEN void pmh_debug_free(pm_heap *h, void *p);
PM_HIDDEN size_t pmh_debug_block_size(const pm_heap *h, const void *p);
PM_HIDDEN void pmh_debug_release(pm_heap *h, int raw);
PM_HIDDEN void pmh_debug_destroy(pm_heap *h);
PM_HIDDEN int pmh_debug_check(pm_heap *h, char *buf, size_t buflen);
PM_HIDDEN int pmh_debug_walk(const pm_heap *h, pm_walk_fn fn, void *arg);
PM_HIDDEN void pmh_debug_stats(const pm_heap *h, uint64_t *rounding, uint64_t *overhead);
/* The serial of a freed block still in the debug quarantine, or 0 (for the
 * object layer's report of a call on a freed object). */
PM_HIDDEN uint64_t pmh_debug_freed_serial(const pm_heap *h, const void *p);

/* stats.c */
PM_HIDDEN void pmh_stats_atexit_setup(void);
#ifdef PM_EXPENSIVE
/* pm_heap_check's structure checks (I1-I5; not the debug hooks' records,
 * which may be mid-update) on a slow path's way out: abort with the reason
 * when one fails. */
PM_HIDDEN void pmh_expensive_check(pm_heap *h, const char *file, int line);
#define PMH_EXPENSIVE_CHECK(h) pmh_expensive_check((h), __FILE__, __LINE__)
#else
#define PMH_EXPENSIVE_CHECK(h) ((void)0)
#endif
#ifdef PM_VALGRIND
PM_HIDDEN void pmh_vg_forget_pool_blocks(const pm_heap *h);
#endif

#endif
