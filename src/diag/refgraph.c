/*
 * refgraph.c -- the referrers of an object as a tree to a depth, and its
 * referents as one (objgraph's show_backrefs and show_refs): pm_refgraph_*
 * but the DOT writer (dot.c). docs/DESIGN.md, "Diagnostics: why is it
 * alive".
 *
 * Both trees are grown breadth-first over the runtime's graph (held.c's
 * pmd_graph, refs.c's labelled edges). Referents are refs.c's walks;
 * referrers come from a reverse index built once per call (or once per
 * pmd_trees session): every edge of every object, grouped by the object
 * it points to, in one array.
 *
 * Invariants:
 *   T1  No recursion: the nodes array is its own queue (a node's children
 *       are appended when it is expanded), and printing walks it with an
 *       explicit stack. A node's children are contiguous: first, count.
 *   T2  An object of the graph is expanded once, at its first node; a
 *       later node for it has same = that node and no children, so a
 *       cycle ends and the tree stays a tree.
 *   T3  A node has at most max_refs children that are objects; the rest
 *       are counted in one cut-off node (object NULL, more = N) after them.
 *       Nodes at the depth limit, cut-offs, repeats (T2) and objects
 *       outside the graph (statics, shared types) are not expanded.
 *   T4  All memory is internal; a failing call frees all of it and leaves
 *       MemoryError pending. The tree holds no reference: its objects are
 *       borrowed, valid until the graph next changes (labels read the
 *       containers again). Root names are copies.
 *   T5  Between trees, seen[] is OUTSIDE for every object: a tree resets
 *       the entries of its own nodes when it is done, so a session over a
 *       large graph (pmd_trees, the leak check's verdicts) pays for its
 *       trees, not for the graph, after the one reverse index.
 *   T6  The reverse index holds numbers only, 4 bytes per object and per
 *       reference (fewer than UINT32_MAX references, else it is not made);
 *       a graph that kept its edges (pmd_graph_build_edges: the same
 *       references, in the walks' order) is read instead of walked.
 *       A shown referrer's edge is found again among its referents: the
 *       k-th time a holder appears in a row, its k-th reference to the
 *       object (both walks see the references in one order).
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"

#include <stdio.h>
#include <string.h>

#define OUTSIDE UINT32_MAX /* a node's object is not in the graph */

typedef struct rnode {
    pm_refgraph_node pub;
    pmd_edge edge;       /* the reference between it and its parent     */
    uint32_t index;      /* its object's number in the graph, or OUTSIDE */
    size_t first, count; /* its children (T1)                            */
} rnode;

struct pm_refgraph {
    rnode *nodes;
    size_t len, cap;
    bool backward; /* referrers: a child holds its parent */
};

/* What a call works with while it grows trees: one tree for the public
 * calls, which build their own graph; any number for a pmd_trees session
 * over the caller's graph (the leak check's), which keeps the reverse
 * index between trees and resets seen[] for the nodes of each (T5). */
struct pmd_trees {
    const pmd_graph *g;
    pmd_graph own; /* the graph, when the call built it */
    pm_refgraph *t;
    uint32_t *seen;  /* per object: its first node, or OUTSIDE (T2) */
    uint32_t *start; /* reverse index: referrers of i are by[start[i]..start[i+1]) (T6) */
    uint32_t *by;    /* their numbers, in address order */
    size_t max_refs, parent, extra; /* extra: referents past max_refs */
    bool failed;
};
typedef struct pmd_trees grow;

static void grow_free(grow *w) {
    pmd_graph_free(&w->own);
    pmh_internal_free(w->seen);
    pmh_internal_free(w->start);
    pmh_internal_free(w->by);
}

static void tree_free(pm_refgraph *t) {
    if (t == NULL) return;
    for (size_t i = 0; i < t->len; i++) pmh_internal_free((char *)t->nodes[i].pub.root);
    pmh_internal_free(t->nodes);
    pmh_internal_free(t);
}

void pm_refgraph_free(pm_refgraph *g) { tree_free(g); }

