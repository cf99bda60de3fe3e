package umbral

import (
	"crypto/sha256"
	"runtime"
	"testing"

	"gitlab.com/yawning/secp256k1-voi"
	"gitlab.com/yawning/secp256k1-voi/secec"
)

// prims performs the curve primitives that doc.go counts, on
// representative inputs, so each operation can be timed against the sum of
// its primitives.
type prims struct {
	k, k2  *secp256k1.Scalar
	p, q   *secp256k1.Point
	enc    []byte
	priv   *secec.PrivateKey
	pub    *secec.PublicKey
	digest [32]byte
	r, s   *secp256k1.Scalar
}

func newPrims(b *testing.B) *prims {
	x := &prims{}
	x.k, _ = randomScalar()
	x.k2, _ = randomScalar()
	x.p = secp256k1.NewIdentityPoint().ScalarBaseMult(x.k)
	x.q = secp256k1.NewIdentityPoint().ScalarBaseMult(x.k2)
	x.enc = x.p.CompressedBytes()
	x.priv, _ = secec.NewPrivateKeyFromScalar(x.k)
	x.pub = x.priv.PublicKey()
	x.digest = sha256.Sum256([]byte("m"))
	var err error
	if x.r, x.s, _, err = x.priv.SignRaw(nil, x.digest[:]); err != nil {
		b.Fatal(err)
	}
	return x
}

func (x *prims) V(n int) {
	for range n {
		secp256k1.NewIdentityPoint().ScalarMult(x.k, x.p)
	}
}

func (x *prims) Vv(n int) {
	for range n {
		secp256k1.NewIdentityPoint().MultiScalarMultVartime([]*secp256k1.Scalar{x.k}, []*secp256k1.Point{x.p})
	}
}

func (x *prims) B(n int) {
	for range n {
		secp256k1.NewIdentityPoint().ScalarBaseMult(x.k)
	}
}

func (x *prims) Ut(n int) {
	for range n {
		mulU(x.k)
	}
}

func (x *prims) Utv(n int) {
	for range n {
		mulUVartime(x.k)
	}
}

func (x *prims) M(n int, vartime bool) {
	ks, ps := make([]*secp256k1.Scalar, n), make([]*secp256k1.Point, n)
	for i := range ks {
		ks[i], ps[i] = x.k, x.p
	}
	if vartime {
		secp256k1.NewIdentityPoint().MultiScalarMultVartime(ks, ps)
	} else {
		secp256k1.NewIdentityPoint().MultiScalarMult(ks, ps)
	}
}

func (x *prims) C(n int) {
	for range n {
		x.p.CompressedBytes()
	}
}

func (x *prims) D(n int) {
	for range n {
		_, _ = secp256k1.NewIdentityPoint().SetCompressedBytes(x.enc)
	}
}

func (x *prims) S(n int) {
	for range n {
		_, _, _, _ = x.priv.SignRaw(nil, x.digest[:])
	}
}

func (x *prims) Vf(n int) {
	for range n {
		x.pub.VerifyRaw(x.digest[:], x.r, x.s)
	}
}

func (x *prims) I(n int) {
	for range n {
		secp256k1.NewScalar().Invert(x.k)
	}
}

// BenchmarkFloor alternates each operation with the primitive sequence
// doc.go gives as its floor, timing both on the thread CPU clock, and
// reports op/floor. Alternating makes the ratio robust against the load of
// a shared machine, which moves absolute timings by 2× between runs.
func BenchmarkFloor(b *testing.B) {
	f := newBenchFixture(b)
	x := newPrims(b)
	cases := []struct {
		name  string
		op    func() error
		floor func()
	}{
		{"Encrypt", func() error { _, _, err := Encrypt(f.dk, f.pt); return err },
			func() { x.B(2); x.V(1); x.C(3) }},
		{"DecryptOriginal", func() error { _, err := DecryptOriginal(f.p.delegating, f.capsule, f.ct); return err },
			func() { x.V(1); x.C(1) }},
		{"GenerateKFrags", func() error {
			_, err := GenerateKFrags(f.p.delegating, f.rk, f.p.signer, 2, 3, true, true)
			return err
		}, func() {
			x.B(1)
			x.V(1)
			x.C(5)
			x.Ut(3)
			x.S(3)
			x.I(1)
		}},
		{"KeyFragVerify", func() error {
			var kf KeyFrag
			if err := kf.UnmarshalBinary(f.kfBytes); err != nil {
				return err
			}
			_, err := kf.Verify(f.vk, f.dk, f.rk)
			return err
		}, func() { x.D(2); x.Ut(1); x.Vf(1) }},
		{"Reencrypt", func() error { _, err := Reencrypt(f.capsule, f.kfrags[0]); return err },
			func() { x.V(4); x.Ut(1); x.C(5) }},
		{"CapsuleFragVerify", func() error {
			var cf CapsuleFrag
			if err := cf.UnmarshalBinary(f.cfBytes); err != nil {
				return err
			}
			_, err := cf.Verify(f.capsule, f.vk, f.dk, f.rk)
			return err
		}, func() {
			x.D(7)
			x.Vf(1)
			x.M(2, true)
			x.M(2, true)
			x.Utv(1)
			x.Vv(1)
		}},
		{"DecryptReencrypted", func() error {
			_, err := DecryptReencrypted(f.p.receiving, f.dk, f.capsule, f.cfrags[:2], f.ct)
			return err
		}, func() { x.V(1); x.C(2); x.M(5, false); x.M(2, false); x.I(1) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var opNs, floorNs int64
			for b.Loop() {
				t0, ok := threadCPU()
				if err := c.op(); err != nil {
					b.Fatal(err)
				}
				t1, _ := threadCPU()
				c.floor()
				t2, _ := threadCPU()
				if !ok {
					b.Skip("no thread CPU clock on this platform")
				}
				opNs += t1 - t0
				floorNs += t2 - t1
			}
			b.ReportMetric(float64(opNs)/float64(b.N)/1e3, "op-µs")
			b.ReportMetric(float64(floorNs)/float64(b.N)/1e3, "floor-µs")
			b.ReportMetric(float64(opNs)/float64(floorNs), "op/floor")
		})
	}
}
