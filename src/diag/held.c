/*
 * held.c -- references held from C: for each live object of a runtime,
 * its reference count minus the references the graph accounts for
 * (pm_held_from_c, pm_held_from_c_all), and the graph the questions of
 * why an object is alive share (pmd_graph, diag.h).
 *
 * The collector's first step computes the same over the objects it
 * tracks (gc_refs: the count minus the references from tracked objects);
 * here it runs over every object the census finds (census.c's walk),
 * tracked or not, and through refs.c's walks, which see references the
 * collector need not (a dict's str keys). What counts as internal, never
 * as held from C (docs/DESIGN.md, "Diagnostics: why is it alive"):
 *   - references between the runtime's objects, an instance's reference
 *     to its heap type among them (refs.c, R1);
 *   - the references of objects waiting in the deferred-deallocation
 *     queue (count 0: not in the census, but still holding theirs);
 *   - the collector's garbage list (one reference);
 *   - declared roots (one reference each, roots.c);
 *   - weak-reference callbacks' arguments (their weak reference's edges).
 * Free lists and interned strings hold no reference to a live object
 * (free-list blocks are dead, the intern table's entries are borrowed:
 * S4 of str.c), and immortal objects have no count to explain: their
 * external count is 0.
 *
 * Invariants:
 *   H1  objects[] is sorted by address, so an object's number is found by
 *       a binary search; external[i] <= objects[i]->refcnt.
 *   H2  No recursion: each object's references are walked in a loop over
 *       objects[], whatever the graph's depth.
 *   H3  Everything is internal memory; a failing call frees all of it
 *       and leaves MemoryError (or the census's error) pending.
 *   H4  A reference the accounting cannot explain is held from C; one it
 *       would count twice (a count below the references found, as when a
 *       type's traverse visits a borrowed reference) stops at 0.
 *   H5  regions[] maps every aligned pool-sized region (the heap's pool
 *       mask) that holds objects to the range of objects[] inside it (a
 *       region's objects are contiguous, H1) and, for a pool, to its
 *       slots: slots[first + k] is the number of the object in block k
 *       (UINT32_MAX for a free block). An object's number is a hash probe
 *       and one load instead of a binary search over every object (the
 *       dominator tree looks up every edge). Large objects, in no pool,
 *       are found by a binary search within their region.
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"

#include <stdlib.h>
#include <string.h>

#define SORT_RUNS 8 /* sorted runs of the census's objects merged as they come */

static int cmp_ptr(const void *x, const void *y) {
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
    return (a > b) - (a < b);
}

struct pmd_graph_region {
    uintptr_t key;   /* the region's base; 0: an empty slot      */
    uint32_t lo, hi; /* its objects: objects[lo .. hi-1]         */
    uint32_t size;   /* a pool's block size; 0: large objects    */
    uint32_t first;  /* a pool: its block 0's entry in slots[]   */
    uint32_t blocks; /* a pool: its entries in slots[]           */
    uint32_t block0; /* a pool: its block 0's offset from key    */
};

