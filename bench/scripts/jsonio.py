"""jsonio.py -- py-jsonio: json dumps/loads round-trips of nested documents,
a serialization-heavy workload (many dicts, lists, strings and floats
created and dropped by the codec).

Usage: python3 jsonio.py [SCALE]   (SCALE 4 = full run, 1 = --quick)
Prints one checksum line, identical under every allocator.
"""
import json
import sys


def document(seed, items):
    return {
        "seed": seed,
        "items": [{"id": seed * items + i, "name": "item-%d" % i,
                   "price": (i * 37 % 1000) / 10.0, "tags": ["t%d" % (i % 7), "x"],
                   "dims": [i % 5, i % 11, i % 13]} for i in range(items)],
        "meta": {"ok": True, "note": None, "ratio": seed / 3.0},
    }


def roundtrips(rounds, items):
    acc = 0
    for r in range(rounds):
        text = json.dumps(document(r, items))
        back = json.loads(text)
        acc = (acc + len(text) + len(back["items"]) + back["items"][-1]["id"]) % 1000000007
    return acc


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    print("checksum", roundtrips(28 * scale, 2000))


if __name__ == "__main__":
    main()
