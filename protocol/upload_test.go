package protocol

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/umbral"
)

func signedHeaders(t testing.TB, chain string, node PubKey, size int64, at time.Time) (http.Header, *umbral.Signer) {
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
	node := PubKeyOf(nodeSK.PublicKey())
	now := time.Now()
	h, _ := signedHeaders(t, "rr-x", node, 42, now)
	a, err := ParseUploadAuth(h, "rr-x", node, now)
	if err != nil || a.Size != 42 {
		t.Fatalf("good headers: %+v, %v", a, err)
	}
	if _, err := ParseUploadAuth(h, "rr-x", node, now.Add(3*time.Minute)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a stale signature: %v, want bad_signature", err)
	}
	otherSK, _ := umbral.GenerateSecretKey()
	if _, err := ParseUploadAuth(h, "rr-x", PubKeyOf(otherSK.PublicKey()), now); err == nil {
		t.Fatal("accepted for another node")
	}
	if _, err := ParseUploadAuth(h, "rr-y", node, now); err == nil {
		t.Fatal("accepted on another chain")
	}
	if _, err := ParseUploadAuth(h, "rr-x", node, now.Add(3*time.Minute)); err == nil {
		t.Fatal("accepted a stale signature")
	}
	tampered := h.Clone()
	tampered.Set(HeaderSize, strconv.Itoa(43))
	if _, err := ParseUploadAuth(tampered, "rr-x", node, now); err == nil {
		t.Fatal("accepted a changed size")
	}
	for _, k := range []string{HeaderSigner, HeaderTime, HeaderSize, HeaderSignature} {
		m := h.Clone()
		m.Set(k, "zz")
		if _, err := ParseUploadAuth(m, "rr-x", node, now); err == nil {
			t.Fatalf("accepted a malformed %s", k)
		}
	}
}

// FuzzUploadAuth: arbitrary header values never panic and never verify.
func FuzzUploadAuth(f *testing.F) {
	nodeSK, _ := umbral.GenerateSecretKey()
	node := PubKeyOf(nodeSK.PublicKey())
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
		a, err := ParseUploadAuth(m, "rr-x", node, now)
		if err == nil && (signer != h.Get(HeaderSigner) || a.Size < 0) {
			// Only the seed's own signer could have signed something valid.
			t.Fatalf("verified a forged upload: %+v", a)
		}
	})
}
