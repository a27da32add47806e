/*
 * test_obj_threads_shared_types.c -- types made once with PM_TPFLAGS_SHARED
 * and instantiated at once by several threads, each in its own runtime.
 *
 * Every instance takes and drops a reference to its type, so a type that
 * any of them wrote to would be a data race that ThreadSanitizer reports
 * (the "threads" label runs under TSan in CI), and in plain runs a lost
 * update of its count would free it under the others' feet. The types are
 * made in a runtime that is destroyed before the threads start: a shared
 * type belongs to no runtime. Each thread makes instances through every
 * constructor and path: the plain fast path (pm_object_new_refs_steal), the
 * general one, attributes, weak references, collections of cycles. At the
 * end every runtime has freed all it made, and the types are destroyed.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { THREADS = 4 };

typedef struct node {
    pm_object ob;
    pm_object *left, *right;
} node;

static pm_type *frozen_node, *mutable_node, *record;

static pm_type *shared_type(const char *name, unsigned flags, size_t nrefs, size_t size) {
    pm_type_spec spec = {
        .name = name, .basicsize = size, .flags = flags | PM_TPFLAGS_SHARED, .nrefs = nrefs};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    return t;
}

/* A tree of depth d from type t, made bottom-up as binary-trees does. */
static pm_object *make_tree(pm_type *t, int d) {
    pm_object *kids[2] = {NULL, NULL};
    if (d > 0) {
        kids[0] = make_tree(t, d - 1);
        kids[1] = make_tree(t, d - 1);
    }
    return pm_object_new_refs_steal(t, kids);
}

static long count_tree(pm_object *o) {
    node *n = (node *)o;
    return 1 + (n->left ? count_tree(n->left) : 0) + (n->right ? count_tree(n->right) : 0);
}

/* Instances of the attribute type, in a cycle, weakly referenced. */
static int records_round(void) {
    int bad = 0;
    pm_object *a = pm_object_new(record), *b = pm_object_new(record);
    if (a == NULL || b == NULL) return 1;
    pm_object *wr = pm_weakref_new(a, NULL, NULL);
    if (wr == NULL || pm_setattr(a, "peer", b) != 0 || pm_setattr(b, "peer", a) != 0) bad++;
    pm_object *v = pm_getattr(b, "peer");
    if (v != a) bad++;
    pm_xdecref(v);
    pm_decref(a);
    pm_decref(b);
    if (pm_gc_collect(2) < 2) bad++;
    pm_object *target = wr ? pm_weakref_get(wr) : NULL;
    if (target != pm_none()) bad++; /* the cycle is gone */
    pm_xdecref(target);
    pm_xdecref(wr);
    return bad;
}

static int hammer_once(void) {
    int bad = 0;
    pm_object *t = make_tree(frozen_node, 6), *m = make_tree(mutable_node, 5);
    if (t == NULL || m == NULL || count_tree(t) != 127 || count_tree(m) != 63) bad++;
    pm_xdecref(t);
    pm_xdecref(m);
    for (int i = 0; i < 16; i++) {
        pm_object *o = pm_object_new(mutable_node);
        if (o == NULL || o->type != mutable_node) bad++;
        pm_object *r = o ? pm_repr(o) : NULL;
        if (r == NULL || !strstr(pm_str_utf8(r, NULL), "MutableNode")) bad++;
        pm_xdecref(r);
        pm_xdecref(o);
    }
    return bad + records_round();
}

/* Each thread in a runtime of its own, which must end with every object
 * it made freed (tu_group_end checks). */
static void *worker(void *arg) {
    int *bad = arg;
    tu_group g = tu_group_begin();
    for (long r = tu_big_count(2000); r > 0 && *bad == 0; r--) *bad += hammer_once();
    pm_gc_collect(2);
    tu_group_end(&g, 0);
    return NULL;
}

/* The types are made in a runtime that is gone before they are used. */
static void make_types(void) {
    pm_runtime *maker = pm_runtime_new(NULL);
    CHECK(maker != NULL);
    pm_runtime *prev = pm_runtime_enter(maker);
    frozen_node = shared_type("FrozenNode", PM_TPFLAGS_FROZEN, 2, sizeof(node));
    mutable_node = shared_type("MutableNode", 0, 2, sizeof(node));
    record = shared_type("Record", PM_TPFLAGS_ATTRS | PM_TPFLAGS_WEAKREF, 0, sizeof(pm_object));
    pm_runtime_enter(prev);
    pm_runtime_destroy(maker);
    CHECK(pm_is_immortal(PM_OBJ(record)));
    CHECK(pm_type_flags(record) & PM_TPFLAGS_SHARED);
    CHECK(strcmp(pm_type_name(frozen_node), "FrozenNode") == 0);
}

static void destroy_types(void) {
    pm_type *types[] = {frozen_node, mutable_node, record};
    for (size_t i = 0; i < 3; i++) CHECK_EQ(pm_type_destroy(types[i]), 0);
    /* Twice, or a runtime's type: refused, nothing read. */
    CHECK_EQ(pm_type_destroy(record), -1);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_VALUE);
    pm_exc_clear();
    pm_type_spec spec = {.name = "Local", .basicsize = sizeof(pm_object)};
    pm_type *local = pm_type_new(&spec);
    CHECK(local != NULL && !(pm_type_flags(local) & PM_TPFLAGS_SHARED));
    CHECK_EQ(pm_type_destroy(local), -1);
    pm_exc_clear();
    pm_decref(PM_OBJ(local));
}

int main(void) {
    make_types();
    pthread_t t[THREADS];
    int bad[THREADS] = {0};
    for (int k = 0; k < THREADS; k++) CHECK_EQ(pthread_create(&t[k], NULL, worker, &bad[k]), 0);
    for (int k = 0; k < THREADS; k++) {
        CHECK_EQ(pthread_join(t[k], NULL), 0);
        CHECK_EQ(bad[k], 0);
    }
    /* The types saw every instance come and go and wrote nothing. */
    CHECK(pm_is_immortal(PM_OBJ(frozen_node)) && pm_is_immortal(PM_OBJ(mutable_node)));
    destroy_types();
    return tu_finish("test_obj_threads_shared_types");
}
