/*
 * test_obj_json_corpora.c -- pm_json_loads on the three classic JSON
 * corpora (twitter, canada, citm_catalog) of ../shared/data/json, against
 * the value counts CPython 3.11's json module gives; each one's round trip
 * and the truncations of its first 4 KiB.
 *
 * The corpora are optional data beside the source tree (they are not part
 * of the repository): without any of them the test exits with status 77,
 * which CTest reports as skipped (SKIP_RETURN_CODE), never as passed.
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#define SKIP_STATUS 77

typedef struct counts {
    long objects, arrays, strings, numbers, literals, keys;
} counts;

static void count(pm_object *o, counts *c) {
    if (pm_is_type(o, &pm_dict_type)) {
        c->objects++;
        size_t pos = 0;
        pm_object *k, *v;
        while (pm_dict_next(o, &pos, &k, &v)) {
            c->keys++;
            count(v, c);
        }
    } else if (pm_is_type(o, &pm_list_type)) {
        c->arrays++;
        for (size_t i = 0; i < pm_list_size(o); i++) count(pm_list_get(o, (int64_t)i), c);
    } else if (pm_is_type(o, &pm_str_type)) {
        c->strings++;
    } else if (pm_is_type(o, &pm_int_type) || pm_is_type(o, &pm_float_type)) {
        c->numbers++;
    } else {
        c->literals++;
    }
}

/* The file whole, or NULL when it cannot be read. */
static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)) != NULL)
        *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

/* Expected counts computed once with CPython 3.11's json module:
 *   o = json.load(open(path, encoding='utf-8')), then a walk counting
 *   dicts, lists, str, int/float (bool excluded), True/False/None, and
 *   dict keys. */
static const struct {
    const char *name;
    counts want;
} FILES[] = {
    {"twitter.json", {1264, 1050, 4754, 2109, 4737, 13345}},
    {"canada.json", {4, 56045, 4, 111126, 0, 8}},
    {"citm_catalog.json", {10937, 10451, 735, 14392, 1263, 25869}},
};

static void check_document(const char *text, size_t n, const counts *want) {
    tu_group g = tu_group_begin();
    pm_json_error err;
    pm_object *o = pm_json_loads(text, n, 0, &err);
    CHECK(o != NULL);
    if (o) {
        counts c = {0};
        count(o, &c);
        CHECK_EQ(c.objects, want->objects);
        CHECK_EQ(c.arrays, want->arrays);
        CHECK_EQ(c.strings, want->strings);
        CHECK_EQ(c.numbers, want->numbers);
        CHECK_EQ(c.literals, want->literals);
        CHECK_EQ(c.keys, want->keys);
        /* Round trip of the whole document. */
        pm_object *t = pm_json_dumps(o, 1);
        size_t tn;
        const char *u = t ? pm_str_utf8(t, &tn) : NULL;
        pm_object *back = u ? pm_json_loads(u, tn, 0, NULL) : NULL;
        CHECK(back && pm_equal(o, back) == 1);
        pm_xdecref(back);
        pm_xdecref(t);
        pm_decref(o);
    }
    /* Every truncation of the first 4 KiB fails cleanly (or is valid). */
    for (size_t cut = 0; cut < 4096 && cut < n; cut += 7) {
        pm_object *p = pm_json_loads(text, cut, 0, NULL);
        if (p) pm_decref(p);
        else pm_exc_clear();
    }
    tu_group_end(&g, 0);
}

int main(void) {
    const char *dir = tu_shared_dir();
    int checked = 0;
    for (size_t i = 0; i < sizeof FILES / sizeof *FILES; i++) {
        char path[4096];
        size_t n = 0;
        char *text = NULL;
        if (dir) {
            snprintf(path, sizeof path, "%s/data/json/%s", dir, FILES[i].name);
            text = read_all(path, &n);
        }
        if (text == NULL) {
            printf("SKIP %s: %s/data/json/%s not available\n", FILES[i].name, PYMM_SHARED_DIR,
                   FILES[i].name);
            continue;
        }
        check_document(text, n, &FILES[i].want);
        checked++;
        free(text);
    }
    if (checked == 0) {
        printf("SKIP: no corpus available (optional data, not in the repository)\n");
        return SKIP_STATUS;
    }
    return tu_finish("test_obj_json_corpora");
}
