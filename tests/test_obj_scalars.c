/*
 * test_obj_scalars.c -- None, bool, int, float and bytes (src/objects/
 * number.c, bytes.c): every entry point, every error path, the static
 * singletons, the numeric hash rule, float repr and the float free list.
 *
 * Each group runs in a private runtime and ends by checking that it left
 * no object alive (objects_allocated - objects_freed unchanged).
 */
#include "objects/object.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- harness ---------------------------------------------------------------- */

static int64_t int_of(pm_object *o) {
    int64_t v = 0;
    CHECK_EQ(pm_int_value(o, &v), 0);
    return v;
}

/* ---- None and bool ------------------------------------------------------------ */

static void test_none_bool(void) {
    tu_group g = tu_group_begin();
    pm_object *none = pm_none();
    CHECK(none == pm_none());
    CHECK(pm_is_immortal(none));
    CHECK(none->flags & PM_OF_STATIC);
    CHECK(pm_is_type(none, &pm_none_type));
    pm_incref(none);
    pm_decref(none);
    pm_decref(none);
    CHECK_EQ(none->refcnt, PM_REFCNT_IMMORTAL);
    CHECK(tu_repr_is(none, "None"));
    CHECK_EQ(pm_truth(none), 0);
    CHECK_EQ(tu_hash_of(none), tu_hash_of(pm_none()));
    CHECK_EQ(pm_equal(none, pm_none()), 1);
    CHECK_EQ(pm_compare(none, none, PM_LT), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "'<' not supported"));

    pm_object *t = pm_bool(1), *f = pm_bool(0);
    CHECK(pm_bool(42) == t);
    CHECK(pm_bool(-1) == t);
    CHECK(t != f);
    CHECK(pm_is_immortal(t) && pm_is_immortal(f));
    CHECK(pm_is_type(t, &pm_bool_type));
    CHECK(tu_repr_is(t, "True"));
    CHECK(tu_repr_is(f, "False"));
    CHECK_EQ(pm_truth(t), 1);
    CHECK_EQ(pm_truth(f), 0);
    /* bool is an int subtype */
    CHECK_EQ(int_of(t), 1);
    CHECK_EQ(int_of(f), 0);
    double d = -1;
    CHECK_EQ(pm_float_value(t, &d), 0);
    CHECK(d == 1.0);
    pm_object *one = pm_int(1), *zero = pm_int(0), *onef = pm_float(1.0);
    CHECK_EQ(pm_equal(t, one), 1);
    CHECK_EQ(pm_equal(one, t), 1);
    CHECK_EQ(pm_equal(f, zero), 1);
    CHECK_EQ(pm_equal(t, onef), 1);
    CHECK_EQ(pm_equal(t, f), 0);
    CHECK_EQ(pm_compare(f, t, PM_LT), 1);
    CHECK_EQ(tu_hash_of(t), tu_hash_of(one));
    CHECK_EQ(tu_hash_of(t), tu_hash_of(onef));
    CHECK_EQ(tu_hash_of(f), tu_hash_of(zero));
    pm_object *two = pm_int_add(t, t);
    CHECK(two != NULL && int_of(two) == 2);
    CHECK(pm_is_type(two, &pm_int_type));
    pm_object *neg = pm_int_sub(f, t);
    CHECK(neg && int_of(neg) == -1);
    pm_decref(two);
    pm_decref(neg);
    pm_decref(onef);
    tu_group_end(&g, 0);
}

/* ---- int ----------------------------------------------------------------------- */

