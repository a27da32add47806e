/*
 * gcgraph_cmd.c -- `pymm gcgraph [--saveall] FILE`: pymm's answer to a
 * gcgraph v1 file (docs/GCGRAPH.md), line for line comparable
 * with CPython's (tools/gcgraph/oracle.py).
 *
 * Owns: the reader of the format, the node types (a GC type whose
 * instances hold an out-list and a weak-list, both pm lists; a variant with
 * a PEP 442 finalizer), the five phases, and the canonical output.
 *
 * Every event is observed on real pymm objects under pymm's own reference
 * counting and collector (automatic collection off, full collections by
 * pm_gc_collect(2), saveall by PM_GC_DEBUG_SAVEALL); nothing is modelled:
 *
 *   fin, broken   logged by the fin type's finalize slot
 *   wrcb          logged by the weak references' C callback
 *   freed         logged by the node types' dealloc slot
 *   garbage       nodes that entered pm_gc_garbage() during the phase
 *   wclear        pm_weakref_get gave the target at the phase's start and
 *                 None at its end, and the weak reference object still exists
 *   wgone         the weak reference object is no longer among the
 *                 collector's tracked objects (pm_gc_get_objects), the way
 *                 the reference runner finds it with gc.get_objects()
 *   leak          nodes whose dealloc slot has not run after `end`
 *
 * The runner keeps dangling pointers to weak reference objects that died
 * only as keys: it compares them with live objects' addresses and never
 * follows them. No weak reference is made after the build, so an address
 * that reappears among live weak references is the same object.
 *
 * The node slots have no context argument, so the run in progress is
 * reached through one static pointer (the command runs one graph at a time).
 */
#include "cli_file.h"
#include "pymm.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pymm_gcgraph_main(int argc, char **argv);

enum { PH_BUILD, PH_DROP, PH_COLLECT, PH_FINAL, PH_END, PH_COUNT, PH_NONE = -1 };
enum { K_FIN, K_BROKEN, K_WRCB, K_FREED, K_GARBAGE, K_WCLEAR, K_WGONE, K_LEAK, K_COUNT };

static const char *const phase_names[PH_COUNT] = {"build", "drop", "collect", "final", "end"};
static const char *const kind_names[K_COUNT] = {"fin",     "broken", "wrcb",  "freed",
                                                "garbage", "wclear", "wgone", "leak"};

/* ---- failure ------------------------------------------------------------- */

/* Exit statuses: 2 for a bad command line or file, 3 when pymm failed. */
static void die(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("pymm gcgraph: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

/* A pymm call failed: name it with the pending exception. */
static void die_pm(const char *what) {
    die(3, "%s failed: %s: %s", what, pm_exc_name(pm_exc_occurred()), pm_exc_message());
}

/* ---- growable arrays ------------------------------------------------------ */

typedef struct vec {
    char *data;
    size_t len, cap, size; /* size: bytes per element */
} vec;

/* A new zeroed element at the end. */
static void *vec_push(vec *v) {
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        char *p = realloc(v->data, cap * v->size);
        if (p == NULL) die(3, "out of memory");
        v->data = p;
        v->cap = cap;
    }
    void *e = v->data + v->len++ * v->size;
    memset(e, 0, v->size);
    return e;
}

#define VEC(T)                                                                                     \
    { NULL, 0, 0, sizeof(T) }
#define AT(v, T, i) (((T *)(v).data)[i])

/* ---- map: 64-bit key -> index ----------------------------------------------
 * Open addressing, linear probing, at most half full. Keys are ids (>= 0)
 * or addresses; neither is ever KEY_EMPTY. */

#define KEY_EMPTY UINT64_MAX

typedef struct id_map {
    uint64_t *keys;
    size_t *vals;
    size_t cap, len;
} id_map;

static size_t map_home(const id_map *m, uint64_t key) {
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (m->cap - 1);
}

/* The slot holding key, or the free slot where it would go. */
static size_t map_slot(const id_map *m, uint64_t key) {
    size_t i = map_home(m, key);
    while (m->keys[i] != key && m->keys[i] != KEY_EMPTY) i = (i + 1) & (m->cap - 1);
    return i;
}

static bool map_get(const id_map *m, uint64_t key, size_t *val) {
    if (m->len == 0) return false;
    size_t i = map_slot(m, key);
    if (m->keys[i] == KEY_EMPTY) return false;
    *val = m->vals[i];
    return true;
}

static void map_put(id_map *m, uint64_t key, size_t val);

static void map_resize(id_map *m, size_t cap) {
    id_map old = *m;
    m->keys = malloc(cap * sizeof *m->keys);
    m->vals = malloc(cap * sizeof *m->vals);
    if (m->keys == NULL || m->vals == NULL) die(3, "out of memory");
    for (size_t i = 0; i < cap; i++) m->keys[i] = KEY_EMPTY;
    m->cap = cap;
    m->len = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i] != KEY_EMPTY) map_put(m, old.keys[i], old.vals[i]);
    free(old.keys);
    free(old.vals);
}

