/*
 * stats.c -- looking at a heap: statistics, the walk and the check.
 *
 * Owns: pm_heap_get_stats and its text and JSON forms, pm_heap_walk,
 * pm_heap_check, and the PYMM_STATS report at exit.
 *
 * Nothing here costs the fast paths anything: every figure is derived on
 * demand from the structures (pool->nused, arena counts, the large table),
 * so the allocator keeps no counters of its own beyond what it needs.
 */
#define _DEFAULT_SOURCE
#include "heap/heap.h"
#include "heap/os.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- iteration over arenas and pools ----------------------------------- */

/* A pool's count of live blocks. On a thread-safe heap its owner writes it
 * with no lock (the fast paths), and pm_heap_get_stats may read it beside
 * that owner (pymm.h): a race on one aligned 32-bit word, which the
 * hardware reads whole, so the figure is a snapshot of some moment, as
 * documented; nothing else is read that the owner writes (a pool's class
 * changes only under the heap's lock, which the readers hold). Atomic
 * writes would cost each fast path two instructions (their budget:
 * docs/DESIGN.md, "Threads"), so ThreadSanitizer is told here, and only
 * here, that the race is known. */
PM_NO_TSAN static uint32_t live_blocks(const pmh_pool *pool) {
    return *(const volatile uint32_t *)&pool->nused;
}

typedef int (*used_pool_fn)(const pm_heap *h, const pmh_arena *a, const pmh_pool *pool, void *arg);

typedef struct used_visit {
    used_pool_fn fn;
    void *arg;
} used_visit;

static int visit_if_used(const pm_heap *h, const pmh_arena *a, pmh_pool *pool, void *arg) {
    const used_visit *v = arg;
    return live_blocks(pool) > 0 ? v->fn(h, a, pool, v->arg) : 0;
}

/* Visit every pool with at least one live block. */
static int for_each_used_pool(const pm_heap *h, used_pool_fn fn, void *arg) {
    used_visit v = {fn, arg};
    return pmh_for_each_pool(h, visit_if_used, &v);
}

static size_t pool_capacity(const pm_heap *h, const pmh_pool *pool) {
    return pmh_pool_capacity(h, pool, pool->size);
}

/* ---- statistics --------------------------------------------------------- */

/* Class k's entry: small classes in classes[], medium ones in medium[]. */
static pm_class_stats *class_entry(pm_heap_stats *s, unsigned k) {
    return k < PM_NUM_CLASSES ? &s->classes[k] : &s->medium[k - PM_NUM_CLASSES];
}

static int add_pool_stats(const pm_heap *h, const pmh_arena *a, const pmh_pool *pool, void *arg) {
    (void)a;
    pm_heap_stats *s = arg;
    size_t size = pool->size, cap = pool_capacity(h, pool), used = live_blocks(pool);
    pm_class_stats *c = class_entry(s, pool->szidx);
    c->pools++;
    c->blocks_used += used;
    c->blocks_free += cap - used;
    s->pools_used++;
    s->bytes_in_use += (uint64_t)used * size;
    s->bytes_free += (uint64_t)(cap - used) * size;
    s->bytes_headers += PMH_POOL_HEADER;
    /* The slot's bytes before the header (P1) count as slack. */
    s->bytes_slack += h->pool_size - PMH_POOL_HEADER - cap * size;
    return 0;
}

static void heap_stats(const pm_heap *h, pm_heap_stats *s);

size_t pm_heap_get_stats_sized(const pm_heap *h, pm_heap_stats *out, size_t size) {
    pm_heap_stats s;
    pmh_lock((pm_heap *)h);         /* what other threads' caches hold: a snapshot */
    pmh_classes_init((pm_heap *)h); /* the default heap's, if still to make */
    heap_stats(h, &s);
    pmh_unlock((pm_heap *)h);
    return pmh_struct_write(out, size, &s, sizeof s);
}

