/*
 * weakref.c -- weak references, the per-runtime weak registry, and the
 * weak-value dict.
 *
 * Owns: pm_weakref_type (and the internal keyed variant the weak-value dict
 * uses), struct pmo_weak_registry (rt->weak), pmo_weakrefs_clear (called by
 * pm_dealloc), the collector's entry points (weakref.h), and the weak-value
 * dict type.
 *
 * Which objects: instances of PM_TPFLAGS_WEAKREF types, and the built-ins
 * that allow it in CPython: set, frozenset, generator, type. Not int, str,
 * tuple, list, dict, None, nor weak references themselves.
 *
 * Death of a target (pmo_weakrefs_clear), CPython's PyObject_ClearWeakRefs:
 * every weak reference to it is cleared first; then the callbacks run,
 * newest reference first, each only if its weak reference is still alive,
 * each with a reference held on the weak reference and the pending
 * exception set aside; an exception a callback raises goes to the
 * runtime's unraisable hook (by default printed: "Exception ignored in")
 * and is cleared. A callback may do anything: make or drop weak
 * references (to anything), drop the last reference to its own.
 *
 * Layout. CPython keeps the head of an object's weak-reference list inside
 * the object (tp_weaklistoffset). pymm objects have no such slot, so each
 * runtime keeps a side table: target pointer -> {head, count}. The list
 * itself is threaded through the weak reference objects (prev/next), newest
 * first, exactly like CPython's list for references that have a callback;
 * walking from the head therefore gives CPython's callback order (the most
 * recently created weak reference is called first).
 *
 * Invariants:
 *   W1  wr->target != NULL  <=>  wr is linked in the registry list of
 *       wr->target, whose entry counts it.
 *   W2  a registry entry exists only while its list is non-empty; a mortal
 *       target has PM_OF_HAS_WEAKREF exactly while it has an entry.
 *       Immortal targets never get the flag (they never die, and a static
 *       object may be shared by runtimes on other threads: never written).
 *   W3  once cleared, a weak reference never points to anything again; its
 *       callback runs at most once, and only if the weak reference object
 *       was alive (refcount > 0) when its target died.
 *   W4  the registry's table is plain C memory (not the runtime's heap), so
 *       that object statistics and heap accounting see objects only.
 *
 * Weak references are never shared: every pm_weakref_new makes a new object.
 */
#define _DEFAULT_SOURCE
#include "objects/weakref.h"
#include "objects/containers.h" /* pmo_track */
#include "heap/internal_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pmo_weakref pmo_weakref;

struct pmo_weakref {
    pm_object ob;
    pm_object *target;        /* borrowed; NULL once cleared (W1)       */
    pm_weakref_cb callback;   /* NULL: none, or already taken (W3)      */
    pm_object *arg;           /* strong, may be NULL                    */
    pmo_weakref *prev, *next; /* target's list, newest first           */
    uint64_t hash;            /* cached hash of the target: PM_OF_HASHED */
};

/* The weak-value dict's references also remember their key (CPython's
 * weakref.KeyedRef). */
typedef struct pmo_keyedref {
    pmo_weakref base;
    pm_object *key; /* strong */
} pmo_keyedref;

#define WR(o) ((pmo_weakref *)(o))

/* ---- the registry: target -> list ------------------------------------------
 * Open addressing with linear probing over a power-of-two table, at most
 * half full; deletion shifts the following cluster back, so there are no
 * tombstones and lookups stay short however many targets come and go. */

typedef struct weak_entry {
    pm_object *target; /* NULL: free slot */
    pmo_weakref *head;
    size_t count;
} weak_entry;

struct pmo_weak_registry {
    weak_entry *slots;
    size_t cap, len; /* cap: 0 or a power of two >= REG_MIN */
};

#define REG_MIN 64

static size_t reg_index(const pmo_weak_registry *r, const pm_object *p) {
    uint64_t h = (uint64_t)(uintptr_t)p * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 32) & (r->cap - 1);
}

