/*
 * test_diag_leaks.c -- leak verdicts (src/diag/leaks.c, leakscan.c,
 * leakwatch.c, leakreport.c): a zoo of planted leaks, one of each kind,
 * each found with its kind, count, bytes and path; clean programs (globals
 * that are no roots, heap structures pointing at objects, locals) with no
 * verdict; the mark's limit mid-run; out of memory at every internal
 * allocation; and a 10,000,000-long cycle judged on a 256 KiB stack.
 *
 * Leaks are planted in functions that are not inlined and return nothing,
 * so that no copy of the lost pointer stays in a frame the stack scan
 * reads (the test's own frame is above the check's).
 */
#define _GNU_SOURCE /* open_memstream */
#include "testutil.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* Dead frames below the caller keep stale copies of pointers; a later
 * call's frame may sit there, above the check's, and hold them as it
 * runs: conservative scans (LeakSanitizer's too) then miss the leak. A
 * test plants, then wipes that stack (all of it: ASan's frames of this
 * function would keep their redzones and header unwritten). */
__attribute__((no_sanitize_address)) static NOINLINE void wipe_stack(void) {
    char buf[32 << 10];
    explicit_bzero(buf, sizeof buf); /* a memset the compiler may not drop */
}

static pm_leaks *check(unsigned flags) {
    pm_leaks *r = pm_leaks_check(NULL, NULL, flags);
    CHECK(r != NULL);
    return r;
}

/* The report has no verdict; prints them when it has. */
static bool no_verdict(const pm_leaks *r) {
    if (pm_leaks_count(r) == 0) return true;
    fprintf(stderr, "unexpected verdicts:\n");
    pm_leaks_print(r, stderr);
    return false;
}

static bool path_is(const pm_leak *l, size_t i, const char *want) {
    if (i < l->path_len && strcmp(l->path[i], want) == 0) return true;
    fprintf(stderr, "path step %zu: got \"%s\", want \"%s\"\n", i,
            i < l->path_len ? l->path[i] : "(none)", want);
    return false;
}

/* The verdict's neighbourhood has an edge (refs: list 0, backrefs: 1)
 * from the node that reads `from` to the one that reads `to`, labelled;
 * and every edge of it joins two of its nodes (N2 in leakgraph.c). */
static bool hood_edge(const pm_leak *l, int list, const char *from, const char *label,
                      const char *to) {
    const pm_leak_edge *e = list ? l->backrefs : l->refs;
    size_t n = list ? l->nbackrefs : l->nrefs;
    for (size_t i = 0; i < n; i++) {
        CHECK(e[i].from < l->nnodes && e[i].to < l->nnodes);
        if (strcmp(l->nodes[e[i].from], from) == 0 && strcmp(l->nodes[e[i].to], to) == 0 &&
            strcmp(e[i].label, label) == 0)
            return true;
    }
    fprintf(stderr, "no %s edge %s -%s-> %s among %zu\n", list ? "backrefs" : "refs", from, label,
            to, n);
    return false;
}

static int64_t block_size(const void *p) {
    return (int64_t)pm_heap_block_size(pm_runtime_heap(pm_runtime_current()), p);
}

/* ---- clean programs ----------------------------------------------------------- */

static pm_object *global_cache;  /* a global holding objects: no root declared */
static void **global_struct;     /* a heap structure holding an object */
static pm_object *global_config; /* a declared root */

static void test_clean(void) {
    tu_group g = tu_group_begin();
    global_cache = pm_dict_new();
    for (int i = 0; i < 50; i++) {
        pm_object *k = pm_int(10000 + i), *v = pm_list_new(2);
        CHECK_EQ(pm_dict_set(global_cache, k, v), 0);
        pm_decref(k);
        pm_decref(v);
    }
    pm_heap *h = pm_runtime_heap(pm_runtime_current());
    global_struct = pm_heap_malloc(h, 4 * sizeof(void *));
    CHECK(global_struct != NULL);
    global_struct[0] = pm_str_from("held by a C structure");
    global_struct[1] = pm_heap_malloc(h, 300); /* a block only a block points to */
    global_config = pm_dict_new();
    CHECK_EQ(pm_root_add(global_config, "config"), 0);
    pm_decref(global_config);
    pm_object *local = pm_list_new(0); /* a local of this frame */
    CHECK_EQ(pm_list_append_steal(local, pm_float(2.5)), 0);

    pm_leaks *r = check(PM_LEAKS_AT_EXIT);
    CHECK(no_verdict(r));
    pm_leaks_free(r);
    /* Without the scan, the global's dict, the local list and the
     * structure's blocks are what nothing explains. */
    r = check(PM_LEAKS_AT_EXIT | PM_LEAKS_NO_SCAN);
    bool cache_seen = false, local_seen = false, struct_seen = false;
    for (size_t i = 0; i < pm_leaks_count(r); i++) {
        const pm_leak *l = pm_leaks_at(r, i);
        cache_seen |= l->kind == PM_LEAK_UNOWNED && l->address == global_cache && l->count == 101;
        local_seen |= l->kind == PM_LEAK_UNOWNED && l->address == local && l->count == 2;
        struct_seen |= l->kind == PM_LEAK_BLOCK && l->address == global_struct && l->count == 2;
    }
    CHECK(cache_seen && local_seen && struct_seen);
    pm_leaks_free(r);
    CHECK_EQ(pm_census_mark(NULL), 0); /* mid-run: nothing born since the mark */
    pm_object *young = pm_list_new(1);
    r = check(0);
    CHECK(no_verdict(r));
    pm_leaks_free(r);
    pm_census_unmark(NULL);

    pm_decref(young);
    pm_decref(local);
    CHECK_EQ(pm_root_remove(global_config), 0);
    pm_heap_free(h, global_struct[1]);
    pm_decref(global_struct[0]);
    pm_heap_free(h, global_struct);
    pm_decref(global_cache);
    global_cache = NULL;
    global_struct = NULL;
    tu_group_end(&g, 0);
}

/* ---- cycle -------------------------------------------------------------------- */

static NOINLINE void plant_cycle(void) {
    pm_object *a = pm_list_new(0), *b = pm_dict_new();
    CHECK_EQ(pm_list_append(a, b), 0);
    CHECK_EQ(pm_dict_set_str(b, "self", a), 0);
    pm_decref(a);
    pm_decref(b);
}

static void test_cycle(void) {
    tu_group g = tu_group_begin();
    pm_gc_disable();
    plant_cycle();
    wipe_stack();
    pm_leaks *r = check(PM_LEAKS_AT_EXIT);
    CHECK_EQ(pm_leaks_count(r), 1);
    const pm_leak *l = pm_leaks_at(r, 0);
    CHECK_EQ(l->kind, PM_LEAK_CYCLE);
    CHECK_EQ(l->count, 3); /* the list, the dict and its key */
    CHECK(strcmp(l->type, "list") == 0 || strcmp(l->type, "dict") == 0);
    pm_object *a = (pm_object *)l->address;
    pm_object *b = pm_is_type(a, &pm_list_type) ? pm_list_get(a, 0) : pm_dict_get_str(a, "self");
    pm_object *key = pm_str_from("self"); /* the key's twin: the same size */
    CHECK_EQ(l->bytes, block_size(a) + block_size(b) + block_size(key));
    pm_decref(key);
    CHECK_EQ(l->path_len, 3);
    if (pm_is_type(a, &pm_list_type)) {
        CHECK(path_is(l, 0, "cycle: list (1 items)"));
        CHECK(path_is(l, 1, "[0] -> dict (1 items)"));
        CHECK(path_is(l, 2, "['self'] -> list (1 items)"));
    } else {
        CHECK(path_is(l, 0, "cycle: dict (1 items)"));
        CHECK(path_is(l, 1, "['self'] -> list (1 items)"));
        CHECK(path_is(l, 2, "[0] -> dict (1 items)"));
    }
    CHECK_EQ(l->stack_len, 0); /* not tracing */
    /* The neighbourhood: the loop seen from its root closes on node 0, and
     * the referrers' edges, the same loop, are not repeated (N4). */
    const char *list = "list (1 items)", *dict = "dict (1 items)";
    CHECK(strcmp(l->nodes[0], pm_is_type(a, &pm_list_type) ? list : dict) == 0);
    CHECK_EQ(l->nnodes, 3);
    CHECK_EQ(l->nrefs, 3);
    CHECK_EQ(l->nbackrefs, 0);
    CHECK(hood_edge(l, 0, list, "[0]", dict));
    CHECK(hood_edge(l, 0, dict, "['self']", list));
    CHECK(hood_edge(l, 0, dict, "key 'self'", "str 'self'"));
    pm_leaks_free(r);
    pm_gc_enable();
    CHECK_EQ(pm_gc_collect(2), 2); /* the verdict was garbage (the tracked ones) */
    r = check(PM_LEAKS_AT_EXIT);
    CHECK(no_verdict(r));
    pm_leaks_free(r);
    tu_group_end(&g, 0);
}

/* ---- unowned ------------------------------------------------------------------- */

static NOINLINE void plant_unowned(void) {
    pm_object *l = pm_list_new(0); /* a reference taken and never released */
    for (int i = 0; i < 3; i++) CHECK_EQ(pm_list_append_steal(l, pm_int(1000 + i)), 0);
}

static void test_unowned(void) {
    tu_group g = tu_group_begin();
    plant_unowned();
    wipe_stack();
    pm_leaks *r = check(PM_LEAKS_AT_EXIT);
    CHECK_EQ(pm_leaks_count(r), 1);
    const pm_leak *l = pm_leaks_at(r, 0);
    CHECK_EQ(l->kind, PM_LEAK_UNOWNED);
    CHECK(strcmp(l->type, "list") == 0);
    CHECK_EQ(l->count, 4);
    pm_object *lost = (pm_object *)l->address;
    int64_t bytes = block_size(lost);
    for (int i = 0; i < 3; i++) bytes += block_size(pm_list_get(lost, i));
    CHECK_EQ(l->bytes, bytes);
    CHECK_EQ(l->path_len, 1);
    CHECK(path_is(l, 0, "held from C: 1: list (3 items)"));
    CHECK(strcmp(l->nodes[0], "list (3 items) [held from C: 1]") == 0);
    CHECK_EQ(l->nnodes, 4);
    CHECK(hood_edge(l, 0, l->nodes[0], "[2]", "int 1002"));
    CHECK_EQ(l->nbackrefs, 0);
    pm_leaks_free(r);
    /* Mid-run, with no mark, nothing is judged; with a mark, only what
     * was born since. */
    r = check(0);
    CHECK(no_verdict(r));
    pm_leaks_free(r);
    CHECK_EQ(pm_census_mark(NULL), 0);
    r = check(0);
    CHECK(no_verdict(r));
    pm_leaks_free(r);
    plant_unowned();
    wipe_stack();
    r = check(0);
    CHECK_EQ(pm_leaks_count(r), 1);
    pm_object *lost2 = (pm_object *)pm_leaks_at(r, 0)->address;
    CHECK(lost2 != lost && pm_leaks_at(r, 0)->kind == PM_LEAK_UNOWNED);
    pm_leaks_free(r);
    pm_census_unmark(NULL);
    pm_decref(lost);
    pm_decref(lost2);
    tu_group_end(&g, 0);
}

/* Past PM_LEAK_GRAPH_VERDICTS verdicts, none gets a neighbourhood; the
 * verdicts themselves are all there. */
static void test_graph_cap(void) {
    tu_group g = tu_group_begin();
    size_t n = PM_LEAK_GRAPH_VERDICTS + 3;
    for (size_t i = 0; i < n; i++) plant_unowned();
    wipe_stack();
    pm_leaks *r = check(PM_LEAKS_AT_EXIT);
    CHECK_EQ(pm_leaks_count(r), n);
    for (size_t i = 0; i < pm_leaks_count(r); i++) {
        const pm_leak *l = pm_leaks_at(r, i);
        CHECK_EQ(l->nnodes, i < PM_LEAK_GRAPH_VERDICTS ? 4u : 0u);
        pm_decref((pm_object *)l->address);
    }
    pm_leaks_free(r);
    tu_group_end(&g, 0);
}

/* A root whose one reference lives in a cell of the C library's heap,
 * which no scan reads: only its traverse slot shows the reference. */
typedef struct boxed {
    pm_object ob;
    pm_object **cell;
} boxed;

static int boxed_traverse(pm_object *self, pm_visit_fn visit, void *arg) {
    return visit(*((boxed *)self)->cell, arg);
}

static NOINLINE void plant_in_garbage(pm_object **held) {
    pm_object *x = pm_list_new(0); /* ours, and the garbage list's */
    CHECK_EQ(pm_list_append(pm_gc_garbage(), x), 0);
    *held = x;
}

/* The unowned question follows the collector's garbage list when a root
 * refers to it, though the collector's walk stops there: an object held
 * from C (so no cycle) that the garbage list holds, under a root whose
 * reference no scan sees, is owned. */
static void test_garbage_list_owned(void) {
    tu_group g = tu_group_begin();
    pm_type_spec spec = {.name = "Boxed",
                         .basicsize = sizeof(boxed),
                         .flags = PM_TPFLAGS_GC,
                         .slots = {.traverse = boxed_traverse}};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    pm_object *root = pm_object_new(t);
    pm_object **cell = malloc(sizeof *cell), **held = malloc(sizeof *held);
    CHECK(root != NULL && cell != NULL && held != NULL);
    *cell = pm_gc_garbage(); /* borrowed: the runtime's own */
    ((boxed *)root)->cell = cell;
    CHECK_EQ(pm_root_add(root, "boxed"), 0);
    plant_in_garbage(held);
    wipe_stack();
    pm_leaks *r = check(PM_LEAKS_AT_EXIT);
    CHECK(no_verdict(r));
    pm_leaks_free(r);
    pm_object *x = pm_list_pop(pm_gc_garbage(), -1);
    CHECK(x == *held);
    pm_decref(x);
    pm_decref(*held);
    CHECK_EQ(pm_root_remove(root), 0);
    pm_decref(root);
    pm_decref((pm_object *)t);
    free(cell);
    free(held);
    tu_group_end(&g, 1); /* the garbage list stays with the collector */
}

/* ---- growth -------------------------------------------------------------------- */

static void test_growth(void) {
    tu_group g = tu_group_begin();
    pm_object *cache = pm_dict_new(), *users = pm_list_new(0), *steady = pm_list_new(0);
    CHECK_EQ(pm_dict_set_str(cache, "users", users), 0);
    CHECK_EQ(pm_dict_set_str(cache, "steady", steady), 0);
    CHECK_EQ(pm_root_add(cache, "cache"), 0);
    pm_decref(cache);
    pm_decref(users); /* borrowed from here on: the root's path is the only one */
    pm_decref(steady);
    pm_leak_watch *w = pm_leak_watch_new(0, PM_LEAK_WARMUP_DEFAULT); /* K = 3, W = 1 */
    CHECK(w != NULL);
    for (int round = 1; round <= 6; round++) {
        int add = round == 6 ? 0 : 10;
        for (int i = 0; i < add; i++) CHECK_EQ(pm_list_append_steal(users, pm_int(5000 + i)), 0);
        CHECK_EQ(pm_list_append_steal(steady, pm_int(7)), 0);
        if (round > 1) CHECK_EQ(pm_list_set(steady, 0, pm_int(8)), 0); /* same length */
        if (round > 1) {
            pm_object *last = pm_list_pop(steady, -1);
            pm_decref(last);
        }
        pm_leaks *r = pm_leaks_check(NULL, w, 0);
        CHECK(r != NULL);
        /* checkpoint 1 is warm-up; 2, 3, 4 grew: the verdict from 4 on,
         * while it keeps growing */
        size_t want = round == 4 || round == 5 ? 1 : 0;
        CHECK_EQ(pm_leaks_count(r), want);
        if (want) {
            const pm_leak *l = pm_leaks_at(r, 0);
            CHECK_EQ(l->kind, PM_LEAK_GROWTH);
            CHECK(l->address == users && strcmp(l->type, "list") == 0);
            CHECK_EQ(l->count, round * 10);
            CHECK_EQ(l->ngrowth, 3);
            CHECK(l->growth[0] == 10 && l->growth[1] == 10 && l->growth[2] == 10);
            CHECK_EQ(l->path_len, 2);
            CHECK(path_is(l, 0, "root 'cache': dict (2 items)"));
            char want_step[64];
            snprintf(want_step, sizeof want_step, "['users'] -> list (%d items)", round * 10);
            CHECK(path_is(l, 1, want_step));
            /* What holds it, the root marked; what it holds, past 6 cut off. */
            char more[32];
            snprintf(more, sizeof more, "... %d more", round * 10 - PM_LEAK_GRAPH_FAN);
            CHECK(hood_edge(l, 1, "dict (2 items) [root 'cache']", "['users']", l->nodes[0]));
            CHECK(hood_edge(l, 0, l->nodes[0], "[5]", "int 5005"));
            CHECK(hood_edge(l, 0, l->nodes[0], "", more));
            CHECK_EQ(l->nrefs, PM_LEAK_GRAPH_FAN + 1);
        }
        pm_leaks_free(r);
    }
    CHECK(pm_leak_watch_new(9, 0) == NULL);
    CHECK(tu_raised(PM_EXC_VALUE, "at most 8"));
    pm_leak_watch_free(w);
    CHECK_EQ(pm_root_remove(cache), 0);
    tu_group_end(&g, 0);
}

/* ---- block --------------------------------------------------------------------- */

static NOINLINE void plant_block(void) {
    pm_heap *h = pm_runtime_heap(pm_runtime_current());
    void **p = pm_heap_malloc(h, 100);
    CHECK(p != NULL);
    void *q = pm_heap_malloc(h, 200); /* lost with p: one verdict of two blocks */
    CHECK(q != NULL);
    *(void *volatile *)p = q; /* a store into a lost block the compiler must keep */
}

static void test_block(void) {
    tu_group g = tu_group_begin();
    plant_block();
    wipe_stack();
    pm_leaks *r = check(PM_LEAKS_AT_EXIT);
    if (pm_leaks_count(r) != 1) pm_leaks_print(r, stderr);
    CHECK_EQ(pm_leaks_count(r), 1);
    const pm_leak *l = pm_leaks_at(r, 0);
    CHECK_EQ(l->kind, PM_LEAK_BLOCK);
    CHECK(strcmp(l->type, "block") == 0);
    void **p = (void **)l->address;
    CHECK_EQ(l->count, 2);
    CHECK_EQ(l->bytes, block_size(p) + block_size(p[0]));
    CHECK_EQ(l->path_len, 0);
    CHECK_EQ(l->nnodes, 0); /* a block has no neighbourhood */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK_EQ(pm_leaks_write_json(r, f), 0);
    fclose(f);
    CHECK(
        strstr(text, "{\"leaks\": [\n  {\"kind\": \"block\", \"type\": \"block\", \"count\": 2") !=
        NULL);
    CHECK(strstr(text, "\"path\": [], \"stack\": []}\n]}\n") != NULL);
    free(text);
    pm_leaks_free(r);
    pm_heap *h = pm_runtime_heap(pm_runtime_current());
    pm_heap_free(h, p[0]);
    pm_heap_free(h, p);
    tu_group_end(&g, 0);
}

/* ---- the zoo: all four at once, each found once ---------------------------------- */

static void test_zoo(void) {
    tu_group g = tu_group_begin();
    pm_gc_disable();
    pm_object *cache = pm_dict_new(), *items = pm_list_new(0);
    CHECK_EQ(pm_dict_set_str(cache, "items", items), 0);
    CHECK_EQ(pm_root_add(cache, "cache"), 0);
    pm_decref(cache);
    pm_decref(items);
    pm_leak_watch *w = pm_leak_watch_new(2, 0);
    pm_leaks *r = NULL;
    for (int round = 0; round < 2; round++) {
        CHECK_EQ(pm_list_append_steal(items, pm_int(3000 + round)), 0);
        pm_leaks_free(r);
        r = pm_leaks_check(NULL, w, PM_LEAKS_AT_EXIT);
        CHECK(r != NULL);
    }
    plant_cycle();
    wipe_stack();
    plant_unowned();
    wipe_stack();
    plant_block();
    wipe_stack();
    CHECK_EQ(pm_list_append_steal(items, pm_int(3002)), 0);
    pm_leaks_free(r);
    r = pm_leaks_check(NULL, w, PM_LEAKS_AT_EXIT);
    CHECK(r != NULL);
    CHECK_EQ(pm_leaks_count(r), 4);
    pm_leak_kind want[] = {PM_LEAK_CYCLE, PM_LEAK_UNOWNED, PM_LEAK_GROWTH, PM_LEAK_BLOCK};
    int64_t counts[] = {3, 4, 3, 2};
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ(pm_leaks_at(r, i)->kind, want[i]);
        CHECK_EQ(pm_leaks_at(r, i)->count, counts[i]);
    }
    pm_decref((pm_object *)pm_leaks_at(r, 1)->address);
    void **p = (void **)pm_leaks_at(r, 3)->address;
    pm_heap *h = pm_runtime_heap(pm_runtime_current());
    pm_heap_free(h, p[0]);
    pm_heap_free(h, p);
    pm_leaks_free(r);
    pm_leak_watch_free(w);
    pm_gc_enable();
    CHECK_EQ(pm_gc_collect(2), 2);
    CHECK_EQ(pm_root_remove(cache), 0);
    tu_group_end(&g, 0);
}

