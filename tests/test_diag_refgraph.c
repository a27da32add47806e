/*
 * test_diag_refgraph.c -- the referrers and referents of an object as
 * trees (src/diag/refgraph.c) and their DOT text, and a path's
 * (src/diag/dot.c): exact trees with their labels, the depth limit, a
 * repeat not expanded twice, "N more" cut-offs, roots and references
 * held from C marked; DOT nodes and edges, escaping of quotes,
 * backslashes and newlines, write errors, rendering by Graphviz when
 * `dot` is installed; out of memory at every internal allocation; a long
 * chain on a 256 KiB stack.
 */
#define _GNU_SOURCE /* open_memstream */
#include "testutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    /* One holder, three references to it: three referrer nodes, each with
     * its own slot (T6), the holder shown once and then repeated (T2). */
    CHECK_EQ(pm_list_append(lists[0], pm_none()), 0);
    CHECK_EQ(pm_list_append(lists[0], str), 0);
    CHECK_EQ(pm_list_append(lists[0], str), 0);
    g = pm_refgraph_backrefs(str, 1, 0);
    CHECK_EQ(pm_refgraph_size(g), 13);
    size_t first = 1;
    while (first < 11 && pm_refgraph_node_at(g, first)->object != lists[0]) first++;
    CHECK(first < 11 && label_is(g, first, "[0]"));
    CHECK(pm_refgraph_node_at(g, first + 1)->object == lists[0] && label_is(g, first + 1, "[2]"));
    CHECK(pm_refgraph_node_at(g, first + 2)->object == lists[0] && label_is(g, first + 2, "[3]"));
    CHECK_EQ(pm_refgraph_node_at(g, first + 2)->same, first);
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

/* Every line of DOT text is a statement or a brace: no raw newline in a
 * quoted string. */
static bool dot_lines_whole(const char *text) {
    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        if (eol == NULL || eol == line) return false;
        char last = eol[-1];
        if (last != ';' && last != '{' && last != '}') {
            fprintf(stderr, "broken DOT line: %.*s\n", (int)(eol - line), line);
            return false;
        }
        line = eol + 1;
    }
    return true;
}

static char *path_dot(const pm_path *p) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK_EQ(pm_path_write_dot(p, out), 0);
    fclose(out);
    return text;
}

/* Graphviz, when installed, draws the file: the DOT is valid. */
static void render(const char *dot_file) {
    if (system("command -v dot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "skipped: no `dot` on PATH to render %s\n", dot_file);
        return;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "dot -Tsvg '%s' -o '%s.svg'", dot_file, dot_file);
    CHECK_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s.svg", dot_file);
    CHECK_EQ(unlink(cmd), 0);
}

static void test_dot(void) {
    tu_group grp = tu_group_begin();
    pm_object *l = pm_list_new(0), *d = pm_dict_new();
    pm_object *s = pm_str_from("say \"hi\"\nbye \\ end and more text to cut");
    CHECK_EQ(pm_list_append(l, s), 0);
    CHECK_EQ(pm_dict_set_str(d, "k\"ey\n", s), 0);
    CHECK_EQ(pm_root_add(l, "r\"oot"), 0);
    pm_decref(l);
    pm_decref(s); /* l's and d's from here on */

    pm_refgraph *g = pm_refgraph_refs(l, 1, 0);
    char *text = printed(g, pm_refgraph_write_dot);
    CHECK(tu_contains(text, "digraph refs {\n"));
    CHECK(tu_contains(text, "  n0 [label=\"list\\n1 items\\nroot 'r\\\"oot'\", "
                            "shape=doubleoctagon, style=filled, fillcolor=\"#ffc46b\", "
                            "peripheries=2];\n"));
    CHECK(tu_contains(text, "  n1 [label=\"str\\n'say \\\"hi\\\"\\\\nbye \\\\ end a'...\"];\n"));
    CHECK(tu_contains(text, "  n0 -> n1 [label=\"[0]\"];\n"));
    CHECK(dot_lines_whole(text));
    free(text);
    pm_refgraph_free(g);

    /* Referrers: edges still point from holder to held; a dict key with a
     * quote and a newline in an edge label; the string held from C. */
    g = pm_refgraph_backrefs(s, 1, 1);
    CHECK_EQ(pm_refgraph_size(g), 3);
    text = printed(g, pm_refgraph_write_dot);
    CHECK(tu_contains(text, "digraph backrefs {\n"));
    CHECK(tu_contains(text, "  n2 [label=\"1 more\", shape=box, style=dashed];\n"));
    CHECK(tu_contains(text, "  n2 -> n0 [style=dashed];\n"));
    CHECK(tu_contains(text, "  n1 -> n0 [label=\"[0]\"];\n") ||
          tu_contains(text, "  n1 -> n0 [label=\"['k\\\"ey\\\\n']\"];\n"));
    CHECK(dot_lines_whole(text));
    free(text);
    pm_refgraph_free(g);
    g = pm_refgraph_backrefs(s, 1, 0);
    text = printed(g, pm_refgraph_write_dot);
    CHECK(tu_contains(text, " -> n0 [label=\"['k\\\"ey\\\\n']\"];\n"));
    CHECK(tu_contains(text, "[label=\"dict\\n1 items\\nheld from C: 1\", shape=octagon, "
                            "style=filled, fillcolor=\"#c6dcf5\"];\n"));
    CHECK(tu_contains(text, "[label=\"list\\n1 items\\nroot 'r\\\"oot'\", "
                            "shape=doubleoctagon, style=filled, fillcolor=\"#b7e4b7\"];\n"));
    free(text);

    char file[] = "/tmp/pymm-refgraph-XXXXXX";
    int fd = mkstemp(file);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(pm_refgraph_save_dot(g, file), 0);
    render(file);
    CHECK_EQ(pm_refgraph_save_dot(g, "/nonexistent-dir/x.dot"), -1);
    CHECK_EQ(errno, ENOENT);
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        CHECK_EQ(pm_refgraph_write_dot(g, full), -1);
        CHECK_EQ(errno, ENOSPC);
        fclose(full);
    }
    pm_refgraph_free(g);

    /* A path: the root first, the target marked, edges labelled. */
    pm_path *p = pm_path_to(s);
    text = path_dot(p);
    CHECK(tu_contains(text, "digraph path {\n"));
    CHECK(
        tu_contains(text, "  n0 [label=\"list\\n1 items\\nroot 'r\\\"oot'\", shape=doubleoctagon"));
    CHECK(tu_contains(text, "  n1 [label=\"str\\n'say"));
    CHECK(tu_contains(text, "peripheries=2];\n"));
    CHECK(tu_contains(text, "  n0 -> n1 [label=\"[0]\"];\n"));
    CHECK(dot_lines_whole(text));
    free(text);
    CHECK_EQ(pm_path_save_dot(p, file), 0);
    render(file);
    pm_path_free(p);
    p = pm_path_to(d); /* held from C: an octagon, and the target */
    text = path_dot(p);
    CHECK(tu_contains(text, "  n0 [label=\"dict\\n1 items\\nheld from C: 1\", shape=octagon, "
                            "style=filled, fillcolor=\"#ffc46b\", peripheries=2];\n"));
    free(text);
    pm_path_free(p);
    CHECK_EQ(unlink(file), 0);

    CHECK_EQ(pm_root_remove(l), 0);
    pm_decref(d);
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
    CHECK_EQ(pm_refgraph_write_dot(g, null), 0);
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
    test_dot();
    test_out_of_memory();
    test_deep_chain();
    return tu_finish("test_diag_refgraph");
}
