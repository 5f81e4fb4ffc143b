"""The '=' remote-host family end to end: rapcli talking to real rapsrv processes and to tcp,
udp and http peers written here, with commands from -c, from piped stdin and from a
pseudo-terminal (for the prompts). Every peer is on loopback and on a port the OS picks."""

import os
import pty
import re
import select
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import unittest
import tempfile
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402

OTHER = b"OTHER-FILE-DATA!" * 64
BINARY = bytes(range(256)) * 4


def run(args, stdin=None):
    r = raplib.run_rapcli(args, stdin=stdin)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


class TcpEcho:
    """One command per connection, as radare2's =t server: read to EOF, answer, close."""

    def __init__(self):
        self.received = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(raplib.DEADLINE)
                data = raplib.recv_until_closed(self.request)
                outer.received.append(data)
                self.request.sendall(b"echo:" + data.rstrip(b"\n"))

        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class TcpSink:
    """nc -l: one connection, everything until it closes."""

    def __init__(self, family=socket.AF_INET, host="127.0.0.1"):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(1)
        self.sock.settimeout(raplib.DEADLINE)
        self.port = self.sock.getsockname()[1]
        self.data = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        conn, _ = self.sock.accept()
        conn.settimeout(raplib.DEADLINE)
        with conn:
            self.data = raplib.recv_until_closed(conn)

    def result(self):
        self.thread.join(raplib.DEADLINE)
        self.sock.close()
        return self.data


class UdpSink:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def datagrams(self, count):
        out = []
        self.sock.settimeout(raplib.DEADLINE)
        while len(out) < count:
            out.append(self.sock.recv(65536))
        return out

    def close(self):
        self.sock.close()


