"""Remote debugging: rapsrv serving dbg:// to a stock radare2 client (its byte stream
replayed), rapcli's walkthrough over RAP and its -d, the operator's limits, and that no
debugged process outlives its session (client gone, server stopped with SIGTERM).

The debuggee is radare2's hello.c (test/vectors/r2), built by meson with gcc -O0 -no-pie;
a second program spins forever."""

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402

HELLO = os.environ.get("RAP_DEBUGGEE", "")
SPIN = os.environ.get("RAP_DEBUGGEE_SPIN", "")
SYMS = os.environ.get("RAP_DEBUGGEE_SYMS", "")
ROOT = os.path.dirname(HELLO)
HAVE_CAPSTONE = raplib._build_fact("RAP_HAVE_CAPSTONE")


def ptrace_denied():
    """Why this machine cannot trace, or None: Yama's scope 3, or a tracer that fails to
    attach to its own child (a container without CAP_SYS_PTRACE, a seccomp policy)."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            if f.read().strip() == "3":
                return "ptrace is not permitted: kernel.yama.ptrace_scope is 3 (no process may be traced)"
    except OSError:
        pass
    r = subprocess.run([raplib.RAPCLI, "-q", "-c", "dr rip", "-d", HELLO], capture_output=True,
                       timeout=raplib.DEADLINE)
    if r.returncode != 0 and b"ptrace is not permitted" in r.stderr:
        return r.stderr.decode(errors="replace").strip()
    return None


def symbols():
    out = {}
    with open(SYMS) as f:
        for line in f:
            m = re.match(r"#define DEBUGGEE_(\w+) (0x[0-9a-f]+)u", line)
            if m:
                out[m.group(1).lower()] = int(m.group(2), 16)
    return out


DENIED = ptrace_denied() if HELLO else "RAP_DEBUGGEE is not set (run through meson test)"


def alive(pid):
    """Whether pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def gone_within(pid, seconds=raplib.DEADLINE):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.01)
    return not alive(pid)


def reply_text(msg):
    return msg.payload.rstrip(b"\0").decode(errors="replace")


