#!/usr/bin/env bash
# bench/relay.sh — the relay benchmark of issue 3: queued mail to a smarthost.
#
# For each MTA (exigo's examples/mta and Postfix 3.7 from the unpacked Debian
# package), in the same run:
#   1. queue phase, not timed: the MTA accepts N messages of SIZE bytes from
#      Postfix's smtp-source (SESSIONS parallel sessions) for
#      to@remote.example and only queues them (exigo: -queue-only
#      -queue-interval 0, then the daemon is stopped; Postfix: smtpd puts
#      every message on hold); the queue must hold all N.
#   2. relay phase, timed: the queue is released towards one Postfix
#      smtp-sink on a loopback port (exigo: `mta -run-queue` with
#      -smarthost 127.0.0.1:SINK, one queue run in a fresh process; Postfix:
#      relayhost = [127.0.0.1]:SINK, `postsuper -H ALL` then a queue flush,
#      with its queue manager and delivery agents running). The clock stops
#      when the sink has received all N messages and the queue is empty.
# Prints messages per second for each and the ratio exigo/postfix.
#
# Needs root (Postfix's master, the postfix user, smtp-sink -u nobody) and a
# Debian 12 machine with apt; fetches and unpacks postfix when needed
# (bench/lib/fetch-postfix.sh).
#
# Environment:
#   PEERS="exigo postfix"   which MTAs to run, in this order; "base" is a
#                           second exigo binary (EXIGO_BASE_BIN) for A/B runs
#                           of two builds, e.g. PEERS="exigo base postfix"
#   ROUNDS=1                run every MTA this many times (alternating)
#   N=10000 SESSIONS=20 SIZE=4096  smtp-source -m / -s / -l for the queue phase
#   PORT_BASE=2700          loopback ports PORT_BASE..PORT_BASE+2
#   EXIGO_ARGS=""           extra flags for the `mta -run-queue` of the relay
#                           phase (e.g. "-two-phase", "-parallelism 16",
#                           "-cpuprofile FILE")
#   EXIGO_BIN=""            run this binary instead of building examples/mta
#   EXIGO_BASE_BIN=""       the binary of the "base" peer (e.g. one built from
#                           git archive HEAD before a change)
#   RELAY_TIMEOUT=600       seconds before a phase counts as failed
#   KEEP_QUEUES=0           1: keep each run's queue under RUN_DIR
#   RUN_DIR=bench/out/relay-run  where the queues go (wiped at start): e.g. a
#                           mount point of another file system
#   REST=90                 seconds to wait before each timed phase (see below)
#   WAIT_IDLE=0             wait up to this many seconds for an idle CPU
#                           (< 20% busy) before measuring (shared machines)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB=$ROOT/bench/lib
OUT=$ROOT/bench/out
PF=$OUT/postfix-root # unpacked postfix_*.deb
RUN=${RUN_DIR:-$OUT/relay-run} # per-run queues and logs, wiped at start

PEERS=${PEERS:-exigo postfix}
ROUNDS=${ROUNDS:-1}
N=${N:-10000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-4096}
PORT_BASE=${PORT_BASE:-2700}
EXIGO_ARGS=${EXIGO_ARGS:-}
EXIGO_BIN=${EXIGO_BIN:-}
EXIGO_BASE_BIN=${EXIGO_BASE_BIN:-}
RELAY_TIMEOUT=${RELAY_TIMEOUT:-600}
KEEP_QUEUES=${KEEP_QUEUES:-0}
WAIT_IDLE=${WAIT_IDLE:-0}
REST=${REST:-90}

# shellcheck source=bench/lib/common.sh
source "$LIB/common.sh"

[[ $(id -u) == 0 ]] || die "must run as root (Postfix master, postfix user, smtp-sink -u nobody)"
[[ $N =~ ^[1-9][0-9]*$ && $SESSIONS =~ ^[1-9][0-9]*$ && $SIZE =~ ^[0-9]+$ && $ROUNDS =~ ^[1-9][0-9]*$ &&
	$RELAY_TIMEOUT =~ ^[1-9][0-9]*$ && $WAIT_IDLE =~ ^[0-9]+$ && $PORT_BASE =~ ^[1-9][0-9]*$ && $REST =~ ^[0-9]+$ ]] ||
	die "N, SESSIONS, SIZE, ROUNDS, RELAY_TIMEOUT, WAIT_IDLE, REST and PORT_BASE must be numbers"
for p in $PEERS; do
	case $p in exigo | base | postfix) ;; *) die "unknown peer '$p' in PEERS (exigo base postfix)" ;; esac
done

SINK_PORT=$PORT_BASE
RCPT=to@remote.example

