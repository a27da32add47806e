/*
 * report.c -- measured records, their samples per round and the statistics
 * of those (median, spread, per-round ratios), notes and JSON output (see
 * pmb_report.h).
 */
#include "pmb_report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Copies src into a fixed field; -1 when it does not fit. */
static int set_field(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static pmb_record *find_mut(const pmb_records *rs, const char *case_name, const char *impl,
                            const char *metric) {
    for (size_t i = 0; i < rs->n; i++) {
        pmb_record *r = &rs->v[i];
        if (strcmp(r->case_name, case_name) == 0 && strcmp(r->impl, impl) == 0 &&
            strcmp(r->metric, metric) == 0)
            return r;
    }
    return NULL;
}

const pmb_record *pmb_records_find(const pmb_records *rs, const char *case_name, const char *impl,
                                   const char *metric) {
    return find_mut(rs, case_name, impl, metric);
}

/* The record of (case, impl, metric), made (no samples, value 0) when new. */
static pmb_record *find_or_make(pmb_records *rs, const char *case_name, const char *impl,
                                const char *metric) {
    pmb_record *r = find_mut(rs, case_name, impl, metric);
    if (r) return r;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        pmb_record *v = realloc(rs->v, cap * sizeof *v);
        if (!v) return NULL;
        rs->v = v;
        rs->cap = cap;
    }
    r = &rs->v[rs->n];
    memset(r, 0, sizeof *r);
    for (int i = 0; i < PMB_MAX_ROUNDS; i++) r->samples[i] = NAN;
    if (set_field(r->case_name, sizeof r->case_name, case_name) ||
        set_field(r->impl, sizeof r->impl, impl) || set_field(r->metric, sizeof r->metric, metric))
        return NULL;
    rs->n++;
    return r;
}

int pmb_records_add(pmb_records *rs, const char *case_name, const char *impl, const char *metric,
                    double value, const char *unit) {
    pmb_record *r = find_or_make(rs, case_name, impl, metric);
    if (!r) return -1;
    r->sampled = 0;
    r->value = value;
    return set_field(r->unit, sizeof r->unit, unit);
}

int pmb_records_add_sample(pmb_records *rs, const char *case_name, const char *impl,
                           const char *metric, int round, double value, const char *unit) {
    if (round < 0 || round >= PMB_MAX_ROUNDS) return -1;
    pmb_record *r = find_or_make(rs, case_name, impl, metric);
    if (!r) return -1;
    double sorted[PMB_MAX_ROUNDS];
    r->sampled = 1;
    r->samples[round] = value;
    memcpy(sorted, r->samples, sizeof sorted);
    r->spread = pmb_spread_sort(sorted, PMB_MAX_ROUNDS);
    r->value = r->spread.median;
    return set_field(r->unit, sizeof r->unit, unit);
}

int pmb_unit_is_exact(const char *unit) {
    static const char *const exact[] = {"objects", "collections", "allocations", "B",
                                        "instructions"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        if (strcmp(unit, exact[i]) == 0) return 1;
    }
    return 0;
}

