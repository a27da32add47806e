/*
 * report_leaks.c -- `pymm report [FILE] --leaks LEAKFILE`: the leak
 * verdicts of a leak report (PYMM_LEAKS=FILE, pm_leaks_write_json;
 * docs/FORMATS.md, "Leak verdicts") read back, and written as a section
 * of the text report, a `leaks` member of the JSON report, the page's
 * data (report_html.c), and as reference graphs: DOT text, or SVG drawn
 * by graphviz's dot (`--format dot|svg`): each verdict's path from its
 * root, and its leak root's neighbourhood (references out in blue, in in
 * purple) around the path's last node, which is the leak root.
 *
 * Owns the reading of a leak report and the graph of its verdicts. The
 * file is parsed by the library's own JSON reader (pm_json_loads, in a
 * runtime of its own, destroyed once the verdicts are copied out), so
 * its syntax errors come with a line and a column; a verdict that parses
 * but is not one (a count that is not a whole number, a kind that is no
 * kind) is said with the line where that verdict starts, which one scan
 * of the text finds. Native frames that carry their offset in their
 * module's file are then named as a capture's are (report_print.c's
 * rpt_name_native), each module placed MODULE_SPAN apart in a libdwfl
 * session of its own; every writer sees the names so made.
 *
 * Invariants:
 *   K1  After rpt_leaks_read returns 0, every verdict is whole: kind one
 *       of the four, type a string, count and bytes >= 0, every step a
 *       string, every frame with function, file and line, every edge of
 *       its neighbourhood between two of its nodes; the writers check
 *       nothing again.
 *   K2  Every text from the file reaches DOT through dot.c's escaping
 *       (pmd_dot_escape), JSON through rpt_json_string, the page through
 *       its data element's escaping (report_html.c), the text report with
 *       its control characters escaped: a name can neither end a quoted
 *       label nor a script element, nor begin a line.
 */
#define _GNU_SOURCE
#include "report.h"

#include "cli_file.h"
#include "diag/diag.h"
#include "pymm.h"

#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *const kinds[] = {"cycle", "unowned", "growth", "block"};
#define NKINDS (sizeof kinds / sizeof kinds[0])

/* ---- where each verdict starts ---------------------------------------------- */

/* The line of each item of the top-level object's "leaks" array, in
 * order, into lines[0..max): how many were found. A scan of the text
 * that knows strings and nesting, nothing more (the parser has said the
 * text is JSON). */
static size_t item_lines(const char *s, size_t n, size_t *lines, size_t max) {
    size_t line = 1, found = 0, depth = 0, key_at = 0;
    bool in_leaks = false, expect = false, was_leaks = false;
    for (size_t i = 0; i < n && found < max; i++) {
        char c = s[i];
        if (c == '\n') line++;
        if (depth == 2 && in_leaks && expect && c != ' ' && c != '\t' && c != '\r' && c != '\n' &&
            c != ']') {
            lines[found++] = line;
            expect = false;
        }
        if (c == '"') {
            key_at = i + 1;
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            if (depth == 1) was_leaks = i - key_at == 5 && memcmp(s + key_at, "leaks", 5) == 0;
        } else if (c == '{' || c == '[') {
            if (depth == 1 && c == '[') in_leaks = was_leaks, expect = true;
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
            if (depth == 1) in_leaks = false;
        } else if (c == ',' && depth == 2) {
            expect = true;
        }
    }
    return found;
}

/* ---- from the parsed document to verdicts ------------------------------------ */

typedef struct reader {
    const char *path;
    const size_t *lines; /* [verdict]: the line it starts on */
    size_t nlines;
    size_t at; /* the verdict being read */
} reader;

static int bad(const reader *r, const char *what) {
    size_t line = r->at < r->nlines ? r->lines[r->at] : 1;
    fprintf(stderr, "pymm report: %s:%zu: leak %zu: %s\n", r->path, line, r->at + 1, what);
    return 1;
}

