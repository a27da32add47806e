/*
 * report_diff.c -- `pymm report --diff A B`: what changed from one
 * capture to another (two runs of a program, before and after a change):
 * per stack, the bytes and blocks live at the peak, live at the end,
 * allocated in all and temporary, in A, in B and B - A, the largest
 * changes first.
 *
 * Node ids and pcs mean nothing across runs: ids follow the order in which
 * a run met its stacks, and ASLR loads the same binary elsewhere each
 * time. So the nodes of both captures are mapped onto one tree of stacks
 * keyed by meaning. A frame is what names it: for a native frame, its
 * module's path with the function, file and line libdw gives, or, where
 * libdw cannot say, the offset from the module's load bias (the
 * module+0xOFFSET the report prints); for an interpreter frame, its file,
 * function and line. A stack is its parent stack and its frame; the roots
 * are the domains. Nodes of one capture that mean the same (two calls on
 * one line) fall together and their figures add up; a stack that only
 * one capture has counts as zero in the other.
 *
 * Memory: each capture is read whole and keeps its nodes, strings and
 * modules (rpt_read frees its live table); the tree holds one entry per
 * distinct stack of the two and one per distinct frame, and each capture
 * a map from its pcs to frames. Both are read before either is named, and
 * each names its frames with libdw open for it alone, the names kept in
 * the tree, so that libdw's tables (tens of MiB for a large binary) are
 * there once at a time and never beside a table of live blocks.
 */
#define _GNU_SOURCE
#include "report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- maps ---------------------------------------------------------------- */

/* A 64-bit key to a non-zero 32-bit id: open addressing, linear probing,
 * at most half full; a slot whose value is 0 is empty. */
typedef struct map {
    uint64_t *keys;
    uint32_t *ids;
    size_t cap, n;
    unsigned shift;
} map;

static size_t map_home(const map *m, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> m->shift);
}

static uint32_t *map_probe(const map *m, uint64_t key) {
    for (size_t i = map_home(m, key);; i = (i + 1) & (m->cap - 1))
        if (m->ids[i] == 0 || m->keys[i] == key) return &m->ids[i];
}

/* The id slot of key: 0 when the key is new, and the caller then sets it
 * (non-zero); NULL for want of memory. */