static weak_entry *reg_find(pmo_weak_registry *r, const pm_object *target) {
    if (r == NULL || r->len == 0) return NULL;
    for (size_t i = reg_index(r, target);; i = (i + 1) & (r->cap - 1)) {
        weak_entry *e = &r->slots[i];
        if (e->target == target) return e;
        if (e->target == NULL) return NULL;
    }
}

/* Move every entry into a table of new_cap slots. false: out of memory,
 * nothing changed. */
static bool reg_resize(pmo_weak_registry *r, size_t new_cap) {
    weak_entry *slots = pmh_internal_calloc(new_cap, sizeof *slots);
    if (slots == NULL) return false;
    weak_entry *old = r->slots;
    size_t old_cap = r->cap;
    r->slots = slots;
    r->cap = new_cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].target == NULL) continue;
        size_t j = reg_index(r, old[i].target);
        while (slots[j].target) j = (j + 1) & (new_cap - 1);
        slots[j] = old[i];
    }
    pmh_internal_free(old);
    return true;
}

/* The entry of target, made empty if absent; NULL when out of memory. */
static weak_entry *reg_insert(pmo_weak_registry *r, pm_object *target) {
    weak_entry *e = reg_find(r, target);
    if (e) return e;
    if ((r->len + 1) * 2 > r->cap && !reg_resize(r, r->cap ? r->cap * 2 : REG_MIN)) return NULL;
    size_t i = reg_index(r, target);
    while (r->slots[i].target) i = (i + 1) & (r->cap - 1);
    e = &r->slots[i];
    *e = (weak_entry){target, NULL, 0};
    r->len++;
    return e;
}

/* Remove e, shifting back the entries after it that would otherwise be cut
 * off from their home slot. */
static void reg_remove(pmo_weak_registry *r, weak_entry *e) {
    size_t mask = r->cap - 1;
    size_t hole = (size_t)(e - r->slots);
    for (size_t i = (hole + 1) & mask; r->slots[i].target; i = (i + 1) & mask) {
        size_t home = reg_index(r, r->slots[i].target);
        /* Entry i may fill the hole when its home is not in (hole, i]. */
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays) continue;
        r->slots[hole] = r->slots[i];
        hole = i;
    }
    r->slots[hole] = (weak_entry){NULL, NULL, 0};
    r->len--;
    /* Give memory back after a burst of targets died (hysteresis: 1/8). */
    if (r->cap > REG_MIN && r->len * 8 < r->cap) (void)reg_resize(r, r->cap / 2);
}

static pmo_weak_registry *registry(pm_runtime *rt, bool create) {
    if (rt->weak == NULL && create) rt->weak = pmh_internal_calloc(1, sizeof *rt->weak);
    return rt->weak;
}

void pmo_weak_registry_destroy(pm_runtime *rt) {
    pmo_weak_registry *r = rt->weak;
    if (r == NULL) return;
    pmh_internal_free(r->slots);
    pmh_internal_free(r);
    rt->weak = NULL;
}

/* ---- linking ---------------------------------------------------------------- */

static void set_flag(pm_object *o) {
    if (!pm_is_immortal(o)) o->flags |= PM_OF_HAS_WEAKREF;
}

static void clear_flag(pm_object *o) {
    if (o->flags & PM_OF_HAS_WEAKREF) o->flags &= ~PM_OF_HAS_WEAKREF; /* W2: no write otherwise */
}

/* Link wr at the head of target's list (newest first). false: out of
 * memory (MemoryError set), wr untouched. */
static bool link_ref(pmo_weakref *wr, pm_object *target) {
    weak_entry *e = NULL;
    pmo_weak_registry *r = registry(pmo_rt(), true);
    if (r) e = reg_insert(r, target);
    if (e == NULL) {
        pmo_no_memory();
        return false;
    }
    wr->target = target;
    wr->prev = NULL;
    wr->next = e->head;
    if (e->head) e->head->prev = wr;
    e->head = wr;
    e->count++;
    set_flag(target);
    return true;
}

