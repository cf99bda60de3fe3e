package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// The vault's database holds two kinds of keys (SPEC.md §3):
//
//	'f' ‖ grant id (32)   a fragment's value (vault.go)
//	'm' ‖ name            the vault's own bookkeeping: format, count, uncompacted
//
// The count is written in the same batch as every change to the fragments, so Len is right
// after a crash without reading every key at start.
var (
	fragPrefix      = []byte{'f'}
	metaFormat      = []byte("mformat")
	metaCount       = []byte("mcount")
	metaUncompacted = []byte("muncompacted")
)

const vaultFormat = "rrvault-kv1"

var syncWrite = &opt.WriteOptions{Sync: true}

func fragKey(g protocol.ID) []byte { return append([]byte{'f'}, g[:]...) }

func grantOfKey(k []byte) (protocol.ID, bool) {
	var id protocol.ID
	if len(k) != 1+len(id) || k[0] != 'f' {
		return id, false
	}
	copy(id[:], k[1:])
	return id, true
}

func u64bytes(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func readU64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// openVaultDB opens the database in dir. A bloom filter per table lets a lookup of a grant
// the vault does not hold (most of those a block ends) skip the tables; values are
// ciphertext, which does not compress. goleveldb creates its files 0644: the directory,
// 0700, is what keeps other users out.
func openVaultDB(dir string, readOnly bool) (*leveldb.DB, error) {
	if !readOnly {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("proxy: vault dir: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("proxy: vault dir: %w", err)
		}
	}
	db, err := leveldb.OpenFile(dir, &opt.Options{
		Filter:         filter.NewBloomFilter(10),
		Compression:    opt.NoCompression,
		ReadOnly:       readOnly,
		ErrorIfMissing: readOnly,
	})
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, ErrVaultInUse
	} else if err != nil {
		return nil, fmt.Errorf("proxy: vault database: %w", err)
	}
	return db, nil
}

// loadMeta reads the format, the count and the deletions not yet compacted; a new database
// gets its format and a count of zero.
func (v *Vault) loadMeta() error {
	f, err := v.db.Get(metaFormat, nil)
	switch {
	case errors.Is(err, leveldb.ErrNotFound):
		// A new database (a count of nothing costs nothing), or one whose bookkeeping was
		// lost: either way what it holds is counted.
		n, err := v.recount()
		if err != nil {
			return err
		}
		b := new(leveldb.Batch)
		b.Put(metaFormat, []byte(vaultFormat))
		b.Put(metaCount, u64bytes(n))
		if err := v.db.Write(b, syncWrite); err != nil {
			return fmt.Errorf("proxy: vault database: %w", err)
		}
	case err != nil:
		return fmt.Errorf("proxy: vault database: %w", err)
	case string(f) != vaultFormat:
		return fmt.Errorf("proxy: vault database %s has format %q, want %q", v.dir, f, vaultFormat)
	}
	c, err := v.db.Get(metaCount, nil)
	n, ok := readU64(c)
	if err != nil || !ok {
		// Only a database damaged behind the vault's back gets here: count it once.
		if n, err = v.recount(); err != nil {
			return err
		}
		if err := v.db.Put(metaCount, u64bytes(n), syncWrite); err != nil {
			return fmt.Errorf("proxy: vault database: %w", err)
		}
		v.log.Warn("vault: fragment count missing or malformed; counted again", "fragments", n)
	}
	v.count.Store(int64(n))
	u, _ := v.db.Get(metaUncompacted, nil)
	if un, ok := readU64(u); ok && un > 0 {
		v.comp.uncompacted, v.comp.since = int64(un), time.Now()
	}
	return nil
}

func (v *Vault) recount() (uint64, error) {
	it := v.db.NewIterator(util.BytesPrefix(fragPrefix), nil)
	defer it.Release()
	var n uint64
	for it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		return 0, fmt.Errorf("proxy: vault database: %w", err)
	}
	return n, nil
}

