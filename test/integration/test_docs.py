"""The documentation is checked against the programs.

The man pages are the one place options are documented: every option that rapsrv --help
and rapcli -h print must be documented in doc/rapsrv.8.scd and doc/rapcli.1.scd, and every
option documented there must exist in --help, with the same short/long pairing and the same
"takes an argument" shape. The pages must also build with scdoc, and rap(7) must describe
the extension probe with the constants librap really uses.

README.md is run line by line (Readme, ReadmeCommands): every command of its sh blocks and
every line of its block of '=' commands runs against the built programs, on loopback, or is
listed with the reason it cannot; the paths and options it names exist. ServeSample runs
what ./run serve runs after building.

Environment: RAPSRV, RAPCLI (the binaries), RAP_DOC_DIR (the doc/ source directory),
RAP_SOURCE_ROOT and RAP_BUILD_ROOT, RAP_CC (the C compiler), RAP_SANITIZE (b_sanitize),
RAP_HAVE_OPENSSL and RAP_MAN_PAGES ("1" when built with OpenSSL, with man pages)."""

import glob
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
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
RAPSRV = os.environ.get("RAPSRV", "rapsrv")
RAPCLI = os.environ.get("RAPCLI", "rapcli")
DOC_DIR = os.environ.get("RAP_DOC_DIR", os.path.join(HERE, "..", "..", "doc"))
SRC_DIR = os.path.dirname(os.path.abspath(DOC_DIR))
SRC_ROOT = os.environ.get("RAP_SOURCE_ROOT", SRC_DIR)
BUILD_ROOT = os.environ.get("RAP_BUILD_ROOT", os.path.join(SRC_ROOT, "build"))
CC = os.environ.get("RAP_CC", "cc")
SANITIZE = os.environ.get("RAP_SANITIZE", "none")
HAVE_TLS = os.environ.get("RAP_HAVE_OPENSSL", "1") == "1"
HAVE_CAPSTONE = os.environ.get("RAP_HAVE_CAPSTONE", "1") == "1"
MAN_PAGES = os.environ.get("RAP_MAN_PAGES", "1") == "1"
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
        # "*64*", and "*128+*_N_" for 128+N
        documented = set(re.findall(r"^\*(\d+)\+?\*", body, re.M))
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


# ---- README.md, run line by line -----------------------------------------------------------
#
# Every shell command of README.md's ```sh blocks, and every line of its ```text block of '='
# commands, is either run here against the built binaries (RUN, in README order: example
# hosts, ports and paths replaced with real loopback servers on ports the OS picks and files
# in a temporary directory) or listed in NOT_RUN with the reason. A README command that is
# in neither fails the test, and so does an entry that no longer matches a README command.

README = os.path.join(SRC_ROOT, "README.md")
FENCE = re.compile(r"^([ \t]*)```([\w-]*)[ \t]*\n(.*?)^\1```[ \t]*$", re.M | re.S)

NOT_RUN = {
    "rapcli -c '=g& 2345 ./a.out arg1'": "needs gdb and ptrace: test_gdb.py runs =g& with real gdb",
    "rapsrv -r /srv/lab --allow-scheme file,dbg --gdb 2345 --gdb-program a.out":
        "needs gdb and ptrace: test_gdb.py runs rapsrv --gdb with real gdb",
    "gdb -ex 'target remote 127.0.0.1:2345' ./a.out": "interactive gdb: test_gdb.py runs it in batch mode",
    "./run serve": "installs packages and builds; what it runs then, dist/serve-sample.sh, "
                   "is run by ServeSample",
    "./run test": "installs packages, builds twice and runs this suite",
    "./run cross aarch64": "installs cross toolchains and builds for another architecture: "
                           "CI runs it (./run test --cross), test_devices.py runs there",
    "./run test --cross aarch64 --cross armhf --cross musl": "CI's whole run: this suite and the cross builds",
    "./run cross musl": "installs musl-tools and runs this whole suite again on a musl build: CI runs it "
                        "(./run test --cross musl)",
    "meson setup --cross-file dist/cross/aarch64-linux-gnu.ini -Ddefault_library=static "
    "-Dopenssl=disabled -Dlibedit=disabled --buildtype=minsize build-small":
        "a cross build (./run cross and dist/sizes.sh make it)",
    "r2 rap://127.0.0.1:9999//srv/firmware/image.bin": "radare2 is not in Debian 12 (the r2 "
                                                         "transcripts in test/vectors/r2 are)",
    "r2 rap://127.0.0.1:9999/image.bin": "radare2 is not in Debian 12",
    "r2 -w rap://127.0.0.1:9999//srv/firmware/image.bin": "radare2 is not in Debian 12",
    "meson setup build-system --prefix=/usr -Dsystemd_units=true && ninja -C build-system && "
    "sudo ninja -C build-system install": "a build and an install as root",
    "sudo systemctl enable --now rapsrv.socket": "root and a running systemd",
    "sudo systemctl edit rapsrv.service": "root, a running systemd and an editor (the drop-in "
                                          "it shows is checked by test_service_dropin)",
    "ssh -N -L 9999:127.0.0.1:9999 user@target &": "needs an ssh server and an account",
    "rapsrv -r /srv/firmware -l raps://0.0.0.0:9443 --tls-cert server.pem --tls-key server.key "
    "--secret-file /etc/rap/secret": "listens on every interface with the name rap.example.org "
                                     "(test_relay.py runs a raps:// upstream with --secret-file)",
    "rapsrv --upstream raps://rap.example.org:9443/ --upstream-tls-ca server.pem "
    "--upstream-secret-file ~/.config/rap/secret 127.0.0.1:9000":
        "needs the host rap.example.org (test_relay.py runs a relay to a raps:// upstream with "
        "--upstream-tls-ca and --upstream-secret-file)",
    "r2 rap://127.0.0.1:9000//srv/firmware/image.bin": "radare2 is not in Debian 12 (test_relay.py "
                                                       "replays its recorded open through a relay)",
    "meson setup build && ninja -C build && meson test -C build": "a build, and this suite",
    "meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false && "
    "meson test -C build-asan": "a build, and this suite",
    "meson test -C build --setup valgrind --suite unit": "the unit tests again, under valgrind "
                                                         "(minutes; ./run test runs it)",
    "CC=clang meson setup build-tsan -Db_sanitize=thread -Db_lundef=false && "
    "meson test -C build-tsan": "a build, and this suite",
    "./run analyze": "installs packages and analyses a fresh build (minutes; ./run test runs it)",
    "bench/run-local.sh": "a default run takes minutes",
    "bench/run-local.sh --json --sessions 5000": "a default run takes minutes",
    "build/bench/rapbench --server-pid PID 127.0.0.1:9999 /abs/path/to/file":
        "a default rapbench run takes a minute or more (its options are checked against "
        "rapbench --help by test_options_exist)",
    "r2 -q -e scr.color=0 rap://:9999 </dev/null &": "radare2 is not in Debian 12",
    "rapsrv -r /srv/debug --allow-scheme file,dbg --cmd write 127.0.0.1:9999":
        "needs ptrace and a program to debug: test_debugger.py runs rapsrv with these options "
        "on the test debuggee",
    "r2 -n rap://127.0.0.1:9999/dbg:///srv/debug/prog": "radare2 is not in Debian 12 "
                                                         "(test_debugger.py replays its byte stream)",
    "rapcli -c 'db 0x401126' -c dc -c 'dr rip' -d ./prog arg1":
        "needs ptrace and the test debuggee: test_debugger.py runs it (test_rapcli_local)",
    "build/bench/rapbench --sessions 1 --heavy 0 --bytes 1M --rounds 1 --server-pid $! 127.0.0.1:9999 "
    "/path/to/file": "measures the radare2 server of the line before",
}

