/*
 * sizes.c -- how much memory an object stands for: its flat size (its
 * block), the memory it owns outside its block, its deep size (pympler's
 * asizeof) and its retained size (what releasing it would free), through
 * the dominator tree of the runtime's object graph (pm_size_*,
 * pm_dominators_*). docs/DESIGN.md, "Diagnostics: sizes and dominators".
 *
 * An object's bytes are its block (pm_heap_block_size: the size class of
 * a pool block) plus what its type says it owns outside it (the
 * owned_size hook: a list's item array, a dict's or a set's table, a heap
 * type's name; user types through pm_type_spec.owned_size). str and bytes
 * keep their data in their block.
 *
 * Deep size: the bytes of every object reachable from o by strong
 * references (refs.c's edges, a heap type excepted: pympler leaves
 * classes out too), each counted once, objects outside the runtime's heap
 * (statics) counting 0.
 *
 * Retained size: the graph has a virtual super-root whose edges go to the
 * declared roots, the collector's garbage list and every object held
 * from C (held.c); object d dominates w when every chain from the
 * super-root to w passes through d. Releasing d frees exactly the
 * objects it dominates, so its retained size is the sum over its subtree
 * in the dominator tree. The tree is computed by Lengauer and Tarjan's
 * algorithm (the simple version: path compression, O(E log N)), in four
 * passes over arrays indexed by depth-first number:
 *   1. a depth-first search from the super-root with an explicit stack
 *      of (object, parent) pairs, numbering each object when it is
 *      popped the first time, over the edges held.c kept while it
 *      accounted for the references (pmd_graph_build_edges: the graph
 *      is walked once);
 *   2. the predecessors, as a compressed array (counted, then filled),
 *      reading the edges row after row in the graph's order;
 *   3. semi-dominators and first guesses of idom, in reverse preorder,
 *      with eval/link over a forest whose path compression runs on an
 *      explicit stack;
 *   4. the fix-up in preorder, then subtree sums in reverse preorder (a
 *      dominator has a smaller number than what it dominates), each
 *      object's bytes read in address order.
 *
 * Invariants:
 *   Z1  No recursion anywhere: every walk runs on arrays, so a chain of
 *       10,000,000 objects costs no C stack.
 *   Z2  All memory is internal (heap/internal_alloc.h), never a block of
 *       the heap measured: the results never count the tool. A failing
 *       call frees everything and leaves MemoryError (or the census's
 *       error) pending.
 *   Z3  Numbers: 0 is "not reached", 1 the super-root, objects 2..N in
 *       preorder; parent[w] < w and idom[w] < w for w >= 2.
 *   Z4  Nothing here changes the graph: no object is made, no count
 *       touched, no slot called but traverse (refs.c) and owned_size.
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- an object's own bytes ------------------------------------------------------ */

static size_t flat_of(pm_runtime *rt, const pm_object *o) {
    return pm_heap_block_size(rt->heap, o);
}

static size_t owned_of(pm_object *o) {
    size_t (*owned)(pm_object *) = o->type->owned_size;
    return owned ? owned(o) : 0;
}

static bool check_object(pm_object *o, const char *fn) {
    if (o != NULL && pmo_live(o)) return true;
    pm_exc_set(PM_EXC_TYPE, "%s: expected an object, got NULL", fn);
    return false;
}

int64_t pm_size_flat(pm_object *o) {
    if (!check_object(o, "pm_size_flat")) return -1;
    return (int64_t)flat_of(pmo_rt(), o);
}

int64_t pm_size_owned(pm_object *o) {
    if (!check_object(o, "pm_size_owned")) return -1;
    return (int64_t)owned_of(o);
}

/* The graph's number of o, or PMD_NONE with ValueError. */
static size_t index_in(const pmd_graph *g, const pm_object *o, const char *fn) {
    size_t i = pmd_graph_index(g, o);
    if (i == PMD_NONE) pm_exc_set(PM_EXC_VALUE, "%s: not a live object of this runtime's heap", fn);
    return i;
}

/* ---- deep size --------------------------------------------------------------------- */

typedef struct deep_walk {
    pmd_graph g;
    uint8_t *seen; /* a bit per object */
    uint32_t *stack;
    size_t top;
} deep_walk;

