/*
 * dot.c -- Graphviz DOT text of the answers to "why is it alive": a tree
 * of referrers or referents (refgraph.c) and a path (paths.c), written to
 * a FILE or to a file by name: pm_refgraph_write_dot, pm_refgraph_save_dot,
 * pm_path_write_dot, pm_path_save_dot.
 *
 * Owns the DOT syntax (its escaping also serves `pymm report --format
 * dot`, through pmd_dot_escape): one node per object drawn ("type\nshort repr", the
 * marks of target, roots and objects held from C as shape and colour),
 * one labelled edge per reference, from holder to held.
 *
 * Invariants:
 *   D1  Every text taken from the program (a str's characters, a dict key
 *       in an edge label, a root's name, a type's name) goes through
 *       put_text, which escapes '"', '\' and control characters: the
 *       output is valid DOT whatever the objects hold.
 *   D2  Nothing here allocates or makes an object; like refs.c's labels,
 *       it only reads. A write error is remembered and reported once,
 *       at the end, as -1 (errno from the C library).
 */
#include "objects/containers.h"
#include "diag/diag.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STR_CHARS 20 /* a str's characters shown on its node */

typedef struct dot {
    FILE *out;
    int bad;
} dot;

static void put(dot *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (vfprintf(d->out, fmt, ap) < 0) d->bad = 1;
    va_end(ap);
}

/* n bytes of text inside a DOT quoted string (D1). A newline of the text
 * shows as the two characters \n, not as a line break of the label. */
static void put_text(dot *d, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') put(d, "\\%c", c);
        else if (c == '\n') put(d, "\\\\n");
        else if (c == '\r') put(d, "\\\\r");
        else if (c == '\t') put(d, "\\\\t");
        else if (c < 0x20 || c == 0x7f) put(d, "\\\\x%02x", c);
        else if (putc(c, d->out) == EOF) d->bad = 1;
    }
}

static void put_cstr(dot *d, const char *s) { put_text(d, s, strlen(s)); }

/* D1 for other writers of DOT (pymm report's leak graphs): one escaping
 * of program text in the whole project. */
int pmd_dot_escape(FILE *out, const char *s, size_t n) {
    dot d = {out, 0};
    put_text(&d, s, n);
    return d.bad ? -1 : 0;
}

/* The bytes of a str's first max characters (UTF-8: a character starts
 * at every byte that is not a continuation byte). */
static size_t prefix_bytes(const char *s, size_t nbytes, size_t max) {
    size_t chars = 0;
    for (size_t i = 0; i < nbytes; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == max) return i;
    return nbytes;
}

/* The second line of a node: what the object holds, in short. */
static void put_short(dot *d, pm_object *o) {
    const pm_type *t = o->type;
    int64_t v;
    if (t == &pm_str_type) {
        const char *s = pmo_str_data(o);
        size_t n = PMO_STR(o)->nbytes, shown = prefix_bytes(s, n, STR_CHARS);
        put(d, "'");
        put_text(d, s, shown);
        put(d, shown < n ? "'..." : "'");
    } else if (t == &pm_int_type && pm_int_value(o, &v) == 0) {
        put(d, "%" PRId64, v);
    } else if (t == &pm_list_type) {
        put(d, "%" PRIu32 " items", PMO_LIST(o)->size);
    } else if (t == &pm_tuple_type) {
        put(d, "%zu items", PMO_TUPLE(o)->size);
    } else if (t == &pm_dict_type) {
        put(d, "%zu items", pm_dict_size(o));
    } else if (t == &pm_set_type || t == &pm_frozenset_type) {
        put(d, "%zu items", pm_set_size(o));
    } else {
        put(d, "at %p", (void *)o);
    }
}

/* How a node is marked: each mark is a line of its label; the shape
 * says root before held from C, the fill target before both, and a
 * target has a double border. */
typedef struct marks {
    bool target;
    const char *root; /* "root 'config'", or NULL   */
    const char *held; /* "held from C: 2", or NULL  */
} marks;

static void put_node(dot *d, size_t id, pm_object *o, const marks *m) {
    put(d, "  n%zu [label=\"", id);
    put_cstr(d, o->type->name);
    put(d, "\\n");
    put_short(d, o);
    for (int k = 0; k < 2; k++) {
        const char *line = k ? m->held : m->root;
        if (line == NULL) continue;
        put(d, "\\n");
        put_cstr(d, line);
    }
    put(d, "\"");
    if (m->root || m->held) put(d, ", shape=%s", m->root ? "doubleoctagon" : "octagon");
    const char *fill = m->target ? "#ffc46b" : m->root ? "#b7e4b7" : m->held ? "#c6dcf5" : NULL;
    if (fill) put(d, ", style=filled, fillcolor=\"%s\"", fill);
    if (m->target) put(d, ", peripheries=2");
    put(d, "];\n");
}

