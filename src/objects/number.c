/*
 * number.c -- None, bool, int and float.
 *
 * Owns: the None singleton, the two bools, the small ints -5..256, the
 * int type (64-bit, checked arithmetic), the float type and its per-runtime
 * free list, the numeric hash (pmo_hash_int) and the comparison shared by
 * every numeric type.
 *
 * Invariants:
 *   N1  None, True, False and the 262 small ints are static, immortal and
 *       constant-initialized: shared by every runtime and thread, never
 *       written after compilation (no set-up, no race).
 *   N2  pm_int(v) for -5 <= v <= 256 always returns the same small int, so
 *       no heap int holds a value in that range.
 *   N3  bool has int's layout (a pmo_int with value 0 or 1): it is an int
 *       subtype, as in Python. Every int entry point accepts a bool.
 *   N4  hash(x) == hash(y) whenever x == y across int, bool and float:
 *       all numbers hash by Python's rule, their value modulo 2^61 - 1.
 *   N5  a float on the free list is a dead object (counted as freed); only
 *       pm_float takes it back, through pmo_init_header_rt.
 */
#define _DEFAULT_SOURCE
#include "objects/object.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pmo_int {
    pm_object ob;
    int64_t value;
} pmo_int;

typedef struct pmo_float {
    pm_object ob;
    double value;
} pmo_float;

#define SMALL_MIN (-5)
#define SMALL_MAX 256
#define NSMALL (SMALL_MAX - SMALL_MIN + 1)

/* ---- the static objects (N1) ----------------------------------------------- */

static pm_object none_object = PMO_STATIC_HEADER(&pm_none_type);
static pmo_int bool_false = {PMO_STATIC_HEADER(&pm_bool_type), 0};
static pmo_int bool_true = {PMO_STATIC_HEADER(&pm_bool_type), 1};

#define SMALL1(v)                                                                                  \
    { PMO_STATIC_HEADER(&pm_int_type), (v) }
#define SMALL4(v) SMALL1(v), SMALL1((v) + 1), SMALL1((v) + 2), SMALL1((v) + 3)
#define SMALL16(v) SMALL4(v), SMALL4((v) + 4), SMALL4((v) + 8), SMALL4((v) + 12)
#define SMALL64(v) SMALL16(v), SMALL16((v) + 16), SMALL16((v) + 32), SMALL16((v) + 48)
static pmo_int small_ints[NSMALL] = {
    SMALL4(-5), SMALL1(-1), SMALL64(0), SMALL64(64), SMALL64(128), SMALL64(192), SMALL1(256),
};

/* ---- type checks ------------------------------------------------------------ */

static inline bool is_intlike(const pm_object *o) {
    return o->type == &pm_int_type || o->type == &pm_bool_type;
}

static inline int64_t int_of(const pm_object *o) { return ((const pmo_int *)o)->value; }
static inline double float_of(const pm_object *o) { return ((const pmo_float *)o)->value; }

/* ---- None ------------------------------------------------------------------- */

pm_object *pm_none(void) { return &none_object; }

static pm_object *none_repr(pm_object *self) {
    (void)self;
    return pm_str_from("None");
}

/* A constant, as in CPython 3.12: None hashes the same in every process. */
static int none_hash(pm_object *self, uint64_t *out) {
    (void)self;
    *out = 0xFCA86420u;
    return 0;
}

pm_type pm_none_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "NoneType",
    .basicsize = sizeof(pm_object),
    .slots = {.repr = none_repr, .hash = none_hash},
};

/* ---- numeric hash and comparison (N4) ----------------------------------------- */

#define HASH_MODULUS ((UINT64_C(1) << 61) - 1)
#define HASH_BITS 61
#define HASH_INF UINT64_C(314159)

/* Python's convention: a hash of -1 is reserved for errors, so it becomes -2.
 * pymm has no such reservation, but equal values across pymm and CPython
 * make hashes easy to check. */
static uint64_t signed_hash(uint64_t magnitude, bool negative) {
    int64_t h = negative ? -(int64_t)magnitude : (int64_t)magnitude;
    if (h == -1) h = -2;
    return (uint64_t)h;
}

uint64_t pmo_hash_int(int64_t v) {
    /* |v| fits in uint64 even for INT64_MIN. Since 2^61 == 1 (mod P), the
     * bits above 61 just add to the low 61; one subtraction finishes. */
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t r = (a & HASH_MODULUS) + (a >> HASH_BITS);
    if (r >= HASH_MODULUS) r -= HASH_MODULUS;
    return signed_hash(r, v < 0);
}

/* x * 2^e (mod P) for x < P: a rotation within 61 bits, since 2^61 == 1. */
static uint64_t rotate61(uint64_t x, int e) {
    e %= HASH_BITS;
    if (e < 0) e += HASH_BITS;
    if (e == 0) return x;
    return ((x << e) & HASH_MODULUS) | (x >> (HASH_BITS - e));
}

