/*
 * pymm.h -- the public interface of pymm, CPython's memory-management model
 * as a C library.
 *
 * This is the only header a user includes. Everything it declares carries the
 * prefix `pm_` (functions, types) or `PM_` (constants).
 *
 * Layer 1, the heap
 * -----------------
 * A heap (`pm_heap`) owns arenas obtained from the OS (1 MiB by default),
 * carved lazily into pools (16 KiB by default); each pool serves one size
 * class of 16-byte steps for requests of at most PM_SMALL_MAX bytes. Larger
 * requests go to the heap's raw domain. Every small block is 16-byte aligned.
 *
 * A heap is used by one thread at a time: the caller serializes (as CPython's
 * interpreter lock does). Different heaps on different threads run in
 * parallel; they share no mutable state.
 *
 * The default heap (`pm_heap_default()`) needs no set-up. The `pm_raw_*`,
 * `pm_mem_*` and `pm_obj_*` shorthands go through the default heap's domain
 * tables, exactly as CPython's PyMem_RawMalloc / PyMem_Malloc /
 * PyObject_Malloc go through its process-wide tables. Domain tables here are
 * per heap.
 *
 * Ownership rule for memory: a block is released through the same heap and
 * the same domain that gave it. Debug mode (PYMM_MALLOC=debug or
 * pm_heap_enable_debug) checks this rule and reports every breach.
 */
#ifndef PYMM_H
#define PYMM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYMM_VERSION_MAJOR 0
#define PYMM_VERSION_MINOR 1
#define PYMM_VERSION_PATCH 0
#define PYMM_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define PM_API __attribute__((visibility("default")))
#else
#define PM_API
#endif

/* Requests of at most this many bytes are served from pools. */
#define PM_SMALL_MAX 512
/* Block sizes step by this much; it is also the alignment of every block. */
#define PM_ALIGNMENT 16
/* Number of size classes: 16, 32, ..., 512. */
#define PM_NUM_CLASSES (PM_SMALL_MAX / PM_ALIGNMENT)

/* ------------------------------------------------------------------------ */
/* Heaps                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct pm_heap pm_heap;

typedef struct pm_heap_config {
    size_t arena_size;  /* power of two, 1 MiB .. 64 MiB, >= 4 pools;
                           default 1 MiB                                   */
    size_t pool_size;   /* power of two, 4 KiB .. 1 MiB; default 16 KiB     */
    size_t dirty_max;   /* bytes of empty pools kept committed before the
                           heap gives them back to the OS; default 8 MiB.
                           Purging starts above this and stops at half of
                           it (hysteresis). 0: purge every empty pool now. */
    int debug;          /* non-zero: install the debug hooks at creation   */
} pm_heap_config;

/* Fill *cfg with the defaults. */
PM_API void pm_heap_config_init(pm_heap_config *cfg);

/* A new heap, or NULL (invalid config or out of memory). cfg may be NULL. */
PM_API pm_heap *pm_heap_new(const pm_heap_config *cfg);

/* Release everything h holds at once: pools, arenas, large blocks, debug
 * records. Every pointer h gave out becomes invalid. The default heap cannot
 * be destroyed (the call is ignored). */
PM_API void pm_heap_destroy(pm_heap *h);

/* The process's default heap. Never NULL; usable before main(). */
PM_API pm_heap *pm_heap_default(void);

/* The pool allocator itself (what CPython calls pymalloc): small requests
 * from pools, larger ones from the heap's raw domain. These bypass the domain
 * tables and their hooks. pm_heap_malloc(h, 0) returns a unique block.
 * Freeing a pointer the heap did not allocate passes it to the raw domain. */
PM_API void *pm_heap_malloc(pm_heap *h, size_t n);
PM_API void *pm_heap_calloc(pm_heap *h, size_t nelem, size_t elsize);
PM_API void *pm_heap_realloc(pm_heap *h, void *p, size_t n);
PM_API void pm_heap_free(pm_heap *h, void *p);

/* 1 when p lies inside a pool block of h, else 0. O(1); never touches
 * memory that may be unmapped. */
PM_API int pm_heap_owns(const pm_heap *h, const void *p);

