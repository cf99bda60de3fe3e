package ledger

import (
	"crypto/sha256"
	"crypto/sha3"
	"encoding/binary"
	"errors"
)

// The app hash commits to the state itself, not to the history of writes that made it
// (SPEC.md §7), so that a node restored from a snapshot can recompute it from the restored
// key/values alone. It is SHA-256 of a homomorphic multiset hash of the state's pairs,
// LtHash (Bellare–Micciancio's lattice hash, as Lewi et al. instantiate it): each pair
// hashed to 1024 lanes of 16 bits, the state's hash their lane-wise sum modulo 2^16, so that
// a write changes it by one subtraction and one addition, without reading anything else.
const (
	appHashDomain  = "resilientrecords/ledger/apphash/v3\x00"
	elementDomain  = "resilientrecords/ledger/statehash/v3/element\x00"
	stateHashLanes = 1024
	// StateHashSize is the size of a StateHash's encoding.
	StateHashSize = 2 * stateHashLanes
)

// Four 16-bit lanes per word, added and subtracted in one go (SWAR): the carry out of each
// lane's top bit is kept from reaching the next lane.
const laneTops = 0x8000_8000_8000_8000

// StateHash is the lattice hash of a set of key/value pairs. The zero value is the hash of
// the empty set. It is a value: copying it copies the hash.
type StateHash struct{ w [stateHashLanes / 4]uint64 }

// element hashes one pair to its vector: SHAKE128 of the domain and the length-prefixed key
// and value (so that no two pairs share an input), read as little-endian lanes.
func element(key, value []byte) *[stateHashLanes / 4]uint64 {
	x := sha3.NewSHAKE128()
	var n [4]byte
	x.Write([]byte(elementDomain))
	binary.BigEndian.PutUint32(n[:], uint32(len(key)))
	x.Write(n[:])
	x.Write(key)
	binary.BigEndian.PutUint32(n[:], uint32(len(value)))
	x.Write(n[:])
	x.Write(value)
	var buf [StateHashSize]byte
	x.Read(buf[:])
	var v [stateHashLanes / 4]uint64
	for i := range v {
		v[i] = binary.LittleEndian.Uint64(buf[8*i:])
	}
	return &v
}

// Add adds the pair (key, value) to the set.
func (h *StateHash) Add(key, value []byte) {
	e := element(key, value)
	for i, b := range e {
		a := h.w[i]
		h.w[i] = ((a &^ laneTops) + (b &^ laneTops)) ^ ((a ^ b) & laneTops)
	}
}

// Remove takes the pair (key, value) out of the set; it must be in it.
func (h *StateHash) Remove(key, value []byte) {
	e := element(key, value)
	for i, b := range e {
		a := h.w[i]
		h.w[i] = ((a | laneTops) - (b &^ laneTops)) ^ ((a ^ ^b) & laneTops)
	}
}

// AppHash is the app hash of the set: SHA-256 of the domain and the encoded lanes.
func (h *StateHash) AppHash() []byte {
	s := sha256.New()
	s.Write([]byte(appHashDomain))
	b, _ := h.MarshalBinary()
	s.Write(b)
	return s.Sum(nil)
}

// MarshalBinary encodes the lanes, little-endian, lane 0 first (StateHashSize bytes).
func (h *StateHash) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, StateHashSize)
	for _, w := range h.w {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote; any other length is refused.
func (h *StateHash) UnmarshalBinary(b []byte) error {
	if len(b) != StateHashSize {
		return errors.New("ledger: a state hash is 2048 bytes")
	}
	for i := range h.w {
		h.w[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return nil
}

// apply moves the hash over writes made to committed state st: each key's committed pair
// leaves the set and its new one enters it. A write that leaves a value as it was changes
// nothing, and so does a block without writes.
func (h *StateHash) apply(st Store, ws []Write) error {
	for _, w := range ws {
		old, err := st.Get(w.Key)
		if err != nil {
			return err
		}
		if old != nil && w.Value != nil && string(old) == string(w.Value) {
			continue
		}
		if old != nil {
			h.Remove(w.Key, old)
		}
		if w.Value != nil {
			h.Add(w.Key, w.Value)
		}
	}
	return nil
}

// HashState computes the state hash of st from scratch: every pair outside the node's own
// 0x00 keys. A node does this once, after restoring a snapshot; otherwise it keeps the hash
// Execute returns.
func HashState(st Store) (*StateHash, error) {
	var h StateHash
	err := st.Iterate(nil, []byte{pMeta + 1}, func(k, v []byte) bool {
		h.Add(k, v)
		return true
	})
	if err != nil {
		return nil, err
	}
	return &h, nil
}
