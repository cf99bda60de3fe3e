package umbral

import (
	"testing"

	"gitlab.com/yawning/secp256k1-voi"
	"gitlab.com/yawning/secp256k1-voi/secec/h2c"
)

func TestParameterU(t *testing.T) {
	p, err := h2c.Secp256k1_XMD_SHA256_SSWU_RO([]byte("PARAMETERS"), []byte("POINT_U"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := paramU()
	if got := p.CompressedBytes(); string(got) != string(u.b[:]) {
		t.Fatalf("hash_to_curve gives %x, hard-coded U is %x", got, u.b)
	}
	if hexOf(u.b[:]) != "03079390d0fbe220fc34aab8ecbf49098098036820fadb98c03143e55db8ec73cd" {
		t.Fatal("U differs from the reference value")
	}
}

func TestMulUMatchesScalarMult(t *testing.T) {
	u, _ := paramU()
	ks := []*secp256k1.Scalar{secp256k1.NewScalar(), secp256k1.NewScalarFromUint64(1), secp256k1.NewScalarFromUint64(16),
		secp256k1.NewScalar().Negate(secp256k1.NewScalarFromUint64(1))}
	// The sign flip at n/2 and long carry chains in the signed recoding.
	for _, h := range []string{
		"7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", // (n−1)/2
		"7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1", // (n+1)/2
		"8888888888888888888888888888888888888888888888888888888888888888",
		"7999999999999999999999999999999999999999999999999999999999999999",
		"f000000000000000000000000000000000000000000000000000000000000000",
	} {
		k, err := secp256k1.NewScalarFromCanonicalBytes((*[32]byte)(mustHex(t, h)))
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	for i := 0; i < 20; i++ {
		k, _ := randomScalar()
		ks = append(ks, k)
	}
	for _, k := range ks {
		want := secp256k1.NewIdentityPoint().ScalarMult(k, u.p)
		if mulU(k).Equal(want) != 1 || mulUVartime(k).Equal(want) != 1 {
			t.Fatalf("k·U wrong for k = %x", k.Bytes())
		}
	}
}