/* Unlink wr from its target's list and forget the target (W1). */
static void unlink_ref(pmo_weakref *wr) {
    pm_object *target = wr->target;
    if (target == NULL) return;
    pmo_weak_registry *r = pmo_rt()->weak;
    weak_entry *e = reg_find(r, target);
    if (wr->prev) wr->prev->next = wr->next;
    else if (e) e->head = wr->next;
    if (wr->next) wr->next->prev = wr->prev;
    wr->target = NULL;
    wr->prev = wr->next = NULL;
    if (e && --e->count == 0) {
        clear_flag(target);
        reg_remove(r, e);
    }
}

/* ---- the weak reference types ------------------------------------------------ */

static void weakref_dealloc(pm_object *self);
static int weakref_traverse(pm_object *self, pm_visit_fn visit, void *arg);
static int weakref_clear(pm_object *self);
static pm_object *weakref_repr(pm_object *self);
static int weakref_hash(pm_object *self, uint64_t *out);
static int weakref_compare(pm_object *a, pm_object *b, int op);
static void keyedref_dealloc(pm_object *self);
static int keyedref_traverse(pm_object *self, pm_visit_fn visit, void *arg);
static int keyedref_clear(pm_object *self);

pm_type pm_weakref_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "weakref.ReferenceType",
    .basicsize = sizeof(pmo_weakref),
    .flags = PM_TPFLAGS_GC,
    .internal = PMO_TP_WEAKREF,
    .slots =
        {
            .dealloc = weakref_dealloc,
            .traverse = weakref_traverse,
            .clear = weakref_clear,
            .repr = weakref_repr,
            .hash = weakref_hash,
            .compare = weakref_compare,
        },
};

static pm_type keyedref_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "weakref.KeyedRef",
    .basicsize = sizeof(pmo_keyedref),
    .flags = PM_TPFLAGS_GC,
    .internal = PMO_TP_WEAKREF,
    .slots =
        {
            .dealloc = keyedref_dealloc,
            .traverse = keyedref_traverse,
            .clear = keyedref_clear,
            .repr = weakref_repr,
            .hash = weakref_hash,
            .compare = weakref_compare,
        },
};

bool pmo_is_weakref(const pm_object *o) { return o && (o->type->internal & PMO_TP_WEAKREF); }

/* The target while it is alive, else NULL (borrowed). A target whose count
 * is zero is being deallocated (or waits in the deferred queue): dead. */
static pm_object *live_target(const pmo_weakref *wr) {
    pm_object *t = wr->target;
    return t && t->refcnt > 0 ? t : NULL;
}

static void weakref_dealloc(pm_object *self) {
    pmo_weakref *wr = WR(self);
    unlink_ref(wr);
    wr->callback = NULL;
    PM_CLEAR(wr->arg);
}

static void keyedref_dealloc(pm_object *self) {
    weakref_dealloc(self);
    PM_CLEAR(((pmo_keyedref *)self)->key);
}

static int weakref_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    pm_object *a = WR(self)->arg;
    return a ? visit(a, arg) : 0;
}

static int keyedref_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    int r = weakref_traverse(self, visit, arg);
    pm_object *k = ((pmo_keyedref *)self)->key;
    return r ? r : k ? visit(k, arg) : 0;
}

/* The collector's clear: forget the target and the callback (CPython's
 * clear_weakref), so nothing will call back into a broken cycle. */
static int weakref_clear(pm_object *self) {
    pmo_weakref *wr = WR(self);
    unlink_ref(wr);
    wr->callback = NULL;
    PM_CLEAR(wr->arg);
    return 0;
}

static int keyedref_clear(pm_object *self) {
    weakref_clear(self);
    PM_CLEAR(((pmo_keyedref *)self)->key);
    return 0;
}

static pm_object *weakref_repr(pm_object *self) {
    pm_object *t = live_target(WR(self));
    if (t == NULL) return pm_str_format("<weakref at %p; dead>", (void *)self);
    return pm_str_format("<weakref at %p; to '%s' at %p>", (void *)self, t->type->name, (void *)t);
}

