/*
 * json.c -- pm_json_loads (RFC 8259 parser) and pm_json_dumps (encoder).
 *
 * A library on the core (src/lib/): it sees objects through pymm.h and the
 * few builders of objects/builders.h, never their layouts; hidden names of
 * its own would take the prefix pmj_ (it has none today).
 *
 * Owns the JSON reader and writer. Both are iterative: nesting lives in
 * explicit stacks in C memory, never in C recursion, so no input and no
 * max_depth can overflow the C stack.
 *
 * Reading (pm_json_loads):
 *   - RFC 8259, plus what Python's json accepts by default: any value at
 *     top level; whitespace is space, tab, LF, CR; the constants NaN,
 *     Infinity and -Infinity are floats (PM_JSON_STRICT rejects them, as
 *     the RFC does: "Expecting value"); trailing data is an error ("Extra
 *     data").
 *   - Strings: every escape, \u surrogate pairs combined, a lone surrogate
 *     is an error; raw bytes < 0x20 are errors; UTF-8 is validated here
 *     (strict: no overlong forms, no encoded surrogates, <= U+10FFFF), so an
 *     error points at the offending byte (and the str is made without a
 *     second check: pmo_str_from_valid). U+0000 (from \u0000) is kept.
 *   - Numbers: an integer that fits int64 becomes an int; a fraction, an
 *     exponent, or an integer beyond int64 becomes a float (Python would
 *     make a big int; pymm ints are 64-bit, so 2**64 loads as
 *     1.8446744073709552e+19). Floats are correctly rounded: an exact
 *     128-bit integer path for up to 19 digits and |exponent| <= 19 (most
 *     real numbers), strtod on a bounded copy for the rest (independent of
 *     the locale: the point is rewritten when the C library's is not '.').
 *   - Objects: duplicate keys, last wins; the table is sized for exactly
 *     the keys read (pmo_dict_from_pairs).
 *   - Sharing: keys, and many values, repeat in real documents. CPython's
 *     json memoizes keys; here keys are memoized per call and string values
 *     and number texts go through small recency caches, so equal texts
 *     share one str, int or float (immutable objects: nothing can tell, but
 *     memory per value drops, and a repeated float skips its conversion).
 *   - Containers are built when they close: items (or key/value pairs)
 *     wait on a value stack, so a list is made exactly sized (no
 *     over-allocation) and a dict in one go.
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
 *   inside itself is a ValueError "Circular reference detected". PM_JSON_STRICT is
 *   json.dumps(allow_nan=False): NaN and infinities are a ValueError.
 *
 * Invariants:
 *   J1  every pm_object * the parser holds (the value stack, the key memo,
 *       the kept values) is one owned reference, released on success and
 *       on every error path.
 *   J2  the parser reads only inside [text, text + n): every access past a
 *       position checks `end` first.
  *   J3  every object the parser made stays alive until the call returns:
 *       referenced by the value stack, by a container on it, or, for the
 *       values a duplicate key replaced, by `kept`. So the direct-mapped
 *       caches' borrowed slots never point to a dead object.
 */
#define _DEFAULT_SOURCE
#include "objects/builders.h"
#include "heap/internal_alloc.h"

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

/* A container being read. Its contents wait on the value stack from
 * `base` (items, or keys and values alternating) and the object is made
 * when its closing bracket is seen: exactly sized, never resized. */
typedef struct jframe {
    size_t base;
    bool is_dict;
} jframe;

/* The sharing cache: one table per kind of text, keys and string values by
 * their UTF-8, numbers by their text in the document.
 *   - Keys: a memo, as CPython's json memoizes keys: open addressing
 *     (linear probing, at most half full), growing from CACHE_MIN to
 *     CACHE_MAX slots (2^20: half a million distinct keys, as many as real
 *     documents keyed by ids have, for 24 MiB at most during the call) and
 *     then taking no new keys. Nothing is evicted, so two hot keys never
 *     push each other out; endless distinct keys cost a bounded table.
 *   - Values and numbers: a direct-mapped cache, the newest text evicting
 *     the slot's old one. Values repeat less and more locally (a polygon's
 *     first point closes it): recency is what pays, and a miss costs one
 *     probe however many distinct texts there are. Both start with
 *     CACHE_RECENT slots; the numbers' cache quadruples, up to
 *     CACHE_NUM_MAX, when its misses since it last grew reach half its
 *     slots and it had hits meanwhile (1 lookup in CACHE_GROW_HITS): a
 *     document with few numbers, or with numbers that never repeat, pays
 *     for a small table; one with many repeats far apart (canada.json's
 *     shared borders) gets a window long enough for them: 2.7 times the
 *     hits of a fixed 1024 slots.
 * A memo slot holds one reference to its object; a direct-mapped slot
 * borrows it (J3), so evicting a text touches nothing but the slot (an
 * owned reference would cost a cache miss on the old object at every
 * eviction). A slot points to the bytes its object was
 * made from: the str's own text, or the document's text (which outlives
 * the call). Texts longer than CACHE_MAXLEN, and strings of at most one
 * byte (static singletons already), are not cached. */
#define CACHE_MIN 64
#define CACHE_MAX (1u << 20)
#define CACHE_RECENT 1024
#define CACHE_NUM_MAX (1u << 16)
#define CACHE_GROW_HITS 32 /* grow only if more than 1 in 32 lookups hit */
#define CACHE_MAXLEN 64

