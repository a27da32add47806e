/*
 * test_heap_asan_overrun.c -- owns: proof that AddressSanitizer sees misuse of
 * pool blocks, not only of the C library's blocks.
 *
 * ASan knows nothing of pymm's pools on its own: an arena is one big mmap,
 * all addressable as far as ASan is concerned. The heap therefore poisons
 * by hand every byte the user may not touch (free blocks, the rounding of a
 * block to its class, uncarved pool space; see heap.h). This test checks
 * that the poisoning is really there, from the outside: each case runs in a
 * forked child that commits one misuse, and the child must die with an
 * AddressSanitizer report naming poisoned memory. The cases:
 *   - a write one byte past a 32-byte block, into its free neighbour;
 *   - a read of a freed pool block;
 *   - a write into the rounding bytes of a 20-byte request (class 32);
 *   - and, as the control, the same blocks used correctly: no report.
 * In other builds there is nothing to test: the test prints SKIP and passes.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif

#ifndef ASAN_BUILD

int main(void) {
    printf("SKIP: not an ASan build\n");
    return tu_finish("test_heap_asan_overrun");
}

#else

/* The report must land in the child's stderr (captured by tu_child), and
 * the child must end there: exitcode, not abort, unless the caller's
 * ASAN_OPTIONS say otherwise (either way the child does not exit 0). A
 * short report keeps it inside tu_child's buffer. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "print_legend=0:abort_on_error=0"; }

/* Volatile, so the compiler keeps the misuse in place. */
static volatile unsigned char sink;

/* A fresh heap, so the neighbour of the first block of a class is known to
 * be the next carved block of the same pool, free and poisoned. */
static unsigned char *first_block(pm_heap **hp, size_t n) {
    pm_heap *h = pm_heap_new(NULL);
    if (h == NULL) _exit(90);
    unsigned char *p = pm_heap_malloc(h, n);
    if (p == NULL || !pm_heap_owns(h, p)) _exit(91);
    memset(p, 0xAB, n);
    *hp = h;
    return p;
}

static void write_past_end(void *arg) {
    (void)arg;
    pm_heap *h;
    unsigned char *p = first_block(&h, 32);
    volatile unsigned char *v = p;
    v[32] = 1; /* the first byte of the neighbouring, free block */
}

static void read_after_free(void *arg) {
    (void)arg;
    pm_heap *h;
    unsigned char *p = first_block(&h, 64);
    pm_heap_free(h, p);
    volatile unsigned char *v = p;
    sink = v[8]; /* past the free-list link, in case that word is special */
}

static void write_into_rounding(void *arg) {
    (void)arg;
    pm_heap *h;
    unsigned char *p = first_block(&h, 20);
    if (pm_heap_block_size(h, p) != 32) _exit(92);
    volatile unsigned char *v = p;
    v[20] = 1; /* inside the class-32 block, past the 20 bytes asked for */
}

/* The control: everything in bounds, including after a realloc in place
 * that grows into the former rounding. */
static void use_correctly(void *arg) {
    (void)arg;
    pm_heap *h;
    unsigned char *p = first_block(&h, 20);
    volatile unsigned char *v = p;
    v[19] = 2;
    unsigned char *q = pm_heap_realloc(h, p, 30);
    if (q == NULL) _exit(93);
    v = q;
    v[29] = 3;
    sink = v[0];
    unsigned char *r = pm_heap_malloc(h, 32);
    if (r == NULL) _exit(94);
    v = r;
    v[31] = 4;
    pm_heap_free(h, q);
    pm_heap_free(h, r);
    pm_heap_destroy(h);
}

static void expect_report(const char *what, void (*fn)(void *)) {
    tu_result r;
    tu_child(fn, NULL, &r);
    bool died = !(r.exited && r.status == 0);
    bool asan = tu_contains(r.err, "AddressSanitizer");
    bool poisoned = tu_contains(r.err, "poison") || tu_contains(r.err, "overflow");
    if (!died || !asan || !poisoned) {
        fprintf(stderr, "%s: expected an AddressSanitizer report; child %s %d, stderr:\n%s\n", what,
                r.exited ? "exited with" : "killed by signal", r.status, r.err);
        CHECK(died && asan && poisoned);
    }
}

int main(void) {
    expect_report("write one byte past a 32-byte block", write_past_end);
    expect_report("read of a freed pool block", read_after_free);
    expect_report("write into the rounding of a 20-byte request", write_into_rounding);

    tu_result r;
    tu_child(use_correctly, NULL, &r);
    if (!(r.exited && r.status == 0)) fprintf(stderr, "control child failed:\n%s\n", r.err);
    CHECK(r.exited && r.status == 0);
    CHECK(!tu_contains(r.err, "AddressSanitizer"));
    return tu_finish("test_heap_asan_overrun");
}

#endif
