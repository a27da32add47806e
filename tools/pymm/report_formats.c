/*
 * report_formats.c -- `pymm report FILE --format collapsed|speedscope`:
 * every stack of a capture, for flame graph tools (docs/FORMATS.md,
 * "Collapsed stacks" and "Speedscope"). pprof's profile is in
 * report_pprof.c.
 *
 * Both write from the capture's tree by name (report_tree.c): stacks whose
 * frames print alike are one stack there, whatever their domain, so each
 * collapsed line and each speedscope sample is a distinct stack. A stack
 * with no byte in the measure is left out (flame graphs draw nothing for
 * it); one allocated where no frame could be read is a stack of no frames
 * (collapsed: the one frame `[unknown]`). Stacks come in the order the
 * run first met them, which is stable for one capture.
 */
#include "report.h"

#include "pymm.h"

#include <inttypes.h>
#include <stdlib.h>

/* What each measure is called in a speedscope profile's name. */
static const char *const titles[RPT_VIEWS] = {"live at the peak", "live at the exit",
                                              "allocated in all", "temporary"};

static void out_of_memory(void) { fprintf(stderr, "pymm report: out of memory\n"); }

/* ---- collapsed stacks ---------------------------------------------------- */

/* Text of a frame name as flamegraph.pl can split it: ';' separates
 * frames and a newline lines, so ';' becomes ',' and control characters
 * spaces. (Spaces are fine: the count is after the line's last one.) */
static void collapsed_text(FILE *f, const char *s) {
    for (; *s; s++) fputc(*s == ';' ? ',' : (unsigned char)*s < 0x20 ? ' ' : *s, f);
}

/* `function (file:line)`, or `function` where no file is known: the
 * line tells two calls in one function apart, as the text report does. */
static void collapsed_frame(FILE *f, const rpt_tframe *k) {
    collapsed_text(f, k->function);
    if (k->file[0] == '\0') return;
    fputs(" (", f);
    collapsed_text(f, k->file);
    fprintf(f, ":%d)", k->line);
}

int rpt_write_collapsed(FILE *f, const rpt_capture *c, const rpt_tree *t, const rpt_options *o) {
    enum rpt_view measure = o->measure;
    (void)c;
    uint32_t *path = NULL;
    size_t cap = 0;
    for (uint32_t id = 1; id < t->nstacks; id++) {
        uint64_t bytes = rpt_tree_figures(t, id, 0)[measure].bytes;
        if (bytes == 0) continue;
        size_t n = rpt_tree_path(t, id, &path, &cap);
        if (n == SIZE_MAX) {
            free(path);
            out_of_memory();
            return 1;
        }
        if (n == 0) fputs("[unknown]", f);
        for (size_t i = n; i-- > 0;) { /* outermost first */
            collapsed_frame(f, &t->frames[path[i]]);
            if (i) fputc(';', f);
        }
        fprintf(f, " %" PRIu64 "\n", bytes);
    }
    free(path);
    return 0;
}

/* ---- speedscope ---------------------------------------------------------- */

/* The shared frames, each frame id's index among them into index[]. */
static void speedscope_frames(FILE *f, const rpt_tree *t, uint32_t *index) {
    uint32_t n = 0;
    fputs("{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\",\n"
          " \"shared\": {\"frames\": [",
          f);
    for (uint32_t id = 1; id < t->frames_cap; id++) {
        const rpt_tframe *k = &t->frames[id];
        if (k->function == NULL) continue; /* a module path's key */
        index[id] = n;
        fputs(n++ ? ",\n   {\"name\": " : "\n   {\"name\": ", f);
        rpt_json_string(f, k->function);
        if (k->file[0]) {
            fputs(", \"file\": ", f);
            rpt_json_string(f, k->file);
        }
        if (k->line > 0) fprintf(f, ", \"line\": %d", k->line);
        fputc('}', f);
    }
    fputs("]},\n", f);
}

static uint64_t view_total(const rpt_tree *t, enum rpt_view v) {
    uint64_t sum = 0;
    for (uint32_t id = 1; id < t->nstacks; id++) sum += rpt_tree_figures(t, id, 0)[v].bytes;
    return sum;
}

/* One sampled profile: each stack with bytes in view v a sample (its
 * frames outermost first, as speedscope reads them), weighted by its
 * bytes. false for want of memory. */
static bool speedscope_profile(FILE *f, const rpt_tree *t, const uint32_t *index, enum rpt_view v,
                               uint32_t **path, size_t *cap) {
    fputs("  {\"type\": \"sampled\", \"name\": ", f);
    rpt_json_string(f, titles[v]);
    fprintf(f, ", \"unit\": \"bytes\", \"startValue\": 0, \"endValue\": %" PRIu64 ",\n",
            view_total(t, v));
    fputs("   \"samples\": [", f);
    bool first = true;
    for (uint32_t id = 1; id < t->nstacks; id++) {
        if (rpt_tree_figures(t, id, 0)[v].bytes == 0) continue;
        size_t n = rpt_tree_path(t, id, path, cap);
        if (n == SIZE_MAX) return false;
        fputs(first ? "\n    [" : ",\n    [", f);
        first = false;
        for (size_t i = n; i-- > 0;) fprintf(f, "%" PRIu32 "%s", index[(*path)[i]], i ? ", " : "");
        fputc(']', f);
    }
    fputs("],\n   \"weights\": [", f);
    first = true;
    for (uint32_t id = 1; id < t->nstacks; id++) {
        uint64_t bytes = rpt_tree_figures(t, id, 0)[v].bytes;
        if (bytes == 0) continue;
        fprintf(f, "%s%" PRIu64, first ? "" : ", ", bytes);
        first = false;
    }
    fputs("]}", f);
    return true;
}

/* A profile for each measure that has bytes, and for the one asked for
 * (which the viewer shows first) even when it has none. */
int rpt_write_speedscope(FILE *f, const rpt_capture *c, const rpt_tree *t, const rpt_options *o) {
    enum rpt_view measure = o->measure;
    uint32_t *index = calloc(t->frames_cap + 1, sizeof *index), *path = NULL;
    size_t cap = 0;
    if (index == NULL) {
        out_of_memory();
        return 1;
    }
    speedscope_frames(f, t, index);
    fputs(" \"profiles\": [\n", f);
    int n = 0, active = 0;
    bool ok = true;
    for (int v = 0; v < RPT_VIEWS && ok; v++) {
        if (v != (int)measure && view_total(t, (enum rpt_view)v) == 0) continue;
        if (v == (int)measure) active = n;
        if (n++) fputs(",\n", f);
        ok = speedscope_profile(f, t, index, (enum rpt_view)v, &path, &cap);
    }
    fputs("],\n \"name\": ", f);
    char name[600];
    snprintf(name, sizeof name, "pymm capture %s", c->name);
    rpt_json_string(f, name);
    fprintf(f, ", \"activeProfileIndex\": %d, \"exporter\": \"pymm %s\"}\n", active,
            PYMM_VERSION_STRING);
    free(index);
    free(path);
    if (!ok) out_of_memory();
    return ok ? 0 : 1;
}
