/*
 * test_obj_api_contract.c -- the API as a contract (pymm.h's top comment,
 * docs/ABI.md): the run-time version agrees with the header's macros, and
 * the public structs can grow without breaking programs built before.
 *
 * A program built against an older header is simulated by a struct_size
 * that ends before the newest fields, with garbage (0xFF) in the bytes
 * beyond it: the library must not read them. A newer program is simulated
 * by a struct_size beyond the library's own. Output structs are written
 * into buffers with guard bytes after the size the caller gave.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define END_OF(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))
#define GUARD 0xAB

/* An input struct as a program built with an older header passes it: the
 * first `first` bytes of good, its struct_size saying so, and garbage
 * (0xFF) where the newer fields lie. buf holds size bytes. */
static void older_layout(void *buf, size_t size, const void *good, size_t first) {
    memset(buf, 0xFF, size);
    memcpy(buf, good, first);
    memcpy(buf, &first, sizeof first);
}

/* As a newer program passes it: good, then extra bytes (zero) of fields
 * this library does not have; struct_size covers them. */
static void newer_layout(void *buf, size_t size, const void *good, size_t good_size) {
    memset(buf, 0, size);
    memcpy(buf, good, good_size);
    memcpy(buf, &size, sizeof size);
}

static void test_version(void) {
    CHECK_EQ(pm_version(), PYMM_VERSION_NUMBER);
    CHECK_EQ(PYMM_VERSION_NUMBER,
             PYMM_VERSION_MAJOR * 1000000 + PYMM_VERSION_MINOR * 1000 + PYMM_VERSION_PATCH);
    CHECK(strcmp(pm_version_string(), PYMM_VERSION_STRING) == 0);
    char built[32];
    snprintf(built, sizeof built, "%d.%d.%d", PYMM_VERSION_MAJOR, PYMM_VERSION_MINOR,
             PYMM_VERSION_PATCH);
    CHECK(strcmp(built, PYMM_VERSION_STRING) == 0);
}

static void test_init_macros_match_functions(void) {
    pm_heap_config f, m = PM_HEAP_CONFIG_INIT;
    memset(&f, 0x5A, sizeof f);
    pm_heap_config_init(&f);
    CHECK_EQ(f.struct_size, sizeof f);
    CHECK_EQ(m.struct_size, f.struct_size);
    CHECK_EQ(m.arena_size, f.arena_size);
    CHECK_EQ(m.pool_size, f.pool_size);
    CHECK_EQ(m.dirty_max, f.dirty_max);
    CHECK_EQ(m.debug, f.debug);
    CHECK_EQ(m.release_delay_ms, f.release_delay_ms);
    CHECK_EQ(m.flags, f.flags);

    pm_runtime_config rf, rm = PM_RUNTIME_CONFIG_INIT;
    memset(&rf, 0x5A, sizeof rf);
    pm_runtime_config_init(&rf);
    CHECK_EQ(rf.struct_size, sizeof rf);
    CHECK(rf.heap == NULL && rm.heap == NULL);
    CHECK_EQ(rm.struct_size, rf.struct_size);
    CHECK_EQ(rf.debug, 0);
    CHECK_EQ(rf.recursion_limit, 0);
    pm_type_spec s = PM_TYPE_SPEC_INIT;
    CHECK_EQ(s.struct_size, sizeof s);
}

/* A heap config as a program built before `flags` existed passes it: the
 * bytes where today's flags lie are garbage, which must not be read. */
static void test_older_heap_config(void) {
    union {
        pm_heap_config c;
        unsigned char bytes[sizeof(pm_heap_config)];
    } old;
    pm_heap_config good;
    pm_heap_config_init(&good);
    good.pool_size = 32u << 10;
    older_layout(&old, sizeof old, &good, END_OF(pm_heap_config, release_delay_ms));
    char why[200];
    CHECK_EQ(pm_heap_config_check(&old.c, why, sizeof why), 0);
    pm_heap *h = pm_heap_new(&old.c);
    CHECK(h != NULL);
    if (h) {
        pm_heap_stats st;
        pm_heap_get_stats(h, &st);
        CHECK_EQ(st.pool_size, 32u << 10);
        pm_heap_destroy(h);
    }
    /* struct_size 0 reads as the first layout too. */
    old.c.struct_size = 0;
    CHECK_EQ(pm_heap_config_check(&old.c, why, sizeof why), 0);
    h = pm_heap_new(&old.c);
    CHECK(h != NULL);
    pm_heap_destroy(h);
}

static void expect_refused(const pm_heap_config *c, const char *says) {
    char why[200] = "";
    CHECK_EQ(pm_heap_config_check(c, why, sizeof why), -1);
    if (!tu_contains(why, says)) fprintf(stderr, "expected \"%s\", got: %s\n", says, why);
    CHECK(tu_contains(why, says));
    errno = 0;
    pm_heap *h = pm_heap_new(c);
    CHECK(h == NULL);
    CHECK_EQ(errno, EINVAL);
    pm_heap_destroy(h);
}

