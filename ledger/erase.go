package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// This file holds the storage side of the ledger: EraseRecord (the owner's
// erasure, which leaves a tombstone), HoldsBlob (a node's report that it
// stores a record's blob), and the deterministic placement of blobs on
// nodes.

// ErrRecordErased: the record was erased; its tombstone says when.
var ErrRecordErased = errors.New("ledger: record erased")

// CodeRecordErased is the result code of ErrRecordErased.
const CodeRecordErased uint32 = 14

func init() {
	codeOf = append(codeOf, struct {
		err  error
		code uint32
	}{ErrRecordErased, CodeRecordErased})
}

// EraseRecord erases a record: every grant of it is revoked, every node
// deletes the blob, and the ledger keeps a tombstone. Only the owner may.
type EraseRecord struct{ Record ID }

// HoldsBlob is a node's report, signed with its proxy key, that its store
// holds the blob of Record (every block, verified).
type HoldsBlob struct{ Record ID }

func (*EraseRecord) Type() TxType        { return TxEraseRecord }
func (*HoldsBlob) Type() TxType          { return TxHoldsBlob }
func (b *EraseRecord) encode(e *encoder) { e.raw(b.Record[:]) }
func (b *EraseRecord) decode(d *decoder) { d.fixed(b.Record[:], "record id") }
func (b *EraseRecord) validate() error   { return nil }
func (b *HoldsBlob) encode(e *encoder)   { e.raw(b.Record[:]) }
func (b *HoldsBlob) decode(d *decoder)   { d.fixed(b.Record[:], "record id") }
func (b *HoldsBlob) validate() error     { return nil }

// Tombstone is what the ledger keeps of an erased record: evidence of what
// was erased and when, without the capsule.
type Tombstone struct {
	Record ID     `json:"record"`
	CID    []byte `json:"cid"`
	Height int64  `json:"height"`
	Time   int64  `json:"time"` // block time, unix nanoseconds
	TxHash Hash32 `json:"tx_hash"`
}

// Erasure is an erased record in CommitInfo.
type Erasure struct {
	Record ID
	CID    []byte
}

// Audit kinds added by this file.
const (
	AuditErase = "erase"
	AuditHolds = "holds"
)

// State keys of this file (see SPEC.md §6).
const (
	pTombstone   = 'E' // record id -> Tombstone
	pHolder      = 'H' // record id ‖ u16 node index -> empty
	pCIDIndex    = 'C' // cid text ‖ record id -> empty
	pReplication = 'p' // "replication" -> u16 replication factor (absent: every node)
)

var keyReplication = []byte{pReplication, 'r'}

func erasedAt(s Store, id ID) (*Tombstone, error) {
	var t Tombstone
	if ok, err := getJSON(s, key(pTombstone, id[:]), &t); err != nil || !ok {
		return nil, err
	}
	return &t, nil
}

func checkNotErased(s Store, id ID) error {
	t, err := erasedAt(s, id)
	if err != nil {
		return err
	}
	if t != nil {
		return fmt.Errorf("%w: record %s at height %d", ErrRecordErased, id, t.Height)
	}
	return nil
}

func applyErase(o *overlay, bc BlockContext, tx *Tx, b *EraseRecord, res *TxResult) error {
	var rec Record
	if ok, err := getJSON(o, key(pRecord, b.Record[:]), &rec); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: record %s", ErrNotFound, b.Record)
	}
	if rec.Owner != tx.Signer {
		return fmt.Errorf("%w: only the record's owner may erase it", ErrUnauthorized)
	}
	if err := checkNotErased(o, b.Record); err != nil {
		return err
	}
	// Positions are read with Get, not Iterate, so grants made earlier in
	// this same block (still in the overlay) are revoked too.
	list := listID(listRecordGrants, b.Record[:])
	n, err := getU64(o, key(pListLen, list))
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		v, err := o.Get(key(pList, list, u64b(i)))
		if err != nil {
			return err
		}
		var gid ID
		copy(gid[:], v)
		g, err := loadGrant(o, gid)
		if err != nil {
			return err
		}
		if g.Revoked {
			continue
		}
		g.Revoked, g.RevokedHeight = true, bc.Height
		setJSON(o, key(pGrant, g.ID[:]), g)
		if g.NotAfter != 0 && !g.Expired {
			o.del(expiryKey(g.NotAfter, g.ID))
		}
		res.Revoked = append(res.Revoked, g.ID)
	}
	for pk := range bc.Nodes {
		idx, err := o.Get(key(pNodeProxy, pk[:]))
		if err != nil {
			return err
		}
		if v, err := o.Get(key(pHolder, b.Record[:], idx)); err != nil {
			return err
		} else if v != nil {
			o.del(key(pHolder, b.Record[:], idx))
		}
	}
	// The capsule leaves current state; block history still has it (SPEC §4).
	rec.Capsule = CapsuleBytes{}
	setJSON(o, key(pRecord, rec.ID[:]), rec)
	setJSON(o, key(pTombstone, rec.ID[:]), Tombstone{Record: rec.ID, CID: rec.CID, Height: bc.Height,
		Time: bc.Time, TxHash: res.Hash})
	res.Record, res.CID = rec.ID, rec.CID
	actor := tx.Signer
	return audit(o, AuditEntry{Kind: AuditErase, Record: rec.ID, Actor: &actor, Height: bc.Height,
		Time: bc.Time, TxHash: &res.Hash})
}

