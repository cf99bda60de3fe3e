package ledger

import (
	"bytes"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// Recovery by guardians (SPEC.md §4, protocol/SPEC.md §15). A setup is a grant of the record
// holding the owner's sealed identity to a recovery key, marked so that no RequestAccess
// may use it; a process (RecoveryStart, guardians' approvals, the waiting period, no cancel)
// ends in a RecoveryFinish, which the nodes accept in a request's place.

// recoveryPurpose is the purpose of every recovery grant, for people reading grant lists.
const recoveryPurpose = "recovery"

func loadSetup(s Store, owner protocol.PubKey) (*protocol.RecoverySetupState, error) {
	var st protocol.RecoverySetupState
	if ok, err := getValue(s, key(pRecoverySetup, owner[:]), &st); err != nil || !ok {
		return nil, err
	}
	return &st, nil
}

func loadProcess(s Store, id protocol.Hash32) (*protocol.RecoveryProcess, error) {
	var p protocol.RecoveryProcess
	if ok, err := getValue(s, key(pRecoveryProcess, id[:]), &p); err != nil {
		return nil, err
	} else if !ok {
		return nil, protocol.Errorf(protocol.ErrNotFound, "recovery process %s", id)
	}
	return &p, nil
}

// isRecoveryGrant reports whether grant was made by a RecoverySetup.
func isRecoveryGrant(s Store, grant protocol.ID) (bool, error) {
	v, err := s.Get(key(pRecoveryGrant, grant[:]))
	return len(v) > 0, err
}

func applyRecoverySetup(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.RecoverySetup, res *applied) error {
	owner, err := o.Get(key(pRecordOwner, b.Record[:]))
	if err != nil {
		return err
	} else if owner == nil {
		return protocol.Errorf(protocol.ErrNotFound, "record %s", b.Record)
	}
	if !bytes.Equal(owner, tx.Signer[:]) {
		return protocol.Errorf(protocol.ErrUnauthorized, "only the record's owner may seal its identity in it")
	}
	if err := checkNotErased(o, b.Record); err != nil {
		return err
	}
	for _, n := range b.Nodes {
		if !bc.Nodes[n.Proxy] {
			return protocol.Errorf(protocol.ErrUnknownNode, "proxy key %s", n.Proxy)
		}
	}
	t := (&protocol.Grant{Threshold: b.Threshold, Nodes: b.Nodes}).EffectiveThreshold(len(bc.Nodes))
	if err := protocol.Tolerates(len(bc.Nodes), len(b.Nodes), t); err != nil {
		return err
	}
	for _, g := range b.Guardians {
		if g.Signing == tx.Signer {
			return protocol.Errorf(protocol.ErrInvalid, "an identity cannot be its own guardian")
		}
	}
	// The earlier setup ends first, so that its grant leaves the owner's allowance before the
	// new one enters it.
	prev, err := loadSetup(o, tx.Signer)
	if err != nil {
		return err
	}
	if prev != nil {
		g, err := loadGrant(o, prev.Grant)
		if err != nil {
			return err
		}
		if !g.Revoked {
			if err := revoke(o, g, bc.Height); err != nil {
				return err
			}
			res.revoked = append(res.revoked, g.ID)
			e := logged(protocol.AuditRevoke, g.Record, tx.Signer, bc, res)
			e.Grant = &g.ID
			if err := audit(o, e); err != nil {
				return err
			}
		}
	}
	if err := use(o, tx.Signer, func(u *protocol.Allowance) { u.Grants++ }); err != nil {
		return err
	}
	id := protocol.GrantID(bc.ChainID, tx.Signer, tx.Sequence)
	q := b.RecoveryKey()
	g := protocol.GrantState{ID: id, Record: b.Record, Owner: tx.Signer, OwnerEnc: b.OwnerEnc, RecipientSig: q, RecipientEnc: q,
		Threshold: t, Nodes: append([]protocol.GrantNode(nil), b.Nodes...), Purpose: recoveryPurpose,
		Height: bc.Height, Time: bc.Time, TxHash: res.hash}
	setValue(o, key(pGrant, id[:]), &g)
	// The marker holds the owner rather than nothing: the node's database answers a key
	// whose value is empty as absent.
	o.set(key(pRecoveryGrant, id[:]), tx.Signer[:])
	if err := listAppend(o, listID(listRecordGrants, b.Record[:]), id[:]); err != nil {
		return err
	}
	setValue(o, key(pRecoverySetup, tx.Signer[:]), &protocol.RecoverySetupState{Owner: tx.Signer, OwnerEnc: b.OwnerEnc,
		Grant: id, Record: b.Record, Delay: b.Delay, Guardians: b.Guardians, Commitments: b.Commitments,
		Height: bc.Height, Time: bc.Time, TxHash: res.hash})
	res.record, res.grant = b.Record, id
	e := logged(protocol.AuditRecoverySetup, b.Record, tx.Signer, bc, res)
	e.Grant = &id
	return audit(o, e)
}

// currentSetup is the setup a process belongs to, if it is still the owner's and its
// recovery grant is live: a replaced setup, a revoked grant or an erased record ends every
// process of it.
func currentSetup(o Store, bc BlockContext, owner protocol.PubKey, grant protocol.ID) (*protocol.RecoverySetupState, error) {
	setup, err := loadSetup(o, owner)
	if err != nil {
		return nil, err
	}
	if setup == nil || setup.Grant != grant {
		return nil, protocol.Errorf(protocol.ErrGrantRevoked, "the owner replaced the setup this recovery belongs to")
	}
	g, err := loadGrant(o, grant)
	if err != nil {
		return nil, err
	}
	if err := checkNotErased(o, g.Record); err != nil {
		return nil, err
	}
	if err := g.LiveAt(bc.Time); err != nil {
		return nil, protocol.Errorf(protocol.ErrorOf(err), "recovery grant %s: %v", grant, err)
	}
	return setup, nil
}

func applyRecoveryStart(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.RecoveryStart, res *applied) error {
	if b.Owner == tx.Signer {
		return protocol.Errorf(protocol.ErrInvalid, "an identity cannot recover itself onto its own key: start from a new identity")
	}
	setup, err := loadSetup(o, b.Owner)
	if err != nil {
		return err
	} else if setup == nil {
		return protocol.Errorf(protocol.ErrNotFound, "%s has no recovery setup", b.Owner)
	}
	if _, err := currentSetup(o, bc, b.Owner, setup.Grant); err != nil {
		return err
	}
	p := protocol.RecoveryProcess{ID: res.hash, Owner: b.Owner, Grant: setup.Grant, Device: tx.Signer, DeviceEnc: b.DeviceEnc,
		Height: bc.Height, Time: bc.Time, Lapses: bc.Time + int64(protocol.RecoveryLapse), Status: protocol.ProcessOpen}
	setValue(o, key(pRecoveryProcess, p.ID[:]), &p)
	if err := listAppend(o, listID(listOwnerProcesses, b.Owner[:]), p.ID[:]); err != nil {
		return err
	}
	res.record, res.grant = setup.Record, setup.Grant
	e := logged(protocol.AuditRecoveryStart, setup.Record, tx.Signer, bc, res)
	e.Grant = &setup.Grant
	return audit(o, e)
}

// ongoing loads a process that may still take a step: not cancelled, its setup current.
func ongoing(o Store, bc BlockContext, id protocol.Hash32) (*protocol.RecoveryProcess, *protocol.RecoverySetupState, error) {
	p, err := loadProcess(o, id)
	if err != nil {
		return nil, nil, err
	}
	if p.Status == protocol.ProcessCancelled {
		return nil, nil, protocol.Errorf(protocol.ErrGrantRevoked, "the owner cancelled recovery process %s at height %d", id, p.EndedHeight)
	}
	setup, err := currentSetup(o, bc, p.Owner, p.Grant)
	return p, setup, err
}

func applyRecoveryApprove(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.RecoveryApprove, res *applied) error {
	p, setup, err := ongoing(o, bc, b.Process)
	if err != nil {
		return err
	}
	if p.Status == protocol.ProcessFinished {
		return protocol.Errorf(protocol.ErrAlreadyExists, "recovery process %s already finished", p.ID)
	}
	i := setup.GuardianIndex(tx.Signer)
	if i < 0 {
		return protocol.Errorf(protocol.ErrUnauthorized, "not a guardian of %s", p.Owner)
	}
	if p.Approved(i) {
		return protocol.Errorf(protocol.ErrAlreadyExists, "this guardian already approved recovery process %s", p.ID)
	}
	if bc.Time >= p.Lapses {
		return protocol.Errorf(protocol.ErrGrantExpired, "recovery process %s lapsed at %s without enough approvals", p.ID, nanoTime(p.Lapses))
	}
	p.Approvals = append(p.Approvals, protocol.Approval{Guardian: i, Share: b.Share, Height: bc.Height, Time: bc.Time})
	if len(p.Approvals) == setup.Threshold() {
		p.Ready = bc.Time + setup.Delay
	}
	setValue(o, key(pRecoveryProcess, p.ID[:]), p)
	return logStep(o, bc, tx, res, protocol.AuditRecoveryApprove, p)
}

func applyRecoveryCancel(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.RecoveryCancel, res *applied) error {
	p, err := loadProcess(o, b.Process)
	if err != nil {
		return err
	}
	if p.Owner != tx.Signer {
		return protocol.Errorf(protocol.ErrUnauthorized, "only the identity being recovered may cancel")
	}
	switch p.Status {
	case protocol.ProcessCancelled:
		return protocol.Errorf(protocol.ErrGrantRevoked, "recovery process %s was cancelled at height %d", p.ID, p.EndedHeight)
	case protocol.ProcessFinished:
		return protocol.Errorf(protocol.ErrAlreadyExists, "recovery process %s finished at height %d: too late to cancel", p.ID, p.EndedHeight)
	}
	p.Status, p.EndedHeight, p.EndedTime = protocol.ProcessCancelled, bc.Height, bc.Time
	setValue(o, key(pRecoveryProcess, p.ID[:]), p)
	return logStep(o, bc, tx, res, protocol.AuditRecoveryCancel, p)
}

func applyRecoveryFinish(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.RecoveryFinish, res *applied) error {
	p, err := loadProcess(o, b.Process)
	if err != nil {
		return err
	}
	if p.Device != tx.Signer {
		return protocol.Errorf(protocol.ErrUnauthorized, "only the device that started recovery process %s may finish it", p.ID)
	}
	p, setup, err := ongoing(o, bc, b.Process)
	if err != nil {
		return err
	}
	switch k := setup.Threshold(); {
	case len(p.Approvals) < k:
		return protocol.Errorf(protocol.ErrNotYetValid, "%d of the %d guardian approvals needed", len(p.Approvals), k)
	case bc.Time < p.Ready:
		return protocol.Errorf(protocol.ErrNotYetValid, "the waiting period runs until %s (%s from now in block time)",
			nanoTime(p.Ready), time.Duration(p.Ready-bc.Time).Round(time.Second))
	case bc.Time >= p.Ready+int64(protocol.RecoveryLapse):
		return protocol.Errorf(protocol.ErrGrantExpired, "recovery process %s lapsed at %s unfinished", p.ID, nanoTime(p.Ready+int64(protocol.RecoveryLapse)))
	}
	if p.Status == protocol.ProcessOpen {
		p.Status, p.EndedHeight, p.EndedTime = protocol.ProcessFinished, bc.Height, bc.Time
		setValue(o, key(pRecoveryProcess, p.ID[:]), p)
	}
	// Indexed as a request is: the nodes find what authorises the re-encryption by its hash.
	record, err := recordOf(o, p.Grant)
	if err != nil {
		return err
	}
	if err := indexRequest(o, record, res.hash); err != nil {
		return err
	}
	return logStep(o, bc, tx, res, protocol.AuditRecoveryFinish, p)
}

func recordOf(o Store, grant protocol.ID) (protocol.ID, error) {
	g, err := loadGrant(o, grant)
	if err != nil {
		return protocol.ID{}, err
	}
	return g.Record, nil
}

// logStep logs a step of process p in the log of its sealed identity's record.
func logStep(o *overlay, bc BlockContext, tx *protocol.Tx, res *applied, kind string, p *protocol.RecoveryProcess) error {
	record, err := recordOf(o, p.Grant)
	if err != nil {
		return err
	}
	res.record, res.grant = record, p.Grant
	e := logged(kind, record, tx.Signer, bc, res)
	e.Grant = &p.Grant
	return audit(o, e)
}

// RecoverySetup returns owner's current recovery setup (not_found if it has none).
func (s *Snapshot) RecoverySetup(owner protocol.PubKey) (*protocol.RecoverySetupState, error) {
	st, err := loadSetup(s.st, owner)
	if err == nil && st == nil {
		err = protocol.Errorf(protocol.ErrNotFound, "%s has no recovery setup", owner)
	}
	return st, err
}

// RecoveryProcess returns a recovery process by id (not_found if absent).
func (s *Snapshot) RecoveryProcess(id protocol.Hash32) (*protocol.RecoveryProcess, error) {
	return loadProcess(s.st, id)
}

// RecoveryProcesses lists the recovery processes started for owner, oldest first.
func (s *Snapshot) RecoveryProcesses(owner protocol.PubKey, start uint64, limit int) (*protocol.Page[*protocol.RecoveryProcess], error) {
	raw, next, err := listPage(s.st, listID(listOwnerProcesses, owner[:]), start, clampLimit(limit))
	if err != nil {
		return nil, err
	}
	p := &protocol.Page[*protocol.RecoveryProcess]{Items: make([]*protocol.RecoveryProcess, 0, len(raw)), Next: next}
	for _, b := range raw {
		proc, err := loadProcess(s.st, protocol.Hash32(b))
		if err != nil {
			return nil, err
		}
		p.Items = append(p.Items, proc)
	}
	return p, nil
}

// IsRecoveryGrant reports whether grant is a recovery grant: the nodes re-encrypt under it
// only for a committed RecoveryFinish, never for a RequestAccess.
func (s *Snapshot) IsRecoveryGrant(grant protocol.ID) (bool, error) {
	return isRecoveryGrant(s.st, grant)
}
