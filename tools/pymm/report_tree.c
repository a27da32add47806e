/*
 * report_tree.c -- the stacks of one or two captures on one tree keyed by
 * what their frames mean (report.h, rpt_tree): `pymm report --diff`
 * compares two runs on it (report_diff.c), and the formats other tools
 * read (collapsed, pprof, speedscope: report_formats.c, report_pprof.c)
 * are written from it.
 *
 * Node ids and pcs mean nothing across runs: ids follow the order in which
 * a run met its stacks, and ASLR loads the same binary elsewhere each
 * time. A frame is what names it: for a native frame, its module's path
 * with the function, file and line libdw gives, or, where libdw cannot
 * say, the offset from the module's load bias (the module+0xOFFSET the
 * report prints); for an interpreter frame, its file, function and line.
 * A tree made by_name keys a frame by the function, file and line it
 * prints alone, and puts every domain under one root: two of its stacks
 * never print alike, which collapsed stacks and flame graphs need. A
 * stack is its parent stack and its frame; nodes of one capture that
 * mean the same (two calls on one line) fall together and their figures
 * add up.
 *
 * Invariants: a tree stack's parent has a smaller id (a node's parent is
 * mapped before it); ids 1..RPT_ROOTS are the roots; every frame id names
 * a kept name (frames[id].function != NULL), while other key ids are
 * module paths, only for the memo. Memory: 12 bytes per distinct stack
 * (its parent, frame and figures' index) and a slot of the map that
 * finds it, figures (two captures' figures in all views, 128 bytes) only
 * for the stacks that allocated, one entry per distinct frame (its
 * function and file interned: many frames share them), the last
 * capture's node-to-stack map (nodes: the page sums that capture's
 * events by tree stack), and while a capture is added a map from its pcs
 * to frames (an array by location for interpreter frames). Once sealed
 * (rpt_tree_seal), the tables that only match frames and stacks are
 * gone. Naming is most of the cost beyond reading, and a frame of one
 * module at one offset has one name, so it is named once for both
 * captures.
 */
#define _GNU_SOURCE
#include "report.h"

#include <stdlib.h>
#include <string.h>

/* ---- maps ---------------------------------------------------------------- */

static size_t map_home(const rpt_map *m, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> m->shift);
}

static uint32_t *map_probe(const rpt_map *m, uint64_t key) {
    for (size_t i = map_home(m, key);; i = (i + 1) & (m->cap - 1))
        if (m->ids[i] == 0 || m->keys[i] == key) return &m->ids[i];
}

uint32_t *rpt_map_slot(rpt_map *m, uint64_t key) {
    if ((m->n + 1) * 2 > m->cap) {
        rpt_map t = {.cap = m->cap ? m->cap * 2 : 1024};
        t.shift = 64u - (unsigned)__builtin_ctzll(t.cap);
        t.keys = malloc(t.cap * sizeof *t.keys);
        t.ids = calloc(t.cap, sizeof *t.ids);
        if (t.keys == NULL || t.ids == NULL) {
            free(t.keys);
            free(t.ids);
            return NULL;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->ids[i] == 0) continue;
            uint32_t *id = map_probe(&t, m->keys[i]);
            *id = m->ids[i];
            t.keys[id - t.ids] = m->keys[i];
        }
        t.n = m->n;
        free(m->keys);
        free(m->ids);
        *m = t;
    }
    uint32_t *id = map_probe(m, key);
    if (*id == 0) {
        m->keys[id - m->ids] = key;
        m->n++;
    }
    return id;
}

void rpt_map_free(rpt_map *m) {
    free(m->keys);
    free(m->ids);
    *m = (rpt_map){0};
}

/* ---- interned strings ---------------------------------------------------- */

