/*
 * test_diag_trace_threads.c -- the allocation recorder under threads:
 * several threads allocate on the default heap and on a thread-safe
 * private heap while tracing, free each other's blocks, and the traced
 * totals come out exact.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS 20000
#define KEPT 64 /* blocks each thread leaves live at its end */

static pm_heap *shared_heap;
/* One mailbox per thread: blocks another thread allocated for it to free. */
static _Atomic(void *) mailbox[THREADS][ROUNDS / 4];
static atomic_size_t kept_bytes;

typedef struct job {
    int id;
    void *kept[KEPT];
} job;

static size_t size_of(int id, int i) { return 16 + (size_t)((id * 7919 + i * 104729) % 3000); }

static void *work(void *arg) {
    job *j = arg;
    int next = (j->id + 1) % THREADS;
    for (int i = 0; i < ROUNDS; i++) {
        size_t n = size_of(j->id, i);
        void *p = (i & 1) ? pm_heap_malloc(shared_heap, n) : pm_mem_malloc(n);
        if (p == NULL) abort();
        if (i % 4 == 0) { /* for the next thread to free */
            void *prev = atomic_exchange(&mailbox[next][i / 4], p);
            pm_mem_free(prev);
        } else if (i >= ROUNDS - KEPT) {
            j->kept[i - (ROUNDS - KEPT)] = p;
            atomic_fetch_add(&kept_bytes, n);
        } else {
            (i & 1) ? pm_heap_free(shared_heap, p) : pm_mem_free(p);
        }
        /* What the previous thread left for this one. */
        void *mine = atomic_exchange(&mailbox[j->id][i / 4], NULL);
        pm_mem_free(mine); /* from an i % 4 == 0: pm_mem_malloc's */
    }
    return NULL;
}

/* PYMM_TRACE's exit with threads still allocating: the recorder must not
 * be taken down under them (a crash at exit), and the file must end with
 * its end record. Run in a child started with PYMM_TRACE set. */
static void *churn(void *arg) {
    (void)arg;
    for (;;) {
        void *p = pm_mem_malloc(64);
        pm_mem_free(p);
    }
    return NULL;
}

static int exit_while_threads_allocate(void) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, churn, NULL);
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    exit(0); /* the threads are still in their loops */
}

static void test_exit_race(void) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/pymm-exit-race-%ld.trc", (long)getpid());
    tu_exec_args args = {"PYMM_TRACE", path, "test_diag_trace_threads", "exit-race"};
    for (int round = 0; round < 3; round++) {
        tu_result r;
        tu_child(tu_exec_self, &args, &r);
        CHECK(r.exited && r.status == 0);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (f == NULL) return;
        char head[8] = {0};
        CHECK(fread(head, 1, 8, f) == 8 && memcmp(head, "PYMMTRC", 8) == 0);
        fclose(f);
        remove(path);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "exit-race") == 0) return exit_while_threads_allocate();
    test_exit_race();
    pm_heap_config c = PM_HEAP_CONFIG_INIT;
    c.flags = PM_HEAP_THREADSAFE;
    shared_heap = pm_heap_new(&c);
    CHECK(shared_heap != NULL);
    CHECK_EQ(pm_trace_start(NULL), 0);
    pthread_t t[THREADS];
    job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i].id = i;
        pthread_create(&t[i], NULL, work, &jobs[i]);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    /* Blocks still in mailboxes (no thread came back for them) are live
     * and traced: free them here, from yet another thread. */
    for (int id = 0; id < THREADS; id++)
        for (int k = 0; k < ROUNDS / 4; k++) pm_mem_free(atomic_exchange(&mailbox[id][k], NULL));
    size_t current, peak;
    pm_trace_get_traced_memory(&current, &peak);
    CHECK_EQ(current, atomic_load(&kept_bytes));
    CHECK(peak >= current);
    CHECK_EQ(pm_trace_recorded(), (uint64_t)THREADS * ROUNDS);
    for (int id = 0; id < THREADS; id++)
        for (int k = 0; k < KEPT; k++) {
            int i = ROUNDS - KEPT + k;
            if (i % 4 == 0) continue; /* went to a mailbox */
            (i & 1) ? pm_heap_free(shared_heap, jobs[id].kept[k]) : pm_mem_free(jobs[id].kept[k]);
        }
    pm_trace_get_traced_memory(&current, &peak);
    CHECK_EQ(current, 0);
    pm_trace_stop();
    pm_heap_destroy(shared_heap);
    return tu_finish("test_diag_trace_threads");
}