static void heap_stats(const pm_heap *h, pm_heap_stats *s) {
    memset(s, 0, sizeof *s);
    s->arena_size = h->arena_size;
    s->pool_size = h->pool_size;
    for (unsigned c = 0; c < h->nclasses; c++) class_entry(s, c)->block_size = h->class_size[c];
    s->medium_classes = h->nclasses - PM_NUM_CLASSES;
    s->pool_block_max = atomic_load_explicit(&h->block_max, memory_order_relaxed);
    s->arenas = h->narenas;
    s->arenas_peak = h->narenas_peak;
    s->arenas_allocated = h->arenas_allocated;
    s->arenas_reclaimed = h->arenas_reclaimed;
    s->arenas_huge = h->narenas_huge;
    for (uint32_t k = 0; h->buckets && k <= h->pools_per_arena; k++) {
        for (const pmh_arena *a = h->buckets[k]; a; a = a->next) {
            s->pools_empty += a->nempty;
            s->pools_decommitted += a->ndecommitted;
            s->pools_untouched += a->npools - a->nfresh;
            s->bytes_headers += sizeof *a + a->npools * sizeof(uint32_t);
        }
    }
    for_each_used_pool(h, add_pool_stats, s);
    s->pages_decommitted = h->pages_decommitted;
    s->bytes_returned = h->bytes_returned;
    s->large_blocks = h->large.count;
    s->large_bytes = h->large.bytes;
    pmh_debug_stats(h, &s->bytes_rounding, &s->debug_bytes);
}

void pm_heap_print_stats(const pm_heap *h, FILE *f) {
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    fprintf(f, "pymm heap %p: %zu KiB arenas, %zu KiB pools\n", (const void *)h, s.arena_size >> 10,
            s.pool_size >> 10);
    fprintf(f, "class   size   pools    blocks in use     avail blocks\n");
    fprintf(f, "-----   ----   -----    -------------     ------------\n");
    for (unsigned c = 0; c < PM_NUM_CLASSES + s.medium_classes; c++) {
        const pm_class_stats *k = class_entry(&s, c);
        if (k->pools == 0) continue;
        fprintf(f, "%5u %6" PRIu32 " %7" PRIu64 " %16" PRIu64 " %16" PRIu64 "\n", c, k->block_size,
                k->pools, k->blocks_used, k->blocks_free);
    }
    fprintf(f, "\n");
#define ROW(label, v) fprintf(f, "%-38s = %15" PRIu64 "\n", label, (uint64_t)(v))
    ROW("# arenas now", s.arenas);
    ROW("# arenas peak", s.arenas_peak);
    ROW("# arenas allocated total", s.arenas_allocated);
    ROW("# arenas reclaimed", s.arenas_reclaimed);
    ROW("# arenas asking for huge pages", s.arenas_huge);
    ROW("# pools in use", s.pools_used);
    ROW("# empty pools committed", s.pools_empty);
    ROW("# empty pools decommitted", s.pools_decommitted);
    ROW("# pools never touched", s.pools_untouched);
    ROW("# free pages decommitted in used pools", s.pages_decommitted);
    ROW("bytes in allocated blocks", s.bytes_in_use);
    ROW("bytes in available blocks", s.bytes_free);
    ROW("bytes lost to pool and arena headers", s.bytes_headers);
    ROW("bytes lost to pool slack", s.bytes_slack);
    ROW("bytes lost to rounding (debug mode)", s.bytes_rounding);
    ROW("bytes returned to the OS (total)", s.bytes_returned);
    ROW("# large blocks", s.large_blocks);
    ROW("bytes in large blocks", s.large_bytes);
    ROW("bytes of debug headers and quarantine", s.debug_bytes);
    ROW("largest request served from pools", s.pool_block_max);
#undef ROW
}

void pm_heap_print_stats_json(const pm_heap *h, FILE *f) {
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
#define FIELD(name) fprintf(f, "\"" #name "\": %" PRIu64 ", ", (uint64_t)s.name)
    fprintf(f, "{");
    FIELD(arena_size);
    FIELD(pool_size);
    FIELD(arenas);
    FIELD(arenas_peak);
    FIELD(arenas_allocated);
    FIELD(arenas_reclaimed);
    FIELD(arenas_huge);
    FIELD(pools_used);
    FIELD(pools_empty);
    FIELD(pools_decommitted);
    FIELD(pools_untouched);
    FIELD(pages_decommitted);
    FIELD(bytes_in_use);
    FIELD(bytes_free);
    FIELD(bytes_headers);
    FIELD(bytes_slack);
    FIELD(bytes_rounding);
    FIELD(bytes_returned);
    FIELD(large_blocks);
    FIELD(large_bytes);
    FIELD(debug_bytes);
    FIELD(pool_block_max);
#undef FIELD
    fprintf(f, "\"classes\": [");
    const char *sep = "";
    for (unsigned c = 0; c < PM_NUM_CLASSES + s.medium_classes; c++) {
        const pm_class_stats *k = class_entry(&s, c);
        fprintf(f,
                "%s{\"size\": %" PRIu32 ", \"pools\": %" PRIu64 ", \"used\": %" PRIu64
                ", \"free\": %" PRIu64 "}",
                sep, k->block_size, k->pools, k->blocks_used, k->blocks_free);
        sep = ", ";
    }
    fprintf(f, "]}\n");
}

