/*
 * leakenv.c -- leak verdicts asked for from the environment, as
 * LeakSanitizer's are: PYMM_LEAKS=1 prints them to stderr when the program
 * exits and when a runtime is destroyed; PYMM_LEAKS=FILE writes them all
 * to FILE as one JSON object at exit; PYMM_LEAKS_EXITCODE=N makes the
 * process exit with N when any was reported (%p in FILE is the process
 * id, so that each process of a tree writes its own file);
 * PYMM_LEAKS_SUPPRESS=FILE
 * leaves out verdicts by kind, type or stack (docs/FORMATS.md, "Leak
 * verdicts", for both files; docs/LEAKS.md for use).
 *
 * Owns the environment's state (leaks_env, in internal memory, held by
 * pmh_process.leaks_env) and the two hooks: an atexit handler and the
 * check pm_runtime_destroy calls (pmh_process.leaks_at_destroy).
 *
 * Invariants:
 *   E1  The state is made once, before main (a constructor), and read
 *       only by the checks, which run one at a time (exit, or a runtime's
 *       destruction by the thread using it).
 *   E2  A verdict a suppression matches is dropped before it is printed,
 *       written or counted; `found` counts the others.
 *   E3  A bad setting is said on stderr once, and nothing of it applies;
 *       a bad suppression line is said and skipped.
 *   E4  Nothing of the reporter's own is alive in the heap the check scans
 *       while it scans: under the drop-in the C library's stdio allocates
 *       from pymm's heap, so the JSON items gathered so far are kept in
 *       internal memory, and a stdio stream lives only while it writes.
 *   E5  A process writes only a file of its own: a fork child starts its
 *       verdicts anew when FILE holds %p and checks nothing otherwise,
 *       and without %p PYMM_LEAKS is taken out of the environment, as
 *       PYMM_TRACE is, so that a program the process starts does not
 *       truncate the file either.
 *   E6  The check at exit runs from exit() itself, after the libraries'
 *       destructors and the program's, with this library pinned.
 */
#define _GNU_SOURCE
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "heap/os.h"
#include "diag/diag.h"

#include <dlfcn.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { RULE_KIND, RULE_TYPE, RULE_STACK };

typedef struct leak_rule {
    int what;
    char *pattern; /* a kind's name, or an fnmatch pattern */
} leak_rule;

typedef struct leaks_env {
    char *file;   /* PYMM_LEAKS=FILE, or NULL: text on stderr */
    int exitcode; /* PYMM_LEAKS_EXITCODE, or -1 */
    leak_rule *rules;
    size_t nrules;
    char *json; /* the verdicts' JSON items so far (FILE; internal memory, E4) */
    size_t json_len;
    size_t found; /* E2 */
    pid_t pid;    /* the process the verdicts so far are of (E5) */
} leaks_env;

static leaks_env *env_of(void) { return pmh_process.leaks_env; }

/* ---- suppressions ------------------------------------------------------------ */

static bool add_rule(leaks_env *e, int what, const char *pattern) {
    leak_rule *rules = pmh_internal_realloc(e->rules, (e->nrules + 1) * sizeof *rules);
    if (rules == NULL) return false;
    e->rules = rules;
    size_t n = strlen(pattern) + 1;
    char *copy = pmh_internal_malloc(n);
    if (copy == NULL) return false;
    memcpy(copy, pattern, n);
    e->rules[e->nrules++] = (leak_rule){what, copy};
    return true;
}

/* One line of a suppression file: "kind:NAME", "type:PATTERN" or
 * "stack:PATTERN"; blank lines and "#" comments say nothing. */
