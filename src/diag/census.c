/*
 * census.c -- count and bytes by type of every live object of a runtime
 * (objgraph's typestats and show_growth, pympler's summary and tracker),
 * the objects born since a mark, and the difference of two censuses.
 *
 * Owns: pm_census (a table of rows by type), the mark of a runtime (a
 * watch of its births) and pm_census_tracker. The design, with its costs:
 * docs/DESIGN.md, "Diagnostics: census".
 *
 * How every live object is found, and only objects (heap.h, O1): a
 * runtime allocates its objects, and nothing else, from a cache of its
 * own, so a block of a pool that cache owns is an object, a block on one
 * of the runtime's free lists, or free; and a large object's entry in the
 * heap's large table names that cache. A census walks those pools and
 * entries, in address order within a pool, with no recursion and no
 * object touched but its header: a chain of 10,000,000 objects costs no
 * stack. Blocks the census leaves out: free blocks (the pool's free list
 * and purged pages, pmh_pool_free_map), the runtime's free-list blocks
 * (their addresses, sorted, looked up per pool), objects of the debug
 * quarantine (PMO_OF_DEAD) and objects being deallocated (count 0).
 *
 * Invariants:
 *   C1  Everything this module allocates is internal memory (the C
 *       library's, heap/internal_alloc.h), never a heap's block or an
 *       object: the census never counts itself, nor changes the counts of
 *       the heap it walks.
 *   C2  A row's type pointer is an identity, never read after the census:
 *       the type may die. Its name is the census's own copy; two censuses
 *       compare rows by (pointer, name), so a type freed and another made
 *       at its address with another name are two rows.
 *   C3  A mark's set holds the address of every object born since the
 *       mark (no death is recorded): a live object at an address in the set
 *       was born there after the mark, since a block is given to one
 *       object at a time and every birth after the mark is in the set.
 *       When the set cannot grow it is `lost`, and the questions that need
 *       it fail with MemoryError rather than answer wrong.
 *   C4  A failing call leaves nothing behind: every partial result is
 *       freed, and the pending exception says why (MemoryError, or
 *       RuntimeError for a runtime whose objects do not come from its
 *       heap's pools, or for a question about a mark that is not set).
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the mark: a watch of the runtime's births (C3) --------------------- */

typedef struct census_mark {
    pmo_births watch; /* first: the object layer hands it back */
    uintptr_t *slots; /* open addressing; 0 is empty          */
    size_t cap, count;
    bool lost; /* the set could not grow: C3       */
} census_mark;

static size_t addr_hash(uintptr_t p, size_t cap) {
    return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static void set_put(uintptr_t *slots, size_t cap, uintptr_t p) {
    size_t i = addr_hash(p, cap);
    while (slots[i] != 0 && slots[i] != p) i = (i + 1) & (cap - 1);
    slots[i] = p;
}

static bool mark_has(const census_mark *m, uintptr_t p) {
    if (m->cap == 0) return false;
    for (size_t i = addr_hash(p, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i] == p) return true;
        if (m->slots[i] == 0) return false;
    }
}

/* Room for one more address, at most half full: false when out of memory. */
static bool mark_grow(census_mark *m) {
    if ((m->count + 1) * 2 <= m->cap) return true;
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uintptr_t *slots = pmh_internal_calloc(cap, sizeof *slots);
    if (slots == NULL) return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i]) set_put(slots, cap, m->slots[i]);
    pmh_internal_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

/* The object layer's call at every birth (pmo_births.born): may not fail,
 * so a set that cannot grow is marked lost (C3). */
static void mark_born(pmo_births *w, pm_object *o) {
    census_mark *m = (census_mark *)w;
    if (m->lost) return;
    if (!mark_has(m, (uintptr_t)o)) {
        if (!mark_grow(m)) {
            m->lost = true;
            return;
        }
        set_put(m->slots, m->cap, (uintptr_t)o);
        m->count++;
    }
}

