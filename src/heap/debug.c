/*
 * debug.c -- the debug hooks: a wrapper over a heap's three domain tables
 * that catches misuse and reports it.
 *
 * Owns: the debug block layout, the table of live debug blocks, the
 * quarantine of freed blocks, and the detection of every misuse listed in
 * pm_error_kind.
 *
 * Layout of a debug block inside the block the wrapped allocator gives:
 *
 *   [ size:8 | serial:8 | domain:1 | front guard:15 ] user bytes [ tail guard:16 ]
 *   ^ raw                                            ^ user pointer (16-aligned)
 *
 * The guards hold 0xFD; fresh user bytes hold 0xCD and freed ones 0xDD.
 * Each live block also has a record in a hash table keyed by its user
 * pointer, so a free of a pointer that is not a live block is told apart
 * as foreign, interior or double without ever reading memory the pointer
 * names. A freed block waits in a FIFO quarantine before the wrapped
 * allocator may reuse it; a write after free is caught when it leaves the
 * quarantine and by pm_heap_check.
 *
 * Serials count a heap's allocations from 1, in every domain. With
 * PYMM_BREAK_ALLOC=N in the environment when the hooks are installed,
 * allocation N calls pm_debug_break_alloc, where a debugger can stop.
 *
 * Besides the three domain tables, the pool allocator's own entry points
 * (pm_heap_malloc, _calloc, _realloc, _free) are checked as a fourth
 * "domain", PMH_DOMAIN_POOL, that wraps the pool allocator itself: a heap
 * made with cfg.debug checks every call a user can make on it.
 */
#include "heap/heap.h"
#include "heap/internal_alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PM_DEBUG
/* PM_ASSERT's failure (heap.h): where, and what did not hold. */
void pmh_assert_fail(const char *expr, const char *file, int line, const char *func) {
    fprintf(stderr, "pymm: %s:%d: %s: assertion failed: %s\n", file, line, func, expr);
    fflush(stderr);
    abort();
}
#endif

#define DBG_HEADER 32
#define DBG_TAIL 16
#define DBG_OVERHEAD (DBG_HEADER + DBG_TAIL)
#define DBG_FRONT_GUARD 15
#define GUARD_BYTE 0xFD
#define ALLOC_FILL 0xCD
#define FREED_FILL 0xDD
#define QUARANTINE_BLOCKS 4096
#define QUARANTINE_BYTES (4u << 20)
#define DBG_NUM_DOMAINS (PM_NUM_DOMAINS + 1) /* and PMH_DOMAIN_POOL */

typedef struct dbg_record {
    uintptr_t ptr; /* user pointer; 0 empty, 1 tombstone */
    size_t size;
    uint64_t serial;
    int domain;
} dbg_record;

typedef struct dbg_domain {
    pmh_debug *dbg;
    int domain;
    pm_allocator base;
} dbg_domain;

struct pmh_debug {
    pm_heap *heap;
    dbg_domain domains[DBG_NUM_DOMAINS];
    dbg_record *live;
    size_t cap, count, tombs;
    dbg_record *quarantine; /* ring of QUARANTINE_BLOCKS */
    size_t q_head, q_count, q_bytes;
    uint64_t serial;       /* of the last allocation                  */
    uint64_t break_serial; /* PYMM_BREAK_ALLOC; 0: none               */
};

static const char *const domain_names[DBG_NUM_DOMAINS] = {"raw", "mem", "obj", "pm_heap"};

static const char *domain_name(int d) {
    return d >= 0 && d < DBG_NUM_DOMAINS ? domain_names[d] : "unknown";
}

/* ---- the live table ------------------------------------------------------ */

#define TOMB ((uintptr_t)1)

