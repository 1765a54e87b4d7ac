#!/usr/bin/env bash
# bench/ingest.sh — the ingest benchmark of issue 2, measured not estimated.
#
# Starts exigo's examples/mta, Postfix 3.7 (from the unpacked Debian package,
# which conflicts with exim4) and Exim 4.96, each accepting on a loopback port
# and queueing without delivering, plus Postfix's smtp-sink (no storage) as a
# ceiling. Drives each with Postfix's smtp-source (SESSIONS parallel sessions,
# N messages of SIZE bytes), once with one message per connection and once
# with connection reuse (smtp-source -d), with a fresh queue for every run,
# checks that every message is in the queue afterwards and prints messages
# per second and the ratio to Postfix. A disk fsync probe is printed first.
#
# Needs root (Postfix's master, the postfix user, smtp-sink -u nobody) and a
# Debian 12 machine with apt; fetches and installs what it needs.
#
# Environment:
#   PEERS="exigo postfix exim sink"  which rows to run, in this order
#   MODES="conn reuse"               conn: one message per connection; reuse: -d
#   N=10000 SESSIONS=20 SIZE=4096    smtp-source -m / -s / -l
#   PORT_BASE=2600                   loopback ports PORT_BASE..PORT_BASE+13
#   EXIGO_ARGS="-queue-only -queue-interval 0"  flags for examples/mta (accept and queue, never deliver)
#   EXIGO_BIN=""                     run this binary instead of building examples/mta
#   SOURCE_TIMEOUT=420               seconds before one smtp-source run is killed
#   KEEP_QUEUES=0                    1: keep each run's queue under bench/out/run
#   WAIT_IDLE=0                      wait up to this many seconds for an idle CPU
#                                    (< 20% busy) before measuring (shared machines)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB=$ROOT/bench/lib
OUT=$ROOT/bench/out
PF=$OUT/postfix-root # unpacked postfix_*.deb
RUN=$OUT/run         # per-run queues and logs, wiped at start

PEERS=${PEERS:-exigo postfix exim sink}
MODES=${MODES:-conn reuse}
N=${N:-10000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-4096}
PORT_BASE=${PORT_BASE:-2600}
EXIGO_ARGS=${EXIGO_ARGS:--queue-only -queue-interval 0}
EXIGO_BIN=${EXIGO_BIN:-}
SOURCE_TIMEOUT=${SOURCE_TIMEOUT:-420}
WAIT_IDLE=${WAIT_IDLE:-0}
KEEP_QUEUES=${KEEP_QUEUES:-0}

# shellcheck source=bench/lib/common.sh
source "$LIB/common.sh"

[[ $(id -u) == 0 ]] || die "must run as root (Postfix master, postfix user, smtp-sink -u nobody)"
[[ $N =~ ^[1-9][0-9]*$ && $SESSIONS =~ ^[1-9][0-9]*$ && $SIZE =~ ^[0-9]+$ &&
	$SOURCE_TIMEOUT =~ ^[1-9][0-9]*$ && $WAIT_IDLE =~ ^[0-9]+$ && $PORT_BASE =~ ^[1-9][0-9]*$ ]] ||
	die "N, SESSIONS, SIZE, SOURCE_TIMEOUT, WAIT_IDLE and PORT_BASE must be numbers"
for p in $PEERS; do
	case $p in exigo | postfix | exim | sink) ;; *) die "unknown peer '$p' in PEERS (exigo postfix exim sink)" ;; esac
done
for m in $MODES; do
	case $m in conn | reuse) ;; *) die "unknown mode '$m' in MODES (conn reuse)" ;; esac
done

# ---------------------------------------------------------------------------
# Peers. start_PEER MODE PORT DIR starts a daemon accepting on 127.0.0.1:PORT
# with its queue under DIR and sets DAEMON_PID; count_PEER DIR prints the
# number of complete messages in its queue.

start_exigo() {
	local mode=$1 port=$2 dir=$3
	mkdir -p "$dir"
	# shellcheck disable=SC2086
	"$EXIGO" -listen "127.0.0.1:$port" -data "$dir" $EXIGO_ARGS >"$dir/mta.log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	wait_port "$port" "$DAEMON_PID" "$dir/mta.log"
}
start_postfix() { postfix_start "$3" "$2"; }
start_exim() {
	local mode=$1 port=$2 dir=$3
	mkdir -p "$dir/log"
	sed -e "s|@SPOOL@|$dir|g" -e "s|@PORT@|$port|g" "$LIB/exim.conf.in" >"$dir/exim.conf"
	chmod 0644 "$dir/exim.conf"
	"$EXIM" -C "$dir/exim.conf" -bV >"$dir/log/bV.out" 2>&1 || die "exim rejects $dir/exim.conf: $(cat "$dir/log/bV.out")"
	# -bdf: the daemon stays in the foreground so that $! is its pid. No -q:
	# no queue runner; queue_only: no delivery at reception.
	"$EXIM" -C "$dir/exim.conf" -bdf -oX "$port" >"$dir/log/daemon.out" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	wait_port "$port" "$DAEMON_PID" "$dir/log/daemon.out"
}
count_exim() {
	local bpc files
	bpc=$("$EXIM" -C "$1/exim.conf" -bpc)
	files=$(find "$1/input" -type f -name '*-H' | wc -l)
	[[ $bpc == "$files" ]] || say "exim: exim -bpc says $bpc but there are $files -H files" >&2
	echo "$bpc"
}

