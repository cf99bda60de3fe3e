package ledger

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// This file holds the storage side of the ledger: EraseRecord (the owner's erasure, which
// leaves a tombstone), HoldsBlob (a node's report that it stores a record's blob), and the
// deterministic placement of blobs on nodes.

// Erasure is an erased record in CommitInfo.
type Erasure struct {
	Record protocol.ID
	CID    []byte
}

func erasedAt(s Store, id protocol.ID) (*protocol.Tombstone, error) {
	var t protocol.Tombstone
	if ok, err := getValue(s, key(pTombstone, id[:]), &t); err != nil || !ok {
		return nil, err
	}
	return &t, nil
}

func checkNotErased(s Store, id protocol.ID) error {
	t, err := erasedAt(s, id)
	if err != nil {
		return err
	}
	if t != nil {
		return protocol.Errorf(protocol.ErrRecordErased, "record %s at height %d", id, t.Height)
	}
	return nil
}

func applyErase(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.EraseRecord, res *applied) error {
	var rec protocol.Record
	if ok, err := getValue(o, key(pRecord, b.Record[:]), &rec); err != nil {
		return err
	} else if !ok {
		return protocol.Errorf(protocol.ErrNotFound, "record %s", b.Record)
	}
	var forOwner *protocol.PubKey
	if rec.Owner != tx.Signer {
		// A successor erases what its retired predecessor owned (SPEC.md §4.3).
		if ok, err := succeeds(o, rec.Owner, tx.Signer); err != nil {
			return err
		} else if !ok {
			return protocol.Errorf(protocol.ErrUnauthorized, "only the record's owner may erase it")
		}
		forOwner = &rec.Owner
	}
	if chunk, err := isChunk(o, b.Record); err != nil {
		return err
	} else if chunk {
		return protocol.Errorf(protocol.ErrUnauthorized, "record %s is a stream's chunk: erase the stream (StreamErase)", b.Record)
	}
	if err := checkNotErased(o, b.Record); err != nil {
		return err
	}
	// Positions are read with Get, not Iterate, so grants made earlier in this same block
	// (still in the overlay) are revoked too.
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
		var gid protocol.ID
		copy(gid[:], v)
		g, err := loadGrant(o, gid)
		if err != nil {
			return err
		}
		if g.Revoked {
			continue
		}
		if err := revoke(o, g, bc.Height); err != nil {
			return err
		}
		res.revoked = append(res.revoked, g.ID)
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
	if err := use(o, rec.Owner, func(u *protocol.Allowance) { less(&u.Records, 1); less(&u.Bytes, rec.Size) }); err != nil {
		return err
	}
	// The capsule leaves current state; block history still has it (SPEC §4).
	rec.Capsule = protocol.CapsuleBytes{}
	setValue(o, key(pRecord, rec.ID[:]), &rec)
	if err := leaveInbox(o, &rec); err != nil {
		return err
	}
	setValue(o, key(pTombstone, rec.ID[:]), &protocol.Tombstone{Record: rec.ID, CID: rec.CID, Height: bc.Height,
		Time: bc.Time, TxHash: res.hash})
	res.record, res.cid = rec.ID, rec.CID
	e := logged(protocol.AuditErase, rec.ID, tx.Signer, bc, res)
	e.For = forOwner
	return audit(o, e)
}