# source_into PORT LOG: queue phase traffic, N messages into 127.0.0.1:PORT.
source_into() {
	local port=$1 log=$2 rc=0 src
	# In the background and waited for, so that a TERM to this script runs
	# the trap at once (and kills smtp-source by pid).
	LD_LIBRARY_PATH=$PF/usr/lib/postfix timeout "$RELAY_TIMEOUT" "$PF/usr/sbin/smtp-source" \
		-s "$SESSIONS" -m "$N" -l "$SIZE" -M client.bench.example \
		-f from@example.com -t "$RCPT" "127.0.0.1:$port" >"$log" 2>&1 &
	src=$!
	PIDS+=("$src")
	wait "$src" || rc=$?
	stop_pid "$src"
	((rc == 0)) || die "smtp-source into 127.0.0.1:$port exited with status $rc: $(tail -n 3 "$log" | tr '\n' ' ')"
}

# wait_until TIMEOUT CMD...: poll CMD every 20 ms until it succeeds (0) or
# TIMEOUT seconds have passed (1).
wait_until() {
	local end
	end=$(awk -v t="$1" -v n="$(now)" 'BEGIN { printf "%.3f", n + t }')
	shift
	until "$@"; do
		awk -v e="$end" -v n="$(now)" 'BEGIN { exit !(n > e) }' && return 1
		sleep 0.02
	done
}

sink_has_all() { (($(sink_count "$SINK_DIR") >= N)); }

# ---------------------------------------------------------------------------
# exigo: queue with a listening daemon, then one queue run in a new process.

queue_exigo() {
	local dir=$1 port=$((PORT_BASE + 1))
	need_free_port "$port"
	mkdir -p "$dir"
	"$EXIGO" -listen "127.0.0.1:$port" -data "$dir" -hostname exigo.bench.example \
		-queue-only -queue-interval 0 -smarthost "127.0.0.1:$SINK_PORT" >"$dir/queue.log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	wait_port "$port" "$DAEMON_PID" "$dir/queue.log"
	source_into "$port" "$dir/source.log"
	stop_pid "$DAEMON_PID"
}
queued_exigo() { count_exigo "$1"; }

# release_exigo DIR: the timed phase. Sets REL_OK=0 and REL_ERR on failure.
release_exigo() {
	local dir=$1 rc=0 pid
	# shellcheck disable=SC2086
	"$EXIGO" -data "$dir" -hostname exigo.bench.example -smarthost "127.0.0.1:$SINK_PORT" \
		-run-queue $EXIGO_ARGS >"$dir/run.out" 2>"$dir/run.log" &
	pid=$!
	PIDS+=("$pid")
	wait "$pid" || rc=$?
	stop_pid "$pid"
	if ((rc != 0)); then
		REL_OK=0 REL_ERR="mta -run-queue exited with status $rc: $(tail -n 3 "$dir/run.log" | tr '\n' ' ')"
		return
	fi
	# Every 250 the queue run got was counted by the sink before it replied.
	wait_until 10 sink_has_all || { REL_OK=0 REL_ERR="the sink has $(sink_count "$SINK_DIR") of $N messages after the queue run"; }
}

# base: the same as exigo with the binary EXIGO_BASE_BIN.
queue_base() { EXIGO=$EXIGO_BASE_BIN queue_exigo "$1"; }
queued_base() { count_exigo "$1"; }
release_base() { EXIGO=$EXIGO_BASE_BIN release_exigo "$1"; }

# ---------------------------------------------------------------------------
# Postfix: smtpd holds every message; the release moves them out of hold and
# flushes the queue. Its queue manager and delivery agents run throughout,
# as in a real Postfix.

queue_postfix() {
	local dir=$1 port=$((PORT_BASE + 2))
	need_free_port "$port"
	# pickup: postqueue -f also wakes it (for the maildrop queue) and
	# fails when it is not there.
	POSTFIX_MASTER_EXTRA="pickup     unix      n       -      n      60     1       pickup" \
		postfix_start "$dir" "$port" "relayhost = [127.0.0.1]:$SINK_PORT" "defer_transports ="
	POSTFIX_ETC=$dir/etc
	source_into "$port" "$dir/source.log"
	# Until every queue file is complete (cleanup may still be writing one
	# after its 250 was read): everything must be in hold/.
	wait_until 30 postfix_all_held "$dir" || true
}
postfix_all_held() { (($(find "$1/queue/hold" -type f -perm -u+x | wc -l) == N)); }
queued_postfix() { count_postfix "$1"; }
postfix_empty() { (($(count_postfix "$1") == 0)); }

