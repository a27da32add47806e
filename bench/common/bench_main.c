/*
 * bench_main.c -- pmb_main: the table of benchmark suites and the dispatch
 * of `pymm bench SUITE ...` to one of them.
 *
 * A new suite (objects, gc, ...) is one function with the suite signature
 * (pmb_suites.h) and one row in SUITES below.
 */
#include "bench.h"
#include "pmb_report.h"
#include "pmb_suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pmb_suite {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} pmb_suite;

static const pmb_suite SUITES[] = {
    {"alloc",
     "small-block allocators side by side: pymm, glibc, mimalloc, jemalloc, "
     "pymalloc; pymm-python vs CPython",
     pmb_suite_alloc},
    {"objects",
     "the object layer: binary-trees vs malloc, Boehm GC, python3; JSON loading vs "
     "CPython, jansson, cJSON; a dict of 1M str keys vs CPython's C API",
     pmb_suite_objects},
    {"gc",
     "the cycle collector vs CPython's: full collections, young pauses, the collector's "
     "share of a JSON load, header bytes",
     pmb_suite_gc},
    {"threads",
     "the heap from many threads: larson, xmalloc, cache-scratch and a size mix at 1, 2 "
     "and 8 threads vs glibc, mimalloc, jemalloc",
     pmb_suite_threads},
    {"trace",
     "the allocation recorder's cost (PYMM_TRACE: full, 1 and 16 frames, sampled) on "
     "binary-trees and an allocate/free mix, beside heaptrack",
     pmb_suite_trace},
    {"inspect",
     "issue 15's diagnostics: census, a path at depth 1,000, deep and retained sizes on "
     "1M-object graphs vs objgraph, gc.get_referrers and sys.getsizeof walks",
     pmb_suite_inspect},
};

#define NUM_SUITES (sizeof SUITES / sizeof SUITES[0])

static void list_suites(FILE *f) {
    fprintf(f, "suites:\n");
    for (size_t i = 0; i < NUM_SUITES; i++)
        fprintf(f, "  %-8s %s\n", SUITES[i].name, SUITES[i].summary);
}

static void usage(FILE *f) {
    fprintf(f, "usage: pymm bench SUITE [options]   (pymm bench SUITE --help for options)\n");
    list_suites(f);
}

int pmb_main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < NUM_SUITES; i++) {
        if (strcmp(argv[1], SUITES[i].name) == 0) return SUITES[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "pymm bench: unknown suite '%s'\n", argv[1]);
    list_suites(stderr);
    return 2;
}

/* ------------------------------------------------------------------------ */
/* The options every suite shares                                           */
/* ------------------------------------------------------------------------ */

/* Whether the comma-separated list has an item for which match(item, len,
 * arg) holds. */
static int list_any(const char *list, int (*match)(const char *, size_t, const char *),
                    const char *arg) {
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len && match(p, len, arg)) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

static int is_prefix(const char *item, size_t len, const char *name) {
    return strncmp(item, name, len) == 0;
}

static int is_name(const char *item, size_t len, const char *name) {
    return strncmp(item, name, len) == 0 && name[len] == '\0';
}

/* Every item of list names something of names (prefix: as a prefix);
 * else a message on stderr and 0. */
static int list_valid(const char *suite, const char *option, const char *list,
                      const char *const *names, int prefix) {
    if (!*list) {
        fprintf(stderr, "pymm bench %s: %s needs a comma-separated list\n", suite, option);
        return 0;
    }
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (const char *const *n = names; *n && !found; n++)
            found = len && (prefix ? is_prefix(p, len, *n) : is_name(p, len, *n));
        if (!found) {
            fprintf(stderr, "pymm bench %s: %s: '%.*s' names no %s of this suite\n", suite, option,
                    (int)len, p, prefix ? "case" : "impl");
            return 0;
        }
        p += len + (p[len] == ',');
    }
    return 1;
}

/* argv[*i] is --name VALUE or --name=VALUE: the value (and *i moved past
 * it), else NULL. */
static const char *option_value(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

static int parse_rounds(const char *suite, const char *v, int *rounds) {
    char *end;
    long n = strtol(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || n < 1 || n > PMB_MAX_ROUNDS) {
        fprintf(stderr, "pymm bench %s: --rounds needs a whole number from 1 to %d, not '%s'\n",
                suite, PMB_MAX_ROUNDS, v);
        return 0;
    }
    *rounds = (int)n;
    return 1;
}

/* A list option given twice would silently lose the first list. */
static int once_only(const char *suite, const char *option) {
    fprintf(stderr, "pymm bench %s: %s given twice (join the lists with commas)\n", suite, option);
    return 0;
}

/* One option at argv[*i]: 1 taken, 0 a usage error (message printed). */
static int parse_one(const char *suite, int argc, char **argv, int *i,
                     const char *const *case_names, const char *const *impl_names, pmb_options *o) {
    const char *v;
    if (strcmp(argv[*i], "--quick") == 0) o->quick = 1;
    else if ((v = option_value(argc, argv, i, "--json"))) {
        o->json_path = v;
        if (!*v) fprintf(stderr, "pymm bench %s: --json needs a file name\n", suite);
        return *v != '\0';
    } else if ((v = option_value(argc, argv, i, "--rounds")))
        return parse_rounds(suite, v, &o->rounds);
    else if ((v = option_value(argc, argv, i, "--cases"))) {
        if (o->cases) return once_only(suite, "--cases");
        o->cases = v;
        return list_valid(suite, "--cases", v, case_names, 1);
    } else if ((v = option_value(argc, argv, i, "--impls"))) {
        if (o->impls) return once_only(suite, "--impls");
        o->impls = v;
        return list_valid(suite, "--impls", v, impl_names, 0);
    } else {
        fprintf(stderr, "pymm bench %s: unknown or incomplete option '%s'\n", suite, argv[*i]);
        return 0;
    }
    return 1;
}

int pmb_parse_options(const char *suite, const char *help, int argc, char **argv,
                      const char *const *case_names, const char *const *impl_names,
                      pmb_options *o) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help, stdout);
            return 0;
        }
        if (!parse_one(suite, argc, argv, &i, case_names, impl_names, o)) {
            fputs(help, stderr);
            return 2;
        }
    }
    return -1; /* go on */
}

void pmb_note_unmatched_cases(const pmb_options *o, const pmb_records *rs, pmb_notes *ns) {
    for (const char *p = o->cases; p && *p;) {
        size_t len = strcspn(p, ",");
        int matched = 0;
        for (size_t i = 0; i < rs->n && !matched; i++)
            matched = len && is_prefix(p, len, rs->v[i].case_name);
        if (len && !matched)
            pmb_note(ns, "--cases: '%.*s' matched no case of this run (a --quick run has fewer)",
                     (int)len, p);
        p += len + (p[len] == ',');
    }
}

int pmb_option_case(const pmb_options *o, const char *case_name) {
    return !o->cases || list_any(o->cases, is_prefix, case_name);
}

/* The item and a group prefix agree as far as both go. */
static int overlaps(const char *item, size_t len, const char *group) {
    size_t g = strlen(group);
    return strncmp(item, group, len < g ? len : g) == 0;
}

int pmb_option_group(const pmb_options *o, const char *group) {
    return !o->cases || list_any(o->cases, overlaps, group);
}

int pmb_option_impl(const pmb_options *o, const char *impl) {
    return !o->impls || strncmp(impl, "pymm", 4) == 0 || list_any(o->impls, is_name, impl);
}

int pmb_option_rounds(const pmb_options *o, int dflt) { return o->rounds ? o->rounds : dflt; }
