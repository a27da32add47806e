"""objects_json.py -- json-NAME of `pymm bench objects`, impl python3.

The same measurement as the C workers (bench/objects/objects_json.c):
  1. RUNS timed runs of json.loads on the file's bytes, already in memory
     (json.loads(bytes) decodes the UTF-8 itself, as the C parsers validate
     it), then `del` of the result: load_s and free_s, median of each, in
     process CPU time (time.process_time(), the C workers' clock);
  2. peak_rss_kb: VmHWM of the process at that point;
  3. one run under tracemalloc, not timed: the bytes of the blocks the
     load left allocated, over the number of JSON values (objects, arrays,
     strings, numbers, literals; keys are not values). tracemalloc records
     the bytes each allocation requested; each is rounded as pymalloc (or,
     above 512 bytes, glibc) rounds it, as the C workers count block bytes
     (requested_bytes_per_value keeps the unrounded figure). It runs last
     because its own bookkeeping would inflate the peak RSS. The cyclic
     collector stays enabled, as in any program.

Usage: python3 objects_json.py CASE FILE RUNS
Prints "PMB CASE METRIC VALUE UNIT" lines and "PMB-CHECK CASE values N".
"""
import json
import statistics
import sys
import time
import tracemalloc

from pmb_status import peak_rss_kb


def count_values(root):
    n = 0
    stack = [root]
    while stack:
        v = stack.pop()
        n += 1
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return n


def timed_runs(data, runs):
    """The median of the runs' load times and of their free times."""
    loads, frees = [], []
    for _ in range(runs):
        t0 = time.process_time()
        doc = json.loads(data)
        t1 = time.process_time()
        del doc
        t2 = time.process_time()
        loads.append(t1 - t0)
        frees.append(t2 - t1)
    return statistics.median(loads), statistics.median(frees)


def block_bytes(requested):
    """The bytes a block of that request occupies, as the C workers count
    theirs: pymalloc's 16-byte classes up to 512 bytes; above, glibc's
    malloc_usable_size (the request plus its 8-byte header rounded up to
    16, minus the header) -- what jansson's and cJSON's figures count."""
    if requested <= 512:
        return max(16, (requested + 15) // 16 * 16)
    return max(24, (requested + 8 + 15) // 16 * 16 - 8)


def measured_run(data):
    """Bytes of the tree's blocks (rounded as the allocator rounds them) and
    bytes requested, from one tracemalloc snapshot right after the load:
    tracemalloc traces only what was allocated since it started, and each
    live block is one trace."""
    tracemalloc.start()
    doc = json.loads(data)
    traces = tracemalloc.take_snapshot().traces
    tracemalloc.stop()
    requested = sum(t.size for t in traces)
    blocks = sum(block_bytes(t.size) for t in traces)
    return blocks, requested, count_values(doc)


def main():
    case, path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(path, "rb") as f:
        data = f.read()
    load, free = timed_runs(data, runs)
    rss = peak_rss_kb()
    used, requested, values = measured_run(data)
    print("PMB %s load_s %.9g s" % (case, load))
    print("PMB %s free_s %.9g s" % (case, free))
    print("PMB %s peak_rss_kb %d KiB" % (case, rss))
    print("PMB %s bytes_per_value %.9g B" % (case, used / values))
    print("PMB %s requested_bytes_per_value %.9g B" % (case, requested / values))
    print("PMB-CHECK %s values %d" % (case, values))


if __name__ == "__main__":
    main()
