/*
 * type.c -- type objects, user-defined types, instances and attributes.
 *
 * Owns: pm_type_type (the type of every type), pm_type_new (types made at
 * run time from a spec), instance creation, and the named attributes of
 * instances of PM_TPFLAGS_ATTRS types.
 *
 * A type made at run time is an object like any other: instances own a
 * reference to it (O3), so it lives as long as it has instances. An ATTRS
 * type's instances carry one pointer after the spec's payload: a dict of
 * their attributes, made on the first assignment. Such instances hold
 * references, so the type is a GC type whatever the spec says, and the
 * collector visits the attributes before the spec's own traverse.
 *
 * Reference fields (spec.nrefs) are the payload's first words; pymm owns
 * their visiting, clearing and release, so a type made of them alone
 * needs no slot at all (the collector then reads them in place).
 */
#define _DEFAULT_SOURCE
#include "objects/object.h"

#include <stdlib.h>
#include <string.h>

static pm_object *type_repr(pm_object *self) {
    return pm_str_format("<class '%s'>", ((pm_type *)self)->name);
}

static void type_dealloc(pm_object *self) {
    pm_type *t = (pm_type *)self;
    pmo_mem_free(t->owned_name);
    t->owned_name = NULL;
}

pm_type pm_type_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "type",
    .basicsize = sizeof(pm_type),
    .slots = {.repr = type_repr, .dealloc = type_dealloc},
};

const char *pm_type_name(const pm_type *t) { return t->name; }
unsigned pm_type_flags(const pm_type *t) { return t->flags; }

pm_object **pmo_attrs_slot(pm_object *o) {
    return (pm_object **)((char *)o + o->type->attrs_offset);
}

static bool spec_valid(const pm_type_spec *spec) {
    if (spec == NULL || spec->name == NULL || spec->name[0] == '\0') {
        pm_exc_set(PM_EXC_VALUE, "a type spec needs a name");
        return false;
    }
    if (spec->basicsize < sizeof(pm_object)) {
        pm_exc_set(PM_EXC_VALUE, "type '%s': basicsize %zu is smaller than the object header",
                   spec->name, spec->basicsize);
        return false;
    }
    if (spec->nrefs > (spec->basicsize - sizeof(pm_object)) / sizeof(pm_object *)) {
        pm_exc_set(PM_EXC_VALUE, "type '%s': basicsize %zu cannot hold %zu reference fields",
                   spec->name, spec->basicsize, spec->nrefs);
        return false;
    }
    if ((spec->flags & PM_TPFLAGS_GC) && spec->slots.traverse == NULL && spec->nrefs == 0) {
        pm_exc_set(PM_EXC_VALUE, "type '%s': a GC type needs a traverse slot", spec->name);
        return false;
    }
    if (spec->flags & ~(unsigned)(PM_TPFLAGS_GC | PM_TPFLAGS_WEAKREF | PM_TPFLAGS_ATTRS)) {
        pm_exc_set(PM_EXC_VALUE, "type '%s': unknown flags 0x%x", spec->name, spec->flags);
        return false;
    }
    return true;
}

pm_type *pm_type_new(const pm_type_spec *spec) {
    if (!spec_valid(spec)) return NULL;
    /* The name lives in the runtime's heap: it goes with a destroyed
     * runtime even when the type is still referenced. */
    size_t len = strlen(spec->name) + 1;
    char *name = pmo_mem_malloc(len);
    if (name == NULL) return NULL;
    memcpy(name, spec->name, len);
    pm_type *t = (pm_type *)pmo_alloc(&pm_type_type, sizeof(pm_type));
    if (t == NULL) {
        pmo_mem_free(name);
        return NULL;
    }
    memset((char *)t + sizeof(pm_object), 0, sizeof *t - sizeof(pm_object));
    t->owned_name = name;
    t->name = name;
    t->basicsize = spec->basicsize;
    t->itemsize = spec->itemsize;
    t->flags = spec->flags | PM_TPFLAGS_HEAP;
    t->slots = spec->slots;
    if (t->slots.finalize) t->internal |= PMO_TP_FINALIZERS | PMO_TP_FINALIZE;
    if (t->slots.legacy_del) t->internal |= PMO_TP_FINALIZERS | PMO_TP_LEGACY_DEL;
    if (t->flags & PM_TPFLAGS_ATTRS) {
        /* The attrs pointer goes after the payload, pointer-aligned. */
        size_t at = (t->basicsize + sizeof(void *) - 1) & ~(sizeof(void *) - 1);
        t->attrs_offset = at;
        t->basicsize = at + sizeof(pm_object *);
        t->flags |= PM_TPFLAGS_GC;
    }
    if (spec->nrefs) {
        t->nrefs = spec->nrefs;
        t->flags |= PM_TPFLAGS_GC;
        if (!t->slots.traverse && !(t->flags & PM_TPFLAGS_ATTRS)) t->internal |= PMO_TP_REFS_ONLY;
    }
    return t;
}

/* A zeroed payload holds no references: the instance is fully built for
 * the collector at once. */