static uint64_t hash_string(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* Distinct strings whose hashes clash take the next free hash value. */
uint32_t rpt_intern(rpt_strings *t, char *s) {
    if (t->n == 0) t->n = 1; /* ids from 1: 0 is an empty slot */
    uint32_t *id = NULL;
    for (uint64_t h = hash_string(s); s; h++) {
        id = rpt_map_slot(&t->ids, h);
        if (id == NULL || (*id && strcmp(t->strings[*id], s) == 0)) break;
        if (*id) continue;
        if (!rpt_grow((void **)&t->strings, &t->cap, t->n + 1, sizeof *t->strings)) {
            t->ids.n--; /* the slot stays empty */
            id = NULL;
            break;
        }
        t->strings[t->n] = s;
        return *id = (uint32_t)t->n++;
    }
    free(s);
    return id ? *id : 0;
}

void rpt_strings_free(rpt_strings *t) {
    for (size_t i = 1; i < t->n; i++) free(t->strings[i]);
    free(t->strings);
    rpt_map_free(&t->ids);
    *t = (rpt_strings){0};
}

/* ---- the tree ------------------------------------------------------------ */

bool rpt_tree_init(rpt_tree *t, bool by_name) {
    *t = (rpt_tree){.by_name = by_name, .nstacks = RPT_ROOTS + 1};
    if (rpt_grow_mapped((void **)&t->stacks, &t->stacks_cap, t->nstacks, sizeof *t->stacks))
        return true;
    fprintf(stderr, "pymm report: out of memory\n");
    return false;
}

void rpt_tree_seal(rpt_tree *t) {
    t->sealed = true;
    rpt_strings_free(&t->keys);
    rpt_map_free(&t->by_offset);
    free(t->stack_ids.ids);
    t->stack_ids = (rpt_idmap){0};
}

void rpt_tree_free(rpt_tree *t) {
    rpt_tree_seal(t);
    free(t->frames);
    rpt_strings_free(&t->names);
    rpt_unmap(t->stacks, t->stacks_cap, sizeof *t->stacks);
    for (int i = 0; i < 2; i++) rpt_unmap(t->figs[i], t->figs_cap[i], sizeof *t->figs[i]);
    free(t->nodes);
}

const rpt_counts *rpt_tree_figures(const rpt_tree *t, uint32_t id, int which) {
    static const rpt_tfigures none;
    uint32_t fig = t->stacks[id].fig;
    return fig ? t->figs[which][fig - 1] : none;
}

/* A function's or file's name as the tree keeps it, once for all the
 * frames that name it (many lines share a file): NULL for want of memory. */
static const char *kept(rpt_tree *t, const char *name) {
    char *copy = strdup(name);
    uint32_t id = copy ? rpt_intern(&t->names, copy) : 0;
    return id ? t->names.strings[id] : NULL;
}

/* Frame id's name, kept: false for want of memory. */
static bool keep_name(rpt_tree *t, uint32_t id, const rpt_frame *fn) {
    if (!rpt_grow((void **)&t->frames, &t->frames_cap, id + 1, sizeof *t->frames)) return false;
    rpt_tframe *k = &t->frames[id];
    if (k->function) return true; /* another pc with that name */
    k->file = kept(t, fn->file);
    k->function = k->file ? kept(t, fn->function) : NULL;
    k->line = fn->line;
    k->interpreter = fn->interpreter;
    return k->function != NULL;
}

/* The frame id of the frame at pc in capture c (paths: the key ids of its
 * modules' paths), by what names it (above): 0 for want of memory. */
static uint32_t frame_of(rpt_tree *t, const rpt_capture *c, Dwfl *d, const uint32_t *paths,
                         uintptr_t pc) {
    const rpt_module *m = pc & PMD_CAPTURE_INTERP_BIT ? NULL : rpt_module_of(c, pc);
    uint64_t offset = m ? pc - m->bias : 0;
    uint32_t *named = NULL;
    /* The memo's key packs the path's id in 20 bits above a 44-bit offset;
     * a frame beyond either is named each time instead. */
    if (m && offset < (uint64_t)1 << 44 && paths[m - c->modules] < (uint32_t)1 << 20) {
        named = rpt_map_slot(&t->by_offset, (uint64_t)paths[m - c->modules] << 44 | offset);
        if (named == NULL || *named) return named ? *named : 0;
    }
    rpt_frame fn;
    rpt_name_frame(c, d, pc, &fn);
    char *key;
    int n = t->by_name ? asprintf(&key, "F\037%s\037%s\037%d", fn.function, fn.file, fn.line)
                       : asprintf(&key, "%c\037%s\037%s\037%s\037%d", fn.interpreter ? 'I' : 'N',
                                  m ? m->path : "", fn.function, fn.file, fn.line);
    if (n < 0) return 0;
    uint32_t id = rpt_intern(&t->keys, key);
    if (id && !keep_name(t, id, &fn)) id = 0;
    if (named) *named = id;
    return id;
}

/* ---- stacks by parent and frame -------------------------------------------- */

/* The map from a stack's parent and frame to its id holds the ids alone
 * and reads a slot's key from its stack: with the keys beside them (an
 * rpt_map, 12 bytes a slot), the map of 3,000,000 stacks took 96 MB,
 * more than twice the stacks themselves. */
static uint64_t stack_key(const rpt_tstack *s) { return (uint64_t)s->parent << 32 | s->frame; }

static uint32_t *ids_probe(const rpt_tree *t, const rpt_idmap *m, uint64_t key) {
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> m->shift);; i = (i + 1) & mask)
        if (m->ids[i] == 0 || stack_key(&t->stacks[m->ids[i]]) == key) return &m->ids[i];
}

/* Room for one more id, the map at most half full: false for want of
 * memory. */
static bool ids_reserve(rpt_tree *t) {
    rpt_idmap *m = &t->stack_ids;
    if ((m->n + 1) * 2 <= m->cap) return true;
    rpt_idmap g = {.cap = m->cap ? m->cap * 2 : 1024, .n = m->n};
    g.shift = 64u - (unsigned)__builtin_ctzll(g.cap);
    if ((g.ids = calloc(g.cap, sizeof *g.ids)) == NULL) return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->ids[i]) *ids_probe(t, &g, stack_key(&t->stacks[m->ids[i]])) = m->ids[i];
    free(m->ids);
    *m = g;
    return true;
}

