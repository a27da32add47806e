/*
 * objects_json.c -- json-NAME: loading one JSON document, in the workers
 * pymm (pm_json_loads), jansson (json_loadb) and cjson
 * (cJSON_ParseWithLength). The python3 version is scripts/objects_json.py.
 *
 * The file is read into memory first. Then:
 *   1. RUNS timed runs (process CPU time, see objw_cpu_s): parse the bytes
 *      into a complete tree (load_s), free the tree (free_s: pm_decref /
 *      json_decref / cJSON_Delete); the median of each is reported;
 *   2. peak_rss_kb: the process's VmHWM at that point (the document's bytes,
 *      one tree at a time, the program itself);
 *   3. one measured run, not timed: heap bytes in use after the load minus
 *      before, over the number of JSON values in the tree (objects, arrays,
 *      strings, numbers, true/false/null; object keys are not values but
 *      their memory counts) = bytes_per_value. The value count is also
 *      printed as a check: every impl must find the same number.
 * Heap bytes: pymm, bytes_in_use + large_bytes of the runtime's heap
 * (pm_heap_get_stats; free lists emptied first so the difference is exact);
 * jansson and cJSON, a counting allocator installed for that run only
 * (json_set_alloc_funcs / cJSON_InitHooks) that adds malloc_usable_size of
 * every live block.
 */
#define _GNU_SOURCE
#include "pmb_objw.h"
#include "pmb_stats.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* A counting allocator (jansson, cJSON)                                    */
/* ------------------------------------------------------------------------ */

#if defined(PMB_IMPL_JANSSON) || defined(PMB_IMPL_CJSON)
/* Usable bytes of the live blocks given out by count_malloc. */
static size_t counted_bytes;

static void *count_malloc(size_t n) {
    void *p = malloc(n);
    if (p) counted_bytes += malloc_usable_size(p);
    return p;
}

static void count_free(void *p) {
    if (p) counted_bytes -= malloc_usable_size(p);
    free(p);
}
#endif

/* ------------------------------------------------------------------------ */
/* The parser of each impl                                                  */
/* ------------------------------------------------------------------------ */

#if defined(PMB_IMPL_PYMM)
#include "pymm.h"

typedef pm_object *doc;

static doc parse(const char *text, size_t n) {
    pm_json_error err;
    pm_object *o = pm_json_loads(text, n, 0, &err);
    if (!o) objw_die("pm_json_loads: line %zu col %zu: %s", err.line, err.col, err.message);
    return o;
}

static void release(doc d) { pm_decref(d); }

static double count_values(pm_object *o) {
    double n = 1;
    if (pm_is_type(o, &pm_dict_type)) {
        size_t pos = 0;
        pm_object *k, *v;
        while (pm_dict_next(o, &pos, &k, &v)) n += count_values(v);
    } else if (pm_is_type(o, &pm_list_type)) {
        size_t len = pm_list_size(o);
        for (size_t i = 0; i < len; i++) n += count_values(pm_list_get(o, (int64_t)i));
    }
    return n;
}

/* The C library's bytes in use: pymm's large blocks come from there, and so
 * would anything pymm allocated outside its heap. */
static size_t libc_in_use(void) { return mallinfo2().uordblks; }

static size_t heap_in_use(size_t *large) {
    pm_heap_stats st;
    pm_heap_get_stats(pm_runtime_heap(pm_runtime_current()), &st);
    *large = (size_t)st.large_bytes;
    return (size_t)(st.bytes_in_use + st.large_bytes);
}

/* Bytes of the tree parsed from text, by the heap's statistics. Also warns
 * when the C library's usage grew by more than the heap's large blocks:
 * memory of the tree that the heap statistics would miss. */
static double measure_bytes(const char *case_name, const char *text, size_t n, doc *out) {
    size_t large0, large1;
    pm_runtime_clear_freelists(pm_runtime_current());
    size_t libc0 = libc_in_use(), used0 = heap_in_use(&large0);
    *out = parse(text, n);
    size_t used1 = heap_in_use(&large1), libc1 = libc_in_use();
    double outside = ((double)libc1 - (double)libc0) - ((double)large1 - (double)large0);
    double used = (double)used1 - (double)used0;
    if (outside > 65536 && outside > used / 100)
        printf("PMB-NOTE %s: pymm: the C library's bytes in use grew by %.0f more than the "
               "heap's large blocks during the load (memory outside the heap statistics)\n",
               case_name, outside);
    return used;
}

