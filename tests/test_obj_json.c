/*
 * test_obj_json.c -- pm_json_loads and pm_json_dumps.
 *
 * Every grammar rule of RFC 8259 (accepted inputs checked through their
 * canonical dumps), every error with its line, column and message, the
 * RFC's own examples, round trips, U+0000, duplicate keys, the depth
 * limit, big numbers, the writer's formats and errors (the classic
 * corpora: test_obj_json_corpora.c). Each group uses a private runtime and
 * ends with every object freed.
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------------- */

static bool text_is(pm_object *s, const char *want) {
    if (s == NULL) return false;
    size_t n;
    const char *u = pm_str_utf8(s, &n);
    return u && n == strlen(want) && memcmp(u, want, n) == 0;
}

/* dumps(o, indent) equals want (o is borrowed). */
static void dumps_is(int line, pm_object *o, int indent, const char *want) {
    pm_object *s = pm_json_dumps(o, indent);
    if (!text_is(s, want)) {
        fprintf(stderr, "line %d: dumps gave '%s', want '%s' (%s)\n", line,
                s ? pm_str_utf8(s, NULL) : "NULL", want, pm_exc_message());
        tu_fail(__FILE__, line, "dumps");
        pm_exc_clear();
    }
    pm_xdecref(s);
}

/* loads(text) succeeds and its compact dumps equals want. */
static void ok_n(int line, const char *text, size_t n, const char *want) {
    pm_json_error err;
    pm_object *o = pm_json_loads(text, n, 0, &err);
    if (o == NULL) {
        fprintf(stderr, "line %d: loads failed: %s\n", line, pm_exc_message());
        tu_fail(__FILE__, line, "loads");
        pm_exc_clear();
        return;
    }
    dumps_is(line, o, -1, want);
    pm_decref(o);
}
#define OK(text, want) ok_n(__LINE__, text, strlen(text), want)
#define OKN(text, want) ok_n(__LINE__, text, sizeof(text) - 1, want)

/* loads(text) fails at line:col with message, a ValueError (or kind). */
static void bad_n(int line, const char *text, size_t n, size_t eline, size_t ecol, const char *msg,
                  pm_exc kind) {
    pm_json_error err;
    memset(&err, 0x55, sizeof err);
    pm_object *o = pm_json_loads(text, n, 0, &err);
    if (o != NULL) {
        fprintf(stderr, "line %d: loads accepted bad input\n", line);
        tu_fail(__FILE__, line, "accepted");
        pm_decref(o);
        return;
    }
    if (err.line != eline || err.col != ecol || strcmp(err.message, msg) != 0 ||
        pm_exc_occurred() != kind) {
        fprintf(stderr, "line %d: got %zu:%zu '%s' (%s), want %zu:%zu '%s' (%s)\n", line, err.line,
                err.col, err.message, pm_exc_name(pm_exc_occurred()), eline, ecol, msg,
                pm_exc_name(kind));
        tu_fail(__FILE__, line, "error");
    }
    /* The offset agrees with line and column. */
    size_t off = 0, l = 1, c = 1;
    for (; off < err.offset && off < n; off++) {
        if (text[off] == '\n') l++, c = 1;
        else c++;
    }
    CHECK(off == err.offset && l == err.line && c == err.col);
    pm_exc_clear();
}
#define BAD(text, l, c, msg) bad_n(__LINE__, text, strlen(text), l, c, msg, PM_EXC_VALUE)
#define BADN(text, l, c, msg) bad_n(__LINE__, text, sizeof(text) - 1, l, c, msg, PM_EXC_VALUE)

static pm_object *loads(const char *text) { return pm_json_loads(text, strlen(text), 0, NULL); }

/* ---- accepted input ----------------------------------------------------------- */

static void test_grammar(void) {
    tu_group g = tu_group_begin_env();
    /* Values at top level (RFC 8259 allows any). */
    OK("0", "0");
    OK("-0", "0");
    OK("7", "7");
    OK("-12", "-12");
    OK("1.5", "1.5");
    OK("-1.5e3", "-1500.0");
    OK("1E2", "100.0");
    OK("1e+2", "100.0");
    OK("1e-2", "0.01");
    OK("0.0", "0.0");
    OK("-0.0", "-0.0");
    OK("0e0", "0.0");
    OK("10.25E-1", "1.025");
    OK("true", "true");
    OK("false", "false");
    OK("null", "null");
    OK("\"\"", "\"\"");
    OK("\"abc\"", "\"abc\"");
    OK("[]", "[]");
    OK("{}", "{}");
    /* Whitespace: space, tab, LF, CR, anywhere between tokens. */
    OK(" \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n", "[1, 2]");
    OK(" { \"a\" : 1 , \"b\" : [ ] } ", "{\"a\": 1, \"b\": []}");
    OK("\n\n42\n\n", "42");
    /* Nesting. */
    OK("{\"a\":{\"b\":[1,{\"c\":null}]},\"d\":[[],[[]],{}]}",
       "{\"a\": {\"b\": [1, {\"c\": null}]}, \"d\": [[], [[]], {}]}");
    OK("[1,\"two\",3.0,true,false,null,[4],{\"5\":6}]",
       "[1, \"two\", 3.0, true, false, null, [4], {\"5\": 6}]");
    /* Every escape. dumps writes '/' plain and the others escaped. */
    OK("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\b\\f\\n\\r\\t\"");
    OK("\"\\u0041\\u00e9\\u00E9\\u20AC\"", "\"A\\u00e9\\u00e9\\u20ac\"");
    OK("\"\\ud83d\\ude00\"", "\"\\ud83d\\ude00\"");
    OK("\"\\uD834\\uDD1E x\"", "\"\\ud834\\udd1e x\"");
    OK("\"\\u001f\\u007f\"", "\"\\u001f\x7f\"");
    /* Raw UTF-8 of every length; dumps escapes it (ensure_ascii). */
    OK("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\"\\u00e9\\u20ac\\ud83d\\ude00\"");
    OK("\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"", "\"\\uffff\\udbff\\udfff\"");
    OK("\"a\xc2\x80z\"", "\"a\\u0080z\"");
    /* A long string with an escape far from its start, and a long plain one. */
    {
        char big[3000];
        size_t n = 0;
        big[n++] = '"';
        for (int i = 0; i < 2000; i++) big[n++] = (char)('a' + i % 26);
        memcpy(big + n, "\\n\"", 3);
        n += 3;
        pm_object *o = pm_json_loads(big, n, 0, NULL);
        CHECK(o && pm_str_length(o) == 2001);
        pm_xdecref(o);
        o = pm_json_loads(big, 2001, 0, NULL); /* unterminated */
        CHECK(o == NULL);
        pm_exc_clear();
    }
    tu_group_end(&g, 0);
}

