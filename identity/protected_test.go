package identity

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/protected-v1.txt from its inputs")

func pass(p string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(p), nil } }

// TestProtectedFile: a protected file opens with its passphrase only, is refused without
// one, and changing the passphrase keeps the identity.
func TestProtectedFile(t *testing.T) {
	id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "patient.key")
	if err := WriteProtectedFile(path, id, []byte("correct horse"), MinWorkFactor); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(path)
	if !IsProtected(text) || bytes.Contains(text, []byte(secretPrefix)) {
		t.Fatalf("not a protected file:\n%s", text)
	}
	if !bytes.Contains(text, []byte(id.Public().String())) {
		t.Fatal("the file does not name its public identity")
	}
	got, err := Open(path, pass("correct horse"))
	if err != nil || !got.Public().Equal(id.Public()) {
		t.Fatalf("open with the passphrase: %v", err)
	}
	if _, err := Open(path, pass("correct horse ")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("a wrong passphrase: %v", err)
	}
	if _, err := ReadFile(path); !errors.Is(err, ErrProtected) {
		t.Fatalf("read without a passphrase: %v", err)
	}
	if err := WriteProtectedFile(path, id, []byte("x"), MinWorkFactor); err == nil {
		t.Fatal("overwrote an identity file")
	}
	if err := WriteProtectedFile(filepath.Join(t.TempDir(), "k"), id, nil, MinWorkFactor); err == nil {
		t.Fatal("protected with an empty passphrase")
	}

	if err := Reprotect(path, got, []byte("battery staple"), MinWorkFactor); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, pass("correct horse")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("the old passphrase after a change: %v", err)
	}
	if again, err := Open(path, pass("battery staple")); err != nil || !again.Public().Equal(id.Public()) {
		t.Fatalf("the new passphrase: %v", err)
	}
	if err := Reprotect(path, got, nil, 0); err != nil {
		t.Fatal(err)
	}
	if plain, err := ReadFile(path); err != nil || !plain.Public().Equal(id.Public()) {
		t.Fatalf("after removing the passphrase: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after a change", st.Mode().Perm())
	}
}

// TestProtectedLineTampered: every byte of the protected line is bound; a work factor
// outside the bounds is refused before any passphrase is asked for.
func TestProtectedLineTampered(t *testing.T) {
	id, _ := Generate()
	line, err := id.MarshalProtected([]byte("pw"), MinWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := b32.DecodeString(strings.TrimPrefix(string(line), protectedPrefix))
	for _, i := range []int{1, 1 + saltSize, len(data) - 1} {
		bad := bytes.Clone(data)
		bad[i] ^= 1
		if _, err := Decode([]byte(protectedPrefix+b32.EncodeToString(bad)), pass("pw")); !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	for _, logN := range []byte{MinWorkFactor - 1, MaxWorkFactor + 1, 255} {
		bad := bytes.Clone(data)
		bad[0] = logN
		asked := false
		_, err := Decode([]byte(protectedPrefix+b32.EncodeToString(bad)), func() ([]byte, error) { asked = true; return []byte("pw"), nil })
		if !errors.Is(err, ErrMalformed) || asked {
			t.Fatalf("work factor %d: %v (passphrase asked: %v)", logN, err, asked)
		}
	}
}

// TestFileOfAnotherUser: an identity file another user owns is refused, whatever its mode.
func TestFileOfAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	id, _ := Generate()
	path := filepath.Join(t.TempDir(), "k")
	if err := WriteFile(path, id); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
		t.Fatalf("a file of uid 4242: %v", err)
	}
}

// vector is one entry of testdata/protected-v1.txt.
type vector struct {
	seed, salt []byte
	passphrase string
	logN       int
	line       string
}

func readVectors(t *testing.T) []vector {
	f, err := os.Open("testdata/protected-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	var v vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), ": ")
		switch {
		case !ok || strings.HasPrefix(k, "#"):
		case k == "seed":
			v.seed, err = hex.DecodeString(val)
		case k == "salt":
			v.salt, err = hex.DecodeString(val)
		case k == "passphrase":
			v.passphrase = val
		case k == "logN":
			v.logN, err = strconv.Atoi(val)
		case k == "line":
			v.line = val
			vs = append(vs, v)
			v = vector{}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return vs
}

// TestProtectedVectors: the lines of testdata/protected-v1.txt, made from their inputs, and
// opened with their passphrases (see SPEC.md for the construction).
func TestProtectedVectors(t *testing.T) {
	vs := readVectors(t)
	if len(vs) < 2 {
		t.Fatalf("%d vectors", len(vs))
	}
	var out strings.Builder
	out.WriteString("# Protected identity lines (identity/SPEC.md §3): seed, passphrase (UTF-8, the rest of\n# the line), log2 N and salt, then the line they make.\n")
	for i, v := range vs {
		line, err := protect(v.seed, []byte(v.passphrase), v.logN, v.salt)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "\nseed: %x\npassphrase: %s\nlogN: %d\nsalt: %x\nline: %s\n", v.seed, v.passphrase, v.logN, v.salt, line)
		if *update {
			continue
		}
		if string(line) != v.line {
			t.Errorf("vector %d: made\n%s\nwant\n%s", i, line, v.line)
		}
		id, err := Decode([]byte(v.line), pass(v.passphrase))
		if err != nil || !bytes.Equal(id.seed[:], v.seed) {
			t.Errorf("vector %d does not open: %v", i, err)
		}
	}
	if *update {
		if err := os.WriteFile("testdata/protected-v1.txt", []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzDecode: any file contents give an identity or an error, never a panic; the passphrase
// is asked for only of a well-formed protected line, and a wrong one is refused.
func FuzzDecode(f *testing.F) {
	id, _ := FromSeed(bytes.Repeat([]byte{3}, SeedSize))
	plain, _ := id.MarshalText()
	prot, _ := id.MarshalProtected([]byte("pw"), MinWorkFactor)
	f.Add(plain)
	f.Add(prot)
	f.Add([]byte("# comment\n\n" + string(prot) + "\n"))
	f.Add([]byte(protectedPrefix + "AAAA"))
	f.Fuzz(func(t *testing.T, text []byte) {
		asked := false
		got, err := Decode(text, func() ([]byte, error) { asked = true; return nil, errors.New("no passphrase here") })
		if err == nil && IsProtected(text) {
			t.Fatal("a protected line opened without its passphrase")
		}
		if asked && !IsProtected(text) {
			t.Fatal("asked for a passphrase of a line that is not protected")
		}
		if err == nil {
			if again, err := Parse(text); err != nil || !again.Public().Equal(got.Public()) {
				t.Fatalf("Decode and Parse disagree: %v", err)
			}
		}
	})
}
