/*
 * report_cmd.c -- `pymm report FILE [--format text|json] [--top N]`: what
 * a capture file (PYMM_TRACE=FILE, or pm_trace_config.file) says about a
 * run: totals, the peak, the stacks that held the most memory at the peak
 * and at the end, the stacks that allocated the most.
 *
 * The file is read in one pass, a block at a time (docs/FORMATS.md,
 * "Capture files"; a compressed block is decompressed whole), with
 * memory bounded by the distinct stacks and the live blocks: a table of
 * live blocks by address, and per stack its live, total and at-peak
 * figures. The peak costs O(1) an event: a new peak only bumps an epoch,
 * and a stack's figures at the peak are its live ones until it first
 * changes after that epoch, when they are saved (its `epoch` says which
 * peak they belong to).
 *
 * Frames are named when the report is made, from the modules' debug
 * information (elfutils' libdwfl): function, file and line. A module that
 * cannot be read leaves its frames as module+offset.
 */
#define _GNU_SOURCE
#include "diag/capture_format.h"
#include "pymm.h"

#ifdef PYMM_HAVE_LIBDW
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#else
typedef struct Dwfl Dwfl; /* never made: frames stay module+offset */
#endif
#ifdef PYMM_HAVE_ZSTD
#include <zstd.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int pymm_report_main(int argc, char **argv);

#define ROOTS PMD_CAPTURE_ROOTS

static const char *const domain_names[ROOTS] = {"raw", "mem", "obj", "pm_heap"};

typedef struct stack_stat {
    uint32_t parent;
    uintptr_t pc;
    uint64_t live_bytes, live_count;
    uint64_t total_bytes, total_count;
    uint64_t peak_bytes, peak_count; /* valid when epoch == the peak's */
    uint64_t epoch;
} stack_stat;

typedef struct live_block {
    uintptr_t addr; /* 0: empty; 1: deleted */
    uint32_t stack;
    uint64_t size;
} live_block;

typedef struct module {
    uintptr_t bias, lo, size;
    char *path;
} module;

typedef struct location {
    uint32_t file, function; /* string ids */
    int line;
} location;

/* A section's figures (by its name's string id), and a thread's open
 * sections while reading. */
typedef struct section_stat {
    uint64_t occurrences;
    int64_t net;
    uint64_t peak;
} section_stat;

typedef struct open_section {
    uint32_t name;
    uint64_t start, max;
} open_section;

typedef struct thread_sections {
    open_section *open;
    size_t n, cap;
} thread_sections;

typedef struct mark {
    uint32_t label;
    uint64_t ms;
} mark;

typedef struct capture {
    const char *name;
    section_stat *sections; /* [string id] */
    size_t sections_cap;
    thread_sections *threads; /* [thread number] */
    size_t threads_cap;
    uint64_t thread; /* the events' thread now */
    mark *marks;
    size_t nmarks, marks_cap;
    char **strings; /* [id] */
    size_t nstrings, strings_cap;
    location *locations; /* [id] */
    size_t nlocations, locations_cap;
    const unsigned char *p, *end, *base; /* the block's records */
    const unsigned char *file, *file_p, *file_end;
    size_t block_at;         /* the block's offset in the file */
    bool compressed;         /* the block was: offsets are into its records */
    unsigned char *unpacked; /* a compressed block's records */
    size_t unpacked_cap;
    stack_stat *stacks;
    size_t nstacks, stacks_cap;
    live_block *live;
    size_t live_cap, live_used, live_n;
    module *modules;
    size_t nmodules;
    uintptr_t last_addr;
    uint64_t ms, max_thread;
    uint64_t current, peak, peak_ms, peak_epoch;
    uint64_t allocs, frees, alloc_bytes, unknown_frees;
    bool ended;
    bool overlong;         /* a varint of more than ten bytes was met */
    uint64_t realloc_live; /* ALLOCs of an address already live */
    uint64_t end_allocs, end_frees;
    char pid[32];
} capture;

/* ---- reading -------------------------------------------------------------- */

/* A varint; false at the end of the file (a record cut short) or, with
 * c->overlong set, when it is longer than ten bytes (a damaged file). */
