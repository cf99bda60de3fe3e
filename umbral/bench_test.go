package umbral

import (
	"bytes"
	"crypto/sha256"
	"runtime"
	"testing"

	"gitlab.com/yawning/secp256k1-voi"
	"gitlab.com/yawning/secp256k1-voi/secec"
)

// The operation benchmarks mirror testdata/oracle/bench.js (the reference
// timed by scripts/bench-umbral): 13-byte plaintext, 2-of-3 fragments signed
// for both keys, decoding included where the reference decodes.

type benchFixture struct {
	p          party
	pt, ct     []byte
	capsule    *Capsule
	kfrags     []*VerifiedKeyFrag
	cfrags     []*VerifiedCapsuleFrag
	kfBytes    []byte
	cfBytes    []byte
	vk, dk, rk *PublicKey
}

func newBenchFixture(b *testing.B) *benchFixture {
	f := &benchFixture{p: newParty(b), pt: bytes.Repeat([]byte{0x5a}, 13)}
	f.vk, f.dk, f.rk = f.p.keys()
	var err error
	if f.capsule, f.ct, err = Encrypt(f.dk, f.pt); err != nil {
		b.Fatal(err)
	}
	if f.kfrags, err = GenerateKFrags(f.p.delegating, f.rk, f.p.signer, 2, 3, true, true); err != nil {
		b.Fatal(err)
	}
	for _, kf := range f.kfrags {
		cf, err := Reencrypt(f.capsule, kf)
		if err != nil {
			b.Fatal(err)
		}
		f.cfrags = append(f.cfrags, cf)
	}
	f.kfBytes, _ = f.kfrags[0].MarshalBinary()
	f.cfBytes, _ = f.cfrags[0].MarshalBinary()
	return f
}

// loop runs op like b.Loop and also reports "cpu-ns/op", the CPU time of the
// benchmarking thread per operation (less sensitive to other processes).
func loop(b *testing.B, op func() error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := threadCPU()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	if end, ok2 := threadCPU(); ok && ok2 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkEncrypt(b *testing.B) {
	f := newBenchFixture(b)
	loop(b, func() error { _, _, err := Encrypt(f.dk, f.pt); return err })
}

func BenchmarkDecryptOriginal(b *testing.B) {
	f := newBenchFixture(b)
	loop(b, func() error { _, err := DecryptOriginal(f.p.delegating, f.capsule, f.ct); return err })
}

func BenchmarkGenerateKFrags(b *testing.B) {
	f := newBenchFixture(b)
	loop(b, func() error {
		_, err := GenerateKFrags(f.p.delegating, f.rk, f.p.signer, 2, 3, true, true)
		return err
	})
}

func BenchmarkKeyFragVerify(b *testing.B) {
	f := newBenchFixture(b)
	loop(b, func() error {
		var kf KeyFrag
		if err := kf.UnmarshalBinary(f.kfBytes); err != nil {
			return err
		}
		_, err := kf.Verify(f.vk, f.dk, f.rk)
		return err
	})
}

func BenchmarkReencrypt(b *testing.B) {
	f := newBenchFixture(b)
	loop(b, func() error { _, err := Reencrypt(f.capsule, f.kfrags[0]); return err })
}

func BenchmarkCapsuleFragVerify(b *testing.B) {
	f := newBenchFixture(b)
	loop(b, func() error {
		var cf CapsuleFrag
		if err := cf.UnmarshalBinary(f.cfBytes); err != nil {
			return err
		}
		_, err := cf.Verify(f.capsule, f.vk, f.dk, f.rk)
		return err
	})
}

func BenchmarkDecryptReencrypted(b *testing.B) {
	f := newBenchFixture(b)
	loop(b, func() error {
		_, err := DecryptReencrypted(f.p.receiving, f.dk, f.capsule, f.cfrags[:2], f.ct)
		return err
	})
}

// BenchmarkVoi times the curve primitives the operations are made of; the
// floors quoted in doc.go are sums of these.
func BenchmarkVoi(b *testing.B) {
	k, _ := randomScalar()
	k2, _ := randomScalar()
	p := secp256k1.NewIdentityPoint().ScalarBaseMult(k)
	q := secp256k1.NewIdentityPoint().ScalarBaseMult(k2)
	enc := p.CompressedBytes()
	priv, _ := secec.NewPrivateKeyFromScalar(k)
	digest := sha256.Sum256([]byte("m"))
	r, s, _, _ := priv.SignRaw(nil, digest[:])
	pub := priv.PublicKey()
	bench := func(name string, fn func()) {
		b.Run(name, func(b *testing.B) { loop(b, func() error { fn(); return nil }) })
	}
	bench("VarBaseMult", func() { secp256k1.NewIdentityPoint().ScalarMult(k, p) })
	bench("BaseMult", func() { secp256k1.NewIdentityPoint().ScalarBaseMult(k) })
	bench("UTableMult", func() { mulU(k) })
	bench("UTableMultVartime", func() { mulUVartime(k) })
	bench("VarBaseMultVartime", func() {
		secp256k1.NewIdentityPoint().MultiScalarMultVartime([]*secp256k1.Scalar{k}, []*secp256k1.Point{p})
	})
	bench("MultiMult2Vartime", func() {
		secp256k1.NewIdentityPoint().MultiScalarMultVartime([]*secp256k1.Scalar{k, k2}, []*secp256k1.Point{p, q})
	})
	bench("MultiMult2", func() {
		secp256k1.NewIdentityPoint().MultiScalarMult([]*secp256k1.Scalar{k, k2}, []*secp256k1.Point{p, q})
	})
	bench("MultiMult5", func() {
		secp256k1.NewIdentityPoint().MultiScalarMult([]*secp256k1.Scalar{k, k2, k, k2, k},
			[]*secp256k1.Point{p, q, p, q, p})
	})
	bench("DoubleBaseVartime", func() { secp256k1.NewIdentityPoint().DoubleScalarMultBasepointVartime(k, k2, p) })
	bench("Double", func() { secp256k1.NewIdentityPoint().Double(p) })
	bench("Compress", func() { p.CompressedBytes() })
	bench("Decompress", func() { _, _ = secp256k1.NewIdentityPoint().SetCompressedBytes(enc) })
	bench("Add", func() { secp256k1.NewIdentityPoint().Add(p, q) })
	bench("Select", func() { secp256k1.NewIdentityPoint().ConditionalSelect(p, q, 1) })
	bench("ECDSASign", func() { _, _, _, _ = priv.SignRaw(nil, digest[:]) })
	bench("ECDSAVerify", func() { pub.VerifyRaw(digest[:], r, s) })
	bench("ScalarInvert", func() { secp256k1.NewScalar().Invert(k) })
}
