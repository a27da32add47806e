/*
 * threads_worker.c -- the worker process of `pymm bench threads`: one
 * workload at one thread count, on one allocator.
 *
 * Built once per allocator (pymm-bench-threads-{pymm,glibc,mimalloc,
 * jemalloc}); exactly one PMB_IMPL_* define picks the allocator, so every
 * allocator runs the same code. pymm is the default heap's pm_mem_malloc
 * and pm_mem_free (thread-safe: a cache of pools per thread).
 *
 *   pymm-bench-threads-IMPL CASE THREADS [--quick]
 *
 * prints "PMB CASE-THREADS ops_per_s V ops/s" (the operations of all threads
 * over the wall time from the start barrier to the last thread's end) and
 * "PMB CASE-THREADS peak_rss_kb V KiB" (VmHWM). The workloads, modelled on
 * mimalloc-bench's (sizes: bench/README.md):
 *
 *   larson   a server: each thread keeps 1,000 blocks of 16-512 bytes and
 *            replaces a random one per operation; every 10,000 operations
 *            the threads pass their sets on, so most frees are of blocks
 *            another thread made (Larson and Krishnan's pattern).
 *   xmalloc  producer-consumer: half the threads allocate blocks of 16-512
 *            bytes in batches of 100 and hand each batch over, the other
 *            half free them (one thread does both in turn).
 *   scratch  false sharing (cache-scratch): each thread frees an 8-byte
 *            block the main thread made for it, then allocates, writes
 *            1,000 times and frees an 8-byte block, over and over. An
 *            allocator that hands neighbouring blocks to two threads makes
 *            them fight over one cache line.
 *   mix      one thread (or each thread alone): a working set of 2,000
 *            blocks of 16-4,096 bytes, each operation a free and a malloc.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pmb_status.h"

#if defined(PMB_IMPL_PYMM)
#include "pymm.h"
#define IMPL_NAME "pymm"
static inline void *impl_malloc(size_t n) { return pm_mem_malloc(n); }
static inline void impl_free(void *p) { pm_mem_free(p); }
#elif defined(PMB_IMPL_GLIBC)
#define IMPL_NAME "glibc"
static inline void *impl_malloc(size_t n) { return malloc(n); }
static inline void impl_free(void *p) { free(p); }
#elif defined(PMB_IMPL_MIMALLOC)
#include <mimalloc.h>
#define IMPL_NAME "mimalloc"
static inline void *impl_malloc(size_t n) { return mi_malloc(n); }
static inline void impl_free(void *p) { mi_free(p); }
#elif defined(PMB_IMPL_JEMALLOC)
#include <jemalloc/jemalloc.h>
#define IMPL_NAME "jemalloc"
#if defined(PMB_JEMALLOC_PREFIXED)
static inline void *impl_malloc(size_t n) { return je_malloc(n); }
static inline void impl_free(void *p) { je_free(p); }
#else
static inline void *impl_malloc(size_t n) { return malloc(n); }
static inline void impl_free(void *p) { free(p); }
#endif
#else
#error "define one of PMB_IMPL_PYMM/GLIBC/MIMALLOC/JEMALLOC"
#endif

#define MAX_THREADS 64

static void die(const char *what) {
    fprintf(stderr, "pymm-bench-threads-%s: %s\n", IMPL_NAME, what);
    exit(1);
}

static void *must_malloc(size_t n) {
    void *p = impl_malloc(n);
    if (p == NULL) die("out of memory");
    return p;
}

static uint64_t next_rand(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- the shared frame: threads start together, count their operations -- */

typedef struct run {
    int nthreads;
    long ops_per_thread;
    pthread_barrier_t start;
    atomic_long ops;
    void *shared; /* the workload's */
} run;

typedef struct thread_arg {
    run *r;
    int id;
} thread_arg;

/* ---- larson ---------------------------------------------------------------- */

#define LARSON_SLOTS 1000
#define LARSON_PASS 10000

typedef struct larson {
    void **sets[MAX_THREADS]; /* sets[i]: the blocks thread i works on now */
    pthread_barrier_t pass;
} larson;

static void *larson_thread(void *p) {
    thread_arg *a = p;
    run *r = a->r;
    larson *l = r->shared;
    uint64_t x = 0x9E3779B97F4A7C15u ^ (uint64_t)(a->id + 1);
    pthread_barrier_wait(&r->start);
    long done = 0;
    while (done < r->ops_per_thread) {
        void **set = l->sets[a->id];
        for (long i = 0; i < LARSON_PASS; i++) {
            uint64_t v = next_rand(&x);
            size_t k = v % LARSON_SLOTS, n = 16 + (v >> 32) % 497;
            impl_free(set[k]);
            set[k] = must_malloc(n);
            memset(set[k], (int)k, 8);
        }
        done += LARSON_PASS;
        /* Pass the sets on: thread i takes thread i-1's. */
        pthread_barrier_wait(&l->pass);
        if (a->id == 0) {
            void **last = l->sets[r->nthreads - 1];
            memmove(&l->sets[1], &l->sets[0], (size_t)(r->nthreads - 1) * sizeof l->sets[0]);
            l->sets[0] = last;
        }
        pthread_barrier_wait(&l->pass);
    }
    atomic_fetch_add(&r->ops, done);
    return NULL;
}