/* The tree's stack for (parent, frame), made if new; 0 for want of memory. */
static uint32_t stack_id(rpt_tree *t, uint32_t parent, uint32_t frame) {
    uint64_t key = (uint64_t)parent << 32 | frame;
    if (!ids_reserve(t)) return 0;
    uint32_t *id = ids_probe(t, &t->stack_ids, key);
    if (*id) return *id;
    if (t->nstacks >= UINT32_MAX || /* ids are 32-bit; 0 says "none" */
        !rpt_grow_mapped((void **)&t->stacks, &t->stacks_cap, t->nstacks + 1, sizeof *t->stacks))
        return 0;
    t->stacks[t->nstacks] = (rpt_tstack){.parent = parent, .frame = frame};
    t->stack_ids.n++;
    return *id = (uint32_t)t->nstacks++;
}

/* The key ids of capture c's module paths into paths[]: false for want
 * of memory. */
static bool path_keys(rpt_tree *t, const rpt_capture *c, uint32_t *paths) {
    for (size_t i = 0; i < c->nmodules; i++) {
        char *key;
        paths[i] =
            asprintf(&key, "M\037%s", c->modules[i].path) < 0 ? 0 : rpt_intern(&t->keys, key);
        if (paths[i] == 0) return false;
    }
    return true;
}

/* Node id of capture c adds its figures, if it ever allocated, to the
 * tree's stack `to` (which gets room for figures then, in both arrays:
 * pages of the second that a single capture never writes cost nothing):
 * false for want of memory. */
static bool add_figures(rpt_tree *t, const rpt_capture *c, int which, uint32_t id, uint32_t to) {
    if (!(c->stacks[id].fig & RPT_OWNED)) return true;
    rpt_tstack *s = &t->stacks[to];
    if (s->fig == 0) {
        for (int i = 0; i < 2; i++)
            if (!rpt_grow_mapped((void **)&t->figs[i], &t->figs_cap[i], t->nfigs + 1,
                                 sizeof *t->figs[i]))
                return false;
        s->fig = (uint32_t)++t->nfigs;
    }
    rpt_counts *fig = t->figs[which][s->fig - 1];
    for (int v = 0; v < RPT_VIEWS; v++) {
        uint64_t bytes, count;
        rpt_figures(c, id, (enum rpt_view)v, &bytes, &count);
        fig[v].bytes += bytes;
        fig[v].count += count;
    }
    return true;
}

/* A node's parent comes before it (parent < id), so one pass in id order
 * finds every parent mapped. */
int rpt_tree_add(rpt_tree *t, const rpt_capture *c, Dwfl *d, int which) {
    if (t->sealed) { /* its matching tables are gone: ids would collide */
        fprintf(stderr, "pymm report: internal error: a capture added to a sealed tree\n");
        return 1;
    }
    uint32_t *to = calloc(c->nstacks, sizeof *to); /* node -> tree stack */
    uint32_t *paths = calloc(c->nmodules + 1, sizeof *paths);
    uint32_t *locs = calloc(c->nlocations + 1, sizeof *locs); /* interpreter pcs -> frame id */
    rpt_map pcs = {0};                                        /* native pcs -> frame id */
    bool ok = to && paths && locs && path_keys(t, c, paths);
    for (uint32_t id = 1; id < c->nstacks && ok; id++) {
        uintptr_t pc = c->stacks[id].pc;
        if (id <= RPT_ROOTS) to[id] = t->by_name ? 1 : id; /* the tree's roots are 1..RPT_ROOTS */
        else {
            uint32_t *frame = pc & PMD_CAPTURE_INTERP_BIT ? &locs[pc & ~PMD_CAPTURE_INTERP_BIT]
                                                          : rpt_map_slot(&pcs, pc);
            if (frame && *frame == 0) *frame = frame_of(t, c, d, paths, pc);
            to[id] = frame && *frame ? stack_id(t, to[c->stacks[id].parent], *frame) : 0;
        }
        ok = to[id] != 0 && add_figures(t, c, which, id, to[id]);
    }
    if (!ok) fprintf(stderr, "pymm report: out of memory\n");
    rpt_map_free(&pcs);
    free(locs);
    free(paths);
    free(t->nodes);
    t->nodes = to;
    return ok ? 0 : 1;
}

const char *rpt_tree_domain(const rpt_tree *t, uint32_t id) {
    while (id > RPT_ROOTS) id = t->stacks[id].parent;
    return rpt_domain_name(id);
}

size_t rpt_tree_path(const rpt_tree *t, uint32_t id, uint32_t **path, size_t *cap) {
    size_t n = 0;
    for (; id > RPT_ROOTS; id = t->stacks[id].parent) {
        if (!rpt_grow((void **)path, cap, n + 1, sizeof **path)) return SIZE_MAX;
        (*path)[n++] = t->stacks[id].frame;
    }
    return n;
}
