package ledger

import (
	"bytes"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// This file is the pure state transition: functions of (state, block context, transaction)
// to writes into an overlay. No clock, no disk, no randomness, so every node computes the
// same writes.

// BlockContext is what a transaction may depend on besides state.
type BlockContext struct {
	ChainID string
	Height  int64
	Time    int64    // block time, unix nanoseconds
	Nodes   Registry // the genesis node registry (fixed for the chain's life)
}

// Registry is the set of proxy keys of the genesis node registry, held in memory because
// every grant checks its nodes against it.
type Registry map[protocol.PubKey]bool

// LoadRegistry reads the registry from state.
func LoadRegistry(s Store) (Registry, error) {
	r := Registry{}
	err := s.Iterate([]byte{pNodeProxy}, []byte{pNodeProxy}, func(k, _ []byte) bool {
		var pk protocol.PubKey
		copy(pk[:], k[1:])
		r[pk] = true
		return true
	})
	return r, err
}

// applied describes a transaction that succeeded, for events and the commit hooks.
type applied struct {
	typ    protocol.TxType
	hash   protocol.Hash32
	signer protocol.PubKey
	record protocol.ID
	grant  protocol.ID // zero for PutRecord, EraseRecord and HoldsBlob
	// EraseRecord, RecoverySetup: the grants it revoked; EraseRecord: the erased blob's CID.
	revoked []protocol.ID
	cid     []byte
	// StreamErase: the chunks it erased.
	erased []Erasure
}

// applyTx checks raw against state st and, on success, writes its effects into st.
// prechecked reports that these exact bytes already passed the stateless checks and
// signature verification on this node (CheckTx, keyed by tx hash); both are pure functions
// of the bytes, so they are skipped. A transaction that fails once its signature and
// sequence are checked writes only the advanced sequence (in a block it is spent); one that
// fails before leaves st unchanged.
func applyTx(st *overlay, bc BlockContext, raw []byte, prechecked bool) (*applied, error) {
	tx, err := protocol.ParseTx(raw)
	if err != nil {
		return nil, err
	}
	if !prechecked {
		if err := tx.Validate(); err != nil {
			return nil, err
		}
	}
	if tx.ChainID != bc.ChainID {
		return nil, protocol.Errorf(protocol.ErrWrongChain, "%q, this chain is %q", tx.ChainID, bc.ChainID)
	}
	// Admission and the sequence are read before the signature is verified: both refusals
	// write nothing, so junk from strangers and replays cost a lookup, not a verification.
	// A transaction of an account that may not send any spends nothing.
	if err := notRetired(st, tx.Signer); err != nil {
		return nil, err
	}
	if err := admitted(st, bc, tx); err != nil {
		return nil, err
	}
	next, err := getU64(st, key(pAccount, tx.Signer[:]))
	if err != nil {
		return nil, err
	}
	if tx.Sequence != next {
		return nil, protocol.Errorf(protocol.ErrBadSequence, "got %d, account expects %d", tx.Sequence, next)
	}
	if !prechecked && !tx.VerifySig() {
		return nil, protocol.ErrBadSignature
	}
	// From here on the transaction is its signer's, at its sequence: in a block it consumes
	// the sequence whatever its outcome, so that its bytes can never be replayed.
	st.set(key(pAccount, tx.Signer[:]), u64b(next+1))
	switch {
	case bc.Time > tx.Expires:
		return nil, protocol.Errorf(protocol.ErrTxExpired, "expired at %s, block time is %s", nanoTime(tx.Expires), nanoTime(bc.Time))
	case tx.Expires-bc.Time > int64(protocol.MaxTxLifetime):
		return nil, protocol.Errorf(protocol.ErrInvalid, "expires more than %s after the block time", protocol.MaxTxLifetime)
	}
	res := &applied{typ: tx.Body.Type(), hash: protocol.TxHash(raw), signer: tx.Signer}
	scratch := newOverlay(st)
	switch b := tx.Body.(type) {
	case *protocol.PutRecord:
		err = applyPut(scratch, bc, tx, b, res)
	case *protocol.Grant:
		err = applyGrant(scratch, bc, tx, b, res)
	case *protocol.Revoke:
		err = applyRevoke(scratch, bc, tx, b, res)
	case *protocol.RequestAccess:
		err = applyRequest(scratch, bc, tx, b, res)
	case *protocol.EraseRecord:
		err = applyErase(scratch, bc, tx, b, res)
	case *protocol.HoldsBlob:
		err = applyHolds(scratch, bc, tx, b, res)
	case *protocol.FragmentDestroyed:
		err = applyDestroyed(scratch, bc, tx, b, res)
	case *protocol.Admit:
		err = applyAdmit(scratch, bc, tx, b, res)
	case *protocol.Enrol:
		err = applyEnrol(scratch, bc, tx, b, res)
	case *protocol.RecoverySetup:
		err = applyRecoverySetup(scratch, bc, tx, b, res)
	case *protocol.RecoveryStart:
		err = applyRecoveryStart(scratch, bc, tx, b, res)
	case *protocol.RecoveryApprove:
		err = applyRecoveryApprove(scratch, bc, tx, b, res)
	case *protocol.RecoveryCancel:
		err = applyRecoveryCancel(scratch, bc, tx, b, res)
	case *protocol.RecoveryFinish:
		err = applyRecoveryFinish(scratch, bc, tx, b, res)
	case *protocol.Delegate:
		err = applyDelegate(scratch, bc, tx, b, res)
	case *protocol.EndDelegation:
		err = applyEndDelegation(scratch, bc, tx, b, res)
	case *protocol.RegisterService:
		err = applyRegisterService(scratch, bc, tx, b, res)
	case *protocol.EmergencyRequest:
		err = applyEmergencyRequest(scratch, bc, tx, b, res)
	case *protocol.OpenInbox:
		err = applyOpenInbox(scratch, bc, tx, b, res)
	case *protocol.Issue:
		err = applyIssue(scratch, bc, tx, b, res)
	case *protocol.AcceptIssued:
		err = applyAcceptIssued(scratch, bc, tx, b, res)
	case *protocol.Rotate:
		err = applyRotate(scratch, bc, tx, b, res)
	case *protocol.StreamCreate:
		err = applyStreamCreate(scratch, bc, tx, b, res)
	case *protocol.StreamAppend:
		err = applyStreamAppend(scratch, bc, tx, b, res)
	case *protocol.StreamGrant:
		err = applyStreamGrant(scratch, bc, tx, b, res)
	case *protocol.StreamErase:
		err = applyStreamErase(scratch, bc, tx, b, res)
	case *protocol.StreamRekey:
		err = applyStreamRekey(scratch, bc, tx, b, res)
	default:
		err = protocol.ErrUnsupported
	}
	if err != nil {
		return nil, err
	}
	scratch.mergeInto(st)
	return res, nil
}

// nanoTime formats a unix-nanosecond time for a log.
func nanoTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func audit(o *overlay, e protocol.AuditEntry) error {
	b, err := e.MarshalBinary()
	if err != nil {
		return err
	}
	return listAppend(o, listID(listAudit, e.Record[:]), b)
}

// logged is an audit entry for a transaction of signer.
func logged(kind string, record protocol.ID, signer protocol.PubKey, bc BlockContext, res *applied) protocol.AuditEntry {
	actor, hash := signer, res.hash
	return protocol.AuditEntry{Kind: kind, Record: record, Actor: &actor, Height: bc.Height, Time: bc.Time, TxHash: &hash}
}

func applyPut(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.PutRecord, res *applied) error {
	id := protocol.RecordID(bc.ChainID, tx.Signer, tx.Sequence)
	if err := newRecord(o, id, b.CID, tx.Signer); err != nil {
		return err
	}
	if err := use(o, tx.Signer, func(u *protocol.Allowance) { u.Records++; u.Bytes += b.Size }); err != nil {
		return err
	}
	writeRecord(o, &protocol.Record{ID: id, Owner: tx.Signer, CID: b.CID, Size: b.Size, Capsule: b.Capsule,
		DelegatingKey: b.DelegatingKey, Height: bc.Height, Time: bc.Time, TxHash: res.hash})
	if err := listAppend(o, listID(listOwnerRecords, tx.Signer[:]), id[:]); err != nil {
		return err
	}
	res.record = id
	return audit(o, logged(protocol.AuditPut, id, tx.Signer, bc, res))
}

// newRecord checks that a record id is unused and that no other owner's record names the
// blob. A blob belongs to one owner: its file key is random, so two owners never seal the
// same bytes. A record naming another owner's blob would keep it alive past that owner's
// erasure, and serve it again to whoever kept capsule fragments.
func newRecord(o *overlay, id protocol.ID, cid []byte, owner protocol.PubKey) error {
	if v, err := o.Get(key(pRecord, id[:])); err != nil {
		return err
	} else if v != nil {
		return protocol.Errorf(protocol.ErrAlreadyExists, "record %s", id)
	}
	naming, err := o.keysWithPrefix(key(pCIDIndex, u16b(uint16(len(cid))), cid))
	if err != nil {
		return err
	}
	for _, k := range naming {
		v, err := o.Get(key(pRecordOwner, []byte(k[len(k)-32:])))
		if err != nil {
			return err
		}
		if !bytes.Equal(v, owner[:]) {
			return protocol.Errorf(protocol.ErrAlreadyExists, "blob %s belongs to another account's record", cid)
		}
	}
	return nil
}

// writeRecord writes a new record with its owner and CID indexes: what the blob service
// replicates, the nodes report holding and an erasure tombstones.
func writeRecord(o *overlay, rec *protocol.Record) {
	setValue(o, key(pRecord, rec.ID[:]), rec)
	o.set(key(pRecordOwner, rec.ID[:]), rec.Owner[:])
	o.set(cidIndexKey(rec.CID, rec.ID), nil)
}

func applyGrant(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.Grant, res *applied) error {
	owner, err := o.Get(key(pRecordOwner, b.Record[:]))
	if err != nil {
		return err
	} else if owner == nil {
		return protocol.Errorf(protocol.ErrNotFound, "record %s", b.Record)
	}
	ownerKey := protocol.PubKey(owner)
	if chunk, err := isChunk(o, b.Record); err != nil {
		return err
	} else if chunk {
		return protocol.Errorf(protocol.ErrUnauthorized, "record %s is a stream's chunk: grant the stream (StreamGrant)", b.Record)
	}
	forOwner, err := actingFor(o, bc, ownerKey, tx.Signer, protocol.RightGrant, "grant")
	if err != nil {
		return err
	}
	if forOwner != nil {
		// The sealed identity's key opens the owner's seed: no caregiver grants it.
		if setup, err := loadSetup(o, ownerKey); err != nil {
			return err
		} else if setup != nil && setup.Record == b.Record {
			return protocol.Errorf(protocol.ErrUnauthorized, "a caregiver may not grant the record of the owner's sealed identity")
		}
	}
	if err := checkNotErased(o, b.Record); err != nil {
		return err
	}
	if err := checkAccepted(o, b.Record); err != nil {
		return err
	}
	if b.NotAfter != 0 && b.NotAfter <= bc.Time {
		return protocol.Errorf(protocol.ErrGrantExpired, "not-after is already past in block time")
	}
	for _, n := range b.Nodes {
		if !bc.Nodes[n.Proxy] {
			return protocol.Errorf(protocol.ErrUnknownNode, "proxy key %s", n.Proxy)
		}
	}
	t := b.EffectiveThreshold(len(bc.Nodes))
	if err := protocol.Tolerates(len(bc.Nodes), len(b.Nodes), t); err != nil {
		return err
	}
	if err := use(o, ownerKey, func(u *protocol.Allowance) { u.Grants++ }); err != nil {
		return err
	}
	// The id is the signer's: a caregiver's sequence makes it unique as the owner's does.
	id := protocol.GrantID(bc.ChainID, tx.Signer, tx.Sequence)
	g := protocol.GrantState{ID: id, Record: b.Record, Owner: ownerKey, OwnerEnc: b.OwnerEnc, RecipientSig: b.RecipientSig,
		RecipientEnc: b.RecipientEnc, Threshold: t, Nodes: append([]protocol.GrantNode(nil), b.Nodes...),
		NotBefore: b.NotBefore, NotAfter: b.NotAfter, Purpose: b.Purpose,
		Height: bc.Height, Time: bc.Time, TxHash: res.hash}
	if forOwner != nil {
		by := tx.Signer
		g.By = &by
	}
	setValue(o, key(pGrant, id[:]), &g)
	if b.NotAfter != 0 {
		o.set(expiryKey(b.NotAfter, id), nil)
	}
	if err := listAppend(o, listID(listRecordGrants, b.Record[:]), id[:]); err != nil {
		return err
	}
	if err := listAppend(o, listID(listRecipientGrant, b.RecipientSig[:]), id[:]); err != nil {
		return err
	}
	res.record, res.grant = b.Record, id
	e := logged(protocol.AuditGrant, b.Record, tx.Signer, bc, res)
	e.Grant, e.Purpose, e.For = &id, b.Purpose, forOwner
	return audit(o, e)
}

func loadGrant(o Store, id protocol.ID) (*protocol.GrantState, error) {
	var g protocol.GrantState
	if ok, err := getValue(o, key(pGrant, id[:]), &g); err != nil {
		return nil, err
	} else if !ok {
		return nil, protocol.Errorf(protocol.ErrNotFound, "grant %s", id)
	}
	return &g, nil
}

func applyRevoke(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.Revoke, res *applied) error {
	g, err := loadGrant(o, b.Grant)
	if err != nil {
		return err
	}
	forOwner, successor, err := managing(o, bc, g.Owner, tx.Signer, protocol.RightRevoke, "revoke")
	if err != nil {
		return err
	}
	if forOwner != nil && !successor {
		// A recovery grant is the owner's way back to its identity: only the owner ends it.
		if rg, err := isRecoveryGrant(o, g.ID); err != nil {
			return err
		} else if rg {
			return protocol.Errorf(protocol.ErrUnauthorized, "a caregiver may not revoke the owner's recovery grant")
		}
	}
	if g.Revoked {
		return protocol.Errorf(protocol.ErrGrantRevoked, "already revoked")
	}
	// Revoking an expired grant is allowed (and recorded): it is the owner's explicit
	// statement, and costs nothing.
	if err := revoke(o, g, bc.Height); err != nil {
		return err
	}
	res.record, res.grant = g.Record, g.ID
	e := logged(protocol.AuditRevoke, g.Record, tx.Signer, bc, res)
	e.Grant, e.For = &g.ID, forOwner
	return audit(o, e)
}

// revoke marks g revoked at height and takes it out of the expiry index.
func revoke(o *overlay, g *protocol.GrantState, height int64) error {
	g.Revoked, g.RevokedHeight = true, height
	setValue(o, key(pGrant, g.ID[:]), g)
	if g.Expired {
		return nil // it ended when it expired
	}
	if g.NotAfter != 0 {
		o.del(expiryKey(g.NotAfter, g.ID))
	}
	if err := use(o, g.Owner, func(u *protocol.Allowance) { less(&u.Grants, 1) }); err != nil {
		return err
	}
	return oweReports(o, g)
}

// oweReports records, when a grant ends, that each of its nodes owes a FragmentDestroyed
// report; a node's report clears its entry, so a node finds what it owes by its own prefix.
func oweReports(o *overlay, g *protocol.GrantState) error {
	for _, n := range g.Nodes {
		idx, err := o.Get(key(pNodeProxy, n.Proxy[:]))
		if err != nil {
			return err
		}
		if idx == nil {
			continue
		}
		// A node that reported holding no fragment while the grant was live owes nothing.
		if v, err := o.Get(key(pDestroyed, g.ID[:], idx)); err != nil {
			return err
		} else if v == nil {
			o.set(key(pOwed, idx, g.ID[:]), nil)
		}
	}
	return nil
}

// indexRequest finds a request by its transaction hash: the record and the position its
// audit entry, written next, takes in the record's log (the /request query, and a node
// checking a re-encryption request).
func indexRequest(o *overlay, record protocol.ID, hash protocol.Hash32) error {
	pos, err := getU64(o, key(pListLen, listID(listAudit, record[:])))
	if err != nil {
		return err
	}
	o.set(key(pRequest, hash[:]), append(record[:len(record):len(record)], u64b(pos)...))
	return nil
}

func applyRequest(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.RequestAccess, res *applied) error {
	g, err := loadGrant(o, b.Grant)
	if err != nil {
		return err
	}
	if rg, err := isRecoveryGrant(o, g.ID); err != nil {
		return err
	} else if rg {
		return protocol.Errorf(protocol.ErrUnauthorized, "a recovery grant is used through a completed recovery (RecoveryFinish), never a request")
	}
	if svc, err := isEmergencyGrant(o, g); err != nil {
		return err
	} else if svc != nil {
		return protocol.Errorf(protocol.ErrUnauthorized, "grant %s pre-authorises service %q for emergencies: only a co-signed emergency request of its clinicians uses it", g.ID, svc.Name)
	}
	if g.RecipientSig != tx.Signer {
		return protocol.Errorf(protocol.ErrUnauthorized, "only the grant's recipient may request access")
	}
	if err := checkNotErased(o, g.Record); err != nil {
		return err
	}
	if err := g.LiveAt(bc.Time); err != nil {
		return err
	}
	res.record, res.grant = g.Record, g.ID
	if err := indexRequest(o, g.Record, res.hash); err != nil {
		return err
	}
	e := logged(protocol.AuditRequest, g.Record, tx.Signer, bc, res)
	e.Grant, e.Purpose = &g.ID, b.Purpose
	return audit(o, e)
}

func expiryKey(notAfter int64, id protocol.ID) []byte {
	return key(pExpiry, u64b(uint64(notAfter)), id[:])
}

// Expiry is a grant that block time has passed, found at the start of a block.
type Expiry struct {
	Grant  protocol.ID
	Record protocol.ID
}

// expireDue marks the grants whose not-after is ≤ the block time as expired and logs them,
// at most MaxExpiriesPerBlock of them, earliest not-after first. It runs before the block's
// transactions, against a still-empty overlay, so iterating the parent sees exactly
// committed state.
func expireDue(o *overlay, bc BlockContext) ([]Expiry, error) {
	var due []protocol.ID
	limit := u64b(uint64(bc.Time))
	err := o.Iterate([]byte{pExpiry}, []byte{pExpiry}, func(k, _ []byte) bool {
		if len(k) != 1+8+32 || bytes.Compare(k[1:9], limit) > 0 {
			return false
		}
		var id protocol.ID
		copy(id[:], k[9:])
		due = append(due, id)
		return len(due) < MaxExpiriesPerBlock
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
		setValue(o, key(pGrant, id[:]), g)
		if err := use(o, g.Owner, func(u *protocol.Allowance) { less(&u.Grants, 1) }); err != nil {
			return nil, err
		}
		if err := oweReports(o, g); err != nil {
			return nil, err
		}
		if err := audit(o, protocol.AuditEntry{Kind: protocol.AuditExpire, Record: g.Record, Grant: &g.ID,
			Height: bc.Height, Time: bc.Time}); err != nil {
			return nil, err
		}
		out = append(out, Expiry{Grant: id, Record: g.Record})
	}
	return out, nil
}

// initState writes the genesis node registry, replication factor and admission rules (none:
// an open network).
func initState(o *overlay, nodes []protocol.Node, replication int, adm *protocol.AdmissionRules) error {
	if adm != nil {
		if err := adm.Validate(); err != nil {
			return err
		}
		setValue(o, keyRules, adm)
	}
	if len(nodes) == 0 || len(nodes) > protocol.MaxGrantNodes {
		return protocol.Errorf(protocol.ErrInvalid, "genesis needs 1..%d nodes", protocol.MaxGrantNodes)
	}
	if f := protocol.FaultTolerance(len(nodes)); replication != 0 && (replication <= f || replication > len(nodes)) {
		return protocol.Errorf(protocol.ErrInvalid, "replication factor %d outside %d..%d: f = %d nodes may lose a blob (0 places it on every node)",
			replication, f+1, len(nodes), f)
	}
	if replication > 0 && replication < len(nodes) {
		o.set(keyReplication, u16b(uint16(replication)))
	}
	for i, n := range nodes {
		if !n.ProxyKey.Valid() {
			return protocol.Errorf(protocol.ErrInvalid, "node %d proxy key is not a valid point", i)
		}
		if v, _ := o.Get(key(pNodeProxy, n.ProxyKey[:])); v != nil {
			return protocol.Errorf(protocol.ErrInvalid, "node %d proxy key listed twice", i)
		}
		b, err := n.MarshalBinary()
		if err != nil {
			return err
		}
		o.set(key(pNode, u16b(uint16(i))), b)
		o.set(key(pNodeProxy, n.ProxyKey[:]), u16b(uint16(i)))
	}
	return nil
}

// nextSequence is the sequence number the account's next tx must carry.
func nextSequence(s Store, pk protocol.PubKey) (uint64, error) {
	return getU64(s, key(pAccount, pk[:]))
}
