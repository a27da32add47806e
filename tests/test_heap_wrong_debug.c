/*
 * test_heap_wrong_debug.c -- misuse must be caught (mimalloc's test-wrong.c).
 *
 * Each misuse runs in a child process against a debug-mode heap with the
 * default error handler, which prints one line and aborts; the parent
 * checks the child died by SIGABRT and that the line names the kind, the
 * address, the size and the domain. A handler that returns is also tested:
 * the bad call is then ignored and the program goes on.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pm_heap *debug_heap(void) {
    pm_heap_config c;
    pm_heap_config_init(&c);
    c.debug = 1;
    pm_heap *h = pm_heap_new(&c);
    if (!h) abort();
    return h;
}

/* The child prints the address it misuses before misbehaving, so the
 * parent can check that the report names it. */
static void announce(const void *p) { fprintf(stderr, "block %p\n", p); }

static void overrun(void *arg) {
    (void)arg;
    pm_heap *h = debug_heap();
    char *volatile p = pm_domain_malloc(h, PM_DOMAIN_OBJ, 24); /* volatile: see alloc_size */
    announce(p);
    p[24] = 1;
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
}

static void underrun(void *arg) {
    (void)arg;
    pm_heap *h = debug_heap();
    char *volatile p = pm_domain_malloc(h, PM_DOMAIN_MEM, 100); /* volatile: see alloc_size */
    announce(p);
    p[-1] = 1;
    pm_domain_free(h, PM_DOMAIN_MEM, p);
}

static void double_free(void *arg) {
    (void)arg;
    pm_heap *h = debug_heap();
    char *p = pm_domain_malloc(h, PM_DOMAIN_OBJ, 700);
    announce(p);
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
}

static void wrong_domain(void *arg) {
    (void)arg;
    pm_heap *h = debug_heap();
    char *p = pm_domain_malloc(h, PM_DOMAIN_MEM, 40);
    announce(p);
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
}

static void foreign(void *arg) {
    (void)arg;
    pm_heap *h = debug_heap();
    static char not_ours[64];
    announce(not_ours + 16);
    pm_domain_free(h, PM_DOMAIN_OBJ, not_ours + 16);
}

static void interior(void *arg) {
    (void)arg;
    pm_heap *h = debug_heap();
    char *p = pm_domain_malloc(h, PM_DOMAIN_OBJ, 64);
    announce(p);
    pm_domain_free(h, PM_DOMAIN_OBJ, p + 8);
}

static void write_after_free_on_reuse(void *arg) {
    (void)arg;
    pm_heap *h = debug_heap();
    char *p = pm_domain_malloc(h, PM_DOMAIN_OBJ, 32);
    announce(p);
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
    p[5] = 'x';
    /* Push it out of the quarantine: that is when it could be reused. */
    for (int i = 0; i < 5000; i++)
        pm_domain_free(h, PM_DOMAIN_OBJ, pm_domain_malloc(h, PM_DOMAIN_OBJ, 32));
}

static void write_after_free_by_check(void *arg) {
    (void)arg;
    pm_heap *h = debug_heap();
    char *p = pm_domain_malloc(h, PM_DOMAIN_MEM, 200);
    announce(p);
    pm_domain_free(h, PM_DOMAIN_MEM, p);
    p[199] = 'x';
    pm_heap_check(h, NULL, 0, 1);
}

static void realloc_foreign(void *arg) {
    (void)arg;
    pm_heap *h = debug_heap();
    int local;
    announce(&local);
    void *r = pm_domain_realloc(h, PM_DOMAIN_MEM, &local, 10);
    (void)r;
}

typedef struct misuse {
    const char *name;
    void (*fn)(void *);
    const char *expect;
    const char *domain;
} misuse;

static const misuse cases[] = {
    {"overrun", overrun, "buffer overrun: ", "24 bytes, obj domain"},
    {"underrun", underrun, "buffer underrun: ", "100 bytes, mem domain"},
    {"double free", double_free, "double free: ", "700 bytes, obj domain"},
    {"wrong domain", wrong_domain, "wrong domain: ", "40 bytes, mem domain"},
    {"foreign", foreign, "foreign pointer: ", "via the obj domain"},
    {"interior", interior, "interior pointer: ", "64 bytes, obj domain"},
    {"write after free (reuse)", write_after_free_on_reuse,
     "write after free: ", "32 bytes, obj domain"},
    {"write after free (check)", write_after_free_by_check, "write after free in block ",
     "200 bytes, mem domain"},
    {"realloc of a foreign pointer", realloc_foreign, "foreign pointer: ", "via the mem domain"},
};

