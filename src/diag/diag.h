/*
 * diag.h -- what the diagnostics layer's modules share (src/diag/ only).
 *
 * trace.c records; capture.c writes what it records to a capture file as
 * the program runs (docs/FORMATS.md, "Capture files"). Every function here
 * is a slow path of the recorder, never of the allocator.
 */
#ifndef PM_DIAG_H
#define PM_DIAG_H

#include "pm_config.h"
#include "pymm.h"

#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <unwind.h>
#include <stdio.h>
#include <stdint.h>

typedef struct pmd_capture pmd_capture;

/* v at out as an unsigned LEB128 varint (at most 10 bytes); its length.
 * The capture's and the snapshot file's numbers. */
static inline size_t pmd_encode_varint(unsigned char *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (unsigned char)v;
    return n;
}

/* Is `variable` (PYMM_TRACE, PYMM_LEAKS) this copy of pymm's to act on
 * (trace.c)? Not when another copy in the process acts on it (heap/
 * process.h, pmh_process_copy); if the program's own calls reach this one
 * all the same, a line on stderr says that they go unrecorded (`what`:
 * what the other copy does, "traces" or "checks"). */
PM_HIDDEN bool pmd_env_is_mine(const char *variable, const char *what);

/* Tests (trace.c): the recorder's next n mappings succeed, the ones after
 * fail, as when the OS has no more memory; -1: no limit. */
PM_HIDDEN void pmd_trace_fail_maps(long n);
/* Every live traced block, under the recorder's lock (fn must not call
 * the recorder): its stack id, the bytes and blocks it stands for
 * (weighed, when sampled) and, when the object layer said it is an
 * object, the object (else NULL). Nothing when not tracing. */
typedef void (*pmd_block_fn)(void *arg, uint32_t stack, size_t bytes, size_t count,
                             const void *object);
PM_HIDDEN void pmd_trace_each_block(pmd_block_fn fn, void *arg);
/* The domain (PM_TRACE_DOMAIN_*) whose root a stack id hangs from; -1 for
 * an id the recorder does not know. */
PM_HIDDEN int pmd_trace_stack_domain(uint32_t stack);

/* The capture file's writer (capture.c). A capture has no lock: its
 * caller serializes every call on it (the recorder's lock). */

/* Open path for writing (O_TRUNC) and write the header and the loaded
 * modules; NULL with errno set when it cannot. sample_bytes: the mean
 * gap of sampled mode (0: every allocation). gen: a number no other
 * capture of the process had (threads are numbered per capture). Its
 * memory comes from the OS (the recorder's rule R2). */
PM_HIDDEN pmd_capture *pmd_capture_open(const char *path, unsigned frames, size_t sample_bytes,
                                        uint64_t gen);
/* A fact of the run (an INFO record), a number. */
PM_HIDDEN void pmd_capture_info_number(pmd_capture *c, const char *key, uint64_t v);
/* A stack node: frame pc called from stack parent (parent 1..4: a domain's
 * root). Written before any allocation names it. */
PM_HIDDEN void pmd_capture_node(pmd_capture *c, uint32_t id, uint32_t parent, uintptr_t pc);
/* A string (by id, from 1) and an interpreter location naming two of
 * them; written before any node names the location. */
PM_HIDDEN void pmd_capture_string(pmd_capture *c, uint32_t id, const char *text);
PM_HIDDEN void pmd_capture_location(pmd_capture *c, uint32_t id, uint32_t file, uint32_t function,
                                    int line);
/* A section's begin or end, or a mark, naming a string. */
enum { PMD_NAMED_END = 0, PMD_NAMED_BEGIN = 1, PMD_NAMED_MARK = 2 };
PM_HIDDEN void pmd_capture_named(pmd_capture *c, uint32_t string, int what);
/* An allocation of n bytes at p from stack, and a free of p. */
PM_HIDDEN void pmd_capture_alloc(pmd_capture *c, const void *p, size_t n, uint32_t stack);
PM_HIDDEN void pmd_capture_free(pmd_capture *c, const void *p);
/* A collection of generation gen has just ended: it took pause_us
 * microseconds and found `found` unreachable objects. */