release_postfix() {
	local dir=$1
	pfenv "$PF/usr/sbin/postsuper" -c "$POSTFIX_ETC" -H ALL >"$dir/postsuper.log" 2>&1 || {
		REL_OK=0 REL_ERR="postsuper -H ALL failed: $(tail -n 3 "$dir/postsuper.log")"
		return
	}
	# postqueue -f; run through the dynamic loader because postqueue is
	# setgid postdrop, and the loader ignores LD_LIBRARY_PATH for setgid
	# programs.
	"$POSTFIX_LDSO" --library-path "$PF/usr/lib/postfix" "$PF/usr/sbin/postqueue" -c "$POSTFIX_ETC" -f \
		>"$dir/postqueue.log" 2>&1 || {
		REL_OK=0 REL_ERR="postqueue -f failed: $(tail -n 3 "$dir/postqueue.log")"
		return
	}
	wait_until "$RELAY_TIMEOUT" sink_has_all || {
		REL_OK=0 REL_ERR="the sink has $(sink_count "$SINK_DIR") of $N messages after $RELAY_TIMEOUT s"
		return
	}
	wait_until 30 postfix_empty "$dir" || { REL_OK=0 REL_ERR="$(count_postfix "$dir") messages left in the queue"; }
}

# fs_note DIR: the file system DIR is on, and for ext4 whether it has a
# journal (a mounted ext4 with one has a /proc/fs/jbd2/DEV-N directory).
fs_note() {
	local dev type
	read -r dev type < <(df -PT "$1" | awk 'NR == 2 { print $1, $2 }')
	printf '%s on %s' "$type" "$dev"
	if [[ $type == ext4 ]]; then
		if compgen -G "/proc/fs/jbd2/${dev##*/}-*" >/dev/null; then printf ', journal'; else printf ', no journal'; fi
	fi
}

# ---------------------------------------------------------------------------
# Results.
R_PEER=() R_ROUND=() R_SECS=() R_RATE=() R_OK=()
FAILED=()

