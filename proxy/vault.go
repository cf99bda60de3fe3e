package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// The vault is node-local: it never enters replicated state, the app hash,
// events or query answers. One file per grant, named by the grant id in
// hex, holding
//
//	"rrvault1" ‖ nonce (24) ‖ XChaCha20-Poly1305(vault key, nonce, kfrag, AAD)
//
// with AAD = vaultAADDomain ‖ grant id, so a file renamed to another grant
// does not open. The vault key is 32 random bytes in its own 0600 file.
const (
	vaultMagic     = "rrvault1"
	vaultAADDomain = "resilientrecords/proxy/vault/v1\x00"
	vaultFileSize  = len(vaultMagic) + chacha20poly1305.NonceSizeX + umbral.KeyFragSize + chacha20poly1305.Overhead
	// VaultKeySize is the size of the vault key file's contents.
	VaultKeySize = chacha20poly1305.KeySize
	maxCached    = 1 << 14
)

// Vault errors.
var (
	ErrNotHeld      = errors.New("proxy: vault holds no fragment for this grant")
	ErrHeld         = errors.New("proxy: vault already holds a fragment for this grant")
	ErrVaultCorrupt = errors.New("proxy: vault file does not open")
)

// Vault stores one key fragment per grant, encrypted at rest. Its mutex
// serialises writes with deletions, so a deposit racing a revocation
// either lands before the deletion or sees the revocation (see Put).
type Vault struct {
	dir  string
	aead cipherAEAD
	log  *slog.Logger

	gate    sync.RWMutex // held for writing while a commit deletes fragments; see Hold
	mu      sync.Mutex
	cache   map[protocol.ID]*umbral.VerifiedKeyFrag
	pending map[protocol.ID]bool // deletions that failed, retried on every commit
}

type cipherAEAD interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// OpenVault opens (creating if needed) the vault directory dir with the key
// in keyFile (created with fresh randomness if absent). Directory 0700,
// files 0600.
func OpenVault(dir, keyFile string, log *slog.Logger) (*Vault, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("proxy: vault dir: %w", err)
	}
	key, err := loadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	v := &Vault{dir: dir, aead: aead, log: log,
		cache: make(map[protocol.ID]*umbral.VerifiedKeyFrag), pending: make(map[protocol.ID]bool)}
	// Leftover temp files are writes a crash interrupted; they were never
	// acknowledged, so they go.
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("proxy: vault dir: %w", err)
	}
	for _, e := range ents {
		if atomicfile.IsTemp(e.Name()) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return v, nil
}

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

func (v *Vault) path(grant protocol.ID) string {
	return filepath.Join(v.dir, hex.EncodeToString(grant[:]))
}

func aad(grant protocol.ID) []byte { return append([]byte(vaultAADDomain), grant[:]...) }

