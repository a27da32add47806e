/*
 * test_obj_core.c -- the object core: reference counts and immortality,
 * runtimes and exceptions, types made from specs, instances with named
 * attributes, finalizers at reference-count death (PEP 442 resurrection,
 * legacy finalizers), deallocation of a 10,000,000-deep chain on a 256 KiB
 * stack, generic operations on objects that lack a slot, and the debug
 * mode's reports of reference-count misuse.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* A user type: a node holding one reference (next) and a number. */
typedef struct node {
    pm_object ob;
    pm_object *next;
    long value;
} node;

static int node_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    node *n = (node *)self;
    return n->next ? visit(n->next, arg) : 0;
}

static int node_clear(pm_object *self) {
    PM_CLEAR(((node *)self)->next);
    return 0;
}

static void node_dealloc(pm_object *self) { PM_CLEAR(((node *)self)->next); }

static pm_type *node_type(unsigned extra_flags) {
    pm_type_spec spec = {0,
                         "node",
                         sizeof(node),
                         0,
                         PM_TPFLAGS_GC | extra_flags,
                         {.dealloc = node_dealloc, .traverse = node_traverse, .clear = node_clear},
                         0,
                         NULL};
    return pm_type_new(&spec);
}

static uint64_t live(void) {
    pm_runtime_stats s;
    pm_runtime_get_stats(pm_runtime_current(), &s);
    return s.objects_allocated - s.objects_freed;
}

static void test_refcounts(void) {
    pm_type *t = node_type(0);
    CHECK(t != NULL);
    uint64_t before = live();
    pm_object *a = pm_object_new(t);
    CHECK_EQ(a->refcnt, 1);
    CHECK_EQ(PM_OBJ(t)->refcnt, 2); /* the instance owns its type */
    pm_incref(a);
    CHECK_EQ(a->refcnt, 2);
    pm_decref(a);
    CHECK_EQ(a->refcnt, 1);
    pm_object *b = pm_object_new(t);
    ((node *)a)->next = pm_newref(b);
    CHECK_EQ(b->refcnt, 2);
    pm_decref(b);
    CHECK_EQ(live(), before + 2);
    pm_decref(a); /* frees a, then b */
    CHECK_EQ(live(), before);
    CHECK_EQ(PM_OBJ(t)->refcnt, 1);
    /* Immortal: counts never move, never freed. */
    pm_object *c = pm_object_new(t);
    pm_make_immortal(c);
    CHECK(pm_is_immortal(c));
    for (int i = 0; i < 10; i++) pm_decref(c);
    pm_incref(c);
    CHECK_EQ(c->refcnt, PM_REFCNT_IMMORTAL);
    /* PM_SETREF and PM_CLEAR. */
    pm_object *d = pm_object_new(t), *e = pm_object_new(t);
    node *dn = (node *)d;
    PM_SETREF(dn->next, e);
    CHECK(dn->next == e);
    PM_SETREF(dn->next, NULL);
    CHECK(dn->next == NULL);
    PM_CLEAR(d);
    CHECK(d == NULL);
    pm_decref(PM_OBJ(t)); /* c keeps the type alive forever */
}

static void test_exceptions(void) {
    pm_exc_clear();
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    CHECK(strcmp(pm_exc_message(), "") == 0);
    pm_exc_set(PM_EXC_KEY, "missing %d", 7);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_KEY);
    CHECK(strcmp(pm_exc_message(), "missing 7") == 0);
    CHECK(strcmp(pm_exc_name(PM_EXC_KEY), "KeyError") == 0);
    CHECK(strcmp(pm_exc_name(PM_EXC_OVERFLOW), "OverflowError") == 0);
    pm_exc_clear();
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
}

