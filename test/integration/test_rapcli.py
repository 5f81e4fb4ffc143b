"""rapcli end to end: against a real rapsrv (IPv4 and IPv6), against a server that answers
exactly as stock radare2's does (built from the transcripts), and on local files, with the
output compared to what radare2 printed in the transcripts."""

import os
import re
import socket
import struct
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from raplib import OPEN, READ, WRITE, SEEK, CLOSE, CMD, REPLY  # noqa: E402


def r2_stdout(name):
    """radare2's stdout in a transcript, without the two empty lines its rap io init prints."""
    text = raplib.Transcript(name).section("client stdout")
    return text[2:] if text.startswith("\n\n") else text


class StockServer:
    """Answers like radare2 6.2's rap server (see test/vectors/r2/README.txt): one client,
    READ padded with 0xff past the end, WRITE answers 1, unknown whence acts as CUR, failed
    OPEN hangs up, CMD runs a tiny table of commands. Records every request it decodes."""

    def __init__(self, data, commands=None):
        self.data = bytearray(data)
        self.commands = commands or {}
        self.requests = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(raplib.DEADLINE)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.settimeout(raplib.DEADLINE)
        pos = 0
        opened = False
        buf = b""
        with conn:
            while True:
                msgs, buf = raplib.split_messages(buf, False)
                for m in msgs:
                    self.requests.append(m)
                    if m.op == OPEN:
                        if m.path.rstrip(b"\0") != b"sample.bin" and not m.path.endswith(b"/sample.bin\0"):
                            return  # stock: no reply, hang up
                        opened = True
                        conn.sendall(b"\x81" + struct.pack(">i", 4))
                    elif m.op == SEEK:
                        if m.whence == 0:
                            pos = m.offset
                            conn.sendall(b"\x84" + struct.pack(">Q", pos))
                        elif m.whence == 2:
                            conn.sendall(b"\x84" + struct.pack(">Q", len(self.data) if opened else 0))
                        else:
                            conn.sendall(b"\x84" + struct.pack(">Q", pos))
                    elif m.op == READ:
                        n = min(m.value, 4096)
                        chunk = bytes(self.data[pos:pos + n])
                        chunk += b"\xff" * (n - len(chunk))
                        conn.sendall(b"\x82" + struct.pack(">I", n) + chunk)
                    elif m.op == WRITE:
                        self.data[pos:pos + m.length] = m.payload
                        conn.sendall(b"\x83" + struct.pack(">I", 1))
                    elif m.op == CLOSE:
                        conn.sendall(b"\x85" + struct.pack(">i", 0))
                    elif m.op == CMD:
                        cmd = m.payload.rstrip(b"\0").decode()
                        out = self.commands.get(cmd, "").encode() + b"\0"
                        conn.sendall(b"\x87" + struct.pack(">I", len(out)) + out)
                    else:
                        return
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk

    @property
    def uri(self):
        return "rap://127.0.0.1:%d" % self.port

    def close(self):
        self.sock.close()
        self.thread.join(raplib.DEADLINE)


