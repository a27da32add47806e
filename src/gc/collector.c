/*
 * collector.c -- the generational cycle collector (CPython 3.11 semantics).
 *
 * Owns: the generation lists, tracking, automatic and explicit collection,
 * the garbage list, statistics, callbacks, debug flags, freeze, and the
 * object-graph queries (get_objects, get_referrers, get_referents).
 *
 * States of a tracked object (its gc head links it into exactly one list,
 * and flag bits 12-13 name that list: 0, 1, 2, or 3 for permanent):
 *
 *   generation 0/1/2 or permanent     normal life; COLLECTING clear
 *   the set being collected           generation <= g: COLLECTING set once
 *                                     the walk has met it; during the
 *                                     analysis the head's `prev` word holds
 *                                     gc_refs (the count minus references
 *                                     from inside the set) and only `next`
 *                                     links the set
 *   unreachable                       COLLECTING (and TENTATIVE) kept: the
 *                                     weakref and finalizer steps ask "is
 *                                     it garbage?"
 *   finalizers (legacy)               uncollectable: COLLECTING clear
 *
 * A collection of generation g: merge the younger lists into g; find the
 * unreachable objects in two walks over the set (one walk: gc_refs =
 * refcnt minus every reference from inside the set; another: whatever has
 * gc_refs > 0 and everything it reaches is reachable, the set being its
 * own work queue: no stack, no recursion); move the reachable ones to the
 * next older generation; put objects with a legacy finalizer, and all
 * they reach, aside as uncollectable; clear weak references to the
 * garbage (callbacks only for weak references that are not garbage); run
 * PEP 442 finalizers once; redo the analysis on the garbage, so objects a
 * finalizer resurrected (and all they reach) survive; break what is left
 * with the clear slot, which frees it by reference counting. When to
 * collect is CPython's schedule, paced by the yield (see "pacing").
 *
 * Invariant G1: outside pm_gc_collect every list is a proper circular
 * doubly linked list, every object on generation list k has generation
 * bits k, and no object has COLLECTING, REACHABLE, TENTATIVE or
 * NO_SET_REFS set.
 */
#define _DEFAULT_SOURCE
#include "objects/containers.h"
#include "objects/object.h"
#include "objects/weakref.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The reachability walk's loop is where a collection spends its time, and
 * its speed moved by 10-15% (live-full, same instructions: callgrind)
 * with the 16-byte offset that unrelated code elsewhere in the library
 * gave its start. A cache-line start makes it independent of that. */
#if defined(__GNUC__)
#define PM_HOT_ALIGN __attribute__((aligned(64)))
#else
#define PM_HOT_ALIGN
#endif

#define NUM_GENERATIONS 3
#define MAX_CALLBACKS 16

typedef struct gc_state {
    pmo_gc_head *gen[NUM_GENERATIONS]; /* [0] is the runtime's gc_young */
    pmo_gc_head older[NUM_GENERATIONS - 1];
    pmo_gc_head permanent;
    int threshold[NUM_GENERATIONS];
    int count[NUM_GENERATIONS]; /* count[0] lives in rt->gc_young_count */
    bool adaptive;                      /* pacing by yield (see below)   */
    unsigned backoff[NUM_GENERATIONS];  /* 1, 2, 4, ...: threshold factor */
    bool young_fruitless;               /* the last automatic young
                                           collection found nothing      */
    int64_t long_lived_total, long_lived_pending;
    bool enabled, collecting;
    int debug;
    pm_object *garbage;
    struct { pm_gc_callback fn; void *arg; } callbacks[MAX_CALLBACKS];
    int ncallbacks;
    pm_gc_generation_stats stats[NUM_GENERATIONS];
} gc_state;

/* ---- lists ---------------------------------------------------------------- */

#define HEAD(o) pmo_gc_head_of(o)
#define OBJ(h) ((pm_object *)((pmo_gc_head *)(h) + 1))
#define NEXT(h) ((pmo_gc_head *)(h)->next)
#define PREV(h) ((pmo_gc_head *)(h)->prev)

static void list_init(pmo_gc_head *l) { l->next = l->prev = (uintptr_t)l; }
static bool list_empty(const pmo_gc_head *l) { return l->next == (uintptr_t)l; }

static void list_append_head(pmo_gc_head *l, pmo_gc_head *h) {
    h->prev = l->prev;
    h->next = (uintptr_t)l;
    PREV(l)->next = (uintptr_t)h;
    l->prev = (uintptr_t)h;
}

