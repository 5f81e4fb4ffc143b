#!/bin/sh
# The benchmark across an emulated slow link: rapbench's own link (bench/link.c) with a
# 20 ms round-trip time and 100 Mbit/s each way between every client and the server (raw
# TCP baselines included), and the stock radare2 client's binary-loading open replayed
# from its recorded requests (test/vectors/r2/open-ro.txt), one per round trip, directly
# and through a caching relay of rapbench's own next to the client (--relay: what rapsrv
# --upstream runs), with bulk reads through the relay and with the rap:// plugin (rapcli's
# reads) over the whole 64 MiB file. Everything else is bench/run-local.sh's: a fresh
# rapsrv on loopback, a random file, cleanup.
#
#   bench/wan.sh                     # 20 ms, 100 Mbit/s
#   bench/wan.sh --rtt 50 --rate 10  # later options win
#
# The stock bulk mode moves 4 KiB per round trip (about 0.2 MB/s at 20 ms), so the bulk
# size is 4 MiB here.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
WRITE=${WRITE:-0} SIZE_MIB=${SIZE_MIB:-64} PIN=${PIN:-0} exec "$top/bench/run-local.sh" \
	--rtt 20 --rate 100 --bytes 4M --small 200 --max-seconds 120 \
	--open-transcript "$top/test/vectors/r2/open-ro.txt" --relay --relay-bytes 64M "$@"
