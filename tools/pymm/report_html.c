/*
 * report_html.c -- `pymm report FILE --format html`: one self-contained
 * page (docs/FORMATS.md, "The HTML page"): flame graphs of the four
 * measures, a table of allocation sites, a timeline whose time ranges
 * re-sum both, and the leak verdicts of --leaks (the first LEAKS_MAX), drawn by report_html.js (with report_html.css) from the
 * figures this file embeds as JSON. Both assets are compiled into pymm
 * (embed.cmake), so the page needs nothing but itself.
 *
 * Owns the choice of what the page embeds and the temporal sums. A page
 * must open in a browser whatever the capture, so it holds aggregates,
 * never events: the S stacks that matter most (each stack's largest
 * share of any measure's total; --max-stacks) with the rest summed as
 * "other", and per time bucket (--buckets B) and kept stack what was
 * allocated, freed and temporary, only the cells that are not zero. The
 * bucket sums need the run's duration and the kept stacks before the
 * first event is summed, so the capture is read a second time with
 * rpt_capture.buckets set (report_cmd.c calls rpt_buckets_add).
 *
 * Invariants: the page's data is at most DATA_MAX bytes: when it would
 * be more, the kept stacks halve or the buckets merge in pairs (whichever
 * holds more of it) until it fits, and the page says so. Every figure
 * adds up: the kept stacks plus "other" are each measure's total, and the
 * cells' allocations and frees are the run's. No byte of the data can end
 * its <script> element: '<', '>' and '&' (which only strings hold) are
 * written as \u escapes, and bytes that are not UTF-8 as U+FFFD.
 */
#define _GNU_SOURCE
#include "report.h"

#include "pymm.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The data's bytes at most: with the script and the style (tens of KiB)
 * the page stays under 10 MB. */
#define DATA_MAX (9u << 20)
#define MARKS_MAX 1000 /* marks the page draws; the rest are counted */
#define LEAKS_MAX 200  /* leak verdicts the page lists (each a few KiB at most) */

extern const char rpt_html_js[], rpt_html_css[]; /* embed.cmake */

/* ---- sums by time bucket ------------------------------------------------- */

enum { CELL_FIGURES = 6 }; /* bytes and count allocated, freed, temporary */

typedef struct cell {
    uint32_t bucket, column;
    uint64_t v[CELL_FIGURES];
} cell;

struct rpt_buckets {
    const uint32_t *column; /* [capture node id]: its kept stack's column, or "other"'s */
    size_t nnodes, ncolumns;
    uint64_t bucket_ms;
    size_t nbuckets;
    rpt_map index; /* bucket << 32 | column to 1 + the cell's index */
    cell *cells;
    size_t ncells, cells_cap;
};

/* The cell of (bucket, column), made if new: NULL for want of memory. */
static cell *cell_at(rpt_buckets *b, uint32_t bucket, uint32_t column) {
    uint32_t *id = rpt_map_slot(&b->index, (uint64_t)bucket << 32 | column);
    if (id == NULL || *id) return id ? &b->cells[*id - 1] : NULL;
    if (!rpt_grow((void **)&b->cells, &b->cells_cap, b->ncells + 1, sizeof *b->cells)) {
        b->index.n--; /* the slot stays empty */
        return NULL;
    }
    b->cells[b->ncells] = (cell){.bucket = bucket, .column = column};
    *id = (uint32_t)++b->ncells;
    return &b->cells[b->ncells - 1];
}

bool rpt_buckets_add(rpt_buckets *b, uint32_t node, uint64_t ms, enum rpt_cell_kind kind,
                     uint64_t bytes, uint64_t count) {
    uint64_t bucket = ms / b->bucket_ms;
    if (bucket >= b->nbuckets) bucket = b->nbuckets - 1; /* (a file that grew since) */
    uint32_t column = node < b->nnodes ? b->column[node] : (uint32_t)(b->ncolumns - 1);
    cell *x = cell_at(b, (uint32_t)bucket, column);
    if (x == NULL) return false;
    x->v[2 * kind] += bytes;
    x->v[2 * kind + 1] += count;
    return true;
}

