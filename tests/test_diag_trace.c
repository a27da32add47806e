/*
 * test_diag_trace.c -- the allocation recorder (src/diag/trace.c): what it
 * counts on every path a block can take, where it says a block came from,
 * and what it leaves when it stops.
 */
#define _GNU_SOURCE
#include "diag/capture_format.h"
#include "diag/diag.h"
#include "testutil.h"
#ifdef PYMM_HAVE_ZSTD
#include <zstd.h>
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t traced_now(void) {
    size_t current, peak;
    pm_trace_get_traced_memory(&current, &peak);
    return current;
}

/* Is frame inside fn? Frames are return addresses minus one; a call from
 * the small functions below lies well within their first 256 bytes. */
static bool frame_in(const void *frame, void (*fn)(void)) {
    const char *f = frame, *start = (const char *)(uintptr_t)fn;
    return f >= start && f < start + 256;
}

static void test_start_stop(void) {
    CHECK(!pm_trace_is_tracing());
    pm_trace_config bad = PM_TRACE_CONFIG_INIT;
    bad.frames = PM_TRACE_MAX_FRAMES + 1;
    errno = 0;
    CHECK_EQ(pm_trace_start(&bad), -1);
    CHECK_EQ(errno, EINVAL);
    CHECK(!pm_trace_is_tracing());

    CHECK_EQ(pm_trace_start(NULL), 0);
    CHECK(pm_trace_is_tracing());
    errno = 0;
    CHECK_EQ(pm_trace_start(NULL), -1);
    CHECK_EQ(errno, EBUSY);
    CHECK(pm_trace_overhead() > 0);
    pm_trace_stop();
    CHECK(!pm_trace_is_tracing());
    CHECK_EQ(traced_now(), 0);
    CHECK_EQ(pm_trace_overhead(), 0);
    pm_trace_stop(); /* twice is harmless */
}

/* Every domain, exact requested sizes, each way back. */
static void test_domains_exact(void) {
    void *before = pm_mem_malloc(77); /* not traced, nor is its free */
    CHECK_EQ(pm_trace_start(NULL), 0);
    CHECK_EQ(traced_now(), 0);
    void *raw = pm_raw_malloc(1000);
    void *mem = pm_mem_malloc(100);
    void *obj = pm_obj_malloc(48);
    void *medium = pm_mem_malloc(3000);
    void *large = pm_mem_malloc(1 << 20);
    void *zeroed = pm_mem_calloc(10, 10);
    CHECK(raw && mem && obj && medium && large && zeroed);
    CHECK_EQ(traced_now(), 1000 + 100 + 48 + 3000 + (1 << 20) + 100);
    CHECK_EQ(pm_trace_recorded(), 6);
    pm_mem_free(before);
    CHECK_EQ(traced_now(), 1000 + 100 + 48 + 3000 + (1 << 20) + 100);

    mem = pm_mem_realloc(mem, 5000); /* to a medium block: moves */
    CHECK_EQ(traced_now(), 1000 + 5000 + 48 + 3000 + (1 << 20) + 100);
    large = pm_mem_realloc(large, 10); /* a large block into a pool */
    CHECK_EQ(traced_now(), 1000 + 5000 + 48 + 3000 + 10 + 100);
    size_t current, peak;
    pm_trace_get_traced_memory(&current, &peak);
    CHECK_EQ(peak, 1000 + 5000 + 48 + 3000 + (1 << 20) + 100);

    pm_raw_free(raw);
    pm_mem_free(mem);
    pm_obj_free(obj);
    pm_mem_free(medium);
    pm_mem_free(large);
    pm_mem_free(zeroed);
    CHECK_EQ(traced_now(), 0);
    pm_trace_reset_peak();
    pm_trace_get_traced_memory(&current, &peak);
    CHECK_EQ(peak, 0);
    pm_trace_stop();
}

