/*
 * stats.c -- pmb_spread_sort (see pmb_stats.h): the median, min and max of
 * a few samples. An insertion sort: the counts are small (repetitions of a
 * worker, rounds of a suite) and it needs no memory.
 */
#include "pmb_stats.h"

#include <math.h>

pmb_spread pmb_spread_sort(double *v, size_t n) {
    size_t k = 0; /* the samples that are numbers, moved to the front */
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        if (isnan(x)) continue;
        size_t j = k++;
        for (; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
        v[j] = x;
    }
    for (size_t i = k; i < n; i++) v[i] = NAN;
    pmb_spread s = {NAN, NAN, NAN, (int)k};
    if (k == 0) return s;
    s.min = v[0];
    s.max = v[k - 1];
    s.median = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
    return s;
}
