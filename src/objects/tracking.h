/*
 * tracking.h -- where the tracked objects are: the sets the collector walks,
 * kept without a gc head in front of any object.
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
#ifndef PM_OBJECTS_TRACKING_H
#define PM_OBJECTS_TRACKING_H

#include "heap/heap.h" /* PM_ASSERT */
#include "pymm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMO_OF_SLOT_SHIFT 16
#define PMO_OF_SLOT_MASK (0xffffu << PMO_OF_SLOT_SHIFT)
#define PMO_YOUNG_MAX 0xffffu /* slots 0 .. 0xfffe */

typedef struct pmo_young {
    pm_object **items;
    uint32_t len, cap;
} pmo_young;

#define PMO_MAP_SHIFT 20
#define PMO_MAP_WORDS ((1u << PMO_MAP_SHIFT) / 16 / 64)
enum { PMO_MAP_GEN1, PMO_MAP_GEN2, PMO_MAP_PERM, PMO_NMAPS }; /* map g - 1: generation g */

typedef struct pmo_map_chunk {
    uintptr_t key;                       /* address >> PMO_MAP_SHIFT */
    uint32_t count[PMO_NMAPS];
    uint64_t bits[PMO_NMAPS][PMO_MAP_WORDS];
} pmo_map_chunk;

typedef struct pmo_map {
    pmo_map_chunk **slots; /* open addressing by key; NULL: empty */
    size_t cap, len;
    pmo_map_chunk **order; /* the len chunks by address: walks go in
                              address order, close to allocation order,
                              which the reachability walk likes      */
    pmo_map_chunk *last;   /* the chunk of the last lookup        */
} pmo_map;

static inline size_t pmo_map_bit(const void *o) {
    return ((uintptr_t)o >> 4) & ((1u << (PMO_MAP_SHIFT - 4)) - 1);
}

/* tracking.c */
PMO_HIDDEN pmo_map_chunk *pmo_map_lookup(pmo_map *m, uintptr_t key, bool create);
PMO_HIDDEN void pmo_map_destroy(pmo_map *m);
/* Objects whose bit is set in map `which` (T2's counts summed). */
PMO_HIDDEN size_t pmo_map_count(const pmo_map *m, int which);
/* Write the objects of map `which` to out (room for pmo_map_count);
 * returns how many. */
PMO_HIDDEN size_t pmo_map_collect(const pmo_map *m, int which, pm_object **out);
/* Every bit of map `which` cleared (the collector took them all). */
PMO_HIDDEN void pmo_map_clear(pmo_map *m, int which);

/* The chunk holding o's bit, made if `create` (NULL only then, out of
 * memory); NULL when absent and not to be made. */
static inline pmo_map_chunk *pmo_map_chunk_of(pmo_map *m, const void *o, bool create) {
    uintptr_t key = (uintptr_t)o >> PMO_MAP_SHIFT;
    if (m->last && m->last->key == key) return m->last;
    return pmo_map_lookup(m, key, create);
}

static inline bool pmo_map_add(pmo_map *m, int which, const void *o) {
    if ((uintptr_t)o & 15) return false; /* no bit for it (see the top) */
    pmo_map_chunk *c = pmo_map_chunk_of(m, o, true);
    if (c == NULL) return false;
    size_t b = pmo_map_bit(o);
    c->bits[which][b >> 6] |= 1ull << (b & 63);
    c->count[which]++;
    return true;
}

static inline void pmo_map_remove(pmo_map *m, int which, const void *o) {
    pmo_map_chunk *c = pmo_map_chunk_of(m, o, false);
    size_t b = pmo_map_bit(o);
    PM_ASSERT(c != NULL && (c->bits[which][b >> 6] >> (b & 63) & 1)); /* T1: o has its bit */
    c->bits[which][b >> 6] &= ~(1ull << (b & 63));
    c->count[which]--;
}

/* Call fn(o, arg) for every object whose bit is set in map `which`, in
 * address order within a chunk; stops at the first nonzero result. fn may
 * clear the bit it is given, and set bits of other maps in chunks that
 * exist, nothing else (no chunk may be made meanwhile). */
PMO_HIDDEN int pmo_map_each(pmo_map *m, int which, int (*fn)(pm_object *o, void *arg), void *arg);

#endif