static void test_small_ints(void) {
    tu_group g = tu_group_begin();
    pm_runtime_stats before, after;
    pm_runtime_get_stats(g.rt, &before);
    for (int64_t v = -5; v <= 256; v++) {
        pm_object *a = pm_int(v), *b = pm_int(v);
        CHECK(a == b);
        CHECK(pm_is_immortal(a));
        CHECK(a->flags & PM_OF_STATIC);
        CHECK(pm_is_type(a, &pm_int_type));
        CHECK_EQ(int_of(a), v);
        pm_decref(a);
        pm_decref(b);
    }
    pm_runtime_get_stats(g.rt, &after);
    CHECK_EQ(after.objects_allocated, before.objects_allocated); /* all static */
    /* Results of arithmetic in range are the cached objects too. */
    pm_object *a = pm_int(1000), *b = pm_int(-900);
    pm_object *c = pm_int_add(a, b);
    CHECK(c == pm_int(100));
    pm_decref(c);
    /* Outside the range: fresh heap objects. */
    int64_t outside[] = {-6, 257, 1000000, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof outside / sizeof *outside; i++) {
        pm_object *x = pm_int(outside[i]), *y = pm_int(outside[i]);
        CHECK(x != y);
        CHECK_EQ(x->refcnt, 1);
        CHECK(!(x->flags & PM_OF_STATIC));
        CHECK_EQ(int_of(x), outside[i]);
        CHECK_EQ(pm_equal(x, y), 1);
        CHECK_EQ(tu_hash_of(x), tu_hash_of(y));
        pm_decref(x);
        pm_decref(y);
    }
    pm_decref(a);
    pm_decref(b);
    tu_group_end(&g, 0);
}

typedef pm_object *(*binop)(pm_object *, pm_object *);

/* op(x, y) == want. */
static int op_gives(binop op, int64_t x, int64_t y, int64_t want) {
    pm_object *a = pm_int(x), *b = pm_int(y);
    pm_object *r = op(a, b);
    int ok = r != NULL && int_of(r) == want;
    if (!ok)
        fprintf(stderr, "%lld op %lld: want %lld (%s)\n", (long long)x, (long long)y,
                (long long)want, pm_exc_message());
    pm_xdecref(r);
    pm_decref(a);
    pm_decref(b);
    return ok;
}

/* op(x, y) fails with kind, creating nothing. */
static int op_fails(binop op, int64_t x, int64_t y, pm_exc kind, const char *text) {
    pm_object *a = pm_int(x), *b = pm_int(y);
    int64_t live = tu_live_objects();
    pm_object *r = op(a, b);
    int ok = r == NULL && tu_live_objects() == live && tu_raised(kind, text);
    pm_xdecref(r);
    pm_decref(a);
    pm_decref(b);
    return ok;
}

