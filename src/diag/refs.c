/*
 * refs.c -- the strong references an object holds, each labelled with the
 * slot that holds it: the edges of the questions "why is it alive"
 * (held.c, paths.c). docs/DESIGN.md, "Diagnostics: why is it alive".
 *
 * Owns a table of labelled walks, one per built-in container type
 * (by_type), and the generic walk every other type gets: its attribute
 * dict, its reference fields, then the n-th visit of its traverse slot.
 * Every walk also reports an instance's reference to its heap type (O3),
 * which no traverse slot visits.
 *
 * Why not the types' traverse slots alone: they answer the collector's
 * question, not this one. A dict of str keys does not visit its keys
 * (they can take part in no cycle), yet holds a reference to each; and a
 * slot says nothing of where a reference sits. The containers' walks
 * here read the layouts of objects/containers.h instead.
 *
 * Invariants:
 *   R1  Every strong reference an object holds that pymm can know of
 *       (C1 of containers.h, reference fields, attributes, the type, the
 *       traverse slot) is reported exactly once per reference: a list
 *       holding x twice reports two edges. held.c's count of references
 *       held from C depends on it.
 *   R2  Nothing here allocates, makes an object or calls a slot other
 *       than traverse: a walk of a graph changes nothing in it.
 */
#include "objects/containers.h"
#include "diag/diag.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- the walks ------------------------------------------------------------- */

static int list_edges(pm_object *o, pmd_edge_fn fn, void *arg) {
    pmo_list *l = PMO_LIST(o);
    for (size_t i = 0; i < l->size; i++) {
        int r = fn(l->items[i], PMD_EDGE(PMD_EDGE_ITEM, i), arg);
        if (r) return r;
    }
    return 0;
}

static int tuple_edges(pm_object *o, pmd_edge_fn fn, void *arg) {
    pmo_tuple *t = PMO_TUPLE(o);
    for (size_t i = 0; i < t->size; i++) {
        int r = t->items[i] ? fn(t->items[i], PMD_EDGE(PMD_EDGE_ITEM, i), arg) : 0;
        if (r) return r;
    }
    return 0;
}

/* Keys of str tables too (R1): the collector's traverse leaves them out. */
static int dict_edges(pm_object *o, pmd_edge_fn fn, void *arg) {
    pmo_dict_refs d;
    pmo_dict_refs_of(o, &d);
    for (size_t i = 0; i < d.n; i++) {
        const pmo_dk_word *e = d.entries + i * d.stride;
        if (e[PMO_DK_VALUE].obj == NULL) continue; /* deleted */
        int r = fn(e[PMO_DK_KEY].obj, PMD_EDGE(PMD_EDGE_KEY, i), arg);
        if (!r) r = fn(e[PMO_DK_VALUE].obj, PMD_EDGE(PMD_EDGE_VALUE, i), arg);
        if (r) return r;
    }
    return 0;
}

/* A traverse slot's visits, relabelled: the visitor's context. */
typedef struct relabel {
    pmd_edge_fn fn;
    void *arg;
    unsigned kind;
    uint64_t n;
} relabel;

static int relabel_visit(pm_object *child, void *arg) {
    relabel *rl = arg;
    return rl->fn(child, PMD_EDGE(rl->kind, rl->n++), rl->arg);
}

static int traverse_as(pm_object *o, unsigned kind, pmd_edge_fn fn, void *arg) {
    int (*traverse)(pm_object *, pm_visit_fn, void *) = o->type->slots.traverse;
    relabel rl = {fn, arg, kind, 0};
    return traverse ? traverse(o, relabel_visit, &rl) : 0;
}

/* Sets visit every member (C2 of containers.h); iterators their
 * container, weak references their callback's argument (and a keyed
 * one its key): all traverse, relabelled. */
static int set_edges(pm_object *o, pmd_edge_fn fn, void *arg) {
    return traverse_as(o, PMD_EDGE_MEMBER, fn, arg);
}

static int iter_edges(pm_object *o, pmd_edge_fn fn, void *arg) {
    return traverse_as(o, PMD_EDGE_ITERATED, fn, arg);
}

/* Any other type: what pmo_traverse visits, each with its place. */
static int generic_edges(pm_object *o, pmd_edge_fn fn, void *arg) {
    const pm_type *t = o->type;
    if (t->flags & PM_TPFLAGS_ATTRS) {
        pm_object *attrs = *pmo_attrs_slot(o);
        int r = attrs ? fn(attrs, PMD_EDGE(PMD_EDGE_ATTRS, 0), arg) : 0;
        if (r) return r;
    }
    pm_object **f = pmo_ref_fields(o);
    for (size_t i = 0; i < t->nrefs; i++) {
        int r = f[i] ? fn(f[i], PMD_EDGE(PMD_EDGE_FIELD, i), arg) : 0;
        if (r) return r;
    }
    unsigned kind = (t->internal & PMO_TP_WEAKREF) ? PMD_EDGE_WEAKREF : PMD_EDGE_REFERENT;
    return traverse_as(o, kind, fn, arg);
}

