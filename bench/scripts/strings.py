"""strings.py -- py-strings: string churn, the other half of everyday Python
allocation: formatting, splitting, joining, slicing, encoding.

Usage: python3 strings.py [SCALE]   (SCALE 4 = full run, 1 = --quick)
Prints one checksum line, identical under every allocator.
"""
import sys


def churn(rounds, width):
    acc = 0
    for r in range(rounds):
        words = ["w%d_%s" % (i, "x" * (i % 13)) for i in range(width)]
        line = " ".join(words)
        parts = line.split(" ")
        upper = [p.upper() for p in parts if len(p) & 1]
        counts = {}
        for p in parts:
            key = p[:3]
            counts[key] = counts.get(key, 0) + 1
        blob = ",".join(upper).encode("utf-8")
        acc += len(blob) + len(counts) + r
        acc %= 1000000007
    return acc


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    print("checksum", churn(110 * scale, 4000))


if __name__ == "__main__":
    main()
