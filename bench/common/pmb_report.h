/*
 * pmb_report.h -- measured records, notes, and their JSON output, shared by the
 * bench suites.
 *
 * A record is one number: (case, impl, metric, value, unit). The JSON file
 * of a suite is {"suite": NAME, "records": [record...]}.
 */
#ifndef PMB_REPORT_H
#define PMB_REPORT_H

#include <stddef.h>

typedef struct pmb_record {
    char case_name[48];
    char impl[16];
    char metric[32];
    char unit[16];
    double value;
} pmb_record;

typedef struct pmb_records {
    pmb_record *v;
    size_t n, cap;
} pmb_records;

/* Adds a record, or replaces the value of an existing (case, impl, metric).
 * Returns 0, or -1 when out of memory or a field is too long. */
int pmb_records_add(pmb_records *rs, const char *case_name, const char *impl, const char *metric,
                    double value, const char *unit);
/* The record, or NULL. */
const pmb_record *pmb_records_find(const pmb_records *rs, const char *case_name, const char *impl,
                                   const char *metric);
/* Writes {"suite": ..., "records": [...]} to path. Returns 0 or -1. */
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

#endif /* PMB_REPORT_H */
