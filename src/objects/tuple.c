/*
 * tuple.c -- pm_tuple_type: immutable sequences with their items inline.
 *
 * Owns the tuple layout's behaviour (pmo_tuple in containers.h), the static
 * empty tuple and the per-runtime free lists of tuples by size.
 *
 * Invariants:
 *   T1  there is one empty tuple: a static, immortal object that every
 *       pm_tuple_new(0) returns.
 *   T2  a tuple of n items (1 <= n <= PMO_TUPLE_FREELIST_SIZES) goes, when
 *       freed, to rt->freelists.tuples[n] unless that list is full; blocks
 *       there are whole blocks, see pmo_gc_freelist_pop.
 *   T3  items are NULL only between pm_tuple_new and pm_tuple_set_steal, or
 *       after clear; every slot tolerates a NULL item (C1). Items are set
 *       only while the tuple has one reference (not yet shared), as
 *       CPython's PyTuple_SetItem requires.
 *   T4  a tuple is tracked from birth, as in CPython; the collector
 *       untracks one whose items are all atomic (collector.c). An item
 *       that may be in a cycle stored after that tracks it again. A tuple
 *       stolen into a container is shared although its count is still 1:
 *       storing into it then is the misuse the count cannot catch (a list
 *       or dict that took it while it was untracked would stay untracked).
 */
#include "containers.h"

#include <stdarg.h>

static void tuple_free_mem(pm_runtime *rt, pm_object *o);
static void tuple_dealloc(pm_object *self);
static int tuple_traverse(pm_object *self, pm_visit_fn visit, void *arg);
static int tuple_clear(pm_object *self);
static pm_object *tuple_repr(pm_object *self);
static int tuple_hash(pm_object *self, uint64_t *out);
static int tuple_compare(pm_object *a, pm_object *b, int op);
static int64_t tuple_length(pm_object *self);
static pm_object *tuple_getitem(pm_object *self, pm_object *key);
static int tuple_contains(pm_object *self, pm_object *key);

pm_type pm_tuple_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "tuple",
    .basicsize = sizeof(pmo_tuple),
    .itemsize = sizeof(pm_object *),
    .flags = PM_TPFLAGS_GC,
    .internal = PMO_TP_FIXED_REFS,
    .slots =
        {
            .dealloc = tuple_dealloc,
            .traverse = tuple_traverse,
            .clear = tuple_clear,
            .repr = tuple_repr,
            .hash = tuple_hash,
            .compare = tuple_compare,
            .length = tuple_length,
            .getitem = tuple_getitem,
            .contains = tuple_contains,
            .iter = pmo_seq_iter,
        },
    .free_mem = tuple_free_mem,
};

/* T1: the empty tuple. */
static struct {
    pm_object ob;
    size_t size;
} empty_tuple = {PMO_STATIC_HEADER(&pm_tuple_type), 0};

/* The check of every public entry (pmo_arg_is): a live tuple. */
#define is_tuple(t) pmo_arg_is(t, &pm_tuple_type, "tuple", __func__)

/* ---- construction ---------------------------------------------------------- */

pm_object *pm_tuple_new(size_t n) {
    if (n == 0) return &empty_tuple.ob;
    pm_object *o = NULL;
    if (n <= PMO_TUPLE_FREELIST_SIZES)
        o = pmo_gc_freelist_pop(&pmo_rt()->freelists.tuples[n], &pm_tuple_type);
    if (!o) {
        if (n > (SIZE_MAX - sizeof(pmo_tuple)) / sizeof(pm_object *) / 2) return pmo_no_memory();
        o = pmo_alloc(&pm_tuple_type, sizeof(pmo_tuple) + n * sizeof(pm_object *));
        if (!o) return NULL;
    }
    pmo_tuple *t = PMO_TUPLE(o);
    t->size = n;
    memset(t->items, 0, n * sizeof(pm_object *));
    pmo_track(o);
    return o;
}