# README command -> the method of ReadmeCommands that runs it (the '=' lines run in one
# rapcli session, eq_session).
RUN = {
    "rapsrv [OPTIONS] [[rap[s]://]HOST:]PORT": "synopsis",
    "rapsrv -r /srv/firmware 127.0.0.1:9999": "serve_firmware",
    "rapsrv -r /srv/firmware -w '[::1]:9999'": "serve_firmware_ipv6_rw",
    "rapsrv -l 127.0.0.1:9999 -l 192.0.2.10:9999": "serve_two_listeners",
    "rapcli rap://127.0.0.1:9999//srv/firmware/image.bin": "cli_prompt",
    "rapcli -c 'px 64 @ 0x100' rap://[::1]:9999//srv/image.bin": "cli_one_command",
    "echo 'p8 16 @ 0x10' | rapcli image.bin": "cli_stdin",
    "rapcli -i script.r2 -w rap://host:9999//tmp/x": "cli_script",
    "rapcli -L": "cli_plugins",
    "rapcli -c 'i~entry' -c 'pi 10 @ 0x61d0' /bin/ls": "cli_disasm_ls",
    "printf 'wx 4889e5c3\\npi 2\\n' | rapcli -a x86 -b 64 -": "cli_disasm_scratch",
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 "
    "-keyout server.key -out server.pem -subj '/CN=rap.example.org' "
    "-addext 'subjectAltName=DNS:rap.example.org,IP:127.0.0.1,IP:::1'": "openssl",
    "rapsrv -r /srv/firmware -l raps://0.0.0.0:9443 --tls-cert server.pem --tls-key server.key":
        "serve_tls",
    "rapcli --tls-ca server.pem raps://rap.example.org:9443//srv/firmware/image.bin": "cli_tls",
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 "
    "-keyout clients-ca.key -out clients-ca.pem -subj '/CN=rap clients CA'": "openssl",
    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
    "-keyout alice.key -out alice.csr -subj '/CN=alice'": "openssl",
    "openssl x509 -req -in alice.csr -CA clients-ca.pem -CAkey clients-ca.key -CAcreateserial "
    "-days 365 -out alice.pem": "openssl",
    "rapsrv -r /srv -l raps://0.0.0.0:9443 --tls-cert server.pem --tls-key server.key "
    "--tls-client-ca clients-ca.pem": "serve_mtls",
    "rapcli --tls-ca server.pem --tls-cert alice.pem --tls-key alice.key "
    "raps://rap.example.org:9443//srv/x": "cli_mtls",
    "cc prog.c -o prog $(pkg-config --cflags --libs rap-core)": "compile_example",
    "./prog rap://127.0.0.1:9999//srv/firmware/image.bin": "run_example",
    "meson devenv -C build -w .": "devenv_example",
}

# The '=' lines, run in this order in one rapcli session.
EQ_LINES = [
    "=+ rap://10.0.0.5:9999//bin/ls",
    "=+ raps://[::1]:9443/",
    "=+ tcp://127.0.0.1:5555",
    "=0 px 32 @ 0x100",
    "==1",
    "=<2 p8 64",
    "=&:9999",
    "=h& 9090",
    "wtf /tmp/dump.bin 0x1000000",
]


def fenced_blocks(text):
    """(language, line number of the fence, body) of every ``` block, indented ones too."""
    out = []
    for m in FENCE.finditer(text):
        indent = m.group(1)
        body = "".join(l[len(indent):] if l.startswith(indent) else l
                       for l in m.group(3).splitlines(True))
        out.append((m.group(2), text.count("\n", 0, m.start()) + 1, body))
    return out


