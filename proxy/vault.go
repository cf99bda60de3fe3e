package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// The vault is node-local: it never enters replicated state, the app hash, events or query
// answers. It is a goleveldb database (vaultstore.go) holding, under each grant id, the value
//
//	"rrvault1" ‖ nonce (24) ‖ XChaCha20-Poly1305(vault key, nonce, kfrag, AAD)
//
// with AAD = vaultAADDomain ‖ grant id, so a value moved under another grant does not open.
// The value is byte for byte the file of the earlier file-per-grant layout, which is what
// lets a migration copy files without opening them (vaultmigrate.go).
const (
	vaultMagic     = "rrvault1"
	vaultAADDomain = "resilientrecords/proxy/vault/v1\x00"
	vaultValueSize = len(vaultMagic) + chacha20poly1305.NonceSizeX + umbral.KeyFragSize + chacha20poly1305.Overhead
	// VaultKeySize is the size of the vault key file's contents.
	VaultKeySize = chacha20poly1305.KeySize
	maxCached    = 1 << 14
)

// Vault errors.
var (
	ErrNotHeld      = errors.New("proxy: vault holds no fragment for this grant")
	ErrHeld         = errors.New("proxy: vault already holds a fragment for this grant")
	ErrVaultCorrupt = errors.New("proxy: vault value does not open")
	// ErrVaultInUse: another process (the node, running) has the vault open.
	ErrVaultInUse = errors.New("proxy: another process has the vault open")
)

