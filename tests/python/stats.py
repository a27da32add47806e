"""stats.py -- PYMM_STATS shows that pymm served CPython's allocations: the
report printed at exit (stderr, or appended to a file with a JSON line) has
blocks in use, while with PYMM_OFF=1 the same binary's heap stayed idle.
Also checks that _pymm.stats() and the library's JSON report agree.

Usage: python3 stats.py PYMM_PYTHON
"""
import json
import os
import re
import sys
import tempfile

from pmtest import check, child_env, finish, run

PYMM = sys.argv[1]
WORK = "d = {str(i): [i] * (i % 7) for i in range(20000)}; print(len(d))"


def allocated_bytes(report):
    m = re.search(r"^bytes in allocated blocks\s*=\s*(\d+)", report, re.M)
    return int(m.group(1)) if m else None


def blocks_in_use(report):
    """The per-class table: class, size, pools, blocks in use, avail."""
    rows = re.findall(r"^\s*\d+\s+\d+\s+\d+\s+(\d+)\s+\d+\s*$", report, re.M)
    return sum(int(n) for n in rows)


def check_stderr_report():
    r = run([PYMM, "-c", WORK], env=child_env(PYMM_STATS="1"))
    check(r.returncode == 0 and r.stdout == "20000\n", "program output unchanged", r)
    n = allocated_bytes(r.stderr)
    check(n is not None and n > 0, "PYMM_STATS=1: bytes in allocated blocks > 0 (%s)" % n, r.stderr)
    k = blocks_in_use(r.stderr)
    check(k > 0, "PYMM_STATS=1: class table has %d blocks in use" % k, r.stderr)


def check_file_report(tmp):
    path = os.path.join(tmp, "stats.txt")
    r = run([PYMM, "-c", WORK], env=child_env(PYMM_STATS=path))
    check(r.returncode == 0 and r.stderr == "", "PYMM_STATS=path: nothing on stderr", r)
    with open(path) as f:
        text = f.read()
    lines = [l for l in text.splitlines() if l.startswith("json: ")]
    check(len(lines) == 1, "PYMM_STATS=path: one JSON line", text)
    if not lines:
        return
    st = json.loads(lines[0][len("json: "):])
    check(st["bytes_in_use"] > 0 and st["pools_used"] > 0 and st["arenas"] > 0,
          "JSON: bytes_in_use %d, pools_used %d, arenas %d"
          % (st["bytes_in_use"], st["pools_used"], st["arenas"]))
    by_class = sum(c["size"] * c["used"] for c in st["classes"])
    check(by_class == st["bytes_in_use"], "JSON: classes add up to bytes_in_use",
          (by_class, st["bytes_in_use"]))
    check(allocated_bytes(text) == st["bytes_in_use"], "text and JSON agree")


def check_off():
    r = run([PYMM, "-c", WORK], env=child_env(PYMM_STATS="1", PYMM_OFF="1"))
    n = allocated_bytes(r.stderr)
    check(r.returncode == 0 and n == 0, "PYMM_OFF=1: pymm's heap stays idle (%s bytes)" % n, r)


def check_module_agrees():
    code = ("import _pymm, json\n"
            "a = _pymm.stats(); b = json.loads(_pymm.format_stats(json=True))\n"
            "print(sorted(a) == sorted(b), a['classes'][0].keys() == b['classes'][0].keys(),"
            " a['bytes_in_use'] > 0, 'blocks in use' in _pymm.format_stats())\n")
    r = run([PYMM, "-c", code])
    check(r.stdout.strip() == "True True True True",
          "_pymm.stats() has the JSON report's keys", r)


def main():
    check_stderr_report()
    with tempfile.TemporaryDirectory() as tmp:
        check_file_report(tmp)
    check_off()
    check_module_agrees()
    finish()


main()
