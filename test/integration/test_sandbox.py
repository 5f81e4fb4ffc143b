"""rapsrv confines itself once started (Landlock, seccomp; binr/rapsrv/sandbox.c): what it
logs about it, and that the kernel stops what rapsrv's own checks were made to let through.
rapsrv-test-hooks (meson -Dtest_hooks=true) is rapsrv with those checks switched off on
request and a command that makes a forbidden system call; every such case first shows,
with --no-sandbox, that the hook really gets through, so that the sandboxed run can fail."""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import raplib  # noqa: E402
from raplib import OPEN, REPLY  # noqa: E402

SAMPLE = raplib.sample_bytes()
HOOKED = os.environ.get("RAPSRV_TEST_HOOKS_BIN", "")  # empty: this build has no test hooks
HAVE_SECCOMP = raplib._build_fact("RAP_HAVE_SECCOMP")
SANITIZED = os.environ.get("RAP_SANITIZE", "none") not in ("", "none")
SECCOMP_ON = HAVE_SECCOMP and not SANITIZED
NO_HOOKS = "built without -Dtest_hooks=true (no rapsrv-test-hooks)"
NO_SECCOMP = "no seccomp filter in this build (without libseccomp, or a sanitizer build)"


def landlock_abi():
    """The running kernel's Landlock ABI version, 0 when it has none. (A fact about the
    machine, not the build: asked of the kernel as rapsrv does.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    SYS_landlock_create_ruleset, VERSION = 444, 1  # the same number on every architecture
    abi = libc.syscall(SYS_landlock_create_ruleset, None, ctypes.c_size_t(0), ctypes.c_uint32(VERSION))
    return max(abi, 0)


LANDLOCK = landlock_abi()
NO_LANDLOCK = "the kernel has no Landlock"


def exchange(srv, *reqs):
    s = srv.connect()
    try:
        s.sendall(b"".join(reqs))
        return raplib.recv_messages(s, len(reqs))
    finally:
        s.close()


def text(msg):
    return msg.payload.rstrip(b"\0").decode(errors="replace").rstrip("\n")


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    return None


class Hooked(raplib.Rapsrv):
    """rapsrv-test-hooks with the given hooks on."""

    def __init__(self, root, *args, hooks="bypass-confinement,syscall"):
        saved_bin, saved_env = raplib.RAPSRV, os.environ.get("RAPSRV_TEST_HOOKS")
        raplib.RAPSRV = HOOKED
        os.environ["RAPSRV_TEST_HOOKS"] = hooks
        try:
            super().__init__(root, *args)
        finally:
            raplib.RAPSRV = saved_bin
            if saved_env is None:
                del os.environ["RAPSRV_TEST_HOOKS"]
            else:
                os.environ["RAPSRV_TEST_HOOKS"] = saved_env


class Startup(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()

    def test_logs_what_is_in_force(self):
        for args, mode in (([], "read-only"), (["-w"], "read and written")):
            with raplib.Rapsrv(self.root.path, *args) as srv:
                log = srv.logtext()
                pid = srv.proc.pid
                if LANDLOCK:
                    self.assertRegex(log, r"debug: sandbox: Landlock ABI %d: files %s beneath %s"
                                     % (LANDLOCK, mode, re.escape(self.root.path)))
                else:
                    self.assertIn("warning: sandbox: Landlock is not available", log)
                if SECCOMP_ON:
                    self.assertRegex(log, r"debug: sandbox: seccomp: \d+ system calls allowed; "
                                          r"any other stops rapsrv \(SIGSYS\)")
                    self.assertEqual(proc_status(pid, "Seccomp"), "2")  # filter mode
                elif not HAVE_SECCOMP:
                    self.assertIn("warning: sandbox: seccomp is not in this build", log)
                else:
                    self.assertIn("debug: sandbox: seccomp skipped in this sanitizer build", log)
                self.assertEqual(proc_status(pid, "NoNewPrivs"), "1")

    def test_no_sandbox(self):
        with raplib.Rapsrv(self.root.path, "--no-sandbox") as srv:
            self.assertIn("warning: sandbox off (--no-sandbox)", srv.logtext())
            self.assertEqual(proc_status(srv.proc.pid, "Seccomp"), "0")
            self.assertNotIn("sandbox: Landlock", srv.logtext())


@unittest.skipUnless(HOOKED, NO_HOOKS)
@unittest.skipUnless(LANDLOCK, NO_LANDLOCK)
class LandlockHolds(unittest.TestCase):
    """With libio's and libcore's confinement bypassed, Landlock alone keeps the daemon
    beneath --root, and read-only there without --write."""

    def setUp(self):
        self.root = raplib.TempRoot()
        self.addCleanup(self.root.cleanup)
        self.outside = tempfile.mkdtemp(prefix="rap-outside-")
        self.addCleanup(shutil.rmtree, self.outside, True)

    def attempt(self, *args):
        """Opens /etc/passwd, opens a file beneath the root for writing and writes to it,
        and redirects output into a new file beneath the root and one outside it."""
        with Hooked(self.root.path, "--cmd", "all", *args) as srv:
            r = exchange(srv, raplib.enc_open(5, "/etc/passwd"), raplib.enc_read(8),
                         raplib.enc_open(7, os.path.join(self.root.path, "sample-rw.bin")),
                         raplib.enc_write(b"XY"),
                         raplib.enc_cmd("p8 2 > %s/inside.txt" % self.root.path),
                         raplib.enc_cmd("p8 2 > %s/outside.txt" % self.outside))
            self.assertTrue(srv.wait_log(r"rapsrv-test-hooks: sessions bypass"), srv.logtext())
        return {
            "passwd": r[0].value != 0xffffffff and r[1].payload.startswith(b"root:"),
            "write": r[2].value != 0xffffffff and r[3].value == 2,
            "written": self.root.read("sample-rw.bin")[:2] == b"XY",
            "inside": os.path.exists(os.path.join(self.root.path, "inside.txt")),
            "outside": os.path.exists(os.path.join(self.outside, "outside.txt")),
        }

    def test_hook_gets_through_without_the_sandbox(self):
        got = self.attempt("--no-sandbox")
        self.assertEqual(got, dict(passwd=True, write=True, written=True, inside=True, outside=True))

    def test_read_only_root(self):
        got = self.attempt()
        self.assertEqual(got, dict(passwd=False, write=False, written=False, inside=False, outside=False))

    def test_writable_root(self):
        got = self.attempt("-w")
        self.assertEqual(got, dict(passwd=False, write=True, written=True, inside=True, outside=False))


class Outgoing(unittest.TestCase):
    """Connections out: allowed with a scheme that makes them (--allow-scheme file,rap: a
    relay), stopped otherwise even when rapsrv's scheme check is bypassed."""

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()
        cls.upstream = raplib.Rapsrv(cls.root.path)

    @classmethod
    def tearDownClass(cls):
        cls.upstream.stop()
        cls.root.cleanup()

    def relayed(self, srv, host="127.0.0.1"):
        uri = "rap://%s:%d//%s/sample.bin" % (host, self.upstream.port, self.root.path)
        return exchange(srv, raplib.enc_open(5, uri), raplib.enc_seek(0, 0x30), raplib.enc_read(16))

    def test_clients_never_connect_out(self):
        # Even with rap in --allow-scheme, a served session opens no network file: the
        # policy refuses it before any connection (the relay of a later issue connects
        # for the daemon, not for a client).
        with raplib.Rapsrv(self.root.path, "--allow-scheme", "file,rap") as srv:
            r = self.relayed(srv)
            self.assertEqual(r[0].svalue, -1)
            self.assertTrue(srv.alive())

    @unittest.skipUnless(HOOKED, NO_HOOKS)
    def test_relay_with_a_scheme_that_connects(self):
        # With rapsrv's own checks bypassed, a scheme that connects out makes the sandbox
        # let connections through (name resolution included).
        with Hooked(self.root.path, "--allow-scheme", "file,rap", hooks="bypass-confinement") as srv:
            for host in ("127.0.0.1", "localhost"):  # localhost: /etc/hosts through NSS
                r = self.relayed(srv, host)
                self.assertEqual(r[2].payload, SAMPLE[0x30:0x40], host)
            self.assertTrue(srv.alive())

    @unittest.skipUnless(HOOKED, NO_HOOKS)
    def test_connection_stopped_without_one(self):
        with Hooked(self.root.path, "--no-sandbox", hooks="bypass-confinement") as srv:
            self.assertEqual(self.relayed(srv)[2].payload, SAMPLE[0x30:0x40])
        if not SECCOMP_ON and LANDLOCK < 4:
            self.skipTest("neither the filter nor Landlock's TCP rules (ABI 4) are here")
        with Hooked(self.root.path, hooks="bypass-confinement") as srv:
            if SECCOMP_ON:  # the filter stops the socket before Landlock sees a connect
                with self.assertRaises(ConnectionError):
                    self.relayed(srv)
                self.assertEqual(srv.proc.wait(raplib.DEADLINE), -signal.SIGSYS)
                self.assertTrue(srv.wait_log(r"critical: sandbox: system call socket "))
            else:
                r = self.relayed(srv)
                self.assertEqual(r[0].value, 0xffffffff)
                self.assertTrue(srv.wait_log(r"Permission denied"), srv.logtext()[-1000:])