PM_HIDDEN void pmd_capture_collection(pmd_capture *c, int gen, uint64_t pause_us, uint64_t found);
/* In a fork child: drop the parent's file and buffer without writing
 * (the parent goes on with them). */
PM_HIDDEN void pmd_capture_abandon(pmd_capture *c);
/* At exit, with other threads perhaps still recording: the end record
 * and everything flushed; every later call on c does nothing. c stays. */
PM_HIDDEN void pmd_capture_finish(pmd_capture *c);
/* The end: modules loaded since the start, the end record, everything
 * flushed, the file closed and c freed. */
PM_HIDDEN void pmd_capture_close(pmd_capture *c);
/* The main program's file (/proc/self/exe; dl_iterate_phdr gives it no
 * name) into out, NUL-terminated: false, and out "", if it cannot be
 * read or does not fit. */
PM_HIDDEN bool pmd_program_path(char *out, size_t size);

/* ---- why an object is alive (census.c, refs.c, roots.c, held.c, paths.c) ---- */

/* census.c: every live object of rt (rt NULL: the current runtime), as
 * a census finds them: borrowed, in an internal array (NULL when there
 * is none) for pmh_internal_free. -1 with the exception set (C4). */
PM_HIDDEN int pmd_census_objects(pm_runtime *rt, pm_object ***objects, size_t *n);

/* refs.c: the strong references an object holds, each with the edge that
 * says which slot holds it (docs/DESIGN.md, "Diagnostics: why is it
 * alive"). An edge is a kind and an index in one word. */
typedef uint64_t pmd_edge;
enum pmd_edge_kind {
    PMD_EDGE_ITEM = 1,   /* list or tuple item: index                  */
    PMD_EDGE_VALUE,      /* dict value: the entry's index              */
    PMD_EDGE_KEY,        /* dict key: the entry's index                */
    PMD_EDGE_MEMBER,     /* set or frozenset member                    */
    PMD_EDGE_ATTRS,      /* an instance's attribute dict               */
    PMD_EDGE_FIELD,      /* an instance's reference field: its number  */
    PMD_EDGE_REFERENT,   /* the n-th visit of a type's traverse slot   */
    PMD_EDGE_TYPE,       /* an instance's reference to its heap type   */
    PMD_EDGE_ITERATED,   /* an iterator's container                    */
    PMD_EDGE_WEAKREF,    /* what a weak reference holds strongly       */
    PMD_EDGE_ROOT,       /* a path's start: a declared root           */
    PMD_EDGE_HELD_FROM_C /* a path's start: index = the C references */
};
#define PMD_EDGE(kind, index) (((pmd_edge)(kind) << 56) | ((pmd_edge)(index) & ((1ull << 56) - 1)))
#define PMD_EDGE_KIND(e) ((unsigned)((e) >> 56))
#define PMD_EDGE_INDEX(e) ((uint64_t)(e) & ((1ull << 56) - 1))
/* Called with each referent; a non-zero return stops the walk and is
 * returned. */
typedef int (*pmd_edge_fn)(pm_object *child, pmd_edge e, void *arg);
PM_HIDDEN int pmd_referents(pm_object *o, pmd_edge_fn fn, void *arg);
/* The label of edge e out of parent ("['users']", "[2]", "field 0"), or
 * of a path's start; at most size - 1 bytes, NUL-ended. Reads only. */
PM_HIDDEN void pmd_edge_label(pm_object *parent, pmd_edge e, char *buf, size_t size);
/* A short description of o ("list (3 items)", "str 'abc'"). Reads only:
 * it makes no object and calls no slot. */
PM_HIDDEN void pmd_short_repr(pm_object *o, char *buf, size_t size);