static int deep_edge(pm_object *child, pmd_edge e, void *arg) {
    deep_walk *w = arg;
    if (PMD_EDGE_KIND(e) == PMD_EDGE_TYPE) return 0;
    size_t i = pmd_graph_index(&w->g, child);
    if (i == PMD_NONE || (w->seen[i >> 3] & (1u << (i & 7)))) return 0;
    w->seen[i >> 3] |= (uint8_t)(1u << (i & 7));
    w->stack[w->top++] = (uint32_t)i; /* each object once: n slots suffice */
    return 0;
}

int64_t pm_size_deep(pm_object *o) {
    if (!check_object(o, "pm_size_deep")) return -1;
    deep_walk w = {0};
    if (pmd_graph_objects(&w.g, NULL) != 0) return -1;
    int64_t total = -1;
    size_t i = index_in(&w.g, o, "pm_size_deep");
    if (i != PMD_NONE) {
        w.seen = pmh_internal_calloc(w.g.n / 8 + 1, 1);
        w.stack = pmh_internal_malloc(w.g.n * sizeof *w.stack + 1);
        if (w.seen == NULL || w.stack == NULL)
            pm_exc_set(PM_EXC_MEMORY, "pm_size_deep: no memory for the walk");
    }
    if (w.seen && w.stack) {
        total = 0;
        deep_edge(o, 0, &w);
        while (w.top) {
            pm_object *x = w.g.objects[w.stack[--w.top]];
            total += (int64_t)(flat_of(w.g.rt, x) + owned_of(x));
            pmd_referents(x, deep_edge, &w);
        }
    }
    pmh_internal_free(w.seen);
    pmh_internal_free(w.stack);
    pmd_graph_free(&w.g);
    return total;
}

/* ---- the dominator tree ---------------------------------------------------------------- */

typedef struct dfs_entry {
    uint32_t node; /* graph index; g.n: the super-root */
    uint32_t from; /* the number of the object it was pushed from */
} dfs_entry;

typedef struct dom {
    pmd_graph g;      /* with its edges: objects[i]'s successors  */
    uint32_t N;       /* numbered: the super-root and all it reaches */
    uint32_t *number; /* by graph index (g.n + 1 slots): Z3       */
    uint32_t *vertex; /* by number: graph index                  */
    uint32_t *parent; /* by number: depth-first tree's parent     */
    uint32_t *roots;  /* the super-root's successors              */
    size_t nroots;
    dfs_entry *stack;
    size_t top, stack_cap;
    bool failed;
    /* passes 2-3 */
    uint32_t *pred, *pred_at, *semi, *label, *ancestor, *bucket, *next, *cstack;
    uint32_t *idom;         /* by number; 0 for the super-root      */
    int64_t *count, *bytes; /* by number: retained                */
} dom;

static void dom_free_work(dom *d) {
    uint32_t **work[] = {&d->roots,    &d->pred,   &d->pred_at, &d->semi,   &d->label,
                         &d->ancestor, &d->bucket, &d->next,    &d->cstack, &d->parent};
    for (size_t i = 0; i < sizeof work / sizeof *work; i++) {
        pmh_internal_free(*work[i]);
        *work[i] = NULL;
    }
    pmh_internal_free(d->stack);
    d->stack = NULL;
}

static void dom_free(dom *d) {
    dom_free_work(d);
    pmh_internal_free(d->number);
    pmh_internal_free(d->vertex);
    pmh_internal_free(d->idom);
    pmh_internal_free(d->count);
    pmh_internal_free(d->bytes);
    pmd_graph_free(&d->g);
    memset(d, 0, sizeof *d);
}

static void push(dom *d, uint32_t node, uint32_t from) {
    if (d->top == d->stack_cap) {
        size_t cap = d->stack_cap ? d->stack_cap * 2 : 1024;
        dfs_entry *stack = pmh_internal_realloc(d->stack, cap * sizeof *stack);
        if (stack == NULL) {
            d->failed = true;
            return;
        }
        d->stack = stack;
        d->stack_cap = cap;
    }
    d->stack[d->top++] = (dfs_entry){node, from};
}

static void add_root(dom *d, pm_object *o) {
    size_t i = pmd_graph_index(&d->g, o);
    if (i != PMD_NONE) d->roots[d->nroots++] = (uint32_t)i;
}

