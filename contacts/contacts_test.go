package contacts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newPublic(t *testing.T) identity.Public {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id.Public()
}

func TestBookRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rrec", "contacts")
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ada, bob := newPublic(t), newPublic(t)
	if err := b.Add("Dr  Ada Smith", ada); err != nil {
		t.Fatal(err)
	}
	if err := b.Add("bob", bob); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("book file: %v, %v", fi, err)
	}

	b2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	all := b2.All()
	if len(all) != 2 || all[0].Name != "bob" || all[1].Name != "Dr Ada Smith" || !all[1].Identity.Equal(ada) {
		t.Fatalf("reopened book: %+v", all)
	}
	if got, err := b2.Resolve("dr ada smith"); err != nil || !got.Equal(ada) {
		t.Errorf("Resolve by name: %v", err)
	}
	if got, err := b2.Resolve(bob.String()); err != nil || !got.Equal(bob) {
		t.Errorf("Resolve by identity: %v", err)
	}
	if _, err := b2.Resolve("Carol"); err == nil || !strings.Contains(err.Error(), "contacts") {
		t.Errorf("Resolve of a stranger: %v", err)
	}
	if name, ok := b2.NameOf(protocol.PubKeyOf(ada.Signing)); !ok || name != "Dr Ada Smith" {
		t.Errorf("NameOf: %q %v", name, ok)
	}

	// A new identity under a known name replaces it; a known identity under a new name is renamed.
	ada2 := newPublic(t)
	if err := b2.Add("Dr Ada Smith", ada2); err != nil {
		t.Fatal(err)
	}
	if err := b2.Add("Robert", bob); err != nil {
		t.Fatal(err)
	}
	if all := b2.All(); len(all) != 2 || all[0].Name != "Dr Ada Smith" || !all[0].Identity.Equal(ada2) || all[1].Name != "Robert" {
		t.Fatalf("after renames: %+v", all)
	}
	if ok, err := b2.Remove("robert"); !ok || err != nil {
		t.Fatalf("Remove: %v %v", ok, err)
	}
	if ok, _ := b2.Remove("robert"); ok {
		t.Fatal("removed twice")
	}
}

func TestBookRefuses(t *testing.T) {
	b, _ := Open(filepath.Join(t.TempDir(), "c"))
	pub := newPublic(t)
	for _, name := range []string{"", "   ", "rrec1abc", strings.Repeat("x", MaxName+1), "a\x00b"} {
		if err := b.Add(name, pub); err == nil {
			t.Errorf("Add(%q) accepted", name)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("rrec1nonsense Ada\n"), 0o600)
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("Open of a bad line: %v", err)
	}
}
