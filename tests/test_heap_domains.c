/*
 * test_heap_domains.c -- the raw / mem / obj tables: defaults, get and set,
 * stacking a wrapper over the current table (CPython's PyMem_SetAllocator
 * model), dispatch through pm_domain_* and the default-heap shorthands,
 * and PYMM_MALLOC=malloc.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct counter {
    pm_allocator inner;
    int mallocs, callocs, reallocs, frees;
} counter;

static void *c_malloc(void *ctx, size_t n) {
    counter *c = ctx;
    c->mallocs++;
    return c->inner.malloc(c->inner.ctx, n);
}
static void *c_calloc(void *ctx, size_t a, size_t b) {
    counter *c = ctx;
    c->callocs++;
    return c->inner.calloc(c->inner.ctx, a, b);
}
static void *c_realloc(void *ctx, void *p, size_t n) {
    counter *c = ctx;
    c->reallocs++;
    return c->inner.realloc(c->inner.ctx, p, n);
}
static void c_free(void *ctx, void *p) {
    counter *c = ctx;
    c->frees++;
    c->inner.free(c->inner.ctx, p);
}

static void hook(pm_heap *h, pm_domain d, counter *c) {
    memset(c, 0, sizeof *c);
    pm_heap_get_allocator(h, d, &c->inner);
    pm_allocator a = {c, c_malloc, c_calloc, c_realloc, c_free};
    pm_heap_set_allocator(h, d, &a);
}

static void test_defaults(void) {
    pm_heap *h = pm_heap_new(NULL);
    pm_allocator a, pool;
    pm_heap_pool_allocator(h, &pool);
    pm_heap_get_allocator(h, PM_DOMAIN_MEM, &a);
    CHECK(a.ctx == h && a.malloc == pool.malloc && a.free == pool.free);
    pm_heap_get_allocator(h, PM_DOMAIN_OBJ, &a);
    CHECK(a.ctx == h && a.malloc == pool.malloc);
    pm_heap_get_allocator(h, PM_DOMAIN_RAW, &a);
    CHECK(a.malloc != pool.malloc);
    /* mem and obj blocks come from pools, raw ones from the C library. */
    void *m = pm_domain_malloc(h, PM_DOMAIN_MEM, 100);
    void *o = pm_domain_calloc(h, PM_DOMAIN_OBJ, 10, 10);
    void *r = pm_domain_malloc(h, PM_DOMAIN_RAW, 100);
    CHECK(pm_heap_owns(h, m) && pm_heap_owns(h, o) && !pm_heap_owns(h, r));
    r = pm_domain_realloc(h, PM_DOMAIN_RAW, r, 5000);
    m = pm_domain_realloc(h, PM_DOMAIN_MEM, m, 200);
    CHECK(pm_heap_owns(h, m));
    pm_domain_free(h, PM_DOMAIN_MEM, m);
    pm_domain_free(h, PM_DOMAIN_OBJ, o);
    pm_domain_free(h, PM_DOMAIN_RAW, r);
    /* An out-of-range domain is refused, not dereferenced. */
    CHECK(pm_domain_malloc(h, (pm_domain)7, 10) == NULL);
    pm_domain_free(h, (pm_domain)7, NULL);
    /* A table with a missing function is refused. */
    pm_allocator bad = {NULL, NULL, NULL, NULL, NULL};
    pm_heap_set_allocator(h, PM_DOMAIN_OBJ, &bad);
    pm_heap_get_allocator(h, PM_DOMAIN_OBJ, &a);
    CHECK(a.malloc == pool.malloc);
    pm_heap_destroy(h);
}

