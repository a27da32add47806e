"""subproc.py -- run by pymm-python itself: sys.executable is the pymm-python
binary, so every way a program starts Python again (subprocess, the test
suite's script_helper with -I, a grandchild, multiprocessing's spawn, fork)
stays under pymm; PYMM_OFF=1 in a child's environment still turns it off.

Usage: pymm-python subproc.py PATH_OF_PYMM_PYTHON
"""
import multiprocessing
import os
import subprocess
import sys

import _pymm

# The same ok/FAIL lines and exit status as every script here.
from pmtest import check as expect, finish

PROBE = "import _pymm, sys; print(_pymm.mode(), _pymm.owns([]), sys.getallocatedblocks() == 0)"
UNDER_PYMM = "pymm True True"


def child_env(**changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYMM_OFF", "PYTHONMALLOC", "PYTHONDEVMODE")}
    env.update(changes)
    return env


def probe(args, env=None):
    r = subprocess.run([sys.executable] + args, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env=env or child_env(), timeout=120)
    return r.stdout.strip() if r.returncode == 0 else "exit %d: %s" % (r.returncode, r.stderr)


def mode_in_child():
    return _pymm.mode()


def check_executable():
    want = os.path.realpath(sys.argv[1])
    expect(os.path.realpath(sys.executable) == want,
           "sys.executable is pymm-python", (sys.executable, want))


def check_children():
    expect(probe(["-c", PROBE]) == UNDER_PYMM, "subprocess of sys.executable is under pymm")
    expect(probe(["-I", "-X", "faulthandler", "-c", PROBE]) == UNDER_PYMM,
           "isolated child (-I, as script_helper runs them) is under pymm")
    nested = "import subprocess, sys; subprocess.run([sys.executable, '-c', %r])" % PROBE
    expect(probe(["-c", nested]) == UNDER_PYMM, "grandchild is under pymm")
    off = probe(["-c", PROBE], env=child_env(PYMM_OFF="1"))
    expect(off == "off False False", "child with PYMM_OFF=1 is not under pymm", off)


def check_script_helper():
    from test.support import script_helper
    rc, out, err = script_helper.assert_python_ok("-c", PROBE)
    expect(out.decode().strip() == UNDER_PYMM, "test.support.script_helper child is under pymm", err)


def check_multiprocessing():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        mode = pool.apply(mode_in_child)
    expect(mode == "pymm", "multiprocessing spawn worker is under pymm", mode)


def check_fork():
    """After fork the child goes on with the parent's heap; it must keep
    allocating and freeing soundly and exit cleanly."""
    pid = os.fork()
    if pid == 0:
        junk = [str(i) * (i % 50) for i in range(50000)]
        del junk[::2]
        ok = _pymm.owns([]) and _pymm.check() is None
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    expect(os.waitstatus_to_exitcode(status) == 0, "forked child allocates under pymm")


def main():
    expect(_pymm.mode() == "pymm", "this process is under pymm")
    check_executable()
    check_children()
    check_script_helper()
    check_multiprocessing()
    check_fork()
    finish()


if __name__ == "__main__":
    main()