// page lists up to limit held grants in key order, from the key from on (fragPrefix for the
// first), and the key the next page starts from. It holds the vault's lock for reading, so a
// grant a Put is writing is either in the page, written after committed state held its grant,
// or not.
func (v *Vault) page(from []byte, limit int) (ids []protocol.ID, next []byte, err error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r := util.BytesPrefix(fragPrefix)
	r.Start = from
	it := v.db.NewIterator(r, nil)
	defer it.Release()
	for len(ids) < limit && it.Next() {
		if id, ok := grantOfKey(it.Key()); ok {
			ids = append(ids, id)
		}
	}
	if err := it.Error(); err != nil {
		return nil, nil, fmt.Errorf("proxy: vault read: %w", err)
	}
	if len(ids) > 0 {
		next = append(fragKey(ids[len(ids)-1]), 0)
	}
	return ids, next, nil
}

// A deleted fragment's value stays in the database's older tables (and, until the memtable
// is flushed, in its journal) until a compaction merges it with its deletion. The vault
// compacts the fragments' key range in the background once the deletions since the last
// compaction reach compactMin and an eighth of what it holds, or once the oldest of them is
// compactAge old (SPEC.md §3, "Deletion").
const (
	compactMin = 1024
	compactAge = 6 * time.Hour
)

// compaction is the vault's record of deletions whose bytes may remain in older tables.
type compaction struct {
	uncompacted int64     // deletions since the last compaction finished (persisted)
	since       time.Time // when the oldest of them was made (for those read at open: the open)
	running     bool
}

func (c *compaction) deleted(n int64) {
	if c.uncompacted == 0 {
		c.since = time.Now()
	}
	c.uncompacted += n
}

// compactIfDueLocked starts a compaction in the background when one is due.
func (v *Vault) compactIfDueLocked(now time.Time) {
	c := &v.comp
	if c.running || c.uncompacted == 0 {
		return
	}
	if c.uncompacted < max(compactMin, v.count.Load()/8) && now.Sub(c.since) < compactAge {
		return
	}
	c.running = true
	done := c.uncompacted
	v.background(func(quit <-chan struct{}) {
		start := time.Now()
		if err := v.compact(done, quit); err != nil {
			select {
			case <-quit: // Close ended it
			default:
				v.log.Warn("vault: compacting deleted fragments failed; will retry", "err", err)
			}
			return
		}
		v.log.Info("vault: deleted fragments compacted away", "deletions", done, "took", time.Since(start).Round(time.Millisecond))
	})
}

// compactSlices is how many parts of the key range a compaction does one after the other:
// Close waits for the part in progress only.
const compactSlices = 16

var errCompactionStopped = errors.New("proxy: vault compaction stopped by Close")

// compact rewrites the fragments' key range, so that the values of the deletions counted in
// done are no longer in any table or journal, and takes them off the count of uncompacted
// deletions. Reads and writes go on meanwhile. It stops between parts once quit is closed.
func (v *Vault) compact(done int64, quit <-chan struct{}) error {
	var err error
	for i := range compactSlices {
		select {
		case <-quit:
			err = errCompactionStopped
		default:
			r := util.Range{Start: []byte{'f', byte(i * 256 / compactSlices)}, Limit: []byte{'f', byte((i + 1) * 256 / compactSlices)}}
			if i == compactSlices-1 {
				r.Limit = util.BytesPrefix(fragPrefix).Limit
			}
			err = v.db.CompactRange(r)
		}
		if err != nil {
			break
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.comp.running = false
	if err != nil {
		return err
	}
	c := &v.comp
	c.uncompacted = max(0, c.uncompacted-done)
	if c.uncompacted > 0 {
		c.since = time.Now() // those made during the compaction: not long ago
	}
	// Unsynced: lost in a crash, the count only brings the next compaction forward.
	return v.db.Put(metaUncompacted, u64bytes(uint64(c.uncompacted)), nil)
}
