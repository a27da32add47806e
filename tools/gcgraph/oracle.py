#!/usr/bin/env python3
"""
oracle.py -- the gcgraph reference runner: CPython's own answer.

Owns: reading a gcgraph v1 file (docs/GCGRAPH.md), building the
graph from real CPython objects, running the five phases with CPython's own
reference counting and `gc` module, and printing the canonical lines.
`pymm gcgraph` (tools/pymm/gcgraph_cmd.c) must print the same lines, `#`
lines apart.

    python3 oracle.py [--saveall] FILE

How the format maps onto CPython (GCGRAPH.md's reference runner):
  * a node is an instance of a class with __slots__ for its out-list and
    weak-list plus __weakref__; `fin` nodes' class has __del__ (PEP 442);
  * a weak reference is an instance of a weakref.ref subclass (never shared);
  * ROOTS, KEEPS, SAVED and the builder's references are plain lists held by
    this module; GARBAGE is gc.garbage;
  * gc.disable(): collections happen only where a phase asks for one;
  * a phase ends by diffing the live nodes and weak references, found with
    gc.get_objects(), against the previous phase's.

Nothing here models the collector: every event is observed, never deduced.
"""

import gc
import sys
import weakref

PHASES = ("build", "drop", "collect", "final", "end")
KINDS = ("fin", "broken", "wrcb", "freed", "garbage", "wclear", "wgone", "leak")

# Events logged while a phase runs: (phase, kind, id).
EVENTS = set()
INFO = []
PHASE = ["build"]

# The external strong references of GCGRAPH.md.
BUILDER = []
ROOTS = []
KEEPS = []
SAVED = []
EXT_WEAKS = []  # weak references owned by `ext`: alive until exit

# id() of every node and weak reference ever made -> its number. Only node
# and weak-reference objects are looked up, and none is made after the
# build, so an id reused by another object never maps wrongly.
NODE_IDS = {}
WEAK_IDS = {}


def log(kind, ident):
    EVENTS.add((PHASE[0], kind, ident))


class Node:
    """A plain node: out-list (strong, file order) and weak-list (the weak
    references it owns)."""
    __slots__ = ("nid", "out", "weak", "__weakref__")


def intact(node):
    # The collector's tp_clear (subtype_clear) empties the slots: a node
    # that lost its out-list has been broken by the collector.
    return hasattr(node, "out")


class FinNode(Node):
    """A node with a PEP 442 finalizer."""
    __slots__ = ()
    resurrect = False

    def __del__(self):
        log("fin", NODE_IDS[id(self)])
        out = getattr(self, "out", None)
        if out is None or not all(intact(n) for n in out):
            log("broken", NODE_IDS[id(self)])
        if self.resurrect:
            SAVED.append(self)


class ResNode(FinNode):
    """A node whose finalizer resurrects it into SAVED."""
    __slots__ = ()
    resurrect = True


NODE_TYPES = (Node, FinNode, ResNode)


class WeakRef(weakref.ref):
    """A weak reference object of its own type, so the runner can find its
    instances among gc.get_objects()."""
    __slots__ = ()


def weak_callback(wr):
    # Global and never garbage (GCGRAPH.md).
    log("wrcb", WEAK_IDS[id(wr)])


# ---- reading the file ------------------------------------------------------


class FormatError(Exception):
    pass


def parse(text):
    """The graph as plain data: nodes {nid: (fin, res)}, edges [(s, d)],
    weaks [(wid, target, owner or None, cb)], roots [nid], keeps [nid]."""
    g = {"nodes": {}, "edges": [], "weaks": [], "roots": [], "keeps": []}
    seen_header = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        try:
            if not seen_header:
                if words != ["gcgraph", "1"]:
                    raise FormatError("expected 'gcgraph 1'")
                seen_header = True
                continue
            parse_directive(g, words)
        except FormatError as e:
            raise FormatError("line %d: %s" % (lineno, e)) from None
    if not seen_header:
        raise FormatError("empty file: expected 'gcgraph 1'")
    return g


def number(word):
    if not word.isdigit():
        raise FormatError("expected a number >= 0, got %r" % word)
    return int(word)


def node_ref(g, word):
    nid = number(word)
    if nid not in g["nodes"]:
        raise FormatError("node %d used before its 'node' line" % nid)
    return nid


def parse_directive(g, words):
    op, args = words[0], words[1:]
    if op == "node":
        flags = set(args[1:])
        if not args or not flags <= {"fin", "res"}:
            raise FormatError("usage: node <nid> [fin] [res]")
        nid = number(args[0])
        if nid in g["nodes"]:
            raise FormatError("node %d defined twice" % nid)
        g["nodes"][nid] = ("fin" in flags or "res" in flags, "res" in flags)
    elif op == "edge" and len(args) == 2:
        g["edges"].append((node_ref(g, args[0]), node_ref(g, args[1])))
    elif op == "weak" and len(args) in (3, 4):
        if len(args) == 4 and args[3] != "cb":
            raise FormatError("usage: weak <wid> <target> <owner> [cb]")
        wid = number(args[0])
        if any(w[0] == wid for w in g["weaks"]):
            raise FormatError("weak %d defined twice" % wid)
        owner = None if args[2] == "ext" else node_ref(g, args[2])
        g["weaks"].append((wid, node_ref(g, args[1]), owner, len(args) == 4))
    elif op in ("root", "keep") and len(args) == 1:
        g[op + "s"].append(node_ref(g, args[0]))
    else:
        raise FormatError("unknown or malformed directive %r" % " ".join(words))


