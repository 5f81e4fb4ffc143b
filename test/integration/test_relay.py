"""rapsrv --upstream, the caching relay, with real processes: an upstream rapsrv, a relay
rapsrv in front of it, and between them a TCP proxy of the test's own that delays each
direction a little (a slow link) and counts round trips and bytes. A recorded stock
radare2 session replayed against the relay costs a few round trips upstream instead of
hundreds; rapcli's reads, commands and writes go through; sessions keep their own
positions; authentication and TLS towards the upstream; the option errors
(rapsrv(8), --upstream and RELAY)."""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from raplib import OPEN, READ, SEEK, CMD, REPLY  # noqa: E402
from test_daemon import make_pki  # noqa: E402
from test_rapcli import StockServer  # noqa: E402

SAMPLE = raplib.sample_bytes()
SECRET = b"relay-integration-secret-Vq3ZpL8w"
DELAY = 0.005  # seconds added to each direction of every chunk across the proxy
PROXY_LIFETIME = 600.0  # no proxy thread outlives this


class ProxyConn:
    """One connection through the proxy: what crossed it."""

    def __init__(self):
        self.round_trips = 0  # the client side sending after the server side answered
        self.up = 0  # bytes client -> server
        self.down = 0  # bytes server -> client
        self.last = None  # "c" or "s": who sent last
        self.closed = threading.Event()


class CountingProxy:
    """A loopback TCP proxy in front of 127.0.0.1:target that holds every chunk for delay
    seconds before passing it on (each direction on a thread of its own, so a link of
    2 * delay round-trip time) and counts, per connection, round trips and bytes."""

    def __init__(self, target, delay=DELAY):
        self.target = target
        self.delay = delay
        self.lock = threading.Lock()
        self.conns = []
        self.socks = []
        self.threads = []
        self.stopping = False
        self.end = time.monotonic() + PROXY_LIFETIME
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while not self.stopping and time.monotonic() < self.end:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target), timeout=raplib.DEADLINE)
            except OSError:
                c.close()
                continue
            for k in (c, s):
                k.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                k.settimeout(0.2)
            conn = ProxyConn()
            with self.lock:
                self.conns.append(conn)
                self.socks += [c, s]
            done = []
            for src, dst, side in ((c, s, "c"), (s, c, "s")):
                t = threading.Thread(target=self._pump, args=(conn, src, dst, side, done), daemon=True)
                self.threads.append(t)
                t.start()

    def _pump(self, conn, src, dst, side, done):
        try:
            while not self.stopping and time.monotonic() < self.end:
                try:
                    data = src.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                with self.lock:
                    if side == "c":
                        if conn.last != "c":
                            conn.round_trips += 1
                        conn.up += len(data)
                    else:
                        conn.down += len(data)
                    conn.last = side
                if self.delay:
                    time.sleep(self.delay)
                try:
                    dst.sendall(data)
                except OSError:
                    break
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            with self.lock:
                done.append(side)
                if len(done) == 2:
                    src.close()
                    dst.close()
                    conn.closed.set()

    def mark(self):
        with self.lock:
            return len(self.conns)

    def since(self, mark):
        """Totals of the connections accepted after mark: (connections, round trips,
        bytes up, bytes down)."""
        with self.lock:
            cs = self.conns[mark:]
            return (len(cs), sum(c.round_trips for c in cs), sum(c.up for c in cs),
                    sum(c.down for c in cs))

    def stop(self):
        self.stopping = True
        self.lsock.close()
        self.acceptor.join(raplib.DEADLINE)
        for t in self.threads:
            t.join(raplib.DEADLINE)
        with self.lock:
            for k in self.socks:
                k.close()


