/*
 * threads.c -- the thread-safe heap: a cache per thread, frees that cross
 * threads, and what a thread leaves behind when it exits.
 *
 * Owns: the thread's binding (pmh_tl), the caches of thread-safe heaps
 * (made, bound, abandoned, adopted, retired, freed), the remote free and
 * its collection, the registry of thread-safe heaps that fork() locks.
 * The design, with its reasons: docs/DESIGN.md, "Threads".
 *
 * A thread-safe heap's pools each belong to one cache (T2, heap.h), and a
 * cache to at most one live thread. The owner pops and pushes as on a
 * private heap; another thread's free goes on the pool's xfree stack, and
 * the pool on its owner's remote stack:
 *
 *   T1  a pool whose xfree is not empty is on its owner's remote stack,
 *       or the free that made xfree non-empty is about to push it there;
 *       the owner empties xfree only for pools it took off that stack,
 *       after reading their link. So pool->owner, read by that free, is
 *       still the pool's owner when it pushes (a pool with a block on
 *       xfree has nused > 0 and cannot change hands).
 *   T3  a cache is bound to one live thread (on that thread's list,
 *       pmh_tl.bound), or abandoned (its thread exited: on no list), or
 *       retired (its heap was destroyed while its thread lived: freed by
 *       that thread at its exit). Only a cache no thread can name is
 *       freed, so the thread-local pointer pmh_tl.cache never names freed
 *       memory that a new cache could reuse (the free path compares
 *       pool->owner with it, and must not be fooled by an address).
 * Both stacks are pushed with compare-and-swap by any thread and emptied
 * whole with one exchange by the owner: no pop of a single entry, so no
 * ABA problem.
 */
#define _GNU_SOURCE
#include "heap/heap.h"
#include "heap/internal_alloc.h"

#include <pthread.h>

/* The calling thread's view of the thread-safe heaps. heap_id/cache: the
 * heap it used last and its cache there (the fast paths' one compare);
 * bound: every cache bound to the thread (T3); exited: the thread's key
 * destructor has run (it is in its last moments). initial-exec: one load
 * from the thread pointer, as pmo_current_rt. */
typedef struct pmh_thread_binding {
    uint64_t heap_id;
    pmh_cache *cache;
    pmh_cache *bound;
    bool exited;
} pmh_thread_binding;

static _Thread_local pmh_thread_binding pmh_tl __attribute__((tls_model("initial-exec")));

/* The default heap's cache of the calling thread, or the stand-in `unbound`
 * until it has one: a cache with no pool, so that the default heap's fast
 * paths need no test (a malloc finds no pool and the slow path binds the
 * thread; a free finds no pool that `unbound` owns and goes the remote
 * way). `unbound` is never written. */
static pmh_cache unbound = {.heap = &pmh_default_heap, .unbound = true};
static _Thread_local pmh_cache *pmh_tl_default __attribute__((tls_model("initial-exec"))) =
    &unbound;

/* ---- the remote free and its collection -------------------------------- */

static void push_pool_remote(pmh_cache *c, pmh_pool *pool) {
    pmh_pool *top = atomic_load_explicit(&c->remote, memory_order_relaxed);
    do {
        pool->remote_next = top;
    } while (!atomic_compare_exchange_weak_explicit(&c->remote, &top, pool, memory_order_acq_rel,
                                                    memory_order_relaxed));
}

/* Block p of pool, which a cache other than the one the fast path tried
 * owns. A cache bound to the calling thread (of another heap than the one
 * it used last: pmh_ts_free_ctx tries that one) takes it back as its own;
 * any other's goes onto xfree, and the pool onto its owner's remote stack
 * when xfree was empty (T1). acq_rel: the link written here is seen by
 * the owner's exchange, and the owner's read of remote_next happens before
 * this push writes it again. */
