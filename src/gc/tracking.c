/*
 * tracking.c -- where tracked objects are: pm_gc_track and pm_gc_untrack
 * (the public entry points; the object layer's constructors and
 * deallocation use the same inline steps of objects/object.h), and the
 * address maps of gc.h: chunk lookup, growth, iteration. The young
 * vector's slow paths live in collector.c, which decides what happens
 * when it fills.
 *
 * Chunks are listed by address too (`order`), for walks in address order.
 * Chunks are kept until the runtime goes (a chunk is 24 KiB per MiB that
 * ever held a tracked object of generation >= 1): a map that shrank and
 * grew again finds them in place.
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"

#include <stdlib.h>
#include <string.h>

/* ---- tracking ------------------------------------------------------------ */

/* Tracking puts a fully built GC object on generation 0; the object layer
 * does it itself for the containers it builds (pmo_gc_link_young), and
 * the collector moves objects on from there. */
void pm_gc_track(pm_object *o) {
    if (o == NULL || !pmo_live(o) || !(o->type->flags & PM_TPFLAGS_GC) ||
        (o->flags & PMO_OF_TRACKED))
        return;
    /* One the collector holds (untracked by a finalizer, tracked again)
     * gets its bit back only: the collector places it (pmo_gc_unlink). */
    if (o->flags & PMO_OF_COLLECTING) o->flags |= PMO_OF_TRACKED;
    else pmo_gc_link_young(pmo_rt(), o);
}

void pm_gc_untrack(pm_object *o) {
    if (o && pmo_live(o) && (o->flags & PMO_OF_TRACKED)) pmo_gc_unlink(pmo_rt(), o);
}

int pm_gc_is_tracked(pm_object *o) { return o && pmo_live(o) && (o->flags & PMO_OF_TRACKED) != 0; }
int pm_gc_is_finalized(pm_object *o) {
    return o && pmo_live(o) && (o->flags & PM_OF_FINALIZED) != 0;
}

/* Does rt's collector track o where its flags say (T1)? One the collector
 * holds (COLLECTING) is in no set: it is taken as rt's own. */
bool pmgc_tracks(pm_runtime *rt, pm_object *o) {
    unsigned gen = (o->flags & PMO_OF_GEN_MASK) >> PMO_OF_GEN_SHIFT;
    if (o->flags & PMO_OF_COLLECTING) return true;
    if (gen == 0) return pmgc_slot(o) < rt->gc_young.len && rt->gc_young.items[pmgc_slot(o)] == o;
    pmgc_map_chunk *c = pmgc_map_chunk_of(&rt->gc_map, o, false);
    size_t b = pmgc_map_bit(o);
    return c && (c->bits[gen - 1][b >> 6] >> (b & 63) & 1);
}

/* ---- the address maps ------------------------------------------------------ */

static size_t slot_of(uintptr_t key, size_t cap) {
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static bool map_grow(pmgc_map *m) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    pmgc_map_chunk **slots = pmh_internal_calloc(cap, sizeof *slots);
    if (slots == NULL) return false;
    for (size_t i = 0; i < m->cap; i++) {
        pmgc_map_chunk *c = m->slots[i];
        if (c == NULL) continue;
        size_t j = slot_of(c->key, cap);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = c;
    }
    pmh_internal_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

pmgc_map_chunk *pmgc_map_lookup(pmgc_map *m, uintptr_t key, bool create) {
    if (m->cap) {
        for (size_t j = slot_of(key, m->cap); m->slots[j]; j = (j + 1) & (m->cap - 1)) {
            if (m->slots[j]->key == key) return m->last = m->slots[j];
        }
    }
    if (!create) return NULL;
    if ((m->len + 1) * 2 > m->cap && !map_grow(m)) return NULL;
    pmgc_map_chunk **order = pmh_internal_realloc(m->order, (m->len + 1) * sizeof *order);
    if (order == NULL) return NULL;
    m->order = order;
    pmgc_map_chunk *c = pmh_internal_calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->key = key;
    size_t at = m->len;
    while (at > 0 && order[at - 1]->key > key) at--;
    memmove(order + at + 1, order + at, (m->len - at) * sizeof *order);
    order[at] = c;
    size_t j = slot_of(key, m->cap);
    while (m->slots[j]) j = (j + 1) & (m->cap - 1);
    m->slots[j] = c;
    m->len++;
    return m->last = c;
}

void pmgc_map_destroy(pmgc_map *m) {
    for (size_t i = 0; i < m->len; i++) pmh_internal_free(m->order[i]);
    pmh_internal_free(m->slots);
    pmh_internal_free(m->order);
    *m = (pmgc_map){0};
}

int pmgc_map_each(pmgc_map *m, int which, int (*fn)(pm_object *o, void *arg), void *arg) {
    for (size_t i = 0; i < m->len; i++) {
        pmgc_map_chunk *c = m->order[i];
        if (c->count[which] == 0) continue;
        uintptr_t base = c->key << PMGC_MAP_SHIFT;
        for (size_t w = 0; w < PMGC_MAP_WORDS; w++) {
            uint64_t bits = c->bits[which][w];
            while (bits) {
                unsigned b = (unsigned)__builtin_ctzll(bits);
                bits &= bits - 1;
                int r = fn((pm_object *)(base + ((w * 64 + b) << 4)), arg);
                if (r) return r;
            }
        }
    }
    return 0;
}

size_t pmgc_map_count(const pmgc_map *m, int which) {
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i]) n += m->slots[i]->count[which];
    return n;
}

void pmgc_map_clear(pmgc_map *m, int which) {
    for (size_t i = 0; i < m->cap; i++) {
        pmgc_map_chunk *c = m->slots[i];
        if (c == NULL || c->count[which] == 0) continue;
        memset(c->bits[which], 0, sizeof c->bits[which]);
        c->count[which] = 0;
    }
}

size_t pmgc_map_collect(const pmgc_map *m, int which, pm_object **out) {
    size_t n = 0;
    for (size_t i = 0; i < m->len; i++) {
        const pmgc_map_chunk *c = m->order[i];
        if (c->count[which] == 0) continue;
        uintptr_t base = c->key << PMGC_MAP_SHIFT;
        for (size_t w = 0; w < PMGC_MAP_WORDS; w++) {
            for (uint64_t bits = c->bits[which][w]; bits; bits &= bits - 1)
                out[n++] = (pm_object *)(base + ((w * 64 + (unsigned)__builtin_ctzll(bits)) << 4));
        }
    }
    return n;
}