static void test_stacking(void) {
    pm_heap *h = pm_heap_new(NULL);
    counter outer, inner;
    hook(h, PM_DOMAIN_OBJ, &inner);
    hook(h, PM_DOMAIN_OBJ, &outer); /* stacked over the first hook */
    void *p = pm_domain_malloc(h, PM_DOMAIN_OBJ, 10);
    p = pm_domain_realloc(h, PM_DOMAIN_OBJ, p, 20);
    void *q = pm_domain_calloc(h, PM_DOMAIN_OBJ, 2, 2);
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
    pm_domain_free(h, PM_DOMAIN_OBJ, q);
    CHECK(outer.mallocs == 1 && outer.reallocs == 1 && outer.callocs == 1 && outer.frees == 2);
    CHECK(inner.mallocs == 1 && inner.reallocs == 1 && inner.callocs == 1 && inner.frees == 2);
    /* Large pool requests go through the heap's raw domain. */
    counter raw;
    pm_heap_set_allocator(h, PM_DOMAIN_OBJ, &inner.inner);
    hook(h, PM_DOMAIN_RAW, &raw);
    void *big = pm_domain_malloc(h, PM_DOMAIN_OBJ, 40000); /* above every pool class */
    pm_domain_free(h, PM_DOMAIN_OBJ, big);
    CHECK(raw.mallocs == 1 && raw.frees == 1);
    pm_heap_set_allocator(h, PM_DOMAIN_RAW, &raw.inner);
    /* Debug hooks stack over a user hook too. */
    counter mem;
    hook(h, PM_DOMAIN_MEM, &mem);
    CHECK_EQ(pm_heap_enable_debug(h), 0);
    CHECK(pm_heap_debug_enabled(h));
    CHECK_EQ(pm_heap_enable_debug(h), 0); /* once is enough */
    void *d = pm_domain_malloc(h, PM_DOMAIN_MEM, 8);
    pm_domain_free(h, PM_DOMAIN_MEM, d);
    CHECK_EQ(mem.mallocs, 1);
    pm_heap_destroy(h); /* releases the quarantined block through the hook */
    CHECK_EQ(mem.frees, 1);
}

static void test_shorthands(void) {
    pm_heap *d = pm_heap_default();
    void *r = pm_raw_malloc(10), *m = pm_mem_malloc(10), *o = pm_obj_malloc(10);
    CHECK(!pm_heap_owns(d, r) && pm_heap_owns(d, m) && pm_heap_owns(d, o));
    r = pm_raw_realloc(r, 100);
    m = pm_mem_realloc(m, 100);
    o = pm_obj_realloc(o, 100);
    CHECK(r && m && o);
    pm_raw_free(r);
    pm_mem_free(m);
    pm_obj_free(o);
    char *z = pm_raw_calloc(4, 4), *y = pm_mem_calloc(4, 4), *x = pm_obj_calloc(4, 4);
    CHECK(z[15] == 0 && y[15] == 0 && x[15] == 0);
    pm_raw_free(z);
    pm_mem_free(y);
    pm_obj_free(x);
    counter c;
    hook(d, PM_DOMAIN_MEM, &c);
    pm_mem_free(pm_mem_malloc(1));
    CHECK(c.mallocs == 1 && c.frees == 1);
    pm_heap_set_allocator(d, PM_DOMAIN_MEM, &c.inner);
}

static int malloc_child(void) {
    void *o = pm_obj_malloc(32);
    int owned = pm_heap_owns(pm_heap_default(), o);
    pm_obj_free(o);
    return owned ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--malloc-child") == 0) return malloc_child();
    if (argc > 1 && strcmp(argv[1], "--bad-child") == 0) {
        void *o = pm_obj_malloc(32);
        int owned = pm_heap_owns(pm_heap_default(), o);
        pm_obj_free(o);
        return owned ? 0 : 1;
    }
    test_defaults();
    test_stacking();
    test_shorthands();
    tu_result r;
    tu_exec_args malloc_mode = {"PYMM_MALLOC", "malloc", "test_heap_domains", "--malloc-child"};
    tu_exec_args bad_mode = {"PYMM_MALLOC", "bogus", "test_heap_domains", "--bad-child"};
    tu_child(tu_exec_self, &malloc_mode, &r);
    CHECK(r.exited && r.status == 0); /* obj blocks came from malloc */
    tu_child(tu_exec_self, &bad_mode, &r);
    CHECK(r.exited && r.status == 0); /* unknown mode: warned, pools kept */
    CHECK(tu_contains(r.err, "PYMM_MALLOC=bogus"));
    return tu_finish("test_heap_domains");
}
