/*
 * report_print.c -- naming frames and printing one capture's report
 * (`pymm report FILE`), text or JSON (docs/FORMATS.md, "pymm report
 * --format json"), from the figures report_cmd.c read.
 *
 * Frames are named when the report is made, from the modules' debug
 * information (elfutils' libdwfl): function, file and line. A module that
 * cannot be read leaves its frames as module+offset. Only the stacks
 * printed are named, so the report's cost beyond reading is --top's.
 */
#define _GNU_SOURCE
#include "report.h"

#ifdef PYMM_HAVE_LIBDW
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#endif
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const domain_names[RPT_ROOTS] = {"raw", "mem", "obj", "pm_heap"};

/* ---- naming frames ------------------------------------------------------- */

#ifdef PYMM_HAVE_LIBDW
Dwfl *rpt_names_open_modules(const rpt_module *m, size_t n, uintptr_t *placed) {
    static const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
    };
    for (size_t i = 0; placed && i < n; i++) placed[i] = UINTPTR_MAX;
    Dwfl *d = dwfl_begin(&callbacks);
    if (d == NULL) return NULL;
    dwfl_report_begin(d);
    for (size_t i = 0; i < n; i++) {
        if (access(m[i].path, R_OK) != 0) continue; /* the vDSO, or gone */
        Dwfl_Module *mod = dwfl_report_elf(d, m[i].path, m[i].path, -1, m[i].bias, false);
        Dwarf_Addr bias;
        if (mod && placed && dwfl_module_getelf(mod, &bias) != NULL) placed[i] = (uintptr_t)bias;
    }
    dwfl_report_end(d, NULL, NULL);
    return d;
}

void rpt_names_close(Dwfl *d) {
    if (d) dwfl_end(d);
}

#else
Dwfl *rpt_names_open_modules(const rpt_module *m, size_t n, uintptr_t *placed) {
    (void)m;
    for (size_t i = 0; placed && i < n; i++) placed[i] = UINTPTR_MAX;
    return NULL;
}

void rpt_names_close(Dwfl *d) { (void)d; }
#endif

Dwfl *rpt_names_open(const rpt_capture *c) {
    return rpt_names_open_modules(c->modules, c->nmodules, NULL);
}

#ifdef PYMM_HAVE_LIBDW
/* The line of pc found through the compile units' own address ranges:
 * libdw 0.188 finds a unit only through .debug_aranges, which clang does
 * not emit by default ("address out of range" for every frame). */
static const char *line_by_cu(Dwfl_Module *mod, uintptr_t pc, int *lineno) {
    Dwarf_Addr bias;
    for (Dwarf_Die *cu = NULL; (cu = dwfl_module_nextcu(mod, cu, &bias)) != NULL;) {
        if (dwarf_haspc(cu, pc - bias) <= 0) continue;
        Dwarf_Line *line = dwarf_getsrc_die(cu, pc - bias);
        if (line == NULL || dwarf_lineno(line, lineno) != 0) return NULL;
        return dwarf_linesrc(line, NULL, NULL);
    }
    return NULL;
}
#endif

const rpt_module *rpt_module_of(const rpt_capture *c, uintptr_t pc) {
    for (size_t i = 0; i < c->nmodules; i++)
        if (pc - c->modules[i].lo < c->modules[i].size) return &c->modules[i];
    return NULL;
}

bool rpt_name_native(Dwfl *d, uintptr_t pc, rpt_frame *out) {
    const char *fn = NULL;
#ifdef PYMM_HAVE_LIBDW
    Dwfl_Module *mod = d ? dwfl_addrmodule(d, pc) : NULL;
    fn = mod ? dwfl_module_addrname(mod, pc) : NULL;
    if (fn) snprintf(out->function, sizeof out->function, "%s", fn);
    Dwfl_Line *line = mod ? dwfl_module_getsrc(mod, pc) : NULL;
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (mod && file == NULL) file = line_by_cu(mod, pc, &lineno);
    if (file) {
        snprintf(out->file, sizeof out->file, "%s", file);
        out->line = lineno;
    }
#else
    (void)d;
    (void)pc;
    (void)out;
#endif
    return fn != NULL;
}