int pmb_records_take_line(pmb_records *rs, const char *impl, const char *line, int round) {
    char case_name[48], metric[32], unit[16];
    double value;
    if (sscanf(line, "PMB %47s %31s %lf %15s", case_name, metric, &value, unit) != 4) return 0;
    if (round >= 0 && !pmb_unit_is_exact(unit))
        return pmb_records_add_sample(rs, case_name, impl, metric, round, value, unit) == 0;
    return pmb_records_add(rs, case_name, impl, metric, value, unit) == 0;
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

pmb_spread pmb_record_spread(const pmb_record *r) {
    pmb_spread none = {NAN, NAN, NAN, 0};
    if (!r) return none;
    if (r->sampled) return r->spread;
    pmb_spread one = {r->value, r->value, r->value, 1};
    return one;
}

/* A record's figure in round i: its sample, or its one value when exact. */
static double in_round(const pmb_record *r, int i) { return r->sampled ? r->samples[i] : r->value; }

pmb_spread pmb_ratio_spread(const pmb_record *num, const pmb_record *den) {
    const pmb_record *const n1[1] = {num}, *const d1[1] = {den};
    return pmb_geomean_ratio_spread(n1, d1, 1);
}

/* The geometric mean of num[i] / den[i] in round r, NAN unless every case
 * has a figure there and every ratio is positive. */
static double geomean_in_round(const pmb_record *const *num, const pmb_record *const *den, size_t k,
                               int r) {
    double logsum = 0;
    for (size_t i = 0; i < k; i++) {
        double a = in_round(num[i], r), b = in_round(den[i], r);
        if (isnan(a) || isnan(b) || !(b > 0) || !(a > 0)) return NAN;
        logsum += log(a / b);
    }
    return exp(logsum / (double)k);
}

pmb_spread pmb_geomean_ratio_spread(const pmb_record *const *num, const pmb_record *const *den,
                                    size_t k) {
    double ratios[PMB_MAX_ROUNDS];
    int any_sampled = 0;
    for (size_t i = 0; i < k; i++) {
        if (!num[i] || !den[i]) return pmb_spread_sort(ratios, 0);
        any_sampled |= num[i]->sampled || den[i]->sampled;
    }
    /* Only exact records: one "round". */
    int rounds = any_sampled ? PMB_MAX_ROUNDS : 1;
    for (int r = 0; r < rounds; r++) ratios[r] = k ? geomean_in_round(num, den, k, r) : NAN;
    return pmb_spread_sort(ratios, (size_t)rounds);
}

void pmb_format_spread(char *buf, size_t len, const char *fmt, pmb_spread s) {
    char a[48], b[48], c[48];
    if (s.n == 0) {
        snprintf(buf, len, "n/a");
        return;
    }
    snprintf(a, sizeof a, fmt, s.median);
    snprintf(b, sizeof b, fmt, s.min);
    snprintf(c, sizeof c, fmt, s.max);
    /* Equal once printed: no spread worth a column of digits. */
    if (s.n == 1 || strcmp(b, c) == 0) snprintf(buf, len, "%s", a);
    else snprintf(buf, len, "%s (%s\xe2\x80\x93%s)", a, b, c);
}

void pmb_print_cell(const pmb_record *r, const char *fmt, double div) {
    char buf[96] = "n/a";
    if (r) {
        pmb_spread s = pmb_record_spread(r);
        s.median /= div, s.min /= div, s.max /= div;
        pmb_format_spread(buf, sizeof buf, fmt, s);
    }
    printf(" %s |", buf);
}

void pmb_records_free(pmb_records *rs) {
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

int pmb_suite_status(const pmb_records *rs, const char *suite, const char *json_path, int pymm_ok) {
    if (json_path && pmb_records_write_json(rs, suite, json_path) != 0) {
        fprintf(stderr, "pymm bench %s: cannot write %s\n", suite, json_path);
        return 1;
    }
    return pymm_ok ? 0 : 1;
}

int pmb_records_have_impl(const pmb_records *rs, const char *impl) {
    for (size_t i = 0; i < rs->n; i++) {
        if (strcmp(rs->v[i].impl, impl) == 0) return 1;
    }
    return 0;
}

/* The record fields are plain identifiers, but escape anyway: the file must
 * stay valid JSON whatever a future suite names its cases. */
static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* JSON has no NaN: null. */
static void json_number(FILE *f, double v) {
    if (isnan(v) || isinf(v)) fputs("null", f);
    else fprintf(f, "%.10g", v);
}

/* "value" and how it was obtained ("stat"); the samples of a sampled one,
 * by round up to the last round that gave one. */
static void json_figure(FILE *f, const pmb_record *r) {
    fputs(", \"value\": ", f);
    json_number(f, r->value);
    if (!r->sampled) {
        fputs(", \"stat\": \"value\"", f);
        return;
    }
    fputs(", \"stat\": \"median\", \"min\": ", f);
    json_number(f, r->spread.min);
    fputs(", \"max\": ", f);
    json_number(f, r->spread.max);
    fprintf(f, ", \"rounds\": %d, \"samples\": [", r->spread.n);
    int last = PMB_MAX_ROUNDS - 1;
    while (last >= 0 && isnan(r->samples[last])) last--;
    for (int i = 0; i <= last; i++) {
        if (i) fputs(", ", f);
        json_number(f, r->samples[i]);
    }
    fputc(']', f);
}

int pmb_records_write_json(const pmb_records *rs, const char *suite, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("{\"suite\": ", f);
    json_string(f, suite);
    fputs(", \"records\": [", f);
    for (size_t i = 0; i < rs->n; i++) {
        const pmb_record *r = &rs->v[i];
        fputs(i ? ",\n  {\"case\": " : "\n  {\"case\": ", f);
        json_string(f, r->case_name);
        fputs(", \"impl\": ", f);
        json_string(f, r->impl);
        fputs(", \"metric\": ", f);
        json_string(f, r->metric);
        fputs(", \"unit\": ", f);
        json_string(f, r->unit);
        json_figure(f, r);
        fputc('}', f);
    }
    fputs("\n]}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

void pmb_note(pmb_notes *ns, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 8;
        char **v = realloc(ns->v, cap * sizeof *v);
        if (!v) return;
        ns->v = v;
        ns->cap = cap;
    }
    size_t len = strlen(buf) + 1;
    char *copy = malloc(len);
    if (!copy) return;
    memcpy(copy, buf, len);
    ns->v[ns->n++] = copy;
    pmb_progress("note: %s", buf);
}

void pmb_notes_free(pmb_notes *ns) {
    for (size_t i = 0; i < ns->n; i++) free(ns->v[i]);
    free(ns->v);
    memset(ns, 0, sizeof *ns);
}

void pmb_notes_print(const pmb_notes *ns) {
    if (ns->n == 0) return;
    printf("Notes:\n\n");
    for (size_t i = 0; i < ns->n; i++) printf("- %s\n", ns->v[i]);
    printf("\n");
}

void pmb_print_title(const char *suite, int quick) {
    printf("## pymm bench %s (%s run)\n\n", suite, quick ? "quick" : "full");
}

void pmb_print_head(const char *suite, int quick, double elapsed_s) {
    char host[320];
    pmb_host_description(host, sizeof host);
    pmb_print_title(suite, quick);
    printf("Host: %s. Suite time: %.0f s.\n\n", host, elapsed_s);
}

void pmb_note_worker(pmb_notes *ns, const char *case_name, const char *impl, int rc,
                     int term_signal, int exit_code, int results) {
    if (rc != 0 && term_signal)
        pmb_note(ns, "%s: %s killed by signal %d", case_name, impl, term_signal);
    else if (rc != 0) pmb_note(ns, "%s: %s failed (exit status %d)", case_name, impl, exit_code);
    else if (results == 0) pmb_note(ns, "%s: %s printed no results", case_name, impl);
}

void pmb_verify_checks(const pmb_records *checks, pmb_notes *ns) {
    for (size_t i = 0; i < checks->n; i++) {
        const pmb_record *a = &checks->v[i];
        for (size_t j = 0; j < i; j++) {
            const pmb_record *b = &checks->v[j];
            if (strcmp(a->case_name, b->case_name) != 0 || strcmp(a->metric, b->metric) != 0)
                continue;
            if (a->value != b->value)
                pmb_note(ns, "%s: %s %s %.0f differs from %s's %.0f", a->case_name, a->impl,
                         a->metric, a->value, b->impl, b->value);
            break;
        }
    }
}

void pmb_progress(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("[bench] ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(buf, len, "%s", colon + 2);
            buf[strcspn(buf, "\n")] = '\0';
            break;
        }
    }
    fclose(f);
}

void pmb_host_description(char *buf, size_t len) {
    char cpu[160];
    struct utsname u;
    cpu_model(cpu, sizeof cpu);
    if (uname(&u) != 0) snprintf(u.release, sizeof u.release, "?");
    snprintf(buf, len, "%s, %ld CPUs, Linux %s", cpu, sysconf(_SC_NPROCESSORS_ONLN), u.release);
}