/* roots.c: the current state of rt's declared roots (borrowed). */
typedef struct pmd_root {
    pm_object *object;
    char *name;
} pmd_root;
PM_HIDDEN const pmd_root *pmd_roots_of(pm_runtime *rt, size_t *n);

/* held.c: a runtime's object graph as a question sees it: every live
 * object, sorted by address (an object's number is its place), and how
 * many of its references no object, root or part of pymm accounts for. */
typedef struct pmd_graph_region pmd_graph_region;
typedef struct pmd_graph {
    pm_runtime *rt;
    pm_object **objects;
    size_t n;
    uint32_t *external; /* per object: references held from C */
    /* The index (held.c, H5): each pool-sized aligned region holding
     * objects, with the range of objects[] inside it. */
    pmd_graph_region *regions;
    size_t region_cap;
    uintptr_t region_mask;
    uint32_t *slots; /* a pool's block k: its object's number, or none */
    /* pmd_graph_build_edges only (else NULL): objects[i]'s references to
     * objects of the graph, by number, at edges[edge_at[i] .. edge_at[i+1]]. */
    uint32_t *edges, *edge_at;
    size_t nedges, edge_cap;
    bool keep_edges, failed;
} pmd_graph;
#define PMD_NONE SIZE_MAX
PM_HIDDEN int pmd_graph_build(pmd_graph *g, pm_runtime *rt);
/* The objects alone, sorted (external NULL): for the questions that do
 * not ask what C holds (sizes.c's deep size). */
PM_HIDDEN int pmd_graph_objects(pmd_graph *g, pm_runtime *rt);
/* pmd_graph_build, keeping the edges its accounting walks (sizes.c's
 * dominator tree: one walk of the graph instead of two). */
PM_HIDDEN int pmd_graph_build_edges(pmd_graph *g, pm_runtime *rt);
PM_HIDDEN size_t pmd_graph_index(const pmd_graph *g, const pm_object *o);
PM_HIDDEN void pmd_graph_free(pmd_graph *g);

/* refgraph.c: trees of referrers (backward) or referents over a graph the
 * caller built and keeps unchanged, as many as wanted (the leak check's
 * verdicts): the reverse index is built at the first tree of referrers
 * and kept. target must be in the graph. NULL when out of memory, with no
 * exception set; a tree is freed with pm_refgraph_free. */
typedef struct pmd_trees pmd_trees;
PM_HIDDEN pmd_trees *pmd_trees_new(const pmd_graph *g);
PM_HIDDEN pm_refgraph *pmd_trees_grow(pmd_trees *s, pm_object *target, size_t depth,
                                      size_t max_refs, bool backward);
PM_HIDDEN void pmd_trees_free(pmd_trees *s);

/* refgraph.c: whether a tree's children hold their parents (referrers).
 * paths.c: whether a path starts at a declared root (else: held from C).
 * For dot.c. */
PM_HIDDEN bool pmd_refgraph_backward(const pm_refgraph *g);
PM_HIDDEN bool pmd_path_from_root(const pm_path *p);

/* ---- leak verdicts (leaks.c, leakscan.c, leakwatch.c, leakreport.c, leakgraph.c) ---- */

/* census.c: whether rt has a census mark (pm_census_mark). */
PM_HIDDEN bool pmd_census_marked(const pm_runtime *rt);
/* paths.c: pm_path_to in runtime rt (NULL: the current one). */
PM_HIDDEN pm_path *pmd_path_in(pm_runtime *rt, pm_object *target);

/* leakscan.c: every aligned word of [lo, hi) to fn, read as a number
 * (never as a pointer the sanitizers check); and every word of the
 * program's memory: writable segments of every loaded module, the jmp_buf
 * of saved registers, and the calling thread's stack from `from` to its
 * top. -1 (RuntimeError) when the stack cannot be found. */
