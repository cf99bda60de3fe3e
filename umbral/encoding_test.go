package umbral

import (
	"bytes"
	"errors"
	"testing"
)

func sampleFrags(t testing.TB) (party, *Capsule, []*VerifiedKeyFrag, []*VerifiedCapsuleFrag) {
	p := newParty(t)
	c, _, err := Encrypt(p.delegating.PublicKey(), []byte("sample"))
	if err != nil {
		t.Fatal(err)
	}
	kfrags, err := GenerateKFrags(p.delegating, p.receiving.PublicKey(), p.signer, 2, 3, true, false)
	if err != nil {
		t.Fatal(err)
	}
	var cfrags []*VerifiedCapsuleFrag
	for _, kf := range kfrags {
		cf, err := Reencrypt(c, kf)
		if err != nil {
			t.Fatal(err)
		}
		cfrags = append(cfrags, cf)
	}
	return p, c, kfrags, cfrags
}

func TestKeyFragEncoding(t *testing.T) {
	_, _, kfrags, _ := sampleFrags(t)
	b, err := kfrags[0].MarshalBinary()
	if err != nil || len(b) != KeyFragSize {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	plain, _ := kfrags[0].KeyFrag().MarshalBinary()
	if !bytes.Equal(b, plain) {
		t.Fatal("verified and plain kfrag encode differently")
	}
	// 95 | 91 c4 21 U | c4 20 id | c4 20 rk | c4 21 X | 95 c4 21 U1 c4 40 … c4 40 … c3 c2
	if b[0] != 0x95 || b[1] != 0x91 || !bytes.Equal(b[4:37], uCompressed[:]) || b[140] != 0x95 ||
		b[141] != 0xc4 || b[142] != 33 || b[308] != mpTrue || b[309] != mpFalse {
		t.Fatalf("unexpected layout %x", b)
	}
	var kf KeyFrag
	if err := kf.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	again, _ := kf.MarshalBinary()
	if !bytes.Equal(again, b) || !kf.Equal(kfrags[0].KeyFrag()) || !bytes.Equal(kf.ID(), kfrags[0].ID()) {
		t.Fatal("kfrag did not round-trip")
	}
	if kf.String() != "KeyFrag:"+hexOf(b[39:47]) {
		t.Errorf("String() = %q", kf.String())
	}
	skipped, _ := kf.SkipVerification().MarshalBinary()
	if !bytes.Equal(skipped, b) {
		t.Fatal("SkipVerification changed the fragment")
	}
}

func TestKeyFragRejects(t *testing.T) {
	_, _, kfrags, _ := sampleFrags(t)
	b, _ := kfrags[0].MarshalBinary()
	set := func(off int, v ...byte) []byte { c := bytes.Clone(b); copy(c[off:], v); return c }
	highS := func(off int) []byte { // replace s of the signature at off with n − s
		c := bytes.Clone(b)
		s := mustBig(t, hexOf(c[off+32:off+64]))
		copy(c[off+32:off+64], s.Sub(mustBig(t, orderHex), s).FillBytes(make([]byte, 32)))
		return c
	}
	for name, in := range map[string][]byte{
		"empty":            nil,
		"truncated":        b[:KeyFragSize-1],
		"trailing":         append(bytes.Clone(b), 0xc0),
		"outer header":     set(0, 0x94),
		"params header":    set(1, 0x90),
		"other U":          set(4, 0x02),
		"identity X":       set(107, 0x00),
		"rk ≥ n":           set(73, mustHex(t, orderHex)...),
		"bin16 id":         set(37, 0xc5),
		"bool not bool":    set(308, 0xc0),
		"proxy sig high":   highS(178),
		"recv sig high":    highS(244),
		"proxy sig zero r": set(178, make([]byte, 32)...),
	} {
		var kf KeyFrag
		if err := kf.UnmarshalBinary(in); !errors.Is(err, ErrInvalidEncoding) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestCapsuleFragEncoding(t *testing.T) {
	_, _, _, cfrags := sampleFrags(t)
	b, err := cfrags[0].MarshalBinary()
	if err != nil || len(b) != CapsuleFragSize || b[0] != 0x95 || b[140] != 0x96 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	plain, _ := cfrags[0].CapsuleFrag().MarshalBinary()
	if !bytes.Equal(b, plain) {
		t.Fatal("verified and plain cfrag encode differently")
	}
	var cf CapsuleFrag
	if err := cf.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if again, _ := cf.MarshalBinary(); !bytes.Equal(again, b) || !cf.Equal(cfrags[0].CapsuleFrag()) {
		t.Fatal("cfrag did not round-trip")
	}
	simple := cfrags[0].BytesSimple()
	if len(simple) != CapsuleFragSimpleSize {
		t.Fatalf("%d-byte simple cfrag", len(simple))
	}
	var cs CapsuleFrag
	if err := cs.UnmarshalSimple(simple); err != nil || !cs.Equal(&cf) || !bytes.Equal(cs.BytesSimple(), simple) {
		t.Fatalf("simple cfrag did not round-trip: %v", err)
	}
	if !bytes.Equal(cf.KeyFragID(), b[73:105]) || cf.String() != "CapsuleFrag:"+hexOf(b[73:81]) {
		t.Errorf("id accessors: %q", cf.String())
	}
}

func TestCapsuleFragRejects(t *testing.T) {
	_, _, _, cfrags := sampleFrags(t)
	b, _ := cfrags[0].MarshalBinary()
	set := func(off int, v ...byte) []byte { c := bytes.Clone(b); copy(c[off:], v); return c }
	for name, in := range map[string][]byte{
		"empty":        nil,
		"truncated":    b[:CapsuleFragSize-1],
		"trailing":     append(bytes.Clone(b), 0),
		"outer header": set(0, 0x96),
		"proof header": set(140, 0x95),
		"identity E1":  set(3, 0x00),
		"z ≥ n":        set(283, mustHex(t, orderHex)...),
		"sig zero":     set(317, make([]byte, 64)...),
		"bin length":   set(2, 32),
	} {
		var cf CapsuleFrag
		if err := cf.UnmarshalBinary(in); !errors.Is(err, ErrInvalidEncoding) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	var cf CapsuleFrag
	if err := cf.UnmarshalSimple(cfrags[0].BytesSimple()[:358]); !errors.Is(err, ErrInvalidEncoding) {
		t.Errorf("short simple: %v", err)
	}
}