class HttpPeer:
    """Answers GET /cmd/CMD with 'http:CMD' (decoded), and /cmd/fail with a 403."""

    def __init__(self):
        self.paths = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                cmd = urllib.parse.unquote(self.path[len("/cmd/"):])
                status, body = (403, b"refused here\n") if cmd == "fail" else (200, ("http:" + cmd).encode())
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Piped:
    """rapcli reading commands from a pipe, fed line by line, so that the test can act
    between commands (kill a server) once it has seen a marker in the output."""

    def __init__(self, args):
        self.proc = subprocess.Popen([raplib.RAPCLI, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = b""

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def expect(self, needle):
        end = time.monotonic() + raplib.DEADLINE
        while needle not in self.out:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("did not see %r in %r" % (needle, self.out))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError("rapcli exited before %r: %r" % (needle, self.out))
                self.out += chunk

    def finish(self):
        out, err = self.proc.communicate(timeout=raplib.DEADLINE)
        return self.proc.returncode, self.out + out, err.decode(errors="replace")


class EqRemote(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.root.write("other.bin", OTHER)
        cls.root.write("binary.bin", BINARY)
        cls.a = raplib.Rapsrv(cls.root.path)
        cls.b = raplib.Rapsrv(cls.root.path)

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()
        cls.root.cleanup()

    def path(self, name):
        return os.path.join(self.root.path, name)

    def uri(self, srv, name):
        return "%s/%s" % (srv.uri, self.path(name))

    def test_two_rap_hosts(self):
        ua, ub = self.uri(self.a, "sample.bin"), self.uri(self.b, "other.bin")
        rc, out, err = run(["-c", "=+ " + ua, "-c", "=+ =+ " + ub[len("rap://"):], "-c", "=",
                            "-c", "=0 p8 4 @ 0x10", "-c", "=1 p8 4", "-c", "= p8 2",
                            "-c", "=0 ?e zero", "-c", "= p8 2", "-c", "=-0", "-c", "=",
                            "-c", "=+ " + ua, "-c", "=", "-c", "=-", "-c", "="])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode(),
                         "0 - %s\n1 - %s\n" % (ua, ub)
                         + "40303030\n4f544845\n4f54\nzero\n4030\n"
                         + "1 - %s\n" % ub
                         + "0 - %s\n1 - %s\n" % (ua, ub))
        self.assertIn("Connected to: 127.0.0.1 at port %d\nwaiting... ok\n" % self.a.port, err)
        self.assertIn("Connected to: 127.0.0.1 at port %d\nwaiting... ok\n" % self.b.port, err)

    def test_output_over_64k_arrives_whole(self):
        rc, local, err = run(["-c", "px 100000 @ 0x10", self.path("sample.bin")])
        self.assertEqual(rc, 0, err)
        self.assertGreater(len(local), 65536 * 4)
        rc, remote, err = run(["-c", "=+ " + self.uri(self.a, "sample.bin"), "-c", "=0 px 100000 @ 0x10"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(remote, local)

    def test_empty_command_does_not_crash(self):
        rc, out, err = run(["-c", "=+ " + self.uri(self.a, "sample.bin"), "-c", "=0", "-c", "?e after"])
        self.assertEqual(rc, 1)
        self.assertEqual(out, b"after\n")
        self.assertIn("error: usage: =0 cmd", err)

    def test_connect_failure(self):
        port = free_port()
        rc, out, err = run(["-c", "=+ rap://127.0.0.1:%d//x" % port, "-c", "=", "-c", "=0 ?e x"])
        self.assertEqual(rc, 1)
        self.assertEqual(out, b"")
        self.assertIn("error: Cannot connect to '127.0.0.1' (%d): Connection refused" % port, err)
        self.assertIn("error: unknown host 0", err)

    def test_failed_open_adds_nothing(self):
        rc, out, err = run(["-c", "=+ %s/nonexistent.bin" % self.a.uri, "-c", "="])
        self.assertEqual(rc, 1)
        self.assertEqual(out, b"")
        self.assertIn("cannot open the remote file 'nonexistent.bin'", err)

    def test_host_that_disappears(self):
        srv = raplib.Rapsrv(self.root.path)
        try:
            ua, uc = self.uri(self.a, "sample.bin"), self.uri(srv, "other.bin")
            cli = Piped([self.path("binary.bin")])
            cli.send("=+ %s\n=+ %s\n=1 ?e marker-one\n" % (ua, uc))
            cli.expect(b"marker-one\n")
            srv.stop()
            cli.send("=1 ?e lost\n=\n=1 ?e again\n=0 p8 4\n= p8 4\n=-1\n=\n=+ %s\n=\n" % ua)
            rc, out, err = cli.finish()
        finally:
            srv.stop()
        self.assertEqual(rc, 1)
        self.assertEqual(out.decode(),
                         "marker-one\n"
                         "0 - %s\n1 - %s (dead: connection closed by the peer)\n" % (ua, uc)
                         + "40303030\n40303030\n"
                         + "0 - %s\n" % ua
                         + "0 - %s\n1 - %s\n" % (ua, ua))
        self.assertIn("error: host 1 (%s) is gone: connection closed by the peer; '=-1' removes it" % uc, err)
        self.assertIn("error: host 1 (%s) is gone (connection closed by the peer); '=-1' removes it" % uc, err)

    def test_ipv6(self):
        if not socket.has_ipv6:
            self.skipTest("no IPv6")
        try:
            srv6 = raplib.Rapsrv(self.root.path, host="::1")
        except RuntimeError:
            self.skipTest("no IPv6 loopback")
        with srv6:
            u = "rap://[::1]:%d/%s" % (srv6.port, self.path("sample.bin"))
            rc, out, err = run(["-c", "=+ " + u, "-c", "=", "-c", "=0 p8 4 @ 0x20",
                                "-c", "=:[::1]:%d ?e one-shot-v6" % srv6.port])
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.decode(), "0 - %s\n40303030\none-shot-v6\n" % u)
            self.assertIn("Connected to: ::1 at port %d" % srv6.port, err)

    def test_host_name(self):
        u = "rap://localhost:%d/%s" % (self.a.port, self.path("sample.bin"))
        rc, out, err = run(["-c", "=+ " + u, "-c", "=", "-c", "=0 p8 4"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode(), "0 - %s\n40303030\n" % u)
        self.assertIn("Connected to: localhost at port %d" % self.a.port, err)

    def test_script_file(self):
        script = os.path.join(self.root.path, "eq.rap")
        with open(script, "w") as f:
            f.write("=+ %s\n==0\np8 4\nq\np8 4\n" % self.uri(self.a, "sample.bin"))
        rc, out, err = run(["-i", script, self.path("other.bin")])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"40303030\n4f544845\n")

    def test_one_shot(self):
        rc, out, err = run(["-c", "=:127.0.0.1:%d ?e one-shot" % self.a.port,
                            "-c", "=:%s p8 4" % self.uri(self.a, "other.bin"), "-c", "="])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"one-shot\n4f544845\n")

    def test_rizin_query_spellings(self):
        # "=r [HOST:]PORT CMD" runs CMD on a rap server (a bare port: this machine), as
        # "=:HOST:PORT CMD" does; a failure there fails here.
        for addr in ("127.0.0.1:%d" % self.a.port, "%d" % self.a.port, "rap://127.0.0.1:%d" % self.a.port):
            rc, out, err = run(["-c", "=r %s ?e rizin" % addr])
            self.assertEqual((rc, out), (0, b"rizin\n"), (addr, err))
        rc, out, err = run(["-c", "=r %d nosuchcommand" % self.a.port])
        self.assertEqual(rc, 1)
        self.assertIn(b"unknown command 'nosuchcommand'", out)
        rc, out, err = run(["-c", "=r 127.0.0.1:%d" % self.a.port])
        self.assertEqual(rc, 1)
        self.assertIn("usage: =r [HOST:]PORT CMD", err)
        rc, out, err = run(["-c", "=r 127.0.0.1:99999 ?V"])
        self.assertEqual(rc, 1)
        self.assertIn("invalid rap address", err)

    def test_session_from_piped_stdin(self):
        stdin = ("=+ %s\n==0\np8 4\n\n?e in-session\n=\nq\np8 4\n" % self.uri(self.a, "sample.bin")).encode()
        rc, out, err = run([self.path("other.bin")], stdin=stdin)
        # '=' inside the session goes to the server too, whose policy refuses it: a
        # command that fails on the server fails rapcli, as a local failure does
        self.assertEqual(out, b"40303030\nin-session\n"
                         b"error: command '=' refused by the server's command policy (read)\n4f544845\n")
        self.assertEqual(rc, 1, err)

    def test_session_from_c(self):
        rc, out, err = run(["-c", "=+ " + self.uri(self.a, "sample.bin"), "-c", "==", "-c", "p8 4",
                            "-c", "q", "-c", "p8 4", self.path("other.bin")])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"40303030\n4f544845\n")

    def test_remote_command_mode(self):
        ua = self.uri(self.a, "sample.bin")
        stdin = ("=+ %s\n=!=0\np8 4\n=\n!=!\np8 4\n=!= 0\np8 2\nquit\np8 4\n" % ua).encode()
        rc, out, err = run([self.path("other.bin")], stdin=stdin)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode(), "40303030\n0 - %s\n4f544845\n4030\n4f544845\n" % ua)

    def test_remote_command_mode_through_io(self):
        target = self.uri(self.b, "other.bin")
        rc, out, err = run(["-c", "=!=", "-c", "o", "-c", "!=!", "-c", "o", target])
        self.assertEqual(rc, 0, err)
        remote, local = out.decode().split("\n", 1)
        self.assertIn(self.path("other.bin"), remote)
        self.assertNotIn("rap://", remote)
        self.assertIn(target, local)

    def test_tcp_udp_http_hosts(self):
        echo, udp, http = TcpEcho(), UdpSink(), HttpPeer()
        try:
            rc, out, err = run(["-c", "=+ tcp://127.0.0.1:%d" % echo.port, "-c", "=0 ?e over tcp",
                                "-c", "=0 px 16 @ 8",
                                "-c", "=+ udp://127.0.0.1:%d" % udp.port, "-c", "=1 ?e over udp",
                                "-c", "=+ http://127.0.0.1:%d/cmd/" % http.port, "-c", "=2 px 16 @ 0x10",
                                "-c", "=2 fail", "-c", "="])
            dgrams = udp.datagrams(1)
        finally:
            echo.close()
            udp.close()
            http.close()
        self.assertEqual(rc, 1, err)
        self.assertEqual(out.decode(),
                         "echo:?e over tcp\necho:px 16 @ 8\nhttp:px 16 @ 0x10\n"
                         "0 - tcp://127.0.0.1:%d\n1 - udp://127.0.0.1:%d\n2 - http://127.0.0.1:%d/cmd/\n"
                         % (echo.port, udp.port, http.port))
        self.assertEqual(echo.received, [b"?e over tcp\n", b"px 16 @ 8\n"])
        self.assertEqual(dgrams, [b"?e over udp\n"])
        self.assertEqual(http.paths, ["/cmd/", "/cmd/px%2016%20%40%200x10", "/cmd/fail"])
        self.assertIn("answered 'HTTP/1.0 403 Forbidden': refused here", err)
        self.assertEqual(err.count("waiting... ok"), 3)

    def test_push_to_tcp_and_udp(self):
        target = self.path("binary.bin")
        rc, want, err = run(["-c", "px 64", "-c", "pr 256 @ 0x100", target])
        self.assertEqual(rc, 0, err)
        self.assertIn(b"\0", want)
        tcp, udp = TcpSink(), UdpSink()
        try:
            rc, out, err = run(["-c", "=+ tcp://127.0.0.1:%d" % tcp.port, "-c", "=+ udp://127.0.0.1:%d" % udp.port,
                                "-c", "=<0 px 64", "-c", "=<0 pr 256 @ 0x100",
                                "-c", "=<1 px 64", "-c", "=< pr 256 @ 0x100", target])
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, b"")
            self.assertEqual(tcp.result(), want)
            self.assertEqual(b"".join(udp.datagrams(2)), want)
        finally:
            udp.close()
        rc, out, err = run(["-c", "=+ " + self.uri(self.a, "sample.bin"), "-c", "=< px 4", target])
        self.assertEqual(rc, 1)
        self.assertIn("=< needs a tcp or udp connection (host 0 is rap)", err)

    def test_help(self):
        rc, out, err = run(["-c", "=?", "-c", "=+?", "-c", "==?", "-c", "=!=?"])
        self.assertEqual(rc, 0, err)
        text = out.decode()
        self.assertIn("| =!=[N]", text)
        self.assertIn("remote-command mode on", text)
        self.assertIn("remote-command mode off", text)
        self.assertIn("| =g port file", text)
        self.assertIn("Usage: =+ [proto://]host:port[/path]", text)
        self.assertIn("Usage: ==[N]", text)


