/*
 * collector.c -- the generational cycle collector (CPython 3.11 semantics).
 *
 * Owns: the generations (kept in gc.h's sets), automatic and explicit collection,
 * the garbage list, statistics, callbacks, debug flags, freeze, and the
 * object-graph queries (get_objects, get_referrers, get_referents).
 *
 * States of a tracked object (flag bits 12-13 name its generation: 0, 1,
 * 2, or 3 for permanent; gc.h says where each generation is kept):
 *
 *   generation 0/1/2 or permanent     normal life; in its generation's set
 *                                     (the young vector or an address map)
 *   the set being collected           generation <= g, taken out of those
 *                                     sets into the collector's vector;
 *                                     COLLECTING set once the walk has met
 *                                     it, and flag bits 16-31 hold gc_refs
 *                                     (the count minus references from
 *                                     inside the set; 0xffff: see "gc_refs")
 *   unreachable                       COLLECTING kept, in no set, one
 *                                     reference held by the collector: the
 *                                     weakref and finalizer steps ask "is
 *                                     it garbage?", and nothing it runs can
 *                                     free it before the collector lets go
 *   finalizers (legacy)               uncollectable: back in a generation
 *
 * A collection of generation g: take the objects of generations <= g into
 * the set; find the unreachable ones in two walks over it (one walk:
 * gc_refs = refcnt minus every reference from inside the set; another:
 * whatever has gc_refs > 0, and everything it reaches, is reachable, with
 * an explicit stack); put the reachable ones in the next older generation;
 * put objects with a legacy finalizer, and all they reach, aside as
 * uncollectable; clear weak references to the garbage (callbacks only for
 * weak references that are not garbage); run PEP 442 finalizers once; redo
 * the analysis on the garbage, so objects a finalizer resurrected (and all
 * they reach) survive; break what is left with the clear slot and let go,
 * which frees it by reference counting. When to collect is CPython's
 * schedule, paced by the yield (see "pacing").
 *
 * Invariant G1: outside pm_gc_collect every tracked object is where
 * gc.h's T1 says, its generation bits name that place, and no object
 * has COLLECTING, REACHABLE, TENTATIVE or NO_SET_REFS set.
 */
#define _DEFAULT_SOURCE
#include "objects/containers.h"
#include "objects/object.h"
#include "objects/weakref.h"
#include "heap/internal_alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The reachability walk's loop is where a collection spends its time, and
 * its speed moved by 10-15% (live-full, same instructions: callgrind)
 * with the 16-byte offset that unrelated code elsewhere in the library
 * gave its start. A cache-line start (PM_CACHE_ALIGNED, on
 * split_reachable) makes it independent of that. */

#define NUM_GENERATIONS 3
#define MAX_CALLBACKS 16
#define PERMANENT NUM_GENERATIONS /* the generation bits of frozen objects */

/* A growable array of objects in raw memory (never the runtime's heap:
 * the collector must not allocate objects while it works). */
typedef struct objvec {
    pm_object **items;
    size_t len, cap;
} objvec;

static bool vec_reserve(objvec *v, size_t n) {
    if (n <= v->cap) return true;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < n) cap *= 2;
    pm_object **items = pmh_internal_realloc(v->items, cap * sizeof *items);
    if (items == NULL) return false;
    v->items = items;
    v->cap = cap;
    return true;
}

static inline bool vec_push(objvec *v, pm_object *o) {
    if (pmo_unlikely(v->len == v->cap) && !vec_reserve(v, v->len + 1)) return false;
    v->items[v->len++] = o;
    return true;
}

static void vec_free(objvec *v) {
    pmh_internal_free(v->items);
    *v = (objvec){0};
}

/* gc_refs of 0xffff or more: the exact value lives here, by address. */
typedef struct refs_slot {
    pm_object *obj;
    int64_t refs;
} refs_slot;
typedef struct refs_table {
    refs_slot *slots;
    size_t cap, len;
} refs_table;

typedef struct gc_state {
    int threshold[NUM_GENERATIONS];
    int count[NUM_GENERATIONS];        /* count[0] lives in rt->gc_young_count */
    bool adaptive;                     /* pacing by yield (see below)   */
    unsigned backoff[NUM_GENERATIONS]; /* 1, 2, 4, ...: threshold factor */
    bool young_fruitless;              /* the last automatic young
                                          collection found nothing      */
    int64_t long_lived_total, long_lived_pending;
    bool enabled, collecting;
    int debug;
    pm_object *garbage;
    struct {
        pm_gc_callback fn;
        void *arg;
    } callbacks[MAX_CALLBACKS];
    int ncallbacks;
    pm_gc_generation_stats stats[NUM_GENERATIONS];
    /* A collection's working memory, kept between collections. */
    objvec set;               /* the set analysed; the unreachable end up first */
    objvec stack;             /* the reachability walk's pending objects       */
    refs_table big;           /* gc_refs too large for flag bits 16-31         */
    bool stack_short;         /* the stack could not grow: rescan (see reach)  */
    size_t rescued;           /* set-aside objects found reachable after all   */
    pmgc_fallbacks fallbacks; /* out-of-memory paths taken (object.h)  */
    bool stress;              /* PYMM_GC_STRESS (see "stress")            */
    uint64_t stress_allocs;   /* GC allocations seen in stress mode       */
} gc_state;

/* ---- the sets of gc.h -------------------------------------------------------- */

static int map_of(int gen) { return gen - 1; }

/* The state a collection leaves on an object while it runs; none of it
 * outside (G1). */
#define ANALYSIS_BITS (PMO_OF_COLLECTING | PMO_OF_REACHABLE | PMO_OF_TENTATIVE | PMO_OF_NO_SET_REFS)

/* o's flags once it lives in generation gen: no state of the collection
 * left on it (G1), and its lost references seen. */
static inline void settle(pm_object *o, int gen) {
    o->flags = (o->flags & ~(ANALYSIS_BITS | PMO_OF_GEN_MASK | PMO_OF_SLOT_MASK | PM_OF_LOST_REF)) |
               PMO_OF_GEN(gen);
}

/* o leaves the collector untracked: no generation, no slot, no state of
 * the collection (G1 holds for untracked objects too). */
static inline void drop_tracking(pm_object *o) {
    o->flags &= ~(ANALYSIS_BITS | PMO_OF_GEN_MASK | PMO_OF_SLOT_MASK | PMO_OF_TRACKED);
}

/* Put an object the collector holds (in no set) into generation gen >= 1.
 * Out of memory for the address map (a chunk is 24 KiB): generation 0
 * takes it if the young vector has room (looked at again sooner: slower,
 * never wrong); else it stays untracked (its cycles, if any, are never
 * collected). An object that is not 16-aligned cannot have a bit (a
 * replaced obj-domain table that returns such blocks): the same. Returns
 * false when o did not reach generation gen. */
static PM_NOINLINE bool place_fallback(pm_runtime *rt, pm_object *o) {
    pmgc_young *y = &rt->gc_young;
    gc_state *g = rt->gc;
    if (y->len < y->cap) {
        settle(o, 0);
        o->flags |= y->len << PMO_OF_SLOT_SHIFT;
        y->items[y->len++] = o;
        if (g) g->fallbacks.stayed_young++;
    } else {
        drop_tracking(o);
        if (g) g->fallbacks.untracked++;
    }
    return false;
}

static inline bool place(pm_runtime *rt, pm_object *o, int gen) {
    PM_ASSERT(gen >= 1 && gen <= PERMANENT);
    if (pmo_unlikely(!pmgc_map_add(&rt->gc_map, map_of(gen), o))) return place_fallback(rt, o);
    settle(o, gen);
    return true;
}

/* Every young object to generation dest without a collection (no code
 * runs); returns how many. Young objects sit in allocation order, mostly
 * in one MiB after another: the map's last-chunk cache finds the chunk.
 * Those place() cannot move stay, at the front of the vector (it writes
 * at y->len, never beyond the index read). */
static int64_t move_young_on(pm_runtime *rt, int dest) {
    pmgc_young *y = &rt->gc_young;
    int64_t n = 0;
    uint32_t len = y->len;
    y->len = 0;
    for (uint32_t i = 0; i < len; i++) {
        pm_object *o = y->items[i];
        if (o == NULL) continue;
        if (i + 8 < len) __builtin_prefetch(y->items[i + 8]);
        n += place(rt, o, dest);
    }
    return n;
}

