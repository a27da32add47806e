/*
 * gc.h -- the collector's internal header: what the object layer needs to
 * know of the collector, included by objects/object.h (as Lua's ltable.c
 * includes lgc.h). The object layer and the collector depend on each
 * other: objects are tracked and untracked where they are built and die
 * (object layer), and the collector walks, moves and frees them through
 * their types (collector). Prefix pmgc_ (hidden) for what is defined in
 * src/gc/.
 *
 * Owns: the collector's flag bits of pm_object.flags (8..31; they keep the
 * PMO_OF_ spelling of the header's internal bits, bits 6..7 being the
 * object layer's), the sets the collector walks, kept without a gc head in
 * front of any object, and the hidden entry points of the collector.
 *
 * Generation 0 is a vector in allocation order; a young object's index in
 * it is its flag bits 16..31 (PMO_OF_SLOT), so that death removes it in
 * O(1), leaving a hole (NULL) that compaction or the next collection
 * drops. Generations 1, 2 and permanent are
 * bits in address maps: one bit per 16 bytes of address, in chunks of one
 * MiB (1024 words per map), found by a hash of address >> 20 with the last
 * chunk remembered; one map per generation: 1, 2 and permanent (map
 * g - 1 for generation g). Objects must be 16-aligned, as malloc's are:
 * one that is not (an obj-domain table returning such blocks) gets no bit
 * and is left untracked when it leaves generation 0 (its cycles are then
 * never collected).
 *
 * Invariants (pm_gc_check verifies them):
 *   T1  a tracked object of generation 0 is items[slot] of the young vector
 *       and only there (every other entry below len is NULL); one of
 *       generation g >= 1 has exactly its bit of map g - 1 set; an
 *       untracked object is in none.
 *   T2  a chunk's count[k] is the number of bits set in its bits[k].
 * During a collection the objects of the set being analysed are in none of
 * these (they are the collector's; those of generation 2 keep their bit
 * through the analysis, when no code runs), and their bits 16..31 hold
 * gc_refs.
 */
#ifndef PM_GC_GC_H
#define PM_GC_GC_H

#include "pymm.h"
#include "pm_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Flag bits 8..15 of pm_object.flags belong to the collector. A new
 * object is untracked: bits 8..15 zero; linking it on generation 0 sets
 * TRACKED only (generation 0 is GEN(0)). */
#define PMO_OF_TRACKED (1u << 8)    /* in a generation (the sets below) */
#define PMO_OF_COLLECTING (1u << 9) /* in the set being collected      */
#define PMO_OF_REACHABLE (1u << 10) /* proven reachable in this pass   */
#define PMO_OF_UNTRACKED_DEFERRED                                                                  \
    (1u << 11) /* untracked to be queued for
                  deallocation: re-track it if
                  a finalizer resurrects it    */
#define PMO_OF_GEN_SHIFT                                                                           \
    12 /* bits 12-13: the generation list a
          tracked object is on (3: frozen);
          0 while untracked                */
#define PMO_OF_GEN_MASK (3u << PMO_OF_GEN_SHIFT)
#define PMO_OF_GEN(n) ((unsigned)(n) << PMO_OF_GEN_SHIFT)
#define PMO_OF_TENTATIVE                                                                           \
    (1u << 14) /* set aside as unreachable during the
                  reachability walk               */
#define PMO_OF_NO_SET_REFS                                                                         \
    (1u << 15) /* none of its references leads into
                  the set being analysed          */
/* Bits 16..31: a young object's slot in the young vector, or an analysed
 * object's gc_refs during a collection. */
#define PMO_OF_SLOT_SHIFT 16
#define PMO_OF_SLOT_MASK (0xffffu << PMO_OF_SLOT_SHIFT)

#define PMGC_YOUNG_MAX 0xffffu /* slots 0 .. 0xfffe */

typedef struct pmgc_young {
    pm_object **items;
    uint32_t len, cap;
} pmgc_young;

#define PMGC_MAP_SHIFT 20
#define PMGC_MAP_WORDS ((1u << PMGC_MAP_SHIFT) / 16 / 64)
enum { PMGC_MAP_GEN1, PMGC_MAP_GEN2, PMGC_MAP_PERM, PMGC_NMAPS }; /* map g - 1: generation g */

typedef struct pmgc_map_chunk {
    uintptr_t key; /* address >> PMGC_MAP_SHIFT */
    uint32_t count[PMGC_NMAPS];
    uint64_t bits[PMGC_NMAPS][PMGC_MAP_WORDS];
} pmgc_map_chunk;

typedef struct pmgc_map {
    pmgc_map_chunk **slots; /* open addressing by key; NULL: empty */
    size_t cap, len;
    pmgc_map_chunk **order; /* the len chunks by address: walks go in
                               address order, close to allocation order,
                               which the reachability walk likes      */
    pmgc_map_chunk *last;   /* the chunk of the last lookup           */
} pmgc_map;

static inline size_t pmgc_map_bit(const void *o) {
    return ((uintptr_t)o >> 4) & ((1u << (PMGC_MAP_SHIFT - 4)) - 1);
}