class OwnServers(unittest.TestCase):
    """rapcli as its own peer: background servers started with =h&, =t& and =&: on ports the
    system picks, then reached through =+ from the same prompt."""

    def test_http_tcp_rap_servers_of_the_same_process(self):
        root = raplib.TempRoot()
        try:
            cli = Piped([os.path.join(root.path, "sample.bin")])
            cli.send("=h& 0\n=t& 0\n=&:0\n?e started\n")
            cli.expect(b"started\n")
            text = cli.out.decode()
            ports = [re.search(r"listening on %s://127\.0\.0\.1:(\d+)" % k, text) for k in ("http", "tcp", "rap")]
            self.assertTrue(all(ports), text)
            h, t, r = (int(m.group(1)) for m in ports)
            cli.send("=+ http://127.0.0.1:%d/cmd/\n=+ tcp://127.0.0.1:%d\n=+ rap://127.0.0.1:%d\n"
                     "=0 p8 4 @ 0x10\n=1 p8 4 @ 0x20\n=2 p8 4 @ 0x30\n?e done\n" % (h, t, r))
            cli.expect(b"done\n")
            cli.send("q\n")  # background servers would serve on after the end of input
            rc, out, err = cli.finish()
        finally:
            root.cleanup()
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.endswith(b"started\n40303030\n40303030\n40303030\ndone\n"), out)
        self.assertEqual(err.count("waiting... ok"), 3, err)