static __attribute__((noinline)) void site_a(void **out) { *out = pm_mem_malloc(4000); }
static __attribute__((noinline)) void site_b(void **out) { *out = pm_mem_malloc(100); }

/* The top stacks name the lines that allocated, biggest first, with the
 * domain; a block's traceback names its own line. One frame: the loops
 * below may be unrolled into several call sites of site_a, but every
 * stack of one frame is site_a's own call. */
static void test_attribution(void) {
    pm_trace_config cfg = PM_TRACE_CONFIG_INIT;
    cfg.frames = 1;
    CHECK_EQ(pm_trace_start(&cfg), 0);
    void *a[3], *b[5];
    CHECK(strcmp(pm_trace_unwinder(), "deciding") == 0);
    for (int i = 0; i < 3; i++) site_a(&a[i]);
    for (int i = 0; i < 5; i++) site_b(&b[i]);
    for (int i = 0; i < 100; i++) { /* the trial's 64 stacks, and the cache's hits */
        void *x;
        site_b(&x);
        pm_mem_free(x);
    }
    pm_trace_stat top[4];
    size_t n = pm_trace_top(top, 4);
    CHECK(n >= 2);
    CHECK_EQ(top[0].size, 3 * 4000);
    CHECK_EQ(top[0].count, 3);
    CHECK_EQ(top[0].domain, PM_DOMAIN_MEM);
    CHECK_EQ(top[1].size, 5 * 100);
    CHECK_EQ(top[1].count, 5);
    void *frames[8];
    size_t nf = pm_trace_stack_frames(top[0].stack, frames, 8);
    CHECK_EQ(nf, 1);
    CHECK(frame_in(frames[0], (void (*)(void))site_a));
    nf = pm_trace_get_traceback(b[2], frames, 8);
    CHECK(nf >= 1 && frame_in(frames[0], (void (*)(void))site_b));
    CHECK_EQ(pm_trace_get_traceback(frames, frames, 8), 0); /* not a block */
    for (int i = 0; i < 3; i++) pm_mem_free(a[i]);
    CHECK_EQ(pm_trace_get_traceback(a[0], frames, 8), 0); /* freed */
    n = pm_trace_top(top, 4);
    CHECK(n >= 1 && top[0].size == 5 * 100);
    for (int i = 0; i < 5; i++) pm_mem_free(b[i]);
    CHECK_EQ(pm_trace_top(top, 4), 0);
    /* 64 stacks read both ways decided how stacks are read. */
    CHECK(strcmp(pm_trace_unwinder(), "frame pointers") == 0 ||
          strcmp(pm_trace_unwinder(), "unwinder") == 0);
    pm_trace_stop();
    CHECK(strcmp(pm_trace_unwinder(), "off") == 0);

    /* Deeper stacks: site_a, then this function. */
    cfg.frames = 3;
    CHECK_EQ(pm_trace_start(&cfg), 0);
    site_a(&a[0]);
    nf = pm_trace_get_traceback(a[0], frames, 8);
    CHECK(nf >= 2 && nf <= 3);
    CHECK(frame_in(frames[0], (void (*)(void))site_a));
    pm_mem_free(a[0]);
    pm_trace_stop();
}

/* Interpreter frames: a block allocated under pushed frames has the C
 * frames first, then the script's, innermost first; set_line moves the
 * innermost; popped frames are gone from later stacks. */