def strip_comment(line):
    """Splits 'command   # comment' where the '#' starts a word outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip(), line[i + 1:].strip()
    return line.strip(), ""


def block_commands(body, fence_line):
    """(line number, command, comment) of a block: continuation lines joined, blank lines
    and comment-only lines dropped."""
    out = []
    cur, start = "", None
    for k, raw in enumerate(body.splitlines()):
        if start is None:
            start = fence_line + 1 + k
        cur = (cur + " " + raw.strip()) if cur else raw
        if cur.endswith("\\"):
            cur = cur[:-1].rstrip()
            continue
        cmd, comment = strip_comment(cur)
        if cmd:
            out.append((start, cmd, comment))
        cur, start = "", None
    return out


def readme_text():
    with open(README, encoding="utf-8") as f:
        return f.read()


def readme_says(phrase):
    """Whether README.md says phrase (line breaks and indentation as spaces)."""
    return " ".join(phrase.split()) in " ".join(readme_text().split())


def readme_commands(langs=("sh",)):
    out = []
    for lang, line, body in fenced_blocks(readme_text()):
        if lang in langs:
            out.extend(block_commands(body, line))
    return out


def hexstr(data):
    return data.hex()


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


IPV6 = have_ipv6_loopback()


def localhost_is_127_0_0_1():
    try:
        return "127.0.0.1" in {a[4][0] for a in socket.getaddrinfo("localhost", 1, socket.AF_INET)}
    except OSError:
        return False


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


class Prompt:
    """A rapcli reading commands from a pipe. run() sends one line followed by '?e MARK_n'
    and returns the standard output printed before the mark (every wait bounded)."""

    def __init__(self, argv, cwd, env):
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = b""
        self.err = []
        self.marks = 0
        self._t = threading.Thread(target=self._drain_err, daemon=True)
        self._t.start()

    def _drain_err(self):
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self.err.append(chunk.decode(errors="replace"))

    def errtext(self):
        return "".join(self.err)

    def run(self, line):
        self.marks += 1
        mark = b"MARK_%d\n" % self.marks
        self.proc.stdin.write(line.encode() + b"\n?e " + mark)
        self.proc.stdin.flush()
        end = time.monotonic() + raplib.DEADLINE
        while mark not in self.out:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("rapcli did not finish %r: %r / %r" % (
                    line, self.out, self.errtext()))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError("rapcli exited during %r: %r / %r" % (
                        line, self.out, self.errtext()))
                self.out += chunk
        at = self.out.index(mark)
        seen, self.out = self.out[:at], self.out[at + len(mark):]
        return seen.decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=raplib.DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._t.join(raplib.DEADLINE)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode


class TcpSink:
    """A loopback TCP listener that collects what its first client sends."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(raplib.DEADLINE)
        self.port = self.sock.getsockname()[1]
        self.data = b""
        self.conn = None

    def wait_for(self, n):
        if self.conn is None:
            self.conn, _ = self.sock.accept()
            self.conn.settimeout(raplib.DEADLINE)
        while len(self.data) < n:
            chunk = self.conn.recv(65536)
            if not chunk:
                break
            self.data += chunk
        return self.data

    def close(self):
        if self.conn:
            self.conn.close()
        self.sock.close()


