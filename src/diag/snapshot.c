/*
 * snapshot.c -- snapshots of the live traced blocks, tracemalloc's
 * Snapshot in C: taken from the recorder, grouped by stack, line,
 * function, file or domain (cumulatively or by the innermost frame),
 * compared with another, filtered, dumped to a file and loaded back.
 *
 * Owns: pm_trace_take_snapshot and pm_trace_snapshot_* (include/pymm.h),
 * and the snapshot file (docs/FORMATS.md, "Snapshot files").
 *
 * A snapshot is a copy that stands alone: each live stack's bytes, blocks
 * and domain, with its frames resolved to strings it owns, so it outlives
 * the recording, the embedder's strings and, dumped, the process.
 * Native frames are named with what the process has at hand
 * (pm_trace_frame_info: the module's path, the nearest exported symbol,
 * the offset in the module, which stands for the line); `pymm report`
 * names C files and lines from debug information.
 *
 * Memory: a snapshot's arena and the work tables of its statistics are
 * mapped from the OS, never taken from a heap or from malloc, so they
 * never show in the recorder's results (the recorder's rule R2).
 *
 * Invariants:
 *   S1  every string a snapshot's frames name is in its own arena, once
 *       (interned), so two frames of one snapshot are equal exactly when
 *       their fields are; across snapshots strings compare by content.
 *   S2  a snapshot never changes after it is made: statistics and filters
 *       read it, and filters make a new one.
 */
#define _GNU_SOURCE
#include "diag/diag.h"
#include "heap/os.h"
#include "pymm.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_CHUNK ((size_t)1 << 16)
#define SNAP_MAGIC "PYMMSNP" /* 8 bytes with its NUL, then the version */
#define SNAP_VERSION 2       /* 2: each stack's type; 1 (read too): none */
#define SNAP_MAX_STRING ((uint64_t)1 << 20)

/* One frame of a stack, resolved (see pm_trace_frame). */
typedef struct snap_frame {
    const char *file, *function; /* interned in the snapshot's arena (S1) */
    int line;
    int interpreter;
    uintptr_t offset;
} snap_frame;

typedef struct snap_stack {
    size_t size, count;
    int domain;
    uint32_t nframes;
    snap_frame *frames; /* innermost first */
    const char *type;   /* its blocks' objects' type name (S1); NULL: not objects */
} snap_stack;

typedef struct snap_chunk {
    struct snap_chunk *next;
    size_t size, used;
} snap_chunk;

struct pm_trace_snapshot {
    snap_chunk *chunks;
    snap_stack *stacks;
    size_t nstacks;
    const char **strings; /* open hash of the interned strings */
    size_t nstrings, strings_cap;
};

/* ---- the arena --------------------------------------------------------------- */

static void *snap_take(pm_trace_snapshot *s, size_t n) {
    n = (n + 15) & ~(size_t)15;
    snap_chunk *c = s->chunks;
    if (c == NULL || c->size - c->used < n) {
        size_t size = n + sizeof *c + 16 > SNAP_CHUNK ? n + sizeof *c + 16 : SNAP_CHUNK;
        c = pmos_map(size);
        if (c == NULL) return NULL;
        c->next = s->chunks;
        c->size = size;
        c->used = (sizeof *c + 15) & ~(size_t)15;
        s->chunks = c;
    }
    void *p = (char *)c + c->used;
    c->used += n;
    return p;
}

static pm_trace_snapshot *snap_new(void) {
    pm_trace_snapshot tmp = {0};
    pm_trace_snapshot *s = snap_take(&tmp, sizeof *s);
    if (s == NULL) return NULL;
    *s = tmp; /* the first chunk holds the snapshot itself */
    return s;
}

void pm_trace_snapshot_free(pm_trace_snapshot *s) {
    if (s == NULL) return;
    for (snap_chunk *c = s->chunks, *next; c != NULL; c = next) {
        next = c->next;
        pmos_unmap(c, c->size);
    }
}

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* text (len bytes) as the snapshot's own string (S1); NULL stays NULL.
 * Sets *ok to false when out of memory. */