static void test_interpreter_frames(void) {
    CHECK_EQ(pm_trace_start(NULL), 0);
    static const char file[] = "app.py";
    pm_trace_push_frame(file, "main", 10);
    pm_trace_push_frame(file, "work", 17);
    void *a, *b, *c;
    site_a(&a);
    pm_trace_set_line(18);
    site_a(&b);
    pm_trace_pop_frame();
    pm_trace_pop_frame();
    site_a(&c);
    void *frames[PM_TRACE_MAX_FRAMES * 2];
    size_t n = pm_trace_get_traceback(a, frames, PM_TRACE_MAX_FRAMES * 2);
    CHECK(n >= 3);
    pm_trace_frame f;
    CHECK_EQ(pm_trace_frame_info(frames[0], &f), 0);
    CHECK_EQ(f.interpreter, 0); /* site_a's call, a native frame */
    CHECK(frame_in(frames[0], (void (*)(void))site_a));
    CHECK_EQ(pm_trace_frame_info(frames[n - 2], &f), 0);
    CHECK(f.interpreter && f.file == file && strcmp(f.function, "work") == 0 && f.line == 17);
    CHECK_EQ(pm_trace_frame_info(frames[n - 1], &f), 0);
    CHECK(f.interpreter && strcmp(f.function, "main") == 0 && f.line == 10);
    size_t nb = pm_trace_get_traceback(b, frames, PM_TRACE_MAX_FRAMES * 2);
    CHECK_EQ(nb, n);
    CHECK(pm_trace_frame_info(frames[nb - 2], &f) == 0 && f.line == 18);
    size_t nc = pm_trace_get_traceback(c, frames, PM_TRACE_MAX_FRAMES * 2);
    CHECK_EQ(nc, n - 2);
    for (size_t i = 0; i < nc; i++)
        CHECK(pm_trace_frame_info(frames[i], &f) == 0 && !f.interpreter);
    pm_mem_free(a);
    pm_mem_free(b);
    pm_mem_free(c);
    pm_trace_stop();
    /* Deeper than kept: the innermost 128 are kept; popping back below
     * what was overwritten leaves no frame until one is pushed again. */
    CHECK_EQ(pm_trace_start(NULL), 0);
    for (int i = 0; i < 200; i++) pm_trace_push_frame(file, "deep", i);
    site_a(&a);
    n = pm_trace_get_traceback(a, frames, PM_TRACE_MAX_FRAMES * 2);
    CHECK(n > 16 && pm_trace_frame_info(frames[n - 16], &f) == 0); /* 16 kept of each kind */
    CHECK(f.interpreter && f.line == 199);
    pm_mem_free(a);
    for (int i = 0; i < 100; i++) pm_trace_pop_frame(); /* depth 100: 72..99 kept */
    site_a(&a);
    n = pm_trace_get_traceback(a, frames, PM_TRACE_MAX_FRAMES * 2);
    CHECK(n > 16 && pm_trace_frame_info(frames[n - 16], &f) == 0 && f.line == 99);
    pm_mem_free(a);
    for (int i = 0; i < 50; i++) pm_trace_pop_frame(); /* depth 50: all overwritten */
    site_a(&a);
    n = pm_trace_get_traceback(a, frames, PM_TRACE_MAX_FRAMES * 2);
    CHECK(n > 0 && pm_trace_frame_info(frames[n - 1], &f) == 0 && !f.interpreter);
    pm_mem_free(a);
    pm_trace_push_frame(file, "again", 7); /* depth 51: this one alone */
    site_a(&a);
    n = pm_trace_get_traceback(a, frames, PM_TRACE_MAX_FRAMES * 2);
    CHECK(n > 1 && pm_trace_frame_info(frames[n - 1], &f) == 0 && f.interpreter && f.line == 7);
    CHECK(pm_trace_frame_info(frames[n - 2], &f) == 0 && !f.interpreter);
    pm_mem_free(a);
    for (int i = 0; i < 51; i++) pm_trace_pop_frame();
    pm_trace_pop_frame(); /* one too many: nothing happens */
    site_a(&a);
    n = pm_trace_get_traceback(a, frames, PM_TRACE_MAX_FRAMES * 2);
    for (size_t i = 0; i < n; i++) CHECK(pm_trace_frame_info(frames[i], &f) == 0 && !f.interpreter);
    pm_mem_free(a);
    pm_trace_stop();
}

