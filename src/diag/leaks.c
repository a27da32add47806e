/*
 * leaks.c -- leak verdicts of a runtime at a checkpoint (pm_leaks_check):
 * cycles the collector would free, objects held from C that nothing
 * explains, containers that keep growing, and heap blocks nothing points
 * to. The rule they share, and its limits: docs/DESIGN.md, "Diagnostics:
 * leak verdicts".
 *
 * Owns the check's state (struct lk, gone when the check returns) and the
 * report (pm_leaks: its verdicts and their strings). The check sorts every
 * live block of the runtime's heap by address (objects from the census's
 * walk, the others from the pools and the large table) and marks them in
 * passes, each a breadth-first walk over an array queue, one flag bit per
 * question.
 *
 * Invariants:
 *   L1  blk[] is sorted by address and its blocks do not overlap; an
 *       object's entry names its number in the graph (g.objects), any
 *       other entry NOBJ.
 *   L2  No recursion: every walk's frontier is queue[], each entry pushed
 *       at most once per bit, so a walk costs O(blocks + references).
 *   L3  All memory is internal (the C library's, or the check's own
 *       mappings for its big arrays) and the check makes no object: it
 *       never counts itself, and its pointers live in frames below the
 *       one the stack scan starts from (leakscan.c, S3).
 *   L4  A failing check frees everything and leaves its exception
 *       pending; the report is all or nothing.
 *   L5  A verdict's strings belong to the report, which holds no
 *       reference: its objects are for reading, never for use.
 *   L6  pools[] indexes every pool that holds an entry of blk[]: by its
 *       address, a bitmap of its slots that start a block of blk[], and
 *       the entry of its lowest. A pool's blocks are contiguous in blk[]
 *       (L1), so a block's entry is that one plus the live slots below
 *       it: a probe, a division and a count of bits, in an index of
 *       10 bytes per 64 slots, a 25th of a table of 4-byte entries (a
 *       million random lookups miss the cache less). Only large blocks are searched.
 *   L7  A walk seeded with an earlier walk's marks ends with the marks it
 *       would find alone: the earlier marks lie in its closure and are
 *       closed under what it would follow from them (mark_owned takes
 *       F_ROOT, judge_blocks F_OWN; each says why).
 *   L8  The collector's walk (F_COLL, F_ROOT) follows the graph's edges
 *       as held.c kept them while it accounted for the references (one
 *       traverse of each object for the whole check), by object number,
 *       its marks a bit per object, put on blk[] in one pass at its end.
 *       A live object's strong references are to objects of the graph
 *       (a counted reference keeps its object live, so in the census), so
 *       those edges are every reference the walk by address followed; the
 *       deferred queue's references, not in the graph, are still looked
 *       up by address. Memory: the edges, 4 bytes per reference and per
 *       object, and 2 bits per object, beside blk, flags and queue (24,
 *       2 and 4 bytes per block).
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"
#include "heap/os.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOBJ UINT32_MAX
#define UNSEEN UINT32_MAX
#define PATH_KEEP 4   /* steps kept at each end of a long path */
#define CYCLE_TRIES 8 /* group members tried as a loop's start */
#define STACK_MAX 64  /* frames of a verdict's allocation stack */
#define RUNS_MAX 8    /* sorted runs of others[] merged as they come */
#define HUGE_PAGE ((uintptr_t)2 << 20)

enum {
    F_COLL = 1 << 0,   /* the collector's rule: reached from roots or C roots */
    F_OWN = 1 << 1,    /* reached from the owned roots (conservative)        */
    F_SUB = 1 << 2,    /* reached from another unexplained object            */
    F_DONE = 1 << 3,   /* taken by an unowned verdict                        */
    F_BLK = 1 << 4,    /* reached from program memory and live objects       */
    F_BSUB = 1 << 5,   /* reached from another lost block                    */
    F_BDONE = 1 << 6,  /* taken by a block verdict                           */
    F_HIT = 1 << 7,    /* a word of the program's memory points into it      */
    F_JUDGED = 1 << 8, /* an object the unowned question judges             */
    F_ROOT = 1 << 9    /* F_COLL reached from the declared roots alone        */
};

typedef struct lk_block {
    uintptr_t addr;
    size_t size;
    uint32_t obj; /* L1 */
} lk_block;

/* A pool of blk[]'s blocks (L6). */
typedef struct lk_pool {
    uintptr_t pool;  /* its address; 0: an empty slot of the table */
    uintptr_t first; /* its first block's address */
    uint32_t size;   /* its blocks' size */
    uint32_t nslots;
    uint32_t base;   /* blk[]'s entry of its lowest live block */
    uint64_t *live;  /* a bit per slot: a block of blk[] starts there */
    uint16_t *below; /* per word of live[]: its live slots below that word */
} lk_pool;

typedef struct lk_vec {
    lk_block *items;
    size_t len, cap;
} lk_vec;

typedef struct lk {
    pmd_graph g;
    pm_heap *h;
    lk_block *blk; /* L1 */
    size_t nblk;
    uintptr_t lo, hi; /* the blocks' span: a word outside is no pointer */
    uint16_t *flags;
    uint32_t *queue; /* L2 */
    size_t head, tail;
    uint16_t bit, stop; /* the walk's mark, and the marks it does not cross */
    bool precise, conservative;
    bool owned_done;                 /* mark_owned ran: F_OWN is final (judge_blocks uses it) */
    uint16_t no_refs;                /* the walk's marks whose references it does not follow */
    size_t garbage;                  /* the collector's garbage list's entry, or PMD_NONE */
    bool watch_garbage, garbage_hit; /* a followed reference reached it */
    uint32_t *hits;                  /* entries the program's memory points into */
    uint64_t *coll_seen;             /* mark_collector's marks, while it reads the deferred */
    size_t nhits, caphits;
    bool oom;
    pm_leaks *out;
    lk_vec others;  /* the heap's blocks that are not objects */
    lk_pool *pools; /* L6: open addressing, pools_cap a power of two */
    size_t pools_cap;
    const char *corrupt; /* a pool's free list did not hold together */
    uint8_t is_free[PMH_MAX_BLOCKS];
} lk;

struct pm_leaks {
    pm_leak *items;
    size_t len, cap;
};

/* ---- the report ------------------------------------------------------------- */

