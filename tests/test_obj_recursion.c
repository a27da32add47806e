/*
 * test_obj_recursion.c -- the recursion limit of the generic operations.
 *
 * pm_repr, pm_str, pm_compare, pm_equal and pm_hash call slots that may
 * call them again: a user type whose repr, compare and hash slots call
 * the generic function on a field recurses once per link of a chain. On
 * a 100,000-deep chain, on a thread whose C stack is 256 KiB, each must
 * fail with RecursionError at the runtime's limit (default 1000), never
 * overflow the stack; the limit is per runtime and settable; and
 * containers and user slots count levels on the same guard (a chain that
 * alternates lists and user objects reaches the limit at the sum of
 * both).
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#define STACK_SIZE (256 * 1024)
#define DEEP 100000

/* A link of a chain: one reference field, the next link (or NULL). */
typedef struct node {
    pm_object ob;
    pm_object *next;
} node;

static pm_type *node_type;

static pm_object *node_next(pm_object *o) { return ((node *)o)->next; }

static pm_object *node_repr(pm_object *self) {
    pm_object *next = node_next(self);
    if (next == NULL) return pm_str_from("node()");
    pm_object *inner = pm_repr(next);
    if (inner == NULL) return NULL;
    pm_object *r = pm_str_format("node(%s)", pm_str_utf8(inner, NULL));
    pm_decref(inner);
    return r;
}

/* Equal when the rests of the chains are equal. */
static int node_compare(pm_object *a, pm_object *b, int op) {
    if (b->type != node_type || (op != PM_EQ && op != PM_NE)) return PM_CMP_UNSUPPORTED;
    pm_object *x = node_next(a), *y = node_next(b);
    int r = x == NULL || y == NULL ? x == y : pm_equal(x, y);
    if (r < 0) return -1;
    return op == PM_EQ ? r : !r;
}

static int node_hash(pm_object *self, uint64_t *out) {
    pm_object *next = node_next(self);
    uint64_t h = 0;
    if (next && pm_hash(next, &h) < 0) return -1;
    *out = h * 31 + 7;
    return 0;
}

static pm_object *node_new(pm_object *next_stolen) {
    pm_object *refs[1] = {next_stolen};
    return pm_object_new_refs_steal(node_type, refs);
}

/* A chain of n links. */
static pm_object *chain(size_t n) {
    pm_object *o = NULL;
    for (size_t i = 0; i < n; i++) {
        pm_object *p = node_new(o);
        if (p == NULL) return NULL;
        o = p;
    }
    return o;
}

/* A chain of n levels alternating a list and a link: [node([node(...)])]. */
static pm_object *mixed_chain(size_t n) {
    pm_object *o = node_new(NULL);
    for (size_t i = 1; o && i < n; i++) {
        if (i % 2) {
            pm_object *l = pm_list_new(0);
            if (l == NULL || pm_list_append_steal(l, o) < 0) return NULL;
            o = l;
        } else {
            o = node_new(o);
        }
    }
    return o;
}

static bool recursion_error(void) {
    bool ok = pm_exc_occurred() == PM_EXC_RECURSION &&
              tu_contains(pm_exc_message(), "maximum recursion depth");
    pm_exc_clear();
    return ok;
}

/* Every generic operation on two 100,000-deep chains: RecursionError. */
static void deep_chains_fail(void) {
    pm_object *a = chain(DEEP), *b = chain(DEEP);
    CHECK(a != NULL && b != NULL);
    if (!a || !b) return;
    uint64_t h;
    CHECK(pm_repr(a) == NULL && recursion_error());
    CHECK(pm_str(a) == NULL && recursion_error());
    CHECK_EQ(pm_equal(a, b), -1);
    CHECK(recursion_error());
    CHECK_EQ(pm_compare(a, b, PM_NE), -1);
    CHECK(recursion_error());
    CHECK_EQ(pm_hash(a, &h), -1);
    CHECK(recursion_error());
    /* A container of such a chain: the same guard. */
    pm_object *l = pm_list_new(0);
    CHECK(l && pm_list_append(l, a) == 0);
    CHECK(pm_repr(l) == NULL && recursion_error());
    pm_object *t = pm_tuple_pack(1, a);
    CHECK(t && pm_hash(t, &h) == -1 && recursion_error());
    /* A dict keyed by the chain: hashing it fails, the dict is unchanged. */
    pm_object *d = pm_dict_new();
    CHECK(d && pm_dict_set(d, a, a) == -1 && recursion_error() && pm_dict_size(d) == 0);
    pm_xdecref(d);
    pm_xdecref(t);
    pm_xdecref(l);
    /* Every level was left: a short chain works at once. */
    pm_object *s = chain(3), *r = s ? pm_repr(s) : NULL;
    CHECK(r && strcmp(pm_str_utf8(r, NULL), "node(node(node()))") == 0);
    pm_xdecref(r);
    pm_xdecref(s);
    pm_decref(a);
    pm_decref(b);
}

