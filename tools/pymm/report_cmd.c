/*
 * report_cmd.c -- `pymm report FILE [--format FMT] [--top N] ...`: the
 * command, and the reader that turns a capture file (PYMM_TRACE=FILE, or
 * pm_trace_config.file) into figures per stack (report.h); report_print.c
 * prints them.
 *
 * The file is read in one pass, a block at a time (docs/FORMATS.md,
 * "Capture files"; a compressed block is decompressed whole), with
 * memory bounded by the distinct stacks and the live blocks: a table of
 * live blocks by address, the nodes (16 bytes each), and for each node
 * that allocated its live, total, temporary and at-peak figures
 * (rpt_owner; the file's pages are given back once read, release_read).
 * The peak costs O(1) an event: a new peak only bumps an epoch,
 * and a stack's figures at the peak are its live ones until it first
 * changes after that epoch, when they are saved (its `epoch` says which
 * peak they belong to).
 *
 * A block is temporary (memray's term) when the thread that allocated it
 * frees it before it has made `temporary` more allocations. A block keeps
 * its thread (in what would be padding), and each thread a ring of the
 * addresses of its last `temporary` allocations: the block's own thread
 * frees it while its address is in the ring exactly when it is temporary
 * (an older allocation at that address was freed before this one, so it
 * is in the ring only if this one is too). A free costs a scan of the
 * ring, one compare at the default of 1; memory grows by `temporary`
 * addresses a thread, the blocks stay 24 bytes.
 *
 * The HTML page (report_html.c) reads a capture twice: the second time
 * with rpt_capture.buckets set, every event is also summed by time bucket
 * and stack, and quiet keeps the warnings from being said twice.
 */
#define _GNU_SOURCE
#include "report.h"

#ifdef PYMM_HAVE_ZSTD
#include <zstd.h>
#endif
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int pymm_report_main(int argc, char **argv);

/* ---- reading ------------------------------------------------------------- */

