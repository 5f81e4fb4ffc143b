"""Disassembly end to end: rapcli with radare2's own command lines (-q -n -e -a -b -c) on the
files of test/vectors/r2/disasm.txt, byte for byte; '-' as a scratch buffer; an executable's
header choosing the architecture; pd/pi/pD everywhere the command language runs: on rap://
files, in '==N' sessions and '=N cmd' against a real rapsrv, through ':cmd', as a stock
client's CMD packet (answered as radare2's server answered in cmd.txt), under --cmd read and
none, and through '=t' and '=h' servers. Without Capstone, the commands must say so.

Every wait is bounded; every port is chosen by the OS; every address is loopback."""

import os
import re
import shutil
import signal
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from raplib import CMD, OPEN, enc_cmd, enc_open  # noqa: E402

HAVE_CAPSTONE = raplib._build_fact("RAP_HAVE_CAPSTONE")
NO_CAPSTONE = "built without Capstone (no disassembler)"
VECTORS = raplib.INTEROP


def run(args, stdin=None):
    r = raplib.run_rapcli(args, stdin=stdin)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def r2_runs():
    """Each '$ r2 ...' of disasm.txt: (its argument words, the output radare2 printed)."""
    with open(os.path.join(VECTORS, "disasm.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    runs = []
    for k, line in enumerate(lines):
        if not line.startswith("$ r2 "):
            continue
        words = line[5:].split(" ")
        args, i = [], 0
        while i < len(words) - 1:
            w = words[i]
            if w == "-c":
                cmd = []
                i += 1
                while i < len(words) - 1 and words[i] not in ("-c", "-e", "-a", "-b", "-q", "-n"):
                    cmd.append(words[i])
                    i += 1
                args += ["-c", " ".join(cmd)]
                continue
            args.append(w)
            i += 1
        args.append(os.path.join(VECTORS, words[-1]))
        out = []
        for l2 in lines[k + 1:]:
            if not l2:
                break
            out.append(l2 + "\n")
        runs.append((args, "".join(out)))
    return runs


@unittest.skipUnless(HAVE_CAPSTONE, NO_CAPSTONE)
class Local(unittest.TestCase):
    def test_radare2_command_lines(self):
        # rapcli takes radare2's options: the same command line, the same output
        runs = r2_runs()
        self.assertEqual(len(runs), 17)
        for args, want in runs:
            rc, out, err = run(args)
            self.assertEqual((rc, err), (0, ""), args)
            self.assertEqual(out, want, args)

    def test_scratch_buffer(self):
        rc, out, err = run(["-a", "x86", "-b", "64", "-"], stdin=b"wx 4889e5c3\npi 1\n")
        self.assertEqual((rc, out, err), (0, "mov rbp, rsp\n", ""))
        # 512 writable bytes, zero-filled, like r2 -
        rc, out, err = run(["-c", "i~size", "-c", "wx 0c2a @ 0x1fe", "-c", "p8 2 @ 0x1fe", "-c", "pi 1 @ 0x1fe",
                            "-e", "asm.arch=arm", "-b", "16", "-"])
        self.assertEqual((rc, out, err), (0, "size     0x200\n0c2a\ncmp r2, 0xc\n", ""))

    def test_header_chooses(self):
        hello = os.path.join(VECTORS, "hello")
        rc, out, err = run(["-c", "e asm.arch", "-c", "e asm.bits", "-c", "i~entry", "-c", "pi 2 @ 0x1040", hello])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "x86\n64\nentry    vaddr=0x00401040 paddr=0x00001040\nxor ebp, ebp\nmov r9, rdx\n")
        # what -a, -b and -e set, the header leaves
        rc, out, err = run(["-b", "32", "-e", "asm.lines=false", "-c", "e asm.bits", "-c", "pd 2 @ 0x1126", hello])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "32\n0x00001126      55             push ebp\n0x00001127      48             dec eax\n")

    def test_bin_ls(self):
        # the example: pi 10 at the entry of the system's ls is what r2 -n -a x86 -b 64
        # prints, when ls is an x86-64 ELF
        ls = shutil.which("ls")
        if not ls:
            self.skipTest("no ls")
        rc, info, err = run(["-c", "i", ls])
        self.assertEqual(rc, 0, err)
        if "arch     x86" not in info or "bits     64" not in info:
            self.skipTest("ls is not x86-64 here")
        entry = re.search(r"^entry    vaddr=\S+ paddr=(0x[0-9a-f]+)$", info, re.M)
        self.assertIsNotNone(entry, info)
        rc, auto, err = run(["-c", "pi 10 @ " + entry.group(1), ls])
        self.assertEqual(rc, 0, err)
        rc, forced, err = run(["-n", "-a", "x86", "-b", "64", "-c", "pi 10 @ " + entry.group(1), ls])
        self.assertEqual(rc, 0, err)
        self.assertEqual(auto, forced)
        self.assertEqual(len(auto.splitlines()), 10)

    def test_option_errors(self):
        for args, msg in ((["-b", "8"], "invalid value '8' for 'asm.bits'"),
                          (["-a", "z80"], "invalid value 'z80' for 'asm.arch'"),
                          (["-a", "mips", "-b", "16"], "invalid value '16' for 'asm.bits'"),
                          (["-e", "no.such=1"], "unknown variable 'no.such'"),
                          (["-e", "asm.bits"], "-e needs KEY=VALUE"),
                          (["-e", "=1"], "-e needs KEY=VALUE")):
            rc, out, err = run(args + ["-c", "?e x", "-"])
            self.assertEqual((rc, out), (64, ""), args)
            self.assertIn(msg, err, args)
        rc, out, err = run(["-c", "?e x", "-a"])
        self.assertEqual((rc, out), (64, ""))
        self.assertIn("option '-a' needs an argument", err)
        # -n is accepted and changes nothing
        rc, out, err = run(["-n", "-q", "-c", "?e ok", "-"])
        self.assertEqual((rc, out), (0, "ok\n"), err)

    def test_filters_and_redirection(self):
        hello = os.path.join(VECTORS, "hello")
        rc, out, err = run(["-c", "pi 12 @ 0x1126~rbp", hello])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "push rbp\nmov rbp, rsp\nmov dword [rbp - 4], edi\nmov dword [rbp - 8], esi\n"
                              "mov edx, dword [rbp - 4]\nmov eax, dword [rbp - 8]\npop rbp\npush rbp\nmov rbp, rsp\n")
        root = raplib.TempRoot()
        try:
            target = os.path.join(root.path, "out.txt")
            rc, out, err = run(["-c", "pd 1 @ 0x1126 > " + target, hello])
            self.assertEqual((rc, out), (0, ""), err)
            self.assertEqual(root.read("out.txt"), b"            0x00001126      55             push rbp\n")
        finally:
            root.cleanup()


