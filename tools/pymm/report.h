/*
 * report.h -- what the files of `pymm report` share (tools/pymm only; not
 * part of the library): a capture file read into figures per stack
 * (report_cmd.c, which also holds the command), frames named and one
 * capture's report printed (report_print.c), stacks keyed by what their
 * frames mean (report_tree.c), two captures compared (report_diff.c),
 * the formats other tools read (report_formats.c, report_pprof.c), the
 * HTML page (report_html.c) and the verdicts of a leak report
 * (report_leaks.c). Cross-file names start with rpt_.
 *
 * A capture's stacks are the nodes of its file: node `id` is the frame
 * `pc` called from the stack `parent` (parent < id); ids 1..RPT_ROOTS are
 * the roots, one per domain. Every figure of a stack is its own (the
 * blocks allocated with exactly that stack), never its callees'.
 */
#ifndef PYMM_REPORT_H
#define PYMM_REPORT_H

#include "diag/capture_format.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RPT_ROOTS PMD_CAPTURE_ROOTS
#define RPT_TEMPORARY_MAX 1024 /* `pymm report --temporary N`: a free scans N addresses */

typedef struct Dwfl Dwfl;           /* elfutils' (libdwfl.h); NULL without libdw */
typedef struct rpt_leaks rpt_leaks; /* report_leaks.c */

/* A node: its frame and caller, 16 bytes, for every node of the file.
 * Most nodes never allocate (a leaf's callers), so figures are kept only
 * for those that do (an owner, rpt_owner): `fig` is RPT_OWNED | the
 * owner's index in rpt_capture.owners once the node has allocated, and
 * until then its domain's root, 1..RPT_ROOTS. */
#define RPT_OWNED 0x80000000u
typedef struct rpt_stack {
    uintptr_t pc;
    uint32_t parent;
    uint32_t fig;
} rpt_stack;

/* The figures of a node that allocated (rpt_stack.fig), made at its
 * first allocation. */
typedef struct rpt_owner {
    uint64_t live_bytes, live_count;
    uint64_t total_bytes, total_count;
    uint64_t temp_bytes, temp_count; /* freed soon: rpt_capture.temporary */
    uint64_t peak_bytes, peak_count; /* valid when epoch == the peak's */
    uint64_t epoch;
    uint32_t root; /* its domain's root, 1..RPT_ROOTS */
    uint32_t node; /* whose figures these are */
} rpt_owner;

/* One step of the timeline: from `ms`, the most bytes live at any event
 * in it, the live bytes of each domain at its end, and the most resident
 * bytes (RSS) in force at any time in it: the last sample before it or
 * any sample in it (0 before the first sample). */
#define RPT_TIMELINE_MAX 2048 /* steps kept; more, and pairs merge */
#define RPT_TIMELINE_STEP 10  /* milliseconds a step covers at first */
typedef struct rpt_step {
    uint64_t ms, max_bytes;
    uint64_t domain[RPT_ROOTS];
    uint64_t rss;
} rpt_step;

/* A live block; in a slot of the live table, addr 0 is an empty slot. */
typedef struct rpt_block {
    uintptr_t addr;
    uint64_t size;
    uint32_t stack, thread;
} rpt_block;

/* An allocation or a free read but not applied yet (report_cmd.c,
 * "Reading ahead"). */
#define RPT_AHEAD 16
#define RPT_AHEAD_FROM (1u << 15) /* slots: a smaller live table stays in the caches */
typedef struct rpt_event {
    uintptr_t addr;
    uint64_t size, ms;
    uint32_t stack; /* 0: a free */
    uint32_t thread;
} rpt_event;

typedef struct rpt_module {
    uintptr_t bias, lo, size;
    char *path;
} rpt_module;

typedef struct rpt_location {
    uint32_t file, function; /* string ids */
    int line;
} rpt_location;

/* A section's figures (by its name's string id). */
typedef struct rpt_section {
    uint64_t occurrences;
    int64_t net;
    uint64_t peak;
} rpt_section;

typedef struct rpt_open_section {
    uint32_t name;
    uint64_t start, max;
    uint64_t start_ms;
} rpt_open_section;

/* One occurrence of a section on the timeline (the HTML page draws them):
 * the first RPT_SPANS_MAX are kept, the rest only counted. */
#define RPT_SPANS_MAX 1000
typedef struct rpt_span {
    uint32_t name, thread; /* a string id; the thread's number */
    uint64_t begin_ms, end_ms;
} rpt_span;

typedef struct rpt_buckets rpt_buckets; /* report_html.c */