typedef struct cache_slot {
    pm_object *obj; /* NULL: empty */
    const char *bytes;
    uint32_t hash, len;
} cache_slot;

typedef struct memo {
    cache_slot *slots; /* NULL until first used */
    uint32_t cap;
    uint32_t len;  /* the memo: slots used; a direct-mapped cache: misses since it grew */
    uint32_t hits; /* a direct-mapped cache: hits since it grew */
    int shift;     /* 32 - log2(cap): a slot is indexed by the hash's top bits */
} memo;

/* twitter.json: 13345 keys, 94 distinct; 4607 string values (beyond one
 * byte), 1514 distinct. */
enum { CACHE_KEY, CACHE_STR, CACHE_NUM, CACHE_TABLES };

#define INLINE_FRAMES 32
#define INLINE_VALUES 128
#define INLINE_BUF 256

typedef struct jparser {
    const uchar *start, *p, *end;
    size_t max_depth;
    bool strict; /* PM_JSON_STRICT: no NaN, Infinity, -Infinity */
    pm_json_error *err;
    jframe *frames;
    size_t nframes, frames_cap;
    pm_object **vals;
    size_t nvals, vals_cap;
    char *buf; /* scratch for strings with escapes */
    size_t buf_cap;
    memo cache[CACHE_TABLES];
    pm_object **kept; /* items of objects with duplicate keys (J3) */
    size_t nkept, kept_cap;
    jframe frames_inline[INLINE_FRAMES];
    pm_object *vals_inline[INLINE_VALUES];
    char buf_inline[INLINE_BUF];
} jparser;

