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
 *
 * A frozen type (PM_TPFLAGS_FROZEN) is such a type whose fields are fixed
 * at creation: an instance is born tracked only if one of them may take
 * part in a cycle (a field without PMO_OF_ACYCLIC), else it is ACYCLIC
 * itself and stays untracked for life unless pm_gc_track says otherwise.
 *
 * A shared type (PM_TPFLAGS_SHARED) belongs to no runtime: it and its
 * name come from the C library, it is immortal from birth, and nothing
 * writes it after pm_type_new, so instances made by runtimes on several
 * threads read it at once without a race. The instances' reference (O3)
 * is kept by the same code as for other heap types: pm_incref of an
 * immortal object reads its count and stores nothing, which costs the
 * instance fast paths no test. Live shared types are listed in the
 * process-wide shared-type registry (a mutex and a sorted array), which
 * only pm_type_new, pm_type_destroy and debug mode's checks touch.
 */
#define _DEFAULT_SOURCE
#include "objects/object.h"
#include "heap/internal_alloc.h"

#include <pthread.h>
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

/* A heap type's copy of its name (diag/sizes.c). */
static size_t type_owned_size(pm_object *self) {
    const char *name = ((pm_type *)self)->owned_name;
    return name ? pmo_mem_size(name, strlen(name) + 1) : 0;
}

pm_type pm_type_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "type",
    .basicsize = sizeof(pm_type),
    .slots = {.repr = type_repr, .dealloc = type_dealloc},
    .owned_size = type_owned_size,
};

const char *pm_type_name(const pm_type *t) { return pmo_live(t) ? t->name : NULL; }
unsigned pm_type_flags(const pm_type *t) { return pmo_live(t) ? t->flags : 0; }

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
    if (spec->flags & ~(unsigned)(PM_TPFLAGS_GC | PM_TPFLAGS_WEAKREF | PM_TPFLAGS_ATTRS |
                                  PM_TPFLAGS_FROZEN | PM_TPFLAGS_SHARED)) {
        pm_exc_set(PM_EXC_VALUE, "type '%s': unknown flags 0x%x", spec->name, spec->flags);
        return false;
    }
    if ((spec->flags & PM_TPFLAGS_FROZEN) &&
        (spec->nrefs == 0 || spec->slots.traverse || (spec->flags & PM_TPFLAGS_ATTRS))) {
        pm_exc_set(PM_EXC_VALUE,
                   "type '%s': a frozen type holds its references in reference fields only "
                   "(nrefs > 0, no traverse slot, no attributes)",
                   spec->name);
        return false;
    }
    return true;
}

/* ---- the shared-type registry ---------------------------------------------- */

/* The live shared types, sorted by address: a field of the process-wide
 * structure (pmh_process, src/heap/process.c) that every thread may touch,
 * under its lock. Debug mode asks it whether a type that is not its
 * runtime's may be used, without reading the type. */
#define shared_types pmh_process.shared_types

/* Is t listed? *at: its index, or where it would go. The lock is held. */
static bool shared_find(const pm_type *t, size_t *at) {
    size_t lo = 0, hi = shared_types.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)shared_types.types[mid] < (uintptr_t)t) lo = mid + 1;
        else hi = mid;
    }
    *at = lo;
    return lo < shared_types.len && shared_types.types[lo] == t;
}

static bool shared_add(const pm_type *t) {
    pmh_process_fork_safe(); /* the lock is held across fork() */
    pthread_mutex_lock(&shared_types.lock);
    bool ok = true;
    if (shared_types.len == shared_types.cap) {
        size_t cap = shared_types.cap ? shared_types.cap * 2 : 16;
        const pm_type **a = pmh_internal_realloc(shared_types.types, cap * sizeof *a);
        if (a) {
            shared_types.types = a;
            shared_types.cap = cap;
        }
        ok = a != NULL;
    }
    size_t i;
    if (ok && !shared_find(t, &i)) {
        memmove(&shared_types.types[i + 1], &shared_types.types[i],
                (shared_types.len - i) * sizeof *shared_types.types);
        shared_types.types[i] = t;
        shared_types.len++;
    }
    pthread_mutex_unlock(&shared_types.lock);
    return ok;
}

/* Is t a live shared type? If so and `remove`, it no longer is. */
static bool shared_lookup(const pm_type *t, bool remove) {
    pmh_process_fork_safe(); /* the lock is held across fork() */
    pthread_mutex_lock(&shared_types.lock);
    size_t i;
    bool found = shared_find(t, &i);
    if (found && remove) {
        shared_types.len--;
        memmove(&shared_types.types[i], &shared_types.types[i + 1],
                (shared_types.len - i) * sizeof *shared_types.types);
    }
    pthread_mutex_unlock(&shared_types.lock);
    return found;
}

