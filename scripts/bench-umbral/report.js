// Reads `go test -bench` output and bench.js JSON lines (one per round) and
// prints the median µs/op of each operation for both, the speedup
// (reference time / Go time), and two closing summary lines.
//
//   node report.js GO_BENCH_OUTPUT REFERENCE_JSONL
'use strict';

const fs = require('node:fs');

const OPS = [
  ['Encrypt', 'encrypt'],
  ['DecryptOriginal', 'decryptOriginal'],
  ['GenerateKFrags', 'generateKFrags 2-of-3'],
  ['KeyFragVerify', 'kfrag decode+verify'],
  ['Reencrypt', 'reencrypt'],
  ['CapsuleFragVerify', 'cfrag decode+verify'],
  ['DecryptReencrypted', 'decryptReencrypted 2 cfrags'],
];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const [goFile, refFile] = process.argv.slice(2);
if (!goFile || !refFile) {
  console.error('usage: node report.js GO_BENCH_OUTPUT REFERENCE_JSONL');
  process.exit(2);
}

const goRuns = {};
for (const line of fs.readFileSync(goFile, 'utf8').split('\n')) {
  // BenchmarkEncrypt-2   	    1234	    812345 ns/op	...
  const m = /^Benchmark(\w+)(?:-\d+)?\s+\d+\s+([\d.]+) ns\/op/.exec(line);
  if (m) (goRuns[m[1]] ||= []).push(Number(m[2]) / 1e3);
}

const refRuns = {};
let refInfo = {};
for (const line of fs.readFileSync(refFile, 'utf8').split('\n')) {
  if (line.trim() === '') continue;
  const r = JSON.parse(line);
  refInfo = r;
  for (const [op, xs] of Object.entries(r.ops)) (refRuns[op] ||= []).push(...xs);
}

const rows = [];
for (const [op, label] of OPS) {
  if (!goRuns[op]) throw new Error(`no Go result for Benchmark${op}`);
  if (!refRuns[op]) throw new Error(`no reference result for ${op}`);
  const ref = median(refRuns[op]);
  const go = median(goRuns[op]);
  rows.push({ label, ref, go, speedup: ref / go, n: Math.min(refRuns[op].length, goRuns[op].length) });
}

const fmt = (x) => x.toFixed(1).padStart(12);
console.log(`Umbral: Go package vs reference @nucypher/umbral-pre@0.10.0 (WASM, Node ${refInfo.node}),` +
  ` medians of ${rows[0].n} rounds, reference encrypt plaintext ${refInfo.plaintext} B`);
console.log(`${'operation'.padEnd(30)}${'reference µs'.padStart(12)}${'Go µs'.padStart(12)}${'speedup'.padStart(10)}`);
for (const r of rows) {
  console.log(`${r.label.padEnd(30)}${fmt(r.ref)}${fmt(r.go)}${(r.speedup.toFixed(1) + '×').padStart(10)}`);
}
const min = Math.min(...rows.map((r) => r.speedup));
const geomean = Math.exp(rows.reduce((a, r) => a + Math.log(r.speedup), 0) / rows.length);
console.log(`min speedup over reference: ${min.toFixed(1)}×`);
console.log(`geomean speedup over reference: ${geomean.toFixed(1)}×`);
