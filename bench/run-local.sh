#!/bin/sh
# Benchmarks a freshly started rapsrv on loopback: builds what is missing, serves a random
# file from a temporary directory, runs rapbench against it with the server's pid (so that
# the server's memory per session is reported), then stops the server and cleans up.
# Writes are measured into a second file of that directory, through this server (rapsrv
# -w) and through a second one started with -w --sync on the same directory: their ratio
# is what --sync costs (rapsrv(8), --sync).
#
# A fresh server matters: RSS only grows, so memory freed by an earlier run would be reused
# by the sessions and hide their cost. With two CPUs or more the server runs on CPU 1 and
# rapbench gets --cpus 0,1, so that RAP and raw TCP are measured with the same placement
# (unpinned, the scheduler decides per run whether peers share a core, which moves the
# small-read ratio between about 0.5 and 0.8 on a 2-core machine).
#
#   bench/run-local.sh                      # the default run
#   bench/run-local.sh --json --sessions 5000
#
# Arguments go to rapbench. Environment: BUILD (build directory, default ./build),
# RAPSRV (a rapsrv executable to use instead of building one), SIZE_MIB (file size, 64),
# PIN=0 (do not pin), WRITE=0 (no write phases, no second server).
# Exit status: rapbench's, or 69 when the server does not start, 70 when the build fails.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
size_mib=${SIZE_MIB:-64}

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$top" >/dev/null
fi
targets=bench/rapbench
[ -n "${RAPSRV:-}" ] || targets="$targets binr/rapsrv/rapsrv"
# shellcheck disable=SC2086 # two target names, split on purpose
if ! ninja -C "$build" $targets >"$build/run-local-build.log" 2>&1; then
	echo "run-local: build failed (full log: $build/run-local-build.log):" >&2
	tail -n 20 "$build/run-local-build.log" >&2
	exit 70
fi
rapsrv=${RAPSRV:-$build/binr/rapsrv/rapsrv}
rapbench=$build/bench/rapbench

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rapbench.XXXXXX")
pid=
sync_pid=

# kill -0 also succeeds on a zombie, which a server that exited at once is until reaped.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)
	[ "$state" != Z ]
}

# shellcheck disable=SC2317 # run from the EXIT trap
stop_server() { # PID
	[ -n "$1" ] || return 0
	if alive "$1"; then
		kill -TERM "$1" 2>/dev/null || true
		# A server stuck in its shutdown still must not keep us waiting.
		( sleep 5; kill -KILL "$1" 2>/dev/null ) &
		killer=$!
		wait "$1" 2>/dev/null || true
		kill "$killer" 2>/dev/null || true
		wait "$killer" 2>/dev/null || true
	else
		wait "$1" 2>/dev/null || true
	fi
}

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
	stop_server "$pid"
	stop_server "$sync_pid"
	pid=''
	sync_pid=''
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

head -c $((size_mib * 1048576)) /dev/urandom >"$tmp/data.bin"

pin_srv=
pin_args=
if [ "${PIN:-1}" != 0 ] && command -v taskset >/dev/null 2>&1 &&
	[ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]; then
	pin_srv="taskset -c 1"
	pin_args="--cpus 0,1"
fi

# The port a server logged in LOG, waiting up to 10 s while PID lives; exits 69 without one.
port_of() { # PID LOG
	p=
	tries=0
	while [ $tries -lt 100 ]; do
		p=$(sed -n 's|.*listening on rap://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$2" |
			head -n 1)
		[ -n "$p" ] && break
		alive "$1" || break
		sleep 0.1
		tries=$((tries + 1))
	done
	if [ -z "$p" ]; then
		echo "run-local: $rapsrv did not report 'listening on rap://127.0.0.1:PORT' within" \
			"10 s; its log:" >&2
		cat "$2" >&2
		exit 69
	fi
	echo "$p"
}

write_args=
wflag=
if [ "${WRITE:-1}" != 0 ]; then
	head -c $((16 * 1048576)) /dev/zero >"$tmp/write.bin"
	wflag=-w
	# shellcheck disable=SC2086 # empty, or a command and its arguments
	$pin_srv "$rapsrv" -r "$tmp" -w --sync 127.0.0.1:0 2>"$tmp/rapsrv-sync.log" &
	sync_pid=$!
	sync_port=$(port_of "$sync_pid" "$tmp/rapsrv-sync.log")
	write_args="--write $tmp/write.bin --sync-server $sync_port"
	echo "run-local: rapsrv --sync pid $sync_pid on 127.0.0.1:$sync_port" >&2
fi

# shellcheck disable=SC2086 # empty, or a command and its arguments
$pin_srv "$rapsrv" -r "$tmp" $wflag 127.0.0.1:0 2>"$tmp/rapsrv.log" &
pid=$!
port=$(port_of "$pid" "$tmp/rapsrv.log")
echo "run-local: rapsrv pid $pid serving $tmp on 127.0.0.1:$port" >&2

set +e
# shellcheck disable=SC2086 # empty, or options and their values
"$rapbench" --server-pid "$pid" $pin_args $write_args "$@" "127.0.0.1:$port" "$tmp/data.bin"
rc=$?
set -e

# The log goes with the temporary directory, so show its end while it can explain something.
if ! alive "$pid"; then
	echo "run-local: rapsrv exited during the run; the end of its log:" >&2
	tail -n 20 "$tmp/rapsrv.log" >&2
	[ "$rc" -ne 0 ] || rc=69
elif [ "$rc" -ne 0 ]; then
	echo "run-local: rapbench exited $rc; the end of rapsrv's log:" >&2
	tail -n 20 "$tmp/rapsrv.log" >&2
fi
exit "$rc"