/* A finite double is m * 2^k exactly, with m an integer below 2^53 < P:
 * its hash is m * 2^k (mod P), read straight from the bits. For integral
 * values this equals pmo_hash_int of the same value (N4). */
static uint64_t hash_double(double v, const void *self) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    bool negative = bits >> 63;
    int biased = (int)((bits >> 52) & 0x7FF);
    uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
    if (biased == 0x7FF) {
        if (m) { /* NaN: identity, as Python 3.10+ (each NaN is its own key) */
            uintptr_t p = (uintptr_t)self;
            return (uint64_t)((p >> 4) | (p << (sizeof p * 8 - 4)));
        }
        return signed_hash(HASH_INF, negative);
    }
    int k;
    if (biased == 0) {
        k = -1074; /* zero or subnormal */
    } else {
        m |= UINT64_C(1) << 52;
        k = biased - 1075;
    }
    return signed_hash(rotate61(m, k), negative);
}

/* Compare an int with a non-NaN double exactly, never through a lossy
 * conversion: -1, 0 or 1 as i <, ==, > d. */
static int cmp_int_double(int64_t i, double d) {
    if (d >= 9223372036854775808.0) return -1; /* 2^63 and +inf */
    if (d < -9223372036854775808.0) return 1;
    int64_t t = (int64_t)d; /* truncates: exact for |d| < 2^63 */
    if (i != t) return i < t ? -1 : 1;
    double frac = d - (double)t; /* exact: t holds d's integer bits */
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/* The compare slot of int, bool and float: any pair of them compares by
 * value; anything else is not ours. NaN is unordered: only != holds. */
static int number_compare(pm_object *a, pm_object *b, int op) {
    bool ai = is_intlike(a), bi = is_intlike(b);
    bool af = a->type == &pm_float_type, bf = b->type == &pm_float_type;
    if (!(ai || af) || !(bi || bf)) return PM_CMP_UNSUPPORTED;
    int c;
    if (ai && bi) {
        int64_t x = int_of(a), y = int_of(b);
        c = (x > y) - (x < y);
    } else if (af && bf) {
        double x = float_of(a), y = float_of(b);
        if (isnan(x) || isnan(y)) return op == PM_NE;
        c = (x > y) - (x < y);
    } else if (ai) {
        if (isnan(float_of(b))) return op == PM_NE;
        c = cmp_int_double(int_of(a), float_of(b));
    } else {
        if (isnan(float_of(a))) return op == PM_NE;
        c = -cmp_int_double(int_of(b), float_of(a));
    }
    return pmo_cmp_result(c, op);
}

/* ---- bool --------------------------------------------------------------------- */

pm_object *pm_bool(int truth) { return truth ? &bool_true.ob : &bool_false.ob; }

static pm_object *bool_repr(pm_object *self) {
    return pm_str_from(int_of(self) ? "True" : "False");
}

static int int_hash(pm_object *self, uint64_t *out) {
    *out = pmo_hash_int(int_of(self));
    return 0;
}

pm_type pm_bool_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "bool",
    .basicsize = sizeof(pmo_int),
    .slots = {.repr = bool_repr, .hash = int_hash, .compare = number_compare},
};

/* ---- int ---------------------------------------------------------------------- */

pm_object *pm_int(int64_t v) {
    if (v >= SMALL_MIN && v <= SMALL_MAX) return &small_ints[v - SMALL_MIN].ob;
    pmo_int *o = (pmo_int *)pmo_alloc(&pm_int_type, sizeof(pmo_int));
    if (o == NULL) return NULL;
    o->value = v;
    return &o->ob;
}

int pm_int_value(pm_object *o, int64_t *out) {
    if (o == NULL || !is_intlike(o)) {
        pmo_arg_error("int", o, __func__);
        return -1;
    }
    if (out) *out = int_of(o);
    return 0;
}

/* Both operands as int64, or a TypeError naming the first that is not. */
static bool int_operands(pm_object *a, pm_object *b, int64_t *x, int64_t *y) {
    return pm_int_value(a, x) == 0 && pm_int_value(b, y) == 0;
}

static pm_object *int_overflow(int64_t x, const char *op, int64_t y) {
    pm_exc_set(PM_EXC_OVERFLOW, "int too large: %" PRId64 " %s %" PRId64 " overflows 64 bits", x,
               op, y);
    return NULL;
}

pm_object *pm_int_add(pm_object *a, pm_object *b) {
    int64_t x, y, r;
    if (!int_operands(a, b, &x, &y)) return NULL;
    if (__builtin_add_overflow(x, y, &r)) return int_overflow(x, "+", y);
    return pm_int(r);
}

