/*
 * set.c -- pm_set_type and pm_frozenset_type: hash tables of keys.
 *
 * One layout for both: an open-addressing table of {key, hash} entries,
 * inline (8 entries) while small. Probing is CPython's: up to LINEAR_PROBES
 * neighbours of a slot are tried first (cache friendly), then the slot
 * jumps as the dict's does, i = (5i + 1 + perturb) & mask, with perturb the
 * hash shifted right by 5 each round.
 *
 * Owns set and frozenset behaviour and pm_set_* / pm_frozenset_new.
 *
 * Invariants:
 *   S1  an entry is empty (key NULL), a dummy (key == &dummy: deleted,
 *       probing continues past it) or active (key owned, C1).
 *   S2  fill (active + dummy) stays below 3/5 of the slots: an insert that
 *       would pass it first rebuilds the table for used*4 (used*2 past
 *       50,000) slots, without dummies. So a probe always meets an empty
 *       entry and ends.
 *   S3  table is `small` while mask == SMALL_SIZE - 1, else a pmo_mem block.
 *   S4  every mutation bumps version; a lookup that runs code (pm_equal on
 *       non-identical keys) restarts when version changed meanwhile.
 *   S5  a frozenset is not changed once shared: pm_set_add accepts one only
 *       while its refcount is 1 (being built). Its hash is cached.
 *   S6  on error nothing changes (C3): the table grows before a key is
 *       stored, never after.
 */
#include "containers.h"

#define SMALL_SIZE 8
#define LINEAR_PROBES 9
#define PERTURB_SHIFT 5

typedef struct set_entry {
    pm_object *key;
    uint64_t hash;
} set_entry;

typedef struct pmo_set {
    pm_object ob;
    size_t fill, used, mask;
    set_entry *table;
    uint64_t version;
    uint64_t hash; /* frozenset: valid when hashed */
    bool hashed;
    set_entry small[SMALL_SIZE];
} pmo_set;

#define PMO_SET(o) ((pmo_set *)(o))

/* S1: the marker of deleted entries; never a key of anything. */
static pm_object dummy = PMO_STATIC_HEADER(&pm_none_type);

static void set_dealloc(pm_object *self);
static int set_traverse(pm_object *self, pm_visit_fn visit, void *arg);
static int set_clear(pm_object *self);
static pm_object *set_repr(pm_object *self);
static int set_compare(pm_object *a, pm_object *b, int op);
static int64_t set_length(pm_object *self);
static int set_contains(pm_object *self, pm_object *key);
static int frozenset_hash(pm_object *self, uint64_t *out);

/* The table outside the object, when it outgrew `small` (diag/sizes.c). */
static size_t set_owned_size(pm_object *o) {
    const pmo_set *s = PMO_SET(o);
    if (s->table == s->small) return 0;
    return pmo_mem_size(s->table, (s->mask + 1) * sizeof(set_entry));
}

#define SET_SLOTS                                                                                  \
    .dealloc = set_dealloc, .traverse = set_traverse, .clear = set_clear, .repr = set_repr,        \
    .compare = set_compare, .length = set_length, .contains = set_contains, .iter = pmo_seq_iter

pm_type pm_set_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "set",
    .basicsize = sizeof(pmo_set),
    .flags = PM_TPFLAGS_GC,
    .slots = {SET_SLOTS},
    .owned_size = set_owned_size,
};

pm_type pm_frozenset_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "frozenset",
    .basicsize = sizeof(pmo_set),
    .flags = PM_TPFLAGS_GC,
    .slots = {SET_SLOTS, .hash = frozenset_hash},
    .owned_size = set_owned_size,
};

static inline bool is_active(const set_entry *e) { return e->key && e->key != &dummy; }

/* ---- hashing ------------------------------------------------------------------ */

/* A strong 64-bit finalizer (MurmurHash3's), so that summing scrambled item
 * hashes does not cancel structure (e.g. {1, 2} vs {0, 3}). */
static uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Order-independent hash of the contents: equal sets hash alike whatever
 * their table history, and a set hashes as the equal frozenset would. */
static uint64_t content_hash(pmo_set *s) {
    uint64_t acc = 0;
    for (size_t i = 0; i <= s->mask; i++)
        if (is_active(&s->table[i])) acc += mix64(s->table[i].hash);
    acc ^= ((uint64_t)s->used + 1) * 0x9E3779B97F4A7C15ULL;
    return mix64(acc);
}

