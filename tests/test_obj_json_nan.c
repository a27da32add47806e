/*
 * test_obj_json_nan.c -- NaN, Infinity and -Infinity in JSON, as Python's
 * json does by default (allow_nan), and PM_JSON_STRICT, RFC 8259 only
 * (issue 12, bug 10: pm_json_dumps wrote constants pm_json_loads rejected,
 * so a round trip of any non-finite float failed).
 */
#include "testutil.h"

#include <math.h>
#include <string.h>

static pm_object *loads(const char *text, unsigned flags, pm_json_error *err) {
    return pm_json_loads_flags(text, strlen(text), 0, flags, err);
}

/* text loads (default flags) as the float whose repr is `want`. */
static bool loads_float(const char *text, const char *want) {
    pm_object *o = loads(text, 0, NULL);
    pm_object *r = o ? pm_repr(o) : NULL;
    bool ok = o && pm_is_type(o, &pm_float_type) && r && strcmp(pm_str_utf8(r, NULL), want) == 0;
    pm_xdecref(r);
    pm_xdecref(o);
    pm_exc_clear();
    return ok;
}

/* text is rejected with `message` at line 1, column col. */
static bool rejected(const char *text, unsigned flags, size_t col, const char *message) {
    pm_json_error err;
    pm_object *o = loads(text, flags, &err);
    bool ok = o == NULL && err.line == 1 && err.col == col && strcmp(err.message, message) == 0 &&
              tu_raised(PM_EXC_VALUE, message);
    pm_xdecref(o);
    pm_exc_clear();
    return ok;
}

/* dumps(o, flags) is `want`. */
static bool dumps_is(pm_object *o, unsigned flags, const char *want) {
    pm_object *s = pm_json_dumps_flags(o, -1, flags);
    bool ok = s && strcmp(pm_str_utf8(s, NULL), want) == 0;
    pm_xdecref(s);
    pm_exc_clear();
    return ok;
}

static void reading(void) {
    CHECK(loads_float("NaN", "nan"));
    CHECK(loads_float("Infinity", "inf"));
    CHECK(loads_float("-Infinity", "-inf"));
    CHECK(loads_float(" \n-Infinity\t", "-inf"));
    pm_object *o = loads("{\"a\": [NaN, Infinity, -Infinity, 1.5]}", 0, NULL);
    CHECK(o != NULL);
    if (o) {
        pm_object *l = pm_dict_get_str(o, "a"); /* borrowed */
        double v[4] = {0};
        CHECK(l && pm_list_size(l) == 4);
        for (int i = 0; l && i < 4; i++) CHECK(pm_float_value(pm_list_get(l, i), &v[i]) == 0);
        CHECK(isnan(v[0]) && v[1] == INFINITY && v[2] == -INFINITY && v[3] == 1.5);
        pm_decref(o);
    }
    /* What Python's scanner does not accept either. */
    CHECK(rejected("nan", 0, 1, "Expecting value"));
    CHECK(rejected("-NaN", 0, 1, "Expecting value"));
    CHECK(rejected("+Infinity", 0, 1, "Expecting value"));
    CHECK(rejected("Inf", 0, 1, "Expecting value"));
    CHECK(rejected("-Inf", 0, 1, "Expecting value"));
    CHECK(rejected("infinity", 0, 1, "Expecting value"));
    CHECK(rejected("NaNx", 0, 4, "Extra data"));
    CHECK(rejected("[1, Na]", 0, 5, "Expecting value"));
    /* Strict: RFC 8259, where the constants are not values. */
    CHECK(rejected("NaN", PM_JSON_STRICT, 1, "Expecting value"));
    CHECK(rejected("Infinity", PM_JSON_STRICT, 1, "Expecting value"));
    CHECK(rejected("-Infinity", PM_JSON_STRICT, 1, "Expecting value"));
    CHECK(rejected("[1, NaN]", PM_JSON_STRICT, 5, "Expecting value"));
    CHECK(rejected("{\"k\": -Infinity}", PM_JSON_STRICT, 7, "Expecting value"));
    /* Strict changes nothing else. */
    o = loads("[1e400, -0.0, 2]", PM_JSON_STRICT, NULL);
    CHECK(o != NULL && dumps_is(o, 0, "[Infinity, -0.0, 2]"));
    pm_xdecref(o);
    /* Unknown flags are refused, not ignored. */
    pm_json_error err;
    CHECK(loads("1", 0x80, &err) == NULL && tu_raised(PM_EXC_VALUE, "unknown flags"));
}

static void writing(void) {
    pm_object *l = pm_list_new(0);
    double values[] = {NAN, INFINITY, -INFINITY, 0.5};
    for (int i = 0; i < 4; i++) {
        pm_object *f = pm_float(values[i]);
        CHECK(pm_list_append(l, f) == 0);
        pm_decref(f);
    }
    CHECK(dumps_is(l, 0, "[NaN, Infinity, -Infinity, 0.5]"));
    /* The round trip that failed: dumps, loads, dumps gives the same text. */
    pm_object *s = pm_json_dumps(l, 2);
    size_t n = 0;
    const char *u = s ? pm_str_utf8(s, &n) : NULL;
    pm_object *back = u ? pm_json_loads(u, n, 0, NULL) : NULL;
    pm_object *again = back ? pm_json_dumps(back, 2) : NULL;
    CHECK(s && back && again && pm_equal(s, again) == 1);
    pm_xdecref(again);
    pm_xdecref(back);
    pm_xdecref(s);
    /* Strict: json.dumps(allow_nan=False). */
    pm_object *r = pm_json_dumps_flags(l, -1, PM_JSON_STRICT);
    CHECK(r == NULL && tu_raised(PM_EXC_VALUE, "Out of range float values are not JSON compliant"));
    pm_xdecref(r);
    pm_object *last = pm_list_pop(l, -1);
    pm_object *finite = pm_list_new(0);
    CHECK(last && pm_list_append(finite, last) == 0);
    CHECK(dumps_is(finite, PM_JSON_STRICT, "[0.5]"));
    pm_xdecref(last);
    pm_decref(finite);
    /* A float key is converted as Python does: "NaN", or strict's error. */
    pm_object *d = pm_dict_new(), *key = pm_float(INFINITY), *one = pm_int(1);
    CHECK(pm_dict_set(d, key, one) == 0);
    CHECK(dumps_is(d, 0, "{\"Infinity\": 1}"));
    r = pm_json_dumps_flags(d, -1, PM_JSON_STRICT);
    CHECK(r == NULL && tu_raised(PM_EXC_VALUE, "Out of range float values"));
    pm_xdecref(r);
    r = pm_json_dumps_flags(d, -1, 0x10);
    CHECK(r == NULL && tu_raised(PM_EXC_VALUE, "unknown flags"));
    pm_xdecref(r);
    pm_decref(one);
    pm_decref(key);
    pm_decref(d);
    pm_decref(l);
}

int main(void) {
    tu_group g = tu_group_begin();
    reading();
    writing();
    tu_group_end(&g, 0);
    return tu_finish("test_obj_json_nan");
}