static void list_remove_head(pmo_gc_head *h) {
    PREV(h)->next = h->next;
    NEXT(h)->prev = h->prev;
}

static void list_move(pm_object *o, pmo_gc_head *to) {
    list_remove_head(HEAD(o));
    list_append_head(to, HEAD(o));
}

/* Append every object of `from` to `to`; `from` becomes empty. */
static void list_merge(pmo_gc_head *from, pmo_gc_head *to) {
    if (list_empty(from)) return;
    pmo_gc_head *first = NEXT(from), *last = PREV(from);
    first->prev = to->prev;
    PREV(to)->next = (uintptr_t)first;
    last->next = (uintptr_t)to;
    to->prev = (uintptr_t)last;
    list_init(from);
}

static int64_t list_size(const pmo_gc_head *l) {
    int64_t n = 0;
    for (pmo_gc_head *h = NEXT(l); h != l; h = NEXT(h)) n++;
    return n;
}

/* ---- state ----------------------------------------------------------------- */

static void reset_pacing(gc_state *g); /* see "pacing" */

static gc_state *state_of(pm_runtime *rt) {
    if (pmo_likely(rt->gc != NULL)) return rt->gc;
    gc_state *g = calloc(1, sizeof *g);
    if (g == NULL) return NULL;
    g->gen[0] = &rt->gc_young;
    for (int i = 1; i < NUM_GENERATIONS; i++) {
        g->gen[i] = &g->older[i - 1];
        list_init(g->gen[i]);
    }
    list_init(&g->permanent);
    g->threshold[0] = PMGC_DEFAULT_THRESHOLD;
    g->threshold[1] = 10;
    g->threshold[2] = 10;
    g->enabled = true;
    const char *env = getenv("PYMM_GC_ADAPTIVE");
    g->adaptive = !(env && env[0] == '0');
    reset_pacing(g);
    rt->gc = g;
    rt->gc_young_threshold = g->threshold[0];
    return g;
}

static gc_state *state(void) { return state_of(pmo_rt()); }

/* The lists point into the runtime's heap, which goes with it: only the
 * state itself is freed here. */
void pmgc_destroy(pm_runtime *rt) {
    gc_state *g = rt->gc;
    if (g == NULL) return;
    free(g);
    rt->gc = NULL;
}

/* ---- finding the unreachable ------------------------------------------------ */

#define REFS(o) (HEAD(o)->prev)

/* The set being analysed is a generation list whose objects carry their
 * generation in their flags (bits 12-13). An object is in the set of a
 * collection of generation g when it is tracked and its generation is at
 * most g: one subtraction and one comparison, no walk to mark the set. */
static inline bool in_set(unsigned flags, unsigned limit) {
    return (flags & (PMO_OF_TRACKED | PMO_OF_GEN_MASK)) - PMO_OF_TRACKED <= limit;
}

/* Objects made one after another mostly sit one after another (pools
 * carve blocks in address order), and so does a generation list: while a
 * walk is at h, ask for the memory a few objects further on, which a
 * pointer chase would only reach one miss at a time. A wrong guess costs
 * nothing but the prefetch. */
#define PREFETCH_AHEAD(h) __builtin_prefetch((const char *)(h) + 1024)

/* The state a collection leaves on an object while it runs; none of it
 * outside (G1). */
#define ANALYSIS_BITS (PMO_OF_COLLECTING | PMO_OF_REACHABLE | PMO_OF_TENTATIVE | PMO_OF_NO_SET_REFS)

/* o survives on the list of generation gen_bits: no state of the
 * collection left on it (G1), and its lost references seen. */
static inline void settle(pm_object *o, unsigned gen_bits) {
    o->flags = (o->flags & ~(ANALYSIS_BITS | PMO_OF_GEN_MASK | PM_OF_LOST_REF)) | gen_bits;
}

