package proxy

import (
	"errors"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// What authorises a re-encryption (SPEC.md §4, checks 5–7): a committed RequestAccess of the
// grant's recipient, or, for a recovery grant, the committed RecoveryFinish of the device
// that completed a recovery.

// requester is the key that must have signed r and the kind of audit entry that authorises
// it: the grant's recipient and its RequestAccess; for a recovery grant, which no request may
// use, the device whose committed RecoveryFinish r names (the ledger indexes finishes as it
// indexes requests, and writes one only for a completed recovery).
func (s *Service) requester(snap *ledger.Snapshot, g *protocol.GrantState, r *protocol.ReencryptRequest) (protocol.PubKey, string, error) {
	recovery, err := snap.IsRecoveryGrant(g.ID)
	if err != nil {
		s.log.Error("proxy: reading the recovery grants", "err", err)
		return protocol.PubKey{}, "", protocol.ErrInternal
	}
	if !recovery {
		return g.RecipientSig, protocol.AuditRequest, nil
	}
	ref, err := snap.Request(r.RequestTx)
	if errors.Is(err, protocol.ErrNotFound) {
		return protocol.PubKey{}, "", protocol.ErrRequestNotCommitted
	} else if err != nil {
		s.log.Error("proxy: reading the request index", "err", err)
		return protocol.PubKey{}, "", protocol.ErrInternal
	}
	if ref.Entry.Kind != protocol.AuditRecoveryFinish || ref.Entry.Actor == nil {
		return protocol.PubKey{}, "", protocol.ErrRequestNotCommitted
	}
	return *ref.Entry.Actor, protocol.AuditRecoveryFinish, nil
}

// checkRequest finds the committed transaction named by r by its hash: its audit entry must
// be of kind (a request, or a recovery's finish) for this grant, by requester, committed at
// most protocol.RequestWindow of block time ago. Only transactions that committed
// successfully are indexed.
func (s *Service) checkRequest(snap *ledger.Snapshot, g *protocol.GrantState, kind string, requester protocol.PubKey, r *protocol.ReencryptRequest) error {
	ref, err := snap.Request(r.RequestTx)
	if errors.Is(err, protocol.ErrNotFound) {
		return protocol.ErrRequestNotCommitted
	} else if err != nil {
		s.log.Error("proxy: reading the request index", "err", err)
		return protocol.ErrInternal
	}
	e := ref.Entry
	if ref.Record != g.Record || e.Kind != kind || e.TxHash == nil || *e.TxHash != r.RequestTx ||
		e.Grant == nil || *e.Grant != r.Grant || e.Actor == nil || *e.Actor != requester {
		return protocol.ErrRequestNotCommitted
	}
	if snap.Time-e.Time > int64(protocol.RequestWindow) {
		return protocol.Errorf(protocol.ErrRequestExpired, "access request committed at height %d, more than %s of block time ago: commit a new one",
			e.Height, protocol.RequestWindow)
	}
	return nil
}