class Readme(unittest.TestCase):
    """The README's commands are all known, and its paths and options exist."""

    def test_every_command_is_run_or_listed(self):
        known = set(RUN) | set(NOT_RUN)
        for line, cmd, _ in readme_commands():
            with self.subTest(line=line):
                self.assertTrue(cmd in known, "README.md:%d: %r is neither run by test_docs.py "
                                "(RUN) nor listed in NOT_RUN with a reason" % (line, cmd))

    def test_no_stale_entries(self):
        cmds = {c for _, c, _ in readme_commands()}
        for cmd in sorted(set(RUN) | set(NOT_RUN)):
            with self.subTest(command=cmd):
                self.assertTrue(cmd in cmds, "test_docs.py knows %r, README.md no longer has it"
                                % cmd)
        self.assertFalse(set(RUN) & set(NOT_RUN))

    def test_eq_lines_are_known(self):
        lines = [c for _, c, _ in readme_commands(("text",))]
        self.assertEqual(lines, EQ_LINES, "the ```text block of '=' commands changed: "
                         "update EQ_LINES and ReadmeCommands.eq_session")

    def test_run_entries_have_methods(self):
        for cmd, name in RUN.items():
            with self.subTest(command=cmd):
                self.assertTrue(callable(getattr(ReadmeCommands, name, None)), name)

    def test_top_is_run_serve_and_run_test(self):
        blocks = fenced_blocks(readme_text())
        self.assertTrue(blocks)
        lang, _, body = blocks[0]
        self.assertEqual(lang, "sh")
        self.assertEqual([c for _, c, _ in block_commands(body, 0)], ["./run serve", "./run test"])
        before = readme_text().split("```", 1)[0]
        self.assertEqual(before.strip(), "# rap", "README.md must start with the two commands")

    def repo_paths(self):
        """Tokens of inline code and shell commands that name a file of the repository
        (bench/..., libr/...) or of the build directory (build/...), braces expanded."""
        text = readme_text()
        tops = {d for d in os.listdir(SRC_ROOT) if not d.startswith(".") and d != "build"
                and os.path.isdir(os.path.join(SRC_ROOT, d))}
        spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        spans += [c for _, c, _ in readme_commands()]
        out = set()
        for span in spans:
            for tok in re.split(r"[\s'\"()=]+", span):
                top = tok.split("/", 1)[0]
                if "/" not in tok or "://" in tok or top not in tops | {"build"}:
                    continue
                m = re.search(r"\{([^}]*)\}", tok)
                alts = m.group(1).split(",") if m else [""]
                for a in alts:
                    out.add(tok[:m.start()] + a + tok[m.end():] if m else tok)
        return sorted(out)

    def test_paths_exist(self):
        paths = self.repo_paths()
        for must in ("libr/include/rap/core.h", "build/doc/rapsrv.8", "bench/run-local.sh",
                     "build/meson-uninstalled", "build/bench/rapbench", "test/vectors/r2/"):
            self.assertIn(must, paths, "README.md no longer names %s" % must)
        for p in paths:
            with self.subTest(path=p):
                if p.startswith("build/doc/") and not MAN_PAGES:
                    continue  # this build has no man pages (-Dman=disabled or no scdoc)
                full = (os.path.join(BUILD_ROOT, p[len("build/"):]) if p.startswith("build/")
                        else os.path.join(SRC_ROOT, p))
                if "*" in p:
                    self.assertTrue(glob.glob(full), "README.md names %s: nothing matches" % p)
                else:
                    self.assertTrue(os.path.exists(full), "README.md names %s: %s does not "
                                    "exist" % (p, full))

    def test_man_command(self):
        text = readme_text()
        m = re.search(r"`(man -l (\S+))`", text)
        self.assertIsNotNone(m, "README.md no longer says how to read rapsrv(8)")
        if not MAN_PAGES:
            self.skipTest("this build has no man pages")
        if not shutil.which("man"):
            self.skipTest("man is not installed")
        page = os.path.join(BUILD_ROOT, m.group(2)[len("build/"):])
        r = subprocess.run(["man", "-l", page], capture_output=True, timeout=TIMEOUT,
                           env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"rapsrv", r.stdout)

    def test_options_exist(self):
        """Every --option the README names is one of rapsrv's, rapcli's or rapbench's (or
        belongs to another tool it runs), and every -Dname a meson option."""
        helps = {}
        for name, argv in (("rapsrv", [RAPSRV, "--help"]), ("rapcli", [RAPCLI, "-h"]),
                           ("rapbench", [os.path.join(BUILD_ROOT, "bench", "rapbench"), "--help"])):
            helps[name] = run(argv).stdout.decode()
        foreign = {"--prefix": "meson setup", "--setup": "meson test", "--suite": "meson test",
                   "--cross-file": "meson setup", "--buildtype": "meson setup", "--cross": "./run test",
                   "--check": "dist/sizes.sh",
                   "--now": "systemctl", "--cflags": "pkg-config",
                   "--libs": "pkg-config", "--data-binary": "curl"}
        text = readme_text()
        # "--tls-*" names a family: some option must start with "--tls-".
        for opt in sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*\*?", text))):
            with self.subTest(option=opt):
                if opt in foreign:
                    continue
                pattern = (re.escape(opt[:-1]) + r"[\w-]+" if opt.endswith("*")
                           else re.escape(opt) + r"(?![\w-])")
                owners = [n for n, h in helps.items() if re.search(r"(?<![\w-])" + pattern, h)]
                self.assertTrue(owners, "README.md names %s, which no --help lists" % opt)
        with open(os.path.join(SRC_ROOT, "meson_options.txt"), encoding="utf-8") as f:
            options = set(re.findall(r"option\('([^']+)'", f.read()))
        options |= {"b_sanitize", "b_lundef", "werror", "prefix", "buildtype", "default_library"}
        for opt in sorted(set(re.findall(r"(?<![\w-])-D([a-z_]+)=", text))):
            with self.subTest(meson_option=opt):
                self.assertIn(opt, options, "README.md names -D%s=, which is no option" % opt)

    def test_stated_exit_statuses(self):
        """'-t ... exits 0 (or 78)', '64 usage, 69 cannot bind', rapbench's 'refused with
        exit 64'. (Not the rapcli exit-status paragraph: test_exit_codes_in_help_are_documented
        holds rapcli -h to rapcli(1), and test_rapcli.py runs the codes.)"""
        self.assertTrue(readme_says("then exits 0 (or 78)"))
        self.assertEqual(run([RAPSRV, "-t"]).returncode, 0)
        if HAVE_TLS:
            r = run([RAPSRV, "-t", "-l", "raps://127.0.0.1:0", "--tls-cert", "/nonexistent.pem"])
            self.assertEqual(r.returncode, 78, r.stderr)
        self.assertTrue(readme_says("64 usage, 69 cannot bind"))
        self.assertEqual(run([RAPSRV, "--no-such-option"]).returncode, 64)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            r = run([RAPSRV, "127.0.0.1:%d" % s.getsockname()[1]])
            self.assertEqual(r.returncode, 69, r.stderr)
        self.assertTrue(readme_says("any other host is refused with exit 64"))
        r = run([os.path.join(BUILD_ROOT, "bench", "rapbench"), "192.0.2.1:9999", "/x"])
        self.assertEqual(r.returncode, 64, r.stderr)

    def test_service_dropin(self):
        """The drop-in the README shows: its variables are what rapsrv.service uses, and the
        options in RAPSRV_OPTS pass rapsrv --check-config; the socket's addresses."""
        ini = [b for lang, _, b in fenced_blocks(readme_text()) if lang == "ini"]
        self.assertEqual(len(ini), 1)
        with open(os.path.join(SRC_ROOT, "dist", "systemd", "rapsrv.service"), encoding="utf-8") as f:
            unit = f.read()
        self.assertRegex(unit, r"ExecStart=\S*/rapsrv --root \$\{RAPSRV_ROOT\} \$RAPSRV_OPTS")
        m = re.search(r'^Environment="RAPSRV_OPTS=([^"]*)"', ini[0], re.M)
        self.assertIsNotNone(m)
        self.assertIn("Environment=RAPSRV_ROOT=", ini[0])
        r = run([RAPSRV, "-t", *m.group(1).split()])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(SRC_ROOT, "dist", "systemd", "rapsrv.socket"), encoding="utf-8") as f:
            sock = f.read()
        self.assertTrue(readme_says("`rapsrv.socket` listens on `127.0.0.1:9999` and `[::1]:9999`"))
        self.assertEqual(re.findall(r"^ListenStream=(.+)$", sock, re.M),
                         ["127.0.0.1:9999", "[::1]:9999"])

    @unittest.skipUnless(HAVE_TLS, "built without OpenSSL")
    def test_stock_tls_form(self):
        """'rapsrv raps://:9443//path/server.pem also works, with certificate chain and key
        in one PEM file' (an empty host: both loopback addresses)."""
        self.assertTrue(readme_says("`rapsrv raps://:9443//path/server.pem`"))
        box = os.path.realpath(tempfile.mkdtemp(prefix="rap-docs-"))
        try:
            openssl = next(c for c in RUN if c.startswith("openssl req -x509") and "server.pem" in c)
            r = subprocess.run(["sh", "-c", openssl], cwd=box, capture_output=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(box, "both.pem"), "wb") as f:
                for name in ("server.pem", "server.key"):
                    with open(os.path.join(box, name), "rb") as g:
                        f.write(g.read())
            with open(os.path.join(box, "data.bin"), "wb") as f:
                f.write(raplib.sample_bytes(4096))
            env = dict(os.environ, PATH=os.path.dirname(RAPSRV) + os.pathsep + os.environ["PATH"])
            srv = ShellServer("rapsrv -r %s raps://:0/%s/both.pem" % (box, box), box, env)
            try:
                hosts = [h for s, h, _ in srv.listeners if s == "raps"]
                self.assertIn("127.0.0.1", hosts)
                for scheme, host, port in srv.listeners:
                    r = raplib.run_rapcli(["--tls-ca", os.path.join(box, "server.pem"), "-c", "p8 8",
                                           "raps://%s:%d/data.bin" % (host, port)])
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stdout.decode().strip(), hexstr(raplib.sample_bytes(8)))
            finally:
                self.assertEqual(srv.stop(), 0)
        finally:
            shutil.rmtree(box, ignore_errors=True)