static size_t slot_of(uintptr_t p, size_t cap) {
    return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static dbg_record *live_find(const pmh_debug *d, uintptr_t p) {
    if (d->cap == 0) return NULL;
    for (size_t i = slot_of(p, d->cap);; i = (i + 1) & (d->cap - 1)) {
        if (d->live[i].ptr == p) return &d->live[i];
        if (d->live[i].ptr == 0) return NULL;
    }
}

static void live_put(pmh_debug *d, const dbg_record *r) {
    for (size_t i = slot_of(r->ptr, d->cap);; i = (i + 1) & (d->cap - 1)) {
        if (d->live[i].ptr <= TOMB) {
            if (d->live[i].ptr == TOMB) d->tombs--;
            d->live[i] = *r;
            d->count++;
            return;
        }
    }
}

static bool live_reserve(pmh_debug *d) {
    if ((d->count + d->tombs + 1) * 4 <= d->cap * 3) return true;
    size_t cap = d->cap ? d->cap : 1024;
    while ((d->count + 1) * 2 > cap) cap *= 2;
    dbg_record *old = d->live;
    size_t oldcap = d->cap;
    d->live = pmh_internal_calloc(cap, sizeof *d->live);
    if (d->live == NULL) {
        d->live = old;
        return false;
    }
    d->cap = cap;
    d->count = d->tombs = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].ptr > TOMB) live_put(d, &old[i]);
    pmh_internal_free(old);
    return true;
}

static void live_remove(pmh_debug *d, dbg_record *r) {
    r->ptr = TOMB;
    d->count--;
    d->tombs++;
}

/* ---- reporting ----------------------------------------------------------- */

static void report(pmh_debug *d, pm_error_kind kind, const void *addr, const dbg_record *r,
                   int call_domain, const char *what) {
    char msg[320];
    if (r)
        snprintf(msg, sizeof msg,
                 "%s: %p (%zu bytes, %s domain, allocation #%" PRIu64 ") via the %s domain: %s",
                 kind == PM_ERR_OVERRUN          ? "buffer overrun"
                 : kind == PM_ERR_UNDERRUN       ? "buffer underrun"
                 : kind == PM_ERR_DOUBLE_FREE    ? "double free"
                 : kind == PM_ERR_WRONG_DOMAIN   ? "wrong domain"
                 : kind == PM_ERR_INTERIOR       ? "interior pointer"
                 : kind == PM_ERR_USE_AFTER_FREE ? "write after free"
                                                 : "corruption",
                 addr, r->size, domain_name(r->domain), r->serial, domain_name(call_domain), what);
    else
        snprintf(msg, sizeof msg, "foreign pointer: %p via the %s domain: %s", addr,
                 domain_name(call_domain), what);
    pm_error e = {sizeof e,          kind, addr, r ? r->size : 0, call_domain, r ? r->domain : -1,
                  r ? r->serial : 0, msg};
    pmh_report(d->heap, &e);
}

/* ---- block layout -------------------------------------------------------- */

static unsigned char *raw_of(const void *user) { return (unsigned char *)user - DBG_HEADER; }

/* Guards are read through memcpy-free byte loops; in sanitizer builds the
 * wrapped allocator unpoisoned exactly the bytes we asked for. */
static bool bytes_are(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return false;
    return true;
}

static void write_block(unsigned char *raw, const dbg_record *r) {
    memcpy(raw, &r->size, 8);
    memcpy(raw + 8, &r->serial, 8);
    raw[16] = (unsigned char)r->domain;
    memset(raw + 17, GUARD_BYTE, DBG_FRONT_GUARD);
    memset(raw + DBG_HEADER, ALLOC_FILL, r->size);
    memset(raw + DBG_HEADER + r->size, GUARD_BYTE, DBG_TAIL);
}

/* 0 when the guards of a live block are intact, else the error kind. */
static pm_error_kind guards_broken(const dbg_record *r) {
    const unsigned char *raw = raw_of((const void *)r->ptr);
    size_t size;
    memcpy(&size, raw, 8);
    if (size != r->size || raw[16] != (unsigned char)r->domain ||
        !bytes_are(raw + 17, DBG_FRONT_GUARD, GUARD_BYTE))
        return PM_ERR_UNDERRUN;
    if (!bytes_are(raw + DBG_HEADER + r->size, DBG_TAIL, GUARD_BYTE)) return PM_ERR_OVERRUN;
    return 0;
}