@unittest.skipUnless(LANDLOCK, NO_LANDLOCK)
class ShellCommands(unittest.TestCase):
    """'!' commands inherit the sandbox: the system's programs run, files outside the root
    stay out of reach (and, with the filter, forbidden system calls end the command)."""

    def setUp(self):
        self.root = raplib.TempRoot()
        self.addCleanup(self.root.cleanup)
        self.outside = tempfile.mkdtemp(prefix="rap-outside-")
        self.addCleanup(shutil.rmtree, self.outside, True)
        with open(os.path.join(self.outside, "secret"), "w") as f:
            f.write("not for clients\n")

    def run_shell(self, *cmds, args=()):
        with raplib.Rapsrv(self.root.path, "--cmd", "all", "--allow-shell", *args) as srv:
            r = exchange(srv, *[raplib.enc_cmd(c) for c in cmds])
            self.assertTrue(srv.alive())
            return [text(m) for m in r]

    def test_files_outside_the_root(self):
        # (A shell command's standard error reaches the client only when redirected.)
        cmds = ("!cat %s/secret 2>&1" % self.outside, "!head -c 9 %s/sample.bin" % self.root.path,
                "!id -un", "!exec 2>&1 && echo new > %s/new.txt" % self.root.path,
                "!cat /etc/shadow 2>&1")
        confined = self.run_shell(*cmds)
        self.assertFalse(os.path.exists(os.path.join(self.root.path, "new.txt")))
        free = self.run_shell(*cmds, args=["--no-sandbox"])
        self.assertEqual(free[0], "not for clients")
        self.assertTrue(os.path.exists(os.path.join(self.root.path, "new.txt")))
        self.assertNotIn("not for clients", confined[0])
        self.assertIn("Permission denied", confined[0])
        self.assertEqual(confined[1], SAMPLE[:9].decode())
        self.assertEqual(confined[2], free[2])  # /etc/passwd is there for programs
        self.assertEqual(free[4][:5], "root:")  # /etc/shadow is not
        self.assertNotIn("root:", confined[4])
        self.assertIn("cannot create", confined[3])
        self.assertIn("Permission denied", confined[3])

    @unittest.skipUnless(SECCOMP_ON, NO_SECCOMP)
    @unittest.skipUnless(shutil.which("unshare"), "no unshare(1)")
    def test_forbidden_call_ends_the_command_only(self):
        out = self.run_shell("!exec 2>&1 && unshare --user true", "?e still here")
        self.assertIn("Bad system call", out[0])  # the shell's word for a child's SIGSYS
        self.assertEqual(out[1], "still here")


