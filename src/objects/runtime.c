/*
 * runtime.c -- runtimes, the current runtime of a thread, and exceptions.
 *
 * Owns: pm_runtime's life cycle, the thread-local current runtime, the
 * default runtime (on the default heap, usable with no set-up), the
 * exception state, and the small growable pointer array (pmo_vec).
 *
 * A runtime is used by one thread at a time; the current-runtime pointer is
 * per thread, so two threads each with their own runtime never meet.
 */
#define _DEFAULT_SOURCE
#include "objects/object.h"
#include "heap/internal_alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Debug builds (PM_DEBUG) count every reference; others cannot. */
#ifdef PM_DEBUG
#define TOTAL_REFCOUNT_START 0
#else
#define TOTAL_REFCOUNT_START (-1)
#endif

pm_runtime pmo_default_runtime;
/* Every thread starts on the default runtime. */
_Thread_local pm_runtime *pmo_current_rt __attribute__((tls_model("initial-exec"))) =
    &pmo_default_runtime;
#define default_runtime pmo_default_runtime
#define current_runtime pmo_current_rt

static void freelists_init(pmo_freelists *fl) {
    fl->floats.limit = PMO_FLOAT_FREELIST;
    for (int i = 1; i <= PMO_TUPLE_FREELIST_SIZES; i++) fl->tuples[i].limit = PMO_TUPLE_FREELIST;
    fl->lists.limit = PMO_LIST_FREELIST;
    fl->dicts.limit = PMO_DICT_FREELIST;
}

static bool env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static bool env_debug(void) { return env_flag("PYMM_DEBUG"); }

/* The default runtime is set up before main() (and, should another
 * library's constructor come first, on first use): the default heap exists
 * from the start, and PYMM_DEBUG is read once. PYMM_GC_STRESS is read by
 * every runtime as it is made: a threshold of 0 sends every GC allocation
 * to the collector, which then collects (collector.c, "stress"). */
/* The heap's pool allocator, whose table entries the inline paths look
 * for (object.h, pmo_alloc_rt). */
static void set_pool_functions(pm_runtime *rt) {
    pm_allocator pool;
    pm_heap_pool_allocator(rt->heap ? rt->heap : pm_heap_default(), &pool);
    rt->pool_malloc = pool.malloc;
    rt->pool_free = pool.free;
}

static void young_init(pm_runtime *rt) {
    rt->gc_stress = env_flag("PYMM_GC_STRESS");
    rt->gc_young_threshold = rt->gc_stress ? 0 : PMGC_DEFAULT_THRESHOLD;
    rt->rec_limit = PMO_RECURSION_LIMIT;
}

pm_runtime *pmo_default_rt_init(void) {
    pm_runtime *rt = &default_runtime;
    if (rt->heap == NULL) {
        rt->obj_table = pmh_allocator_ref(pm_heap_default(), PM_DOMAIN_OBJ);
        rt->mem_table = pmh_allocator_ref(pm_heap_default(), PM_DOMAIN_MEM);
        rt->cache = &pmh_default_heap.main; /* the default runtime's (heap.c) */
        set_pool_functions(rt);
        young_init(rt);
        rt->debug = rt->born_slow = env_debug();
        rt->stats.total_refcount = TOTAL_REFCOUNT_START;
        freelists_init(&rt->freelists);
        rt->heap = pm_heap_default(); /* last: pmo_rt tests it */
    }
    return rt;
}

static pm_runtime *default_rt(void) { return pmo_default_rt_init(); }

__attribute__((constructor(102))) static void default_runtime_at_load(void) {
    pmo_default_rt_init();
}

pm_runtime *pm_runtime_default(void) { return default_rt(); }
pm_runtime *pm_runtime_current(void) { return pmo_rt(); }

pm_runtime *pm_runtime_enter(pm_runtime *rt) {
    pm_runtime *prev = pmo_rt();
    current_runtime = rt ? rt : default_rt();
    return prev;
}

pm_heap *pm_runtime_heap(pm_runtime *rt) { return rt->heap; }

int pm_runtime_set_recursion_limit(pm_runtime *rt, int limit) {
    if (limit < 1) {
        pm_exc_set(PM_EXC_VALUE, "recursion limit must be at least 1, not %d", limit);
        return -1;
    }
    (rt ? rt : pmo_rt())->rec_limit = (uint32_t)limit;
    return 0;
}

