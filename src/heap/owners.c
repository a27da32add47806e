/*
 * owners.c -- the owner map: which heap owns each MiB of the address space.
 *
 * The map is part of pymm's one process-wide structure (pmh_process,
 * process.c, which lists its fields and locks). free(p) must tell the blocks of
 * a heap from anything else (another heap's blocks, malloc's, the stack)
 * without touching memory that may not be mapped; the map answers from the
 * address alone. Arenas are at least a MiB and aligned to their size, so an
 * arena covers whole MiB slots and a slot belongs to at most one arena.
 *
 * Shape: one table of PMH_MAP_SLOTS slots, one per MiB of user address space
 * (2^27 slots on x86-64: 1 GiB of address space, 2 GiB on arm64), reserved
 * read-only when the first arena is mapped. Its pages stay the kernel's zero
 * page until an arena lies in the 512 MiB of address space one of them
 * covers: then that page alone is made writable. So it costs address space
 * once per process and a page of memory per 512 MiB that ever held an arena,
 * never memory per heap. A lookup is a compare and one load: the free path
 * pays that, where a two-level tree paid a shift and a load more (the
 * pair's instruction budget, bench/README.md).
 *
 * Invariants:
 *   M1  map_slots is 0 until the table is reserved, then PMH_MAP_SLOTS for
 *       ever; it is stored after `map` (release), so a lookup that reads it
 *       non-zero (acquire) reads a valid table, and one that reads 0 answers
 *       "nobody's" (right: no arena exists before the table).
 *   M2  a slot holds h iff its MiB lies in a live arena of heap h (I5 of
 *       heap.h): set after the arena is mapped, cleared before it is unmapped.
 *   M3  the table is never freed or moved while the process lives (a lookup
 *       holds no lock); a page of it is writable once a slot in it was set.
 *   M4  a process whose first arena cannot reserve the table (an address
 *       space limit, RLIMIT_AS, below about 1 GiB more than it uses) keeps
 *       the map in a tree instead, for ever (map_tree): a root of leaf
 *       pointers, NULL until an arena lands in a leaf's 256 GiB, and leaves
 *       of 2^18 slots (2 MiB of address space each, mapped lazily).
 *       map_slots stays 0, so the free fast path always misses and its miss
 *       path (pmh_free_miss, heap.c) asks the tree: slower, never wrong.
 *       Leaves are never freed or moved; a root entry is published with a
 *       release store.
 *
 * Threads. Writers (a heap mapping or unmapping an arena, on its slow path)
 * take `map_lock`, so that reserving the table, making a page writable and
 * ordering the writes of one slot by two heaps (one unmaps an arena, the
 * other maps the same range) are serialized. Lookups take no lock: every
 * slot is read and written as one word (atomic stores here; the reads are
 * plain loads on x86-64, atomic elsewhere: pmh_map_owner in heap.h says
 * why). Only the owning heap's own thread (or one that the
 * caller synchronized with it) needs to see its slots: another heap's lookup
 * compares with itself and is right whether it reads the slot before or
 * after a change. The lock is held across fork() (pmh_process_fork_safe, at
 * the first write), so a child never inherits it taken.
 */
#include "heap/heap.h"
#include "heap/os.h"

#include <pthread.h>
#include <unistd.h>

#define map_lock pmh_process.map_lock

/* Reserve the table, once (map_lock held). */
static bool table_reserve(void) {
    if (pmh_process.map_slots) return true;
    void *table = pmos_reserve(PMH_MAP_SLOTS * sizeof(void *));
    if (table == NULL) return false;
    __atomic_store_n(&pmh_process.map, (const pm_heap **)table, __ATOMIC_RELAXED);
    __atomic_store_n(&pmh_process.map_slots, PMH_MAP_SLOTS, __ATOMIC_RELEASE);
    return true;
}

/* Make the table's pages that hold slots [first, end) writable (map_lock
 * held), in the system's pages (16 or 64 KiB on some arm64 kernels). The
 * kernel does nothing for pages already so. */
static bool slots_writable(uintptr_t first, uintptr_t end) {
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t mask = (uintptr_t)(page > 0 ? page : PMOS_PAGE_SIZE) - 1;
    uintptr_t lo = (uintptr_t)&pmh_process.map[first] & ~mask;
    uintptr_t hi = ((uintptr_t)&pmh_process.map[end] + mask) & ~mask;
    return pmos_make_writable((void *)lo, hi - lo);
}

/* ---- the fallback tree (M4) ---- */

static const pm_heap **tree_leaf(uintptr_t mib) {
    return __atomic_load_n(&pmh_process.tree_root[mib >> PMH_TREE_LEAF_BITS], __ATOMIC_ACQUIRE);
}

const pm_heap *pmh_map_tree_owner(uintptr_t mib) {
    if (mib >= PMH_MAP_SLOTS) return NULL;
    const pm_heap **leaf = tree_leaf(mib);
    return leaf ? __atomic_load_n(&leaf[mib & (PMH_TREE_LEAF - 1)], __ATOMIC_RELAXED) : NULL;
}

/* Give slots [first, end) their leaves (map_lock held). */
static bool tree_ensure(uintptr_t first, uintptr_t end) {
    for (uintptr_t m = first; m < end; m += PMH_TREE_LEAF - (m & (PMH_TREE_LEAF - 1))) {
        if (tree_leaf(m)) continue;
        const pm_heap **leaf = pmos_map(PMH_TREE_LEAF * sizeof *leaf);
        if (leaf == NULL) return false;
        __atomic_store_n(&pmh_process.tree_root[m >> PMH_TREE_LEAF_BITS], leaf, __ATOMIC_RELEASE);
    }
    return true;
}

/* Make slots [first, end) ready to name a heap (map_lock held): in the
 * table (M1), or in the tree once the table was refused (M4). */
static bool slots_ready(uintptr_t first, uintptr_t end) {
    if (!pmh_process.map_tree) {
        if (table_reserve()) return slots_writable(first, end);
        /* decided at the first arena, for ever */
        __atomic_store_n(&pmh_process.map_tree, true, __ATOMIC_RELEASE);
    }
    return tree_ensure(first, end);
}

static void slot_store(uintptr_t m, const pm_heap *h) {
    if (pmh_process.map_tree)
        __atomic_store_n(&tree_leaf(m)[m & (PMH_TREE_LEAF - 1)], h, __ATOMIC_RELAXED);
    else __atomic_store_n(&pmh_process.map[m], h, __ATOMIC_RELAXED);
}

/* Record h as the owner of [base, base + size), an arena's range (aligned to
 * its size, at least a MiB, below 2^PMH_ADDRESS_BITS); h NULL forgets it.
 * false, with nothing recorded, when no slot can be made ready (only when
 * setting). */
bool pmh_map_set(uintptr_t base, size_t size, const pm_heap *h) {
    uintptr_t first = base >> PMH_MAP_SHIFT, end = first + (size >> PMH_MAP_SHIFT);
    PM_ASSERT(end <= PMH_MAP_SLOTS);
    pmh_process_fork_safe(); /* map_lock is held across fork() */
    pthread_mutex_lock(&map_lock);
    bool ok = h == NULL || slots_ready(first, end);
    for (uintptr_t m = first; m < end && ok; m++) slot_store(m, h);
    pthread_mutex_unlock(&map_lock);
    return ok;
}
