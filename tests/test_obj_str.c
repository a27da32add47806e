/*
 * test_obj_str.c -- the str type and interning (src/objects/str.c): UTF-8
 * validation of every class of bad input, code-point lengths, the static
 * strings, repr, concat, indexing, membership, comparison, hashing, and
 * the intern table (identity, mortality, immortality, statistics).
 *
 * Each group runs in a private runtime and ends by checking that it left
 * no object alive (objects_allocated - objects_freed unchanged).
 */
#include "objects/object.h"
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- harness ---------------------------------------------------------------- */

static pm_runtime_stats stats(void) {
    pm_runtime_stats st;
    pm_runtime_get_stats(pm_runtime_current(), &st);
    return st;
}

/* The text of s equals (want, n). */
static int text_is(pm_object *s, const char *want, size_t n) {
    size_t got_n = 0;
    const char *got = pm_str_utf8(s, &got_n);
    int ok = got != NULL && got_n == n && memcmp(got, want, n) == 0 && got[n] == '\0';
    if (!ok) fprintf(stderr, "text: got [%s], want [%.*s]\n", got ? got : "(null)", (int)n, want);
    return ok;
}

/* UTF-8 of code point c into out; returns its length. */
static size_t encode(uint32_t c, char *out) {
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* ---- construction and validation ------------------------------------------------ */

static void test_basic(void) {
    tu_group g = tu_group_begin();
    pm_object *s = pm_str_from("hello");
    CHECK(s && pm_is_type(s, &pm_str_type));
    CHECK_EQ(s->refcnt, 1);
    CHECK(text_is(s, "hello", 5));
    CHECK_EQ(pm_str_length(s), 5);
    CHECK_EQ(pm_len(s), 5);
    CHECK_EQ(pm_truth(s), 1);
    pm_object *same = pm_str(s); /* str() of a str is itself */
    CHECK(same == s);
    CHECK_EQ(s->refcnt, 2);
    pm_decref(same);

    /* 1, 2, 3 and 4-byte sequences; lengths in code points */
    struct {
        const char *text;
        int64_t length;
    } cases[] = {
        {"abc", 3},
        {"\xc3\xa9t\xc3\xa9", 3},                     /* été */
        {"\xe2\x82\xac", 1},                          /* € */
        {"\xf0\x9f\x98\x80", 1},                      /* U+1F600 */
        {"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 4}, /* a é € U+1F600 */
        {"\xf4\x8f\xbf\xbf", 1},                      /* U+10FFFF */
        {"\xef\xbf\xbf\xee\x80\x80\xed\x9f\xbf", 3},  /* U+FFFF U+E000 U+D7FF */
        {"\xe0\xa0\x80\xdf\xbf\xc2\x80\x7f", 4},      /* U+0800 U+07FF U+0080 U+007F */
        {"\xf0\x90\x80\x80", 1},                      /* U+10000 */
        {"0123456789abcdef0123456789\xc3\xa9", 27},   /* past the ASCII fast path */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        pm_object *x = pm_str_from(cases[k].text);
        CHECK(x != NULL);
        if (x == NULL) {
            fprintf(stderr, "case %zu: %s\n", k, pm_exc_message());
            pm_exc_clear();
            continue;
        }
        CHECK_EQ(pm_str_length(x), cases[k].length);
        CHECK(text_is(x, cases[k].text, strlen(cases[k].text)));
        pm_decref(x);
    }

    /* U+0000 inside: lengths, never strlen */
    pm_object *z = pm_str_from_len("a\0b\0", 4);
    CHECK(z && text_is(z, "a\0b\0", 4));
    CHECK_EQ(pm_str_length(z), 4);
    pm_object *nul = pm_str_from_len("\0", 1);
    CHECK(nul && pm_is_immortal(nul) && pm_str_length(nul) == 1);
    CHECK(tu_repr_is(z, "'a\\x00b\\x00'"));

    /* The empty string: one static object */
    pm_object *e1 = pm_str_from(""), *e2 = pm_str_from_len(NULL, 0);
    pm_object *e3 = pm_str_from_len("xyz", 0);
    CHECK(e1 == e2 && e2 == e3);
    CHECK(pm_is_immortal(e1) && (e1->flags & PM_OF_STATIC));
    CHECK_EQ(pm_str_length(e1), 0);
    CHECK_EQ(pm_truth(e1), 0);
    CHECK(text_is(e1, "", 0));
    CHECK(tu_repr_is(e1, "''"));

    /* NULL and wrong types */
    CHECK(pm_str_from(NULL) == NULL && tu_raised(PM_EXC_TYPE, "got NULL"));
    CHECK(pm_str_from_len(NULL, 2) == NULL && tu_raised(PM_EXC_TYPE, "got NULL"));
    pm_object *i = pm_int(7);
    size_t n = 99;
    CHECK(pm_str_utf8(i, &n) == NULL && tu_raised(PM_EXC_TYPE, "expected str, got int"));
    CHECK_EQ(n, 99);
    CHECK(pm_str_utf8(NULL, &n) == NULL && tu_raised(PM_EXC_TYPE, "expected str, got NULL"));
    CHECK(pm_str_utf8(s, NULL) != NULL); /* the length is optional */
    CHECK_EQ(pm_str_length(i), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "expected str, got int"));
    CHECK_EQ(pm_str_length(NULL), -1);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    pm_decref(s);
    pm_decref(z);
    tu_group_end(&g, 0);
}

/* The 256 one-code-point strings U+0000..U+00FF are static and shared. */
static void test_static_chars(void) {
    tu_group g = tu_group_begin();
    uint64_t allocated = stats().objects_allocated;
    for (uint32_t c = 0; c < 256; c++) {
        char buf[4];
        size_t n = encode(c, buf);
        pm_object *a = pm_str_from_len(buf, n), *b = pm_str_from_len(buf, n);
        CHECK(a != NULL && a == b);
        if (a == NULL) continue;
        CHECK(pm_is_immortal(a) && (a->flags & PM_OF_STATIC));
        CHECK_EQ(pm_str_length(a), 1);
        CHECK(text_is(a, buf, n));
        /* the compile-time hash is the run-time one */
        CHECK_EQ(tu_hash_of(a), pmo_hash_bytes(buf, n));
        pm_object *bytes = pm_bytes_from(buf, n);
        CHECK_EQ(tu_hash_of(a), tu_hash_of(bytes));
        pm_decref(bytes);
        pm_decref(a);
        pm_decref(b);
    }
    CHECK_EQ(tu_hash_of(pm_str_from("")), pmo_hash_bytes("", 0));
    /* bytes made 256 objects; the strings none */
    CHECK_EQ(stats().objects_allocated - allocated, 256);
    /* A string past U+00FF is a heap object */
    pm_object *x = pm_str_from("\xc4\x80"), *y = pm_str_from("\xc4\x80"); /* U+0100 */
    CHECK(x != y && !pm_is_immortal(x));
    pm_decref(x);
    pm_decref(y);
    tu_group_end(&g, 0);
}

/* Every class of invalid UTF-8: UnicodeError with the byte and its offset,
 * and nothing allocated. */
static void test_invalid_utf8(void) {
    tu_group g = tu_group_begin();
    struct {
        const char *text;
        size_t n;
        const char *what;
    } bad[] = {
        {"\x80", 1, "byte 0x80 in position 0: invalid start byte"}, /* lone continuation */
        {"ab\xbf", 3, "byte 0xbf in position 2: invalid start byte"},
        {"\xc0\x80", 2, "byte 0xc0 in position 0: invalid start byte"}, /* overlong NUL */
        {"\xc1\xbf", 2, "byte 0xc1 in position 0: invalid start byte"}, /* overlong 2-byte */
        {"\xe0\x80\x80", 3, "position 0: invalid continuation byte"},   /* overlong 3-byte */
        {"\xe0\x9f\xbf", 3, "byte 0xe0 in position 0: invalid continuation byte"},
        {"\xf0\x80\x80\x80", 4, "position 0: invalid continuation byte"}, /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 4, "position 0: invalid continuation byte"},
        {"x\xed\xa0\x80", 4, "byte 0xed in position 1: invalid continuation byte"}, /* U+D800 */
        {"\xed\xbf\xbf", 3, "position 0: invalid continuation byte"},               /* U+DFFF */
        /* above U+10FFFF */
        {"\xf4\x90\x80\x80", 4, "byte 0xf4 in position 0: invalid continuation byte"},
        {"\xf5\x80\x80\x80", 4, "byte 0xf5 in position 0: invalid start byte"},
        {"\xf8\x88\x80\x80\x80", 5, "byte 0xf8 in position 0: invalid start byte"},
        {"\xfe", 1, "byte 0xfe in position 0: invalid start byte"},
        {"\xff", 1, "byte 0xff in position 0: invalid start byte"},
        {"a\xc3", 2, "byte 0xc3 in position 1: unexpected end of data"}, /* truncated */
        {"\xe2\x82", 2, "position 0: unexpected end of data"},
        {"\xf0\x9f\x98", 3, "byte 0xf0 in position 0: unexpected end of data"},
        {"\xc3"
         "a",
         2, "byte 0xc3 in position 0: invalid continuation byte"},
        {"\xe2\x28\xa1", 3, "position 0: invalid continuation byte"},
        {"\xf0\x9f\x28\x80", 4, "position 0: invalid continuation byte"}, /* 3rd byte */
        {"\xf0\x9f\x98\x28", 4, "position 0: invalid continuation byte"}, /* 4th byte */
        {"\xe2\x82\xac\xe2\x82", 5, "byte 0xe2 in position 3: unexpected end of data"},
        {"abcdefghijklmnop\xff", 17, "byte 0xff in position 16: invalid start byte"},
        {"abcdefghijk\xff"
         "abcdefgh",
         20, "position 11: invalid start byte"},
        {"a\0\xff", 3, "position 2"},
    };
    int64_t live = tu_live_objects();
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        pm_object *s = pm_str_from_len(bad[k].text, bad[k].n);
        CHECK(s == NULL);
        if (!tu_raised(PM_EXC_UNICODE, bad[k].what)) fprintf(stderr, "  case %zu\n", k);
        pm_xdecref(s);
    }
    CHECK(pm_str_from("ok\xff") == NULL && tu_raised(PM_EXC_UNICODE, "'utf-8' codec can't decode"));
    CHECK(pm_str_format("%s", "\xc3") == NULL && tu_raised(PM_EXC_UNICODE, "unexpected end"));
    CHECK(pm_str_id("\xed\xa0\x80") == NULL && tu_raised(PM_EXC_UNICODE, "invalid continuation"));
    CHECK(pm_str_id("\xc3") == NULL && tu_raised(PM_EXC_UNICODE, "unexpected end"));
    CHECK_EQ(tu_live_objects(), live);
    tu_group_end(&g, 0);
}