/* The reader counts code points as it checks the text (the str is made
 * without a second check): lengths of plain, escaped and mixed strings. */
static void test_lengths(void) {
    tu_group g = tu_group_begin_env();
    static const struct {
        const char *json;
        int64_t length;
    } cases[] = {
        {"\"\"", 0},
        {"\"abc\"", 3},
        {"\"\xc3\xa9\"", 1},
        {"\"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z\"", 5},
        {"\"\\u00e9\"", 1},
        {"\"\\ud83d\\ude00\"", 1},
        {"\"a\\n\\u20ac\xc3\xa9\\ud83d\\ude00\xf0\x9f\x98\x80\\u0000b\"", 8},
        {"\"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\\t"
         "\"",
         8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pm_object *o = loads(cases[i].json);
        CHECK(o != NULL);
        if (o) {
            if (pm_str_length(o) != cases[i].length)
                fprintf(stderr, "%s: length %lld, want %lld\n", cases[i].json,
                        (long long)pm_str_length(o), (long long)cases[i].length);
            CHECK_EQ(pm_str_length(o), cases[i].length);
            /* The same text through the checking constructor agrees. */
            size_t n;
            const char *u = pm_str_utf8(o, &n);
            pm_object *again = pm_str_from_len(u, n);
            CHECK(again && pm_equal(again, o) == 1 && pm_str_length(again) == pm_str_length(o));
            pm_xdecref(again);
            pm_decref(o);
        }
        pm_exc_clear();
    }
    tu_group_end(&g, 0);
}

/* The string scanner reads eight bytes at a time and finds the first
 * special byte of a word by bit arithmetic: a quote, a backslash, a
 * control character or a non-ASCII byte at every offset of the first two
 * words, after plain text, must be found exactly. */
static void test_special_at_every_offset(void) {
    tu_group g = tu_group_begin_env();
    static const char *const specials[] = {"\"", "\\n", "\xc3\xa9", "\x01"};
    static const int64_t extra_len[] = {0, 1, 1, -1}; /* -1: an error */
    for (size_t k = 0; k < 4; k++) {
        for (int at = 0; at < 17; at++) {
            char json[64];
            int n = snprintf(json, sizeof json, "\"%.*s%s%s", at, "abcdefghijklmnopqrstuvwxyz",
                             specials[k], k == 0 ? "" : "xyzxyzxyz\"");
            CHECK(n > 0 && (size_t)n < sizeof json);
            pm_object *o = loads(json);
            if (extra_len[k] < 0) {
                CHECK(o == NULL && pm_exc_occurred() != PM_EXC_NONE);
            } else {
                int64_t want = at + (k == 0 ? 0 : extra_len[k] + 9);
                CHECK(o != NULL && pm_str_length(o) == want);
            }
            pm_xdecref(o);
            pm_exc_clear();
        }
    }
    tu_group_end(&g, 0);
}

static void test_nul(void) {
    tu_group g = tu_group_begin_env();
    pm_object *o = loads("\"a\\u0000b\"");
    CHECK(o != NULL);
    size_t n;
    const char *u = pm_str_utf8(o, &n);
    CHECK(n == 3 && memcmp(u, "a\0b", 3) == 0);
    CHECK_EQ(pm_str_length(o), 3);
    dumps_is(__LINE__, o, -1, "\"a\\u0000b\"");
    pm_decref(o);
    o = loads("\"\\u0000\"");
    CHECK(o && pm_str_length(o) == 1);
    pm_xdecref(o);
    /* As a key, too. */
    o = loads("{\"\\u0000\": 1, \"k\\u0000\": 2}");
    CHECK(o && pm_dict_size(o) == 2);
    dumps_is(__LINE__, o, -1, "{\"\\u0000\": 1, \"k\\u0000\": 2}");
    pm_xdecref(o);
    /* A NUL byte in the input: an error everywhere (outside or inside a string). */
    BADN("[1,\0]", 1, 4, "Expecting value");
    BADN("\"a\0\"", 1, 3, "Invalid control character at");
    BADN("1\0", 1, 2, "Extra data");
    tu_group_end(&g, 0);
}

static void test_duplicate_keys(void) {
    tu_group g = tu_group_begin_env();
    /* Last wins; the key keeps its first position (a dict update). */
    OK("{\"a\":1,\"b\":2,\"a\":3}", "{\"a\": 3, \"b\": 2}");
    OK("{\"a\":[1],\"a\":{\"x\":1},\"a\":null}", "{\"a\": null}");
    OK("{\"\\u0061\":1,\"a\":2}", "{\"a\": 2}");
    /* The replaced values were in the value and number caches (which
     * borrow their objects): they must stay alive until the load ends,
     * and a later equal text gets a live object (ASan checks). */
    OK("[{\"a\":[12.5,\"xyz\",\"uvw\",123456],\"a\":0},12.5,\"xyz\",[\"uvw\",123456]]",
       "[{\"a\": 0}, 12.5, \"xyz\", [\"uvw\", 123456]]");
    /* An object of the loader (a table sized exactly) grows, and takes a
     * key that is not a str (its table turns general). */
    pm_object *d = loads("{\"k1\":1,\"k2\":2,\"k3\":3}");
    CHECK(d != NULL && pm_dict_size(d) == 3);
    char key[16];
    for (int i = 4; d && i <= 40; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK_EQ(pm_dict_set_str(d, key, pm_none()), 0);
    }
    pm_object *big = pm_int(1000000), *v = pm_str_from("int key");
    CHECK(d && pm_dict_set(d, big, v) == 0);
    for (int i = 1; d && i <= 40; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(pm_dict_get_str(d, key) != NULL);
    }
    CHECK(d && pm_dict_get(d, big) == v && pm_dict_size(d) == 41);
    size_t pos = 0;
    pm_object *k, *first = NULL;
    CHECK(d && pm_dict_next(d, &pos, &first, NULL) && strcmp(pm_str_utf8(first, NULL), "k1") == 0);
    while (d && pm_dict_next(d, &pos, &k, NULL)) first = k;
    CHECK(first == big); /* order kept through both rebuilds */
    pm_xdecref(d);
    pm_decref(big);
    pm_decref(v);
    tu_group_end(&g, 0);
}

static void test_numbers(void) {
    tu_group g = tu_group_begin_env();
    OK("9223372036854775807", "9223372036854775807");
    OK("-9223372036854775808", "-9223372036854775808");
    /* Beyond int64: a float (Python would make a big int). */
    OK("9223372036854775808", "9.223372036854776e+18");
    OK("-9223372036854775809", "-9.223372036854776e+18");
    OK("18446744073709551616", "1.8446744073709552e+19");
    OK("123456789012345678901234567890", "1.2345678901234568e+29");
    OK("1e400", "Infinity");
    OK("-1e400", "-Infinity");
    OK("1e-400", "0.0");
    OK("1e999999999999999999999", "Infinity");
    OK("5e-324", "5e-324");
    OK("2.2250738585072014e-308", "2.2250738585072014e-308");
    OK("1.7976931348623157e308", "1.7976931348623157e+308");
    OK("0.1", "0.1");
    OK("0.30000000000000004", "0.30000000000000004");
    OK("1e16", "1e+16");
    OK("1e15", "1000000000000000.0");
    OK("0.0001", "0.0001");
    OK("0.00001", "1e-05");
    OK("123456789.125", "123456789.125");
    OK("[256,257,-5,-6,1000,1000]", "[256, 257, -5, -6, 1000, 1000]");
    /* An integer type check: small ints and big ints are ints, 1.0 a float. */
    pm_object *o = loads("[1, 300, 1.0, 9223372036854775807]");
    CHECK(pm_is_type(pm_list_get(o, 0), &pm_int_type));
    CHECK(pm_is_type(pm_list_get(o, 1), &pm_int_type));
    CHECK(pm_is_type(pm_list_get(o, 2), &pm_float_type));
    CHECK(pm_is_type(pm_list_get(o, 3), &pm_int_type));
    pm_decref(o);
    o = loads("-0.0");
    double d = 1;
    CHECK(pm_float_value(o, &d) == 0 && d == 0.0 && signbit(d));
    pm_decref(o);
    /* A 2000-digit number (strtod's copy goes to the heap). */
    char big[2100] = "1";
    for (int i = 1; i < 2000; i++) big[i] = '0';
    strcpy(big + 2000, ".5");
    OK(big, "Infinity");
    tu_group_end(&g, 0);
}

/* Every number text reads as strtod reads it (the reader has an exact fast
 * path for most floats: ties, long mantissas and exponents at its edges). */
static void float_is_strtod(const char *text) {
    pm_object *o = loads(text);
    double got = 0, want = strtod(text, NULL);
    if (o == NULL || pm_float_value(o, &got) != 0 || memcmp(&got, &want, sizeof got) != 0) {
        fprintf(stderr, "'%s': got %.17g, strtod %.17g\n", text, got, want);
        tu_fail(__FILE__, __LINE__, "float");
    }
    pm_exc_clear();
    pm_xdecref(o);
}

static void test_floats_exact(void) {
    tu_group g = tu_group_begin_env();
    static const char *const cases[] = {
        "9007199254740993",
        "9007199254740995",
        "9007199254740993.0",
        "9007199254740992.5",
        "18014398509481987",
        "18014398509481986",
        "9223372036854775807.0",
        "9999999999999999999",
        "9999999999999999999e19",
        "1e19",
        "1e-19",
        "0.1",
        "0.2",
        "0.3",
        "1.5",
        "123.456",
        "-65.613616999999977",
        "43.420273000000009",
        "0.000001",
        "1e-7",
        "4.35",
        "2.675",
        "1.0000000000000002",
        "1.00000000000000011102230246251565404",
        "0.9999999999999999",
        "0.99999999999999994448884876874217297882",
        "5e-324",
        "2.2250738585072011e-308",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "8.988465674311579e307",
        "123456789012345678e-17",
        "1234567890123456789e-19",
        "1234567890123456789e19",
        "0.000000000000000000001234",
        "3.0e-20",
        "7e22",
        "7e23",
        "-0.0",
        "0.0e5",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) float_is_strtod(cases[i]);
    /* Random ones: 1 to 21 digits, a point somewhere, an exponent or not. */
    uint64_t st = 99;
    char text[80];
    for (int i = 0; i < 200000; i++) {
        size_t n = 0;
        if (tu_rand(&st) & 1) text[n++] = '-';
        int ndig = 1 + (int)(tu_rand(&st) % 21), point = (int)(tu_rand(&st) % (uint64_t)(ndig + 1));
        for (int k = 0; k < ndig; k++) {
            int d = (int)(tu_rand(&st) % 10);
            if (k == 0 && d == 0 && point != 1)
                d = 1 + (int)(tu_rand(&st) % 9); /* no leading zero */
            if (k == point && k > 0) text[n++] = '.';
            text[n++] = (char)('0' + d);
        }
        if (point == 0 && ndig > 1) { /* "0.ddd" */
            memmove(text + n - ndig + 2, text + n - ndig, (size_t)ndig);
            text[n - ndig] = '0';
            text[n - ndig + 1] = '.';
            n += 2;
        }
        if (tu_rand(&st) % 3 == 0)
            n += (size_t)sprintf(text + n, "e%d", (int)(tu_rand(&st) % 60) - 30);
        text[n] = '\0';
        if (strchr(text, '.') == NULL && strchr(text, 'e') == NULL) strcat(text, ".0");
        float_is_strtod(text);
    }
    tu_group_end(&g, 0);
}

/* Equal texts share one object (the per-call cache): keys and values. */
static void test_sharing(void) {
    tu_group g = tu_group_begin_env();
    pm_object *o = loads("[\"abc\", \"abc\", 1000, 1000, 2.5, 2.5, {\"key\": 1}, {\"key\": 2}]");
    CHECK(pm_list_get(o, 0) == pm_list_get(o, 1));
    CHECK(pm_list_get(o, 2) == pm_list_get(o, 3));
    CHECK(pm_list_get(o, 4) == pm_list_get(o, 5));
    size_t p1 = 0, p2 = 0;
    pm_object *k1 = NULL, *k2 = NULL, *v;
    CHECK(pm_dict_next(pm_list_get(o, 6), &p1, &k1, &v) &&
          pm_dict_next(pm_list_get(o, 7), &p2, &k2, &v));
    CHECK(k1 == k2);
    pm_decref(o);
    /* Keys are memoized exactly: 60 distinct keys in 30 objects, one str
     * each (texts that differ only at the end included). */
    char *doc = malloc(100000);
    size_t n = 0;
    n += (size_t)sprintf(doc + n, "[");
    for (int i = 0; i < 30; i++) {
        n += (size_t)sprintf(doc + n, "%s{", i ? "," : "");
        for (int k = 0; k < 60; k++)
            n += (size_t)sprintf(doc + n, "%s\"key_%02d\":%d", k ? "," : "", k, k);
        n += (size_t)sprintf(doc + n, "}");
    }
    n += (size_t)sprintf(doc + n, "]");
    o = pm_json_loads(doc, n, 0, NULL);
    CHECK(o != NULL);
    for (int i = 1; o && i < 30; i++) {
        size_t pa = 0, pb = 0;
        pm_object *ka, *kb, *va, *vb;
        while (pm_dict_next(pm_list_get(o, 0), &pa, &ka, &va) &&
               pm_dict_next(pm_list_get(o, i), &pb, &kb, &vb))
            CHECK(ka == kb);
    }
    pm_xdecref(o);
    /* Numbers that differ only in their last digit, alternating: shared
     * (a cache slot chosen from the first bytes only would thrash). */
    n = 0;
    n += (size_t)sprintf(doc + n, "[");
    for (int i = 0; i < 400; i++)
        n += (size_t)sprintf(doc + n, "%s2057060%02d", i ? "," : "", i % 20);
    n += (size_t)sprintf(doc + n, "]");
    o = pm_json_loads(doc, n, 0, NULL);
    int shared = 0;
    for (int i = 20; o && i < 400; i++) shared += pm_list_get(o, i) == pm_list_get(o, i % 20);
    CHECK(shared >= 360); /* a chance collision may cost a few */
    pm_xdecref(o);
    free(doc);
    /* Floats that repeat at once (hits: the number cache grows) and again
     * 30,000 values later, which a grown cache still shares. */
    doc = malloc(40000 * 2 * 16 + 16);
    n = (size_t)sprintf(doc, "[");
    for (int i = 0; i < 40000; i++)
        for (int twice = 0; twice < 2; twice++)
            n += (size_t)sprintf(doc + n, "%s%d.%d", i || twice ? "," : "", i % 30000,
                                 i % 30000 % 7 + 1);
    n += (size_t)sprintf(doc + n, "]");
    o = pm_json_loads(doc, n, 0, NULL);
    CHECK(o != NULL);
    shared = 0;
    for (int i = 30000; o && i < 40000; i++) {
        double a, b;
        CHECK(pm_float_value(pm_list_get(o, 2 * i), &a) == 0);
        CHECK(pm_float_value(pm_list_get(o, 2 * (i - 30000)), &b) == 0 && a == b);
        shared += pm_list_get(o, 2 * i) == pm_list_get(o, 2 * (i - 30000));
    }
    CHECK(shared > 2500); /* about half: slots collide; 1024 fixed slots: none */
    pm_xdecref(o);
    free(doc);
    tu_group_end(&g, 0);
}

/* ---- errors ---------------------------------------------------------------------- */

static void test_errors(void) {
    tu_group g = tu_group_begin_env();
    BAD("", 1, 1, "Expecting value");
    BAD("   ", 1, 4, "Expecting value");
    BAD("[", 1, 2, "Expecting value");
    BAD("[1", 1, 3, "Expecting ',' delimiter");
    BAD("[1,", 1, 4, "Expecting value");
    BAD("[1,]", 1, 4, "Expecting value");
    BAD("[,1]", 1, 2, "Expecting value");
    BAD("[1 2]", 1, 4, "Expecting ',' delimiter");
    BAD("[1:2]", 1, 3, "Expecting ',' delimiter");
    BAD("[1}", 1, 3, "Expecting ',' delimiter");
    BAD("{", 1, 2, "Expecting property name enclosed in double quotes");
    BAD("{\"a\"", 1, 5, "Expecting ':' delimiter");
    BAD("{\"a\" 1}", 1, 6, "Expecting ':' delimiter");
    BAD("{\"a\":", 1, 6, "Expecting value");
    BAD("{\"a\":}", 1, 6, "Expecting value");
    BAD("{\"a\":1", 1, 7, "Expecting ',' delimiter");
    BAD("{\"a\":1,}", 1, 8, "Expecting property name enclosed in double quotes");
    BAD("{\"a\":1 \"b\":2}", 1, 8, "Expecting ',' delimiter");
    BAD("{\"a\":1]", 1, 7, "Expecting ',' delimiter");
    BAD("{1:2}", 1, 2, "Expecting property name enclosed in double quotes");
    BAD("{'a':2}", 1, 2, "Expecting property name enclosed in double quotes");
    BAD("{,}", 1, 2, "Expecting property name enclosed in double quotes");
    BAD("]", 1, 1, "Expecting value");
    BAD("}", 1, 1, "Expecting value");
    /* Strings. */
    BAD("\"abc", 1, 1, "Unterminated string starting at");
    BAD("[\"abc", 1, 2, "Unterminated string starting at");
    BAD("\"a\\", 1, 3, "Invalid \\escape");
    BAD("\"a\\\"", 1, 1, "Unterminated string starting at");
    BAD("\"a\x01\"", 1, 3, "Invalid control character at");
    BAD("\"a\x1f\"", 1, 3, "Invalid control character at");
    BAD("\"a\tb\"", 1, 3, "Invalid control character at");
    BAD("\"a\nb\"", 1, 3, "Invalid control character at");
    BAD("\"\\x\"", 1, 2, "Invalid \\escape");
    BAD("\"\\a\"", 1, 2, "Invalid \\escape");
    BAD("\"\\U0041\"", 1, 2, "Invalid \\escape");
    BAD("\"\\u12\"", 1, 2, "Invalid \\uXXXX escape");
    BAD("\"\\u12G4\"", 1, 2, "Invalid \\uXXXX escape");
    BAD("\"ab\\u123", 1, 4, "Invalid \\uXXXX escape");
    BAD("\"\\ud800\"", 1, 2, "Invalid \\uXXXX escape: lone surrogate");
    BAD("\"\\udc00\"", 1, 2, "Invalid \\uXXXX escape: lone surrogate");
    BAD("\"\\ud800\\u0041\"", 1, 2, "Invalid \\uXXXX escape: lone surrogate");
    BAD("\"\\ud800\\ud800\"", 1, 2, "Invalid \\uXXXX escape: lone surrogate");
    BAD("\"x\\udfff\\ud800\"", 1, 3, "Invalid \\uXXXX escape: lone surrogate");
    BAD("\"\\ud800x\"", 1, 2, "Invalid \\uXXXX escape: lone surrogate");
    /* Invalid UTF-8, raw or after an escape. */
    BAD("\"\xff\"", 1, 2, "Invalid UTF-8 byte 0xff in string");
    BAD("\"ab\x80\"", 1, 4, "Invalid UTF-8 byte 0x80 in string");
    BAD("\"\xc0\x80\"", 1, 2, "Invalid UTF-8 byte 0xc0 in string");
    BAD("\"\xc1\xbf\"", 1, 2, "Invalid UTF-8 byte 0xc1 in string");
    BAD("\"\xe0\x80\x80\"", 1, 2, "Invalid UTF-8 byte 0xe0 in string");
    BAD("\"\xed\xa0\x80\"", 1, 2, "Invalid UTF-8 byte 0xed in string");
    BAD("\"\xf0\x80\x80\x80\"", 1, 2, "Invalid UTF-8 byte 0xf0 in string");
    BAD("\"\xf4\x90\x80\x80\"", 1, 2, "Invalid UTF-8 byte 0xf4 in string");
    BAD("\"\xf5\x80\x80\x80\"", 1, 2, "Invalid UTF-8 byte 0xf5 in string");
    BAD("\"\xe2\x82\"", 1, 2, "Invalid UTF-8 byte 0xe2 in string");
    BAD("\"\xe2\x82", 1, 2, "Invalid UTF-8 byte 0xe2 in string");
    BAD("\"\\n\xe2\x28\xa1\"", 1, 4, "Invalid UTF-8 byte 0xe2 in string");
    BAD("\xef\xbb\xbf[]", 1, 1, "Expecting value"); /* a BOM is not JSON */
    BAD("[\xc3\xa9]", 1, 2, "Expecting value");
    /* Literals and numbers. */
    BAD("tru", 1, 1, "Expecting value");
    BAD("nul", 1, 1, "Expecting value");
    BAD("fals", 1, 1, "Expecting value");
    BAD("True", 1, 1, "Expecting value");
    BAD("truex", 1, 5, "Extra data");
    /* NaN, Infinity, -Infinity: test_obj_json_nan.c (read by default, as
     * Python's json; rejected with PM_JSON_STRICT). */
    BAD("01", 1, 2, "Extra data");
    BAD("-01", 1, 3, "Extra data");
    BAD("1.", 1, 2, "Extra data");
    BAD("1.e5", 1, 2, "Extra data");
    BAD("1e", 1, 2, "Extra data");
    BAD("1e+", 1, 2, "Extra data");
    BAD("[1.]", 1, 3, "Expecting ',' delimiter");
    BAD("-", 1, 1, "Expecting value");
    BAD("-a", 1, 1, "Expecting value");
    BAD("+1", 1, 1, "Expecting value");
    BAD(".5", 1, 1, "Expecting value");
    BAD("0x10", 1, 2, "Extra data");
    /* Trailing data. */
    BAD("[1]x", 1, 4, "Extra data");
    BAD("{}{}", 1, 3, "Extra data");
    BAD("1 2", 1, 3, "Extra data");
    BAD("\"a\" \"b\"", 1, 5, "Extra data");
    BAD("[] \f", 1, 4, "Extra data"); /* form feed is not JSON whitespace */
    BAD("\v1", 1, 1, "Expecting value");
    /* Lines and columns (columns in bytes, from 1). */
    BAD("[\n  1,\n  x\n]", 3, 3, "Expecting value");
    BAD("{\n\"a\": 1,\n\n\"b\" 2}", 4, 5, "Expecting ':' delimiter");
    BAD("\n\n\"\t\"", 3, 2, "Invalid control character at");
    BAD("[\"\xc3\xa9\xc3\xa9\", x]", 1, 10, "Expecting value");
    BAD("\r\n[", 2, 2, "Expecting value"); /* CR is not a line break */
    /* The exception's text is Python's. */
    CHECK(pm_json_loads("[1,]", 4, 0, NULL) == NULL);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_VALUE);
    CHECK(strcmp(pm_exc_message(), "Expecting value: line 1 column 4 (char 3)") == 0);
    pm_exc_clear();
    CHECK(pm_json_loads("\n  \"x", 5, 0, NULL) == NULL);
    CHECK(strcmp(pm_exc_message(), "Unterminated string starting at: line 2 column 3 (char 3)") ==
          0);
    pm_exc_clear();
    /* NULL text. */
    pm_json_error err;
    CHECK(pm_json_loads(NULL, 0, 0, &err) == NULL && err.line == 1 && err.col == 1);
    pm_exc_clear();
    CHECK(pm_json_loads(NULL, 5, 0, &err) == NULL);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_TYPE);
    pm_exc_clear();
    tu_group_end(&g, 0);
}

