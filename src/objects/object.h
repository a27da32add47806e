/*
 * object.h -- the object layer's internal types, shared by src/objects/.
 *
 * Owns the layout of type objects and of the runtime, the allocation and
 * deallocation protocol every built-in type follows, and the prefixes:
 * pmo_ for functions shared between files of this layer.
 *
 * Memory layout of every object, GC types included:
 *
 *   [ pm_object 16 ][ payload ]
 *   ^ the pm_object * users see
 *
 * No gc head: the collector finds tracked objects through the young vector
 * and the address maps of gc/gc.h, which this layer keeps up to date (the
 * object layer and the collector depend on each other: this header
 * includes the collector's, as Lua's ltable.c includes lgc.h).
 *
 * Protocol for a built-in type:
 *   - allocate with pmo_alloc(type, size) (or reuse a free-list block and
 *     call pmo_init_header), which returns refcount 1;
 *   - its dealloc slot releases the references the object holds and nothing
 *     else; pm_dealloc runs finalizers, clears weak references, calls the
 *     slot, and then type->free_mem (free lists) or pmo_free.
 *
 * Invariants:
 *   O1  refcnt == 0 only while pm_dealloc runs on the object.
 *   O2  static objects (PM_OF_STATIC) are immortal.
 *   O3  an instance of a heap type owns a reference to its type (a shared
 *       type is immortal: the reference changes no count).
 */
#ifndef PM_OBJECTS_OBJECT_H
#define PM_OBJECTS_OBJECT_H

#include "pymm.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bits 6..7 of pm_object.flags belong to this layer. ACYCLIC: the object
 * can take part in no reference cycle, now or later. Set at birth on
 * objects of non-GC types (statics too), on frozen instances born
 * untracked, and by the collector when it untracks a tuple or a frozen
 * instance (whose references cannot change, but for a tuple refilled
 * before it is shared: pm_tuple_set_steal clears the bit). A fast,
 * conservative answer: an object without the bit may still be acyclic
 * (pmo_may_be_tracked is the exact rule). */
#define PMO_OF_ACYCLIC (1u << 6)

#include "heap/heap.h"        /* the pool fast paths, inlined (pmo_alloc_rt) */
#include "gc/gc.h"            /* the collector's flag bits, sets and entry points */
#include "objects/builders.h" /* the builders libraries use (JSON) */

/* This layer's spellings of pm_config.h's macros (heap/heap.h includes
 * it), kept so that declarations read alike across src/objects/. */
#define PMO_HIDDEN PM_HIDDEN
#define pmo_likely(x) pm_likely(x)
#define pmo_unlikely(x) pm_unlikely(x)

struct pm_type {
    pm_object ob;
    const char *name;
    size_t basicsize, itemsize;
    unsigned flags;
    unsigned internal;   /* PMO_TP_* bits derived from the slots  */
    size_t attrs_offset; /* PM_TPFLAGS_ATTRS: offset of the attrs dict */
    size_t nrefs;        /* reference fields after the header    */
    pm_type_slots slots;
    /* Internal hooks of built-in types. */
    void (*free_mem)(pm_runtime *rt, pm_object *o); /* NULL: pmo_free    */
    /* Bytes o owns outside its block (a list's item array, a dict's
     * table), for diag/sizes.c; NULL: none. Built-in types set it here,
     * heap types take pm_type_spec.owned_size. */
    size_t (*owned_size)(pm_object *o);
    char *owned_name; /* heap types: their own copy of name  */
};

/* The type has a finalize or legacy_del slot: deallocation must look. */
#define PMO_TP_FINALIZERS (1u << 0)
/* The collector's questions about a garbage object, answered by its type
 * (a load of a hot type object instead of a walk over the garbage). */
#define PMO_TP_FINALIZE (1u << 1)   /* a PEP 442 finalize slot            */
#define PMO_TP_LEGACY_DEL (1u << 2) /* a legacy_del slot (uncollectable)  */
#define PMO_TP_WEAKREF (1u << 3)    /* the type is a weak reference type  */
/* Every reference an instance holds is in its reference fields (no
 * traverse slot, no attributes): the collector reads them in place. */
#define PMO_TP_REFS_ONLY (1u << 4)
/* An instance's references never change once it is built (tuples, frozen
 * types): if none of them may take part in a cycle, neither may it. */
