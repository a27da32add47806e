/*
 * roots.c -- declared roots: the objects a program holds on purpose
 * (globals, modules, caches, interpreter state), each with a name, as
 * strong references held by a runtime (pm_root_add, pm_root_remove).
 *
 * Owns the table of a runtime's roots (rt->roots, object.h's pmo_roots):
 * an array in internal memory, in the order the roots were added, which
 * the questions of why an object is alive read (held.c, paths.c).
 *
 * Invariants:
 *   T1  The table holds exactly one reference to each of its objects, and
 *       each object at most once: adding a root again renames it.
 *   T2  The table and the names are internal memory, never objects: a
 *       census never counts them, and they reference nothing but roots.
 *   T3  The runtime's destruction drops every root first (release), while
 *       every object it may free still works.
 *   T4  A failing call changes nothing (MemoryError, KeyError).
 *
 * Roots are few (a program's globals): adding and removing search the
 * array, O(roots).
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"

#include <string.h>

typedef struct roots_table {
    pmo_roots hook; /* first: the runtime hands it back */
    pmd_root *items;
    size_t len, cap;
} roots_table;

static void roots_release(pm_runtime *rt, pmo_roots *r) {
    roots_table *t = (roots_table *)r;
    rt->roots = NULL; /* a root's finalizer finds no table (T3) */
    for (size_t i = 0; i < t->len; i++) {
        pmh_internal_free(t->items[i].name);
        pm_decref(t->items[i].object);
    }
    pmh_internal_free(t->items);
    pmh_internal_free(t);
}

/* rt's table, made if need be: NULL when out of memory. */
static roots_table *table_of(pm_runtime *rt) {
    if (rt->roots) return (roots_table *)rt->roots;
    roots_table *t = pmh_internal_calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->hook.release = roots_release;
    rt->roots = &t->hook;
    return t;
}

static size_t find(const roots_table *t, const pm_object *o) {
    for (size_t i = 0; t && i < t->len; i++)
        if (t->items[i].object == o) return i;
    return PMD_NONE;
}

static char *copy_name(const char *name) {
    size_t n = strlen(name) + 1;
    char *c = pmh_internal_malloc(n);
    if (c) memcpy(c, name, n);
    return c;
}

int pm_root_add(pm_object *o, const char *name) {
    if (o == NULL || !pmo_live(o)) {
        pm_exc_set(PM_EXC_TYPE, "pm_root_add: expected an object, got NULL");
        return -1;
    }
    pm_runtime *rt = pmo_rt();
    roots_table *t = table_of(rt);
    char *copy = t ? copy_name(name ? name : "") : NULL;
    size_t i = copy ? find(t, o) : PMD_NONE;
    if (copy && i == PMD_NONE && t->len == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        pmd_root *items = pmh_internal_realloc(t->items, cap * sizeof *items);
        if (items) {
            t->items = items;
            t->cap = cap;
        } else {
            pmh_internal_free(copy);
            copy = NULL;
        }
    }
    if (copy == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "pm_root_add: no memory for the root");
        return -1;
    }
    if (i != PMD_NONE) { /* T1: renamed */
        pmh_internal_free(t->items[i].name);
        t->items[i].name = copy;
        return 0;
    }
    t->items[t->len++] = (pmd_root){pm_incref(o), copy};
    return 0;
}

int pm_root_remove(pm_object *o) {
    pm_runtime *rt = pmo_rt();
    roots_table *t = (roots_table *)rt->roots;
    size_t i = o ? find(t, o) : PMD_NONE;
    if (i == PMD_NONE) {
        pm_exc_set(PM_EXC_KEY, "pm_root_remove: not a root of this runtime");
        return -1;
    }
    pmd_root r = t->items[i];
    memmove(&t->items[i], &t->items[i + 1], (t->len - i - 1) * sizeof *t->items);
    t->len--;
    pmh_internal_free(r.name);
    pm_decref(r.object); /* last: it may run code that adds roots */
    return 0;
}

const pmd_root *pmd_roots_of(pm_runtime *rt, size_t *n) {
    const roots_table *t = (const roots_table *)rt->roots;
    *n = t ? t->len : 0;
    return t ? t->items : NULL;
}

size_t pm_roots_count(pm_runtime *rt) {
    size_t n;
    pmd_roots_of(rt ? rt : pmo_rt(), &n);
    return n;
}

pm_object *pm_root_at(pm_runtime *rt, size_t i, const char **name) {
    size_t n;
    const pmd_root *r = pmd_roots_of(rt ? rt : pmo_rt(), &n);
    if (i >= n) return NULL;
    if (name) *name = r[i].name;
    return r[i].object;
}
