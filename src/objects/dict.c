/*
 * dict.c -- pm_dict_type: insertion-ordered hash tables, CPython 3.6+'s
 * compact layout.
 *
 *   pmo_dict ──keys──> [ header | index table: 2^k slots of 1/2/4/8 bytes |
 *                                 entries: {hash, key, value} x usable    ]
 *
 * The index table maps a hash to a position in the dense entries array;
 * entries are appended in insertion order, so iteration is a scan of the
 * entries and the table itself costs only 1..8 bytes per slot. Probing is
 * CPython's: i = hash & mask, then i = (5i + 1 + perturb) & mask with
 * perturb = hash shifted right by 5 each step, which visits every slot and
 * lets all the hash's bits take part.
 *
 * Owns the dict layout, its free list of dict objects and pm_dict_*.
 *
 * Invariants:
 *   D1  keys == NULL (an empty dict that never held anything), or a table
 *       of 2^log2_size >= 8 slots whose index width is the smallest of
 *       1/2/4/8 bytes that holds usable_fraction(size) = 2/3 of the size.
 *   D2  an index slot holds IX_EMPTY, IX_DUMMY (deleted: probing continues
 *       past it) or the position of a live entry. A live entry has a key
 *       and a value; a deleted one has neither, and stays until a rebuild.
 *   D3  nentries + usable == usable_fraction(size); nentries only grows;
 *       a rebuild (when usable reaches 0) compacts the live entries into a
 *       table sized for used * 3, so it also shrinks a dict that lost
 *       most of its keys.
 *   D4  every mutation bumps version. A lookup that runs code (pm_equal on
 *       a non-str key) restarts when version changed meanwhile, so a
 *       comparison that mutates the dict never leaves it reading a freed
 *       table or a moved entry.
 *   D5  the dict owns one reference to each live key and value (C1), and
 *       drops an old reference only after the table is consistent again.
 */
#include "containers.h"

typedef struct dict_entry {
    uint64_t hash;
    pm_object *key;
    pm_object *value;
} dict_entry;

typedef struct dict_keys {
    uint8_t log2_size;
    uint8_t log2_ixbytes; /* 0..3: 1, 2, 4 or 8 bytes per index slot */
    size_t usable;        /* entries that may still be appended       */
    size_t nentries;      /* entries appended, live or deleted        */
    /* index table, then entries */
} dict_keys;

typedef struct pmo_dict {
    pm_object ob;
    size_t used;      /* live entries                              */
    uint64_t version; /* D4                                        */
    dict_keys *keys;  /* NULL while empty and never filled (D1)    */
} pmo_dict;

#define PMO_DICT(o) ((pmo_dict *)(o))

#define IX_EMPTY (-1)
#define IX_DUMMY (-2)
#define IX_ERROR (-3)
#define LOG2_MINSIZE 3
#define PERTURB_SHIFT 5

static void dict_free_mem(pm_runtime *rt, pm_object *o);
static void dict_dealloc(pm_object *self);
static int dict_traverse(pm_object *self, pm_visit_fn visit, void *arg);
static int dict_clear(pm_object *self);
static pm_object *dict_repr(pm_object *self);
static int dict_compare(pm_object *a, pm_object *b, int op);
static int64_t dict_length(pm_object *self);
static pm_object *dict_getitem(pm_object *self, pm_object *key);
static int dict_setitem(pm_object *self, pm_object *key, pm_object *value);
static int dict_contains(pm_object *self, pm_object *key);

pm_type pm_dict_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "dict",
    .basicsize = sizeof(pmo_dict),
    .flags = PM_TPFLAGS_GC,
    .slots = {
        .dealloc = dict_dealloc,
        .traverse = dict_traverse,
        .clear = dict_clear,
        .repr = dict_repr,
        .compare = dict_compare,
        .length = dict_length,
        .getitem = dict_getitem,
        .setitem = dict_setitem,
        .contains = dict_contains,
        .iter = pmo_seq_iter,
    },
    .free_mem = dict_free_mem,
};

/* ---- the keys table ---------------------------------------------------------- */

static inline size_t usable_fraction(size_t size) { return (size << 1) / 3; }

static inline void *dk_indices(dict_keys *k) { return k + 1; }

