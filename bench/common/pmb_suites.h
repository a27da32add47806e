/*
 * pmb_suites.h -- the suites pmb_main dispatches to (bench_main.c's table).
 *
 * A suite gets argv[0] = its own name and its options after it; it prints
 * its report on stdout and returns 0, 1 (failed) or 2 (usage error).
 */
#ifndef PMB_SUITES_H
#define PMB_SUITES_H

#include "pmb_report.h"

/* The options every suite takes, for reproducing a figure on its own. */
typedef struct pmb_options {
    int quick;
    const char *json_path; /* --json FILE: NULL when not given            */
    int rounds;            /* --rounds N: 0 when not given (the default)   */
    const char *cases;     /* --cases LIST: names or prefixes, NULL: all   */
    const char *impls;     /* --impls LIST: names, NULL: all (pymm always) */
} pmb_options;

/* Parses --quick, --json FILE, --rounds N (1..PMB_MAX_ROUNDS), --cases
 * LIST, --impls LIST (each also as --opt=VALUE) and --help. help is the
 * suite's usage text (printed on --help and on a bad option); case_names
 * and impl_names (NULL ended) are what the lists may name: an item of
 * --cases must be a prefix of some case, an item of --impls an impl.
 * Returns -1 to go on, 0 after --help, 2 on a usage error. */
int pmb_parse_options(const char *suite, const char *help, int argc, char **argv,
                      const char *const *case_names, const char *const *impl_names, pmb_options *o);
/* Whether --cases selects case_name (an item is its name or a prefix). */
int pmb_option_case(const pmb_options *o, const char *case_name);
/* A note for each --cases item that no record of the run matched: the
 * list is checked against the full run's cases, and a --quick run has
 * fewer (binarytrees-20), so the item was valid and measured nothing. */
void pmb_note_unmatched_cases(const pmb_options *o, const pmb_records *rs, pmb_notes *ns);
/* Whether --cases selects any case whose name starts with group ("pair-"
 * is selected by "pair-16" as by "pair" or "p"). */
int pmb_option_group(const pmb_options *o, const char *group);
/* Whether --impls selects impl; pymm (and pymm-python) always. */
int pmb_option_impl(const pmb_options *o, const char *impl);
/* The rounds of a case: --rounds when given, else dflt. */
int pmb_option_rounds(const pmb_options *o, int dflt);

int pmb_suite_alloc(int argc, char **argv);
int pmb_suite_objects(int argc, char **argv);
int pmb_suite_gc(int argc, char **argv);
int pmb_suite_threads(int argc, char **argv);
int pmb_suite_trace(int argc, char **argv);
int pmb_suite_inspect(int argc, char **argv);

#endif /* PMB_SUITES_H */
