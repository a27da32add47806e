/*
 * frames.c -- CPython's frames as the recorder's interpreter frames: while
 * pymm traces, each allocation is attributed to the Python file, line and
 * function it ran under (pm_trace_push_frame), above its C frames.
 *
 * Owns the frame evaluation hook that follows every thread's Python calls,
 * each thread's mirror of the frames it pushed, the table of code objects
 * whose names the recorder holds by pointer, and the recorder's line hook.
 *
 * Following calls: PEP 523. While tracing, the interpreter's frame
 * evaluation function is `eval`, which pushes a frame, runs CPython's own
 * evaluation, and pops it: every start of a frame and every resumption of
 * a generator or coroutine (a throw() into one too) goes through it in
 * CPython 3.11, as a C call, so an exception or a yield pops as surely as
 * a return does, on every thread, whoever started it. (A profile function
 * would do as well only by making a frame object at each call, an
 * allocation the recorder would count as the program's; and the hook
 * turns off 3.11's inlining of Python-to-Python calls, which costs those
 * calls about 15%, only while tracing.) Reading a frame's code and
 * instruction needs 3.11's internal frame layout (internal/pycore_frame.h);
 * on another version nothing is followed, and pymm-python says so.
 *
 * Frames that began before: when tracing starts mid-run, the thread's
 * frames then running were not entered through `eval` and will return
 * without it. Such frames are adopted: read from the thread's frame chain
 * (ts->cframe->current_frame, ->previous) and pushed, marked as not
 * hooked; one leaves the mirror when it is found to be no longer the
 * running frame (drop_stale, at the next frame entry or allocation).
 *
 * Lines, lazily. A frame's line changes with every instruction, but only
 * the innermost frame's can change while the recorder could read it: a
 * caller's line is set when it calls, and the innermost's by the line hook
 * just before the recorder reads the thread's frames for an allocation.
 * Each thread caches line numbers by instruction address.
 *
 * Invariants:
 *   F1 (balance) frames[0..depth) are the thread's frames outermost first;
 *      a hooked one was pushed by an `eval` call still running on this
 *      thread and is popped by it; frames[0..lib_depth) are on the
 *      recorder, at the same depths, with names interned at start `gen`.
 *   F2 the recorder keeps file and function by pointer: they are the UTF-8
 *      of code objects that `codes` holds until after pm_trace_stop. A
 *      thread whose names are from an earlier start (gen) has them taken
 *      off the recorder before it can read them (line_hook) and pushed
 *      again, renamed, at its next frame entry (resync).
 *   F3 everything here runs with the GIL held; the line hook runs inside
 *      an allocation on the allocating thread, which under CPython's MEM
 *      and OBJ domains holds the GIL too. The line hook never allocates or
 *      takes a lock: it reads its thread's mirror, frames and line cache,
 *      pops, and sets a line.
 *   F4 a mirrored frame below the thread's running frame is alive (its
 *      callee runs), so its interpreter frame may be read; the top one is
 *      read only once it is known to be the running frame.
 */
#include <patchlevel.h>
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define PF_FOLLOW 1
#define Py_BUILD_CORE 1 /* for internal/pycore_frame.h */
#endif

#include "pymm-python.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef PF_FOLLOW
#include <internal/pycore_frame.h>

#include <pthread.h>

/* The recorder keeps a thread's innermost 128 frames in a ring; popping
 * back below those it overwrote leaves it without them (pymm.h,
 * pm_trace_push_frame). The mirror keeps them all and pushes them again
 * when fewer than PM_TRACE_MAX_FRAMES of the innermost are left. */
#define PF_LIB_KEPT 128
#define PF_LINE_CACHE 256 /* line numbers a thread caches, by instruction */

/* ---- code objects (F2) -------------------------------------------------- */

typedef struct pf_code {
    PyCodeObject *code; /* a strong reference; NULL: an empty slot */
    const char *file, *function;
} pf_code;

