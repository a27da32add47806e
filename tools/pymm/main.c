/*
 * main.c -- the `pymm` command: one entry point for the tour, the
 * benchmarks and the tools. Each subcommand lives in its own file; this one
 * only dispatches.
 */
#include "pymm.h"

#include <stdio.h>
#include <string.h>

int pymm_demo(int argc, char **argv);
int pymm_gcgraph_main(int argc, char **argv);
int pymm_json_main(int argc, char **argv);
int pymm_stats_main(int argc, char **argv);
int pymm_report_main(int argc, char **argv);
int pymm_run_main(int argc, char **argv);
#ifdef PYMM_HAVE_BENCH
int pmb_main(int argc, char **argv);
#endif

static int usage(FILE *f) {
    fprintf(f, "usage: pymm COMMAND [ARGS]      (pymm COMMAND --help: its options)\n"
               "\n"
               "commands:\n"
               "  demo                      a tour of pymm at work, in words and figures\n"
               "  bench SUITE [--quick] [--json FILE]\n"
               "                            benchmarks side by side with their anchors\n"
               "                            (suites: alloc, objects, gc, threads, trace,\n"
               "                            inspect)\n"
               "  gcgraph [--saveall] [--debug] FILE\n"
               "                            run an object graph through the collector and\n"
               "                            print the canonical lines (docs/GCGRAPH.md);\n"
               "                            --debug: object debug checks\n"
               "  json [--repeat N] [--no-gc] [--strict] [--max-size BYTES] FILE...\n"
               "                            load JSON: value counts, memory, load time\n"
               "  stats [--json] [--blocks N]\n"
               "                            heap statistics of a described workload\n"
               "  report FILE [--format FMT] [-o OUT] [--top N] [--temporary N]\n"
               "                            what a capture (PYMM_TRACE=FILE) says: the\n"
               "                            peak, what was never freed, temporaries, by stack;\n"
               "                            FMT text, json, or collapsed, pprof, speedscope\n"
               "                            (every stack, for other tools; --measure M), or\n"
               "                            html (one page: flame graphs, sites, timeline;\n"
               "                            --max-stacks S, --buckets B); --leaks LEAKFILE\n"
               "                            adds the verdicts PYMM_LEAKS=LEAKFILE wrote\n"
               "  report --leaks LEAKFILE [--format text|json|dot|svg] [-o OUT]\n"
               "                            the leak verdicts alone; dot, svg: their\n"
               "                            reference graphs (svg by graphviz's dot)\n"
               "  report --diff A B [--format text|json] [-o OUT] [--top N]\n"
               "                            what changed per stack from capture A to B\n"
               "  run [--frames N] [--report FMT] [-o OUT] -- PROGRAM ARGS...\n"
               "                            run a program linked with pymm with the\n"
               "                            recorder on; write its report (html) and say\n"
               "                            where; the exit status is the program's\n"
               "  version, --version, -V    print the version\n"
               "  help, --help, -h          print this help\n"
               "\n"
               "environment: PYMM_MALLOC=pymm|malloc|debug|malloc_debug, PYMM_STATS=1|FILE,\n"
               "             PYMM_DEBUG=1, PYMM_GC_ADAPTIVE=0, PYMM_TRACE=FILE,\n"
               "             PYMM_TRACE_FRAMES=N, PYMM_TRACE_SAMPLE=BYTES (README.md,\n"
               "             \"Environment\")\n");
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "demo") == 0) return pymm_demo(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) {
#ifdef PYMM_HAVE_BENCH
        return pmb_main(argc - 1, argv + 1);
#else
        fprintf(stderr, "pymm: this build has no benchmarks\n");
        return 2;
#endif
    }
    if (strcmp(cmd, "gcgraph") == 0) return pymm_gcgraph_main(argc - 1, argv + 1);
    if (strcmp(cmd, "json") == 0) return pymm_json_main(argc - 1, argv + 1);
    if (strcmp(cmd, "stats") == 0) return pymm_stats_main(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0) return pymm_report_main(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0) return pymm_run_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("pymm %s\n", PYMM_VERSION_STRING);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return usage(stdout);
    fprintf(stderr, "pymm: unknown command '%s'\n", cmd);
    return usage(stderr);
}
