/*
 * main.c -- pymm-python: the python3 this tree was configured with, with pymm
 * in place of pymalloc under CPython's MEM and OBJ domains.
 *
 * Owns the start-up order, which is the whole difficulty. A block must go back
 * to the allocator that gave it, so pymm has to own the MEM and OBJ domains
 * from their first allocation to the process's exit:
 *
 *   1. install pymm's tables (unless PYMM_OFF) before anything allocates;
 *   2. pre-initialize CPython from argv. That reads PYTHONMALLOC, -X dev, -E
 *      and -I, and may replace the tables -- but it does so before it has
 *      allocated anything from MEM or OBJ, so no block crosses allocators
 *      (settle() verifies that pymm served nothing in the meantime);
 *   3. settle: where CPython replaced the tables, put pymm back if the
 *      request can be met with pymm;
 *   4. initialize and run exactly as python3 does (Py_RunMain): script, -c,
 *      -m, stdin and the interactive prompt, with python3's exit codes; under
 *      PYMM_TRACE the interpreter's frames join the recorded stacks in
 *      between (frames.c).
 *
 * PYTHONMALLOC (and -X dev) when PYMM_OFF is not set:
 *   unset, default, pymalloc       -> pymm
 *   debug, pymalloc_debug, -X dev  -> pymm under CPython's debug hooks
 *   malloc, malloc_debug           -> CPython's choice stands, pymm idle
 * pymm stands in for pymalloc, so asking for pymalloc gets pymm; asking for
 * malloc is asking for no pool allocator at all, so it is honoured.
 *
 * PYMM_OFF (any value but "" and "0") leaves CPython entirely alone, so the
 * same binary measures CPython by itself. PYMM_STATS is the library's: it
 * reports the default heap, which is the heap used here.
 *
 * sys.executable is this binary (CPython derives it from argv[0] as for
 * python3), so subprocesses the program starts run under pymm too.
 */
#include "pymm-python.h"

#include <stdlib.h>
#include <string.h>

static struct {
    pm_heap *heap;
    pmpy_mode mode;
    PyMemAllocatorEx mem, obj; /* the tables pymm installs */
} S;

/* ---- the tables ------------------------------------------------------- */

/* pm_allocator and PyMemAllocatorEx have the same shape (a context and four
 * functions of the same types), so the heap's own MEM and OBJ tables go into
 * CPython unchanged: by default the pool allocator with ctx = the heap, one
 * call per request; under PYMM_MALLOC=debug the library's hooks, which then
 * see every call and can tell PyMem_Free of an object from PyObject_Free of
 * a buffer. */
static PyMemAllocatorEx heap_table(pm_heap *h, pm_domain d) {
    pm_allocator a;
    pm_heap_get_allocator(h, d, &a);
    PyMemAllocatorEx t = {a.ctx, a.malloc, a.calloc, a.realloc, a.free};
    return t;
}

static void build_tables(pm_heap *h) {
    S.mem = heap_table(h, PM_DOMAIN_MEM);
    S.obj = heap_table(h, PM_DOMAIN_OBJ);
}

static void install(void) {
    PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &S.mem);
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &S.obj);
}

static int is_installed(PyMemAllocatorDomain d, const PyMemAllocatorEx *ours) {
    PyMemAllocatorEx cur;
    PyMem_GetAllocator(d, &cur);
    return cur.ctx == ours->ctx && cur.malloc == ours->malloc;
}

/* ---- the decision ----------------------------------------------------- */

