/*
 * module.c -- _pymm, the built-in module through which Python code running
 * under pymm-python sees the heap that serves it: whether pymm is in charge,
 * whether an object lives in its pools, the heap's statistics, trim and the
 * consistency check; and the allocation recorder, in tracemalloc's shape
 * (start, stop, traced memory, an object's traceback, the top stacks).
 *
 * Every function runs with the GIL held, and the GIL is what serializes the
 * heap (CPython calls MEM and OBJ only under it), so reading the heap here
 * needs no further locking; for the same reason the recorder may start and
 * stop here, since no other thread can be allocating from MEM or OBJ.
 * Functions read the heap (and the recorder) completely before they create
 * Python objects, because creating them changes what they read.
 */
#include "pymm-python.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static int pymm_active(void) {
    pmpy_mode m = pmpy_current_mode();
    return m == PMPY_MODE_PYMM || m == PMPY_MODE_PYMM_DEBUG;
}

static PyObject *mod_active(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return PyBool_FromLong(pymm_active());
}

static PyObject *mod_mode(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return PyUnicode_FromString(pmpy_mode_name(pmpy_current_mode()));
}

/* An object's address is inside its block (a GC header may precede it), and
 * pm_heap_owns answers for any address inside a pool block. Large blocks
 * are not pool blocks, so objects above pool_block_max bytes answer False. */
static PyObject *mod_owns(PyObject *self, PyObject *obj) {
    (void)self;
    return PyBool_FromLong(pm_heap_owns(pmpy_heap(), obj));
}

/* For addresses that are not objects: buffers from PyMem_Malloc, or
 * pointers that ctypes got from PyObject_Malloc. */
static PyObject *mod_owns_address(PyObject *self, PyObject *addr) {
    (void)self;
    void *p = PyLong_AsVoidPtr(addr);
    if (p == NULL && PyErr_Occurred()) return NULL;
    return PyBool_FromLong(pm_heap_owns(pmpy_heap(), p));
}

static PyObject *mod_trim(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return PyLong_FromSize_t(pm_heap_trim(pmpy_heap()));
}

static PyObject *mod_check(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    char why[512];
    if (pm_heap_check(pmpy_heap(), why, sizeof why, 0) == 0) Py_RETURN_NONE;
    PyErr_Format(PyExc_RuntimeError, "pymm heap check failed: %s", why);
    return NULL;
}

/* ---- stats ------------------------------------------------------------ */

/* The keys are the library's JSON report's (pm_heap_print_stats_json), so
 * stats() and json.loads(format_stats(json=True)) agree. */

