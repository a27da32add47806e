"""modes.py -- pymm-python behaves exactly like python3: every way of
starting a program (script, -c, -m, a directory, stdin, -i) and every way of
ending one (return, sys.exit, exception, os._exit, signal) gives the same exit
status, stdout and stderr from both, once the program's own path is written
the same way. Then each mode is checked to run under pymm.

Usage: python3 modes.py PYMM_PYTHON PYTHON3
"""
import os
import pty
import select
import subprocess
import sys
import tempfile
import time

from pmtest import check, child_env, finish, run

PYMM, PYTHON3 = sys.argv[1], sys.argv[2]

FILES = {
    "prog.py": "import sys\nprint('prog', __name__, sys.argv[1:])\nsys.exit(4)\n",
    "boom.py": "def f():\n    raise ValueError('boom')\nf()\n",
    "mod.py": "import sys\nprint('mod', __name__, sys.argv[1:])\nsys.exit(9)\n",
    "pkg/__init__.py": "",
    "pkg/__main__.py": "import sys\nprint('pkg', __name__, __package__, sys.argv[1:])\n",
    "app/__main__.py": "import sys\nprint('app', sys.argv[1:])\nsys.exit(2)\n",
    "mode.py": "import _pymm\nprint(_pymm.mode())\n",
}

# (arguments, standard input): each is run by both interpreters.
CASES = [
    (["prog.py", "a", "b"], None),
    (["boom.py"], None),
    (["app", "x"], None),
    (["missing.py"], None),
    (["-c", "import sys; print(sys.argv, sys.path[0] == '')", "a"], None),
    (["-c", "import sys; sys.exit(7)"], None),
    (["-c", "raise SystemExit('bye')"], None),
    (["-c", "import os; os._exit(11)"], None),
    (["-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"], None),
    (["-c", "raise KeyboardInterrupt"], None),
    (["-c", "print(undefined_name)"], None),
    (["-c", "import sys; print(sys.flags)"], None),
    (["-c", "import sys; print(sys.prefix, sys.exec_prefix, sys.base_prefix, sys.path)"], None),
    (["-c", "import sysconfig; print(sorted(sysconfig.get_paths().items()))"], None),
    (["-m", "mod", "m1"], None),
    (["-m", "pkg", "p1"], None),
    (["-m", "no_such_module"], None),
    (["-m", "json.tool"], '{"b": [1, 2], "a": null}'),
    ([], "print(6 * 7)\n"),
    (["-", "s1"], "import sys\nprint(sys.argv)\nsys.exit(3)\n"),
    (["-i", "-q"], "x = 6 * 7\nx\nimport sys\nsys.exit(5)\n"),
    (["-i", "-c", "y = 2"], "print(y + 1)\n"),
    (["-i", "prog.py"], "print('after')\n"),
    (["-I", "-c", "import sys; print(sys.flags.isolated, sys.flags.ignore_environment)"], None),
    (["-E", "-s", "-S", "-c", "import sys; print('site' in sys.modules)"], None),
    (["-X", "dev", "-c", "import sys; print(sys.flags.dev_mode)"], None),
    (["-O", "-c", "assert False; print('asserts off')"], None),
    (["-W", "error", "-c", "import warnings; warnings.warn('w')"], None),
    (["-bb", "-c", "str(b'')"], None),
    (["-u", "-c", "import sys; print(sys.stdout.write_through)"], None),
    (["--version"], None),
    (["-VV"], None),
    (["-Z"], None),
    (["-h"], None),
]


def normalize(text, exe):
    return text.replace(exe, "<python>")


def outcome(exe, args, stdin, cwd):
    r = run([exe] + args, input=stdin, cwd=cwd)
    return (r.returncode, normalize(r.stdout, exe), normalize(r.stderr, exe))


def compare(args, stdin, cwd):
    mine = outcome(PYMM, args, stdin, cwd)
    theirs = outcome(PYTHON3, args, stdin, cwd)
    check(mine == theirs, "same as python3: %r%s (exit %d)"
          % (args, " with stdin" if stdin else "", theirs[0]),
          "pymm-python: %r\npython3:     %r" % (mine, theirs))


def check_under_pymm(cwd):
    for args, stdin in ((["mode.py"], None), (["-c", "import _pymm; print(_pymm.mode())"], None),
                        (["-m", "mode"], None), ([], "import _pymm; print(_pymm.mode())\n"),
                        (["-I", "-c", "import _pymm; print(_pymm.mode())"], None)):
        r = run([PYMM] + args, input=stdin, cwd=cwd)
        check(r.returncode == 0 and r.stdout.strip() == "pymm",
              "under pymm: %r%s" % (args, " with stdin" if stdin else ""), r)


def read_until_eof(fd, deadline):
    out = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child side is closed
            break
        if not chunk:
            break
        out += chunk
    return out


def check_tty_prompt():
    """The real interactive mode, on a terminal: prompts, the value of an
    expression, exit() -- the line editor at work, as for python3."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([PYMM, "-q"], stdin=slave, stdout=slave,
                            stderr=slave, close_fds=True, env=child_env())
    os.close(slave)
    os.write(master, b"import _pymm\n6 * 7\n_pymm.mode()\nexit()\n")
    out = read_until_eof(master, time.monotonic() + 30).decode(errors="replace")
    os.close(master)
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    check(rc == 0 and ">>> " in out and "42" in out and "'pymm'" in out,
          "interactive on a terminal: prompt, 42, 'pymm', exit 0", "exit %s, %r" % (rc, out))


def main():
    with tempfile.TemporaryDirectory() as cwd:
        for name, text in FILES.items():
            path = os.path.join(cwd, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        for args, stdin in CASES:
            compare(args, stdin, cwd)
        check_under_pymm(cwd)
    check_tty_prompt()
    finish()


main()
