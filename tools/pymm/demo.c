/*
 * demo.c -- `pymm demo`: a tour of what pymm does, shown on live figures.
 *
 * Each chapter is a short function that does something real and prints
 * what happened: the heap (1-5), objects (6-8), the collector (9-10),
 * tracing (11), which ends by writing the run's HTML report
 * ($TMPDIR/pymm-demo.html, or /tmp's) and saying how to open it.
 * Every allocation's result is checked (need, need_obj): on failure the
 * demo says what failed and exits with status 1.
 */
#define _DEFAULT_SOURCE
#include "pymm.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* An allocation the demo cannot go on without. */
static void *need(void *p, const char *what) {
    if (p == NULL) {
        fprintf(stderr, "pymm demo: %s failed: out of memory\n", what);
        exit(1);
    }
    return p;
}

/* An object call that must succeed: on NULL, the pending exception. */
static pm_object *need_obj(pm_object *o, const char *what) {
    if (o == NULL) {
        fprintf(stderr, "pymm demo: %s failed: %s: %s\n", what, pm_exc_name(pm_exc_occurred()),
                pm_exc_message());
        exit(1);
    }
    return o;
}

static void need_ok(int status, const char *what) {
    if (status < 0) need_obj(NULL, what);
}

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void chapter(const char *title) { printf("\n== %s ==\n", title); }

static void show_heap(pm_heap *h, const char *when) {
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    printf("  %-22s %3llu arenas, %5llu pools in use, %8.1f KiB in blocks, RSS %ld KiB\n", when,
           (unsigned long long)s.arenas, (unsigned long long)s.pools_used, s.bytes_in_use / 1024.0,
           rss_kb());
}

static void size_classes(pm_heap *h) {
    chapter("1. Size classes: small requests share pools of equal blocks");
    size_t sizes[] = {1, 16, 17, 100, 512, 513, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = need(pm_heap_malloc(h, sizes[i]), "pm_heap_malloc");
        printf("  malloc(%6zu) -> %p  %s block of %zu bytes, 16-byte aligned: %s\n", sizes[i], p,
               pm_heap_owns(h, p) ? "pool " : "large", pm_heap_block_size(h, p),
               ((uintptr_t)p % 16) == 0 ? "yes" : "no");
        pm_heap_free(h, p);
    }
}

/* Heap memory committed: carved pools not given back, less the free 4 KiB
 * pages given back inside pools still in use (pm_heap_trim's pages). */
static double committed_mib(const pm_heap_stats *s) {
    double pools = (double)(s->pools_used + s->pools_empty) * (double)s->pool_size;
    return (pools - (double)s->pages_decommitted * 4096.0) / 1048576.0;
}

/* pm_heap_trim, and what it gave back. After a random 99% free almost
 * every pool keeps a live block, so the arena and pool counts do not
 * move: the memory comes back as pages inside those pools. */
static void trim_and_explain(pm_heap *h) {
    pm_heap_stats a, b;
    pm_heap_get_stats(h, &a);
    long rss_before = rss_kb();
    size_t back = pm_heap_trim(h);
    long rss_after = rss_kb();
    pm_heap_get_stats(h, &b);
    show_heap(h, "after pm_heap_trim:");
    printf("  pm_heap_trim gave %.1f MiB back to the OS:\n", back / 1048576.0);
    printf("    %llu free 4 KiB pages inside pools that still hold live blocks,\n"
           "    %llu empty pools and %llu empty arenas\n",
           (unsigned long long)(b.pages_decommitted - a.pages_decommitted),
           (unsigned long long)(b.pools_decommitted - a.pools_decommitted),
           (unsigned long long)(b.arenas_reclaimed - a.arenas_reclaimed));
    printf("    committed heap memory %.1f MiB -> %.1f MiB, resident (RSS) %ld KiB -> %ld KiB\n",
           committed_mib(&a), committed_mib(&b), rss_before, rss_after);
    printf("  the arena and pool counts stay: a pool with one live block is in use, and an\n"
           "  arena with one such pool stays mapped; trim gives back the pages under them\n"
           "  (CPython frees only whole empty arenas)\n");
}

