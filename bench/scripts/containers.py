"""containers.py -- py-containers: build and drop many small dicts, tuples
and lists, the bread and butter of Python programs (records, rows, keys).

Usage: python3 containers.py [SCALE]   (SCALE 4 = full run, 1 = --quick)
Prints one checksum line, identical under every allocator.
"""
import sys


def make_rows(n, base):
    rows = []
    for i in range(n):
        k = base + i
        rows.append({"id": k, "pos": (k, k + 1), "tags": [k & 7, k & 15],
                     "name": "row%d" % (k & 1023)})
    return rows


def churn(rounds, width):
    total = 0
    for r in range(rounds):
        rows = make_rows(width, r)
        index = {row["pos"]: row for row in rows}
        pairs = [(row["id"], len(row["tags"])) for row in rows if row["id"] & 1]
        total += len(index) + sum(a + b for a, b in pairs) % 1000003
        del rows, index, pairs
    return total


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    print("checksum", churn(15 * scale, 20000))


if __name__ == "__main__":
    main()