/* A declared root's name, copied: NULL for none, or when memory failed. */
static bool copy_root_name(grow *w, rnode *n) {
    size_t nroots;
    const pmd_root *roots = pmd_roots_of(w->g->rt, &nroots);
    for (size_t r = 0; r < nroots; r++) {
        if (roots[r].object != n->pub.object) continue;
        size_t len = strlen(roots[r].name) + 1;
        char *copy = pmh_internal_malloc(len);
        if (copy == NULL) return false;
        n->pub.root = memcpy(copy, roots[r].name, len);
        return true;
    }
    return true;
}

/* A new node under w->parent (PM_REFGRAPH_NONE: the start) for object o
 * (NULL: a cut-off of more), reached by e; false when memory failed. */
static bool add_node(grow *w, pm_object *o, pmd_edge e, size_t more) {
    pm_refgraph *t = w->t;
    if (t->len == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        rnode *nodes = pmh_internal_realloc(t->nodes, cap * sizeof *nodes);
        if (nodes == NULL) return false;
        t->nodes = nodes;
        t->cap = cap;
    }
    size_t self = t->len;
    rnode *n = &t->nodes[t->len++];
    memset(n, 0, sizeof *n);
    n->pub = (pm_refgraph_node){o, w->parent, 0, more, PM_REFGRAPH_NONE, 0, NULL};
    n->edge = e;
    n->index = OUTSIDE;
    if (w->parent != PM_REFGRAPH_NONE) {
        rnode *p = &t->nodes[w->parent];
        n->pub.depth = p->pub.depth + 1;
        if (p->count++ == 0) p->first = self;
    }
    if (o == NULL) return true;
    size_t i = pmd_graph_index(w->g, o);
    if (i == PMD_NONE) return true;
    n->pub.held_from_c = w->g->external[i];
    if (w->seen[i] != OUTSIDE) n->pub.same = w->seen[i]; /* T2 */
    else w->seen[i] = (uint32_t)self;
    n->index = (uint32_t)i;
    return n->pub.same != PM_REFGRAPH_NONE || copy_root_name(w, n);
}

/* ---- the reverse index ---------------------------------------------------- */

static int count_edge(pm_object *child, pmd_edge e, void *arg) {
    grow *w = arg;
    (void)e;
    size_t i = pmd_graph_index(w->g, child);
    if (i != PMD_NONE) w->start[i + 2]++;
    return 0;
}

static int place_edge(pm_object *child, pmd_edge e, void *arg) {
    grow *w = arg;
    (void)e;
    size_t i = pmd_graph_index(w->g, child);
    if (i != PMD_NONE) w->by[w->start[i + 1]++] = (uint32_t)w->parent;
    return 0;
}

/* Counts land at start[i + 2]; after the sums start[i + 1] is where i's
 * referrers begin, and placing them moves it to where they end, which is
 * where i + 1's begin: start[i] .. start[i + 1] in the end, referrers in
 * address order. */
static bool build_reverse(grow *w) {
    const pmd_graph *g = w->g;
    size_t n = g->n;
    w->start = pmh_internal_calloc(n + 2, sizeof *w->start);
    if (w->start == NULL) return false;
    if (g->edges) /* kept (the leak check's graph): the same edges, read without a walk */
        for (size_t e = 0; e < g->nedges; e++) w->start[g->edges[e] + 2]++;
    else
        for (size_t i = 0; i < n; i++) pmd_referents(g->objects[i], count_edge, w);
    uint64_t sum = 0; /* T6: a count past UINT32_MAX is refused below */
    for (size_t i = 1; i < n + 2; i++) {
        sum += w->start[i];
        w->start[i] = (uint32_t)sum;
    }
    w->by = sum < UINT32_MAX ? pmh_internal_malloc((sum ? sum : 1) * sizeof *w->by) : NULL;
    if (w->by == NULL) {
        pmh_internal_free(w->start);
        w->start = NULL; /* a later tree tries again */
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (g->edges) {
            for (uint32_t e = g->edge_at[i]; e < g->edge_at[i + 1]; e++)
                w->by[w->start[g->edges[e] + 1]++] = (uint32_t)i;
            continue;
        }
        w->parent = i; /* place_edge's "from" */
        pmd_referents(g->objects[i], place_edge, w);
    }
    return true;
}

/* ---- growing --------------------------------------------------------------- */

