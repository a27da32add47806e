/*
 * leakreport.c -- a leak report as text and as JSON (pm_leaks_print,
 * pm_leaks_write_json; the JSON's shape: docs/FORMATS.md, "Leak
 * verdicts").
 *
 * Owns nothing: it reads a report and writes. A stack's frames are named
 * with dladdr (the function and the module; no line: the recorder's
 * reports resolve lines, a leak report at exit must not take that long).
 *
 * Invariants:
 *   J1  Every text from the program (type names, reprs, labels, symbol
 *       and module names) goes through one escaping function.
 *   J2  A write error is returned as -1 and no exception is set.
 */
#define _GNU_SOURCE
#include "diag/diag.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>

static int print_one(const pm_leak *l, FILE *out) {
    int bad = fprintf(out, "leak: %s, %s, %" PRId64 " %s, %" PRId64 " bytes, at %p\n",
                      pm_leak_kind_name(l->kind), l->type, l->count,
                      l->kind == PM_LEAK_BLOCK    ? "blocks"
                      : l->kind == PM_LEAK_GROWTH ? "items"
                                                  : "objects",
                      l->bytes, l->address) < 0;
    for (size_t i = 0; i < l->path_len && !bad; i++) {
        bad |= fprintf(out, "    %s\n", l->path[i]) < 0;
        if (i + 1 == l->path_len / 2 && l->path_omitted)
            bad |= fprintf(out, "    ... %zu steps left out ...\n", l->path_omitted) < 0;
    }
    if (l->ngrowth && !bad) {
        bad |= fputs("    grew by", out) == EOF;
        for (size_t i = 0; i < l->ngrowth && !bad; i++)
            bad |= fprintf(out, " %+" PRId64, l->growth[i]) < 0;
        bad |= fputs(" at the last checkpoints\n", out) == EOF;
    }
    for (size_t i = 0; i < l->stack_len && !bad; i++) {
        Dl_info info;
        if (dladdr(l->stack[i], &info) && info.dli_sname)
            bad |= fprintf(out, "    #%zu %p in %s (%s)\n", i, l->stack[i], info.dli_sname,
                           info.dli_fname) < 0;
        else bad |= fprintf(out, "    #%zu %p\n", i, l->stack[i]) < 0;
    }
    return bad ? -1 : 0;
}

int pm_leaks_print(const pm_leaks *r, FILE *out) {
    size_t n = pm_leaks_count(r);
    for (size_t i = 0; i < n; i++)
        if (print_one(pm_leaks_at(r, i), out) != 0) return -1;
    return 0;
}

/* J1: s as a JSON string. */
static int json_string(FILE *out, const char *s) {
    int bad = fputc('"', out) == EOF;
    for (const unsigned char *p = (const unsigned char *)s; *p && !bad; p++) {
        if (*p == '"' || *p == '\\') bad = fprintf(out, "\\%c", *p) < 0;
        else if (*p < 0x20) bad = fprintf(out, "\\u%04x", *p) < 0;
        else bad = fputc(*p, out) == EOF;
    }
    return bad || fputc('"', out) == EOF ? -1 : 0;
}

/* A frame as the report's JSON gives one: function, file, line, kind. */
static int json_frame(FILE *out, void *pc) {
    Dl_info info;
    char addr[32];
    snprintf(addr, sizeof addr, "%p", pc);
    bool named = dladdr(pc, &info) != 0;
    int bad = fputs("{\"function\": ", out) == EOF;
    bad |= json_string(out, named && info.dli_sname ? info.dli_sname : addr) != 0;
    bad |= fputs(", \"file\": ", out) == EOF;
    bad |= json_string(out, named && info.dli_fname ? info.dli_fname : "") != 0;
    bad |= fputs(", \"line\": 0, \"kind\": \"native\"}", out) == EOF;
    return bad ? -1 : 0;
}

static int json_one(const pm_leak *l, FILE *out) {
    int bad = fputs("{\"kind\": ", out) == EOF;
    bad |= json_string(out, pm_leak_kind_name(l->kind)) != 0;
    bad |= fputs(", \"type\": ", out) == EOF;
    bad |= json_string(out, l->type) != 0;
    bad |= fprintf(out, ", \"count\": %" PRId64 ", \"bytes\": %" PRId64 ", \"path\": [", l->count,
                   l->bytes) < 0;
    for (size_t i = 0; i < l->path_len && !bad; i++) {
        bad |= (i ? fputs(", ", out) : 0) == EOF;
        bad |= json_string(out, l->path[i]) != 0;
        if (i + 1 == l->path_len / 2 && l->path_omitted)
            bad |= fprintf(out, ", \"... %zu steps left out ...\"", l->path_omitted) < 0;
    }
    bad |= fputs("], \"stack\": [", out) == EOF;
    for (size_t i = 0; i < l->stack_len && !bad; i++) {
        bad |= (i ? fputs(", ", out) : 0) == EOF;
        bad |= json_frame(out, l->stack[i]) != 0;
    }
    bad |= fputs("]", out) == EOF;
    if (l->ngrowth) {
        bad |= fputs(", \"growth\": [", out) == EOF;
        for (size_t i = 0; i < l->ngrowth && !bad; i++)
            bad |= fprintf(out, "%s%" PRId64, i ? ", " : "", l->growth[i]) < 0;
        bad |= fputs("]", out) == EOF;
    }
    return bad || fputs("}", out) == EOF ? -1 : 0;
}

int pmd_leaks_json_items(const pm_leaks *r, FILE *out, bool first) {
    int bad = 0;
    for (size_t i = 0; i < pm_leaks_count(r) && !bad; i++) {
        bad |= fputs(first && i == 0 ? "\n  " : ",\n  ", out) == EOF;
        bad |= json_one(pm_leaks_at(r, i), out) != 0;
    }
    return bad ? -1 : 0;
}

int pm_leaks_write_json(const pm_leaks *r, FILE *out) {
    int bad = fputs("{\"leaks\": [", out) == EOF;
    bad |= !bad && pmd_leaks_json_items(r, out, true) != 0;
    bad |= fputs(pm_leaks_count(r) ? "\n]}\n" : "]}\n", out) == EOF;
    return bad ? -1 : 0;
}
