/*
 * test_obj_debug.c -- object debug mode (config.debug, PYMM_DEBUG=1) is
 * sound and catches what it promises.
 *
 *   - Its quarantine of freed objects survives deaths caused by its own
 *     evictions (an evicted instance that drops the last reference to its
 *     type): memory stays bounded and no false misuse is reported.
 *   - A call on a freed object through the public API is reported (the
 *     address, the type, the allocation number when the heap knows it) and
 *     fails cleanly instead of operating on the dead object.
 *   - PYMM_BREAK_ALLOC=N calls pm_debug_break_alloc at the debug heap's
 *     allocation number N, exactly once.
 *
 * Reports that abort (the default handler) run in a child process, as in
 * test_heap_wrong_debug.c; the others install a handler that counts.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the handler was told: how many reports, and the last one's kind,
 * address, serial and message. */
typedef struct seen {
    int count;
    pm_error_kind kind;
    const void *address;
    uint64_t serial;
    char msg[320];
} seen;

static void count_report(pm_heap *h, const pm_error *e, void *arg) {
    seen *s = arg;
    (void)h;
    *s = (seen){s->count + 1, e->kind, e->address, e->serial, ""};
    snprintf(s->msg, sizeof s->msg, "%s", e->message);
}

/* A debug runtime on its own heap, entered; reports counted in *s. */
static pm_runtime *debug_runtime(seen *s, int heap_debug, pm_runtime **prev) {
    pm_heap_config hc;
    pm_heap_config_init(&hc);
    hc.debug = heap_debug;
    pm_heap *h = pm_heap_new(&hc);
    if (h == NULL) abort();
    if (s) pm_heap_set_error_handler(h, count_report, s);
    pm_runtime_config c = {.heap = h, .debug = 1};
    pm_runtime *rt = pm_runtime_new(&c);
    if (rt == NULL) abort();
    *prev = pm_runtime_enter(rt);
    return rt;
}

/* ---- 1. the quarantine survives its own evictions ---------------------- */

/* One short-lived type: a few instances, then the type's own reference
 * goes; the last instance to leave the quarantine frees the type, from
 * inside the eviction. */
static void short_lived_type(int i, int instances) {
    char name[32];
    snprintf(name, sizeof name, "T%d", i);
    pm_type_spec spec = {0, name, sizeof(pm_object) + 16, 0, 0, {0}, 0, NULL};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    if (t == NULL) return;
    for (int k = 0; k < instances; k++) {
        pm_object *o = pm_object_new(t);
        CHECK(o != NULL);
        pm_xdecref(o);
    }
    pm_decref(PM_OBJ(t));
}

static uint64_t heap_bytes(pm_heap *h) {
    pm_heap_stats st;
    pm_heap_get_stats(h, &st);
    return st.bytes_in_use + st.large_bytes;
}

static void test_quarantine_evictions(int heap_debug) {
    seen s = {0};
    pm_runtime *prev;
    pm_runtime *rt = debug_runtime(&s, heap_debug, &prev);
    pm_heap *h = pm_runtime_heap(rt);
    /* The warm-up (a quarter) frees far more objects than both quarantines
     * hold (1,024 objects; a debug heap's 4,096 blocks). */
    int rounds = 20000;
    uint64_t after_warmup = 0;
    for (int i = 0; i < rounds; i++) {
        short_lived_type(i, 1 + i % 7);
        if (i == rounds / 4) after_warmup = heap_bytes(h);
    }
    uint64_t at_end = heap_bytes(h);
    /* The quarantine holds a fixed number of objects: once it is full,
     * memory stays where it was (a leak grows with every free). */
    if (at_end > after_warmup + after_warmup / 4)
        fprintf(stderr, "heap grew from %llu to %llu bytes\n", (unsigned long long)after_warmup,
                (unsigned long long)at_end);
    CHECK(at_end <= after_warmup + after_warmup / 4);
    CHECK_EQ(s.count, 0);
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt); /* empties the quarantine */
    CHECK_EQ(s.count, 0);
    pm_heap_destroy(h);
}

