/*
 * run_cmd.c -- `pymm run [OPTIONS] -- PROGRAM ARGS...`: runs a program
 * with the allocation recorder on, then writes the report of what it
 * recorded and says where; and/or with pymm's statistics (--stats) and
 * leak check (--leaks) at its exit (docs/TRACING.md, "One command: pymm
 * run").
 *
 * Owns nothing but the child's run. The recording, the statistics and the
 * leak check are the library's own PYMM_TRACE, PYMM_STATS and PYMM_LEAKS
 * (read in the program's constructors): this command only puts them into
 * the child's environment (never its own: pymm itself is linked with pymm
 * and would trace itself), waits, and hands a capture to `pymm report`
 * (report_cmd.c) in this process. It traces when asked (--trace, or an
 * option of the report) or when nothing else is asked. Traced with
 * --leaks, the verdicts go to a file (beside the capture unless named)
 * that the report joins, as `pymm report CAPTURE --leaks FILE` does. A program not
 * linked with pymm (its file names neither libpymm nor the recorder's
 * variable) gets the drop-in, libpymm-malloc.so (src/dropin/), in
 * LD_PRELOAD, so that its malloc is pymm's: any dynamically linked
 * program, and the processes it starts.
 *
 * Invariants: the exit status is the program's (128 + N when signal N
 * ended it, 127 when it could not be started, as a shell says), unless
 * the program succeeded and its report could not be written (1) or the
 * command line is wrong (2). The capture's name holds %p, so the file is
 * the program's process's own, and a child of the program that runs
 * pymm writes its own file beside it rather than truncating this one;
 * the default leak file's name is the capture's, so it holds %p too, and
 * the report joins the program's own process's verdicts to its capture.
 */
#define _GNU_SOURCE
#include "pymm.h"
#include "pmb_proc.h" /* pmb_dropin_library: bench/common, linked into the command */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int pymm_report_main(int argc, char **argv);
int pymm_run_main(int argc, char **argv);

#define RUN_PATH 4096

static int usage(FILE *f) {
    fprintf(f,
            "usage: pymm run [--trace] [--frames N] [--sample BYTES] [--report FMT] [-o OUT]\n"
            "                [--capture FILE] [--stats [FILE]] [--leaks [FILE]]\n"
            "                [--leaks-exitcode N] -- PROGRAM [ARGS...]\n"
            "  runs PROGRAM with the allocation recorder on, then writes the report of\n"
            "  its run and says where; with --stats or --leaks alone, it does not trace.\n"
            "  Traced with --leaks, the report (html, text or json) joins the verdicts.\n"
            "  A program linked with pymm (pymm-python too) serves itself; any other\n"
            "  dynamically linked program gets pymm's malloc through LD_PRELOAD\n"
            "  (libpymm-malloc.so), with the processes it starts.\n"
            "  --trace          record every allocation (the default without --stats\n"
            "                   and --leaks; implied by the options down to --capture)\n"
            "  --frames N       native frames a stack keeps, 1 to %d (default 16)\n"
            "  --sample BYTES   record one allocation per BYTES on average\n"
            "  --report FMT     html (default), text, json, collapsed, pprof, speedscope\n"
            "  -o OUT           the report's file (default: the capture's name, with\n"
            "                   the format's extension; - for standard output)\n"
            "  --capture FILE   the capture's name (default ./PROGRAM.%%p.trc; %%p is the\n"
            "                   process id); it is kept\n"
            "  --stats [FILE]   pymm's heap statistics at exit (PYMM_STATS), on stderr or\n"
            "                   appended to FILE (%%p: each process's id, so each writes\n"
            "                   its own; without it all append to FILE)\n"
            "  --leaks [FILE]   leak verdicts at exit (PYMM_LEAKS), on stderr or as JSON\n"
            "                   in FILE (%%p: each process's id, so each writes its own);\n"
            "                   traced, FILE defaults to the capture's name with\n"
            "                   .leaks.json for .trc, and the report joins its verdicts\n"
            "  --leaks-exitcode N  with --leaks, exit with N (0 to 255) on a leak\n"
            "  The exit status is the program's.\n",
            PM_TRACE_MAX_FRAMES);
    return f == stderr ? 2 : 0;
}

