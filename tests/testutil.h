/*
 * testutil.h -- the few helpers every pymm test uses.
 *
 * CHECK records a failure with file and line and goes on, so one run shows
 * every broken expectation; a test's main returns tu_finish(). tu_child runs
 * a function in a forked child and captures its stderr and how it ended:
 * misuse tests need the process that misbehaves to be a different one.
 */
#ifndef PYMM_TESTUTIL_H
#define PYMM_TESTUTIL_H

#include "pymm.h"

#include <stdbool.h>
#include <stddef.h>

extern int tu_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) tu_fail(__FILE__, __LINE__, #cond);                                           \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long tu_a = (long long)(a), tu_b = (long long)(b);                                    \
        if (tu_a != tu_b) tu_fail_eq(__FILE__, __LINE__, #a, #b, tu_a, tu_b);                      \
    } while (0)

void tu_fail(const char *file, int line, const char *what);
void tu_fail_eq(const char *file, int line, const char *a, const char *b, long long va,
                long long vb);
int tu_finish(const char *name);

typedef struct tu_result {
    int exited;     /* 1 when the child called exit            */
    int status;     /* exit status, or the signal that ended it */
    char err[8192]; /* what the child wrote to stderr           */
} tu_result;

/* Run fn(arg) in a child process; its stderr is captured. */
void tu_child(void (*fn)(void *), void *arg, tu_result *out);

/* Fork a child that runs work(arg) under an alarm of alarm_s seconds and
 * says through a pipe whether it returned true. What it says decides, not
 * its exit status (under valgrind that is the leak check's, which finds a
 * parent thread's memory in flight). TU_FORK_OK, TU_FORK_HUNG (the alarm
 * ended it first) or TU_FORK_FAILED. */
enum { TU_FORK_OK, TU_FORK_HUNG, TU_FORK_FAILED };
int tu_fork_ask(bool (*work)(void *), void *arg, unsigned alarm_s);
bool tu_contains(const char *haystack, const char *needle);
/* This program's path, for exec (valgrind reports the client, not itself). */
const char *tu_self_exe(void);

/* UNDER_SANITIZER: this test is built with ASan, TSan or MSan (which do
 * not follow a threaded fork, or reserve address space themselves). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* n, or n / 100 under valgrind and sanitizers (PYMM_TEST_SMALL=1 in the
 * environment), for the tests whose point is size (10,000,000-deep chains):
 * the code paths are the same, the instrumented run stays short. */
long tu_big_count(long n);

/* PYMM_GC_STRESS=1 in the environment: runtimes made now collect at every
 * GC allocation, so a test of when collections happen does not apply. */
bool tu_gc_stress(void);

/* ../shared of the source tree (optional data), or NULL when absent: a
 * test that needs it then exits with 77, CTest's skip (SKIP_RETURN_CODE). */
const char *tu_shared_dir(void);

/* Run fn(arg) on a new thread whose C stack is stack_size bytes, and wait
 * for it (deep-structure tests: no recursion per level may fit). */
void tu_run_on_stack(void *(*fn)(void *), void *arg, size_t stack_size);
/* The deep-graph test of the diagnostics: on a 256 KiB stack, in a
 * private runtime, a chain of tu_big_count(10,000,000) Links (tu_chain)
 * declared as root "chain", handed to check(head, tail, n) (both
 * borrowed), then released; the runtime must end with nothing left. */
void tu_rooted_chain_on_small_stack(void (*check)(pm_object *head, pm_object *tail, long n));

/* Resident set size of this process, in KiB. */
long tu_rss_kb(void);
/* Address space of this process (VmSize), in KiB. */
long tu_vm_size_kb(void);

/* A heap error handler that returns (the bad call is ignored) and keeps
 * the count and the last report: pm_heap_set_error_handler(h,
 * tu_error_record, &errors). */
typedef struct tu_errors {
    int count;
    pm_error last;
    char msg[320];
} tu_errors;
void tu_error_record(pm_heap *h, const pm_error *e, void *arg);

/* Objects alive in the current runtime (allocated minus freed). */
int64_t tu_live_objects(void);

/* A group of checks in a private runtime that must leave no object alive
 * beyond `extra` ones kept on purpose: tu_group_begin makes and enters the
 * runtime; tu_group_end checks no exception is pending and the count, then
 * leaves and destroys it. */
typedef struct tu_group {
    pm_runtime *rt, *prev;
    int64_t live_before;
} tu_group;
tu_group tu_group_begin(void);
void tu_group_end(tu_group *g, int64_t extra);
/* PYMM_DEBUG set and not "0": the object tests that honour it make their
 * private runtimes in object debug mode (the variable itself sets it only
 * for the default runtime). */
bool tu_debug_env(void);
/* tu_group_begin, the runtime in object debug mode when tu_debug_env(). */
tu_group tu_group_begin_env(void);

/* A chain of n objects of a new type "Link" with one reference field,
 * each holding the one made before it (a deep graph for the tests that
 * must not recurse): returns the last made, the head (a new reference),
 * sets *type (a new reference) and, when tail is not NULL, *tail to the
 * first made (borrowed). CHECKs every step. */
pm_object *tu_chain(long n, pm_type **type, pm_object **tail);

/* Out of memory at each internal allocation (heap/internal_alloc.h's
 * faults): runs op(arg) with the n-th allocation failing (persistent:
 * and every one after it), for n = 1, 2, ... until a run meets no fault.
 * CHECKs that op fails (returns false) exactly when a fault was injected,
 * with MemoryError pending, that no internal block is left behind, and
 * that some run failed and the last one succeeded. */
void tu_fault_each(bool (*op)(void *), void *arg, bool persistent);
/* An object with two reference fields, of a new type "Widget"
 * (tu_widget_type: a new reference; fields start NULL). */
typedef struct tu_widget {
    pm_object ob;
    pm_object *a, *b;
} tu_widget;
pm_type *tu_widget_type(void);

/* The pending exception is kind and its message contains text (any
 * message when NULL); says what it got when not, and clears it. */
bool tu_raised(pm_exc kind, const char *text);
/* pm_hash of o, CHECKed to succeed. */
uint64_t tu_hash_of(pm_object *o);
/* repr(o) is want, byte for byte; says what it got when not (a failed
 * repr: its exception, then cleared). */
bool tu_repr_is(pm_object *o, const char *want);

/* A monotonic clock, in seconds (the tests that also report timings). */
double tu_now(void);

/* The failing allocator (SQLite's fault injection): tu_failing_install
 * wraps the MEM and OBJ domain tables of a heap with ones that pass every
 * call to the tables they wrap, except that, once armed, the fail_at-th
 * malloc, calloc or realloc (counting both domains) returns NULL, and with
 * persistent every one after it too. free always passes. The struct must
 * outlive the heap's use of the tables (a static). */
typedef struct tu_failing {
    pm_allocator inner[PM_NUM_DOMAINS]; /* the tables wrapped                 */
    struct tu_failing_ctx {
        struct tu_failing *f;
        pm_domain domain;
    } ctx[PM_NUM_DOMAINS];
    long calls;      /* malloc, calloc and realloc calls since the arm   */
    long fail_at;    /* the call that fails (1-based); 0: none           */
    bool persistent; /* and every call after it                          */
    long failed;     /* calls that failed since the arm                  */
} tu_failing;
void tu_failing_install(tu_failing *f, pm_heap *h);                /* installed disarmed */
void tu_failing_arm(tu_failing *f, long fail_at, bool persistent); /* counts from 0 */
void tu_failing_disarm(tu_failing *f);

/* Run this program again in a child (tu_child), with name=value in its
 * environment and argv {name of the test, arg}: for what is read once per
 * process (PYMM_MALLOC, PYMM_STATS). */
typedef struct tu_exec_args {
    const char *env_name, *env_value;
    const char *argv0, *arg;
} tu_exec_args;
void tu_exec_self(void *tu_exec_args_ptr);

/* A small deterministic generator (xorshift64*). */
uint64_t tu_rand(uint64_t *state);

#endif