pm_object *pm_tuple_pack(size_t n, ...) {
    pm_object *t = pm_tuple_new(n);
    if (!t) return NULL;
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        pm_object *item = va_arg(ap, pm_object *);
        if (!item || !pmo_live(item)) {
            va_end(ap);
            pm_decref(t);
            if (!item) pmo_null_arg("pm_tuple_pack: item %zu is NULL", i);
            return NULL;
        }
        PMO_TUPLE(t)->items[i] = pm_newref(item);
    }
    va_end(ap);
    return t;
}

/* T2: whole blocks of small tuples go back to their size's free list. */
static void tuple_free_mem(pm_runtime *rt, pm_object *o) {
    size_t n = PMO_TUPLE(o)->size;
    if (n >= 1 && n <= PMO_TUPLE_FREELIST_SIZES &&
        pmo_freelist_push(rt, &rt->freelists.tuples[n], o))
        return;
    pmo_free(rt, o);
}

/* ---- accessors ------------------------------------------------------------- */

size_t pm_tuple_size(pm_object *t) {
    if (!is_tuple(t)) return 0;
    return PMO_TUPLE(t)->size;
}

pm_object *pm_tuple_get(pm_object *t, size_t i) {
    if (!is_tuple(t)) return NULL;
    if (i >= PMO_TUPLE(t)->size) {
        pm_exc_set(PM_EXC_INDEX, "tuple index out of range");
        return NULL;
    }
    return PMO_TUPLE(t)->items[i];
}

int pm_tuple_set_steal(pm_object *t, size_t i, pm_object *item) {
    if (!item) {
        pmo_null_arg("pm_tuple_set_steal: item is NULL");
        return -1;
    }
    if (!pmo_live(item)) return -1; /* no reference to drop */
    if (!is_tuple(t)) {
        pm_decref(item);
        return -1;
    }
    if (i >= PMO_TUPLE(t)->size) {
        pm_decref(item);
        pm_exc_set(PM_EXC_INDEX, "tuple assignment index out of range");
        return -1;
    }
    if (t->refcnt != 1) { /* shared: its hash may be relied on already */
        pm_decref(item);
        pm_exc_set(PM_EXC_RUNTIME, "pm_tuple_set_steal: the tuple is shared");
        return -1;
    }
    /* T4: untracked by a collection while it held only atomic items; it is
     * no longer acyclic once it holds an item that may not be, tracked or
     * not (pm_gc_track may have tracked it again since). */
    if (!(item->flags & PMO_OF_ACYCLIC)) t->flags &= ~PMO_OF_ACYCLIC;
    pmo_note_item(t, item);
    PM_SETREF(PMO_TUPLE(t)->items[i], item);
    return 0;
}

/* ---- GC protocol ------------------------------------------------------------ */

static void tuple_dealloc(pm_object *self) {
    pmo_tuple *t = PMO_TUPLE(self);
    /* Backwards, as CPython: the last items are usually the newest. */
    for (size_t i = t->size; i-- > 0;) pm_xdecref(t->items[i]);
}

static int tuple_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    pmo_tuple *t = PMO_TUPLE(self);
    for (size_t i = 0; i < t->size; i++) {
        if (t->items[i]) {
            int r = visit(t->items[i], arg);
            if (r) return r;
        }
    }
    return 0;
}

/* Items become NULL one by one, each before its reference is dropped, so
 * the code a decref runs never sees a dangling item. */
static int tuple_clear(pm_object *self) {
    pmo_tuple *t = PMO_TUPLE(self);
    for (size_t i = 0; i < t->size; i++) PM_CLEAR(t->items[i]);
    return 0;
}

/* ---- slots ------------------------------------------------------------------ */

static int null_item(void) {
    pm_exc_set(PM_EXC_RUNTIME, "tuple item is not set");
    return -1;
}

