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
/* The recorder writes an RSS record at most this often, as events'
 * times move on (and one at the start and at the end). */
#define PMD_CAPTURE_RSS_MS 10
/* Sampled mode (INFO sample_bytes R): a recorded block of n bytes stands
 * for this many blocks of n bytes (src/diag/trace.c, "sampling"); the
 * recorder and the reader weigh with this one formula. */
static inline double pmd_sample_weight(uint64_t n, uint64_t sample_bytes) {
    return 1.0 / -expm1(-(double)n / (double)sample_bytes);
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
    double whole = floor(w);
    return (uint64_t)whole + ((double)(h >> 11) * 0x1p-53 < w - whole);
}

/* A NODE's pc with this bit is an interpreter frame: the rest is a
 * LOCATION id. */
#define PMD_CAPTURE_INTERP_BIT ((uint64_t)1 << 63)

#endif
