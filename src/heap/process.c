/*
 * process.c -- pmh_process, the one process-wide structure, and the list
 * of every other object of static storage that the library writes.
 *
 * Rule (docs/DESIGN.md, "Process-wide state"): every mutable global lives
 * in a heap, a runtime, or here. .ci/process-state.allow lists the
 * library's writable static symbols, one line each, and the unit test
 * symbols.process_state (.ci/check-process-state) fails when the library
 * has one more.
 *
 * pmh_process is constant-initialized (relocated by the loader), so every
 * field works before main() and before any constructor: the default heap,
 * which a constructor of another library may use first, needs the owner
 * map. Its address is a link-time constant: pmh_map_owner (heap.h), on
 * every free, loads pmh_process.map_slots and .map as plain globals.
 *
 * Fields: what, who writes it, under which lock.
 *   map, map_slots      the owner map (owners.c, M1-M3): its table and
 *                       its number of slots. Both written once, by the
 *                       first pmh_map_set (a heap mapping its first arena)
 *                       under map_lock, map_slots last (release store);
 *                       the table's slots written by pmh_map_set under
 *                       map_lock; read with no lock by every lookup
 *                       (heap.h, pmh_map_owner: plain loads on x86-64).
 *   map_tree, tree_root the owner map's fallback tree (owners.c, M4): the
 *                       flag set once (release) when the first arena
 *                       cannot reserve the table; root entries set once
 *                       each (release) to a leaf, under map_lock; read
 *                       with no lock (acquire).
 *   map_lock            serializes the map's writers.
 *   fork_handlers_once  registers the pthread_atfork handlers that hold
 *                       every lock here across fork() (pthread_once, by
 *                       pmh_process_fork_safe before a lock's first use).
 *   internal_live       live blocks of pmh_internal_* (internal_alloc.c):
 *                       atomic, any thread, no lock (slow paths).
 *   fault               the fault countdown (internal_alloc.c): written by
 *                       pmh_fault_arm/disarm and by ticks while armed, by
 *                       tests on one thread; unarmed, a tick is one relaxed
 *                       load of `armed`. No lock.
 *   ts_heaps            every live thread-safe heap (threads.c): the list,
 *                       the last heap id given, and the pthread key whose
 *                       destructor leaves a thread's caches when it exits
 *                       (made once). Under its lock: pm_heap_new and
 *                       pm_heap_destroy of such a heap, and a thread's
 *                       exit (a cache is retired or abandoned, never both).
 *   heaps               every live heap, the default heap first (heap.c:
 *                       pm_heap_new links, pm_heap_destroy unlinks), and
 *                       the watch that hears of both and of fork (the
 *                       recorder's, diag/trace.c, while it traces). All
 *                       under its lock, the first of the fork order below;
 *                       the watch is called with it held, and takes only
 *                       the recorder's own locks and heaps' locks.
 *   recorder            the allocation recorder of diag/trace.c while it
 *                       traces, else NULL: set and cleared by
 *                       pm_trace_start/stop under heaps.lock, read by the
 *                       recorder's queries (acquire). The heap layer never
 *                       reads it. recorder_starts counts the recorders
 *                       and capture files made (under heaps.lock, or in a
 *                       fork child alone): a thread's stack cache and its
 *                       number in a capture name the one they belong to.
 *                       trace_line_hook/arg: pm_trace_set_line_hook's,
 *                       kept across recordings (atomics: the embedder sets
 *                       them while no other thread allocates).
 *                       object_tracer,
 *                       trace_collection: the recorder's hooks into the
 *                       object layer and the collector, set with
 *                       `recorder` and cleared before it (release; the
 *                       callers load them acquire).
 *   leaks_at_destroy    PYMM_LEAKS's check of a runtime being destroyed
 *   leaks_env           (diag/leakenv.c) and its settings and output so
 *                       far (internal memory): set once by a constructor
 *                       before main, read by pm_runtime_destroy (the hook,
 *                       acquire) and the check at exit, never freed.
 *   shared_types        the object layer's registry of live shared types
 *                       (type.c): written by pm_type_new/pm_type_destroy of
 *                       a PM_TPFLAGS_SHARED type, read by debug mode's
 *                       checks, all under its own `lock`. Its array is
 *                       internal memory (pmh_internal_*).
 *
 * Fork. A child of a multi-threaded process must not inherit a lock held
 * by a thread that is gone: the prepare handler takes every lock here
 * (map_lock, then shared_types.lock: no code holds one while taking the
 * other), and the parent and child handlers release them, as the C
 * library does its own. The order: heaps.lock, ts_heaps.lock, every thread-safe
 * heap's lock (a slow path maps arenas under it: the next one), map_lock,
 * shared_types.lock, and last the recorder's own (through the heaps'
 * watch, while it traces). So a child may map arenas, create shared types
 * and record whenever it forked. The counters need nothing (the countdown is armed
 * by single-threaded tests only).
 *
 * The other statics, not fields here by design:
 *   pmh_default_heap     (heap.c) a heap structure like any other, the one
 *                        that needs no set-up; written by its heap's calls
 *                        like every heap (one thread at a time, or the
 *                        caller's lock).
 *   pmo_default_runtime  (runtime.c) the default runtime, a runtime
 *                        structure on the default heap.
 *   pmo_current_rt       (runtime.c) thread-local: the calling thread's
 *                        current runtime, per-thread state by definition.
 *   pmh_tl, pmh_tl_default (threads.c), tr_self (diag/trace.c),
 *   cap_thread_no (diag/capture.c)
 *                        thread-local: a thread's caches of the thread-safe
 *                        heaps; whether it is inside the recorder, its
 *                        stack top and stack cache; its
 *                        number in a capture stream.
 *   immortal objects     built-in types (pm_*_type, pmo_freed_type and
 *                        the weakref module's private types) and static
 *                        objects (None, True/False, small ints, the empty
 *                        and one-character strs, empty bytes and tuple, the
 *                        set's dummy key): writable sections only because
 *                        they hold relocated pointers and the API hands
 *                        them out as non-const. Nothing writes them at run
 *                        time (object.h O2, str.c S2, bytes.c B3, weakref.c
 *                        W2; tests/test_obj_static_immortal.c checks).
 */
