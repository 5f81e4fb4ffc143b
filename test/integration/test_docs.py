"""The man pages are the one place options are documented: every option that rapsrv --help
and rapcli -h print must be documented in doc/rapsrv.8.scd and doc/rapcli.1.scd, and every
option documented there must exist in --help, with the same short/long pairing and the same
"takes an argument" shape. The pages must also build with scdoc, and rap(7) must describe
the extension probe with the constants librap really uses.

ServeSample runs what ./run serve runs after building, dist/serve-sample.sh.

Environment: RAPSRV, RAPCLI (the binaries), RAP_DOC_DIR (the doc/ source directory)."""

import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
RAPSRV = os.environ.get("RAPSRV", "rapsrv")
RAPCLI = os.environ.get("RAPCLI", "rapcli")
DOC_DIR = os.environ.get("RAP_DOC_DIR", os.path.join(HERE, "..", "..", "doc"))
SRC_DIR = os.path.dirname(os.path.abspath(DOC_DIR))
SRC_ROOT = os.environ.get("RAP_SOURCE_ROOT", SRC_DIR)
TIMEOUT = 20

sys.path.insert(0, HERE)
import raplib  # noqa: E402

OPT_TOKEN = re.compile(r"^(--?[A-Za-z0-9?][A-Za-z0-9-]*)(?:(=|\[=)(\S+))?,?$")
METAVAR = re.compile(r"^[\[<]?[A-Z][A-Z0-9_|.\[\]<>-]*[\]>]?,?$")


class Entry:
    """One option definition: its names (short and long) and whether it takes an argument."""

    def __init__(self, names, takes_arg, line):
        self.names = frozenset(names)
        self.takes_arg = takes_arg
        self.line = line

    def __repr__(self):
        return "Entry(%s%s)" % (", ".join(sorted(self.names)), " ARG" if self.takes_arg else "")


def parse_definition(head, line):
    """Parses "-l, --listen ADDR" (markup already removed). Returns an Entry or None."""
    names = []
    takes_arg = False
    last_was_option = False
    for tok in head.split():
        m = OPT_TOKEN.match(tok)
        if m:
            names.append(m.group(1))
            if m.group(2):
                takes_arg = True
            last_was_option = True
            continue
        if last_was_option and METAVAR.match(tok):
            takes_arg = True
            last_was_option = False
            continue
        break
    return Entry(names, takes_arg, line) if names else None


def help_entries(text):
    """Option definitions in a --help text: indented lines that start with '-'. The
    definition ends where two or more spaces separate it from its description."""
    entries = []
    for line in text.splitlines():
        if not re.match(r"^\s+-", line):
            continue
        head = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        e = parse_definition(head, line)
        if e:
            entries.append(e)
    return entries


def strip_scdoc(s):
    """Removes scdoc bold/underline markup and backslash escapes."""
    s = re.sub(r"\\(.)", lambda m: "\0%d\0" % ord(m.group(1)), s)
    s = s.replace("*", "").replace("_", "")
    return re.sub(r"\0(\d+)\0", lambda m: chr(int(m.group(1))), s)


def section(text, name):
    """The body of the scdoc section '# name', up to the next top-level header."""
    m = re.search(r"^# %s[ \t]*\n(.*?)(?=^# |\Z)" % re.escape(name), text, re.M | re.S)
    return m.group(1) if m else None


def page_entries(text):
    """Option definitions in a page's OPTIONS section: the unindented term lines
    '*-l*, *--listen* _ADDR_' (descriptions are tab-indented below them)."""
    body = section(text, "OPTIONS")
    if body is None:
        return None
    entries = []
    for line in body.splitlines():
        if not line.startswith("*-"):
            continue
        e = parse_definition(strip_scdoc(line), line)
        if e:
            entries.append(e)
    return entries


def run(argv):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=TIMEOUT, check=False)


def read_page(name):
    with open(os.path.join(DOC_DIR, name), encoding="utf-8") as f:
        return f.read()