pm_object *pm_int_sub(pm_object *a, pm_object *b) {
    int64_t x, y, r;
    if (!int_operands(a, b, &x, &y)) return NULL;
    if (__builtin_sub_overflow(x, y, &r)) return int_overflow(x, "-", y);
    return pm_int(r);
}

pm_object *pm_int_mul(pm_object *a, pm_object *b) {
    int64_t x, y, r;
    if (!int_operands(a, b, &x, &y)) return NULL;
    if (__builtin_mul_overflow(x, y, &r)) return int_overflow(x, "*", y);
    return pm_int(r);
}

/* Python rounds the quotient toward negative infinity; C truncates toward
 * zero, so a truncated quotient with a remainder of the other sign is one
 * too high. INT64_MIN // -1 is the only overflow. */
pm_object *pm_int_floordiv(pm_object *a, pm_object *b) {
    int64_t x, y;
    if (!int_operands(a, b, &x, &y)) return NULL;
    if (y == 0) {
        pm_exc_set(PM_EXC_ZERO_DIVISION, "integer division or modulo by zero");
        return NULL;
    }
    if (x == INT64_MIN && y == -1) return int_overflow(x, "//", y);
    int64_t q = x / y, r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) q--;
    return pm_int(q);
}

/* Decimal digits right to left into the end of buf; returns the start. */
static char *format_int(int64_t v, char *end) {
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = end;
    do {
        *--p = (char)('0' + a % 10);
        a /= 10;
    } while (a);
    if (v < 0) *--p = '-';
    return p;
}

static pm_object *int_repr(pm_object *self) {
    char buf[24];
    char *start = format_int(int_of(self), buf + sizeof buf);
    return pm_str_from_len(start, (size_t)(buf + sizeof buf - start));
}

pm_type pm_int_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "int",
    .basicsize = sizeof(pmo_int),
    .slots = {.repr = int_repr, .hash = int_hash, .compare = number_compare},
};

/* ---- float -------------------------------------------------------------------- */

pm_object *pm_float(double v) {
    pm_runtime *rt = pmo_rt();
    pmo_float *f = pmo_freelist_take(rt, &rt->freelists.floats);
    if (f) {
        f = (pmo_float *)pmo_init_header_rt(rt, &f->ob, &pm_float_type);
    } else {
        f = (pmo_float *)pmo_alloc(&pm_float_type, sizeof(pmo_float));
        if (f == NULL) return NULL;
    }
    f->value = v;
    return &f->ob;
}

int pm_float_value(pm_object *o, double *out) {
    double v;
    if (o != NULL && o->type == &pm_float_type) {
        v = float_of(o);
    } else if (o != NULL && is_intlike(o)) {
        v = (double)int_of(o);
    } else {
        pmo_arg_error("float", o, __func__);
        return -1;
    }
    if (out) *out = v;
    return 0;
}

/* The free_mem hook (N5): keep up to PMO_FLOAT_FREELIST blocks. */
static void float_free_mem(pm_runtime *rt, pm_object *o) {
    if (!pmo_freelist_push(rt, &rt->freelists.floats, o)) pmo_free(rt, o);
}

static int float_hash(pm_object *self, uint64_t *out) {
    *out = hash_double(float_of(self), self);
    return 0;
}

/* The digits of a "%.*e" rendering (any decimal point) into digits[],
 * trailing zeros dropped; returns their count and sets *exp10. */