static void mark_release(pmo_births *w) {
    census_mark *m = (census_mark *)w;
    pmh_internal_free(m->slots);
    pmh_internal_free(m);
}

static pm_runtime *runtime_or_current(pm_runtime *rt) { return rt ? rt : pm_runtime_current(); }

/* The runtime's mark, or NULL: the watch of births is the census's only
 * when its born function is ours. */
static census_mark *mark_of(const pm_runtime *rt) {
    pmo_births *w = rt->births;
    return w && w->born == mark_born ? (census_mark *)w : NULL;
}

bool pmd_census_marked(const pm_runtime *rt) { return mark_of(rt) != NULL; }

int pm_census_mark(pm_runtime *rt) {
    rt = runtime_or_current(rt);
    census_mark *m = pmh_internal_calloc(1, sizeof *m);
    if (m == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "census: no memory for a mark");
        return -1;
    }
    m->watch = (pmo_births){mark_born, mark_release};
    pm_census_unmark(rt);
    pmo_watch_births(rt, &m->watch);
    return 0;
}

void pm_census_unmark(pm_runtime *rt) {
    rt = runtime_or_current(rt);
    census_mark *m = mark_of(rt);
    if (m == NULL) return;
    pmo_watch_births(rt, NULL);
    mark_release(&m->watch);
}

/* ---- the census: rows by type --------------------------------------------- */

typedef struct census_tally {
    const pm_type *type;
    int64_t count, bytes;
} census_tally;

struct pm_census {
    pm_census_row *rows; /* sorted; names point into `names`  */
    size_t nrows;
    char *names;
    int64_t count, bytes; /* totals                           */
    bool diff;            /* counts are changes (pm_census_diff) */
};

void pm_census_free(pm_census *c) {
    if (c == NULL) return;
    pmh_internal_free(c->rows);
    pmh_internal_free(c->names);
    pmh_internal_free(c);
}

size_t pm_census_size(const pm_census *c) { return c->nrows; }

const pm_census_row *pm_census_row_at(const pm_census *c, size_t i) {
    return i < c->nrows ? &c->rows[i] : NULL;
}

const pm_census_row *pm_census_find(const pm_census *c, const char *type_name) {
    for (size_t i = 0; i < c->nrows; i++)
        if (strcmp(c->rows[i].type_name, type_name) == 0) return &c->rows[i];
    return NULL;
}

const pm_census_row *pm_census_find_type(const pm_census *c, const pm_type *type) {
    for (size_t i = 0; i < c->nrows; i++)
        if (c->rows[i].type == type) return &c->rows[i];
    return NULL;
}

void pm_census_totals(const pm_census *c, int64_t *count, int64_t *bytes) {
    if (count) *count = c->count;
    if (bytes) *bytes = c->bytes;
}

/* Largest first (by count, then bytes), then by name: a stable order for
 * reading and for tests. A diff sorts by the change, growth first. */
static int row_order(const void *x, const void *y) {
    const pm_census_row *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    if (a->bytes != b->bytes) return a->bytes > b->bytes ? -1 : 1;
    int r = strcmp(a->type_name, b->type_name);
    if (r) return r;
    return (uintptr_t)a->type < (uintptr_t)b->type ? -1 : (uintptr_t)a->type > (uintptr_t)b->type;
}

/* A census of copies of the n rows in[] (their names copied into the
 * census's own block), sorted; NULL with MemoryError. */
static pm_census *census_make(const pm_census_row *in, size_t n, bool diff) {
    pm_census *c = pmh_internal_calloc(1, sizeof *c);
    size_t names = 1;
    for (size_t i = 0; i < n; i++) names += strlen(in[i].type_name) + 1;
    if (c) c->rows = pmh_internal_calloc(n ? n : 1, sizeof *c->rows);
    if (c && c->rows) c->names = pmh_internal_malloc(names);
    if (c == NULL || c->rows == NULL || c->names == NULL) {
        pm_census_free(c);
        pm_exc_set(PM_EXC_MEMORY, "census: no memory for its rows");
        return NULL;
    }
    char *at = c->names;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(in[i].type_name) + 1;
        memcpy(at, in[i].type_name, len);
        c->rows[i] = in[i];
        c->rows[i].type_name = at;
        at += len;
        c->count += in[i].count;
        c->bytes += in[i].bytes;
    }
    c->nrows = n;
    c->diff = diff;
    qsort(c->rows, n, sizeof *c->rows, row_order);
    return c;
}

