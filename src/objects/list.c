/*
 * list.c -- pm_list_type: mutable sequences over a separate item array; and
 * the helpers every container shares (the reprs in progress, repr buffers,
 * index arguments).
 *
 * Owns the list layout's behaviour (pmo_list in containers.h), the growth
 * policy, the per-runtime free list of list objects and the per-thread
 * reprs in progress (the depth of nesting is object.c's recursion guard).
 *
 * Invariants:
 *   L1  0 <= size <= allocated <= PMO_LIST_MAX; items is NULL iff
 *       allocated == 0; the slots [0, size) hold one owned reference each
 *       (C1), the rest are garbage never read.
 *   L2  growth is CPython 3.11's: a resize to n keeps the array when
 *       allocated/2 <= n <= allocated; otherwise the new capacity is
 *       n + n/8 + 6 rounded down to a multiple of 4 (0, 4, 8, 16, 24, 32,
 *       40, 52, 64, 76, ...), or n rounded up to 4 when that is closer.
 *   L3  an item is taken out of the array (and the size fixed) before its
 *       reference is dropped, and a slot is read again after any call that
 *       may run code (pm_equal, pm_repr, decref): such code may mutate the
 *       list, and must never make it read freed memory.
 *   L4  the reprs in progress are per thread: a runtime is used by one thread
 *       at a time and every repr that enters leaves on it.
 *   L5  a list is tracked by the collector once it has held an item that
 *       may take part in a cycle (pmo_may_be_tracked): a list of numbers
 *       and strings can be in no cycle, so it is never tracked and never
 *       costs a collection anything. Every store goes through pmo_note_item;
 *       an item taken out does not untrack (as for dicts, the collector
 *       never untracks a list).
 */
#include "containers.h"

#include <inttypes.h>

static void list_free_mem(pm_runtime *rt, pm_object *o);
static size_t list_owned_size(pm_object *o);
static void list_dealloc(pm_object *self);
static int list_traverse(pm_object *self, pm_visit_fn visit, void *arg);
static int list_clear(pm_object *self);
static pm_object *list_repr(pm_object *self);
static int list_compare(pm_object *a, pm_object *b, int op);
static int64_t list_length(pm_object *self);
static pm_object *list_getitem(pm_object *self, pm_object *key);
static int list_setitem(pm_object *self, pm_object *key, pm_object *value);
static int list_contains(pm_object *self, pm_object *key);

pm_type pm_list_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "list",
    .basicsize = sizeof(pmo_list),
    .flags = PM_TPFLAGS_GC,
    .slots =
        {
            .dealloc = list_dealloc,
            .traverse = list_traverse,
            .clear = list_clear,
            .repr = list_repr,
            .compare = list_compare,
            .length = list_length,
            .getitem = list_getitem,
            .setitem = list_setitem,
            .contains = list_contains,
            .iter = pmo_seq_iter,
        },
    .free_mem = list_free_mem,
    .owned_size = list_owned_size,
};

/* ======================================================================== */
/* Shared helpers                                                           */
/* ======================================================================== */

/* ---- reprs of self-referencing containers (L4) --------------------------- */

/* The containers whose repr is in progress live in the runtime (one thread
 * at a time uses it; raw memory, freed when the outermost repr ends). Their
 * depth is bounded by pm_repr's recursion guard (object.h), which every
 * nested repr passes through. */

int pmo_repr_enter(pm_object *o) {
    pmo_vec *active = &pmo_rt()->repr_active;
    for (size_t i = 0; i < active->len; i++)
        if (active->items[i] == o) return 1;
    if (!pmo_vec_push(active, o)) {
        pmo_no_memory();
        return -1;
    }
    return 0;
}

void pmo_repr_leave(pm_object *o) {
    (void)o;
    pmo_vec *active = &pmo_rt()->repr_active;
    active->len--;
    if (active->len == 0) pmo_vec_free(active);
}

/* ---- repr buffers --------------------------------------------------------- */

void pmo_sbuf_add(pmo_sbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                pmo_no_memory();
                return;
            }
            cap *= 2;
        }
        char *p = pmo_mem_realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            pmo_no_memory();
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

int pmo_sbuf_add_repr(pmo_sbuf *b, pm_object *o) {
    if (!o) {
        pmo_sbuf_adds(b, "<NULL>");
        return b->failed ? -1 : 0;
    }
    pm_object *r = pm_repr(o);
    if (!r) return -1;
    size_t n;
    const char *s = pm_str_utf8(r, &n);
    if (s) pmo_sbuf_add(b, s, n);
    pm_decref(r);
    return s && !b->failed ? 0 : -1;
}

