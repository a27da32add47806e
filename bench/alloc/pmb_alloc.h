/*
 * pmb_alloc.h -- state shared by the parts of the `alloc` suite:
 *   alloc_suite.c   options, the allocator workers, callgrind
 *   alloc_python.c  the py-NAME cases (pymm-python vs CPython)
 *   alloc_table.c   the Markdown report
 */
#ifndef PMB_ALLOC_SUITE_H
#define PMB_ALLOC_SUITE_H

#include <limits.h>

#include "pmb_report.h"
#include "pmb_suites.h"

/* The allocators of cases (a)-(d), in report column order. */
enum { PMB_PYMM, PMB_GLIBC, PMB_MIMALLOC, PMB_JEMALLOC, PMB_PYMALLOC, PMB_NUM_ALLOCATORS };
extern const char *const pmb_allocator_names[PMB_NUM_ALLOCATORS];

/* The drop-in runs (issue 17): the glibc worker, unchanged, with each
 * allocator's malloc-replacing library in LD_PRELOAD; glibc's own column
 * is the plain glibc worker's. In report column order. */
enum { PMB_DROPIN_PYMM, PMB_DROPIN_MIMALLOC, PMB_DROPIN_JEMALLOC, PMB_NUM_DROPINS };
extern const char *const pmb_dropin_names[PMB_NUM_DROPINS];

/* The impls of the py cases, in report column order. "pymalloc" there is
 * pymm-python with PYMM_OFF=1: CPython's own allocator in the same binary. */
enum { PMB_PY_PYMM, PMB_PY_OFF, PMB_PY_PYTHON3, PMB_NUM_PY_IMPLS };
extern const char *const pmb_py_impl_names[PMB_NUM_PY_IMPLS];

#define PMB_NUM_CLASSES 32
#define PMB_CLASS_STEP 16
#define PMB_NUM_SCRIPTS 4
extern const char *const pmb_py_scripts[PMB_NUM_SCRIPTS];

typedef struct alloc_ctx {
    pmb_options opt;
    char self_dir[PATH_MAX];    /* of the pymm command: pymm-python       */
    char workers_dir[PATH_MAX]; /* pmb_workers_dir                        */
    int rounds;                 /* interleaved rounds of the timed cases  */
    pmb_records recs;
    pmb_notes notes;
} alloc_ctx;

/* alloc_python.c: runs the py cases (or notes why not). */
void pmb_alloc_python(alloc_ctx *cx);
/* alloc_table.c: prints the report on stdout. */
void pmb_alloc_print(const alloc_ctx *cx, double elapsed_s);

#endif /* PMB_ALLOC_SUITE_H */