/* Close the holes of the young vector; false if it is over 3/4 full. */
static bool young_compact(pmgc_young *y) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < y->len; i++) {
        pm_object *o = y->items[i];
        if (o == NULL) continue;
        y->items[n] = o;
        o->flags = (o->flags & ~PMO_OF_SLOT_MASK) | (n << PMO_OF_SLOT_SHIFT);
        n++;
    }
    y->len = n;
    return n <= y->cap / 4 * 3;
}

bool pmgc_young_room(pm_runtime *rt) {
    pmgc_young *y = &rt->gc_young;
    if (y->cap && young_compact(y)) return true;
    if (y->cap < PMGC_YOUNG_MAX) {
        uint32_t cap = y->cap ? y->cap * 2 : 256;
        if (cap > PMGC_YOUNG_MAX) cap = PMGC_YOUNG_MAX;
        pm_object **items = pmh_internal_realloc(y->items, cap * sizeof *items);
        if (items != NULL) {
            y->items = items;
            y->cap = cap;
            return true;
        }
    }
    /* Full (65,535 young objects: automatic collection is off, or its
     * threshold is higher), or out of memory: generation 1 takes them. */
    move_young_on(rt, 1);
    bool room = y->len < y->cap;
    gc_state *g = rt->gc;
    if (g) g->fallbacks.young_moved_on += 1, g->fallbacks.untracked += !room; /* the caller's */
    return room;
}

/* ---- state ----------------------------------------------------------------- */

static void reset_pacing(gc_state *g); /* see "pacing" */
static void sync_threshold(pm_runtime *rt, gc_state *g);

static gc_state *state_of(pm_runtime *rt) {
    if (pmo_likely(rt->gc != NULL)) return rt->gc;
    gc_state *g = pmh_internal_calloc(1, sizeof *g);
    if (g == NULL) return NULL;
    g->threshold[0] = PMGC_DEFAULT_THRESHOLD;
    g->threshold[1] = 10;
    g->threshold[2] = 10;
    g->enabled = true;
    const char *env = getenv("PYMM_GC_ADAPTIVE");
    g->stress = rt->gc_stress; /* read with PYMM_DEBUG (runtime.c) */
    g->adaptive = !(env && env[0] == '0') && !g->stress;
    reset_pacing(g);
    rt->gc = g;
    sync_threshold(rt, g);
    return g;
}

static gc_state *state(void) { return state_of(pmo_rt()); }

/* The sets point into the runtime's heap, which goes with it: only the
 * state and its working memory are freed here. */
void pmgc_destroy(pm_runtime *rt) {
    gc_state *g = rt->gc;
    if (g == NULL) return;
    vec_free(&g->set);
    vec_free(&g->stack);
    pmh_internal_free(g->big.slots);
    pmh_internal_free(g);
    rt->gc = NULL;
}

/* ---- gc_refs ----------------------------------------------------------------
 *
 * An analysed object's gc_refs are its flag bits 16-31. A count of 0xffff
 * or more saturates them and lives in g->big; if that table cannot grow,
 * the object is taken as referenced from outside (reachable): never wrong,
 * only a cycle through it goes uncollected that time. */
#define REFS_SHIFT PMO_OF_SLOT_SHIFT
#define REFS_BIG 0xffffu
#define REFS_UNKNOWN INT64_MAX

static size_t big_hash(const pm_object *o, size_t cap) {
    return (size_t)(((uintptr_t)o >> 4) * 0x9e3779b97f4a7c15ull >> 32) & (cap - 1);
}

static refs_slot *big_find(refs_table *t, const pm_object *o) {
    if (t->cap == 0) return NULL;
    for (size_t j = big_hash(o, t->cap); t->slots[j].obj; j = (j + 1) & (t->cap - 1))
        if (t->slots[j].obj == o) return &t->slots[j];
    return NULL;
}

static bool big_grow(refs_table *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    refs_slot *slots = pmh_internal_calloc(cap, sizeof *slots);
    if (slots == NULL) return false;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].obj) continue;
        size_t j = big_hash(t->slots[i].obj, cap);
        while (slots[j].obj) j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    pmh_internal_free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return true;
}

/* false: no room, o's gc_refs stay unknown (it counts as reachable). */
static PM_NOINLINE bool big_put(refs_table *t, pm_object *o, int64_t refs) {
    refs_slot *s = big_find(t, o);
    if (s) {
        s->refs = refs;
        return true;
    }
    if ((t->len + 1) * 2 > t->cap && !big_grow(t)) return false;
    size_t j = big_hash(o, t->cap);
    while (t->slots[j].obj) j = (j + 1) & (t->cap - 1);
    t->slots[j] = (refs_slot){o, refs};
    t->len++;
    return true;
}

static void big_clear(refs_table *t) {
    if (t->len) memset(t->slots, 0, t->cap * sizeof *t->slots);
    t->len = 0;
}

static inline void set_refs(gc_state *g, pm_object *o, int64_t refs) {
    if (pmo_likely(refs < (int64_t)REFS_BIG)) {
        o->flags = (o->flags & ~PMO_OF_SLOT_MASK) | ((unsigned)refs << REFS_SHIFT);
    } else {
        o->flags |= PMO_OF_SLOT_MASK;
        if (!big_put(&g->big, o, refs)) g->fallbacks.refs_unknown++;
    }
}

static PM_NOINLINE void big_decref(gc_state *g, pm_object *o) {
    refs_slot *s = big_find(&g->big, o);
    if (s) s->refs--;
}

static inline void refs_decref(gc_state *g, pm_object *o) {
    if (pmo_likely((o->flags >> REFS_SHIFT) != REFS_BIG)) o->flags -= 1u << REFS_SHIFT;
    else big_decref(g, o);
}

static inline bool refs_positive(gc_state *g, pm_object *o) {
    unsigned r = o->flags >> REFS_SHIFT;
    if (pmo_likely(r != REFS_BIG)) return r > 0;
    refs_slot *s = big_find(&g->big, o);
    return s == NULL || s->refs > 0;
}

/* ---- finding the unreachable ------------------------------------------------ */

/* An object is in the set of a collection of generation g when it is
 * tracked and its generation is at most g: one subtraction and one
 * comparison. */
static inline bool in_set(unsigned flags, unsigned limit) {
    return (flags & (PMO_OF_TRACKED | PMO_OF_GEN_MASK)) - PMO_OF_TRACKED <= limit;
}

static inline void start_refs(gc_state *g, pm_object *o) {
    o->flags |= PMO_OF_COLLECTING;
    uint32_t rc = o->refcnt;
    set_refs(g, o, rc == PM_REFCNT_IMMORTAL ? REFS_UNKNOWN : rc);
}

/* The references of a list, a tuple or an instance whose type has only
 * reference fields, read in place: the collector's walks meet these most,
 * and a traverse slot would cost two indirect calls per reference. False
 * for every other type. */
static inline bool sequence_items(pm_object *o, pm_object *const **items, size_t *n) {
    const pm_type *t = o->type;
    if (t == &pm_list_type) {
        *items = PMO_LIST(o)->items;
        *n = PMO_LIST(o)->size;
        return true;
    }
    if (t == &pm_tuple_type) {
        *items = PMO_TUPLE(o)->items;
        *n = PMO_TUPLE(o)->size;
        return true;
    }
    if (t->internal & PMO_TP_REFS_ONLY) {
        *items = pmo_ref_fields(o);
        *n = t->nrefs;
        return true;
    }
    return false;
}

/* Apply `each` to every reference of o, OR-ing its results into `acc`:
 * lists, tuples and dicts are read in place, unless `skip` (their
 * references are known to lead nowhere that matters); other types go
 * through their traverse slot with `visit` (which must return 0, or the
 * traversal stops), and then acc gets 1, as nothing is known of the
 * results. */
#define VISIT_REFS(o, each, visit, arg, acc, skip)                                                 \
    do {                                                                                           \
        pm_object *const *items_;                                                                  \
        size_t n_;                                                                                 \
        if (sequence_items((o), &items_, &n_)) {                                                   \
            if (!(skip))                                                                           \
                for (size_t i_ = 0; i_ < n_; i_++)                                                 \
                    if (items_[i_]) (acc) |= each(items_[i_], (arg));                              \
        } else if ((o)->type == &pm_dict_type) {                                                   \
            if (skip) break;                                                                       \
            pmo_dict_refs d_;                                                                      \
            pmo_dict_refs_of((o), &d_);                                                            \
            for (size_t i_ = 0; i_ < d_.n; i_++) {                                                 \
                const pmo_dk_word *e_ = d_.entries + i_ * d_.stride;                               \
                if (!e_[PMO_DK_VALUE].obj) continue;                                               \
                if (!d_.keys_atomic) (acc) |= each(e_[PMO_DK_KEY].obj, (arg));                     \
                (acc) |= each(e_[PMO_DK_VALUE].obj, (arg));                                        \
            }                                                                                      \
        } else {                                                                                   \
            pmo_traverse((o), visit, (arg));                                                       \
            (acc) = 1;                                                                             \
        }                                                                                          \
    } while (0)

