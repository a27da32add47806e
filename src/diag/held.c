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
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"

#include <stdlib.h>
#include <string.h>

static int cmp_ptr(const void *x, const void *y) {
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
    return (a > b) - (a < b);
}

size_t pmd_graph_index(const pmd_graph *g, const pm_object *o) {
    size_t a = 0, b = g->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if ((uintptr_t)g->objects[mid] < (uintptr_t)o) a = mid + 1;
        else b = mid;
    }
    return a < g->n && g->objects[a] == o ? a : PMD_NONE;
}

/* One reference to child accounted for (H4). */
static void account(pmd_graph *g, const pm_object *child) {
    size_t i = pmd_graph_index(g, child);
    if (i != PMD_NONE && g->external[i] > 0) g->external[i]--;
}

static int account_edge(pm_object *child, pmd_edge e, void *arg) {
    (void)e;
    account(arg, child);
    return 0;
}

/* The census's walk visits pools in arena order, mostly ascending: a
 * check first spares the sort. */
static void sort_objects(pmd_graph *g) {
    for (size_t i = 1; i < g->n; i++) {
        if ((uintptr_t)g->objects[i - 1] > (uintptr_t)g->objects[i]) {
            qsort(g->objects, g->n, sizeof *g->objects, cmp_ptr);
            return;
        }
    }
}

static void account_internal(pmd_graph *g) {
    pm_runtime *rt = g->rt;
    for (size_t i = 0; i < g->n; i++) pmd_referents(g->objects[i], account_edge, g);
    for (size_t i = 0; i < rt->deferred.len; i++)
        pmd_referents(rt->deferred.items[i], account_edge, g);
    pm_object *garbage = pmgc_garbage_peek(rt);
    if (garbage) account(g, garbage);
    size_t nroots;
    const pmd_root *roots = pmd_roots_of(rt, &nroots);
    for (size_t i = 0; i < nroots; i++) account(g, roots[i].object);
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
    return 0;
}

int pmd_graph_build(pmd_graph *g, pm_runtime *rt) {
    if (pmd_graph_objects(g, rt) != 0) return -1;
    g->external = pmh_internal_malloc((g->n ? g->n : 1) * sizeof *g->external);
    if (g->external == NULL) {
        pmd_graph_free(g);
        pm_exc_set(PM_EXC_MEMORY, "held from C: no memory for the counts");
        return -1;
    }
    for (size_t i = 0; i < g->n; i++) {
        const pm_object *o = g->objects[i];
        g->external[i] = pm_is_immortal(o) ? 0 : o->refcnt;
    }
    account_internal(g);
    return 0;
}

void pmd_graph_free(pmd_graph *g) {
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