func applyHolds(o *overlay, bc BlockContext, tx *Tx, b *HoldsBlob, res *TxResult) error {
	idx, err := o.Get(key(pNodeProxy, tx.Signer[:]))
	if err != nil {
		return err
	}
	if idx == nil || !bc.Nodes[tx.Signer] {
		return fmt.Errorf("%w: only registry nodes report holdings", ErrUnknownNode)
	}
	if v, err := o.Get(key(pRecord, b.Record[:])); err != nil {
		return err
	} else if v == nil {
		return fmt.Errorf("%w: record %s", ErrNotFound, b.Record)
	}
	if err := checkNotErased(o, b.Record); err != nil {
		return err
	}
	k, err := replicationFactor(o)
	if err != nil {
		return err
	}
	if !placedOn(b.Record, bc.Nodes, k, tx.Signer) {
		return fmt.Errorf("%w: record %s is not placed on this node", ErrUnauthorized, b.Record)
	}
	hk := key(pHolder, b.Record[:], idx)
	if v, err := o.Get(hk); err != nil {
		return err
	} else if v != nil {
		return fmt.Errorf("%w: holding already reported", ErrAlreadyExists)
	}
	o.set(hk, nil)
	res.Record = b.Record
	actor := tx.Signer
	return audit(o, AuditEntry{Kind: AuditHolds, Record: b.Record, Actor: &actor, Height: bc.Height,
		Time: bc.Time, TxHash: &res.Hash})
}

// replicationFactor is the genesis replication factor, 0 meaning every node.
func replicationFactor(s Store) (int, error) {
	v, err := s.Get(keyReplication)
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 2 {
		return 0, errors.New("ledger: corrupt replication factor")
	}
	return int(binary.BigEndian.Uint16(v)), nil
}

// placementScore ranks nodes for a record (rendezvous hashing): the nodes
// with the k lowest scores hold its blob. Every node computes the same
// ranking from the record id and the registry alone, and adding a record
// never moves another record's blob.
func placementScore(record ID, node PubKey) [32]byte {
	h := sha256.New()
	h.Write([]byte("resilientrecords/placement/v1\x00"))
	h.Write(record[:])
	h.Write(node[:])
	var s [32]byte
	h.Sum(s[:0])
	return s
}

func placedOn(record ID, nodes Registry, k int, node PubKey) bool {
	if k <= 0 || k >= len(nodes) {
		return nodes[node]
	}
	mine := placementScore(record, node)
	below := 0
	for pk := range nodes {
		s := placementScore(record, pk)
		if bytes.Compare(s[:], mine[:]) < 0 {
			below++
		}
	}
	return below < k
}

// Placement returns the nodes that should hold the record's blob: the k
// nodes of the registry with the lowest placement score, in score order
// (every node when k is 0 or at least the registry's size).
func Placement(record ID, nodes []NodeInfo, k int) []NodeInfo {
	out := append([]NodeInfo(nil), nodes...)
	sort.Slice(out, func(i, j int) bool {
		a, b := placementScore(record, out[i].ProxyKey), placementScore(record, out[j].ProxyKey)
		return bytes.Compare(a[:], b[:]) < 0
	})
	if k > 0 && k < len(out) {
		out = out[:k]
	}
	return out
}

// Tombstone returns the tombstone of an erased record, or nil if it was
// not erased.
func (s *Snapshot) Tombstone(id ID) (*Tombstone, error) { return erasedAt(s.st, id) }

// Replication returns the genesis replication factor (0: every node).
func (s *Snapshot) Replication() (int, error) { return replicationFactor(s.st) }

// Holders returns the registry indices of the nodes that reported holding
// the record's blob, ascending.
func (s *Snapshot) Holders(id ID) ([]int, error) {
	var out []int
	p := key(pHolder, id[:])
	err := s.st.Iterate(p, p, func(k, _ []byte) bool {
		if len(k) == len(p)+2 {
			out = append(out, int(binary.BigEndian.Uint16(k[len(p):])))
		}
		return true
	})
	return out, err
}

// PlacedNodes returns the nodes that should hold the record's blob.
func (s *Snapshot) PlacedNodes(id ID) ([]NodeInfo, error) {
	nodes, err := s.Nodes()
	if err != nil {
		return nil, err
	}
	k, err := s.Replication()
	if err != nil {
		return nil, err
	}
	return Placement(id, nodes, k), nil
}

// RecordsWithCID returns the ids of the records whose blob has this CID
// (its text form, as PutRecord carries it), at most MaxPage.
func (s *Snapshot) RecordsWithCID(cid []byte) ([]ID, error) {
	var out []ID
	p := key(pCIDIndex, u16b(uint16(len(cid))), cid)
	err := s.st.Iterate(p, p, func(k, _ []byte) bool {
		if len(k) == len(p)+32 {
			var id ID
			copy(id[:], k[len(p):])
			out = append(out, id)
		}
		return len(out) < MaxPage
	})
	return out, err
}

// Records visits every record id in key order from after (exclusive;
// the zero id starts at the beginning), up to limit ids; it is how a node
// walks what it should store.
func (s *Snapshot) Records(after *ID, limit int) ([]ID, error) {
	start := []byte{pRecord}
	if after != nil {
		start = key(pRecord, after[:], []byte{0})
	}
	var out []ID
	err := s.st.Iterate([]byte{pRecord}, start, func(k, _ []byte) bool {
		if len(k) == 33 {
			var id ID
			copy(id[:], k[1:])
			out = append(out, id)
		}
		return len(out) < limit
	})
	return out, err
}

func cidIndexKey(cid []byte, id ID) []byte {
	return key(pCIDIndex, u16b(uint16(len(cid))), cid, id[:])
}