#define STAT(name)                                                                                 \
    { #name, offsetof(pm_heap_stats, name) }
static const struct {
    const char *name;
    size_t offset;
} counters[] = {
    STAT(arenas),          STAT(arenas_peak),       STAT(arenas_allocated), STAT(arenas_reclaimed),
    STAT(arenas_huge),     STAT(pools_used),        STAT(pools_empty),      STAT(pools_decommitted),
    STAT(pools_untouched), STAT(pages_decommitted), STAT(bytes_in_use),     STAT(bytes_free),
    STAT(bytes_headers),   STAT(bytes_slack),       STAT(bytes_rounding),   STAT(bytes_returned),
    STAT(large_blocks),    STAT(large_bytes),       STAT(debug_bytes),      STAT(pool_block_max),
};
#undef STAT

static int put(PyObject *dict, const char *key, PyObject *value) {
    if (value == NULL) return -1;
    int rc = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return rc;
}

static int put_u64(PyObject *dict, const char *key, uint64_t v) {
    return put(dict, key, PyLong_FromUnsignedLongLong(v));
}

static PyObject *class_dict(const pm_class_stats *c) {
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    if (put_u64(d, "size", c->block_size) < 0 || put_u64(d, "pools", c->pools) < 0 ||
        put_u64(d, "used", c->blocks_used) < 0 || put_u64(d, "free", c->blocks_free) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* Every class, small then medium, in size order. */
static PyObject *class_list(const pm_heap_stats *st) {
    Py_ssize_t n = PM_NUM_CLASSES + (Py_ssize_t)st->medium_classes;
    PyObject *list = PyList_New(n);
    if (list == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d =
            class_dict(i < PM_NUM_CLASSES ? &st->classes[i] : &st->medium[i - PM_NUM_CLASSES]);
        if (d == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, d);
    }
    return list;
}

static PyObject *stats_dict(const pm_heap_stats *st) {
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    if (put_u64(d, "arena_size", st->arena_size) < 0 || put_u64(d, "pool_size", st->pool_size) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        const char *field = (const char *)st + counters[i].offset;
        if (put_u64(d, counters[i].name, *(const uint64_t *)field) < 0) goto fail;
    }
    if (put(d, "classes", class_list(st)) < 0) goto fail;
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static PyObject *mod_stats(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    pm_heap_stats st;
    pm_heap_get_stats(pmpy_heap(), &st);
    return stats_dict(&st);
}

/* The library's own report, as PYMM_STATS would print it now. */
static PyObject *mod_format_stats(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"json", NULL};
    int json = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:format_stats", kwlist, &json)) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) return PyErr_NoMemory();
    if (json) pm_heap_print_stats_json(pmpy_heap(), f);
    else pm_heap_print_stats(pmpy_heap(), f);
    int failed = fclose(f) != 0;
    PyObject *text =
        failed ? PyErr_NoMemory() : PyUnicode_DecodeUTF8(buf, (Py_ssize_t)len, "replace");
    free(buf);
    return text;
}

/* ---- tracing ---------------------------------------------------------- */

/* The recorder traces pymm's heaps; Python's frames join its stacks only
 * when pymm serves CPython (otherwise it records none of its blocks). */
static int follow_frames(void) { return pymm_active() ? pmpy_frames_start() : 0; }

/* tracemalloc.start's shape: already tracing (PYMM_TRACE, or a start
 * before) is not an error, and keeps the frames it was started with. */
static PyObject *mod_start(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"nframe", NULL};
    int nframe = 16;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i:start", kwlist, &nframe)) return NULL;
    if (nframe < 1 || nframe > PM_TRACE_MAX_FRAMES)
        return PyErr_Format(PyExc_ValueError, "nframe must be from 1 to %d, not %d",
                            PM_TRACE_MAX_FRAMES, nframe);
    if (!pm_trace_is_tracing()) {
        pm_trace_config cfg = PM_TRACE_CONFIG_INIT;
        cfg.frames = (unsigned)nframe;
        if (pm_trace_start(&cfg) != 0) return PyErr_SetFromErrno(PyExc_OSError);
        pmpy_tables_reinstall();
    }
    if (follow_frames() < 0) {
        pm_trace_stop();
        pmpy_tables_reinstall();
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Frames first, so that no thread pushes names the recorder would keep;
 * CPython's tables at once after the stop (the wrappers are gone); the
 * code objects behind the names last. */
static PyObject *mod_stop(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    pmpy_frames_stop();
    pm_trace_stop();
    pmpy_tables_reinstall();
    pmpy_frames_release();
    Py_RETURN_NONE;
}

static PyObject *mod_is_tracing(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return PyBool_FromLong(pm_trace_is_tracing());
}

static PyObject *mod_following(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return PyBool_FromLong(pmpy_frames_following());
}

static PyObject *mod_get_traced_memory(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    size_t current, peak;
    pm_trace_get_traced_memory(&current, &peak);
    return Py_BuildValue("(nn)", (Py_ssize_t)current, (Py_ssize_t)peak);
}

static PyObject *mod_reset_peak(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    pm_trace_reset_peak();
    Py_RETURN_NONE;
}

/* (file, line, function, is_interpreter): the script's frames by name; a
 * native frame by its address in hex, since naming it takes the binaries'
 * debug information, which `pymm report` reads and this does not. */
static PyObject *frame_tuple(const void *frame) {
    pm_trace_frame f;
    if (pm_trace_frame_info(frame, &f) != 0) /* an interpreter frame it does not know */
        return Py_BuildValue("(OisO)", Py_None, 0, "?", Py_True);
    if (f.interpreter)
        return Py_BuildValue("(sisO)", f.file ? f.file : "?", f.line, f.function ? f.function : "?",
                             Py_True);
    char hex[2 + 2 * sizeof(uintptr_t) + 1];
    snprintf(hex, sizeof hex, "0x%" PRIxPTR, (uintptr_t)frame);
    return Py_BuildValue("(OisO)", Py_None, 0, hex, Py_False);
}

static PyObject *frame_list(void *const *frames, size_t n) {
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list != NULL && i < n; i++) {
        PyObject *t = frame_tuple(frames[i]);
        if (t == NULL) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

/* Where obj's block begins: before a GC object CPython puts its
 * collector's header (PyGC_Head: two words since 3.8, in an internal
 * header), and since 3.11 before that the two pointers of a managed dict
 * (and in 3.12 of managed weak references). */
static const void *object_block(PyObject *obj) {
    PyTypeObject *tp = Py_TYPE(obj);
    unsigned long preheader = 0;
#ifdef Py_TPFLAGS_MANAGED_DICT
    preheader |= Py_TPFLAGS_MANAGED_DICT;
#endif
#ifdef Py_TPFLAGS_MANAGED_WEAKREF
    preheader |= Py_TPFLAGS_MANAGED_WEAKREF;
#endif
    size_t before = PyType_IS_GC(tp) ? 2 * sizeof(uintptr_t) : 0;
    if (PyType_GetFlags(tp) & preheader) before += 2 * sizeof(PyObject *);
    return (const char *)obj - before;
}

static PyObject *mod_get_object_traceback(PyObject *self, PyObject *obj) {
    (void)self;
    void *frames[2 * PM_TRACE_MAX_FRAMES];
    size_t n = pm_trace_get_traceback(object_block(obj), frames, 2 * PM_TRACE_MAX_FRAMES);
    if (n == 0) Py_RETURN_NONE;
    return frame_list(frames, n);
}

static const char *const domain_names[] = {"raw", "mem", "obj", "pm_heap"};

static PyObject *stat_dict(const pm_trace_stat *s) {
    void *frames[2 * PM_TRACE_MAX_FRAMES];
    size_t n = pm_trace_stack_frames(s->stack, frames, 2 * PM_TRACE_MAX_FRAMES);
    int known = s->domain >= 0 && s->domain < (int)(sizeof domain_names / sizeof *domain_names);
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    if (put(d, "size", PyLong_FromSize_t(s->size)) < 0 ||
        put(d, "count", PyLong_FromSize_t(s->count)) < 0 ||
        put(d, "domain", PyUnicode_FromString(known ? domain_names[s->domain] : "?")) < 0 ||
        put(d, "frames", frame_list(frames, n)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* The stacks holding the most traced bytes now, largest first. The
 * counts are read before any object is made; a stack's frames never
 * change once it exists. */
static PyObject *mod_top(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"limit", NULL};
    Py_ssize_t limit = 10;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|n:top", kwlist, &limit)) return NULL;
    if (limit < 0) return PyErr_Format(PyExc_ValueError, "limit must not be negative");
    pm_trace_stat *top = PyMem_RawMalloc(limit ? (size_t)limit * sizeof *top : 1);
    if (top == NULL) return PyErr_NoMemory();
    size_t n = pm_trace_top(top, (size_t)limit);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list != NULL && i < n; i++) {
        PyObject *d = stat_dict(&top[i]);
        if (d == NULL) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, d);
    }
    PyMem_RawFree(top);
    return list;
}

/* ---- the module ------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"active", mod_active, METH_NOARGS,
     "active() -> bool\n\nTrue when pymm serves PyMem_Malloc and PyObject_Malloc."},
    {"mode", mod_mode, METH_NOARGS,
     "mode() -> str\n\n'pymm', 'pymm_debug' (under CPython's debug hooks), "
     "'off' (PYMM_OFF) or 'cpython' (PYTHONMALLOC=malloc*)."},
    {"owns", mod_owns, METH_O,
     "owns(obj) -> bool\n\nTrue when id(obj) lies in a pool block of pymm's heap."},
    {"owns_address", mod_owns_address, METH_O,
     "owns_address(addr) -> bool\n\nTrue when the integer address lies in a pool block."},
    {"stats", mod_stats, METH_NOARGS,
     "stats() -> dict\n\nThe heap's counters (pm_heap_stats), with 'classes'."},
    {"format_stats", (PyCFunction)(void (*)(void))mod_format_stats, METH_VARARGS | METH_KEYWORDS,
     "format_stats(json=False) -> str\n\nThe library's statistics report."},
    {"trim", mod_trim, METH_NOARGS,
     "trim() -> int\n\nGive free memory back to the OS; returns the bytes."},
    {"check", mod_check, METH_NOARGS,
     "check() -> None\n\nValidate the heap; RuntimeError names the first breach."},
    {"start", (PyCFunction)(void (*)(void))mod_start, METH_VARARGS | METH_KEYWORDS,
     "start(nframe=16) -> None\n\nStart recording every allocation with up to nframe "
     "Python and nframe C frames (1 to 64), on every thread; nothing if already tracing."},
    {"stop", mod_stop, METH_NOARGS, "stop() -> None\n\nStop recording and forget every record."},
    {"is_tracing", mod_is_tracing, METH_NOARGS, "is_tracing() -> bool"},
    {"_following", mod_following, METH_NOARGS,
     "_following() -> bool\n\nWhether Python frames are being followed for the recorder "
     "(its frame evaluation hook is installed); for tests."},
    {"get_traced_memory", mod_get_traced_memory, METH_NOARGS,
     "get_traced_memory() -> (current, peak)\n\nBytes requested by the traced live blocks, "
     "now and at their peak; (0, 0) while not tracing."},
    {"reset_peak", mod_reset_peak, METH_NOARGS,
     "reset_peak() -> None\n\nThe peak becomes the current traced bytes."},
    {"get_object_traceback", mod_get_object_traceback, METH_O,
     "get_object_traceback(obj) -> list or None\n\nThe stack that allocated obj's block, "
     "innermost first, as (file, line, function, is_interpreter) tuples (a C frame: "
     "(None, 0, hex address, False)); None when the block is not traced."},
    {"top", (PyCFunction)(void (*)(void))mod_top, METH_VARARGS | METH_KEYWORDS,
     "top(limit=10) -> list of dict\n\nThe stacks holding the most traced bytes, largest "
     "first: {'size', 'count', 'domain', 'frames'}, frames as get_object_traceback's."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_pymm",
    .m_doc = "The pymm heap under this interpreter's MEM and OBJ domains, and its "
             "allocation recorder (tracemalloc's questions; no snapshots yet).",
    .m_size = -1,
    .m_methods = methods,
};

#ifndef PYMM_PYTHON_PREFIX
#define PYMM_PYTHON_PREFIX ""
#endif
#ifndef PYMM_PYTHON_EXECUTABLE
#define PYMM_PYTHON_EXECUTABLE ""
#endif

/* What the build was configured against, so a test can tell that the
 * interpreter running is that one (sys.base_prefix) and find its python3. */
PyObject *pmpy_module_init(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddStringConstant(m, "version", PYMM_VERSION_STRING) < 0 ||
        PyModule_AddStringConstant(m, "python_prefix", PYMM_PYTHON_PREFIX) < 0 ||
        PyModule_AddStringConstant(m, "python_executable", PYMM_PYTHON_EXECUTABLE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