static void test_bad_specs(void) {
    pm_type_spec nameless = {0, NULL, sizeof(pm_object), 0, 0, {0}, 0, NULL};
    CHECK(pm_type_new(&nameless) == NULL && pm_exc_occurred() == PM_EXC_VALUE);
    pm_type_spec small = {0, "x", 4, 0, 0, {0}, 0, NULL};
    CHECK(pm_type_new(&small) == NULL && pm_exc_occurred() == PM_EXC_VALUE);
    pm_type_spec gc_without_traverse = {0, "x", sizeof(node), 0, PM_TPFLAGS_GC, {0}, 0, NULL};
    CHECK(pm_type_new(&gc_without_traverse) == NULL && pm_exc_occurred() == PM_EXC_VALUE);
    pm_type_spec bad_flags = {0, "x", sizeof(node), 0, 1u << 20, {0}, 0, NULL};
    CHECK(pm_type_new(&bad_flags) == NULL);
    CHECK(pm_type_new(NULL) == NULL);
    pm_exc_clear();
}

static void test_attributes(void) {
    pm_type_spec spec = {0, "Point", sizeof(pm_object), 0, PM_TPFLAGS_ATTRS, {0}, 0, NULL};
    pm_type *t = pm_type_new(&spec);
    CHECK(pm_type_flags(t) & PM_TPFLAGS_GC);
    CHECK(strcmp(pm_type_name(t), "Point") == 0);
    pm_object *p = pm_object_new(t);
    pm_object *x = pm_int(3), *y = pm_int(4000);
    CHECK_EQ(pm_setattr(p, "x", x), 0);
    CHECK_EQ(pm_setattr(p, "y", y), 0);
    pm_object *got = pm_getattr(p, "y");
    CHECK(got == y);
    pm_decref(got);
    CHECK(pm_getattr(p, "z") == NULL && pm_exc_occurred() == PM_EXC_ATTRIBUTE);
    CHECK(strstr(pm_exc_message(), "'Point' object has no attribute 'z'") != NULL);
    pm_exc_clear();
    CHECK_EQ(pm_delattr(p, "x"), 0);
    CHECK(pm_getattr(p, "x") == NULL);
    CHECK_EQ(pm_delattr(p, "x"), -1);
    pm_exc_clear();
    CHECK_EQ(y->refcnt, 2);
    pm_decref(p);
    CHECK_EQ(y->refcnt, 1);
    pm_decref(x);
    pm_decref(y);
    /* A type without attributes refuses them. */
    pm_type *plain = node_type(0);
    pm_object *n = pm_object_new(plain);
    pm_object *one = pm_int(1);
    CHECK_EQ(pm_setattr(n, "a", one), -1);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_ATTRIBUTE);
    pm_exc_clear();
    pm_decref(n);
    pm_decref(PM_OBJ(plain));
    pm_decref(PM_OBJ(t));
}

/* Finalizers: run once at refcount death; resurrection keeps the object. */
static pm_object *saved;
static int finalized;

static void resurrect(pm_object *self) {
    finalized++;
    saved = pm_newref(self);
}

static void just_count(pm_object *self) {
    (void)self;
    finalized++;
}

/* Reference fields: pymm visits, clears and releases them; a spec's own
 * slots still run, after (traverse, clear) or before (dealloc) them. */
typedef struct rec {
    pm_object ob;
    pm_object *first, *second; /* the reference fields */
    pm_object *extra;          /* visited by the spec's traverse */
    long seen_in_dealloc;
} rec;

static int rec_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    rec *r = (rec *)self;
    return r->extra ? visit(r->extra, arg) : 0;
}

static int rec_clear(pm_object *self) {
    PM_CLEAR(((rec *)self)->extra);
    return 0;
}

static long fields_seen;

static void rec_dealloc(pm_object *self) {
    rec *r = (rec *)self;
    fields_seen = (r->first != NULL) + (r->second != NULL); /* not released yet */
    PM_CLEAR(r->extra);
}

