"""trees.py -- py-trees: a binary-trees workload (after the benchmarks-game
program): many short-lived small objects plus one long-lived tree, the shape
of an object-heavy program's heap.

Usage: python3 trees.py [SCALE]   (SCALE 4 = full run, 1 = --quick)
Prints one checksum line, identical under every allocator.
"""
import sys

# The same nodes and tree functions as the objects suite's python3 impl (this
# directory is on sys.path when the script runs).
from objects_trees import check, make


def run(max_depth, rounds):
    long_lived = make(max_depth)
    total = 0
    for depth in range(4, max_depth + 1, 2):
        iterations = rounds << (max_depth - depth)
        for _ in range(iterations):
            total += check(make(depth))
    return total + check(long_lived)


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    print("checksum", run(15, scale))


if __name__ == "__main__":
    main()