/* A thread while reading: its open sections, and the addresses of its
 * last `temporary` allocations (a ring; NULL before its first). */
typedef struct rpt_thread {
    rpt_open_section *open;
    size_t n, cap;
    uintptr_t *recent;
    size_t next; /* the ring's oldest */
} rpt_thread;

/* One collection (a COLLECTION record): it ended at end_ms and took
 * pause_us. The first RPT_COLLECTIONS_MAX are kept, the rest counted. */
#define RPT_COLLECTIONS_MAX 1000
#define RPT_GENERATIONS 3 /* the collector's: 0 young .. 2 oldest */
typedef struct rpt_collection {
    uint64_t end_ms, pause_us, found;
    unsigned generation;
} rpt_collection;

typedef struct rpt_mark {
    uint32_t label;
    uint64_t ms;
} rpt_mark;

typedef struct rpt_capture {
    const char *name;
    /* Set before reading, 1..RPT_TEMPORARY_MAX: a block freed by its own
     * thread before that thread has made `temporary` more allocations is
     * temporary (1: freed before the thread's next allocation). */
    size_t temporary;
    rpt_section *sections; /* [string id] */
    size_t sections_cap;
    rpt_thread *threads; /* [thread number]; 0: events before any THREAD */
    size_t threads_cap;
    uint64_t thread; /* the events' thread now */
    rpt_mark *marks;
    size_t nmarks, marks_cap;
    rpt_span *spans; /* the first RPT_SPANS_MAX sections to end */
    size_t nspans, spans_cap;
    uint64_t spans_total; /* sections ended, kept or not */
    /* Set before reading, or NULL: every event is also summed by time and
     * stack there (rpt_buckets_add), for the page's time ranges; such a
     * second reading keeps neither nodes nor figures by stack (the first
     * has them): only nstacks and the totals. */
    rpt_buckets *buckets;
    bool quiet;     /* set before reading: no warnings (a file read again) */
    char **strings; /* [id] */
    size_t nstrings, strings_cap;
    rpt_location *locations; /* [id] */
    size_t nlocations, locations_cap;
    const unsigned char *p, *end, *base; /* the block's records */
    const unsigned char *file, *file_p, *file_end;
    size_t block_at;         /* the block's offset in the file */
    size_t file_released;    /* the file's bytes before this are given back (read) */
    bool compressed;         /* the block was: offsets are into its records */
    unsigned char *unpacked; /* a compressed block's records */
    size_t unpacked_cap;
    rpt_stack *stacks; /* [node id]; mapped (rpt_grow_mapped) */
    size_t nstacks, stacks_cap;
    rpt_owner *owners; /* [owner index]; mapped (rpt_grow_mapped) */
    size_t nowners, owners_cap;
    rpt_event ahead[RPT_AHEAD]; /* a ring: ahead_n events from ahead_first */
    unsigned ahead_first, ahead_n;
    rpt_block *live; /* the live table (report_cmd.c) */
    size_t live_cap, live_n;
    unsigned live_shift; /* 64 - log2(live_cap) */
    rpt_module *modules;
    size_t nmodules;
    uintptr_t last_addr;
    uint64_t ms, max_thread;
    uint64_t current, peak, peak_ms, peak_epoch;
    uint64_t allocs, frees, alloc_bytes, unknown_frees;
    uint64_t temp_allocs, temp_bytes;
    bool ended;
    bool overlong;         /* a varint of more than ten bytes was met */
    uint64_t realloc_live; /* ALLOCs of an address already live */
    uint64_t end_allocs, end_frees;
    uint64_t end_blocks; /* live at the end: the table's, or a sampled capture's estimate */
    rpt_step *timeline;  /* steps of step_ms from 0, the last one open */
    size_t nsteps;
    uint64_t step_ms;
    uint64_t domain_live[RPT_ROOTS]; /* live bytes by domain now */

    uint64_t sample_bytes; /* INFO sample_bytes: sampled, figures weighted; 0: full */
    uint64_t dropped;      /* INFO dropped: allocations the recorder could not record */
    uint64_t recorded_allocs, recorded_frees; /* the events, unweighted */

    unsigned version;                    /* the file's format version */
    uint64_t rss, rss_peak, rss_peak_ms; /* RSS records: the last, the most */
    uint64_t rss_samples;
    rpt_collection *collections; /* the first RPT_COLLECTIONS_MAX */
    size_t ncollections, collections_cap;
    uint64_t gc_count[RPT_GENERATIONS];              /* collections of each generation */
    uint64_t gc_pause_us, gc_pause_max_us, gc_found; /* over all of them */
    char pid[32];
} rpt_capture;

