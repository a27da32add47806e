/*
 * dict.c -- pm_dict_type: insertion-ordered hash tables, CPython 3.6+'s
 * compact layout.
 *
 *   pmo_dict ──keys──> [ header | index table: 2^k slots of 1/2/4/8 bytes |
 *                                 entries: {key, value[, hash]} x capacity ]
 *
 * The index table maps a hash to a position in the dense entries array;
 * entries are appended in insertion order, so iteration is a scan of the
 * entries and the table itself costs only 1..8 bytes per slot. Probing is
 * CPython's: i = hash & mask, then i = (5i + 1 + perturb) & mask with
 * perturb = hash shifted right by 5 each step, which visits every slot and
 * lets all the hash's bits take part.
 *
 * Two kinds of table, as CPython 3.11's: a str table (every key an exact
 * str) stores {key, value}, 16 bytes, and takes a key's hash from the str
 * (cached there, S3 of str.c); a general table stores {key, value, hash}.
 * A dict starts with the kind of its first key; a non-str key turns a str
 * table into a general one (a rebuild), never back. JSON objects, keyword
 * arguments and most records have str keys only, and are small. Unlike
 * CPython, a table of more than 2^LOG2_STR_MAX slots is always general:
 * with its hashes in the entries, probing and rebuilding a big table never
 * read the key objects, each a likely cache miss (a dict of 10^6 str keys
 * inserts 30% faster so), and the 8 bytes an entry saves matter most in
 * the many small dicts of a document.
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
 *   D3  nentries + usable == the table's capacity: usable_fraction(size),
 *       or fewer for a table made for a known number of keys
 *       (pmo_dict_from_pairs). nentries only grows; a rebuild (when usable
 *       reaches 0) compacts the live entries into a table sized for
 *       used * 3, so it also shrinks a dict that lost most of its keys.
 *   D4  a lookup that runs code (pm_equal on a non-str key) goes on only
 *       if d->keys is still the same table -- same address and same
 *       serial, since a new table may be made where a freed one was --
 *       and its slot still points to the entry of the key compared;
 *       otherwise it restarts. So a comparison that mutates the dict never
 *       leaves it reading a freed table or a moved entry. (The serial is a
 *       runtime-wide count of tables kept in the table header's padding:
 *       the dict object itself stays 32 bytes, with no version word.)
 *   D5  the dict owns one reference to each live key and value (C1), and
 *       drops an old reference only after the table is consistent again.
 *   D6  str_keys => log2_size <= LOG2_STR_MAX, and every live key is an
 *       exact str whose hash is cached (PM_OF_HASHED: set by the lookup
 *       that preceded its insertion).
 */
#include "containers.h"

/* An entry is two or three words: key, value and, in general tables only,
 * the key's hash (pmo_dk_word, containers.h: the collector reads them). */
typedef pmo_dk_word dk_word;

enum { E_KEY = PMO_DK_KEY, E_VALUE = PMO_DK_VALUE, E_HASH = PMO_DK_HASH };

typedef struct dict_keys {
    uint8_t log2_size;
    uint8_t log2_ixbytes; /* 0..3: 1, 2, 4 or 8 bytes per index slot */
    bool str_keys;        /* D6: entries are {key, value}            */
    uint32_t serial;      /* D4: which table this is, runtime-wide    */
    size_t usable;        /* entries that may still be appended       */
    size_t nentries;      /* entries appended, live or deleted        */
    /* index table, then entries */
} dict_keys;

typedef struct pmo_dict {
    pm_object ob;
    size_t used;     /* live entries                              */
    dict_keys *keys; /* NULL while empty and never filled (D1)    */
} pmo_dict;
/* D4's comment and docs/DESIGN.md give this size. */
_Static_assert(sizeof(pmo_dict) == 32, "a dict is a header and two words");

#define PMO_DICT(o) ((pmo_dict *)(o))

#define IX_EMPTY (-1)
#define IX_DUMMY (-2)
#define IX_ERROR (-3)
#define LOG2_MINSIZE 3
#define LOG2_STR_MAX 10 /* the largest str table: 1024 slots, 682 entries */
#define PERTURB_SHIFT 5