/* A shared type and its name from internal memory (internal_alloc.h), immortal: no runtime
 * owns it, no count changes. */
static pm_type *shared_alloc(const char *spec_name) {
    size_t len = strlen(spec_name) + 1;
    pm_type *t = pmh_internal_calloc(1, sizeof *t);
    char *name = pmh_internal_malloc(len);
    if (t == NULL || name == NULL || !shared_add(t)) {
        pmh_internal_free(t);
        pmh_internal_free(name);
        return pmo_no_memory();
    }
    memcpy(name, spec_name, len);
    t->ob = (pm_object)PMO_IMMORTAL_HEADER(&pm_type_type);
    t->owned_name = name;
    t->name = name;
    return t;
}

/* A runtime's type: in its heap, with its name, freed with its last
 * reference (type_dealloc) or with a destroyed private heap, even when
 * the type is still referenced. */
static pm_type *runtime_alloc(const char *spec_name) {
    size_t len = strlen(spec_name) + 1;
    char *name = pmo_mem_malloc(len);
    if (name == NULL) return NULL;
    memcpy(name, spec_name, len);
    pm_type *t = (pm_type *)pmo_alloc(&pm_type_type, sizeof(pm_type));
    if (t == NULL) {
        pmo_mem_free(name);
        return NULL;
    }
    memset((char *)t + sizeof(pm_object), 0, sizeof *t - sizeof(pm_object));
    t->owned_name = name;
    t->name = name;
    return t;
}

int pm_type_destroy(pm_type *t) {
    /* The registry answers before t is read: a type destroyed twice, or
     * a runtime's type, may be memory that is gone. */
    if (t == NULL || !shared_lookup(t, true)) {
        pm_exc_set(PM_EXC_VALUE, "pm_type_destroy: %p is not a live shared type", (void *)t);
        return -1;
    }
    pmh_internal_free(t->owned_name);
    pmh_internal_free(t);
    return 0;
}

/* The public built-in types, static and shared by every runtime. */
static const pm_type *const builtin_types[] = {
    &pm_type_type, &pm_none_type,      &pm_bool_type,  &pm_int_type,       &pm_float_type,
    &pm_str_type,  &pm_bytes_type,     &pm_tuple_type, &pm_list_type,      &pm_dict_type,
    &pm_set_type,  &pm_frozenset_type, &pm_iter_type,  &pm_generator_type, &pm_weakref_type};

static bool builtin_type(const pm_type *t) {
    for (size_t i = 0; i < sizeof builtin_types / sizeof *builtin_types; i++)
        if (builtin_types[i] == t) return true;
    return false;
}

/* Debug mode: may rt make an instance of t? Its own types (in its heap),
 * the built-in ones and live shared types; anything else is another
 * runtime's type or one whose runtime is gone, and is reported without
 * being read. */
bool pmo_type_usable(pm_runtime *rt, const pm_type *t) {
    if (pmo_rt_holds(rt, t) || builtin_type(t) || shared_lookup(t, false)) return true;
    pmo_report_wrong_runtime(rt, t, NULL,
                             "a type that is neither this runtime's, a built-in nor a live shared "
                             "type was asked for an instance (another runtime's type, or one whose "
                             "runtime was destroyed)");
    pm_exc_set(PM_EXC_RUNTIME, "type %p does not belong to this runtime", (const void *)t);
    return false;
}

/* ---- types ------------------------------------------------------------------ */

pm_type *pm_type_new(const pm_type_spec *user_spec) {
    /* The caller's layout read into this library's (pymm.h, "The API as
     * a contract"): every field below is then there. */
    pm_type_spec copy = {0};
    const pm_type_spec *spec = NULL;
    if (user_spec) {
        char why[200];
        if (pmh_struct_read(&copy, sizeof copy, user_spec, PMH_END_OF(pm_type_spec, nrefs),
                            "pm_type_spec", why, sizeof why)) {
            pm_exc_set(PM_EXC_VALUE, "%s", why);
            return NULL;
        }
        spec = &copy;
    }
    if (!spec_valid(spec)) return NULL;
    pm_type *t =
        (spec->flags & PM_TPFLAGS_SHARED) ? shared_alloc(spec->name) : runtime_alloc(spec->name);
    if (t == NULL) return NULL;
    t->basicsize = spec->basicsize;
    t->itemsize = spec->itemsize;
    t->flags = spec->flags | PM_TPFLAGS_HEAP;
    t->slots = spec->slots;
    t->owned_size = spec->owned_size;
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
    if (t->flags & PM_TPFLAGS_FROZEN) t->internal |= PMO_TP_FIXED_REFS;
    if ((t->internal & PMO_TP_REFS_ONLY) && !t->slots.dealloc &&
        !(t->internal & PMO_TP_FINALIZERS) && t->itemsize == 0 &&
        t->basicsize == sizeof(pm_object) + t->nrefs * sizeof(pm_object *) &&
        t->basicsize <= PM_SMALL_MAX)
        t->internal |= PMO_TP_PLAIN;
    return t;
}