/* Subtract the references from inside the set. An object's gc_refs start
 * from its count the first time the walk meets it, as itself or as a
 * referent, so the copying and the subtracting are one walk. The walk
 * also notes the objects none of whose references leads into the set
 * (NO_SET_REFS; only for those read in place, where it costs nothing):
 * the reachability walk need not read their referents again. They are
 * common: a young object that points only at old ones, a document's
 * records before their array exists. */
typedef struct subtract_arg {
    gc_state *g;
    unsigned limit;
} subtract_arg;

static inline int decref_in_set(pm_object *r, void *arg) {
    subtract_arg *a = arg;
    unsigned f = r->flags;
    if (!in_set(f, a->limit)) return 0;
    if (!(f & PMO_OF_COLLECTING)) start_refs(a->g, r);
    refs_decref(a->g, r);
    return 1;
}

static int visit_decref(pm_object *r, void *arg) {
    (void)decref_in_set(r, arg);
    return 0;
}

static void subtract_internal_refs(gc_state *g, int gen) {
    subtract_arg a = {g, PMO_OF_GEN(gen)};
    objvec *set = &g->set;
    for (size_t i = 0; i < set->len; i++) {
        if (i + 8 < set->len) __builtin_prefetch(set->items[i + 8]);
        pm_object *o = set->items[i];
        if (!(o->flags & PMO_OF_COLLECTING)) start_refs(g, o);
        int hit = 0;
        VISIT_REFS(o, decref_in_set, visit_decref, &a, hit, false);
        if (!hit) o->flags |= PMO_OF_NO_SET_REFS;
    }
}

/* The same for the garbage analysed again after finalizers ran: its gc_refs
 * start from the count less the collector's own reference. */
static int visit_decref_marked(pm_object *r, void *arg) {
    if (r->flags & PMO_OF_COLLECTING) refs_decref(arg, r);
    return 0;
}

static void subtract_internal_refs_held(gc_state *g, pm_object **objs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        pm_object *o = objs[i];
        o->flags &= ~(PMO_OF_REACHABLE | PMO_OF_TENTATIVE | PMO_OF_NO_SET_REFS);
        uint32_t rc = o->refcnt;
        set_refs(g, o, rc == PM_REFCNT_IMMORTAL ? REFS_UNKNOWN : (int64_t)rc - 1);
    }
    for (size_t i = 0; i < n; i++) pmo_traverse(objs[i], visit_decref_marked, g);
}

/* Tuples whose items are all untracked, and dicts holding nothing that
 * may be tracked, cannot be part of a cycle: CPython stops tracking them
 * when they survive a collection, tuples in every collection and dicts
 * only in full ones (a young collection would re-read every value of
 * every dict being built, bpo-14775), and so do we. Frozen instances go
 * with the tuples (a field that was a tracked tuple may have been
 * untracked since the instance was born). */
enum { UNTRACK_NONE, UNTRACK_TUPLES, UNTRACK_TUPLES_AND_DICTS };

static bool atomic_container(pm_object *o, int untrack) {
    if (o->type == &pm_tuple_type) {
        size_t n = pm_tuple_size(o);
        for (size_t i = 0; i < n; i++) {
            pm_object *item = pm_tuple_get(o, i);
            /* An untracked list or dict is no atomic item: it is tracked
             * at its first store of a container (CPython's test too). */
            if (item == NULL || pmo_may_be_tracked(item)) return false;
        }
        return true;
    }
    if (o->type->internal & PMO_TP_FIXED_REFS) return pmo_refs_atomic(o);
    return untrack == UNTRACK_TUPLES_AND_DICTS && o->type == &pm_dict_type &&
           pmo_dict_all_atomic(o);
}

/* What the garbage holds, gathered while it is split off, so that the
 * steps that only matter for some objects skip their walk over it when no
 * object needs them. Type bits PMO_TP_FINALIZE, _LEGACY_DEL, _WEAKREF, plus: */
#define SUM_WEAKLY_REFERENCED (1u << 16) /* some object has weak references */

/* The reachability walk: an object with gc_refs > 0 (referenced from
 * outside) is reachable, and so is everything it reaches among the
 * COLLECTING objects, found with an explicit stack. An object whose push
 * found no memory is marked TENTATIVE (reachable, its referents not yet
 * read) and a rescan of the set picks it up: slower, never wrong. */
static inline void mark_reachable(gc_state *g, pm_object *r) {
    r->flags |= PMO_OF_REACHABLE;
    if (!vec_push(&g->stack, r)) {
        r->flags |= PMO_OF_TENTATIVE;
        g->stack_short = true;
    }
}

static int visit_reachable(pm_object *r, void *arg) {
    if ((r->flags & (PMO_OF_COLLECTING | PMO_OF_REACHABLE)) == PMO_OF_COLLECTING)
        mark_reachable(arg, r);
    return 0;
}

static void propagate(gc_state *g) {
    while (g->stack.len) {
        pm_object *o = g->stack.items[--g->stack.len];
        int ignored = 0;
        VISIT_REFS(o, visit_reachable, visit_reachable, g, ignored, o->flags & PMO_OF_NO_SET_REFS);
        (void)ignored;
    }
}

static void find_reachable(gc_state *g, pm_object **objs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i + 8 < n) __builtin_prefetch(objs[i + 8]);
        pm_object *o = objs[i];
        if ((o->flags & PMO_OF_REACHABLE) || !refs_positive(g, o)) continue;
        mark_reachable(g, o);
        propagate(g);
    }
    while (g->stack_short) {
        g->stack_short = false;
        g->fallbacks.rescans++;
        for (size_t i = 0; i < n; i++) {
            pm_object *o = objs[i];
            if (!(o->flags & PMO_OF_TENTATIVE)) continue;
            o->flags &= ~PMO_OF_TENTATIVE;
            if (vec_push(&g->stack, o)) propagate(g);
            else o->flags |= PMO_OF_TENTATIVE, g->stack_short = true;
        }
    }
}

/* A survivor of the analysis goes to generation dest, or is untracked if
 * it is an atomic container of the kinds `untrack` names. The set's
 * objects of generation 2 were left in their map (take_set): one staying
 * there keeps its bit. */
static inline void keep(pm_runtime *rt, pm_object *o, int untrack, int dest, int64_t *nkeep) {
    bool in_gen2 = (o->flags & PMO_OF_GEN_MASK) == PMO_OF_GEN(2);
    if (untrack != UNTRACK_NONE && atomic_container(o, untrack)) {
        if (in_gen2) pmgc_map_remove(&rt->gc_map, PMGC_MAP_GEN2, o);
        drop_tracking(o);
        if (o->type->internal & PMO_TP_FIXED_REFS) o->flags |= PMO_OF_ACYCLIC; /* for good */
        return;
    }
    if (in_gen2 && dest == 2) settle(o, dest);
    else place(rt, o, dest);
    *nkeep += (o->flags & PMO_OF_TRACKED) != 0;
}

/* A referent of a kept object is reachable; one the walk already set
 * aside (TENTATIVE) goes on the stack to be kept too. */
static int visit_rescue(pm_object *r, void *arg) {
    unsigned f = r->flags;
    if ((f & (PMO_OF_COLLECTING | PMO_OF_REACHABLE)) != PMO_OF_COLLECTING) return 0;
    r->flags = f | PMO_OF_REACHABLE;
    if (f & PMO_OF_TENTATIVE) {
        gc_state *g = arg;
        g->rescued++;
        if (!vec_push(&g->stack, r)) g->stack_short = true;
    }
    return 0;
}

typedef struct split_ctx {
    pm_runtime *rt;
    gc_state *g;
    int untrack, dest;
    int64_t nkeep;
} split_ctx;