static void larson_setup(run *r) {
    larson *l = calloc(1, sizeof *l);
    if (l == NULL) die("out of memory");
    pthread_barrier_init(&l->pass, NULL, (unsigned)r->nthreads);
    for (int t = 0; t < r->nthreads; t++) {
        l->sets[t] = calloc(LARSON_SLOTS, sizeof(void *));
        if (l->sets[t] == NULL) die("out of memory");
        for (int k = 0; k < LARSON_SLOTS; k++) l->sets[t][k] = must_malloc(16 + (size_t)k % 497);
    }
    r->shared = l;
}

static void larson_teardown(run *r) {
    larson *l = r->shared;
    for (int t = 0; t < r->nthreads; t++) {
        for (int k = 0; k < LARSON_SLOTS; k++) impl_free(l->sets[t][k]);
        free(l->sets[t]);
    }
    pthread_barrier_destroy(&l->pass);
    free(l);
}

/* ---- xmalloc --------------------------------------------------------------- */

#define XM_BATCH 100
#define XM_QUEUE 64

typedef struct batch {
    void *blocks[XM_BATCH];
} batch;

typedef struct xm_queue {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    batch *items[XM_QUEUE];
    int head, count;
} xm_queue;

typedef struct xmalloc {
    xm_queue q[MAX_THREADS / 2];
} xmalloc;

static void xm_put(xm_queue *q, batch *b) {
    pthread_mutex_lock(&q->lock);
    while (q->count == XM_QUEUE) pthread_cond_wait(&q->changed, &q->lock);
    q->items[(q->head + q->count++) % XM_QUEUE] = b;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
}

static batch *xm_take(xm_queue *q) {
    pthread_mutex_lock(&q->lock);
    while (q->count == 0) pthread_cond_wait(&q->changed, &q->lock);
    batch *b = q->items[q->head];
    q->head = (q->head + 1) % XM_QUEUE;
    q->count--;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    return b;
}

static void fill_batch(batch *b, uint64_t *x) {
    for (int i = 0; i < XM_BATCH; i++) {
        uint64_t v = next_rand(x);
        b->blocks[i] = must_malloc(16 + v % 497);
        memset(b->blocks[i], 1, 8);
    }
}

static void free_batch(batch *b) {
    for (int i = 0; i < XM_BATCH; i++) impl_free(b->blocks[i]);
}

/* Threads 2k and 2k+1 are a pair on queue k; one thread alone does both. */
static void *xmalloc_thread(void *p) {
    thread_arg *a = p;
    run *r = a->r;
    xmalloc *xm = r->shared;
    uint64_t x = 0x2545F4914F6CDD1Du ^ (uint64_t)(a->id + 1);
    long batches = r->ops_per_thread / XM_BATCH;
    pthread_barrier_wait(&r->start);
    if (r->nthreads == 1) {
        batch b;
        for (long i = 0; i < batches; i++) {
            fill_batch(&b, &x);
            free_batch(&b);
        }
        atomic_fetch_add(&r->ops, batches * XM_BATCH);
        return NULL;
    }
    xm_queue *q = &xm->q[a->id / 2];
    if (a->id % 2 == 0) {
        for (long i = 0; i < batches; i++) {
            batch *b = malloc(sizeof *b); /* the benchmark's own bookkeeping */
            if (b == NULL) die("out of memory");
            fill_batch(b, &x);
            xm_put(q, b);
        }
    } else {
        for (long i = 0; i < batches; i++) {
            batch *b = xm_take(q);
            free_batch(b);
            free(b);
        }
    }
    atomic_fetch_add(&r->ops, batches * XM_BATCH);
    return NULL;
}

static void xmalloc_setup(run *r) {
    if (r->nthreads > 1 && r->nthreads % 2) die("xmalloc: an even number of threads, or 1");
    xmalloc *xm = calloc(1, sizeof *xm);
    if (xm == NULL) die("out of memory");
    for (int k = 0; k < MAX_THREADS / 2; k++) {
        pthread_mutex_init(&xm->q[k].lock, NULL);
        pthread_cond_init(&xm->q[k].changed, NULL);
    }
    r->shared = xm;
}

static void xmalloc_teardown(run *r) { free(r->shared); }

/* ---- scratch ------------------------------------------------------------- */

