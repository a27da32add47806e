#!/usr/bin/env python3
"""cdp.py -- open pages in headless Chromium and say what happened, for
tests/cli/cli_test.sh (case report_html_browser).

    cdp.py CHROMIUM [--page URL [--time] [--eval NAME=JS]... [--click TEXT]
                    [--screenshot FILE]]...

One browser for every page (a launch costs seconds), driven through the
DevTools protocol over --remote-debugging-pipe (fd 3: our commands, fd 4:
its answers, each a JSON message ending with a NUL), python3 alone. For
each page, in order, it prints `page URL` and then:
  - `ready 1` once the page's script set <body data-ready="1"> (or the
    attribute's value when 30 s went by);
  - --time: `load_ms MS` and `rendered_ms MS`, the page's own clock from
    the start of its navigation to the end of its load event and to its
    performance mark "pymm-rendered" (`rendered_ms none` without one):
    `pymm bench trace` reads them (its html-page case);
  - each --eval's result as `NAME=VALUE` (the expression's value as a
    string), before and after the click, in the order given;
  - --click TEXT: a real mouse click (Input.dispatchMouseEvent, not
    element.click()) at the centre of the first `.fr` element whose text
    is TEXT, or `click TEXT: not found`;
  - --screenshot FILE: a PNG of the window, `screenshot FILE`;
  - `console_errors N` and `requests N` at the end of the page: console
    messages and log entries of level error and uncaught exceptions, and
    every network request but the page's own document; each one also as
    `console_error: TEXT` or `request: URL`.
Exit status 0 when the browser answered, 2 on bad arguments, 1 when it
did not start or stopped answering (said on stderr).
"""
import base64
import json
import os
import select
import subprocess
import sys
import tempfile
import time

TIMEOUT = 30.0  # seconds for any one answer


