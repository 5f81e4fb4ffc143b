#!/usr/bin/env python3
"""Writes seed candidates for the fuzz targets into DIR/TARGET/ (DIR: fuzz/corpus).

Seeds come from inside the repository only: the radare2 transcripts in test/vectors/r2/
(the byte streams of real RAP sessions, the command lines of eq-commands.txt), the string
literals of the unit tests, and a few hand-made sessions (the extension probe with each
capability, over-limit messages). Each seed is named by the SHA-256 of its bytes, so
running this again adds nothing new and removes nothing.

The committed corpus is what libFuzzer keeps of these candidates and of its own finds:
doc/fuzzing.md shows the merge (-merge=1) that keeps only inputs adding coverage.

    python3 fuzz/seeds.py [DIR [TARGET...]]
"""
import glob
import hashlib
import os
import re
import shlex
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "test", "vectors", "r2")
UNIT = os.path.join(ROOT, "test", "unit")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

STREAM_MAX = 8192  # seeds beyond this only make libFuzzer's inputs longer


# ---- reading the repository ---------------------------------------------------------------

def transcripts():
    """(name, client chunks, server chunks) of every transcript: lists of bytes."""
    for path in sorted(glob.glob(os.path.join(VECTORS, "*.txt"))):
        if path.endswith("README.txt"):
            continue
        c, s = [], []
        for line in open(path, encoding="utf-8", errors="replace"):
            if line.startswith("C> "):
                c.append(bytes.fromhex(line[3:].strip()))
            elif line.startswith("S> "):
                s.append(bytes.fromhex(line[3:].strip()))
        if c or s:
            yield os.path.basename(path), c, s


ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0", "a": "\a",
           "e": "\x1b"}


def c_strings(names):
    """The string literals of the unit test files names (bytes, escapes decoded)."""
    out = []
    for name in names:
        text = open(os.path.join(UNIT, name), encoding="utf-8").read()
        for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', text):
            raw, s, i = m.group(1), [], 0
            while i < len(raw):
                ch = raw[i]
                if ch != "\\":
                    s.append(ch)
                    i += 1
                    continue
                nxt = raw[i + 1]
                if nxt == "x":
                    hexd = re.match(r"[0-9a-fA-F]{1,2}", raw[i + 2:]).group(0)
                    s.append(chr(int(hexd, 16)))
                    i += 2 + len(hexd)
                elif nxt in "01234567" and re.match(r"[0-7]{1,3}", raw[i + 1:]).group(0) != "0":
                    octd = re.match(r"[0-7]{1,3}", raw[i + 1:]).group(0)
                    s.append(chr(int(octd, 8)))
                    i += 1 + len(octd)
                else:
                    s.append(ESCAPES.get(nxt, nxt))
                    i += 2
            out.append("".join(s).encode("latin-1", errors="replace"))
    return out


def eq_commands():
    """The command lines of eq-commands.txt ("$ r2 ... -c 'CMD' ...")."""
    cmds = []
    for line in open(os.path.join(VECTORS, "eq-commands.txt"), encoding="utf-8"):
        if not line.startswith("$ "):
            continue
        try:
            words = shlex.split(line[2:])
        except ValueError:
            continue
        cmds += [words[i + 1] for i, w in enumerate(words[:-1]) if w == "-c"]
    return [c.encode() for c in cmds]


def messages(stream):
    """Splits a client request stream into (op, payload) as far as it decodes."""
    out, i = [], 0
    sizes = {0x02: 5, 0x04: 10, 0x05: 5}
    while i < len(stream):
        op = stream[i]
        if op == 0x01 and i + 3 <= len(stream):
            n = stream[i + 2]
            out.append((op, stream[i + 3:i + 3 + n]))
            i += 3 + n
        elif op in (0x03, 0x06, 0x07, 0x87) and i + 5 <= len(stream):
            n = struct.unpack(">I", stream[i + 1:i + 5])[0]
            out.append((op, stream[i + 5:i + 5 + n]))
            i += 5 + n
        elif op in sizes:
            out.append((op, stream[i + 1:i + sizes[op]]))
            i += sizes[op]
        else:
            break
    return out


