/*
 * testutil.c -- see testutil.h.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include "heap/internal_alloc.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tu_failures;

void tu_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
    tu_failures++;
}

void tu_fail_eq(const char *file, int line, const char *a, const char *b, long long va,
                long long vb) {
    fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n", file, line, a, b, va, vb);
    tu_failures++;
}

bool tu_gc_stress(void) {
    const char *v = getenv("PYMM_GC_STRESS");
    return v && *v && strcmp(v, "0") != 0;
}

int tu_finish(const char *name) {
    if (tu_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, tu_failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

void tu_child(void (*fn)(void *), void *arg, tu_result *out) {
    int fds[2];
    memset(out, 0, sizeof *out);
    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0) abort();
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn(arg);
        fflush(stderr);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], out->err + len, sizeof out->err - 1 - len)) > 0) len += (size_t)n;
    out->err[len] = '\0';
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    out->exited = WIFEXITED(st);
    out->status = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
}

bool tu_contains(const char *haystack, const char *needle) {
    return strstr(haystack, needle) != NULL;
}

const char *tu_shared_dir(void) {
    struct stat st;
    return stat(PYMM_SHARED_DIR, &st) == 0 && S_ISDIR(st.st_mode) ? PYMM_SHARED_DIR : NULL;
}

void tu_run_on_stack(void *(*fn)(void *), void *arg, size_t stack_size) {
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    CHECK_EQ(pthread_attr_setstacksize(&attr, stack_size), 0);
    CHECK_EQ(pthread_create(&th, &attr, fn, arg), 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
}

/* A "Name: N kB" line of /proc/self/status (name with its colon), or -1. */
static long status_kb(const char *name) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t len = strlen(name);
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, len) == 0 && sscanf(line + len, "%ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

long tu_rss_kb(void) { return status_kb("VmRSS:"); }

long tu_vm_size_kb(void) { return status_kb("VmSize:"); }

void tu_error_record(pm_heap *h, const pm_error *e, void *arg) {
    (void)h;
    tu_errors *s = arg;
    s->count++;
    s->last = *e;
    snprintf(s->msg, sizeof s->msg, "%s", e->message);
}

uint64_t tu_rand(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

const char *tu_self_exe(void) {
    static char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return "/proc/self/exe";
    path[n] = '\0';
    return path;
}

long tu_big_count(long n) {
    const char *small = getenv("PYMM_TEST_SMALL");
    return small && *small && strcmp(small, "0") != 0 ? n / 100 : n;
}

typedef struct rooted_chain {
    void (*check)(pm_object *head, pm_object *tail, long n);
    long n;
} rooted_chain;

static void *rooted_chain_run(void *arg) {
    rooted_chain *rc = arg;
    tu_group g = tu_group_begin();
    pm_type *t;
    pm_object *tail, *head = tu_chain(rc->n, &t, &tail);
    CHECK_EQ(pm_root_add(head, "chain"), 0);
    pm_decref(head);
    rc->check(head, tail, rc->n);
    CHECK_EQ(pm_root_remove(head), 0);
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 0);
    return NULL;
}

void tu_rooted_chain_on_small_stack(void (*check)(pm_object *head, pm_object *tail, long n)) {
    rooted_chain rc = {check, tu_big_count(10000000)};
    tu_run_on_stack(rooted_chain_run, &rc, 256 << 10);
}

pm_object *tu_chain(long n, pm_type **type, pm_object **tail) {
    pm_type_spec spec = {
        .name = "Link", .basicsize = sizeof(pm_object) + sizeof(void *), .nrefs = 1};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    pm_object *head = NULL;
    for (long i = 0; i < n && t; i++) {
        pm_object *refs[1] = {head};
        head = pm_object_new_refs_steal(t, refs);
        CHECK(head != NULL);
        if (i == 0 && tail) *tail = head;
    }
    *type = t;
    return head;
}

void tu_fault_each(bool (*op)(void *), void *arg, bool persistent) {
    bool done = false;
    int failures = 0;
    for (long nth = 1; !done && nth < 1000; nth++) {
        long live = pmh_internal_live();
        pmh_fault_arm(nth, persistent);
        bool ok = op(arg);
        bool injected = pmh_fault_injected() > 0;
        pmh_fault_disarm();
        CHECK(ok != injected);
        if (!ok) {
            failures++;
            CHECK(tu_raised(PM_EXC_MEMORY, NULL));
        }
        CHECK_EQ(pmh_internal_live(), live);
        done = !injected;
    }
    CHECK(done);
    CHECK(failures > 0);
}

pm_type *tu_widget_type(void) {
    pm_type_spec spec = {.name = "Widget", .basicsize = sizeof(tu_widget), .nrefs = 2};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    return t;
}

int64_t tu_live_objects(void) {
    pm_runtime_stats st;
    pm_runtime_get_stats(pm_runtime_current(), &st);
    return (int64_t)(st.objects_allocated - st.objects_freed);
}

static tu_group group_begin(const pm_runtime_config *cfg) {
    tu_group g;
    g.rt = pm_runtime_new(cfg);
    if (g.rt == NULL) {
        fprintf(stderr, "pm_runtime_new failed\n");
        exit(1);
    }
    g.prev = pm_runtime_enter(g.rt);
    g.live_before = tu_live_objects();
    return g;
}

tu_group tu_group_begin(void) { return group_begin(NULL); }

void tu_group_end(tu_group *g, int64_t extra) {
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    CHECK_EQ(tu_live_objects() - g->live_before, extra);
    pm_runtime_enter(g->prev);
    pm_runtime_destroy(g->rt);
}

bool tu_debug_env(void) {
    const char *v = getenv("PYMM_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

tu_group tu_group_begin_env(void) {
    pm_runtime_config cfg = {.heap = NULL, .debug = tu_debug_env()};
    return group_begin(&cfg);
}

bool tu_raised(pm_exc kind, const char *text) {
    bool ok = pm_exc_occurred() == kind && (text == NULL || tu_contains(pm_exc_message(), text));
    if (!ok)
        fprintf(stderr, "exception: got %s [%s], want %s [%s]\n", pm_exc_name(pm_exc_occurred()),
                pm_exc_message(), pm_exc_name(kind), text ? text : "");
    pm_exc_clear();
    return ok;
}

uint64_t tu_hash_of(pm_object *o) {
    uint64_t h = 0;
    CHECK_EQ(pm_hash(o, &h), 0);
    return h;
}

bool tu_repr_is(pm_object *o, const char *want) {
    pm_object *r = pm_repr(o);
    if (r == NULL) {
        fprintf(stderr, "repr failed: %s\n", pm_exc_message());
        pm_exc_clear();
        return false;
    }
    size_t n = 0;
    const char *s = pm_str_utf8(r, &n);
    bool ok = s != NULL && n == strlen(want) && memcmp(s, want, n) == 0;
    if (!ok) fprintf(stderr, "repr: got [%s], want [%s]\n", s ? s : "(null)", want);
    pm_decref(r);
    return ok;
}

double tu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the failing allocator ---------------------------------------------- */

static bool failing_now(tu_failing *f) {
    f->calls++;
    if (f->fail_at && (f->calls == f->fail_at || (f->persistent && f->calls > f->fail_at))) {
        f->failed++;
        return true;
    }
    return false;
}

static void *failing_malloc(void *ctx, size_t n) {
    struct tu_failing_ctx *c = ctx;
    pm_allocator *a = &c->f->inner[c->domain];
    return failing_now(c->f) ? NULL : a->malloc(a->ctx, n);
}

static void *failing_calloc(void *ctx, size_t k, size_t n) {
    struct tu_failing_ctx *c = ctx;
    pm_allocator *a = &c->f->inner[c->domain];
    return failing_now(c->f) ? NULL : a->calloc(a->ctx, k, n);
}

static void *failing_realloc(void *ctx, void *p, size_t n) {
    struct tu_failing_ctx *c = ctx;
    pm_allocator *a = &c->f->inner[c->domain];
    return failing_now(c->f) ? NULL : a->realloc(a->ctx, p, n);
}

static void failing_free(void *ctx, void *p) {
    struct tu_failing_ctx *c = ctx;
    c->f->inner[c->domain].free(c->f->inner[c->domain].ctx, p);
}

void tu_failing_install(tu_failing *f, pm_heap *h) {
    tu_failing_disarm(f);
    pm_domain domains[] = {PM_DOMAIN_MEM, PM_DOMAIN_OBJ};
    for (size_t i = 0; i < sizeof domains / sizeof *domains; i++) {
        pm_domain d = domains[i];
        pm_heap_get_allocator(h, d, &f->inner[d]);
        f->ctx[d].f = f;
        f->ctx[d].domain = d;
        pm_allocator a = {&f->ctx[d], failing_malloc, failing_calloc, failing_realloc,
                          failing_free};
        pm_heap_set_allocator(h, d, &a);
    }
}

void tu_failing_arm(tu_failing *f, long fail_at, bool persistent) {
    f->calls = f->failed = 0;
    f->fail_at = fail_at;
    f->persistent = persistent;
}

void tu_failing_disarm(tu_failing *f) { f->fail_at = 0; }

void tu_exec_self(void *tu_exec_args_ptr) {
    const tu_exec_args *a = tu_exec_args_ptr;
    setenv(a->env_name, a->env_value, 1);
    execl(tu_self_exe(), a->argv0, a->arg, (char *)NULL);
    _exit(127);
}

int tu_fork_ask(bool (*work)(void *), void *arg, unsigned alarm_s) {
    int ok[2];
    if (pipe(ok) != 0) return TU_FORK_FAILED;
    pid_t pid = fork();
    if (pid == 0) {
        close(ok[0]);
        alarm(alarm_s);
        if (work(arg) && write(ok[1], "y", 1) != 1) _exit(2);
        _exit(0);
    }
    close(ok[1]);
    int st = 0;
    char said = 0;
    bool waited = pid > 0 && waitpid(pid, &st, 0) == pid;
    bool said_ok = read(ok[0], &said, 1) == 1 && said == 'y';
    close(ok[0]);
    if (said_ok) return TU_FORK_OK;
    return waited && WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? TU_FORK_HUNG : TU_FORK_FAILED;
}