/* ---- walk --------------------------------------------------------------- */

typedef struct walk_state {
    pm_walk_fn fn;
    void *arg;
} walk_state;

static int walk_pool(const pm_heap *h, const pmh_arena *a, const pmh_pool *pool, void *arg) {
    (void)a;
    walk_state *w = arg;
    uint8_t is_free[PMH_MAX_BLOCKS];
    const char *why;
    size_t n = pmh_pool_free_map(h, pool, is_free, &why);
    if (n == SIZE_MAX) return 0;
    size_t size = pool->size;
    for (size_t i = 0; i < n; i++) {
        if (is_free[i]) continue;
        int r = w->fn(w->arg, (char *)pool + PMH_POOL_HEADER + i * size, size, 0);
        if (r) return r;
    }
    return 0;
}

#ifdef PM_VALGRIND
static int forget_block(void *arg, void *block, size_t size, int is_large) {
    (void)arg, (void)size, (void)is_large;
    pm_vg_freelike(block);
    return 0;
}

/* The heap is going away with these blocks live: memcheck must forget them
 * before their arenas are unmapped (and perhaps mapped again). */
void pmh_vg_forget_pool_blocks(const pm_heap *h) {
    walk_state w = {forget_block, NULL};
    for_each_used_pool(h, walk_pool, &w);
}
#endif

int pm_heap_walk(const pm_heap *h, pm_walk_fn fn, void *arg) {
    pmh_lock((pm_heap *)h);
    int r;
    if (h->debug) {
        r = pmh_debug_walk(h, fn, arg);
    } else {
        walk_state w = {fn, arg};
        r = for_each_used_pool(h, walk_pool, &w);
        if (r == 0) r = pmh_large_walk(h, fn, arg);
    }
    pmh_unlock((pm_heap *)h);
    return r;
}

/* ---- check -------------------------------------------------------------- */

typedef struct check_state {
    char *buf;
    size_t buflen;
    uint64_t nonfull_pools;
} check_state;