static char *copy_str(pm_object *o) {
    size_t n;
    const char *s = pm_str_utf8(o, &n);
    char *out = s ? malloc(n + 1) : NULL;
    if (out) memcpy(out, s, n + 1);
    return out;
}

/* A member of verdict d that must be a string: a copy into *out. */
static int get_text(const reader *r, pm_object *d, const char *key, char **out) {
    pm_object *v = pm_dict_get_str(d, key);
    char what[96];
    if (v == NULL || !pm_is_type(v, &pm_str_type)) {
        snprintf(what, sizeof what, "\"%s\" is not a string", key);
        return bad(r, what);
    }
    if ((*out = copy_str(v)) == NULL) return bad(r, "out of memory");
    return 0;
}

static int get_number(const reader *r, pm_object *d, const char *key, int64_t *out) {
    pm_object *v = pm_dict_get_str(d, key);
    char what[96];
    if (v == NULL || !pm_is_type(v, &pm_int_type) || pm_int_value(v, out) != 0 || *out < 0) {
        snprintf(what, sizeof what, "\"%s\" is not a whole number from 0 up", key);
        return bad(r, what);
    }
    return 0;
}

/* A member that must be a list (absent: allowed when optional): its
 * items and their count. */
static int get_list(const reader *r, pm_object *d, const char *key, bool optional, pm_object **out,
                    size_t *n) {
    pm_object *v = pm_dict_get_str(d, key);
    char what[96];
    *out = NULL;
    *n = 0;
    if (v == NULL && optional) return 0;
    if (v == NULL || !pm_is_type(v, &pm_list_type)) {
        snprintf(what, sizeof what, "\"%s\" is not a list", key);
        return bad(r, what);
    }
    *out = v;
    *n = pm_list_size(v);
    return 0;
}

static int read_frame(const reader *r, pm_object *o, rpt_leak_frame *f) {
    if (!pm_is_type(o, &pm_dict_type)) return bad(r, "a frame of \"stack\" is not an object");
    char *kind = NULL;
    int64_t line;
    int rc = get_text(r, o, "function", &f->function);
    if (rc == 0) rc = get_text(r, o, "file", &f->file);
    if (rc == 0) rc = get_number(r, o, "line", &line);
    if (rc == 0) rc = get_text(r, o, "kind", &kind);
    if (rc == 0 && strcmp(kind, "native") != 0 && strcmp(kind, "interpreter") != 0)
        rc = bad(r, "a frame's \"kind\" is neither \"native\" nor \"interpreter\"");
    if (rc == 0) {
        f->line = line > INT32_MAX ? INT32_MAX : (int)line;
        f->interpreter = kind[0] == 'i';
    }
    int64_t offset; /* optional: files before it have none */
    if (rc == 0 && pm_dict_get_str(o, "offset") &&
        (rc = get_number(r, o, "offset", &offset)) == 0) {
        f->has_offset = !f->interpreter;
        f->offset = (uint64_t)offset;
    }
    free(kind);
    return rc;
}

/* One edge [FROM, TO, LABEL] of list `key`, its nodes below nnodes (K1). */
static int read_edge(const reader *r, pm_object *o, size_t nnodes, const char *key,
                     rpt_leak_edge *e) {
    int64_t ends[2];
    pm_object *label =
        pm_is_type(o, &pm_list_type) && pm_list_size(o) == 3 ? pm_list_get(o, 2) : NULL;
    bool ok = label && pm_is_type(label, &pm_str_type);
    for (int i = 0; ok && i < 2; i++) {
        pm_object *v = pm_list_get(o, i);
        ok = pm_is_type(v, &pm_int_type) && pm_int_value(v, &ends[i]) == 0 && ends[i] >= 0 &&
             (uint64_t)ends[i] < nnodes;
    }
    char what[128];
    if (!ok) {
        snprintf(what, sizeof what, "an edge of \"%s\" is not [FROM, TO, LABEL] between its nodes",
                 key);
        return bad(r, what);
    }
    e->from = (size_t)ends[0];
    e->to = (size_t)ends[1];
    return (e->label = copy_str(label)) == NULL ? bad(r, "out of memory") : 0;
}

