"""The web console of '=h&' in a real browser, r2pipe from the npm registry, and a page of
another origin trying to write to the file.

Debian's chromium is driven by playwright-core (test/web/browser.js); r2pipe runs
test/web/r2pipe.js. Both come from test/web/node_modules ('npm ci' in test/web, which ./run
test does). Without node, chromium or those packages the test is skipped (exit 77), saying
which is missing.

- The console: a person types 'p8 4 @ 0x1235' and 'px 32' and sees what the prompt prints
  for them, recalls commands with ArrowUp/ArrowDown (kept across a reload), sees the
  hexdump panel follow 's 0x10', stops a search over 64 GiB with Ctrl-C and is answered at
  once after it; at 1280x800 in the light and the dark theme and at 390x844, without a
  script error or a Content-Security-Policy report, with a screenshot of each in
  BUILD/test-web/.
- r2pipe.connect('http://127.0.0.1:PORT/cmd/') runs reads, seeks and a write.
- Another origin (a page on another port, and on 'localhost'): CORS fetches with and without
  the console's headers, no-cors fetches, a form POST, an image, and reading the console's
  page by fetch, frame and script. The file is unchanged afterwards, every attempt that
  reached the server was refused (its log), and a write from curl's kind of client then
  does change the file (so the test could see one)."""

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from test_eq_servers import Cli  # noqa: E402

