package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// WriteFile stores the identity at path with mode 0600. It never overwrites an existing
// file: losing an identity loses every record sealed under it.
func WriteFile(path string, id *Identity) error {
	secret, err := id.MarshalText()
	if err != nil {
		return err
	}
	text := fmt.Sprintf("# Resilient Records identity. Keep this file secret: it holds all your keys.\n"+
		"# created: %s\n# public identity: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Public(), secret)
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

// ReadFile loads an identity file. It refuses a file that other users can read, as ssh does
// with private keys: such a key must be considered leaked.
func ReadFile(path string) (*Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
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
	id, err := Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}