#define SCRATCH_WRITES 1000

typedef struct scratch {
    char *first[MAX_THREADS]; /* made by the main thread, side by side */
} scratch;

static void *scratch_thread(void *p) {
    thread_arg *a = p;
    run *r = a->r;
    scratch *s = r->shared;
    pthread_barrier_wait(&r->start);
    impl_free(s->first[a->id]);
    long rounds = r->ops_per_thread;
    for (long i = 0; i < rounds; i++) {
        volatile char *b = must_malloc(8);
        for (int w = 0; w < SCRATCH_WRITES; w++) b[w % 8] = (char)(b[w % 8] + 1);
        impl_free((void *)b);
    }
    atomic_fetch_add(&r->ops, rounds);
    return NULL;
}

static void scratch_setup(run *r) {
    scratch *s = calloc(1, sizeof *s);
    if (s == NULL) die("out of memory");
    for (int t = 0; t < r->nthreads; t++) s->first[t] = must_malloc(8);
    r->shared = s;
}

static void scratch_teardown(run *r) { free(r->shared); }

/* ---- mix ----------------------------------------------------------------- */

#define MIX_SLOTS 2000

static void *mix_thread(void *p) {
    thread_arg *a = p;
    run *r = a->r;
    void **set = calloc(MIX_SLOTS, sizeof *set);
    if (set == NULL) die("out of memory");
    uint64_t x = 0xD1B54A32D192ED03u ^ (uint64_t)(a->id + 1);
    pthread_barrier_wait(&r->start);
    for (long i = 0; i < r->ops_per_thread; i++) {
        uint64_t v = next_rand(&x);
        size_t k = v % MIX_SLOTS, n = 16 + (v >> 32) % 4081;
        impl_free(set[k]);
        set[k] = must_malloc(n);
        memset(set[k], 2, 8);
    }
    for (int k = 0; k < MIX_SLOTS; k++) impl_free(set[k]);
    free(set);
    atomic_fetch_add(&r->ops, r->ops_per_thread);
    return NULL;
}

static void nothing(run *r) { (void)r; }

/* ---- the cases ----------------------------------------------------------- */

typedef struct workload {
    const char *name;
    void *(*thread)(void *);
    void (*setup)(run *);
    void (*teardown)(run *);
    long ops_full, ops_quick; /* per thread */
} workload;

static const workload WORKLOADS[] = {
    {"larson", larson_thread, larson_setup, larson_teardown, 2000000, 200000},
    {"xmalloc", xmalloc_thread, xmalloc_setup, xmalloc_teardown, 2000000, 200000},
    {"scratch", scratch_thread, scratch_setup, scratch_teardown, 20000, 2000},
    {"mix", mix_thread, nothing, nothing, 2000000, 200000},
};

int main(int argc, char **argv) {
    if (argc < 3) die("usage: CASE THREADS [--quick] (normally run by `pymm bench threads`)");
    const workload *w = NULL;
    for (size_t i = 0; i < sizeof WORKLOADS / sizeof WORKLOADS[0]; i++)
        if (strcmp(argv[1], WORKLOADS[i].name) == 0) w = &WORKLOADS[i];
    if (w == NULL) die("unknown case (larson, xmalloc, scratch, mix)");
    char *end;
    long nthreads = strtol(argv[2], &end, 10);
    if (*end || nthreads < 1 || nthreads > MAX_THREADS) die("THREADS: 1 to 64");
    int quick = argc > 3 && strcmp(argv[3], "--quick") == 0;

    run r = {.nthreads = (int)nthreads, .ops_per_thread = quick ? w->ops_quick : w->ops_full};
    /* The same total work at every thread count: the throughput compares. */
    r.ops_per_thread = r.ops_per_thread / nthreads;
    if (r.ops_per_thread < 1) r.ops_per_thread = 1;
    atomic_init(&r.ops, 0);
    pthread_barrier_init(&r.start, NULL, (unsigned)nthreads + 1);
    w->setup(&r);
    pthread_t t[MAX_THREADS];
    thread_arg args[MAX_THREADS];
    for (int i = 0; i < nthreads; i++) {
        args[i] = (thread_arg){&r, i};
        if (pthread_create(&t[i], NULL, w->thread, &args[i]) != 0) die("pthread_create");
    }
    pthread_barrier_wait(&r.start);
    double t0 = now_s();
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    double secs = now_s() - t0;
    w->teardown(&r);
    pthread_barrier_destroy(&r.start);
    char name[48];
    snprintf(name, sizeof name, "%s-%ld", w->name, nthreads);
    printf("PMB %s ops_per_s %.6g ops/s\n", name, (double)atomic_load(&r.ops) / secs);
    printf("PMB %s peak_rss_kb %ld KiB\n", name, pmb_status_kb("VmHWM:"));
    return 0;
}