static void map_put(id_map *m, uint64_t key, size_t val) {
    if ((m->len + 1) * 2 > m->cap) map_resize(m, m->cap ? m->cap * 2 : 64);
    size_t i = map_slot(m, key);
    if (m->keys[i] == KEY_EMPTY) m->len++;
    m->keys[i] = key;
    m->vals[i] = val;
}

static void map_free(id_map *m) {
    free(m->keys);
    free(m->vals);
    *m = (id_map){0};
}

/* ---- the graph as read -------------------------------------------------- */

typedef struct node_spec {
    int64_t nid;
    bool fin, res;
} node_spec;

typedef struct weak_spec {
    int64_t wid;
    size_t target, owner; /* node indices; owner unused when ext */
    bool ext, cb;
} weak_spec;

typedef struct edge_spec {
    size_t src, dst; /* node indices */
} edge_spec;

typedef struct graph {
    vec nodes;                     /* node_spec, file order */
    vec edges;                     /* edge_spec, file order */
    vec weaks;                     /* weak_spec, file order */
    vec roots, keeps;              /* size_t node indices */
    id_map node_index, weak_index; /* id -> index */
} graph;

static void graph_init(graph *g) {
    *g = (graph){.nodes = VEC(node_spec),
                 .edges = VEC(edge_spec),
                 .weaks = VEC(weak_spec),
                 .roots = VEC(size_t),
                 .keeps = VEC(size_t)};
}

static void graph_free(graph *g) {
    free(g->nodes.data);
    free(g->edges.data);
    free(g->weaks.data);
    free(g->roots.data);
    free(g->keeps.data);
    map_free(&g->node_index);
    map_free(&g->weak_index);
}

/* ---- reading the file ------------------------------------------------------ */

#define MAX_WORDS 8

/* Where the reader is, for its messages. */
typedef struct reader {
    const char *path;
    size_t line;
} reader;

/* A malformed file: `pymm gcgraph: FILE:LINE: message`, exit status 2. */
static void bad(const reader *rd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pymm gcgraph: %s:%zu: ", rd->path, rd->line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* The file whole (the same size limit as `pymm json`). The format is
 * text: a NUL byte is an error at its line, never the end of the file. */
static char *read_file(const char *path) {
    size_t len;
    char why[160];
    char *text = pymm_read_input(path, PYMM_CLI_MAX_INPUT, &len, why, sizeof why);
    if (text == NULL) die(2, "%s: %s", path, why);
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        reader rd = {path, 1};
        for (const char *p = text; (p = memchr(p, '\n', (size_t)(nul - p))) != NULL; p++) rd.line++;
        free(text);
        bad(&rd, "NUL byte");
    }
    return text;
}

/* Split line (modified in place) into words, a `#` ending it; returns the
 * number of words, or MAX_WORDS + 1 when there are too many. */
static int split_words(char *line, char **words) {
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    int n = 0;
    for (char *w = strtok(line, " \t\r\v\f"); w; w = strtok(NULL, " \t\r\v\f")) {
        if (n == MAX_WORDS) return MAX_WORDS + 1;
        words[n++] = w;
    }
    return n;
}

