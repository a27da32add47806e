/*
 * test_heap_debug_calls.c -- owns: debug mode on the pool allocator's own
 * entry points (pm_heap_malloc, _calloc, _realloc, _free, _block_size) of a
 * heap made with cfg.debug = 1 (or pm_heap_enable_debug).
 *
 * A double pm_heap_free is reported (and ignored: the next two allocations
 * are two blocks, not one block twice), as are an overrun, a foreign or
 * interior pointer, a free through a domain of a pm_heap_malloc block and
 * the reverse, and a use of the old pointer after pm_heap_realloc. Reports
 * name the "pm_heap" domain (PM_NUM_DOMAINS). With the default handler the
 * process aborts with the message, as for the domains. A heap without debug
 * mode keeps its plain behaviour.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pm_heap *debug_heap(tu_errors *s) {
    pm_heap_config cfg;
    pm_heap_config_init(&cfg);
    cfg.debug = 1;
    pm_heap *h = pm_heap_new(&cfg);
    CHECK(h != NULL && pm_heap_debug_enabled(h));
    if (s) pm_heap_set_error_handler(h, tu_error_record, s);
    return h;
}

/* The handler has seen `count` reports, the last of this kind, call domain
 * and block domain (-2: not checked). */
static void expect_last(const tu_errors *s, int count, pm_error_kind kind, int domain,
                        int block_domain) {
    CHECK_EQ(s->count, count);
    CHECK_EQ(s->last.kind, kind);
    if (domain != -2) CHECK_EQ(s->last.domain, domain);
    if (block_domain != -2) CHECK_EQ(s->last.block_domain, block_domain);
}

static void test_double_free(void) {
    tu_errors s = {0};
    pm_heap *h = debug_heap(&s);
    char *p = pm_heap_malloc(h, 32);
    CHECK(p != NULL);
    CHECK(pm_heap_block_serial(h, p) != 0);
    CHECK_EQ(pm_heap_block_size(h, p), 32);
    pm_heap_free(h, p);
    CHECK_EQ(s.count, 0);
    pm_heap_free(h, p);
    expect_last(&s, 1, PM_ERR_DOUBLE_FREE, PM_NUM_DOMAINS, PM_NUM_DOMAINS);
    CHECK(s.last.address == p && s.last.size == 32);
    CHECK(tu_contains(s.msg, "double free") && tu_contains(s.msg, "pm_heap"));
    /* The second free was ignored: two allocations, two blocks. */
    char *a = pm_heap_malloc(h, 32), *b = pm_heap_malloc(h, 32);
    CHECK(a != NULL && b != NULL && a != b);
    pm_heap_free(h, a);
    pm_heap_free(h, b);
    CHECK_EQ(s.count, 1);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    pm_heap_destroy(h);
}

static void test_other_misuse(void) {
    tu_errors s = {0};
    pm_heap *h = debug_heap(&s);

    char *volatile p = pm_heap_malloc(h, 40); /* volatile: past alloc_size's eyes */
    p[40] = 'x';                              /* one byte past the end */
    pm_heap_free(h, p);
    expect_last(&s, 1, PM_ERR_OVERRUN, PM_NUM_DOMAINS, PM_NUM_DOMAINS);

    void *m = malloc(24);
    pm_heap_free(h, m); /* not the heap's: reported, not passed on */
    expect_last(&s, 2, PM_ERR_FOREIGN, PM_NUM_DOMAINS, -1);
    free(m);

    char *q = pm_heap_calloc(h, 10, 10);
    CHECK(q != NULL && q[0] == 0 && q[99] == 0);
    pm_heap_free(h, q + 16);
    expect_last(&s, 3, PM_ERR_INTERIOR, PM_NUM_DOMAINS, PM_NUM_DOMAINS);

    /* The pm_heap calls and the domains do not mix. */
    pm_domain_free(h, PM_DOMAIN_MEM, q);
    expect_last(&s, 4, PM_ERR_WRONG_DOMAIN, PM_DOMAIN_MEM, PM_NUM_DOMAINS);
    void *o = pm_domain_malloc(h, PM_DOMAIN_OBJ, 16);
    pm_heap_free(h, o);
    expect_last(&s, 5, PM_ERR_WRONG_DOMAIN, PM_NUM_DOMAINS, PM_DOMAIN_OBJ);
    pm_domain_free(h, PM_DOMAIN_OBJ, o);

    /* realloc always moves in debug mode; the old pointer is dead. */
    char *r = pm_heap_realloc(h, q, 200);
    CHECK(r != NULL && r != q && r[99] == 0);
    CHECK_EQ(pm_heap_block_size(h, r), 200);
    pm_heap_free(h, q);
    expect_last(&s, 6, PM_ERR_DOUBLE_FREE, PM_NUM_DOMAINS, PM_NUM_DOMAINS);
    /* Large requests are checked too. */
    char *big = pm_heap_realloc(h, r, 5000);
    CHECK(big != NULL && pm_heap_block_size(h, big) == 5000);
    pm_heap_free(h, big);
    pm_heap_free(h, big);
    expect_last(&s, 7, PM_ERR_DOUBLE_FREE, PM_NUM_DOMAINS, -2);
    CHECK_EQ(s.last.size, 5000);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    pm_heap_destroy(h);
}

/* Blocks left live at destroy are released with the heap. */
static void test_destroy_with_live_blocks(void) {
    pm_heap *h = debug_heap(NULL);
    for (int i = 0; i < 100; i++) CHECK(pm_heap_malloc(h, (size_t)i * 97 % 3000 + 1) != NULL);
    pm_heap_stats st;
    pm_heap_get_stats(h, &st);
    CHECK(st.debug_bytes > 0);
    pm_heap_destroy(h);
}

/* The default handler aborts with the message, as for the domains. */
static void double_free_child(void *arg) {
    (void)arg;
    pm_heap *h = debug_heap(NULL);
    void *p = pm_heap_malloc(h, 24);
    pm_heap_free(h, p);
    pm_heap_free(h, p);
    exit(0);
}

static void test_default_handler_aborts(void) {
    tu_result r;
    tu_child(double_free_child, NULL, &r);
    CHECK(!r.exited && r.status == SIGABRT);
    CHECK(tu_contains(r.err, "double free") && tu_contains(r.err, "24 bytes, pm_heap domain"));
}

/* Without debug mode the calls stay the plain pool allocator. */
static void test_plain_heap(void) {
    pm_heap *h = pm_heap_new(NULL);
    CHECK(!pm_heap_debug_enabled(h));
    void *p = pm_heap_malloc(h, 40);
    CHECK(pm_heap_owns(h, p) && pm_heap_block_size(h, p) == 48);
    pm_heap_free(h, p);
    CHECK(pm_heap_malloc(h, 40) == p); /* LIFO reuse, no quarantine */
    pm_heap_destroy(h);
}

int main(void) {
    test_double_free();
    test_other_misuse();
    test_destroy_with_live_blocks();
    test_default_handler_aborts();
    test_plain_heap();
    return tu_finish("test_heap_debug_calls");
}