static void test_int_arith(void) {
    tu_group g = tu_group_begin();
    CHECK(op_gives(pm_int_add, 2, 3, 5));
    CHECK(op_gives(pm_int_add, INT64_MAX, 0, INT64_MAX));
    CHECK(op_gives(pm_int_add, INT64_MIN, INT64_MAX, -1));
    CHECK(op_gives(pm_int_add, INT64_MAX - 1, 1, INT64_MAX));
    CHECK(op_gives(pm_int_sub, 2, 3, -1));
    CHECK(op_gives(pm_int_sub, INT64_MIN + 1, 1, INT64_MIN));
    CHECK(op_gives(pm_int_sub, -1, INT64_MAX, INT64_MIN));
    CHECK(op_gives(pm_int_mul, -7, 6, -42));
    CHECK(op_gives(pm_int_mul, INT64_MIN, 1, INT64_MIN));
    CHECK(op_gives(pm_int_mul, INT64_MAX, -1, -INT64_MAX));
    CHECK(op_gives(pm_int_mul, 1LL << 31, 1LL << 31, 1LL << 62));
    /* Every op overflows at the edges: an error, never a wrapped value. */
    const char *msg = "overflows 64 bits";
    CHECK(op_fails(pm_int_add, INT64_MAX, 1, PM_EXC_OVERFLOW, msg));
    CHECK(op_fails(pm_int_add, INT64_MIN, -1, PM_EXC_OVERFLOW, msg));
    CHECK(op_fails(pm_int_add, INT64_MAX, INT64_MAX, PM_EXC_OVERFLOW, "int too large"));
    CHECK(op_fails(pm_int_sub, INT64_MIN, 1, PM_EXC_OVERFLOW, msg));
    CHECK(op_fails(pm_int_sub, INT64_MAX, -1, PM_EXC_OVERFLOW, msg));
    CHECK(op_fails(pm_int_sub, 0, INT64_MIN, PM_EXC_OVERFLOW, "0 - -9223372036854775808"));
    CHECK(op_fails(pm_int_mul, INT64_MAX, 2, PM_EXC_OVERFLOW, "9223372036854775807 * 2"));
    CHECK(op_fails(pm_int_mul, INT64_MIN, -1, PM_EXC_OVERFLOW, msg));
    CHECK(op_fails(pm_int_mul, 1LL << 32, 1LL << 31, PM_EXC_OVERFLOW, msg));
    CHECK(op_fails(pm_int_floordiv, INT64_MIN, -1, PM_EXC_OVERFLOW, msg));
    /* Floor division rounds toward negative infinity. */
    CHECK(op_gives(pm_int_floordiv, 7, 2, 3));
    CHECK(op_gives(pm_int_floordiv, -7, 2, -4));
    CHECK(op_gives(pm_int_floordiv, 7, -2, -4));
    CHECK(op_gives(pm_int_floordiv, -7, -2, 3));
    CHECK(op_gives(pm_int_floordiv, 6, -3, -2));
    CHECK(op_gives(pm_int_floordiv, -6, 3, -2));
    CHECK(op_gives(pm_int_floordiv, 0, -5, 0));
    CHECK(op_gives(pm_int_floordiv, -1, 1000, -1));
    CHECK(op_gives(pm_int_floordiv, INT64_MIN, 1, INT64_MIN));
    CHECK(op_gives(pm_int_floordiv, INT64_MIN, 2, INT64_MIN / 2));
    CHECK(op_gives(pm_int_floordiv, INT64_MIN, INT64_MAX, -2));
    CHECK(op_gives(pm_int_floordiv, INT64_MAX, INT64_MIN, -1));
    CHECK(op_gives(pm_int_floordiv, INT64_MAX, -1, -INT64_MAX));
    CHECK(op_fails(pm_int_floordiv, 1, 0, PM_EXC_ZERO_DIVISION, "division or modulo by zero"));
    CHECK(op_fails(pm_int_floordiv, 0, 0, PM_EXC_ZERO_DIVISION, NULL));
    CHECK(op_fails(pm_int_floordiv, INT64_MIN, 0, PM_EXC_ZERO_DIVISION, NULL));

    /* Wrong types and NULL: TypeError naming expected and actual types. */
    pm_object *i = pm_int(3), *f = pm_float(1.5), *s = pm_str_from("x");
    binop ops[] = {pm_int_add, pm_int_sub, pm_int_mul, pm_int_floordiv};
    for (size_t k = 0; k < 4; k++) {
        CHECK(ops[k](i, f) == NULL && tu_raised(PM_EXC_TYPE, "expected int, got float"));
        CHECK(ops[k](s, i) == NULL && tu_raised(PM_EXC_TYPE, "expected int, got str"));
        CHECK(ops[k](NULL, i) == NULL && tu_raised(PM_EXC_TYPE, "expected int, got NULL"));
        CHECK(ops[k](i, NULL) == NULL && tu_raised(PM_EXC_TYPE, NULL));
    }
    int64_t v = 77;
    CHECK_EQ(pm_int_value(f, &v), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "expected int, got float"));
    CHECK_EQ(v, 77); /* unchanged on error */
    CHECK_EQ(pm_int_value(NULL, &v), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "got NULL"));
    CHECK_EQ(pm_int_value(i, NULL), 0); /* the out pointer is optional */
    pm_decref(i);
    pm_decref(f);
    pm_decref(s);
    tu_group_end(&g, 0);
}

