package umbral

import (
	"bytes"
	"testing"
)

// Every decoder must either reject its input with an error or accept exactly
// the bytes it would write again: the formats have one encoding per value.
// The committed seeds under testdata/fuzz/<FuzzName>/ are valid encodings.

func FuzzPublicKey(f *testing.F) {
	f.Add(mustKey(f).PublicKey().Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := PublicKeyFromBytes(b)
		if err == nil && !bytes.Equal(pk.Bytes(), b) {
			t.Fatalf("accepted %x, re-encodes as %x", b, pk.Bytes())
		}
	})
}

func FuzzSecretKey(f *testing.F) {
	f.Add(mustKey(f).Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		sk, err := SecretKeyFromBytes(b)
		if err == nil && !bytes.Equal(sk.Bytes(), b) {
			t.Fatalf("accepted %x, re-encodes as %x", b, sk.Bytes())
		}
	})
}

func FuzzSignature(f *testing.F) {
	sig, _ := NewSigner(mustKey(f)).Sign([]byte("seed"))
	f.Add(sig.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := SignatureFromBytes(b)
		if err == nil && !bytes.Equal(s.Bytes(), b) {
			t.Fatalf("accepted %x, re-encodes as %x", b, s.Bytes())
		}
	})
}

func FuzzSignatureDER(f *testing.F) {
	sig, _ := NewSigner(mustKey(f)).Sign([]byte("seed"))
	f.Add(sig.DER())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := SignatureFromDER(b)
		if err == nil && !bytes.Equal(s.DER(), b) {
			t.Fatalf("accepted %x, re-encodes as %x", b, s.DER())
		}
	})
}

func FuzzCapsule(f *testing.F) {
	c, _, _ := Encrypt(mustKey(f).PublicKey(), nil)
	b, _ := c.MarshalBinary()
	f.Add(b)
	f.Add(c.BytesSimple())
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Capsule
		if err := c.UnmarshalBinary(b); err == nil {
			again, err := c.MarshalBinary()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("accepted %x, re-encodes as %x (%v)", b, again, err)
			}
		}
		if err := c.UnmarshalSimple(b); err == nil && !bytes.Equal(c.BytesSimple(), b) {
			t.Fatalf("accepted simple %x, re-encodes as %x", b, c.BytesSimple())
		}
	})
}

func FuzzKeyFrag(f *testing.F) {
	p := newParty(f)
	kfrags, _ := GenerateKFrags(p.delegating, p.receiving.PublicKey(), p.signer, 1, 2, true, false)
	for _, kf := range kfrags {
		b, _ := kf.MarshalBinary()
		f.Add(b)
	}
	vk, dk, rk := p.keys()
	f.Fuzz(func(t *testing.T, b []byte) {
		var kf KeyFrag
		if err := kf.UnmarshalBinary(b); err != nil {
			return
		}
		again, err := kf.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted %x, re-encodes as %x (%v)", b, again, err)
		}
		// Verification of arbitrary decoded fragments must not panic.
		_, _ = kf.Verify(vk, dk, rk)
	})
}

func FuzzCapsuleFrag(f *testing.F) {
	p, c, _, cfrags := sampleFrags(f)
	for _, cf := range cfrags {
		b, _ := cf.MarshalBinary()
		f.Add(b)
		f.Add(cf.BytesSimple())
	}
	vk, dk, rk := p.keys()
	f.Fuzz(func(t *testing.T, b []byte) {
		var cf CapsuleFrag
		if err := cf.UnmarshalBinary(b); err == nil {
			again, err := cf.MarshalBinary()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("accepted %x, re-encodes as %x (%v)", b, again, err)
			}
			_, _ = cf.Verify(c, vk, dk, rk)
		}
		if err := cf.UnmarshalSimple(b); err == nil {
			if !bytes.Equal(cf.BytesSimple(), b) {
				t.Fatalf("accepted simple %x, re-encodes as %x", b, cf.BytesSimple())
			}
			_, _ = cf.Verify(c, vk, dk, rk)
		}
	})
}
