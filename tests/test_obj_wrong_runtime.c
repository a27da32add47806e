/*
 * test_obj_wrong_runtime.c -- debug mode reports objects and types used
 * by a runtime that does not own them (pymm.h, "What may cross runtimes
 * and threads"), never a C-library abort or a segfault.
 *
 * Each misuse runs in a child process whose debug runtime has the default
 * error handler (one line, then abort): the parent checks that the child
 * died by SIGABRT, not SIGSEGV, and that the line names the kind, the
 * address and the type. A handler that returns is tested in this process:
 * the misuse is then refused or leaked, and the runtime stays sound.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pm_runtime *runtime(int debug, pm_heap *heap) {
    pm_runtime_config cfg = {.heap = heap, .debug = debug};
    pm_runtime *rt = pm_runtime_new(&cfg);
    if (rt == NULL) abort();
    return rt;
}

static void announce(const void *p) { fprintf(stderr, "address %p\n", p); }

/* A str of runtime a (its own heap) dies while debug runtime b is current. */
static void str_dies_elsewhere(void *arg) {
    (void)arg;
    pm_runtime *a = runtime(0, NULL), *b = runtime(1, NULL);
    pm_runtime_enter(a);
    pm_object *s = pm_str_from("a string of runtime a");
    announce(s);
    pm_runtime_enter(b);
    pm_decref(s);
}

/* Two runtimes on one heap: the memory test passes, the tracking does not. */
static void tracked_list_dies_elsewhere(void *arg) {
    (void)arg;
    pm_heap *h = pm_heap_new(NULL);
    pm_runtime *a = runtime(0, h), *b = runtime(1, h);
    pm_runtime_enter(a);
    pm_object *l = pm_list_new(0), *inner = pm_list_new(0);
    pm_list_append_steal(l, inner); /* tracks l */
    announce(l);
    pm_runtime_enter(b);
    pm_decref(l);
}

/* A type made by a runtime that was destroyed, with its heap. */
static void type_of_destroyed_runtime(void *arg) {
    int with_refs = *(int *)arg;
    pm_runtime *a = runtime(0, NULL), *b = runtime(1, NULL);
    pm_runtime_enter(a);
    pm_type_spec spec = {.name = "Gone", .basicsize = 2 * sizeof(pm_object), .nrefs = 1};
    pm_type *t = pm_type_new(&spec);
    announce(t);
    pm_runtime_enter(b);
    pm_runtime_destroy(a);
    pm_object *refs[1] = {NULL};
    if (with_refs) pm_object_new_refs_steal(t, refs);
    else pm_object_new(t);
}

/* A shared type used after pm_type_destroy. */
static void destroyed_shared_type(void *arg) {
    (void)arg;
    pm_runtime_enter(runtime(1, NULL));
    pm_type_spec spec = {
        .name = "Shared", .basicsize = sizeof(pm_object), .flags = PM_TPFLAGS_SHARED};
    pm_type *t = pm_type_new(&spec);
    announce(t);
    pm_type_destroy(t);
    pm_object_new(t);
}

typedef struct misuse {
    const char *name;
    void (*fn)(void *);
    int arg;
    const char *expect;
} misuse;

static const misuse cases[] = {
    {"str dies under another runtime", str_dies_elsewhere, 0, "of type 'str'"},
    {"tracked list dies under another runtime", tracked_list_dies_elsewhere, 0, "of type 'list'"},
    {"type of a destroyed runtime", type_of_destroyed_runtime, 0, "asked for an instance"},
    {"type of a destroyed runtime (refs)", type_of_destroyed_runtime, 1, "asked for an instance"},
    {"destroyed shared type", destroyed_shared_type, 0, "asked for an instance"},
};

static void expect_report(const misuse *m) {
    tu_result r;
    int arg = m->arg;
    tu_child(m->fn, &arg, &r);
    char addr[64] = "";
    sscanf(r.err, "address %63s", addr);
    const char *report = strstr(r.err, "wrong runtime: ");
    bool ok = !r.exited && r.status == SIGABRT && report && tu_contains(report, m->expect) &&
              addr[0] && tu_contains(report, addr);
    if (!ok)
        fprintf(stderr, "case '%s': exited=%d status=%d stderr:\n%s\n", m->name, r.exited, r.status,
                r.err);
    CHECK(ok);
}

/* ---- a handler that returns ------------------------------------------------ */

typedef struct seen {
    int count;
    pm_error last;
} seen;