static void test_int_repr_hash_compare(void) {
    tu_group g = tu_group_begin();
    struct {
        int64_t v;
        const char *repr;
        uint64_t hash;
    } cases[] = {
        {0, "0", 0},
        {1, "1", 1},
        {-1, "-1", (uint64_t)-2}, /* Python: hash(-1) == -2 */
        {-5, "-5", (uint64_t)-5},
        {256, "256", 256},
        {1234567890, "1234567890", 1234567890},
        {(1LL << 61) - 1, "2305843009213693951", 0},
        {1LL << 61, "2305843009213693952", 1},
        {-(1LL << 61), "-2305843009213693952", (uint64_t)-2},
        {INT64_MAX, "9223372036854775807", 3},
        {INT64_MIN, "-9223372036854775808", (uint64_t)-4},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        pm_object *o = pm_int(cases[k].v);
        CHECK(tu_repr_is(o, cases[k].repr));
        CHECK_EQ(tu_hash_of(o), cases[k].hash);
        CHECK_EQ(pmo_hash_int(cases[k].v), cases[k].hash);
        pm_object *s = pm_str(o); /* str() of an int is its repr */
        CHECK(s && strcmp(pm_str_utf8(s, NULL), cases[k].repr) == 0);
        pm_xdecref(s);
        CHECK_EQ(pm_truth(o), cases[k].v != 0);
        pm_decref(o);
    }

    pm_object *a = pm_int(-3), *b = pm_int(1000);
    int want[] = {1, 1, 0, 1, 0, 0}; /* -3 <op> 1000 for LT LE EQ NE GT GE */
    for (int op = PM_LT; op <= PM_GE; op++) {
        CHECK_EQ(pm_compare(a, b, op), want[op]);
        CHECK_EQ(pm_compare(b, a, op), want[op] ^ (op != PM_EQ && op != PM_NE));
        CHECK_EQ(pm_compare(a, a, op), op == PM_LE || op == PM_EQ || op == PM_GE);
    }
    /* int against float compares exactly, never through a rounded double. */
    struct {
        int64_t i;
        double d;
        int cmp;
    } mixed[] = {
        {9007199254740993LL, 9007199254740992.0, 1}, /* 2^53 + 1 vs 2^53 */
        {9007199254740992LL, 9007199254740992.0, 0},
        {INT64_MAX, 9223372036854775808.0, -1},
        {INT64_MIN, -9223372036854775808.0, 0},
        {INT64_MIN, -9223372036854777856.0, 1},
        {3, 3.5, -1},
        {-3, -3.5, 1},
        {-4, -3.5, -1},
        {0, -0.0, 0},
        {5, INFINITY, -1},
        {INT64_MIN, -INFINITY, 1},
        {1, 1e-300, 1},
    };
    for (size_t k = 0; k < sizeof mixed / sizeof *mixed; k++) {
        pm_object *x = pm_int(mixed[k].i), *y = pm_float(mixed[k].d);
        int c = mixed[k].cmp;
        CHECK_EQ(pm_compare(x, y, PM_EQ), c == 0);
        CHECK_EQ(pm_compare(x, y, PM_LT), c < 0);
        CHECK_EQ(pm_compare(x, y, PM_GE), c >= 0);
        CHECK_EQ(pm_compare(y, x, PM_GT), c < 0); /* reflected */
        CHECK_EQ(pm_compare(y, x, PM_NE), c != 0);
        if (c == 0) CHECK_EQ(tu_hash_of(x), tu_hash_of(y));
        pm_decref(x);
        pm_decref(y);
    }
    pm_object *nan = pm_float(NAN);
    for (int op = PM_LT; op <= PM_GE; op++) {
        CHECK_EQ(pm_compare(a, nan, op), op == PM_NE);
        CHECK_EQ(pm_compare(nan, a, op), op == PM_NE);
    }
    /* Against a non-number: equality by identity, ordering a TypeError. */
    pm_object *s = pm_str_from("1");
    CHECK_EQ(pm_equal(a, s), 0);
    CHECK_EQ(pm_compare(a, s, PM_NE), 1);
    CHECK_EQ(pm_compare(a, s, PM_LT), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "'<' not supported between instances of 'int' and 'str'"));
    pm_decref(s);
    pm_decref(nan);
    pm_decref(a);
    pm_decref(b);
    tu_group_end(&g, 0);
}

/* ---- float ----------------------------------------------------------------------- */

