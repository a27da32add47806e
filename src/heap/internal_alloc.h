/*
 * internal_alloc.h -- the library's own memory outside any heap, and the
 * countdown that makes it fail for tests.
 *
 * Every allocation pymm makes for itself (the heap's bookkeeping, runtimes,
 * the collector's vectors and tables, the tracking maps, weak-reference
 * tables, JSON buffers, debug tables) and the raw domain's default table go
 * through pmh_internal_*: one place that knows where such memory comes from
 * (internal_alloc.c says; never from a malloc that pymm itself replaces)
 * and one place where tests inject failures. These are slow-path calls;
 * the fast paths of the heap and the objects never come here.
 *
 * The fault countdown (process-wide, off unless a test arms it): once armed
 * with n, the n-th call of pmh_fault_tick from then on answers true ("fail
 * this allocation"), and with `persistent` every later call too, until
 * pmh_fault_disarm. pmh_internal_* tick before they allocate; a test's
 * failing domain table ticks the same countdown, so one count covers the
 * heap's allocator and the internal memory alike. Arm and disarm while no
 * other thread allocates; unarmed, a tick is one relaxed load.
 */
#ifndef PM_HEAP_INTERNAL_ALLOC_H
#define PM_HEAP_INTERNAL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__GNUC__)
#define PMH_IA_HIDDEN __attribute__((visibility("hidden")))
#define PMH_IA_MALLOC __attribute__((malloc, warn_unused_result))
#else
#define PMH_IA_HIDDEN
#define PMH_IA_MALLOC
#endif

/* malloc, calloc, realloc and free of the C library, through the countdown.
 * NULL means out of memory, also for a size of 0 (served as 1). A failed
 * realloc leaves p as it was. */
PMH_IA_HIDDEN PMH_IA_MALLOC void *pmh_internal_malloc(size_t n);
PMH_IA_HIDDEN PMH_IA_MALLOC void *pmh_internal_calloc(size_t nelem, size_t elsize);
PMH_IA_HIDDEN void *pmh_internal_realloc(void *p, size_t n);
PMH_IA_HIDDEN void pmh_internal_free(void *p);
/* Blocks of pmh_internal_* alive in the process (a leak check for tests). */
PMH_IA_HIDDEN long pmh_internal_live(void);

/* The same source and countdown without the count, for the raw domain's
 * default table (which must also take back blocks it never gave: a
 * pointer pm_heap_free does not know goes to the raw domain). */
PMH_IA_HIDDEN PMH_IA_MALLOC void *pmh_sys_malloc(size_t n);
PMH_IA_HIDDEN PMH_IA_MALLOC void *pmh_sys_calloc(size_t nelem, size_t elsize);
PMH_IA_HIDDEN void *pmh_sys_realloc(void *p, size_t n);
PMH_IA_HIDDEN void pmh_sys_free(void *p);

/* The countdown (for tests). */
PMH_IA_HIDDEN void pmh_fault_arm(long nth, bool persistent);
PMH_IA_HIDDEN void pmh_fault_disarm(void);
/* Count one allocation; true when it is to fail. */
PMH_IA_HIDDEN bool pmh_fault_tick(void);
/* Since the last arm: calls of pmh_fault_tick, and how many answered true. */
PMH_IA_HIDDEN long pmh_fault_calls(void);
PMH_IA_HIDDEN long pmh_fault_injected(void);

#endif
