/*
 * object.c -- allocation, deallocation and the generic operations.
 *
 * Owns: pmo_alloc / pmo_free (objects live in the runtime's heap, obj
 * domain; buffers in its mem domain), pm_dealloc, the debug checks on
 * reference counts, free-list plumbing, and the operations that work on
 * any object by dispatching to its type's slots.
 *
 * Deallocation never recurses without bound. pm_dealloc counts how deeply
 * deallocations nest; past PMO_DEALLOC_DEPTH an object whose count reached
 * zero is queued instead (untracked first, in a vector), and the outermost
 * pm_dealloc drains the queue. Dropping a 10,000,000-deep chain thus needs
 * a constant amount of C stack, unless the queue cannot grow (out of
 * memory): the object is then deallocated at once, one level deeper.
 *
 * Debug mode (config.debug or PYMM_DEBUG=1): a freed object is kept in a
 * quarantine with refcount 1 and the PMO_OF_DEAD flag, so a later decref of
 * it reaches pm_dealloc and is reported; an incref of it is found when it
 * leaves the quarantine. Debug builds (PM_DEBUG) check every incref and
 * decref inline and keep the total reference count.
 */
#define _DEFAULT_SOURCE
#include "objects/object.h"
#include "heap/internal_alloc.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUARANTINE 1024

struct pmo_debug {
    pm_object *quarantine[QUARANTINE];
    pm_type *q_types[QUARANTINE]; /* their types: theirs is pmo_freed_type */
    size_t q_head, q_len;
    /* Live objects per type: open addressing, type pointer -> count. */
    struct type_count {
        const pm_type *type;
        uint64_t live;
    } * counts;
    size_t counts_cap, counts_len;
};

/* ---- memory --------------------------------------------------------------- */

static bool is_gc(const pm_type *t) { return (t->flags & PM_TPFLAGS_GC) != 0; }

/* The mem domain through the runtime's table, like pmo_mem_free. */
void *pmo_mem_malloc(size_t n) {
    const pm_allocator *a = pmo_rt()->mem_table;
    void *p = a->malloc(a->ctx, n);
    return p ? p : pmo_no_memory();
}

size_t pmo_mem_size(const void *p, size_t requested) {
    if (p == NULL) return 0;
    size_t n = pm_heap_block_size(pmo_rt()->heap, p);
    return n ? n : requested;
}

void *pmo_mem_realloc(void *p, size_t n) {
    const pm_allocator *a = pmo_rt()->mem_table;
    void *q = a->realloc(a->ctx, p, n);
    return q ? q : pmo_no_memory();
}

/* Whether a is the recorder's wrapper right over rt's own pools. */
static bool wraps_pools(const pm_runtime *rt, const pmh_object_tracer *tr, const pm_allocator *a) {
    const pm_allocator *in = tr->wrapped(a);
    return in && in->malloc == rt->pool_malloc && in->free == rt->pool_free;
}

const pmh_object_tracer *pmo_pool_tracer(const pm_runtime *rt, const pm_allocator *a) {
    const pmh_object_tracer *tr =
        atomic_load_explicit(&pmh_process.object_tracer, memory_order_acquire);
    return tr && wraps_pools(rt, tr, a) ? tr : NULL;
}

bool pmo_objects_in_pools(const pm_runtime *rt) {
    const pm_allocator *a = rt->obj_table;
    return (a->malloc == rt->pool_malloc && a->free == rt->pool_free) || pmo_pool_tracer(rt, a);
}

/* pmo_alloc_rt's way when the obj table is not the heap's own pools: the
 * recorder's wrapper right over them (the block from the runtime's cache
 * all the same, then recorded), or a program's table, debug hooks or a
 * wrapper over those: then the recorder (when tracing) learns that the
 * block is an object, for its snapshots by type. */
pm_object *pmo_alloc_table(pm_runtime *rt, pm_type *t, size_t size) {
    const pm_allocator *a = rt->obj_table;
    const pmh_object_tracer *tr =
        atomic_load_explicit(&pmh_process.object_tracer, memory_order_acquire);
    bool in_pools = tr && wraps_pools(rt, tr, a);
    pm_object *o = in_pools ? pmh_cache_malloc(rt->heap, rt->cache, size) : a->malloc(a->ctx, size);
    if (pmo_unlikely(o == NULL)) return pmo_no_memory();
    o = pmo_init_header_rt(rt, o, t);
    if (in_pools) tr->record(a, o, size);
    else if (tr) tr->born(o);
    return o;
}

void pmo_free_table(pm_runtime *rt, pm_object *o) {
    const pm_allocator *a = rt->obj_table;
    const pmh_object_tracer *tr = pmo_pool_tracer(rt, a);
    if (tr == NULL) {
        a->free(a->ctx, o);
        return;
    }
    tr->forget(a, o);
    pmh_cache_free(rt->heap, rt->cache, o);
}

/* ---- free lists ------------------------------------------------------------ */

static void freelist_drain(pm_runtime *rt, pmo_freelist *fl) {
    pm_object *o;
    while ((o = pmo_freelist_pop(fl)) != NULL) {
        fl->reused--;
        fl->released++;
        pmo_free(rt, o);
    }
}