/* ---- operations ----------------------------------------------------------------- */

static void test_format_concat(void) {
    tu_group g = tu_group_begin();
    pm_object *f = pm_str_format("%d-%s-%c", 42, "x\xc3\xa9", 'z');
    CHECK(f && text_is(f, "42-x\xc3\xa9-z", 8));
    CHECK_EQ(pm_str_length(f), 7);
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pm_object *lf = pm_str_format("<%s>", big); /* past the stack buffer */
    CHECK(lf && pm_str_length(lf) == 1001);
    pm_object *ef = pm_str_format("%s", "");
    CHECK(ef == pm_str_from(""));
    CHECK(pm_str_format(NULL) == NULL && tu_raised(PM_EXC_TYPE, "got NULL"));

    pm_object *a = pm_str_from("ab"),
              *b = pm_str_from("\xe2\x82\xac"
                               "d"),
              *e = pm_str_from("");
    pm_object *ab = pm_str_concat(a, b);
    CHECK(ab && text_is(ab,
                        "ab\xe2\x82\xac"
                        "d",
                        6));
    CHECK_EQ(pm_str_length(ab), 4);
    pm_object *ae = pm_str_concat(a, e), *ea = pm_str_concat(e, a);
    CHECK(ae == a && ea == a); /* with the empty string: the other one */
    CHECK_EQ(a->refcnt, 3);
    pm_object *ee = pm_str_concat(e, e);
    CHECK(ee == e);
    pm_object *i = pm_int(1);
    CHECK(pm_str_concat(a, i) == NULL && tu_raised(PM_EXC_TYPE, "expected str, got int"));
    CHECK(pm_str_concat(NULL, a) == NULL && tu_raised(PM_EXC_TYPE, "got NULL"));
    CHECK(pm_str_concat(a, NULL) == NULL && tu_raised(PM_EXC_TYPE, "got NULL"));
    CHECK_EQ(a->refcnt, 3);
    pm_object *objs[] = {f, lf, ef, a, b, e, ab, ae, ea, ee};
    for (size_t k = 0; k < sizeof objs / sizeof *objs; k++) pm_decref(objs[k]);
    tu_group_end(&g, 0);
}