/* The target's hash, computed once (so it survives the target). */
static int weakref_hash(pm_object *self, uint64_t *out) {
    pmo_weakref *wr = WR(self);
    if (self->flags & PM_OF_HASHED) {
        *out = wr->hash;
        return 0;
    }
    pm_object *t = live_target(wr);
    if (t == NULL) {
        pm_exc_set(PM_EXC_TYPE, "weak object has gone away");
        return -1;
    }
    pm_incref(t);
    int r = pm_hash(t, &wr->hash);
    pm_decref(t);
    if (r < 0) return -1;
    self->flags |= PM_OF_HASHED;
    *out = wr->hash;
    return 0;
}

/* Equal when the targets are equal; a dead reference equals only itself. */
static int weakref_compare(pm_object *a, pm_object *b, int op) {
    if ((op != PM_EQ && op != PM_NE) || !pmo_is_weakref(a) || !pmo_is_weakref(b))
        return PM_CMP_UNSUPPORTED;
    pm_object *ta = live_target(WR(a)), *tb = live_target(WR(b));
    if (ta == NULL || tb == NULL) return (a == b) == (op == PM_EQ);
    pm_incref(ta);
    pm_incref(tb);
    int r = pm_compare(ta, tb, op);
    pm_decref(ta);
    pm_decref(tb);
    return r;
}

/* ---- creation and access ------------------------------------------------------- */

/* Which objects may be weakly referenced: types that say so, and the
 * built-ins that allow it in CPython (sets, generators, types). */
static bool allows_weakrefs(const pm_object *o) {
    const pm_type *t = o->type;
    return (t->flags & PM_TPFLAGS_WEAKREF) || t == &pm_set_type || t == &pm_frozenset_type ||
           t == &pm_generator_type || t == &pm_type_type;
}

/* A new weak reference of type t (pm_weakref_type or keyedref_type) to o. */
static pmo_weakref *weakref_create(pm_type *t, pm_object *o, pm_weakref_cb callback,
                                   pm_object *arg) {
    if (o == NULL) {
        pmo_null_arg("cannot create weak reference to NULL");
        return NULL;
    }
    if (!pmo_live_in(o, t == &pm_weakref_type ? "pm_weakref_new" : "pm_weakvaluedict_set") ||
        !(arg == NULL || pmo_live_in(arg, "pm_weakref_new")))
        return NULL;
    if (!allows_weakrefs(o)) {
        pm_exc_set(PM_EXC_TYPE, "cannot create weak reference to '%s' object", o->type->name);
        return NULL;
    }
    if (o->refcnt == 0) {
        /* Its weak references are being (or have been) cleared: a new one
         * would outlive it. */
        pm_exc_set(PM_EXC_RUNTIME, "cannot create weak reference to '%s' object being deallocated",
                   o->type->name);
        return NULL;
    }
    pmo_weakref *wr = (pmo_weakref *)pmo_alloc(t, t->basicsize);
    if (wr == NULL) return NULL;
    memset((char *)wr + sizeof(pm_object), 0, t->basicsize - sizeof(pm_object));
    if (!link_ref(wr, o)) {
        pm_decref(&wr->ob);
        return NULL;
    }
    wr->callback = callback;
    wr->arg = arg ? pm_newref(arg) : NULL;
    return wr;
}

/* Weak references are tracked like CPython's (the collector must see those
 * that are garbage themselves, callback or not); only once complete. */
static pm_object *track(pmo_weakref *wr) {
    pmo_track(&wr->ob);
    return &wr->ob;
}

pm_object *pm_weakref_new(pm_object *o, pm_weakref_cb callback, pm_object *arg) {
    pmo_weakref *wr = weakref_create(&pm_weakref_type, o, callback, arg);
    return wr ? track(wr) : NULL;
}

pm_object *pm_weakref_get(pm_object *wr) {
    if (wr == NULL || (wr->flags & PMO_OF_DEAD) || !pmo_is_weakref(wr)) {
        pmo_arg_error("a weak reference", wr, __func__);
        return NULL;
    }
    pm_object *t = live_target(WR(wr));
    return t ? pm_newref(t) : pm_none();
}

