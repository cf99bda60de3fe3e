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

func (s levelStore) Get(k []byte) ([]byte, error) {
	v, err := s.get(k)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil
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