static void test_ref_fields(void) {
    pm_type_spec too_small = {.name = "x", .basicsize = sizeof(pm_object) + 8, .nrefs = 2};
    CHECK(pm_type_new(&too_small) == NULL && pm_exc_occurred() == PM_EXC_VALUE);
    CHECK(strstr(pm_exc_message(), "reference fields") != NULL);
    pm_exc_clear();

    /* Fields alone: a GC type with no slot at all. */
    pm_type_spec bare = {.name = "Bare", .basicsize = sizeof(rec), .nrefs = 2};
    pm_type *t = pm_type_new(&bare);
    CHECK(t && (pm_type_flags(t) & PM_TPFLAGS_GC));
    uint64_t before = live();
    pm_object *a = pm_str_from("not immortal"), *b = pm_list_new(0);
    pm_object *o = pm_object_new(t);
    CHECK(((rec *)o)->first == NULL && ((rec *)o)->second == NULL);
    ((rec *)o)->first = pm_newref(a);
    ((rec *)o)->second = pm_newref(b);
    pm_object *refs = pm_gc_get_referents(o);
    CHECK_EQ(pm_list_size(refs), 2);
    CHECK(pm_list_get(refs, 0) == a && pm_list_get(refs, 1) == b);
    pm_decref(refs);
    CHECK_EQ(a->refcnt, 2);
    pm_decref(o); /* releases both fields */
    CHECK_EQ(a->refcnt, 1);
    CHECK_EQ(b->refcnt, 1);
    pm_decref(a);
    pm_decref(b);
    CHECK_EQ(live(), before);
    pm_decref(PM_OBJ(t));

    /* Fields and the spec's own slots. */
    pm_type_spec both = {
        .name = "Both",
        .basicsize = sizeof(rec),
        .slots = {.traverse = rec_traverse, .clear = rec_clear, .dealloc = rec_dealloc},
        .nrefs = 2};
    t = pm_type_new(&both);
    CHECK(t != NULL);
    before = live();
    o = pm_object_new(t);
    ((rec *)o)->first = pm_int(1000);
    ((rec *)o)->second = pm_newref(o); /* a cycle through a field */
    ((rec *)o)->extra = pm_str_from("extra");
    refs = pm_gc_get_referents(o);
    CHECK_EQ(pm_list_size(refs), 3); /* the fields, then what traverse adds */
    CHECK(pm_list_get(refs, 1) == o && pm_list_get(refs, 2) == ((rec *)o)->extra);
    pm_decref(refs);
    pm_decref(o);
    CHECK_EQ(live(), before + 3); /* the cycle keeps it */
    fields_seen = -1;
    CHECK_EQ(pm_gc_collect(2), 1);
    CHECK_EQ(live(), before); /* clear broke the cycle, everything went */
    CHECK_EQ(fields_seen, 0); /* the collector's clear came first */
    o = pm_object_new(t);
    ((rec *)o)->first = pm_int(1000);
    pm_decref(o);
    CHECK_EQ(fields_seen, 1); /* dealloc ran before the fields went */
    CHECK_EQ(live(), before);
    pm_decref(PM_OBJ(t));
}

/* pm_object_new_refs_steal on a plain type (reference fields only) takes
 * the fast paths; what they keep must match the general ones: counts of
 * objects, the type's reference per instance, weak references cleared. */
typedef struct pair_rec {
    pm_object ob;
    pm_object *first, *second;
} pair_rec;

static void test_plain_fast_paths(void) {
    pm_type_spec spec = {
        .name = "Plain", .basicsize = sizeof(pair_rec), .nrefs = 2, .flags = PM_TPFLAGS_WEAKREF};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    uint32_t type_refs = PM_OBJ(t)->refcnt;
    uint64_t before = live();
    pm_object *leaf_refs[2] = {pm_str_from("a leaf's string"), NULL};
    pm_object *leaf = pm_object_new_refs_steal(t, leaf_refs);
    pm_object *root_refs[2] = {leaf, pm_newref(leaf)}; /* both fields, one object */
    pm_object *root = pm_object_new_refs_steal(t, root_refs);
    CHECK(root && leaf->refcnt == 2);
    CHECK_EQ(live(), before + 3);
    CHECK_EQ(PM_OBJ(t)->refcnt, type_refs + 2);
    CHECK(pm_gc_is_tracked(root) && pm_gc_is_tracked(leaf)); /* not frozen */
    pm_object *wr = pm_weakref_new(leaf, NULL, NULL);
    pm_object *got = pm_weakref_get(wr);
    CHECK(got == leaf);
    pm_decref(got);
    pm_decref(root); /* the leaf dies through both fields, weakly referenced */
    got = pm_weakref_get(wr);
    CHECK(got == pm_none());
    pm_decref(got);
    CHECK_EQ(live(), before + 1); /* the weak reference */
    CHECK_EQ(PM_OBJ(t)->refcnt, type_refs);
    pm_decref(wr);
    CHECK_EQ(live(), before);
    pm_decref(PM_OBJ(t));
}

