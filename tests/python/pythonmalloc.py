"""pythonmalloc.py -- the allocator policy of pymm-python, case by case:
PYTHONMALLOC, -X dev, -E/-I (which hide PYTHONMALLOC), PYMM_OFF and the
library's PYMM_MALLOC. In every case where pymm serves, CPython's own pymalloc
must never have been used (sys.getallocatedblocks() == 0); debug hooks
stacked on pymm, CPython's or the library's, must still catch misuse.

Usage: python3 pythonmalloc.py PYMM_PYTHON PYTHON3
"""
import sys

from pmtest import check, child_env, finish, run

PYMM, PYTHON3 = sys.argv[1], sys.argv[2]
PROBE = "import _pymm, sys; print(_pymm.mode(), _pymm.owns([]), sys.getallocatedblocks() == 0)"

# (extra arguments, environment changes, expected probe output)
CASES = [
    ([], {}, "pymm True True"),
    ([], {"PYMM_OFF": "0"}, "pymm True True"),
    ([], {"PYMM_OFF": ""}, "pymm True True"),
    ([], {"PYTHONMALLOC": "default"}, "pymm True True"),
    ([], {"PYTHONMALLOC": "pymalloc"}, "pymm True True"),
    ([], {"PYTHONMALLOC": "debug"}, "pymm_debug True True"),
    ([], {"PYTHONMALLOC": "pymalloc_debug"}, "pymm_debug True True"),
    ([], {"PYTHONMALLOC": "malloc"}, "cpython False True"),
    ([], {"PYTHONMALLOC": "malloc_debug"}, "cpython False True"),
    (["-X", "dev"], {}, "pymm_debug True True"),
    ([], {"PYTHONDEVMODE": "1"}, "pymm_debug True True"),
    (["-E"], {"PYTHONMALLOC": "malloc"}, "pymm True True"),
    (["-I"], {"PYTHONMALLOC": "malloc"}, "pymm True True"),
    (["-E", "-X", "dev"], {"PYTHONMALLOC": "malloc"}, "pymm_debug True True"),
    ([], {"PYMM_OFF": "1"}, "off False False"),
    ([], {"PYMM_OFF": "1", "PYTHONMALLOC": "debug"}, "off False False"),
    ([], {"PYMM_OFF": "1", "PYTHONMALLOC": "malloc"}, "off False True"),
    ([], {"PYMM_MALLOC": "debug"}, "pymm True True"),
    # The library's malloc mode sends its MEM and OBJ tables to the C
    # library: pymm's tables are in place, its pools unused.
    ([], {"PYMM_MALLOC": "malloc"}, "pymm False True"),
]


def check_case(args, env, want):
    r = run([PYMM] + args + ["-c", PROBE], env=child_env(**env))
    got = r.stdout.strip() if r.returncode == 0 else "exit %d: %s" % (r.returncode, r.stderr)
    check(got == want, "%s %s -> %s" % (" ".join("%s=%s" % kv for kv in env.items()),
                                        " ".join(args), want), got)


def check_unknown_name():
    env = child_env(PYTHONMALLOC="no_such_allocator")
    mine = run([PYMM, "-c", "pass"], env=env)
    theirs = run([PYTHON3, "-c", "pass"], env=env)
    check((mine.returncode, mine.stderr) == (theirs.returncode, theirs.stderr),
          "unknown PYTHONMALLOC fails as in python3 (exit %d)" % theirs.returncode,
          (mine, theirs))


def check_cpython_hooks_on_pymm():
    """CPython's debug hooks wrap pymm's blocks: an overrun is caught."""
    code = "import _testcapi; _testcapi.pymem_buffer_overflow()"
    r = run([PYMM, "-c", code], env=child_env(PYTHONMALLOC="debug"))
    check(r.returncode != 0 and "bad trailing pad byte" in r.stderr,
          "PYTHONMALLOC=debug over pymm catches a buffer overrun", r)


def check_library_hooks():
    """The library's debug mode sees MEM and OBJ separately: freeing an
    object's block with PyMem_Free is a wrong-domain error."""
    code = ("import ctypes\n"
            "api = ctypes.pythonapi\n"
            "api.PyObject_Malloc.restype = ctypes.c_void_p\n"
            "api.PyMem_Free.argtypes = [ctypes.c_void_p]\n"
            "api.PyMem_Free(api.PyObject_Malloc(32))\n")
    r = run([PYMM, "-c", code], env=child_env(PYMM_MALLOC="debug"))
    check(r.returncode != 0 and "wrong domain" in r.stderr,
          "PYMM_MALLOC=debug catches PyMem_Free of a PyObject_Malloc block", r)
    code = "import _pymm; d = _pymm.stats()['debug_bytes']; _pymm.check(); print(d > 0)"
    r = run([PYMM, "-c", code], env=child_env(PYMM_MALLOC="debug"))
    check(r.returncode == 0 and r.stdout.strip() == "True",
          "PYMM_MALLOC=debug: debug records exist and the heap checks clean", r)


def main():
    for args, env, want in CASES:
        check_case(args, env, want)
    check_unknown_name()
    check_cpython_hooks_on_pymm()
    check_library_hooks()
    finish()


main()
