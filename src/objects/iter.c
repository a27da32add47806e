/*
 * iter.c -- pm_iter_type, the iterator over every built-in container, and
 * pm_generator_type, lazy iteration driven by a C callback.
 *
 * Owns the iterator and generator objects and the iter slots' constructor
 * (pmo_seq_iter, also exported as pmo_str_iter / pmo_bytes_iter for the
 * str and bytes types).
 *
 * An iterator holds a strong reference to its container and a position:
 * an item index (list, tuple), an entry index (dict: its keys, set,
 * frozenset), a byte offset (str: one code point per step; bytes: one int
 * per step). Iterating a list reads its size at every step, so items
 * appended meanwhile are seen, as in Python.
 *
 * Invariants:
 *   I1  seq is NULL once the iterator is exhausted: the container is
 *       released as early as possible, and the iterator stays exhausted.
 *   I2  a dict or set iterator remembers the container's size at the start;
 *       a step that finds another size raises RuntimeError, and so does
 *       every later step (the size it remembers becomes impossible).
 *   I3  a dict iterator also counts the keys it may still yield (`left`,
 *       the size at the start minus the keys yielded): finding one more
 *       entry when none is left means keys were deleted and others added
 *       at the same size, which raises RuntimeError "dictionary keys
 *       changed during iteration" and exhausts the iterator (CPython
 *       3.11's rule: the check is by count, so a change that the scan
 *       never reaches goes unnoticed, as in CPython).
 *   I4  a generator calls next only while not finished and not already
 *       running; it is finished after next returned 0 or -1. release(state)
 *       runs exactly once, when the generator is freed.
 */
#include "containers.h"

typedef enum iter_kind { IT_LIST, IT_TUPLE, IT_DICT, IT_SET, IT_STR, IT_BYTES } iter_kind;

typedef struct pmo_iter {
    pm_object ob;
    pm_object *seq; /* NULL when exhausted (I1) */
    size_t pos;
    size_t size; /* dict, set: the size when iteration began (I2) */
    size_t left; /* dict: keys it may still yield (I3) */
    iter_kind kind;
} pmo_iter;

#define PMO_ITER(o) ((pmo_iter *)(o))
#define SIZE_CHANGED ((size_t)-1)

static void iter_dealloc(pm_object *self);
static int iter_traverse(pm_object *self, pm_visit_fn visit, void *arg);
static int iter_clear(pm_object *self);
static pm_object *iter_next(pm_object *self);

pm_type pm_iter_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "iterator",
    .basicsize = sizeof(pmo_iter),
    .flags = PM_TPFLAGS_GC,
    .slots =
        {
            .dealloc = iter_dealloc,
            .traverse = iter_traverse,
            .clear = iter_clear,
            .iternext = iter_next,
        },
};

/* ---- construction ------------------------------------------------------------- */

static bool kind_of(pm_object *o, iter_kind *kind, size_t *size) {
    const pm_type *t = o->type;
    *size = 0;
    if (t == &pm_list_type) *kind = IT_LIST;
    else if (t == &pm_tuple_type) *kind = IT_TUPLE;
    else if (t == &pm_dict_type) *kind = IT_DICT, *size = pmo_dict_used(o);
    else if (t == &pm_set_type || t == &pm_frozenset_type) *kind = IT_SET, *size = pmo_set_used(o);
    else if (t == &pm_str_type) *kind = IT_STR;
    else if (t == &pm_bytes_type) *kind = IT_BYTES;
    else return false;
    return true;
}

pm_object *pmo_seq_iter(pm_object *container) {
    iter_kind kind;
    size_t size;
    if (!container || !kind_of(container, &kind, &size)) {
        pmo_type_error("a built-in container", container);
        return NULL;
    }
    pm_object *o = pmo_alloc(&pm_iter_type, sizeof(pmo_iter));
    if (!o) return NULL;
    pmo_iter *it = PMO_ITER(o);
    it->seq = pm_newref(container);
    it->pos = 0;
    it->size = size;
    it->left = size;
    it->kind = kind;
    pmo_track(o);
    return o;
}

pm_object *pmo_str_iter(pm_object *s) { return pmo_seq_iter(s); }
pm_object *pmo_bytes_iter(pm_object *b) { return pmo_seq_iter(b); }

/* ---- GC protocol --------------------------------------------------------------- */

static void iter_dealloc(pm_object *self) { PM_CLEAR(PMO_ITER(self)->seq); }

static int iter_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    pm_object *seq = PMO_ITER(self)->seq;
    return seq ? visit(seq, arg) : 0;
}

static int iter_clear(pm_object *self) {
    PM_CLEAR(PMO_ITER(self)->seq);
    return 0;
}

/* ---- stepping ------------------------------------------------------------------- */

/* I2: the container's size must not have changed since the start. */
static bool size_unchanged(pmo_iter *it, size_t now, const char *what) {
    if (it->size == now) return true;
    it->size = SIZE_CHANGED;
    pm_exc_set(PM_EXC_RUNTIME, "%s changed size during iteration", what);
    return false;
}

/* Length of the UTF-8 sequence a lead byte starts (str holds valid UTF-8). */
static size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4; }

