/*
 * test_heap_stats.c -- statistics as a struct, as text and as JSON, and the
 * PYMM_STATS report at exit (to stderr, and appended to a file).
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes at the start of each pool taken by its header (src/heap/heap.h). */
#define POOL_HEADER 128

static void test_struct(void) {
    /* 16 KiB pools, whose figures below are worked out by hand. */
    pm_heap_config cfg;
    pm_heap_config_init(&cfg);
    cfg.pool_size = 16 << 10;
    pm_heap *h = pm_heap_new(&cfg);
    void *p[300];
    for (int i = 0; i < 300; i++) p[i] = pm_heap_malloc(h, (size_t)(i % 3 + 1) * 16);
    void *big = pm_heap_malloc(h, 10000);
    pm_heap_stats s;
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.classes[0].blocks_used, 100);
    CHECK_EQ(s.classes[1].blocks_used, 100);
    CHECK_EQ(s.classes[2].blocks_used, 100);
    CHECK_EQ(s.classes[0].block_size, 16);
    CHECK_EQ(s.classes[31].block_size, 512);
    CHECK_EQ(s.classes[0].pools, 1);
    CHECK_EQ(s.classes[0].blocks_used + s.classes[0].blocks_free, (16384 - POOL_HEADER) / 16);
    CHECK_EQ(s.pools_used, 3);
    CHECK_EQ(s.bytes_in_use, 100 * (16 + 32 + 48));
    CHECK_EQ(s.bytes_in_use + s.bytes_free + s.bytes_slack + 3 * POOL_HEADER, 3 * 16384);
    CHECK_EQ(s.large_blocks, 1);
    CHECK_EQ(s.large_bytes, 10000);
    CHECK_EQ(s.arenas, 1);
    CHECK_EQ(s.arenas_peak, 1);
    CHECK_EQ(s.pools_untouched, s.arena_size / s.pool_size - 3);
    CHECK_EQ(s.bytes_rounding, 0);
    CHECK(s.bytes_headers >= 3 * POOL_HEADER);

    char *text = NULL, *json = NULL;
    size_t tlen = 0, jlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    pm_heap_print_stats(h, f);
    fclose(f);
    f = open_memstream(&json, &jlen);
    pm_heap_print_stats_json(h, f);
    fclose(f);
    CHECK(tu_contains(text, "bytes in allocated blocks"));
    CHECK(tu_contains(text, "     9600"));
    CHECK(tu_contains(json, "\"bytes_in_use\": 9600,"));
    CHECK(tu_contains(json, "\"large_bytes\": 10000,"));
    /* (16384 - 128 - colour) / 32 blocks, less 100: the colour of the
     * pool's slot (src/heap/heap.h, P1) is 0 to 448 bytes. */
    char cls[80];
    snprintf(cls, sizeof cls, "{\"size\": 32, \"pools\": 1, \"used\": 100, \"free\": %llu}",
             (unsigned long long)s.classes[1].blocks_free);
    CHECK(tu_contains(json, cls));
    CHECK(s.classes[1].blocks_free >= (16256 - 448) / 32 - 100 && s.classes[1].blocks_free <= 408);
    CHECK(json[0] == '{' && json[jlen - 2] == '}' && json[jlen - 1] == '\n');
    free(text);
    free(json);
    for (int i = 0; i < 300; i++) pm_heap_free(h, p[i]);
    pm_heap_free(h, big);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.bytes_in_use, 0);
    CHECK_EQ(s.pools_used, 0);
    CHECK_EQ(s.pools_empty, 0); /* each is its class's parked pool */
    pm_heap_trim(h);
    pm_heap_get_stats(h, &s);
    CHECK_EQ(s.arenas, 0); /* trim unparked them and unmapped the arena */
    CHECK_EQ(s.arenas_reclaimed, 1);
    pm_heap_destroy(h);
}

static int child(void) {
    for (int i = 0; i < 1000; i++) {
        void *kept = pm_obj_malloc(64); /* kept: shown at exit */
        (void)kept;
    }
    return 0;
}

static void test_at_exit(void) {
    tu_result r;
    tu_exec_args with_stats = {"PYMM_STATS", "1", "test_heap_stats", "--child"};
    tu_child(tu_exec_self, &with_stats, &r);
    CHECK(r.exited && r.status == 0);
    CHECK(tu_contains(r.err, "bytes in allocated blocks"));
    CHECK(tu_contains(r.err, "   1000 ")); /* 1000 blocks of class 64 */

    char path[] = "/tmp/pymm-stats-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    with_stats.env_value = path;
    tu_child(tu_exec_self, &with_stats, &r);
    tu_child(tu_exec_self, &with_stats, &r);
    CHECK(r.exited && r.status == 0);
    CHECK(!tu_contains(r.err, "bytes in allocated blocks")); /* stderr left clean */
    FILE *f = fopen(path, "r");
    char buf[65536];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
    unlink(path);
    const char *first = strstr(buf, "\"bytes_in_use\": 64000,");
    CHECK(first != NULL);
    CHECK(first && strstr(first + 1, "\"bytes_in_use\": 64000,") != NULL); /* appended twice */
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--child") == 0) return child();
    test_struct();
    test_at_exit();
    return tu_finish("test_heap_stats");
}
