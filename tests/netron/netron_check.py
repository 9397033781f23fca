"""Issue 19's Netron check: every file qat writes opens in Netron (the `netron` package from
PyPI, serving its own web app) rendered by a real headless Chromium (Debian's), and the
rendered graph shows the file's operators.

  netron_check.py ARTIFACT_DIR MODEL.tflite...

For each model: Netron serves it, Chromium loads the page, runs its scripts (a virtual-time
budget) and dumps the DOM and a screenshot (ARTIFACT_DIR/<model>.png); the DOM must hold one
graph node per operator kind of the file (`qat inspect`'s list, in Netron's names) and no error
message. Netron's page asks for cookie consent and refuses to run when its build is over 180
days old: the server here sets the consent cookie and dates the page today, which changes
nothing of how a model is read or drawn."""
import base64
import datetime
import http.server
import json
import os
import re
import subprocess
import sys
import time

import netron
from netron import server

_write = server._HTTPRequestHandler._write


def write(self, status, ctype, content):
    if ctype == "text/html" and content:
        today = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        content = re.sub(rb'<meta name="date" content="[^"]*">', f'<meta name="date" content="{today}">'.encode(),
                         content)
    return _write(self, status, ctype, content)


def end_headers(self):
    self.send_header("Set-Cookie", "consent=%d; Path=/" % int(time.time() * 1000))
    http.server.BaseHTTPRequestHandler.end_headers(self)


server._HTTPRequestHandler._write = write
server._HTTPRequestHandler.end_headers = end_headers


with open(os.path.join(os.path.dirname(netron.__file__), "tflite-metadata.json")) as f:
    _NAMES = {m["name"].lower(): m["name"] for m in json.load(f) if "name" in m}


def netron_name(op):
    """TFLite's builtin name as Netron shows it, from Netron's own tflite-metadata.json:
    CONV_2D -> Conv2D, FULLY_CONNECTED -> FullyConnected."""
    key = op.replace("_", "").lower()
    return _NAMES.get(key, "".join(w[:1] + w[1:].lower() for w in op.split("_")))


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    JSON messages ending in NUL, commands on fd 3, replies on fd 4): real time, no extra
    package."""

    def __init__(self):
        self.to_r, self.to_w = os.pipe()
        self.from_r, self.from_w = os.pipe()
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             "--window-size=1600,1200", "--remote-debugging-pipe", "about:blank"],
            close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=self._fds)
        os.close(self.to_r)
        os.close(self.from_w)
        self.next_id, self.pending = 0, b""

    def _fds(self):  # in the child: its command pipe on fd 3, its reply pipe on fd 4
        r, w = os.dup(self.to_r), os.dup(self.from_w)
        os.dup2(r, 3)
        os.dup2(w, 4)

    def call(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.pending:
                chunk = os.read(self.from_r, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self.pending += chunk
            line, self.pending = self.pending.split(b"\0", 1)
            reply = json.loads(line)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply["result"]

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self.to_w)
        os.close(self.from_r)


def render(browser, model, port, artifacts):
    """The page once Netron shows the graph (body class 'default'), or after 60 s: its node
    labels, the text of a message it shows, and a screenshot."""
    address = netron.start(model, ("127.0.0.1", port), browse=False)
    try:
        target = browser.call("Target.createTarget", url="http://%s:%d/" % address)["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        probe = ("JSON.stringify({body: document.body ? document.body.className : '', "
                 "texts: Array.from(document.querySelectorAll('#canvas text')).map(t => t.textContent), "
                 "message: (document.getElementById('message-text') || {}).textContent || ''})")
        state = {}
        deadline = time.time() + 60
        while time.time() < deadline:
            state = json.loads(browser.call("Runtime.evaluate", session, expression=probe,
                                            returnByValue=True)["result"]["value"])
            if "default" in state["body"].split():
                break
            time.sleep(0.25)
        png = browser.call("Page.captureScreenshot", session, format="png")["data"]
        with open(os.path.join(artifacts, os.path.basename(model) + ".png"), "wb") as f:
            f.write(base64.b64decode(png))
        browser.call("Target.closeTarget", targetId=target)
        return state
    finally:
        netron.stop(address)


def main():
    artifacts, qat, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(artifacts, exist_ok=True)
    failed = 0
    browser = Chromium()
    for i, model in enumerate(models):
        info = json.loads(subprocess.run([qat, "inspect", model, "--json"], capture_output=True, text=True,
                                         check=True).stdout)
        ops = sorted({op["op"] for op in info["operators"]})
        state = render(browser, model, 18600 + i, artifacts)
        texts = set(state.get("texts", []))  # the graph's node labels are SVG text elements
        missing = [netron_name(op) for op in ops if netron_name(op) not in texts]
        drawn = "default" in state.get("body", "").split()
        message = state.get("message", "").strip()
        ok = drawn and not missing
        failed += not ok
        print("%s %s: %s, %d of %d operator kinds drawn (%s)%s%s" % (
            "ok  " if ok else "FAIL", os.path.basename(model), "graph shown" if drawn else "no graph after 60 s",
            len(ops) - len(missing), len(ops), ", ".join(netron_name(o) for o in ops),
            "; missing: " + ", ".join(missing) if missing else "", "; page says: " + message if message else ""))
    browser.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
