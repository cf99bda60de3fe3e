package ledger

import (
	"github.com/resilientrecords/resilientrecords/protocol"
)

// Caregivers (SPEC.md §4.1, protocol/SPEC.md §16). An owner's Delegate lets a caregiver
// grant, revoke, or (in the SDK) read for it during a period; the owner or the caregiver ends
// it with EndDelegation. A Grant or Revoke whose signer is not the record's owner is accepted
// when the signer holds a live delegation of the owner with that right, and is logged as the
// caregiver's for the owner. An owner has at most one delegation in force per caregiver, so
// finding it is one read.

func loadDelegation(s Store, id protocol.ID) (*protocol.DelegationState, error) {
	var d protocol.DelegationState
	if ok, err := getValue(s, key(pDelegation, id[:]), &d); err != nil {
		return nil, err
	} else if !ok {
		return nil, protocol.Errorf(protocol.ErrNotFound, "delegation %s", id)
	}
	return &d, nil
}

// currentDelegation is owner's latest delegation to caregiver, or nil.
func currentDelegation(s Store, owner, caregiver protocol.PubKey) (*protocol.DelegationState, error) {
	id, err := s.Get(key(pDelegate, owner[:], caregiver[:]))
	if err != nil || id == nil {
		return nil, err
	}
	return loadDelegation(s, protocol.ID(id))
}

func applyDelegate(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.Delegate, res *applied) error {
	if b.Caregiver == tx.Signer {
		return protocol.Errorf(protocol.ErrInvalid, "an owner cannot be its own caregiver")
	}
	if bc.Nodes[b.Caregiver] {
		return protocol.Errorf(protocol.ErrInvalid, "a node's proxy key is never an account")
	}
	if b.NotAfter <= bc.Time {
		return protocol.Errorf(protocol.ErrGrantExpired, "not-after is already past in block time")
	}
	prev, err := currentDelegation(o, tx.Signer, b.Caregiver)
	if err != nil {
		return err
	}
	if prev != nil && !prev.Ended && prev.NotAfter > bc.Time {
		return protocol.Errorf(protocol.ErrAlreadyExists, "delegation %s to this caregiver is in force: end it first", prev.ID)
	}
	id := protocol.DelegationID(bc.ChainID, tx.Signer, tx.Sequence)
	d := protocol.DelegationState{ID: id, Owner: tx.Signer, Caregiver: b.Caregiver, CaregiverEnc: b.CaregiverEnc,
		Rights: b.Rights, NotBefore: b.NotBefore, NotAfter: b.NotAfter, Height: bc.Height, Time: bc.Time, TxHash: res.hash}
	setValue(o, key(pDelegation, id[:]), &d)
	o.set(key(pDelegate, tx.Signer[:], b.Caregiver[:]), id[:])
	if err := listAppend(o, listID(listOwnerDelegates, tx.Signer[:]), id[:]); err != nil {
		return err
	}
	return listAppend(o, listID(listCaregiverOf, b.Caregiver[:]), id[:])
}

func applyEndDelegation(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.EndDelegation, res *applied) error {
	d, err := loadDelegation(o, b.Delegation)
	if err != nil {
		return err
	}
	if tx.Signer != d.Owner && tx.Signer != d.Caregiver {
		// A retired owner signs nothing: its successor ends the delegations it left.
		if ok, err := succeeds(o, d.Owner, tx.Signer); err != nil {
			return err
		} else if !ok {
			return protocol.Errorf(protocol.ErrUnauthorized, "only the delegation's owner or its caregiver may end it")
		}
	}
	if d.Ended {
		return protocol.Errorf(protocol.ErrGrantRevoked, "delegation %s already ended", d.ID)
	}
	// Ending one past its not-after is allowed and recorded, as revoking an expired grant.
	signer := tx.Signer
	d.Ended, d.EndedHeight, d.EndedTime, d.EndedBy = true, bc.Height, bc.Time, &signer
	setValue(o, key(pDelegation, d.ID[:]), d)
	return nil
}

// actingFor checks that signer may act on owner's records with right at block time: it is
// the owner, or the caregiver of a live delegation of the owner that has the right. It
// returns the owner to log when signer is a caregiver, nil when it is the owner.
func actingFor(o Store, bc BlockContext, owner, signer protocol.PubKey, right uint8, what string) (*protocol.PubKey, error) {
	if signer == owner {
		return nil, nil
	}
	d, err := currentDelegation(o, owner, signer)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, protocol.Errorf(protocol.ErrUnauthorized, "only the record's owner, or a caregiver it delegated to, may %s", what)
	}
	if err := d.LiveAt(bc.Time); err != nil {
		return nil, err
	}
	if d.Rights&right == 0 {
		return nil, protocol.Errorf(protocol.ErrUnauthorized, "delegation %s does not include the right to %s", d.ID, what)
	}
	return &owner, nil
}

// Delegation returns a delegation by id (not_found if absent).
func (s *Snapshot) Delegation(id protocol.ID) (*protocol.DelegationState, error) {
	return loadDelegation(s.st, id)
}

// DelegationsOf lists the delegations owner made, oldest first.
func (s *Snapshot) DelegationsOf(owner protocol.PubKey, start uint64, limit int) (*protocol.Page[*protocol.DelegationState], error) {
	return idPage(s, listID(listOwnerDelegates, owner[:]), start, limit, s.Delegation)
}

// DelegationsTo lists the delegations made to caregiver, oldest first.
func (s *Snapshot) DelegationsTo(caregiver protocol.PubKey, start uint64, limit int) (*protocol.Page[*protocol.DelegationState], error) {
	return idPage(s, listID(listCaregiverOf, caregiver[:]), start, limit, s.Delegation)
}