static bool overhead_overflows(size_t n) { return n > SIZE_MAX - DBG_OVERHEAD - PM_ALIGNMENT; }

/* ---- quarantine ---------------------------------------------------------- */

static dbg_record *quarantine_find(const pmh_debug *d, uintptr_t p) {
    for (size_t i = 0; i < d->q_count; i++) {
        dbg_record *r = &d->quarantine[(d->q_head + i) % QUARANTINE_BLOCKS];
        if (r->ptr == p) return r;
    }
    return NULL;
}

static void release_block(pmh_debug *d, const dbg_record *r) {
    const dbg_domain *dd = &d->domains[r->domain];
    dd->base.free(dd->base.ctx, raw_of((const void *)r->ptr));
}

static void quarantine_evict(pmh_debug *d) {
    dbg_record r = d->quarantine[d->q_head];
    d->q_head = (d->q_head + 1) % QUARANTINE_BLOCKS;
    d->q_count--;
    d->q_bytes -= r.size + DBG_OVERHEAD;
    if (!bytes_are((const unsigned char *)r.ptr, r.size, FREED_FILL))
        report(d, PM_ERR_USE_AFTER_FREE, (const void *)r.ptr, &r, r.domain,
               "the freed block was written to after it was freed");
    release_block(d, &r);
}

static void quarantine_push(pmh_debug *d, const dbg_record *r) {
    while (d->q_count == QUARANTINE_BLOCKS ||
           (d->q_count && d->q_bytes + r->size + DBG_OVERHEAD > QUARANTINE_BYTES))
        quarantine_evict(d);
    d->quarantine[(d->q_head + d->q_count) % QUARANTINE_BLOCKS] = *r;
    d->q_count++;
    d->q_bytes += r->size + DBG_OVERHEAD;
}

/* ---- stopping at an allocation ------------------------------------------- */

/* Out of line and exported, so that `break pm_debug_break_alloc` works on
 * any build; the empty asm keeps the call from being dropped. */
PM_NOINLINE void pm_debug_break_alloc(uint64_t serial, const void *block, size_t size) {
    fprintf(stderr,
            "pymm: allocation #%" PRIu64 " (%zu bytes) at %p: PYMM_BREAK_ALLOC; "
            "in a debugger, break pm_debug_break_alloc\n",
            serial, size, block);
    __asm__ volatile("" ::: "memory");
}

/* PYMM_BREAK_ALLOC: a decimal serial, or 0 (none) with a warning when it
 * is not one. */
static uint64_t break_serial_from_env(void) {
    const char *v = getenv("PYMM_BREAK_ALLOC");
    if (v == NULL || *v == '\0') return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end != '\0' || v[0] == '-' || n == 0) {
        fprintf(stderr,
                "pymm: PYMM_BREAK_ALLOC=%s is not an allocation number (1, 2, ...); "
                "ignored\n",
                v);
        return 0;
    }
    return n;
}

/* ---- the hooks ----------------------------------------------------------- */

/* The hooks run under the heap's lock (recursive, and none on a private
 * heap): the tables below are the heap's, shared by its threads. */
#define DBG_LOCKED(dd, expr)                                                                       \
    do {                                                                                           \
        pmh_lock((dd)->dbg->heap);                                                                 \
        expr;                                                                                      \
        pmh_unlock((dd)->dbg->heap);                                                               \
    } while (0)