/* ---- report_cmd.c: reading ----------------------------------------------- */

/* Read the capture at c->name (c zeroed but for name and temporary): 0, or
 * 1 with the error said on stderr as FILE:OFFSET: message. A file cut
 * short is read up to where it ends, with a warning. The file itself is
 * not kept: c holds its figures, strings and modules. */
int rpt_read(rpt_capture *c);
/* c's nodes and figures go (a tree of its stacks has them): of its stacks
 * only nstacks stays, and nothing that reads c->stacks may run after. */
void rpt_drop_stacks(rpt_capture *c);
void rpt_capture_free(rpt_capture *c);

/* Where a report goes: standard output when path is NULL, else the file
 * path, made or emptied (opened once the input has read, so that a bad
 * capture leaves it as it was). NULL with `pymm: PATH: reason` said. */
FILE *rpt_out_open(const char *path);
/* The report is written: 0, or 1 with `pymm: PATH: reason` said (a write
 * that failed: a full disk, /dev/full). f is closed unless stdout. */
int rpt_out_close(FILE *f, const char *path);

/* Room for `need` items of `size` bytes in *items (the new ones zeroed):
 * false for want of memory. */
bool rpt_grow(void **items, size_t *cap, size_t need, size_t size);
/* The same for an array that may grow to hundreds of MB, in memory mapped
 * from the OS: it grows in place or moves by remapping (no copy), and a
 * page costs memory only once written (no zeroing of the new room).
 * rpt_unmap frees it (NULL: nothing). */
bool rpt_grow_mapped(void **items, size_t *cap, size_t need, size_t size);
void rpt_unmap(void *items, size_t cap, size_t size);

/* ---- report_print.c: names, stacks and one capture's report -------------- */

enum rpt_view { RPT_AT_PEAK, RPT_AT_END, RPT_ALLOCATED, RPT_TEMPORARY, RPT_VIEWS };

/* A stack's own bytes and blocks in a view. */
void rpt_figures(const rpt_capture *c, uint32_t id, enum rpt_view v, uint64_t *bytes,
                 uint64_t *count);
const char *rpt_domain(const rpt_capture *c, uint32_t id);
const char *rpt_domain_name(uint32_t root); /* root: 1..RPT_ROOTS */

typedef struct rpt_frame {
    char function[256];
    char file[512];
    int line;
    bool interpreter;
} rpt_frame;

/* The names of modules m[0..n): each ELF file at its load bias (NULL
 * without libdw). placed, when not NULL, gets for each module the bias
 * libdwfl gave it, so that an address inside the file is placed[i] + it
 * (a fixed executable's is 0 whatever was asked), or UINTPTR_MAX for a
 * file it could not read. rpt_names_open: a capture's modules. */
Dwfl *rpt_names_open_modules(const rpt_module *m, size_t n, uintptr_t *placed);
Dwfl *rpt_names_open(const rpt_capture *c);
void rpt_names_close(Dwfl *d);
const rpt_module *rpt_module_of(const rpt_capture *c, uintptr_t pc);
/* A native pc named from d's debug information into out (zeroed before,
 * by the caller): true when its function was found; file and line are
 * set only when known. */
bool rpt_name_native(Dwfl *d, uintptr_t pc, rpt_frame *out);
void rpt_name_frame(const rpt_capture *c, Dwfl *d, uintptr_t pc, rpt_frame *out);

void rpt_frame_text(FILE *f, const char *function, const char *file, int line, bool interpreter);
void rpt_frame_json(FILE *f, const char *function, const char *file, int line, bool interpreter,
                    bool first);
void rpt_stack_text(FILE *f, const rpt_capture *c, Dwfl *d, uint32_t id);
void rpt_stack_json(FILE *f, const rpt_capture *c, Dwfl *d, uint32_t id);
void rpt_json_string(FILE *f, const char *s);
void rpt_human(char *out, size_t size, uint64_t bytes);
void rpt_summary_text(FILE *f, const rpt_capture *c);
void rpt_summary_json(FILE *f, const rpt_capture *c);
void rpt_report_text(FILE *f, const rpt_capture *c, Dwfl *d, size_t top);
/* leaks: a `leaks` member (NULL: none). */
void rpt_report_json(FILE *f, const rpt_capture *c, Dwfl *d, size_t top, const rpt_leaks *leaks);

/* ---- report_tree.c: stacks by what their frames mean ----------------------- */

