/*
 * os.h -- the heap's only contact with the operating system.
 *
 * Owns: mapping arenas (aligned to their own size, so that the arena of any
 * address is found by masking), unmapping them, and giving pages back while
 * keeping the mapping (decommit). Nothing here keeps state.
 */
#ifndef PM_HEAP_OS_H
#define PM_HEAP_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMOS_PAGE_SIZE 4096

/* size bytes of zeroed memory aligned to `align` (a power of two, >= page),
 * or NULL. Mapped lazily: untouched pages cost no RSS. */
void *pmos_map_aligned(size_t size, size_t align);
/* A plain lazily committed mapping, readable and writable. */
void *pmos_map(size_t size);
/* size bytes of address space that read as zeros and cannot be written
 * (the owner map's table): no memory, and no commit charge even under
 * strict overcommit, until pmos_make_writable. NULL when refused. */
void *pmos_reserve(size_t size);
/* Let [p, p+size) of a reservation be written (page-aligned arguments);
 * false when the kernel refuses. */
bool pmos_make_writable(void *p, size_t size);
void pmos_unmap(void *p, size_t size);
/* Grow or shrink a mapping of old_size bytes to new_size (page multiples),
 * moving it if it must; its advice goes with it. NULL when it cannot. */
void *pmos_remap(void *p, size_t old_size, size_t new_size);
/* Give the pages of [p, p+size) back to the OS at once; the range stays
 * mapped and reads as zero when touched again. Page-aligned arguments. */
void pmos_decommit(void *p, size_t size);
/* Transparent huge pages: the size the kernel maps one with (x86-64 and
 * arm64 with 4 KiB pages), and asking for them (on) or against them (off)
 * over [p, p+size), PMOS_HUGE_PAGE_SIZE-aligned. Returns false when the
 * kernel cannot (built without THP); the mapping is unchanged then. */
#define PMOS_HUGE_PAGE_SIZE (2u << 20)
bool pmos_advise_huge(void *p, size_t size, bool on);
/* A file name from the environment (PYMM_STATS, PYMM_TRACE, PYMM_LEAKS)
 * for this process: path with each %p its process id; false when it does
 * not fit in `size` bytes or is empty. */
bool pmos_expand_pid(const char *path, char *out, size_t size);
/* A monotonic clock in milliseconds, never 0. */
uint64_t pmos_now_ms(void);

#endif