static inline dict_entry *dk_entries(dict_keys *k) {
    return (dict_entry *)((char *)(k + 1) + ((size_t)1 << (k->log2_size + k->log2_ixbytes)));
}

static inline int64_t ix_get(dict_keys *k, size_t i) {
    void *ix = dk_indices(k);
    switch (k->log2_ixbytes) {
    case 0: return ((int8_t *)ix)[i];
    case 1: return ((int16_t *)ix)[i];
    case 2: return ((int32_t *)ix)[i];
    default: return ((int64_t *)ix)[i];
    }
}

static inline void ix_set(dict_keys *k, size_t i, int64_t v) {
    void *ix = dk_indices(k);
    switch (k->log2_ixbytes) {
    case 0: ((int8_t *)ix)[i] = (int8_t)v; break;
    case 1: ((int16_t *)ix)[i] = (int16_t)v; break;
    case 2: ((int32_t *)ix)[i] = (int32_t)v; break;
    default: ((int64_t *)ix)[i] = v; break;
    }
}

/* A table of 2^log2 slots, every slot IX_EMPTY (all bits set, in every
 * width), no entries. NULL with MemoryError. */
static dict_keys *keys_new(unsigned log2) {
    if (log2 >= 8 * sizeof(size_t) - 5) return pmo_no_memory();
    size_t size = (size_t)1 << log2;
    unsigned log2_ix = log2 < 8 ? 0 : log2 < 16 ? 1 : log2 < 32 ? 2 : 3;
    size_t ixbytes = size << log2_ix, usable = usable_fraction(size);
    if (usable > (SIZE_MAX - sizeof(dict_keys) - ixbytes) / sizeof(dict_entry))
        return pmo_no_memory();
    dict_keys *k = pmo_mem_malloc(sizeof(dict_keys) + ixbytes + usable * sizeof(dict_entry));
    if (!k) return NULL;
    k->log2_size = (uint8_t)log2;
    k->log2_ixbytes = (uint8_t)log2_ix;
    k->usable = usable;
    k->nentries = 0;
    memset(dk_indices(k), 0xff, ixbytes);
    return k;
}

/* The first slot on hash's probe sequence that holds no live entry. */
static size_t find_free_slot(dict_keys *k, uint64_t hash) {
    size_t mask = ((size_t)1 << k->log2_size) - 1, i = (size_t)hash & mask;
    uint64_t perturb = hash;
    while (ix_get(k, i) >= 0) {
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + (size_t)perturb + 1) & mask;
    }
    return i;
}

/* Smallest log2 with 2^log2 >= n, at least LOG2_MINSIZE. */
static unsigned log2_for(size_t n) {
    unsigned log2 = LOG2_MINSIZE;
    while (log2 < 8 * sizeof(size_t) - 1 && ((size_t)1 << log2) < n) log2++;
    return log2;
}

/* D3: rebuild the table for at least minsize slots, live entries only, in
 * order. No code runs and no reference changes; 0 or -1 (MemoryError,
 * nothing changed). */
static int dict_rebuild(pmo_dict *d, size_t minsize) {
    dict_keys *old = d->keys, *k = keys_new(log2_for(minsize));
    if (!k) return -1;
    dict_entry *dst = dk_entries(k);
    if (old) {
        dict_entry *src = dk_entries(old);
        if (old->nentries == d->used) {
            memcpy(dst, src, d->used * sizeof(dict_entry));
        } else {
            for (size_t i = 0, j = 0; i < old->nentries; i++)
                if (src[i].value) dst[j++] = src[i];
        }
    }
    for (size_t j = 0; j < d->used; j++) ix_set(k, find_free_slot(k, dst[j].hash), (int64_t)j);
    k->nentries = d->used;
    k->usable -= d->used;
    d->keys = k;
    d->version++;
    pmo_mem_free(old);
    return 0;
}

/* ---- lookup -------------------------------------------------------------------- */

/* Equality of a stored key sk with key (same hash): 1, 0, -1, or 2 when the
 * dict changed during the comparison (D4: the caller restarts). Two strs
 * compare without running code: no reference, no version check. */
