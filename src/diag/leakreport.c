/*
 * leakreport.c -- a leak report as text and as JSON (pm_leaks_print,
 * pm_leaks_write_json; the JSON's shape: docs/FORMATS.md, "Leak
 * verdicts").
 *
 * Owns nothing: it reads a report and writes. A stack's native frames are
 * named with dladdr (the nearest exported function) and placed with
 * dl_iterate_phdr: the module's path (the main program's real one) and
 * the frame's address inside that ELF file, its pc less the module's
 * load bias (dlpi_addr: 0 for a fixed executable, the load address for
 * a PIE or a shared library), which an offline symbolizer reads as
 * `pymm report --leaks` does (function, file and line from the debug
 * information; a leak report at exit must not take that long itself).
 * Interpreter frames are named by the recorder (pm_trace_frame_info).
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
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <unistd.h>

/* The main program's path, read once per report when a frame needs it
 * (the main program has no name in dl_iterate_phdr). */
typedef struct program_path {
    bool read;
    char path[PATH_MAX]; /* "" when it could not be read */
} program_path;

/* Where a native frame lies: its module's path and pc's address in that
 * file, and the nearest exported symbol (NULL if none). */
typedef struct frame_where {
    const char *function, *file; /* file NULL: no module holds pc */
    uintptr_t offset;
} frame_where;

typedef struct module_search {
    uintptr_t pc;
    frame_where *w;
    program_path *exe;
} module_search;

/* dl_iterate_phdr's callback: the module one of whose loaded segments
 * holds the pc ends the walk. The main program has no name there. */
static int find_module(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    module_search *m = arg;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t at = m->pc - (uintptr_t)info->dlpi_addr; /* the address in the file */
        if (ph->p_type != PT_LOAD || at - ph->p_vaddr >= ph->p_memsz) continue;
        m->w->offset = at;
        m->w->file = info->dlpi_name;
        if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0') {
            if (!m->exe->read) pmd_program_path(m->exe->path, sizeof m->exe->path);
            m->exe->read = true;
            m->w->file = m->exe->path;
        }
        return 1;
    }
    return 0;
}

static void frame_where_of(void *pc, frame_where *w, program_path *exe) {
    Dl_info info;
    w->function = dladdr(pc, &info) != 0 ? info.dli_sname : NULL;
    w->file = NULL;
    w->offset = 0;
    module_search m = {(uintptr_t)pc, w, exe};
    dl_iterate_phdr(find_module, &m);
}

/* "#I PC in FUNCTION (MODULE+0xOFFSET)", what is known of it; an
 * interpreter frame as "#I FUNCTION (FILE:LINE)". */
static int print_frame(FILE *out, size_t i, void *pc, program_path *exe) {
    pm_trace_frame t;
    if (pm_trace_frame_info(pc, &t) != 0 || t.interpreter)
        return fprintf(out, "    #%zu %s (%s:%d)\n", i, t.interpreter ? t.function : "?",
                       t.interpreter ? t.file : "?", t.line) < 0;
    frame_where w;
    frame_where_of(pc, &w, exe);
    int bad = fprintf(out, "    #%zu %p", i, pc) < 0;
    if (w.function) bad |= fprintf(out, " in %s", w.function) < 0;
    if (w.file) bad |= fprintf(out, " (%s+0x%" PRIxPTR ")", w.file, w.offset) < 0;
    return bad | (fputc('\n', out) == EOF);
}

static int print_one(const pm_leak *l, FILE *out, program_path *exe) {
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
    for (size_t i = 0; i < l->stack_len && !bad; i++) bad |= print_frame(out, i, l->stack[i], exe);
    return bad ? -1 : 0;
}