static void leak_clear(pm_leak *l) {
    for (size_t i = 0; i < l->path_len; i++) pmh_internal_free((char *)l->path[i]);
    pmh_internal_free((void *)l->path);
    pmh_internal_free((char *)l->type);
    pmh_internal_free((void *)l->stack);
    pmh_internal_free((void *)l->growth);
    pmd_leak_graph_clear(l);
}

void pm_leaks_free(pm_leaks *r) {
    if (r == NULL) return;
    for (size_t i = 0; i < r->len; i++) leak_clear(&r->items[i]);
    pmh_internal_free(r->items);
    pmh_internal_free(r);
}

size_t pm_leaks_count(const pm_leaks *r) { return r->len; }

void pmd_leaks_drop(pm_leaks *r, bool (*drop)(const pm_leak *l, void *arg), void *arg) {
    size_t k = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (drop(&r->items[i], arg)) leak_clear(&r->items[i]);
        else r->items[k++] = r->items[i];
    }
    r->len = k;
}

const pm_leak *pm_leaks_at(const pm_leaks *r, size_t i) { return i < r->len ? &r->items[i] : NULL; }

const char *pm_leak_kind_name(pm_leak_kind kind) {
    switch (kind) {
        case PM_LEAK_CYCLE: return "cycle";
        case PM_LEAK_UNOWNED: return "unowned";
        case PM_LEAK_GROWTH: return "growth";
        case PM_LEAK_BLOCK: return "block";
    }
    return "?";
}

static char *copy_text(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = pmh_internal_malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

/* A new verdict at the report's end, its type copied; NULL when out of
 * memory (k->oom set). */
static pm_leak *leak_add(lk *k, pm_leak_kind kind, const char *type, const void *address) {
    pm_leaks *r = k->out;
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        pm_leak *items = pmh_internal_realloc(r->items, cap * sizeof *items);
        if (items == NULL) goto fail;
        r->items = items;
        r->cap = cap;
    }
    char *t = copy_text(type);
    if (t == NULL) goto fail;
    pm_leak *l = &r->items[r->len++];
    *l = (pm_leak){.kind = kind, .type = t, .address = address};
    return l;
fail:
    k->oom = true;
    return NULL;
}

/* The steps of a path as texts, a long one shortened to its ends:
 * step(arg, i, buf, size) writes step i. false when out of memory. */
typedef void (*step_fn)(void *arg, size_t i, char *buf, size_t size);
static bool leak_path(pm_leak *l, size_t len, step_fn step, void *arg) {
    size_t shown = len > 2 * PATH_KEEP ? 2 * PATH_KEEP : len;
    char **path = pmh_internal_calloc(shown ? shown : 1, sizeof *path);
    if (path == NULL) return false;
    l->path = (const char *const *)path;
    char buf[256];
    for (size_t s = 0; s < shown; s++) {
        size_t i = s < PATH_KEEP || shown == len ? s : len - (shown - s);
        step(arg, i, buf, sizeof buf);
        if ((path[s] = copy_text(buf)) == NULL) return false;
        l->path_len = s + 1;
    }
    l->path_omitted = len - shown;
    return true;
}

static void leak_stack(pm_leak *l, const void *p, bool object) {
    void *frames[STACK_MAX];
    size_t n = object ? pm_trace_object_traceback(p, frames, STACK_MAX)
                      : pm_trace_get_traceback(p, frames, STACK_MAX);
    if (n == 0) return;
    void **stack = pmh_internal_malloc(n * sizeof *stack);
    if (stack == NULL) return; /* the verdict stands without its stack */
    memcpy(stack, frames, n * sizeof *stack);
    l->stack = (void *const *)stack;
    l->stack_len = n;
}

/* "label: repr" for a path's start, "label -> repr" after it. */
static void step_text(char *buf, size_t size, size_t i, const char *label, pm_object *o) {
    char repr[160];
    pmd_short_repr(o, repr, sizeof repr);
    snprintf(buf, size, i == 0 ? "%s: %s" : "%s -> %s", label, repr);
}

/* ---- blocks and their lookup -------------------------------------------------- */

