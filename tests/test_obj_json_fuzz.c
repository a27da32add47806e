/*
 * test_obj_json_fuzz.c -- pm_json_loads on hostile input: no crash, no
 * hang, no leak, and the right verdict.
 *
 * The oracle is a small independent validator written here from RFC 8259
 * (recursive, by code points rather than json.c's tables): for every input
 * pm_json_loads must accept exactly what it accepts. An accepted document
 * must also survive dumps -> loads unchanged; a rejected one must set an
 * exception and report a position inside the input whose line and column
 * agree with its offset.
 *
 * Inputs: every 1- and 2-byte input; every byte value in each syntactic
 * position; random bytes; random token soup; mutations (byte flips,
 * insertions, deletions, duplications) of valid documents; every prefix of
 * valid documents; deep and unbalanced nesting with small, default and huge
 * depth limits. Then allocation failure: a heap whose object and buffer
 * domains fail their k-th call, for every k until a load succeeds. Each
 * part runs in a private runtime and ends with every object freed.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef unsigned char uchar;

/* ---- the oracle ----------------------------------------------------------- */

typedef struct vstate {
    const uchar *p, *end;
    int depth, max_depth;
} vstate;

static void v_ws(vstate *v) {
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static int v_hex4(const uchar *p) {
    int x = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        x = x * 16 + d;
    }
    return x;
}

/* One UTF-8 character by decoding: its length, or 0 when invalid. */
static int v_utf8(const uchar *p, const uchar *end) {
    int len = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 0;
    if (len == 0 || p[0] > 0xF4 || end - p < len) return 0;
    uint32_t cp = p[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static bool v_string(vstate *v) {
    v->p++;
    for (;;) {
        if (v->p >= v->end) return false;
        uchar c = *v->p;
        if (c == '"') {
            v->p++;
            return true;
        }
        if (c < 0x20) return false;
        if (c < 0x80 && c != '\\') {
            v->p++;
            continue;
        }
        if (c >= 0x80) {
            int n = v_utf8(v->p, v->end);
            if (n == 0) return false;
            v->p += n;
            continue;
        }
        if (v->end - v->p < 2) return false;
        if (v->p[1] != '\0' && strchr("\"\\/bfnrt", v->p[1])) {
            v->p += 2;
            continue;
        }
        if (v->p[1] != 'u' || v->end - v->p < 6) return false;
        int cp = v_hex4(v->p + 2);
        if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (v->end - v->p < 12 || v->p[6] != '\\' || v->p[7] != 'u') return false;
            int lo = v_hex4(v->p + 8);
            if (lo < 0xDC00 || lo > 0xDFFF) return false;
            v->p += 12;
        } else {
            v->p += 6;
        }
    }
}

static bool v_digits(vstate *v) {
    const uchar *s = v->p;
    while (v->p < v->end && *v->p >= '0' && *v->p <= '9') v->p++;
    return v->p > s;
}

static bool v_number(vstate *v) {
    if (*v->p == '-') v->p++;
    if (v->p >= v->end) return false;
    if (*v->p == '0') v->p++;
    else if (!v_digits(v)) return false;
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        if (!v_digits(v)) return false;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-')) v->p++;
        if (!v_digits(v)) return false;
    }
    return true;
}

static bool v_value(vstate *v);

static bool v_container(vstate *v, bool object) {
    if (++v->depth > v->max_depth) return false;
    v->p++;
    v_ws(v);
    uchar close = object ? '}' : ']';
    if (v->p < v->end && *v->p == close) {
        v->p++;
        v->depth--;
        return true;
    }
    for (;;) {
        if (object) {
            v_ws(v);
            if (v->p >= v->end || *v->p != '"' || !v_string(v)) return false;
            v_ws(v);
            if (v->p >= v->end || *v->p != ':') return false;
            v->p++;
        }
        if (!v_value(v)) return false;
        if (v->p >= v->end) return false;
        if (*v->p == close) {
            v->p++;
            v->depth--;
            return true;
        }
        if (*v->p != ',') return false;
        v->p++;
    }
}

/* A value with the whitespace around it. */
static bool v_value(vstate *v) {
    v_ws(v);
    if (v->p >= v->end) return false;
    uchar c = *v->p;
    bool ok;
    if (c == '{' || c == '[') ok = v_container(v, c == '{');
    else if (c == '"') ok = v_string(v);
    else if (c == '-' || (c >= '0' && c <= '9')) ok = v_number(v);
    else {
        static const char *const lits[] = {"true", "false", "null"};
        ok = false;
        for (int i = 0; i < 3 && !ok; i++) {
            size_t n = strlen(lits[i]);
            if ((size_t)(v->end - v->p) >= n && memcmp(v->p, lits[i], n) == 0) {
                v->p += n;
                ok = true;
            }
        }
    }
    if (ok) v_ws(v);
    return ok;
}