pm_object *pmo_sbuf_finish(pmo_sbuf *b) {
    pm_object *s = b->failed ? NULL : pm_str_from_len(b->data ? b->data : "", b->len);
    pmo_sbuf_discard(b);
    return s;
}

void pmo_sbuf_discard(pmo_sbuf *b) {
    pmo_mem_free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- arguments -------------------------------------------------------------- */

void pmo_type_error_not(const char *what, pm_object *got) {
    if (got == NULL) pmo_null_arg("%s, not NULL", what);
    else pm_exc_set(PM_EXC_TYPE, "%s, not %s", what, pm_type_name(got->type));
}

int pmo_index_value(pm_object *key, const char *what, int64_t *out) {
    if (key && key->type == &pm_int_type) return pm_int_value(key, out);
    if (key && key->type == &pm_bool_type) {
        *out = pm_truth(key);
        return 0;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "%s indices must be integers", what);
    pmo_type_error_not(msg, key);
    return -1;
}

/* ======================================================================== */
/* list                                                                     */
/* ======================================================================== */

/* The check of every public entry (pmo_arg_is): a live list. */
#define is_list(l) pmo_arg_is(l, &pm_list_type, "list", __func__)

/* L1's bound: MemoryError, -1. */
static int too_long(void) {
    pm_exc_set(PM_EXC_MEMORY, "list too long: at most %" PRIu32 " items", (uint32_t)PMO_LIST_MAX);
    return -1;
}

/* L2. Sets the size to newsize, reallocating when needed. New slots are
 * left unset for the caller. 0, or -1 with MemoryError and nothing changed.
 * A shrink never fails: when the smaller array cannot be had, the larger one
 * stays. */
static int list_resize(pmo_list *l, size_t newsize) {
    size_t allocated = l->allocated;
    if (allocated >= newsize && newsize >= (allocated >> 1)) {
        l->size = (uint32_t)newsize;
        return 0;
    }
    if (newsize > PMO_LIST_MAX) return too_long();
    size_t cap = (newsize + (newsize >> 3) + 6) & ~(size_t)3;
    /* A big jump (extend by many) gets no over-allocation. */
    if (newsize > l->size && newsize - l->size > cap - newsize) cap = (newsize + 3) & ~(size_t)3;
    if (newsize == 0) cap = 0;
    if (cap > PMO_LIST_MAX) cap = PMO_LIST_MAX; /* >= newsize */
    if (cap > SIZE_MAX / sizeof(pm_object *)) {
        pmo_no_memory();
        return -1;
    }
    if (cap == 0) {
        pmo_mem_free(l->items);
        l->items = NULL;
    } else {
        /* The heap directly: a failed shrink is not an error. */
        pm_object **p =
            pm_domain_realloc(pmo_rt()->heap, PM_DOMAIN_MEM, l->items, cap * sizeof(pm_object *));
        if (!p) {
            if (newsize <= allocated) {
                l->size = (uint32_t)newsize;
                return 0;
            }
            pmo_no_memory();
            return -1;
        }
        l->items = p;
    }
    l->allocated = (uint32_t)cap;
    l->size = (uint32_t)newsize;
    return 0;
}

static pm_object *list_alloc(void) {
    pm_object *o = pmo_gc_freelist_pop(&pmo_rt()->freelists.lists, &pm_list_type);
    if (!o) o = pmo_alloc(&pm_list_type, sizeof(pmo_list));
    if (o) {
        pmo_list *l = PMO_LIST(o);
        l->items = NULL;
        l->size = l->allocated = 0;
    }
    return o;
}

pm_object *pmo_list_from_array_steal(pm_object *const *items, size_t n) {
    pm_object *o = pm_list_new(n);
    if (!o) return NULL;
    pmo_list *l = PMO_LIST(o);
    for (size_t i = 0; i < n; i++) {
        l->items[i] = items[i]; /* over the immortal None: no reference dropped */
        pmo_note_item(o, items[i]);
    }
    return o;
}

pm_object *pm_list_new(size_t n) {
    if (n > PMO_LIST_MAX) {
        too_long();
        return NULL;
    }
    if (n > SIZE_MAX / sizeof(pm_object *)) return pmo_no_memory();
    pm_object *o = list_alloc();
    if (!o || n == 0) return o;
    pmo_list *l = PMO_LIST(o);
    l->items = pmo_mem_malloc(n * sizeof(pm_object *));
    if (!l->items) {
        pm_decref(o);
        return pmo_no_memory();
    }
    for (size_t i = 0; i < n; i++) l->items[i] = pm_none();
    l->size = l->allocated = (uint32_t)n;
    return o;
}

/* The item array (diag/sizes.c): its allocated slots, used or not. */
static size_t list_owned_size(pm_object *o) {
    const pmo_list *l = PMO_LIST(o);
    return pmo_mem_size(l->items, (size_t)l->allocated * sizeof *l->items);
}

static void list_free_mem(pm_runtime *rt, pm_object *o) {
    if (!pmo_freelist_push(rt, &rt->freelists.lists, o)) pmo_free(rt, o);
}

size_t pm_list_size(pm_object *l) { return is_list(l) ? PMO_LIST(l)->size : 0; }

/* A Python index (negative from the end) made absolute; false when it is
 * out of range. */
static bool list_index(pmo_list *l, int64_t i, size_t *out) {
    if (i < 0) i += (int64_t)l->size;
    if (i < 0 || (uint64_t)i >= l->size) return false;
    *out = (size_t)i;
    return true;
}

pm_object *pm_list_get(pm_object *l, int64_t i) {
    size_t k;
    if (!is_list(l)) return NULL;
    if (!list_index(PMO_LIST(l), i, &k)) {
        pm_exc_set(PM_EXC_INDEX, "list index out of range");
        return NULL;
    }
    return PMO_LIST(l)->items[k];
}

static int null_item(const char *func) {
    pmo_null_arg("%s: item is NULL", func);
    return -1;
}

int pm_list_set(pm_object *l, int64_t i, pm_object *item) {
    size_t k;
    if (!item) return null_item("pm_list_set");
    if (!pmo_live(item) || !is_list(l)) return -1;
    if (!list_index(PMO_LIST(l), i, &k)) {
        pm_exc_set(PM_EXC_INDEX, "list assignment index out of range");
        return -1;
    }
    pmo_note_item(l, item);
    PM_SETREF(PMO_LIST(l)->items[k], pm_newref(item)); /* L3: old ref last */
    return 0;
}

int pm_list_append_steal(pm_object *lo, pm_object *item) {
    if (!item) return null_item("pm_list_append_steal");
    if (!pmo_live(item)) return -1; /* no reference to drop */
    if (!is_list(lo)) {
        pm_decref(item);
        return -1;
    }
    pmo_list *l = PMO_LIST(lo);
    size_t n = l->size;
    pmo_note_item(lo, item);
    if (pmo_likely(n < l->allocated)) {
        l->items[n] = item;
        l->size = n + 1;
        return 0;
    }
    if (list_resize(l, n + 1) < 0) {
        pm_decref(item);
        return -1;
    }
    l->items[n] = item;
    return 0;
}

int pm_list_append(pm_object *l, pm_object *item) {
    if (!item) return null_item("pm_list_append");
    if (!pmo_live(item) || !is_list(l)) return -1;
    return pm_list_append_steal(l, pm_newref(item));
}

int pm_list_insert(pm_object *lo, int64_t i, pm_object *item) {
    if (!item) return null_item("pm_list_insert");
    if (!pmo_live(item) || !is_list(lo)) return -1;
    pmo_list *l = PMO_LIST(lo);
    size_t n = l->size, at;
    /* Python's clamping: a[i:i] = [x]. */
    if (i < 0) i += (int64_t)n;
    at = i < 0 ? 0 : (uint64_t)i > n ? n : (size_t)i;
    if (list_resize(l, n + 1) < 0) return -1;
    memmove(l->items + at + 1, l->items + at, (n - at) * sizeof(pm_object *));
    pmo_note_item(lo, item);
    l->items[at] = pm_newref(item);
    return 0;
}

/* Take the item at k out (the caller owns the returned reference). */
static pm_object *list_take(pmo_list *l, size_t k) {
    pm_object *item = l->items[k];
    memmove(l->items + k, l->items + k + 1, (l->size - k - 1) * sizeof(pm_object *));
    list_resize(l, l->size - 1); /* a shrink: cannot fail */
    return item;
}

pm_object *pm_list_pop(pm_object *lo, int64_t i) {
    size_t k;
    if (!is_list(lo)) return NULL;
    pmo_list *l = PMO_LIST(lo);
    if (l->size == 0) {
        pm_exc_set(PM_EXC_INDEX, "pop from empty list");
        return NULL;
    }
    if (!list_index(l, i, &k)) {
        pm_exc_set(PM_EXC_INDEX, "pop index out of range");
        return NULL;
    }
    return list_take(l, k);
}

/* ---- GC protocol ------------------------------------------------------------ */

static void list_dealloc(pm_object *self) {
    /* Cleared by the collector, or never grown: nothing to release. */
    if (PMO_LIST(self)->items) (void)list_clear(self);
}

static int list_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    pmo_list *l = PMO_LIST(self);
    for (size_t i = 0; i < l->size; i++) {
        int r = visit(l->items[i], arg);
        if (r) return r;
    }
    return 0;
}

