"""The extension's messages and its authentication against a real rapsrv: rapcli with
--secret-file, the handshake done by hand (HMAC-SHA256 from Python's hmac), replays, stock
clients refused with a logged reason, secret files with loose permissions refused, and the
fd-addressed messages, errors and streamed commands on the wire (doc/rap.7.scd, EXTENSION
MESSAGES and AUTHENTICATION)."""

import hashlib
import hmac
import os
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from raplib import OPEN, CMD, REPLY  # noqa: E402
from test_rapcli import StockServer  # noqa: E402

SAMPLE = raplib.sample_bytes()
XOPEN, PREAD, PWRITE, STAT, XCLOSE, XCMD, HELLO, PROOF, XCMD_OUT = range(0x10, 0x19)
PROBE_V2 = raplib.enc_seek(0xFF, (0x52415058 << 32) | (2 << 16) | 0x1F)
EAUTH, EDENIED, EBADFD, ENOENT = -1017, -1012, -1015, -2


def ext(op, body=b""):
    return bytes([op]) + struct.pack(">I", len(body)) + body


def recv_ext(sock):
    """One extension reply: (opcode, status, the rest of the body)."""
    head = raplib.recv_exact(sock, 5)
    n, = struct.unpack(">I", head[1:])
    body = raplib.recv_exact(sock, n)
    status, = struct.unpack(">i", body[:4])
    return head[0], status, body[4:]


def probe(sock, granted):
    sock.sendall(PROBE_V2)
    reply = raplib.recv_exact(sock, 9)
    assert reply[:5] == b"\x84rapx", reply
    assert reply[5:] == struct.pack(">HH", 2, granted), reply


def proof(secret, who, ns, nc):
    return hmac.new(secret, b"rap-auth-v1 " + who + ns + nc, hashlib.sha256).digest()


def handshake(sock, secret, sent=None):
    """The client's side by hand: returns the server's AUTH-PROOF reply (op, status, body)
    after checking its proof when the status is 0."""
    nc = os.urandom(32)
    msg = ext(HELLO, nc)
    sock.sendall(msg)
    op, st, ns = recv_ext(sock)
    assert (op, st, len(ns)) == (HELLO | REPLY, 0, 32), (op, st, ns)
    msg2 = ext(PROOF, proof(secret, b"client", ns, nc))
    if sent is not None:
        sent += msg + msg2
    sock.sendall(msg2)
    op, st, body = recv_ext(sock)
    if st == 0:
        assert body == proof(secret, b"server", ns, nc), "the server's proof does not check out"
    return op, st, body


def closed(sock, timeout=raplib.DEADLINE):
    sock.settimeout(timeout)
    try:
        return raplib.recv_until_closed(sock) == b""
    finally:
        sock.close()


def secret_file(root, name, data, mode=0o600):
    p = root.write(name, data)
    os.chmod(p, mode)
    return p