static void buckets_free(rpt_buckets *b) {
    rpt_map_free(&b->index);
    free(b->cells);
    *b = (rpt_buckets){0};
}

static int by_time(const void *x, const void *y) {
    const cell *a = x, *b = y;
    if (a->bucket != b->bucket) return a->bucket < b->bucket ? -1 : 1;
    return a->column < b->column ? -1 : a->column > b->column;
}

/* b's cells with the columns from `kept` on as one ("other") and each
 * 2^shift buckets as one, into *out, sorted by time: false for want of
 * memory. */
static bool fold_cells(const rpt_buckets *b, uint32_t kept, unsigned shift, rpt_buckets *out) {
    *out = (rpt_buckets){.nbuckets = b->nbuckets, .ncolumns = kept + 1};
    for (size_t i = 0; i < b->ncells; i++) {
        const cell *x = &b->cells[i];
        cell *y = cell_at(out, x->bucket >> shift, x->column < kept ? x->column : kept);
        if (y == NULL) return false;
        for (int k = 0; k < CELL_FIGURES; k++) y->v[k] += x->v[k];
    }
    if (out->ncells) qsort(out->cells, out->ncells, sizeof *out->cells, by_time);
    return true;
}

/* ---- the stacks kept ----------------------------------------------------- */

typedef struct scored {
    uint32_t stack;
    double score;
    uint64_t count;
} scored;

static int by_score(const void *x, const void *y) {
    const scored *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return a->stack < b->stack ? -1 : a->stack > b->stack;
}

/* Each measure's total over the tree's stacks into totals[]. */
static void view_totals(const rpt_tree *t, uint64_t *totals) {
    for (int v = 0; v < RPT_VIEWS; v++) totals[v] = 0;
    for (uint32_t id = 1; id < t->nstacks; id++)
        for (int v = 0; v < RPT_VIEWS; v++) totals[v] += rpt_tree_figures(t, id, 0)[v].bytes;
}

/* The tree's stacks with any figure, the ones that matter most first: a
 * stack's score is its largest share of any measure's total, so each
 * flame graph's largest stacks are among the first whichever is shown.
 * Their number, or SIZE_MAX for want of memory (*out NULL). */
static size_t rank_stacks(const rpt_tree *t, scored **out) {
    uint64_t totals[RPT_VIEWS];
    view_totals(t, totals);
    size_t n = 0;
    *out = malloc(t->nstacks * sizeof **out);
    if (*out == NULL) return SIZE_MAX;
    for (uint32_t id = 1; id < t->nstacks; id++) {
        const rpt_counts *fig = rpt_tree_figures(t, id, 0);
        double score = 0;
        uint64_t counts = 0;
        for (int v = 0; v < RPT_VIEWS; v++) {
            if (totals[v] && (double)fig[v].bytes / (double)totals[v] > score)
                score = (double)fig[v].bytes / (double)totals[v];
            counts += fig[v].count;
        }
        if (counts) (*out)[n++] = (scored){id, score, fig[RPT_ALLOCATED].count};
    }
    qsort(*out, n, sizeof **out, by_score);
    return n;
}

/* ---- the second reading -------------------------------------------------- */

/* Read c's file again, summing its events into b by time bucket and by
 * column (rank: the stacks by score, the first `kept` their own column,
 * the rest "other"): 0, or 1 with the error said. */