#define PMO_TP_FIXED_REFS (1u << 5)
/* A plain type: made at run time of the header and reference fields
 * alone (no slot that deallocates, finalizes or traverses, no attributes,
 * no items), small enough for the pools. Its instances are made and
 * freed by fast paths (pm_object_new_refs_steal, dealloc_one) that skip
 * every question such a type answers no to. */
#define PMO_TP_PLAIN (1u << 6)

/* May o take part in a reference cycle? Any GC object may, except one
 * with fixed references that is untracked (its referents are atomic, or
 * such objects in turn, and it cannot change). Dicts and lists start
 * untracked and are tracked at the first store of an object that may
 * (CPython's MAINTAIN_TRACKING, extended to lists). */
static inline bool pmo_may_be_tracked(const pm_object *o) {
    const pm_type *t = o->type;
    return (t->flags & PM_TPFLAGS_GC) &&
           (!(t->internal & PMO_TP_FIXED_REFS) || (o->flags & PMO_OF_TRACKED));
}

/* An instance's reference fields: the first type->nrefs payload words. */
static inline pm_object **pmo_ref_fields(pm_object *o) { return (pm_object **)(o + 1); }

/* None of a frozen instance's reference fields may take part in a cycle
 * (a NULL field holds nothing): the instance need not be tracked. */
static inline bool pmo_refs_atomic(pm_object *o) {
    pm_object **f = pmo_ref_fields(o);
    for (size_t i = 0, n = o->type->nrefs; i < n; i++)
        if (f[i] && pmo_may_be_tracked(f[i])) return false;
    return true;
}

/* Drop an instance's reference fields (its deallocation, its clear). */
static inline void pmo_release_refs(pm_object *o) {
    pm_object **f = pmo_ref_fields(o);
    for (size_t i = 0, n = o->type->nrefs; i < n; i++) PM_CLEAR(f[i]);
}

/* A static, immortal object header. */
#define PMO_STATIC_HEADER(type)                                                                    \
    { PM_REFCNT_IMMORTAL, PM_OF_STATIC | PMO_OF_ACYCLIC, (type) }
/* The header of an immortal object of a non-GC type that is not static
 * (a shared type: freed by pm_type_destroy, not by reference counting). */
#define PMO_IMMORTAL_HEADER(type)                                                                  \
    { PM_REFCNT_IMMORTAL, PM_OF_LOST_REF | PMO_OF_ACYCLIC, (type) }

/* A growable array of object pointers (raw memory: never the runtime's). */
typedef struct pmo_vec {
    pm_object **items;
    size_t len, cap;
} pmo_vec;

/* Free lists of the hot small types (CPython's numbers where it has them). */
#define PMO_FLOAT_FREELIST 100
#define PMO_TUPLE_FREELIST_SIZES 20 /* tuples of 1..20 items */
#define PMO_TUPLE_FREELIST 2000     /* per size              */
#define PMO_LIST_FREELIST 80
#define PMO_DICT_FREELIST 80

typedef struct pmo_freelist {
    void *head; /* blocks linked through their first word */
    uint32_t size, limit;
    uint64_t reused, released;
} pmo_freelist;

typedef struct pmo_freelists {
    pmo_freelist floats;
    pmo_freelist tuples[PMO_TUPLE_FREELIST_SIZES + 1]; /* index = item count */
    pmo_freelist lists;
    pmo_freelist dicts;
} pmo_freelists;

typedef struct pmo_intern_table pmo_intern_table;
typedef struct pmo_weak_registry pmo_weak_registry;
typedef struct pmo_debug pmo_debug;

/* A watch of a runtime's births (the census's mark, diag/census.c): born
 * is called with every object the runtime makes from the moment it is set
 * (pmo_watch_births) until it is taken off, with the header initialized;
 * release, when the runtime is destroyed with the watch still set. Both
 * run on the runtime's thread. born may not allocate objects or fail. */
typedef struct pmo_births pmo_births;
struct pmo_births {
    void (*born)(pmo_births *w, pm_object *o);
    void (*release)(pmo_births *w);
};

/* The declared roots of a runtime (diag/roots.c): strong references it
 * holds on a program's behalf. release drops them and frees the table,
 * first thing in pm_runtime_destroy, while every object still works. */
