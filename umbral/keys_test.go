package umbral

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustKey(t testing.TB) *SecretKey {
	t.Helper()
	sk, err := GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

const orderHex = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"

func TestSecretKeyRoundTrip(t *testing.T) {
	sk := mustKey(t)
	sk2, err := SecretKeyFromBytes(sk.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sk.Bytes(), sk2.Bytes()) || !sk.PublicKey().Equal(sk2.PublicKey()) {
		t.Fatal("secret key did not round-trip")
	}
	pk, err := PublicKeyFromBytes(sk.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !pk.Equal(sk.PublicKey()) || len(pk.Bytes()) != PublicKeySize {
		t.Fatal("public key did not round-trip")
	}
	if mustKey(t).PublicKey().Equal(pk) {
		t.Fatal("two random keys are equal")
	}
}

func TestSecretKeyKnownAnswer(t *testing.T) {
	one := make([]byte, 32)
	one[31] = 1
	sk, err := SecretKeyFromBytes(one)
	if err != nil {
		t.Fatal(err)
	}
	const g = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
	if got := hex.EncodeToString(sk.PublicKey().Bytes()); got != g {
		t.Fatalf("1·G = %s, want %s", got, g)
	}
}

func TestSecretKeyRejects(t *testing.T) {
	n := mustHex(t, orderHex)
	nMinus1 := bytes.Clone(n)
	nMinus1[31]--
	if _, err := SecretKeyFromBytes(nMinus1); err != nil {
		t.Fatalf("n−1 rejected: %v", err)
	}
	for name, b := range map[string][]byte{
		"zero": make([]byte, 32), "n": n, "ff": bytes.Repeat([]byte{0xff}, 32),
		"short": make([]byte, 31), "long": append(bytes.Clone(nMinus1), 0), "empty": nil,
	} {
		if _, err := SecretKeyFromBytes(b); !errors.Is(err, ErrInvalidEncoding) {
			t.Errorf("%s: err = %v, want ErrInvalidEncoding", name, err)
		}
	}
}

func TestPublicKeyRejects(t *testing.T) {
	good := mustKey(t).PublicKey().Bytes()
	uncompressed := append([]byte{4}, make([]byte, 64)...)
	// secp256k1 has no point with x = 0 (7 is not a square mod p).
	notOnCurve := append([]byte{2}, make([]byte, 32)...)
	xTooBig := append([]byte{2}, mustHex(t, "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc30")...)
	for name, b := range map[string][]byte{
		"identity": {0}, "empty": nil, "truncated": good[:32], "trailing": append(bytes.Clone(good), 0),
		"prefix06": append([]byte{6}, good[1:]...), "uncompressed": uncompressed,
		"not on curve": notOnCurve, "x ≥ p": xTooBig,
	} {
		if _, err := PublicKeyFromBytes(b); !errors.Is(err, ErrInvalidEncoding) {
			t.Errorf("%s: err = %v, want ErrInvalidEncoding", name, err)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	sk := mustKey(t)
	f, _ := NewSecretKeyFactory(make([]byte, 32))
	secret := hex.EncodeToString(sk.Bytes())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		for _, v := range []any{sk, NewSigner(sk), f} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secret) || !strings.HasSuffix(out, ":...") {
				t.Errorf("Sprintf(%q, %T) = %q", verb, v, out)
			}
		}
	}
	if got := sk.PublicKey().String(); got != "PublicKey:"+hex.EncodeToString(sk.PublicKey().Bytes()[:8]) {
		t.Errorf("PublicKey.String() = %q", got)
	}
}

func TestSecretKeyFactoryDeterminism(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	f1, err := NewSecretKeyFactory(seed)
	if err != nil {
		t.Fatal(err)
	}
	f2, _ := NewSecretKeyFactory(bytes.Clone(seed))
	if !bytes.Equal(f1.MakeKey([]byte("a")).Bytes(), f2.MakeKey([]byte("a")).Bytes()) {
		t.Fatal("MakeKey is not deterministic")
	}
	if bytes.Equal(f1.MakeKey([]byte("a")).Bytes(), f1.MakeKey([]byte("b")).Bytes()) {
		t.Fatal("MakeKey ignores the label")
	}
	if s := f1.MakeSecret([]byte("a")); len(s) != 64 || !bytes.Equal(s, f2.MakeSecret([]byte("a"))) {
		t.Fatal("MakeSecret is not a deterministic 64-byte value")
	}
	if bytes.Equal(f1.MakeSecret([]byte("a")), f1.MakeSecret([]byte("b"))) {
		t.Fatal("MakeSecret ignores the label")
	}
	c1, c2 := f1.MakeFactory([]byte("c")), f2.MakeFactory([]byte("c"))
	if !bytes.Equal(c1.MakeKey(nil).Bytes(), c2.MakeKey(nil).Bytes()) ||
		bytes.Equal(c1.MakeKey(nil).Bytes(), f1.MakeKey(nil).Bytes()) {
		t.Fatal("MakeFactory is not deterministic or not distinct from its parent")
	}
	other, _ := NewSecretKeyFactory(bytes.Repeat([]byte{8}, 32))
	if bytes.Equal(other.MakeKey([]byte("a")).Bytes(), f1.MakeKey([]byte("a")).Bytes()) {
		t.Fatal("MakeKey ignores the seed")
	}
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := NewSecretKeyFactory(make([]byte, n)); !errors.Is(err, ErrInvalidEncoding) {
			t.Errorf("seed of %d bytes: err = %v", n, err)
		}
	}
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }
