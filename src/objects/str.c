/*
 * str.c -- the str type, UTF-8 validation, the byte hash and interning.
 *
 * Owns: pm_str_type (immutable UTF-8 text), its static singletons, the
 * strict UTF-8 validator, pmo_hash_bytes (shared with bytes), and the
 * per-runtime table of interned strings (struct pmo_intern_table).
 *
 * Layout: a pmo_str header (40 bytes, declared in containers.h) followed
 * inline by nbytes bytes of UTF-8 and a NUL; one allocation per string.
 * The text may hold U+0000.
 *
 * Invariants:
 *   S1  the bytes are valid UTF-8 (RFC 3629: no overlong forms, no
 *       surrogates, nothing above U+10FFFF); `length` counts code points.
 *       Concatenations and escapes of valid text need no new check.
 *   S2  the empty string and the 256 one-code-point strings U+0000..U+00FF
 *       are static, immortal, constant-initialized (hash included) and
 *       never written: every runtime and thread shares them. Every
 *       constructor returns them, so no heap string equals one of them and
 *       they are interned by construction (flags fixed at compile time).
 *   S3  PM_OF_HASHED set => `hash` == pmo_hash_bytes(data, nbytes).
 *   S4  a heap string has PM_OF_INTERNED iff its runtime's intern table
 *       holds it. The table holds no reference: a dying interned string
 *       leaves the table in its dealloc (pmo_intern_forget), and a lookup
 *       that meets a string whose count already reached zero (a deferred
 *       deallocation) drops it instead of reviving it.
 *   S5  the table holds at most one string per distinct text, never a
 *       static one; stats.interned == its count.
 */
#define _DEFAULT_SOURCE
#include "objects/object.h"
#include "objects/containers.h" /* pmo_str_iter: iter.c iterates by byte offset */

#include <stdio.h>
#include <string.h>

/* pmo_str, the header (40 bytes), is declared in containers.h: the dict
 * reads a str key's cached hash and text without a call. */
#define STR(o) PMO_STR(o)

static inline char *str_data(pmo_str *s) { return (char *)(s + 1); }
static inline bool is_str(const pm_object *o) { return o != NULL && o->type == &pm_str_type; }
static inline bool is_ascii(const pmo_str *s) { return s->length == s->nbytes; }
/* Bytes an object of n UTF-8 bytes occupies (what interning can save). */
static inline size_t str_size(size_t nbytes) { return sizeof(pmo_str) + nbytes + 1; }

/* ---- pmo_hash_bytes --------------------------------------------------------- */
/*
 * A multiply-fold hash written for short keys (dictionary keys, JSON
 * member names): up to 8 bytes are packed into one word and finished with
 * a 64-bit mixer (the splitmix64 finalizer); 9..16 bytes take one 128-bit
 * multiply; longer input folds 16 bytes per multiply into an accumulator.
 * The short path is also a macro so that the static strings' hashes are
 * compile-time constants (S2).
 */
#define HK_SEED UINT64_C(0x243F6A8885A308D3) /* digits of pi */
#define HK_LEN UINT64_C(0x9E3779B97F4A7C15)  /* 2^64 / golden ratio */
#define HK_A UINT64_C(0x13198A2E03707344)
#define HK_B UINT64_C(0xA4093822299F31D0)
#define HK_M1 UINT64_C(0xBF58476D1CE4E5B9)
#define HK_M2 UINT64_C(0x94D049BB133111EB)

#define HK_XS(x, s) ((x) ^ ((x) >> (s)))
#define HK_FINISH(x) HK_XS(HK_XS(HK_XS((x), 30) * HK_M1, 27) * HK_M2, 31)
/* v: the packed bytes of a key of n <= 8 bytes. */
#define HK_SHORT(v, n) HK_FINISH(((uint64_t)(v) ^ HK_SEED) + (uint64_t)(n)*HK_LEN)

static inline uint64_t load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint64_t load32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

