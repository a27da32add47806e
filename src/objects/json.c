/*
 * json.c -- pm_json_loads (RFC 8259 parser) and pm_json_dumps (encoder).
 *
 * Owns the JSON reader and writer. Both are iterative: nesting lives in
 * explicit stacks in C memory, never in C recursion, so no input and no
 * max_depth can overflow the C stack.
 *
 * Reading (pm_json_loads):
 *   - RFC 8259 strictly: any value at top level; whitespace is space, tab,
 *     LF, CR; NaN and Infinity are rejected (Python accepts them, the RFC
 *     does not); trailing data is an error ("Extra data").
 *   - Strings: every escape, \u surrogate pairs combined, a lone surrogate
 *     is an error; raw bytes < 0x20 are errors; UTF-8 is validated here
 *     (strict: no overlong forms, no encoded surrogates, <= U+10FFFF), so an
 *     error points at the offending byte. U+0000 (from \u0000) is kept.
 *   - Numbers: an integer that fits int64 becomes an int; a fraction, an
 *     exponent, or an integer beyond int64 becomes a float (Python would
 *     make a big int; pymm ints are 64-bit, so 2**64 loads as
 *     1.8446744073709552e+19). Floats are read by strtod on a bounded copy
 *     (locale-independent: the point is rewritten when the C library's is not '.').
 *   - Objects: duplicate keys, last wins (pm_dict_set). Keys repeat a lot
 *     in real documents, so a per-call key cache (direct mapped, by bytes)
 *     makes equal keys share one str object, as CPython's json memoizes
 *     them: less memory per value and fewer hash computations.
 *   - Arrays are built exactly sized: items wait on a value stack and the
 *     list is made once its ']' is seen (no over-allocation).
 *   - Errors: err gets {line, col (1-based, col in bytes), offset, message}
 *     and an exception is set: ValueError for syntax and encoding errors,
 *     RecursionError for "nesting too deep" (depth beyond max_depth, 0:
 *     512), MemoryError when out of memory. The exception text is Python's
 *     form: "Expecting value: line 1 column 1 (char 0)" (columns and chars
 *     counted in bytes).
 *
 * Writing (pm_json_dumps): Python's json.dumps with ensure_ascii=True:
 *   indent < 0 gives one line with separators ", " and ": "; indent >= 0
 *   puts each item on its own line indented by indent spaces per level
 *   (separators "," and ": "). dict (keys str, int, float, bool or None,
 *   converted like Python), list, tuple, str, int, float, bool and None are
 *   serializable; anything else is a TypeError. Floats print like repr();
 *   NaN and infinities as NaN, Infinity, -Infinity. A container met again
 *   inside itself is a ValueError "Circular reference detected".
 *
 * Invariants:
 *   J1  every pm_object * the parser holds (frames' containers and pending
 *       keys, the value stack, the key cache) is one owned reference, and
 *       is released on success and on every error path.
 *   J2  the parser reads only inside [text, text + n): every access past a
 *       position checks `end` first.
 */
#define _DEFAULT_SOURCE
#include "objects/containers.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_DEFAULT_DEPTH 512

/* ======================================================================== */
/* Reading                                                                  */
/* ======================================================================== */

typedef unsigned char uchar;

/* A container being read: a dict (made at '{'), or a list whose items wait
 * on the value stack from `base` (the list is made at ']'). */
typedef struct jframe {
    pm_object *dict; /* NULL for a list                     */
    pm_object *key;  /* the dict's pending key, or NULL     */
    size_t base;     /* a list's first item on the value stack */
} jframe;

/* Direct-mapped key cache: a slot holds a str (one reference) and its
 * bytes' hash. Keys longer than KEY_CACHE_MAXLEN are not cached. */
#define KEY_CACHE_SIZE 1024
#define KEY_CACHE_MAXLEN 64

typedef struct key_slot {
    pm_object *str;
    const char *bytes; /* the str's UTF-8, valid while str is held */
    uint32_t hash, len;
} key_slot;

#define INLINE_FRAMES 32
#define INLINE_VALUES 128
#define INLINE_BUF 256

typedef struct jparser {
    const uchar *start, *p, *end;
    size_t max_depth;
    pm_json_error *err;
    jframe *frames;
    size_t nframes, frames_cap;
    pm_object **vals;
    size_t nvals, vals_cap;
    char *buf; /* scratch for strings with escapes */
    size_t buf_cap;
    key_slot *keys; /* NULL until the first key */
    jframe frames_inline[INLINE_FRAMES];
    pm_object *vals_inline[INLINE_VALUES];
    char buf_inline[INLINE_BUF];
} jparser;