typedef struct pmo_roots pmo_roots;
struct pmo_roots {
    void (*release)(pm_runtime *rt, pmo_roots *r);
};

#define PMO_EXC_MESSAGE 256
#define PMO_DEALLOC_DEPTH 64 /* nested deallocations before deferring */

struct pm_runtime {
    pm_heap *heap;
    const pm_allocator *obj_table; /* the heap's live obj-domain table     */
    const pm_allocator *mem_table; /* and mem-domain table (item arrays)   */
    /* The runtime's own pools (heap.h, pmh_cache): while obj_table is the
     * heap's pool allocator (pool_malloc, pool_free: the private or the
     * thread-safe one), objects come from and go back to this cache
     * inline, with no call and no other thread's lists in the way. */
    pmh_cache *cache;
    void *(*pool_malloc)(void *, size_t);
    void (*pool_free)(void *, void *);
    bool owns_heap;
    bool debug;
    bool gc_stress; /* PYMM_GC_STRESS: a collection at every
                       GC allocation (collector.c, "stress") */
    /* debug || births: the one test of the allocation paths
     * (pmo_init_header_rt, fast_new_ok in type.c), so that a watch of
     * births costs nothing while it is off (pmo_watch_births). */
    bool born_slow;
    pm_exc exc;
    char exc_message[PMO_EXC_MESSAGE];
    uint32_t dealloc_depth;
    uint32_t dict_table_serial; /* dict.c: the next key table's serial   */
    /* The recursion guard of the generic operations (object.c): how
     * deeply repr, str, compare and hash nest, and the limit (default
     * PMO_RECURSION_LIMIT); the containers whose repr is running (list.c). */
    uint32_t rec_depth, rec_limit;
    pmo_vec repr_active;
    /* Where an exception that cannot reach a caller (a finalizer's, a
     * callback's) goes; NULL: the default, one line on stderr. */
    pm_unraisable_hook unraisable_hook;
    void *unraisable_ctx;
    pmo_vec deferred; /* objects awaiting deallocation         */
    pmo_freelists freelists;
    pmo_intern_table *interned; /* str.c                                 */
    pmo_weak_registry *weak;    /* weakref.c                             */
    pmo_debug *dbg;             /* object.c, debug mode                  */
    pmo_births *births;         /* the watch of births, or NULL          */
    pmo_roots *roots;           /* declared roots (diag/roots.c) or NULL */
    pm_runtime_stats stats;
    /* The collector (src/gc/) keeps its state here. */
    void *gc;
    pmgc_young gc_young;        /* generation 0 (gc/gc.h): tracked by
                                   the object layer, collected by the
                                   collector                            */
    pmgc_map gc_map;            /* generations 1, 2 and permanent        */
    int64_t gc_young_count;     /* GC allocations minus deallocations    */
    int64_t gc_young_allocs;    /* GC allocations (the collector's pacing
                                   compares: how many died young)        */
    int64_t gc_old_left;        /* objects that left the oldest
                                   generation (death, untrack) since the
                                   last full collection: the collector's
                                   pacing nets them out of its pending   */
    int64_t gc_young_threshold; /* INT64_MAX: no automatic collection    */
    int64_t gc_young_lost;      /* young objects that got PM_OF_LOST_REF
                                   since the last collection (pm_lost_ref):
                                   while 0, an automatic young collection
                                   has no garbage to find                */
};

/* Count one more GC allocation and collect if the threshold passed: call
 * before any allocation of a GC object (pmo_alloc does; free-list reuse
 * must too). */
static inline void pmo_gc_maybe_collect(pm_runtime *rt) {
    rt->gc_young_allocs++;
    if (++rt->gc_young_count > rt->gc_young_threshold) pmgc_auto_collect(rt);
}

/* ---- runtime.c ---------------------------------------------------------- */

/* The calling thread's runtime: never NULL. Inline: every allocation and
 * deallocation asks. */
PMO_HIDDEN extern _Thread_local pm_runtime *pmo_current_rt
    __attribute__((tls_model("initial-exec")));
PMO_HIDDEN extern pm_runtime pmo_default_runtime;
PMO_HIDDEN pm_runtime *pmo_default_rt_init(void);

static inline pm_runtime *pmo_rt(void) {
    pm_runtime *rt = pmo_current_rt; /* the default runtime unless entered */
    return pmo_likely(rt->heap != NULL) ? rt : pmo_default_rt_init();
}
PMO_HIDDEN void pmo_vsetf(pm_exc kind, const char *fmt, va_list ap);

