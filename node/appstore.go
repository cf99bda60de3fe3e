package node

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/resilientrecords/resilientrecords/ledger"
)

// levelStore is the ledger's ledger.Store over goleveldb: the database itself, or one of its
// snapshots.
type levelStore struct {
	get  func(k []byte) ([]byte, error)
	iter func(r *util.Range) iterator.Iterator
}

func dbStore(db *leveldb.DB) ledger.Store {
	return levelStore{
		get:  func(k []byte) ([]byte, error) { return db.Get(k, nil) },
		iter: func(r *util.Range) iterator.Iterator { return db.NewIterator(r, nil) },
	}
}

func snapStore(s *leveldb.Snapshot) ledger.Store {
	return levelStore{
		get:  func(k []byte) ([]byte, error) { return s.Get(k, nil) },
		iter: func(r *util.Range) iterator.Iterator { return s.NewIterator(r, nil) },
	}
}

// Get returns nil for an absent key and a non-nil slice for a present one, even when its
// value is empty (goleveldb gives nil for both): the ledger's markers are empty values, and
// the ledger tells them from absent keys by nil (ledger.Store).
func (s levelStore) Get(k []byte) ([]byte, error) {
	v, err := s.get(k)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil
	}
	if err == nil && v == nil {
		v = []byte{}
	}
	return v, err
}

func (s levelStore) Iterate(prefix, start []byte, fn func(k, v []byte) bool) error {
	r := util.BytesPrefix(prefix)
	if bytes.Compare(start, r.Start) > 0 {
		r.Start = start
	}
	it := s.iter(r)
	defer it.Release()
	for it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return it.Error()
}

// Bookkeeping keys of the application, outside the ledger's state and its app hash (the
// ledger's key space leaves prefix 0x00 to the application).
var (
	metaHeight  = []byte{0x00, 'h'}
	metaAppHash = []byte{0x00, 'a'}
	metaTime    = []byte{0x00, 't'}
	metaChainID = []byte{0x00, 'c'}
	metaState   = []byte{0x00, 'l'} // the state hash vector (ledger.StateHash), kept so no start recomputes it
)

// loadStateHash reads the kept state hash vector, which must be the one of the kept app hash.
// A database without one is empty (nothing committed yet) or was written by a version whose
// app hash chained history (ledger/SPEC.md §7), which this one cannot continue.
func loadStateHash(st ledger.Store, appHash []byte) (*ledger.StateHash, error) {
	b, err := st.Get(metaState)
	if err != nil {
		return nil, err
	}
	var sh ledger.StateHash
	if b == nil {
		if appHash != nil {
			return nil, errors.New("node: ledger state has no state hash: it was made by an earlier version of the app hash (ledger/SPEC.md §7); start this chain again")
		}
		return &sh, nil
	}
	if err := sh.UnmarshalBinary(b); err != nil || !bytes.Equal(sh.AppHash(), appHash) {
		return nil, errors.New("node: ledger state: the kept state hash does not give the kept app hash")
	}
	return &sh, nil
}

func u64b(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// u64 reads a counter written by u64b (0 when absent).
func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// jsonValue is a query answer as JSON.
func jsonValue(v any) ([]byte, error) { return json.Marshal(v) }