static void dict_free_mem(pm_runtime *rt, pm_object *o);
static size_t dict_owned_size(pm_object *o);
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
    .slots =
        {
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
    .owned_size = dict_owned_size,
};

/* ---- the keys table ---------------------------------------------------------- */

static inline size_t usable_fraction(size_t size) { return (size << 1) / 3; }

static inline void *dk_indices(dict_keys *k) { return k + 1; }

static inline size_t dk_stride(const dict_keys *k) { return k->str_keys ? 2 : 3; }

/* The first word of the entries; entry ix starts ix * dk_stride words on. */
static inline dk_word *dk_entries(dict_keys *k) {
    return (dk_word *)((char *)(k + 1) + ((size_t)1 << (k->log2_size + k->log2_ixbytes)));
}

static inline dk_word *dk_entry(dict_keys *k, size_t ix) {
    return dk_entries(k) + ix * dk_stride(k);
}

static inline bool is_exact_str(const pm_object *o) { return o->type == &pm_str_type; }

/* The hash of a live or deleted-but-stored entry's key (D6 for str tables). */
static inline uint64_t entry_hash(const dict_keys *k, const dk_word *e) {
    return k->str_keys ? PMO_STR(e[E_KEY].obj)->hash : e[E_HASH].hash;
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
 * width), room for `capacity` <= usable_fraction(2^log2) entries, none
 * used (D3); a str table if str_keys and it is small enough (D6). NULL
 * with MemoryError. */
static dict_keys *keys_new(unsigned log2, size_t capacity, bool str_keys) {
    if (log2 >= 8 * sizeof(size_t) - 5) return pmo_no_memory();
    str_keys = str_keys && log2 <= LOG2_STR_MAX;
    size_t size = (size_t)1 << log2;
    unsigned log2_ix = log2 < 8 ? 0 : log2 < 16 ? 1 : log2 < 32 ? 2 : 3;
    size_t ixbytes = size << log2_ix, esize = (str_keys ? 2 : 3) * sizeof(dk_word);
    if (capacity > (SIZE_MAX - sizeof(dict_keys) - ixbytes) / esize) return pmo_no_memory();
    dict_keys *k = pmo_mem_malloc(sizeof(dict_keys) + ixbytes + capacity * esize);
    if (!k) return NULL;
    k->log2_size = (uint8_t)log2;
    k->log2_ixbytes = (uint8_t)log2_ix;
    k->str_keys = str_keys;
    k->serial = pmo_rt()->dict_table_serial++;
    k->usable = capacity;
    k->nentries = 0;
    memset(dk_indices(k), 0xff, ixbytes);
    return k;
}

/* The slot after i on the probe sequence (the top comment): the one
 * recurrence insertion and every lookup must share. */
static inline size_t probe_next(size_t i, uint64_t *perturb, size_t mask) {
    *perturb >>= PERTURB_SHIFT;
    return (i * 5 + (size_t)*perturb + 1) & mask;
}

/* The first slot on hash's probe sequence that holds no live entry. */
static size_t find_free_slot(dict_keys *k, uint64_t hash) {
    size_t mask = ((size_t)1 << k->log2_size) - 1, i = (size_t)hash & mask;
    uint64_t perturb = hash;
    while (ix_get(k, i) >= 0) {
        i = probe_next(i, &perturb, mask);
    }
    return i;
}

/* Smallest log2 with 2^log2 >= n, at least LOG2_MINSIZE. */
static unsigned log2_for(size_t n) {
    unsigned log2 = LOG2_MINSIZE;
    while (log2 < 8 * sizeof(size_t) - 1 && ((size_t)1 << log2) < n) log2++;
    return log2;
}

/* Append an entry to k, which has room (usable > 0), and index it. */
static void keys_append(dict_keys *k, pm_object *key, uint64_t hash, pm_object *value) {
    size_t ix = k->nentries;
    dk_word *e = dk_entry(k, ix);
    e[E_KEY].obj = key;
    e[E_VALUE].obj = value;
    if (!k->str_keys) e[E_HASH].hash = hash;
    ix_set(k, find_free_slot(k, hash), (int64_t)ix);
    k->nentries++;
    k->usable--;
}