static void *dbg_malloc_locked(void *ctx, size_t n) {
    dbg_domain *dd = ctx;
    pmh_debug *d = dd->dbg;
    if (overhead_overflows(n) || !live_reserve(d)) return NULL;
    unsigned char *raw = dd->base.malloc(dd->base.ctx, n + DBG_OVERHEAD);
    if (raw == NULL) return NULL;
    dbg_record r = {(uintptr_t)(raw + DBG_HEADER), n, ++d->serial, dd->domain};
    write_block(raw, &r);
    live_put(d, &r);
    if (r.serial == d->break_serial) pm_debug_break_alloc(r.serial, raw + DBG_HEADER, n);
    return raw + DBG_HEADER;
}

static void *dbg_malloc(void *ctx, size_t n) {
    void *p;
    DBG_LOCKED((dbg_domain *)ctx, p = dbg_malloc_locked(ctx, n));
    return p;
}

static void *dbg_calloc(void *ctx, size_t nelem, size_t elsize) {
    size_t n;
    if (__builtin_mul_overflow(nelem, elsize, &n)) return NULL;
    void *p = dbg_malloc(ctx, n);
    if (p) memset(p, 0, n);
    return p;
}

/* Why p is not a live block: freed recently, inside a live one, or foreign. */
static void report_not_live(pmh_debug *d, const void *p, int call_domain) {
    const dbg_record *r = quarantine_find(d, (uintptr_t)p);
    if (r) {
        report(d, PM_ERR_DOUBLE_FREE, p, r, call_domain, "the block was already freed");
        return;
    }
    for (size_t i = 0; i < d->cap; i++) {
        r = &d->live[i];
        if (r->ptr > TOMB && (uintptr_t)p > r->ptr - DBG_HEADER &&
            (uintptr_t)p < r->ptr + r->size + DBG_TAIL) {
            char what[96];
            snprintf(what, sizeof what, "the pointer is %+td bytes into a live block",
                     (ptrdiff_t)((uintptr_t)p - r->ptr));
            report(d, PM_ERR_INTERIOR, (const void *)r->ptr, r, call_domain, what);
            return;
        }
    }
    report(d, PM_ERR_FOREIGN, p, NULL, call_domain,
           "not a live block of this heap (never allocated here, or freed long ago)");
}

/* The live record of p for a free or realloc through domain dd, or NULL
 * after reporting why the call must be ignored. Broken guards are reported
 * but do not stop the call: the block is still ours. */
static dbg_record *checked_record(dbg_domain *dd, const void *p) {
    pmh_debug *d = dd->dbg;
    dbg_record *r = live_find(d, (uintptr_t)p);
    if (r == NULL) {
        report_not_live(d, p, dd->domain);
        return NULL;
    }
    if (r->domain != dd->domain) {
        report(d, PM_ERR_WRONG_DOMAIN, p, r, dd->domain,
               "released through another domain than the one that allocated it");
        return NULL;
    }
    pm_error_kind k = guards_broken(r);
    if (k)
        report(d, k, p, r, dd->domain,
               k == PM_ERR_OVERRUN ? "bytes after the end of the block were overwritten"
                                   : "bytes before the start of the block were overwritten");
    return r;
}

static void dbg_free_locked(void *ctx, void *p) {
    dbg_domain *dd = ctx;
    if (p == NULL) return;
    dbg_record *r = checked_record(dd, p);
    if (r == NULL) return;
    dbg_record copy = *r;
    live_remove(dd->dbg, r);
    memset(p, FREED_FILL, copy.size);
    quarantine_push(dd->dbg, &copy);
}

static void dbg_free(void *ctx, void *p) { DBG_LOCKED((dbg_domain *)ctx, dbg_free_locked(ctx, p)); }

static void *dbg_realloc_locked(void *ctx, void *p, size_t n) {
    dbg_domain *dd = ctx;
    if (p == NULL) return dbg_malloc(ctx, n);
    dbg_record *r = checked_record(dd, p);
    if (r == NULL) return NULL;
    size_t old = r->size;
    /* Always move: a caller that keeps using the old pointer is caught. */
    void *q = dbg_malloc(ctx, n);
    if (q == NULL) return NULL;
    memcpy(q, p, old < n ? old : n);
    dbg_free(ctx, p);
    return q;
}

