/*
 * test_diag_paths.c -- why an object is alive (src/diag/roots.c, held.c,
 * refs.c, paths.c): declared roots, references held from C with pymm's
 * own references left out (an instance's type, str keys of a dict, the
 * garbage list, weak-reference callbacks' arguments, free lists, interned
 * strings, roots), the exact labelled shortest path through a dict, a
 * list and an instance, out of memory at every internal allocation, and a
 * 10,000,000-long chain pathed on a 256 KiB stack.
 */
#define _GNU_SOURCE /* open_memstream */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool label_is(const pm_path *p, size_t i, const char *want) {
    char buf[128];
    pm_path_label(p, i, buf, sizeof buf);
    if (strcmp(buf, want) == 0) return true;
    fprintf(stderr, "label %zu: got \"%s\", want \"%s\"\n", i, buf, want);
    return false;
}

static int deaths;
static void note_death(pm_object *wr, pm_object *arg) {
    (void)wr;
    (void)arg;
    deaths++;
}

/* Roots hold one reference each; adding again renames; removing drops it. */
static void test_roots(void) {
    tu_group g = tu_group_begin();
    pm_object *d = pm_dict_new();
    CHECK_EQ(pm_root_add(d, "config"), 0);
    CHECK_EQ(d->refcnt, 2);
    CHECK_EQ(pm_root_add(d, "settings"), 0); /* renamed: still one reference */
    CHECK_EQ(d->refcnt, 2);
    CHECK_EQ(pm_roots_count(NULL), 1);
    const char *name = NULL;
    CHECK(pm_root_at(NULL, 0, &name) == d);
    CHECK(name && strcmp(name, "settings") == 0);
    CHECK(pm_root_at(NULL, 1, NULL) == NULL);
    CHECK_EQ(pm_root_remove(d), 0);
    CHECK_EQ(d->refcnt, 1);
    CHECK_EQ(pm_root_remove(d), -1);
    CHECK(tu_raised(PM_EXC_KEY, "not a root"));
    CHECK_EQ(pm_roots_count(NULL), 0);
    pm_decref(d);
    /* A root left at the runtime's end is dropped with it, first: its
     * weak reference's callback runs then (the set and the weak reference
     * are alive when tu_group_end counts). */
    pm_object *s = pm_set_new(NULL), *wr = pm_weakref_new(s, note_death, NULL);
    CHECK_EQ(pm_root_add(s, "left"), 0);
    pm_decref(s);
    deaths = 0;
    tu_group_end(&g, 2);
    CHECK_EQ(deaths, 1);
    (void)wr; /* went with the runtime's heap */
}

/* dict -> list -> instance: root 'config', ['users'], [2]; then field 1. */
static void test_labelled_path(void) {
    tu_group g = tu_group_begin();
    pm_type *t = tu_widget_type();
    pm_object *config = pm_dict_new(), *users = pm_list_new(0);
    pm_object *w = pm_object_new(t), *leaf = pm_str_from("leaf");
    ((tu_widget *)w)->b = leaf; /* the reference is the widget's now */
    CHECK_EQ(pm_list_append_steal(users, pm_int(1000)), 0);
    CHECK_EQ(pm_list_append_steal(users, pm_str_from("x")), 0);
    CHECK_EQ(pm_list_append_steal(users, w), 0);
    CHECK_EQ(pm_dict_set_str(config, "name", users), 0); /* the same list twice */
    CHECK_EQ(pm_dict_set_str(config, "users", users), 0);
    pm_decref(users);
    CHECK_EQ(pm_root_add(config, "config"), 0);
    pm_decref(config);

    pm_path *p = pm_path_to(leaf);
    CHECK(p != NULL);
    CHECK_EQ(pm_path_length(p), 4);
    CHECK(pm_path_object(p, 0) == config && pm_path_object(p, 1) == users);
    CHECK(pm_path_object(p, 2) == w && pm_path_object(p, 3) == leaf);
    CHECK(pm_path_object(p, 4) == NULL);
    CHECK(label_is(p, 0, "root 'config'"));
    CHECK(label_is(p, 1, "['name']")); /* the first entry: shortest, found first */
    CHECK(label_is(p, 2, "[2]"));
    CHECK(label_is(p, 3, "field 1"));
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK_EQ(pm_path_print(p, out), 0);
    fclose(out);
    CHECK(tu_contains(text, "root 'config': dict (2 items)\n"));
    CHECK(tu_contains(text, "-> Widget at "));
    CHECK(tu_contains(text, "-> str 'leaf'\n"));
    free(text);
    pm_path_free(p);

    /* The type is reached from its instance (held from C too: ours). */
    p = pm_path_to(PM_OBJ(t));
    CHECK_EQ(pm_path_length(p), 1);
    CHECK(label_is(p, 0, "held from C: 1"));
    pm_path_free(p);
    pm_decref(PM_OBJ(t));
    p = pm_path_to(PM_OBJ(t));
    CHECK_EQ(pm_path_length(p), 4);
    CHECK(label_is(p, 3, "type"));
    pm_path_free(p);

    CHECK_EQ(pm_root_remove(config), 0); /* frees it all */
    tu_group_end(&g, 0);
}