/* ---- out of memory ----------------------------------------------------------------- */

static bool oom_check(void *arg) {
    pm_leak_watch *w = arg;
    pm_leaks *r = pm_leaks_check(NULL, w, PM_LEAKS_AT_EXIT);
    if (r) CHECK(pm_leaks_count(r) >= 3);
    for (size_t i = 0; r && i < pm_leaks_count(r); i++) { /* a neighbourhood whole, or none */
        const pm_leak *l = pm_leaks_at(r, i);
        CHECK(l->nnodes || (l->nrefs == 0 && l->nbackrefs == 0 && !l->nodes));
        for (size_t e = 0; e < l->nrefs; e++) CHECK(l->refs[e].to < l->nnodes && l->refs[e].label);
        for (size_t e = 0; e < l->nbackrefs; e++)
            CHECK(l->backrefs[e].from < l->nnodes && l->backrefs[e].label);
    }
    pm_leaks_free(r);
    return r != NULL;
}

static void test_out_of_memory(void) {
    tu_group g = tu_group_begin();
    pm_gc_disable();
    plant_cycle();
    wipe_stack();
    plant_unowned();
    wipe_stack();
    plant_block();
    wipe_stack();
    pm_object *l = pm_list_new(0);
    CHECK_EQ(pm_root_add(l, "growing"), 0);
    pm_decref(l);
    pm_leak_watch *w = pm_leak_watch_new(1, 0); /* a growth verdict at every checkpoint */
    CHECK_EQ(pm_list_append_steal(l, pm_int(4000)), 0);
    pm_leaks_free(pm_leaks_check(NULL, w, 0));
    CHECK_EQ(pm_list_append_steal(l, pm_int(4001)), 0);
    tu_fault_each(oom_check, w, false);
    tu_fault_each(oom_check, w, true);
    pm_leaks *r = check(PM_LEAKS_AT_EXIT);
    for (size_t i = 0; i < pm_leaks_count(r); i++) {
        const pm_leak *v = pm_leaks_at(r, i);
        if (v->kind == PM_LEAK_UNOWNED) pm_decref((pm_object *)v->address);
        if (v->kind == PM_LEAK_BLOCK) {
            pm_heap *h = pm_runtime_heap(pm_runtime_current());
            pm_heap_free(h, ((void **)v->address)[0]);
            pm_heap_free(h, (void *)v->address);
        }
    }
    pm_leaks_free(r);
    pm_leak_watch_free(w);
    pm_gc_enable();
    pm_gc_collect(2);
    CHECK_EQ(pm_root_remove(l), 0);
    tu_group_end(&g, 0);
}

