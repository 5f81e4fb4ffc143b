"""Helpers for the integration tests: a RAP message splitter, the radare2 transcripts,
sample files, and real rapsrv/rapcli processes on ports the OS picks.

Every wait is bounded; every address is loopback."""

import os
import re
import select
import shlex
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

RAPSRV = os.environ.get("RAPSRV", "rapsrv")
# The cross builds (./run cross, test/integration/meson.build) run a rapsrv built for ARM or
# MIPS under qemu-user: RAPSRV_WRAPPER is the command that starts it (the cross file's
# rapsrv_wrapper, e.g. "qemu-aarch64-static -L /usr/aarch64-linux-gnu"), and every test
# starts rapsrv as RAPSRV_CMD. EMULATED tells the tests that measure the process itself
# (its memory, its system calls) or that take long to skip, saying so
# (skip_under_emulation).
# qemu-user runs threads of its own inside the emulated process, which rapsrv's sandbox
# rightly refuses to start beside (Landlock and a filter would confine one thread only), and
# would confine the emulator itself: under emulation rapsrv runs with --no-sandbox, and the
# sandbox is tested natively (test_sandbox.py).
RAPSRV_WRAPPER = shlex.split(os.environ.get("RAPSRV_WRAPPER", ""))
EMULATED = bool(RAPSRV_WRAPPER)
RAPSRV_EMULATED_ARGS = ["--no-sandbox"] if EMULATED else []
RAPSRV_CMD = [*RAPSRV_WRAPPER, RAPSRV, *RAPSRV_EMULATED_ARGS]
RAPCLI = os.environ.get("RAPCLI", "rapcli")
INTEROP = os.environ.get("RAP_INTEROP_DIR", os.path.join(os.path.dirname(__file__), "..", "vectors", "r2"))
DEADLINE = 20.0  # seconds any single wait may take


def _build_fact(name):
    """A yes/no fact about the build under test, set by test/integration/meson.build: what a
    build left out is told, never guessed from how its binaries behave."""
    value = os.environ.get(name)
    if value not in ("0", "1"):
        raise RuntimeError("%s must be 0 or 1 (meson test sets it; set it when running a test by hand)"
                           % name)
    return value == "1"


HAVE_OPENSSL = _build_fact("RAP_HAVE_OPENSSL")  # TLS: raps://, --tls-*
HAVE_LIBEDIT = _build_fact("RAP_HAVE_LIBEDIT")  # rapcli's line editing and history
HAVE_ZLIB = _build_fact("RAP_HAVE_ZLIB")  # ph crc32
NO_OPENSSL = "built without OpenSSL (no TLS)"
WITH_OPENSSL = "built with OpenSSL (this tests the build without it)"
NO_LIBEDIT = "built without libedit (plain prompt)"

OPEN, READ, WRITE, SEEK, CLOSE, SYSTEM, CMD = 1, 2, 3, 4, 5, 6, 7
REPLY = 0x80


def sample_bytes(size=131072):
    """The transcripts' sample file: 16-byte records that name their own offset."""
    return b"".join(b"@%08x|rap2!\n" % o for o in range(0, size, 16))[:size]


class Msg:
    def __init__(self, op, raw, **fields):
        self.op = op
        self.raw = raw
        self.__dict__.update(fields)

    def __repr__(self):
        f = {k: v for k, v in self.__dict__.items() if k != "raw"}
        return "Msg(%r)" % f


