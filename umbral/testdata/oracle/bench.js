// Times the reference Umbral implementation (npm @nucypher/umbral-pre@0.10.0,
// WASM under Node.js) on the operations that the Go package benchmarks with
// the same names, so scripts/bench-umbral can compare the two on one machine.
//
//   node bench.js [--rounds N] [--seconds S] [--plaintext BYTES]
//
// Prints one JSON object: {"node": version, "plaintext": BYTES,
// "ops": {name: [µs/op of each round]}}.
'use strict';

const umbral = require('@nucypher/umbral-pre');

function flag(name, def) {
  const i = process.argv.indexOf(name);
  return i < 0 ? def : Number(process.argv[i + 1]);
}

const rounds = flag('--rounds', 3);
const seconds = flag('--seconds', 1);
const ptLen = flag('--plaintext', 13);

const delegating = umbral.SecretKey.random();
const receiving = umbral.SecretKey.random();
const signer = new umbral.Signer(umbral.SecretKey.random());
const verifyingPk = signer.verifyingKey();
const delegatingPk = delegating.publicKey();
const receivingPk = receiving.publicKey();
const plaintext = new Uint8Array(ptLen).fill(0x5a);

const [capsule, ciphertext] = umbral.encrypt(delegatingPk, plaintext);
const vkfrags = umbral.generateKFrags(delegating, receivingPk, signer, 2, 3, true, true);
const kfragBytes = vkfrags[0].toBytes();
const vcfrags = vkfrags.map((k) => umbral.reencrypt(capsule, k));
const cfragBytes = vcfrags[0].toBytes();

// Each op returns something derived from its result so nothing is optimized
// away; WASM-backed objects are freed at once so the heap stays flat.
const ops = {
  Encrypt() {
    const [c, ct] = umbral.encrypt(delegatingPk, plaintext);
    c.free();
    return ct.length;
  },
  DecryptOriginal() {
    return umbral.decryptOriginal(delegating, capsule, ciphertext).length;
  },
  GenerateKFrags() {
    const ks = umbral.generateKFrags(delegating, receivingPk, signer, 2, 3, true, true);
    ks.forEach((k) => k.free());
    return ks.length;
  },
  KeyFragVerify() {
    const kf = umbral.KeyFrag.fromBytes(kfragBytes);
    const vkf = kf.verify(verifyingPk, delegatingPk, receivingPk);
    vkf.free();
    return 1;
  },
  Reencrypt() {
    umbral.reencrypt(capsule, vkfrags[0]).free();
    return 1;
  },
  CapsuleFragVerify() {
    const cf = umbral.CapsuleFrag.fromBytes(cfragBytes);
    cf.verify(capsule, verifyingPk, delegatingPk, receivingPk).free();
    return 1;
  },
  DecryptReencrypted() {
    return umbral.decryptReencrypted(receiving, delegatingPk, capsule, vcfrags.slice(0, 2), ciphertext).length;
  },
};

// Grows the iteration count like Go's testing package until one batch takes
// the target time, then reports that batch.
function measure(fn) {
  let n = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    let sink = 0;
    for (let i = 0; i < n; i++) sink += fn();
    const ns = Number(process.hrtime.bigint() - start);
    if (sink < 0) throw new Error('unreachable');
    if (ns >= seconds * 1e9 || n >= 1e9) return ns / n / 1e3;
    const perOp = Math.max(ns / n, 1);
    n = Math.max(n + 1, Math.min(100 * n, Math.ceil((1.2 * seconds * 1e9) / perOp)));
  }
}

const results = {};
for (const name of Object.keys(ops)) results[name] = [];
for (const name of Object.keys(ops)) ops[name](); // warm up the WASM code paths
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of Object.entries(ops)) results[name].push(measure(fn));
}
process.stdout.write(JSON.stringify({ node: process.version, plaintext: ptLen, ops: results }) + '\n');
