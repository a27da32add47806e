/*
 * bytes.c -- the bytes type: immutable byte strings.
 *
 * Owns: pm_bytes_type and its static empty instance.
 *
 * Layout: a pmo_bytes header followed inline by `size` bytes and a NUL
 * (not part of the value, a convenience for C callers); one allocation.
 *
 * Invariants:
 *   B1  the value never changes after pm_bytes_from returns; it may hold
 *       any byte, zeros included.
 *   B2  PM_OF_HASHED set => `hash` == pmo_hash_bytes(data, size), the same
 *       function as str, so a bytes and a str of equal bytes hash alike
 *       and differ only by type (as in CPython).
 *   B3  the empty bytes is static, immortal and never written: its hash is
 *       computed on each call (zero bytes: a few instructions).
 */
#define _DEFAULT_SOURCE
#include "objects/object.h"
#include "objects/containers.h" /* pmo_bytes_iter: iter.c iterates by byte offset */

#include <stdio.h>
#include <string.h>

typedef struct pmo_bytes {
    pm_object ob;
    uint64_t hash; /* valid when PM_OF_HASHED (B2) */
    size_t size;
} pmo_bytes; /* followed by size + 1 bytes */

#define BYTES(o) ((pmo_bytes *)(o))

static inline char *bytes_data(pmo_bytes *b) { return (char *)(b + 1); }
static inline bool is_bytes(const pm_object *o) { return o != NULL && o->type == &pm_bytes_type; }

typedef struct bytes_static {
    pmo_bytes head;
    char data[8];
} bytes_static;

_Static_assert(offsetof(bytes_static, data) == sizeof(pmo_bytes),
               "static bytes data must follow the header");

static bytes_static empty_bytes = {{PMO_STATIC_HEADER(&pm_bytes_type), 0, 0}, {0}};

/* ---- construction and access ----------------------------------------------- */

/* (NULL, 0) is accepted: an empty C buffer often has no address. */
pm_object *pm_bytes_from(const void *data, size_t n) {
    if (data == NULL && n != 0) {
        pm_exc_set(PM_EXC_TYPE, "expected a buffer, got NULL");
        return NULL;
    }
    if (n == 0) return &empty_bytes.head.ob;
    if (n > SIZE_MAX - sizeof(pmo_bytes) - 1) return pmo_no_memory();
    pmo_bytes *b = (pmo_bytes *)pmo_alloc(&pm_bytes_type, sizeof(pmo_bytes) + n + 1);
    if (b == NULL) return NULL;
    b->hash = 0;
    b->size = n;
    memcpy(bytes_data(b), data, n);
    bytes_data(b)[n] = '\0';
    return &b->ob;
}

const char *pm_bytes_data(pm_object *o, size_t *n) {
    if (!pmo_arg_is(o, &pm_bytes_type, "bytes", __func__)) return NULL;
    if (n) *n = BYTES(o)->size;
    return bytes_data(BYTES(o));
}

/* ---- slots ------------------------------------------------------------------- */

static const char hex_digits[] = "0123456789abcdef";

/* repr of one byte into out (when not NULL); returns its length. */
static size_t escape_byte(unsigned char c, char quote, char *out) {
    char tmp[4];
    size_t n = 0;
    if (c == '\\' || c == (unsigned char)quote) {
        tmp[n++] = '\\';
        tmp[n++] = (char)c;
    } else if (c == '\n' || c == '\t' || c == '\r') {
        tmp[n++] = '\\';
        tmp[n++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
    } else if (c < 0x20 || c >= 0x7F) {
        tmp[n++] = '\\';
        tmp[n++] = 'x';
        tmp[n++] = hex_digits[c >> 4];
        tmp[n++] = hex_digits[c & 0xF];
    } else {
        tmp[n++] = (char)c;
    }
    if (out) memcpy(out, tmp, n);
    return n;
}

static size_t repr_body(const unsigned char *p, size_t size, char quote, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < size; i++) n += escape_byte(p[i], quote, out ? out + n : NULL);
    return n;
}