/* ---- depth ----------------------------------------------------------------------- */

static char *nested(size_t depth, const char *open, const char *close) {
    size_t lo = strlen(open), lc = strlen(close);
    char *s = malloc(depth * (lo + lc) + 1);
    for (size_t i = 0; i < depth; i++) memcpy(s + i * lo, open, lo);
    for (size_t i = 0; i < depth; i++) memcpy(s + depth * lo + i * lc, close, lc);
    s[depth * (lo + lc)] = '\0';
    return s;
}

static void test_depth(void) {
    tu_group g = tu_group_begin_env();
    pm_json_error err;
    char *s = nested(512, "[", "]");
    pm_object *o = pm_json_loads(s, strlen(s), 0, &err);
    CHECK(o != NULL);
    pm_xdecref(o);
    free(s);
    s = nested(513, "[", "]");
    CHECK(pm_json_loads(s, strlen(s), 0, &err) == NULL);
    CHECK(err.line == 1 && err.col == 513 && strcmp(err.message, "nesting too deep") == 0);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_RECURSION);
    pm_exc_clear();
    free(s);
    /* Objects count as well as arrays. */
    s = nested(300, "{\"k\":[", "]}");
    CHECK(pm_json_loads(s, strlen(s), 0, &err) == NULL && err.col == 1 + 6 * 256);
    pm_exc_clear();
    o = pm_json_loads(s, strlen(s), 600, &err);
    CHECK(o != NULL);
    pm_xdecref(o);
    free(s);
    /* A small limit. */
    o = pm_json_loads("[[[]]]", 6, 3, &err);
    CHECK(o != NULL);
    pm_xdecref(o);
    CHECK(pm_json_loads("[[[[]]]]", 8, 3, &err) == NULL && err.col == 4);
    pm_exc_clear();
    CHECK(pm_json_loads("[1, {\"a\": [2]}]", 15, 2, &err) == NULL && err.col == 11);
    pm_exc_clear();
    /* Negative means the default. */
    o = pm_json_loads("[[1]]", 5, -1, &err);
    CHECK(o != NULL);
    pm_xdecref(o);
    /* Very deep, with a limit that allows it: no C recursion anywhere (the
     * reader, the writer, the deallocation). */
    size_t deep = 200000;
    s = nested(deep, "[", "]");
    o = pm_json_loads(s, strlen(s), (int)deep, &err);
    CHECK(o != NULL);
    if (o) {
        pm_object *out = pm_json_dumps(o, -1);
        CHECK(text_is(out, s));
        pm_xdecref(out);
        pm_decref(o);
    }
    free(s);
    /* A deep error: everything half-built is released. */
    s = malloc(1000 * 12 + 2);
    size_t len = 0;
    for (int k = 0; k < 1000; k++) len += (size_t)sprintf(s + len, "[1, {\"a\": ");
    s[len++] = '0';
    for (int k = 0; k < 1000; k++) len += (size_t)sprintf(s + len, "}]");
    s[len - 1] = 'x';
    CHECK(pm_json_loads(s, strlen(s), 5000, &err) == NULL &&
          strcmp(err.message, "Expecting ',' delimiter") == 0);
    pm_exc_clear();
    free(s);
    tu_group_end(&g, 0);
}