# ---- RAP messages -------------------------------------------------------------------------

def open_req(path, perm=5):
    p = path + b"\0"
    return bytes([0x01, perm, len(p)]) + p


def read_req(n):
    return b"\x02" + struct.pack(">I", n)


def write_req(data):
    return b"\x03" + struct.pack(">I", len(data)) + data


def seek_req(whence, off):
    return bytes([0x04, whence]) + struct.pack(">Q", off)


def close_req(fd):
    return b"\x05" + struct.pack(">i", fd)


def cmd_req(text, op=0x07):
    return bytes([op]) + struct.pack(">I", len(text) + 1) + text + b"\0"


def probe_req(caps, version=1):
    return seek_req(0xFF, (0x52415058 << 32) | (version << 16) | caps)


def probe_answer(caps, version=1):
    return b"\x84" + struct.pack(">Q", (0x72617078 << 32) | (version << 16) | caps)


def chunk_sizes(chunks):
    """Eight chunk-size bytes (size - 1) from the first recorded receive boundaries."""
    sizes = [min(len(c), 256) - 1 for c in chunks[:8] if c]
    return bytes((sizes + [255] * 8)[:8])


# ---- the seeds of each target -------------------------------------------------------------

def codec_seeds():
    for _, c, s in transcripts():
        for chunks in (c, s):
            stream = b"".join(chunks)[:STREAM_MAX]
            if stream:
                yield b"\x00" + chunk_sizes(chunks) + stream
                yield b"\x02" + bytes(range(8)) + stream


def session_script():
    """Hand-made client sessions: the probe with each capability, then every request."""
    body = (open_req(b"sample") + read_req(16) + seek_req(0, 0x10) + read_req(8192) +
            write_req(b"x" * 5000) + seek_req(2, 0) + seek_req(1, 0) + seek_req(7, 0) +
            cmd_req(b"?V") + cmd_req(b"b\x80\x00") + cmd_req(b"e") + cmd_req(b"E") + cmd_req(b"n") +
            cmd_req(b"?V", op=0x06) + b"\x07\x00\x00\x00\x00" + close_req(3) + close_req(99))
    for caps in (0x0001, 0x0002, 0x0004, 0x0007, 0x0000, 0xFFFF):
        yield probe_req(caps) + body
    yield probe_req(0x0007, version=0) + body
    yield probe_req(0x0007, version=9) + body
    yield seek_req(0xFF, 0x1234) + body  # 0xff without the magic: a plain CUR
    yield body + cmd_req(b"?V", op=0x87)  # a CMD reply nobody asked for
    yield probe_req(0x0001) + open_req(b"a") + read_req(1 << 20) * 3 + write_req(b"y" * 6000)
    yield open_req(b"a") + read_req(4096) * 80  # replies pile up past the high-water mark


def server_session_seeds():
    for _, c, _ in transcripts():
        stream = b"".join(c)[:STREAM_MAX]
        if stream:
            yield b"\x00" + chunk_sizes(c) + stream
    for i, s in enumerate(session_script()):
        # settings: payload limit, reply cut and how replies are taken, varied per seed
        yield bytes([(i * 37) & 0xFF]) + bytes([255, 3, 0, 40, 255, 9, 1, 200]) + s