static void parse_rule(leaks_env *e, char *line, const char *path, int lineno) {
    line[strcspn(line, "\r\n")] = '\0';
    while (*line == ' ' || *line == '\t') line++;
    if (*line == '\0' || *line == '#') return;
    static const char *const names[] = {"kind:", "type:", "stack:"};
    for (int what = RULE_KIND; what <= RULE_STACK; what++) {
        size_t n = strlen(names[what]);
        if (strncmp(line, names[what], n) != 0) continue;
        const char *pattern = line + n;
        if (what == RULE_KIND && strcmp(pattern, "cycle") && strcmp(pattern, "unowned") &&
            strcmp(pattern, "growth") && strcmp(pattern, "block"))
            break;
        if (*pattern == '\0') break;
        if (!add_rule(e, what, pattern))
            fprintf(stderr, "pymm: PYMM_LEAKS_SUPPRESS: no memory for %s\n", path);
        return;
    }
    fprintf(stderr,
            "pymm: PYMM_LEAKS_SUPPRESS=%s:%d: not a rule (kind:cycle|unowned|growth|block, "
            "type:PATTERN, stack:PATTERN): %s\n",
            path, lineno, line);
}

static void read_rules(leaks_env *e, const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "pymm: PYMM_LEAKS_SUPPRESS=%s: %s\n", path, strerror(errno));
        return;
    }
    char line[1024];
    for (int lineno = 1; fgets(line, sizeof line, f); lineno++) parse_rule(e, line, path, lineno);
    fclose(f);
}

static bool frame_matches(void *pc, const char *pattern) {
    Dl_info info;
    return dladdr(pc, &info) && info.dli_sname && fnmatch(pattern, info.dli_sname, 0) == 0;
}

static bool suppressed(const pm_leak *l, void *arg) {
    const leaks_env *e = arg;
    for (size_t i = 0; i < e->nrules; i++) {
        const leak_rule *r = &e->rules[i];
        if (r->what == RULE_KIND && strcmp(r->pattern, pm_leak_kind_name(l->kind)) == 0)
            return true;
        if (r->what == RULE_TYPE && fnmatch(r->pattern, l->type, 0) == 0) return true;
        for (size_t f = 0; r->what == RULE_STACK && f < l->stack_len; f++)
            if (frame_matches(l->stack[f], r->pattern)) return true;
    }
    return false;
}

/* ---- the checks -------------------------------------------------------------- */

/* Append r's verdicts to e->json as JSON items (E4: the stream and its
 * buffer are the C library's, gone before the next check): 0, or -1. */
static int keep_items(leaks_env *e, const pm_leaks *r, bool first) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) return -1;
    int bad = pmd_leaks_json_items(r, f, first) != 0;
    bad |= fclose(f) != 0;
    char *json = bad ? NULL : pmh_internal_realloc(e->json, e->json_len + len + 1);
    if (json) {
        memcpy(json + e->json_len, buf, len + 1);
        e->json = json;
        e->json_len += len;
    }
    free(buf);
    return json ? 0 : -1;
}

/* Check rt and report what no suppression drops (E2). */
static void check_and_report(pm_runtime *rt, const char *when, bool at_exit) {
    leaks_env *e = env_of();
    if (e->pid != getpid()) { /* E5: a fork child */
        if (e->file && strstr(e->file, "%p") == NULL) return;
        e->pid = getpid();
        e->json_len = e->found = 0;
    }
    pm_leaks *r =
        at_exit ? pmd_leaks_check_at_exit(rt) : pm_leaks_check(rt, NULL, PM_LEAKS_AT_EXIT);
    if (r == NULL) {
        fprintf(stderr, "pymm: PYMM_LEAKS: no leak check %s: %s: %s\n", when,
                pm_exc_name(pm_exc_occurred()), pm_exc_message());
        pm_exc_clear();
        return;
    }
    pmd_leaks_drop(r, suppressed, e);
    size_t n = pm_leaks_count(r);
    e->found += n;
    if (e->file && n && keep_items(e, r, e->json_len == 0) != 0)
        fprintf(stderr, "pymm: PYMM_LEAKS=%s: no memory for %zu verdicts\n", e->file, n);
    else if (e->file == NULL && n) {
        fprintf(stderr, "pymm: %zu leak%s %s (PYMM_LEAKS):\n", n, n == 1 ? "" : "s", when);
        pm_leaks_print(r, stderr);
    }
    pm_leaks_free(r);
}