/* ---- RFC 8259's examples (section 13) ------------------------------------------------ */

static const char rfc_image[] = "{\n"
                                "  \"Image\": {\n"
                                "    \"Width\":  800,\n"
                                "    \"Height\": 600,\n"
                                "    \"Title\":  \"View from 15th Floor\",\n"
                                "    \"Thumbnail\": {\n"
                                "      \"Url\":    \"http://www.example.com/image/481989943\",\n"
                                "      \"Height\": 125,\n"
                                "      \"Width\":  100\n"
                                "    },\n"
                                "    \"Animated\" : false,\n"
                                "    \"IDs\": [116, 943, 234, 38793]\n"
                                "  }\n"
                                "}\n";

static const char rfc_places[] = "[\n"
                                 "  {\n"
                                 "     \"precision\": \"zip\",\n"
                                 "     \"Latitude\":  37.7668,\n"
                                 "     \"Longitude\": -122.3959,\n"
                                 "     \"Address\":   \"\",\n"
                                 "     \"City\":      \"SAN FRANCISCO\",\n"
                                 "     \"State\":     \"CA\",\n"
                                 "     \"Zip\":       \"94107\",\n"
                                 "     \"Country\":   \"US\"\n"
                                 "  },\n"
                                 "  {\n"
                                 "     \"precision\": \"zip\",\n"
                                 "     \"Latitude\":  37.371991,\n"
                                 "     \"Longitude\": -122.026020,\n"
                                 "     \"Address\":   \"\",\n"
                                 "     \"City\":      \"SUNNYVALE\",\n"
                                 "     \"State\":     \"CA\",\n"
                                 "     \"Zip\":       \"94085\",\n"
                                 "     \"Country\":   \"US\"\n"
                                 "  }\n"
                                 "]\n";

