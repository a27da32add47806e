/*
 * capture.c -- the capture file: what the recorder sees, written as the
 * program runs, for `pymm report` to read (docs/FORMATS.md, "Capture
 * files", is the format; this file is its writer).
 *
 * Owns: the file, its buffer, the stream's delta state (last address,
 * last thread, last time) and the list of modules written.
 *
 * Records go into one buffer, in the order the recorder makes them (it
 * serializes every call, under its lock; this file has none): a stack node before any allocation that names it, a free
 * before the block can be given again (the recorder writes it before the
 * block goes back). The buffer goes to the file when it is full, and when
 * a record finds the last write a second old, so a program that crashes
 * loses at most about a second of what it did before. A write that fails
 * ends the writing: pymm says so on stderr once, and the file ends there
 * without its end record; the program goes on. At exit the capture is
 * finished (end record, flush) but kept: other threads may still record,
 * and their calls then do nothing (`closed`).
 *
 * The process's resident memory (RSS) is sampled as the events' time
 * moves on, at most every PMD_CAPTURE_RSS_MS: a pread of /proc/self/statm
 * when an event's millisecond differs from the last one's, never on the
 * allocator's fast path (which does not reach this file). A sample took
 * 38-54 us on the loaded 2-CPU test machine (a loop of 100,000): at one
 * per 10 ms, at most 0.5% of a run's time.
 * The file is opened with the capture: a fork child's capture opens its
 * own, so /proc/self is always the writer's process.
 *
 * The buffer goes out as one block, compressed with zstd when this build
 * has libzstd (stored as it is otherwise, or when compressing does not
 * make it smaller), so a block always holds whole records. libzstd is
 * loaded by each capture that opens (dlopen) and let go when it closes,
 * never linked: a program that does not trace does not map its pages
 * (about 90 KiB of resident memory at load: docs/PERFORMANCE.md).
 *
 * The buffer, the compressor's context and this structure are mapped
 * from the OS (the recorder's rule R2: nothing of it is ever a traced
 * block, and zstd never calls malloc).
 */
#define _GNU_SOURCE
#include "diag/capture_format.h"
#include "diag/diag.h"
#include "heap/os.h"

#ifdef PYMM_HAVE_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_initStaticCCtx: a context in our own mapping */
#include <zstd.h>
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CAP_BUFFER ((size_t)1 << 20)
#define CAP_ROOM 64 /* the longest record but a module's or an info's */
#define CAP_MAX_MODULES 1024
#define CAP_FLUSH_MS 1000
#define CAP_ZSTD_LEVEL 1 /* 1.3 bytes an allocation, ~30 ns (docs/FORMATS.md) */

#ifdef PYMM_HAVE_ZSTD
/* The libzstd entry points a capture uses, found in the library it loaded
 * (lib). The context is made with ZSTD_initStaticCCtx, of zstd's
 * experimental API, whose layout is only sure for the version the build
 * saw: another version loaded leaves the blocks stored. */
typedef struct cap_zstd {
    void *lib;
    size_t (*estimate_cctx_size)(int level);
    size_t (*compress_bound)(size_t n);
    ZSTD_CCtx *(*init_static_cctx)(void *work, size_t size);
    size_t (*compress_cctx)(ZSTD_CCtx *ctx, void *dst, size_t room, const void *src, size_t n,
                            int level);
    unsigned (*is_error)(size_t code);
} cap_zstd;
#endif

struct pmd_capture {
    int fd;
    unsigned char *buf;
    size_t len;
    bool failed;      /* a write failed: nothing more is written */
    int failed_errno; /* why (EIO: it wrote nothing) */
    bool closed;      /* the end record is written: nothing more is */
    char path[4096];  /* for the message of a failed write */
    uint64_t allocs, frees;
    uintptr_t last_addr;
    uint32_t last_thread;
    uint32_t next_thread;
    uint64_t gen; /* unique to this file: the threads' numbers in it */
    uint64_t start_ns, last_ms, last_flush_ms;
    int statm_fd;         /* /proc/self/statm; -1: no RSS records */
    long page_size;       /* statm counts pages */
    uint64_t last_rss_ms; /* the last RSS record's time */
    size_t nmodules;
    uintptr_t module_bias[CAP_MAX_MODULES];
#ifdef PYMM_HAVE_ZSTD
    cap_zstd z;      /* libzstd's entry points, while the capture is open */
    ZSTD_CCtx *zctx; /* NULL: blocks are stored as they are */
    void *zwork;     /* zctx's memory */
    size_t zwork_size;
    unsigned char *zout; /* a compressed block */
    size_t zout_size;
#endif
};

