#!/usr/bin/env bash
# Times the Go umbral package and the reference (npm @nucypher/umbral-pre@0.10.0
# under Node.js) on the same machine, interleaving rounds so that background
# load hits both alike, and prints medians and speedups (see report.js).
#
#   scripts/bench-umbral/run.sh            (make bench-umbral)
#   ROUNDS=5 BENCHTIME=2s scripts/bench-umbral/run.sh   (defaults: 3 rounds, 1s)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
oracle=${RREC_UMBRAL_ORACLE:-$root/umbral/testdata/oracle}
rounds=${ROUNDS:-3}
benchtime=${BENCHTIME:-1s}
go=${GO:-go}

if [ ! -d "$oracle/node_modules/@nucypher/umbral-pre" ]; then
	echo "bench-umbral: the reference is not installed in $oracle (run: make oracle)" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ops='Encrypt|DecryptOriginal|GenerateKFrags|KeyFragVerify|Reencrypt|CapsuleFragVerify|DecryptReencrypted'
(cd "$root" && "$go" test -c -o "$tmp/umbral.test" ./umbral)

case $benchtime in
*ms) seconds=$(awk "BEGIN { print ${benchtime%ms} / 1000 }") ;;
*s) seconds=${benchtime%s} ;;
*) echo "bench-umbral: BENCHTIME must be a duration like 1s or 500ms" >&2; exit 2 ;;
esac
for i in $(seq 1 "$rounds"); do
	echo "bench-umbral: round $i/$rounds" >&2
	(cd "$root/umbral" && "$tmp/umbral.test" -test.run='^$' -test.bench="^Benchmark($ops)\$" \
		-test.benchtime="$benchtime" -test.count=1) >>"$tmp/go.txt"
	(cd "$oracle" && node bench.js --rounds 1 --seconds "$seconds") >>"$tmp/ref.jsonl"
done

node "$root/scripts/bench-umbral/report.js" "$tmp/go.txt" "$tmp/ref.jsonl"