/* b'...' as Python prints it: ' unless the value has ' and no ". */
static pm_object *bytes_repr(pm_object *self) {
    pmo_bytes *b = BYTES(self);
    const unsigned char *p = (const unsigned char *)bytes_data(b);
    bool single = memchr(p, '\'', b->size) != NULL;
    char quote = single && memchr(p, '"', b->size) == NULL ? '"' : '\'';
    size_t n = repr_body(p, b->size, quote, NULL) + 3;
    char stack[256];
    char *buf = n <= sizeof stack ? stack : pmo_mem_malloc(n);
    if (buf == NULL) return NULL;
    buf[0] = 'b';
    buf[1] = quote;
    repr_body(p, b->size, quote, buf + 2);
    buf[n - 1] = quote;
    pm_object *r = pm_str_from_len(buf, n);
    if (buf != stack) pmo_mem_free(buf);
    return r;
}

static int bytes_hash(pm_object *self, uint64_t *out) {
    pmo_bytes *b = BYTES(self);
    if (self->flags & PM_OF_HASHED) {
        *out = b->hash;
        return 0;
    }
    uint64_t h = pmo_hash_bytes(bytes_data(b), b->size);
    if (!(self->flags & PM_OF_STATIC)) { /* B3: statics are never written */
        b->hash = h;
        self->flags |= PM_OF_HASHED;
    }
    *out = h;
    return 0;
}

/* Lexicographic by unsigned byte, then the shorter first. */
static int bytes_compare(pm_object *a, pm_object *b, int op) {
    if (!is_bytes(a) || !is_bytes(b)) return PM_CMP_UNSUPPORTED;
    pmo_bytes *x = BYTES(a), *y = BYTES(b);
    if ((op == PM_EQ || op == PM_NE) && x->size != y->size) return op == PM_NE;
    size_t n = x->size < y->size ? x->size : y->size;
    int c = a == b ? 0 : memcmp(bytes_data(x), bytes_data(y), n);
    if (c == 0) c = (x->size > y->size) - (x->size < y->size);
    return pmo_cmp_result(c, op);
}

static int64_t bytes_length(pm_object *self) { return (int64_t)BYTES(self)->size; }

static bool is_intlike(const pm_object *o) {
    return o->type == &pm_int_type || o->type == &pm_bool_type;
}

static pm_object *bytes_getitem(pm_object *self, pm_object *key) {
    pmo_bytes *b = BYTES(self);
    if (!is_intlike(key)) {
        pm_exc_set(PM_EXC_TYPE, "byte indices must be integers, not '%s'", key->type->name);
        return NULL;
    }
    int64_t i;
    pm_int_value(key, &i);
    if (i < 0) i += (int64_t)b->size;
    if (i < 0 || (uint64_t)i >= b->size) {
        pm_exc_set(PM_EXC_INDEX, "index out of range");
        return NULL;
    }
    return pm_int((unsigned char)bytes_data(b)[i]); /* a static small int */
}

/* `x in b`: x an int (one byte, 0..255) or a bytes (a substring). */
static int bytes_contains(pm_object *self, pm_object *key) {
    pmo_bytes *b = BYTES(self);
    if (is_intlike(key)) {
        int64_t v;
        pm_int_value(key, &v);
        if (v < 0 || v > 255) {
            pm_exc_set(PM_EXC_VALUE, "byte must be in range(0, 256)");
            return -1;
        }
        return b->size != 0 && memchr(bytes_data(b), (int)v, b->size) != NULL;
    }
    if (!is_bytes(key)) {
        pm_exc_set(PM_EXC_TYPE, "a bytes-like object is required, not '%s'", key->type->name);
        return -1;
    }
    return pmo_find_bytes(bytes_data(b), b->size, bytes_data(BYTES(key)), BYTES(key)->size);
}

pm_type pm_bytes_type = {
    .ob = PMO_STATIC_HEADER(&pm_type_type),
    .name = "bytes",
    .basicsize = sizeof(pmo_bytes) + 1,
    .itemsize = 1,
    .slots =
        {
            .repr = bytes_repr,
            .hash = bytes_hash,
            .compare = bytes_compare,
            .length = bytes_length,
            .getitem = bytes_getitem,
            .contains = bytes_contains,
            .iter = pmo_bytes_iter,
        },
};