static void test_rfc_examples(void) {
    tu_group g = tu_group_begin_env();
    OK(rfc_image,
       "{\"Image\": {\"Width\": 800, \"Height\": 600, \"Title\": \"View from 15th Floor\", "
       "\"Thumbnail\": {\"Url\": \"http://www.example.com/image/481989943\", \"Height\": 125, "
       "\"Width\": 100}, \"Animated\": false, \"IDs\": [116, 943, 234, 38793]}}");
    OK(rfc_places,
       "[{\"precision\": \"zip\", \"Latitude\": 37.7668, \"Longitude\": -122.3959, \"Address\": "
       "\"\", "
       "\"City\": \"SAN FRANCISCO\", \"State\": \"CA\", \"Zip\": \"94107\", \"Country\": \"US\"}, "
       "{\"precision\": \"zip\", \"Latitude\": 37.371991, \"Longitude\": -122.02602, \"Address\": "
       "\"\", "
       "\"City\": \"SUNNYVALE\", \"State\": \"CA\", \"Zip\": \"94085\", \"Country\": \"US\"}]");
    OK("\"Hello world!\"", "\"Hello world!\"");
    OK("42", "42");
    OK("true", "true");
    /* Reach into the first one. */
    pm_object *o = loads(rfc_image);
    pm_object *img = pm_dict_get_str(o, "Image");
    pm_object *ids = img ? pm_dict_get_str(img, "IDs") : NULL;
    int64_t v = 0;
    CHECK(ids && pm_list_size(ids) == 4 && pm_int_value(pm_list_get(ids, 3), &v) == 0 &&
          v == 38793);
    pm_decref(o);
    tu_group_end(&g, 0);
}