/* Character classes, one table lookup per byte on the hot paths. */
enum { C_WS = 1, C_DIGIT = 2, C_HEX = 4 };
static const uchar char_class[256] = {
    ['\t'] = C_WS,           ['\n'] = C_WS,
    ['\r'] = C_WS,           [' '] = C_WS,
    ['0'] = C_DIGIT | C_HEX, ['1'] = C_DIGIT | C_HEX,
    ['2'] = C_DIGIT | C_HEX, ['3'] = C_DIGIT | C_HEX,
    ['4'] = C_DIGIT | C_HEX, ['5'] = C_DIGIT | C_HEX,
    ['6'] = C_DIGIT | C_HEX, ['7'] = C_DIGIT | C_HEX,
    ['8'] = C_DIGIT | C_HEX, ['9'] = C_DIGIT | C_HEX,
    ['a'] = C_HEX,           ['b'] = C_HEX,
    ['c'] = C_HEX,           ['d'] = C_HEX,
    ['e'] = C_HEX,           ['f'] = C_HEX,
    ['A'] = C_HEX,           ['B'] = C_HEX,
    ['C'] = C_HEX,           ['D'] = C_HEX,
    ['E'] = C_HEX,           ['F'] = C_HEX,
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
        p = pmh_internal_malloc(ncap * elsize);
        if (p) memcpy(p, *items, *cap * elsize);
    } else {
        p = pmh_internal_realloc(*items, ncap * elsize);
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

static void parser_init(jparser *ps, const char *text, size_t n, int max_depth, bool strict,
                        pm_json_error *err) {
    ps->start = ps->p = (const uchar *)text;
    ps->end = ps->start + n;
    ps->max_depth = max_depth > 0 ? (size_t)max_depth : JSON_DEFAULT_DEPTH;
    ps->strict = strict;
    ps->err = err;
    ps->frames = ps->frames_inline;
    ps->frames_cap = INLINE_FRAMES;
    ps->nframes = 0;
    ps->vals = ps->vals_inline;
    ps->vals_cap = INLINE_VALUES;
    ps->nvals = 0;
    ps->buf = ps->buf_inline;
    ps->buf_cap = INLINE_BUF;
    memset(ps->cache, 0, sizeof ps->cache);
    ps->kept = NULL;
    ps->nkept = ps->kept_cap = 0;
}

/* Release everything the parser still holds (J1). */
static void parser_release(jparser *ps) {
    for (size_t i = 0; i < ps->nvals; i++) pm_decref(ps->vals[i]);
    for (int t = 0; t < CACHE_TABLES; t++) {
        memo *m = &ps->cache[t];
        for (uint32_t i = 0; t == CACHE_KEY && i < m->cap; i++) pm_xdecref(m->slots[i].obj);
        pmh_internal_free(m->slots);
    }
    for (size_t i = 0; i < ps->nkept; i++) pm_decref(ps->kept[i]);
    pmh_internal_free(ps->kept);
    if (ps->frames != ps->frames_inline) pmh_internal_free(ps->frames);
    if (ps->vals != ps->vals_inline) pmh_internal_free(ps->vals);
    if (ps->buf != ps->buf_inline) pmh_internal_free(ps->buf);
}

/* ---- whitespace ----------------------------------------------------------------- */

/* Compact documents have no whitespace (one test); indented ones have runs
 * of spaces after each newline (eight at a time). */
static inline void skip_ws(jparser *ps) {
    const uchar *p = ps->p, *end = ps->end;
    if (p<end && * p> ' ') return;
    while (p < end) {
        uint64_t w;
        if (end - p >= 8 && (memcpy(&w, p, 8), w == UINT64_C(0x2020202020202020))) {
            p += 8;
            continue;
        }
        if (!(char_class[*p] & C_WS)) break;
        p++;
    }
    ps->p = p;
}

/* ---- strings ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (a byte >= 0x80), or 0. */
static inline size_t utf8_seq(const uchar *p, const uchar *end) {
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
 * Eight bytes at a time. The zero-byte tests flag falsely only bytes after
 * a real one (a borrow starts at a real match), so the lowest flagged byte
 * of a word is the first special one: on a little-endian machine its index
 * is the flag's trailing zeros / 8; elsewhere the byte loop finds it. */
static inline const uchar *skip_plain(const uchar *p, const uchar *end) {
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
        uint64_t special = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w) | w;
        special &= HIGHS;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (special) return p + (__builtin_ctzll(special) >> 3);
#else
        if (special) break;
#endif
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
    static const char simple[256] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                     ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};
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

/* Report the byte at p that cannot be in a string: a control character,
 * or the start of invalid UTF-8. Returns NULL. */
static void *bad_string_byte(jparser *ps, const uchar *p) {
    if (*p < 0x20) return fail(ps, p, "Invalid control character at");
    char msg[64];
    snprintf(msg, sizeof msg, "Invalid UTF-8 byte 0x%02x in string", *p);
    return fail(ps, p, msg);
}

/* Check one non-plain byte that is neither '"' nor '\' inside a string:
 * a control character is an error, a UTF-8 sequence is skipped. Returns
 * the position after it, or NULL after reporting the error. */
static const uchar *pass_other(jparser *ps, const uchar *p) {
    size_t n = *p < 0x20 ? 0 : utf8_seq(p, ps->end);
    return n ? p + n : bad_string_byte(ps, p);
}

/* ---- the sharing cache -------------------------------------------------------------- */

/* A quick hash of a short text. Loads only: whole words, the tail read as
 * an overlapping word (or two half words, or three bytes), never a byte
 * loop whose stores the next load would have to wait for. The result is
 * the top half of the last product: only a product's high bits depend on
 * every bit of its input (its bits below 42 see only the first 5 bytes of
 * a word: "205706008" and "205706009" would collide). */
static uint32_t text_hash(const char *s, size_t n) {
    uint64_t h = n * UINT64_C(0x9E3779B97F4A7C15), w;
    if (n >= 8) {
        const char *last = s + n - 8;
        for (; s < last; s += 8) {
            memcpy(&w, s, 8);
            h = (h ^ w) * UINT64_C(0xFF51AFD7ED558CCD);
        }
        memcpy(&w, last, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        w = (uint64_t)a << 32 | b;
    } else if (n > 0) {
        w = (uint64_t)(uchar)s[0] << 16 | (uint64_t)(uchar)s[n >> 1] << 8 | (uchar)s[n - 1];
    } else {
        w = 0;
    }
    h = (h ^ w) * UINT64_C(0xC4CEB9FE1A85EC53);
    return (uint32_t)(h >> 32);
}

/* a[0..n) == b[0..n) for a cached text (n <= CACHE_MAXLEN): words, the
 * tail as an overlapping word; no call for the few bytes of a key. */
static inline bool text_equal(const char *a, const char *b, size_t n) {
    uint64_t x, y;
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) return false;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* The slot of hash h and text s[0..n) in m: the one holding that text, or
 * the empty one where it would go. */
static cache_slot *memo_probe(memo *m, uint32_t h, const char *s, size_t n) {
    uint32_t mask = m->cap - 1;
    for (uint32_t i = h >> m->shift;; i = (i + 1) & mask) {
        cache_slot *slot = &m->slots[i];
        if (slot->obj == NULL) return slot;
        if (slot->hash == h && slot->len == n && text_equal(slot->bytes, s, n)) return slot;
    }
}

/* Double m (or make its first table). false when out of memory. */
static bool memo_grow(memo *m) {
    uint32_t cap = m->cap ? m->cap * 2 : CACHE_MIN;
    int shift = 32 - __builtin_ctz(cap);
    cache_slot *slots = pmh_internal_calloc(cap, sizeof *slots);
    if (slots == NULL) return false;
    for (uint32_t i = 0; i < m->cap; i++) {
        cache_slot *old = &m->slots[i];
        if (old->obj == NULL) continue;
        uint32_t j = old->hash >> shift;
        while (slots[j].obj) j = (j + 1) & (cap - 1);
        slots[j] = *old;
    }
    pmh_internal_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->shift = shift;
    return true;
}

/* Grow the direct-mapped cache m four times (or make its first table).
 * A slot is indexed by the top bits of its hash, so old slot i moves to
 * one of the new slots 4i..4i+3 and no two old texts meet. false when out
 * of memory (the old table stays). */
static bool recent_grow(memo *m) {
    uint32_t cap = m->cap ? m->cap * 4 : CACHE_RECENT;
    int shift = 32 - __builtin_ctz(cap);
    cache_slot *slots = pmh_internal_calloc(cap, sizeof *slots);
    if (slots == NULL) return false;
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->slots[i].obj) slots[m->slots[i].hash >> shift] = m->slots[i];
    pmh_internal_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->shift = shift;
    return true;
}

/* The slot for text s[0..n) in the direct-mapped cache m (NULL: no table
 * and no memory for one). */
static cache_slot *recent_slot(memo *m, uint32_t max, uint32_t h, const char *s, size_t n,
                               bool *hit) {
    if (m->len >= m->cap / 2) {
        if (m->cap < max && m->hits * CACHE_GROW_HITS >= m->len && !recent_grow(m) && m->cap == 0)
            return NULL;
        m->len = m->hits = 0;
    }
    cache_slot *slot = &m->slots[h >> m->shift];
    *hit = slot->obj && slot->hash == h && slot->len == n && text_equal(slot->bytes, s, n);
    if (*hit) {
        m->hits++;
    } else {
        slot->hash = h; /* cache_store follows and evicts the old text */
        m->len++;
    }
    return slot;
}

/* The slot for text s[0..n) in `table`: with *hit, the slot holding it;
 * else the slot to store its object in (cache_store), or NULL when the
 * text is not to be cached (too long, the memo full, or out of memory:
 * correct without it, only bigger). */
static cache_slot *cache_slot_for(jparser *ps, int table, const char *s, size_t n, bool *hit) {
    *hit = false;
    if (n > CACHE_MAXLEN) return NULL;
    memo *m = &ps->cache[table];
    uint32_t h = text_hash(s, n);
    if (table != CACHE_KEY)
        return recent_slot(m, table == CACHE_NUM ? CACHE_NUM_MAX : CACHE_RECENT, h, s, n, hit);
    cache_slot *slot = m->cap ? memo_probe(m, h, s, n) : NULL;
    if (slot && slot->obj) {
        *hit = true;
        return slot;
    }
    if ((m->len + 1) * 2 > m->cap) {
        if (m->cap >= CACHE_MAX || !memo_grow(m)) return NULL;
        slot = memo_probe(m, h, s, n);
    }
    slot->hash = h;
    return slot;
}

/* Remember o in the slot that cache_slot_for gave for its text: one more
 * reference in the memo, borrowed in a direct-mapped cache (J3), where it
 * replaces the text the slot held. */
static void cache_store(jparser *ps, int table, cache_slot *slot, pm_object *o, const char *bytes,
                        size_t n) {
    if (table == CACHE_KEY) {
        pm_incref(o);
        ps->cache[table].len++;
    }
    slot->obj = o;
    slot->bytes = bytes;
    slot->len = (uint32_t)n;
}

/* A str from UTF-8 s[0..n) that the scan checked, of `length` code points
 * (so the str is made without a second check), shared through the cache. */
static pm_object *make_str(jparser *ps, int table, const char *s, size_t n, size_t length,
                           const uchar *at) {
    bool hit = false;
    cache_slot *slot = n > 1 ? cache_slot_for(ps, table, s, n, &hit) : NULL;
    if (hit) return pm_newref(slot->obj);
    pm_object *o = pmo_str_from_valid(s, n, length);
    if (o == NULL) return fail_exc(ps, at);
    if (slot) cache_store(ps, table, slot, o, pm_str_utf8(o, NULL), n);
    return o;
}

/* The rest of a string with escapes: the plain prefix [s, p) is copied to
 * the scratch buffer and decoding goes on from p (a backslash). `extra`
 * counts the bytes after the first of each character so far (bytes minus
 * extra = code points). */
static pm_object *parse_escaped(jparser *ps, int table, const uchar *quote, const uchar *s,
                                const uchar *p, size_t extra) {
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
        size_t w;
        if (*p == '\\') {
            if ((w = decode_escape(ps, &p, ps->buf + len)) == 0) return NULL;
        } else {
            const uchar *next = pass_other(ps, p);
            if (next == NULL) return NULL;
            w = (size_t)(next - p);
            memcpy(ps->buf + len, p, w);
            p = next;
        }
        len += w;
        extra += w - 1; /* one character either way */
    }
    ps->p = p + 1;
    return make_str(ps, table, ps->buf, len, len - extra, quote);
}

