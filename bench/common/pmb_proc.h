/*
 * pmb_proc.h -- child processes and paths for the bench suites.
 *
 * Every measurement runs in a child so that allocators never share a
 * process; these helpers start children, capture their stdout and report
 * their CPU time and peak RSS (wait4).
 */
#ifndef PMB_PROC_H
#define PMB_PROC_H

#include <stddef.h>

/* An environment change for a child: set name=value, or unset name when
 * value is NULL. */
typedef struct pmb_env {
    const char *name;
    const char *value;
} pmb_env;

typedef struct pmb_child {
    char *out; /* captured stdout, NUL-terminated; pmb_child_release */
    size_t out_len;
    int exit_code;   /* the exit status, or -1 (killed or could not run)   */
    int term_signal; /* the signal that killed it, else 0                   */
    double cpu_s;    /* user + system CPU time                              */
    long maxrss_kb;  /* peak RSS (ru_maxrss)                                */
} pmb_child;

/* Runs argv[0] (a path) with argv, stdin from /dev/null, stdout captured,
 * stderr inherited unless quiet_stderr. Returns 0 when the child ran and
 * exited with status 0, else -1 (details in *out). */
int pmb_run(char *const argv[], const pmb_env *env, size_t nenv, int quiet_stderr, pmb_child *out);
void pmb_child_release(pmb_child *c);

/* Pins the calling process, and so every child it starts from then on
 * (affinity is inherited across fork and exec), to one CPU: the first of
 * those it may run on. The single-threaded suites call it first: the two
 * vCPUs of the machines these figures come from run at speeds up to 2x
 * apart, varying by the minute, so two impls of a round placed on
 * different CPUs give a ratio that measures the CPUs, not the impls
 * (docs/PERFORMANCE.md, "Why pymm's times varied more than malloc's").
 * PYMM_BENCH_PIN=0 leaves placement to the scheduler. Returns the CPU, or
 * -1 when not pinned (turned off, or sched_setaffinity failed). */
int pmb_pin_one_cpu(void);
/* pmb_pin_one_cpu, and a note (pmb_report.h) that says where the workers
 * ran: for the single-threaded suites, before their first worker. */
struct pmb_notes;
void pmb_pin_noted(struct pmb_notes *ns);

/* buf = dir "/" name suffix (suffix may be ""). Returns 0, or -1 when it
 * does not fit. */
int pmb_path(char *buf, size_t len, const char *dir, const char *name, const char *suffix);

/* The directory of /proc/self/exe (where pymm-python is built). */
int pmb_self_dir(char *buf, size_t len);
/* Where the workers are: LIBEXECDIR/pymm of an installed pymm (found from
 * /proc/self/exe, PMB_REL_WORKERS), else the directory of /proc/self/exe
 * (the build tree's bin/). Returns 0 or -1. */
int pmb_workers_dir(char *buf, size_t len);
/* The drop-in, libpymm-malloc.so, beside the running command, into buf:
 * ../lib (the build tree, or an install whose library folder is lib) or
 * ../LIBDIR (the install's own, such as lib/x86_64-linux-gnu). For `pymm
 * bench alloc`'s drop-in column and `pymm run`. Returns 0, or -1 when
 * neither holds it. */
int pmb_dropin_library(char *buf, size_t len);
/* The first executable called name on PATH, into buf. Returns 0 or -1. */
int pmb_find_in_path(const char *name, char *buf, size_t len);
int pmb_is_executable(const char *path);

/* The Python scripts: PYMM_BENCH_SCRIPTS when set, DATADIR/pymm/bench of an
 * installed pymm, else bench/scripts/ of the source tree; and the
 * real python3 executable resolved at configure time (PYMM_BENCH_PYTHON3
 * overrides; "" when none was found). */
const char *pmb_scripts_dir(void);
const char *pmb_python3_path(void);

/* CLOCK_MONOTONIC in seconds: how long a suite took. */
double pmb_monotonic_s(void);

/* A fresh private directory under $TMPDIR (or /tmp), and its removal with
 * the plain files in it. */
int pmb_make_tempdir(char *buf, size_t len);
void pmb_remove_tempdir(const char *dir);

#endif /* PMB_PROC_H */
