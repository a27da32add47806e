#!/usr/bin/env python3
"""
generate.py -- seeded random gcgraph v1 files (docs/GCGRAPH.md).

Owns: the graph families used by the differential tests (tests/gcgraph),
the text form of a graph, and the check of GCGRAPH.md's rule "Order-dependence
that the generator rules out", which compare.py's minimizer reuses.

    generate.py SEED [--family NAME] [-o FILE]
    generate.py --seeds FIRST:LAST --dir DIR     one file per seed

The same seed always gives the same file (random.Random(seed), nothing
else). Families:
  random     a random digraph, 2..60 nodes
  bigrandom  a random digraph of 200..1,500 nodes with up to twice as many
             weak references (the weak-reference table grows and shrinks)
  clusters   strongly connected clusters wired into a DAG; roots and keeps
             on some clusters, so parts survive and parts are garbage
  chain      a chain of 2,000..5,000 nodes (freed by refcounting: deep)
  ring       a ring of 2,000..5,000 nodes, optionally with a tail and chords
             (freed by the collector)
  resurrect  small cycles whose finalizers resurrect, reaching shared parts
  weakmix    few nodes, many weak references in every position

The order rule. Inside one refcounting release, whether a callback runs can
depend on whether the weak reference's owner or its target dies first. That
needs both to be able to die by refcounting, which a node on a cycle (a
non-trivial strongly connected component, or a self-loop) never does: it
dies only in a collection, where the weak references of and to the garbage
are handled before anything is freed. So a callback weak reference whose
owner is another node is kept only when its owner or its target lies on a
cycle; otherwise it is given to `ext` or to its own target (both
deterministic). Edges never change after the build, so the cycles are those
of the file.
"""

import argparse
import os
import random
import sys


class Graph:
    """A gcgraph v1 graph as plain data (file order kept)."""

    def __init__(self):
        self.nodes = {}   # nid -> "", "fin" or "res"
        self.edges = []   # (src, dst)
        self.weaks = []   # (wid, target, owner or None for ext, cb)
        self.roots = []
        self.keeps = []
        self.comments = []

    def add_node(self, kind=""):
        nid = len(self.nodes)
        self.nodes[nid] = kind
        return nid

    def to_text(self):
        out = ["gcgraph 1"] + ["# " + c for c in self.comments]
        for nid, kind in self.nodes.items():
            out.append(("node %d %s" % (nid, kind)).rstrip())
        out += ["edge %d %d" % e for e in self.edges]
        for wid, target, owner, cb in self.weaks:
            own = "ext" if owner is None else str(owner)
            out.append(("weak %d %d %s %s" % (wid, target, own, "cb" if cb else "")).rstrip())
        out += ["root %d" % n for n in self.roots]
        out += ["keep %d" % n for n in self.keeps]
        return "\n".join(out) + "\n"


def parse(text):
    """The inverse of to_text (comments dropped), for the minimizer."""
    g = Graph()
    for raw in text.splitlines():
        w = raw.split("#", 1)[0].split()
        if not w or w[0] == "gcgraph":
            continue
        if w[0] == "node":
            g.nodes[int(w[1])] = "res" if "res" in w else "fin" if "fin" in w else ""
        elif w[0] == "edge":
            g.edges.append((int(w[1]), int(w[2])))
        elif w[0] == "weak":
            owner = None if w[3] == "ext" else int(w[3])
            g.weaks.append((int(w[1]), int(w[2]), owner, len(w) > 4))
        elif w[0] in ("root", "keep"):
            getattr(g, w[0] + "s").append(int(w[1]))
    return g


# ---- the order rule --------------------------------------------------------


