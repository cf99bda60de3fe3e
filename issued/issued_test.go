package issued

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/identity"
)

var update = flag.Bool("update", false, "rewrite testdata/*.issued")

func fixedIdentity(t testing.TB, b byte) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{b}, identity.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var (
	vectorTime    = time.Date(2026, 2, 1, 9, 30, 0, 0, time.UTC)
	vectorContent = []byte(`{"driver":"D-1042","month":"2026-01","deliveries":412,"hours":161.5}` + "\n")
)

// vectors are documents derived from valid.issued (signatures are hedged, so a valid
// document is kept, not regenerated) and what verifying each must say.
var vectors = []struct {
	file, wantErr string
	edit          func(doc []byte, forger *identity.Identity) []byte
}{
	{"valid.issued", "", nil},
	{"altered-content.issued", "content was altered", func(d []byte, _ *identity.Identity) []byte {
		return bytes.Replace(d, []byte(`"deliveries":412`), []byte(`"deliveries":512`), 1)
	}},
	{"altered-name.issued", "signature does not verify", func(d []byte, _ *identity.Identity) []byte {
		return bytes.Replace(d, []byte("name: work-summary-2026-01.json"), []byte("name: work-summary-2026-02.json"), 1)
	}},
	{"truncated.issued", "content was altered", func(d []byte, _ *identity.Identity) []byte { return d[:len(d)-5] }},
	{"forged.issued", "signature does not verify", func(d []byte, forger *identity.Identity) []byte {
		// A forger signs its own document but names the real issuer.
		h, _ := headerOf(d)
		doc, _ := New(forger, h.Subject, h.Issued, h.MediaType, h.Name, vectorContent)
		return bytes.Replace(doc, []byte(forger.Public().String()), []byte(h.Issuer.String()), 1)
	}},
	{"no-sig.issued", "expected the sig line", func(d []byte, _ *identity.Identity) []byte {
		i := bytes.Index(d, []byte("sig: "))
		return append(append([]byte(nil), d[:i]...), d[bytes.IndexByte(d[i:], '\n')+i+1:]...)
	}},
	{"wrong-version.issued", "first line", func(d []byte, _ *identity.Identity) []byte {
		return append([]byte("rrec-issued/v2"), d[len("rrec-issued/v1"):]...)
	}},
}

// headerOf is the header of a whole, valid document.
func headerOf(doc []byte) (*Header, error) { return Verify(bytes.NewReader(doc), &bytes.Buffer{}) }

func TestVectors(t *testing.T) {
	issuer, subject, forger := fixedIdentity(t, 1), fixedIdentity(t, 2), fixedIdentity(t, 3)
	validPath := filepath.Join("testdata", "valid.issued")
	if *update {
		doc, err := New(issuer, subject.Public(), vectorTime, "application/json", "work-summary-2026-01.json", vectorContent)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(validPath, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, v := range vectors[1:] {
			if err := os.WriteFile(filepath.Join("testdata", v.file), v.edit(doc, forger), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, v := range vectors {
		t.Run(v.file, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join("testdata", v.file))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			h, err := Verify(bytes.NewReader(doc), &out)
			if v.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), v.wantErr) {
					t.Fatalf("Verify = %v, want an ErrInvalid saying %q", err, v.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !h.Issuer.Equal(issuer.Public()) || !h.Subject.Equal(subject.Public()) || !h.Issued.Equal(vectorTime) ||
				h.MediaType != "application/json" || h.Name != "work-summary-2026-01.json" || h.SHA256 != sha256.Sum256(vectorContent) {
				t.Fatalf("header %+v does not say what was issued", h)
			}
			if !bytes.Equal(out.Bytes(), vectorContent) {
				t.Fatalf("content %q, want %q", out.Bytes(), vectorContent)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	issuer, subject := fixedIdentity(t, 4), fixedIdentity(t, 5)
	for _, content := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{0, '\n', 0xff}, 100000)} {
		doc, err := New(issuer, subject.Public(), time.Now(), "application/octet-stream", "données ✓.bin", content)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		h, err := Verify(bytes.NewReader(doc), &out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), content) || h.Name != "données ✓.bin" {
			t.Fatalf("round trip lost the content or the name")
		}
	}
}

func TestNewRefusesBadFields(t *testing.T) {
	issuer, subject := fixedIdentity(t, 4), fixedIdentity(t, 5).Public()
	for _, c := range []struct{ typ, name string }{
		{"application/json", ""},
		{"application/json", "two\nlines"},
		{"application/json", " padded"},
		{"application/json", strings.Repeat("n", MaxName+1)},
		{"json", "a.json"},
		{"application/jsön", "a.json"},
		{"", "a.json"},
	} {
		if _, err := New(issuer, subject, vectorTime, c.typ, c.name, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(type %q, name %q) = %v, want ErrInvalid", c.typ, c.name, err)
		}
	}
}

func TestHeaderBounded(t *testing.T) {
	doc := append([]byte("rrec-issued/v1\nissuer: "), bytes.Repeat([]byte("a"), 1<<20)...)
	if _, err := Verify(bytes.NewReader(doc), &bytes.Buffer{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("Verify of an endless header = %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	for _, v := range vectors {
		if doc, err := os.ReadFile(filepath.Join("testdata", v.file)); err == nil {
			f.Add(doc)
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var out bytes.Buffer
		h, err := Verify(bytes.NewReader(doc), &out)
		if err != nil {
			return
		}
		// Whatever verifies re-encodes to the bytes it was read from, but for the signature,
		// which is hedged: the header text up to the sig line is canonical.
		text, err := h.signed()
		if err != nil || !bytes.HasPrefix(doc, text) || sha256.Sum256(out.Bytes()) != h.SHA256 {
			t.Fatalf("verified a document whose header does not re-encode: %v", err)
		}
	})
}