/* The optional "graph": {"nodes": [TEXT...], "refs": [EDGE...], "backrefs": [EDGE...]}. */
static int read_graph(const reader *r, pm_object *o, rpt_leak *l) {
    pm_object *g = pm_dict_get_str(o, "graph");
    if (g == NULL) return 0;
    if (!pm_is_type(g, &pm_dict_type)) return bad(r, "\"graph\" is not an object");
    static const char *const keys[2] = {"refs", "backrefs"};
    pm_object *nodes, *lists[2];
    size_t nnodes, n[2];
    int rc = get_list(r, g, "nodes", false, &nodes, &nnodes);
    for (int k = 0; rc == 0 && k < 2; k++) rc = get_list(r, g, keys[k], false, &lists[k], &n[k]);
    if (rc != 0) return rc;
    if (nnodes == 0 && n[0] + n[1]) return bad(r, "\"graph\" has edges but no nodes");
    l->nodes = calloc(nnodes + 1, sizeof *l->nodes);
    for (int k = 0; k < 2; k++) l->edges[k] = calloc(n[k] + 1, sizeof *l->edges[k]);
    if (!l->nodes || !l->edges[0] || !l->edges[1]) return bad(r, "out of memory");
    for (; l->nnodes < nnodes; l->nnodes++) {
        pm_object *s = pm_list_get(nodes, (int64_t)l->nnodes);
        if (!pm_is_type(s, &pm_str_type)) return bad(r, "a node of \"graph\" is not a string");
        if ((l->nodes[l->nnodes] = copy_str(s)) == NULL) return bad(r, "out of memory");
    }
    for (int k = 0; k < 2; k++)
        for (; l->nedges[k] < n[k]; l->nedges[k]++)
            if (read_edge(r, pm_list_get(lists[k], (int64_t)l->nedges[k]), nnodes, keys[k],
                          &l->edges[k][l->nedges[k]]) != 0)
                return 1;
    return 0;
}

static int read_leak(const reader *r, pm_object *o, rpt_leak *l) {
    if (!pm_is_type(o, &pm_dict_type)) return bad(r, "not an object");
    char *kind = NULL;
    int rc = get_text(r, o, "kind", &kind);
    for (size_t k = 0; rc == 0 && k <= NKINDS; k++) {
        if (k == NKINDS) rc = bad(r, "\"kind\" is not cycle, unowned, growth or block");
        else if (strcmp(kind, kinds[k]) == 0) {
            l->kind = kinds[k];
            break;
        }
    }
    free(kind);
    if (rc == 0) rc = get_text(r, o, "type", &l->type);
    if (rc == 0) rc = get_number(r, o, "count", &l->count);
    if (rc == 0) rc = get_number(r, o, "bytes", &l->bytes);
    pm_object *path, *stack, *growth;
    size_t npath, nstack, ngrowth;
    if (rc == 0) rc = get_list(r, o, "path", false, &path, &npath);
    if (rc == 0) rc = get_list(r, o, "stack", false, &stack, &nstack);
    if (rc == 0) rc = get_list(r, o, "growth", true, &growth, &ngrowth);
    if (rc != 0) return rc;
    l->path = calloc(npath + 1, sizeof *l->path);
    l->stack = calloc(nstack + 1, sizeof *l->stack);
    l->growth = calloc(ngrowth + 1, sizeof *l->growth);
    if (!l->path || !l->stack || !l->growth) return bad(r, "out of memory");
    for (; l->npath < npath; l->npath++) {
        pm_object *s = pm_list_get(path, (int64_t)l->npath);
        if (!pm_is_type(s, &pm_str_type)) return bad(r, "a step of \"path\" is not a string");
        if ((l->path[l->npath] = copy_str(s)) == NULL) return bad(r, "out of memory");
    }
    for (; l->nstack < nstack; l->nstack++)
        if (read_frame(r, pm_list_get(stack, (int64_t)l->nstack), &l->stack[l->nstack]) != 0) {
            l->nstack++; /* its copied names are freed with it */
            return 1;
        }
    for (; l->ngrowth < ngrowth; l->ngrowth++) {
        pm_object *g = pm_list_get(growth, (int64_t)l->ngrowth);
        if (!pm_is_type(g, &pm_int_type) || pm_int_value(g, &l->growth[l->ngrowth]) != 0)
            return bad(r, "an item of \"growth\" is not a whole number");
    }
    return read_graph(r, o, l);
}