static const char *snap_string(pm_trace_snapshot *s, const char *text, size_t len, bool *ok) {
    if (text == NULL) return NULL;
    if ((s->nstrings + 1) * 2 > s->strings_cap) {
        size_t cap = s->strings_cap ? s->strings_cap * 2 : 256;
        const char **t = snap_take(s, cap * sizeof *t);
        if (t == NULL) return *ok = false, NULL;
        memset(t, 0, cap * sizeof *t);
        for (size_t i = 0; i < s->strings_cap; i++) {
            const char *k = s->strings[i];
            if (k == NULL) continue;
            size_t j = hash_bytes(k, strlen(k), 14695981039346656037ull) & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = k;
        }
        s->strings = t;
        s->strings_cap = cap;
    }
    size_t i = hash_bytes(text, len, 14695981039346656037ull) & (s->strings_cap - 1);
    for (; s->strings[i]; i = (i + 1) & (s->strings_cap - 1))
        if (strncmp(s->strings[i], text, len) == 0 && s->strings[i][len] == '\0')
            return s->strings[i];
    char *copy = snap_take(s, len + 1);
    if (copy == NULL) return *ok = false, NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    s->strings[i] = copy;
    s->nstrings++;
    return copy;
}

static const char *snap_cstring(pm_trace_snapshot *s, const char *text, bool *ok) {
    return text ? snap_string(s, text, strlen(text), ok) : NULL;
}

/* ---- taking one ---------------------------------------------------------------- */

/* The live blocks while taking a snapshot, by (stack, type): an open
 * hash in memory of its own, grown as it fills. */
typedef struct gather_slot {
    uint32_t stack; /* 0: unused */
    const char *type;
    size_t size, count;
} gather_slot;

typedef struct gather {
    pm_trace_snapshot *s; /* the type names' home (S1) */
    gather_slot *slots;
    size_t cap, used;
    bool failed; /* out of memory: the snapshot is not made */
} gather;

static size_t gather_hash(uint32_t stack, const char *type) {
    return (size_t)(((uint64_t)stack * 0x9E3779B97F4A7C15ull) ^ (uintptr_t)type) >> 7;
}

static gather_slot *gather_find(gather_slot *slots, size_t cap, uint32_t stack, const char *type) {
    size_t i = gather_hash(stack, type) & (cap - 1);
    while (slots[i].stack && (slots[i].stack != stack || slots[i].type != type))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static bool gather_grow(gather *g) {
    size_t cap = g->cap ? g->cap * 2 : 1024;
    gather_slot *t = pmos_map(cap * sizeof *t);
    if (t == NULL) return false;
    for (size_t i = 0; i < g->cap; i++)
        if (g->slots[i].stack)
            *gather_find(t, cap, g->slots[i].stack, g->slots[i].type) = g->slots[i];
    if (g->slots) pmos_unmap(g->slots, g->cap * sizeof *g->slots);
    g->slots = t;
    g->cap = cap;
    return true;
}

/* pmd_trace_each_block's callback, under the recorder's lock: an object's
 * type is read now, while the object lives, and its name copied. */
static void gather_block(void *arg, uint32_t stack, size_t bytes, size_t count,
                         const void *object) {
    gather *g = arg;
    if (g->failed) return;
    bool ok = true;
    const char *type =
        object ? snap_cstring(g->s, pm_type_name(((const pm_object *)object)->type), &ok) : NULL;
    if (!ok || ((g->used + 1) * 2 > g->cap && !gather_grow(g))) {
        g->failed = true;
        return;
    }
    gather_slot *x = gather_find(g->slots, g->cap, stack, type);
    if (x->stack == 0) {
        *x = (gather_slot){stack, type, 0, 0};
        g->used++;
    }
    x->size += bytes;
    x->count += count;
}

static bool copy_stack(pm_trace_snapshot *s, snap_stack *out, const gather_slot *x) {
    void *pcs[PM_TRACE_MAX_FRAMES * 2];
    size_t n = pm_trace_stack_frames(x->stack, pcs, PM_TRACE_MAX_FRAMES * 2);
    *out = (snap_stack){x->size,     x->count, pmd_trace_stack_domain(x->stack),
                        (uint32_t)n, NULL,     x->type};
    out->frames = snap_take(s, (n ? n : 1) * sizeof *out->frames);
    if (out->frames == NULL) return false;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        pm_trace_frame f;
        if (pm_trace_frame_info(pcs[i], &f) != 0) f = (pm_trace_frame){1, "?", "?", 0, 0};
        out->frames[i] =
            (snap_frame){snap_cstring(s, f.file, &ok), snap_cstring(s, f.function, &ok), f.line,
                         f.interpreter, f.offset};
    }
    return ok;
}