@unittest.skipUnless(raplib.HAVE_OPENSSL, raplib.NO_OPENSSL)
class Authentication(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.secret = b"hunter2-but-longer-and-random-Zq8x"
        cls.keys = raplib.TempRoot()  # outside the served root
        cls.good = secret_file(cls.keys, "secret", cls.secret + b"\n")
        cls.wrong = secret_file(cls.keys, "wrong", b"another secret, also long enough")
        cls.srv = raplib.Rapsrv(cls.root.path, "-w", "--secret-file", cls.good, "--handshake-timeout", "2")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.root.cleanup()
        cls.keys.cleanup()

    def target(self, name="sample.bin"):
        return self.srv.uri + "/" + name

    def test_rapcli_with_the_secret(self):
        r = raplib.run_rapcli(["--secret-file", self.good, "-c", "p8 16 @ 0x100", "-c", "i~size",
                               self.target()])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().splitlines()[0], SAMPLE[0x100:0x110].hex())
        self.assertIn("0x20000", r.stdout.decode())
        # A remote command's output far past the stock 16 KiB, whole.
        local = raplib.run_rapcli(["-c", "px 0x8000", os.path.join(self.root.path, "sample.bin")])
        r = raplib.run_rapcli(["--secret-file", self.good, "-c", ":px 0x8000", self.target()])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(len(r.stdout), 16384 * 8)
        self.assertEqual(r.stdout, local.stdout)
        # Writes, with PWRITE.
        r = raplib.run_rapcli(["--secret-file", self.good, "-w", "-c", "wx 41424344 @ 0x10", "-c",
                               "p8 4 @ 0x10", self.target("sample-rw.bin")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"41424344\n")
        self.assertEqual(self.root.read("sample-rw.bin")[0x10:0x14], b"ABCD")
        self.assertTrue(self.srv.wait_log(r"client authenticated"))

    def test_the_secret_never_shows(self):
        self.assertNotIn(self.secret.decode(), self.srv.logtext())
        with open("/proc/%d/cmdline" % self.srv.proc.pid, "rb") as f:
            self.assertNotIn(self.secret, f.read())

    def test_wrong_secret(self):
        r = raplib.run_rapcli(["--secret-file", self.wrong, "-c", "p8 4", self.target()])
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn(b"authentication failed: the server refused our proof", r.stderr)
        self.assertTrue(self.srv.wait_log(r"authentication failed: wrong secret, or a replayed handshake"))

    def test_no_secret(self):
        r = raplib.run_rapcli(["-c", "p8 4", self.target()])
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn(b"the server requires authentication", r.stderr)
        self.assertEqual(r.stdout, b"")

    def test_stock_client_refused(self):
        # radare2's first request: OPEN. Answered -1, as a failed open, then closed.
        s = self.srv.connect()
        s.sendall(raplib.enc_open(5, "sample.bin") + raplib.enc_read(16))
        self.assertEqual(raplib.recv_exact(s, 5), b"\x81\xff\xff\xff\xff")
        self.assertTrue(closed(s))
        self.assertTrue(self.srv.wait_log(r"authentication required: OPEN refused \(a stock client\?\); closing"))
        # A command gets a text saying what is needed.
        s = self.srv.connect()
        s.sendall(raplib.enc_cmd("?V"))
        m, = raplib.recv_messages(s, 1)
        self.assertEqual(m.op, CMD | REPLY)
        self.assertIn(b"authentication required", m.payload)
        self.assertIn(b"--secret-file", m.payload)
        self.assertTrue(closed(s))
        self.assertTrue(self.srv.wait_log(r"CMD refused \(a stock client\?\)"))

    def test_stock_session_replayed(self):
        # A whole recorded radare2 session: one refusal, then nothing.
        t = raplib.Transcript("open-ro.txt")
        s = self.srv.connect()
        s.sendall(t.client())
        data = raplib.recv_until_closed(s)
        s.close()
        self.assertEqual(data, b"\x81\xff\xff\xff\xff")

    def test_handshake_by_hand_and_replay(self):
        s = self.srv.connect()
        probe(s, 0x1F)
        sent = bytearray()
        op, st, _ = handshake(s, self.secret, sent)
        self.assertEqual((op, st), (PROOF | REPLY, 0))
        s.sendall(ext(XOPEN, b"\x05sample.bin"))
        op, st, body = recv_ext(s)
        self.assertEqual((op, st), (XOPEN | REPLY, 0))
        s.close()
        # The recorded handshake, replayed: the server's nonce is new, the proof wrong.
        s = self.srv.connect()
        probe(s, 0x1F)
        s.sendall(bytes(sent))
        op, st, ns = recv_ext(s)
        self.assertEqual((op, st), (HELLO | REPLY, 0))
        op, st, msg = recv_ext(s)
        self.assertEqual((op, st), (PROOF | REPLY, EAUTH))
        self.assertIn(b"wrong proof", msg)
        self.assertTrue(closed(s))
        # The wrong secret by hand, and a request before the handshake.
        s = self.srv.connect()
        probe(s, 0x1F)
        op, st, _ = handshake(s, b"not the secret at all, no")
        self.assertEqual(st, EAUTH)
        self.assertTrue(closed(s))
        s = self.srv.connect()
        probe(s, 0x1F)
        s.sendall(ext(XOPEN, b"\x05sample.bin"))
        op, st, msg = recv_ext(s)
        self.assertEqual((op, st), (XOPEN | REPLY, EAUTH))
        self.assertTrue(closed(s))
        self.assertTrue(self.srv.wait_log(r"XOPEN refused \(the client did not authenticate\)"))

    def test_unauthenticated_connection_times_out(self):
        s = self.srv.connect()
        probe(s, 0x1F)
        start = time.monotonic()
        self.assertTrue(closed(s, timeout=10))
        self.assertLess(time.monotonic() - start, 8)
        self.assertTrue(self.srv.wait_log(r"authentication timeout"))


@unittest.skipUnless(raplib.HAVE_OPENSSL, raplib.NO_OPENSSL)
class SecretFiles(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.keys = raplib.TempRoot()
        cls.good = secret_file(cls.keys, "good", b"0123456789abcdef-good")

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()
        cls.keys.cleanup()

    def check(self, *args):
        return raplib.subprocess.run([*raplib.RAPSRV_CMD, "-t", "-r", self.root.path, *args], capture_output=True,
                                     timeout=raplib.DEADLINE)

    def test_permissions_and_sizes(self):
        self.assertEqual(self.check("--secret-file", self.good).returncode, 0)
        for mode in (0o640, 0o604, 0o644, 0o660):
            loose = secret_file(self.keys, "loose", b"0123456789abcdef-loose", mode)
            r = self.check("--secret-file", loose)
            self.assertEqual(r.returncode, 78, r.stderr)
            self.assertIn(b"is accessible by group or others (mode 0%o): chmod 600 it" % mode, r.stderr)
            self.assertNotIn(b"0123456789abcdef", r.stderr)
            r = raplib.run_rapcli(["--secret-file", loose, "-c", "?V"])
            self.assertEqual(r.returncode, 64, r.stderr)
            self.assertIn(b"chmod 600", r.stderr)
        short = secret_file(self.keys, "short", b"too short\n")
        r = self.check("--secret-file", short)
        self.assertEqual(r.returncode, 78)
        self.assertIn(b"holds 9 bytes", r.stderr)
        r = self.check("--secret-file", os.path.join(self.keys.path, "missing"))
        self.assertEqual(r.returncode, 78)
        self.assertIn(b"No such file or directory", r.stderr)

    def test_client_with_a_secret_refuses_servers_that_do_not_authenticate(self):
        with raplib.Rapsrv(self.root.path) as srv:
            r = raplib.run_rapcli(["--secret-file", self.good, "-c", "p8 4", srv.uri + "/sample.bin"])
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn(b"the server does not authenticate", r.stderr)
        stock = StockServer(SAMPLE)
        try:
            r = raplib.run_rapcli(["--secret-file", self.good, "-c", "p8 4",
                                   "rap://127.0.0.1:%d//data/files/sample.bin" % stock.port])
        finally:
            stock.close()
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn(b"a stock server", r.stderr)
        # Nothing but the probe reached the stock server.
        self.assertTrue(all(1 <= m.op <= 7 for m in stock.requests))


@unittest.skipIf(raplib.HAVE_OPENSSL, raplib.WITH_OPENSSL)
class WithoutOpenssl(unittest.TestCase):

    def test_secret_file_refused(self):
        root = raplib.TempRoot()
        try:
            p = secret_file(root, "s", b"0123456789abcdef-secret")
            r = raplib.subprocess.run([*raplib.RAPSRV_CMD, "-t", "-r", root.path, "--secret-file", p],
                                      capture_output=True, timeout=raplib.DEADLINE)
            self.assertEqual(r.returncode, 78)
            self.assertIn(b"without OpenSSL", r.stderr)
            r = raplib.run_rapcli(["--secret-file", p, "-c", "?V"])
            self.assertEqual(r.returncode, 64)
            self.assertIn(b"without OpenSSL", r.stderr)
        finally:
            root.cleanup()


class ExtensionMessages(unittest.TestCase):
    """The extension's messages on the wire, against rapsrv without a secret."""

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.big = bytes((i * 7 + i // 251) & 0xFF for i in range(3 << 20))
        cls.root.write("big.bin", cls.big)
        cls.srv = raplib.Rapsrv(cls.root.path, "-w")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.root.cleanup()

    def xopen(self, s, path, perm=5):
        s.sendall(ext(XOPEN, bytes([perm]) + path.encode()))
        op, st, body = recv_ext(s)
        self.assertEqual((op, st), (XOPEN | REPLY, 0), body)
        return struct.unpack(">i", body)[0]

    def pread(self, s, fd, off, count):
        s.sendall(ext(PREAD, struct.pack(">iQI", fd, off, count)))
        op, st, body = recv_ext(s)
        self.assertEqual(op, PREAD | REPLY)
        return st, body

    def xcmd(self, s, cmd):
        s.sendall(ext(XCMD, cmd.encode()))
        out, chunks = b"", 0
        while True:
            op, st, body = recv_ext(s)
            if op == XCMD | REPLY:
                return st, out, chunks, body
            self.assertEqual((op, st), (XCMD_OUT | REPLY, 0))
            self.assertLessEqual(len(body), 65536)
            out += body
            chunks += 1

    def test_probe_grants_them(self):
        s = self.srv.connect()
        probe(s, 0x0F)
        # A version 1 client never gets them, and then they are unknown opcodes.
        s.sendall(raplib.enc_seek(0xFF, (0x52415058 << 32) | (1 << 16) | 0x1F))
        self.assertEqual(raplib.recv_exact(s, 9), b"\x84rapx\x00\x01\x00\x07")
        s.sendall(ext(STAT, struct.pack(">i", 3)))
        self.assertEqual(raplib.recv_until_closed(s), b"")
        s.close()

    def test_files_by_fd(self):
        s = self.srv.connect()
        probe(s, 0x0F)
        a = self.xopen(s, "sample.bin")
        b = self.xopen(s, "big.bin")
        rw = self.xopen(s, "sample-rw.bin", 7)
        # Two files in turn on one connection, no SEEK: the fd is honoured.
        self.assertEqual(self.pread(s, a, 0x100, 16), (0, SAMPLE[0x100:0x110]))
        self.assertEqual(self.pread(s, b, 5, 16), (0, self.big[5:21]))
        st, body = self.pread(s, b, 1 << 20, 1 << 20)
        self.assertEqual((st, body), (0, self.big[1 << 20:2 << 20]))
        self.assertEqual(self.pread(s, b, len(self.big) - 3, 100), (0, self.big[-3:]))
        self.assertEqual(self.pread(s, b, len(self.big) + 3, 100), (0, b""))
        st, msg = self.pread(s, b, 0, (1 << 20) + 1)
        self.assertEqual(st, -1005)
        self.assertIn(b"at most 1048576", msg)
        st, msg = self.pread(s, 99, 0, 4)
        self.assertEqual(st, EBADFD)
        self.assertIn(b"cannot read fd 99", msg)
        # STAT: size, permissions, kind, name.
        s.sendall(ext(STAT, struct.pack(">i", b)))
        op, st, body = recv_ext(s)
        self.assertEqual((op, st), (STAT | REPLY, 0))
        size, perm, kind = struct.unpack(">QBB", body[:10])
        self.assertEqual((size, perm & 4, kind, body[10:]), (len(self.big), 4, 1, b"big.bin"))
        # PWRITE: a count, or why not.
        s.sendall(ext(PWRITE, struct.pack(">iQ", rw, 0x20) + b"XYZ"))
        self.assertEqual(recv_ext(s), (PWRITE | REPLY, 0, struct.pack(">I", 3)))
        self.assertEqual(self.root.read("sample-rw.bin")[0x20:0x23], b"XYZ")
        s.sendall(ext(PWRITE, struct.pack(">iQ", a, 0) + b"no"))
        op, st, msg = recv_ext(s)
        self.assertEqual(st, EDENIED)
        self.assertIn(b"refused by policy", msg)
        # Errors of OPEN say why.
        s.sendall(ext(XOPEN, b"\x05missing.bin"))
        op, st, msg = recv_ext(s)
        self.assertEqual((op, st), (XOPEN | REPLY, ENOENT))
        self.assertEqual(msg, b"cannot open 'missing.bin': No such file or directory")
        s.sendall(ext(XOPEN, b"\x05../etc/passwd"))
        op, st, msg = recv_ext(s)
        self.assertLess(st, 0)
        # CLOSE once; the second says it is gone.
        s.sendall(ext(XCLOSE, struct.pack(">i", b)))
        self.assertEqual(recv_ext(s), (XCLOSE | REPLY, 0, b""))
        s.sendall(ext(XCLOSE, struct.pack(">i", b)))
        op, st, msg = recv_ext(s)
        self.assertEqual(st, EBADFD)
        # Stock messages still work in between.
        s.sendall(raplib.enc_seek(2, 0))
        self.assertEqual(raplib.recv_exact(s, 9)[0], 0x84)
        s.close()

    def test_streamed_command(self):
        s = self.srv.connect()
        probe(s, 0x0F)
        self.xopen(s, "big.bin")
        local = raplib.run_rapcli(["-c", "px 0x40000", os.path.join(self.root.path, "big.bin")])
        st, out, chunks, _ = self.xcmd(s, "px 0x40000")
        self.assertEqual(st, 0)
        self.assertEqual(out, local.stdout)
        self.assertGreater(len(out), 1 << 20)
        self.assertGreaterEqual(chunks, len(out) // 65536)
        # A failing command: its text, then exit status 1.
        st, out, chunks, _ = self.xcmd(s, "nosuchcommand")
        self.assertEqual(st, 1)
        self.assertTrue(out)
        # An empty one is no command.
        s.sendall(ext(XCMD))
        op, st, msg = recv_ext(s)
        self.assertEqual((op, st, msg), (XCMD | REPLY, -1001, b"empty command: invalid argument"))
        s.close()

    def test_rapcli_uses_them(self):
        r = raplib.run_rapcli(["-c", "p8 8 @ 0x200000", "-c", ":p8 8 @ 0x200000", self.srv.uri + "/big.bin"])
        self.assertEqual(r.returncode, 0, r.stderr)
        want = self.big[0x200000:0x200008].hex()
        self.assertEqual(r.stdout.decode(), "%s\n%s\n" % (want, want))
        self.assertTrue(self.srv.wait_log(r"extension probe: client version 2 caps 0x001f, granted 0x000f"))
        r = raplib.run_rapcli(["-c", "p8 4", self.srv.uri + "/missing.bin"])
        self.assertEqual(r.returncode, 66)
        self.assertIn(b"server: cannot open 'missing.bin': No such file or directory", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