/* ---- 2. calls on freed objects ------------------------------------------ */

/* The call `expr` on a freed object must fail (`failed` true), with one
 * report naming the entry `api` and RuntimeError set. */
#define EXPECT_REJECTED(s, expr, failed, api)                                                      \
    do {                                                                                           \
        int before_ = (s)->count;                                                                  \
        expr;                                                                                      \
        CHECK(failed);                                                                             \
        CHECK_EQ((s)->count, before_ + 1);                                                         \
        CHECK_EQ((s)->kind, PM_ERR_USE_AFTER_FREE);                                                \
        CHECK(tu_contains((s)->msg, "passed to " api "()"));                                       \
        CHECK_EQ(pm_exc_occurred(), PM_EXC_RUNTIME);                                               \
        if (!tu_contains((s)->msg, "passed to " api "()")) fprintf(stderr, "%s\n", (s)->msg);      \
        pm_exc_clear();                                                                            \
    } while (0)

/* A freed object of each kind, and every entry that takes one: each call
 * fails and is reported once, naming the object's type; the objects that
 * are alive are left alone. */
static void test_calls_on_freed_objects(int heap_debug) {
    seen s = {0};
    pm_runtime *prev;
    pm_runtime *rt = debug_runtime(&s, heap_debug, &prev);
    pm_heap *heap = pm_runtime_heap(rt);
    pm_object *live = pm_str_from("live"), *n = pm_int(1000), *ld = pm_dict_new(), *out;
    pm_object *d = pm_dict_new(), *l = pm_list_new(0), *t = pm_tuple_pack(1, n);
    pm_object *st = pm_str_from("dead"), *b = pm_bytes_from("xy", 2), *f = pm_float(2.5);
    pm_object *big = pm_int(123456), *set = pm_set_new(NULL), *wvd = pm_weakvaluedict_new();
    pm_type_spec spec = {
        0, "Node", sizeof(pm_object), 0, PM_TPFLAGS_ATTRS | PM_TPFLAGS_WEAKREF, {0}, 0, NULL};
    pm_type *type = pm_type_new(&spec);
    pm_object *inst = pm_object_new(type), *wr = pm_weakref_new(inst, NULL, NULL);
    CHECK(pm_dict_set(d, live, n) == 0 && pm_list_append(l, n) == 0);
    pm_object *dead[] = {d, l, t, st, b, f, big, set, wvd, wr, inst};
    for (size_t i = 0; i < sizeof dead / sizeof *dead; i++) pm_decref(dead[i]);
    CHECK_EQ(s.count, 0);
    int r;
    uint64_t h;
    int64_t v;
    double x;
    size_t pos = 0, sz;
    const char *c;

    /* The issue's case: repr of a freed dict gave "{}", a store succeeded. */
    EXPECT_REJECTED(&s, out = pm_repr(d), out == NULL, "pm_repr");
    CHECK(s.address == (void *)d && tu_contains(s.msg, "of type 'dict'"));
    CHECK_EQ(s.serial > 0, heap_debug);
    CHECK_EQ(tu_contains(s.msg, "allocation #"), heap_debug);
    EXPECT_REJECTED(&s, r = pm_dict_set(d, live, n), r == -1, "pm_dict_set");
    EXPECT_REJECTED(&s, r = pm_dict_set(ld, live, l), r == -1, "pm_dict_set");
    CHECK_EQ(pm_dict_size(ld), 0);

    /* Generic operations, the freed object in each position. */
    EXPECT_REJECTED(&s, out = pm_str(l), out == NULL, "pm_str");
    EXPECT_REJECTED(&s, r = pm_hash(st, &h), r == -1, "pm_hash");
    EXPECT_REJECTED(&s, r = pm_equal(live, st), r == -1, "pm_compare");
    EXPECT_REJECTED(&s, r = pm_compare(live, st, PM_LT), r == -1, "pm_compare");
    EXPECT_REJECTED(&s, v = pm_len(l), v == -1, "pm_len");
    EXPECT_REJECTED(&s, out = pm_getitem(d, live), out == NULL, "pm_getitem");
    EXPECT_REJECTED(&s, r = pm_setitem(d, live, n), r == -1, "pm_setitem");
    EXPECT_REJECTED(&s, r = pm_setitem(ld, live, l), r == -1, "pm_dict_set");
    EXPECT_REJECTED(&s, r = pm_delitem(d, live), r == -1, "pm_delitem");
    EXPECT_REJECTED(&s, r = pm_contains(l, n), r == -1, "pm_contains");
    EXPECT_REJECTED(&s, out = pm_iter(l), out == NULL, "pm_iter");
    EXPECT_REJECTED(&s, out = pm_next(l), out == NULL, "pm_next");
    EXPECT_REJECTED(&s, out = pm_getattr(inst, "x"), out == NULL, "pm_getattr");
    EXPECT_REJECTED(&s, r = pm_setattr(inst, "x", n), r == -1, "pm_setattr");
    EXPECT_REJECTED(&s, r = pm_delattr(inst, "x"), r == -1, "pm_delattr");
    EXPECT_REJECTED(&s, r = pm_truth(l), r == -1, "pm_len");
    /* Numbers, strings, bytes. */
    EXPECT_REJECTED(&s, r = pm_int_value(big, &v), r == -1, "pm_int_value");
    EXPECT_REJECTED(&s, out = pm_int_add(n, big), out == NULL, "pm_int_value");
    EXPECT_REJECTED(&s, r = pm_float_value(f, &x), r == -1, "pm_float_value");
    EXPECT_REJECTED(&s, c = pm_str_utf8(st, NULL), c == NULL, "pm_str_utf8");
    EXPECT_REJECTED(&s, v = pm_str_length(st), v == -1, "pm_str_length");
    EXPECT_REJECTED(&s, out = pm_str_concat(live, st), out == NULL, "pm_str_concat");
    EXPECT_REJECTED(&s, out = pm_str_intern(st), out == NULL, "pm_str_intern");
    EXPECT_REJECTED(&s, c = pm_bytes_data(b, NULL), c == NULL, "pm_bytes_data");
    /* Containers. */
    EXPECT_REJECTED(&s, out = pm_tuple_pack(2, live, d), out == NULL, "pm_tuple_pack");
    EXPECT_REJECTED(&s, sz = pm_tuple_size(t), sz == 0, "pm_tuple_size");
    EXPECT_REJECTED(&s, out = pm_tuple_get(t, 0), out == NULL, "pm_tuple_get");
    EXPECT_REJECTED(&s, sz = pm_list_size(l), sz == 0, "pm_list_size");
    EXPECT_REJECTED(&s, out = pm_list_get(l, 0), out == NULL, "pm_list_get");
    EXPECT_REJECTED(&s, r = pm_list_set(l, 0, n), r == -1, "pm_list_set");
    EXPECT_REJECTED(&s, r = pm_list_append(l, n), r == -1, "pm_list_append");
    EXPECT_REJECTED(&s, r = pm_list_append_steal(l, pm_newref(n)), r == -1, "pm_list_append_steal");
    EXPECT_REJECTED(&s, r = pm_list_insert(l, 0, n), r == -1, "pm_list_insert");
    EXPECT_REJECTED(&s, out = pm_list_pop(l, 0), out == NULL, "pm_list_pop");
    EXPECT_REJECTED(&s, sz = pm_dict_size(d), sz == 0, "pm_dict_size");
    EXPECT_REJECTED(&s, r = pm_dict_set_str(d, "k", n), r == -1, "pm_dict_set_str");
    EXPECT_REJECTED(&s, r = pm_dict_set_str(ld, "k", l), r == -1, "pm_dict_set_str");
    EXPECT_REJECTED(&s, out = pm_dict_get(d, live), out == NULL, "pm_dict_get");
    EXPECT_REJECTED(&s, out = pm_dict_get_str(d, "k"), out == NULL, "pm_dict_get_str");
    EXPECT_REJECTED(&s, r = pm_dict_del(d, live), r == -1, "pm_dict_del");
    EXPECT_REJECTED(&s, r = pm_dict_next(d, &pos, NULL, NULL), r == 0, "pm_dict_next");
    EXPECT_REJECTED(&s, out = pm_set_new(l), out == NULL, "pm_set_new");
    EXPECT_REJECTED(&s, out = pm_frozenset_new(l), out == NULL, "pm_frozenset_new");
    EXPECT_REJECTED(&s, sz = pm_set_size(set), sz == 0, "pm_set_size");
    EXPECT_REJECTED(&s, r = pm_set_add(set, n), r == -1, "pm_set_add");
    EXPECT_REJECTED(&s, r = pm_set_discard(set, n), r == -1, "pm_set_discard");
    /* Weak references. */
    EXPECT_REJECTED(&s, out = pm_weakref_new(inst, NULL, NULL), out == NULL, "pm_weakref_new");
    EXPECT_REJECTED(&s, out = pm_weakref_get(wr), out == NULL, "pm_weakref_get");
    EXPECT_REJECTED(&s, sz = pm_weakref_count(inst), sz == 0, "pm_weakref_count");
    EXPECT_REJECTED(&s, r = pm_weakvaluedict_set(wvd, live, n), r == -1, "pm_weakvaluedict_set");
    EXPECT_REJECTED(&s, out = pm_weakvaluedict_get(wvd, live), out == NULL, "pm_weakvaluedict_get");
    EXPECT_REJECTED(&s, sz = pm_weakvaluedict_size(wvd), sz == 0, "pm_weakvaluedict_size");
    /* JSON, the collector, immortality. */
    EXPECT_REJECTED(&s, out = pm_json_dumps(d, -1), out == NULL, "pm_json_dumps");
    EXPECT_REJECTED(&s, r = pm_gc_is_tracked(l), r == 0, "pm_gc_is_tracked");
    EXPECT_REJECTED(&s, r = pm_gc_is_finalized(inst), r == 0, "pm_gc_is_finalized");
    EXPECT_REJECTED(&s, out = pm_gc_get_referents(l), out == NULL, "pm_gc_get_referents");
    EXPECT_REJECTED(&s, out = pm_gc_get_referrers(l), out == NULL, "pm_gc_get_referrers");
    EXPECT_REJECTED(&s, pm_gc_track(l), true, "pm_gc_track");
    EXPECT_REJECTED(&s, pm_gc_untrack(l), true, "pm_gc_untrack");
    EXPECT_REJECTED(&s, pm_make_immortal(st), true, "pm_make_immortal");

    /* A freed type: no instance is made of it. (A type with no instance
     * dies with its last reference; Node lives on in its quarantined
     * instance.) */
    pm_type_spec spec2 = {0, "Gone", sizeof(pm_object) + 8, 0, PM_TPFLAGS_FROZEN, {0}, 1, NULL};
    pm_type *gone = pm_type_new(&spec2);
    pm_decref(PM_OBJ(gone));
    pm_object *refs[1] = {NULL};
    EXPECT_REJECTED(&s, out = pm_object_new(gone), out == NULL, "pm_object_new");
    EXPECT_REJECTED(&s, out = pm_object_new_var(gone, 0), out == NULL, "pm_object_new_var");
    EXPECT_REJECTED(&s, out = pm_object_new_refs_steal(gone, refs), out == NULL,
                    "pm_object_new_refs_steal");
    EXPECT_REJECTED(&s, c = pm_type_name(gone), c == NULL, "pm_type_name");
    EXPECT_REJECTED(&s, unsigned fl = pm_type_flags(gone), fl == 0, "pm_type_flags");
    CHECK(tu_contains(s.msg, "of type 'type'"));

    /* The live objects were left alone, and nothing false is reported. */
    CHECK(pm_str_length(live) == 4 && pm_exc_occurred() == PM_EXC_NONE);
    int before = s.count;
    pm_decref(live);
    pm_decref(n);
    pm_decref(ld);
    pm_decref(PM_OBJ(type));
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt);
    CHECK_EQ(s.count, before);
    pm_heap_destroy(heap);
}