PM_NOINLINE void pmh_free_remote(pmh_pool *pool, void *p) {
    for (pmh_cache *c = pmh_tl.bound; c; c = c->bound_next) {
        if (c == pool->owner) {
            pmh_pool_push(c->heap, pool, p);
            return;
        }
    }
    pmh_block *b = p;
    pmh_block_taken_back(b, pool->size);
    pmh_block *head = atomic_load_explicit(&pool->xfree, memory_order_relaxed);
    do {
        blk_set_next(b, head);
    } while (!atomic_compare_exchange_weak_explicit(&pool->xfree, &head, b, memory_order_acq_rel,
                                                    memory_order_relaxed));
    if (head == NULL) push_pool_remote(pool->owner, pool);
}

uint32_t pmh_pool_splice(pmh_pool *pool, pmh_block *b) {
    uint32_t n = 1;
    pmh_block *tail = b;
    for (pmh_block *x; (x = blk_next(tail)) != NULL; tail = x) n++;
    blk_set_next(tail, pool->freeblock);
    pool->freeblock = b;
    return n;
}

/* The blocks b.. (a list others freed) rejoin pool's free list, and
 * leave its count of live blocks. */
static void pool_take_back(pm_heap *h, pmh_pool *pool, pmh_block *b) {
    bool was_full = pool->freeblock == NULL;
    uint32_t n = pmh_pool_splice(pool, b);
    PM_ASSERT(pool->nused >= n); /* they were counted live until now */
    pool->nused -= n;
    pmh_pool_settle(h, pool, was_full);
}

void pmh_cache_collect(pm_heap *h, pmh_cache *c) {
    pmh_pool *pool = atomic_exchange_explicit(&c->remote, NULL, memory_order_acq_rel);
    while (pool) {
        PM_ASSERT(pool->owner == c);
        pmh_pool *next = pool->remote_next; /* before xfree empties: T1 */
        pmh_block *b = atomic_exchange_explicit(&pool->xfree, NULL, memory_order_acq_rel);
        PM_ASSERT(b != NULL);
        pool_take_back(h, pool, b);
        pool = next;
    }
}

/* ---- binding a thread to its cache ------------------------------------- */

static void thread_exit(void *bound);

static void make_key(void) {
    pmh_process.ts_heaps.key_made = pthread_key_create(&pmh_process.ts_heaps.key, thread_exit) == 0;
}

/* The calling thread's cache of h among those bound to it, or NULL. */
static pmh_cache *bound_cache(const pm_heap *h) {
    for (pmh_cache *c = pmh_tl.bound; c; c = c->bound_next)
        if (c->heap_id == h->id) return c;
    return NULL;
}

/* A new cache of h on h->caches, or NULL when out of memory. */
static pmh_cache *new_cache(pm_heap *h, bool for_runtime) {
    pmh_cache *c = pmh_internal_calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->heap = h;
    c->heap_id = h->id;
    c->for_runtime = for_runtime;
    atomic_init(&c->remote, NULL);
    pmh_lock(h);
    c->next = h->caches;
    h->caches = c;
    pmh_unlock(h);
    return c;
}

/* An abandoned cache of h, adopted with what other threads freed into it,
 * or a new one, for a thread; NULL when out of memory. A runtime's cache
 * left with live objects may be adopted here: a thread's pools may hold
 * anything. */
static pmh_cache *take_cache(pm_heap *h) {
    pmh_lock(h);
    pmh_cache *c = h->caches;
    while (c && !c->abandoned) c = c->next;
    if (c) {
        c->abandoned = false;
        c->for_runtime = false; /* under the lock: fork's child reads it */
    }
    pmh_unlock(h);
    if (c) {
        pmh_cache_collect(h, c);
        return c;
    }
    return new_cache(h, false);
}

/* Leave c (its user is done with it): what others freed comes back, empty
 * pools go to their arenas, and c waits for adoption. */
static void abandon(pm_heap *h, pmh_cache *c) {
    pmh_lock(h);
    pmh_cache_collect(h, c);
    pmh_unpark_pools(h, c);
    c->abandoned = true;
    pmh_unlock(h);
}

