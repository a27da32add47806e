/*
 * refgraph.c -- the referrers of an object as a tree to a depth, and its
 * referents as one (objgraph's show_backrefs and show_refs): pm_refgraph_*
 * but the DOT writer (dot.c). docs/DESIGN.md, "Diagnostics: why is it
 * alive".
 *
 * Both trees are grown breadth-first over the runtime's graph (held.c's
 * pmd_graph, refs.c's labelled edges). Referents are refs.c's walks;
 * referrers come from a reverse index built once per call: every edge of
 * every object, grouped by the object it points to, in one array.
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

typedef struct backref {
    uint32_t from; /* the referrer's number */
    pmd_edge edge;
} backref;

/* What a call works with while it grows the tree. */
typedef struct grow {
    pmd_graph g;
    pm_refgraph *t;
    uint32_t *seen; /* per object: its first node, or OUTSIDE (T2) */
    size_t *start;  /* reverse index: referrers of i are by[start[i]..start[i+1]) */
    backref *by;
    size_t max_refs, parent, extra; /* extra: referents past max_refs */
    bool failed;
} grow;

static void grow_free(grow *w) {
    pmd_graph_free(&w->g);
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
    const pmd_root *roots = pmd_roots_of(w->g.rt, &nroots);
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
    size_t i = pmd_graph_index(&w->g, o);
    if (i == PMD_NONE) return true;
    n->pub.held_from_c = w->g.external[i];
    if (w->seen[i] != OUTSIDE) n->pub.same = w->seen[i]; /* T2 */
    else w->seen[i] = (uint32_t)self;
    n->index = (uint32_t)i;
    return n->pub.same != PM_REFGRAPH_NONE || copy_root_name(w, n);
}

/* ---- the reverse index ---------------------------------------------------- */

static int count_edge(pm_object *child, pmd_edge e, void *arg) {
    grow *w = arg;
    (void)e;
    size_t i = pmd_graph_index(&w->g, child);
    if (i != PMD_NONE) w->start[i + 2]++;
    return 0;
}

static int place_edge(pm_object *child, pmd_edge e, void *arg) {
    grow *w = arg;
    size_t i = pmd_graph_index(&w->g, child);
    if (i != PMD_NONE) w->by[w->start[i + 1]++] = (backref){(uint32_t)w->parent, e};
    return 0;
}

/* Counts land at start[i + 2]; after the sums start[i + 1] is where i's
 * referrers begin, and placing them moves it to where they end, which is
 * where i + 1's begin: start[i] .. start[i + 1] in the end, referrers in
 * address order. */
static bool build_reverse(grow *w) {
    size_t n = w->g.n;
    w->start = pmh_internal_calloc(n + 2, sizeof *w->start);
    if (w->start == NULL) return false;
    for (size_t i = 0; i < n; i++) pmd_referents(w->g.objects[i], count_edge, w);
    for (size_t i = 1; i < n + 2; i++) w->start[i] += w->start[i - 1];
    w->by = pmh_internal_malloc((w->start[n + 1] ? w->start[n + 1] : 1) * sizeof *w->by);
    if (w->by == NULL) return false;
    for (size_t i = 0; i < n; i++) {
        w->parent = i; /* place_edge's "from" */
        pmd_referents(w->g.objects[i], place_edge, w);
    }
    return true;
}

/* ---- growing --------------------------------------------------------------- */

static bool expand_backward(grow *w, size_t node) {
    uint32_t i = w->t->nodes[node].index;
    size_t a = w->start[i], b = w->start[i + 1], shown = b - a;
    if (w->max_refs && shown > w->max_refs) shown = w->max_refs;
    w->parent = node;
    for (size_t k = a; k < a + shown; k++)
        if (!add_node(w, w->g.objects[w->by[k].from], w->by[k].edge, 0)) return false;
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

static pm_refgraph *no_memory(grow *w, const char *what) {
    tree_free(w->t);
    grow_free(w);
    pm_exc_set(PM_EXC_MEMORY, "%s: no memory for the tree", what);
    return NULL;
}

static pm_refgraph *tree_of(pm_object *target, size_t depth, size_t max_refs, bool backward,
                            const char *what) {
    if (target == NULL || !pmo_live(target)) {
        pm_exc_set(PM_EXC_TYPE, "%s: expected an object, got NULL", what);
        return NULL;
    }
    grow w = {.max_refs = max_refs, .parent = PM_REFGRAPH_NONE};
    if (pmd_graph_build(&w.g, NULL) != 0) return NULL;
    if (pmd_graph_index(&w.g, target) == PMD_NONE) {
        grow_free(&w);
        pm_exc_set(PM_EXC_VALUE, "%s: not a live object of this runtime's heap", what);
        return NULL;
    }
    w.t = pmh_internal_calloc(1, sizeof *w.t);
    w.seen = pmh_internal_malloc(w.g.n * sizeof *w.seen);
    if (w.t == NULL || w.seen == NULL) return no_memory(&w, what);
    w.t->backward = backward;
    memset(w.seen, 0xff, w.g.n * sizeof *w.seen); /* OUTSIDE: no node yet */
    if (backward && !build_reverse(&w)) return no_memory(&w, what);
    w.parent = PM_REFGRAPH_NONE;
    if (!add_node(&w, target, 0, 0)) return no_memory(&w, what);
    for (size_t head = 0; head < w.t->len; head++) { /* T1: the nodes are the queue */
        if (!expandable(&w.t->nodes[head], depth)) continue;
        if (!(backward ? expand_backward(&w, head) : expand_forward(&w, head)))
            return no_memory(&w, what);
    }
    pm_refgraph *t = w.t;
    w.t = NULL;
    grow_free(&w);
    return t;
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
