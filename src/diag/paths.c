/*
 * paths.c -- the shortest chain of references from a root to an object
 * (objgraph's find_backref_chain): pm_path_to and its accessors.
 *
 * A breadth-first search over the runtime's graph (held.c's pmd_graph
 * with its edges kept as numbers, in refs.c's order), from every declared
 * root, in the order they were added, then from every object held from C
 * (pseudo-roots "held from C: N", in address order), until the target is
 * reached. The path is read back through each object's parent, and only
 * its steps' edges are labelled (refs.c's walk of the step before): the
 * search itself calls no traverse and looks up no address, it reads
 * arrays of numbers (with 10^6 objects at random addresses, a second walk
 * through refs.c cost as much as building the graph).
 *
 * Invariants:
 *   P1  No recursion: the frontier is an array of object numbers (a
 *       queue), so a 10,000,000-long chain costs no stack.
 *   P2  parent[i] is UNSEEN until i is reached, then the number of the
 *       object it was reached from (START for a root or a pseudo-root):
 *       each object is reached once, by a shortest chain, and roots
 *       before pseudo-roots at equal length. A step's edge is the first
 *       of its parent's edges (refs.c's order) to it: the one the search
 *       took, the edges being walked in that order.
 *   P3  All memory is internal; a failing search frees all of it and
 *       leaves the exception pending. A path holds no reference: its
 *       objects are borrowed, valid until the graph next changes.
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"

#include <stdio.h>
#include <string.h>

#define UNSEEN UINT32_MAX
#define START (UINT32_MAX - 1)

typedef struct path_step {
    pm_object *object;
    pmd_edge edge; /* how it was reached from the step before */
} path_step;

struct pm_path {
    path_step *steps; /* the root first, the target last */
    size_t len;
    char *root_name; /* a declared root's name, or NULL   */
};

#define AHEAD 8 /* queue entries ahead whose edges are prefetched */

typedef struct search {
    pmd_graph g;      /* with its edges */
    uint32_t *parent; /* P2 */
    uint32_t *queue;
    size_t head, tail;
} search;

static void search_free(search *s) {
    pmd_graph_free(&s->g);
    pmh_internal_free(s->parent);
    pmh_internal_free(s->queue);
}

static void reach(search *s, uint32_t i, uint32_t from) {
    if (s->parent[i] != UNSEEN) return;
    s->parent[i] = from;
    s->queue[s->tail++] = i;
}

/* The sources, roots first (P2). */
static void start(search *s) {
    size_t nroots;
    const pmd_root *roots = pmd_roots_of(s->g.rt, &nroots);
    for (size_t r = 0; r < nroots; r++) {
        size_t i = pmd_graph_index(&s->g, roots[r].object);
        if (i != PMD_NONE) reach(s, (uint32_t)i, START);
    }
    for (size_t i = 0; i < s->g.n; i++)
        if (s->g.external[i]) reach(s, (uint32_t)i, START);
}

/* How source i was reached: the first root that is it, else held from C
 * (start's order). */
static pmd_edge source_edge(const search *s, size_t i) {
    size_t nroots;
    const pmd_root *roots = pmd_roots_of(s->g.rt, &nroots);
    for (size_t r = 0; r < nroots; r++)
        if (roots[r].object == s->g.objects[i]) return PMD_EDGE(PMD_EDGE_ROOT, r);
    PM_ASSERT(s->g.external[i] > 0);
    return PMD_EDGE(PMD_EDGE_HELD_FROM_C, s->g.external[i]);
}

/* Walk until target is reached: false when nothing leads to it. The
 * queue's next entries are known: their rows of edges, and the marks of
 * the row after the one walked, are asked for ahead (each a cache miss
 * at random addresses). */
static bool run(search *s, size_t target) {
    const uint32_t *at = s->g.edge_at, *edges = s->g.edges;
    while (s->parent[target] == UNSEEN && s->head < s->tail) {
        if (s->head + AHEAD < s->tail) __builtin_prefetch(&edges[at[s->queue[s->head + AHEAD]]]);
        if (s->head + 1 < s->tail) {
            uint32_t next = s->queue[s->head + 1];
            for (uint32_t k = at[next]; k < at[next + 1]; k++)
                __builtin_prefetch(&s->parent[edges[k]]);
        }
        uint32_t from = s->queue[s->head++];
        for (uint32_t k = at[from]; k < at[from + 1]; k++) reach(s, edges[k], from);
    }
    return s->parent[target] != UNSEEN;
}

typedef struct first_edge {
    pm_object *child;
    pmd_edge edge;
} first_edge;

static int find_edge(pm_object *child, pmd_edge e, void *arg) {
    first_edge *f = arg;
    if (child != f->child) return 0;
    f->edge = e;
    return 1;
}

/* The edge the search took from parent to child (P2). */
static pmd_edge edge_to(pm_object *parent, pm_object *child) {
    first_edge f = {child, 0};
    int found = pmd_referents(parent, find_edge, &f);
    PM_ASSERT(found == 1); /* the graph's edge came from this walk */
    (void)found;
    return f.edge;
}