/* An object's traceback names where it was made, even when its block came
 * back through a free list (floats, tuples and lists have them): while
 * tracing, free lists neither take nor give. */
static __attribute__((noinline)) void float_here(pm_object **out, double v) { *out = pm_float(v); }
static __attribute__((noinline)) void float_there(pm_object **out, double v) { *out = pm_float(v); }
static __attribute__((noinline)) void tuple_here(pm_object **out) { *out = pm_tuple_new(2); }

/* Is fn the one of the three sites whose code holds a frame of o's
 * traceback? (They are small and may sit within 256 bytes of each other:
 * a frame is the nearest site's below it.) */
static bool made_in(const pm_object *o, void (*fn)(void)) {
    void (*sites[])(void) = {(void (*)(void))float_here, (void (*)(void))float_there,
                             (void (*)(void))tuple_here};
    void *frames[4];
    size_t n = pm_trace_object_traceback(o, frames, 4);
    for (size_t i = 0; i < n; i++) {
        void (*best)(void) = NULL;
        for (size_t k = 0; k < 3; k++)
            if (frame_in(frames[i], sites[k]) &&
                (best == NULL || (uintptr_t)sites[k] > (uintptr_t)best))
                best = sites[k];
        if (best == fn) return true;
    }
    return false;
}

static void test_object_traceback(void) {
    pm_runtime *rt = pm_runtime_new(NULL);
    CHECK(rt != NULL);
    pm_runtime *saved = pm_runtime_enter(rt);
    pm_object *a, *b, *t;
    for (int i = 0; i < 10; i++) { /* the free list fills */
        float_here(&a, i);
        pm_decref(a);
    }
    pm_trace_config cfg = PM_TRACE_CONFIG_INIT;
    cfg.frames = 4;
    CHECK_EQ(pm_trace_start(&cfg), 0);
    float_here(&a, 1.0);
    tuple_here(&t);
    CHECK(a != NULL && t != NULL);
    CHECK(made_in(a, (void (*)(void))float_here) && made_in(t, (void (*)(void))tuple_here));
    pm_decref(a);
    float_there(&b, 2.0); /* a's block, perhaps: made here now */
    CHECK(made_in(b, (void (*)(void))float_there) && !made_in(b, (void (*)(void))float_here));
    CHECK_EQ(pm_trace_object_traceback(NULL, NULL, 0), 0);
    pm_object *none = pm_none();
    void *frame[1];
    CHECK_EQ(pm_trace_object_traceback(none, frame, 1), 0); /* static: no block */
    pm_decref(none);
    pm_decref(b);
    pm_decref(t);
    pm_trace_stop();
    pm_runtime_enter(saved);
    pm_runtime_destroy(rt);
}

/* Sampled mode, fixed seed: 200,000 blocks of 64 bytes (12.8 MB) at one
 * sample per 64 KiB give about 195 samples, each counted as the 1024.5
 * blocks it stands for: the live total is within 25% of the truth (3.5
 * standard errors; with this seed the draw is fixed), far fewer blocks
 * are recorded than allocated, and blocks much larger than the gap are
 * all recorded at about their own size. */
static void test_sampling(void) {
    pm_trace_config cfg = PM_TRACE_CONFIG_INIT;
    cfg.sample_bytes = 64 * 1024;
    cfg.seed = 12345;
    cfg.frames = 1;
    CHECK_EQ(pm_trace_start(&cfg), 0);
    enum { N = 200000 };
    void **blocks = malloc(N * sizeof *blocks);
    for (int i = 0; i < N; i++) blocks[i] = pm_mem_malloc(64);
    size_t current, peak;
    pm_trace_get_traced_memory(&current, &peak);
    CHECK(current > (size_t)N * 64 * 3 / 4 && current < (size_t)N * 64 * 5 / 4);
    uint64_t recorded = pm_trace_recorded();
    CHECK(recorded > 100 && recorded < 400);
    pm_trace_stat top[2];
    CHECK(pm_trace_top(top, 2) >= 1);
    CHECK(top[0].count > N * 3 / 4 && top[0].count < N * 5 / 4); /* counts scaled too */
    for (int i = 0; i < N; i++) pm_mem_free(blocks[i]);
    pm_trace_get_traced_memory(&current, NULL);
    CHECK_EQ(current, 0); /* each free takes out what its allocation put in */
    void *big[10];
    for (int i = 0; i < 10; i++) big[i] = pm_mem_malloc(1 << 20);
    pm_trace_get_traced_memory(&current, NULL);
    CHECK(current >= (size_t)10 << 20 && current < ((size_t)10 << 20) + 1000);
    for (int i = 0; i < 10; i++) pm_mem_free(big[i]);
    pm_trace_stop();
    free(blocks);
}