static void test_float_repr(void) {
    tu_group g = tu_group_begin();
    struct {
        double v;
        const char *repr;
    } cases[] = {
        {0.1, "0.1"},
        {1e16, "1e+16"},
        {1e-7, "1e-07"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {INFINITY, "inf"},
        {-INFINITY, "-inf"},
        {NAN, "nan"},
        {1.0 / 3.0, "0.3333333333333333"},
        {123456789.125, "123456789.125"},
        {1.0, "1.0"},
        {-1.0, "-1.0"},
        {100.0, "100.0"},
        {1e15, "1000000000000000.0"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {3e-05, "3e-05"},
        {1e-5 * 3, "3.0000000000000004e-05"},
        {1.5e300, "1.5e+300"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {9007199254740992.0, "9007199254740992.0"},
        {1e22, "1e+22"},
        {0.1 + 0.2, "0.30000000000000004"},
        {123.456, "123.456"},
        {-2.5, "-2.5"},
        {1e16 + 2, "1.0000000000000002e+16"},
        {12345678901234567890.0, "1.2345678901234567e+19"},
        {9223372036854775808.0, "9.223372036854776e+18"},
        {0.5, "0.5"},
        {1234.5e-10, "1.2345e-07"},
        {999999999999999.9, "999999999999999.9"},
        {1e-310, "1e-310"}, /* subnormals */
        {2.5e-320, "2.5e-320"},
        {2.225073858507201e-308, "2.225073858507201e-308"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {7.120236347223045e-307, "7.120236347223045e-307"}, /* a power of two: */
        {5.858190679279809e-244, "5.858190679279809e-244"}, /* the upper neighbour */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        pm_object *f = pm_float(cases[k].v);
        CHECK(tu_repr_is(f, cases[k].repr));
        pm_decref(f);
    }
    /* Every repr reads back as the same double (random bit patterns). */
    uint64_t state = 12345;
    for (int k = 0; k < 20000; k++) {
        uint64_t bits = tu_rand(&state);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isnan(v)) continue;
        pm_object *f = pm_float(v);
        pm_object *r = pm_repr(f);
        CHECK(r != NULL);
        if (r) {
            double back = strtod(pm_str_utf8(r, NULL), NULL);
            if (back != v) fprintf(stderr, "round trip: %s\n", pm_str_utf8(r, NULL));
            CHECK(back == v);
            pm_decref(r);
        }
        pm_decref(f);
    }
    tu_group_end(&g, 0);
}

static void test_float_hash_value(void) {
    tu_group g = tu_group_begin();
    struct {
        double v;
        uint64_t hash;
    } cases[] = {
        {1.0, 1},
        {-1.0, (uint64_t)-2},
        {0.0, 0},
        {-0.0, 0},
        {0.5, 1152921504606846976ULL},
        {1.5, 1152921504606846977ULL},
        {-1.5, (uint64_t)-1152921504606846977LL},
        {0.1, 230584300921369408ULL},
        {1e100, 1822893315824342674ULL},
        {18446744073709551616.0, 8}, /* 2^64 */
        {9223372036854775808.0, 4},  /* 2^63 */
        {-9223372036854775808.0, (uint64_t)-4},
        {1e-300, 482449582752280463ULL},
        {5e-324, 16777216},
        {INFINITY, 314159},
        {-INFINITY, (uint64_t)-314159},
        {1e16, 10000000000000000ULL},
        {-2.5, (uint64_t)-1152921504606846978LL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        pm_object *f = pm_float(cases[k].v);
        CHECK_EQ(tu_hash_of(f), cases[k].hash);
        pm_decref(f);
    }
    /* hash(1) == hash(1.0) == hash(True); 1 == 1.0 */
    pm_object *i = pm_int(1), *f = pm_float(1.0), *t = pm_bool(1);
    CHECK_EQ(tu_hash_of(i), tu_hash_of(f));
    CHECK_EQ(tu_hash_of(f), tu_hash_of(t));
    CHECK_EQ(pm_equal(i, f), 1);
    CHECK_EQ(pm_equal(f, i), 1);
    pm_decref(f);
    /* integral floats hash like the int of the same value */
    int64_t vals[] = {2, -7, 1000000007, -(1LL << 53), 1LL << 62, INT64_MIN};
    for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) {
        pm_object *x = pm_int(vals[k]), *y = pm_float((double)vals[k]);
        CHECK_EQ(tu_hash_of(x), tu_hash_of(y));
        pm_decref(x);
        pm_decref(y);
    }
    /* NaN: never equal, hashed by identity */
    pm_object *n1 = pm_float(NAN), *n2 = pm_float(NAN);
    CHECK_EQ(pm_compare(n1, n2, PM_EQ), 0);
    CHECK_EQ(pm_compare(n1, n2, PM_NE), 1);
    CHECK_EQ(pm_compare(n1, n1, PM_EQ), 0);
    CHECK_EQ(pm_equal(n1, n1), 1); /* containers: identity implies equality */
    CHECK(tu_hash_of(n1) != tu_hash_of(n2));
    CHECK_EQ(pm_truth(n1), 1);
    /* float against float */
    pm_object *a = pm_float(-2.5), *b = pm_float(0.25);
    CHECK_EQ(pm_compare(a, b, PM_LT), 1);
    CHECK_EQ(pm_compare(a, b, PM_GE), 0);
    CHECK_EQ(pm_compare(b, b, PM_LE), 1);
    /* values and truth */
    double d = 0;
    CHECK_EQ(pm_float_value(a, &d), 0);
    CHECK(d == -2.5);
    pm_object *big = pm_int(INT64_MAX);
    CHECK_EQ(pm_float_value(big, &d), 0);
    CHECK(d == 9223372036854775808.0);
    CHECK_EQ(pm_float_value(a, NULL), 0);
    pm_object *zero = pm_float(0.0), *mzero = pm_float(-0.0);
    CHECK_EQ(pm_truth(zero), 0);
    CHECK_EQ(pm_truth(mzero), 0);
    CHECK_EQ(pm_truth(a), 1);
    CHECK_EQ(pm_equal(zero, mzero), 1);
    /* errors */
    pm_object *s = pm_str_from("1.5");
    d = 42;
    CHECK_EQ(pm_float_value(s, &d), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "expected float, got str"));
    CHECK(d == 42);
    CHECK_EQ(pm_float_value(NULL, &d), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "expected float, got NULL"));
    CHECK_EQ(pm_float_value(pm_none(), &d), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "got NoneType"));
    pm_object *objs[] = {i, t, n1, n2, a, b, big, zero, mzero, s};
    for (size_t k = 0; k < sizeof objs / sizeof *objs; k++) pm_decref(objs[k]);
    tu_group_end(&g, 0);
}