@unittest.skipIf(DENIED, DENIED)
class Debugger(unittest.TestCase):
    def setUp(self):
        self.syms = symbols()

    def server(self, *args):
        return raplib.Rapsrv(ROOT, "--allow-scheme", "file,dbg", "--cmd", "write", *args)

    def exchange(self, sock, *reqs):
        out = []
        for r in reqs:
            sock.sendall(r)
            out.append(raplib.recv_messages(sock, 1)[0])
        return out

    def cmd(self, sock, text):
        return reply_text(self.exchange(sock, raplib.enc_cmd(text))[0])

    def open_pid(self, sock, prog, perm=5):
        """OPENs dbg://prog (perm 5, r-x, as r2 does; 7 as r2 -w) and returns the process id
        (from dp)."""
        r = self.exchange(sock, raplib.enc_open(perm, "dbg://" + prog))[0]
        fd = struct.unpack(">i", r.raw[1:5])[0]
        self.assertGreaterEqual(fd, 3)
        m = re.search(r" \* (\d+) ppid:", self.cmd(sock, "dp"))
        self.assertIsNotNone(m)
        return int(m.group(1))

    def test_stock_client_stream(self):
        # What 'r2 -n rap://HOST:PORT/dbg:///path/prog' sends (OPEN, the empty CMD of its io
        # init, SEEKs), then ':dr rip', 'p8 4 @ obj.counter' (SEEK, READ), ':db', ':dc'...
        counter, add = self.syms["counter"], self.syms["add"]
        with self.server() as srv:
            s = srv.connect()
            r = self.exchange(s, raplib.enc_open(5, "dbg://" + HELLO), raplib.enc_cmd(""),
                              raplib.enc_seek(1, 0), raplib.enc_seek(2, 0), raplib.enc_seek(0, 0))
            self.assertEqual(r[0].raw[0], 0x81)
            self.assertGreaterEqual(struct.unpack(">i", r[0].raw[1:5])[0], 3)
            self.assertEqual(r[1].raw, b"\x87\x00\x00\x00\x01\x00")
            self.assertEqual(r[3].raw, b"\x84" + b"\xff" * 8)  # a process has no end: UT64_MAX
            rip = self.cmd(s, "dr rip")
            # the loader's entry, mapped high: in the upper half of user space, wherever this
            # kernel's layout put it (0x7e... as well as 0x7f...)
            self.assertRegex(rip, r"^0x[0-9a-f]+\n$")
            self.assertTrue(0x100000000 <= int(rip, 16) < 0x800000000000, rip)
            r = self.exchange(s, raplib.enc_seek(0, counter), raplib.enc_read(4))
            self.assertEqual(r[1].raw, b"\x82\x00\x00\x00\x04" + bytes.fromhex("34120000"))
            # without --write the process's memory is not written (WRITE answers 0)
            r = self.exchange(s, raplib.enc_write(b"\x99"), raplib.enc_read(4))
            self.assertEqual(r[0].raw, b"\x83\x00\x00\x00\x00")
            self.assertEqual(r[1].raw, b"\x82\x00\x00\x00\x04" + bytes.fromhex("34120000"))
            # unmapped memory: a short (here empty) READ reply, which radare2 shows as 0xff
            r = self.exchange(s, raplib.enc_seek(0, 0), raplib.enc_read(4))
            self.assertEqual(r[1].raw, b"\x82\x00\x00\x00\x00")
            self.assertEqual(self.cmd(s, "p8 4 @ 0"), "ffffffff\n")
            self.assertEqual(self.cmd(s, "ds"), "")
            self.assertNotEqual(self.cmd(s, "dr rip"), rip)
            # the maps, from /proc, which the sandbox opens to rapsrv only with dbg
            self.assertRegex(self.cmd(s, "dm"), r"(?m)^0x0000000000401000 - 0x0000000000402000 - usr +4K s r-x /")
            self.assertEqual(self.cmd(s, "db 0x%x" % add), "")
            self.assertEqual(self.cmd(s, "dc"), "")
            self.assertEqual(self.cmd(s, "dr rip"), "0x%08x\n" % add)
            self.assertEqual(self.cmd(s, "db-*"), "")
            pid = int(re.search(r" \* (\d+) ", self.cmd(s, "dp")).group(1))
            self.assertEqual(self.cmd(s, "dc"), "(%d) Process exited with status=0x0\n" % pid)
            s.close()
            # The program's output went to the server's log, never into the RAP stream.
            self.assertTrue(srv.wait_log(r"(?m)^4663$"))

    def test_scheme_must_be_allowed(self):
        with raplib.Rapsrv(ROOT, "--cmd", "write") as srv:
            s = srv.connect()
            r = self.exchange(s, raplib.enc_open(5, "dbg://" + HELLO))[0]
            self.assertEqual(r.raw, b"\x81\xff\xff\xff\xff")
            self.assertIn("not a dbg:// file", self.cmd(s, "dr rip"))
            s.close()

    def test_command_level(self):
        # Debugger commands are write-class: the default --cmd read refuses them.
        with raplib.Rapsrv(ROOT, "--allow-scheme", "file,dbg") as srv:
            s = srv.connect()
            self.exchange(s, raplib.enc_open(5, "dbg://" + HELLO))
            self.assertIn("refused by the server's command policy", self.cmd(s, "dr rip"))
            self.assertIn("Usage: ds  Step commands", self.cmd(s, "ds?"))
            s.close()

    def test_root(self):
        with self.server() as srv:
            s = srv.connect()
            for path in ("/bin/true", "../debuggee/dbg_hello", ROOT + "/../debuggee/dbg_hello",
                         ROOT + "/nonexistent"):
                r = self.exchange(s, raplib.enc_open(5, "dbg://" + path))[0]
                self.assertEqual(r.raw, b"\x81\xff\xff\xff\xff", path)
            # relative to the root works
            r = self.exchange(s, raplib.enc_open(5, "dbg://dbg_hello"))[0]
            self.assertGreaterEqual(struct.unpack(">i", r.raw[1:5])[0], 3)
            s.close()

    def test_max_processes(self):
        with self.server("--max-processes", "1") as srv:
            s = srv.connect()
            pid = self.open_pid(s, SPIN)
            r = self.exchange(s, raplib.enc_open(5, "dbg://" + SPIN))[0]
            self.assertEqual(r.raw, b"\x81\xff\xff\xff\xff")
            self.assertTrue(srv.wait_log(r"OPEN '[^']*dbg_spin' \(perm 5\) failed"))
            s.close()
            self.assertTrue(gone_within(pid))
        self.assertNotEqual(subprocess.run([*raplib.RAPSRV_CMD, "--max-processes", "0", "-t"],
                                           capture_output=True).returncode, 0)

    def test_client_vanishes_while_stopped(self):
        with self.server() as srv:
            s = srv.connect()
            pid = self.open_pid(s, SPIN)
            self.assertTrue(alive(pid))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST
            self.assertTrue(gone_within(pid))
            self.assertTrue(srv.alive())

    def test_client_vanishes_while_running(self):
        with self.server() as srv:
            s = srv.connect()
            pid = self.open_pid(s, SPIN)
            s.sendall(raplib.enc_cmd("dc"))  # never answered: the program spins
            self.assertTrue(srv.wait_log(r"command started"))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            self.assertTrue(gone_within(pid))
            # and the server serves on
            s2 = srv.connect()
            self.assertEqual(self.cmd(s2, "?e ok"), "ok\n")
            s2.close()

    def test_sigterm_ends_every_process(self):
        srv = self.server()
        try:
            s1, s2 = srv.connect(), srv.connect()
            stopped = self.open_pid(s1, SPIN)
            running = self.open_pid(s2, SPIN)
            s2.sendall(raplib.enc_cmd("dc"))
            self.assertTrue(srv.wait_log(r"command started"))
            srv.proc.send_signal(signal.SIGTERM)
            srv.proc.wait(timeout=raplib.DEADLINE)
            self.assertTrue(gone_within(stopped))
            self.assertTrue(gone_within(running))
            s1.close()
            s2.close()
        finally:
            srv.stop()

    def test_attach(self):
        # dbg://PID: refused inside the sandbox (Landlock allows tracing only processes of
        # its own domain); with --no-sandbox attached, inspected, and left running on close.
        spin = subprocess.Popen([SPIN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + raplib.DEADLINE
            while time.monotonic() < end and "dbg_spin" not in open("/proc/%d/stat" % spin.pid).read():
                time.sleep(0.01)
            with self.server() as srv:
                s = srv.connect()
                r = self.exchange(s, raplib.enc_open(5, "dbg://%d" % spin.pid))[0]
                self.assertEqual(r.raw, b"\x81\xff\xff\xff\xff")
                s.close()
            with self.server("--no-sandbox") as srv:
                s = srv.connect()
                r = self.exchange(s, raplib.enc_open(5, "dbg://%d" % spin.pid))[0]
                self.assertGreaterEqual(struct.unpack(">i", r.raw[1:5])[0], 3)
                self.assertRegex(self.cmd(s, "dr rip"), r"^0x[0-9a-f]{8,}\n$")
                self.assertIn(" * %d ppid:%d " % (spin.pid, os.getpid()), self.cmd(s, "dp"))
                s.close()
                self.assertTrue(srv.wait_log(r"closed"))
            # detached, not killed: it still runs (not stopped, not traced)
            end = time.monotonic() + raplib.DEADLINE
            state = ""
            while time.monotonic() < end:
                with open("/proc/%d/status" % spin.pid) as f:
                    status = f.read()
                state = re.search(r"State:\s+(\S)", status).group(1)
                if state == "R" and re.search(r"TracerPid:\s+0\n", status):
                    break
                time.sleep(0.01)
            self.assertEqual(state, "R")
            self.assertIsNone(spin.poll())
        finally:
            spin.kill()
            spin.wait(timeout=raplib.DEADLINE)

    def test_write(self):
        # with --write, WRITE changes the live process (p8 over RAP shows it)
        with self.server("-w") as srv:
            s = srv.connect()
            self.open_pid(s, HELLO, perm=7)
            r = self.exchange(s, raplib.enc_seek(0, self.syms["counter"]), raplib.enc_write(b"\x99"))
            self.assertEqual(r[1].raw, b"\x83\x00\x00\x00\x01")
            self.assertEqual(self.cmd(s, "p8 4 @ 0x%x" % self.syms["counter"]), "99120000\n")
            self.assertIn("Process exited with status=0x0", self.cmd(s, "dc"))
            s.close()
            self.assertTrue(srv.wait_log(r"(?m)^4764$"))  # 0x1299 + 0 + 1 + 2

    def test_dbg_output_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.txt")
            with self.server("--dbg-output", out) as srv:
                s = srv.connect()
                self.open_pid(s, HELLO)
                self.assertIn("Process exited with status=0x0", self.cmd(s, "dc"))
                s.close()
            with open(out) as f:
                self.assertEqual(f.read(), "4663\n")

    def test_rapcli_walkthrough(self):
        with self.server() as srv:
            script = ("=+ %s/dbg://%s\n==0\ndr rip\nds\npi 1\nq\n" % (srv.uri, HELLO)).encode()
            r = raplib.run_rapcli(["-q"], stdin=script)
            lines = r.stdout.decode().splitlines()
            # dr rip: the loader's entry, wherever this kernel (and a sanitizer's address
            # space layout) put it: an address in the upper half of user space
            self.assertRegex(lines[0], r"^0x[0-9a-f]+$")
            entry = int(lines[0], 16)
            self.assertTrue(0x100000000 <= entry < 0x800000000000, lines[0])
            if not HAVE_CAPSTONE:
                # pi 1 needs the disassembler: the server's answer says so (a remote
                # command's text, errors included, comes back as its output) and rapcli
                # exits 1, as for any command that failed on the server
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(lines[1:], ["error: disassembly is not in this build (rap was built "
                                             "without Capstone)"])
                return
            self.assertEqual(r.returncode, 0, r.stderr)
            # ds steps over the entry's first instruction (mov rdi, rsp), and pi 1 shows the
            # next one, where the position followed the PC: a call into the loader
            m = re.match(r"^call (0x[0-9a-f]+)$", lines[1])
            self.assertIsNotNone(m, lines[1])
            self.assertLess(abs(int(m.group(1), 16) - entry), 1 << 24, lines[1])
            self.assertEqual(len(lines), 2)

    def test_rapcli_killed(self):
        # rapcli -d killed outright (no chance to clean up): its program dies with it
        # (PR_SET_PDEATHSIG on the tracer thread, PTRACE_O_EXITKILL).
        proc = subprocess.Popen([raplib.RAPCLI, "-q", "-c", "dc", "-d", SPIN],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            child = None
            end = time.monotonic() + raplib.DEADLINE
            while child is None and time.monotonic() < end:
                try:
                    for tid in os.listdir("/proc/%d/task" % proc.pid):
                        with open("/proc/%d/task/%s/children" % (proc.pid, tid)) as f:
                            kids = f.read().split()
                        if kids:
                            child = int(kids[0])
                except OSError:
                    pass
                time.sleep(0.01)
            self.assertIsNotNone(child)
            self.assertTrue(alive(child))
        finally:
            proc.kill()
            proc.wait(timeout=raplib.DEADLINE)
        self.assertTrue(gone_within(child))

    def test_rapcli_local(self):
        a = self.syms["add"]
        r = raplib.run_rapcli(["-q", "-c", "db 0x%x" % a, "-c", "dc", "-c", "dr rip", "-c", "dr rdi",
                               "-c", "p8 4 @ 0x%x" % self.syms["counter"], "-c", "db-*", "-c", "dc",
                               "-d", HELLO, "x", "y"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertTrue(out.startswith("0x%08x\n0x00001234\n34120000\n4663\n(" % a), out)
        self.assertRegex(out, r"\(\d+\) Process exited with status=0x0\n$")
        # -d needs a program; a missing one cannot be opened (66)
        self.assertEqual(raplib.run_rapcli(["-d"]).returncode, 64)
        r = raplib.run_rapcli(["-c", "q", "-d", "/nonexistent/prog"])
        self.assertEqual(r.returncode, 66)
        self.assertIn(b"No such file", r.stderr)
        # -L lists the plugin as a debugger
        self.assertIn("rwd  dbg      Attach to native debugger instance. dbg://",
                      raplib.run_rapcli(["-L"]).stdout.decode().splitlines())


if __name__ == "__main__":
    unittest.main()