/* ---- the walk ---------------------------------------------------------------- */

typedef struct census_walk {
    pm_runtime *rt;
    const census_mark *born; /* only objects born since this mark, or NULL */
    uintptr_t *freelist;     /* the runtime's free-list blocks, sorted   */
    size_t nfreelist;
    census_tally *tally; /* by type: open addressing on the pointer    */
    size_t tcap, ntypes;
    pmo_vec objects; /* the objects counted, when asked for        */
    bool want_objects;
    uint8_t is_free[PMH_MAX_BLOCKS];
    const char *corrupt; /* a pool's free list did not hold together  */
} census_walk;

/* The tally of type t, made if need be; NULL when out of memory. */
static census_tally *tally_of(census_walk *w, const pm_type *t) {
    if (w->tcap) {
        for (size_t i = addr_hash((uintptr_t)t, w->tcap);; i = (i + 1) & (w->tcap - 1)) {
            if (w->tally[i].type == t) return &w->tally[i];
            if (w->tally[i].type == NULL) break;
        }
    }
    if ((w->ntypes + 1) * 2 > w->tcap) {
        size_t cap = w->tcap ? w->tcap * 2 : 64;
        census_tally *tally = pmh_internal_calloc(cap, sizeof *tally);
        if (tally == NULL) return NULL;
        for (size_t i = 0; i < w->tcap; i++) {
            if (w->tally[i].type == NULL) continue;
            size_t j = addr_hash((uintptr_t)w->tally[i].type, cap);
            while (tally[j].type) j = (j + 1) & (cap - 1);
            tally[j] = w->tally[i];
        }
        pmh_internal_free(w->tally);
        w->tally = tally;
        w->tcap = cap;
    }
    size_t i = addr_hash((uintptr_t)t, w->tcap);
    while (w->tally[i].type) i = (i + 1) & (w->tcap - 1);
    w->tally[i].type = t;
    w->ntypes++;
    return &w->tally[i];
}

/* Count the object at block, of `bytes` bytes of heap; -1 when out of
 * memory (the walk stops). */
static int count_object(census_walk *w, pm_object *o, size_t bytes) {
    if (o->refcnt == 0 || (o->flags & PMO_OF_DEAD)) return 0; /* dying, or quarantined */
    if (w->born && !mark_has(w->born, (uintptr_t)o)) return 0;
    census_tally *t = tally_of(w, o->type);
    if (t == NULL) return -1;
    if (w->want_objects && !pmo_vec_push(&w->objects, o)) return -1;
    t->count++;
    t->bytes += (int64_t)bytes;
    return 0;
}

/* The runtime's free-list blocks inside pool (a binary search of the
 * sorted addresses) join its free blocks. */
static void mark_freelist_blocks(census_walk *w, const pmh_pool *pool, size_t carved) {
    uintptr_t lo = (uintptr_t)pool, hi = lo + PMH_POOL_HEADER + carved * pool->size;
    size_t a = 0, b = w->nfreelist;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (w->freelist[mid] < lo) a = mid + 1;
        else b = mid;
    }
    for (; a < w->nfreelist && w->freelist[a] < hi; a++)
        w->is_free[(w->freelist[a] - lo - PMH_POOL_HEADER) / pool->size] = 1;
}