static int frozenset_hash(pm_object *self, uint64_t *out) {
    pmo_set *s = PMO_SET(self);
    if (!s->hashed) {
        s->hash = content_hash(s);
        s->hashed = true;
    }
    *out = s->hash;
    return 0;
}

/* The hash a key is looked up with: a set, unhashable itself, is looked
 * up as the equal frozenset (Python's `{1} in {frozenset({1})}`). */
static int key_hash(pm_object *key, uint64_t *out) {
    if (key->type == &pm_set_type) {
        *out = content_hash(PMO_SET(key));
        return 0;
    }
    return pm_hash(key, out);
}

/* ---- table -------------------------------------------------------------------- */

/* An entry for a key known to be absent, in a table without dummies. */
static set_entry *find_empty(set_entry *table, size_t mask, uint64_t hash) {
    size_t i = (size_t)hash & mask;
    uint64_t perturb = hash;
    for (;;) {
        set_entry *e = &table[i];
        size_t probes = i + LINEAR_PROBES <= mask ? LINEAR_PROBES : 0;
        do {
            if (!e->key) return e;
            e++;
        } while (probes--);
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + 1 + (size_t)perturb) & mask;
    }
}

/* S2, S3: move the active entries into a table of more than minused slots.
 * No code runs; 0 or -1 (MemoryError, nothing changed). */
static int set_resize(pmo_set *s, size_t minused) {
    size_t size = SMALL_SIZE;
    while (size <= minused) {
        if (size > SIZE_MAX / 2 / sizeof(set_entry)) {
            pmo_no_memory();
            return -1;
        }
        size <<= 1;
    }
    set_entry *old = s->table, copy[SMALL_SIZE];
    size_t oldmask = s->mask;
    set_entry *table;
    if (size == SMALL_SIZE) {
        if (old == s->small) { /* rebuilding in place: move the entries aside */
            memcpy(copy, old, sizeof copy);
            old = copy;
        }
        table = s->small;
    } else {
        table = pmo_mem_malloc(size * sizeof(set_entry));
        if (!table) return -1;
    }
    memset(table, 0, size * sizeof(set_entry));
    for (size_t i = 0; i <= oldmask; i++)
        if (is_active(&old[i])) *find_empty(table, size - 1, old[i].hash) = old[i];
    if (old != s->small && old != copy) pmo_mem_free(old);
    s->table = table;
    s->mask = size - 1;
    s->fill = s->used;
    s->version++;
    return 0;
}

/* Equality of an active entry's key with key: 1, 0, -1, 2 when the set
 * changed meanwhile (S4: restart). */
static int entry_equal(pmo_set *s, pm_object *sk, pm_object *key) {
    uint64_t version = s->version;
    pm_incref(sk);
    int r = pm_equal(sk, key);
    pm_decref(sk);
    if (r >= 0 && s->version != version) return 2;
    return r;
}

/* The active entry holding key, or NULL: then *err tells an error (-1)
 * from absence (0), and *free_slot (when given) the first dummy or empty
 * entry on the key's probe sequence, where it would go. */
static set_entry *set_lookup(pmo_set *s, pm_object *key, uint64_t hash, int *err,
                             set_entry **free_slot) {
restart:;
    size_t mask = s->mask, i = (size_t)hash & mask;
    uint64_t perturb = hash;
    set_entry *table = s->table, *freeslot = NULL;
    *err = 0;
    for (;;) {
        set_entry *e = &table[i];
        size_t probes = i + LINEAR_PROBES <= mask ? LINEAR_PROBES : 0;
        do {
            if (!e->key) {
                if (free_slot) *free_slot = freeslot ? freeslot : e;
                return NULL;
            }
            if (e->key == key) return e;
            if (e->key == &dummy) {
                if (!freeslot) freeslot = e;
            } else if (e->hash == hash) {
                int r = entry_equal(s, e->key, key);
                if (r < 0) {
                    *err = -1;
                    return NULL;
                }
                if (r == 2) goto restart;
                if (r) return e;
            }
            e++;
        } while (probes--);
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + 1 + (size_t)perturb) & mask;
    }
}

/* Add key (borrowed) with its hash: 1 added, 0 already there, -1 error. */
static int set_insert(pmo_set *s, pm_object *key, uint64_t hash) {
    int err;
    set_entry *slot;
    if (set_lookup(s, key, hash, &err, &slot)) return 0;
    if (err) return -1;
    if (!slot->key && (s->fill + 1) * 5 >= s->mask * 3) { /* S2, S6 */
        size_t used = s->used + 1;
        if (set_resize(s, used > 50000 ? used * 2 : used * 4) < 0) return -1;
        slot = find_empty(s->table, s->mask, hash);
    }
    if (!slot->key) s->fill++;
    slot->key = pm_newref(key);
    slot->hash = hash;
    s->used++;
    s->version++;
    s->hashed = false;
    return 1;
}

