/*
 * report_diff.c -- `pymm report --diff A B`: what changed from one
 * capture to another (two runs of a program, before and after a change):
 * per stack, the bytes and blocks live at the peak, live at the end,
 * allocated in all and temporary, in A, in B and B - A, the largest
 * changes first.
 *
 * Both captures go onto one tree of stacks keyed by what their frames
 * mean (report_tree.c: module path, function, file and line, never node
 * ids or addresses, which differ between runs), A's figures as fig[A],
 * B's as fig[B]; a stack that only one capture has counts as zero in the
 * other.
 *
 * Memory: each capture is read whole and keeps its nodes, strings and
 * modules (rpt_read frees its live table). Both are read before either is
 * named, and each names its frames with libdw open for it alone, the names
 * kept in the tree, so that libdw's tables (tens of MiB for a large
 * binary) are there once at a time and never beside a table of live
 * blocks.
 */
#define _GNU_SOURCE
#include "report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { A, B };

typedef struct diff {
    rpt_capture c[2];
    rpt_tree t;
} diff;

/* ---- ranking and printing ------------------------------------------------ */

static uint64_t distance(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

typedef struct change {
    uint32_t stack;
    rpt_counts a, b;
} change;

static int by_change(const void *p, const void *q) {
    const change *x = p, *y = q;
    uint64_t dx = distance(x->a.bytes, x->b.bytes), dy = distance(y->a.bytes, y->b.bytes);
    if (dx != dy) return dx < dy ? 1 : -1;
    dx = distance(x->a.count, x->b.count);
    dy = distance(y->a.count, y->b.count);
    if (dx != dy) return dx < dy ? 1 : -1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* The stacks whose figures in view v changed, the largest change in
 * bytes first (then in blocks): their number. */
static size_t rank(const diff *x, enum rpt_view v, change *out) {
    size_t n = 0;
    for (uint32_t id = 1; id < x->t.nstacks; id++) {
        rpt_counts a = rpt_tree_figures(&x->t, id, A)[v], b = rpt_tree_figures(&x->t, id, B)[v];
        if (a.bytes != b.bytes || a.count != b.count) out[n++] = (change){id, a, b};
    }
    qsort(out, n, sizeof *out, by_change);
    return n;
}

static void stack_text(FILE *f, const diff *x, uint32_t id) {
    for (; id > RPT_ROOTS; id = x->t.stacks[id].parent) {
        const rpt_tframe *k = &x->t.frames[x->t.stacks[id].frame];
        rpt_frame_text(f, k->function, k->file, k->line, k->interpreter);
    }
}

static void stack_json(FILE *f, const diff *x, uint32_t id) {
    fputc('[', f);
    for (bool first = true; id > RPT_ROOTS; id = x->t.stacks[id].parent, first = false) {
        const rpt_tframe *k = &x->t.frames[x->t.stacks[id].frame];
        rpt_frame_json(f, k->function, k->file, k->line, k->interpreter, first);
    }
    fputc(']', f);
}

static int64_t delta(uint64_t a, uint64_t b) { return (int64_t)(b - a); }

/* b - a as a size: "+1.5 KiB", "-200 B", "0 B". */
static void signed_human(char *out, size_t size, uint64_t a, uint64_t b) {
    out[0] = b > a ? '+' : '-';
    rpt_human(out + (a != b), size - 1, distance(a, b));
}

static const char *const titles[RPT_VIEWS] = {"Live at the peak",
                                              "Live at the end (never freed while traced)",
                                              "Allocated in all", "Temporary allocations"};
static const char *const keys[RPT_VIEWS] = {"peak", "at_exit", "allocated", "temporary"};

static void text_view(FILE *f, const diff *x, enum rpt_view v, change *r, size_t top) {
    size_t n = rank(x, v, r);
    fprintf(f, "\n%s, change by stack (%zu stacks changed):\n", titles[v], n);
    for (size_t i = 0; i < n && i < top; i++) {
        char d[32], a[32], b[32];
        signed_human(d, sizeof d, r[i].a.bytes, r[i].b.bytes);
        rpt_human(a, sizeof a, r[i].a.bytes);
        rpt_human(b, sizeof b, r[i].b.bytes);
        fprintf(f,
                "  #%zu  %s, %+" PRId64 " blocks  (%s in %" PRIu64 " -> %s in %" PRIu64 ")  [%s]\n",
                i + 1, d, delta(r[i].a.count, r[i].b.count), a, r[i].a.count, b, r[i].b.count,
                rpt_tree_domain(&x->t, r[i].stack));
        stack_text(f, x, r[i].stack);
    }
}

static void text_totals(FILE *f, const char *what, uint64_t a, uint64_t b, bool bytes) {
    char ta[32], tb[32], td[32];
    if (bytes) {
        rpt_human(ta, sizeof ta, a);
        rpt_human(tb, sizeof tb, b);
        signed_human(td, sizeof td, a, b);
    } else {
        snprintf(ta, sizeof ta, "%" PRIu64, a);
        snprintf(tb, sizeof tb, "%" PRIu64, b);
        snprintf(td, sizeof td, "%+" PRId64, delta(a, b));
    }
    fprintf(f, "  %-22s %14s %14s %14s\n", what, ta, tb, td);
}

static void diff_text(FILE *f, const diff *x, change *r, size_t top) {
    const rpt_capture *a = &x->c[A], *b = &x->c[B];
    fprintf(f, "A: ");
    rpt_summary_text(f, a);
    fprintf(f, "B: ");
    rpt_summary_text(f, b);
    fprintf(f, "\n  %-22s %14s %14s %14s\n", "", "A", "B", "B - A");
    text_totals(f, "allocations", a->allocs, b->allocs, false);
    text_totals(f, "allocated", a->alloc_bytes, b->alloc_bytes, true);
    text_totals(f, "peak", a->peak, b->peak, true);
    text_totals(f, "live at end", a->current, b->current, true);
    text_totals(f, "temporary allocations", a->temp_allocs, b->temp_allocs, false);
    text_totals(f, "temporary", a->temp_bytes, b->temp_bytes, true);
    for (int v = 0; v < RPT_VIEWS; v++) text_view(f, x, (enum rpt_view)v, r, top);
}

static void json_view(FILE *f, const diff *x, enum rpt_view v, change *r, size_t top) {
    size_t n = rank(x, v, r);
    fprintf(f, ",\n  \"%s\": [", keys[v]);
    for (size_t i = 0; i < n && i < top; i++) {
        fputs(i ? ",\n    {\"stack\": " : "\n    {\"stack\": ", f);
        stack_json(f, x, r[i].stack);
        fprintf(f,
                ", \"domain\": \"%s\", \"bytes_a\": %" PRIu64 ", \"bytes_b\": %" PRIu64
                ", \"bytes_delta\": %" PRId64 ", \"count_a\": %" PRIu64 ", \"count_b\": %" PRIu64
                ", \"count_delta\": %" PRId64 "}",
                rpt_tree_domain(&x->t, r[i].stack), r[i].a.bytes, r[i].b.bytes,
                delta(r[i].a.bytes, r[i].b.bytes), r[i].a.count, r[i].b.count,
                delta(r[i].a.count, r[i].b.count));
    }
    fputs(n ? "\n  ]" : "]", f);
}

static void diff_json(FILE *f, const diff *x, change *r, size_t top) {
    fputs("{\"diff\": {\"a\": ", f);
    rpt_summary_json(f, &x->c[A]);
    fputs(",\n          \"b\": ", f);
    rpt_summary_json(f, &x->c[B]);
    fputc('}', f);
    for (int v = 0; v < RPT_VIEWS; v++) json_view(f, x, (enum rpt_view)v, r, top);
    fputs("}\n", f);
}

/* ---- the command ------------------------------------------------------------- */

int rpt_diff(const char *out, const char *a, const char *b, bool json, size_t top,
             size_t temporary) {
    diff x = {.c = {{.name = a, .temporary = temporary}, {.name = b, .temporary = temporary}}};
    int rc = rpt_tree_init(&x.t, false) ? 0 : 1;
    /* One capture at a time, read, named (libdw's tables are large too)
     * and put on the tree, whose copy is then the only one kept of its
     * stacks. */
    for (int i = A; i <= B && rc == 0; i++) {
        if ((rc = rpt_read(&x.c[i])) != 0) break;
        Dwfl *d = rpt_names_open(&x.c[i]);
        rc = rpt_tree_add(&x.t, &x.c[i], d, i);
        rpt_names_close(d);
        rpt_drop_stacks(&x.c[i]);
    }
    rpt_tree_seal(&x.t);
    change *r = rc == 0 ? malloc(x.t.nstacks * sizeof *r) : NULL;
    if (rc == 0 && r == NULL) {
        fprintf(stderr, "pymm report: out of memory\n");
        rc = 1;
    }
    FILE *f = rc == 0 ? rpt_out_open(out) : NULL;
    if (f) {
        if (json) diff_json(f, &x, r, top);
        else diff_text(f, &x, r, top);
        rc = rpt_out_close(f, out);
    } else rc = 1;
    free(r);
    for (int i = A; i <= B; i++) rpt_capture_free(&x.c[i]);
    rpt_tree_free(&x.t);
    return rc;
}