@unittest.skipUnless(raplib.HAVE_OPENSSL, raplib.NO_OPENSSL)
@unittest.skipUnless(shutil.which("openssl"), "openssl CLI not installed")
class Tls(unittest.TestCase):
    """=+ raps://: verified against the CA given to rapcli, refused without it."""

    def test_raps_host(self):
        root = raplib.TempRoot()
        pki = tempfile.mkdtemp(prefix="rap-pki-")

        def openssl(*args):
            subprocess.run(["openssl", *args], cwd=pki, check=True, capture_output=True, timeout=60)

        try:
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=ca", "-keyout", "ca.key", "-out", "ca.pem")
            with open(os.path.join(pki, "server.ext"), "w") as f:
                f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
            openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
            openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem")
            with raplib.Rapsrv(root.path, "--tls-cert", os.path.join(pki, "server.pem"),
                               "--tls-key", os.path.join(pki, "server.key"), scheme="raps") as srv:
                u = "raps://127.0.0.1:%d/%s" % (srv.port, os.path.join(root.path, "sample.bin"))
                rc, out, err = run(["--tls-ca", os.path.join(pki, "ca.pem"), "-c", "=+ " + u, "-c", "=",
                                    "-c", "=0 p8 4 @ 0x40", "-c", "=:%s ?e one-shot-tls" % u])
                self.assertEqual(rc, 0, err)
                self.assertEqual(out.decode(), "0 - %s\n40303030\none-shot-tls\n" % u)
                rc, out, err = run(["-c", "=+ " + u, "-c", "="])
                self.assertEqual(rc, 1)
                self.assertEqual(out, b"")
                self.assertIn("Cannot connect to '127.0.0.1' (%d): TLS handshake or verification failed" % srv.port, err)
                self.assertRegex(err, r"(?i)verif|certificate")
        finally:
            root.cleanup()
            shutil.rmtree(pki, ignore_errors=True)