# ---- building --------------------------------------------------------------


def build(g):
    """Make the objects. The only references left afterwards are the lists
    of GCGRAPH.md and the objects' own (this function's locals die)."""
    nodes = {}
    for nid, (fin, res) in g["nodes"].items():
        n = (ResNode if res else FinNode if fin else Node)()
        n.nid, n.out, n.weak = nid, [], []
        nodes[nid] = n
        NODE_IDS[id(n)] = nid
    for src, dst in g["edges"]:
        nodes[src].out.append(nodes[dst])
    for wid, target, owner, cb in g["weaks"]:
        wr = WeakRef(nodes[target], weak_callback if cb else None)
        WEAK_IDS[id(wr)] = wid
        (EXT_WEAKS if owner is None else nodes[owner].weak).append(wr)
    ROOTS.extend(nodes[nid] for nid in g["roots"])
    KEEPS.extend(nodes[nid] for nid in g["keeps"])
    BUILDER.extend(nodes[nid] for nid in g["nodes"])


# ---- observing -------------------------------------------------------------


def snapshot():
    """(live node ids, {live weak id: target alive}) from gc.get_objects()."""
    live_nodes, live_weaks = set(), {}
    for o in gc.get_objects():
        t = type(o)
        if t in NODE_TYPES:
            live_nodes.add(NODE_IDS[id(o)])
        elif t is WeakRef:
            live_weaks[WEAK_IDS[id(o)]] = o() is not None
    return live_nodes, live_weaks


def garbage_nodes():
    return {NODE_IDS[id(o)] for o in gc.garbage if type(o) in NODE_TYPES}


def diff(phase, before, after, garbage_before):
    nodes0, weaks0 = before
    nodes1, weaks1 = after
    for nid in nodes0 - nodes1:
        EVENTS.add((phase, "freed", nid))
    for nid in garbage_nodes() - garbage_before:
        EVENTS.add((phase, "garbage", nid))
    for wid, had_target in weaks0.items():
        if wid not in weaks1:
            EVENTS.add((phase, "wgone", wid))
        elif had_target and not weaks1[wid]:
            EVENTS.add((phase, "wclear", wid))


# ---- the phases ------------------------------------------------------------


def collect(label):
    INFO.append("# %s: gc.collect() -> %d" % (label, gc.collect()))


def release(lst):
    # list.clear() empties the list before dropping the items: a finalizer
    # that resurrects into the same list during the release is kept.
    lst.clear()


def phase_build(saveall):
    release(BUILDER)


def phase_drop(saveall):
    release(ROOTS)


def phase_collect(saveall):
    collect("collect")


def phase_final(saveall):
    gc.set_debug(0)
    release(SAVED)
    release(gc.garbage)
    collect("final")


def phase_end(saveall):
    release(KEEPS)
    collect("end/1")
    release(SAVED)
    collect("end/2")


PHASE_FUNCS = dict(build=phase_build, drop=phase_drop, collect=phase_collect,
                   final=phase_final, end=phase_end)


def run(g, saveall):
    gc.disable()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL if saveall else 0)
    build(g)
    before = snapshot()
    for phase in PHASES:
        PHASE[0] = phase
        garbage_before = garbage_nodes()
        PHASE_FUNCS[phase](saveall)
        after = snapshot()
        diff(phase, before, after, garbage_before)
        before = after
    for nid in before[0]:
        EVENTS.add(("end", "leak", nid))


def canonical_lines():
    key = lambda e: (PHASES.index(e[0]), KINDS.index(e[1]), e[2])
    return ["%s %s %d" % e for e in sorted(EVENTS, key=key)]


def main(argv):
    args = argv[1:]
    saveall = "--saveall" in args
    files = [a for a in args if a != "--saveall"]
    if len(files) != 1 or any(a.startswith("-") for a in files):
        sys.stderr.write("usage: oracle.py [--saveall] FILE\n")
        return 2
    try:
        with open(files[0]) as f:
            g = parse(f.read())
    except (OSError, FormatError) as e:
        sys.stderr.write("oracle.py: %s: %s\n" % (files[0], e))
        return 2
    run(g, saveall)
    v = sys.version_info
    out = ["# cpython %d.%d.%d saveall=%d" % (v[0], v[1], v[2], saveall)]
    out += INFO + canonical_lines()
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
