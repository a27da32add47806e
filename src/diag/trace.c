/*
 * trace.c -- the allocation recorder: every block any heap gives while
 * tracing is on, with its requested size and the stack that allocated it.
 *
 * Owns: pm_trace_* (include/pymm.h, "Diagnostics"), the wrappers it puts
 * on every heap's domain tables and pm_heap_* entry points while it
 * traces, the interned stacks, the records of live blocks and the traced
 * totals. The design, with its reasons: docs/DESIGN.md, "Diagnostics:
 * tracing".
 *
 * How it sees every block. Tracing wraps each heap's three domain tables
 * and its pm_heap_* entry points (pmh_heap_set_entry_wrap); a heap made
 * while tracing is wrapped before pm_heap_new returns (pmh_process.heaps'
 * watch). The object layer's inline paths run only while the obj table
 * is the heap's own pool table, so they leave for the wrapper by
 * themselves. Tracing off, nothing is wrapped and nothing is tested: the
 * fast paths are those of an untraced build.
 *
 * Where a record lives (a live traced block costs 8 bytes, no more):
 *   - a block inside an arena of any heap: in its pool's side array, one
 *     slot per block of the pool's class, owned by a three-level radix
 *     map keyed by the pool's address and remembered by the pool's
 *     header (pool_slot: a decommitted header reads as zeros, so the
 *     header is a cache, the map the truth);
 *   - any other block (large blocks, the raw domain's, blocks of a table
 *     a program installed): in a hash table.
 * A slot holds the stack id and the requested size; 0 means no record.
 *
 * Stacks are interned in a trie of (parent, pc) nodes: a stack's id is its
 * innermost frame's node, and the trie's roots are the four domains (raw,
 * mem, obj, pm_heap), so a stack id also says which domain allocated.
 * Nodes never move (chunks, never freed while tracing). A stack is read
 * and looked up whole without a lock (the thread's memo, the stack
 * table); `lock` covers everything else an event does: interning, the
 * record, the totals and the capture (one lock per event, not an atomic
 * per counter).
 *
 * Invariants:
 *   R1  a live traced block has exactly one record, and `current` is
 *       the sum of all records' sizes (a stack's own totals are not
 *       kept: pm_trace_top sums the records). (A block allocated untraced by a thread that was inside an
 *       allocation when pm_trace_start ran, and freed traced, or the
 *       reverse, may leave a stale record: a new record in its slot
 *       replaces it, taking its size out of the totals and writing its
 *       free to the capture first.)
 *   R2  nothing the recorder allocates for itself is traced: its memory
 *       comes from the OS (pmos_map), and a thread inside a wrapper
 *       (tr_self.busy) records nothing else, so a table that calls another
 *       wrapped table (the pool allocator's large blocks through the raw
 *       domain) records a block once.
 *   R3  the recorder's memory outlives every record: it is unmapped only
 *       by pm_trace_stop, after every wrapper of this recorder is off.
 */
#define _GNU_SOURCE
#include "diag/capture_format.h"
#include "diag/diag.h"
#include "heap/heap.h"
#include "heap/internal_alloc.h"
#include "heap/os.h"
#include "heap/process.h"

#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#define TR_DOMAINS (PM_NUM_DOMAINS + 1) /* and the pm_heap_* entry points */
#define TR_CHUNK_NODES (1u << 16)
#define TR_MAX_CHUNKS (1u << 12) /* 2^28 distinct stack nodes */
#define TR_RADIX_BITS 12
#define TR_RADIX (1u << TR_RADIX_BITS)
#define TR_ARENA_CHUNK ((size_t)1 << 20)
#define TR_FP_TRIALS 64 /* stacks read both ways before frame pointers alone */
#define TR_FP_BOTTOM 3  /* start-up frames the frame-pointer walk may miss */

enum { TR_UNWIND_TRYING, TR_UNWIND_FP, TR_UNWIND_DWARF };

/* One node of the stack trie: the frame `pc` called from the stack
 * `parent`. No counters: a stack's live bytes and blocks are summed from
 * the records when asked (pm_trace_top), so an event touches no node. */
typedef struct tr_node {
    uintptr_t pc;
    uint32_t parent;
} tr_node;

/* An interpreter frame's place: what pm_trace_push_frame was given. Its
 * node's `pc` is TR_INTERP_BIT | its id (no native address has bit 63). */
typedef struct tr_location {
    const char *file, *function;
    int line;
} tr_location;
#define TR_INTERP_BIT ((uintptr_t)1 << 63)
#define TR_MAX_LOCATIONS (1u << 20)

/* A pool's records: one 8-byte slot per block of the class it was made
 * for (block_size); made again if the pool changes class. */
typedef struct tr_side {
    uint32_t block_size;
    uint32_t nslots; /* and one more, never a block's: the pool's tail */
    uint32_t block0; /* block 0's offset from the pool's slot (heap.h, P1) */
    _Atomic uint64_t slot[];
} tr_side;

typedef struct tr_big {
    uintptr_t p; /* 0 empty, 1 deleted */
    uint32_t stack;
    size_t size;
} tr_big;

typedef struct pmd_recorder pmd_recorder;

/* One wrapped table of one heap: what it wraps, for which domain. */
typedef struct tr_table {
    pmd_recorder *rec;
    pm_allocator inner;
    uint32_t domain;
} tr_table;

typedef struct tr_heap {
    pm_heap *heap;
    tr_table table[TR_DOMAINS];
    pm_allocator wrapper[TR_DOMAINS];
    struct tr_heap *next;
} tr_heap;

/* A mapping of the recorder's: the list unmap_all walks at the stop. */
typedef struct tr_mapping {
    struct tr_mapping *next;
    size_t size;
} tr_mapping;

struct pmd_recorder {
    unsigned frames;
    uint64_t gen;                      /* this recorder's number: the threads' caches */
    size_t sample_bytes;               /* 0: every allocation recorded; else the mean gap */
    uint64_t seed;                     /* the sampling's, mixed with each thread's number */
    _Atomic uint64_t sampling_threads; /* threads that drew a gap: their numbers */
    uint64_t forks;       /* fork children made: a child's threads draw anew (sampled) */
    pmd_capture *capture; /* the file being written, or NULL */
    char path[4096];      /* its name as given (%p: the process id) */
    _Atomic int lock;     /* every event, interning, the bump arena, the mappings (tr_lock) */
    tr_mapping *mappings;
    _Atomic size_t overhead; /* bytes mapped */
    char *bump, *bump_end;

    /* the stack trie */
    tr_node *chunk[TR_MAX_CHUNKS];
    _Atomic uint32_t nnodes; /* ids below it are valid (release) */
    uint32_t *intern;        /* open hash of node ids by (parent, pc) */
    uint32_t intern_cap;
    _Atomic(struct tr_stack_table *) stacks; /* whole stacks (intern_stack) */

    /* interpreter locations (file, function, line), interned by value of
     * their pointers; their strings, by pointer, for the capture */
    tr_location *loc;    /* [id]: chunk of TR_MAX_LOCATIONS, lazily */
    uint32_t nloc;       /* ids below it are valid (under lock) */
    uint32_t *loc_index; /* open hash of location ids */
    uint32_t loc_cap;
    const char **str_key; /* open hash of strings written, by pointer */
    uint32_t str_cap, nstr;

    /* sections by name (pointer): an open hash, under lock */
    pm_trace_section *sections;
    uint32_t sections_cap, nsections;

    /* records */
    _Atomic(void *) radix[TR_RADIX]; /* -> [TR_RADIX] -> [TR_RADIX] tr_side* */
    tr_big *big;
    size_t big_cap, big_used; /* used counts deleted slots too */

    /* totals (R1) */
    _Atomic size_t current, peak;
    _Atomic uint64_t recorded; /* allocations recorded since the start */
    _Atomic uint64_t dropped;  /* and not recorded for want of memory */
    long maps_left;            /* tests (pmd_trace_fail_maps): maps still allowed; -1: any */
    uintptr_t exe_base;        /* the main program's load address, and its path: */
    char exe[4096];            /* dladdr names it as it was run ("./prog") */

    tr_heap *heaps; /* every heap wrapped now */

    /* How stacks are read (stack_id): frame pointers once the first
     * TR_FP_TRIALS stacks read both ways agreed, else the unwinder. */
    _Atomic int unwind;         /* TR_UNWIND_* */
    pmd_unwinder unwinder;      /* libgcc's, as pmd_unwinder_load found it */
    _Atomic bool closing;       /* at exit: the wrappers pass through */
    _Atomic uint32_t fp_trials; /* stacks that agreed so far */
};

/* The calling thread's state: inside a wrapper (R2), the interpreter
 * frames its embedder pushed (pm_trace_push_frame), and the top of its
 * stack for the frame-pointer walk (0: not known yet). */
typedef struct tr_interp_frame {
    const char *file, *function;
    int line;
    uint32_t loc;     /* its location's id, if loc_gen... */
    uint64_t loc_gen; /* ...is the recorder's gen (0: not known) */
} tr_interp_frame;

#define TR_INTERP_KEPT 128 /* interpreter frames a thread keeps: the innermost */

typedef struct tr_open_section {
    const char *name;
    size_t start, max; /* traced bytes at its begin, and the most since */
} tr_open_section;

#define TR_SECTIONS_KEPT 16 /* nested sections a thread measures */

typedef struct tr_thread {
    bool busy;
    unsigned nsections;                         /* open, nested */
    tr_open_section sections[TR_SECTIONS_KEPT]; /* [0]: the outermost */
    unsigned interp_depth;                      /* pushed and not popped */
    unsigned interp_stale;                      /* depths below it were overwritten */
    tr_interp_frame interp[TR_INTERP_KEPT];     /* depth d at [d % KEPT]: a ring */
    uintptr_t stack_low, stack_top;             /* the thread's stack, for the walk */
    char *cache;                                /* its memo (intern_stack), if cache_gen... */
    uint64_t cache_gen;                         /* ...is the recorder's gen */
    int64_t sample_left;                        /* sampled: bytes to the next point, if... */
    uint64_t sample_gen;                        /* ...this is the recorder's gen */
    uint64_t rng;                               /* the thread's sampling generator */
} tr_thread;
static _Thread_local tr_thread tr_self;

/* The recorder's lock, taken once per event: a futex lock of three states
 * (0 free, 1 held, 2 held with waiters possible). Uncontended, a lock and
 * an unlock are one atomic instruction each, in line, where a pthread
 * mutex adds a call and its type's checks (about 50 instructions an
 * event, callgrind). A waiter spins a little, then sleeps in the kernel:
 * the holder may be compressing a block or writing the file. */
#define TR_SPINS 100

