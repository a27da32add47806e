/*
 * objects_dict.c -- dict-insert, dict-lookup, dict-delete: a dict of NKEYS
 * string keys, in the workers pymm (pm_dict_*) and cpython-capi (CPython's
 * dict through its C API, from libpython).
 *
 * Outside the timed part, both build the same keys, "key0000000",
 * "key0000001", ... (snprintf "key%07zu", then pm_str_from /
 * PyUnicode_FromStringAndSize) and compute each key's hash once, so that
 * every repetition finds it cached in the string, as a program that reuses
 * its keys does. A fixed permutation of the keys (the same seed in both
 * workers) gives the order of lookups and deletions. One value object is
 * stored under every key (None).
 *
 * Each repetition: a new empty dict; insert every key in key order
 * (growing the table as it goes: resizes are part of the cost); look every
 * key up in permuted order; delete every key in permuted order; drop the
 * dict. Each phase is timed alone (process CPU time, see objw_cpu_s); the
 * median over the repetitions, divided by NKEYS, is reported in ns per
 * operation (the driver takes the median over its rounds of processes).
 */
#define _GNU_SOURCE
#include "pmb_objw.h"
#include "pmb_stats.h"

#include <stdio.h>
#include <stdlib.h>

#define PERM_SEED 0xD1C7D1C7D1C7ull

/* ------------------------------------------------------------------------ */
/* The dict of each impl                                                    */
/* ------------------------------------------------------------------------ */

#if defined(PMB_IMPL_PYMM)
#include "pymm.h"

typedef pm_object obj;

static void impl_init(void) {}
static void impl_fini(void) {}

static obj *make_key(const char *s, size_t n) {
    obj *k = pm_str_from_len(s, n);
    uint64_t h;
    if (!k || pm_hash(k, &h) != 0) objw_die("key: %s", pm_exc_message());
    return k;
}

static obj *make_value(void) { return pm_none(); }
static obj *dict_new(void) { return pm_dict_new(); }
static void drop(obj *o) { pm_decref(o); }

static inline void dict_insert(obj *d, obj *k, obj *v) {
    if (pm_dict_set(d, k, v) != 0) objw_die("pm_dict_set: %s", pm_exc_message());
}

static inline obj *dict_lookup(obj *d, obj *k) { return pm_dict_get(d, k); }

static inline void dict_delete(obj *d, obj *k) {
    if (pm_dict_del(d, k) != 0) objw_die("pm_dict_del: %s", pm_exc_message());
}

static size_t dict_size(obj *d) { return pm_dict_size(d); }

#elif defined(PMB_IMPL_CPYTHON)
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef PyObject obj;

/* No signal handlers: the worker is a plain C program embedding CPython. */
static void impl_init(void) { Py_InitializeEx(0); }
static void impl_fini(void) { (void)Py_FinalizeEx(); }

static obj *make_key(const char *s, size_t n) {
    obj *k = PyUnicode_FromStringAndSize(s, (Py_ssize_t)n);
    if (!k || PyObject_Hash(k) == -1) objw_die("key: PyUnicode_FromStringAndSize failed");
    return k;
}

static obj *make_value(void) { return Py_NewRef(Py_None); }
static obj *dict_new(void) { return PyDict_New(); }
static void drop(obj *o) { Py_DECREF(o); }

static inline void dict_insert(obj *d, obj *k, obj *v) {
    if (PyDict_SetItem(d, k, v) != 0) objw_die("PyDict_SetItem failed");
}

/* PyDict_GetItem: borrowed, errors suppressed; the pm_dict_get twin. */
static inline obj *dict_lookup(obj *d, obj *k) { return PyDict_GetItem(d, k); }

static inline void dict_delete(obj *d, obj *k) {
    if (PyDict_DelItem(d, k) != 0) objw_die("PyDict_DelItem failed");
}

static size_t dict_size(obj *d) { return (size_t)PyDict_Size(d); }

#else
#error "dict: impls pymm and cpython-capi only"
#endif

/* ------------------------------------------------------------------------ */
/* The phases                                                               */
/* ------------------------------------------------------------------------ */

/* Each phase's time, by repetition. */
typedef struct dict_times {
    double *insert, *lookup, *del;
} dict_times;

static obj **make_keys(size_t n) {
    obj **keys = malloc(n * sizeof *keys);
    if (!keys) objw_die("out of memory (keys)");
    for (size_t i = 0; i < n; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "key%07zu", i);
        keys[i] = make_key(buf, (size_t)len);
    }
    return keys;
}

static PM_NOINLINE double phase_insert(obj *d, obj **keys, size_t n, obj *value) {
    double t0 = objw_cpu_s();
    for (size_t i = 0; i < n; i++) dict_insert(d, keys[i], value);
    return objw_cpu_s() - t0;
}

static PM_NOINLINE double phase_lookup(obj *d, obj **keys, const uint32_t *perm, size_t n) {
    size_t found = 0;
    double t0 = objw_cpu_s();
    for (size_t i = 0; i < n; i++) found += dict_lookup(d, keys[perm[i]]) != NULL;
    double dt = objw_cpu_s() - t0;
    if (found != n) /* also keeps the lookups from being optimized away */
        objw_die("lookup found %zu of %zu keys", found, n);
    return dt;
}

static PM_NOINLINE double phase_delete(obj *d, obj **keys, const uint32_t *perm, size_t n) {
    double t0 = objw_cpu_s();
    for (size_t i = 0; i < n; i++) dict_delete(d, keys[perm[i]]);
    return objw_cpu_s() - t0;
}

static void one_rep(obj **keys, const uint32_t *perm, size_t n, obj *value, dict_times *t, long r) {
    obj *d = dict_new();
    if (!d) objw_die("cannot make a dict");
    t->insert[r] = phase_insert(d, keys, n, value);
    if (dict_size(d) != n) objw_die("dict holds %zu keys, not %zu", dict_size(d), n);
    t->lookup[r] = phase_lookup(d, keys, perm, n);
    t->del[r] = phase_delete(d, keys, perm, n);
    if (dict_size(d) != 0) objw_die("dict not empty after the deletions");
    drop(d);
}

int objw_dict(int argc, char **argv) {
    if (argc != 3) objw_die("usage: dict NKEYS REPS");
    size_t n = (size_t)objw_parse_long(argv[1], "key count");
    long reps = objw_parse_long(argv[2], "repetitions");
    impl_init();
    obj **keys = make_keys(n);
    uint32_t *perm = objw_permutation(n, PERM_SEED);
    obj *value = make_value();
    dict_times t = {malloc((size_t)reps * sizeof(double)), malloc((size_t)reps * sizeof(double)),
                    malloc((size_t)reps * sizeof(double))};
    if (!t.insert || !t.lookup || !t.del) objw_die("out of memory (times)");
    for (long r = 0; r < reps; r++) one_rep(keys, perm, n, value, &t, r);

    double per = 1e9 / (double)n;
    size_t k = (size_t)reps;
    objw_emit("dict-insert", "ns_per_op", pmb_spread_sort(t.insert, k).median * per, "ns");
    objw_emit("dict-lookup", "ns_per_op", pmb_spread_sort(t.lookup, k).median * per, "ns");
    objw_emit("dict-delete", "ns_per_op", pmb_spread_sort(t.del, k).median * per, "ns");
    free(t.insert), free(t.lookup), free(t.del);
    objw_check("dict-insert", "keys", (double)n);

    for (size_t i = 0; i < n; i++) drop(keys[i]);
    drop(value);
    free(keys);
    free(perm);
    impl_fini();
    return 0;
}
