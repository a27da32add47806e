/*
 * containers.h -- layouts and helpers shared by the container modules:
 * tuple.c, list.c, dict.c, set.c and iter.c (prefix pmo_, hidden).
 *
 * Owns the instance layouts of tuple and list (read by iter.c and the
 * collector), the hidden entry points dict.c and set.c give iter.c (those
 * JSON uses are in builders.h), and the reprs in progress of
 * self-referencing containers. A container nested 10^7 deep gives a
 * RecursionError, never overflows the C stack: its slots recurse only
 * through pm_repr, pm_compare and pm_hash, which the runtime's recursion
 * guard bounds (object.h).
 *
 * Invariants:
 *   C1  a container owns exactly one reference to every item it stores;
 *       NULL slots (a tuple being filled, a cleared tuple) own nothing.
 *   C2  every container type is PM_TPFLAGS_GC: traverse visits each stored
 *       reference, clear drops them all and leaves a valid empty object.
 *   C3  a mutation that fails changes nothing (the error is set).
 */
#ifndef PM_OBJECTS_CONTAINERS_H
#define PM_OBJECTS_CONTAINERS_H

#include "object.h"

#include <string.h>

/* ---- layouts ------------------------------------------------------------ */

typedef struct pmo_tuple {
    pm_object ob;
    size_t size;
    pm_object *items[]; /* size slots, inline */
} pmo_tuple;

/* 32-bit counts keep a list object at 32 bytes (one size class below
 * 48): a list holds at most PMO_LIST_MAX items, the
 * limit JavaScript arrays have, 32 GiB of item pointers. */
typedef struct pmo_list {
    pm_object ob;
    pm_object **items; /* pmo_mem_malloc'd; NULL when allocated == 0 */
    uint32_t size, allocated;
} pmo_list;

#define PMO_LIST_MAX UINT32_MAX

#define PMO_TUPLE(o) ((pmo_tuple *)(o))
#define PMO_LIST(o) ((pmo_list *)(o))

/* ---- allocation of GC objects ------------------------------------------------
 * Free lists hold dead objects linked through their first word (object.c's
 * convention; the type word stays so pmo_free finds the block). Reusing one
 * is an allocation of a GC object like pmo_alloc's: the collector may run
 * first (the young count rises, the same test as pmo_alloc's), and the
 * header is re-initialized (refcount 1, untracked, counted). */
static inline pm_object *pmo_gc_freelist_pop(pmo_freelist *fl, pm_type *t) {
    if (!fl->head) return NULL;
    pm_runtime *rt = pmo_rt();
    if (!pmo_freelists_on(rt)) return NULL;
    pmo_gc_maybe_collect(rt);
    if (!fl->head) return NULL; /* the collection may have drained it */
    pm_object *o = pmo_freelist_pop(fl);
    return pmo_init_header(o, t);
}

/* Containers are tracked by the collector once fully built (pymm.h). */
static inline void pmo_track(pm_object *o) { pm_gc_track(o); }

/* An untracked container (list, or tuple the collector untracked) about to
 * hold item: tracked first if item may take part in a cycle. */
static inline void pmo_note_item(pm_object *c, const pm_object *item) {
    if (pmo_unlikely(!(c->flags & PMO_OF_TRACKED)) && pmo_may_be_tracked(item)) pmo_track(c);
}

/* ---- reprs of self-referencing containers (list.c) ------------------------ */

/* Nesting is bounded by the recursion guard of pm_repr, pm_compare and
 * pm_hash (object.h), through which every nested call goes. */

/* Reprs of self-referencing containers print "[...]": 0 when o is entered
 * (pair with pmo_repr_leave), 1 when o is already being repr'd on this
 * thread, -1 on error (no memory). */
PMO_HIDDEN int pmo_repr_enter(pm_object *o);
PMO_HIDDEN void pmo_repr_leave(pm_object *o);

/* ---- text building for reprs (list.c) ----------------------------------- */