static void check_at_destroy(void *rt) {
    check_and_report(rt, "at a runtime's destruction", false);
}

static void write_file(leaks_env *e) {
    char name[4096];
    if (!pmos_expand_pid(e->file, name, sizeof name)) {
        fprintf(stderr, "pymm: PYMM_LEAKS=%s: the name is too long\n", e->file);
        return;
    }
    FILE *f = fopen(name, "w");
    if (f == NULL) {
        fprintf(stderr, "pymm: PYMM_LEAKS=%s: %s\n", name, strerror(errno));
        return;
    }
    bool any = e->json_len > 0;
    int bad = fprintf(f, "{\"leaks\": [%s%s]}\n", any ? e->json : "", any ? "\n" : "") < 0;
    if (fclose(f) != 0 || bad) fprintf(stderr, "pymm: PYMM_LEAKS=%s: cannot write it\n", name);
}

static void check_at_exit(void *unused) {
    (void)unused;
    leaks_env *e = env_of();
    atomic_store_explicit(&pmh_process.leaks_at_destroy, NULL, memory_order_release);
    if (e->pid != getpid() && e->file && strstr(e->file, "%p") == NULL) return; /* E5 */
    check_and_report(pm_runtime_current(), "at exit", true);
    if (e->file) write_file(e);
    if (e->found && e->exitcode >= 0) {
        fflush(NULL);
        _exit(e->exitcode);
    }
}

size_t pm_leaks_reported(void) {
    const leaks_env *e = env_of();
    return e ? e->found : 0;
}

/* ---- the settings ------------------------------------------------------------ */

int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

/* E6: fn called by exit() itself, after every library's destructors
 * (atexit in a library runs from the loader's destructors, through code
 * without unwind tables, so the check could not find exit's frame: S5 in
 * leakscan.c). No library handle: libpymm.so and libpymm-malloc.so are
 * linked with -z nodelete, so that a dlclose cannot leave fn pointing
 * nowhere (pinning them here with dlopen made a block of the loader's
 * that showed as a leak). */
static void at_exit(void (*fn)(void *)) { __cxa_atexit(fn, NULL, NULL); }

/* PYMM_LEAKS_EXITCODE: a number from 0 to 255, or -1 (E3). */
static int exitcode_of(const char *v) {
    if (v == NULL || *v == '\0') return -1;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > 255) {
        fprintf(stderr, "pymm: PYMM_LEAKS_EXITCODE=%s is not a number from 0 to 255\n", v);
        return -1;
    }
    return (int)n;
}

__attribute__((constructor(160))) static void leaks_from_env(void) {
    const char *v = getenv("PYMM_LEAKS");
    if (v == NULL || *v == '\0' || strcmp(v, "0") == 0) return;
    if (!pmd_env_is_mine("PYMM_LEAKS", "checks")) return;
    leaks_env *e = pmh_internal_calloc(1, sizeof *e);
    if (e == NULL) {
        fprintf(stderr, "pymm: PYMM_LEAKS: no memory\n");
        return;
    }
    e->exitcode = exitcode_of(getenv("PYMM_LEAKS_EXITCODE"));
    e->pid = getpid();
    if (strcmp(v, "1") != 0) {
        size_t n = strlen(v) + 1;
        e->file = pmh_internal_malloc(n);
        if (e->file) memcpy(e->file, v, n);
        else fprintf(stderr, "pymm: PYMM_LEAKS=%s: no memory\n", v);
        if (e->file && strstr(e->file, "%p") == NULL) unsetenv("PYMM_LEAKS"); /* E5 */
    }
    const char *s = getenv("PYMM_LEAKS_SUPPRESS");
    if (s && *s) read_rules(e, s);
    pmh_process.leaks_env = e;
    atomic_store_explicit(&pmh_process.leaks_at_destroy, check_at_destroy, memory_order_release);
    at_exit(check_at_exit);
}