/* ---- dumps ------------------------------------------------------------------------- */

static void test_dumps(void) {
    tu_group g = tu_group_begin_env();
    pm_object *o =
        loads("{\"a\": [1, 2.5, \"x\"], \"b\": {\"c\": null, \"d\": []}, \"e\": {}, \"f\": true}");
    dumps_is(__LINE__, o, -1,
             "{\"a\": [1, 2.5, \"x\"], \"b\": {\"c\": null, \"d\": []}, \"e\": {}, \"f\": true}");
    dumps_is(__LINE__, o, 2,
             "{\n  \"a\": [\n    1,\n    2.5,\n    \"x\"\n  ],\n  \"b\": {\n    \"c\": null,\n"
             "    \"d\": []\n  },\n  \"e\": {},\n  \"f\": true\n}");
    dumps_is(__LINE__, o, 0,
             "{\n\"a\": [\n1,\n2.5,\n\"x\"\n],\n\"b\": {\n\"c\": null,\n\"d\": []\n},\n\"e\": "
             "{},\n\"f\": true\n}");
    pm_decref(o);
    /* Scalars at top level. */
    pm_object *s =
        pm_str_from("tab\there \"q\" back\\slash \x1f \x7f caf\xc3\xa9 \xf0\x9f\x98\x80");
    dumps_is(__LINE__, s, -1,
             "\"tab\\there \\\"q\\\" back\\\\slash \\u001f \x7f caf\\u00e9 \\ud83d\\ude00\"");
    dumps_is(__LINE__, s, 4,
             "\"tab\\there \\\"q\\\" back\\\\slash \\u001f \x7f caf\\u00e9 \\ud83d\\ude00\"");
    pm_decref(s);
    pm_object *n = pm_none(), *t = pm_bool(1), *f = pm_bool(0),
              *i = pm_int(-9223372036854775807 - 1);
    dumps_is(__LINE__, n, -1, "null");
    dumps_is(__LINE__, t, -1, "true");
    dumps_is(__LINE__, f, -1, "false");
    dumps_is(__LINE__, i, -1, "-9223372036854775808");
    pm_decref(i);
    /* Floats like repr(); NaN and infinities like json.dumps. */
    const double vals[] = {0.1,     -2.5, 1e16,     1e15,      1e-5, 1e-4, 1e22,   1e100, 1.5e-7,
                           123.456, NAN,  INFINITY, -INFINITY, -0.0, 0.0,  5e-324, 1e-310};
    const char *want[] = {"0.1",       "-2.5",    "1e+16", "1000000000000000.0",
                          "1e-05",     "0.0001",  "1e+22", "1e+100",
                          "1.5e-07",   "123.456", "NaN",   "Infinity",
                          "-Infinity", "-0.0",    "0.0",   "5e-324",
                          "1e-310"};
    for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) {
        pm_object *x = pm_float(vals[k]);
        dumps_is(__LINE__, x, -1, want[k]);
        pm_decref(x);
    }
    /* Tuples are arrays; keys of other scalar types are converted. */
    pm_object *one = pm_int(1), *two = pm_float(2.5);
    pm_object *tup = pm_tuple_pack(3, one, two, n);
    dumps_is(__LINE__, tup, -1, "[1, 2.5, null]");
    pm_object *d = pm_dict_new();
    pm_dict_set(d, one, tup);
    pm_dict_set(d, two, one);
    pm_dict_set(d, f, one);
    pm_dict_set(d, n, one);
    dumps_is(__LINE__, d, -1, "{\"1\": [1, 2.5, null], \"2.5\": 1, \"false\": 1, \"null\": 1}");
    pm_dict_set(d, t, two); /* True == 1: the value of key 1 changes, as in Python */
    dumps_is(__LINE__, d, -1, "{\"1\": 2.5, \"2.5\": 1, \"false\": 1, \"null\": 1}");
    pm_object *dt = pm_dict_new();
    pm_dict_set(dt, t, n);
    dumps_is(__LINE__, dt, -1, "{\"true\": null}");
    pm_decref(dt);
    pm_object *empty_t = pm_tuple_new(0);
    dumps_is(__LINE__, empty_t, 3, "[]");
    pm_decref(empty_t);
    /* Not serializable. */
    pm_object *set = pm_set_new(NULL), *bytes = pm_bytes_from("ab", 2);
    pm_object *bad_list = pm_list_new(0);
    pm_list_append(bad_list, one);
    pm_list_append(bad_list, set);
    CHECK(pm_json_dumps(set, -1) == NULL);
    CHECK(strcmp(pm_exc_message(), "Object of type set is not JSON serializable") == 0);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_TYPE);
    pm_exc_clear();
    CHECK(pm_json_dumps(bytes, -1) == NULL);
    pm_exc_clear();
    CHECK(pm_json_dumps(bad_list, 2) == NULL);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_TYPE);
    pm_exc_clear();
    pm_object *bad_key = pm_dict_new();
    pm_dict_set(bad_key, tup, one);
    CHECK(pm_json_dumps(bad_key, -1) == NULL);
    CHECK(strcmp(pm_exc_message(), "keys must be str, int, float, bool or None, not tuple") == 0);
    pm_exc_clear();
    CHECK(pm_json_dumps(NULL, -1) == NULL);
    pm_exc_clear();
    pm_decref(bad_key);
    pm_decref(bad_list);
    pm_decref(set);
    pm_decref(bytes);
    pm_decref(d);
    pm_decref(tup);
    pm_decref(one);
    pm_decref(two);
    tu_group_end(&g, 0);
}

