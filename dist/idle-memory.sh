#!/usr/bin/env bash
# The small rapsrv's memory at rest, natively (README.md, "Small devices"): the benchmark
# (bench/run-local.sh: a fresh server, rapbench's idle-sessions phase only) against RAPSRV,
# then its idle RSS is held to 1 MiB and what each idle session adds to 4 KiB.
#   dist/idle-memory.sh RAPSRV [BUILD]   BUILD: the native build rapbench comes from
#                                        (default: build)
# Prints the figures; exits 1 when one is over its limit, 2 when the benchmark fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
	echo "usage: dist/idle-memory.sh RAPSRV [BUILD]" >&2
	exit 64
fi
rapsrv=$(realpath "$1")
build=$(realpath "${2:-build}")
IDLE_RSS_MAX_KIB=1024
SESSION_MAX_KIB=4

out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! RAPSRV=$rapsrv BUILD=$build WRITE=0 SIZE_MIB=1 bench/run-local.sh --json --bytes 0 --small 0 --heavy 0 --polite 0 --search-bytes 0 \
	--sessions 1000 >"$out"; then
	echo "idle-memory: the benchmark failed" >&2
	exit 2
fi
python3 - "$out" "$IDLE_RSS_MAX_KIB" "$SESSION_MAX_KIB" "$rapsrv" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rss_max, session_max, exe = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
idle, pss = r["server_idle_rss_kib"], r["server_idle_pss_kib"]
per = r["rap"]["sessions"]["rss_per_session_kib"]
held = r["rap"]["sessions"]["held"]
print("idle-memory: %s: idle RSS %d KiB (PSS %d KiB; limit %d KiB), %.2f KiB per idle session "
      "(%d held; limit %d KiB)" % (exe, idle, pss, rss_max, per, held, session_max))
bad = []
if idle < 0 or idle > rss_max:
    bad.append("idle RSS %d KiB is over %d KiB" % (idle, rss_max))
if held < 1 or per < 0 or per > session_max:
    bad.append("an idle session takes %.2f KiB (%d held), over %d KiB" % (per, held, session_max))
for b in bad:
    print("error: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