/* Remove an active entry; its reference goes last. */
static void set_remove(pmo_set *s, set_entry *e) {
    pm_object *key = e->key;
    e->key = &dummy;
    s->used--;
    s->version++;
    pm_decref(key);
}

/* ---- construction ----------------------------------------------------------- */

static pm_object *set_alloc(pm_type *t) {
    pm_object *o = pmo_alloc(t, sizeof(pmo_set));
    if (!o) return NULL;
    pmo_set *s = PMO_SET(o);
    s->fill = s->used = 0;
    s->mask = SMALL_SIZE - 1;
    s->table = s->small;
    s->version = 0;
    s->hashed = false;
    memset(s->small, 0, sizeof s->small);
    pmo_track(o);
    return o;
}

/* Add every item of iterable; 0 or -1. */
static int set_update(pmo_set *s, pm_object *iterable) {
    if (pmo_is_anyset(iterable)) { /* hashes known: no pm_hash calls */
        pmo_set *src = PMO_SET(iterable);
        for (size_t i = 0; i <= src->mask; i++) { /* src read again: code ran */
            if (!is_active(&src->table[i])) continue;
            pm_object *key = pm_newref(src->table[i].key);
            int r = set_insert(s, key, src->table[i].hash);
            pm_decref(key);
            if (r < 0) return -1;
        }
        return 0;
    }
    pm_object *it = pm_iter(iterable), *item;
    if (!it) return -1;
    int r = 0;
    while (r >= 0 && (item = pm_next(it)) != NULL) {
        uint64_t hash;
        r = key_hash(item, &hash);
        if (r == 0) r = set_insert(s, item, hash);
        pm_decref(item);
    }
    pm_decref(it);
    return r < 0 || pm_exc_occurred() ? -1 : 0;
}

static pm_object *new_from(pm_type *t, pm_object *iterable) {
    pm_object *o = set_alloc(t);
    if (o && iterable && set_update(PMO_SET(o), iterable) < 0) {
        pm_decref(o);
        return NULL;
    }
    return o;
}

pm_object *pm_set_new(pm_object *iterable) {
    return pmo_live_or_null(iterable) ? new_from(&pm_set_type, iterable) : NULL;
}

pm_object *pm_frozenset_new(pm_object *iterable) {
    return pmo_live_or_null(iterable) ? new_from(&pm_frozenset_type, iterable) : NULL;
}

/* ---- public API ----------------------------------------------------------------- */

size_t pm_set_size(pm_object *s) {
    if (s && pmo_is_anyset(s)) return PMO_SET(s)->used;
    pmo_arg_error("set or frozenset", s, __func__);
    return 0;
}

size_t pmo_set_used(pm_object *s) { return PMO_SET(s)->used; }

int pm_set_add(pm_object *so, pm_object *key) {
    uint64_t hash;
    if (!so || !(so->type == &pm_set_type || (so->type == &pm_frozenset_type && so->refcnt == 1))) {
        if (so && so->type == &pm_frozenset_type)
            pm_exc_set(PM_EXC_TYPE, "a shared frozenset cannot change");
        else pmo_arg_error("set", so, __func__);
        return -1;
    }
    if (!key) {
        pmo_null_arg("pm_set_add: key is NULL");
        return -1;
    }
    if (pm_hash(key, &hash) < 0) return -1;
    return set_insert(PMO_SET(so), key, hash) < 0 ? -1 : 0;
}

int pm_set_discard(pm_object *so, pm_object *key) {
    uint64_t hash;
    int err;
    if (!pmo_arg_is(so, &pm_set_type, "set", __func__)) return -1;
    if (!key) {
        pmo_null_arg("pm_set_discard: key is NULL");
        return -1;
    }
    if (key_hash(key, &hash) < 0) return -1;
    set_entry *e = set_lookup(PMO_SET(so), key, hash, &err, NULL);
    if (!e) return err;
    set_remove(PMO_SET(so), e);
    return 1;
}

int pmo_set_next(pm_object *so, size_t *pos, pm_object **key) {
    pmo_set *s = PMO_SET(so);
    for (size_t i = *pos; i <= s->mask; i++) {
        if (is_active(&s->table[i])) {
            *pos = i + 1;
            *key = s->table[i].key;
            return 1;
        }
    }
    *pos = s->mask + 1;
    return 0;
}