run_one() { # run_one PEER ROUND
	local peer=$1 round=$2 dir queued
	dir=$RUN/$peer-$round
	SINK_DIR=$RUN/$peer-$round-sink
	rm -rf "$dir" "$SINK_DIR"
	need_free_port "$SINK_PORT"
	sink_start "$SINK_PORT" "$SINK_DIR"
	local sink_pid=$DAEMON_PID
	"queue_$peer" "$dir"
	queued=$("queued_$peer" "$dir")
	[[ $queued == "$N" ]] || die "$peer: $queued of $N messages queued before the relay phase (logs under $dir)"
	(($(sink_count "$SINK_DIR") == 0)) || die "$peer: the sink got mail in the queue phase"
	# Everything on disk, and the files deleted before (the previous run's
	# queue) older than ext4's "recently deleted" window: without a
	# journal, ext4 does not reuse an inode deleted in the last 60 s (360 s
	# while its inode table block is dirty), and a file created then
	# costs a scan past every such inode.
	sync
	sleep "$REST"
	local t0 t1 left recv
	REL_OK=1 REL_ERR=
	t0=$(now)
	"release_$peer" "$dir"
	t1=$(now)
	recv=$(sink_count "$SINK_DIR")
	left=$("queued_$peer" "$dir")
	[[ $peer == postfix ]] && stop_pid "$DAEMON_PID"
	stop_pid "$sink_pid"
	recv=$(sink_count "$SINK_DIR")
	if ((REL_OK)) && [[ $recv != "$N" || $left != 0 ]]; then
		REL_OK=0 REL_ERR="the sink received $recv of $N; $left left in the queue"
	fi
	((REL_OK)) || FAILED+=("$peer round $round: $REL_ERR (logs under $dir)")
	local secs rate
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	rate=$(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN { printf "%.0f", n / (b - a) }')
	R_PEER+=("$peer") R_ROUND+=("$round") R_SECS+=("$secs") R_RATE+=("$rate") R_OK+=("$REL_OK")
	printf '  %-8s round %-2s %8ss %8s msgs/s  sink got %s, queue left %s%s\n' "$peer" "$round" "$secs" "$rate" \
		"$recv" "$left" "$( ((REL_OK)) || echo '  FAILED')"
	if [[ $peer == exigo || $peer == base ]] && [[ -s $dir/run.out ]]; then
		sed 's/^/           /' "$dir/run.out"
	fi
	if [[ $KEEP_QUEUES != 1 ]]; then
		find "$dir" -mindepth 1 -maxdepth 1 ! -name log ! -name '*.log' ! -name '*.out' -exec rm -rf {} +
	fi
}

# best_rate PEER: the best msgs/s of PEER's good runs.
best_rate() {
	local i best=
	for i in "${!R_PEER[@]}"; do
		[[ ${R_PEER[i]} == "$1" && ${R_OK[i]} == 1 ]] || continue
		if [[ -z $best ]] || ((R_RATE[i] > best)); then best=${R_RATE[i]}; fi
	done
	echo "$best"
}

print_table() {
	local i pf ratio
	printf '\n%-8s %5s %9s %9s %s\n' peer round seconds msgs/s exigo/postfix
	for i in "${!R_PEER[@]}"; do
		ratio=-
		if [[ ${R_PEER[i]} == exigo || ${R_PEER[i]} == base ]]; then
			# Against Postfix's run of the same round.
			local j
			for j in "${!R_PEER[@]}"; do
				if [[ ${R_PEER[j]} == postfix && ${R_ROUND[j]} == "${R_ROUND[i]}" && ${R_OK[j]} == 1 ]]; then
					ratio=$(awk -v a="${R_RATE[i]}" -v b="${R_RATE[j]}" 'BEGIN { printf "%.2fx", a / b }')
				fi
			done
		fi
		((R_OK[i])) || ratio="$ratio FAILED"
		printf '%-8s %5s %9s %9s %s\n' "${R_PEER[i]}" "${R_ROUND[i]}" "${R_SECS[i]}" "${R_RATE[i]}" "$ratio"
	done
}

print_goal() {
	local e pf need
	e=$(best_rate exigo)
	pf=$(best_rate postfix)
	if [[ -z $e || -z $pf ]]; then
		say "goal: not measured (exigo ${e:-did not run}, postfix ${pf:-did not run})"
		return
	fi
	need=$(awk -v p="$pf" 'BEGIN { printf "%.0f", p * 1.5 }')
	local ratio
	ratio=$(awk -v a="$e" -v b="$pf" 'BEGIN { printf "%.2f", a / b }')
	if ((e >= need)); then
		say "goal: met (best exigo $e/s, best postfix $pf/s: ${ratio}x; 1.5x postfix is $need/s)"
	else
		say "goal: NOT met (best exigo $e/s, best postfix $pf/s: ${ratio}x; 1.5x postfix is $need/s)"
	fi
}

# ---------------------------------------------------------------------------
main() {
	mkdir -p "$OUT"
	rm -rf "$RUN"
	mkdir -p "$RUN"

	apt_install ca-certificates
	fetch_postfix
	local peers=() p
	for p in $PEERS; do
		case $p in
		exigo) build_exigo || continue ;;
		base) [[ -x $EXIGO_BASE_BIN ]] || die "PEERS has base: set EXIGO_BASE_BIN to an examples/mta binary" ;;
		postfix)
			postfix_users
			POSTFIX_LDSO=$(sed -n 's/^\s*\(\/[^ ]*ld-linux[^ ]*\) (.*/\1/p' < <(ldd "$PF/usr/sbin/postqueue" 2>/dev/null) | head -n 1)
			[[ -x $POSTFIX_LDSO ]] || die "cannot find the dynamic loader of $PF/usr/sbin/postqueue"
			;;
		esac
		peers+=("$p")
	done

	say "relay benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) cores, kernel $(uname -r)"
	wait_idle "$WAIT_IDLE"
	say "  postfix $(cat "$PF/VERSION") (unpacked in $PF)"
	[[ $(cat "$PF/VERSION") == 3.7.* ]] || say "  WARNING: apt-get download gave postfix $(cat "$PF/VERSION"), not 3.7 (rm -rf $PF to refetch)"
	[[ " ${peers[*]} " == *" exigo "* ]] && say "  exigo $EXIGO, tree at $(exigo_tree); relay phase: mta -run-queue $EXIGO_ARGS"
	[[ " ${peers[*]} " == *" base "* ]] && say "  base $EXIGO_BASE_BIN (same flags)"
	say "  $N messages of $SIZE bytes queued by smtp-source -s $SESSIONS, relayed to smtp-sink on 127.0.0.1:$SINK_PORT"
	say "  queues in $RUN ($(fs_note "$RUN")); $REST s rest before each timed phase"

	local round
	for ((round = 1; round <= ROUNDS; round++)); do
		for p in "${peers[@]}"; do
			run_one "$p" "$round"
		done
	done

	print_table | tee "$OUT/relay-table.txt"
	[[ " $PEERS " != *" exigo "* || " ${peers[*]} " == *" exigo "* ]] || say "goal: exigo did not run (examples/mta not built)"
	print_goal
	if ((${#FAILED[@]})); then
		printf '\nrelay.sh: FAILED:\n' >&2
		printf '  %s\n' "${FAILED[@]}" >&2
		exit 1
	fi
}

main "$@"
