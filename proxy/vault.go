package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

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

	gate sync.RWMutex // held for writing while a commit deletes fragments; see Hold
	mu   sync.Mutex
	// held names the grants with a file in dir. A block may end 100 000 grants this node
	// never held; looking them up here costs no system call inside ABCI Commit.
	held    map[protocol.ID]struct{}
	cache   map[protocol.ID]*umbral.VerifiedKeyFrag
	pending map[protocol.ID]bool // deletions that failed, retried on every commit
	ops     vaultOps
}

// vaultOps counts what deletions cost on disk, so tests can check a commit's bill without
// timing it, and lets them make directory syncs fail.
type vaultOps struct {
	files    atomic.Int64 // fragment files overwritten and removed
	dirSyncs atomic.Int64 // directory fsyncs, Put's included
	syncDir  func(dir string) error
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
	v := &Vault{dir: dir, aead: aead, log: log, held: make(map[protocol.ID]struct{}),
		cache: make(map[protocol.ID]*umbral.VerifiedKeyFrag), pending: make(map[protocol.ID]bool)}
	v.ops.syncDir = atomicfile.SyncDir
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("proxy: vault dir: %w", err)
	}
	for _, e := range ents {
		if atomicfile.IsTemp(e.Name()) {
			// A write a crash interrupted; it was never acknowledged.
			_ = os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		if id, ok := grantOfFile(e.Name()); ok && !e.IsDir() {
			v.held[id] = struct{}{}
		}
	}
	return v, nil
}

// CountVault counts the fragments in the vault directory dir without opening the vault (no
// key, no lock): what a stopped node's vault holds, for its operator. A deletion the node
// did not finish before it stopped is still counted; the next start reconciles it.
func CountVault(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("proxy: vault dir: %w", err)
	}
	n := 0
	for _, e := range ents {
		if _, ok := grantOfFile(e.Name()); ok && !e.IsDir() {
			n++
		}
	}
	return n, nil
}

// grantOfFile reads a vault file name; only the name path writes counts, so every
// grant in held can be deleted by its path.
func grantOfFile(name string) (protocol.ID, bool) {
	var id protocol.ID
	if len(name) != 2*len(id) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(name)); err != nil || hex.EncodeToString(id[:]) != name {
		return id, false
	}
	return id, true
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
	if _, ok := v.held[grant]; ok {
		return ErrHeld
	}
	v.ops.dirSyncs.Add(1) // WriteFile syncs the directory
	if err := atomicfile.WriteFile(v.path(grant), file, 0o600); err != nil {
		return fmt.Errorf("proxy: vault write: %w", err)
	}
	v.held[grant] = struct{}{}
	// The write synced the directory, which made an earlier removal whose sync failed durable.
	delete(v.pending, grant)
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
	if _, ok := v.held[grant]; !ok {
		return nil, ErrNotHeld
	}
	if kf, ok := v.cache[grant]; ok {
		return kf, nil
	}
	b, err := readBounded(v.path(grant), int64(vaultFileSize)+1)
	if errors.Is(err, fs.ErrNotExist) {
		delete(v.held, grant) // removed behind the vault's back
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
	_, ok := v.held[grant]
	return ok
}

// Delete removes grant's fragment (no error if absent) and syncs the
// directory. The file is overwritten with zeros first: a best effort, since
// SSDs and copy-on-write file systems may keep the old blocks (the vault
// key still guards them).
func (v *Vault) Delete(grant protocol.ID) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, err := v.deleteLocked([]protocol.ID{grant})
	return err
}

// deleteLocked removes the files of the grants in ids that the vault holds or failed to
// delete before, then syncs the directory once for all of them: one fsync per commit,
// not one per grant. Whatever fails stays pending, for the next commit to retry.
func (v *Vault) deleteLocked(ids []protocol.ID) (deleted int, err error) {
	var removed []protocol.ID
	var errs []error
	for _, id := range ids {
		if _, ok := v.held[id]; !ok && !v.pending[id] {
			continue
		}
		if err := v.removeLocked(id); err != nil {
			v.pending[id] = true
			errs = append(errs, fmt.Errorf("proxy: vault delete: %w", err))
			continue
		}
		removed = append(removed, id)
	}
	if len(removed) == 0 {
		return 0, errors.Join(errs...)
	}
	v.ops.dirSyncs.Add(1)
	if err := v.ops.syncDir(v.dir); err != nil {
		for _, id := range removed {
			v.pending[id] = true
		}
		return 0, errors.Join(append(errs, fmt.Errorf("proxy: vault delete: %w", err))...)
	}
	for _, id := range removed {
		delete(v.pending, id)
	}
	return len(removed), errors.Join(errs...)
}

// removeLocked overwrites grant's file with zeros, syncs it and removes it; the caller
// syncs the directory.
func (v *Vault) removeLocked(grant protocol.ID) error {
	delete(v.cache, grant)
	v.ops.files.Add(1)
	p := v.path(grant)
	if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
		_, _ = f.Write(make([]byte, vaultFileSize))
		_ = f.Sync()
		f.Close()
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	delete(v.held, grant)
	return nil
}

// Len is how many fragments the vault holds.
func (v *Vault) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.held)
}

// Grants lists the grants the vault holds fragments for, in byte order.
func (v *Vault) Grants() ([]protocol.ID, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return sortedIDs(v.held), nil
}

func sortedIDs[V any](m map[protocol.ID]V) []protocol.ID {
	out := make([]protocol.ID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b protocol.ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// OnCommit deletes the fragments of grants that the block revoked or
// expired. It is the ledger's commit hook: it runs synchronously inside
// ABCI Commit, so the deletion is part of committing the block. Grants the
// vault does not hold cost a map lookup each; the directory is synced once.
// Deletions that fail are retried on every later commit and at start
// (Reconcile).
func (v *Vault) OnCommit(ci ledger.CommitInfo) {
	v.gate.Lock()
	defer v.gate.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	due := make(map[protocol.ID]bool, len(v.pending))
	for id := range v.pending {
		due[id] = true
	}
	mark := func(id protocol.ID) {
		if _, ok := v.held[id]; ok {
			due[id] = true
		}
	}
	for _, id := range ci.Revoked {
		mark(id)
	}
	for _, e := range ci.Expired {
		mark(e.Grant)
	}
	if len(due) == 0 {
		return
	}
	n, err := v.deleteLocked(sortedIDs(due))
	if err != nil {
		v.log.Error("vault: deleting fragments failed; will retry", "height", ci.Height, "pending", len(v.pending), "err", err)
	}
	if n > 0 {
		v.log.Debug("vault: fragments deleted at commit", "height", ci.Height, "count", n)
	}
}
