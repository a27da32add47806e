/*
 * bench_main.c -- pmb_main: the table of benchmark suites and the dispatch
 * of `pymm bench SUITE ...` to one of them.
 *
 * A new suite (objects, gc, ...) is one function with the suite signature
 * (pmb_suites.h) and one row in SUITES below.
 */
#include "bench.h"
#include "pmb_suites.h"

#include <stdio.h>
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

int pmb_parse_options(const char *suite, const char *help, int argc, char **argv, int *quick,
                      const char **json_path) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            *quick = 1;
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            *json_path = argv[++i];
        } else if (strncmp(argv[i], "--json=", 7) == 0 && argv[i][7]) {
            *json_path = argv[i] + 7;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help, stdout);
            return 0;
        } else {
            fprintf(stderr, "pymm bench %s: unknown or incomplete option '%s'\n", suite, argv[i]);
            fputs(help, stderr);
            return 2;
        }
    }
    return -1; /* go on */
}