/* The skip-th reference from a holder to target (T6). */
typedef struct edge_find {
    const pm_object *target;
    size_t skip;
    pmd_edge edge;
} edge_find;

static int find_edge(pm_object *child, pmd_edge e, void *arg) {
    edge_find *f = arg;
    if (child != f->target || f->skip-- > 0) return 0;
    f->edge = e;
    return 1;
}

static bool expand_backward(grow *w, size_t node) {
    uint32_t i = w->t->nodes[node].index;
    size_t a = w->start[i], b = w->start[i + 1], shown = b - a, nth = 0;
    if (w->max_refs && shown > w->max_refs) shown = w->max_refs;
    w->parent = node;
    for (size_t k = a; k < a + shown; k++) {
        nth = k > a && w->by[k] == w->by[k - 1] ? nth + 1 : 0; /* a holder's next reference */
        pm_object *holder = w->g->objects[w->by[k]];
        edge_find f = {w->t->nodes[node].pub.object, nth, 0};
        pmd_referents(holder, find_edge, &f);
        if (!add_node(w, holder, f.edge, 0)) return false;
    }
    return shown == b - a || add_node(w, NULL, 0, b - a - shown);
}

static int referent_edge(pm_object *child, pmd_edge e, void *arg) {
    grow *w = arg;
    if (w->max_refs && w->t->nodes[w->parent].count >= w->max_refs) {
        w->extra++;
        return 0;
    }
    if (add_node(w, child, e, 0)) return 0;
    w->failed = true;
    return 1;
}

static bool expand_forward(grow *w, size_t node) {
    w->parent = node;
    w->extra = 0;
    pmd_referents(w->t->nodes[node].pub.object, referent_edge, w);
    return !w->failed && (w->extra == 0 || add_node(w, NULL, 0, w->extra));
}

static bool expandable(const rnode *n, size_t depth) {
    return n->index != OUTSIDE && n->pub.same == PM_REFGRAPH_NONE && n->pub.depth < depth;
}

/* The seen[] and reverse index of a session over g (T5). */
static bool grow_init(grow *w, const pmd_graph *g) {
    w->g = g;
    w->parent = PM_REFGRAPH_NONE;
    w->seen = pmh_internal_malloc((g->n ? g->n : 1) * sizeof *w->seen);
    if (w->seen == NULL) return false;
    memset(w->seen, 0xff, g->n * sizeof *w->seen); /* OUTSIDE: no node yet */
    return true;
}

/* One tree from target, which is in the graph; NULL when out of memory.
 * seen[] is left as it was found: OUTSIDE for every object (T5). */
static pm_refgraph *grow_tree(grow *w, pm_object *target, size_t depth, size_t max_refs,
                              bool backward) {
    if (backward && w->start == NULL && !build_reverse(w)) return NULL;
    w->t = pmh_internal_calloc(1, sizeof *w->t);
    if (w->t == NULL) return NULL;
    w->t->backward = backward;
    w->max_refs = max_refs;
    w->parent = PM_REFGRAPH_NONE;
    bool ok = add_node(w, target, 0, 0);
    for (size_t head = 0; ok && head < w->t->len; head++) { /* T1: the nodes are the queue */
        if (!expandable(&w->t->nodes[head], depth)) continue;
        ok = backward ? expand_backward(w, head) : expand_forward(w, head);
    }
    pm_refgraph *t = w->t;
    w->t = NULL;
    w->failed = false;
    for (size_t i = 0; i < t->len; i++)
        if (t->nodes[i].index != OUTSIDE) w->seen[t->nodes[i].index] = OUTSIDE;
    if (ok) return t;
    tree_free(t);
    return NULL;
}

static pm_refgraph *tree_of(pm_object *target, size_t depth, size_t max_refs, bool backward,
                            const char *what) {
    if (target == NULL || !pmo_live(target)) {
        pm_exc_set(PM_EXC_TYPE, "%s: expected an object, got NULL", what);
        return NULL;
    }
    grow w = {0};
    if (pmd_graph_build(&w.own, NULL) != 0) return NULL;
    if (pmd_graph_index(&w.own, target) == PMD_NONE) {
        grow_free(&w);
        pm_exc_set(PM_EXC_VALUE, "%s: not a live object of this runtime's heap", what);
        return NULL;
    }
    pm_refgraph *t =
        grow_init(&w, &w.own) ? grow_tree(&w, target, depth, max_refs, backward) : NULL;
    grow_free(&w);
    if (t == NULL) pm_exc_set(PM_EXC_MEMORY, "%s: no memory for the tree", what);
    return t;
}

