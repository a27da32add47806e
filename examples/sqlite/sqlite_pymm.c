/*
 * sqlite_pymm.c -- SQLite on a pymm heap: SQLITE_CONFIG_MALLOC with
 * sqlite3_mem_methods over a thread-safe private heap, whose size classes
 * answer SQLite's xSize and xRoundup (pm_heap_block_size,
 * pm_heap_good_size).
 *
 * It runs one SQL workload twice: in a child process on SQLite's own
 * allocator, and here on pymm's heap; the two result texts must be the
 * same, and after sqlite3_shutdown() the heap must hold no block (SQLite
 * gave back everything it took). Exit 0 when both hold.
 */
#define _GNU_SOURCE
#include <pymm.h>
#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pm_heap *heap;

static void *mem_malloc(int n) { return pm_heap_malloc(heap, (size_t)n); }
static void mem_free(void *p) { pm_heap_free(heap, p); }
static void *mem_realloc(void *p, int n) { return pm_heap_realloc(heap, p, (size_t)n); }
static int mem_size(void *p) { return (int)pm_heap_block_size(heap, p); }
static int mem_roundup(int n) { return (int)pm_heap_good_size(heap, (size_t)n); }
static int mem_init(void *arg) {
    (void)arg;
    return SQLITE_OK;
}
static void mem_shutdown(void *arg) { (void)arg; }

static const sqlite3_mem_methods pymm_methods = {
    mem_malloc, mem_free, mem_realloc, mem_size, mem_roundup, mem_init, mem_shutdown, NULL,
};

/* The workload: a table of 50,000 rows, an index, a join, a group by and
 * text built row by row; every result row appended to out. */
static const char *const SQL[] = {
    "create table item(id integer primary key, name text, price real, cat integer)",
    "with recursive n(x) as (select 1 union all select x + 1 from n where x < 50000) "
    "insert into item select x, printf('item-%05d', x), (x * 37 % 1000) / 10.0, x % 17 from n",
    "create index item_cat on item(cat, price)",
    "create table cat(id integer primary key, label text)",
    "with recursive n(x) as (select 0 union all select x + 1 from n where x < 16) "
    "insert into cat select x, 'category ' || x from n",
    "select c.label, count(*), round(sum(i.price), 2), min(i.name), max(i.name) "
    "from item i join cat c on c.id = i.cat group by c.id order by c.id",
    "select group_concat(name, ',') from (select name from item where price > 99.8 order by id)",
    "update item set price = price * 2 where cat = 3",
    "delete from item where id % 5 = 0",
    "select count(*), round(avg(price), 4), sum(length(name)) from item",
};

static int append_row(void *arg, int ncol, char **values, char **names) {
    (void)names;
    FILE *out = arg;
    for (int i = 0; i < ncol; i++)
        fprintf(out, "%s%s", i ? "|" : "", values[i] ? values[i] : "NULL");
    fputc('\n', out);
    return 0;
}

/* The workload's results into out; 0, or -1 with SQLite's message. */
static int run_workload(FILE *out) {
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return -1;
    for (size_t i = 0; i < sizeof SQL / sizeof SQL[0]; i++) {
        char *err = NULL;
        if (sqlite3_exec(db, SQL[i], append_row, out, &err) != SQLITE_OK) {
            fprintf(stderr, "sqlite_pymm: %s: %s\n", SQL[i], err ? err : "?");
            sqlite3_free(err);
            sqlite3_close(db);
            return -1;
        }
    }
    return sqlite3_close(db) == SQLITE_OK ? 0 : -1;
}

/* The results on SQLite's own allocator, from a child process (the
 * allocator is chosen once per process, before SQLite starts). */
static char *native_results(size_t *len) {
    int fds[2];
    if (pipe(fds) != 0) return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        FILE *out = fdopen(fds[1], "w");
        _exit(out && run_workload(out) == 0 && fclose(out) == 0 ? 0 : 1);
    }
    close(fds[1]);
    char *text = NULL;
    FILE *mem = open_memstream(&text, len);
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, mem);
    close(fds[0]);
    fclose(mem);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int main(void) {
    size_t native_len = 0, pymm_len = 0;
    char *native = native_results(&native_len);
    if (native == NULL) {
        fprintf(stderr, "sqlite_pymm: the workload failed on SQLite's own allocator\n");
        return 1;
    }
    pm_heap_config cfg = PM_HEAP_CONFIG_INIT;
    cfg.flags = PM_HEAP_THREADSAFE; /* SQLite may call from any thread */
    heap = pm_heap_new(&cfg);
    if (heap == NULL || sqlite3_config(SQLITE_CONFIG_MALLOC, &pymm_methods) != SQLITE_OK ||
        sqlite3_initialize() != SQLITE_OK) {
        fprintf(stderr, "sqlite_pymm: cannot put SQLite on a pymm heap\n");
        return 1;
    }
    char *text = NULL;
    FILE *mem = open_memstream(&text, &pymm_len);
    int rc = run_workload(mem);
    fclose(mem);
    sqlite3_shutdown();
    pm_heap_stats s;
    pm_heap_get_stats(heap, &s);
    int ok = rc == 0 && pymm_len == native_len && memcmp(text, native, native_len) == 0;
    printf("%s", text);
    printf("results %s SQLite's own allocator's (%zu bytes); after shutdown the heap holds "
           "%llu used pools and %llu large blocks\n",
           ok ? "equal to" : "DIFFER from", pymm_len, (unsigned long long)s.pools_used,
           (unsigned long long)s.large_blocks);
    /* ...and the heap served it: an arena was mapped. */
    ok = ok && s.pools_used == 0 && s.large_blocks == 0 && s.arenas_allocated > 0;
    free(text);
    free(native);
    pm_heap_destroy(heap);
    return ok ? 0 : 1;
}