/* The 64x64 -> 128-bit product, folded: the mixing step of long keys. */
static inline uint64_t mul_fold(uint64_t a, uint64_t b) {
#if defined(__SIZEOF_INT128__)
    __extension__ unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
    uint64_t al = (uint32_t)a, ah = a >> 32, bl = (uint32_t)b, bh = b >> 32;
    uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint64_t mid = (ll >> 32) + (uint32_t)lh + (uint32_t)hl;
    uint64_t lo = (mid << 32) | (uint32_t)ll;
    uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return lo ^ hi;
#endif
}

/* Pack 0..8 bytes into a word; distinct keys of one length pack apart. */
static inline uint64_t pack_short(const unsigned char *p, size_t n) {
    if (n >= 4) return load32(p) | load32(p + n - 4) << 32;
    if (n == 0) return 0;
    return (uint64_t)p[0] | (uint64_t)p[n >> 1] << 8 | (uint64_t)p[n - 1] << 16;
}

uint64_t pmo_hash_bytes(const void *data, size_t n) {
    const unsigned char *p = data;
    if (n <= 8) {
        uint64_t v = pack_short(p, n);
        return HK_SHORT(v, n);
    }
    uint64_t acc;
    if (n <= 16) {
        acc = mul_fold(load64(p) ^ HK_A, load64(p + n - 8) ^ HK_B);
    } else {
        const unsigned char *end = p + n;
        acc = HK_SEED ^ (n * HK_LEN);
        for (; end - p > 16; p += 16) acc = mul_fold(load64(p) ^ HK_A, load64(p + 8) ^ acc);
        acc = mul_fold(load64(end - 16) ^ HK_B, load64(end - 8) ^ acc);
    }
    acc += n * HK_LEN;
    return HK_FINISH(acc);
}

/* ---- static strings (S2) ---------------------------------------------------- */

typedef struct str_static {
    pmo_str head;
    unsigned char data[8];
} str_static;

_Static_assert(offsetof(str_static, data) == sizeof(pmo_str),
               "static str data must follow the header");

#define STATIC_FLAGS (PM_OF_STATIC | PMO_OF_ACYCLIC | PM_OF_HASHED | PM_OF_INTERNED)
/* The UTF-8 of a code point c < 256: one byte below 0x80, else two. */
#define CP_N(c) ((c) < 0x80 ? 1u : 2u)
#define CP_B0(c) ((c) < 0x80 ? (c) : 0xC0u | ((c) >> 6))
#define CP_B1(c) ((c) < 0x80 ? 0u : 0x80u | ((c)&0x3Fu))
/* pack_short of those bytes: n = 1 gives b0 b0 b0, n = 2 gives b0 b1 b1. */
#define CP_PACK(c)                                                                                 \
    ((c) < 0x80 ? (uint64_t)(c)*0x010101u : (uint64_t)CP_B0(c) + (uint64_t)CP_B1(c) * 0x010100u)
#define STR1(c)                                                                                    \
    {                                                                                              \
        {{PM_REFCNT_IMMORTAL, STATIC_FLAGS, &pm_str_type},                                         \
         HK_SHORT(CP_PACK(c), CP_N(c)),                                                            \
         CP_N(c),                                                                                  \
         1},                                                                                       \
            {CP_B0(c), CP_B1(c), 0},                                                               \
    }
#define STR4(c) STR1(c), STR1((c) + 1), STR1((c) + 2), STR1((c) + 3)
#define STR16(c) STR4(c), STR4((c) + 4), STR4((c) + 8), STR4((c) + 12)
#define STR64(c) STR16(c), STR16((c) + 16), STR16((c) + 32), STR16((c) + 48)

static str_static empty_str = {
    {{PM_REFCNT_IMMORTAL, STATIC_FLAGS, &pm_str_type}, HK_SHORT(0, 0), 0, 0}, {0}};
static str_static latin1_strs[256] = {STR64(0u), STR64(64u), STR64(128u), STR64(192u)};

/* The static string for code point c < 256. */
static inline pm_object *latin1_str(unsigned c) { return &latin1_strs[c].head.ob; }

/* The static string equal to valid UTF-8 (p, n) of `length` code points,
 * or NULL when there is none. */