/* The super-root's successors: roots, the garbage list, what C holds. */
static bool root_edges(dom *d) {
    size_t nroots, held = 0;
    const pmd_root *roots = pmd_roots_of(d->g.rt, &nroots);
    for (size_t i = 0; i < d->g.n; i++) held += d->g.external[i] > 0;
    d->roots = pmh_internal_malloc((nroots + 1 + held) * sizeof *d->roots);
    if (d->roots == NULL) return false;
    for (size_t r = 0; r < nroots; r++) add_root(d, roots[r].object);
    pm_object *garbage = pmgc_garbage_peek(d->g.rt);
    if (garbage) add_root(d, garbage);
    for (size_t i = 0; i < d->g.n; i++)
        if (d->g.external[i]) d->roots[d->nroots++] = (uint32_t)i;
    return true;
}

/* Graph index x's successors (x == g.n: the super-root's). */
static const uint32_t *succ_of(const dom *d, uint32_t x, size_t *n) {
    if (x == d->g.n) {
        *n = d->nroots;
        return d->roots;
    }
    *n = d->g.edge_at[x + 1] - d->g.edge_at[x];
    return d->g.edges + d->g.edge_at[x];
}

/* Pass 1: number every object the super-root reaches, depth first. */
static bool number_all(dom *d) {
    size_t n = d->g.n;
    d->number = pmh_internal_calloc(n + 1, sizeof *d->number);
    d->vertex = pmh_internal_malloc((n + 2) * sizeof *d->vertex);
    d->parent = pmh_internal_malloc((n + 2) * sizeof *d->parent);
    if (!d->number || !d->vertex || !d->parent || !root_edges(d)) return false;
    push(d, (uint32_t)n, 0);
    while (d->top && !d->failed) {
        dfs_entry e = d->stack[--d->top];
        if (d->number[e.node]) continue;
        uint32_t v = ++d->N;
        d->number[e.node] = v;
        d->vertex[v] = e.node;
        d->parent[v] = e.from;
        size_t k;
        const uint32_t *succ = succ_of(d, e.node, &k);
        while (k-- && !d->failed)
            if (d->number[succ[k]] == 0) push(d, succ[k], v);
    }
    pmh_internal_free(d->stack);
    d->stack = NULL;
    return !d->failed;
}

/* Pass 2: every number's predecessors' numbers (compressed rows). The
 * rows of edges are read in the graph's order, not by number (rows at
 * random addresses): the order within a row of predecessors does not
 * matter to pass 3 (a minimum over the row). */
static bool predecessors(dom *d) {
    uint32_t N = d->N, n = (uint32_t)d->g.n;
    size_t nedges = d->g.nedges + d->nroots;
    d->pred_at = pmh_internal_calloc((size_t)N + 2, sizeof *d->pred_at);
    d->pred = pmh_internal_malloc((nedges ? nedges : 1) * sizeof *d->pred);
    if (!d->pred_at || !d->pred) return false;
    for (uint32_t x = 0; x <= n; x++) { /* x == n: the super-root */
        size_t k;
        const uint32_t *succ = succ_of(d, x, &k);
        while (d->number[x] && k--) d->pred_at[d->number[succ[k]] + 1]++;
    }
    for (uint32_t w = 1; w <= N; w++) d->pred_at[w + 1] += d->pred_at[w];
    for (uint32_t x = 0; x <= n; x++) {
        size_t k;
        const uint32_t *succ = succ_of(d, x, &k);
        uint32_t v = d->number[x];
        while (v && k--) {
            uint32_t w = d->number[succ[k]];
            PM_ASSERT(w != 0); /* what a numbered object holds is numbered */
            d->pred[d->pred_at[w]++] = v;
        }
    }
    for (uint32_t w = N; w >= 1; w--) d->pred_at[w] = d->pred_at[w - 1]; /* undo the fill */
    return true;
}

/* Path compression on the forest, on an explicit stack (Z1): every node
 * on v's path gets the label of least semi-dominator above it. */
static void compress(dom *d, uint32_t v) {
    uint32_t *anc = d->ancestor, *label = d->label, *semi = d->semi, top = 0;
    for (uint32_t x = v; anc[anc[x]] != 0; x = anc[x]) d->cstack[top++] = x;
    while (top) {
        uint32_t y = d->cstack[--top], a = anc[y];
        if (semi[label[a]] < semi[label[y]]) label[y] = label[a];
        anc[y] = anc[a];
    }
}

static uint32_t eval(dom *d, uint32_t v) {
    if (d->ancestor[v] == 0) return v;
    compress(d, v);
    return d->label[v];
}