/* ---- the leak gate ------------------------------------------------------------------ */

static pm_object *gate_global; /* where the code under test keeps what it leaks */

static FILE *memout(char **text, size_t *len) {
    FILE *f = open_memstream(text, len);
    CHECK(f != NULL);
    return f;
}

static void test_gate(void) {
    tu_group g = tu_group_begin();
    /* Clean code passes; a cycle dropped with the collector on is settled. */
    pm_leak_gate *gate = pm_leak_gate_open(NULL, NULL);
    CHECK(gate != NULL);
    for (int i = 0; i < 100; i++) pm_decref(pm_list_new(3));
    plant_cycle(); /* the collector is on: the close's settling frees it */
    wipe_stack();
    CHECK_EQ(pm_leak_gate_close(gate, stderr), 1);

    /* A dict kept in a global fails a gate of no growth, and the account
     * names it; the same code passes a gate that allows 2 objects. */
    gate = pm_leak_gate_open(NULL, NULL);
    gate_global = pm_dict_new();
    CHECK_EQ(pm_dict_set_str(gate_global, "k", pm_int(1)), 0); /* "k" and 1 are static */
    char *text;
    size_t len;
    FILE *f;
    f = memout(&text, &len);
    CHECK_EQ(pm_leak_gate_close(gate, f), 0);
    fclose(f);
    CHECK(tu_contains(text, "pymm leak gate: +1 objects, "));
    CHECK(tu_contains(text, "(limits: 0 objects, 0 bytes, 0 a type)\n"));
    CHECK(tu_contains(text, "\ndict "));
    CHECK(tu_contains(text, "0 leak verdicts\n")); /* the global explains it */
    free(text);
    pm_decref(gate_global);

    pm_leak_limits one = {.objects = 1, .bytes = -1, .per_type = 1};
    gate = pm_leak_gate_open(NULL, &one);
    gate_global = pm_dict_new();
    CHECK_EQ(pm_dict_set_str(gate_global, "k", pm_int(1)), 0);
    CHECK_EQ(pm_leak_gate_close(gate, stderr), 1);
    pm_decref(gate_global);

    /* Per type, and a filter: two ints fail a per-type limit of 1, but not
     * a gate that only looks at dicts. Gates nest. */
    pm_leak_limits per_type = {.objects = -1, .bytes = -1, .per_type = 1};
    pm_leak_limits dicts = {.objects = 0, .bytes = 0, .per_type = 0, .types = "dict"};
    pm_leak_gate *outer = pm_leak_gate_open(NULL, &dicts);
    gate = pm_leak_gate_open(NULL, &per_type);
    gate_global = pm_list_new(0);
    CHECK_EQ(pm_list_append_steal(gate_global, pm_int(70000)), 0);
    CHECK_EQ(pm_list_append_steal(gate_global, pm_int(70001)), 0);
    f = memout(&text, &len);
    CHECK_EQ(pm_leak_gate_close(gate, f), 0);
    fclose(f);
    CHECK(tu_contains(text, "  type int grew by +2\n"));
    free(text);
    CHECK_EQ(pm_leak_gate_close(outer, stderr), 1); /* no dict more */
    pm_decref(gate_global);
    gate_global = NULL; /* a stale pointer in a global hides what a new heap there leaks */

    pm_leak_gate_free(pm_leak_gate_open(NULL, NULL)); /* given up */
    tu_group_end(&g, 0);
}