void pmo_freelists_clear(pm_runtime *rt) {
    pmo_freelists *f = &rt->freelists;
    freelist_drain(rt, &f->floats);
    for (int i = 0; i <= PMO_TUPLE_FREELIST_SIZES; i++) freelist_drain(rt, &f->tuples[i]);
    freelist_drain(rt, &f->lists);
    freelist_drain(rt, &f->dicts);
}

void pm_runtime_clear_freelists(pm_runtime *rt) {
    pm_runtime *saved = pm_runtime_enter(rt);
    pmo_freelists_clear(rt);
    pm_runtime_enter(saved);
}

static const char *const tuple_names[PMO_TUPLE_FREELIST_SIZES + 1] = {
    "tuple[0]",  "tuple[1]",  "tuple[2]",  "tuple[3]",  "tuple[4]",  "tuple[5]",  "tuple[6]",
    "tuple[7]",  "tuple[8]",  "tuple[9]",  "tuple[10]", "tuple[11]", "tuple[12]", "tuple[13]",
    "tuple[14]", "tuple[15]", "tuple[16]", "tuple[17]", "tuple[18]", "tuple[19]", "tuple[20]"};

static void fill_stats(pm_freelist_stats *out, const char *name, const pmo_freelist *fl) {
    out->name = name;
    out->size = fl->size;
    out->limit = fl->limit;
    out->reused = fl->reused;
    out->released = fl->released;
}

size_t pm_runtime_freelists(pm_runtime *rt, pm_freelist_stats *out, size_t cap) {
    const pmo_freelists *f = &rt->freelists;
    size_t n = 0;
    if (n < cap) fill_stats(&out[n], "float", &f->floats);
    n++;
    for (int i = 1; i <= PMO_TUPLE_FREELIST_SIZES; i++, n++)
        if (n < cap) fill_stats(&out[n], tuple_names[i], &f->tuples[i]);
    if (n < cap) fill_stats(&out[n], "list", &f->lists);
    n++;
    if (n < cap) fill_stats(&out[n], "dict", &f->dicts);
    n++;
    return n;
}

/* ---- debug mode ------------------------------------------------------------ */

static pmo_debug *debug_state(pm_runtime *rt) {
    if (rt->dbg == NULL) rt->dbg = pmh_internal_calloc(1, sizeof *rt->dbg);
    return rt->dbg;
}

pm_object *pmo_born_watched(pm_runtime *rt, pm_object *o) {
    if (rt->debug) pmo_debug_count(rt, o->type, 1);
    if (rt->births) rt->births->born(rt->births, o);
    return o;
}

void pmo_watch_births(pm_runtime *rt, pmo_births *w) {
    rt->births = w;
    rt->born_slow = rt->debug || w != NULL;
}

void pmo_debug_count(pm_runtime *rt, const pm_type *t, int delta) {
    pmo_debug *d = debug_state(rt);
    if (d == NULL) return;
    if ((d->counts_len + 1) * 2 > d->counts_cap) {
        size_t cap = d->counts_cap ? d->counts_cap * 2 : 64;
        struct type_count *c = pmh_internal_calloc(cap, sizeof *c);
        if (c == NULL) return;
        for (size_t i = 0; i < d->counts_cap; i++) {
            if (d->counts[i].type == NULL) continue;
            size_t j = ((uintptr_t)d->counts[i].type >> 4) & (cap - 1);
            while (c[j].type) j = (j + 1) & (cap - 1);
            c[j] = d->counts[i];
        }
        pmh_internal_free(d->counts);
        d->counts = c;
        d->counts_cap = cap;
    }
    size_t j = ((uintptr_t)t >> 4) & (d->counts_cap - 1);
    while (d->counts[j].type && d->counts[j].type != t) j = (j + 1) & (d->counts_cap - 1);
    if (d->counts[j].type == NULL) {
        d->counts[j].type = t;
        d->counts_len++;
    }
    d->counts[j].live += (uint64_t)(int64_t)delta;
}

size_t pm_runtime_type_counts(pm_runtime *rt,
                              void (*fn)(void *arg, const pm_type *t, uint64_t live), void *arg) {
    pmo_debug *d = rt->dbg;
    size_t n = 0;
    for (size_t i = 0; d && i < d->counts_cap; i++) {
        /* A type with no live instance may be gone (a runtime's type dies
         * with its last instance, a shared one by pm_type_destroy): its
         * entry stays, for a type made later at the same address, but fn
         * is never handed a pointer it could not read. */
        if (d->counts[i].type == NULL || d->counts[i].live == 0) continue;
        if (fn) fn(arg, d->counts[i].type, d->counts[i].live);
        n++;
    }
    return n;
}

/* Report misuse of an object with its address, type (NULL: unknown) and
 * allocation number (0: unknown). */
static void report_misuse(pm_runtime *rt, pm_error_kind kind, const pm_object *o, const char *type,
                          uint64_t serial, const char *what) {
    char msg[320];
    char where[64] = "";
    if (serial) snprintf(where, sizeof where, ", allocation #%" PRIu64, serial);
    snprintf(msg, sizeof msg, "%s: object %p of type '%s'%s: %s",
             kind == PM_ERR_REFCOUNT ? "reference count below zero" : "use of a freed object",
             (const void *)o, type ? type : "?", where, what);
    pm_error e = {sizeof e, kind, o, 0, PM_DOMAIN_OBJ, PM_DOMAIN_OBJ, serial, msg};
    pmh_report(rt->heap, &e);
}

