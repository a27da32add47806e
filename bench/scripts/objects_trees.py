"""objects_trees.py -- binarytrees-D of `pymm bench objects`, impl python3.

The benchmarks-game binary-trees workload, the same algorithm as the C
workers (bench/objects/objects_trees.c): a stretch tree of depth D+1 made and
checked, a long-lived tree of depth D, then for d = 4, 6, ..., D:
2^(D-d+4) trees of depth d, each made, checked (nodes counted) and dropped.
Nodes are instances of a class with __slots__, so each is one small GC
object, as a tree node in a typical Python program is.

Usage: python3 objects_trees.py DEPTH
Prints "PMB binarytrees-D cpu_s ..." and "PMB binarytrees-D peak_rss_kb ..."
(user+sys CPU of the work itself, time.process_time() which is the C
workers' CLOCK_PROCESS_CPUTIME_ID; VmHWM of the process) and a
"checksum N" line that every impl must print alike.
"""
import sys
import time

from pmb_status import peak_rss_kb

MIN_DEPTH = 4


class Node:
    __slots__ = ("left", "right")

    def __init__(self, left, right):
        self.left = left
        self.right = right


def make(depth):
    if depth == 0:
        return Node(None, None)
    depth -= 1
    return Node(make(depth), make(depth))


def check(node):
    if node.left is None:
        return 1
    return 1 + check(node.left) + check(node.right)


def run(max_depth):
    total = check(make(max_depth + 1))
    long_lived = make(max_depth)
    for depth in range(MIN_DEPTH, max_depth + 1, 2):
        for _ in range(1 << (max_depth - depth + MIN_DEPTH)):
            total += check(make(depth))
    return total + check(long_lived)


def main():
    depth = int(sys.argv[1])
    t0 = time.process_time()
    total = run(depth)
    t1 = time.process_time()
    name = "binarytrees-%d" % depth
    print("PMB %s cpu_s %.4f s" % (name, t1 - t0))
    print("PMB %s peak_rss_kb %d KiB" % (name, peak_rss_kb()))
    print("checksum", total)


if __name__ == "__main__":
    main()
