/*
 * pmb_objw.h -- shared by the worker processes of `pymm bench objects`
 * (objects_worker.c and the workload files objects_trees.c,
 * objects_json.c, objects_dict.c).
 *
 * One worker executable is built per implementation,
 * pymm-bench-objects-IMPL, with exactly one PMB_IMPL_* define and a
 * PMB_W_* define for each workload that implementation takes part in:
 *
 *   impl          define               workloads
 *   pymm          PMB_IMPL_PYMM         trees, json, dict
 *   malloc        PMB_IMPL_MALLOC       trees
 *   boehm         PMB_IMPL_BOEHM        trees
 *   jansson       PMB_IMPL_JANSSON      json
 *   cjson         PMB_IMPL_CJSON        json
 *   cpython-capi  PMB_IMPL_CPYTHON      dict
 *
 * A worker prints its results on stdout as lines
 *   PMB <case> <metric> <value> <unit>     a measured number
 *   PMB-CHECK <case> <what> <value>        a result every impl must share
 * which the driver (objects_suite.c) reads through a pipe.
 */
#ifndef PMB_OBJW_H
#define PMB_OBJW_H

#include <stddef.h>
#include <stdint.h>

#include "pm_config.h" /* PM_NOINLINE */

#if defined(PMB_IMPL_PYMM)
#define PMB_IMPL_NAME "pymm"
#elif defined(PMB_IMPL_MALLOC)
#define PMB_IMPL_NAME "malloc"
#elif defined(PMB_IMPL_BOEHM)
#define PMB_IMPL_NAME "boehm"
#elif defined(PMB_IMPL_JANSSON)
#define PMB_IMPL_NAME "jansson"
#elif defined(PMB_IMPL_CJSON)
#define PMB_IMPL_NAME "cjson"
#elif defined(PMB_IMPL_CPYTHON)
#define PMB_IMPL_NAME "cpython-capi"
#else
#error "define one of PMB_IMPL_PYMM/MALLOC/BOEHM/JANSSON/CJSON/CPYTHON"
#endif

/* Output to the driver. */
void objw_emit(const char *case_name, const char *metric, double value, const char *unit);
void objw_check(const char *case_name, const char *what, double value);
/* Prints "pymm-bench-objects-IMPL: message" on stderr and exits 1. */
void objw_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The clock of every timing: user+system CPU time of the process, all its
 * threads included (Boehm's parallel markers), CLOCK_PROCESS_CPUTIME_ID.
 * The measured work is single-threaded and never waits, so on an idle
 * machine this equals wall time; on a busy one it leaves out the time other
 * processes held the CPU, which wall time would add at random. */
double objw_cpu_s(void);
/* VmHWM of this process in KiB: its own peak RSS since exec (ru_maxrss of
 * a child would include the driver's RSS at fork time). */
long objw_peak_rss_kb(void);

/* The whole file in a malloc'd buffer (NUL-terminated, not counted in *n). */
char *objw_read_file(const char *path, size_t *n);

/* xorshift64*: the same sequence in every worker. */
uint64_t objw_rng_next(uint64_t *state);
/* A permutation of 0..n-1 from a fixed seed (Fisher-Yates), malloc'd. */
uint32_t *objw_permutation(size_t n, uint64_t seed);

/* A positive integer argument, or objw_die. */
long objw_parse_long(const char *s, const char *what);

/* The workloads: argv[0] is the mode name. Each returns the exit status. */
int objw_trees(int argc, char **argv); /* trees DEPTH              */
int objw_json(int argc, char **argv);  /* json CASE FILE RUNS       */
int objw_dict(int argc, char **argv);  /* dict NKEYS REPS           */

#endif /* PMB_OBJW_H */
