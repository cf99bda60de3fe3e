package proxy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// The vault key and the values it seals (SPEC.md §3; vault.go has the format).

// loadOrCreateKey reads the vault key at path, refusing a file others can read, or makes one
// from fresh randomness.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("proxy: vault key %s is readable by others (mode %v)", path, fi.Mode().Perm())
		}
		if len(key) != VaultKeySize {
			return nil, fmt.Errorf("proxy: vault key %s must be %d bytes", path, VaultKeySize)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("proxy: vault key: %w", err)
	}
	key = make([]byte, VaultKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("proxy: vault key dir: %w", err)
	}
	if err := atomicfile.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("proxy: vault key: %w", err)
	}
	return key, nil
}

func aad(grant protocol.ID) []byte { return append([]byte(vaultAADDomain), grant[:]...) }

// sealValue encrypts kf for grant under a fresh nonce.
func (v *Vault) sealValue(grant protocol.ID, kf *umbral.VerifiedKeyFrag) ([]byte, error) {
	plain, err := kf.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return sealWithNonce(v.aead, grant, plain, nonce), nil
}

func sealWithNonce(aead cipherAEAD, grant protocol.ID, kfrag, nonce []byte) []byte {
	return aead.Seal(append([]byte(vaultMagic), nonce...), nonce, kfrag, aad(grant))
}

// openValue decrypts a stored value of grant: ErrVaultCorrupt unless it is exactly what
// sealValue wrote for this grant under this key.
func openValue(aead cipherAEAD, grant protocol.ID, b []byte) (*umbral.VerifiedKeyFrag, error) {
	if len(b) != vaultValueSize || !bytes.HasPrefix(b, []byte(vaultMagic)) {
		return nil, ErrVaultCorrupt
	}
	nonce := b[len(vaultMagic) : len(vaultMagic)+chacha20poly1305.NonceSizeX]
	plain, err := aead.Open(nil, nonce, b[len(vaultMagic)+len(nonce):], aad(grant))
	if err != nil {
		return nil, ErrVaultCorrupt
	}
	defer clear(plain)
	var kf umbral.KeyFrag
	if err := kf.UnmarshalBinary(plain); err != nil {
		return nil, ErrVaultCorrupt
	}
	// Verified at deposit; the AEAD proves these are the bytes we stored.
	return kf.SkipVerification(), nil
}