@unittest.skipUnless(HOOKED, NO_HOOKS)
@unittest.skipUnless(SECCOMP_ON, NO_SECCOMP)
class SeccompHolds(unittest.TestCase):
    """A system call outside the allow-list stops the daemon with SIGSYS, after one line
    naming it; the calls that --allow-shell and dbg:// add are allowed with them only."""

    @classmethod
    def setUpClass(cls):
        cls.root = raplib.TempRoot()

    @classmethod
    def tearDownClass(cls):
        cls.root.cleanup()

    def call(self, name, *args, call=None):
        """Makes the daemon call name; returns its answer, or None when it died of the
        system call named call (by default name itself)."""
        srv = Hooked(self.root.path, *args, hooks="syscall")
        try:
            s = srv.connect()
            s.sendall(raplib.enc_cmd("#syscall " + name))
            try:
                return text(raplib.recv_messages(s, 1)[0])
            except ConnectionError:
                self.assertEqual(srv.proc.wait(raplib.DEADLINE), -signal.SIGSYS)
                self.assertTrue(srv.wait_log(r"critical: sandbox: system call %s \(\d+\) is not allowed; "
                                             r"stopping \(SIGSYS\)" % (call or name)), srv.logtext()[-1000:])
                return None
            finally:
                s.close()
        finally:
            srv.stop()

    def test_hook_gets_through_without_the_sandbox(self):
        self.assertEqual(self.call("mount", "--no-sandbox"), "mount returned -1 (No such file or directory)")
        self.assertEqual(self.call("ptrace", "--no-sandbox"), "ptrace returned -1 (No such process)")
        self.assertEqual(self.call("fork", "--no-sandbox"), "fork returned 0 (success)")

    def test_never_allowed(self):
        for args in ([], ["--cmd", "all", "--allow-shell"], ["--allow-scheme", "file,dbg"]):
            self.assertIsNone(self.call("mount", *args), args)

    def test_debugger_calls_only_with_dbg(self):
        self.assertIsNone(self.call("ptrace"))
        self.assertIsNone(self.call("ptrace", "--cmd", "all", "--allow-shell"))
        self.assertEqual(self.call("ptrace", "--allow-scheme", "file, dbg"),
                         "ptrace returned -1 (No such process)")
        self.assertIsNone(self.call("process_vm_readv"))
        self.assertIsNone(self.call("process_vm_readv", "--cmd", "all", "--allow-shell"))
        self.assertEqual(self.call("process_vm_readv", "--allow-scheme", "file,dbg"),
                         "process_vm_readv returned -1 (No such process)")

    def test_threads_always_processes_only_with_shell_or_dbg(self):
        # A worker pool's threads: clone with CLONE_THREAD (glibc tries clone3 first, and
        # the filter's ENOSYS sends it to clone).
        self.assertEqual(self.call("thread"), "thread returned 0 (success)")
        self.assertIsNone(self.call("fork", call="clone"))  # glibc's fork is a clone
        for args in (["--cmd", "all", "--allow-shell"], ["--allow-scheme", "file,dbg"]):
            self.assertEqual(self.call("fork", *args), "fork returned 0 (success)")

    def test_exec_only_with_shell_or_dbg(self):
        self.assertIsNone(self.call("execve"))
        self.assertIsNone(self.call("execve", "--allow-scheme", "file,malloc"))
        for args in (["--cmd", "all", "--allow-shell"], ["--allow-scheme", "file,dbg"]):
            self.assertEqual(self.call("execve", *args), "execve returned -1 (No such file or directory)")


