package ledger

import "github.com/resilientrecords/resilientrecords/protocol"

// Rotation (SPEC.md §4.3, protocol/SPEC.md §18): a Rotate retires its signer in favour of a
// successor that proved it holds its key. From the next transaction on, everything the old
// key signs is refused (key_retired); the successor takes over the old account's admission
// and usage, and may revoke the old key's grants and erase its records, so that the old key
// never needs to sign again.

func loadRetirement(s Store, pk protocol.PubKey) (*protocol.Retirement, error) {
	var t protocol.Retirement
	ok, err := getValue(s, key(pRetired, pk[:]), &t)
	if err != nil || !ok {
		return nil, err
	}
	return &t, nil
}

// notRetired refuses a transaction of a retired key. It writes nothing, like the admission
// check: a retired key's transactions spend no sequence and cost one read.
func notRetired(s Store, signer protocol.PubKey) error {
	t, err := loadRetirement(s, signer)
	if err != nil || t == nil {
		return err
	}
	return protocol.Errorf(protocol.ErrKeyRetired, "key %s was retired at height %d in favour of %s", signer, t.Height, t.Successor)
}

// current is the key that now speaks for pk: pk itself, or the last of its successors, at
// most MaxSuccession rotations on (a chain longer than that cannot be built: each successor
// is a fresh key, and the bound only guards the loop).
func current(s Store, pk protocol.PubKey) (protocol.PubKey, error) {
	for range protocol.MaxSuccession {
		t, err := loadRetirement(s, pk)
		if err != nil || t == nil {
			return pk, err
		}
		pk = t.Successor
	}
	return pk, nil
}

// succeeds reports whether signer is a successor of owner, directly or through at most
// MaxSuccession rotations.
func succeeds(s Store, owner, signer protocol.PubKey) (bool, error) {
	pk := owner
	for range protocol.MaxSuccession {
		t, err := loadRetirement(s, pk)
		if err != nil || t == nil {
			return false, err
		}
		if t.Successor == signer {
			return true, nil
		}
		pk = t.Successor
	}
	return false, nil
}

// managing checks that signer may act on owner's records with right: the owner, a successor
// of the owner (every right: it is the owner, moved), or a live caregiver. It returns the
// owner when someone else acts for it, and whether that someone is a successor.
func managing(o Store, bc BlockContext, owner, signer protocol.PubKey, right uint8, what string) (*protocol.PubKey, bool, error) {
	if signer != owner {
		if ok, err := succeeds(o, owner, signer); err != nil || ok {
			return &owner, ok, err
		}
	}
	forOwner, err := actingFor(o, bc, owner, signer, right, what)
	return forOwner, false, err
}

func applyRotate(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.Rotate, res *applied) error {
	if bc.Nodes[tx.Signer] {
		return protocol.Errorf(protocol.ErrUnauthorized, "a registry node's key is not rotated by a transaction")
	}
	if b.Successor == tx.Signer {
		return protocol.Errorf(protocol.ErrInvalid, "a key cannot succeed itself")
	}
	if !protocol.VerifyRotation(tx) {
		return protocol.Errorf(protocol.ErrBadSignature, "the successor's proof does not verify: it must sign the succession of this key on this chain")
	}
	// The successor is a key the ledger has never seen: merging into an existing account
	// would mix two histories, two allowances and two owners' records under one key.
	s := b.Successor
	if bc.Nodes[s] {
		return protocol.Errorf(protocol.ErrInvalid, "the successor is a registry node's key")
	}
	if t, err := loadRetirement(o, s); err != nil {
		return err
	} else if t != nil {
		return protocol.Errorf(protocol.ErrInvalid, "the successor %s is itself retired", s)
	}
	if seq, err := nextSequence(o, s); err != nil {
		return err
	} else if seq != 0 {
		return protocol.Errorf(protocol.ErrAlreadyExists, "the successor %s has already transacted: a successor must be a new identity", s)
	}
	if a, err := account(o, s); err != nil {
		return err
	} else if a != nil {
		return protocol.Errorf(protocol.ErrAlreadyExists, "the successor %s is already admitted: a successor must be a new identity", s)
	}
	if prev, err := o.Get(key(pSucceeded, s[:])); err != nil {
		return err
	} else if prev != nil {
		return protocol.Errorf(protocol.ErrAlreadyExists, "the successor %s already succeeds another key", s)
	}
	// The successor inherits the account: its tier, and the usage of the records and grants
	// it now manages (use follows the succession to charge and release it).
	if a, err := account(o, tx.Signer); err != nil {
		return err
	} else if a != nil {
		setValue(o, key(pAdmitted, s[:]), a)
		o.del(key(pAdmitted, tx.Signer[:]))
	}
	setValue(o, key(pRetired, tx.Signer[:]), &protocol.Retirement{Old: tx.Signer, Successor: s,
		SuccessorEnc: b.SuccessorEnc, Height: bc.Height, Time: bc.Time, TxHash: res.hash})
	o.set(key(pSucceeded, s[:]), tx.Signer[:])
	return nil
}

// Retirement is the rotation that retired pk, or nil.
func (s *Snapshot) Retirement(pk protocol.PubKey) (*protocol.Retirement, error) {
	return loadRetirement(s.st, pk)
}

// Predecessor is the rotation whose successor is pk, or nil.
func (s *Snapshot) Predecessor(pk protocol.PubKey) (*protocol.Retirement, error) {
	old, err := s.st.Get(key(pSucceeded, pk[:]))
	if err != nil || old == nil {
		return nil, err
	}
	return loadRetirement(s.st, protocol.PubKey(old))
}

// retirementAnswer is a query's answer: the retirement, or not_found.
func retirementAnswer(t *protocol.Retirement, err error, what string, pk protocol.PubKey) (any, error) {
	if err == nil && t == nil {
		err = protocol.Errorf(protocol.ErrNotFound, "%s %s", what, pk)
	}
	return t, err
}