/* ---- objects and runtimes (pymm.h, "What may cross runtimes") ------------ */

bool pmo_rt_holds(pm_runtime *rt, const void *p) {
    pm_heap *h = rt->heap;
    if (rt->obj_table->malloc != rt->pool_malloc && !pm_heap_debug_enabled(h))
        return true; /* a user's allocator: its blocks are not the heap's to name */
    return pm_heap_owns(h, p) || pm_heap_block_size(h, p) != 0 || pm_heap_block_serial(h, p) != 0;
}

void pmo_report_wrong_runtime(pm_runtime *rt, const void *addr, pm_object *o, const char *what) {
    char msg[400];
    uint64_t serial = pm_heap_block_serial(rt->heap, addr);
    char where[64] = "", type[80] = "";
    if (serial) snprintf(where, sizeof where, ", allocation #%" PRIu64, serial);
    if (o) snprintf(type, sizeof type, " of type '%s'", o->type ? o->type->name : "?");
    snprintf(msg, sizeof msg, "wrong runtime: %s %p%s%s, runtime %p: %s", o ? "object" : "type",
             addr, type, where, (void *)rt, what);
    pm_error e = {sizeof e, PM_ERR_WRONG_RUNTIME, addr, 0, PM_DOMAIN_OBJ, -1, serial, msg};
    pmh_report(rt->heap, &e);
}

/* Debug mode: o, whose count reached zero, dies under rt. Another
 * runtime's object would go to rt's collector sets and heap: it is
 * reported and left alone (leaked) instead. */
static PM_NOINLINE bool dies_in_own_runtime(pm_runtime *rt, pm_object *o) {
    const char *why = NULL;
    if (!pmo_rt_holds(rt, o))
        why = "an object dies while a runtime other than its own is current (its memory is "
              "not in this runtime's heap); it is not freed";
    else if ((o->flags & PMO_OF_TRACKED) && !pmgc_tracks(rt, o))
        why = "an object dies while a runtime other than its own is current (this runtime's "
              "collector does not track it); it is not freed";
    if (why == NULL) return true;
    pmo_report_wrong_runtime(rt, o, o, why);
    return false;
}

/* The type a quarantined object had, or NULL when o is not in the
 * quarantine. Error paths only: a scan of the ring. */
static const pm_type *quarantined_type(const pmo_debug *d, const pm_object *o) {
    for (size_t i = 0; d && i < d->q_len; i++) {
        size_t k = (d->q_head + i) % QUARANTINE;
        if (d->quarantine[k] == o) return d->q_types[k];
    }
    return NULL;
}

/* Misuse of an object whose header is intact (quarantined or alive). */
static void report_object(pm_runtime *rt, pm_error_kind kind, pm_object *o, const char *what) {
    const pm_type *t = quarantined_type(rt->dbg, o);
    if (t == NULL) t = o->type;
    report_misuse(rt, kind, o, t ? t->name : NULL, pm_heap_block_serial(rt->heap, (void *)o), what);
}

/* An evicted object's memory goes straight to the heap, never to a free
 * list: a debug heap then fills it (0xDD, which carries PMO_OF_DEAD) and
 * keeps it in its own quarantine, so a stale pointer is still caught. */
static void release_evicted(pm_runtime *rt, pm_object *o) {
    pm_type *t = o->type;
    pmo_free(rt, o);
    if (t->flags & PM_TPFLAGS_HEAP) pm_decref(&t->ob);
}

/* Release the oldest quarantined object. It leaves the ring before its
 * memory goes: releasing it may free more objects (it held the last
 * reference to its type), whose deaths come back to quarantine_push. */
static void quarantine_evict(pm_runtime *rt, pmo_debug *d) {
    assert(d->q_len > 0 && d->q_len <= QUARANTINE);
    pm_object *o = d->quarantine[d->q_head];
    bool held = o->refcnt != 1;
    if (held) report_object(rt, PM_ERR_USE_AFTER_FREE, o, "it was incref'd after it was freed");
    o->type = d->q_types[d->q_head];
    d->quarantine[d->q_head] = NULL;
    d->q_head = (d->q_head + 1) % QUARANTINE;
    d->q_len--;
    /* Someone still holds it (a handler that returns lets the program go
     * on): reported and left alone, never freed under its holder, whose
     * later decref would otherwise kill whatever reuses the block. */
    if (held) return;
    o->refcnt = 0;
    o->flags &= ~PMO_OF_DEAD;
    release_evicted(rt, o);
}

/* Keep a freed object, marked dead with one reference and the type of
 * freed objects: a later decref comes back to pm_dealloc, which reports
 * it, and every type test and slot call of the public entries meets
 * pmo_freed_type, which reports it too. An eviction may push the
 * objects it frees, refilling the slot it made: evict until a slot stays
 * free, then take it (no code runs between the test and the store). */