/* A growable UTF-8 buffer (runtime mem domain). */
typedef struct pmo_sbuf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed: MemoryError is set */
} pmo_sbuf;

PMO_HIDDEN void pmo_sbuf_add(pmo_sbuf *b, const char *s, size_t n);
static inline void pmo_sbuf_adds(pmo_sbuf *b, const char *s) { pmo_sbuf_add(b, s, strlen(s)); }
/* Append repr(o): 0, or -1 with the error set. */
PMO_HIDDEN int pmo_sbuf_add_repr(pmo_sbuf *b, pm_object *o);
/* The str of the buffer (a new reference) or NULL; frees the buffer. */
PMO_HIDDEN pm_object *pmo_sbuf_finish(pmo_sbuf *b);
PMO_HIDDEN void pmo_sbuf_discard(pmo_sbuf *b);

/* ---- cross-module entry points -------------------------------------------- */

/* dict.c's entry words, shared with the collector, which reads a dict's
 * references in place: an entry is a key, a value and, in general tables,
 * the key's hash; a deleted entry has a NULL value. */
typedef union pmo_dk_word {
    pm_object *obj;
    uint64_t hash;
} pmo_dk_word;

enum { PMO_DK_KEY, PMO_DK_VALUE, PMO_DK_HASH };

typedef struct pmo_dict_refs {
    const pmo_dk_word *entries; /* entry i: entries[i * stride + PMO_DK_*] */
    size_t n, stride;           /* entries appended, live or deleted       */
    bool keys_atomic;           /* a str table: its keys need no visit     */
} pmo_dict_refs;

/* dict.c: where d's references are, valid until d is next mutated. */
PMO_HIDDEN void pmo_dict_refs_of(pm_object *d, pmo_dict_refs *r);

/* str.c's layout (its invariants S1-S5 are str.c's), shared so that the
 * dict's str-keyed tables read a key's cached hash and compare texts
 * inline: they store no hash of their own. */
typedef struct pmo_str {
    pm_object ob;
    uint64_t hash; /* valid when PM_OF_HASHED (S3)      */
    size_t nbytes; /* UTF-8 bytes, the final NUL excluded */
    size_t length; /* code points                       */
} pmo_str;         /* followed by nbytes + 1 bytes        */

#define PMO_STR(o) ((pmo_str *)(o))
static inline const char *pmo_str_data(const pm_object *s) {
    return (const char *)(PMO_STR(s) + 1);
}

/* set.c: likewise for sets and frozensets (borrowed key). */
PMO_HIDDEN int pmo_set_next(pm_object *s, size_t *pos, pm_object **key);
PMO_HIDDEN size_t pmo_set_used(pm_object *s);
static inline bool pmo_is_anyset(const pm_object *o) {
    return o->type == &pm_set_type || o->type == &pm_frozenset_type;
}

/* iter.c: iterator constructors, the iter slots of the containers. */
PMO_HIDDEN pm_object *pmo_seq_iter(pm_object *container);
/* For str.c and bytes.c to install as their iter slot: iterate a str by
 * code point (1-character strs) and bytes by int. */
PMO_HIDDEN pm_object *pmo_str_iter(pm_object *s);
PMO_HIDDEN pm_object *pmo_bytes_iter(pm_object *b);

/* An index argument (int or bool) for what ("list", "tuple"): 0, or -1
 * with TypeError "list indices must be integers, not str". */
PMO_HIDDEN int pmo_index_value(pm_object *key, const char *what, int64_t *out);
/* TypeError "<what>, not <type of got>" (got may be NULL). */
PMO_HIDDEN void pmo_type_error_not(const char *what, pm_object *got);

/* Item comparison used by every container: identity first, then pm_equal
 * (1, 0, -1). */
static inline int pmo_items_equal(pm_object *a, pm_object *b) {
    return a == b ? 1 : pm_equal(a, b);
}

#endif