/* A string (a key or a value: its cache table); ps->p is on its opening
 * quote. */
static pm_object *parse_string(jparser *ps, int table) {
    const uchar *quote = ps->p, *s = quote + 1, *p = s, *end = ps->end;
    size_t extra = 0;
    for (;;) {
        p = skip_plain(p, end);
        if (p == end) return fail(ps, quote, "Unterminated string starting at");
        if (*p == '"') break;
        if (*p == '\\') return parse_escaped(ps, table, quote, s, p, extra);
        if (*p < 0x80) return bad_string_byte(ps, p); /* a control character */
        /* A run of non-ASCII text (often whole words): checked here in a
         * tight loop rather than one trip through skip_plain per character. */
        do {
            size_t k = utf8_seq(p, end);
            if (k == 0) return bad_string_byte(ps, p);
            extra += k - 1;
            p += k;
        } while (p < end && *p >= 0x80);
    }
    ps->p = p + 1;
    size_t n = (size_t)(p - s);
    return make_str(ps, table, (const char *)s, n, n - extra, quote);
}

/* ---- numbers and literals ------------------------------------------------------ */

/* ---- floats -----------------------------------------------------------------------
 * Most floats in real documents have at most 19 significant digits and a
 * small decimal exponent: value = w * 10^q with w < 10^19 and |q| <= 19.
 * Then the value is computed exactly with 128-bit integers: w * 10^q for
 * q >= 0 (< 2^128), or the quotient of w * 2^s by 10^-q with enough bits
 * and a sticky remainder for q < 0; and rounded once, to nearest even, to
 * 53 bits. That is the correctly rounded result strtod gives, at a fraction
 * of its cost (canada.json: 17-digit coordinates). Anything else -- more
 * digits, larger exponents, or a compiler without 128-bit integers -- goes
 * to strtod. */