static int parse_e(const char *buf, char digits[18], int *exp10) {
    int n = 0;
    const char *p = buf;
    for (; *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[n++] = *p;
    *exp10 = atoi(p + 1);
    while (n > 1 && digits[n - 1] == '0') n--;
    return n;
}

/* When the correctly rounded 16 digits D miss v, the other 16-digit
 * neighbour of v may still read back as v: the interval of a power of two
 * is wider above it than below. `below` tells on which side D lies. Digits
 * as integers and an exponent without a point keep this locale-free. */
static int neighbour16(double v, const char *digits, int n, int exp10, bool below, char out[18],
                       int *out_exp) {
    long long m = 0;
    for (int i = 0; i < 16; i++) m = m * 10 + (i < n ? digits[i] - '0' : 0);
    m += below ? 1 : -1;
    char buf[40];
    snprintf(buf, sizeof buf, "%llde%d", m, exp10 - 15);
    if (strtod(buf, NULL) != v) return 0;
    int len = snprintf(buf, sizeof buf, "%lld", m);
    *out_exp = exp10 - 15 + len - 1;
    memcpy(out, buf, (size_t)len);
    while (len > 1 && out[len - 1] == '0') len--;
    return len;
}

/* Most data holds short decimals (0.5, 19.99, 48.8566): m / 10^k for a
 * small k. While m <= 2^50, an ulp of v is below a quarter of 10^-k, so
 * round(v * 10^k) is exact at the shortest k and at most one m per k can
 * read back as v: the first k where m / 10^k == v gives the shortest and
 * closest digits. IEEE division of two exact doubles is correctly
 * rounded, which is what strtod does with "m e-k": no strtod, no printf.
 * Returns the digit count, or 0 when v needs the general path, or -1 when
 * it needs it and has no form of 15 digits or fewer: stopping at 2^50
 * rules out every m below 10^15 at every k, and a non-integral v below
 * 2^53 (the only kind the caller sends there) has no integral form. */
static int short_decimal(double v, char digits[18], int *exp10) {
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    static const double pow10[] = {1e0, 1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,
                                   1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
    const double limit = 1125899906842624.0; /* 2^50 */
    for (int k = 1; k < (int)(sizeof pow10 / sizeof *pow10); k++) {
        double t = v * pow10[k];
        if (t >= limit) return v < 9007199254740992.0 ? -1 : 0;
        double m = (double)(int64_t)(t + 0.5);
        if (m / pow10[k] != v) continue;
        char buf[24];
        char *start = format_int((int64_t)m, buf + sizeof buf);
        int n = (int)(buf + sizeof buf - start);
        memcpy(digits, start, (size_t)n);
        *exp10 = n - 1 - k;
        return n;
    }
#else
    (void)v, (void)digits, (void)exp10;
#endif
    return 0;
}

/* Shortest decimal digits that read back as v (finite, positive), closest
 * to v among the shortest, as Python's repr: digits without a point into
 * digits[], returns their count and sets *exp10 (the power of ten of the
 * first digit). For a normal double half an ulp is below half a unit of
 * the 15th digit, so the correctly rounded 15 digits, trailing zeros
 * dropped, are the answer whenever it has at most 15 digits; else 16 (the
 * rounded value or its other neighbour) or 17 (always round-trips).
 * Subnormals have fewer bits: they search from one digit up. Short
 * decimals never get that far (short_decimal). The printed point may be
 * the locale's; strtod reads it back in the same locale. */
static int shortest_digits(double v, char digits[18], int *exp10) {
    int short_n = short_decimal(v, digits, exp10);
    if (short_n > 0) return short_n;
    char buf[40];
    for (int prec = short_n < 0 ? 16 : v < DBL_MIN ? 1 : 15;; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        double back = strtod(buf, NULL);
        int n = parse_e(buf, digits, exp10);
        if (back == v || prec == 17) return n;
        if (prec == 16) {
            char other[18];
            int other_exp, m = neighbour16(v, digits, n, *exp10, back < v, other, &other_exp);
            if (m) {
                memcpy(digits, other, (size_t)m);
                *exp10 = other_exp;
                return m;
            }
        }
    }
}

/* Python's repr layout for digits d1d2...dn x 10^exp10: positional when
 * -4 <= exp10 < 16 (always with a fractional part, "1.0"), else scientific
 * with at least two exponent digits ("1e+16", "1.5e-07"). */
size_t pmo_float_layout(char *out, bool negative, const char *digits, int n, int exp10) {
    char *p = out;
    if (negative) *p++ = '-';
    int point = exp10 + 1; /* digits before the decimal point */
    if (exp10 < -4 || exp10 >= 16) {
        *p++ = digits[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, digits + 1, (size_t)n - 1);
            p += n - 1;
        }
        p += sprintf(p, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (point <= 0) {
        *p++ = '0';
        *p++ = '.';
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
        *p++ = '.';
        *p++ = '0';
    }
    return (size_t)(p - out);
}

/* repr(float) as Python prints it: the shortest string that reads back as
 * the same double. Integral values below 2^53 take a fast path. */
static pm_object *float_repr(pm_object *self) {
    double v = float_of(self);
    if (isnan(v)) return pm_str_from("nan");
    if (isinf(v)) return pm_str_from(v > 0 ? "inf" : "-inf");
    char out[40];
    size_t len;
    if (v == 0.0) {
        len = (size_t)sprintf(out, "%s", signbit(v) ? "-0.0" : "0.0");
    } else if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v) {
        char buf[24];
        char *start = format_int((int64_t)v, buf + sizeof buf);
        len = (size_t)(buf + sizeof buf - start);
        memcpy(out, start, len);
        memcpy(out + len, ".0", 2);
        len += 2;
    } else {
        char digits[18];
        int exp10;
        int n = shortest_digits(v < 0 ? -v : v, digits, &exp10);
        len = pmo_float_layout(out, v < 0, digits, n, exp10);
    }
    return pm_str_from_len(out, len);
}

pm_type pm_float_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "float",
    .basicsize = sizeof(pmo_float),
    .slots = {.repr = float_repr, .hash = float_hash, .compare = number_compare},
    .free_mem = float_free_mem,
};
