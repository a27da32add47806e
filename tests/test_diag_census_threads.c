/*
 * test_diag_census_threads.c -- censuses of a runtime on the thread-safe
 * default heap while other threads, each in a runtime of its own on the
 * same heap, make and drop objects and buffers: every census of the main
 * runtime is exact (the others' objects and every buffer stay out), and
 * the walk under the heap's lock races with nothing (run under TSan by
 * the "threads" label).
 */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define WORKERS 2

static atomic_bool stop;
static atomic_long progress; /* the workers' rounds, all told */

static void *worker(void *arg) {
    (void)arg;
    pm_runtime_config cfg = PM_RUNTIME_CONFIG_INIT;
    cfg.heap = pm_heap_default();
    pm_runtime *rt = pm_runtime_new(&cfg);
    pm_runtime_enter(rt);
    long rounds = 0;
    while (!atomic_load(&stop) || rounds < 10) {
        pm_object *l = pm_list_new(0);
        for (int i = 0; i < 200; i++) {
            pm_object *d = pm_dict_new();
            pm_list_append_steal(l, d);
            pm_list_append_steal(l, pm_int(5000000 + i));
        }
        void *buf = pm_mem_malloc(64 + (size_t)(rounds % 4000)); /* buffers, any size */
        pm_decref(l);
        pm_mem_free(buf);
        rounds++;
        atomic_fetch_add(&progress, 1);
    }
    pm_runtime_enter(NULL);
    pm_runtime_destroy(rt);
    return NULL;
}

int main(void) {
    pm_runtime_config cfg = PM_RUNTIME_CONFIG_INIT;
    cfg.heap = pm_heap_default();
    pm_runtime *rt = pm_runtime_new(&cfg);
    pm_runtime_enter(rt);
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++) pthread_create(&th[i], NULL, worker, NULL);

    while (atomic_load(&progress) < WORKERS) sched_yield(); /* censuses beside their work */
    pm_object *keep = pm_list_new(0);
    for (int round = 1; round <= 200; round++) {
        pm_object *s = pm_str_from("a census of one's own");
        pm_list_append_steal(keep, s);
        pm_object *t = pm_tuple_new(1);
        pm_tuple_set_steal(t, 0, pm_int(9000000 + round));
        pm_list_append_steal(keep, t);
        pm_census *c = pm_census_take(NULL);
        CHECK(c != NULL);
        if (c == NULL) break;
        CHECK_EQ(pm_census_find(c, "str")->count, round);
        CHECK_EQ(pm_census_find(c, "tuple")->count, round);
        CHECK_EQ(pm_census_find(c, "int")->count, round);
        CHECK_EQ(pm_census_find(c, "list")->count, 1);
        CHECK_EQ(pm_census_size(c), 4); /* nothing of the workers' */
        pm_census_free(c);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < WORKERS; i++) pthread_join(th[i], NULL);
    pm_decref(keep);
    pm_runtime_enter(NULL);
    pm_runtime_destroy(rt);
    return tu_finish("test_diag_census_threads");
}
