/*
 * test_stats.c -- CTest bench.stats: the statistics every suite reports
 * (common/stats.c, common/report.c): the median, min and max of odd and
 * even sample counts, NaN samples left out, the empty case (no NaN printed
 * or written), per-round ratios over the rounds both impls ran, the
 * per-round geometric mean, exact records, and the JSON fields.
 */
#define _GNU_SOURCE
#include "pmb_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static int near(double a, double b) { return fabs(a - b) < 1e-9 * (fabs(b) + 1); }

static void test_spread(void) {
    double odd[] = {3, 1, 2};
    pmb_spread s = pmb_spread_sort(odd, 3);
    CHECK(s.n == 3 && s.median == 2 && s.min == 1 && s.max == 3);
    double even[] = {4, 1, 3, 2};
    s = pmb_spread_sort(even, 4);
    CHECK(s.n == 4 && near(s.median, 2.5) && s.min == 1 && s.max == 4);
    double holes[] = {NAN, 5, NAN, 1};
    s = pmb_spread_sort(holes, 4);
    CHECK(s.n == 2 && near(s.median, 3) && s.min == 1 && s.max == 5);
    s = pmb_spread_sort(holes, 0);
    CHECK(s.n == 0 && isnan(s.median));
    double one[] = {7};
    s = pmb_spread_sort(one, 1);
    CHECK(s.n == 1 && s.median == 7 && s.min == 7 && s.max == 7);
}

static void test_format(void) {
    char buf[64];
    pmb_spread none = pmb_spread_sort(NULL, 0);
    pmb_format_spread(buf, sizeof buf, "%.2f", none);
    CHECK(strcmp(buf, "n/a") == 0);
    pmb_spread s = {2, 1, 3, 3};
    pmb_format_spread(buf, sizeof buf, "%.1f", s);
    CHECK(strcmp(buf, "2.0 (1.0\xe2\x80\x93"
                      "3.0)") == 0);
    pmb_spread flat = {2, 2.001, 2.002, 3}; /* equal once printed */
    pmb_format_spread(buf, sizeof buf, "%.1f", flat);
    CHECK(strcmp(buf, "2.0") == 0);
}

/* pymm in rounds 0..4, the anchor in every round but 2: the ratio is the
 * median of the four per-round ratios, not the ratio of the medians. */
static void test_ratio(void) {
    pmb_records rs = {0};
    static const double pymm[] = {10, 20, 30, 40, 50};
    static const double anchor[] = {20, 10, 0, 80, 25};
    for (int r = 0; r < 5; r++) {
        CHECK(pmb_records_add_sample(&rs, "c", "pymm", "t", r, pymm[r], "s") == 0);
        if (r != 2) CHECK(pmb_records_add_sample(&rs, "c", "anchor", "t", r, anchor[r], "s") == 0);
    }
    const pmb_record *a = pmb_records_find(&rs, "c", "pymm", "t");
    const pmb_record *b = pmb_records_find(&rs, "c", "anchor", "t");
    CHECK(a && b && a->sampled && near(a->value, 30) && a->spread.n == 5);
    CHECK(b && near(b->value, 22.5) && b->spread.n == 4);
    /* Per round: 0.5, 2, 0.5, 2 -> median 1.25; the medians' ratio is 30/22.5. */
    pmb_spread q = pmb_ratio_spread(a, b);
    CHECK(q.n == 4 && near(q.median, 1.25) && near(q.min, 0.5) && near(q.max, 2));
    /* No anchor at all: no ratio, and no NaN in its place. */
    q = pmb_ratio_spread(a, NULL);
    CHECK(q.n == 0);
    /* An exact record stands for every round. */
    CHECK(pmb_records_add(&rs, "c", "exact", "t", 10, "B") == 0);
    q = pmb_ratio_spread(a, pmb_records_find(&rs, "c", "exact", "t"));
    CHECK(q.n == 5 && near(q.median, 3) && near(q.min, 1) && near(q.max, 5));
    pmb_records_free(&rs);
}