start_sink() { sink_start "$2" "$3"; }
count_sink() {
	# smtp-sink stores nothing; it counts (read after it has stopped).
	sink_count "$1"
}

# ---------------------------------------------------------------------------
# Results.
R_PEER=() R_MODE=() R_SECS=() R_RATE=() R_QUEUED=() R_OK=()
FAILED=()

record() { # record PEER MODE SECS RATE QUEUED OK
	R_PEER+=("$1") R_MODE+=("$2") R_SECS+=("$3") R_RATE+=("$4") R_QUEUED+=("$5") R_OK+=("$6")
}

peer_index() {
	case $1 in sink) echo 0 ;; postfix) echo 1 ;; exim) echo 2 ;; exigo) echo 3 ;; esac
}

# run_one PEER MODE: fresh queue, start, drive, count, stop.
run_one() {
	local peer=$1 mode=$2 port dir flags=() off=0
	if [[ $mode == reuse ]]; then
		flags=(-d) # -d: don't disconnect, send the next message on the same connection
		off=10
	fi
	port=$((PORT_BASE + $(peer_index "$peer") + off))
	dir=$RUN/$peer-$mode
	rm -rf "$dir"
	need_free_port "$port"
	"start_$peer" "$mode" "$port" "$dir"
	sync
	local t0 t1 rc=0
	t0=$(date +%s.%N)
	# In the background and waited for, so that a TERM to this script runs
	# the trap at once (and kills smtp-source by pid) instead of after it.
	LD_LIBRARY_PATH=$PF/usr/lib/postfix timeout "$SOURCE_TIMEOUT" "$PF/usr/sbin/smtp-source" \
		"${flags[@]+"${flags[@]}"}" -s "$SESSIONS" -m "$N" -l "$SIZE" -M client.bench.example \
		-f from@example.com -t to@example.com "127.0.0.1:$port" >"$dir.source.log" 2>&1 &
	local src=$!
	PIDS+=("$src")
	wait "$src" || rc=$?
	t1=$(date +%s.%N)
	stop_pid "$src"
	local secs rate queued ok=1
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	rate=$(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN { printf "%.0f", n / (b - a) }')
	if ((rc != 0)); then
		ok=0
		FAILED+=("$peer/$mode: smtp-source exited with status $rc: $(tail -n 3 "$dir.source.log" | tr '\n' ' ')")
	fi
	# Count after the daemon has stopped: what is on disk then is what a
	# crash right after the last 250 would have left.
	stop_pid "$DAEMON_PID"
	queued=$("count_$peer" "$dir")
	if [[ $queued != "$N" ]]; then
		ok=0
		FAILED+=("$peer/$mode: $queued of $N messages in the queue after the run (logs under $dir)")
	fi
	# The queues take ~50-80 MB per run; keep only the logs unless asked.
	if [[ $KEEP_QUEUES != 1 ]]; then
		find "$dir" -mindepth 1 -maxdepth 1 ! -name log ! -name '*.log' ! -name 'sink.*' -exec rm -rf {} +
	fi
	[[ $peer == sink ]] && queued="- ($queued recv)"
	record "$peer" "$mode" "$secs" "$rate" "$queued" "$ok"
	printf '  %-8s %-6s %8ss %8s msgs/s  queued %s%s\n' "$peer" "$mode" "$secs" "$rate" "$queued" \
		"$( ((ok)) || echo '  FAILED')"
}

postfix_rate() { # postfix_rate MODE: Postfix's msgs/s in MODE if it ran fine
	local i
	for i in "${!R_PEER[@]}"; do
		if [[ ${R_PEER[i]} == postfix && ${R_MODE[i]} == "$1" && ${R_OK[i]} == 1 ]]; then
			echo "${R_RATE[i]}"
			return
		fi
	done
}

print_table() {
	local i base ratio
	printf '\n%-8s %-6s %9s %9s %-18s %s\n' peer mode seconds msgs/s queued vs-postfix
	for i in "${!R_PEER[@]}"; do
		base=$(postfix_rate "${R_MODE[i]}")
		ratio=-
		[[ -n $base ]] && ratio=$(awk -v a="${R_RATE[i]}" -v b="$base" 'BEGIN { printf "%.2fx", a / b }')
		((R_OK[i])) || ratio="$ratio FAILED"
		printf '%-8s %-6s %9s %9s %-18s %s\n' "${R_PEER[i]}" "${R_MODE[i]}" "${R_SECS[i]}" \
			"${R_RATE[i]}" "${R_QUEUED[i]}" "$ratio"
	done
}

# goal: exigo ahead of every queueing peer and >= 1.5x Postfix in each mode.
print_goal() {
	local m i e best peer
	for m in $MODES; do
		e='' best=0 peer=''
		for i in "${!R_PEER[@]}"; do
			[[ ${R_MODE[i]} == "$m" && ${R_OK[i]} == 1 ]] || continue
			case ${R_PEER[i]} in
			exigo) e=${R_RATE[i]} ;;
			postfix | exim) if ((R_RATE[i] > best)); then best=${R_RATE[i]} peer=${R_PEER[i]}; fi ;;
			esac
		done
		[[ -n $e ]] || continue
		local pf need=0
		pf=$(postfix_rate "$m")
		[[ -n $pf ]] && need=$(awk -v p="$pf" 'BEGIN { printf "%.0f", p * 1.5 }')
		if ((e > best && e >= need)); then
			say "goal $m: met (exigo $e/s; best peer ${peer:-none} $best/s; 1.5x postfix $need/s)"
		else
			say "goal $m: NOT met (exigo $e/s; best peer ${peer:-none} $best/s; 1.5x postfix $need/s)"
		fi
	done
}