static void test_finalizers(void) {
    pm_type_spec spec = {
        0,
        "res",
        sizeof(node),
        0,
        PM_TPFLAGS_GC,
        {.dealloc = node_dealloc, .traverse = node_traverse, .finalize = resurrect},
        0,
        NULL};
    pm_type *t = pm_type_new(&spec);
    uint64_t before = live();
    pm_object *o = pm_object_new(t);
    finalized = 0;
    pm_decref(o);
    CHECK_EQ(finalized, 1);
    CHECK(saved == o);
    CHECK(o->flags & PM_OF_FINALIZED);
    CHECK_EQ(o->refcnt, 1);
    pm_object *s = saved;
    saved = NULL;
    pm_decref(s); /* finalizer does not run twice: now freed */
    CHECK_EQ(finalized, 1);
    CHECK_EQ(live(), before);
    pm_decref(PM_OBJ(t));

    pm_type_spec legacy = {
        0,
        "legacy",
        sizeof(node),
        0,
        PM_TPFLAGS_GC,
        {.dealloc = node_dealloc, .traverse = node_traverse, .legacy_del = just_count},
        0,
        NULL};
    t = pm_type_new(&legacy);
    finalized = 0;
    pm_decref(pm_object_new(t));
    CHECK_EQ(finalized, 1);
    CHECK_EQ(live(), before);
    pm_decref(PM_OBJ(t));
}

/* A 10,000,000-deep chain dropped on a 256 KiB stack. */
typedef struct chain_job {
    pm_runtime *rt;
    long depth;
    uint64_t deferred;
    int ok;
} chain_job;

static void *drop_chain(void *arg) {
    chain_job *job = arg;
    pm_runtime_enter(job->rt);
    pm_type *t = node_type(0);
    pm_object *head = NULL;
    for (long i = 0; i < job->depth; i++) {
        pm_object *n = pm_object_new(t);
        if (n == NULL) return NULL;
        ((node *)n)->next = head; /* steals head */
        head = n;
    }
    uint64_t before = live();
    pm_decref(head);
    pm_runtime_stats s;
    pm_runtime_get_stats(job->rt, &s);
    job->deferred = s.deferred_deallocs;
    job->ok = live() == before - (uint64_t)job->depth;
    pm_decref(PM_OBJ(t));
    return NULL;
}

static void test_deep_chain(void) {
    chain_job job = {pm_runtime_new(NULL), tu_big_count(10000000), 0, 0};
    tu_run_on_stack(drop_chain, &job, 256 << 10);
    CHECK(job.ok);
    CHECK(job.deferred > 0);
    pm_runtime_destroy(job.rt);
}

static void test_generic_errors(void) {
    pm_type *t = node_type(0);
    pm_object *n = pm_object_new(t);
    pm_object *k = pm_int(1);
    CHECK(pm_getitem(n, k) == NULL && pm_exc_occurred() == PM_EXC_TYPE);
    pm_exc_clear();
    CHECK_EQ(pm_setitem(n, k, k), -1);
    pm_exc_clear();
    CHECK_EQ(pm_len(n), -1);
    CHECK(strstr(pm_exc_message(), "has no len()") != NULL);
    pm_exc_clear();
    CHECK(pm_iter(n) == NULL && pm_exc_occurred() == PM_EXC_TYPE);
    pm_exc_clear();
    CHECK_EQ(pm_compare(n, k, PM_LT), -1);
    CHECK(strstr(pm_exc_message(), "'<' not supported between instances of 'node' and 'int'") !=
          NULL);
    pm_exc_clear();
    CHECK_EQ(pm_equal(n, n), 1);
    CHECK_EQ(pm_compare(n, k, PM_EQ), 0);
    CHECK_EQ(pm_compare(n, k, PM_NE), 1);
    uint64_t h1, h2;
    CHECK_EQ(pm_hash(n, &h1), 0);
    CHECK_EQ(pm_hash(n, &h2), 0);
    CHECK(h1 == h2);
    pm_object *r = pm_repr(n);
    CHECK(r && strstr(pm_str_utf8(r, NULL), "<node object at 0x") != NULL);
    pm_xdecref(r);
    CHECK_EQ(pm_truth(n), 1);
    CHECK(pm_repr(NULL) == NULL && pm_exc_occurred() == PM_EXC_TYPE);
    pm_exc_clear();
    pm_decref(n);
    pm_decref(k);
    pm_decref(PM_OBJ(t));
}