static bool oracle(const uchar *text, size_t n, int max_depth) {
    vstate v = {text, text + n, 0, max_depth > 0 ? max_depth : 512};
    return v_value(&v) && v.p == v.end;
}

/* ---- checking one input ------------------------------------------------------ */

static long checked, accepted, mismatches;

static void show(const uchar *t, size_t n) {
    fprintf(stderr, "  input (%zu bytes):", n);
    for (size_t i = 0; i < n && i < 80; i++) fprintf(stderr, " %02x", t[i]);
    fprintf(stderr, "%s\n", n > 80 ? " ..." : "");
}

/* Every str in o has the length its bytes give (code points = bytes that
 * are not continuation bytes): the reader counts them as it scans. */
static void check_lengths(pm_object *o) {
    if (pm_is_type(o, &pm_str_type)) {
        size_t n;
        const uchar *u = (const uchar *)pm_str_utf8(o, &n);
        int64_t cps = 0;
        for (size_t i = 0; i < n; i++) cps += (u[i] & 0xC0) != 0x80;
        CHECK_EQ(pm_str_length(o), cps);
    } else if (pm_is_type(o, &pm_list_type)) {
        for (size_t i = 0; i < pm_list_size(o); i++) check_lengths(pm_list_get(o, (int64_t)i));
    } else if (pm_is_type(o, &pm_dict_type)) {
        size_t pos = 0;
        pm_object *k, *v;
        while (pm_dict_next(o, &pos, &k, &v)) {
            check_lengths(k);
            check_lengths(v);
        }
    }
}

/* Check one input against a known verdict: the oracle's, or (for nesting
 * too deep for a recursive oracle) the caller's. */
static void check_verdict(const void *text, size_t n, int max_depth, bool want) {
    const uchar *t = text;
    pm_json_error err;
    memset(&err, 0xAA, sizeof err);
    /* The oracle is RFC 8259's grammar: strict (no NaN, Infinity). */
    pm_object *o = pm_json_loads_flags(text, n, max_depth, PM_JSON_STRICT, &err);
    checked++;
    if ((o != NULL) != want) {
        if (mismatches++ < 10) {
            fprintf(stderr, "verdict differs: loads %s, oracle %s (%s)\n",
                    o ? "accepts" : "rejects", want ? "accepts" : "rejects", o ? "" : err.message);
            show(t, n);
        }
        tu_fail(__FILE__, __LINE__, "verdict");
    }
    if (o == NULL) {
        pm_exc kind = pm_exc_occurred();
        CHECK(kind == PM_EXC_VALUE || kind == PM_EXC_RECURSION);
        CHECK(err.offset <= n && err.message[0] != '\0');
        size_t line = 1, col = 1;
        for (size_t i = 0; i < err.offset && i < n; i++) {
            if (t[i] == '\n') line++, col = 1;
            else col++;
        }
        CHECK(line == err.line && col == err.col);
        pm_exc_clear();
        return;
    }
    if (n <= 10000) check_lengths(o);
    /* dumps, loads again, dumps again: the same text (compared as text,
     * which works at any depth, unlike a recursive equality). */
    accepted++;
    /* Indented output grows with the square of the depth: one line only
     * for the big, deep inputs. */
    int indent = n > 10000 ? -1 : (int)(n % 3) - 1;
    pm_object *s = pm_json_dumps(o, indent), *s2 = NULL, *back = NULL;
    CHECK(s != NULL);
    if (s) {
        size_t sn;
        const char *u = pm_str_utf8(s, &sn);
        /* Read back by default rules: 1e999 loads as inf, which dumps
         * writes as Python does (Infinity), and loads reads it again. */
        back = pm_json_loads(u, sn, max_depth, NULL);
        CHECK(back != NULL);
        if (back) s2 = pm_json_dumps(back, indent);
        CHECK(s2 != NULL && pm_equal(s, s2) == 1);
    }
    pm_exc_clear();
    pm_xdecref(s2);
    pm_xdecref(back);
    pm_xdecref(s);
    pm_decref(o);
}

static void check_input(const void *text, size_t n, int max_depth) {
    check_verdict(text, n, max_depth, oracle(text, n, max_depth));
}

