// Interop oracle: drives the reference Umbral implementation (npm
// @nucypher/umbral-pre, the WASM build of rust-umbral) for the Go tests.
//
// Protocol: one JSON object per line on stdin, one JSON answer per line on
// stdout, in order. Byte strings travel as lowercase hex. A request is
// {"id": n, "cmd": "...", ...arguments}; the answer is {"id": n, "ok": true,
// ...results} or {"id": n, "ok": false, "error": "..."}. The process exits
// when stdin closes.
'use strict';

const readline = require('node:readline');
const umbral = require('@nucypher/umbral-pre');

const hex = (b) => Buffer.from(b).toString('hex');

function bytes(v, name) {
  if (typeof v !== 'string' || v.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(v)) {
    throw new Error(`argument ${name}: want a hex string`);
  }
  return new Uint8Array(Buffer.from(v, 'hex'));
}

const sk = (v, name = 'sk') => umbral.SecretKey.fromBEBytes(bytes(v, name));
const pk = (v, name = 'pk') => umbral.PublicKey.fromCompressedBytes(bytes(v, name));
const optPk = (v, name) => (v === null || v === undefined ? null : pk(v, name));
const capsule = (v) => umbral.Capsule.fromBytes(bytes(v, 'capsule'));

function factory(req) {
  let f = umbral.SecretKeyFactory.fromSecureRandomness(bytes(req.seed, 'seed'));
  for (const label of req.path || []) {
    f = f.makeFactory(bytes(label, 'path'));
  }
  return f;
}

// Verifies a serialized cfrag against a capsule the way a receiver does.
function verifiedCFrag(cfragHex, caps, req) {
  const cf = umbral.CapsuleFrag.fromBytes(bytes(cfragHex, 'cfrag'));
  return cf.verify(caps, pk(req.verifying, 'verifying'), pk(req.delegating, 'delegating'),
    pk(req.receiving, 'receiving'));
}

function signature(req) {
  if (req.sig !== undefined) return umbral.Signature.fromBEBytes(bytes(req.sig, 'sig'));
  return umbral.Signature.fromDerBytes(bytes(req.der, 'der'));
}

const commands = {
  keygen() {
    const k = umbral.SecretKey.random();
    return { sk: hex(k.toBEBytes()), pk: hex(k.publicKey().toCompressedBytes()) };
  },
  // Parses a secret key and answers its public key and its re-encoding.
  secretKey(req) {
    const k = sk(req.sk);
    return { sk: hex(k.toBEBytes()), pk: hex(k.publicKey().toCompressedBytes()) };
  },
  publicKey(req) {
    return { pk: hex(pk(req.pk).toCompressedBytes()) };
  },
  // SecretKeyFactory.fromSecureRandomness(seed), then makeFactory along
  // req.path, then makeKey / makeSecret with req.label.
  factory(req) {
    const f = factory(req);
    const label = bytes(req.label, 'label');
    const k = f.makeKey(label);
    return {
      sk: hex(k.toBEBytes()),
      pk: hex(k.publicKey().toCompressedBytes()),
      secret: hex(f.makeSecret(label)),
    };
  },
  encrypt(req) {
    const [caps, ct] = umbral.encrypt(pk(req.pk), bytes(req.pt, 'pt'));
    return { capsule: hex(caps.toBytes()), simple: hex(caps.toBytesSimple()), ct: hex(ct) };
  },
  decryptOriginal(req) {
    return { pt: hex(umbral.decryptOriginal(sk(req.sk), capsule(req.capsule), bytes(req.ct, 'ct'))) };
  },
  capsule(req) {
    const caps = capsule(req.capsule);
    return { capsule: hex(caps.toBytes()), simple: hex(caps.toBytesSimple()) };
  },
  generateKFrags(req) {
    const vkfs = umbral.generateKFrags(sk(req.delegating, 'delegating'),
      pk(req.receiving, 'receiving'), new umbral.Signer(sk(req.signer, 'signer')),
      req.threshold, req.shares, req.signDelegating, req.signReceiving);
    return { kfrags: vkfs.map((k) => hex(k.toBytes())) };
  },
  // KeyFrag.fromBytes + verify; answers the verified kfrag re-encoded.
  kfragVerify(req) {
    const kf = umbral.KeyFrag.fromBytes(bytes(req.kfrag, 'kfrag'));
    const plain = hex(kf.toBytes());
    const vkf = kf.verify(pk(req.verifying, 'verifying'), optPk(req.delegating, 'delegating'),
      optPk(req.receiving, 'receiving'));
    return { kfrag: hex(vkf.toBytes()), plain };
  },
  // Verifies the kfrag (as a proxy would before using it), then re-encrypts.
  reencrypt(req) {
    const kf = umbral.KeyFrag.fromBytes(bytes(req.kfrag, 'kfrag'));
    const vkf = kf.verify(pk(req.verifying, 'verifying'), optPk(req.delegating, 'delegating'),
      optPk(req.receiving, 'receiving'));
    const vcf = umbral.reencrypt(capsule(req.capsule), vkf);
    return { cfrag: hex(vcf.toBytes()), simple: hex(vcf.toBytesSimple()) };
  },
  // CapsuleFrag.fromBytes + verify; answers both encodings of the verified cfrag.
  cfragVerify(req) {
    const vcf = verifiedCFrag(req.cfrag, capsule(req.capsule), req);
    return { cfrag: hex(vcf.toBytes()), simple: hex(vcf.toBytesSimple()) };
  },
  // Verifies every cfrag, then decrypts as the receiver.
  decryptReencrypted(req) {
    const caps = capsule(req.capsule);
    const receivingSk = sk(req.sk);
    const vcfs = req.cfrags.map((c) => verifiedCFrag(c, caps, {
      verifying: req.verifying,
      delegating: req.delegating,
      receiving: hex(receivingSk.publicKey().toCompressedBytes()),
    }));
    const pt = umbral.decryptReencrypted(receivingSk, pk(req.delegating, 'delegating'), caps, vcfs,
      bytes(req.ct, 'ct'));
    return { pt: hex(pt) };
  },
  sign(req) {
    const s = new umbral.Signer(sk(req.sk)).sign(bytes(req.msg, 'msg'));
    return { sig: hex(s.toBEBytes()), der: hex(s.toDerBytes()) };
  },
  // Parses a signature given as r‖s (req.sig) or DER (req.der), answers both
  // encodings and whether it verifies for req.pk over req.msg.
  verify(req) {
    const s = signature(req);
    return {
      valid: s.verify(pk(req.pk), bytes(req.msg, 'msg')),
      sig: hex(s.toBEBytes()),
      der: hex(s.toDerBytes()),
    };
  },
};

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (line.trim() === '') return;
  let id = null;
  let answer;
  try {
    const req = JSON.parse(line);
    id = req.id ?? null;
    const fn = Object.hasOwn(commands, req.cmd) ? commands[req.cmd] : null;
    if (fn === null) throw new Error(`unknown command ${JSON.stringify(req.cmd)}`);
    answer = { id, ok: true, ...fn(req) };
  } catch (e) {
    answer = { id, ok: false, error: String(e && e.message !== undefined ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
});