typedef struct run_options {
    const char *frames, *sample, *format, *out, *capture;
    bool trace;                /* --trace, or an option only a trace uses */
    const char *stats, *leaks; /* "1" (stderr), a file name, or NULL */
    const char *leaks_exitcode;
    char **program; /* NULL-terminated: PROGRAM ARGS... */
} run_options;

/* A decimal number from lo to hi, all of text. */
static bool number_in(const char *text, unsigned long long lo, unsigned long long hi) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    return text[0] >= '0' && text[0] <= '9' && *end == '\0' && errno == 0 && n >= lo && n <= hi;
}

/* The report's file extension for a format; NULL for a format pymm
 * report does not write. */
static const char *extension(const char *format) {
    static const char *const table[][2] = {
        {"html", ".html"},        {"text", ".txt"},    {"json", ".json"},
        {"collapsed", ".folded"}, {"pprof", ".pprof"}, {"speedscope", ".speedscope.json"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i][0], format) == 0) return table[i][1];
    return NULL;
}

/* An option of the trace (its value next, or NULL) into *o: false when a
 * is none, or lacks its value. */
static bool trace_option(const char *a, const char *value, run_options *o) {
    const char **to = strcmp(a, "--frames") == 0    ? &o->frames
                      : strcmp(a, "--sample") == 0  ? &o->sample
                      : strcmp(a, "--report") == 0  ? &o->format
                      : strcmp(a, "-o") == 0        ? &o->out
                      : strcmp(a, "--capture") == 0 ? &o->capture
                                                    : NULL;
    if (to == NULL && strcmp(a, "--trace") != 0) return false;
    if (to && value == NULL) return false;
    if (to) *to = value;
    o->trace = true;
    return true;
}

/* The command line into *o: 0; -1 when --help printed the usage; 2 with
 * what is wrong said. */
static int parse(int argc, char **argv, run_options *o) {
    *o = (run_options){.format = "html"};
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return -1;
        }
        /* --stats and --leaks take a FILE only when one follows. */
        const char *file = more && argv[i + 1][0] != '-' ? argv[i + 1] : NULL;
        if (strcmp(a, "--stats") == 0) o->stats = file ? argv[++i] : "1";
        else if (strcmp(a, "--leaks") == 0) o->leaks = file ? argv[++i] : "1";
        else if (strcmp(a, "--leaks-exitcode") == 0 && more) o->leaks_exitcode = argv[++i];
        else if (!trace_option(a, more ? argv[i + 1] : NULL, o)) return usage(stderr);
        else if (strcmp(a, "--trace") != 0) i++; /* its value */
    }
    if (!o->stats && !o->leaks) o->trace = true;
    if (i + 1 >= argc) {
        fprintf(stderr, "pymm run: no program to run (pymm run [OPTIONS] -- PROGRAM ARGS...)\n");
        return 2;
    }
    o->program = argv + i + 1;
    if (o->frames && !number_in(o->frames, 1, PM_TRACE_MAX_FRAMES)) {
        fprintf(stderr, "pymm run: --frames %s: not a number from 1 to %d\n", o->frames,
                PM_TRACE_MAX_FRAMES);
        return 2;
    }
    if (o->sample && !number_in(o->sample, 1, PM_TRACE_MAX_SAMPLE)) {
        fprintf(stderr, "pymm run: --sample %s: not a number of bytes from 1 to %llu\n", o->sample,
                (unsigned long long)PM_TRACE_MAX_SAMPLE);
        return 2;
    }
    if (o->leaks && o->trace && strcmp(o->format, "html") != 0 && strcmp(o->format, "text") != 0 &&
        strcmp(o->format, "json") != 0) {
        fprintf(stderr,
                "pymm run: --report %s does not show leak verdicts (--leaks with a trace goes "
                "with html, text or json)\n",
                o->format);
        return 2;
    }
    if (o->leaks_exitcode && (!o->leaks || !number_in(o->leaks_exitcode, 0, 255))) {
        fprintf(stderr, "pymm run: --leaks-exitcode %s: %s\n", o->leaks_exitcode,
                o->leaks ? "not a number from 0 to 255" : "needs --leaks");
        return 2;
    }
    if (extension(o->format) == NULL) {
        fprintf(stderr,
                "pymm run: --report %s: not a format (html, text, json, collapsed, pprof, "
                "speedscope)\n",
                o->format);
        return 2;
    }
    return 0;
}