def split_messages(data, replies):
    """Splits a byte stream into messages. replies=False for a client->server stream.
    Returns (messages, rest): rest is the undecodable or incomplete tail."""
    out = []
    i = 0
    n = len(data)
    while i < n:
        op = data[i]
        base = op & 0x7F
        is_reply = bool(op & REPLY)
        # A server stream carries replies and reverse CMDs (0x07); a client stream
        # requests and answers to reverse CMDs (0x87).
        if base < OPEN or base > CMD or (is_reply != replies and base != CMD):
            break
        if not is_reply and base == OPEN:
            if i + 3 > n or i + 3 + data[i + 2] > n:
                break
            ln = data[i + 2]
            out.append(Msg(op, data[i:i + 3 + ln], perm=data[i + 1], path=data[i + 3:i + 3 + ln]))
            i += 3 + ln
        elif not is_reply and base == SEEK:
            if i + 10 > n:
                break
            whence = data[i + 1]
            off, = struct.unpack(">Q", data[i + 2:i + 10])
            out.append(Msg(op, data[i:i + 10], whence=whence, offset=off))
            i += 10
        elif is_reply and base == SEEK:
            if i + 9 > n:
                break
            off, = struct.unpack(">Q", data[i + 1:i + 9])
            out.append(Msg(op, data[i:i + 9], offset=off))
            i += 9
        elif (not is_reply and base in (READ, CLOSE)) or (is_reply and base in (OPEN, WRITE, CLOSE)):
            if i + 5 > n:
                break
            v, = struct.unpack(">I", data[i + 1:i + 5])
            sv, = struct.unpack(">i", data[i + 1:i + 5])
            out.append(Msg(op, data[i:i + 5], value=v, svalue=sv))
            i += 5
        else:  # op len payload: WRITE, READ reply, SYSTEM, CMD (both ways)
            if i + 5 > n:
                break
            ln, = struct.unpack(">I", data[i + 1:i + 5])
            if i + 5 + ln > n:
                break
            out.append(Msg(op, data[i:i + 5 + ln], length=ln, payload=data[i + 5:i + 5 + ln]))
            i += 5 + ln
    return out, data[i:]


def enc_open(perm, path):
    p = path.encode() + b"\0" if isinstance(path, str) else path
    return bytes([OPEN, perm, len(p)]) + p


def enc_seek(whence, off):
    return bytes([SEEK, whence]) + struct.pack(">Q", off)


def enc_read(n):
    return bytes([READ]) + struct.pack(">I", n)


def enc_write(data):
    return bytes([WRITE]) + struct.pack(">I", len(data)) + data


def enc_cmd(text):
    t = text.encode() + b"\0"
    return bytes([CMD]) + struct.pack(">I", len(t)) + t


def enc_close(fd):
    return bytes([CLOSE]) + struct.pack(">i", fd)


class Transcript:
    """One file of test/vectors/r2: per-connection byte streams and "#|" sections."""

    def __init__(self, name):
        self.name = name
        with open(os.path.join(INTEROP, name), encoding="utf-8", errors="replace") as f:
            self.lines = f.read().split("\n")
        self.command = ""
        self.conns = {}
        for k, line in enumerate(self.lines):
            if line.startswith("# client command: "):
                self.command = self.command or line[18:]
            if line[:3] in ("C> ", "S> "):
                nxt = self.lines[k + 1] if k + 1 < len(self.lines) else ""
                m = re.match(r"#   conn (\d+) ", nxt)
                cid = int(m.group(1)) if m else 1
                c = self.conns.setdefault(cid, [bytearray(), bytearray()])
                c[0 if line[0] == "C" else 1] += bytes.fromhex(line[3:].split()[0])

    def client(self, cid=1):
        return bytes(self.conns[cid][0])

    def server(self, cid=1):
        return bytes(self.conns[cid][1])

    def section(self, title):
        for k, line in enumerate(self.lines):
            if line.startswith("# ---- " + title):
                out = []
                for l2 in self.lines[k + 1:]:
                    if not l2.startswith("#|"):
                        break
                    out.append(l2[3:] if l2.startswith("#| ") else l2[2:])
                return "\n".join(out) + ("\n" if out else "")
        return None

    @property
    def is_r2_client(self):
        return self.command.startswith("r2 ") and "rap://127.0.0.1:9998" in self.command and "FAKE" not in self.command


def transcript_names():
    return sorted(f for f in os.listdir(INTEROP) if f.endswith(".txt") and f != "README.txt")