/* A 64-bit key to a non-zero 32-bit id: open addressing, linear probing,
 * at most half full; a slot whose value is 0 is empty. */
typedef struct rpt_map {
    uint64_t *keys;
    uint32_t *ids;
    size_t cap, n;
    unsigned shift;
} rpt_map;

/* The id slot of key: 0 when the key is new, and the caller then sets it
 * (non-zero); NULL for want of memory. */
uint32_t *rpt_map_slot(rpt_map *m, uint64_t key);
void rpt_map_free(rpt_map *m);

/* Distinct strings numbered 1, 2, ... (zeroed: empty). */
typedef struct rpt_strings {
    char **strings; /* [id], from 1 */
    size_t n, cap;  /* n: the next id */
    rpt_map ids;    /* a string's hash (moved on past a clash) to its id */
} rpt_strings;

/* The id of string s, a malloc'd string the table takes (freed when it
 * knows s already): 0 for want of memory. */
uint32_t rpt_intern(rpt_strings *t, char *s);
void rpt_strings_free(rpt_strings *t);

typedef struct rpt_counts {
    uint64_t bytes, count;
} rpt_counts;

/* A frame's name, kept once libdw is closed (its strings: rpt_tree.names). */
typedef struct rpt_tframe {
    const char *function, *file; /* NULL function: the key is a module's path */
    int line;
    bool interpreter;
} rpt_tframe;

/* A stack of the tree: its parent and frame, and 1 + the index of its
 * figures in rpt_tree.figs (0: no capture gave it any; most stacks are
 * callers that never allocated). */
typedef struct rpt_tstack {
    uint32_t parent, frame, fig;
} rpt_tstack;
typedef rpt_counts rpt_tfigures[RPT_VIEWS];

/* Ids in open addressing (linear probing, at most half full, 0 an empty
 * slot) whose keys are read from what they number. */
typedef struct rpt_idmap {
    uint32_t *ids;
    size_t cap, n;
    unsigned shift;
} rpt_idmap;

typedef struct rpt_tree {
    bool sealed;        /* rpt_tree_seal has run: no capture may be added */
    bool by_name;       /* frames by printed name alone, all domains under root 1 */
    rpt_strings keys;   /* a frame's key, or a module's path: ids are frame ids */
    rpt_strings names;  /* the frames' functions and files, each once */
    rpt_tframe *frames; /* [key id] */
    size_t frames_cap;
    rpt_map by_offset;  /* a module path's key id << 44 | an offset from its bias, to a frame */
    rpt_tstack *stacks; /* [id]; 1..RPT_ROOTS the roots; a parent's id is smaller (mapped) */
    size_t nstacks, stacks_cap;
    rpt_tfigures *figs[2]; /* [which][fig - 1]: each capture's figures (mapped) */
    size_t nfigs, figs_cap[2];
    rpt_idmap stack_ids; /* parent and frame to stack id (report_tree.c) */
    uint32_t *nodes;     /* [node id] of the capture added last: its tree stack */
} rpt_tree;

/* An empty tree (by_name: as above); false for want of memory, said on
 * stderr. rpt_tree_free is due either way. */
bool rpt_tree_init(rpt_tree *t, bool by_name);
/* Capture c's stacks onto the tree, its figures as fig[which], its frames
 * named with d: 0, or 1 with the error said. Not once sealed. */
int rpt_tree_add(rpt_tree *t, const rpt_capture *c, Dwfl *d, int which);
/* No capture will be added: the tables that match frames and stacks go. */
void rpt_tree_seal(rpt_tree *t);
void rpt_tree_free(rpt_tree *t);
/* Tree stack id's figures from capture `which`, RPT_VIEWS of them (all 0
 * when it has none). */
const rpt_counts *rpt_tree_figures(const rpt_tree *t, uint32_t id, int which);
const char *rpt_tree_domain(const rpt_tree *t, uint32_t id); /* not for by_name trees */

/* Frames of tree stack id, innermost first, into *path (grown as
 * needed): their number, or SIZE_MAX for want of memory. */
size_t rpt_tree_path(const rpt_tree *t, uint32_t id, uint32_t **path, size_t *cap);

/* ---- report_formats.c, report_pprof.c, report_html.c: the formats by stack */

/* What the formats by stack are asked for. */
#define RPT_HTML_STACKS 500  /* --max-stacks: stacks the page keeps, the rest "other" */
#define RPT_HTML_BUCKETS 100 /* --buckets: time buckets of the page's ranges */
#define RPT_HTML_MAX 100000  /* the most either may be */
typedef struct rpt_options {
    enum rpt_view measure; /* the bytes shown (the page: shown first) */
    size_t max_stacks, buckets;
    const rpt_leaks *leaks; /* --leaks: the page lists them; NULL: none */
} rpt_options;