# ---------------------------------------------------------------------------
main() {
	mkdir -p "$OUT"
	rm -rf "$RUN"
	mkdir -p "$RUN"

	apt_install ca-certificates
	fetch_postfix
	if [[ " $PEERS " == *" exim "* ]]; then
		apt_install exim4-daemon-heavy
		EXIM=$(command -v exim || command -v exim4) || die "exim not found after installing exim4-daemon-heavy"
	fi
	if [[ " $PEERS " == *" postfix "* ]]; then
		getent group postdrop >/dev/null || groupadd --system postdrop
		getent group postfix >/dev/null || groupadd --system postfix
		id -u postfix >/dev/null 2>&1 ||
			useradd --system --gid postfix --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin postfix
	fi

	local want_exigo=0 peers=()
	for p in $PEERS; do
		if [[ $p == exigo && -n $EXIGO_BIN ]]; then
			[[ -x $EXIGO_BIN ]] || die "EXIGO_BIN=$EXIGO_BIN is not executable"
			EXIGO=$EXIGO_BIN
			want_exigo=1
		elif [[ $p == exigo ]]; then
			EXIGO=$OUT/exigo-mta
			if [[ ! -d $ROOT/examples/mta ]]; then
				say "exigo: examples/mta not built yet"
				continue
			fi
			if ! (cd "$ROOT" && go build -o "$OUT/exigo-mta" ./examples/mta) >"$RUN/exigo-build.log" 2>&1; then
				# Not fatal while examples/mta is being written; the
				# error is shown and the goal line says exigo did not run.
				say "exigo: examples/mta not built yet (go build failed):"
				sed 's/^/  /' "$RUN/exigo-build.log" | head -n 20
				continue
			fi
			want_exigo=1
		fi
		peers+=("$p")
	done

	say "ingest benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) cores, kernel $(uname -r)"
	local busy waited=0
	busy=$(cpu_busy)
	while ((busy > 20 && waited < WAIT_IDLE)); do
		sleep 4
		busy=$(cpu_busy)
		waited=$((waited + 5))
	done
	say "  cpu busy before the runs: $busy% (over 1 s); load average $(cut -d' ' -f1-3 /proc/loadavg)"
	if ((busy > 20)); then
		say "  WARNING: the machine is busy; other work skews these numbers"
	fi
	say "  postfix $(cat "$PF/VERSION") (unpacked in $PF)"
	[[ $(cat "$PF/VERSION") == 3.7.* ]] || say "  WARNING: apt-get download gave postfix $(cat "$PF/VERSION"), not 3.7 (rm -rf $PF to refetch)"
	[[ -n ${EXIM:-} ]] && say "  $("$EXIM" -bV 2>/dev/null | head -n 1)"
	((want_exigo)) && say "  exigo $EXIGO, tree at $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet HEAD -- . 2>/dev/null || echo '+dirty')"
	say "  smtp-source -s $SESSIONS -m $N -l $SIZE; conn: one message per connection; reuse: -d"
	if command -v go >/dev/null; then
		(cd "$ROOT" && go build -o "$OUT/fsyncprobe" ./bench/lib/fsyncprobe)
		"$OUT/fsyncprobe" -dir "$RUN/fsync" -n 1000 -writers 20 -size "$SIZE"
	else
		say "fsync probe skipped: go not found"
	fi

	local peer mode
	for peer in "${peers[@]}"; do
		for mode in $MODES; do
			run_one "$peer" "$mode"
		done
	done

	print_table | tee "$OUT/ingest-table.txt"
	[[ " $PEERS " != *" exigo "* ]] || ((want_exigo)) || say "goal: exigo did not run (examples/mta not built)"
	print_goal
	if ((${#FAILED[@]})); then
		printf '\ningest.sh: FAILED:\n' >&2
		printf '  %s\n' "${FAILED[@]}" >&2
		exit 1
	fi
}

main "$@"