/* The pending exception, set aside while code that must not see it or
 * pass its own on runs (finalizers, callbacks: CPython's PyErr_Fetch and
 * PyErr_Restore around them). The message is copied only when one is
 * pending. */
typedef struct pmo_exc_saved {
    pm_exc exc;
    char message[PMO_EXC_MESSAGE];
} pmo_exc_saved;

/* Move the pending exception (if any) into *s: none is pending after. */
PMO_HIDDEN void pmo_exc_fetch(pm_runtime *rt, pmo_exc_saved *s);
/* Make *s's exception pending again, if it held one. */
PMO_HIDDEN void pmo_exc_restore(pm_runtime *rt, const pmo_exc_saved *s);
/* The pending exception was raised where no caller can receive it
 * ("finalizer of", o): hand it to the runtime's unraisable hook and
 * clear it. o (may be NULL) names the object concerned. */
PMO_HIDDEN void pmo_write_unraisable(pm_runtime *rt, const char *context, pm_object *o);

/* Run code that cannot raise to a caller: the pending exception set
 * aside, whatever it raises reported as unraisable, the pending one
 * back afterwards. Use as
 *     pmo_exc_saved saved; pmo_unraisable_begin(rt, &saved);
 *     ... the call ...
 *     pmo_unraisable_end(rt, &saved, "finalizer of", o); */
static inline void pmo_unraisable_begin(pm_runtime *rt, pmo_exc_saved *saved) {
    pmo_exc_fetch(rt, saved);
}
static inline void pmo_unraisable_end(pm_runtime *rt, const pmo_exc_saved *saved,
                                      const char *context, pm_object *o) {
    if (pmo_unlikely(rt->exc != PM_EXC_NONE)) pmo_write_unraisable(rt, context, o);
    pmo_exc_restore(rt, saved);
}

/* ---- the recursion guard (object.c, runtime.c) ---------------------------------------
 * One mechanism bounds every recursion through the generic operations
 * (pm_repr, pm_str, pm_compare and pm_equal, pm_hash), whether it goes
 * through built-in containers or user slots: CPython's
 * Py_EnterRecursiveCall. A container's slot recurses only by calling a
 * generic operation on its items, so each level of nesting counts once. */
#define PMO_RECURSION_LIMIT 1000

/* RecursionError ("maximum recursion depth exceeded<what>"), the depth
 * taken back: the cold half of pmo_rec_enter. */
PMO_HIDDEN bool pmo_rec_overflow(pm_runtime *rt, const char *what);

/* Enter one level: true, or false with RecursionError set. Pair a true
 * with pmo_rec_leave. One increment and one compare. */
static inline bool pmo_rec_enter(pm_runtime *rt, const char *what) {
    if (pmo_unlikely(++rt->rec_depth > rt->rec_limit)) return pmo_rec_overflow(rt, what);
    return true;
}
static inline void pmo_rec_leave(pm_runtime *rt) { rt->rec_depth--; }
PMO_HIDDEN bool pmo_vec_push(pmo_vec *v, pm_object *o);
PMO_HIDDEN void pmo_vec_free(pmo_vec *v);

/* ---- object.c ------------------------------------------------------------- */

PMO_HIDDEN void pmo_debug_count(pm_runtime *rt, const pm_type *t, int delta);
/* An object was born while rt->born_slow: debug mode counts it, the watch
 * of births sees it. Returns o. */
PMO_HIDDEN pm_object *pmo_born_watched(pm_runtime *rt, pm_object *o);
/* Set (w) or take off (NULL) rt's watch of births; the previous one, if
 * any, is replaced without its release. */
PMO_HIDDEN void pmo_watch_births(pm_runtime *rt, pmo_births *w);

/* Debug checks on: the runtime's debug mode, or a PM_DEBUG build. */
static inline bool pmo_debug_checks(const pm_runtime *rt) {
#ifdef PM_DEBUG
    (void)rt;
    return true;
#else
    return rt->debug;
#endif
}
/* Is p (an object or a type) a block of rt's heap? Never reads p. True
 * when rt's objects come from a user's allocator (it cannot tell). */
