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
 * Shape: a two-level radix tree over the 28-bit slot number (a >> 20) of a
 * 48-bit user address.
 *   root  PMH_MAP_ROOT entries (8 KiB, pmh_process.map_root), one per 256 GiB of address
 *         space, each naming a leaf;
 *   leaf  PMH_MAP_LEAF entries (2 MiB of address space reserved with mmap,
 *         each 4 KiB page written only when an arena lies in the 512 MiB it
 *         covers), one per MiB slot: the heap that owns it, or NULL.
 * A program whose arenas lie within one 256 GiB region (the usual case: the
 * kernel places mappings side by side) has one leaf for all its heaps; memory
 * grows with the address space in use, never with the number of heaps.
 * (CPython's obmalloc has three levels; two keep the free fast path within
 * the instruction budget of the pair, bench/README.md.)
 *
 * Invariants:
 *   M1  every root entry names a leaf: the shared all-NULL vacant leaf
 *       until an arena lands in its region, then a leaf of its own, for ever.
 *       So a lookup never tests for a missing level.
 *   M2  root entries are biased: entry i holds leaf - i * PMH_MAP_LEAF slots,
 *       so that the leaf slot of MiB number m is entry + m, with no masking.
 *   M3  a leaf slot holds h iff its MiB lies in a live arena of heap h (I5 of
 *       heap.h): set after the arena is mapped, cleared before it is unmapped.
 *   M4  leaves are never freed or moved while the process lives (a lookup
 *       holds no lock); they cost 2 MiB of reserved address space each, and
 *       a page of memory per 512 MiB of address space that ever held an
 *       arena.
 *
 * Threads. Writers (a heap mapping or unmapping an arena, on its slow path)
 * take `map_lock`, so that creating a leaf and ordering the writes of one
 * slot by two heaps (one unmaps an arena, the other maps the same range) are
 * serialized. Lookups take no lock: every root entry and slot is read and
 * written atomically (relaxed loads are plain loads on x86-64 and arm64). A
 * new leaf is zero from mmap and is published with a release store; a reader
 * that follows the entry reads slots of that leaf through the address it
 * loaded (a dependent load). Only the owning heap's own thread (or one that
 * the caller synchronized with it) needs to see its slots: another heap's
 * lookup compares with itself and is right whether it reads the slot before
 * or after a change. The lock is held across fork() (pmh_process_fork_safe,
 * at the first write), so a child never inherits it taken.
 */
#include "heap/heap.h"
#include "heap/os.h"

#include <pthread.h>

/* The map's state is pmh_process's (process.c): its root and its lock;
 * the vacant leaf beside it. */
#define map_root pmh_process.map_root
#define map_lock pmh_process.map_lock
#define VACANT(i) PMH_MAP_VACANT(i)

static _Atomic(const pm_heap *) *slot_at(uintptr_t mib) {
    uintptr_t biased =
        atomic_load_explicit(&map_root[mib >> PMH_MAP_LEAF_BITS], memory_order_relaxed);
    return (_Atomic(const pm_heap *) *)(biased + mib * sizeof(void *));
}

/* Give the region of MiB number `mib` a leaf of its own (map_lock held). */
static bool leaf_ensure(uintptr_t mib) {
    uintptr_t i = mib >> PMH_MAP_LEAF_BITS;
    if (atomic_load_explicit(&map_root[i], memory_order_relaxed) != VACANT(i)) return true;
    void *leaf = pmos_map(PMH_MAP_LEAF * sizeof(void *));
    if (leaf == NULL) return false;
    uintptr_t biased = (uintptr_t)leaf - (i << PMH_MAP_LEAF_BITS) * sizeof(void *);
    atomic_store_explicit(&map_root[i], biased, memory_order_release);
    return true;
}

/* Record h as the owner of [base, base + size), an arena's range (aligned to
 * its size, at least a MiB, below 2^48); h NULL forgets it. false, with
 * nothing recorded, when a leaf cannot be mapped (only when setting). */
bool pmh_map_set(uintptr_t base, size_t size, const pm_heap *h) {
    uintptr_t first = base >> PMH_MAP_SHIFT, end = first + (size >> PMH_MAP_SHIFT);
    bool ok = true;
    pmh_process_fork_safe(); /* map_lock is held across fork() */
    pthread_mutex_lock(&map_lock);
    for (uintptr_t m = first; m < end && ok; m += PMH_MAP_LEAF - (m & (PMH_MAP_LEAF - 1)))
        ok = h == NULL || leaf_ensure(m);
    for (uintptr_t m = first; m < end && ok; m++)
        atomic_store_explicit(slot_at(m), h, memory_order_relaxed);
    pthread_mutex_unlock(&map_lock);
    return ok;
}
