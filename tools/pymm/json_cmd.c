/*
 * json_cmd.c -- `pymm json [--repeat N] [--no-gc] [--strict] [--max-size
 * BYTES] FILE...`: load JSON files with pm_json_loads and report what was
 * built and what it cost.
 *
 * For each file: the count of each kind of value (objects, arrays, strings,
 * numbers, literals true/false/null; and object keys, which are not counted
 * as values), the heap bytes the loaded document holds (the runtime's
 * private heap: small blocks in use plus large blocks, after the load minus
 * before), bytes per value, the load time (the best of N loads when
 * --repeat N is given; the heap figure is from the first load), and the
 * automatic collections that ran during the loads (--no-gc disables
 * automatic collection, to see the loader alone). --strict reads RFC 8259
 * only (PM_JSON_STRICT: no NaN, Infinity). A file is read whole, at most
 * --max-size bytes (default 256 MiB; K, M, G suffixes), so a device such
 * as /dev/zero ends with an error instead of taking all memory.
 *
 * Exit status: 0 when every file loaded; 1 when one was not valid JSON
 * (reported as FILE:LINE:COL: message on stderr); 2 when one could not be
 * read, or on a usage error. The worst status wins; every file is tried.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli_file.h"
#include "pymm.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int pymm_json_main(int argc, char **argv);

typedef struct json_counts {
    uint64_t objects, arrays, strings, numbers, literals, keys;
} json_counts;

static uint64_t counted_values(const json_counts *c) {
    return c->objects + c->arrays + c->strings + c->numbers + c->literals;
}

/* Count o and everything inside it. Depth is bounded by the loader's
 * max_depth (512), so plain recursion is safe here. */