@unittest.skipUnless(raplib.HAVE_OPENSSL, raplib.NO_OPENSSL)
@unittest.skipUnless(shutil.which("openssl"), "openssl CLI not installed")
class Reload(unittest.TestCase):
    """SIGHUP reads renewed certificates from inside the sandbox, also when the renewal
    replaced the files (rename) or moved a symbolic link to a new file (certbot's live/)."""

    def setUp(self):
        self.root = raplib.TempRoot()
        self.addCleanup(self.root.cleanup)
        self.d = tempfile.mkdtemp(prefix="rap-sandbox-tls-")
        self.addCleanup(shutil.rmtree, self.d, True)
        self.ca = self.make_cert("ca", None)

    def openssl(self, *args):
        subprocess.run(["openssl", *args], cwd=self.d, check=True, capture_output=True, timeout=60)

    def make_cert(self, name, ca):
        """A P-256 key and certificate for 127.0.0.1 in one PEM file; self-signed for ca=None."""
        key, pem = name + ".key", name + ".pem"
        if ca is None:
            self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                         "-days", "2", "-subj", "/CN=" + name, "-keyout", key, "-out", pem)
            return os.path.join(self.d, pem)
        with open(os.path.join(self.d, name + ".ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        self.openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-subj", "/CN=" + name, "-keyout", key, "-out", name + ".csr")
        self.openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                     "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", pem)
        combined = os.path.join(self.d, name + "-combined.pem")
        with open(combined, "w") as out:
            for part in (pem, key):
                with open(os.path.join(self.d, part)) as f:
                    out.write(f.read())
        return combined

    def name_seen(self):
        """The common name of the certificate a client is shown now (verified by the CA)."""
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.srv.port,
                            "-CAfile", self.ca],
                           input=b"", capture_output=True, timeout=raplib.DEADLINE)
        self.assertIn(b"Verify return code: 0 (ok)", r.stdout)
        m = re.search(rb"subject=\s*CN\s*=\s*(\S+)", r.stdout)
        return m.group(1).decode() if m else r.stdout[-300:]

    def reload(self):
        self.srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.srv.wait_log(r"SIGHUP: reloaded 1 certificate\(s\), 0 failed"), self.srv.logtext()[-1500:])

    def test_replaced_by_rename(self):
        live = os.path.join(self.d, "live")
        os.mkdir(live)
        first = self.make_cert("first", "ca")
        shutil.copy(first, os.path.join(live, "server.pem"))
        with raplib.Rapsrv(self.root.path, "--tls-cert", os.path.join(live, "server.pem"), scheme="raps") as srv:
            self.srv = srv
            self.assertEqual(self.name_seen(), "first")
            second = self.make_cert("second", "ca")
            shutil.copy(second, os.path.join(live, ".new.pem"))
            os.rename(os.path.join(live, ".new.pem"), os.path.join(live, "server.pem"))
            self.reload()
            self.assertEqual(self.name_seen(), "second")

    def test_symbolic_link_moved(self):
        live, archive = os.path.join(self.d, "live"), os.path.join(self.d, "archive")
        os.mkdir(live)
        os.mkdir(archive)
        shutil.copy(self.make_cert("first", "ca"), os.path.join(archive, "cert1.pem"))
        link = os.path.join(live, "server.pem")
        os.symlink("../archive/cert1.pem", link)
        with raplib.Rapsrv(self.root.path, "--tls-cert", link, scheme="raps") as srv:
            self.srv = srv
            self.assertEqual(self.name_seen(), "first")
            shutil.copy(self.make_cert("second", "ca"), os.path.join(archive, "cert2.pem"))
            os.symlink("../archive/cert2.pem", os.path.join(live, ".new"))
            os.rename(os.path.join(live, ".new"), link)
            self.reload()
            self.assertEqual(self.name_seen(), "second")


if __name__ == "__main__":
    unittest.main(verbosity=2)
