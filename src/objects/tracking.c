/*
 * tracking.c -- the address maps of tracking.h: chunk lookup, growth,
 * iteration. The young vector's slow paths live with the collector, which
 * decides what happens when it fills.
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

static size_t slot_of(uintptr_t key, size_t cap) {
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static bool map_grow(pmo_map *m) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    pmo_map_chunk **slots = pmh_internal_calloc(cap, sizeof *slots);
    if (slots == NULL) return false;
    for (size_t i = 0; i < m->cap; i++) {
        pmo_map_chunk *c = m->slots[i];
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

pmo_map_chunk *pmo_map_lookup(pmo_map *m, uintptr_t key, bool create) {
    if (m->cap) {
        for (size_t j = slot_of(key, m->cap); m->slots[j]; j = (j + 1) & (m->cap - 1)) {
            if (m->slots[j]->key == key) return m->last = m->slots[j];
        }
    }
    if (!create) return NULL;
    if ((m->len + 1) * 2 > m->cap && !map_grow(m)) return NULL;
    pmo_map_chunk **order = pmh_internal_realloc(m->order, (m->len + 1) * sizeof *order);
    if (order == NULL) return NULL;
    m->order = order;
    pmo_map_chunk *c = pmh_internal_calloc(1, sizeof *c);
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

void pmo_map_destroy(pmo_map *m) {
    for (size_t i = 0; i < m->len; i++) pmh_internal_free(m->order[i]);
    pmh_internal_free(m->slots);
    pmh_internal_free(m->order);
    *m = (pmo_map){0};
}

int pmo_map_each(pmo_map *m, int which, int (*fn)(pm_object *o, void *arg), void *arg) {
    for (size_t i = 0; i < m->len; i++) {
        pmo_map_chunk *c = m->order[i];
        if (c->count[which] == 0) continue;
        uintptr_t base = c->key << PMO_MAP_SHIFT;
        for (size_t w = 0; w < PMO_MAP_WORDS; w++) {
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

size_t pmo_map_count(const pmo_map *m, int which) {
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i]) n += m->slots[i]->count[which];
    return n;
}

void pmo_map_clear(pmo_map *m, int which) {
    for (size_t i = 0; i < m->cap; i++) {
        pmo_map_chunk *c = m->slots[i];
        if (c == NULL || c->count[which] == 0) continue;
        memset(c->bits[which], 0, sizeof c->bits[which]);
        c->count[which] = 0;
    }
}

size_t pmo_map_collect(const pmo_map *m, int which, pm_object **out) {
    size_t n = 0;
    for (size_t i = 0; i < m->len; i++) {
        const pmo_map_chunk *c = m->order[i];
        if (c->count[which] == 0) continue;
        uintptr_t base = c->key << PMO_MAP_SHIFT;
        for (size_t w = 0; w < PMO_MAP_WORDS; w++) {
            for (uint64_t bits = c->bits[which][w]; bits; bits &= bits - 1)
                out[n++] = (pm_object *)(base + ((w * 64 + (unsigned)__builtin_ctzll(bits)) << 4));
        }
    }
    return n;
}
