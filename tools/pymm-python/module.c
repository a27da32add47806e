/*
 * module.c -- _pymm, the built-in module through which Python code running
 * under pymm-python sees the heap that serves it: whether pymm is in charge,
 * whether an object lives in its pools, the heap's statistics, trim and the
 * consistency check.
 *
 * Every function runs with the GIL held, and the GIL is what serializes the
 * heap (CPython calls MEM and OBJ only under it), so reading the heap here
 * needs no further locking. Functions read the heap completely before they
 * create Python objects, because creating them changes the heap.
 */
#include "pymm-python.h"

#include <stddef.h>
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

static PyObject *mod_is_tracing(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return PyBool_FromLong(pm_trace_is_tracing());
}

static PyObject *mod_following(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return PyBool_FromLong(pmpy_frames_following());
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
    {"is_tracing", mod_is_tracing, METH_NOARGS, "is_tracing() -> bool"},
    {"_following", mod_following, METH_NOARGS,
     "_following() -> bool\n\nWhether Python frames are being followed for the recorder "
     "(its frame evaluation hook is installed); for tests."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_pymm",
    .m_doc = "The pymm heap under this interpreter's MEM and OBJ domains.",
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