static bool quarantine_push(pm_runtime *rt, pm_object *o) {
    pmo_debug *d = debug_state(rt);
    if (d == NULL) return false;
    while (d->q_len == QUARANTINE) quarantine_evict(rt, d);
    assert(d->q_len < QUARANTINE);
    o->flags |= PMO_OF_DEAD;
    /* A dead type leaves pm_object_new_refs_steal's fast path, which does
     * not test its argument, for the general one, which does. */
    if (o->type == &pm_type_type) ((pm_type *)o)->internal &= ~PMO_TP_PLAIN;
    o->refcnt = 1;
    size_t k = (d->q_head + d->q_len) % QUARANTINE;
    d->quarantine[k] = o;
    d->q_types[k] = o->type;
    o->type = &pmo_freed_type;
    d->q_len++;
    return true;
}

/* A public entry was given an object marked dead (pmo_live). In this
 * runtime's quarantine its header is intact: report its type and serial.
 * Its memory freed in a debug heap (the 0xDD fill): only the block's
 * serial is known; elsewhere (a free list, another runtime) nothing may
 * be read through it. Slow path only: never inlined into the entries. */
PM_NOINLINE void pmo_dead_arg(const pm_object *o, const char *api) {
    pm_runtime *rt = pmo_rt();
    char what[128];
    snprintf(what, sizeof what, "passed to %s%s after it was freed", api ? api : "a pymm function",
             api ? "()" : "");
    if (quarantined_type(rt->dbg, o))
        report_object(rt, PM_ERR_USE_AFTER_FREE, (pm_object *)o, what);
    else
        report_misuse(rt, PM_ERR_USE_AFTER_FREE, o, NULL, pmh_debug_freed_serial(rt->heap, o),
                      what);
    pm_exc_set(PM_EXC_RUNTIME, "%s: object %p was freed", api ? api : "pymm", (const void *)o);
}

/* ---- the type of quarantined objects ---------------------------------------- */

/* Each slot reports the call that reached it and fails it, so that the
 * public entries catch a freed object at no cost: their type tests fail
 * and their slot calls land here. */
static pm_object *freed_repr(pm_object *o) { return pmo_dead_arg(o, "pm_repr"), NULL; }
static pm_object *freed_str(pm_object *o) { return pmo_dead_arg(o, "pm_str"), NULL; }
static int freed_hash(pm_object *o, uint64_t *out) {
    (void)out;
    return pmo_dead_arg(o, "pm_hash"), -1;
}
static int freed_compare(pm_object *o, pm_object *other, int op) {
    (void)other, (void)op;
    return pmo_dead_arg(o, "pm_compare"), -1;
}
static int64_t freed_length(pm_object *o) { return pmo_dead_arg(o, "pm_len"), -1; }
static pm_object *freed_getitem(pm_object *o, pm_object *key) {
    (void)key;
    return pmo_dead_arg(o, "pm_getitem"), NULL;
}
static int freed_setitem(pm_object *o, pm_object *key, pm_object *value) {
    (void)key;
    return pmo_dead_arg(o, value ? "pm_setitem" : "pm_delitem"), -1;
}
static int freed_contains(pm_object *o, pm_object *key) {
    (void)key;
    return pmo_dead_arg(o, "pm_contains"), -1;
}
static pm_object *freed_iter(pm_object *o) { return pmo_dead_arg(o, "pm_iter"), NULL; }
static pm_object *freed_next(pm_object *o) { return pmo_dead_arg(o, "pm_next"), NULL; }
static pm_object *freed_getattr(pm_object *o, pm_object *name) {
    (void)name;
    return pmo_dead_arg(o, "pm_getattr"), NULL;
}
static int freed_setattr(pm_object *o, pm_object *name, pm_object *value) {
    (void)name;
    return pmo_dead_arg(o, value ? "pm_setattr" : "pm_delattr"), -1;
}

pm_type pmo_freed_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "freed object",
    .basicsize = sizeof(pm_object),
    .slots = {.repr = freed_repr,
              .str = freed_str,
              .hash = freed_hash,
              .compare = freed_compare,
              .length = freed_length,
              .getitem = freed_getitem,
              .setitem = freed_setitem,
              .contains = freed_contains,
              .iter = freed_iter,
              .iternext = freed_next,
              .getattr = freed_getattr,
              .setattr = freed_setattr},
};

bool pmo_check_live(pm_object *o, const char *api) { return pmo_live_in(o, api); }

void pmo_debug_destroy(pm_runtime *rt) {
    pmo_debug *d = rt->dbg;
    if (d == NULL) return;
    while (d->q_len) quarantine_evict(rt, d);
    pmh_internal_free(d->counts);
    pmh_internal_free(d);
    rt->dbg = NULL;
    /* Objects that die from here on (the collector's garbage list) are
     * freed at once: a new quarantine would outlive the runtime. */
    rt->debug = false;
    rt->born_slow = rt->births != NULL;
}

void pm_incref_checked(pm_object *o) {
    pm_runtime *rt = pmo_rt();
    if (o->refcnt == PM_REFCNT_IMMORTAL) return;
    if (o->refcnt == 0 || (o->flags & PMO_OF_DEAD)) {
        report_object(rt, PM_ERR_USE_AFTER_FREE, o, "incref of an object that was freed");
        return;
    }
    o->refcnt++;
    rt->stats.total_refcount++;
}

