#!/usr/bin/env python3
"""
compare.py -- run a gcgraph file through `pymm gcgraph` and through
oracle.py (CPython), compare the canonical lines, and shrink a graph on
which they differ.

Owns: running both runners (the oracle in a forked child of this process:
a fresh copy with none of the oracle's state, without a new interpreter's
start-up), the comparison (`#` lines ignored, GCGRAPH.md), and the
minimizer, which tests/gcgraph's driver and a person chasing a mismatch
share.

    compare.py --pymm PATH [--saveall | --both] [--debug] [--minimize] FILE...

Exit status: 0 when every file agrees, 1 on a difference, 2 on misuse.
With --minimize, each differing graph is shrunk (keeping GCGRAPH.md's order
rule, so the difference stays meaningful) and written beside it as
NAME.min.txt, with the diff.
"""

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate  # noqa: E402
import oracle  # noqa: E402


class Result:
    def __init__(self, status, out, err):
        self.status, self.out, self.err = status, out, err

    def lines(self):
        """The compared lines; a failed run compares as its failure."""
        if self.status != 0:
            return ["<exit status %s> %s" % (self.status, self.err.strip()[-500:])]
        return [l for l in self.out.splitlines() if not l.startswith("#")]


def run_oracle(path, saveall):
    """oracle.py on path, in a forked child; its output through temp files
    (a pipe could fill while the parent waits)."""
    args = ["oracle.py"] + (["--saveall"] if saveall else []) + [path]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                code = oracle.main(args)
            except BaseException:
                traceback.print_exc()
                code = 70
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return Result(os.waitstatus_to_exitcode(status), out.read().decode(), err.read().decode())


def run_pymm(pymm, path, saveall, debug=False):
    cmd = [pymm, "gcgraph"] + (["--saveall"] if saveall else []) + (["--debug"] if debug else [])
    try:
        p = subprocess.run(cmd + [path], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return Result("timeout", "", "timed out after 300 s")
    return Result(p.returncode, p.stdout, p.stderr)


def compare(pymm, path, saveall, debug=False):
    """The unified diff (oracle -> pymm) as a list of lines; empty: equal."""
    want = run_oracle(path, saveall).lines()
    got = run_pymm(pymm, path, saveall, debug).lines()
    if want == got:
        return []
    return list(difflib.unified_diff(want, got, "cpython", "pymm", lineterm=""))


# ---- minimizing --------------------------------------------------------------


def without_nodes(g, gone):
    h = generate.Graph()
    h.nodes = {n: k for n, k in g.nodes.items() if n not in gone}
    h.edges = [e for e in g.edges if e[0] not in gone and e[1] not in gone]
    h.weaks = [w for w in g.weaks if w[1] not in gone and w[2] not in gone]
    h.roots = [n for n in g.roots if n not in gone]
    h.keeps = [n for n in g.keeps if n not in gone]
    return h


def with_list(g, field, items):
    h = without_nodes(g, set())
    setattr(h, field, items)
    return h


def shrink_list(items, fails, make):
    """ddmin-style: drop chunks of items while the graph still fails."""
    chunk = max(len(items) // 2, 1)
    while items:
        i, progress = 0, False
        while i < len(items):
            trial = items[:i] + items[i + chunk:]
            if fails(make(trial)):
                items, progress = trial, True
            else:
                i += chunk
        if chunk == 1 and not progress:
            break
        chunk = max(chunk // 2, 1)
    return items


def simplify_flags(g, fails):
    """res -> fin -> plain, callback -> none, owner -> ext, one at a time."""
    for n in list(g.nodes):
        for kind in ("", "fin"):
            if g.nodes[n] != kind and (kind == "" or g.nodes[n] == "res"):
                h = without_nodes(g, set())
                h.nodes[n] = kind
                if fails(h):
                    g = h
                    break
    no_callback = lambda w: (w[0], w[1], w[2], False)
    owned_by_ext = lambda w: (w[0], w[1], None, w[3])
    for i in range(len(g.weaks)):
        for change in (no_callback, owned_by_ext):
            simpler = change(g.weaks[i])
            if simpler != g.weaks[i]:
                h = with_list(g, "weaks", g.weaks[:i] + [simpler] + g.weaks[i + 1:])
                if fails(h):
                    g = h
    return g


def renumbered(g):
    """The same graph with nodes and weak references numbered 0, 1, ...
    in file order (numbers only decide the order of the output lines)."""
    nid = {n: i for i, n in enumerate(g.nodes)}
    h = generate.Graph()
    h.nodes = {nid[n]: k for n, k in g.nodes.items()}
    h.edges = [(nid[s], nid[d]) for s, d in g.edges]
    h.weaks = [(i, nid[t], None if o is None else nid[o], cb)
               for i, (_, t, o, cb) in enumerate(g.weaks)]
    h.roots = [nid[n] for n in g.roots]
    h.keeps = [nid[n] for n in g.keeps]
    return h


def minimize(g, fails):
    """A smaller graph on which fails() still holds. fails() is only asked
    about graphs that keep GCGRAPH.md's order rule."""
    def ok_fails(h):
        return not generate.order_violations(h) and fails(h)
    while True:
        size = (len(g.nodes), len(g.edges), len(g.weaks), len(g.roots), len(g.keeps))
        keep = shrink_list(list(g.nodes), ok_fails,
                           lambda ns: without_nodes(g, set(g.nodes) - set(ns)))
        g = without_nodes(g, set(g.nodes) - set(keep))
        for field in ("edges", "weaks", "roots", "keeps"):
            items = shrink_list(getattr(g, field), ok_fails, lambda xs, f=field: with_list(g, f, xs))
            g = with_list(g, field, items)
        g = simplify_flags(g, ok_fails)
        if size == (len(g.nodes), len(g.edges), len(g.weaks), len(g.roots), len(g.keeps)):
            h = renumbered(g)
            return h if ok_fails(h) else g


def minimize_file(pymm, path, saveall, debug=False):
    """Shrink the graph in path; returns (minimized text, its diff)."""
    with open(path) as f:
        g = generate.parse(f.read())
    with tempfile.TemporaryDirectory() as tmp:
        trial = os.path.join(tmp, "trial.txt")

        def fails(h):
            with open(trial, "w") as f:
                f.write(h.to_text())
            return bool(compare(pymm, trial, saveall, debug))

        g = minimize(g, fails)
        text = g.to_text()
        with open(trial, "w") as f:
            f.write(text)
        return text, compare(pymm, trial, saveall, debug)


def main(argv):
    ap = argparse.ArgumentParser(description="pymm gcgraph against CPython")
    ap.add_argument("--pymm", required=True, help="the pymm command")
    ap.add_argument("--saveall", action="store_true")
    ap.add_argument("--both", action="store_true", help="normal and --saveall")
    ap.add_argument("--debug", action="store_true", help="pymm's object debug checks")
    ap.add_argument("--minimize", action="store_true")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args(argv[1:])
    modes = [False, True] if a.both else [a.saveall]
    status = 0
    for path in a.files:
        for saveall in modes:
            d = compare(a.pymm, path, saveall, a.debug)
            if not d:
                continue
            status = 1
            print("MISMATCH %s%s" % (path, " --saveall" if saveall else ""))
            print("\n".join(d))
            if a.minimize:
                text, d = minimize_file(a.pymm, path, saveall, a.debug)
                out = os.path.splitext(path)[0] + (".saveall" if saveall else "") + ".min.txt"
                with open(out, "w") as f:
                    f.write(text)
                print("minimized -> %s\n%s%s" % (out, text, "\n".join(d)))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
