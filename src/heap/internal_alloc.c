/*
 * internal_alloc.c -- where pymm's own memory comes from, and the fault
 * countdown (see internal_alloc.h).
 *
 * The source. A drop-in malloc (pymm serving the program's malloc) must
 * not take its own bookkeeping from that malloc: it would recurse. So the
 * memory comes from the C library's own entry points, glibc's
 * __libc_malloc and friends, which a replaced `malloc` does not replace;
 * valgrind still sees them. Elsewhere (another C library), and under the
 * sanitizers, whose malloc is the one we want (ASan checks these buffers
 * too; TSan must see memory change hands between threads), it is the
 * public malloc. The SYS_* macros below are the one place to switch (mmap
 * would do for large bookkeeping; the heap's ownership map already maps
 * its own).
 *
 * Process-wide state, both fields of pmh_process (process.c): the
 * countdown (`fault`), armed only by tests and read with one relaxed load
 * when not, and the count of live internal blocks (`internal_live`,
 * atomic).
 */
#include "heap/internal_alloc.h"
#include "heap/process.h"

#include <stdatomic.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PMH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define PMH_SANITIZED 1
#endif
#endif

#if defined(__GLIBC__) && !defined(PMH_SANITIZED) && !defined(PMH_INTERNAL_PUBLIC_MALLOC)
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t nelem, size_t elsize);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
#define SYS_MALLOC __libc_malloc
#define SYS_CALLOC __libc_calloc
#define SYS_REALLOC __libc_realloc
#define SYS_FREE __libc_free
#else
#define SYS_MALLOC malloc
#define SYS_CALLOC calloc
#define SYS_REALLOC realloc
#define SYS_FREE free
#endif

/* The countdown: process-wide, written only by arm/disarm and by ticks
 * while armed (tests, one thread). */
#define fault pmh_process.fault

void pmh_fault_arm(long nth, bool persistent) {
    fault.nth = nth;
    fault.persistent = persistent;
    fault.calls = fault.injected = 0;
    atomic_store_explicit(&fault.armed, nth > 0, memory_order_relaxed);
}

void pmh_fault_disarm(void) { atomic_store_explicit(&fault.armed, false, memory_order_relaxed); }

long pmh_fault_calls(void) { return fault.calls; }
long pmh_fault_injected(void) { return fault.injected; }

bool pmh_fault_tick(void) {
    if (__builtin_expect(!atomic_load_explicit(&fault.armed, memory_order_relaxed), 1))
        return false;
    long k = ++fault.calls;
    if (k < fault.nth || (k > fault.nth && !fault.persistent)) return false;
    fault.injected++;
    return true;
}

void *pmh_sys_malloc(size_t n) { return pmh_fault_tick() ? NULL : SYS_MALLOC(n ? n : 1); }

void *pmh_sys_calloc(size_t nelem, size_t elsize) {
    if (nelem == 0 || elsize == 0) nelem = elsize = 1;
    return pmh_fault_tick() ? NULL : SYS_CALLOC(nelem, elsize);
}

void *pmh_sys_realloc(void *p, size_t n) {
    return pmh_fault_tick() ? NULL : SYS_REALLOC(p, n ? n : 1);
}

void pmh_sys_free(void *p) { SYS_FREE(p); }

/* Live internal blocks: process-wide like the countdown; threads with their
 * own runtimes allocate at once, hence the atomic (these are slow paths). */
#define internal_live pmh_process.internal_live

static void *counted(void *p, long delta) {
    if (p) atomic_fetch_add_explicit(&internal_live, delta, memory_order_relaxed);
    return p;
}

void *pmh_internal_malloc(size_t n) { return counted(pmh_sys_malloc(n), 1); }

void *pmh_internal_calloc(size_t nelem, size_t elsize) {
    return counted(pmh_sys_calloc(nelem, elsize), 1);
}

void *pmh_internal_realloc(void *p, size_t n) { return counted(pmh_sys_realloc(p, n), p == NULL); }

void pmh_internal_free(void *p) {
    counted(p, -1);
    SYS_FREE(p);
}

long pmh_internal_live(void) { return atomic_load_explicit(&internal_live, memory_order_relaxed); }