// Put stores the verified fragment for grant. check runs under the vault
// lock just before the write; it re-reads committed state, so a revocation
// whose deletion is waiting for the lock is seen and the write refused.
func (v *Vault) Put(grant protocol.ID, kf *umbral.VerifiedKeyFrag, check func() error) error {
	plain, err := kf.MarshalBinary()
	if err != nil {
		return err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	file := append([]byte(vaultMagic), nonce...)
	file = v.aead.Seal(file, nonce, plain, aad(grant))
	clear(plain)

	v.mu.Lock()
	defer v.mu.Unlock()
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	if _, err := os.Stat(v.path(grant)); err == nil {
		return ErrHeld
	}
	if err := atomicfile.WriteFile(v.path(grant), file, 0o600); err != nil {
		return fmt.Errorf("proxy: vault write: %w", err)
	}
	v.cacheLocked(grant, kf)
	return nil
}

func (v *Vault) cacheLocked(grant protocol.ID, kf *umbral.VerifiedKeyFrag) {
	if len(v.cache) >= maxCached {
		clear(v.cache)
	}
	v.cache[grant] = kf
}

// Hold keeps the commit hook from deleting fragments until release is called: a
// re-encryption judges its grant live and uses the fragment while holding it, so no
// fragment is used after the commit that revokes its grant.
func (v *Vault) Hold() (release func()) {
	v.gate.RLock()
	return v.gate.RUnlock
}

// Get returns the fragment for grant (ErrNotHeld if none).
func (v *Vault) Get(grant protocol.ID) (*umbral.VerifiedKeyFrag, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if kf, ok := v.cache[grant]; ok {
		return kf, nil
	}
	b, err := readBounded(v.path(grant), int64(vaultFileSize)+1)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotHeld
	} else if err != nil {
		return nil, fmt.Errorf("proxy: vault read: %w", err)
	}
	if len(b) != vaultFileSize || string(b[:len(vaultMagic)]) != vaultMagic {
		return nil, ErrVaultCorrupt
	}
	nonce := b[len(vaultMagic) : len(vaultMagic)+chacha20poly1305.NonceSizeX]
	plain, err := v.aead.Open(nil, nonce, b[len(vaultMagic)+len(nonce):], aad(grant))
	if err != nil {
		return nil, ErrVaultCorrupt
	}
	var kf umbral.KeyFrag
	err = kf.UnmarshalBinary(plain)
	clear(plain)
	if err != nil {
		return nil, ErrVaultCorrupt
	}
	// Verified at deposit; the AEAD proves these are the bytes we stored.
	vkf := kf.SkipVerification()
	v.cacheLocked(grant, vkf)
	return vkf, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// Has reports whether the vault holds a file for grant.
func (v *Vault) Has(grant protocol.ID) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, err := os.Stat(v.path(grant))
	return err == nil
}

// Delete removes grant's fragment (no error if absent) and syncs the
// directory. The file is overwritten with zeros first: a best effort, since
// SSDs and copy-on-write file systems may keep the old blocks (the vault
// key still guards them).
func (v *Vault) Delete(grant protocol.ID) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.deleteLocked(grant)
}

func (v *Vault) deleteLocked(grant protocol.ID) error {
	delete(v.cache, grant)
	p := v.path(grant)
	if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
		_, _ = f.Write(make([]byte, vaultFileSize))
		_ = f.Sync()
		f.Close()
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		v.pending[grant] = true
		return fmt.Errorf("proxy: vault delete: %w", err)
	}
	if err := atomicfile.SyncDir(v.dir); err != nil {
		v.pending[grant] = true
		return fmt.Errorf("proxy: vault delete: %w", err)
	}
	delete(v.pending, grant)
	return nil
}

// Grants lists the grants the vault holds fragments for.
func (v *Vault) Grants() ([]protocol.ID, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ents, err := os.ReadDir(v.dir)
	if err != nil {
		return nil, fmt.Errorf("proxy: vault list: %w", err)
	}
	var out []protocol.ID
	for _, e := range ents {
		var id protocol.ID
		if len(e.Name()) != 2*len(id) {
			continue
		}
		if _, err := hex.Decode(id[:], []byte(e.Name())); err != nil {
			continue
		}
		out = append(out, id)
	}
	return out, nil
}

// OnCommit deletes the fragments of grants that the block revoked or
// expired. It is the ledger's commit hook: it runs synchronously inside
// ABCI Commit, so the deletion is part of committing the block. Deletions
// that fail are retried on every later commit and at start (Reconcile).
func (v *Vault) OnCommit(ci ledger.CommitInfo) {
	v.gate.Lock()
	defer v.gate.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	ids := make([]protocol.ID, 0, len(ci.Revoked)+len(ci.Expired)+len(v.pending))
	ids = append(ids, ci.Revoked...)
	for _, e := range ci.Expired {
		ids = append(ids, e.Grant)
	}
	for id := range v.pending {
		ids = append(ids, id)
	}
	for _, id := range ids {
		if err := v.deleteLocked(id); err != nil {
			v.log.Error("vault: deleting a fragment failed; will retry", "grant", id.String(), "height", ci.Height, "err", err)
			continue
		}
	}
	if len(ids) > 0 {
		v.log.Debug("vault: fragments deleted at commit", "height", ci.Height, "count", len(ids))
	}
}