static pm_path *no_memory(search *s, pm_path *p) {
    if (p) pm_path_free(p);
    search_free(s);
    pm_exc_set(PM_EXC_MEMORY, "pm_path_to: no memory for the search");
    return NULL;
}

/* The path read back from target through the parents. */
static pm_path *read_back(search *s, size_t target) {
    pm_path *p = pmh_internal_calloc(1, sizeof *p);
    if (p == NULL) return no_memory(s, NULL);
    for (uint32_t i = (uint32_t)target; i != START; i = s->parent[i]) p->len++;
    p->steps = pmh_internal_malloc(p->len * sizeof *p->steps);
    if (p->steps == NULL) return no_memory(s, p);
    size_t k = p->len;
    uint32_t source = (uint32_t)target;
    for (uint32_t i = (uint32_t)target; i != START; source = i, i = s->parent[i])
        p->steps[--k] = (path_step){s->g.objects[i], 0};
    p->steps[0].edge = source_edge(s, source);
    for (k = 1; k < p->len; k++)
        p->steps[k].edge = edge_to(p->steps[k - 1].object, p->steps[k].object);
    pmd_edge first = p->steps[0].edge;
    if (PMD_EDGE_KIND(first) == PMD_EDGE_ROOT) {
        size_t nroots;
        const pmd_root *roots = pmd_roots_of(s->g.rt, &nroots);
        const char *name = roots[PMD_EDGE_INDEX(first)].name;
        size_t n = strlen(name) + 1;
        if ((p->root_name = pmh_internal_malloc(n)) == NULL) return no_memory(s, p);
        memcpy(p->root_name, name, n);
    }
    search_free(s);
    return p;
}

pm_path *pm_path_to(pm_object *target) {
    if (target == NULL || !pmo_live(target)) {
        pm_exc_set(PM_EXC_TYPE, "pm_path_to: expected an object, got NULL");
        return NULL;
    }
    return pmd_path_in(NULL, target);
}

pm_path *pmd_path_in(pm_runtime *rt, pm_object *target) {
    search s = {0};
    if (pmd_graph_build_edges(&s.g, rt) != 0) return NULL;
    size_t t = pmd_graph_index(&s.g, target);
    if (t == PMD_NONE) {
        search_free(&s);
        pm_exc_set(PM_EXC_VALUE, "pm_path_to: not a live object of this runtime's heap");
        return NULL;
    }
    size_t n = s.g.n;
    s.parent = pmh_internal_malloc(n * sizeof *s.parent);
    s.queue = pmh_internal_malloc(n * sizeof *s.queue);
    if (s.parent == NULL || s.queue == NULL) return no_memory(&s, NULL);
    memset(s.parent, 0xff, n * sizeof *s.parent); /* UNSEEN */
    start(&s);
    if (run(&s, t)) return read_back(&s, t);
    search_free(&s);
    pm_path *p = pmh_internal_calloc(1, sizeof *p); /* nothing leads to it */
    if (p == NULL) pm_exc_set(PM_EXC_MEMORY, "pm_path_to: no memory for the path");
    return p;
}

void pm_path_free(pm_path *p) {
    if (p == NULL) return;
    pmh_internal_free(p->steps);
    pmh_internal_free(p->root_name);
    pmh_internal_free(p);
}

size_t pm_path_length(const pm_path *p) { return p->len; }

pm_object *pm_path_object(const pm_path *p, size_t i) {
    return i < p->len ? p->steps[i].object : NULL;
}

void pm_path_label(const pm_path *p, size_t i, char *buf, size_t size) {
    if (size == 0) return;
    buf[0] = '\0';
    if (i >= p->len) return;
    pmd_edge e = p->steps[i].edge;
    if (i == 0 && PMD_EDGE_KIND(e) == PMD_EDGE_ROOT) snprintf(buf, size, "root '%s'", p->root_name);
    else pmd_edge_label(i ? p->steps[i - 1].object : NULL, e, buf, size);
}

int pm_path_print(const pm_path *p, FILE *out) {
    if (p->len == 0)
        return fprintf(out, "no path: no root and no C reference leads to it\n") < 0 ? -1 : 0;
    char label[128], repr[128];
    int bad = 0;
    for (size_t i = 0; i < p->len && !bad; i++) {
        pm_path_label(p, i, label, sizeof label);
        pmd_short_repr(p->steps[i].object, repr, sizeof repr);
        if (i == 0) bad = fprintf(out, "%s: %s\n", label, repr) < 0;
        else bad = fprintf(out, "  %-20s -> %s\n", label, repr) < 0;
    }
    return bad ? -1 : 0;
}

bool pmd_path_from_root(const pm_path *p) {
    return p->len > 0 && PMD_EDGE_KIND(p->steps[0].edge) == PMD_EDGE_ROOT;
}