pmd_trees *pmd_trees_new(const pmd_graph *g) {
    grow *w = pmh_internal_calloc(1, sizeof *w);
    if (w != NULL && grow_init(w, g)) return w;
    pmd_trees_free(w);
    return NULL;
}

pm_refgraph *pmd_trees_grow(pmd_trees *s, pm_object *target, size_t depth, size_t max_refs,
                            bool backward) {
    PM_ASSERT(pmd_graph_index(s->g, target) != PMD_NONE);
    return grow_tree(s, target, depth, max_refs, backward);
}

void pmd_trees_free(pmd_trees *s) {
    if (s == NULL) return;
    grow_free(s);
    pmh_internal_free(s);
}

pm_refgraph *pm_refgraph_backrefs(pm_object *target, size_t depth, size_t max_refs) {
    return tree_of(target, depth, max_refs, true, "pm_refgraph_backrefs");
}

pm_refgraph *pm_refgraph_refs(pm_object *target, size_t depth, size_t max_refs) {
    return tree_of(target, depth, max_refs, false, "pm_refgraph_refs");
}

/* ---- reading ------------------------------------------------------------------ */

size_t pm_refgraph_size(const pm_refgraph *g) { return g->len; }

const pm_refgraph_node *pm_refgraph_node_at(const pm_refgraph *g, size_t i) {
    return i < g->len ? &g->nodes[i].pub : NULL;
}

bool pmd_refgraph_backward(const pm_refgraph *g) { return g->backward; }

void pm_refgraph_label(const pm_refgraph *g, size_t i, char *buf, size_t size) {
    if (size == 0) return;
    buf[0] = '\0';
    if (i == 0 || i >= g->len || g->nodes[i].pub.object == NULL) return;
    const rnode *n = &g->nodes[i];
    pm_object *holder = g->backward ? n->pub.object : g->nodes[n->pub.parent].pub.object;
    pmd_edge_label(holder, n->edge, buf, size);
}

/* One line: indent, arrow and label, the object, its marks. */
static int print_node(const pm_refgraph *g, size_t i, FILE *out) {
    const pm_refgraph_node *n = &g->nodes[i].pub;
    int indent = (int)(2 * (n->depth < 40 ? n->depth : 40));
    if (n->object == NULL) return fprintf(out, "%*s... %zu more\n", indent, "", n->more);
    char label[128], repr[128];
    pm_refgraph_label(g, i, label, sizeof label);
    pmd_short_repr(n->object, repr, sizeof repr);
    const char *arrow = i == 0 ? "" : g->backward ? "<- " : "-> ";
    int r = fprintf(out, "%*s%s%s%s%s", indent, "", arrow, label, i ? " " : "", repr);
    if (r >= 0 && n->root) r = fprintf(out, "  [root '%s']", n->root);
    if (r >= 0 && n->held_from_c)
        r = fprintf(out, "  [held from C: %lld]", (long long)n->held_from_c);
    if (r >= 0 && n->same != PM_REFGRAPH_NONE) r = fprintf(out, "  (above)");
    return r < 0 ? r : fprintf(out, "\n");
}

/* Depth first, the children in their order, with an explicit stack (T1). */
int pm_refgraph_print(const pm_refgraph *g, FILE *out) {
    size_t *stack = pmh_internal_malloc((g->len ? g->len : 1) * sizeof *stack), top = 0;
    if (stack == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "pm_refgraph_print: no memory");
        return -1;
    }
    int bad = 0;
    if (g->len) stack[top++] = 0;
    while (top && !bad) {
        size_t i = stack[--top];
        bad = print_node(g, i, out) < 0;
        const rnode *n = &g->nodes[i];
        for (size_t k = n->count; k > 0; k--) stack[top++] = n->first + k - 1;
    }
    pmh_internal_free(stack);
    return bad ? -1 : 0;
}