/* A root that C holds too starts its paths as the root (roots first at
 * equal length); the path's first step names the source it was reached
 * from, whatever the order of the search's sources. */
static void test_root_before_held(void) {
    tu_group g = tu_group_begin();
    pm_object *held = pm_list_new(0), *rooted = pm_list_new(0), *leaf = pm_list_new(0);
    CHECK_EQ(pm_list_append(held, leaf), 0);
    CHECK_EQ(pm_list_append(rooted, leaf), 0);
    pm_decref(leaf);
    CHECK_EQ(pm_root_add(rooted, "r"), 0); /* rooted: the root's and ours */
    pm_path *p = pm_path_to(leaf);
    CHECK(p != NULL && pm_path_length(p) == 2);
    CHECK(pm_path_object(p, 0) == rooted);
    CHECK(label_is(p, 0, "root 'r'"));
    CHECK(label_is(p, 1, "[0]"));
    pm_path_free(p);
    CHECK_EQ(pm_root_remove(rooted), 0);
    p = pm_path_to(leaf); /* both held from C now: the lower address first */
    CHECK(p != NULL && pm_path_length(p) == 2);
    pm_object *first = (uintptr_t)held < (uintptr_t)rooted ? held : rooted;
    CHECK(pm_path_object(p, 0) == first);
    CHECK(label_is(p, 0, "held from C: 1"));
    pm_path_free(p);
    pm_decref(held);
    pm_decref(rooted);
    tu_group_end(&g, 0);
}

/* An object held only by a C pointer; one held by nothing at all. */
static void test_held_from_c(void) {
    tu_group g = tu_group_begin();
    pm_object *x = pm_list_new(0), *holder = pm_list_new(0);
    CHECK_EQ(pm_held_from_c(x), 1);
    CHECK_EQ(pm_list_append(holder, x), 0); /* refcnt 2, one accounted for */
    CHECK_EQ(pm_held_from_c(x), 1);
    pm_path *p = pm_path_to(x);
    CHECK_EQ(pm_path_length(p), 1);
    CHECK(label_is(p, 0, "held from C: 1"));
    pm_path_free(p);
    pm_decref(x); /* now only the holder has it */
    CHECK_EQ(pm_held_from_c(x), 0);
    p = pm_path_to(x);
    CHECK_EQ(pm_path_length(p), 2);
    CHECK(pm_path_object(p, 0) == holder);
    CHECK(label_is(p, 0, "held from C: 1"));
    CHECK(label_is(p, 1, "[0]"));
    pm_path_free(p);
    size_t n = 0;
    pm_held *all = pm_held_from_c_all(NULL, &n);
    CHECK(all != NULL);
    CHECK_EQ(n, 1);
    CHECK(all[0].object == holder && all[0].refs == 1);
    pm_held_free(all);

    /* A cycle nothing holds: no path. */
    pm_gc_disable();
    pm_object *c = pm_list_new(0);
    CHECK_EQ(pm_list_append(c, c), 0);
    pm_decref(c);
    p = pm_path_to(c);
    CHECK(p != NULL);
    CHECK_EQ(pm_path_length(p), 0);
    pm_path_free(p);
    pm_gc_enable();
    CHECK_EQ(pm_gc_collect(2), 1);
    pm_decref(holder);
    tu_group_end(&g, 0);
}

static void noop_callback(pm_object *wr, pm_object *arg) {
    (void)wr;
    (void)arg;
}

