"""Faults rapsrv must survive: clients that vanish mid-message, half-close, dribble or stall,
floods of garbage connections, absurd lengths and offsets, FIFOs and devices beneath the
root, and the daemon itself killed with SIGKILL in the middle of pipelined writes (every
write it acknowledged must be on disk afterwards, with and without --sync).

Every case is bounded in time and runs on loopback against the real rapsrv."""

import os
import random
import resource
import selectors
import signal
import socket
import stat
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from raplib import CMD, OPEN, READ, REPLY, SEEK, WRITE  # noqa: E402

SAMPLE = raplib.sample_bytes()
BOUND = 30.0  # seconds: the longest any single case below may wait for anything


def serves(testcase, srv, offset=0x1230):
    """A fresh, well-behaved client is served correctly, promptly."""
    testcase.assertTrue(srv.alive(), srv.logtext()[-2000:])
    t0 = time.monotonic()
    s = srv.connect()
    try:
        s.settimeout(5)
        s.sendall(raplib.enc_open(5, "sample.bin") + raplib.enc_seek(0, offset) + raplib.enc_read(16))
        r = raplib.recv_messages(s, 3)
    finally:
        s.close()
    testcase.assertEqual(r[2].payload, SAMPLE[offset:offset + 16])
    return time.monotonic() - t0