static pm_object *tuple_repr(pm_object *self) {
    pmo_tuple *t = PMO_TUPLE(self);
    if (t->size == 0) return pm_str_from("()");
    int r = pmo_repr_enter(self);
    if (r != 0) return r > 0 ? pm_str_from("(...)") : NULL;
    pmo_sbuf b = {0};
    pmo_sbuf_add(&b, "(", 1);
    for (size_t i = 0; i < t->size; i++) {
        if (i > 0) pmo_sbuf_add(&b, ", ", 2);
        if (pmo_sbuf_add_repr(&b, t->items[i]) < 0) {
            pmo_sbuf_discard(&b);
            pmo_repr_leave(self);
            return NULL;
        }
    }
    /* A 1-tuple needs its comma to read back as a tuple. */
    pmo_sbuf_adds(&b, t->size == 1 ? ",)" : ")");
    pmo_repr_leave(self);
    return pmo_sbuf_finish(&b);
}

/* CPython's tuple hash (3.8+): xxHash's round over the item hashes, then
 * the length folded in. Good spread for nested and similar tuples. */
#define XXPRIME_1 11400714785074694791ULL
#define XXPRIME_2 14029467366897019727ULL
#define XXPRIME_5 2870177450012600261ULL
#define XXROTATE(x) (((x) << 31) | ((x) >> 33))

static int tuple_hash(pm_object *self, uint64_t *out) {
    pmo_tuple *t = PMO_TUPLE(self);
    uint64_t acc = XXPRIME_5;
    for (size_t i = 0; i < t->size; i++) {
        uint64_t lane;
        if (!t->items[i] || pm_hash(t->items[i], &lane) < 0) return t->items[i] ? -1 : null_item();
        acc += lane * XXPRIME_2;
        acc = XXROTATE(acc);
        acc *= XXPRIME_1;
    }
    acc += (uint64_t)t->size ^ (XXPRIME_5 ^ 3527539ULL);
    *out = acc;
    return 0;
}

/* Lexicographic comparison shared with list.c's logic: the first index
 * where the items differ decides; otherwise the lengths do. */
static int tuple_compare(pm_object *a, pm_object *b, int op) {
    if (a->type != &pm_tuple_type || b->type != &pm_tuple_type) return PM_CMP_UNSUPPORTED;
    pmo_tuple *x = PMO_TUPLE(a), *y = PMO_TUPLE(b);
    if (x->size != y->size && (op == PM_EQ || op == PM_NE)) return op == PM_NE;
    size_t n = x->size < y->size ? x->size : y->size, i;
    int r = 1;
    for (i = 0; i < n; i++) {
        if (!x->items[i] || !y->items[i]) {
            r = null_item();
            break;
        }
        r = pmo_items_equal(x->items[i], y->items[i]);
        if (r <= 0) break;
    }
    if (r < 0) return -1;
    if (i < n) /* items differ at i */
        return op == PM_EQ ? 0 : op == PM_NE ? 1 : pm_compare(x->items[i], y->items[i], op);
    size_t p = x->size, q = y->size;
    return pmo_cmp_result((p > q) - (p < q), op);
}

static int64_t tuple_length(pm_object *self) { return (int64_t)PMO_TUPLE(self)->size; }

static pm_object *tuple_getitem(pm_object *self, pm_object *key) {
    int64_t i;
    if (pmo_index_value(key, "tuple", &i) < 0) return NULL;
    pmo_tuple *t = PMO_TUPLE(self);
    if (i < 0) i += (int64_t)t->size;
    if (i < 0 || (uint64_t)i >= t->size) {
        pm_exc_set(PM_EXC_INDEX, "tuple index out of range");
        return NULL;
    }
    if (!t->items[i]) {
        null_item();
        return NULL;
    }
    return pm_newref(t->items[i]);
}

static int tuple_contains(pm_object *self, pm_object *key) {
    pmo_tuple *t = PMO_TUPLE(self);
    for (size_t i = 0; i < t->size; i++) {
        if (!t->items[i]) continue;
        int r = pmo_items_equal(t->items[i], key);
        if (r != 0) return r;
    }
    return 0;
}