/* Step once: 1 with a new reference in *item, 0 at the end, -1 on error. */
static int step(pmo_iter *it, pm_object **item) {
    pm_object *seq = it->seq, *key;
    size_t n;
    switch (it->kind) {
        case IT_LIST:
            if (it->pos >= PMO_LIST(seq)->size) return 0;
            *item = pm_newref(PMO_LIST(seq)->items[it->pos++]);
            return 1;
        case IT_TUPLE:
            while (it->pos < PMO_TUPLE(seq)->size) { /* NULL items (T3) are skipped */
                pm_object *x = PMO_TUPLE(seq)->items[it->pos++];
                if (x) {
                    *item = pm_newref(x);
                    return 1;
                }
            }
            return 0;
        case IT_DICT:
            if (!size_unchanged(it, pmo_dict_used(seq), "dictionary")) return -1;
            if (!pmo_dict_next(seq, &it->pos, &key, NULL)) return 0;
            if (it->left == 0) { /* I3: one entry more than the dict had */
                PM_CLEAR(it->seq);
                pm_exc_set(PM_EXC_RUNTIME, "dictionary keys changed during iteration");
                return -1;
            }
            it->left--;
            *item = pm_newref(key);
            return 1;
        case IT_SET:
            if (!size_unchanged(it, pmo_set_used(seq), "Set")) return -1;
            if (!pmo_set_next(seq, &it->pos, &key)) return 0;
            *item = pm_newref(key);
            return 1;
        case IT_STR: {
            const char *s = pm_str_utf8(seq, &n);
            if (!s) return -1;
            if (it->pos >= n) return 0;
            size_t len = utf8_len((unsigned char)s[it->pos]);
            if (len > n - it->pos) len = n - it->pos;
            *item = pm_str_from_len(s + it->pos, len);
            if (!*item) return -1;
            it->pos += len;
            return 1;
        }
        default: {
            const char *b = pm_bytes_data(seq, &n);
            if (!b) return -1;
            if (it->pos >= n) return 0;
            *item = pm_int((unsigned char)b[it->pos++]);
            return *item ? 1 : -1;
        }
    }
}

static pm_object *iter_next(pm_object *self) {
    pmo_iter *it = PMO_ITER(self);
    pm_object *item = NULL;
    if (!it->seq) return NULL;
    int r = step(it, &item);
    if (r == 0) PM_CLEAR(it->seq); /* I1 */
    return r > 0 ? item : NULL;
}

/* ======================================================================== */
/* generator                                                                */
/* ======================================================================== */

typedef struct pmo_gen {
    pm_object ob;
    pm_gen_next_fn next;
    void *state;
    void (*release)(void *state);
    bool finished, running;
} pmo_gen;

#define PMO_GEN(o) ((pmo_gen *)(o))

static void gen_dealloc(pm_object *self);
static pm_object *gen_next(pm_object *self);

/* Not a GC type: the state is opaque, so there is nothing to traverse. */
pm_type pm_generator_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "generator",
    .basicsize = sizeof(pmo_gen),
    .slots =
        {
            .dealloc = gen_dealloc,
            .iternext = gen_next,
        },
};

/* On failure release is not called: the caller still owns state. */
pm_object *pm_generator_new(pm_gen_next_fn next, void *state, void (*release)(void *state)) {
    if (!next) {
        pm_exc_set(PM_EXC_TYPE, "pm_generator_new: next is NULL");
        return NULL;
    }
    pm_object *o = pmo_alloc(&pm_generator_type, sizeof(pmo_gen));
    if (!o) return NULL;
    pmo_gen *g = PMO_GEN(o);
    g->next = next;
    g->state = state;
    g->release = release;
    g->finished = g->running = false;
    return o;
}

static void gen_dealloc(pm_object *self) {
    pmo_gen *g = PMO_GEN(self);
    void (*release)(void *) = g->release;
    g->release = NULL;
    g->finished = true;
    if (release == NULL) return;
    /* User code at a deallocation, which may be a failing call's cleanup
     * (gen_next's own decref): a finalizer's rules (pymm.h, unraisable). */
    pm_runtime *rt = pmo_rt();
    pmo_exc_saved saved;
    pmo_unraisable_begin(rt, &saved);
    release(g->state); /* I4 */
    pmo_unraisable_end(rt, &saved, "generator release of", self);
}

static pm_object *gen_next(pm_object *self) {
    pmo_gen *g = PMO_GEN(self);
    if (g->finished) return NULL;
    if (g->running) {
        pm_exc_set(PM_EXC_VALUE, "generator already executing");
        return NULL;
    }
    pm_object *item = NULL;
    g->running = true;
    pm_incref(self); /* the callback may drop the last other reference */
    int r = g->next(g->state, &item);
    g->running = false;
    if (r == 1 && item) {
        pm_decref(self);
        return item;
    }
    g->finished = true;
    if (r == 1) {
        pm_exc_set(PM_EXC_RUNTIME, "generator callback returned 1 without an item");
    } else if (r < 0 && !pm_exc_occurred()) {
        pm_exc_set(PM_EXC_RUNTIME, "generator callback failed without an exception");
    }
    pm_decref(self);
    return NULL;
}