/* Character classes, one table lookup per byte on the hot paths. */
enum { C_WS = 1, C_DIGIT = 2, C_HEX = 4 };
static const uchar char_class[256] = {
    ['\t'] = C_WS, ['\n'] = C_WS, ['\r'] = C_WS, [' '] = C_WS,
    ['0'] = C_DIGIT | C_HEX, ['1'] = C_DIGIT | C_HEX, ['2'] = C_DIGIT | C_HEX,
    ['3'] = C_DIGIT | C_HEX, ['4'] = C_DIGIT | C_HEX, ['5'] = C_DIGIT | C_HEX,
    ['6'] = C_DIGIT | C_HEX, ['7'] = C_DIGIT | C_HEX, ['8'] = C_DIGIT | C_HEX,
    ['9'] = C_DIGIT | C_HEX,
    ['a'] = C_HEX, ['b'] = C_HEX, ['c'] = C_HEX, ['d'] = C_HEX, ['e'] = C_HEX, ['f'] = C_HEX,
    ['A'] = C_HEX, ['B'] = C_HEX, ['C'] = C_HEX, ['D'] = C_HEX, ['E'] = C_HEX, ['F'] = C_HEX,
};

static inline bool is_digit(uchar c) { return char_class[c] & C_DIGIT; }

/* ---- errors ------------------------------------------------------------------ */

/* Report an error at `at`: fill err (line and column found by counting
 * newlines before it: errors are rare, so positions are not tracked while
 * parsing) and set the exception. When kind is PM_EXC_NONE the exception
 * already set (MemoryError, say) is kept and its message is used. */
static void fail_kind(jparser *ps, const uchar *at, pm_exc kind, const char *msg) {
    size_t offset = (size_t)(at - ps->start), line = 1;
    const uchar *line_start = ps->start;
    for (const uchar *q = ps->start; (q = memchr(q, '\n', (size_t)(at - q))) != NULL; q++) {
        line++;
        line_start = q + 1;
    }
    size_t col = (size_t)(at - line_start) + 1;
    if (kind == PM_EXC_NONE) {
        kind = pm_exc_occurred();
        if (kind == PM_EXC_NONE) kind = PM_EXC_VALUE;
        msg = pm_exc_message();
    }
    char text[160];
    snprintf(text, sizeof text, "%s", msg);
    if (ps->err) {
        ps->err->line = line;
        ps->err->col = col;
        ps->err->offset = offset;
        snprintf(ps->err->message, sizeof ps->err->message, "%s", text);
    }
    pm_exc_set(kind, "%s: line %zu column %zu (char %zu)", text, line, col, offset);
}

static void *fail(jparser *ps, const uchar *at, const char *msg) {
    fail_kind(ps, at, PM_EXC_VALUE, msg);
    return NULL;
}

/* A pm_ call failed (its exception is set): report it at `at`. */
static void *fail_exc(jparser *ps, const uchar *at) {
    fail_kind(ps, at, PM_EXC_NONE, NULL);
    return NULL;
}

static void *fail_memory(jparser *ps, const uchar *at) {
    pmo_no_memory();
    return fail_exc(ps, at);
}

/* ---- scratch memory (C heap, J1) ---------------------------------------------- */

/* Grow an array that starts in inline storage. false: out of memory. */
static bool grow(void **items, size_t *cap, size_t elsize, void *inline_items) {
    size_t ncap = *cap * 2;
    if (ncap > SIZE_MAX / elsize) return false;
    void *p;
    if (*items == inline_items) {
        p = malloc(ncap * elsize);
        if (p) memcpy(p, *items, *cap * elsize);
    } else {
        p = realloc(*items, ncap * elsize);
    }
    if (p == NULL) return false;
    *items = p;
    *cap = ncap;
    return true;
}

static bool buf_reserve(jparser *ps, size_t need) {
    while (ps->buf_cap < need)
        if (!grow((void **)&ps->buf, &ps->buf_cap, 1, ps->buf_inline)) return false;
    return true;
}

static void parser_init(jparser *ps, const char *text, size_t n, int max_depth, pm_json_error *err) {
    ps->start = ps->p = (const uchar *)text;
    ps->end = ps->start + n;
    ps->max_depth = max_depth > 0 ? (size_t)max_depth : JSON_DEFAULT_DEPTH;
    ps->err = err;
    ps->frames = ps->frames_inline;
    ps->frames_cap = INLINE_FRAMES;
    ps->nframes = 0;
    ps->vals = ps->vals_inline;
    ps->vals_cap = INLINE_VALUES;
    ps->nvals = 0;
    ps->buf = ps->buf_inline;
    ps->buf_cap = INLINE_BUF;
    ps->keys = NULL;
}

/* Release everything the parser still holds (J1). */
static void parser_release(jparser *ps) {
    for (size_t i = 0; i < ps->nframes; i++) {
        pm_xdecref(ps->frames[i].dict);
        pm_xdecref(ps->frames[i].key);
    }
    for (size_t i = 0; i < ps->nvals; i++) pm_decref(ps->vals[i]);
    if (ps->keys) {
        for (size_t i = 0; i < KEY_CACHE_SIZE; i++) pm_xdecref(ps->keys[i].str);
        free(ps->keys);
    }
    if (ps->frames != ps->frames_inline) free(ps->frames);
    if (ps->vals != ps->vals_inline) free(ps->vals);
    if (ps->buf != ps->buf_inline) free(ps->buf);
}

/* ---- whitespace ----------------------------------------------------------------- */