/* The calling thread's number in the stream of capture `gen` (1, 2, ...):
 * numbered anew in another recording, or in a fork child's new file. */
static _Thread_local struct {
    uint64_t gen;
    uint32_t no;
} cap_thread_no;

/* The coarse clock: events are stamped in milliseconds, and it costs a
 * few instructions where CLOCK_MONOTONIC costs a vDSO call (7.5% of a
 * traced run of pymm-python with one frame, perf). Its step is the
 * kernel's tick (1-4 ms). */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- encoding ------------------------------------------------------------ */

static void put_u8(pmd_capture *c, unsigned v) { c->buf[c->len++] = (unsigned char)v; }

static void put_varint(pmd_capture *c, uint64_t v) {
    c->len += pmd_encode_varint(c->buf + c->len, v);
}

/* A signed delta, zigzag-coded: small either way. */
static void put_svarint(pmd_capture *c, int64_t v) {
    put_varint(c, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void put_bytes(pmd_capture *c, const void *p, size_t n) {
    put_varint(c, n);
    memcpy(c->buf + c->len, p, n);
    c->len += n;
}

/* ---- the file ------------------------------------------------------------ */

static void write_all(pmd_capture *c, const void *data, size_t n) {
    size_t off = 0;
    while (off < n && !c->failed) {
        ssize_t w = write(c->fd, (const char *)data + off, n - off);
        if (w > 0) off += (size_t)w;
        else if (w < 0 && errno == EINTR) continue;
        else {
            c->failed = true;
            c->failed_errno = w < 0 ? errno : EIO;
            fprintf(stderr, "pymm: capture %s: %s; the file ends here, the program goes on\n",
                    c->path, w < 0 ? strerror(errno) : "nothing written");
        }
    }
}

/* The buffer's records, compressed when that makes them smaller. */
static const unsigned char *block_data(pmd_capture *c, size_t *stored, unsigned *kind) {
    *stored = c->len;
    *kind = PMD_BLOCK_STORED;
#ifdef PYMM_HAVE_ZSTD
    if (c->zctx != NULL) {
        size_t z =
            c->z.compress_cctx(c->zctx, c->zout, c->zout_size, c->buf, c->len, CAP_ZSTD_LEVEL);
        if (!c->z.is_error(z) && z < c->len) {
            *stored = z;
            *kind = PMD_BLOCK_ZSTD;
            return c->zout;
        }
    }
#endif
    return c->buf;
}

/* The buffer to the file as one block: kind, stored size, size, data. */
static void flush(pmd_capture *c) {
    if (c->len > 0 && !c->failed) {
        size_t stored;
        unsigned kind;
        const unsigned char *data = block_data(c, &stored, &kind);
        unsigned char head[1 + 2 * 10];
        size_t n = 0;
        head[n++] = (unsigned char)kind;
        n += pmd_encode_varint(head + n, stored);
        n += pmd_encode_varint(head + n, c->len);
        write_all(c, head, n);
        write_all(c, data, stored);
    }
    c->len = 0;
    c->last_flush_ms = c->last_ms;
}

/* Room for a record of up to `need` bytes; false when the file failed. */
static bool room(pmd_capture *c, size_t need) {
    if (c->failed || c->closed) return false;
    if (CAP_BUFFER - c->len < need) flush(c);
    return !c->failed;
}

/* The process's resident bytes, or 0 when /proc does not say. */
static uint64_t rss_bytes(const pmd_capture *c) {
    char text[128];
    if (c->statm_fd < 0) return 0;
    ssize_t n = pread(c->statm_fd, text, sizeof text - 1, 0);
    if (n <= 0) return 0;
    text[n] = '\0';
    unsigned long long size, resident; /* "size resident shared ..." in pages */
    if (sscanf(text, "%llu %llu", &size, &resident) != 2) return 0;
    return (uint64_t)resident * (uint64_t)c->page_size;
}

/* An RSS record at the current time (the caller made room: at most 11
 * bytes, within CAP_ROOM's margin over the longest event record). */
static void put_rss(pmd_capture *c) {
    uint64_t rss = rss_bytes(c);
    c->last_rss_ms = c->last_ms;
    if (rss == 0) return;
    put_u8(c, PMD_TAG_RSS);
    put_varint(c, rss);
}

/* What every event record is preceded by when it changed: the time (in
 * milliseconds since the start), with an RSS sample when the last is
 * PMD_CAPTURE_RSS_MS old, and the thread. */
static void stamp(pmd_capture *c) {
    uint64_t ms = (now_ns() - c->start_ns) / 1000000u;
    if (ms != c->last_ms) {
        put_u8(c, PMD_TAG_TIME);
        put_varint(c, ms - c->last_ms);
        c->last_ms = ms;
        if (ms - c->last_rss_ms >= PMD_CAPTURE_RSS_MS) put_rss(c);
    }
    if (cap_thread_no.gen != c->gen || cap_thread_no.no == 0) {
        cap_thread_no.gen = c->gen;
        cap_thread_no.no = ++c->next_thread;
    }
    if (cap_thread_no.no != c->last_thread) {
        put_u8(c, PMD_TAG_THREAD);
        put_varint(c, cap_thread_no.no);
        c->last_thread = cap_thread_no.no;
    }
}

/* After an event: to the file if the last write is a second old. */
static void maybe_flush(pmd_capture *c) {
    if (c->last_ms - c->last_flush_ms >= CAP_FLUSH_MS) flush(c);
}

/* ---- modules ----------------------------------------------------------- */

bool pmd_program_path(char *out, size_t size) {
    PM_ASSERT(size > 0);
    ssize_t n = readlink("/proc/self/exe", out, size - 1);
    bool ok = n > 0 && (size_t)n < size - 1; /* size - 1 bytes: perhaps cut short */
    out[ok ? n : 0] = '\0';
    return ok;
}

static bool module_known(const pmd_capture *c, uintptr_t bias) {
    for (size_t i = 0; i < c->nmodules; i++)
        if (c->module_bias[i] == bias) return true;
    return false;
}

/* One loaded object: its load bias, the range its segments cover, and its
 * file (the main program has no name here: /proc/self/exe says it). */
static int write_module(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    pmd_capture *c = arg;
    char path[4096];
    if (module_known(c, info->dlpi_addr) || c->nmodules == CAP_MAX_MODULES) return 0;
    const char *name = info->dlpi_name;
    if (name == NULL || name[0] == '\0') {
        if (!pmd_program_path(path, sizeof path)) return 0;
        name = path;
    }
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (start < lo) lo = start;
        if (start + ph->p_memsz > hi) hi = start + ph->p_memsz;
    }
    size_t len = strlen(name);
    if (lo >= hi || !room(c, CAP_ROOM + len)) return 0;
    put_u8(c, PMD_TAG_MODULE);
    put_varint(c, info->dlpi_addr);
    put_varint(c, lo);
    put_varint(c, hi - lo);
    put_bytes(c, name, len);
    c->module_bias[c->nmodules++] = info->dlpi_addr;
    return 0;
}

static void write_info(pmd_capture *c, const char *key, const char *value) {
    size_t k = strlen(key), v = strlen(value);
    if (!room(c, CAP_ROOM + k + v)) return;
    put_u8(c, PMD_TAG_INFO);
    put_bytes(c, key, k);
    put_bytes(c, value, v);
}

static void write_info_number(pmd_capture *c, const char *key, uint64_t v) {
    char text[24];
    size_t n = sizeof text;
    text[--n] = '\0';
    do text[--n] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    write_info(c, key, text + n);
}

/* ---- the recorder's side ------------------------------------------------ */

#ifdef PYMM_HAVE_ZSTD
/* libzstd loaded, its entry points in z; false (z->lib NULL) when it is
 * not installed, lacks one of them, or is not the version this build saw. */
static bool zstd_load(cap_zstd *z) {
    _Static_assert(ZSTD_VERSION_MAJOR == 1, "libzstd's soname is libzstd.so.1");
    z->lib = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
    if (z->lib == NULL) return false;
    unsigned (*version)(void) = (unsigned (*)(void))dlsym(z->lib, "ZSTD_versionNumber");
    z->estimate_cctx_size = (size_t(*)(int))dlsym(z->lib, "ZSTD_estimateCCtxSize");
    z->compress_bound = (size_t(*)(size_t))dlsym(z->lib, "ZSTD_compressBound");
    z->init_static_cctx = (ZSTD_CCtx * (*)(void *, size_t)) dlsym(z->lib, "ZSTD_initStaticCCtx");
    z->compress_cctx = (size_t(*)(ZSTD_CCtx *, void *, size_t, const void *, size_t, int))dlsym(
        z->lib, "ZSTD_compressCCtx");
    z->is_error = (unsigned (*)(size_t))dlsym(z->lib, "ZSTD_isError");
    if (version && version() == ZSTD_VERSION_NUMBER && z->estimate_cctx_size && z->compress_bound &&
        z->init_static_cctx && z->compress_cctx && z->is_error)
        return true;
    dlclose(z->lib);
    z->lib = NULL;
    return false;
}
#endif

/* A compressor in memory of our own; none (stored blocks) if it cannot be had. */
static void compressor_open(pmd_capture *c) {
#ifdef PYMM_HAVE_ZSTD
    if (!zstd_load(&c->z)) return;
    size_t work = c->z.estimate_cctx_size(CAP_ZSTD_LEVEL);
    size_t out = c->z.compress_bound(CAP_BUFFER);
    c->zwork = pmos_map(work);
    c->zout = pmos_map(out);
    c->zctx = c->zwork && c->zout ? c->z.init_static_cctx(c->zwork, work) : NULL;
    c->zwork_size = work;
    c->zout_size = out;
#else
    (void)c;
#endif
}

/* What pmd_capture_open mapped, given back; libzstd let go unless the
 * caller is a fork child (unload: false), where the loader's lock may be
 * held by a thread the fork left behind. */
static void release(pmd_capture *c, bool unload) {
#ifdef PYMM_HAVE_ZSTD
    if (c->zwork) pmos_unmap(c->zwork, c->zwork_size);
    if (c->zout) pmos_unmap(c->zout, c->zout_size);
    if (c->z.lib && unload) dlclose(c->z.lib);
#else
    (void)unload;
#endif
    if (c->statm_fd >= 0) close(c->statm_fd);
    pmos_unmap(c->buf, CAP_BUFFER);
    pmos_unmap(c, sizeof *c);
}

pmd_capture *pmd_capture_open(const char *path, unsigned frames, size_t sample_bytes,
                              uint64_t gen) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return NULL;
    pmd_capture *c = pmos_map(sizeof *c);
    unsigned char *buf = pmos_map(CAP_BUFFER);
    if (c == NULL || buf == NULL) {
        if (c) pmos_unmap(c, sizeof *c);
        if (buf) pmos_unmap(buf, CAP_BUFFER);
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    c->fd = fd;
    c->buf = buf;
    c->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    c->page_size = sysconf(_SC_PAGESIZE);
    snprintf(c->path, sizeof c->path, "%s", path);
    c->gen = gen;
    c->start_ns = now_ns();
    compressor_open(c);
    unsigned char header[PMD_CAPTURE_HEADER] = PMD_CAPTURE_MAGIC; /* and the NUL */
    header[PMD_CAPTURE_HEADER - 1] = PMD_CAPTURE_VERSION;
    write_all(c, header, sizeof header);
    write_info_number(c, "pid", (uint64_t)getpid());
    write_info_number(c, "start_unix", (uint64_t)time(NULL));
    write_info_number(c, "frames", frames);
    if (sample_bytes) write_info_number(c, "sample_bytes", sample_bytes);
    dl_iterate_phdr(write_module, c);
    if (room(c, CAP_ROOM)) put_rss(c); /* at time 0 */
    flush(c);
    if (c->failed) {
        int why = c->failed_errno;
        pmd_capture_close(c);
        errno = why;
        return NULL;
    }
    return c;
}

void pmd_capture_info_number(pmd_capture *c, const char *key, uint64_t v) {
    write_info_number(c, key, v);
}

void pmd_capture_node(pmd_capture *c, uint32_t id, uint32_t parent, uintptr_t pc) {
    if (room(c, CAP_ROOM)) {
        put_u8(c, PMD_TAG_NODE);
        put_varint(c, id);
        put_varint(c, parent);
        put_varint(c, pc);
    }
}

void pmd_capture_string(pmd_capture *c, uint32_t id, const char *text) {
    size_t len = strlen(text);
    if (len > CAP_BUFFER / 4) len = CAP_BUFFER / 4; /* a name, not a document */
    if (room(c, CAP_ROOM + len)) {
        put_u8(c, PMD_TAG_STRING);
        put_varint(c, id);
        put_bytes(c, text, len);
    }
}

void pmd_capture_location(pmd_capture *c, uint32_t id, uint32_t file, uint32_t function, int line) {
    if (room(c, CAP_ROOM)) {
        put_u8(c, PMD_TAG_LOCATION);
        put_varint(c, id);
        put_varint(c, file);
        put_varint(c, function);
        put_varint(c, line > 0 ? (uint64_t)line : 0);
    }
}

void pmd_capture_named(pmd_capture *c, uint32_t string, int what) {
    if (room(c, CAP_ROOM)) {
        stamp(c);
        put_u8(c, what == PMD_NAMED_MARK ? PMD_TAG_MARK : PMD_TAG_SECTION);
        put_varint(c, string);
        if (what != PMD_NAMED_MARK) put_u8(c, what == PMD_NAMED_BEGIN);
        maybe_flush(c);
    }
}

void pmd_capture_collection(pmd_capture *c, int gen, uint64_t pause_us, uint64_t found) {
    PM_ASSERT(gen >= 0);
    if (room(c, CAP_ROOM)) {
        stamp(c);
        put_u8(c, PMD_TAG_COLLECTION);
        put_varint(c, (uint64_t)gen);
        put_varint(c, pause_us);
        put_varint(c, found);
        maybe_flush(c);
    }
}

void pmd_capture_alloc(pmd_capture *c, const void *p, size_t n, uint32_t stack) {
    if (room(c, CAP_ROOM)) {
        stamp(c);
        put_u8(c, PMD_TAG_ALLOC);
        put_svarint(c, (int64_t)((uintptr_t)p - c->last_addr));
        put_varint(c, n);
        put_varint(c, stack);
        c->last_addr = (uintptr_t)p;
        c->allocs++;
        maybe_flush(c);
    }
}

void pmd_capture_free(pmd_capture *c, const void *p) {
    if (room(c, CAP_ROOM)) {
        stamp(c);
        put_u8(c, PMD_TAG_FREE);
        put_svarint(c, (int64_t)((uintptr_t)p - c->last_addr));
        c->last_addr = (uintptr_t)p;
        c->frees++;
        maybe_flush(c);
    }
}

/* Modules loaded since the start, the end record, all to the file. */
static void finish(pmd_capture *c) {
    if (c->closed) return;
    dl_iterate_phdr(write_module, c);
    if (room(c, CAP_ROOM)) {
        stamp(c);
        put_rss(c); /* the last sample, at the end's time */
        put_u8(c, PMD_TAG_END);
        put_varint(c, c->allocs);
        put_varint(c, c->frees);
    }
    flush(c);
    c->closed = true;
}

void pmd_capture_finish(pmd_capture *c) { finish(c); }

void pmd_capture_close(pmd_capture *c) {
    pmd_capture_finish(c);
    close(c->fd);
    release(c, true);
}

void pmd_capture_abandon(pmd_capture *c) {
    close(c->fd);
    release(c, false);
}
