"""The gdbserver with the real gdb (Debian's gdb 13, batch mode, -nx): 'rapcli -c "=g& 0
FILE"' (a background server that serves on after the script until SIGTERM) and 'rapsrv
--gdb', each debugging the test's own build of test/vectors/r2/hello.c: target remote, info
registers rip, break add + continue stopping in add, print counter (4660), set var counter =
7, stepi, kill; a second gdb after the first, a run to the end, detach. Raw RSP clients check
what gdb's batch mode cannot: the interrupt byte 0x03 stopping a running program (T02),
refused connections while a session lasts, and malformed packets answered without harm.

Tests skip, saying why, where gdb or gcc is missing or ptrace is not permitted. Every wait is
bounded; every address is loopback; ports are chosen by the OS."""

import ctypes
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402

DEADLINE = raplib.DEADLINE
GDB = shutil.which("gdb")
CC = shutil.which("gcc")
HELLO_C = os.path.join(raplib.INTEROP, "hello.c")

SPIN_C = b"""volatile unsigned long spins;
int main(void) { for (;;) spins++; }
"""

CRASH_C = b"""int main(void) { *(volatile int *)0 = 1; return 0; }
"""


def ptrace_denied():
    """Why this machine does not let us trace a child, or None. A child asks to be traced
    (PTRACE_TRACEME), as the backend's children do; seccomp or a container's policy refuse
    that; Yama's scope 3 refuses everything."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            if f.read().strip() == "3":
                return "ptrace is not permitted: kernel.yama.ptrace_scope is 3"
    except OSError:
        pass
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:
        rc = libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME
        os._exit(0 if rc == 0 else 1)
    _, status = os.waitpid(pid, 0)
    if os.WEXITSTATUS(status) != 0:
        return "ptrace is not permitted here (PTRACE_TRACEME fails)"
    return None


SKIP_REASON = (None if GDB and CC else "gdb or gcc is not installed")
if SKIP_REASON is None:
    SKIP_REASON = ptrace_denied()


def checksum(payload):
    return b"%02x" % (sum(payload) % 256)


def frame(payload):
    return b"$" + payload + b"#" + checksum(payload)


class Rsp:
    """A raw GDB remote protocol client over a socket, acknowledging every packet."""

    def __init__(self, port, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=DEADLINE)
        self.buf = b""
        self.noack = False

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply from the gdbserver")
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise TimeoutError("no reply from the gdbserver")
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the gdbserver closed the connection")
        self.buf += chunk

    def read_byte(self):
        deadline = time.monotonic() + DEADLINE
        while not self.buf:
            self._fill(deadline)
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def read_packet(self):
        """The next packet's payload (run-length expanded), its checksum verified."""
        deadline = time.monotonic() + DEADLINE
        while True:
            start = self.buf.find(b"$")
            end = self.buf.find(b"#", start + 1) if start >= 0 else -1
            if start >= 0 and end >= 0 and len(self.buf) >= end + 3:
                break
            self._fill(deadline)
        raw = self.buf[start + 1:end]
        csum = self.buf[end + 1:end + 3]
        self.buf = self.buf[end + 3:]
        if checksum(raw) != csum:
            raise AssertionError("bad checksum from the server: %r" % raw)
        if not self.noack:
            self.sock.sendall(b"+")
        out = bytearray()
        i = 0
        while i < len(raw):
            if raw[i:i + 1] == b"*":
                out += out[-1:] * (raw[i + 1] - 29)
                i += 2
            else:
                out += raw[i:i + 1]
                i += 1
        return bytes(out)

    def request(self, payload):
        self.sock.sendall(frame(payload))
        if not self.noack:
            ack = self.read_byte()
            if ack != b"+":
                raise AssertionError("expected an ack, got %r" % ack)
        return self.read_packet()

    def nothing_within(self, seconds):
        """True when nothing arrives for that long (a running program answers nothing)."""
        if self.buf:
            return False
        r, _, _ = select.select([self.sock], [], [], seconds)
        return not r

    def close(self):
        self.sock.close()


