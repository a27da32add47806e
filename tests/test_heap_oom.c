/*
 * test_heap_oom.c -- owns: what the heap does when memory runs out.
 *
 * The rule under test: an allocation that cannot be served returns NULL
 * (never crashes), changes nothing the caller can see (a failed realloc
 * leaves its block in place), leaks nothing, and leaves the heap sound
 * (pm_heap_check passes); once memory is available again, allocation works.
 *
 * Part A, fault injection (SQLite style). The heap's RAW domain -- where
 * large blocks come from -- is replaced by an allocator that fails its k-th
 * call (and, in the "persistent" variant, every call from the k-th on), for
 * k = 1, 2, 3, ... until a whole script of operations runs without reaching
 * k. Every operation must fail exactly when it hit the injected fault. The
 * script runs with and without the debug hooks (which wrap the failing
 * table). The failing allocator counts its live blocks, so a leak shows.
 *
 * Part B, real exhaustion. In forked children, setrlimit(RLIMIT_AS) caps the
 * address space so that new arenas (and, later, the C library's malloc)
 * cannot be mapped: first before the heap's ownership map exists, then with
 * a working heap that is filled until it fails. Part B is skipped under
 * ASan, TSan and valgrind, whose own mappings do not survive a small
 * RLIMIT_AS.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND_H 1
#endif
#endif

static bool under_valgrind(void) {
#ifdef HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND) return true;
#endif
    const char *pre = getenv("LD_PRELOAD");
    return pre && (strstr(pre, "vgpreload") || strstr(pre, "valgrind"));
}

static void check_sound(pm_heap *h) {
    char why[256];
    int r = pm_heap_check(h, why, sizeof why, 0);
    if (r != 0) fprintf(stderr, "pm_heap_check: %s\n", why);
    CHECK_EQ(r, 0);
}

/* ======================================================================== */
/* Part A: a RAW domain that fails on demand                                */
/* ======================================================================== */

typedef struct failing {
    long calls;      /* malloc, calloc and realloc calls so far           */
    long fail_at;    /* the call that fails (1-based); 0: none            */
    bool persistent; /* then every call from fail_at on fails too         */
    long failures;   /* calls that failed                                 */
    long live;       /* blocks given out and not yet freed                */
} failing;

static bool should_fail(failing *f) {
    f->calls++;
    if (f->fail_at && (f->calls == f->fail_at || (f->persistent && f->calls > f->fail_at))) {
        f->failures++;
        return true;
    }
    return false;
}

static void *f_malloc(void *ctx, size_t n) {
    failing *f = ctx;
    if (should_fail(f)) return NULL;
    void *p = malloc(n ? n : 1);
    if (p) f->live++;
    return p;
}

static void *f_calloc(void *ctx, size_t nelem, size_t elsize) {
    failing *f = ctx;
    if (should_fail(f)) return NULL;
    void *p = calloc(nelem ? nelem : 1, elsize ? elsize : 1);
    if (p) f->live++;
    return p;
}

static void *f_realloc(void *ctx, void *p, size_t n) {
    failing *f = ctx;
    if (should_fail(f)) return NULL;
    void *q = realloc(p, n ? n : 1);
    if (q && p == NULL) f->live++;
    return q;
}

static void f_free(void *ctx, void *p) {
    failing *f = ctx;
    if (p) {
        f->live--;
        free(p);
    }
}

/* The blocks the script holds, each filled with its own byte. */
#define NBLOCKS 8
typedef struct held {
    unsigned char *p;
    size_t size;
    int domain; /* -1: pm_heap_* */
    unsigned char fill;
} held;

typedef struct script {
    pm_heap *h;
    failing *f;
    held b[NBLOCKS];
    int step;
    bool reached_fault;
} script;

static bool block_intact(const held *b) {
    for (size_t i = 0; i < b->size; i++)
        if (b->p[i] != b->fill) return false;
    return true;
}

static void check_all_intact(script *s) {
    for (int i = 0; i < NBLOCKS; i++)
        if (s->b[i].p && !block_intact(&s->b[i])) {
            fprintf(stderr, "step %d: block %d (%zu bytes) changed\n", s->step, i, s->b[i].size);
            CHECK(0);
        }
}

/* After one operation: it failed iff it met the injected fault, and the
 * heap is sound either way. */
