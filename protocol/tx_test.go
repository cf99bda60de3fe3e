package ledger

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// vectorTxs are fixed transactions whose sign bytes are pinned in
// testdata/tx-vectors.json, so the encoding cannot drift unnoticed.
func vectorTxs() map[string]*Tx {
	var signer, rs, re, proxy PubKey
	signer[0], rs[0], re[0], proxy[0] = 2, 3, 2, 3
	for i := 1; i < 33; i++ {
		signer[i], rs[i], re[i], proxy[i] = byte(i), byte(0x40+i), byte(0x80+i), byte(0xc0+i)
	}
	var capsule [CapsuleSize]byte
	for i := range capsule {
		capsule[i] = byte(i)
	}
	rec, grant := ID{0xaa, 1}, ID{0xbb, 2}
	return map[string]*Tx{
		"put_record": {ChainID: "rr-vectors", Signer: signer, Sequence: 0,
			Body: &PutRecord{CID: []byte("bafkrei-example"), Size: 1 << 20, Capsule: capsule, DelegatingKey: re}},
		"grant": {ChainID: "rr-vectors", Signer: signer, Sequence: 1,
			Body: &Grant{Record: rec, RecipientSig: rs, RecipientEnc: re, Threshold: 0,
				Nodes:     []GrantNode{{Proxy: proxy, Commitment: [32]byte{0xcc}}},
				NotBefore: 1_700_000_000_000_000_000, NotAfter: 1_800_000_000_000_000_000, Purpose: "treatment"}},
		"revoke":         {ChainID: "rr-vectors", Signer: signer, Sequence: 2, Body: &Revoke{Grant: grant}},
		"request_access": {ChainID: "rr-vectors", Signer: rs, Sequence: 0, Body: &RequestAccess{Grant: grant, Purpose: "consultation"}},
		"erase_record":   {ChainID: "rr-vectors", Signer: signer, Sequence: 3, Body: &EraseRecord{Record: rec}},
		"holds_blob":     {ChainID: "rr-vectors", Signer: proxy, Sequence: 0, Body: &HoldsBlob{Record: rec}},
	}
}

func TestSignBytesVectors(t *testing.T) {
	path := filepath.Join("testdata", "tx-vectors.json")
	got := map[string]string{}
	for name, tx := range vectorTxs() {
		got[name] = hex.EncodeToString(tx.SignBytes())
	}
	if os.Getenv("RREC_UPDATE_VECTORS") == "1" {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%d vectors on file, %d computed", len(want), len(got))
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: sign bytes\n got %s\nwant %s", name, got[name], w)
		}
	}
}

func TestTxRoundTripAndSignature(t *testing.T) {
	a := newAccount(t)
	c, dk := testCapsule(t)
	tx := &Tx{ChainID: testChain, Sequence: 7, Body: &PutRecord{CID: []byte("x"), Size: 3, Capsule: c, DelegatingKey: dk}}
	if err := tx.Sign(a.signer); err != nil {
		t.Fatal(err)
	}
	raw := tx.Encode()
	back, err := DecodeTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Encode(), raw) || !back.VerifySig() {
		t.Fatal("round trip changed the tx or broke the signature")
	}
	back.Sequence++
	if back.VerifySig() {
		t.Fatal("signature verified after the sequence changed")
	}
}

func TestDecodeRejects(t *testing.T) {
	a := newAccount(t)
	c, dk := testCapsule(t)
	good := a.tx(t, testChain, &PutRecord{CID: []byte("x"), Capsule: c, DelegatingKey: dk})
	badCapsule := c
	badCapsule[40] ^= 1
	cases := map[string]struct {
		raw  []byte
		want error
	}{
		"empty":          {nil, ErrMalformed},
		"version":        {append([]byte{2}, good[1:]...), ErrMalformed},
		"next type":      {append([]byte{1, 7}, good[2:]...), ErrUnsupportedTx},
		"unknown type":   {append([]byte{1, 200}, good[2:]...), ErrUnsupportedTx},
		"truncated":      {good[:len(good)-1], ErrMalformed},
		"trailing":       {append(append([]byte{}, good...), 0), ErrMalformed},
		"oversized":      {make([]byte, MaxTxBytes+1), ErrMalformed},
		"bad capsule":    {a.tx(t, testChain, &PutRecord{CID: []byte("x"), Capsule: badCapsule, DelegatingKey: dk}), ErrInvalidTx},
		"empty cid":      {a.tx(t, testChain, &PutRecord{Capsule: c, DelegatingKey: dk}), ErrInvalidTx},
		"bad purpose":    {a.tx(t, testChain, &RequestAccess{Purpose: "\xff"}), ErrInvalidTx},
		"time inversion": {a.tx(t, testChain, &Grant{RecipientSig: a.pk, RecipientEnc: a.pk, Nodes: []GrantNode{{Proxy: a.pk}}, NotBefore: 10, NotAfter: 5}), ErrInvalidTx},
	}
	for name, c := range cases {
		if _, err := DecodeTx(c.raw); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

// FuzzDecodeTx: decoding never panics, and whatever decodes re-encodes to
// the same bytes (the encoding is canonical).
func FuzzDecodeTx(f *testing.F) {
	for _, tx := range vectorTxs() {
		f.Add(tx.Encode())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := DecodeTx(raw)
		if err != nil {
			if Code(err) == CodeInternal {
				t.Fatalf("decode error without a code: %v", err)
			}
			return
		}
		if !bytes.Equal(tx.Encode(), raw) {
			t.Fatalf("re-encoding differs: %x", raw)
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzDecodeTx when
// RREC_UPDATE_VECTORS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("RREC_UPDATE_VECTORS") != "1" {
		t.Skip("set RREC_UPDATE_VECTORS=1 to regenerate seeds")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeTx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Seeds that decode: real keys, a real capsule, real signatures.
	owner, doc, proxy := newAccount(t), newAccount(t), newAccount(t)
	c, dk := testCapsule(t)
	seeds := map[string][]byte{
		"put_record": owner.tx(t, testChain, &PutRecord{CID: []byte("bafkreiseed"), Size: 9, Capsule: c, DelegatingKey: dk}),
		"grant": owner.tx(t, testChain, &Grant{Record: ID{1}, RecipientSig: doc.pk, RecipientEnc: doc.pk,
			Nodes: []GrantNode{{Proxy: proxy.pk, Commitment: [32]byte{2}}, {Proxy: owner.pk}}, NotAfter: 99, Purpose: "care"}),
		"revoke":         owner.tx(t, testChain, &Revoke{Grant: ID{3}}),
		"request_access": doc.tx(t, testChain, &RequestAccess{Grant: ID{3}, Purpose: "consult"}),
	}
	for name, raw := range seeds {
		if _, err := DecodeTx(raw); err != nil {
			t.Fatalf("seed %s does not decode: %v", name, err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzParseTx reaches past the curve checks that stop most mutated inputs
// in DecodeTx: whatever parses re-encodes to the same bytes.
func FuzzParseTx(f *testing.F) {
	for _, tx := range vectorTxs() {
		f.Add(tx.Encode())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := parseTx(raw)
		if err != nil {
			return
		}
		if !bytes.Equal(tx.Encode(), raw) {
			t.Fatalf("re-encoding differs: %x", raw)
		}
	})
}
