package proxy

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// valueVector is testdata/vault-value.txt: one value of the vault's format and what made it.
type valueVector struct {
	aead                     cipherAEAD
	grant                    protocol.ID
	kfrag, nonce, value, key []byte
}

func loadValueVector(tb testing.TB) *valueVector {
	tb.Helper()
	f, err := os.Open("testdata/vault-value.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fields := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<16)
	for sc.Scan() {
		name, h, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if fields[name], err = hex.DecodeString(h); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
	}
	vec := &valueVector{key: fields["key"], kfrag: fields["kfrag"], nonce: fields["nonce"], value: fields["value"]}
	copy(vec.grant[:], fields["grant"])
	if vec.aead, err = chacha20poly1305.NewX(vec.key); err != nil {
		tb.Fatal(err)
	}
	return vec
}

// The vector's value is what the vault seals, byte for byte, and opens to the vector's
// fragment.
func TestVaultValueVector(t *testing.T) {
	vec := loadValueVector(t)
	if got := sealWithNonce(vec.aead, vec.grant, vec.kfrag, vec.nonce); !bytes.Equal(got, vec.value) {
		t.Fatalf("sealed %x, want %x", got, vec.value)
	}
	kf, err := openValue(vec.aead, vec.grant, vec.value)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := kf.MarshalBinary(); !bytes.Equal(b, vec.kfrag) {
		t.Fatal("opened to another fragment")
	}
}

// FuzzOpenValue: no stored value, however damaged, panics the vault; only the value sealed
// for a grant opens, and only under that grant.
func FuzzOpenValue(f *testing.F) {
	vec := loadValueVector(f)
	other := grantN(2)
	f.Add(vec.grant[:], vec.value)
	f.Add(vec.grant[:], vec.value[:len(vec.value)-1])
	f.Add(other[:], vec.value)
	f.Add([]byte{}, []byte(vaultMagic))
	f.Fuzz(func(t *testing.T, g, value []byte) {
		var id protocol.ID
		copy(id[:], g)
		got, err := openValue(vec.aead, id, value)
		if err != nil {
			return
		}
		if id != vec.grant || !bytes.Equal(value, vec.value) {
			t.Fatalf("a value other than the one sealed opened (grant %v, %d bytes)", id, len(value))
		}
		if b, _ := got.MarshalBinary(); !bytes.Equal(b, vec.kfrag) {
			t.Fatal("the sealed value opened to another fragment")
		}
	})
}

// FuzzVaultNames: the database keys and the earlier layout's file names parse only when
// they are exactly what the vault writes.
func FuzzVaultNames(f *testing.F) {
	g := grantN(5)
	f.Add(fragKey(g), g.String())
	f.Add([]byte("mcount"), ".tmp-1")
	f.Add([]byte{'f'}, "EE"+g.String()[2:])
	f.Fuzz(func(t *testing.T, key []byte, name string) {
		if id, ok := grantOfKey(key); ok && !bytes.Equal(fragKey(id), key) {
			t.Fatalf("key %x parsed as %v", key, id)
		}
		if id, ok := grantOfFile(name); ok && id.String() != name {
			t.Fatalf("file name %q parsed as %v", name, id)
		}
	})
}