@unittest.skipUnless(HAVE_CAPSTONE, NO_CAPSTONE)
class Remote(unittest.TestCase):
    """A real rapsrv serving hello and the transcripts' sample.bin."""

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        with open(os.path.join(VECTORS, "hello"), "rb") as f:
            cls.hello = cls.root.write("hello", f.read())
        cls.srv = raplib.Rapsrv(cls.root.path)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.root.cleanup()

    def local(self, cmd):
        rc, out, err = run(["-c", cmd, self.hello])
        self.assertEqual(rc, 0, err)
        return out

    def uri(self, rel="hello"):
        return "%s/%s" % (self.srv.uri, os.path.join(self.root.path, rel))

    def test_walkthrough(self):
        # the seed: a remote host, a session on it, pi 1 there, back with q
        stdin = "=+ %s\n==0\npi 1\npi 1 @ 0x1126\nq\npi 1 @ 0x1127\n" % self.uri()
        rc, out, err = run([self.hello], stdin=stdin.encode())
        self.assertEqual(rc, 0, err)
        # the server's session follows the ELF header too: x86-64
        self.assertEqual(out, self.local("pi 1") + "push rbp\nmov rbp, rsp\n")

    def test_eq_n_command(self):
        rc, out, err = run(["-c", "=+ " + self.uri(), "-c", "=0 pd 3 @ 0x1126", "-c", "=0 pD 4 @ 0x1126"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, self.local("pd 3 @ 0x1126") + self.local("pD 4 @ 0x1126"))

    def test_rap_file(self):
        # rapcli on a rap:// file disassembles here, reading the bytes from the server
        for cmd in ("pd 12 @ 0x1126", "pi -3 @ 0x112d", "pD 9 @ 0x1126", "i~entry"):
            rc, out, err = run(["-c", cmd, self.uri()])
            self.assertEqual(rc, 0, (cmd, err))
            self.assertEqual(out, self.local(cmd), cmd)
        # ":cmd" runs it there
        rc, out, err = run(["-c", ":pi 2 @ 0x1126", self.uri()])
        self.assertEqual((rc, out), (0, "push rbp\nmov rbp, rsp\n"), err)

    def test_stock_client_cmd(self):
        # a stock client's CMD packets: radare2's own server answered "pd 1" on sample.bin
        # with these bytes (cmd.txt); rapsrv must answer the same
        t = raplib.Transcript("cmd.txt")
        sent = raplib.split_messages(t.client(), False)[0]
        answers = raplib.split_messages(t.server(), True)[0]
        asked = [m for m in sent if m.op == CMD]
        replies = [m for m in answers if m.op == (CMD | raplib.REPLY)]
        k = [i for i, m in enumerate(asked) if m.raw[5:] == b"pd 1\x00"][0]
        want = replies[k].raw
        s = self.srv.connect()
        try:
            s.sendall(enc_open(5, os.path.join(self.root.path, "sample.bin")))
            self.assertEqual(raplib.recv_messages(s, 1)[0].op, OPEN | raplib.REPLY)
            s.sendall(enc_cmd("pd 1"))
            got = raplib.recv_messages(s, 1)[0]
            self.assertEqual(got.raw, want)
        finally:
            s.close()

    def test_policies(self):
        # read-class commands: a server under --cmd read runs them, one under none refuses
        with raplib.Rapsrv(self.root.path, "--cmd", "none") as srv:
            u = "%s/%s" % (srv.uri, self.hello)
            rc, out, err = run(["-c", ":pi 1 @ 0x1126", u])
            self.assertEqual(rc, 1)
            self.assertIn("refused by the server's command policy (none)", out + err)
        with raplib.Rapsrv(self.root.path, "--cmd", "read") as srv:
            u = "%s/%s" % (srv.uri, self.hello)
            rc, out, err = run(["-c", ":pi 1 @ 0x1126", u])
            self.assertEqual((rc, out), (0, "push rbp\n"), err)


@unittest.skipUnless(HAVE_CAPSTONE, NO_CAPSTONE)
class Servers(unittest.TestCase):
    """'=t&' and '=h&' servers of a rapcli: their clients' pd runs there, text comes back."""

    def serve(self, line, scheme):
        p = subprocess.Popen([raplib.RAPCLI, "-c", line, os.path.join(VECTORS, "hello")],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.stop, p)
        buf = b""
        pattern = re.compile((r"listening on %s://127\.0\.0\.1:(\d+)" % scheme).encode())
        while not pattern.search(buf):
            r = raplib.select.select([p.stdout], [], [], raplib.DEADLINE)[0]
            chunk = os.read(p.stdout.fileno(), 4096) if r else b""
            if not chunk:
                self.fail("no listening line: %r" % buf)
            buf += chunk
        return int(pattern.search(buf).group(1))

    @staticmethod
    def stop(p):
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=raplib.DEADLINE)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        p.stdout.close()
        p.stderr.close()

    def test_tcp_server(self):
        port = self.serve("=t& 0", "tcp")
        rc, out, err = run(["-c", "=t %d pi 2 @ 0x1126" % port])
        self.assertEqual((rc, out), (0, "push rbp\nmov rbp, rsp\n"), err)

    def test_http_server(self):
        port = self.serve("=h& 0", "http")
        url = "http://127.0.0.1:%d/cmd/%s" % (port, urllib.request.quote("pd 1 @ 0x1126"))
        with urllib.request.urlopen(url, timeout=raplib.DEADLINE) as r:
            self.assertEqual(r.read().decode(), "            0x00001126      55             push rbp\n")


@unittest.skipIf(HAVE_CAPSTONE, "built with Capstone (this tests the build without it)")
class WithoutCapstone(unittest.TestCase):
    def test_says_so(self):
        for cmd in ("pd 1", "pi 1", "pD 4"):
            rc, out, err = run(["-c", cmd, "-"])
            self.assertEqual((rc, out), (1, ""), cmd)
            self.assertIn("disassembly is not in this build (rap was built without Capstone)", err)
        # the variables are there all the same, and an executable's header still sets them
        rc, out, err = run(["-a", "arm", "-b", "16", "-c", "e asm.arch", "-c", "e asm.bits", "-"])
        self.assertEqual((rc, out), (0, "arm\n16\n"), err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
