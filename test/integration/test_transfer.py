"""wtf and wff end to end: rapcli fetching and uploading multi-megabyte files from a real rapsrv
and from a server that answers like stock radare2's, byte for byte, with the throughput
logged (not asserted), and the progress bar only on a terminal."""

import os
import pty
import select
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from test_rapcli import StockServer  # noqa: E402

MIB = 1 << 20
TIMEOUT = 120  # seconds for one transfer: generous for sanitizer builds


def log(msg):
    """A line in the test log: measurements are reported, never asserted."""
    sys.stderr.write("\n# %s\n" % msg)
    sys.stderr.flush()


def timed_rapcli(args):
    t0 = time.monotonic()
    r = raplib.run_rapcli(args, timeout=TIMEOUT)
    return r, time.monotonic() - t0


def rate(nbytes, secs):
    return "%.1f MB/s (%d bytes in %.3f s)" % (nbytes / 1e6 / max(secs, 1e-9), nbytes, secs)


class AgainstRapsrv(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.big = os.urandom(16 * MIB)
        cls.root.write("big.bin", cls.big)
        cls.srv = raplib.Rapsrv(cls.root.path, "-w")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.root.cleanup()

    def uri(self, name):
        return "%s/%s" % (self.srv.uri, os.path.join(self.root.path, name))

    def local(self, name):
        return os.path.join(self.root.path, name)

    def test_fetch_16mib(self):
        out = self.local("fetched.bin")
        r, secs = timed_rapcli(["-q", "-c", "wtf %s" % out, self.uri("big.bin")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"dumped 0x1000000 bytes\n", r.stderr)
        # Not a terminal: no progress bar at all.
        self.assertNotIn(b"\r", r.stderr)
        self.assertEqual(r.stdout, b"")
        with open(out, "rb") as f:
            self.assertTrue(f.read() == self.big, "the fetched copy differs")
        log("wtf 16 MiB from rapsrv: " + rate(len(self.big), secs))

    def test_fetch_part_with_expression(self):
        out = self.local("part.bin")
        r = raplib.run_rapcli(["-q", "-c", "s 0x123456", "-c", "wtf %s 0x100000 + 7" % out,
                               self.uri("big.bin")], timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"dumped 0x100007 bytes\n", r.stderr)
        with open(out, "rb") as f:
            self.assertTrue(f.read() == self.big[0x123456:0x123456 + 0x100007])
        # Asking past the end copies what is there.
        r = raplib.run_rapcli(["-q", "-c", "wtf %s 0x10000 @ $s-0x10" % out, self.uri("big.bin")],
                              timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"dumped 0x10 bytes\n", r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), self.big[-16:])

    def test_upload_5mib(self):
        data = os.urandom(5 * MIB + 321)
        src = self.local("upload-src.bin")
        with open(src, "wb") as f:
            f.write(data)
        self.root.write("upload-dst.bin", b"\0" * 4096)
        r, secs = timed_rapcli(["-q", "-w", "-c", "wff %s @ 0x10" % src, self.uri("upload-dst.bin")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"wrote 0x500141 bytes\n", r.stderr)
        self.assertNotIn(b"\r", r.stderr)
        got = self.root.read("upload-dst.bin")
        self.assertEqual(len(got), 0x10 + len(data))
        self.assertEqual(got[:0x10], b"\0" * 0x10)
        self.assertTrue(got[0x10:] == data, "the uploaded copy differs")
        log("wff 5 MiB to rapsrv: " + rate(len(data), secs))

    def test_upload_refused_read_only(self):
        src = self.local("small.bin")
        with open(src, "wb") as f:
            f.write(b"hello")
        before = self.root.read("sample-rw.bin")
        r = raplib.run_rapcli(["-q", "-c", "wff %s" % src, self.uri("sample-rw.bin")])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"read-only", r.stderr)
        self.assertEqual(self.root.read("sample-rw.bin"), before)

    def test_progress_bar_on_a_terminal(self):
        out = self.local("tty.bin")
        master, slave = pty.openpty()
        try:
            proc = raplib.subprocess.Popen([raplib.RAPCLI, "-q", "-c", "wtf %s" % out, self.uri("big.bin")],
                                           stdin=raplib.subprocess.DEVNULL, stdout=raplib.subprocess.DEVNULL,
                                           stderr=slave)
            os.close(slave)
            slave = -1
            text = b""
            end = time.monotonic() + TIMEOUT
            while time.monotonic() < end:
                r, _, _ = select.select([master], [], [], 1.0)
                if not r:
                    if proc.poll() is not None:
                        break
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer of the terminal has gone
                    break
                if not chunk:
                    break
                text += chunk
            self.assertEqual(proc.wait(timeout=TIMEOUT), 0, text)
        finally:
            if slave >= 0:
                os.close(slave)
            os.close(master)
        self.assertIn(b"\r16.0 MiB / 16.0 MiB  100%", text)
        self.assertIn(b"\r\ndumped 0x1000000 bytes\r\n", text)
        with open(out, "rb") as f:
            self.assertTrue(f.read() == self.big)


class AgainstStockServer(unittest.TestCase):
    """A server answering like radare2's: 4 KiB messages, no extension, 0xff past the end."""

    def test_fetch_over_4mib(self):
        data = os.urandom(5 * MIB + 77)
        srv = StockServer(data)
        root = raplib.TempRoot()
        out = os.path.join(root.path, "stock.bin")
        try:
            r, secs = timed_rapcli(["-q", "-c", "wtf %s" % out, srv.uri + "//data/files/sample.bin"])
            with open(out, "rb") as f:
                got = f.read()
        finally:
            srv.close()
            root.cleanup()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"dumped 0x50004d bytes\n", r.stderr)
        # The stock server pads reads past the end with 0xff; none of that may appear.
        self.assertTrue(got == data, "the fetched copy differs")
        log("wtf 5 MiB from a stock-style server: " + rate(len(data), secs))
        # Only stock requests, in 4 KiB reads at most.
        self.assertTrue(all(1 <= m.op <= 7 for m in srv.requests))
        self.assertTrue(all(m.value <= 4096 for m in srv.requests if m.op == raplib.READ))

    def test_upload_over_4mib(self):
        data = os.urandom(4 * MIB + 4097)
        root = raplib.TempRoot()
        src = root.write("up.bin", data)
        srv = StockServer(b"\0" * 64)
        try:
            r, secs = timed_rapcli(["-q", "-w", "-c", "wff %s" % src, srv.uri + "//data/files/sample.bin"])
        finally:
            srv.close()
            root.cleanup()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"wrote 0x401001 bytes\n", r.stderr)
        self.assertTrue(bytes(srv.data) == data, "the uploaded copy differs")
        log("wff 4 MiB to a stock-style server: " + rate(len(data), secs))
        self.assertTrue(all(m.length <= 4096 for m in srv.requests if m.op == raplib.WRITE))


if __name__ == "__main__":
    unittest.main(verbosity=2)
