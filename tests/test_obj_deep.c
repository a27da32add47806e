/*
 * test_obj_deep.c -- dropping the last reference to a 10,000,000-deep chain
 * of lists, of tuples, of dicts, of sets (through frozensets), of user
 * objects chained through their first or their last reference field, and
 * of frozen user objects (never tracked: built with the collector on),
 * of a mix of all of them, on a thread whose C stack is only 256 KiB.
 * Deallocation must not recurse per level (the core defers past a fixed
 * depth, and releases a last reference field in a loop); each chain is
 * built and dropped on that thread, and every object is freed.
 *
 * The collector is disabled while the single-kind chains are built (its
 * young collections would dominate the time; they are the collector's
 * tests' business); the mixed chain is built with it running, so tracking
 * and deferred deallocation meet.
 *
 * The depth is 10^7, or 10^5 with PYMM_TEST_SMALL=1 (sanitizer and
 * valgrind runs); PYMM_TEST_DEPTH=N sets it.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define STACK_SIZE (256 * 1024)

static size_t depth = 10000000;

/* One level of each kind around inner (stolen); NULL on error. */
static pm_object *wrap_list(pm_object *inner) {
    pm_object *l = pm_list_new(0);
    if (!l || pm_list_append_steal(l, inner) < 0) {
        pm_xdecref(l);
        return NULL;
    }
    return l;
}

static pm_object *wrap_tuple(pm_object *inner) {
    pm_object *t = pm_tuple_new(1);
    if (!t || pm_tuple_set_steal(t, 0, inner) < 0) {
        pm_xdecref(t);
        return NULL;
    }
    return t;
}

static pm_object *wrap_dict(pm_object *inner) {
    pm_object *d = pm_dict_new();
    int r = d ? pm_dict_set(d, pm_none(), inner) : -1;
    pm_decref(inner);
    if (r < 0) {
        pm_xdecref(d);
        return NULL;
    }
    return d;
}

/* A frozenset holding inner (a frozenset or an empty tuple: hashable). */
static pm_object *wrap_frozenset(pm_object *inner) {
    pm_object *s = pm_frozenset_new(NULL);
    int r = s ? pm_set_add(s, inner) : -1;
    pm_decref(inner);
    if (r < 0) {
        pm_xdecref(s);
        return NULL;
    }
    return s;
}

/* An instance of a type with one reference field, holding inner. */
/* Two reference fields; the chain goes through one of them. */
typedef struct link {
    pm_object ob;
    pm_object *first, *last;
} link;

static pm_object *wrap_link(pm_object *inner, pm_type *t, bool through_last) {
    pm_object *o = pm_object_new(t);
    if (!o) {
        pm_decref(inner);
        return NULL;
    }
    if (through_last) ((link *)o)->last = inner;
    else ((link *)o)->first = inner;
    return o;
}

/* A frozen link: its fields are given at birth (inner first, stolen). */
static pm_object *wrap_frozen(pm_object *inner, pm_type *t) {
    pm_object *refs[2] = {inner, NULL};
    return pm_object_new_refs_steal(t, refs);
}

static pm_object *wrap_mixed(pm_object *inner, size_t i) {
    switch (i % 3) {
        case 0: return wrap_list(inner);
        case 1: return wrap_tuple(inner);
        default: return wrap_dict(inner);
    }
}

typedef struct job {
    const char *name;
    int kind; /* 0 list, 1 tuple, 2 dict, 3 frozenset, 4 mixed, 5 link-first, 6 link-last,
                 7 frozen */
    bool ok;
    double build_s, drop_s;
    uint64_t deferred;
} job;

static void *run(void *arg) {
    job *j = arg;
    pm_runtime *rt = pm_runtime_new(NULL);
    pm_runtime_enter(rt);
    if (j->kind != 4 && j->kind != 7) pm_gc_disable();
    pm_type_spec link_spec = {.name = "link",
                              .basicsize = sizeof(link),
                              .nrefs = 2,
                              .flags = j->kind == 7 ? PM_TPFLAGS_FROZEN : 0};
    pm_type *link_type = pm_type_new(&link_spec);
    int64_t live0 = tu_live_objects();
    double t0 = tu_now();
    pm_object *o = pm_tuple_new(0);
    for (size_t i = 0; o && i < depth; i++) {
        switch (j->kind) {
            case 0: o = wrap_list(o); break;
            case 1: o = wrap_tuple(o); break;
            case 2: o = wrap_dict(o); break;
            case 3: o = wrap_frozenset(o); break;
            case 5: o = wrap_link(o, link_type, false); break;
            case 6: o = wrap_link(o, link_type, true); break;
            case 7: o = wrap_frozen(o, link_type); break;
            default: o = wrap_mixed(o, i); break;
        }
    }
    double t1 = tu_now();
    pm_runtime_stats st0, st1;
    pm_runtime_get_stats(rt, &st0);
    j->ok = o != NULL && tu_live_objects() - live0 == (int64_t)depth;
    /* A frozen chain down to an empty tuple can take part in no cycle. */
    if (j->kind == 7) j->ok = j->ok && !pm_gc_is_tracked(o);
    if (o) pm_decref(o); /* the whole chain goes here */
    j->drop_s = tu_now() - t1;
    j->build_s = t1 - t0;
    pm_runtime_get_stats(rt, &st1);
    j->deferred = st1.deferred_deallocs - st0.deferred_deallocs;
    j->ok = j->ok && tu_live_objects() == live0 && !pm_exc_occurred();
    pm_decref(PM_OBJ(link_type));
    pm_runtime_enter(NULL);
    pm_runtime_destroy(rt);
    return NULL;
}

static void run_on_small_stack(job *j) {
    tu_run_on_stack(run, j, STACK_SIZE);
    CHECK(j->ok);
#ifndef PM_DEBUG
    /* A chain through the last reference field is released in a loop
     * (object.c, release_last_field): nothing to defer. */
    if (j->kind == 6) CHECK_EQ(j->deferred, 0);
    else
#endif
        CHECK(j->deferred > 0);
    printf("  %-9s depth %zu: build %.2f s, drop %.2f s (%.0f ns/object), %llu deferred\n", j->name,
           depth, j->build_s, j->drop_s, j->drop_s * 1e9 / (double)depth,
           (unsigned long long)j->deferred);
}

int main(void) {
    depth = (size_t)tu_big_count(10000000);
    const char *env = getenv("PYMM_TEST_DEPTH");
    if (env && atol(env) > 0) depth = (size_t)atol(env);
    job jobs[] = {
        {"list", 0, false, 0, 0, 0},      {"tuple", 1, false, 0, 0, 0},
        {"dict", 2, false, 0, 0, 0},      {"frozenset", 3, false, 0, 0, 0},
        {"mixed", 4, false, 0, 0, 0},     {"link-first", 5, false, 0, 0, 0},
        {"link-last", 6, false, 0, 0, 0}, {"frozen", 7, false, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof jobs / sizeof *jobs; i++) run_on_small_stack(&jobs[i]);
    return tu_finish("test_obj_deep");
}
