/*
 * process.h -- pymm's one process-wide structure (process.c defines it and
 * documents every field: who writes it, under which lock, the fork rule).
 *
 * Every other piece of mutable state lives in a heap (pm_heap) or a
 * runtime (pm_runtime). What no heap or runtime can own because all of
 * them share it -- the owner map, the internal allocator's counters, the
 * registry of shared types -- is a field of `pmh_process`. Its address is
 * a link-time constant, so the owner map's root, read on every free, is
 * reached with no indirection. .ci/process-state.allow lists every
 * writable static symbol of the library; a test fails on any other.
 */
#ifndef PM_HEAP_PROCESS_H
#define PM_HEAP_PROCESS_H

#include "pm_config.h"
#include "pymm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The owner map's shape (owners.c): one slot per MiB of user address
 * space, in one table. The kernel gives user mappings below 2^47 on x86-64
 * (unless a program asks for higher addresses), below 2^48 on arm64. */
#if defined(__x86_64__)
#define PMH_ADDRESS_BITS 47
#elif defined(__aarch64__)
#define PMH_ADDRESS_BITS 48
#else
#error "pymm: say how many bits of user address space this target has (PMH_ADDRESS_BITS)"
#endif
#define PMH_MAP_SHIFT 20
#define PMH_MAP_SLOTS ((size_t)1 << (PMH_ADDRESS_BITS - PMH_MAP_SHIFT))
/* The fallback tree (owners.c, M4), for a process that cannot reserve the
 * table: a root of leaf pointers over 2^18-slot leaves. */
#define PMH_TREE_LEAF_BITS 18
#define PMH_TREE_LEAF ((size_t)1 << PMH_TREE_LEAF_BITS)
#define PMH_TREE_ROOT (PMH_MAP_SLOTS >> PMH_TREE_LEAF_BITS)

/* The default heap's id (heap.c); pm_heap_new's heaps count from it. */
#define PMH_DEFAULT_HEAP_ID 1

/* The recorder's entry points for a runtime's objects (diag/trace.c;
 * docs/DESIGN.md, "Under the recorder"). */
typedef struct pmh_object_tracer {
    /* The table that a wraps, if a is the recorder's wrapper; else NULL. */
    const pm_allocator *(*wrapped)(const pm_allocator *a);
    /* Object o of n bytes, its header written, recorded under wrapper a. */
    void (*record)(const pm_allocator *a, void *o, size_t n);
    /* p's record, if any, dropped before p goes back. */
    void (*forget)(const pm_allocator *a, void *p);
    /* Block o, taken from a table that is not a wrapper over the pools
     * (a program's, debug hooks, a wrapper over those), is an object. */
    void (*born)(void *o);
} pmh_object_tracer;

