/*
 * report.c -- measured records, notes and JSON output (see pmb_report.h).
 */
#include "pmb_report.h"

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

int pmb_records_add(pmb_records *rs, const char *case_name, const char *impl, const char *metric,
                    double value, const char *unit) {
    pmb_record *r = find_mut(rs, case_name, impl, metric);
    if (!r) {
        if (rs->n == rs->cap) {
            size_t cap = rs->cap ? rs->cap * 2 : 64;
            pmb_record *v = realloc(rs->v, cap * sizeof *v);
            if (!v) return -1;
            rs->v = v;
            rs->cap = cap;
        }
        r = &rs->v[rs->n];
        if (set_field(r->case_name, sizeof r->case_name, case_name) ||
            set_field(r->impl, sizeof r->impl, impl) ||
            set_field(r->metric, sizeof r->metric, metric))
            return -1;
        rs->n++;
    }
    r->value = value;
    return set_field(r->unit, sizeof r->unit, unit);
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
        fprintf(f, ", \"value\": %.10g, \"unit\": ", r->value);
        json_string(f, r->unit);
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
