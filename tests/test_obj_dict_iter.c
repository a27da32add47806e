/*
 * test_obj_dict_iter.c -- a dict iterator whose dict changes under it, by
 * CPython 3.11's rules (issue 12, bug 10):
 *   - another size: "dictionary changed size during iteration", at every
 *     later step too;
 *   - the same size but keys deleted and others added: when the scan finds
 *     more entries than the dict had at the start, "dictionary keys changed
 *     during iteration", and the iterator is exhausted afterwards;
 *   - a change the count cannot see (a key not reached yet replaced by a
 *     new one) yields the new key, as CPython does.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

/* {"a": 0, "b": 1, "c": 2} */
static pm_object *abc(void) {
    pm_object *d = pm_dict_new();
    const char *keys[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        pm_object *v = pm_int(i);
        CHECK(pm_dict_set_str(d, keys[i], v) == 0);
        pm_decref(v);
    }
    return d;
}

static void set_key(pm_object *d, const char *key) {
    pm_object *v = pm_int(9);
    CHECK(pm_dict_set_str(d, key, v) == 0);
    pm_decref(v);
}

static void del_key(pm_object *d, const char *key) {
    pm_object *k = pm_str_from(key);
    CHECK(pm_dict_del(d, k) == 0);
    pm_decref(k);
}

/* The next key is the str `want`. */
static bool next_is(pm_object *it, const char *want) {
    pm_object *k = pm_next(it);
    bool ok = k && pm_is_type(k, &pm_str_type) && strcmp(pm_str_utf8(k, NULL), want) == 0;
    pm_xdecref(k);
    return ok;
}

/* d = {a, b, c}; it = iter(d); next(it); del d["a"]; d["d"] = 9; list(it)
 * raises in CPython 3.11 after yielding b and c. */
static void keys_replaced_behind(void) {
    pm_object *d = abc(), *it = pm_iter(d);
    CHECK(next_is(it, "a"));
    del_key(d, "a");
    set_key(d, "d");
    CHECK_EQ(pm_dict_size(d), 3);
    CHECK(next_is(it, "b"));
    CHECK(next_is(it, "c"));
    CHECK(pm_next(it) == NULL);
    CHECK(tu_raised(PM_EXC_RUNTIME, "dictionary keys changed during iteration"));
    /* CPython drops the dict: the iterator is exhausted, with no error. */
    CHECK(pm_next(it) == NULL && pm_exc_occurred() == PM_EXC_NONE);
    pm_decref(it);
    pm_decref(d);
}

/* Every key replaced at once, before the first step: the scan finds three
 * new keys, which is as many as it expects, so CPython yields them. */
static void keys_replaced_ahead(void) {
    pm_object *d = abc(), *it = pm_iter(d);
    CHECK(next_is(it, "a"));
    del_key(d, "c");
    set_key(d, "d");
    CHECK(next_is(it, "b"));
    CHECK(next_is(it, "d"));
    CHECK(pm_next(it) == NULL && pm_exc_occurred() == PM_EXC_NONE);
    pm_decref(it);
    pm_decref(d);
}

/* for k in d: d[k + "_"] = 9; del d[k]  -- each step renames the key it
 * got. CPython 3.11 yields the three original keys, then raises (without
 * the count, the scan would chase the new keys, round after round). */
static void rename_while_iterating(void) {
    pm_object *d = abc(), *it = pm_iter(d), *k;
    int yielded = 0;
    while (yielded < 100 && (k = pm_next(it)) != NULL) {
        char renamed[64];
        snprintf(renamed, sizeof renamed, "%s_", pm_str_utf8(k, NULL));
        set_key(d, renamed);
        CHECK(pm_dict_del(d, k) == 0);
        pm_decref(k);
        yielded++;
    }
    CHECK_EQ(yielded, 3);
    CHECK(tu_raised(PM_EXC_RUNTIME, "dictionary keys changed during iteration"));
    CHECK_EQ(pm_dict_size(d), 3);
    pm_decref(it);
    pm_decref(d);
}

/* A size change is still reported, and stays reported. */
static void size_changed(void) {
    pm_object *d = abc(), *it = pm_iter(d);
    CHECK(next_is(it, "a"));
    set_key(d, "d");
    CHECK(pm_next(it) == NULL);
    CHECK(tu_raised(PM_EXC_RUNTIME, "dictionary changed size during iteration"));
    CHECK(pm_next(it) == NULL);
    CHECK(tu_raised(PM_EXC_RUNTIME, "changed size"));
    pm_decref(it);
    pm_decref(d);
}

/* An unchanged dict, and one whose values change: every key, no error. */
static void values_change(void) {
    pm_object *d = abc(), *it = pm_iter(d);
    CHECK(next_is(it, "a"));
    set_key(d, "a");
    set_key(d, "c");
    CHECK(next_is(it, "b"));
    CHECK(next_is(it, "c"));
    CHECK(pm_next(it) == NULL && pm_exc_occurred() == PM_EXC_NONE);
    pm_decref(it);
    pm_decref(d);
}

int main(void) {
    tu_group g = tu_group_begin();
    keys_replaced_behind();
    keys_replaced_ahead();
    rename_while_iterating();
    size_changed();
    values_change();
    tu_group_end(&g, 0);
    return tu_finish("test_obj_dict_iter");
}