/* An unowned leak fails a gate, and the account has the verdicts (the
 * gate's own frames, run after the code under test, may hold a stale
 * copy of the pointer: the check after the close, on a wiped stack, is
 * the one that must find it). */
static void test_gate_unowned(void) {
    tu_group g = tu_group_begin();
    pm_leak_gate *gate = pm_leak_gate_open(NULL, NULL);
    plant_unowned();
    wipe_stack();
    char *text;
    size_t len;
    FILE *f = memout(&text, &len);
    CHECK_EQ(pm_leak_gate_close(gate, f), 0);
    fclose(f);
    CHECK(tu_contains(text, "pymm leak gate: +4 objects, "));
    CHECK(tu_contains(text, " leak verdicts\n"));
    free(text);
    wipe_stack();
    pm_leaks *r = check(PM_LEAKS_AT_EXIT);
    CHECK_EQ(pm_leaks_count(r), 1);
    if (pm_leaks_count(r) == 1) pm_decref((pm_object *)pm_leaks_at(r, 0)->address);
    pm_leaks_free(r);
    tu_group_end(&g, 0);
}

/* ---- under the recorder ------------------------------------------------------------ */

/* Does a frame of l's stack lie in fn (a return address a little past its
 * start)? */
static bool stack_has(const pm_leak *l, void (*fn)(void)) {
    uintptr_t start = (uintptr_t)fn;
    for (size_t i = 0; i < l->stack_len; i++) {
        uintptr_t pc = (uintptr_t)l->stack[i];
        if (pc > start && pc - start < 4096) return true;
    }
    return false;
}

