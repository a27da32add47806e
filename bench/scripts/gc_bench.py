"""gc_bench.py -- the CPython side of `pymm bench gc`: one case of the
cycle-collector suite in a fresh interpreter. Its pymm twin is
bench/gc/gc_worker.c; both build the same graph shapes from the same arguments.

Usage (normally run by the driver, bench/gc/gc_suite.c):
    python3 gc_bench.py CASE N REPS AUX

Cases (N, REPS and AUX as in gc_worker.c):
  pairs              N instances of Node in N/2 two-object cycles, garbage;
                     REPS builds, each followed by a timed gc.collect()
  selfref-lists      N lists `l = []; l.append(l)`, garbage; likewise
  live-full          N/2 Node cycles whose first objects a root list holds;
                     REPS timed gc.collect() of the live graph
  young-pause-100k   that live graph with N old objects moved to the oldest
  young-pause-1m     generation by gc.collect(), then REPS times: AUX young
                     objects (AUX/2 garbage cycles) and a timed gc.collect(0)
  json-load          the document of gen_doc(N), json.loads'ed REPS times
                     with the collector on (default thresholds) and off
  header-bytes       tracemalloc bytes per instance of `__slots__ = ()`
                     (and, as node-bytes, of Node) over N instances

Node is a plain class with one attribute (`self.ref`), no __slots__: what
"instances of a class" are in most programs. gc.disable() keeps automatic
collection off while graphs are built. Timed sections use time.thread_time()
(the thread's CPU time, the clock gc_worker.c reads); a timed figure is the
median of the process's repetitions, as in gc_worker.c. Output:
"PMB case metric value unit", "PMB-CHECK case what value", "PMB-NOTE text"
and "PMB-INFO key value".
"""
import gc
import json
import statistics
import sys
import time
import tracemalloc
import zlib

from pmb_status import peak_rss_kb


class Node:
    def __init__(self):
        self.ref = None


class Empty:
    __slots__ = ()


def emit(case, metric, value, unit):
    print("PMB %s %s %.9g %s" % (case, metric, value, unit), flush=True)


def check(case, what, value):
    print("PMB-CHECK %s %s %d" % (case, what, value), flush=True)


def tracked_now():
    """Every object a full collection sees: the interpreter's own too."""
    return len(gc.get_objects())


# ---- graphs ------------------------------------------------------------------

def new_pair():
    a = Node()
    b = Node()
    a.ref = b
    b.ref = a
    return a