/* The list is empty before any reference is dropped (L3). */
static int list_clear(pm_object *self) {
    pmo_list *l = PMO_LIST(self);
    pm_object **items = l->items;
    size_t n = l->size;
    l->items = NULL;
    l->size = l->allocated = 0;
    for (size_t i = n; i-- > 0;) pm_decref(items[i]);
    pmo_mem_free(items);
    return 0;
}

/* ---- slots ------------------------------------------------------------------ */

static pm_object *list_repr(pm_object *self) {
    pmo_list *l = PMO_LIST(self);
    if (l->size == 0) return pm_str_from("[]");
    int r = pmo_repr_enter(self);
    if (r != 0) return r > 0 ? pm_str_from("[...]") : NULL;
    pmo_sbuf b = {0};
    pmo_sbuf_add(&b, "[", 1);
    for (size_t i = 0; i < l->size; i++) { /* L3: size read again */
        if (i > 0) pmo_sbuf_add(&b, ", ", 2);
        pm_object *item = pm_newref(l->items[i]);
        r = pmo_sbuf_add_repr(&b, item);
        pm_decref(item);
        if (r < 0) {
            pmo_sbuf_discard(&b);
            pmo_repr_leave(self);
            return NULL;
        }
    }
    pmo_sbuf_add(&b, "]", 1);
    pmo_repr_leave(self);
    return pmo_sbuf_finish(&b);
}