/* Evicted from the object quarantine, a freed object's memory goes to the
 * heap: a debug heap fills it and keeps it, and a call of a typed entry
 * on it is still reported, with the block's serial (its type can no
 * longer be read). */
static void test_calls_on_evicted_objects(void) {
    seen s = {0};
    pm_runtime *prev;
    pm_runtime *rt = debug_runtime(&s, 1, &prev);
    pm_heap *heap = pm_runtime_heap(rt);
    pm_object *d = pm_dict_new(), *out;
    pm_decref(d);
    for (int i = 0; i < 1500; i++) pm_decref(pm_int(1000000 + i)); /* push d out */
    CHECK_EQ(s.count, 0);
    size_t sz;
    EXPECT_REJECTED(&s, sz = pm_dict_size(d), sz == 0, "pm_dict_size");
    CHECK(s.address == (void *)d && s.serial > 0);
    CHECK(tu_contains(s.msg, "of type '?'") && tu_contains(s.msg, "allocation #"));
    int r;
    pm_object *l = pm_list_new(0);
    EXPECT_REJECTED(&s, r = pm_dict_set_str(d, "k", l), r == -1, "pm_dict_set_str");
    EXPECT_REJECTED(&s, r = pm_list_append(l, d), r == -1, "pm_list_append");
    EXPECT_REJECTED(&s, out = pm_json_dumps(d, -1), out == NULL, "pm_json_dumps");
    CHECK_EQ(pm_list_size(l), 0);
    pm_decref(l);
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt);
    pm_heap_destroy(heap);
}