/* The JSON and the text of report r give the frame of l's stack in fn
 * with its module, the program by its real path, and its address in that
 * file: pc less the program's load bias (the loader's l_addr, found here
 * otherwise than leakreport.c finds it). */
static void check_frame_offset(const pm_leaks *r, const pm_leak *l, void (*fn)(void)) {
    uintptr_t pc = 0, start = (uintptr_t)fn;
    for (size_t i = 0; i < l->stack_len && !pc; i++)
        if ((uintptr_t)l->stack[i] > start && (uintptr_t)l->stack[i] - start < 4096)
            pc = (uintptr_t)l->stack[i];
    Dl_info info;
    struct link_map *lm = NULL;
    char exe[4096], want[4400];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(pc && n > 0 && dladdr1((void *)pc, &info, (void **)&lm, RTLD_DL_LINKMAP) && lm);
    if (!pc || n <= 0 || lm == NULL) return;
    exe[n] = '\0';
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK_EQ(pm_leaks_write_json(r, f), 0);
    fclose(f);
    snprintf(want, sizeof want,
             "\"file\": \"%s\", \"line\": 0, \"kind\": \"native\", \"offset\": %" PRIuPTR "}", exe,
             pc - (uintptr_t)lm->l_addr);
    CHECK(strstr(text, want) != NULL);
    free(text);
    f = open_memstream(&text, &len);
    CHECK_EQ(pm_leaks_print(r, f), 0);
    fclose(f);
    snprintf(want, sizeof want, " (%s+0x%" PRIxPTR ")\n", exe, pc - (uintptr_t)lm->l_addr);
    CHECK(strstr(text, want) != NULL);
    free(text);
}