/* pymm's own references are never C's. */
static void test_internal_not_counted(void) {
    tu_group g = tu_group_begin();
    pm_type *t = tu_widget_type();
    pm_object *keep = pm_list_new(0);
    for (int i = 0; i < 3; i++) CHECK_EQ(pm_list_append_steal(keep, pm_object_new(t)), 0);
    CHECK_EQ(PM_OBJ(t)->refcnt, 4);
    CHECK_EQ(pm_held_from_c(PM_OBJ(t)), 1); /* ours; the instances' are internal */

    /* A str key of a dict (the collector's traverse skips those). */
    pm_object *d = pm_dict_new(), *k = pm_str_from("some key");
    CHECK_EQ(pm_dict_set(d, k, keep), 0);
    CHECK_EQ(pm_held_from_c(k), 1);
    pm_decref(k);
    CHECK_EQ(pm_held_from_c(k), 0);
    pm_decref(keep);
    CHECK_EQ(pm_held_from_c(keep), 0);

    /* Interned: the table holds none. */
    pm_object *s0 = pm_str_from("interned text"), *s = pm_str_intern(s0);
    pm_decref(s0);
    CHECK(s->flags & PM_OF_INTERNED);
    CHECK_EQ(s->refcnt, 1);
    CHECK_EQ(pm_held_from_c(s), 1); /* ours alone */

    /* A root's reference, the garbage list's, a callback argument's. */
    pm_object *r = pm_list_new(0);
    CHECK_EQ(pm_root_add(r, "r"), 0);
    pm_decref(r);
    CHECK_EQ(pm_held_from_c(r), 0);
    pm_object *garbage = pm_gc_garbage();
    CHECK(garbage != NULL);
    CHECK_EQ(pm_held_from_c(garbage), 0);
    pm_object *target = pm_set_new(NULL), *arg = pm_list_new(0);
    pm_object *wr = pm_weakref_new(target, noop_callback, arg);
    pm_decref(arg);
    CHECK_EQ(pm_held_from_c(arg), 0);
    CHECK_EQ(pm_held_from_c(target), 1); /* the weak reference holds none */
    pm_path *p = pm_path_to(arg);
    CHECK_EQ(pm_path_length(p), 2);
    CHECK(pm_path_object(p, 0) == wr);
    CHECK(label_is(p, 1, "weakref referent 0"));
    pm_path_free(p);

    /* Free lists: dead blocks are no objects, nothing is held from C. */
    size_t n0 = 0, n1 = 0;
    pm_held *before = pm_held_from_c_all(NULL, &n0);
    for (int i = 0; i < 10; i++) pm_decref(pm_list_new(0)); /* to the list free list */
    pm_held *after = pm_held_from_c_all(NULL, &n1);
    CHECK(before && after);
    CHECK_EQ(n1, n0);
    for (size_t i = 0; i < n0 && i < n1; i++) CHECK(before[i].object == after[i].object);
    pm_held_free(before);
    pm_held_free(after);

    pm_decref(wr);
    pm_decref(target);
    pm_decref(s);
    CHECK_EQ(pm_root_remove(r), 0);
    pm_decref(d);
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 1); /* the garbage list stays with the collector */
}

/* Out of memory at each internal allocation: NULL or -1 with MemoryError
 * and nothing left behind; then it works. */
typedef struct oom_case {
    pm_object *last, *extra;
} oom_case;

static bool oom_path(void *arg) {
    pm_path *p = pm_path_to(((oom_case *)arg)->last);
    if (p) CHECK_EQ(pm_path_length(p), 3);
    pm_path_free(p);
    return p != NULL;
}

static bool oom_held(void *arg) {
    (void)arg;
    size_t n;
    pm_held *h = pm_held_from_c_all(NULL, &n);
    if (h) CHECK_EQ(n, 2); /* top and extra: ours */
    pm_held_free(h);
    return h != NULL;
}

static bool oom_root(void *arg) {
    pm_object *extra = ((oom_case *)arg)->extra;
    if (pm_root_add(extra, "extra") != 0) return false;
    CHECK_EQ(pm_root_remove(extra), 0);
    return true;
}

static void test_out_of_memory(void) {
    tu_group g = tu_group_begin();
    pm_object *top = pm_dict_new(), *l = pm_list_new(0);
    CHECK_EQ(pm_dict_set_str(top, "l", l), 0);
    for (int i = 0; i < 100; i++) CHECK_EQ(pm_list_append_steal(l, pm_int(5000 + i)), 0);
    pm_decref(l);                         /* top's alone: the path starts at the root */
    CHECK_EQ(pm_root_add(top, "top"), 0); /* the table exists: adds below fail cleanly */
    oom_case c = {pm_list_get(l, 99), pm_list_new(0)};
    tu_fault_each(oom_path, &c, false);
    tu_fault_each(oom_path, &c, true);
    tu_fault_each(oom_held, &c, false);
    tu_fault_each(oom_root, &c, true);
    CHECK_EQ(c.extra->refcnt, 1);
    pm_decref(c.extra);
    CHECK_EQ(pm_root_remove(top), 0);
    pm_decref(top);
    tu_group_end(&g, 0);
}

/* A chain of 10,000,000 objects (each holds the next) from a root to its
 * end, found on a 256 KiB stack. */
static void chain_check(pm_object *head, pm_object *tail, long n) {
    double t0 = tu_now();
    pm_path *p = pm_path_to(tail);
    double dt = tu_now() - t0;
    CHECK(p != NULL);
    CHECK_EQ(pm_path_length(p), n);
    CHECK(pm_path_object(p, 0) == head && pm_path_object(p, (size_t)n - 1) == tail);
    CHECK(label_is(p, 0, "root 'chain'"));
    CHECK(label_is(p, (size_t)n - 1, "field 0"));
    pm_path_free(p);
    fprintf(stderr, "path through a chain of %ld: %.2f s\n", n, dt);
}

static void test_deep_chain(void) { tu_rooted_chain_on_small_stack(chain_check); }

int main(void) {
    test_roots();
    test_labelled_path();
    test_root_before_held();
    test_held_from_c();
    test_internal_not_counted();
    test_out_of_memory();
    test_deep_chain();
    return tu_finish("test_diag_paths");
}