int pm_leaks_print(const pm_leaks *r, FILE *out) {
    size_t n = pm_leaks_count(r);
    program_path exe = {0};
    for (size_t i = 0; i < n; i++)
        if (print_one(pm_leaks_at(r, i), out, &exe) != 0) return -1;
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

/* A frame as the report's JSON gives one: function, file, line, kind,
 * and for a native frame in a module its offset there. */
static int json_frame(FILE *out, void *pc, program_path *exe) {
    pm_trace_frame t;
    bool known = pm_trace_frame_info(pc, &t) == 0;
    if (!known || t.interpreter) { /* one the recording no longer knows: "?" */
        int bad = fputs("{\"function\": ", out) == EOF;
        bad |= json_string(out, known ? t.function : "?") != 0;
        bad |= fputs(", \"file\": ", out) == EOF;
        bad |= json_string(out, known ? t.file : "?") != 0;
        bad |= fprintf(out, ", \"line\": %d, \"kind\": \"interpreter\"}", known ? t.line : 0) < 0;
        return bad ? -1 : 0;
    }
    frame_where w;
    frame_where_of(pc, &w, exe);
    char addr[32];
    snprintf(addr, sizeof addr, "%p", pc);
    int bad = fputs("{\"function\": ", out) == EOF;
    bad |= json_string(out, w.function ? w.function : addr) != 0;
    bad |= fputs(", \"file\": ", out) == EOF;
    bad |= json_string(out, w.file ? w.file : "") != 0;
    bad |= fputs(", \"line\": 0, \"kind\": \"native\"", out) == EOF;
    if (w.file) bad |= fprintf(out, ", \"offset\": %" PRIuPTR, w.offset) < 0;
    return bad || fputc('}', out) == EOF ? -1 : 0;
}

/* "[[FROM, TO, LABEL], ...]": edges between the verdict's nodes. */
static int json_edges(FILE *out, const pm_leak_edge *e, size_t n) {
    int bad = fputc('[', out) == EOF;
    for (size_t i = 0; i < n && !bad; i++) {
        bad |= fprintf(out, "%s[%zu, %zu, ", i ? ", " : "", e[i].from, e[i].to) < 0;
        bad |= json_string(out, e[i].label) != 0;
        bad |= fputc(']', out) == EOF;
    }
    return bad || fputc(']', out) == EOF ? -1 : 0;
}

/* The leak root's neighbourhood: "graph": {"nodes", "refs", "backrefs"}. */
static int json_graph(const pm_leak *l, FILE *out) {
    int bad = fputs(", \"graph\": {\"nodes\": [", out) == EOF;
    for (size_t i = 0; i < l->nnodes && !bad; i++) {
        bad |= (i ? fputs(", ", out) : 0) == EOF;
        bad |= json_string(out, l->nodes[i]) != 0;
    }
    bad |= fputs("], \"refs\": ", out) == EOF;
    bad |= !bad && json_edges(out, l->refs, l->nrefs) != 0;
    bad |= fputs(", \"backrefs\": ", out) == EOF;
    bad |= !bad && json_edges(out, l->backrefs, l->nbackrefs) != 0;
    return bad || fputc('}', out) == EOF ? -1 : 0;
}

static int json_one(const pm_leak *l, FILE *out, program_path *exe) {
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
        bad |= json_frame(out, l->stack[i], exe) != 0;
    }
    bad |= fputs("]", out) == EOF;
    if (l->ngrowth) {
        bad |= fputs(", \"growth\": [", out) == EOF;
        for (size_t i = 0; i < l->ngrowth && !bad; i++)
            bad |= fprintf(out, "%s%" PRId64, i ? ", " : "", l->growth[i]) < 0;
        bad |= fputs("]", out) == EOF;
    }
    if (l->nnodes && !bad) bad |= json_graph(l, out) != 0;
    return bad || fputs("}", out) == EOF ? -1 : 0;
}

int pmd_leaks_json_items(const pm_leaks *r, FILE *out, bool first) {
    int bad = 0;
    program_path exe = {0};
    for (size_t i = 0; i < pm_leaks_count(r) && !bad; i++) {
        bad |= fputs(first && i == 0 ? "\n  " : ",\n  ", out) == EOF;
        bad |= json_one(pm_leaks_at(r, i), out, &exe) != 0;
    }
    return bad ? -1 : 0;
}

int pm_leaks_write_json(const pm_leaks *r, FILE *out) {
    int bad = fputs("{\"leaks\": [", out) == EOF;
    bad |= !bad && pmd_leaks_json_items(r, out, true) != 0;
    bad |= fputs(pm_leaks_count(r) ? "\n]}\n" : "]}\n", out) == EOF;
    return bad ? -1 : 0;
}