static void after_op(script *s, long failures_before, const void *result, const char *what) {
    bool hit = s->f->failures > failures_before;
    if (hit) s->reached_fault = true;
    if ((result == NULL) != hit) {
        fprintf(stderr, "fail_at %ld%s, step %d (%s): result %p but fault %s\n", s->f->fail_at,
                s->f->persistent ? " persistent" : "", s->step, what, result,
                hit ? "hit" : "not hit");
        CHECK(0);
    }
    check_sound(s->h);
    check_all_intact(s);
    s->step++;
}

static void *do_alloc(script *s, int domain, size_t n, bool zero) {
    if (domain < 0) return zero ? pm_heap_calloc(s->h, 1, n) : pm_heap_malloc(s->h, n);
    return zero ? pm_domain_calloc(s->h, (pm_domain)domain, n, 1)
                : pm_domain_malloc(s->h, (pm_domain)domain, n);
}

static void *do_realloc(script *s, int domain, void *p, size_t n) {
    if (domain < 0) return pm_heap_realloc(s->h, p, n);
    return pm_domain_realloc(s->h, (pm_domain)domain, p, n);
}

static void do_free(script *s, int domain, void *p) {
    if (domain < 0) pm_heap_free(s->h, p);
    else pm_domain_free(s->h, (pm_domain)domain, p);
}

/* Allocate block i; on success fill it. */
static void op_alloc(script *s, int i, int domain, size_t n, bool zero) {
    long before = s->f->failures;
    unsigned char *p = do_alloc(s, domain, n, zero);
    after_op(s, before, p, zero ? "calloc" : "malloc");
    if (p == NULL) return;
    if (zero)
        for (size_t k = 0; k < n; k++)
            if (p[k]) {
                CHECK(0);
                break;
            }
    held *b = &s->b[i];
    *b = (held){p, n, domain, (unsigned char)(0x11 * (i + 1) + s->step)};
    memset(p, b->fill, n);
}

/* Resize block i (if held); a failure must leave it as it was. */
static void op_realloc(script *s, int i, size_t n) {
    held *b = &s->b[i];
    if (b->p == NULL) return;
    long before = s->f->failures;
    unsigned char *q = do_realloc(s, b->domain, b->p, n);
    if (q == NULL) {
        after_op(s, before, q, "realloc");
        return; /* b is still held and after_op verified it */
    }
    size_t keep = b->size < n ? b->size : n;
    for (size_t k = 0; k < keep; k++)
        if (q[k] != b->fill) {
            CHECK(0);
            break;
        }
    b->p = q;
    b->size = n;
    memset(q, b->fill, n);
    after_op(s, before, q, "realloc");
}

static void op_free(script *s, int i) {
    held *b = &s->b[i];
    if (b->p == NULL) return;
    do_free(s, b->domain, b->p);
    b->p = NULL;
    check_sound(s->h);
}

/* The script: large blocks (above the largest pool class, 21200 bytes with
 * the default 64 KiB pools) through every entry point, realloc across the
 * small/medium/large borders both ways, and pool blocks in between (which
 * never reach the RAW domain, so they must never fail). */
static void run_script(script *s) {
    const int heap = -1;
    op_alloc(s, 0, heap, 30000, false);
    op_alloc(s, 1, heap, 16, false);
    op_alloc(s, 2, heap, 100000, true);
    op_alloc(s, 3, PM_DOMAIN_MEM, 4096, false); /* medium */
    op_alloc(s, 4, PM_DOMAIN_OBJ, 48, false);
    op_alloc(s, 5, PM_DOMAIN_RAW, 32, false);
    op_realloc(s, 0, 70000); /* large -> large */
    op_realloc(s, 1, 2000);  /* small -> medium */
    op_realloc(s, 1, 40000); /* medium -> large */
    op_realloc(s, 2, 100);   /* large -> small */
    op_realloc(s, 3, 24576); /* medium -> large */
    op_realloc(s, 4, 1000);  /* small -> medium */
    op_realloc(s, 5, 64);
    op_alloc(s, 6, heap, PM_SMALL_MAX + 1, false); /* medium */
    op_alloc(s, 7, PM_DOMAIN_OBJ, 512, true);
    op_free(s, 6);
    op_realloc(s, 7, 513);   /* small -> medium */
    op_realloc(s, 7, 21201); /* medium -> large */
    op_realloc(s, 7, 3000);  /* large -> medium */
    op_alloc(s, 6, PM_DOMAIN_MEM, 1u << 20, true);
    op_realloc(s, 0, 10);
    op_realloc(s, 6, 300000);
    op_free(s, 2);
    op_free(s, 0);
}