void pm_decref_checked(pm_object *o) {
    pm_runtime *rt = pmo_rt();
    if (o->refcnt == PM_REFCNT_IMMORTAL) return;
    if (o->refcnt == 0) {
        report_object(rt, PM_ERR_REFCOUNT, o, "decref of an object whose count is already zero");
        return;
    }
    rt->stats.total_refcount--;
    if (--o->refcnt == 0) pm_dealloc(o);
    else if (!(o->flags & PM_OF_LOST_REF)) pm_lost_ref(o);
}

/* Only a young object's loss is counted: an old one's cycles are the
 * business of the collections that never skip (generation 1 and full). */
void pm_lost_ref(pm_object *o) {
    unsigned f = o->flags;
    o->flags = f | PM_OF_LOST_REF;
    if ((f & (PMO_OF_TRACKED | PMO_OF_GEN_MASK)) == PMO_OF_TRACKED) pmo_rt()->gc_young_lost++;
}

/* ---- deallocation -------------------------------------------------------- */

static inline void release_memory(pm_runtime *rt, pm_object *o) {
    pm_type *t = o->type;
    if (t->free_mem) t->free_mem(rt, o);
    else pmo_free(rt, o);
    if (t->flags & PM_TPFLAGS_HEAP) pm_decref(&t->ob);
}

/* Run a finalizer with the object temporarily alive. Returns true when the
 * finalizer resurrected it (someone kept a reference). The finalizer
 * neither sees the pending exception nor passes one on: the decref that
 * led here may be a failing call's cleanup, whose exception must survive,
 * and the caller of pm_decref expects none (pymm.h, unraisable). */
static bool run_finalizer(pm_runtime *rt, pm_object *o, void (*fn)(pm_object *),
                          const char *context) {
    pmo_exc_saved saved;
    pmo_unraisable_begin(rt, &saved);
    o->refcnt = 1;
    fn(o);
    pmo_unraisable_end(rt, &saved, context, o);
    return --o->refcnt != 0;
}

/* What comes before the type's dealloc slot, for the objects that need
 * any of it: the debug report, finalizers, weak references. Returns false
 * when the deallocation stops here (reported, or resurrected). */
/* A resurrected object lives on as before: one that the deferral queue
 * had untracked goes back on generation 0 (CPython's subtype_dealloc
 * tracks before it finalizes, for the same reason). Its finalizer may
 * have stored it only inside a cycle of its own: the decref that ends
 * the finalizer's hold is a lost reference like pm_decref's. */
static bool resurrected(pm_runtime *rt, pm_object *o) {
    if (o->flags & PMO_OF_UNTRACKED_DEFERRED) {
        o->flags &= ~PMO_OF_UNTRACKED_DEFERRED;
        if (!(o->flags & PMO_OF_TRACKED)) pmo_gc_link_young(rt, o); /* its finalizer may have */
    }
    if (is_gc(o->type)) {
        o->flags &= ~PM_OF_LOST_REF;
        pm_lost_ref(o);
    }
    return false;
}

static PM_NOINLINE bool dealloc_prelude(pm_runtime *rt, pm_object *o) {
    pm_type *t = o->type;
    if (o->flags & PMO_OF_DEAD) {
        report_object(rt, PM_ERR_REFCOUNT, o, "decref of an object that was already freed");
        o->refcnt = 1; /* the quarantine's, which its eviction expects */
        return false;
    }
    if (t->slots.finalize && !(o->flags & PM_OF_FINALIZED)) {
        o->flags |= PM_OF_FINALIZED;
        if (run_finalizer(rt, o, t->slots.finalize, "finalizer of")) return resurrected(rt, o);
    }
    if (t->slots.legacy_del && run_finalizer(rt, o, t->slots.legacy_del, "legacy finalizer of"))
        return resurrected(rt, o);
    o->flags &= ~PMO_OF_UNTRACKED_DEFERRED;
    if (o->flags & PM_OF_HAS_WEAKREF) {
        /* Callbacks run with the count at zero: a collection they cause
         * must not meet the object (CPython untracks first too). */
        if (o->flags & PMO_OF_TRACKED) pmo_gc_unlink(rt, o);
        pmo_weakrefs_clear(o, true);
    }
    return true;
}

/* Drop the reference a dying object's field holds. True when that was the
 * referent's last reference: the caller deallocates it next, for the last
 * field in a loop instead of a nested call (a chain through the last
 * field, a tree's right spine, costs no stack and no call). Debug builds
 * drop it with the checked pm_decref. */
static inline bool drop_field_ref(pm_object *r) {
#ifdef PM_DEBUG
    pm_decref(r);
    return false;
#else
    uint32_t n = r->refcnt;
    if (n == PM_REFCNT_IMMORTAL) return false;
    r->refcnt = --n;
    if (n == 0) return true;
    if (!(r->flags & PM_OF_LOST_REF)) pm_lost_ref(r);
    return false;
#endif
}

/* Release o's reference fields but the last, which is set to NULL and
 * returned for drop_field_ref. */
static pm_object *release_refs_but_last(pm_object *o) {
    pm_object **f = pmo_ref_fields(o);
    size_t n = o->type->nrefs;
    for (size_t i = 0; i + 1 < n; i++) PM_CLEAR(f[i]);
    pm_object *last = f[n - 1];
    f[n - 1] = NULL;
    return last;
}

static void dealloc_one(pm_runtime *rt, pm_object *o);
static void defer(pm_runtime *rt, pm_object *o);

