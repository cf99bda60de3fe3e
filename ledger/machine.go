package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// This file is the pure state transition: functions of (state, block
// context, transaction) to writes into an overlay. No clock, no disk, no
// randomness, so every node computes the same writes.

// BlockContext is what a transaction may depend on besides state.
type BlockContext struct {
	ChainID string
	Height  int64
	Time    int64    // block time, unix nanoseconds
	Nodes   Registry // the genesis node registry (fixed for the chain's life)
}

// Registry is the set of proxy keys of the genesis node registry, held in
// memory because every grant checks its nodes against it.
type Registry map[PubKey]bool

// loadRegistry reads the registry from state.
func loadRegistry(s Store) (Registry, error) {
	r := Registry{}
	err := s.Iterate([]byte{pNodeProxy}, []byte{pNodeProxy}, func(k, _ []byte) bool {
		var pk PubKey
		copy(pk[:], k[1:])
		r[pk] = true
		return true
	})
	return r, err
}

// TxResult describes an applied transaction, for events and clients.
type TxResult struct {
	Type   TxType
	Hash   Hash32
	Signer PubKey
	Record ID
	Grant  ID // zero for PutRecord, EraseRecord and HoldsBlob
	// EraseRecord: the grants it revoked and the erased blob's CID.
	Revoked []ID
	CID     []byte
}

// applyTx checks raw against state st and, on success, writes its effects
// into st. prechecked reports that these exact bytes already passed the
// stateless checks and signature verification on this node (CheckTx, keyed
// by tx hash); both are pure functions of the bytes, so they are skipped.
// On error st is unchanged.
func applyTx(st *overlay, bc BlockContext, raw []byte, prechecked bool) (*TxResult, error) {
	tx, err := parseTx(raw)
	if err != nil {
		return nil, err
	}
	if !prechecked {
		if err := tx.validate(); err != nil {
			return nil, err
		}
	}
	if tx.ChainID != bc.ChainID {
		return nil, fmt.Errorf("%w: %q, this chain is %q", ErrWrongChain, tx.ChainID, bc.ChainID)
	}
	if !prechecked && !tx.VerifySig() {
		return nil, ErrBadSignature
	}
	next, err := getU64(st, key(pAccount, tx.Signer[:]))
	if err != nil {
		return nil, err
	}
	if tx.Sequence != next {
		return nil, fmt.Errorf("%w: got %d, account expects %d", ErrBadSequence, tx.Sequence, next)
	}
	res := &TxResult{Type: tx.Body.Type(), Hash: TxHash(raw), Signer: tx.Signer}
	scratch := newOverlay(st)
	switch b := tx.Body.(type) {
	case *PutRecord:
		err = applyPut(scratch, bc, tx, b, res)
	case *Grant:
		err = applyGrant(scratch, bc, tx, b, res)
	case *Revoke:
		err = applyRevoke(scratch, bc, tx, b, res)
	case *RequestAccess:
		err = applyRequest(scratch, bc, tx, b, res)
	case *EraseRecord:
		err = applyErase(scratch, bc, tx, b, res)
	case *HoldsBlob:
		err = applyHolds(scratch, bc, tx, b, res)
	default:
		err = ErrUnsupportedTx
	}
	if err != nil {
		return nil, err
	}
	scratch.set(key(pAccount, tx.Signer[:]), u64b(next+1))
	scratch.mergeInto(st)
	return res, nil
}

func audit(o *overlay, e AuditEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return listAppend(o, listID(listAudit, e.Record[:]), b)
}

