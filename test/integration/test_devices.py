"""rapsrv on the devices people inspect: files larger than 4 GiB served by a daemon whatever
its word size (the cross builds run this against an ARM or MIPS rapsrv under qemu-user,
./run cross), read with the stock protocol's 64-bit SEEK, the extension's fd-addressed
reads (through rapcli) and remote commands."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from raplib import OPEN, READ, SEEK, CMD, REPLY  # noqa: E402

BIG = 5 << 30  # 5 GiB: past what 32 bits (and a 32-bit off_t) can address
# Records written near the end of the sparse file and past 4 GiB: (offset, bytes).
MARKS = [((4 << 30) + 0x10, b"@past-4GiB!"), (BIG - 16, b"@the-last-16-B!\n")]


class SparseFiveGiB(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        path = os.path.join(cls.root.path, "big.bin")
        with open(path, "wb") as f:
            f.truncate(BIG)  # sparse: takes no space
            for off, data in MARKS:
                f.seek(off)
                f.write(data)
        cls.path = path
        cls.srv = raplib.Rapsrv(cls.root.path)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.root.cleanup()

    def exchange(self, wire, count):
        s = self.srv.connect()
        try:
            s.sendall(wire)
            return raplib.recv_messages(s, count)
        finally:
            s.close()

    def test_stock_seek_and_read_near_the_end(self):
        # As radare2 does: OPEN, SEEK END (the size), then SEEK SET + READ at each mark.
        wire = raplib.enc_open(0, self.path) + raplib.enc_seek(2, 0)
        for off, data in MARKS:
            wire += raplib.enc_seek(0, off) + raplib.enc_read(len(data))
        replies = self.exchange(wire, 2 + 2 * len(MARKS))
        self.assertEqual(replies[0].op, OPEN | REPLY)
        self.assertGreater(replies[0].value, 0)
        self.assertEqual(replies[1].op, SEEK | REPLY)
        self.assertEqual(replies[1].offset, BIG)
        for k, (off, data) in enumerate(MARKS):
            seek, read = replies[2 + 2 * k], replies[3 + 2 * k]
            self.assertEqual((seek.op, seek.offset), (SEEK | REPLY, off))
            self.assertEqual((read.op, read.payload), (READ | REPLY, data))
        self.assertTrue(self.srv.alive())

    def test_read_across_the_end(self):
        # 32 bytes asked 16 before the end: the 16 that exist; at the end: none.
        wire = (raplib.enc_open(0, self.path) + raplib.enc_seek(0, BIG - 16) + raplib.enc_read(32) +
                raplib.enc_seek(0, BIG) + raplib.enc_read(16))
        replies = self.exchange(wire, 5)
        self.assertEqual(replies[2].payload, MARKS[-1][1])
        self.assertEqual(replies[3].offset, BIG)
        self.assertEqual(replies[4].payload, b"")

    def test_remote_command_past_4gib(self):
        # The command language on the target: its position and arithmetic in 64 bits.
        off, data = MARKS[0]
        wire = raplib.enc_open(0, self.path) + raplib.enc_cmd("p8 %d @ 0x%x" % (len(data), off))
        replies = self.exchange(wire, 2)
        self.assertEqual(replies[1].op, CMD | REPLY)
        self.assertEqual(replies[1].payload.rstrip(b"\0\n"), data.hex().encode())

    def test_no_eq_commands_in_the_daemon(self):
        # rapsrv's sessions are lean cores: the '=' family is not in the daemon (the static
        # build leaves its code out), even where the policy lets a client run it (--cmd
        # all); what would connect is refused by policy first.
        wire = (raplib.enc_open(0, self.path) + raplib.enc_cmd("=?") + raplib.enc_cmd("=") +
                raplib.enc_cmd("=+ rap://127.0.0.1:1/x"))
        with raplib.Rapsrv(self.root.path, "--cmd", "all") as srv:
            s = srv.connect()
            s.sendall(wire)
            replies = raplib.recv_messages(s, 4)
            s.close()
        for r in replies[1:3]:
            self.assertIn(b"this program has no '=' commands (remote hosts, servers)", r.payload)
        self.assertIn(b"refused: commands from the network never start servers or open connections",
                      replies[3].payload)
        # the default policy (read) refuses them all before that
        replies = self.exchange(raplib.enc_open(0, self.path) + raplib.enc_cmd("=?"), 2)
        self.assertIn(b"refused by the server's command policy (read)", replies[1].payload)

    @unittest.skipUnless(os.environ.get("RAPCLI"), "needs a rapcli that runs here (-Dnative_rapcli)")
    def test_rapcli_reads_past_4gib(self):
        # rapcli's reads (the extension's, fd-addressed, when the server offers it) and its
        # idea of the size, against the daemon.
        uri = "%s/%s" % (self.srv.uri, self.path)
        off, data = MARKS[-1]
        r = raplib.run_rapcli(["-c", "p8 16 @ 0x%x" % off, "-c", "?v $s", uri])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().split(), [data.hex(), "0x%x" % BIG])


if __name__ == "__main__":
    unittest.main()