static inline void keep_and_visit(split_ctx *c, pm_object *o) {
    int ignored = 0;
    VISIT_REFS(o, visit_rescue, visit_rescue, c->g, ignored, o->flags & PMO_OF_NO_SET_REFS);
    (void)ignored;
    keep(c->rt, o, c->untrack, c->dest, &c->nkeep);
}

static void drain_rescued(split_ctx *c) {
    objvec *stack = &c->g->stack;
    while (stack->len) keep_and_visit(c, stack->items[--stack->len]);
}

/* The reachability walk and the split in one pass along the set, which is
 * its own work queue: an object already found reachable, or with gc_refs
 * > 0 (referenced from outside), is kept (to generation dest, see keep)
 * and whatever it references is found reachable; an object with gc_refs
 * == 0 is set aside (TENTATIVE) at the front of the vector, from where a
 * later kept object may rescue it. Rescued objects go on a stack; if it
 * cannot grow, a rescan of the set-aside ones finds them (slower, never
 * wrong). What stays set aside is unreachable: it keeps COLLECTING, gets a
 * reference held by the collector, and is the front of the vector when
 * this returns. Returns the number of objects kept tracked; *summary gets
 * the SUM_ bits of the unreachable. */
static PM_CACHE_ALIGNED int64_t split_reachable(pm_runtime *rt, gc_state *g, int untrack, int dest,
                                                unsigned *summary) {
    split_ctx c = {rt, g, untrack, dest, 0};
    objvec *set = &g->set;
    size_t nset = set->len, naside = 0;
    g->rescued = 0;
    for (size_t i = 0; i < nset; i++) {
        if (i + 8 < nset) __builtin_prefetch(set->items[i + 8]);
        pm_object *o = set->items[i];
        if ((o->flags & PMO_OF_REACHABLE) || refs_positive(g, o)) {
            keep_and_visit(&c, o);
            drain_rescued(&c);
        } else {
            o->flags |= PMO_OF_TENTATIVE;
            set->items[naside++] = o;
        }
    }
    while (g->stack_short) {
        g->stack_short = false;
        g->fallbacks.rescans++;
        for (size_t i = 0; i < naside; i++) {
            pm_object *o = set->items[i];
            if ((o->flags & (PMO_OF_COLLECTING | PMO_OF_REACHABLE)) !=
                (PMO_OF_COLLECTING | PMO_OF_REACHABLE))
                continue;
            keep_and_visit(&c, o);
            drain_rescued(&c);
        }
    }
    size_t nlost = 0;
    unsigned sum = 0;
    if (g->rescued == naside) naside = 0; /* all reachable: no need to look */
    for (size_t i = 0; i < naside; i++) {
        pm_object *o = set->items[i];
        if (!(o->flags & PMO_OF_COLLECTING)) continue; /* rescued and kept */
        if ((o->flags & PMO_OF_GEN_MASK) == PMO_OF_GEN(2))
            pmgc_map_remove(&rt->gc_map, PMGC_MAP_GEN2, o);
        o->flags &= ~PMO_OF_TENTATIVE; /* later steps read it as "reachable, pending" */
        pm_incref(o); /* the collector's hold (see "the steps after the analysis") */
        set->items[nlost++] = o;
        sum |= o->type->internal | ((o->flags & PM_OF_HAS_WEAKREF) ? SUM_WEAKLY_REFERENCED : 0);
    }
    set->len = nlost;
    *summary = sum;
    PM_ASSERT(g->stack.len == 0 && !g->stack_short);
    return c.nkeep;
}

#ifdef PM_DEBUG
/* After the analysis: each unreachable object is the collector's (it
 * holds a reference), in no set, and marked neither reachable nor set
 * aside; the survivors left no state of the analysis behind them
 * (split_reachable put them in a map, untracked them, or, out of memory
 * for a map chunk, kept them young). */
static void assert_split(const pm_runtime *rt, const gc_state *g) {
    for (size_t i = 0; i < g->set.len; i++) {
        const pm_object *o = g->set.items[i];
        PM_ASSERT((o->flags & (PMO_OF_COLLECTING | PMO_OF_REACHABLE | PMO_OF_TENTATIVE)) ==
                  PMO_OF_COLLECTING);
        PM_ASSERT(o->refcnt >= 2 || pm_is_immortal(o));
    }
    /* Young objects left are those place_fallback kept there (no map
     * chunk): without any state of the analysis. */
    for (uint32_t i = 0; i < rt->gc_young.len; i++) {
        const pm_object *o = rt->gc_young.items[i];
        PM_ASSERT(o == NULL ||
                  (o->flags & (PMO_OF_COLLECTING | PMO_OF_REACHABLE | PMO_OF_TENTATIVE)) == 0);
    }
    PM_ASSERT(g->big.len == 0);
}
#else
#define assert_split(rt, g) ((void)0)
#endif

static void print_objects(const char *what, pm_object **objs, size_t n) {
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "gc: %s <%s %p>\n", what, objs[i]->type->name, (void *)objs[i]);
}

static void append_to_garbage(gc_state *g, pm_object *o) {
    if (g->garbage == NULL) g->garbage = pm_list_new(0);
    if (g->garbage == NULL || pm_list_append(g->garbage, o) != 0) pm_exc_clear();
}

/* ---- the steps after the analysis ---------------------------------------------
 *
 * The unreachable objects are g->set.items[0 .. len), each with one
 * reference the collector holds (taken before any code runs), so that no
 * finalizer or callback frees one while the steps walk them. */

/* Give an unreachable object back to generation dest (it is reachable
 * after all, or uncollectable) and drop the collector's reference. */
static void give_back(pm_runtime *rt, pm_object *o, int dest) {
    PM_ASSERT((o->flags & PMO_OF_COLLECTING) && o->refcnt >= 1);
    if (o->flags & PMO_OF_TRACKED) place(rt, o, dest);
    else drop_tracking(o); /* untracked by code meanwhile */
    pm_decref(o);
}

/* Keep the objects for which keep(o) is true at the front of the set;
 * give the others back (all of them when keep is NULL). */
static void give_back_where(pm_runtime *rt, gc_state *g, int dest, bool (*keep)(pm_object *)) {
    objvec *set = &g->set;
    size_t n = 0;
    for (size_t i = 0; i < set->len; i++) {
        pm_object *o = set->items[i];
        if (keep && keep(o)) set->items[n++] = o;
        else give_back(rt, o, dest);
    }
    set->len = n;
}

static bool still_garbage(pm_object *o) {
    return (o->flags & (PMO_OF_COLLECTING | PMO_OF_REACHABLE | PMO_OF_TRACKED)) ==
           (PMO_OF_COLLECTING | PMO_OF_TRACKED);
}

static int visit_uncollectable(pm_object *r, void *arg) {
    if ((r->flags & (PMO_OF_COLLECTING | PMO_OF_REACHABLE)) == PMO_OF_COLLECTING)
        mark_reachable(arg, r);
    return 0;
}

/* Objects with a legacy finalizer, and everything they reach, cannot be
 * collected safely: they become uncollectable (gc.garbage). Returns how
 * many. */
static int64_t set_aside_legacy(pm_runtime *rt, gc_state *g, int dest) {
    objvec *set = &g->set;
    for (size_t i = 0; i < set->len; i++) {
        pm_object *o = set->items[i];
        if (o->type->slots.legacy_del && !(o->flags & PMO_OF_REACHABLE)) mark_reachable(g, o);
    }
    while (g->stack.len || g->stack_short) {
        while (g->stack.len) pmo_traverse(g->stack.items[--g->stack.len], visit_uncollectable, g);
        if (g->stack_short) {
            g->stack_short = false;
            g->fallbacks.rescans++;
            for (size_t i = 0; i < set->len; i++) {
                pm_object *o = set->items[i];
                if (!(o->flags & PMO_OF_TENTATIVE)) continue;
                o->flags &= ~PMO_OF_TENTATIVE;
                pmo_traverse(o, visit_uncollectable, g);
            }
        }
    }
    int64_t n = 0;
    for (size_t i = 0; i < set->len; i++) {
        pm_object *o = set->items[i];
        if (!(o->flags & PMO_OF_REACHABLE)) continue;
        if (g->debug & PM_GC_DEBUG_UNCOLLECTABLE) print_objects("uncollectable", &o, 1);
        append_to_garbage(g, o);
        n++;
    }
    give_back_where(rt, g, dest, still_garbage);
    return n;
}

/* Room for every callback handle_weakrefs may have to run: at most one per
 * weak reference to a garbage object. */