/* Pass 3 and the fix-up of pass 4: idom of every number. */
static bool dominators(dom *d) {
    uint32_t N = d->N;
    size_t slots = (size_t)N + 1;
    uint32_t **arrays[] = {&d->semi, &d->label,  &d->ancestor, &d->bucket,
                           &d->next, &d->cstack, &d->idom};
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++)
        if ((*arrays[i] = pmh_internal_calloc(slots, sizeof(uint32_t))) == NULL) return false;
    for (uint32_t v = 1; v <= N; v++) d->semi[v] = d->label[v] = v;
    for (uint32_t w = N; w >= 2; w--) {
        for (uint32_t k = d->pred_at[w]; k < d->pred_at[w + 1]; k++) {
            uint32_t u = eval(d, d->pred[k]);
            if (d->semi[u] < d->semi[w]) d->semi[w] = d->semi[u];
        }
        d->next[w] = d->bucket[d->semi[w]];
        d->bucket[d->semi[w]] = w;
        uint32_t p = d->parent[w];
        d->ancestor[w] = p; /* link */
        for (uint32_t v = d->bucket[p]; v; v = d->next[v]) {
            uint32_t u = eval(d, v);
            d->idom[v] = d->semi[u] < d->semi[v] ? u : p;
        }
        d->bucket[p] = 0;
    }
    for (uint32_t w = 2; w <= N; w++) {
        if (d->idom[w] != d->semi[w]) d->idom[w] = d->idom[d->idom[w]];
        PM_ASSERT(d->idom[w] >= 1 && d->idom[w] < w); /* Z3 */
    }
    d->idom[1] = 0;
    return true;
}

/* Pass 4: each number's subtree, summed from the leaves up. */
static bool retained(dom *d) {
    uint32_t N = d->N;
    d->count = pmh_internal_calloc((size_t)N + 1, sizeof *d->count);
    d->bytes = pmh_internal_calloc((size_t)N + 1, sizeof *d->bytes);
    if (!d->count || !d->bytes) return false;
    for (size_t i = 0; i < d->g.n; i++) { /* the objects in address order, not by number */
        uint32_t v = d->number[i];
        if (v < 2) continue;
        pm_object *o = d->g.objects[i];
        d->count[v] = 1;
        d->bytes[v] = (int64_t)(flat_of(d->g.rt, o) + owned_of(o));
    }
    for (uint32_t w = N; w >= 2; w--) {
        d->count[d->idom[w]] += d->count[w];
        d->bytes[d->idom[w]] += d->bytes[w];
    }
    return true;
}

/* The dominator tree of rt's graph, with retained counts and bytes: 0, or
 * -1 with the exception set and everything freed (Z2). */
static int dom_build(dom *d, pm_runtime *rt, const char *fn) {
    memset(d, 0, sizeof *d);
    if (pmd_graph_build_edges(&d->g, rt) != 0) return -1;
    bool ok = number_all(d) && predecessors(d) && dominators(d);
    dom_free_work(d);
    if (ok) ok = retained(d);
    if (!ok) {
        dom_free(d);
        pm_exc_set(PM_EXC_MEMORY, "%s: no memory for the dominator tree", fn);
        return -1;
    }
    return 0;
}

int64_t pm_size_retained(pm_object *o) {
    if (!check_object(o, "pm_size_retained")) return -1;
    dom d;
    if (dom_build(&d, NULL, "pm_size_retained") != 0) return -1;
    size_t i = index_in(&d.g, o, "pm_size_retained");
    int64_t r = i == PMD_NONE ? -1 : d.bytes[d.number[i]]; /* number 0: bytes[0] is 0 */
    dom_free(&d);
    return r;
}

/* ---- every object's retained size --------------------------------------------------------- */

struct pm_dominators {
    pm_retained *rows; /* by address */
    size_t n;
    int64_t reached, reached_bytes; /* what the super-root retains */
};

pm_dominators *pm_dominators_take(pm_runtime *rt) {
    dom d;
    if (dom_build(&d, rt, "pm_dominators_take") != 0) return NULL;
    pm_dominators *r = pmh_internal_calloc(1, sizeof *r);
    if (r) r->rows = pmh_internal_malloc((d.g.n ? d.g.n : 1) * sizeof *r->rows);
    if (r == NULL || r->rows == NULL) {
        pm_dominators_free(r);
        dom_free(&d);
        pm_exc_set(PM_EXC_MEMORY, "pm_dominators_take: no memory for the rows");
        return NULL;
    }
    for (size_t i = 0; i < d.g.n; i++) {
        uint32_t v = d.number[i], up = v ? d.idom[v] : 0;
        pm_object *dominator = up >= 2 ? d.g.objects[d.vertex[up]] : NULL;
        r->rows[i] = (pm_retained){d.g.objects[i], dominator, d.count[v], d.bytes[v]};
    }
    r->n = d.g.n;
    r->reached = d.count[1];
    r->reached_bytes = d.bytes[1];
    dom_free(&d);
    return r;
}