static size_t pool_hash(uintptr_t pool, size_t cap) {
    return (size_t)((pool >> 12) * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

/* Pool p's entry in the index, or the empty slot where it would go. */
static lk_pool *pool_slot(const lk *k, uintptr_t p) {
    for (size_t i = pool_hash(p, k->pools_cap);; i = (i + 1) & (k->pools_cap - 1))
        if (k->pools[i].pool == p || k->pools[i].pool == 0) return &k->pools[i];
}

/* Pool's entry of the index (L6), made when the pool's first block is
 * seen (the lowest, blk[] being sorted); false when out of memory. */
static bool pool_add(lk *k, lk_pool *p, const pmh_pool *pool, size_t e) {
    uint32_t nslots = (uint32_t)pmh_pool_capacity(k->h, pool, pool->size);
    size_t nwords = (nslots + 63) / 64;
    p->live = pmh_internal_calloc(nwords, sizeof *p->live + sizeof *p->below);
    if (p->live == NULL) return false;
    p->below = (uint16_t *)(p->live + nwords);
    p->pool = (uintptr_t)pool;
    p->first = (uintptr_t)pool + PMH_POOL_HEADER;
    p->size = pool->size;
    p->nslots = nslots;
    p->base = (uint32_t)e;
    return true;
}

/* below[] from live[], for every pool of the index. */
static void count_live(lk *k) {
    for (size_t i = 0; i < k->pools_cap; i++) {
        lk_pool *p = &k->pools[i];
        uint32_t n = 0;
        for (size_t w = 0; p->pool && w < (p->nslots + 63) / 64; w++) {
            p->below[w] = (uint16_t)n;
            n += (uint32_t)__builtin_popcountll(p->live[w]);
        }
    }
}

/* L6 for blk[]'s pool blocks; false when out of memory. */
static bool index_pools(lk *k) {
    size_t npools = 0;
    for (size_t e = 0; e < k->nblk; e++) {
        uintptr_t a = k->blk[e].addr;
        if (pmh_arena_owns(k->h, a) &&
            (e == 0 || (k->blk[e - 1].addr & k->h->pool_mask) != (a & k->h->pool_mask)))
            npools++;
    }
    k->pools_cap = 16;
    while (k->pools_cap < 2 * npools) k->pools_cap *= 2;
    k->pools = pmh_internal_calloc(k->pools_cap, sizeof *k->pools);
    if (k->pools == NULL) return false;
    for (size_t e = 0; e < k->nblk; e++) {
        uintptr_t a = k->blk[e].addr;
        if (!pmh_arena_owns(k->h, a)) continue;
        const pmh_pool *pool = pmh_pool_of(k->h, (void *)a);
        lk_pool *p = pool_slot(k, (uintptr_t)pool);
        if (p->pool == 0 && !pool_add(k, p, pool, e)) return false;
        size_t slot = (a - p->first) / p->size;
        PM_ASSERT(slot < p->nslots && a == p->first + slot * p->size);
        p->live[slot / 64] |= 1ull << (slot % 64);
    }
    count_live(k);
    return true;
}

static void free_pools(lk *k) {
    for (size_t i = 0; k->pools && i < k->pools_cap; i++) pmh_internal_free(k->pools[i].live);
    pmh_internal_free(k->pools);
}

static size_t find_block(const lk *k, uintptr_t w) {
    if (w < k->lo || w >= k->hi) return PMD_NONE;
    if (pmh_arena_owns(k->h, w)) { /* L6: a pool block, or nothing */
        const lk_pool *p = pool_slot(k, (uintptr_t)pmh_pool_of(k->h, (void *)w));
        if (p->pool == 0 || w < p->first) return PMD_NONE;
        size_t slot = (w - p->first) / p->size;
        if (slot >= p->nslots) return PMD_NONE;
        uint64_t word = p->live[slot / 64], bit = 1ull << (slot % 64);
        if (!(word & bit)) return PMD_NONE;
        return p->base + p->below[slot / 64] + (size_t)__builtin_popcountll(word & (bit - 1));
    }
    size_t a = 0, b = k->nblk; /* the last block starting at or below w */
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (k->blk[mid].addr <= w) a = mid + 1;
        else b = mid;
    }
    if (a == 0) return PMD_NONE;
    const lk_block *x = &k->blk[a - 1];
    return w < x->addr + x->size ? a - 1 : PMD_NONE;
}

static pm_object *object_at(const lk *k, size_t e) {
    return k->blk[e].obj == NOBJ ? NULL : k->g.objects[k->blk[e].obj];
}

/* The check's big arrays (blk, flags, queue: n entries each) are written
 * once, in order or at random: on 2 MiB pages the kernel takes one fault
 * where it took 512 (in a virtual machine, a fault costs microseconds),
 * and the walks' random reads miss the TLB less. They are mappings of
 * their own, never the C library's heap, whose pages the advice would
 * outlive: the program's heap must not change because a check ran. A
 * refused advice costs nothing but the speed. Zeroed; NULL when n * size
 * overflows or the map is refused. */
static size_t big_bytes(size_t n, size_t size) {
    size_t b = (n ? n : 1) * size;
    return (b + PMOS_PAGE_SIZE - 1) & ~(size_t)(PMOS_PAGE_SIZE - 1);
}

static void *alloc_big(size_t n, size_t size) {
    if (n > SIZE_MAX / 2 / size) return NULL;
    size_t bytes = big_bytes(n, size);
    void *p = pmos_map(bytes);
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t e = ((uintptr_t)p + bytes) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (p && e > a) (void)pmos_advise_huge((void *)a, e - a, true);
    return p;
}

static void free_big(void *p, size_t n, size_t size) {
    if (p) pmos_unmap(p, big_bytes(n, size));
}

static bool vec_push(lk_vec *v, lk_block b) {
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        lk_block *items = pmh_internal_realloc(v->items, cap * sizeof *items);
        if (items == NULL) return false;
        v->items = items;
        v->cap = cap;
    }
    v->items[v->len++] = b;
    return true;
}

/* A pool's live blocks that are not objects: not free, not freed by
 * another thread (xfree), in a pool no runtime owns (O-pools). */
static int visit_pool(const pm_heap *h, const pmh_arena *a, pmh_pool *pool, void *arg) {
    lk *k = arg;
    (void)a;
    if (pool->nused == 0 || pool->owner == NULL || pool->owner->for_runtime) return 0;
    size_t carved = pmh_pool_free_map(h, pool, k->is_free, &k->corrupt);
    if (carved == SIZE_MAX) return -1;
    uintptr_t first = (uintptr_t)pool + PMH_POOL_HEADER;
    pmh_block *b = atomic_load_explicit(&pool->xfree, memory_order_acquire);
    for (; b; b = blk_next(b)) {
        size_t i = ((uintptr_t)b - first) / pool->size;
        if ((uintptr_t)b >= first && i < carved) k->is_free[i] = 1;
    }
    for (size_t i = 0; i < carved; i++)
        if (!k->is_free[i] &&
            !vec_push(&k->others, (lk_block){first + i * pool->size, pool->size, NOBJ}))
            return -1;
    return 0;
}

static int visit_large(void *arg, void *block, size_t size, int is_large) {
    lk *k = arg;
    (void)is_large;
    if (pmd_graph_index(&k->g, block) != PMD_NONE) return 0; /* an object: the graph has it */
    return vec_push(&k->others, (lk_block){(uintptr_t)block, size, NOBJ}) ? 0 : -1;
}

static int cmp_block(const void *x, const void *y) {
    uintptr_t a = ((const lk_block *)x)->addr, b = ((const lk_block *)y)->addr;
    return (a > b) - (a < b);
}

static size_t object_size(const pm_heap *h, const pm_object *o) {
    if (pmh_arena_owns(h, (uintptr_t)o)) return pmh_pool_of(h, o)->size;
    return pm_heap_block_size(h, o);
}

/* others[] as sorted runs, run[r] .. run[r + 1]; their number. The pools
 * come arena by arena, each in address order, so the runs are few and
 * merge_blocks takes them as they are; past RUNS_MAX, one sort. */
static size_t sorted_runs(lk_vec *v, size_t run[RUNS_MAX + 1]) {
    size_t n = 0;
    for (size_t j = 0; j < v->len && n <= RUNS_MAX; j++)
        if (j == 0 || v->items[j].addr < v->items[j - 1].addr) run[n++] = j;
    if (n > RUNS_MAX) {
        qsort(v->items, v->len, sizeof *v->items, cmp_block);
        n = 1;
    }
    run[n] = v->len;
    return n;
}