static void test_repr(void) {
    tu_group g = tu_group_begin();
    struct {
        const char *text;
        const char *repr;
    } cases[] = {
        {"abc", "'abc'"},
        {"it's", "\"it's\""},
        {"say \"hi\"", "'say \"hi\"'"},
        {"a\"b'c", "'a\"b\\'c'"},
        {"\n\t\r\\", "'\\n\\t\\r\\\\'"},
        {"\x01\x1f\x7f", "'\\x01\\x1f\\x7f'"},
        /* é € U+1F600: printable, as they are */
        {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "'\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'"},
        {"\xc2\x80\xc2\x9f", "'\\x80\\x9f'"}, /* C1 controls */
        {"\xc2\xa0\xc2\xad", "'\\xa0\\xad'"}, /* no-break space, soft hyphen */
        {"\xe2\x80\xa8\xe2\x80\x8b", "'\\u2028\\u200b'"},
        {"\xef\xbb\xbf", "'\\ufeff'"},
        {"\xee\x80\x80", "'\\ue000'"}, /* private use */
        {"\xf3\xb0\x80\x80", "'\\U000f0000'"},
        {"\xef\xbf\xbe", "'\\ufffe'"},                              /* noncharacter */
        {"\xe3\x80\x80", "'\\u3000'"},                              /* ideographic space */
        {"\xe4\xb8\xad\xe6\x96\x87", "'\xe4\xb8\xad\xe6\x96\x87'"}, /* CJK */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        pm_object *s = pm_str_from(cases[k].text);
        CHECK(s != NULL);
        if (s == NULL) continue;
        CHECK(tu_repr_is(s, cases[k].repr));
        pm_decref(s);
    }
    /* The repr's length in code points is right (escapes are ASCII). */
    pm_object *s = pm_str_from("\xc3\xa9\n\xef\xbb\xbf");
    pm_object *r = pm_repr(s);
    CHECK(r && pm_str_length(r) == 1 + 1 + 2 + 6 + 1);
    pm_xdecref(r);
    pm_decref(s);
    tu_group_end(&g, 0);
}