def on_cycle(g):
    """The nodes that lie on a cycle: members of a strongly connected
    component of two or more nodes, or with a self-loop. Iterative Tarjan
    (chains of thousands of nodes would overflow Python's recursion)."""
    succ = {n: [] for n in g.nodes}
    result = set()
    for s, d in g.edges:
        succ[s].append(d)
        if s == d:
            result.add(s)
    index, low, stack, on_stack = {}, {}, [], set()
    counter = 0
    for start in g.nodes:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            if i < len(succ[v]):
                work.append((v, i + 1))
                w = succ[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    result.update(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return result


def order_violations(g):
    """The callback weak references GCGRAPH.md's rule forbids."""
    cyc = on_cycle(g)
    return [w for w in g.weaks
            if w[3] and w[2] is not None and w[2] != w[1]
            and w[2] not in cyc and w[1] not in cyc]


def fix_order(g, rng):
    """Give every forbidden callback weak reference to ext or its target."""
    bad = set(w[0] for w in order_violations(g))
    fixed = []
    for wid, target, owner, cb in g.weaks:
        if wid in bad:
            owner = None if rng.random() < 0.5 else target
        fixed.append((wid, target, owner, cb))
    g.weaks = fixed


# ---- building blocks -------------------------------------------------------


def node_kind(rng, p_fin=0.2, p_res=0.07):
    x = rng.random()
    return "res" if x < p_res else "fin" if x < p_res + p_fin else ""


def add_nodes(g, rng, n, **kw):
    return [g.add_node(node_kind(rng, **kw)) for _ in range(n)]


def add_weaks(g, rng, count, targets=None, owners=None):
    """count weak references: targets and owners drawn from the given nodes
    (default: all); owners are ext a third of the time."""
    targets = targets or list(g.nodes)
    owners = owners or list(g.nodes)
    for _ in range(count):
        target = rng.choice(targets)
        x = rng.random()
        owner = None if x < 0.33 else target if x < 0.45 else rng.choice(owners)
        g.weaks.append((len(g.weaks), target, owner, rng.random() < 0.6))


def pick(rng, nodes, p):
    return [n for n in nodes if rng.random() < p]


def finish(g, rng):
    fix_order(g, rng)
    assert not order_violations(g)
    return g


# ---- families ----------------------------------------------------------------


def family_random(rng):
    g = Graph()
    n = rng.randint(2, 60)
    nodes = add_nodes(g, rng, n)
    density = rng.choice((0.5, 1.0, 1.5, 2.5))
    for _ in range(int(n * density)):
        g.edges.append((rng.choice(nodes), rng.choice(nodes)))
    add_weaks(g, rng, rng.randint(0, n))
    g.roots = pick(rng, nodes, 0.2)
    g.keeps = pick(rng, nodes, 0.08)
    return g


def family_bigrandom(rng):
    g = Graph()
    n = rng.randint(200, 1500)
    nodes = add_nodes(g, rng, n)
    for _ in range(int(n * rng.choice((0.7, 1.0, 1.3, 2.0)))):
        g.edges.append((rng.choice(nodes), rng.choice(nodes)))
    add_weaks(g, rng, rng.randint(0, 2 * n))
    g.roots = pick(rng, nodes, 0.1)
    g.keeps = pick(rng, nodes, 0.02)
    return g


def family_clusters(rng):
    g = Graph()
    clusters = []
    for _ in range(rng.randint(2, 12)):
        members = add_nodes(g, rng, rng.randint(1, 8))
        ring = members + members[:1]
        g.edges += list(zip(ring, ring[1:]))     # one ring (a self-loop if alone)
        for _ in range(rng.randint(0, len(members))):
            g.edges.append((rng.choice(members), rng.choice(members)))
        clusters.append(members)
    for i, src in enumerate(clusters):           # DAG: only to later clusters
        for dst in clusters[i + 1:]:
            if rng.random() < 0.3:
                g.edges.append((rng.choice(src), rng.choice(dst)))
    tails = add_nodes(g, rng, rng.randint(0, 6))  # acyclic hangers-on
    for t in tails:
        g.edges.append((rng.choice(list(g.nodes)), t))
    add_weaks(g, rng, rng.randint(0, 2 * len(clusters)))
    g.roots = [rng.choice(c) for c in clusters if rng.random() < 0.4]
    g.keeps = [rng.choice(c) for c in clusters if rng.random() < 0.15]
    return g


def family_chain(rng):
    g = Graph()
    nodes = add_nodes(g, rng, rng.randint(2000, 5000), p_fin=0.05, p_res=0.0005)
    g.edges += list(zip(nodes, nodes[1:]))
    add_weaks(g, rng, rng.randint(0, 50))
    g.roots = [nodes[0]]
    if rng.random() < 0.3:
        g.keeps = [rng.choice(nodes)]
    return g


def family_ring(rng):
    g = Graph()
    nodes = add_nodes(g, rng, rng.randint(2000, 5000), p_fin=0.05, p_res=0.0005)
    g.edges += list(zip(nodes, nodes[1:] + nodes[:1]))
    for _ in range(rng.randint(0, 20)):              # chords
        g.edges.append((rng.choice(nodes), rng.choice(nodes)))
    tail = add_nodes(g, rng, rng.randint(0, 300))    # a chain hanging off it
    g.edges += list(zip([rng.choice(nodes)] + tail, tail))
    add_weaks(g, rng, rng.randint(0, 50))
    g.roots = [nodes[0]]
    if rng.random() < 0.2:
        g.keeps = [rng.choice(list(g.nodes))]
    return g


def family_resurrect(rng):
    g = Graph()
    shared = add_nodes(g, rng, rng.randint(1, 6), p_fin=0.3, p_res=0.0)
    for _ in range(rng.randint(1, 6)):
        ring = add_nodes(g, rng, rng.randint(1, 5), p_fin=0.4, p_res=0.3)
        ring_edges = list(zip(ring, ring[1:] + ring[:1]))
        g.edges += ring_edges if rng.random() < 0.8 else ring_edges[:-1]
        g.edges.append((rng.choice(ring), rng.choice(shared)))
        if rng.random() < 0.5:
            g.roots.append(ring[0])
    for _ in range(rng.randint(0, 4)):
        g.edges.append((rng.choice(shared), rng.choice(shared)))
    add_weaks(g, rng, rng.randint(0, 3 * len(g.nodes)))
    g.keeps = pick(rng, list(g.nodes), 0.05)
    return g


def family_weakmix(rng):
    g = Graph()
    nodes = add_nodes(g, rng, rng.randint(1, 10))
    for _ in range(rng.randint(0, 2 * len(nodes))):
        g.edges.append((rng.choice(nodes), rng.choice(nodes)))
    add_weaks(g, rng, rng.randint(1, 40))
    g.roots = pick(rng, nodes, 0.3)
    g.keeps = pick(rng, nodes, 0.1)
    return g


FAMILIES = dict(random=family_random, bigrandom=family_bigrandom, clusters=family_clusters,
                chain=family_chain, ring=family_ring, resurrect=family_resurrect,
                weakmix=family_weakmix)
# How often each family comes up: the big ones are slow, so rarer.
WEIGHTS = dict(random=28, bigrandom=4, clusters=24, chain=2, ring=2, resurrect=20, weakmix=20)


def generate(seed, family=None):
    rng = random.Random(seed)
    if family is None:
        names = list(WEIGHTS)
        family = rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]
    g = finish(FAMILIES[family](rng), rng)
    g.comments.insert(0, "generate.py seed %d family %s" % (seed, family))
    return g


def main(argv):
    ap = argparse.ArgumentParser(description="seeded random gcgraph v1 files")
    ap.add_argument("seed", nargs="?", type=int)
    ap.add_argument("--family", choices=sorted(FAMILIES))
    ap.add_argument("-o", "--output")
    ap.add_argument("--seeds", help="FIRST:LAST (inclusive), with --dir")
    ap.add_argument("--dir")
    a = ap.parse_args(argv[1:])
    if a.seeds:
        if not a.dir:
            ap.error("--seeds needs --dir")
        first, last = (int(x) for x in a.seeds.split(":"))
        os.makedirs(a.dir, exist_ok=True)
        for seed in range(first, last + 1):
            with open(os.path.join(a.dir, "seed%d.txt" % seed), "w") as f:
                f.write(generate(seed, a.family).to_text())
        return 0
    if a.seed is None:
        ap.error("give a SEED or --seeds")
    text = generate(a.seed, a.family).to_text()
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