/* Zero bytes [from, size) of a new object. Payloads are whole words
 * (basicsize >= header, 8-aligned in practice): a loop of word pairs
 * beats a call to memset for the usual few words. */
static inline void zero_from(pm_object *o, size_t from, size_t size) {
    char *payload = (char *)o + from;
    size_t n = size - from, i = 0;
    for (; i + 2 * sizeof(uintptr_t) <= n; i += 2 * sizeof(uintptr_t)) {
        uintptr_t *w = (uintptr_t *)(payload + i);
        w[0] = w[1] = 0;
    }
    for (; i < n; i++) payload[i] = 0;
}

/* 1 when field r (NULL or an object) may take part in a cycle as far as
 * its ACYCLIC bit knows, computed without a branch: the leaves of a tree
 * have NULL fields in the tree's own pattern, which no predictor learns,
 * so an empty field reads a static stand-in instead of being tested. */
static const pm_object no_ref = PMO_STATIC_HEADER(&pm_none_type);

static inline unsigned ref_may_cycle(const pm_object *r) {
    uintptr_t empty = -(uintptr_t)(r == NULL); /* all ones for NULL */
    const pm_object *p = (const pm_object *)((uintptr_t)r | ((uintptr_t)&no_ref & empty));
    return !(p->flags & PMO_OF_ACYCLIC);
}

/* A new frozen instance whose fields are all ACYCLIC is never tracked and
 * ACYCLIC itself; it gets the mark of objects the collector never tracks
 * too (PM_OF_LOST_REF: no note of lost references). Any other instance of
 * a GC type is tracked, fully built. */
static inline void link_new_instance(pm_runtime *rt, pm_object *o, unsigned may_cycle) {
    if (may_cycle || !(o->type->internal & PMO_TP_FIXED_REFS)) pmo_gc_link_new(rt, o);
    else o->flags |= PM_OF_LOST_REF | PMO_OF_ACYCLIC;
}

static inline pm_object *new_instance(pm_type *t, size_t size) {
    pm_runtime *rt = pmo_rt();
    pm_object *o = pmo_alloc_rt(rt, t, size);
    if (o == NULL) return NULL;
    zero_from(o, sizeof(pm_object), size);
    if (t->flags & PM_TPFLAGS_GC) link_new_instance(rt, o, 0); /* no references yet */
    return o;
}

/* Debug mode: t is checked before it is read: first that this runtime may
 * use it (pmo_type_usable never reads a destroyed runtime's type), then
 * that it is not a freed type in this runtime's quarantine (pmo_live). */
#define type_ok(t) type_ok_in(t, __func__)
static inline bool type_ok_in(pm_type *t, const char *api) {
    pm_runtime *rt = pmo_rt();
    return !pmo_unlikely(pmo_debug_checks(rt)) || (pmo_type_usable(rt, t) && pmo_live_in(t, api));
}

pm_object *pm_object_new(pm_type *t) {
    if (t == NULL) {
        pmo_null_arg("pm_object_new: NULL type");
        return NULL;
    }
    if (!type_ok(t)) return NULL;
    if (t->itemsize) {
        pm_exc_set(PM_EXC_TYPE, "type '%s' is variable-size: use pm_object_new_var", t->name);
        return NULL;
    }
    return new_instance(t, t->basicsize);
}

pm_object *pm_object_new_var(pm_type *t, size_t nitems) {
    if (t == NULL) {
        pmo_null_arg("pm_object_new_var: NULL type");
        return NULL;
    }
    if (!type_ok(t)) return NULL;
    size_t extra;
    if (__builtin_mul_overflow(nitems, t->itemsize, &extra) || extra > SIZE_MAX - t->basicsize)
        return pmo_no_memory();
    return new_instance(t, t->basicsize + extra);
}