static int visit_pool(const pm_heap *h, const pmh_arena *a, pmh_pool *pool, void *arg) {
    census_walk *w = arg;
    (void)a;
    if (pool->owner != w->rt->cache || pool->nused == 0) return 0;
    size_t carved = pmh_pool_free_map(h, pool, w->is_free, &w->corrupt);
    if (carved == SIZE_MAX) return -1;
    mark_freelist_blocks(w, pool, carved);
    char *block = (char *)pool + PMH_POOL_HEADER;
    for (size_t i = 0; i < carved; i++, block += pool->size)
        if (!w->is_free[i] && count_object(w, (pm_object *)block, pool->size) != 0) return -1;
    return 0;
}

static int visit_large(void *arg, void *block, size_t size, int is_large) {
    (void)is_large;
    return count_object(arg, block, size);
}

static int cmp_addr(const void *x, const void *y) {
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
    return (a > b) - (a < b);
}

/* The addresses of every block on rt's free lists, sorted: false when out
 * of memory. The lists are bounded (object.h: at most 40,260 blocks). */
static bool collect_freelists(census_walk *w) {
    pmo_freelists *fl = &w->rt->freelists;
    pmo_freelist *lists[PMO_TUPLE_FREELIST_SIZES + 4];
    size_t nlists = 0, n = 0;
    lists[nlists++] = &fl->floats;
    lists[nlists++] = &fl->lists;
    lists[nlists++] = &fl->dicts;
    for (size_t i = 0; i <= PMO_TUPLE_FREELIST_SIZES; i++) lists[nlists++] = &fl->tuples[i];
    for (size_t i = 0; i < nlists; i++) n += lists[i]->size;
    w->freelist = pmh_internal_malloc((n ? n : 1) * sizeof *w->freelist);
    if (w->freelist == NULL) return false;
    for (size_t i = 0; i < nlists; i++)
        for (void *b = lists[i]->head; b && w->nfreelist < n; b = *(void **)b)
            w->freelist[w->nfreelist++] = (uintptr_t)b;
    qsort(w->freelist, w->nfreelist, sizeof *w->freelist, cmp_addr);
    return true;
}

/* The rows of a finished walk, as a census. */
static pm_census *census_of_walk(const census_walk *w) {
    pm_census_row *rows = pmh_internal_calloc(w->ntypes ? w->ntypes : 1, sizeof *rows);
    if (rows == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "census: no memory for its rows");
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < w->tcap; i++) {
        const census_tally *t = &w->tally[i];
        if (t->type == NULL || t->count == 0) continue;
        rows[n++] = (pm_census_row){t->type->name, t->type, t->count, t->bytes};
    }
    pm_census *c = census_make(rows, n, false);
    pmh_internal_free(rows);
    return c;
}

/* Can rt be censused? Its objects must come from its own cache's pools
 * (O1), as they do untraced and under the recorder alone; not while its
 * obj table is the heap's debug hooks or a program's allocator, whose
 * blocks go elsewhere. */
static bool censusable(const pm_runtime *rt) {
    if (pmo_objects_in_pools(rt)) return true;
    pm_exc_set(PM_EXC_RUNTIME, "census: the runtime's objects do not come from its heap's pools "
                               "(debug hooks or a program's allocator)");
    return false;
}

/* Walk rt's objects (only those born since its mark, with `new_only`):
 * the census, and with `objects` the objects counted (borrowed, in an
 * internal array whose length goes to *nobjects). NULL on failure (C4). */
