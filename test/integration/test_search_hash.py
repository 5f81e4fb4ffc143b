"""Searches and hashes everywhere the command language runs: rapcli on a local file and on a
rap:// file, '=N CMD' and '==N' sessions on a rapsrv host, a stock radare2 client's ':CMD'
(raw CMD packets), rapcli's '=t' and '=h' servers, and rapsrv's --cmd levels. A remote
'ph sha256' of a 64 MiB file runs on the server: a counting proxy shows that only its
text crosses the network, and the server's peak memory shows that it streamed.

Expected values come from Python (hashlib, zlib, bytes.find) over the same files. Every
server is on loopback on a port the OS picks; every wait is bounded."""

import hashlib
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from raplib import enc_cmd, enc_open  # noqa: E402

DEADLINE = raplib.DEADLINE
SAMPLE = raplib.sample_bytes()
BIG_SIZE = 64 << 20


def run(args, stdin=None):
    r = raplib.run_rapcli(args, stdin=stdin)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def text_hits(data, needle, search=0, start=0, end=None):
    """radare2's lines for '/ needle' over data[start:end]: 16 printable bytes around."""
    end = len(data) if end is None else end
    out, i, n = [], start, 0
    while True:
        i = data.find(needle, i, end)
        if i < 0:
            break
        pre = data[max(0, i - 16):i]
        post = data[i + len(needle):i + len(needle) + 16]
        shown = bytes(b for b in pre + needle + post if 0x20 <= b <= 0x7e).decode()
        out.append('0x%08x hit%d_%d "%s"\n' % (i, search, n, shown))
        n += 1
        i += len(needle)
    return "".join(out)


# The commands every place runs, and what they print (a fresh session each time).
# (Outputs stay below 16 KiB, the most a stock radare2 client accepts in one answer.)
COMMANDS = ["ph sha256 100 @ 0x10", "ph md5 4096", "ph crc32 64", "ph entropy 4096",
            "/ 0001ff", "/x 7c72617032210a403030303166663.:ffffffffffffffffffffffffffff0f",
            "/x 2172617032", "/w rap"]


def expected_output():
    """What commands() print in one session, from Python over sample.bin."""
    lines = []
    if raplib.HAVE_OPENSSL:
        lines.append(hashlib.sha256(SAMPLE[0x10:0x10 + 100]).hexdigest() + "\n")
        lines.append(hashlib.md5(SAMPLE[:4096]).hexdigest() + "\n")
    if raplib.HAVE_ZLIB:
        lines.append("%08x\n" % zlib.crc32(SAMPLE[:64]))
    lines.append("3.27984818\n")  # radare2 6.2.1's figure (search-hash.txt)
    lines.append(text_hits(SAMPLE, b"0001ff", 0))
    # masked: every "|rap2!\n@0001ff" and the digit after it, whatever the high nibble
    masked = []
    i, n = 0, 0
    while True:
        i = SAMPLE.find(b"|rap2!\n@0001ff", i)
        if i < 0:
            break
        masked.append("0x%08x hit1_%d %s\n" % (i, n, SAMPLE[i:i + 15].hex()))
        n += 1
        i += 15
    assert n == 16
    lines.append("".join(masked))
    return "".join(lines)


def expected_outputs():
    """expected_output() command by command."""
    text = expected_output()
    outs = []
    for cmd in commands():
        if cmd.startswith("ph"):
            line, _, text = text.partition("\n")
            outs.append(line + "\n")
        elif cmd.startswith("/ "):
            n = text.count("hit0_")
            parts = text.split("\n")
            outs.append("\n".join(parts[:n]) + "\n")
            text = "\n".join(parts[n:])
        elif cmd.startswith("/x 7c"):
            outs.append(text)
            text = ""
        else:
            outs.append("")
    assert text == ""
    return outs


def commands():
    """COMMANDS without the algorithms this build lacks."""
    return [c for c in COMMANDS if (raplib.HAVE_OPENSSL or not c.startswith(("ph sha", "ph md5")))
            and (raplib.HAVE_ZLIB or not c.startswith("ph crc32"))]


