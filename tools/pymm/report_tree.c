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
 * module paths, only for the memo. Memory: one entry per distinct stack
 * and per distinct frame, the last capture's node-to-stack map (nodes:
 * the page sums that capture's events by tree stack), and while a
 * capture is added a map from its pcs to frames. Naming is most of the cost beyond reading, and a frame of
 * one module at one offset has one name, so it is named once for both
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
    if (rpt_grow((void **)&t->stacks, &t->stacks_cap, t->nstacks, sizeof *t->stacks)) return true;
    fprintf(stderr, "pymm report: out of memory\n");
    return false;
}

void rpt_tree_free(rpt_tree *t) {
    for (size_t i = 1; i < t->frames_cap; i++) {
        free(t->frames[i].function);
        free(t->frames[i].file);
    }
    free(t->frames);
    rpt_strings_free(&t->keys);
    rpt_map_free(&t->by_offset);
    free(t->stacks);
    rpt_map_free(&t->stack_ids);
    free(t->nodes);
}

/* Frame id's name, kept: false for want of memory. */
static bool keep_name(rpt_tree *t, uint32_t id, const rpt_frame *fn) {
    if (!rpt_grow((void **)&t->frames, &t->frames_cap, id + 1, sizeof *t->frames)) return false;
    rpt_tframe *k = &t->frames[id];
    if (k->function) return true; /* another pc with that name */
    k->file = strdup(fn->file);
    k->function = k->file ? strdup(fn->function) : NULL;
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

/* The tree's stack for (parent, frame), made if new; 0 for want of memory. */
static uint32_t stack_id(rpt_tree *t, uint32_t parent, uint32_t frame) {
    uint32_t *id = rpt_map_slot(&t->stack_ids, (uint64_t)parent << 32 | frame);
    if (id == NULL || *id) return id ? *id : 0;
    if (!rpt_grow((void **)&t->stacks, &t->stacks_cap, t->nstacks + 1, sizeof *t->stacks)) {
        t->stack_ids.n--;
        return 0;
    }
    t->stacks[t->nstacks] = (rpt_tstack){.parent = parent, .frame = frame};
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

/* Node id of capture c adds its figures to the tree's stack s. */
static void add_figures(const rpt_capture *c, int which, uint32_t id, rpt_tstack *s) {
    for (int v = 0; v < RPT_VIEWS; v++) {
        uint64_t bytes, count;
        rpt_figures(c, id, (enum rpt_view)v, &bytes, &count);
        s->fig[which][v].bytes += bytes;
        s->fig[which][v].count += count;
    }
}

/* A node's parent comes before it (parent < id), so one pass in id order
 * finds every parent mapped. */
int rpt_tree_add(rpt_tree *t, const rpt_capture *c, Dwfl *d, int which) {
    uint32_t *to = calloc(c->nstacks, sizeof *to); /* node -> tree stack */
    uint32_t *paths = calloc(c->nmodules + 1, sizeof *paths);
    rpt_map pcs = {0}; /* pc -> frame id */
    bool ok = to && paths && path_keys(t, c, paths);
    for (uint32_t id = 1; id < c->nstacks && ok; id++) {
        if (id <= RPT_ROOTS) to[id] = t->by_name ? 1 : id; /* the tree's roots are 1..RPT_ROOTS */
        else {
            uint32_t *frame = rpt_map_slot(&pcs, c->stacks[id].pc);
            if (frame && *frame == 0) *frame = frame_of(t, c, d, paths, c->stacks[id].pc);
            to[id] = frame && *frame ? stack_id(t, to[c->stacks[id].parent], *frame) : 0;
        }
        if ((ok = to[id] != 0)) add_figures(c, which, id, &t->stacks[to[id]]);
    }
    if (!ok) fprintf(stderr, "pymm report: out of memory\n");
    rpt_map_free(&pcs);
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
