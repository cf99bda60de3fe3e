package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sort"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// appHashDomain starts every app hash computation.
const appHashDomain = "resilientrecords/ledger/apphash/v1\x00"

// nextAppHash chains the previous app hash with one block's sorted writes:
//
//	H = SHA-256(domain ‖ prev ‖ u64 height ‖ for each write in key order:
//	            u8 op ‖ u32 len(key) ‖ key ‖ u32 len(value) ‖ value)
//
// op is 1 for a put, 0 for a delete (with an empty value). A block with no
// writes keeps the previous hash, so that an idle chain with
// create_empty_blocks=false does not need "proof" blocks forever.
func nextAppHash(prev []byte, height int64, ws []write) []byte {
	if len(ws) == 0 {
		return prev
	}
	h := sha256.New()
	h.Write([]byte(appHashDomain))
	h.Write(prev)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(height))
	h.Write(n[:])
	for _, w := range ws {
		op := byte(1)
		if w.value == nil {
			op = 0
		}
		h.Write([]byte{op})
		binary.BigEndian.PutUint32(n[:4], uint32(len(w.key)))
		h.Write(n[:4])
		h.Write(w.key)
		binary.BigEndian.PutUint32(n[:4], uint32(len(w.value)))
		h.Write(n[:4])
		h.Write(w.value)
	}
	return h.Sum(nil)
}

// levelStore reads committed state from goleveldb (the DB or a snapshot).
type levelStore struct {
	get  func(k []byte) ([]byte, error)
	iter func(r *util.Range) iteratorLike
}

type iteratorLike interface {
	Next() bool
	Key() []byte
	Value() []byte
	Release()
	Error() error
}

func dbStore(db *leveldb.DB) Store {
	return levelStore{
		get:  func(k []byte) ([]byte, error) { return db.Get(k, nil) },
		iter: func(r *util.Range) iteratorLike { return db.NewIterator(r, nil) },
	}
}

func snapStore(s *leveldb.Snapshot) Store {
	return levelStore{
		get:  func(k []byte) ([]byte, error) { return s.Get(k, nil) },
		iter: func(r *util.Range) iteratorLike { return s.NewIterator(r, nil) },
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

// memStore is an in-memory Store, for the state machine's unit tests and
// for anything that wants to run transitions without a disk.
type memStore struct{ m map[string][]byte }

func newMemStore() *memStore { return &memStore{m: make(map[string][]byte)} }

func (s *memStore) Get(k []byte) ([]byte, error) { return s.m[string(k)], nil }

func (s *memStore) Iterate(prefix, start []byte, fn func(k, v []byte) bool) error {
	keys := make([]string, 0)
	for k := range s.m {
		if bytes.HasPrefix([]byte(k), prefix) && k >= string(start) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !fn([]byte(k), s.m[k]) {
			break
		}
	}
	return nil
}

func (s *memStore) apply(ws []write) {
	for _, w := range ws {
		if w.value == nil {
			delete(s.m, string(w.key))
		} else {
			s.m[string(w.key)] = w.value
		}
	}
}