class Replies:
    """Reads one reply at a time from a socket (the socket's timeout bounds each wait)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def next(self):
        while True:
            msgs, _ = raplib.split_messages(self.buf, True)
            if msgs:
                self.buf = self.buf[len(msgs[0].raw):]
                return msgs[0]
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the relay closed the connection")
            self.buf += chunk


def ask(sock, replies, raw):
    sock.sendall(raw)
    return replies.next()


class Stack:
    """An upstream rapsrv (root: root, --write, --cmd all, and up_args), the counting proxy
    in front of it, and a relay rapsrv (relay_args) whose upstream is the proxy."""

    def __init__(self, root, up_args=(), relay_args=(), scheme="rap", relay_root=None):
        self.up = raplib.Rapsrv(root.path, "-w", "--cmd", "all", *up_args, scheme=scheme)
        self.proxy = None
        self.relay = None
        try:
            self.proxy = CountingProxy(self.up.port)
            self.relay_root = relay_root or tempfile.mkdtemp(prefix="rap-relay-")
            self.relay = raplib.Rapsrv(self.relay_root, "--upstream",
                                       "%s://127.0.0.1:%d/" % (scheme, self.proxy.port), *relay_args)
        except Exception:
            self.stop()
            raise

    def uri(self, path):
        return "rap://127.0.0.1:%d/%s" % (self.relay.port, path)

    def stop(self):
        codes = []
        if self.relay:
            codes.append(self.relay.stop())
        if self.proxy:
            self.proxy.stop()
        codes.append(self.up.stop())
        if self.relay:
            shutil.rmtree(self.relay_root, ignore_errors=True)
        return codes


class Relay(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.stack = Stack(cls.root)

    @classmethod
    def tearDownClass(cls):
        codes = cls.stack.stop()
        cls.root.cleanup()
        assert codes == [0, 0], codes

    def path(self, name="sample.bin"):
        return os.path.join(self.root.path, name)

    def test_a_stock_session_costs_few_round_trips_upstream(self):
        t = raplib.Transcript("open-ro.txt")
        requests, rest = raplib.split_messages(t.client(), False)
        self.assertEqual(rest, b"")
        stock, _ = raplib.split_messages(t.server(), True)
        self.assertGreater(len(requests), 500)
        self.assertEqual(requests[0].op, OPEN)
        mark = self.stack.proxy.mark()
        started = time.monotonic()
        s = self.stack.relay.connect()
        replies = Replies(s)
        pos = 0
        for k, (req, st) in enumerate(zip(requests, stock)):
            where = "request #%d %r" % (k, req)
            raw = raplib.enc_open(req.perm, self.path()) if req.op == OPEN else req.raw
            rep = ask(s, replies, raw)
            self.assertEqual(rep.op, req.op | REPLY, where)
            if req.op == OPEN:
                self.assertGreaterEqual(rep.svalue, 0, where)
            elif req.op == SEEK:
                # SET moves, CUR reports, END answers the size: as the stock server did.
                self.assertEqual(rep.raw, st.raw, where)
                if req.whence == 0:
                    pos = req.offset
            elif req.op == READ:
                want = min(req.value, 4096)
                self.assertEqual(rep.payload, SAMPLE[pos:pos + want], where)
            elif req.op == CMD:
                # radare2's io init: empty commands, answered with nothing as stock does.
                self.assertEqual(rep.raw, st.raw, where)
        relay_time = time.monotonic() - started
        s.close()
        conns, trips, up, down = self.stack.proxy.since(mark)
        self.assertEqual(conns, 1)
        self.assertLessEqual(trips, 40, "%d round trips upstream for %d requests" % (trips, len(requests)))
        self.assertGreaterEqual(trips, 3)  # probe, open, a read at least
        # The file crossed the link about once; the requests are a few small messages.
        self.assertGreaterEqual(down, 4096)
        self.assertLess(down, 3 * len(SAMPLE))
        self.assertLess(up, 4096)

        # The same session straight through the proxy: one round trip per request. (So the
        # proxy counts what it should, and the relay is what saves them.)
        mark = self.stack.proxy.mark()
        started = time.monotonic()
        s = socket.create_connection(("127.0.0.1", self.stack.proxy.port), timeout=raplib.DEADLINE)
        replies = Replies(s)
        for req in requests:
            raw = raplib.enc_open(req.perm, self.path()) if req.op == OPEN else req.raw
            ask(s, replies, raw)
        direct_time = time.monotonic() - started
        s.close()
        conns, direct_trips, _, _ = self.stack.proxy.since(mark)
        self.assertEqual(conns, 1)
        self.assertEqual(direct_trips, len(requests))
        # Each direct round trip waits 2 * DELAY at least.
        self.assertGreaterEqual(direct_time, len(requests) * 2 * DELAY)
        self.assertLess(relay_time, direct_time)

    def test_rapcli_reads_and_commands(self):
        uri = self.stack.uri(self.path())
        local = raplib.run_rapcli(["-c", "px 64 @ 0x1000", self.path()])
        self.assertEqual(local.returncode, 0, local.stderr)
        r = raplib.run_rapcli(["-c", "px 64 @ 0x1000", uri])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, local.stdout)
        # ':' runs the command upstream; its output comes back whole, past stock's 16 KiB.
        # (sha256 needs OpenSSL; entropy is in every build.)
        algo = "sha256" if raplib.HAVE_OPENSSL else "entropy"
        local = raplib.run_rapcli(["-c", "ph %s 0x1000 @ 0x100" % algo, "-c", "px 0x8000", self.path()])
        self.assertEqual(local.returncode, 0, local.stderr)
        r = raplib.run_rapcli(["-c", ":ph %s 0x1000 @ 0x100" % algo, "-c", ":px 0x8000", uri])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(len(r.stdout), 16384 * 8)
        self.assertEqual(r.stdout, local.stdout)
        if raplib.HAVE_OPENSSL:
            self.assertEqual(r.stdout.split(b"\n")[0].decode(),
                             hashlib.sha256(SAMPLE[0x100:0x1100]).hexdigest())
        # A failing command upstream fails here too, with its reason.
        r = raplib.run_rapcli(["-c", ":nosuchcmd", uri])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"unknown command 'nosuchcmd'", r.stdout + r.stderr)
        # The size, from upstream.
        r = raplib.run_rapcli(["-c", "i~size", uri])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"0x20000", r.stdout)

    def test_writes_reach_the_far_file(self):
        self.root.write("relay-rw.bin", SAMPLE)
        uri = self.stack.uri(self.path("relay-rw.bin"))
        r = raplib.run_rapcli(["-w", "-c", "p8 4 @ 0x10", "-c", "wx 41424344 @ 0x10", "-c", "p8 4 @ 0x10", uri])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"40303030\n41424344\n")
        self.assertEqual(self.root.read("relay-rw.bin")[0x10:0x14], b"ABCD")
        # A stock client's WRITE at its position, read back in the same session (its block
        # was cached before the write).
        s = self.stack.relay.connect()
        rp = Replies(s)
        self.assertGreaterEqual(ask(s, rp, raplib.enc_open(7, self.path("relay-rw.bin"))).svalue, 0)
        self.assertEqual(ask(s, rp, raplib.enc_seek(0, 0x200)).offset, 0x200)
        self.assertEqual(ask(s, rp, raplib.enc_read(32)).payload, SAMPLE[0x200:0x220])
        self.assertEqual(ask(s, rp, raplib.enc_seek(0, 0x208)).offset, 0x208)
        self.assertEqual(ask(s, rp, raplib.enc_write(b"relay!")).value, 6)
        self.assertEqual(self.root.read("relay-rw.bin")[0x200:0x220],
                         SAMPLE[0x200:0x208] + b"relay!" + SAMPLE[0x20e:0x220])
        self.assertEqual(ask(s, rp, raplib.enc_seek(0, 0x200)).offset, 0x200)
        self.assertEqual(ask(s, rp, raplib.enc_read(32)).payload, self.root.read("relay-rw.bin")[0x200:0x220])
        # Past the end: the file grows, SEEK END says so.
        self.assertEqual(ask(s, rp, raplib.enc_seek(0, len(SAMPLE))).offset, len(SAMPLE))
        self.assertEqual(ask(s, rp, raplib.enc_write(b"tail")).value, 4)
        self.assertEqual(ask(s, rp, raplib.enc_seek(2, 0)).offset, len(SAMPLE) + 4)
        s.close()
        self.assertEqual(len(self.root.read("relay-rw.bin")), len(SAMPLE) + 4)
        # A file opened read-only refuses the write, and the disk keeps its bytes.
        s = self.stack.relay.connect()
        rp = Replies(s)
        self.assertGreaterEqual(ask(s, rp, raplib.enc_open(5, self.path("relay-rw.bin"))).svalue, 0)
        self.assertEqual(ask(s, rp, raplib.enc_write(b"nope")).value, 0)
        s.close()
        self.assertEqual(self.root.read("relay-rw.bin")[:4], SAMPLE[:4])

    def test_two_clients_keep_their_positions(self):
        a = self.stack.relay.connect()
        b = self.stack.relay.connect()
        ra, rb = Replies(a), Replies(b)
        self.root.write("other.bin", SAMPLE[::-1])
        self.assertGreaterEqual(ask(a, ra, raplib.enc_open(5, self.path())).svalue, 0)
        self.assertGreaterEqual(ask(b, rb, raplib.enc_open(5, self.path())).svalue, 0)
        for k in range(20):
            pa, pb = 0x1000 + k * 0x100, 0x18000 - k * 0x300
            self.assertEqual(ask(a, ra, raplib.enc_seek(0, pa)).offset, pa)
            self.assertEqual(ask(b, rb, raplib.enc_seek(0, pb)).offset, pb)
            self.assertEqual(ask(a, ra, raplib.enc_read(48)).payload, SAMPLE[pa:pa + 48])
            self.assertEqual(ask(b, rb, raplib.enc_seek(1, 0)).offset, pb)
            self.assertEqual(ask(b, rb, raplib.enc_read(48)).payload, SAMPLE[pb:pb + 48])
        # Another file in one session only.
        self.assertGreaterEqual(ask(b, rb, raplib.enc_open(5, self.path("other.bin"))).svalue, 0)
        self.assertEqual(ask(b, rb, raplib.enc_seek(0, 16)).offset, 16)
        self.assertEqual(ask(b, rb, raplib.enc_read(16)).payload, SAMPLE[::-1][16:32])
        self.assertEqual(ask(a, ra, raplib.enc_seek(0, 16)).offset, 16)
        self.assertEqual(ask(a, ra, raplib.enc_read(16)).payload, SAMPLE[16:32])
        a.close()
        b.close()

    def test_relay_logs_where_it_relays(self):
        self.assertTrue(self.stack.relay.wait_log(r"relaying to rap://127\.0\.0\.1:%d/" % self.stack.proxy.port))


@unittest.skipUnless(raplib.HAVE_OPENSSL, raplib.NO_OPENSSL)
class RelayAuthentication(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.keys = raplib.TempRoot()  # outside the served root
        cls.good = cls.keys.write("secret", SECRET + b"\n")
        os.chmod(cls.good, 0o600)
        cls.loose = cls.keys.write("loose", SECRET + b"\n")
        os.chmod(cls.loose, 0o644)

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()
        cls.keys.cleanup()

    def check_no_secret(self, *stacks):
        for st in stacks:
            for p in (st.up, st.relay):
                if p:
                    self.assertNotIn(SECRET.decode(), p.logtext())
                    self.assertNotIn(SECRET[:16].decode(), p.logtext())

    def test_with_the_secret(self):
        st = Stack(self.root, up_args=("--secret-file", self.good), relay_args=("--upstream-secret-file", self.good))
        try:
            r = raplib.run_rapcli(["-c", "p8 16 @ 0x100", "-c", ":?e far",
                                   st.uri(os.path.join(self.root.path, "sample.bin"))])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, SAMPLE[0x100:0x110].hex().encode() + b"\nfar\n")
            self.assertTrue(st.up.wait_log(r"client authenticated"))
            self.assertTrue(st.relay.wait_log(r"upstream rap://127\.0\.0\.1:%d/: connected \(extension, authenticated\)"
                                              % st.proxy.port))
            with open("/proc/%d/cmdline" % st.relay.proc.pid, "rb") as f:
                self.assertNotIn(SECRET, f.read())
        finally:
            codes = st.stop()
        self.assertEqual(codes, [0, 0])
        self.check_no_secret(st)

    def test_without_the_secret(self):
        st = Stack(self.root, up_args=("--secret-file", self.good))
        try:
            # A stock client's OPEN answers -1; the connection stays.
            s = st.relay.connect()
            rp = Replies(s)
            self.assertEqual(ask(s, rp, raplib.enc_open(5, os.path.join(self.root.path, "sample.bin"))).svalue, -1)
            # Its command says why.
            rep = ask(s, rp, raplib.enc_cmd("?e hi"))
            self.assertIn(b"authentication", rep.payload)
            self.assertNotIn(b"hi\n", rep.payload)
            s.close()
            r = raplib.run_rapcli(["-c", "p8 4", st.uri(os.path.join(self.root.path, "sample.bin"))])
            self.assertNotEqual(r.returncode, 0)
            self.assertEqual(r.stdout, b"")
            self.assertIn(b"authentication", r.stderr)
            # Both sides log the reason.
            self.assertTrue(st.relay.wait_log(r"upstream rap://127\.0\.0\.1:%d/: .*authentication" % st.proxy.port))
            self.assertTrue(st.up.wait_log(r"(?i)authenticat"))
        finally:
            codes = st.stop()
        self.assertEqual(codes, [0, 0])
        self.check_no_secret(st)

    def test_wrong_secret(self):
        wrong = self.keys.write("wrong", b"another secret, also long enough\n")
        os.chmod(wrong, 0o600)
        st = Stack(self.root, up_args=("--secret-file", self.good), relay_args=("--upstream-secret-file", wrong))
        try:
            s = st.relay.connect()
            rp = Replies(s)
            self.assertEqual(ask(s, rp, raplib.enc_open(5, os.path.join(self.root.path, "sample.bin"))).svalue, -1)
            s.close()
            self.assertTrue(st.up.wait_log(r"authentication failed: wrong secret"))
        finally:
            codes = st.stop()
        self.assertEqual(codes, [0, 0])
        self.check_no_secret(st)

    def test_loose_secret_file(self):
        r = subprocess.run([raplib.RAPSRV, "-r", self.root.path, "--upstream", "rap://127.0.0.1:9/",
                            "--upstream-secret-file", self.loose, "rap://127.0.0.1:0"],
                           capture_output=True, timeout=raplib.DEADLINE)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(b"accessible by group or others (mode 0644)", r.stderr)
        self.assertNotIn(SECRET[:16], r.stderr)
        r = subprocess.run([raplib.RAPSRV, "-t", "-r", self.root.path, "--upstream", "rap://127.0.0.1:9/",
                            "--upstream-secret-file", self.loose], capture_output=True, timeout=raplib.DEADLINE)
        self.assertEqual(r.returncode, 78, r.stderr)


@unittest.skipUnless(raplib.HAVE_OPENSSL, raplib.NO_OPENSSL)
@unittest.skipUnless(shutil.which("openssl"), "openssl CLI not installed")
class RelayTls(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.pki = tempfile.mkdtemp(prefix="rap-pki-")
        make_pki(cls.pki)

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()
        shutil.rmtree(cls.pki, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.pki, name)

    def tls_stack(self, *relay_args):
        return Stack(self.root, up_args=("--tls-cert", self.p("server.pem"), "--tls-key", self.p("server.key")),
                     relay_args=relay_args, scheme="raps")

    def test_verified_upstream(self):
        st = self.tls_stack("--upstream-tls-ca", self.p("ca.pem"))
        try:
            r = raplib.run_rapcli(["-c", "p8 16 @ 0x2000", "-c", ":?e tls",
                                   st.uri(os.path.join(self.root.path, "sample.bin"))])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, SAMPLE[0x2000:0x2010].hex().encode() + b"\ntls\n")
            self.assertTrue(st.relay.wait_log(r"relaying to raps://127\.0\.0\.1:%d/" % st.proxy.port))
            # Encrypted across the link: the sample's records never show on it.
            self.assertGreater(st.proxy.since(0)[3], 0)
        finally:
            codes = st.stop()
        self.assertEqual(codes, [0, 0])

    def test_unverified_upstream_refused(self):
        for args in ((), ("--upstream-tls-ca", self.p("otherca.pem"))):
            st = self.tls_stack(*args)
            try:
                s = st.relay.connect()
                rp = Replies(s)
                try:
                    # Answered -1, with the relay still there for the next client.
                    rep = ask(s, rp, raplib.enc_open(5, os.path.join(self.root.path, "sample.bin")))
                    self.assertEqual(rep.svalue, -1)
                finally:
                    s.close()
                self.assertTrue(st.relay.wait_log(r"upstream raps://127\.0\.0\.1:%d/: .*(?i:verif|certificate)"
                                                  % st.proxy.port), st.relay.logtext())
                r = raplib.run_rapcli(["-c", "p8 4", st.uri(os.path.join(self.root.path, "sample.bin"))])
                self.assertNotEqual(r.returncode, 0)
                self.assertEqual(r.stdout, b"")
                self.assertTrue(st.relay.alive())
            finally:
                codes = st.stop()
            self.assertEqual(codes, [0, 0])

    def test_tls_options_need_a_raps_upstream(self):
        # Plain rap:// would ignore them: the user asked for a verified link and would get
        # plain text.
        for args in (("--upstream-tls-ca", self.p("ca.pem")),
                     ("--upstream-tls-cert", self.p("client.pem"), "--upstream-tls-key", self.p("client.key"))):
            r = subprocess.run([raplib.RAPSRV, "-t", "--upstream", "rap://127.0.0.1:9/", *args],
                               capture_output=True, timeout=raplib.DEADLINE)
            self.assertEqual(r.returncode, 64, (args, r.stderr))
            self.assertIn(b"need a raps:// upstream", r.stderr)
            r = subprocess.run([raplib.RAPSRV, "-t", "--upstream", "RAPS://127.0.0.1:9/", *args],
                               capture_output=True, timeout=raplib.DEADLINE)
            self.assertEqual(r.returncode, 0, (args, r.stderr))

    def test_bad_ca_file(self):
        r = subprocess.run([raplib.RAPSRV, "-t", "--upstream", "raps://127.0.0.1:9/", "--upstream-tls-ca",
                            "/nonexistent-ca.pem"], capture_output=True, timeout=raplib.DEADLINE)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(b"nonexistent-ca.pem", r.stderr)


class RelayStockUpstream(unittest.TestCase):
    """In front of a stock radare2 server (test_rapcli.StockServer): no extension, reads cut
    at the size although the stock server pads with 0xff."""

    def test_reads_cut_at_the_size(self):
        stock = StockServer(SAMPLE)
        proxy = CountingProxy(stock.port)
        relay_root = tempfile.mkdtemp(prefix="rap-relay-")
        relay = None
        try:
            relay = raplib.Rapsrv(relay_root, "--upstream", "rap://127.0.0.1:%d/" % proxy.port)
            s = relay.connect()
            rp = Replies(s)
            self.assertGreaterEqual(ask(s, rp, raplib.enc_open(5, "/data/sample.bin")).svalue, 0)
            self.assertEqual(ask(s, rp, raplib.enc_seek(2, 0)).offset, len(SAMPLE))
            for off in range(0, 0x4000, 0x40):
                self.assertEqual(ask(s, rp, raplib.enc_seek(0, off)).offset, off)
                self.assertEqual(ask(s, rp, raplib.enc_read(0x40)).payload, SAMPLE[off:off + 0x40])
            self.assertEqual(ask(s, rp, raplib.enc_seek(0, len(SAMPLE) - 8)).offset, len(SAMPLE) - 8)
            self.assertEqual(ask(s, rp, raplib.enc_read(64)).payload, SAMPLE[-8:])
            s.close()
            self.assertTrue(relay.wait_log(r"connected \(stock protocol\)"))
            self.assertLessEqual(proxy.since(0)[1], 40)
        finally:
            if relay:
                self.assertEqual(relay.stop(), 0)
            proxy.stop()
            stock.close()
            shutil.rmtree(relay_root, ignore_errors=True)


class RelayOptions(unittest.TestCase):

    def rapsrv(self, *args):
        return subprocess.run([raplib.RAPSRV, *args], capture_output=True, timeout=raplib.DEADLINE)

    def test_usage_errors(self):
        root = tempfile.mkdtemp(prefix="rap-relay-")
        try:
            for args, why in (
                    (("--upstream-tls-ca", "/x.pem"), b"need --upstream"),
                    (("--upstream-secret-file", "/x"), b"need --upstream"),
                    (("--upstream-cache", "1M"), b"need --upstream"),
                    (("--upstream", "rap://127.0.0.1:9/etc/passwd"), b"takes no path"),
                    (("--upstream", "rap://127.0.0.1:9//"), b"takes no path"),
                    (("--upstream", "http://127.0.0.1:9/"), b"rap:// or raps://"),
                    (("--upstream", "rap://:9/"), b"needs a host"),
                    (("--upstream", "127.0.0.1:9"), b"rap:// or raps://"),
                    (("--upstream", "rap://127.0.0.1:9/", "--gdb", "127.0.0.1:0"), b"--gdb"),
                    (("--upstream", "rap://127.0.0.1:9/", "--upstream-cache", "1K"), b"--upstream-cache"),
                    (("--upstream-timeout", "5"), b"need --upstream"),
                    (("--upstream", "rap://127.0.0.1:9/", "--upstream-timeout", "0"), b"1 to 86400"),
                    (("--upstream", "rap://127.0.0.1:9/", "--upstream-timeout", "x"), b"--upstream-timeout")):
                r = self.rapsrv("-r", root, *args, "rap://127.0.0.1:0")
                self.assertEqual(r.returncode, 64, (args, r.stderr))
                self.assertIn(why, r.stderr, args)
                r = self.rapsrv("-t", "-r", root, *args)
                self.assertEqual(r.returncode, 64, (args, r.stderr))
            # A good configuration checks out.
            r = self.rapsrv("-t", "-r", root, "--upstream", "rap://127.0.0.1:9/", "--upstream-cache", "1M",
                            "--upstream-timeout", "5")
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