class OptionsMatchHelp:
    """Mixin: compares one binary's help with one page."""

    binary = None
    help_flag = None
    page = None
    check_shorts = True

    @classmethod
    def setUpClass(cls):
        r = run([cls.binary, cls.help_flag])
        cls.help_rc = r.returncode
        cls.help_text = r.stdout.decode("utf-8", "replace")
        cls.help_err = r.stderr.decode("utf-8", "replace")
        cls.page_text = read_page(cls.page)
        cls.help = help_entries(cls.help_text)
        cls.doc = page_entries(cls.page_text)

    def names(self, entries, shorts=True):
        out = set()
        for e in entries:
            out |= {n for n in e.names if shorts or n.startswith("--")}
        return out

    def test_help_exits_0_on_stdout(self):
        self.assertEqual(self.help_rc, 0, "%s %s exited %d: %s" % (
            self.binary, self.help_flag, self.help_rc, self.help_err))
        self.assertTrue(self.help, "no option lines found in %s %s:\n%s" % (
            self.binary, self.help_flag, self.help_text))

    def test_page_has_options_section(self):
        self.assertIsNotNone(self.doc, "%s has no '# OPTIONS' section" % self.page)
        self.assertTrue(self.doc, "%s documents no options" % self.page)

    def test_every_help_option_is_documented(self):
        documented = self.names(self.doc or [])
        for name in sorted(self.names(self.help, shorts=self.check_shorts)):
            with self.subTest(option=name):
                self.assertIn(name, documented, "%s prints %s in %s, but %s does not document it"
                              % (os.path.basename(self.binary), name, self.help_flag, self.page))

    def test_every_documented_option_is_in_help(self):
        printed = self.names(self.help)
        for name in sorted(self.names(self.doc or [])):
            with self.subTest(option=name):
                self.assertIn(name, printed, "%s documents %s, but %s %s does not print it"
                              % (self.page, name, os.path.basename(self.binary), self.help_flag))

    def test_same_pairing_and_argument(self):
        doc_by_name = {}
        for e in self.doc or []:
            for n in e.names:
                doc_by_name[n] = e
        for h in self.help:
            d = next((doc_by_name[n] for n in sorted(h.names) if n in doc_by_name), None)
            if d is None:
                continue  # reported by test_every_help_option_is_documented
            with self.subTest(option=sorted(h.names)):
                self.assertEqual(h.names, d.names, "help line %r and page line %r name "
                                 "different options" % (h.line.strip(), d.line))
                self.assertEqual(h.takes_arg, d.takes_arg, "help line %r and page line %r "
                                 "disagree on whether the option takes an argument"
                                 % (h.line.strip(), d.line))

    def test_no_option_documented_twice(self):
        seen = {}
        for e in (self.doc or []):
            for n in e.names:
                with self.subTest(option=n):
                    self.assertNotIn(n, seen, "%s documents %s twice" % (self.page, n))
                    seen[n] = e

    def test_exit_codes_in_help_are_documented(self):
        m = re.search(r"exit status:?(.*?)(?:\n\s*\n|\Z)", self.help_text, re.I | re.S)
        if not m:
            self.skipTest("help does not list exit codes")
        body = section(self.page_text, "EXIT STATUS")
        self.assertIsNotNone(body, "%s has no '# EXIT STATUS' section" % self.page)
        documented = set(re.findall(r"^\*(\d+)\*", body, re.M))
        for code in sorted(set(re.findall(r"\b(\d+)\b", m.group(1))), key=int):
            with self.subTest(code=code):
                self.assertIn(code, documented, "help mentions exit status %s, %s does not"
                              % (code, self.page))

    def test_version_first_line(self):
        r = run([self.binary, "-V"])
        self.assertEqual(r.returncode, 0)
        lines = r.stdout.decode("utf-8", "replace").splitlines()
        self.assertTrue(lines, "%s -V printed nothing on stdout" % self.binary)
        first = lines[0]
        prog = os.path.basename(self.binary)
        self.assertRegex(first, r"^%s \(rap\) \d+\.\d+\.\d+" % re.escape(prog))


