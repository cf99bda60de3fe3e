package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
)

// WriteFile stores the identity at path with mode 0600, not protected by a passphrase (see
// WriteProtectedFile). It never overwrites an existing file: losing an identity loses every
// record sealed under it.
func WriteFile(path string, id *Identity) error {
	secret, err := id.MarshalText()
	if err != nil {
		return err
	}
	return createFile(path, fileText(id, secret, false))
}

// WriteProtectedFile stores the identity at path with mode 0600, its seed sealed under
// passphrase with work factor logN (DefaultWorkFactor for new files). It never overwrites an
// existing file.
func WriteProtectedFile(path string, id *Identity, passphrase []byte, logN int) error {
	line, err := id.MarshalProtected(passphrase, logN)
	if err != nil {
		return err
	}
	return createFile(path, fileText(id, line, true))
}

// Reprotect replaces the identity file at path, atomically, with one protected by a new
// passphrase (or, with an empty passphrase, not protected), keeping its identity: what
// 'rrec passwd' does. id must be the file's identity, read with the old passphrase.
func Reprotect(path string, id *Identity, passphrase []byte, logN int) error {
	var line []byte
	var err error
	protected := len(passphrase) > 0
	if protected {
		line, err = id.MarshalProtected(passphrase, logN)
	} else {
		line, err = id.MarshalText()
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("identity: %w", err) // replacing, never creating: keygen creates
	}
	if err := atomicfile.WriteFile(path, []byte(fileText(id, line, protected)), 0o600); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

func fileText(id *Identity, line []byte, protected bool) string {
	how := "Keep this file secret: it holds all your keys."
	if protected {
		how = "Its keys are sealed under a passphrase; keep the file private and a backup of it."
	}
	return fmt.Sprintf("# Resilient Records identity. %s\n# created: %s\n# public identity: %s\n%s\n",
		how, time.Now().UTC().Format(time.RFC3339), id.Public(), line)
}

func createFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("identity: %s already exists; refusing to overwrite an identity", path)
	}
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("identity: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("identity: writing %s: %w", path, err)
	}
	return f.Close()
}

// maxFileSize bounds what ReadFile accepts; a real identity file is a few hundred bytes.
const maxFileSize = 64 << 10

// ReadFile loads an identity file that is not protected by a passphrase; a protected one is
// ErrProtected (use Open).
func ReadFile(path string) (*Identity, error) { return Open(path, nil) }

// Open loads an identity file, protected or not; passphrase is asked for only when the file
// is protected (nil: ErrProtected). It refuses a file that another user owns or that other
// users can read, as ssh does with private keys: such a key must be considered leaked.
func Open(path string, passphrase func() ([]byte, error)) (*Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return nil, fmt.Errorf("identity: %s belongs to another user (uid %d): an identity is its owner's alone; copy it as that user, or 'chown' it", path, sys.Uid)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity: %s is readable by other users (mode %04o); run 'chmod 600 %s'", path, st.Mode().Perm(), path)
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("identity: %s is %d bytes, too large to be an identity file", path, st.Size())
	}
	text := make([]byte, st.Size())
	if _, err := f.ReadAt(text, 0); err != nil {
		return nil, fmt.Errorf("identity: reading %s: %w", path, err)
	}
	id, err := Decode(text, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}
