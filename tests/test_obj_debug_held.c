/*
 * test_obj_debug_held.c -- object debug mode with an error handler that
 * returns: a freed object that the program incref'd again (misuse) is
 * reported when it leaves the quarantine, and then left alone, never
 * freed under its holder. Freeing it would let a new object take its
 * block, and the holder's stale decref would then kill that live object.
 */
#include "testutil.h"

static int reports, wrong_runtime;

static void count_report(pm_heap *h, const pm_error *e, void *arg) {
    (void)h;
    (void)arg;
    if (e->kind == PM_ERR_USE_AFTER_FREE) reports++;
    if (e->kind == PM_ERR_WRONG_RUNTIME) wrong_runtime++;
}

/* A PM_DEBUG build checks every runtime, debug or not: an instance of a
 * plain type (header and reference fields only, the short deallocation
 * path) dying under another runtime is reported and left alone, as any
 * other object is, never freed into the current runtime's heap. */
static void test_plain_dies_in_other_runtime(void) {
#ifdef PM_DEBUG
    pm_runtime *a = pm_runtime_new(NULL), *b = pm_runtime_new(NULL);
    CHECK(a != NULL && b != NULL);
    pm_type_spec s = PM_TYPE_SPEC_INIT;
    s.name = "Plain";
    s.basicsize = sizeof(pm_object) + sizeof(pm_object *);
    s.nrefs = 1;
    s.flags = PM_TPFLAGS_SHARED;
    pm_type *t = pm_type_new(&s);
    CHECK(t != NULL);
    pm_runtime *saved = pm_runtime_enter(b);
    pm_object *refs[1] = {NULL};
    pm_object *o = pm_object_new_refs_steal(t, refs);
    CHECK(o != NULL);
    pm_runtime_enter(a);
    pm_heap_set_error_handler(pm_runtime_heap(a), count_report, NULL);
    wrong_runtime = 0;
    pm_decref(o); /* dies under a: reported, not freed */
    CHECK_EQ(wrong_runtime, 1);
    pm_runtime_enter(saved);
    pm_runtime_destroy(a);
    pm_runtime_destroy(b); /* o's memory goes with b's heap */
    CHECK_EQ(pm_type_destroy(t), 0);
#else
    printf("test_plain_dies_in_other_runtime: a PM_DEBUG build's check; not run here\n");
#endif
}

int main(void) {
    test_plain_dies_in_other_runtime();
    pm_runtime_config c = PM_RUNTIME_CONFIG_INIT;
    c.debug = 1;
    pm_runtime *rt = pm_runtime_new(&c);
    CHECK(rt != NULL);
    pm_runtime *saved = pm_runtime_enter(rt);
    pm_heap_set_error_handler(pm_runtime_heap(rt), count_report, NULL);
    pm_type_spec s = PM_TYPE_SPEC_INIT;
    s.name = "T";
    s.basicsize = 32;
    pm_type *t = pm_type_new(&s);
    CHECK(t != NULL);

    pm_object *o = pm_object_new(t);
    CHECK(o != NULL);
    pm_decref(o); /* freed: quarantined */
    pm_incref(o); /* misuse: the program keeps a reference to it */
    /* Deaths push o out of the quarantine; objects made meanwhile and
     * after must never get its block while o is held. */
    enum { N = 4096 };
    static pm_object *made[N];
    int reused = 0;
    for (int i = 0; i < 1100; i++) {
        pm_object *x = pm_object_new(t);
        CHECK(x != NULL);
        reused += x == o;
        pm_decref(x);
    }
    CHECK_EQ(reports, 1);
    for (int i = 0; i < N; i++) {
        made[i] = pm_object_new(t);
        CHECK(made[i] != NULL);
        reused += made[i] == o;
    }
#ifndef PM_DEBUG
    CHECK_EQ(reused, 0);
#else
    /* A PM_DEBUG build's checked pm_incref reported the misuse and took
     * no reference: nothing holds o, and its block is free to go. */
    (void)reused;
#endif
    for (int i = 0; i < N; i++) pm_decref(made[i]);

    pm_heap_set_error_handler(pm_runtime_heap(rt), NULL, NULL);
    pm_runtime_enter(saved);
    pm_runtime_destroy(rt);
    return tu_finish("test_obj_debug_held");
}