/* D3: rebuild the table for at least minsize slots, of the kind str_keys,
 * live entries only, in order. No code runs and no reference changes; 0
 * or -1 (MemoryError, nothing changed). */
static int dict_rebuild(pmo_dict *d, size_t minsize, bool str_keys) {
    unsigned log2 = log2_for(minsize);
    dict_keys *old = d->keys, *k = keys_new(log2, usable_fraction((size_t)1 << log2), str_keys);
    if (!k) return -1;
    for (size_t i = 0; old && i < old->nentries; i++) {
        dk_word *e = dk_entry(old, i);
        if (e[E_VALUE].obj) keys_append(k, e[E_KEY].obj, entry_hash(old, e), e[E_VALUE].obj);
    }
    d->keys = k;
    pmo_mem_free(old);
    return 0;
}

/* ---- lookup -------------------------------------------------------------------- */

/* Two strs with the same hash: equal texts? No code runs. */
static inline bool str_text_equal(const pm_object *a, const pm_object *b) {
    size_t n = PMO_STR(a)->nbytes;
    return PMO_STR(b)->nbytes == n && memcmp(pmo_str_data(a), pmo_str_data(b), n) == 0;
}

/* Equality of the key of entry ix (found at slot i of k) with key, which
 * has the same hash: 1, 0, -1, or 2 when the comparison changed the
 * dict under the lookup (D4: the caller restarts). Two strs compare
 * without running code. */
static int keys_equal(pmo_dict *d, dict_keys *k, size_t i, int64_t ix, pm_object *key) {
    pm_object *sk = dk_entry(k, (size_t)ix)[E_KEY].obj;
    if (is_exact_str(sk) && is_exact_str(key)) return str_text_equal(sk, key);
    uint32_t serial = k->serial;
    uint8_t log2_size = k->log2_size;
    bool str_keys = k->str_keys;
    pm_incref(sk); /* the comparison may delete it from the dict */
    int r = pm_equal(sk, key);
    pm_decref(sk);
    if (r < 0) return r;
    /* k may have been freed, and another table made at its address: only
     * once d->keys is k again is k readable, and only its serial (with
     * the layout, should 2^32 tables have been made meanwhile) tells that
     * it is the same table, whose slot i and entry ix the caller may go
     * on from. */
    if (d->keys != k || k->serial != serial || k->log2_size != log2_size || k->str_keys != str_keys)
        return 2;
    if (ix_get(k, i) != ix || dk_entry(k, (size_t)ix)[E_KEY].obj != sk) return 2;
    return r;
}

/* Position in the entries of key (with this hash), IX_EMPTY when absent,
 * IX_ERROR on error. *slot receives the index slot that points to it. */
static int64_t dict_lookup(pmo_dict *d, pm_object *key, uint64_t hash, size_t *slot) {
restart:;
    dict_keys *k = d->keys;
    if (!k) return IX_EMPTY;
    /* fixed for the table's life: kept out of the loop, which calls code */
    dk_word *ents = dk_entries(k);
    size_t stride = dk_stride(k);
    size_t mask = ((size_t)1 << k->log2_size) - 1, i = (size_t)hash & mask;
    uint64_t perturb = hash;
    for (;;) {
        int64_t ix = ix_get(k, i);
        if (ix == IX_EMPTY) return IX_EMPTY;
        if (ix >= 0) {
            dk_word *e = ents + (size_t)ix * stride;
            if (e[E_KEY].obj == key) {
                *slot = i;
                return ix;
            }
            if (entry_hash(k, e) == hash) {
                int r = keys_equal(d, k, i, ix, key);
                if (r < 0) return IX_ERROR;
                if (r == 2) goto restart;
                if (r) {
                    *slot = i;
                    return ix;
                }
            }
        }
        i = probe_next(i, &perturb, mask);
    }
}

/* ---- core operations ----------------------------------------------------------- */

/* The check of every public entry (pmo_arg_is): a live dict. */
#define is_dict(d) pmo_arg_is(d, &pm_dict_type, "dict", __func__)