static int keys_equal(pmo_dict *d, pm_object *sk, pm_object *key) {
    if (sk->type == &pm_str_type && key->type == &pm_str_type) return pm_equal(sk, key);
    uint64_t version = d->version;
    pm_incref(sk); /* the comparison may delete it from the dict */
    int r = pm_equal(sk, key);
    pm_decref(sk);
    if (r >= 0 && d->version != version) return 2;
    return r;
}

/* Position in the entries of key (with this hash), IX_EMPTY when absent,
 * IX_ERROR on error. *slot receives the index slot that points to it. */
static int64_t dict_lookup(pmo_dict *d, pm_object *key, uint64_t hash, size_t *slot) {
restart:;
    dict_keys *k = d->keys;
    if (!k) return IX_EMPTY;
    dict_entry *ents = dk_entries(k);
    size_t mask = ((size_t)1 << k->log2_size) - 1, i = (size_t)hash & mask;
    uint64_t perturb = hash;
    for (;;) {
        int64_t ix = ix_get(k, i);
        if (ix == IX_EMPTY) return IX_EMPTY;
        if (ix >= 0) {
            dict_entry *e = &ents[ix];
            if (e->key == key) {
                *slot = i;
                return ix;
            }
            if (e->hash == hash) {
                int r = keys_equal(d, e->key, key);
                if (r < 0) return IX_ERROR;
                if (r == 2) goto restart;
                if (r) {
                    *slot = i;
                    return ix;
                }
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + (size_t)perturb + 1) & mask;
    }
}

/* ---- core operations ----------------------------------------------------------- */

static bool is_dict(pm_object *d) {
    if (pmo_likely(d && d->type == &pm_dict_type)) return true;
    pmo_type_error("dict", d);
    return false;
}

/* CPython's MAINTAIN_TRACKING: a dict is tracked only once it holds
 * something that may take part in a cycle; a dict of strings and numbers
 * never is (pmo_may_be_tracked, containers.h). */
static inline void maintain_tracking(pmo_dict *d, pm_object *key, pm_object *value) {
    pm_object *o = &d->ob;
    if (!(o->flags & PMO_OF_TRACKED) && (pmo_may_be_tracked(key) || pmo_may_be_tracked(value))) pm_gc_track(o);
}

bool pmo_dict_all_atomic(pm_object *o) {
    pmo_dict *d = PMO_DICT(o);
    if (!d->keys) return true;
    dict_entry *ents = dk_entries(d->keys);
    for (size_t i = 0; i < d->keys->nentries; i++)
        if (ents[i].key && (pmo_may_be_tracked(ents[i].key) || pmo_may_be_tracked(ents[i].value))) return false;
    return true;
}

/* Append a new entry for key, known to be absent (no code ran since the
 * lookup that said so). 0 or -1 (MemoryError, nothing changed). */
static int dict_append(pmo_dict *d, pm_object *key, uint64_t hash, pm_object *value) {
    if (!d->keys || d->keys->usable == 0) {
        if (d->used > SIZE_MAX / 3) {
            pmo_no_memory();
            return -1;
        }
        if (dict_rebuild(d, d->used * 3) < 0) return -1;
    }
    dict_keys *k = d->keys;
    dict_entry *e = &dk_entries(k)[k->nentries];
    ix_set(k, find_free_slot(k, hash), (int64_t)k->nentries);
    e->hash = hash;
    e->key = pm_newref(key);
    e->value = pm_newref(value);
    k->nentries++;
    k->usable--;
    d->used++;
    d->version++;
    maintain_tracking(d, key, value);
    return 0;
}

/* Replace the value of the live entry at ix. */
static void dict_replace(pmo_dict *d, int64_t ix, pm_object *value) {
    dict_entry *e = &dk_entries(d->keys)[ix];
    pm_object *old = e->value;
    e->value = pm_newref(value);
    d->version++;
    maintain_tracking(d, e->key, value);
    pm_decref(old); /* D5 */
}

/* Store value under key (both borrowed). 0 or -1; nothing changes on error. */
static int dict_insert(pmo_dict *d, pm_object *key, uint64_t hash, pm_object *value) {
    size_t slot;
    int64_t ix = dict_lookup(d, key, hash, &slot);
    if (ix == IX_ERROR) return -1;
    if (ix >= 0) {
        dict_replace(d, ix, value);
        return 0;
    }
    return dict_append(d, key, hash, value);
}

/* The entry of the str key whose UTF-8 text is p[0..n) (hash: its str
 * hash, str.c's S3), or IX_EMPTY. No object is made and no code runs. */
static int64_t lookup_text(pmo_dict *d, const char *p, size_t n, uint64_t hash) {
    dict_keys *k = d->keys;
    if (!k) return IX_EMPTY;
    dict_entry *ents = dk_entries(k);
    size_t mask = ((size_t)1 << k->log2_size) - 1, i = (size_t)hash & mask;
    uint64_t perturb = hash;
    for (;;) {
        int64_t ix = ix_get(k, i);
        if (ix == IX_EMPTY) return IX_EMPTY;
        if (ix >= 0 && ents[ix].hash == hash && ents[ix].key->type == &pm_str_type) {
            size_t kn;
            const char *kp = pm_str_utf8(ents[ix].key, &kn);
            if (kn == n && memcmp(kp, p, n) == 0) return ix;
        }
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + (size_t)perturb + 1) & mask;
    }
}

