/*
 * test_diag_snapshot.c -- snapshots of the live traced blocks: taken,
 * grouped (stack, line, function, file, domain, object type; cumulative
 * or not),
 * compared, filtered, dumped and loaded back; bad files refused.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __attribute__((noinline)) void site_a(void **out) { *out = pm_mem_malloc(4000); }
static __attribute__((noinline)) void site_b(void **out) { *out = pm_raw_malloc(100); }

/* The entry of statistics `e` (n of them) whose key is interpreter frame
 * (file, line), or NULL. */
static const pm_trace_entry *find_line(const pm_trace_entry *e, size_t n, const char *file,
                                       int line) {
    for (size_t i = 0; i < n; i++)
        if (e[i].where.interpreter && e[i].where.file && strcmp(e[i].where.file, file) == 0 &&
            (line == 0 || e[i].where.line == line))
            return &e[i];
    return NULL;
}

static const pm_trace_entry *find_domain(const pm_trace_entry *e, size_t n, int domain) {
    for (size_t i = 0; i < n; i++)
        if (e[i].domain == domain) return &e[i];
    return NULL;
}

#define MAXE 256

/* Script frames make keys whose answers are known: app.py:10 > work:20
 * allocates 3 x 4000 (mem), app.py:10 > other:30 5 x 100 (raw). */
static void allocate_known(void **a, void **b) {
    static const char app[] = "app.py";
    pm_trace_push_frame(app, "main", 10);
    pm_trace_push_frame(app, "work", 20);
    for (volatile int i = 0; i < 3; i++) site_a(&a[i]); /* one call site: not unrolled */
    pm_trace_pop_frame();
    pm_trace_push_frame(app, "other", 30);
    for (volatile int i = 0; i < 5; i++) site_b(&b[i]);
    pm_trace_pop_frame();
    pm_trace_pop_frame();
}

static void test_statistics(pm_trace_snapshot *s) {
    pm_trace_entry e[MAXE];
    /* By line, not cumulative: the innermost frame is native (site_a's
     * call), so no interpreter line is a key. */
    size_t n = pm_trace_snapshot_statistics(s, NULL, PM_TRACE_BY_LINE, 0, e, MAXE);
    CHECK(n >= 2 && n <= MAXE);
    CHECK(find_line(e, n, "app.py", 0) == NULL);
    CHECK(e[0].size == 12000 && e[0].count == 3 && e[0].where.interpreter == 0);
    /* Cumulative: each script line holds what was allocated under it. */
    n = pm_trace_snapshot_statistics(s, NULL, PM_TRACE_BY_LINE, 1, e, MAXE);
    const pm_trace_entry *x = find_line(e, n, "app.py", 20);
    CHECK(x && x->size == 12000 && x->count == 3 && strcmp(x->where.function, "work") == 0);
    x = find_line(e, n, "app.py", 30);
    CHECK(x && x->size == 500 && x->count == 5);
    x = find_line(e, n, "app.py", 10);
    CHECK(x && x->size == 12500 && x->count == 8);
    /* By file, cumulative: app.py once a stack. */
    n = pm_trace_snapshot_statistics(s, NULL, PM_TRACE_BY_FILE, 1, e, MAXE);
    x = find_line(e, n, "app.py", 0);
    CHECK(x && x->size == 12500 && x->count == 8);
    /* By domain. */
    n = pm_trace_snapshot_statistics(s, NULL, PM_TRACE_BY_DOMAIN, 0, e, MAXE);
    CHECK_EQ(n, 2);
    CHECK(find_domain(e, n, PM_DOMAIN_MEM) && find_domain(e, n, PM_DOMAIN_MEM)->size == 12000);
    CHECK(find_domain(e, n, PM_DOMAIN_RAW) && find_domain(e, n, PM_DOMAIN_RAW)->count == 5);
    /* By stack: two stacks, their frames readable, the script's outermost. */
    n = pm_trace_snapshot_statistics(s, NULL, PM_TRACE_BY_STACK, 0, e, MAXE);
    CHECK_EQ(n, 2);
    CHECK(e[0].snapshot == s && e[0].size == 12000);
    pm_trace_frame fr[PM_TRACE_MAX_FRAMES * 2];
    size_t nf = pm_trace_snapshot_frames(s, e[0].stack, fr, PM_TRACE_MAX_FRAMES * 2);
    CHECK(nf >= 3 && fr[nf - 1].interpreter && fr[nf - 1].line == 10);
    CHECK(!fr[0].interpreter && fr[0].file != NULL); /* a native frame: its module */
    /* Room for fewer: the count is still every entry. */
    CHECK_EQ(pm_trace_snapshot_statistics(s, NULL, PM_TRACE_BY_STACK, 0, e, 1), 2);
    errno = 0;
    CHECK_EQ(pm_trace_snapshot_statistics(s, NULL, 99, 0, e, MAXE), 0);
    CHECK_EQ(errno, EINVAL);
}

