package identity

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/umbral"
)

func TestKeysComeFromTheSeedByTheDocumentedLabels(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, SeedSize)
	id, err := FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	f, err := umbral.NewSecretKeyFactory(seed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(id.ReceivingKey().Bytes(), f.MakeKey([]byte("rrec/receiving/v1")).Bytes()) {
		t.Error("receiving key does not match MakeKey(rrec/receiving/v1)")
	}
	if !id.Signer().VerifyingKey().Equal(f.MakeKey([]byte("rrec/signing/v1")).PublicKey()) {
		t.Error("signing key does not match MakeKey(rrec/signing/v1)")
	}
	dk, err := id.DelegatingKey([]byte("record-1"))
	if err != nil {
		t.Fatal(err)
	}
	want := f.MakeFactory([]byte("rrec/records/v1")).MakeKey([]byte("record-1"))
	if !bytes.Equal(dk.Bytes(), want.Bytes()) {
		t.Error("delegating key does not match MakeFactory(rrec/records/v1).MakeKey(label)")
	}
	other, _ := id.DelegatingKey([]byte("record-2"))
	if bytes.Equal(dk.Bytes(), other.Bytes()) {
		t.Error("two records share a delegating key")
	}
	if _, err := id.DelegatingKey(nil); err == nil {
		t.Error("empty key label accepted")
	}
	if _, err := FromSeed(seed[:31]); err == nil {
		t.Error("31-byte seed accepted")
	}
}

func TestPublicRoundTripAndTypos(t *testing.T) {
	id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	s := id.Public().String()
	if !strings.HasPrefix(s, PublicPrefix) || len(s) > 120 {
		t.Fatalf("public identity %q: want prefix %q and at most 120 characters", s, PublicPrefix)
	}
	p, err := ParsePublic(s)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Equal(id.Public()) {
		t.Fatal("round trip changed the keys")
	}
	if p2, err := ParsePublic("  " + strings.ToUpper(s) + "\n"); err != nil || !p2.Equal(p) {
		t.Errorf("upper case with spaces: %v", err)
	}
	for name, bad := range map[string]string{
		"empty":     "",
		"prefix":    "age1" + s[len(PublicPrefix):],
		"truncated": s[:len(s)-1],
		"extended":  s + "a",
		"typo":      s[:20] + flip(s[20]) + s[21:],
		"symbols":   s[:20] + "!" + s[21:],
	} {
		if _, err := ParsePublic(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestSecretNeverPrinted(t *testing.T) {
	id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := id.MarshalText()
	body := string(secret[len(secretPrefix):])
	for _, s := range []string{fmt.Sprint(id), fmt.Sprintf("%v %+v %#v %s", id, id, id, id)} {
		if strings.Contains(s, body) || strings.Contains(s, secretPrefix) {
			t.Fatalf("formatting leaked the secret: %s", s)
		}
	}
}

func TestFileIsPrivateAndNeverOverwritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "me.key")
	id, _ := Generate()
	if err := WriteFile(path, id); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %04o, want 0600", st.Mode().Perm())
	}
	text, _ := os.ReadFile(path)
	if !strings.Contains(string(text), "# public identity: "+id.Public().String()) {
		t.Errorf("the file does not name its public identity:\n%s", text)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Public().Equal(id.Public()) {
		t.Fatal("read back a different identity")
	}
	other, _ := Generate()
	if err := WriteFile(path, other); err == nil {
		t.Fatal("an existing identity was overwritten")
	}
	if again, _ := ReadFile(path); !again.Public().Equal(id.Public()) {
		t.Fatal("a refused overwrite changed the file")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable identity: got %v, want a refusal that says chmod 600", err)
	}
}

func TestParseRejectsDamagedFiles(t *testing.T) {
	id, _ := Generate()
	line, _ := id.MarshalText()
	good := "# comment\n\n" + string(line) + "\n"
	if _, err := Parse([]byte(good)); err != nil {
		t.Fatalf("good file: %v", err)
	}
	mid := len(line) - 10
	damaged := string(line[:mid]) + map[bool]string{true: "B", false: "A"}[line[mid] == 'A'] + string(line[mid+1:])
	last := line[len(line)-1]
	// Flipping an unused low bit of the last character keeps the bytes but not the encoding.
	nonCanonical := string(line[:len(line)-1]) + string(last^1)
	for name, bad := range map[string]string{
		"empty":         "",
		"comments":      "# nothing here\n",
		"two lines":     good + string(line) + "\n",
		"wrong kind":    "AGE-SECRET-KEY-1QQQ\n",
		"damaged":       damaged,
		"non-canonical": nonCanonical,
		"truncated":     string(line[:len(line)-2]),
	} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzParsePublic(f *testing.F) {
	id, _ := FromSeed(bytes.Repeat([]byte{1}, SeedSize))
	f.Add(id.Public().String())
	f.Add("rrec1")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePublic(s)
		if err != nil {
			return
		}
		if q, err := ParsePublic(p.String()); err != nil || !q.Equal(p) {
			t.Fatalf("re-encoding %q does not parse back: %v", s, err)
		}
	})
}

