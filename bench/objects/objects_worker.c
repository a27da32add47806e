/*
 * objects_worker.c -- main() and the shared helpers of the worker processes
 * of `pymm bench objects` (see pmb_objw.h for the impls and the output).
 *
 * Usage (normally run by the driver, objects_suite.c):
 *   pymm-bench-objects-IMPL trees DEPTH
 *   pymm-bench-objects-IMPL json CASE FILE RUNS
 *   pymm-bench-objects-IMPL dict NKEYS REPS
 * A mode the impl does not take part in is refused (exit status 2).
 */
#define _GNU_SOURCE
#include "pmb_objw.h"
#include "pmb_status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void objw_emit(const char *case_name, const char *metric, double value, const char *unit) {
    printf("PMB %s %s %.9g %s\n", case_name, metric, value, unit);
    fflush(stdout);
}

void objw_check(const char *case_name, const char *what, double value) {
    printf("PMB-CHECK %s %s %.0f\n", case_name, what, value);
    fflush(stdout);
}

void objw_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pymm-bench-objects-%s: ", PMB_IMPL_NAME);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

double objw_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long objw_peak_rss_kb(void) { return pmb_status_kb("VmHWM:"); }

char *objw_read_file(const char *path, size_t *n) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) objw_die("cannot open %s: %s", path, strerror(errno));
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    if (!buf) objw_die("out of memory reading %s", path);
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) objw_die("cannot read %s", path);
        got += (size_t)r;
    }
    close(fd);
    buf[size] = '\0';
    *n = size;
    return buf;
}

uint64_t objw_rng_next(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint32_t *objw_permutation(size_t n, uint64_t seed) {
    uint32_t *p = malloc(n * sizeof *p);
    if (!p) objw_die("out of memory (permutation of %zu)", n);
    for (size_t i = 0; i < n; i++) p[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(objw_rng_next(&seed) % i);
        uint32_t t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    return p;
}

long objw_parse_long(const char *s, const char *what) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0) objw_die("bad %s '%s'", what, s);
    return v;
}

/* ------------------------------------------------------------------------ */

typedef struct objw_mode {
    const char *name;
    int (*run)(int argc, char **argv);
} objw_mode;

/* Only the workloads this impl was built with (PMB_W_* from CMake). */
static const objw_mode MODES[] = {
#if defined(PMB_W_TREES)
    {"trees", objw_trees},
#endif
#if defined(PMB_W_JSON)
    {"json", objw_json},
#endif
#if defined(PMB_W_DICT)
    {"dict", objw_dict},
#endif
    {NULL, NULL},
};

static int usage(void) {
    fprintf(stderr,
            "usage: pymm-bench-objects-%s MODE ARGS (normally run by "
            "`pymm bench objects`); modes:",
            PMB_IMPL_NAME);
    for (const objw_mode *m = MODES; m->name; m++) fprintf(stderr, " %s", m->name);
    fputc('\n', stderr);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    for (const objw_mode *m = MODES; m->name; m++) {
        if (strcmp(argv[1], m->name) == 0) return m->run(argc - 1, argv + 1);
    }
    return usage();
}
