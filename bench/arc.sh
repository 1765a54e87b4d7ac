#!/usr/bin/env bash
# bench/arc.sh — ARC verification speed of exigo against dkimpy (issue 4).
#
# Generates N messages (default 1000) sealed by three hops with RSA-2048
# (bench/lib/arcbench), then verifies the same files, each in one process
# with the messages already in memory and DNS replaced by the same table:
# exigo's arc.Verifier and dkimpy's arc_verify (Debian python3-dkim).
# Prints both times, the pass counts and the ratio; then the Go
# benchmarks of a 3-instance chain against the RSA floor (-benchmem).
#
# Environment: N=1000, OUT=bench/out/arc (wiped), SKIP_GOBENCH=1 to skip
# the go test benchmarks.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-1000}
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

exigo_line=$("$OUT/arcbench" verify "$OUT")
echo "exigo:  $exigo_line"

dkimpy_line=$($PY - "$OUT" <<'PYEOF'
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
start = time.perf_counter()
ok = 0
for m in msgs:
    cv, _, _ = dkim.arc_verify(m, dnsfunc=dnsfunc)
    ok += cv == b'pass'
print("verified %d pass %d in %.6f seconds" % (len(msgs), ok, time.perf_counter() - start))
PYEOF
)
echo "dkimpy: $dkimpy_line"

ex=$(awk '{print $6}' <<<"$exigo_line")
py=$(awk '{print $6}' <<<"$dkimpy_line")
awk -v e="$ex" -v p="$py" -v n="$N" 'BEGIN {
	printf "per message: exigo %.1f us, dkimpy %.1f us; exigo is %.1fx faster\n", e*1e6/n, p*1e6/n, p/e }'

if [ "${SKIP_GOBENCH:-0}" != 1 ]; then
	go test ./arc -run '^$' -bench 'Verify3|RSAFloor|Sign' -benchmem -count 3
fi
