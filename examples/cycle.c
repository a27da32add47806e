/*
 * cycle.c -- a client of the public API (pymm.h only): a user type of
 * graph nodes, a ring of nodes that reference counting cannot free, and
 * the cycle collector freeing it.
 *
 * Each node holds one reference field (`next`) and a PEP 442 finalizer
 * that counts its calls; a weak reference with a callback watches one
 * node. Dropping the last outside reference leaves the ring alive (each
 * node is referenced by the one before it); pm_gc_collect finds it
 * unreachable, runs every finalizer once, clears the weak reference (its
 * callback runs: the weak reference itself is not garbage) and frees the
 * nodes. The program checks each of these steps and exits 0 only if all
 * hold, so CTest runs it as a test (examples/CMakeLists.txt).
 *
 * Build it by hand against an installed pymm:
 *   cc cycle.c $(pkg-config --cflags --libs pymm) -o cycle
 */
#include <pymm.h>

#include <stdio.h>
#include <stdlib.h>

#define RING 1000

static int finalized; /* finalizer calls          */
static int callbacks; /* weak-reference callbacks */

/* A node: the object header, then its reference fields (nrefs = 1). */
typedef struct node {
    pm_object ob;
    pm_object *next; /* owned; freed by pymm (a reference field) */
} node;

static void node_finalize(pm_object *self) {
    (void)self;
    finalized++;
}

static void node_died(pm_object *wr, pm_object *arg) {
    (void)wr;
    (void)arg;
    callbacks++;
}

static int fail(const char *what) {
    fprintf(stderr, "cycle: %s%s%s\n", what, pm_exc_occurred() ? ": " : "",
            pm_exc_occurred() ? pm_exc_message() : "");
    return 1;
}

/* A ring of n nodes; returns its first node (a new reference) or NULL. */
static pm_object *make_ring(pm_type *type, int n) {
    pm_object *first = pm_object_new(type);
    if (first == NULL) return NULL;
    pm_object *last = first;
    for (int i = 1; i < n; i++) {
        pm_object *o = pm_object_new(type);
        if (o == NULL) {
            pm_decref(first);
            return NULL;
        }
        ((node *)last)->next = o; /* last's field takes the new reference */
        last = o;
    }
    ((node *)last)->next = pm_newref(first); /* close the ring */
    return first;
}

int main(void) {
    pm_type_spec spec = {
        .name = "Node",
        .basicsize = sizeof(node),
        .flags = PM_TPFLAGS_GC | PM_TPFLAGS_WEAKREF,
        .slots = {.finalize = node_finalize},
        .nrefs = 1,
    };
    pm_type *type = pm_type_new(&spec);
    if (type == NULL) return fail("pm_type_new");

    pm_gc_collect(2); /* start from a clean slate: nothing else to find */
    pm_object *ring = make_ring(type, RING);
    if (ring == NULL) return fail("make_ring");
    pm_object *watch = pm_weakref_new(ring, node_died, NULL);
    if (watch == NULL) return fail("pm_weakref_new");

    pm_runtime_stats before, after;
    pm_runtime_get_stats(pm_runtime_current(), &before);
    pm_decref(ring); /* the ring keeps itself alive */
    pm_object *still = pm_weakref_get(watch);
    if (still == NULL || still->type == &pm_none_type)
        return fail("the ring died without the collector");
    pm_decref(still);
    if (!pm_gc_is_tracked(ring)) return fail("a node is not tracked");

    int64_t found = pm_gc_collect(2);
    pm_runtime_get_stats(pm_runtime_current(), &after);
    uint64_t freed = after.objects_freed - before.objects_freed;
    printf("collected %lld unreachable nodes: %d finalizers, %d weak-reference callback, "
           "%llu objects freed\n",
           (long long)found, finalized, callbacks, (unsigned long long)freed);
    if (found != RING) return fail("the collector did not find the whole ring");
    if (finalized != RING) return fail("not every finalizer ran once");
    if (callbacks != 1) return fail("the weak-reference callback did not run");
    if (freed < RING) return fail("the nodes were not freed");
    pm_object *gone = pm_weakref_get(watch);
    int dead = gone != NULL && gone->type == &pm_none_type;
    pm_xdecref(gone);
    if (!dead) return fail("the weak reference still points to a node");

    pm_decref(watch);
    pm_decref((pm_object *)type); /* a type is an object */
    return 0;
}