/* A program built against a newer header: accepted while the fields this
 * library does not know are zero, refused (with the reason) otherwise. */
static void test_newer_and_bad_heap_config(void) {
    union {
        pm_heap_config c;
        unsigned char bytes[sizeof(pm_heap_config) + 16];
    } big;
    pm_heap_config c;
    pm_heap_config_init(&c);
    newer_layout(&big, sizeof big.bytes, &c, sizeof c);
    char why[200];
    CHECK_EQ(pm_heap_config_check(&big.c, why, sizeof why), 0);
    pm_heap *h = pm_heap_new(&big.c);
    CHECK(h != NULL);
    pm_heap_destroy(h);
    big.bytes[sizeof(pm_heap_config) + 3] = 1;
    expect_refused(&big.c, "a field of a newer version");

    c.struct_size = 8;
    expect_refused(&c, "smaller than its first layout");
    pm_heap_config_init(&c);
    c.flags = 0x10;
    expect_refused(&c, "unknown bits");
    /* An uninitialized struct_size (here: a pointer's worth of garbage) is
     * refused before any byte beyond the struct is read. */
    pm_heap_config_init(&c);
    c.struct_size = (size_t)1 << 40;
    expect_refused(&c, "not a size this struct can have");
}

static void test_runtime_config(void) {
    /* Older: recursion_limit's bytes hold -1, which would be refused. */
    union {
        pm_runtime_config c;
        unsigned char bytes[sizeof(pm_runtime_config)];
    } old;
    pm_runtime_config c;
    pm_runtime_config_init(&c);
    older_layout(&old, sizeof old, &c, END_OF(pm_runtime_config, debug));
    pm_runtime *rt = pm_runtime_new(&old.c);
    CHECK(rt != NULL);
    CHECK_EQ(pm_runtime_get_recursion_limit(rt), 1000);
    pm_runtime_destroy(rt);

    c.recursion_limit = 50;
    rt = pm_runtime_new(&c);
    CHECK(rt != NULL);
    CHECK_EQ(pm_runtime_get_recursion_limit(rt), 50);
    pm_runtime_destroy(rt);

    c.recursion_limit = -3;
    errno = 0;
    CHECK(pm_runtime_new(&c) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_VALUE);
    CHECK(tu_contains(pm_exc_message(), "recursion_limit -3"));
    pm_exc_clear();

    union {
        pm_runtime_config c;
        unsigned char bytes[sizeof(pm_runtime_config) + 8];
    } big;
    pm_runtime_config_init(&c);
    newer_layout(&big, sizeof big.bytes, &c, sizeof c);
    big.bytes[sizeof big.bytes - 1] = 7;
    errno = 0;
    CHECK(pm_runtime_new(&big.c) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK(tu_contains(pm_exc_message(), "pm_runtime_config.struct_size"));
    pm_exc_clear();
    big.bytes[sizeof big.bytes - 1] = 0;
    rt = pm_runtime_new(&big.c);
    CHECK(rt != NULL);
    pm_runtime_destroy(rt);
}

static void test_type_spec(void) {
    union {
        pm_type_spec s;
        unsigned char bytes[sizeof(pm_type_spec) + 8];
    } big;
    pm_type_spec spec = PM_TYPE_SPEC_INIT;
    spec.name = "Grown";
    spec.basicsize = sizeof(pm_object) + 8;
    newer_layout(&big, sizeof big.bytes, &spec, sizeof spec);
    big.bytes[sizeof(pm_type_spec)] = 1;
    CHECK(pm_type_new(&big.s) == NULL);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_VALUE);
    CHECK(tu_contains(pm_exc_message(), "a field of a newer version"));
    pm_exc_clear();
    big.bytes[sizeof(pm_type_spec)] = 0;
    pm_type *t = pm_type_new(&big.s);
    CHECK(t != NULL);
    if (t) {
        pm_object *o = pm_object_new(t);
        CHECK(o != NULL);
        pm_xdecref(o);
        pm_decref(PM_OBJ(t));
    }
    pm_type_spec small = PM_TYPE_SPEC_INIT;
    small.struct_size = 4;
    small.name = "Small";
    small.basicsize = sizeof(pm_object);
    CHECK(pm_type_new(&small) == NULL);
    CHECK(tu_contains(pm_exc_message(), "smaller than its first layout"));
    pm_exc_clear();
}

static int guard_intact(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != GUARD) return 0;
    return 1;
}

/* A program built when pm_heap_stats ended after pool_size: only that
 * much is written. */
