/*
 * test_heap_owners.c -- owns: the process-wide owner map (src/heap/owners.c)
 * and what pm_heap_owns answers from it.
 *
 * Many heaps cost address space in proportion to their arenas, not a fixed
 * reservation each (the owner map's table is reserved once per process, at
 * the first arena, before these tests measure): 64 runtimes and 256 heaps
 * allocate under an RLIMIT_AS of 768 MiB more than they start with (in a
 * child, so that the limit binds no other group), and the virtual size
 * grows by little more than an arena per heap. Ownership is
 * answered for the heap asked: a block of A is not B's, not the default
 * heap's, and no longer anyone's once A is destroyed, even when a new heap
 * takes A's address; foreign addresses (NULL, stack, malloc, addresses at
 * and above 2^48, a block's address with a high bit set) are nobody's.
 * Threads that create heaps (new arenas, map writes) while others look up
 * addresses must agree on every answer (CI runs this under TSan too).
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

/* ---- many heaps under RLIMIT_AS ----------------------------------------- */

#define NRUNTIMES 64
#define NHEAPS 256

/* In the child: exit status 0 when every runtime and heap could allocate,
 * else the number of the step that failed. */
static void many_heaps_limited(void *arg) {
    (void)arg;
    pm_mem_free(pm_mem_malloc(16)); /* the owner map's table: once per process */
    long base_kb = tu_vm_size_kb();
    struct rlimit lim = {(rlim_t)(base_kb + (768L << 10)) << 10, (rlim_t)(base_kb + (768L << 10))
                                                                     << 10};
    if (base_kb < 0 || setrlimit(RLIMIT_AS, &lim) != 0) exit(90);
    static pm_runtime *rts[NRUNTIMES];
    for (int i = 0; i < NRUNTIMES; i++) {
        rts[i] = pm_runtime_new(NULL);
        if (rts[i] == NULL) exit(1);
        pm_runtime *prev = pm_runtime_enter(rts[i]);
        pm_object *o = pm_int(1000000 + i); /* not cached: allocated in rts[i]'s heap */
        if (o == NULL || !pm_heap_owns(pm_runtime_heap(rts[i]), o)) exit(2);
        pm_decref(o);
        pm_runtime_enter(prev);
    }
    static pm_heap *heaps[NHEAPS];
    static void *blocks[NHEAPS];
    for (int i = 0; i < NHEAPS; i++) {
        heaps[i] = pm_heap_new(NULL);
        if (heaps[i] == NULL) exit(3);
        blocks[i] = pm_heap_malloc(heaps[i], 16 + (size_t)i % 496);
        if (blocks[i] == NULL || !pm_heap_owns(heaps[i], blocks[i])) exit(4);
    }
    for (int i = 0; i < NHEAPS; i++)
        if (pm_heap_owns(heaps[(i + 1) % NHEAPS], blocks[i])) exit(5);
    for (int i = 0; i < NHEAPS; i++) pm_heap_destroy(heaps[i]);
    for (int i = 0; i < NRUNTIMES; i++) pm_runtime_destroy(rts[i]);
    exit(0);
}

static void test_many_heaps_under_rlimit(void) {
#ifdef UNDER_SANITIZER
    (void)many_heaps_limited;
    printf("  many heaps under RLIMIT_AS: skipped (sanitizers reserve terabytes)\n");
#else
    tu_result r;
    tu_child(many_heaps_limited, NULL, &r);
    if (!r.exited || r.status != 0)
        fprintf(stderr, "many heaps under RLIMIT_AS: exited=%d status=%d\n%s", r.exited, r.status,
                r.err);
    CHECK(r.exited && r.status == 0);
#endif
}