size_t pm_weakref_count(pm_object *o) {
    if (o == NULL || !pmo_live(o) || !(pm_is_immortal(o) || (o->flags & PM_OF_HAS_WEAKREF)))
        return 0;
    weak_entry *e = reg_find(pmo_rt()->weak, o);
    return e ? e->count : 0;
}

/* ---- clearing and callbacks ---------------------------------------------------- */

void pmo_weakref_run_callback(pm_object *o) {
    pmo_weakref *wr = WR(o);
    pm_weakref_cb cb = wr->callback;
    if (cb == NULL) return;
    /* W3: take the callback and its argument first, so it runs once even if
     * the callback reenters. */
    pm_object *arg = wr->arg;
    wr->callback = NULL;
    wr->arg = NULL;
    /* What the callback raises goes to the unraisable hook: a failing
     * callback must not stop the others, nor replace the pending exception. */
    pm_runtime *rt = pmo_rt();
    pmo_exc_saved saved;
    pmo_unraisable_begin(rt, &saved);
    cb(o, arg);
    pmo_unraisable_end(rt, &saved, "weakref callback of", o);
    pm_xdecref(arg);
}

bool pmo_weakref_has_callback(const pm_object *wr) { return WR(wr)->callback != NULL; }

void pmo_weakref_clear_ref(pm_object *wr) { unlink_ref(WR(wr)); }

pm_object *pmo_weakrefs_first(pm_object *o) {
    if (!(pm_is_immortal(o) || (o->flags & PM_OF_HAS_WEAKREF))) return NULL;
    weak_entry *e = reg_find(pmo_rt()->weak, o);
    return e && e->head ? &e->head->ob : NULL;
}

pm_object *pmo_weakref_next(pm_object *wr) {
    pmo_weakref *n = WR(wr)->next;
    return n ? &n->ob : NULL;
}

/* Detach o's whole list and clear every reference in it (they return None
 * from now on). When run_callbacks, the ones that are alive and have a
 * callback are returned as a chain, each with a new reference, linked
 * through `next` in list order (newest first). Those links are free: a
 * cleared reference is never linked to a target again (W3), and the
 * references held keep them from being freed while the chain exists. */
static pmo_weakref *detach_all(pm_object *o, bool run_callbacks) {
    pmo_weak_registry *r = pmo_rt()->weak;
    weak_entry *e = reg_find(r, o);
    clear_flag(o);
    if (e == NULL) return NULL;
    pmo_weakref *wr = e->head;
    reg_remove(r, e);
    pmo_weakref *chain = NULL, **tail = &chain;
    while (wr) {
        pmo_weakref *next = wr->next;
        wr->target = NULL;
        wr->prev = wr->next = NULL;
        if (run_callbacks && wr->callback && wr->ob.refcnt > 0) {
            pm_incref(&wr->ob);
            *tail = wr;
            tail = &wr->next;
        }
        wr = next;
    }
    return chain;
}

void pmo_weakrefs_clear(pm_object *o, bool run_callbacks) {
    pmo_weakref *chain = detach_all(o, run_callbacks);
    /* Every reference is cleared before the first callback runs, as in
     * CPython: a callback sees all of them dead. */
    while (chain) {
        pmo_weakref *wr = chain;
        chain = wr->next;
        wr->next = NULL;
        pmo_weakref_run_callback(&wr->ob);
        pm_decref(&wr->ob); /* may free it: the callback could drop the last other ref */
    }
}

/* ---- the weak-value dict -------------------------------------------------------
 * A dict key -> keyed weak reference to the value. Each reference's callback
 * removes its entry, if the entry still holds that same reference. The
 * callback reaches the dict through a weak reference to it (selfref), held
 * by the dict and passed as every entry's argument: the entries so hold no
 * strong reference to their dict, and a dict that died (or is dying) makes
 * the callback a no-op. */

typedef struct pmo_wvdict {
    pm_object ob;
    pm_object *dict;    /* key -> keyed weak reference */
    pm_object *selfref; /* a weak reference to this object */
} pmo_wvdict;

static void wvd_dealloc(pm_object *self);
static int wvd_traverse(pm_object *self, pm_visit_fn visit, void *arg);
static int wvd_clear(pm_object *self);
static int64_t wvd_length(pm_object *self);