static inline pm_object *static_for(const unsigned char *p, size_t n, size_t length) {
    if (n == 0) return &empty_str.head.ob;
    if (length != 1 || n > 2) return NULL;
    if (n == 1) return latin1_str(p[0]);
    if (p[0] == 0xC2 || p[0] == 0xC3) /* U+0080..U+00FF */
        return latin1_str((unsigned)(p[0] & 0x1F) << 6 | (p[1] & 0x3F));
    return NULL;
}

/* ---- UTF-8 validation (S1) ------------------------------------------------------ */

enum utf8_fault { UTF8_OK, UTF8_BAD_START, UTF8_BAD_CONT, UTF8_TRUNCATED };

static const char *const fault_text[] = {"", "invalid start byte", "invalid continuation byte",
                                         "unexpected end of data"};

/* Check s[0..n) and count its code points into *length. On a fault, *at is
 * the offset of the first byte of the bad sequence. ASCII goes a word at a
 * time; the ranges of the second byte (Unicode's table 3-7) exclude
 * overlong forms, surrogates and code points above U+10FFFF. */
static enum utf8_fault utf8_check(const unsigned char *s, size_t n, size_t *length, size_t *at) {
    size_t i = 0, count = 0;
    while (i < n) {
        while (i + 8 <= n && (load64(s + i) & UINT64_C(0x8080808080808080)) == 0) {
            i += 8;
            count += 8;
        }
        if (i >= n) break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++, count++;
            continue;
        }
        unsigned lo = 0x80, hi = 0xBF;
        size_t need;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;      /* overlong below U+0800 */
            else if (c == 0xED) hi = 0x9F; /* surrogates U+D800..U+DFFF */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;      /* overlong below U+10000 */
            else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
        } else {
            *at = i;
            return UTF8_BAD_START;
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= n) {
                *at = i;
                return UTF8_TRUNCATED;
            }
            unsigned b = s[i + k];
            if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) {
                *at = i;
                return UTF8_BAD_CONT;
            }
        }
        i += need + 1;
        count++;
    }
    *length = count;
    return UTF8_OK;
}

/* Validate, or set UnicodeError with the byte offset; like CPython's text. */
static bool utf8_valid(const unsigned char *s, size_t n, size_t *length) {
    size_t at = 0;
    enum utf8_fault f = utf8_check(s, n, length, &at);
    if (f == UTF8_OK) return true;
    pm_exc_set(PM_EXC_UNICODE, "'utf-8' codec can't decode byte 0x%02x in position %zu: %s", s[at],
               at, fault_text[f]);
    return false;
}