static pm_object *item(pm_object *s, int64_t i) {
    pm_object *k = pm_int(i);
    pm_object *r = pm_getitem(s, k);
    pm_decref(k);
    return r;
}

static void test_getitem_contains(void) {
    tu_group g = tu_group_begin();
    pm_object *ascii = pm_str_from("hello");
    pm_object *c = item(ascii, 1);
    CHECK(c && text_is(c, "e", 1) && pm_is_immortal(c));
    pm_xdecref(c);
    c = item(ascii, -1);
    CHECK(c && text_is(c, "o", 1));
    pm_xdecref(c);
    c = item(ascii, -5);
    CHECK(c && text_is(c, "h", 1));
    pm_xdecref(c);
    c = pm_getitem(ascii, pm_bool(1));
    CHECK(c && text_is(c, "e", 1));
    pm_xdecref(c);
    CHECK(item(ascii, 5) == NULL && tu_raised(PM_EXC_INDEX, "string index out of range"));
    CHECK(item(ascii, -6) == NULL && tu_raised(PM_EXC_INDEX, "string index out of range"));
    CHECK(item(ascii, INT64_MIN) == NULL && tu_raised(PM_EXC_INDEX, NULL));
    CHECK(item(ascii, INT64_MAX) == NULL && tu_raised(PM_EXC_INDEX, NULL));
    pm_object *fl = pm_float(1.0);
    CHECK(pm_getitem(ascii, fl) == NULL &&
          tu_raised(PM_EXC_TYPE, "string indices must be integers, not 'float'"));
    CHECK(pm_getitem(ascii, ascii) == NULL && tu_raised(PM_EXC_TYPE, "not 'str'"));
    pm_object *e = pm_str_from("");
    CHECK(item(e, 0) == NULL && tu_raised(PM_EXC_INDEX, NULL));
    CHECK(item(e, -1) == NULL && tu_raised(PM_EXC_INDEX, NULL));

    /* non-ASCII: indexes count code points, from either end */
    const char *want[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "z"};
    pm_object *mixed = pm_str_from("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z");
    for (int64_t i = 0; i < 5; i++) {
        pm_object *x = item(mixed, i), *y = item(mixed, i - 5);
        CHECK(x && text_is(x, want[i], strlen(want[i])));
        CHECK(y && text_is(y, want[i], strlen(want[i])));
        CHECK(x && pm_str_length(x) == 1);
        CHECK(x && pm_is_immortal(x) == (i <= 1 || i == 4)); /* below U+0100: static */
        CHECK(x && y && pm_equal(x, y) == 1);
        pm_xdecref(x);
        pm_xdecref(y);
    }
    CHECK(item(mixed, 5) == NULL && tu_raised(PM_EXC_INDEX, NULL));
    /* iteration (iter.c) yields the same one-code-point strings */
    pm_object *it = pm_iter(mixed);
    CHECK(it != NULL);
    for (int k = 0; it && k < 6; k++) {
        pm_object *x = pm_next(it);
        if (k == 5) {
            CHECK(x == NULL && pm_exc_occurred() == PM_EXC_NONE);
            break;
        }
        CHECK(x && text_is(x, want[k], strlen(want[k])));
        pm_xdecref(x);
    }
    pm_xdecref(it);
    CHECK(item(mixed, -6) == NULL && tu_raised(PM_EXC_INDEX, NULL));

    /* contains: substrings, the empty one, U+0000, non-ASCII */
    struct {
        const char *hay;
        size_t hn;
        const char *needle;
        size_t nn;
        int found;
    } cases[] = {
        {"hello", 5, "ell", 3, 1},
        {"hello", 5, "hello", 5, 1},
        {"hello", 5, "helloo", 6, 0},
        {"hello", 5, "", 0, 1},
        {"", 0, "", 0, 1},
        {"", 0, "a", 1, 0},
        {"hello", 5, "lo", 2, 1},
        {"hello", 5, "ol", 2, 0},
        {"aaab", 4, "aab", 3, 1},
        {"a\0b", 3, "\0b", 2, 1},
        {"a\0b", 3, "\0c", 2, 0},
        {"\xc3\xa9t\xc3\xa9", 5, "t\xc3\xa9", 3, 1},
        {"\xe2\x82\xac", 3, "\xc2\x82", 2, 0}, /* no match inside a sequence */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        pm_object *h = pm_str_from_len(cases[k].hay, cases[k].hn);
        pm_object *n = pm_str_from_len(cases[k].needle, cases[k].nn);
        CHECK(h && n);
        if (h && n) CHECK_EQ(pm_contains(h, n), cases[k].found);
        pm_xdecref(h);
        pm_xdecref(n);
    }
    pm_object *i = pm_int(1);
    CHECK_EQ(pm_contains(ascii, i), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "'in <string>' requires string as left operand, not int"));
    pm_object *objs[] = {ascii, fl, e, mixed, i};
    for (size_t k = 0; k < sizeof objs / sizeof *objs; k++) pm_decref(objs[k]);
    tu_group_end(&g, 0);
}