/* Does the file at path hold needle (n bytes)? */
static bool file_holds(const char *path, const char *needle, size_t n) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return false;
    char buf[1 << 16];
    size_t kept = 0, got;
    bool found = false;
    while (!found && (got = fread(buf + kept, 1, sizeof buf - kept, f)) > 0) {
        size_t len = kept + got;
        found = memmem(buf, len, needle, n) != NULL;
        kept = len < n - 1 ? len : n - 1; /* a match across two reads */
        memmove(buf, buf + len - kept, kept);
    }
    fclose(f);
    return found;
}

/* The program's file: program itself when it names a path, else the
 * first executable of that name on PATH, as execvp finds it. */
static bool program_file(const char *program, char *out, size_t size) {
    if (strchr(program, '/')) return snprintf(out, size, "%s", program) < (int)size;
    const char *path = getenv("PATH");
    for (const char *dir = path ? path : "/usr/bin:/bin"; *dir;) {
        size_t len = strcspn(dir, ":");
        if (snprintf(out, size, "%.*s/%s", (int)len, len ? dir : ".", program) < (int)size &&
            access(out, X_OK) == 0)
            return true;
        dir += len + (dir[len] == ':');
    }
    return false;
}

/* Is the program linked with pymm: its file names the shared library, or
 * holds the recorder's own (a static link)? A script is not: its
 * interpreter gets the drop-in. */
static bool linked_with_pymm(const char *program) {
    char file[RUN_PATH];
    if (!program_file(program, file, sizeof file)) return false;
    static const char shared[] = "libpymm.so", recorder[] = "PYMM_TRACE_FRAMES";
    return file_holds(file, shared, sizeof shared - 1) ||
           file_holds(file, recorder, sizeof recorder - 1);
}