/* The verdicts of document doc (text: its source, for the lines). */
static int read_leaks(rpt_leaks *out, pm_object *doc, const char *text, size_t len) {
    reader r = {.path = out->name};
    pm_object *list = pm_is_type(doc, &pm_dict_type) ? pm_dict_get_str(doc, "leaks") : NULL;
    if (list == NULL || !pm_is_type(list, &pm_list_type)) {
        fprintf(stderr,
                "pymm report: %s:1: not a leak report: no \"leaks\" list (PYMM_LEAKS=FILE "
                "writes one)\n",
                out->name);
        return 1;
    }
    size_t n = pm_list_size(list);
    size_t *lines = malloc((n + 1) * sizeof *lines);
    out->items = calloc(n + 1, sizeof *out->items);
    if (lines == NULL || out->items == NULL) {
        free(lines);
        fprintf(stderr, "pymm report: out of memory\n");
        return 1;
    }
    r.lines = lines;
    r.nlines = item_lines(text, len, lines, n);
    int rc = 0;
    for (; rc == 0 && out->n < n; out->n++) {
        r.at = out->n;
        rc = read_leak(&r, pm_list_get(list, (int64_t)out->n), &out->items[out->n]);
    }
    free(lines);
    return rc;
}

/* ---- naming the frames ---------------------------------------------------------- */

/* Modules are placed this far apart in the names' address space: the
 * offsets of one file never reach the next's. */
#define MODULE_SPAN ((uintptr_t)1 << 36)

/* The module of each frame with an offset, once each, into *mods (its
 * path a copy: renaming frees the frames' own): their number, or
 * SIZE_MAX for want of memory. */
static void free_modules(rpt_module *mods, size_t n) {
    for (size_t i = 0; i < n; i++) free(mods[i].path);
    free(mods);
}

static size_t frame_modules(const rpt_leaks *l, rpt_module **mods) {
    size_t n = 0, cap = 0;
    *mods = NULL;
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = 0; j < l->items[i].nstack; j++) {
            const rpt_leak_frame *f = &l->items[i].stack[j];
            if (!f->has_offset) continue;
            size_t k = 0;
            while (k < n && strcmp((*mods)[k].path, f->file) != 0) k++;
            if (k < n) continue;
            char *path = strdup(f->file);
            if (path == NULL || !rpt_grow((void **)mods, &cap, n + 1, sizeof **mods)) {
                free(path);
                free_modules(*mods, n);
                return SIZE_MAX;
            }
            (*mods)[n] = (rpt_module){.bias = (n + 1) * MODULE_SPAN, .path = path};
            n++;
        }
    return n;
}

/* One frame renamed from what libdw found: the function, and its file
 * and line when known; false for want of memory (the frame as it was). */
static bool rename_frame(rpt_leak_frame *f, const rpt_frame *named) {
    char *function = strdup(named->function);
    char *file = named->file[0] ? strdup(named->file) : NULL;
    if (function == NULL || (named->file[0] && file == NULL)) {
        free(function);
        free(file);
        return false;
    }
    free(f->function);
    f->function = function;
    if (file) {
        free(f->file);
        f->file = file;
        f->line = named->line;
    }
    return true;
}

/* Every native frame with an offset named by report_print.c's names, on
 * the modules of the file placed apart: 0, or 1 for want of memory. */