/* An open hash by code object address, in the C library's memory, which
 * the recorder does not see. */
static struct {
    pf_code *slot;
    size_t cap, used;
} codes;

static pf_code *code_slot(pf_code *table, size_t cap, const PyCodeObject *code) {
    size_t i = (size_t)(((uintptr_t)code >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
    while (table[i].code != NULL && table[i].code != code) i = (i + 1) & (cap - 1);
    return &table[i];
}

static bool codes_grow(void) {
    size_t cap = codes.cap ? codes.cap * 2 : 1024;
    pf_code *t = calloc(cap, sizeof *t);
    if (t == NULL) return false;
    for (size_t i = 0; i < codes.cap; i++)
        if (codes.slot[i].code) *code_slot(t, cap, codes.slot[i].code) = codes.slot[i];
    free(codes.slot);
    codes.slot = t;
    codes.cap = cap;
    return true;
}

static const char *utf8_or(PyObject *name, const char *fallback) {
    const char *s = name ? PyUnicode_AsUTF8(name) : NULL;
    return s ? s : fallback;
}

/* The names of code, kept alive from now on; NULL when out of memory. An
 * exception in flight stays: a generator's frame entered by throw() comes
 * with the thrown one set. */
static const pf_code *code_names(PyCodeObject *code) {
    if (codes.cap) {
        pf_code *c = code_slot(codes.slot, codes.cap, code);
        if (c->code) return c;
    }
    if ((codes.used + 1) * 2 > codes.cap && !codes_grow()) return NULL;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    pf_code *c = code_slot(codes.slot, codes.cap, code);
    *c = (pf_code){code, utf8_or(code->co_filename, "<unnamed file>"),
                   utf8_or(code->co_qualname, "<unnamed function>")};
    PyErr_Restore(type, value, tb);
    Py_INCREF(code);
    codes.used++;
    return c;
}

static void codes_release(void) {
    pf_code *t = codes.slot;
    size_t cap = codes.cap;
    codes.slot = NULL;
    codes.cap = codes.used = 0;
    for (size_t i = 0; i < cap; i++) Py_XDECREF(t[i].code);
    free(t);
}

/* ---- a thread's mirror (F1) -------------------------------------------- */

typedef struct pf_frame {
    _PyInterpreterFrame *iframe;
    const char *file, *function;
    bool hooked; /* pushed by a running eval(), which pops it */
} pf_frame;

typedef struct pf_line {
    const _Py_CODEUNIT *instr;
    int line;
    unsigned gen;
} pf_line;

typedef struct pf_thread {
    pf_frame *frames; /* [cap], the C library's memory */
    unsigned depth, cap;
    unsigned lib_depth; /* frames[0..lib_depth) are on the recorder */
    unsigned lib_low;   /* the recorder's ring: depths below it are overwritten */
    unsigned gen;       /* the start whose names the recorder has */
    bool keyed;         /* frames is freed at the thread's exit */
    pf_line lines[PF_LINE_CACHE];
} pf_thread;

static _Thread_local pf_thread pf_self;
static pthread_key_t pf_key;
static pthread_once_t pf_key_once = PTHREAD_ONCE_INIT;

static bool following;              /* between pmpy_frames_start and _stop */
static unsigned pf_gen;             /* starts so far */
static _PyFrameEvalFunction pf_run; /* the evaluation eval() wraps: CPython's */

static void thread_exit(void *arg) {
    pf_thread *t = arg;
    free(t->frames);
    t->frames = NULL;
    t->cap = t->depth = t->lib_depth = 0;
}

static void make_key(void) { (void)pthread_key_create(&pf_key, thread_exit); }

/* The thread's frames array is its own from now on: freed at its exit. */
static void own(pf_thread *t, pf_frame *frames, unsigned cap) {
    t->frames = frames;
    t->cap = cap;
    if (!t->keyed) {
        pthread_once(&pf_key_once, make_key);
        t->keyed = pthread_setspecific(pf_key, t) == 0;
    }
}

/* frames, with room for n; NULL when out of memory. */
static pf_frame *reserve(pf_thread *t, unsigned n) {
    if (n <= t->cap) return t->frames;
    unsigned cap = t->cap ? t->cap : 64;
    while (cap < n) cap *= 2;
    pf_frame *f = realloc(t->frames, cap * sizeof *f);
    if (f) own(t, f, cap);
    return f;
}

/* The line iframe is at, from its instruction (cached: a site runs often).
 * Its code is held (F2) while the cache entry's start is the current one. */
static int line_of(pf_thread *t, const _PyInterpreterFrame *iframe) {
    const _Py_CODEUNIT *instr = iframe->prev_instr;
    pf_line *c = &t->lines[((uintptr_t)instr >> 1) % PF_LINE_CACHE];
    if (c->instr != instr || c->gen != pf_gen) {
        int offset = _PyInterpreterFrame_LASTI(iframe) * (int)sizeof(*instr);
        *c = (pf_line){instr, PyCode_Addr2Line(iframe->f_code, offset), pf_gen};
    }
    return c->line;
}

/* frames[lib_depth] onto the recorder, keeping the recorder's ring rule
 * alongside (what it overwrites, and what a push below that makes whole). */
static void lib_push(pf_thread *t, int line) {
    unsigned d = t->lib_depth++;
    pm_trace_push_frame(t->frames[d].file, t->frames[d].function, line);
    if (d >= PF_LIB_KEPT && d - PF_LIB_KEPT + 1 > t->lib_low) t->lib_low = d - PF_LIB_KEPT + 1;
    else if (d < t->lib_low) t->lib_low = d;
}

static void lib_pop_all(pf_thread *t) {
    for (; t->lib_depth > 0; t->lib_depth--) pm_trace_pop_frame();
    t->lib_low = 0;
}

/* The mirror's frames the recorder lacks, each at its line now (a caller's:
 * its call). F4: all are alive. */
static void publish(pf_thread *t) {
    while (t->lib_depth < t->depth) lib_push(t, line_of(t, t->frames[t->lib_depth].iframe));
}

static void pop_top(pf_thread *t) {
    if (--t->depth < t->lib_depth) {
        t->lib_depth--;
        pm_trace_pop_frame();
        if (t->lib_depth == 0) t->lib_low = 0;
    }
}

/* After returning from deeper than the recorder keeps: it has fewer than
 * PM_TRACE_MAX_FRAMES of the innermost frames left, so all go again. */
static void refill_if_short(pf_thread *t) {
    unsigned want = t->depth < PM_TRACE_MAX_FRAMES ? t->depth : PM_TRACE_MAX_FRAMES;
    if (t->lib_low == 0 || t->lib_depth != t->depth || t->depth - t->lib_low >= want) return;
    lib_pop_all(t);
    publish(t);
}

/* Adopted frames that are no longer the running one have returned (only
 * the top can have: the others' callees still run). No allocation. */
static void drop_stale(pf_thread *t, const _PyInterpreterFrame *running) {
    while (t->depth > 0 && !t->frames[t->depth - 1].hooked &&
           t->frames[t->depth - 1].iframe != running)
        pop_top(t);
}

static const _PyInterpreterFrame *complete(const _PyInterpreterFrame *f) {
    while (f != NULL && _PyFrame_IsIncomplete((_PyInterpreterFrame *)f)) f = f->previous;
    return f;
}

/* ---- resync: the mirror made again from the thread's frame chain -------- */

/* A new mirror: the chain from `running` outwards (incomplete frames, not
 * started yet, left out, as CPython's own walks do), outermost first, the
 * old mirror's hooked frames marked again where they are, all named under
 * this start. The old hooked frames are running (F1), so all are in the
 * chain; any that is not (never so far) stays, on top, for balance. */
static bool rebuild(pf_thread *t, const _PyInterpreterFrame *running) {
    unsigned n = 0, hooked = 0;
    for (const _PyInterpreterFrame *f = complete(running); f; f = complete(f->previous)) n++;
    for (unsigned i = 0; i < t->depth; i++) hooked += t->frames[i].hooked;
    pf_frame *fresh = malloc((n + hooked + 1) * sizeof *fresh);
    if (fresh == NULL) return false;
    unsigned k = n;
    for (const _PyInterpreterFrame *f = complete(running); f; f = complete(f->previous))
        fresh[--k] = (pf_frame){(_PyInterpreterFrame *)f, NULL, NULL, false};
    unsigned h = 0; /* the old hooked frames, outermost first, matched in order */
    for (unsigned i = 0; i < n; i++) {
        while (h < t->depth && !t->frames[h].hooked) h++;
        if (h < t->depth && t->frames[h].iframe == fresh[i].iframe) {
            fresh[i].hooked = true;
            h++;
        }
    }
    for (; h < t->depth; h++)
        if (t->frames[h].hooked) fresh[n++] = t->frames[h];
    free(t->frames);
    own(t, fresh, n + hooked + 1);
    t->depth = n;
    return true;
}

/* The thread's frames on the recorder again, from its frame chain: at the
 * start of tracing, at a thread's first frame entry since, or when the
 * mirror lost track. Not inside an allocation: it allocates. */
static void resync(pf_thread *t, const _PyInterpreterFrame *running) {
    lib_pop_all(t); /* from here on the line hook is not called */
    t->gen = pf_gen;
    if (!rebuild(t, running)) return;
    for (unsigned i = 0; i < t->depth; i++) {
        const pf_code *c = code_names(t->frames[i].iframe->f_code);
        if (c == NULL) { /* out of memory: this and the frames inside it go */
            while (t->depth > i && !t->frames[t->depth - 1].hooked) t->depth--;
            if (t->depth > i) return; /* a hooked one is nameless: no frames */
            break;
        }
        t->frames[i].file = c->file;
        t->frames[i].function = c->function;
    }
    publish(t);
}

/* ---- following ------------------------------------------------------------ */

/* A frame starts or resumes: it is pushed, its caller's line being its
 * call from now until it is gone. False when it could not be. */
static bool enter(pf_thread *t, PyThreadState *ts, _PyInterpreterFrame *f) {
    const _PyInterpreterFrame *running = ts->cframe->current_frame;
    drop_stale(t, running);
    bool same = t->depth ? t->frames[t->depth - 1].iframe == running : complete(running) == NULL;
    if (!same || t->gen != pf_gen || t->lib_depth != t->depth) resync(t, running);
    const pf_code *c = code_names(f->f_code); /* may allocate: the mirror is whole */
    if (c == NULL || t->lib_depth != t->depth || reserve(t, t->depth + 1) == NULL) return false;
    if (t->depth > 0) pm_trace_set_line(line_of(t, t->frames[t->depth - 1].iframe));
    t->frames[t->depth++] = (pf_frame){f, c->file, c->function, true};
    lib_push(t, f->f_code->co_firstlineno);
    return true;
}

/* f returns, yields or raises: adopted frames above it went with its
 * callees, and it goes. */
static void leave(pf_thread *t, const _PyInterpreterFrame *f) {
    while (t->depth > 0 && !t->frames[t->depth - 1].hooked) pop_top(t);
    if (t->depth > 0 && t->frames[t->depth - 1].iframe == f) pop_top(t);
    if (following) refill_if_short(t);
}

static PyObject *eval(PyThreadState *ts, _PyInterpreterFrame *f, int throwflag) {
    pf_thread *t = &pf_self;
    bool pushed = following && enter(t, ts, f);
    PyObject *r = pf_run(ts, f, throwflag);
    if (pushed) leave(t, f);
    return r;
}

/* ---- the line hook (F3) ----------------------------------------------------- */

static void line_hook(void *arg) {
    (void)arg;
    pf_thread *t = &pf_self;
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    if (ts == NULL || t->gen != pf_gen) { /* names of a former start (F2) */
        lib_pop_all(t);
        return;
    }
    const _PyInterpreterFrame *running = ts->cframe->current_frame;
    drop_stale(t, running);
    if (t->lib_depth > 0 && t->lib_depth == t->depth && t->frames[t->depth - 1].iframe == running)
        pm_trace_set_line(line_of(t, running));
}

/* ---- threads that were running --------------------------------------------- */

/* Another thread's profile function from the start of tracing until its
 * first event: it adopts that thread's running frames and goes. (A thread
 * only gets to the line hook once it has frames on the recorder, and the
 * start cannot push them for it: they are per thread.) The frame object
 * CPython makes for that one event is the only one. */
static int adopt_profile(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg) {
    (void)obj, (void)frame, (void)what, (void)arg;
    PyThreadState *ts = PyThreadState_Get();
    PyEval_SetProfile(NULL, NULL);
    if (following) resync(&pf_self, ts->cframe->current_frame);
    return 0;
}

/* Each other thread of the interpreter that has no profile or trace
 * function gets adopt_profile (install), or loses it (not install). A
 * thread that threading starts makes its state in the starting thread,
 * under the GIL, so the list does not change during the walk. */
static void other_threads(PyThreadState *me, bool install) {
    PyInterpreterState *interp = PyThreadState_GetInterpreter(me);
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts;
         ts = PyThreadState_Next(ts)) {
        if (ts == me) continue;
        Py_tracefunc want = install ? adopt_profile : NULL;
        bool idle = ts->c_profilefunc == NULL && ts->c_tracefunc == NULL;
        if ((install ? idle : ts->c_profilefunc == adopt_profile) &&
            _PyEval_SetProfile(ts, want, NULL) < 0)
            PyErr_Clear();
    }
}

/* ---- start and stop --------------------------------------------------------- */

int pmpy_frames_start(void) {
    if (following) return 0;
    PyThreadState *ts = PyThreadState_Get();
    PyInterpreterState *interp = PyThreadState_GetInterpreter(ts);
    pf_run = _PyInterpreterState_GetEvalFrameFunc(interp); /* another tool's, or CPython's */
    pf_gen++;
    following = true;
    pm_trace_set_line_hook(line_hook, NULL);
    _PyInterpreterState_SetEvalFrameFunc(interp, eval);
    other_threads(ts, true);
    resync(&pf_self, ts->cframe->current_frame);
    return 0;
}

void pmpy_frames_stop(void) {
    if (!following) return;
    following = false;
    PyThreadState *ts = PyThreadState_Get();
    PyInterpreterState *interp = PyThreadState_GetInterpreter(ts);
    other_threads(ts, false);
    if (_PyInterpreterState_GetEvalFrameFunc(interp) == eval)
        _PyInterpreterState_SetEvalFrameFunc(interp, pf_run);
    pm_trace_set_line_hook(NULL, NULL);
    lib_pop_all(&pf_self);
}

int pmpy_frames_following(void) { return following; }

/* The frames still mirrored keep pointers to these names, but renames
 * them before the recorder of a next start can read them (F2). */
void pmpy_frames_release(void) {
    if (!following) codes_release();
}

#else /* not CPython 3.11: the recorder gets C frames only */

int pmpy_frames_start(void) {
    static bool said;
    if (!said)
        fprintf(stderr,
                "pymm-python: Python frames are recorded on CPython 3.11 only (this is "
                "%s); allocations keep their C stacks\n",
                PY_VERSION);
    said = true;
    return 0;
}

void pmpy_frames_stop(void) {}
void pmpy_frames_release(void) {}
int pmpy_frames_following(void) { return 0; }

#endif