/* L1: blk[] from the objects (sorted, H1) and others[]'s runs, the lowest
 * address first. */
static void merge_blocks(lk *k, size_t run[RUNS_MAX + 1], size_t nruns) {
    size_t end[RUNS_MAX], i = 0;
    for (size_t r = 0; r < nruns; r++) end[r] = run[r + 1];
    for (size_t n = 0; n < k->nblk; n++) {
        uintptr_t low = i < k->g.n ? (uintptr_t)k->g.objects[i] : UINTPTR_MAX;
        size_t from = RUNS_MAX;
        for (size_t r = 0; r < nruns; r++)
            if (run[r] < end[r] && k->others.items[run[r]].addr < low)
                low = k->others.items[run[from = r]].addr;
        PM_ASSERT(n == 0 || k->blk[n - 1].addr + k->blk[n - 1].size <= low); /* L1 */
        if (from < RUNS_MAX) {
            k->blk[n] = k->others.items[run[from]++];
        } else {
            k->blk[n] = (lk_block){low, object_size(k->h, k->g.objects[i]), (uint32_t)i};
            i++;
        }
    }
    if (k->nblk) {
        k->lo = k->blk[0].addr;
        k->hi = k->blk[k->nblk - 1].addr + k->blk[k->nblk - 1].size;
    }
}

/* blk[]: the objects merged with the other blocks. */
static int build_blocks(lk *k) {
    pmh_lock(k->h);
    int r = pmh_for_each_pool(k->h, visit_pool, k);
    if (r == 0) r = pmh_large_walk(k->h, visit_large, k);
    pmh_unlock(k->h);
    if (r != 0) {
        if (k->corrupt) pm_exc_set(PM_EXC_RUNTIME, "leak check: heap corrupt: %s", k->corrupt);
        else pm_exc_set(PM_EXC_MEMORY, "leak check: no memory for the heap's blocks");
        return -1;
    }
    size_t run[RUNS_MAX + 1], nruns = sorted_runs(&k->others, run);
    k->nblk = k->g.n + k->others.len;
    if (k->nblk >= NOBJ) { /* entries are 32-bit (queue, hits, the pool index) */
        pm_exc_set(PM_EXC_MEMORY, "leak check: %zu blocks, more than it can number", k->nblk);
        return -1;
    }
    k->blk = alloc_big(k->nblk, sizeof *k->blk);
    k->flags = alloc_big(k->nblk, sizeof *k->flags);
    k->queue = alloc_big(k->nblk, sizeof *k->queue);
    if (k->blk == NULL || k->flags == NULL || k->queue == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "leak check: no memory for its marks");
        return -1;
    }
    merge_blocks(k, run, nruns);
    if (!index_pools(k)) {
        pm_exc_set(PM_EXC_MEMORY, "leak check: no memory for its index of pools");
        return -1;
    }
    for (size_t e = 0; e < k->nblk; e++) PM_ASSERT_EXPENSIVE(find_block(k, k->blk[e].addr) == e);
    return 0;
}

/* ---- walks ------------------------------------------------------------------ */

static void push(lk *k, size_t e) {
    if (e == PMD_NONE || (k->flags[e] & (k->bit | k->stop))) return;
    k->flags[e] |= k->bit;
    k->queue[k->tail++] = (uint32_t)e;
}

static int push_edge(pm_object *child, pmd_edge e, void *arg) {
    lk *k = arg;
    (void)e;
    size_t to = find_block(k, (uintptr_t)child);
    if (k->watch_garbage && to == k->garbage) k->garbage_hit = true;
    push(k, to);
    return 0;
}

static void push_word(uintptr_t w, void *arg) {
    lk *k = arg;
    if (w >= k->lo && w < k->hi) push(k, find_block(k, w));
}

/* Push what entry e points to, as the walk reads references. */
static void expand(lk *k, size_t e) {
    pm_object *o = object_at(k, e);
    if (k->precise && o && !(k->flags[e] & k->no_refs)) pmd_referents(o, push_edge, k);
    if (k->conservative)
        pmd_scan_words((const void *)k->blk[e].addr, (const char *)k->blk[e].addr + k->blk[e].size,
                       push_word, k);
}

static void walk_begin(lk *k, uint16_t bit, uint16_t stop, bool precise, bool conservative) {
    k->bit = bit;
    k->stop = stop;
    k->precise = precise;
    k->conservative = conservative;
    k->no_refs = 0;
    k->head = k->tail = 0;
}

/* Walk from what is queued; the objects (blocks, with `blocks`) it
 * reached, and their bytes, into *count and *bytes. */
static void walk(lk *k, bool blocks, int64_t *count, int64_t *bytes) {
    int64_t c = 0, b = 0;
    while (k->head < k->tail) {
        size_t e = k->queue[k->head++];
        if ((k->blk[e].obj == NOBJ) == blocks) {
            c++;
            b += (int64_t)k->blk[e].size;
        }
        expand(k, e);
    }
    if (count) *count = c;
    if (bytes) *bytes = b;
}

static size_t entry_of(const lk *k, const pm_object *o) { return find_block(k, (uintptr_t)o); }

/* ---- cycles: the collector's rule ---------------------------------------------- */

static void push_roots(lk *k) {
    size_t nroots;
    const pmd_root *roots = pmd_roots_of(k->g.rt, &nroots);
    for (size_t i = 0; i < nroots; i++) push(k, entry_of(k, roots[i].object));
}

/* ---- the collector's walk, over the graph's edges --------------------------- */

#define AHEAD 8 /* queue entries ahead whose rows of edges are prefetched */

/* Object o (a graph number) reached by the collector's walk. */
static void coll_push(lk *k, uint64_t *seen, uint32_t o) {
    if (seen[o / 64] >> (o % 64) & 1) return;
    seen[o / 64] |= 1ull << (o % 64);
    k->queue[k->tail++] = o;
}

/* Breadth first from what is queued (graph numbers), by the edges held.c
 * kept (L8): arrays of numbers, the queue's next rows asked for ahead
 * (at random addresses, each a cache miss). */
