"""trace_report.py -- PYMM_TRACE=FILE pymm-python traced.py CASE, then
`pymm report --format json FILE`: the stack of each block traced.py makes
names the Python frames it ran under, innermost first, each with its file,
function and line, above the C frames ("kind": "interpreter"). The case
"untraced" checks that without PYMM_TRACE nothing is installed.

Usage: python3 trace_report.py CASE PYMM_PYTHON PYMM
"""
import json
import os
import re
import sys
import tempfile

from pmtest import check, child_env, finish, run

CASE, PYMM_PYTHON, PYMM = sys.argv[1:4]
HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "traced.py")


def markers():
    """Each "# at: NAME" of traced.py: its line number."""
    at = {}
    with open(SCRIPT) as f:
        for number, text in enumerate(f, 1):
            m = re.search(r"# at: (\S+)", text)
            if m:
                at[m.group(1)] = number
    return at


AT = markers()

# For each case: a block's size, and the frames its stack must name,
# innermost first, as (function, marker); the program's own frames only
# (a thread's stack goes on into threading.py, checked apart).
EXPECTED = {
    "lines": [
        (3_000_000, [("inner", "inner"), ("outer", "outer"), ("lines", "lines"),
                     ("<module>", "main")]),
        (3_100_000, [("outer", "outer-after"), ("lines", "lines"), ("<module>", "main")]),
    ],
    "threads": [
        (3_200_000, [("in_thread", "thread")]),
        (3_300_000, [("threads", "after-thread"), ("<module>", "main")]),
    ],
    "generators": [
        (3_400_000, [("producer", "gen-first"), ("generators", "next-1"), ("<module>", "main")]),
        (3_900_000, [("generators", "between"), ("<module>", "main")]),
        (3_500_000, [("producer", "gen-second"), ("generators", "next-2"), ("<module>", "main")]),
        (3_600_000, [("producer", "gen-thrown"), ("generators", "throw"), ("<module>", "main")]),
        (3_700_000, [("failing", "failing"), ("generators", "call-failing"),
                     ("<module>", "main")]),
        (4_000_000, [("generators", "caught"), ("<module>", "main")]),
        # 16 frames are kept of each kind: deep's own and 15 of its callers.
        (3_800_000, [("deep", "deep")] + [("deep", "deep-call")] * 15),
        (4_100_000, [("generators", "after-deep"), ("<module>", "main")]),
    ],
}


def stack_of(report, size):
    """The one stack that allocated a single block of about size bytes
    (a bytearray asks for one more, for its NUL)."""
    found = [e for e in report["allocated"]
             if e["count"] == 1 and size <= e["bytes"] <= size + 64]
    check(len(found) == 1, "one stack allocated %d bytes" % size, found)
    return found[0]["stack"] if len(found) == 1 else None


def interpreter_frames(stack):
    return [f for f in stack if f["kind"] == "interpreter"]


def check_frames(size, stack, want):
    frames = interpreter_frames(stack)
    got = [(f["function"], f["line"]) for f in frames[:len(want)]]
    expect = [(function, AT[marker]) for function, marker in want]
    check(got == expect, "%d bytes: Python frames %s" % (size, expect),
          "got %s" % [(f["file"], f["function"], f["line"]) for f in frames])
    ours = [f for f in frames[:len(want)] if f["file"] == SCRIPT]
    check(len(ours) == len(want), "%d bytes: each in %s" % (size, SCRIPT))
    first = stack.index(frames[0]) if frames else 0
    check(first > 0 and all(f["kind"] == "native" for f in stack[:first]) and
          all(f["kind"] == "interpreter" for f in stack[first:]),
          "%d bytes: the C frames come first, then the Python ones" % size)


def check_thread_outside(stack):
    """A thread's stack goes on into threading.py's bootstrap, never into
    the frames of the thread that started it."""
    frames = interpreter_frames(stack)
    rest = [(os.path.basename(f["file"]), f["function"]) for f in frames[1:]]
    check(rest[:1] == [("threading.py", "Thread.run")],
          "the thread's function was called by Thread.run", rest)
    check(all(name == "threading.py" for name, _ in rest),
          "nothing of the starting thread's frames", rest)


def traced_run(tmp):
    capture = os.path.join(tmp, "out.trc")
    r = run([PYMM_PYTHON, SCRIPT, CASE], env=child_env(PYMM_TRACE=capture))
    if not check(r.returncode == 0 and r.stderr == "", "traced.py %s ran" % CASE, r):
        return None
    r = run([PYMM, "report", "--format", "json", "--top", "30", capture])
    if not check(r.returncode == 0, "pymm report --format json", r):
        return None
    return json.loads(r.stdout)


def check_untraced():
    """Without PYMM_TRACE nothing is installed: frames are not followed
    (no frame evaluation hook); with it, they are from the first line."""
    code = "import _pymm; print(_pymm.is_tracing(), _pymm._following())"
    r = run([PYMM_PYTHON, "-c", code])
    check(r.returncode == 0 and r.stdout == "False False\n", "untraced: nothing followed", r)
    with tempfile.TemporaryDirectory() as tmp:
        r = run([PYMM_PYTHON, "-c", code],
                env=child_env(PYMM_TRACE=os.path.join(tmp, "out.trc")))
    check(r.returncode == 0 and r.stdout == "True True\n", "traced: frames followed", r)


def main():
    if CASE == "untraced":
        check_untraced()
        finish()
    with tempfile.TemporaryDirectory() as tmp:
        report = traced_run(tmp)
    for size, want in EXPECTED[CASE] if report else []:
        stack = stack_of(report, size)
        if stack is None:
            continue
        check_frames(size, stack, want)
        if size == 3_200_000:
            check_thread_outside(stack)
    finish()


main()