/* Remove the entry at ix (found through slot). */
static void dict_remove(pmo_dict *d, int64_t ix, size_t slot) {
    dict_keys *k = d->keys;
    dict_entry *e = &dk_entries(k)[ix];
    pm_object *key = e->key, *value = e->value;
    ix_set(k, slot, IX_DUMMY);
    e->key = e->value = NULL;
    d->used--;
    d->version++;
    pm_decref(key); /* D5 */
    pm_decref(value);
}

/* KeyError whose message is the key's repr, as Python's. */
static void key_error(pm_object *key) {
    size_t n;
    pm_object *r = pm_repr(key);
    const char *s = r ? pm_str_utf8(r, &n) : NULL;
    if (s) pm_exc_set(PM_EXC_KEY, "%s", s);
    else pm_exc_set(PM_EXC_KEY, "<%s object>", key->type->name);
    pm_xdecref(r);
}

/* ---- public API ------------------------------------------------------------------ */

pm_object *pm_dict_new(void) {
    pm_object *o = pmo_gc_freelist_pop(&pmo_rt()->freelists.dicts, &pm_dict_type);
    if (!o) o = pmo_alloc(&pm_dict_type, sizeof(pmo_dict));
    if (!o) return NULL;
    pmo_dict *d = PMO_DICT(o);
    d->used = 0;
    d->version = 0;
    d->keys = NULL;
    return o; /* untracked until it holds a container (maintain_tracking) */
}

static void dict_free_mem(pm_runtime *rt, pm_object *o) {
    if (!pmo_freelist_push(&rt->freelists.dicts, o)) pmo_free(rt, o);
}

size_t pm_dict_size(pm_object *d) { return is_dict(d) ? PMO_DICT(d)->used : 0; }

size_t pmo_dict_used(pm_object *d) { return PMO_DICT(d)->used; }

int pm_dict_set(pm_object *d, pm_object *key, pm_object *value) {
    uint64_t hash;
    if (!is_dict(d)) return -1;
    if (!key || !value) {
        pm_exc_set(PM_EXC_TYPE, "pm_dict_set: %s is NULL", key ? "value" : "key");
        return -1;
    }
    if (pm_hash(key, &hash) < 0) return -1;
    return dict_insert(PMO_DICT(d), key, hash, value);
}

pm_object *pm_dict_get(pm_object *d, pm_object *key) {
    uint64_t hash;
    size_t slot;
    if (!is_dict(d)) return NULL;
    if (!key) {
        pm_exc_set(PM_EXC_TYPE, "pm_dict_get: key is NULL");
        return NULL;
    }
    if (pm_hash(key, &hash) < 0) return NULL;
    int64_t ix = dict_lookup(PMO_DICT(d), key, hash, &slot);
    return ix >= 0 ? dk_entries(PMO_DICT(d)->keys)[ix].value : NULL;
}