def client_ops(stream):
    """A script approximating the client calls that produced a request stream."""
    ops = []
    for op, payload in messages(stream):
        if op == 0x01:
            ops.append(bytes([1, len(payload) & 0xFF, payload[0] if payload else 0]))
        elif op == 0x04:
            if len(payload) == 9 and payload[0] == 0xFF:
                ops.append(bytes([0, 0, 0]))
            else:
                ops.append(bytes([4, 1, payload[0] if payload else 0]))
        elif op == 0x02:
            n = struct.unpack(">I", payload)[0] if len(payload) == 4 else 16
            ops.append(bytes([2, (n >> 8) & 0xFF, n & 0xFF]))
        elif op == 0x03:
            ops.append(bytes([3, (len(payload) >> 8) & 0xFF, len(payload) & 0xFF]))
        elif op == 0x05:
            ops.append(bytes([6, 0, 4]))
        elif op == 0x07:
            ops.append(bytes([8, 0, len(payload) & 0xFF]))
        if len(ops) == 32:
            break
    return ops


def client_seeds():
    for _, c, s in transcripts():
        ops = client_ops(b"".join(c))
        server = b"".join(s)[:STREAM_MAX]
        if ops and server:
            for cfg in (0x00, 0x0D, 0x22):
                yield bytes([cfg, len(ops)]) + b"".join(ops) + server
    # our server: the probe granted, then large reads, a status-bearing CMD reply, a reverse
    # CMD inside a CMD, and a write refused with a RAP_E code
    ext = (probe_answer(0x0007) + b"\x81\x00\x00\x00\x03" + b"\x84" + struct.pack(">Q", 0) +
           b"\x82" + struct.pack(">I", 300) + b"r" * 300 +
           cmd_req(b"?V") + b"\x87" + struct.pack(">I", 8) + b"0.1\n\0\0\0\0\0" +
           b"\x84" + struct.pack(">Q", 0) + b"\x83" + struct.pack(">i", -1012))
    ops = [bytes([0, 0, 0]), bytes([1, 3, 1]), bytes([2, 1, 44]), bytes([7, 0, 3]),
           bytes([3, 0, 9]), bytes([5, 0, 0]), bytes([10, 0, 0])]
    for cfg in (0x08, 0x00, 0x05, 0x18):
        yield bytes([cfg, len(ops)]) + b"".join(ops) + ext


def uri_seeds():
    strings = [s for s in c_strings(["test_uri.c", "test_remote.c", "test_io.c"])
               if b"://" in s or re.match(rb"^[\w.\[\]:-]*:\d+", s)]
    strings += [w.split(b" ", 1)[-1] for w in eq_commands() if w.startswith(b"=+")]
    strings += [b"rap://127.0.0.1:9998//data/files/sample.bin", b"raps://[::1]:9999/dbg:///bin/ls",
                b"http://h", b"tcp://:4000", b"udp://host:1/x", b"RAP://H:65535//", b"rap://[fe80::1%eth0]:1"]
    for s in strings:
        if len(s) < 512:
            yield b"\x00" + s
            yield b"\x01" + s


