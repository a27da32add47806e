/*
 * test_obj_containers_oom.c -- containers when memory runs out.
 *
 * The rule: an allocation failure inside a container operation gives
 * MemoryError and changes nothing (size, contents, order, every reference
 * count), leaks nothing, and the next operation works.
 *
 * Fault injection, SQLite style: the runtime's heap has its OBJ and MEM
 * domains wrapped by an allocator that fails every call from the k-th on;
 * each operation runs for k = 1, 2, 3, ... until it succeeds without
 * reaching k. After every failure the container is checked against its
 * state before the call.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the failing allocator (testutil's) ------------------------------------------ */

static tu_failing F;

/* Every allocation call (both domains) from the k-th on fails. */
static void arm(long k) { tu_failing_arm(&F, k, true); }
static void disarm(void) { tu_failing_disarm(&F); }

/* The operation failed as it must: MemoryError set (cleared here). */
static bool failed_cleanly(int r) {
    bool ok = r < 0 && pm_exc_occurred() == PM_EXC_MEMORY && F.failed > 0;
    if (!ok)
        fprintf(stderr, "r=%d exc=%s failed=%ld\n", r, pm_exc_name(pm_exc_occurred()), F.failed);
    pm_exc_clear();
    return ok;
}

#define MAX_K 10000

/* ---- lists -------------------------------------------------------------------------- */

static void test_list(void) {
    pm_object *l = pm_list_new(0), *x = pm_int(5000), *y = pm_int(6000);
    for (int i = 0; i < 4; i++) pm_list_append(l, x); /* allocated == 4: full */
    int rounds = 0;
    for (long k = 1; k < MAX_K; k++, rounds++) {
        arm(k);
        int r = pm_list_append(l, y);
        disarm();
        if (F.failed == 0) {
            CHECK_EQ(r, 0);
            break;
        }
        CHECK(failed_cleanly(r));
        CHECK_EQ(pm_list_size(l), 4);
        CHECK_EQ(y->refcnt, 1);
        CHECK_EQ(x->refcnt, 5);
    }
    CHECK(rounds >= 1);
    CHECK_EQ(pm_list_size(l), 5);
    CHECK_EQ(y->refcnt, 2);
    /* fill to the next resize, then insert at the front */
    while (pm_list_size(l) < 8) pm_list_append(l, x);
    for (long k = 1; k < MAX_K; k++) {
        arm(k);
        int r = pm_list_insert(l, 0, y);
        disarm();
        if (F.failed == 0) break;
        CHECK(failed_cleanly(r));
        CHECK_EQ(pm_list_size(l), 8);
        CHECK(pm_list_get(l, 0) == x && pm_list_get(l, 4) == y);
        CHECK_EQ(y->refcnt, 2);
    }
    CHECK(pm_list_get(l, 0) == y);
    /* append_steal: the stolen reference is dropped on failure */
    while (pm_list_size(l) < 16) pm_list_append(l, x);
    for (long k = 1; k < MAX_K; k++) {
        pm_incref(y);
        arm(k);
        int r = pm_list_append_steal(l, y);
        disarm();
        if (F.failed == 0) break;
        CHECK(failed_cleanly(r));
        CHECK_EQ(pm_list_size(l), 16);
        CHECK_EQ(y->refcnt, 3);
    }
    CHECK_EQ(y->refcnt, 4);
    /* pops never fail, even when the shrinking realloc does */
    arm(1);
    while (pm_list_size(l) > 0) pm_decref(pm_list_pop(l, -1));
    disarm();
    CHECK(!pm_exc_occurred());
    CHECK_EQ(x->refcnt, 1);
    CHECK_EQ(y->refcnt, 1);
    /* new lists */
    for (long k = 1; k < MAX_K; k++) {
        pm_runtime_clear_freelists(pm_runtime_current());
        arm(k);
        pm_object *n = pm_list_new(10);
        disarm();
        if (F.failed == 0) {
            CHECK(n && pm_list_size(n) == 10);
            pm_xdecref(n);
            break;
        }
        CHECK(n == NULL && failed_cleanly(-1));
    }
    pm_decref(l);
    pm_decref(x);
    pm_decref(y);
}

/* ---- tuples, iterators, generators ----------------------------------------------------- */

static int gen_next(void *state, pm_object **item) {
    (void)state;
    (void)item;
    return 0;
}

static int released;
static void gen_release(void *state) {
    (void)state;
    released++;
}

static void test_small_objects(void) {
    pm_object *x = pm_int(7777);
    for (long k = 1; k < MAX_K; k++) {
        pm_runtime_clear_freelists(pm_runtime_current());
        arm(k);
        pm_object *t = pm_tuple_pack(3, x, x, x);
        disarm();
        if (F.failed == 0) {
            CHECK(t && x->refcnt == 4);
            pm_xdecref(t);
            break;
        }
        CHECK(t == NULL && failed_cleanly(-1));
        CHECK_EQ(x->refcnt, 1);
    }
    pm_object *l = pm_list_new(2);
    for (long k = 1; k < MAX_K; k++) {
        arm(k);
        pm_object *it = pm_iter(l);
        disarm();
        if (F.failed == 0) {
            pm_xdecref(it);
            break;
        }
        CHECK(it == NULL && failed_cleanly(-1));
        CHECK_EQ(l->refcnt, 1);
    }
    for (long k = 1; k < MAX_K; k++) {
        arm(k);
        pm_object *g = pm_generator_new(gen_next, NULL, gen_release);
        disarm();
        if (F.failed == 0) {
            pm_xdecref(g);
            break;
        }
        CHECK(g == NULL && failed_cleanly(-1));
        CHECK_EQ(released, 0); /* the caller still owns the state */
    }
    CHECK_EQ(released, 1);
    pm_decref(l);
    pm_decref(x);
}