static void fragmentation(pm_heap *h) {
    enum { N = 400000 };
    chapter("2. Arenas and pools: fill, free 99% at random, give memory back");
    void **blocks = need(malloc(N * sizeof *blocks), "malloc");
    uint64_t seed = 42;
    show_heap(h, "before:");
    for (size_t i = 0; i < N; i++)
        blocks[i] = need(pm_heap_malloc(h, 16 + next_rand(&seed) % 497), "pm_heap_malloc");
    show_heap(h, "after 400,000 mallocs:");
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = next_rand(&seed) % (i + 1);
        void *t = blocks[i];
        blocks[i] = blocks[j];
        blocks[j] = t;
    }
    for (size_t i = 0; i < N - N / 100; i++) pm_heap_free(h, blocks[i]);
    show_heap(h, "after freeing 99%:");
    trim_and_explain(h);
    for (size_t i = N - N / 100; i < N; i++) pm_heap_free(h, blocks[i]);
    free(blocks);
}

static void on_error(pm_heap *h, const pm_error *err, void *arg) {
    (void)h;
    (void)arg;
    printf("  caught: %s\n", err->message);
}

static void debug_mode(void) {
    chapter("3. Debug mode: guard bytes, fill patterns, quarantine (PYMM_MALLOC=debug)");
    pm_heap_config cfg;
    pm_heap_config_init(&cfg);
    cfg.debug = 1;
    pm_heap *h = need(pm_heap_new(&cfg), "pm_heap_new");
    pm_heap_set_error_handler(h, on_error, NULL);
    /* volatile: the overrun is the point, out of alloc_size's sight */
    char *volatile p = need(pm_domain_malloc(h, PM_DOMAIN_OBJ, 24), "pm_domain_malloc");
    p[24] = 'x'; /* one byte too far */
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
    char *q = need(pm_domain_malloc(h, PM_DOMAIN_MEM, 40), "pm_domain_malloc");
    pm_domain_free(h, PM_DOMAIN_OBJ, q);
    int local;
    pm_domain_free(h, PM_DOMAIN_MEM, &local);
    pm_domain_free(h, PM_DOMAIN_MEM, q + 8);
    pm_domain_free(h, PM_DOMAIN_MEM, q);
    q[3] = 'y'; /* after the free: found by the check (the block is in quarantine) */
    char why[256];
    if (pm_heap_check(h, why, sizeof why, 0) != 0) printf("  heap check: %s\n", why);
    pm_heap_destroy(h);
}

static void *count_malloc(void *ctx, size_t n);
static void *count_calloc(void *ctx, size_t a, size_t b);
static void *count_realloc(void *ctx, void *p, size_t n);
static void count_free(void *ctx, void *p);

typedef struct counting {
    pm_allocator inner;
    long mallocs, frees;
} counting;

static void *count_malloc(void *ctx, size_t n) {
    counting *c = ctx;
    c->mallocs++;
    return c->inner.malloc(c->inner.ctx, n);
}
static void *count_calloc(void *ctx, size_t a, size_t b) {
    counting *c = ctx;
    c->mallocs++;
    return c->inner.calloc(c->inner.ctx, a, b);
}
static void *count_realloc(void *ctx, void *p, size_t n) {
    counting *c = ctx;
    return c->inner.realloc(c->inner.ctx, p, n);
}
static void count_free(void *ctx, void *p) {
    counting *c = ctx;
    c->frees++;
    c->inner.free(c->inner.ctx, p);
}

static void domains(void) {
    chapter("4. Domains: raw / mem / obj tables that hooks can wrap");
    pm_heap *h = need(pm_heap_new(NULL), "pm_heap_new");
    counting c = {0};
    pm_heap_get_allocator(h, PM_DOMAIN_OBJ, &c.inner);
    pm_allocator hook = {&c, count_malloc, count_calloc, count_realloc, count_free};
    pm_heap_set_allocator(h, PM_DOMAIN_OBJ, &hook);
    for (int i = 0; i < 1000; i++)
        pm_domain_free(h, PM_DOMAIN_OBJ,
                       need(pm_domain_malloc(h, PM_DOMAIN_OBJ, 64), "pm_domain_malloc"));
    pm_heap_set_allocator(h, PM_DOMAIN_OBJ, &c.inner);
    printf("  a counting hook stacked over the obj domain saw %ld mallocs and %ld frees\n",
           c.mallocs, c.frees);
    pm_heap_destroy(h);
}

/* ---- layer 2: objects -------------------------------------------------- */

static void show_refcnt(const char *label, pm_object *o) {
    if (pm_is_immortal(o)) printf("  %-34s refcount: immortal\n", label);
    else printf("  %-34s refcount: %u\n", label, o->refcnt);
}