static void test_outputs_written_up_to_size(void) {
    pm_heap *h = pm_heap_new(NULL);
    void *p = pm_heap_malloc(h, 100);
    CHECK(p != NULL);
    union {
        pm_heap_stats s;
        unsigned char bytes[sizeof(pm_heap_stats)];
    } out;
    memset(out.bytes, GUARD, sizeof out.bytes);
    size_t part = END_OF(pm_heap_stats, pool_size);
    CHECK_EQ(pm_heap_get_stats_sized(h, &out.s, part), part);
    CHECK_EQ(out.s.pool_size, 64u << 10);
    CHECK(guard_intact(out.bytes + part, sizeof out.bytes - part));
    pm_heap_stats full;
    pm_heap_get_stats(h, &full);
    CHECK_EQ(full.bytes_in_use, 112);
    pm_heap_free(h, p);
    pm_heap_destroy(h);

    union {
        pm_runtime_stats s;
        unsigned char bytes[sizeof(pm_runtime_stats)];
    } rs;
    memset(rs.bytes, GUARD, sizeof rs.bytes);
    part = END_OF(pm_runtime_stats, objects_allocated);
    CHECK_EQ(pm_runtime_get_stats_sized(pm_runtime_current(), &rs.s, part), part);
    CHECK(rs.s.objects_allocated > 0);
    CHECK(guard_intact(rs.bytes + part, sizeof rs.bytes - part));

    /* pm_gc_get_stats: the caller's element size is the stride. */
    CHECK(pm_gc_collect(2) >= 0);
    pm_gc_generation_stats gens[3];
    pm_gc_get_stats(gens);
    uint64_t collections[3 + 2];
    memset(collections, GUARD, sizeof collections);
    CHECK_EQ(pm_gc_get_stats_sized((pm_gc_generation_stats *)(void *)collections, sizeof(uint64_t)),
             sizeof(uint64_t));
    for (int i = 0; i < 3; i++) CHECK_EQ(collections[i], gens[i].collections);
    CHECK(gens[2].collections >= 1);
    CHECK(guard_intact((const unsigned char *)&collections[3], 2 * sizeof(uint64_t)));
}

static size_t seen_error_size;
static void on_error(pm_heap *h, const pm_error *e, void *arg) {
    (void)h, (void)arg;
    seen_error_size = e->struct_size;
}
static size_t seen_unraisable_size;
static void on_unraisable(const pm_unraisable *u, void *ctx) {
    (void)ctx;
    seen_unraisable_size = u->struct_size;
}
static size_t seen_info_size;
static void on_gc(const char *phase, const pm_gc_info *info, void *arg) {
    (void)phase, (void)arg;
    seen_info_size = info->struct_size;
}
static void raising_finalizer(pm_object *self) {
    (void)self;
    pm_exc_set(PM_EXC_VALUE, "boom");
}

/* Structs handed to callbacks carry the library's size. */
static void test_callback_structs_carry_size(void) {
    pm_heap_config c = PM_HEAP_CONFIG_INIT;
    c.debug = 1;
    pm_heap *h = pm_heap_new(&c);
    CHECK(h != NULL);
    pm_heap_set_error_handler(h, on_error, NULL);
    void *p = pm_heap_malloc(h, 24);
    pm_heap_free(h, p);
    pm_heap_free(h, p); /* reported, then ignored */
    CHECK_EQ(seen_error_size, sizeof(pm_error));
    pm_heap_destroy(h);

    pm_runtime *rt = pm_runtime_new(NULL);
    pm_runtime *prev = pm_runtime_enter(rt);
    pm_runtime_set_unraisable_hook(NULL, on_unraisable, NULL);
    pm_type_spec spec = PM_TYPE_SPEC_INIT;
    spec.name = "Raiser";
    spec.basicsize = sizeof(pm_object);
    spec.slots.finalize = raising_finalizer;
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    pm_object *o = t ? pm_object_new(t) : NULL;
    pm_xdecref(o);
    CHECK_EQ(seen_unraisable_size, sizeof(pm_unraisable));
    CHECK_EQ(pm_gc_callback_add(on_gc, NULL), 0);
    CHECK(pm_gc_collect(0) >= 0);
    CHECK_EQ(seen_info_size, sizeof(pm_gc_info));
    if (t) pm_decref(PM_OBJ(t));
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt);
}

/* The default heap's built-in config keeps the documented defaults: a
 * positional initializer shifted by struct_size once made its dirty_max
 * 0 (every empty pool purged at once). Freed pools stay committed. */
static void test_default_heap_keeps_defaults(void) {
    enum { N = 16000 };
    static void *blocks[N];
    pm_heap_stats before, after;
    pm_heap_get_stats(pm_heap_default(), &before);
    for (int i = 0; i < N; i++) blocks[i] = pm_obj_malloc(256); /* ~64 pools */
    for (int i = 0; i < N; i++) pm_obj_free(blocks[i]);
    pm_heap_get_stats(pm_heap_default(), &after);
    CHECK_EQ(after.arena_size, 2u << 20);
    CHECK_EQ(after.pool_size, 64u << 10);
    CHECK(after.pools_empty >= 32);
    CHECK_EQ(after.pools_decommitted, before.pools_decommitted);
}

int main(void) {
    test_version();
    test_default_heap_keeps_defaults();
    test_init_macros_match_functions();
    test_older_heap_config();
    test_newer_and_bad_heap_config();
    test_runtime_config();
    test_type_spec();
    test_outputs_written_up_to_size();
    test_callback_structs_carry_size();
    return tu_finish("test_obj_api_contract");
}