void rpt_name_frame(const rpt_capture *c, Dwfl *d, uintptr_t pc, rpt_frame *out) {
    out->function[0] = out->file[0] = '\0';
    out->line = 0;
    out->interpreter = (pc & PMD_CAPTURE_INTERP_BIT) != 0;
    if (out->interpreter) { /* the reader checked the id (on_node) */
        const rpt_location *l = &c->locations[pc & ~PMD_CAPTURE_INTERP_BIT];
        snprintf(out->function, sizeof out->function, "%s", c->strings[l->function]);
        snprintf(out->file, sizeof out->file, "%s", c->strings[l->file]);
        out->line = l->line;
        return;
    }
    if (!rpt_name_native(d, pc, out)) {
        const rpt_module *m = rpt_module_of(c, pc);
        const char *base = m ? strrchr(m->path, '/') : NULL;
        snprintf(out->function, sizeof out->function, "%s+0x%" PRIxPTR,
                 m ? (base ? base + 1 : m->path) : "?", m ? pc - m->bias : pc);
    }
}

/* ---- the report ---------------------------------------------------------- */

typedef struct ranked {
    uint32_t stack;
    uint64_t bytes, count;
} ranked;

static int by_bytes(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

void rpt_figures(const rpt_capture *c, uint32_t id, enum rpt_view v, uint64_t *bytes,
                 uint64_t *count) {
    static const rpt_owner none; /* a node that never allocated */
    uint32_t fig = c->stacks[id].fig;
    const rpt_owner *s = fig & RPT_OWNED ? &c->owners[fig & ~RPT_OWNED] : &none;
    bool saved = s->epoch == c->peak_epoch; /* else its live figures are the peak's */
    switch (v) {
        case RPT_AT_PEAK:
            *bytes = saved ? s->peak_bytes : s->live_bytes;
            *count = saved ? s->peak_count : s->live_count;
            return;
        case RPT_AT_END:
            *bytes = s->live_bytes;
            *count = s->live_count;
            return;
        case RPT_ALLOCATED:
            *bytes = s->total_bytes;
            *count = s->total_count;
            return;
        case RPT_TEMPORARY:
        case RPT_VIEWS:
            *bytes = s->temp_bytes;
            *count = s->temp_count;
            return;
    }
}

/* The stacks by bytes in one view, largest first: their number. */
static size_t rank(const rpt_capture *c, enum rpt_view v, ranked *out) {
    size_t n = 0;
    for (size_t i = 0; i < c->nowners; i++) { /* the nodes that ever allocated */
        uint64_t bytes, count;
        rpt_figures(c, c->owners[i].node, v, &bytes, &count);
        if (count) out[n++] = (ranked){c->owners[i].node, bytes, count};
    }
    qsort(out, n, sizeof *out, by_bytes);
    return n;
}

const char *rpt_domain_name(uint32_t root) { return domain_names[root - 1]; }

const char *rpt_domain(const rpt_capture *c, uint32_t id) {
    while (id > RPT_ROOTS) id = c->stacks[id].parent;
    return rpt_domain_name(id);
}

void rpt_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

/* One frame of a stack, a line of text (file "": none known). */
void rpt_frame_text(FILE *f, const char *function, const char *file, int line, bool interpreter) {
    const char *mark = interpreter ? " [interpreter]" : "";
    if (file[0]) fprintf(f, "        %s  %s:%d%s\n", function, file, line, mark);
    else fprintf(f, "        %s%s\n", function, mark);
}

/* One frame of a stack's JSON list, after others unless first. */
void rpt_frame_json(FILE *f, const char *function, const char *file, int line, bool interpreter,
                    bool first) {
    fputs(first ? "{\"function\": " : ", {\"function\": ", f);
    rpt_json_string(f, function);
    fputs(", \"file\": ", f);
    if (file[0]) rpt_json_string(f, file);
    else fputs("null", f);
    fprintf(f, ", \"line\": %d, \"kind\": \"%s\"}", line, interpreter ? "interpreter" : "native");
}

void rpt_stack_text(FILE *f, const rpt_capture *c, Dwfl *d, uint32_t id) {
    for (; id > RPT_ROOTS; id = c->stacks[id].parent) {
        rpt_frame fn;
        rpt_name_frame(c, d, c->stacks[id].pc, &fn);
        rpt_frame_text(f, fn.function, fn.file, fn.line, fn.interpreter);
    }
}

void rpt_stack_json(FILE *f, const rpt_capture *c, Dwfl *d, uint32_t id) {
    fputc('[', f);
    for (bool first = true; id > RPT_ROOTS; id = c->stacks[id].parent, first = false) {
        rpt_frame fn;
        rpt_name_frame(c, d, c->stacks[id].pc, &fn);
        rpt_frame_json(f, fn.function, fn.file, fn.line, fn.interpreter, first);
    }
    fputc(']', f);
}

void rpt_human(char *out, size_t size, uint64_t bytes) {
    if (bytes < 10 * 1024) snprintf(out, size, "%" PRIu64 " B", bytes);
    else if (bytes < 10 * 1024 * 1024) snprintf(out, size, "%.1f KiB", bytes / 1024.0);
    else snprintf(out, size, "%.1f MiB", bytes / 1048576.0);
}

static void text_section(FILE *f, const rpt_capture *c, Dwfl *d, const char *title, enum rpt_view v,
                         ranked *r, size_t top) {
    size_t n = rank(c, v, r);
    fprintf(f, "\n%s (%zu stacks):\n", title, n);
    for (size_t i = 0; i < n && i < top; i++) {
        char b[32];
        rpt_human(b, sizeof b, r[i].bytes);
        fprintf(f, "  #%zu  %s in %" PRIu64 " blocks  [%s]\n", i + 1, b, r[i].count,
                rpt_domain(c, r[i].stack));
        rpt_stack_text(f, c, d, r[i].stack);
    }
}

/* The timeline in at most TEXT_ROWS rows: each the most live in its span,
 * drawn against the peak, and the most RSS when the capture sampled it. */
#define TEXT_ROWS 20
static void timeline_text(FILE *f, const rpt_capture *c) {
    if (c->nsteps == 0 || c->peak == 0) return;
    size_t per = (c->nsteps + TEXT_ROWS - 1) / TEXT_ROWS;
    fprintf(f, "\nTimeline (the most live in each %.3f s):\n", (double)(per * c->step_ms) / 1000);
    for (size_t i = 0; i < c->nsteps; i += per) {
        uint64_t most = 0, rss = 0;
        for (size_t k = i; k < i + per && k < c->nsteps; k++) {
            if (c->timeline[k].max_bytes > most) most = c->timeline[k].max_bytes;
            if (c->timeline[k].rss > rss) rss = c->timeline[k].rss;
        }
        char human[32], bar[41], rss_text[48] = "";
        if (c->rss_samples) {
            char h[32];
            rpt_human(h, sizeof h, rss);
            snprintf(rss_text, sizeof rss_text, "  RSS %s", h);
        }
        rpt_human(human, sizeof human, most);
        size_t n = (size_t)((double)most / (double)c->peak * 40 + 0.5);
        if (n > 40) n = 40; /* (never, in a capture that reads) */
        memset(bar, '#', n);
        bar[n] = '\0';
        fprintf(f, "  %8.3f s %12s  %-*s%s\n", (double)c->timeline[i].ms / 1000, human,
                c->rss_samples ? 40 : 0, bar, rss_text);
    }
}

/* The timeline's steps as JSON. */
static void timeline_json(FILE *f, const rpt_capture *c) {
    fprintf(f, "{\"step_ms\": %" PRIu64 ", \"steps\": [", c->step_ms);
    for (size_t i = 0; i < c->nsteps; i++) {
        const rpt_step *s = &c->timeline[i];
        fprintf(f, "%s\n    {\"ms\": %" PRIu64 ", \"max_bytes\": %" PRIu64, i ? "," : "", s->ms,
                s->max_bytes);
        for (unsigned d = 0; d < RPT_ROOTS; d++)
            fprintf(f, ", \"%s\": %" PRIu64, rpt_domain_name(d + 1), s->domain[d]);
        fprintf(f, ", \"rss\": %" PRIu64 "}", s->rss);
    }
    fputs(c->nsteps ? "\n  ]}" : "]}", f);
}

/* All collections, as the collector's pauses: how many of each
 * generation, their time, the longest. */
static uint64_t collections(const rpt_capture *c) {
    uint64_t n = 0;
    for (unsigned g = 0; g < RPT_GENERATIONS; g++) n += c->gc_count[g];
    return n;
}

static void collector_text(FILE *f, const rpt_capture *c) {
    uint64_t n = collections(c);
    if (n == 0) return;
    fprintf(f,
            "  collector     %" PRIu64 " collections (generations 0/1/2: %" PRIu64 "/%" PRIu64
            "/%" PRIu64 "), paused %.3f ms in all, longest %.3f ms, %" PRIu64
            " unreachable objects found\n",
            n, c->gc_count[0], c->gc_count[1], c->gc_count[2], c->gc_pause_us / 1000.0,
            c->gc_pause_max_us / 1000.0, c->gc_found);
}

/* The collections as JSON: totals and the first RPT_COLLECTIONS_MAX. */
static void collector_json(FILE *f, const rpt_capture *c) {
    fprintf(f,
            "{\"count\": %" PRIu64 ", \"by_generation\": [%" PRIu64 ", %" PRIu64 ", %" PRIu64
            "], \"pause_total_us\": %" PRIu64 ", \"pause_max_us\": %" PRIu64 ", \"found\": %" PRIu64
            ", \"list\": [",
            collections(c), c->gc_count[0], c->gc_count[1], c->gc_count[2], c->gc_pause_us,
            c->gc_pause_max_us, c->gc_found);
    for (size_t i = 0; i < c->ncollections; i++) {
        const rpt_collection *k = &c->collections[i];
        fprintf(f,
                "%s\n    {\"generation\": %u, \"end_ms\": %" PRIu64 ", \"pause_us\": %" PRIu64
                ", \"found\": %" PRIu64 "}",
                i ? "," : "", k->generation, k->end_ms, k->pause_us, k->found);
    }
    fputs(c->ncollections ? "\n  ]}" : "]}", f);
}

/* The totals, a line each. */
void rpt_summary_text(FILE *f, const rpt_capture *c) {
    char peak[32], now[32], total[32];
    rpt_human(peak, sizeof peak, c->peak);
    rpt_human(now, sizeof now, c->current);
    rpt_human(total, sizeof total, c->alloc_bytes);
    fprintf(f, "pymm capture %s%s%s\n", c->name, c->pid[0] ? ", process " : "", c->pid);
    fprintf(f, "  duration      %.3f s, %" PRIu64 " thread%s\n", c->ms / 1000.0, c->max_thread,
            c->max_thread == 1 ? "" : "s");
    fprintf(f, "  allocations   %" PRIu64 " (%s), frees %" PRIu64 "\n", c->allocs, total, c->frees);
    fprintf(f, "  peak          %s at %.3f s\n", peak, c->peak_ms / 1000.0);
    fprintf(f, "  live at end   %s in %" PRIu64 " blocks%s\n", now, c->end_blocks,
            c->ended ? "" : " (no end record: the run did not finish tracing)");
    rpt_human(total, sizeof total, c->temp_bytes);
    if (c->sample_bytes)
        fprintf(f, "  temporary     not measured: a sampled capture lacks the allocations "
                   "between samples\n");
    else
        fprintf(f, "  temporary     %" PRIu64 " (%s), freed before their thread allocated ",
                c->temp_allocs, total);
    if (c->sample_bytes == 0 && c->temporary == 1) fprintf(f, "again\n");
    else if (c->sample_bytes == 0) fprintf(f, "%zu times more\n", c->temporary);
    if (c->sample_bytes)
        fprintf(f,
                "  sampled       one allocation per %" PRIu64 " bytes on average: every figure "
                "is an estimate\n",
                c->sample_bytes);
    if (c->dropped)
        fprintf(f, "  dropped       %" PRIu64 " allocations the recorder had no memory to record\n",
                c->dropped);
    if (c->rss_samples) {
        rpt_human(peak, sizeof peak, c->rss_peak);
        rpt_human(now, sizeof now, c->rss);
        fprintf(f, "  RSS           peak %s at %.3f s, %s at the end (%" PRIu64 " samples)\n", peak,
                c->rss_peak_ms / 1000.0, now, c->rss_samples);
    }
    collector_text(f, c);
}

void rpt_report_text(FILE *f, const rpt_capture *c, Dwfl *d, size_t top) {
    rpt_summary_text(f, c);
    ranked *r = malloc((c->nowners + 1) * sizeof *r);
    if (r == NULL) return;
    text_section(f, c, d, "Live at the peak, by stack", RPT_AT_PEAK, r, top);
    text_section(f, c, d, "Live at the end (never freed while traced), by stack", RPT_AT_END, r,
                 top);
    text_section(f, c, d, "Allocated in all, by stack", RPT_ALLOCATED, r, top);
    text_section(f, c, d, "Temporary allocations, by stack", RPT_TEMPORARY, r, top);
    free(r);
    bool any = false;
    for (size_t id = 1; id < c->sections_cap; id++) {
        const rpt_section *st = &c->sections[id];
        if (st->occurrences == 0) continue;
        if (!any) fprintf(f, "\nSections (net change, peak above the start, occurrences):\n");
        any = true;
        char peak[32];
        rpt_human(peak, sizeof peak, st->peak);
        fprintf(f, "  %-30s %+" PRId64 " B, peak +%s, %" PRIu64 "x\n", c->strings[id], st->net,
                peak, st->occurrences);
    }
    for (size_t i = 0; i < c->nmarks; i++) {
        if (i == 0) fprintf(f, "\nMarks:\n");
        fprintf(f, "  %8.3f s  %s\n", c->marks[i].ms / 1000.0, c->strings[c->marks[i].label]);
    }
    timeline_text(f, c);
}

static void json_list(FILE *f, const rpt_capture *c, Dwfl *d, enum rpt_view v, ranked *r,
                      size_t top) {
    size_t n = rank(c, v, r);
    fputc('[', f);
    for (size_t i = 0; i < n && i < top; i++) {
        fputs(i ? ",\n    {\"stack\": " : "\n    {\"stack\": ", f);
        rpt_stack_json(f, c, d, r[i].stack);
        fprintf(f, ", \"bytes\": %" PRIu64 ", \"count\": %" PRIu64 ", \"domain\": \"%s\"}",
                r[i].bytes, r[i].count, rpt_domain(c, r[i].stack));
    }
    fputs(n ? "\n  ]" : "]", f);
}

/* The totals as one JSON object. */
void rpt_summary_json(FILE *f, const rpt_capture *c) {
    fputs("{\"file\": ", f);
    rpt_json_string(f, c->name);
    fprintf(f,
            ", \"pid\": %s, \"duration_ms\": %" PRIu64 ", \"threads\": %" PRIu64
            ", \"allocations\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64 ", \"frees\": %" PRIu64
            ", \"peak_bytes\": %" PRIu64 ", \"peak_ms\": %" PRIu64
            ", \"live_bytes_at_end\": %" PRIu64 ", \"live_blocks_at_end\": %" PRIu64
            ", \"temporary_allocations\": %" PRIu64 ", \"temporary_bytes\": %" PRIu64
            ", \"temporary_within\": %zu, \"sample_bytes\": %" PRIu64 ", \"dropped\": %" PRIu64
            ", \"recorded_allocations\": %" PRIu64 ", \"recorded_frees\": %" PRIu64
            ", \"rss_bytes_at_end\": %" PRIu64 ", \"rss_peak_bytes\": %" PRIu64
            ", \"rss_peak_ms\": %" PRIu64 ", \"rss_samples\": %" PRIu64 ", \"complete\": %s}",
            c->pid[0] ? c->pid : "null", c->ms, c->max_thread, c->allocs, c->alloc_bytes, c->frees,
            c->peak, c->peak_ms, c->current, c->end_blocks, c->temp_allocs, c->temp_bytes,
            c->temporary, c->sample_bytes, c->dropped, c->recorded_allocs, c->recorded_frees,
            c->rss, c->rss_peak, c->rss_peak_ms, c->rss_samples, c->ended ? "true" : "false");
}

void rpt_report_json(FILE *f, const rpt_capture *c, Dwfl *d, size_t top, const rpt_leaks *leaks) {
    fputs("{\"summary\": ", f);
    rpt_summary_json(f, c);
    fputs(",\n", f);
    ranked *r = malloc((c->nowners + 1) * sizeof *r);
    if (r == NULL) return;
    fputs("  \"peak\": ", f);
    json_list(f, c, d, RPT_AT_PEAK, r, top);
    fputs(",\n  \"at_exit\": ", f);
    json_list(f, c, d, RPT_AT_END, r, top);
    fputs(",\n  \"allocated\": ", f);
    json_list(f, c, d, RPT_ALLOCATED, r, top);
    fputs(",\n  \"temporary\": ", f);
    json_list(f, c, d, RPT_TEMPORARY, r, top);
    fputs(",\n  \"sections\": [", f);
    bool first = true;
    for (size_t id = 1; id < c->sections_cap; id++) {
        const rpt_section *st = &c->sections[id];
        if (st->occurrences == 0) continue;
        fputs(first ? "\n    {\"name\": " : ",\n    {\"name\": ", f);
        first = false;
        rpt_json_string(f, c->strings[id]);
        fprintf(f,
                ", \"occurrences\": %" PRIu64 ", \"net_bytes\": %" PRId64
                ", \"peak_bytes\": %" PRIu64 "}",
                st->occurrences, st->net, st->peak);
    }
    fputs(first ? "],\n  \"marks\": [" : "\n  ],\n  \"marks\": [", f);
    for (size_t i = 0; i < c->nmarks; i++) {
        fputs(i ? ", {\"label\": " : "{\"label\": ", f);
        rpt_json_string(f, c->strings[c->marks[i].label]);
        fprintf(f, ", \"ms\": %" PRIu64 "}", c->marks[i].ms);
    }
    fputs("],\n  \"timeline\": ", f);
    timeline_json(f, c);
    fputs(",\n  \"collections\": ", f);
    collector_json(f, c);
    if (leaks) {
        fputs(",\n  \"leaks\": ", f);
        rpt_leaks_json(f, leaks, SIZE_MAX);
    }
    fputs("}\n", f);
    free(r);
}