static void objects_and_refcounts(void) {
    chapter("6. Objects: every object has a count and a type, freed at zero");
    pm_object *list = need_obj(pm_list_new(0), "pm_list_new");
    pm_object *title = need_obj(pm_str_from("Graph theory"), "pm_str_from");
    show_refcnt("a new str", title);
    need_ok(pm_list_append(list, title), "pm_list_append");
    show_refcnt("the str, also held by a list", title);
    pm_object *r = need_obj(pm_repr(list), "pm_repr");
    printf("  the list: %s\n", pm_str_utf8(r, NULL));
    pm_decref(r);
    pm_decref(list);
    show_refcnt("the str, after the list died", title);
    pm_decref(title);
    pm_object *small = need_obj(pm_int(7), "pm_int"), *big = need_obj(pm_int(1000000), "pm_int");
    show_refcnt("7 (a cached small int)", small);
    show_refcnt("1000000", big);
    pm_object *none = pm_none();
    show_refcnt("None", none);
    pm_decref(small);
    pm_decref(big);
    pm_decref(none);
    pm_object *huge = need_obj(pm_int(INT64_MAX), "pm_int"), *one = need_obj(pm_int(1), "pm_int");
    pm_object *sum = pm_int_add(huge, one); /* OverflowError is the point; not MemoryError */
    if (sum == NULL && pm_exc_occurred() == PM_EXC_MEMORY) need_obj(NULL, "pm_int_add");
    printf("  INT64_MAX + 1 -> %s: %s\n", sum ? "a number" : pm_exc_name(pm_exc_occurred()),
           pm_exc_message());
    pm_exc_clear();
    pm_xdecref(sum);
    pm_decref(huge);
    pm_decref(one);
}

static void interning(void) {
    chapter("7. Interning: one object per distinct interned string");
    pm_object *a = need_obj(pm_str_from("user_id"), "pm_str_from");
    pm_object *b = need_obj(pm_str_from("user_id"), "pm_str_from");
    printf("  two equal strings made apart are %s objects\n", a == b ? "the same" : "different");
    pm_object *ia = need_obj(pm_str_intern(a), "pm_str_intern");
    pm_object *ib = need_obj(pm_str_intern(b), "pm_str_intern");
    printf("  after pm_str_intern they are %s object\n", ia == ib ? "one" : "still two");
    pm_runtime_stats st;
    pm_runtime_get_stats(pm_runtime_current(), &st);
    printf("  interned strings: %llu, lookups: %llu, hits: %llu, bytes saved: %llu\n",
           (unsigned long long)st.interned, (unsigned long long)st.intern_lookups,
           (unsigned long long)st.intern_hits, (unsigned long long)st.intern_bytes_saved);
    pm_decref(a);
    pm_decref(b);
    pm_decref(ia);
    pm_decref(ib);
}

static void on_expire(pm_object *wr, pm_object *arg) {
    (void)wr;
    printf("  callback: the object behind weak reference '%s' died\n", pm_str_utf8(arg, NULL));
}

static void weak_references(void) {
    chapter("8. Weak references: they do not keep an object alive");
    pm_object *target = need_obj(pm_set_new(NULL), "pm_set_new");
    pm_object *label = need_obj(pm_str_from("cache entry"), "pm_str_from");
    pm_object *wr = need_obj(pm_weakref_new(target, on_expire, label), "pm_weakref_new");
    pm_object *got = need_obj(pm_weakref_get(wr), "pm_weakref_get");
    printf("  while the set lives, the weak reference gives it back: %s\n",
           got == target ? "yes" : "no");
    pm_decref(got);
    pm_decref(target);
    got = need_obj(pm_weakref_get(wr), "pm_weakref_get");
    printf("  after the last strong reference went, it gives None: %s\n",
           got == pm_none() ? "yes" : "no");
    pm_decref(got);
    pm_decref(wr);
    pm_decref(label);
}

/* ---- layer 3: the collector ------------------------------------------- */

/* One reference field: pymm traverses, clears and releases it. */
typedef struct pair_node {
    pm_object ob;
    pm_object *partner;
} pair_node;

