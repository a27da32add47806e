/*
 * proc.c -- child processes and paths for the bench suites (see pmb_proc.h).
 *
 * A note on ru_maxrss: Linux carries the parent's RSS high-water mark into a
 * forked child across exec, so the peak RSS of a child is never below the
 * driver's own. The driver stays a few MiB (the measurements happen in the
 * children), far under any Python interpreter's peak.
 */
#define _GNU_SOURCE
#include "pmb_proc.h"
#include "pmb_report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* In the child, between fork and exec: wire the descriptors, adjust the
 * environment (the driver is single-threaded, so setenv is safe here) and
 * exec. Never returns. */
static void child_exec(char *const argv[], const pmb_env *env, size_t nenv, int out_fd,
                       int quiet_stderr) {
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        if (quiet_stderr) dup2(null_fd, STDERR_FILENO);
    }
    dup2(out_fd, STDOUT_FILENO);
    for (size_t i = 0; i < nenv; i++) {
        if (env[i].value) setenv(env[i].name, env[i].value, 1);
        else unsetenv(env[i].name);
    }
    execv(argv[0], argv);
    fprintf(stderr, "pymm bench: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Reads fd to EOF into a growing NUL-terminated buffer. */
static int slurp(int fd, char **buf, size_t *len) {
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (!b) return -1;
    for (;;) {
        if (cap - n < 1024) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return -1;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

static double tv_seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int pmb_run(char *const argv[], const pmb_env *env, size_t nenv, int quiet_stderr, pmb_child *out) {
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child_exec(argv, env, nenv, fds[1], quiet_stderr);
    }
    close(fds[1]);
    int rc = slurp(fds[0], &out->out, &out->out_len);
    close(fds[0]);

    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) return -1;
    }
    out->cpu_s = tv_seconds(ru.ru_utime) + tv_seconds(ru.ru_stime);
    out->maxrss_kb = ru.ru_maxrss;
    if (WIFEXITED(status)) out->exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) out->term_signal = WTERMSIG(status);
    return (rc == 0 && out->exit_code == 0) ? 0 : -1;
}

void pmb_child_release(pmb_child *c) {
    free(c->out);
    c->out = NULL;
    c->out_len = 0;
}

int pmb_pin_one_cpu(void) {
    const char *env = getenv("PYMM_BENCH_PIN");
    cpu_set_t set;
    if ((env && strcmp(env, "0") == 0) || sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return sched_setaffinity(0, sizeof set, &set) == 0 ? cpu : -1;
    }
    return -1;
}

void pmb_pin_noted(pmb_notes *ns) {
    int cpu = pmb_pin_one_cpu();
    if (cpu >= 0)
        pmb_note(ns,
                 "every worker ran on CPU %d, so that a round compares impls on one CPU "
                 "(this machine's CPUs may run at different speeds; PYMM_BENCH_PIN=0: "
                 "no pinning)",
                 cpu);
    else
        pmb_note(ns, "workers not pinned to one CPU: a round's impls may have run on CPUs of "
                     "different speeds");
}

int pmb_path(char *buf, size_t len, const char *dir, const char *name, const char *suffix) {
    int n = snprintf(buf, len, "%s/%s%s", dir, name, suffix);
    return (n >= 0 && (size_t)n < len) ? 0 : -1;
}

int pmb_self_dir(char *buf, size_t len) {
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0 || (size_t)n >= len - 1) return -1;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) return -1;
    *slash = '\0';
    return 0;
}

int pmb_is_executable(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int pmb_find_in_path(const char *name, char *buf, size_t len) {
    const char *path = getenv("PATH");
    if (!path) return -1;
    while (*path) {
        size_t dirlen = strcspn(path, ":");
        int n = snprintf(buf, len, "%.*s/%s", (int)dirlen, dirlen ? path : ".", name);
        if (n > 0 && (size_t)n < len && pmb_is_executable(buf)) return 0;
        path += dirlen;
        if (*path == ':') path++;
    }
    return -1;
}

double pmb_monotonic_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int pmb_make_tempdir(char *buf, size_t len) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    int n = snprintf(buf, len, "%s/pymm-bench-XXXXXX", tmp);
    if (n < 0 || (size_t)n >= len) return -1;
    return mkdtemp(buf) ? 0 : -1;
}

void pmb_remove_tempdir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[PATH_MAX];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* buf = the directory of /proc/self/exe joined with rel, when that is a
 * directory (an installed pymm); else -1. */
static int installed_dir(char *buf, size_t len, const char *rel) {
    char self[PATH_MAX];
    return (pmb_self_dir(self, sizeof self) == 0 && pmb_path(buf, len, self, rel, "") == 0 &&
            is_directory(buf))
               ? 0
               : -1;
}

int pmb_dropin_library(char *buf, size_t len) {
    char self[PATH_MAX];
    if (pmb_self_dir(self, sizeof self) != 0) return -1;
    static const char *const libdirs[] = {"../lib", "../" PMB_INSTALL_LIBDIR};
    for (size_t i = 0; i < sizeof libdirs / sizeof libdirs[0]; i++)
        if (pmb_path(buf, len, self, libdirs[i], "/libpymm-malloc.so") == 0 &&
            access(buf, R_OK) == 0)
            return 0;
    return -1;
}

int pmb_workers_dir(char *buf, size_t len) {
    if (installed_dir(buf, len, PMB_REL_WORKERS) == 0) return 0;
    return pmb_self_dir(buf, len);
}

/* PYMM_BENCH_SCRIPTS and PYMM_BENCH_PYTHON3 override the configure-time
 * values (for a build tree moved elsewhere). The driver is one thread, so
 * one static buffer holds the answer. */
const char *pmb_scripts_dir(void) {
    static char installed[PATH_MAX];
    const char *d = getenv("PYMM_BENCH_SCRIPTS");
    if (d && *d) return d;
    if (installed_dir(installed, sizeof installed, PMB_REL_SCRIPTS) == 0) return installed;
    return PMB_SCRIPTS_DIR;
}

const char *pmb_python3_path(void) {
    const char *p = getenv("PYMM_BENCH_PYTHON3");
    return (p && *p) ? p : PMB_PYTHON3;
}