static int name_frames(rpt_leaks *l) {
    rpt_module *mods;
    size_t n = frame_modules(l, &mods);
    uintptr_t *placed = n && n != SIZE_MAX ? malloc(n * sizeof *placed) : NULL;
    if (n == SIZE_MAX) return 1;
    if (n && placed == NULL) {
        free_modules(mods, n);
        return 1;
    }
    Dwfl *d = n ? rpt_names_open_modules(mods, n, placed) : NULL;
    bool ok = true;
    for (size_t i = 0; i < l->n && d; i++)
        for (size_t j = 0; j < l->items[i].nstack; j++) {
            rpt_leak_frame *f = &l->items[i].stack[j];
            size_t k = 0;
            while (f->has_offset && strcmp(mods[k].path, f->file) != 0) k++;
            rpt_frame named = {.line = 0};
            if (f->has_offset && placed[k] != UINTPTR_MAX && f->offset < MODULE_SPAN &&
                rpt_name_native(d, placed[k] + (uintptr_t)f->offset, &named))
                ok &= rename_frame(f, &named);
        }
    rpt_names_close(d);
    free(placed);
    free_modules(mods, n);
    return ok ? 0 : 1;
}

int rpt_leaks_read(rpt_leaks *out, const char *path) {
    memset(out, 0, sizeof *out);
    out->name = path;
    size_t len = 0;
    char why[160];
    char *text = pymm_read_input(path, PYMM_CLI_MAX_INPUT, &len, why, sizeof why);
    if (text == NULL) {
        fprintf(stderr, "pymm report: %s: %s\n", path, why);
        return 1;
    }
    pm_runtime *rt = pm_runtime_new(NULL);
    if (rt == NULL) {
        free(text);
        fprintf(stderr, "pymm report: out of memory\n");
        return 1;
    }
    pm_runtime *saved = pm_runtime_enter(rt);
    pm_json_error err;
    pm_object *doc = pm_json_loads_flags(text, len, 0, PM_JSON_STRICT, &err);
    int rc = 1;
    if (doc == NULL) {
        fprintf(stderr, "pymm report: %s:%zu:%zu: %s\n", path, err.line, err.col, err.message);
        pm_exc_clear();
    } else {
        rc = read_leaks(out, doc, text, len);
        pm_decref(doc);
    }
    pm_runtime_enter(saved);
    pm_runtime_destroy(rt);
    free(text);
    if (rc == 0 && name_frames(out) != 0) {
        fprintf(stderr, "pymm report: out of memory\n");
        rc = 1;
    }
    if (rc != 0) rpt_leaks_free(out);
    return rc;
}