static const pm_freelist_stats *float_freelist(pm_runtime *rt, pm_freelist_stats *buf, size_t cap) {
    size_t n = pm_runtime_freelists(rt, buf, cap);
    for (size_t k = 0; k < n && k < cap; k++)
        if (strcmp(buf[k].name, "float") == 0) return &buf[k];
    return NULL;
}

static void test_float_freelist(void) {
    tu_group g = tu_group_begin();
    pm_freelist_stats buf[64];
    const pm_freelist_stats *fl = float_freelist(g.rt, buf, 64);
    CHECK(fl != NULL);
    if (fl == NULL) return;
    CHECK_EQ(fl->size, 0);
    CHECK_EQ(fl->limit, PMO_FLOAT_FREELIST);

    /* A freed float's memory serves the next one. */
    pm_object *a = pm_float(1.5);
    CHECK_EQ(a->refcnt, 1);
    pm_decref(a);
    fl = float_freelist(g.rt, buf, 64);
    CHECK_EQ(fl->size, 1);
    pm_object *b = pm_float(2.5);
    CHECK(b == a);
    CHECK_EQ(b->refcnt, 1);
    CHECK_EQ(b->flags, PM_OF_LOST_REF | PMO_OF_ACYCLIC); /* what every non-GC type is born with */
    CHECK(pm_is_type(b, &pm_float_type));
    double d = 0;
    pm_float_value(b, &d);
    CHECK(d == 2.5);
    fl = float_freelist(g.rt, buf, 64);
    CHECK_EQ(fl->size, 0);
    CHECK_EQ(fl->reused, 1);
    pm_decref(b);

    /* The list keeps at most its limit. */
    enum { N = PMO_FLOAT_FREELIST + 50 };
    pm_object *many[N];
    for (int k = 0; k < N; k++) many[k] = pm_float(k);
    for (int k = 0; k < N; k++) pm_decref(many[k]);
    fl = float_freelist(g.rt, buf, 64);
    CHECK_EQ(fl->size, PMO_FLOAT_FREELIST);
    CHECK_EQ(fl->reused, 2);
    CHECK_EQ(tu_live_objects() - g.live_before, 0); /* free-listed = freed */

    pm_runtime_clear_freelists(g.rt);
    fl = float_freelist(g.rt, buf, 64);
    CHECK_EQ(fl->size, 0);
    CHECK_EQ(fl->released, PMO_FLOAT_FREELIST);
    pm_object *c = pm_float(3.0); /* a fresh allocation works after clearing */
    CHECK(c != NULL);
    pm_decref(c);
    fl = float_freelist(g.rt, buf, 64);
    CHECK_EQ(fl->size, 1);
    tu_group_end(&g, 0);
}