static inline void skip_ws(jparser *ps) {
    const uchar *p = ps->p, *end = ps->end;
    while (p < end && (char_class[*p] & C_WS)) p++;
    ps->p = p;
}

/* ---- strings ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (a byte >= 0x80), or 0. */
static size_t utf8_seq(const uchar *p, const uchar *end) {
    uchar c = p[0];
    size_t avail = (size_t)(end - p);
    if (c < 0xC2) return 0; /* a continuation byte, or an overlong 2-byte lead */
    if (c < 0xE0) return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return 0; /* a surrogate */
        return 3;
    }
    if (c < 0xF5) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && p[1] >= 0x90) return 0; /* beyond U+10FFFF */
        return 4;
    }
    return 0;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Skip the plain bytes of a string: printable ASCII other than '"' and '\'.
 * Eight bytes at a time; a word with any other byte (or a false positive
 * of the zero-byte test, which only ever flags bytes after a real one)
 * stops the word loop and the byte loop finds the exact position. */
static inline const uchar *skip_plain(const uchar *p, const uchar *end) {
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
        uint64_t special = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w) | w;
        if (special & HIGHS) break;
        p += 8;
    }
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
    return p;
}

static int hex4(const uchar *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        uchar c = p[i];
        if (!(char_class[c] & C_HEX)) return -1;
        v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static size_t put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode the escape at p (p[0] == '\\') into out; returns the bytes written
 * (1..4) and advances *pp past it, or 0 after reporting the error. */
static size_t decode_escape(jparser *ps, const uchar **pp, char *out) {
    const uchar *p = *pp, *end = ps->end;
    if (end - p < 2) {
        fail(ps, p, "Invalid \\escape");
        return 0;
    }
    static const char simple[256] = {['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b',
                                     ['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t'};
    if (simple[p[1]]) {
        out[0] = simple[p[1]];
        *pp = p + 2;
        return 1;
    }
    if (p[1] != 'u') {
        fail(ps, p, "Invalid \\escape");
        return 0;
    }
    int cp = end - p >= 6 ? hex4(p + 2) : -1;
    if (cp < 0) {
        fail(ps, p, "Invalid \\uXXXX escape");
        return 0;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate must be followed by an escaped low one. */
        int lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF) {
            fail(ps, p, "Invalid \\uXXXX escape: lone surrogate");
            return 0;
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        *pp = p + 12;
        return put_utf8(out, (uint32_t)cp);
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        fail(ps, p, "Invalid \\uXXXX escape: lone surrogate");
        return 0;
    }
    *pp = p + 6;
    return put_utf8(out, (uint32_t)cp);
}

/* Check one non-plain byte that is neither '"' nor '\' inside a string:
 * a control character is an error, a UTF-8 sequence is skipped. Returns
 * the position after it, or NULL after reporting the error. */
static const uchar *pass_other(jparser *ps, const uchar *p) {
    if (*p < 0x20) return fail(ps, p, "Invalid control character at");
    size_t n = utf8_seq(p, ps->end);
    if (n == 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "Invalid UTF-8 byte 0x%02x in string", *p);
        return fail(ps, p, msg);
    }
    return p + n;
}

/* A str from checked UTF-8, a key through the key cache. */
static pm_object *make_key(jparser *ps, const char *s, size_t n);

static pm_object *make_str(jparser *ps, const char *s, size_t n, bool is_key, const uchar *at) {
    pm_object *o = is_key ? make_key(ps, s, n) : pm_str_from_len(s, n);
    return o ? o : fail_exc(ps, at);
}

/* The rest of a string with escapes: the plain prefix [s, p) is copied to
 * the scratch buffer and decoding goes on from p (a backslash). */
static pm_object *parse_escaped(jparser *ps, const uchar *quote, const uchar *s, const uchar *p,
                                bool is_key) {
    const uchar *end = ps->end;
    size_t len = (size_t)(p - s);
    if (!buf_reserve(ps, len + 16)) return fail_memory(ps, p);
    memcpy(ps->buf, s, len);
    for (;;) {
        const uchar *q = skip_plain(p, end);
        size_t chunk = (size_t)(q - p);
        if (!buf_reserve(ps, len + chunk + 16)) return fail_memory(ps, q);
        memcpy(ps->buf + len, p, chunk);
        len += chunk;
        p = q;
        if (p == end) return fail(ps, quote, "Unterminated string starting at");
        if (*p == '"') break;
        if (*p == '\\') {
            size_t w = decode_escape(ps, &p, ps->buf + len);
            if (w == 0) return NULL;
            len += w;
            continue;
        }
        const uchar *next = pass_other(ps, p);
        if (next == NULL) return NULL;
        memcpy(ps->buf + len, p, (size_t)(next - p));
        len += (size_t)(next - p);
        p = next;
    }
    ps->p = p + 1;
    return make_str(ps, ps->buf, len, is_key, quote);
}

/* A string; ps->p is on its opening quote. */
static pm_object *parse_string(jparser *ps, bool is_key) {
    const uchar *quote = ps->p, *s = quote + 1, *p = s, *end = ps->end;
    for (;;) {
        p = skip_plain(p, end);
        if (p == end) return fail(ps, quote, "Unterminated string starting at");
        if (*p == '"') break;
        if (*p == '\\') return parse_escaped(ps, quote, s, p, is_key);
        if ((p = pass_other(ps, p)) == NULL) return NULL;
    }
    ps->p = p + 1;
    return make_str(ps, (const char *)s, (size_t)(p - s), is_key, quote);
}

/* ---- the key cache --------------------------------------------------------------- */

static uint32_t key_hash(const char *s, size_t n) {
    uint64_t h = n * UINT64_C(0x9E3779B97F4A7C15);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * UINT64_C(0xFF51AFD7ED558CCD);
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * UINT64_C(0xC4CEB9FE1A85EC53);
    return (uint32_t)(h >> 32);
}

static pm_object *make_key(jparser *ps, const char *s, size_t n) {
    if (n > KEY_CACHE_MAXLEN) return pm_str_from_len(s, n);
    if (ps->keys == NULL && (ps->keys = calloc(KEY_CACHE_SIZE, sizeof *ps->keys)) == NULL)
        return pm_str_from_len(s, n); /* no cache: still correct */
    uint32_t h = key_hash(s, n);
    key_slot *slot = &ps->keys[h & (KEY_CACHE_SIZE - 1)];
    if (slot->str && slot->hash == h && slot->len == n && memcmp(slot->bytes, s, n) == 0)
        return pm_newref(slot->str);
    pm_object *o = pm_str_from_len(s, n);
    if (o == NULL) return NULL;
    pm_xdecref(slot->str);
    slot->str = pm_newref(o);
    slot->bytes = pm_str_utf8(o, NULL);
    slot->hash = h;
    slot->len = (uint32_t)n;
    return o;
}

/* ---- numbers and literals ------------------------------------------------------ */

/* A float from the number text [s, e), by strtod on a NUL-ended copy with
 * the C library's decimal point when it is not '.'. */
static pm_object *number_as_float(jparser *ps, const uchar *s, const uchar *e) {
    size_t n = (size_t)(e - s);
    char local[64];
    char *copy = n < sizeof local ? local : malloc(n + 1);
    if (copy == NULL) return fail_memory(ps, s);
    memcpy(copy, s, n);
    copy[n] = '\0';
    char *stop;
    double d = strtod(copy, &stop);
    if (*stop == '.') {
        /* A locale with another decimal point: only then ask for it (the
         * grammar was checked, so strtod may stop early for no other reason). */
        const char *dp = localeconv()->decimal_point;
        *stop = dp && dp[0] ? dp[0] : '.';
        d = strtod(copy, NULL);
    }
    if (copy != local) free(copy);
    pm_object *o = pm_float(d);
    return o ? o : fail_exc(ps, s);
}

/* A number; ps->p is on its first byte ('-' or a digit). The grammar is
 * RFC 8259's; like Python, a '.' or 'e' not followed by digits ends the
 * number, so "1." fails afterwards as unexpected data. */
static pm_object *parse_number(jparser *ps) {
    const uchar *s = ps->p, *p = s, *end = ps->end;
    bool negative = *p == '-';
    if (negative) p++;
    if (p == end || !is_digit(*p)) return fail(ps, s, "Expecting value");
    const uchar *digits = p;
    if (*p == '0') p++;
    else
        while (p < end && is_digit(*p)) p++;
    const uchar *int_end = p;
    bool is_float = false;
    if (end - p >= 2 && *p == '.' && is_digit(p[1])) {
        p += 2;
        while (p < end && is_digit(*p)) p++;
        is_float = true;
    }
    if (p < end && (*p | 0x20) == 'e') {
        const uchar *q = p + 1;
        if (q < end && (*q == '+' || *q == '-')) q++;
        if (q < end && is_digit(*q)) {
            while (q < end && is_digit(*q)) q++;
            p = q;
            is_float = true;
        }
    }
    ps->p = p;
    size_t ndigits = (size_t)(int_end - digits);
    if (!is_float && ndigits <= 19) {
        uint64_t v = 0;
        for (const uchar *d = digits; d < int_end; d++) v = v * 10 + (uint64_t)(*d - '0');
        /* 19 digits may exceed int64 (but never wrap uint64). */
        uint64_t limit = negative ? UINT64_C(1) << 63 : (UINT64_C(1) << 63) - 1;
        if (v <= limit) {
            pm_object *o = pm_int(negative ? (int64_t)(0 - v) : (int64_t)v);
            return o ? o : fail_exc(ps, s);
        }
    }
    return number_as_float(ps, s, p);
}

static pm_object *parse_literal(jparser *ps) {
    const uchar *p = ps->p;
    size_t avail = (size_t)(ps->end - p);
    if (avail >= 4 && memcmp(p, "true", 4) == 0) {
        ps->p = p + 4;
        return pm_bool(1);
    }
    if (avail >= 5 && memcmp(p, "false", 5) == 0) {
        ps->p = p + 5;
        return pm_bool(0);
    }
    if (avail >= 4 && memcmp(p, "null", 4) == 0) {
        ps->p = p + 4;
        return pm_none();
    }
    return fail(ps, p, "Expecting value");
}

/* ---- containers ------------------------------------------------------------------ */

static bool push_value(jparser *ps, pm_object *v) {
    if (ps->nvals == ps->vals_cap &&
        !grow((void **)&ps->vals, &ps->vals_cap, sizeof *ps->vals, ps->vals_inline)) {
        pm_decref(v);
        fail_memory(ps, ps->p);
        return false;
    }
    ps->vals[ps->nvals++] = v;
    return true;
}

/* Open a container at ps->p ('{' or '['). */
static bool open_container(jparser *ps, bool is_dict) {
    if (ps->nframes >= ps->max_depth) {
        fail_kind(ps, ps->p, PM_EXC_RECURSION, "nesting too deep");
        return false;
    }
    if (ps->nframes == ps->frames_cap &&
        !grow((void **)&ps->frames, &ps->frames_cap, sizeof *ps->frames, ps->frames_inline)) {
        fail_memory(ps, ps->p);
        return false;
    }
    pm_object *d = NULL;
    if (is_dict && (d = pm_dict_new()) == NULL) {
        fail_exc(ps, ps->p);
        return false;
    }
    ps->frames[ps->nframes++] = (jframe){d, NULL, ps->nvals};
    ps->p++;
    return true;
}

/* Close the innermost container; returns it (a new reference). A list is
 * made here, exactly sized, its items moved from the value stack. */
static pm_object *close_container(jparser *ps) {
    jframe *f = &ps->frames[ps->nframes - 1];
    pm_object *o = f->dict;
    if (o == NULL) {
        size_t n = ps->nvals - f->base;
        if ((o = pm_list_new(n)) == NULL) return fail_exc(ps, ps->p);
        /* pm_list_new filled the slots with the immortal None: overwrite. */
        memcpy(PMO_LIST(o)->items, ps->vals + f->base, n * sizeof(pm_object *));
        ps->nvals = f->base;
    }
    ps->nframes--;
    ps->p++;
    return o;
}

/* After '{' or ',' in an object: a key and its ':'. The key waits in the
 * frame until its value is read. */
static bool parse_key(jparser *ps) {
    skip_ws(ps);
    if (ps->p == ps->end || *ps->p != '"') {
        fail(ps, ps->p, "Expecting property name enclosed in double quotes");
        return false;
    }
    pm_object *key = parse_string(ps, true);
    if (key == NULL) return false;
    ps->frames[ps->nframes - 1].key = key;
    skip_ws(ps);
    if (ps->p == ps->end || *ps->p != ':') {
        fail(ps, ps->p, "Expecting ':' delimiter");
        return false;
    }
    ps->p++;
    return true;
}

/* Store a value into the innermost container (steals v). Then expects ','
 * or the closing bracket: returns 1 when another value follows (the key,
 * for an object, already read), 0 when the container was closed (its
 * object is in *closed), -1 on error. */
static int store_value(jparser *ps, pm_object *v, pm_object **closed) {
    jframe *f = &ps->frames[ps->nframes - 1];
    uchar close;
    if (f->dict) {
        int r = pm_dict_set(f->dict, f->key, v);
        pm_decref(v);
        PM_CLEAR(f->key);
        if (r < 0) {
            fail_exc(ps, ps->p);
            return -1;
        }
        close = '}';
    } else {
        if (!push_value(ps, v)) return -1;
        close = ']';
    }
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        if (f->dict && !parse_key(ps)) return -1;
        return 1;
    }
    if (ps->p < ps->end && *ps->p == close) {
        *closed = close_container(ps);
        return *closed ? 0 : -1;
    }
    fail(ps, ps->p, "Expecting ',' delimiter");
    return -1;
}

/* One value, or the start of a container (returns NULL with *opened set,
 * and no error). */
static pm_object *parse_scalar_or_open(jparser *ps, bool *opened) {
    skip_ws(ps);
    *opened = false;
    if (ps->p == ps->end) return fail(ps, ps->p, "Expecting value");
    switch (*ps->p) {
    case '"':
        return parse_string(ps, false);
    case '{':
    case '[': {
        bool is_dict = *ps->p == '{';
        if (!open_container(ps, is_dict)) return NULL;
        skip_ws(ps);
        uchar close = is_dict ? '}' : ']';
        if (ps->p < ps->end && *ps->p == close) return close_container(ps); /* empty */
        if (is_dict && !parse_key(ps)) return NULL;
        *opened = true;
        return NULL;
    }
    case 't':
    case 'f':
    case 'n':
        return parse_literal(ps);
    default:
        if (*ps->p == '-' || is_digit(*ps->p)) return parse_number(ps);
        return fail(ps, ps->p, "Expecting value");
    }
}

/* The document: values and containers in a loop, nesting on ps->frames. */
static pm_object *parse_document(jparser *ps) {
    for (;;) {
        bool opened;
        pm_object *v = parse_scalar_or_open(ps, &opened);
        if (opened) continue;
        if (v == NULL) return NULL;
        /* A complete value: store it, closing every container it ends. */
        while (ps->nframes > 0) {
            pm_object *closed;
            int r = store_value(ps, v, &closed);
            if (r < 0) return NULL;
            if (r == 1) break; /* the next value of the same container */
            v = closed;
        }
        if (ps->nframes == 0) return v;
    }
}

pm_object *pm_json_loads(const char *text, size_t n, int max_depth, pm_json_error *err) {
    static const char empty[1] = "";
    if (text == NULL) {
        if (n != 0) {
            pm_exc_set(PM_EXC_TYPE, "pm_json_loads: NULL text");
            if (err) *err = (pm_json_error){0, 0, 0, "NULL text"};
            return NULL;
        }
        text = empty;
    }
    if (err) *err = (pm_json_error){0, 0, 0, ""};
    jparser ps;
    parser_init(&ps, text, n, max_depth, err);
    pm_object *v = parse_document(&ps);
    if (v) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            pm_decref(v);
            v = fail(&ps, ps.p, "Extra data");
        }
    }
    parser_release(&ps);
    return v;
}