/* Largest first, then by stack id and type: one order for one state. */
static int by_size(const void *a, const void *b) {
    const gather_slot *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    if (x->stack != y->stack) return x->stack < y->stack ? -1 : 1;
    if (x->type == y->type) return 0;
    if (x->type == NULL || y->type == NULL) return x->type == NULL ? -1 : 1;
    return strcmp(x->type, y->type);
}

/* Every live block's record, grouped by stack and by the type of the
 * objects among them (the object layer marks its objects' records while
 * it is traced); the blocks that are not objects form their stack's own
 * entry. */
pm_trace_snapshot *pm_trace_take_snapshot(void) {
    if (!pm_trace_is_tracing()) {
        errno = EINVAL;
        return NULL;
    }
    gather g = {snap_new(), NULL, 0, 0, false};
    bool ok = g.s != NULL && gather_grow(&g);
    if (ok) pmd_trace_each_block(gather_block, &g);
    ok = ok && !g.failed;
    size_t n = 0;
    for (size_t i = 0; ok && i < g.cap; i++)
        if (g.slots[i].stack) g.slots[n++] = g.slots[i];
    if (ok) qsort(g.slots, n, sizeof *g.slots, by_size);
    pm_trace_snapshot *s = g.s;
    ok = ok && (s->stacks = snap_take(s, (n ? n : 1) * sizeof *s->stacks)) != NULL;
    for (size_t i = 0; ok && i < n; i++) ok = copy_stack(s, &s->stacks[s->nstacks++], &g.slots[i]);
    if (g.slots) pmos_unmap(g.slots, g.cap * sizeof *g.slots);
    if (!ok) {
        pm_trace_snapshot_free(s);
        errno = ENOMEM;
        return NULL;
    }
    return s;
}

size_t pm_trace_snapshot_stacks(const pm_trace_snapshot *s) { return s ? s->nstacks : 0; }

size_t pm_trace_snapshot_frames(const pm_trace_snapshot *s, size_t stack, pm_trace_frame *out,
                                size_t max) {
    if (s == NULL || stack >= s->nstacks) return 0;
    const snap_stack *st = &s->stacks[stack];
    size_t n = st->nframes < max ? st->nframes : max;
    for (size_t i = 0; i < n; i++) {
        const snap_frame *f = &st->frames[i];
        out[i] = (pm_trace_frame){f->interpreter, f->file, f->function, f->line, f->offset};
    }
    return n;
}

/* ---- filters ----------------------------------------------------------------- */

static bool frame_matches(const pm_trace_filter *f, const snap_frame *fr) {
    if (f->file_pattern && (fr->file == NULL || fnmatch(f->file_pattern, fr->file, 0) != 0))
        return false;
    return f->line <= 0 || (fr->interpreter && fr->line == f->line);
}

/* Does filter f match stack st: its domain, then its innermost frame (or
 * any frame, with all_frames)? */