static void coll_walk(lk *k, uint64_t *seen) {
    const uint32_t *at = k->g.edge_at, *edges = k->g.edges;
    uint32_t garbage = k->garbage == PMD_NONE ? NOBJ : k->blk[k->garbage].obj;
    while (k->head < k->tail) {
        if (k->head + AHEAD < k->tail) __builtin_prefetch(&edges[at[k->queue[k->head + AHEAD]]]);
        if (k->head + 1 < k->tail) {
            uint32_t next = k->queue[k->head + 1];
            for (uint32_t j = at[next]; j < at[next + 1]; j++)
                __builtin_prefetch(&seen[edges[j] / 64]);
        }
        uint32_t o = k->queue[k->head++];
        for (uint32_t j = at[o]; j < at[o + 1]; j++) {
            if (edges[j] == garbage && k->watch_garbage) k->garbage_hit = true;
            coll_push(k, seen, edges[j]);
        }
    }
}

/* A deferred object's reference (not in the graph's edges): an object
 * reached, or a block that is none marked as the old walk did. */
static int coll_deferred_edge(pm_object *child, pmd_edge e, void *arg) {
    lk *k = arg;
    (void)e;
    size_t i = pmd_graph_index(&k->g, child), to = i == PMD_NONE ? entry_of(k, child) : PMD_NONE;
    if (i == PMD_NONE && to != PMD_NONE) i = k->blk[to].obj;
    if (i != PMD_NONE && i != NOBJ) coll_push(k, k->coll_seen, (uint32_t)i);
    else if (to != PMD_NONE) k->flags[to] |= F_COLL;
    return 0;
}

/* F_COLL (and F_ROOT) on blk[] from the walk's marks: seen[] all it
 * reached, root[] what it reached from the declared roots; the garbage
 * list is F_COLL alone. One pass in address order. */
static void coll_marks(lk *k, const uint64_t *seen, const uint64_t *root) {
    for (size_t e = 0; e < k->nblk; e++) {
        uint32_t o = k->blk[e].obj;
        if (o == NOBJ || !(seen[o / 64] >> (o % 64) & 1)) continue;
        bool from_roots = root[o / 64] >> (o % 64) & 1;
        k->flags[e] |= from_roots && e != k->garbage ? F_COLL | F_ROOT : F_COLL;
    }
}

/* F_COLL, a walk by references. Its first part, from the declared roots
 * alone, is F_ROOT as well: mark_owned takes those marks as they are.
 * The garbage list is marked but not followed (pymm's own). false when
 * out of memory. */
static bool mark_collector(lk *k) {
    pm_runtime *rt = k->g.rt;
    size_t words = k->g.n / 64 + 1;
    uint64_t *seen = pmh_internal_calloc(2 * words, sizeof *seen), *root = seen + words;
    if (seen == NULL) return false;
    k->head = k->tail = 0;
    pm_object *garbage = pmgc_garbage_peek(rt);
    k->garbage = garbage ? entry_of(k, garbage) : PMD_NONE;
    if (k->garbage != PMD_NONE && k->blk[k->garbage].obj != NOBJ) {
        uint32_t o = k->blk[k->garbage].obj;
        seen[o / 64] |= 1ull << (o % 64);
    }
    k->watch_garbage = k->garbage != PMD_NONE;
    size_t nroots;
    const pmd_root *roots = pmd_roots_of(rt, &nroots);
    for (size_t i = 0; i < nroots; i++) {
        size_t o = pmd_graph_index(&k->g, roots[i].object);
        if (o != PMD_NONE) coll_push(k, seen, (uint32_t)o);
    }
    coll_walk(k, seen);
    k->watch_garbage = false;
    memcpy(root, seen, words * sizeof *seen);
    for (size_t i = 0; i < k->g.n; i++)
        if (k->g.external[i]) coll_push(k, seen, (uint32_t)i);
    k->coll_seen = seen;
    for (size_t i = 0; i < rt->deferred.len; i++)
        pmd_referents(rt->deferred.items[i], coll_deferred_edge, k);
    k->coll_seen = NULL;
    coll_walk(k, seen);
    coll_marks(k, seen, root);
    if (k->garbage != PMD_NONE) k->flags[k->garbage] |= F_COLL;
    pmh_internal_free(seen);
    return true;
}

static bool is_garbage(const lk *k, size_t e) {
    return e != PMD_NONE && k->blk[e].obj != NOBJ && !(k->flags[e] & F_COLL);
}

typedef struct cycles {
    lk *k;
    uint32_t *uf;     /* union-find over garbage entries */
    uint32_t *parent; /* a loop's search: UNSEEN, or where it came from */
    pmd_edge *edge;
    size_t from, start, close_from;
    uint32_t group; /* the group searched: its first member */
    pmd_edge close_edge;
    bool closed;
} cycles;

static uint32_t uf_find(uint32_t *uf, uint32_t x) {
    while (uf[x] != x) {
        uf[x] = uf[uf[x]];
        x = uf[x];
    }
    return x;
}

static int unite_edge(pm_object *child, pmd_edge e, void *arg) {
    cycles *c = arg;
    (void)e;
    size_t to = entry_of(c->k, child);
    if (!is_garbage(c->k, to)) return 0;
    uint32_t a = uf_find(c->uf, (uint32_t)c->from), b = uf_find(c->uf, (uint32_t)to);
    if (a != b) c->uf[a > b ? a : b] = a < b ? a : b; /* the lower address leads */
    return 0;
}

static int loop_edge(pm_object *child, pmd_edge e, void *arg) {
    cycles *c = arg;
    lk *k = c->k;
    size_t to = entry_of(k, child);
    if (!is_garbage(k, to) || uf_find(c->uf, (uint32_t)to) != c->group) return 0;
    if (to == c->start && !c->closed) {
        c->closed = true;
        c->close_from = c->from;
        c->close_edge = e;
    }
    if (c->parent[to] != UNSEEN || to == c->start) return 0;
    c->parent[to] = (uint32_t)c->from;
    c->edge[to] = e;
    k->queue[k->tail++] = (uint32_t)to;
    return 0;
}

/* A breadth-first search inside the group from start back to it. */
static bool find_loop(cycles *c, size_t start) {
    lk *k = c->k;
    c->start = start;
    c->closed = false;
    k->head = k->tail = 0;
    k->queue[k->tail++] = (uint32_t)start;
    while (k->head < k->tail && !c->closed) {
        c->from = k->queue[k->head++];
        pmd_referents(object_at(k, c->from), loop_edge, c);
    }
    return c->closed;
}