SOURCE = os.environ.get("RAP_SOURCE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("RAP_BUILD_ROOT", os.path.join(SOURCE, "build"))
WEB = os.path.join(SOURCE, "test", "web")
CHROMIUM = os.environ.get("RAP_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
NODE_TIMEOUT = 280


def missing():
    """Why the browser tests cannot run here, or None."""
    if not NODE:
        return "node is not installed (apt-get install nodejs)"
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is not installed (apt-get install chromium)" % CHROMIUM
    for pkg in ("playwright-core", "r2pipe"):
        if not os.path.isfile(os.path.join(WEB, "node_modules", pkg, "package.json")):
            return "the npm package %s is not in test/web/node_modules (npm ci in test/web)" % pkg
    return None


def node(*args, timeout=NODE_TIMEOUT):
    p = subprocess.run([NODE, *args], cwd=WEB, capture_output=True, timeout=timeout,
                       env=dict(os.environ, RAP_CHROMIUM=CHROMIUM))
    if p.returncode != 0:
        raise AssertionError("node %s failed (%d): %s" % (args[0], p.returncode, p.stderr.decode(errors="replace")))
    return json.loads(p.stdout)


def sample(size=0x4000):
    """Distinct bytes at every offset that matters here (0x1235, 0x10, 0x20)."""
    return bytes((i * 7 + (i >> 8) * 13 + 0x21) & 0xff for i in range(size))


class AttackServer:
    """Another origin on this machine: serves test/web/attack.html and nothing else."""

    def __init__(self):
        with open(os.path.join(WEB, "attack.html"), "rb") as f:
            page = f.read()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.split("?")[0] != "/attack.html":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(raplib.DEADLINE)


class WebTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rap-web-")
        self.data = sample()
        self.path = os.path.join(self.tmp, "data.bin")
        with open(self.path, "wb") as f:
            f.write(self.data)
        self.clis = []

    def tearDown(self):
        for c in self.clis:
            if c.proc.poll() is None:
                c.proc.send_signal(signal.SIGINT)
            c.quit()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def cli(self, *args):
        c = Cli(self.path, args=("-w",) + args)
        self.clis.append(c)
        c.run("e srv.cmd=write")
        return c

    def file_bytes(self):
        with open(self.path, "rb") as f:
            return f.read()

    def test_r2pipe(self):
        cli = self.cli()
        port = cli.start_server("=h& 0", "http")
        cmds = ["p8 4 @ 0x1235", "px 32", "s 0x20", "s", "p8 2", "wx 5a5b @ 0x30", "p8 2 @ 0x30", "?e done"]
        outs = node("r2pipe.js", "http://127.0.0.1:%d/cmd/" % port, *cmds)
        want = [self.data[0x1235:0x1239].hex() + "\n", cli.run("px 32"), "", "0x20\n",
                self.data[0x20:0x22].hex() + "\n", "", "5a5b\n", "done\n"]
        self.assertEqual(outs, want)
        self.assertEqual(self.file_bytes()[0x30:0x32], b"\x5a\x5b")
        # The prompt's own position did not move.
        self.assertEqual(cli.run("s"), "0x0\n")

    def test_console(self):
        big = os.path.join(self.tmp, "big.bin")
        with open(big, "wb") as f:
            f.truncate(64 << 30)
        cli = self.cli()
        cli.run("e search.in=file")
        port = cli.start_server("=h& 0", "http")
        outdir = os.path.join(BUILD, "test-web")
        os.makedirs(outdir, exist_ok=True)
        res = node("browser.js", "console", "http://127.0.0.1:%d" % port, outdir, big)
        p8 = cli.run("p8 4 @ 0x1235")
        self.assertEqual(p8, self.data[0x1235:0x1239].hex() + "\n")
        px32 = cli.run("px 32")
        hex10 = cli.run("px @ 0x10")
        for name in ("desktop", "dark", "phone"):
            r = res[name]
            with self.subTest(viewport=name):
                self.assertEqual(r["status"], 200)
                self.assertEqual(r["errors"], [])  # no script error, no CSP report
                self.assertIn("script-src 'sha256-", r["csp"])
                self.assertEqual(r["focused"], "cmd")
                self.assertEqual(r["p8"], p8)
                self.assertEqual(r["px"], px32)
                self.assertEqual(r["recall"], ["px 32", "p8 4 @ 0x1235", "p8 4 @ 0x1235", "px 32", "", ""])
                self.assertEqual(r["rerun"], p8)
                self.assertEqual(r["seek"], "")
                self.assertEqual(r["pos"], "0x10")
                self.assertEqual(r["hexhead"], "at 0x10")
                self.assertEqual(r["hex"], hex10)
                self.assertNotEqual(r["hex"], r["hexBefore"])
                self.assertEqual(r["prompt"], "[0x00000010]>")
                self.assertIn("data.bin", r["files"])
                self.assertEqual(r["commands"][0], "[0x00000000]> p8 4 @ 0x1235")
                self.assertEqual(r["commands"][-1], "[0x00000000]> s 0x10")
                self.assertEqual(r["afterReload"], "s 0x10")
                # Nothing wider than the viewport; everything on screen.
                lay = r["layout"]
                self.assertLessEqual(lay["width"], lay["viewport"], lay)
                self.assertGreater(lay["out"][3], 100, lay)
                with open(r["screenshot"], "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertNotEqual(res["desktop"]["layout"]["bg"], res["dark"]["layout"]["bg"])
        # The phone stacks the panel under the output.
        lay = res["phone"]["layout"]
        self.assertGreater(lay["hex"][1], lay["cmd"][1], lay)
        lay = res["desktop"]["layout"]
        self.assertGreater(lay["hex"][0], lay["out"][0] + lay["out"][2] - 1, lay)
        # Ctrl-C stopped the search; the next command came at once.
        r = res["phone"]
        self.assertTrue(r["stopEnabled"])
        self.assertEqual(r["stopNote"], "[stopped]")
        self.assertEqual(r["after"], "after the stop\n")
        self.assertLess(r["stopMs"], 5000)
        print("screenshots: %s" % ", ".join(res[n]["screenshot"] for n in ("desktop", "dark", "phone")),
              file=sys.stderr)
        self.assertEqual(self.file_bytes(), self.data)

    def test_cross_origin_attack(self):
        cli = self.cli()
        # In the foreground: its log shows every request that reached it.
        port = cli.start_server("=h 0", "http")
        attack = AttackServer()
        try:
            target = "http://127.0.0.1:%d" % port
            pages = ["http://127.0.0.1:%d/attack.html?target=%s" % (attack.port, target),
                     "http://localhost:%d/attack.html?target=%s" % (attack.port, target),
                     "http://127.0.0.1:%d/attack.html?target=http://localhost:%d" % (attack.port, port)]
            res = node("browser.js", "attack", *pages)
        finally:
            attack.close()
        self.assertEqual(self.file_bytes(), self.data)
        for p in res["pages"]:
            seen = p["seen"]["tries"]
            with self.subTest(page=p["url"]):
                self.assertEqual(len(seen), 12, seen)
                # Nothing could be read: no token, no output.
                self.assertTrue(seen["read-page"].startswith("error"), seen)
                self.assertIn(seen["frame-page"], ("not readable", "timeout"), seen)
                for k in ("cors-token", "cors-x-rap", "cors-simple-post", "cors-simple-get"):
                    self.assertTrue(seen[k].startswith("error"), (k, seen))
                for k in ("no-cors-post", "no-cors-stream", "no-cors-get"):
                    self.assertEqual(seen[k], "status 0 opaque", (k, seen))
        # What reached the server was refused there, and no command ran.
        cli.proc.send_signal(signal.SIGINT)
        log = cli.wait_for(r"(?s)(.*)http server stopped", stream="err").group(1).decode()
        lines = [ln for ln in log.splitlines() if ln.startswith("http: ")]
        refused = [ln for ln in lines if " 403 " in ln]
        self.assertGreaterEqual(len(refused), 3 * 6, log)  # 6 that need no preflight, per page
        self.assertFalse([ln for ln in lines if ln.endswith(" 200") and "/cmd" in ln or " wx " in ln], log)
        # The control: a non-browser client's write does reach the file.
        port = cli.start_server("=h& 0", "http")
        req = urllib.request.Request("http://127.0.0.1:%d/cmd" % port, data=b"wx 5a @ 0x100", method="POST")
        with urllib.request.urlopen(req, timeout=raplib.DEADLINE) as r:
            self.assertEqual(r.status, 200)
        self.assertEqual(self.file_bytes()[0x100], 0x5a)


if __name__ == "__main__":
    why = missing()
    if why:
        print("skipped: %s" % why)
        sys.exit(77)
    unittest.main(verbosity=2)