typedef void (*pmd_word_fn)(uintptr_t word, void *arg);
PM_HIDDEN void pmd_scan_words(const void *lo, const void *hi, pmd_word_fn fn, void *arg);
PM_HIDDEN int pmd_scan_program(const void *from, const void *regs, size_t regs_size, pmd_word_fn fn,
                               void *arg);

/* leakscan.c: the frame that called exit(), found by libgcc's unwinder
 * from an atexit handler: the stack from `from` up is the program's live
 * frames, `regs` the callee-saved registers as that frame had them. false
 * when it cannot be found (no unwinder, not inside exit, an architecture
 * whose registers are not listed). */
typedef struct pmd_exit_frame {
    const void *from;
    uintptr_t regs[16];
    size_t nregs;
} pmd_exit_frame;
PM_HIDDEN bool pmd_find_exit_frame(pmd_exit_frame *x);

/* leaks.c: the check at exit (leakenv.c): the stack scanned from the
 * frame that called exit() up, when it can be found, else as
 * pm_leaks_check scans it. */
PM_HIDDEN pm_leaks *pmd_leaks_check_at_exit(pm_runtime *rt);

/* trace.c: libgcc's unwinder, found in libgcc_s when it is first needed
 * rather than linked: a program that never traces does not map the
 * library (about 90 KiB of resident memory at load; docs/PERFORMANCE.md).
 * It is loaded for good (RTLD_NODELETE): a thread still in a wrapper when
 * the recording stops may be inside it. backtrace NULL: not found. */
typedef struct pmd_unwinder {
    _Unwind_Reason_Code (*backtrace)(_Unwind_Trace_Fn fn, void *arg);
    _Unwind_Ptr (*get_ip)(struct _Unwind_Context *ctx);
    _Unwind_Ptr (*get_region_start)(struct _Unwind_Context *ctx);
    _Unwind_Word (*get_cfa)(struct _Unwind_Context *ctx);
    _Unwind_Word (*get_gr)(struct _Unwind_Context *ctx, int reg);
} pmd_unwinder;
PM_HIDDEN bool pmd_unwinder_load(pmd_unwinder *u);

/* leakwatch.c: a checkpoint of watch w over the live containers given;
 * fn is called for each that grew at each of the last k checkpoints with
 * its k changes, oldest first (a non-zero return stops, and is -1).
 * -1 with MemoryError when the watch's table cannot be made. */
typedef int (*pmd_growth_fn)(void *arg, pm_object *o, const int64_t *delta, size_t k);
PM_HIDDEN int pmd_watch_step(pm_leak_watch *w, pm_object *const *containers, size_t n,
                             pmd_growth_fn fn, void *arg);

/* leaks.c: remove (and free) the verdicts drop says so of, keeping the
 * others' order. leakreport.c: the verdicts as JSON items, each after
 * ",\n  " (the first after "\n  " when `first`): 0, or -1 on a write
 * error. For leakenv.c. */
PM_HIDDEN void pmd_leaks_drop(pm_leaks *r, bool (*drop)(const pm_leak *l, void *arg), void *arg);
PM_HIDDEN int pmd_leaks_json_items(const pm_leaks *r, FILE *out, bool first);

/* leakgraph.c: verdict l's neighbourhood (pm_leak's nodes, refs and
 * backrefs) from trees grown in s over the check's graph, which holds
 * l's object; false, and none, when out of memory. Its memory goes with
 * pmd_leak_graph_clear. For leaks.c. */
PM_HIDDEN bool pmd_leak_graph(pmd_trees *s, pm_leak *l);
PM_HIDDEN void pmd_leak_graph_clear(pm_leak *l);
/* A file name from the environment with each %p the process id (trace.c). */

/* dot.c: n bytes of program text inside a DOT quoted string ('"', '\\'
 * and control characters escaped): 0, or -1 on a write error. */
PM_HIDDEN int pmd_dot_escape(FILE *out, const char *s, size_t n);

#endif