/* ======================================================================== */
/* Writing                                                                  */
/* ======================================================================== */

/* The output, in C memory until the final str is made. */
typedef struct jout {
    char *data;
    size_t len, cap;
    bool failed;
} jout;

static bool out_reserve(jout *o, size_t extra) {
    if (o->failed) return false;
    if (o->cap - o->len >= extra) return true;
    size_t cap = o->cap ? o->cap : 256;
    while (cap - o->len < extra) {
        if (cap > SIZE_MAX / 2) {
            o->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(o->data, cap);
    if (p == NULL) {
        o->failed = true;
        return false;
    }
    o->data = p;
    o->cap = cap;
    return true;
}

static void out_add(jout *o, const char *s, size_t n) {
    if (out_reserve(o, n)) {
        memcpy(o->data + o->len, s, n);
        o->len += n;
    }
}

static void out_adds(jout *o, const char *s) { out_add(o, s, strlen(s)); }

static void out_char(jout *o, char c) {
    if (out_reserve(o, 1)) o->data[o->len++] = c;
}

static void out_int(jout *o, int64_t v) {
    char buf[24], *p = buf + sizeof buf;
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (v < 0) *--p = '-';
    out_add(o, p, (size_t)(buf + sizeof buf - p));
}

/* Shortest digits that read back as v (finite, > 0): for a normal double a
 * correctly rounded 15-digit form is the shortest whenever one of at most
 * 15 digits exists (DBL_DIG); otherwise 16 or 17 digits do. Subnormals have
 * fewer significant bits, so for them every precision is tried from 1
 * (5e-324 is "5e-324", not "4.94065645841247e-324"). Returns the digit
 * count and sets *exp10, the power of ten of the first digit. */
static int float_digits(double v, char digits[20], int *exp10) {
    char text[48];
    for (int prec = v < DBL_MIN ? 1 : 15;; prec++) {
        snprintf(text, sizeof text, "%.*e", prec - 1, v);
        if (prec == 17 || strtod(text, NULL) == v) break;
    }
    int n = 0;
    const char *p = text;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && n < 20) digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0') n--;
    *exp10 = *p ? atoi(p + 1) : 0;
    return n;
}

/* repr(float) as Python writes it; NaN and infinities as json.dumps does. */
static void out_float(jout *o, double v) {
    if (isnan(v) || isinf(v) || v == 0.0) {
        out_adds(o, isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "Infinity" : "-Infinity")
                                                 : signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char digits[20], text[48], *p = text;
    int exp10;
    if (v < 0) *p++ = '-';
    int n = float_digits(fabs(v), digits, &exp10);
    int point = exp10 + 1; /* digits before the decimal point */
    if (exp10 < -4 || exp10 >= 16) {
        *p++ = digits[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, digits + 1, (size_t)n - 1);
            p += n - 1;
        }
        p += snprintf(p, 8, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (point <= 0) {
        memcpy(p, "0.", 2);
        p += 2;
        memset(p, '0', (size_t)-point);
        p += -point;
        memcpy(p, digits, (size_t)n);
        p += n;
    } else if (point < n) {
        memcpy(p, digits, (size_t)point);
        p += point;
        *p++ = '.';
        memcpy(p, digits + point, (size_t)(n - point));
        p += n - point;
    } else {
        memcpy(p, digits, (size_t)n);
        p += n;
        memset(p, '0', (size_t)(point - n));
        p += point - n;
        memcpy(p, ".0", 2);
        p += 2;
    }
    out_add(o, text, (size_t)(p - text));
}

static void out_u16(jout *o, unsigned u) {
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', 'u', hex[(u >> 12) & 15], hex[(u >> 8) & 15], hex[(u >> 4) & 15], hex[u & 15]};
    out_add(o, e, 6);
}

/* A code point from the (valid, str-owned) UTF-8 at p; sets *len. */
static uint32_t decode_utf8(const uchar *p, const uchar *end, size_t *len) {
    uchar c = p[0];
    size_t n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if ((size_t)(end - p) < n) n = (size_t)(end - p); /* never past the end */
    uint32_t cp = n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (size_t i = 1; i < n; i++) cp = (cp << 6) | (p[i] & 0x3F);
    *len = n ? n : 1;
    return cp;
}

/* A JSON string with ensure_ascii: runs of plain ASCII copied at once. */
static void out_string(jout *o, const char *s, size_t n) {
    static const char short_escape[32] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',
                                          ['\t'] = 't'};
    const uchar *p = (const uchar *)s, *end = p + n;
    out_char(o, '"');
    while (p < end) {
        const uchar *q = skip_plain(p, end);
        out_add(o, (const char *)p, (size_t)(q - p));
        if (q == end) break;
        uchar c = *q;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            out_add(o, e, 2);
            p = q + 1;
        } else if (c < 0x20) {
            if (short_escape[c]) {
                char e[2] = {'\\', short_escape[c]};
                out_add(o, e, 2);
            } else {
                out_u16(o, c);
            }
            p = q + 1;
        } else {
            size_t len;
            uint32_t cp = decode_utf8(q, end, &len);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                out_u16(o, 0xD800 | (cp >> 10));
                out_u16(o, 0xDC00 | (cp & 0x3FF));
            } else {
                out_u16(o, cp);
            }
            p = q + len;
        }
    }
    out_char(o, '"');
}