/* ---- GC protocol -------------------------------------------------------------------- */

static void release_table(set_entry *table, size_t mask, bool heap) {
    for (size_t i = 0; i <= mask; i++)
        if (is_active(&table[i])) pm_decref(table[i].key);
    if (heap) pmo_mem_free(table);
}

/* Empty the set first, then drop the references it held (S1, C2). */
static int set_clear(pm_object *self) {
    pmo_set *s = PMO_SET(self);
    set_entry copy[SMALL_SIZE], *table = s->table;
    size_t mask = s->mask;
    bool heap = table != s->small;
    if (!heap) {
        memcpy(copy, s->small, sizeof copy);
        table = copy;
    }
    memset(s->small, 0, sizeof s->small);
    s->table = s->small;
    s->mask = SMALL_SIZE - 1;
    s->fill = s->used = 0;
    s->version++;
    s->hashed = false;
    release_table(table, mask, heap);
    return 0;
}

static void set_dealloc(pm_object *self) {
    pmo_set *s = PMO_SET(self);
    release_table(s->table, s->mask, s->table != s->small);
}

static int set_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    pmo_set *s = PMO_SET(self);
    for (size_t i = 0; i <= s->mask; i++) {
        if (is_active(&s->table[i])) {
            int r = visit(s->table[i].key, arg);
            if (r) return r;
        }
    }
    return 0;
}

/* ---- slots ------------------------------------------------------------------------ */

static pm_object *set_repr(pm_object *self) {
    pmo_set *s = PMO_SET(self);
    const char *name = self->type->name;
    bool frozen = self->type == &pm_frozenset_type;
    if (s->used == 0) return pm_str_format("%s()", name);
    int r = pmo_repr_enter(self);
    if (r != 0) return r > 0 ? pm_str_format("%s(...)", name) : NULL;
    pmo_sbuf b = {0};
    if (frozen) pmo_sbuf_adds(&b, "frozenset(");
    pmo_sbuf_add(&b, "{", 1);
    pm_object *key;
    size_t pos = 0;
    for (bool first = true; pmo_set_next(self, &pos, &key); first = false) {
        if (!first) pmo_sbuf_add(&b, ", ", 2);
        pm_incref(key);
        r = pmo_sbuf_add_repr(&b, key);
        pm_decref(key);
        if (r < 0) break;
    }
    pmo_sbuf_adds(&b, frozen ? "})" : "}");
    pmo_repr_leave(self);
    if (r < 0) {
        pmo_sbuf_discard(&b);
        return NULL;
    }
    return pmo_sbuf_finish(&b);
}

/* Whether b holds key (with its hash): 1, 0, -1. */
static int has_key(pmo_set *b, pm_object *key, uint64_t hash) {
    int err;
    return set_lookup(b, key, hash, &err, NULL) ? 1 : err;
}

/* a <= b as sets: 1, 0, -1. */
static int is_subset(pmo_set *a, pmo_set *b) {
    if (a->used > b->used) return 0;
    for (size_t i = 0; i <= a->mask; i++) { /* a->table read again: code ran */
        set_entry *e = &a->table[i];
        if (!is_active(e)) continue;
        pm_object *key = pm_newref(e->key);
        int r = has_key(b, key, e->hash);
        pm_decref(key);
        if (r <= 0) return r;
    }
    return 1;
}

static int set_compare(pm_object *x, pm_object *y, int op) {
    if (!pmo_is_anyset(x) || !pmo_is_anyset(y)) return PM_CMP_UNSUPPORTED;
    pmo_set *a = PMO_SET(x), *b = PMO_SET(y);
    if ((op == PM_EQ || op == PM_NE) &&
        (a->used != b->used || (a->hashed && b->hashed && a->hash != b->hash)))
        return op == PM_NE;
    if ((op == PM_LT && a->used >= b->used) || (op == PM_GT && a->used <= b->used)) return 0;
    int r = op == PM_GE || op == PM_GT ? is_subset(b, a) : is_subset(a, b);
    if (r < 0) return -1;
    return op == PM_NE ? !r : r;
}

static int64_t set_length(pm_object *self) { return (int64_t)PMO_SET(self)->used; }

static int set_contains(pm_object *self, pm_object *key) {
    uint64_t hash;
    if (key_hash(key, &hash) < 0) return -1;
    return has_key(PMO_SET(self), key, hash);
}