/* tracking.c: the maps */
PM_HIDDEN pmgc_map_chunk *pmgc_map_lookup(pmgc_map *m, uintptr_t key, bool create);
PM_HIDDEN void pmgc_map_destroy(pmgc_map *m);
/* Objects whose bit is set in map `which` (T2's counts summed). */
PM_HIDDEN size_t pmgc_map_count(const pmgc_map *m, int which);
/* Write the objects of map `which` to out (room for pmgc_map_count);
 * returns how many. */
PM_HIDDEN size_t pmgc_map_collect(const pmgc_map *m, int which, pm_object **out);
/* Every bit of map `which` cleared (the collector took them all). */
PM_HIDDEN void pmgc_map_clear(pmgc_map *m, int which);

/* The chunk holding o's bit, made if `create` (NULL only then, out of
 * memory); NULL when absent and not to be made. */
static inline pmgc_map_chunk *pmgc_map_chunk_of(pmgc_map *m, const void *o, bool create) {
    uintptr_t key = (uintptr_t)o >> PMGC_MAP_SHIFT;
    if (m->last && m->last->key == key) return m->last;
    return pmgc_map_lookup(m, key, create);
}

static inline bool pmgc_map_add(pmgc_map *m, int which, const void *o) {
    if ((uintptr_t)o & 15) return false; /* no bit for it (see the top) */
    pmgc_map_chunk *c = pmgc_map_chunk_of(m, o, true);
    if (c == NULL) return false;
    size_t b = pmgc_map_bit(o);
    c->bits[which][b >> 6] |= 1ull << (b & 63);
    c->count[which]++;
    return true;
}

static inline void pmgc_map_remove(pmgc_map *m, int which, const void *o) {
    pmgc_map_chunk *c = pmgc_map_chunk_of(m, o, false);
    size_t b = pmgc_map_bit(o);
    PM_ASSERT(c != NULL && (c->bits[which][b >> 6] >> (b & 63) & 1)); /* T1: o has its bit */
    c->bits[which][b >> 6] &= ~(1ull << (b & 63));
    c->count[which]--;
}

/* Call fn(o, arg) for every object whose bit is set in map `which`, in
 * address order within a chunk; stops at the first nonzero result. fn may
 * clear the bit it is given, and set bits of other maps in chunks that
 * exist, nothing else (no chunk may be made meanwhile). */
PM_HIDDEN int pmgc_map_each(pmgc_map *m, int which, int (*fn)(pm_object *o, void *arg), void *arg);

/* ---- the young vector -------------------------------------------------- */

static inline unsigned pmgc_slot(const pm_object *o) { return o->flags >> PMO_OF_SLOT_SHIFT; }

/* Take a young object out of the young vector: its slot becomes a hole,
 * which the vector's compaction (pmgc_young_room) or the next collection
 * drops; no other object is touched. */
static inline void pmgc_young_remove(pmgc_young *y, pm_object *o) {
    PM_ASSERT(pmgc_slot(o) < y->len && y->items[pmgc_slot(o)] == o); /* T1 */
    y->items[pmgc_slot(o)] = NULL;
}

/* ---- collector.c ------------------------------------------------------- */

/* The one call from the object layer into the collector's decisions:
 * allocation of a GC object is the safe point of automatic collection
 * (CPython's gc_alloc does the same). The object layer knows when; the
 * collector decides what. */
PM_HIDDEN void pmgc_auto_collect(pm_runtime *rt);
/* The young vector is full: grow it, or move its objects on without a
 * collection (no code runs). False when there is still no room (out of
 * memory): the object to be tracked stays untracked. */
PM_HIDDEN bool pmgc_young_room(pm_runtime *rt);
PM_HIDDEN void pmgc_destroy(pm_runtime *rt);
/* The garbage list (pm_gc_garbage) if it was made, else NULL: one
 * reference the collector holds (diag/held.c counts it as internal). */
PM_HIDDEN pm_object *pmgc_garbage_peek(pm_runtime *rt);
/* Debug checks: does rt's collector hold o in the set its flags name? */
PM_HIDDEN bool pmgc_tracks(pm_runtime *rt, pm_object *o);
#define PMGC_DEFAULT_THRESHOLD 2000

/* How often the collector took each of its out-of-memory paths ("slower,
 * never wrong", or documented losses): for tests and diagnostics. */
typedef struct pmgc_fallbacks {
    uint64_t rescans;             /* the walk's stack could not grow: rescan */
    uint64_t refs_unknown;        /* saturated gc_refs with no table room:
                                     taken as reachable this collection     */
    uint64_t young_moved_on;      /* young vector full or not growable:
                                     generation 1 took its objects          */
    uint64_t stayed_young;        /* no map chunk: generation 0 kept it    */
    uint64_t untracked;           /* no map chunk or young slot: an object
                                     left untracked (its cycles uncollected) */
    uint64_t collections_skipped; /* no memory for the set, or for the weak-
                                     reference callbacks: no collection    */
} pmgc_fallbacks;
PM_HIDDEN void pmgc_get_fallbacks(pm_runtime *rt, pmgc_fallbacks *out);

#endif