def run_gdb(port, program, commands, extended=False):
    """gdb in batch mode: connects, runs commands (each an -ex), prints everything."""
    args = [GDB, "-nx", "-batch", "-ex", "set confirm off",
            "-ex", "target %s 127.0.0.1:%d" % ("extended-remote" if extended else "remote", port)]
    for c in commands:
        args += ["-ex", c]
    args.append(program)
    r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=DEADLINE * 3)
    return r.stdout.decode(errors="replace")


class Served:
    """A process serving gdb, its output drained by threads; the port read from its output."""

    def __init__(self, args, port_pattern):
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.text = {"out": b"", "err": b""}
        self.cond = threading.Condition()
        self.threads = [threading.Thread(target=self._drain, args=(self.proc.stdout, "out"), daemon=True),
                        threading.Thread(target=self._drain, args=(self.proc.stderr, "err"), daemon=True)]
        for t in self.threads:
            t.start()
        self.ports = self.wait_for(port_pattern)

    def _drain(self, pipe, name):
        while True:
            chunk = pipe.read1(65536)
            with self.cond:
                self.text[name] += chunk
                self.cond.notify_all()
            if not chunk:
                return

    def wait_for(self, pattern, stream=None, count=1):
        """All matches of pattern (bytes) in the output once there are count of them."""
        end = time.monotonic() + DEADLINE
        with self.cond:
            while True:
                hay = self.text["out"] + self.text["err"] if stream is None else self.text[stream]
                found = re.findall(pattern, hay)
                if len(found) >= count:
                    return found
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not any(t.is_alive() for t in self.threads):
                    raise AssertionError("%r never appeared in: %r" % (pattern, self.text))
                self.cond.wait(min(left, 0.5))

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self.threads:
            t.join(DEADLINE)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode


class GdbBase(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        if SKIP_REASON:
            raise unittest.SkipTest(SKIP_REASON)
        cls.tmp = tempfile.mkdtemp(prefix="rap-gdb-")
        cls.hello = os.path.join(cls.tmp, "hello")
        cls.spin = os.path.join(cls.tmp, "spin")
        cls.crash = os.path.join(cls.tmp, "crash")
        for name, text in (("spin.c", SPIN_C), ("crash.c", CRASH_C)):
            with open(os.path.join(cls.tmp, name), "wb") as f:
                f.write(text)
        for src, exe in ((HELLO_C, cls.hello), (os.path.join(cls.tmp, "spin.c"), cls.spin),
                         (os.path.join(cls.tmp, "crash.c"), cls.crash)):
            subprocess.run([CC, "-O0", "-no-pie", "-g", "-o", exe, src], check=True, timeout=DEADLINE * 3)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def no_debuggee_left(self, program):
        """No process runs program any more (each session's is killed at its end)."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            left = []
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    if os.readlink("/proc/%s/exe" % pid) == program:
                        left.append(pid)
                except OSError:
                    pass
            if not left:
                return
            time.sleep(0.05)
        self.fail("%s still runs: %s" % (program, left))

    # ---- shared checks, for both servers --------------------------------------------------

    def check_gdb_session(self, port):
        out = run_gdb(port, self.hello, ["info registers rip", "break add", "continue", "print counter",
                                          "set var counter = 7", "print counter", "stepi",
                                          "info registers rip", "kill"])
        self.assertRegex(out, r"rip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <_start>", out)
        self.assertRegex(out, r"Breakpoint 1 at 0x[0-9a-f]+: file .*hello\.c, line 3\.", out)
        self.assertIn("Breakpoint 1, add (a=4660, b=0)", out)
        self.assertIn("$1 = 4660", out)
        self.assertIn("$2 = 7", out)
        self.assertRegex(out, r"rip\s+0x40[0-9a-f]+\s+0x40[0-9a-f]+ <add\+\d+>", out)
        self.assertIn("[Inferior 1 (Remote target) killed]", out)
        self.assertNotIn("E01", out)
        self.no_debuggee_left(self.hello)
        # A second gdb gets a fresh program: it runs to its end.
        out = run_gdb(port, self.hello, ["break add", "continue", "print counter", "delete", "continue"])
        self.assertIn("$1 = 4660", out)
        self.assertIn("[Inferior 1 (Remote target) exited normally]", out)
        self.no_debuggee_left(self.hello)
        # detach: the program does not outlive the connection either
        out = run_gdb(port, self.hello, ["info registers rip", "detach"])
        self.assertIn("[Inferior 1 (Remote target) detached]", out)
        self.no_debuggee_left(self.hello)

    def check_interrupt(self, port):
        c = Rsp(port)
        try:
            feats = c.request(b"qSupported:multiprocess+;swbreak+;xmlRegisters=i386")
            self.assertIn(b"PacketSize=", feats)
            self.assertIn(b"QStartNoAckMode+", feats)
            self.assertEqual(c.request(b"QStartNoAckMode"), b"OK")
            c.noack = True
            self.assertRegex(c.request(b"?"), rb"^T05")
            c.send_raw(frame(b"vCont;c"))
            self.assertTrue(c.nothing_within(0.3), "a running program answered")
            # another gdb meanwhile is refused (one session at a time)
            other = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
            other.settimeout(DEADLINE)
            self.assertEqual(other.recv(16), b"")
            other.close()
            c.send_raw(b"\x03")
            stop = c.read_packet()
            self.assertRegex(stop, rb"^T02.*thread:[0-9a-f]+;", stop)
            # it runs again, and stops again
            c.send_raw(frame(b"c"))
            self.assertTrue(c.nothing_within(0.2))
            c.send_raw(b"\x03")
            self.assertRegex(c.read_packet(), rb"^T02")
            self.assertEqual(c.request(b"vKill;1"), b"OK")
        finally:
            c.close()
        self.no_debuggee_left(self.spin)

    def check_malformed(self, port):
        c = Rsp(port)
        try:
            c.send_raw(b"$g#00")
            self.assertEqual(c.read_byte(), b"-")
            c.send_raw(b"garbage\x00\xff")
            self.assertEqual(c.request(b"m1g,4"), b"E01")
            self.assertEqual(c.request(b"m0,4"), b"E14")
            self.assertEqual(c.request(b"mffffffffffffffff,2"), b"E01")
            self.assertEqual(c.request(b"m10,ffffffffffffffff"), b"E01")
            self.assertEqual(c.request(b"m10000000000000000,1"), b"E01")
            self.assertEqual(c.request(b"G00"), b"E16")
            self.assertEqual(c.request(b"p10000"), b"E01")
            self.assertEqual(c.request(b"vCont;x"), b"E01")
            self.assertEqual(c.request(b"qTStatus"), b"")
            self.assertEqual(c.request(b"vMustReplyEmpty"), b"")
            self.assertEqual(c.request(b"G" + b"0" * 20000), b"E22")  # over PacketSize
            # run-length encoded and escaped requests are read
            self.assertRegex(c.request(b"m40*\"0,1"), rb"^[0-9a-f]{2}$|^E14$")
            # still serving
            self.assertRegex(c.request(b"?"), rb"^T05")
            xml = c.request(b"qXfer:features:read:target.xml:0,fff")
            self.assertIn(b"i386:x86-64", xml)
            self.assertEqual(c.request(b"k"), b"OK")
        finally:
            c.close()
        self.no_debuggee_left(self.hello)


@unittest.skipIf(SKIP_REASON, SKIP_REASON or "")
class RapcliGdbTest(GdbBase):
    """rapcli -c '=g& 0 hello' -c '=g& 0 spin': background gdbservers serving on after the
    script, until SIGTERM."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = Served([raplib.RAPCLI, "-c", "=g& 0 %s" % cls.hello, "-c", "=g& 0 %s" % cls.spin,
                             "-c", "=g& 0 %s" % cls.crash], rb"listening on gdb://127\.0\.0\.1:(\d+)")
        ports = cls.server.wait_for(rb"listening on gdb://127\.0\.0\.1:(\d+)", count=3)
        cls.hello_port, cls.spin_port, cls.crash_port = (int(p) for p in ports)
        cls.server.wait_for(rb"rapcli: 3 servers running in the background", stream="err")

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.stop()
        super().tearDownClass()

    def test_gdb_session(self):
        self.check_gdb_session(self.hello_port)
        # hello's output goes to rapcli's error stream
        self.server.wait_for(rb"4663\n", stream="err")

    def test_interrupt(self):
        self.check_interrupt(self.spin_port)

    def test_malformed(self):
        self.check_malformed(self.hello_port)

    def test_signals(self):
        # A crash stops with its signal (T0b); delivered, it kills the program (X0b).
        out = run_gdb(self.crash_port, self.crash, ["continue", "continue"])
        self.assertIn("Program received signal SIGSEGV, Segmentation fault.", out)
        self.assertIn("Program terminated with signal SIGSEGV, Segmentation fault.", out)
        self.no_debuggee_left(self.crash)
        c = Rsp(self.crash_port)
        try:
            self.assertRegex(c.request(b"c"), rb"^T0b[0-9a-f]{2}:[0-9a-f]{16};thread:[0-9a-f]+;$")
            self.assertEqual(c.request(b"C0b"), b"X0b")
            self.assertEqual(c.request(b"g"), b"E03")  # gone
        finally:
            c.close()
        self.no_debuggee_left(self.crash)

    def test_extended_remote(self):
        # run starts the program again (vRun with the default program), after a kill too
        out = run_gdb(self.hello_port, self.hello, ["break add", "run", "print counter", "kill", "run",
                                                     "print b", "delete", "continue"], extended=True)
        self.assertEqual(out.count("Breakpoint 1, add (a=4660, b=0)"), 2, out)
        self.assertIn("$1 = 4660", out)
        self.assertIn("$2 = 0", out)
        self.assertIn("[Inferior 1 (Remote target) exited normally]", out)
        self.no_debuggee_left(self.hello)
        # another program is refused: =g debugs its own only
        out = run_gdb(self.hello_port, self.hello, ["set remote exec-file %s" % self.spin, "run"], extended=True)
        self.assertIn('Running "%s" on the remote target failed' % self.spin, out)
        self.no_debuggee_left(self.hello)

    def test_ipv6(self):
        c = Rsp(self.hello_port, host="::1")
        try:
            self.assertRegex(c.request(b"?"), rb"^T05")
            self.assertEqual(c.request(b"D"), b"OK")
        finally:
            c.close()
        self.no_debuggee_left(self.hello)


