/*
 * leaks.c -- leak verdicts for a small server loop (docs/LEAKS.md, "Leak
 * verdicts"): a session cache with no bound, a request object whose
 * reference is never released, a parent and child that hold each other
 * while the collector is off, and a buffer whose pointer is lost. One
 * check at each of four checkpoints; the last prints every verdict. Run
 * with PYMM_LEAKS=1 to see the check the library makes at exit too.
 */
#include "pymm.h"

#include <stdio.h>

static pm_object *sessions; /* borrowed from the server's root */

static __attribute__((noinline)) void handle_request(int i) {
    pm_object *req = pm_dict_new(); /* leaked on the first request: never released */
    pm_object *id = pm_int(100000 + i);
    pm_dict_set_str(req, "id", id);
    pm_list_append(sessions, id); /* the unbounded cache */
    pm_decref(id);
    if (i != 0) pm_decref(req);
}

static __attribute__((noinline)) void make_tree(void) {
    pm_object *parent = pm_dict_new(), *children = pm_list_new(0), *child = pm_dict_new();
    pm_dict_set_str(parent, "children", children);
    pm_list_append(children, child);
    pm_dict_set_str(child, "parent", parent); /* a cycle: only the collector frees it */
    pm_decref(child);
    pm_decref(children);
    pm_decref(parent);
}

static __attribute__((noinline)) void read_file(pm_heap *h) {
    char *buf = pm_heap_malloc(h, 4096); /* a buffer whose pointer is dropped */
    if (buf) *(char *volatile *)&buf[0] = 0;
}

int main(void) {
    pm_gc_disable();
    pm_object *root = pm_dict_new();
    sessions = pm_list_new(0);
    pm_dict_set_str(root, "sessions", sessions);
    pm_root_add(root, "server");
    pm_decref(root);
    pm_decref(sessions);
    pm_leak_watch *w = pm_leak_watch_new(0, PM_LEAK_WARMUP_DEFAULT);
    pm_leaks *r = NULL;
    for (int checkpoint = 1; checkpoint <= 4; checkpoint++) {
        for (int i = 0; i < 100; i++) handle_request((checkpoint - 1) * 100 + i);
        if (checkpoint == 1) {
            make_tree();
            read_file(pm_runtime_heap(pm_runtime_current()));
        }
        pm_leaks_free(r);
        r = pm_leaks_check(NULL, w, PM_LEAKS_AT_EXIT);
        if (r == NULL) {
            fprintf(stderr, "leak check: %s\n", pm_exc_message());
            return 1;
        }
        printf("checkpoint %d: %zu verdicts\n", checkpoint, pm_leaks_count(r));
    }
    pm_leaks_print(r, stdout);
    int found = (int)pm_leaks_count(r);
    pm_leaks_free(r);
    pm_leak_watch_free(w);
    return found == 4 ? 0 : 1;
}