typedef struct pmh_process_state {
    /* ---- the owner map (heap layer, owners.c) ---- */
    /* Written with __atomic builtins, read by pmh_map_owner (heap.h). */
    const pm_heap **map;                      /* the table (M1), once map_slots is set */
    uintptr_t map_slots;                      /* 0, then PMH_MAP_SLOTS (M1)             */
    bool map_tree;                            /* the table was refused: the tree (M4)   */
    const pm_heap **tree_root[PMH_TREE_ROOT]; /* its leaves, or NULL  */
    pthread_mutex_t map_lock;                 /* serializes map writers          */
    pthread_once_t fork_handlers_once;        /* the atfork handlers, once  */

    /* ---- the internal allocator (heap layer, internal_alloc.c) ---- */
    atomic_long internal_live; /* live blocks of pmh_internal_*             */
    struct {
        atomic_bool armed;
        bool persistent;
        long nth;      /* the tick that fails (1-based, from the arm)        */
        long calls;    /* ticks since the arm                                */
        long injected; /* ticks that answered true                           */
    } fault;

    /* ---- the thread-safe heaps (heap layer, threads.c) ---- */
    struct {
        pthread_mutex_t lock; /* the list, ids, caches' retirement */
        pthread_once_t key_once;
        bool key_made;
        pthread_key_t key; /* a thread's bound caches, for its exit */
        pm_heap *first;    /* every live thread-safe heap (ts_next) */
        uint64_t last_id;
    } ts_heaps;

    /* ---- every live heap (heap layer, heap.c) ---- */
    struct {
        pthread_mutex_t lock;
        pm_heap *first; /* the default heap, then pm_heap_new's (all_next) */
        const struct pmh_heap_watch *watch;
    } heaps;

    /* ---- the allocation recorder (diagnostics layer, diag/trace.c) ----
     * Held here, owned there: the heap never reads it. NULL while not
     * tracing; written under heaps.lock. */
    _Atomic(struct pmd_recorder *) recorder;
    uint64_t recorder_starts; /* recorders made so far: their numbers */
    /* pm_trace_set_line_hook's: set by an embedder, whether tracing or not */
    _Atomic(void (*)(void *)) trace_line_hook;
    void *_Atomic trace_line_arg;
    /* The recorder's, while it traces: it records a runtime's objects,
     * which stay in the runtime's own pools, and hears which blocks of
     * other tables are objects (pmh_object_tracer). NULL while not
     * tracing. */
    _Atomic(const pmh_object_tracer *) object_tracer;
    /* The recorder's, while it traces: the collector tells it of each
     * collection done (gc/collector.c, collect_with_callbacks), for the
     * capture's timeline of pauses. NULL while not tracing: one test. */
    _Atomic(void (*)(const pm_gc_info *)) trace_collection;
    /* Leak verdicts from the environment (diag/leakenv.c, PYMM_LEAKS):
     * the check pm_runtime_destroy calls with the runtime going away
     * (NULL when not asked for), and its state (internal memory). Held
     * here, owned there: the heap never reads them. */
    _Atomic(void (*)(void *)) leaks_at_destroy;
    void *leaks_env;

    /* ---- the shared-type registry (object layer, type.c) ----
     * Held here, owned there: the heap never reads it. */
    struct {
        pthread_mutex_t lock;
        const pm_type **types; /* live shared types, sorted by address */
        size_t len, cap;
    } shared_types;
} pmh_process_state;

PM_HIDDEN extern pmh_process_state pmh_process;

/* Who wants to hear of heaps made and destroyed, and of fork(): the
 * allocation recorder (diag/trace.c) while it traces. Set and cleared
 * under heaps.lock, and called under it: `made` once h works (before
 * pm_heap_new returns), `gone` first thing in pm_heap_destroy (h still
 * whole); `fork_prepare` last in the prepare handler (its locks come
 * after every other: they are leaves), `fork_parent` and `fork_child`
 * first in theirs. */
typedef struct pmh_heap_watch {
    void (*made)(pm_heap *h);
    void (*gone)(pm_heap *h);
    void (*fork_prepare)(void);
    void (*fork_parent)(void);
    void (*fork_child)(void);
} pmh_heap_watch;

/* Which copy of pymm this one is, in a process that may hold two: a
 * program linked with pymm (statically, or with libpymm.so) run under
 * libpymm-malloc.so's LD_PRELOAD, as a shell run by `pymm run` passes it
 * on. Only one copy may act on PYMM_TRACE and PYMM_LEAKS, or both would
 * write the same file (same process id): the one whose pm_* names the
 * dynamic linker hands out first, the preloaded drop-in, unless the
 * program exports its own (-rdynamic): the executable comes first. */
typedef enum pmh_copy {
    PMH_COPY_FIRST,    /* the only copy, or the one the names lead to  */
    PMH_COPY_SHADOWED, /* another copy took this one's names too: the
                          program's calls never reach this one          */
    PMH_COPY_SECOND,   /* another copy is first, but the program's own
                          calls reach this one (a static copy)          */
} pmh_copy;
PM_HIDDEN pmh_copy pmh_process_copy(void);

/* Hold every lock of pmh_process across fork() from now on (registers the
 * pthread_atfork handlers once). Called before a lock is first taken. */
PM_HIDDEN void pmh_process_fork_safe(void);
/* threads.c, for the fork handlers: a thread-safe heap's lock, and the
 * next heap of the registry. */
PM_HIDDEN void pmh_ts_lock(pm_heap *h);
PM_HIDDEN void pmh_ts_unlock(pm_heap *h);
/* In a child of fork(): h's lock made anew (unlocked), and the caches of
 * the threads that fork left behind abandoned, for the child's threads to
 * adopt. */
PM_HIDDEN void pmh_ts_after_fork_child(pm_heap *h);
PM_HIDDEN pm_heap *pmh_ts_next(pm_heap *h);

#endif