class RapsrvDocs(OptionsMatchHelp, unittest.TestCase):
    binary = RAPSRV
    help_flag = "--help"
    page = "rapsrv.8.scd"


class RapcliDocs(OptionsMatchHelp, unittest.TestCase):
    binary = RAPCLI
    help_flag = "-h"
    page = "rapcli.1.scd"


class Pages(unittest.TestCase):
    pages = ["rapsrv.8.scd", "rapcli.1.scd", "rap.7.scd"]

    def test_preamble_and_sections(self):
        for name in self.pages:
            with self.subTest(page=name):
                text = read_page(name)
                stem, sect = name[:-len(".scd")].rsplit(".", 1)
                self.assertRegex(text.splitlines()[0], r"^%s\(%s\)" % (re.escape(stem), sect))
                for header in ("NAME", "DESCRIPTION", "SEE ALSO"):
                    self.assertIsNotNone(section(text, header), "%s lacks # %s" % (name, header))

    def test_pages_build_with_scdoc(self):
        scdoc = shutil.which("scdoc")
        if not scdoc:
            self.skipTest("scdoc not installed")
        for name in self.pages:
            with self.subTest(page=name):
                with open(os.path.join(DOC_DIR, name), "rb") as f:
                    r = subprocess.run([scdoc], stdin=f, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, timeout=TIMEOUT, check=False)
                self.assertEqual(r.returncode, 0, r.stderr.decode("utf-8", "replace"))
                self.assertIn(b".TH", r.stdout)

    def test_probe_constants_match_librap(self):
        """rap(7) must show the magic values the server code uses."""
        consts = {}
        for root, _, files in os.walk(os.path.join(SRC_DIR, "libr")):
            for fn in files:
                if not fn.endswith((".c", ".h")):
                    continue
                with open(os.path.join(root, fn), encoding="utf-8", errors="replace") as f:
                    for m in re.finditer(r"#define\s+(PROBE_MAGIC|PROBE_ANSWER|PROBE_VERSION)"
                                         r"\s+(0x[0-9a-fA-F]+|\d+)u?", f.read()):
                        consts[m.group(1)] = int(m.group(2), 0)
        if "PROBE_MAGIC" not in consts or "PROBE_ANSWER" not in consts:
            self.skipTest("probe constants not found under %s/libr" % SRC_DIR)
        text = read_page("rap.7.scd").lower()
        for key in ("PROBE_MAGIC", "PROBE_ANSWER"):
            with self.subTest(constant=key):
                self.assertIn("0x%08x" % consts[key], text)
                spaced = " ".join("%02x" % b for b in consts[key].to_bytes(4, "big"))
                self.assertIn(spaced, text)
        if "PROBE_VERSION" in consts:
            self.assertIn("version %d" % consts["PROBE_VERSION"], text)


def hexstr(data):
    return data.hex()


class ShellServer(raplib.Rapsrv):
    """A rapsrv started by a shell command line (sh -c 'exec ...', so that the process ends
    up being rapsrv); waits for its 'serving' line and collects its listeners."""

    def __init__(self, cmd, cwd, env, stdout=subprocess.DEVNULL):
        proc = subprocess.Popen(["sh", "-c", "exec " + cmd], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE)
        self.cmd = cmd
        self.adopt(proc, "127.0.0.1")
        if not self.wait_log(r"notice: serving "):
            self.stop()
            raise RuntimeError("%s: no 'serving' line: %s" % (cmd, self.logtext()))
        self.listeners = [(m.group(1), m.group(2), int(m.group(3))) for m in re.finditer(
            r"listening on (raps?)://(\[[^\]]+\]|[^\s:]+):(\d+)", self.logtext())]
        m = re.search(r"notice: serving (.*) \((read-only|read-write),", self.logtext())
        self.root, self.mode = m.group(1), m.group(2)

    def port_of(self, scheme, host):
        for s, h, p in self.listeners:
            if (s, h) == (scheme, host):
                return p
        raise AssertionError("%s does not listen on %s://%s: %s" % (self.cmd, scheme, host,
                                                                    self.listeners))