static int fail(check_state *c, const char *fmt, ...) {
    if (c->buf && c->buflen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->buf, c->buflen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int check_pool(const pm_heap *h, const pmh_arena *a, const pmh_pool *pool, void *arg) {
    check_state *c = arg;
    const void *p = pool;
    if (pool->arena != a) return fail(c, "pool %p: header names the wrong arena", p);
    if (a->huge && pool->purged)
        return fail(c, "pool %p: pages given back in an arena that asks for huge pages", p);
    if (pool->szidx >= h->nclasses || pool->size != h->class_size[pool->szidx])
        return fail(c, "pool %p: bad size class %u (block size %u)", p, pool->szidx, pool->size);
    size_t size = pool->size;
    if (pool->szidx >= PM_NUM_CLASSES && pmh_pool_capacity(h, pool, size) < PMH_MEDIUM_MIN_BLOCKS)
        return fail(c, "pool %p: %zu-byte blocks, too few to a pool (C3)", p, size);
    if (pool->purged && size > PMOS_PAGE_SIZE)
        return fail(c, "pool %p: pages purged under %zu-byte blocks (trim.c)", p, size);
    if (pmh_pool_of(h, pool) != pool)
        return fail(c, "pool %p: header not where its slot's colour puts it (P1)", p);
    size_t room = h->pool_size - pmh_pool_colour(pool);
    if (pool->nextoffset < PMH_POOL_HEADER + size || pool->nextoffset > room ||
        pool->maxnextoffset != room - size)
        return fail(c, "pool %p: carving offsets out of range", p);
    uint8_t is_free[PMH_MAX_BLOCKS];
    const char *why = "";
    size_t n = pmh_pool_free_map(h, pool, is_free, &why);
    if (n == SIZE_MAX) return fail(c, "pool %p (class %zu): %s", p, size, why);
    size_t nfree = 0;
    for (size_t i = 0; i < n; i++) nfree += is_free[i];
    if (pool->nused + nfree != n)
        return fail(c, "pool %p: %u used + %zu free != %zu carved blocks", p, pool->nused, nfree,
                    n);
    bool full = pool->freeblock == NULL;
    if (full && (pool->nextoffset <= pool->maxnextoffset || pool->purged))
        return fail(c, "pool %p: empty free list although blocks remain", p);
    if (!full) c->nonfull_pools++;
    const pmh_cache *owner = &h->main;
    while (owner && owner != pool->owner) owner = pmh_next_cache(h, owner);
    if (owner == NULL) return fail(c, "pool %p: in use without an owner cache of the heap", p);
    bool listed = false;
    for (const pmh_pool *q = pool->owner->used[pool->szidx]; q; q = q->next)
        if (q == pool) listed = true;
    if (listed == full)
        return fail(c, "pool %p: used-list membership disagrees with its free list", p);
    return 0;
}

static int check_arena(const pm_heap *h, const pmh_arena *a, uint32_t bucket, check_state *c) {
    const void *ap = (const void *)a->base;
    if (a->nfree != bucket)
        return fail(c, "arena %p: in bucket %u with %u free pools", ap, bucket, a->nfree);
    if (!pmh_arena_owns(h, a->base) || !pmh_arena_owns(h, a->base + h->arena_size - 1))
        return fail(c, "arena %p: not all of it is the heap's in the owner map", ap);
    if (a->nfresh > a->npools || a->ndecommitted > a->nfresh)
        return fail(c, "arena %p: pool counts out of range", ap);
    if (a->nfree != a->npools - a->nfresh + a->nempty + a->ndecommitted)
        return fail(c, "arena %p: nfree %u disagrees with its pool lists", ap, a->nfree);
    uint32_t n = 0;
    for (const pmh_pool *pool = a->empty; pool; pool = pool->next, n++) {
        if (pool->nused != 0 || pool->arena != a || pool->owner != NULL)
            return fail(c, "arena %p: bad empty pool %p", ap, (const void *)pool);
        if (n > a->npools) return fail(c, "arena %p: empty pool list has a cycle", ap);
    }
    if (n != a->nempty)
        return fail(c, "arena %p: %u empty pools listed, %u counted", ap, n, a->nempty);
    return 0;
}

/* C1 and C2 (classes.c): the class table increases in steps of 16 at
 * least, the lookup names the smallest class that fits. */
static int check_classes(const pm_heap *h, check_state *c) {
    if (h->nclasses == 0) return 0; /* the default heap before its first pool */
    for (unsigned k = 0; k < h->nclasses; k++) {
        unsigned size = h->class_size[k], prev = k ? h->class_size[k - 1] : 0;
        if (size <= prev || size % PM_ALIGNMENT || (k < PM_NUM_CLASSES && size != 16 * (k + 1)))
            return fail(c, "size class %u: %u bytes after %u (C1)", k, size, prev);
    }
    size_t max = atomic_load_explicit(&h->block_max, memory_order_relaxed);
    if (max != h->class_size[h->nclasses - 1])
        return fail(c, "block_max %zu is not the largest class (C1)", max);
    for (size_t n = PM_SMALL_MAX + PM_ALIGNMENT; n <= max; n += PM_ALIGNMENT) {
        unsigned k = pmh_class_for(h, n);
        if (k >= h->nclasses || h->class_size[k] < n || h->class_size[k - 1] >= n)
            return fail(c, "a request of %zu bytes maps to class %u (C2)", n, k);
    }
    return 0;
}

static int check_structure(pm_heap *h, check_state *c) {
    if (check_classes(h, c)) return -1;
    uint64_t narenas = 0, nempty_arenas = 0, nempty_pools = 0, nhuge = 0;
    for (uint32_t k = 0; h->buckets && k <= h->pools_per_arena; k++) {
        if (k >= 1 && k < h->lowest && h->buckets[k])
            return fail(c, "bucket %u is below the lowest usable bucket %u", k, h->lowest);
        for (const pmh_arena *a = h->buckets[k]; a; a = a->next) {
            if (check_arena(h, a, k, c)) return -1;
            narenas++;
            nempty_pools += a->nempty;
            nempty_arenas += a->nfree == a->npools;
            nhuge += a->huge;
            if (a->huge && !h->hugepages)
                return fail(c, "arena %p: huge pages asked by a heap that wants none",
                            (const void *)a->base);
            if (a->huge && a->ndecommitted)
                return fail(c, "arena %p: huge pages asked although it gave pools back",
                            (const void *)a->base);
        }
    }
    if (narenas != h->narenas || nempty_arenas != h->nempty_arenas ||
        nempty_pools != h->nempty_pools || nhuge != h->narenas_huge)
        return fail(c, "heap counts disagree with the arenas (%" PRIu64 " arenas found)", narenas);
    if (for_each_used_pool(h, check_pool, c)) return -1;
    uint64_t listed = 0;
    for (const pmh_cache *cache = &h->main; cache; cache = pmh_next_cache(h, cache))
        for (unsigned k = 0; k < h->nclasses; k++)
            for (const pmh_pool *q = cache->used[k]; q; q = q->next) {
                bool parked = q->nused == 0 && q == cache->used[k] && q->next == NULL;
                if (q->szidx != k || (q->nused == 0 && !parked) || q->freeblock == NULL ||
                    q->owner != cache)
                    return fail(c, "used list %u holds pool %p in a wrong state", k,
                                (const void *)q);
                listed += q->nused > 0;
            }
    if (listed != c->nonfull_pools)
        return fail(c, "used lists hold %" PRIu64 " pools, %" PRIu64 " have free blocks", listed,
                    c->nonfull_pools);
    return 0;
}

int pm_heap_check(pm_heap *h, char *buf, size_t buflen, int report) {
    char local[256];
    check_state c = {buf ? buf : local, buf ? buflen : sizeof local, 0};
    pmh_lock(h);
    int r = check_structure(h, &c);
    if (r == 0 && h->debug) r = pmh_debug_check(h, c.buf, c.buflen);
    pmh_unlock(h);
    if (r != 0 && report) {
        pm_error e = {sizeof e, PM_ERR_CORRUPT, h, 0, -1, -1, 0, c.buf};
        pmh_report(h, &e);
    }
    if (r == 0 && c.buf && c.buflen) c.buf[0] = '\0';
    return r;
}

#ifdef PM_EXPENSIVE
void pmh_expensive_check(pm_heap *h, const char *file, int line) {
    pmh_lock(h); /* arenas: consistent; recursive, as the slow paths may hold it */
    bool skip = h->threadsafe && !pmh_ts_alone(h); /* others' caches are in motion */
    char why[256];
    check_state c = {why, sizeof why, 0};
    int r = skip ? 0 : check_structure(h, &c);
    pmh_unlock(h);
    if (r == 0) return;
    fprintf(stderr, "pymm: %s:%d: pm_heap_check failed: %s\n", file, line, why);
    fflush(stderr);
    abort();
}
#endif

/* ---- PYMM_STATS --------------------------------------------------------- */

static void print_stats_at_exit(void) {
    const char *where = getenv("PYMM_STATS");
    if (where == NULL || *where == '\0' || strcmp(where, "0") == 0) return;
    bool to_stderr = strcmp(where, "1") == 0 || strcmp(where, "stderr") == 0;
    char name[4096]; /* %p: this process's id, so each process of a tree has its file */
    if (!to_stderr && !pmos_expand_pid(where, name, sizeof name)) return;
    FILE *f = to_stderr ? stderr : fopen(name, "a");
    if (f == NULL) return;
    pm_heap_print_stats(&pmh_default_heap, f);
    if (!to_stderr) {
        fprintf(f, "json: ");
        pm_heap_print_stats_json(&pmh_default_heap, f);
        fclose(f);
    }
}

void pmh_stats_atexit_setup(void) {
    const char *where = getenv("PYMM_STATS");
    if (where && *where && strcmp(where, "0") != 0) atexit(print_stats_at_exit);
}