static void loop_reset(cycles *c) {
    for (size_t i = 0; i < c->k->tail; i++) c->parent[c->k->queue[i]] = UNSEEN;
}

typedef struct loop_steps {
    cycles *c;
    uint32_t *order; /* the loop's entries, start first and last */
    pmd_edge *edges; /* how each was reached from the one before */
} loop_steps;

static void loop_step(void *arg, size_t i, char *buf, size_t size) {
    loop_steps *s = arg;
    lk *k = s->c->k;
    char label[96] = "cycle";
    if (i > 0) pmd_edge_label(object_at(k, s->order[i - 1]), s->edges[i], label, sizeof label);
    step_text(buf, size, i, label, object_at(k, s->order[i]));
}

/* The loop found from c->start, as a verdict's path. */
static bool loop_path(cycles *c, pm_leak *l) {
    size_t len = 2;
    for (size_t e = c->close_from; e != c->start; e = c->parent[e]) len++;
    loop_steps s = {c, pmh_internal_malloc(len * sizeof *s.order),
                    pmh_internal_malloc(len * sizeof *s.edges)};
    bool ok = s.order && s.edges;
    if (ok) {
        size_t i = len - 1;
        s.order[i] = (uint32_t)c->start;
        s.edges[i--] = c->close_edge;
        for (size_t e = c->close_from; e != c->start; e = c->parent[e], i--) {
            s.order[i] = (uint32_t)e;
            s.edges[i] = c->edge[e];
        }
        s.order[0] = (uint32_t)c->start;
        ok = leak_path(l, len, loop_step, &s);
    }
    pmh_internal_free(s.order);
    pmh_internal_free(s.edges);
    return ok;
}

/* One verdict for a group: members[0..n) (entries, ascending; the first
 * leads), its count and bytes, and a loop through one of its members. */
static bool cycle_verdict(cycles *c, const uint64_t *members, size_t n) {
    lk *k = c->k;
    c->group = (uint32_t)members[0];
    int64_t bytes = 0;
    size_t loop_at = PMD_NONE;
    for (size_t i = 0; i < n; i++) {
        size_t e = (uint32_t)members[i];
        bytes += (int64_t)k->blk[e].size;
        if (loop_at == PMD_NONE && i < CYCLE_TRIES) {
            if (find_loop(c, e)) loop_at = e;
            else loop_reset(c);
        }
    }
    pm_object *o = object_at(k, loop_at != PMD_NONE ? loop_at : (uint32_t)members[0]);
    pm_leak *l = leak_add(k, PM_LEAK_CYCLE, pm_type_name(o->type), o);
    if (l == NULL) return false;
    l->count = (int64_t)n;
    l->bytes = bytes;
    leak_stack(l, o, true);
    bool ok = loop_at == PMD_NONE || loop_path(c, l);
    if (loop_at != PMD_NONE) loop_reset(c);
    return ok;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* The garbage's groups: union-find over its references, then its members
 * sorted by (group's first member, address), one verdict a run. */
static bool group_cycles(cycles *c, uint64_t *members, size_t n) {
    lk *k = c->k;
    for (size_t e = 0; e < k->nblk; e++) c->uf[e] = (uint32_t)e;
    memset(c->parent, 0xff, k->nblk * sizeof *c->parent);
    size_t m = 0;
    for (size_t e = 0; e < k->nblk; e++) {
        if (!is_garbage(k, e)) continue;
        c->from = e;
        pmd_referents(object_at(k, e), unite_edge, c);
        members[m++] = e;
    }
    PM_ASSERT(m == n);
    for (size_t i = 0; i < n; i++)
        members[i] |= (uint64_t)uf_find(c->uf, (uint32_t)members[i]) << 32;
    qsort(members, n, sizeof *members, cmp_u64);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && members[j] >> 32 == members[i] >> 32;) j++;
        if (!cycle_verdict(c, members + i, j - i)) return false;
    }
    return true;
}

static int judge_cycles(lk *k) {
    size_t ngarbage = 0;
    for (size_t e = 0; e < k->nblk; e++) ngarbage += is_garbage(k, e);
    if (ngarbage == 0) return 0;
    cycles c = {.k = k};
    c.uf = pmh_internal_malloc(k->nblk * sizeof *c.uf);
    c.parent = pmh_internal_malloc(k->nblk * sizeof *c.parent);
    c.edge = pmh_internal_malloc(k->nblk * sizeof *c.edge);
    uint64_t *members = pmh_internal_malloc(ngarbage * sizeof *members);
    bool ok = c.uf && c.parent && c.edge && members && group_cycles(&c, members, ngarbage);
    pmh_internal_free(members);
    pmh_internal_free(c.uf);
    pmh_internal_free(c.parent);
    pmh_internal_free(c.edge);
    if (!ok) k->oom = true;
    return ok ? 0 : -1;
}

/* ---- the program's memory, owned roots and unowned objects -------------------- */

static void note_hit(uintptr_t w, void *arg) {
    lk *k = arg;
    if (w < k->lo || w >= k->hi) return;
    size_t e = find_block(k, w);
    if (e == PMD_NONE || (k->flags[e] & F_HIT)) return;
    if (k->nhits == k->caphits) {
        size_t cap = k->caphits ? k->caphits * 2 : 1024;
        uint32_t *hits = pmh_internal_realloc(k->hits, cap * sizeof *hits);
        if (hits == NULL) {
            k->oom = true;
            return;
        }
        k->hits = hits;
        k->caphits = cap;
    }
    k->flags[e] |= F_HIT;
    k->hits[k->nhits++] = (uint32_t)e;
}

/* Which objects the unowned question judges: all at exit, else those born
 * since the census's mark (none without one). */
static int mark_judged(lk *k, unsigned flags) {
    if (flags & PM_LEAKS_AT_EXIT) {
        for (size_t e = 0; e < k->nblk; e++)
            if (k->blk[e].obj != NOBJ) k->flags[e] |= F_JUDGED;
        return 0;
    }
    if (!pmd_census_marked(k->g.rt)) return 0;
    size_t n;
    pm_object **born = pm_census_new_objects(k->g.rt, &n);
    if (born == NULL) return -1;
    for (size_t i = 0; i < n; i++) {
        size_t e = entry_of(k, born[i]);
        if (e != PMD_NONE) k->flags[e] |= F_JUDGED;
    }
    pm_census_objects_free(born);
    return 0;
}

