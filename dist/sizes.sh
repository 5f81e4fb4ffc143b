#!/usr/bin/env bash
# The size of rapsrv on the devices it is for: builds each configuration below (rapsrv only,
# into build-sizes/) and prints a Markdown table of the stripped executables (README.md
# shows its output). Needs the cross toolchains of ./run cross (aarch64, armhf).
#   dist/sizes.sh                    build everything, print the table
#   dist/sizes.sh --check ARCH DIR   check DIR's rapsrv (a ./run cross build) against the
#                                    limit for ARCH; exits 1 when it is larger
set -euo pipefail
cd "$(dirname "$0")/.."

# Stripped size limits of the static rapsrv without TLS and Capstone (bytes; 0: none): 200
# KiB on both ARM targets (see README.md, "Small devices").
limit() {
	case "$1" in
	armhf | aarch64) echo 204800 ;;
	*) echo 0 ;;
	esac
}

triple() {
	case "$1" in
	aarch64) echo aarch64-linux-gnu ;;
	armhf) echo arm-linux-gnueabihf ;;
	mips) echo mips-linux-gnu ;;
	x86-64 | x86-64-musl) echo "" ;;
	*) return 1 ;;
	esac
}

# stripped_size ARCH FILE: the size of FILE once stripped with ARCH's strip.
stripped_size() {
	local t tmp n
	t=$(triple "$1")
	tmp=$(mktemp)
	"${t:+$t-}strip" -o "$tmp" "$2"
	n=$(stat -c %s "$tmp")
	rm -f "$tmp"
	echo "$n"
}

# dbg_share ARCH FILE: bytes of FILE's code and data (not stripped: -g names each symbol's
# source) that come from the debugger: dbg://, the debugger commands and the gdbserver.
dbg_share() {
	local t
	t=$(triple "$1")
	"${t:+$t-}nm" -S -l "$2" | python3 -c '
import re, sys
total = 0
for line in sys.stdin:
    p = line.split()
    if len(p) < 5 or p[2] not in "tTrRdD":
        continue
    src = p[4].rsplit("/", 1)[-1].split(":")[0]
    if re.match(r"(dbg.*|io_dbg|gdb.*|debug_.*|servers_gdb)\.c$", src):
        total += int(p[1], 16)
print(total)'
}

if [ "${1:-}" = --check ]; then
	if [ $# -ne 3 ] || ! triple "$2" >/dev/null; then
		echo "usage: dist/sizes.sh --check ARCH DIR" >&2
		exit 64
	fi
	n=$(stripped_size "$2" "$3/binr/rapsrv/rapsrv")
	max=$(limit "$2")
	echo "sizes: rapsrv ($2, static, no TLS, stripped): $n bytes ($((n / 1024)) KiB), limit ${max:-none}" >&2
	if [ "$max" -gt 0 ] && [ "$n" -gt "$max" ]; then
		echo "error: rapsrv for $2 is $n bytes, over its limit of $max" >&2
		exit 1
	fi
	exit 0
fi

# name|options: every build is static and --buildtype=minsize, without tests or man pages.
# The debugger is in every build (there is no option to leave it out): each cell also says
# how much of the executable it takes (dbg://, the d commands, the gdbserver).
CONFIGS=(
	"no TLS, no Capstone|-Dopenssl=disabled -Dcapstone=disabled"
	"TLS (OpenSSL, shared)|-Dopenssl=enabled -Dcapstone=disabled"
	"TLS and Capstone (shared)|-Dopenssl=enabled -Dcapstone=enabled"
)
ARCHES=(aarch64 armhf x86-64 x86-64-musl)

# size ARCH NAME OPTIONS: builds the configuration and prints its stripped size, or "n/a"
# where ARCH has no such libraries (the cross builds have neither OpenSSL nor Capstone).
size() {
	local arch=$1 name=$2 dir cross=()
	shift 2
	dir=build-sizes/$arch-$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-')
	case "$arch" in
	x86-64) ;;
	x86-64-musl)
		# Static with musl, its C library included (./run cross musl); no OpenSSL there.
		case "$*" in *openssl=enabled*) echo "n/a"; return 0 ;; esac
		command -v musl-gcc >/dev/null || { echo "n/a"; return 0; }
		mkdir -p "$dir.headers"
		ln -sfn /usr/include/linux "$dir.headers/linux"
		ln -sfn /usr/include/asm-generic "$dir.headers/asm-generic"
		ln -sfn /usr/include/x86_64-linux-gnu/asm "$dir.headers/asm"
		cross=(--cross-file dist/cross/x86_64-linux-musl.ini "-Dc_args=['-idirafter','$PWD/$dir.headers']")
		;;
	*) cross=(--cross-file "dist/cross/$(triple "$arch").ini") ;;
	esac
	if [ ! -f "$dir/build.ninja" ]; then
		# shellcheck disable=SC2068 # the options are words
		if ! meson setup "$dir" "${cross[@]}" -Ddefault_library=static --buildtype=minsize -Dlibedit=disabled \
			-Dseccomp=disabled -Dzlib=disabled -Dtests=disabled -Dman=disabled $@ >"$dir.log" 2>&1; then
			rm -rf "$dir"
			echo "n/a"
			return 0
		fi
	fi
	ninja -C "$dir" binr/rapsrv/rapsrv >>"$dir.log" 2>&1 || { echo "build failed"; return 0; }
	local n d
	n=$(stripped_size "$arch" "$dir/binr/rapsrv/rapsrv")
	d=$(dbg_share "$arch" "$dir/binr/rapsrv/rapsrv")
	echo "$n ($((n / 1024)) KiB; dbg $((d / 1024)) KiB)"
}

mkdir -p build-sizes
printf '| rapsrv, static, minsize, stripped (bytes) |'
for a in "${ARCHES[@]}"; do printf ' %s |' "$a"; done
printf '\n|---|'
for _ in "${ARCHES[@]}"; do printf '%s' '---:|'; done
printf '\n'
for c in "${CONFIGS[@]}"; do
	name=${c%%|*} opts=${c#*|}
	printf '| %s |' "$name"
	for a in "${ARCHES[@]}"; do
		# shellcheck disable=SC2086
		printf ' %s |' "$(size "$a" "$name" $opts)"
	done
	printf '\n'
done
