#!/bin/sh
# What ./run serve does once rap is built: writes a sample file into DIR, checks that the
# port is free, prints how to connect, and becomes rapsrv serving DIR read-only on
# 127.0.0.1 (Ctrl-C stops it).
#
#   dist/serve-sample.sh RAPSRV RAPCLI DIR      # the rapsrv and rapcli executables to use
#
# Environment: RAP_PORT, the port (default 9999).
# Exit status: rapsrv's, or 64 for a bad RAP_PORT or usage, 69 when the port is taken.
set -eu

if [ $# -ne 3 ]; then
	echo "usage: dist/serve-sample.sh RAPSRV RAPCLI DIR" >&2
	exit 64
fi
rapsrv=$1 rapcli=$2 dir=$3
port=${RAP_PORT:-9999}

case $port in
'' | *[!0-9]* | 0*) port_ok=false ;;
*) [ ${#port} -le 5 ] && [ "$port" -le 65535 ] && port_ok=true || port_ok=false ;;
esac
if [ "$port_ok" != true ]; then
	echo "run: RAP_PORT must be a port number from 1 to 65535, not '$port'" >&2
	exit 64
fi

# Bound and listened to as rapsrv will (SO_REUSEADDR), and given back at once: the port is
# checked before anything says how to connect to it. (Something that takes the port in the
# moment between this and rapsrv's start makes rapsrv report it and exit 69.)
status=0
python3 - "$port" <<'PY' || status=$?
import errno, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
except OSError as e:
    if e.errno == errno.EADDRINUSE:
        sys.exit(3)
    print("run: cannot listen on 127.0.0.1:%s: %s" % (sys.argv[1], e.strerror), file=sys.stderr)
    sys.exit(4)
PY
case $status in
0) ;;
3)
	echo "run: port $port on 127.0.0.1 is in use; set RAP_PORT to a free port," \
		"e.g. RAP_PORT=$((port == 65535 ? 9998 : port + 1)) ./run serve" >&2
	exit 69
	;;
*) exit 69 ;;
esac

mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P) # absolute: the URIs below name the file by its absolute path
# The transcripts' sample: 16-byte records that name their own offset.
python3 -c '
import sys
open(sys.argv[1] + "/sample.bin", "wb").write(b"".join(b"@%08x|rap2!\n" % o for o in range(0, 131072, 16)))
' "$dir"
echo "Files in this directory are served read-only by ./run serve." >"$dir/README.txt"

cat <<MSG
rapsrv is starting on 127.0.0.1:$port, serving $dir read-only.
Connect with:
  r2 rap://127.0.0.1:$port/$dir/sample.bin
  $rapcli rap://127.0.0.1:$port/$dir/sample.bin
  $rapcli -c 'px 64' rap://127.0.0.1:$port/$dir/sample.bin
Stop it with Ctrl-C.
MSG
exec "$rapsrv" -r "$dir" "127.0.0.1:$port"
