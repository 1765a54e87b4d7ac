# bench/lib/common.sh — helpers shared by bench/ingest.sh and bench/relay.sh.
# Sourced, not run. The caller sets ROOT (the repository), LIB (bench/lib),
# OUT (bench/out), PF (the unpacked postfix, bench/out/postfix-root) and RUN
# (its per-run directory) first. Sourcing installs EXIT/INT/TERM traps that
# stop the daemons in PIDS by pid.
# shellcheck shell=bash disable=SC2034  # EXIGO, DAEMON_PID: set for the caller

export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C

say() { printf '%s\n' "$*"; }
die() {
	printf '%s: FATAL: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Daemons we started, killed by pid on exit.
PIDS=()
cleanup() {
	local pid i f
	# A Postfix master that started but whose pid was not read yet (the pid
	# files of stopped ones stay behind: check that the pid is our master).
	for f in "$RUN"/postfix-*/queue/pid/master.pid; do
		[[ -s $f ]] || continue
		pid=$(tr -dc 0-9 <"$f")
		[[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$PF/usr/lib/postfix/sbin/master" ]] && PIDS+=("$pid")
	done
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop_pid PID: TERM, wait up to 10 s, KILL; forget it.
stop_pid() {
	local pid=$1 i rest=()
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	for i in "${PIDS[@]}"; do [[ $i == "$pid" ]] || rest+=("$i"); done
	PIDS=("${rest[@]+"${rest[@]}"}")
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT PID LOG: wait up to 30 s for PORT while PID lives.
wait_port() {
	local port=$1 pid=$2 log=$3 i
	for ((i = 0; i < 300; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$log" >&2 || true
			die "daemon (pid $pid) died before listening on 127.0.0.1:$port; log: $log"
		fi
		port_open "$port" && return 0
		sleep 0.1
	done
	tail -n 20 "$log" >&2 || true
	die "nothing listens on 127.0.0.1:$port after 30 s; log: $log"
}

need_free_port() {
	! port_open "$1" || die "127.0.0.1:$1 is already in use (set PORT_BASE)"
}

# cpu_busy: percentage of CPU time not idle over the next second.
cpu_busy() {
	local a b
	a=$(head -n 1 /proc/stat)
	sleep 1
	b=$(head -n 1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		n = split(a, x); split(b, y); tot = 0
		for (i = 2; i <= n; i++) tot += y[i] - x[i]
		idle = (y[5] - x[5]) + (y[6] - x[6])
		printf "%d", (tot > 0 ? 100 * (tot - idle) / tot : 0)
	}'
}

# wait_idle SECONDS: wait up to SECONDS for the CPU to be < 20% busy, then
# print how busy it was (a warning when it still is).
wait_idle() {
	local busy waited=0
	busy=$(cpu_busy)
	while ((busy > 20 && waited < $1)); do
		sleep 4
		busy=$(cpu_busy)
		waited=$((waited + 5))
	done
	say "  cpu busy before the runs: $busy% (over 1 s); load average $(cut -d' ' -f1-3 /proc/loadavg)"
	if ((busy > 20)); then
		say "  WARNING: the machine is busy; other work skews these numbers"
	fi
}

# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# ---------------------------------------------------------------------------
# Packages.
APT_UPDATED=
apt_install() { # apt_install PKG...: install the ones not installed yet
	local missing=() p
	for p in "$@"; do
		dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	say "installing: ${missing[*]}"
	if [[ -z $APT_UPDATED ]]; then
		apt-get update -qq
		APT_UPDATED=1
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The unpacked postfix package (bench/lib/fetch-postfix.sh, shared with
# scripts/test).
fetch_postfix() { "$LIB/fetch-postfix.sh" "$PF" || die "bench/lib/fetch-postfix.sh failed"; }

pfenv() { env LD_LIBRARY_PATH="$PF/usr/lib/postfix" "$@"; }

# postfix_users: the users and groups Postfix runs as.
postfix_users() {
	getent group postdrop >/dev/null || groupadd --system postdrop
	getent group postfix >/dev/null || groupadd --system postfix
	id -u postfix >/dev/null 2>&1 ||
		useradd --system --gid postfix --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin postfix
}

# build_exigo: build examples/mta into $OUT/exigo-mta (or take $EXIGO_BIN)
# and set EXIGO; returns 1 (after showing the error) when it does not build.
build_exigo() {
	if [[ -n ${EXIGO_BIN:-} ]]; then
		[[ -x $EXIGO_BIN ]] || die "EXIGO_BIN=$EXIGO_BIN is not executable"
		EXIGO=$EXIGO_BIN
		return 0
	fi
	EXIGO=$OUT/exigo-mta
	if [[ ! -d $ROOT/examples/mta ]]; then
		say "exigo: examples/mta not built yet"
		return 1
	fi
	if ! (cd "$ROOT" && go build -o "$OUT/exigo-mta" ./examples/mta) >"$RUN/exigo-build.log" 2>&1; then
		say "exigo: examples/mta not built yet (go build failed):"
		sed 's/^/  /' "$RUN/exigo-build.log" | head -n 20
		return 1
	fi
}

# exigo_tree: the commit examples/mta was built from, "+dirty" when the
# working tree differs.
exigo_tree() {
	printf '%s%s' "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')" \
		"$(cd "$ROOT" && git diff --quiet HEAD -- . 2>/dev/null || echo '+dirty')"
}

# count_exigo DIR: complete messages in exigo's spool under DIR.
count_exigo() {
	[[ -d $1/spool/input ]] || {
		echo 0
		return
	}
	find "$1/spool/input" -type f -name '*-H' | wc -l
}

# postfix_start DIR PORT [NAME=VALUE...]: a Postfix from the unpacked
# package with its configuration (from bench/lib/postfix-*.cf.in, then the
# NAME=VALUE settings applied with postconf -e, and the master.cf lines in
# POSTFIX_MASTER_EXTRA appended), queue and logs under DIR, accepting on
# 127.0.0.1:PORT. Sets DAEMON_PID to its master's pid.
postfix_start() {
	local dir=$1 port=$2 etc=$1/etc
	shift 2
	# data/ is left to postfix check, which creates it owned by mail_owner.
	mkdir -p "$etc" "$dir/queue" "$dir/log"
	local s=(-e "s|@PFROOT@|$PF|g" -e "s|@CONF@|$etc|g" -e "s|@QUEUE@|$dir/queue|g"
		-e "s|@DATA@|$dir/data|g" -e "s|@LOG@|$dir/log|g" -e "s|@LISTEN@|127.0.0.1:$port|g")
	sed "${s[@]}" "$LIB/postfix-main.cf.in" >"$etc/main.cf"
	sed "${s[@]}" "$LIB/postfix-master.cf.in" >"$etc/master.cf"
	[[ -z ${POSTFIX_MASTER_EXTRA:-} ]] || printf '%s\n' "$POSTFIX_MASTER_EXTRA" >>"$etc/master.cf"
	if (($#)); then
		pfenv "$PF/usr/sbin/postconf" -c "$etc" -e "$@" || die "postconf -e $* failed"
	fi
	cp "$PF/etc/postfix/postfix-files" "$PF/usr/share/postfix/dynamicmaps.cf" "$etc/"
	# As the Debian package installs them (postfix check warns otherwise).
	chgrp postdrop "$PF/usr/sbin/postdrop" "$PF/usr/sbin/postqueue"
	chmod 2755 "$PF/usr/sbin/postdrop" "$PF/usr/sbin/postqueue"
	mkdir -p "$etc/postfix-files.d" "$etc/dynamicmaps.cf.d"
	# check creates the queue directories with Postfix's own ownership and modes.
	pfenv "$PF/usr/sbin/postfix" -c "$etc" check >"$dir/check.log" 2>&1 ||
		die "postfix check failed: $(cat "$dir/check.log" "$dir/log/maillog" 2>/dev/null)"
	pfenv "$PF/usr/sbin/postfix" -c "$etc" start >"$dir/start.log" 2>&1 ||
		die "postfix start failed: $(cat "$dir/start.log" "$dir/log/maillog" 2>/dev/null)"
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s $dir/queue/pid/master.pid ]] && break
		sleep 0.1
	done
	DAEMON_PID=$(tr -dc 0-9 <"$dir/queue/pid/master.pid")
	[[ -n $DAEMON_PID ]] || die "postfix master wrote no pid file"
	PIDS+=("$DAEMON_PID")
	wait_port "$port" "$DAEMON_PID" "$dir/log/maillog"
}

# count_postfix DIR: complete messages in the queue of postfix_start DIR.
count_postfix() {
	# Complete queue files only: cleanup sets the owner-execute bit when a
	# queue file is complete (a file without it is still being written).
	local d=$1/queue q dirs=()
	for q in hold deferred incoming active maildrop; do
		[[ -d $d/$q ]] && dirs+=("$d/$q")
	done
	find "${dirs[@]}" -type f -perm -u+x | wc -l
}

# sink_start PORT DIR [ARGS...]: Postfix's smtp-sink on 127.0.0.1:PORT with
# counters (-c) in DIR/sink.out. Sets DAEMON_PID.
sink_start() {
	local port=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	# Not through pfenv: $! must be smtp-sink itself, not a subshell.
	LD_LIBRARY_PATH=$PF/usr/lib/postfix "$PF/usr/sbin/smtp-sink" -u nobody -c "$@" "127.0.0.1:$port" 100 \
		>"$dir/sink.out" 2>"$dir/sink.err" &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	wait_port "$port" "$DAEMON_PID" "$dir/sink.err"
}

# sink_count DIR: messages the smtp-sink of sink_start DIR has received so
# far. -c prints "sess=S quit=Q mesg=M" counters, each update after a
# carriage return; smtp-sink flushes them as they change.
sink_count() {
	local m
	m=$(tail -c 64 "$1/sink.out" 2>/dev/null | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -n 1)
	echo "${m:-0}"
}
