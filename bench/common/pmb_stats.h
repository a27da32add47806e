/*
 * pmb_stats.h -- the spread of a set of samples (median, min, max, count),
 * shared by the suites' drivers (report.c) and their workers, which report
 * the median of their in-process repetitions. Allocation-free: the alloc
 * workers must not touch the allocator under test.
 */
#ifndef PMB_STATS_H
#define PMB_STATS_H

#include <stddef.h>

/* median, min and max of n samples (NaN ones left out); n == 0: all NaN. */
typedef struct pmb_spread {
    double median, min, max;
    int n;
} pmb_spread;

/* Sorts v[0..n) in place (NaNs moved to the end and not counted) and
 * returns its spread. The median of an even count is the mean of the two
 * middle samples. */
pmb_spread pmb_spread_sort(double *v, size_t n);

#endif /* PMB_STATS_H */