class ServeSample(unittest.TestCase):
    """dist/serve-sample.sh, what ./run serve runs after building: RAP_PORT, a port in use
    reported before any 'Connect with', and the commands it prints work."""

    script = os.path.join(SRC_ROOT, "dist", "serve-sample.sh")

    def setUp(self):
        self.dir = os.path.realpath(tempfile.mkdtemp(prefix="rap-serve-"))
        self.addCleanup(shutil.rmtree, self.dir, True)

    def run_script(self, port, timeout=TIMEOUT):
        return subprocess.run([self.script, RAPSRV, RAPCLI, self.dir], capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, RAP_PORT=str(port)))

    def test_port_in_use(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            r = self.run_script(port)
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertNotIn(b"Connect with", r.stdout)
        self.assertEqual(r.stdout, b"")
        self.assertIn(b"run: port %d on 127.0.0.1 is in use; set RAP_PORT" % port, r.stderr)

    def test_bad_port(self):
        for bad in ("abc", "0", "65536", "99999999999999999999", "-1", "08080"):
            with self.subTest(port=bad):
                r = self.run_script(bad)
                self.assertEqual(r.returncode, 64, r.stderr)
                self.assertIn(b"RAP_PORT must be a port number", r.stderr)
                self.assertEqual(r.stdout, b"")

    def test_serves_on_rap_port(self):
        # A port the OS picked a moment ago; should something take it in between, the
        # script says so (and exits 69) and another one is tried.
        cmd = " ".join(shlex.quote(a) for a in (self.script, RAPSRV, RAPCLI, self.dir))
        for _ in range(3):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            try:
                srv = ShellServer(cmd, self.dir, dict(os.environ, RAP_PORT=str(port)),
                                  stdout=subprocess.PIPE)
                break
            except RuntimeError as e:
                if "is in use" not in str(e):
                    raise
        else:
            self.fail("three ports the OS picked were all taken at once")
        proc = srv.proc
        try:
            self.assertEqual(srv.listeners, [("rap", "127.0.0.1", port)])
            text = b""
            end = time.monotonic() + raplib.DEADLINE
            while b"Stop it with Ctrl-C.\n" not in text and time.monotonic() < end:
                r, _, _ = select.select([proc.stdout], [], [], end - time.monotonic())
                if r:
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    text += chunk
            text = text.decode()
            self.assertIn("rapsrv is starting on 127.0.0.1:%d, serving %s read-only." % (port, self.dir), text)
            uri = "rap://127.0.0.1:%d/%s/sample.bin" % (port, self.dir)
            lines = [l.strip() for l in text.split("Connect with:\n", 1)[1].splitlines()]
            self.assertEqual(lines[:3], ["r2 " + uri, "%s %s" % (RAPCLI, uri),
                                         "%s -c 'px 64' %s" % (RAPCLI, uri)])
            sample = raplib.sample_bytes()
            with open(os.path.join(self.dir, "sample.bin"), "rb") as f:
                self.assertEqual(f.read(), sample)
            r = subprocess.run(["sh", "-c", lines[1]], input=b"p8 16\n", capture_output=True,
                               timeout=TIMEOUT)
            self.assertEqual((r.returncode, r.stdout.decode()), (0, hexstr(sample[:16]) + "\n"), r.stderr)
            r = subprocess.run(["sh", "-c", lines[2]], capture_output=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode(), self.local_px(os.path.join(self.dir, "sample.bin")))
            self.assertEqual((srv.root, srv.mode), (self.dir, "read-only"))
        finally:
            proc.send_signal(signal.SIGINT)  # "Stop it with Ctrl-C."
            try:
                proc.wait(timeout=raplib.DEADLINE)
            except subprocess.TimeoutExpired:
                pass
            srv.stop()  # kills it if SIGINT did not
            proc.stdout.close()
        self.assertEqual(proc.returncode, 0, srv.logtext())

    def local_px(self, path):
        r = raplib.run_rapcli(["-c", "px 64", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode()


if __name__ == "__main__":
    unittest.main(verbosity=2)
