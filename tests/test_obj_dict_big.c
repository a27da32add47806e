/*
 * test_obj_dict_big.c -- a dict of 1,000,000 str keys: insert, look up
 * (the same key objects, equal new objects, C strings), delete, with the
 * order checked after each phase; the same with int keys; and the timing of
 * each phase in ns per operation (printed, not checked: the benchmark in
 * bench/ compares with CPython).
 *
 * 10^6 keys, 10^4 with PYMM_TEST_SMALL=1; PYMM_TEST_KEYS=N sets it.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t nkeys = 1000000;

static void report(const char *what, double s) {
    printf("  %-28s %7.1f ns/op\n", what, s * 1e9 / (double)nkeys);
}

/* A permutation of 0..n-1 (Fisher-Yates on a fixed seed). */
static uint32_t *permutation(size_t n) {
    uint32_t *p = malloc(n * sizeof *p);
    if (!p) abort();
    uint64_t seed = 0x5eed;
    for (size_t i = 0; i < n; i++) p[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(tu_rand(&seed) % i);
        uint32_t t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    return p;
}

/* Insertion order is key order 0..n-1 minus the deleted ones. */
static bool order_ok(pm_object *d, pm_object **keys, size_t stride) {
    size_t pos = 0, i = 0;
    pm_object *k, *v;
    while (pm_dict_next(d, &pos, &k, &v)) {
        if (k != keys[i]) return false;
        i += stride;
    }
    return pm_dict_size(d) == (nkeys + stride - 1) / stride;
}

static void test_str_keys(void) {
    pm_object **keys = malloc(nkeys * sizeof *keys), **twins = malloc(nkeys * sizeof *twins);
    char(*names)[24] = malloc(nkeys * sizeof *names);
    uint32_t *perm = permutation(nkeys);
    uint64_t h;
    for (size_t i = 0; i < nkeys; i++) {
        snprintf(names[i], sizeof names[i], "key%07zu", i);
        keys[i] = pm_str_from(names[i]);
        twins[i] = pm_str_from(names[i]);
        pm_hash(keys[i], &h); /* cached, as the benchmark does */
        pm_hash(twins[i], &h);
    }
    pm_object *d = pm_dict_new(), *value = pm_none();
    bool ok = true;

    double t = tu_now();
    for (size_t i = 0; i < nkeys; i++) ok &= pm_dict_set(d, keys[i], value) == 0;
    report("insert (str keys)", tu_now() - t);
    CHECK(ok);
    CHECK_EQ(pm_dict_size(d), nkeys);
    CHECK(order_ok(d, keys, 1));

    t = tu_now();
    size_t found = 0;
    for (size_t i = 0; i < nkeys; i++) found += pm_dict_get(d, keys[perm[i]]) == value;
    report("lookup (same objects)", tu_now() - t);
    CHECK_EQ(found, nkeys);

    t = tu_now();
    found = 0;
    for (size_t i = 0; i < nkeys; i++) found += pm_dict_get(d, twins[perm[i]]) == value;
    report("lookup (equal objects)", tu_now() - t);
    CHECK_EQ(found, nkeys);

    t = tu_now();
    found = 0;
    for (size_t i = 0; i < nkeys; i++) found += pm_dict_get_str(d, names[perm[i]]) == value;
    report("lookup (C strings)", tu_now() - t);
    CHECK_EQ(found, nkeys);
    CHECK(pm_dict_get_str(d, "key") == NULL && !pm_exc_occurred());

    /* replace through equal keys: the stored key objects stay */
    for (size_t i = 0; i < nkeys; i += 2) ok &= pm_dict_set(d, twins[i], keys[i]) == 0;
    CHECK(ok);
    CHECK(order_ok(d, keys, 1));
    CHECK(pm_dict_get(d, keys[2]) == keys[2]);
    CHECK_EQ(twins[0]->refcnt, 1);

    /* delete the odd keys (equal objects), then the even ones */
    t = tu_now();
    for (size_t i = 1; i < nkeys; i += 2) ok &= pm_dict_del(d, twins[i]) == 0;
    CHECK(ok);
    CHECK(order_ok(d, keys, 2));
    for (size_t i = 0; i < nkeys; i++) {
        size_t k = perm[i];
        if (k % 2 == 0) ok &= pm_dict_del(d, keys[k]) == 0;
    }
    report("delete", tu_now() - t);
    CHECK(ok);
    CHECK_EQ(pm_dict_size(d), 0);
    CHECK_EQ(pm_dict_del(d, keys[0]), -1);
    CHECK(pm_exc_occurred() == PM_EXC_KEY);
    pm_exc_clear();

    /* and again in the emptied dict: the rebuild shrinks it as it fills */
    for (size_t i = 0; i < nkeys; i++) ok &= pm_dict_set(d, keys[i], value) == 0;
    CHECK(ok);
    CHECK(order_ok(d, keys, 1));
    for (size_t i = 0; i < nkeys; i++) {
        CHECK_EQ(keys[i]->refcnt, 2);
        if (keys[i]->refcnt != 2) break;
    }
    pm_decref(d);
    for (size_t i = 0; i < nkeys; i++) {
        CHECK_EQ(keys[i]->refcnt, 1);
        if (keys[i]->refcnt != 1) break;
        pm_decref(keys[i]);
        pm_decref(twins[i]);
    }
    free(keys);
    free(twins);
    free(names);
    free(perm);
}

static void test_int_keys(void) {
    pm_object *d = pm_dict_new();
    uint32_t *perm = permutation(nkeys);
    bool ok = true;
    double t = tu_now();
    for (size_t i = 0; i < nkeys; i++) {
        pm_object *k = pm_int((int64_t)i * 1000003);
        ok &= pm_dict_set(d, k, k) == 0;
        pm_decref(k);
    }
    report("insert (int keys)", tu_now() - t);
    t = tu_now();
    for (size_t i = 0; i < nkeys; i++) {
        pm_object *k = pm_int((int64_t)perm[i] * 1000003);
        pm_object *v = pm_dict_get(d, k);
        ok &= v != NULL && pm_equal(v, k) == 1;
        pm_decref(k);
    }
    report("lookup (int keys, new objects)", tu_now() - t);
    CHECK(ok);
    for (size_t i = 0; i < nkeys; i++) {
        pm_object *k = pm_int((int64_t)perm[i] * 1000003);
        ok &= pm_dict_del(d, k) == 0;
        pm_decref(k);
    }
    CHECK(ok);
    CHECK_EQ(pm_dict_size(d), 0);
    pm_decref(d);
    free(perm);
}

int main(void) {
    nkeys = (size_t)tu_big_count(1000000);
    const char *env = getenv("PYMM_TEST_KEYS");
    if (env && atol(env) > 0) nkeys = (size_t)atol(env);
    pm_runtime *rt = pm_runtime_new(NULL);
    pm_runtime_enter(rt);
    int64_t live0 = tu_live_objects();
    printf("  %zu keys\n", nkeys);
    test_str_keys();
    test_int_keys();
    CHECK_EQ(tu_live_objects(), live0);
    pm_runtime_destroy(rt);
    return tu_finish("test_obj_dict_big");
}
