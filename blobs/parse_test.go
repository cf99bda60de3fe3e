package blobs

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	cases := []struct {
		h           string
		off, length int64
		partial     bool
		bad         bool
	}{
		{"", 0, size, false, false},
		{"bytes=0-", 0, size, true, false},
		{"bytes=10-19", 10, 10, true, false},
		{"bytes=990-5000", 990, 10, true, false},
		{"bytes=-10", 990, 10, true, false},
		{"bytes=-5000", 0, size, true, false},
		{"bytes=0-1,5-6", 0, size, false, false}, // several ranges: whole blob
		{"items=0-1", 0, size, false, false},
		{"bytes=1000-", 0, 0, false, true},
		{"bytes=5-4", 0, 0, false, true},
		{"bytes=-0", 0, 0, false, true},
		{"bytes=x-1", 0, 0, false, true},
		{"bytes=-1-2", 0, 0, false, true},
	}
	for _, c := range cases {
		off, n, partial, err := parseRange(c.h, size)
		if (err != nil) != c.bad {
			t.Errorf("%q: err %v", c.h, err)
			continue
		}
		if !c.bad && (off != c.off || n != c.length || partial != c.partial) {
			t.Errorf("%q: got %d+%d partial=%v", c.h, off, n, partial)
		}
	}
}

// FuzzParseRange: any header yields either an error or a range inside the blob.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-", "bytes=-1", "bytes=5-9", "bytes=9223372036854775807-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size <= 0 {
			return
		}
		off, n, _, err := parseRange(h, size)
		if err != nil {
			return
		}
		if off < 0 || n < 0 || off+n > size || (n == 0 && size > 0) {
			t.Fatalf("%q of %d: range %d+%d", h, size, off, n)
		}
	})
}

func signedHeaders(t testing.TB, chain string, node ledger.PubKey, size int64, at time.Time) (http.Header, *umbral.Signer) {
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	s := umbral.NewSigner(sk)
	a, err := SignUpload(s, chain, node, size, at)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	a.SetHeaders(h)
	return h, s
}

func TestUploadAuth(t *testing.T) {
	nodeSK, _ := umbral.GenerateSecretKey()
	node := ledger.PubKeyOf(nodeSK.PublicKey())
	now := time.Now()
	h, _ := signedHeaders(t, "rr-x", node, 42, now)
	a, err := parseUploadAuth(h, "rr-x", node, now)
	if err != nil || a.Size != 42 {
		t.Fatalf("good headers: %+v, %v", a, err)
	}
	otherSK, _ := umbral.GenerateSecretKey()
	if _, err := parseUploadAuth(h, "rr-x", ledger.PubKeyOf(otherSK.PublicKey()), now); err == nil {
		t.Fatal("accepted for another node")
	}
	if _, err := parseUploadAuth(h, "rr-y", node, now); err == nil {
		t.Fatal("accepted on another chain")
	}
	if _, err := parseUploadAuth(h, "rr-x", node, now.Add(3*time.Minute)); err == nil {
		t.Fatal("accepted a stale signature")
	}
	tampered := h.Clone()
	tampered.Set(HeaderSize, strconv.Itoa(43))
	if _, err := parseUploadAuth(tampered, "rr-x", node, now); err == nil {
		t.Fatal("accepted a changed size")
	}
	for _, k := range []string{HeaderSigner, HeaderTime, HeaderSize, HeaderSignature} {
		m := h.Clone()
		m.Set(k, "zz")
		if _, err := parseUploadAuth(m, "rr-x", node, now); err == nil {
			t.Fatalf("accepted a malformed %s", k)
		}
	}
}

// FuzzUploadAuth: arbitrary header values never panic and never verify.
func FuzzUploadAuth(f *testing.F) {
	nodeSK, _ := umbral.GenerateSecretKey()
	node := ledger.PubKeyOf(nodeSK.PublicKey())
	now := time.Unix(1_800_000_000, 0)
	h, _ := signedHeaders(f, "rr-x", node, 7, now)
	f.Add(h.Get(HeaderSigner), h.Get(HeaderTime), h.Get(HeaderSize), h.Get(HeaderSignature))
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, signer, tm, size, sig string) {
		m := http.Header{}
		m.Set(HeaderSigner, signer)
		m.Set(HeaderTime, tm)
		m.Set(HeaderSize, size)
		m.Set(HeaderSignature, sig)
		a, err := parseUploadAuth(m, "rr-x", node, now)
		if err == nil && (signer != h.Get(HeaderSigner) || a.Size < 0) {
			// Only the seed's own signer could have signed something valid.
			t.Fatalf("verified a forged upload: %+v", a)
		}
	})
}