PMO_HIDDEN bool pmo_rt_holds(pm_runtime *rt, const void *p);
/* Report through rt's heap a PM_ERR_WRONG_RUNTIME at addr: o, when not
 * NULL, is an object whose type may be read; else addr is not read. */
PMO_HIDDEN void pmo_report_wrong_runtime(pm_runtime *rt, const void *addr, pm_object *o,
                                         const char *what);
/* type.c, debug mode: may rt make an instance of t (its own type, a
 * built-in, a live shared type)? Reports and sets RuntimeError if not. */
PMO_HIDDEN bool pmo_type_usable(pm_runtime *rt, const pm_type *t);

/* o's header for a new object of type t; returns o (taken from the
 * result, the caller keeps no register across the watch's call). */
static inline pm_object *pmo_init_header_rt(pm_runtime *rt, pm_object *o, pm_type *t) {
    o->refcnt = 1;
    /* Objects the collector never tracks need no note of lost references:
     * the bit from birth keeps pm_decref from calling pm_lost_ref. */
    o->flags = (t->flags & PM_TPFLAGS_GC) ? 0 : PM_OF_LOST_REF | PMO_OF_ACYCLIC;
    o->type = t;
    if (t->flags & PM_TPFLAGS_HEAP) pm_incref(&t->ob);
    rt->stats.objects_allocated++;
#ifdef PM_DEBUG
    rt->stats.total_refcount++;
#endif
    if (pmo_unlikely(rt->born_slow)) return pmo_born_watched(rt, o);
    return o;
}

static inline pm_object *pmo_init_header(pm_object *o, pm_type *t) {
    return pmo_init_header_rt(pmo_rt(), o, t);
}

/* size bytes for an object of type t (header included), refcount 1; NULL
 * with MemoryError set. A GC object's allocation is the safe point of
 * automatic collection. */
PMO_HIDDEN pm_object *pmo_alloc_table(pm_runtime *rt, pm_type *t, size_t size);
/* The recorder's entry points when a, rt's obj table, is its wrapper right
 * over rt's heap's pools, else NULL (docs/DESIGN.md, "Under the
 * recorder"). */
PMO_HIDDEN const pmh_object_tracer *pmo_pool_tracer(const pm_runtime *rt, const pm_allocator *a);
/* Do rt's objects come from its own cache's pools (O1), traced or not?
 * Not with debug hooks or a program's table: a census needs it. */
PMO_HIDDEN bool pmo_objects_in_pools(const pm_runtime *rt);

static inline pm_object *pmo_alloc_rt(pm_runtime *rt, pm_type *t, size_t size) {
    if (t->flags & PM_TPFLAGS_GC) pmo_gc_maybe_collect(rt);
    if (pmo_unlikely(rt->obj_table->malloc != rt->pool_malloc)) return pmo_alloc_table(rt, t, size);
    pm_object *o = pmh_cache_malloc(rt->heap, rt->cache, size);
    if (pmo_unlikely(o == NULL)) return pmo_no_memory();
    return pmo_init_header_rt(rt, o, t);
}

static inline pm_object *pmo_alloc(pm_type *t, size_t size) {
    return pmo_alloc_rt(pmo_rt(), t, size);
}

/* pmo_free's way when the obj table is not the heap's own pools. */
PMO_HIDDEN void pmo_free_table(pm_runtime *rt, pm_object *o);

/* Return an object's memory to the runtime's heap. */
static inline void pmo_free(pm_runtime *rt, pm_object *o) {
    if (pmo_likely(rt->obj_table->free == rt->pool_free)) pmh_cache_free(rt->heap, rt->cache, o);
    else pmo_free_table(rt, o);
}
/* Raw buffers (item arrays, string storage) from the runtime's mem domain. */
PMO_HIDDEN void *pmo_mem_malloc(size_t n);
/* The bytes a block p of the mem domain takes (its size class), or
 * `requested` when the domain is not the heap's own (a program's table);
 * 0 for NULL. For the owned_size hooks. */
PMO_HIDDEN size_t pmo_mem_size(const void *p, size_t requested);
PMO_HIDDEN void *pmo_mem_realloc(void *p, size_t n);
static inline void pmo_mem_free(void *p) {
    const pm_allocator *a = pmo_rt()->mem_table;
    a->free(a->ctx, p);
}
/* Stop tracking o (deallocation, pm_gc_untrack). An object the collector
 * holds (COLLECTING: in no set of gc/gc.h) only loses its bit; the
 * collector looks at it before putting it back. */