@unittest.skipIf(raplib.HAVE_OPENSSL, raplib.WITH_OPENSSL)
class WithoutTls(unittest.TestCase):
    """=+ raps:// in a build without TLS: refused with the reason, before connecting."""

    def test_raps_host_refused(self):
        with raplib.SilentListener() as peer:
            u = "raps://127.0.0.1:%d/" % peer.port
            rc, out, err = run(["-c", "=+ " + u, "-c", "=", "-c", "?e still-here"])
            self.assertEqual(rc, 1)
            self.assertEqual(out, b"still-here\n")  # no host was added, later commands ran
            self.assertIn("raps://: not supported (this build has no TLS)", err)
            self.assertFalse(peer.connected())


class Prompts(unittest.TestCase):
    """The prompts of an "==" session and of remote-command mode, on a real terminal."""

    def test_prompts(self):
        root = raplib.TempRoot()
        srv = raplib.Rapsrv(root.path)
        env = dict(os.environ, RAPCLI_HISTFILE="", TERM="xterm")
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(raplib.RAPCLI, [raplib.RAPCLI, "-q", os.path.join(root.path, "sample.bin")], env)
        screen = [b""]

        def expect(needle):
            end = time.monotonic() + raplib.DEADLINE
            while needle not in screen[0]:
                left = end - time.monotonic()
                self.assertGreater(left, 0, "did not see %r in %r" % (needle, screen[0]))
                r, _, _ = select.select([fd], [], [], left)
                if r:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        chunk = b""
                    self.assertTrue(chunk, "terminal closed before %r: %r" % (needle, screen[0]))
                    screen[0] += chunk
            screen[0] = screen[0][screen[0].index(needle) + len(needle):]

        try:
            expect(b"[0x00000000]> ")
            os.write(fd, b"=+ %s/%s\r" % (srv.uri.encode(), os.path.join(root.path, "sample.bin").encode()))
            expect(b"waiting... ok")
            expect(b"[0x00000000]> ")
            os.write(fd, b"==0\r")
            expect(b"fd:0> ")
            os.write(fd, b"?e remote-side\r")
            expect(b"remote-side")
            expect(b"fd:0> ")
            os.write(fd, b"q\r")
            expect(b"[0x00000000]> ")
            os.write(fd, b"=!=0\r")
            expect(b"[=!0x00000000]> ")
            os.write(fd, b"s 0x20\r")
            expect(b"[=!0x00000020]> ")
            os.write(fd, b"!=!\r")
            expect(b"[0x00000000]> ")
            os.write(fd, b"q\r")
            end = time.monotonic() + raplib.DEADLINE
            status = None
            while status is None and time.monotonic() < end:
                p, st = os.waitpid(pid, os.WNOHANG)
                if p:
                    status = os.waitstatus_to_exitcode(st)
                    break
                try:
                    os.read(fd, 4096)
                except OSError:
                    pass
                time.sleep(0.01)
            self.assertEqual(status, 0)
        finally:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(fd)
            srv.stop()
            root.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
