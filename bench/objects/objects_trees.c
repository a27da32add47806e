/*
 * objects_trees.c -- binarytrees-D, the benchmarks-game workload, in the
 * workers pymm, malloc and boehm (the python3 version is
 * scripts/objects_trees.py, the same algorithm).
 *
 *   stretch: make a tree of depth D+1, check it, drop it;
 *   long-lived: make a tree of depth D, kept to the end;
 *   for d = 4, 6, ..., D: 2^(D-d+4) times make a tree of depth d, check it
 *   (count its nodes), drop it;
 *   check the long-lived tree.
 *
 * The sum of all node counts is the checksum every impl must print alike.
 * A node is two child pointers; leaves have none. Every impl makes a
 * node after its children, as the Python program does (Node(make(d-1),
 * make(d-1))):
 *   pymm    an instance of a user type made with pm_type_new: two
 *           reference fields (spec.nrefs = 2, CPython's __slots__: pymm
 *           traverses, clears and releases them; 32 bytes, no gc head),
 *           made by pm_object_new_refs_steal with its children; dropped
 *           with pm_decref, reference counting only. The type is frozen
 *           (PM_TPFLAGS_FROZEN: a node never changes, like the tuples of
 *           the benchmarks-game Python program), so the collector tracks
 *           no node: none can be in a cycle. `trees DEPTH mutable` makes
 *           the same type without the flag (case binarytrees-mutable-D):
 *           every node is tracked, what a mutable node costs.
 *   malloc  struct {left, right} from malloc (16 bytes), freed recursively.
 *   boehm   the same struct from GC_MALLOC, never freed: dropping a tree
 *           is forgetting its root; the collector reclaims it.
 * cpu_s is the user+system CPU time of the work (CLOCK_PROCESS_CPUTIME_ID
 * around it, every thread included), peak_rss_kb the process's VmHWM
 * afterwards.
 */
#define _GNU_SOURCE
#include "pmb_objw.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_DEPTH 4

/* ------------------------------------------------------------------------ */
/* The node of each impl: make_tree, check_tree, drop_tree                   */
/* ------------------------------------------------------------------------ */

#if defined(PMB_IMPL_PYMM)
#include "pymm.h"

typedef struct node {
    pm_object ob;
    pm_object *left, *right;
} node;

#define NODE(o) ((node *)(o))
typedef pm_object *tree;

static pm_type *node_type;

/* left and right are reference fields: pymm releases them when a node
 * dies (bounding the recursion of a deep drop by deferring), and the
 * collector reads them in place. */
static void impl_init(bool mutable_nodes) {
    pm_type_spec spec = {.name = "Node",
                         .basicsize = sizeof(node),
                         .nrefs = 2,
                         .flags = mutable_nodes ? 0 : PM_TPFLAGS_FROZEN};
    node_type = pm_type_new(&spec);
    if (!node_type) objw_die("pm_type_new: %s", pm_exc_message());
}

static void impl_fini(void) { pm_decref(PM_OBJ(node_type)); }

static PM_NOINLINE tree make_tree(int depth) {
    pm_object *children[2] = {NULL, NULL};
    if (depth > 0) {
        children[0] = make_tree(depth - 1);
        children[1] = make_tree(depth - 1);
    }
    pm_object *o = pm_object_new_refs_steal(node_type, children);
    if (!o) objw_die("pm_object_new_refs_steal: %s", pm_exc_message());
    return o;
}

static PM_NOINLINE long check_tree(tree t) {
    node *n = NODE(t);
    return n->left ? 1 + check_tree(n->left) + check_tree(n->right) : 1;
}

static void drop_tree(tree t) { pm_decref(t); }

#elif defined(PMB_IMPL_MALLOC) || defined(PMB_IMPL_BOEHM)

typedef struct node {
    struct node *left, *right;
} node;

typedef node *tree;

#if defined(PMB_IMPL_BOEHM)
#include <gc.h>
static void impl_init(bool mutable_nodes) {
    (void)mutable_nodes;
    GC_INIT();
}
static void impl_fini(void) {}
static inline node *node_alloc(void) { return GC_MALLOC(sizeof(node)); }
/* Nothing to do: the tree is garbage once its root is forgotten. */
static void drop_tree(tree t) { (void)t; }
#else
static void impl_init(bool mutable_nodes) { (void)mutable_nodes; }
static void impl_fini(void) {}
static inline node *node_alloc(void) { return malloc(sizeof(node)); }
static PM_NOINLINE void drop_tree(tree t) {
    if (t->left) {
        drop_tree(t->left);
        drop_tree(t->right);
    }
    free(t);
}
#endif

static PM_NOINLINE tree make_tree(int depth) {
    node *left = NULL, *right = NULL;
    if (depth > 0) {
        left = make_tree(depth - 1);
        right = make_tree(depth - 1);
    }
    node *n = node_alloc();
    if (!n) objw_die("out of memory");
    n->left = left;
    n->right = right;
    return n;
}

static PM_NOINLINE long check_tree(tree t) {
    return t->left ? 1 + check_tree(t->left) + check_tree(t->right) : 1;
}

#else
#error "binarytrees: impls pymm, malloc and boehm only"
#endif

/* ------------------------------------------------------------------------ */
/* The benchmark                                                            */
/* ------------------------------------------------------------------------ */

static long make_check_drop(int depth) {
    tree t = make_tree(depth);
    long n = check_tree(t);
    drop_tree(t);
    return n;
}

static long binary_trees(int max_depth) {
    long total = make_check_drop(max_depth + 1); /* the stretch tree */
    tree long_lived = make_tree(max_depth);
    for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + MIN_DEPTH);
        for (long i = 0; i < iterations; i++) total += make_check_drop(d);
    }
    total += check_tree(long_lived);
    drop_tree(long_lived);
    return total;
}

int objw_trees(int argc, char **argv) {
    bool mutable_nodes = argc == 3 && strcmp(argv[2], "mutable") == 0;
    if (argc != 2 && !mutable_nodes) objw_die("usage: trees DEPTH [mutable]");
#if !defined(PMB_IMPL_PYMM)
    if (mutable_nodes) objw_die("mutable nodes: impl pymm only");
#endif
    int depth = (int)objw_parse_long(argv[1], "depth");
    if (depth < MIN_DEPTH || depth > 26) objw_die("depth %d out of range %d..26", depth, MIN_DEPTH);
    impl_init(mutable_nodes);
    double c0 = objw_cpu_s();
    long total = binary_trees(depth);
    double cpu = objw_cpu_s() - c0;

    char name[40];
    snprintf(name, sizeof name, "binarytrees-%s%d", mutable_nodes ? "mutable-" : "", depth);
    objw_emit(name, "cpu_s", cpu, "s");
    objw_emit(name, "peak_rss_kb", (double)objw_peak_rss_kb(), "KiB");
    objw_check(name, "checksum", (double)total);
    impl_fini();
    return 0;
}