static void run_with_fault(long fail_at, bool persistent, bool debug, bool *reached) {
    failing f = {0, fail_at, persistent, 0, 0};
    pm_heap *h = pm_heap_new(NULL);
    CHECK(h != NULL);
    if (h == NULL) return;
    pm_allocator a = {&f, f_malloc, f_calloc, f_realloc, f_free};
    pm_heap_set_allocator(h, PM_DOMAIN_RAW, &a);
    /* The debug hooks wrap whatever tables the heap has: the failing one. */
    if (debug) CHECK_EQ(pm_heap_enable_debug(h), 0);
    script s = {.h = h, .f = &f};
    run_script(&s);
    *reached = s.reached_fault;
    /* Half the runs free what is left, half leave it to pm_heap_destroy:
     * both must hand every RAW block back. */
    if (fail_at % 2 == 0) {
        for (int i = 0; i < NBLOCKS; i++) op_free(&s, i);
        pm_heap_stats st;
        pm_heap_get_stats(h, &st);
        /* In debug mode the quarantine still holds freed blocks. */
        if (!debug) CHECK_EQ(st.large_blocks, 0);
        if (!debug) CHECK_EQ(f.live, 0);
    } else {
        /* RAW-domain blocks are the C library's, not the heap's: even
         * pm_heap_destroy leaves them to their owner. */
        for (int i = 0; i < NBLOCKS; i++)
            if (s.b[i].domain == PM_DOMAIN_RAW) op_free(&s, i);
    }
    pm_heap_destroy(h);
    if (f.live != 0)
        fprintf(stderr, "fail_at %ld%s%s: %ld RAW blocks leaked\n", fail_at,
                persistent ? " persistent" : "", debug ? " debug" : "", f.live);
    CHECK_EQ(f.live, 0);
}

static void test_fault_injection(void) {
    for (int debug = 0; debug <= 1; debug++) {
        for (int persistent = 0; persistent <= 1; persistent++) {
            long k;
            bool reached = true;
            for (k = 1; reached && k < 1000; k++) run_with_fault(k, persistent, debug, &reached);
            CHECK(!reached); /* the script ended before k ran out */
            /* The script makes several RAW calls, so several k were tried. */
            CHECK(k > 5);
            printf("fault injection%s%s: %ld failure points\n", debug ? ", debug hooks" : "",
                   persistent ? ", persistent" : "", k - 2);
        }
    }
}

/* ======================================================================== */
/* Part B: address space exhausted (in children, with RLIMIT_AS)            */
/* ======================================================================== */

/* Cap the address space at what is mapped now plus `margin`. Only the soft
 * limit moves, so lift_limit can raise it again. */
static bool cap_address_space(size_t margin) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0) return false;
    rl.rlim_cur = (rlim_t)tu_vm_size_kb() * 1024 + margin;
    return setrlimit(RLIMIT_AS, &rl) == 0;
}

static void lift_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_AS, &rl);
    }
}

static void child_exit(void) {
    fflush(stderr);
    _exit(tu_failures ? 1 : 0);
}

/* A fresh heap has no ownership map yet (it is a large lazy reservation):
 * the first allocation must fail cleanly when it cannot be mapped, and
 * work once the limit is lifted. */
static void child_no_map(void *arg) {
    (void)arg;
    pm_heap *h = pm_heap_new(NULL);
    CHECK(h != NULL);
    if (h == NULL) child_exit();
    CHECK(cap_address_space(256u << 10));
    CHECK(pm_heap_malloc(h, 16) == NULL);
    CHECK(pm_heap_calloc(h, 4, 8) == NULL);
    CHECK(pm_heap_realloc(h, NULL, 100) == NULL);
    CHECK(pm_domain_malloc(h, PM_DOMAIN_OBJ, 200) == NULL);
    check_sound(h);
    pm_heap_stats st;
    pm_heap_get_stats(h, &st);
    CHECK_EQ(st.arenas, 0);
    lift_limit();
    void *p = pm_heap_malloc(h, 16);
    CHECK(p != NULL);
    CHECK(pm_heap_owns(h, p));
    pm_heap_free(h, p);
    check_sound(h);
    pm_heap_destroy(h);
    child_exit();
}