static int sum_by_time(const rpt_capture *c, const rpt_tree *t, const scored *rank, size_t kept,
                       size_t buckets, rpt_buckets *b) {
    uint32_t *of_stack = malloc(t->nstacks * sizeof *of_stack);
    uint32_t *column = malloc(c->nstacks * sizeof *column);
    int rc = 1;
    if (of_stack && column) {
        for (uint32_t id = 0; id < t->nstacks; id++) of_stack[id] = (uint32_t)kept;
        for (size_t i = 0; i < kept; i++) of_stack[rank[i].stack] = (uint32_t)i;
        for (uint32_t id = 1; id < c->nstacks; id++) column[id] = of_stack[t->nodes[id]];
        uint64_t span = c->ms + 1; /* events at ms 0 .. c->ms */
        *b = (rpt_buckets){.column = column, .nnodes = c->nstacks, .ncolumns = kept + 1};
        b->bucket_ms = (span + buckets - 1) / buckets;
        b->nbuckets = (size_t)((span + b->bucket_ms - 1) / b->bucket_ms);
        rpt_capture again = {
            .name = c->name, .temporary = c->temporary, .buckets = b, .quiet = true};
        rc = rpt_read(&again);
        rpt_capture_free(&again);
        b->column = NULL;
    } else fprintf(stderr, "pymm report: out of memory\n");
    free(of_stack);
    free(column);
    return rc;
}

/* ---- the data ------------------------------------------------------------ */

/* One attempt at the data: `kept` stacks, buckets merged 2^shift. */
typedef struct page {
    const rpt_capture *c;
    const rpt_tree *t;
    const rpt_options *o;
    const scored *rank;
    size_t ranked; /* stacks with any figure */
    const rpt_buckets *sums;
    size_t kept;
    unsigned shift;
    uint32_t *node_of;  /* [tree stack]: 1 + its index among the page's nodes, 0: none */
    uint32_t *frame_of; /* [tree frame]: 1 + its index among the page's frames */
    size_t cells_bytes; /* of the last attempt's data */
} page;

static void figures_json(FILE *f, const uint64_t *fig) {
    for (int k = 0; k < 2 * RPT_VIEWS; k++) fprintf(f, "%s%" PRIu64, k ? ", " : "", fig[k]);
}

/* The nodes of the kept stacks and their callers, parents first (tree
 * ids grow from parent to child), and the frames they name. */
static void nodes_json(FILE *f, page *p) {
    const rpt_tree *t = p->t;
    memset(p->node_of, 0, t->nstacks * sizeof *p->node_of);
    memset(p->frame_of, 0, (t->frames_cap + 1) * sizeof *p->frame_of);
    p->node_of[1] = 1; /* the root, every domain's (a tree by name) */
    for (size_t i = 0; i < p->kept; i++)
        for (uint32_t id = p->rank[i].stack; !p->node_of[id]; id = t->stacks[id].parent)
            p->node_of[id] = 1;
    uint32_t nodes = 0, frames = 0;
    fputs(",\n \"frames\": [", f);
    for (uint32_t id = RPT_ROOTS + 1; id < t->nstacks; id++) {
        uint32_t fr = t->stacks[id].frame;
        if (!p->node_of[id] || p->frame_of[fr]) continue;
        const rpt_tframe *k = &t->frames[fr];
        p->frame_of[fr] = ++frames;
        fputs(frames > 1 ? ",\n  [" : "\n  [", f);
        rpt_json_string(f, k->function);
        fputs(", ", f);
        rpt_json_string(f, k->file);
        fprintf(f, ", %d, %d]", k->line, k->interpreter ? 1 : 0);
    }
    fputs("],\n \"nodes\": [[-1, -1]", f); /* node 0: the root */
    p->node_of[1] = ++nodes;
    for (uint32_t id = RPT_ROOTS + 1; id < t->nstacks; id++) {
        if (!p->node_of[id]) continue;
        p->node_of[id] = ++nodes;
        fprintf(f, ", [%" PRIu32 ", %" PRIu32 "]", p->node_of[t->stacks[id].parent] - 1,
                p->frame_of[t->stacks[id].frame] - 1);
    }
    fputc(']', f);
}

/* The kept stacks' figures (each: its node, then bytes and count in each
 * measure), and "other", what the rest of the stacks hold. */
