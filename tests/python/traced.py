"""traced.py -- the program trace_report.py runs under PYMM_TRACE: each
case allocates blocks of sizes no other code asks for, on lines marked
"# at: NAME", so that the driver can find their stacks in the report and
say which Python frames they must name.

Usage: pymm-python traced.py lines|threads|generators
"""
import sys
import threading

kept = []


# ---- lines: a known line of a known function, under a known caller ----

def inner():
    block = bytearray(3_000_000)  # at: inner
    return block


def outer():
    kept.append(inner())  # at: outer
    kept.append(bytearray(3_100_000))  # at: outer-after


def lines():
    outer()  # at: lines


# ---- threads: threading.Thread's target -------------------------------

def in_thread():
    kept.append(bytearray(3_200_000))  # at: thread


def threads():
    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    kept.append(bytearray(3_300_000))  # at: after-thread


# ---- generators: frames across yields, throw() and an exception -------

def producer():
    first = bytearray(3_400_000)  # at: gen-first
    yield first
    second = bytearray(3_500_000)  # at: gen-second
    yield second
    try:
        yield None
    except KeyError:
        yield bytearray(3_600_000)  # at: gen-thrown


def failing():
    kept.append(bytearray(3_700_000))  # at: failing
    raise ValueError("unwound")


def deep(n):
    if n == 0:
        return bytearray(3_800_000)  # at: deep
    return deep(n - 1)  # at: deep-call


def generators():
    g = producer()
    kept.append(next(g))  # at: next-1
    kept.append(bytearray(3_900_000))  # at: between
    kept.append(next(g))  # at: next-2
    next(g)
    kept.append(g.throw(KeyError))  # at: throw
    try:
        failing()  # at: call-failing
    except ValueError:
        kept.append(bytearray(4_000_000))  # at: caught
    kept.append(deep(300))  # at: call-deep
    kept.append(bytearray(4_100_000))  # at: after-deep


{"lines": lines, "threads": threads, "generators": generators}[sys.argv[1]]()  # at: main