/* Out of memory inside the recorder: every allocation of the program
 * still succeeds; those the recorder cannot record are counted as
 * dropped, and the totals hold what was recorded. 300,000 blocks of 16
 * bytes need more side arrays than the recorder's first chunk holds. */
/* The sampler's own ln and e^x - 1 (capture_format.h) against libm's,
 * over what sampling asks of them: ln of (0, 1], e^x - 1 of -n/R for
 * blocks of 1 byte to 2^40 against R of 1 to 2^40. */
static void test_sampling_math(void) {
    for (double u = 0x1p-53; u <= 1.0; u *= 1.0009765625) {
        double want = log(u), got = pmd_ln(u);
        CHECK(fabs(got - want) <= 4 * 0x1p-52 * fmax(1.0, fabs(want)));
    }
    CHECK(pmd_ln(1.0) == 0.0);
    for (double x = -0x1p-40; x >= -800; x *= 1.0009765625) {
        double want = expm1(x), got = pmd_expm1_neg(x);
        CHECK(fabs(got - want) <= 4 * 0x1p-52 * fabs(want));
    }
    CHECK(pmd_expm1_neg(-1000) == -1.0);
    CHECK(fabs(pmd_sample_weight(1, 1) - 1.0 / (1.0 - exp(-1.0))) < 1e-15);
}

static void test_recorder_out_of_memory(void) {
    pm_trace_config cfg = PM_TRACE_CONFIG_INIT;
    cfg.frames = 1;
    CHECK_EQ(pm_trace_start(&cfg), 0);
    pmd_trace_fail_maps(0);
    enum { N = 300000 };
    void **blocks = malloc(N * sizeof *blocks);
    int failed = 0;
    for (int i = 0; i < N; i++) failed += (blocks[i] = pm_mem_malloc(16)) == NULL;
    CHECK_EQ(failed, 0);
    CHECK(pm_trace_dropped() > 0);
    CHECK_EQ(pm_trace_recorded() + pm_trace_dropped(), (uint64_t)N);
    size_t current;
    pm_trace_get_traced_memory(&current, NULL);
    CHECK_EQ(current, 16 * pm_trace_recorded());
    for (int i = 0; i < N; i++) pm_mem_free(blocks[i]);
    pm_trace_get_traced_memory(&current, NULL);
    CHECK_EQ(current, 0);
    pmd_trace_fail_maps(-1);
    pm_trace_stop();
    free(blocks);
}

/* The line hook: called before the recorder reads interpreter frames
 * (so the line it sets is the one recorded), never for a thread with none
 * pushed, and gone once removed. */
static int hook_calls;
static void line_hook(void *arg) {
    hook_calls++;
    pm_trace_set_line(*(int *)arg);
}