static void stacks_json(FILE *f, const page *p) {
    uint64_t totals[RPT_VIEWS], other[2 * RPT_VIEWS];
    view_totals(p->t, totals);
    for (int v = 0; v < RPT_VIEWS; v++) other[2 * v] = totals[v], other[2 * v + 1] = 0;
    for (uint32_t id = 1; id < p->t->nstacks; id++)
        for (int v = 0; v < RPT_VIEWS; v++)
            other[2 * v + 1] += rpt_tree_figures(p->t, id, 0)[v].count;
    fputs(",\n \"stacks\": [", f);
    for (size_t i = 0; i < p->kept; i++) {
        const rpt_counts *fig = rpt_tree_figures(p->t, p->rank[i].stack, 0);
        uint64_t own[2 * RPT_VIEWS];
        for (int v = 0; v < RPT_VIEWS; v++) {
            own[2 * v] = fig[v].bytes, own[2 * v + 1] = fig[v].count;
            other[2 * v] -= fig[v].bytes, other[2 * v + 1] -= fig[v].count;
        }
        fprintf(f, "%s[%" PRIu32 ", ", i ? ",\n  " : "\n  ", p->node_of[p->rank[i].stack] - 1);
        figures_json(f, own);
        fputc(']', f);
    }
    fputs("],\n \"other\": [", f);
    figures_json(f, other);
    fputc(']', f);
}

/* The sums by time: each cell as [bucket, column, allocated bytes and
 * count, freed, temporary]. false for want of memory. */
static bool cells_json(FILE *f, page *p) {
    rpt_buckets folded;
    bool ok = fold_cells(p->sums, (uint32_t)p->kept, p->shift, &folded);
    long at = ftell(f);
    fputs(",\n \"cells\": [", f);
    for (size_t i = 0; ok && i < folded.ncells; i++) {
        const cell *x = &folded.cells[i];
        fprintf(f, "%s[%" PRIu32 ", %" PRIu32 ", ", i ? ",\n  " : "\n  ", x->bucket, x->column);
        for (int k = 0; k < CELL_FIGURES; k++) fprintf(f, "%s%" PRIu64, k ? ", " : "", x->v[k]);
        fputc(']', f);
    }
    fputc(']', f);
    p->cells_bytes = (size_t)(ftell(f) - at);
    buckets_free(&folded);
    return ok;
}

/* Whether the page holds less than was asked for, to fit. */
static bool reduced(const page *p) {
    return p->shift > 0 || (p->kept < p->o->max_stacks && p->kept < p->ranked);
}

/* The page's limits: what was asked, and what it holds. */
static void caps_json(FILE *f, const page *p) {
    size_t buckets = ((p->sums->nbuckets - 1) >> p->shift) + 1;
    fprintf(f,
            ",\n \"caps\": {\"max_stacks\": %zu, \"stacks\": %zu, \"stacks_kept\": %zu, "
            "\"max_buckets\": %zu, \"buckets\": %zu, \"bucket_ms\": %" PRIu64
            ", \"reduced\": %s, \"max_bytes\": %u}",
            p->o->max_stacks, p->ranked, p->kept, p->o->buckets, buckets,
            p->sums->bucket_ms << p->shift, reduced(p) ? "true" : "false", 10000000u);
}

/* The timeline's steps (rpt_step, as the JSON report's), the marks and
 * the sections' occurrences, each a small array. */