/* LD_PRELOAD with the drop-in first (the program's own entries kept). */
static void preload_dropin(const char *program) {
    char lib[RUN_PATH], value[2 * RUN_PATH];
    if (pmb_dropin_library(lib, sizeof lib) != 0) {
        fprintf(stderr,
                "pymm run: %s is not linked with pymm, and libpymm-malloc.so is not "
                "installed beside pymm: its allocations are not pymm's\n",
                program);
        return;
    }
    const char *old = getenv("LD_PRELOAD");
    snprintf(value, sizeof value, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
    setenv("LD_PRELOAD", value, 1);
}

/* A file name (the capture's, --stats', --leaks') with each %p the pid. */
static bool expand(const char *pattern, pid_t pid, char *out, size_t size) {
    size_t n = 0;
    for (const char *q = pattern; *q; q++) {
        char piece[24] = {*q, 0};
        if (q[0] == '%' && q[1] == 'p') {
            snprintf(piece, sizeof piece, "%ld", (long)pid);
            q++;
        }
        size_t len = strlen(piece);
        if (n + len >= size) return false;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return true;
}

/* *name made absolute in buf when it is a relative file name ("1", the
 * standard error stream, and NULL stay); false when it does not fit. */
static bool absolute(const char **name, char *buf, size_t size) {
    if (*name == NULL || strcmp(*name, "1") == 0 || (*name)[0] == '/') return true;
    char cwd[RUN_PATH];
    if (getcwd(cwd, sizeof cwd) == NULL) return true; /* left relative */
    int n = snprintf(buf, size, "%s/%s", cwd, *name);
    if (n < 0 || (size_t)n >= size) return false;
    *name = buf;
    return true;
}

/* The child's side: its environment, then the program. A failed exec
 * sends errno up the pipe (closed on a good exec) and ends with 127.
 * PYMM_STATS and PYMM_LEAKS expand %p in each process itself. */
static void child(const run_options *o, const char *capture, int report_fd) {
    if (!linked_with_pymm(o->program[0])) preload_dropin(o->program[0]);
    if (o->trace) {
        setenv("PYMM_TRACE", capture, 1);
        if (o->frames) setenv("PYMM_TRACE_FRAMES", o->frames, 1);
        if (o->sample) setenv("PYMM_TRACE_SAMPLE", o->sample, 1);
    }
    if (o->stats) setenv("PYMM_STATS", o->stats, 1);
    if (o->leaks) setenv("PYMM_LEAKS", o->leaks, 1);
    if (o->leaks_exitcode) setenv("PYMM_LEAKS_EXITCODE", o->leaks_exitcode, 1);
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    execvp(o->program[0], o->program);
    int e = errno;
    ssize_t w = write(report_fd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* Run the program; its exit status (a shell's: 128 + N for signal N),
 * or 127 with *started false and the reason said when it could not
 * start. *pid is its process id. */
static int run_program(const run_options *o, const char *capture, pid_t *pid, bool *started) {
    *started = false;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "pymm run: %s\n", strerror(errno));
        return 127;
    }
    fflush(NULL);
    *pid = fork();
    if (*pid == 0) child(o, capture, fds[1]);
    close(fds[1]);
    if (*pid < 0) {
        fprintf(stderr, "pymm run: cannot start %s: %s\n", o->program[0], strerror(errno));
        close(fds[0]);
        return 127;
    }
    /* As system() does: ^C and ^\ are the program's to handle. */
    void (*old_int)(int) = signal(SIGINT, SIG_IGN);
    void (*old_quit)(int) = signal(SIGQUIT, SIG_IGN);
    int e = 0;
    ssize_t n;
    while ((n = read(fds[0], &e, sizeof e)) < 0 && errno == EINTR) continue;
    close(fds[0]);
    int status;
    while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) continue;
    signal(SIGINT, old_int);
    signal(SIGQUIT, old_quit);
    if (n == (ssize_t)sizeof e) {
        fprintf(stderr, "pymm run: cannot run %s: %s\n", o->program[0], strerror(e));
        return 127;
    }
    *started = true;
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "pymm run: %s was ended by signal %d (%s)\n", o->program[0],
                WTERMSIG(status), strsignal(WTERMSIG(status)));
        return 128 + WTERMSIG(status);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* The default capture name: ./PROGRAM.%p.trc, PROGRAM's last part. */
static void default_capture(const char *program, char *out, size_t size) {
    char copy[RUN_PATH];
    snprintf(copy, sizeof copy, "%s", program);
    snprintf(out, size, "%s.%%p.trc", basename(copy));
}

/* The report's default name: the capture's, its ".trc" (if any) replaced
 * by the format's extension. */
static void default_report(const char *capture, const char *format, char *out, size_t size) {
    size_t n = strlen(capture);
    if (n >= 4 && strcmp(capture + n - 4, ".trc") == 0) n -= 4;
    snprintf(out, size, "%.*s%s", (int)n, capture, extension(format));
}

/* The default leak file of a traced run: the capture's name (pattern),
 * its ".trc" (if any) replaced by ".leaks.json", so %p with it. */
static bool default_leaks(const char *capture, char *out, size_t size) {
    size_t n = strlen(capture);
    if (n >= 4 && strcmp(capture + n - 4, ".trc") == 0) n -= 4;
    int w = snprintf(out, size, "%.*s.leaks.json", (int)n, capture);
    return w > 0 && (size_t)w < size;
}

/* Write the report of capture to out, by `pymm report`, with the leak
 * verdicts of the file leaks joined (NULL: none): its status. */
static int write_report(const char *capture, const run_options *o, const char *out,
                        const char *leaks) {
    char *argv[9] = {"report", (char *)capture, "--format", (char *)o->format};
    int argc = 4;
    if (strcmp(out, "-") != 0) { /* else standard output */
        argv[argc++] = "-o";
        argv[argc++] = (char *)out;
    }
    if (leaks) {
        argv[argc++] = "--leaks";
        argv[argc++] = (char *)leaks;
    }
    argv[argc] = NULL;
    return pymm_report_main(argc, argv);
}

/* The file name (a --stats or --leaks FILE; "1", stderr, is none) as
 * process pid's, into file: true when this run wrote it (started: when
 * it began), else false with why said (what: the option's). */
static bool written_file(const char *program, const char *what, const char *name, pid_t pid,
                         time_t started, char *file, size_t size) {
    struct stat st;
    if (name == NULL || strcmp(name, "1") == 0 || !expand(name, pid, file, size)) return false;
    /* A file of an earlier run is not this one's (PYMM_STATS appends). */
    if (stat(file, &st) == 0 && st.st_mtime >= started) return true;
    fprintf(stderr,
            "pymm run: %s wrote no %s (%s): is it a static program, or did it exec "
            "another with no %%p in the name?\n",
            program, file, what);
    return false;
}

/* The trace's report of the program's run (process pid, exit status),
 * with its leak verdicts when --leaks wrote them: the status to return. */
static int report_trace(const run_options *o, const char *pattern, pid_t pid, int status,
                        time_t started) {
    char capture[RUN_PATH], out[RUN_PATH], leaks[RUN_PATH];
    struct stat st;
    if (!expand(pattern, pid, capture, sizeof capture) || stat(capture, &st) != 0) {
        fprintf(stderr,
                "pymm run: %s wrote no capture %s: is it a static program, neither linked "
                "with pymm nor able to load the drop-in?\n",
                o->program[0], capture);
        return status ? status : 1;
    }
    bool joined = written_file(o->program[0], "the leak verdicts", o->leaks, pid, started, leaks,
                               sizeof leaks);
    if (o->out) snprintf(out, sizeof out, "%s", o->out);
    else default_report(capture, o->format, out, sizeof out);
    if (write_report(capture, o, out, joined ? leaks : NULL) != 0) {
        fprintf(stderr, "pymm run: no report written (the capture is %s%s%s)\n", capture,
                joined ? ", the leak verdicts " : "", joined ? leaks : "");
        return status ? status : 1;
    }
    if (strcmp(out, "-") == 0 && joined)
        fprintf(stderr, "pymm run: the leak verdicts of %s: %s (capture: %s)\n", o->program[0],
                leaks, capture);
    if (strcmp(out, "-") != 0) {
        fprintf(stderr, "pymm run: %s exited with status %d; its report: %s (capture: %s%s%s)\n",
                o->program[0], status, out, capture, joined ? ", leak verdicts: " : "",
                joined ? leaks : "");
        if (strcmp(o->format, "html") == 0)
            fprintf(stderr, "pymm run: open it in a browser: xdg-open %s\n", out);
    }
    return status;
}

/* Say where the program's statistics or leak verdicts went (what: the
 * option; name: its FILE, "1" for stderr, where nothing is to be said). */
static void say_file(const char *program, const char *what, const char *name, pid_t pid,
                     time_t started) {
    char file[RUN_PATH];
    if (written_file(program, what, name, pid, started, file, sizeof file))
        fprintf(stderr, "pymm run: %s of %s: %s\n", what, program, file);
}

int pymm_run_main(int argc, char **argv) {
    run_options o;
    int rc = parse(argc, argv, &o);
    if (rc != 0) return rc < 0 ? 0 : rc; /* -1: --help */
    char pattern[RUN_PATH];
    if (o.capture) snprintf(pattern, sizeof pattern, "%s", o.capture);
    else default_capture(o.program[0], pattern, sizeof pattern);
    /* The files by absolute name: the program may change directory. */
    char stats[RUN_PATH], leaks[RUN_PATH], leaks_default[RUN_PATH];
    /* Traced, the verdicts go to a file the report joins. */
    if (o.trace && o.leaks && strcmp(o.leaks, "1") == 0) {
        if (!default_leaks(pattern, leaks_default, sizeof leaks_default)) {
            fprintf(stderr, "pymm run: a file name is too long\n");
            return 2;
        }
        o.leaks = leaks_default;
    }
    if (!absolute(&o.stats, stats, sizeof stats) || !absolute(&o.leaks, leaks, sizeof leaks)) {
        fprintf(stderr, "pymm run: a file name is too long\n");
        return 2;
    }
    pid_t pid = 0;
    bool started;
    time_t start = time(NULL);
    int status = run_program(&o, pattern, &pid, &started);
    if (!started) return status;
    say_file(o.program[0], "the statistics", o.stats, pid, start);
    if (!o.trace) say_file(o.program[0], "the leak verdicts", o.leaks, pid, start);
    return o.trace ? report_trace(&o, pattern, pid, status, start) : status;
}