static uint32_t *map_slot(map *m, uint64_t key) {
    if ((m->n + 1) * 2 > m->cap) {
        map t = {.cap = m->cap ? m->cap * 2 : 1024};
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

static void map_free(map *m) {
    free(m->keys);
    free(m->ids);
}

/* ---- the tree of stacks by meaning ------------------------------------------- */

enum { A, B };

typedef struct figures {
    uint64_t bytes, count;
} figures;

/* A stack of the tree: its parent and frame, and its figures in each
 * capture. */
typedef struct dstack {
    uint32_t parent, frame;
    figures fig[2][RPT_VIEWS];
} dstack;

/* A frame's name, kept for printing once libdw is closed. */
typedef struct dframe {
    char *function, *file; /* NULL function: the key is a module's path */
    int line;
    bool interpreter;
} dframe;

typedef struct diff {
    rpt_capture c[2];
    Dwfl *d;        /* the names of the capture being mapped; closed after */
    char **keys;    /* [key id]: a frame's key, or a module's path */
    dframe *frames; /* [key id] */
    size_t nkeys, keys_cap, frames_cap;
    map key_ids;   /* a key's hash (moved on past a clash) to its id */
    map by_offset; /* a module path's key id << 44 | an offset from its bias, to a frame */
    dstack *stacks;
    size_t nstacks, stacks_cap;
    map stack_ids; /* parent << 32 | frame to stack id */
} diff;

static uint64_t hash_string(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* The id of a key string: distinct keys whose hashes clash take the next
 * free hash value. The key is freed. 0 for want of memory. */
static uint32_t key_id(diff *x, char *key) {
    uint32_t *id = NULL;
    for (uint64_t h = hash_string(key); key; h++) {
        id = map_slot(&x->key_ids, h);
        if (id == NULL || (*id && strcmp(x->keys[*id], key) == 0)) break;
        if (*id) continue;
        if (!rpt_grow((void **)&x->keys, &x->keys_cap, x->nkeys + 1, sizeof *x->keys)) {
            x->key_ids.n--; /* the slot stays empty */
            id = NULL;
            break;
        }
        x->keys[x->nkeys] = key;
        return *id = (uint32_t)x->nkeys++;
    }
    free(key);
    return id ? *id : 0;
}

/* Frame id's name, kept: false for want of memory. */
static bool keep_name(diff *x, uint32_t id, const rpt_frame *fn) {
    if (!rpt_grow((void **)&x->frames, &x->frames_cap, id + 1, sizeof *x->frames)) return false;
    dframe *k = &x->frames[id];
    if (k->function) return true; /* another pc with that name */
    k->file = strdup(fn->file);
    k->function = k->file ? strdup(fn->function) : NULL;
    k->line = fn->line;
    k->interpreter = fn->interpreter;
    return k->function != NULL;
}

/* The frame id of the frame at pc in capture `which` (paths: the key ids
 * of its modules' paths), by what names it (above): 0 for want of memory.
 * Naming is most of a diff's cost beyond reading, and a frame of one
 * module at one offset has one name, so it is named once for both. */
static uint32_t frame_of(diff *x, int which, const uint32_t *paths, uintptr_t pc) {
    const rpt_capture *c = &x->c[which];
    const rpt_module *m = pc & PMD_CAPTURE_INTERP_BIT ? NULL : rpt_module_of(c, pc);
    uint64_t offset = m ? pc - m->bias : 0;
    uint32_t *named = NULL;
    /* The memo's key packs the path's id in 20 bits above a 44-bit offset;
     * a frame beyond either is named each time instead. */
    if (m && offset < (uint64_t)1 << 44 && paths[m - c->modules] < (uint32_t)1 << 20) {
        named = map_slot(&x->by_offset, (uint64_t)paths[m - c->modules] << 44 | offset);
        if (named == NULL || *named) return named ? *named : 0;
    }
    rpt_frame fn;
    rpt_name_frame(c, x->d, pc, &fn);
    char *key;
    if (asprintf(&key, "%c\037%s\037%s\037%s\037%d", fn.interpreter ? 'I' : 'N', m ? m->path : "",
                 fn.function, fn.file, fn.line) < 0)
        return 0;
    uint32_t id = key_id(x, key);
    if (id && !keep_name(x, id, &fn)) id = 0;
    if (named) *named = id;
    return id;
}

/* The tree's stack for (parent, frame), made if new; 0 for want of memory. */
static uint32_t stack_id(diff *x, uint32_t parent, uint32_t frame) {
    uint32_t *id = map_slot(&x->stack_ids, (uint64_t)parent << 32 | frame);
    if (id == NULL || *id) return id ? *id : 0;
    if (!rpt_grow((void **)&x->stacks, &x->stacks_cap, x->nstacks + 1, sizeof *x->stacks)) {
        x->stack_ids.n--;
        return 0;
    }
    x->stacks[x->nstacks] = (dstack){.parent = parent, .frame = frame};
    return *id = (uint32_t)x->nstacks++;
}

/* The key ids of capture c's module paths into paths[]: false for want
 * of memory. */
static bool path_keys(diff *x, const rpt_capture *c, uint32_t *paths) {
    for (size_t i = 0; i < c->nmodules; i++) {
        char *key;
        paths[i] = asprintf(&key, "M\037%s", c->modules[i].path) < 0 ? 0 : key_id(x, key);
        if (paths[i] == 0) return false;
    }
    return true;
}

/* Node id of capture `which` adds its figures to the tree's stack s. */
static void add_figures(diff *x, int which, uint32_t id, dstack *s) {
    for (int v = 0; v < RPT_VIEWS; v++) {
        uint64_t bytes, count;
        rpt_figures(&x->c[which], id, (enum rpt_view)v, &bytes, &count);
        s->fig[which][v].bytes += bytes;
        s->fig[which][v].count += count;
    }
}

/* Map capture `which`'s nodes onto the tree and add their figures: 0, or
 * 1 with the error said. A node's parent comes before it (parent < id),
 * so one pass in id order finds every parent mapped. */
static int add_capture(diff *x, int which) {
    const rpt_capture *c = &x->c[which];
    uint32_t *to = calloc(c->nstacks, sizeof *to); /* node -> tree stack */
    uint32_t *paths = calloc(c->nmodules + 1, sizeof *paths);
    map pcs = {0}; /* pc -> frame id */
    bool ok = to && paths && path_keys(x, c, paths);
    for (uint32_t id = 1; id < c->nstacks && ok; id++) {
        if (id <= RPT_ROOTS) to[id] = id; /* the tree's roots are 1..RPT_ROOTS too */
        else {
            uint32_t *frame = map_slot(&pcs, c->stacks[id].pc);
            if (frame && *frame == 0) *frame = frame_of(x, which, paths, c->stacks[id].pc);
            to[id] = frame && *frame ? stack_id(x, to[c->stacks[id].parent], *frame) : 0;
        }
        if ((ok = to[id] != 0)) add_figures(x, which, id, &x->stacks[to[id]]);
    }
    if (!ok) fprintf(stderr, "pymm report: out of memory\n");
    map_free(&pcs);
    free(paths);
    free(to);
    return ok ? 0 : 1;
}

/* ---- ranking and printing ------------------------------------------------ */

static uint64_t distance(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

typedef struct change {
    uint32_t stack;
    figures a, b;
} change;

static int by_change(const void *p, const void *q) {
    const change *x = p, *y = q;
    uint64_t dx = distance(x->a.bytes, x->b.bytes), dy = distance(y->a.bytes, y->b.bytes);
    if (dx != dy) return dx < dy ? 1 : -1;
    dx = distance(x->a.count, x->b.count);
    dy = distance(y->a.count, y->b.count);
    if (dx != dy) return dx < dy ? 1 : -1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* The stacks whose figures in view v changed, the largest change in
 * bytes first (then in blocks): their number. */
static size_t rank(const diff *x, enum rpt_view v, change *out) {
    size_t n = 0;
    for (uint32_t id = 1; id < x->nstacks; id++) {
        const dstack *s = &x->stacks[id];
        figures a = s->fig[A][v], b = s->fig[B][v];
        if (a.bytes != b.bytes || a.count != b.count) out[n++] = (change){id, a, b};
    }
    qsort(out, n, sizeof *out, by_change);
    return n;
}

static const char *domain(const diff *x, uint32_t id) {
    while (id > RPT_ROOTS) id = x->stacks[id].parent;
    return rpt_domain_name(id);
}

static void stack_text(FILE *f, const diff *x, uint32_t id) {
    for (; id > RPT_ROOTS; id = x->stacks[id].parent) {
        const dframe *k = &x->frames[x->stacks[id].frame];
        rpt_frame_text(f, k->function, k->file, k->line, k->interpreter);
    }
}

static void stack_json(FILE *f, const diff *x, uint32_t id) {
    fputc('[', f);
    for (bool first = true; id > RPT_ROOTS; id = x->stacks[id].parent, first = false) {
        const dframe *k = &x->frames[x->stacks[id].frame];
        rpt_frame_json(f, k->function, k->file, k->line, k->interpreter, first);
    }
    fputc(']', f);
}

static int64_t delta(uint64_t a, uint64_t b) { return (int64_t)(b - a); }

/* b - a as a size: "+1.5 KiB", "-200 B", "0 B". */
static void signed_human(char *out, size_t size, uint64_t a, uint64_t b) {
    out[0] = b > a ? '+' : '-';
    rpt_human(out + (a != b), size - 1, distance(a, b));
}

static const char *const titles[RPT_VIEWS] = {"Live at the peak",
                                              "Live at the end (never freed while traced)",
                                              "Allocated in all", "Temporary allocations"};
static const char *const keys[RPT_VIEWS] = {"peak", "at_exit", "allocated", "temporary"};

static void text_view(FILE *f, const diff *x, enum rpt_view v, change *r, size_t top) {
    size_t n = rank(x, v, r);
    fprintf(f, "\n%s, change by stack (%zu stacks changed):\n", titles[v], n);
    for (size_t i = 0; i < n && i < top; i++) {
        char d[32], a[32], b[32];
        signed_human(d, sizeof d, r[i].a.bytes, r[i].b.bytes);
        rpt_human(a, sizeof a, r[i].a.bytes);
        rpt_human(b, sizeof b, r[i].b.bytes);
        fprintf(f,
                "  #%zu  %s, %+" PRId64 " blocks  (%s in %" PRIu64 " -> %s in %" PRIu64 ")  [%s]\n",
                i + 1, d, delta(r[i].a.count, r[i].b.count), a, r[i].a.count, b, r[i].b.count,
                domain(x, r[i].stack));
        stack_text(f, x, r[i].stack);
    }
}

static void text_totals(FILE *f, const char *what, uint64_t a, uint64_t b, bool bytes) {
    char ta[32], tb[32], td[32];
    if (bytes) {
        rpt_human(ta, sizeof ta, a);
        rpt_human(tb, sizeof tb, b);
        signed_human(td, sizeof td, a, b);
    } else {
        snprintf(ta, sizeof ta, "%" PRIu64, a);
        snprintf(tb, sizeof tb, "%" PRIu64, b);
        snprintf(td, sizeof td, "%+" PRId64, delta(a, b));
    }
    fprintf(f, "  %-22s %14s %14s %14s\n", what, ta, tb, td);
}

static void diff_text(FILE *f, const diff *x, change *r, size_t top) {
    const rpt_capture *a = &x->c[A], *b = &x->c[B];
    fprintf(f, "A: ");
    rpt_summary_text(f, a);
    fprintf(f, "B: ");
    rpt_summary_text(f, b);
    fprintf(f, "\n  %-22s %14s %14s %14s\n", "", "A", "B", "B - A");
    text_totals(f, "allocations", a->allocs, b->allocs, false);
    text_totals(f, "allocated", a->alloc_bytes, b->alloc_bytes, true);
    text_totals(f, "peak", a->peak, b->peak, true);
    text_totals(f, "live at end", a->current, b->current, true);
    text_totals(f, "temporary allocations", a->temp_allocs, b->temp_allocs, false);
    text_totals(f, "temporary", a->temp_bytes, b->temp_bytes, true);
    for (int v = 0; v < RPT_VIEWS; v++) text_view(f, x, (enum rpt_view)v, r, top);
}

static void json_view(FILE *f, const diff *x, enum rpt_view v, change *r, size_t top) {
    size_t n = rank(x, v, r);
    fprintf(f, ",\n  \"%s\": [", keys[v]);
    for (size_t i = 0; i < n && i < top; i++) {
        fputs(i ? ",\n    {\"stack\": " : "\n    {\"stack\": ", f);
        stack_json(f, x, r[i].stack);
        fprintf(f,
                ", \"domain\": \"%s\", \"bytes_a\": %" PRIu64 ", \"bytes_b\": %" PRIu64
                ", \"bytes_delta\": %" PRId64 ", \"count_a\": %" PRIu64 ", \"count_b\": %" PRIu64
                ", \"count_delta\": %" PRId64 "}",
                domain(x, r[i].stack), r[i].a.bytes, r[i].b.bytes,
                delta(r[i].a.bytes, r[i].b.bytes), r[i].a.count, r[i].b.count,
                delta(r[i].a.count, r[i].b.count));
    }
    fputs(n ? "\n  ]" : "]", f);
}

static void diff_json(FILE *f, const diff *x, change *r, size_t top) {
    fputs("{\"diff\": {\"a\": ", f);
    rpt_summary_json(f, &x->c[A]);
    fputs(",\n          \"b\": ", f);
    rpt_summary_json(f, &x->c[B]);
    fputc('}', f);
    for (int v = 0; v < RPT_VIEWS; v++) json_view(f, x, (enum rpt_view)v, r, top);
    fputs("}\n", f);
}

/* ---- the command ------------------------------------------------------------- */

static void diff_free(diff *x) {
    rpt_names_close(x->d);
    for (int i = A; i <= B; i++) rpt_capture_free(&x->c[i]);
    for (size_t i = 1; i < x->nkeys; i++) free(x->keys[i]);
    for (size_t i = 1; i < x->frames_cap; i++) {
        free(x->frames[i].function);
        free(x->frames[i].file);
    }
    free(x->keys);
    free(x->frames);
    map_free(&x->key_ids);
    map_free(&x->by_offset);
    free(x->stacks);
    map_free(&x->stack_ids);
}

int rpt_diff(const char *a, const char *b, bool json, size_t top, size_t temporary) {
    diff x = {.c = {{.name = a, .temporary = temporary}, {.name = b, .temporary = temporary}}};
    x.nkeys = 1; /* ids from 1: 0 is an empty slot */
    x.nstacks = RPT_ROOTS + 1;
    int rc = rpt_grow((void **)&x.stacks, &x.stacks_cap, x.nstacks, sizeof *x.stacks) ? 0 : 1;
    for (int i = A; i <= B && rc == 0; i++) rc = rpt_read(&x.c[i]);
    for (int i = A; i <= B && rc == 0; i++) { /* libdw's tables are large too: one at a time */
        x.d = rpt_names_open(&x.c[i]);
        rc = add_capture(&x, i);
        rpt_names_close(x.d);
        x.d = NULL;
    }
    change *r = rc == 0 ? malloc(x.nstacks * sizeof *r) : NULL;
    if (rc == 0 && r == NULL) {
        fprintf(stderr, "pymm report: out of memory\n");
        rc = 1;
    }
    if (rc == 0) {
        if (json) diff_json(stdout, &x, r, top);
        else diff_text(stdout, &x, r, top);
    }
    free(r);
    diff_free(&x);
    return rc;
}