func applyPut(o *overlay, bc BlockContext, tx *Tx, b *PutRecord, res *TxResult) error {
	id := RecordID(bc.ChainID, tx.Signer, tx.Sequence)
	if v, err := o.Get(key(pRecord, id[:])); err != nil {
		return err
	} else if v != nil {
		return fmt.Errorf("%w: record %s", ErrAlreadyExists, id)
	}
	rec := Record{ID: id, Owner: tx.Signer, CID: b.CID, Size: b.Size, Capsule: b.Capsule,
		DelegatingKey: b.DelegatingKey, Height: bc.Height, Time: bc.Time, TxHash: res.Hash}
	setJSON(o, key(pRecord, id[:]), rec)
	o.set(key(pRecordOwner, id[:]), tx.Signer[:])
	o.set(cidIndexKey(b.CID, id), nil)
	if err := listAppend(o, listID(listOwnerRecords, tx.Signer[:]), id[:]); err != nil {
		return err
	}
	res.Record = id
	actor := tx.Signer
	return audit(o, AuditEntry{Kind: AuditPut, Record: id, Actor: &actor, Height: bc.Height, Time: bc.Time, TxHash: &res.Hash})
}

func applyGrant(o *overlay, bc BlockContext, tx *Tx, b *Grant, res *TxResult) error {
	owner, err := o.Get(key(pRecordOwner, b.Record[:]))
	if err != nil {
		return err
	} else if owner == nil {
		return fmt.Errorf("%w: record %s", ErrNotFound, b.Record)
	}
	if !bytes.Equal(owner, tx.Signer[:]) {
		return fmt.Errorf("%w: only the record's owner may grant", ErrUnauthorized)
	}
	if err := checkNotErased(o, b.Record); err != nil {
		return err
	}
	if b.NotAfter != 0 && b.NotAfter <= bc.Time {
		return fmt.Errorf("%w: not-after is already past in block time", ErrGrantExpired)
	}
	nodes := make([]GrantNodeState, len(b.Nodes))
	for i, n := range b.Nodes {
		if !bc.Nodes[n.Proxy] {
			return fmt.Errorf("%w: proxy key %s", ErrUnknownNode, n.Proxy)
		}
		nodes[i] = GrantNodeState{Proxy: n.Proxy, Commitment: n.Commitment}
	}
	id := GrantID(bc.ChainID, tx.Signer, tx.Sequence)
	g := GrantState{ID: id, Record: b.Record, Owner: tx.Signer, RecipientSig: b.RecipientSig,
		RecipientEnc: b.RecipientEnc, Threshold: b.EffectiveThreshold(), Nodes: nodes,
		NotBefore: b.NotBefore, NotAfter: b.NotAfter, Purpose: b.Purpose,
		Height: bc.Height, Time: bc.Time, TxHash: res.Hash}
	setJSON(o, key(pGrant, id[:]), g)
	if b.NotAfter != 0 {
		o.set(expiryKey(b.NotAfter, id), nil)
	}
	if err := listAppend(o, listID(listRecordGrants, b.Record[:]), id[:]); err != nil {
		return err
	}
	if err := listAppend(o, listID(listRecipientGrant, b.RecipientSig[:]), id[:]); err != nil {
		return err
	}
	res.Record, res.Grant = b.Record, id
	actor := tx.Signer
	return audit(o, AuditEntry{Kind: AuditGrant, Record: b.Record, Grant: &id, Actor: &actor,
		Purpose: b.Purpose, Height: bc.Height, Time: bc.Time, TxHash: &res.Hash})
}

func loadGrant(o Store, id ID) (*GrantState, error) {
	var g GrantState
	if ok, err := getJSON(o, key(pGrant, id[:]), &g); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: grant %s", ErrNotFound, id)
	}
	return &g, nil
}

func applyRevoke(o *overlay, bc BlockContext, tx *Tx, b *Revoke, res *TxResult) error {
	g, err := loadGrant(o, b.Grant)
	if err != nil {
		return err
	}
	if g.Owner != tx.Signer {
		return fmt.Errorf("%w: only the grant's owner may revoke", ErrUnauthorized)
	}
	if g.Revoked {
		return fmt.Errorf("%w: already revoked", ErrGrantRevoked)
	}
	// Revoking an expired grant is allowed (and recorded): it is the owner's
	// explicit statement, and costs nothing.
	g.Revoked, g.RevokedHeight = true, bc.Height
	setJSON(o, key(pGrant, g.ID[:]), g)
	if g.NotAfter != 0 && !g.Expired {
		o.del(expiryKey(g.NotAfter, g.ID))
	}
	res.Record, res.Grant = g.Record, g.ID
	actor := tx.Signer
	return audit(o, AuditEntry{Kind: AuditRevoke, Record: g.Record, Grant: &g.ID, Actor: &actor,
		Height: bc.Height, Time: bc.Time, TxHash: &res.Hash})
}