static bool filter_matches(const pm_trace_filter *f, const snap_stack *st) {
    if (f->domain >= 0 && st->domain != f->domain) return false;
    if (f->type_pattern && (st->type == NULL || fnmatch(f->type_pattern, st->type, 0) != 0))
        return false;
    if (f->file_pattern == NULL && f->line <= 0) return true;
    uint32_t n = f->all_frames ? st->nframes : (st->nframes ? 1 : 0);
    for (uint32_t i = 0; i < n; i++)
        if (frame_matches(f, &st->frames[i])) return true;
    return false;
}

/* tracemalloc's rule: kept when some inclusive filter matches (or there
 * is none) and no exclusive one does. */
static bool kept(const pm_trace_filter *filters, size_t nfilters, const snap_stack *st) {
    bool any_inclusive = false, included = false;
    for (size_t i = 0; i < nfilters; i++) {
        bool m = filter_matches(&filters[i], st);
        if (!filters[i].inclusive && m) return false;
        if (filters[i].inclusive) {
            any_inclusive = true;
            included |= m;
        }
    }
    return !any_inclusive || included;
}

static bool copy_into(pm_trace_snapshot *d, snap_stack *out, const snap_stack *st) {
    *out = *st;
    out->frames = snap_take(d, (st->nframes ? st->nframes : 1) * sizeof *out->frames);
    if (out->frames == NULL) return false;
    bool ok = true;
    out->type = snap_cstring(d, st->type, &ok);
    for (uint32_t i = 0; i < st->nframes; i++) {
        out->frames[i] = st->frames[i];
        out->frames[i].file = snap_cstring(d, st->frames[i].file, &ok);
        out->frames[i].function = snap_cstring(d, st->frames[i].function, &ok);
    }
    return ok;
}

pm_trace_snapshot *pm_trace_snapshot_filter(const pm_trace_snapshot *s,
                                            const pm_trace_filter *filters, size_t nfilters) {
    if (s == NULL) {
        errno = EINVAL;
        return NULL;
    }
    pm_trace_snapshot *d = snap_new();
    bool ok =
        d && (d->stacks = snap_take(d, (s->nstacks ? s->nstacks : 1) * sizeof *d->stacks)) != NULL;
    for (size_t i = 0; ok && i < s->nstacks; i++)
        if (kept(filters, nfilters, &s->stacks[i]))
            ok = copy_into(d, &d->stacks[d->nstacks++], &s->stacks[i]);
    if (!ok) {
        pm_trace_snapshot_free(d);
        errno = ENOMEM;
        return NULL;
    }
    return d;
}

/* ---- statistics ---------------------------------------------------------------- */

/* One key's figures while grouping; `frame` (NULL for the domain key) and
 * `stack` say what the key is. */
typedef struct stat_slot {
    const snap_frame *frame;
    const snap_stack *stack;
    const pm_trace_snapshot *owner; /* whose stack `stack` is */
    uint64_t hash;
    int64_t size, count, base_size, base_count;
    bool used;
} stat_slot;

typedef struct grouping {
    int key;
    stat_slot *slots;
    size_t cap, used;
} grouping;

static uint64_t str_hash(const char *s, uint64_t h) {
    return s ? hash_bytes(s, strlen(s), h) : h * 31 + 7;
}

