"""Servers started from rapcli's prompt: '=&:0' serving several real clients (raw RAP bytes
on IPv4 and IPv6, a second rapcli on rap://) while the prompt keeps working with its own
position; '=:0', '=t 0' and '=h 0' in the foreground stopped with SIGINT; '=h&' driven by
curl (GET, POST, errors) and stopped with '=h-'; the TCP command server with python
sockets (the 'echo px | nc' of the docs) and curl; the server policy; misbehaving clients.

rapcli reads its commands from a pipe that stays open, so it is a live prompt; every wait
is bounded; every port is chosen by the OS and read from the "listening on" line."""

import os
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from raplib import CMD, OPEN, READ, SEEK, WRITE, CLOSE, enc_cmd, enc_open, enc_read, enc_seek  # noqa: E402

DEADLINE = raplib.DEADLINE
CURL = shutil.which("curl")


class Cli:
    """rapcli on a file with its stdin a pipe kept open: a prompt driven line by line."""

    def __init__(self, path, env=None, args=()):
        self.proc = subprocess.Popen([raplib.RAPCLI, *args, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.out = b""
        self.err = b""
        self.cond = threading.Condition()
        self.seq = 0
        self.readers = [threading.Thread(target=self._drain, args=(self.proc.stdout, "out"), daemon=True),
                        threading.Thread(target=self._drain, args=(self.proc.stderr, "err"), daemon=True)]
        for t in self.readers:
            t.start()

    def _drain(self, pipe, name):
        while True:
            chunk = pipe.read1(65536)
            with self.cond:
                if chunk:
                    setattr(self, name, getattr(self, name) + chunk)
                self.cond.notify_all()
            if not chunk:
                return

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def wait_for(self, pattern, stream="out", timeout=DEADLINE):
        """Waits until pattern matches the stream; returns the match and drops the text up
        to its end, so later waits see only newer output."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                m = rx.search(getattr(self, stream))
                if m:
                    setattr(self, stream, getattr(self, stream)[m.end():])
                    return m
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not any(t.is_alive() for t in self.readers):
                    raise AssertionError("no %r on %s within %ss: %r / stderr %r" %
                                         (pattern, stream, timeout, getattr(self, stream), self.err))
                self.cond.wait(left)

    def run(self, line):
        """Runs one prompt line and returns its stdout (a marker echoed after it tells the
        end of the output)."""
        self.seq += 1
        mark = "--mark-%d--" % self.seq
        self.send(line)
        self.send("?e " + mark)
        m = self.wait_for(rb"(?s)(.*?)" + re.escape(mark.encode()) + rb"\n")
        return m.group(1).decode()

    def start_server(self, line, scheme):
        self.send(line)
        m = self.wait_for(r"listening on %s://127\.0\.0\.1:(\d+)" % scheme)
        port = int(m.group(1))
        self.wait_for(r"listening on %s://\[::1\]:%d/?\n" % (scheme, port))
        return port

    def quit(self):
        if self.proc.poll() is None:
            try:
                self.send("q")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self.readers:
            t.join(DEADLINE)
        return self.proc.returncode


def connect(host, port):
    s = socket.create_connection((host, port), timeout=DEADLINE)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rap_call(sock, data, count=1):
    sock.sendall(data)
    return raplib.recv_messages(sock, count)


def cmd_text(msg):
    return msg.payload.rstrip(b"\0").decode()


def line_exchange(host, port, data, shut=True):
    """What 'echo CMD | nc HOST PORT' does: send, half-close, read to the end."""
    with connect(host, port) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        return raplib.recv_until_closed(s)


def hexdump16(off):
    rec = b"@%08x|rap2!\n" % off
    pairs = " ".join(rec[i:i + 2].hex() for i in range(0, 16, 2))
    ascii_ = "".join(chr(b) if 0x20 <= b < 0x7f else "." for b in rec)
    return ("- offset -   0 1  2 3  4 5  6 7  8 9  A B  C D  E F  0123456789ABCDEF\n"
            "0x%08x  %s  %s\n" % (off, pairs, ascii_))


def curl(*args):
    r = subprocess.run([CURL, "-sS", "--max-time", str(int(DEADLINE)), *args], capture_output=True,
                       timeout=DEADLINE + 5)
    return r.returncode, r.stdout


class Servers(unittest.TestCase):

    def setUp(self):
        self.root = raplib.TempRoot()
        self.path = os.path.join(self.root.path, "sample.bin")
        self.clis = []

    def tearDown(self):
        for c in self.clis:
            c.quit()
        self.root.cleanup()

    def cli(self, env=None):
        c = Cli(self.path, env)
        self.clis.append(c)
        return c

    # ---- rap -------------------------------------------------------------------------

    def test_background_rap_server_many_clients(self):
        cli = self.cli()
        self.assertEqual(cli.run("s 0x40; b 0x20"), "")
        port = cli.start_server("=&:0", "rap")
        self.assertIn("rap server on 127.0.0.1:%d, [::1]:%d (background, srv.cmd=read)" % (port, port),
                      cli.run("="))

        # A raw stock-style client on IPv4: OPEN, SEEK, READ, CMD.
        a = connect("127.0.0.1", port)
        m, = rap_call(a, enc_open(4, self.path))
        self.assertEqual(m.op, OPEN | 0x80)
        fd = m.svalue
        self.assertGreaterEqual(fd, 3)
        seek, data = rap_call(a, enc_seek(0, 0x100) + enc_read(16), 2)
        self.assertEqual(seek.offset, 0x100)
        self.assertEqual(data.payload, raplib.sample_bytes()[0x100:0x110])
        m, = rap_call(a, enc_cmd("s"))
        self.assertEqual(cmd_text(m), "0x100\n")
        # Policy read: only the files the user has open can be opened.
        m, = rap_call(a, enc_open(4, os.path.join(self.root.path, "sample-rw.bin")))
        self.assertEqual(m.svalue, -1)

        # A raw client on IPv6, command-only: it starts on the user's file and position.
        b = connect("::1", port)
        m, = rap_call(b, enc_cmd("s; p8 4"))
        self.assertEqual(cmd_text(m), "0x40\n40303030\n")

        # A second rapcli through rap://, at the same time.
        r = raplib.run_rapcli(["-c", "px 16", "-c", "s 0x200", "-c", "p8 4",
                               "rap://127.0.0.1:%d/%s" % (port, self.path)])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), hexdump16(0) + "40303030\n")

        # The prompt keeps working with its own position and block size.
        self.assertEqual(cli.run("s; b; p8 2"), "0x40\n0x20\n4030\n")

        # Policy read: no writes, no closing the user's file, and the reason comes back.
        m, = rap_call(a, enc_cmd("wx 41"))
        self.assertEqual(cmd_text(m), "error: command 'wx' refused by the server's command policy (read)\n")
        m, = rap_call(a, raplib.enc_write(b"XY"))
        self.assertEqual(m.value, 0)
        m, = rap_call(b, raplib.enc_close(3))
        self.assertEqual(m.svalue, -1)
        m, = rap_call(a, raplib.enc_close(fd))
        self.assertEqual(m.value, 0)
        # The second rapcli's file closes when the server sees it leave.
        end = time.monotonic() + DEADLINE
        while cli.run("o").count("\n") != 1 and time.monotonic() < end:
            time.sleep(0.01)
        self.assertEqual(cli.run("o").count("\n"), 1)

        # A client's q ends its own session only.
        m, = rap_call(b, enc_cmd("q"))
        self.assertEqual(raplib.recv_until_closed(b), b"")
        b.close()
        m, = rap_call(a, enc_cmd("?e alive"))
        self.assertEqual(cmd_text(m), "alive\n")

        # Misbehaving clients: garbage, a half-sent header, an endless silence.
        with connect("127.0.0.1", port) as g:
            g.sendall(b"\x99garbage")
            self.assertEqual(raplib.recv_until_closed(g), b"")
        half = connect("127.0.0.1", port)
        half.sendall(bytes([CMD, 0, 0]))
        idle = connect("::1", port)
        m, = rap_call(a, enc_cmd("p8 1"))
        self.assertEqual(cmd_text(m), "40\n")
        with connect("127.0.0.1", port) as c2:
            m, = rap_call(c2, enc_cmd("?e new client"))
            self.assertEqual(cmd_text(m), "new client\n")
        half.close()
        idle.close()
        a.close()

        # Stopped with =&-: nothing listens once the command returned.
        self.assertEqual(cli.run("=&-%d" % port), "")
        self.assertEqual(cli.run("="), "")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.assertEqual(cli.quit(), 0)

    def test_background_rap_server_serves_its_own_prompt(self):
        # The prompt connects to the server it runs: the server's thread must be able to
        # open and read the user's file while the prompt waits on it.
        cli = self.cli()
        port = cli.start_server("=&:0", "rap")
        cli.send("o rap://127.0.0.1:%d/%s" % (port, self.path))
        cli.send("s 0x40; px 16")
        cli.send("?e --done--")
        m = cli.wait_for(rb"(?s)(.*?)--done--\n")
        self.assertEqual(m.group(1).decode().splitlines()[1], hexdump16(0x40).splitlines()[1])
        self.assertIn("rap://127.0.0.1:%d/" % port, cli.run("o"))
        # A remote command through that file runs on the server's session, where the
        # read above left the position (the user's own core never moved): through the
        # read cache, the start of the block it read (64 KiB blocks)...
        self.assertEqual(cli.run("=!s"), "0x0\n")
        # ... and without it, where the read itself was.
        cli.send("e io.cache.size=0; px 16 @ 0x40")
        cli.send("?e --done--")
        cli.wait_for(rb"(?s)(.*?)--done--\n")
        self.assertEqual(cli.run("=!s"), "0x40\n")

    def test_rap_write_policy(self):
        cli = self.cli()
        cli.run("e srv.cmd=write")
        port = cli.start_server("=&r 0", "rap")
        with connect("127.0.0.1", port) as s:
            m, = rap_call(s, enc_open(6, self.path))
            self.assertGreaterEqual(m.svalue, 0)
            seek, w = rap_call(s, enc_seek(0, 0x10) + raplib.enc_write(b"WXYZ"), 2)
            self.assertGreater(w.value, 0)  # stock clients read any non-zero as success
            # "write" may open other files too (within the IO policy).
            m, = rap_call(s, enc_open(6, os.path.join(self.root.path, "sample-rw.bin")))
            self.assertGreaterEqual(m.svalue, 0)
            seek, w = rap_call(s, enc_seek(0, 0) + raplib.enc_write(b"rw"), 2)
            self.assertGreater(w.value, 0)
        self.assertEqual(cli.run("p8 4 @ 0x10"), "5758595a\n")
        self.assertEqual(self.root.read("sample.bin")[0x10:0x14], b"WXYZ")
        self.assertEqual(self.root.read("sample-rw.bin")[:2], b"rw")

    def test_foreground_rap_server_sigint(self):
        cli = self.cli()
        port = cli.start_server("=:0", "rap")
        cli.wait_for(r"press Ctrl-C to stop the server", stream="err")
        with connect("::1", port) as s:
            m, = rap_call(s, enc_cmd("p8 4 @ 0x20"))
            self.assertEqual(cmd_text(m), "40303030\n")
            # Lines typed meanwhile wait for the server to stop.
            cli.send("?e after the server")
            cli.proc.send_signal(signal.SIGINT)
            cli.wait_for(r"rap server stopped", stream="err")
            self.assertEqual(raplib.recv_until_closed(s), b"")
        cli.wait_for(r"after the server\n")
        self.assertEqual(cli.run("s"), "0x0\n")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.assertEqual(cli.quit(), 0)

    # ---- tcp -------------------------------------------------------------------------

    def test_tcp_command_server(self):
        cli = self.cli()
        port = cli.start_server("=t& 0", "tcp")
        self.assertEqual(line_exchange("127.0.0.1", port, b"px 16\n").decode(), hexdump16(0))
        self.assertEqual(line_exchange("::1", port, b"p8 4 @ 0x10\n"), b"40303030\n")
        # Without the half-close the newline ends the command.
        self.assertEqual(line_exchange("127.0.0.1", port, b"?e no-shutdown\n", shut=False), b"no-shutdown\n")
        # One core for the server: 's' persists between connections; the prompt's does not move.
        self.assertEqual(line_exchange("::1", port, b"s 0x100\n"), b"\n")
        self.assertEqual(line_exchange("127.0.0.1", port, b"s\n"), b"0x100\n")
        self.assertEqual(cli.run("s"), "0x0\n")
        self.assertEqual(line_exchange("127.0.0.1", port, b"w hello\n"),
                         b"error: command 'w' refused by the server's command policy (read)\n")
        if CURL:
            rc, body = curl("-g", "http://[::1]:%d/cmd/px%%2016" % port)
            self.assertEqual(rc, 0)
            self.assertEqual(body.decode(), hexdump16(0x100))
        # A silent client and a flood do not stop it.
        silent = connect("127.0.0.1", port)
        self.assertIn(b"too long", line_exchange("127.0.0.1", port, b"A" * (70 << 10), shut=False))
        self.assertEqual(line_exchange("::1", port, b"?e fine\n"), b"fine\n")
        silent.close()
        # rizin's and radare2's "=t [HOST:]PORT CMD" query it from another rapcli.
        for addr in ("127.0.0.1:%d" % port, "[::1]:%d" % port, "%d" % port):
            r = raplib.run_rapcli(["-c", "=t %s p8 4 @ 0x10" % addr])
            self.assertEqual((r.returncode, r.stdout), (0, b"40303030\n"), (addr, r.stderr))
        self.assertEqual(cli.run("=t-"), "")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("::1", port), timeout=DEADLINE)

    def test_background_servers_outlive_a_script_whatever_stdin_is(self):
        # "rapcli -c '=&:PORT' file": the commands are done, the servers serve on until
        # Ctrl-C, whether standard input is a pipe nobody writes to, /dev/null or closed.
        for stdin in (subprocess.PIPE, subprocess.DEVNULL):
            p = subprocess.Popen([raplib.RAPCLI, "-c", "=&:0", "-c", "=t& 0", self.path], stdin=stdin,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                out = b""
                end = time.monotonic() + DEADLINE
                while out.count(b"listening on") < 4 and time.monotonic() < end:
                    out += p.stdout.read1(4096)
                rap_port = int(re.search(rb"listening on rap://127\.0\.0\.1:(\d+)", out).group(1))
                tcp_port = int(re.search(rb"listening on tcp://127\.0\.0\.1:(\d+)", out).group(1))
                self.assertEqual(p.stderr.readline(), b"rapcli: 2 servers running in the background; Ctrl-C stops them\n")
                s = connect("127.0.0.1", rap_port)
                r = rap_call(s, enc_open(5, self.path) + enc_seek(0, 0x10) + enc_read(4), 3)
                self.assertEqual(r[2].payload, b"@000")
                s.close()
                self.assertEqual(line_exchange("::1", tcp_port, b"p8 4\n"), b"40303030\n")
                p.send_signal(signal.SIGINT)
                self.assertEqual(p.wait(timeout=DEADLINE), 0)
                with self.assertRaises(ConnectionRefusedError):
                    socket.create_connection(("127.0.0.1", rap_port), timeout=DEADLINE)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                for f in (p.stdin, p.stdout, p.stderr):
                    if f:
                        f.close()
        # A script that ends with q stops them at once.
        r = raplib.run_rapcli(["-c", "=&:0", "-c", "q", self.path])
        self.assertEqual(r.returncode, 0)
        self.assertNotIn(b"background", r.stderr)

    def test_tcp_foreground_sigint(self):
        cli = self.cli()
        port = cli.start_server(".:0", "tcp")
        self.assertEqual(line_exchange("::1", port, b"p8 2\n"), b"4030\n")
        cli.proc.send_signal(signal.SIGINT)
        cli.wait_for(r"tcp server stopped", stream="err")
        self.assertEqual(cli.run("?e back"), "back\n")
        self.assertEqual(cli.quit(), 0)

    # ---- http ------------------------------------------------------------------------

    @unittest.skipUnless(CURL, "curl is not installed")
    def test_http_background_with_curl(self):
        cli = self.cli()
        port = cli.start_server("=h& 0", "http")
        base = "http://127.0.0.1:%d" % port
        rc, body = curl(base + "/cmd/px%2016")
        self.assertEqual((rc, body.decode()), (0, hexdump16(0)))
        rc, raw = curl("-i", base + "/cmd/p8%204%20@%200x10")
        self.assertEqual(rc, 0)
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
        self.assertNotIn(b"\n", head.replace(b"\r\n", b""))
        self.assertIn(b"\r\nContent-Type: text/plain; charset=utf-8", head)
        self.assertIn(b"\r\nContent-Length: 9", head)
        self.assertEqual(body, b"40303030\n")
        # POST: the body is the command; the server's position persists, the prompt's not.
        rc, body = curl("--data-binary", "s 0x100\np8 4", base + "/cmd")
        self.assertEqual((rc, body), (0, b"40303030\n"))
        rc, body = curl("-g", "http://[::1]:%d/cmd/s" % port)
        self.assertEqual((rc, body), (0, b"0x100\n"))
        self.assertEqual(cli.run("s"), "0x0\n")
        # Errors and the policy.
        for args, code in ((["/nothing"], "404"), (["-X", "DELETE", "/cmd/px"], "405"),
                           (["/cmd/px%zz"], "400"), (["/cmd/wx%2041"], "403"),
                           (["-H", "Host: rebind.example", "/cmd/px"], "403")):
            rc, out = curl("-o", "/dev/null", "-w", "%{http_code}", *args[:-1], base + args[-1])
            self.assertEqual(out.decode(), code, args)
        rc, body = curl(base + "/cmd/wx%2041")
        self.assertEqual(body, b"error: command 'wx' refused by the server's command policy (read)\n")
        # A big POST body goes through curl's Expect: 100-continue.
        big = "?e " + "x" * 5000
        rc, body = curl("--data-binary", big, base + "/cmd/")
        self.assertEqual((rc, body), (0, ("x" * 5000 + "\n").encode()))
        self.assertIn("http server on 127.0.0.1:%d, [::1]:%d (background" % (port, port), cli.run("="))
        self.assertEqual(cli.run("=h-"), "")
        rc, _ = curl(base + "/cmd/s")
        self.assertEqual(rc, 7)  # could not connect

    @unittest.skipUnless(CURL, "curl is not installed")
    def test_http_refuses_cross_site_requests(self):
        cli = self.cli()
        port = cli.start_server("=h& 0", "http")
        base = "http://127.0.0.1:%d" % port
        # What a web page can make a browser send: refused, and nothing runs.
        for args in (["-H", "Sec-Fetch-Site: cross-site"],
                     ["-H", "Origin: null"],
                     ["-H", "Origin: http://evil.example", "-H", "X-Rap: 1"],
                     ["-A", "Mozilla/5.0 (X11; Linux x86_64)"],
                     ["-e", "http://evil.example/"],
                     ["-A", "Mozilla/5.0", "--data-binary", "s 0x99"]):
            rc, out = curl("-o", "/dev/null", "-w", "%{http_code}", *args, base + "/cmd/s%200x99")
            self.assertEqual(out.decode(), "403", args)
        rc, body = curl("-A", "Mozilla/5.0", base + "/cmd/s")
        self.assertIn(b"X-Rap", body)
        # curl as it is, and anything with X-Rap, runs commands.
        rc, body = curl(base + "/cmd/s")
        self.assertEqual((rc, body), (0, b"0x0\n"))
        rc, body = curl("--data", "p8 2", base + "/cmd")
        self.assertEqual((rc, body), (0, b"4030\n"))
        rc, body = curl("-A", "Mozilla/5.0", "-H", "X-Rap: 1", base + "/cmd/p8%202")
        self.assertEqual((rc, body), (0, b"4030\n"))
        self.assertIn("X-Rap", cli.run("=h?"))

    @unittest.skipUnless(CURL and shutil.which("openssl") and raplib.HAVE_OPENSSL,
                         "curl, openssl or a build with OpenSSL is missing")
    def test_https(self):
        # e http.cert: =h serves https (and only https), keep-alive and streaming included.
        d = tempfile.mkdtemp()
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-days", "2", "-keyout", "srv.key", "-out", "srv.pem", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"],
                           cwd=d, check=True, capture_output=True, timeout=DEADLINE)
            cli = self.cli()
            cli.run("e http.cert=%s" % os.path.join(d, "srv.pem"))
            cli.run("e http.key=%s" % os.path.join(d, "srv.key"))
            port = cli.start_server("=h& 0", "https")
            ca = ["--cacert", os.path.join(d, "srv.pem")]
            base = "https://127.0.0.1:%d" % port
            rc, body = curl(*ca, base + "/cmd/p8%204%20@%200x10")
            self.assertEqual((rc, body), (0, b"40303030\n"))
            # Two requests on one connection, then a streamed one.
            r = subprocess.run([CURL, "-sSv", "--max-time", str(int(DEADLINE)), *ca, "-o", "/dev/null",
                                base + "/cmd/s", "-o", "/dev/null", base + "/cmd/p8%202"],
                               capture_output=True, timeout=DEADLINE + 5)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"Re-using existing connection", r.stderr)
            rc, body = curl(*ca, "-g", "https://[::1]:%d/cmd/p8%%202" % port)
            self.assertEqual((rc, body), (0, b"4030\n"))
            rc, body = curl(*ca, "-N", "--data-binary", "px 0x1000", base + "/cmd?stream=1")
            self.assertEqual(rc, 0)
            self.assertEqual(body.decode(), cli.run("px 0x1000"))
            rc, body = curl(*ca, base + "/")
            self.assertTrue(body.startswith(b"<!DOCTYPE html>"))
            # Plain HTTP gets nothing from it; a client that does not trust it neither.
            rc, _ = curl("http://127.0.0.1:%d/cmd/s" % port)
            self.assertNotEqual(rc, 0)
            rc, _ = curl(base + "/cmd/s")
            self.assertEqual(rc, 60)  # the certificate could not be verified
            self.assertEqual(cli.run("=h-"), "")
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_clients_never_start_servers_or_connect_out(self):
        # At srv.cmd=all with the shell allowed, a client of =:, =t or =h may run '!', but
        # never start a server, open a connection or a network file, or widen its policy.
        bait = raplib.SilentListener()
        self.addCleanup(bait.close)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        cli = self.cli()
        self.assertEqual(cli.run("e srv.cmd=all; e srv.shell=true"), "")
        rap = cli.start_server("=&:0", "rap")
        tcp = cli.start_server("=t& 0", "tcp")
        http = cli.start_server("=h& 0", "http")
        vectors = ["=&:%d" % free, "=:%d" % free, "=h& %d" % free, ".:%d" % free, "=t& %d" % free, "=r %d" % free,
                   "=+ tcp://127.0.0.1:%d" % bait.port, "=+ udp://127.0.0.1:%d" % bait.port, "=0 ?V", "=<0 ?V",
                   "==0", "=:127.0.0.1:%d ?V" % bait.port, "=r 127.0.0.1:%d ?V" % bait.port,
                   "=t %d ?V" % bait.port]
        refusal = re.compile(r"^error: '[^']+' refused: commands from the network never start servers or open "
                             r"connections\n$")
        with connect("127.0.0.1", rap) as s:
            for v in vectors:
                m, = rap_call(s, enc_cmd(v))
                self.assertRegex(cmd_text(m), refusal, v)
            m, = rap_call(s, enc_cmd("o rap://127.0.0.1:%d/x" % bait.port))
            self.assertIn("a served session opens local files, malloc:// and dbg:// only", cmd_text(m))
            m, = rap_call(s, enc_open(4, "rap://127.0.0.1:%d//x" % bait.port))
            self.assertEqual(m.svalue, -1)
            m, = rap_call(s, enc_cmd("!echo rap-shell"))
            self.assertEqual(cmd_text(m), "rap-shell\n")
            m, = rap_call(s, enc_cmd("e io.special=true"))
            self.assertIn("'io.special' cannot be raised above 'false'", cmd_text(m))
        for v in vectors:
            self.assertRegex(line_exchange("127.0.0.1", tcp, v.encode() + b"\n").decode(), refusal, v)
            with connect("127.0.0.1", http) as s:
                s.sendall(b"POST /cmd HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(v), v.encode()))
                resp = raplib.recv_until_closed(s)
            self.assertTrue(resp.startswith(b"HTTP/1.1 403 Forbidden\r\n"), (v, resp))
            self.assertRegex(resp.partition(b"\r\n\r\n")[2].decode(), refusal, v)
        self.assertEqual(line_exchange("127.0.0.1", tcp, b"!echo tcp-shell\n"), b"tcp-shell\n")
        self.assertEqual(line_exchange("127.0.0.1", tcp, b"e srv.cmd; e srv.shell\n"), b"all\ntrue\n")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", free), timeout=DEADLINE)
        self.assertFalse(bait.connected())
        # Only the three servers the user started.
        self.assertEqual(cli.run("=").count(" server on "), 3)
        # The user's own prompt is not served: it still connects out.
        self.assertEqual(cli.run("=+ tcp://127.0.0.1:%d" % bait.port), "")
        self.assertTrue(bait.connected())

    def test_idle_connections_never_lock_out_a_request(self):
        # 64 connections at once per server: idle ones (that never send a request) make
        # room for newer ones, oldest first, so a real request is always answered.
        cli = self.cli()
        tcp = cli.start_server("=t& 0", "tcp")
        http = cli.start_server("=h& 0", "http")
        for port, request, want in ((tcp, b"p8 4\n", b"40303030\n"),
                                    (http, b"GET /cmd/p8%204 HTTP/1.0\r\n\r\n", b"\r\n\r\n40303030\n")):
            idle = [connect("127.0.0.1", port) for _ in range(70)]
            # One that sent half a request is just as idle.
            idle[-1].sendall(b"GET /cmd/p8")
            for _ in range(3):
                out = line_exchange("127.0.0.1", port, request, shut=False)
                self.assertTrue(out.endswith(want), (port, out))
            # The oldest idle ones went (6 for the 65th to 70th, 1 for the first request;
            # the next requests may find the previous one answered and take its place);
            # the newest are still open.
            for s in idle[:7]:
                s.settimeout(DEADLINE)
                try:
                    self.assertEqual(s.recv(1), b"")
                except ConnectionResetError:
                    pass
            readable, _, _ = select.select(idle[9:], [], [], 0)
            self.assertEqual(readable, [])
            with idle[-2]:
                idle[-2].settimeout(DEADLINE)
                idle[-2].sendall(request)
                self.assertTrue(raplib.recv_until_closed(idle[-2]).endswith(want))
            for s in idle:
                s.close()
        # A connection already answered goes before any idle one, however old.
        oldest = connect("127.0.0.1", tcp)
        answered = connect("127.0.0.1", tcp)
        answered.sendall(b"p8 1\n")
        answered.settimeout(DEADLINE)
        self.assertEqual(answered.recv(16), b"40\n")  # answered; we keep our side open
        rest = [connect("127.0.0.1", tcp) for _ in range(62)]
        self.assertEqual(line_exchange("127.0.0.1", tcp, b"p8 2\n", shut=False), b"4030\n")
        readable, _, _ = select.select([oldest] + rest, [], [], 0.2)
        self.assertEqual(readable, [])
        for s in [oldest, answered] + rest:
            s.close()

    def test_tcp_output_cap(self):
        cli = self.cli()
        port = cli.start_server("=t& 0", "tcp")
        # Hundreds of maximal hexdumps in one line stop at 16 MiB of output.
        out = line_exchange("127.0.0.1", port, b"px 0x1000000;" * 300 + b"\n")
        self.assertTrue(out.endswith(b"error: output exceeds 16777216 bytes; command stopped\n"), out[-200:])
        self.assertLess(len(out), 16 << 20)
        self.assertEqual(line_exchange("::1", port, b"p8 2\n"), b"4030\n")

    def test_rap_clients_close_only_their_files(self):
        cli = self.cli()
        cli.run("e srv.cmd=write")
        listing = cli.run("o")
        self.assertEqual(listing.count("\n"), 1)
        fd = int(listing.split()[0])
        port = cli.start_server("=&:0", "rap")
        with connect("127.0.0.1", port) as s:
            m, = rap_call(s, enc_cmd("o-%d" % fd))
            self.assertIn("only files this session opened", cmd_text(m))
            m, = rap_call(s, enc_cmd("o--"))
            self.assertEqual(cmd_text(m), "")
            self.assertEqual(cli.run("o"), listing)
            # Its own files it closes.
            m, = rap_call(s, enc_cmd("o malloc://16; o"))
            self.assertEqual(cmd_text(m).count("\n"), 2)
            m, = rap_call(s, enc_cmd("o--; o"))
            self.assertEqual(cmd_text(m).count("\n"), 1)
        self.assertEqual(cli.run("o"), listing)

    def test_http_foreground_sigint(self):
        cli = self.cli()
        port = cli.start_server("=h 0", "http")
        with connect("::1", port) as s:
            s.sendall(b"GET /cmd/p8%202 HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n")
            resp = raplib.recv_until_closed(s)
        self.assertTrue(resp.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(resp.endswith(b"\r\n\r\n4030\n"))
        cli.proc.send_signal(signal.SIGINT)
        cli.wait_for(r"http server stopped", stream="err")
        self.assertEqual(cli.run("?e back"), "back\n")

    def test_http_policy_none_and_browser(self):
        tmp = tempfile.mkdtemp()
        seen = os.path.join(tmp, "url")
        browser = os.path.join(tmp, "browser.sh")
        with open(browser, "w") as f:
            f.write("#!/bin/sh\necho \"$1\" > %s.tmp && mv %s.tmp %s\n" % (seen, seen, seen))
        os.chmod(browser, stat.S_IRWXU)
        cli = self.cli(env=dict(os.environ, BROWSER=browser))
        cli.run("e srv.cmd=none")
        port = cli.start_server("=H& 0", "http")
        end = time.monotonic() + DEADLINE
        while not os.path.exists(seen) and time.monotonic() < end:
            time.sleep(0.01)
        with open(seen) as f:
            self.assertEqual(f.read().strip(), "http://127.0.0.1:%d/" % port)
        with connect("127.0.0.1", port) as s:
            s.sendall(b"GET /cmd/?V HTTP/1.0\r\n\r\n")
            resp = raplib.recv_until_closed(s)
        self.assertTrue(resp.startswith(b"HTTP/1.1 403 Forbidden\r\n"), resp)
        self.assertIn(b"refused by the server's command policy (none)", resp)
        shutil.rmtree(tmp, ignore_errors=True)

    def test_help_does_not_start_servers(self):
        cli = self.cli()
        out = cli.run("=h?")
        self.assertIn("Usage: =[hH][&-] [port]", out)
        out = cli.run("=&?")
        self.assertIn("=&-port", out)
        self.assertEqual(cli.run("="), "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