class RapcliAgainstRapsrv(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.srv = raplib.Rapsrv(cls.root.path, "-w")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.root.cleanup()

    def uri(self, name="sample.bin"):
        return "%s/%s" % (self.srv.uri, os.path.join(self.root.path, name))

    def test_px_like_radare2(self):
        r = raplib.run_rapcli(["-c", "px 32", self.uri()])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), r2_stdout("open-ro-n.txt"))

    def test_seek_and_read_past_end_like_radare2(self):
        r = raplib.run_rapcli(["-c", "s 0x100", "-c", "px 16", "-c", "s+ 0x10", "-c", "px 16",
                               "-c", "s 0x1fff8", "-c", "px 16", "-c", "s 0x30000", "-c", "px 4", self.uri()])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), r2_stdout("seek.txt"))

    def test_refused_open_exits_66(self):
        # rapsrv refuses and keeps the connection: reached, but cannot open (66). With the
        # extension (XOPEN) it says why.
        for name, why in (("missing.bin", b"No such file or directory"), ("/etc/passwd", b"refused by policy")):
            r = raplib.run_rapcli(["-c", "px 16", "%s/%s" % (self.srv.uri, name)])
            self.assertEqual(r.returncode, 66, r.stderr)
            self.assertIn(b"rapcli: cannot open '%s/%s': server: cannot open '%s': " % (
                self.srv.uri.encode(), name.encode(), name.encode()) + why, r.stderr)

    def test_write_with_w(self):
        self.root.write("sample-rw.bin", raplib.sample_bytes())
        r = raplib.run_rapcli(["-w", "-c", "wx 41424344", "-c", "px 8", self.uri("sample-rw.bin")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), r2_stdout("write.txt"))
        self.assertEqual(self.root.read("sample-rw.bin")[:8], b"ABCD0000")
        self.root.write("sample-rw.bin", raplib.sample_bytes())

    def test_write_without_w_fails(self):
        r = raplib.run_rapcli(["-c", "wx 41424344", self.uri("sample-rw.bin")])
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr)
        self.assertEqual(self.root.read("sample-rw.bin")[:4], b"@000")

    def test_write_to_read_only_server_says_so(self):
        with raplib.Rapsrv(self.root.path) as ro:
            uri = "%s/%s" % (ro.uri, os.path.join(self.root.path, "sample-rw.bin"))
            for cmd in ("wx 41424344", "w ABCD"):
                r = raplib.run_rapcli(["-w", "-c", cmd, uri])
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stderr, b"error: cannot write at 0x00000000: the server is read-only (rapsrv --write)\n")
        self.assertEqual(self.root.read("sample-rw.bin")[:4], b"@000")

    def test_remote_commands(self):
        r = raplib.run_rapcli(["-c", "=!?V", "-c", ":?e hello", "-c", "=!px 16 @ 0x20", self.uri()])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertTrue(out.startswith("rap "), out)
        self.assertIn("hello\n", out)
        self.assertIn("0x00000020  4030 3030 3030 3032 307c 7261 7032 210a  @00000020|rap2!.", out)

    def test_commands_failing_on_the_server_exit_1(self):
        # Refused by the server's policy (read-only commands), a bad address there, and a
        # command the server does not know: each fails rapcli, as a local failure does,
        # with the server's reason in the output; later commands still run.
        for cmd in (":wx 41", ":px 16 @ nowhere", ":nosuchcommand", "=!wx 41"):
            r = raplib.run_rapcli(["-c", cmd, "-c", "p8 2", self.uri()])
            self.assertEqual(r.returncode, 1, (cmd, r.stdout, r.stderr))
            self.assertRegex(r.stdout.decode(), r"^error: .*\n4030\n$", cmd)
        self.assertEqual(self.root.read("sample.bin")[:1], b"@")
        # The same through the '=' family: a host's command and a one-shot.
        host = "rap://127.0.0.1:%d" % self.srv.port
        for args in (["-c", "=+ " + host, "-c", "=0 nosuchcommand"],
                     ["-c", "=:127.0.0.1:%d nosuchcommand" % self.srv.port]):
            r = raplib.run_rapcli(args)
            self.assertEqual(r.returncode, 1, (args, r.stdout, r.stderr))
            self.assertIn(b"unknown command 'nosuchcommand'", r.stdout)
        # What succeeds there succeeds here.
        r = raplib.run_rapcli(["-c", ":p8 2", "-c", "=!?e fine", self.uri()])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"4030\nfine\n")

    def test_command_only_session(self):
        r = raplib.run_rapcli(["-c", "=!?e only-commands", self.srv.uri + "/"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("only-commands", r.stdout.decode())

    def test_commands_from_stdin_and_script(self):
        r = raplib.run_rapcli([self.uri()], stdin=b"s 0x1230\np8 16\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "4030303030313233307c72617032210a\n")
        script = os.path.join(self.root.path, "script.r2")
        with open(script, "w") as f:
            f.write("# a comment\ns 0x10\n\np8 4\n")
        r = raplib.run_rapcli(["-i", script, self.uri()])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "40303030\n")

    def test_ipv6(self):
        if not socket.has_ipv6:
            return
        try:
            srv6 = raplib.Rapsrv(self.root.path, host="::1")
        except RuntimeError:
            return  # no IPv6 loopback on this machine
        with srv6:
            r = raplib.run_rapcli(["-c", "p8 4 @ 0x10", "%s/%s" % (srv6.uri, os.path.join(self.root.path, "sample.bin"))])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode(), "40303030\n")


class RapcliAgainstStockServer(unittest.TestCase):

    def test_read_write_seek_cmd(self):
        srv = StockServer(raplib.sample_bytes(), {"?V": "radare2 6.2.1 +0 abi:137 @ linux-x86_64\n"})
        try:
            r = raplib.run_rapcli(["-w", "-c", "px 32", "-c", "s 0x1fff8", "-c", "px 16", "-c", "s 0",
                                   "-c", "wx 41424344", "-c", "px 8", "-c", "=!?V",
                                   srv.uri + "//data/files/sample.bin"])
        finally:
            srv.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertTrue(out.startswith(r2_stdout("open-ro-n.txt")), out)
        self.assertIn("0x0001fff8  307c 7261 7032 210a ffff ffff ffff ffff  0|rap2!.........", out)
        self.assertIn(r2_stdout("write.txt"), out)
        self.assertIn("radare2 6.2.1", out)
        self.assertEqual(bytes(srv.data[:4]), b"ABCD")
        # Only stock opcodes reach a stock server; the first OPEN carries r2's default perms.
        opens = [m for m in srv.requests if m.op == OPEN]
        self.assertEqual(opens[0].perm, 7)
        self.assertTrue(all(1 <= m.op <= 7 for m in srv.requests))

    def test_stock_server_reports_no_command_status(self):
        # A stock server answers an unknown command with its text and no status: only
        # local failures count against it.
        srv = StockServer(raplib.sample_bytes(), {"nosuchcommand": "unknown\n"})
        try:
            r = raplib.run_rapcli(["-c", ":nosuchcommand", srv.uri + "//data/files/sample.bin"])
        finally:
            srv.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"unknown\n")

    def test_failed_open_reports_error(self):
        srv = StockServer(raplib.sample_bytes())
        try:
            r = raplib.run_rapcli(["-c", "px 16", srv.uri + "//nonexistent"])
        finally:
            srv.close()
        # This stock server drops the connection when an open fails.
        self.assertEqual(r.returncode, 69)
        self.assertIn(b"cannot open", r.stderr)