/* The references given to pm_object_new_refs_steal when it fails. */
static void drop_refs(pm_object *const *refs, size_t n) {
    for (size_t i = 0; refs && i < n; i++) pm_xdecref(refs[i]);
}

/* refs[0 .. n) into o's fields; 1 if one of them may be in a cycle. */
static inline unsigned take_refs(pm_object *o, pm_object *const *refs, size_t n) {
    pm_object **f = pmo_ref_fields(o);
    unsigned may_cycle = 0;
    for (size_t i = 0; i < n; i++) {
        f[i] = refs[i];
        may_cycle |= ref_may_cycle(refs[i]);
    }
    return may_cycle;
}

/* The general case: any type, any runtime state. */
static __attribute__((noinline)) pm_object *new_refs_general(pm_type *t, pm_object *const *refs) {
    if (t == NULL) {
        pmo_null_arg("pm_object_new_refs_steal: NULL type");
        return NULL;
    }
    if (!type_ok_in(t, "pm_object_new_refs_steal")) return NULL; /* refs stay unread: pymm.h */
    if (t->itemsize) {
        pm_exc_set(PM_EXC_TYPE, "type '%s' is variable-size: use pm_object_new_var", t->name);
        drop_refs(refs, t->nrefs);
        return NULL;
    }
    if (refs == NULL) return new_instance(t, t->basicsize);
    pm_runtime *rt = pmo_rt();
    size_t n = t->nrefs, size = t->basicsize;
    pm_object *o = pmo_alloc_rt(rt, t, size);
    if (o == NULL) {
        drop_refs(refs, n);
        return NULL;
    }
    unsigned may_cycle = take_refs(o, refs, n);
    size_t filled = sizeof(pm_object) + n * sizeof(pm_object *);
    if (filled < size) zero_from(o, filled, size);
    if (t->flags & PM_TPFLAGS_GC) link_new_instance(rt, o, may_cycle);
    return o;
}

/* May the fast path allocate now? The runtime is set up, not in debug
 * mode and no watch of births is set (born_slow), its obj domain is the heap's own pools, and this allocation
 * would not start a collection. */
static inline bool fast_new_ok(const pm_runtime *rt) {
#ifdef PM_DEBUG
    (void)rt;
    return false; /* the total reference count is kept by the general path */
#else
    return rt->heap != NULL && !rt->born_slow && rt->gc_young_count < rt->gc_young_threshold &&
           rt->obj_table->malloc == rt->pool_malloc;
#endif
}

/* Binary trees, cons lists and AST nodes are made here, one call per
 * node: the fast path makes no call but to track the instance, and falls
 * back to the general case, untouched, for anything unusual. */
pm_object *pm_object_new_refs_steal(pm_type *t, pm_object *const *refs) {
    pm_runtime *rt = pmo_current_rt;
    /* The runtime first: in debug mode t is checked before it is read. */
    if (pmo_unlikely(t == NULL || refs == NULL || !fast_new_ok(rt) ||
                     !(t->internal & PMO_TP_PLAIN)))
        return new_refs_general(t, refs);
    pm_object *o = pmh_cache_try_malloc(rt->cache, t->basicsize);
    if (pmo_unlikely(o == NULL)) return new_refs_general(t, refs);
    rt->gc_young_allocs++; /* pmo_gc_maybe_collect's counts: no collection is due */
    rt->gc_young_count++;
    /* pmo_init_header_rt's work for a GC heap type outside debug mode,
     * written out: its tests of the type's flags and of debug mode, which
     * this path has passed, cost 6 instructions a node (callgrind). */
    o->refcnt = 1;
    o->flags = 0;
    o->type = t;
    pm_incref(&t->ob); /* O3 */
    rt->stats.objects_allocated++;
    link_new_instance(rt, o, take_refs(o, refs, t->nrefs));
    return o;
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
        pmo_null_arg("pm_getattr: NULL argument");
        return NULL;
    }
    if (!pmo_live(o)) return NULL;
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

static int set_attribute(pm_object *o, const char *name, pm_object *value, const char *api) {
    if (o == NULL || name == NULL) {
        pmo_null_arg("%s: NULL argument", api);
        return -1;
    }
    if (!pmo_live_in(o, api) || (value && !pmo_live_in(value, api))) return -1;
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
        pmo_null_arg("pm_setattr: NULL value (use pm_delattr)");
        return -1;
    }
    return set_attribute(o, name, value, __func__);
}

int pm_delattr(pm_object *o, const char *name) { return set_attribute(o, name, NULL, __func__); }