static void out_str_object(jout *o, pm_object *s) {
    size_t n;
    const char *u = pm_str_utf8(s, &n);
    if (u == NULL) o->failed = true;
    else out_string(o, u, n);
}

/* ---- the containers being written ----------------------------------------------- */

enum { K_LIST, K_TUPLE, K_DICT };

typedef struct eframe {
    pm_object *o; /* borrowed: its owner outlives the call (no code runs) */
    size_t pos, count;
    int kind;
} eframe;

/* A set of pointers for the circular-reference check beyond the first
 * frames (which are scanned linearly): open addressing, backward-shift
 * deletion, C memory. */
typedef struct pset {
    pm_object **slots;
    size_t cap, len;
} pset;

#define LINEAR_FRAMES 32

static size_t pset_index(const pset *s, const pm_object *p) {
    return (size_t)(((uint64_t)(uintptr_t)p * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (s->cap - 1);
}

static bool pset_contains(const pset *s, const pm_object *p) {
    if (s->len == 0) return false;
    for (size_t i = pset_index(s, p); s->slots[i]; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == p) return true;
    return false;
}

static bool pset_add(pset *s, pm_object *p) {
    if ((s->len + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        pm_object **slots = calloc(cap, sizeof *slots);
        if (slots == NULL) return false;
        pset old = *s;
        s->slots = slots;
        s->cap = cap;
        for (size_t i = 0; i < old.cap; i++) {
            if (old.slots[i] == NULL) continue;
            size_t j = pset_index(s, old.slots[i]);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = old.slots[i];
        }
        free(old.slots);
    }
    size_t i = pset_index(s, p);
    while (s->slots[i]) i = (i + 1) & (s->cap - 1);
    s->slots[i] = p;
    s->len++;
    return true;
}

static void pset_remove(pset *s, const pm_object *p) {
    size_t mask = s->cap - 1, hole = pset_index(s, p);
    while (s->slots[hole] != p) hole = (hole + 1) & mask;
    for (size_t i = (hole + 1) & mask; s->slots[i]; i = (i + 1) & mask) {
        size_t home = pset_index(s, s->slots[i]);
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays) continue;
        s->slots[hole] = s->slots[i];
        hole = i;
    }
    s->slots[hole] = NULL;
    s->len--;
}

typedef struct jenc {
    jout out;
    int indent;
    eframe *frames;
    size_t nframes, cap;
    pset deep; /* containers of frames >= LINEAR_FRAMES */
} jenc;

static bool in_progress(const jenc *e, const pm_object *o) {
    size_t linear = e->nframes < LINEAR_FRAMES ? e->nframes : LINEAR_FRAMES;
    for (size_t i = 0; i < linear; i++)
        if (e->frames[i].o == o) return true;
    return pset_contains(&e->deep, o);
}

static void newline_indent(jenc *e, size_t depth) {
    if (e->indent < 0) return;
    size_t n = (size_t)e->indent * depth;
    if (!out_reserve(&e->out, n + 1)) return;
    e->out.data[e->out.len++] = '\n';
    memset(e->out.data + e->out.len, ' ', n);
    e->out.len += n;
}

static size_t frame_size(const eframe *f) {
    return f->kind == K_LIST ? pm_list_size(f->o) : f->kind == K_TUPLE ? pm_tuple_size(f->o) : pmo_dict_used(f->o);
}

/* Start writing a container: '[' or '{', and a frame unless it is empty.
 * -1 on error (set). */
static int open_frame(jenc *e, pm_object *o, int kind) {
    if (in_progress(e, o)) {
        pm_exc_set(PM_EXC_VALUE, "Circular reference detected");
        return -1;
    }
    eframe f = {o, 0, 0, kind};
    bool empty = frame_size(&f) == 0;
    out_char(&e->out, kind == K_DICT ? '{' : '[');
    if (empty) {
        out_char(&e->out, kind == K_DICT ? '}' : ']');
        return 0;
    }
    if (e->nframes == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        eframe *p = realloc(e->frames, cap * sizeof *p);
        if (p == NULL) goto no_memory;
        e->frames = p;
        e->cap = cap;
    }
    if (e->nframes >= LINEAR_FRAMES && !pset_add(&e->deep, o)) goto no_memory;
    e->frames[e->nframes++] = f;
    return 0;
no_memory:
    pmo_no_memory();
    return -1;
}

static void close_frame(jenc *e) {
    eframe *f = &e->frames[--e->nframes];
    if (e->nframes >= LINEAR_FRAMES) pset_remove(&e->deep, f->o);
    newline_indent(e, e->nframes);
    out_char(&e->out, f->kind == K_DICT ? '}' : ']');
}

/* Write a scalar, or open a container. -1 on error (set). */
static int write_value(jenc *e, pm_object *o) {
    pm_type *t = o->type;
    if (t == &pm_str_type) {
        out_str_object(&e->out, o);
    } else if (t == &pm_int_type || t == &pm_bool_type) {
        int64_t v = 0;
        if (pm_int_value(o, &v) < 0) return -1;
        if (t == &pm_bool_type) out_adds(&e->out, v ? "true" : "false");
        else out_int(&e->out, v);
    } else if (t == &pm_float_type) {
        double d = 0;
        if (pm_float_value(o, &d) < 0) return -1;
        out_float(&e->out, d);
    } else if (t == &pm_none_type) {
        out_adds(&e->out, "null");
    } else if (t == &pm_list_type) {
        return open_frame(e, o, K_LIST);
    } else if (t == &pm_tuple_type) {
        return open_frame(e, o, K_TUPLE);
    } else if (t == &pm_dict_type) {
        return open_frame(e, o, K_DICT);
    } else {
        pm_exc_set(PM_EXC_TYPE, "Object of type %s is not JSON serializable", t->name);
        return -1;
    }
    return 0;
}

/* A dict key, converted to a string as Python does. */
static int write_key(jenc *e, pm_object *k) {
    pm_type *t = k->type;
    if (t == &pm_str_type) {
        out_str_object(&e->out, k);
        return 0;
    }
    if (t == &pm_int_type || t == &pm_bool_type || t == &pm_float_type || t == &pm_none_type) {
        jout tmp = {0};
        jout saved = e->out;
        e->out = tmp;
        int r = write_value(e, k); /* scalars only: never opens a frame */
        tmp = e->out;
        e->out = saved;
        if (r == 0 && !tmp.failed) out_string(&e->out, tmp.data ? tmp.data : "", tmp.len);
        if (tmp.failed) e->out.failed = true;
        free(tmp.data);
        return r;
    }
    pm_exc_set(PM_EXC_TYPE, "keys must be str, int, float, bool or None, not %s", t->name);
    return -1;
}

/* The next item of the innermost container: separators, then the item
 * written or opened. 0: written; 1: the container ended; -1: error. */
static int write_next(jenc *e) {
    eframe *f = &e->frames[e->nframes - 1];
    pm_object *key = NULL, *item;
    if (f->kind == K_DICT) {
        if (!pmo_dict_next(f->o, &f->pos, &key, &item)) return 1;
    } else {
        size_t n = f->kind == K_LIST ? pm_list_size(f->o) : pm_tuple_size(f->o);
        if (f->pos >= n) return 1;
        item = f->kind == K_LIST ? pm_list_get(f->o, (int64_t)f->pos) : pm_tuple_get(f->o, f->pos);
        f->pos++;
    }
    if (f->count++ > 0) out_adds(&e->out, e->indent < 0 ? ", " : ",");
    newline_indent(e, e->nframes);
    if (key) {
        if (write_key(e, key) < 0) return -1;
        out_add(&e->out, ": ", 2);
    }
    if (item == NULL) {
        pm_exc_set(PM_EXC_VALUE, "NULL item in a container");
        return -1;
    }
    return write_value(e, item);
}

pm_object *pm_json_dumps(pm_object *o, int indent) {
    if (o == NULL) {
        pm_exc_set(PM_EXC_TYPE, "pm_json_dumps: NULL object");
        return NULL;
    }
    jenc e = {.indent = indent < 0 ? -1 : indent};
    int r = write_value(&e, o);
    while (r == 0 && e.nframes > 0) {
        r = write_next(&e);
        if (r == 1) {
            close_frame(&e);
            r = 0;
        }
        if (e.out.failed && r == 0) r = -1;
    }
    if (e.out.failed && r == 0) r = -1;
    pm_object *s = NULL;
    if (r == 0) s = pm_str_from_len(e.out.data ? e.out.data : "", e.out.len);
    else if (e.out.failed && !pm_exc_occurred()) pmo_no_memory();
    free(e.out.data);
    free(e.frames);
    free(e.deep.slots);
    return s;
}