/* A dying GC object leaves the collector's sets and the young count
 * (CPython's PyObject_GC_Del: the count never goes below zero). */
static inline void gc_forget(pm_runtime *rt, pm_object *o) {
    if (o->flags & PMO_OF_TRACKED) pmo_gc_unlink(rt, o);
    if (rt->gc_young_count > 0) rt->gc_young_count--;
}

/* A plain instance (PMO_TP_PLAIN) that nothing else needs to see: no weak
 * references, not dead or queued, no debug mode, the heap's own pools. */
static inline bool plain_death(const pm_runtime *rt, const pm_object *o) {
    return (o->type->internal & PMO_TP_PLAIN) &&
           !(o->flags & (PMO_OF_DEAD | PM_OF_HAS_WEAKREF | PMO_OF_UNTRACKED_DEFERRED)) &&
           !pmo_debug_checks(rt) && rt->obj_table->free == rt->pool_free;
}

/* A field of a dying plain instance whose count reached zero: nested like
 * pm_dealloc's, without its way in (the runtime is known, the deferred
 * queue drains at the outermost level). */
static void dealloc_nested(pm_runtime *rt, pm_object *o) {
    if (pmo_unlikely(rt->dealloc_depth >= PMO_DEALLOC_DEPTH)) {
        defer(rt, o);
        return;
    }
    rt->dealloc_depth++;
    dealloc_one(rt, o);
    rt->dealloc_depth--;
}

/* dealloc_one's path for plain instances: the general one less every
 * test their type answers no to. Returns the last field when its count
 * reached zero, for the caller's loop; o's block then waits on *pending
 * (linked through its first field) until that loop ends, so that a tree
 * is freed children first, in the order it was built bottom-up, and the
 * pools' free lists (last in, first out) give the next tree the same
 * compact layout. Freed parent before right child, the layout decayed:
 * in a binary-trees run 3-6% of parent-child links shared a cache line
 * and 11-26% spanned more than 4 KiB; children first, 25% and 1%. */
static inline pm_object *dealloc_plain(pm_runtime *rt, pm_object *o, pm_object **pending) {
    pm_type *t = o->type;
    gc_forget(rt, o);
    pm_object **f = pmo_ref_fields(o);
    size_t n = t->nrefs;
    for (size_t i = 0; i + 1 < n; i++) {
        pm_object *r = f[i];
        if (r && drop_field_ref(r)) dealloc_nested(rt, r);
    }
    pm_object *last = f[n - 1];
    rt->stats.objects_freed++;
    pm_decref(&t->ob); /* O3 */
    if (last && drop_field_ref(last)) {
        f[0] = *pending;
        *pending = o;
        return last;
    }
    pmh_cache_free(rt->heap, rt->cache, o);
    return NULL;
}

/* The blocks dealloc_plain left waiting, latest first. */
static void free_pending(pm_runtime *rt, pm_object *p) {
    while (p) {
        pm_object *next = pmo_ref_fields(p)[0];
        pmh_cache_free(rt->heap, rt->cache, p);
        p = next;
    }
}

/* The deallocation of any object; returns its last field when that was
 * the field's last reference, for dealloc_one's loop. Inline: out of line
 * it spared the plain path 7 instructions a node but cost the objects
 * most programs free (containers, types with slots) a call, 4% of the gc
 * suite's pairs. */
static inline pm_object *dealloc_general(pm_runtime *rt, pm_object *o) {
    if (pmo_unlikely(pmo_debug_checks(rt)) && !dies_in_own_runtime(rt, o)) return NULL;
    pm_type *t = o->type;
    if (pmo_unlikely((o->flags & (PMO_OF_DEAD | PM_OF_HAS_WEAKREF | PMO_OF_UNTRACKED_DEFERRED)) ||
                     (t->internal & PMO_TP_FINALIZERS)) &&
        !dealloc_prelude(rt, o))
        return NULL;
    if (t->flags & PM_TPFLAGS_GC) gc_forget(rt, o);
    if (t->slots.dealloc) t->slots.dealloc(o);
    pm_object *last = t->nrefs ? release_refs_but_last(o) : NULL;
    if (t->flags & PM_TPFLAGS_ATTRS) PM_CLEAR(*pmo_attrs_slot(o));
    rt->stats.objects_freed++;
    if (pmo_unlikely(rt->debug)) pmo_debug_count(rt, t, -1);
    if (!pmo_unlikely(rt->debug) || !quarantine_push(rt, o)) release_memory(rt, o);
    return last && drop_field_ref(last) ? last : NULL;
}

static void dealloc_one(pm_runtime *rt, pm_object *o) {
    pm_object *pending = NULL;
    do {
        o = plain_death(rt, o) ? dealloc_plain(rt, o, &pending) : dealloc_general(rt, o);
    } while (o);
    if (pending) free_pending(rt, pending);
}

static void defer(pm_runtime *rt, pm_object *o) {
    rt->stats.deferred_deallocs++;
    if (o->flags & PMO_OF_TRACKED) { /* a queued object is no collector's */
        pmo_gc_unlink(rt, o);
        o->flags |= PMO_OF_UNTRACKED_DEFERRED;
    }
    if (!pmo_vec_push(&rt->deferred, o)) dealloc_one(rt, o); /* out of memory: recurse instead */
}