int pm_dict_del(pm_object *d, pm_object *key) {
    uint64_t hash;
    size_t slot;
    if (!is_dict(d)) return -1;
    if (!key) {
        pm_exc_set(PM_EXC_TYPE, "pm_dict_del: key is NULL");
        return -1;
    }
    if (pm_hash(key, &hash) < 0) return -1;
    int64_t ix = dict_lookup(PMO_DICT(d), key, hash, &slot);
    if (ix == IX_ERROR) return -1;
    if (ix == IX_EMPTY) {
        key_error(key);
        return -1;
    }
    dict_remove(PMO_DICT(d), ix, slot);
    return 0;
}

/* The C-string entry points look the text up without making a str: only
 * a new key costs an object. */
int pm_dict_set_str(pm_object *d, const char *key, pm_object *value) {
    if (!is_dict(d)) return -1;
    if (!key || !value) {
        pm_exc_set(PM_EXC_TYPE, "pm_dict_set_str: %s is NULL", key ? "value" : "key");
        return -1;
    }
    pmo_dict *dict = PMO_DICT(d);
    size_t n = strlen(key);
    uint64_t hash = pmo_hash_bytes(key, n);
    int64_t ix = lookup_text(dict, key, n, hash);
    if (ix >= 0) {
        dict_replace(dict, ix, value);
        return 0;
    }
    uint64_t version = dict->version;
    pm_object *k = pm_str_from_len(key, n);
    if (!k) return -1;
    /* Making a str runs no code; should that change, a full insert. */
    int r = dict->version == version ? dict_append(dict, k, hash, value)
                                     : dict_insert(dict, k, hash, value);
    pm_decref(k);
    return r;
}

pm_object *pm_dict_get_str(pm_object *d, const char *key) {
    if (!is_dict(d)) return NULL;
    if (!key) {
        pm_exc_set(PM_EXC_TYPE, "pm_dict_get_str: key is NULL");
        return NULL;
    }
    size_t n = strlen(key);
    int64_t ix = lookup_text(PMO_DICT(d), key, n, pmo_hash_bytes(key, n));
    return ix >= 0 ? dk_entries(PMO_DICT(d)->keys)[ix].value : NULL;
}

int pmo_dict_next(pm_object *o, size_t *pos, pm_object **key, pm_object **value) {
    dict_keys *k = PMO_DICT(o)->keys;
    if (!k) return 0;
    dict_entry *ents = dk_entries(k);
    for (size_t i = *pos; i < k->nentries; i++) {
        if (ents[i].value) {
            *pos = i + 1;
            if (key) *key = ents[i].key;
            if (value) *value = ents[i].value;
            return 1;
        }
    }
    *pos = k->nentries;
    return 0;
}

int pm_dict_next(pm_object *d, size_t *pos, pm_object **key, pm_object **value) {
    if (!is_dict(d) || !pos) return 0;
    return pmo_dict_next(d, pos, key, value);
}

/* ---- GC protocol ---------------------------------------------------------------- */

/* Drop every reference of a detached table, then the table. */
static void keys_release(dict_keys *k) {
    if (!k) return;
    dict_entry *ents = dk_entries(k);
    for (size_t i = 0; i < k->nentries; i++) {
        if (ents[i].key) {
            pm_decref(ents[i].key);
            pm_decref(ents[i].value);
        }
    }
    pmo_mem_free(k);
}

static void dict_dealloc(pm_object *self) {
    pmo_dict *d = PMO_DICT(self);
    dict_keys *k = d->keys;
    d->keys = NULL;
    d->used = 0;
    keys_release(k);
}

static int dict_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    dict_keys *k = PMO_DICT(self)->keys;
    if (!k) return 0;
    dict_entry *ents = dk_entries(k);
    for (size_t i = 0; i < k->nentries; i++) {
        if (!ents[i].key) continue;
        int r = visit(ents[i].key, arg);
        if (!r) r = visit(ents[i].value, arg);
        if (r) return r;
    }
    return 0;
}

/* The dict is empty (and its version new) before any reference drops. */
static int dict_clear(pm_object *self) {
    pmo_dict *d = PMO_DICT(self);
    dict_keys *k = d->keys;
    d->keys = NULL;
    d->used = 0;
    d->version++;
    keys_release(k);
    return 0;
}

/* ---- slots ------------------------------------------------------------------------ */