static void cycles(void) {
    chapter("9. Cycles: reference counting leaks them, the collector frees them");
    pm_type_spec spec = {.name = "Pair", .basicsize = sizeof(pair_node), .nrefs = 1};
    pm_type *t = (pm_type *)need_obj((pm_object *)pm_type_new(&spec), "pm_type_new");
    pm_gc_disable();
    pm_gc_collect(2);
    pm_runtime_stats before, after;
    pm_runtime_get_stats(pm_runtime_current(), &before);
    enum { PAIRS = 100000 };
    for (int i = 0; i < PAIRS; i++) {
        pm_object *a = need_obj(pm_object_new(t), "pm_object_new");
        pm_object *b = need_obj(pm_object_new(t), "pm_object_new");
        ((pair_node *)a)->partner = b;            /* a owns b ...          */
        ((pair_node *)b)->partner = pm_newref(a); /* ... and b owns a      */
        pm_decref(a);                             /* the program lets go   */
    }
    pm_runtime_get_stats(pm_runtime_current(), &after);
    printf("  made %d pairs that point at each other and dropped them:\n", PAIRS);
    printf("  objects still alive: %llu (reference counting alone cannot free a cycle)\n",
           (unsigned long long)(after.objects_allocated - after.objects_freed -
                                (before.objects_allocated - before.objects_freed)));
    int64_t n = pm_gc_collect(2);
    if (n < 0) need_obj(NULL, "pm_gc_collect");
    pm_runtime_get_stats(pm_runtime_current(), &after);
    pm_gc_generation_stats gs[3];
    pm_gc_get_stats(gs);
    printf("  pm_gc_collect(2) found %lld unreachable objects and freed them; alive now: %llu\n",
           (long long)n,
           (unsigned long long)(after.objects_allocated - after.objects_freed -
                                (before.objects_allocated - before.objects_freed)));
    printf("  full collections so far: %llu, objects collected: %llu, longest pause: %.2f ms\n",
           (unsigned long long)gs[2].collections, (unsigned long long)gs[2].collected,
           gs[2].pause_max_ms);
    pm_gc_enable();
    pm_decref(PM_OBJ(t));
}

/* Two reference fields; the frozen variant's are given at birth. */
typedef struct tree_node {
    pm_object ob;
    pm_object *left, *right;
} tree_node;

static pm_object *make_tree(pm_type *t, int depth) {
    pm_object *children[2] = {NULL, NULL};
    if (depth > 0) {
        children[0] = make_tree(t, depth - 1);
        children[1] = make_tree(t, depth - 1);
    }
    return need_obj(pm_object_new_refs_steal(t, children), "pm_object_new_refs_steal");
}

static void frozen_types(void) {
    chapter("10. Frozen types: nodes that can be in no cycle cost the collector nothing");
    pm_gc_collect(2);
    for (int frozen = 1; frozen >= 0; frozen--) {
        pm_type_spec spec = {.name = frozen ? "FrozenNode" : "Node",
                             .basicsize = sizeof(tree_node),
                             .nrefs = 2,
                             .flags = frozen ? PM_TPFLAGS_FROZEN : 0};
        pm_type *t = (pm_type *)need_obj((pm_object *)pm_type_new(&spec), "pm_type_new");
        pm_object *root = make_tree(t, 16); /* takes the children */
        pm_object *everything = need_obj(pm_gc_get_objects(-1), "pm_gc_get_objects");
        printf("  %-10s tree of 131,071 nodes: root tracked: %s; tracked objects in the runtime: "
               "%zu\n",
               spec.name, pm_gc_is_tracked(root) ? "yes" : "no", pm_list_size(everything));
        pm_decref(everything);
        pm_decref(root); /* the whole tree goes, by reference counting */
        pm_decref(PM_OBJ(t));
    }
    printf(
        "  (a frozen node's fields are fixed when it is made; when none of them can be in a "
        "cycle,\n"
        "   neither can the node: CPython's rule for tuples of atomic items, applied at birth)\n");
}

int pymm_report_main(int argc, char **argv);

static void pause_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0) continue;
}

/* The script's last two lines: cycles for the collector to find (a pause
 * on the page's timeline) and a large buffer written through and let go
 * (a rise and fall of the RSS), each held a moment so that the timeline
 * shows it. */