// Vault stores one key fragment per grant, encrypted at rest. Its mutex serialises writes
// with deletions, so a deposit racing a revocation either lands before the deletion or sees
// the revocation (see Put).
type Vault struct {
	dir  string
	db   *leveldb.DB
	aead cipherAEAD
	log  *slog.Logger

	gate sync.RWMutex // held for writing while a commit deletes fragments; see Hold
	// mu is held for writing by every write and deletion, for reading by Get: a Get never
	// sees a fragment half deleted, nor caches one a deletion just removed.
	mu      sync.RWMutex
	count   atomic.Int64         // fragments held, as the database's count key says
	pending map[protocol.ID]bool // deletions whose write failed, retried on every commit
	comp    compaction           // under mu

	cacheMu sync.Mutex
	cache   map[protocol.ID]*umbral.VerifiedKeyFrag

	ops vaultOps

	bgMu      sync.Mutex    // orders background's Add before Close's Wait
	quit      chan struct{} // closed by Close: background work stops
	bg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// vaultOps counts what the vault costs on disk, so tests can check a commit's bill without
// timing it, and lets them make writes fail.
type vaultOps struct {
	writes  atomic.Int64 // synced batch writes
	deleted atomic.Int64 // fragments deleted
	write   func(*leveldb.Batch) error
}

type cipherAEAD interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// OpenVault opens (creating if needed) the vault database in dir with the key in keyFile
// (created with fresh randomness if absent). A directory in the earlier file-per-grant layout
// is migrated first. Directory 0700, key file 0600. Close releases the database.
func OpenVault(dir, keyFile string, log *slog.Logger) (*Vault, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key, err := loadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	if err := setAsideFileLayout(dir, log); err != nil {
		return nil, err
	}
	db, err := openVaultDB(dir, false)
	if err != nil {
		return nil, err
	}
	v := &Vault{dir: dir, db: db, aead: aead, log: log, pending: make(map[protocol.ID]bool),
		cache: make(map[protocol.ID]*umbral.VerifiedKeyFrag), quit: make(chan struct{})}
	v.ops.write = func(b *leveldb.Batch) error { return db.Write(b, syncWrite) }
	if err := v.loadMeta(); err != nil {
		db.Close()
		return nil, err
	}
	if err := v.migrateFileLayout(); err != nil {
		db.Close()
		return nil, err
	}
	return v, nil
}

// Put stores the verified fragment for grant. check runs under the vault lock just before
// the write; it re-reads committed state, so a revocation whose deletion is waiting for the
// lock is seen and the write refused. The write is synced before Put returns.
func (v *Vault) Put(grant protocol.ID, kf *umbral.VerifiedKeyFrag, check func() error) error {
	value, err := v.sealValue(grant, kf)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	held, err := v.db.Has(fragKey(grant), nil)
	if err != nil {
		return fmt.Errorf("proxy: vault read: %w", err)
	}
	if held {
		return ErrHeld
	}
	b := new(leveldb.Batch)
	b.Put(fragKey(grant), value)
	if err := v.writeLocked(b, 1, 0); err != nil {
		return fmt.Errorf("proxy: vault write: %w", err)
	}
	delete(v.pending, grant)
	v.cacheSet(grant, kf)
	return nil
}

// writeLocked writes b with the count moved by added and removed, synced.
func (v *Vault) writeLocked(b *leveldb.Batch, added, removed int64) error {
	n := v.count.Load() + added - removed
	b.Put(metaCount, u64bytes(uint64(n)))
	if removed > 0 {
		b.Put(metaUncompacted, u64bytes(uint64(v.comp.uncompacted+removed)))
	}
	v.ops.writes.Add(1)
	if err := v.ops.write(b); err != nil {
		return err
	}
	v.count.Store(n)
	if removed > 0 {
		v.comp.deleted(removed)
	}
	return nil
}

func (v *Vault) cacheSet(grant protocol.ID, kf *umbral.VerifiedKeyFrag) {
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
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

// Get returns the fragment for grant (ErrNotHeld if none, ErrVaultCorrupt if its value
// does not open).
func (v *Vault) Get(grant protocol.ID) (*umbral.VerifiedKeyFrag, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	v.cacheMu.Lock()
	kf, ok := v.cache[grant]
	v.cacheMu.Unlock()
	if ok {
		return kf, nil
	}
	b, err := v.db.Get(fragKey(grant), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotHeld
	} else if err != nil {
		return nil, fmt.Errorf("proxy: vault read: %w", err)
	}
	kf, err = openValue(v.aead, grant, b)
	if err != nil {
		return nil, err
	}
	v.cacheSet(grant, kf)
	return kf, nil
}

// Has reports whether the vault holds a fragment for grant. When the database cannot say
// (an I/O error, a closed vault) it answers true: the reporter takes "not held" as the
// statement that the fragment is destroyed.
func (v *Vault) Has(grant protocol.ID) bool {
	ok, err := v.db.Has(fragKey(grant), nil)
	return ok || err != nil
}

// Delete removes grant's fragment (no error if absent), synced.
func (v *Vault) Delete(grant protocol.ID) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, err := v.deleteLocked([]protocol.ID{grant})
	return err
}

// deleteLocked removes the fragments of the grants in ids that the vault holds, in one
// synced write: one fsync per commit, not one per grant. If the write fails they stay
// pending, for the next commit to retry.
func (v *Vault) deleteLocked(ids []protocol.ID) (deleted int, err error) {
	b := new(leveldb.Batch)
	var gone []protocol.ID
	var errs []error
	for _, id := range ids {
		held, err := v.db.Has(fragKey(id), nil)
		if err != nil {
			v.pending[id] = true
			errs = append(errs, fmt.Errorf("proxy: vault read: %w", err))
			continue
		}
		if held {
			b.Delete(fragKey(id))
		}
		gone = append(gone, id)
	}
	v.cacheMu.Lock()
	for _, id := range gone {
		delete(v.cache, id)
	}
	v.cacheMu.Unlock()
	n := b.Len()
	if n > 0 {
		if err := v.writeLocked(b, 0, int64(n)); err != nil {
			for _, id := range gone {
				v.pending[id] = true
			}
			return 0, errors.Join(append(errs, fmt.Errorf("proxy: vault delete: %w", err))...)
		}
		v.ops.deleted.Add(int64(n))
	}
	for _, id := range gone {
		delete(v.pending, id)
	}
	return n, errors.Join(errs...)
}

// Len is how many fragments the vault holds.
func (v *Vault) Len() int { return int(v.count.Load()) }

// Grants lists the grants the vault holds fragments for, in byte order. It reads every key:
// for tests and tools, not for anything a request or a commit waits on.
func (v *Vault) Grants() ([]protocol.ID, error) {
	var out []protocol.ID
	for from := fragPrefix; ; {
		ids, next, err := v.page(from, 4096)
		if err != nil || len(ids) == 0 {
			return out, err
		}
		out, from = append(out, ids...), next
	}
}

func sortedIDs[V any](m map[protocol.ID]V) []protocol.ID {
	out := make([]protocol.ID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b protocol.ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// OnCommit deletes the fragments of grants that the block revoked or expired. It is the
// ledger's commit hook: it runs synchronously inside ABCI Commit, so the deletion is part of
// committing the block. Each grant the block ended costs one lookup (a bloom filter answers
// most of those the vault does not hold); the deletions are one synced write. Deletions that
// fail are retried on every later commit and at start (Reconcile).
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
		// An error counts as held: the deletion then tries, and fails into pending.
		if held, err := v.db.Has(fragKey(id), nil); held || err != nil {
			due[id] = true
		}
	}
	for _, id := range ci.Revoked {
		mark(id)
	}
	for _, e := range ci.Expired {
		mark(e.Grant)
	}
	if len(due) > 0 {
		n, err := v.deleteLocked(sortedIDs(due))
		if err != nil {
			v.log.Error("vault: deleting fragments failed; will retry", "height", ci.Height, "pending", len(v.pending), "err", err)
		}
		if n > 0 {
			v.log.Debug("vault: fragments deleted at commit", "height", ci.Height, "count", n)
		}
	}
	v.compactIfDueLocked(time.Now())
}

// Close stops the vault's background work and closes its database. The vault must not be
// used afterwards; Close is idempotent.
func (v *Vault) Close() error {
	v.closeOnce.Do(func() {
		v.bgMu.Lock()
		close(v.quit)
		v.bgMu.Unlock()
		// Background work stops at its next step: a page of the sweep, a part of a
		// compaction, a thousand files of a migrated directory.
		v.bg.Wait()
		v.mu.Lock()
		v.closeErr = v.db.Close()
		v.mu.Unlock()
	})
	return v.closeErr
}

// background runs fn in a goroutine that Close waits for; fn returns once quit is closed.
func (v *Vault) background(fn func(quit <-chan struct{})) {
	v.bgMu.Lock()
	defer v.bgMu.Unlock()
	select {
	case <-v.quit:
		return
	default:
	}
	v.bg.Add(1)
	go func() {
		defer v.bg.Done()
		fn(v.quit)
	}()
}