@unittest.skipIf(SKIP_REASON, SKIP_REASON or "")
class RapcliPromptTest(GdbBase):
    """=g from the prompt: help, argument errors, the foreground server stopped by SIGINT."""

    def test_help_and_errors(self):
        r = raplib.run_rapcli(["-c", "=g?", "-c", "=?"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"Usage: =g[&-] port file [args]", r.stdout)
        self.assertIn(b"| =g port file [args]", r.stdout)
        for cmd, why in (("=g", b"usage: =g PORT FILE"), ("=g 0", b"usage: =g PORT FILE"),
                         ("=g& 70000 /bin/true", b"invalid port '70000'"),
                         ("=g& 0 %s/missing" % self.tmp, b"No such file or directory"),
                         ("=g& 0 %s" % self.tmp, b"Is a directory")):
            r = raplib.run_rapcli(["-c", cmd])
            self.assertEqual(r.returncode, 1, (cmd, r.stderr))
            self.assertIn(why, r.stderr, cmd)

    def test_listed_and_stopped(self):
        r = raplib.run_rapcli(["-c", "=g& 0 %s" % self.hello, "-c", "=", "-c", "=g-", "-c", "=", "-c", "q"])
        self.assertEqual(r.returncode, 0, r.stderr)
        port = int(re.search(rb"listening on gdb://127\.0\.0\.1:(\d+)", r.stdout).group(1))
        listed = b"gdb server on 127.0.0.1:%d, [::1]:%d (background, debugging %s)" % (port, port,
                                                                                      self.hello.encode())
        self.assertEqual(r.stdout.count(listed), 1, r.stdout)
        self.assertIn(b"(gdb) target remote 127.0.0.1:%d" % port, r.stdout)

    def test_foreground_sigint(self):
        srv = Served([raplib.RAPCLI, "-c", "=g 0 %s" % self.hello], rb"listening on gdb://127\.0\.0\.1:(\d+)")
        try:
            port = int(srv.ports[0])
            srv.wait_for(rb"press Ctrl-C to stop the server", stream="err")
            c = Rsp(port)
            self.assertRegex(c.request(b"?"), rb"^T05")
            srv.wait_for(rb"gdb: 127\.0\.0\.1:\d+ debugging .*hello \(pid \d+\)", stream="err")
            # Ctrl-C ends the session in progress and the server
            srv.proc.send_signal(signal.SIGINT)
            srv.wait_for(rb"gdb server stopped", stream="err")
            c.close()
        finally:
            srv.stop()
        self.no_debuggee_left(self.hello)


@unittest.skipIf(SKIP_REASON, SKIP_REASON or "")
class RapsrvGdbTest(GdbBase):
    """rapsrv --gdb: programs beneath --root, only with dbg in --allow-scheme, --allow-from
    and --max-sessions applied, sessions ended by SIGTERM."""

    @classmethod
    def rapsrv(cls, program, *extra):
        return Served([*raplib.RAPSRV_CMD, "-r", cls.tmp, "--allow-scheme", "file,dbg", "--gdb", "0", "--gdb-program",
                       program] + list(extra) + ["127.0.0.1:0"],
                      rb"listening on gdb://127\.0\.0\.1:(\d+)")

    def test_gdb_session(self):
        srv = self.rapsrv("hello")
        try:
            port = int(srv.ports[0])
            srv.wait_for(rb"listening on gdb://\[::1\]:%d " % port)
            self.check_gdb_session(port)
            srv.wait_for(rb"gdb: 127\.0\.0\.1:\d+ session over", count=3)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_interrupt_and_limits(self):
        srv = self.rapsrv("spin", "--max-sessions", "1")
        try:
            self.check_interrupt(int(srv.ports[0]))
            srv.wait_for(rb"gdb: refused: --max-sessions reached")
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_malformed(self):
        srv = self.rapsrv("hello")
        try:
            self.check_malformed(int(srv.ports[0]))
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_sigterm_ends_a_session(self):
        srv = self.rapsrv("spin")
        c = Rsp(int(srv.ports[0]))
        try:
            self.assertRegex(c.request(b"?"), rb"^T05")
            c.send_raw(frame(b"c"))
            self.assertEqual(c.read_byte(), b"+")
            self.assertTrue(c.nothing_within(0.2))
            self.assertEqual(srv.stop(), 0)
            # the connection ends (nothing may outlive it)
            with self.assertRaises((ConnectionError, AssertionError)):
                while True:
                    c.read_packet()
        finally:
            c.close()
            srv.stop()
        self.no_debuggee_left(self.spin)

    def test_extended_remote_chooses_the_program(self):
        # without --gdb-program, gdb names a program beneath the root and runs it
        srv = Served([*raplib.RAPSRV_CMD, "-r", self.tmp, "--allow-scheme", "file,dbg", "--gdb", "0", "127.0.0.1:0"],
                     rb"listening on gdb://127\.0\.0\.1:(\d+)")
        try:
            port = int(srv.ports[0])
            out = run_gdb(port, self.hello, ["set remote exec-file hello", "break add", "run", "print counter",
                                             "kill", "run", "print b", "delete", "continue",
                                             "set remote exec-file ../../../etc/passwd", "run",
                                             "set remote exec-file missing", "run"], extended=True)
            self.assertEqual(out.count("Breakpoint 1, add (a=4660, b=0)"), 2, out)
            self.assertIn("$1 = 4660", out)
            self.assertIn("[Inferior 1 (Remote target) exited normally]", out)
            self.assertIn('Running "../../../etc/passwd" on the remote target failed', out)
            self.assertIn('Running "missing" on the remote target failed', out)
            srv.wait_for(rb"gdb: 127\.0\.0\.1:\d+ run: \.\./\.\./\.\./etc/passwd: ")
            # target remote without a program: nothing to debug, and it says so
            c = Rsp(port)
            try:
                self.assertEqual(c.request(b"?"), b"W00")
                self.assertEqual(c.request(b"g"), b"E03")
                self.assertEqual(c.request(b"!"), b"OK")
                self.assertRegex(c.request(b"vRun;" + b"hello".hex().encode()), rb"^T05")
                self.assertEqual(c.request(b"vKill;1"), b"OK")
                self.assertEqual(c.request(b"D"), b"OK")
            finally:
                c.close()
        finally:
            self.assertEqual(srv.stop(), 0)
        self.no_debuggee_left(self.hello)

    def test_allow_from(self):
        srv = self.rapsrv("hello", "--allow-from", "192.0.2.0/24")
        try:
            s = socket.create_connection(("127.0.0.1", int(srv.ports[0])), timeout=DEADLINE)
            s.settimeout(DEADLINE)
            self.assertEqual(s.recv(16), b"")
            s.close()
            srv.wait_for(rb"gdb: refused: not in --allow-from")
        finally:
            self.assertEqual(srv.stop(), 0)
        # The same list as the RAP clients': a network of it lets gdb in.
        srv = self.rapsrv("hello", "--allow-from", "192.0.2.0/24", "--allow-from", "127.0.0.0/8")
        c = Rsp(int(srv.ports[0]))
        try:
            self.assertRegex(c.request(b"?"), rb"^T05")
            self.assertEqual(c.request(b"vKill;1"), b"OK")
        finally:
            c.close()
            self.assertEqual(srv.stop(), 0)
        self.no_debuggee_left(self.hello)

    def test_program_missing_or_outside_root(self):
        for program in ("missing", "../../etc/passwd"):
            srv = self.rapsrv(program)
            try:
                s = socket.create_connection(("127.0.0.1", int(srv.ports[0])), timeout=DEADLINE)
                s.settimeout(DEADLINE)
                self.assertEqual(s.recv(16), b"")
                s.close()
                srv.wait_for(rb"gdb: cannot open ")
            finally:
                self.assertEqual(srv.stop(), 0)

    def test_configuration_errors(self):
        for args, code, why in (
                (["--gdb", "0", "--gdb-program", "hello"], 78, b"needs dbg in --allow-scheme"),
                (["--allow-scheme", "file,dbg", "--gdb-program", "hello"], 64, b"--gdb-program needs --gdb"),
                (["--allow-scheme", "file,dbg", "--gdb", "rap://x:1", "--gdb-program", "hello"], 64,
                 b"cannot parse gdb address"),
                (["--allow-scheme", "file,dbg", "--gdb", "0", "--gdb", "1", "--gdb-program", "hello"], 64,
                 b"--gdb may be given once")):
            r = subprocess.run([*raplib.RAPSRV_CMD, "-r", self.tmp, "-t"] + args, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=DEADLINE)
            self.assertEqual(r.returncode, code, (args, r.stderr))
            self.assertIn(why, r.stderr, args)


if __name__ == "__main__":
    unittest.main()