static void script_cycles_and_buffer(void) {
    pm_trace_section_begin("cycles");
    pm_trace_set_line(4); /* for i in range(3000): l = []; l.append(l) */
    for (int i = 0; i < 3000; i++) {
        pm_object *l = need_obj(pm_list_new(0), "pm_list_new");
        if (pm_list_append(l, l) != 0) need_obj(NULL, "pm_list_append");
        pm_decref(l);
    }
    pm_trace_set_line(5); /* gc.collect() */
    if (pm_gc_collect(2) < 0) need_obj(NULL, "pm_gc_collect");
    pm_trace_section_end();
    pause_ms(30);
    pm_trace_mark("buffer");
    pm_trace_set_line(6); /* buf = bytearray(16 << 20), filled a MiB at a time */
    enum { MIB = 1 << 20, BUFFER = 16 * MIB };
    char *buf = need(pm_mem_malloc(BUFFER), "pm_mem_malloc");
    for (int i = 0; i < BUFFER / MIB; i++) {
        memset(buf + (size_t)i * MIB, 1, MIB);
        pause_ms(4);
        pm_mem_free(need(pm_mem_malloc(16), "pm_mem_malloc")); /* an event: RSS sampled */
    }
    pause_ms(30);
    pm_trace_set_line(7); /* del buf */
    pm_mem_free(buf);
    for (int i = 0; i < 2; i++) { /* the RSS after it, held a moment on the timeline */
        pause_ms(30);
        pm_mem_free(need(pm_mem_malloc(16), "pm_mem_malloc"));
    }
}

/* A tiny "script" run under the recorder, as an interpreter embedding
 * pymm would run one: it tells pymm its own frames (file, function,
 * line), keeps a list of floats (a leak, as far as the trace can tell),
 * drops a temporary dict, makes cycles for the collector and holds a
 * large buffer a moment. Then `pymm report` reads the capture, as text
 * and as the HTML page. */
/* ---- 11: leak verdicts ---------------------------------------------------- */

static pm_object *demo_sessions; /* the server's cache, held by its root */

/* A request whose dict is never released on the first call (unowned),
 * and whose id joins a cache with no bound (growth). */
static __attribute__((noinline)) void demo_request(int i) {
    pm_object *req = need_obj(pm_dict_new(), "pm_dict_new");
    pm_object *id = need_obj(pm_int(100000 + i), "pm_int");
    need_ok(pm_dict_set_str(req, "id", id), "pm_dict_set_str");
    need_ok(pm_list_append(demo_sessions, id), "pm_list_append");
    pm_decref(id);
    if (i != 0) pm_decref(req);
}

/* A parent and a child that hold each other: only the collector frees
 * them, and it is off (cycle); and a buffer whose pointer is dropped
 * (block). */
static __attribute__((noinline)) void demo_tree_and_buffer(void) {
    pm_object *parent = need_obj(pm_dict_new(), "pm_dict_new");
    pm_object *child = need_obj(pm_dict_new(), "pm_dict_new");
    need_ok(pm_dict_set_str(parent, "child", child), "pm_dict_set_str");
    need_ok(pm_dict_set_str(child, "parent", parent), "pm_dict_set_str");
    pm_decref(child);
    pm_decref(parent);
    char *buf = need(pm_mem_malloc(4096), "pm_mem_malloc");
    *(char *volatile *)&buf[0] = 0;
}

static void leak_verdicts(void) {
    chapter("11. Leaks: four kinds, each with a verdict and its path (PYMM_LEAKS=1)");
    printf("A server loop leaks four ways; a check at each of four checkpoints judges what\n"
           "was born since a mark, and the last one explains each leak:\n");
    pm_gc_disable();
    need_ok(pm_census_mark(NULL), "pm_census_mark");
    pm_object *root = need_obj(pm_dict_new(), "pm_dict_new");
    demo_sessions = need_obj(pm_list_new(0), "pm_list_new");
    need_ok(pm_dict_set_str(root, "sessions", demo_sessions), "pm_dict_set_str");
    need_ok(pm_root_add(root, "server"), "pm_root_add");
    pm_decref(demo_sessions); /* borrowed from now on: the root holds it */
    pm_leak_watch *w = need(pm_leak_watch_new(0, PM_LEAK_WARMUP_DEFAULT), "pm_leak_watch_new");
    pm_leaks *r = NULL;
    for (int checkpoint = 1; checkpoint <= 4; checkpoint++) {
        for (int i = 0; i < 100; i++) demo_request((checkpoint - 1) * 100 + i);
        if (checkpoint == 1) demo_tree_and_buffer();
        pm_leaks_free(r);
        r = pm_leaks_check(NULL, w, 0);
        if (r == NULL) need_obj(NULL, "pm_leaks_check");
        printf("  checkpoint %d: %zu verdicts\n", checkpoint, pm_leaks_count(r));
    }
    pm_leaks_print(r, stdout);
    pm_leaks_free(r);
    pm_leak_watch_free(w);
    need_ok(pm_root_remove(root), "pm_root_remove"); /* the server, its cache with it */
    pm_decref(root);
    pm_census_unmark(NULL);
    pm_gc_enable();
    if (pm_gc_collect(2) < 0)
        need_obj(
            NULL,
            "pm_gc_collect"); /* the cycle goes; the unowned request and the buffer stay, as planted */
}