/* Decode the code point at p (valid UTF-8); *len receives its byte count. */
static uint32_t utf8_decode(const unsigned char *p, size_t *len) {
    uint32_t c = p[0];
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    if (c < 0xE0) {
        *len = 2;
        return (c & 0x1F) << 6 | (p[1] & 0x3F);
    }
    if (c < 0xF0) {
        *len = 3;
        return (c & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    }
    *len = 4;
    return (c & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 |
           (p[3] & 0x3F);
}

/* ---- construction ----------------------------------------------------------------- */

/* A heap string of nbytes bytes (to be filled) and `length` code points.
 * Callers make sure the text has no static equal (S2). */
static pmo_str *str_alloc(size_t nbytes, size_t length) {
    if (nbytes > SIZE_MAX - sizeof(pmo_str) - 1) return pmo_no_memory();
    pmo_str *s = (pmo_str *)pmo_alloc(&pm_str_type, str_size(nbytes));
    if (s == NULL) return NULL;
    s->hash = 0;
    s->nbytes = nbytes;
    s->length = length;
    str_data(s)[nbytes] = '\0';
    return s;
}

/* A string of valid UTF-8: a static one, or one allocation and a copy. */
static pm_object *str_new_valid(const char *utf8, size_t n, size_t length) {
    pm_object *st = static_for((const unsigned char *)utf8, n, length);
    if (st) return st;
    pmo_str *s = str_alloc(n, length);
    if (s == NULL) return NULL;
    memcpy(str_data(s), utf8, n);
    return &s->ob;
}

pm_object *pmo_str_from_valid(const char *utf8, size_t nbytes, size_t length) {
    if (nbytes == 0) return &empty_str.head.ob;
    return str_new_valid(utf8, nbytes, length);
}

/* (NULL, 0) is the empty string: an empty C buffer often has no address. */
pm_object *pm_str_from_len(const char *utf8, size_t nbytes) {
    if (utf8 == NULL && nbytes != 0) {
        pm_exc_set(PM_EXC_TYPE, "expected UTF-8 text, got NULL");
        return NULL;
    }
    size_t length;
    if (nbytes == 0) return &empty_str.head.ob;
    if (!utf8_valid((const unsigned char *)utf8, nbytes, &length)) return NULL;
    return str_new_valid(utf8, nbytes, length);
}

pm_object *pm_str_from(const char *utf8) {
    if (utf8 == NULL) {
        pm_exc_set(PM_EXC_TYPE, "expected UTF-8 text, got NULL");
        return NULL;
    }
    return pm_str_from_len(utf8, strlen(utf8));
}

pm_object *pm_str_format(const char *fmt, ...) {
    if (fmt == NULL) {
        pm_exc_set(PM_EXC_TYPE, "expected a format string, got NULL");
        return NULL;
    }
    char stack[256];
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    pm_object *r = NULL;
    if (n < 0) {
        pm_exc_set(PM_EXC_VALUE, "bad format string \"%.60s\"", fmt);
    } else if ((size_t)n < sizeof stack) {
        r = pm_str_from_len(stack, (size_t)n);
    } else {
        char *buf = pmo_mem_malloc((size_t)n + 1);
        if (buf) {
            vsnprintf(buf, (size_t)n + 1, fmt, again);
            r = pm_str_from_len(buf, (size_t)n);
            pmo_mem_free(buf);
        }
    }
    va_end(again);
    return r;
}

/* ---- accessors -------------------------------------------------------------------- */

/* The check of every public entry (pmo_arg_is): a live str. */
#define check_str(o) pmo_arg_is(o, &pm_str_type, "str", __func__)

const char *pm_str_utf8(pm_object *s, size_t *nbytes) {
    if (!check_str(s)) return NULL;
    if (nbytes) *nbytes = STR(s)->nbytes;
    return str_data(STR(s));
}

int64_t pm_str_length(pm_object *s) {
    if (!check_str(s)) return -1;
    return (int64_t)STR(s)->length;
}

/* Concatenating valid UTF-8 gives valid UTF-8 (S1): no check, one copy.
 * A result of two or more code points never has a static equal. */
pm_object *pm_str_concat(pm_object *a, pm_object *b) {
    if (!check_str(a) || !check_str(b)) return NULL;
    pmo_str *x = STR(a), *y = STR(b);
    if (y->nbytes == 0) return pm_newref(a);
    if (x->nbytes == 0) return pm_newref(b);
    if (x->nbytes > SIZE_MAX / 2 || y->nbytes > SIZE_MAX / 2) return pmo_no_memory();
    pmo_str *s = str_alloc(x->nbytes + y->nbytes, x->length + y->length);
    if (s == NULL) return NULL;
    memcpy(str_data(s), str_data(x), x->nbytes);
    memcpy(str_data(s) + x->nbytes, str_data(y), y->nbytes);
    return &s->ob;
}

/* S3: computed once; static strings carry theirs from compilation. */
static inline uint64_t str_hash_of(pmo_str *s) {
    if (!(s->ob.flags & PM_OF_HASHED)) {
        s->hash = pmo_hash_bytes(str_data(s), s->nbytes);
        s->ob.flags |= PM_OF_HASHED;
    }
    return s->hash;
}

/* ---- interning (S4, S5) ------------------------------------------------------------ */

typedef struct intern_slot {
    uint64_t hash;
    pmo_str *s; /* NULL: empty */
} intern_slot;

struct pmo_intern_table {
    intern_slot *slots;
    size_t mask; /* capacity - 1; capacity a power of two */
    size_t count;
};

#define INTERN_MIN_CAP 64

static void *table_malloc(pm_runtime *rt, size_t n) {
    return pm_domain_malloc(rt->heap, PM_DOMAIN_MEM, n);
}
static void table_free(pm_runtime *rt, void *p) { pm_domain_free(rt->heap, PM_DOMAIN_MEM, p); }

static intern_slot *slots_new(pm_runtime *rt, size_t cap) {
    intern_slot *slots = table_malloc(rt, cap * sizeof *slots);
    if (slots) memset(slots, 0, cap * sizeof *slots);
    return slots;
}

/* The table, made on first use; NULL with MemoryError. */
static pmo_intern_table *table_of(pm_runtime *rt) {
    if (rt->interned) return rt->interned;
    pmo_intern_table *t = table_malloc(rt, sizeof *t);
    intern_slot *slots = t ? slots_new(rt, INTERN_MIN_CAP) : NULL;
    if (slots == NULL) {
        if (t) table_free(rt, t);
        return pmo_no_memory();
    }
    t->slots = slots;
    t->mask = INTERN_MIN_CAP - 1;
    t->count = 0;
    rt->interned = t;
    return t;
}

/* Rehash into cap slots (linear probing, no tombstones). */
static bool table_resize(pm_runtime *rt, pmo_intern_table *t, size_t cap) {
    intern_slot *slots = slots_new(rt, cap);
    if (slots == NULL) return false;
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].s == NULL) continue;
        size_t j = t->slots[i].hash & (cap - 1);
        while (slots[j].s) j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    table_free(rt, t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return true;
}

/* Empty slot i by shifting back the entries of its probe run, so that
 * lookups never need tombstones. */
static void table_remove_at(pm_runtime *rt, pmo_intern_table *t, size_t i) {
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->slots[j].s == NULL) break;
        size_t home = t->slots[j].hash & t->mask;
        /* Move j into the hole unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].s = NULL;
    t->count--;
    rt->stats.interned = t->count;
}

static void forget_at(pm_runtime *rt, pmo_intern_table *t, size_t i) {
    t->slots[i].s->ob.flags &= ~PM_OF_INTERNED;
    table_remove_at(rt, t, i);
}

/* The live interned string with this text, or NULL. A dying one met on
 * the way is dropped from the table (S4) and treated as absent. */
static pmo_str *table_find(pm_runtime *rt, pmo_intern_table *t, uint64_t h, const char *p,
                           size_t n) {
    for (size_t i = h & t->mask; t->slots[i].s; i = (i + 1) & t->mask) {
        pmo_str *s = t->slots[i].s;
        if (t->slots[i].hash != h || s->nbytes != n || memcmp(str_data(s), p, n) != 0) continue;
        if (s->ob.refcnt != 0) return s;
        forget_at(rt, t, i);
        return NULL;
    }
    return NULL;
}

/* Add s (hashed, absent from the table); false with MemoryError. */
static bool table_add(pm_runtime *rt, pmo_intern_table *t, pmo_str *s) {
    if ((t->count + 1) * 2 > t->mask + 1 && !table_resize(rt, t, (t->mask + 1) * 2)) {
        pmo_no_memory();
        return false;
    }
    size_t i = s->hash & t->mask;
    while (t->slots[i].s) i = (i + 1) & t->mask;
    t->slots[i].hash = s->hash;
    t->slots[i].s = s;
    s->ob.flags |= PM_OF_INTERNED;
    t->count++;
    rt->stats.interned = t->count;
    return true;
}

void pmo_intern_forget(pm_runtime *rt, pm_object *o) {
    pmo_intern_table *t = rt->interned;
    if (t == NULL || !(o->flags & PM_OF_INTERNED) || (o->flags & PM_OF_STATIC)) return;
    pmo_str *s = STR(o);
    for (size_t i = s->hash & t->mask; t->slots[i].s; i = (i + 1) & t->mask) {
        if (t->slots[i].s != s) continue;
        forget_at(rt, t, i);
        /* Shrink after mass deaths (a freed document); failure is harmless. */
        if (t->mask + 1 > INTERN_MIN_CAP && t->count * 8 < t->mask + 1)
            table_resize(rt, t, (t->mask + 1) / 2);
        return;
    }
}

void pmo_intern_destroy(pm_runtime *rt) {
    pmo_intern_table *t = rt->interned;
    if (t == NULL) return;
    table_free(rt, t->slots);
    table_free(rt, t);
    rt->interned = NULL;
    rt->stats.interned = 0;
}

static void count_hit(pm_runtime *rt, size_t saved) {
    rt->stats.intern_hits++;
    rt->stats.intern_bytes_saved += saved;
}

pm_object *pm_str_intern(pm_object *o) {
    if (!check_str(o)) return NULL;
    pm_runtime *rt = pmo_rt();
    pmo_str *s = STR(o);
    rt->stats.intern_lookups++;
    if (s->ob.flags & PM_OF_INTERNED) { /* canonical already (statics too) */
        count_hit(rt, 0);
        return pm_newref(o);
    }
    pm_object *st = static_for((const unsigned char *)str_data(s), s->nbytes, s->length);
    if (st) { /* only a string built outside this file can get here */
        count_hit(rt, str_size(s->nbytes));
        return st;
    }
    pmo_intern_table *t = table_of(rt);
    if (t == NULL) return NULL;
    pmo_str *canon = table_find(rt, t, str_hash_of(s), str_data(s), s->nbytes);
    if (canon) {
        count_hit(rt, str_size(s->nbytes));
        return pm_newref(&canon->ob);
    }
    if (!table_add(rt, t, s)) return NULL;
    return pm_newref(o);
}

pm_object *pm_str_intern_immortal(pm_object *s) {
    pm_object *canon = pm_str_intern(s);
    /* Statics are immortal already and must never be written (S2). */
    if (canon && !pm_is_immortal(canon)) pm_make_immortal(canon);
    return canon;
}

/* Look the text up before building anything: a hit costs a hash and a
 * compare, no allocation (the common case for identifiers and keys). */
pm_object *pm_str_id(const char *utf8) {
    if (utf8 == NULL) {
        pm_exc_set(PM_EXC_TYPE, "expected UTF-8 text, got NULL");
        return NULL;
    }
    pm_runtime *rt = pmo_rt();
    size_t n = strlen(utf8), length;
    rt->stats.intern_lookups++;
    if (n <= 2) { /* the statics are canonical (S2) */
        if (!utf8_valid((const unsigned char *)utf8, n, &length)) return NULL;
        pm_object *st = static_for((const unsigned char *)utf8, n, length);
        if (st) {
            count_hit(rt, 0);
            return st;
        }
    }
    pmo_intern_table *t = table_of(rt);
    if (t == NULL) return NULL;
    uint64_t h = pmo_hash_bytes(utf8, n);
    pmo_str *canon = table_find(rt, t, h, utf8, n);
    if (canon) {
        count_hit(rt, str_size(n));
        return pm_newref(&canon->ob);
    }
    if (!utf8_valid((const unsigned char *)utf8, n, &length)) return NULL;
    pmo_str *s = str_alloc(n, length);
    if (s == NULL) return NULL;
    memcpy(str_data(s), utf8, n);
    s->hash = h;
    s->ob.flags |= PM_OF_HASHED;
    if (!table_add(rt, t, s)) {
        pm_decref(&s->ob);
        return NULL;
    }
    return &s->ob;
}

/* ---- slots ------------------------------------------------------------------------- */

static void str_dealloc(pm_object *self) {
    if (self->flags & PM_OF_INTERNED) pmo_intern_forget(pmo_rt(), self);
}

/* Code points repr() shows as escapes: controls, separators, format
 * characters, private use and noncharacters. Without Unicode's tables
 * this is CPython's isprintable() except for unassigned code points,
 * which are shown as they are. */
static bool cp_printable(uint32_t c) {
    static const uint32_t hidden[][2] = {
        {0x0000, 0x001F},   {0x007F, 0x00A0},    {0x00AD, 0x00AD},   {0x0600, 0x0605},
        {0x061C, 0x061C},   {0x06DD, 0x06DD},    {0x070F, 0x070F},   {0x0890, 0x0891},
        {0x08E2, 0x08E2},   {0x1680, 0x1680},    {0x180E, 0x180E},   {0x2000, 0x200F},
        {0x2028, 0x202F},   {0x205F, 0x206F},    {0x3000, 0x3000},   {0xD800, 0xF8FF},
        {0xFDD0, 0xFDEF},   {0xFEFF, 0xFEFF},    {0xFFF0, 0xFFFB},   {0x110BD, 0x110BD},
        {0x110CD, 0x110CD}, {0x13430, 0x1343F},  {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
        {0xE0000, 0xE00FF}, {0xF0000, 0x10FFFF},
    };
    if (c >= 0x20 && c < 0x7F) return true;
    if ((c & 0xFFFE) == 0xFFFE) return false; /* U+xxFFFE, U+xxFFFF */
    for (size_t i = 0; i < sizeof hidden / sizeof *hidden && hidden[i][0] <= c; i++)
        if (c <= hidden[i][1]) return false;
    return true;
}

static const char hex_digits[] = "0123456789abcdef";

/* The escape of c into out (when not NULL); returns its length. */
static size_t escape_cp(uint32_t c, char quote, char *out) {
    char tmp[10];
    size_t n = 0;
    if (c == '\\' || c == (uint32_t)quote) {
        tmp[n++] = '\\';
        tmp[n++] = (char)c;
    } else if (c == '\n' || c == '\t' || c == '\r') {
        tmp[n++] = '\\';
        tmp[n++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
    } else {
        int digits = c <= 0xFF ? 2 : c <= 0xFFFF ? 4 : 8;
        tmp[n++] = '\\';
        tmp[n++] = digits == 2 ? 'x' : digits == 4 ? 'u' : 'U';
        for (int k = digits - 1; k >= 0; k--) tmp[n++] = hex_digits[(c >> (4 * k)) & 0xF];
    }
    if (out) memcpy(out, tmp, n);
    return n;
}

/* Python picks ' unless the text has ' and no ". */
static char pick_quote(const char *p, size_t n) {
    bool single = memchr(p, '\'', n) != NULL;
    return single && memchr(p, '"', n) == NULL ? '"' : '\'';
}

/* One pass of repr over s: writes into out when not NULL. Returns the
 * bytes written and adds the code points to *length. */
static size_t repr_pass(pmo_str *s, char quote, char *out, size_t *length) {
    const unsigned char *p = (const unsigned char *)str_data(s), *end = p + s->nbytes;
    size_t n = 0, cps = 0;
    while (p < end) {
        size_t len;
        uint32_t c = utf8_decode(p, &len);
        if (c != '\\' && c != (uint32_t)quote && cp_printable(c)) {
            if (out) memcpy(out + n, p, len);
            n += len;
            cps++;
        } else {
            size_t e = escape_cp(c, quote, out ? out + n : NULL);
            n += e;
            cps += e; /* escapes are ASCII */
        }
        p += len;
    }
    *length += cps;
    return n;
}

/* Measure, then write straight into the result: one allocation. */
static pm_object *str_repr(pm_object *self) {
    pmo_str *s = STR(self);
    char quote = pick_quote(str_data(s), s->nbytes);
    size_t length = 2;
    size_t n = repr_pass(s, quote, NULL, &length);
    pmo_str *r = str_alloc(n + 2, length);
    if (r == NULL) return NULL;
    char *out = str_data(r);
    size_t ignored = 0;
    out[0] = quote;
    repr_pass(s, quote, out + 1, &ignored);
    out[n + 1] = quote;
    return &r->ob;
}

static pm_object *str_str(pm_object *self) { return pm_newref(self); }

static int str_hash(pm_object *self, uint64_t *out) {
    *out = str_hash_of(STR(self));
    return 0;
}

/* Byte order of valid UTF-8 is code-point order. Equality looks at the
 * cheap differences first: identity, size, cached hashes. */
static int str_compare(pm_object *a, pm_object *b, int op) {
    if (!is_str(a) || !is_str(b)) return PM_CMP_UNSUPPORTED;
    pmo_str *x = STR(a), *y = STR(b);
    if (op == PM_EQ || op == PM_NE) {
        bool eq = a == b;
        if (!eq && x->nbytes == y->nbytes) {
            bool both_hashed = (a->flags & b->flags & PM_OF_HASHED) != 0;
            eq = !(both_hashed && x->hash != y->hash) &&
                 memcmp(str_data(x), str_data(y), x->nbytes) == 0;
        }
        return eq == (op == PM_EQ);
    }
    size_t n = x->nbytes < y->nbytes ? x->nbytes : y->nbytes;
    int c = memcmp(str_data(x), str_data(y), n);
    if (c == 0) c = (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
    return pmo_cmp_result(c, op);
}

static int64_t str_length(pm_object *self) { return (int64_t)STR(self)->length; }

/* Byte offset of code point i < length: ASCII directly, else counted
 * from the nearer end (continuation bytes are 10xxxxxx). */
static size_t cp_offset(pmo_str *s, size_t i) {
    if (is_ascii(s)) return i;
    const unsigned char *p = (const unsigned char *)str_data(s);
    size_t off;
    if (i <= s->length / 2) {
        for (off = 0;; off++)
            if ((p[off] & 0xC0) != 0x80 && i-- == 0) return off;
    }
    size_t back = s->length - i; /* code points from the end */
    for (off = s->nbytes;;)
        if ((p[--off] & 0xC0) != 0x80 && --back == 0) return off;
}

static pm_object *str_getitem(pm_object *self, pm_object *key) {
    pmo_str *s = STR(self);
    if (key->type != &pm_int_type && key->type != &pm_bool_type) {
        pm_exc_set(PM_EXC_TYPE, "string indices must be integers, not '%s'", key->type->name);
        return NULL;
    }
    int64_t i;
    pm_int_value(key, &i);
    if (i < 0) i += (int64_t)s->length;
    if (i < 0 || (uint64_t)i >= s->length) {
        pm_exc_set(PM_EXC_INDEX, "string index out of range");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)str_data(s) + cp_offset(s, (size_t)i);
    size_t len;
    uint32_t c = utf8_decode(p, &len);
    if (c < 256) return latin1_str(c);
    pmo_str *r = str_alloc(len, 1);
    if (r == NULL) return NULL;
    memcpy(str_data(r), p, len);
    return &r->ob;
}

/* Substring search on bytes: valid UTF-8 is self-synchronizing, so a byte
 * match is a code-point match. memchr finds candidates for the first byte. */
bool pmo_find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0) return true;
    if (m > n) return false;
    const char *p = hay, *last = hay + (n - m);
    while (p <= last) {
        p = memchr(p, needle[0], (size_t)(last - p) + 1);
        if (p == NULL) return false;
        if (memcmp(p + 1, needle + 1, m - 1) == 0) return true;
        p++;
    }
    return false;
}

static int str_contains(pm_object *self, pm_object *key) {
    if (!is_str(key)) {
        pm_exc_set(PM_EXC_TYPE, "'in <string>' requires string as left operand, not %s",
                   key->type->name);
        return -1;
    }
    pmo_str *s = STR(self), *k = STR(key);
    return pmo_find_bytes(str_data(s), s->nbytes, str_data(k), k->nbytes);
}

pm_type pm_str_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "str",
    .basicsize = sizeof(pmo_str) + 1,
    .itemsize = 1,
    .slots =
        {
            .dealloc = str_dealloc,
            .repr = str_repr,
            .str = str_str,
            .hash = str_hash,
            .compare = str_compare,
            .length = str_length,
            .getitem = str_getitem,
            .contains = str_contains,
            .iter = pmo_str_iter,
        },
};