/* F_OWN: the closure of the roots, the hits and the unjudged objects held
 * from C under references and the conservative scan at once (judge_blocks
 * relies on the scan). F_ROOT, the roots' closure under references alone,
 * lies in it, and is closed under references but for the garbage list,
 * where mark_collector stopped. So its entries are marked at once and only
 * scanned, in address order, and the garbage list is pushed when one of
 * them points to it: the same marks, without following every reference
 * twice in the order of a breadth-first walk. */
static void mark_owned(lk *k) {
    walk_begin(k, F_OWN, 0, true, true);
    k->no_refs = F_ROOT;
    for (size_t e = 0; e < k->nblk; e++) {
        if (k->flags[e] & F_ROOT) {
            k->flags[e] |= F_OWN;
            k->queue[k->tail++] = (uint32_t)e;
        }
    }
    if (k->garbage_hit) push(k, k->garbage);
    push_roots(k);
    for (size_t i = 0; i < k->nhits; i++) push(k, k->hits[i]);
    for (size_t e = 0; e < k->nblk; e++) {
        uint32_t o = k->blk[e].obj;
        if (o != NOBJ && k->g.external[o] && !(k->flags[e] & F_JUDGED)) push(k, e);
    }
    walk(k, false, NULL, NULL);
    k->owned_done = true;
}

static bool is_unowned(const lk *k, size_t e) {
    uint32_t o = k->blk[e].obj;
    return o != NOBJ && k->g.external[o] && (k->flags[e] & F_JUDGED) && !(k->flags[e] & F_OWN);
}

static int unowned_verdict(lk *k, size_t e) {
    walk_begin(k, F_DONE, F_OWN, true, true);
    push(k, e);
    int64_t count, bytes;
    walk(k, false, &count, &bytes);
    pm_object *o = object_at(k, e);
    pm_leak *l = leak_add(k, PM_LEAK_UNOWNED, pm_type_name(o->type), o);
    if (l == NULL) return -1;
    l->count = count;
    l->bytes = bytes;
    char label[64], buf[256];
    snprintf(label, sizeof label, "held from C: %u", k->g.external[k->blk[e].obj]);
    step_text(buf, sizeof buf, 0, label, o);
    char **path = pmh_internal_malloc(sizeof *path);
    if (path == NULL || (path[0] = copy_text(buf)) == NULL) {
        pmh_internal_free(path);
        k->oom = true;
        return -1;
    }
    l->path = (const char *const *)path;
    l->path_len = 1;
    leak_stack(l, o, true);
    return 0;
}

/* Leak roots (docs/DESIGN.md): the unexplained objects no other one
 * reaches, then what only their loops hold, in address order. */
static int judge_unowned(lk *k) {
    walk_begin(k, F_SUB, F_OWN, true, true);
    for (size_t e = 0; e < k->nblk; e++)
        if (is_unowned(k, e)) expand(k, e);
    walk(k, false, NULL, NULL);
    for (size_t e = 0; e < k->nblk; e++)
        if (is_unowned(k, e) && !(k->flags[e] & (F_SUB | F_DONE)) && unowned_verdict(k, e) != 0)
            return -1;
    for (size_t e = 0; e < k->nblk; e++)
        if (is_unowned(k, e) && !(k->flags[e] & F_DONE) && unowned_verdict(k, e) != 0) return -1;
    return 0;
}

/* ---- growth ------------------------------------------------------------------ */

typedef struct growth_arg {
    lk *k;
    pm_path *path;
} growth_arg;

static void growth_step(void *arg, size_t i, char *buf, size_t size) {
    pm_path *p = arg;
    char label[96];
    pm_path_label(p, i, label, sizeof label);
    step_text(buf, size, i, label, pm_path_object(p, i));
}

static int growth_verdict(void *arg, pm_object *o, const int64_t *delta, size_t n) {
    lk *k = arg;
    pm_leak *l = leak_add(k, PM_LEAK_GROWTH, pm_type_name(o->type), o);
    if (l == NULL) return -1;
    l->count = pm_len(o);
    l->bytes = (int64_t)object_size(k->h, o);
    int64_t *growth = pmh_internal_malloc(n * sizeof *growth);
    if (growth == NULL) return k->oom = true, -1;
    memcpy(growth, delta, n * sizeof *growth);
    l->growth = growth;
    l->ngrowth = n;
    pm_path *p = pmd_path_in(k->g.rt, o);
    if (p == NULL) return -1;
    bool ok = leak_path(l, pm_path_length(p), growth_step, p);
    pm_path_free(p);
    if (!ok) k->oom = true;
    leak_stack(l, o, true);
    return ok ? 0 : -1;
}

static bool is_container(const pm_object *o) {
    return o->type == &pm_list_type || o->type == &pm_dict_type || o->type == &pm_set_type;
}

static int judge_growth(lk *k, pm_leak_watch *w) {
    pmo_vec v = {0};
    for (size_t e = 0; e < k->nblk; e++) {
        pm_object *o = object_at(k, e);
        if (o && (k->flags[e] & F_COLL) && is_container(o) && !pmo_vec_push(&v, o)) {
            pmo_vec_free(&v);
            k->oom = true;
            return -1;
        }
    }
    int r = pmd_watch_step(w, v.items, v.len, growth_verdict, k);
    pmo_vec_free(&v);
    return r;
}

/* ---- blocks ------------------------------------------------------------------ */

static bool is_lost(const lk *k, size_t e) {
    return k->blk[e].obj == NOBJ && !(k->flags[e] & F_BLK);
}

static int block_verdict(lk *k, size_t e) {
    walk_begin(k, F_BDONE, F_BLK, false, true);
    push(k, e);
    int64_t count, bytes;
    walk(k, true, &count, &bytes);
    pm_leak *l = leak_add(k, PM_LEAK_BLOCK, "block", (const void *)k->blk[e].addr);
    if (l == NULL) return -1;
    l->count = count;
    l->bytes = bytes;
    leak_stack(l, (const void *)k->blk[e].addr, false);
    return 0;
}

/* F_BLK is the closure of the hits and every object under the
 * conservative scan. mark_owned's walk scanned every entry it marked and
 * was seeded with every hit, so F_OWN is closed under that scan; its
 * entries are objects, hits, or reached by the scan from those, so they
 * are in F_BLK and their scans add nothing to it. Marking them without a
 * walk gives the same marks and spares scanning every object twice. */