/* The value of the live entry ix (borrowed). */
static inline pm_object *value_at(pmo_dict *d, int64_t ix) {
    return dk_entry(d->keys, (size_t)ix)[E_VALUE].obj;
}

/* CPython's MAINTAIN_TRACKING: a dict is tracked only once it holds
 * something that may take part in a cycle; a dict of strings and numbers
 * never is (pmo_may_be_tracked, containers.h). */
static inline void maintain_tracking(pmo_dict *d, pm_object *key, pm_object *value) {
    pm_object *o = &d->ob;
    if (!(o->flags & PMO_OF_TRACKED) && (pmo_may_be_tracked(key) || pmo_may_be_tracked(value)))
        pm_gc_track(o);
}

bool pmo_dict_all_atomic(pm_object *o) {
    dict_keys *k = PMO_DICT(o)->keys;
    for (size_t i = 0; k && i < k->nentries; i++) {
        dk_word *e = dk_entry(k, i);
        if (e[E_VALUE].obj &&
            (pmo_may_be_tracked(e[E_VALUE].obj) || pmo_may_be_tracked(e[E_KEY].obj)))
            return false;
    }
    return true;
}

/* Make room for one more entry of key: a first table of key's kind, a str
 * table turned general for a key that is not a str, a rebuild when the
 * table is full (D3). 0 or -1 (MemoryError, nothing changed). */
static int make_room(pmo_dict *d, pm_object *key) {
    dict_keys *k = d->keys;
    bool general = k && k->str_keys && !is_exact_str(key);
    if (k && k->usable > 0 && !general) return 0;
    if (d->used > SIZE_MAX / 3) {
        pmo_no_memory();
        return -1;
    }
    /* a kind change keeps the size: usable_fraction(size) > used */
    size_t minsize = k && k->usable > 0 ? (size_t)1 << k->log2_size : d->used * 3;
    return dict_rebuild(d, minsize, k ? k->str_keys && !general : is_exact_str(key));
}

/* Append a new entry for key, known to be absent (no code ran since the
 * lookup that said so, which also cached a str key's hash: D6). 0 or -1
 * (MemoryError, nothing changed). */
static int dict_append(pmo_dict *d, pm_object *key, uint64_t hash, pm_object *value) {
    if (make_room(d, key) < 0) return -1;
    keys_append(d->keys, pm_newref(key), hash, pm_newref(value));
    d->used++;
    maintain_tracking(d, key, value);
    return 0;
}