/* Within the limit all works; the limit is the runtime's, settable. */
static void limit_is_settable(void) {
    pm_runtime *rt = pm_runtime_current();
    CHECK_EQ(pm_runtime_get_recursion_limit(rt), 1000);
    CHECK_EQ(pm_runtime_get_recursion_limit(NULL), 1000);
    CHECK_EQ(pm_runtime_set_recursion_limit(rt, 0), -1);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_VALUE);
    pm_exc_clear();
    CHECK_EQ(pm_runtime_get_recursion_limit(rt), 1000);

    pm_object *a = chain(900), *b = chain(900);
    uint64_t h1, h2;
    pm_object *r = pm_repr(a);
    CHECK(r != NULL && pm_str_length(r) == 900 * 6); /* "node(" ... "()" ... ")" */
    pm_xdecref(r);
    CHECK_EQ(pm_equal(a, b), 1);
    CHECK(pm_hash(a, &h1) == 0 && pm_hash(b, &h2) == 0 && h1 == h2);

    CHECK_EQ(pm_runtime_set_recursion_limit(rt, 100), 0);
    CHECK_EQ(pm_runtime_get_recursion_limit(rt), 100);
    CHECK(pm_repr(a) == NULL && recursion_error());
    CHECK(pm_equal(a, b) == -1 && recursion_error());
    CHECK(pm_hash(a, &h1) == -1 && recursion_error());
    pm_object *c = chain(100), *d = chain(100);
    r = pm_repr(c);
    CHECK(r != NULL);
    pm_xdecref(r);
    CHECK_EQ(pm_equal(c, d), 1);
    CHECK_EQ(pm_hash(c, &h1), 0);
    pm_decref(c);
    pm_decref(d);

    /* One guard for containers and user slots: 60 lists around 60 links
     * are 120 levels, past a limit of 100 that each kind alone is within. */
    pm_object *m = mixed_chain(120), *n = mixed_chain(120);
    CHECK(m && n);
    CHECK(pm_repr(m) == NULL && recursion_error());
    CHECK(pm_equal(m, n) == -1 && recursion_error());
    CHECK_EQ(pm_runtime_set_recursion_limit(rt, 1000), 0);
    r = pm_repr(m);
    CHECK(r != NULL);
    pm_xdecref(r);
    CHECK_EQ(pm_equal(m, n), 1);
    pm_xdecref(m);
    pm_xdecref(n);
    pm_decref(a);
    pm_decref(b);
}

/* Another runtime has its own limit. */
static void limit_is_per_runtime(void) {
    pm_runtime *other = pm_runtime_new(NULL);
    CHECK(other != NULL);
    if (!other) return;
    CHECK_EQ(pm_runtime_set_recursion_limit(other, 50), 0);
    CHECK_EQ(pm_runtime_get_recursion_limit(other), 50);
    CHECK_EQ(pm_runtime_get_recursion_limit(NULL), 1000);
    pm_runtime_destroy(other);
}

static void *run(void *arg) {
    (void)arg;
    tu_group g = tu_group_begin();
    pm_gc_disable(); /* the chains are acyclic; young collections only cost time */
    pm_type_spec spec = {.name = "node",
                         .basicsize = sizeof(node),
                         .nrefs = 1,
                         .slots = {.repr = node_repr, .compare = node_compare, .hash = node_hash}};
    node_type = pm_type_new(&spec);
    CHECK(node_type != NULL);
    if (node_type) {
        deep_chains_fail();
        limit_is_settable();
        limit_is_per_runtime();
        pm_decref(PM_OBJ(node_type));
    }
    tu_group_end(&g, 0);
    return NULL;
}

int main(void) {
    tu_run_on_stack(run, NULL, STACK_SIZE);
    return tu_finish("test_obj_recursion");
}