static bool get_varint(capture *c, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned shift = 0; c->p < c->end; shift += 7) {
        if (shift >= 70) {
            c->overlong = true;
            return false;
        }
        unsigned char b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static bool get_svarint(capture *c, int64_t *out) {
    uint64_t v;
    if (!get_varint(c, &v)) return false;
    *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
    return true;
}

static bool get_string(capture *c, const unsigned char **s, uint64_t *len) {
    if (!get_varint(c, len) || (uint64_t)(c->end - c->p) < *len) return false;
    *s = c->p;
    c->p += *len;
    return true;
}

static bool grow(void **items, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap : 1024;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*items, cap2 * size);
    if (q == NULL) return false;
    memset((char *)q + *cap * size, 0, (cap2 - *cap) * size);
    *items = q;
    *cap = cap2;
    return true;
}

static size_t slot_of(uintptr_t a, size_t cap) {
    return (size_t)((a >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static live_block *live_find(capture *c, uintptr_t a) {
    if (c->live_cap == 0) return NULL;
    for (size_t i = slot_of(a, c->live_cap);; i = (i + 1) & (c->live_cap - 1)) {
        if (c->live[i].addr == a) return &c->live[i];
        if (c->live[i].addr == 0) return NULL;
    }
}

static bool live_reserve(capture *c) {
    if ((c->live_used + 1) * 4 <= c->live_cap * 3) return true;
    size_t cap = c->live_cap ? c->live_cap : 4096;
    while ((c->live_n + 1) * 2 > cap) cap *= 2;
    live_block *t = calloc(cap, sizeof *t);
    if (t == NULL) return false;
    for (size_t i = 0; i < c->live_cap; i++) {
        if (c->live[i].addr <= 1) continue;
        size_t j = slot_of(c->live[i].addr, cap);
        while (t[j].addr) j = (j + 1) & (cap - 1);
        t[j] = c->live[i];
    }
    free(c->live);
    c->live = t;
    c->live_cap = cap;
    c->live_used = c->live_n;
    return true;
}

/* A stack's figures before its first change after the latest peak. */
static void touch(capture *c, stack_stat *s) {
    if (s->epoch == c->peak_epoch) return;
    s->peak_bytes = s->live_bytes;
    s->peak_count = s->live_count;
    s->epoch = c->peak_epoch;
}

static const char *on_alloc(capture *c) {
    int64_t delta;
    uint64_t size, stack;
    if (!get_svarint(c, &delta) || !get_varint(c, &size) || !get_varint(c, &stack)) return "";
    uintptr_t a = c->last_addr + (uintptr_t)delta;
    c->last_addr = a;
    if (stack == 0 || stack >= c->nstacks) return "an allocation names an unknown stack";
    if (a <= 1) return "an allocation at address 0 or 1";
    if (!live_reserve(c)) return "out of memory";
    live_block *b = live_find(c, a);
    if (b) { /* its free was not seen: count it, and take it as freed */
        c->realloc_live++;
        stack_stat *old = &c->stacks[b->stack];
        touch(c, old);
        old->live_bytes -= b->size;
        old->live_count--;
        c->current -= b->size;
        b->addr = 1;
        c->live_n--;
    }
    size_t i = slot_of(a, c->live_cap);
    while (c->live[i].addr > 1) i = (i + 1) & (c->live_cap - 1);
    if (c->live[i].addr == 0) c->live_used++;
    c->live[i] = (live_block){a, (uint32_t)stack, size};
    c->live_n++;
    stack_stat *s = &c->stacks[stack];
    touch(c, s);
    s->live_bytes += size;
    s->live_count++;
    s->total_bytes += size;
    s->total_count++;
    c->allocs++;
    c->alloc_bytes += size;
    c->current += size;
    if (c->thread < c->threads_cap) {
        thread_sections *t = &c->threads[c->thread];
        for (size_t i = 0; i < t->n; i++)
            if (c->current > t->open[i].max) t->open[i].max = c->current;
    }
    if (c->current > c->peak) {
        c->peak = c->current;
        c->peak_ms = c->ms;
        c->peak_epoch++;
    }
    return NULL;
}

static const char *on_free(capture *c) {
    int64_t delta;
    if (!get_svarint(c, &delta)) return "";
    uintptr_t a = c->last_addr + (uintptr_t)delta;
    c->last_addr = a;
    live_block *b = live_find(c, a);
    if (b == NULL) {
        c->unknown_frees++; /* allocated before the start */
        return NULL;
    }
    stack_stat *s = &c->stacks[b->stack];
    touch(c, s);
    s->live_bytes -= b->size;
    s->live_count--;
    c->current -= b->size;
    c->frees++;
    b->addr = 1;
    c->live_n--;
    return NULL;
}

static const char *on_node(capture *c) {
    uint64_t id, parent, pc;
    if (!get_varint(c, &id) || !get_varint(c, &parent) || !get_varint(c, &pc)) return "";
    if (id != c->nstacks || id > UINT32_MAX || parent == 0 || parent >= id)
        return "a stack node out of order (ids go 5, 6, ...) or with a bad parent";
    uint64_t loc = pc & ~PMD_CAPTURE_INTERP_BIT;
    if ((pc & PMD_CAPTURE_INTERP_BIT) && (loc == 0 || loc >= c->nlocations))
        return "a stack node names an unknown location";
    if (!grow((void **)&c->stacks, &c->stacks_cap, id + 1, sizeof *c->stacks))
        return "out of memory";
    if (id + 1 > c->nstacks) c->nstacks = id + 1;
    c->stacks[id].parent = (uint32_t)parent;
    c->stacks[id].pc = (uintptr_t)pc;
    return NULL;
}

static const char *on_module(capture *c) {
    uint64_t bias, lo, size, len;
    const unsigned char *path;
    if (!get_varint(c, &bias) || !get_varint(c, &lo) || !get_varint(c, &size) ||
        !get_string(c, &path, &len))
        return "";
    module *m = realloc(c->modules, (c->nmodules + 1) * sizeof *m);
    if (m == NULL) return "out of memory";
    c->modules = m;
    m = &m[c->nmodules++];
    *m = (module){bias, lo, size, strndup((const char *)path, len)};
    return m->path ? NULL : "out of memory";
}

static const char *on_string(capture *c) {
    uint64_t id, len;
    const unsigned char *text;
    if (!get_varint(c, &id) || !get_string(c, &text, &len)) return "";
    if (id != (c->nstrings ? c->nstrings : 1)) return "a string out of order (ids go 1, 2, ...)";
    if (!grow((void **)&c->strings, &c->strings_cap, id + 1, sizeof *c->strings))
        return "out of memory";
    c->strings[id] = strndup((const char *)text, len);
    c->nstrings = id + 1;
    return c->strings[id] ? NULL : "out of memory";
}

static const char *on_location(capture *c) {
    uint64_t id, file, function, line;
    if (!get_varint(c, &id) || !get_varint(c, &file) || !get_varint(c, &function) ||
        !get_varint(c, &line))
        return "";
    if (id != (c->nlocations ? c->nlocations : 1) || file == 0 || file >= c->nstrings ||
        function == 0 || function >= c->nstrings || line > INT32_MAX)
        return "a location out of order or naming an unknown string";
    if (!grow((void **)&c->locations, &c->locations_cap, id + 1, sizeof *c->locations))
        return "out of memory";
    c->locations[id] = (location){(uint32_t)file, (uint32_t)function, (int)line};
    if (id + 1 > c->nlocations) c->nlocations = id + 1;
    return NULL;
}

static const char *on_section(capture *c) {
    uint64_t name;
    if (!get_varint(c, &name) || c->p >= c->end) return "";
    unsigned begin = *c->p++;
    if (name == 0 || name >= c->nstrings || begin > 1) return "a section with a bad name or kind";
    if (!grow((void **)&c->threads, &c->threads_cap, c->thread + 1, sizeof *c->threads))
        return "out of memory";
    thread_sections *t = &c->threads[c->thread];
    if (begin) {
        if (!grow((void **)&t->open, &t->cap, t->n + 1, sizeof *t->open)) return "out of memory";
        t->open[t->n++] = (open_section){(uint32_t)name, c->current, c->current};
        return NULL;
    }
    if (t->n == 0 || t->open[t->n - 1].name != name) return "a section ends that is not open";
    open_section o = t->open[--t->n];
    if (!grow((void **)&c->sections, &c->sections_cap, name + 1, sizeof *c->sections))
        return "out of memory";
    section_stat *st = &c->sections[name];
    st->occurrences++;
    st->net += (int64_t)c->current - (int64_t)o.start;
    if (o.max - o.start > st->peak) st->peak = o.max - o.start;
    return NULL;
}

static const char *on_mark(capture *c) {
    uint64_t label;
    if (!get_varint(c, &label)) return "";
    if (label == 0 || label >= c->nstrings) return "a mark with a bad label";
    if (!grow((void **)&c->marks, &c->marks_cap, c->nmarks + 1, sizeof *c->marks))
        return "out of memory";
    c->marks[c->nmarks++] = (mark){(uint32_t)label, c->ms};
    return NULL;
}

static const char *on_info(capture *c) {
    const unsigned char *k, *v;
    uint64_t klen, vlen;
    if (!get_string(c, &k, &klen) || !get_string(c, &v, &vlen)) return "";
    if (klen == 3 && memcmp(k, "pid", 3) == 0 && vlen < sizeof c->pid) {
        memcpy(c->pid, v, vlen);
        c->pid[vlen] = '\0';
    }
    return NULL; /* other keys: read, not needed here */
}

/* One record; NULL when read, "" when the file ends inside it, else what
 * is wrong with it. */
static const char *read_record(capture *c) {
    uint64_t v;
    switch (*c->p++) {
        case PMD_TAG_INFO: return on_info(c);
        case PMD_TAG_STRING: return on_string(c);
        case PMD_TAG_SECTION: return on_section(c);
        case PMD_TAG_MARK: return on_mark(c);
        case PMD_TAG_LOCATION: return on_location(c);
        case PMD_TAG_MODULE: return on_module(c);
        case PMD_TAG_NODE: return on_node(c);
        case PMD_TAG_ALLOC: return on_alloc(c);
        case PMD_TAG_FREE: return on_free(c);
        case PMD_TAG_TIME:
            if (!get_varint(c, &v)) return "";
            c->ms += v;
            return NULL;
        case PMD_TAG_THREAD:
            if (!get_varint(c, &v)) return "";
            if (v > c->max_thread) c->max_thread = v;
            if (v > UINT32_MAX) return "a thread number out of range";
            c->thread = v;
            return NULL;
        case PMD_TAG_END:
            if (!get_varint(c, &c->end_allocs) || !get_varint(c, &c->end_frees)) return "";
            c->ended = true;
            return NULL;
        default: return "an unknown record tag";
    }
}

/* The next block's records into c->p..c->end: NULL, "" when the file
 * ends inside the block (the program died while writing it), else what is
 * wrong with it. */
static const char *next_block(capture *c) {
    c->block_at = (size_t)(c->file_p - c->file);
    c->p = c->file_p;
    c->end = c->file_end;
    unsigned kind = *c->p++;
    uint64_t stored, size;
    if (!get_varint(c, &stored) || !get_varint(c, &size))
        return c->overlong ? "a number longer than ten bytes" : "";
    if (kind != PMD_BLOCK_STORED && kind != PMD_BLOCK_ZSTD) return "an unknown block kind";
    if (size > PMD_CAPTURE_MAX_BLOCK) return "a block larger than 64 MiB";
    if (kind == PMD_BLOCK_STORED && stored != size) return "a stored block with two sizes";
    if ((uint64_t)(c->end - c->p) < stored) return "";
    const unsigned char *data = c->p;
    c->file_p = data + stored;
    c->compressed = kind == PMD_BLOCK_ZSTD;
    if (!c->compressed) {
        c->base = data;
        c->end = data + size;
        return NULL;
    }
#ifdef PYMM_HAVE_ZSTD
    if (!grow((void **)&c->unpacked, &c->unpacked_cap, size, 1)) return "out of memory";
    size_t n = ZSTD_decompress(c->unpacked, size, data, stored);
    if (ZSTD_isError(n) || n != size) return "a compressed block that does not decompress";
    c->base = c->p = c->unpacked;
    c->end = c->unpacked + size;
    return NULL;
#else
    return "a zstd-compressed block, and this pymm was built without libzstd";
#endif
}

/* Where a record is, for a message: its offset in the file, or, in a
 * compressed block, the block's offset and the record's in its data. */
static void say_where(const capture *c, const unsigned char *at, const char *what) {
    size_t off = (size_t)(at - c->base);
    if (c->compressed)
        fprintf(stderr, "%s:%zu: %s (at byte %zu of the block's records)\n", c->name, c->block_at,
                what, off);
    else fprintf(stderr, "%s:%zu: %s\n", c->name, (size_t)(c->base - c->file) + off, what);
}

/* The records of the block in c->p..c->end: 0, or 1 with the error said. */
static int read_block(capture *c) {
    while (c->p < c->end && !c->ended) {
        const unsigned char *at = c->p;
        const char *why = read_record(c);
        if (why == NULL) continue;
        if (c->overlong) why = "a number longer than ten bytes";
        if (why[0] == '\0') why = "a record runs past the end of its block";
        say_where(c, at, why);
        return 1;
    }
    return 0;
}

/* Read the whole capture; 0, or 1 with the error said (FILE:OFFSET). A
 * file that ends inside a block (the program died) is read up to it, with
 * a warning. */
static int read_capture(capture *c) {
    if (c->file_end - c->file < PMD_CAPTURE_HEADER ||
        memcmp(c->file, PMD_CAPTURE_MAGIC, sizeof PMD_CAPTURE_MAGIC) != 0) {
        fprintf(stderr, "%s:0: not a pymm capture file (no PYMMTRC header)\n", c->name);
        return 1;
    }
    if (c->file[8] != PMD_CAPTURE_VERSION) {
        fprintf(stderr, "%s:8: capture format version %u; this pymm reads version %d\n", c->name,
                c->file[8], PMD_CAPTURE_VERSION);
        return 1;
    }
    c->file_p = c->file + PMD_CAPTURE_HEADER;
    c->nstacks = ROOTS + 1;
    if (!grow((void **)&c->stacks, &c->stacks_cap, c->nstacks, sizeof *c->stacks)) return 1;
    while (c->file_p < c->file_end && !c->ended) {
        const char *why = next_block(c);
        if (why != NULL && why[0] == '\0') {
            fprintf(stderr,
                    "%s:%zu: warning: the capture ends inside a block (the program did not "
                    "stop tracing: a crash, abort or kill?); read up to there\n",
                    c->name, c->block_at);
            return 0;
        }
        if (why != NULL) {
            fprintf(stderr, "%s:%zu: %s\n", c->name, c->block_at, why);
            return 1;
        }
        if (read_block(c) != 0) return 1;
    }
    if (!c->ended)
        fprintf(stderr, "%s: warning: no end record (the program did not stop tracing)\n", c->name);
    if (c->realloc_live)
        fprintf(stderr,
                "%s: warning: %" PRIu64 " allocations at an address still live (frees not "
                "recorded); each taken as a free first\n",
                c->name, c->realloc_live);
    return 0;
}

/* ---- naming frames -------------------------------------------------------- */

typedef struct frame_name {
    char function[256];
    char file[512];
    int line;
    bool interpreter;
} frame_name;

#ifdef PYMM_HAVE_LIBDW
static Dwfl *open_dwfl(const capture *c) {
    static const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
    };
    Dwfl *d = dwfl_begin(&callbacks);
    if (d == NULL) return NULL;
    dwfl_report_begin(d);
    for (size_t i = 0; i < c->nmodules; i++) {
        const module *m = &c->modules[i];
        if (access(m->path, R_OK) != 0) continue; /* the vDSO, or gone */
        dwfl_report_elf(d, m->path, m->path, -1, m->bias, false);
    }
    dwfl_report_end(d, NULL, NULL);
    return d;
}

#else
static Dwfl *open_dwfl(const capture *c) {
    (void)c;
    return NULL;
}
#endif

#ifdef PYMM_HAVE_LIBDW
/* The line of pc found through the compile units' own address ranges:
 * libdw 0.188 finds a unit only through .debug_aranges, which clang does
 * not emit by default ("address out of range" for every frame). */
static const char *line_by_cu(Dwfl_Module *mod, uintptr_t pc, int *lineno) {
    Dwarf_Addr bias;
    for (Dwarf_Die *cu = NULL; (cu = dwfl_module_nextcu(mod, cu, &bias)) != NULL;) {
        if (dwarf_haspc(cu, pc - bias) <= 0) continue;
        Dwarf_Line *line = dwarf_getsrc_die(cu, pc - bias);
        if (line == NULL || dwarf_lineno(line, lineno) != 0) return NULL;
        return dwarf_linesrc(line, NULL, NULL);
    }
    return NULL;
}
#endif

static const module *module_of(const capture *c, uintptr_t pc) {
    for (size_t i = 0; i < c->nmodules; i++)
        if (pc - c->modules[i].lo < c->modules[i].size) return &c->modules[i];
    return NULL;
}

static void name_frame(const capture *c, Dwfl *d, uintptr_t pc, frame_name *out) {
    out->function[0] = out->file[0] = '\0';
    out->line = 0;
    out->interpreter = (pc & PMD_CAPTURE_INTERP_BIT) != 0;
    if (out->interpreter) { /* the reader checked the id (on_node) */
        const location *l = &c->locations[pc & ~PMD_CAPTURE_INTERP_BIT];
        snprintf(out->function, sizeof out->function, "%s", c->strings[l->function]);
        snprintf(out->file, sizeof out->file, "%s", c->strings[l->file]);
        out->line = l->line;
        return;
    }
    const char *fn = NULL;
#ifdef PYMM_HAVE_LIBDW
    Dwfl_Module *mod = d ? dwfl_addrmodule(d, pc) : NULL;
    fn = mod ? dwfl_module_addrname(mod, pc) : NULL;
    if (fn) snprintf(out->function, sizeof out->function, "%s", fn);
    Dwfl_Line *line = mod ? dwfl_module_getsrc(mod, pc) : NULL;
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (mod && file == NULL) file = line_by_cu(mod, pc, &lineno);
    if (file) {
        snprintf(out->file, sizeof out->file, "%s", file);
        out->line = lineno;
    }
#else
    (void)d;
#endif
    if (fn == NULL) {
        const module *m = module_of(c, pc);
        const char *base = m ? strrchr(m->path, '/') : NULL;
        snprintf(out->function, sizeof out->function, "%s+0x%" PRIxPTR,
                 m ? (base ? base + 1 : m->path) : "?", m ? pc - m->bias : pc);
    }
}

/* ---- the report --------------------------------------------------------------- */

typedef struct ranked {
    uint32_t stack;
    uint64_t bytes, count;
} ranked;

static int by_bytes(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

enum view { AT_PEAK, AT_END, ALLOCATED };

/* The stacks by bytes in one view, largest first: their number. */
static size_t rank(const capture *c, enum view v, ranked *out) {
    size_t n = 0;
    for (uint32_t id = 1; id < c->nstacks; id++) {
        const stack_stat *s = &c->stacks[id];
        uint64_t bytes = v == AT_END ? s->live_bytes : v == ALLOCATED ? s->total_bytes : 0;
        uint64_t count = v == AT_END ? s->live_count : v == ALLOCATED ? s->total_count : 0;
        if (v == AT_PEAK) {
            bool saved = s->epoch == c->peak_epoch;
            bytes = saved ? s->peak_bytes : s->live_bytes;
            count = saved ? s->peak_count : s->live_count;
        }
        if (count) out[n++] = (ranked){id, bytes, count};
    }
    qsort(out, n, sizeof *out, by_bytes);
    return n;
}

static int domain_of(const capture *c, uint32_t id) {
    while (id > ROOTS) id = c->stacks[id].parent;
    return (int)id - 1;
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void print_stack_text(FILE *f, const capture *c, Dwfl *d, uint32_t id) {
    for (; id > ROOTS; id = c->stacks[id].parent) {
        frame_name fn;
        name_frame(c, d, c->stacks[id].pc, &fn);
        const char *mark = fn.interpreter ? " [interpreter]" : "";
        if (fn.file[0]) fprintf(f, "        %s  %s:%d%s\n", fn.function, fn.file, fn.line, mark);
        else fprintf(f, "        %s%s\n", fn.function, mark);
    }
}

static void print_stack_json(FILE *f, const capture *c, Dwfl *d, uint32_t id) {
    fputc('[', f);
    for (bool first = true; id > ROOTS; id = c->stacks[id].parent, first = false) {
        frame_name fn;
        name_frame(c, d, c->stacks[id].pc, &fn);
        fputs(first ? "{\"function\": " : ", {\"function\": ", f);
        json_string(f, fn.function);
        fputs(", \"file\": ", f);
        if (fn.file[0]) json_string(f, fn.file);
        else fputs("null", f);
        fprintf(f, ", \"line\": %d, \"kind\": \"%s\"}", fn.line,
                fn.interpreter ? "interpreter" : "native");
    }
    fputc(']', f);
}

static void human(char *out, size_t size, uint64_t bytes) {
    if (bytes < 10 * 1024) snprintf(out, size, "%" PRIu64 " B", bytes);
    else if (bytes < 10 * 1024 * 1024) snprintf(out, size, "%.1f KiB", bytes / 1024.0);
    else snprintf(out, size, "%.1f MiB", bytes / 1048576.0);
}

static void text_section(FILE *f, const capture *c, Dwfl *d, const char *title, enum view v,
                         ranked *r, size_t top) {
    size_t n = rank(c, v, r);
    fprintf(f, "\n%s (%zu stacks):\n", title, n);
    for (size_t i = 0; i < n && i < top; i++) {
        char b[32];
        human(b, sizeof b, r[i].bytes);
        fprintf(f, "  #%zu  %s in %" PRIu64 " blocks  [%s]\n", i + 1, b, r[i].count,
                domain_names[domain_of(c, r[i].stack)]);
        print_stack_text(f, c, d, r[i].stack);
    }
}

static void report_text(FILE *f, const capture *c, Dwfl *d, size_t top) {
    char peak[32], now[32], total[32];
    human(peak, sizeof peak, c->peak);
    human(now, sizeof now, c->current);
    human(total, sizeof total, c->alloc_bytes);
    fprintf(f, "pymm capture %s%s%s\n", c->name, c->pid[0] ? ", process " : "", c->pid);
    fprintf(f, "  duration      %.3f s, %" PRIu64 " thread%s\n", c->ms / 1000.0, c->max_thread,
            c->max_thread == 1 ? "" : "s");
    fprintf(f, "  allocations   %" PRIu64 " (%s), frees %" PRIu64 "\n", c->allocs, total, c->frees);
    fprintf(f, "  peak          %s at %.3f s\n", peak, c->peak_ms / 1000.0);
    fprintf(f, "  live at end   %s in %zu blocks%s\n", now, c->live_n,
            c->ended ? "" : " (no end record: the run did not finish tracing)");

    ranked *r = malloc((c->nstacks + 1) * sizeof *r);
    if (r == NULL) return;
    text_section(f, c, d, "Live at the peak, by stack", AT_PEAK, r, top);
    text_section(f, c, d, "Live at the end (never freed while traced), by stack", AT_END, r, top);
    text_section(f, c, d, "Allocated in all, by stack", ALLOCATED, r, top);
    free(r);
    bool any = false;
    for (size_t id = 1; id < c->sections_cap; id++) {
        const section_stat *st = &c->sections[id];
        if (st->occurrences == 0) continue;
        if (!any) fprintf(f, "\nSections (net change, peak above the start, occurrences):\n");
        any = true;
        char peak[32];
        human(peak, sizeof peak, st->peak);
        fprintf(f, "  %-30s %+" PRId64 " B, peak +%s, %" PRIu64 "x\n", c->strings[id], st->net,
                peak, st->occurrences);
    }
    for (size_t i = 0; i < c->nmarks; i++) {
        if (i == 0) fprintf(f, "\nMarks:\n");
        fprintf(f, "  %8.3f s  %s\n", c->marks[i].ms / 1000.0, c->strings[c->marks[i].label]);
    }
}

static void json_list(FILE *f, const capture *c, Dwfl *d, enum view v, ranked *r, size_t top) {
    size_t n = rank(c, v, r);
    fputc('[', f);
    for (size_t i = 0; i < n && i < top; i++) {
        fputs(i ? ",\n    {\"stack\": " : "\n    {\"stack\": ", f);
        print_stack_json(f, c, d, r[i].stack);
        fprintf(f, ", \"bytes\": %" PRIu64 ", \"count\": %" PRIu64 ", \"domain\": \"%s\"}",
                r[i].bytes, r[i].count, domain_names[domain_of(c, r[i].stack)]);
    }
    fputs(n ? "\n  ]" : "]", f);
}

static void report_json(FILE *f, const capture *c, Dwfl *d, size_t top) {
    fputs("{\"summary\": {\"file\": ", f);
    json_string(f, c->name);
    fprintf(f,
            ", \"pid\": %s, \"duration_ms\": %" PRIu64 ", \"threads\": %" PRIu64
            ", \"allocations\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64 ", \"frees\": %" PRIu64
            ", \"peak_bytes\": %" PRIu64 ", \"peak_ms\": %" PRIu64
            ", \"live_bytes_at_end\": %" PRIu64 ", \"live_blocks_at_end\": %zu"
            ", \"complete\": %s},\n",
            c->pid[0] ? c->pid : "null", c->ms, c->max_thread, c->allocs, c->alloc_bytes, c->frees,
            c->peak, c->peak_ms, c->current, c->live_n, c->ended ? "true" : "false");
    ranked *r = malloc((c->nstacks + 1) * sizeof *r);
    if (r == NULL) return;
    fputs("  \"peak\": ", f);
    json_list(f, c, d, AT_PEAK, r, top);
    fputs(",\n  \"at_exit\": ", f);
    json_list(f, c, d, AT_END, r, top);
    fputs(",\n  \"allocated\": ", f);
    json_list(f, c, d, ALLOCATED, r, top);
    fputs(",\n  \"sections\": [", f);
    bool first = true;
    for (size_t id = 1; id < c->sections_cap; id++) {
        const section_stat *st = &c->sections[id];
        if (st->occurrences == 0) continue;
        fputs(first ? "\n    {\"name\": " : ",\n    {\"name\": ", f);
        first = false;
        json_string(f, c->strings[id]);
        fprintf(f,
                ", \"occurrences\": %" PRIu64 ", \"net_bytes\": %" PRId64
                ", \"peak_bytes\": %" PRIu64 "}",
                st->occurrences, st->net, st->peak);
    }
    fputs(first ? "],\n  \"marks\": [" : "\n  ],\n  \"marks\": [", f);
    for (size_t i = 0; i < c->nmarks; i++) {
        fputs(i ? ", {\"label\": " : "{\"label\": ", f);
        json_string(f, c->strings[c->marks[i].label]);
        fprintf(f, ", \"ms\": %" PRIu64 "}", c->marks[i].ms);
    }
    fputs("]}\n", f);
    free(r);
}

/* ---- the command ------------------------------------------------------------- */

static int usage(FILE *f) {
    fprintf(f, "usage: pymm report FILE [--format text|json] [--top N]\n"
               "  what a capture file (PYMM_TRACE=FILE) says: totals, the peak, the\n"
               "  stacks holding the most at the peak and at the end, the stacks\n"
               "  that allocated the most (--top: how many of each; default 10)\n");
    return f == stderr ? 2 : 0;
}

static void capture_free(capture *c) {
    for (size_t i = 0; i < c->threads_cap; i++) free(c->threads[i].open);
    free(c->threads);
    free(c->sections);
    free(c->marks);
    for (size_t i = 0; i < c->nstrings; i++) free(c->strings[i]);
    free(c->strings);
    free(c->locations);
    for (size_t i = 0; i < c->nmodules; i++) free(c->modules[i].path);
    free(c->modules);
    free(c->stacks);
    free(c->live);
    free(c->unpacked);
}

int pymm_report_main(int argc, char **argv) {
    const char *path = NULL, *format = "text";
    size_t top = 10;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return usage(stdout);
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) format = argv[++i];
        else if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
            char *end;
            top = strtoul(argv[++i], &end, 10);
            if (*end || top == 0) return usage(stderr);
        } else if (argv[i][0] != '-' && path == NULL) path = argv[i];
        else return usage(stderr);
    }
    if (path == NULL || (strcmp(format, "text") != 0 && strcmp(format, "json") != 0))
        return usage(stderr);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s:0: %s\n", path, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) close(fd);
        return 1;
    }
    void *map = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (st.st_size && map == MAP_FAILED) {
        fprintf(stderr, "%s:0: %s\n", path, strerror(errno));
        return 1;
    }
    capture c = {.name = path};
    c.file = map ? map : (const unsigned char *)"";
    c.file_end = c.file + st.st_size;
    int rc = read_capture(&c);
    if (rc == 0) {
        Dwfl *d = open_dwfl(&c);
        if (format[0] == 'j') report_json(stdout, &c, d, top);
        else report_text(stdout, &c, d, top);
#ifdef PYMM_HAVE_LIBDW
        if (d) dwfl_end(d);
#endif
    }
    capture_free(&c);
    if (map) munmap(map, (size_t)st.st_size);
    return rc;
}
