/*
 * pm_config.h -- the compiler and tool macros of every internal file:
 * branch hints, symbol visibility, inlining, alignment, and the
 * AddressSanitizer and valgrind annotations. Written once here; the
 * layers (src/heap, src/objects, src/gc, src/lib) and the in-tree
 * programs (bench/) include it. No declarations, no pm_ API: this
 * header needs nothing and may be included first by anyone.
 *
 * Every macro has a plain-C fallback, so a compiler that is not GCC or
 * clang still builds the library (without the hints).
 */
#ifndef PM_CONFIG_H
#define PM_CONFIG_H

/* ---- compiler hints ---------------------------------------------------- */

#if defined(__GNUC__)
#define pm_likely(x) __builtin_expect(!!(x), 1)
#define pm_unlikely(x) __builtin_expect(!!(x), 0)
/* Internal cross-file names: visible to the library's files, not exported
 * (the library also builds with -fvisibility=hidden; this says it where
 * the name is declared). */
#define PM_HIDDEN __attribute__((visibility("hidden")))
/* Slow paths kept out of their callers' hot code. */
#define PM_NOINLINE __attribute__((noinline))
/* A function or object starting on a cache line. */
#define PM_CACHE_ALIGNED __attribute__((aligned(64)))
#else
#define pm_likely(x) (x)
#define pm_unlikely(x) (x)
#define PM_HIDDEN
#define PM_NOINLINE
#define PM_CACHE_ALIGNED
#endif

/* pmh_assert_fail is heap/debug.c's (the lowest layer). */
/* ---- assertions ----------
 * Tiered as mimalloc's. PM_ASSERT(c): preconditions and invariants cheap
 * enough to check on every call of a slow path, in debug builds (PM_DEBUG,
 * -DPYMM_DEBUG=ON). PM_EXPENSIVE (-DPYMM_DEBUG_EXPENSIVE=ON, which implies
 * PM_DEBUG): whole-structure checks, pm_heap_check after the heap's slow
 * paths that reshape its lists and pm_gc_check after every collection;
 * PM_ASSERT_EXPENSIVE(c) asserts such a check. Release builds evaluate
 * neither (c may name variables only debug builds keep). A failure prints
 * file:line, the function and the expression to stderr, then aborts. */
#if defined(PM_EXPENSIVE) && !defined(PM_DEBUG)
#error "PM_EXPENSIVE needs PM_DEBUG (pymm.h's checked references follow PM_DEBUG)"
#endif
#ifdef PM_DEBUG
PM_HIDDEN _Noreturn void pmh_assert_fail(const char *expr, const char *file, int line,
                                         const char *func);
#define PM_ASSERT(c) (pm_likely(c) ? (void)0 : pmh_assert_fail(#c, __FILE__, __LINE__, __func__))
#else
#define PM_ASSERT(c) ((void)0)
#endif
#ifdef PM_EXPENSIVE
#define PM_ASSERT_EXPENSIVE(c) PM_ASSERT(c)
#else
#define PM_ASSERT_EXPENSIVE(c) ((void)0)
#endif
/* ---- end of assertions --------------------------------------------------- */

/* ---- sanitizer and valgrind annotations -------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define PM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PM_ASAN 1
#endif
#endif

#ifdef PM_ASAN
#include <sanitizer/asan_interface.h>
#define PM_NO_ASAN __attribute__((no_sanitize_address))
#define pm_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define pm_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define PM_NO_ASAN
#define pm_poison(p, n) ((void)(p), (void)(n))
#define pm_unpoison(p, n) ((void)(p), (void)(n))
#endif

/* A function whose reads ThreadSanitizer must not report: only for a race
 * the code documents as benign where it happens (stats.c). */
#if defined(__SANITIZE_THREAD__)
#define PM_NO_TSAN __attribute__((no_sanitize("thread"), noinline))
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PM_NO_TSAN __attribute__((no_sanitize("thread"), noinline))
#endif
#endif
#ifndef PM_NO_TSAN
#define PM_NO_TSAN
#define PM_UNDER_TSAN 0
#else
#define PM_UNDER_TSAN 1
#endif

#ifdef PM_VALGRIND
#include <valgrind/memcheck.h>
#define pm_vg_malloclike(p, n) VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, 0)
#define pm_vg_freelike(p) VALGRIND_FREELIKE_BLOCK((p), 0)
#define pm_vg_noaccess(p, n) VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define pm_vg_defined(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#define pm_vg_undefined(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#else
#define pm_vg_malloclike(p, n) ((void)(p), (void)(n))
#define pm_vg_freelike(p) ((void)(p))
#define pm_vg_noaccess(p, n) ((void)(p), (void)(n))
#define pm_vg_defined(p, n) ((void)(p), (void)(n))
#define pm_vg_undefined(p, n) ((void)(p), (void)(n))
#endif

/* Either tool watches the heap's blocks: the heap then annotates them. */
#if defined(PM_ASAN) || defined(PM_VALGRIND)
#define PM_ANNOTATE 1
#endif

#endif