static void remember(pm_heap *h, const pm_error *e, void *arg) {
    (void)h;
    seen *s = arg;
    s->count++;
    s->last = *e;
}

static void test_returning_handler(void) {
    pm_runtime *a = runtime(0, NULL), *b = runtime(1, NULL);
    seen s = {0};
    pm_heap_set_error_handler(pm_runtime_heap(b), remember, &s);
    pm_runtime *prev = pm_runtime_enter(a);
    pm_type_spec spec = {.name = "Local", .basicsize = 2 * sizeof(pm_object), .nrefs = 1};
    pm_type *t = pm_type_new(&spec);
    pm_object *l = pm_list_new(0);
    CHECK(t && l && pm_list_append_steal(l, pm_list_new(0)) == 0);

    pm_runtime_enter(b);
    pm_object *kept = pm_list_new(0); /* b's own: it must come out intact */
    pm_list_append_steal(kept, pm_list_new(0));
    CHECK(pm_object_new(t) == NULL); /* a's type, refused */
    CHECK_EQ(pm_exc_occurred(), PM_EXC_RUNTIME);
    pm_exc_clear();
    CHECK_EQ(s.count, 1);
    CHECK_EQ(s.last.kind, PM_ERR_WRONG_RUNTIME);
    CHECK(s.last.address == t);
    pm_decref(l); /* a's list: reported, left alone */
    CHECK_EQ(s.count, 2);
    CHECK(s.last.address == l);
    CHECK(pm_gc_check() >= 1); /* b's sets were not touched */
    pm_decref(kept);
    CHECK_EQ(s.count, 2);

    /* A shared type is any runtime's; b's instance of it dies in b. */
    pm_type_spec shared = {
        .name = "Shared", .basicsize = sizeof(pm_object), .flags = PM_TPFLAGS_SHARED};
    pm_type *st = pm_type_new(&shared);
    pm_object *o = pm_object_new(st);
    CHECK(o && o->type == st);
    pm_decref(o);
    CHECK_EQ(s.count, 2);

    pm_runtime_enter(prev);
    pm_runtime_destroy(b); /* its quarantine lets o go: st may go next */
    CHECK_EQ(pm_type_destroy(st), 0);
    pm_runtime_enter(a);
    pm_decref(PM_OBJ(t));
    pm_runtime_enter(prev);
    pm_runtime_destroy(a); /* takes l, which nobody freed, with its heap */
}

/* ---- debug mode's counts per type ------------------------------------------ */

typedef struct counted {
    const pm_type *types[64];
    uint64_t live[64];
    size_t n;
} counted;

static void count_one(void *arg, const pm_type *t, uint64_t live) {
    counted *c = arg;
    if (c->n < 64) {
        c->types[c->n] = t;
        c->live[c->n++] = live;
    }
}

static bool counted_has(const counted *c, const pm_type *t, uint64_t live) {
    for (size_t i = 0; i < c->n; i++)
        if (c->types[i] == t) return c->live[i] == live;
    return live == 0;
}

/* A type that died (a runtime's, after its last instance; a shared one,
 * destroyed) is never handed to the callback: it could not be read. */
static void test_type_counts_forget_dead_types(void) {
    pm_runtime *rt = runtime(1, NULL), *prev = pm_runtime_enter(rt);
    pm_type_spec local = {.name = "Local", .basicsize = sizeof(pm_object)};
    pm_type_spec shared = {
        .name = "Shared", .basicsize = sizeof(pm_object), .flags = PM_TPFLAGS_SHARED};
    pm_type *lt = pm_type_new(&local), *st = pm_type_new(&shared);
    pm_object *a = pm_object_new(lt), *b = pm_object_new(st), *c = pm_object_new(st);
    counted before = {0};
    pm_runtime_type_counts(rt, count_one, &before);
    CHECK(counted_has(&before, lt, 1) && counted_has(&before, st, 2));
    pm_decref(a);
    pm_decref(b);
    pm_decref(c);
    pm_decref(PM_OBJ(lt));
    counted after = {0};
    size_t n = pm_runtime_type_counts(rt, count_one, &after);
    CHECK_EQ(n, after.n);
    for (size_t i = 0; i < after.n; i++) CHECK(after.types[i] != lt && after.types[i] != st);
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt); /* its quarantine lets st's instances go first */
    CHECK_EQ(pm_type_destroy(st), 0);
}

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) expect_report(&cases[i]);
    test_returning_handler();
    test_type_counts_forget_dead_types();
    return tu_finish("test_obj_wrong_runtime");
}