static void *dbg_realloc(void *ctx, void *p, size_t n) {
    void *q;
    DBG_LOCKED((dbg_domain *)ctx, q = dbg_realloc_locked(ctx, p, n));
    return q;
}

int pm_heap_enable_debug(pm_heap *h) {
    if (h->debug) return 0;
    pmh_debug *d = pmh_internal_calloc(1, sizeof *d);
    if (d == NULL) return -1;
    d->quarantine = pmh_internal_calloc(QUARANTINE_BLOCKS, sizeof *d->quarantine);
    if (d->quarantine == NULL || !live_reserve(d)) {
        pmh_internal_free(d->quarantine);
        pmh_internal_free(d);
        return -1;
    }
    d->heap = h;
    d->break_serial = break_serial_from_env();
    for (int i = 0; i < PM_NUM_DOMAINS; i++) {
        d->domains[i] = (dbg_domain){d, i, h->domains[i]};
        h->domains[i] =
            (pm_allocator){&d->domains[i], dbg_malloc, dbg_calloc, dbg_realloc, dbg_free};
    }
    d->domains[PMH_DOMAIN_POOL] = (dbg_domain){d, PMH_DOMAIN_POOL, {0}};
    pm_heap_pool_allocator(h, &d->domains[PMH_DOMAIN_POOL].base);
    h->debug = d;
    pmh_update_special(h);
    return 0;
}

int pm_heap_debug_enabled(const pm_heap *h) { return h->debug != NULL; }

/* pm_heap_malloc and friends on a heap in debug mode (heap.c). */
void *pmh_debug_malloc(pm_heap *h, size_t n) {
    return dbg_malloc(&h->debug->domains[PMH_DOMAIN_POOL], n);
}

void *pmh_debug_calloc(pm_heap *h, size_t nelem, size_t elsize) {
    return dbg_calloc(&h->debug->domains[PMH_DOMAIN_POOL], nelem, elsize);
}

void *pmh_debug_realloc(pm_heap *h, void *p, size_t n) {
    return dbg_realloc(&h->debug->domains[PMH_DOMAIN_POOL], p, n);
}

void pmh_debug_free(pm_heap *h, void *p) { dbg_free(&h->debug->domains[PMH_DOMAIN_POOL], p); }

/* The lookups below read the tables other threads' hooks may be growing:
 * under the heap's lock (recursive: a hook's own caller may hold it). */

/* The requested size of live debug block p, or 0. */
size_t pmh_debug_block_size(const pm_heap *h, const void *p) {
    pmh_lock((pm_heap *)h);
    const dbg_record *r = live_find(h->debug, (uintptr_t)p);
    size_t n = r ? r->size : 0;
    pmh_unlock((pm_heap *)h);
    return n;
}

uint64_t pm_heap_block_serial(const pm_heap *h, const void *p) {
    pmh_lock((pm_heap *)h);
    const dbg_record *r = h->debug ? live_find(h->debug, (uintptr_t)p) : NULL;
    uint64_t serial = r ? r->serial : 0;
    pmh_unlock((pm_heap *)h);
    return serial;
}

uint64_t pmh_debug_freed_serial(const pm_heap *h, const void *p) {
    pmh_lock((pm_heap *)h);
    const dbg_record *r = h->debug ? quarantine_find(h->debug, (uintptr_t)p) : NULL;
    uint64_t serial = r ? r->serial : 0;
    pmh_unlock((pm_heap *)h);
    return serial;
}

static void drain_quarantine(pmh_debug *d) {
    while (d->q_count) {
        dbg_record r = d->quarantine[d->q_head];
        d->q_head = (d->q_head + 1) % QUARANTINE_BLOCKS;
        d->q_count--;
        d->q_bytes -= r.size + DBG_OVERHEAD;
        release_block(d, &r);
    }
}

/* Release every live block of the given domains through the wrapped
 * tables; no checks, the heap is going away. */