static inline void start_refs(pm_object *o) {
    o->flags |= PMO_OF_COLLECTING;
    REFS(o) = o->refcnt;
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
#define VISIT_REFS(o, each, visit, arg, acc, skip)                                 \
    do {                                                                           \
        pm_object *const *items_;                                                  \
        size_t n_;                                                                 \
        if (sequence_items((o), &items_, &n_)) {                                   \
            if (!(skip))                                                           \
                for (size_t i_ = 0; i_ < n_; i_++)                                 \
                    if (items_[i_]) (acc) |= each(items_[i_], (arg));              \
        } else if ((o)->type == &pm_dict_type) {                                   \
            if (skip) break;                                                       \
            pmo_dict_refs d_;                                                      \
            pmo_dict_refs_of((o), &d_);                                            \
            for (size_t i_ = 0; i_ < d_.n; i_++) {                                 \
                const pmo_dk_word *e_ = d_.entries + i_ * d_.stride;               \
                if (!e_[PMO_DK_VALUE].obj) continue;                               \
                if (!d_.keys_atomic) (acc) |= each(e_[PMO_DK_KEY].obj, (arg));     \
                (acc) |= each(e_[PMO_DK_VALUE].obj, (arg));                        \
            }                                                                      \
        } else {                                                                   \
            pmo_traverse((o), visit, (arg));                                       \
            (acc) = 1;                                                             \
        }                                                                          \
    } while (0)

/* Subtract the references from inside the set. An object's gc_refs start
 * from its count the first time the walk meets it, as itself or as a
 * referent, so the copying and the subtracting are one walk. The walk
 * also notes the objects none of whose references leads into the set
 * (NO_SET_REFS; only for those read in place, where it costs nothing):
 * the reachability walk need not read their referents again. They are
 * common: a young object that points only at old ones, a document's
 * records before their array exists. */
static inline int decref_in_set(pm_object *r, void *limit) {
    unsigned f = r->flags;
    if (!in_set(f, (unsigned)(uintptr_t)limit)) return 0;
    if (!(f & PMO_OF_COLLECTING)) start_refs(r);
    REFS(r)--;
    return 1;
}

static int visit_decref(pm_object *r, void *limit) {
    (void)decref_in_set(r, limit);
    return 0;
}

static void subtract_internal_refs(pmo_gc_head *set, int gen) {
    void *limit = (void *)(uintptr_t)PMO_OF_GEN(gen);
    for (pmo_gc_head *h = NEXT(set); h != set; h = NEXT(h)) {
        PREFETCH_AHEAD(h);
        pm_object *o = OBJ(h);
        if (!(o->flags & PMO_OF_COLLECTING)) start_refs(o);
        int hit = 0;
        VISIT_REFS(o, decref_in_set, visit_decref, limit, hit, false);
        if (!hit) o->flags |= PMO_OF_NO_SET_REFS;
    }
}

/* The same for a set that is no generation (the garbage, analysed again
 * after finalizers ran): mark it first, then subtract. */
static int visit_decref_marked(pm_object *r, void *arg) {
    (void)arg;
    if (r->flags & PMO_OF_COLLECTING) REFS(r)--;
    return 0;
}

static void subtract_internal_refs_marked(pmo_gc_head *set) {
    for (pmo_gc_head *h = NEXT(set); h != set; h = NEXT(h)) {
        pm_object *o = OBJ(h);
        o->flags &= ~(PMO_OF_REACHABLE | PMO_OF_TENTATIVE | PMO_OF_NO_SET_REFS);
        start_refs(o);
    }
    for (pmo_gc_head *h = NEXT(set); h != set; h = NEXT(h)) pmo_traverse(OBJ(h), visit_decref_marked, NULL);
}

/* Tuples whose items are all untracked, and dicts holding nothing that
 * may be tracked, cannot be part of a cycle: CPython stops tracking them
 * when they survive a collection, tuples in every collection and dicts
 * only in full ones (a young collection would re-read every value of
 * every dict being built, bpo-14775), and so do we. */
enum { UNTRACK_NONE, UNTRACK_TUPLES, UNTRACK_TUPLES_AND_DICTS };

static bool atomic_container(pm_object *o, int untrack) {
    if (o->type == &pm_tuple_type) {
        size_t n = pm_tuple_size(o);
        for (size_t i = 0; i < n; i++) {
            pm_object *item = pm_tuple_get(o, i);
            if (item == NULL || (item->flags & PMO_OF_TRACKED)) return false;
        }
        return true;
    }
    return untrack == UNTRACK_TUPLES_AND_DICTS && o->type == &pm_dict_type && pmo_dict_all_atomic(o);
}

/* What the garbage holds, gathered while it is split off, so that the
 * steps that only matter for some objects skip their walk over it when no
 * object needs them (a walk over a large garbage list is one cache miss
 * per object). Type bits PMO_TP_FINALIZE, _LEGACY_DEL, _WEAKREF, plus: */
#define SUM_WEAKLY_REFERENCED (1u << 16) /* some object has weak references */

/* The reachability walk goes once along the set, which is its own work
 * queue: an object with gc_refs > 0 (referenced from outside) or already
 * found reachable is kept, and what it references is found reachable too;
 * an object with gc_refs == 0 is set aside on the unreachable list
 * (TENTATIVE), from where a later kept object may take it back to the end
 * of the walk. During the walk the set is linked by `next` only (`prev`
 * holds gc_refs until the object is passed); kept objects get their `prev`
 * back as the walk passes them. No stack, no recursion. */
typedef struct reach_walk {
    pmo_gc_head *set, *tail; /* tail: the walk's last object */
    pmo_gc_head *unreachable;
    int64_t nlost;
} reach_walk;

static int visit_reachable(pm_object *r, void *arg) {
    unsigned f = r->flags;
    if ((f & (PMO_OF_COLLECTING | PMO_OF_REACHABLE)) != PMO_OF_COLLECTING) return 0;
    r->flags = (f | PMO_OF_REACHABLE) & ~PMO_OF_TENTATIVE;
    if (f & PMO_OF_TENTATIVE) { /* behind the walk: back to its end */
        reach_walk *w = arg;
        pmo_gc_head *h = HEAD(r);
        list_remove_head(h);
        w->nlost--;
        h->next = (uintptr_t)w->set;
        w->tail->next = (uintptr_t)h;
        w->tail = h;
    }
    return 0;
}

/* Split `set` into the reachable objects, which stay in it with the flags
 * of generation dest (gen_bits) and the analysis bits cleared, and the
 * others, appended to `unreachable` with COLLECTING (and TENTATIVE) kept.
 * Every object of the set must have COLLECTING and its gc_refs. The
 * atomic containers of the kinds `untrack` names (UNTRACK_*) among the
 * reachable are untracked on the way. Returns the number of reachable
 * objects still tracked; *nunreachable gets the rest, and *summary the
 * SUM_ bits of whatever was set aside (a superset of the garbage's:
 * enough to skip walks). */
static PM_HOT_ALIGN int64_t split_reachable(pmo_gc_head *set, pmo_gc_head *unreachable,
                                            int untrack, unsigned gen_bits, int64_t *nunreachable,
                                            unsigned *summary) {
    reach_walk w = {set, PREV(set), unreachable, 0};
    pmo_gc_head *prev = set, *h = NEXT(set);
    int64_t nkeep = 0;
    unsigned sum = 0;
    while (h != set) {
        PREFETCH_AHEAD(h);
        pm_object *o = OBJ(h);
        unsigned f = o->flags;
        if ((f & PMO_OF_REACHABLE) || h->prev > 0) {
            int ignored = 0;
            VISIT_REFS(o, visit_reachable, visit_reachable, &w, ignored, f & PMO_OF_NO_SET_REFS);
            (void)ignored;
            pmo_gc_head *next = NEXT(h); /* read after: h may have been the tail */
            if (untrack != UNTRACK_NONE && atomic_container(o, untrack)) {
                prev->next = (uintptr_t)next;
                if (w.tail == h) w.tail = prev;
                o->flags &= ~(ANALYSIS_BITS | PMO_OF_TRACKED | PMO_OF_GEN_MASK);
                h->next = h->prev = 0;
            } else {
                settle(o, gen_bits);
                h->prev = (uintptr_t)prev;
                prev = h;
                nkeep++;
            }
            h = next;
        } else {
            pmo_gc_head *next = NEXT(h);
            prev->next = (uintptr_t)next;
            if (w.tail == h) w.tail = prev;
            list_append_head(unreachable, h);
            o->flags |= PMO_OF_TENTATIVE;
            sum |= o->type->internal | ((o->flags & PM_OF_HAS_WEAKREF) ? SUM_WEAKLY_REFERENCED : 0);
            w.nlost++;
            h = next;
        }
    }
    set->prev = (uintptr_t)prev;
    *nunreachable = w.nlost;
    *summary = sum;
    return nkeep;
}

/* ---- the steps after the analysis --------------------------------------------- */

static int visit_move_to_finalizers(pm_object *r, void *arg) {
    if ((r->flags & PMO_OF_COLLECTING) && !(r->flags & PMO_OF_REACHABLE)) {
        r->flags = (r->flags | PMO_OF_REACHABLE) & ~PMO_OF_COLLECTING;
        list_move(r, arg);
    }
    return 0;
}

/* Objects with a legacy finalizer, and everything they reach, cannot be
 * collected safely: they become uncollectable (gc.garbage). */
static void move_legacy_finalizers(pmo_gc_head *unreachable, pmo_gc_head *finalizers, unsigned gen_bits) {
    pmo_gc_head *h = NEXT(unreachable);
    while (h != unreachable) {
        pmo_gc_head *next = NEXT(h);
        pm_object *o = OBJ(h);
        if (o->type->slots.legacy_del) {
            o->flags = (o->flags | PMO_OF_REACHABLE) & ~PMO_OF_COLLECTING;
            list_move(o, finalizers);
        }
        h = next;
    }
    for (pmo_gc_head *f = NEXT(finalizers); f != finalizers; f = NEXT(f))
        pmo_traverse(OBJ(f), visit_move_to_finalizers, finalizers);
    for (pmo_gc_head *f = NEXT(finalizers); f != finalizers; f = NEXT(f)) {
        pm_object *o = OBJ(f);
        settle(o, gen_bits);
    }
}

/* CPython's handle_weakrefs: weak references that are themselves garbage
 * are cleared without callback; weak references to garbage are cleared and
 * their callbacks run only when the weak reference object survives. */
static size_t handle_weakrefs(pmo_gc_head *unreachable, bool *finalizable) {
    pmo_vec calls = {0};
    /* One walk: clearing a weak reference that is itself garbage before or
     * after the references to its target makes no difference (either way
     * it gets no callback), so CPython's two loops can be one. The walk
     * also notes whether any finalizer waits. */
    for (pmo_gc_head *h = NEXT(unreachable); h != unreachable; h = NEXT(h)) {
        pm_object *o = OBJ(h), *wr;
        if (o->type->slots.finalize && !(o->flags & PM_OF_FINALIZED)) *finalizable = true;
        if (pmo_is_weakref(o)) pmo_weakref_clear_ref(o);
        while ((o->flags & PM_OF_HAS_WEAKREF) && (wr = pmo_weakrefs_first(o)) != NULL) {
            pmo_weakref_clear_ref(wr);
            if (pmo_weakref_has_callback(wr) && !(wr->flags & PMO_OF_COLLECTING)) {
                /* Out of memory for the call list: the callback is lost, the
                 * reference is cleared all the same. */
                if (pmo_vec_push(&calls, wr)) pm_incref(wr);
            }
        }
    }
    size_t ran = calls.len;
    for (size_t i = 0; i < calls.len; i++) {
        pmo_weakref_run_callback(calls.items[i]);
        pm_decref(calls.items[i]);
    }
    pmo_vec_free(&calls);
    return ran;
}

/* PEP 442: every garbage object's finalizer runs once, before anything is
 * cleared. An object may die (by reference counting) during another's
 * finalizer: it then leaves the list itself. */
static int64_t finalize_garbage(pmo_gc_head *unreachable) {
    pmo_gc_head seen;
    int64_t ran = 0;
    list_init(&seen);
    while (!list_empty(unreachable)) {
        pm_object *o = OBJ(NEXT(unreachable));
        list_move(o, &seen);
        if (o->type->slots.finalize && !(o->flags & PM_OF_FINALIZED)) {
            o->flags |= PM_OF_FINALIZED;
            pm_incref(o);
            o->type->slots.finalize(o);
            pm_decref(o);
            ran++;
        }
    }
    list_merge(&seen, unreachable);
    return ran;
}

static void append_to_garbage(gc_state *g, pm_object *o) {
    if (g->garbage == NULL) g->garbage = pm_list_new(0);
    if (g->garbage == NULL || pm_list_append(g->garbage, o) != 0) pm_exc_clear();
}

static void make_reachable(pm_object *o, pmo_gc_head *old, unsigned gen_bits) {
    settle(o, gen_bits);
    list_move(o, old);
}

/* Break the garbage with the clear slot; what survives goes to `old`,
 * generation gen_bits. */
static void delete_garbage(gc_state *g, pmo_gc_head *garbage, pmo_gc_head *old, unsigned gen_bits) {
    while (!list_empty(garbage)) {
        pmo_gc_head *h = NEXT(garbage);
        PREFETCH_AHEAD(h);
        pm_object *o = OBJ(h);
        if (g->debug & PM_GC_DEBUG_SAVEALL) {
            make_reachable(o, old, gen_bits);
            append_to_garbage(g, o);
            continue;
        }
        if (pmo_has_clear(o->type)) {
            pm_incref(o);
            pmo_clear(o);
            pm_decref(o);
        }
        if (NEXT(garbage) == h) make_reachable(o, old, gen_bits); /* still alive */
    }
}

static void print_objects(const char *what, pmo_gc_head *l) {
    for (pmo_gc_head *h = NEXT(l); h != l; h = NEXT(h))
        fprintf(stderr, "gc: %s <%s %p>\n", what, OBJ(h)->type->name, (void *)OBJ(h));
}

/* ---- one collection ---------------------------------------------------------- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void record_pause(pm_gc_generation_stats *s, double ms) {
    static const double limits[PM_GC_PAUSE_BUCKETS - 1] = {0.01, 0.03, 0.1, 0.3, 1, 3,
                                                           10,   30,   100, 300, 1000};
    int b = 0;
    while (b < PM_GC_PAUSE_BUCKETS - 1 && ms >= limits[b]) b++;
    s->pause_histogram[b]++;
    s->pause_total_ms += ms;
    if (ms > s->pause_max_ms) s->pause_max_ms = ms;
}

static void run_callbacks(gc_state *g, const char *phase, const pm_gc_info *info) {
    for (int i = 0; i < g->ncallbacks; i++) g->callbacks[i].fn(phase, info, g->callbacks[i].arg);
}

/* Where the survivors of a collection of gen go: the next generation, or
 * the oldest when pacing skips the middle one (see "pacing"). */
static int destination(const gc_state *g, int gen, bool automatic) {
    if (gen == NUM_GENERATIONS - 1) return gen;
    if (automatic && gen == 0 && g->adaptive && g->backoff[1] > 1) return NUM_GENERATIONS - 1;
    return gen + 1;
}

/* Everything after the analysis, on the unreachable objects: legacy
 * finalizers set aside, weak references cleared, finalizers run, the
 * resurrected given back, the rest broken. Survivors go to generation
 * dest. Returns the number collected; *uncollectable gets the others. */
static int64_t dispose(gc_state *g, pmo_gc_head *unreachable, int64_t nunreachable, unsigned summary,
                       int dest, int64_t *uncollectable) {
    pmo_gc_head *old = g->gen[dest], finalizers, garbage;
    list_init(&finalizers);
    list_init(&garbage);
    *uncollectable = 0;
    if (summary & PMO_TP_LEGACY_DEL) {
        move_legacy_finalizers(unreachable, &finalizers, PMO_OF_GEN(dest));
        *uncollectable = list_size(&finalizers);
    }
    if (g->debug & PM_GC_DEBUG_COLLECTABLE) print_objects("collectable", unreachable);
    bool finalizable = false;
    size_t code_ran = 0;
    if (summary & (PMO_TP_FINALIZE | PMO_TP_WEAKREF | SUM_WEAKLY_REFERENCED))
        code_ran = handle_weakrefs(unreachable, &finalizable);
    if (finalizable || code_ran) code_ran += (size_t)finalize_garbage(unreachable);
    int64_t collected = nunreachable - *uncollectable;
    if (code_ran > 0) {
        /* Resurrected objects, and all they reach, are reachable again. Only
         * code (a callback, a finalizer) can resurrect: if none ran, the
         * analysis stands and need not be redone. Code may also have freed
         * garbage by reference counting: count again. */
        unsigned ignored;
        subtract_internal_refs_marked(unreachable);
        split_reachable(unreachable, &garbage, UNTRACK_NONE, PMO_OF_GEN(dest), &collected, &ignored);
        list_merge(unreachable, old);
    } else {
        list_merge(unreachable, &garbage);
    }
    delete_garbage(g, &garbage, old, PMO_OF_GEN(dest));
    if (g->debug & PM_GC_DEBUG_UNCOLLECTABLE) print_objects("uncollectable", &finalizers);
    for (pmo_gc_head *h = NEXT(&finalizers); h != &finalizers; h = NEXT(h)) append_to_garbage(g, OBJ(h));
    list_merge(&finalizers, old);
    return collected;
}

static void record_collection(gc_state *g, int gen, int64_t collected, int64_t uncollectable, double ms) {
    pm_gc_generation_stats *s = &g->stats[gen];
    s->collections++;
    s->collected += (uint64_t)collected;
    s->uncollectable += (uint64_t)uncollectable;
    record_pause(s, ms);
    if (g->debug & PM_GC_DEBUG_STATS)
        fprintf(stderr, "gc: done, %" PRId64 " unreachable, %" PRId64 " uncollectable, %.4fms elapsed\n",
                collected + uncollectable, uncollectable, ms);
}

static int64_t collect(pm_runtime *rt, gc_state *g, int gen, bool automatic) {
    double t0 = now_ms();
    if (g->debug & PM_GC_DEBUG_STATS) fprintf(stderr, "gc: collecting generation %d...\n", gen);
    if (gen + 1 < NUM_GENERATIONS) g->count[gen + 1]++;
    for (int i = 0; i <= gen; i++) g->count[i] = 0;
    rt->gc_young_count = rt->gc_young_allocs = rt->gc_young_lost = 0;
    for (int i = 0; i < gen; i++) list_merge(g->gen[i], g->gen[gen]);
    pmo_gc_head *young = g->gen[gen], unreachable;
    int dest = destination(g, gen, automatic);
    list_init(&unreachable);
    int64_t nunreachable;
    unsigned summary;
    subtract_internal_refs(young, gen);
    int untrack = gen == NUM_GENERATIONS - 1 ? UNTRACK_TUPLES_AND_DICTS : UNTRACK_TUPLES;
    int64_t nreachable =
        split_reachable(young, &unreachable, untrack, PMO_OF_GEN(dest), &nunreachable, &summary);
    if (dest != gen) {
        if (dest == NUM_GENERATIONS - 1) g->long_lived_pending += nreachable;
        list_merge(young, g->gen[dest]);
    } else {
        g->long_lived_pending = 0;
        g->long_lived_total = nreachable;
        rt->gc_old_left = 0;
    }
    int64_t uncollectable, collected = dispose(g, &unreachable, nunreachable, summary, dest, &uncollectable);
    record_collection(g, gen, collected, uncollectable, now_ms() - t0);
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
    rt->gc_young_threshold = g->enabled && t0 > 0 ? t0 : INT64_MAX;
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

static int64_t collect_with_callbacks(pm_runtime *rt, gc_state *g, int gen, bool automatic) {
    g->collecting = true;
    pm_gc_info info = {gen, 0, 0, 0};
    if (g->ncallbacks) run_callbacks(g, "start", &info);
    double t0 = now_ms();
    bool churn = churned(rt);
    int64_t n = collect(rt, g, gen, automatic);
    info.collected = n;
    info.uncollectable = (int64_t)g->stats[gen].uncollectable;
    info.pause_ms = now_ms() - t0;
    if (automatic || n > 0) pace(rt, g, gen, n, churn);
    if (g->ncallbacks) run_callbacks(g, "stop", &info);
    g->collecting = false;
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
    pmo_gc_head *young = g->gen[0];
    int dest = destination(g, 0, true);
    int64_t n = 0;
    for (pmo_gc_head *h = NEXT(young); h != young; h = NEXT(h), n++) {
        PREFETCH_AHEAD(h);
        settle(OBJ(h), PMO_OF_GEN(dest));
    }
    if (dest == NUM_GENERATIONS - 1) g->long_lived_pending += n;
    list_merge(young, g->gen[dest]);
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

/* CPython's choice of generation: the oldest whose count passed its
 * threshold, except that a full collection also waits until the objects
 * that survived young collections since the last full one reach 25% of
 * the long-lived ones (it keeps full collections linear overall). */
void pmgc_auto_collect(pm_runtime *rt) {
    gc_state *g = state_of(rt);
    if (g == NULL || !g->enabled || g->collecting) return;
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

/* ---- the gc module's surface -------------------------------------------------- */

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
    g->adaptive = on != 0;
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

void pm_gc_get_stats(pm_gc_generation_stats out[3]) {
    gc_state *g = state();
    for (int i = 0; i < NUM_GENERATIONS; i++) {
        if (g) out[i] = g->stats[i];
        else memset(&out[i], 0, sizeof out[i]);
    }
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
        memmove(&g->callbacks[i], &g->callbacks[i + 1], (size_t)(g->ncallbacks - i - 1) * sizeof g->callbacks[0]);
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

static bool append_list(pm_object *list, pmo_gc_head *l, pm_object *skip) {
    for (pmo_gc_head *h = NEXT(l); h != l; h = NEXT(h))
        if (OBJ(h) != skip && pm_list_append(list, OBJ(h)) != 0) return false;
    return true;
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
    for (int i = 0; i < NUM_GENERATIONS; i++) {
        if (generation != -1 && generation != i) continue;
        if (!append_list(list, g->gen[i], list)) {
            pm_decref(list);
            return NULL;
        }
    }
    return list;
}

typedef struct referrer_search { pm_object *target; bool found; } referrer_search;

static int visit_find(pm_object *r, void *arg) {
    referrer_search *s = arg;
    if (r == s->target) s->found = true;
    return s->found;
}

pm_object *pm_gc_get_referrers(pm_object *o) {
    gc_state *g = state();
    if (g == NULL) return pmo_no_memory();
    pm_object *list = pm_list_new(0);
    if (list == NULL) return NULL;
    pmo_gc_head *lists[] = {g->gen[0], g->gen[1], g->gen[2], &g->permanent};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
        for (pmo_gc_head *h = NEXT(lists[i]); h != lists[i]; h = NEXT(h)) {
            referrer_search s = {o, false};
            if (OBJ(h) == list) continue;
            pmo_traverse(OBJ(h), visit_find, &s);
            if (s.found && pm_list_append(list, OBJ(h)) != 0) {
                pm_decref(list);
                return NULL;
            }
        }
    }
    return list;
}

static int visit_collect(pm_object *r, void *arg) { return pm_list_append(arg, r) != 0; }

pm_object *pm_gc_get_referents(pm_object *o) {
    if (o == NULL) {
        pm_exc_set(PM_EXC_TYPE, "pm_gc_get_referents: NULL object");
        return NULL;
    }
    pm_object *list = pm_list_new(0);
    if (list && (o->type->flags & PM_TPFLAGS_GC) && pmo_traverse(o, visit_collect, list) != 0) {
        pm_decref(list);
        return NULL;
    }
    return list;
}

/* Give every object of l the generation bits of gen (a list moved whole). */
static void set_generation(pmo_gc_head *l, int gen) {
    for (pmo_gc_head *h = NEXT(l); h != l; h = NEXT(h))
        settle(OBJ(h), PMO_OF_GEN(gen)); /* G1: nothing else to clear */
}

#define PERMANENT NUM_GENERATIONS /* the generation bits of frozen objects */

void pm_gc_freeze(void) {
    gc_state *g = state();
    for (int i = 0; g && i < NUM_GENERATIONS; i++) list_merge(g->gen[i], &g->permanent);
    if (g) set_generation(&g->permanent, PERMANENT);
    pm_runtime *rt = pmo_rt();
    rt->gc_young_count = rt->gc_young_allocs = rt->gc_young_lost = 0;
}

void pm_gc_unfreeze(void) {
    gc_state *g = state();
    if (g == NULL) return;
    set_generation(&g->permanent, NUM_GENERATIONS - 1);
    list_merge(&g->permanent, g->gen[NUM_GENERATIONS - 1]);
}

size_t pm_gc_get_freeze_count(void) {
    gc_state *g = state();
    return g ? (size_t)list_size(&g->permanent) : 0;
}

/* ---- checking ------------------------------------------------------------------ */

static int64_t check_list(pmo_gc_head *l, int gen) {
    int64_t n = 0;
    for (pmo_gc_head *h = NEXT(l); h != l; h = NEXT(h), n++) {
        pm_object *o = OBJ(h);
        const char *breach = NULL;
        if (PREV(NEXT(h)) != h) breach = "broken links";
        else if (!(o->flags & PMO_OF_TRACKED)) breach = "on a list but not tracked";
        else if ((o->flags & PMO_OF_GEN_MASK) != PMO_OF_GEN(gen)) breach = "wrong generation bits";
        else if (o->flags & ANALYSIS_BITS) breach = "collection state left over";
        if (breach) {
            pm_exc_set(PM_EXC_RUNTIME, "gc check: <%s %p> in generation %d: %s", o->type->name,
                       (void *)o, gen, breach);
            return -1;
        }
    }
    return n;
}

int64_t pm_gc_check(void) {
    gc_state *g = state();
    if (g == NULL) return 0;
    int64_t total = 0;
    for (int i = 0; i <= NUM_GENERATIONS; i++) {
        int64_t n = check_list(i < NUM_GENERATIONS ? g->gen[i] : &g->permanent, i);
        if (n < 0) return -1;
        total += n;
    }
    return total;
}