static pm_census *census_run(pm_runtime *rt, bool new_only, pm_object ***objects,
                             size_t *nobjects) {
    rt = runtime_or_current(rt);
    if (!censusable(rt)) return NULL;
    census_walk *w = pmh_internal_calloc(1, sizeof *w);
    if (w == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "census: no memory for its walk");
        return NULL;
    }
    w->rt = rt;
    w->want_objects = objects != NULL;
    if (new_only && (w->born = mark_of(rt)) == NULL) {
        pmh_internal_free(w);
        pm_exc_set(PM_EXC_RUNTIME, "census: no mark is set (pm_census_mark)");
        return NULL;
    }
    if (w->born && w->born->lost) {
        pmh_internal_free(w);
        pm_exc_set(PM_EXC_MEMORY, "census: the mark lost births (no memory to record them)");
        return NULL;
    }
    int r = collect_freelists(w) ? 0 : -1;
    pm_heap *h = rt->heap;
    if (r == 0) {
        pmh_lock(h);                     /* the arenas and the other caches' pools may change */
        pmh_cache_collect(h, rt->cache); /* blocks freed from other threads */
        r = pmh_for_each_pool(h, visit_pool, w);
        if (r == 0) r = pmh_large_walk_objects(h, rt->cache, visit_large, w);
        pmh_unlock(h);
    }
    pm_census *c = NULL;
    if (r != 0 && w->corrupt) pm_exc_set(PM_EXC_RUNTIME, "census: heap corrupt: %s", w->corrupt);
    else if (r != 0) pm_exc_set(PM_EXC_MEMORY, "census: no memory for its tallies");
    else c = census_of_walk(w);
    if (c && objects) {
        *objects = w->objects.items;
        *nobjects = w->objects.len;
        w->objects.items = NULL;
    }
    pmo_vec_free(&w->objects);
    pmh_internal_free(w->freelist);
    pmh_internal_free(w->tally);
    pmh_internal_free(w);
    return c;
}

pm_census *pm_census_take(pm_runtime *rt) { return census_run(rt, false, NULL, NULL); }

pm_census *pm_census_take_new(pm_runtime *rt) { return census_run(rt, true, NULL, NULL); }

pm_object **pm_census_new_objects(pm_runtime *rt, size_t *n) {
    pm_object **objects = NULL;
    size_t count = 0;
    pm_census *c = census_run(rt, true, &objects, &count);
    if (c == NULL) return NULL;
    pm_census_free(c);
    if (objects == NULL) objects = pmh_internal_malloc(sizeof *objects); /* none: still freeable */
    if (objects == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "census: no memory for the objects");
        return NULL;
    }
    *n = count;
    return objects;
}

void pm_census_objects_free(pm_object **objects) { pmh_internal_free(objects); }

/* The walk, shared with the questions of why an object is alive
 * (diag/held.c): every live object of rt, whatever its age. */
int pmd_census_objects(pm_runtime *rt, pm_object ***objects, size_t *n) {
    pm_object **v = NULL;
    size_t count = 0;
    pm_census *c = census_run(rt, false, &v, &count);
    if (c == NULL) return -1;
    pm_census_free(c);
    *objects = v; /* NULL when there is none */
    *n = count;
    return 0;
}

/* ---- differences ------------------------------------------------------------- */

/* By identity (C2): the type pointer, then the name. */
static int row_identity(const void *x, const void *y) {
    const pm_census_row *a = x, *b = y;
    if (a->type != b->type) return (uintptr_t)a->type < (uintptr_t)b->type ? -1 : 1;
    return strcmp(a->type_name, b->type_name);
}

/* c's rows in identity order, in a new array; NULL when out of memory. */
static pm_census_row *rows_by_identity(const pm_census *c) {
    pm_census_row *rows = pmh_internal_malloc((c->nrows ? c->nrows : 1) * sizeof *rows);
    if (rows == NULL) return NULL;
    memcpy(rows, c->rows, c->nrows * sizeof *rows);
    qsort(rows, c->nrows, sizeof *rows, row_identity);
    return rows;
}

pm_census *pm_census_diff(const pm_census *now, const pm_census *before) {
    pm_census_row *a = rows_by_identity(now), *b = rows_by_identity(before);
    pm_census_row *out = pmh_internal_calloc(now->nrows + before->nrows + 1, sizeof *out);
    pm_census *c = NULL;
    if (a && b && out) {
        size_t i = 0, j = 0, n = 0;
        while (i < now->nrows || j < before->nrows) {
            int k = i == now->nrows ? 1 : j == before->nrows ? -1 : row_identity(&a[i], &b[j]);
            pm_census_row r = k <= 0 ? a[i] : b[j];
            r.count = (k <= 0 ? a[i].count : 0) - (k >= 0 ? b[j].count : 0);
            r.bytes = (k <= 0 ? a[i].bytes : 0) - (k >= 0 ? b[j].bytes : 0);
            i += k <= 0;
            j += k >= 0;
            if (r.count || r.bytes) out[n++] = r;
        }
        c = census_make(out, n, true);
    } else {
        pm_exc_set(PM_EXC_MEMORY, "census: no memory for a difference");
    }
    pmh_internal_free(a);
    pmh_internal_free(b);
    pmh_internal_free(out);
    return c;
}

