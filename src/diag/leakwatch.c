/*
 * leakwatch.c -- what growth verdicts remember between checkpoints: the
 * length of every list, dict and set a leak check saw, with how many
 * checkpoints in a row it grew and by how much (pm_leak_watch).
 *
 * Owns pm_leak_watch: a table by (address, type) of the containers seen
 * at the last checkpoint. Each checkpoint builds a new table from the
 * containers it is given, carrying over an entry whose container is at
 * the same address with the same type, and drops the old one: a container
 * that died leaves with it.
 *
 * Invariants:
 *   W1  streak counts the checkpoints in a row, after the warm-up ones,
 *       at which the length grew; delta[] holds the last min(streak, K)
 *       changes, oldest first. A length that did not grow resets streak.
 *   W2  A checkpoint's growth counts only from checkpoint warmup + 1 on
 *       (checkpoints are numbered from 1): the first `warmup` fill caches.
 *   W3  A container at an address whose entry names another type is a new
 *       container (the old one died and its block was reused).
 *   W4  A step that cannot allocate its table (MemoryError) leaves the
 *       watch as it was; once the table is made, the checkpoint counts.
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"

#include <string.h>

#define WATCH_MAX_K 8

typedef struct watch_entry {
    uintptr_t addr; /* 0: empty */
    const pm_type *type;
    int64_t len;
    uint32_t streak;
    int64_t delta[WATCH_MAX_K];
} watch_entry;

struct pm_leak_watch {
    unsigned k, warmup;
    uint64_t checkpoints;
    watch_entry *slots; /* open addressing, at most half full */
    size_t cap;
};

pm_leak_watch *pm_leak_watch_new(unsigned k, unsigned warmup) {
    if (k > WATCH_MAX_K) {
        pm_exc_set(PM_EXC_VALUE, "pm_leak_watch_new: k must be at most %d", WATCH_MAX_K);
        return NULL;
    }
    pm_leak_watch *w = pmh_internal_calloc(1, sizeof *w);
    if (w == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "pm_leak_watch_new: no memory");
        return NULL;
    }
    w->k = k ? k : 3;
    w->warmup = warmup == PM_LEAK_WARMUP_DEFAULT ? 1 : warmup;
    return w;
}

void pm_leak_watch_free(pm_leak_watch *w) {
    if (w == NULL) return;
    pmh_internal_free(w->slots);
    pmh_internal_free(w);
}

static size_t slot_of(const watch_entry *slots, size_t cap, uintptr_t addr) {
    size_t i = (size_t)((addr >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
    while (slots[i].addr != 0 && slots[i].addr != addr) i = (i + 1) & (cap - 1);
    return i;
}

/* The new entry of container o of length len, from its old one (W1-W3). */
static watch_entry step_entry(const pm_leak_watch *w, const watch_entry *old, pm_object *o,
                              int64_t len) {
    watch_entry e = {.addr = (uintptr_t)o, .type = o->type, .len = len};
    bool counts = w->checkpoints > w->warmup; /* W2 (checkpoints is this one's number) */
    if (old == NULL || old->type != o->type || !counts || len <= old->len) return e;
    e.streak = old->streak + 1;
    size_t have = old->streak < w->k ? old->streak : w->k; /* changes it holds */
    if (have == w->k) {                                    /* the oldest leaves */
        memcpy(e.delta, old->delta + 1, (have - 1) * sizeof *e.delta);
        have--;
    } else {
        memcpy(e.delta, old->delta, have * sizeof *e.delta);
    }
    e.delta[have] = len - old->len;
    return e;
}

int pmd_watch_step(pm_leak_watch *w, pm_object *const *containers, size_t n, pmd_growth_fn fn,
                   void *arg) {
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    watch_entry *slots = pmh_internal_calloc(cap, sizeof *slots);
    if (slots == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "leak check: no memory for the growth watch");
        return -1;
    }
    w->checkpoints++;
    for (size_t i = 0; i < n; i++) {
        pm_object *o = containers[i];
        const watch_entry *old = NULL;
        if (w->cap) {
            size_t j = slot_of(w->slots, w->cap, (uintptr_t)o);
            if (w->slots[j].addr) old = &w->slots[j];
        }
        slots[slot_of(slots, cap, (uintptr_t)o)] = step_entry(w, old, o, pm_len(o));
    }
    pmh_internal_free(w->slots);
    w->slots = slots;
    w->cap = cap;
    for (size_t i = 0; i < n; i++) {
        const watch_entry *e = &slots[slot_of(slots, cap, (uintptr_t)containers[i])];
        if (e->streak >= w->k && fn(arg, containers[i], e->delta, w->k) != 0) return -1;
    }
    return 0;
}
