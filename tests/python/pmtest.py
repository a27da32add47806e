"""pmtest.py -- what the driver scripts of tests/python share.

A driver runs under the real python3 and starts pymm-python (and python3)
as subprocesses, so it judges the binary from outside. Children get the
caller's environment minus the variables that pick allocators, so a stray
PYMM_OFF or PYTHONMALLOC in the shell cannot flip a result; a case sets the
ones it is about.
"""
import os
import subprocess
import sys

# Variables whose presence changes which allocator a child gets, or
# whether it is traced.
ALLOCATOR_VARS = ("PYMM_OFF", "PYMM_STATS", "PYMM_MALLOC", "PYTHONMALLOC",
                  "PYTHONDEVMODE", "PYTHONMALLOCSTATS", "PYMM_TRACE", "PYMM_TRACE_FRAMES")

_failures = 0


def child_env(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ALLOCATOR_VARS}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run(argv, env=None, input=None, cwd=None, timeout=120):
    """Without input the child's stdin is /dev/null, not whatever the test
    runner had (CI may have none)."""
    stdin = subprocess.DEVNULL if input is None else None
    return subprocess.run(argv, env=env if env is not None else child_env(),
                          input=input, stdin=stdin, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def check(ok, what, detail=""):
    """Record one expectation; print it either way so a failure log reads
    as a list of what held and what did not."""
    global _failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        _failures += 1
        if detail:
            print("     " + str(detail).replace("\n", "\n     "))
    return ok


def finish():
    print("%s" % ("all passed" if not _failures else "%d failed" % _failures))
    sys.exit(1 if _failures else 0)