/* Usable bytes of a block from pm_heap_malloc: the size class for a pool
 * block, the requested size for a large block, 0 for a foreign pointer. */
PM_API size_t pm_heap_block_size(const pm_heap *h, const void *p);

/* Give back to the OS all memory that can go now: empty pools (decommitted
 * with madvise), empty arenas (unmapped, the spare included) and whole free
 * 4 KiB pages inside partly used pools. Returns the bytes given back. */
PM_API size_t pm_heap_trim(pm_heap *h);

/* ------------------------------------------------------------------------ */
/* Domains                                                                  */
/* ------------------------------------------------------------------------ */

typedef enum pm_domain {
    PM_DOMAIN_RAW = 0, /* thin layer over the system allocator           */
    PM_DOMAIN_MEM = 1, /* general-purpose buffers (PyMem_Malloc)          */
    PM_DOMAIN_OBJ = 2  /* objects (PyObject_Malloc)                       */
} pm_domain;

#define PM_NUM_DOMAINS 3

/* An allocator table, CPython's PyMemAllocatorEx. Every function is called
 * with ctx. A wrapper saves the table it replaces and calls through it. */
typedef struct pm_allocator {
    void *ctx;
    void *(*malloc)(void *ctx, size_t n);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *p, size_t n);
    void (*free)(void *ctx, void *p);
} pm_allocator;

/* Read and replace a domain's table. Replace a table only while no block of
 * that domain is live (or when the new table frees the old one's blocks). */
PM_API void pm_heap_get_allocator(const pm_heap *h, pm_domain d, pm_allocator *out);
PM_API void pm_heap_set_allocator(pm_heap *h, pm_domain d, const pm_allocator *a);

/* The table of the pool allocator over heap h (ctx = h): what the MEM and OBJ
 * domains use by default. Useful to install pymm into another program. */
PM_API void pm_heap_pool_allocator(pm_heap *h, pm_allocator *out);

/* Allocate through a domain table of heap h. */
PM_API void *pm_domain_malloc(pm_heap *h, pm_domain d, size_t n);
PM_API void *pm_domain_calloc(pm_heap *h, pm_domain d, size_t nelem, size_t elsize);
PM_API void *pm_domain_realloc(pm_heap *h, pm_domain d, void *p, size_t n);
PM_API void pm_domain_free(pm_heap *h, pm_domain d, void *p);

/* Shorthands on the default heap. */
PM_API void *pm_raw_malloc(size_t n);
PM_API void *pm_raw_calloc(size_t nelem, size_t elsize);
PM_API void *pm_raw_realloc(void *p, size_t n);
PM_API void pm_raw_free(void *p);
PM_API void *pm_mem_malloc(size_t n);
PM_API void *pm_mem_calloc(size_t nelem, size_t elsize);
PM_API void *pm_mem_realloc(void *p, size_t n);
PM_API void pm_mem_free(void *p);
PM_API void *pm_obj_malloc(size_t n);
PM_API void *pm_obj_calloc(size_t nelem, size_t elsize);
PM_API void *pm_obj_realloc(void *p, size_t n);
PM_API void pm_obj_free(void *p);

/* ------------------------------------------------------------------------ */
/* Errors and debug mode                                                    */
/* ------------------------------------------------------------------------ */

typedef enum pm_error_kind {
    PM_ERR_OVERRUN = 1,    /* bytes after a block were written            */
    PM_ERR_UNDERRUN,       /* bytes before a block were written           */
    PM_ERR_DOUBLE_FREE,    /* the block was already freed                 */
    PM_ERR_WRONG_DOMAIN,   /* freed through another domain than its own   */
    PM_ERR_FOREIGN,        /* the pointer was never given out by the heap  */
    PM_ERR_INTERIOR,       /* the pointer points inside a live block       */
    PM_ERR_USE_AFTER_FREE, /* a freed block was written after the free     */
    PM_ERR_CORRUPT         /* a heap structure is inconsistent             */
} pm_error_kind;

