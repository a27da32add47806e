"""heapcheck.py -- run by pymm-python itself: a mixed CPython workload (every
size class, growing and shrinking containers, reference cycles, weakrefs,
threads taking turns under the GIL) leaves pymm's heap consistent, and trim
gives the freed memory back while the heap stays consistent.

Usage: pymm-python heapcheck.py
"""
import gc
import json
import sys
import threading
import weakref

import _pymm

# The same ok/FAIL lines and exit status as every script here.
from pmtest import check as expect, finish


def heap_is_sound(when):
    try:
        _pymm.check()
        expect(True, "heap consistent " + when)
    except RuntimeError as e:
        expect(False, "heap consistent " + when, e)


class Node:
    def __init__(self, parent):
        self.parent = parent
        self.children = []


def churn(seed, rounds=30):
    """Every size class and some large blocks, resized up and down."""
    keep = []
    for r in range(rounds):
        batch = [bytes((seed + i) % 600) for i in range(2000)]
        batch += ["%d-%s" % (i, "x" * (i % 300)) for i in range(2000)]
        grow = []
        for i in range(3000):
            grow.append(i)
        batch.append(grow)
        batch.append({str(i): i for i in range(r * 50)})
        keep.append(batch[::7])
    return keep


def cycles(n=20000):
    root = Node(None)
    refs = []
    for i in range(n):
        node = Node(root if i % 2 else None)
        node.children.append(node)
        refs.append(weakref.ref(node))
    del root, node
    gc.collect()
    return sum(r() is not None for r in refs)


def threads():
    out = []
    ts = [threading.Thread(target=lambda s=s: out.append(len(churn(s, 10)))) for s in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def main():
    expect(_pymm.active(), "pymm is active")
    kept = churn(1)
    expect(cycles() == 0, "reference cycles collected, weakrefs cleared")
    expect(threads() == [10] * 4, "four threads allocated in turn")
    text = json.dumps(kept, default=lambda b: b.hex())
    expect(json.loads(text)[0][-1] == kept[0][-1], "JSON round trip")
    heap_is_sound("after the workload")
    before = _pymm.stats()
    del kept, text
    gc.collect()
    freed = _pymm.stats()
    expect(freed["bytes_in_use"] < before["bytes_in_use"], "freeing lowers bytes_in_use",
           (before["bytes_in_use"], freed["bytes_in_use"]))
    returned = _pymm.trim()
    after = _pymm.stats()
    expect(returned >= 0 and after["bytes_returned"] >= freed["bytes_returned"] + returned,
           "trim gave back %d bytes, counted in bytes_returned" % returned)
    heap_is_sound("after trim")
    again = churn(2, 5)
    expect(len(again) == 5 and all(_pymm.owns(b) for b in again[0][:10]),
           "the heap serves again after trim")
    heap_is_sound("after reuse")
    finish()


main()