static inline void tr_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void tr_lock_wait(_Atomic int *l) {
    for (int i = 0; i < TR_SPINS; i++) {
        int free = 0;
        if (atomic_load_explicit(l, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(l, &free, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        tr_relax();
    }
    while (atomic_exchange_explicit(l, 2, memory_order_acquire) != 0)
        syscall(SYS_futex, l, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

static inline void tr_lock(_Atomic int *l) {
    int free = 0;
    if (!atomic_compare_exchange_strong_explicit(l, &free, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        tr_lock_wait(l);
}

static inline void tr_unlock(_Atomic int *l) {
    if (atomic_exchange_explicit(l, 0, memory_order_release) == 2)
        syscall(SYS_futex, l, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* The recorder while tracing, else NULL. */
static pmd_recorder *recorder(void) {
    return atomic_load_explicit(&pmh_process.recorder, memory_order_acquire);
}

/* ---- the recorder's memory (R2, R3) ---------------------------------------- */

static void *rec_map(pmd_recorder *r, size_t size) {
    size = (size + sizeof(tr_mapping) + PMOS_PAGE_SIZE - 1) & ~(size_t)(PMOS_PAGE_SIZE - 1);
    if (r->maps_left == 0) return NULL; /* a test's injected failure */
    if (r->maps_left > 0) r->maps_left--;
    tr_mapping *m = pmos_map(size);
    if (m == NULL) return NULL;
    m->size = size;
    m->next = r->mappings;
    r->mappings = m;
    atomic_fetch_add_explicit(&r->overhead, size, memory_order_relaxed);
    return m + 1;
}

/* n zeroed bytes, 16-aligned, for the life of the recording. Under lock. */
static void *rec_take(pmd_recorder *r, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n > TR_ARENA_CHUNK / 4) return rec_map(r, n);
    if ((size_t)(r->bump_end - r->bump) < n) {
        char *chunk = rec_map(r, TR_ARENA_CHUNK);
        if (chunk == NULL) return NULL;
        r->bump = chunk;
        r->bump_end = chunk + TR_ARENA_CHUNK - sizeof(tr_mapping);
    }
    void *p = r->bump;
    r->bump += n;
    return p;
}

static void rec_unmap_all(pmd_recorder *r) {
    tr_mapping *m = r->mappings;
    while (m) {
        tr_mapping *next = m->next;
        pmos_unmap(m, m->size);
        m = next;
    }
}

/* ---- stacks ------------------------------------------------------------------- */

static tr_node *node(const pmd_recorder *r, uint32_t id) {
    return &r->chunk[id / TR_CHUNK_NODES][id % TR_CHUNK_NODES];
}

static uint32_t node_hash(uint32_t parent, uintptr_t pc) {
    uint64_t k =
        ((uint64_t)pc * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)parent * 0xC2B2AE3D27D4EB4Full);
    return (uint32_t)(k >> 32);
}

/* Grow the intern table (under lock): false when out of memory. */
static bool intern_grow(pmd_recorder *r) {
    uint32_t cap = r->intern_cap ? r->intern_cap * 2 : 1u << 14;
    uint32_t *t = rec_take(r, (size_t)cap * sizeof *t);
    if (t == NULL) return false;
    uint32_t n = atomic_load_explicit(&r->nnodes, memory_order_relaxed);
    for (uint32_t id = TR_DOMAINS + 1; id < n; id++) {
        const tr_node *x = node(r, id);
        uint32_t i = node_hash(x->parent, x->pc) & (cap - 1);
        while (t[i]) i = (i + 1) & (cap - 1);
        t[i] = id;
    }
    r->intern = t; /* the old table stays in the arena until the stop */
    r->intern_cap = cap;
    return true;
}

/* The node of frame pc called from stack parent, made if new; 0 when out
 * of memory. Under lock. */
static uint32_t intern_frame(pmd_recorder *r, uint32_t parent, uintptr_t pc) {
    uint32_t n = atomic_load_explicit(&r->nnodes, memory_order_relaxed);
    if ((uint64_t)(n + 1) * 2 > r->intern_cap && !intern_grow(r)) return 0;
    uint32_t i = node_hash(parent, pc) & (r->intern_cap - 1);
    for (uint32_t id; (id = r->intern[i]) != 0; i = (i + 1) & (r->intern_cap - 1)) {
        const tr_node *x = node(r, id);
        if (x->pc == pc && x->parent == parent) return id;
    }
    if (n == TR_MAX_CHUNKS * TR_CHUNK_NODES) return 0;
    if (r->chunk[n / TR_CHUNK_NODES] == NULL) {
        tr_node *c = rec_map(r, (size_t)TR_CHUNK_NODES * sizeof(tr_node));
        if (c == NULL) return 0;
        r->chunk[n / TR_CHUNK_NODES] = c;
    }
    tr_node *x = node(r, n);
    x->pc = pc;
    x->parent = parent;
    r->intern[i] = n;
    atomic_store_explicit(&r->nnodes, n + 1, memory_order_release);
    if (r->capture) pmd_capture_node(r->capture, n, parent, pc);
    return n;
}

/* Functions whose frames a stack leaves out: the recorder's own, and
 * the entry points a program calls to allocate, so that a stack starts
 * at that call whether or not the compiler made the entry point's table
 * call a tail call (gcc does; clang under TSan does not). Matched by the
 * start of each frame's function, as the unwind tables give it. */
static void *tr_malloc(void *ctx, size_t n);
static void *tr_calloc(void *ctx, size_t nelem, size_t elsize);
static void *tr_realloc(void *ctx, void *p, size_t n);
static void object_record(const pm_allocator *a, void *o, size_t n);
static void record_alloc(tr_table *t, const void *p, size_t n, uint32_t flags, const void *wrapper);
struct tr_stack;
static uint32_t stack_id(pmd_recorder *r, uint32_t domain, const void *wrapper, struct tr_stack *s);
static unsigned walk(pmd_recorder *r, uintptr_t *pc, const void *wrapper);
static unsigned walk_unwinder(const pmd_unwinder *u, uintptr_t *pc, unsigned max);

typedef void (*tr_fn)(void);
#define FN(f) ((tr_fn)(f))
static const tr_fn left_out[] = {
    FN(walk),           FN(walk_unwinder),    FN(stack_id),         FN(record_alloc),
    FN(tr_malloc),      FN(tr_calloc),        FN(tr_realloc),       FN(object_record),
    FN(pm_raw_malloc),  FN(pm_raw_calloc),    FN(pm_raw_realloc),   FN(pm_mem_malloc),
    FN(pm_mem_calloc),  FN(pm_mem_realloc),   FN(pm_obj_malloc),    FN(pm_obj_calloc),
    FN(pm_obj_realloc), FN(pm_domain_malloc), FN(pm_domain_calloc), FN(pm_domain_realloc),
    FN(pm_heap_malloc), FN(pm_heap_calloc),   FN(pm_heap_realloc),
};
#undef FN

static bool left_out_fn(uintptr_t start) {
    for (size_t i = 0; i < sizeof left_out / sizeof left_out[0]; i++)
        if ((uintptr_t)left_out[i] == start) return true;
    return false;
}

typedef struct tr_unwind_state {
    const pmd_unwinder *u;
    uintptr_t *pc;
    unsigned n, max;
    bool inside; /* still in frames left out */
} tr_unwind_state;

static int is_libgcc_s(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size, (void)arg;
    return info->dlpi_name != NULL && strstr(info->dlpi_name, "/libgcc_s.so") != NULL;
}

/* libgcc_s's entry points into u (diag.h); false when it cannot be
 * loaded. For the recorder, and the leak check at exit (leakscan.c).
 * A program that has it already (a C++ program's libstdc++ needs it)
 * lends its symbols from the global scope: a dlopen of an object loaded
 * at start-up makes the loader allocate its search list, which nothing
 * the leak check reads points to (a verdict of the tool's own making). */
bool pmd_unwinder_load(pmd_unwinder *u) {
    void *lib = RTLD_DEFAULT; /* NULL itself, on glibc */
    bool loaded =
        dl_iterate_phdr(is_libgcc_s, NULL) && dlsym(RTLD_DEFAULT, "_Unwind_Backtrace") != NULL;
    if (!loaded && (lib = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) == NULL)
        return false;
    u->backtrace =
        (_Unwind_Reason_Code(*)(_Unwind_Trace_Fn, void *))dlsym(lib, "_Unwind_Backtrace");
    u->get_ip = (_Unwind_Ptr(*)(struct _Unwind_Context *))dlsym(lib, "_Unwind_GetIP");
    u->get_region_start =
        (_Unwind_Ptr(*)(struct _Unwind_Context *))dlsym(lib, "_Unwind_GetRegionStart");
    u->get_cfa = (_Unwind_Word(*)(struct _Unwind_Context *))dlsym(lib, "_Unwind_GetCFA");
    u->get_gr = (_Unwind_Word(*)(struct _Unwind_Context *, int))dlsym(lib, "_Unwind_GetGR");
    if (u->backtrace && u->get_ip && u->get_region_start && u->get_cfa && u->get_gr) return true;
    u->backtrace = NULL;
    return false;
}

static _Unwind_Reason_Code capture_frame(struct _Unwind_Context *ctx, void *arg) {
    tr_unwind_state *c = arg;
    uintptr_t pc = c->u->get_ip(ctx);
    if (pc == 0) return _URC_END_OF_STACK;
    if (c->inside && left_out_fn(c->u->get_region_start(ctx))) return _URC_NO_REASON;
    c->inside = false;
    c->pc[c->n++] = pc - 1; /* inside the call instruction: its line */
    return c->n == c->max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

/* The top of the calling thread's stack, for the frame-pointer walk's
 * bounds; 0 when the C library cannot say. Once per thread. */
static uintptr_t stack_top(void) {
    if (tr_self.stack_top) return tr_self.stack_top;
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        tr_self.stack_low = (uintptr_t)addr;
        tr_self.stack_top = (uintptr_t)addr + size;
    }
    pthread_attr_destroy(&attr);
    return tr_self.stack_top;
}

/* The frame-pointer walk: every frame record [saved fp, return address]
 * from the wrapper's own (`wrapper`: its frame address; its record holds
 * the return into the allocation function's caller; the recorder's frames
 * under it are never read) up, as long as the records rise inside the
 * thread's stack. This file is built with frame
 * pointers; a frame of the program built without them is missed, or
 * ends the walk: the agreement trial below tells whether the program's
 * frames have them. */
static PM_NOINLINE unsigned walk_frame_pointers(uintptr_t *pc, unsigned max, const void *wrapper) {
    const uintptr_t *fp = wrapper;
    uintptr_t top = stack_top();
    unsigned n = 0;
    /* Not on the thread's own stack (a coroutine's, a signal stack): no
     * bound to trust, no frames. The records rise (next > fp below), so
     * only the first is checked against the stack's low end. */
    if (top == 0 || (uintptr_t)fp < tr_self.stack_low) return 0;
    while (n < max && (uintptr_t)fp + 2 * sizeof(void *) <= top &&
           ((uintptr_t)fp & (sizeof(void *) - 1)) == 0) {
        uintptr_t link = fp[0], ret = fp[1];
        /* A frame built without a frame pointer leaves words here that were
         * never written: under memcheck, the walk's copies of them count as
         * defined (the trial with the unwinder is what judges them). */
        pm_vg_defined(&link, sizeof link);
        pm_vg_defined(&ret, sizeof ret);
        const uintptr_t *next = (const uintptr_t *)link;
        if (ret == 0) break;
        pc[n++] = ret - 1;
        if (next <= fp) break;
        fp = next;
    }
    return n;
}

static unsigned walk_unwinder(const pmd_unwinder *u, uintptr_t *pc, unsigned max) {
    tr_unwind_state c = {u, pc, 0, max, true};
    u->backtrace(capture_frame, &c);
    return c.n;
}

/* The frame-pointer walk (m frames, at most max) agrees with the
 * unwinder (n frames, read to max + TR_FP_BOTTOM) when it read the same
 * frames: all max of them, or all the stack has but the last few, at
 * its bottom: the C library's start-up frames (__libc_start_main and its
 * helper, _start, or start_thread and clone) are built without frame
 * pointers, and the walk ends there. The unwinder reads past max so that
 * a stack whose bottom lies just past the limit is told from one the
 * limit cut: when both ended at max the walks agree on what is recorded,
 * and the frames past it are not compared. A program frame without a
 * frame pointer shows as a frame missed or a walk that ends far from the
 * bottom. */
static bool walks_agree(const uintptr_t *fp_pc, unsigned m, const uintptr_t *pc, unsigned n,
                        unsigned max) {
    if (m == 0 || m > n || memcmp(fp_pc, pc, m * sizeof *pc) != 0) return false;
    return m == max || (n < max + TR_FP_BOTTOM && m + TR_FP_BOTTOM >= n);
}

/* Which walk: TR_FP_TRIALS stacks are read both ways; the frame pointers
 * take over if every one agreed, the unwinder stays if one did not. */
static unsigned walk(pmd_recorder *r, uintptr_t *pc, const void *wrapper) {
    int mode = atomic_load_explicit(&r->unwind, memory_order_relaxed);
    if (mode == TR_UNWIND_FP) return walk_frame_pointers(pc, r->frames, wrapper);
    if (mode != TR_UNWIND_TRYING) return walk_unwinder(&r->unwinder, pc, r->frames);
    uintptr_t deep[PM_TRACE_MAX_FRAMES + TR_FP_BOTTOM];
    unsigned n = walk_unwinder(&r->unwinder, deep, r->frames + TR_FP_BOTTOM);
    unsigned m = walk_frame_pointers(pc, r->frames, wrapper);
    int next = TR_UNWIND_TRYING;
    if (!walks_agree(pc, m, deep, n, r->frames)) next = TR_UNWIND_DWARF;
    else if (atomic_fetch_add_explicit(&r->fp_trials, 1, memory_order_relaxed) + 1 >= TR_FP_TRIALS)
        next = TR_UNWIND_FP;
    if (next != TR_UNWIND_TRYING) {
        int expected = TR_UNWIND_TRYING;
        atomic_compare_exchange_strong_explicit(&r->unwind, &expected, next, memory_order_relaxed,
                                                memory_order_relaxed);
    }
    if (next != TR_UNWIND_DWARF) return m; /* a call site keeps one stack id when they take over */
    /* Disagreed: the stack as the unwinder read it, to the limit (only if
     * a later trial disagrees do the sites of the earlier ones get a
     * second id). */
    n = n < r->frames ? n : r->frames;
    memcpy(pc, deep, n * sizeof *pc);
    return n;
}

/* ---- interpreter frames ------------------------------------------------------------ */

/* A string's id in the capture (written once, by pointer: the embedder's
 * strings outlive the recording, pm_trace_push_frame says); 0 when out of
 * memory. Under lock. */
static uint32_t string_id(pmd_recorder *r, const char *text) {
    if ((r->nstr + 1) * 2 > r->str_cap) {
        uint32_t cap = r->str_cap ? r->str_cap * 2 : 1024;
        const char **t = rec_take(r, cap * sizeof *t + cap * sizeof(uint32_t));
        if (t == NULL) return 0;
        uint32_t *ids = (uint32_t *)(t + cap), *old_ids = (uint32_t *)(r->str_key + r->str_cap);
        for (uint32_t i = 0; i < r->str_cap; i++) {
            if (r->str_key[i] == NULL) continue;
            uint32_t j = node_hash(0, (uintptr_t)r->str_key[i]) & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = r->str_key[i];
            ids[j] = old_ids[i];
        }
        r->str_key = t;
        r->str_cap = cap;
    }
    uint32_t *ids = (uint32_t *)(r->str_key + r->str_cap);
    uint32_t i = node_hash(0, (uintptr_t)text) & (r->str_cap - 1);
    for (; r->str_key[i]; i = (i + 1) & (r->str_cap - 1))
        if (r->str_key[i] == text) return ids[i];
    r->str_key[i] = text;
    ids[i] = ++r->nstr;
    if (r->capture) pmd_capture_string(r->capture, ids[i], text);
    return ids[i];
}

static uint32_t location_hash(const tr_interp_frame *f) {
    return node_hash((uint32_t)f->line, (uintptr_t)f->file ^ ((uintptr_t)f->function << 1));
}

/* The id of an interpreter frame's location, made if new; 0 when out of
 * memory. Under lock. */
static uint32_t location_id(pmd_recorder *r, const tr_interp_frame *f) {
    if (r->loc == NULL && (r->loc = rec_map(r, TR_MAX_LOCATIONS * sizeof *r->loc)) == NULL)
        return 0;
    if ((r->nloc + 2) * 2 > r->loc_cap) {
        uint32_t cap = r->loc_cap ? r->loc_cap * 2 : 1024;
        uint32_t *t = rec_take(r, cap * sizeof *t);
        if (t == NULL) return 0;
        for (uint32_t id = 1; id <= r->nloc; id++) {
            tr_interp_frame g = {r->loc[id].file, r->loc[id].function, r->loc[id].line, 0, 0};
            uint32_t j = location_hash(&g) & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = id;
        }
        r->loc_index = t;
        r->loc_cap = cap;
    }
    uint32_t i = location_hash(f) & (r->loc_cap - 1);
    for (uint32_t id; (id = r->loc_index[i]) != 0; i = (i + 1) & (r->loc_cap - 1)) {
        const tr_location *l = &r->loc[id];
        if (l->file == f->file && l->function == f->function && l->line == f->line) return id;
    }
    if (r->nloc + 1 == TR_MAX_LOCATIONS) return 0;
    uint32_t file = string_id(r, f->file ? f->file : "?");
    uint32_t function = string_id(r, f->function ? f->function : "?");
    if (file == 0 || function == 0) return 0;
    uint32_t id = ++r->nloc;
    r->loc[id] = (tr_location){f->file, f->function, f->line};
    r->loc_index[i] = id;
    if (r->capture) pmd_capture_location(r->capture, id, file, function, f->line);
    return id;
}

void pm_trace_set_line_hook(void (*fn)(void *arg), void *arg) {
    atomic_store(&pmh_process.trace_line_arg, arg);
    atomic_store(&pmh_process.trace_line_hook, fn);
}

/* The embedder's chance to set the innermost frame's line (not under
 * lock: the hook may take the embedder's locks). */
static void refresh_line(void) {
    void (*fn)(void *) = atomic_load_explicit(&pmh_process.trace_line_hook, memory_order_acquire);
    if (fn) fn(atomic_load_explicit(&pmh_process.trace_line_arg, memory_order_relaxed));
}

/* The location id of a ring slot: the one it remembers from this
 * recording, else interned (under the lock, taken once per stack:
 * `locked`); 0 when out of memory. */
static uint32_t frame_location(pmd_recorder *r, tr_interp_frame *f, bool *locked) {
    if (f->loc_gen == r->gen && f->loc != 0) return f->loc;
    if (!*locked) tr_lock(&r->lock);
    *locked = true;
    f->loc = location_id(r, f);
    f->loc_gen = r->gen;
    return f->loc;
}

/* The calling thread's interpreter frames as trie frames, innermost
 * first, at most max: those the ring still holds (depths from
 * interp_stale up, and the last TR_INTERP_KEPT). A frame's location is
 * interned once while it stays on the ring with the same line. */
static unsigned interp_frames(pmd_recorder *r, uintptr_t *out, unsigned max) {
    unsigned depth = tr_self.interp_depth, n = 0;
    unsigned low = depth > TR_INTERP_KEPT ? depth - TR_INTERP_KEPT : 0;
    if (low < tr_self.interp_stale) low = tr_self.interp_stale;
    bool locked = false;
    for (unsigned d = depth; d-- > low && n < max;) {
        uint32_t id = frame_location(r, &tr_self.interp[d % TR_INTERP_KEPT], &locked);
        if (id == 0) break;
        out[n++] = TR_INTERP_BIT | id;
    }
    if (locked) tr_unlock(&r->lock);
    return n;
}

/* Depth d's slot is written: the frame it held, TR_INTERP_KEPT shallower,
 * is gone (interp_stale rises past it); a frame written below
 * interp_stale is whole again, and those under it stay lost. */
void pm_trace_push_frame(const char *file, const char *function, int line) {
    unsigned d = tr_self.interp_depth++;
    tr_self.interp[d % TR_INTERP_KEPT] = (tr_interp_frame){file, function, line, 0, 0};
    if (d >= TR_INTERP_KEPT && d - TR_INTERP_KEPT + 1 > tr_self.interp_stale)
        tr_self.interp_stale = d - TR_INTERP_KEPT + 1;
    else if (d < tr_self.interp_stale) tr_self.interp_stale = d;
}

void pm_trace_set_line(int line) {
    unsigned d = tr_self.interp_depth;
    if (d == 0) return;
    tr_interp_frame *f = &tr_self.interp[(d - 1) % TR_INTERP_KEPT];
    if (f->line != line) {
        f->line = line;
        f->loc_gen = 0; /* another location */
    }
}

void pm_trace_pop_frame(void) {
    if (tr_self.interp_depth > 0) tr_self.interp_depth--;
    if (tr_self.interp_depth == 0) tr_self.interp_stale = 0;
}

/* ---- sections and marks ---------------------------------------------------------- */

/* The section table's entry for name, made if new (under lock); NULL
 * when out of memory. */
static pm_trace_section *section_entry(pmd_recorder *r, const char *name) {
    if ((r->nsections + 1) * 2 > r->sections_cap) {
        uint32_t cap = r->sections_cap ? r->sections_cap * 2 : 64;
        pm_trace_section *t = rec_take(r, cap * sizeof *t);
        if (t == NULL) return NULL;
        for (uint32_t i = 0; i < r->sections_cap; i++) {
            if (r->sections[i].name == NULL) continue;
            uint32_t j = node_hash(0, (uintptr_t)r->sections[i].name) & (cap - 1);
            while (t[j].name) j = (j + 1) & (cap - 1);
            t[j] = r->sections[i];
        }
        r->sections = t;
        r->sections_cap = cap;
    }
    uint32_t i = node_hash(0, (uintptr_t)name) & (r->sections_cap - 1);
    for (; r->sections[i].name; i = (i + 1) & (r->sections_cap - 1))
        if (r->sections[i].name == name) return &r->sections[i];
    r->sections[i].name = name;
    r->nsections++;
    return &r->sections[i];
}

/* A section event (begin or end of name) or a mark, in the capture. */
static void capture_named(pmd_recorder *r, const char *name, int what) {
    tr_lock(&r->lock);
    uint32_t id = r->capture ? string_id(r, name) : 0;
    if (id) pmd_capture_named(r->capture, id, what);
    tr_unlock(&r->lock);
}

void pm_trace_section_begin(const char *name) {
    pmd_recorder *r = recorder();
    size_t now = r ? atomic_load_explicit(&r->current, memory_order_relaxed) : 0;
    bool kept = tr_self.nsections < TR_SECTIONS_KEPT;
    if (kept) tr_self.sections[tr_self.nsections] = (tr_open_section){r ? name : NULL, now, now};
    tr_self.nsections++;
    if (r && name && kept) capture_named(r, name, PMD_NAMED_BEGIN); /* its end is written too */
}

void pm_trace_section_end(void) {
    if (tr_self.nsections == 0) return;
    unsigned k = --tr_self.nsections;
    pmd_recorder *r = recorder();
    if (r == NULL || k >= TR_SECTIONS_KEPT || tr_self.sections[k].name == NULL) return;
    const tr_open_section *o = &tr_self.sections[k];
    size_t now = atomic_load_explicit(&r->current, memory_order_relaxed);
    tr_lock(&r->lock);
    pm_trace_section *e = section_entry(r, o->name);
    if (e) {
        e->occurrences++;
        e->net_bytes += (int64_t)now - (int64_t)o->start;
        if (o->max - o->start > e->peak_bytes) e->peak_bytes = o->max - o->start;
    }
    tr_unlock(&r->lock);
    capture_named(r, o->name, PMD_NAMED_END);
}

void pm_trace_mark(const char *label) {
    pmd_recorder *r = recorder();
    if (r && label) capture_named(r, label, PMD_NAMED_MARK);
}

size_t pm_trace_sections(pm_trace_section *out, size_t max) {
    pmd_recorder *r = recorder();
    if (r == NULL) return 0;
    size_t n = 0;
    tr_lock(&r->lock);
    for (uint32_t i = 0; i < r->sections_cap && n < max; i++)
        if (r->sections[i].name) out[n++] = r->sections[i];
    tr_unlock(&r->lock);
    return n;
}

/* ---- whole stacks: the memo and the stack table ------------------------------ */

/* A stack is found whole, without the lock, in one of two places:
 *   - the calling thread's memo: its last stack interned, outermost frame
 *     first, with the node of each of its prefixes. A loop allocates at
 *     one site again and again; a stack that shares a long prefix with
 *     the memo (at most TR_MEMO_NEAR frames differ) is interned from
 *     there;
 *   - the stack table, shared: every stack interned, keyed by two
 *     independent hashes, of 64 and 32 bits, of its frames, their count
 *     and its root (a false match would take both to collide at once:
 *     about 2^-80 a lookup with a 2^16-entry table). Open
 *     addressing; an entry is written once, its first hash last
 *     (release), and never moves: a larger table is a copy, the old one
 *     stays in the arena, so a reader holding it misses at worst, and
 *     the miss interns under the lock, where the current table is read.
 * The memo is made in the recorder's memory at a thread's first stack
 * and found again only by a thread whose `gen` matches the recorder's (a
 * new recorder, even at the same address, never reads an old one's). */
#define TR_MEMO_NEAR 2
#define TR_STACK_MAX (2 * PM_TRACE_MAX_FRAMES) /* native frames, then interpreter ones */

typedef struct tr_memo {
    uint32_t root;              /* the domain's node; 0: nothing remembered */
    unsigned n;                 /* frames remembered */
    uintptr_t pc[TR_STACK_MAX]; /* outermost first */
    uint32_t id[TR_STACK_MAX];  /* [k]: the node of the k + 1 outermost frames */
} tr_memo;

typedef struct tr_stack_key {
    uint64_t h1;
    uint32_t h2;
} tr_stack_key;

/* 16 bytes, so that an entry is never split across two cache lines and
 * the table of binary-trees' 32,769 stacks is 1 MiB, not 1.5: a lookup
 * is mostly a cache miss (it was 24 bytes, with the frame count). */
typedef struct tr_stack_entry {
    _Atomic uint64_t h1; /* 0: empty (a key's h1 is never 0) */
    uint32_t h2, id;
} tr_stack_entry;

typedef struct tr_stack_table {
    uint32_t mask, used;
    tr_stack_entry e[];
} tr_stack_table;

/* The calling thread's memo, made if it has none yet; NULL when out of
 * memory. */
static tr_memo *thread_memo(pmd_recorder *r) {
    if (tr_self.cache_gen != r->gen) {
        tr_lock(&r->lock);
        void *m = rec_take(r, sizeof(tr_memo));
        tr_unlock(&r->lock);
        if (m == NULL) return NULL;
        tr_self.cache = m;
        tr_self.cache_gen = r->gen;
    }
    return (tr_memo *)tr_self.cache;
}

/* One step of each hash's chain. */
#define TR_STEP(a, b, x)                                                                           \
    do {                                                                                           \
        (a) = ((a) ^ (x)) * 0xff51afd7ed558ccdull;                                                 \
        (b) = ((b) + (x)) * 0xc4ceb9fe1a85ec53ull;                                                 \
        (b) ^= (b) >> 31;                                                                          \
    } while (0)

/* Two hashes, independent, each in two lanes (the even frames, the odd
 * ones) from different seeds: four chains of multiplies that run side by
 * side, so a 16-frame key takes 8 steps of latency, not 16 (the chains
 * were 9% of binary-trees traced with 16 frames, perf). The lanes are
 * folded with a multiply, so swapping frames changes both hashes. */
static tr_stack_key stack_key(const uintptr_t *pc, unsigned n, uint32_t root) {
    uint64_t seed = (uint64_t)root << 32 | n; /* the count too: a key is the whole stack */
    uint64_t a0 = 0x9E3779B97F4A7C15ull * seed, b0 = 0xC2B2AE3D27D4EB4Full + seed;
    uint64_t a1 = 0x2545F4914F6CDD1Dull ^ seed, b1 = 0xBF58476D1CE4E5B9ull + seed;
    unsigned k = 0;
    for (; k + 1 < n; k += 2) {
        TR_STEP(a0, b0, pc[k]);
        TR_STEP(a1, b1, pc[k + 1]);
    }
    if (k < n) TR_STEP(a0, b0, pc[k]);
    uint64_t a = (a0 ^ (a0 >> 29)) * 0x94D049BB133111EBull ^ a1;
    uint64_t b = (b0 ^ (b0 >> 32)) * 0xD6E8FEB86659FD93ull + b1;
    a ^= a >> 29;
    b ^= b >> 31;
    return (tr_stack_key){a | 1, (uint32_t)(b ^ (b >> 32))};
}
#undef TR_STEP

static uint32_t table_find(const tr_stack_table *t, tr_stack_key k) {
    for (uint32_t i = (uint32_t)(k.h1 >> 32) & t->mask;; i = (i + 1) & t->mask) {
        const tr_stack_entry *e = &t->e[i];
        uint64_t h1 = atomic_load_explicit(&e->h1, memory_order_acquire);
        if (h1 == 0) return 0;
        if (h1 == k.h1 && e->h2 == k.h2) return e->id;
    }
}

static void table_put(tr_stack_table *t, tr_stack_key k, uint32_t id) {
    uint32_t i = (uint32_t)(k.h1 >> 32) & t->mask;
    while (atomic_load_explicit(&t->e[i].h1, memory_order_relaxed) != 0) i = (i + 1) & t->mask;
    t->e[i].h2 = k.h2;
    t->e[i].id = id;
    atomic_store_explicit(&t->e[i].h1, k.h1, memory_order_release);
    t->used++;
}

/* Remember stack k as node id (under lock). A table that is full stays
 * as it is when no larger one can be had: stacks then intern by frame. */
static void table_remember(pmd_recorder *r, tr_stack_key k, uint32_t id) {
    tr_stack_table *t = atomic_load_explicit(&r->stacks, memory_order_relaxed);
    if (t == NULL || (t->used + 1) * 2 > t->mask + 1) {
        uint32_t cap = t ? 2 * (t->mask + 1) : 1u << 12;
        tr_stack_table *bigger = rec_take(r, sizeof *bigger + cap * sizeof(tr_stack_entry));
        if (bigger == NULL) return;
        bigger->mask = cap - 1;
        for (uint32_t i = 0; t && i <= t->mask; i++) {
            uint64_t h1 = atomic_load_explicit(&t->e[i].h1, memory_order_relaxed);
            if (h1) table_put(bigger, (tr_stack_key){h1, t->e[i].h2}, t->e[i].id);
        }
        atomic_store_explicit(&r->stacks, bigger, memory_order_release);
        t = bigger; /* the old table stays in the arena (readers) */
    }
    if (table_find(t, k) == 0) table_put(t, k, id);
}

/* How many outermost frames of pc[0..n) (innermost first) the memo holds. */
static unsigned memo_shared(const tr_memo *m, uint32_t root, const uintptr_t *pc, unsigned n) {
    if (m->root != root) return 0;
    unsigned k = 0, most = n < m->n ? n : m->n;
    while (k < most && m->pc[k] == pc[n - 1 - k]) k++;
    return k;
}

/* The node of pc[0..n) under root, interning the frames after the
 * first `shared` (which the memo holds) and remembering them; 0 when out
 * of memory. Under lock. */
static uint32_t memo_intern(pmd_recorder *r, tr_memo *m, uint32_t root, const uintptr_t *pc,
                            unsigned n, unsigned shared) {
    uint32_t id = shared ? m->id[shared - 1] : root;
    unsigned k = shared;
    for (; k < n; k++) {
        uint32_t next = intern_frame(r, id, pc[n - 1 - k]);
        if (next == 0) break;
        m->pc[k] = pc[n - 1 - k];
        m->id[k] = id = next;
    }
    m->root = root;
    m->n = k; /* what is interned, even when memory ran out */
    return k == n ? id : 0;
}

/* A stack as read, to be found without the lock or interned under it. */
typedef struct tr_stack {
    uint32_t root;              /* the domain's node */
    unsigned n, shared;         /* frames read; the outermost of them the memo holds */
    tr_memo *memo;              /* the thread's; NULL when out of memory */
    tr_stack_key key;           /* key.h1 == 0: not computed */
    uintptr_t pc[TR_STACK_MAX]; /* innermost first */
} tr_stack;

/* The node of s if the memo or the table knows it (no lock), else 0. */
static uint32_t stack_known(pmd_recorder *r, tr_stack *s) {
    s->memo = thread_memo(r);
    s->shared = s->memo ? memo_shared(s->memo, s->root, s->pc, s->n) : 0;
    s->key.h1 = 0;
    if (s->n == 0) return s->root;
    if (s->shared == s->n) return s->memo->id[s->n - 1];
    if (s->n - s->shared <= TR_MEMO_NEAR) return 0; /* interned from the memo */
    const tr_stack_table *t = atomic_load_explicit(&r->stacks, memory_order_acquire);
    s->key = stack_key(s->pc, s->n, s->root);
    return t ? table_find(t, s->key) : 0;
}

/* The node of s, interned; 0 when out of memory. Under lock. */
static uint32_t stack_intern(pmd_recorder *r, tr_stack *s) {
    tr_memo spare = {0}, *m = s->memo ? s->memo : &spare;
    uint32_t id = memo_intern(r, m, s->root, s->pc, s->n, s->shared);
    if (id && s->key.h1) table_remember(r, s->key, id);
    return id;
}

/* The calling stack, from the call of the allocation function: the
 * domain's root, then the interpreter's frames from the outermost, then
 * the native ones from the outermost, so that the stack read innermost
 * first is the C functions, then the script's lines under which they
 * ran. Its node if known already (stack_known), else 0. */
static PM_NOINLINE uint32_t stack_id(pmd_recorder *r, uint32_t domain, const void *wrapper,
                                     tr_stack *s) {
    s->root = domain + 1;
    s->n = walk(r, s->pc, wrapper);
    if (tr_self.interp_depth) {
        refresh_line();
        s->n += interp_frames(r, s->pc + s->n, r->frames);
    }
    return stack_known(r, s);
}

/* ---- records ------------------------------------------------------------------- */

/* A record: the requested size above, the stack id below, and its bit 31
 * (stack ids stay below 2^28) set once the object layer said the block is
 * an object (object_born). A big table entry keeps that bit in `stack`. */
#define REC_OBJECT ((uint32_t)1 << 31)
#define REC(stack, size) ((uint64_t)(size) << 32 | (stack))
#define REC_STACK(rec) ((uint32_t)(rec) & ~REC_OBJECT)
#define REC_SIZE(rec) ((size_t)((rec) >> 32))

/* ---- sampling ----------------------------------------------------------------- */

/* Sampled mode (sample_bytes = R): every byte allocated is a sample point
 * with probability 1/R, a Poisson process per thread. The allocation
 * that reaches the thread's next point is recorded, and the gap to the
 * point after it is drawn from an exponential distribution of mean R
 * (memoryless: the bytes left of the allocation do not matter). An
 * allocation of n bytes is so recorded with probability 1 - e^(-n/R), and
 * counting it as w(n) = 1 / (1 - e^(-n/R)) allocations of n bytes keeps
 * every total unbiased (jemalloc's and Go's heap profiles do the same).
 * The weight is a function of n, so a free takes out what its allocation
 * put in. */

static uint64_t rng_next(uint64_t *s) { /* xorshift64*: fast, and enough here */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static int64_t next_gap(const pmd_recorder *r) {
    double u = (double)((rng_next(&tr_self.rng) >> 11) + 1) * 0x1p-53; /* (0, 1] */
    return (int64_t)(-pmd_ln(u) * (double)r->sample_bytes) + 1;
}

/* Is this thread's allocation of n bytes a sample? */
static bool sampled(pmd_recorder *r, size_t n) {
    if (tr_self.sample_gen != r->gen + r->forks) {
        uint64_t no = atomic_fetch_add_explicit(&r->sampling_threads, 1, memory_order_relaxed);
        tr_self.rng = (r->seed + no * 0x9E3779B97F4A7C15ull + r->forks * 0xBF58476D1CE4E5B9ull) | 1;
        tr_self.sample_gen = r->gen + r->forks;
        tr_self.sample_left = next_gap(r);
    }
    tr_self.sample_left -= (int64_t)n;
    if (tr_self.sample_left > 0) return false;
    tr_self.sample_left = next_gap(r);
    return true;
}

/* What the record of n bytes at p stands for: n and 1 when every
 * allocation is recorded; when sampled, n * w(n) bytes (rounded) and
 * w(n) blocks (pmd_sample_count: unbiased, the same at the free). */
static void weighed(const pmd_recorder *r, const void *p, size_t n, size_t *bytes, size_t *count) {
    if (r->sample_bytes == 0) {
        *bytes = n;
        *count = 1;
        return;
    }
    double w = pmd_sample_weight(n, r->sample_bytes);
    *bytes = (size_t)((double)n * w + 0.5);
    *count = (size_t)pmd_sample_count(w, (uintptr_t)p);
}

/* ---- the totals ----------------------------------------------------------------- */

/* Add (or take out: !alloc) a record of n bytes to the totals. Under
 * lock: the counters have one writer at a time, so they are loads and
 * stores (atomic, for the readers without the lock), not
 * read-modify-writes. Only `current` and `peak`: a counter per stack
 * cost a cache miss at every event (12.8% of binary-trees traced with
 * 16 frames, perf), and pm_trace_top sums the records instead. */
#define TR_ADD(a, d)                                                                               \
    atomic_store_explicit(&(a), atomic_load_explicit(&(a), memory_order_relaxed) + (d),            \
                          memory_order_relaxed)

static void account(pmd_recorder *r, const void *p, size_t n, bool alloc) {
    size_t size = n, count;
    if (r->sample_bytes) weighed(r, p, n, &size, &count);
    if (!alloc) {
        TR_ADD(r->current, -size);
        return;
    }
    TR_ADD(r->current, size);
    size_t now = atomic_load_explicit(&r->current, memory_order_relaxed);
    if (now > atomic_load_explicit(&r->peak, memory_order_relaxed))
        atomic_store_explicit(&r->peak, now, memory_order_relaxed);
    unsigned open = tr_self.nsections < TR_SECTIONS_KEPT ? tr_self.nsections : TR_SECTIONS_KEPT;
    for (unsigned i = 0; i < open; i++)
        if (now > tr_self.sections[i].max) tr_self.sections[i].max = now;
}

/* The radix map's entry for the pool at base, its levels made when `make`
 * (else NULL where one is missing). Under lock when `make`. */
static _Atomic(void *) *radix_entry(pmd_recorder *r, uintptr_t base, bool make) {
    uintptr_t key = base >> 12;
    _Atomic(void *) *level = r->radix;
    for (int shift = 2 * TR_RADIX_BITS; shift > 0; shift -= TR_RADIX_BITS) {
        _Atomic(void *) *e = &level[(key >> shift) & (TR_RADIX - 1)];
        void *next = atomic_load_explicit(e, memory_order_acquire);
        if (next == NULL) {
            if (!make || (next = rec_take(r, TR_RADIX * sizeof(void *))) == NULL) return NULL;
            atomic_store_explicit(e, next, memory_order_release);
        }
        level = next;
    }
    return &level[key & (TR_RADIX - 1)];
}

/* Take every record of a side array out of the totals (R1): its pool
 * changed class, so they are all stale. */
static void side_forget(pmd_recorder *r, tr_side *s, uintptr_t base) {
    for (uint32_t i = 0; i < s->nslots; i++) {
        uint64_t rec = atomic_exchange_explicit(&s->slot[i], 0, memory_order_relaxed);
        if (rec == 0) continue;
        void *block = (void *)(base + s->block0 + (uintptr_t)i * s->block_size);
        account(r, block, REC_SIZE(rec), false);
        if (r->capture) pmd_capture_free(r->capture, block);
    }
}

/* The side array of a pool, from the radix map (by the pool's slot), made
 * (or made anew for a new class) when `make`; NULL when there is none. */
static tr_side *radix_side(pmd_recorder *r, const pm_heap *h, const pmh_pool *pool, bool make) {
    uintptr_t base = pmh_pool_slot(pool);
    _Atomic(void *) *e = radix_entry(r, base, make);
    if (e == NULL) return NULL;
    tr_side *s = atomic_load_explicit(e, memory_order_acquire);
    uint32_t nslots = (uint32_t)pmh_pool_capacity(h, pool, pool->size);
    uint32_t block0 = (uint32_t)(pmh_pool_colour(pool) + PMH_POOL_HEADER);
    /* Not only the class: a heap destroyed while tracing leaves its arrays,
     * and a heap of another pool size may take its addresses. */
    if (s != NULL && s->block_size == pool->size && s->nslots == nslots && s->block0 == block0)
        return s;
    if (!make) return NULL;
    tr_side *fresh = rec_take(r, sizeof *fresh + (size_t)(nslots + 1) * sizeof(uint64_t));
    if (fresh == NULL) return NULL;
    fresh->block_size = pool->size;
    fresh->nslots = nslots;
    fresh->block0 = block0;
    if (s) side_forget(r, s, base); /* the old array stays in the arena (R3) */
    atomic_store_explicit(e, fresh, memory_order_release);
    return fresh;
}

/* p's slot in side array s of its pool: p may point inside its block (a
 * debug heap's user pointer), but not into the header (NULL); past the
 * last block is the tail's slot, never a block's. */
static _Atomic uint64_t *side_slot(const tr_side *s, const pmh_pool *pool, const void *p) {
    size_t off = (uintptr_t)p - (uintptr_t)pool;
    if (off < PMH_POOL_HEADER) return NULL;
    return (_Atomic uint64_t *)&s->slot[(off - PMH_POOL_HEADER) / pool->size];
}

/* The slot of pool block p of heap h, its side array made (or made anew
 * for a new class) when `make`; NULL when there is none. Under lock.
 * The pool's header remembers its side array for this recorder (`trace`,
 * `trace_gen`): the radix map is read only when it does not (a new
 * pool, another recorder, a header decommitted to zeros). A pool's class
 * changes only in pool_init, which clears trace_gen, so a side array the
 * header remembers is of the pool's class, and its header is not read. */
static _Atomic uint64_t *pool_slot(pmd_recorder *r, const pm_heap *h, const void *p, bool make) {
    pmh_pool *pool = pmh_pool_of(h, p);
    tr_side *s = atomic_load_explicit(&pool->trace, memory_order_relaxed);
    if (atomic_load_explicit(&pool->trace_gen, memory_order_relaxed) != r->gen) {
        if ((s = radix_side(r, h, pool, make)) == NULL) return NULL;
        atomic_store_explicit(&pool->trace, s, memory_order_relaxed);
        atomic_store_explicit(&pool->trace_gen, r->gen, memory_order_relaxed);
    }
    PM_ASSERT(s->block_size == pool->size);
    return side_slot(s, pool, p);
}

/* Where the big table's probe for p starts. */
static size_t big_slot(uintptr_t p, size_t cap) {
    return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static tr_big *big_find(pmd_recorder *r, uintptr_t p) {
    if (r->big_cap == 0) return NULL;
    for (size_t i = big_slot(p, r->big_cap);; i = (i + 1) & (r->big_cap - 1)) {
        if (r->big[i].p == p) return &r->big[i];
        if (r->big[i].p == 0) return NULL;
    }
}

/* Room for one more entry in the big table (under lock). */
static bool big_reserve(pmd_recorder *r) {
    if ((r->big_used + 1) * 4 <= r->big_cap * 3) return true;
    size_t cap = r->big_cap ? r->big_cap * 2 : 1024;
    tr_big *t = rec_take(r, cap * sizeof *t);
    if (t == NULL) return false;
    tr_big *old = r->big;
    size_t oldcap = r->big_cap;
    r->big = t;
    r->big_cap = cap;
    r->big_used = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].p <= 1) continue;
        size_t j = big_slot(old[i].p, cap);
        while (t[j].p) j = (j + 1) & (cap - 1);
        t[j] = old[i];
        r->big_used++;
    }
    return true;
}

/* A record found where a new one goes: its block was freed unseen (R1).
 * Out of the totals, and freed in the capture before the new allocation. */
static void forget_stale(pmd_recorder *r, const void *p, size_t n) {
    account(r, p, n, false);
    if (r->capture) pmd_capture_free(r->capture, p);
}

/* Record block p of n bytes from stack id (R1), an object's with flags
 * REC_OBJECT; false when out of memory (the block is not recorded). Under
 * lock. */
static bool record_put(pmd_recorder *r, const void *p, uint32_t stack, size_t n, uint32_t flags) {
    const pm_heap *h = pmh_map_owner((uintptr_t)p);
    if (h) {
        _Atomic uint64_t *slot = pool_slot(r, h, p, true);
        if (slot == NULL) return false;
        uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
        atomic_store_explicit(slot, REC(stack | flags, n), memory_order_relaxed);
        if (old) forget_stale(r, p, REC_SIZE(old));
    } else {
        tr_big *b = big_find(r, (uintptr_t)p);
        if (b) forget_stale(r, p, b->size);
        else if (big_reserve(r)) {
            size_t i = big_slot((uintptr_t)p, r->big_cap);
            while (r->big[i].p > 1) i = (i + 1) & (r->big_cap - 1);
            if (r->big[i].p == 0) r->big_used++;
            b = &r->big[i];
        }
        if (b == NULL) return false;
        *b = (tr_big){(uintptr_t)p, stack | flags, n};
    }
    account(r, p, n, true);
    return true;
}

/* p's record, taken out (take) or only read: false when p has none.
 * Under lock. */
static bool record_get(pmd_recorder *r, const void *p, bool take, uint32_t *stack, size_t *n) {
    const pm_heap *h = pmh_map_owner((uintptr_t)p);
    if (h) {
        _Atomic uint64_t *slot = pool_slot(r, h, p, false);
        if (slot == NULL) return false;
        uint64_t rec = atomic_load_explicit(slot, memory_order_relaxed);
        if (rec == 0) return false;
        if (take) atomic_store_explicit(slot, 0, memory_order_relaxed);
        *stack = REC_STACK(rec);
        *n = REC_SIZE(rec);
    } else {
        tr_big *b = big_find(r, (uintptr_t)p);
        if (b == NULL) return false;
        *stack = b->stack & ~REC_OBJECT;
        *n = b->size;
        if (take) b->p = 1;
    }
    if (take) account(r, p, *n, false);
    return true;
}

/* ---- objects ------------------------------------------------------------------- */

/* The object layer's word, while the runtime's heap is traced, that block
 * o is an object of its type (pmh_object_tracer.born): its record
 * gets REC_OBJECT, so that a snapshot can group it by type. A debug
 * heap's block holds its object at an offset the walk below would not
 * know: its objects stay plain blocks. */
static void object_born(void *o) {
    pmd_recorder *r = recorder();
    if (r == NULL) return;
    const pm_heap *h = pmh_map_owner((uintptr_t)o);
    if (h && pm_heap_debug_enabled(h)) return;
    tr_lock(&r->lock);
    if (h) {
        _Atomic uint64_t *slot = pool_slot(r, h, o, false);
        uint64_t rec = slot ? atomic_load_explicit(slot, memory_order_relaxed) : 0;
        if (rec) atomic_store_explicit(slot, rec | REC_OBJECT, memory_order_relaxed);
    } else {
        tr_big *b = big_find(r, (uintptr_t)o);
        if (b) b->stack |= REC_OBJECT;
    }
    tr_unlock(&r->lock);
}

/* The collector's word, while tracing, that a collection has ended
 * (pmh_process.trace_collection): a COLLECTION record in the capture, for
 * the timeline's pauses. The collector knows nothing of the recorder; it
 * calls whatever the hook holds. A collection runs on a thread that
 * allocates or calls pm_gc_collect, which pm_trace_stop's contract has
 * stopped, so r outlives this call (R3), as it does object_born's. */
static void collection_done(const pm_gc_info *info) {
    pmd_recorder *r = recorder();
    if (r == NULL) return;
    double us = info->pause_ms * 1000.0;
    tr_lock(&r->lock);
    if (r->capture)
        pmd_capture_collection(r->capture, info->generation, us > 0 ? (uint64_t)(us + 0.5) : 0,
                               info->collected > 0 ? (uint64_t)info->collected : 0);
    tr_unlock(&r->lock);
}

/* Every record, under the lock: its stack, what it stands for (weighed)
 * and, if it is an object's, the object. */
static void each_side_record(pmd_recorder *r, uintptr_t base, const tr_side *s, pmd_block_fn fn,
                             void *arg) {
    for (uint32_t i = 0; i < s->nslots; i++) {
        uint64_t rec = atomic_load_explicit(&s->slot[i], memory_order_relaxed);
        if (rec == 0) continue;
        const void *block = (const void *)(base + s->block0 + (uintptr_t)i * s->block_size);
        size_t bytes, count;
        weighed(r, block, REC_SIZE(rec), &bytes, &count);
        fn(arg, REC_STACK(rec), bytes, count, ((uint32_t)rec & REC_OBJECT) ? block : NULL);
    }
}

void pmd_trace_each_block(pmd_block_fn fn, void *arg) {
    pmd_recorder *r = recorder();
    if (r == NULL) return;
    tr_lock(&r->lock);
    for (uintptr_t a = 0; a < TR_RADIX; a++) {
        _Atomic(void *) *l2 = atomic_load_explicit(&r->radix[a], memory_order_relaxed);
        for (uintptr_t b = 0; l2 && b < TR_RADIX; b++) {
            _Atomic(void *) *l3 = atomic_load_explicit(&l2[b], memory_order_relaxed);
            for (uintptr_t c = 0; l3 && c < TR_RADIX; c++) {
                const tr_side *s = atomic_load_explicit(&l3[c], memory_order_relaxed);
                uintptr_t key = a << (2 * TR_RADIX_BITS) | b << TR_RADIX_BITS | c;
                if (s) each_side_record(r, key << 12, s, fn, arg);
            }
        }
    }
    for (size_t i = 0; i < r->big_cap; i++) {
        const tr_big *e = &r->big[i];
        if (e->p <= 1) continue;
        size_t bytes, count;
        weighed(r, (const void *)e->p, e->size, &bytes, &count);
        fn(arg, e->stack & ~REC_OBJECT, bytes, count,
           (e->stack & REC_OBJECT) ? (const void *)e->p : NULL);
    }
    tr_unlock(&r->lock);
}

/* ---- the wrappers ---------------------------------------------------------------- */

/* Under lock. */
static bool record_and_write(pmd_recorder *r, const void *p, uint32_t stack, size_t n,
                             uint32_t flags) {
    if (!record_put(r, p, stack, n, flags)) return false;
    if (r->capture) pmd_capture_alloc(r->capture, p, n, stack);
    return true;
}

/* The stack is read and looked up without the lock; what it takes is
 * one lock for the rest: interning if new, the record, the totals and
 * the capture. `wrapper`: the wrapper's frame address
 * (walk_frame_pointers). */
static PM_NOINLINE void record_alloc(tr_table *t, const void *p, size_t n, uint32_t flags,
                                     const void *wrapper) {
    pmd_recorder *r = t->rec;
    if (r->sample_bytes && !sampled(r, n)) return;
    tr_stack s;
    uint32_t stack = stack_id(r, t->domain, wrapper, &s);
    tr_lock(&r->lock);
    if (stack == 0) stack = stack_intern(r, &s);
    bool ok = stack != 0 && record_and_write(r, p, stack, n, flags); /* else out of memory */
    TR_ADD(*(ok ? &r->recorded : &r->dropped), 1);
    tr_unlock(&r->lock);
}

/* Surely no record for live block p, seen without the lock? A pool's
 * header names its side array for this recorder from its first record
 * until the pool is empty (pool_init, a decommit), so a pool that names
 * none holds no recorded block; and p's own slot was written before p
 * reached this thread (the program passed it on), so a zero there is
 * the truth. Most frees of a sampled recording end here. */
static bool surely_unrecorded(const pmd_recorder *r, const void *p) {
    const pm_heap *h = pmh_map_owner((uintptr_t)p);
    if (h == NULL) return false; /* the big table: under the lock */
    const pmh_pool *pool = pmh_pool_of(h, p);
    if (atomic_load_explicit(&pool->trace_gen, memory_order_relaxed) != r->gen) return true;
    const _Atomic uint64_t *slot =
        side_slot(atomic_load_explicit(&pool->trace, memory_order_relaxed), pool, p);
    return slot == NULL || atomic_load_explicit(slot, memory_order_relaxed) == 0;
}

/* p's record out, and its free in the capture: before the block goes
 * back (after, another thread may be given it and record it first). */
static bool forget(pmd_recorder *r, const void *p, uint32_t *stack, size_t *n) {
    if (r->sample_bytes && surely_unrecorded(r, p)) return false;
    tr_lock(&r->lock);
    bool had = record_get(r, p, true, stack, n);
    if (had && r->capture) pmd_capture_free(r->capture, p);
    tr_unlock(&r->lock);
    return had;
}

/* Not recorded: a call from inside a wrapper (R2), or a wrapper left
 * after the stop, or any call once the process is exiting. */
static bool passes_through(const tr_table *t) {
    return tr_self.busy || t->rec == NULL ||
           atomic_load_explicit(&t->rec->closing, memory_order_relaxed);
}

static PM_NOINLINE void *tr_malloc(void *ctx, size_t n) {
    tr_table *t = ctx;
    if (passes_through(t)) return t->inner.malloc(t->inner.ctx, n);
    tr_self.busy = true;
    void *p = t->inner.malloc(t->inner.ctx, n);
    if (p) record_alloc(t, p, n ? n : 1, 0, __builtin_frame_address(0));
    tr_self.busy = false;
    return p;
}

static PM_NOINLINE void *tr_calloc(void *ctx, size_t nelem, size_t elsize) {
    tr_table *t = ctx;
    if (passes_through(t)) return t->inner.calloc(t->inner.ctx, nelem, elsize);
    tr_self.busy = true;
    void *p = t->inner.calloc(t->inner.ctx, nelem, elsize);
    size_t n = nelem * elsize; /* no overflow: p exists */
    if (p) record_alloc(t, p, n ? n : 1, 0, __builtin_frame_address(0));
    tr_self.busy = false;
    return p;
}

/* realloc is a free and an allocation; the old record comes back if the
 * block stays where it was because the call failed. */
static PM_NOINLINE void *tr_realloc(void *ctx, void *p, size_t n) {
    tr_table *t = ctx;
    if (passes_through(t)) return t->inner.realloc(t->inner.ctx, p, n);
    tr_self.busy = true;
    uint32_t stack = 0;
    size_t old_n = 0;
    bool had = p && forget(t->rec, p, &stack, &old_n);
    void *q = t->inner.realloc(t->inner.ctx, p, n);
    if (q) record_alloc(t, q, n ? n : 1, 0, __builtin_frame_address(0));
    else if (had) { /* p stays */ tr_lock(&t->rec->lock);
        record_and_write(t->rec, p, stack, old_n, 0);
        tr_unlock(&t->rec->lock);
    }
    tr_self.busy = false;
    return q;
}

/* p's record dropped before p goes back, unless the call passes through. */
static void drop_record(tr_table *t, void *p) {
    if (p == NULL || passes_through(t)) return;
    uint32_t stack;
    size_t n;
    tr_self.busy = true;
    (void)forget(t->rec, p, &stack, &n);
    tr_self.busy = false;
}

static void tr_free(void *ctx, void *p) {
    tr_table *t = ctx;
    drop_record(t, p);
    t->inner.free(t->inner.ctx, p);
}

static bool is_wrapper(const pm_allocator *a) { return a->malloc == tr_malloc; }

/* ---- a runtime's objects (pmh_process.object_tracer) ----------------------------- */

/* The object layer's entry points while a runtime's obj table is a
 * wrapper right over its heap's pools (docs/DESIGN.md, "Under the
 * recorder"): the object layer takes and gives back the block itself,
 * from the runtime's own cache, and these record it. The record is made
 * once the header is written, marked as an object's at once: a snapshot
 * by type on another thread reads the type of every object record. */
static const pm_allocator *object_wrapped(const pm_allocator *a) {
    return is_wrapper(a) ? &((const tr_table *)a->ctx)->inner : NULL;
}

static PM_NOINLINE void object_record(const pm_allocator *a, void *o, size_t n) {
    tr_table *t = a->ctx;
    if (passes_through(t)) return;
    tr_self.busy = true;
    record_alloc(t, o, n ? n : 1, REC_OBJECT, __builtin_frame_address(0));
    tr_self.busy = false;
}

static void object_forget(const pm_allocator *a, void *p) { drop_record(a->ctx, p); }

static const pmh_object_tracer object_tracer = {object_wrapped, object_record, object_forget,
                                                object_born};

/* Wrap h's tables and entry points (under heaps.lock). A heap another
 * recorder's wrapper still covers (R3's exception, see unwrap) is wrapped
 * again on top: the inner one passes through. */
static bool wrap(pmd_recorder *r, pm_heap *h) {
    tr_heap *th = pmh_internal_calloc(1, sizeof *th);
    if (th == NULL) return false;
    th->heap = h;
    for (uint32_t d = 0; d < TR_DOMAINS; d++) {
        th->table[d].rec = r;
        th->table[d].domain = d;
        if (d < PM_NUM_DOMAINS) th->table[d].inner = h->domains[d];
        else pmh_heap_entries(h, &th->table[d].inner);
        th->wrapper[d] = (pm_allocator){&th->table[d], tr_malloc, tr_calloc, tr_realloc, tr_free};
    }
    for (uint32_t d = 0; d < PM_NUM_DOMAINS; d++) h->domains[d] = th->wrapper[d];
    pmh_heap_set_entry_wrap(h, &th->wrapper[PM_NUM_DOMAINS]);
    th->next = r->heaps;
    r->heaps = th;
    return true;
}

/* Put back what wrap replaced. A table the program replaced while tracing
 * is left as it is, and its wrapper (which the program's table may call)
 * lives on, passing through: a few bytes of internal memory. */
static void unwrap(tr_heap *th) {
    pm_heap *h = th->heap;
    bool kept = false;
    for (uint32_t d = 0; d < PM_NUM_DOMAINS; d++) {
        if (h->domains[d].ctx == &th->table[d] && is_wrapper(&h->domains[d]))
            h->domains[d] = th->table[d].inner;
        else kept = true;
        th->table[d].rec = NULL;
    }
    th->table[PM_NUM_DOMAINS].rec = NULL;
    pmh_heap_set_entry_wrap(h, NULL);
    if (!kept) pmh_internal_free(th);
}

/* ---- heaps made and destroyed while tracing ------------------------------------ */

static int forget_block(void *arg, void *block, size_t size, int is_large) {
    (void)size, (void)is_large;
    uint32_t stack;
    size_t n;
    (void)forget(arg, block, &stack, &n);
    return 0;
}

static void heap_made(pm_heap *h) {
    pmd_recorder *r = recorder();
    if (r) (void)wrap(r, h); /* out of memory: h is not traced */
}

/* h is being destroyed: its blocks die with it (their records go), and
 * its wrappers come off. */
static void heap_gone(pm_heap *h) {
    pmd_recorder *r = recorder();
    if (r == NULL) return;
    for (tr_heap **link = &r->heaps; *link; link = &(*link)->next) {
        tr_heap *th = *link;
        if (th->heap != h) continue;
        *link = th->next;
        unwrap(th);
        break;
    }
    (void)pm_heap_walk(h, forget_block, r);
}

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);
static const pmh_heap_watch watch = {heap_made, heap_gone, fork_prepare, fork_parent, fork_child};

/* ---- the API ---------------------------------------------------------------------- */

/* A recorder in a mapping of its own, the first of its list (R3). */
static pmd_recorder *recorder_new(unsigned frames) {
    size_t size = (sizeof(tr_mapping) + sizeof(pmd_recorder) + PMOS_PAGE_SIZE - 1) &
                  ~(size_t)(PMOS_PAGE_SIZE - 1);
    tr_mapping *m = pmos_map(size);
    if (m == NULL) return NULL;
    m->size = size;
    pmd_recorder *r = (pmd_recorder *)(m + 1); /* zeroed: every counter 0 */
    r->mappings = m;
    atomic_store_explicit(&r->overhead, size, memory_order_relaxed);
    r->frames = frames;
    r->maps_left = -1;
    Dl_info info; /* the main program: the module of its entry point */
    if (pmd_program_path(r->exe, sizeof r->exe) && dladdr((void *)getauxval(AT_ENTRY), &info) != 0)
        r->exe_base = (uintptr_t)info.dli_fbase;
    else r->exe[0] = '\0';
    atomic_init(&r->lock, 0);
    /* Nodes 1..TR_DOMAINS are the domains' roots; 0 means "no stack". */
    r->chunk[0] = rec_map(r, (size_t)TR_CHUNK_NODES * sizeof(tr_node));
    if (r->chunk[0] == NULL || !intern_grow(r)) {
        rec_unmap_all(r);
        return NULL;
    }
    atomic_store_explicit(&r->nnodes, TR_DOMAINS + 1, memory_order_relaxed);
    return r;
}

/* Open r's capture file anew (its name expanded now) and write every
 * stack node so far: a fork child's file starts whole. */
static bool capture_open(pmd_recorder *r) {
    char name[sizeof r->path];
    if (!pmos_expand_pid(r->path, name, sizeof name)) {
        errno = ENAMETOOLONG;
        return false;
    }
    /* A number no other capture of this process had (a fork child's
     * included): its threads are numbered anew in it. */
    r->capture = pmd_capture_open(name, r->frames, r->sample_bytes, ++pmh_process.recorder_starts);
    if (r->capture == NULL) return false;
    /* In id order, as the reader wants them: strings, locations, nodes. */
    const char **text = r->nstr ? rec_take(r, (r->nstr + 1) * sizeof *text) : NULL;
    const uint32_t *ids = (const uint32_t *)(r->str_key + r->str_cap);
    for (uint32_t i = 0; text && i < r->str_cap; i++)
        if (r->str_key[i]) text[ids[i]] = r->str_key[i];
    for (uint32_t id = 1; text && id <= r->nstr; id++) pmd_capture_string(r->capture, id, text[id]);
    for (uint32_t id = 1; text && id <= r->nloc; id++)
        pmd_capture_location(r->capture, id, string_id(r, r->loc[id].file ? r->loc[id].file : "?"),
                             string_id(r, r->loc[id].function ? r->loc[id].function : "?"),
                             r->loc[id].line);
    uint32_t n = atomic_load_explicit(&r->nnodes, memory_order_relaxed);
    for (uint32_t id = TR_DOMAINS + 1; id < n; id++)
        pmd_capture_node(r->capture, id, node(r, id)->parent, node(r, id)->pc);
    return true;
}

/* ---- fork ------------------------------------------------------------------------ */

/* The recorder's lock is held across fork(), after every lock of the
 * heap layer (process.c
 * calls these through the watch), so that a child finds them free. The child does
 * not write its parent's file: with %p in the name it starts its own,
 * else it goes on recording in memory only. */
static void fork_prepare(void) {
    pmd_recorder *r = recorder();
    if (r == NULL) return;
    tr_lock(&r->lock);
}

static void fork_parent(void) {
    pmd_recorder *r = recorder();
    if (r == NULL) return;
    tr_unlock(&r->lock);
}

static void fork_child(void) {
    pmd_recorder *r = recorder();
    if (r == NULL) return;
    /* Not the parent's sample points: the child's threads find their
     * sample_gen stale and draw from a seed with the pid in it. */
    r->forks += (uint64_t)getpid() << 20;
    atomic_init(&r->lock, 0);
    if (r->capture == NULL) return;
    pmd_capture_abandon(r->capture);
    r->capture = NULL;
    if (strstr(r->path, "%p")) (void)capture_open(r); /* else: in memory only */
}

/* ---- start and stop ----------------------------------------------------------------- */

static uint64_t now_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 17;
}

int pm_trace_start(const pm_trace_config *cfg) {
    pm_trace_config c = PM_TRACE_CONFIG_INIT;
    /* A caller compiled with an older, shorter layout gets the defaults of
     * the fields it does not know. */
    size_t known = cfg && cfg->struct_size ? cfg->struct_size : sizeof c;
    if (known < offsetof(pm_trace_config, sample_bytes)) {
        errno = EINVAL;
        return -1;
    }
    if (cfg) memcpy(&c, cfg, known < sizeof c ? known : sizeof c);
    if (c.frames == 0) c.frames = 16;
    if (c.frames > PM_TRACE_MAX_FRAMES || c.sample_bytes > PM_TRACE_MAX_SAMPLE ||
        (c.file && strlen(c.file) >= sizeof(((pmd_recorder *)0)->path))) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&pmh_process.heaps.lock);
    if (recorder()) {
        pthread_mutex_unlock(&pmh_process.heaps.lock);
        errno = EBUSY;
        return -1;
    }
    pmd_recorder *r = recorder_new(c.frames);
    if (r) {
        r->gen = ++pmh_process.recorder_starts;
        r->sample_bytes = c.sample_bytes;
        r->seed = c.seed ? c.seed : now_seed();
        /* Without libgcc's unwinder, frame pointers without the trial. */
        if (!pmd_unwinder_load(&r->unwinder)) atomic_store(&r->unwind, TR_UNWIND_FP);
    }
    int err = ENOMEM;
    bool ok = r != NULL;
    if (ok && c.file) {
        strcpy(r->path, c.file);
        ok = capture_open(r);
        if (!ok) err = errno;
    }
    for (pm_heap *h = pmh_process.heaps.first; ok && h; h = h->all_next) ok = wrap(r, h);
    if (!ok) {
        while (r && r->heaps) {
            tr_heap *th = r->heaps;
            r->heaps = th->next;
            unwrap(th);
        }
        if (r && r->capture) pmd_capture_close(r->capture);
        if (r) rec_unmap_all(r);
        pthread_mutex_unlock(&pmh_process.heaps.lock);
        errno = err;
        return -1;
    }
    atomic_store_explicit(&pmh_process.recorder, r, memory_order_release);
    atomic_store_explicit(&pmh_process.object_tracer, &object_tracer, memory_order_release);
    atomic_store_explicit(&pmh_process.trace_collection, collection_done, memory_order_release);
    pmh_process.heaps.watch = &watch;
    pthread_mutex_unlock(&pmh_process.heaps.lock);
    return 0;
}

/* Before the end record: how many allocations went unrecorded, if any. */
static void say_dropped(pmd_recorder *r) {
    uint64_t n = atomic_load_explicit(&r->dropped, memory_order_relaxed);
    if (n) pmd_capture_info_number(r->capture, "dropped", n);
}

void pm_trace_stop(void) {
    pthread_mutex_lock(&pmh_process.heaps.lock);
    pmd_recorder *r = recorder();
    if (r == NULL) {
        pthread_mutex_unlock(&pmh_process.heaps.lock);
        return;
    }
    pmh_process.heaps.watch = NULL;
    while (r->heaps) {
        tr_heap *th = r->heaps;
        r->heaps = th->next;
        unwrap(th);
    }
    atomic_store_explicit(&pmh_process.object_tracer, NULL, memory_order_release);
    atomic_store_explicit(&pmh_process.trace_collection, NULL, memory_order_release);
    atomic_store_explicit(&pmh_process.recorder, NULL, memory_order_release);
    pthread_mutex_unlock(&pmh_process.heaps.lock);
    tr_lock(&r->lock);
    pmd_capture *c = r->capture;
    if (c) say_dropped(r);
    r->capture = NULL;
    tr_unlock(&r->lock);
    if (c) pmd_capture_close(c);
    rec_unmap_all(r); /* R3: no wrapper names r any more */
}

/* PYMM_TRACE=FILE: the whole run, from before main() to exit. At exit
 * other threads may still allocate (nothing stops them), so the recorder
 * is not taken down: the capture is ended (later events are dropped by
 * it) and the wrappers pass through from then on, the recorder's memory
 * staying mapped until the process is gone. */
static void stop_at_exit(void) {
    pthread_mutex_lock(&pmh_process.heaps.lock);
    pmd_recorder *r = recorder();
    if (r) {
        atomic_store_explicit(&r->closing, true, memory_order_relaxed);
        tr_lock(&r->lock);
        if (r->capture) {
            say_dropped(r);
            pmd_capture_finish(r->capture);
        }
        tr_unlock(&r->lock);
    }
    pthread_mutex_unlock(&pmh_process.heaps.lock);
}

bool pmd_env_is_mine(const char *variable, const char *what) {
    pmh_copy copy = pmh_process_copy();
    if (copy == PMH_COPY_SECOND)
        fprintf(stderr,
                "pymm: %s: this process holds two copies of pymm (a program linked with "
                "pymm, and libpymm-malloc.so from LD_PRELOAD, say); the other copy %s it, "
                "and the allocations through this one are left out: run the program "
                "without LD_PRELOAD\n",
                variable, what);
    return copy == PMH_COPY_FIRST;
}

__attribute__((constructor(150))) static void trace_from_env(void) {
    const char *path = getenv("PYMM_TRACE");
    if (path == NULL || path[0] == '\0' || !pmd_env_is_mine("PYMM_TRACE", "traces")) return;
    pm_trace_config c = PM_TRACE_CONFIG_INIT;
    c.file = path;
    const char *frames = getenv("PYMM_TRACE_FRAMES");
    if (frames && frames[0]) {
        char *end;
        unsigned long n = strtoul(frames, &end, 10);
        if (*end != '\0' || n == 0 || n > PM_TRACE_MAX_FRAMES) {
            fprintf(stderr, "pymm: PYMM_TRACE_FRAMES=%s is not a number from 1 to %d\n", frames,
                    PM_TRACE_MAX_FRAMES);
            return;
        }
        c.frames = (unsigned)n;
    }
    const char *sample = getenv("PYMM_TRACE_SAMPLE");
    if (sample && sample[0]) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(sample, &end, 10);
        if (*end != '\0' || sample[0] < '0' || sample[0] > '9' || errno ||
            n > PM_TRACE_MAX_SAMPLE) {
            fprintf(stderr, "pymm: PYMM_TRACE_SAMPLE=%s is not a number of bytes\n", sample);
            return;
        }
        c.sample_bytes = (size_t)n;
    }
    if (pm_trace_start(&c) != 0) {
        fprintf(stderr, "pymm: PYMM_TRACE=%s: %s\n", path, strerror(errno));
        return;
    }
    /* A child process that runs pymm would truncate this file: only a
     * name with %p is left for children (each then writes its own). */
    if (strstr(path, "%p") == NULL) unsetenv("PYMM_TRACE");
    atexit(stop_at_exit);
}

int pm_trace_is_tracing(void) { return recorder() != NULL; }

void pm_trace_get_traced_memory(size_t *current, size_t *peak) {
    pmd_recorder *r = recorder();
    if (current) *current = r ? atomic_load_explicit(&r->current, memory_order_relaxed) : 0;
    if (peak) *peak = r ? atomic_load_explicit(&r->peak, memory_order_relaxed) : 0;
}

void pm_trace_reset_peak(void) {
    pmd_recorder *r = recorder();
    if (r)
        atomic_store_explicit(&r->peak, atomic_load_explicit(&r->current, memory_order_relaxed),
                              memory_order_relaxed);
}

size_t pm_trace_overhead(void) {
    pmd_recorder *r = recorder();
    return r ? atomic_load_explicit(&r->overhead, memory_order_relaxed) : 0;
}

const char *pm_trace_unwinder(void) {
    pmd_recorder *r = recorder();
    if (r == NULL) return "off";
    switch (atomic_load_explicit(&r->unwind, memory_order_relaxed)) {
        case TR_UNWIND_FP: return "frame pointers";
        case TR_UNWIND_DWARF: return "unwinder";
        default: return "deciding";
    }
}

uint64_t pm_trace_recorded(void) {
    pmd_recorder *r = recorder();
    return r ? atomic_load_explicit(&r->recorded, memory_order_relaxed) : 0;
}

uint64_t pm_trace_dropped(void) {
    pmd_recorder *r = recorder();
    return r ? atomic_load_explicit(&r->dropped, memory_order_relaxed) : 0;
}

void pmd_trace_fail_maps(long n) {
    pmd_recorder *r = recorder();
    if (r) r->maps_left = n;
}

size_t pm_trace_stack_frames(uint32_t stack, void **frames, size_t max) {
    pmd_recorder *r = recorder();
    if (r == NULL || stack <= TR_DOMAINS ||
        stack >= atomic_load_explicit(&r->nnodes, memory_order_acquire))
        return 0;
    size_t n = 0;
    for (uint32_t id = stack; id > TR_DOMAINS && n < max; id = node(r, id)->parent)
        frames[n++] = (void *)node(r, id)->pc;
    return n;
}

int pm_trace_frame_info(const void *frame, pm_trace_frame *out) {
    uintptr_t f = (uintptr_t)frame;
    pmd_recorder *r = recorder();
    *out = (pm_trace_frame){0, NULL, NULL, 0, 0};
    if (!(f & TR_INTERP_BIT)) {
        Dl_info info;
        if (dladdr(frame, &info) != 0) {
            /* The main program by its real path, so that a snapshot's keys
             * do not depend on how the program was started. */
            bool exe = r && r->exe[0] && (uintptr_t)info.dli_fbase == r->exe_base;
            *out = (pm_trace_frame){0, exe ? r->exe : info.dli_fname, info.dli_sname, 0,
                                    f - (uintptr_t)info.dli_fbase};
        }
        return 0;
    }
    uint32_t id = (uint32_t)(f & ~TR_INTERP_BIT);
    if (r == NULL) return -1;
    tr_lock(&r->lock);
    bool known = id >= 1 && id <= r->nloc;
    if (known) *out = (pm_trace_frame){1, r->loc[id].file, r->loc[id].function, r->loc[id].line, 0};
    tr_unlock(&r->lock);
    return known ? 0 : -1;
}

static int domain_of(const pmd_recorder *r, uint32_t stack) {
    while (stack > TR_DOMAINS) stack = node(r, stack)->parent;
    return (int)stack - 1;
}

int pmd_trace_stack_domain(uint32_t stack) {
    pmd_recorder *r = recorder();
    return r && stack >= 1 && stack < atomic_load_explicit(&r->nnodes, memory_order_acquire)
               ? domain_of(r, stack)
               : -1;
}

size_t pm_trace_get_traceback(const void *p, void **frames, size_t max) {
    pmd_recorder *r = recorder();
    uint32_t stack;
    size_t n;
    if (r == NULL || p == NULL) return 0;
    tr_lock(&r->lock);
    bool known = record_get(r, p, false, &stack, &n);
    tr_unlock(&r->lock);
    return known ? pm_trace_stack_frames(stack, frames, max) : 0;
}

/* An object is its block: its header starts the block, whatever the type
 * (pmo_alloc), so the block's record is the object's. */
size_t pm_trace_object_traceback(const pm_object *o, void **frames, size_t max) {
    return o == NULL ? 0 : pm_trace_get_traceback(o, frames, max);
}

static int by_bytes_desc(const void *a, const void *b) {
    const pm_trace_stat *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* Per-stack sums of the records (pm_trace_top): [id] for ids below n. */
typedef struct tr_sums {
    uint32_t n;
    struct {
        size_t bytes, count;
    } * at;
} tr_sums;

static void add_record(void *arg, uint32_t stack, size_t bytes, size_t count, const void *object) {
    (void)object;
    tr_sums *s = arg;
    if (stack >= s->n) return; /* a stack interned after the sums were sized: a later record */
    s->at[stack].bytes += bytes;
    s->at[stack].count += count;
}

size_t pm_trace_top(pm_trace_stat *out, size_t max) {
    pmd_recorder *r = recorder();
    if (r == NULL || max == 0) return 0;
    tr_sums sums = {atomic_load_explicit(&r->nnodes, memory_order_acquire), NULL};
    size_t map_size = (size_t)sums.n * sizeof *sums.at;
    if ((sums.at = pmos_map(map_size)) == NULL) return 0; /* zeroed, never traced (R2) */
    pmd_trace_each_block(add_record, &sums);
    size_t n = 0;
    for (uint32_t id = 1; id < sums.n; id++) {
        size_t count = sums.at[id].count;
        if (count == 0) continue;
        pm_trace_stat s = {id, sums.at[id].bytes, count, domain_of(r, id)};
        if (n < max) {
            out[n++] = s;
            if (n == max) qsort(out, n, sizeof *out, by_bytes_desc);
        } else if (by_bytes_desc(&s, &out[n - 1]) < 0) {
            /* Insert s into the sorted top (max is small: a top N). */
            size_t i = n - 1;
            while (i > 0 && by_bytes_desc(&s, &out[i - 1]) < 0) {
                out[i] = out[i - 1];
                i--;
            }
            out[i] = s;
        }
    }
    pmos_unmap(sums.at, map_size);
    if (n < max) qsort(out, n, sizeof *out, by_bytes_desc);
    return n;
}