/* Address space per heap: its arena and bookkeeping, nothing reserved. */
static void test_vm_size_per_heap(void) {
    static pm_heap *heaps[NHEAPS];
    pm_mem_free(pm_mem_malloc(16)); /* the owner map's table: once per process */
    long before = tu_vm_size_kb();
    for (int i = 0; i < NHEAPS; i++) {
        heaps[i] = pm_heap_new(NULL);
        CHECK(heaps[i] != NULL && pm_heap_malloc(heaps[i], 32) != NULL);
    }
    long per_heap = (tu_vm_size_kb() - before) / NHEAPS;
    printf("  VmSize per heap with one block: %ld KiB\n", per_heap);
    CHECK(before > 0 && per_heap <= 3072); /* a 2 MiB arena + bookkeeping */
    for (int i = 0; i < NHEAPS; i++) pm_heap_destroy(heaps[i]);
}

/* ---- pm_heap_owns ------------------------------------------------------- */

static void test_owns_across_heaps(void) {
    pm_heap *a = pm_heap_new(NULL), *b = pm_heap_new(NULL);
    CHECK(a && b);
    void *pa = pm_heap_malloc(a, 48), *pb = pm_heap_malloc(b, 48);
    void *pd = pm_mem_malloc(48); /* the default heap's */
    CHECK(pa && pb && pd);
    CHECK(pm_heap_owns(a, pa) && !pm_heap_owns(b, pa) && !pm_heap_owns(pm_heap_default(), pa));
    CHECK(pm_heap_owns(b, pb) && !pm_heap_owns(a, pb));
    CHECK(pm_heap_owns(pm_heap_default(), pd) && !pm_heap_owns(a, pd) && !pm_heap_owns(b, pd));
    /* Every byte of a pool block is the heap's; the block sizes agree. */
    CHECK(pm_heap_owns(a, (char *)pa + 47) && pm_heap_block_size(a, pa) == 48);
    CHECK(pm_heap_block_size(b, pa) == 0);
    pm_mem_free(pd);
    pm_heap_free(b, pb);

    /* Destroyed: the arena is forgotten, also by a heap that reuses a's
     * address (calloc often gives the same one back). */
    uintptr_t where = (uintptr_t)pa;
    pm_heap_destroy(a);
    pm_heap *c = pm_heap_new(NULL);
    CHECK(c != NULL);
    CHECK(!pm_heap_owns(c, (void *)where) && !pm_heap_owns(b, (void *)where));
    CHECK(!pm_heap_owns(pm_heap_default(), (void *)where));
    void *pc = pm_heap_malloc(c, 48);
    CHECK(pc && pm_heap_owns(c, pc) && !pm_heap_owns(b, pc));
    pm_heap_destroy(c);
    pm_heap_destroy(b);
}

static void test_owns_foreign(void) {
    pm_heap *h = pm_heap_new(NULL);
    void *p = pm_heap_malloc(h, 16);
    CHECK(p && pm_heap_owns(h, p));
    int on_stack = 0;
    void *m = malloc(64);
    uintptr_t high[] = {
        (uintptr_t)1 << 48,
        ((uintptr_t)1 << 48) - 1,
        (uintptr_t)0xffff800000000000ull,
        UINTPTR_MAX,
        (uintptr_t)p | (uintptr_t)1 << 48, /* p's MiB, with a bit above 2^48 */
        (uintptr_t)p | (uintptr_t)1 << 63,
    };
    CHECK(!pm_heap_owns(h, NULL) && !pm_heap_owns(pm_heap_default(), NULL));
    CHECK(!pm_heap_owns(h, &on_stack) && !pm_heap_owns(h, m) && !pm_heap_owns(h, &tu_failures));
    for (size_t i = 0; i < sizeof high / sizeof *high; i++) {
        CHECK(!pm_heap_owns(h, (void *)high[i]));
        CHECK(!pm_heap_owns(pm_heap_default(), (void *)high[i]));
        CHECK_EQ(pm_heap_block_size(h, (void *)high[i]), 0);
    }
    free(m);
    pm_heap_destroy(h);
}

/* ---- threads: heaps created while others look up ------------------------ */

#define NTHREADS 6
#define ROUNDS 40