static int compare_sizes(size_t p, size_t q, int op) {
    return pmo_cmp_result((p > q) - (p < q), op);
}

/* Index of the first differing items of two lists, or the shorter size; -1
 * on error. Items are held while compared (L3). */
static int first_difference(pmo_list *x, pmo_list *y, size_t *at) {
    size_t i;
    for (i = 0; i < x->size && i < y->size; i++) {
        pm_object *a = pm_newref(x->items[i]), *b = pm_newref(y->items[i]);
        int r = pmo_items_equal(a, b);
        pm_decref(a);
        pm_decref(b);
        if (r < 0) return -1;
        if (r == 0) break;
    }
    *at = i;
    return 0;
}

static int list_compare(pm_object *a, pm_object *b, int op) {
    if (a->type != &pm_list_type || b->type != &pm_list_type) return PM_CMP_UNSUPPORTED;
    pmo_list *x = PMO_LIST(a), *y = PMO_LIST(b);
    if (x->size != y->size && (op == PM_EQ || op == PM_NE)) return op == PM_NE;
    size_t i;
    int r = first_difference(x, y, &i);
    if (r == 0) {
        if (i >= x->size || i >= y->size) {
            r = compare_sizes(x->size, y->size, op);
        } else if (op == PM_EQ || op == PM_NE) {
            r = op == PM_NE;
        } else {
            pm_object *p = pm_newref(x->items[i]), *q = pm_newref(y->items[i]);
            r = pm_compare(p, q, op);
            pm_decref(p);
            pm_decref(q);
        }
    }
    return r;
}

static int64_t list_length(pm_object *self) { return (int64_t)PMO_LIST(self)->size; }

static pm_object *list_getitem(pm_object *self, pm_object *key) {
    int64_t i;
    size_t k;
    if (pmo_index_value(key, "list", &i) < 0) return NULL;
    if (!list_index(PMO_LIST(self), i, &k)) {
        pm_exc_set(PM_EXC_INDEX, "list index out of range");
        return NULL;
    }
    return pm_newref(PMO_LIST(self)->items[k]);
}

static int list_setitem(pm_object *self, pm_object *key, pm_object *value) {
    int64_t i;
    size_t k;
    if (pmo_index_value(key, "list", &i) < 0) return -1;
    pmo_list *l = PMO_LIST(self);
    if (!list_index(l, i, &k)) {
        pm_exc_set(PM_EXC_INDEX, "list assignment index out of range");
        return -1;
    }
    if (value) {
        pmo_note_item(self, value);
        PM_SETREF(l->items[k], pm_newref(value));
    } else {
        pm_decref(list_take(l, k));
    }
    return 0;
}

static int list_contains(pm_object *self, pm_object *key) {
    pmo_list *l = PMO_LIST(self);
    for (size_t i = 0; i < l->size; i++) {
        pm_object *item = pm_newref(l->items[i]);
        int r = pmo_items_equal(item, key);
        pm_decref(item);
        if (r != 0) return r;
    }
    return 0;
}