/* Never an adopted cache: its pools may hold blocks that are not objects,
 * or objects of a runtime that is gone, whose types may be freed (O1). */
pmh_cache *pmh_cache_for_runtime(pm_heap *h) { return new_cache(h, true); }

static int owned_by(const pm_heap *h, const pmh_arena *a, pmh_pool *pool, void *c) {
    (void)h, (void)a;
    return pool->owner == c;
}

/* A runtime's cache with no pool left (its objects all died) is freed at
 * once, so that making and destroying runtimes in a loop keeps no caches;
 * one whose objects outlive it waits, abandoned, for a thread to adopt
 * it. Its large objects leave it either way (pmh_large_disown). No thread can name it (T3: it was bound to none) and no pool names
 * it as owner, so no free can reach it. */
void pmh_cache_leave(pm_heap *h, pmh_cache *c) {
    PM_ASSERT(c != &h->main && c->for_runtime);
    pmh_lock(h);
    pmh_cache_collect(h, c);
    pmh_unpark_pools(h, c);
    pmh_large_disown(h, c);
    if (pmh_for_each_pool(h, owned_by, c) == 0) {
        pmh_cache **link = &h->caches;
        while (*link != c) link = &(*link)->next;
        *link = c->next;
        pmh_unlock(h);
        pmh_internal_free(c);
        return;
    }
    c->abandoned = true;
    pmh_unlock(h);
}

/* Free the calling thread's retired caches (their heaps were destroyed
 * while it lived), which it alone can name (T3): a thread that outlives
 * many heaps keeps neither their caches nor a longer list to search. No
 * lock: the debug hooks may hold a heap's lock here, and the process lock
 * comes before heap locks; once `retired` reads true, nothing but this
 * thread touches the cache. */
static void free_my_retired_caches(void) {
    for (pmh_cache **b = &pmh_tl.bound; *b;) {
        pmh_cache *c = *b;
        if (!atomic_load_explicit(&c->retired, memory_order_acquire)) {
            b = &c->bound_next;
            continue;
        }
        *b = c->bound_next;
        if (pmh_tl.cache == c) pmh_tl.heap_id = 0, pmh_tl.cache = NULL;
        pmh_internal_free(c);
    }
    /* The key names the list's head, for the thread's exit; its slot
     * exists already (the list was not empty), so this cannot fail. */
    if (pmh_process.ts_heaps.key_made) pthread_setspecific(pmh_process.ts_heaps.key, pmh_tl.bound);
}

/* A cache of h on the thread's list: adopted or new. */
static pmh_cache *attach_cache(pm_heap *h) {
    pthread_once(&pmh_process.ts_heaps.key_once, make_key);
    if (!pmh_process.ts_heaps.key_made) return NULL;
    free_my_retired_caches();
    pmh_cache *c = take_cache(h);
    if (c == NULL) return NULL;
    c->bound_next = pmh_tl.bound;
    if (pthread_setspecific(pmh_process.ts_heaps.key, c) != 0) {
        pmh_lock(h);
        c->abandoned = true; /* the next thread may have it */
        pmh_unlock(h);
        return NULL;
    }
    pmh_tl.bound = c;
    return c;
}

pmh_cache *pmh_ts_cache(pm_heap *h) {
    PM_ASSERT(h->threadsafe);
    if (pmh_tl.heap_id == h->id) return pmh_tl.cache;
    pmh_cache *c = bound_cache(h);
    if (c == NULL && (c = attach_cache(h)) == NULL) return NULL;
    pmh_tl.heap_id = h->id;
    pmh_tl.cache = c;
    if (h == &pmh_default_heap) pmh_tl_default = c;
    return c;
}

pmh_cache *pmh_ts_bound_cache(const pm_heap *h) { return bound_cache(h); }