class RapcliLocal(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.sample = os.path.join(cls.root.path, "sample.bin")

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()

    def px(self, *cmds):
        args = []
        for c in cmds:
            args += ["-c", c]
        r = raplib.run_rapcli(args + [self.sample])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode()

    def test_outputs_match_radare2(self):
        self.assertEqual(self.px("px 32"), r2_stdout("open-ro-n.txt"))
        self.assertEqual(self.px("s 0x100", "px 16", "s+ 0x10", "px 16", "s 0x1fff8", "px 16", "s 0x30000", "px 4"),
                         r2_stdout("seek.txt"))
        # eq-commands.txt: curl .../cmd/p8%204%20@%200x10 answered "40303030".
        self.assertEqual(self.px("p8 4 @ 0x10"), "40303030\n")

    def test_small_ops_pattern(self):
        # radare2's five 'p8 16 @ X' lines; each X is where those bytes sit in the sample.
        data = raplib.sample_bytes()
        for line in r2_stdout("small-ops-pattern.txt").split():
            want = bytes.fromhex(line)
            addr = data.find(want)
            self.assertGreaterEqual(addr, 0)
            self.assertEqual(self.px("p8 16 @ %d" % addr), line + "\n")

    def test_px_sizes_and_positions_are_consistent(self):
        data = raplib.sample_bytes()
        for addr in (0, 1, 7, 15, 16, 0x1fff0, 0x1ffff, 0x20000, 0x20005):
            for n in (1, 15, 16, 17, 31, 33, 100):
                out = self.px("px %d @ %d" % (n, addr))
                rows = out.split("\n")[1:-1]
                self.assertEqual(len(rows), (n + 15) // 16, (addr, n))
                got = b"".join(bytes.fromhex(r[12:12 + 40].replace(" ", "")) for r in rows)
                want = data[addr:addr + n]
                want += b"\xff" * (n - len(want))
                self.assertEqual(got, want, (addr, n))
                self.assertTrue(rows[0].startswith("0x%08x  " % addr), rows[0])

    def test_errors_and_exit_status(self):
        r = raplib.run_rapcli(["-c", "nosuchcommand", "-c", "p8 2", self.sample])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"nosuchcommand", r.stderr)
        self.assertEqual(r.stdout, b"4030\n")  # the later command still ran
        r = raplib.run_rapcli(["-c", "px", os.path.join(self.root.path, "missing")])
        self.assertEqual(r.returncode, 66)
        r = raplib.run_rapcli(["-c", "px", "rap://127.0.0.1:1//x"])
        self.assertEqual(r.returncode, 69)
        r = raplib.run_rapcli(["--bogus"])
        self.assertEqual(r.returncode, 64)
        # Option errors name the program, not the path it was started by.
        for args, msg in ((["--bogus"], b"rapcli: unknown option '--bogus'\n"),
                          (["-x"], b"rapcli: unknown option '-x'\n"),
                          (["-c"], b"rapcli: option '-c' needs an argument\n"),
                          (["-qc"], b"rapcli: option '-c' needs an argument\n"),
                          (["--tls-ca"], b"rapcli: option '--tls-ca' needs an argument\n")):
            r = raplib.run_rapcli(args)
            self.assertEqual(r.returncode, 64, args)
            self.assertEqual(r.stderr, msg + b"Try 'rapcli -h' for more information.\n", args)
        # A URI that does not parse is a usage error; an unreachable server is 69.
        for uri in ("rap://127.0.0.1:99999//x", "rap://[::1//x", "rap://127.0.0.1:x//x"):
            r = raplib.run_rapcli(["-c", "px", uri])
            self.assertEqual(r.returncode, 64, (uri, r.stderr))
            self.assertTrue(r.stderr.startswith(b"rapcli: invalid URI '%s'" % uri.encode()), r.stderr)

    def test_plugins_listing(self):
        r = raplib.run_rapcli(["-L"])
        self.assertEqual(r.returncode, 0)
        lines = r.stdout.decode().splitlines()
        # raps:// only where it can work.
        uris = "rap://,raps://" if raplib.HAVE_OPENSSL else "rap://"
        self.assertIn("rw_  rap      Remote binary protocol plugin. " + uris, lines)
        for line in lines:
            self.assertRegex(line, r"^r[w_][d_]  \S+ +\S.*\.")

    @unittest.skipIf(raplib.HAVE_OPENSSL, raplib.WITH_OPENSSL)
    def test_tls_refused_without_openssl(self):
        # A raps:// target or a --tls-* option is a usage error (64) in one line, before
        # anything connects.
        with raplib.SilentListener() as peer:
            for args in (["raps://127.0.0.1:%d/%s" % (peer.port, self.sample)],
                         ["RAPS://127.0.0.1:%d/" % peer.port],
                         ["--tls-ca", self.sample, "rap://127.0.0.1:%d/%s" % (peer.port, self.sample)],
                         ["--tls-insecure", self.sample]):
                r = raplib.run_rapcli(["-c", "p8 4", *args])
                self.assertEqual(r.returncode, 64, args)
                self.assertEqual(r.stdout, b"")
                self.assertEqual(r.stderr, b"rapcli: TLS is not available in this build (rap was built "
                                           b"without OpenSSL): raps:// and --tls-* cannot be used\n")
            self.assertFalse(peer.connected())

    def test_help_and_version(self):
        for opt in ("-h", "--help"):
            r = raplib.run_rapcli([opt])
            self.assertEqual(r.returncode, 0, opt)
            self.assertIn(b"Usage: rapcli", r.stdout)
            self.assertIn(b"1 when one failed (here or on the\nserver)", r.stdout)
        for opt in ("-V", "--version"):
            r = raplib.run_rapcli([opt])
            self.assertEqual(r.returncode, 0, opt)
            self.assertRegex(r.stdout.decode(), r"^rapcli \(rap\) \d+\.\d+\.\d+\n")

    def test_quit_stops_reading(self):
        r = raplib.run_rapcli([self.sample], stdin=b"p8 1\nq\np8 2\n")
        self.assertEqual(r.stdout, b"40\n")

    def test_malloc_uri(self):
        r = raplib.run_rapcli(["-w", "-c", "wx 0102", "-c", "p8 4", "malloc://16"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"01020000\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
