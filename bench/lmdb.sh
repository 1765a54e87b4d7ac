#!/usr/bin/env bash
# bench/lmdb.sh — LMDB single-key lookups: exigo's lookup/lmdb against raw
# lmdb-go and python3-lmdb (issue 6). Not run by CI (scripts/test).
#
# Builds the database of lookup/lmdb's BenchmarkLookup once (1,000,000
# keys of 41 bytes, 60-byte values, in $DB) and the key sequences of its
# serial loop (bench/lib/lmdbbench), then in the same run:
#   - python3-lmdb (/usr/bin/python3, Debian python3-lmdb): txn.get in one
#     long read transaction over the random and the hot-1,000 sequences,
#     RUNS passes each, before and after the Go benchmarks;
#   - go test -bench BenchmarkLookup$ -benchmem, COUNT times: raw lmdb-go in
#     one long read transaction (raw-Txn), raw lmdb-go renewing a reset
#     transaction per lookup (raw-Renew, what a lookup that sees new
#     commits must do), lmdb-go's env.View per lookup (raw-View), exigo's
#     LookupBytes, and LookupBytes with WithCache(4096); one goroutine
#     (serial) and GOMAXPROCS goroutines (parallel).
# Prints the median ns per lookup of each, and the ratios exigo÷raw and
# python÷exigo-cache; and exigo÷raw-Txn from BenchmarkLookupPaired, which
# alternates blocks of 1,024 lookups of both in one loop (the figure
# least disturbed by other load on the machine).
#
# Environment: DB=/tmp/exigo-lmdb-bench-1m, OUT=bench/out/lmdb (wiped),
# COUNT=5 (go test runs), RUNS=5 (python passes per set and round),
# N=1000000 (keys per python pass).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DB=${DB:-/tmp/exigo-lmdb-bench-1m}
OUT=${OUT:-$ROOT/bench/out/lmdb}
COUNT=${COUNT:-5}
RUNS=${RUNS:-5}
N=${N:-1000000}
PY=/usr/bin/python3

if ! $PY -c 'import lmdb' 2>/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-lmdb >/dev/null
fi

rm -rf "$OUT"
mkdir -p "$OUT"
cd "$ROOT"
go build -o "$OUT/lmdbbench" ./bench/lib/lmdbbench
echo "database $DB (built unless there) and $N-key sequences in $OUT ..."
"$OUT/lmdbbench" db "$DB"
"$OUT/lmdbbench" keys "$OUT" "$N"
echo "machine load at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"

cat >"$OUT/pyget.py" <<'PYEOF'
import sys, time, lmdb
path, d, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = lmdb.open(path, subdir=False, readonly=True)
for name in ("random", "hot"):
    with open("%s/%s.keys" % (d, name), "rb") as f:
        keys = f.read().split(b"\n")[:-1]
    with env.begin() as txn:  # one long read transaction
        get = txn.get
        missing = sum(1 for k in keys if get(k) is None)  # warm-up pass
        if missing:
            sys.exit("%d keys missing" % missing)
        for _ in range(runs):
            t = time.perf_counter_ns()
            for k in keys:
                get(k)
            print("python %s %.1f" % (name, (time.perf_counter_ns() - t) / len(keys)))
PYEOF

RES="$OUT/results.txt" # lines "impl set mode ns [go-run]"
: >"$RES"
python_round() {
	$PY "$OUT/pyget.py" "$DB" "$OUT" "$RUNS" | tee -a "$OUT/python.txt" |
		awk '{ print "python", ($2 == "hot" ? "hot1000" : "random"), "serial", $3 }' >>"$RES"
}
python_round
# COUNT runs of one pass each rather than -count, so that the variants
# alternate and a change of the machine's load hits them all alike.
go test -c -o "$OUT/lmdb.test" ./lookup/lmdb
for run in $(seq 1 "$COUNT"); do
	echo "go run $run of $COUNT"
	EXIGO_LMDB_BENCH_DB=$DB "$OUT/lmdb.test" -test.run '^$' -test.bench 'BenchmarkLookup$|BenchmarkLookupPaired' -test.benchmem >>"$OUT/go.txt"
done
awk '/^goos:/ { run++ }
	$1 ~ /^BenchmarkLookup\// {
	split($1, p, "/"); mode = p[4]; sub(/-[0-9]+$/, "", mode)
	print p[2], p[3], mode, $3, run }
	$1 ~ /^BenchmarkLookupPaired\// {
	split($1, p, "/"); mode = p[3]; sub(/-[0-9]+$/, "", mode)
	for (i = 4; i < NF; i++) if ($(i + 1) == "exigo/raw") print "paired", p[2], mode, $i, run }' "$OUT/go.txt" >>"$RES"
python_round
cat "$OUT/python.txt"

med() { # med IMPL SET MODE: the median ns per lookup
	awk -v i="$1" -v s="$2" -v m="$3" '$1 == i && $2 == s && $3 == m { print $4 }' "$RES" | median
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "median ns per lookup (go: $COUNT runs; python: $((2 * RUNS)) passes of $N keys, one thread);"
echo "machine load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %9s %9s %9s %9s %9s %9s   %s\n' case raw-Txn raw-Renew raw-View exigo exigo-cache python "exigo/Renew exigo/Txn python/cache exigo/Txn-blocks"
for set in random hot1000; do
	for mode in serial parallel; do
		txn=$(med raw-Txn $set $mode)
		renew=$(med raw-Renew $set $mode)
		view=$(med raw-View $set $mode)
		ex=$(med exigo-LookupBytes $set $mode)
		ca=$(med exigo-cache $set $mode)
		py=nan
		[ $mode = serial ] && py=$(med python $set serial)
		paired=$(med paired $set $mode) # BenchmarkLookupPaired: alternating blocks
		awk -v c="$set/$mode" -v t="$txn" -v r="$renew" -v v="$view" -v e="$ex" -v k="$ca" -v p="$py" -v q="$paired" 'BEGIN {
			pr = (p == "nan") ? "-" : sprintf("%.2f", p / k)
			printf "%-16s %9.1f %9.1f %9.1f %9.1f %9.1f %9s   %11.2f %9.2f %12s %16.2f\n", c, t, r, v, e, k, p, e / r, e / t, pr, q }'
	done
done
