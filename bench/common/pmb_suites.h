/*
 * pmb_suites.h -- the suites pmb_main dispatches to (bench_main.c's table).
 *
 * A suite gets argv[0] = its own name and its options after it; it prints
 * its report on stdout and returns 0, 1 (failed) or 2 (usage error).
 */
#ifndef PMB_SUITES_H
#define PMB_SUITES_H

/* The options every suite takes: --quick, --json FILE (or --json=FILE),
 * --help. help is the suite's usage text (printed on --help and on a bad
 * option). Returns -1 to go on, 0 after --help, 2 on a usage error. */
int pmb_parse_options(const char *suite, const char *help, int argc, char **argv, int *quick,
                      const char **json_path);

int pmb_suite_alloc(int argc, char **argv);
int pmb_suite_objects(int argc, char **argv);
int pmb_suite_gc(int argc, char **argv);

#endif /* PMB_SUITES_H */