static void expect_report(const misuse *m) {
    tu_result r;
    tu_child(m->fn, NULL, &r);
    char addr[64] = "";
    sscanf(r.err, "block %63s", addr);
    bool ok = !r.exited && r.status == SIGABRT && tu_contains(r.err, m->expect) &&
              tu_contains(r.err, m->domain) && addr[0] &&
              tu_contains(r.err + strlen(addr) + 6, addr);
    if (!ok)
        fprintf(stderr, "case '%s': exited=%d status=%d stderr:\n%s\n", m->name, r.exited, r.status,
                r.err);
    CHECK(ok);
}

/* A handler that returns: the call is ignored, details are in pm_error. */
static void test_returning_handler(void) {
    pm_heap *h = debug_heap();
    tu_errors s = {0};
    pm_heap_set_error_handler(h, tu_error_record, &s);
    char *p = pm_domain_malloc(h, PM_DOMAIN_OBJ, 50);
    char *volatile q = pm_domain_malloc(h, PM_DOMAIN_MEM, 50); /* volatile: see alloc_size */
    pm_domain_free(h, PM_DOMAIN_MEM, p);
    CHECK_EQ(s.count, 1);
    CHECK_EQ(s.last.kind, PM_ERR_WRONG_DOMAIN);
    CHECK(s.last.address == p);
    CHECK_EQ(s.last.size, 50);
    CHECK_EQ(s.last.domain, PM_DOMAIN_MEM);
    CHECK_EQ(s.last.block_domain, PM_DOMAIN_OBJ);
    CHECK_EQ(s.last.serial, 1);
    /* The bad free was ignored: p is still live and usable. */
    memset(p, 1, 50);
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
    CHECK_EQ(s.last.kind, PM_ERR_DOUBLE_FREE);
    CHECK_EQ(s.count, 2);
    q[50] = 0;
    pm_domain_free(h, PM_DOMAIN_MEM, q); /* reported, and still freed */
    CHECK_EQ(s.last.kind, PM_ERR_OVERRUN);
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    CHECK_EQ(s.count, 3);
    pm_heap_stats st;
    pm_heap_get_stats(h, &st);
    CHECK(st.debug_bytes > 0);
    pm_heap_destroy(h);
}

static int count_kinds(void *arg, void *block, size_t size, int is_large) {
    size_t *n = arg; /* [pool blocks, large blocks] */
    (void)block, (void)size;
    n[is_large != 0]++;
    return 0;
}

/* Rounding is known in debug mode, for small and medium classes alike; the
 * walk tells pool blocks from large ones by where they are. */
static void test_debug_rounding_stats(void) {
    pm_heap *h = debug_heap();
    void *p = pm_domain_malloc(h, PM_DOMAIN_OBJ, 10);    /* 10 + 48 -> class 64 */
    void *q = pm_domain_malloc(h, PM_DOMAIN_OBJ, 600);   /* 600 + 48 -> a medium class */
    void *r = pm_domain_malloc(h, PM_DOMAIN_OBJ, 40000); /* large: no class */
    pm_heap_stats st;
    pm_heap_get_stats(h, &st);
    uint64_t medium = 0; /* the smallest medium class that holds 648 bytes */
    for (uint64_t k = st.medium_classes; k-- > 0;)
        if (st.medium[k].block_size >= 648) medium = st.medium[k].block_size;
    CHECK(medium >= 648);
    CHECK_EQ(st.bytes_rounding, 6 + (medium - 648));
    size_t kinds[2] = {0, 0};
    CHECK_EQ(pm_heap_walk(h, count_kinds, kinds), 0);
    CHECK_EQ(kinds[0], 2);
    CHECK_EQ(kinds[1], 1);
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
    pm_domain_free(h, PM_DOMAIN_OBJ, q);
    pm_domain_free(h, PM_DOMAIN_OBJ, r);
    pm_heap_destroy(h);
}

/* PYMM_MALLOC=debug switches the default heap before main(); re-exec this
 * binary with it set and let the child double free. */
static void exec_with_env_debug(void *arg) {
    (void)arg;
    tu_exec_args a = {"PYMM_MALLOC", "debug", "test_heap_wrong_debug", "--env-child"};
    tu_exec_self(&a);
}

static int env_child(void) {
    if (!pm_heap_debug_enabled(pm_heap_default())) return 3;
    void *p = pm_obj_malloc(16);
    announce(p);
    pm_obj_free(p);
    pm_obj_free(p);
    return 4;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--env-child") == 0) return env_child();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) expect_report(&cases[i]);
    misuse env = {"PYMM_MALLOC=debug", exec_with_env_debug,
                  "double free: ", "16 bytes, obj domain"};
    expect_report(&env);
    test_returning_handler();
    test_debug_rounding_stats();
    return tu_finish("test_heap_wrong_debug");
}