typedef int (*edges_fn)(pm_object *o, pmd_edge_fn fn, void *arg);

static const struct {
    const pm_type *type;
    edges_fn edges;
} by_type[] = {
    {&pm_list_type, list_edges}, {&pm_tuple_type, tuple_edges},   {&pm_dict_type, dict_edges},
    {&pm_set_type, set_edges},   {&pm_frozenset_type, set_edges}, {&pm_iter_type, iter_edges},
};

static edges_fn edges_of(const pm_type *t) {
    for (size_t i = 0; i < sizeof by_type / sizeof *by_type; i++)
        if (by_type[i].type == t) return by_type[i].edges;
    return generic_edges;
}

int pmd_referents(pm_object *o, pmd_edge_fn fn, void *arg) {
    pm_type *t = o->type;
    if (t->flags & PM_TPFLAGS_HEAP) { /* O3: an instance owns its type */
        int r = fn(&t->ob, PMD_EDGE(PMD_EDGE_TYPE, 0), arg);
        if (r) return r;
    }
    return edges_of(t)(o, fn, arg);
}

/* ---- labels ------------------------------------------------------------------- */

/* Text of n bytes, quoted and cut to fit (with "..." when cut). */
static void quote(char *buf, size_t size, const char *prefix, const char *text, size_t n) {
    const size_t max = 40;
    int cut = n > max;
    snprintf(buf, size, "%s'%.*s%s'", prefix, (int)(cut ? max : n), text, cut ? "..." : "");
}

void pmd_short_repr(pm_object *o, char *buf, size_t size) {
    const pm_type *t = o->type;
    int64_t v;
    if (t == &pm_str_type) {
        const pmo_str *s = (const pmo_str *)o; /* the text follows the header */
        quote(buf, size, "str ", (const char *)(s + 1), s->nbytes);
    } else if (t == &pm_int_type && pm_int_value(o, &v) == 0) {
        snprintf(buf, size, "int %" PRId64, v);
    } else if (t == &pm_list_type) {
        snprintf(buf, size, "list (%" PRIu32 " items)", PMO_LIST(o)->size);
    } else if (t == &pm_tuple_type) {
        snprintf(buf, size, "tuple (%zu items)", PMO_TUPLE(o)->size);
    } else if (t == &pm_dict_type) {
        snprintf(buf, size, "dict (%zu items)", pm_dict_size(o));
    } else if (t == &pm_set_type || t == &pm_frozenset_type) {
        snprintf(buf, size, "%s (%zu items)", t->name, pm_set_size(o));
    } else if (t == &pm_type_type) {
        snprintf(buf, size, "type '%s'", ((const pm_type *)o)->name);
    } else {
        snprintf(buf, size, "%s at %p", t->name, (void *)o);
    }
}

/* A dict key as it reads in a subscript: 'text', a number, or its type. */
static void key_text(pm_object *key, char *buf, size_t size) {
    int64_t v;
    if (key->type == &pm_str_type) {
        const pmo_str *s = (const pmo_str *)key;
        quote(buf, size, "", (const char *)(s + 1), s->nbytes);
    } else if (key->type == &pm_int_type && pm_int_value(key, &v) == 0) {
        snprintf(buf, size, "%" PRId64, v);
    } else {
        snprintf(buf, size, "<%s at %p>", key->type->name, (void *)key);
    }
}

void pmd_edge_label(pm_object *parent, pmd_edge e, char *buf, size_t size) {
    uint64_t i = PMD_EDGE_INDEX(e);
    char key[64];
    switch (PMD_EDGE_KIND(e)) {
        case PMD_EDGE_ITEM: snprintf(buf, size, "[%" PRIu64 "]", i); return;
        case PMD_EDGE_VALUE:
        case PMD_EDGE_KEY: {
            pmo_dict_refs d;
            pmo_dict_refs_of(parent, &d);
            PM_ASSERT(i < d.n); /* the dict did not change since the walk */
            key_text(d.entries[i * d.stride + PMO_DK_KEY].obj, key, sizeof key);
            if (PMD_EDGE_KIND(e) == PMD_EDGE_VALUE) snprintf(buf, size, "[%s]", key);
            else snprintf(buf, size, "key %s", key);
            return;
        }
        case PMD_EDGE_MEMBER: snprintf(buf, size, "member"); return;
        case PMD_EDGE_ATTRS: snprintf(buf, size, "__dict__"); return;
        case PMD_EDGE_FIELD: snprintf(buf, size, "field %" PRIu64, i); return;
        case PMD_EDGE_REFERENT: snprintf(buf, size, "referent %" PRIu64, i); return;
        case PMD_EDGE_TYPE: snprintf(buf, size, "type"); return;
        case PMD_EDGE_ITERATED: snprintf(buf, size, "iterated"); return;
        case PMD_EDGE_WEAKREF: snprintf(buf, size, "weakref referent %" PRIu64, i); return;
        case PMD_EDGE_HELD_FROM_C: snprintf(buf, size, "held from C: %" PRIu64, i); return;
        default: snprintf(buf, size, "?"); return;
    }
}