typedef struct owner_worker {
    int id;
    int failures;
} owner_worker;

/* Each round: a new heap with 4 KiB pools fills a few arenas (map writes),
 * checks each block is its own and not a second heap's, then goes away
 * (map writes again). The arenas another thread unmaps are reused here. */
static void *owner_thread(void *arg) {
    owner_worker *w = arg;
    enum { NBLOCKS = 1200 };
    static __thread void *blocks[NBLOCKS];
    pm_heap_config cfg;
    pm_heap_config_init(&cfg);
    cfg.pool_size = 4 << 10;
    for (int round = 0; round < ROUNDS; round++) {
        pm_heap *h = pm_heap_new(&cfg), *other = pm_heap_new(NULL);
        if (h == NULL || other == NULL) {
            w->failures++;
            break;
        }
        for (int i = 0; i < NBLOCKS; i++) {
            blocks[i] = pm_heap_malloc(h, 512);
            if (blocks[i] == NULL || !pm_heap_owns(h, blocks[i]) || pm_heap_owns(other, blocks[i]))
                w->failures++;
        }
        for (int i = 0; i < NBLOCKS; i++) pm_heap_free(h, blocks[i]);
        pm_heap_destroy(other);
        pm_heap_destroy(h);
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t t[NTHREADS];
    owner_worker w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (owner_worker){i, 0};
        CHECK(pthread_create(&t[i], NULL, owner_thread, &w[i]) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(w[i].failures, 0);
    }
}

/* ---- fork while another thread writes the map -------------------------- */

static volatile int churn_stop;

/* Map and unmap 64 MiB arenas (64 map slots each) as fast as it can. */
static void *churn_thread(void *arg) {
    (void)arg;
    pm_heap_config cfg;
    pm_heap_config_init(&cfg);
    cfg.arena_size = 64u << 20;
    while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED)) {
        pm_heap *h = pm_heap_new(&cfg);
        if (h && pm_heap_malloc(h, 16) == NULL) break;
        pm_heap_destroy(h);
    }
    return NULL;
}

static bool child_maps_an_arena(void *arg) {
    (void)arg;
    pm_heap *h = pm_heap_new(NULL);
    void *p = h ? pm_heap_malloc(h, 16) : NULL;
    return p != NULL && pm_heap_owns(h, p);
}

/* A child forked at any moment can map arenas: the map's lock is never
 * inherited taken (a child that hangs is ended by its alarm). */
static void test_fork_while_mapping(void) {
#ifdef UNDER_SANITIZER
    (void)churn_thread;
    (void)child_maps_an_arena;
    printf("  fork while mapping: skipped under sanitizers\n");
#else
    pthread_t t;
    CHECK(pthread_create(&t, NULL, churn_thread, NULL) == 0);
    int hung = 0, failed = 0;
    for (int i = 0; i < 100 && hung + failed == 0; i++) {
        int r = tu_fork_ask(child_maps_an_arena, NULL, 3);
        hung += r == TU_FORK_HUNG;
        failed += r == TU_FORK_FAILED;
    }
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    if (hung || failed)
        fprintf(stderr, "fork while mapping: %d children hung, %d failed\n", hung, failed);
    CHECK_EQ(hung, 0);
    CHECK_EQ(failed, 0);
#endif
}

/* ---- the fallback tree (owners.c, M4) ----------------------------------- */

/* A fresh process (exec'd: no arena yet) under an RLIMIT_AS too small for
 * the owner map's 1 GiB table: the map goes to the tree, and everything
 * works, only through the free path's miss: the default heap (mem, obj,
 * large blocks), private heaps and a thread-safe one, frees across heaps
 * and threads' caches, realloc, pm_heap_owns, the heaps' checks. Exit 0
 * when every step held, else the step's number. */
static void *tree_thread(void *arg) {
    pm_heap *ts = arg;
    void *p[256];
    for (int i = 0; i < 256; i++) p[i] = pm_heap_malloc(ts, 16 + (size_t)i % 512);
    for (int i = 0; i < 256; i++) pm_heap_free(ts, p[i]);
    return NULL;
}