static void test_compare_hash(void) {
    tu_group g = tu_group_begin();
    pm_object *a1 = pm_str_from("apple"), *a2 = pm_str_from("apple"), *b = pm_str_from("apples");
    pm_object *z = pm_str_from("z"), *eacute = pm_str_from("\xc3\xa9");
    pm_object *euro = pm_str_from("\xe2\x82\xac"), *emoji = pm_str_from("\xf0\x9f\x98\x80");
    CHECK(a1 != a2);
    CHECK_EQ(pm_equal(a1, a2), 1);
    CHECK_EQ(pm_compare(a1, a2, PM_NE), 0);
    CHECK_EQ(pm_compare(a1, a2, PM_LE), 1);
    CHECK_EQ(pm_compare(a1, b, PM_LT), 1); /* a prefix sorts first */
    CHECK_EQ(pm_compare(b, a1, PM_GT), 1);
    CHECK_EQ(pm_equal(a1, b), 0);
    CHECK_EQ(pm_compare(z, eacute, PM_LT), 1); /* code-point order */
    CHECK_EQ(pm_compare(eacute, euro, PM_LT), 1);
    CHECK_EQ(pm_compare(euro, emoji, PM_LT), 1);
    CHECK_EQ(pm_compare(emoji, z, PM_GE), 1);
    /* equal text, one hashed and one not, and both hashed */
    CHECK_EQ(a1->flags & PM_OF_HASHED, 0);
    uint64_t h1 = tu_hash_of(a1);
    CHECK(a1->flags & PM_OF_HASHED);
    CHECK_EQ(pm_equal(a1, a2), 1);
    CHECK_EQ(tu_hash_of(a2), h1);
    CHECK_EQ(pm_equal(a1, a2), 1);
    CHECK_EQ(h1, pmo_hash_bytes("apple", 5));
    CHECK_EQ(tu_hash_of(a1), h1); /* cached */
    CHECK(tu_hash_of(b) != h1);
    /* against other types */
    pm_object *i = pm_int(5), *bytes = pm_bytes_from("apple", 5);
    CHECK_EQ(pm_equal(a1, i), 0);
    CHECK_EQ(pm_equal(a1, bytes), 0);
    CHECK_EQ(tu_hash_of(a1), tu_hash_of(bytes));
    CHECK_EQ(pm_compare(a1, i, PM_LT), -1);
    CHECK(tu_raised(PM_EXC_TYPE, "'<' not supported between instances of 'str' and 'int'"));

    /* the hash spreads: distinct short keys rarely collide in the low bits */
    enum { N = 4096 };
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    int collisions = 0;
    for (int k = 0; k < N; k++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", k);
        unsigned slot = (unsigned)(pmo_hash_bytes(key, (size_t)n) & (N - 1));
        collisions += seen[slot];
        seen[slot] = 1;
    }
    CHECK(collisions < N / 2); /* random placement: about N/e */
    /* every length 0..64 hashes and differs from its neighbour */
    char buf[65];
    memset(buf, 'x', sizeof buf);
    uint64_t prev = pmo_hash_bytes(buf, 0);
    for (size_t n = 1; n <= 64; n++) {
        uint64_t h = pmo_hash_bytes(buf, n);
        CHECK(h != prev);
        prev = h;
    }
    pm_object *objs[] = {a1, a2, b, z, eacute, euro, emoji, i, bytes};
    for (size_t k = 0; k < sizeof objs / sizeof *objs; k++) pm_decref(objs[k]);
    tu_group_end(&g, 0);
}

/* ---- interning -------------------------------------------------------------------- */