static void tracing(void) {
    chapter("12. Tracing: where the memory went (PYMM_TRACE=FILE, pymm report FILE)");
    const char *tmp = getenv("TMPDIR");
    char path[512], page[512];
    snprintf(path, sizeof path, "%s/pymm-demo-trace-%ld.trc", tmp && tmp[0] ? tmp : "/tmp",
             (long)getpid());
    snprintf(page, sizeof page, "%s/pymm-demo.html", tmp && tmp[0] ? tmp : "/tmp");
    pm_trace_config cfg = PM_TRACE_CONFIG_INIT;
    cfg.file = path;
    if (pm_trace_start(&cfg) != 0) {
        printf("  (cannot trace into %s: %s; skipped)\n", path, strerror(errno));
        return;
    }
    pm_trace_push_frame("demo.script", "main", 1);
    pm_trace_mark("script starts");
    pm_trace_section_begin("build_list");
    pm_trace_set_line(2); /* kept = [i + 0.5 for i in range(2000)] */
    pm_object *kept = need_obj(pm_list_new(0), "pm_list_new");
    for (int i = 0; i < 2000; i++)
        if (pm_list_append_steal(kept, need_obj(pm_float(i + 0.5), "pm_float")) != 0)
            need_obj(NULL, "pm_list_append_steal");
    pm_trace_section_end();
    pm_trace_section_begin("temp_dict");
    pm_trace_set_line(3); /* temp = {str(i): i for i in range(500)}; del temp */
    pm_object *temp = need_obj(pm_dict_new(), "pm_dict_new");
    for (int i = 0; i < 500; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        pm_object *k = need_obj(pm_str_from(key), "pm_str_from"),
                  *v = need_obj(pm_int(i), "pm_int");
        if (pm_dict_set(temp, k, v) != 0) need_obj(NULL, "pm_dict_set");
        pm_decref(k);
        pm_decref(v);
    }
    pm_decref(temp);
    pm_trace_section_end();
    script_cycles_and_buffer();
    pm_trace_pop_frame();
    size_t now, peak;
    pm_trace_get_traced_memory(&now, &peak);
    printf("  traced: %zu bytes live now, %zu at the peak, %llu allocations, %s\n", now, peak,
           (unsigned long long)pm_trace_recorded(), pm_trace_unwinder());
    pm_trace_stop();
    pm_decref(kept); /* after the stop: the capture sees it as never freed */
    printf("  $ pymm report %s --top 2\n", path);
    fflush(stdout);
    char *args[] = {"report", path, "--top", "2", NULL};
    pymm_report_main(4, args);
    printf("\n  $ pymm report %s --format html -o %s\n", path, page);
    fflush(stdout);
    char *html[] = {"report", path, "--format", "html", "-o", page, NULL};
    if (pymm_report_main(6, html) == 0)
        printf("  The run's report, one page that needs nothing but itself (flame graphs,\n"
               "  allocation sites, a timeline with the RSS and the collector's pause):\n"
               "    %s\n"
               "  Open it in a browser: xdg-open %s  (or file://%s)\n",
               page, page, page);
    remove(path);
}

int pymm_demo(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("pymm %s: CPython's memory manager as a C library.\n", PYMM_VERSION_STRING);
    pm_heap *h = pm_heap_new(NULL);
    if (h == NULL) {
        fprintf(stderr, "pymm demo: cannot create a heap\n");
        return 1;
    }
    size_classes(h);
    fragmentation(h);
    pm_heap_destroy(h);
    debug_mode();
    domains();
    chapter("5. Statistics (like sys._debugmallocstats), for the default heap");
    void *keep[64];
    for (int i = 0; i < 64; i++)
        keep[i] = need(pm_obj_malloc((size_t)(i % 8 + 1) * 48), "pm_obj_malloc");
    pm_heap_print_stats(pm_heap_default(), stdout);
    for (int i = 0; i < 64; i++) pm_obj_free(keep[i]);
    objects_and_refcounts();
    interning();
    weak_references();
    cycles();
    frozen_types();
    leak_verdicts();
    tracing();
    return 0;
}