void rpt_leaks_free(rpt_leaks *l) {
    for (size_t i = 0; i < l->n && l->items; i++) {
        rpt_leak *k = &l->items[i];
        free(k->type);
        for (size_t j = 0; j < k->npath; j++) free(k->path[j]);
        for (size_t j = 0; j < k->nstack; j++) {
            free(k->stack[j].function);
            free(k->stack[j].file);
        }
        free(k->path);
        free(k->stack);
        free(k->growth);
        for (size_t j = 0; j < k->nnodes; j++) free(k->nodes[j]);
        free(k->nodes);
        for (int e = 0; e < 2; e++) {
            for (size_t j = 0; j < k->nedges[e]; j++) free(k->edges[e][j].label);
            free(k->edges[e]);
        }
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* ---- text and JSON ------------------------------------------------------------ */

/* What a verdict's count counts. */
static const char *units(const rpt_leak *l) {
    return l->kind[0] == 'b' ? "blocks" : l->kind[0] == 'g' ? "items" : "objects";
}

/* Program text on a line of the text report: a control character as an
 * escape (\n, \x01), so that no name can begin a line of its own. */
static void text_line(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') fputs("\\n", f);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
        else fputc(*p, f);
    }
}

void rpt_leaks_text(FILE *f, const rpt_leaks *l) {
    fprintf(f, "Leak verdicts (%s): %zu\n", l->name, l->n);
    for (size_t i = 0; i < l->n; i++) {
        const rpt_leak *k = &l->items[i];
        char human[32];
        rpt_human(human, sizeof human, (uint64_t)k->bytes);
        fprintf(f, "  %s: ", k->kind);
        text_line(f, k->type);
        fprintf(f, ", %" PRId64 " %s, %s\n", k->count, units(k), human);
        for (size_t j = 0; j < k->npath; j++) {
            fputs("      ", f);
            text_line(f, k->path[j]);
            fputc('\n', f);
        }
        if (k->ngrowth) {
            fputs("      grew by", f);
            for (size_t j = 0; j < k->ngrowth; j++) fprintf(f, " %+" PRId64, k->growth[j]);
            fputs(" at the last checkpoints\n", f);
        }
        if (k->nstack) fputs("      allocated at:\n", f);
        for (size_t j = 0; j < k->nstack; j++) {
            const rpt_leak_frame *fr = &k->stack[j];
            fprintf(f, "  ");
            rpt_frame_text(f, fr->function, fr->file, fr->line, fr->interpreter);
        }
    }
}

/* The neighbourhood as the leak report gives it: "graph": {...}. */
static void json_graph(FILE *f, const rpt_leak *k) {
    static const char *const keys[2] = {"refs", "backrefs"};
    fputs(", \"graph\": {\"nodes\": [", f);
    for (size_t j = 0; j < k->nnodes; j++) {
        if (j) fputs(", ", f);
        rpt_json_string(f, k->nodes[j]);
    }
    fputs("]", f);
    for (int e = 0; e < 2; e++) {
        fprintf(f, ", \"%s\": [", keys[e]);
        for (size_t j = 0; j < k->nedges[e]; j++) {
            fprintf(f, "%s[%zu, %zu, ", j ? ", " : "", k->edges[e][j].from, k->edges[e][j].to);
            rpt_json_string(f, k->edges[e][j].label);
            fputs("]", f);
        }
        fputs("]", f);
    }
    fputs("}", f);
}

void rpt_leaks_json(FILE *f, const rpt_leaks *l, size_t max) {
    fputc('[', f);
    for (size_t i = 0; i < l->n && i < max; i++) {
        const rpt_leak *k = &l->items[i];
        fprintf(f, "%s{\"kind\": \"%s\", \"type\": ", i ? ",\n    " : "\n    ", k->kind);
        rpt_json_string(f, k->type);
        fprintf(f, ", \"count\": %" PRId64 ", \"bytes\": %" PRId64 ", \"path\": [", k->count,
                k->bytes);
        for (size_t j = 0; j < k->npath; j++) {
            if (j) fputs(", ", f);
            rpt_json_string(f, k->path[j]);
        }
        fputs("], \"stack\": [", f);
        for (size_t j = 0; j < k->nstack; j++) {
            const rpt_leak_frame *fr = &k->stack[j];
            rpt_frame_json(f, fr->function, fr->file, fr->line, fr->interpreter, j == 0);
        }
        fputs("]", f);
        if (k->ngrowth) {
            fputs(", \"growth\": [", f);
            for (size_t j = 0; j < k->ngrowth; j++)
                fprintf(f, "%s%" PRId64, j ? ", " : "", k->growth[j]);
            fputs("]", f);
        }
        if (k->nnodes) json_graph(f, k);
        fputs("}", f);
    }
    fputs(l->n && max ? "\n  ]" : "]", f);
}

/* ---- the reference graphs ----------------------------------------------------- */

/* A step's label (the reference: "root 'server'", "['sessions']") and
 * what it reaches ("dict (1 items)"): the first step is "LABEL: REPR",
 * the others "LABEL -> REPR" (leaks.c step_text). The first separator
 * after "held from C: " splits, so a label holding one draws its rest
 * on the node; nothing is lost, only placed otherwise. */
static void split_step(const char *step, size_t i, size_t *label_len, const char **repr) {
    const char *sep = i == 0 ? ": " : " -> ";
    const char *from = step;
    if (i == 0 && strncmp(step, "held from C: ", 13) == 0) from += 13;
    const char *at = strstr(from, sep);
    if (at == NULL) {
        *label_len = 0;
        *repr = step;
        return;
    }
    *label_len = (size_t)(at - step);
    *repr = at + strlen(sep);
}

/* "... N steps left out ..." (leaks.c, when a path is shortened): N. */
static bool omitted_steps(const char *step, unsigned long long *n) {
    char tail[32];
    return sscanf(step, "... %llu steps left out %31s", n, tail) == 2 && strcmp(tail, "...") == 0;
}

typedef struct graph {
    FILE *f;
    int bad;
} graph;

static void put(graph *g, const char *s) {
    if (fputs(s, g->f) == EOF) g->bad = 1;
}

static void text(graph *g, const char *s, size_t n) {
    if (pmd_dot_escape(g->f, s, n) != 0) g->bad = 1;
}

static const char *const edge_colors[2] = {"#1f5fbf", "#8e3fa0"}; /* refs, backrefs */

/* Node j of verdict v's neighbourhood: node 0 is the path's last (the
 * leak root), the others have names of their own. */
static void hood_node_name(graph *g, size_t v, size_t j, size_t root) {
    if (j == 0) fprintf(g->f, "v%zu_%zu", v, root);
    else fprintf(g->f, "n%zu_%zu", v, j);
}

/* The leak root's neighbourhood inside its cluster: what it refers to
 * (blue) and what refers to it (purple), to the depth the report gave;
 * a cut-off ("... N more") dashed. */
static void neighbourhood(graph *g, const rpt_leak *k, size_t v, size_t root) {
    for (size_t j = 1; j < k->nnodes; j++) {
        fprintf(g->f, "    n%zu_%zu [label=\"", v, j);
        text(g, k->nodes[j], strlen(k->nodes[j]));
        put(g, strncmp(k->nodes[j], "... ", 4) == 0 ? "\", style=dashed];\n" : "\"];\n");
    }
    for (int e = 0; e < 2; e++)
        for (size_t j = 0; j < k->nedges[e]; j++) {
            const rpt_leak_edge *x = &k->edges[e][j];
            put(g, "    ");
            hood_node_name(g, v, x->from, root);
            put(g, " -> ");
            hood_node_name(g, v, x->to, root);
            put(g, " [label=\"");
            text(g, x->label, strlen(x->label));
            fprintf(g->f, "\", color=\"%s\", fontcolor=\"%s\"];\n", edge_colors[e], edge_colors[e]);
        }
}

/* One verdict's cluster: its label says kind, type, count and bytes; the
 * path's objects in order, the root marked, the leaked object (the
 * path's last) with the count and bytes it retains, the references as
 * labelled edges. A block, which has no path, is one node. */
static void cluster(graph *g, const rpt_leak *k, size_t v) {
    char line[160], human[32];
    rpt_human(human, sizeof human, (uint64_t)k->bytes);
    snprintf(line, sizeof line, "%" PRId64 " %s, %s", k->count, units(k), human);
    fprintf(g->f, "  subgraph cluster_%zu {\n    label=\"leak %zu, %s: ", v, v + 1, k->kind);
    text(g, k->type, strlen(k->type));
    fprintf(g->f, ", %s\";\n", line);
    size_t nodes = k->npath ? k->npath : 1;
    for (size_t i = 0; i < nodes; i++) {
        const char *step = k->npath ? k->path[i] : k->type;
        unsigned long long left = 0;
        size_t label_len = 0;
        const char *repr = step;
        fprintf(g->f, "    v%zu_%zu [label=\"", v, i);
        if (k->npath && omitted_steps(step, &left)) {
            fprintf(g->f, "%llu steps left out\", style=dashed];\n", left);
            continue;
        }
        if (k->npath) split_step(step, i, &label_len, &repr);
        text(g, repr, strlen(repr));
        bool target = i + 1 == nodes;
        if (i == 0 && label_len) { /* the root's name on its node */
            put(g, "\\n");
            text(g, step, label_len);
        }
        if (target) fprintf(g->f, "\\n%s", line);
        put(g, "\"");
        if (i == 0 && k->npath > 1)
            put(g, ", shape=doubleoctagon, style=filled, fillcolor=\"#b7e4b7\"");
        if (target) put(g, ", style=filled, fillcolor=\"#ffc46b\", peripheries=2");
        put(g, "];\n");
    }
    for (size_t i = 1; i < k->npath; i++) {
        unsigned long long left;
        size_t label_len = 0;
        const char *repr;
        fprintf(g->f, "    v%zu_%zu -> v%zu_%zu [label=\"", v, i - 1, v, i);
        if (!omitted_steps(k->path[i], &left)) {
            split_step(k->path[i], i, &label_len, &repr);
            text(g, k->path[i], label_len);
        }
        put(g, omitted_steps(k->path[i], &left) || omitted_steps(k->path[i - 1], &left)
                   ? "\", style=dashed];\n"
                   : "\"];\n");
    }
    neighbourhood(g, k, v, nodes - 1);
    put(g, "  }\n");
}

int rpt_leaks_dot(FILE *f, const rpt_leaks *l) {
    graph g = {f, 0};
    put(&g, "digraph leaks {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
            "  edge [fontname=\"monospace\", fontsize=9];\n");
    if (l->n == 0) put(&g, "  none [label=\"no leak verdict\"];\n");
    bool hoods = false;
    for (size_t v = 0; v < l->n; v++) hoods |= l->items[v].nnodes > 1;
    if (hoods)
        fprintf(g.f,
                "  legend [shape=plaintext, label=\"black: the path from a root; blue: what the "
                "leak root refers to; purple: what refers to it\"];\n");
    for (size_t v = 0; v < l->n; v++) cluster(&g, &l->items[v], v);
    put(&g, "}\n");
    return g.bad ? -1 : 0;
}

/* ---- SVG by graphviz ------------------------------------------------------------ */

/* graphviz's dot on PATH: its path in buf, or false. */
static bool find_dot(char *buf, size_t size) {
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0') path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n && n + 5 < size) {
            memcpy(buf, path, n);
            memcpy(buf + n, "/dot", 5);
            if (access(buf, X_OK) == 0) return true;
        }
        path += n + (path[n] == ':');
    }
    return false;
}