/* ---- generators ------------------------------------------------------------------ */

static uint64_t seed = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void) { return tu_rand(&seed); }

static const char *const tokens[] = {
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    " ",
    "\n",
    "\t",
    "\r",
    "\"",
    "\\",
    "\\u",
    "\\n",
    "\\\"",
    "\\ud83d",
    "\\ude00",
    "\\u0000",
    "\\uD800",
    "d83d",
    "0",
    "1",
    "-",
    ".",
    "e",
    "E",
    "+",
    "123",
    "0.5",
    "1e5",
    "-0",
    "true",
    "false",
    "null",
    "tru",
    "\"a\"",
    "\"key\":",
    "\xc3\xa9",
    "\xe2\x82\xac",
    "\xf0\x9f\x98\x80",
    "\xed\xa0\x80",
    "\xc0\x80",
    "\xff",
    "\x80",
    "\x01",
    "\x7f",
    "\0",
    "9223372036854775808",
    "1e999",
    "NaN",
    "//",
    "/*",
};

static size_t token_soup(uchar *out, size_t cap) {
    size_t n = 0, count = 1 + rnd() % 24;
    for (size_t i = 0; i < count; i++) {
        const char *t = tokens[rnd() % (sizeof tokens / sizeof *tokens)];
        size_t len = t[0] ? strlen(t) : 1; /* "\0" is one NUL byte */
        if (n + len > cap) break;
        memcpy(out + n, t, len);
        n += len;
    }
    return n;
}

/* A valid document as text: depth-bounded, every kind of value. */
static void gen_value(char *out, size_t *n, size_t cap, int depth) {
    if (*n + 64 > cap) {
        out[(*n)++] = '0';
        return;
    }
    int kind = (int)(rnd() % (depth > 0 ? 8 : 5));
    switch (kind) {
        case 0:
            *n += (size_t)sprintf(out + *n, "%s",
                                  (const char *[]){"true", "false", "null"}[rnd() % 3]);
            break;
        case 1: { /* (one rnd() per statement: argument order is unspecified) */
            uint64_t v = rnd();
            v >>= rnd() % 64;
            *n += (size_t)sprintf(out + *n, "%lld", (long long)v);
            break;
        }
        case 2: {
            unsigned long long a = rnd() % 1000, b = rnd() % 100000;
            int e = (int)(rnd() % 40) - 20;
            *n += (size_t)sprintf(out + *n, "-%llu.%lluE%d", a, b, e);
            break;
        }
        case 3:
        case 4: {
            static const char *const parts[] = {"a",
                                                "\\\"",
                                                "\\\\",
                                                "\\/",
                                                "\\b",
                                                "\\f",
                                                "\\n",
                                                "\\r",
                                                "\\t",
                                                "\\u00e9",
                                                "\\ud83d\\ude00",
                                                "\xc3\xa9",
                                                "\xf0\x9f\x98\x80",
                                                " ",
                                                "\\u0000"};
            out[(*n)++] = '"';
            for (int i = (int)(rnd() % 8); i > 0; i--)
                *n += (size_t)sprintf(out + *n, "%s", parts[rnd() % 15]);
            out[(*n)++] = '"';
            break;
        }
        case 5:
        case 6: {
            out[(*n)++] = '[';
            for (int i = (int)(rnd() % 5); i > 0; i--) {
                gen_value(out, n, cap, depth - 1);
                if (i > 1) out[(*n)++] = ',';
            }
            out[(*n)++] = ']';
            break;
        }
        default: {
            out[(*n)++] = '{';
            for (int i = (int)(rnd() % 5); i > 0; i--) {
                *n += (size_t)sprintf(out + *n, " \"k%d\" : ", (int)(rnd() % 4));
                gen_value(out, n, cap, depth - 1);
                if (i > 1) out[(*n)++] = ',';
            }
            out[(*n)++] = '}';
            break;
        }
    }
}

static size_t gen_document(char *out, size_t cap) {
    size_t n = 0;
    gen_value(out, &n, cap - 1, (int)(rnd() % 6));
    return n;
}