static bool reserve_callbacks(gc_state *g, objvec *calls) {
    size_t n = 0;
    for (size_t i = 0; i < g->set.len; i++) {
        pm_object *o = g->set.items[i];
        if (o->flags & PM_OF_HAS_WEAKREF) n += pm_weakref_count(o);
    }
    return vec_reserve(calls, n);
}

/* CPython's handle_weakrefs: weak references that are themselves garbage
 * are cleared without callback; weak references to garbage are cleared and
 * their callbacks run only when the weak reference object survives. The
 * room for the callbacks is taken before anything is cleared: false, with
 * nothing done, when there is none (the caller gives up this collection:
 * a callback is never lost). */
static bool handle_weakrefs(gc_state *g, bool *finalizable, size_t *ran) {
    objvec calls = {0};
    if (!reserve_callbacks(g, &calls)) return false;
    /* One walk: clearing a weak reference that is itself garbage before or
     * after the references to its target makes no difference (either way
     * it gets no callback), so CPython's two loops can be one. The walk
     * also notes whether any finalizer waits. */
    for (size_t i = 0; i < g->set.len; i++) {
        pm_object *o = g->set.items[i], *wr;
        if (o->type->slots.finalize && !(o->flags & PM_OF_FINALIZED)) *finalizable = true;
        if (pmo_is_weakref(o)) pmo_weakref_clear_ref(o);
        while ((o->flags & PM_OF_HAS_WEAKREF) && (wr = pmo_weakrefs_first(o)) != NULL) {
            pmo_weakref_clear_ref(wr);
            if (pmo_weakref_has_callback(wr) && !(wr->flags & PMO_OF_COLLECTING)) {
                pm_incref(wr);
                calls.items[calls.len++] = wr; /* reserved above */
            }
        }
    }
    *ran = calls.len;
    for (size_t i = 0; i < calls.len; i++) {
        pmo_weakref_run_callback(calls.items[i]);
        pm_decref(calls.items[i]);
    }
    vec_free(&calls);
    return true;
}

/* PEP 442: every garbage object's finalizer runs once, before anything is
 * cleared. The collector's references keep every one alive meanwhile.
 * What a finalizer raises is its own (unraisable): the next one runs
 * with no exception pending, as on a death by reference counting. */
static int64_t finalize_garbage(pm_runtime *rt, gc_state *g) {
    int64_t ran = 0;
    for (size_t i = 0; i < g->set.len; i++) {
        pm_object *o = g->set.items[i];
        if (o->type->slots.finalize && !(o->flags & PM_OF_FINALIZED)) {
            o->flags |= PM_OF_FINALIZED;
            pmo_exc_saved none; /* collect_with_callbacks set the pending one aside */
            pmo_unraisable_begin(rt, &none);
            o->type->slots.finalize(o);
            pmo_unraisable_end(rt, &none, "finalizer of", o);
            ran++;
        }
    }
    return ran;
}

/* The collector's reference was o's last: it dies untracked. */
static void let_go(pm_object *o) {
    PM_ASSERT(o->refcnt == 1 || pm_is_immortal(o));
    drop_tracking(o);
    pm_decref(o);
}

/* Break each garbage object with its clear slot and let go of it at once:
 * if nobody else holds it, it dies by reference counting; if something
 * still does, it is looked at again once all are broken: held by garbage
 * broken later, it is the collector's alone by then; still held (a
 * finalizer of an object outside the set stored it), it goes to
 * generation dest. The collector's hold on
 * the objects not yet reached keeps every pointer of the vector valid. */
static void delete_garbage(pm_runtime *rt, gc_state *g, int dest) {
    objvec *set = &g->set;
    if (g->debug & PM_GC_DEBUG_SAVEALL) {
        for (size_t i = 0; i < set->len; i++) append_to_garbage(g, set->items[i]);
        give_back_where(rt, g, dest, NULL);
        return;
    }
    size_t nheld = 0;
    for (size_t i = 0; i < set->len; i++) {
        if (i + 8 < set->len) __builtin_prefetch(set->items[i + 8]);
        pm_object *o = set->items[i];
        if (pmo_has_clear(o->type)) pmo_clear(o);
        if (o->refcnt > 1) set->items[nheld++] = o; /* look again below */
        else let_go(o);
    }
    /* Most of these were held by garbage broken after them, and are now
     * the collector's alone. */
    for (size_t i = 0; i < nheld; i++) {
        pm_object *o = set->items[i];
        if (o->refcnt > 1) give_back(rt, o, dest);
        else let_go(o);
    }
    set->len = 0;
}

/* ---- one collection ---------------------------------------------------------- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void record_pause(pm_gc_generation_stats *s, double ms) {
    static const double limits[PM_GC_PAUSE_BUCKETS - 1] = {0.01, 0.03, 0.1, 0.3, 1,   3,
                                                           10,   30,   100, 300, 1000};
    int b = 0;
    while (b < PM_GC_PAUSE_BUCKETS - 1 && ms >= limits[b]) b++;
    s->pause_histogram[b]++;
    s->pause_total_ms += ms;
    if (ms > s->pause_max_ms) s->pause_max_ms = ms;
}

/* A callback's exception is unraisable, and does not stop the others. */
static void run_callbacks(pm_runtime *rt, gc_state *g, const char *phase, const pm_gc_info *info) {
    for (int i = 0; i < g->ncallbacks; i++) {
        pmo_exc_saved none; /* collect_with_callbacks set the pending one aside */
        pmo_unraisable_begin(rt, &none);
        g->callbacks[i].fn(phase, info, g->callbacks[i].arg);
        pmo_unraisable_end(rt, &none, "gc callback", NULL);
    }
}

/* Where the survivors of a collection of gen go: the next generation, or
 * the oldest when pacing skips the middle one (see "pacing"). */
static int destination(const gc_state *g, int gen, bool automatic) {
    if (gen == NUM_GENERATIONS - 1) return gen;
    if (automatic && gen == 0 && g->adaptive && g->backoff[1] > 1) return NUM_GENERATIONS - 1;
    return gen + 1;
}

static bool is_tracked(pm_object *o) { return (o->flags & PMO_OF_TRACKED) != 0; }

/* Everything after the analysis, on the unreachable objects (the front of
 * g->set): legacy finalizers set aside, weak references cleared,
 * finalizers run, the resurrected given back, the rest broken. Survivors
 * go to generation dest. Returns the number collected; *uncollectable
 * gets the others. */
static int64_t dispose(pm_runtime *rt, gc_state *g, unsigned summary, int dest,
                       int64_t *uncollectable) {
    objvec *set = &g->set;
    *uncollectable = 0;
    if (summary & PMO_TP_LEGACY_DEL) *uncollectable = set_aside_legacy(rt, g, dest);
    if (g->debug & PM_GC_DEBUG_COLLECTABLE) print_objects("collectable", set->items, set->len);
    bool finalizable = false;
    size_t code_ran = 0;
    if ((summary & (PMO_TP_FINALIZE | PMO_TP_WEAKREF | SUM_WEAKLY_REFERENCED)) &&
        !handle_weakrefs(g, &finalizable, &code_ran)) {
        /* No room for the callbacks: no code has run, nothing is cleared;
         * the garbage waits for the next collection. */
        g->fallbacks.collections_skipped++;
        give_back_where(rt, g, dest, NULL);
        return 0;
    }
    if (finalizable || code_ran) code_ran += (size_t)finalize_garbage(rt, g);
    if (code_ran > 0) {
        /* Resurrected objects, and all they reach, are reachable again. Only
         * code (a callback, a finalizer) can resurrect: if none ran, the
         * analysis stands and need not be redone. Code may also have
         * untracked some: those are no garbage of the collector's. */
        give_back_where(rt, g, dest, is_tracked);
        subtract_internal_refs_held(g, set->items, set->len);
        find_reachable(g, set->items, set->len);
        big_clear(&g->big);
        give_back_where(rt, g, dest, still_garbage);
    }
    int64_t collected = (int64_t)set->len;
    delete_garbage(rt, g, dest);
    PM_ASSERT(set->len == 0 && g->stack.len == 0 && !g->stack_short);
    return collected;
}

static void record_collection(gc_state *g, int gen, int64_t collected, int64_t uncollectable,
                              double ms) {
    pm_gc_generation_stats *s = &g->stats[gen];
    s->collections++;
    s->collected += (uint64_t)collected;
    s->uncollectable += (uint64_t)uncollectable;
    record_pause(s, ms);
    if (g->debug & PM_GC_DEBUG_STATS)
        fprintf(stderr,
                "gc: done, %" PRId64 " unreachable, %" PRId64 " uncollectable, %.4fms elapsed\n",
                collected + uncollectable, uncollectable, ms);
}

