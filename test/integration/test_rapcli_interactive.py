"""rapcli's interactive prompt on a real pseudo-terminal: radare2's prompt, line editing
(a key sequence that edits the line before it runs), history saved to $RAPCLI_HISTFILE,
Ctrl-D exits 0."""

import os
import pty
import select
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
        that switch are cooked by the kernel (a Ctrl-D becomes a NUL byte, not an EOF)."""
        end = time.monotonic() + timeout
        seen = self.expect(prompt, timeout)
        while termios.tcgetattr(self.fd)[3] & termios.ICANON:
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


class Interactive(unittest.TestCase):

    def test_prompt_editing_history(self):
        root = raplib.TempRoot()
        hist = os.path.join(tempfile.mkdtemp(), "history")
        env = dict(os.environ, RAPCLI_HISTFILE=hist, TERM="xterm")
        term = Terminal([os.path.join(root.path, "sample.bin")], env)
        try:
            term.expect_prompt(b"[0x00000000]> ")
            term.send(b"s 0x10\r")
            term.expect_prompt(b"[0x00000010]> ")
            # Type "p8 9", erase the 9 with backspace, type 4: the edited line runs.
            term.send(b"p8 9\x7f4\r")
            term.expect(b"40303030")
            term.expect_prompt(b"[0x00000010]> ")
            term.send(b"\x04")  # Ctrl-D on an empty line
            self.assertEqual(term.wait(), 0)
        finally:
            root.cleanup()
        with open(hist) as f:
            # libedit stores lines vis(3)-encoded (a space becomes \\040).
            saved = f.read().replace("\\040", " ")
        self.assertIn("s 0x10", saved)
        self.assertIn("p8 4", saved)


if __name__ == "__main__":
    unittest.main(verbosity=2)
