"""rapcli's interactive prompt on a real pseudo-terminal: radare2's prompt, a command runs,
Ctrl-D exits 0 (every build); with libedit also line editing (key sequences the terminal
itself does not handle edit the line before it runs), recall, and history saved to
$RAPCLI_HISTFILE. Ctrl-C drops the line being typed, interrupts a long command, and a
second one on an empty line quits; SIGTERM and SIGHUP end the prompt with the history
saved. Scripted runs stop at Ctrl-C with status 130."""

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402


class Terminal:
    def __init__(self, args, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(raplib.RAPCLI, [raplib.RAPCLI, *args], env)
        self.screen = b""

    def expect(self, needle, timeout=raplib.DEADLINE):
        end = time.monotonic() + timeout
        while needle not in self.screen:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("did not see %r in %r" % (needle, self.screen))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError("terminal closed before %r: %r" % (needle, self.screen))
                self.screen += chunk
        at = self.screen.index(needle) + len(needle)
        seen, self.screen = self.screen[:at], self.screen[at:]
        return seen

    def expect_prompt(self, prompt, timeout=raplib.DEADLINE):
        """Waits for prompt and then for the line editor to own the terminal: libedit prints
        the prompt and switches the terminal out of canonical mode, and keys typed before
        that switch are cooked by the kernel (a Ctrl-D becomes a NUL byte, not an EOF).
        Without libedit the prompt reads cooked lines, so the prompt is all there is."""
        end = time.monotonic() + timeout
        seen = self.expect(prompt, timeout)
        while raplib.HAVE_LIBEDIT and termios.tcgetattr(self.fd)[3] & termios.ICANON:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("the terminal never left canonical mode after %r" % prompt)
            # The pty master sees the slave's modes; nothing to read while rapcli waits.
            r, _, _ = select.select([self.fd], [], [], min(left, 0.01))
            if r:
                self.screen += os.read(self.fd, 4096)
        return seen

    def send(self, data):
        os.write(self.fd, data)

    def wait(self):
        end = time.monotonic() + raplib.DEADLINE
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = None
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            # Keep the terminal drained without blocking: rapcli may still be writing.
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    os.read(self.fd, 4096)
                except OSError:
                    pass
        raise AssertionError("rapcli did not exit")

    def kill(self):
        """Ends a rapcli that a failed test left running."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None
            os.close(self.fd)


class Interactive(unittest.TestCase):

    def setUp(self):
        self.root = raplib.TempRoot()
        self.addCleanup(self.root.cleanup)
        histdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, histdir, True)
        self.hist = os.path.join(histdir, "history")
        env = dict(os.environ, RAPCLI_HISTFILE=self.hist, TERM="xterm")
        self.term = Terminal([os.path.join(self.root.path, "sample.bin")], env)
        self.addCleanup(self.term.kill)

    def test_prompt_command_ctrl_d(self):
        term = self.term
        term.expect_prompt(b"[0x00000000]> ")
        term.send(b"s 0x10\r")
        term.expect_prompt(b"[0x00000010]> ")
        term.send(b"p8 4\r")
        term.expect(b"40303030")
        term.expect_prompt(b"[0x00000010]> ")
        term.send(b"\x04")  # Ctrl-D on an empty line
        self.assertEqual(term.wait(), 0)
        if not raplib.HAVE_LIBEDIT:
            # Nothing could recall the lines, so none are saved.
            self.assertFalse(os.path.exists(self.hist))

    @unittest.skipUnless(raplib.HAVE_LIBEDIT, raplib.NO_LIBEDIT)
    def test_editing_and_history(self):
        term = self.term
        term.expect_prompt(b"[0x00000000]> ")
        term.send(b"s 0x10\r")
        term.expect_prompt(b"[0x00000010]> ")
        # Type "8 9", erase the 9, type 4, go to the start (Ctrl-A) and insert "p": the
        # edited line runs. A plain terminal would run "8 4\x01p" and fail.
        term.send(b"8 9\x7f4\x01p\r")
        term.expect(b"40303030")
        term.expect_prompt(b"[0x00000010]> ")
        # Ctrl-P recalls it.
        term.send(b"\x10\r")
        term.expect(b"40303030")
        term.expect_prompt(b"[0x00000010]> ")
        term.send(b"\x04")  # Ctrl-D on an empty line
        self.assertEqual(term.wait(), 0)
        with open(self.hist) as f:
            # libedit stores lines vis(3)-encoded (a space becomes \\040).
            saved = f.read().replace("\\040", " ")
        self.assertIn("s 0x10", saved)
        self.assertIn("p8 4", saved)


class CtrlC(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        # 16 MiB: its hexdump takes long enough on a terminal to be interrupted.
        cls.big = cls.root.write("big.bin", bytes(range(256)) * (1 << 16))

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()

    def start(self, path=None):
        self.hist = os.path.join(tempfile.mkdtemp(), "history")
        env = dict(os.environ, RAPCLI_HISTFILE=self.hist, TERM="xterm")
        term = Terminal(["-q", path or os.path.join(self.root.path, "sample.bin")], env)
        term.expect_prompt(b"[0x00000000]> ")
        return term

    def history(self):
        """The saved history; without libedit none is kept, and the text is empty."""
        if not raplib.HAVE_LIBEDIT:
            self.assertFalse(os.path.exists(self.hist))
            return ""
        with open(self.hist) as f:
            return f.read().replace("\\040", " ")

    def test_ctrl_c_drops_the_line_and_twice_quits(self):
        term = self.start()
        term.send(b"p8 4")
        term.expect(b"p8 4")
        term.send(b"\x03")
        # The text stays on the screen with ^C after it; a fresh prompt; nothing ran.
        seen = term.expect(b"^C\r\n")
        term.expect_prompt(b"[0x00000000]> ")
        self.assertNotIn(b"40303030", seen)
        term.send(b"s 0x10\r")
        term.expect_prompt(b"[0x00000010]> ")
        term.send(b"\x03")
        term.expect(b"^C\r\n(Ctrl-C again, Ctrl-D or q to quit)\r\n")
        term.expect_prompt(b"[0x00000010]> ")
        term.send(b"\x03")
        self.assertEqual(term.wait(), 0)
        saved = self.history()
        self.assertNotIn("p8 4", saved)
        if raplib.HAVE_LIBEDIT:
            self.assertIn("s 0x10", saved)

    def test_ctrl_c_interrupts_a_long_command(self):
        term = self.start(self.big)
        term.send(b"px 0x1000000\r")
        term.expect(b"0x00001000  ")
        term.send(b"\x03")
        term.expect(b"error: interrupted after 0x")
        term.expect_prompt(b"[0x00000000]> ")
        # The prompt works on, and a Ctrl-C spent on the command cancels nothing.
        term.send(b"p8 2 @ 0x41\r")
        term.expect(b"4142\r\n")
        term.expect_prompt(b"[0x00000000]> ")
        term.send(b"q\r")
        self.assertEqual(term.wait(), 1)  # the interrupted command failed
        if raplib.HAVE_LIBEDIT:
            self.assertIn("px 0x1000000", self.history())

    def test_sigterm_and_sighup_end_the_prompt_with_history(self):
        for signo in (signal.SIGTERM, signal.SIGHUP):
            term = self.start()
            term.send(b"s 0x20\r")
            term.expect_prompt(b"[0x00000020]> ")
            os.kill(term.pid, signo)
            self.assertEqual(term.wait(), 128 + signo)
            if raplib.HAVE_LIBEDIT:
                self.assertIn("s 0x20", self.history())


class ScriptedCtrlC(unittest.TestCase):

    def test_sigint_stops_a_script_with_130(self):
        root = raplib.TempRoot()
        try:
            big = root.write("big.bin", bytes(range(256)) * (1 << 16))
            # A long command: interrupted, the next one never runs.
            p = subprocess.Popen([raplib.RAPCLI, "-c", "px 0x1000000", "-c", "?e after", big],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertTrue(p.stdout.read(4096))
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=raplib.DEADLINE)
            self.assertEqual(p.returncode, 130)
            self.assertIn(b"error: interrupted after 0x", err)
            self.assertNotIn(b"after\n", out)
            # Waiting for the next line of standard input ends too.
            p = subprocess.Popen([raplib.RAPCLI, os.path.join(root.path, "sample.bin")],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            p.stdin.write(b"?e ready\n")
            p.stdin.flush()
            self.assertEqual(p.stdout.readline(), b"ready\n")
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(timeout=raplib.DEADLINE), 130)
            p.stdin.close()
            p.stdout.close()
            p.stderr.close()
        finally:
            root.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