#define _GNU_SOURCE /* dladdr */
#include "heap/process.h"
#include "heap/heap.h" /* pmh_default_heap, first of the thread-safe heaps */

#include <dlfcn.h>

pmh_process_state pmh_process = {
    .map_lock = PTHREAD_MUTEX_INITIALIZER,
    .fork_handlers_once = PTHREAD_ONCE_INIT,
    .ts_heaps = {.lock = PTHREAD_MUTEX_INITIALIZER,
                 .key_once = PTHREAD_ONCE_INIT,
                 .first = &pmh_default_heap,
                 .last_id = PMH_DEFAULT_HEAP_ID},
    .heaps = {.lock = PTHREAD_MUTEX_INITIALIZER, .first = &pmh_default_heap},
    .shared_types = {.lock = PTHREAD_MUTEX_INITIALIZER},
};

static void lock_all(void) {
    pthread_mutex_lock(&pmh_process.heaps.lock);
    pthread_mutex_lock(&pmh_process.ts_heaps.lock);
    for (pm_heap *h = pmh_process.ts_heaps.first; h; h = pmh_ts_next(h)) pmh_ts_lock(h);
    pthread_mutex_lock(&pmh_process.map_lock);
    pthread_mutex_lock(&pmh_process.shared_types.lock);
    if (pmh_process.heaps.watch) pmh_process.heaps.watch->fork_prepare();
}

static void unlock_all(void) {
    if (pmh_process.heaps.watch) pmh_process.heaps.watch->fork_parent();
    pthread_mutex_unlock(&pmh_process.shared_types.lock);
    pthread_mutex_unlock(&pmh_process.map_lock);
    for (pm_heap *h = pmh_process.ts_heaps.first; h; h = pmh_ts_next(h)) pmh_ts_unlock(h);
    pthread_mutex_unlock(&pmh_process.ts_heaps.lock);
    pthread_mutex_unlock(&pmh_process.heaps.lock);
}

/* The child: a recursive mutex names its owner by thread id, which fork
 * changed, so the heaps' locks are made anew instead of unlocked; and the
 * caches of the threads that did not follow are left for adoption. */
static void unlock_all_in_child(void) {
    if (pmh_process.heaps.watch) pmh_process.heaps.watch->fork_child();
    pthread_mutex_unlock(&pmh_process.shared_types.lock);
    pthread_mutex_unlock(&pmh_process.map_lock);
    for (pm_heap *h = pmh_process.ts_heaps.first; h; h = pmh_ts_next(h)) pmh_ts_after_fork_child(h);
    pthread_mutex_unlock(&pmh_process.ts_heaps.lock);
    pthread_mutex_unlock(&pmh_process.heaps.lock);
}

static void register_fork_handlers(void) {
    pthread_atfork(lock_all, unlock_all, unlock_all_in_child);
}

void pmh_process_fork_safe(void) {
    pthread_once(&pmh_process.fork_handlers_once, register_fork_handlers);
}

/* The loaded object that holds address p, or NULL. */
static const void *object_of(const void *p) {
    Dl_info info;
    return dladdr(p, &info) ? info.dli_fbase : NULL;
}

pmh_copy pmh_process_copy(void) {
    const void *mine = object_of(&pmh_process);
    /* The name as the dynamic linker resolves it for everyone: NULL when
     * no loaded object exports it (a static copy alone). */
    const void *first = dlsym(RTLD_DEFAULT, "pm_heap_default");
    if (mine == NULL || first == NULL || object_of(first) == mine) return PMH_COPY_FIRST;
    /* This copy's own reference to the name: through its GOT in a shared
     * library (where the first copy's definition wins), direct in an
     * executable. */
    const void *own = (const void *)(uintptr_t)&pm_heap_default;
    return object_of(own) == mine ? PMH_COPY_SECOND : PMH_COPY_SHADOWED;
}
