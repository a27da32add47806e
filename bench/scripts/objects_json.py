"""objects_json.py -- json-NAME of `pymm bench objects`, impl python3.

The same measurement as the C workers (bench/objects_json.c):
  1. RUNS timed runs of json.loads on the file's bytes, already in memory
     (json.loads(bytes) decodes the UTF-8 itself, as the C parsers validate
     it), then `del` of the result: load_s and free_s, minimum of each, in
     process CPU time (time.process_time(), the C workers' clock);
  2. peak_rss_kb: VmHWM of the process at that point;
  3. one run under tracemalloc, not timed: traced bytes after the load minus
     before, over the number of JSON values (objects, arrays, strings,
     numbers, literals; keys are not values). tracemalloc counts the bytes
     requested by every allocation (pymalloc's rounding to 16 bytes is not
     included); it runs last because its own bookkeeping would inflate the
     peak RSS. The cyclic collector stays enabled, as in any program.

Usage: python3 objects_json.py CASE FILE RUNS
Prints "PMB CASE METRIC VALUE UNIT" lines and "PMB-CHECK CASE values N".
"""
import json
import sys
import time
import tracemalloc


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
    load = free = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        doc = json.loads(data)
        t1 = time.process_time()
        del doc
        t2 = time.process_time()
        load = min(load, t1 - t0)
        free = min(free, t2 - t1)
    return load, free


def peak_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def measured_run(data):
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    doc = json.loads(data)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used, count_values(doc)


def main():
    case, path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(path, "rb") as f:
        data = f.read()
    load, free = timed_runs(data, runs)
    rss = peak_rss_kb()
    used, values = measured_run(data)
    print("PMB %s load_s %.9g s" % (case, load))
    print("PMB %s free_s %.9g s" % (case, free))
    print("PMB %s peak_rss_kb %d KiB" % (case, rss))
    print("PMB %s bytes_per_value %.9g B" % (case, used / values))
    print("PMB-CHECK %s values %d" % (case, values))


if __name__ == "__main__":
    main()
