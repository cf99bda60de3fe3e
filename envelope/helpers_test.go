package envelope

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// sentinels is every error a malformed or unopenable file may wrap.
var sentinels = []error{ErrNotEnvelope, ErrUnsupportedVersion, ErrTruncated, ErrCorrupt, ErrAuthentication, ErrWrongKey}

// isSentinel reports whether err wraps exactly one of the format sentinels.
func isSentinel(err error) bool {
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	return n == 1
}

// plaintext returns n deterministic pseudo-random bytes.
func plaintext(seed uint64, n int) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	rand.NewChaCha8(s).Read(b)
	return b
}

func newOwner(t testing.TB) (*umbral.SecretKey, OwnerKey) {
	t.Helper()
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	return sk, OwnerKey{Delegating: sk}
}

func testMetadata(size int) Metadata {
	return Metadata{
		Name:      "scan-2026-03-14.dcm",
		MediaType: "application/dicom",
		Size:      int64(size),
		Created:   time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC),
		Labels:    map[string]string{"encounter": "E-1042", "kind": "imaging", "résumé": "ü"},
	}
}

// sealBytes seals pt under sk's public key, writing it with Write calls of step bytes
// (step <= 0 means through io.Copy, which uses ReadFrom).
func sealBytes(t testing.TB, sk *umbral.SecretKey, meta Metadata, pt []byte, opts *Options, step int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := Seal(&out, sk.PublicKey(), meta, opts)
	if err != nil {
		t.Fatal(err)
	}
	if step <= 0 {
		if _, err := io.Copy(w, bytes.NewReader(pt)); err != nil {
			t.Fatal(err)
		}
	} else {
		for p := pt; len(p) > 0; {
			k := min(step, len(p))
			if n, err := w.Write(p[:k]); err != nil || n != k {
				t.Fatalf("Write = %d, %v", n, err)
			}
			p = p[k:]
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// openAll opens sealed and reads it to the end with io.ReadAll (Read calls, not WriteTo).
func openAll(sealed []byte, u Unwrapper) ([]byte, Metadata, error) {
	r, err := Open(bytes.NewReader(sealed), u)
	if err != nil {
		return nil, Metadata{}, err
	}
	pt, err := io.ReadAll(onlyReader{r})
	return pt, r.Metadata(), err
}

// onlyReader hides WriteTo so io.Copy and io.ReadAll exercise Read.
type onlyReader struct{ io.Reader }