static inline void pmo_gc_unlink(pm_runtime *rt, pm_object *o) {
    unsigned f = o->flags, gen = (f & PMO_OF_GEN_MASK) >> PMO_OF_GEN_SHIFT;
    PM_ASSERT(f & PMO_OF_TRACKED);
    if (pmo_likely(!(f & PMO_OF_COLLECTING))) {
        if (gen == 0) {
            pmgc_young_remove(&rt->gc_young, o);
        } else {
            pmgc_map_remove(&rt->gc_map, (int)gen - 1, o);
            if (gen == 2) rt->gc_old_left++;
        }
        f &= ~(PMO_OF_GEN_MASK | PMO_OF_SLOT_MASK);
    }
    o->flags = f & ~PMO_OF_TRACKED;
}

/* Track an object whose header was just initialized (collector bits and
 * slot zero, PM_OF_LOST_REF clear): the constructor's fast path. */
static inline void pmo_gc_link_new(pm_runtime *rt, pm_object *o) {
    pmgc_young *y = &rt->gc_young;
    /* Untracked: no collector bits, no slot (the header's invariant). */
    PM_ASSERT((o->flags &
               (PMO_OF_TRACKED | PMO_OF_GEN_MASK | PMO_OF_SLOT_MASK | PMO_OF_COLLECTING)) == 0);
    if (pmo_unlikely(y->len == y->cap) && !pmgc_young_room(rt)) return;
    uint32_t i = y->len++;
    y->items[i] = o;
    o->flags |= PMO_OF_TRACKED | (i << PMO_OF_SLOT_SHIFT);
}

/* Put a fully built GC object on generation 0 (pm_gc_track's work). A
 * reference lost before it was tracked is no business of a young
 * collection; from here on a loss is counted (pm_lost_ref). */
static inline void pmo_gc_link_young(pm_runtime *rt, pm_object *o) {
    o->flags &= ~(PM_OF_LOST_REF | PMO_OF_SLOT_MASK);
    pmo_gc_link_new(rt, o);
}

/* Type error helper: "expected X, got Y". Returns NULL / -1 callers use.
 * got NULL with an exception pending keeps that exception (pmo_null_arg). */
PMO_HIDDEN void pmo_type_error(const char *what, pm_object *got);
/* pmo_null_arg: builders.h. */

/* ---- the checks of the public entries (debug mode) -------------------------- */

/* A freed object in a debug runtime's quarantine (object.c) carries
 * PMO_OF_DEAD (bit 7, this layer's) and the type pmo_freed_type in place
 * of its own. The entries catch it at no cost to live objects: a typed
 * entry's type test fails (pmo_arg_is), and a generic one calls a slot of
 * pmo_freed_type; either reports the object (address, its own type, the
 * allocation number when the heap is in debug mode) through the heap's
 * error handler and fails the call with RuntimeError. Entries that only
 * store or pass an object on test the bit (pmo_live): one test of the
 * word beside the type pointer. A debug heap's fill of freed blocks (0xDD)
 * carries the bit too, so an object evicted from the quarantine is still
 * caught by the typed entries and pmo_live; a generic entry given one
 * faults on its type pointer (0xDDDD...) instead. */
#define PMO_OF_DEAD (1u << 7)
PMO_HIDDEN extern pm_type pmo_freed_type;
PMO_HIDDEN void pmo_dead_arg(const pm_object *o, const char *api) __attribute__((cold));
#define pmo_live(o) pmo_live_in(o, __func__)
#define pmo_live_in(o, api)                                                                        \
    (pmo_likely(!(PM_OBJ(o)->flags & PMO_OF_DEAD)) || (pmo_dead_arg(PM_OBJ(o), api), false))
/* The same for an argument that may be NULL. */
#define pmo_live_or_null(o) ((o) == NULL || pmo_live(o))
/* The slow path of a typed entry's check: a dead argument is reported
 * (pmo_dead_arg), anything else is a TypeError "expected what" (api NULL:
 * the report names no entry). pmo_type_error is this without the name. */