static pm_type wvd_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "weakref.WeakValueDictionary",
    .basicsize = sizeof(pmo_wvdict),
    .flags = PM_TPFLAGS_GC | PM_TPFLAGS_WEAKREF,
    .slots =
        {
            .dealloc = wvd_dealloc,
            .traverse = wvd_traverse,
            .clear = wvd_clear,
            .length = wvd_length,
        },
};

#define WVD(o) ((pmo_wvdict *)(o))

static void wvd_dealloc(pm_object *self) {
    PM_CLEAR(WVD(self)->dict);
    PM_CLEAR(WVD(self)->selfref);
}

static int wvd_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    pmo_wvdict *d = WVD(self);
    int r = d->dict ? visit(d->dict, arg) : 0;
    return r ? r : d->selfref ? visit(d->selfref, arg) : 0;
}

static int wvd_clear(pm_object *self) {
    wvd_dealloc(self);
    return 0;
}

/* The check of every public entry (pmo_arg_is): a live weak-value dict. */
#define is_wvd(d) is_wvd_in(d, __func__)
static bool is_wvd_in(pm_object *d, const char *api) {
    if (!pmo_arg_is(d, &wvd_type, "a weak-value dict", api)) return false;
    if (WVD(d)->dict) return true;
    pmo_type_error("a weak-value dict", d); /* cleared by the collector */
    return false;
}

pm_object *pm_weakvaluedict_new(void) {
    pm_object *self = pmo_alloc(&wvd_type, sizeof(pmo_wvdict));
    if (self == NULL) return NULL;
    pmo_wvdict *d = WVD(self);
    d->dict = NULL;
    d->selfref = NULL;
    if ((d->dict = pm_dict_new()) == NULL ||
        (d->selfref = pm_weakref_new(self, NULL, NULL)) == NULL) {
        pm_decref(self);
        return NULL;
    }
    pmo_track(self);
    return self;
}

/* An entry's value died: drop the entry if it is still this reference. */
static void wvd_entry_died(pm_object *wr, pm_object *selfref) {
    pm_object *self = selfref ? live_target(WR(selfref)) : NULL;
    pm_object *key = ((pmo_keyedref *)wr)->key;
    if (self == NULL || key == NULL || WVD(self)->dict == NULL) return;
    pm_incref(self);
    pm_object *dict = WVD(self)->dict;
    if (pm_dict_get(dict, key) == wr) (void)pm_dict_del(dict, key);
    pm_decref(self); /* an error is reported by pmo_weakref_run_callback */
}

int pm_weakvaluedict_set(pm_object *d, pm_object *key, pm_object *value) {
    if (!is_wvd(d)) return -1;
    if (key == NULL) {
        pmo_null_arg("pm_weakvaluedict_set: NULL key");
        return -1;
    }
    if (!pmo_live(key)) return -1;
    pmo_weakref *wr = weakref_create(&keyedref_type, value, wvd_entry_died, WVD(d)->selfref);
    if (wr == NULL) return -1;
    ((pmo_keyedref *)wr)->key = pm_newref(key);
    int r = pm_dict_set(WVD(d)->dict, key, track(wr));
    pm_decref(&wr->ob); /* on failure this unlinks it again: nothing changed */
    return r;
}

pm_object *pm_weakvaluedict_get(pm_object *d, pm_object *key) {
    if (!is_wvd(d)) return NULL;
    pm_object *wr = pm_dict_get(WVD(d)->dict, key);
    pm_object *t = wr ? live_target(WR(wr)) : NULL;
    return t ? pm_newref(t) : NULL;
}

size_t pm_weakvaluedict_size(pm_object *d) {
    if (!is_wvd(d)) return 0;
    size_t pos = 0, live = 0;
    pm_object *key, *wr;
    while (pm_dict_next(WVD(d)->dict, &pos, &key, &wr))
        if (live_target(WR(wr))) live++;
    return live;
}

static int64_t wvd_length(pm_object *self) { return (int64_t)pm_weakvaluedict_size(self); }
