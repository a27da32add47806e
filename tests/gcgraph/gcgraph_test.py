#!/usr/bin/env python3
"""
gcgraph_test.py -- the CTest driver of tests/gcgraph: `pymm gcgraph`
against CPython's answers.

Owns the three kinds of check registered by tests/gcgraph/CMakeLists.txt
(the format: docs/GCGRAPH.md):

  examples DIR   every DIR/NAME.txt of tests/gcgraph/examples, normal
                 and --saveall, against NAME.expected and
                 NAME.saveall.expected (CPython's own output)
  cases DIR      the hand-written cases beside this file, against expected
                 files that tools/gcgraph/oracle.py wrote (--regen rewrites
                 them)
  random A:B     the graphs generate.py makes for seeds A..B, normal and
                 --saveall, pymm against oracle.py run here and now;
                 skipped (status 77) unless python3 is CPython 3.11

`#` lines are never compared (GCGRAPH.md). Expected files are also checked
against oracle.py when python3 is CPython 3.11 (the examples' version), so a
drift of the oracle is found where it starts. On a random mismatch the
graph is written to the working directory and the first one is minimized.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "gcgraph"))
import compare  # noqa: E402
import generate  # noqa: E402

ORACLE_OK = sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11)
SKIP = 77  # CTest's SKIP_RETURN_CODE: reported as skipped, never as passed


def read_expected(path):
    with open(path) as f:
        return [l for l in f.read().splitlines() if not l.startswith("#")]


MAX_DIFF_LINES = 40


def diff(want, got, what):
    return list(compare.difflib.unified_diff(want, got, what, "pymm", lineterm=""))


def shown(d):
    """A diff for the log: its head (a crash makes every line differ)."""
    more = len(d) - MAX_DIFF_LINES
    return "\n".join(d[:MAX_DIFF_LINES] + (["... %d more lines" % more] if more > 0 else []))


def check_expected(args, txt, saveall):
    """pymm (and, on 3.11, the oracle) against the stored expected lines."""
    stem = txt[:-len(".txt")]
    exp = stem + (".saveall.expected" if saveall else ".expected")
    label = "%s%s" % (os.path.basename(txt), " --saveall" if saveall else "")
    if not os.path.exists(exp):
        return ["%s: missing %s" % (label, os.path.basename(exp))]
    want = read_expected(exp)
    problems = []
    d = diff(want, compare.run_pymm(args.pymm, txt, saveall, args.debug).lines(), "expected")
    if d:
        problems.append("MISMATCH pymm %s\n%s" % (label, shown(d)))
    if ORACLE_OK:
        d = diff(want, compare.run_oracle(txt, saveall).lines(), "expected")
        if d:
            problems.append("MISMATCH oracle.py %s\n%s" % (label, shown(d)))
    return problems


def run_stored(args):
    if not os.path.isdir(args.dir):
        print("%s is absent" % args.dir)
        return 1
    files = sorted(os.path.join(args.dir, f) for f in os.listdir(args.dir)
                   if f.endswith(".txt") and not f.endswith(".min.txt"))
    if args.regen:
        return regen(files)
    problems = []
    for txt in files:
        for saveall in (False, True):
            problems += check_expected(args, txt, saveall)
    for p in problems:
        print(p)
    print("%d graphs x 2 modes, %d problems%s" % (len(files), len(problems),
          "" if ORACLE_OK else " (oracle not checked: python3 is not CPython 3.11)"))
    return 1 if problems or not files else 0


def regen(files):
    """Rewrite the expected files with oracle.py (hand-written cases only)."""
    if not ORACLE_OK:
        print("--regen needs CPython 3.11")
        return 2
    for txt in files:
        stem = txt[:-len(".txt")]
        for saveall, suffix in ((False, ".expected"), (True, ".saveall.expected")):
            r = compare.run_oracle(txt, saveall)
            if r.status != 0:
                print("%s: oracle failed: %s" % (txt, r.err))
                return 1
            with open(stem + suffix, "w") as f:
                f.write(r.out)
    print("rewrote %d cases" % len(files))
    return 0


def run_random(args):
    if not ORACLE_OK:
        print("SKIP: python3 is %s %s; the oracle is CPython 3.11's answer" %
              (sys.implementation.name, sys.version.split()[0]))
        return SKIP
    first, last = (int(x) for x in args.seeds.split(":"))
    t0 = time.time()
    failures = []
    for seed in range(first, last + 1):
        path = os.path.abspath("gcgraph-seed%d.txt" % seed)
        with open(path, "w") as f:
            f.write(generate.generate(seed).to_text())
        failed = False
        for saveall in (False, True):
            d = compare.compare(args.pymm, path, saveall, args.debug)
            if d:
                failed = True
                failures.append((seed, saveall, path))
                print("MISMATCH seed %d%s (%s)\n%s" % (seed, " --saveall" if saveall else "",
                      path, shown(d)))
        if not failed:
            os.remove(path)
    if failures and args.minimize:
        seed, saveall, path = failures[0]
        text, d = compare.minimize_file(args.pymm, path, saveall, args.debug)
        print("minimized seed %d%s:\n%s%s" % (seed, " --saveall" if saveall else "", text, shown(d)))
    print("seeds %d..%d: %d graphs x 2 modes, %d mismatches, %.1f s" %
          (first, last, last - first + 1, len(failures), time.time() - t0))
    return 1 if failures else 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--pymm", required=True)
    ap.add_argument("--debug", action="store_true", help="pymm gcgraph --debug")
    sub = ap.add_subparsers(dest="what", required=True)
    for name in ("examples", "cases"):
        p = sub.add_parser(name)
        p.add_argument("dir")
        p.add_argument("--regen", action="store_true", help="rewrite expected files (cases)")
    p = sub.add_parser("random")
    p.add_argument("seeds", help="FIRST:LAST, inclusive")
    p.add_argument("--no-minimize", dest="minimize", action="store_false")
    args = ap.parse_args(argv[1:])
    if args.what == "random":
        return run_random(args)
    if args.what == "examples" and getattr(args, "regen", False):
        ap.error("the examples are CPython's answers: never regenerated")
    return run_stored(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