static int64_t number(const reader *rd, const char *w) {
    int64_t v = 0;
    if (*w == '\0') bad(rd, "expected a number >= 0");
    for (const char *p = w; *p; p++) {
        if (*p < '0' || *p > '9') bad(rd, "expected a number >= 0, got '%s'", w);
        if (v > (INT64_MAX - (*p - '0')) / 10) bad(rd, "number too large: %s", w);
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* The index of a node already defined. */
static size_t node_ref(const reader *rd, graph *g, const char *w) {
    int64_t nid = number(rd, w);
    size_t i;
    if (!map_get(&g->node_index, (uint64_t)nid, &i))
        bad(rd, "node %" PRId64 " used before its 'node' line", nid);
    return i;
}

static void parse_node(const reader *rd, graph *g, char **args, int n) {
    if (n < 1) bad(rd, "usage: node <nid> [fin] [res]");
    int64_t nid = number(rd, args[0]);
    bool fin = false, res = false;
    for (int i = 1; i < n; i++) {
        if (strcmp(args[i], "fin") == 0) fin = true;
        else if (strcmp(args[i], "res") == 0) res = fin = true;
        else bad(rd, "usage: node <nid> [fin] [res]");
    }
    size_t dummy;
    if (map_get(&g->node_index, (uint64_t)nid, &dummy))
        bad(rd, "node %" PRId64 " defined twice", nid);
    map_put(&g->node_index, (uint64_t)nid, g->nodes.len);
    *(node_spec *)vec_push(&g->nodes) = (node_spec){nid, fin, res};
}

static void parse_weak(const reader *rd, graph *g, char **args, int n) {
    if (n == 4 && strcmp(args[3], "cb") != 0) bad(rd, "usage: weak <wid> <target> <owner> [cb]");
    int64_t wid = number(rd, args[0]);
    size_t dummy;
    if (map_get(&g->weak_index, (uint64_t)wid, &dummy))
        bad(rd, "weak %" PRId64 " defined twice", wid);
    weak_spec w = {.wid = wid, .cb = n == 4, .ext = strcmp(args[2], "ext") == 0};
    if (!w.ext) w.owner = node_ref(rd, g, args[2]);
    w.target = node_ref(rd, g, args[1]);
    map_put(&g->weak_index, (uint64_t)wid, g->weaks.len);
    *(weak_spec *)vec_push(&g->weaks) = w;
}

static void parse_directive(const reader *rd, graph *g, char **w, int n) {
    char **args = w + 1;
    int nargs = n - 1;
    if (strcmp(w[0], "node") == 0) {
        parse_node(rd, g, args, nargs);
    } else if (strcmp(w[0], "edge") == 0 && nargs == 2) {
        edge_spec e = {node_ref(rd, g, args[0]), node_ref(rd, g, args[1])};
        *(edge_spec *)vec_push(&g->edges) = e;
    } else if (strcmp(w[0], "weak") == 0 && (nargs == 3 || nargs == 4)) {
        parse_weak(rd, g, args, nargs);
    } else if (strcmp(w[0], "root") == 0 && nargs == 1) {
        *(size_t *)vec_push(&g->roots) = node_ref(rd, g, args[0]);
    } else if (strcmp(w[0], "keep") == 0 && nargs == 1) {
        *(size_t *)vec_push(&g->keeps) = node_ref(rd, g, args[0]);
    } else {
        bad(rd, "unknown or malformed directive '%s'", w[0]);
    }
}

static void parse_file(const char *path, graph *g) {
    char *text = read_file(path);
    reader rd = {path, 0};
    bool header = false;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        rd.line++;
        char *words[MAX_WORDS];
        int n = split_words(line, words);
        if (n > MAX_WORDS) bad(&rd, "too many words");
        if (n == 0) continue;
        if (!header) {
            if (n != 2 || strcmp(words[0], "gcgraph") != 0 || strcmp(words[1], "1") != 0)
                bad(&rd, "expected 'gcgraph 1'");
            header = true;
            continue;
        }
        parse_directive(&rd, g, words, n);
    }
    free(text);
    if (!header) die(2, "%s: empty file: expected 'gcgraph 1'", path);
}

/* ---- the run ---------------------------------------------------------------- */

typedef struct event {
    int phase, kind;
    int64_t id;
} event;

typedef struct node_rec {
    int64_t nid;
    bool alive;      /* its dealloc slot has not run                   */
    bool in_garbage; /* in pm_gc_garbage() at the last phase end        */
} node_rec;

typedef struct weak_rec {
    int64_t wid;
    pm_object *wr;   /* borrowed; once dead, only compared (see the top) */
    bool alive;      /* still among the tracked objects                  */
    bool had_target; /* pm_weakref_get gave the target at the phase start */
} weak_rec;

#define MAX_INFO 8

typedef struct run {
    int phase; /* where events go; PH_NONE: nowhere      */
    bool saveall;
    vec events;              /* event */
    char info[MAX_INFO][96]; /* the # lines                            */
    int ninfo;
    pm_type *plain_type, *fin_type;
    /* External strong references (GCGRAPH.md), pm lists. */
    pm_object *builder, *roots, *keeps, *saved, *ext;
    node_rec *nodes;
    size_t nnodes;
    weak_rec *weaks;
    size_t nweaks;
    id_map weak_by_addr; /* weak reference address -> weaks index  */
} run;

static run *run_now;

static void log_event(run *r, int kind, int64_t id) {
    if (r->phase == PH_NONE) return;
    *(event *)vec_push(&r->events) = (event){r->phase, kind, id};
}

/* ---- the node types ---------------------------------------------------------- */

typedef struct gg_node {
    pm_object ob;
    size_t index;    /* into run->nodes                                  */
    bool res;        /* its finalizer resurrects it                      */
    bool cleared;    /* the collector's clear slot ran: no longer intact */
    pm_object *out;  /* pm list of nodes, strong, file order             */
    pm_object *weak; /* pm list of the weak references it owns           */
} gg_node;

#define NODE(o) ((gg_node *)(o))

static int node_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    gg_node *n = NODE(self);
    int r = n->out ? visit(n->out, arg) : 0;
    return r ? r : n->weak ? visit(n->weak, arg) : 0;
}