static void test_line_hook(void) {
    static const char file[] = "lazy.py";
    int line = 31;
    pm_trace_set_line_hook(line_hook, &line);
    CHECK_EQ(pm_trace_start(NULL), 0);
    void *a, *b;
    site_a(&a); /* no interpreter frame: no call */
    CHECK_EQ(hook_calls, 0);
    pm_trace_push_frame(file, "f", 1);
    site_a(&b);
    CHECK_EQ(hook_calls, 1);
    void *frames[PM_TRACE_MAX_FRAMES * 2];
    pm_trace_frame f;
    size_t n = pm_trace_get_traceback(b, frames, PM_TRACE_MAX_FRAMES * 2);
    CHECK(n > 1 && pm_trace_frame_info(frames[n - 1], &f) == 0 && f.interpreter && f.line == 31);
    pm_mem_free(b);
    pm_trace_set_line_hook(NULL, NULL);
    pm_trace_set_line(5);
    site_a(&b);
    CHECK_EQ(hook_calls, 1);
    n = pm_trace_get_traceback(b, frames, PM_TRACE_MAX_FRAMES * 2);
    CHECK(n > 1 && pm_trace_frame_info(frames[n - 1], &f) == 0 && f.line == 5);
    pm_trace_pop_frame();
    pm_mem_free(a);
    pm_mem_free(b);
    pm_trace_stop();
}

/* Sections: net change, peak above the start, occurrences; nested. */
static void test_sections(void) {
    static const char outer[] = "outer", inner[] = "inner";
    pm_trace_section_begin(outer); /* before the start: not measured */
    CHECK_EQ(pm_trace_start(NULL), 0);
    pm_trace_section_end();
    pm_trace_mark("no file: nothing to write");
    void *kept[2];
    for (int round = 0; round < 2; round++) {
        pm_trace_section_begin(outer);
        kept[round] = pm_mem_malloc(1000);
        pm_trace_section_begin(inner);
        void *tmp = pm_mem_malloc(5000);
        pm_mem_free(tmp);
        pm_trace_section_end();
        pm_trace_section_end();
    }
    pm_trace_section stats[4];
    size_t n = pm_trace_sections(stats, 4);
    CHECK_EQ(n, 2);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(stats[i].occurrences, 2);
        if (stats[i].name == outer) {
            CHECK_EQ(stats[i].net_bytes, 2000);
            CHECK_EQ(stats[i].peak_bytes, 6000);
        } else {
            CHECK(stats[i].name == inner);
            CHECK_EQ(stats[i].net_bytes, 0);
            CHECK_EQ(stats[i].peak_bytes, 5000);
        }
    }
    pm_mem_free(kept[0]);
    pm_mem_free(kept[1]);
    pm_trace_stop();
    CHECK_EQ(pm_trace_sections(stats, 4), 0);
    pm_trace_section_end(); /* unbalanced: nothing happens */
}

/* Objects: the object layer's inline paths leave for the recorder. */
static void test_objects(void) {
    CHECK_EQ(pm_trace_start(NULL), 0);
    pm_object *list = pm_list_new(0);
    pm_object *tuple = pm_tuple_new(3);
    CHECK(list && tuple);
    void *frames[4];
    CHECK(pm_trace_get_traceback(list, frames, 4) > 0);
    CHECK(pm_trace_get_traceback(tuple, frames, 4) > 0);
    CHECK(traced_now() > 0);
    for (int i = 0; i < 100; i++) {
        pm_object *x = pm_float(i + 0.5);
        CHECK(x && pm_list_append(list, x) == 0);
        pm_decref(x);
    }
    /* The floats' stack: one id, or two when the first 64 stacks (read
     * both ways) did not all agree and the walk changed on the way. */
    pm_trace_stat top[16];
    size_t n = pm_trace_top(top, 16), floats = 0;
    for (size_t i = 0; i < n; i++)
        if (top[i].domain == PM_DOMAIN_OBJ && top[i].size == top[i].count * 24)
            floats += top[i].count;
    CHECK(floats >= 100);
    pm_decref(list);
    pm_decref(tuple);
    pm_runtime_clear_freelists(pm_runtime_current());
    CHECK_EQ(traced_now(), 0);
    pm_trace_stop();
}