static size_t mutate(uchar *t, size_t n, size_t cap) {
    for (int m = (int)(1 + rnd() % 4); m > 0; m--) {
        size_t at = n ? rnd() % n : 0;
        switch (rnd() % 5) {
            case 0:
                if (n) t[at] = (uchar)rnd();
                break;
            case 1:
                if (n) t[at] ^= (uchar)(1u << rnd() % 8);
                break;
            case 2: /* insert a token */ {
                const char *tok = tokens[rnd() % (sizeof tokens / sizeof *tokens)];
                size_t len = tok[0] ? strlen(tok) : 1;
                if (n + len > cap) break;
                memmove(t + at + len, t + at, n - at);
                memcpy(t + at, tok, len);
                n += len;
                break;
            }
            case 3: /* delete a range */ {
                size_t len = n - at ? rnd() % (n - at) % 8 + 1 : 0;
                if (at + len > n) len = n - at;
                memmove(t + at, t + at + len, n - at - len);
                n -= len;
                break;
            }
            default: /* duplicate a range */ {
                size_t len = n - at ? rnd() % (n - at) % 16 + 1 : 0;
                if (at + len > n) len = n - at;
                if (n + len > cap) break;
                memmove(t + at + len, t + at, n - at);
                n += len;
                break;
            }
        }
    }
    return n;
}

/* ---- parts -------------------------------------------------------------------- */

static void part_exhaustive_small(void) {
    tu_group g = tu_group_begin_env();
    uchar b[8];
    for (int i = 0; i < 256; i++) {
        b[0] = (uchar)i;
        check_input(b, 1, 0);
        for (int j = 0; j < 256; j++) {
            b[1] = (uchar)j;
            check_input(b, 2, 0);
        }
    }
    /* Each byte value in each position that means something. */
    static const char *const frames[][2] = {
        {"\"", "\""},
        {"\"\\", "\""},
        {"\"\\u", "000\""},
        {"\"\\ud83d\\u", "e00\""},
        {"[", "]"},
        {"{\"", "\":1}"},
        {"{\"a\"", "1}"},
        {"1", ""},
        {"", "1"},
        {"[1", "2]"},
        {"-", "1"},
        {"1.", "5"},
        {"1e", "5"},
        {"t", "ue"},
        {"\"\xc3", "\""},
        {"\"\xe2\x82", "\""},
        {"\"\xf0\x9f\x98", "\""},
        {"\"\xf0", "\x80\x80\""},
        {"\"\xe0", "\x80\""},
    };
    for (size_t f = 0; f < sizeof frames / sizeof *frames; f++) {
        for (int i = 0; i < 256; i++) {
            char buf[32];
            size_t a = strlen(frames[f][0]), z = strlen(frames[f][1]);
            memcpy(buf, frames[f][0], a);
            buf[a] = (char)i;
            memcpy(buf + a + 1, frames[f][1], z);
            check_input(buf, a + 1 + z, 0);
        }
    }
    tu_group_end(&g, 0);
}

static void part_random(void) {
    tu_group g = tu_group_begin_env();
    uchar buf[4096];
    for (int i = 0; i < 100000; i++) {
        size_t n = rnd() % 64;
        for (size_t k = 0; k < n; k++) buf[k] = (uchar)rnd();
        check_input(buf, n, 0);
    }
    for (int i = 0; i < 300000; i++) {
        size_t n = token_soup(buf, sizeof buf);
        check_input(buf, n, (int)(rnd() % 8));
    }
    tu_group_end(&g, 0);
}

static void part_mutations(void) {
    tu_group g = tu_group_begin_env();
    static char doc[8192];
    static uchar buf[8192 + 512];
    for (int i = 0; i < 10000; i++) {
        size_t n = gen_document(doc, sizeof doc);
        check_input(doc, n, 0); /* valid (the oracle agrees, or this fails) */
        for (int m = 0; m < 10; m++) {
            memcpy(buf, doc, n);
            size_t k = mutate(buf, n, sizeof buf);
            check_input(buf, k, m % 3 == 0 ? 3 : 0);
        }
        /* Every prefix of a few of them. */
        if (i % 50 == 0)
            for (size_t cut = 0; cut < n; cut++) check_input(doc, cut, 0);
    }
    tu_group_end(&g, 0);
}