static void put_edge(dot *d, size_t from, size_t to, const char *label) {
    put(d, "  n%zu -> n%zu [label=\"", from, to);
    put_cstr(d, label);
    put(d, "\"];\n");
}

static void begin(dot *d, const char *name) {
    put(d, "digraph %s {\n", name);
    put(d, "  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
    put(d, "  edge [fontname=\"monospace\", fontsize=9];\n");
}

static int end(dot *d) {
    put(d, "}\n");
    if (!d->bad && fflush(d->out) == EOF) d->bad = 1;
    if (d->bad && errno == 0) errno = EIO;
    return d->bad ? -1 : 0;
}

/* ---- trees ------------------------------------------------------------------ */

/* A tree's node: a cut-off is a dashed "N more"; a repeat draws nothing
 * (its edge goes to the node that shows it). */
static void tree_node(dot *d, const pm_refgraph *g, size_t i) {
    const pm_refgraph_node *n = pm_refgraph_node_at(g, i);
    if (n->object == NULL) {
        put(d, "  n%zu [label=\"%zu more\", shape=box, style=dashed];\n", i, n->more);
    } else if (n->same == PM_REFGRAPH_NONE) {
        char root[160], held[40];
        marks m = {.target = i == 0};
        if (n->root) {
            snprintf(root, sizeof root, "root '%s'", n->root);
            m.root = root;
        }
        if (n->held_from_c) {
            snprintf(held, sizeof held, "held from C: %" PRId64, n->held_from_c);
            m.held = held;
        }
        put_node(d, i, n->object, &m);
    }
}

/* The edge between node i and its parent, from holder to held. */
static void tree_edge(dot *d, const pm_refgraph *g, size_t i) {
    const pm_refgraph_node *n = pm_refgraph_node_at(g, i);
    size_t self = n->same != PM_REFGRAPH_NONE ? n->same : i;
    bool back = pmd_refgraph_backward(g);
    if (n->object == NULL) {
        put(d, "  n%zu -> n%zu [style=dashed];\n", back ? i : n->parent, back ? n->parent : i);
        return;
    }
    char label[160];
    pm_refgraph_label(g, i, label, sizeof label);
    if (back) put_edge(d, self, n->parent, label);
    else put_edge(d, n->parent, self, label);
}

int pm_refgraph_write_dot(const pm_refgraph *g, FILE *out) {
    dot d = {out, 0};
    errno = 0;
    begin(&d, pmd_refgraph_backward(g) ? "backrefs" : "refs");
    size_t n = pm_refgraph_size(g);
    for (size_t i = 0; i < n; i++) tree_node(&d, g, i);
    for (size_t i = 1; i < n; i++) tree_edge(&d, g, i);
    return end(&d);
}

/* ---- paths ------------------------------------------------------------------- */

int pm_path_write_dot(const pm_path *p, FILE *out) {
    dot d = {out, 0};
    errno = 0;
    begin(&d, "path");
    size_t n = pm_path_length(p);
    if (n == 0) put(&d, "  none [label=\"no path: no root and no C reference leads to it\"];\n");
    char label[160];
    for (size_t i = 0; i < n; i++) {
        pm_path_label(p, i, label, sizeof label);
        marks m = {.target = i + 1 == n};
        if (i == 0 && pmd_path_from_root(p)) m.root = label;
        else if (i == 0) m.held = label;
        put_node(&d, i, pm_path_object(p, i), &m);
        if (i) put_edge(&d, i - 1, i, label);
    }
    return end(&d);
}

/* ---- to a file by name ---------------------------------------------------- */

static int save(const void *what, int (*write)(const void *, FILE *), const char *path) {
    FILE *f = fopen(path, "w");
    if (f == NULL) return -1;
    int r = write(what, f);
    int saved = errno;
    if (fclose(f) != 0 && r == 0) return -1;
    errno = saved;
    return r;
}

static int write_tree(const void *g, FILE *f) { return pm_refgraph_write_dot(g, f); }
static int write_path(const void *p, FILE *f) { return pm_path_write_dot(p, f); }

int pm_refgraph_save_dot(const pm_refgraph *g, const char *path) {
    return save(g, write_tree, path);
}

int pm_path_save_dot(const pm_path *p, const char *path) { return save(p, write_path, path); }