static void test_intern_identity(void) {
    tu_group g = tu_group_begin();
    pm_runtime_stats st0 = stats();
    CHECK_EQ(st0.interned, 0);
    pm_object *a = pm_str_from("hello world"), *b = pm_str_from("hello world");
    CHECK(a != b);
    pm_object *ia = pm_str_intern(a);
    CHECK(ia == a);
    CHECK_EQ(a->refcnt, 2);
    CHECK(a->flags & PM_OF_INTERNED);
    pm_runtime_stats st1 = stats();
    CHECK_EQ(st1.interned, 1);
    CHECK_EQ(st1.intern_lookups - st0.intern_lookups, 1);
    CHECK_EQ(st1.intern_hits - st0.intern_hits, 0);
    pm_object *ib = pm_str_intern(b);
    CHECK(ib == a);
    CHECK_EQ(a->refcnt, 3);
    CHECK(!(b->flags & PM_OF_INTERNED));
    pm_runtime_stats st2 = stats();
    CHECK_EQ(st2.interned, 1);
    CHECK_EQ(st2.intern_hits - st1.intern_hits, 1);
    /* saved: the duplicate's size, header (40 bytes) + text + NUL */
    CHECK_EQ(st2.intern_bytes_saved - st1.intern_bytes_saved, 40 + 11 + 1);
    pm_decref(b);
    /* interning an interned string: itself */
    pm_object *again = pm_str_intern(a);
    CHECK(again == a);
    pm_decref(again);

    /* pm_str_id: a hit needs no allocation */
    uint64_t allocated = stats().objects_allocated;
    pm_object *id = pm_str_id("hello world");
    CHECK(id == a);
    CHECK_EQ(stats().objects_allocated, allocated);
    pm_decref(id);
    pm_object *n1 = pm_str_id("new name"), *n2 = pm_str_id("new name");
    CHECK(n1 && n1 == n2);
    CHECK(n1->flags & PM_OF_INTERNED);
    CHECK(n1->flags & PM_OF_HASHED);
    CHECK_EQ(tu_hash_of(n1), pmo_hash_bytes("new name", 8));
    CHECK_EQ(stats().interned, 2);
    pm_object *n3 = pm_str_from("new name");
    pm_object *n4 = pm_str_intern(n3);
    CHECK(n4 == n1);
    pm_decref(n3);
    pm_decref(n4);
    pm_decref(n1);
    pm_decref(n2);
    CHECK_EQ(stats().interned, 1); /* "new name" died and left the table */

    /* static strings are interned by construction */
    pm_object *ch = pm_str_from("a"), *ich = pm_str_intern(ch);
    CHECK(ich == ch && pm_is_immortal(ich));
    CHECK(pm_str_id("a") == ch);
    CHECK(pm_str_id("\xc3\xa9") == pm_str_from("\xc3\xa9"));
    CHECK(pm_str_id("") == pm_str_from(""));
    pm_object *two = pm_str_id("ab"); /* two bytes, two code points: a heap string */
    CHECK(two && !pm_is_immortal(two) && (two->flags & PM_OF_INTERNED));
    pm_object *two2 = pm_str_id("ab");
    CHECK(two2 == two);
    pm_decref(two);
    pm_decref(two2);
    pm_object *st_imm = pm_str_intern_immortal(ch);
    CHECK(st_imm == ch);
    CHECK_EQ(stats().interned, 1); /* statics are never in the table */

    /* errors */
    pm_object *i = pm_int(3);
    CHECK(pm_str_intern(i) == NULL && tu_raised(PM_EXC_TYPE, "expected str, got int"));
    CHECK(pm_str_intern(NULL) == NULL && tu_raised(PM_EXC_TYPE, "got NULL"));
    CHECK(pm_str_intern_immortal(i) == NULL && tu_raised(PM_EXC_TYPE, NULL));
    CHECK(pm_str_id(NULL) == NULL && tu_raised(PM_EXC_TYPE, "got NULL"));

    pm_decref(ia);
    pm_decref(ib);
    CHECK_EQ(a->refcnt, 1);
    pm_decref(a);
    CHECK_EQ(stats().interned, 0);
    tu_group_end(&g, 0);
}

/* Interned strings are mortal: when the last reference goes, the table
 * forgets them; a later intern of equal text makes a new canonical one. */
