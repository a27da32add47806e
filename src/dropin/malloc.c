/*
 * malloc.c -- the drop-in: the C library's allocation functions on pymm's
 * default heap, for a program that loads libpymm-malloc.so with
 * LD_PRELOAD (or links it before the C library).
 *
 * Owns: the exported names malloc, free, calloc, realloc, reallocarray,
 * memalign, posix_memalign, aligned_alloc, valloc, pvalloc and
 * malloc_usable_size, and what each promises as the C library documents
 * it (errno, size 0, overflow, alignment). Nothing else: the heap is the
 * default heap of the library's own objects, thread-safe from before
 * main() (docs/DESIGN.md, "Threads"), with its fork handlers; PYMM_STATS,
 * PYMM_TRACE and PYMM_MALLOC work as in any program linked with pymm.
 *
 * Invariants:
 *   D1  Every block a function here returns is one of the mem domain's
 *       (pm_mem_*), or one the C library made through its own entry
 *       points (__libc_memalign, for alignments the pools cannot give).
 *       The mem domain hands any pointer it does not own to the raw
 *       domain, whose table is the C library's own entry points
 *       (__libc_free, __libc_realloc), so a block of the second kind, or
 *       one the C library made before this library was loaded, is freed
 *       and resized where it was made.
 *   D2  pymm never calls the malloc exported here for itself: its own
 *       memory comes from mmap and the C library's __libc_* entry points
 *       (src/heap/internal_alloc.c), so nothing recurses.
 * Alignment: every pool block is 16-aligned; a pool's blocks of a small
 * class lie at the pool's pool-aligned slot plus its colour (a multiple
 * of 64: heap.h, P1) plus a 128-byte header plus multiples of the class's
 * size, so rounding a request up to a multiple of an alignment up to 64
 * gives a block of that alignment.
 * The result is checked all the same (debug hooks move blocks), and any
 * other request goes to the C library's memalign.
 */
#define _GNU_SOURCE
#include "pymm.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#define PMM_EXPORT __attribute__((visibility("default")))
#define PMM_POOL_ALIGN_MAX 64 /* the colours' step: see above */

extern void *__libc_memalign(size_t alignment, size_t n);

static bool pmm_power_of_two(size_t a) { return a != 0 && (a & (a - 1)) == 0; }

/* NULL with errno ENOMEM, as the C library's malloc fails. */
static void *pmm_no_memory(void) {
    errno = ENOMEM;
    return NULL;
}

/* malloc, free, calloc and realloc end in a tail call to the mem domain
 * (its failures set errno ENOMEM: the OS's and the C library's own), so
 * that no frame of this file shows in a recorded stack, which then starts
 * at the program's call. */
PMM_EXPORT void *malloc(size_t n) { return pm_mem_malloc(n); }

PMM_EXPORT void free(void *p) { pm_mem_free(p); }

PMM_EXPORT void *calloc(size_t nelem, size_t elsize) {
    size_t n;
    if (__builtin_mul_overflow(nelem, elsize, &n)) return pmm_no_memory();
    return pm_mem_calloc(nelem, elsize);
}

PMM_EXPORT void *realloc(void *p, size_t n) {
    /* The C library frees p and returns NULL for a size of 0 (glibc's
     * documented behaviour, which programs rely on). */
    if (n == 0 && p != NULL) {
        pm_mem_free(p);
        return NULL;
    }
    return pm_mem_realloc(p, n);
}

PMM_EXPORT void *reallocarray(void *p, size_t nelem, size_t elsize) {
    size_t n;
    if (__builtin_mul_overflow(nelem, elsize, &n)) return pmm_no_memory();
    return realloc(p, n);
}

/* A block of n bytes aligned to a (a power of two): from the pools when
 * the alignment is one their layout gives, else from the C library. */
static void *pmm_aligned(size_t a, size_t n) {
    if (a <= PM_ALIGNMENT) return pm_mem_malloc(n);
    if (a <= PMM_POOL_ALIGN_MAX && n <= PM_SMALL_MAX) {
        size_t rounded = n == 0 ? a : (n + a - 1) & ~(a - 1);
        if (rounded <= PM_SMALL_MAX) {
            void *p = pm_mem_malloc(rounded);
            if (p == NULL) return pmm_no_memory();
            if (((uintptr_t)p & (a - 1)) == 0) return p;
            pm_mem_free(p); /* debug hooks, or another table: not the pools */
        }
    }
    void *p = __libc_memalign(a, n);
    return p ? p : pmm_no_memory();
}

PMM_EXPORT int posix_memalign(void **out, size_t a, size_t n) {
    if (!pmm_power_of_two(a) || a % sizeof(void *) != 0) return EINVAL;
    int saved = errno; /* posix_memalign reports, it does not set errno */
    void *p = pmm_aligned(a, n);
    int err = errno;
    errno = saved;
    if (p == NULL) return err;
    *out = p;
    return 0;
}

PMM_EXPORT void *aligned_alloc(size_t a, size_t n) {
    if (!pmm_power_of_two(a)) {
        errno = EINVAL;
        return NULL;
    }
    return pmm_aligned(a, n);
}

PMM_EXPORT void *memalign(size_t a, size_t n) {
    /* glibc takes any alignment and rounds it up to a power of two. */
    if (a > SIZE_MAX / 2 + 1) return pmm_no_memory();
    size_t pow2 = 1;
    while (pow2 < a) pow2 <<= 1;
    return pmm_aligned(pow2, n);
}

PMM_EXPORT void *valloc(size_t n) { return pmm_aligned((size_t)sysconf(_SC_PAGESIZE), n); }

PMM_EXPORT void *pvalloc(size_t n) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - page) return pmm_no_memory();
    return pmm_aligned(page, n == 0 ? page : (n + page - 1) & ~(page - 1));
}

/* The C library's own answer for a block it made (D1). */
static size_t pmm_libc_usable_size(void *p) {
    size_t (*libc_usable)(void *) = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    return libc_usable && libc_usable != malloc_usable_size ? libc_usable(p) : 0;
}

PMM_EXPORT size_t malloc_usable_size(void *p) {
    if (p == NULL) return 0;
    size_t n = pm_heap_block_size(pm_heap_default(), p);
    return n ? n : pmm_libc_usable_size(p);
}
