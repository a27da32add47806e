"""tracing.py -- run by pymm-python itself: _pymm's recorder functions in
tracemalloc's shape. start() and stop() from a script, the traced totals
and their peak, an object's traceback (past CPython's GC header and a
managed dict), top(), and the Python frames of every thread: the one that
started tracing, one that was already running, and one started later.

Usage: pymm-python tracing.py
"""
import threading

import _pymm

from pmtest import check, finish

HERE = __file__


def line_of(marker):
    with open(HERE) as f:
        for number, text in enumerate(f, 1):
            if text.rstrip().endswith("# at: " + marker):
                return number
    raise LookupError(marker)


class Plain:
    pass


def make_objects():
    buffer = bytearray(2_000_000)  # at: buffer
    instance = Plain()  # at: instance
    text = "pymm " * 1000  # at: text
    return buffer, instance, text


def python_frames(frames):
    return [(function, line) for file, line, function, is_py in frames if is_py and file == HERE]


def check_off():
    check(not _pymm.is_tracing(), "not tracing at first")
    check(_pymm.get_traced_memory() == (0, 0), "(0, 0) traced while off")
    check(_pymm.top() == [] and _pymm.get_object_traceback(bytearray(10)) is None,
          "top() empty and no traceback while off")
    for bad in (0, 65):
        try:
            _pymm.start(bad)
            ok = False
        except ValueError:
            ok = True
        check(ok and not _pymm.is_tracing(), "start(%d) is a ValueError" % bad)


def check_objects(objects):
    buffer, instance, text = objects
    caller = ("main", line_of("make"))
    for obj, marker in ((buffer, "buffer"), (instance, "instance"), (text, "text")):
        tb = _pymm.get_object_traceback(obj)
        got = python_frames(tb or [])[:2]
        check(got == [("make_objects", line_of(marker)), caller],
              "%s's traceback: make_objects:%d, then its caller" % (marker, line_of(marker)), tb)
    tb = _pymm.get_object_traceback(buffer)
    file, line, function, is_py = tb[0]
    check(file is None and line == 0 and not is_py and function.startswith("0x"),
          "a C frame is (None, 0, its address in hex, False)", tb[0])
    check(_pymm.get_object_traceback(None) is None, "a static object has no traceback")


def check_totals():
    current, peak = _pymm.get_traced_memory()
    check(current >= 2_000_000 and peak >= current, "traced memory (%d, %d)" % (current, peak))
    big = bytearray(5_000_000)
    del big
    after, peak = _pymm.get_traced_memory()
    check(peak >= current + 5_000_000 and after < peak, "the peak kept a freed block", peak)
    _pymm.reset_peak()
    check(_pymm.get_traced_memory()[1] < peak, "reset_peak() lowered the peak")


def check_top():
    top = _pymm.top(3)
    check(len(top) == 3 and top[0]["size"] >= top[1]["size"] >= top[2]["size"],
          "top(3): three stacks, largest first", top)
    first = top[0]
    check(set(first) == {"size", "count", "domain", "frames"}, "top's keys", first)
    check(2_000_000 <= first["size"] <= 2_000_064 and first["count"] == 1 and
          first["domain"] in ("mem", "obj"), "the buffer's stack holds the most", first)
    check(python_frames(first["frames"])[:1] == [("make_objects", line_of("buffer"))],
          "its frames name make_objects", first["frames"])


# A thread that runs before tracing starts and allocates after. Its first
# event once traced is the return of wait_gate (the lock's acquire is a C
# call): a frame it must not adopt, since its pop has gone by.
gate, done = threading.Lock(), threading.Event()
gate.acquire()
found = []


def wait_gate():
    gate.acquire()


def early_thread():
    wait_gate()
    found.append(bytearray(2_100_000))  # at: early
    done.set()


def late_thread():
    found.append(bytearray(2_200_000))  # at: late


def check_threads():
    gate.release()
    done.wait()
    t = threading.Thread(target=late_thread)
    t.start()
    t.join()
    for obj, marker, function in ((found[0], "early", "early_thread"),
                                  (found[1], "late", "late_thread")):
        got = python_frames(_pymm.get_object_traceback(obj) or [])[:1]
        check(got == [(function, line_of(marker))],
              "a thread %s tracing: %s:%d" % ("started before" if marker == "early" else
                                              "started while", function, line_of(marker)), got)


def check_restart():
    _pymm.stop()
    check(not _pymm.is_tracing() and _pymm.get_traced_memory() == (0, 0),
          "stop(): off, nothing traced")
    again = bytearray(10)
    check(_pymm.get_object_traceback(again) is None, "nothing traced after stop()")
    _pymm.start(2)
    _pymm.start(16)  # tracing already: nothing changes
    block = bytearray(2_300_000)  # at: restart
    tb = _pymm.get_object_traceback(block) or []
    want = [("check_restart", line_of("restart")), ("main", line_of("call-restart"))]
    check(python_frames(tb) == want and len(tb) == 4,
          "restarted with 2 frames of each kind: %s" % want, tb)


def main():
    early = threading.Thread(target=early_thread)
    early.start()
    check_off()
    _pymm.start()
    check(_pymm.is_tracing(), "start(): tracing")
    objects = make_objects()  # at: make
    check_objects(objects)
    check_totals()
    check_top()
    check_threads()
    early.join()
    check_restart()  # at: call-restart
    block = bytearray(2_400_000)  # at: after-restart
    tb = _pymm.get_object_traceback(block) or []
    want = [("main", line_of("after-restart")), ("<module>", line_of("call-main"))]
    check(python_frames(tb) == want, "back in main after the restart: %s" % want, tb)
    _pymm.stop()
    finish()


main()  # at: call-main