/* ---- printing ---------------------------------------------------------------- */

int pm_census_print(const pm_census *c, FILE *out, size_t limit) {
    const char *num = c->diff ? "%+14" PRId64 : "%14" PRId64;
    size_t n = limit && limit < c->nrows ? limit : c->nrows;
    int bad = fprintf(out, "%-32s %14s %14s\n", "type", "count", "bytes") < 0;
    for (size_t i = 0; i < n && !bad; i++) {
        const pm_census_row *r = &c->rows[i];
        bad |= fprintf(out, "%-32s ", r->type_name) < 0;
        bad |= fprintf(out, num, r->count) < 0;
        bad |= fputc(' ', out) == EOF;
        bad |= fprintf(out, num, r->bytes) < 0;
        bad |= fputc('\n', out) == EOF;
    }
    if (!bad && n < c->nrows) bad |= fprintf(out, "... %zu more types\n", c->nrows - n) < 0;
    if (!bad) {
        bad |= fprintf(out, "%-32s ", "total") < 0;
        bad |= fprintf(out, num, c->count) < 0;
        bad |= fputc(' ', out) == EOF;
        bad |= fprintf(out, num, c->bytes) < 0;
        bad |= fputc('\n', out) == EOF;
    }
    return bad ? -1 : 0;
}

/* ---- the tracker (pympler's SummaryTracker) ------------------------------------ */

struct pm_census_tracker {
    pm_runtime *rt;
    pm_census *baseline, *previous;
};

pm_census_tracker *pm_census_tracker_new(pm_runtime *rt) {
    pm_census_tracker *t = pmh_internal_calloc(1, sizeof *t);
    if (t == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "census: no memory for a tracker");
        return NULL;
    }
    t->rt = runtime_or_current(rt);
    if (pm_census_tracker_rebase(t) != 0) {
        pmh_internal_free(t);
        return NULL;
    }
    return t;
}

int pm_census_tracker_rebase(pm_census_tracker *t) {
    pm_census *now = pm_census_take(t->rt);
    if (now == NULL) return -1;
    pm_census *copy = census_make(now->rows, now->nrows, false);
    if (copy == NULL) {
        pm_census_free(now);
        return -1;
    }
    pm_census_free(t->baseline);
    pm_census_free(t->previous);
    t->baseline = now;
    t->previous = copy;
    return 0;
}

pm_census *pm_census_tracker_growth(pm_census_tracker *t) {
    pm_census *now = pm_census_take(t->rt);
    if (now == NULL) return NULL;
    pm_census *d = pm_census_diff(now, t->previous);
    if (d == NULL) {
        pm_census_free(now);
        return NULL;
    }
    pm_census_free(t->previous);
    t->previous = now;
    return d;
}

pm_census *pm_census_tracker_since_baseline(pm_census_tracker *t) {
    pm_census *now = pm_census_take(t->rt);
    if (now == NULL) return NULL;
    pm_census *d = pm_census_diff(now, t->baseline);
    pm_census_free(now);
    return d;
}

int pm_census_tracker_print_diff(pm_census_tracker *t, FILE *out) {
    pm_census *d = pm_census_tracker_growth(t);
    if (d == NULL) return -1;
    int r = pm_census_print(d, out, 0);
    pm_census_free(d);
    return r;
}

void pm_census_tracker_free(pm_census_tracker *t) {
    if (t == NULL) return;
    pm_census_free(t->baseline);
    pm_census_free(t->previous);
    pmh_internal_free(t);
}