/* The objects of generations <= gen leave their sets for g->set. False
 * (nothing moved) when there is no memory for the vector. */
static bool take_set(pm_runtime *rt, gc_state *g, int gen) {
    pmgc_young *y = &rt->gc_young;
    size_t want = y->len;
    if (gen >= 1) want += pmgc_map_count(&rt->gc_map, PMGC_MAP_GEN1);
    if (gen >= 2) want += pmgc_map_count(&rt->gc_map, PMGC_MAP_GEN2);
    g->set.len = 0;
    if (!vec_reserve(&g->set, want)) return false;
    for (uint32_t i = 0; i < y->len; i++)
        if (y->items[i]) g->set.items[g->set.len++] = y->items[i];
    y->len = 0;
    if (gen >= 1) {
        g->set.len += pmgc_map_collect(&rt->gc_map, PMGC_MAP_GEN1, g->set.items + g->set.len);
        pmgc_map_clear(&rt->gc_map, PMGC_MAP_GEN1);
    }
    /* Generation 2 stays in its map through the analysis (no code runs):
     * split_reachable takes the unreachable out. */
    if (gen >= 2)
        g->set.len += pmgc_map_collect(&rt->gc_map, PMGC_MAP_GEN2, g->set.items + g->set.len);
    /* T1: the sets held each object once, holes of the young vector aside. */
    PM_ASSERT(g->set.len <= want);
    PM_ASSERT(gen < 1 || pmgc_map_count(&rt->gc_map, PMGC_MAP_GEN1) == 0);
    return true;
}

static int64_t collect(pm_runtime *rt, gc_state *g, int gen, bool automatic) {
    double t0 = now_ms();
    if (g->debug & PM_GC_DEBUG_STATS) fprintf(stderr, "gc: collecting generation %d...\n", gen);
    if (!take_set(rt, g, gen)) { /* out of memory: no collection */
        g->fallbacks.collections_skipped++;
        return 0;
    }
    if (gen + 1 < NUM_GENERATIONS) g->count[gen + 1]++;
    for (int i = 0; i <= gen; i++) g->count[i] = 0;
    rt->gc_young_count = rt->gc_young_allocs = rt->gc_young_lost = 0;
    int dest = destination(g, gen, automatic);
    subtract_internal_refs(g, gen);
    unsigned summary;
    int untrack = gen == NUM_GENERATIONS - 1 ? UNTRACK_TUPLES_AND_DICTS : UNTRACK_TUPLES;
    int64_t nreachable = split_reachable(rt, g, untrack, dest, &summary);
    big_clear(&g->big);
    assert_split(rt, g);
    if (dest != gen) {
        if (dest == NUM_GENERATIONS - 1) g->long_lived_pending += nreachable;
    } else {
        g->long_lived_pending = 0;
        g->long_lived_total = nreachable;
        rt->gc_old_left = 0;
    }
    int64_t uncollectable, collected = dispose(rt, g, summary, dest, &uncollectable);
    record_collection(g, gen, collected, uncollectable, now_ms() - t0);
    /* The working memory is 8 bytes per object of the set: kept for the
     * next young collection, given back after a large one (a full
     * collection of a million objects would hold 8 MB until the next). */
    if (g->set.cap > 4096) vec_free(&g->set);
    if (g->stack.cap > 4096) vec_free(&g->stack);
    return collected + uncollectable;
}

/* ---- pacing -------------------------------------------------------------------
 *
 * CPython's thresholds are the floor. With adaptive pacing (the default;
 * pm_gc_set_adaptive(0) or PYMM_GC_ADAPTIVE=0 give CPython's exact
 * schedule) an automatic collection that finds no garbage backs its
 * generation off and any collection that finds garbage resets every
 * backoff to 1 (an explicit pm_gc_collect that finds nothing says nothing
 * about the program's rhythm, and is never paced itself):
 *   generation 0 runs when the young count passes threshold0 x backoff0.
 *     After a fruitless young collection the window doubles (at most 4x:
 *     8,000 objects by default) if at least half of the GC objects
 *     allocated in it died before it closed: a wider one lets more
 *     short-lived structures die by reference counting before any
 *     collection looks at them. If fewer died the program is building,
 *     a wider window would spare no walk, only let the young objects
 *     leave the cache before they are walked, and it goes back to
 *     threshold0 (a JSON load's young walks cost half as much in windows
 *     of 2,000 as of 8,000);
 *   generation 1 runs after threshold1 young collections, and once they
 *     are fruitless after threshold1 x (4 / backoff0) of them: every
 *     threshold0 x threshold1 x 4 allocations, whatever the window;
 *   after a generation-1 collection that found nothing, the survivors of
 *     young collections go straight to the oldest generation (pending a
 *     full collection): the middle generation would walk every one of
 *     them once more, for nothing;
 *   a full collection waits until the pending objects reach 25% x backoff2
 *     of the long-lived ones (at most 4x: until the long-lived set doubles,
 *     Lua's default pause), since re-walking a heap that holds no cycles
 *     is the collector's largest cost when a program only builds.
 * A workload that makes cyclic garbage sees CPython's schedule again from
 * its first productive collection. */
#define BACKOFF_MAX_YOUNG 4u
#define BACKOFF_MAX_FULL 4u

static void reset_pacing(gc_state *g) {
    for (int i = 0; i < NUM_GENERATIONS; i++) g->backoff[i] = 1;
    g->young_fruitless = false;
}

/* The count generation gen must pass to be collected automatically. */
static int64_t threshold_of(const gc_state *g, int gen) {
    int64_t t = g->threshold[gen];
    if (gen == 1 && g->adaptive && g->young_fruitless) t *= BACKOFF_MAX_YOUNG / g->backoff[0];
    return t;
}

static void sync_threshold(pm_runtime *rt, gc_state *g) {
    int64_t t0 = (int64_t)g->threshold[0] * (g->adaptive ? g->backoff[0] : 1);
    if (g->stress) t0 = 0; /* every GC allocation comes to pmgc_auto_collect */
    rt->gc_young_threshold = !g->enabled ? INT64_MAX : g->stress || t0 > 0 ? t0 : INT64_MAX;
}

static int64_t check_sets(pm_runtime *rt, int nmaps); /* see "checking" */

/* pm_gc_check's tests after a collection of generation gen, over the sets
 * it took from (a full collection: every set; `nmaps`: how many address
 * maps); stress mode and expensive debug builds stop at the first broken
 * invariant, with its reason. rt is the current runtime. */
static void check_or_abort(pm_runtime *rt, const char *why, int gen, int nmaps) {
    PM_ASSERT(rt == pmo_rt());
    if (check_sets(rt, nmaps) >= 0) return;
    fprintf(stderr, "pymm: %s: pm_gc_check after a collection of generation %d: %s\n", why, gen,
            pm_exc_message());
    abort();
}

/* churn: see churned(). */
static void pace(pm_runtime *rt, gc_state *g, int gen, int64_t found, bool churn) {
    if (found > 0) {
        reset_pacing(g);
    } else if (gen == 0) {
        g->young_fruitless = true;
        if (!churn) g->backoff[0] = 1;
        else if (g->backoff[0] < BACKOFF_MAX_YOUNG) g->backoff[0] *= 2;
    } else {
        unsigned max = gen == 1 ? 2u : BACKOFF_MAX_FULL;
        if (g->backoff[gen] < max) g->backoff[gen] *= 2;
    }
    sync_threshold(rt, g);
}

/* At least half of the GC objects allocated since the last young
 * collection died before the next one (read before it runs). */
static bool churned(const pm_runtime *rt) {
    return (rt->gc_young_allocs - rt->gc_young_count) * 2 >= rt->gc_young_allocs;
}

/* A collection is code no caller asked for (it starts at an allocation)
 * or one that must not fail (pm_gc_collect): the pending exception is set
 * aside for its duration, and whatever its code raises -- finalizers,
 * callbacks (each reported where it runs), clear slots and the
 * collector's own MemoryErrors (reported at the end, CPython's "in
 * garbage collection") -- goes to the unraisable hook, never to the
 * caller. */