static void test_intern_mortal(void) {
    tu_group g = tu_group_begin();
    pm_object *s = pm_str_from("ephemeral");
    pm_object *c = pm_str_intern(s);
    CHECK(c == s);
    CHECK_EQ(stats().interned, 1);
    pm_decref(c);
    pm_decref(s); /* gone */
    CHECK_EQ(stats().interned, 0);
    pm_object *t = pm_str_from("ephemeral");
    pm_object *ct = pm_str_intern(t);
    CHECK(ct == t); /* the fresh object is canonical now */
    CHECK_EQ(stats().interned, 1);
    pm_decref(ct);
    pm_decref(t);

    /* Many strings: drop every other one; the rest stay findable through
     * the probe runs the deletions rearranged, and the table shrinks. */
    enum { N = 5000 };
    static pm_object *keep[N];
    char key[32];
    for (int k = 0; k < N; k++) {
        snprintf(key, sizeof key, "key-%d", k);
        keep[k] = pm_str_id(key);
        CHECK(keep[k] != NULL);
    }
    CHECK_EQ(stats().interned, N);
    for (int k = 0; k < N; k += 2) pm_decref(keep[k]);
    CHECK_EQ(stats().interned, N / 2);
    uint64_t allocated = stats().objects_allocated;
    for (int k = 1; k < N; k += 2) {
        snprintf(key, sizeof key, "key-%d", k);
        pm_object *again = pm_str_id(key);
        CHECK(again == keep[k]);
        pm_decref(again);
    }
    CHECK_EQ(stats().objects_allocated, allocated); /* all hits */
    for (int k = 0; k < N; k += 2) {
        snprintf(key, sizeof key, "key-%d", k);
        keep[k] = pm_str_id(key); /* new canonical objects */
        CHECK(keep[k] && keep[k]->refcnt == 1);
    }
    CHECK_EQ(stats().interned, N);
    for (int k = 0; k < N; k++) pm_decref(keep[k]);
    CHECK_EQ(stats().interned, 0);
    CHECK(g.rt->interned != NULL);
    tu_group_end(&g, 0);
}

/* A string whose count reached zero but whose deallocation is deferred is
 * still in the table for a moment: a lookup must not revive it. */
static void test_intern_dying(void) {
    tu_group g = tu_group_begin();
    pm_object *s = pm_str_id("dying string");
    CHECK(s && s->refcnt == 1);
    s->refcnt = 0; /* what pm_dealloc sees for a queued object */
    pm_object *t = pm_str_id("dying string");
    CHECK(t != NULL && t != s);
    CHECK(!(s->flags & PM_OF_INTERNED)); /* dropped from the table */
    CHECK(t->flags & PM_OF_INTERNED);
    CHECK_EQ(stats().interned, 1);
    s->refcnt = 1;
    pm_decref(s); /* its dealloc finds nothing to forget */
    CHECK_EQ(stats().interned, 1);
    pm_object *u = pm_str_id("dying string");
    CHECK(u == t);
    pm_decref(u);
    pm_decref(t);
    CHECK_EQ(stats().interned, 0);
    tu_group_end(&g, 0);
}

static void test_intern_immortal(void) {
    tu_group g = tu_group_begin();
    pm_object *s = pm_str_from("forever");
    pm_object *c = pm_str_intern_immortal(s);
    CHECK(c == s);
    CHECK(pm_is_immortal(c));
    pm_decref(c);
    pm_decref(s);
    pm_decref(s);
    CHECK_EQ(stats().interned, 1);
    pm_object *d = pm_str_from("forever");
    pm_object *cd = pm_str_intern(d);
    CHECK(cd == s);
    pm_decref(d);
    pm_decref(cd);
    pm_object *id = pm_str_id("forever");
    CHECK(id == s);
    /* an already interned mortal string made immortal later */
    pm_object *m = pm_str_id("later");
    pm_object *im = pm_str_intern_immortal(m);
    CHECK(im == m && pm_is_immortal(m));
    CHECK_EQ(stats().interned, 2);
    tu_group_end(&g, 2); /* the two immortal strings live until the runtime goes */
}

/* ---- out of memory ------------------------------------------------------------------ */

typedef pm_object *(*oom_op)(void *arg);

static pm_object *op_from(void *arg) {
    (void)arg;
    return pm_str_from("a string long enough");
}
static pm_object *op_concat(void *arg) { return pm_str_concat(arg, arg); }
static pm_object *op_repr(void *arg) { return pm_repr(arg); }
static pm_object *op_format(void *arg) {
    (void)arg;
    return pm_str_format("%0300d", 7); /* past the stack buffer: a mem block */
}
static pm_object *op_id(void *arg) {
    (void)arg;
    return pm_str_id("an identifier");
}
static pm_object *op_intern(void *arg) {
    (void)arg;
    pm_object *s = pm_str_from("to intern"), *r = s ? pm_str_intern(s) : NULL;
    pm_xdecref(s);
    return r;
}
static pm_object *op_item(void *arg) {
    pm_object *i = pm_int(2), *r = pm_getitem(arg, i); /* U+20AC: a heap string */
    pm_decref(i);
    return r;
}
static pm_object *op_float(void *arg) {
    (void)arg;
    return pm_float(2.5);
}
static pm_object *op_float_repr(void *arg) {
    (void)arg;
    pm_object *f = pm_float(0.1), *r = f ? pm_repr(f) : NULL;
    pm_xdecref(f);
    return r;
}
static pm_object *op_int(void *arg) {
    (void)arg;
    return pm_int(123456);
}
static pm_object *op_int_add(void *arg) {
    (void)arg;
    pm_object *a = pm_int(1000), *r = a ? pm_int_add(a, a) : NULL;
    pm_xdecref(a);
    return r;
}
static pm_object *op_bytes(void *arg) {
    (void)arg;
    return pm_bytes_from("bytes!", 6);
}
static pm_object *op_bytes_repr(void *arg) {
    (void)arg;
    static char big[400];
    pm_object *b = pm_bytes_from(big, sizeof big), *r = b ? pm_repr(b) : NULL;
    pm_xdecref(b);
    return r;
}

