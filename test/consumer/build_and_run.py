"""Compiles consumer.c against each library with the uninstalled pkg-config files, the way an
outside project would, and runs it."""
import os
import subprocess
import sys
import tempfile

src, pcdir, cc, sanitize = sys.argv[1:5]
env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
flags = subprocess.run(["pkg-config", "--cflags", "--libs", "rap-core", "rap-io", "rap"],
                       env=env, check=True, capture_output=True, text=True).stdout.split()
libdirs = [f[2:] for f in flags if f.startswith("-L")]
with tempfile.TemporaryDirectory() as d:
    exe = os.path.join(d, "consumer")
    # Libraries built with sanitizers need the consumer linked with the same runtime.
    san = ["-fsanitize=" + sanitize] if sanitize not in ("", "none") else []
    subprocess.run([cc, "-std=c11", "-Wall", "-Werror", src, "-o", exe] + san + flags, check=True)
    r = subprocess.run([exe], env=dict(os.environ, LD_LIBRARY_PATH=":".join(libdirs)),
                       capture_output=True, text=True, timeout=30)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    if r.returncode != 0 or "consumer ok" not in r.stdout:
        sys.exit("consumer failed with status %d" % r.returncode)