static void time_json(FILE *f, const rpt_capture *c) {
    fprintf(f, ",\n \"timeline\": {\"step_ms\": %" PRIu64 ", \"steps\": [", c->step_ms);
    for (size_t i = 0; i < c->nsteps; i++) {
        const rpt_step *s = &c->timeline[i];
        fprintf(f, "%s[%" PRIu64 ", %" PRIu64, i ? ", " : "", s->ms, s->max_bytes);
        for (unsigned d = 0; d < RPT_ROOTS; d++) fprintf(f, ", %" PRIu64, s->domain[d]);
        fprintf(f, ", %" PRIu64 "]", s->rss);
    }
    fprintf(f, "]},\n \"marks_total\": %zu, \"marks\": [", c->nmarks);
    for (size_t i = 0; i < c->nmarks && i < MARKS_MAX; i++) {
        fputs(i ? ", [" : "[", f);
        rpt_json_string(f, c->strings[c->marks[i].label]);
        fprintf(f, ", %" PRIu64 "]", c->marks[i].ms);
    }
    uint64_t ngc = 0;
    for (unsigned g = 0; g < RPT_GENERATIONS; g++) ngc += c->gc_count[g];
    fprintf(f, "],\n \"collections_total\": %" PRIu64 ", \"collections\": [", ngc);
    for (size_t i = 0; i < c->ncollections; i++) {
        const rpt_collection *k = &c->collections[i];
        fprintf(f, "%s[%u, %" PRIu64 ", %" PRIu64 ", %" PRIu64 "]", i ? ", " : "", k->generation,
                k->end_ms, k->pause_us, k->found);
    }
    fprintf(f, "],\n \"spans_total\": %" PRIu64 ", \"spans\": [", c->spans_total);
    for (size_t i = 0; i < c->nspans; i++) {
        const rpt_span *s = &c->spans[i];
        fputs(i ? ", [" : "[", f);
        rpt_json_string(f, c->strings[s->name]);
        fprintf(f, ", %" PRIu32 ", %" PRIu64 ", %" PRIu64 "]", s->thread, s->begin_ms, s->end_ms);
    }
    fputs("],\n \"sections\": [", f);
    bool first = true;
    for (size_t id = 1; id < c->sections_cap; id++) {
        const rpt_section *st = &c->sections[id];
        if (st->occurrences == 0) continue;
        fputs(first ? "[" : ", [", f);
        first = false;
        rpt_json_string(f, c->strings[id]);
        fprintf(f, ", %" PRIu64 ", %" PRId64 ", %" PRIu64 "]", st->occurrences, st->net, st->peak);
    }
    fputc(']', f);
}

/* The whole data of one attempt into *data (malloc'd) and *size: false
 * for want of memory. */
static bool data_json(page *p, char **data, size_t *size) {
    FILE *f = open_memstream(data, size);
    if (f == NULL) return false;
    static const char *const names[RPT_VIEWS] = {"peak", "exit", "allocated", "temporary"};
    fprintf(f, "{\"format\": \"pymm-html\", \"version\": 1, \"pymm\": \"%s\", \"measure\": \"%s\"",
            PYMM_VERSION_STRING, names[p->o->measure]);
    fputs(",\n \"program\": ", f);
    if (p->c->nmodules) rpt_json_string(f, p->c->modules[0].path);
    else fputs("null", f);
    fputs(",\n \"summary\": ", f);
    rpt_summary_json(f, p->c);
    caps_json(f, p);
    nodes_json(f, p);
    stacks_json(f, p);
    bool ok = cells_json(f, p);
    time_json(f, p->c);
    if (p->o->leaks) {
        fprintf(f, ",\n \"leaks_file\": ");
        rpt_json_string(f, p->o->leaks->name);
        fprintf(f, ", \"leaks_total\": %zu, \"leaks\": ", p->o->leaks->n);
        rpt_leaks_json(f, p->o->leaks, LEAKS_MAX);
    }
    fputs("}\n", f);
    if (fclose(f) != 0 || !ok) {
        free(*data);
        *data = NULL;
        return false;
    }
    return true;
}

/* The data, lowered until it fits in DATA_MAX: when the cells hold more
 * than half of it the buckets merge in pairs, else fewer stacks are kept,
 * as many as would fit at the bytes a stack took (with a tenth to spare),
 * so that a few attempts fit where halving took many. false for want of
 * memory. */
static bool fit(page *p, char **data, size_t *size) {
    for (;;) {
        if (!data_json(p, data, size)) return false;
        if (*size <= DATA_MAX) return true;
        bool cells = p->cells_bytes * 2 > *size && (p->sums->nbuckets - 1) >> p->shift > 0;
        if (!cells && p->kept <= 1 && (p->sums->nbuckets - 1) >> p->shift == 0) {
            fprintf(stderr,
                    "pymm report: warning: the page's data is %zu bytes even with one "
                    "stack and one bucket\n",
                    *size);
            return true;
        }
        free(*data);
        size_t fits = (size_t)((double)p->kept * 0.9 * DATA_MAX / (double)*size);
        if (cells || p->kept <= 1) p->shift++;
        else p->kept = fits == 0 ? 1 : fits < p->kept ? fits : p->kept - 1;
    }
}