static int64_t collect_with_callbacks(pm_runtime *rt, gc_state *g, int gen, bool automatic) {
    pmo_exc_saved pending;
    pmo_unraisable_begin(rt, &pending);
    g->collecting = true;
    pm_gc_info info = {sizeof info, gen, 0, 0, 0};
    if (g->ncallbacks) run_callbacks(rt, g, "start", &info);
    double t0 = now_ms();
    bool churn = churned(rt);
    int64_t n = collect(rt, g, gen, automatic);
#ifdef PM_EXPENSIVE
    if (!g->stress) check_or_abort(rt, "after a collection", gen, PMGC_NMAPS); /* G1 holds again */
#endif
    info.collected = n;
    info.uncollectable = (int64_t)g->stats[gen].uncollectable;
    info.pause_ms = now_ms() - t0;
    if (automatic || n > 0) pace(rt, g, gen, n, churn);
    if (g->ncallbacks) run_callbacks(rt, g, "stop", &info);
    /* The recorder's (diag/trace.c), while it traces: a NULL test else. */
    void (*traced)(const pm_gc_info *) =
        atomic_load_explicit(&pmh_process.trace_collection, memory_order_acquire);
    if (traced) traced(&info);
    g->collecting = false;
    pmo_unraisable_end(rt, &pending, "garbage collection", NULL);
    return n;
}

/* An automatic young collection when no young object has lost a
 * reference since the last collection (rt->gc_young_lost == 0, counted by
 * pm_lost_ref). Objects become garbage together only when the last
 * reference from outside them goes, and a decref that leaves its object
 * alive (the only way such a reference goes, but for stealing) marks it:
 * there is nothing to find. The young objects are promoted as a fruitless
 * collection would promote them, in one pass that gives them their new
 * generation, without the analysis's two walks over their references.
 * Skipped: a program that only builds (a tree, a document: every new
 * object is stored into its parent by stealing) pays for no young walk.
 * Not skipped: explicit collections, CPython's schedule
 * (pm_gc_set_adaptive(0)), generations 1 and 2; these find a cycle made
 * only by stealing references (stored without a decref), which a young
 * collection would have found sooner. */
static void promote_young(pm_runtime *rt, gc_state *g, bool churn) {
    int dest = destination(g, 0, true);
    int64_t n = move_young_on(rt, dest);
    if (dest == NUM_GENERATIONS - 1) g->long_lived_pending += n;
    g->count[0] = 0;
    g->count[1]++;
    rt->gc_young_count = rt->gc_young_allocs = 0;
    g->stats[0].skipped++;
    pace(rt, g, 0, 0, churn);
}

static bool young_skippable(const pm_runtime *rt, const gc_state *g) {
    return g->adaptive && rt->gc_young_lost == 0;
}

/* CPython's 25% rule. Adaptive pacing multiplies it by the backoff and
 * counts as pending only the survivors still in the oldest generation
 * (objects promoted and since freed by reference counting cannot be part
 * of a cycle there; garbage cycles stay allocated, so they still count). */
static bool full_is_due(const pm_runtime *rt, const gc_state *g) {
    if (!g->adaptive) return g->long_lived_pending >= g->long_lived_total / 4;
    int64_t pending = g->long_lived_pending - rt->gc_old_left;
    return pending * 4 >= g->long_lived_total * (int64_t)g->backoff[NUM_GENERATIONS - 1];
}

/* ---- stress --------------------------------------------------------------------
 *
 * PYMM_GC_STRESS=1 (read when a runtime is made), as Lua's stress build:
 * the young threshold is 0, so every allocation of a GC object comes here
 * and collects, generation 0 each time, generation 1 every 100th and a
 * full collection every 1,000th, with adaptive pacing and skipping off;
 * pm_gc_check's tests run after each over the sets it took from (every
 * set after a full one) and abort with their reason when an invariant
 * fails. It shows a collection at every point where one may
 * happen, which is where a missing reference or a half-built object
 * hides. Off, it costs nothing: the flag is read only here, on the path a
 * passed threshold already takes. */
static void stress_collect(pm_runtime *rt, gc_state *g) {
    uint64_t n = ++g->stress_allocs;
    int gen = n % 1000 == 0 ? 2 : n % 100 == 0 ? 1 : 0;
    collect_with_callbacks(rt, g, gen, true);
    /* The sets this collection took from: a check of every object after
     * each young collection would make a test quadratic. */
    check_or_abort(rt, "PYMM_GC_STRESS", gen, gen == 2 ? PMGC_NMAPS : gen);
}

/* CPython's choice of generation: the oldest whose count passed its
 * threshold, except that a full collection also waits until the objects
 * that survived young collections since the last full one reach 25% of
 * the long-lived ones (it keeps full collections linear overall). */
void pmgc_auto_collect(pm_runtime *rt) {
    gc_state *g = state_of(rt);
    if (g == NULL || !g->enabled || g->collecting) return;
    if (pmo_unlikely(g->stress)) {
        stress_collect(rt, g);
        return;
    }
    g->count[0] = (int)rt->gc_young_count;
    for (int i = NUM_GENERATIONS - 1; i >= 0; i--) {
        if (g->count[i] <= threshold_of(g, i)) continue;
        if (i == NUM_GENERATIONS - 1 && !full_is_due(rt, g)) continue;
        if (i == 0 && young_skippable(rt, g)) {
            promote_young(rt, g, churned(rt));
            return;
        }
        collect_with_callbacks(rt, g, i, true);
        return;
    }
}

int64_t pm_gc_collect(int generation) {
    pm_runtime *rt = pmo_rt();
    gc_state *g = state_of(rt);
    if (g == NULL) return 0;
    if (generation < 0 || generation >= NUM_GENERATIONS) {
        pm_exc_set(PM_EXC_VALUE, "invalid generation %d", generation);
        return -1;
    }
    if (g->collecting) return -1;
    return collect_with_callbacks(rt, g, generation, false);
}

void pm_gc_set_adaptive(int on) {
    pm_runtime *rt = pmo_rt();
    gc_state *g = state_of(rt);
    if (g == NULL) return;
    g->adaptive = on != 0 && !g->stress; /* stress mode keeps pacing off */
    reset_pacing(g);
    sync_threshold(rt, g);
}

int pm_gc_get_adaptive(void) {
    gc_state *g = state();
    return g ? g->adaptive : 0;
}

void pm_gc_enable(void) {
    pm_runtime *rt = pmo_rt();
    gc_state *g = state_of(rt);
    if (g) g->enabled = true, sync_threshold(rt, g);
}

void pm_gc_disable(void) {
    pm_runtime *rt = pmo_rt();
    gc_state *g = state_of(rt);
    if (g) g->enabled = false, sync_threshold(rt, g);
}

int pm_gc_is_enabled(void) {
    gc_state *g = state();
    return g ? g->enabled : 0;
}

void pm_gc_set_threshold(int t0, int t1, int t2) {
    pm_runtime *rt = pmo_rt();
    gc_state *g = state_of(rt);
    if (g == NULL) return;
    g->threshold[0] = t0 > 0 ? t0 : 0;
    g->threshold[1] = t1;
    g->threshold[2] = t2;
    sync_threshold(rt, g);
}

void pm_gc_get_threshold(int *t0, int *t1, int *t2) {
    gc_state *g = state();
    if (g) *t0 = g->threshold[0], *t1 = g->threshold[1], *t2 = g->threshold[2];
}

void pm_gc_get_count(int *c0, int *c1, int *c2) {
    pm_runtime *rt = pmo_rt();
    gc_state *g = state_of(rt);
    *c0 = (int)rt->gc_young_count;
    *c1 = g ? g->count[1] : 0;
    *c2 = g ? g->count[2] : 0;
}

size_t pm_gc_get_stats_sized(pm_gc_generation_stats *out, size_t size) {
    gc_state *g = state();
    static const pm_gc_generation_stats none;
    size_t n = 0;
    for (int i = 0; i < NUM_GENERATIONS; i++)
        n = pmh_struct_write((char *)out + (size_t)i * size, size, g ? &g->stats[i] : &none,
                             sizeof none);
    return n;
}

int pm_gc_callback_add(pm_gc_callback fn, void *arg) {
    gc_state *g = state();
    if (g == NULL || fn == NULL || g->ncallbacks == MAX_CALLBACKS) return -1;
    g->callbacks[g->ncallbacks].fn = fn;
    g->callbacks[g->ncallbacks].arg = arg;
    g->ncallbacks++;
    return 0;
}

