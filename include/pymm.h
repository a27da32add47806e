/*
 * pymm.h -- the public interface of pymm, CPython's memory-management model
 * as a C library.
 *
 * This is the only header a user includes. Everything it declares carries the
 * prefix `pm_` (functions, types) or `PM_` (constants).
 *
 * Layer 1, the heap
 * -----------------
 * A heap (`pm_heap`) owns arenas obtained from the OS (2 MiB by default),
 * carved lazily into pools (64 KiB by default); each pool serves one size
 * class: 16-byte steps up to PM_SMALL_MAX bytes (the small classes, as
 * CPython's), then medium classes, eight per doubling, up to the heap's
 * pool_block_max (21200 bytes with 64 KiB pools; pm_heap_stats lists them).
 * Larger requests go to the heap's raw domain, except those of 4 MiB or
 * more, which the heap maps itself (PM_HEAP_NO_HUGEPAGES). Every pool
 * block is 16-byte aligned.
 *
 * A heap made by pm_heap_new is used by one thread at a time: the caller
 * serializes (as CPython's interpreter lock does). One made with
 * PM_HEAP_THREADSAFE, and the default heap, serve any number of threads at
 * once: each thread allocates from pools of its own, and a block may be
 * freed by any thread. Different heaps on different threads run in
 * parallel; what they share (the process-wide map of which heap owns which
 * arena) is locked when arenas come and go and read without a lock.
 *
 * The default heap (`pm_heap_default()`) needs no set-up and is
 * thread-safe (PM_HEAP_THREADSAFE's rules apply to it). The `pm_raw_*`,
 * `pm_mem_*` and `pm_obj_*` shorthands go through the default heap's domain
 * tables, exactly as CPython's PyMem_RawMalloc / PyMem_Malloc /
 * PyObject_Malloc go through its process-wide tables. Domain tables here are
 * per heap.
 *
 * Ownership rule for memory: a block is released through the same heap and
 * the same domain that gave it. Debug mode (PYMM_MALLOC=debug or
 * pm_heap_enable_debug) checks this rule and reports every breach.
 *
 * The API as a contract (docs/ABI.md)
 * ------------------------------------
 * pm_version() says which version the library was built as; the
 * PYMM_VERSION_* macros say which header a program was compiled with.
 * Public structs may grow in later versions, only at their end, without
 * breaking programs built before:
 *   - Structs a program fills for the library (pm_heap_config,
 *     pm_runtime_config, pm_type_spec) begin with `struct_size`: the
 *     struct's size as the program was compiled (sizeof). The *_init
 *     functions and the PM_*_INIT macros set it. The library reads only
 *     the fields that struct_size covers and takes the defaults for the
 *     rest; a struct_size above its own is accepted when the bytes it
 *     does not know are all zero, and refused otherwise (the program asks
 *     for something this library cannot do). struct_size 0 (a struct
 *     zeroed with `= {0}` or filled with designated initializers) reads
 *     as the first layout, pymm 0.1's fields after struct_size: fields
 *     added later are then ignored, so set struct_size to use them. A
 *     struct_size smaller than the first layout is refused.
 *   - Structs the library fills for a program: the statistics
 *     (pm_heap_get_stats, pm_runtime_get_stats, pm_gc_get_stats) are
 *     macros that pass sizeof of the program's struct to a *_sized
 *     function, which writes only that many bytes (a program's stack
 *     struct needs no set-up). The structs handed to a program's
 *     callbacks (pm_error, pm_unraisable, pm_gc_info) begin with
 *     `struct_size`, the library's sizeof: read a field added later only
 *     when struct_size covers it.
 *   - Fixed forever (a change would be a new struct and a new function):
 *     pm_object (the object header), pm_allocator (CPython's
 *     PyMemAllocatorEx), pm_class_stats and pm_freelist_stats (arrays
 *     the caller sizes), pm_json_error, and pm_type_slots (slots added
 *     later go at the end of pm_type_spec).
 *
 * Allocation functions carry PM_ATTR_MALLOC, PM_ATTR_ALLOC_SIZE and
 * PM_NODISCARD where they apply (empty on compilers without them).
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
/* One number that orders versions: major * 1000000 + minor * 1000 + patch. */
#define PYMM_VERSION_NUMBER                                                                        \
    (PYMM_VERSION_MAJOR * 1000000 + PYMM_VERSION_MINOR * 1000 + PYMM_VERSION_PATCH)

#if defined(__GNUC__)
#define PM_API __attribute__((visibility("default")))
#else
#define PM_API
#endif

/* Attributes of allocation functions, for the compiler's warnings and
 * optimizations: the result aliases nothing (PM_ATTR_MALLOC), its size is
 * the argument(s) named (PM_ATTR_ALLOC_SIZE), and dropping it is a leak
 * (PM_NODISCARD). They compile away where the compiler lacks them. */
#if defined(__GNUC__) || defined(__clang__)
#define PM_ATTR_MALLOC __attribute__((malloc))
#define PM_ATTR_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#define PM_NODISCARD __attribute__((warn_unused_result))
#else
#define PM_ATTR_MALLOC
#define PM_ATTR_ALLOC_SIZE(...)
#define PM_NODISCARD
#endif
/* A fresh block of n bytes (argument i), or of nelem x elsize (i, j). */
#define PM_ALLOC_FN(i) PM_ATTR_MALLOC PM_ATTR_ALLOC_SIZE(i) PM_NODISCARD
#define PM_CALLOC_FN(i, j) PM_ATTR_MALLOC PM_ATTR_ALLOC_SIZE(i, j) PM_NODISCARD
/* realloc: the result may be the old block, so not `malloc`. */
#define PM_REALLOC_FN(i) PM_ATTR_ALLOC_SIZE(i) PM_NODISCARD

/* The version the library was built as: PYMM_VERSION_NUMBER and
 * PYMM_VERSION_STRING of its own header. A program that needs a feature
 * of version V checks pm_version() >= V at run time (a shared library
 * newer than the header is fine; older is not). */
PM_API unsigned long pm_version(void);
PM_API const char *pm_version_string(void);

/* Requests of at most this many bytes are served by the small classes. */
#define PM_SMALL_MAX 512
/* Small block sizes step by this much; it is also the alignment of every
 * pool block. */
#define PM_ALIGNMENT 16
/* Number of small classes: 16, 32, ..., 512. */
#define PM_NUM_CLASSES (PM_SMALL_MAX / PM_ALIGNMENT)
/* At most this many medium classes (their number and sizes depend on the
 * pool size: pm_heap_stats). */
#define PM_MAX_MEDIUM_CLASSES 48

/* ------------------------------------------------------------------------ */
/* Heaps                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct pm_heap pm_heap;

typedef struct pm_heap_config {
    size_t struct_size;        /* sizeof(pm_heap_config) as compiled; 0: the first
                                  layout (up to release_delay_ms). See the top.   */
    size_t arena_size;         /* power of two, 1 MiB .. 64 MiB, >= 4 pools;
                                  default 2 MiB (a transparent huge page)         */
    size_t pool_size;          /* power of two, 4 KiB .. 256 KiB (a pool's free
                                  pages are tracked in a 64-bit mask of 4 KiB
                                  pages); default 64 KiB                          */
    size_t dirty_max;          /* bytes of empty pools kept committed before the
                                  heap gives them back to the OS; default 8 MiB.
                                  Purging starts above this and stops at half of
                                  it (hysteresis). 0: purge every empty pool now. */
    int debug;                 /* non-zero: debug mode from creation (as
                                  pm_heap_enable_debug): the three domains and
                                  the pm_heap_malloc family are all checked       */
    unsigned release_delay_ms; /* empty memory beyond that budget (and beyond
                                  one spare empty arena) goes back to the OS once
                                  it has stayed beyond it this long, as seen by the
                                  heap's next slow path (a pool emptied or taken);
                                  pm_heap_trim gives everything back at once. A
                                  program that frees a big structure and builds
                                  another does not fault every page in again.
                                  A large allocation that fails gives it all back
                                  and retries. Default 1000; 0: at once (CPython's
                                  way).                                           */
    /* --- after the first layout: read only when struct_size covers them --- */
    unsigned flags; /* PM_HEAP_* bits; default 0                       */
} pm_heap_config;

/* A heap that any number of threads may use at once: each thread
 * allocates from pools of its own (no lock on the fast paths), a block
 * may be freed by any thread, and the pools of a thread that exits are
 * kept for the next thread (docs/DESIGN.md, "Threads"). pm_heap_destroy,
 * pm_heap_enable_debug, pm_heap_check and pm_heap_walk need every other
 * thread to have stopped using the heap; pm_heap_get_stats and pm_heap_trim may run
 * beside them (statistics then count as live the blocks other threads
 * freed and their owners have not yet taken back; trim works on the
 * calling thread's pools and on those of exited threads). Unknown bits
 * are refused (EINVAL, and pm_heap_config_check says why). */
#define PM_HEAP_THREADSAFE 0x1u
/* Never ask for transparent huge pages. By default a heap whose arenas
 * are at least 2 MiB asks for them (madvise MADV_HUGEPAGE) for every arena
 * it maps once its pools already hold 16 MiB: a large heap then takes a
 * page fault and a TLB entry per 2 MiB instead of per 4 KiB. The cost is
 * RSS: the arena being filled is resident whole (at most 2 MiB more), and
 * an arena that gives memory back is asked against them from then on.
 * A large block of 4 MiB or more is then the heap's own mapping, with huge
 * pages, grown with mremap; the last one freed (up to 32 MiB) is kept for
 * the next until pm_heap_trim (while the raw domain is the heap's own; not in
 * ASan or valgrind builds, whose tools watch the C library's blocks).
 * PYMM_HUGEPAGES=0 in the environment does the same for every heap made
 * after it is read (the default heap reads it at its first arena). */
#define PM_HEAP_NO_HUGEPAGES 0x2u

/* Fill *cfg with the defaults (struct_size included). PM_HEAP_CONFIG_INIT is the
 * same as an initializer: `pm_heap_config c = PM_HEAP_CONFIG_INIT;`. */
PM_API void pm_heap_config_init(pm_heap_config *cfg);
#define PM_HEAP_CONFIG_INIT                                                                        \
    {                                                                                              \
        .struct_size = sizeof(pm_heap_config), .arena_size = (size_t)2 << 20,                      \
        .pool_size = (size_t)64 << 10, .dirty_max = (size_t)8 << 20, .release_delay_ms = 1000      \
    }

/* A new heap, or NULL with errno EINVAL (cfg outside the limits above, or
 * a bad size: pm_heap_config_check says which) or ENOMEM. cfg may be NULL
 * (defaults). */
PM_API pm_heap *pm_heap_new(const pm_heap_config *cfg) PM_NODISCARD;

/* 0 when pm_heap_new accepts cfg (NULL included), else -1 with one line in
 * buf (when non-NULL) naming the field, its value and its limits. */
PM_API int pm_heap_config_check(const pm_heap_config *cfg, char *buf, size_t buflen);

/* Release everything h holds at once: pools, arenas, large blocks, debug
 * records. Every pointer h gave out becomes invalid. The default heap cannot
 * be destroyed (the call is ignored). */
PM_API void pm_heap_destroy(pm_heap *h);

/* The process's default heap. Never NULL; usable before main(). */
PM_API pm_heap *pm_heap_default(void);

/* The pool allocator itself (what CPython calls pymalloc): requests up to
 * pool_block_max from pools, larger ones from the heap's raw domain. These bypass the domain
 * tables and their hooks, except on a heap in debug mode, where they are
 * checked as a domain of their own (pm_error.domain PM_NUM_DOMAINS, named
 * "pm_heap"): a block from pm_heap_malloc goes back through pm_heap_free or
 * pm_heap_realloc. pm_heap_malloc(h, 0) returns a unique block. Freeing a
 * pointer the heap did not allocate passes it to the raw domain (in debug
 * mode: reported as foreign). */
PM_API void *pm_heap_malloc(pm_heap *h, size_t n) PM_ALLOC_FN(2);
PM_API void *pm_heap_calloc(pm_heap *h, size_t nelem, size_t elsize) PM_CALLOC_FN(2, 3);
PM_API void *pm_heap_realloc(pm_heap *h, void *p, size_t n) PM_REALLOC_FN(3);
PM_API void pm_heap_free(pm_heap *h, void *p);

