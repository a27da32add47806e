/*
 * test_obj_static_immortal.c -- the library's immortal static objects
 * (None, the bools, the small ints, the empty and one-character strings,
 * the empty bytes and tuple) and its built-in types are never written.
 *
 * They sit in writable sections only because they hold relocated pointers
 * (.ci/process-state.allow lists them beside the process-wide state); the
 * rule that nothing writes them (object.h O2, str.c S2, bytes.c B3,
 * weakref.c W2) is what lets every runtime and thread share them. This
 * test copies every byte of each, puts them through everything that could
 * write to an object (counts, hashes, interning, containers, deletion,
 * weak references, repr, JSON, collections, in a plain and a debug
 * runtime), and compares. test_obj_threads_statics checks the same under
 * ThreadSanitizer; this one fails in any build.
 */
#include "testutil.h"
#include "objects/object.h"
#include "objects/containers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct snapshot {
    const void *at;
    size_t size;
    unsigned char bytes[sizeof(pm_type)];
} snapshot;

enum { MAX_STATICS = 600 };
static snapshot shots[MAX_STATICS];
static size_t nshots;
static pm_object *statics[MAX_STATICS];
static size_t nstatics;

static void take(const void *at, size_t size) {
    if (nshots == MAX_STATICS || size > sizeof shots[0].bytes) abort();
    shots[nshots] = (snapshot){at, size, {0}};
    memcpy(shots[nshots].bytes, at, size);
    nshots++;
}

/* A static object (new reference from its constructor): keep its bytes. */
static void add_static(pm_object *o) {
    CHECK(o != NULL && pm_is_immortal(o) && (o->flags & PM_OF_STATIC));
    if (o == NULL || nstatics == MAX_STATICS) return;
    statics[nstatics++] = o;
    if (o->type == &pm_str_type) take(o, sizeof(pmo_str) + PMO_STR(o)->nbytes + 1);
    else if (o->type == &pm_none_type) take(o, sizeof *o); /* a header alone */
    else take(o, sizeof *o + sizeof(uint64_t));            /* header and first word */
}

static pm_object *latin1(unsigned c) {
    char buf[2] = {(char)(c < 0x80 ? c : 0xC0 | c >> 6), (char)(0x80 | (c & 0x3F))};
    return pm_str_from_len(buf, c < 0x80 ? 1 : 2);
}

static void collect_statics(void) {
    pm_type *types[] = {&pm_type_type,  &pm_none_type,      &pm_bool_type,   &pm_int_type,
                        &pm_float_type, &pm_str_type,       &pm_bytes_type,  &pm_tuple_type,
                        &pm_list_type,  &pm_dict_type,      &pm_set_type,    &pm_frozenset_type,
                        &pm_iter_type,  &pm_generator_type, &pm_weakref_type};
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) take(types[k], sizeof(pm_type));
    add_static(pm_none());
    add_static(pm_bool(1));
    add_static(pm_bool(0));
    for (int64_t v = -5; v <= 256; v++) add_static(pm_int(v));
    add_static(pm_str_from(""));
    for (unsigned c = 0; c < 256; c++) add_static(latin1(c));
    add_static(pm_bytes_from(NULL, 0));
    add_static(pm_tuple_new(0));
}

/* Every use of o that could write to an object. */
static void use(pm_object *o) {
    uint64_t h;
    pm_incref(o);
    pm_decref(o);
    pm_hash(o, &h);
    pm_exc_clear(); /* unhashable types would raise; none is here */
    pm_xdecref(pm_repr(o));
    pm_xdecref(pm_str(o));
    pm_equal(o, o);
    pm_compare(o, o, PM_LT);
    pm_exc_clear();
    if (o->type == &pm_str_type) {
        pm_xdecref(pm_str_intern(o));
        pm_xdecref(pm_str_intern_immortal(o));
        pm_xdecref(pm_str_concat(o, o));
    }
    pm_object *wr = pm_weakref_new(o, NULL, NULL); /* TypeError: not weak-referenceable */
    pm_xdecref(wr);
    pm_exc_clear();
}

static void workload(void) {
    pm_object *d = pm_dict_new(), *s = pm_set_new(NULL), *l = pm_list_new(0);
    CHECK(d && s && l);
    for (size_t k = 0; k < nstatics; k++) {
        pm_object *o = statics[k];
        use(o);
        CHECK_EQ(pm_list_append(l, o), 0);
        if (pm_setitem(d, o, o) == 0) CHECK_EQ(pm_set_add(s, o), 0);
        pm_exc_clear();
    }
    pm_object *t = pm_tuple_pack(3, statics[0], statics[1], l); /* a cycle through l */
    CHECK(t && pm_list_append(l, t) == 0);
    pm_xdecref(t);
    pm_xdecref(pm_json_dumps(l, 0)); /* None, bools, ints, strs; bytes make TypeError */
    pm_exc_clear();
    for (size_t k = 0; k < nstatics; k++) { /* deletion: dummies, not writes */
        pm_delitem(d, statics[k]);
        pm_set_discard(s, statics[k]);
        pm_exc_clear();
    }
    pm_decref(d);
    pm_decref(s);
    pm_decref(l);
    pm_gc_collect(2);
}

static void check_unchanged(const char *when) {
    for (size_t k = 0; k < nshots; k++) {
        if (memcmp(shots[k].at, shots[k].bytes, shots[k].size) != 0) {
            const unsigned char *now = shots[k].at;
            size_t i = 0;
            while (now[i] == shots[k].bytes[i]) i++;
            fprintf(stderr, "%s: static object %p changed at byte %zu (%02x -> %02x)\n", when,
                    shots[k].at, i, shots[k].bytes[i], now[i]);
            tu_fail(__FILE__, __LINE__, "a static object was written");
        }
    }
}

int main(void) {
    collect_statics();
    CHECK(nstatics == 3 + 262 + 1 + 256 + 2);
    workload();
    check_unchanged("default runtime");
    pm_runtime *rt = pm_runtime_new(&(pm_runtime_config){.heap = NULL, .debug = 1});
    CHECK(rt != NULL);
    if (rt) {
        pm_runtime *prev = pm_runtime_enter(rt);
        workload();
        pm_runtime_enter(prev);
        pm_runtime_destroy(rt);
        check_unchanged("debug runtime");
    }
    /* The constructors' references are immortal: no decref is owed. */
    return tu_finish("test_obj_static_immortal");
}