int pm_gc_callback_remove(pm_gc_callback fn, void *arg) {
    gc_state *g = state();
    for (int i = 0; g && i < g->ncallbacks; i++) {
        if (g->callbacks[i].fn != fn || g->callbacks[i].arg != arg) continue;
        memmove(&g->callbacks[i], &g->callbacks[i + 1],
                (size_t)(g->ncallbacks - i - 1) * sizeof g->callbacks[0]);
        g->ncallbacks--;
        return 0;
    }
    return -1;
}

void pm_gc_set_debug(int flags) {
    gc_state *g = state();
    if (g) g->debug = flags;
}

int pm_gc_get_debug(void) {
    gc_state *g = state();
    return g ? g->debug : 0;
}

pm_object *pm_gc_garbage(void) {
    gc_state *g = state();
    if (g == NULL) return pmo_no_memory();
    if (g->garbage == NULL) g->garbage = pm_list_new(0);
    return g->garbage;
}

pm_object *pmgc_garbage_peek(pm_runtime *rt) {
    const gc_state *g = rt->gc;
    return g ? g->garbage : NULL;
}

/* ---- enumeration -------------------------------------------------------------- */

/* fn over every tracked object of generation gen (-1: 0, 1 and 2;
 * PERMANENT + 1: every generation and the permanent one); stops at a
 * nonzero result. */
static int for_each_tracked(pm_runtime *rt, int gen, int (*fn)(pm_object *, void *), void *arg) {
    bool all = gen == PERMANENT + 1;
    if (all || gen <= 0) {
        for (uint32_t i = 0; i < rt->gc_young.len; i++) {
            int r = rt->gc_young.items[i] ? fn(rt->gc_young.items[i], arg) : 0;
            if (r) return r;
        }
    }
    for (int k = 1; k <= PERMANENT; k++) {
        if (!(all || gen == k || (gen == -1 && k < PERMANENT))) continue;
        int r = pmgc_map_each(&rt->gc_map, map_of(k), fn, arg);
        if (r) return r;
    }
    return 0;
}

typedef struct append_arg {
    pm_object *list;
} append_arg;

static int append_one(pm_object *o, void *arg) {
    append_arg *a = arg;
    return o != a->list && pm_list_append(a->list, o) != 0;
}

pm_object *pm_gc_get_objects(int generation) {
    gc_state *g = state();
    if (g == NULL) return pmo_no_memory();
    if (generation < -1 || generation >= NUM_GENERATIONS) {
        pm_exc_set(PM_EXC_VALUE, "generation must be in range(-1, %d)", NUM_GENERATIONS);
        return NULL;
    }
    pm_object *list = pm_list_new(0);
    if (list == NULL) return NULL;
    pm_gc_track(list); /* now, not at its first append, in mid-walk */
    append_arg a = {list};
    if (for_each_tracked(pmo_rt(), generation, append_one, &a) != 0) {
        pm_decref(list);
        return NULL;
    }
    return list;
}

typedef struct referrer_search {
    pm_object *target, *list;
    bool found;
} referrer_search;

static int visit_find(pm_object *r, void *arg) {
    referrer_search *s = arg;
    if (r == s->target) s->found = true;
    return s->found;
}

static int append_if_referrer(pm_object *o, void *arg) {
    referrer_search *s = arg;
    if (o == s->list) return 0;
    s->found = false;
    pmo_traverse(o, visit_find, s);
    return s->found && pm_list_append(s->list, o) != 0;
}

pm_object *pm_gc_get_referrers(pm_object *o) {
    if (o != NULL && !pmo_live(o)) return NULL;
    gc_state *g = state();
    if (g == NULL) return pmo_no_memory();
    pm_object *list = pm_list_new(0);
    if (list == NULL) return NULL;
    pm_gc_track(list); /* now, not at its first append, in mid-walk */
    referrer_search s = {o, list, false};
    if (for_each_tracked(pmo_rt(), PERMANENT + 1, append_if_referrer, &s) != 0) {
        pm_decref(list);
        return NULL;
    }
    return list;
}

static int visit_collect(pm_object *r, void *arg) { return pm_list_append(arg, r) != 0; }

pm_object *pm_gc_get_referents(pm_object *o) {
    if (o == NULL) {
        pmo_null_arg("pm_gc_get_referents: NULL object");
        return NULL;
    }
    if (!pmo_live(o)) return NULL;
    pm_object *list = pm_list_new(0);
    if (list && (o->type->flags & PM_TPFLAGS_GC) && pmo_traverse(o, visit_collect, list) != 0) {
        pm_decref(list);
        return NULL;
    }
    return list;
}

/* ---- freeze ---------------------------------------------------------------------- */

/* Move o from the map of generation from_to[0] to that of from_to[1]:
 * the chunk exists (o's bit was in another map of it). */
static int move_gen(pm_object *o, void *arg) {
    int *from_to = arg;
    pm_runtime *rt = pmo_rt();
    pmgc_map_remove(&rt->gc_map, map_of(from_to[0]), o);
    place(rt, o, from_to[1]);
    return 0;
}

void pm_gc_freeze(void) {
    pm_runtime *rt = pmo_rt();
    gc_state *g = state_of(rt);
    if (g == NULL) return;
    move_young_on(rt, PERMANENT);
    for (int gen = 1; gen < PERMANENT; gen++) {
        int from_to[2] = {gen, PERMANENT};
        pmgc_map_each(&rt->gc_map, map_of(gen), move_gen, from_to);
    }
    rt->gc_young_count = rt->gc_young_allocs = rt->gc_young_lost = 0;
}

void pm_gc_unfreeze(void) {
    pm_runtime *rt = pmo_rt();
    if (state_of(rt) == NULL) return;
    int from_to[2] = {PERMANENT, NUM_GENERATIONS - 1};
    pmgc_map_each(&rt->gc_map, map_of(PERMANENT), move_gen, from_to);
}

size_t pm_gc_get_freeze_count(void) {
    pm_runtime *rt = pmo_rt();
    return state_of(rt) ? pmgc_map_count(&rt->gc_map, map_of(PERMANENT)) : 0;
}

void pmgc_get_fallbacks(pm_runtime *rt, pmgc_fallbacks *out) {
    const gc_state *g = rt->gc;
    *out = g ? g->fallbacks : (pmgc_fallbacks){0};
}

/* ---- checking ------------------------------------------------------------------ */

typedef struct check_arg {
    int gen;
    int64_t n;
} check_arg;

static int check_one(pm_object *o, void *arg) {
    check_arg *c = arg;
    unsigned gen = (o->flags & PMO_OF_GEN_MASK) >> PMO_OF_GEN_SHIFT;
    const char *breach = NULL;
    if (!(o->flags & PMO_OF_TRACKED)) breach = "in a generation but not tracked";
    else if (c->gen == 0 && (gen != 0 || pmgc_slot(o) != (unsigned)c->n))
        breach = "wrong young slot";
    else if (c->gen != 0 && (int)gen != c->gen) breach = "wrong generation bits";
    else if (o->flags & ANALYSIS_BITS) breach = "collection state left over";
    else if (c->gen != 0 && pmgc_slot(o) != 0) breach = "slot bits left over";
    if (breach) {
        pm_exc_set(PM_EXC_RUNTIME, "gc check: <%s %p> in generation %d: %s", o->type->name,
                   (void *)o, c->gen, breach);
        return 1;
    }
    c->n++;
    return 0;
}

int64_t pm_gc_check(void) { return check_sets(pmo_rt(), PMGC_NMAPS); }

/* pm_gc_check over the young vector and the first nmaps address maps. */
static int64_t check_sets(pm_runtime *rt, int nmaps) {
    /* Needs no collector state: tracking works without it (out of memory). */
    int64_t total = 0;
    for (uint32_t i = 0; i < rt->gc_young.len; i++) {
        check_arg c = {0, i};
        if (rt->gc_young.items[i] && check_one(rt->gc_young.items[i], &c)) return -1;
        total += rt->gc_young.items[i] != NULL;
    }
    check_arg c;
    for (int k = 0; k < nmaps; k++) {
        c = (check_arg){k + 1, 0};
        if (pmgc_map_each(&rt->gc_map, k, check_one, &c)) return -1;
        if ((size_t)c.n != pmgc_map_count(&rt->gc_map, k)) {
            pm_exc_set(PM_EXC_RUNTIME,
                       "gc check: address map %d counts %zu objects, holds %" PRId64, k,
                       pmgc_map_count(&rt->gc_map, k), c.n);
            return -1;
        }
        total += c.n;
    }
    return total;
}
