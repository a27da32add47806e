/*
 * pmb_objects.h -- state shared by the parts of the `objects` suite:
 *   objects_suite.c    options, running the workers and scripts per case
 *   objects_jsongen.c  the generated JSON documents (json-gen-*)
 *   objects_table.c    the Markdown report
 * The worker processes have their own header, pmb_objw.h.
 */
#ifndef PMB_OBJECTS_H
#define PMB_OBJECTS_H

#include <limits.h>

#include "pmb_report.h"
#include "pmb_suites.h"

/* Every impl of the suite, in report column order within each table. */
enum {
    PMB_O_PYMM,
    PMB_O_MALLOC,
    PMB_O_BOEHM,
    PMB_O_PYTHON3,
    PMB_O_JANSSON,
    PMB_O_CJSON,
    PMB_O_CPYTHON,
    PMB_O_NUM_IMPLS
};
extern const char *const pmb_o_impl_names[PMB_O_NUM_IMPLS];

/* The impls of each workload, pymm first, -1 ended. */
extern const int pmb_o_trees_impls[];
extern const int pmb_o_json_impls[];
extern const int pmb_o_dict_impls[];

#define PMB_O_MAX_JSON 8 /* generated documents plus corpora */

typedef struct objects_ctx {
    pmb_options opt;
    char workers_dir[PATH_MAX]; /* pmb_workers_dir */
    char tmpdir[PATH_MAX];      /* the generated documents; "" if none  */
    /* Sizes of the run (full or --quick). */
    int depth_min, depth_max; /* binarytrees-D for D in this range     */
    int tree_rounds;          /* rounds of processes per (impl, depth)  */
    int json_rounds;          /* rounds of processes per (impl, document) */
    int json_runs;            /* timed loads per process (median)      */
    long dict_keys;
    int dict_reps;   /* repetitions per process (median)      */
    int dict_rounds; /* rounds of processes per impl          */
    /* The impls found: executable (worker, or the python3 interpreter). */
    int have[PMB_O_NUM_IMPLS];
    char exe[PMB_O_NUM_IMPLS][PATH_MAX];
    /* The JSON cases, in report order. */
    int njson;
    char json_case[PMB_O_MAX_JSON][48];
    char json_file[PMB_O_MAX_JSON][PATH_MAX];
    long json_bytes[PMB_O_MAX_JSON];
    pmb_records recs;   /* the measurements (the JSON output)             */
    pmb_records checks; /* checksums and value counts, compared per case  */
    pmb_notes notes;
} objects_ctx;

/* python3's rounds of binary-trees at depth d (it is 30-40x slower than
 * pymm): at most PMB_O_PY_TREE_ROUNDS, and one at PMB_O_PY_DEEP and deeper. */
#define PMB_O_PY_TREE_ROUNDS 3
#define PMB_O_PY_DEEP 19
int pmb_o_python3_tree_rounds(const objects_ctx *cx, int depth);

/* objects_jsongen.c: the generated documents, 0 <= i < PMB_NUM_GEN_DOCS.
 * pmb_gen_doc_write writes document i to path (a quarter of its size under
 * --quick) and returns its size in bytes, or -1. */
#define PMB_NUM_GEN_DOCS 3
const char *pmb_gen_doc_name(int i);
long pmb_gen_doc_write(int i, const char *path, int quick);

/* objects_table.c: prints the report on stdout. */
void pmb_objects_print(const objects_ctx *cx, double elapsed_s);

#endif /* PMB_OBJECTS_H */