/* With the default handler the first such call aborts, the report naming
 * the address, the type and the allocation number. */
static void repr_of_freed_dict(void *arg) {
    (void)arg;
    pm_runtime *prev;
    debug_runtime(NULL, 1, &prev);
    pm_object *d = pm_dict_new();
    fprintf(stderr, "dict %p\n", (void *)d);
    pm_decref(d);
    pm_object *r = pm_repr(d); /* reported: aborts */
    fprintf(stderr, "repr returned %p\n", (void *)r);
}

static void test_report_aborts(void) {
    tu_result r;
    tu_child(repr_of_freed_dict, NULL, &r);
    char addr[64] = "", expect[160];
    if (strstr(r.err, "dict ")) sscanf(strstr(r.err, "dict "), "dict %63s", addr);
    snprintf(expect, sizeof expect, "use of a freed object: object %s of type 'dict', allocation #",
             addr);
    CHECK(!r.exited && r.status == SIGABRT);
    CHECK(addr[0] && tu_contains(r.err, expect) && tu_contains(r.err, "passed to pm_repr()"));
    CHECK(!tu_contains(r.err, "repr returned"));
    if (!tu_contains(r.err, expect)) fprintf(stderr, "child's stderr:\n%s\n", r.err);
}

/* ---- 3. PYMM_BREAK_ALLOC ------------------------------------------------ */