/* "key: value" of the entry at *pos or after it, advancing *pos; 0 at the
 * end, -1 on error. Key and value are held while their reprs run code. */
static int repr_next_entry(pmo_dict *d, pmo_sbuf *b, size_t *pos, bool first) {
    pm_object *key, *value;
    if (!pmo_dict_next(&d->ob, pos, &key, &value)) return 0;
    pm_incref(key);
    pm_incref(value);
    if (!first) pmo_sbuf_add(b, ", ", 2);
    int r = pmo_sbuf_add_repr(b, key);
    if (r == 0) {
        pmo_sbuf_add(b, ": ", 2);
        r = pmo_sbuf_add_repr(b, value);
    }
    pm_decref(key);
    pm_decref(value);
    return r < 0 ? -1 : 1;
}

static pm_object *dict_repr(pm_object *self) {
    pmo_dict *d = PMO_DICT(self);
    if (d->used == 0) return pm_str_from("{}");
    int r = pmo_repr_enter(self);
    if (r != 0) return r > 0 ? pm_str_from("{...}") : NULL;
    pmo_sbuf b = {0};
    size_t pos = 0;
    pmo_sbuf_add(&b, "{", 1);
    for (bool first = true; (r = repr_next_entry(d, &b, &pos, first)) > 0; first = false) {
    }
    pmo_sbuf_add(&b, "}", 1);
    pmo_repr_leave(self);
    if (r < 0) {
        pmo_sbuf_discard(&b);
        return NULL;
    }
    return pmo_sbuf_finish(&b);
}

/* Whether b maps key to a value equal to value: 1, 0, -1. */
static int maps_to(pmo_dict *b, pm_object *key, uint64_t hash, pm_object *value) {
    size_t slot;
    int64_t ix = dict_lookup(b, key, hash, &slot);
    if (ix < 0) return ix == IX_ERROR ? -1 : 0;
    pm_object *bv = pm_newref(dk_entries(b->keys)[ix].value);
    int r = pmo_items_equal(value, bv);
    pm_decref(bv);
    return r;
}

static int dict_equal(pmo_dict *a, pmo_dict *b) {
    if (a->used != b->used) return 0;
    for (size_t i = 0; a->keys && i < a->keys->nentries; i++) {
        dict_entry *e = &dk_entries(a->keys)[i]; /* keys read again: code ran */
        if (!e->value) continue;
        uint64_t hash = e->hash;
        pm_object *key = pm_newref(e->key), *value = pm_newref(e->value);
        int r = maps_to(b, key, hash, value);
        pm_decref(key);
        pm_decref(value);
        if (r <= 0) return r;
    }
    return 1;
}

static int dict_compare(pm_object *a, pm_object *b, int op) {
    if (a->type != &pm_dict_type || b->type != &pm_dict_type) return PM_CMP_UNSUPPORTED;
    if (op != PM_EQ && op != PM_NE) return PM_CMP_UNSUPPORTED;
    if (pmo_rec_enter(" in comparison") < 0) return -1;
    int r = dict_equal(PMO_DICT(a), PMO_DICT(b));
    pmo_rec_leave();
    if (r < 0) return -1;
    return op == PM_EQ ? r : !r;
}

static int64_t dict_length(pm_object *self) { return (int64_t)PMO_DICT(self)->used; }

static pm_object *dict_getitem(pm_object *self, pm_object *key) {
    uint64_t hash;
    size_t slot;
    if (pm_hash(key, &hash) < 0) return NULL;
    int64_t ix = dict_lookup(PMO_DICT(self), key, hash, &slot);
    if (ix >= 0) return pm_newref(dk_entries(PMO_DICT(self)->keys)[ix].value);
    if (ix == IX_EMPTY) key_error(key);
    return NULL;
}

static int dict_setitem(pm_object *self, pm_object *key, pm_object *value) {
    return value ? pm_dict_set(self, key, value) : pm_dict_del(self, key);
}

static int dict_contains(pm_object *self, pm_object *key) {
    uint64_t hash;
    size_t slot;
    if (pm_hash(key, &hash) < 0) return -1;
    int64_t ix = dict_lookup(PMO_DICT(self), key, hash, &slot);
    return ix >= 0 ? 1 : ix == IX_EMPTY ? 0 : -1;
}