int pm_runtime_get_recursion_limit(pm_runtime *rt) { return (int)(rt ? rt : pmo_rt())->rec_limit; }

void pm_runtime_config_init(pm_runtime_config *cfg) {
    *cfg = (pm_runtime_config)PM_RUNTIME_CONFIG_INIT;
}

/* cfg in this library's layout (pymm.h, "The API as a contract"), or NULL
 * with errno EINVAL and a ValueError saying why. */
static bool runtime_config_read(const pm_runtime_config *cfg, pm_runtime_config *c) {
    char why[200];
    pm_runtime_config_init(c);
    if (cfg == NULL) return true;
    if (pmh_struct_read(c, sizeof *c, cfg, PMH_END_OF(pm_runtime_config, debug),
                        "pm_runtime_config", why, sizeof why) == NULL) {
        if (c->recursion_limit >= 0) return true;
        snprintf(why, sizeof why,
                 "pm_runtime_config.recursion_limit %d: must be at least 1 (0: 1000)",
                 c->recursion_limit);
    }
    errno = EINVAL;
    pm_exc_set(PM_EXC_VALUE, "%s", why);
    return false;
}

pm_runtime *pm_runtime_new(const pm_runtime_config *cfg) {
    pm_runtime_config c;
    if (!runtime_config_read(cfg, &c)) return NULL;
    pm_runtime *rt = pmh_internal_calloc(1, sizeof *rt);
    if (rt == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (c.heap) {
        rt->heap = c.heap;
    } else {
        rt->heap = pm_heap_new(NULL);
        rt->owns_heap = true;
        if (rt->heap == NULL) {
            pmh_internal_free(rt);
            return NULL;
        }
    }
    rt->obj_table = pmh_allocator_ref(rt->heap, PM_DOMAIN_OBJ);
    rt->mem_table = pmh_allocator_ref(rt->heap, PM_DOMAIN_MEM);
    rt->cache = pmh_cache_for_runtime(rt->heap);
    if (rt->cache == NULL) {
        if (rt->owns_heap) pm_heap_destroy(rt->heap);
        pmh_internal_free(rt);
        errno = ENOMEM;
        return NULL;
    }
    set_pool_functions(rt);
    rt->debug = rt->born_slow = c.debug != 0;
    young_init(rt);
    if (c.recursion_limit > 0) rt->rec_limit = (uint32_t)c.recursion_limit;
    rt->stats.total_refcount = TOTAL_REFCOUNT_START;
    freelists_init(&rt->freelists);
    return rt;
}

/* Everything the runtime holds outside its objects goes first; then the
 * private heap takes every object with it. A runtime on a shared heap
 * leaves its objects' memory to that heap (documented). */
void pm_runtime_destroy(pm_runtime *rt) {
    if (rt == NULL || rt == &default_runtime) return;
    pm_runtime *saved = current_runtime;
    current_runtime = rt;
    void (*leaks)(void *) =
        atomic_load_explicit(&pmh_process.leaks_at_destroy, memory_order_acquire);
    if (leaks) leaks(rt); /* PYMM_LEAKS: while every object is as the program left it */
    if (rt->births) {
        pmo_births *w = rt->births;
        pmo_watch_births(rt, NULL);
        w->release(w);
    }
    if (rt->roots) rt->roots->release(rt, rt->roots);
    pmo_freelists_clear(rt);
    pmo_intern_destroy(rt);
    pmo_weak_registry_destroy(rt);
    pmo_debug_destroy(rt);
    pmgc_destroy(rt);
    pmo_vec_free(&rt->deferred);
    pmh_internal_free(rt->gc_young.items);
    rt->gc_young = (pmgc_young){0};
    pmgc_map_destroy(&rt->gc_map);
    pmo_vec_free(&rt->repr_active);
    current_runtime = saved == rt ? default_rt() : saved;
    if (rt->owns_heap) pm_heap_destroy(rt->heap);
    else pmh_cache_leave(rt->heap, rt->cache); /* freed, or left with live objects */
    pmh_internal_free(rt);
}

size_t pm_runtime_get_stats_sized(pm_runtime *rt, pm_runtime_stats *out, size_t size) {
    return pmh_struct_write(out, size, &rt->stats, sizeof rt->stats);
}

/* ---- exceptions ----------------------------------------------------------- */

static const char *const exc_names[] = {
    "NoError",      "TypeError",      "ValueError",        "KeyError",
    "IndexError",   "OverflowError",  "ZeroDivisionError", "MemoryError",
    "UnicodeError", "AttributeError", "RecursionError",    "RuntimeError",
};

const char *pm_exc_name(pm_exc kind) {
    return (unsigned)kind < sizeof exc_names / sizeof *exc_names ? exc_names[kind] : "RuntimeError";
}

void pmo_vsetf(pm_exc kind, const char *fmt, va_list ap) {
    pm_runtime *rt = pmo_rt();
    rt->exc = kind;
    vsnprintf(rt->exc_message, sizeof rt->exc_message, fmt, ap);
}

void pm_exc_set(pm_exc kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pmo_vsetf(kind, fmt, ap);
    va_end(ap);
}

pm_exc pm_exc_occurred(void) { return pmo_rt()->exc; }

const char *pm_exc_message(void) {
    pm_runtime *rt = pmo_rt();
    return rt->exc ? rt->exc_message : "";
}

void pm_exc_clear(void) {
    pm_runtime *rt = pmo_rt();
    rt->exc = PM_EXC_NONE;
    rt->exc_message[0] = '\0';
}

void pmo_exc_fetch(pm_runtime *rt, pmo_exc_saved *s) {
    s->exc = rt->exc;
    if (s->exc == PM_EXC_NONE) return;
    memcpy(s->message, rt->exc_message, sizeof s->message);
    rt->exc = PM_EXC_NONE;
    rt->exc_message[0] = '\0';
}

void pmo_exc_restore(pm_runtime *rt, const pmo_exc_saved *s) {
    if (s->exc == PM_EXC_NONE) return;
    rt->exc = s->exc;
    memcpy(rt->exc_message, s->message, sizeof rt->exc_message);
}

/* ---- unraisable exceptions -------------------------------------------------- */

void pm_unraisable_print(const pm_unraisable *u, void *ctx) {
    (void)ctx;
    if (u->object)
        fprintf(stderr, "Exception ignored in: %s <%s object at %p>: %s: %s\n", u->context,
                u->type_name ? u->type_name : "?", (const void *)u->object, pm_exc_name(u->kind),
                u->message);
    else
        fprintf(stderr, "Exception ignored in: %s: %s: %s\n", u->context, pm_exc_name(u->kind),
                u->message);
}

void pm_runtime_set_unraisable_hook(pm_runtime *rt, pm_unraisable_hook fn, void *ctx) {
    if (rt == NULL) rt = pmo_rt();
    rt->unraisable_hook = fn;
    rt->unraisable_ctx = fn ? ctx : NULL;
}

/* The exception is taken out of the runtime before the hook runs: the
 * hook may call anything, raise and clear exceptions of its own. */
void pmo_write_unraisable(pm_runtime *rt, const char *context, pm_object *o) {
    pmo_exc_saved e;
    pmo_exc_fetch(rt, &e);
    pm_unraisable u = {sizeof u, e.exc, e.message, context, o, o ? o->type->name : NULL};
    if (rt->unraisable_hook) rt->unraisable_hook(&u, rt->unraisable_ctx);
    else pm_unraisable_print(&u, NULL);
    rt->exc = PM_EXC_NONE; /* one the hook left */
    rt->exc_message[0] = '\0';
}

/* ---- the recursion guard ----------------------------------------------------- */

bool pmo_rec_overflow(pm_runtime *rt, const char *what) {
    rt->rec_depth--;
    pm_exc_set(PM_EXC_RECURSION, "maximum recursion depth exceeded%s", what);
    return false;
}

void *pmo_no_memory(void) {
    pm_exc_set(PM_EXC_MEMORY, "out of memory");
    return NULL;
}

/* ---- pmo_vec -------------------------------------------------------------- */

bool pmo_vec_push(pmo_vec *v, pm_object *o) {
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        pm_object **items = pmh_internal_realloc(v->items, cap * sizeof *items);
        if (items == NULL) return false;
        v->items = items;
        v->cap = cap;
    }
    v->items[v->len++] = o;
    return true;
}

void pmo_vec_free(pmo_vec *v) {
    pmh_internal_free(v->items);
    v->items = NULL;
    v->len = v->cap = 0;
}