/* 1 when p lies inside one of h's arenas (the memory of its pools, block
 * or not), else 0: not a test that p is a live block. O(1); never touches
 * memory that may be unmapped. */
PM_API int pm_heap_owns(const pm_heap *h, const void *p);

/* Usable bytes of a block from pm_heap_malloc: the size class for a pool
 * block, the requested size for a large block (and for any block in debug
 * mode), 0 for a foreign pointer. */
PM_API size_t pm_heap_block_size(const pm_heap *h, const void *p);

/* The usable bytes pm_heap_malloc(h, n) would give: n rounded up to its
 * size class when a pool serves it, n itself for a large block (mimalloc's
 * mi_good_size, SQLite's xRoundup); at least 1. Debug mode aside, it is
 * pm_heap_block_size of the block such a call returns. */
PM_API size_t pm_heap_good_size(pm_heap *h, size_t n);

/* Give back to the OS all memory that can go now: empty pools (decommitted
 * with madvise), empty arenas (unmapped, the spare included) and whole free
 * 4 KiB pages inside partly used pools of blocks up to 4 KiB (pools of
 * larger blocks only when empty). Returns the bytes given back. */
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
 * that domain is live (or when the new table frees the old one's blocks).
 * An obj-domain table must return 16-aligned blocks, as malloc does: the
 * cycle collector finds older objects by their address, and leaves one it
 * cannot place untracked (its cycles never collected). */
PM_API void pm_heap_get_allocator(const pm_heap *h, pm_domain d, pm_allocator *out);
PM_API void pm_heap_set_allocator(pm_heap *h, pm_domain d, const pm_allocator *a);

/* The table of the pool allocator over heap h (ctx = h): what the MEM and OBJ
 * domains use by default. Useful to install pymm into another program. */
PM_API void pm_heap_pool_allocator(pm_heap *h, pm_allocator *out);

/* Allocate through a domain table of heap h. */
PM_API void *pm_domain_malloc(pm_heap *h, pm_domain d, size_t n) PM_ALLOC_FN(3);
PM_API void *pm_domain_calloc(pm_heap *h, pm_domain d, size_t nelem, size_t elsize)
    PM_CALLOC_FN(3, 4);
PM_API void *pm_domain_realloc(pm_heap *h, pm_domain d, void *p, size_t n) PM_REALLOC_FN(4);
PM_API void pm_domain_free(pm_heap *h, pm_domain d, void *p);

/* Shorthands on the default heap. */
PM_API void *pm_raw_malloc(size_t n) PM_ALLOC_FN(1);
PM_API void *pm_raw_calloc(size_t nelem, size_t elsize) PM_CALLOC_FN(1, 2);
PM_API void *pm_raw_realloc(void *p, size_t n) PM_REALLOC_FN(2);
PM_API void pm_raw_free(void *p);
PM_API void *pm_mem_malloc(size_t n) PM_ALLOC_FN(1);
PM_API void *pm_mem_calloc(size_t nelem, size_t elsize) PM_CALLOC_FN(1, 2);
PM_API void *pm_mem_realloc(void *p, size_t n) PM_REALLOC_FN(2);
PM_API void pm_mem_free(void *p);
PM_API void *pm_obj_malloc(size_t n) PM_ALLOC_FN(1);
PM_API void *pm_obj_calloc(size_t nelem, size_t elsize) PM_CALLOC_FN(1, 2);
PM_API void *pm_obj_realloc(void *p, size_t n) PM_REALLOC_FN(2);
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
    PM_ERR_CORRUPT,        /* a heap structure is inconsistent             */
    PM_ERR_REFCOUNT,       /* an object's reference count went below zero  */
    PM_ERR_WRONG_RUNTIME   /* an object or type used by a runtime that does
                              not own it (see "What may cross runtimes")  */
} pm_error_kind;

typedef struct pm_error {
    size_t struct_size; /* sizeof(pm_error) of the library (see the top)   */
    pm_error_kind kind;
    const void *address; /* the pointer the caller passed or the block      */
    size_t size;         /* the block's requested size, when known; else 0 */
    int domain;          /* the domain of the call, PM_NUM_DOMAINS for the
                            pm_heap_malloc family, or -1                    */
    int block_domain;    /* the domain that allocated the block (as domain),
                            or -1                                           */
    uint64_t serial;     /* allocation number of the block, when known      */
    const char *message; /* one line: what happened, address and size       */
} pm_error;

/* Called on every detected misuse. The default handler prints the message
 * to stderr and aborts. A handler that returns lets the call go on safely
 * (the bad free is ignored). */
typedef void (*pm_error_handler)(pm_heap *h, const pm_error *err, void *arg);
PM_API void pm_heap_set_error_handler(pm_heap *h, pm_error_handler fn, void *arg);
/* The allocation number of a live debug-mode block (where it was made),
 * or 0 when h is not in debug mode or p is not a live block. */
PM_API uint64_t pm_heap_block_serial(const pm_heap *h, const void *p);

/* Wrap the three domain tables of h with the debug hooks: guard bytes around
 * every block, fill patterns (0xCD on allocation, 0xDD on free), size, domain
 * and serial number recorded, freed blocks held in a quarantine. Call it
 * before h gives out any block. Returns 0, or -1 when out of memory. */
PM_API int pm_heap_enable_debug(pm_heap *h);
PM_API int pm_heap_debug_enabled(const pm_heap *h);

/* Where to stop at allocation number N (the serial a report names): with
 * PYMM_BREAK_ALLOC=N in the environment when a heap's debug hooks are
 * installed (PYMM_MALLOC=debug: before main()), that heap's allocation N
 * calls this function, which prints one line to stderr and returns. Set a
 * breakpoint on it (gdb: `break pm_debug_break_alloc`); the caller's
 * frames show who allocated the block. Serials are per heap and follow
 * the program's order of allocations, so a deterministic run repeats them. */
PM_API void pm_debug_break_alloc(uint64_t serial, const void *block, size_t size);

/* ------------------------------------------------------------------------ */
/* Statistics, walk and check                                               */
/* ------------------------------------------------------------------------ */

typedef struct pm_class_stats {
    uint32_t block_size;
    uint64_t pools; /* pools serving this class                      */
    uint64_t blocks_used;
    uint64_t blocks_free; /* free blocks in those pools, not yet carved included */
} pm_class_stats;

typedef struct pm_heap_stats {
    size_t arena_size, pool_size;
    uint64_t arenas; /* currently mapped                       */
    uint64_t arenas_peak;
    uint64_t arenas_allocated;  /* ever mapped                            */
    uint64_t arenas_reclaimed;  /* given back to the OS                   */
    uint64_t pools_used;        /* pools with at least one live block     */
    uint64_t pools_empty;       /* empty pools whose memory is committed  */
    uint64_t pools_decommitted; /* empty pools given back with madvise    */
    uint64_t pools_untouched;   /* never carved                           */
    uint64_t pages_decommitted; /* free pages inside used pools given back */
    uint64_t bytes_in_use;      /* pool blocks in use (class sizes)       */
    uint64_t bytes_free;        /* free bytes in used pools               */
    uint64_t bytes_headers;     /* pool headers and arena descriptors     */
    uint64_t bytes_slack;       /* pool tails too small for a block       */
    uint64_t bytes_rounding;    /* class size minus request, live blocks:
                                   known in debug mode only (else 0)      */
    uint64_t bytes_returned;    /* total ever given back to the OS        */
    uint64_t large_blocks;      /* live blocks above pool_block_max       */
    uint64_t large_bytes;
    uint64_t debug_bytes;                   /* debug headers, guards and quarantine   */
    pm_class_stats classes[PM_NUM_CLASSES]; /* the small classes       */
    /* --- after the first layout --- */
    uint64_t arenas_huge;                         /* arenas that asked for transparent huge pages
                             (whether the kernel gave them depends on
                             its THP setting; PM_HEAP_NO_HUGEPAGES)  */
    uint64_t pool_block_max;                      /* the largest request served from pools     */
    uint64_t medium_classes;                      /* entries of medium[] the heap has          */
    pm_class_stats medium[PM_MAX_MEDIUM_CLASSES]; /* above PM_SMALL_MAX  */
} pm_heap_stats;

/* Fills *out; writes at most size bytes (the caller's sizeof, which the
 * macro passes). Returns the bytes written. */
PM_API size_t pm_heap_get_stats_sized(const pm_heap *h, pm_heap_stats *out, size_t size);
#define pm_heap_get_stats(h, out) pm_heap_get_stats_sized((h), (out), sizeof *(out))
/* Text like sys._debugmallocstats(), and JSON (one object, newline-ended). */
PM_API void pm_heap_print_stats(const pm_heap *h, FILE *f);
PM_API void pm_heap_print_stats_json(const pm_heap *h, FILE *f);

/* Visit every live block: pool blocks (is_large 0, size = class size, or the
 * requested size in debug mode) and large blocks (is_large 1). Stop early
 * when fn returns non-zero; that value is returned. h must not change
 * during the walk (a thread-safe heap: no other thread may use it). */
typedef int (*pm_walk_fn)(void *arg, void *block, size_t size, int is_large);
PM_API int pm_heap_walk(const pm_heap *h, pm_walk_fn fn, void *arg);

/* Validate every invariant of h (pool free lists, counts, arena order,
 * ownership map, and in debug mode every guard and every freed block's
 * fill). Returns 0 when sound; otherwise -1 and, when buf is not NULL, a
 * description of the first breach in buf. Also reports the breach through
 * the error handler when report is non-zero. */
PM_API int pm_heap_check(pm_heap *h, char *buf, size_t buflen, int report);

/* ======================================================================== */
/* Layer 2: objects                                                         */
/* ======================================================================== */
/*
 * Every object starts with a pm_object header (16 bytes): a 32-bit
 * reference count, 32 bits of flags, and its type. Objects that hold
 * references to others (types with PM_TPFLAGS_GC) carry nothing more: the
 * collector keeps track of them on the side (CPython adds 16 bytes).
 *
 * Reference rules, CPython's:
 *   - A function returning pm_object * returns a NEW reference, which the
 *     caller owns and must release with pm_decref, unless its comment says
 *     "borrowed".
 *   - Arguments are borrowed: a callee that keeps an argument increfs it.
 *     Functions whose name ends in _steal take over the caller's reference
 *     (even when they fail).
 *   - A fallible call returns NULL or -1 and sets the runtime's exception
 *     (pm_exc_*); it never aborts, and on error it changes nothing.
 *
 * Objects belong to a runtime (pm_runtime): its heap, its exception, its
 * interned strings and free lists. The calls below work on the calling
 * thread's current runtime (pm_runtime_current), as CPython's work on the
 * current thread state; the default runtime needs no set-up. Which objects
 * may cross runtimes and threads: see "What may cross runtimes and
 * threads" below.
 */

typedef struct pm_runtime pm_runtime;
typedef struct pm_type pm_type;

typedef struct pm_object {
    uint32_t refcnt; /* PM_REFCNT_IMMORTAL: never changes, never freed */
    uint32_t flags;  /* PM_OF_* bits                                   */
    pm_type *type;
} pm_object;

#define PM_REFCNT_IMMORTAL UINT32_MAX
#define PM_OBJ(p) ((pm_object *)(p))

/* Object flags (pm_object.flags). */
#define PM_OF_FINALIZED (1u << 0)   /* its finalizer ran (PEP 442)          */
#define PM_OF_HAS_WEAKREF (1u << 1) /* weak references point to it           */
#define PM_OF_INTERNED (1u << 2)    /* an interned string                    */
#define PM_OF_STATIC (1u << 3)      /* statically allocated: never freed     */
#define PM_OF_HASHED (1u << 4)      /* a str/bytes/weakref whose hash is cached */
/* A decref left it alive since the collector last looked at it (set from
 * birth on objects the collector never tracks). A garbage cycle appears
 * only when one of its objects loses a reference from outside, so while
 * no young object has lost one, an automatic young collection has
 * nothing to find (see pm_gc_generation_stats.skipped). */
#define PM_OF_LOST_REF (1u << 5)

/* Called by pm_decref when the count reaches zero: finalizes, clears weak
 * references and frees, never recursing without bound. */
PM_API void pm_dealloc(pm_object *o);
/* Called by pm_decref when the count stays above zero and the object has
 * not PM_OF_LOST_REF yet: sets it, and tells the collector that one of its
 * objects lost a reference (see PM_OF_LOST_REF). */