static void mark_blocks_owned(lk *k) {
    PM_ASSERT(k->owned_done);
    for (size_t e = 0; e < k->nblk; e++)
        if (k->flags[e] & F_OWN) k->flags[e] |= F_BLK;
}

static int judge_blocks(lk *k) {
    walk_begin(k, F_BLK, 0, false, true);
    mark_blocks_owned(k);
    for (size_t i = 0; i < k->nhits; i++) push(k, k->hits[i]);
    for (size_t e = 0; e < k->nblk; e++)
        if (k->blk[e].obj != NOBJ) push(k, e);
    walk(k, true, NULL, NULL);
    walk_begin(k, F_BSUB, F_BLK, false, true);
    for (size_t e = 0; e < k->nblk; e++)
        if (is_lost(k, e)) expand(k, e);
    walk(k, true, NULL, NULL);
    for (size_t e = 0; e < k->nblk; e++)
        if (is_lost(k, e) && !(k->flags[e] & (F_BSUB | F_BDONE)) && block_verdict(k, e) != 0)
            return -1;
    for (size_t e = 0; e < k->nblk; e++)
        if (is_lost(k, e) && !(k->flags[e] & F_BDONE) && block_verdict(k, e) != 0) return -1;
    return 0;
}

/* ---- the check ---------------------------------------------------------------- */

static void lk_free(lk *k) {
    free_pools(k);
    pmd_graph_free(&k->g);
    free_big(k->blk, k->nblk, sizeof *k->blk);
    free_big(k->flags, k->nblk, sizeof *k->flags);
    free_big(k->queue, k->nblk, sizeof *k->queue);
    pmh_internal_free(k->hits);
    pmh_internal_free(k->others.items);
    pmh_internal_free(k);
}

/* The stack from `from` up and the registers [regs, regs + nregs) are the
 * program's (L3). */
typedef struct lk_roots {
    const void *from;
    const void *regs;
    size_t regs_size;
} lk_roots;

/* The neighbourhoods of the first PM_LEAK_GRAPH_VERDICTS verdicts that
 * are objects, over the check's graph: the reverse index is built once,
 * and only when a verdict needs it (a clean program pays nothing). Out
 * of memory fails the check (L4). */
static int add_graphs(lk *k) {
    pmd_trees *s = NULL;
    size_t shown = 0;
    for (size_t v = 0; v < k->out->len && shown < PM_LEAK_GRAPH_VERDICTS && !k->oom; v++) {
        pm_leak *l = &k->out->items[v];
        if (l->kind == PM_LEAK_BLOCK) continue;
        if (s == NULL && (s = pmd_trees_new(&k->g)) == NULL) k->oom = true;
        else if (!pmd_leak_graph(s, l)) k->oom = true;
        shown++;
    }
    pmd_trees_free(s);
    return k->oom ? -1 : 0;
}

static int run(lk *k, pm_leak_watch *w, unsigned flags, const lk_roots *roots) {
    if (build_blocks(k) != 0 || mark_judged(k, flags) != 0) return -1;
    if (!mark_collector(k)) return k->oom = true, -1;
    if (judge_cycles(k) != 0) return -1;
    if (!(flags & PM_LEAKS_NO_SCAN) &&
        pmd_scan_program(roots->from, roots->regs, roots->regs_size, note_hit, k) != 0)
        return -1;
    if (k->oom) return -1;
    mark_owned(k);
    if (judge_unowned(k) != 0) return -1;
    if (w && judge_growth(k, w) != 0) return -1;
    if (judge_blocks(k) != 0) return -1;
    return add_graphs(k);
}

static PM_NOINLINE pm_leaks *check(pm_runtime *rt, pm_leak_watch *w, unsigned flags,
                                   const lk_roots *roots) {
    rt = rt ? rt : pm_runtime_current();
    if (rt->heap->debug) {
        pm_exc_set(PM_EXC_RUNTIME, "leak check: the heap has debug hooks");
        return NULL;
    }
    lk *k = pmh_internal_calloc(1, sizeof *k);
    pm_leaks *out = pmh_internal_calloc(1, sizeof *out);
    if (k == NULL || out == NULL) {
        pmh_internal_free(k);
        pmh_internal_free(out);
        pm_exc_set(PM_EXC_MEMORY, "leak check: no memory");
        return NULL;
    }
    k->h = rt->heap;
    k->out = out;
    if (pmd_graph_build_edges(&k->g, rt) != 0) { /* the census's refusals, or MemoryError */
        pmh_internal_free(out);
        pmh_internal_free(k);
        return NULL;
    }
    int r = run(k, w, flags, roots);
    if (r != 0 || k->oom) {
        if (k->oom || !pm_exc_occurred()) pm_exc_set(PM_EXC_MEMORY, "leak check: out of memory");
        pm_leaks_free(out);
        out = NULL;
    }
    lk_free(k);
    return out;
}

/* The caller's frames and registers are the program's; the frames below
 * this one are the check's (L3). __builtin_unwind_init makes the prologue
 * save every callee-saved register above the locals (setjmp's copy
 * mangles rbp, which code built without frame pointers uses for a
 * caller's locals), and the stack scan starts at regs, this frame's one
 * local, so it reads them. */
PM_NOINLINE pm_leaks *pm_leaks_check(pm_runtime *rt, pm_leak_watch *w, unsigned flags) {
    __builtin_unwind_init();
    jmp_buf regs;
    memset(&regs, 0, sizeof regs); /* what setjmp leaves unwritten is no stale pointer */
    (void)setjmp(regs);
    return check(rt, w, flags, &(lk_roots){&regs, &regs, sizeof regs});
}

/* S5 in leakscan.c: the frames below exit's caller are dead at exit. */
PM_NOINLINE pm_leaks *pmd_leaks_check_at_exit(pm_runtime *rt) {
    pmd_exit_frame x;
    if (!pmd_find_exit_frame(&x)) return pm_leaks_check(rt, NULL, PM_LEAKS_AT_EXIT);
    return check(rt, NULL, PM_LEAKS_AT_EXIT,
                 &(lk_roots){x.from, x.regs, x.nregs * sizeof x.regs[0]});
}
