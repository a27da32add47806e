/*
 * test_diag_refgraph.c -- the referrers and referents of an object as
 * trees (src/diag/refgraph.c): exact trees with their labels, the depth
 * limit, a repeat not expanded twice, "N more" cut-offs, roots and
 * references held from C marked; out of memory at every internal
 * allocation; a long chain on a 256 KiB stack.
 */
#define _GNU_SOURCE /* open_memstream */
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What print (or the DOT writer) says, as a string to free. */
static char *printed(const pm_refgraph *g, int (*fn)(const pm_refgraph *, FILE *)) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK(out != NULL);
    CHECK_EQ(fn(g, out), 0);
    fclose(out);
    return text;
}

/* pm_refgraph_print says exactly what fmt, formatted, says. */
static bool prints(const pm_refgraph *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool prints(const pm_refgraph *g, const char *fmt, ...) {
    char want[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    char *got = printed(g, pm_refgraph_print);
    bool same = strcmp(got, want) == 0;
    if (!same) fprintf(stderr, "got:\n%swant:\n%s", got, want);
    free(got);
    return same;
}

static bool label_is(const pm_refgraph *g, size_t i, const char *want) {
    char buf[128];
    pm_refgraph_label(g, i, buf, sizeof buf);
    if (strcmp(buf, want) == 0) return true;
    fprintf(stderr, "node %zu: got \"%s\", want \"%s\"\n", i, buf, want);
    return false;
}

/* The graph of test_labelled_path (test_diag_paths.c): a root 'config'
 * {'name': users, 'users': users}, users = [1000, 'x', w], w.b = leaf. */
typedef struct scene {
    pm_type *t;
    pm_object *config, *users, *w, *leaf;
} scene;

static scene scene_new(void) {
    scene s;
    s.t = tu_widget_type();
    s.config = pm_dict_new();
    s.users = pm_list_new(0);
    s.w = pm_object_new(s.t);
    s.leaf = pm_str_from("leaf");
    ((tu_widget *)s.w)->b = s.leaf;
    CHECK_EQ(pm_list_append_steal(s.users, pm_int(1000)), 0);
    CHECK_EQ(pm_list_append_steal(s.users, pm_str_from("x")), 0);
    CHECK_EQ(pm_list_append_steal(s.users, s.w), 0);
    CHECK_EQ(pm_dict_set_str(s.config, "name", s.users), 0);
    CHECK_EQ(pm_dict_set_str(s.config, "users", s.users), 0);
    pm_decref(s.users);
    CHECK_EQ(pm_root_add(s.config, "config"), 0);
    pm_decref(s.config);
    return s;
}

static void scene_free(scene *s) {
    CHECK_EQ(pm_root_remove(s->config), 0);
    pm_decref(PM_OBJ(s->t));
}

/* Referrers: leaf <- w <- users <- config (twice: the repeat is not
 * expanded), cut at the depth asked for. */
static void test_backrefs_tree(void) {
    tu_group grp = tu_group_begin();
    scene s = scene_new();
    pm_refgraph *g = pm_refgraph_backrefs(s.leaf, 2, 0);
    CHECK(g != NULL);
    CHECK_EQ(pm_refgraph_size(g), 3); /* the depth cut: users not expanded */
    CHECK(pm_refgraph_node_at(g, 2)->object == s.users);
    CHECK(pm_refgraph_node_at(g, 3) == NULL);
    pm_refgraph_free(g);

    g = pm_refgraph_backrefs(s.leaf, 10, 0);
    CHECK_EQ(pm_refgraph_size(g), 5);
    const pm_refgraph_node *n0 = pm_refgraph_node_at(g, 0), *n3 = pm_refgraph_node_at(g, 3);
    const pm_refgraph_node *n4 = pm_refgraph_node_at(g, 4);
    CHECK(n0->object == s.leaf && n0->parent == PM_REFGRAPH_NONE && n0->depth == 0);
    CHECK(pm_refgraph_node_at(g, 1)->object == s.w && pm_refgraph_node_at(g, 1)->parent == 0);
    CHECK(n3->object == s.config && n3->parent == 2 && n3->depth == 3);
    CHECK(n3->root && strcmp(n3->root, "config") == 0 && n3->same == PM_REFGRAPH_NONE);
    CHECK(n4->object == s.config && n4->same == 3 && n4->root == NULL);
    CHECK(label_is(g, 0, ""));
    CHECK(label_is(g, 1, "field 1"));
    CHECK(label_is(g, 2, "[2]"));
    CHECK(label_is(g, 3, "['name']"));
    CHECK(label_is(g, 4, "['users']"));
    CHECK(prints(g,
                 "str 'leaf'\n"
                 "  <- field 1 Widget at %p\n"
                 "    <- [2] list (3 items)\n"
                 "      <- ['name'] dict (2 items)  [root 'config']\n"
                 "      <- ['users'] dict (2 items)  (above)\n",
                 (void *)s.w));
    pm_refgraph_free(g);
    scene_free(&s);
    tu_group_end(&grp, 0);
}

/* Referents: config -> its key and its value (the same list twice), the
 * list's items, an instance's type and fields; a cycle back to users. */
static void test_refs_tree(void) {
    tu_group grp = tu_group_begin();
    scene s = scene_new();
    ((tu_widget *)s.w)->a = pm_incref(s.users); /* a cycle */
    pm_refgraph *g = pm_refgraph_refs(s.config, 3, 0);
    CHECK(g != NULL);
    CHECK(prints(g,
                 "dict (2 items)  [root 'config']\n"
                 "  -> key 'name' str 'name'\n"
                 "  -> ['name'] list (3 items)\n"
                 "    -> [0] int 1000\n"
                 "    -> [1] str 'x'\n"
                 "    -> [2] Widget at %p\n"
                 "      -> type type 'Widget'  [held from C: 1]\n"
                 "      -> field 0 list (3 items)  (above)\n"
                 "      -> field 1 str 'leaf'\n"
                 "  -> key 'users' str 'users'\n"
                 "  -> ['users'] list (3 items)  (above)\n",
                 (void *)s.w));
    CHECK(pm_refgraph_node_at(g, 0)->held_from_c == 0);
    pm_refgraph_free(g);

    /* 0: the object alone. */
    g = pm_refgraph_refs(s.config, 0, 0);
    CHECK_EQ(pm_refgraph_size(g), 1);
    pm_refgraph_free(g);

    /* Not a heap object; no object. */
    CHECK(pm_refgraph_backrefs(pm_none(), 1, 0) == NULL);
    CHECK(tu_raised(PM_EXC_VALUE, "not a live object"));
    CHECK(pm_refgraph_refs(NULL, 1, 0) == NULL);
    CHECK(tu_raised(PM_EXC_TYPE, NULL));
    pm_decref(((tu_widget *)s.w)->a); /* the cycle broken */
    ((tu_widget *)s.w)->a = NULL;
    scene_free(&s);
    tu_group_end(&grp, 0);
}

/* Ten lists hold one str: at most K shown, "N more" after them. */
static void test_cut_offs(void) {
    tu_group grp = tu_group_begin();
    pm_object *str = pm_str_from("shared"), *lists[10];
    for (int i = 0; i < 10; i++) {
        lists[i] = pm_list_new(0);
        CHECK_EQ(pm_list_append(lists[i], str), 0);
    }
    pm_refgraph *g = pm_refgraph_backrefs(str, 1, 3);
    CHECK_EQ(pm_refgraph_size(g), 5);
    for (size_t i = 1; i <= 3; i++) {
        const pm_refgraph_node *n = pm_refgraph_node_at(g, i);
        CHECK(n->object != NULL && n->held_from_c == 1 && n->depth == 1);
        CHECK(label_is(g, i, "[0]"));
    }
    const pm_refgraph_node *more = pm_refgraph_node_at(g, 4);
    CHECK(more->object == NULL && more->more == 7 && more->parent == 0 && more->depth == 1);
    CHECK(label_is(g, 4, ""));
    char *text = printed(g, pm_refgraph_print);
    CHECK(tu_contains(text, "str 'shared'  [held from C: 1]\n"));
    CHECK(tu_contains(text, "  <- [0] list (1 items)  [held from C: 1]\n"));
    CHECK(tu_contains(text, "  ... 7 more\n"));
    free(text);
    pm_refgraph_free(g);
    g = pm_refgraph_backrefs(str, 1, 10); /* exactly K: no cut-off */
    CHECK_EQ(pm_refgraph_size(g), 11);
    CHECK(pm_refgraph_node_at(g, 10)->object != NULL);
    pm_refgraph_free(g);
    g = pm_refgraph_backrefs(str, 1, 0); /* no limit */
    CHECK_EQ(pm_refgraph_size(g), 11);
    pm_refgraph_free(g);

    /* Referents in their order: [0] .. [3], then "6 more". */
    pm_object *l = pm_list_new(0);
    for (int i = 0; i < 10; i++) CHECK_EQ(pm_list_append_steal(l, pm_int(5000 + i)), 0);
    g = pm_refgraph_refs(l, 1, 4);
    CHECK_EQ(pm_refgraph_size(g), 6);
    CHECK(prints(g, "list (10 items)  [held from C: 1]\n"
                    "  -> [0] int 5000\n"
                    "  -> [1] int 5001\n"
                    "  -> [2] int 5002\n"
                    "  -> [3] int 5003\n"
                    "  ... 6 more\n"));
    pm_refgraph_free(g);
    pm_decref(l);
    for (int i = 0; i < 10; i++) pm_decref(lists[i]);
    pm_decref(str);
    tu_group_end(&grp, 0);
}

/* Out of memory at each internal allocation: NULL or -1 with MemoryError
 * and nothing left behind; then it works. */
typedef struct oom_case {
    scene s;
    pm_refgraph *whole;
    FILE *null;
} oom_case;

static bool oom_backrefs(void *arg) {
    pm_refgraph *g = pm_refgraph_backrefs(((oom_case *)arg)->s.leaf, 10, 0);
    if (g) CHECK_EQ(pm_refgraph_size(g), 5);
    pm_refgraph_free(g);
    return g != NULL;
}

static bool oom_refs(void *arg) {
    pm_refgraph *g = pm_refgraph_refs(((oom_case *)arg)->s.config, 3, 2);
    if (g) CHECK_EQ(pm_refgraph_size(g), 7); /* two and "N more" a node */
    pm_refgraph_free(g);
    return g != NULL;
}

static bool oom_print(void *arg) {
    oom_case *c = arg;
    return pm_refgraph_print(c->whole, c->null) == 0;
}

static void test_out_of_memory(void) {
    tu_group grp = tu_group_begin();
    oom_case c = {scene_new(), NULL, fopen("/dev/null", "w")};
    c.whole = pm_refgraph_refs(c.s.config, 3, 0);
    CHECK(c.whole != NULL && c.null != NULL);
    for (int persistent = 0; persistent < 2; persistent++) {
        tu_fault_each(oom_backrefs, &c, persistent);
        tu_fault_each(oom_refs, &c, persistent);
        tu_fault_each(oom_print, &c, persistent);
    }
    fclose(c.null);
    pm_refgraph_free(c.whole);
    scene_free(&c.s);
    tu_group_end(&grp, 0);
}

/* A chain of objects (each holds the next): both trees to its full depth
 * on a 256 KiB stack, and printed. */
static void *chain_run(void *arg) {
    long n = *(long *)arg;
    tu_group grp = tu_group_begin();
    pm_type *t;
    pm_object *tail, *head = tu_chain(n, &t, &tail);
    pm_refgraph *g = pm_refgraph_backrefs(tail, SIZE_MAX, 0);
    CHECK(g != NULL);
    CHECK_EQ(pm_refgraph_size(g), n);
    CHECK(pm_refgraph_node_at(g, (size_t)n - 1)->object == head);
    CHECK(pm_refgraph_node_at(g, (size_t)n - 1)->held_from_c == 1);
    FILE *null = fopen("/dev/null", "w");
    CHECK_EQ(pm_refgraph_print(g, null), 0);
    pm_refgraph_free(g);
    g = pm_refgraph_refs(head, SIZE_MAX, 0); /* each Link: its type, then the next */
    CHECK(g != NULL);
    CHECK_EQ(pm_refgraph_size(g), 2 * n);
    CHECK_EQ(pm_refgraph_print(g, null), 0);
    fclose(null);
    pm_refgraph_free(g);
    pm_decref(head);
    pm_decref(PM_OBJ(t));
    tu_group_end(&grp, 0);
    return NULL;
}

static void test_deep_chain(void) {
    long n = tu_big_count(300000);
    tu_run_on_stack(chain_run, &n, 256 << 10);
}

int main(void) {
    test_backrefs_tree();
    test_refs_tree();
    test_cut_offs();
    test_out_of_memory();
    test_deep_chain();
    return tu_finish("test_diag_refgraph");
}