class Browser:
    """A headless Chromium and its one page target, spoken to over pipes."""

    def __init__(self, chromium, profile):
        to_child, self._out = os.pipe()   # our commands: its fd 3
        self._in, from_child = os.pipe()  # its answers: its fd 4

        def fds():  # copies first: either end may be fd 3 or 4 already
            a, b = os.dup(to_child), os.dup(from_child)
            os.dup2(a, 3)  # inheritable
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", "--user-data-dir=" + profile, "--window-size=1280,1000",
             "--no-first-run", "--no-default-browser-check", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, close_fds=False)
        os.close(to_child)
        os.close(from_child)
        self._buf = b""
        self._next = 0
        self.events = []
        deadline = time.monotonic() + TIMEOUT
        while True:  # the first page may come a moment after the browser
            pages = [t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page"]
            if pages or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not pages:
            raise RuntimeError("no page target")
        page = pages[0]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(domain + ".enable", session=True)

    def _read(self):
        """The next message from the browser."""
        while b"\0" not in self._buf:
            if not select.select([self._in], [], [], TIMEOUT)[0]:
                raise RuntimeError("chromium said nothing for %d s" % TIMEOUT)
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=False):
        """Send a command and wait for its answer, keeping the events met."""
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            m = self._read()
            if m.get("id") == self._next:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m["result"]
            if "method" in m:
                self.events.append(m)
        raise RuntimeError(method + ": no answer")

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, True)
        return r["result"].get("value")

    def close(self):
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_ready(b, url):
    """The page's data-ready once url is loaded (the page may change its
    fragment) and it is "1", or whatever it is after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        ready = b.eval("location.href.split('#')[0] === %s && document.body &&"
                       " document.body.getAttribute('data-ready')" % json.dumps(url.split("#")[0]))
        if ready == "1" or time.monotonic() > deadline:
            return ready
        time.sleep(0.05)


def navigate(b, url):
    """To url by way of about:blank, so that a page differing from the
    last only in its fragment is loaded anew, not scrolled to."""
    b.call("Page.navigate", {"url": "about:blank"}, True)
    deadline = time.monotonic() + 10
    while b.eval("location.href") != "about:blank" and time.monotonic() < deadline:
        time.sleep(0.02)
    b.events = []
    b.call("Page.navigate", {"url": url}, True)


def click(b, text):
    """A trusted click at the centre of the frame whose text is text."""
    box = b.eval("(function () { var e = [].find.call(document.querySelectorAll('.fr'),"
                 " function (e) { return e.textContent === %s; });"
                 " if (!e) return null; var r = e.getBoundingClientRect();"
                 " return [r.left + r.width / 2, r.top + r.height / 2]; })()" % json.dumps(text))
    if box is None:
        return False
    x, y = box
    b.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y}, True)
    for kind in ("mousePressed", "mouseReleased"):
        b.call("Input.dispatchMouseEvent",
               {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}, True)
    return True


def troubles(b, url):
    """The console errors and requests among the events so far."""
    errors, requests = [], []
    for e in b.events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            errors.append(d.get("exception", {}).get("description", d.get("text", "")))
        elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
            errors.append(p["entry"]["text"])
        elif m == "Network.requestWillBeSent" and p["request"]["url"].split("#")[0] != url.split("#")[0]:
            requests.append(p["request"]["url"])
    return errors, requests


def load_times(b):
    """The navigation's load event end and the page's "pymm-rendered"
    mark, in ms from its start (None for a mark it did not make), once
    the load event has ended; None when it did not within TIMEOUT."""
    expr = ("(function () { var n = performance.getEntriesByType('navigation')[0];"
            " var m = performance.getEntriesByName('pymm-rendered')[0];"
            " return n && n.loadEventEnd > 0 ? [n.loadEventEnd, m ? m.startTime : null] : null; })()")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        times = b.eval(expr)
        if times:
            return times
        time.sleep(0.02)
    return None


def run_page(b, page):
    url = page["url"]
    print("page", url)
    navigate(b, url)
    print("ready", wait_ready(b, url))
    if page["time"]:
        times = load_times(b)
        if times is None:
            raise RuntimeError("%s: no load event in %d s" % (url, TIMEOUT))
        print("load_ms %.1f" % times[0])
        print("rendered_ms", "none" if times[1] is None else "%.1f" % times[1])
    for name, expr in page["before"]:
        print("%s=%s" % (name, b.eval(expr)))
    if page["click"] is not None:
        if not click(b, page["click"]):
            print("click %s: not found" % page["click"])
        time.sleep(0.1)
        for name, expr in page["after"]:
            print("%s=%s" % (name, b.eval(expr)))
    if page["screenshot"]:
        shot = b.call("Page.captureScreenshot", {"format": "png"}, True)
        with open(page["screenshot"], "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print("screenshot", page["screenshot"])
    time.sleep(0.1)  # late console messages
    b.call("Runtime.evaluate", {"expression": "0"}, True)  # and the events before it
    errors, requests = troubles(b, url)
    print("console_errors", len(errors))
    for e in errors:
        print("console_error:", e.replace("\n", " "))
    print("requests", len(requests))
    for r in requests:
        print("request:", r)


def parse(args):
    pages = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--time" and pages:
            pages[-1]["time"] = True
            i += 1
            continue
        value = args[i + 1] if i + 1 < len(args) else None
        if value is None or (a != "--page" and not pages):
            return None
        if a == "--page":
            pages.append({"url": value, "before": [], "after": [], "click": None,
                          "screenshot": None, "time": False})
        elif a == "--eval" and "=" in value:
            page = pages[-1]
            (page["after"] if page["click"] is not None else page["before"]).append(
                tuple(value.split("=", 1)))
        elif a == "--click":
            pages[-1]["click"] = value
        elif a == "--screenshot":
            pages[-1]["screenshot"] = value
        else:
            return None
        i += 2
    return pages


def main():
    pages = parse(sys.argv[2:]) if len(sys.argv) > 2 else None
    if not pages:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as profile:
        try:
            b = Browser(sys.argv[1], profile)
        except (RuntimeError, OSError) as e:
            print("cdp.py: chromium did not start: %s" % e, file=sys.stderr)
            return 1
        try:
            for page in pages:
                run_page(b, page)
                sys.stdout.flush()
        except (RuntimeError, OSError) as e:
            print("cdp.py: %s" % e, file=sys.stderr)
            return 1
        finally:
            b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