/* The collector breaks a cycle here; the flag lets finalizers that run
 * later see a neighbour that is no longer intact. */
static int node_clear(pm_object *self) {
    gg_node *n = NODE(self);
    n->cleared = true;
    PM_CLEAR(n->out);
    PM_CLEAR(n->weak);
    return 0;
}

/* Out-list before weak-list: the order in which CPython's subtype_dealloc
 * releases the reference runner's slots (sorted: nid, out, weak). */
static void node_dealloc(pm_object *self) {
    gg_node *n = NODE(self);
    run *r = run_now;
    r->nodes[n->index].alive = false;
    log_event(r, K_FREED, r->nodes[n->index].nid);
    PM_CLEAR(n->out);
    PM_CLEAR(n->weak);
}

/* Every out-neighbour still intact (the node's own out-list included). */
static bool neighbours_intact(gg_node *n) {
    if (n->cleared || n->out == NULL) return false;
    size_t k = pm_list_size(n->out);
    for (size_t i = 0; i < k; i++)
        if (NODE(pm_list_get(n->out, (int64_t)i))->cleared) return false;
    return true;
}

static void node_finalize(pm_object *self) {
    gg_node *n = NODE(self);
    run *r = run_now;
    int64_t nid = r->nodes[n->index].nid;
    log_event(r, K_FIN, nid);
    if (!neighbours_intact(n)) log_event(r, K_BROKEN, nid);
    if (n->res && pm_list_append(r->saved, self) != 0) die_pm("resurrection (pm_list_append)");
}

/* Weak references find their number by address: the object is alive while
 * its callback runs. */
static void weak_callback(pm_object *wr, pm_object *arg) {
    (void)arg;
    run *r = run_now;
    size_t i;
    if (map_get(&r->weak_by_addr, (uint64_t)(uintptr_t)wr, &i))
        log_event(r, K_WRCB, r->weaks[i].wid);
}

static pm_type *make_type(const char *name, bool fin) {
    pm_type_spec spec = {
        .name = name,
        .basicsize = sizeof(gg_node),
        .flags = PM_TPFLAGS_GC | PM_TPFLAGS_WEAKREF,
        .slots = {.dealloc = node_dealloc,
                  .traverse = node_traverse,
                  .clear = node_clear,
                  .finalize = fin ? node_finalize : NULL},
    };
    pm_type *t = pm_type_new(&spec);
    if (t == NULL) die_pm("pm_type_new");
    return t;
}