static int64_t census_count(const char *type) {
    pm_census *c = pm_census_take(NULL);
    CHECK(c != NULL);
    if (c == NULL) return -1;
    const pm_census_row *row = pm_census_find(c, type);
    int64_t n = row ? row->count : 0;
    pm_census_free(c);
    return n;
}

/* While pm_trace_start records, a runtime's objects still come from its
 * own pools: the census counts them and the check judges them, and a
 * verdict carries the stack that allocated its root, the planting
 * function's frame among it, placed in its module for an offline
 * symbolizer. After the stop they go back as any other. */
static void test_traced(void) {
    tu_group g = tu_group_begin();
    CHECK_EQ(pm_trace_start(NULL), 0);
    int64_t lists = census_count("list");
    plant_unowned();
    wipe_stack();
    CHECK_EQ(census_count("list"), lists + 1);
    pm_leaks *r = check(PM_LEAKS_AT_EXIT);
    CHECK_EQ(pm_leaks_count(r), 1);
    const pm_leak *l = pm_leaks_at(r, 0);
    pm_object *lost = NULL;
    if (l) {
        CHECK_EQ(l->kind, PM_LEAK_UNOWNED);
        CHECK_EQ(l->count, 4);
        CHECK(l->stack_len > 0 && stack_has(l, plant_unowned));
        check_frame_offset(r, l, plant_unowned);
        lost = (pm_object *)l->address;
    }
    pm_leaks_free(r);
    pm_trace_stop();
    pm_decref(lost);
    r = check(PM_LEAKS_AT_EXIT);
    CHECK(no_verdict(r));
    pm_leaks_free(r);
    tu_group_end(&g, 0);
}