def cmd_seeds():
    lines = c_strings(["test_core.c", "test_remote.c", "test_print.c", "test_serve.c", "test_transfer.c",
                       "test_servers.c", "test_disasm.c", "test_search.c", "test_hash.c"])
    # Expected outputs and paths are literals too; command lines start like commands.
    lines = [s for s in lines if 0 < len(s) < 300 and b"%" not in s and re.match(rb"^[ \t]*[a-z=?!.:#\"';]", s)
             and not s.startswith(b"error:")]
    lines += eq_commands()
    for _, c, _ in transcripts():
        lines += [p.rstrip(b"\0") for op, p in messages(b"".join(c)) if op == 0x07 and 0 < len(p) < 300]
    seen = set()
    for i, line in enumerate(lines):
        if line in seen:
            continue
        seen.add(line)
        yield bytes([(0x00, 0x04, 0x08, 0x02, 0x10, 0x41, 0x80, 0x0C)[i % 8]]) + line
    # several lines on one core: remote mode, sessions, files
    yield b"\x00o malloc://64 rw\0wx 414243\0px 8\0o\0o-3\0=+ rap://127.0.0.1:1//x\0=\0=!=\0!=!"
    yield b"\x04o malloc://8\0o--\0=h 0\0=&:0\0=t 1 ?V\0=r 1 ?V\0=:host:1 px\0!echo hi\0px > /x"
    yield b"\x00e srv.cmd=all\0e\0b 16\0px @ 0x10!4 ~rap\0p8 $b\0pr 4\0?v $s-1\0s++;s--;s"
    # code views: disassembly in every arch and mode, searches, hashes
    yield b"\x00wx 554889e5c3e8000000000f0bff\0pd 4\0pi 3\0pD 13\0pd -2 @ 4\0pd 2~ret"
    yield b"\x00e asm.arch=arm\0e asm.bits=16\0wx 00bf70470120\0pi 3\0e asm.bits=64\0pd 2\0e cfg.bigendian=true\0pi 2"
    yield b"\x00e asm.arch=mips\0e asm.bits=32\0wx 27bdffe003e00008\0pi 2\0e asm.lines=false\0e asm.comments=false\0pd 2"
    yield b"\x00wx 41424341424300\0/ ABC\0/x 4142:ff00\0/w AB\0e search.in=range\0e search.from=1\0e search.to=6\0/ BC"
    yield b"\x00e search.maxhits=1\0/x 00\0ph\0ph md5\0ph sha256 16\0ph crc32 @ 4\0ph entropy 8\0i"