static void test_circular(void) {
    tu_group g = tu_group_begin_env();
    /* A list inside itself. */
    pm_object *l = pm_list_new(0);
    pm_list_append(l, l);
    CHECK(pm_json_dumps(l, -1) == NULL);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_VALUE);
    CHECK(strcmp(pm_exc_message(), "Circular reference detected") == 0);
    pm_exc_clear();
    pm_xdecref(pm_list_pop(l, 0)); /* break the cycle */
    pm_decref(l);
    /* A dict two levels down, and a cycle deeper than the linear scan. */
    for (int depth = 1; depth < 100; depth += 40) {
        pm_object *root = pm_dict_new(), *cur = root;
        pm_incref(cur);
        for (int i = 0; i < depth; i++) {
            pm_object *next = pm_list_new(0);
            if (pm_is_type(cur, &pm_dict_type)) pm_dict_set_str(cur, "k", next);
            else pm_list_append(cur, next);
            pm_decref(cur);
            cur = next;
        }
        pm_list_append(cur, root);
        CHECK(pm_json_dumps(root, 1) == NULL);
        CHECK(strcmp(pm_exc_message(), "Circular reference detected") == 0);
        pm_exc_clear();
        pm_xdecref(pm_list_pop(cur, -1)); /* break the cycle */
        pm_decref(cur);
        pm_decref(root);
    }
    /* The same object twice, not nested: fine. */
    pm_object *shared = pm_list_new(0), *outer = pm_list_new(0);
    for (int i = 0; i < 3; i++) pm_list_append(outer, shared);
    dumps_is(__LINE__, outer, -1, "[[], [], []]");
    pm_object *inner = pm_list_new(0);
    pm_list_append(inner, shared);
    for (int i = 0; i < 40; i++) {
        pm_object *wrap = pm_list_new(0);
        pm_list_append_steal(wrap, inner);
        pm_list_append(wrap, shared);
        inner = wrap;
    }
    pm_object *out = pm_json_dumps(inner, -1);
    CHECK(out != NULL);
    pm_xdecref(out);
    pm_decref(inner);
    pm_decref(outer);
    pm_decref(shared);
    tu_group_end(&g, 0);
}

/* ---- round trips --------------------------------------------------------------------- */

/* A random UTF-8 string of n code points (no surrogates), U+0000 included. */
static size_t random_text(uint64_t *st, char *out, size_t n) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = tu_rand(st);
        uint32_t cp;
        switch (r % 4) {
            case 0: cp = (uint32_t)(r >> 8) % 0x80; break;
            case 1: cp = 0x80 + (uint32_t)(r >> 8) % 0x780; break;
            case 2: cp = 0x800 + (uint32_t)(r >> 8) % 0xF800; break;
            default: cp = 0x10000 + (uint32_t)(r >> 8) % 0x100000; break;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
        if (cp < 0x80) out[len++] = (char)cp;
        else if (cp < 0x800) {
            out[len++] = (char)(0xC0 | cp >> 6);
            out[len++] = (char)(0x80 | (cp & 63));
        } else if (cp < 0x10000) {
            out[len++] = (char)(0xE0 | cp >> 12);
            out[len++] = (char)(0x80 | (cp >> 6 & 63));
            out[len++] = (char)(0x80 | (cp & 63));
        } else {
            out[len++] = (char)(0xF0 | cp >> 18);
            out[len++] = (char)(0x80 | (cp >> 12 & 63));
            out[len++] = (char)(0x80 | (cp >> 6 & 63));
            out[len++] = (char)(0x80 | (cp & 63));
        }
    }
    return len;
}