/* Every allocation of every operation fails in turn: each failure is a
 * MemoryError with nothing leaked, and the table stays usable. */
static void test_out_of_memory(void) {
    pm_heap *h = pm_heap_new(NULL);
    static tu_failing f;
    tu_failing_install(&f, h);
    pm_runtime_config cfg = {.heap = h, .debug = 0};
    pm_runtime *rt = pm_runtime_new(&cfg);
    pm_runtime *prev = pm_runtime_enter(rt);
    pm_object *text = pm_str_from("x\xc3\xa9\xe2\x82\xac\n");
    struct {
        const char *name;
        oom_op op;
    } ops[] = {
        {"from", op_from},
        {"concat", op_concat},
        {"repr", op_repr},
        {"format", op_format},
        {"id", op_id},
        {"intern", op_intern},
        {"item", op_item},
        {"float", op_float},
        {"float repr", op_float_repr},
        {"int", op_int},
        {"int add", op_int_add},
        {"bytes", op_bytes},
        {"bytes repr", op_bytes_repr},
    };
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        for (long at = 0; at < 10; at++) {
            pm_runtime_clear_freelists(rt); /* floats must really allocate */
            int64_t live = tu_live_objects();
            tu_failing_arm(&f, at + 1, false); /* at calls succeed, the next fails */
            pm_object *r = ops[k].op(text);
            tu_failing_disarm(&f);
            if (r == NULL) {
                CHECK(f.failed == 1);
                if (!tu_raised(PM_EXC_MEMORY, "out of memory"))
                    fprintf(stderr, "  op %s\n", ops[k].name);
            } else {
                CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
                pm_decref(r);
            }
            CHECK_EQ(tu_live_objects(), live);
            if (at == 0) CHECK_EQ(f.failed, 1); /* every op allocates */
            if (f.failed == 0) break;           /* the op needs fewer allocations */
        }
    }
    /* Growing the intern table fails: the new string is dropped, the table
     * is unchanged and works. 32 entries fill the first table to half. */
    enum { FILL = 32 };
    pm_object *keep[FILL];
    char key[16];
    for (int k = 0; k < FILL; k++) {
        snprintf(key, sizeof key, "fill-%d", k);
        keep[k] = pm_str_id(key);
        CHECK(keep[k] != NULL);
    }
    pm_runtime_stats st;
    pm_runtime_get_stats(rt, &st);
    uint64_t interned = st.interned, live = tu_live_objects();
    tu_failing_arm(&f, 2, false); /* the string is allocated, the larger table is not */
    CHECK(pm_str_id("one too many") == NULL);
    tu_failing_disarm(&f);
    CHECK_EQ(f.failed, 1);
    CHECK(tu_raised(PM_EXC_MEMORY, NULL));
    pm_runtime_get_stats(rt, &st);
    CHECK_EQ(st.interned, interned);
    CHECK_EQ(tu_live_objects(), live);
    pm_object *a = pm_str_id("one too many"), *b = pm_str_id("one too many");
    CHECK(a && a == b);
    pm_xdecref(a);
    pm_xdecref(b);
    for (int k = 0; k < FILL; k++) {
        snprintf(key, sizeof key, "fill-%d", k);
        pm_object *again = pm_str_id(key);
        CHECK(again == keep[k]);
        pm_xdecref(again);
        pm_xdecref(keep[k]);
    }
    pm_decref(text);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    pm_runtime_enter(prev);
    pm_runtime_destroy(rt);
    pm_heap_destroy(h);
}

int main(void) {
    test_basic();
    test_static_chars();
    test_invalid_utf8();
    test_format_concat();
    test_repr();
    test_getitem_contains();
    test_compare_hash();
    test_intern_identity();
    test_intern_mortal();
    test_intern_dying();
    test_intern_immortal();
    test_out_of_memory();
    return tu_finish("test_obj_str");
}