#if defined(__SIZEOF_INT128__)
#define JSON_FAST_FLOAT 1
__extension__ typedef unsigned __int128 u128;

static const uint64_t pow10_u64[20] = {
    UINT64_C(1),
    UINT64_C(10),
    UINT64_C(100),
    UINT64_C(1000),
    UINT64_C(10000),
    UINT64_C(100000),
    UINT64_C(1000000),
    UINT64_C(10000000),
    UINT64_C(100000000),
    UINT64_C(1000000000),
    UINT64_C(10000000000),
    UINT64_C(100000000000),
    UINT64_C(1000000000000),
    UINT64_C(10000000000000),
    UINT64_C(100000000000000),
    UINT64_C(1000000000000000),
    UINT64_C(10000000000000000),
    UINT64_C(100000000000000000),
    UINT64_C(1000000000000000000),
    UINT64_C(10000000000000000000),
};

static int bit_length(u128 x) {
    uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
    return hi ? 128 - __builtin_clzll(hi) : lo ? 64 - __builtin_clzll(lo) : 0;
}

/* q * 2^e (q > 0), plus `sticky` (a non-zero remainder below q's last
 * bit), rounded to the nearest double, ties to even. Results here stay
 * far inside the normal range (1e-19 <= |value| < 1e39). */
static double round_to_double(u128 q, bool sticky, int e) {
    int nb = bit_length(q);
    if (nb <= 53) return ldexp((double)(uint64_t)q, e); /* exact (sticky is 0 here) */
    int shift = nb - 53;
    uint64_t mant = (uint64_t)(q >> shift);
    u128 rem = q & (((u128)1 << shift) - 1), half = (u128)1 << (shift - 1);
    if (rem > half || (rem == half && (sticky || (mant & 1)))) mant++;
    if (mant == UINT64_C(1) << 53) {
        mant >>= 1;
        shift++;
    }
    return ldexp((double)mant, e + shift);
}

/* w * 10^q (w > 0, |q| <= 19) correctly rounded to a double. */
static double decimal_to_double(uint64_t w, int q) {
    if (q >= 0) return round_to_double((u128)w * pow10_u64[q], false, 0);
    uint64_t div = pow10_u64[-q];
    int s2 = 55 + (64 - __builtin_clzll(div)) - (64 - __builtin_clzll(w));
    if (s2 < 0) s2 = 0;
    u128 n = (u128)w << s2; /* < 2^119: the quotient keeps >= 55 bits */
    return round_to_double(n / div, n % div != 0, -s2);
}

/* The number text [s, e) (grammar already checked) as a double, when the
 * fast path applies: true and *out set. */
static bool fast_float(const uchar *s, const uchar *e, double *out) {
    bool negative = *s == '-';
    const uchar *p = s + negative;
    uint64_t w = 0;
    int digits = 0, q = 0;
    for (; p < e && is_digit(*p); p++) {
        if (w || *p != '0') digits++;
        w = w * 10 + (uint64_t)(*p - '0'); /* wraps only past 19 digits: refused below */
    }
    if (p < e && *p == '.')
        for (p++; p < e && is_digit(*p); p++, q--) {
            if (w || *p != '0') digits++;
            w = w * 10 + (uint64_t)(*p - '0');
        }
    if (digits > 19) return false;
    if (p < e) { /* the exponent: a few digits at most, or strtod decides */
        bool eneg = *++p == '-';
        p += *p == '-' || *p == '+';
        int x = 0;
        for (; p < e; p++) {
            if (x > 1000) return false;
            x = x * 10 + (*p - '0');
        }
        q += eneg ? -x : x;
    }
    if (w != 0 && (q < -19 || q > 19)) return false;
    double d = w == 0 ? 0.0 : decimal_to_double(w, q);
    *out = negative ? -d : d;
    return true;
}
#endif

/* A float from the number text [s, e): the exact fast path, or strtod on a
 * NUL-ended copy with the C library's decimal point when it is not '.'. */
static pm_object *number_as_float(jparser *ps, const uchar *s, const uchar *e) {
    double d;
#ifdef JSON_FAST_FLOAT
    if (fast_float(s, e, &d)) {
        pm_object *o = pm_float(d);
        return o ? o : fail_exc(ps, s);
    }
#endif
    size_t n = (size_t)(e - s);
    char local[64];
    char *copy = n < sizeof local ? local : pmh_internal_malloc(n + 1);
    if (copy == NULL) return fail_memory(ps, s);
    memcpy(copy, s, n);
    copy[n] = '\0';
    char *stop;
    d = strtod(copy, &stop);
    if (*stop == '.') {
        /* A locale with another decimal point: only then ask for it (the
         * grammar was checked, so strtod may stop early for no other reason). */
        const char *dp = localeconv()->decimal_point;
        *stop = dp && dp[0] ? dp[0] : '.';
        d = strtod(copy, NULL);
    }
    if (copy != local) pmh_internal_free(copy);
    pm_object *o = pm_float(d);
    return o ? o : fail_exc(ps, s);
}