class ReadmeCommands(unittest.TestCase):
    """Runs the README's commands in order, in a temporary directory that holds the example
    files (/srv/firmware/image.bin becomes DIR/srv/firmware/image.bin, and so on)."""

    @classmethod
    def setUpClass(cls):
        cls.box = os.path.realpath(tempfile.mkdtemp(prefix="rap-readme-"))
        cls.files = {}
        for rel, size in (("image.bin", 16384), ("srv/firmware/image.bin", 65536),
                          ("srv/image.bin", 8192), ("srv/x", 4096), ("tmp/x", 4096),
                          ("bin/ls", 8192)):
            data = raplib.sample_bytes(size)
            if rel != "image.bin":  # different contents, so that a wrong file shows
                data = bytes(b ^ (len(rel) & 0x7F) for b in data)
            cls.write(rel, data)
        blocks = [b for lang, _, b in fenced_blocks(readme_text()) if lang == "c"]
        cls.write("prog.c", blocks[0].encode() if blocks else b"")
        cls.env = dict(os.environ, HOME=cls.box, RAPCLI_HISTFILE=os.path.join(cls.box, "hist"),
                       PATH=os.pathsep.join([os.path.dirname(RAPSRV), os.path.dirname(RAPCLI),
                                             os.environ.get("PATH", "")]))
        for k in ("PKG_CONFIG_PATH", "LD_LIBRARY_PATH"):
            cls.env.pop(k, None)
        # Servers for the "Connecting" lines: writable, beneath the directory.
        cls.servers = []
        cls.srv4 = raplib.Rapsrv(cls.box, "-w")
        cls.servers.append(cls.srv4)
        cls.srv6 = None
        if IPV6:
            cls.srv6 = raplib.Rapsrv(cls.box, "-w", host="::1")
            cls.servers.append(cls.srv6)
        cls.named = {}  # README servers kept for the lines after them (name -> ShellServer)

    @classmethod
    def tearDownClass(cls):
        for s in list(cls.named.values()) + cls.servers:
            s.stop()
        shutil.rmtree(cls.box, ignore_errors=True)

    @classmethod
    def write(cls, rel, data):
        p = os.path.join(cls.box, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        cls.files[rel] = data

    # -- helpers --

    def boxed(self, cmd):
        """The example's absolute paths (/srv, /tmp, /bin/ls) moved into the directory."""
        return re.sub(r"(?<![\w.~-])/(srv|tmp|bin)\b", lambda m: self.box + m.group(0), cmd)

    def replace(self, cmd, *pairs):
        for old, new in pairs:
            self.assertIn(old, cmd)
            cmd = cmd.replace(old, new)
        return cmd

    def sh(self, cmd, stdin=b"", env=None, timeout=raplib.DEADLINE):
        return subprocess.run(["sh", "-c", cmd], cwd=self.box, input=stdin, capture_output=True,
                              timeout=timeout, env=env or self.env)

    def ok(self, r, cmd):
        self.assertEqual(r.returncode, 0, "%s exited %d:\n%s%s" % (
            cmd, r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    def local(self, path, command):
        """What rapcli prints for command on a local file (the reference for remote output)."""
        r = raplib.run_rapcli(["-c", command, path])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode()

    def need_ipv6(self):
        if not IPV6:
            self.skipTest("no IPv6 loopback here")

    def need_tls(self):
        if not HAVE_TLS:
            self.skipTest("built without OpenSSL")

    def serve(self, cmd, name=None):
        """Starts a README rapsrv line; a named one stays up for the lines after it (and
        replaces an earlier one of that name, as it would have to on the real port)."""
        if name in self.named:
            self.assertEqual(self.named.pop(name).stop(), 0)
        srv = ShellServer(cmd, self.box, self.env)
        if name:
            self.named[name] = srv
        else:
            self.addCleanup(lambda: self.assertEqual(srv.stop(), 0, srv.logtext()))
        return srv

    def check_serves(self, srv, rel, tls_ca=None):
        """Every listener of srv serves the file rel (relative to the directory) from its root."""
        path = os.path.join(self.box, rel)
        self.assertTrue(path.startswith(srv.root + "/"), (path, srv.root))
        for scheme, host, port in srv.listeners:
            args = ["--tls-ca", tls_ca] if tls_ca else []
            r = raplib.run_rapcli(args + ["-c", "p8 16", "%s://%s:%d/%s" % (
                scheme, host, port, os.path.relpath(path, srv.root))])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode().strip(), hexstr(self.files[rel][:16]))

    # -- the README, in order --

    def test_readme_in_order(self):
        for line, cmd, comment in readme_commands():
            if cmd in NOT_RUN:
                continue
            with self.subTest(line=line, command=cmd):
                self.assertIn(cmd, RUN, "not known: see Readme.test_every_command_is_run_or_listed")
                getattr(self, RUN[cmd])(cmd, comment)
        with self.subTest(block="text: = commands"):
            self.eq_session()

    # Serving files

    def synopsis(self, cmd, comment):
        h = run([RAPSRV, "--help"]).stdout.decode()
        self.assertIn("Usage: " + cmd + "\n", h)
        self.assertEqual(comment, "default 127.0.0.1:9999 and [::1]:9999")
        self.assertIn("Default: 127.0.0.1:9999 and [::1]:9999,", h)

    def serve_firmware(self, cmd, comment):
        srv = self.serve(self.boxed(self.replace(cmd, ("127.0.0.1:9999", "127.0.0.1:0"))))
        self.assertEqual([(s, h) for s, h, _ in srv.listeners], [("rap", "127.0.0.1")])
        self.assertEqual((srv.root, srv.mode), (self.box + "/srv/firmware", "read-only"))
        self.check_serves(srv, "srv/firmware/image.bin")

    def serve_firmware_ipv6_rw(self, cmd, comment):
        self.need_ipv6()
        srv = self.serve(self.boxed(self.replace(cmd, ("[::1]:9999", "[::1]:0"))))
        self.assertEqual([(s, h) for s, h, _ in srv.listeners], [("rap", "[::1]")])
        self.assertEqual((srv.root, srv.mode), (self.box + "/srv/firmware", "read-write"))
        self.check_serves(srv, "srv/firmware/image.bin")

    def serve_two_listeners(self, cmd, comment):
        # 192.0.2.10 (documentation) stands for an address of the machine: 127.0.0.2 here.
        srv = self.serve(self.replace(cmd, ("127.0.0.1:9999", "127.0.0.1:0"),
                                      ("192.0.2.10:9999", "127.0.0.2:0")))
        self.assertEqual([(s, h) for s, h, _ in srv.listeners],
                         [("rap", "127.0.0.1"), ("rap", "127.0.0.2")])
        self.assertEqual((srv.root, srv.mode), (self.box, "read-only"))  # the current directory
        self.check_serves(srv, "image.bin")

    # Connecting (to the test's own servers: writable, serving the whole directory)

    def cli_prompt(self, cmd, comment):
        # Commands from a pipe rather than a terminal (test_rapcli_interactive has the prompt).
        c = self.boxed(self.replace(cmd, ("127.0.0.1:9999", "127.0.0.1:%d" % self.srv4.port)))
        out = self.ok(self.sh(c, b"p8 16 @ 0x10\n"), c)
        self.assertEqual(out, hexstr(self.files["srv/firmware/image.bin"][0x10:0x20]) + "\n")

    def cli_one_command(self, cmd, comment):
        self.need_ipv6()
        c = self.boxed(self.replace(cmd, ("[::1]:9999", "[::1]:%d" % self.srv6.port)))
        out = self.ok(self.sh(c), c)
        self.assertEqual(out, self.local(os.path.join(self.box, "srv/image.bin"), "px 64 @ 0x100"))

    def cli_stdin(self, cmd, comment):
        out = self.ok(self.sh(cmd), cmd)
        self.assertEqual(out, hexstr(self.files["image.bin"][0x10:0x20]) + "\n")

    def cli_script(self, cmd, comment):
        self.write("script.r2", b"wx 72617021 @ 0x20\np8 4 @ 0x20\n")
        c = self.boxed(self.replace(cmd, ("rap://host:9999", "rap://127.0.0.1:%d" % self.srv4.port)))
        out = self.ok(self.sh(c), c)
        self.assertEqual(out, "72617021\n")
        with open(os.path.join(self.box, "tmp/x"), "rb") as f:
            self.assertEqual(f.read(0x24)[0x20:], b"rap!")

    def cli_plugins(self, cmd, comment):
        out = self.ok(self.sh(cmd), cmd)
        # The README's list of librap-io plugins: plain paths and file://, malloc://N, rap://.
        for scheme in ("file://", "malloc://", "rap://"):
            self.assertIn(scheme, out)

    # Disassembly

    def cli_disasm_ls(self, cmd, comment):
        # The system's ls itself, not the directory's stand-in: its header picks the arch.
        r = self.sh(cmd)
        if not HAVE_CAPSTONE:
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"disassembly is not in this build", r.stderr)
            return
        out = self.ok(r, cmd)
        lines = out.splitlines()
        self.assertEqual(len(lines), 11, out)
        self.assertTrue(lines[0].startswith("entry    vaddr=0x"), out)
        # where ls is an x86-64 ELF, what r2 -n -a x86 -b 64 would be asked for
        info = raplib.run_rapcli(["-c", "i", "/bin/ls"]).stdout.decode()
        if "arch     x86" in info and "bits     64" in info:
            forced = raplib.run_rapcli(["-n", "-a", "x86", "-b", "64", "-c", "pi 10 @ 0x61d0", "/bin/ls"])
            self.assertEqual("\n".join(lines[1:]) + "\n", forced.stdout.decode())

    def cli_disasm_scratch(self, cmd, comment):
        r = self.sh(cmd)
        if not HAVE_CAPSTONE:
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"disassembly is not in this build", r.stderr)
            return
        self.assertEqual(self.ok(r, cmd), "mov rbp, rsp\nret\n")

    # TLS

    def openssl(self, cmd, comment):
        self.need_tls()
        self.ok(self.sh(cmd), cmd)
        out = re.search(r"-out (\S+)", cmd).group(1)
        self.assertTrue(os.path.getsize(os.path.join(self.box, out)) > 0)

    def serve_tls(self, cmd, comment):
        self.need_tls()
        srv = self.serve(self.boxed(self.replace(cmd, ("raps://0.0.0.0:9443", "raps://127.0.0.1:0"))),
                         name="tls")
        self.assertEqual([(s, h) for s, h, _ in srv.listeners], [("raps", "127.0.0.1")])
        self.check_serves(srv, "srv/firmware/image.bin", tls_ca=os.path.join(self.box, "server.pem"))

    def tls_port(self):
        self.assertIn("tls", self.named, "no TLS server from the line before")
        return self.named["tls"].port_of("raps", "127.0.0.1")

    def cli_tls(self, cmd, comment):
        self.need_tls()
        # rap.example.org stands for the server's name: here 127.0.0.1, which the
        # certificate also names (IP:127.0.0.1).
        addr = "raps://127.0.0.1:%d" % self.tls_port()
        c = self.boxed(self.replace(cmd, ("raps://rap.example.org:9443", addr)))
        out = self.ok(self.sh(c, b"p8 16\n"), c)
        self.assertEqual(out, hexstr(self.files["srv/firmware/image.bin"][:16]) + "\n")
        # "verifies the certificate and host name by default": not without the CA, not by a
        # name the certificate does not list; --tls-insecure skips that.
        r = self.sh(c.replace("--tls-ca server.pem ", ""), b"p8 16\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"certificate verify failed", r.stderr)
        if localhost_is_127_0_0_1():
            r = self.sh(c.replace("127.0.0.1", "localhost"), b"p8 16\n")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"hostname mismatch", r.stderr)
        self.ok(self.sh(c.replace("--tls-ca server.pem", "--tls-insecure"), b"p8 16\n"), c)

    def serve_mtls(self, cmd, comment):
        self.need_tls()
        srv = self.serve(self.boxed(self.replace(cmd, ("raps://0.0.0.0:9443", "raps://127.0.0.1:0"))),
                         name="tls")
        self.assertEqual((srv.root, srv.mode), (self.box + "/srv", "read-only"))

    def cli_mtls(self, cmd, comment):
        self.need_tls()
        addr = "raps://127.0.0.1:%d" % self.tls_port()
        c = self.boxed(self.replace(cmd, ("raps://rap.example.org:9443", addr)))
        out = self.ok(self.sh(c, b"p8 16\n"), c)
        self.assertEqual(out, hexstr(self.files["srv/x"][:16]) + "\n")
        # "clients without one fail the handshake"
        r = self.sh(c.replace("--tls-cert alice.pem --tls-key alice.key ", ""), b"p8 16\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"")
        self.assertTrue(self.named["tls"].wait_log(r"TLS handshake failed: peer did not return "
                                                   r"a certificate"), self.named["tls"].logtext())

    # Linking the libraries

    def cc_env(self):
        pcdir = os.path.join(BUILD_ROOT, "meson-uninstalled")
        return dict(self.env, PKG_CONFIG_PATH=pcdir)

    def compile_cmd(self, cmd):
        # The compiler meson uses; with a sanitizer build's libraries, its runtime too.
        san = " -fsanitize=" + SANITIZE if SANITIZE not in ("", "none") else ""
        return self.replace(cmd, ("cc prog.c", CC + san + " prog.c"))

    def compile_example(self, cmd, comment):
        # Against build/meson-uninstalled, standing in for the installed .pc files.
        if not shutil.which("pkg-config"):
            self.skipTest("pkg-config is not installed")
        c = self.compile_cmd(cmd)
        self.ok(self.sh(c, env=self.cc_env()), c)

    def lib_env(self):
        r = subprocess.run(["pkg-config", "--libs-only-L", "rap-core"], env=self.cc_env(),
                           capture_output=True, check=True)
        dirs = [f[2:] for f in r.stdout.decode().split()]
        return dict(self.env, LD_LIBRARY_PATH=os.pathsep.join(dirs))

    def run_cmd(self, cmd):
        return self.boxed(self.replace(cmd, ("127.0.0.1:9999", "127.0.0.1:%d" % self.srv4.port)))

    def run_example(self, cmd, comment):
        if not os.path.exists(os.path.join(self.box, "prog")):
            self.skipTest("prog was not built")
        c = self.run_cmd(cmd)
        out = self.ok(self.sh(c, env=self.lib_env()), c)
        self.assertEqual(out, self.local(os.path.join(self.box, "srv/firmware/image.bin"), "px 32"))

    def devenv_example(self, cmd, comment):
        """The two commands before it, typed into the shell meson devenv opens."""
        meson = shutil.which("meson")
        if not meson or not shutil.which("pkg-config"):
            self.skipTest("meson or pkg-config not on PATH")
        two = [c for _, c, _ in readme_commands() if RUN.get(c) in ("compile_example", "run_example")]
        self.assertEqual(len(two), 2)
        if os.path.exists(os.path.join(self.box, "prog")):
            os.remove(os.path.join(self.box, "prog"))  # built again, in the devenv shell
        c = self.replace(cmd, ("-C build", "-C " + shlex.quote(BUILD_ROOT)))
        script = "%s\n%s\n" % (self.compile_cmd(two[0]), self.run_cmd(two[1]))
        env = dict(self.env, SHELL="/bin/sh")
        out = self.ok(self.sh(c, script.encode(), env=env, timeout=120), c)
        self.assertIn(self.local(os.path.join(self.box, "srv/firmware/image.bin"), "px 32"), out)

    # The ```text block of '=' commands, in one rapcli session.

    def eq_session(self):
        self.need_tls()
        self.need_ipv6()
        box = self.box
        # host 0: the test's plain server; host 1: a TLS server on [::1] that wants client
        # certificates (so that --tls-cert is shown to apply to '=+' too); host 2: a sink.
        for f in ("server.pem", "server.key", "clients-ca.pem", "alice.pem", "alice.key"):
            self.assertTrue(os.path.exists(os.path.join(box, f)), "%s: the TLS section did not run" % f)
        tls6 = raplib.Rapsrv(box, *("--tls-cert", os.path.join(box, "server.pem"),
                                    "--tls-key", os.path.join(box, "server.key"),
                                    "--tls-client-ca", os.path.join(box, "clients-ca.pem")),
                             host="::1", listen="raps://[::1]:0")
        self.addCleanup(tls6.stop)
        sink = TcpSink()
        self.addCleanup(sink.close)
        big = raplib.sample_bytes(0x1000000 + 4096)
        self.write("big.bin", big)
        subs = {
            "=+ rap://10.0.0.5:9999//bin/ls": ("10.0.0.5:9999", "127.0.0.1:%d" % self.srv4.port),
            "=+ raps://[::1]:9443/": ("[::1]:9443", "[::1]:%d" % tls6.port),
            "=+ tcp://127.0.0.1:5555": ("127.0.0.1:5555", "127.0.0.1:%d" % sink.port),
            "=&:9999": (":9999", ":0"),
            "=h& 9090": ("9090", "0"),
        }
        p = Prompt([RAPCLI, "--tls-ca", "server.pem", "--tls-cert", "alice.pem", "--tls-key",
                    "alice.key", os.path.join(box, "big.bin")], box, self.env)
        try:
            comments = {c: com for _, c, com in readme_commands(("text",))}
            for line in EQ_LINES:
                with self.subTest(eq=line):
                    text = line
                    if line in subs:
                        text = self.replace(text, subs[line])
                    text = self.boxed(text)
                    out = p.run(text)
                    if line == "==1":
                        # "every line goes to host 1 until 'q'": ?V answers from rapsrv.
                        try:
                            self.assertEqual(out, "")
                            self.assertRegex(p.run("?V"), r"^rap \d+\.\d+\.\d+\n$")
                        finally:
                            self.assertEqual(p.run("q"), "")
                        continue
                    self.eq_check(line, out, p, sink, big, comments.get(line, ""))
            # "= lists the hosts with their numbers"
            listing = p.run("=")
            self.assertRegex(listing, r"(?m)^0 - rap://127\.0\.0\.1:%d/" % self.srv4.port)
            self.assertRegex(listing, r"(?m)^1 - raps://\[::1\]:%d" % tls6.port)
            self.assertRegex(listing, r"(?m)^2 - tcp://127\.0\.0\.1:%d" % sink.port)
            eq_help = p.run("=?")
            for cmd in ("=+", "==", "=<", "=&", "=h"):
                self.assertIn("| " + cmd, eq_help)
            self.assertEqual(p.run("e srv.cmd").strip(), "read")
        finally:
            # End of input: the background servers the block started (=&:, =h&) serve on
            # until Ctrl-C.
            if p.proc.poll() is None:
                p.proc.stdin.close()
                end = time.monotonic() + raplib.DEADLINE
                while "running in the background; Ctrl-C stops" not in p.errtext() and time.monotonic() < end:
                    time.sleep(0.01)
                self.assertIn("2 servers running in the background; Ctrl-C stops them", p.errtext())
                p.proc.send_signal(signal.SIGINT)
            rc = p.close()
        self.assertEqual(rc, 0, p.errtext())
        # raps:// hosts at the prompt are verified with the prompt's --tls-* options: without
        # --tls-ca the certificate fails, without --tls-cert the server refuses the client.
        for args, why in (([], None), (["--tls-ca", "server.pem"], "did not return a certificate")):
            r = subprocess.run([RAPCLI, *args, "-c", "=+ raps://[::1]:%d/" % tls6.port, "-c", "=",
                                "malloc://16"], cwd=box, capture_output=True, timeout=raplib.DEADLINE)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertNotIn(b"raps://", r.stdout)
            if why:
                self.assertTrue(tls6.wait_log(why), tls6.logtext())
            else:
                self.assertIn(b"certificate verify failed", r.stderr)

    def eq_check(self, line, out, p, sink, big, comment):
        box = self.box
        if line.startswith("=+ "):
            self.assertEqual(out, "", p.errtext())
        elif line == "=0 px 32 @ 0x100":
            self.assertEqual(out, self.local(os.path.join(box, "bin/ls"), "px 32 @ 0x100"))
        elif line == "=<2 p8 64":
            want = (hexstr(big[:64]) + "\n").encode()
            self.assertEqual(sink.wait_for(len(want)), want)
        elif line == "=&:9999":
            found = re.findall(r"listening on rap://(\[[^\]]+\]|[\d.]+):(\d+)", out)
            self.assertTrue(found, out)
            self.assertTrue(all(h in ("127.0.0.1", "[::1]") for h, _ in found), out)  # loopback
            r = raplib.run_rapcli(["-c", "p8 16", "rap://127.0.0.1:%s/%s/big.bin" % (found[0][1], box)])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode(), hexstr(big[:16]) + "\n")
        elif line == "=h& 9090":
            found = re.findall(r"listening on http://(\[[^\]]+\]|[\d.]+):(\d+)/", out)
            self.assertTrue(found, out)
            self.assertTrue(all(h in ("127.0.0.1", "[::1]") for h, _ in found), out)
            m = re.search(r"curl (http://127\.0\.0\.1:9090/\S+)", comment)
            self.assertIsNotNone(m, comment)
            url = m.group(1).replace(":9090/", ":%s/" % found[0][1])
            if shutil.which("curl"):
                r = subprocess.run(["curl", "-sS", "--max-time", str(int(raplib.DEADLINE)), url],
                                   capture_output=True, timeout=raplib.DEADLINE + 5)
                self.assertEqual(r.returncode, 0, r.stderr)
                body = r.stdout.decode()
            else:
                with urllib.request.urlopen(url, timeout=raplib.DEADLINE) as resp:
                    body = resp.read().decode()
            self.assertEqual(body, self.local(os.path.join(box, "big.bin"), "px 16"))
        elif line == "wtf /tmp/dump.bin 0x1000000":
            with open(os.path.join(box, "tmp/dump.bin"), "rb") as f:
                self.assertEqual(f.read(), big[:0x1000000])  # "copy 16 MiB from the position"
        else:
            self.fail("no check for %r" % line)


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