bool pmh_ts_alone(const pm_heap *h) {
    const pmh_cache *mine = bound_cache(h);
    for (const pmh_cache *c = h->caches; c; c = c->next)
        if (c != mine && !c->abandoned) return false;
    return true;
}

/* ---- a thread's exit ----------------------------------------------------- */

/* The key's destructor: every cache bound to the thread is left. What
 * other threads freed comes back, pools with no live block go back to
 * their arenas, and the cache waits, abandoned, for a thread to adopt it
 * (its live pools with it). A retired cache (its heap is gone) is freed. */
static void thread_exit(void *bound) {
    /* First: from here on no path of this thread (a free's search of its
     * own caches, pmh_free_remote) may name a cache it is letting go. */
    pmh_tl = (pmh_thread_binding){0, NULL, NULL, true};
    pmh_tl_default = &unbound;
    pthread_mutex_lock(&pmh_process.ts_heaps.lock);
    for (pmh_cache *c = bound, *next; c; c = next) {
        next = c->bound_next;
        c->bound_next = NULL;
        if (atomic_load_explicit(&c->retired, memory_order_acquire)) {
            pmh_internal_free(c);
            continue;
        }
        abandon(c->heap, c);
    }
    pthread_mutex_unlock(&pmh_process.ts_heaps.lock);
}

/* ---- the heap's side ------------------------------------------------------ */

static int lock_init(pm_heap *h) {
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr) != 0) return -1;
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    int r = pthread_mutex_init(&h->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    return r == 0 ? 0 : -1;
}

/* The default heap is thread-safe from the start (heap.c): its lock must
 * be held across fork() before any thread may take it. */
__attribute__((constructor(101))) static void ts_at_load(void) { pmh_process_fork_safe(); }

int pmh_ts_init(pm_heap *h) {
    pthread_once(&pmh_process.ts_heaps.key_once, make_key);
    if (!pmh_process.ts_heaps.key_made || lock_init(h) != 0) return -1;
    pmh_process_fork_safe();
    pthread_mutex_lock(&pmh_process.ts_heaps.lock);
    h->id = ++pmh_process.ts_heaps.last_id;
    h->ts_next = pmh_process.ts_heaps.first;
    pmh_process.ts_heaps.first = h;
    pthread_mutex_unlock(&pmh_process.ts_heaps.lock);
    h->threadsafe = true;
    pmh_update_special(h);
    return 0;
}

/* Unregister h and let go of its caches (T3): the calling thread's and the
 * abandoned ones are freed, those of other live threads retired. */
void pmh_ts_destroy(pm_heap *h) {
    if (!h->threadsafe) return;
    pthread_mutex_lock(&pmh_process.ts_heaps.lock);
    /* Blocks still on xfree stacks become free blocks again: the caller
     * walks the pools next (valgrind's records). Under both locks: a thread
     * that used h may be leaving its cache right now (thread_exit). */
    pmh_lock(h);
    for (pmh_cache *c = &h->main; c; c = pmh_next_cache(h, c)) pmh_cache_collect(h, c);
    pmh_unlock(h);
    pm_heap **link = &pmh_process.ts_heaps.first;
    while (*link != h) link = &(*link)->ts_next;
    *link = h->ts_next;
    for (pmh_cache **b = &pmh_tl.bound; *b;) {
        pmh_cache *c = *b;
        if (c->heap_id != h->id) {
            b = &c->bound_next;
            continue;
        }
        *b = c->bound_next; /* the caller's own: no thread names it now */
        c->abandoned = true;
    }
    if (pmh_tl.heap_id == h->id) pmh_tl.heap_id = 0, pmh_tl.cache = NULL;
    pthread_setspecific(pmh_process.ts_heaps.key, pmh_tl.bound);
    for (pmh_cache *c = h->caches, *next; c; c = next) {
        next = c->next;
        if (c->abandoned) pmh_internal_free(c);
        else
            atomic_store_explicit(&c->retired, true,
                                  memory_order_release); /* its thread frees it */
    }
    pthread_mutex_unlock(&pmh_process.ts_heaps.lock);
    pthread_mutex_destroy(&h->lock);
    h->caches = NULL;
    h->threadsafe = false;
}