/* Blocks of the fill are chained through their first word, so keeping
 * them needs no memory of its own. */
typedef struct chain {
    struct chain *next;
    size_t size;
    unsigned char bytes[];
} chain;

static void chain_fill(chain *c, size_t size) {
    c->size = size;
    memset(c->bytes, (int)(size & 0xFF) ^ 0x5A, size - sizeof *c);
}

static bool chain_intact(const chain *c) {
    for (size_t i = 0; i < c->size - sizeof *c; i++)
        if (c->bytes[i] != (unsigned char)((c->size & 0xFF) ^ 0x5A)) return false;
    return true;
}

static size_t chain_verify(const chain *c) {
    size_t n = 0, bad = 0;
    for (; c; c = c->next, n++) bad += !chain_intact(c);
    CHECK_EQ(bad, 0);
    return n;
}

/* Take everything the C library's malloc still gives, so that the heap's
 * own bookkeeping allocations fail too. Large pieces first; then every
 * small size in 8-byte steps, because glibc keeps freed small chunks in
 * per-size caches (tcache, fastbins) that serve only their own size. */
static void *exhaust_libc(void) {
    void *list = NULL;
    for (size_t size = 1u << 20; size >= sizeof(void *);
         size = size > 2048 ? size / 2 : size - sizeof(void *)) {
        void *p;
        while ((p = malloc(size)) != NULL) {
            *(void **)p = list;
            list = p;
        }
    }
    return list;
}

static void release_libc(void *list) {
    while (list) {
        void *next = *(void **)list;
        free(list);
        list = next;
    }
}

static int count_block(void *arg, void *block, size_t size, int is_large) {
    (void)block, (void)size, (void)is_large;
    ++*(size_t *)arg;
    return 0;
}