class Rapsrv:
    """A real rapsrv on 127.0.0.1 and an OS-chosen port; waits for its 'listening' line."""

    def __init__(self, root, *args, host="127.0.0.1", scheme="rap", listen=None):
        if listen is None:
            listen = "%s://%s:0" % (scheme, ("[%s]" % host) if ":" in host else host)
        self.root = root
        proc = subprocess.Popen([*RAPSRV_WRAPPER, RAPSRV, *RAPSRV_EMULATED_ARGS, "-v", "-r", root, *args, listen],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.adopt(proc, host)

    def adopt(self, proc, host):
        """Follows an already started rapsrv: waits for its 'listening' line."""
        self.proc = proc
        self.host = host
        self.log = []
        self.port = None
        end = time.monotonic() + DEADLINE
        buf = b""
        while self.port is None:
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("rapsrv did not start: %r" % buf)
            r, _, _ = select.select([self.proc.stderr], [], [], left)
            if not r:
                continue
            chunk = os.read(self.proc.stderr.fileno(), 4096)
            if not chunk:
                continue
            buf += chunk
            m = re.search(rb"listening on raps?://\[?[^\s\]]*\]?:(\d+)", buf)
            if m:
                self.port = int(m.group(1))
        self.log.append(buf.decode(errors="replace"))
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self):
        while True:
            chunk = self.proc.stderr.read1(4096) if hasattr(self.proc.stderr, "read1") else self.proc.stderr.read(4096)
            if not chunk:
                return
            self.log.append(chunk.decode(errors="replace"))

    def logtext(self):
        return "".join(self.log)

    def wait_log(self, pattern, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if re.search(pattern, self.logtext()):
                return True
            time.sleep(0.01)
        return False

    def connect(self):
        s = socket.create_connection((self.host, self.port), timeout=DEADLINE)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    @property
    def uri(self):
        h = "[%s]" % self.host if ":" in self.host else self.host
        return "rap://%s:%d" % (h, self.port)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        reader = getattr(self, "_reader", None)
        if reader:
            reader.join(DEADLINE)
        self.proc.stderr.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def recv_messages(sock, count, replies=True):
    """Reads until count complete messages arrived (bounded by the socket timeout)."""
    data = b""
    while True:
        msgs, rest = split_messages(data, replies)
        if len(msgs) >= count:
            return msgs
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("peer closed after %d of %d messages" % (len(msgs), count))
        data += chunk


def recv_until_closed(sock, limit=1 << 24):
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def skip_under_emulation(reason):
    """A decorator: the test is skipped under qemu-user (EMULATED), where it would take
    too long, measure the emulator or test what the cross build does not run, with reason
    in the skip message, which also goes to stderr as "# SKIP name: reason" for ./run cross
    to list."""
    import sys
    import unittest

    def decorate(test):
        if not EMULATED:
            return test
        why = "not run under emulation: " + reason
        print("# SKIP %s: %s" % (test.__qualname__, why), file=sys.stderr)
        return unittest.skip(why)(test)
    return decorate


def run_rapcli(args, stdin=None, timeout=DEADLINE, env=None):
    return subprocess.run([RAPCLI, *args], input=stdin, capture_output=True, timeout=timeout,
                          env=env)


class SilentListener:
    """A loopback socket that listens but never accepts by itself. The kernel completes
    connections to it all the same, so after a client has run, connected() tells whether
    that client connected at all."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]

    def connected(self):
        self.sock.setblocking(False)
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TempRoot:
    """A temporary served directory with sample.bin and sample-rw.bin."""

    def __init__(self):
        self.path = os.path.realpath(tempfile.mkdtemp(prefix="rap-it-"))
        self.write("sample.bin", sample_bytes())
        self.write("sample-rw.bin", sample_bytes())

    def write(self, rel, data):
        p = os.path.join(self.path, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def read(self, rel):
        with open(os.path.join(self.path, rel), "rb") as f:
            return f.read()

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)