void pmh_ts_lock(pm_heap *h) { pthread_mutex_lock(&h->lock); }
void pmh_ts_unlock(pm_heap *h) { pthread_mutex_unlock(&h->lock); }
static bool bound_to_me(const pmh_cache *c) {
    for (const pmh_cache *b = pmh_tl.bound; b; b = b->bound_next)
        if (b == c) return true;
    return false;
}

/* Only the forking thread lives on in the child: every cache bound to
 * another thread is rebuilt (its thread may have been cut in the middle
 * of a pop, a push, a relink or a remote free: heap.c,
 * pmh_rebuild_cut_caches) and abandoned, so that what the child frees into
 * its pools is collected by whichever thread adopts it (or by trim),
 * instead of waiting on a remote stack no thread will empty. Runtimes'
 * caches stay as they are: the child may go on with its runtimes. The
 * rebuild reads every committed pool header of h once; a child of a
 * process with no other thread bound to h pays nothing. */
void pmh_ts_after_fork_child(pm_heap *h) {
    (void)lock_init(h);
    bool any = false;
    for (pmh_cache *c = h->caches; c; c = c->next) {
        c->cut = !c->abandoned && !c->for_runtime && !bound_to_me(c);
        any |= c->cut;
    }
    if (!any) return;
    pmh_rebuild_cut_caches(h);
    for (pmh_cache *c = h->caches; c; c = c->next) {
        if (c->cut) c->abandoned = true;
        c->cut = false;
    }
}
pm_heap *pmh_ts_next(pm_heap *h) { return h->ts_next; }

/* ---- the pool allocator of a thread-safe heap ---------------------------- */

/* A malloc after the thread's key destructor ran (another destructor that
 * allocates later in the thread's exit): a cache bound now could outlive
 * the thread without being left, since the C library runs destructors only
 * a bounded number of rounds. So each such call borrows a cache (adopted
 * or new) and leaves it abandoned again. Slow, and only at a thread's end. */
static void *malloc_while_exiting(pm_heap *h, size_t n) {
    pmh_cache *c = take_cache(h);
    if (c == NULL) return NULL;
    void *p = pmh_cache_malloc(h, c, n);
    abandon(h, c);
    return p;
}

PM_NOINLINE void *pmh_ts_malloc_unbound(pm_heap *h, size_t n) {
    if (pm_unlikely(pmh_tl.exited)) return malloc_while_exiting(h, n);
    pmh_cache *c = pmh_ts_cache(h);
    return c ? pmh_cache_malloc(h, c, n) : NULL;
}

void *pmh_ts_malloc_ctx(void *ctx, size_t n) {
    pm_heap *h = ctx;
    if (pm_likely(pmh_tl.heap_id == h->id)) return pmh_cache_malloc(h, pmh_tl.cache, n);
    return pmh_ts_malloc_unbound(h, n);
}

/* The cache of the heap the thread used last: a pool it owns is one of
 * the thread's; any other goes the remote way (heap.h, pmh_cache_free). */
void pmh_ts_free_ctx(void *ctx, void *p) { pmh_cache_free(ctx, pmh_tl.cache, p); }

/* ctx is the default heap (its table's): already in a register, where
 * &pmh_default_heap would cost an instruction to make. */
void *pmh_default_malloc_ctx(void *ctx, size_t n) {
    PM_ASSERT(ctx == &pmh_default_heap);
    return pmh_cache_malloc(ctx, pmh_tl_default, n);
}

void pmh_default_free_ctx(void *ctx, void *p) {
    PM_ASSERT(ctx == &pmh_default_heap);
    pmh_cache_free(ctx, pmh_tl_default, p);
}