class CountingProxy:
    """Forwards one TCP connection at a time to target and counts the bytes both ways."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(DEADLINE)
        self.port = self.sock.getsockname()[1]
        self.up = self.down = 0
        self.lock = threading.Lock()
        self.threads = []
        self.conns = []
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    def _accept(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        upstream = socket.create_connection(self.target, timeout=DEADLINE)
        self.conns = [conn, upstream]
        for src, dst, up in ((conn, upstream, True), (upstream, conn, False)):
            t = threading.Thread(target=self._pump, args=(src, dst, up), daemon=True)
            t.start()
            self.threads.append(t)

    def _pump(self, src, dst, up):
        src.settimeout(DEADLINE * 3)
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with self.lock:
                if up:
                    self.up += len(data)
                else:
                    self.down += len(data)
            dst.sendall(data)

    def close(self):
        self.accepter.join(DEADLINE)
        for t in self.threads:
            t.join(DEADLINE)
        for c in self.conns:
            c.close()
        self.sock.close()


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


class SearchHash(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.big = random.Random(20260822).randbytes(BIG_SIZE)
        cls.root.write("big.bin", cls.big)
        cls.srv = raplib.Rapsrv(cls.root.path)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.root.cleanup()

    def path(self, name):
        return os.path.join(self.root.path, name)

    def uri(self, name):
        return "%s/%s" % (self.srv.uri, self.path(name))

    def c_args(self, cmds):
        out = []
        for c in cmds:
            out += ["-c", c]
        return out

    # ---- rapcli on files --------------------------------------------------------------

    def test_local_file(self):
        rc, out, err = run(self.c_args(commands()) + [self.path("sample.bin")])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, expected_output())
        self.assertEqual(err, "")

    def test_rap_file(self):
        rc, out, err = run(self.c_args(commands()) + [self.uri("sample.bin")])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, expected_output())

    @raplib.skip_under_emulation("it tests this build's rapcli, which cross builds do not run")
    def test_missing_algorithm_without_openssl(self):
        if raplib.HAVE_OPENSSL:
            self.skipTest(raplib.WITH_OPENSSL)
        rc, out, err = run(["-c", "ph sha256 16", "-c", "ph", self.path("sample.bin")])
        self.assertEqual(rc, 1)
        self.assertIn("error: sha256 is not in this build (it needs OpenSSL; see 'ph')", err)
        self.assertNotIn("sha256", out)

    # ---- remote hosts -----------------------------------------------------------------

    def test_eq_n_command_runs_on_the_host(self):
        cmds = ["=+ " + self.uri("sample.bin")] + ["=0 " + c for c in commands()]
        # The local file differs: the answers can only come from the server's file.
        rc, out, err = run(self.c_args(cmds) + [self.path("big.bin")])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, expected_output())

    def test_eq_eq_session(self):
        stdin = ("=+ %s\n==0\n%s\nq\n/x 2172617032\n" % (self.uri("sample.bin"), "\n".join(commands()))).encode()
        rc, out, err = run([self.path("big.bin")], stdin=stdin)
        self.assertEqual(rc, 0, err)
        # After q the line runs here again, in this session's numbering (its first search).
        self.assertEqual(out, expected_output())

    def test_stock_client_cmd_packets(self):
        """What radare2's ':CMD' sends: a CMD packet after the OPEN; the answer ends in a NUL."""
        with self.srv.connect() as s:
            s.sendall(enc_open(5, self.path("sample.bin")))
            raplib.recv_messages(s, 1)
            answers = []
            for cmd in commands():
                s.sendall(enc_cmd(cmd))
                m = raplib.recv_messages(s, 1)[0]
                self.assertEqual(m.payload[-1:], b"\0")
                answers.append(m.payload[:-1].decode())
        self.assertEqual("".join(answers), expected_output())

    def test_cmd_levels_of_rapsrv(self):
        # --cmd read is the default (the server above); none refuses.
        with raplib.Rapsrv(self.root.path, "--cmd", "none") as srv:
            rc, out, err = run(["-c", "=+ %s/%s" % (srv.uri, self.path("sample.bin")), "-c", "=0 / 0001ff",
                                "-c", "=0 ph entropy"])
            self.assertEqual(rc, 1)
            self.assertEqual(out.count("refused by the server's command policy (none)"), 2, out)
        with raplib.Rapsrv(self.root.path, "--cmd", "read") as srv:
            rc, out, err = run(["-c", "=+ %s/%s" % (srv.uri, self.path("sample.bin")), "-c", "=0 ph entropy 4096",
                                "-c", "=0 / 00002230",
                                # a session's search range is its own business
                                "-c", "=0 e search.in=range", "-c", "=0 e search.from=0x10",
                                "-c", "=0 e search.to=0x20", "-c", "=0 /x 40",
                                "-c", "=0 e srv.cmd=all"])
            self.assertEqual(rc, 1)
            self.assertEqual(out, '3.27984818\n0x00002231 hit0_0 "00002220|rap2!@00002230|rap2!@00002240"\n'
                             '0x00000010 hit1_0 40\n'
                             "error: command 'e' refused by the server's command policy (read)\n")

    # ---- rapcli's own servers ---------------------------------------------------------

    def test_tcp_and_http_servers(self):
        p = subprocess.Popen([raplib.RAPCLI, "-c", "=t& 0", "-c", "=h& 0", self.path("sample.bin")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out = b""
            end = time.monotonic() + DEADLINE
            while out.count(b"listening on") < 4:
                left = end - time.monotonic()
                if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
                    raise AssertionError("rapcli did not start its servers: %r" % out)
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    raise AssertionError("rapcli exited: %r" % out)
                out += chunk
            tcp = int(re.search(rb"listening on tcp://127\.0\.0\.1:(\d+)", out).group(1))
            http = int(re.search(rb"listening on http://127\.0\.0\.1:(\d+)", out).group(1))
            # One connection per command line on the TCP server.
            got = []
            for cmd in commands():
                with socket.create_connection(("127.0.0.1", tcp), timeout=DEADLINE) as s:
                    s.sendall(cmd.encode() + b"\n")
                    s.shutdown(socket.SHUT_WR)
                    got.append(raplib.recv_until_closed(s).decode())
            # The server keeps one core: its numbering goes on across connections. An
            # empty answer is a newline.
            self.assertEqual(got, [o or "\n" for o in expected_outputs()])
            q = urllib.parse.quote("ph entropy 4096")
            with urllib.request.urlopen("http://127.0.0.1:%d/cmd/%s" % (http, q), timeout=DEADLINE) as r:
                self.assertEqual(r.read().decode(), "3.27984818\n")
            q = urllib.parse.quote("/ 00002230")
            with urllib.request.urlopen("http://127.0.0.1:%d/cmd/%s" % (http, q), timeout=DEADLINE) as r:
                self.assertEqual(r.read().decode(),
                                 '0x00002231 hit0_0 "00002220|rap2!@00002230|rap2!@00002240"\n')
        finally:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                f.close()

    # ---- a remote hash runs remotely ----------------------------------------------------

    def test_remote_sha256_of_64_mib_sends_only_text(self):
        if raplib.HAVE_OPENSSL:
            algo, want = "sha256", hashlib.sha256(self.big).hexdigest()
        else:
            # Without OpenSSL: entropy, checked against the same command run here.
            algo = "entropy"
            rc, want, err = run(["-c", "ph entropy 0x4000000", self.path("big.bin")])
            self.assertEqual(rc, 0, err)
            want = want.strip()
        with raplib.Rapsrv(self.root.path) as srv:
            proxy = CountingProxy(srv.port)
            before = peak_rss_kib(srv.proc.pid)
            rc, out, err = run(["-c", "=+ rap://127.0.0.1:%d/%s" % (proxy.port, self.path("big.bin")),
                                "-c", "=0 ph %s 0x4000000" % algo, "-c", "=0 /x 00112233445566778899"])
            proxy.close()
            after = peak_rss_kib(srv.proc.pid)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, want + "\n")
        # 64 MiB hashed and searched over there; here only the OPEN, two commands and
        # their answers: far below a thousandth of the file.
        self.assertGreater(proxy.up, 0)
        self.assertLess(proxy.up + proxy.down, 4096, (proxy.up, proxy.down))
        # It streamed: the server's peak memory grew by far less than the file.
        self.assertLess(after - before, 16 << 10, (before, after))
        if os.environ.get("RAP_TEST_VERBOSE"):
            print("wire: %d bytes up, %d down; server peak RSS %d -> %d KiB"
                  % (proxy.up, proxy.down, before, after), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