static void count_value(pm_object *o, json_counts *c) {
    if (pm_is_type(o, &pm_dict_type)) {
        c->objects++;
        size_t pos = 0;
        pm_object *k, *v;
        while (pm_dict_next(o, &pos, &k, &v)) {
            c->keys++;
            count_value(v, c);
        }
    } else if (pm_is_type(o, &pm_list_type)) {
        c->arrays++;
        size_t n = pm_list_size(o);
        for (size_t i = 0; i < n; i++) count_value(pm_list_get(o, (int64_t)i), c);
    } else if (pm_is_type(o, &pm_str_type)) {
        c->strings++;
    } else if (pm_is_type(o, &pm_int_type) || pm_is_type(o, &pm_float_type)) {
        c->numbers++;
    } else {
        c->literals++; /* true, false, null */
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t heap_bytes(pm_runtime *rt) {
    pm_heap_stats s;
    pm_heap_get_stats(pm_runtime_heap(rt), &s);
    return s.bytes_in_use + s.large_bytes;
}

/* The collector's work so far: collections (all generations), young
 * collections skipped (no young object had lost a reference), pauses. */
typedef struct gc_totals {
    uint64_t collections, skipped;
    double pause_ms;
} gc_totals;

static gc_totals gc_now(void) {
    pm_gc_generation_stats g[3];
    pm_gc_get_stats(g);
    return (gc_totals){g[0].collections + g[1].collections + g[2].collections, g[0].skipped,
                       g[0].pause_total_ms + g[1].pause_total_ms + g[2].pause_total_ms};
}

static void print_report(const char *path, size_t len, const json_counts *c, uint64_t bytes,
                         double seconds, int repeat, gc_totals gc) {
    uint64_t values = counted_values(c);
    printf("%s: %zu bytes of JSON\n", path, len);
    printf("  values   %llu: objects %llu, arrays %llu, strings %llu, numbers %llu, literals %llu"
           " (and %llu keys)\n",
           (unsigned long long)values, (unsigned long long)c->objects,
           (unsigned long long)c->arrays, (unsigned long long)c->strings,
           (unsigned long long)c->numbers, (unsigned long long)c->literals,
           (unsigned long long)c->keys);
    printf("  memory   %llu heap bytes, %.1f bytes per value\n", (unsigned long long)bytes,
           values ? (double)bytes / (double)values : 0.0);
    printf("  load     %.3f ms%s, %.1f MB/s\n", seconds * 1e3, repeat > 1 ? " (best)" : "",
           seconds > 0 ? (double)len / seconds / 1e6 : 0.0);
    if (pm_gc_is_enabled())
        printf("  gc       %llu automatic collections during %d load%s, %.3f ms of pauses;"
               " %llu young ones skipped (no young object lost a reference)\n",
               (unsigned long long)gc.collections, repeat, repeat > 1 ? "s" : "", gc.pause_ms,
               (unsigned long long)gc.skipped);
    else printf("  gc       automatic collection disabled\n");
}

typedef struct json_options {
    int repeat;
    unsigned flags; /* pm_json_loads_flags */
    size_t max_size;
} json_options;

/* Load one file in the private runtime rt: 0, 1 (invalid) or 2 (unreadable). */
static int load_one(pm_runtime *rt, const char *path, const json_options *opt) {
    size_t len = 0;
    char why[160];
    char *text = pymm_read_input(path, opt->max_size, &len, why, sizeof why);
    if (text == NULL) {
        fprintf(stderr, "pymm json: %s: %s\n", path, why);
        return 2;
    }
    int repeat = opt->repeat;
    json_counts counts = {0};
    uint64_t bytes = 0;
    double best = 0;
    int status = 0;
    gc_totals gc0 = gc_now();
    for (int i = 0; i < repeat && status == 0; i++) {
        /* Blocks parked on free lists count as in use: empty them so the
         * difference is what the document holds. */
        pm_runtime_clear_freelists(rt);
        uint64_t before = heap_bytes(rt);
        pm_json_error err;
        double t0 = now_seconds();
        pm_object *doc = pm_json_loads_flags(text, len, 0, opt->flags, &err);
        double t = now_seconds() - t0;
        if (doc == NULL) {
            fprintf(stderr, "%s:%zu:%zu: %s\n", path, err.line, err.col, err.message);
            pm_exc_clear();
            status = 1;
            break;
        }
        if (i == 0) {
            bytes = heap_bytes(rt) - before;
            count_value(doc, &counts);
        }
        if (i == 0 || t < best) best = t;
        pm_decref(doc);
    }
    gc_totals gc1 = gc_now();
    gc_totals spent = {gc1.collections - gc0.collections, gc1.skipped - gc0.skipped,
                       gc1.pause_ms - gc0.pause_ms};
    if (status == 0) print_report(path, len, &counts, bytes, best, repeat, spent);
    free(text);
    return status;
}

static int usage(FILE *f) {
    fprintf(f,
            "usage: pymm json [--repeat N] [--no-gc] [--strict] [--max-size BYTES] FILE...\n"
            "  load each FILE ('-': stdin) with pm_json_loads and report values, memory, time\n"
            "  --repeat N        load N times, report the best time (1..1000000)\n"
            "  --no-gc           automatic collection off during the loads\n"
            "  --strict          RFC 8259 only: NaN and Infinity are errors\n"
            "  --max-size BYTES  refuse a larger input (K, M, G suffixes; default 256M)\n"
            "exit status: 0 all loaded, 1 invalid JSON (FILE:LINE:COL: message), 2 unreadable\n");
    return f == stderr ? 2 : 0;
}

int pymm_json_main(int argc, char **argv) {
    json_options opt = {.repeat = 1, .flags = 0, .max_size = PYMM_CLI_MAX_INPUT};
    int first = 1;
    bool no_gc = false;
    while (first < argc && argv[first][0] == '-' && argv[first][1] == '-') {
        const char *arg = argv[first], *value = first + 1 < argc ? argv[first + 1] : NULL;
        if (strcmp(arg, "--help") == 0) {
            return usage(stdout);
        } else if (strcmp(arg, "--no-gc") == 0) {
            no_gc = true;
        } else if (strcmp(arg, "--strict") == 0) {
            opt.flags |= PM_JSON_STRICT;
        } else if (strcmp(arg, "--repeat") == 0 && value) {
            char *end;
            long n = strtol(value, &end, 10);
            if (*end != '\0' || n < 1 || n > 1000000) return usage(stderr);
            opt.repeat = (int)n;
            first++;
        } else if (strcmp(arg, "--max-size") == 0 && value) {
            if ((opt.max_size = pymm_parse_size(value)) == 0) return usage(stderr);
            first++;
        } else {
            return usage(stderr);
        }
        first++;
    }
    if (first >= argc) return usage(stderr);
    pm_runtime *rt = pm_runtime_new(NULL); /* a private heap: exact accounting */
    if (rt == NULL) {
        fprintf(stderr, "pymm json: out of memory\n");
        return 2;
    }
    pm_runtime *saved = pm_runtime_enter(rt);
    if (no_gc) pm_gc_disable();
    int worst = 0;
    for (int i = first; i < argc; i++) {
        int st = load_one(rt, argv[i], &opt);
        if (st > worst) worst = st;
    }
    pm_runtime_enter(saved);
    pm_runtime_destroy(rt);
    return worst;
}
