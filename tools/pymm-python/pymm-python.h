/*
 * pymm-python.h -- what the parts of pymm-python share: the start-up
 * code (main.c) decides once, before the interpreter runs, whether pymm
 * serves CPython's MEM and OBJ domains; the built-in module _pymm (module.c)
 * reports that decision, looks at the heap and drives the recorder; the
 * frame follower (frames.c) gives the recorder CPython's frames.
 */
#ifndef PYMM_PYTHON_H
#define PYMM_PYTHON_H

#include <Python.h>

#include "pymm.h"

/* Who serves PyMem_Malloc and PyObject_Malloc in this process. */
typedef enum pmpy_mode {
    PMPY_MODE_PYMM,       /* pymm                                            */
    PMPY_MODE_PYMM_DEBUG, /* pymm under CPython's debug hooks (PYTHONMALLOC=
                             debug or pymalloc_debug, -X dev)                */
    PMPY_MODE_OFF,        /* CPython's own allocator: PYMM_OFF was set       */
    PMPY_MODE_CPYTHON     /* CPython's own allocator: PYTHONMALLOC asked for
                             malloc or malloc_debug, which pymm cannot be    */
} pmpy_mode;

/* The heap behind the MEM and OBJ domains (the default heap, idle when the
 * mode is not one of the PYMM ones). */
pm_heap *pmpy_heap(void);
pmpy_mode pmpy_current_mode(void);
/* Gives CPython the heap's tables again, after pm_trace_start or
 * pm_trace_stop changed them (main.c). With the GIL held. */
void pmpy_tables_reinstall(void);
const char *pmpy_mode_name(pmpy_mode m);

/* Python frames for the recorder, on every thread of the interpreter
 * (frames.c). With the GIL held. start: from now on each traced allocation
 * is attributed to the Python frames it ran under as well; 0, or -1 with
 * a Python exception. stop: no more frames (before pm_trace_stop);
 * release: after pm_trace_stop, the code objects whose names the recorder
 * held go. following: whether frames are followed now (CPython 3.11 only). */
int pmpy_frames_start(void);
void pmpy_frames_stop(void);
void pmpy_frames_release(void);
int pmpy_frames_following(void);

/* Initializer of the built-in module _pymm, for PyImport_AppendInittab. */
PyObject *pmpy_module_init(void);

#endif /* PYMM_PYTHON_H */
