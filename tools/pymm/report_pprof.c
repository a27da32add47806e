/*
 * report_pprof.c -- `pymm report FILE --format pprof`: the capture's
 * stacks as google/pprof's profile (profile.proto, package
 * perftools.profiles), which `go tool pprof` and speedscope read
 * (docs/FORMATS.md, "pprof").
 *
 * Owns a protobuf encoder of just what a profile needs: varints (the
 * capture's LEB128 encoder, diag.h), and length-delimited fields, each
 * message built in a buffer of its own and copied into its parent's. The
 * profile is built whole in memory (it is a few dozen bytes a stack), then
 * written gzip-compressed when the build has zlib, plain otherwise: pprof
 * reads both.
 *
 * What it holds: the four sample types of a Go heap profile, alloc_objects
 * and alloc_space (every allocation), inuse_objects and inuse_space (live
 * at the peak, or at the exit); a sample per stack of the capture's tree
 * by name (report_tree.c) with any non-zero value, its location ids
 * innermost first; a location per frame (id = the tree's frame id) with
 * one line; a function per distinct function name and file. Interpreter
 * frames are locations like the native ones, named by their script's file
 * and function. There is no mapping: frames are named already, and a
 * location without a mapping is never symbolized again.
 *
 * Invariant: string index 0 is "", as profile.proto requires; every other
 * string is interned once (rpt_strings ids are the indexes).
 */
#define _GNU_SOURCE
#include "report.h"

#include "diag/diag.h"

#ifdef PYMM_HAVE_ZLIB
#include <zlib.h>
#endif
#include <stdlib.h>
#include <string.h>

/* ---- the encoder --------------------------------------------------------- */

enum { VARINT = 0, LEN = 2 }; /* wire types */

typedef struct pb {
    unsigned char *p;
    size_t n, cap;
    bool failed; /* for want of memory: every later put does nothing */
} pb;

