/*
 * test_obj_threads_runtimes.c -- runtimes on one thread-safe heap run on
 * several threads at once (pymm.h, "What may cross runtimes and threads").
 *
 * Every worker makes its own runtime on the default heap (thread-safe),
 * builds and drops containers, strings, a JSON round trip and cyclic
 * garbage the collector must find, while the main thread does the same in
 * the default runtime. Raw blocks of the default heap (pm_obj_malloc) pass
 * between the threads and are freed by another thread than the one that
 * made them. Each runtime's objects come from its own cache of the heap
 * (object.h, pm_runtime.cache), so the object layer's inline paths touch
 * no other thread's lists. Then the heap checks clean, and a runtime
 * destroyed while its thread goes on leaves its cache for adoption.
 * ThreadSanitizer runs it in CI (label "threads").
 */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { THREADS = 3, SLOTS = 64 };

/* Blocks handed from one thread to the next: slot i is written by one
 * thread and taken by any, under the lock. */
static pthread_mutex_t hand_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long collected_rounds; /* object rounds run to their end */
static unsigned char *handed[SLOTS];

static int hand_over(unsigned char *p, unsigned k) {
    pthread_mutex_lock(&hand_lock);
    unsigned char *old = handed[k % SLOTS];
    handed[k % SLOTS] = p;
    pthread_mutex_unlock(&hand_lock);
    int bad = 0;
    if (old) {
        for (int i = 0; i < 40; i++) bad += old[i] != old[0];
        pm_obj_free(old); /* most often made by another thread */
    }
    return bad;
}

/* One round of object work in the current runtime; returns the number of
 * wrong results. */
static int object_round(unsigned seed) {
    int bad = 0;
    pm_object *d = pm_dict_new(), *l = pm_list_new(0);
    if (d == NULL || l == NULL) return 1;
    for (int i = 0; i < 200; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%u-%d", seed, i);
        pm_object *k = pm_str_from(key), *v = pm_int(i * 1000 + (int)seed);
        bad += pm_dict_set(d, k, v) != 0;
        bad += pm_list_append(l, k) != 0;
        pm_decref(k);
        pm_decref(v);
    }
    bad += pm_list_size(l) != 200;
    pm_object *text = pm_json_dumps(d, 0);
    pm_object *back =
        text ? pm_json_loads(pm_str_utf8(text, NULL), strlen(pm_str_utf8(text, NULL)), 0, NULL)
             : NULL;
    bad += back == NULL || pm_equal(back, d) != 1;
    pm_xdecref(back);
    pm_xdecref(text);
    /* Cyclic garbage: a list holding itself and the dict. */
    pm_object *cyc = pm_list_new(0);
    bad += cyc == NULL || pm_list_append(cyc, cyc) != 0 || pm_list_append(cyc, d) != 0;
    pm_xdecref(cyc);
    pm_decref(l);
    pm_decref(d);
    bad += pm_gc_collect(2) < 1; /* at least the cycle's list */
    collected_rounds++;
    return bad;
}

typedef struct job {
    unsigned id;
    long rounds;
    int bad;
} job;

static void *worker(void *arg) {
    job *j = arg;
    pm_runtime_config c;
    pm_runtime_config_init(&c);
    c.heap = pm_heap_default();
    pm_runtime *rt = pm_runtime_new(&c);
    if (rt == NULL) {
        j->bad++;
        return NULL;
    }
    pm_runtime_enter(rt);
    for (long r = 0; r < j->rounds && j->bad == 0; r++) {
        j->bad += object_round(j->id * 100000u + (unsigned)r);
        unsigned char *b = pm_obj_malloc(40);
        if (b == NULL) {
            j->bad++;
            break;
        }
        memset(b, (int)j->id, 40);
        j->bad += hand_over(b, j->id * 7u + (unsigned)r);
    }
    if (pm_exc_occurred()) j->bad++;
    pm_runtime_destroy(rt); /* its cache waits for adoption; the thread goes on */
    /* The default runtime is now this thread's current one, but the main
     * thread is in it: this thread makes no object, only raw blocks. */
    for (int i = 0; i < 100; i++) pm_obj_free(pm_obj_malloc((size_t)i + 1));
    return NULL;
}

int main(void) {
    long rounds = tu_big_count(300);
    pthread_t t[THREADS];
    job jobs[THREADS];
    for (unsigned k = 0; k < THREADS; k++) {
        jobs[k] = (job){k + 1, rounds, 0};
        CHECK_EQ(pthread_create(&t[k], NULL, worker, &jobs[k]), 0);
    }
    /* The main thread works in the default runtime meanwhile (no other
     * thread enters it). */
    int bad = 0;
    for (long r = 0; r < rounds / 4 && bad == 0; r++) bad += object_round(7u + (unsigned)r);
    CHECK_EQ(bad, 0);
    for (unsigned k = 0; k < THREADS; k++) {
        pthread_join(t[k], NULL);
        CHECK_EQ(jobs[k].bad, 0);
    }
    CHECK_EQ(atomic_load(&collected_rounds), THREADS * rounds + rounds / 4);
    for (unsigned k = 0; k < SLOTS; k++) pm_obj_free(handed[k]);
    char why[256] = "";
    CHECK_EQ(pm_heap_check(pm_heap_default(), why, sizeof why, 0), 0);
    if (why[0]) fprintf(stderr, "check: %s\n", why);
    return tu_finish("test_obj_threads_runtimes");
}