/* A varint of more than one byte (get_varint). */
static bool get_long_varint(rpt_capture *c, uint64_t *out) {
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

/* A varint; false at the end of the file (a record cut short) or, with
 * c->overlong set, when it is longer than ten bytes (a damaged file). Most
 * are one byte: that case is inlined. */
static inline bool get_varint(rpt_capture *c, uint64_t *out) {
    if (c->p < c->end && *c->p < 0x80) {
        *out = *c->p++;
        return true;
    }
    return get_long_varint(c, out);
}

static bool get_svarint(rpt_capture *c, int64_t *out) {
    uint64_t v;
    if (!get_varint(c, &v)) return false;
    *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
    return true;
}

static bool get_string(rpt_capture *c, const unsigned char **s, uint64_t *len) {
    if (!get_varint(c, len) || (uint64_t)(c->end - c->p) < *len) return false;
    *s = c->p;
    c->p += *len;
    return true;
}

bool rpt_grow(void **items, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap : 1024;
    while (cap2 < need)
        if ((cap2 *= 2) > SIZE_MAX / 2 / size) return false;
    void *q = realloc(*items, cap2 * size);
    if (q == NULL) return false;
    memset((char *)q + *cap * size, 0, (cap2 - *cap) * size);
    *items = q;
    *cap = cap2;
    return true;
}

/* Doubling costs only address space here: the pages past what is written
 * are never touched (mapped pages come zeroed), and mremap moves pages
 * rather than copying them. At 3,000,000 nodes of 96 bytes, rpt_grow's
 * doubling and zeroing of the new half made 400 MB resident for 290 MB
 * of nodes. The mappings ask for huge pages (as the live table's do):
 * a fault and a TLB entry cover 2 MiB, not 4 KiB, for at most a huge
 * page more resident each. */
bool rpt_grow_mapped(void **items, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap : 4096;
    while (cap2 < need)
        if ((cap2 *= 2) > SIZE_MAX / 2 / size) return false;
    void *q = *items == NULL ? mmap(NULL, cap2 * size, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                             : mremap(*items, *cap * size, cap2 * size, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) return false;
    madvise(q, cap2 * size, MADV_HUGEPAGE);
    *items = q;
    *cap = cap2;
    return true;
}

void rpt_unmap(void *items, size_t cap, size_t size) {
    if (items) munmap(items, cap * size);
}

/* ---- the live table ------------------------------------------------------ */

/* The live blocks by address: open addressing, probing linearly from the
 * top bits of a multiplicative hash, at most three quarters full. A free
 * moves the later blocks of its run back into the hole instead of leaving
 * a tombstone, so a probe ends at the first empty slot and runs stay as
 * short as the load makes them (with tombstones, a run of frees left runs
 * that every later miss walked to the end). At half full, the table of a
 * run with 753,000 blocks live took 36 MiB more and its pages cost more
 * time than the longer probes of three quarters save. A slot whose addr
 * is 0 is empty: the reader refuses an allocation at address 0. */
static size_t live_home(const rpt_capture *c, uintptr_t a) {
    return (size_t)(((uint64_t)a * 0x9E3779B97F4A7C15ull) >> c->live_shift);
}

/* The block at address a (a != 0), or the empty slot where it would go. */
static rpt_block *live_probe(const rpt_capture *c, uintptr_t a) {
    size_t mask = c->live_cap - 1;
    for (size_t i = live_home(c, a);; i = (i + 1) & mask)
        if (c->live[i].addr == a || c->live[i].addr == 0) return &c->live[i];
}

/* The table's memory comes from the OS, not from malloc, which keeps a
 * freed block this large for reuse (its mmap threshold rises to it): the
 * diff's second capture then ran its peak half as high again. Every slot
 * is as likely as any other, so huge pages spare a TLB miss an event
 * (madvise: the kernel may decline): with them, here and for the nodes
 * and figures (rpt_grow_mapped), `pymm report` of a capture
 * of 10,000,000 allocations from 1,000,000 stacks took 1.0 s of user
 * time, not 2.0 s (1.8 s of wall time, not 3.1 s), for 2 MB more RSS. */
static rpt_block *live_map(size_t cap) {
    void *t = mmap(NULL, cap * sizeof(rpt_block), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED) return NULL;
    madvise(t, cap * sizeof(rpt_block), MADV_HUGEPAGE);
    return t; /* zeroed: every slot empty */
}

static void live_unmap(rpt_block *t, size_t cap) {
    if (t) munmap(t, cap * sizeof *t);
}

static void live_release(rpt_capture *c) {
    live_unmap(c->live, c->live_cap);
    c->live = NULL;
    c->live_cap = 0;
}

/* Room for one more block: past three quarters full, the table doubles. */
static bool live_reserve(rpt_capture *c) {
    if ((c->live_n + 1) * 4 <= c->live_cap * 3) return true;
    size_t cap = c->live_cap ? c->live_cap * 2 : 4096, n = c->live_cap;
    rpt_block *old = c->live, *t = live_map(cap);
    if (t == NULL) return false;
    c->live = t;
    c->live_cap = cap;
    c->live_shift = 64u - (unsigned)__builtin_ctzll(cap);
    for (size_t i = 0; i < n; i++)
        if (old[i].addr) *live_probe(c, old[i].addr) = old[i];
    live_unmap(old, n);
    return true;
}

/* Take b out: each later block of its run whose home is not between the
 * hole and itself moves back into the hole, which moves on to its slot. */
static void live_delete(rpt_capture *c, rpt_block *b) {
    size_t mask = c->live_cap - 1, hole = (size_t)(b - c->live);
    for (size_t j = (hole + 1) & mask; c->live[j].addr; j = (j + 1) & mask) {
        size_t home = live_home(c, c->live[j].addr);
        if (((j - home) & mask) < ((j - hole) & mask)) continue;
        c->live[hole] = c->live[j];
        hole = j;
    }
    c->live[hole].addr = 0;
    c->live_n--;
}

/* ---- events -------------------------------------------------------------- */

/* A stack's figures before its first change after the latest peak. */
static void touch(rpt_capture *c, rpt_owner *s) {
    if (s->epoch == c->peak_epoch) return;
    s->peak_bytes = s->live_bytes;
    s->peak_count = s->live_count;
    s->epoch = c->peak_epoch;
}

/* What a recorded block of n bytes stands for: itself in a full capture;
 * in a sampled one (sample_bytes R), the 1/(1 - e^(-n/R)) blocks of n
 * bytes it was one of, as the recorder weighs it (src/diag/trace.c,
 * "sampling"), so that every figure is an unbiased estimate. */
static void weigh(const rpt_capture *c, uint64_t n, uintptr_t addr, uint64_t *bytes,
                  uint64_t *count) {
    if (c->sample_bytes == 0) {
        *bytes = n;
        *count = 1;
        return;
    }
    double w = pmd_sample_weight(n, c->sample_bytes);
    *bytes = (uint64_t)((double)n * w + 0.5);
    *count = pmd_sample_count(w, addr);
}

/* A block's bytes no longer live (it stays in the table). */
static void unlive(rpt_capture *c, const rpt_block *b) {
    uint64_t bytes, count;
    weigh(c, b->size, b->addr, &bytes, &count);
    c->current -= bytes;
    if (c->buckets) return; /* a second reading keeps no figures by stack */
    rpt_owner *s = &c->owners[c->stacks[b->stack].fig & ~RPT_OWNED]; /* it allocated b */
    touch(c, s);
    s->live_bytes -= bytes;
    s->live_count -= count;
    c->domain_live[s->root - 1] -= bytes;
}

/* A stack's figures take an allocation. */
static void own_alloc(rpt_capture *c, rpt_owner *s, uint64_t bytes, uint64_t count) {
    touch(c, s);
    s->live_bytes += bytes;
    s->live_count += count;
    s->total_bytes += bytes;
    s->total_count += count;
    c->domain_live[s->root - 1] += bytes;
}

/* The figures of node id, made at its first allocation: NULL for want of
 * memory. */
static rpt_owner *owner_of(rpt_capture *c, uint32_t id) {
    rpt_stack *n = &c->stacks[id];
    if (n->fig & RPT_OWNED) return &c->owners[n->fig & ~RPT_OWNED];
    if (c->nowners == RPT_OWNED ||
        !rpt_grow_mapped((void **)&c->owners, &c->owners_cap, c->nowners + 1, sizeof *c->owners))
        return NULL;
    rpt_owner *s = &c->owners[c->nowners];
    s->root = n->fig;
    s->node = id;
    n->fig = RPT_OWNED | (uint32_t)c->nowners++;
    return s;
}

static bool apply_alloc(rpt_capture *c, const rpt_event *e) {
    rpt_owner *s = c->buckets ? NULL : owner_of(c, e->stack); /* (none on a second reading) */
    if ((s == NULL && c->buckets == NULL) || !live_reserve(c)) return false;
    rpt_block *b = live_probe(c, e->addr);
    if (b->addr == e->addr) { /* its free was not seen: count it, and take it as freed */
        c->realloc_live++;
        unlive(c, b);
    } else c->live_n++;
    rpt_thread *t = &c->threads[e->thread];
    if (t->recent == NULL && (t->recent = calloc(c->temporary, sizeof *t->recent)) == NULL)
        return false;
    t->recent[t->next] = e->addr;
    t->next = t->next + 1 == c->temporary ? 0 : t->next + 1;
    *b = (rpt_block){e->addr, e->size, e->stack, e->thread};
    uint64_t bytes, count;
    weigh(c, e->size, e->addr, &bytes, &count);
    if (s) own_alloc(c, s, bytes, count);
    c->allocs += count;
    c->recorded_allocs++;
    c->alloc_bytes += bytes;
    c->current += bytes;
    if (c->buckets && !rpt_buckets_add(c->buckets, e->stack, e->ms, RPT_CELL_ALLOC, bytes, count))
        return false;
    for (size_t i = 0; i < t->n; i++)
        if (c->current > t->open[i].max) t->open[i].max = c->current;
    if (c->current > c->peak) {
        c->peak = c->current;
        c->peak_ms = e->ms;
        c->peak_epoch++;
    }
    return true;
}

/* Whether address a is one of the thread's last `temporary` allocations. */
static bool recent(const rpt_capture *c, const rpt_thread *t, uintptr_t a) {
    for (size_t i = 0; i < c->temporary; i++)
        if (t->recent[i] == a) return true;
    return false;
}

/* false for want of memory. */
static bool apply_free(rpt_capture *c, const rpt_event *e) {
    rpt_block *b = e->addr && c->live_cap ? live_probe(c, e->addr) : NULL;
    if (b == NULL || b->addr != e->addr) {
        c->unknown_frees++; /* allocated before the start */
        return true;
    }
    unlive(c, b);
    uint64_t bytes, count;
    weigh(c, b->size, b->addr, &bytes, &count);
    c->frees += count;
    c->recorded_frees++;
    /* (A sampled capture cannot tell: the allocations between two samples
     * are not in it.) */
    bool temporary = c->sample_bytes == 0 && b->thread == e->thread &&
                     recent(c, &c->threads[e->thread], e->addr);
    if (temporary) {
        c->temp_allocs += count;
        c->temp_bytes += bytes;
    }
    if (temporary && c->buckets == NULL) {
        rpt_owner *s = &c->owners[c->stacks[b->stack].fig & ~RPT_OWNED];
        s->temp_bytes += bytes;
        s->temp_count += count;
    }
    uint32_t stack = b->stack;
    live_delete(c, b);
    if (c->buckets == NULL) return true;
    return rpt_buckets_add(c->buckets, stack, e->ms, RPT_CELL_FREE, bytes, count) &&
           (!temporary || rpt_buckets_add(c->buckets, stack, e->ms, RPT_CELL_TEMP, bytes, count));
}

/* ---- reading ahead ------------------------------------------------------- */

/* In a long run the live table is far larger than the caches, and every
 * event's slot was a miss: the reader spent four fifths of its time
 * waiting for them. So an allocation or a free is decoded and its slot
 * prefetched, and it takes effect RPT_AHEAD events later, when the line
 * has come. Any record but TIME and THREAD first applies the events read
 * before it (each event keeps its own time and thread), so every record
 * still takes effect in file order, and each format error is found where
 * it is: only an apply can fail, and only for want of memory. */

/* ---- the timeline ---------------------------------------------------------- */

/* mprof's plot from the events: steps of step_ms, each with the most
 * bytes live at any of its events and each domain's live bytes at its
 * end. Memory stays bounded whatever the run's length: at
 * RPT_TIMELINE_MAX steps, neighbours merge and the step doubles. */

static void merge_steps(rpt_capture *c) {
    size_t n = c->nsteps / 2;
    for (size_t i = 0; i < n; i++) {
        rpt_step a = c->timeline[2 * i], b = c->timeline[2 * i + 1];
        c->timeline[i] = b;
        c->timeline[i].ms = a.ms;
        if (a.max_bytes > b.max_bytes) c->timeline[i].max_bytes = a.max_bytes;
        if (a.rss > b.rss) c->timeline[i].rss = a.rss;
    }
    if (c->nsteps % 2) c->timeline[n++] = c->timeline[c->nsteps - 1];
    c->nsteps = n;
    c->step_ms *= 2;
    for (size_t i = 0; i < n; i++) c->timeline[i].ms = i * c->step_ms;
}

/* Before an event at ms: the steps up to it are closed, each with the
 * domains' live bytes at its end (quiet steps carry the last state on). */
static bool timeline_advance(rpt_capture *c, uint64_t ms) {
    if (c->timeline == NULL) {
        c->timeline = calloc(RPT_TIMELINE_MAX, sizeof *c->timeline);
        if (c->timeline == NULL) return false;
        c->step_ms = RPT_TIMELINE_STEP;
        c->nsteps = 1;
    }
    if (ms / c->step_ms < c->nsteps) return true;
    memcpy(c->timeline[c->nsteps - 1].domain, c->domain_live, sizeof c->domain_live);
    while (ms / c->step_ms >= RPT_TIMELINE_MAX) merge_steps(c);
    while (c->nsteps <= ms / c->step_ms) {
        rpt_step *next = &c->timeline[c->nsteps];
        *next = c->timeline[c->nsteps - 1];
        next->ms = c->nsteps * c->step_ms;
        next->max_bytes = c->current;
        next->rss = c->rss;
        c->nsteps++;
    }
    return true;
}

/* The end of the capture: the open step's domains. */
static void timeline_close(rpt_capture *c) {
    if (c->nsteps) memcpy(c->timeline[c->nsteps - 1].domain, c->domain_live, sizeof c->domain_live);
}

/* An event takes effect: false for want of memory. */
static bool apply(rpt_capture *c, const rpt_event *e) {
    if (!timeline_advance(c, e->ms)) return false;
    if (e->stack && !apply_alloc(c, e)) return false;
    if (!e->stack && !apply_free(c, e)) return false;
    rpt_step *open = &c->timeline[c->nsteps - 1];
    if (c->current > open->max_bytes) open->max_bytes = c->current;
    return true;
}

/* The oldest event read ahead takes effect. */
static bool apply_oldest(rpt_capture *c) {
    const rpt_event *e = &c->ahead[c->ahead_first];
    c->ahead_first = (c->ahead_first + 1) % RPT_AHEAD;
    c->ahead_n--;
    return apply(c, e);
}

/* Every event read ahead takes effect. */
static bool drain(rpt_capture *c) {
    while (c->ahead_n)
        if (!apply_oldest(c)) return false;
    return true;
}

static const char *read_event(rpt_capture *c, bool alloc) {
    int64_t delta;
    uint64_t size = 0, stack = 0;
    if (!get_svarint(c, &delta) || (alloc && (!get_varint(c, &size) || !get_varint(c, &stack))))
        return "";
    uintptr_t a = c->last_addr + (uintptr_t)delta;
    c->last_addr = a;
    if (alloc && (stack == 0 || stack >= c->nstacks)) return "an allocation names an unknown stack";
    if (alloc && a == 0) return "an allocation at address 0";
    if (alloc && size == 0 && c->sample_bytes) /* the recorder writes 1: w(0) is infinite */
        return "an allocation of 0 bytes in a sampled capture";
    rpt_event e = {a, size, c->ms, (uint32_t)stack, (uint32_t)c->thread};
    if (c->live_cap < RPT_AHEAD_FROM) /* in the caches: no wait to hide (and none queued) */
        return apply(c, &e) ? NULL : "out of memory";
    __builtin_prefetch(&c->live[live_home(c, a)], 1);
    if (alloc && c->buckets == NULL) __builtin_prefetch(&c->stacks[stack], 1);
    if (c->ahead_n == RPT_AHEAD && !apply_oldest(c)) return "out of memory";
    c->ahead[(c->ahead_first + c->ahead_n++) % RPT_AHEAD] = e;
    return NULL;
}

static const char *on_node(rpt_capture *c) {
    uint64_t id, parent, pc;
    if (!get_varint(c, &id) || !get_varint(c, &parent) || !get_varint(c, &pc)) return "";
    if (id != c->nstacks || id >= UINT32_MAX || parent == 0 || parent >= id)
        return "a stack node out of order (ids go 5, 6, ...) or with a bad parent";
    uint64_t loc = pc & ~PMD_CAPTURE_INTERP_BIT;
    if ((pc & PMD_CAPTURE_INTERP_BIT) && (loc == 0 || loc >= c->nlocations))
        return "a stack node names an unknown location";
    if (c->buckets) { /* a second reading needs only their number */
        c->nstacks = id + 1;
        return NULL;
    }
    if (!rpt_grow_mapped((void **)&c->stacks, &c->stacks_cap, id + 1, sizeof *c->stacks))
        return "out of memory";
    if (id + 1 > c->nstacks) c->nstacks = id + 1;
    uint32_t up = c->stacks[parent].fig; /* its root, or its figures' index (they hold it) */
    uint32_t root = up & RPT_OWNED ? c->owners[up & ~RPT_OWNED].root : up;
    c->stacks[id] = (rpt_stack){(uintptr_t)pc, (uint32_t)parent, root};
    return NULL;
}

static const char *on_module(rpt_capture *c) {
    uint64_t bias, lo, size, len;
    const unsigned char *path;
    if (!get_varint(c, &bias) || !get_varint(c, &lo) || !get_varint(c, &size) ||
        !get_string(c, &path, &len))
        return "";
    rpt_module *m = realloc(c->modules, (c->nmodules + 1) * sizeof *m);
    if (m == NULL) return "out of memory";
    c->modules = m;
    m = &m[c->nmodules++];
    *m = (rpt_module){bias, lo, size, strndup((const char *)path, len)};
    return m->path ? NULL : "out of memory";
}

static const char *on_string(rpt_capture *c) {
    uint64_t id, len;
    const unsigned char *text;
    if (!get_varint(c, &id) || !get_string(c, &text, &len)) return "";
    if (id != (c->nstrings ? c->nstrings : 1)) return "a string out of order (ids go 1, 2, ...)";
    if (!rpt_grow((void **)&c->strings, &c->strings_cap, id + 1, sizeof *c->strings))
        return "out of memory";
    c->strings[id] = strndup((const char *)text, len);
    c->nstrings = id + 1;
    return c->strings[id] ? NULL : "out of memory";
}

static const char *on_location(rpt_capture *c) {
    uint64_t id, file, function, line;
    if (!get_varint(c, &id) || !get_varint(c, &file) || !get_varint(c, &function) ||
        !get_varint(c, &line))
        return "";
    if (id != (c->nlocations ? c->nlocations : 1) || file == 0 || file >= c->nstrings ||
        function == 0 || function >= c->nstrings || line > INT32_MAX)
        return "a location out of order or naming an unknown string";
    if (!rpt_grow((void **)&c->locations, &c->locations_cap, id + 1, sizeof *c->locations))
        return "out of memory";
    c->locations[id] = (rpt_location){(uint32_t)file, (uint32_t)function, (int)line};
    if (id + 1 > c->nlocations) c->nlocations = id + 1;
    return NULL;
}

static const char *on_section(rpt_capture *c) {
    uint64_t name;
    if (!get_varint(c, &name) || c->p >= c->end) return "";
    unsigned begin = *c->p++;
    if (name == 0 || name >= c->nstrings || begin > 1) return "a section with a bad name or kind";
    rpt_thread *t = &c->threads[c->thread];
    if (begin) {
        if (!rpt_grow((void **)&t->open, &t->cap, t->n + 1, sizeof *t->open))
            return "out of memory";
        t->open[t->n++] = (rpt_open_section){(uint32_t)name, c->current, c->current, c->ms};
        return NULL;
    }
    if (t->n == 0 || t->open[t->n - 1].name != name) return "a section ends that is not open";
    rpt_open_section o = t->open[--t->n];
    if (!rpt_grow((void **)&c->sections, &c->sections_cap, name + 1, sizeof *c->sections))
        return "out of memory";
    rpt_section *st = &c->sections[name];
    st->occurrences++;
    st->net += (int64_t)c->current - (int64_t)o.start;
    if (o.max - o.start > st->peak) st->peak = o.max - o.start;
    if (c->spans_total++ >= RPT_SPANS_MAX) return NULL;
    if (!rpt_grow((void **)&c->spans, &c->spans_cap, c->nspans + 1, sizeof *c->spans))
        return "out of memory";
    c->spans[c->nspans++] = (rpt_span){(uint32_t)name, (uint32_t)c->thread, o.start_ms, c->ms};
    return NULL;
}

static const char *on_mark(rpt_capture *c) {
    uint64_t label;
    if (!get_varint(c, &label)) return "";
    if (label == 0 || label >= c->nstrings) return "a mark with a bad label";
    if (!rpt_grow((void **)&c->marks, &c->marks_cap, c->nmarks + 1, sizeof *c->marks))
        return "out of memory";
    c->marks[c->nmarks++] = (rpt_mark){(uint32_t)label, c->ms};
    return NULL;
}

/* A sample of the process's resident bytes, at the current time. */
static const char *on_rss(rpt_capture *c) {
    uint64_t bytes;
    if (!get_varint(c, &bytes)) return "";
    if (!timeline_advance(c, c->ms)) return "out of memory";
    rpt_step *open = &c->timeline[c->nsteps - 1];
    if (bytes > open->rss) open->rss = bytes;
    if (bytes > c->rss_peak) {
        c->rss_peak = bytes;
        c->rss_peak_ms = c->ms;
    }
    c->rss = bytes;
    c->rss_samples++;
    return NULL;
}

/* A collection that ended at the current time. */
static const char *on_collection(rpt_capture *c) {
    uint64_t gen, pause_us, found;
    if (!get_varint(c, &gen) || !get_varint(c, &pause_us) || !get_varint(c, &found)) return "";
    if (gen >= RPT_GENERATIONS) return "a collection of an unknown generation";
    c->gc_count[gen]++;
    c->gc_pause_us += pause_us;
    if (pause_us > c->gc_pause_max_us) c->gc_pause_max_us = pause_us;
    c->gc_found += found;
    if (c->ncollections == RPT_COLLECTIONS_MAX) return NULL;
    if (!rpt_grow((void **)&c->collections, &c->collections_cap, c->ncollections + 1,
                  sizeof *c->collections))
        return "out of memory";
    c->collections[c->ncollections++] = (rpt_collection){c->ms, pause_us, found, (unsigned)gen};
    return NULL;
}

/* An INFO value as a decimal number. */
static bool info_number(const unsigned char *v, uint64_t len, uint64_t *out) {
    uint64_t n = 0;
    if (len == 0 || len > 19) return false;
    for (uint64_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return true;
}

static const char *on_info(rpt_capture *c) {
    const unsigned char *k, *v;
    uint64_t klen, vlen;
    if (!get_string(c, &k, &klen) || !get_string(c, &v, &vlen)) return "";
    uint64_t n;
    if (klen == 3 && memcmp(k, "pid", 3) == 0) {
        if (!info_number(v, vlen, &n)) return "a pid that is not a number";
        snprintf(c->pid, sizeof c->pid, "%" PRIu64, n);
    } else if (klen == 12 && memcmp(k, "sample_bytes", 12) == 0) {
        if (!info_number(v, vlen, &c->sample_bytes) || c->sample_bytes == 0)
            return "a sample_bytes that is not a positive number";
        /* Events already read were weighed as a full capture's. */
        if (c->recorded_allocs || c->recorded_frees) return "a sample_bytes after the first events";
    } else if (klen == 7 && memcmp(k, "dropped", 7) == 0) {
        if (!info_number(v, vlen, &c->dropped)) return "a dropped count that is not a number";
    }
    return NULL; /* other keys: read, not needed here */
}

/* One record; NULL when read, "" when the file ends inside it, else what
 * is wrong with it. */
static const char *read_record(rpt_capture *c) {
    uint64_t v;
    unsigned tag = *c->p++;
    if (tag == PMD_TAG_ALLOC || tag == PMD_TAG_FREE) return read_event(c, tag == PMD_TAG_ALLOC);
    if (tag != PMD_TAG_TIME && tag != PMD_TAG_THREAD && !drain(c)) return "out of memory";
    switch (tag) {
        case PMD_TAG_INFO: return on_info(c);
        case PMD_TAG_STRING: return on_string(c);
        case PMD_TAG_SECTION: return on_section(c);
        case PMD_TAG_MARK: return on_mark(c);
        case PMD_TAG_LOCATION: return on_location(c);
        case PMD_TAG_MODULE: return on_module(c);
        case PMD_TAG_NODE: return on_node(c);
        case PMD_TAG_RSS:
        case PMD_TAG_COLLECTION:
            if (c->version < 3) return "an unknown record tag";
            return tag == PMD_TAG_RSS ? on_rss(c) : on_collection(c);
        case PMD_TAG_TIME:
            if (!get_varint(c, &v)) return "";
            c->ms += v;
            return NULL;
        case PMD_TAG_THREAD:
            if (!get_varint(c, &v)) return "";
            if (v == 0 || v > c->max_thread + 1)
                return "a thread number out of order (threads go 1, 2, ...)";
            if (v > c->max_thread &&
                !rpt_grow((void **)&c->threads, &c->threads_cap, v + 1, sizeof *c->threads))
                return "out of memory";
            if (v > c->max_thread) c->max_thread = v;
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
static const char *next_block(rpt_capture *c) {
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
    if (!rpt_grow((void **)&c->unpacked, &c->unpacked_cap, size, 1)) return "out of memory";
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
static void say_where(const rpt_capture *c, const unsigned char *at, const char *what) {
    size_t off = (size_t)(at - c->base);
    if (c->compressed)
        fprintf(stderr, "%s:%zu: %s (at byte %zu of the block's records)\n", c->name, c->block_at,
                what, off);
    else fprintf(stderr, "%s:%zu: %s\n", c->name, (size_t)(c->base - c->file) + off, what);
}

/* The records of the block in c->p..c->end: 0, or 1 with the error said. */
static int read_block(rpt_capture *c) {
    while (c->p < c->end && !c->ended) {
        const unsigned char *at = c->p;
        const char *why = read_record(c);
        if (why == NULL) continue;
        if (c->overlong) why = "a number longer than ten bytes";
        if (why[0] == '\0') why = "a record runs past the end of its block";
        say_where(c, at, why);
        return 1;
    }
    if (drain(c)) return 0;
    say_where(c, c->p, "out of memory");
    return 1;
}

/* The file's pages before the next block are read for good: they go back
 * to the page cache (a mapped file's pages count in the resident set, as
 * much as the file's size by the end), a few MiB at a time. */
static void release_read(rpt_capture *c) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t done = (size_t)(c->file_p - c->file) / page * page;
    if (done - c->file_released < ((size_t)4 << 20)) return;
    madvise((void *)(c->file + c->file_released), done - c->file_released, MADV_DONTNEED);
    c->file_released = done;
}

/* Read the whole capture; 0, or 1 with the error said (FILE:OFFSET). A
 * file that ends inside a block (the program died) is read up to it, with
 * a warning. */
static int read_capture(rpt_capture *c) {
    if (c->file_end - c->file < PMD_CAPTURE_HEADER ||
        memcmp(c->file, PMD_CAPTURE_MAGIC, sizeof PMD_CAPTURE_MAGIC) != 0) {
        fprintf(stderr, "%s:0: not a pymm capture file (no PYMMTRC header)\n", c->name);
        return 1;
    }
    if (c->file[8] < PMD_CAPTURE_OLDEST || c->file[8] > PMD_CAPTURE_VERSION) {
        fprintf(stderr, "%s:8: capture format version %u; this pymm reads versions %d to %d\n",
                c->name, c->file[8], PMD_CAPTURE_OLDEST, PMD_CAPTURE_VERSION);
        return 1;
    }
    c->version = c->file[8];
    c->file_p = c->file + PMD_CAPTURE_HEADER;
    c->nstacks = RPT_ROOTS + 1;
    if (!rpt_grow_mapped((void **)&c->stacks, &c->stacks_cap, c->nstacks, sizeof *c->stacks) ||
        !rpt_grow((void **)&c->threads, &c->threads_cap, 1, sizeof *c->threads)) {
        fprintf(stderr, "%s:0: out of memory\n", c->name);
        return 1;
    }
    for (uint32_t id = 1; id <= RPT_ROOTS; id++) c->stacks[id].fig = id; /* a root is its own */
    while (c->file_p < c->file_end && !c->ended) {
        const char *why = next_block(c);
        if (why != NULL && why[0] == '\0') {
            if (c->quiet) return 0;
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
        release_read(c);
    }
    if (c->quiet) return 0;
    if (!c->ended)
        fprintf(stderr, "%s: warning: no end record (the program did not stop tracing)\n", c->name);
    if (c->realloc_live)
        fprintf(stderr,
                "%s: warning: %" PRIu64 " allocations at an address still live (frees not "
                "recorded); each taken as a free first\n",
                c->name, c->realloc_live);
    return 0;
}

/* Blocks live at the end: the table's, or in a sampled capture the
 * weighted estimate the stacks hold. */
static uint64_t live_blocks(const rpt_capture *c) {
    if (c->sample_bytes == 0) return c->live_n;
    uint64_t n = 0;
    for (size_t i = 0; i < c->nowners; i++) n += c->owners[i].live_count;
    return n;
}

/* Map the file, read it, unmap it: 0, or 1 with the error said. */
int rpt_read(rpt_capture *c) {
    int fd = open(c->name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s:0: %s\n", c->name, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) close(fd);
        return 1;
    }
    void *map = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (st.st_size && map == MAP_FAILED) {
        fprintf(stderr, "%s:0: %s\n", c->name, strerror(errno));
        return 1;
    }
    c->file = map ? map : (const unsigned char *)"";
    c->file_end = c->file + st.st_size;
    int rc = read_capture(c);
    timeline_close(c);
    c->end_blocks = live_blocks(c);
    if (map) munmap(map, (size_t)st.st_size);
    c->file = c->file_p = c->file_end = c->p = c->end = c->base = NULL;
    live_release(c); /* only reading needs the blocks, and the rest below */
    free(c->unpacked);
    c->unpacked = NULL;
    for (size_t i = 0; i < c->threads_cap; i++) {
        free(c->threads[i].recent);
        c->threads[i].recent = NULL;
    }
    return rc;
}

void rpt_drop_stacks(rpt_capture *c) {
    rpt_unmap(c->stacks, c->stacks_cap, sizeof *c->stacks);
    rpt_unmap(c->owners, c->owners_cap, sizeof *c->owners);
    c->stacks = NULL;
    c->owners = NULL;
    c->stacks_cap = c->owners_cap = c->nowners = 0;
}

void rpt_capture_free(rpt_capture *c) {
    for (size_t i = 0; i < c->threads_cap; i++) {
        free(c->threads[i].open);
        free(c->threads[i].recent);
    }
    free(c->threads);
    free(c->sections);
    free(c->marks);
    free(c->collections);
    free(c->spans);
    free(c->timeline);
    for (size_t i = 0; i < c->nstrings; i++) free(c->strings[i]);
    free(c->strings);
    free(c->locations);
    for (size_t i = 0; i < c->nmodules; i++) free(c->modules[i].path);
    free(c->modules);
    rpt_drop_stacks(c);
    live_release(c);
    free(c->unpacked);
}

/* ---- the command --------------------------------------------------------- */

FILE *rpt_out_open(const char *path) {
    if (path == NULL) return stdout;
    FILE *f = fopen(path, "wb");
    if (f == NULL) fprintf(stderr, "pymm: %s: %s\n", path, strerror(errno));
    return f;
}

int rpt_out_close(FILE *f, const char *path) {
    /* A write error sticks to the stream: fflush reports it, with errno
     * set by the write that failed (ENOSPC). */
    int failed = fflush(f) != 0 || ferror(f);
    int why = errno;
    if (f != stdout && fclose(f) != 0 && !failed) failed = 1, why = errno;
    if (!failed) return 0;
    fprintf(stderr, "pymm: %s: %s\n", path ? path : "standard output",
            why ? strerror(why) : "write error");
    return 1;
}

/* The formats of `pymm report FILE`: text and json are the report itself
 * (report_print.c); the others are the stacks for other tools and the
 * page, written from a tree of the stacks by name (report_formats.c,
 * report_pprof.c, report_html.c). */
typedef struct format {
    const char *name;
    int (*write)(FILE *f, const rpt_capture *c, const rpt_tree *t, const rpt_options *o);
    /* The leak verdicts' graphs (dot, svg): from --leaks alone. */
    int (*graph)(FILE *f, const rpt_leaks *l);
} format;

static const format formats[] = {
    {"text", NULL, NULL},
    {"json", NULL, NULL},
    {"collapsed", rpt_write_collapsed, NULL},
    {"pprof", rpt_write_pprof, NULL},
    {"speedscope", rpt_write_speedscope, NULL},
    {"html", rpt_write_html, NULL},
    {"dot", NULL, rpt_leaks_dot},
    {"svg", NULL, rpt_leaks_svg},
};
#define NFORMATS (sizeof formats / sizeof formats[0])
#define FORMAT_NAMES "text, json, collapsed, pprof, speedscope, html, dot, svg"

/* `--measure`'s names, by enum rpt_view. */
static const char *const measures[RPT_VIEWS] = {"peak", "exit", "allocated", "temporary"};

static int usage(FILE *f) {
    fprintf(f,
            "usage: pymm report FILE [--format FMT] [-o OUT] [--top N] [--temporary N]\n"
            "                   [--measure peak|exit|allocated|temporary]\n"
            "                   [--max-stacks S] [--buckets B]\n"
            "                   [--leaks LEAKFILE]\n"
            "       pymm report --leaks LEAKFILE [--format text|json|dot|svg] [-o OUT]\n"
            "       pymm report --diff A B [--format text|json] [-o OUT] [--top N]\n"
            "                   [--temporary N]\n"
            "  what a capture file (PYMM_TRACE=FILE) says: totals, the peak, the\n"
            "  stacks holding the most at the peak and at the end, the stacks\n"
            "  that allocated the most, and those of temporary blocks (freed by\n"
            "  their thread before it made N more allocations; --temporary N,\n"
            "  1 to %d, default 1). --top: how many stacks of each (default 10).\n"
            "  --format: text (default), json, or every stack for other tools:\n"
            "  collapsed (flamegraph.pl's `frame;frame;leaf bytes`), pprof (go tool\n"
            "  pprof's protobuf profile), speedscope (speedscope's JSON), or html:\n"
            "  one self-contained page (flame graphs, a table of sites, a timeline\n"
            "  whose time ranges re-sum them; nothing fetched when opened).\n"
            "  --measure: the bytes those show: live at the peak (default), live at\n"
            "  the exit, allocated in all, or temporary; pprof has all allocations\n"
            "  and its inuse_* at the peak or the exit; the page shows all four,\n"
            "  this one first. --max-stacks S: the page keeps the S stacks that\n"
            "  matter most, the rest as \"other\" (default %d); --buckets B: its\n"
            "  time ranges are B buckets of the run (default %d); both 1 to %d,\n"
            "  lowered if the page would pass 10 MB. -o: to OUT, not stdout.\n"
            "  --diff: per stack, what changed from capture A to capture B, the\n"
            "  largest changes first; stacks match by function, file and line.\n"
            "  --leaks LEAKFILE: the leak verdicts that PYMM_LEAKS=LEAKFILE wrote\n"
            "  join the report (text, json, html), or are reported alone without\n"
            "  FILE; --format dot draws their reference graphs (a path from its\n"
            "  root to each leak, and what the leak refers to and what refers to\n"
            "  it) as graphviz's DOT text, svg as an image by graphviz's dot\n"
            "  (when installed); both need --leaks, not FILE\n",
            RPT_TEMPORARY_MAX, RPT_HTML_STACKS, RPT_HTML_BUCKETS, RPT_HTML_MAX);
    return f == stderr ? 2 : 0;
}

/* A count option's value: false unless a whole number from 1 up. */
static bool count_arg(const char *text, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end || errno || v == 0 || text[0] == '-') return false;
    *out = v;
    return true;
}

static const format *find_format(const char *name) {
    for (size_t i = 0; i < NFORMATS; i++)
        if (strcmp(formats[i].name, name) == 0) return &formats[i];
    return NULL;
}

static int find_measure(const char *name) {
    for (int v = 0; v < RPT_VIEWS; v++)
        if (strcmp(measures[v], name) == 0) return v;
    return -1;
}

/* The report of one capture in format fmt to out: 0, or 1 with the
 * error said. The stacks are named before the output is opened, and for
 * the formats by name libdw is closed before they are written, and the
 * capture's nodes and figures go once the tree has them (the page reads
 * the file again: the tree is then their only copy). */
static int report(rpt_capture *c, const format *fmt, const char *out, size_t top,
                  const rpt_options *o, const rpt_leaks *leaks) {
    Dwfl *d = rpt_names_open(c);
    rpt_tree t;
    int rc = 0;
    if (fmt->write) {
        rc = rpt_tree_init(&t, true) ? rpt_tree_add(&t, c, d, 0) : 1;
        rpt_tree_seal(&t);
        rpt_drop_stacks(c);
        rpt_names_close(d);
        d = NULL;
    }
    FILE *f = rc == 0 ? rpt_out_open(out) : NULL;
    if (f && fmt->write) rc = fmt->write(f, c, &t, o);
    else if (f && fmt->name[0] == 'j') rpt_report_json(f, c, d, top, leaks);
    else if (f) rpt_report_text(f, c, d, top);
    if (f && leaks && fmt->name[0] == 't') {
        fputc('\n', f);
        rpt_leaks_text(f, leaks);
    }
    if (f && rpt_out_close(f, out) != 0) rc = 1;
    if (f == NULL) rc = 1;
    if (fmt->write) rpt_tree_free(&t);
    rpt_names_close(d);
    return rc;
}

/* The verdicts of --leaks alone, without a capture: text, json, or
 * their graphs. */
static int report_leaks(const rpt_leaks *l, const format *fmt, const char *out) {
    FILE *f = rpt_out_open(out);
    if (f == NULL) return 1;
    int rc = 0;
    if (fmt->graph) rc = fmt->graph(f, l) != 0;
    else if (fmt->name[0] == 'j') {
        fputs("{\"leaks\": ", f);
        rpt_leaks_json(f, l, SIZE_MAX);
        fputs("}\n", f);
    } else rpt_leaks_text(f, l);
    if (rpt_out_close(f, out) != 0) rc = 1;
    return rc;
}

/* What --leaks goes with, and what dot, svg and html need: 0, or 2 with
 * the refusal said. */
static int check_leaks(const char *path, const char *leaks, const format *fmt) {
    const char *why = NULL;
    if (fmt->graph && leaks == NULL) why = "draws the verdicts of --leaks LEAKFILE: give one";
    else if (fmt->graph && path) why = "draws the verdicts of --leaks alone: give no capture";
    else if (leaks && fmt->write && fmt->write != rpt_write_html)
        why = "does not show leak verdicts (--leaks goes with text, json, html, dot, svg)";
    else if (path == NULL && fmt->write) why = "needs a capture FILE";
    if (why == NULL) return 0;
    fprintf(stderr, "pymm report: --format %s %s\n", fmt->name, why);
    return 2;
}

int pymm_report_main(int argc, char **argv) {
    const char *path = NULL, *diff_a = NULL, *diff_b = NULL, *out = NULL, *leaks_path = NULL;
    const char *format_name = "text", *measure_name = NULL;
    uint64_t top = 10, temporary = 1, stacks = RPT_HTML_STACKS, buckets = RPT_HTML_BUCKETS;
    bool caps = false; /* --max-stacks or --buckets given */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return usage(stdout);
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) format_name = argv[++i];
        else if (strcmp(argv[i], "--measure") == 0 && i + 1 < argc) measure_name = argv[++i];
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) out = argv[++i];
        else if (strcmp(argv[i], "--leaks") == 0 && i + 1 < argc) leaks_path = argv[++i];
        else if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
            if (!count_arg(argv[++i], &top)) return usage(stderr);
        } else if (strcmp(argv[i], "--temporary") == 0 && i + 1 < argc) {
            if (!count_arg(argv[++i], &temporary) || temporary > RPT_TEMPORARY_MAX)
                return usage(stderr);
        } else if (strcmp(argv[i], "--max-stacks") == 0 && i + 1 < argc) {
            if (!count_arg(argv[++i], &stacks) || stacks > RPT_HTML_MAX) return usage(stderr);
            caps = true;
        } else if (strcmp(argv[i], "--buckets") == 0 && i + 1 < argc) {
            if (!count_arg(argv[++i], &buckets) || buckets > RPT_HTML_MAX) return usage(stderr);
            caps = true;
        } else if (strcmp(argv[i], "--diff") == 0 && i + 2 < argc && diff_a == NULL) {
            diff_a = argv[++i];
            diff_b = argv[++i];
        } else if (argv[i][0] != '-' && path == NULL) path = argv[i];
        else return usage(stderr);
    }
    if ((path && diff_a) || (!path && !diff_a && !leaks_path) || (diff_a && leaks_path))
        return usage(stderr);
    const format *fmt = find_format(format_name);
    if (fmt == NULL || (diff_a && (fmt->write || fmt->graph))) {
        fprintf(stderr, "pymm report: unknown format '%s'%s (valid: %s)\n", format_name,
                fmt ? " for --diff" : "", diff_a ? "text, json" : FORMAT_NAMES);
        return 2;
    }
    int measure = measure_name ? find_measure(measure_name) : RPT_AT_PEAK;
    if (measure < 0 || (measure_name && !fmt->write)) {
        fprintf(stderr, "pymm report: --measure %s: %s\n", measure_name,
                measure < 0 ? "not a measure (valid: peak, exit, allocated, temporary)"
                            : "goes with --format collapsed, pprof, speedscope or html");
        return 2;
    }
    if (caps && fmt->write != rpt_write_html) {
        fprintf(stderr, "pymm report: --max-stacks and --buckets go with --format html\n");
        return 2;
    }
    if (fmt->write == rpt_write_pprof && measure == RPT_TEMPORARY) {
        fprintf(stderr, "pymm report: --measure temporary: pprof's sample types are all "
                        "allocations and those in use (peak, exit or allocated)\n");
        return 2;
    }
    if (diff_a) return rpt_diff(out, diff_a, diff_b, fmt->name[0] == 'j', top, temporary);
    if (check_leaks(path, leaks_path, fmt) != 0) return 2;
    if (fmt->graph == rpt_leaks_svg && !rpt_svg_available()) {
        fprintf(stderr, "pymm report: svg needs graphviz's dot; use --format dot\n");
        return 1;
    }
    rpt_leaks leaks = {0};
    if (leaks_path && rpt_leaks_read(&leaks, leaks_path) != 0) return 1;
    int rc;
    if (path == NULL) {
        rc = report_leaks(&leaks, fmt, out);
    } else {
        rpt_capture c = {.name = path, .temporary = temporary};
        rc = rpt_read(&c);
        const rpt_leaks *l = leaks_path ? &leaks : NULL;
        rpt_options o = {(enum rpt_view)measure, (size_t)stacks, (size_t)buckets, l};
        if (rc == 0) rc = report(&c, fmt, out, top, &o, l);
        rpt_capture_free(&c);
    }
    rpt_leaks_free(&leaks);
    return rc;
}