def http_seeds():
    reqs = [s for s in c_strings(["test_http.c", "test_servers.c"]) if b"HTTP/" in s]
    for _, c, _ in transcripts():
        stream = b"".join(c)
        if stream.startswith(b"GET ") or stream.startswith(b"POST "):
            reqs.append(stream)
    reqs += [b"POST /cmd HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
             b"GET /cmd/px%2016 HTTP/1.1\r\nHost: [::1]:9090\r\nOrigin: http://evil\r\nSec-Fetch-Site: cross-site\r\n\r\n",
             b"GET /cmd/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
             b"GET / HTTP/2.0\r\n\r\n",
             # keep-alive: requests one after the other on a connection, the web console's
             b"POST /cmd?stream=1 HTTP/1.1\r\nHost: 127.0.0.1:9090\r\nOrigin: http://127.0.0.1:9090\r\n"
             b"Sec-Fetch-Site: same-origin\r\nX-Rap-Token: " + b"0" * 64 + b"\r\nContent-Length: 5\r\n\r\npx 16"
             b"GET /cmd/s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
             b"HEAD / HTTP/1.0\r\nConnection: close\r\n\r\n",
             b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dXNlcjpwYXNzd29yZA==\r\n\r\n"]
    for i, r in enumerate(reqs):
        yield bytes([0x80, 0x00]) + r
        if i % 4 == 0:
            yield bytes([0x40, 0x81]) + r  # padded past the head limit


# ---- binhdr: small executables of every kind the parser knows ------------------------------

def elf(is64, be, machine, entry, va, typ=2, flags=0):
    """An ELF header with one PT_LOAD (offset 0x1000, vaddr va, filesz 0x1000) at 0x40."""
    e = ">" if be else "<"
    b = bytearray(0x2000)
    b[0:7] = b"\x7fELF" + bytes([2 if is64 else 1, 2 if be else 1, 1])
    struct.pack_into(e + "HHI", b, 16, typ, machine, 1)
    if is64:
        struct.pack_into(e + "QQ", b, 24, entry, 0x40)
        struct.pack_into(e + "IHHH", b, 48, flags, 64, 56, 1)
        struct.pack_into(e + "IIQQQQ", b, 0x40, 1, 5, 0x1000, va, va, 0x1000)
    else:
        struct.pack_into(e + "II", b, 24, entry, 0x40)
        struct.pack_into(e + "IHHH", b, 36, flags, 52, 32, 1)
        struct.pack_into(e + "IIIII", b, 0x40, 1, 0x1000, va, va, 0x1000)
    return bytes(b)


def pe(pe64, machine, entry_rva):
    b = bytearray(0x1000)
    b[0:2] = b"MZ"
    struct.pack_into("<I", b, 0x3c, 0x80)
    nt = 0x80
    b[nt:nt + 4] = b"PE\0\0"
    optsize = 240 if pe64 else 224
    struct.pack_into("<HH", b, nt + 4, machine, 1)
    struct.pack_into("<H", b, nt + 20, optsize)
    opt = nt + 24
    struct.pack_into("<H", b, opt, 0x20b if pe64 else 0x10b)
    struct.pack_into("<I", b, opt + 16, entry_rva)
    if pe64:
        struct.pack_into("<Q", b, opt + 24, 0x140000000)
    else:
        struct.pack_into("<I", b, opt + 28, 0x400000)
    struct.pack_into("<I", b, opt + 60, 0x400)
    sec = opt + optsize
    b[sec:sec + 5] = b".text"
    struct.pack_into("<IIII", b, sec + 8, 0x300, 0x1000, 0x200, 0x400)
    return bytes(b)


def macho64_main(be, cpu, entryoff):
    e = ">" if be else "<"
    b = bytearray(0x1000)
    struct.pack_into(e + "IIIIII", b, 0, 0xfeedfacf, cpu, 0, 2, 2, 72 + 24)
    seg = 32
    struct.pack_into(e + "II", b, seg, 0x19, 72)
    b[seg + 8:seg + 14] = b"__TEXT"
    struct.pack_into(e + "QQQQ", b, seg + 24, 0x100000000, 0x1000, 0, 0x1000)
    struct.pack_into(e + "IIQ", b, seg + 72, 0x80000028, 24, entryoff)
    return bytes(b)


def macho32_thread(pc):
    b = bytearray(0x1000)
    struct.pack_into("<IIIIII", b, 0, 0xfeedface, 12, 0, 2, 2, 56 + 16 + 68)
    th = 28
    struct.pack_into("<IIII", b, th, 5, 16 + 68, 1, 17)
    struct.pack_into("<I", b, th + 16 + 60, pc)
    seg = th + 16 + 68
    struct.pack_into("<II", b, seg, 1, 56)
    b[seg + 8:seg + 14] = b"__TEXT"
    struct.pack_into("<IIII", b, seg + 24, 0x4000, 0x1000, 0, 0x1000)
    return bytes(b)


def binhdr_seeds():
    files = [
        elf(True, False, 62, 0x401000, 0x401000),
        elf(True, True, 21, 0x10001000, 0x10001000),  # ppc64
        elf(False, False, 3, 0x8049000, 0x8049000, typ=3),
        elf(False, True, 8, 0x400100, 0x400000),  # mips
        elf(False, False, 40, 0x10001, 0x10000, flags=0x05000000),  # arm, Thumb entry
        elf(True, False, 183, 0x400000, 0x400000),
        pe(False, 0x14c, 0x1000), pe(True, 0x8664, 0x1010), pe(True, 0xaa64, 0x1000),
        pe(False, 0x1c4, 0x1001),
        macho64_main(False, 0x01000007, 0x100), macho64_main(True, 0x01000012, 0x80),
        macho64_main(False, 0x0100000c, 0x400), macho32_thread(0x4101),
    ]
    hello = os.path.join(VECTORS, "hello")
    if os.path.exists(hello):
        files.append(open(hello, "rb").read())
    for i, f in enumerate(files):
        # size known, a different read cut for each; sometimes unknown size or a failing read
        yield bytes([1 | ((i % 8) << 1), 0, 0]) + f
        if i % 3 == 0:
            yield bytes([0x10 | 1 | (2 << 1), 0x00, 0x08]) + f  # reads fail from 0x80 on
        if i % 4 == 1:
            yield bytes([(7 << 1), 0, 0]) + f  # a stream: size unknown


# ---- the extension's messages and authentication -------------------------------------------

def ext_req(op, body=b""):
    return bytes([op]) + struct.pack(">I", len(body)) + body


def ext_reply(op, status=0, body=b""):
    return bytes([op]) + struct.pack(">Ii", 4 + len(body), status) + body


def ext_session():
    """A client session using every extension message, and some malformed ones."""
    return (ext_req(0x10, b"\x05a") + ext_req(0x10, b"\x07b") + ext_req(0x10, b"\x05!x") + ext_req(0x10, b"\x05") +
            ext_req(0x11, struct.pack(">iQI", 3, 0, 16)) + ext_req(0x11, struct.pack(">iQI", 4, 100, 1 << 20)) +
            ext_req(0x11, struct.pack(">iQI", 9, 0, 4)) + ext_req(0x11, struct.pack(">iQI", 3, 0, (1 << 20) + 1)) +
            ext_req(0x12, struct.pack(">iQ", 4, 8) + b"abcd") + ext_req(0x12, struct.pack(">iQ", 3, 0) + b"ro") +
            ext_req(0x12, struct.pack(">iQ", 4, 1 << 30) + b"far") +
            ext_req(0x13, struct.pack(">i", 3)) + ext_req(0x13, struct.pack(">i", 77)) +
            ext_req(0x15, b"?V") + ext_req(0x15, b"b\x01\x00") + ext_req(0x15, b"L\x00\x10") + ext_req(0x15, b"E") +
            ext_req(0x15, b"e") + ext_req(0x15, b"n") + ext_req(0x15) + ext_req(0x15, b"a\0b") +
            open_req(b"c") + read_req(16) + cmd_req(b"L\x02\x00") + cmd_req(b"?V") +
            ext_req(0x14, struct.pack(">i", 3)) + ext_req(0x14, struct.pack(">i", 3)) +
            ext_req(0x16, b"n" * 32) + ext_req(0x17, b"p" * 32))


def ext_replies():
    """What our server answers the client's calls, errors included."""
    return (ext_reply(0x90, 0, struct.pack(">i", 3)) + ext_reply(0x90, -2, b"cannot open 'x': No such file") +
            ext_reply(0x91, 0, b"r" * 300) + ext_reply(0x91, 0, b"") + ext_reply(0x91, -1015, b"no such fd") +
            ext_reply(0x92, 0, struct.pack(">I", 3)) + ext_reply(0x92, -1012, b"read-only") +
            ext_reply(0x93, 0, struct.pack(">QBB", 4096, 5, 1) + b"/bin/ls") + ext_reply(0x93, -9, b"bad fd") +
            ext_reply(0x94, 0) + ext_reply(0x94, -1015, b"gone") +
            ext_reply(0x98, 0, b"out" * 100) + ext_reply(0x98, 0, b"put\n") + ext_reply(0x95, 1) +
            ext_reply(0x95, -1012, b"command refused") + ext_reply(0x95, 0) +
            probe_answer(0x000F, version=2) + b"\x84" + struct.pack(">Q", 0))


def ext_seeds():
    body = ext_session()
    for cfg in (0x02, 0x0A, 0x12, 0x1A, 0x22, 0x42, 0x82, 0xC2, 0x06):
        yield bytes([cfg]) + bytes([255, 3, 0, 40, 255, 9, 1, 200]) + body
    yield b"\x00" + bytes([255] * 8) + probe_req(0x001F, version=2) + body
    yield b"\x00" + bytes([255] * 8) + probe_req(0x0007, version=1) + ext_req(0x13, struct.pack(">i", 3))
    yield b"\x02" + bytes([255] * 8) + ext_req(0x11, b"\0" * 15)  # a malformed PREAD
    yield b"\x02" + bytes([255] * 8) + (ext_req(0x15, b"b\x03\x00") + ext_req(0x10, b"\x05a")) * 4
    # the client: each call against the replies above, with and without the grant first
    ops = [bytes(o) for o in ([1, 3, 1], [3, 1, 3], [2, 1, 44], [5, 0, 9], [4, 0, 3], [6, 0, 3], [7, 0, 0],
                              [8, 0, 3], [9, 0, 3], [10, 0, 0], [0, 0, 0], [11, 1, 12], [3, 2, 3])]
    replies = ext_replies()
    for cfg in (0x03, 0x07, 0x0B, 0x13, 0x23, 0x43, 0x01):
        yield bytes([cfg, len(ops)]) + b"".join(ops) + replies


def auth_seeds():
    nonce = bytes(range(32))
    after = (ext_req(0x10, b"\x05a") + ext_req(0x11, struct.pack(">iQI", 3, 0, 16)) + open_req(b"b") +
             read_req(8) + cmd_req(b"?V") + ext_req(0x15, b"?V") + ext_req(0x16, nonce) + ext_req(0x17, nonce))
    stock = open_req(b"sample") + read_req(16) + cmd_req(b"?V") + write_req(b"x") + seek_req(0, 4) + close_req(3)
    sizes = bytes([255, 3, 0, 40, 255, 9, 1, 200])
    for cfg in (0x02, 0x0A):
        yield bytes([cfg]) + sizes + nonce + after
    for cfg in (0x00, 0x04, 0x0C):
        yield bytes([cfg]) + sizes + stock
        yield bytes([cfg]) + sizes + ext_req(0x16, nonce) + ext_req(0x17, nonce) + after
        yield bytes([cfg]) + sizes + ext_req(0x17, nonce) + after
        yield bytes([cfg]) + sizes + ext_req(0x16, nonce) + ext_req(0x16, nonce)
    yield b"\x00" + sizes + probe_req(0x0007, version=1) + stock
    yield b"\x04" + sizes + cmd_req(b"?V") + b"\x06\x00\x00\x00\x02x\x00"
    # the client: the honest server (right proof, a wrong one, none at all), then raw bytes
    ops = bytes([0, 0, 0, 1, 5, 0, 2, 4, 16, 3, 0, 0])
    later = ext_reply(0x90, 0, struct.pack(">i", 3)) + ext_reply(0x91, 0, b"r" * 16) + ext_reply(0x95, 0)
    for cfg in (0x03, 0x07, 0x0B, 0x13, 0x73):
        yield bytes([cfg, 4]) + nonce + ops + probe_answer(0x001F, version=2) + later
    raw = (probe_answer(0x001F, version=2) + ext_reply(0x96, 0, nonce) + ext_reply(0x97, 0, nonce) + later)
    yield bytes([0x01, 4]) + nonce + ops + raw
    yield bytes([0x01, 4]) + nonce + ops + probe_answer(0x001F, version=2) + ext_reply(0x96, -1017, b"no") + later
    yield bytes([0x01, 4]) + nonce + ops + probe_answer(0x0007, version=1) + later
    yield bytes([0x01, 4]) + nonce + ops + b"\x84" + struct.pack(">Q", 0) + later


TARGETS = {
    "codec": codec_seeds,
    "server_session": server_session_seeds,
    "client": client_seeds,
    "uri": uri_seeds,
    "cmd": cmd_seeds,
    "http": http_seeds,
    "binhdr": binhdr_seeds,
    "ext": ext_seeds,
    "auth": auth_seeds,
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else CORPUS
    only = sys.argv[2:]  # target names; all when none
    for target, gen in TARGETS.items():
        if only and target not in only:
            continue
        folder = os.path.join(out, target)
        os.makedirs(folder, exist_ok=True)
        new = 0
        for seed in gen():
            path = os.path.join(folder, hashlib.sha256(seed).hexdigest())
            if not os.path.exists(path):
                with open(path, "wb") as f:
                    f.write(seed)
                new += 1
        print("%s: %d new seed(s) in %s" % (target, new, folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
