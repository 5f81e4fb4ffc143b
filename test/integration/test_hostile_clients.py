"""No byte sequence stops rapsrv: malformed and hostile clients are logged and dropped (or
answered and kept in sync), and the next client is served."""

import os
import random
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from raplib import CMD, REPLY  # noqa: E402


class HostileClients(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.srv = raplib.Rapsrv(cls.root.path, "-w")

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.root.cleanup()
        assert rc == 0, "rapsrv exited %r on SIGTERM" % rc

    def assert_serves(self):
        """A fresh, well-behaved client is served correctly."""
        self.assertTrue(self.srv.alive())
        s = self.srv.connect()
        s.sendall(raplib.enc_open(5, "sample.bin") + raplib.enc_seek(0, 0x1230) + raplib.enc_read(16))
        r = raplib.recv_messages(s, 3)
        s.close()
        self.assertEqual(r[2].payload, b"@00001230|rap2!\n")

    def send_and_close(self, data, read_reply=True):
        s = self.srv.connect()
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.shutdown(socket.SHUT_WR)
        got = raplib.recv_until_closed(s) if read_reply else b""
        s.close()
        return got

    def test_unknown_opcode_dropped(self):
        got = self.send_and_close(raplib.enc_open(5, "sample.bin") + b"\x42" + b"\x00" * 8)
        self.assertEqual(len(got), 5)  # only the OPEN reply; then the connection closes
        self.assertTrue(self.srv.wait_log(r"0x42"))
        self.assert_serves()

    def test_read_length_ffffffff(self):
        s = self.srv.connect()
        s.sendall(raplib.enc_open(5, "sample.bin") + bytes.fromhex("02ffffffff") + raplib.enc_seek(1, 0))
        r = raplib.recv_messages(s, 3)
        s.close()
        self.assertEqual(r[1].length, 4096)
        self.assertEqual(r[2].offset, 0)
        self.assert_serves()

    def test_oversized_write_is_drained_and_refused(self):
        s = self.srv.connect()
        big = b"Q" * ((1 << 20) + 1)  # one byte over the default --max-message
        s.sendall(raplib.enc_open(7, "sample-rw.bin") + raplib.enc_seek(0, 0) +
                  raplib.enc_write(big) + raplib.enc_seek(1, 0) + raplib.enc_write(b"ok"))
        r = raplib.recv_messages(s, 5)
        s.close()
        self.assertEqual(r[2].value, 0)
        self.assertEqual(r[3].offset, 0)  # still in sync after the drained payload
        self.assertEqual(r[4].value, 2)
        self.assertEqual(self.root.read("sample-rw.bin")[:3], b"ok0")
        self.root.write("sample-rw.bin", raplib.sample_bytes())
        self.assert_serves()

    def test_huge_declared_write_then_hangup(self):
        self.send_and_close(raplib.enc_open(7, "sample-rw.bin") + bytes.fromhex("035a5a5a5a") + b"Z" * 100)
        self.assert_serves()

    def test_cmd_len_4096_accepted(self):
        # Stock servers refuse a CMD of 4096 bytes and then parse its text as packets; ours
        # takes up to --max-message.
        payload = b"?e big" + b" " * (4096 - 7) + b"\0"
        s = self.srv.connect()
        s.sendall(bytes([CMD]) + struct.pack(">I", len(payload)) + payload + raplib.enc_cmd("?e after"))
        r = raplib.recv_messages(s, 2)
        s.close()
        self.assertEqual(r[0].payload, b"big\n\0")
        self.assertEqual(r[1].payload, b"after\n\0")

    def test_oversized_cmd_is_drained(self):
        payload = b"?e big" + b" " * (1 << 20) + b"\0"
        s = self.srv.connect()
        s.sendall(bytes([CMD]) + struct.pack(">I", len(payload)) + payload + raplib.enc_cmd("?e after"))
        r = raplib.recv_messages(s, 2)
        s.close()
        self.assertIn(b"too long", r[0].payload)
        self.assertEqual(r[1].payload, b"after\n\0")
        self.assert_serves()

    def test_cmd_len_zero(self):
        s = self.srv.connect()
        s.sendall(bytes.fromhex("0700000000") + raplib.enc_cmd("?e x"))
        r = raplib.recv_messages(s, 2)
        s.close()
        self.assertEqual(r[0].op, CMD | REPLY)
        self.assertEqual(r[1].payload, b"x\n\0")

    def test_system_opcode_answered(self):
        s = self.srv.connect()
        s.sendall(bytes([6]) + struct.pack(">I", 3) + b"ls\0" + raplib.enc_cmd("?e y"))
        r = raplib.recv_messages(s, 2)
        s.close()
        self.assertEqual(r[0].op, 0x86)
        self.assertIn(b"retired", r[0].payload)
        self.assertEqual(r[1].payload, b"y\n\0")

    def test_http_get_on_rap_port(self):
        self.send_and_close(b"GET /cmd/?V HTTP/1.0\r\n\r\n")
        self.assert_serves()

    def test_unexpected_reverse_cmd_answer(self):
        self.send_and_close(bytes.fromhex("870000000100"))
        self.assert_serves()

    def test_truncated_messages(self):
        for cut in (b"\x01", b"\x01\x05", b"\x01\x05\x10/da", b"\x04\x00\x00", b"\x02\x00",
                    b"\x03\x00\x00\x00\x10abc", b"\x07\x00\x00\x00\x09?e"):
            self.send_and_close(cut)
        self.assert_serves()

    def test_raw_transcripts_replayed(self):
        for name in raplib.transcript_names():
            t = raplib.Transcript(name)
            if "rawclient.py" not in t.command:
                continue
            for cid in sorted(t.conns):
                # Paths stay as recorded (/data/files/...): outside our root, so refused.
                self.send_and_close(t.client(cid))
            self.root.write("sample-rw.bin", raplib.sample_bytes())
            self.assert_serves()

    def test_random_bytes(self):
        rng = random.Random(1234)
        for _ in range(150):
            n = rng.randrange(1, 300)
            data = bytes(rng.randrange(256) for _ in range(n))
            if rng.random() < 0.5:  # start with a valid open so later bytes reach deeper states
                data = raplib.enc_open(5, "sample.bin") + data
            self.send_and_close(data)
        self.assert_serves()


if __name__ == "__main__":
    unittest.main(verbosity=2)