static bool is_node(const pm_object *o, const run *r) {
    return o->type == r->plain_type || o->type == r->fin_type;
}

/* ---- building ----------------------------------------------------------------- */

static pm_object *new_list(void) {
    pm_object *l = pm_list_new(0);
    if (l == NULL) die_pm("pm_list_new");
    return l;
}

static void append(pm_object *list, pm_object *item) {
    if (pm_list_append(list, item) != 0) die_pm("pm_list_append");
}

/* The builder's list owns the only reference to each node it made. */
static void build_nodes(run *r, const graph *g) {
    r->nnodes = g->nodes.len;
    r->nodes = calloc(r->nnodes ? r->nnodes : 1, sizeof *r->nodes);
    if (r->nodes == NULL) die(3, "out of memory");
    for (size_t i = 0; i < r->nnodes; i++) {
        const node_spec *s = &AT(g->nodes, node_spec, i);
        pm_object *o = pm_object_new(s->fin ? r->fin_type : r->plain_type);
        if (o == NULL) die_pm("pm_object_new");
        r->nodes[i] = (node_rec){.nid = s->nid, .alive = true};
        NODE(o)->index = i;
        NODE(o)->res = s->res;
        NODE(o)->out = new_list();
        NODE(o)->weak = new_list();
        if (pm_list_append_steal(r->builder, o) != 0) die_pm("pm_list_append_steal");
    }
}

static pm_object *node_at(const run *r, size_t i) { return pm_list_get(r->builder, (int64_t)i); }

static void build_weak(run *r, const weak_spec *w, size_t i) {
    pm_object *wr = pm_weakref_new(node_at(r, w->target), w->cb ? weak_callback : NULL, NULL);
    if (wr == NULL) die_pm("pm_weakref_new");
    /* wgone is read off the tracked objects: an untracked weak reference
     * would look dead at once. */
    if (!pm_gc_is_tracked(wr)) die(3, "pm_weakref_new returned an untracked weak reference");
    r->weaks[i] = (weak_rec){.wid = w->wid, .wr = wr, .alive = true, .had_target = true};
    map_put(&r->weak_by_addr, (uint64_t)(uintptr_t)wr, i);
    pm_object *owner_list = w->ext ? r->ext : NODE(node_at(r, w->owner))->weak;
    if (pm_list_append_steal(owner_list, wr) != 0) die_pm("pm_list_append_steal");
}

static void build(run *r, const graph *g) {
    r->builder = new_list();
    r->roots = new_list();
    r->keeps = new_list();
    r->saved = new_list();
    r->ext = new_list();
    build_nodes(r, g);
    for (size_t i = 0; i < g->edges.len; i++) {
        const edge_spec *e = &AT(g->edges, edge_spec, i);
        append(NODE(node_at(r, e->src))->out, node_at(r, e->dst));
    }
    r->nweaks = g->weaks.len;
    r->weaks = calloc(r->nweaks ? r->nweaks : 1, sizeof *r->weaks);
    if (r->weaks == NULL) die(3, "out of memory");
    for (size_t i = 0; i < r->nweaks; i++) build_weak(r, &AT(g->weaks, weak_spec, i), i);
    for (size_t i = 0; i < g->roots.len; i++) append(r->roots, node_at(r, AT(g->roots, size_t, i)));
    for (size_t i = 0; i < g->keeps.len; i++) append(r->keeps, node_at(r, AT(g->keeps, size_t, i)));
}

/* ---- observing ------------------------------------------------------------------ */

/* Whether wr's target is alive now. */
static bool has_target(pm_object *wr) {
    pm_object *t = pm_weakref_get(wr);
    if (t == NULL) die_pm("pm_weakref_get");
    bool alive = !pm_is_type(t, &pm_none_type);
    pm_decref(t);
    return alive;
}