/* A random document of bounded depth built directly with objects. */
static pm_object *random_value(uint64_t *st, int depth) {
    uint64_t r = tu_rand(st);
    int kind = (int)(r % (depth > 0 ? 9 : 6));
    char buf[256];
    switch (kind) {
        case 0: return pm_none();
        case 1: return pm_bool((int)(r >> 8) & 1);
        case 2: return pm_int((int64_t)tu_rand(st) >> (r >> 8) % 64);
        case 3: {
            double d;
            uint64_t bits = tu_rand(st);
            memcpy(&d, &bits, sizeof d);
            if (!isfinite(d)) d = (double)(int64_t)bits / 7.0;
            return pm_float(d);
        }
        case 4:
        case 5: return pm_str_from_len(buf, random_text(st, buf, (r >> 8) % 40));
        case 6:
        case 7: {
            pm_object *l = pm_list_new(0);
            for (int i = (int)((r >> 8) % 6); i > 0; i--)
                pm_list_append_steal(l, random_value(st, depth - 1));
            return l;
        }
        default: {
            pm_object *d = pm_dict_new();
            for (int i = (int)((r >> 8) % 6); i > 0; i--) {
                pm_object *k = pm_str_from_len(buf, random_text(st, buf, (tu_rand(st) % 8)));
                pm_object *v = random_value(st, depth - 1);
                pm_dict_set(d, k, v);
                pm_decref(k);
                pm_decref(v);
            }
            return d;
        }
    }
}

static void test_round_trips(void) {
    tu_group g = tu_group_begin_env();
    uint64_t st = 12345;
    for (int i = 0; i < 2000; i++) {
        pm_object *x = random_value(&st, 5);
        int indent = i % 3 == 0 ? -1 : i % 3 == 1 ? 0 : 2;
        pm_object *text = pm_json_dumps(x, indent);
        CHECK(text != NULL);
        if (!text) {
            pm_exc_clear();
            pm_decref(x);
            continue;
        }
        size_t n;
        const char *u = pm_str_utf8(text, &n);
        pm_json_error err;
        pm_object *y = pm_json_loads(u, n, 0, &err);
        CHECK(y != NULL);
        if (y == NULL) fprintf(stderr, "round trip: %s in %.200s\n", err.message, u);
        else {
            int eq = pm_equal(x, y);
            if (eq != 1) fprintf(stderr, "round trip differs: %.300s\n", u);
            CHECK_EQ(eq, 1);
            /* And the text is stable. */
            pm_object *again = pm_json_dumps(y, indent);
            CHECK(again && pm_equal(again, text) == 1);
            pm_xdecref(again);
            pm_decref(y);
        }
        pm_decref(text);
        pm_decref(x);
    }
    /* Every double's text reads back as the same bits. */
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = tu_rand(&st);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d)) continue;
        pm_object *x = pm_float(d), *t = pm_json_dumps(x, -1);
        size_t n;
        const char *u = pm_str_utf8(t, &n);
        pm_object *y = pm_json_loads(u, n, 0, NULL);
        double back = 0;
        CHECK(y && pm_float_value(y, &back) == 0 && memcmp(&back, &d, sizeof d) == 0);
        /* The repr is the one Python prints: also what the float type says. */
        pm_object *r = pm_repr(x);
        CHECK(r && pm_equal(r, t) == 1);
        pm_xdecref(r);
        pm_xdecref(y);
        pm_decref(t);
        pm_decref(x);
    }
    tu_group_end(&g, 0);
}

/* dumps writes a float as repr() does (the float type's repr is checked
 * against CPython's by its own tests): powers of two and their neighbours
 * (where the shortest form can be the "other" 16-digit neighbour), and
 * values across the range the writer computes exactly, and beyond. */
static bool dumps_is_repr(double d) {
    pm_object *x = pm_float(d), *t = pm_json_dumps(x, -1), *r = pm_repr(x);
    bool same = t && r && pm_equal(t, r) == 1;
    if (!same)
        fprintf(stderr, "%.17g: dumps %s, repr %s\n", d, t ? pm_str_utf8(t, NULL) : "?",
                r ? pm_str_utf8(r, NULL) : "?");
    pm_xdecref(t);
    pm_xdecref(r);
    pm_decref(x);
    return same;
}

/* The double next to d (> 0) upwards or downwards (no libm here). */
static double next_double(double d, int dir) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    bits += (uint64_t)(int64_t)dir;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static void test_float_repr(void) {
    tu_group g = tu_group_begin_env();
    int bad = 0;
    for (int k = -1074; k <= 1023; k++) {
        double p = ldexp(1.0, k);
        bad += !dumps_is_repr(p) + !dumps_is_repr(-p) + !dumps_is_repr(next_double(p, 1));
        if (k > -1074) bad += !dumps_is_repr(next_double(p, -1));
    }
    uint64_t st = 2024;
    for (int i = 0; i < 100000; i++) {
        /* 53 random bits scaled to 2^-80 .. 2^75 (about 1e-24 .. 1e22) */
        double mant = (double)(tu_rand(&st) >> 11);
        double d = ldexp(mant, (int)(tu_rand(&st) % 156) - 133);
        bad += !dumps_is_repr(d);
        bad += !dumps_is_repr((double)(int64_t)(tu_rand(&st) % 2000000) / 1000.0 - 1000.0);
    }
    CHECK_EQ(bad, 0);
    tu_group_end(&g, 0);
}

/* A locale whose decimal point is not '.' changes nothing (when one exists). */
static void test_locale(void) {
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", NULL};
    const char *got = NULL;
    for (int i = 0; names[i] && !got; i++) got = setlocale(LC_NUMERIC, names[i]);
    if (!got) {
        printf("SKIP test_locale: no locale with a decimal comma\n");
        return;
    }
    tu_group g = tu_group_begin_env();
    OK("[1.5, 2e-3, 0.25]", "[1.5, 0.002, 0.25]");
    tu_group_end(&g, 0);
    setlocale(LC_NUMERIC, "C");
}

int main(void) {
    test_grammar();
    test_lengths();
    test_special_at_every_offset();
    test_nul();
    test_duplicate_keys();
    test_numbers();
    test_floats_exact();
    test_sharing();
    test_errors();
    test_depth();
    test_rfc_examples();
    test_dumps();
    test_circular();
    test_round_trips();
    test_float_repr();
    test_locale();
    return tu_finish("test_obj_json");
}