/* ---- the page ------------------------------------------------------------ */

/* The next character of s (at most n bytes) if it is well-formed UTF-8:
 * its length, or 0. */
static size_t utf8_length(const unsigned char *s, size_t n) {
    size_t len = s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf5 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
        return 0; /* overlong, or a surrogate */
    if (len == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
        return 0; /* overlong, or past U+10FFFF */
    return len;
}

/* JSON text as the content of a <script> element: '<' (so that neither
 * `</script` nor `<!--` can appear), '>' and '&' as \u escapes, which
 * JSON allows in strings, the only place they can be; malformed UTF-8 as
 * U+FFFD, so that every reader decodes it alike. */
static void script_text(FILE *f, const char *data, size_t n) {
    const unsigned char *s = (const unsigned char *)data;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            if (s[i] == '<' || s[i] == '>' || s[i] == '&') fprintf(f, "\\u%04x", s[i]);
            else fputc(s[i], f);
            i++;
            continue;
        }
        size_t len = utf8_length(s + i, n - i);
        if (len) fwrite(s + i, 1, len, f);
        else fputs("\\ufffd", f);
        i += len ? len : 1;
    }
}

/* Text as HTML character data. */
static void html_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
            case '<': fputs("&lt;", f); break;
            case '>': fputs("&gt;", f); break;
            case '&': fputs("&amp;", f); break;
            case '"': fputs("&quot;", f); break;
            default: fputc(*s, f);
        }
    }
}

static void write_page(FILE *f, const rpt_capture *c, const char *data, size_t size) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          /* Nothing is fetched, whatever a frame's name says. */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>pymm report: ",
          f);
    html_text(f, c->name);
    fputs("</title>\n<style>\n", f);
    fputs(rpt_html_css, f);
    fputs("</style>\n</head>\n<body>\n<noscript>This report is drawn by its script: allow "
          "JavaScript for this file.</noscript>\n"
          "<script type=\"application/json\" id=\"pymm-data\">\n",
          f);
    script_text(f, data, size);
    fputs("</script>\n<script>\n", f);
    fputs(rpt_html_js, f);
    fputs("</script>\n</body>\n</html>\n", f);
}

int rpt_write_html(FILE *f, const rpt_capture *c, const rpt_tree *t, const rpt_options *o) {
    scored *rank = NULL;
    size_t ranked = rank_stacks(t, &rank);
    rpt_buckets sums = {0};
    page p = {.c = c, .t = t, .o = o, .rank = rank, .ranked = ranked, .sums = &sums};
    p.kept = ranked < o->max_stacks ? ranked : o->max_stacks;
    int rc = ranked == SIZE_MAX ? 0 : sum_by_time(c, t, rank, p.kept, o->buckets, &sums);
    p.node_of = malloc(t->nstacks * sizeof *p.node_of);
    p.frame_of = malloc((t->frames_cap + 1) * sizeof *p.frame_of);
    char *data = NULL;
    size_t size = 0;
    if (rc == 0 &&
        (ranked == SIZE_MAX || p.node_of == NULL || p.frame_of == NULL || !fit(&p, &data, &size))) {
        fprintf(stderr, "pymm report: out of memory\n");
        rc = 1;
    }
    if (rc == 0) write_page(f, c, data, size);
    if (rc == 0 && reduced(&p))
        fprintf(stderr,
                "pymm report: the page keeps %zu stacks and buckets of %" PRIu64
                " ms, to stay under 10 MB\n",
                p.kept, sums.bucket_ms << p.shift);
    free(data);
    free(p.node_of);
    free(p.frame_of);
    buckets_free(&sums);
    free(rank);
    return rc;
}
