// Generates umbral/testdata/vectors/reference-0.10.0.json with the reference
// implementation (npm @nucypher/umbral-pre@0.10.0). Run from this directory
// after `npm ci`:  node gen-vectors.js [output path]
//
// Capsules, kfrags, cfrags, ciphertexts and signatures are randomized by the
// reference, so every run writes different bytes; the committed file is one
// such run. The Go tests check them as decode → verify → decrypt →
// re-encode-equals-input. SecretKeyFactory derivations and U are
// deterministic and are checked for exact equality.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const umbral = require('@nucypher/umbral-pre');

const hex = (b) => Buffer.from(b).toString('hex');
const utf8 = (s) => new Uint8Array(Buffer.from(s, 'utf8'));
const pkHex = (k) => hex(k.publicKey().toCompressedBytes());

// Deterministic, readable bytes for plaintexts and messages.
function pattern(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

const seed = new Uint8Array(umbral.SecretKeyFactory.seedSize());
for (let i = 0; i < seed.length; i++) seed[i] = i;
const root = umbral.SecretKeyFactory.fromSecureRandomness(seed);

function derive(pathLabels, label) {
  let f = root;
  for (const p of pathLabels) f = f.makeFactory(p);
  const k = f.makeKey(label);
  return {
    path: pathLabels.map(hex),
    label: hex(label),
    sk: hex(k.toBEBytes()),
    pk: pkHex(k),
    secret: hex(f.makeSecret(label)),
  };
}

const derivations = [
  derive([], new Uint8Array(0)),
  derive([], utf8('delegating')),
  derive([], utf8('receiving')),
  derive([], utf8('signer')),
  derive([], new Uint8Array([0x00, 0xff, 0x80])),
  derive([utf8('records')], utf8('patient-1')),
  derive([utf8('records'), utf8('2026')], new Uint8Array(0)),
];

const delegating = root.makeKey(utf8('delegating'));
const receiving = root.makeKey(utf8('receiving'));
const signerSk = root.makeKey(utf8('signer'));
const signer = new umbral.Signer(signerSk);

const keys = {
  delegating: { sk: hex(delegating.toBEBytes()), pk: pkHex(delegating) },
  receiving: { sk: hex(receiving.toBEBytes()), pk: pkHex(receiving) },
  signer: { sk: hex(signerSk.toBEBytes()), pk: pkHex(signerSk) },
};

const signatures = [new Uint8Array(0), utf8('Resilient Records'), pattern(1000)].map((msg) => {
  const s = signer.sign(msg);
  if (!s.verify(signer.verifyingKey(), msg)) throw new Error('reference signature does not verify');
  return { msg: hex(msg), sig: hex(s.toBEBytes()), der: hex(s.toDerBytes()) };
});

const encryptions = [0, 1, 13, 1000].map((n) => {
  const pt = pattern(n);
  const [capsule, ct] = umbral.encrypt(delegating.publicKey(), pt);
  const back = umbral.decryptOriginal(delegating, capsule, ct);
  if (hex(back) !== hex(pt)) throw new Error('reference decryptOriginal mismatch');
  return { pt: hex(pt), capsule: hex(capsule.toBytes()), capsule_simple: hex(capsule.toBytesSimple()), ct: hex(ct) };
});

function kfragSet(threshold, shares, signDelegating, signReceiving, encIndex) {
  const enc = encryptions[encIndex];
  const capsule = umbral.Capsule.fromBytes(Buffer.from(enc.capsule, 'hex'));
  const vkfs = umbral.generateKFrags(delegating, receiving.publicKey(), signer, threshold, shares,
    signDelegating, signReceiving);
  const vcfs = vkfs.map((k) => umbral.reencrypt(capsule, k));
  const pt = umbral.decryptReencrypted(receiving, delegating.publicKey(), capsule,
    vcfs.slice(0, threshold), Buffer.from(enc.ct, 'hex'));
  if (hex(pt) !== enc.pt) throw new Error('reference decryptReencrypted mismatch');
  return {
    threshold,
    shares,
    sign_delegating_key: signDelegating,
    sign_receiving_key: signReceiving,
    encryption: encIndex,
    kfrags: vkfs.map((k) => hex(k.toBytes())),
    cfrags: vcfs.map((c) => ({ cfrag: hex(c.toBytes()), cfrag_simple: hex(c.toBytesSimple()) })),
  };
}

const kfragSets = [
  kfragSet(2, 3, false, false, 0),
  kfragSet(2, 3, true, false, 1),
  kfragSet(2, 3, false, true, 2),
  kfragSet(2, 3, true, true, 3),
  kfragSet(3, 5, true, true, 3),
  kfragSet(1, 1, false, false, 2),
];

// Objects the reference refuses, each made by flipping one bit of a valid
// object; the generator keeps only flips the reference rejects.
function rejected(kind, validHex, byteIndex, check) {
  const b = Buffer.from(validHex, 'hex');
  b[byteIndex] ^= 0x01;
  try {
    check(new Uint8Array(b));
  } catch (e) {
    return { kind, bytes: b.toString('hex'), flipped_byte: byteIndex, reference_error: String(e.message ?? e) };
  }
  throw new Error(`reference accepted a tampered ${kind} (byte ${byteIndex})`);
}

const set = kfragSets[3];
const setCapsule = umbral.Capsule.fromBytes(Buffer.from(encryptions[set.encryption].capsule, 'hex'));
const rejects = [
  // last byte of s: capsule self-verification fails on decode
  rejected('capsule', encryptions[0].capsule, 104, (b) => umbral.Capsule.fromBytes(b)),
  // last byte of rk: the commitment U1 = rk·U no longer holds
  rejected('kfrag', set.kfrags[0], 104, (b) => umbral.KeyFrag.fromBytes(b)
    .verify(signer.verifyingKey(), delegating.publicKey(), receiving.publicKey())),
  // last byte of the proxy signature
  rejected('kfrag', set.kfrags[0], 241, (b) => umbral.KeyFrag.fromBytes(b)
    .verify(signer.verifyingKey(), delegating.publicKey(), receiving.publicKey())),
  // last byte of z: re-encryption proof fails
  rejected('cfrag', set.cfrags[0].cfrag, 314, (b) => umbral.CapsuleFrag.fromBytes(b)
    .verify(setCapsule, signer.verifyingKey(), delegating.publicKey(), receiving.publicKey())),
  // last byte of the kfrag signature carried in the cfrag
  rejected('cfrag', set.cfrags[0].cfrag, 380, (b) => umbral.CapsuleFrag.fromBytes(b)
    .verify(setCapsule, signer.verifyingKey(), delegating.publicKey(), receiving.publicKey())),
];

const [ux, uy] = new umbral.Parameters().u.coordinates();

const out = {
  reference: '@nucypher/umbral-pre@0.10.0',
  note: 'Generated by umbral/testdata/oracle/gen-vectors.js. Hex strings; kfrags/cfrags/capsules are the reference MessagePack encodings, *_simple the raw concatenations. rejects[].bytes refers to kfrag_sets[3] (capsule: encryptions[0]).',
  parameters: { u_x: hex(ux), u_y: hex(uy) },
  factory: { seed: hex(seed), derivations },
  keys,
  signatures,
  encryptions,
  kfrag_sets: kfragSets,
  rejects,
};

const target = process.argv[2] || path.join(__dirname, '..', 'vectors', 'reference-0.10.0.json');
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.writeFileSync(target, JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${target}`);