static void pb_put(pb *b, const void *data, size_t n) {
    if (b->failed || !rpt_grow((void **)&b->p, &b->cap, b->n + n, 1)) {
        b->failed = true;
        return;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void pb_varint(pb *b, uint64_t v) {
    unsigned char bytes[10];
    pb_put(b, bytes, pmd_encode_varint(bytes, v));
}

static void pb_key(pb *b, unsigned field, unsigned wire) {
    pb_varint(b, (uint64_t)field << 3 | wire);
}

/* A number field; proto3 leaves out a zero, its default. */
static void pb_uint(pb *b, unsigned field, uint64_t v) {
    if (v == 0) return;
    pb_key(b, field, VARINT);
    pb_varint(b, v);
}

static void pb_bytes(pb *b, unsigned field, const void *data, size_t n) {
    pb_key(b, field, LEN);
    pb_varint(b, n);
    pb_put(b, data, n);
}

/* Message sub as field of b; sub is emptied for the next one. */
static void pb_message(pb *b, unsigned field, pb *sub) {
    if (sub->failed) b->failed = true;
    pb_bytes(b, field, sub->p, sub->n);
    sub->n = 0;
}

/* ---- the profile --------------------------------------------------------- */

/* Fields of profile.proto's messages. */
enum {
    PROFILE_SAMPLE_TYPE = 1,
    PROFILE_SAMPLE,
    PROFILE_LOCATION = 4,
    PROFILE_FUNCTION,
    PROFILE_STRING_TABLE,
    PROFILE_DURATION_NANOS = 10,
    PROFILE_PERIOD_TYPE,
    PROFILE_PERIOD,
    PROFILE_COMMENT,
    PROFILE_DEFAULT_SAMPLE_TYPE
};
enum { VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT };
enum { SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE };
enum { LOCATION_ID = 1, LOCATION_LINE = 4 };
enum { LINE_FUNCTION_ID = 1, LINE_LINE };
enum { FUNCTION_ID = 1, FUNCTION_NAME, FUNCTION_SYSTEM_NAME, FUNCTION_FILENAME };

typedef struct writer {
    const rpt_capture *c;
    const rpt_tree *t;
    enum rpt_view inuse;   /* RPT_AT_PEAK or RPT_AT_END */
    pb out, msg, sub;      /* the profile; a message of it; a message of that */
    rpt_strings strings;   /* the string table from index 1 */
    rpt_strings functions; /* "name\037file": function ids */
    size_t functions_done; /* ids below this are written */
    bool failed;
} writer;

/* The string table index of s: 0 for "" (and, with w->failed set, for
 * want of memory). */
static uint64_t str(writer *w, const char *s) {
    if (s[0] == '\0') return 0;
    char *copy = strdup(s);
    uint32_t id = copy ? rpt_intern(&w->strings, copy) : 0;
    if (id == 0) w->failed = true;
    return id;
}

static void value_type(writer *w, unsigned field, const char *type, const char *unit) {
    pb_uint(&w->msg, VALUE_TYPE_TYPE, str(w, type));
    pb_uint(&w->msg, VALUE_TYPE_UNIT, str(w, unit));
    pb_message(&w->out, field, &w->msg);
}

/* The function id of frame k, its Function written when new. */
static uint64_t function_of(writer *w, const rpt_tframe *k) {
    char *key;
    if (asprintf(&key, "%s\037%s", k->function, k->file) < 0) key = NULL;
    uint32_t id = key ? rpt_intern(&w->functions, key) : 0;
    if (id == 0) w->failed = true;
    if (id < w->functions_done || id == 0) return id;
    w->functions_done = id + 1u;
    pb_uint(&w->msg, FUNCTION_ID, id);
    pb_uint(&w->msg, FUNCTION_NAME, str(w, k->function));
    pb_uint(&w->msg, FUNCTION_SYSTEM_NAME, str(w, k->function));
    pb_uint(&w->msg, FUNCTION_FILENAME, str(w, k->file));
    pb_message(&w->out, PROFILE_FUNCTION, &w->msg);
    return id;
}

/* A location per frame of the tree, with its one line. */
static void locations(writer *w) {
    for (uint32_t id = 1; id < w->t->frames_cap; id++) {
        const rpt_tframe *k = &w->t->frames[id];
        if (k->function == NULL) continue; /* a module path's key */
        uint64_t function = function_of(w, k);
        pb_uint(&w->sub, LINE_FUNCTION_ID, function);
        pb_uint(&w->sub, LINE_LINE, k->line > 0 ? (uint64_t)k->line : 0);
        pb_uint(&w->msg, LOCATION_ID, id);
        pb_message(&w->msg, LOCATION_LINE, &w->sub);
        pb_message(&w->out, PROFILE_LOCATION, &w->msg);
    }
}

/* A sample per stack with any non-zero value: its locations innermost
 * first, and its values in the order of the sample types. Both are
 * packed (one length-delimited field of varints). */
static void samples(writer *w) {
    for (uint32_t id = 1; id < w->t->nstacks; id++) {
        const rpt_counts *fig = rpt_tree_figures(w->t, id, 0);
        uint64_t values[4] = {fig[RPT_ALLOCATED].count, fig[RPT_ALLOCATED].bytes,
                              fig[w->inuse].count, fig[w->inuse].bytes};
        if ((values[0] | values[1] | values[2] | values[3]) == 0) continue;
        for (uint32_t s = id; s > RPT_ROOTS; s = w->t->stacks[s].parent)
            pb_varint(&w->sub, w->t->stacks[s].frame);
        if (w->sub.n) pb_message(&w->msg, SAMPLE_LOCATION_ID, &w->sub);
        for (int i = 0; i < 4; i++) pb_varint(&w->sub, values[i]);
        pb_message(&w->msg, SAMPLE_VALUE, &w->sub);
        pb_message(&w->out, PROFILE_SAMPLE, &w->msg);
    }
}

/* The header fields: sample types, period, duration, comments. */
static void header(writer *w, enum rpt_view measure) {
    value_type(w, PROFILE_SAMPLE_TYPE, "alloc_objects", "count");
    value_type(w, PROFILE_SAMPLE_TYPE, "alloc_space", "bytes");
    value_type(w, PROFILE_SAMPLE_TYPE, "inuse_objects", "count");
    value_type(w, PROFILE_SAMPLE_TYPE, "inuse_space", "bytes");
    value_type(w, PROFILE_PERIOD_TYPE, "space", "bytes");
    /* Go's heap profiles give their sampling rate here; 1: every byte. */
    pb_uint(&w->out, PROFILE_PERIOD, w->c->sample_bytes ? w->c->sample_bytes : 1);
    pb_uint(&w->out, PROFILE_DURATION_NANOS, w->c->ms * 1000000u);
    char text[700];
    snprintf(text, sizeof text, "pymm capture %s", w->c->name);
    pb_uint(&w->out, PROFILE_COMMENT, str(w, text));
    snprintf(text, sizeof text, "inuse_*: live at the %s",
             w->inuse == RPT_AT_END ? "exit" : "peak");
    pb_uint(&w->out, PROFILE_COMMENT, str(w, text));
    pb_uint(&w->out, PROFILE_DEFAULT_SAMPLE_TYPE,
            str(w, measure == RPT_ALLOCATED ? "alloc_space" : "inuse_space"));
}

/* The string table, last: it is complete only now. */
static void string_table(writer *w) {
    pb_bytes(&w->out, PROFILE_STRING_TABLE, "", 0);
    for (size_t i = 1; i < w->strings.n; i++)
        pb_bytes(&w->out, PROFILE_STRING_TABLE, w->strings.strings[i],
                 strlen(w->strings.strings[i]));
}

/* ---- writing it out ------------------------------------------------------ */

#ifdef PYMM_HAVE_ZLIB
/* data as one gzip member (deflate's window bits + 16): false when zlib
 * fails (for want of memory; a write error is the stream's, seen later). */
static bool write_gzip(FILE *f, const unsigned char *data, size_t n) {
    z_stream z = {0};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    unsigned char chunk[1 << 16];
    int rc = Z_OK;
    size_t at = 0;
    while (rc == Z_OK) {
        /* avail_in is 32 bits: a profile over 4 GiB goes in in pieces. */
        if (z.avail_in == 0 && at < n) {
            size_t piece = n - at < (1u << 30) ? n - at : (1u << 30);
            z.next_in = (unsigned char *)data + at;
            z.avail_in = (unsigned)piece;
            at += piece;
        }
        z.next_out = chunk;
        z.avail_out = sizeof chunk;
        rc = deflate(&z, at == n ? Z_FINISH : Z_NO_FLUSH);
        fwrite(chunk, 1, sizeof chunk - z.avail_out, f);
    }
    deflateEnd(&z);
    return rc == Z_STREAM_END;
}
#endif

int rpt_write_pprof(FILE *f, const rpt_capture *c, const rpt_tree *t, const rpt_options *o) {
    enum rpt_view measure = o->measure;
    writer w = {.c = c, .t = t, .inuse = measure == RPT_AT_END ? RPT_AT_END : RPT_AT_PEAK};
    header(&w, measure);
    locations(&w);
    samples(&w);
    string_table(&w);
    bool ok = !w.failed && !w.out.failed && !w.msg.failed && !w.sub.failed;
#ifdef PYMM_HAVE_ZLIB
    if (ok) ok = write_gzip(f, w.out.p, w.out.n);
#else
    if (ok) fwrite(w.out.p, 1, w.out.n, f);
#endif
    if (!ok) fprintf(stderr, "pymm report: out of memory\n");
    free(w.out.p);
    free(w.msg.p);
    free(w.sub.p);
    rpt_strings_free(&w.strings);
    rpt_strings_free(&w.functions);
    return ok ? 0 : 1;
}