static int env_flag(const char *name) {
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static void die(const char *msg) {
    fprintf(stderr, "pymm-python: %s\n", msg);
    abort();
}

static int heap_is_idle(const pm_heap *h) {
    pm_heap_stats st;
    pm_heap_get_stats(h, &st);
    return st.bytes_in_use == 0 && st.large_blocks == 0;
}

/* Step 1. The heap is created (and reads its own PYMM_* settings) here,
 * before CPython exists. */
static void start(void) {
    S.heap = pm_heap_default();
    if (env_flag("PYMM_OFF")) {
        S.mode = PMPY_MODE_OFF;
        return;
    }
    build_tables(S.heap);
    install();
    S.mode = PMPY_MODE_PYMM;
}

/* Step 2: the same pre-configuration Py_BytesMain would make. */
static void preinitialize(int argc, char **argv) {
    PyPreConfig pre;
    PyPreConfig_InitPythonConfig(&pre);
    PyStatus st = Py_PreInitializeFromBytesArgs(&pre, argc, argv);
    if (PyStatus_Exception(st)) Py_ExitStatusException(st);
}

/* Step 3. If the pre-configuration replaced the tables (PYTHONMALLOC, dev
 * mode), it did so before allocating from them; an idle heap proves that
 * pymm handed out nothing CPython's allocator would now be asked to free.
 * The name CPython gives its choice (a CPython-specific but exported call)
 * then says whether pymm can meet it. */
static void settle(void) {
    if (S.mode == PMPY_MODE_OFF) return;
    int mem = is_installed(PYMEM_DOMAIN_MEM, &S.mem);
    int obj = is_installed(PYMEM_DOMAIN_OBJ, &S.obj);
    if (mem && obj) return;
    if (!heap_is_idle(S.heap)) die("CPython replaced the allocator after pymm had served blocks");
    const char *name = _PyMem_GetCurrentAllocatorName();
    if (name != NULL && strcmp(name, "pymalloc") == 0) {
        install();
    } else if (name != NULL && strcmp(name, "pymalloc_debug") == 0) {
        install();
        PyMem_SetupDebugHooks(); /* hooks MEM and OBJ; RAW already is */
        S.mode = PMPY_MODE_PYMM_DEBUG;
    } else {
        S.mode = PMPY_MODE_CPYTHON;
    }
}

/* PYMM_TRACE started the recorder before main(): from the program's first
 * line on, its Python frames join the stacks. Not when CPython's own
 * allocator serves, since the recorder sees none of its blocks then. */
static void trace_frames(void) {
    if (!pm_trace_is_tracing() || S.mode == PMPY_MODE_OFF || S.mode == PMPY_MODE_CPYTHON) return;
    if (pmpy_frames_start() == 0) return;
    fprintf(stderr, "pymm-python: PYMM_TRACE: Python frames are not recorded:\n");
    PyErr_Print();
}

/* Step 4. argv is parsed again by PyConfig, as in Py_BytesMain. No home or
 * prefix is set: finding no landmark beside this binary, CPython falls back
 * to the prefix libpython was built for, which is python3's; setting home
 * would also override PYTHONHOME, which python3 honours. */
static int run(int argc, char **argv) {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    PyStatus st = PyConfig_SetBytesArgv(&config, argc, argv);
    if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) Py_ExitStatusException(st); /* also the clean exit of --version */
    trace_frames();
    return Py_RunMain();
}

/* ---- shared with module.c --------------------------------------------- */

/* CPython holds copies of the heap's tables, and pm_trace_start and
 * pm_trace_stop replace those (with the recorder's wrappers, and back; the
 * stop frees the wrappers). So after either, CPython is given the heap's
 * tables again: else it would bypass the recorder, or call a wrapper that
 * is gone. With the GIL held, so nothing allocates in between; blocks
 * cross over freely, since a wrapper frees through the table it wraps. */
void pmpy_tables_reinstall(void) {
    if (S.mode != PMPY_MODE_PYMM && S.mode != PMPY_MODE_PYMM_DEBUG) return;
    build_tables(S.heap);
    install();
    if (S.mode == PMPY_MODE_PYMM_DEBUG) PyMem_SetupDebugHooks(); /* on top again */
}

pm_heap *pmpy_heap(void) { return S.heap; }

pmpy_mode pmpy_current_mode(void) { return S.mode; }

const char *pmpy_mode_name(pmpy_mode m) {
    switch (m) {
        case PMPY_MODE_PYMM: return "pymm";
        case PMPY_MODE_PYMM_DEBUG: return "pymm_debug";
        case PMPY_MODE_OFF: return "off";
        case PMPY_MODE_CPYTHON: return "cpython";
    }
    return "?";
}

int main(int argc, char **argv) {
    start();
    if (PyImport_AppendInittab("_pymm", pmpy_module_init) < 0)
        die("cannot register the _pymm module");
    preinitialize(argc, argv);
    settle();
    return run(argc, argv);
}
