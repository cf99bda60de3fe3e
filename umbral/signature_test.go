package umbral

import (
	"bytes"
	"errors"
	"math/big"
	"testing"
)

func TestSignVerify(t *testing.T) {
	sk := mustKey(t)
	signer := NewSigner(sk)
	if !signer.VerifyingKey().Equal(sk.PublicKey()) {
		t.Fatal("verifying key is not the public key")
	}
	msg := []byte("message")
	sig, err := signer.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !sig.Verify(sk.PublicKey(), msg) {
		t.Fatal("valid signature rejected")
	}
	if sig.Verify(sk.PublicKey(), []byte("other")) || sig.Verify(mustKey(t).PublicKey(), msg) {
		t.Fatal("signature verifies for another message or key")
	}
	b := sig.Bytes()
	if len(b) != SignatureSize {
		t.Fatalf("%d-byte signature", len(b))
	}
	s2, err := SignatureFromBytes(b)
	if err != nil || !s2.Equal(sig) || !bytes.Equal(s2.Bytes(), b) {
		t.Fatalf("r‖s round trip: %v", err)
	}
	s3, err := SignatureFromDER(sig.DER())
	if err != nil || !s3.Equal(sig) || !s3.Verify(sk.PublicKey(), msg) {
		t.Fatalf("DER round trip: %v", err)
	}
	if sig.String() != "Signature:"+hexOf(b[:8]) {
		t.Errorf("String() = %q", sig.String())
	}
}

func TestSignatureAlwaysLowS(t *testing.T) {
	signer := NewSigner(mustKey(t))
	half := new(big.Int).Rsh(mustBig(t, orderHex), 1)
	for i := 0; i < 32; i++ {
		sig, _ := signer.Sign([]byte{byte(i)})
		if new(big.Int).SetBytes(sig.Bytes()[32:]).Cmp(half) > 0 {
			t.Fatal("high-S signature emitted")
		}
	}
}

func mustBig(t testing.TB, h string) *big.Int {
	v, ok := new(big.Int).SetString(h, 16)
	if !ok {
		t.Fatal("bad hex")
	}
	return v
}

func TestSignatureRejectsHighS(t *testing.T) {
	sk := mustKey(t)
	msg := []byte("m")
	sig, _ := NewSigner(sk).Sign(msg)
	b := sig.Bytes()
	n := mustBig(t, orderHex)
	highS := new(big.Int).Sub(n, new(big.Int).SetBytes(b[32:]))
	hb := append(bytes.Clone(b[:32]), highS.FillBytes(make([]byte, 32))...)
	if _, err := SignatureFromBytes(hb); !errors.Is(err, ErrInvalidEncoding) {
		t.Errorf("high-S r‖s accepted: %v", err)
	}
	// Same signature in DER with high s.
	der := derOf(new(big.Int).SetBytes(b[:32]), highS)
	if _, err := SignatureFromDER(der); !errors.Is(err, ErrInvalidEncoding) {
		t.Errorf("high-S DER accepted: %v", err)
	}
	for name, in := range map[string][]byte{
		"short": b[:63], "long": append(bytes.Clone(b), 0), "zero r": append(make([]byte, 32), b[32:]...),
		"r ≥ n": append(mustHex(t, orderHex), b[32:]...), "zero s": append(bytes.Clone(b[:32]), make([]byte, 32)...),
	} {
		if _, err := SignatureFromBytes(in); !errors.Is(err, ErrInvalidEncoding) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := SignatureFromDER(append(sig.DER(), 0)); !errors.Is(err, ErrInvalidEncoding) {
		t.Errorf("DER with trailing byte accepted: %v", err)
	}
}

// derOf writes a DER ECDSA-Sig-Value independently of the code under test.
func derOf(r, s *big.Int) []byte {
	integer := func(v *big.Int) []byte {
		b := v.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{2, byte(len(b))}, b...)
	}
	body := append(integer(r), integer(s)...)
	return append([]byte{0x30, byte(len(body))}, body...)
}
