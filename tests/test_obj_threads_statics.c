/*
 * test_obj_threads_statics.c -- the static objects of number.c, str.c and
 * bytes.c (None, the bools, the small ints, the empty and one-character
 * strings, the empty bytes) are shared by every runtime and never written.
 *
 * Several threads, each in its own runtime, use them at once in every way
 * that could write to an object: incref/decref, hashing, interning,
 * immortal interning, indexing, comparison, repr. Under ThreadSanitizer
 * (the "threads" label runs there in CI) any write to a shared static is
 * a reported race.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { THREADS = 4 };

static int hammer_once(void) {
    int bad = 0;
    for (int64_t v = -5; v <= 256; v++) {
        pm_object *i = pm_int(v);
        uint64_t h;
        pm_incref(i);
        pm_decref(i);
        if (pm_hash(i, &h) != 0 || pm_equal(i, i) != 1) bad++;
        pm_decref(i);
    }
    pm_object *singles[] = {pm_none(), pm_bool(1), pm_bool(0), pm_str_from(""),
                            pm_bytes_from(NULL, 0)};
    for (size_t k = 0; k < sizeof singles / sizeof *singles; k++) {
        uint64_t h;
        if (pm_hash(singles[k], &h) != 0) bad++;
        pm_object *r = pm_repr(singles[k]);
        if (r == NULL) bad++;
        pm_xdecref(r);
        pm_incref(singles[k]);
        pm_decref(singles[k]);
        pm_decref(singles[k]);
    }
    for (unsigned c = 0; c < 256; c++) {
        char buf[2] = {(char)(c < 0x80 ? c : 0xC0 | c >> 6), (char)(0x80 | (c & 0x3F))};
        pm_object *s = pm_str_from_len(buf, c < 0x80 ? 1 : 2);
        if (s == NULL) {
            bad++;
            continue;
        }
        uint64_t h;
        pm_object *in = pm_str_intern(s), *imm = pm_str_intern_immortal(s);
        pm_object *id = pm_str_id(pm_str_utf8(s, NULL));
        pm_object *zero = pm_int(0), *item = pm_getitem(s, zero);
        if (in != s || imm != s || item != s || pm_hash(s, &h) != 0) bad++;
        if (c && id != s) bad++; /* U+0000 ends the C string: pm_str_id("") */
        pm_object *objs[] = {in, imm, id, item, zero, s};
        for (size_t k = 0; k < sizeof objs / sizeof *objs; k++) pm_xdecref(objs[k]);
    }
    return bad;
}

static void *worker(void *arg) {
    int *bad = arg;
    pm_runtime *rt = pm_runtime_new(NULL);
    if (rt == NULL) {
        (*bad)++;
        return NULL;
    }
    pm_runtime_enter(rt);
    long rounds = tu_big_count(2000);
    for (long r = 0; r < rounds && *bad == 0; r++) *bad += hammer_once();
    if (pm_exc_occurred()) (*bad)++;
    pm_runtime_destroy(rt); /* current: the thread falls back to the default */
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    int bad[THREADS] = {0};
    for (int k = 0; k < THREADS; k++) CHECK_EQ(pthread_create(&t[k], NULL, worker, &bad[k]), 0);
    for (int k = 0; k < THREADS; k++) {
        pthread_join(t[k], NULL);
        CHECK_EQ(bad[k], 0);
    }
    /* nothing was ever written: still immortal, still static */
    CHECK(pm_is_immortal(pm_int(7)) && pm_is_immortal(pm_none()));
    pm_object *e = pm_str_from("");
    CHECK(pm_is_immortal(e) && (e->flags & PM_OF_STATIC));
    return tu_finish("test_obj_threads_statics");
}