PMO_HIDDEN void pmo_arg_error(const char *what, pm_object *got, const char *api);
/* A typed entry's check: o is a live object of type t. */
static inline bool pmo_arg_is(pm_object *o, const pm_type *t, const char *what, const char *api) {
    if (pmo_likely(o && o->type == t)) return true;
    pmo_arg_error(what, o, api);
    return false;
}

/* Free lists are off while rt's heap is traced (its entry points are
 * wrapped): every object then comes from the traced allocator and goes
 * back to it, so its record names where the object was made, not where
 * its block was first made (pm_trace_object_traceback; tracemalloc's
 * blind spot). Blocks already in a list stay there until tracing stops. */
static inline bool pmo_freelists_on(const pm_runtime *rt) {
    return pmo_likely(rt->heap->entry_wrap == NULL);
}

/* Free-list helpers: push returns false when the list is full or off.
 * Blocks are objects whose header is dead: the first word links them;
 * the type word stays, so pmo_free can still find the block's start. */
static inline bool pmo_freelist_push(const pm_runtime *rt, pmo_freelist *fl, void *block) {
    if (fl->size >= fl->limit || !pmo_freelists_on(rt)) return false;
    *(void **)block = fl->head;
    fl->head = block;
    fl->size++;
    return true;
}

/* A block off the list (NULL if empty), whether the lists are on or not:
 * pmo_freelist_take is the allocations' way. */
static inline void *pmo_freelist_pop(pmo_freelist *fl) {
    void *b = fl->head;
    if (b) {
        fl->head = *(void **)b;
        fl->size--;
        fl->reused++;
    }
    return b;
}

static inline void *pmo_freelist_take(const pm_runtime *rt, pmo_freelist *fl) {
    return pmo_freelists_on(rt) ? pmo_freelist_pop(fl) : NULL;
}

/* ---- type.c --------------------------------------------------------------- */

PMO_HIDDEN pm_object **pmo_attrs_slot(pm_object *o);
/* Visit every reference o holds (attributes, reference fields, then the
 * type's traverse). */
PMO_HIDDEN int pmo_traverse(pm_object *o, pm_visit_fn visit, void *arg);
/* Break o's references for the collector: its reference fields, then the
 * type's clear slot; a type with neither has nothing to break. */
PMO_HIDDEN void pmo_clear(pm_object *o);
static inline bool pmo_has_clear(const pm_type *t) { return t->nrefs || t->slots.clear; }

/* ---- hooks into built-ins that the core calls ------------------------------ */

/* weakref.c: clear the weak references to o and run their callbacks. */
PMO_HIDDEN void pmo_weakrefs_clear(pm_object *o, bool run_callbacks);
PMO_HIDDEN void pmo_weak_registry_destroy(pm_runtime *rt);
/* str.c: the interned table. */
PMO_HIDDEN void pmo_intern_forget(pm_runtime *rt, pm_object *s);
PMO_HIDDEN void pmo_intern_destroy(pm_runtime *rt);
/* Free lists of every type, emptied. */
PMO_HIDDEN void pmo_freelists_clear(pm_runtime *rt);
PMO_HIDDEN void pmo_debug_destroy(pm_runtime *rt);

/* dict.c: true when no key or value may take part in a cycle, so the
 * collector may stop tracking the dict (CPython's untrack_dicts). */
PMO_HIDDEN bool pmo_dict_all_atomic(pm_object *d);

/* str.c: true when needle[0..m) occurs in hay[0..n) (str and bytes
 * containment; for valid UTF-8 a byte match is a code-point match). */
PMO_HIDDEN bool pmo_find_bytes(const char *hay, size_t n, const char *needle, size_t m);

/* The truth of `c op 0` for a three-way result c (< 0, 0, > 0): what every
 * compare slot ends with once it knows how its operands order. */
static inline int pmo_cmp_result(int c, int op) {
    switch (op) {
        case PM_LT: return c < 0;
        case PM_LE: return c <= 0;
        case PM_EQ: return c == 0;
        case PM_NE: return c != 0;
        case PM_GT: return c > 0;
        default: return c >= 0;
    }
}

/* Common hashes: the same algorithm for str and bytes keeps them apart only
 * by type, as in CPython. */
PMO_HIDDEN uint64_t pmo_hash_bytes(const void *data, size_t n);
/* Hash of an int value, shared with float so that 1 == 1.0 hash alike. */
PMO_HIDDEN uint64_t pmo_hash_int(int64_t v);

#endif