def build_garbage_pairs(n):
    for _ in range(n // 2):
        new_pair()


def build_selfref_lists(n):
    for _ in range(n):
        l = []
        l.append(l)


def build_live_pairs(n):
    return [new_pair() for _ in range(n // 2)]


# ---- (a) (b) (c): objects per second of a full collection ----------------------

def timed_full(case, expect_found):
    t0 = time.thread_time()
    found = gc.collect()
    t = time.thread_time() - t0
    if found != expect_found:
        print("PMB-NOTE %s: python3: gc.collect() found %d unreachable objects, expected %d"
              % (case, found, expect_found))
    return t


def emit_rate(case, tracked, times):
    """The median collection time of the repetitions."""
    median = statistics.median(times)
    emit(case, "objects_per_s", tracked / median, "objects/s")
    emit(case, "collect_ms", median * 1e3, "ms")
    emit(case, "tracked", tracked, "objects")


def case_garbage(case, n, reps, build):
    times = []
    tracked = 0
    for _ in range(reps):
        tracked = tracked_now() + n
        build(n)
        times.append(timed_full(case, n))
    emit_rate(case, tracked, times)
    check(case, "found", n)


def case_live_full(case, n, reps):
    base = tracked_now()
    root = build_live_pairs(n)
    tracked = base + n + 1  # the root list too
    emit_rate(case, tracked, [timed_full(case, 0) for _ in range(reps)])
    del root


# ---- (d) the pause of a young collection -----------------------------------------

def case_young(case, n, reps, young):
    root = build_live_pairs(n)
    gc.collect()
    pauses = []
    found = 0
    for _ in range(reps):
        build_garbage_pairs(young)
        t0 = time.thread_time()
        found = gc.collect(0)
        pauses.append((time.thread_time() - t0) * 1e3)
    emit(case, "pause_ms", statistics.median(pauses), "ms")
    emit(case, "pause_max_ms", max(pauses), "ms")
    emit(case, "old_objects", n, "objects")
    check(case, "found", found)
    del root


# ---- (e) the collector's share of loading a JSON document ---------------------------

TAGS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"]
CITIES = ["Paris", "Tokyo", "Lima", "Oslo", "Cairo", "Quito", "Perth", "Dakar"]
STREETS = ["Main", "Oak", "Pine", "Maple", "Cedar"]
RECORD = ('{"id":%d,"name":"user%d","active":%s,"score":%d.%02d,'
          '"tags":["%s","%s","%s"],"point":[%d,%d],'
          '"address":{"street":"%d %s St","city":"%s","zip":"%05d"}}')


def gen_record(i):
    """Record i, byte for byte gc_worker.c's gen_record."""
    x = (i * 2654435761) & 0xFFFFFFFF
    return RECORD % (
        i, x % 100000, "true" if x & 1 else "false", x % 10000, (x >> 8) % 100,
        TAGS[x % 7], TAGS[(x >> 3) % 7], TAGS[(x >> 6) % 7], x % 1000,
        (x >> 10) % 1000, 1 + (x >> 4) % 999, STREETS[(x >> 9) % 5],
        CITIES[(x >> 12) % 8], (x >> 7) % 100000)


def gen_doc(n):
    return "[" + ",".join(gen_record(i) for i in range(n)) + "]"


def collections(full_only):
    stats = gc.get_stats()
    if full_only:
        return stats[2]["collections"]
    return sum(s["collections"] for s in stats)


class LoadStats:
    """What one load cost: its time, and the CPU time inside collections
    (between each collection's "start" and "stop" callbacks)."""

    def __init__(self):
        self.t = float("inf")
        self.in_gc = self.mark = 0.0
        self.ncoll = self.nfull = 0

    def callback(self, phase, info):
        if phase == "start":
            self.mark = time.thread_time()
        else:
            self.in_gc += time.thread_time() - self.mark


def timed_load(doc, gc_on):
    """One load from a clean state (no garbage, counts zero)."""
    ls = LoadStats()
    gc.collect()
    c0, f0 = collections(False), collections(True)
    gc.callbacks.append(ls.callback)
    if gc_on:
        gc.enable()
    t0 = time.thread_time()
    o = json.loads(doc)
    ls.t = time.thread_time() - t0
    gc.disable()
    gc.callbacks.remove(ls.callback)
    ls.ncoll, ls.nfull = collections(False) - c0, collections(True) - f0
    del o
    return ls


def case_json(case, n, reps):
    doc = gen_doc(n)
    data = doc.encode()
    check(case, "bytes", len(data))
    check(case, "crc32", zlib.crc32(data))
    del data
    on, off = [], []
    for _ in range(reps):  # alternating: a slow period hits both modes
        on.append(timed_load(doc, True))
        off.append(timed_load(doc, False).t)
    # Medians of the repetitions; the direct share per load, as gc_worker.c.
    on_t, off_t = statistics.median(ls.t for ls in on), statistics.median(off)
    emit(case, "gc_share_direct", statistics.median(100.0 * ls.in_gc / ls.t for ls in on), "%")
    emit(case, "gc_share", 100.0 * (on_t - off_t) / on_t, "%")
    emit(case, "load_gc_on_s", on_t, "s")
    emit(case, "load_gc_off_s", off_t, "s")
    emit(case, "collector_s", statistics.median(ls.in_gc for ls in on), "s")
    emit(case, "collections", on[-1].ncoll, "collections")
    emit(case, "full_collections", on[-1].nfull, "collections")
    emit(case, "threshold0", gc.get_threshold()[0], "allocations")


# ---- (f) bytes per tracked object ----------------------------------------------------

def block_bytes(cls, n):
    """tracemalloc bytes per instance over n live instances: as requested,
    and rounded up to pymalloc's 16-byte classes (pymm's heap statistics
    count whole blocks). The holding list is allocated before tracing."""
    v = [None] * n
    tracemalloc.start()
    for i in range(n):
        v[i] = cls()
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    requested = sum(t.size for t in snap.traces)
    blocks = sum((t.size + 15) // 16 * 16 if t.size <= 512 else t.size for t in snap.traces)
    del v
    return requested / n, blocks / n


def case_header(case, n):
    requested, blocks = block_bytes(Empty, n)
    emit(case, "bytes", blocks, "B")
    emit(case, "requested_bytes", requested, "B")
    requested, blocks = block_bytes(Node, n)
    emit("node-bytes", "bytes", blocks, "B")
    emit("node-bytes", "requested_bytes", requested, "B")
    print("PMB-INFO getsizeof_empty %d" % sys.getsizeof(Empty()))


# ---------------------------------------------------------------------------------------

def run_case(case, n, reps, aux):
    if case == "pairs":
        case_garbage(case, n, reps, build_garbage_pairs)
    elif case == "selfref-lists":
        case_garbage(case, n, reps, build_selfref_lists)
    elif case == "live-full":
        case_live_full(case, n, reps)
    elif case.startswith("young-pause-"):
        case_young(case, n, reps, aux)
    elif case == "json-load":
        case_json(case, n, reps)
    elif case == "header-bytes":
        case_header(case, n)
    else:
        return 2
    emit(case, "peak_rss_kb", peak_rss_kb(), "KiB")
    return 0


def main():
    if len(sys.argv) != 5:
        sys.stderr.write("usage: python3 gc_bench.py CASE N REPS AUX\n")
        return 2
    case = sys.argv[1]
    n, reps, aux = (int(a) for a in sys.argv[2:5])
    print("PMB-INFO python %s" % sys.version.split()[0])
    gc.disable()  # graphs are built with automatic collection off
    gc.collect()  # the interpreter's start-up garbage is not the case's
    rc = run_case(case, n, reps, aux)
    if rc == 2:
        sys.stderr.write("gc_bench.py: unknown case %r\n" % case)
    return rc


if __name__ == "__main__":
    sys.exit(main())
