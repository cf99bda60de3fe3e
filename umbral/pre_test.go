package umbral

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

type party struct {
	delegating, receiving *SecretKey
	signer                *Signer
}

func newParty(t testing.TB) party {
	return party{mustKey(t), mustKey(t), NewSigner(mustKey(t))}
}

func (p party) keys() (verifying, delegating, receiving *PublicKey) {
	return p.signer.VerifyingKey(), p.delegating.PublicKey(), p.receiving.PublicKey()
}

// reencryptAll verifies every kfrag from its bytes, re-encrypts and verifies
// every cfrag from its bytes, as a proxy and a receiver would.
func (p party) reencryptAll(t testing.TB, c *Capsule, kfrags []*VerifiedKeyFrag) []*VerifiedCapsuleFrag {
	t.Helper()
	vk, dk, rk := p.keys()
	var out []*VerifiedCapsuleFrag
	for _, vkf := range kfrags {
		b, err := vkf.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var kf KeyFrag
		if err := kf.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		v, err := kf.Verify(vk, dk, rk)
		if err != nil {
			t.Fatalf("kfrag verify: %v", err)
		}
		vcf, err := Reencrypt(c, v)
		if err != nil {
			t.Fatal(err)
		}
		cb, _ := vcf.MarshalBinary()
		var cf CapsuleFrag
		if err := cf.UnmarshalBinary(cb); err != nil {
			t.Fatal(err)
		}
		checked, err := cf.Verify(c, vk, dk, rk)
		if err != nil {
			t.Fatalf("cfrag verify: %v", err)
		}
		out = append(out, checked)
	}
	return out
}

func TestThresholdRoundTrips(t *testing.T) {
	for _, tc := range []struct{ t, n int }{{1, 1}, {2, 3}, {3, 5}} {
		for _, flags := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			t.Run(fmt.Sprintf("%d-of-%d/sign%v", tc.t, tc.n, flags), func(t *testing.T) {
				p := newParty(t)
				pt := []byte("threshold plaintext")
				c, ct, err := Encrypt(p.delegating.PublicKey(), pt)
				if err != nil {
					t.Fatal(err)
				}
				kfrags, err := GenerateKFrags(p.delegating, p.receiving.PublicKey(), p.signer, tc.t, tc.n, flags[0], flags[1])
				if err != nil || len(kfrags) != tc.n {
					t.Fatalf("GenerateKFrags: %d, %v", len(kfrags), err)
				}
				cfrags := p.reencryptAll(t, c, kfrags)
				// The last t fragments, reversed: order and choice do not matter.
				var pick []*VerifiedCapsuleFrag
				for i := tc.n - 1; i >= tc.n-tc.t; i-- {
					pick = append(pick, cfrags[i])
				}
				got, err := DecryptReencrypted(p.receiving, p.delegating.PublicKey(), c, pick, ct)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("decrypt with %d fragments: %q, %v", len(pick), got, err)
				}
				if got, err := DecryptReencrypted(p.receiving, p.delegating.PublicKey(), c, cfrags, ct); err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("decrypt with all fragments: %v", err)
				}
				if tc.t > 1 {
					_, err := DecryptReencrypted(p.receiving, p.delegating.PublicKey(), c, pick[:tc.t-1], ct)
					if !errors.Is(err, ErrValidationFailed) {
						t.Fatalf("t−1 fragments: err = %v, want ErrValidationFailed", err)
					}
				}
			})
		}
	}
}

func TestKeyFragVerifyKeyFlags(t *testing.T) {
	p := newParty(t)
	vk, dk, rk := p.keys()
	other := mustKey(t).PublicKey()
	for _, flags := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		kfrags, err := GenerateKFrags(p.delegating, rk, p.signer, 2, 3, flags[0], flags[1])
		if err != nil {
			t.Fatal(err)
		}
		kf := kfrags[0].KeyFrag()
		if _, err := kf.Verify(vk, dk, rk); err != nil {
			t.Fatalf("%v: %v", flags, err)
		}
		_, err = kf.Verify(vk, nil, rk)
		if flags[0] != errors.Is(err, ErrDelegatingKeyNotProvided) || (!flags[0] && err != nil) {
			t.Errorf("%v without delegating key: %v", flags, err)
		}
		_, err = kf.Verify(vk, dk, nil)
		if flags[1] != errors.Is(err, ErrReceivingKeyNotProvided) || (!flags[1] && err != nil) {
			t.Errorf("%v without receiving key: %v", flags, err)
		}
		_, err = kf.Verify(vk, other, other)
		if (flags[0] || flags[1]) != errors.Is(err, ErrIncorrectKeyFragSignature) {
			t.Errorf("%v with wrong keys: %v", flags, err)
		}
		if _, err := kf.Verify(other, dk, rk); !errors.Is(err, ErrIncorrectKeyFragSignature) {
			t.Errorf("%v with wrong verifying key: %v", flags, err)
		}
	}
}