static pm_heap *tree_ts;
static void *tree_free(void *x) {
    pm_heap_free(tree_ts, x);
    return NULL;
}

static int tree_child(void) {
    long base_kb = tu_vm_size_kb();
    struct rlimit lim = {(rlim_t)(base_kb + (512L << 10)) << 10, (rlim_t)(base_kb + (512L << 10))
                                                                     << 10};
    if (base_kb < 0 || setrlimit(RLIMIT_AS, &lim) != 0) return 90;
    enum { N = 20000 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        if ((p[i] = pm_mem_malloc(1 + (size_t)i % 5000)) == NULL) return 1;
    if (tu_vm_size_kb() - base_kb > (400L << 10)) return 2; /* no 1 GiB table */
    for (int i = 0; i < N; i++)
        if (!pm_heap_owns(pm_heap_default(), p[i])) return 3;
    for (int i = 0; i < N; i += 2) pm_mem_free(p[i]);
    for (int i = 1; i < N; i += 2)
        if ((p[i] = pm_mem_realloc(p[i], i % 3 ? 700 : 9000)) == NULL) return 4; /* and large */
    for (int i = 1; i < N; i += 2) pm_mem_free(p[i]);
    pm_object *list = pm_list_new(0);
    for (int i = 0; list && i < 1000; i++) {
        pm_object *s = pm_int(1000000 + i);
        if (s == NULL || pm_list_append(list, s) != 0) return 5;
        pm_decref(s);
    }
    pm_decref(list);
    pm_heap *a = pm_heap_new(NULL), *b = pm_heap_new(NULL);
    pm_heap_config cfg = PM_HEAP_CONFIG_INIT;
    cfg.flags |= PM_HEAP_THREADSAFE;
    pm_heap *ts = pm_heap_new(&cfg);
    if (a == NULL || b == NULL || ts == NULL) return 6;
    void *pa = pm_heap_malloc(a, 48), *pb = pm_heap_malloc(b, 48);
    if (!pm_heap_owns(a, pa) || pm_heap_owns(a, pb) || !pm_heap_owns(b, pb)) return 7;
    pm_heap_free(a, pa);
    pm_heap_free(b, pb);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, tree_thread, ts) != 0) return 8;
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    tree_ts = ts;
    void *x = pm_heap_malloc(ts, 64); /* freed by another thread: the remote way */
    pthread_t freer;
    if (x == NULL || pthread_create(&freer, NULL, tree_free, x) != 0) return 9;
    pthread_join(freer, NULL);
    if (pm_heap_check(a, NULL, 0, 0) || pm_heap_check(ts, NULL, 0, 0) ||
        pm_heap_check(pm_heap_default(), NULL, 0, 0))
        return 10;
    pm_heap_destroy(a);
    pm_heap_destroy(b);
    pm_heap_destroy(ts);
    return 0;
}

static void test_tree_under_rlimit(void) {
#ifdef UNDER_SANITIZER
    printf("  the owner map's tree under RLIMIT_AS: skipped (sanitizers reserve terabytes)\n");
#else
    tu_result r;
    tu_exec_args tree = {"PYMM_TEST_TREE", "1", "test_heap_owners", "--tree-child"};
    tu_child(tu_exec_self, &tree, &r);
    if (!r.exited || r.status != 0)
        fprintf(stderr, "the tree under RLIMIT_AS: exited=%d status=%d\n%s", r.exited, r.status,
                r.err);
    CHECK(r.exited && r.status == 0);
#endif
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--tree-child") == 0) return tree_child();
    test_owns_across_heaps();
    test_owns_foreign();
    test_vm_size_per_heap();
    test_many_heaps_under_rlimit();
    test_threads();
    test_fork_while_mapping();
    test_tree_under_rlimit();
    return tu_finish("test_heap_owners");
}
