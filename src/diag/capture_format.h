/*
 * capture_format.h -- the capture file's constants, shared by its writer
 * (src/diag/capture.c) and its reader (`pymm report`,
 * tools/pymm/report_cmd.c). docs/FORMATS.md, "Capture files", is the
 * format; a change to it changes PMD_CAPTURE_VERSION.
 */
#ifndef PM_DIAG_CAPTURE_FORMAT_H
#define PM_DIAG_CAPTURE_FORMAT_H

#include <math.h>
#include <stdint.h>

#define PMD_CAPTURE_MAGIC "PYMMTRC" /* 8 bytes with its NUL */
#define PMD_CAPTURE_VERSION 3       /* 3: RSS and COLLECTION records */
#define PMD_CAPTURE_OLDEST 2        /* the oldest version readers still read */
#define PMD_CAPTURE_HEADER 9        /* the magic and the version byte */
#define PMD_CAPTURE_ROOTS 4         /* stack ids 1..4: raw, mem, obj, pm_heap_* */

/* The records come in blocks: a kind byte, the stored size and the size
 * of the records (varints), then the stored bytes. A block holds whole
 * records, at most PMD_CAPTURE_MAX_BLOCK bytes of them. */
enum pmd_capture_block { PMD_BLOCK_STORED = 0, PMD_BLOCK_ZSTD = 1 };
#define PMD_CAPTURE_MAX_BLOCK ((uint64_t)1 << 26)

enum pmd_capture_tag {
    PMD_TAG_INFO = 1,
    PMD_TAG_MODULE = 2,
    PMD_TAG_NODE = 3,
    PMD_TAG_ALLOC = 4,
    PMD_TAG_FREE = 5,
    PMD_TAG_TIME = 6,
    PMD_TAG_THREAD = 7,
    PMD_TAG_END = 8,
    PMD_TAG_STRING = 9,
    PMD_TAG_LOCATION = 10,
    PMD_TAG_SECTION = 11, /* string id, 1 begin / 0 end */
    PMD_TAG_MARK = 12,    /* string id */
    /* Version 3: */
    PMD_TAG_RSS = 13,        /* the process's resident bytes at this time */
    PMD_TAG_COLLECTION = 14, /* generation, pause in us, objects found */
};
/* The sampler's two functions of the math library, written here because
 * libpymm does not link libm: every library a program maps costs it
 * resident pages at load (libm: about 300 KiB; docs/PERFORMANCE.md,
 * "Threads"). Both are within a few units in the last place of libm's,
 * which tests/test_diag_trace.c checks over their whole domain of use.
 *
 * ln x for finite x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), and
 * ln m = 2 atanh(z), z = (m - 1) / (m + 1), |z| < 0.1716, whose odd
 * series is below 2^-60 of its sum after the z^23 term. */
static inline double pmd_ln(double x) {
    int e;
    double m = frexp(x, &e); /* [0.5, 1), in libc */
    if (m < 0.70710678118654752440) {
        m *= 2;
        e--;
    }
    double z = (m - 1) / (m + 1), z2 = z * z, power = z, sum = 0;
    for (int k = 1; k <= 23; k += 2, power *= z2) sum += power / k;
    return 2 * sum + e * 0.69314718055994530942;
}

/* e^x - 1 for x <= 0, without the cancellation of computing e^x first
 * near 0: the Taylor series where |x| < 1/2 (its 20th term is below
 * 2^-60 of the sum); beyond, e^x = 2^k e^r with |r| <= ln(2)/2, whose
 * series' 18th term is as small, and the subtraction loses nothing
 * because the result is below -0.39. */
static inline double pmd_expm1_neg(double x) {
    if (x > -0.5) {
        double term = x, sum = x;
        for (int k = 2; k <= 20; k++) {
            term *= x / k;
            sum += term;
        }
        return sum;
    }
    if (x < -745) return -1.0; /* e^x is below the smallest double */
    int k = (int)(x / 0.69314718055994530942 - 0.5);
    double r = x - k * 0.69314718055994530942, term = 1, sum = 1;
    for (int i = 1; i <= 18; i++) {
        term *= r / i;
        sum += term;
    }
    return ldexp(sum, k) - 1; /* in libc */
}

/* The recorder writes an RSS record at most this often, as events'
 * times move on (and one at the start and at the end). */
#define PMD_CAPTURE_RSS_MS 10
/* Sampled mode (INFO sample_bytes R): a recorded block of n bytes stands
 * for this many blocks of n bytes (src/diag/trace.c, "sampling"); the
 * recorder and the reader weigh with this one formula. */
static inline double pmd_sample_weight(uint64_t n, uint64_t sample_bytes) {
    return 1.0 / -pmd_expm1_neg(-(double)n / (double)sample_bytes);
}

/* The whole blocks a weight w stands for, for the block at addr: w's
 * integer part, and one more with probability w's fraction, decided by a
 * hash of the address. Rounding w instead would bias the counts of
 * blocks near R in size (w = 1.58 counts 2); this is unbiased over
 * blocks, and the same at a block's allocation and its free. */
static inline uint64_t pmd_sample_count(double w, uint64_t addr) {
    uint64_t h = addr * 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 32)) * 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    uint64_t whole = (uint64_t)w; /* w >= 1: its floor */
    return whole + ((double)(h >> 11) * 0x1p-53 < w - (double)whole);
}

/* A NODE's pc with this bit is an interpreter frame: the rest is a
 * LOCATION id. */
#define PMD_CAPTURE_INTERP_BIT ((uint64_t)1 << 63)

#endif