static inline pm_object *new_instance(pm_type *t, size_t size) {
    pm_runtime *rt = pmo_rt();
    pm_object *o = pmo_alloc_rt(rt, t, size);
    if (o == NULL) return NULL;
    /* Payloads are whole words (basicsize >= header, 8-aligned in practice):
     * a loop of word pairs beats a call to memset for the usual few words. */
    char *payload = (char *)o + sizeof(pm_object);
    size_t n = size - sizeof(pm_object), i = 0;
    for (; i + 2 * sizeof(uintptr_t) <= n; i += 2 * sizeof(uintptr_t)) {
        uintptr_t *w = (uintptr_t *)(payload + i);
        w[0] = w[1] = 0;
    }
    for (; i < n; i++) payload[i] = 0;
    if (t->flags & PM_TPFLAGS_GC) pmo_gc_link_new(rt, o);
    return o;
}

pm_object *pm_object_new(pm_type *t) {
    if (t == NULL) {
        pm_exc_set(PM_EXC_TYPE, "pm_object_new: NULL type");
        return NULL;
    }
    if (t->itemsize) {
        pm_exc_set(PM_EXC_TYPE, "type '%s' is variable-size: use pm_object_new_var", t->name);
        return NULL;
    }
    return new_instance(t, t->basicsize);
}

pm_object *pm_object_new_var(pm_type *t, size_t nitems) {
    if (t == NULL) {
        pm_exc_set(PM_EXC_TYPE, "pm_object_new_var: NULL type");
        return NULL;
    }
    size_t extra;
    if (__builtin_mul_overflow(nitems, t->itemsize, &extra) || extra > SIZE_MAX - t->basicsize)
        return pmo_no_memory();
    return new_instance(t, t->basicsize + extra);
}

/* Visit what any object holds: its attributes, its reference fields, then
 * its type's traverse. */
int pmo_traverse(pm_object *o, pm_visit_fn visit, void *arg) {
    const pm_type *t = o->type;
    if (t->flags & PM_TPFLAGS_ATTRS) {
        pm_object *attrs = *pmo_attrs_slot(o);
        int r = attrs ? visit(attrs, arg) : 0;
        if (r) return r;
    }
    pm_object **f = pmo_ref_fields(o);
    for (size_t i = 0; i < t->nrefs; i++) {
        int r = f[i] ? visit(f[i], arg) : 0;
        if (r) return r;
    }
    return t->slots.traverse ? t->slots.traverse(o, visit, arg) : 0;
}

void pmo_clear(pm_object *o) {
    const pm_type *t = o->type;
    if (t->nrefs) pmo_release_refs(o);
    if (t->slots.clear) t->slots.clear(o);
}

/* ---- attributes ----------------------------------------------------------- */

static pm_object *no_attribute(pm_object *o, const char *name) {
    pm_exc_set(PM_EXC_ATTRIBUTE, "'%s' object has no attribute '%s'", o->type->name, name);
    return NULL;
}

pm_object *pm_getattr(pm_object *o, const char *name) {
    if (o == NULL || name == NULL) {
        pm_exc_set(PM_EXC_TYPE, "pm_getattr: NULL argument");
        return NULL;
    }
    if (o->type->slots.getattr) {
        pm_object *key = pm_str_id(name);
        if (key == NULL) return NULL;
        pm_object *v = o->type->slots.getattr(o, key);
        pm_decref(key);
        return v;
    }
    if (!(o->type->flags & PM_TPFLAGS_ATTRS)) return no_attribute(o, name);
    pm_object *attrs = *pmo_attrs_slot(o);
    pm_object *v = attrs ? pm_dict_get_str(attrs, name) : NULL;
    if (v) return pm_newref(v);
    if (pm_exc_occurred()) return NULL;
    return no_attribute(o, name);
}

static int set_attribute(pm_object *o, const char *name, pm_object *value) {
    if (o == NULL || name == NULL) {
        pm_exc_set(PM_EXC_TYPE, "pm_setattr: NULL argument");
        return -1;
    }
    pm_object *key = pm_str_id(name);
    if (key == NULL) return -1;
    int r;
    if (o->type->slots.setattr) {
        r = o->type->slots.setattr(o, key, value);
    } else if (!(o->type->flags & PM_TPFLAGS_ATTRS)) {
        no_attribute(o, name);
        r = -1;
    } else {
        pm_object **slot = pmo_attrs_slot(o);
        if (*slot == NULL && value != NULL && (*slot = pm_dict_new()) == NULL) {
            r = -1;
        } else if (value) {
            r = pm_dict_set(*slot, key, value);
        } else if (*slot == NULL || pm_dict_get(*slot, key) == NULL) {
            no_attribute(o, name);
            r = -1;
        } else {
            r = pm_dict_del(*slot, key);
        }
    }
    pm_decref(key);
    return r;
}

int pm_setattr(pm_object *o, const char *name, pm_object *value) {
    if (value == NULL) {
        pm_exc_set(PM_EXC_TYPE, "pm_setattr: NULL value (use pm_delattr)");
        return -1;
    }
    return set_attribute(o, name, value);
}

int pm_delattr(pm_object *o, const char *name) { return set_attribute(o, name, NULL); }
