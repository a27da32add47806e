/*
 * leakgraph.c -- a leak verdict's neighbourhood (pm_leak's nodes, refs
 * and backrefs): the tree of its leak root's referents and the tree of
 * its referrers (refgraph.c, grown over the leak check's graph) merged
 * into one graph of texts. The texts are taken at the check, so the
 * report outlives the objects (L5 in leaks.c); `pymm report --format
 * dot|svg` draws them beside the verdict's path.
 *
 * Owns a verdict's nodes and edges and their strings (freed by
 * pmd_leak_graph_clear, which leaks.c's leak_clear calls).
 *
 * Invariants:
 *   N1  nodes[0] is the leak root. An object has one node, made by the
 *       first tree that reaches it (referents first), so a cycle through
 *       the root closes in the drawing; a cut-off ("... N more") is a
 *       node of its own.
 *   N2  Every edge goes from the holder to the held, both < nnodes: the
 *       referents' edges lead away from node 0, the referrers' into it.
 *   N3  All or nothing: when memory fails the verdict is left with no
 *       neighbourhood (nnodes 0) and false is returned (the check then
 *       fails, L4 in leaks.c).
 *   N4  An edge is in one list: a referrer's edge the referents hold
 *       already is left out of backrefs.
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"

#include <stdio.h>
#include <string.h>

/* The neighbourhood being made: nodes by object (N1), the two edge lists. */
typedef struct hood {
    pm_object **objects; /* per node: its object; NULL for a cut-off */
    char **texts;
    size_t n, cap;
    pm_leak_edge *edges[2]; /* 0: referents, 1: referrers */
    size_t nedges[2], edge_cap[2];
    bool oom;
} hood;

static char *copy_text(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = pmh_internal_malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

/* What a node says of its object: its short description and its marks. */
static void node_text(const pm_refgraph_node *tn, char *buf, size_t size) {
    char repr[160];
    if (tn->object == NULL) {
        snprintf(buf, size, "... %zu more", tn->more);
        return;
    }
    pmd_short_repr(tn->object, repr, sizeof repr);
    if (tn->root) snprintf(buf, size, "%s [root '%s']", repr, tn->root);
    else if (tn->held_from_c)
        snprintf(buf, size, "%s [held from C: %lld]", repr, (long long)tn->held_from_c);
    else snprintf(buf, size, "%s", repr);
}

/* The node of tree node tn (N1): found by its object, else added. */
static size_t node_of(hood *h, const pm_refgraph_node *tn) {
    if (tn->object != NULL)
        for (size_t i = 0; i < h->n; i++)
            if (h->objects[i] == tn->object) return i;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 32;
        pm_object **objects = pmh_internal_realloc(h->objects, cap * sizeof *objects);
        if (objects != NULL) h->objects = objects;
        char **texts = pmh_internal_realloc(h->texts, cap * sizeof *texts);
        if (texts != NULL) h->texts = texts;
        if (objects == NULL || texts == NULL) return h->oom = true, 0;
        h->cap = cap;
    }
    char buf[256];
    node_text(tn, buf, sizeof buf);
    if ((h->texts[h->n] = copy_text(buf)) == NULL) return h->oom = true, 0;
    h->objects[h->n] = tn->object;
    return h->n++;
}

static bool has_edge(const hood *h, int list, size_t from, size_t to, const char *label) {
    for (size_t i = 0; i < h->nedges[list]; i++) {
        const pm_leak_edge *e = &h->edges[list][i];
        if (e->from == from && e->to == to && strcmp(e->label, label) == 0) return true;
    }
    return false;
}

/* An edge into list; a referrer's edge that the referents already hold
 * (a loop through the root, seen from both sides) is not repeated (N4). */
static void add_edge(hood *h, int list, size_t from, size_t to, const char *label) {
    if (list == 1 && has_edge(h, 0, from, to, label)) return;
    if (h->nedges[list] == h->edge_cap[list]) {
        size_t cap = h->edge_cap[list] ? 2 * h->edge_cap[list] : 16;
        pm_leak_edge *e = pmh_internal_realloc(h->edges[list], cap * sizeof *e);
        if (e == NULL) {
            h->oom = true;
            return;
        }
        h->edges[list] = e;
        h->edge_cap[list] = cap;
    }
    char *text = copy_text(label);
    if (text == NULL) {
        h->oom = true;
        return;
    }
    h->edges[list][h->nedges[list]++] = (pm_leak_edge){from, to, text};
}

/* Every edge of tree t into the hood: a tree's node 0 is the leak root. */
static void add_tree(hood *h, const pm_refgraph *t, int list) {
    size_t len = pm_refgraph_size(t);
    for (size_t i = 1; i < len && !h->oom; i++) {
        const pm_refgraph_node *tn = pm_refgraph_node_at(t, i);
        size_t self = node_of(h, tn);
        size_t parent = node_of(h, pm_refgraph_node_at(t, tn->parent));
        char label[128];
        pm_refgraph_label(t, i, label, sizeof label);
        if (!h->oom) add_edge(h, list, list == 0 ? parent : self, list == 0 ? self : parent, label);
    }
}

static void hood_free(hood *h) {
    for (size_t i = 0; i < h->n; i++) pmh_internal_free(h->texts[i]);
    for (int list = 0; list < 2; list++) {
        for (size_t i = 0; i < h->nedges[list]; i++)
            pmh_internal_free((char *)h->edges[list][i].label);
        pmh_internal_free(h->edges[list]);
    }
    pmh_internal_free(h->objects);
    pmh_internal_free(h->texts);
}

bool pmd_leak_graph(pmd_trees *s, pm_leak *l) {
    PM_ASSERT(l->nnodes == 0 && l->kind != PM_LEAK_BLOCK);
    pm_object *root = (pm_object *)l->address;
    hood h = {0};
    pm_refgraph *refs = pmd_trees_grow(s, root, PM_LEAK_GRAPH_DEPTH, PM_LEAK_GRAPH_FAN, false);
    pm_refgraph *backrefs =
        refs ? pmd_trees_grow(s, root, PM_LEAK_GRAPH_DEPTH, PM_LEAK_GRAPH_FAN, true) : NULL;
    if (backrefs != NULL) {
        node_of(&h, pm_refgraph_node_at(refs, 0));
        add_tree(&h, refs, 0);
        add_tree(&h, backrefs, 1);
    }
    pm_refgraph_free(refs);
    pm_refgraph_free(backrefs);
    if (backrefs == NULL || h.oom) {
        hood_free(&h);
        return false;
    }
    pmh_internal_free(h.objects);
    l->nodes = (const char *const *)h.texts;
    l->nnodes = h.n;
    l->refs = h.edges[0];
    l->nrefs = h.nedges[0];
    l->backrefs = h.edges[1];
    l->nbackrefs = h.nedges[1];
    return true;
}

void pmd_leak_graph_clear(pm_leak *l) {
    hood h = {.texts = (char **)l->nodes,
              .n = l->nnodes,
              .edges = {(pm_leak_edge *)l->refs, (pm_leak_edge *)l->backrefs},
              .nedges = {l->nrefs, l->nbackrefs}};
    hood_free(&h);
    l->nodes = NULL;
    l->refs = l->backrefs = NULL;
    l->nnodes = l->nrefs = l->nbackrefs = 0;
}