/* The addresses of the live weak reference objects, from the collector. */
static void live_weakrefs(id_map *live) {
    pm_object *all = pm_gc_get_objects(-1);
    if (all == NULL) die_pm("pm_gc_get_objects");
    size_t n = pm_list_size(all);
    for (size_t i = 0; i < n; i++) {
        pm_object *o = pm_list_get(all, (int64_t)i);
        if (pm_is_type(o, &pm_weakref_type)) map_put(live, (uint64_t)(uintptr_t)o, 0);
    }
    pm_decref(all);
}

static void observe_weakrefs(run *r) {
    id_map live = {0};
    live_weakrefs(&live);
    size_t dummy;
    for (size_t i = 0; i < r->nweaks; i++) {
        weak_rec *w = &r->weaks[i];
        if (!w->alive) continue;
        if (!map_get(&live, (uint64_t)(uintptr_t)w->wr, &dummy)) {
            w->alive = false;
            log_event(r, K_WGONE, w->wid);
            continue;
        }
        bool now = has_target(w->wr);
        if (w->had_target && !now) log_event(r, K_WCLEAR, w->wid);
        w->had_target = now;
    }
    map_free(&live);
}

/* Nodes that entered pm_gc_garbage() since the last phase end. */
static void observe_garbage(run *r) {
    pm_object *garbage = pm_gc_garbage();
    if (garbage == NULL) die_pm("pm_gc_garbage");
    bool *now = calloc(r->nnodes ? r->nnodes : 1, sizeof *now);
    if (now == NULL) die(3, "out of memory");
    size_t n = pm_list_size(garbage);
    for (size_t i = 0; i < n; i++) {
        pm_object *o = pm_list_get(garbage, (int64_t)i);
        if (is_node(o, r)) now[NODE(o)->index] = true;
    }
    for (size_t i = 0; i < r->nnodes; i++) {
        if (now[i] && !r->nodes[i].in_garbage) log_event(r, K_GARBAGE, r->nodes[i].nid);
        r->nodes[i].in_garbage = now[i];
    }
    free(now);
}

/* ---- the phases ------------------------------------------------------------------- */

static void collect(run *r, const char *label) {
    int64_t n = pm_gc_collect(2);
    if (n < 0) die_pm("pm_gc_collect");
    if (pm_gc_check() < 0) die_pm("pm_gc_check"); /* the collector left itself sound */
    if (r->ninfo < MAX_INFO)
        snprintf(r->info[r->ninfo++], sizeof r->info[0], "# %s: pm_gc_collect(2) -> %" PRId64,
                 label, n);
}

/* Empty an external list by refcounting. The list is replaced before its
 * items go, so a finalizer that resurrects into it (SAVED) is kept, as
 * CPython's list.clear() keeps it. */
static void release(pm_object **list) {
    pm_object *old = *list;
    *list = new_list();
    pm_decref(old);
}

/* gc.garbage is the collector's list (borrowed): pop its items one by one,
 * from the end as CPython's list.clear() drops them. */
static void release_garbage(void) {
    pm_object *garbage = pm_gc_garbage();
    if (garbage == NULL) die_pm("pm_gc_garbage");
    while (pm_list_size(garbage) > 0) {
        pm_object *o = pm_list_pop(garbage, -1);
        if (o == NULL) die_pm("pm_list_pop");
        pm_decref(o);
    }
}

static void run_phase(run *r, int phase) {
    switch (phase) {
        case PH_BUILD: release(&r->builder); break;
        case PH_DROP: release(&r->roots); break;
        case PH_COLLECT: collect(r, "collect"); break;
        case PH_FINAL:
            pm_gc_set_debug(0);
            release(&r->saved);
            release_garbage();
            collect(r, "final");
            break;
        case PH_END:
            release(&r->keeps);
            collect(r, "end/1");
            release(&r->saved);
            collect(r, "end/2");
            break;
    }
}

static void run_phases(run *r) {
    for (int phase = 0; phase < PH_COUNT; phase++) {
        r->phase = phase;
        run_phase(r, phase);
        observe_weakrefs(r);
        observe_garbage(r);
    }
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].alive) log_event(r, K_LEAK, r->nodes[i].nid);
    r->phase = PH_NONE;
}

