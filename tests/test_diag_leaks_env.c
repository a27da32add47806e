/*
 * test_diag_leaks_env.c -- leak verdicts asked for from the environment
 * (src/diag/leakenv.c): PYMM_LEAKS=1 (text on stderr at exit and at a
 * runtime's destruction), PYMM_LEAKS=FILE (one JSON object), the exit
 * code PYMM_LEAKS_EXITCODE and the suppressions of PYMM_LEAKS_SUPPRESS,
 * each on this program run again as a child that plants leaks, or none.
 */
#define _GNU_SOURCE /* explicit_bzero, setenv, mkstemp */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* ---- the child: what it plants ------------------------------------------------- */

static pm_object *kept; /* a global holding objects: not a leak */

static NOINLINE void plant(void) {
    pm_gc_disable();
    pm_object *a = pm_list_new(0), *b = pm_dict_new(); /* a cycle */
    pm_list_append(a, b);
    pm_dict_set_str(b, "self", a);
    pm_decref(a);
    pm_decref(b);
    pm_object *lost = pm_list_new(0); /* a reference never released */
    pm_list_append_steal(lost, pm_int(123456));
    void **p = pm_heap_malloc(pm_runtime_heap(pm_runtime_current()), 64); /* a lost block */
    *(void *volatile *)p = NULL;
}

__attribute__((no_sanitize_address)) static NOINLINE void wipe_stack(void) {
    char buf[32 << 10];
    explicit_bzero(buf, sizeof buf);
}

static int child(const char *mode) {
    kept = pm_dict_new();
    pm_dict_set_str(kept, "answer", pm_int(42));
    if (strcmp(mode, "leak") == 0) plant();
    if (strcmp(mode, "runtime") == 0) {
        pm_runtime *rt = pm_runtime_new(NULL), *prev = pm_runtime_enter(rt);
        plant();
        wipe_stack();
        pm_runtime_enter(prev);
        pm_runtime_destroy(rt); /* checked first: its three leaks */
    }
    wipe_stack();
    return 0;
}

/* ---- the parent ------------------------------------------------------------------ */

typedef struct run_args {
    const char *mode;
    const char *leaks, *exitcode, *suppress;
} run_args;

static void exec_child(void *arg) {
    const run_args *a = arg;
    setenv("PYMM_LEAKS", a->leaks, 1);
    if (a->exitcode) setenv("PYMM_LEAKS_EXITCODE", a->exitcode, 1);
    if (a->suppress) setenv("PYMM_LEAKS_SUPPRESS", a->suppress, 1);
    execl(tu_self_exe(), "test_diag_leaks_env", a->mode, (char *)NULL);
    _exit(127);
}

static tu_result *run(run_args a) {
    static tu_result res;
    tu_child(exec_child, &a, &res);
    CHECK(res.exited);
    return &res;
}

static char *slurp(const char *path) {
    static char buf[8192];
    FILE *f = fopen(path, "r");
    if (f == NULL) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool has(const char *text, const char *want) {
    if (text && strstr(text, want)) return true;
    fprintf(stderr, "wanted \"%s\" in:\n%s\n", want, text ? text : "(nothing)");
    return false;
}

static void test_stderr(void) {
    tu_result *r = run((run_args){"leak", "1", NULL, NULL});
    CHECK_EQ(r->status, 0);
    CHECK(has(r->err, "pymm: 3 leaks at exit (PYMM_LEAKS):\n"));
    CHECK(has(r->err, "leak: cycle, "));
    CHECK(has(r->err, "leak: unowned, list, 2 objects"));
    CHECK(has(r->err, "    held from C: 1: list (1 items)\n"));
    CHECK(has(r->err, "leak: block, block, 1 blocks, 64 bytes"));
    r = run((run_args){"clean", "1", NULL, NULL});
    CHECK_EQ(r->status, 0);
    CHECK_EQ(r->err[0], '\0'); /* a clean program: not a word */
    r = run((run_args){"runtime", "1", NULL, NULL});
    CHECK_EQ(r->status, 0);
    CHECK(has(r->err, "pymm: 3 leaks at a runtime's destruction (PYMM_LEAKS):\n"));
    CHECK(!strstr(r->err, "at exit"));
}

static void test_exitcode(void) {
    CHECK_EQ(run((run_args){"leak", "1", "23", NULL})->status, 23);
    CHECK_EQ(run((run_args){"clean", "1", "23", NULL})->status, 0);
    tu_result *r = run((run_args){"clean", "1", "300", NULL});
    CHECK_EQ(r->status, 0);
    CHECK(has(r->err, "PYMM_LEAKS_EXITCODE=300 is not a number from 0 to 255"));
}

static void test_json(void) {
    char path[] = "/tmp/pymm-leaks-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    tu_result *r = run((run_args){"leak", path, "5", NULL});
    CHECK_EQ(r->status, 5);
    CHECK_EQ(r->err[0], '\0');
    const char *j = slurp(path);
    CHECK(has(j, "{\"leaks\": [\n  {\"kind\": \"cycle\", \"type\": "));
    CHECK(has(j, "{\"kind\": \"unowned\", \"type\": \"list\", \"count\": 2, "));
    CHECK(has(j, "\"path\": [\"held from C: 1: list (1 items)\"], \"stack\": [], \"graph\": "
                 "{\"nodes\": [\"list (1 items) [held from C: 1]\", \"int 123456\"], "
                 "\"refs\": [[0, 1, \"[0]\"]], \"backrefs\": []}}"));
    CHECK(has(j, "{\"kind\": \"block\", \"type\": \"block\", \"count\": 1, \"bytes\": 64, "
                 "\"path\": [], \"stack\": []}\n]}\n"));
    r = run((run_args){"clean", path, NULL, NULL});
    CHECK_EQ(r->status, 0);
    j = slurp(path);
    CHECK(j && strcmp(j, "{\"leaks\": []}\n") == 0);
    r = run((run_args){"runtime", path, NULL, NULL}); /* the runtime's verdicts, in the file */
    j = slurp(path);
    CHECK(has(j, "\"kind\": \"unowned\""));
    unlink(path);
}

static void test_suppress(void) {
    char path[] = "/tmp/pymm-leaks-supp-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *rules = "# known leaks\nkind:cycle\n\n  type:li*\nkind:lost\nstack:main\n";
    CHECK_EQ(write(fd, rules, strlen(rules)), (long long)strlen(rules));
    close(fd);
    tu_result *r = run((run_args){"leak", "1", "23", path});
    CHECK_EQ(r->status, 23); /* the block is left */
    CHECK(has(r->err, "pymm: 1 leak at exit (PYMM_LEAKS):\nleak: block"));
    CHECK(has(r->err, ":5: not a rule (kind:cycle|unowned|growth|block, type:PATTERN, "
                      "stack:PATTERN): kind:lost\n"));
    FILE *f = fopen(path, "a");
    fputs("kind:block\n", f);
    fclose(f);
    r = run((run_args){"leak", "1", "23", path});
    CHECK_EQ(r->status, 0);
    CHECK(!strstr(r->err, "leak:"));
    r = run((run_args){"leak", "1", NULL, "/nonexistent/rules"});
    CHECK(has(r->err, "PYMM_LEAKS_SUPPRESS=/nonexistent/rules: No such file or directory"));
    CHECK(has(r->err, "pymm: 3 leaks at exit"));
    unlink(path);
}

int main(int argc, char **argv) {
    if (argc > 1) return child(argv[1]);
    test_stderr();
    test_exitcode();
    test_json();
    test_suppress();
    return tu_finish("test_diag_leaks_env");
}