static bool str_eq(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* A frame's part of the key: its file, then its function, then its line
 * (an interpreter frame's) or offset (a native frame's); a native frame
 * with no function name keeps its offset at the function level. */
static uint64_t frame_hash(int key, const snap_frame *f) {
    uint64_t h = str_hash(f->file, 14695981039346656037ull + (uint64_t)f->interpreter);
    if (key == PM_TRACE_BY_FILE) return h;
    h = str_hash(f->function, h);
    if (key == PM_TRACE_BY_FUNCTION && f->function) return h;
    return (h ^ (uint64_t)f->line ^ (f->offset << 20)) * 0x100000001b3ull;
}

static bool frame_eq(int key, const snap_frame *a, const snap_frame *b) {
    if (a->interpreter != b->interpreter || !str_eq(a->file, b->file)) return false;
    if (key == PM_TRACE_BY_FILE) return true;
    if (!str_eq(a->function, b->function)) return false;
    if (key == PM_TRACE_BY_FUNCTION && a->function) return true;
    return a->line == b->line && a->offset == b->offset;
}

static uint64_t stack_hash(const snap_stack *st) {
    uint64_t h = 0x9E3779B97F4A7C15ull * (uint64_t)(st->domain + 2);
    for (uint32_t i = 0; i < st->nframes; i++)
        h = h * 31 + frame_hash(PM_TRACE_BY_LINE, &st->frames[i]);
    return h;
}

static bool stack_eq(const snap_stack *a, const snap_stack *b) {
    if (a->domain != b->domain || a->nframes != b->nframes) return false;
    for (uint32_t i = 0; i < a->nframes; i++)
        if (!frame_eq(PM_TRACE_BY_LINE, &a->frames[i], &b->frames[i])) return false;
    return true;
}

static bool slot_is(const grouping *g, const stat_slot *x, const snap_stack *st,
                    const snap_frame *f) {
    switch (g->key) {
        case PM_TRACE_BY_STACK: return stack_eq(x->stack, st);
        case PM_TRACE_BY_DOMAIN: return x->stack->domain == st->domain;
        case PM_TRACE_BY_TYPE: return str_eq(x->stack->type, st->type);
        default: return frame_eq(g->key, x->frame, f);
    }
}

/* The slot of (st, f)'s key, made if new. */
static stat_slot *slot_of(grouping *g, const pm_trace_snapshot *owner, const snap_stack *st,
                          const snap_frame *f) {
    uint64_t h = g->key == PM_TRACE_BY_STACK    ? stack_hash(st)
                 : g->key == PM_TRACE_BY_DOMAIN ? (uint64_t)st->domain * 0x9E3779B97F4A7C15ull
                 : g->key == PM_TRACE_BY_TYPE   ? str_hash(st->type, 0x9E3779B97F4A7C15ull)
                                                : frame_hash(g->key, f);
    size_t i = (size_t)(h ^ (h >> 31)) & (g->cap - 1);
    for (; g->slots[i].used; i = (i + 1) & (g->cap - 1))
        if (g->slots[i].hash == h && slot_is(g, &g->slots[i], st, f)) return &g->slots[i];
    g->slots[i] = (stat_slot){f, st, owner, h, 0, 0, 0, 0, true};
    g->used++;
    return &g->slots[i];
}

/* Has an earlier frame of st the same key as frame i? (Recursion counts
 * a cumulative key once a stack.) */
static bool seen_before(int key, const snap_stack *st, uint32_t i) {
    for (uint32_t k = 0; k < i; k++)
        if (frame_eq(key, &st->frames[k], &st->frames[i])) return true;
    return false;
}

static void add_snapshot(grouping *g, const pm_trace_snapshot *s, bool base, bool cumulative) {
    static const snap_frame none = {NULL, NULL, 0, 0, 0};
    for (size_t k = 0; k < s->nstacks; k++) {
        const snap_stack *st = &s->stacks[k];
        bool by_frame = g->key != PM_TRACE_BY_STACK && g->key != PM_TRACE_BY_DOMAIN &&
                        g->key != PM_TRACE_BY_TYPE;
        uint32_t n = by_frame ? (cumulative ? st->nframes : (st->nframes ? 1 : 0)) : 1;
        if (by_frame && st->nframes == 0) n = 1; /* no frame read: a key of its own */
        for (uint32_t i = 0; i < n; i++) {
            const snap_frame *f = st->nframes ? &st->frames[i] : &none;
            if (by_frame && cumulative && seen_before(g->key, st, i)) continue;
            stat_slot *x = slot_of(g, s, st, f);
            if (base) {
                x->base_size += (int64_t)st->size;
                x->base_count += (int64_t)st->count;
            } else {
                x->size += (int64_t)st->size;
                x->count += (int64_t)st->count;
            }
        }
    }
}

static size_t frames_in(const pm_trace_snapshot *s) {
    size_t n = 0;
    for (size_t k = 0; s && k < s->nstacks; k++) n += s->stacks[k].nframes + 1;
    return n;
}

static int64_t magnitude(int64_t v) { return v < 0 ? -v : v; }

static int by_change(const void *a, const void *b) {
    const pm_trace_entry *x = a, *y = b;
    int64_t dx = magnitude(x->size_diff), dy = magnitude(y->size_diff);
    if (dx != dy) return dx > dy ? -1 : 1;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return x->count > y->count ? -1 : x->count < y->count;
}

static pm_trace_entry entry_of(const stat_slot *x) {
    pm_trace_entry e = {0};
    if (x->frame)
        e.where = (pm_trace_frame){x->frame->interpreter, x->frame->file, x->frame->function,
                                   x->frame->line, x->frame->offset};
    e.domain = x->stack->domain;
    e.type = x->stack->type;
    e.snapshot = x->owner;
    e.stack = (size_t)(x->stack - x->owner->stacks);
    e.size = (size_t)x->size;
    e.count = (size_t)x->count;
    e.size_diff = x->size - x->base_size;
    e.count_diff = x->count - x->base_count;
    return e;
}

size_t pm_trace_snapshot_statistics(const pm_trace_snapshot *s, const pm_trace_snapshot *base,
                                    int key, int cumulative, pm_trace_entry *out, size_t max) {
    if (s == NULL || key < PM_TRACE_BY_STACK || key > PM_TRACE_BY_TYPE) {
        errno = EINVAL;
        return 0;
    }
    grouping g = {key, NULL, 16, 0};
    while (g.cap < 2 * (frames_in(s) + frames_in(base))) g.cap *= 2;
    g.slots = pmos_map(g.cap * sizeof *g.slots); /* zeroed: every slot unused */
    pm_trace_entry *all = g.slots ? pmos_map(g.cap * sizeof *all) : NULL;
    if (all == NULL) {
        if (g.slots) pmos_unmap(g.slots, g.cap * sizeof *g.slots);
        errno = ENOMEM;
        return 0;
    }
    add_snapshot(&g, s, false, cumulative != 0);
    if (base) add_snapshot(&g, base, true, cumulative != 0);
    size_t n = 0;
    for (size_t i = 0; i < g.cap; i++)
        if (g.slots[i].used) all[n++] = entry_of(&g.slots[i]);
    qsort(all, n, sizeof *all, by_change);
    if (out != NULL && max > 0) memcpy(out, all, (n < max ? n : max) * sizeof *out);
    pmos_unmap(all, g.cap * sizeof *all);
    pmos_unmap(g.slots, g.cap * sizeof *g.slots);
    return n;
}

/* ---- the file ------------------------------------------------------------------ */

/* The output while dumping: mapped once at its largest possible size. */
typedef struct out_buf {
    unsigned char *p;
    size_t len, cap;
} out_buf;

static void out_varint(out_buf *o, uint64_t v) { o->len += pmd_encode_varint(o->p + o->len, v); }

/* A string's id in the file: its slot's rank among the used slots + 1
 * (ids[slot]); 0 for NULL. */
static uint64_t string_ref(const pm_trace_snapshot *s, const uint32_t *ids, const char *text) {
    if (text == NULL) return 0;
    size_t i = hash_bytes(text, strlen(text), 14695981039346656037ull) & (s->strings_cap - 1);
    while (s->strings[i] != text) i = (i + 1) & (s->strings_cap - 1);
    return ids[i];
}

static size_t dump_bound(const pm_trace_snapshot *s) {
    size_t n = 64 + s->nstacks * 50 + frames_in(s) * 40;
    for (size_t i = 0; i < s->strings_cap; i++)
        if (s->strings[i]) n += strlen(s->strings[i]) + 10;
    return n;
}

static void dump_into(const pm_trace_snapshot *s, const uint32_t *ids, out_buf *o) {
    memcpy(o->p, SNAP_MAGIC, sizeof SNAP_MAGIC);
    o->p[sizeof SNAP_MAGIC] = SNAP_VERSION;
    o->len = sizeof SNAP_MAGIC + 1;
    out_varint(o, s->nstrings);
    for (size_t i = 0; i < s->strings_cap; i++) {
        if (s->strings[i] == NULL) continue;
        size_t len = strlen(s->strings[i]);
        out_varint(o, len);
        memcpy(o->p + o->len, s->strings[i], len);
        o->len += len;
    }
    out_varint(o, s->nstacks);
    for (size_t k = 0; k < s->nstacks; k++) {
        const snap_stack *st = &s->stacks[k];
        out_varint(o, st->size);
        out_varint(o, st->count);
        out_varint(o, (uint64_t)st->domain);
        out_varint(o, string_ref(s, ids, st->type));
        out_varint(o, st->nframes);
        for (uint32_t i = 0; i < st->nframes; i++) {
            const snap_frame *f = &st->frames[i];
            out_varint(o, (uint64_t)f->interpreter);
            out_varint(o, string_ref(s, ids, f->file));
            out_varint(o, string_ref(s, ids, f->function));
            out_varint(o, f->line > 0 ? (uint64_t)f->line : 0);
            out_varint(o, f->offset);
        }
    }
}

static bool write_file(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    size_t off = 0;
    int failed = 0; /* the errno of a write that failed; EIO: it wrote nothing */
    while (off < n && !failed) {
        ssize_t w = write(fd, (const char *)data + off, n - off);
        if (w > 0) off += (size_t)w;
        else if (w < 0 && errno == EINTR) continue;
        else failed = w < 0 ? errno : EIO;
    }
    bool closed = close(fd) == 0; /* (a full disk may show only here) */
    if (failed) errno = failed;
    return !failed && closed;
}

int pm_trace_snapshot_dump(const pm_trace_snapshot *s, const char *path) {
    if (s == NULL || path == NULL) {
        errno = EINVAL;
        return -1;
    }
    out_buf o = {NULL, 0, dump_bound(s)};
    uint32_t *ids = pmos_map((s->strings_cap ? s->strings_cap : 1) * sizeof *ids);
    o.p = ids ? pmos_map(o.cap) : NULL;
    bool ok = o.p != NULL;
    if (ok) {
        uint32_t next = 0;
        for (size_t i = 0; i < s->strings_cap; i++)
            if (s->strings[i]) ids[i] = ++next;
        dump_into(s, ids, &o);
        ok = write_file(path, o.p, o.len);
    } else errno = ENOMEM;
    int saved = errno;
    if (o.p) pmos_unmap(o.p, o.cap);
    if (ids) pmos_unmap(ids, (s->strings_cap ? s->strings_cap : 1) * sizeof *ids);
    errno = saved;
    return ok ? 0 : -1;
}

/* The input while loading: bounds-checked reads; `bad` once anything is
 * out of bounds or out of range. */
typedef struct in_buf {
    const unsigned char *p, *end;
    bool bad;
} in_buf;

static uint64_t in_varint(in_buf *in) {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && in->p < in->end; shift += 7) {
        unsigned char b = *in->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    in->bad = true;
    return 0;
}

static uint64_t in_bounded(in_buf *in, uint64_t limit) {
    uint64_t v = in_varint(in);
    if (v > limit) in->bad = true;
    return v > limit ? 0 : v;
}

static bool load_strings(in_buf *in, pm_trace_snapshot *s, const char ***table, uint64_t *n) {
    *n = in_bounded(in, (uint64_t)(in->end - in->p));
    *table = snap_take(s, (*n + 1) * sizeof **table);
    if (*table == NULL) return false;
    (*table)[0] = NULL;
    bool ok = true;
    for (uint64_t i = 1; i <= *n && !in->bad; i++) {
        uint64_t len = in_bounded(in, SNAP_MAX_STRING);
        if (len > (uint64_t)(in->end - in->p) || memchr(in->p, '\0', len) != NULL)
            in->bad = true; /* cut short, or a NUL that would end the string early */
        if (in->bad) break;
        (*table)[i] = snap_string(s, (const char *)in->p, len, &ok);
        in->p += len;
        if (!ok) return false;
    }
    return true;
}

static bool load_stacks(in_buf *in, pm_trace_snapshot *s, const char **strings, uint64_t nstr,
                        unsigned version) {
    uint64_t n = in_bounded(in, (uint64_t)(in->end - in->p));
    s->stacks = snap_take(s, (n ? n : 1) * sizeof *s->stacks);
    if (s->stacks == NULL) return false;
    for (uint64_t k = 0; k < n && !in->bad; k++) {
        snap_stack *st = &s->stacks[s->nstacks++];
        st->size = (size_t)in_varint(in);
        st->count = (size_t)in_varint(in);
        st->domain = (int)in_bounded(in, PM_TRACE_DOMAIN_HEAP);
        st->type = version >= 2 ? strings[in_bounded(in, nstr)] : NULL;
        st->nframes = (uint32_t)in_bounded(in, PM_TRACE_MAX_FRAMES * 2);
        st->frames = snap_take(s, (st->nframes ? st->nframes : 1) * sizeof *st->frames);
        if (st->frames == NULL) return false;
        for (uint32_t i = 0; i < st->nframes && !in->bad; i++) {
            snap_frame *f = &st->frames[i];
            f->interpreter = (int)in_bounded(in, 1);
            f->file = strings[in_bounded(in, nstr)];
            f->function = strings[in_bounded(in, nstr)];
            f->line = (int)in_bounded(in, INT32_MAX);
            f->offset = (uintptr_t)in_varint(in);
        }
    }
    return true;
}

static pm_trace_snapshot *parse(const unsigned char *data, size_t n) {
    in_buf in = {data + sizeof SNAP_MAGIC + 1, data + n, false};
    if (n < sizeof SNAP_MAGIC + 1 || memcmp(data, SNAP_MAGIC, sizeof SNAP_MAGIC) != 0 ||
        data[sizeof SNAP_MAGIC] < 1 || data[sizeof SNAP_MAGIC] > SNAP_VERSION) {
        errno = EINVAL;
        return NULL;
    }
    pm_trace_snapshot *s = snap_new();
    const char **strings;
    uint64_t nstr;
    /* load_strings and load_stacks fail only for want of memory; a bad
     * file sets in.bad. */
    bool oom = s == NULL || !load_strings(&in, s, &strings, &nstr) ||
               (!in.bad && !load_stacks(&in, s, strings, nstr, data[sizeof SNAP_MAGIC]));
    if (oom || in.bad || in.p != in.end) {
        pm_trace_snapshot_free(s);
        errno = oom ? ENOMEM : EINVAL;
        return NULL;
    }
    return s;
}

/* The whole of a regular file into data (size bytes); errno on failure. */
static bool read_all(int fd, unsigned char *data, size_t size) {
    size_t off = 0;
    while (off < size) {
        ssize_t n = pread(fd, data + off, size - off, (off_t)off);
        if (n > 0) off += (size_t)n;
        else if (n < 0 && errno == EINTR) continue;
        else {
            if (n == 0) errno = EINVAL; /* shorter than fstat said: changed under us */
            return false;
        }
    }
    return true;
}

pm_trace_snapshot *pm_trace_snapshot_load(const char *path) {
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        if (path == NULL) errno = EINVAL;
        return NULL;
    }
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
    size_t size = regular ? (size_t)st.st_size : 0;
    unsigned char *data = regular ? pmos_map(size) : NULL;
    bool ok = data != NULL && read_all(fd, data, size);
    int saved = !regular ? EINVAL : data == NULL ? ENOMEM : errno;
    close(fd);
    pm_trace_snapshot *s = ok ? parse(data, (size_t)size) : NULL;
    if (!ok) errno = saved ? saved : EIO;
    if (data) {
        saved = errno;
        pmos_unmap(data, (size_t)size);
        errno = saved;
    }
    return s;
}