void pm_dominators_free(pm_dominators *r) {
    if (r == NULL) return;
    pmh_internal_free(r->rows);
    pmh_internal_free(r);
}

size_t pm_dominators_size(const pm_dominators *r) { return r->n; }

const pm_retained *pm_dominators_at(const pm_dominators *r, size_t i) {
    return i < r->n ? &r->rows[i] : NULL;
}

const pm_retained *pm_dominators_find(const pm_dominators *r, const pm_object *o) {
    size_t a = 0, b = r->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if ((uintptr_t)r->rows[mid].object < (uintptr_t)o) a = mid + 1;
        else b = mid;
    }
    return a < r->n && r->rows[a].object == o ? &r->rows[a] : NULL;
}

void pm_dominators_totals(const pm_dominators *r, int64_t *count, int64_t *bytes) {
    if (count) *count = r->reached;
    if (bytes) *bytes = r->reached_bytes;
}

/* ---- top retainers ------------------------------------------------------------------------- */

/* Retaining more: more bytes, then more objects, then the lower address
 * (a total order, so the report is stable). */
static bool retains_more(const pm_retained *a, const pm_retained *b) {
    if (a->bytes != b->bytes) return a->bytes > b->bytes;
    if (a->count != b->count) return a->count > b->count;
    return (uintptr_t)a->object < (uintptr_t)b->object;
}

/* heap[0 .. len-1] is a heap with the row retaining least at the top;
 * restore it from slot i down. */
static void sift_down(const pm_retained **heap, size_t len, size_t i) {
    for (;;) {
        size_t least = i, l = 2 * i + 1, r = l + 1;
        if (l < len && retains_more(heap[least], heap[l])) least = l;
        if (r < len && retains_more(heap[least], heap[r])) least = r;
        if (least == i) return;
        const pm_retained *t = heap[i];
        heap[i] = heap[least];
        heap[least] = t;
        i = least;
    }
}

size_t pm_dominators_top(const pm_dominators *r, size_t max, const pm_retained **out) {
    size_t len = 0;
    for (size_t i = 0; i < r->n && max; i++) {
        const pm_retained *row = &r->rows[i];
        if (row->count == 0) continue; /* unreachable */
        if (len < max) {
            out[len++] = row;
            for (size_t k = len - 1; k > 0 && retains_more(out[(k - 1) / 2], out[k]);
                 k = (k - 1) / 2) {
                const pm_retained *t = out[k];
                out[k] = out[(k - 1) / 2];
                out[(k - 1) / 2] = t;
            }
        } else if (retains_more(row, out[0])) {
            out[0] = row;
            sift_down(out, len, 0);
        }
    }
    for (size_t end = len; end > 1; end--) { /* heap sort: the most first */
        const pm_retained *t = out[0];
        out[0] = out[end - 1];
        out[end - 1] = t;
        sift_down(out, end - 1, 0);
    }
    return len;
}

int pm_dominators_print_top(const pm_dominators *r, FILE *out, size_t max) {
    if (max > r->n) max = r->n; /* no more rows than objects: and no overflow below */
    const pm_retained **top = pmh_internal_malloc((max ? max : 1) * sizeof *top);
    if (top == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "pm_dominators_print_top: no memory");
        return -1;
    }
    size_t n = pm_dominators_top(r, max, top);
    char repr[128];
    int bad = fprintf(out, "%-16s %12s %14s  %s\n", "type", "retains", "bytes", "object") < 0;
    for (size_t i = 0; i < n && !bad; i++) {
        pmd_short_repr(top[i]->object, repr, sizeof repr);
        bad = fprintf(out, "%-16s %12" PRId64 " %14" PRId64 "  %s\n", top[i]->object->type->name,
                      top[i]->count, top[i]->bytes, repr) < 0;
    }
    if (!bad)
        bad = fprintf(out, "%-16s %12" PRId64 " %14" PRId64 "  (reachable from the roots)\n",
                      "total", r->reached, r->reached_bytes) < 0;
    pmh_internal_free(top);
    return bad ? -1 : 0;
}