#elif defined(PMB_IMPL_JANSSON)
#include <jansson.h>

typedef json_t *doc;

static doc parse(const char *text, size_t n) {
    json_error_t err;
    json_t *j = json_loadb(text, n, 0, &err);
    if (!j) objw_die("json_loadb: line %d col %d: %s", err.line, err.column, err.text);
    return j;
}

static void release(doc d) { json_decref(d); }

static double count_values(json_t *j) {
    double n = 1;
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) n += count_values(v);
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) n += count_values(v);
    }
    return n;
}

static double measure_bytes(const char *case_name, const char *text, size_t n, doc *out) {
    (void)case_name;
    json_set_alloc_funcs(count_malloc, count_free);
    size_t before = counted_bytes;
    *out = parse(text, n);
    double used = (double)counted_bytes - (double)before;
    /* The tree's blocks are malloc's either way: plain free releases them. */
    json_set_alloc_funcs(malloc, free);
    return used;
}

#elif defined(PMB_IMPL_CJSON)
#include <cjson/cJSON.h>

typedef cJSON *doc;

static doc parse(const char *text, size_t n) {
    cJSON *j = cJSON_ParseWithLength(text, n);
    if (!j)
        objw_die("cJSON_ParseWithLength failed near byte %td",
                 cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - text : (ptrdiff_t)-1);
    return j;
}

static void release(doc d) { cJSON_Delete(d); }

static double count_values(const cJSON *j) {
    double n = 1;
    if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
        for (const cJSON *c = j->child; c; c = c->next) n += count_values(c);
    }
    return n;
}

static double measure_bytes(const char *case_name, const char *text, size_t n, doc *out) {
    (void)case_name;
    cJSON_Hooks hooks = {count_malloc, count_free};
    cJSON_InitHooks(&hooks);
    size_t before = counted_bytes;
    *out = parse(text, n);
    double used = (double)counted_bytes - (double)before;
    cJSON_InitHooks(NULL); /* back to malloc/free */
    return used;
}

#else
#error "json: impls pymm, jansson and cjson only"
#endif

/* ------------------------------------------------------------------------ */
/* The measurement                                                          */
/* ------------------------------------------------------------------------ */

/* The median of the runs' load times and of their free times. */
static void timed_runs(const char *text, size_t n, long runs, double *load, double *release_s) {
    double *loads = malloc((size_t)runs * sizeof *loads);
    double *frees = malloc((size_t)runs * sizeof *frees);
    if (!loads || !frees) objw_die("out of memory (times)");
    for (long r = 0; r < runs; r++) {
        double t0 = objw_cpu_s();
        doc d = parse(text, n);
        double t1 = objw_cpu_s();
        release(d);
        double t2 = objw_cpu_s();
        loads[r] = t1 - t0;
        frees[r] = t2 - t1;
    }
    *load = pmb_spread_sort(loads, (size_t)runs).median;
    *release_s = pmb_spread_sort(frees, (size_t)runs).median;
    free(loads);
    free(frees);
}

int objw_json(int argc, char **argv) {
    if (argc != 4) objw_die("usage: json CASE FILE RUNS");
    const char *case_name = argv[1];
    long runs = objw_parse_long(argv[3], "runs");
    size_t n;
    char *text = objw_read_file(argv[2], &n);

    double load, release_s;
    timed_runs(text, n, runs, &load, &release_s);
    long rss = objw_peak_rss_kb();

    doc d;
    double bytes = measure_bytes(case_name, text, n, &d);
    double values = count_values(d);
    release(d);

    objw_emit(case_name, "load_s", load, "s");
    objw_emit(case_name, "free_s", release_s, "s");
    objw_emit(case_name, "peak_rss_kb", (double)rss, "KiB");
    objw_emit(case_name, "bytes_per_value", bytes / values, "B");
    objw_check(case_name, "values", values);
    free(text);
    return 0;
}
