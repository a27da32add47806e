/*
 * pmb_report.h -- measured records, notes, and their JSON output, shared by the
 * bench suites.
 *
 * A record is one figure of (case, impl, metric, unit). A measured figure
 * that varies from run to run (a time, a rate, a share, a peak RSS) keeps a
 * sample per round, a round being one run of every impl (A B A B ...); its
 * value is the median over the rounds, reported with min, max and count.
 * Ratios between two impls are the median of per-round ratios: the speed of
 * a shared machine drifts between rounds, not within one. An exact figure
 * (a count, heap bytes, instructions) is one value. The JSON file of a
 * suite is {"suite": NAME, "records": [record...]}.
 */
#ifndef PMB_REPORT_H
#define PMB_REPORT_H

#include <stddef.h>

#include "pmb_stats.h"

/* The most rounds a suite runs (--rounds is checked against it). */
#define PMB_MAX_ROUNDS 64

typedef struct pmb_record {
    char case_name[48];
    char impl[16];
    char metric[32];
    char unit[16];
    double value;                   /* the figure: the median of the samples, or the one value */
    int sampled;                    /* 1: samples per round; 0: one exact value              */
    pmb_spread spread;              /* of the samples (sampled records)                       */
    double samples[PMB_MAX_ROUNDS]; /* by round; NAN where the round gave none  */
} pmb_record;

typedef struct pmb_records {
    pmb_record *v;
    size_t n, cap;
} pmb_records;

/* Adds a record, or replaces the value of an existing (case, impl, metric).
 * Returns 0, or -1 when out of memory or a field is too long. */
int pmb_records_add(pmb_records *rs, const char *case_name, const char *impl, const char *metric,
                    double value, const char *unit);
/* Adds the sample of round (0 <= round < PMB_MAX_ROUNDS) to a sampled
 * record, made on its first sample; its value becomes the new median.
 * Returns 0, or -1 as pmb_records_add or for a bad round. */
int pmb_records_add_sample(pmb_records *rs, const char *case_name, const char *impl,
                           const char *metric, int round, double value, const char *unit);
/* Whether a unit is that of an exact figure (counts, bytes, instructions),
 * which stays one value, rather than of a measurement that varies. */
int pmb_unit_is_exact(const char *unit);
/* A worker's line "PMB case metric value unit" as a record of impl: a
 * sample of round when round >= 0 and the unit is not exact, else one
 * value. Returns 1 when the line was a record, else 0. */
int pmb_records_take_line(pmb_records *rs, const char *impl, const char *line, int round);
/* The record, or NULL. */
const pmb_record *pmb_records_find(const pmb_records *rs, const char *case_name, const char *impl,
                                   const char *metric);
/* The spread of a record: its samples, or its one value (n = 1); NULL: n = 0. */
pmb_spread pmb_record_spread(const pmb_record *r);
/* num / den per round, over the rounds where both have a sample (an exact
 * record counts in every round), as median, min and max; n = 0 when no
 * round has both or a denominator is not positive. */
pmb_spread pmb_ratio_spread(const pmb_record *num, const pmb_record *den);
/* The geometric mean over k cases of num[i] / den[i], per round (a round
 * counts when every case has both samples in it), as a spread; n = 0 when
 * no round has them all. For summaries such as the geomean over size
 * classes, whose cases a worker measures in one process per round. */
pmb_spread pmb_geomean_ratio_spread(const pmb_record *const *num, const pmb_record *const *den,
                                    size_t k);
/* "median (min–max)" with fmt for each number, "median" alone when n == 1
 * or min == max, "n/a" when n == 0. */
void pmb_format_spread(char *buf, size_t len, const char *fmt, pmb_spread s);
/* A Markdown table's cell, " SPREAD |", of r's samples each divided by
 * div, in fmt ("n/a" when r is NULL or has none). */
void pmb_print_cell(const pmb_record *r, const char *fmt, double div);

/* Writes {"suite": ..., "records": [...]} to path. Returns 0 or -1. A
 * sampled record has "stat": "median", "value" (the median), "min", "max",
 * "rounds" (samples) and "samples" (by round, null where a round gave
 * none); an exact one "stat": "value". */
int pmb_records_write_json(const pmb_records *rs, const char *suite, const char *path);
/* The end of a suite: the records as JSON to json_path when it is set, and
 * the exit status: 0 when pymm was measured (pymm_ok) and the file, if
 * any, was written. */
int pmb_suite_status(const pmb_records *rs, const char *suite, const char *json_path, int pymm_ok);
void pmb_records_free(pmb_records *rs);
/* Some record of rs is impl's: a suite exits 0 only when pymm was measured. */
int pmb_records_have_impl(const pmb_records *rs, const char *impl);

/* Notes: one line each, shown above a suite's tables (skips, failures). */
typedef struct pmb_notes {
    char **v;
    size_t n, cap;
} pmb_notes;

void pmb_note(pmb_notes *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pmb_notes_free(pmb_notes *ns);
/* The notes as a Markdown list under "Notes:" (nothing when there are none). */
void pmb_notes_print(const pmb_notes *ns);

/* How a worker ended, as a note when it did not end well: killed (signal
 * != 0), failed (rc != 0: exit_code), or silent (results == 0). */
void pmb_note_worker(pmb_notes *ns, const char *case_name, const char *impl, int rc,
                     int term_signal, int exit_code, int results);

/* Every impl must report the same value for a check ("PMB-CHECK") as the
 * first impl that reported it for the case: a note for each that does not. */
void pmb_verify_checks(const pmb_records *checks, pmb_notes *ns);

/* Progress on stderr (stdout carries the report). */
void pmb_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "CPU model, N CPUs, Linux release": the host line of every report. */
void pmb_host_description(char *buf, size_t len);
/* The title of a suite's report ("## pymm bench SUITE (quick|full run)"). */
void pmb_print_title(const char *suite, int quick);
/* The title, then "Host: ... Suite time: N s." (suites with nothing more to
 * say on that line). */
void pmb_print_head(const char *suite, int quick, double elapsed_s);

#endif /* PMB_REPORT_H */