/* Ten allocations in the three domains of a debug heap, each announced
 * with its serial, with PYMM_BREAK_ALLOC=arg. */
static void allocate_ten(void *arg) {
    setenv("PYMM_BREAK_ALLOC", arg, 1);
    pm_heap_config hc;
    pm_heap_config_init(&hc);
    hc.debug = 1;
    pm_heap *h = pm_heap_new(&hc);
    if (h == NULL) abort();
    for (int i = 1; i <= 10; i++) {
        void *p = pm_domain_malloc(h, (pm_domain)(i % PM_NUM_DOMAINS), (size_t)(24 * i));
        fprintf(stderr, "block #%d %p\n", i, p);
    }
    pm_heap_destroy(h);
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) n++;
    return n;
}

/* The hook's line for serial n names the block announced as #n, and no
 * other line of the hook appears. */
static void test_break_alloc(void) {
    tu_result r;
    tu_child(allocate_ten, "7", &r);
    CHECK(r.exited && r.status == 0);
    char addr[64] = "", expect[128];
    const char *line = strstr(r.err, "block #7 ");
    if (line) sscanf(line, "block #7 %63s", addr);
    snprintf(expect, sizeof expect, "pymm: allocation #7 (168 bytes) at %s: PYMM_BREAK_ALLOC",
             addr);
    CHECK(addr[0] && tu_contains(r.err, expect));
    CHECK_EQ(count_of(r.err, "PYMM_BREAK_ALLOC"), 1);
    /* The hook fires when the block exists: before its announcement. */
    const char *hook = strstr(r.err, "PYMM_BREAK_ALLOC");
    CHECK(line && hook && hook < line && strstr(r.err, "block #6 ") < hook);
    if (!tu_contains(r.err, expect)) fprintf(stderr, "child's stderr:\n%s\n", r.err);

    tu_child(allocate_ten, "11", &r); /* never reached */
    CHECK(r.exited && r.status == 0);
    CHECK_EQ(count_of(r.err, "PYMM_BREAK_ALLOC"), 0);
    tu_child(allocate_ten, "seven", &r); /* refused, with a reason */
    CHECK(r.exited && r.status == 0);
    CHECK(tu_contains(r.err, "PYMM_BREAK_ALLOC=seven is not an allocation number"));
    CHECK_EQ(count_of(r.err, "pymm: allocation #"), 0);
}