/* ---- teardown -------------------------------------------------------------------
 * After `end` the run lets go of everything it holds, so that pymm frees
 * the whole graph (and the types, which own a malloc'd name) and leak
 * checkers see pymm's objects only. Nothing is logged any more. A node that
 * resurrects here for the first time goes back to SAVED; each node does so
 * at most once, so the loop ends. */
static void teardown(run *r) {
    r->phase = PH_NONE;
    PM_CLEAR(r->ext);
    PM_CLEAR(r->builder);
    PM_CLEAR(r->roots);
    PM_CLEAR(r->keeps);
    for (size_t i = 0; i <= r->nnodes && pm_list_size(r->saved) > 0; i++) {
        release(&r->saved);
        release_garbage();
        pm_gc_collect(2);
    }
    PM_CLEAR(r->saved);
    pm_gc_collect(2);
    PM_CLEAR(r->plain_type);
    PM_CLEAR(r->fin_type);
}

/* ---- output ------------------------------------------------------------------------ */

static int event_order(const void *a, const void *b) {
    const event *x = a, *y = b;
    if (x->phase != y->phase) return x->phase < y->phase ? -1 : 1;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void print_output(run *r) {
    printf("# pymm %s saveall=%d\n", PYMM_VERSION_STRING, r->saveall);
    for (int i = 0; i < r->ninfo; i++) printf("%s\n", r->info[i]);
    event *ev = (event *)r->events.data;
    size_t n = r->events.len;
    if (n) qsort(ev, n, sizeof *ev, event_order);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && event_order(&ev[i - 1], &ev[i]) == 0) continue; /* at most once each */
        printf("%s %s %" PRId64 "\n", phase_names[ev[i].phase], kind_names[ev[i].kind], ev[i].id);
    }
}

/* ---- the command ----------------------------------------------------------------- */

static int usage(FILE *f) {
    fprintf(f, "usage: pymm gcgraph [--saveall] [--debug] FILE\n"
               "  runs a gcgraph v1 file (format: docs/GCGRAPH.md) through pymm's\n"
               "  reference counting and collector and prints the canonical lines\n"
               "  --saveall: collected nodes go to the garbage list (gc.DEBUG_SAVEALL)\n"
               "  --debug: the runtime's object debug checks (freed-object quarantine)\n"
               "exit status: 0 done, 2 bad command line or file (FILE:LINE: message),\n"
               "  3 a pymm call failed\n");
    return f == stderr ? 2 : 0;
}

/* A private runtime: the graph's objects and the collector's state are its
 * own, and all go with it at the end (leaked nodes included). */
static int run_graph(const graph *g, bool saveall, bool debug) {
    pm_runtime_config cfg = {.heap = NULL, .debug = debug};
    pm_runtime *rt = pm_runtime_new(&cfg);
    if (rt == NULL) die(3, "pm_runtime_new failed");
    pm_runtime *saved_rt = pm_runtime_enter(rt);
    run r = {.phase = PH_BUILD, .saveall = saveall, .events = VEC(event)};
    run_now = &r;
    pm_gc_disable();
    pm_gc_set_debug(saveall ? PM_GC_DEBUG_SAVEALL : 0);
    r.plain_type = make_type("gcgraph.Node", false);
    r.fin_type = make_type("gcgraph.FinNode", true);
    build(&r, g);
    run_phases(&r);
    print_output(&r);
    teardown(&r);
    run_now = NULL;
    pm_runtime_enter(saved_rt);
    pm_runtime_destroy(rt);
    free(r.events.data);
    free(r.nodes);
    free(r.weaks);
    map_free(&r.weak_by_addr);
    return fflush(stdout) == 0 ? 0 : 3;
}

int pymm_gcgraph_main(int argc, char **argv) {
    bool saveall = false, debug = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--saveall") == 0) saveall = true;
        else if (strcmp(argv[i], "--debug") == 0) debug = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return usage(stdout);
        else if (argv[i][0] == '-' || path) return usage(stderr);
        else path = argv[i];
    }
    if (path == NULL) return usage(stderr);
    graph g;
    graph_init(&g);
    parse_file(path, &g);
    int status = run_graph(&g, saveall, debug);
    graph_free(&g);
    return status;
}