/* ---- dicts ---------------------------------------------------------------------------- */

static void test_dict(void) {
    pm_object *d = pm_dict_new(), *keys[40], *v = pm_int(123456);
    for (int i = 0; i < 40; i++) keys[i] = pm_str_format("key%d", i);
    int n = 0, failures = 0;
    /* insert 40 keys, each under fault injection: every table rebuild
     * (8 -> 16 -> 32 -> 64 slots) fails many times before it works */
    for (; n < 40; n++) {
        for (long k = 1; k < MAX_K; k++) {
            arm(k);
            int r = pm_dict_set(d, keys[n], v);
            disarm();
            if (F.failed == 0) {
                CHECK_EQ(r, 0);
                break;
            }
            failures++;
            CHECK(failed_cleanly(r));
            CHECK_EQ(pm_dict_size(d), (size_t)n);
            CHECK_EQ(keys[n]->refcnt, 1);
            CHECK_EQ(v->refcnt, 1 + n);
            size_t pos = 0, i = 0;
            pm_object *k2, *v2;
            while (pm_dict_next(d, &pos, &k2, &v2)) CHECK(k2 == keys[i++] && v2 == v);
            CHECK_EQ(i, (size_t)n);
        }
    }
    CHECK(failures >= 3);
    CHECK_EQ(pm_dict_size(d), 40);
    /* a new str key from a C string: the str itself cannot be made */
    for (long k = 1; k < MAX_K; k++) {
        arm(k);
        int r = pm_dict_set_str(d, "fresh key", v);
        disarm();
        if (F.failed == 0) break;
        CHECK(failed_cleanly(r));
        CHECK_EQ(pm_dict_size(d), 40);
    }
    CHECK(pm_dict_get_str(d, "fresh key") == v);
    /* replacing a value allocates nothing */
    arm(1);
    CHECK_EQ(pm_dict_set_str(d, "fresh key", keys[0]), 0);
    CHECK_EQ(pm_dict_set(d, keys[1], keys[1]), 0);
    CHECK_EQ(pm_dict_del(d, keys[2]), 0);
    disarm();
    /* repr under fault injection leaves the repr state sound */
    pm_object *small = pm_dict_new(), *inner = pm_list_new(0);
    pm_list_append(inner, small);
    pm_dict_set(small, keys[3], inner);
    for (long k = 1; k < MAX_K; k++) {
        arm(k);
        pm_object *r = pm_repr(small);
        disarm();
        if (F.failed == 0) {
            pm_xdecref(r);
            break;
        }
        CHECK(r == NULL && failed_cleanly(-1));
        CHECK(tu_repr_is(small, "{'key3': [{...}]}"));
    }
    pm_list_pop(inner, 0);
    pm_decref(small); /* the pop's reference */
    pm_decref(small);
    pm_decref(inner);
    pm_decref(d);
    for (int i = 0; i < 40; i++) {
        CHECK_EQ(keys[i]->refcnt, 1);
        pm_decref(keys[i]);
    }
    CHECK_EQ(v->refcnt, 1);
    pm_decref(v);
}

/* ---- sets --------------------------------------------------------------------------------- */

static void test_set(void) {
    pm_object *s = pm_set_new(NULL), *keys[100];
    for (int i = 0; i < 100; i++) keys[i] = pm_int(100000 + i);
    int failures = 0;
    for (int n = 0; n < 100; n++) {
        for (long k = 1; k < MAX_K; k++) {
            arm(k);
            int r = pm_set_add(s, keys[n]);
            disarm();
            if (F.failed == 0) break;
            failures++;
            CHECK(failed_cleanly(r));
            CHECK_EQ(pm_set_size(s), (size_t)n);
            CHECK_EQ(keys[n]->refcnt, 1);
            for (int i = 0; i < n; i++) CHECK_EQ(pm_contains(s, keys[i]), 1);
        }
    }
    CHECK(failures >= 2);
    CHECK_EQ(pm_set_size(s), 100);
    /* building from an iterable fails as a whole and leaks nothing */
    pm_object *l = pm_list_new(0);
    for (int i = 0; i < 100; i++) pm_list_append(l, keys[i]);
    int64_t live = tu_live_objects();
    for (long k = 1; k < MAX_K; k++) {
        arm(k);
        pm_object *f = pm_frozenset_new(l);
        disarm();
        if (F.failed == 0) {
            CHECK(f && pm_set_size(f) == 100);
            pm_xdecref(f);
            break;
        }
        CHECK(f == NULL && failed_cleanly(-1));
        CHECK_EQ(tu_live_objects(), live);
        CHECK_EQ(keys[0]->refcnt, 3);
    }
    pm_decref(l);
    pm_decref(s);
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(keys[i]->refcnt, 1);
        pm_decref(keys[i]);
    }
}

int main(void) {
    pm_heap *h = pm_heap_new(NULL);
    tu_failing_install(&F, h);
    pm_runtime_config cfg = {.heap = h, .debug = 0};
    pm_runtime *rt = pm_runtime_new(&cfg);
    pm_runtime_enter(rt);
    pm_gc_disable(); /* collections would shift the fault points */
    int64_t live0 = tu_live_objects();
    test_list();
    test_small_objects();
    test_dict();
    test_set();
    CHECK_EQ(tu_live_objects(), live0);
    pm_runtime_enter(NULL);
    pm_runtime_destroy(rt);
    pm_heap_destroy(h);
    return tu_finish("test_obj_containers_oom");
}