static void part_nesting(void) {
    tu_group g = tu_group_begin_env();
    size_t big = 300000;
    uchar *t = malloc(2 * big + 16);
    /* Opening brackets only: the default limit stops it early; a huge
     * limit runs to the end of the input. */
    memset(t, '[', big);
    check_verdict(t, big, 0, false);
    check_verdict(t, big, (int)big + 10, false);
    for (size_t i = 0; i < big; i++) t[i] = i % 2 ? '[' : '{';
    check_verdict(t, big, 0, false);
    /* {"a":{"a":... */
    size_t n = 0;
    while (n + 5 < big) n += (size_t)sprintf((char *)t + n, "{\"a\":");
    check_verdict(t, n, 0, false);
    check_verdict(t, n, (int)big, false);
    /* Balanced, then one bracket short, then one extra, then a limit one
     * too small. */
    size_t depth = 100000;
    memset(t, '[', depth);
    memset(t + depth, ']', depth);
    check_verdict(t, 2 * depth, (int)depth, true);
    check_verdict(t, 2 * depth - 1, (int)depth, false);
    t[2 * depth] = ']';
    check_verdict(t, 2 * depth + 1, (int)depth, false);
    check_verdict(t, 2 * depth, (int)depth - 1, false);
    /* Random bracket sequences. */
    for (int i = 0; i < 2000; i++) {
        size_t len = rnd() % 64;
        for (size_t k = 0; k < len; k++) t[k] = "[]{}\"a:,1 "[rnd() % 10];
        check_input(t, len, (int)(rnd() % 6));
    }
    free(t);
    tu_group_end(&g, 0);
}

/* ---- allocation failure ---------------------------------------------------------- */

static tu_failing fa; /* testutil's failing allocator */

/* Load and dump doc with the k-th allocation failing (and, persistent,
 * every one after it), for k = 1, 2, ... until nothing fails. */
static void oom_loop(const char *doc, size_t n, bool persistent) {
    pm_heap *h = pm_heap_new(NULL);
    tu_failing_install(&fa, h);
    pm_runtime_config cfg = {.heap = h, .debug = 0};
    long k, failures = 0;
    for (k = 1; k < 100000; k++) {
        pm_runtime *r = pm_runtime_new(&cfg);
        pm_runtime *prev = pm_runtime_enter(r);
        tu_failing_arm(&fa, k, persistent);
        pm_json_error err;
        pm_object *o = pm_json_loads(doc, n, 0, &err);
        pm_object *s = NULL;
        if (o) s = pm_json_dumps(o, 2);
        bool done = o && s && fa.calls < k;
        if (o == NULL || s == NULL) {
            failures++;
            CHECK_EQ(pm_exc_occurred(), PM_EXC_MEMORY);
            if (o == NULL) CHECK(strcmp(err.message, "out of memory") == 0);
            pm_exc_clear();
        }
        pm_xdecref(s);
        pm_xdecref(o);
        tu_failing_disarm(&fa);
        pm_runtime_stats st;
        pm_runtime_get_stats(r, &st);
        CHECK_EQ(st.objects_allocated, st.objects_freed);
        pm_runtime_enter(prev);
        pm_runtime_destroy(r);
        if (done) break;
    }
    CHECK(failures > 10 && k < 100000);
    pm_heap_destroy(h);
}

static void part_oom(void) {
    static const char doc[] =
        "{\"name\": \"pymm\", \"tags\": [\"a\", \"bb\", \"ccc\", \"bb\"], \"n\": [1, 1000, 1000, "
        "-2.5, 1e300],"
        " \"nested\": {\"x\": [[], {}, [null, true, false]], \"y\": \"\\u00e9t\\u00e9\"},"
        " \"k1\": 1, \"k2\": 2, \"k3\": 3, \"k4\": 4, \"k5\": 5, \"k6\": 6, \"k7\": 7, \"k8\": 8}";
    oom_loop(doc, sizeof doc - 1, false);
    oom_loop(doc, sizeof doc - 1, true);
    /* A bigger generated one: long lists, many distinct strings. */
    static char big[16384];
    size_t n = 0;
    n += (size_t)sprintf(big + n, "[");
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(big + n, "%s{\"id%d\": [%d, %d.5, \"s%d\\n\", [true]]}", i ? ", " : "",
                             i % 20, i * 1000, i, i);
    n += (size_t)sprintf(big + n, "]");
    oom_loop(big, n, false);
    oom_loop(big, n, true);
}

static bool want_part(const char *name) {
    const char *only = getenv("FUZZ_PART");
    return only == NULL || strcmp(only, name) == 0;
}

static void timed(const char *name, void (*part)(void)) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (!want_part(name)) return;
    part();
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("  %-10s %.2f s\n", name,
           (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9);
}

int main(void) {
    timed("small", part_exhaustive_small);
    timed("random", part_random);
    timed("mutations", part_mutations);
    timed("nesting", part_nesting);
    timed("oom", part_oom);
    printf("test_obj_json_fuzz: %ld inputs, %ld accepted, %ld verdicts differ\n", checked, accepted,
           mismatches);
    return tu_finish("test_obj_json_fuzz");
}
