package ledger

import (
	"bytes"
	"encoding/binary"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// Issued records (protocol/SPEC.md §19): a subject's inbox of one-time slot keys, and the
// records issuers seal under them for it.

func u32b(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func loadInbox(s Store, subject protocol.PubKey) (*protocol.InboxState, error) {
	var in protocol.InboxState
	_, err := getValue(s, key(pInbox, subject[:]), &in)
	return &in, err
}

func applyOpenInbox(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.OpenInbox, res *applied) error {
	in, err := loadInbox(o, tx.Signer)
	if err != nil {
		return err
	}
	// Slots are numbered from the ledger's count, so a device finds the labels of its keys
	// from state alone and a slot number is never opened twice.
	if b.FirstSlot != in.Next {
		return protocol.Errorf(protocol.ErrInvalid, "first slot %d, the inbox's next slot is %d", b.FirstSlot, in.Next)
	}
	if int(in.Open)+len(b.Keys) > protocol.MaxOpenSlots {
		return protocol.Errorf(protocol.ErrQuota, "%d slots are open and unused; at most %d may be", in.Open, protocol.MaxOpenSlots)
	}
	for i, k := range b.Keys {
		// The slot's value is its key, followed by the one issuer it is open to, if any.
		v := append([]byte(nil), k[:]...)
		if b.Issuer != nil {
			v = append(v, b.Issuer[:]...)
		}
		o.set(key(pInboxSlot, tx.Signer[:], u32b(b.FirstSlot+uint32(i))), v)
	}
	in.Next += uint32(len(b.Keys))
	in.Open += uint16(len(b.Keys))
	setValue(o, key(pInbox, tx.Signer[:]), in)
	return nil
}

func applyIssue(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.Issue, res *applied) error {
	slotKey := key(pInboxSlot, b.Subject[:], u32b(b.Slot))
	slot, err := o.Get(slotKey)
	if err != nil {
		return err
	} else if slot == nil {
		return protocol.Errorf(protocol.ErrSlotUnavailable, "slot %d of %s", b.Slot, b.Subject)
	}
	dk := slot[:33]
	if len(slot) == 66 && !bytes.Equal(slot[33:], tx.Signer[:]) {
		return protocol.Errorf(protocol.ErrSlotUnavailable, "slot %d of %s is open to another issuer", b.Slot, b.Subject)
	}
	id := protocol.RecordID(bc.ChainID, tx.Signer, tx.Sequence)
	// As for PutRecord: a blob belongs to one owner, here the subject.
	if err := newRecord(o, id, b.CID, b.Subject); err != nil {
		return err
	}
	// The subject consented to this use of its allowance when it opened the slot.
	if err := use(o, b.Subject, func(u *protocol.Allowance) { u.Records++; u.Bytes += b.Size }); err != nil {
		return err
	}
	in, err := loadInbox(o, b.Subject)
	if err != nil {
		return err
	}
	less16(&in.Open)
	setValue(o, key(pInbox, b.Subject[:]), in)
	o.del(slotKey)
	writeRecord(o, &protocol.Record{ID: id, Owner: b.Subject, CID: b.CID, Size: b.Size, Capsule: b.Capsule,
		DelegatingKey: protocol.PubKey(dk), Height: bc.Height, Time: bc.Time, TxHash: res.hash})
	if err := listAppend(o, listID(listOwnerRecords, b.Subject[:]), id[:]); err != nil {
		return err
	}
	setValue(o, key(pIssued, id[:]), &protocol.IssuedState{Issuer: tx.Signer, Slot: b.Slot})
	o.set(key(pPending, b.Subject[:], id[:]), nil)
	res.record = id
	return audit(o, logged(protocol.AuditIssued, id, tx.Signer, bc, res))
}

func less16(v *uint16) {
	if *v > 0 {
		*v--
	}
}

func loadIssued(s Store, record protocol.ID) (*protocol.IssuedState, error) {
	var is protocol.IssuedState
	if ok, err := getValue(s, key(pIssued, record[:]), &is); err != nil || !ok {
		return nil, err
	}
	return &is, nil
}

func applyAcceptIssued(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.AcceptIssued, res *applied) error {
	owner, err := o.Get(key(pRecordOwner, b.Record[:]))
	if err != nil {
		return err
	} else if owner == nil {
		return protocol.Errorf(protocol.ErrNotFound, "record %s", b.Record)
	}
	if !bytes.Equal(owner, tx.Signer[:]) {
		return protocol.Errorf(protocol.ErrUnauthorized, "only the record's subject may accept it")
	}
	is, err := loadIssued(o, b.Record)
	if err != nil {
		return err
	} else if is == nil {
		return protocol.Errorf(protocol.ErrNotFound, "record %s was not issued: there is nothing to accept", b.Record)
	}
	if err := checkNotErased(o, b.Record); err != nil {
		return err
	}
	if is.Accepted {
		return protocol.Errorf(protocol.ErrAlreadyExists, "record %s was accepted at height %d", b.Record, is.AcceptedHeight)
	}
	is.Accepted, is.AcceptedHeight = true, bc.Height
	setValue(o, key(pIssued, b.Record[:]), is)
	o.del(key(pPending, tx.Signer[:], b.Record[:]))
	res.record = b.Record
	return audit(o, logged(protocol.AuditAccepted, b.Record, tx.Signer, bc, res))
}

// checkAccepted refuses to grant an issued record its subject has not accepted: what sits
// in the inbox was written by someone else, and is shared only once the subject took it.
func checkAccepted(s Store, record protocol.ID) error {
	is, err := loadIssued(s, record)
	if err != nil || is == nil || is.Accepted {
		return err
	}
	return protocol.Errorf(protocol.ErrNotAccepted, "record %s waits in its subject's inbox: accept it first", record)
}

// leaveInbox takes an erased record out of its subject's pending list (a refusal). It
// writes nothing for any other record, so an erasure's writes are what they always were.
func leaveInbox(o *overlay, rec *protocol.Record) error {
	k := key(pPending, rec.Owner[:], rec.ID[:])
	v, err := o.Get(k)
	if err == nil && v != nil {
		o.del(k)
	}
	return err
}

// Inbox is a subject's inbox with its open slots, in slot order.
func (s *Snapshot) Inbox(subject protocol.PubKey) (*protocol.InboxState, error) {
	in, err := loadInbox(s.st, subject)
	if err != nil {
		return nil, err
	}
	p := key(pInboxSlot, subject[:])
	err = s.st.Iterate(p, p, func(k, v []byte) bool {
		if len(k) == len(p)+4 && (len(v) == 33 || len(v) == 66) {
			slot := protocol.InboxSlot{Slot: binary.BigEndian.Uint32(k[len(p):]), Key: protocol.PubKey(v[:33])}
			if len(v) == 66 {
				issuer := protocol.PubKey(v[33:])
				slot.Issuer = &issuer
			}
			in.Slots = append(in.Slots, slot)
		}
		return true
	})
	return in, err
}

// Pending lists the issued records waiting in a subject's inbox, at most protocol.MaxPage,
// by record id.
func (s *Snapshot) Pending(subject protocol.PubKey) ([]*protocol.Record, error) {
	var ids []protocol.ID
	p := key(pPending, subject[:])
	err := s.st.Iterate(p, p, func(k, _ []byte) bool {
		if len(k) == len(p)+32 {
			ids = append(ids, protocol.ID(k[len(p):]))
		}
		return len(ids) < protocol.MaxPage
	})
	if err != nil {
		return nil, err
	}
	out := make([]*protocol.Record, 0, len(ids))
	for _, id := range ids {
		r, err := s.Record(id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