/* Changes since a base: site_a's blocks freed, two more of site_b. */
static void test_compare(pm_trace_snapshot *before, pm_trace_snapshot *after) {
    pm_trace_entry e[MAXE];
    size_t n = pm_trace_snapshot_statistics(after, before, PM_TRACE_BY_DOMAIN, 0, e, MAXE);
    CHECK_EQ(n, 2);
    CHECK(e[0].domain == PM_DOMAIN_MEM && e[0].size == 0 && e[0].size_diff == -12000 &&
          e[0].count_diff == -3 && e[0].snapshot == before);
    CHECK(e[1].domain == PM_DOMAIN_RAW && e[1].size == 700 && e[1].size_diff == 200 &&
          e[1].count_diff == 2);
}

static void test_filters(pm_trace_snapshot *s) {
    pm_trace_entry e[MAXE];
    pm_trace_filter only_raw = {1, NULL, 0, PM_DOMAIN_RAW, 0, NULL};
    pm_trace_snapshot *f = pm_trace_snapshot_filter(s, &only_raw, 1);
    CHECK(f != NULL && pm_trace_snapshot_stacks(f) == 1);
    CHECK_EQ(pm_trace_snapshot_statistics(f, NULL, PM_TRACE_BY_STACK, 0, e, MAXE), 1);
    CHECK(e[0].size == 500);
    pm_trace_snapshot_free(f);
    /* Exclude any stack with a frame at app.py line 20 (all_frames). */
    pm_trace_filter no_work = {0, "*.py", 20, -1, 1, NULL};
    f = pm_trace_snapshot_filter(s, &no_work, 1);
    CHECK(f && pm_trace_snapshot_stacks(f) == 1);
    pm_trace_snapshot_free(f);
    /* Innermost frame only: it is native, so a script pattern keeps none. */
    pm_trace_filter inner = {1, "*.py", 0, -1, 0, NULL};
    f = pm_trace_snapshot_filter(s, &inner, 1);
    CHECK(f && pm_trace_snapshot_stacks(f) == 0);
    pm_trace_snapshot_free(f);
}

/* Dumped and loaded, a snapshot gives the same statistics; a file that is
 * not one, or is cut short, is refused with EINVAL. */
static void test_dump_load(pm_trace_snapshot *s) {
    char path[] = "/tmp/pymm-snap-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    errno = 0;
    CHECK(pm_trace_snapshot_dump(s, "/dev/full") == -1 && errno == ENOSPC); /* the write's errno */
    CHECK_EQ(pm_trace_snapshot_dump(s, path), 0);
    pm_trace_snapshot *t = pm_trace_snapshot_load(path);
    CHECK(t != NULL);
    pm_trace_entry a[MAXE], b[MAXE];
    for (int key = PM_TRACE_BY_STACK; key <= PM_TRACE_BY_TYPE; key++) {
        size_t na = pm_trace_snapshot_statistics(s, NULL, key, 1, a, MAXE);
        size_t nb = pm_trace_snapshot_statistics(t, NULL, key, 1, b, MAXE);
        CHECK_EQ(na, nb);
        for (size_t i = 0; i < na && i < nb; i++) CHECK(a[i].size == b[i].size);
    }
    /* Compared across the file: nothing changed. */
    size_t n = pm_trace_snapshot_statistics(t, s, PM_TRACE_BY_STACK, 0, a, MAXE);
    for (size_t i = 0; i < n; i++) CHECK(a[i].size_diff == 0 && a[i].count_diff == 0);
    pm_trace_snapshot_free(t);
    /* A string with a NUL inside ("app.py" -> "a\0p.py"). */
    FILE *g = fopen(path, "r+b");
    CHECK(g != NULL);
    char buf[4096];
    size_t got = fread(buf, 1, sizeof buf, g);
    char *at = memmem(buf, got, "app.py", 6);
    CHECK(at != NULL);
    if (at) {
        at[1] = '\0';
        CHECK(fseek(g, 0, SEEK_SET) == 0 && fwrite(buf, 1, got, g) == got);
    }
    fclose(g);
    errno = 0;
    CHECK(pm_trace_snapshot_load(path) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(pm_trace_snapshot_load("/tmp") == NULL && errno == EINVAL); /* a directory */
    CHECK_EQ(pm_trace_snapshot_dump(s, path), 0);
    /* Cut short by one byte. */
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL && fseek(f, 0, SEEK_END) == 0);
    long size = ftell(f);
    fclose(f);
    CHECK(truncate(path, size - 1) == 0);
    errno = 0;
    CHECK(pm_trace_snapshot_load(path) == NULL && errno == EINVAL);
    f = fopen(path, "wb");
    fputs("not a snapshot", f);
    fclose(f);
    errno = 0;
    CHECK(pm_trace_snapshot_load(path) == NULL && errno == EINVAL);
    unlink(path);
    errno = 0;
    CHECK(pm_trace_snapshot_load("/nonexistent/x.snap") == NULL && errno == ENOENT);
}

