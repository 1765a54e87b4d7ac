#!/usr/bin/env bash
# bench/arc.sh — ARC verification speed of exigo against dkimpy (issue 4).
#
# Generates N messages (default 1000) sealed by three hops with RSA-2048
# (bench/lib/arcbench), then verifies the same files, each verifier in one
# process with the messages already in memory, one message after the
# other, DNS replaced by the same table:
#   exigo    arc.Verifier, default options: newest AMS, three seals and
#            the two older AMSs for oldest-pass: 6 RSA verifications,
#            the work dkimpy's arc_verify does (it checks every AMS and AS)
#   exigo-4  SkipOldestPass: 4 RSA verifications (what RFC 8617 requires)
#   exigo-p  Parallel: the 6 checks of a message in goroutines (2 cores)
#   dkimpy   arc_verify of Debian's python3-dkim
# Each is timed over its verification loop: wall time and the process's
# user+system CPU time. RUNS rounds (default 3), interleaved; the summary
# gives the median per message and the median ratio of dkimpy to exigo.
# Then the Go benchmarks (-benchmem) of a 3-instance chain, the RSA floor
# and the RSA public-key alternatives, -count 5.
#
# Environment: N=1000, RUNS=3, OUT=bench/out/arc (wiped), SKIP_GOBENCH=1
# to skip the go test benchmarks.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-1000}
RUNS=${RUNS:-3}
OUT=${OUT:-$ROOT/bench/out/arc}
PY=/usr/bin/python3

if ! $PY -c 'import dkim' 2>/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-dkim python3-authres >/dev/null
fi

rm -rf "$OUT"
mkdir -p "$OUT"
cd "$ROOT"
go build -o "$OUT/arcbench" ./bench/lib/arcbench
echo "generating $N three-hop RSA-2048 messages in $OUT/msg ..."
"$OUT/arcbench" gen "$OUT" "$N"

cat >"$OUT/dkimpy_verify.py" <<'PYEOF'
import sys, os, glob, time, dkim
d = sys.argv[1]
recs = {}
for line in open(os.path.join(d, 'dns.txt'), 'rb'):
    n, v = line.strip().split(b' ', 1)
    recs[n.lower()] = v
def dnsfunc(name, timeout=5):
    if isinstance(name, str): name = name.encode()
    return recs.get(name.lower().rstrip(b'.'))
msgs = [open(p, 'rb').read() for p in sorted(glob.glob(os.path.join(d, 'msg', '*.eml')))]
cpu0, start = time.process_time(), time.perf_counter()
ok = 0
for m in msgs:
    cv, _, _ = dkim.arc_verify(m, dnsfunc=dnsfunc)
    ok += cv == b'pass'
print("verified %d pass %d in %.6f seconds cpu %.6f seconds" % (len(msgs), ok, time.perf_counter() - start, time.process_time() - cpu0))
PYEOF

# results: one line per run and verifier: "name wall cpu"
RES="$OUT/results.txt"
: >"$RES"
for run in $(seq 1 "$RUNS"); do
	for v in exigo exigo-4 exigo-p dkimpy; do
		case $v in
		exigo) line=$("$OUT/arcbench" verify "$OUT") ;;
		exigo-4) line=$("$OUT/arcbench" verify "$OUT" no-oldest-pass) ;;
		exigo-p) line=$("$OUT/arcbench" verify "$OUT" parallel) ;;
		dkimpy) line=$($PY "$OUT/dkimpy_verify.py" "$OUT") ;;
		esac
		echo "run $run $v: $line"
		read -r _ n _ pass _ wall _ _ cpu _ <<<"$line"
		if [ "$pass" != "$n" ]; then
			echo "arc.sh: $v passed $pass of $n" >&2
			exit 1
		fi
		echo "$v $wall $cpu" >>"$RES"
	done
done

med() { # med NAME COLUMN: the median of that column for that verifier, per message in µs
	awk -v name="$1" -v col="$2" -v n="$N" '$1 == name { print $col * 1e6 / n }' "$RES" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
echo "median of $RUNS runs, per message (wall / CPU), machine load: $(cut -d' ' -f1-3 /proc/loadavg)"
py_w=$(med dkimpy 2)
py_c=$(med dkimpy 3)
printf '  %-8s %8.1f us / %8.1f us\n' dkimpy "$py_w" "$py_c"
for v in exigo exigo-4 exigo-p; do
	w=$(med $v 2)
	c=$(med $v 3)
	awk -v v="$v" -v w="$w" -v c="$c" -v pw="$py_w" -v pc="$py_c" 'BEGIN {
		printf "  %-8s %8.1f us / %8.1f us   dkimpy/exigo: %.1fx wall, %.1fx CPU\n", v, w, c, pw / w, pc / c }'
done

if [ "${SKIP_GOBENCH:-0}" != 1 ]; then
	go test ./arc -run '^$' -bench 'Verify3|RSAFloor|RSAPublic|Sign' -benchmem -count 5
fi
