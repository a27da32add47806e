/*
 * os.c -- mmap, munmap and madvise for the heap (see os.h).
 *
 * Arenas are aligned to their size by over-mapping and trimming the excess:
 * the trimmed head and tail are unmapped at once, so the cost is address
 * space for an instant, never RSS.
 */
#define _GNU_SOURCE /* mremap */
#include "heap/os.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

void *pmos_map(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *pmos_map_aligned(size_t size, size_t align) {
    /* Most mappings land aligned when the kernel places them after a
     * previous arena; try the cheap way first. */
    char *p = pmos_map(size);
    if (p == NULL) return NULL;
    if (((uintptr_t)p & (align - 1)) == 0) return p;
    pmos_unmap(p, size);
    char *raw = pmos_map(size + align);
    if (raw == NULL) return NULL;
    char *aligned = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    size_t head = (size_t)(aligned - raw);
    size_t tail = align - head;
    if (head) pmos_unmap(raw, head);
    if (tail) pmos_unmap(aligned + size, tail);
    return aligned;
}

void *pmos_reserve(size_t size) {
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

bool pmos_make_writable(void *p, size_t size) {
    return mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
}

void pmos_unmap(void *p, size_t size) { munmap(p, size); }

void *pmos_remap(void *p, size_t old_size, size_t new_size) {
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
    return q == MAP_FAILED ? NULL : q;
}

void pmos_decommit(void *p, size_t size) { madvise(p, size, MADV_DONTNEED); }

bool pmos_advise_huge(void *p, size_t size, bool on) {
    return madvise(p, size, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) == 0;
}

bool pmos_expand_pid(const char *path, char *out, size_t size) {
    size_t n = 0;
    for (const char *q = path; *q; q++) {
        char pid[24];
        const char *piece = q;
        size_t len = 1;
        if (q[0] == '%' && q[1] == 'p') {
            len = (size_t)snprintf(pid, sizeof pid, "%ld", (long)getpid());
            piece = pid;
            q++;
        }
        if (n + len >= size) return false;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return n > 0;
}

uint64_t pmos_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1u;
}