/* Two cases; round 1 lacks one sample, so only rounds 0 and 2 count. */
static void test_geomean(void) {
    pmb_records rs = {0};
    pmb_records_add_sample(&rs, "x", "p", "t", 0, 1, "s");
    pmb_records_add_sample(&rs, "x", "q", "t", 0, 4, "s");
    pmb_records_add_sample(&rs, "y", "p", "t", 0, 4, "s");
    pmb_records_add_sample(&rs, "y", "q", "t", 0, 4, "s");
    pmb_records_add_sample(&rs, "x", "p", "t", 1, 1, "s");
    pmb_records_add_sample(&rs, "x", "q", "t", 1, 1, "s");
    pmb_records_add_sample(&rs, "y", "q", "t", 1, 1, "s");
    pmb_records_add_sample(&rs, "x", "p", "t", 2, 9, "s");
    pmb_records_add_sample(&rs, "x", "q", "t", 2, 1, "s");
    pmb_records_add_sample(&rs, "y", "p", "t", 2, 1, "s");
    pmb_records_add_sample(&rs, "y", "q", "t", 2, 1, "s");
    const pmb_record *num[2] = {pmb_records_find(&rs, "x", "p", "t"),
                                pmb_records_find(&rs, "y", "p", "t")};
    const pmb_record *den[2] = {pmb_records_find(&rs, "x", "q", "t"),
                                pmb_records_find(&rs, "y", "q", "t")};
    /* Round 0: sqrt(1/4 * 1) = 0.5; round 2: sqrt(9 * 1) = 3. */
    pmb_spread g = pmb_geomean_ratio_spread(num, den, 2);
    CHECK(g.n == 2 && near(g.min, 0.5) && near(g.max, 3) && near(g.median, 1.75));
    pmb_records_free(&rs);
}

static void test_lines(void) {
    pmb_records rs = {0};
    CHECK(pmb_records_take_line(&rs, "pymm", "PMB c t 1.5 ms", 0) == 1);
    CHECK(pmb_records_take_line(&rs, "pymm", "PMB c t 2.5 ms", 1) == 1);
    CHECK(pmb_records_take_line(&rs, "pymm", "PMB c n 7 objects", 1) == 1);
    CHECK(pmb_records_take_line(&rs, "pymm", "PMB c rss 9 KiB", -1) == 1);
    CHECK(pmb_records_take_line(&rs, "pymm", "PMB-NOTE hello", 0) == 0);
    const pmb_record *t = pmb_records_find(&rs, "c", "pymm", "t");
    const pmb_record *n = pmb_records_find(&rs, "c", "pymm", "n");
    const pmb_record *rss = pmb_records_find(&rs, "c", "pymm", "rss");
    CHECK(t && t->sampled && near(t->value, 2) && t->spread.n == 2);
    CHECK(n && !n->sampled && n->value == 7);
    CHECK(rss && !rss->sampled && rss->value == 9);
    pmb_records_free(&rs);
}

/* The JSON: stat, min, max, rounds, samples by round (null for a round
 * without one), "stat": "value" for an exact record, and never a NaN. */
static void test_json(void) {
    pmb_records rs = {0};
    pmb_records_add_sample(&rs, "c", "pymm", "t", 0, 1, "s");
    pmb_records_add_sample(&rs, "c", "pymm", "t", 2, 3, "s");
    pmb_records_add(&rs, "c", "pymm", "n", 5, "objects");
    pmb_records_add(&rs, "c", "pymm", "gone", NAN, "s");
    char path[] = "/tmp/pmb_test_stats_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    CHECK(pmb_records_write_json(&rs, "test", path) == 0);
    char text[4096] = "";
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) {
        size_t len = fread(text, 1, sizeof text - 1, f);
        text[len] = '\0';
        fclose(f);
    }
    unlink(path);
    CHECK(strstr(text, "\"value\": 2, \"stat\": \"median\", \"min\": 1, \"max\": 3, "
                       "\"rounds\": 2, \"samples\": [1, null, 3]") != NULL);
    CHECK(strstr(text, "\"value\": 5, \"stat\": \"value\"") != NULL);
    CHECK(strstr(text, "\"value\": null") != NULL);
    CHECK(strstr(text, "nan") == NULL && strstr(text, "NaN") == NULL);
    pmb_records_free(&rs);
}

int main(void) {
    test_spread();
    test_format();
    test_ratio();
    test_geomean();
    test_lines();
    test_json();
    if (failures) fprintf(stderr, "bench.stats: %d check(s) failed\n", failures);
    else printf("bench.stats: ok\n");
    return failures ? 1 : 0;
}