func applyRequest(o *overlay, bc BlockContext, tx *Tx, b *RequestAccess, res *TxResult) error {
	g, err := loadGrant(o, b.Grant)
	if err != nil {
		return err
	}
	if g.RecipientSig != tx.Signer {
		return fmt.Errorf("%w: only the grant's recipient may request access", ErrUnauthorized)
	}
	if err := checkNotErased(o, g.Record); err != nil {
		return err
	}
	if err := g.LiveAt(bc.Time); err != nil {
		return err
	}
	res.Record, res.Grant = g.Record, g.ID
	actor := tx.Signer
	return audit(o, AuditEntry{Kind: AuditRequest, Record: g.Record, Grant: &g.ID, Actor: &actor,
		Purpose: b.Purpose, Height: bc.Height, Time: bc.Time, TxHash: &res.Hash})
}

func expiryKey(notAfter int64, id ID) []byte {
	return key(pExpiry, u64b(uint64(notAfter)), id[:])
}

// Expiry is a grant that block time has passed, found at the start of a
// block.
type Expiry struct {
	Grant  ID
	Record ID
}

// expireDue marks every grant whose not-after is ≤ the block time as
// expired and logs it. It runs before the block's transactions, against a
// still-empty overlay, so iterating the parent sees exactly committed state.
func expireDue(o *overlay, bc BlockContext) ([]Expiry, error) {
	var due []ID
	limit := u64b(uint64(bc.Time))
	err := o.Iterate([]byte{pExpiry}, []byte{pExpiry}, func(k, _ []byte) bool {
		if len(k) != 1+8+32 || bytes.Compare(k[1:9], limit) > 0 {
			return false
		}
		var id ID
		copy(id[:], k[9:])
		due = append(due, id)
		return true
	})
	if err != nil {
		return nil, err
	}
	out := make([]Expiry, 0, len(due))
	for _, id := range due {
		g, err := loadGrant(o, id)
		if err != nil {
			return nil, err
		}
		o.del(expiryKey(g.NotAfter, id))
		if g.Revoked || g.Expired {
			continue
		}
		g.Expired, g.ExpiredHeight = true, bc.Height
		setJSON(o, key(pGrant, id[:]), g)
		if err := audit(o, AuditEntry{Kind: AuditExpire, Record: g.Record, Grant: &g.ID,
			Height: bc.Height, Time: bc.Time}); err != nil {
			return nil, err
		}
		out = append(out, Expiry{Grant: id, Record: g.Record})
	}
	return out, nil
}

// initState writes the genesis node registry and replication factor.
func initState(o *overlay, nodes []NodeInfo, replication int) error {
	if len(nodes) == 0 || len(nodes) > 0xffff {
		return fmt.Errorf("%w: genesis needs at least one node", ErrInvalidTx)
	}
	if replication < 0 || replication > len(nodes) {
		return fmt.Errorf("%w: replication factor %d outside 0..%d", ErrInvalidTx, replication, len(nodes))
	}
	if replication > 0 && replication < len(nodes) {
		o.set(keyReplication, u16b(uint16(replication)))
	}
	for i, n := range nodes {
		n.Index = i
		if !n.ProxyKey.valid() {
			return fmt.Errorf("%w: node %d proxy key is not a valid point", ErrInvalidTx, i)
		}
		if v, _ := o.Get(key(pNodeProxy, n.ProxyKey[:])); v != nil {
			return fmt.Errorf("%w: node %d proxy key listed twice", ErrInvalidTx, i)
		}
		setJSON(o, key(pNode, u16b(uint16(i))), n)
		o.set(key(pNodeProxy, n.ProxyKey[:]), u16b(uint16(i)))
	}
	return nil
}

// nextSequence is the sequence number the account's next tx must carry.
func nextSequence(s Store, pk PubKey) (uint64, error) { return getU64(s, key(pAccount, pk[:])) }