static pm_object *next_deferred(pm_runtime *rt) {
    return rt->deferred.len ? rt->deferred.items[--rt->deferred.len] : NULL;
}

static PM_NOINLINE void drain_deferred(pm_runtime *rt) {
    pm_object *next;
    rt->dealloc_depth = 1;
    while ((next = next_deferred(rt)) != NULL) dealloc_one(rt, next);
    rt->dealloc_depth = 0;
}

void pm_dealloc(pm_object *o) {
    pm_runtime *rt = pmo_rt();
    PM_ASSERT(o->refcnt == 0); /* O1 */
    if (pmo_unlikely(rt->dealloc_depth >= PMO_DEALLOC_DEPTH)) {
        defer(rt, o);
        return;
    }
    rt->dealloc_depth++;
    dealloc_one(rt, o);
    if (--rt->dealloc_depth == 0 && pmo_unlikely(rt->deferred.len)) drain_deferred(rt);
}

void pm_make_immortal(pm_object *o) {
    if (pmo_live(o)) o->refcnt = PM_REFCNT_IMMORTAL;
}

/* ---- errors ---------------------------------------------------------------- */

/* A NULL object argument with an exception pending is a failed call's
 * result passed on: its exception stays (pymm.h). */
void pmo_null_arg(const char *fmt, ...) {
    if (pm_exc_occurred() != PM_EXC_NONE) return;
    va_list ap;
    va_start(ap, fmt);
    pmo_vsetf(PM_EXC_TYPE, fmt, ap);
    va_end(ap);
}

/* A dead object's type pointer may be garbage: it is never read here. */
void pmo_arg_error(const char *what, pm_object *got, const char *api) {
    if (got == NULL) pmo_null_arg("expected %s, got NULL", what);
    else if (got->flags & PMO_OF_DEAD) pmo_dead_arg(got, api);
    else pm_exc_set(PM_EXC_TYPE, "expected %s, got %s", what, got->type->name);
}

void pmo_type_error(const char *what, pm_object *got) { pmo_arg_error(what, got, NULL); }

/* A freed object needs no test here: its type, pmo_freed_type, reports
 * it from the slot the operation calls. */
static bool check_arg(pm_object *o) {
    if (o) return true;
    pmo_null_arg("NULL object passed to a pymm function");
    return false;
}

/* ---- generic operations --------------------------------------------------- */

/* repr, str, compare and hash call slots that may call them again (a
 * container's on its items, a user type's on its fields): each such call
 * is one level of the runtime's recursion guard (object.h). The levels
 * cost C stack; the guard turns too many into a RecursionError. */

/* May t's slots call a generic operation again? Containers (GC types)
 * and user types (heap types) may; the atomic built-ins (str, int,
 * float, bytes, None, bool, type) never do, and skip the guard: a dict
 * hashes and compares str keys with no cost added. */
static inline bool may_recurse(const pm_type *t) {
    return (t->flags & (PM_TPFLAGS_GC | PM_TPFLAGS_HEAP)) != 0;
}

/* The guarded calls are out of line: the atomic types' path stays a
 * test and a tail call (a guard inline made pm_hash save registers on
 * every call: 9 instructions a str key became 21, callgrind). */

static pm_object *repr_of(pm_object *o) {
    if (o->type->slots.repr) return o->type->slots.repr(o);
    return pm_str_format("<%s object at %p>", o->type->name, (void *)o);
}

/* Without a str slot, the repr: one level, not two. */
static pm_object *str_of(pm_object *o) {
    return o->type->slots.str ? o->type->slots.str(o) : repr_of(o);
}

static PM_NOINLINE pm_object *guarded_text(pm_object *o, bool str) {
    pm_runtime *rt = pmo_rt();
    if (!pmo_rec_enter(rt, str ? " while getting the str of an object"
                               : " while getting the repr of an object"))
        return NULL;
    pm_object *r = str ? str_of(o) : repr_of(o);
    pmo_rec_leave(rt);
    return r;
}

pm_object *pm_repr(pm_object *o) {
    if (!check_arg(o)) return NULL;
    return may_recurse(o->type) ? guarded_text(o, false) : repr_of(o);
}

pm_object *pm_str(pm_object *o) {
    if (!check_arg(o)) return NULL;
    return may_recurse(o->type) ? guarded_text(o, true) : str_of(o);
}

static PM_NOINLINE int guarded_hash(pm_object *o, uint64_t *out) {
    pm_runtime *rt = pmo_rt();
    if (!pmo_rec_enter(rt, " while hashing an object")) return -1;
    int r = o->type->slots.hash(o, out);
    pmo_rec_leave(rt);
    return r;
}

int pm_hash(pm_object *o, uint64_t *out) {
    if (!check_arg(o)) return -1;
    const pm_type *t = o->type;
    if (t->slots.hash) return may_recurse(t) ? guarded_hash(o, out) : t->slots.hash(o, out);
    if (t->slots.compare) {
        /* Equality by value without a hash: unhashable, as in Python. */
        pm_exc_set(PM_EXC_TYPE, "unhashable type: '%s'", t->name);
        return -1;
    }
    uintptr_t p = (uintptr_t)o;
    *out = (uint64_t)((p >> 4) | (p << 60));
    return 0;
}