func TestGenerateKFragsValidation(t *testing.T) {
	p := newParty(t)
	for _, tc := range []struct{ t, n int }{{0, 1}, {2, 1}, {-1, 3}, {1, MaxShares + 1}, {0, 0}} {
		_, err := GenerateKFrags(p.delegating, p.receiving.PublicKey(), p.signer, tc.t, tc.n, true, true)
		if !errors.Is(err, ErrInvalidThreshold) {
			t.Errorf("%d-of-%d: err = %v", tc.t, tc.n, err)
		}
	}
}

func TestTamperedKeyFrag(t *testing.T) {
	p := newParty(t)
	vk, dk, rk := p.keys()
	kfrags, _ := GenerateKFrags(p.delegating, rk, p.signer, 2, 3, true, true)
	b, _ := kfrags[0].MarshalBinary()
	const rkLast = 1 + 36 + 34 + 33 // last byte of rk
	flip := func(i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	var kf KeyFrag
	if err := kf.UnmarshalBinary(flip(rkLast)); err != nil {
		t.Fatal(err)
	}
	if _, err := kf.Verify(vk, dk, rk); !errors.Is(err, ErrIncorrectCommitment) {
		t.Errorf("changed rk: %v", err)
	}
	if err := kf.UnmarshalBinary(flip(40)); err != nil { // inside the id
		t.Fatal(err)
	}
	if _, err := kf.Verify(vk, dk, rk); !errors.Is(err, ErrIncorrectKeyFragSignature) {
		t.Errorf("changed id: %v", err)
	}
}

func TestTamperedCapsuleFrag(t *testing.T) {
	p := newParty(t)
	vk, dk, rk := p.keys()
	c, ct, _ := Encrypt(dk, []byte("m"))
	kfrags, _ := GenerateKFrags(p.delegating, rk, p.signer, 2, 3, false, false)
	cfrags := p.reencryptAll(t, c, kfrags)
	b, _ := cfrags[0].MarshalBinary()
	if len(b) != CapsuleFragSize {
		t.Fatalf("%d-byte cfrag", len(b))
	}
	flip := func(i int) []byte { x := bytes.Clone(b); x[i] ^= 1; return x }
	const zLast = 1 + 35 + 35 + 34 + 35 + 1 + 4*35 + 33
	var cf CapsuleFrag
	if err := cf.UnmarshalBinary(flip(zLast)); err != nil {
		t.Fatal(err)
	}
	if _, err := cf.Verify(c, vk, dk, rk); !errors.Is(err, ErrIncorrectReencryption) {
		t.Errorf("changed z: %v", err)
	}
	// A cfrag for another capsule fails its proof against this capsule.
	c2, _, _ := Encrypt(dk, []byte("m"))
	other := p.reencryptAll(t, c2, kfrags[:1])[0]
	if _, err := other.CapsuleFrag().Verify(c, vk, dk, rk); !errors.Is(err, ErrIncorrectReencryption) {
		t.Errorf("cfrag of another capsule: %v", err)
	}
	// Wrong keys break the carried kfrag signature.
	if _, err := cfrags[0].CapsuleFrag().Verify(c, vk, dk, mustKey(t).PublicKey()); !errors.Is(err, ErrIncorrectKeyFragSignature) {
		t.Errorf("wrong receiving key: %v", err)
	}
	if _, err := cfrags[0].CapsuleFrag().Verify(c, mustKey(t).PublicKey(), dk, rk); !errors.Is(err, ErrIncorrectKeyFragSignature) {
		t.Errorf("wrong verifying key: %v", err)
	}
	if _, err := cfrags[0].CapsuleFrag().Verify(c, vk, nil, rk); !errors.Is(err, ErrDelegatingKeyNotProvided) {
		t.Errorf("no delegating key: %v", err)
	}
	// An unverified bad cfrag pushed through SkipVerification spoils decryption.
	if err := cf.UnmarshalBinary(flip(3)); err == nil { // E1 changed: decode may still succeed
		_, err := DecryptReencrypted(p.receiving, dk, c, []*VerifiedCapsuleFrag{cf.SkipVerification(), cfrags[1]}, ct)
		if !errors.Is(err, ErrValidationFailed) {
			t.Errorf("skipped bad cfrag: %v", err)
		}
	}
}

func TestDecryptReencryptedFailures(t *testing.T) {
	p := newParty(t)
	_, dk, rk := p.keys()
	c, ct, _ := Encrypt(dk, []byte("m"))
	kfrags, _ := GenerateKFrags(p.delegating, rk, p.signer, 2, 3, true, true)
	cfrags := p.reencryptAll(t, c, kfrags)
	kfrags2, _ := GenerateKFrags(p.delegating, rk, p.signer, 2, 3, true, true)
	cfrags2 := p.reencryptAll(t, c, kfrags2)
	c2, ct2, _ := Encrypt(dk, []byte("m"))
	cases := map[string]struct {
		sk     *SecretKey
		dk     *PublicKey
		c      *Capsule
		cfrags []*VerifiedCapsuleFrag
		ct     []byte
		want   error
	}{
		"none":            {p.receiving, dk, c, nil, ct, ErrNoCapsuleFrags},
		"mismatched":      {p.receiving, dk, c, []*VerifiedCapsuleFrag{cfrags[0], cfrags2[1]}, ct, ErrMismatchedCapsuleFrags},
		"repeated":        {p.receiving, dk, c, []*VerifiedCapsuleFrag{cfrags[0], cfrags[0]}, ct, ErrRepeatingCapsuleFrags},
		"wrong receiver":  {mustKey(t), dk, c, cfrags[:2], ct, ErrValidationFailed},
		"wrong delegator": {p.receiving, mustKey(t).PublicKey(), c, cfrags[:2], ct, ErrValidationFailed},
		"other capsule":   {p.receiving, dk, c2, cfrags[:2], ct2, ErrValidationFailed},
		"too short":       {p.receiving, dk, c, cfrags[:2], ct[:10], ErrCiphertextTooShort},
		"other ciphertext": {p.receiving, dk, c, cfrags[:2], func() []byte {
			_, x, _ := Encrypt(dk, []byte("m"))
			return x
		}(), ErrAuthenticationFailed},
	}
	for name, tc := range cases {
		if _, err := DecryptReencrypted(tc.sk, tc.dk, tc.c, tc.cfrags, tc.ct); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

// Zero values and nil keys are programming errors; they must fail cleanly.
func TestZeroValuesDoNotPanic(t *testing.T) {
	p := newParty(t)
	vk, dk, rk := p.keys()
	c, ct, _ := Encrypt(dk, []byte("m"))
	zsk, zpk := &SecretKey{}, &PublicKey{}
	if _, _, err := Encrypt(zpk, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Encrypt: %v", err)
	}
	if _, _, err := Encrypt(nil, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Encrypt nil: %v", err)
	}
	if _, err := DecryptOriginal(zsk, c, ct); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("DecryptOriginal: %v", err)
	}
	if _, err := NewSigner(zsk).Sign(nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Sign: %v", err)
	}
	if _, err := GenerateKFrags(p.delegating, zpk, p.signer, 1, 1, false, false); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("GenerateKFrags: %v", err)
	}
	if _, err := GenerateKFrags(p.delegating, rk, NewSigner(nil), 1, 1, false, false); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("GenerateKFrags nil signer key: %v", err)
	}
	kfrags, _ := GenerateKFrags(p.delegating, rk, p.signer, 1, 1, true, true)
	if _, err := kfrags[0].KeyFrag().Verify(zpk, dk, rk); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("KeyFrag.Verify: %v", err)
	}
	if _, err := kfrags[0].KeyFrag().Verify(vk, zpk, zpk); !errors.Is(err, ErrIncorrectKeyFragSignature) {
		t.Errorf("KeyFrag.Verify zero keys: %v", err)
	}
	cf, _ := Reencrypt(c, kfrags[0])
	if _, err := cf.CapsuleFrag().Verify(c, vk, zpk, rk); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("CapsuleFrag.Verify: %v", err)
	}
	if _, err := DecryptReencrypted(p.receiving, zpk, c, []*VerifiedCapsuleFrag{cf}, ct); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("DecryptReencrypted: %v", err)
	}
	for _, f := range []func() error{
		func() error { _, err := (&KeyFrag{}).Verify(vk, dk, rk); return err },
		func() error { _, err := (&CapsuleFrag{}).Verify(c, vk, dk, rk); return err },
		func() error { _, err := Reencrypt(c, &VerifiedKeyFrag{}); return err },
		func() error { _, err := Reencrypt(&Capsule{}, kfrags[0]); return err },
		func() error { _, err := (&KeyFrag{}).MarshalBinary(); return err },
		func() error { _, err := (&CapsuleFrag{}).MarshalBinary(); return err },
		func() error { _, err := (&Capsule{}).MarshalBinary(); return err },
		func() error {
			_, err := DecryptReencrypted(p.receiving, dk, c, []*VerifiedCapsuleFrag{{}}, ct)
			return err
		},
	} {
		if err := f(); !errors.Is(err, ErrInvalidEncoding) {
			t.Errorf("zero value: %v", err)
		}
	}
	if (&Signature{}).Verify(vk, nil) || (&Capsule{}).BytesSimple() != nil || (&CapsuleFrag{}).BytesSimple() != nil ||
		zsk.Bytes() != nil || zsk.PublicKey().usable() {
		t.Error("zero values produce output")
	}
}