/* A private heap: its entry points and tables, one made while tracing,
 * and its destruction taking its records with it. */
static void test_private_heaps(void) {
    pm_heap *old = pm_heap_new(NULL);
    CHECK_EQ(pm_trace_start(NULL), 0);
    pm_heap *young = pm_heap_new(NULL);
    void *p = pm_heap_malloc(old, 40);
    void *q = pm_heap_calloc(young, 4, 50);
    void *r = pm_domain_malloc(young, PM_DOMAIN_MEM, 300);
    CHECK(p && q && r);
    CHECK_EQ(traced_now(), 40 + 200 + 300);
    pm_trace_stat top[4];
    CHECK(pm_trace_top(top, 4) == 3);
    CHECK_EQ(top[0].domain, PM_DOMAIN_MEM);
    CHECK_EQ(top[1].domain, PM_TRACE_DOMAIN_HEAP);
    q = pm_heap_realloc(young, q, 2000);
    CHECK_EQ(traced_now(), 40 + 2000 + 300);
    pm_heap_destroy(young); /* q and r die with it */
    CHECK_EQ(traced_now(), 40);
    pm_heap_free(old, p);
    CHECK_EQ(traced_now(), 0);
    pm_trace_stop();
    /* Untraced again: the entry points are the pool allocator's. */
    p = pm_heap_malloc(old, 40);
    CHECK(p != NULL);
    pm_heap_free(old, p);
    pm_heap_destroy(old);
}

/* A heap in debug mode: the recorder wraps the debug hooks, which still
 * catch misuse-free use as before. */
static void test_debug_heap(void) {
    pm_heap_config c = PM_HEAP_CONFIG_INIT;
    c.debug = 1;
    pm_heap *h = pm_heap_new(&c);
    CHECK(h != NULL);
    CHECK_EQ(pm_trace_start(NULL), 0);
    void *p = pm_domain_malloc(h, PM_DOMAIN_OBJ, 24);
    void *q = pm_heap_malloc(h, 24);
    CHECK_EQ(traced_now(), 48);
    void *frames[2];
    CHECK(pm_trace_get_traceback(p, frames, 2) > 0);
    pm_domain_free(h, PM_DOMAIN_OBJ, p);
    pm_heap_free(h, q);
    CHECK_EQ(traced_now(), 0);
    pm_trace_stop();
    CHECK_EQ(pm_heap_check(h, NULL, 0, 0), 0);
    pm_heap_destroy(h);
}

/* Capture files: a bad path refuses the start and changes nothing; a
 * fork child with %p writes a file of its own, ended, beside its
 * parent's, which goes on. */
static bool read_varint(FILE *f, uint64_t *v) {
    *v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        int ch = fgetc(f);
        if (ch == EOF) return false;
        *v |= (uint64_t)(ch & 0x7f) << shift;
        if (!(ch & 0x80)) return true;
    }
    return false;
}

/* The last block's records, decompressed (docs/FORMATS.md); 0 if the
 * file does not read as blocks to its end. */
static size_t last_block(FILE *f, unsigned char *out, size_t cap) {
    size_t n = 0;
    int kind;
    while ((kind = fgetc(f)) != EOF) {
        uint64_t stored, size;
        if (!read_varint(f, &stored) || !read_varint(f, &size) || size > cap) return 0;
        unsigned char *data = malloc(stored ? stored : 1);
        bool ok = data && fread(data, 1, stored, f) == stored;
        n = 0;
        if (ok && kind == PMD_BLOCK_STORED && stored == size) {
            memcpy(out, data, size);
            n = size;
        }
#ifdef PYMM_HAVE_ZSTD
        if (ok && kind == PMD_BLOCK_ZSTD) n = ZSTD_decompress(out, cap, data, stored);
        if (ZSTD_isError(n) || n != size) n = 0;
#endif
        free(data);
        if (n == 0) return 0;
    }
    return n;
}

