/*
 * test_obj_shared_types_fork.c -- a child forked while another thread
 * creates and destroys shared types can create one: the registry's lock
 * (a field of pmh_process, src/heap/process.c) is held across fork() like
 * every lock of the process-wide structure, so the child never inherits it
 * taken. A child that hangs is ended by its alarm and counted.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int churn_stop;
static pm_runtime *churn_rt; /* reachable from the child too (valgrind's leak check) */

/* The sanitizers' own allocators may be taken by the churning thread at
 * fork(): a child could hang in them, not in pymm (test_heap_owners skips
 * its fork test there too). Their runtimes define these. */
extern void __asan_init(void) __attribute__((weak));
extern void __tsan_init(void) __attribute__((weak));

static pm_type *new_shared(const char *name) {
    pm_type_spec spec = {.name = name,
                         .basicsize = sizeof(pm_object) + sizeof(void *),
                         .flags = PM_TPFLAGS_SHARED,
                         .nrefs = 1};
    return pm_type_new(&spec);
}

/* Create and destroy shared types as fast as it can, a few alive at a
 * time, so that the registry's lock is often held. */
static void *churn_thread(void *arg) {
    int *failures = arg;
    churn_rt = pm_runtime_new(NULL);
    if (churn_rt == NULL) {
        (*failures)++;
        return NULL;
    }
    pm_runtime_enter(churn_rt);
    pm_type *live[8] = {NULL};
    for (unsigned i = 0; !__atomic_load_n(&churn_stop, __ATOMIC_RELAXED); i++) {
        pm_type **slot = &live[i % 8];
        if (*slot && pm_type_destroy(*slot) != 0) (*failures)++;
        *slot = new_shared("churned");
        if (*slot == NULL) (*failures)++;
    }
    for (int k = 0; k < 8; k++)
        if (live[k] && pm_type_destroy(live[k]) != 0) (*failures)++;
    pm_runtime_destroy(churn_rt);
    return NULL;
}

/* In the child: a shared type can be made and destroyed (tu_fork_ask). */
static bool child_makes_a_shared_type(void *arg) {
    (void)arg;
    pm_type *t = new_shared("in the child");
    return t != NULL && pm_type_destroy(t) == 0;
}

int main(void) {
    if (__asan_init || __tsan_init) {
        printf("test_obj_shared_types_fork: skipped under sanitizers (fork with threads)\n");
        return 77;
    }
    int churn_failures = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, churn_thread, &churn_failures) == 0);
    usleep(10000); /* let it start churning */
    int hung = 0, failed = 0;
    /* 300 forks take seconds natively; under valgrind (PYMM_TEST_SMALL=1
     * in CI) each child is slow, so fewer. */
    long rounds = tu_big_count(300) < 20 ? 20 : tu_big_count(300);
    for (long i = 0; i < rounds && hung + failed == 0; i++) {
        int r = tu_fork_ask(child_makes_a_shared_type, NULL, 3);
        hung += r == TU_FORK_HUNG;
        failed += r == TU_FORK_FAILED;
    }
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    if (hung || failed)
        fprintf(stderr, "fork while sharing types: %d children hung, %d failed\n", hung, failed);
    CHECK_EQ(hung, 0);
    CHECK_EQ(failed, 0);
    CHECK_EQ(churn_failures, 0);
    return tu_finish("test_obj_shared_types_fork");
}