func applyHolds(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.HoldsBlob, res *applied) error {
	idx, err := o.Get(key(pNodeProxy, tx.Signer[:]))
	if err != nil {
		return err
	}
	if idx == nil || !bc.Nodes[tx.Signer] {
		return protocol.Errorf(protocol.ErrUnknownNode, "only registry nodes report holdings")
	}
	if v, err := o.Get(key(pRecord, b.Record[:])); err != nil {
		return err
	} else if v == nil {
		return protocol.Errorf(protocol.ErrNotFound, "record %s", b.Record)
	}
	if err := checkNotErased(o, b.Record); err != nil {
		return err
	}
	placed, err := placedNodes(o, b.Record)
	if err != nil {
		return err
	}
	mine := int(binary.BigEndian.Uint16(idx))
	found := false
	for _, i := range placed {
		found = found || i == mine
	}
	if !found {
		return protocol.Errorf(protocol.ErrUnauthorized, "record %s is not placed on this node", b.Record)
	}
	hk := key(pHolder, b.Record[:], idx)
	if v, err := o.Get(hk); err != nil {
		return err
	} else if v != nil {
		return protocol.Errorf(protocol.ErrAlreadyExists, "holding already reported")
	}
	o.set(hk, nil)
	res.record = b.Record
	return audit(o, logged(protocol.AuditHolds, b.Record, tx.Signer, bc, res))
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

// placedNodes is the registry positions of the nodes that should hold the record's blob.
func placedNodes(s Store, id protocol.ID) ([]int, error) {
	nodes, err := registryNodes(s)
	if err != nil {
		return nil, err
	}
	k, err := replicationFactor(s)
	if err != nil {
		return nil, err
	}
	return protocol.Placement(id, nodes, k), nil
}

// registryNodes reads the registry in index order.
func registryNodes(s Store) ([]protocol.Node, error) {
	var out []protocol.Node
	var bad error
	err := s.Iterate([]byte{pNode}, []byte{pNode}, func(_, v []byte) bool {
		var n protocol.Node
		if bad = n.UnmarshalBinary(v); bad != nil {
			return false
		}
		out = append(out, n)
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

func cidIndexKey(cid []byte, id protocol.ID) []byte {
	return key(pCIDIndex, u16b(uint16(len(cid))), cid, id[:])
}

// applyDestroyed records a grant node's report that it holds no fragment of a grant that
// ended (revoked, expired, or its record erased): the owner's revocation receipt.
func applyDestroyed(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.FragmentDestroyed, res *applied) error {
	idx, err := o.Get(key(pNodeProxy, tx.Signer[:]))
	if err != nil {
		return err
	}
	if idx == nil || !bc.Nodes[tx.Signer] {
		return protocol.Errorf(protocol.ErrUnknownNode, "only registry nodes report destroyed fragments")
	}
	g, err := loadGrant(o, b.Grant)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(g.Nodes, func(n protocol.GrantNode) bool { return n.Proxy == tx.Signer }) {
		return protocol.Errorf(protocol.ErrUnauthorized, "node is not one of grant %s's nodes", g.ID)
	}
	// A live grant's node may report too: it lost its fragment (its disk was wiped and it came
	// back by state sync) or never received one, and its owner and recipient should know.
	dk := key(pDestroyed, g.ID[:], idx)
	if v, err := o.Get(dk); err != nil {
		return err
	} else if v != nil {
		return protocol.Errorf(protocol.ErrAlreadyExists, "destruction already reported")
	}
	o.set(dk, nil)
	o.del(key(pOwed, idx, g.ID[:]))
	res.record, res.grant = g.Record, g.ID
	e := logged(protocol.AuditDestroyed, g.Record, tx.Signer, bc, res)
	e.Grant = &g.ID
	return audit(o, e)
}

// destroyedBy lists the registry indices of the nodes that reported destroying their
// fragment of grant, ascending.
func destroyedBy(s Store, grant protocol.ID) ([]int, error) {
	var out []int
	p := key(pDestroyed, grant[:])
	err := s.Iterate(p, p, func(k, _ []byte) bool {
		if len(k) == len(p)+2 {
			out = append(out, int(binary.BigEndian.Uint16(k[len(p):])))
		}
		return true
	})
	return out, err
}

// OwedReports lists up to limit (≤ 0: protocol.MaxPage) grants that ended and that the node
// with this proxy key has not yet reported destroying its fragment of.
func (s *Snapshot) OwedReports(node protocol.PubKey, limit int) ([]protocol.ID, error) {
	if limit <= 0 {
		limit = protocol.MaxPage
	}
	idx, err := s.st.Get(key(pNodeProxy, node[:]))
	if err != nil || idx == nil {
		return nil, err
	}
	var out []protocol.ID
	p := key(pOwed, idx)
	err = s.st.Iterate(p, p, func(k, _ []byte) bool {
		if len(k) == len(p)+32 {
			var id protocol.ID
			copy(id[:], k[len(p):])
			out = append(out, id)
		}
		return len(out) < limit
	})
	return out, err
}

// HoldsNone reports whether the node with this proxy key reported holding no fragment of
// grant (a FragmentDestroyed of it is committed).
func (s *Snapshot) HoldsNone(grant protocol.ID, node protocol.PubKey) (bool, error) {
	idx, err := s.st.Get(key(pNodeProxy, node[:]))
	if err != nil || idx == nil {
		return false, err
	}
	v, err := s.st.Get(key(pDestroyed, grant[:], idx))
	return v != nil, err
}

// HeldBy lists, in grant id order after after (nil: from the first), up to limit (≤ 0:
// protocol.MaxPage) grants that
// name the node with this proxy key, have not ended at the snapshot's block time, were
// committed at or below height, and that the node has not reported holding none of: the
// fragments it should hold. It reads every grant (no index by node): a node asks once, after
// it lost its data.
func (s *Snapshot) HeldBy(node protocol.PubKey, height int64, after *protocol.ID, limit int) ([]protocol.ID, error) {
	if limit <= 0 {
		limit = protocol.MaxPage
	}
	idx, err := s.st.Get(key(pNodeProxy, node[:]))
	if err != nil || idx == nil {
		return nil, err
	}
	start := []byte{pGrant}
	if after != nil {
		start = key(pGrant, after[:], []byte{0})
	}
	var out []protocol.ID
	var ierr error
	err = s.st.Iterate([]byte{pGrant}, start, func(k, v []byte) bool {
		var g protocol.GrantState
		if len(k) != 33 {
			return true
		}
		if ierr = g.UnmarshalBinary(v); ierr != nil {
			return false
		}
		live := g.LiveAt(s.Time)
		if g.Height > height || !(live == nil || errors.Is(live, protocol.ErrNotYetValid)) ||
			!slices.ContainsFunc(g.Nodes, func(n protocol.GrantNode) bool { return n.Proxy == node }) {
			return true
		}
		if d, err := s.st.Get(key(pDestroyed, g.ID[:], idx)); err != nil || d != nil {
			ierr = err
			return err == nil
		}
		out = append(out, g.ID)
		return len(out) < limit
	})
	return out, errors.Join(err, ierr)
}