static const char *const op_names[] = {"<", "<=", "==", "!=", ">", ">="};
static const int reflected[] = {PM_GT, PM_GE, PM_EQ, PM_NE, PM_LT, PM_LE};

/* a's compare slot, then b's reflected one (of another type). */
static inline int compare_slots(pm_object *a, pm_object *b, int op) {
    int r = PM_CMP_UNSUPPORTED;
    if (a->type->slots.compare) r = a->type->slots.compare(a, b, op);
    if (r == PM_CMP_UNSUPPORTED && b->type->slots.compare && b->type != a->type)
        r = b->type->slots.compare(b, a, reflected[op]);
    return r;
}

static PM_NOINLINE int guarded_compare(pm_object *a, pm_object *b, int op) {
    pm_runtime *rt = pmo_rt();
    if (!pmo_rec_enter(rt, " in comparison")) return -1;
    int r = compare_slots(a, b, op);
    pmo_rec_leave(rt);
    return r;
}

int pm_compare(pm_object *a, pm_object *b, int op) {
    if (!check_arg(a) || !check_arg(b)) return -1;
    if (op < PM_LT || op > PM_GE) {
        pm_exc_set(PM_EXC_VALUE, "bad comparison operator %d", op);
        return -1;
    }
    int r = may_recurse(a->type) || may_recurse(b->type) ? guarded_compare(a, b, op)
                                                         : compare_slots(a, b, op);
    if (r != PM_CMP_UNSUPPORTED) return r;
    if (op == PM_EQ) return a == b;
    if (op == PM_NE) return a != b;
    pm_exc_set(PM_EXC_TYPE, "'%s' not supported between instances of '%s' and '%s'", op_names[op],
               a->type->name, b->type->name);
    return -1;
}

/* Equality as containers use it: identity implies equality. */
int pm_equal(pm_object *a, pm_object *b) {
    if (a == b && a != NULL) return 1;
    return pm_compare(a, b, PM_EQ);
}

int64_t pm_len(pm_object *o) {
    if (!check_arg(o)) return -1;
    if (o->type->slots.length) return o->type->slots.length(o);
    pm_exc_set(PM_EXC_TYPE, "object of type '%s' has no len()", o->type->name);
    return -1;
}

pm_object *pm_getitem(pm_object *o, pm_object *key) {
    if (!check_arg(o) || !check_arg(key)) return NULL;
    if (o->type->slots.getitem) return o->type->slots.getitem(o, key);
    pm_exc_set(PM_EXC_TYPE, "'%s' object is not subscriptable", o->type->name);
    return NULL;
}

static int setitem(pm_object *o, pm_object *key, pm_object *value) {
    if (!check_arg(o) || !check_arg(key)) return -1;
    if (o->type->slots.setitem) return o->type->slots.setitem(o, key, value);
    pm_exc_set(PM_EXC_TYPE, "'%s' object does not support item %s", o->type->name,
               value ? "assignment" : "deletion");
    return -1;
}

int pm_setitem(pm_object *o, pm_object *key, pm_object *value) {
    if (!check_arg(value)) return -1;
    return setitem(o, key, value);
}

int pm_delitem(pm_object *o, pm_object *key) { return setitem(o, key, NULL); }

pm_object *pm_iter(pm_object *o) {
    if (!check_arg(o)) return NULL;
    if (o->type->slots.iter) return o->type->slots.iter(o);
    if (o->type->slots.iternext) return pm_newref(o); /* an iterator is its own */
    pm_exc_set(PM_EXC_TYPE, "'%s' object is not iterable", o->type->name);
    return NULL;
}

pm_object *pm_next(pm_object *it) {
    if (!check_arg(it)) return NULL;
    if (it->type->slots.iternext) return it->type->slots.iternext(it);
    pm_exc_set(PM_EXC_TYPE, "'%s' object is not an iterator", it->type->name);
    return NULL;
}

/* Membership by iteration when the type has no contains slot. */
static int contains_by_iteration(pm_object *o, pm_object *key) {
    pm_object *it = pm_iter(o);
    if (it == NULL) return -1;
    int found = 0;
    pm_object *item;
    while (!found && (item = pm_next(it)) != NULL) {
        found = pm_equal(item, key);
        pm_decref(item);
    }
    pm_decref(it);
    if (found == 0 && pm_exc_occurred()) return -1;
    return found;
}

int pm_contains(pm_object *o, pm_object *key) {
    if (!check_arg(o) || !check_arg(key)) return -1;
    if (o->type->slots.contains) return o->type->slots.contains(o, key);
    return contains_by_iteration(o, key);
}

int pm_truth(pm_object *o) {
    if (!check_arg(o)) return -1;
    const pm_type *t = o->type;
    if (t == &pm_none_type) return 0;
    if (t == &pm_bool_type || t == &pm_int_type) {
        int64_t v;
        return pm_int_value(o, &v) == 0 ? v != 0 : -1;
    }
    if (t == &pm_float_type) {
        double d;
        return pm_float_value(o, &d) == 0 ? d != 0.0 : -1;
    }
    if (t->slots.length) {
        int64_t n = t->slots.length(o);
        return n < 0 ? -1 : n != 0;
    }
    return 1;
}
