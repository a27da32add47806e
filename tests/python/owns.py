"""owns.py -- run by pymm-python itself: memory from PyObject_Malloc and
PyMem_Malloc lies in pymm's heap; with PYMM_OFF=1 (argument "off") it does
not, and CPython's own pymalloc serves instead.

Usage: pymm-python owns.py on|off
"""
import ctypes
import os
import sys

import _pymm

# The same ok/FAIL lines and exit status as every script here.
from pmtest import check as expect, finish

ON = sys.argv[1] == "on"
# The largest request pymm's pools serve (small and medium classes); larger
# ones are its large blocks, which are not pool blocks.
POOL_MAX = _pymm.stats()["pool_block_max"]


def bind(name, restype, argtypes):
    fn = getattr(ctypes.pythonapi, name)
    fn.restype, fn.argtypes = restype, argtypes
    return fn


def check_domain(malloc_name, free_name):
    """Pool-sized requests land in pymm's pools when pymm is on; larger ones
    are pymm's large blocks, which are not pool blocks, in either mode."""
    expect(POOL_MAX >= 4000, "pools serve requests up to %d bytes" % POOL_MAX)
    malloc = bind(malloc_name, ctypes.c_void_p, [ctypes.c_size_t])
    free = bind(free_name, None, [ctypes.c_void_p])
    for n in (0, 1, 8, 16, 17, 100, 256, 511, 512, 513, 4000, POOL_MAX,
              POOL_MAX + 1, 1 << 20):
        p = malloc(n)
        expect(p is not None, "%s(%d) is not NULL" % (malloc_name, n))
        want = ON and n <= POOL_MAX
        expect(_pymm.owns_address(p) == want,
               "%s(%d) in pymm's pools: %s" % (malloc_name, n, want))
        free(p)


def check_raw():
    malloc = bind("PyMem_RawMalloc", ctypes.c_void_p, [ctypes.c_size_t])
    free = bind("PyMem_RawFree", None, [ctypes.c_void_p])
    p = malloc(64)
    expect(not _pymm.owns_address(p), "PyMem_RawMalloc(64) is never pymm's")
    free(p)


def fresh_objects():
    """Objects of many sizes, each a single allocation whose size
    sys.getsizeof reports (GC header included)."""
    class Plain:
        pass
    objs = [object(), 1.5, 3j, 10 ** 40, Plain()]
    for n in (0, 1, 15, 40, 100, 300, 470, 1000, 5000):
        objs += [bytes(n) + b"xy", "y" * n + "zz", tuple(range(n // 8 + 1))]
    return objs


def check_objects():
    for obj in fresh_objects():
        size = sys.getsizeof(obj)
        want = ON and size <= POOL_MAX
        expect(_pymm.owns(obj) == want,
               "%s of %d bytes in pymm's pools: %s" % (type(obj).__name__, size, want))


def check_list_buffer():
    """A list's item array comes from PyMem_Malloc: the MEM domain."""
    items_offset = 3 * ctypes.sizeof(ctypes.c_ssize_t)  # refcnt, type, size
    for n in (10, 100, 1000, 10000):
        # list(range(n)) asks for exactly n pointers.
        want = ON and n * ctypes.sizeof(ctypes.c_void_p) <= POOL_MAX
        lst = list(range(n))
        buf = ctypes.c_void_p.from_address(id(lst) + items_offset).value
        expect(_pymm.owns_address(buf) == want,
               "item array of a %d-item list in pymm's pools: %s" % (n, want))


def check_pymalloc_unused():
    """CPython counts the blocks its own pymalloc has out: none when pymm
    served every MEM and OBJ request since start-up."""
    n = sys.getallocatedblocks()
    expect((n == 0) == ON, "CPython's pymalloc blocks: %d" % n)


expect(os.path.realpath(sys.base_prefix) == os.path.realpath(_pymm.python_prefix),
       "runs the CPython it was configured with (%s)" % _pymm.python_prefix)
expect(_pymm.active() == ON, "_pymm.active() is %s" % ON)
expect(_pymm.mode() == ("pymm" if ON else "off"), "_pymm.mode() is %r" % _pymm.mode())
check_domain("PyObject_Malloc", "PyObject_Free")
check_domain("PyMem_Malloc", "PyMem_Free")
check_raw()
check_objects()
check_list_buffer()
check_pymalloc_unused()
finish()