/* The workflow the reports promise: a report names allocation #K; a rerun
 * with PYMM_BREAK_ALLOC=K stops where that object was made. The child
 * makes a few objects, frees a dict and decrefs it once more. */
static void decref_freed_dict(void *arg) {
    if (arg) setenv("PYMM_BREAK_ALLOC", arg, 1);
    pm_runtime *prev;
    debug_runtime(NULL, 1, &prev);
    pm_object *keep = pm_list_new(3);
    pm_object *d = pm_dict_new();
    fprintf(stderr, "dict %p\n", (void *)d);
    pm_decref(d);
    pm_decref(d); /* reported, aborts */
    pm_decref(keep);
}

static void test_break_at_reported_serial(void) {
    tu_result r;
    tu_child(decref_freed_dict, NULL, &r);
    CHECK(!r.exited && r.status == SIGABRT);
    unsigned long long serial = 0;
    const char *at = strstr(r.err, "allocation #");
    if (at) sscanf(at, "allocation #%llu", &serial);
    CHECK(serial > 0);
    char dict[64] = "", arg[32], expect[128];
    if (strstr(r.err, "dict ")) sscanf(strstr(r.err, "dict "), "dict %63s", dict);
    CHECK(dict[0] && tu_contains(r.err, dict));
    snprintf(arg, sizeof arg, "%llu", serial);
    tu_child(decref_freed_dict, arg, &r);
    snprintf(expect, sizeof expect, "pymm: allocation #%llu (", serial);
    CHECK(tu_contains(r.err, expect));
    const char *hook = strstr(r.err, expect);
    CHECK(hook && strstr(hook, dict) && strstr(hook, dict) < strstr(hook, "\n"));
    CHECK_EQ(count_of(r.err, "PYMM_BREAK_ALLOC"), 1);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    test_quarantine_evictions(0);
    test_quarantine_evictions(1);
    test_calls_on_freed_objects(0);
    test_calls_on_freed_objects(1);
    test_calls_on_evicted_objects();
    test_report_aborts();
    test_break_alloc();
    test_break_at_reported_serial();
    return tu_finish("test_obj_debug");
}