PM_API void pm_lost_ref(pm_object *o);
/* Out-of-line checked versions, used by debug builds (PM_DEBUG defined):
 * they report a decref below zero and a use of a freed object. */
PM_API void pm_incref_checked(pm_object *o);
PM_API void pm_decref_checked(pm_object *o);

static inline int pm_is_immortal(const pm_object *o) { return o->refcnt == PM_REFCNT_IMMORTAL; }

static inline pm_object *pm_incref(pm_object *o) {
#ifdef PM_DEBUG
    pm_incref_checked(o);
#else
    uint32_t n = o->refcnt + 1;
    if (n != 0) o->refcnt = n; /* an immortal count wraps to 0: left alone */
#endif
    return o;
}

static inline void pm_decref(pm_object *o) {
#ifdef PM_DEBUG
    pm_decref_checked(o);
#else
    uint32_t n = o->refcnt;
    if (n == PM_REFCNT_IMMORTAL) return;
    o->refcnt = --n;
    if (n == 0) pm_dealloc(o);
    else if (!(o->flags & PM_OF_LOST_REF)) pm_lost_ref(o);
#endif
}

static inline void pm_xincref(pm_object *o) {
    if (o) pm_incref(o);
}
static inline void pm_xdecref(pm_object *o) {
    if (o) pm_decref(o);
}
/* A new reference to o (for "return pm_newref(x);"). */
static inline pm_object *pm_newref(pm_object *o) { return pm_incref(o); }

/* Drop the reference a field holds and set it to NULL, in that order's
 * reverse: the field is NULL before the object can run any code. */
#define PM_CLEAR(field)                                                                            \
    do {                                                                                           \
        pm_object *pm_clear_tmp_ = PM_OBJ(field);                                                  \
        if (pm_clear_tmp_) {                                                                       \
            (field) = NULL;                                                                        \
            pm_decref(pm_clear_tmp_);                                                              \
        }                                                                                          \
    } while (0)

/* Store a new reference in a field and drop the old one afterwards. */
#define PM_SETREF(field, value)                                                                    \
    do {                                                                                           \
        pm_object *pm_setref_old_ = PM_OBJ(field);                                                 \
        (field) = (value);                                                                         \
        pm_xdecref(pm_setref_old_);                                                                \
    } while (0)

/* ---- runtimes ----------------------------------------------------------- */

typedef struct pm_runtime_config {
    size_t struct_size; /* sizeof(pm_runtime_config) as compiled; 0: the first
                           layout (up to debug). See the top of this header. */
    pm_heap *heap;      /* NULL: a new private heap, destroyed with the runtime */
    int debug;          /* object debug checks (also PYMM_DEBUG=1 for the default):
                           freed objects are quarantined, and a call that passes
                           one to any entry is reported through the heap's error
                           handler (address, type, allocation number when the
                           heap is in debug mode) and fails with RuntimeError  */
    /* --- after the first layout: read only when struct_size covers them --- */
    int recursion_limit; /* pm_runtime_set_recursion_limit's; 0: 1000     */
} pm_runtime_config;

/* Fill *cfg with the defaults (struct_size included); or PM_RUNTIME_CONFIG_INIT. */
PM_API void pm_runtime_config_init(pm_runtime_config *cfg);
#define PM_RUNTIME_CONFIG_INIT                                                                     \
    { .struct_size = sizeof(pm_runtime_config) }

/* A new runtime (cfg NULL: defaults), or NULL: out of memory (errno
 * ENOMEM), or cfg refused (errno EINVAL, and a ValueError saying why in
 * the calling thread's current runtime): a bad size, a negative
 * recursion_limit. */
PM_API pm_runtime *pm_runtime_new(const pm_runtime_config *cfg) PM_NODISCARD;
/* Frees every object of the runtime at once (with its private heap). */
PM_API void pm_runtime_destroy(pm_runtime *rt);
PM_API pm_runtime *pm_runtime_default(void);
/* The calling thread's current runtime (the default one until changed). */
PM_API pm_runtime *pm_runtime_current(void);
/* Make rt current for this thread; returns the previous one. A runtime is
 * used by one thread at a time. */
PM_API pm_runtime *pm_runtime_enter(pm_runtime *rt);
PM_API pm_heap *pm_runtime_heap(pm_runtime *rt);

/* ---- what may cross runtimes and threads ---------------------------------
 *
 * A runtime and its objects are used by one thread at a time (the caller
 * serializes, as CPython's interpreter lock does); a runtime may move to
 * another thread when the two synchronize (a mutex, a thread join). Each
 * object belongs to the runtime that made it. What runtimes share is what
 * nobody writes:
 *   - Static objects: None, True, False, the small ints -5..256, the empty
 *     str, bytes and tuple, the one-character Latin-1 strs, the built-in
 *     types (pm_*_type). Every runtime on every thread may use them at once.
 *   - Shared types (PM_TPFLAGS_SHARED): every runtime on every thread may
 *     make, use and drop instances of them at once. The instances belong
 *     to the runtime that made them, like any other object.
 * Nothing else crosses. An ordinary object, a type made without
 * PM_TPFLAGS_SHARED, and an object made immortal with pm_make_immortal or
 * pm_str_intern_immortal (its memory is its runtime's, and reading it may
 * write, as a str caches its hash) are increfed, decrefed, passed to any
 * pm_ call and die only while their runtime is current, and not after it
 * is destroyed. There is no hand-off of an object from one runtime to
 * another: to move data, build it again in the other runtime (or dump and
 * load it, pm_json_dumps / pm_json_loads). Two runtimes on one heap
 * (pm_runtime_config.heap) follow the same rule; on a thread-safe heap
 * (the default heap, or one made with PM_HEAP_THREADSAFE) they may run on
 * two threads at once, on a private heap they are used by one thread at a
 * time between them (the heap is).
 * In debug mode (config.debug, PYMM_DEBUG=1, or a PM_DEBUG build) the
 * current runtime reports, through its heap's error handler, with
 * PM_ERR_WRONG_RUNTIME: an object dying that is not its own (its memory
 * is in another heap, or it is tracked but not by this runtime's
 * collector: on a shared heap an untracked object is not told apart),
 * which is then left alone (leaked, never freed into the wrong heap); and
 * an instance asked of a type that is neither its own, a built-in nor a
 * live shared type (another runtime's, or one whose runtime was
 * destroyed), which is then refused (NULL, RuntimeError; the references
 * given to pm_object_new_refs_steal then stay with the caller). Neither
 * check reads the memory of a destroyed runtime.
 */

/* The recursion limit (CPython's sys.setrecursionlimit): how deeply the
 * generic operations pm_repr, pm_str, pm_compare, pm_equal and pm_hash
 * may nest, through built-in containers and user slots alike, before the
 * next one fails with RecursionError (calls on str, int, float, bytes,
 * None, bool and type objects, which never nest, are not counted).
 * Default 1000, per runtime. Each
 * level takes C stack (one call of the generic operation and one of the
 * slot): a higher limit needs a larger stack. rt NULL: the current
 * runtime. Setting a limit below 1 is a ValueError (-1); 0 otherwise. */
PM_API int pm_runtime_set_recursion_limit(pm_runtime *rt, int limit);
PM_API int pm_runtime_get_recursion_limit(pm_runtime *rt);

/* ---- exceptions ----------------------------------------------------------- */

typedef enum pm_exc {
    PM_EXC_NONE = 0,
    PM_EXC_TYPE,     /* wrong type of argument, unhashable key      */
    PM_EXC_VALUE,    /* right type, bad value                       */
    PM_EXC_KEY,      /* key not found                               */
    PM_EXC_INDEX,    /* index out of range                          */
    PM_EXC_OVERFLOW, /* integer result does not fit in 64 bits      */
    PM_EXC_ZERO_DIVISION,
    PM_EXC_MEMORY,    /* out of memory                               */
    PM_EXC_UNICODE,   /* invalid UTF-8                               */
    PM_EXC_ATTRIBUTE, /* no such attribute                           */
    PM_EXC_RECURSION, /* nesting too deep                            */
    PM_EXC_RUNTIME    /* anything else                               */
} pm_exc;