static void child_exhausted(void *arg) {
    (void)arg;
    pm_heap *h = pm_heap_new(NULL);
    pm_heap *spare = pm_heap_new(NULL); /* for pm_heap_enable_debug later */
    CHECK(h != NULL && spare != NULL);
    if (h == NULL || spare == NULL) child_exit();

    /* Blocks that exist before memory runs out: they must survive it. */
    chain *early = NULL;
    for (size_t i = 0; i < 300; i++) {
        size_t size = sizeof(chain) + 1 + (i * 37) % 400;
        chain *c = pm_heap_malloc(h, size);
        CHECK(c != NULL);
        if (c == NULL) child_exit();
        chain_fill(c, size);
        c->next = early;
        early = c;
    }
    chain *big = pm_heap_malloc(h, 200000);
    CHECK(big != NULL);
    if (big == NULL) child_exit();
    chain_fill(big, 200000);
    big->next = NULL;

    CHECK(cap_address_space(8u << 20));

    /* Fill with 512-byte blocks until the heap cannot map another arena. */
    chain *fill = NULL;
    size_t nfill = 0;
    const size_t cap = (64u << 20) / 512; /* far more than the limit allows */
    while (nfill < cap) {
        chain *c = pm_heap_malloc(h, 512);
        if (c == NULL) break;
        chain_fill(c, 512);
        c->next = fill;
        fill = c;
        nfill++;
    }
    CHECK(nfill > 0 && nfill < cap);
    pm_heap_stats st;
    pm_heap_get_stats(h, &st);
    CHECK(st.arenas > 1);
    check_sound(h);

    /* Out of arenas: whatever needs a new pool or a large block fails. */
    CHECK(pm_heap_malloc(h, 512) == NULL);
    CHECK(pm_heap_malloc(h, 496) == NULL); /* a class with no pool yet */
    CHECK(pm_heap_calloc(h, 31, 16) == NULL);
    CHECK(pm_domain_malloc(h, PM_DOMAIN_MEM, 500) == NULL);
    CHECK(pm_heap_malloc(h, 64u << 20) == NULL);
    CHECK(pm_heap_realloc(h, big, 64u << 20) == NULL); /* big stays valid */
    CHECK(pm_heap_realloc(h, early, 490) == NULL);     /* new class: early stays */
    CHECK(pm_heap_block_size(h, big) == 200000);
    check_sound(h);
    CHECK_EQ(chain_verify(early), 300);
    CHECK_EQ(chain_verify(fill), nfill);
    CHECK(chain_intact(big));

    /* Now the C library's malloc too: the heap's bookkeeping (new heaps,
     * the debug tables, the large-block table) cannot be allocated. */
    pm_heap_stats full;
    pm_heap_get_stats(h, &full);
    void *hog = exhaust_libc();
    CHECK(pm_heap_new(NULL) == NULL);
    pm_heap_config cfg;
    pm_heap_config_init(&cfg);
    cfg.debug = 1;
    CHECK(pm_heap_new(&cfg) == NULL);
    CHECK_EQ(pm_heap_enable_debug(spare), -1);
    CHECK_EQ(pm_heap_debug_enabled(spare), 0);
    CHECK(pm_heap_malloc(h, 1000) == NULL);
    CHECK(pm_heap_malloc(h, 512) == NULL);
    /* Looking at the heap needs no memory: the check, the statistics and
     * the walk work exactly when something has just failed. */
    check_sound(h);
    pm_heap_get_stats(h, &st);
    CHECK_EQ(st.pools_used, full.pools_used);
    CHECK_EQ(st.bytes_in_use, full.bytes_in_use);
    size_t walked = 0;
    CHECK_EQ(pm_heap_walk(h, count_block, &walked), 0);
    CHECK_EQ(walked, 300 + nfill + 1);
    release_libc(hog);
    check_sound(h);
    CHECK_EQ(chain_verify(early), 300);

    /* The failed attempt left `spare` as it was: debug mode can still be
     * enabled (its blocks are tried once the limit is lifted, below: the
     * spare heap has no arena and ownership map yet). */
    CHECK_EQ(pm_heap_enable_debug(spare), 0);
    CHECK_EQ(pm_heap_debug_enabled(spare), 1);

    /* Free half the fill: its class has room again, without a new arena. */
    size_t freed = 0;
    while (fill && freed < nfill / 2) {
        chain *next = fill->next;
        pm_heap_free(h, fill);
        fill = next;
        freed++;
    }
    check_sound(h);
    chain *again = pm_heap_malloc(h, 512);
    CHECK(again != NULL);
    if (again) pm_heap_free(h, again);

    /* Free the rest: whole pools and arenas empty out, and other classes
     * and large blocks can be served again (the emptied arenas are kept
     * for reuse, within the release delay: a large allocation that fails
     * makes the heap give them back and try again). */
    while (fill) {
        chain *next = fill->next;
        pm_heap_free(h, fill);
        fill = next;
    }
    check_sound(h);
    void *p496 = pm_heap_malloc(h, 496);
    CHECK(p496 != NULL);
    void *large = pm_heap_malloc(h, 1u << 20);
    CHECK(large != NULL);
    void *moved = pm_heap_realloc(h, big, 400000);
    CHECK(moved != NULL);
    if (moved) {
        big = moved;
        CHECK(chain_intact(big)); /* size field still says 200000 */
    }
    pm_heap_free(h, p496);
    pm_heap_free(h, large);
    pm_heap_free(h, big);
    CHECK_EQ(chain_verify(early), 300);
    while (early) {
        chain *next = early->next;
        pm_heap_free(h, early);
        early = next;
    }
    check_sound(h);
    pm_heap_get_stats(h, &st);
    CHECK_EQ(st.bytes_in_use, 0);
    CHECK_EQ(st.large_blocks, 0);
    pm_heap_destroy(h);

    lift_limit();
    void *d = pm_domain_malloc(spare, PM_DOMAIN_OBJ, 40);
    CHECK(d != NULL);
    pm_domain_free(spare, PM_DOMAIN_OBJ, d);
    check_sound(spare);
    pm_heap_destroy(spare);
    child_exit();
}

static void run_child(const char *name, void (*fn)(void *)) {
    tu_result r;
    tu_child(fn, NULL, &r);
    if (!(r.exited && r.status == 0)) {
        fprintf(stderr, "%s: child %s %d; its stderr:\n%s\n", name,
                r.exited ? "exited with" : "killed by signal", r.status, r.err);
        CHECK(0);
    }
}

static void test_address_space_exhausted(void) {
#ifdef UNDER_SANITIZER
    printf("SKIP: RLIMIT_AS part (sanitizer build)\n");
    return;
#endif
    if (under_valgrind()) {
        printf("SKIP: RLIMIT_AS part (under valgrind)\n");
        return;
    }
    run_child("no ownership map", child_no_map);
    run_child("exhausted", child_exhausted);
}

int main(void) {
    test_fault_injection();
    test_address_space_exhausted();
    return tu_finish("test_heap_oom");
}
