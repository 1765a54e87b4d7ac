#!/usr/bin/env bash
# bench/lib/fetch-postfix.sh [DEST] — unpack Debian's postfix package into
# DEST (default bench/out/postfix-root) without installing it: postfix
# conflicts with exim4, and the benchmarks (bench/ingest.sh,
# bench/relay.sh) and the end-to-end tests (examples/mta, smtp-sink) only
# need its programs. Does nothing when DEST/usr/sbin/smtp-source exists
# already, except making sure the shared libraries postfix links against
# are installed. The .deb is fetched with `apt-get download` into
# DEST/../dl. DEST/VERSION holds the package version, DEST/LIBDEPS the
# library packages it needs.
#
# Run the programs with LD_LIBRARY_PATH=DEST/usr/lib/postfix.
# Installing the libraries needs root (sudo is used when not root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PF=${1:-$ROOT/bench/out/postfix-root}
DL=$(dirname "$PF")/dl

export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C

die() {
	printf 'fetch-postfix.sh: FATAL: %s\n' "$*" >&2
	exit 1
}

SUDO=()
[[ $(id -u) == 0 ]] || SUDO=(sudo)
APT_UPDATED=

apt_update() {
	[[ -n $APT_UPDATED ]] && return 0
	"${SUDO[@]}" apt-get update -qq
	APT_UPDATED=1
}

if [[ ! -x $PF/usr/sbin/smtp-source ]]; then
	rm -rf "$DL" "$PF" "$PF.tmp"
	mkdir -p "$DL"
	printf 'fetching postfix with apt-get download into %s\n' "$DL"
	if ! (cd "$DL" && apt-get download -qq postfix 2>/dev/null); then
		apt_update
		(cd "$DL" && apt-get download -qq postfix 2>/dev/null) || die "apt-get download postfix failed"
	fi
	deb=$(ls "$DL"/postfix_*.deb)
	dpkg-deb -x "$deb" "$PF.tmp"
	dpkg-deb -f "$deb" Version >"$PF.tmp/VERSION"
	# The shared libraries postfix links against (not postfix itself).
	dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -n 's/^ *\(lib[^ ]*\).*/\1/p' >"$PF.tmp/LIBDEPS"
	mv "$PF.tmp" "$PF"
fi

missing=()
while read -r p; do
	[[ -n $p ]] || continue
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done <"$PF/LIBDEPS"
if ((${#missing[@]})); then
	printf 'installing: %s\n' "${missing[*]}"
	apt_update
	"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if LD_LIBRARY_PATH=$PF/usr/lib/postfix ldd "$PF/usr/lib/postfix/sbin/smtpd" "$PF/usr/sbin/smtp-source" "$PF/usr/sbin/smtp-sink" | grep -q 'not found'; then
	die "unresolved shared libraries in the unpacked postfix: $(LD_LIBRARY_PATH=$PF/usr/lib/postfix ldd "$PF/usr/lib/postfix/sbin/smtpd" | grep 'not found')"
fi
