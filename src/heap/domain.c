/*
 * domain.c -- the three allocator domains (raw, mem, obj) of a heap.
 *
 * Owns: the raw domain's default table, get/set of a heap's tables, the
 * dispatch through them, and the default-heap shorthands pm_raw_*, pm_mem_*
 * and pm_obj_*. As in CPython, each domain is a table of functions plus a
 * context pointer; a wrapper (debug hooks, tracing) saves the table it
 * replaces and calls through it. Tables are per heap: two heaps can be
 * hooked differently.
 */
#include "heap/heap.h"
#include "heap/internal_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The raw domain's default table: the C library, through the library's
 * one source of internal memory and its fault countdown (internal_alloc.h). */
void *pmh_raw_malloc(void *ctx, size_t n) {
    (void)ctx;
    return pmh_sys_malloc(n);
}

void *pmh_raw_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    return pmh_sys_calloc(nelem, elsize);
}

void *pmh_raw_realloc(void *ctx, void *p, size_t n) {
    (void)ctx;
    return pmh_sys_realloc(p, n);
}

void pmh_raw_free(void *ctx, void *p) {
    (void)ctx;
    pmh_sys_free(p);
}

void pm_heap_get_allocator(const pm_heap *h, pm_domain d, pm_allocator *out) {
    if ((unsigned)d < PM_NUM_DOMAINS) *out = h->domains[d];
}

const pm_allocator *pmh_allocator_ref(const pm_heap *h, pm_domain d) {
    return (unsigned)d < PM_NUM_DOMAINS ? &h->domains[d] : NULL;
}

void pm_heap_set_allocator(pm_heap *h, pm_domain d, const pm_allocator *a) {
    if ((unsigned)d < PM_NUM_DOMAINS && a && a->malloc && a->calloc && a->realloc && a->free)
        h->domains[d] = *a;
}

void *pm_domain_malloc(pm_heap *h, pm_domain d, size_t n) {
    if ((unsigned)d >= PM_NUM_DOMAINS) return NULL;
    const pm_allocator *a = &h->domains[d];
    return a->malloc(a->ctx, n);
}

void *pm_domain_calloc(pm_heap *h, pm_domain d, size_t nelem, size_t elsize) {
    if ((unsigned)d >= PM_NUM_DOMAINS) return NULL;
    const pm_allocator *a = &h->domains[d];
    return a->calloc(a->ctx, nelem, elsize);
}

void *pm_domain_realloc(pm_heap *h, pm_domain d, void *p, size_t n) {
    if ((unsigned)d >= PM_NUM_DOMAINS) return NULL;
    const pm_allocator *a = &h->domains[d];
    return a->realloc(a->ctx, p, n);
}

void pm_domain_free(pm_heap *h, pm_domain d, void *p) {
    if ((unsigned)d >= PM_NUM_DOMAINS) return;
    const pm_allocator *a = &h->domains[d];
    a->free(a->ctx, p);
}

/* The shorthands: one table load and an indirect call, like PyObject_Malloc. */
#define DEFAULT_DOMAIN_FUNCS(prefix, dom)                                                          \
    void *prefix##_malloc(size_t n) {                                                              \
        const pm_allocator *a = &pmh_default_heap.domains[dom];                                    \
        return a->malloc(a->ctx, n);                                                               \
    }                                                                                              \
    void *prefix##_calloc(size_t nelem, size_t elsize) {                                           \
        const pm_allocator *a = &pmh_default_heap.domains[dom];                                    \
        return a->calloc(a->ctx, nelem, elsize);                                                   \
    }                                                                                              \
    void *prefix##_realloc(void *p, size_t n) {                                                    \
        const pm_allocator *a = &pmh_default_heap.domains[dom];                                    \
        return a->realloc(a->ctx, p, n);                                                           \
    }                                                                                              \
    void prefix##_free(void *p) {                                                                  \
        const pm_allocator *a = &pmh_default_heap.domains[dom];                                    \
        a->free(a->ctx, p);                                                                        \
    }

DEFAULT_DOMAIN_FUNCS(pm_raw, PM_DOMAIN_RAW)
DEFAULT_DOMAIN_FUNCS(pm_mem, PM_DOMAIN_MEM)
DEFAULT_DOMAIN_FUNCS(pm_obj, PM_DOMAIN_OBJ)

/* ---- the environment ------------------------------------------------------ */

/* PYMM_MALLOC picks the default heap's tables before main() runs, as
 * PYTHONMALLOC does for CPython: pymm (default), malloc (mem and obj go to
 * the C library: what valgrind users want), debug, malloc_debug. */
static void configure_from_env(pm_heap *h, const char *mode) {
    if (strcmp(mode, "malloc") == 0 || strcmp(mode, "malloc_debug") == 0) {
        h->domains[PM_DOMAIN_MEM] = h->domains[PM_DOMAIN_RAW];
        h->domains[PM_DOMAIN_OBJ] = h->domains[PM_DOMAIN_RAW];
    } else if (strcmp(mode, "pymm") != 0 && strcmp(mode, "debug") != 0 &&
               strcmp(mode, "pymm_debug") != 0) {
        fprintf(stderr,
                "pymm: PYMM_MALLOC=%s is not one of pymm, malloc, debug, malloc_debug, "
                "pymm_debug; using pymm\n",
                mode);
        return;
    }
    if (strstr(mode, "debug") && pm_heap_enable_debug(h) != 0)
        fprintf(stderr, "pymm: PYMM_MALLOC=%s: out of memory enabling debug hooks\n", mode);
}

__attribute__((constructor(101))) static void default_heap_from_env(void) {
    const char *mode = getenv("PYMM_MALLOC");
    if (mode && *mode) configure_from_env(&pmh_default_heap, mode);
    pmh_stats_atexit_setup();
}