def reset_close(sock):
    """Closes with a RST instead of a FIN (SO_LINGER 0): the abrupt way to vanish."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def closed_by_peer(sock, timeout):
    """True when the peer closes sock (FIN or RST) within timeout seconds; what it sends
    first is read and dropped."""
    sock.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if not sock.recv(65536):
                return True
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    return False


def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_until(predicate, timeout=BOUND):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Disconnects(unittest.TestCase):
    """Clients that vanish mid-message, by FIN or by RST: nothing half-received is acted
    upon, nothing leaks, and the next client is served."""

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.srv = raplib.Rapsrv(cls.root.path, "-w")
        cls.idle_fds = open_fds(cls.srv.proc.pid)  # no session yet: listener, root, loop

    def assert_no_session_left(self):
        pid = self.srv.proc.pid
        self.assertTrue(wait_until(lambda: open_fds(pid) <= self.idle_fds, 10), (self.idle_fds, open_fds(pid)))

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.root.cleanup()
        assert rc == 0, rc

    def test_cut_anywhere_in_a_write(self):
        # OPEN rw, SEEK, then a 64-byte WRITE: cut at every byte of the SEEK and the WRITE.
        head = raplib.enc_open(7, "sample-rw.bin") + raplib.enc_seek(0, 0x100)
        write = raplib.enc_write(b"Z" * 64)
        stream = head + write
        original = SAMPLE[0x100:0x140]
        for cut in range(len(raplib.enc_open(7, "sample-rw.bin")), len(stream) + 1):
            for how in ("fin", "rst"):
                with self.subTest(cut=cut, how=how):
                    self.root.write("sample-rw.bin", SAMPLE)
                    s = self.srv.connect()
                    s.sendall(stream[:cut])
                    if how == "fin":
                        s.shutdown(socket.SHUT_WR)
                        self.assertTrue(closed_by_peer(s, BOUND))
                        s.close()
                    else:
                        reset_close(s)
                    complete = cut == len(stream)
                    # The server acts on a WRITE only once all of it arrived; a RST may
                    # discard even a complete one, but never leaves part of it.
                    if how == "fin" and complete:
                        wait_until(lambda: self.root.read("sample-rw.bin")[0x100:0x140] == b"Z" * 64, 5)
                    got = self.root.read("sample-rw.bin")[0x100:0x140]
                    if complete:
                        self.assertIn(got, (b"Z" * 64, original) if how == "rst" else (b"Z" * 64,))
                    else:
                        self.assertEqual(got, original)
        self.root.write("sample-rw.bin", SAMPLE)
        serves(self, self.srv)

    def test_cut_in_every_kind_of_message(self):
        messages = [raplib.enc_open(5, "sample.bin"), raplib.enc_seek(2, 0), raplib.enc_read(4096),
                    raplib.enc_cmd("px 64"), raplib.enc_close(3)]
        for m in messages:
            for cut in sorted({1, 2, len(m) // 2, len(m) - 1}):
                if 0 < cut < len(m):
                    s = self.srv.connect()
                    s.sendall(raplib.enc_open(5, "sample.bin") + m[:cut])
                    reset_close(s)
        serves(self, self.srv)

    def test_hangup_while_replies_are_sent(self):
        # Megabytes of replies queued, then the client resets without reading any of them.
        for _ in range(10):
            s = self.srv.connect()
            s.sendall(raplib.enc_open(5, "sample.bin") +
                      (raplib.enc_seek(0, 0) + raplib.enc_read(4096)) * 500)
            reset_close(s)
        serves(self, self.srv)
        self.assert_no_session_left()

    @raplib.skip_under_emulation("a soak: hundreds of connections at once")
    def test_hundreds_vanish_at_once(self):
        socks = []
        try:
            for i in range(300):
                s = self.srv.connect()
                s.settimeout(BOUND)
                s.sendall(raplib.enc_open(5, "sample.bin") + raplib.enc_cmd("?e %d" % i)[:7])
                socks.append(s)
            # All 300 sessions hold a file, each half-way through a command, when they vanish.
            for s in socks:
                self.assertNotEqual(raplib.recv_messages(s, 1)[0].value, 0xffffffff)
        finally:
            for s in socks:
                reset_close(s)
        serves(self, self.srv)
        self.assert_no_session_left()


class HalfClose(unittest.TestCase):
    """A client may send its requests and shut its side down (FIN) at once: every reply it
    asked for is still owed to it."""

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.srv = raplib.Rapsrv(cls.root.path)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.root.cleanup()
        assert rc == 0, rc

    REQUESTS = raplib.enc_open(5, "sample.bin") + raplib.enc_seek(0, 0x40) + raplib.enc_read(16)

    def check_replies(self, data):
        msgs, rest = raplib.split_messages(data, True)
        self.assertEqual([m.op for m in msgs], [OPEN | REPLY, SEEK | REPLY, READ | REPLY], data)
        self.assertEqual(msgs[2].payload, SAMPLE[0x40:0x50])
        self.assertEqual(rest, b"")

    def test_fin_after_the_replies(self):
        s = self.srv.connect()
        s.sendall(self.REQUESTS)
        raplib.recv_messages(s, 3)
        s.shutdown(socket.SHUT_WR)
        self.assertTrue(closed_by_peer(s, BOUND))
        s.close()
        serves(self, self.srv)

    def test_fin_mid_message_closes_without_a_reply(self):
        s = self.srv.connect()
        s.sendall(raplib.enc_read(16)[:3])
        s.shutdown(socket.SHUT_WR)
        s.settimeout(BOUND)
        self.assertEqual(raplib.recv_until_closed(s), b"")
        s.close()
        serves(self, self.srv)

    def test_requests_and_fin_in_one_segment(self):
        # TCP_CORK holds the requests until the shutdown, so that they and the FIN reach
        # the server in one segment: one read returns the requests, the next the end.
        s = self.srv.connect()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        s.sendall(self.REQUESTS)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(BOUND)
        data = raplib.recv_until_closed(s)
        s.close()
        self.check_replies(data)

    def test_command_and_fin_in_one_segment(self):
        s = self.srv.connect()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        s.sendall(raplib.enc_cmd("?e half-closed"))
        s.shutdown(socket.SHUT_WR)
        s.settimeout(BOUND)
        msgs, _ = raplib.split_messages(raplib.recv_until_closed(s), True)
        s.close()
        self.assertEqual([m.payload for m in msgs], [b"half-closed\n\0"])


class Slowloris(unittest.TestCase):
    """Clients that dribble a message a byte at a time, say nothing, or stop reading are
    dropped at their deadlines, and the others are served all along."""

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.srv = raplib.Rapsrv(cls.root.path, "--request-timeout", "1", "--idle-timeout", "2")

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.root.cleanup()
        assert rc == 0, rc

    def test_dribbling_senders_are_dropped(self):
        n = 100
        socks = [self.srv.connect() for _ in range(n)]
        # A CMD that announces 200 bytes, then one byte every 100 ms from each client: each
        # byte is progress, none completes the message before its deadline.
        for s in socks:
            s.sendall(bytes([CMD]) + struct.pack(">I", 200))
            s.setblocking(False)
        start = time.monotonic()
        alive = set(range(n))
        slowest_good = 0.0
        while alive and time.monotonic() - start < BOUND:
            for i in list(alive):
                try:
                    socks[i].send(b"x")
                    if socks[i].recv(4096) == b"":
                        alive.discard(i)
                except BlockingIOError:
                    pass
                except (ConnectionResetError, BrokenPipeError):
                    alive.discard(i)
            slowest_good = max(slowest_good, serves(self, self.srv))
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        for s in socks:
            s.close()
        self.assertEqual(alive, set(), "%d dribbling clients still connected after %.1f s" % (len(alive), elapsed))
        # Dropped at the 1 s request deadline, not at some later sweep.
        self.assertLess(elapsed, 6.0)
        self.assertLess(slowest_good, 2.0)
        self.assertTrue(self.srv.wait_log(r"request timeout \(message left half-sent\)"))

    def test_silent_connections_are_dropped(self):
        socks = [self.srv.connect() for _ in range(50)]
        t0 = time.monotonic()
        try:
            for s in socks:
                self.assertTrue(closed_by_peer(s, max(0.1, BOUND - (time.monotonic() - t0))))
        finally:
            for s in socks:
                s.close()
        self.assertLess(time.monotonic() - t0, 8.0)
        self.assertTrue(self.srv.wait_log(r"idle timeout"))
        serves(self, self.srv)

    def test_reader_that_stops_reading_is_dropped(self):
        s = self.srv.connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # 8 MiB of replies asked for, none read: the server's sends stall.
        s.sendall(raplib.enc_open(5, "sample.bin") + (raplib.enc_seek(0, 0) + raplib.enc_read(4096)) * 2048)
        t0 = time.monotonic()
        self.assertTrue(self.srv.wait_log(r"send timeout \(the client does not read its replies\)", 10),
                        self.srv.logtext()[-1500:])
        self.assertLess(time.monotonic() - t0, 8.0)
        s.close()
        serves(self, self.srv)


class GarbageFlood(unittest.TestCase):
    """5,000 connections that send garbage (each a different kind), at most 1,000 at a
    time: each is dropped, nothing leaks, and a good client is served throughout."""

    TOTAL = 5000
    AT_ONCE = 1000

    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = cls.AT_ONCE + 256
        if hard != resource.RLIM_INFINITY and hard < want:
            raise unittest.SkipTest("the descriptor limit %d is below the %d this needs" % (hard, want))
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        cls.root = raplib.TempRoot()
        cls.srv = raplib.Rapsrv(cls.root.path)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.root.cleanup()
        assert rc == 0, rc

    @staticmethod
    def garbage(i, rng):
        kinds = [
            lambda: bytes([rng.choice([0x00, 0x08, 0x42, 0x7f, 0xff])]) + os.urandom(rng.randrange(1, 64)),
            lambda: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            lambda: b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(32),  # a TLS hello
            lambda: raplib.enc_open(5, "sample.bin") + b"\x99" * 16,
            lambda: bytes([0x87, 0, 0, 0, 1, 0]),  # an answer nobody asked for
            lambda: b"\x00" * rng.randrange(1, 2048),
        ]
        return kinds[i % len(kinds)]()

    @raplib.skip_under_emulation("a soak: 5000 connections")
    def test_five_thousand_garbage_connections(self):
        rng = random.Random(5000)
        pid = self.srv.proc.pid
        fds_before = open_fds(pid)
        sel = selectors.DefaultSelector()
        started = dropped = 0
        open_now = {}
        deadline = time.monotonic() + 120
        slowest_good = 0.0
        last_check = time.monotonic()
        try:
            while dropped < self.TOTAL and time.monotonic() < deadline:
                while started < self.TOTAL and len(open_now) < self.AT_ONCE:
                    s = socket.socket()
                    s.setblocking(False)
                    s.connect_ex(("127.0.0.1", self.srv.port))
                    open_now[s] = self.garbage(started, rng)
                    sel.register(s, selectors.EVENT_WRITE)
                    started += 1
                for key, ev in sel.select(timeout=1):
                    s = key.fileobj
                    done = False
                    try:
                        if ev & selectors.EVENT_WRITE:
                            s.send(open_now[s])
                            sel.modify(s, selectors.EVENT_READ)
                            continue
                        done = s.recv(65536) == b""
                    except (BlockingIOError, InterruptedError):
                        continue
                    except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
                        done = True
                    if done:
                        sel.unregister(s)
                        s.close()
                        del open_now[s]
                        dropped += 1
                if time.monotonic() - last_check > 1.0:
                    slowest_good = max(slowest_good, serves(self, self.srv))
                    last_check = time.monotonic()
        finally:
            for s in list(open_now):
                sel.unregister(s)
                s.close()
            sel.close()
        self.assertEqual(dropped, self.TOTAL, "%d of %d garbage connections dropped in time" % (dropped, self.TOTAL))
        self.assertLess(slowest_good, 5.0)
        serves(self, self.srv)
        self.assertTrue(wait_until(lambda: open_fds(pid) <= fds_before, 10), (fds_before, open_fds(pid)))


class OversizeLengths(unittest.TestCase):
    """Lengths and offsets at and past every limit: refused or drained, never allocated,
    never a file grown to an absurd size, and the session stays in step where it can."""

    MAX = 65536

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.srv = raplib.Rapsrv(cls.root.path, "-w", "--max-message", str(cls.MAX))

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.root.cleanup()
        assert rc == 0, rc

    def setUp(self):
        self.root.write("sample-rw.bin", SAMPLE)

    def test_write_at_and_past_the_limit(self):
        s = self.srv.connect()
        s.sendall(raplib.enc_open(7, "sample-rw.bin") + raplib.enc_seek(0, 0) +
                  raplib.enc_write(b"A" * self.MAX) + raplib.enc_seek(0, 0) +
                  raplib.enc_write(b"B" * (self.MAX + 1)) + raplib.enc_seek(1, 0))
        r = raplib.recv_messages(s, 6)
        s.close()
        self.assertEqual(r[2].value, self.MAX)
        self.assertEqual(r[4].value, 0)  # refused, and its payload drained
        self.assertEqual(r[5].offset, 0)  # still in step
        data = self.root.read("sample-rw.bin")
        self.assertEqual(data[:self.MAX], b"A" * self.MAX)
        self.assertEqual(len(data), len(SAMPLE))

    def test_huge_declared_lengths_cost_no_memory(self):
        pid = self.srv.proc.pid
        rss_before = proc_rss_kib(pid)
        filler = b"\x00" * (1 << 20)
        for header in (bytes([WRITE]) + b"\x7f\xff\xff\xff", bytes([WRITE]) + b"\xff\xff\xff\xff",
                       bytes([CMD]) + b"\xff\xff\xff\xff"):
            s = self.srv.connect()
            try:
                s.sendall(raplib.enc_open(7, "sample-rw.bin") + header)
                for _ in range(32):  # 32 MiB of a payload nobody will buffer
                    s.sendall(filler)
            except (BrokenPipeError, ConnectionResetError):
                pass
            reset_close(s)
        serves(self, self.srv)
        # Draining, not buffering: far less than the 96 MiB sent.
        self.assertLess(proc_rss_kib(pid) - rss_before, 16 * 1024)
        self.assertEqual(self.root.read("sample-rw.bin"), SAMPLE)

    def test_open_with_lying_lengths(self):
        # Says 255 and sends 11: a message that never completes, so no answer at all.
        s = self.srv.connect()
        s.sendall(bytes([OPEN, 5, 255]) + b"sample.bin\0")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(BOUND)
        self.assertEqual(raplib.recv_until_closed(s), b"")
        s.close()
        for req, opens in ((bytes([OPEN, 5, 0]), False),                 # an empty path
                           (bytes([OPEN, 5, 255]) + b"A" * 255, False),  # as long as it gets
                           (bytes([OPEN, 5, 10]) + b"sample.bin", True)):  # no NUL: the 10 bytes
            s = self.srv.connect()
            s.settimeout(BOUND)
            s.sendall(req + raplib.enc_seek(0, 0x20) + raplib.enc_read(4))
            r = raplib.recv_messages(s, 3)
            s.close()
            self.assertEqual(r[0].op, OPEN | REPLY)
            if opens:
                self.assertEqual(r[2].payload, SAMPLE[0x20:0x24])
            else:
                self.assertEqual(r[0].value, 0xffffffff)
                self.assertEqual(r[2].length, 0)
        serves(self, self.srv)

    def test_offsets_at_the_edge(self):
        top = 0xffffffffffffffff
        s = self.srv.connect()
        s.sendall(raplib.enc_open(7, "sample-rw.bin") +
                  raplib.enc_seek(0, top) + raplib.enc_read(16) +
                  raplib.enc_seek(0, 1 << 63) + raplib.enc_write(b"far") +
                  raplib.enc_seek(2, top) + raplib.enc_read(16) +
                  raplib.enc_seek(0, (1 << 63) - 2) + raplib.enc_write(b"edge") +
                  raplib.enc_seek(0, 0x10) + raplib.enc_read(4))
        r = raplib.recv_messages(s, 11)
        s.close()
        self.assertEqual(r[2].length, 0)   # nothing up there to read
        self.assertEqual(r[4].value, 0)    # no write at 2^63
        self.assertEqual(r[6].length, 0)
        self.assertEqual(r[8].value, 0)    # nor one that would cross it
        self.assertEqual(r[10].payload, SAMPLE[0x10:0x14])
        # No sparse exabyte file: the size is what it was.
        self.assertEqual(os.path.getsize(os.path.join(self.root.path, "sample-rw.bin")), len(SAMPLE))


class SpecialFiles(unittest.TestCase):
    """FIFOs and device nodes beneath the root: a FIFO is refused at once (it has no
    offsets, and opening it must never wait for a writer); devices read and write like the
    kernel says, with and without --sync; commands that name a FIFO must not hang the
    daemon."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("device nodes need root (mknod)")
        cls.root = raplib.TempRoot()
        os.mkfifo(os.path.join(cls.root.path, "fifo"))
        os.mknod(os.path.join(cls.root.path, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(os.path.join(cls.root.path, "zero"), 0o666 | stat.S_IFCHR, os.makedev(1, 5))

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()

    def fifo(self):
        return os.path.join(self.root.path, "fifo")

    def test_fifo_open_refused_at_once(self):
        with raplib.Rapsrv(self.root.path, "-w") as srv:
            for perm in (5, 7):
                t0 = time.monotonic()
                s = srv.connect()
                s.sendall(raplib.enc_open(perm, "fifo"))
                r = raplib.recv_messages(s, 1)
                s.close()
                self.assertEqual(r[0].value, 0xffffffff)
                self.assertLess(time.monotonic() - t0, 2.0)
            serves(self, srv)

    def test_devices_refused_unless_allowed(self):
        with raplib.Rapsrv(self.root.path, "-w") as srv:
            for name in ("zero", "null"):
                s = srv.connect()
                s.sendall(raplib.enc_open(5, name))
                r = raplib.recv_messages(s, 1)
                s.close()
                self.assertEqual(r[0].value, 0xffffffff, name)
            serves(self, srv)

    def test_devices(self):
        for extra in ([], ["--sync"]):
            with self.subTest(options=extra), raplib.Rapsrv(self.root.path, "-w", "--allow-devices", *extra) as srv:
                s = srv.connect()
                s.sendall(raplib.enc_open(5, "zero") + raplib.enc_seek(0, 1 << 40) + raplib.enc_read(32) +
                          raplib.enc_open(7, "null") + raplib.enc_seek(0, 0) + raplib.enc_write(b"gone") +
                          raplib.enc_read(16))
                r = raplib.recv_messages(s, 7)
                s.close()
                self.assertEqual(r[2].payload, b"\0" * 32)
                self.assertNotEqual(r[3].value, 0xffffffff)
                # /dev/null cannot be flushed (fdatasync: EINVAL); with --sync the write
                # still counts, since there is no cache to lose.
                self.assertEqual(r[5].value, 4)
                self.assertEqual(r[6].length, 0)
                serves(self, srv)

    def command_does_not_hang(self, cmd, unblock):
        """Sends cmd; the answer (and a fresh client's) must come within 5 s. A daemon stuck
        in open() is unblocked afterwards by opening the FIFO's other end, so that it stops."""
        srv = raplib.Rapsrv(self.root.path, "-w", "--cmd", "all")
        try:
            s = srv.connect()
            s.settimeout(5)
            s.sendall(raplib.enc_open(7, "sample-rw.bin") + raplib.enc_cmd(cmd))
            try:
                r = raplib.recv_messages(s, 2)
            except socket.timeout:
                self.fail("no answer to %r within 5 s" % cmd)
            finally:
                s.close()
            self.assertEqual(r[1].op, CMD | REPLY)
            serves(self, srv)
        finally:
            try:
                fd = os.open(self.fifo(), unblock | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass
            srv.stop()

    def test_output_redirected_into_a_fifo(self):
        self.command_does_not_hang("px 16 > fifo", os.O_RDONLY)

    def test_wtf_into_a_fifo(self):
        self.command_does_not_hang("wtf fifo 16", os.O_RDONLY)

    def test_wff_from_a_fifo(self):
        self.command_does_not_hang("wff fifo", os.O_WRONLY)


class KillDuringWrites(unittest.TestCase):
    """SIGKILL while pipelined WRITEs are in flight: every WRITE the server acknowledged is
    in the file afterwards. (A process killed leaves the page cache to the kernel, so this
    holds without --sync too; --sync adds power-loss durability, which no test here can
    pull the plug on: the unit test of the file plugin checks the fdatasync.)"""

    BLOCK = 4096
    BLOCKS = 2048  # an 8 MiB file

    def block(self, i):
        return struct.pack(">I", i + 1) * (self.BLOCK // 4)

    def run_and_kill(self, *options):
        root = raplib.TempRoot()
        self.addCleanup(root.cleanup)
        root.write("target.bin", b"\0" * (self.BLOCK * self.BLOCKS))
        srv = raplib.Rapsrv(root.path, "-w", *options)
        self.addCleanup(srv.stop)
        order = list(range(self.BLOCKS))
        random.Random(9).shuffle(order)
        s = srv.connect()
        s.settimeout(BOUND)
        s.sendall(raplib.enc_open(7, "target.bin"))
        self.assertNotEqual(raplib.recv_messages(s, 1)[0].value, 0xffffffff)

        handed = []  # block numbers, in the order their SEEK+WRITE were given to the socket

        def sender():
            try:
                for k in range(0, len(order), 64):
                    batch = order[k:k + 64]
                    handed.extend(batch)  # before sendall: a request is out once it is handed
                    s.sendall(b"".join(raplib.enc_seek(0, i * self.BLOCK) + raplib.enc_write(self.block(i))
                                       for i in batch))
            except OSError:
                pass  # the server is gone

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        acked = []
        data = b""
        killed_at = None
        in_flight = 0
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                msgs, data_rest = raplib.split_messages(data, True)
                # Replies come in pairs (SEEK, WRITE); keep an unpaired SEEK for the next round.
                pairs = len(msgs) // 2
                for k in range(pairs):
                    seek, write = msgs[2 * k], msgs[2 * k + 1]
                    self.assertEqual((seek.op, write.op), (SEEK | REPLY, WRITE | REPLY))
                    i = order[len(acked)]
                    self.assertEqual(seek.offset, i * self.BLOCK)
                    self.assertEqual(write.value, self.BLOCK, "write of block %d refused" % i)
                    acked.append(i)
                data = b"".join(m.raw for m in msgs[2 * pairs:]) + data_rest
                # Killed past a quarter of the blocks, while requests are outstanding.
                if killed_at is None and len(acked) >= self.BLOCKS // 4 and len(handed) > len(acked):
                    in_flight = len(handed) - len(acked)
                    srv.proc.send_signal(signal.SIGKILL)
                    killed_at = len(acked)
        except (ConnectionResetError, socket.timeout):
            pass  # the server died (reset), or was never killed and went quiet
        s.close()
        t.join(BOUND)
        self.assertEqual(srv.proc.wait(BOUND), -signal.SIGKILL)
        self.assertIsNotNone(killed_at, "the server was never killed (%d acknowledged)" % len(acked))
        self.assertGreater(in_flight, 0, "nothing was in flight when the server was killed")
        self.assertLess(len(acked), self.BLOCKS, "the kill came after the last reply")
        disk = root.read("target.bin")
        for i in acked:
            self.assertEqual(disk[i * self.BLOCK:(i + 1) * self.BLOCK], self.block(i),
                             "block %d was acknowledged but is not on disk" % i)
        return len(acked), in_flight

    def test_acknowledged_writes_are_on_disk(self):
        self.run_and_kill()

    def test_acknowledged_writes_are_on_disk_with_sync(self):
        self.run_and_kill("--sync")


if __name__ == "__main__":
    unittest.main(verbosity=2)