static size_t region_slot(uintptr_t key, size_t cap) {
    return (size_t)((key >> 12) * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

size_t pmd_graph_index(const pmd_graph *g, const pm_object *o) {
    uintptr_t key = (uintptr_t)o & g->region_mask;
    size_t a = 0, b = 0;
    for (size_t i = region_slot(key, g->region_cap);; i = (i + 1) & (g->region_cap - 1)) {
        const pmd_graph_region *r = &g->regions[i];
        if (r->key == 0) return PMD_NONE;
        if (r->key == key && r->size) {
            uintptr_t off = (uintptr_t)o - key - r->block0;
            if ((uintptr_t)o < key + r->block0 || off % r->size) return PMD_NONE;
            uint32_t k = (uint32_t)(off / r->size);
            if (k >= r->blocks) return PMD_NONE;
            uint32_t i = g->slots[r->first + k];
            return i == UINT32_MAX ? PMD_NONE : i;
        }
        if (r->key == key) {
            a = r->lo, b = r->hi;
            break;
        }
    }
    /* The last object at or below o, without a branch to mispredict per
     * step (a conditional move): a pool's objects are in random order
     * to the edges that look them up. */
    pm_object *const *p = g->objects + a;
    for (size_t len = b - a; len > 1;) {
        size_t half = len / 2;
        p = (uintptr_t)p[half] <= (uintptr_t)o ? p + half : p;
        len -= half;
    }
    return *p == o ? (size_t)(p - g->objects) : PMD_NONE;
}

/* One reference to child accounted for (H4). */
static void account(pmd_graph *g, const pm_object *child) {
    size_t i = pmd_graph_index(g, child);
    if (i != PMD_NONE && g->external[i] > 0) g->external[i]--;
}

/* An edge of a live object: accounted for and, when asked, kept. */
static int account_edge(pm_object *child, pmd_edge e, void *arg) {
    (void)e;
    pmd_graph *g = arg;
    size_t i = pmd_graph_index(g, child);
    if (i == PMD_NONE) return 0;
    if (g->external[i] > 0) g->external[i]--;
    if (!g->keep_edges) return 0;
    if (g->nedges == g->edge_cap) {
        size_t cap = g->edge_cap ? g->edge_cap * 2 : 4096;
        uint32_t *edges = cap < UINT32_MAX ? pmh_internal_realloc(g->edges, cap * 4) : NULL;
        if (edges == NULL) return g->failed = true;
        g->edges = edges;
        g->edge_cap = cap;
    }
    g->edges[g->nedges++] = (uint32_t)i;
    return 0;
}

static int account_deferred(pm_object *child, pmd_edge e, void *arg) {
    (void)e;
    account(arg, child);
    return 0;
}

/* to[]: from[]'s sorted runs run[r] .. run[r + 1] merged, the lowest
 * address first. */
static void merge_runs(pm_object *const *from, size_t *run, size_t nruns, pm_object **to) {
    size_t end[SORT_RUNS], len = run[nruns];
    for (size_t r = 0; r < nruns; r++) end[r] = run[r + 1];
    for (size_t i = 0; i < len; i++) {
        size_t low = SORT_RUNS;
        for (size_t r = 0; r < nruns; r++)
            if (run[r] < end[r] &&
                (low == SORT_RUNS || (uintptr_t)from[run[r]] < (uintptr_t)from[run[low]]))
                low = r;
        to[i] = from[run[low]++];
        PM_ASSERT(i == 0 || (uintptr_t)to[i - 1] < (uintptr_t)to[i]); /* H1 */
    }
}

/* The census's walk visits pools arena by arena, each in address order:
 * the objects come as a few sorted runs, merged as they are (a qsort of
 * a million pointers costs a leak check at exit 0.1 s); past SORT_RUNS,
 * or without memory for the merge, one sort. */
static void sort_objects(pmd_graph *g) {
    size_t run[SORT_RUNS + 1], n = 0;
    for (size_t i = 0; i < g->n && n <= SORT_RUNS; i++)
        if (i == 0 || (uintptr_t)g->objects[i - 1] > (uintptr_t)g->objects[i]) run[n++] = i;
    if (n <= 1) return;
    pm_object **to = n <= SORT_RUNS ? pmh_internal_malloc(g->n * sizeof *to) : NULL;
    if (to == NULL) {
        qsort(g->objects, g->n, sizeof *g->objects, cmp_ptr);
        return;
    }
    run[n] = g->n;
    merge_runs(g->objects, run, n, to);
    pmh_internal_free(g->objects);
    g->objects = to;
}

static void account_internal(pmd_graph *g) {
    pm_runtime *rt = g->rt;
    for (size_t i = 0; i < g->n && !g->failed; i++) {
        if (g->keep_edges) g->edge_at[i] = (uint32_t)g->nedges;
        pmd_referents(g->objects[i], account_edge, g);
    }
    if (g->keep_edges) g->edge_at[g->n] = (uint32_t)g->nedges;
    for (size_t i = 0; i < rt->deferred.len; i++)
        pmd_referents(rt->deferred.items[i], account_deferred, g);
    pm_object *garbage = pmgc_garbage_peek(rt);
    if (garbage) account(g, garbage);
    size_t nroots;
    const pmd_root *roots = pmd_roots_of(rt, &nroots);
    for (size_t i = 0; i < nroots; i++) account(g, roots[i].object);
}

/* H5: a region's entry, its pool's slots filled (slots has room). */
static void add_region(pmd_graph *g, size_t lo, size_t hi, uint32_t *nslots) {
    uintptr_t key = (uintptr_t)g->objects[lo] & g->region_mask;
    pmd_graph_region r = {key, (uint32_t)lo, (uint32_t)hi, 0, 0, 0, 0};
    pm_heap *h = g->rt->heap;
    if (pmh_arena_owns(h, (uintptr_t)g->objects[lo])) {
        const pmh_pool *pool = pmh_pool_of(h, g->objects[lo]);
        r.size = pool->size;
        r.first = *nslots;
        r.block0 = (uint32_t)((uintptr_t)pool + PMH_POOL_HEADER - key);
        uintptr_t last = (uintptr_t)g->objects[hi - 1] - key - r.block0;
        r.blocks = (uint32_t)(last / r.size + 1);
        memset(g->slots + r.first, 0xff, r.blocks * sizeof *g->slots);
        for (size_t i = lo; i < hi; i++)
            g->slots[r.first + ((uintptr_t)g->objects[i] - key - r.block0) / r.size] = (uint32_t)i;
        *nslots += r.blocks;
    }
    size_t s = region_slot(key, g->region_cap);
    while (g->regions[s].key) s = (s + 1) & (g->region_cap - 1);
    g->regions[s] = r;
}

/* The objects of one region: objects[lo .. *hi - 1]; and the slots its
 * pool needs (0 for large objects). */
static size_t region_end(const pmd_graph *g, size_t lo, size_t *slots) {
    uintptr_t key = (uintptr_t)g->objects[lo] & g->region_mask;
    size_t hi = lo + 1;
    while (hi < g->n && ((uintptr_t)g->objects[hi] & g->region_mask) == key) hi++;
    *slots = 0;
    if (pmh_arena_owns(g->rt->heap, (uintptr_t)g->objects[lo])) {
        const pmh_pool *pool = pmh_pool_of(g->rt->heap, g->objects[lo]);
        *slots =
            ((uintptr_t)g->objects[hi - 1] - (uintptr_t)pool - PMH_POOL_HEADER) / pool->size + 1;
    }
    return hi;
}

/* H5: the regions of the sorted objects; -1 with MemoryError. */
static int index_regions(pmd_graph *g) {
    g->region_mask = g->rt->heap->pool_mask;
    size_t groups = 0, nslots = 0;
    for (size_t lo = 0, slots; lo < g->n; groups++) {
        lo = region_end(g, lo, &slots);
        nslots += slots;
    }
    size_t cap = 16;
    while (cap < 2 * groups) cap *= 2;
    g->regions = pmh_internal_calloc(cap, sizeof *g->regions);
    g->slots = pmh_internal_malloc((nslots ? nslots : 1) * sizeof *g->slots);
    if (g->regions == NULL || g->slots == NULL || nslots >= UINT32_MAX) {
        pmd_graph_free(g);
        pm_exc_set(PM_EXC_MEMORY, "object graph: no memory for its index");
        return -1;
    }
    g->region_cap = cap;
    uint32_t used = 0;
    for (size_t lo = 0, hi, slots; lo < g->n; lo = hi) {
        hi = region_end(g, lo, &slots);
        add_region(g, lo, hi, &used);
    }
    return 0;
}

int pmd_graph_objects(pmd_graph *g, pm_runtime *rt) {
    memset(g, 0, sizeof *g);
    g->rt = rt ? rt : pmo_rt();
    if (pmd_census_objects(g->rt, &g->objects, &g->n) != 0) return -1;
    if (g->n >= UINT32_MAX - 1) { /* paths.c and sizes.c number objects in 32 bits */
        pmd_graph_free(g);
        pm_exc_set(PM_EXC_MEMORY, "object graph: more than 2^32 objects");
        return -1;
    }
    sort_objects(g);
    return index_regions(g);
}

static int graph_build(pmd_graph *g, pm_runtime *rt, bool keep_edges) {
    if (pmd_graph_objects(g, rt) != 0) return -1;
    g->external = pmh_internal_malloc((g->n ? g->n : 1) * sizeof *g->external);
    g->keep_edges = keep_edges;
    if (keep_edges) g->edge_at = pmh_internal_malloc((g->n + 1) * sizeof *g->edge_at);
    if (g->external == NULL || (keep_edges && g->edge_at == NULL)) {
        pmd_graph_free(g);
        pm_exc_set(PM_EXC_MEMORY, "held from C: no memory for the counts");
        return -1;
    }
    for (size_t i = 0; i < g->n; i++) {
        const pm_object *o = g->objects[i];
        g->external[i] = pm_is_immortal(o) ? 0 : o->refcnt;
    }
    account_internal(g);
    if (g->failed) {
        pmd_graph_free(g);
        pm_exc_set(PM_EXC_MEMORY, "object graph: no memory for its edges");
        return -1;
    }
    return 0;
}

int pmd_graph_build(pmd_graph *g, pm_runtime *rt) { return graph_build(g, rt, false); }

int pmd_graph_build_edges(pmd_graph *g, pm_runtime *rt) { return graph_build(g, rt, true); }

void pmd_graph_free(pmd_graph *g) {
    pmh_internal_free(g->edges);
    pmh_internal_free(g->edge_at);
    pmh_internal_free(g->regions);
    pmh_internal_free(g->slots);
    pmh_internal_free(g->objects);
    pmh_internal_free(g->external);
    memset(g, 0, sizeof *g);
}

int64_t pm_held_from_c(pm_object *o) {
    if (o == NULL || !pmo_live(o)) {
        pm_exc_set(PM_EXC_TYPE, "pm_held_from_c: expected an object, got NULL");
        return -1;
    }
    pmd_graph g;
    if (pmd_graph_build(&g, NULL) != 0) return -1;
    size_t i = pmd_graph_index(&g, o);
    int64_t n = i == PMD_NONE ? 0 : g.external[i];
    pmd_graph_free(&g);
    return n;
}

pm_held *pm_held_from_c_all(pm_runtime *rt, size_t *n) {
    pmd_graph g;
    if (pmd_graph_build(&g, rt) != 0) return NULL;
    size_t count = 0;
    for (size_t i = 0; i < g.n; i++) count += g.external[i] > 0;
    pm_held *out = pmh_internal_malloc((count ? count : 1) * sizeof *out);
    if (out == NULL) {
        pmd_graph_free(&g);
        pm_exc_set(PM_EXC_MEMORY, "held from C: no memory for the list");
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < g.n; i++)
        if (g.external[i] > 0) out[k++] = (pm_held){g.objects[i], g.external[i]};
    PM_ASSERT(k == count);
    pmd_graph_free(&g);
    *n = count;
    return out;
}

void pm_held_free(pm_held *h) { pmh_internal_free(h); }
