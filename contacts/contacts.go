// Package contacts is a user's address book: the names they know people by, each with the
// public identity (rrec1…) that person handed them. The tools show people by these names
// wherever the ledger only knows a key, and take a name wherever they take an identity.
//
// The book is a text file, one contact a line, the identity first and the name after it:
//
//	# comments and blank lines are kept out
//	rrec1aijk4twjny2…  Dr Ada Smith
//
// It holds nothing secret, but it says whom the user deals with, so it is written 0600.
package contacts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// MaxName bounds a contact's name, in bytes of UTF-8.
const MaxName = 100

// maxFile bounds the book, which is read whole.
const maxFile = 4 << 20

// Contact is one person of the book.
type Contact struct {
	Name     string          `json:"name"`
	Identity identity.Public `json:"-"`
}

// Book is an address book backed by a file. It is safe for concurrent use.
type Book struct {
	path string

	mu   sync.Mutex
	list []Contact // in the file's order
}

// DefaultPath is where the book lives when the user names no file: $RREC_CONTACTS, else
// "rrec/contacts" under the user's configuration directory.
func DefaultPath() (string, error) {
	if p := os.Getenv("RREC_CONTACTS"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("contacts: no configuration directory (set RREC_CONTACTS): %w", err)
	}
	return filepath.Join(dir, "rrec", "contacts"), nil
}

// Open reads the book at path; a missing file is an empty book, created on the first Add.
func Open(path string) (*Book, error) {
	b := &Book{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("contacts: %s is larger than %d bytes", path, maxFile)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, name, _ := strings.Cut(line, " ")
		pub, err := identity.ParsePublic(id)
		if err != nil {
			return nil, fmt.Errorf("contacts: %s line %d: %w", path, n, err)
		}
		name = strings.TrimSpace(name)
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("contacts: %s line %d: %w", path, n, err)
		}
		b.list = append(b.list, Contact{Name: name, Identity: pub})
	}
	return b, sc.Err()
}

// Path is the book's file.
func (b *Book) Path() string { return b.path }

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("a contact needs a name")
	case len(name) > MaxName || !utf8.ValidString(name):
		return fmt.Errorf("a name is at most %d bytes of text", MaxName)
	case strings.HasPrefix(name, identity.PublicPrefix):
		return errors.New("a name cannot start like an identity (rrec1)")
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) }):
		return errors.New("a name cannot hold control characters")
	}
	return nil
}

// All returns the contacts, sorted by name.
func (b *Book) All() []Contact {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.list)
	slices.SortFunc(out, func(x, y Contact) int { return strings.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name)) })
	return out
}

// Add names pub and saves the book. A name already in the book is given to the new identity;
// an identity already in the book gets the new name.
func (b *Book) Add(name string, pub identity.Public) error {
	name = strings.Join(strings.Fields(name), " ")
	if err := checkName(name); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	list := slices.DeleteFunc(slices.Clone(b.list), func(c Contact) bool {
		return strings.EqualFold(c.Name, name) || c.Identity.Equal(pub)
	})
	list = append(list, Contact{Name: name, Identity: pub})
	if err := b.save(list); err != nil {
		return err
	}
	b.list = list
	return nil
}

// Remove forgets the contact called name and saves the book; false if there was none.
func (b *Book) Remove(name string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := slices.DeleteFunc(slices.Clone(b.list), func(c Contact) bool { return strings.EqualFold(c.Name, name) })
	if len(list) == len(b.list) {
		return false, nil
	}
	if err := b.save(list); err != nil {
		return false, err
	}
	b.list = list
	return true, nil
}

func (b *Book) save(list []Contact) error {
	var buf bytes.Buffer
	buf.WriteString("# rrec contacts: the public identity, then the name you know them by\n")
	for _, c := range list {
		fmt.Fprintf(&buf, "%s %s\n", c.Identity, c.Name)
	}
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return fmt.Errorf("contacts: %w", err)
	}
	return atomicfile.WriteFile(b.path, buf.Bytes(), 0o600)
}

// Lookup finds the contact called name (case does not matter).
func (b *Book) Lookup(name string) (identity.Public, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	name = strings.Join(strings.Fields(name), " ")
	for _, c := range b.list {
		if strings.EqualFold(c.Name, name) {
			return c.Identity, true
		}
	}
	return identity.Public{}, false
}

// NameOf is the name of the contact whose signing key is k, the key the ledger shows for
// the people who act on it. A nil book knows nobody.
func (b *Book) NameOf(k protocol.PubKey) (string, bool) {
	if b == nil {
		return "", false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.list {
		if protocol.PubKeyOf(c.Identity.Signing) == k {
			return c.Name, true
		}
	}
	return "", false
}

// Resolve reads who: a public identity (rrec1…), or the name of a contact.
func (b *Book) Resolve(who string) (identity.Public, error) {
	who = strings.TrimSpace(who)
	if strings.HasPrefix(strings.ToLower(who), identity.PublicPrefix) {
		return identity.ParsePublic(who)
	}
	if b != nil {
		if pub, ok := b.Lookup(who); ok {
			return pub, nil
		}
	}
	return identity.Public{}, fmt.Errorf("%q is neither an identity (rrec1…) nor a name in your contacts", who)
}