/* The int of the digits [d, e) when it fits int64; else NULL, with an
 * exception set only when out of memory. */
static pm_object *number_as_int(const uchar *d, const uchar *e, bool negative) {
    if (e - d > 19) return NULL;
    uint64_t v = 0;
    for (; d < e; d++) v = v * 10 + (uint64_t)(*d - '0'); /* 19 digits never wrap */
    uint64_t limit = negative ? UINT64_C(1) << 63 : (UINT64_C(1) << 63) - 1;
    if (v > limit) return NULL;
    return pm_int(negative ? (int64_t)(0 - v) : (int64_t)v);
}

/* A number; ps->p is on its first byte ('-' or a digit). The grammar is
 * RFC 8259's; like Python, a '.' or 'e' not followed by digits ends the
 * number, so "1." fails afterwards as unexpected data. */
static pm_object *parse_constant(jparser *ps) __attribute__((noinline, cold));

static pm_object *parse_number(jparser *ps) {
    const uchar *s = ps->p, *p = s, *end = ps->end;
    bool negative = *p == '-';
    if (negative) p++;
    if (p == end || !is_digit(*p)) return parse_constant(ps); /* -Infinity, or an error */
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
    /* Small ints are static: no cache needed, the common case is fast. */
    if (!is_float && int_end - digits <= 2) {
        int64_t v = digits[0] - '0';
        if (int_end - digits == 2) v = v * 10 + (digits[1] - '0');
        return pm_int(negative ? -v : v);
    }
    bool hit = false;
    cache_slot *slot = cache_slot_for(ps, CACHE_NUM, (const char *)s, (size_t)(p - s), &hit);
    if (hit) return pm_newref(slot->obj);
    pm_object *o = is_float ? NULL : number_as_int(digits, int_end, negative);
    if (o == NULL) {
        if (pm_exc_occurred()) return fail_exc(ps, s);
        if ((o = number_as_float(ps, s, p)) == NULL) return NULL;
    }
    if (slot) cache_store(ps, CACHE_NUM, slot, o, (const char *)s, (size_t)(p - s));
    return o;
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

/* Python's constants beyond the RFC: NaN, Infinity, -Infinity (ps->p on
 * their first byte), unless strict. Anything else is "Expecting value".
 * Rare, and kept out of line: inlined, it cost the number path 1% more
 * instructions (register allocation), measured on canada.json. */
static pm_object *parse_constant(jparser *ps) {
    static const struct {
        const char *text;
        double value;
    } constants[] = {{"NaN", NAN}, {"Infinity", INFINITY}, {"-Infinity", -INFINITY}};
    const uchar *p = ps->p;
    size_t avail = (size_t)(ps->end - p);
    for (size_t i = 0; !ps->strict && i < sizeof constants / sizeof *constants; i++) {
        size_t len = strlen(constants[i].text);
        if (avail >= len && memcmp(p, constants[i].text, len) == 0) {
            pm_object *f = pm_float(constants[i].value);
            if (f == NULL) return fail_exc(ps, p);
            ps->p = p + len;
            return f;
        }
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
    ps->frames[ps->nframes++] = (jframe){ps->nvals, is_dict};
    ps->p++;
    return true;
}

/* Drop the n references at items, or, when the object made from them had
 * duplicate keys (some of its values were replaced and may be dead but
 * still in a cache), move them to ps->kept until the call returns (J3).
 * false when out of memory (the references stay at items). */
static bool release_items(jparser *ps, pm_object **items, size_t n, bool duplicates) {
    if (!duplicates) {
        for (size_t i = 0; i < n; i++) pm_decref(items[i]);
        return true;
    }
    while (ps->kept_cap - ps->nkept < n) {
        size_t cap = ps->kept_cap ? ps->kept_cap * 2 : 64;
        pm_object **kept = cap <= SIZE_MAX / sizeof *kept
                               ? pmh_internal_realloc(ps->kept, cap * sizeof *kept)
                               : NULL;
        if (kept == NULL) return false;
        ps->kept = kept;
        ps->kept_cap = cap;
    }
    memcpy(ps->kept + ps->nkept, items, n * sizeof *items);
    ps->nkept += n;
    return true;
}

/* Close the innermost container; returns it (a new reference), made from
 * its contents on the value stack, which it takes over. */
static pm_object *close_container(jparser *ps) {
    jframe *f = &ps->frames[ps->nframes - 1];
    size_t n = ps->nvals - f->base;
    pm_object **items = ps->vals + f->base, *o;
    if (f->is_dict) {
        /* exactly sized, as lists are; duplicate keys: the last wins */
        if ((o = pmo_dict_from_pairs(items, n / 2)) == NULL) return fail_exc(ps, ps->p);
        if (!release_items(ps, items, n, pmo_dict_used(o) < n / 2)) {
            pm_decref(o);
            return fail_memory(ps, ps->p);
        }
    } else {
        if ((o = pmo_list_from_array_steal(items, n)) == NULL) return fail_exc(ps, ps->p);
    }
    ps->nvals = f->base;
    ps->nframes--;
    ps->p++;
    return o;
}

/* After '{' or ',' in an object: a key and its ':'. The key waits on the
 * value stack for its value. */
static bool parse_key(jparser *ps) {
    skip_ws(ps);
    if (ps->p == ps->end || *ps->p != '"') {
        fail(ps, ps->p, "Expecting property name enclosed in double quotes");
        return false;
    }
    pm_object *key = parse_string(ps, CACHE_KEY);
    if (key == NULL || !push_value(ps, key)) return false;
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
    bool is_dict = ps->frames[ps->nframes - 1].is_dict;
    uchar close = is_dict ? '}' : ']';
    if (!push_value(ps, v)) return -1;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        if (is_dict && !parse_key(ps)) return -1;
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
        case '"': return parse_string(ps, CACHE_STR);
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
        case 'n': return parse_literal(ps);
        default:
            if (*ps->p == '-' || is_digit(*ps->p)) return parse_number(ps);
            return parse_constant(ps); /* NaN, Infinity, or "Expecting value" */
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

pm_object *pm_json_loads_flags(const char *text, size_t n, int max_depth, unsigned flags,
                               pm_json_error *err) {
    static const char empty[1] = "";
    if (text == NULL) {
        if (n != 0) {
            pm_exc_set(PM_EXC_TYPE, "pm_json_loads: NULL text");
            if (err) *err = (pm_json_error){0, 0, 0, "NULL text"};
            return NULL;
        }
        text = empty;
    }
    if (flags & ~(unsigned)PM_JSON_STRICT) {
        pm_exc_set(PM_EXC_VALUE, "pm_json_loads: unknown flags 0x%x", flags);
        if (err) *err = (pm_json_error){0, 0, 0, "unknown flags"};
        return NULL;
    }
    if (err) *err = (pm_json_error){0, 0, 0, ""};
    jparser ps;
    parser_init(&ps, text, n, max_depth, (flags & PM_JSON_STRICT) != 0, err);
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

pm_object *pm_json_loads(const char *text, size_t n, int max_depth, pm_json_error *err) {
    return pm_json_loads_flags(text, n, max_depth, 0, err);
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
    char *p = pmh_internal_realloc(o->data, cap);
    if (p == NULL) {
        o->failed = true;
        return false;
    }
    o->data = p;
    o->cap = cap;
    return true;
}

static void out_add(jout *o, const char *s, size_t n) {
    if (n && out_reserve(o, n)) {
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

/* ---- floats, written ---------------------------------------------------------
 * Python's repr: the shortest digits that read back as the same double,
 * the closest to it among those. Where every step is exact in 128-bit
 * integers (about 1e-5 <= |v| < 1e22: the floats documents hold) the
 * digits are computed here: the correctly rounded 15 digits, trailing
 * zeros dropped, when they read back (a normal double has no shorter form
 * otherwise: DBL_DIG); else the correctly rounded 16 digits, or their other
 * neighbour (the interval of a power of two is wider above it than below);
 * else 17, which always read back. Elsewhere -- and without 128-bit
 * integers -- the float type's own repr (number.c, the same rules through
 * printf and strtod) is copied. */

#ifdef JSON_FAST_FLOAT
/* 10^k for 0 <= k <= 38. */
static u128 pow10_wide(int k) {
    return k <= 19 ? (u128)pow10_u64[k] : (u128)pow10_u64[19] * pow10_u64[k - 19];
}

/* round(v * 10^k), ties to even, computed exactly (v > 0, normal); false
 * when that does not fit 128 bits. */
static bool scaled_round(double v, int k, u128 *out) {
    int exp2;
    uint64_t m = (uint64_t)ldexp(frexp(v, &exp2), 53); /* v = m * 2^e, m < 2^53 */
    int e = exp2 - 53;
    if (k >= 0) {
        if (k > 22) return false;
        u128 n = (u128)m * pow10_wide(k); /* < 2^53 * 2^74 */
        if (e >= 0) {
            if (bit_length(n) + e > 127) return false;
            *out = n << e;
            return true;
        }
        if (-e >= 128) return false;
        int s2 = -e;
        u128 q = n >> s2, rem = n & (((u128)1 << s2) - 1), half = (u128)1 << (s2 - 1);
        *out = q + (rem > half || (rem == half && (q & 1)));
        return true;
    }
    if (k < -19 || e < 0 || 53 + e > 127) return false;
    u128 n = (u128)m << e;
    uint64_t div = pow10_u64[-k];
    u128 q = n / div, rem2 = 2 * (n % div); /* rem < 2^64: doubling fits */
    *out = q + (rem2 > div || (rem2 == div && (q & 1)));
    return true;
}

/* The correctly rounded p-digit decimal of v: *d in [10^(p-1), 10^p] and
 * *exp10, the power of ten of its first digit (*exp10 starts as a guess). */
static bool round_digits(double v, int p, uint64_t *d, int *exp10) {
    for (int tries = 0; tries < 3; tries++) {
        u128 q;
        if (!scaled_round(v, p - 1 - *exp10, &q)) return false;
        if (q < pow10_u64[p - 1]) (*exp10)--;
        else if (q > pow10_u64[p]) (*exp10)++;
        else {
            *d = (uint64_t)q; /* 10^p: a carry, "1000..." one place up */
            return true;
        }
    }
    return false;
}

/* d * 10^q as digits without trailing zeros; returns their count and sets
 * *exp10 (the power of ten of the first digit). */
static int put_digits(uint64_t d, int q, char digits[20], int *exp10) {
    char buf[20];
    int n = 0;
    do {
        buf[n++] = (char)('0' + d % 10);
        d /= 10;
    } while (d);
    *exp10 = q + n - 1;
    int start = 0;
    while (start < n - 1 && buf[start] == '0') start++; /* the trailing zeros */
    for (int i = n - 1; i >= start; i--) digits[n - 1 - i] = buf[i];
    return n - start;
}

/* Does d * 10^q read back as v? -1: not decidable here. */
static int reads_back(uint64_t d, int q, double v) {
    if (q < -19 || q > 19) return -1;
    return decimal_to_double(d, q) == v;
}

/* The shortest digits of v > 0 as above, or 0 outside the exact range. */
static int exact_shortest(double v, char digits[20], int *exp10) {
    if (!(v >= DBL_MIN && v < 1e22)) return 0;
    /* The power of ten of the first digit, guessed from the binary
     * exponent (log10(2) ~ 78913 / 2^18; round_digits corrects it by one
     * when needed). No libm: the library links without -lm. */
    int exp2;
    (void)frexp(v, &exp2);
    int e = ((exp2 - 1) * 78913) >> 18, r;
    uint64_t d;
    for (int p = 15; p <= 17; p++) {
        if (!round_digits(v, p, &d, &e)) return 0;
        int q = e - p + 1;
        if (p == 17 || (r = reads_back(d, q, v)) > 0) return put_digits(d, q, digits, exp10);
        if (r < 0) return 0;
        if (p == 16) {
            uint64_t other = decimal_to_double(d, q) < v ? d + 1 : d - 1;
            if (reads_back(other, q, v) > 0) return put_digits(other, q, digits, exp10);
        }
    }
    return 0;
}
#endif

/* The float f (of value v) as json.dumps writes it: repr(), and NaN,
 * Infinity, -Infinity. */
static void out_float(jout *o, pm_object *f, double v) {
    if (isnan(v) || isinf(v) || v == 0.0) {
        out_adds(o, isnan(v)     ? "NaN"
                    : isinf(v)   ? (v > 0 ? "Infinity" : "-Infinity")
                    : signbit(v) ? "-0.0"
                                 : "0.0");
        return;
    }
#ifdef JSON_FAST_FLOAT
    char digits[20], text[48];
    int exp10, n = exact_shortest(fabs(v), digits, &exp10);
    if (n > 0) {
        out_add(o, text, pmo_float_layout(text, v < 0, digits, n, exp10));
        return;
    }
#endif
    pm_object *r = pm_repr(f);
    size_t len;
    const char *u = r ? pm_str_utf8(r, &len) : NULL;
    if (u) out_add(o, u, len);
    else o->failed = true;
    pm_xdecref(r);
}

static void out_u16(jout *o, unsigned u) {
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\',       'u', hex[(u >> 12) & 15], hex[(u >> 8) & 15], hex[(u >> 4) & 15],
                 hex[u & 15]};
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
    static const char short_escape[32] = {
        ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
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
        pm_object **slots = pmh_internal_calloc(cap, sizeof *slots);
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
        pmh_internal_free(old.slots);
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
    bool strict; /* PM_JSON_STRICT: json.dumps(allow_nan=False) */
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
    if (f->kind == K_LIST) return pm_list_size(f->o);
    return f->kind == K_TUPLE ? pm_tuple_size(f->o) : pmo_dict_used(f->o);
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
        eframe *p = pmh_internal_realloc(e->frames, cap * sizeof *p);
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
        if (e->strict && !isfinite(d)) {
            pm_exc_set(PM_EXC_VALUE, "Out of range float values are not JSON compliant");
            return -1;
        }
        out_float(&e->out, o, d);
    } else if (t == &pm_none_type) {
        out_adds(&e->out, "null");
    } else if (t == &pm_list_type) {
        return open_frame(e, o, K_LIST);
    } else if (t == &pm_tuple_type) {
        return open_frame(e, o, K_TUPLE);
    } else if (t == &pm_dict_type) {
        return open_frame(e, o, K_DICT);
    } else {
        pm_exc_set(PM_EXC_TYPE, "Object of type %s is not JSON serializable", pm_type_name(t));
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
        pmh_internal_free(tmp.data);
        return r;
    }
    pm_exc_set(PM_EXC_TYPE, "keys must be str, int, float, bool or None, not %s", pm_type_name(t));
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

pm_object *pm_json_dumps_flags(pm_object *o, int indent, unsigned flags) {
    if (o == NULL) {
        pmo_null_arg("pm_json_dumps: NULL object");
        return NULL;
    }
    if (!pmo_check_live(o, "pm_json_dumps")) return NULL;
    if (flags & ~(unsigned)PM_JSON_STRICT) {
        pm_exc_set(PM_EXC_VALUE, "pm_json_dumps: unknown flags 0x%x", flags);
        return NULL;
    }
    jenc e = {.indent = indent < 0 ? -1 : indent, .strict = (flags & PM_JSON_STRICT) != 0};
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
    pmh_internal_free(e.out.data);
    pmh_internal_free(e.frames);
    pmh_internal_free(e.deep.slots);
    return s;
}

pm_object *pm_json_dumps(pm_object *o, int indent) { return pm_json_dumps_flags(o, indent, 0); }