/* ---- a 10,000,000-long cycle on a 256 KiB stack ------------------------------------ */

static NOINLINE void close_chain(long n) {
    pm_type *t;
    pm_object *tail, *head = tu_chain(n, &t, &tail);
    ((pm_object **)(tail + 1))[0] = head; /* the first made holds the last: a loop */
    pm_decref(PM_OBJ(t));                 /* its instances hold it */
}

static void *chain_run(void *arg) {
    long n = *(long *)arg;
    tu_group g = tu_group_begin();
    pm_gc_disable();
    close_chain(n);
    wipe_stack();
    double t0 = tu_now();
    pm_leaks *r = check(PM_LEAKS_AT_EXIT);
    double dt = tu_now() - t0;
    CHECK_EQ(pm_leaks_count(r), 1);
    const pm_leak *l = pm_leaks_at(r, 0);
    CHECK_EQ(l->kind, PM_LEAK_CYCLE);
    CHECK_EQ(l->count, n + 1); /* the links and their type */
    CHECK_EQ(l->path_len, 8);
    CHECK_EQ(l->path_omitted, (size_t)n + 1 - 8);
    CHECK(strncmp(l->path[0], "cycle: Link", 11) == 0);
    CHECK(strncmp(l->path[7], "field 0 -> Link", 15) == 0);
    pm_leaks_free(r);
    fprintf(stderr, "leak check of a %ld-long cycle: %.2f s\n", n, dt);
    pm_gc_enable();
    CHECK_EQ(pm_gc_collect(2), n); /* the links (their type is not counted) */
    tu_group_end(&g, 0);
    return NULL;
}

static void test_deep_cycle(void) {
    long n = tu_big_count(10000000);
    tu_run_on_stack(chain_run, &n, 256 << 10);
}

/* Each test on a wiped stack: its frames' slots hold no pointer left by an
 * earlier test (a heap made again at the same address makes an old
 * pointer point into the new one), and no register of main's that one
 * of them left a pointer in (a test inlined into main would). */
static NOINLINE void run(void (*test)(void)) {
    void (*volatile call)(void) = test; /* never inlined here: its own frame */
    wipe_stack();
    call();
}

int main(void) {
    run(test_clean);
    run(test_cycle);
    run(test_unowned);
    run(test_graph_cap);
    run(test_garbage_list_owned);
    run(test_growth);
    run(test_block);
    run(test_traced);
    run(test_zoo);
    run(test_out_of_memory);
    run(test_gate);
    run(test_gate_unowned);
    run(test_deep_cycle);
    return tu_finish("test_diag_leaks");
}