PM_API void pm_exc_set(pm_exc kind, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
PM_API pm_exc pm_exc_occurred(void);
PM_API const char *pm_exc_message(void); /* "" when none */
PM_API void pm_exc_clear(void);
PM_API const char *pm_exc_name(pm_exc kind); /* "TypeError", ...       */

/* A NULL object argument is a TypeError, unless an exception is already
 * pending: then it is the NULL of a failed call passed on (as in
 * pm_list_append_steal(l, pm_int(v))), and the call fails keeping that
 * exception (a MemoryError stays a MemoryError). A _steal function still
 * releases the references it was given. */

/* Unraisable exceptions (CPython's sys.unraisablehook). Code that runs
 * where no caller can receive its error -- a finalizer (the finalize and
 * legacy_del slots), a weak-reference callback, a generator's release
 * function, a collector callback, a clear slot during a collection --
 * runs with the pending exception set aside, and put back afterwards;
 * an exception it raises never comes out of pm_decref, pm_gc_collect or
 * the allocation that started a collection: it is handed to the
 * runtime's unraisable hook and cleared. The default hook prints one
 * line to stderr:
 *   Exception ignored in: finalizer of <Node object at 0x...>: ValueError: boom
 * The hook runs with no exception pending; one it leaves is cleared. */
typedef struct pm_unraisable {
    size_t struct_size;      /* sizeof(pm_unraisable) of the library       */
    pm_exc kind;             /* the exception                              */
    const char *message;     /* its message                                */
    const char *context;     /* where: "finalizer of", "legacy finalizer
                                of", "weakref callback of", "generator
                                release of", "gc callback", "garbage
                                collection" (a clear slot's, or the
                                collector's own)                          */
    const pm_object *object; /* the object concerned, or NULL: to name it
                                only (it may be in the middle of its
                                deallocation); never take a reference   */
    const char *type_name;   /* its type's name, or NULL                   */
} pm_unraisable;
typedef void (*pm_unraisable_hook)(const pm_unraisable *u, void *ctx);
/* Set rt's hook (rt NULL: the current runtime); fn NULL: the default. */
PM_API void pm_runtime_set_unraisable_hook(pm_runtime *rt, pm_unraisable_hook fn, void *ctx);
/* The default hook, for a hook that also wants the line printed. */
PM_API void pm_unraisable_print(const pm_unraisable *u, void *ctx);

/* ---- types ---------------------------------------------------------------- */

/* Comparison operators for pm_compare and the compare slot. */
enum { PM_LT, PM_LE, PM_EQ, PM_NE, PM_GT, PM_GE };
/* What a compare slot returns when it does not support the operands. */
#define PM_CMP_UNSUPPORTED (-2)

typedef int (*pm_visit_fn)(pm_object *o, void *arg);

/* Slots and exceptions: finalize and legacy_del run with no exception
 * pending and may raise; their exception is unraisable (reported through
 * the runtime's hook, see pm_unraisable), as is a clear slot's during a
 * collection. dealloc must not raise. repr, str, hash and compare are
 * called through pm_repr, pm_str, pm_hash and pm_compare, one level of
 * the recursion limit each (pm_runtime_set_recursion_limit). */
typedef struct pm_type_slots {
    void (*dealloc)(pm_object *self); /* release references; not the memory */
    int (*traverse)(pm_object *self, pm_visit_fn visit, void *arg);
    int (*clear)(pm_object *self);       /* break reference cycles           */
    void (*finalize)(pm_object *self);   /* PEP 442 finalizer: may resurrect */
    void (*legacy_del)(pm_object *self); /* unsafe in cycles: uncollectable  */
    pm_object *(*repr)(pm_object *self);
    pm_object *(*str)(pm_object *self);
    int (*hash)(pm_object *self, uint64_t *out);        /* 0 or -1      */
    int (*compare)(pm_object *a, pm_object *b, int op); /* 1, 0, -1, -2 */
    int64_t (*length)(pm_object *self);                 /* -1: error    */
    pm_object *(*getitem)(pm_object *self, pm_object *key);
    int (*setitem)(pm_object *self, pm_object *key, pm_object *value); /* NULL value: delete */
    int (*contains)(pm_object *self, pm_object *key);                  /* 1, 0, -1     */
    pm_object *(*iter)(pm_object *self);
    pm_object *(*iternext)(pm_object *self); /* NULL and no exception: end  */
    pm_object *(*getattr)(pm_object *self, pm_object *name);
    int (*setattr)(pm_object *self, pm_object *name, pm_object *value); /* NULL: delete */
} pm_type_slots;

/* Type flags. */
#define PM_TPFLAGS_GC (1u << 0)      /* instances hold references: traverse */
#define PM_TPFLAGS_WEAKREF (1u << 1) /* instances may be weakly referenced   */
#define PM_TPFLAGS_ATTRS (1u << 2)   /* instances carry named attributes     */
#define PM_TPFLAGS_HEAP (1u << 3)    /* made at run time (pm_type_new)       */
/* Frozen: every reference an instance holds is in its reference fields
 * (nrefs > 0, no traverse slot, no attributes), which are given when it
 * is made (pm_object_new_refs_steal) and never written again, the
 * contract of a tuple's items. An instance whose fields cannot take part
 * in a cycle (NULL, objects of non-GC types, untracked frozen instances,
 * tuples the collector untracked) is then never tracked by the
 * collector: CPython's rule for a tuple of atomic items, applied at birth
 * instead of at the first collection. Binary trees, immutable ASTs and
 * cons lists built bottom-up cost the collector nothing. */
#define PM_TPFLAGS_FROZEN (1u << 4)
/* Shared: the type belongs to no runtime and may be used by every runtime
 * on every thread at once (an interpreter's built-in classes, made once
 * and instantiated by each thread's runtime). It is immortal from birth
 * (pm_incref and pm_decref read it and write nothing, so instances taking
 * and dropping their reference to it never race), allocated with its name
 * outside every heap, and never written after pm_type_new returns. It
 * lives until pm_type_destroy, or to the end of the process. Its slots are
 * called from every thread that uses it: they must touch only the
 * instance, its runtime's objects and what they synchronize themselves.
 * Its instances are ordinary objects of the runtime that made them. */
#define PM_TPFLAGS_SHARED (1u << 5)

typedef struct pm_type_spec {
    size_t struct_size; /* sizeof(pm_type_spec) as compiled, or 0: the first
                           layout (up to nrefs). See the top of this header. */
    const char *name;
    size_t basicsize; /* bytes of an instance, header included            */
    size_t itemsize;  /* bytes per item of a variable-size instance, or 0 */
    unsigned flags;
    pm_type_slots slots;
    /* Reference fields (CPython's __slots__): the payload begins with
     * nrefs pm_object * fields, each NULL or an owned reference. pymm
     * visits, clears and releases them itself, before the spec's own
     * traverse, clear and after its dealloc, which then need not exist;
     * the collector reads them in place, with no call per reference.
     * The type is a GC type. */
    size_t nrefs;
    /* Fields and slots added later go here, read only when struct_size
     * covers them (pm_type_slots does not grow). */
    /* Added in 0.2 (Unreleased): the bytes an instance owns outside its
     * block (buffers it allocated and frees in its dealloc), which deep
     * and retained sizes add to its block (pm_size_owned); NULL: none.
     * Called with no exception pending; it must only read the instance
     * and may neither fail nor make objects. */
    size_t (*owned_size)(pm_object *self);
} pm_type_spec;
#define PM_TYPE_SPEC_INIT                                                                          \
    { .struct_size = sizeof(pm_type_spec) }

/* A new type (a new reference; NULL with ValueError when spec is refused,
 * a bad size among the reasons; a PM_TPFLAGS_SHARED type is immortal, and
 * only pm_type_destroy frees it). Instances of PM_TPFLAGS_ATTRS types get
 * generic named attributes; instances of every type made here may hold
 * references in their payload: in reference fields (nrefs), or anywhere
 * if the spec's traverse slot visits them. */
PM_API pm_type *pm_type_new(const pm_type_spec *spec);
/* Free a PM_TPFLAGS_SHARED type once every runtime is done with it: no
 * thread uses it any more and every runtime that made instances of it is
 * destroyed, or holds none of them and is not in debug mode (whose
 * quarantine keeps freed instances, and their type, for a while). 0, or -1
 * with ValueError when t is not a live shared type (a runtime's type dies
 * with its last reference; a shared type destroyed twice). */
PM_API int pm_type_destroy(pm_type *t);
PM_API const char *pm_type_name(const pm_type *t);
PM_API unsigned pm_type_flags(const pm_type *t);
/* A new instance with its payload zeroed. */
PM_API pm_object *pm_object_new(pm_type *t);
PM_API pm_object *pm_object_new_var(pm_type *t, size_t nitems);
/* A new instance (of a fixed-size type) whose reference fields take
 * refs[0 .. nrefs-1], each NULL or a reference that is stolen (on failure
 * too, but for a NULL or freed type: the references then stay with the
 * caller);
 * the rest of the payload zeroed. refs NULL: every field NULL. The way to
 * make an instance of a PM_TPFLAGS_FROZEN type with references. */
PM_API pm_object *pm_object_new_refs_steal(pm_type *t, pm_object *const *refs);

/* Make any object immortal: never freed, counts never change again. */
PM_API void pm_make_immortal(pm_object *o);

/* The built-in types. */
PM_API extern pm_type pm_type_type, pm_none_type, pm_bool_type, pm_int_type, pm_float_type,
    pm_str_type, pm_bytes_type, pm_tuple_type, pm_list_type, pm_dict_type, pm_set_type,
    pm_frozenset_type, pm_iter_type, pm_generator_type, pm_weakref_type;

static inline int pm_is_type(const pm_object *o, const pm_type *t) { return o->type == t; }

/* ---- generic operations (any object) ------------------------------------ */

PM_API pm_object *pm_repr(pm_object *o);                   /* a str          */
PM_API pm_object *pm_str(pm_object *o);                    /* a str          */
PM_API int pm_hash(pm_object *o, uint64_t *out);           /* -1: unhashable */
PM_API int pm_equal(pm_object *a, pm_object *b);           /* 1, 0, -1       */
PM_API int pm_compare(pm_object *a, pm_object *b, int op); /* 1, 0, -1   */
PM_API int64_t pm_len(pm_object *o);                       /* -1: error      */
PM_API pm_object *pm_getitem(pm_object *o, pm_object *key);
PM_API int pm_setitem(pm_object *o, pm_object *key, pm_object *value);
PM_API int pm_delitem(pm_object *o, pm_object *key);
PM_API int pm_contains(pm_object *o, pm_object *key); /* 1, 0, -1       */
PM_API pm_object *pm_iter(pm_object *o);
/* The next item (a new reference), or NULL: at the end with no exception
 * set, or on error with one. */
PM_API pm_object *pm_next(pm_object *iterator);
PM_API pm_object *pm_getattr(pm_object *o, const char *name);
PM_API int pm_setattr(pm_object *o, const char *name, pm_object *value);
PM_API int pm_delattr(pm_object *o, const char *name);
/* Truth value: 1, 0, -1. */
PM_API int pm_truth(pm_object *o);

/* ---- None, bool, int, float ---------------------------------------------- */

PM_API pm_object *pm_none(void);                     /* new references to the      */
PM_API pm_object *pm_bool(int truth);                /* immortal singletons        */
PM_API pm_object *pm_int(int64_t v);                 /* -5..256: cached, immortal  */
PM_API int pm_int_value(pm_object *o, int64_t *out); /* -1: not an int */
/* Checked arithmetic: an OverflowError, never a wrapped result. */
PM_API pm_object *pm_int_add(pm_object *a, pm_object *b);
PM_API pm_object *pm_int_sub(pm_object *a, pm_object *b);
PM_API pm_object *pm_int_mul(pm_object *a, pm_object *b);
PM_API pm_object *pm_int_floordiv(pm_object *a, pm_object *b);
PM_API pm_object *pm_float(double v);
PM_API int pm_float_value(pm_object *o, double *out); /* int or float */

/* ---- str and bytes ------------------------------------------------------- */

/* UTF-8, immutable; invalid UTF-8 is a UnicodeError. Lengths are in code
 * points; the hash is computed once. */
PM_API pm_object *pm_str_from(const char *utf8);
PM_API pm_object *pm_str_from_len(const char *utf8, size_t nbytes);
PM_API pm_object *pm_str_format(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
PM_API const char *pm_str_utf8(pm_object *s, size_t *nbytes); /* borrowed, NUL-ended */
PM_API int64_t pm_str_length(pm_object *s);                   /* code points */
PM_API pm_object *pm_str_concat(pm_object *a, pm_object *b);
/* Interning (sys.intern): one object per distinct interned string. The
 * result is a new reference to the canonical string. Interned strings are
 * mortal (freed when unused) unless made immortal. */
PM_API pm_object *pm_str_intern(pm_object *s);
PM_API pm_object *pm_str_intern_immortal(pm_object *s);
/* An interned string for an identifier or constant. */
PM_API pm_object *pm_str_id(const char *utf8);

PM_API pm_object *pm_bytes_from(const void *data, size_t n);
PM_API const char *pm_bytes_data(pm_object *b, size_t *n); /* borrowed */

/* ---- tuple, list ---------------------------------------------------------- */

PM_API pm_object *pm_tuple_new(size_t n);       /* items NULL until set      */
PM_API pm_object *pm_tuple_pack(size_t n, ...); /* n pm_object *, borrowed */
PM_API size_t pm_tuple_size(pm_object *t);
PM_API pm_object *pm_tuple_get(pm_object *t, size_t i); /* borrowed */
/* Fill a new tuple: only before it is shared (a tuple whose count is above
 * 1 is refused with RuntimeError, as in CPython). Steals item. */
PM_API int pm_tuple_set_steal(pm_object *t, size_t i, pm_object *item);

/* A list holds at most 2^32-1 items (MemoryError beyond, as for any
 * allocation that cannot be had). */
PM_API pm_object *pm_list_new(size_t n); /* n items, None each        */
PM_API size_t pm_list_size(pm_object *l);
PM_API pm_object *pm_list_get(pm_object *l, int64_t i); /* borrowed; negative from the end */
PM_API int pm_list_set(pm_object *l, int64_t i, pm_object *item);
PM_API int pm_list_append(pm_object *l, pm_object *item);
PM_API int pm_list_append_steal(pm_object *l, pm_object *item);
PM_API int pm_list_insert(pm_object *l, int64_t i, pm_object *item);
PM_API pm_object *pm_list_pop(pm_object *l, int64_t i); /* new ref   */

/* ---- dict, set, frozenset -------------------------------------------------- */

/* Insertion-ordered, compact (CPython 3.6+ layout). */
PM_API pm_object *pm_dict_new(void);
PM_API size_t pm_dict_size(pm_object *d);
PM_API int pm_dict_set(pm_object *d, pm_object *key, pm_object *value);
PM_API int pm_dict_set_str(pm_object *d, const char *key, pm_object *value);
/* Borrowed; NULL with no exception when the key is absent, NULL with one
 * on error (unhashable key). */
PM_API pm_object *pm_dict_get(pm_object *d, pm_object *key);
PM_API pm_object *pm_dict_get_str(pm_object *d, const char *key);
PM_API int pm_dict_del(pm_object *d, pm_object *key); /* KeyError */
/* Iterate in insertion order: *pos starts at 0; borrowed key and value. */
PM_API int pm_dict_next(pm_object *d, size_t *pos, pm_object **key, pm_object **value);

PM_API pm_object *pm_set_new(pm_object *iterable); /* iterable may be NULL */
PM_API pm_object *pm_frozenset_new(pm_object *iterable);
PM_API size_t pm_set_size(pm_object *s);
/* Also fills a frozenset, only while it is being built (count 1). */
PM_API int pm_set_add(pm_object *s, pm_object *key);
PM_API int pm_set_discard(pm_object *s, pm_object *key); /* 1 removed, 0 absent */

/* ---- lazy iteration -------------------------------------------------------- */

/* A generator driven by a C callback: each pm_next calls next(state, &item),
 * which returns 1 with a new reference in *item, 0 at the end, -1 on error.
 * release(state) runs once when the generator is freed. Large data can so be
 * processed item by item (seed section 8). */
/* When pm_generator_new fails, release is not called: the caller still
 * owns state. release runs at a deallocation, under a finalizer's rules
 * (no exception pending; one it raises is unraisable). */
typedef int (*pm_gen_next_fn)(void *state, pm_object **item);
PM_API pm_object *pm_generator_new(pm_gen_next_fn next, void *state, void (*release)(void *state));

/* ---- weak references ------------------------------------------------------- */

/* A weak reference to o (whose type has PM_TPFLAGS_WEAKREF, or is a built-in
 * that allows them). When o dies, the reference is cleared and then, if the
 * weak reference object itself is still alive, callback(wr, arg) runs
 * (with no exception pending; one it raises is unraisable).
 * arg is held strongly by the weak reference (may be NULL). */
typedef void (*pm_weakref_cb)(pm_object *wr, pm_object *arg);
PM_API pm_object *pm_weakref_new(pm_object *o, pm_weakref_cb callback, pm_object *arg);
/* The target (a new reference), or None once it died. */
PM_API pm_object *pm_weakref_get(pm_object *wr);
PM_API size_t pm_weakref_count(pm_object *o);
/* A dict whose values are held weakly: an entry disappears when its value
 * dies (a cache that forgets unused values). */
PM_API pm_object *pm_weakvaluedict_new(void);
PM_API int pm_weakvaluedict_set(pm_object *d, pm_object *key, pm_object *value);
PM_API pm_object *pm_weakvaluedict_get(pm_object *d, pm_object *key); /* new ref or NULL */
PM_API size_t pm_weakvaluedict_size(pm_object *d);

/* ---- JSON ----------------------------------------------------------------- */

typedef struct pm_json_error {
    size_t line, col; /* 1-based position of the error                     */
    size_t offset;    /* byte offset                                       */
    char message[160];
} pm_json_error;

/* Flags of pm_json_loads_flags and pm_json_dumps_flags (0: Python's json
 * defaults). Unknown bits are a ValueError.
 *   PM_JSON_STRICT  RFC 8259 only: the reader rejects NaN, Infinity and
 *                   -Infinity ("Expecting value"); the writer raises
 *                   ValueError for a NaN or infinite float, as
 *                   json.dumps(allow_nan=False). */
#define PM_JSON_STRICT 0x1u

/* Parse JSON as Python's json.loads does: RFC 8259 (any value at top level,
 * UTF-8 checked, duplicate keys: last wins) plus the constants NaN,
 * Infinity and -Infinity, which become floats (pymm 0.1.0 rejected them, as
 * PM_JSON_STRICT still does). Integers beyond 64 bits
 * become floats. Errors: ValueError with err filled (line, column in
 * bytes); nesting beyond max_depth (0: 512) is a RecursionError, as in
 * Python. pm_json_loads is pm_json_loads_flags with flags 0. */
PM_API pm_object *pm_json_loads(const char *text, size_t n, int max_depth, pm_json_error *err);
PM_API pm_object *pm_json_loads_flags(const char *text, size_t n, int max_depth, unsigned flags,
                                      pm_json_error *err);
/* Serialize to a str: indent < 0: one line with Python's default
 * separators ', ' and ': '; indent >= 0: json.dumps(indent=n). Non-ASCII is
 * escaped (ensure_ascii). NaN and infinities are written NaN, Infinity,
 * -Infinity (allow_nan, the default: pm_json_loads reads them back), or a
 * ValueError with PM_JSON_STRICT. TypeError for values JSON cannot hold,
 * ValueError for a circular reference. pm_json_dumps is
 * pm_json_dumps_flags with flags 0. */
PM_API pm_object *pm_json_dumps(pm_object *o, int indent);
PM_API pm_object *pm_json_dumps_flags(pm_object *o, int indent, unsigned flags);

/* ---- statistics and free lists --------------------------------------------- */

typedef struct pm_freelist_stats {
    const char *name; /* "float", "tuple[3]", "list", "dict", ...        */
    uint64_t size, limit, reused, released;
} pm_freelist_stats;

typedef struct pm_runtime_stats {
    uint64_t objects_allocated, objects_freed;
    int64_t total_refcount; /* debug builds (PM_DEBUG) only; else -1 */
    uint64_t interned, intern_lookups, intern_hits, intern_bytes_saved;
    uint64_t deferred_deallocs; /* deallocations queued to bound the C stack */
} pm_runtime_stats;

/* Writes at most size bytes (the macro passes the caller's sizeof);
 * returns the bytes written. */
PM_API size_t pm_runtime_get_stats_sized(pm_runtime *rt, pm_runtime_stats *out, size_t size);
#define pm_runtime_get_stats(rt, out) pm_runtime_get_stats_sized((rt), (out), sizeof *(out))
/* Live objects per type in debug mode: calls fn for each type with live
 * instances in rt (shared types included: the counts are rt's own);
 * returns the number of such types. */
PM_API size_t pm_runtime_type_counts(pm_runtime *rt,
                                     void (*fn)(void *arg, const pm_type *t, uint64_t live),
                                     void *arg);
/* Up to cap free lists; returns how many exist. */
PM_API size_t pm_runtime_freelists(pm_runtime *rt, pm_freelist_stats *out, size_t cap);
PM_API void pm_runtime_clear_freelists(pm_runtime *rt);

/* ======================================================================== */
/* Layer 3: the cycle collector                                             */
/* ======================================================================== */
/*
 * CPython's generational collector (3.11 semantics). Objects of GC types
 * are tracked once fully built (containers track themselves; instances of
 * user GC types when pm_object_new returns). Reference counting frees most
 * objects; the collector finds groups that keep each other alive and are
 * unreachable from outside, runs their finalizers (PEP 442: at most once;
 * resurrection keeps an object and all it reaches), clears weak references
 * to them (callbacks run only for weak references outside the garbage), and
 * breaks them with the clear slot. Objects with a legacy finalizer in such
 * a group are uncollectable and go to the garbage list.
 *
 * When a collection can run: automatically only when a GC object is being
 * allocated (before it exists), if the young generation's count passed its
 * threshold; or when pm_gc_collect is called. Never in the middle of an
 * operation on an object's internals (a dict resize, a list growth).
 * Finalizers and weak-reference callbacks therefore run only at those
 * points.
 *
 * Which collector: each runtime has its own (its generations, thresholds,
 * statistics, callbacks, debug flags, garbage list, frozen objects), and
 * every pm_gc_* function below acts on the calling thread's current
 * runtime (pm_runtime_current()), as CPython's gc module acts on the
 * current interpreter. A program with several runtimes makes one current
 * (pm_runtime_enter, which returns the previous one to enter again after)
 * and then calls pm_gc_*; a collection never touches another runtime's
 * objects. An object passed to pm_gc_track, pm_gc_untrack or
 * pm_gc_get_referrers must belong to the current runtime (see "What may
 * cross runtimes and threads").
 */

PM_API void pm_gc_track(pm_object *o);
PM_API void pm_gc_untrack(pm_object *o);
PM_API int pm_gc_is_tracked(pm_object *o);
PM_API int pm_gc_is_finalized(pm_object *o);

/* Collect generations 0..generation (2: full). Returns the number of
 * unreachable objects found (collected + uncollectable), or -1 when a
 * collection is already running. Never MemoryError: without memory for
 * its working vectors the collection is put off (0; docs/DESIGN.md, "Out
 * of memory in the collector"). */
PM_API int64_t pm_gc_collect(int generation);
PM_API void pm_gc_enable(void);
PM_API void pm_gc_disable(void);
PM_API int pm_gc_is_enabled(void);
PM_API void pm_gc_set_threshold(int t0, int t1, int t2); /* default 2000, 10, 10 */
PM_API void pm_gc_get_threshold(int *t0, int *t1, int *t2);
/* Adaptive pacing (default on; PYMM_GC_ADAPTIVE=0 at start-up turns it
 * off): a collection that finds nothing backs its generation off --
 * generation 0's window up to 4x while most objects die young in it,
 * generation 1 to every 4 x threshold1 x threshold0 allocations, the full
 * collection's 25% rule up to 4x -- and after a fruitless generation-1
 * collection young survivors skip generation 1; one that finds garbage
 * restores CPython's schedule. Off: exactly CPython's.
 * pm_gc_get_threshold always returns the base. */
PM_API void pm_gc_set_adaptive(int on);
PM_API int pm_gc_get_adaptive(void);
PM_API void pm_gc_get_count(int *c0, int *c1, int *c2);

#define PM_GC_PAUSE_BUCKETS                                                                        \
    12 /* <0.01, <0.03, <0.1, <0.3, <1, <3, <10, <30, <100, <300, <1000 ms, more */
typedef struct pm_gc_generation_stats {
    uint64_t collections, collected, uncollectable;
    double pause_total_ms, pause_max_ms;
    uint64_t pause_histogram[PM_GC_PAUSE_BUCKETS];
    /* Automatic young collections not run because no young object had
     * lost a reference (PM_OF_LOST_REF): their objects were promoted as a
     * collection would have. Not in `collections`; no callbacks. */
    uint64_t skipped;
} pm_gc_generation_stats;
/* Fills out[0..2], each of size bytes (the macro passes the caller's
 * sizeof of one element; it is also the array's stride); writes at most
 * size bytes of each. Returns the bytes written per element. */
PM_API size_t pm_gc_get_stats_sized(pm_gc_generation_stats *out, size_t size);
#define pm_gc_get_stats(out) pm_gc_get_stats_sized((out), sizeof *(out))

typedef struct pm_gc_info {
    size_t struct_size; /* sizeof(pm_gc_info) of the library */
    int generation;
    int64_t collected, uncollectable; /* at "stop" */
    double pause_ms;                  /* at "stop" */
} pm_gc_info;
/* phase: "start" or "stop". A callback runs with no exception pending; one
 * it raises is unraisable (pm_unraisable). A collection never sets or
 * clears the caller's exception: one pending when it starts (at
 * pm_gc_collect or at the allocation that triggered it) is pending after. */
typedef void (*pm_gc_callback)(const char *phase, const pm_gc_info *info, void *arg);
PM_API int pm_gc_callback_add(pm_gc_callback fn, void *arg);
PM_API int pm_gc_callback_remove(pm_gc_callback fn, void *arg);

#define PM_GC_DEBUG_STATS (1 << 0)
#define PM_GC_DEBUG_COLLECTABLE (1 << 1)
#define PM_GC_DEBUG_UNCOLLECTABLE (1 << 2)
#define PM_GC_DEBUG_SAVEALL (1 << 5)
#define PM_GC_DEBUG_LEAK (PM_GC_DEBUG_COLLECTABLE | PM_GC_DEBUG_UNCOLLECTABLE | PM_GC_DEBUG_SAVEALL)
PM_API void pm_gc_set_debug(int flags);
PM_API int pm_gc_get_debug(void);

/* gc.garbage: a list (borrowed) of uncollectable objects, and of every
 * unreachable object in SAVEALL mode. */
PM_API pm_object *pm_gc_garbage(void);
/* New lists: tracked objects (generation -1: all), the objects that refer
 * to o, and the objects o refers to. */
PM_API pm_object *pm_gc_get_objects(int generation);
PM_API pm_object *pm_gc_get_referrers(pm_object *o);
PM_API pm_object *pm_gc_get_referents(pm_object *o);
/* Move every tracked object to a permanent generation the collector
 * ignores (after a fork, say); unfreeze moves them back to the oldest. */
PM_API void pm_gc_freeze(void);
PM_API void pm_gc_unfreeze(void);
PM_API size_t pm_gc_get_freeze_count(void);

/* Validate the collector's invariants in the current runtime: every
 * object of every generation where it should be (the young vector's slot
 * it names, or its bit of the generation's address map, with the maps'
 * counts right), tracked, carrying that generation and no state of a
 * collection in progress. Returns the
 * number of tracked objects, or -1 (RuntimeError set, naming the object,
 * its type and the breach). O(tracked objects); for tests and debugging. */
PM_API int64_t pm_gc_check(void);

/* ======================================================================== */
/* Layer 4: diagnostics -- the allocation recorder                          */
/* ======================================================================== */
/*
 * tracemalloc's questions, asked of every heap. While tracing is on, every
 * block that any heap gives (the raw, mem and obj domains, pm_heap_malloc
 * and friends, the object layer's own allocations, large blocks) is
 * recorded with its requested size and the stack of native frames that
 * allocated it; a free takes the record out, and realloc is a free and an
 * allocation. Blocks allocated before pm_trace_start are not traced, and
 * neither is their free.
 *
 * Tracing off costs the allocator nothing: pm_trace_start wraps every
 * heap's domain tables and pm_heap_* entry points (and those of heaps
 * made while it traces), and the object layer's inline paths, which run
 * only while the obj table is the heap's own, leave for the wrapper by
 * themselves; pm_trace_stop puts everything back (docs/DESIGN.md,
 * "Diagnostics: tracing"). The recorder's own memory comes from the OS
 * and is never traced (pm_trace_overhead says how much it is).
 *
 * pm_trace_start and pm_trace_stop need every other thread to have
 * stopped allocating, as pm_heap_enable_debug does; while tracing, any
 * thread may allocate, free and ask. Stacks are read by walking frame
 * pointers when the program keeps them, else with libgcc's unwinder
 * (pm_trace_unwinder says which), which needs unwind tables (gcc and clang
 * emit them by default on x86-64 and arm64).
 */
#define PM_TRACE_MAX_FRAMES 64

typedef struct pm_trace_config {
    size_t struct_size;  /* sizeof(pm_trace_config) as compiled; 0: this layout */
    unsigned frames;     /* frames kept per stack, 1..PM_TRACE_MAX_FRAMES, of
                           each kind (native, and interpreter: the
                           innermost); 0: 16 */
    const char *file;    /* a capture file to write as the program runs, for
                           `pymm report` (docs/FORMATS.md); %p in it becomes
                           the process id (a fork child with %p writes its
                           own; without, it records in memory only). NULL:
                           in memory only */
    size_t sample_bytes; /* 0: record every allocation. N: one allocation per
                            N bytes on average (exponential gaps per thread,
                            as jemalloc and Go), each counted as the
                            1/(1 - e^(-size/N)) allocations it stands for,
                            so totals stay unbiased */
    uint64_t seed;       /* the sampling's random seed; 0: from the clock */
} pm_trace_config;
#define PM_TRACE_MAX_SAMPLE ((size_t)1 << 40) /* sample_bytes above: EINVAL */

#define PM_TRACE_CONFIG_INIT                                                                       \
    { .struct_size = sizeof(pm_trace_config), .frames = 16 }

/* Start recording (cfg NULL: the defaults). 0, or -1 with errno: EBUSY
 * (already tracing), EINVAL (a bad config), ENOMEM, or why the capture
 * file could not be made (nothing changed then). PYMM_TRACE=FILE in the
 * environment starts it before main() with that file, and stops it at
 * exit (PYMM_TRACE_FRAMES=N: the frames; PYMM_TRACE_SAMPLE=BYTES: sampled).
 * Tracing replaces every heap's domain tables with its own wrappers, and
 * stopping puts the heap's back and frees the wrappers: a program that
 * copies a heap's tables (pm_heap_get_allocator) into another allocator
 * (as pymm-python gives them to CPython) must copy them again after each
 * start and each stop; an old copy misses the recorder, or, after the
 * stop, calls freed memory. Other threads must not allocate during
 * either call. */
PM_API int pm_trace_start(const pm_trace_config *cfg);
/* Stop recording and forget every record and stack. */
PM_API void pm_trace_stop(void);
PM_API int pm_trace_is_tracing(void);

/* Bytes requested by the live traced blocks now, and at their peak since
 * the start or the last reset (0 and 0 while not tracing). */
PM_API void pm_trace_get_traced_memory(size_t *current, size_t *peak);
PM_API void pm_trace_reset_peak(void);
/* Allocations recorded since the start; bytes the recorder has mapped for
 * itself (stacks, records, tables). */
PM_API uint64_t pm_trace_recorded(void);
/* Allocations not recorded because the recorder could not map memory for
 * them (the program's allocation itself succeeded). A capture says it. */
PM_API uint64_t pm_trace_dropped(void);
PM_API size_t pm_trace_overhead(void);
/* How stacks are read: "deciding" for the first 64 stacks, each read both
 * with the unwinder and by walking frame pointers; then "frame pointers"
 * (fast) if every one agreed, else "unwinder" (libgcc's, correct for code
 * built without frame pointers, slow); "off" while not tracing. Build a
 * program with -fno-omit-frame-pointer (and pymm with
 * -DPYMM_FRAME_POINTERS=ON) for the fast walk. */
PM_API const char *pm_trace_unwinder(void);

/* The stack that allocated live traced block p: up to max return
 * addresses (each minus one: an address inside the call instruction),
 * the innermost first, starting with the caller of the allocation
 * function (pm_mem_malloc, pm_heap_malloc, the object layer's). Returns
 * how many were written; 0 when p is not a live traced block. */
PM_API size_t pm_trace_get_traceback(const void *p, void **frames, size_t max);
/* The stack that made object o, as pm_trace_get_traceback gives it: 0 for
 * a static or immortal object that is no block, and for one made while
 * not tracing. While tracing, free lists are off, so the stack is that of
 * the object, not of an earlier object whose block it reuses. */
PM_API size_t pm_trace_object_traceback(const pm_object *o, void **frames, size_t max);

/* An interpreter's own frames (script.lua:42, app.py:17): an embedder
 * pushes one when it enters a function of its language and pops it when
 * it leaves, and may move the line as it runs; an allocation is then
 * attributed to those frames as well as to the C functions under them.
 * Per thread, and cheap (a few stores), so an interpreter may call them
 * whether tracing is on or not. file and function are not copied: they
 * must stay valid and unchanged while tracing is on. The innermost 128
 * nested frames are kept; those above them are counted, not kept. */
PM_API void pm_trace_push_frame(const char *file, const char *function, int line);
/* Called by the recorder on the allocating thread just before it reads
 * that thread's interpreter frames (only when it has pushed some), so an
 * embedder may bring the innermost frame's line up to date then
 * (pm_trace_set_line) instead of at every line it runs. It runs inside an
 * allocation: it must not allocate, free or take a lock the allocating
 * code may hold. Set it while no other thread allocates; fn NULL removes
 * it. */
PM_API void pm_trace_set_line_hook(void (*fn)(void *arg), void *arg);
PM_API void pm_trace_set_line(int line);
PM_API void pm_trace_pop_frame(void);

/* What a frame of pm_trace_get_traceback or pm_trace_stack_frames is:
 * interpreter 1 with its file, function and line; or 0 for a native frame
 * (a return address minus one), named as far as the process can: file is
 * its module's path, function the exported symbol that holds it (NULL
 * if none), offset its distance from the module's load address, line 0
 * (`pymm report` names C files and lines from debug information). 0, or
 * -1 for an interpreter frame this recording does not know. */
typedef struct pm_trace_frame {
    int interpreter;
    const char *file, *function;
    int line;
    uintptr_t offset;
} pm_trace_frame;
PM_API int pm_trace_frame_info(const void *frame, pm_trace_frame *out);

/* memory_profiler's and mprof's questions. A section is a span of one
 * thread's work (sections nest; up to 16 levels are measured): at its end
 * pymm adds to the section of that name its net change of traced bytes
 * and its peak above where it began (the process's traced bytes, as the
 * thread's own allocations raise them), and counts it. A mark is a named
 * instant on the capture's timeline. name and label are kept by pointer:
 * they must stay valid while tracing is on. Without tracing, sections are
 * only counted for balance and marks do nothing. */
PM_API void pm_trace_section_begin(const char *name);
PM_API void pm_trace_section_end(void);
PM_API void pm_trace_mark(const char *label);

typedef struct pm_trace_section {
    const char *name;
    uint64_t occurrences;
    int64_t net_bytes; /* the sum of its net changes */
    size_t peak_bytes; /* the most above its start, in any occurrence */
} pm_trace_section;
/* Up to max sections ended since the start, in no order; how many. */
PM_API size_t pm_trace_sections(pm_trace_section *out, size_t max);

/* The live traced blocks grouped by their allocation stack. stack names
 * the stack for pm_trace_stack_frames; domain is PM_DOMAIN_RAW, _MEM,
 * _OBJ or PM_TRACE_DOMAIN_HEAP (pm_heap_malloc and friends). */
#define PM_TRACE_DOMAIN_HEAP 3
typedef struct pm_trace_stat {
    uint32_t stack;
    size_t size;  /* bytes requested */
    size_t count; /* blocks */
    int domain;
} pm_trace_stat;

/* The max stacks with the most live traced bytes, largest first; returns
 * how many were written. */
PM_API size_t pm_trace_top(pm_trace_stat *out, size_t max);
/* The frames of stack (as pm_trace_get_traceback); 0 for an unknown id
 * or a stack of no frames. */
PM_API size_t pm_trace_stack_frames(uint32_t stack, void **frames, size_t max);

/* Snapshots (tracemalloc's): a copy of the live traced blocks grouped by
 * stack, with every frame resolved (pm_trace_frame) into strings of its
 * own, so a snapshot outlives the recording and may be dumped to a file
 * and loaded back, in this process or another. Its memory comes from the
 * OS and never shows in the recorder's figures. NULL with errno: EINVAL
 * when not tracing (take), or for a file that is not a snapshot (load);
 * ENOMEM; the file's own errors. */
typedef struct pm_trace_snapshot pm_trace_snapshot;
PM_API pm_trace_snapshot *pm_trace_take_snapshot(void) PM_NODISCARD;
PM_API void pm_trace_snapshot_free(pm_trace_snapshot *s);
PM_API int pm_trace_snapshot_dump(const pm_trace_snapshot *s, const char *path);
PM_API pm_trace_snapshot *pm_trace_snapshot_load(const char *path) PM_NODISCARD;
/* Its stacks (numbered from 0) and a stack's frames, innermost first;
 * the strings belong to the snapshot. */
PM_API size_t pm_trace_snapshot_stacks(const pm_trace_snapshot *s);
PM_API size_t pm_trace_snapshot_frames(const pm_trace_snapshot *s, size_t stack,
                                       pm_trace_frame *out, size_t max);

/* A filter keeps or drops stacks: those of `domain` (-1: any) whose
 * innermost frame (any frame, with all_frames) has a file matching
 * file_pattern (fnmatch; NULL: any) and, if line > 0, that interpreter
 * line, and, with type_pattern, whose objects' type name matches it
 * (blocks that are not objects never do). As tracemalloc: a stack is kept
 * when some inclusive filter matches it (or there is none) and no
 * exclusive one does. */
typedef struct pm_trace_filter {
    int inclusive;
    const char *file_pattern;
    int line;
    int domain;
    int all_frames;
    const char *type_pattern; /* fnmatch on the type's name; NULL: any */
} pm_trace_filter;
PM_API pm_trace_snapshot *pm_trace_snapshot_filter(const pm_trace_snapshot *s,
                                                   const pm_trace_filter *filters,
                                                   size_t n) PM_NODISCARD;

/* Statistics: the live bytes and blocks grouped by a key. By line, a
 * native frame's "line" is its offset; by function, a native frame with
 * no name keeps its offset. By type: the objects' type name, the blocks
 * that are not objects (buffers, a program's blocks, objects of a debug
 * heap) under type NULL; a snapshot's entries are already split by type
 * (an entry is a stack and a type), since the object layer marks the
 * records of the objects it makes while it is traced. cumulative: every frame of a stack counts
 * (each key once a stack), not only the innermost. With base, each
 * entry also gives the change since base (a key only in base has size 0
 * and a negative change), sorted by the size of the change; without, by
 * size. The entries' strings and stacks belong to the snapshots; stack
 * is a stack number of `snapshot` (s, or base for a key only there).
 * Writes up to max entries; returns how many there are. */
enum {
    PM_TRACE_BY_STACK,
    PM_TRACE_BY_LINE,
    PM_TRACE_BY_FUNCTION,
    PM_TRACE_BY_FILE,
    PM_TRACE_BY_DOMAIN,
    PM_TRACE_BY_TYPE
};
typedef struct pm_trace_entry {
    pm_trace_frame where; /* the key's frame (by line, function or file) */
    int domain;           /* the key's domain (by domain); its stack's otherwise */
    const pm_trace_snapshot *snapshot;
    size_t stack;
    size_t size, count;
    int64_t size_diff, count_diff;
    const char *type; /* the key's type (by type); its stack's otherwise; NULL: not objects */
} pm_trace_entry;
PM_API size_t pm_trace_snapshot_statistics(const pm_trace_snapshot *s,
                                           const pm_trace_snapshot *base, int key, int cumulative,
                                           pm_trace_entry *out, size_t max);

/* ======================================================================== */
/* Layer 4: diagnostics -- the census of objects                            */
/* ======================================================================== */
/*
 * objgraph's typestats and show_growth, pympler's summary and tracker:
 * how many objects of each type a runtime holds, how many bytes of its
 * heap they take, and what changed. A census counts every live object of
 * the runtime, tracked by the collector or not (ints, strs and floats as
 * well as containers), including large objects beyond the pools; it
 * leaves out blocks on the runtime's free lists, objects of debug mode's
 * quarantine, static objects (None, small ints, the built-in types:
 * they are nobody's heap) and shared types (allocated outside every
 * heap). A row's bytes are its objects' heap blocks (the size class of a
 * pool block, the size of a large one), not the buffers they own (a
 * list's item array, a dict's table).
 *
 * How it finds them (docs/DESIGN.md, "Diagnostics: census"): a runtime
 * allocates its objects, and nothing else, from pools of its own, which
 * the census walks without recursion; a chain of 10,000,000 objects costs
 * it no stack. It allocates nothing from any heap and makes no object, so
 * it never counts itself or its results.
 *
 * rt NULL means the calling thread's current runtime; a runtime is
 * censused by the thread using it. A call that fails returns NULL or -1
 * with the current runtime's exception set: MemoryError, or RuntimeError
 * when the runtime's objects do not come from its heap's pools (its heap
 * has debug hooks, or a program replaced its obj domain; pm_trace_start's
 * recording keeps them there), or for a question about a mark that is not
 * set.
 */
typedef struct pm_census pm_census;
/* A row: the objects of one type. type identifies the type, and may no
 * longer be a live one: compare it, never read it; type_name is the
 * census's copy of its name. In a difference (pm_census_diff) count and
 * bytes are changes, negative when the type shrank. */
typedef struct pm_census_row {
    const char *type_name;
    const pm_type *type;
    int64_t count;
    int64_t bytes;
} pm_census_row;

/* Every live object of rt, by type. Rows are sorted by count (then bytes,
 * then name), largest first. */
PM_API pm_census *pm_census_take(pm_runtime *rt) PM_NODISCARD;
PM_API void pm_census_free(pm_census *c);
/* Its rows (0 .. size - 1; NULL past the end), the row of a type by
 * name (the largest, if types share the name) or by identity (NULL when
 * none), and the totals over all rows (either pointer may be NULL). The
 * rows belong to the census. */
PM_API size_t pm_census_size(const pm_census *c);
PM_API const pm_census_row *pm_census_row_at(const pm_census *c, size_t i);
PM_API const pm_census_row *pm_census_find(const pm_census *c, const char *type_name);
PM_API const pm_census_row *pm_census_find_type(const pm_census *c, const pm_type *type);
PM_API void pm_census_totals(const pm_census *c, int64_t *count, int64_t *bytes);
/* now minus before, per type (a type in one census only counts as 0 in
 * the other), with the rows whose count and bytes did not change left
 * out; sorted by the change of count, growth first. Exact: every object
 * is counted, none sampled. */
PM_API pm_census *pm_census_diff(const pm_census *now, const pm_census *before) PM_NODISCARD;
/* A table (type, count, bytes, then the totals; changes signed for a
 * difference), at most limit rows (0: all). 0, or -1 on a write error. */
PM_API int pm_census_print(const pm_census *c, FILE *out, size_t limit);

/* New since a mark (objgraph's get_new_ids, without its reuse of ids):
 * from pm_census_mark on, rt notes the address of every object it makes
 * (a set in internal memory, one entry per address given; a mark set again
 * starts anew). pm_census_take_new counts, and pm_census_new_objects
 * lists, the live objects made since, and nothing older even where a new
 * object took an older one's block. While a mark is set, every object
 * allocation of rt costs a lookup in the set (the plain-type fast path of
 * pm_object_new_refs_steal is off); pm_census_unmark ends it, and
 * pm_runtime_destroy frees it. If the set could not grow, the questions
 * fail with MemoryError until the next mark. The objects are borrowed, in
 * an array freed with pm_census_objects_free (never NULL on success, even
 * for none). */
PM_API int pm_census_mark(pm_runtime *rt);
PM_API void pm_census_unmark(pm_runtime *rt);
PM_API pm_census *pm_census_take_new(pm_runtime *rt) PM_NODISCARD;
PM_API pm_object **pm_census_new_objects(pm_runtime *rt, size_t *n) PM_NODISCARD;
PM_API void pm_census_objects_free(pm_object **objects);

/* A tracker (pympler's SummaryTracker): a baseline census taken when it
 * is made (or rebased), and the census of its last call. growth: the
 * difference since the previous growth call (or since the baseline, the
 * first time), which then becomes the previous one; since_baseline: the
 * difference since the baseline, changing nothing; print_diff: growth,
 * printed as pm_census_print does. The tracker's own memory is internal,
 * never in a census. */
typedef struct pm_census_tracker pm_census_tracker;
PM_API pm_census_tracker *pm_census_tracker_new(pm_runtime *rt) PM_NODISCARD;
PM_API pm_census *pm_census_tracker_growth(pm_census_tracker *t) PM_NODISCARD;
PM_API pm_census *pm_census_tracker_since_baseline(pm_census_tracker *t) PM_NODISCARD;
PM_API int pm_census_tracker_rebase(pm_census_tracker *t);
PM_API int pm_census_tracker_print_diff(pm_census_tracker *t, FILE *out);
PM_API void pm_census_tracker_free(pm_census_tracker *t);

/* ======================================================================== */
/* Layer 4: diagnostics -- why is it alive                                  */
/* ======================================================================== */
/*
 * objgraph's find_backref_chain and get_leaking_objects, with labelled
 * edges and without guessing (docs/DESIGN.md, "Diagnostics: why is it
 * alive"). Each question walks every live object of the runtime, as a
 * census does, with no recursion and no object made; its memory is
 * internal, never an object. A failing call returns NULL or -1 with the
 * current runtime's exception set (MemoryError, or the census's
 * RuntimeError for a runtime whose objects do not come from its pools).
 *
 * Roots: what a program holds on purpose (globals, modules, caches,
 * interpreter state), declared with a name. A root is a strong reference
 * held by the current runtime until pm_root_remove or the runtime's
 * destruction; the table and its names are internal memory. Adding an
 * object that is already a root renames it (still one reference).
 * pm_root_remove fails with KeyError when o is not a root. pm_root_at:
 * the i-th root in the order added (borrowed; NULL past the end), its
 * name through *name when name is not NULL. rt NULL: the current runtime.
 */
PM_API int pm_root_add(pm_object *o, const char *name);
PM_API int pm_root_remove(pm_object *o);
PM_API size_t pm_roots_count(pm_runtime *rt);
PM_API pm_object *pm_root_at(pm_runtime *rt, size_t i, const char **name);

/* Held from C: the references to an object that nothing in the graph
 * accounts for, its count minus the references from the runtime's live
 * objects (tracked by the collector or not), from declared roots and from
 * pymm itself (an instance's reference to its type, the garbage list,
 * weak references' callback arguments, objects waiting for deallocation;
 * free lists and interned strings hold none). What is left was taken by C
 * code: a local or global variable, a structure of the program, or a
 * reference never released. Immortal objects have none. pm_held_from_c:
 * o's (0 for an object not in the runtime's heap), or -1;
 * pm_held_from_c_all: every object of rt that has some, by address, in
 * an array of *n (never NULL on success) freed with pm_held_free; the
 * objects are borrowed. */
typedef struct pm_held {
    pm_object *object;
    int64_t refs;
} pm_held;
PM_API int64_t pm_held_from_c(pm_object *o);
PM_API pm_held *pm_held_from_c_all(pm_runtime *rt, size_t *n) PM_NODISCARD;
PM_API void pm_held_free(pm_held *h);

/* The shortest chain of references to target from a declared root or,
 * failing one as short, from an object held from C ("held from C: N"),
 * found breadth-first (a 10,000,000-long chain costs no stack). The path
 * lists pm_path_length objects, the root first and target last; 0 when
 * nothing leads to target (a cycle no root or C reference holds).
 * pm_path_label: the i-th step's label into buf (always NUL-ended): for
 * step 0 how the chain starts ("root 'config'", "held from C: 1"), for
 * the others the edge from the step before: "[2]" (list or tuple item),
 * "['users']" (dict value by its key), "key 'users'", "member" (set),
 * "__dict__" (an instance's attributes), "field N" (reference field),
 * "type" (an instance's heap type), "iterated" (an iterator's
 * container), "weakref referent N" (what a weak reference holds: its
 * callback's argument, a keyed one's key), "referent N" (the N-th
 * reference a type's traverse slot visits). pm_path_print: one line per
 * step, with the object's type and a short description; 0, or -1 on a
 * write error. The path's objects are borrowed, and it must be read
 * before the graph changes (labels read the containers again). target
 * must be an object of the current runtime's heap (else ValueError). */
typedef struct pm_path pm_path;
PM_API pm_path *pm_path_to(pm_object *target) PM_NODISCARD;
PM_API size_t pm_path_length(const pm_path *p);
PM_API pm_object *pm_path_object(const pm_path *p, size_t i);
PM_API void pm_path_label(const pm_path *p, size_t i, char *buf, size_t size);
PM_API int pm_path_print(const pm_path *p, FILE *out);
PM_API void pm_path_free(pm_path *p);

/* The referrers of target as a tree to a depth (objgraph's show_backrefs),
 * or its referents (show_refs): node 0 is target, a node's children are
 * the objects holding it (pm_refgraph_backrefs) or held by it
 * (pm_refgraph_refs), found breadth-first over the whole runtime (the
 * referrers through a reverse index built once per call; no recursion).
 * Nodes at depth `depth` are not expanded (0: target alone). A node shows
 * at most max_refs children (0: no limit); the rest are one cut-off node,
 * object NULL, that stands for `more` of them ("N more"). An object is
 * expanded at its first node only: a later node for it has `same` (the
 * first one's number) and no children, so cycles end. Objects outside the
 * runtime's heap (statics, shared types) appear as referents but are not
 * expanded. Each node says whether its object is a declared root (root:
 * its name) and how many references C holds to it (pm_held_from_c).
 * pm_refgraph_label: the reference between node i and its parent into buf
 * (always NUL-ended; empty for node 0 and cut-offs), as pm_path_label
 * says it, read in the holder (for referrers: node i itself).
 * pm_refgraph_print: one line per node, depth first, indented by depth;
 * 0, or -1 (a write error, or MemoryError). The tree's objects are
 * borrowed, and it must be read before the graph changes. target must be
 * an object of the current runtime's heap (else ValueError). */
#define PM_REFGRAPH_NONE SIZE_MAX
typedef struct pm_refgraph pm_refgraph;
typedef struct pm_refgraph_node {
    pm_object *object; /* borrowed; NULL for a cut-off                  */
    size_t parent;     /* the node above; PM_REFGRAPH_NONE for node 0   */
    size_t depth;      /* 0 for target                                  */
    size_t more;       /* a cut-off: how many children it stands for    */
    size_t same;       /* a repeat: the node that shows it, else NONE   */
    int64_t held_from_c;
    const char *root; /* a declared root's name, else NULL */
} pm_refgraph_node;
PM_API pm_refgraph *pm_refgraph_backrefs(pm_object *target, size_t depth,
                                         size_t max_refs) PM_NODISCARD;
PM_API pm_refgraph *pm_refgraph_refs(pm_object *target, size_t depth, size_t max_refs) PM_NODISCARD;
PM_API size_t pm_refgraph_size(const pm_refgraph *g);
PM_API const pm_refgraph_node *pm_refgraph_node_at(const pm_refgraph *g, size_t i);
PM_API void pm_refgraph_label(const pm_refgraph *g, size_t i, char *buf, size_t size);
PM_API int pm_refgraph_print(const pm_refgraph *g, FILE *out);
PM_API void pm_refgraph_free(pm_refgraph *g);

/* Graphviz DOT text of a tree or a path (`dot -Tsvg` draws it). Each
 * node reads "type\nshort repr": a str's first 20 characters quoted, an
 * int's value, a container's length, else its address; target is filled
 * orange with a double border, a declared root green (doubleoctagon, with
 * its name), an object held from C blue (octagon, with the count); edges
 * point from holder to held, labelled as pm_path_label says; a cut-off is
 * a dashed "N more" node; a repeat is an edge to the node already drawn.
 * Quotes, backslashes and control characters of labels are escaped.
 * write: to out; save: to a new file at path. 0, or -1 on an error of
 * writing (errno says which; no exception is set). */
PM_API int pm_refgraph_write_dot(const pm_refgraph *g, FILE *out);
PM_API int pm_refgraph_save_dot(const pm_refgraph *g, const char *path);
PM_API int pm_path_write_dot(const pm_path *p, FILE *out);
PM_API int pm_path_save_dot(const pm_path *p, const char *path);

/* ======================================================================== */
/* Layer 4: diagnostics -- sizes                                            */
/* ======================================================================== */
/*
 * How much memory an object stands for (pympler's asizeof, and the
 * retained sizes of heap analyzers), docs/DESIGN.md "Diagnostics: sizes
 * and dominators". An object's bytes are its flat size plus its owned
 * size. Each question walks the runtime as a census does, with no
 * recursion (a chain of 10,000,000 objects costs no stack) and internal
 * memory only (never counted). o must be an object of the current
 * runtime's heap for deep and retained sizes (else ValueError); -1 with
 * the exception set on failure (TypeError for NULL, MemoryError, or the
 * census's RuntimeError).
 *
 * pm_size_flat: the bytes of o's heap block (the size class of a pool
 * block; 0 for a static object, in no heap). pm_size_owned: the bytes o
 * owns outside its block: a list's item array, a dict's or set's table,
 * a heap type's name, a user type's pm_type_spec.owned_size (str and
 * bytes hold their data in their block). pm_size_deep: the bytes of o
 * and of every object reachable from it by strong references, each
 * counted once (an instance's heap type left out, as pympler leaves out
 * classes). pm_size_retained: the bytes that releasing o would free: o
 * and every object that no chain from a root avoiding o reaches, where
 * the roots are the declared roots, the collector's garbage list and the
 * objects held from C (pm_held_from_c); 0 for an object no root reaches
 * (garbage a collection would free).
 */
PM_API int64_t pm_size_flat(pm_object *o);
PM_API int64_t pm_size_owned(pm_object *o);
PM_API int64_t pm_size_deep(pm_object *o);
PM_API int64_t pm_size_retained(pm_object *o);

/* Every object's retained size at once: the dominator tree of the
 * runtime's graph (Lengauer-Tarjan, O(E log N), no recursion). A row per
 * live object of rt (rt NULL: the current runtime), by address: object
 * (borrowed), dominator (the object every chain from the roots to it
 * passes through last; NULL when only the virtual root does: a root, an
 * object held from C, or one reached from several roots' graphs; NULL
 * too when unreachable), count (the objects freed with it, itself
 * included; 0 when no root reaches it) and bytes (theirs). The rows
 * belong to the result, read them before the graph changes; fields may
 * be appended to pm_retained (it is lent, never an array the program
 * sizes). pm_dominators_find: o's row or NULL. pm_dominators_totals: all
 * the roots reach, count and bytes (either pointer may be NULL).
 * pm_dominators_top: the at most max rows retaining the most bytes (then
 * objects), most first, into out[]; how many. pm_dominators_print_top: a
 * table of them (type, objects retained, bytes, short description) and
 * the totals; 0, or -1 on a write error or MemoryError. */
typedef struct pm_retained {
    pm_object *object;
    pm_object *dominator;
    int64_t count;
    int64_t bytes;
} pm_retained;
typedef struct pm_dominators pm_dominators;
PM_API pm_dominators *pm_dominators_take(pm_runtime *rt) PM_NODISCARD;
PM_API size_t pm_dominators_size(const pm_dominators *d);
PM_API const pm_retained *pm_dominators_at(const pm_dominators *d, size_t i);
PM_API const pm_retained *pm_dominators_find(const pm_dominators *d, const pm_object *o);
PM_API void pm_dominators_totals(const pm_dominators *d, int64_t *count, int64_t *bytes);
PM_API size_t pm_dominators_top(const pm_dominators *d, size_t max, const pm_retained **out);
PM_API int pm_dominators_print_top(const pm_dominators *d, FILE *out, size_t max);
PM_API void pm_dominators_free(pm_dominators *d);
/* ------------------------------------------------------------------------ */
/* Layer 4: diagnostics -- leak verdicts                                    */
/* ------------------------------------------------------------------------ */

/* A leak check of a runtime at a checkpoint (docs/DESIGN.md, "Diagnostics:
 * leak verdicts"; usage: docs/LEAKS.md): one verdict per leak root, none
 * for a clean program.
 *   PM_LEAK_CYCLE    objects a full collection would free (unreachable
 *                    cycles: the collector off, or uncollectable), found
 *                    without freeing them; one verdict per connected group;
 *   PM_LEAK_UNOWNED  objects held by references from C that no declared
 *                    root, no object and no word of the program's memory
 *                    (data, BSS, the calling thread's stack and registers)
 *                    explains; with PM_LEAKS_AT_EXIT every object is judged,
 *                    else only those born since pm_census_mark (none
 *                    without a mark);
 *   PM_LEAK_GROWTH   lists, dicts and sets whose length grew at each of the
 *                    last K checkpoints of a watch after its W warm-up ones;
 *   PM_LEAK_BLOCK    heap blocks that are not objects, still allocated, and
 *                    pointed to from neither the program's memory nor a live
 *                    block it reaches (LeakSanitizer's "definitely lost"). */
typedef enum pm_leak_kind {
    PM_LEAK_CYCLE = 1,
    PM_LEAK_UNOWNED = 2,
    PM_LEAK_GROWTH = 3,
    PM_LEAK_BLOCK = 4
} pm_leak_kind;
/* "cycle", "unowned", "growth", "block"; "?" for another value. */
PM_API const char *pm_leak_kind_name(pm_leak_kind kind);

/* One verdict. type: the leak root's type name ("block" for a block);
 * address: the leak root (an object or a block; for reading, never to
 * use after the graph changes); count and bytes: the objects (blocks) it
 * retains and their heap bytes (for growth: the container's length and
 * its block). path: path_len labelled steps from the root, the root first
 * ("root 'cache': dict (3 items)", "['users'] -> list (10 items)"); a long
 * path keeps its first and last 4 steps and says how many it left out in
 * path_omitted (between steps 3 and 4). stack: the allocation stack of the
 * leak root when tracing (innermost first), else stack_len 0. growth: for
 * PM_LEAK_GROWTH, the length's change at each of the last ngrowth
 * checkpoints, oldest first. nodes, refs, backrefs: the leak root's
 * neighbourhood, objgraph's show_refs and show_backrefs of it at once, as
 * texts taken at the check: nodes[0] is the leak root, every node an
 * object's short description ("dict (3 items)", with " [root 'NAME']" or
 * " [held from C: N]" when so) or a cut-off ("... N more"); refs are the
 * references from the root outwards, backrefs those into it, each edge
 * from the holder to the held node with the reference's label. Depth
 * PM_LEAK_GRAPH_DEPTH, at most PM_LEAK_GRAPH_FAN references per object,
 * for the first PM_LEAK_GRAPH_VERDICTS verdicts that are objects (nnodes
 * 0 for the others and for blocks). Everything belongs to the report. */
#define PM_LEAK_GRAPH_DEPTH 2
#define PM_LEAK_GRAPH_FAN 6
#define PM_LEAK_GRAPH_VERDICTS 32
typedef struct pm_leak_edge {
    size_t from, to;   /* holder and held: numbers in the verdict's nodes */
    const char *label; /* "['users']", "field 0"; "" into a cut-off      */
} pm_leak_edge;
typedef struct pm_leak {
    pm_leak_kind kind;
    const char *type;
    const void *address;
    int64_t count, bytes;
    const char *const *path;
    size_t path_len, path_omitted;
    void *const *stack;
    size_t stack_len;
    const int64_t *growth;
    size_t ngrowth;
    const char *const *nodes;
    size_t nnodes;
    const pm_leak_edge *refs, *backrefs;
    size_t nrefs, nbackrefs;
} pm_leak;

/* The sizes growth verdicts need between checkpoints: a watch of rt's
 * containers. k: the growths in a row that make a verdict (1..8, 0: 3);
 * warmup: the first checkpoints, whose growth does not count (0 is
 * allowed; PM_LEAK_WARMUP_DEFAULT: 1). Its memory is internal. */
#define PM_LEAK_WARMUP_DEFAULT (~0u)
typedef struct pm_leak_watch pm_leak_watch;
PM_API pm_leak_watch *pm_leak_watch_new(unsigned k, unsigned warmup) PM_NODISCARD;
PM_API void pm_leak_watch_free(pm_leak_watch *w);

/* Flags of pm_leaks_check. AT_EXIT: judge every object (at exit, at the
 * runtime's destruction); NO_SCAN: do not scan the program's memory (only
 * declared roots explain: for tests of the rule). */
#define PM_LEAKS_AT_EXIT 1u
#define PM_LEAKS_NO_SCAN 2u

/* Check rt (NULL: the current runtime) now: a report of verdicts, cycles
 * first, then unowned, growth and blocks, each kind by address. w: a watch
 * that this checkpoint updates (NULL: no growth verdicts). NULL on failure
 * with the current runtime's exception set: MemoryError, RuntimeError (the
 * census's refusals: debug hooks, a program's obj domain). Other threads must not
 * allocate during the check; only the calling thread's stack is scanned.
 * The check makes no object and allocates from no heap. */
typedef struct pm_leaks pm_leaks;
PM_API pm_leaks *pm_leaks_check(pm_runtime *rt, pm_leak_watch *w, unsigned flags) PM_NODISCARD;
PM_API size_t pm_leaks_count(const pm_leaks *r);
PM_API const pm_leak *pm_leaks_at(const pm_leaks *r, size_t i);
/* Text, one paragraph per verdict (nothing for none); JSON as
 * docs/FORMATS.md, "Leak verdicts" says. 0, or -1 on a write error. */
PM_API int pm_leaks_print(const pm_leaks *r, FILE *out);
PM_API int pm_leaks_write_json(const pm_leaks *r, FILE *out);
PM_API void pm_leaks_free(pm_leaks *r);
/* PYMM_LEAKS=1 or FILE in the environment (docs/LEAKS.md): a check of the
 * current runtime at exit and of every runtime pm_runtime_destroy ends,
 * printed to stderr or written to FILE as JSON; PYMM_LEAKS_EXITCODE=N
 * exits with N when any verdict was reported; PYMM_LEAKS_SUPPRESS=FILE
 * drops verdicts by kind, type or stack (docs/FORMATS.md). The verdicts
 * reported so far (0 when PYMM_LEAKS is not set). */
PM_API size_t pm_leaks_reported(void);

/* A leak gate for C tests (pytest-memray's limit_leaks, goleak's
 * VerifyNone): open it before the code under test and close it after.
 * Both settle the runtime first (full collections until one frees
 * nothing) and take a census; the close compares the two within limits:
 * objects and bytes more than at the open, in total and for any one type,
 * counting only types whose name matches `types` (an fnmatch pattern;
 * NULL: every type). A limit of -1 is none; limits NULL: all 0, nothing
 * may grow. The close returns 1 within the limits; else 0, after
 * writing to out (when not NULL) the totals, the types that grew and the
 * leak verdicts of the runtime (pm_leaks_check, PM_LEAKS_AT_EXIT). Gates
 * are values: they nest, and nothing is installed. The close and
 * pm_leak_gate_free (a gate given up) free the gate. open: NULL with
 * MemoryError or the census's RuntimeError; a close that cannot take its
 * census says so on out and returns 0 (the exception pending). */
typedef struct pm_leak_limits {
    int64_t objects, bytes, per_type;
    const char *types;
} pm_leak_limits;
typedef struct pm_leak_gate pm_leak_gate;
PM_API pm_leak_gate *pm_leak_gate_open(pm_runtime *rt, const pm_leak_limits *limits) PM_NODISCARD;
PM_API int pm_leak_gate_close(pm_leak_gate *g, FILE *out);
PM_API void pm_leak_gate_free(pm_leak_gate *g);

#ifdef __cplusplus
}
#endif

#endif /* PYMM_H */