/* A capture of this format whose last block ends with the END record of
 * `events` allocations and as many frees (*ended). */
static bool starts_as_capture(const char *path, unsigned events, bool *ended) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return false;
    unsigned char head[9];
    bool ok = fread(head, 1, 9, f) == 9 && memcmp(head, "PYMMTRC", 8) == 0 &&
              head[8] == PMD_CAPTURE_VERSION;
    unsigned char end[1 + 2 * 5];
    size_t e = 0;
    end[e++] = 8; /* the END tag, then the two counts as varints */
    for (int twice = 0; twice < 2; twice++) {
        unsigned v = events;
        for (; v >= 0x80; v >>= 7) end[e++] = (unsigned char)(v | 0x80);
        end[e++] = (unsigned char)v;
    }
    size_t cap = 1 << 20;
    unsigned char *last = malloc(cap);
    size_t n = ok && last ? last_block(f, last, cap) : 0;
    *ended = n >= e && memcmp(last + n - e, end, e) == 0;
    free(last);
    fclose(f);
    return ok;
}

/* Built with libzstd, a capture's blocks are compressed: 20,000
 * allocations and frees of one stack, stored, would take at least 5 bytes
 * each (tags, address deltas, size, stack). */
static void test_capture_compressed(void) {
#ifdef PYMM_HAVE_ZSTD
    char path[] = "/tmp/pymm-zstd-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    pm_trace_config cfg = PM_TRACE_CONFIG_INIT;
    cfg.file = path;
    CHECK_EQ(pm_trace_start(&cfg), 0);
    for (int i = 0; i < 20000; i++) pm_mem_free(pm_mem_malloc(48));
    pm_trace_stop();
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK(st.st_size < 20000 * 2);
    bool ended = false;
    CHECK(starts_as_capture(path, 20000, &ended) && ended);
    unlink(path);
#endif
}

static void test_capture_files(void) {
    pm_trace_config cfg = PM_TRACE_CONFIG_INIT;
    cfg.file = "/nonexistent-dir/x.trc";
    errno = 0;
    CHECK_EQ(pm_trace_start(&cfg), -1);
    CHECK_EQ(errno, ENOENT);
    CHECK(!pm_trace_is_tracing());

#if defined(__SANITIZE_THREAD__)
    return; /* TSan takes the locks fork's parent handlers free as held */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    return;
#endif
#endif
    char dir[] = "/tmp/pymm-trace-XXXXXX", path[128], mine[160], childs[160];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/cap.%%p.trc", dir);
    cfg.file = path;
    CHECK_EQ(pm_trace_start(&cfg), 0);
    void *kept = pm_mem_malloc(1000);
    pid_t pid = fork();
    if (pid == 0) {
        void *p = pm_mem_malloc(2000);
        pm_mem_free(p);
        pm_trace_stop();
        _exit(0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    CHECK_EQ(traced_now(), 1000); /* the parent's recorder went on */
    pm_mem_free(kept);
    pm_trace_stop();
    snprintf(mine, sizeof mine, "%s/cap.%ld.trc", dir, (long)getpid());
    snprintf(childs, sizeof childs, "%s/cap.%ld.trc", dir, (long)pid);
    bool ended = false;
    CHECK(starts_as_capture(mine, 1, &ended) && ended); /* each process: one block, freed */
    ended = false;
    CHECK(starts_as_capture(childs, 1, &ended) && ended);
    unlink(mine);
    unlink(childs);
    rmdir(dir);
}

int main(void) {
    test_start_stop();
    test_domains_exact();
    test_attribution();
    test_interpreter_frames();
    test_line_hook();
    test_sampling();
    test_sampling_math();
    test_recorder_out_of_memory();
    test_object_traceback();
    test_sections();
    test_objects();
    test_private_heaps();
    test_debug_heap();
    test_capture_files();
    test_capture_compressed();
    return tu_finish("test_diag_trace");
}