static void release_live(pmh_debug *d, bool raw) {
    for (size_t i = 0; i < d->cap; i++) {
        dbg_record *r = &d->live[i];
        if (r->ptr <= TOMB || (r->domain == PM_DOMAIN_RAW) != raw) continue;
        dbg_record copy = *r;
        live_remove(d, r);
        release_block(d, &copy);
    }
}

/* Release the live blocks of the raw domain (raw != 0) or of the others,
 * then empty the quarantine. For pm_heap_destroy, whose order matters:
 * releasing a mem or obj block may free a large block of the heap, which
 * the raw hook then sees; so outer blocks go first, then the heap's large
 * blocks, then the raw ones. */
void pmh_debug_release(pm_heap *h, int raw) {
    if (h->debug == NULL) return;
    release_live(h->debug, raw != 0);
    drain_quarantine(h->debug);
}

void pmh_debug_destroy(pm_heap *h) {
    pmh_debug *d = h->debug;
    if (d == NULL) return;
    pmh_debug_release(h, 0);
    pmh_debug_release(h, 1);
    for (int i = 0; i < PM_NUM_DOMAINS; i++) h->domains[i] = d->domains[i].base;
    pmh_internal_free(d->quarantine);
    pmh_internal_free(d->live);
    pmh_internal_free(d);
    h->debug = NULL;
    pmh_update_special(h);
}

int pmh_debug_check(pm_heap *h, char *buf, size_t buflen) {
    const pmh_debug *d = h->debug;
    for (size_t i = 0; i < d->cap; i++) {
        const dbg_record *r = &d->live[i];
        pm_error_kind k = r->ptr > TOMB ? guards_broken(r) : 0;
        if (k) {
            snprintf(buf, buflen, "%s of block %p (%zu bytes, %s domain, allocation #%" PRIu64 ")",
                     k == PM_ERR_OVERRUN ? "overrun" : "underrun", (void *)r->ptr, r->size,
                     domain_name(r->domain), r->serial);
            return -1;
        }
    }
    for (size_t i = 0; i < d->q_count; i++) {
        const dbg_record *r = &d->quarantine[(d->q_head + i) % QUARANTINE_BLOCKS];
        if (!bytes_are((const unsigned char *)r->ptr, r->size, FREED_FILL)) {
            snprintf(buf, buflen,
                     "write after free in block %p (%zu bytes, %s domain, allocation #%" PRIu64 ")",
                     (void *)r->ptr, r->size, domain_name(r->domain), r->serial);
            return -1;
        }
    }
    return 0;
}

int pmh_debug_walk(const pm_heap *h, pm_walk_fn fn, void *arg) {
    const pmh_debug *d = h->debug;
    for (size_t i = 0; i < d->cap; i++) {
        const dbg_record *r = &d->live[i];
        if (r->ptr <= TOMB) continue;
        if (r->domain == PM_DOMAIN_RAW && pmh_large_contains(h, (const void *)r->ptr))
            continue; /* the heap's own large block under a user's block */
        int res = fn(arg, (void *)r->ptr, r->size, !pmh_arena_owns(h, r->ptr));
        if (res) return res;
    }
    return 0;
}

void pmh_debug_stats(const pm_heap *h, uint64_t *rounding, uint64_t *overhead) {
    const pmh_debug *d = h->debug;
    *rounding = *overhead = 0;
    if (d == NULL) return;
    for (size_t i = 0; i < d->cap; i++) {
        const dbg_record *r = &d->live[i];
        if (r->ptr <= TOMB) continue;
        size_t total = r->size + DBG_OVERHEAD;
        if (r->domain != PM_DOMAIN_RAW && pmh_arena_owns(h, r->ptr))
            *rounding += pmh_pool_of(h, (const void *)r->ptr)->size - total;
        *overhead += DBG_OVERHEAD;
    }
    *overhead += d->q_bytes + d->cap * sizeof(dbg_record) + QUARANTINE_BLOCKS * sizeof(dbg_record);
}