/* Replace the value of the live entry at ix. */
static void dict_replace(pmo_dict *d, int64_t ix, pm_object *value) {
    dk_word *e = dk_entry(d->keys, (size_t)ix);
    pm_object *old = e[E_VALUE].obj;
    e[E_VALUE].obj = pm_newref(value);
    maintain_tracking(d, e[E_KEY].obj, value);
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
 * hash, str.c's S3), or IX_EMPTY. No object is made and no code runs.
 * The probe loop is dict_lookup's on purpose: this one compares texts and
 * never calls out, so it needs none of D4's restarts; one loop for both
 * would put a comparison callback on every probe of the hot lookups. */
static int64_t lookup_text(pmo_dict *d, const char *p, size_t n, uint64_t hash) {
    dict_keys *k = d->keys;
    if (!k) return IX_EMPTY;
    size_t mask = ((size_t)1 << k->log2_size) - 1, i = (size_t)hash & mask;
    uint64_t perturb = hash;
    for (;;) {
        int64_t ix = ix_get(k, i);
        if (ix == IX_EMPTY) return IX_EMPTY;
        if (ix >= 0) {
            dk_word *e = dk_entry(k, (size_t)ix);
            pm_object *sk = e[E_KEY].obj;
            if (entry_hash(k, e) == hash && is_exact_str(sk) && PMO_STR(sk)->nbytes == n &&
                memcmp(pmo_str_data(sk), p, n) == 0)
                return ix;
        }
        i = probe_next(i, &perturb, mask);
    }
}

/* Remove the entry at ix (found through slot). */
static void dict_remove(pmo_dict *d, int64_t ix, size_t slot) {
    dict_keys *k = d->keys;
    dk_word *e = dk_entry(k, (size_t)ix);
    pm_object *key = e[E_KEY].obj, *value = e[E_VALUE].obj;
    ix_set(k, slot, IX_DUMMY);
    e[E_KEY].obj = e[E_VALUE].obj = NULL;
    d->used--;
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
    d->keys = NULL;
    return o; /* untracked until it holds a container (maintain_tracking) */
}

/* The table is made for exactly n entries (D3): a dict of two keys takes
 * 64 bytes of table instead of the 5 entries of a minimal one. Each key is
 * hashed once, as it is inserted (no code runs for str keys). */
pm_object *pmo_dict_from_pairs(pm_object *const *kv, size_t n) {
    pm_object *o = pm_dict_new();
    if (!o || n == 0) return o;
    bool str_keys = true;
    for (size_t i = 0; i < n && str_keys; i++) str_keys = is_exact_str(kv[2 * i]);
    unsigned log2 = LOG2_MINSIZE;
    while (usable_fraction((size_t)1 << log2) < n) log2++;
    pmo_dict *d = PMO_DICT(o);
    if ((d->keys = keys_new(log2, n, str_keys)) == NULL) {
        pm_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t hash;
        /* once per key; caches a str's hash (D6) */
        if (pm_hash(kv[2 * i], &hash) < 0 || dict_insert(d, kv[2 * i], hash, kv[2 * i + 1]) < 0) {
            pm_decref(o);
            return NULL;
        }
    }
    return o;
}

/* The keys table (diag/sizes.c): header, index table and entries, as
 * keys_new sized it (D3: nentries + usable is its capacity). */
static size_t dict_owned_size(pm_object *o) {
    const dict_keys *k = PMO_DICT(o)->keys;
    if (k == NULL) return 0;
    size_t esize = (k->str_keys ? 2 : 3) * sizeof(dk_word);
    size_t n = sizeof *k + ((size_t)1 << k->log2_size << k->log2_ixbytes) +
               (k->nentries + k->usable) * esize;
    return pmo_mem_size(k, n);
}

static void dict_free_mem(pm_runtime *rt, pm_object *o) {
    if (!pmo_freelist_push(rt, &rt->freelists.dicts, o)) pmo_free(rt, o);
}

size_t pm_dict_size(pm_object *d) { return is_dict(d) ? PMO_DICT(d)->used : 0; }

size_t pmo_dict_used(pm_object *d) { return PMO_DICT(d)->used; }

int pm_dict_set(pm_object *d, pm_object *key, pm_object *value) {
    uint64_t hash;
    if (!is_dict(d)) return -1;
    if (!key || !value) {
        pmo_null_arg("pm_dict_set: %s is NULL", key ? "value" : "key");
        return -1;
    }
    if (!pmo_live(value)) return -1; /* the key: pm_hash */
    if (pm_hash(key, &hash) < 0) return -1;
    return dict_insert(PMO_DICT(d), key, hash, value);
}

pm_object *pm_dict_get(pm_object *d, pm_object *key) {
    uint64_t hash;
    size_t slot;
    if (!is_dict(d)) return NULL;
    if (!key) {
        pmo_null_arg("pm_dict_get: key is NULL");
        return NULL;
    }
    if (pm_hash(key, &hash) < 0) return NULL;
    int64_t ix = dict_lookup(PMO_DICT(d), key, hash, &slot);
    return ix >= 0 ? value_at(PMO_DICT(d), ix) : NULL;
}

int pm_dict_del(pm_object *d, pm_object *key) {
    uint64_t hash;
    size_t slot;
    if (!is_dict(d)) return -1;
    if (!key) {
        pmo_null_arg("pm_dict_del: key is NULL");
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
        pmo_null_arg("pm_dict_set_str: %s is NULL", key ? "value" : "key");
        return -1;
    }
    if (!pmo_live(value)) return -1;
    pmo_dict *dict = PMO_DICT(d);
    size_t n = strlen(key);
    uint64_t hash = pmo_hash_bytes(key, n);
    int64_t ix = lookup_text(dict, key, n, hash);
    if (ix >= 0) {
        dict_replace(dict, ix, value);
        return 0;
    }
    pm_object *k = pm_str_from_len(key, n);
    if (!k) return -1;
    uint64_t khash;
    (void)pm_hash(k, &khash); /* == hash; cached in the str (D6) */
    /* Making a str runs no code (an atomic object never starts a
     * collection), so the key is still absent. */
    int r = dict_append(dict, k, hash, value);
    pm_decref(k);
    return r;
}

pm_object *pm_dict_get_str(pm_object *d, const char *key) {
    if (!is_dict(d)) return NULL;
    if (!key) {
        pmo_null_arg("pm_dict_get_str: key is NULL");
        return NULL;
    }
    size_t n = strlen(key);
    int64_t ix = lookup_text(PMO_DICT(d), key, n, pmo_hash_bytes(key, n));
    return ix >= 0 ? value_at(PMO_DICT(d), ix) : NULL;
}

int pmo_dict_next(pm_object *o, size_t *pos, pm_object **key, pm_object **value) {
    dict_keys *k = PMO_DICT(o)->keys;
    if (!k) return 0;
    for (size_t i = *pos; i < k->nentries; i++) {
        dk_word *e = dk_entry(k, i);
        if (e[E_VALUE].obj) {
            *pos = i + 1;
            if (key) *key = e[E_KEY].obj;
            if (value) *value = e[E_VALUE].obj;
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
    for (size_t i = 0; i < k->nentries; i++) {
        dk_word *e = dk_entry(k, i);
        if (e[E_KEY].obj) {
            pm_decref(e[E_KEY].obj);
            pm_decref(e[E_VALUE].obj);
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

/* A str table's keys are atomic (never tracked, D6): only its values can
 * be part of a cycle, so only they are visited. */
static int dict_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    dict_keys *k = PMO_DICT(self)->keys;
    if (!k) return 0;
    for (size_t i = 0; i < k->nentries; i++) {
        dk_word *e = dk_entry(k, i);
        if (!e[E_VALUE].obj) continue;
        int r = k->str_keys ? 0 : visit(e[E_KEY].obj, arg);
        if (!r) r = visit(e[E_VALUE].obj, arg);
        if (r) return r;
    }
    return 0;
}

void pmo_dict_refs_of(pm_object *d, pmo_dict_refs *r) {
    dict_keys *k = PMO_DICT(d)->keys;
    r->n = k ? k->nentries : 0;
    r->entries = k ? dk_entries(k) : NULL;
    r->stride = k ? dk_stride(k) : 0;
    r->keys_atomic = k && k->str_keys;
}

/* The dict is empty (a new table, D4) before any reference drops. */
static int dict_clear(pm_object *self) {
    pmo_dict *d = PMO_DICT(self);
    dict_keys *k = d->keys;
    d->keys = NULL;
    d->used = 0;
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
    pm_object *bv = pm_newref(value_at(b, ix));
    int r = pmo_items_equal(value, bv);
    pm_decref(bv);
    return r;
}

static int dict_equal(pmo_dict *a, pmo_dict *b) {
    if (a->used != b->used) return 0;
    for (size_t i = 0; a->keys && i < a->keys->nentries; i++) {
        dk_word *e = dk_entry(a->keys, i); /* keys read again: code ran */
        if (!e[E_VALUE].obj) continue;
        uint64_t hash = entry_hash(a->keys, e);
        pm_object *key = pm_newref(e[E_KEY].obj), *value = pm_newref(e[E_VALUE].obj);
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
    int r = dict_equal(PMO_DICT(a), PMO_DICT(b));
    if (r < 0) return -1;
    return op == PM_EQ ? r : !r;
}

static int64_t dict_length(pm_object *self) { return (int64_t)PMO_DICT(self)->used; }

static pm_object *dict_getitem(pm_object *self, pm_object *key) {
    uint64_t hash;
    size_t slot;
    if (pm_hash(key, &hash) < 0) return NULL;
    int64_t ix = dict_lookup(PMO_DICT(self), key, hash, &slot);
    if (ix >= 0) return pm_newref(value_at(PMO_DICT(self), ix));
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