func FuzzParse(f *testing.F) {
	id, _ := FromSeed(bytes.Repeat([]byte{2}, SeedSize))
	line, _ := id.MarshalText()
	f.Add(line)
	f.Add([]byte("# x\n" + string(line)))
	f.Fuzz(func(t *testing.T, text []byte) {
		id, err := Parse(text)
		if err != nil {
			return
		}
		again, _ := id.MarshalText()
		if back, err := Parse(again); err != nil || !back.Public().Equal(id.Public()) {
			t.Fatalf("re-encoding does not parse back: %v", err)
		}
	})
}

// TestStreamKeys: a stream's key and a name's label depend on the seed and on the stream or
// name, and a stream key is no record key of the same label.
func TestStreamKeys(t *testing.T) {
	a, _ := FromSeed(make([]byte, SeedSize))
	b, _ := FromSeed(append(make([]byte, SeedSize-1), 1))
	label := []byte("stream id")
	ka, err := a.StreamKey(label)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := a.StreamKey(label)
	other, _ := a.StreamKey([]byte("another stream"))
	kb, _ := b.StreamKey(label)
	rec, _ := a.DelegatingKey(label)
	pub := func(k interface{ PublicKey() *umbral.PublicKey }) string { return fmt.Sprint(k.PublicKey().Bytes()) }
	if pub(ka) != pub(again) || pub(ka) == pub(other) || pub(ka) == pub(kb) || pub(ka) == pub(rec) {
		t.Fatal("stream keys do not depend on exactly the seed and the stream")
	}
	// Generation 0 is the stream's first key; generation g labels stream ‖ u32 g.
	g0, _ := a.StreamKeyOf(label, 0)
	g1, _ := a.StreamKeyOf(label, 1)
	g2, _ := a.StreamKeyOf(label, 2)
	f, _ := umbral.NewSecretKeyFactory(a.seed[:])
	want1 := f.MakeFactory([]byte("rrec/streams/v1")).MakeKey(append(append([]byte(nil), label...), 0, 0, 0, 1))
	if pub(g0) != pub(ka) || pub(g1) != pub(want1) || pub(g1) == pub(ka) || pub(g2) == pub(g1) {
		t.Fatal("a stream's generation keys are not MakeKey(stream ‖ u32 generation), generation 0 the stream's key")
	}
	la, _ := a.StreamLabel("location")
	la2, _ := a.StreamLabel("location")
	lb, _ := b.StreamLabel("location")
	lo, _ := a.StreamLabel("vitals")
	if la != la2 || la == lb || la == lo {
		t.Fatal("stream labels do not depend on exactly the seed and the name")
	}
}
