package envelope

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func sealShared(t *testing.T, k *SharedKey, pt []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := k.Seal(&buf, testMetadata(len(pt)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSharedKeyOneCapsuleOwnSalts(t *testing.T) {
	sk, owner := newOwner(t)
	k, err := NewSharedKey(sk.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	a, b := plaintext(1, 5000), plaintext(2, 300)
	fa, fb := sealShared(t, k, a), sealShared(t, k, b)
	ha, err := ParseHeader(bytes.NewReader(fa))
	if err != nil {
		t.Fatal(err)
	}
	hb, err := ParseHeader(bytes.NewReader(fb))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ha.fixed[offCapsule:offSalt], hb.fixed[offCapsule:offSalt]) {
		t.Fatal("the two files carry different capsules or wrapped keys")
	}
	if bytes.Equal(ha.salt(), hb.salt()) {
		t.Fatal("the two files share a salt: their header and payload keys would repeat")
	}
	// The owner opens the capsule once, from the first file, and opens the second with it.
	got, err := ha.SharedKey(owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ sealed, plain []byte }{{fa, a}, {fb, b}} {
		r, err := Open(bytes.NewReader(f.sealed), got)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(pt, f.plain) {
			t.Fatalf("reading back: %v", err)
		}
	}
	// More files sealed with the recovered key open with the first key.
	fc := sealShared(t, got, b)
	if _, err := Open(bytes.NewReader(fc), k); err != nil {
		t.Fatal(err)
	}
	// A file of another key is refused, not misread.
	other, err := NewSharedKey(sk.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bytes.NewReader(sealShared(t, other, a)), k); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("a file of another shared key: %v, want ErrWrongKey", err)
	}
	k.Wipe()
	if _, err := k.Seal(io.Discard, testMetadata(1), nil); err == nil {
		t.Fatal("sealed with a wiped key")
	}
}