/* ---- bytes --------------------------------------------------------------------- */

static void test_bytes(void) {
    tu_group g = tu_group_begin();
    pm_object *b = pm_bytes_from("a\0b", 3);
    CHECK(b != NULL && pm_is_type(b, &pm_bytes_type));
    size_t n = 0;
    const char *p = pm_bytes_data(b, &n);
    CHECK_EQ(n, 3);
    CHECK(memcmp(p, "a\0b", 4) == 0); /* NUL-ended too */
    CHECK_EQ(pm_len(b), 3);
    CHECK(tu_repr_is(b, "b'a\\x00b'"));

    pm_object *e1 = pm_bytes_from(NULL, 0), *e2 = pm_bytes_from("xyz", 0);
    CHECK(e1 == e2);
    CHECK(pm_is_immortal(e1));
    CHECK_EQ(pm_len(e1), 0);
    CHECK_EQ(pm_truth(e1), 0);
    CHECK_EQ(pm_truth(b), 1);
    CHECK(tu_repr_is(e1, "b''"));
    CHECK(pm_bytes_data(e1, &n) != NULL && n == 0);
    CHECK_EQ(tu_hash_of(e1), pmo_hash_bytes("", 0));
    CHECK_EQ(e1->flags & PM_OF_HASHED, 0); /* static: never written */

    CHECK(pm_bytes_from(NULL, 1) == NULL && tu_raised(PM_EXC_TYPE, "got NULL"));
    pm_object *s = pm_str_from("abc");
    CHECK(pm_bytes_data(s, &n) == NULL && tu_raised(PM_EXC_TYPE, "expected bytes, got str"));
    CHECK(pm_bytes_data(NULL, &n) == NULL && tu_raised(PM_EXC_TYPE, "expected bytes, got NULL"));

    /* repr: Python's quotes and escapes */
    struct {
        const char *data;
        size_t n;
        const char *repr;
    } reprs[] = {
        {"abc", 3, "b'abc'"},
        {"it's", 4, "b\"it's\""},
        {"a\"b'c", 5, "b'a\"b\\'c'"},
        {"\x00\xff\n\t\r\\", 6, "b'\\x00\\xff\\n\\t\\r\\\\'"},
        {"\x1f\x7f\x80 ~", 5, "b'\\x1f\\x7f\\x80 ~'"},
    };
    for (size_t k = 0; k < sizeof reprs / sizeof *reprs; k++) {
        pm_object *x = pm_bytes_from(reprs[k].data, reprs[k].n);
        CHECK(tu_repr_is(x, reprs[k].repr));
        pm_decref(x);
    }
    char big[1000];
    for (size_t k = 0; k < sizeof big; k++) big[k] = (char)k;
    pm_object *bb = pm_bytes_from(big, sizeof big);
    pm_object *r = pm_repr(bb);
    CHECK(r != NULL && pm_str_length(r) > 2000);
    pm_xdecref(r);

    /* hash: cached, equal for equal values, equal to a str of the same bytes */
    pm_object *b2 = pm_bytes_from("a\0b", 3), *sab = pm_str_from("abc");
    pm_object *babc = pm_bytes_from("abc", 3);
    CHECK_EQ(tu_hash_of(b), tu_hash_of(b2));
    CHECK(b->flags & PM_OF_HASHED);
    CHECK_EQ(tu_hash_of(b), pmo_hash_bytes("a\0b", 3));
    CHECK_EQ(tu_hash_of(babc), tu_hash_of(sab));
    CHECK_EQ(pm_equal(babc, sab), 0); /* apart by type only */

    /* compare: unsigned lexicographic, then length */
    pm_object *x = pm_bytes_from("ab", 2), *y = pm_bytes_from("b", 1);
    pm_object *z = pm_bytes_from("\xff", 1);
    CHECK_EQ(pm_equal(b, b2), 1);
    CHECK_EQ(pm_compare(x, y, PM_LT), 1);
    CHECK_EQ(pm_compare(y, z, PM_LT), 1);
    CHECK_EQ(pm_compare(babc, x, PM_GT), 1);
    CHECK_EQ(pm_compare(x, babc, PM_LE), 1);
    CHECK_EQ(pm_compare(x, x, PM_GE), 1);
    CHECK_EQ(pm_compare(x, y, PM_NE), 1);
    CHECK_EQ(pm_compare(e1, x, PM_LT), 1);
    CHECK_EQ(pm_compare(x, sab, PM_LT), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "not supported"));

    /* getitem: an int, negative indexes, errors */
    pm_object *i0 = pm_int(0), *im1 = pm_int(-1), *i3 = pm_int(3), *im4 = pm_int(-4);
    pm_object *v = pm_getitem(z, i0);
    CHECK(v && int_of(v) == 255 && pm_is_immortal(v));
    pm_xdecref(v);
    v = pm_getitem(b, im1);
    CHECK(v && int_of(v) == 'b');
    pm_xdecref(v);
    v = pm_getitem(b, pm_bool(1));
    CHECK(v && int_of(v) == 0);
    pm_xdecref(v);
    CHECK(pm_getitem(b, i3) == NULL && tu_raised(PM_EXC_INDEX, "index out of range"));
    CHECK(pm_getitem(b, im4) == NULL && tu_raised(PM_EXC_INDEX, NULL));
    CHECK(pm_getitem(e1, i0) == NULL && tu_raised(PM_EXC_INDEX, NULL));
    CHECK(pm_getitem(b, s) == NULL &&
          tu_raised(PM_EXC_TYPE, "byte indices must be integers, not 'str'"));

    /* iteration (iter.c) yields ints */
    pm_object *it = pm_iter(b);
    CHECK(it != NULL);
    for (int k = 0; it && k < 4; k++) {
        pm_object *x = pm_next(it);
        if (k == 3) {
            CHECK(x == NULL && pm_exc_occurred() == PM_EXC_NONE);
            break;
        }
        CHECK(x && int_of(x) == "a\0b"[k]);
        pm_xdecref(x);
    }
    pm_xdecref(it);

    /* contains: a byte value or a substring */
    pm_object *k97 = pm_int(97), *k256 = pm_int(256), *bc = pm_bytes_from("bc", 2);
    pm_object *cb = pm_bytes_from("c\x02", 2);
    CHECK_EQ(pm_contains(babc, k97), 1);
    CHECK_EQ(pm_contains(b, i0), 1);
    CHECK_EQ(pm_contains(x, i0), 0);
    CHECK_EQ(pm_contains(e1, k97), 0);
    CHECK_EQ(pm_contains(babc, pm_bool(0)), 0);
    CHECK_EQ(pm_contains(babc, k256), -1);
    CHECK(tu_raised(PM_EXC_VALUE, "byte must be in range(0, 256)"));
    CHECK_EQ(pm_contains(babc, im1), -1);
    CHECK(tu_raised(PM_EXC_VALUE, NULL));
    CHECK_EQ(pm_contains(babc, bc), 1);
    CHECK_EQ(pm_contains(babc, e1), 1);
    CHECK_EQ(pm_contains(bc, babc), 0);
    CHECK_EQ(pm_contains(x, bc), 0);
    CHECK_EQ(pm_contains(bb, bc), 1);
    CHECK_EQ(pm_contains(bb, cb), 0);
    CHECK_EQ(pm_contains(babc, s), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "a bytes-like object is required, not 'str'"));

    pm_object *objs[] = {b, s, bb, b2, sab, babc, x, y, z, i0, im1, i3, im4, k97, k256, bc, cb};
    for (size_t k = 0; k < sizeof objs / sizeof *objs; k++) pm_decref(objs[k]);
    tu_group_end(&g, 0);
}

int main(void) {
    test_none_bool();
    test_small_ints();
    test_int_arith();
    test_int_repr_hash_compare();
    test_float_repr();
    test_float_hash_value();
    test_float_freelist();
    test_bytes();
    return tu_finish("test_obj_scalars");
}
