package umbral

import (
	"bytes"
	"errors"
	"testing"
)

func TestEncryptDecryptOriginal(t *testing.T) {
	sk := mustKey(t)
	for _, n := range []int{0, 1, 13, 1000} {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		c, ct, err := Encrypt(sk.PublicKey(), pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != n+40 {
			t.Fatalf("ciphertext length %d for %d-byte plaintext", len(ct), n)
		}
		got, err := DecryptOriginal(sk, c, ct)
		if err != nil || !bytes.Equal(got, pt) || got == nil {
			t.Fatalf("n=%d: got %x, %v", n, got, err)
		}
	}
}

func TestDecryptOriginalFailures(t *testing.T) {
	sk := mustKey(t)
	c, ct, err := Encrypt(sk.PublicKey(), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecryptOriginal(mustKey(t), c, ct); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("wrong key: %v", err)
	}
	bad := bytes.Clone(ct)
	bad[len(bad)-1] ^= 1
	if _, err := DecryptOriginal(sk, c, bad); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("tampered ciphertext: %v", err)
	}
	if _, err := DecryptOriginal(sk, c, ct[:23]); !errors.Is(err, ErrCiphertextTooShort) {
		t.Errorf("short ciphertext: %v", err)
	}
	c2, _, _ := Encrypt(sk.PublicKey(), []byte("hello"))
	if _, err := DecryptOriginal(sk, c2, ct); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("other capsule: %v", err)
	}
	if _, err := DecryptOriginal(sk, &Capsule{}, ct); !errors.Is(err, ErrInvalidEncoding) {
		t.Errorf("zero capsule: %v", err)
	}
}

func TestCapsuleEncoding(t *testing.T) {
	sk := mustKey(t)
	c, ct, _ := Encrypt(sk.PublicKey(), []byte("x"))
	b, err := c.MarshalBinary()
	if err != nil || len(b) != CapsuleSize {
		t.Fatalf("MarshalBinary: %d bytes, %v", len(b), err)
	}
	if b[0] != 0x93 || b[1] != 0xc4 || b[2] != 33 || b[36] != 0xc4 || b[37] != 33 || b[71] != 0xc4 || b[72] != 32 {
		t.Fatalf("unexpected MessagePack layout %x", b[:8])
	}
	var d Capsule
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	b2, _ := d.MarshalBinary()
	if !bytes.Equal(b, b2) || !d.Equal(c) {
		t.Fatal("capsule did not round-trip")
	}
	if pt, err := DecryptOriginal(sk, &d, ct); err != nil || string(pt) != "x" {
		t.Fatalf("decoded capsule does not decrypt: %v", err)
	}
	simple := c.BytesSimple()
	if len(simple) != CapsuleSimpleSize || !bytes.Equal(simple, append(append(bytes.Clone(b[3:36]), b[38:71]...), b[73:]...)) {
		t.Fatal("simple form is not E‖V‖s")
	}
	var e Capsule
	if err := e.UnmarshalSimple(simple); err != nil || !e.Equal(c) {
		t.Fatalf("simple form did not round-trip: %v", err)
	}
	if c.String() != "Capsule:"+hexOf(b[73:81]) {
		t.Errorf("String() = %q", c.String())
	}
}

func TestCapsuleRejects(t *testing.T) {
	sk := mustKey(t)
	c, _, _ := Encrypt(sk.PublicKey(), nil)
	b, _ := c.MarshalBinary()
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(b)) }
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"truncated":    {b[:104], ErrInvalidEncoding},
		"trailing":     {append(bytes.Clone(b), 0), ErrInvalidEncoding},
		"empty":        {nil, ErrInvalidEncoding},
		"map header":   {mod(func(b []byte) []byte { b[0] = 0x83; return b }), ErrInvalidEncoding},
		"bin16":        {mod(func(b []byte) []byte { b[1] = 0xc5; return b }), ErrInvalidEncoding},
		"wrong length": {mod(func(b []byte) []byte { b[2] = 32; return b }), ErrInvalidEncoding},
		"identity E":   {mod(func(b []byte) []byte { b[3] = 0; return b }), ErrInvalidEncoding},
		"s ≥ n":        {append(bytes.Clone(b[:73]), mustHex(t, orderHex)...), ErrInvalidEncoding},
		"s changed":    {mod(func(b []byte) []byte { b[104] ^= 1; return b }), ErrCapsuleSelfVerification},
		"E changed":    {mod(func(b []byte) []byte { b[3] ^= 1; return b }), ErrCapsuleSelfVerification},
	}
	for name, tc := range cases {
		var d Capsule
		if err := d.UnmarshalBinary(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	var d Capsule
	if err := d.UnmarshalSimple(c.BytesSimple()[:97]); !errors.Is(err, ErrInvalidEncoding) {
		t.Errorf("short simple: %v", err)
	}
}