static const pm_trace_entry *find_type(const pm_trace_entry *e, size_t n, const char *type) {
    for (size_t i = 0; i < n; i++)
        if (e[i].type && strcmp(e[i].type, type) == 0) return &e[i];
    return NULL;
}

/* Objects are grouped by their type (free lists are off while tracing,
 * so every object is a block of its own), their buffers are not objects,
 * a type filter keeps only its type, and a dump keeps the types. */
static void test_types(void) {
    pm_object *lists[3], *dicts[2];
    for (int i = 0; i < 3; i++) CHECK((lists[i] = pm_list_new(2)) != NULL);
    for (int i = 0; i < 2; i++) CHECK((dicts[i] = pm_dict_new()) != NULL);
    pm_trace_snapshot *s = pm_trace_take_snapshot();
    CHECK(s != NULL);
    pm_trace_entry e[MAXE];
    size_t n = pm_trace_snapshot_statistics(s, NULL, PM_TRACE_BY_TYPE, 0, e, MAXE);
    const pm_trace_entry *list = find_type(e, n, "list"), *dict = find_type(e, n, "dict");
    CHECK(list && list->count == 3 && list->domain == PM_DOMAIN_OBJ);
    CHECK(dict && dict->count == 2);
    bool untyped = false; /* the lists' item arrays, the earlier buffers */
    for (size_t i = 0; i < n; i++) untyped |= e[i].type == NULL && e[i].count > 0;
    CHECK(untyped);
    pm_trace_filter only_lists = {1, NULL, 0, -1, 0, "li*"};
    pm_trace_snapshot *f = pm_trace_snapshot_filter(s, &only_lists, 1);
    CHECK(f != NULL);
    n = pm_trace_snapshot_statistics(f, NULL, PM_TRACE_BY_TYPE, 0, e, MAXE);
    CHECK(n == 1 && e[0].type && strcmp(e[0].type, "list") == 0 && e[0].count == 3);
    char path[] = "/tmp/pymm-snap-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(pm_trace_snapshot_dump(f, path), 0);
    pm_trace_snapshot *t = pm_trace_snapshot_load(path);
    unlink(path);
    CHECK(t != NULL);
    n = pm_trace_snapshot_statistics(t, NULL, PM_TRACE_BY_TYPE, 0, e, MAXE);
    CHECK(n == 1 && e[0].type && strcmp(e[0].type, "list") == 0 && e[0].count == 3);
    pm_trace_snapshot_free(t);
    pm_trace_snapshot_free(f);
    pm_trace_snapshot_free(s);
    for (int i = 0; i < 3; i++) pm_decref(lists[i]);
    for (int i = 0; i < 2; i++) pm_decref(dicts[i]);
}

int main(void) {
    errno = 0;
    CHECK(pm_trace_take_snapshot() == NULL && errno == EINVAL); /* not tracing */
    pm_trace_config cfg = PM_TRACE_CONFIG_INIT;
    cfg.frames = 3;
    CHECK_EQ(pm_trace_start(&cfg), 0);
    void *a[3], *b[7];
    allocate_known(a, b);
    pm_trace_snapshot *before = pm_trace_take_snapshot();
    CHECK(before != NULL);
    test_statistics(before);
    test_filters(before);
    test_dump_load(before);
    test_types();
    for (int i = 0; i < 3; i++) pm_mem_free(a[i]);
    static const char app[] = "app.py";
    pm_trace_push_frame(app, "main", 10);
    pm_trace_push_frame(app, "other", 30);
    for (volatile int i = 5; i < 7; i++) site_b(&b[i]);
    pm_trace_pop_frame();
    pm_trace_pop_frame();
    pm_trace_snapshot *after = pm_trace_take_snapshot();
    CHECK(after != NULL);
    pm_trace_stop();
    test_compare(before, after); /* snapshots outlive the recording */
    pm_trace_snapshot_free(before);
    pm_trace_snapshot_free(after);
    for (int i = 0; i < 7; i++) pm_raw_free(b[i]);
    return tu_finish("test_diag_snapshot");
}