/* Debug mode: misuse in a child process, reported with address and type. */
static void decref_freed(void *arg) {
    (void)arg;
    pm_runtime_config cfg = {.heap = NULL, .debug = 1};
    pm_runtime_enter(pm_runtime_new(&cfg));
    pm_type *t = node_type(0);
    pm_object *o = pm_object_new(t);
    fprintf(stderr, "object %p\n", (void *)o);
    pm_decref(o);
    pm_decref(o); /* one too many */
}

static void incref_freed(void *arg) {
    (void)arg;
    pm_runtime_config cfg = {.heap = NULL, .debug = 1};
    pm_runtime *rt = pm_runtime_new(&cfg);
    pm_runtime_enter(rt);
    pm_type *t = node_type(0);
    pm_object *o = pm_object_new(t);
    fprintf(stderr, "object %p\n", (void *)o);
    pm_decref(o);
    pm_incref(o); /* found when it leaves the quarantine */
    pm_runtime_destroy(rt);
}

static void expect(void (*fn)(void *), const char *what) {
    tu_result r;
    tu_child(fn, NULL, &r);
    char addr[64] = "";
    sscanf(r.err, "object %63s", addr);
    bool ok = !r.exited && r.status == SIGABRT && tu_contains(r.err, what) &&
              tu_contains(r.err, "of type 'node'") && addr[0] &&
              tu_contains(r.err + 8 + strlen(addr), addr);
    if (!ok)
        fprintf(stderr, "expected '%s'; exited=%d status=%d stderr:\n%s\n", what, r.exited,
                r.status, r.err);
    CHECK(ok);
}

static void test_runtimes(void) {
    pm_runtime *def = pm_runtime_default();
    CHECK(pm_runtime_heap(def) == pm_heap_default());
    pm_runtime *a = pm_runtime_new(NULL), *b = pm_runtime_new(NULL);
    pm_runtime *prev = pm_runtime_enter(a);
    pm_object *x = pm_float(1.5);
    CHECK(pm_heap_owns(pm_runtime_heap(a), x));
    pm_runtime_enter(b);
    pm_object *y = pm_float(2.5);
    CHECK(pm_heap_owns(pm_runtime_heap(b), y));
    CHECK(!pm_heap_owns(pm_runtime_heap(a), y));
    pm_exc_set(PM_EXC_VALUE, "only in b");
    pm_runtime_enter(a);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    pm_runtime_enter(prev);
    pm_runtime_destroy(a); /* x goes with a's heap */
    pm_runtime_destroy(b);
    pm_runtime_destroy(def); /* ignored */
    (void)x, (void)y;
}

int main(void) {
    pm_runtime *rt = pm_runtime_new(NULL);
    pm_runtime_enter(rt);
    test_refcounts();
    test_exceptions();
    test_bad_specs();
    test_attributes();
    test_ref_fields();
    test_plain_fast_paths();
    test_finalizers();
    test_generic_errors();
    pm_runtime_enter(NULL);
    pm_runtime_destroy(rt);
    test_runtimes();
    test_deep_chain();
    expect(decref_freed, "reference count below zero");
    expect(incref_freed, "use of a freed object");
    return tu_finish("test_obj_core");
}