bool rpt_svg_available(void) {
    char dot[4096];
    return find_dot(dot, sizeof dot);
}

/* The DOT text goes to dot through a temporary file (its input), and
 * its SVG from a pipe into f: a big graph cannot stall both ends. */
int rpt_leaks_svg(FILE *f, const rpt_leaks *l) {
    char dot[4096];
    if (!find_dot(dot, sizeof dot)) {
        fprintf(stderr, "pymm report: svg needs graphviz's dot; use --format dot\n");
        return 1;
    }
    FILE *in = tmpfile();
    int fds[2] = {-1, -1};
    if (in == NULL || rpt_leaks_dot(in, l) != 0 || fflush(in) != 0 || pipe(fds) != 0) {
        fprintf(stderr, "pymm report: the graph for dot: %s\n", strerror(errno));
        if (in) fclose(in);
        return 1;
    }
    rewind(in);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fileno(in), 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char *argv[] = {dot, "-Tsvg", NULL};
    pid_t pid;
    int err = posix_spawn(&pid, dot, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    fclose(in);
    if (err != 0) {
        close(fds[0]);
        fprintf(stderr, "pymm report: %s: %s\n", dot, strerror(err));
        return 1;
    }
    char buf[1 << 14];
    ssize_t got;
    size_t total = 0;
    while ((got = read(fds[0], buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR))
        if (got > 0) total += fwrite(buf, 1, (size_t)got, f);
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) continue;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || total == 0) {
        fprintf(stderr, "pymm report: %s -Tsvg failed (status %d)\n", dot,
                WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return 1;
    }
    return 0;
}
