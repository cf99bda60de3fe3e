package proxy

import (
	"errors"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// What authorises a re-encryption (SPEC.md §4, checks 5–7): a committed RequestAccess of the
// grant's recipient, or, for a recovery grant, the committed RecoveryFinish of the device
// that completed a recovery, or, for an emergency pre-authorisation, a committed
// EmergencyRequest of the service's clinicians, the re-encryption request being signed by
// the service's organisation key.

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
		svc, err := snap.EmergencyService(g)
		if err != nil {
			s.log.Error("proxy: reading the emergency services", "err", err)
			return protocol.PubKey{}, "", protocol.ErrInternal
		}
		if svc != nil {
			return g.RecipientSig, protocol.AuditEmergency, nil
		}
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
// most protocol.RequestWindow of block time ago. An emergency entry is the clinicians', whom
// the ledger checked against the service's roster, not the requester's (the organisation
// that receives), and lasts protocol.EmergencyWindow. Only transactions that committed
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
	emergency := kind == protocol.AuditEmergency
	if ref.Record != g.Record || e.Kind != kind || e.TxHash == nil || *e.TxHash != r.RequestTx ||
		e.Grant == nil || *e.Grant != r.Grant || e.Actor == nil || (!emergency && *e.Actor != requester) {
		return protocol.ErrRequestNotCommitted
	}
	window := protocol.RequestWindow
	if emergency {
		window = protocol.EmergencyWindow
	}
	if snap.Time-e.Time > int64(window) {
		return protocol.Errorf(protocol.ErrRequestExpired, "%s committed at height %d, more than %s of block time ago: commit a new one",
			e.Kind, e.Height, window)
	}
	return nil
}
