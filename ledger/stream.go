package ledger

import (
	"bytes"
	"encoding/binary"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// Streams (protocol/SPEC.md §20). Every stream key lives under one prefix, so streams take
// one byte of the key space:
//
//	pStream 's' ‖ stream id                          -> protocol.StreamState
//	pStream 'e' ‖ stream id ‖ u64 epoch              -> the epoch's capsule (its first chunk's)
//	pStream 'p' ‖ stream id ‖ capsule                -> u64 epoch: the capsule's epoch, for the nodes
//	pStream 'c' ‖ stream id ‖ u64 position           -> protocol.StreamChunk, in append order
//	pStream 'k' ‖ chunk record id                    -> stream id: the record is a chunk
//	pStream 'w' ‖ grant id                           -> i64 from ‖ i64 until: a stream grant's window
//	pStream 'n', 'g', 'v'                            -> key generations (streamrekey.go)
//
// Each chunk is also a Record (its blob stored, replicated and erased as a record's), put
// in no owner's list of records; its bytes count against the owner's allowance, the stream
// once as a record. The stream's grants are listed under its id in listRecordGrants (so a
// StreamErase ends them as an EraseRecord does), its audit log under its id, and its
// recipient's stream grants in listRecipientStreams.
const pStream = 'Z'

const (
	listOwnerStreams     = 'z' // owner key -> stream ids
	listRecipientStreams = 'Z' // recipient signing key -> stream grant ids
)

func streamKey(sub byte, parts ...[]byte) []byte {
	return key(pStream, append([][]byte{{sub}}, parts...)...)
}

func loadStream(s Store, id protocol.ID) (*protocol.StreamState, error) {
	var st protocol.StreamState
	if ok, err := getValue(s, streamKey('s', id[:]), &st); err != nil {
		return nil, err
	} else if !ok {
		return nil, protocol.Errorf(protocol.ErrNotFound, "stream %s", id)
	}
	return &st, nil
}

// ownStream loads a live stream of signer's.
func ownStream(o *overlay, id protocol.ID, signer protocol.PubKey) (*protocol.StreamState, error) {
	st, err := loadStream(o, id)
	if err != nil {
		return nil, err
	}
	if st.Owner != signer {
		return nil, protocol.Errorf(protocol.ErrUnauthorized, "only the stream's owner may")
	}
	if st.ErasedHeight != 0 {
		return nil, protocol.Errorf(protocol.ErrStreamErased, "stream %s at height %d", id, st.ErasedHeight)
	}
	return st, nil
}

func applyStreamCreate(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.StreamCreate, res *applied) error {
	id := protocol.StreamID(bc.ChainID, tx.Signer, tx.Sequence)
	if err := use(o, tx.Signer, func(u *protocol.Allowance) { u.Records++ }); err != nil {
		return err
	}
	st := protocol.StreamState{ID: id, Owner: tx.Signer, Epoch: b.Epoch, Label: b.Label, DelegatingKey: b.DelegatingKey,
		Height: bc.Height, Time: bc.Time, TxHash: res.hash}
	setValue(o, streamKey('s', id[:]), &st)
	if err := listAppend(o, listID(listOwnerStreams, tx.Signer[:]), id[:]); err != nil {
		return err
	}
	res.record = id
	return audit(o, logged(protocol.AuditStreamCreate, id, tx.Signer, bc, res))
}

func applyStreamAppend(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.StreamAppend, res *applied) error {
	st, err := ownStream(o, b.Stream, tx.Signer)
	if err != nil {
		return err
	}
	if protocol.EpochOf(b.First, st.Epoch) != b.Epoch || protocol.EpochOf(b.Last, st.Epoch) != b.Epoch {
		return protocol.Errorf(protocol.ErrStreamEpoch, "entries from %d to %d are not all in epoch %d of %d s", b.First, b.Last, b.Epoch, st.Epoch)
	}
	if st.Chunks > 0 && b.First < st.Last {
		return protocol.Errorf(protocol.ErrStreamOrder, "first entry at %s, the stream's last is at %s", nanoTime(b.First), nanoTime(st.Last))
	}
	ek := streamKey('e', b.Stream[:], u64b(uint64(b.Epoch)))
	committed, err := o.Get(ek)
	if err != nil {
		return err
	}
	switch {
	case committed == nil:
		// The first chunk of the epoch commits its capsule (Validate checked that it verifies).
		o.set(ek, bytes.Clone(b.Capsule[:]))
		o.set(streamKey('p', b.Stream[:], b.Capsule[:]), u64b(uint64(b.Epoch)))
	case !bytes.Equal(committed, b.Capsule[:]):
		return protocol.Errorf(protocol.ErrStreamEpoch, "not the capsule epoch %d committed", b.Epoch)
	}
	gen, err := generationOfEpoch(o, st, b.Epoch)
	if err != nil {
		return err
	}
	rid := protocol.RecordID(bc.ChainID, tx.Signer, tx.Sequence)
	if err := newRecord(o, rid, b.CID, tx.Signer); err != nil {
		return err
	}
	if err := use(o, tx.Signer, func(u *protocol.Allowance) { u.Bytes += b.Size }); err != nil {
		return err
	}
	// The chunk's record: the blob service replicates it, nodes report holding it, and the
	// erasure of the stream tombstones it, as for any record.
	writeRecord(o, &protocol.Record{ID: rid, Owner: tx.Signer, CID: b.CID, Size: b.Size, Capsule: b.Capsule,
		DelegatingKey: gen.DelegatingKey, Height: bc.Height, Time: bc.Time, TxHash: res.hash})
	o.set(streamKey('k', rid[:]), b.Stream[:])
	setValue(o, streamKey('c', b.Stream[:], u64b(st.Chunks)), &protocol.StreamChunk{Epoch: b.Epoch, Record: rid, CID: b.CID,
		Size: b.Size, First: b.First, Last: b.Last, Count: b.Count})
	st.Chunks++
	st.Bytes += b.Size
	st.Last = b.Last
	setValue(o, streamKey('s', b.Stream[:]), st)
	res.record = rid
	return nil
}

func applyStreamGrant(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.StreamGrant, res *applied) error {
	st, err := ownStream(o, b.Grant.Record, tx.Signer)
	if err != nil {
		return err
	}
	g := &b.Grant
	if g.NotAfter != 0 && g.NotAfter <= bc.Time {
		return protocol.Errorf(protocol.ErrGrantExpired, "not-after is already past in block time")
	}
	for _, n := range g.Nodes {
		if !bc.Nodes[n.Proxy] {
			return protocol.Errorf(protocol.ErrUnknownNode, "proxy key %s", n.Proxy)
		}
	}
	t := g.EffectiveThreshold(len(bc.Nodes))
	if err := protocol.Tolerates(len(bc.Nodes), len(g.Nodes), t); err != nil {
		return err
	}
	if err := use(o, st.Owner, func(u *protocol.Allowance) { u.Grants++ }); err != nil {
		return err
	}
	id := protocol.GrantID(bc.ChainID, tx.Signer, tx.Sequence)
	gs := protocol.GrantState{ID: id, Record: st.ID, Owner: st.Owner, OwnerEnc: g.OwnerEnc, RecipientSig: g.RecipientSig,
		RecipientEnc: g.RecipientEnc, Threshold: t, Nodes: append([]protocol.GrantNode(nil), g.Nodes...),
		NotBefore: g.NotBefore, NotAfter: g.NotAfter, Purpose: g.Purpose, Height: bc.Height, Time: bc.Time, TxHash: res.hash}
	setValue(o, key(pGrant, id[:]), &gs)
	o.set(streamKey('w', id[:]), binary.BigEndian.AppendUint64(u64b(uint64(b.From)), uint64(b.Until)))
	// The grant is of the current generation: its fragments are of that key (protocol/SPEC.md
	// §20.3). Generation 0 is left unwritten, as before generations.
	if gen, err := currentGeneration(o, st); err != nil {
		return err
	} else if gen > 0 {
		o.set(streamKey('v', id[:]), u32b(gen))
	}
	if g.NotAfter != 0 {
		o.set(expiryKey(g.NotAfter, id), nil)
	}
	if err := listAppend(o, listID(listRecordGrants, st.ID[:]), id[:]); err != nil {
		return err
	}
	if err := listAppend(o, listID(listRecipientStreams, g.RecipientSig[:]), id[:]); err != nil {
		return err
	}
	res.record, res.grant = st.ID, id
	e := logged(protocol.AuditStreamGrant, st.ID, tx.Signer, bc, res)
	e.Grant, e.Purpose = &id, g.Purpose
	return audit(o, e)
}

func applyStreamErase(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.StreamErase, res *applied) error {
	st, err := loadStream(o, b.Stream)
	if err != nil {
		return err
	}
	// A successor erases the streams its retired predecessor owned, as it erases its records
	// (SPEC.md §4.3): the retired key can no longer append to them.
	var forOwner *protocol.PubKey
	if st.Owner != tx.Signer {
		if ok, err := succeeds(o, st.Owner, tx.Signer); err != nil {
			return err
		} else if ok {
			forOwner = &st.Owner
		}
	}
	if forOwner == nil {
		if st, err = ownStream(o, b.Stream, tx.Signer); err != nil {
			return err
		}
	} else if st.ErasedHeight != 0 {
		return protocol.Errorf(protocol.ErrStreamErased, "stream %s at height %d", b.Stream, st.ErasedHeight)
	}
	revoked, err := revokeAll(o, bc, st.ID)
	if err != nil {
		return err
	}
	res.revoked = revoked
	for i := uint64(0); i < st.Chunks; i++ {
		var c protocol.StreamChunk
		if _, err := getValue(o, streamKey('c', st.ID[:], u64b(i)), &c); err != nil {
			return err
		}
		if err := eraseChunk(o, bc, c.Record, res); err != nil {
			return err
		}
		res.erased = append(res.erased, Erasure{Record: c.Record, CID: c.CID})
	}
	if err := use(o, st.Owner, func(u *protocol.Allowance) { less(&u.Records, 1); less(&u.Bytes, st.Bytes) }); err != nil {
		return err
	}
	st.ErasedHeight = bc.Height
	setValue(o, streamKey('s', st.ID[:]), st)
	res.record = st.ID
	e := logged(protocol.AuditStreamErase, st.ID, tx.Signer, bc, res)
	e.For = forOwner
	return audit(o, e)
}

// eraseChunk tombstones a chunk's record as EraseRecord does a record's: no holders, no
// capsule in current state, a tombstone the nodes delete the blob by.
func eraseChunk(o *overlay, bc BlockContext, id protocol.ID, res *applied) error {
	var rec protocol.Record
	if ok, err := getValue(o, key(pRecord, id[:]), &rec); err != nil || !ok {
		return err
	}
	for pk := range bc.Nodes {
		idx, err := o.Get(key(pNodeProxy, pk[:]))
		if err != nil {
			return err
		}
		if v, err := o.Get(key(pHolder, id[:], idx)); err != nil {
			return err
		} else if v != nil {
			o.del(key(pHolder, id[:], idx))
		}
	}
	rec.Capsule = protocol.CapsuleBytes{}
	setValue(o, key(pRecord, id[:]), &rec)
	setValue(o, key(pTombstone, id[:]), &protocol.Tombstone{Record: id, CID: rec.CID, Height: bc.Height, Time: bc.Time, TxHash: res.hash})
	return nil
}

// revokeAll revokes every live grant listed under id.
func revokeAll(o *overlay, bc BlockContext, id protocol.ID) ([]protocol.ID, error) {
	list := listID(listRecordGrants, id[:])
	n, err := getU64(o, key(pListLen, list))
	if err != nil {
		return nil, err
	}
	var out []protocol.ID
	for i := uint64(0); i < n; i++ {
		v, err := o.Get(key(pList, list, u64b(i)))
		if err != nil {
			return nil, err
		}
		g, err := loadGrant(o, protocol.ID(v))
		if err != nil {
			return nil, err
		}
		if g.Revoked {
			continue
		}
		if err := revoke(o, g, bc.Height); err != nil {
			return nil, err
		}
		out = append(out, g.ID)
	}
	return out, nil
}

// isChunk says whether record id is a stream's chunk, which only its stream's transactions
// grant and erase.
func isChunk(s Store, id protocol.ID) (bool, error) {
	v, err := s.Get(streamKey('k', id[:]))
	return v != nil, err
}
