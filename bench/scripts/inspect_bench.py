"""inspect_bench.py -- the CPython side of `pymm bench inspect`: the same graph
shape as bench/inspect/inspect_worker.c (the same generator and order), and
the tools a Python programmer has for the same questions.

Usage (normally run by the driver, bench/inspect/inspect_suite.c, with
/usr/bin/python3 and Debian's python3-objgraph):
    python3 inspect_bench.py SHAPE N REPS LIMIT

Measured, each REPS times (median; time.thread_time, the thread's CPU time):
  census          objgraph.typestats() (every object the collector tracks)
  path            objgraph.find_backref_chain(target, is ROOT, max_depth=1000)
  path_referrers  a breadth-first search back from the target through
                  gc.get_referrers (what objgraph does, without its extras)
  deep            a walk of gc.get_referents from ROOT summing sys.getsizeof,
                  each object once (by id)
A path search that runs past LIMIT seconds of wall time is stopped (SIGALRM):
its time is then reported as LIMIT, a lower bound, with a PMB-NOTE saying so.
No Python tool computes retained sizes. Output: "PMB shape metric value
unit", "PMB-CHECK shape what value", "PMB-NOTE text", "PMB-INFO key value".
"""
import gc
import signal
import statistics
import sys
import time

from pmb_status import peak_rss_kb

DEPTH = 1000
MASK = (1 << 64) - 1
_rng = [42]


def next_rand():
    """xorshift64, inspect_worker.c's next_rand."""
    x = _rng[0]
    x ^= (x << 13) & MASK
    x ^= x >> 7
    x ^= (x << 17) & MASK
    _rng[0] = x
    return x


def emit(shape, metric, value, unit):
    print("PMB %s %s %.9g %s" % (shape, metric, value, unit), flush=True)


def chain(n, at):
    """n lists each holding the next; the first, and the one at index at."""
    nxt, at_obj = None, None
    for k in range(n - 1, -1, -1):
        l = [nxt] if nxt is not None else []
        if k == at:
            at_obj = l
        nxt = l
    return nxt, at_obj


def tree(m):
    nodes = []
    for i in range(m):
        # a dict only with children: CPython tracks no dict of atoms
        node = {} if i % 2 == 0 and 4 * i + 1 < m else []
        nodes.append(node)
        if i:
            parent = nodes[(i - 1) // 4]
            if isinstance(parent, dict):
                parent[(i - 1) % 4] = node
            else:
                parent.append(node)
    return nodes[0]


def random_graph(m):
    nodes = [[] for _ in range(m)]
    for i in range(m):
        if 2 * i + 1 < m:
            nodes[i].append(nodes[2 * i + 1])
        if 2 * i + 2 < m:
            nodes[i].append(nodes[2 * i + 2])
        nodes[i].append(nodes[next_rand() % m])
    return nodes[0]


def build(shape, n):
    root = []
    if shape == "chain":
        first, target = chain(n - 1, DEPTH - 1)
        root.append(first)
    else:
        m = n - 1 - DEPTH
        root.append(tree(m) if shape == "tree" else random_graph(m))
        spine, target = chain(DEPTH, DEPTH - 1)
        root.append(spine)
    return root, target


ROOT = None


class TimeLimit(Exception):
    pass


def _alarm(signum, frame):
    raise TimeLimit()


def timed(fn, limit):
    """(CPU seconds, result, stopped): fn() stopped after limit s of wall time."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    t0 = time.thread_time()
    try:
        result, stopped = fn(), False
    except TimeLimit:
        result, stopped = None, True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return time.thread_time() - t0, result, stopped


def referrers_path(target):
    """Breadth-first back from target through gc.get_referrers to ROOT."""
    parent = {id(target): None}
    keep = [target]
    frontier = [target]
    for _ in range(DEPTH):
        nxt = []
        for o in frontier:
            for r in gc.get_referrers(o):
                if r is frontier or r is nxt or r is keep or id(r) in parent:
                    continue
                if not isinstance(r, (list, dict)):
                    continue  # frames and the search's own objects
                parent[id(r)] = o
                keep.append(r)
                if r is ROOT:
                    path, x = [r], o
                    while x is not None:
                        path.append(x)
                        x = parent[id(x)]
                    return path
                nxt.append(r)
        frontier = nxt
    return None


def deep_size(root):
    seen, stack, total = {id(root)}, [root], 0
    while stack:
        o = stack.pop()
        total += sys.getsizeof(o)
        for r in gc.get_referents(o):
            if id(r) not in seen:
                seen.add(id(r))
                stack.append(r)
    return total


def report(shape, what, times, n, stopped, limit):
    s = statistics.median(times)
    emit(shape, what + "_s", s, "s")
    emit(shape, what + "_objects_per_s", n / s, "objects/s")
    if stopped:
        print("PMB-NOTE %s: python3's %s stopped at the %g s limit: its time is a lower "
              "bound, its rate an upper bound" % (shape, what, limit), flush=True)


def main():
    global ROOT
    shape, n, reps, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    import objgraph

    print("PMB-INFO python %d.%d.%d" % sys.version_info[:3], flush=True)
    print("PMB-INFO objgraph %s" % objgraph.__version__, flush=True)
    gc.disable()
    ROOT, target = build(shape, n)

    times = []
    for _ in range(reps):
        t, stats, _ = timed(lambda: objgraph.typestats(), 1e6)
        times.append(t)
    report(shape, "census", times, n, False, limit)
    print("PMB-CHECK %s census_at_least_n %d" % (shape, sum(stats.values()) >= n), flush=True)

    for what, fn in (
        ("path", lambda: objgraph.find_backref_chain(target, lambda o: o is ROOT,
                                                     max_depth=DEPTH)),
        ("path_referrers", lambda: referrers_path(target)),
    ):
        times, stopped = [], False
        for _ in range(reps):
            t, path, stopped = timed(fn, limit)
            times.append(limit if stopped else t)
            if stopped:
                break  # a lower bound: once is enough
            print("PMB-CHECK %s path_objects %d" % (shape, len(path)), flush=True)
        report(shape, what, times, n, stopped, limit)

    times = []
    for _ in range(reps):
        t, total, _ = timed(lambda: deep_size(ROOT), 1e6)
        times.append(t)
    report(shape, "deep", times, n, False, limit)
    emit(shape, "deep_bytes", total, "B")
    emit(shape, "peak_rss_kb", peak_rss_kb(), "kB")


if __name__ == "__main__":
    main()