/* Each writes the stacks of capture c, on its tree by name t (by_name,
 * c's figures as fig[0]), to f, in the bytes of o->measure: 0, or 1 with
 * the error said. pprof's inuse_* are at the peak, or at the exit with
 * RPT_AT_END (never RPT_TEMPORARY); its alloc_* are RPT_ALLOCATED. The
 * page reads c's file a second time, to sum its events by time. */
int rpt_write_collapsed(FILE *f, const rpt_capture *c, const rpt_tree *t, const rpt_options *o);
int rpt_write_speedscope(FILE *f, const rpt_capture *c, const rpt_tree *t, const rpt_options *o);
int rpt_write_pprof(FILE *f, const rpt_capture *c, const rpt_tree *t, const rpt_options *o);
int rpt_write_html(FILE *f, const rpt_capture *c, const rpt_tree *t, const rpt_options *o);

/* An event of the second reading, summed into its bucket and stack's
 * cell (kind: what it adds to): false for want of memory. */
enum rpt_cell_kind { RPT_CELL_ALLOC, RPT_CELL_FREE, RPT_CELL_TEMP };
bool rpt_buckets_add(rpt_buckets *b, uint32_t node, uint64_t ms, enum rpt_cell_kind kind,
                     uint64_t bytes, uint64_t count);

/* ---- report_leaks.c: the verdicts of a leak report ---------------------- */

/* A frame of a verdict's allocation stack, as the leak report gives it. */
typedef struct rpt_leak_frame {
    char *function, *file;
    int line;
    bool interpreter;
    bool has_offset; /* a native frame with its address inside its module file */
    uint64_t offset;
} rpt_leak_frame;

/* A reference between two nodes of a verdict's neighbourhood: from holds to. */
typedef struct rpt_leak_edge {
    size_t from, to;
    char *label;
} rpt_leak_edge;

/* One verdict (docs/FORMATS.md, "Leak verdicts"): its path's steps
 * "LABEL: REPR" then "LABEL -> REPR", the root first; its leak root's
 * neighbourhood (nodes[0] the leak root; nnodes 0 when the file has none). */
typedef struct rpt_leak {
    const char *kind; /* "cycle", "unowned", "growth" or "block" (static) */
    char *type;
    int64_t count, bytes;
    char **path;
    size_t npath;
    rpt_leak_frame *stack; /* innermost first */
    size_t nstack;
    int64_t *growth; /* growth only: the change at each of the last checkpoints */
    size_t ngrowth;
    char **nodes;
    size_t nnodes;
    rpt_leak_edge *edges[2]; /* 0: refs (from the root out), 1: backrefs (into it) */
    size_t nedges[2];
} rpt_leak;

struct rpt_leaks {
    const char *name; /* the file's */
    rpt_leak *items;
    size_t n;
};

/* Read the leak report at path (PYMM_LEAKS=FILE, pm_leaks_write_json):
 * 0, or 1 with the error said as FILE:LINE[:COL]: what (out then empty).
 * Its native frames with an offset are named from their modules' debug
 * information as a capture's are (function, file:line); a frame that
 * cannot be named keeps what the file says.
 * rpt_leaks_free is due after 0. */
int rpt_leaks_read(rpt_leaks *out, const char *path);
void rpt_leaks_free(rpt_leaks *l);
/* The text report's section, and the JSON list of the first max verdicts
 * (the JSON report's `leaks` member; the page's). */
void rpt_leaks_text(FILE *f, const rpt_leaks *l);
void rpt_leaks_json(FILE *f, const rpt_leaks *l, size_t max);
/* The reference graphs of the verdicts, one cluster each: as DOT text
 * (0, or -1 on a write error), as SVG by graphviz's dot (0, or 1 with
 * the error said: "svg needs graphviz's dot; use --format dot" when it
 * is not installed). */
int rpt_leaks_dot(FILE *f, const rpt_leaks *l);
int rpt_leaks_svg(FILE *f, const rpt_leaks *l);
bool rpt_svg_available(void);

/* ---- report_diff.c ------------------------------------------------------- */

/* `pymm report --diff A B`, written to out (rpt_out_open): 0, or 1 with
 * the error said. */
int rpt_diff(const char *out, const char *a, const char *b, bool json, size_t top,
             size_t temporary);

#endif