typedef struct pm_error {
    pm_error_kind kind;
    const void *address; /* the pointer the caller passed or the block      */
    size_t size;         /* the block's requested size, when known; else 0 */
    int domain;          /* the domain of the call, or -1                   */
    int block_domain;    /* the domain that allocated the block, or -1      */
    uint64_t serial;     /* allocation number of the block, when known      */
    const char *message; /* one line: what happened, address and size       */
} pm_error;

/* Called on every detected misuse. The default handler prints the message
 * to stderr and aborts. A handler that returns lets the call go on safely
 * (the bad free is ignored). */
typedef void (*pm_error_handler)(pm_heap *h, const pm_error *err, void *arg);
PM_API void pm_heap_set_error_handler(pm_heap *h, pm_error_handler fn, void *arg);

/* Wrap the three domain tables of h with the debug hooks: guard bytes around
 * every block, fill patterns (0xCD on allocation, 0xDD on free), size, domain
 * and serial number recorded, freed blocks held in a quarantine. Call it
 * before h gives out any block. Returns 0, or -1 when out of memory. */
PM_API int pm_heap_enable_debug(pm_heap *h);
PM_API int pm_heap_debug_enabled(const pm_heap *h);

/* ------------------------------------------------------------------------ */
/* Statistics, walk and check                                               */
/* ------------------------------------------------------------------------ */

typedef struct pm_class_stats {
    uint32_t block_size;
    uint64_t pools;        /* pools serving this class                      */
    uint64_t blocks_used;
    uint64_t blocks_free;  /* free blocks in those pools, not yet carved included */
} pm_class_stats;

typedef struct pm_heap_stats {
    size_t arena_size, pool_size;
    uint64_t arenas;              /* currently mapped                       */
    uint64_t arenas_peak;
    uint64_t arenas_allocated;    /* ever mapped                            */
    uint64_t arenas_reclaimed;    /* given back to the OS                   */
    uint64_t pools_used;          /* pools with at least one live block     */
    uint64_t pools_empty;         /* empty pools whose memory is committed  */
    uint64_t pools_decommitted;   /* empty pools given back with madvise    */
    uint64_t pools_untouched;     /* never carved                           */
    uint64_t pages_decommitted;   /* free pages inside used pools given back */
    uint64_t bytes_in_use;        /* small blocks in use (class sizes)      */
    uint64_t bytes_free;          /* free bytes in used pools               */
    uint64_t bytes_headers;       /* pool headers and arena descriptors     */
    uint64_t bytes_slack;         /* pool tails too small for a block       */
    uint64_t bytes_rounding;      /* class size minus request, live blocks:
                                     known in debug mode only (else 0)      */
    uint64_t bytes_returned;      /* total ever given back to the OS        */
    uint64_t large_blocks;        /* live blocks above PM_SMALL_MAX         */
    uint64_t large_bytes;
    uint64_t debug_bytes;         /* debug headers, guards and quarantine   */
    pm_class_stats classes[PM_NUM_CLASSES];
} pm_heap_stats;

PM_API void pm_heap_get_stats(const pm_heap *h, pm_heap_stats *out);
/* Text like sys._debugmallocstats(), and JSON (one object, newline-ended). */
PM_API void pm_heap_print_stats(const pm_heap *h, FILE *f);
PM_API void pm_heap_print_stats_json(const pm_heap *h, FILE *f);

/* Visit every live block: pool blocks (is_large 0, size = class size, or the
 * requested size in debug mode) and large blocks (is_large 1). Stop early
 * when fn returns non-zero; that value is returned. h must not change
 * during the walk. */
typedef int (*pm_walk_fn)(void *arg, void *block, size_t size, int is_large);
PM_API int pm_heap_walk(const pm_heap *h, pm_walk_fn fn, void *arg);

/* Validate every invariant of h (pool free lists, counts, arena order,
 * ownership map, and in debug mode every guard and every freed block's
 * fill). Returns 0 when sound; otherwise -1 and, when buf is not NULL, a
 * description of the first breach in buf. Also reports the breach through
 * the error handler when report is non-zero. */
PM_API int pm_heap_check(pm_heap *h, char *buf, size_t buflen, int report);

#ifdef __cplusplus
}
#endif

#endif /* PYMM_H */
