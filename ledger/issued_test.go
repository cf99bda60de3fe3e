package ledger

import (
	"slices"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// openInbox commits subject's opening of n slots from its next one and returns their keys.
func (m *machine) openInbox(subject *protocoltest.Account, n int) []protocol.PubKey {
	m.t.Helper()
	in, err := m.snapshot().Inbox(subject.Key)
	if err != nil {
		m.t.Fatal(err)
	}
	keys := make([]protocol.PubKey, n)
	for i := range keys {
		_, keys[i] = protocoltest.Capsule()
	}
	m.ok(subject, &protocol.OpenInbox{FirstSlot: in.Next, Keys: keys})
	return keys
}

func issueBody(subject *protocoltest.Account, slot uint32, cid string) *protocol.Issue {
	p := protocoltest.PutRecord(cid, 100)
	return &protocol.Issue{Subject: subject.Key, Slot: slot, CID: p.CID, Size: p.Size, Capsule: p.Capsule}
}

// issue commits issuer's record into subject's slot and returns its id.
func (m *machine) issue(issuer, subject *protocoltest.Account, slot uint32, cid string) protocol.ID {
	m.t.Helper()
	id := issuer.RecordID()
	x := m.ok(issuer, issueBody(subject, slot, cid))
	if !slices.Equal(x.Commit.Put, []protocol.ID{id}) {
		m.t.Fatalf("commit info puts %v, want the issued %s (the nodes store its blob)", x.Commit.Put, id)
	}
	return id
}

// TestIssueFlow: a subject opens slots, an issuer issues into one, the record is the
// subject's under the slot key, pending; the subject accepts it and may then grant it.
func TestIssueFlow(t *testing.T) {
	m := newMachine(t, 0)
	subject, issuer, reader := m.account(), m.account(), m.account()
	keys := m.openInbox(subject, 3)
	in, _ := m.snapshot().Inbox(subject.Key)
	if in.Next != 3 || in.Open != 3 || len(in.Slots) != 3 || in.Slots[1] != (protocol.InboxSlot{Slot: 1, Key: keys[1]}) {
		t.Fatalf("inbox after opening 3: %+v", in)
	}
	rec := m.issue(issuer, subject, 1, "bafy-issued")

	s := m.snapshot()
	r, err := s.Record(rec)
	if err != nil || r.Owner != subject.Key || r.DelegatingKey != keys[1] || r.Issued == nil ||
		r.Issued.Issuer != issuer.Key || r.Issued.Slot != 1 || r.Issued.Accepted {
		t.Fatalf("issued record: %+v %+v, %v", r, r.Issued, err)
	}
	if in, _ := s.Inbox(subject.Key); in.Open != 2 || len(in.Slots) != 2 || in.Slots[0].Slot != 0 || in.Slots[1].Slot != 2 {
		t.Fatalf("inbox after an issue: %+v", in)
	}
	if p, err := s.Pending(subject.Key); err != nil || len(p) != 1 || p[0].ID != rec {
		t.Fatalf("pending: %v, %v", p, err)
	}
	if mine, _ := s.RecordsOf(subject.Key, 0, 0); len(mine.Items) != 1 || mine.Items[0].ID != rec {
		t.Fatalf("the subject's records: %+v", mine.Items)
	}
	if a, _ := s.Account(subject.Key); a != nil && (a.Usage.Records != 1 || a.Usage.Bytes != 100) {
		t.Fatalf("subject usage %+v: an issued record counts against the subject", a.Usage)
	}

	// Grant before accept: not_accepted.
	m.spends(protocol.ErrNotAccepted, subject, m.grantBody(rec, reader, 0))
	m.ok(subject, &protocol.AcceptIssued{Record: rec})
	if p, _ := m.snapshot().Pending(subject.Key); len(p) != 0 {
		t.Fatalf("still pending after accept: %v", p)
	}
	if r, _ := m.snapshot().Record(rec); !r.Issued.Accepted || r.Issued.AcceptedHeight != m.height {
		t.Fatalf("issued state after accept: %+v", r.Issued)
	}
	m.spends(protocol.ErrAlreadyExists, subject, &protocol.AcceptIssued{Record: rec})
	m.ok(subject, m.grantBody(rec, reader, 0))
	if got := auditKinds(t, m.snapshot(), rec); !slices.Equal(got, []string{protocol.AuditIssued, protocol.AuditAccepted, protocol.AuditGrant}) {
		t.Fatalf("audit %v", got)
	}
	if log, _ := m.snapshot().Audit(rec, 0, 1); *log.Items[0].Actor != issuer.Key {
		t.Fatalf("the issued entry's actor is %s, want the issuer", log.Items[0].Actor)
	}
}

// TestIssueRefused: slots are one-time and the subject's to open; the issuer owns nothing.
func TestIssueRefused(t *testing.T) {
	m := newMachine(t, 0)
	subject, issuer, other := m.account(), m.account(), m.account()
	// Nothing open yet: any slot is unavailable.
	m.spends(protocol.ErrSlotUnavailable, issuer, issueBody(subject, 0, "bafy-a"))
	m.openInbox(subject, 2)
	// A slot past those opened, a slot of another account.
	m.spends(protocol.ErrSlotUnavailable, issuer, issueBody(subject, 2, "bafy-a"))
	m.spends(protocol.ErrSlotUnavailable, issuer, issueBody(other, 0, "bafy-a"))
	rec := m.issue(issuer, subject, 0, "bafy-a")
	// Reusing a slot: refused, for another issuer as for the same.
	m.spends(protocol.ErrSlotUnavailable, other, issueBody(subject, 0, "bafy-b"))
	m.spends(protocol.ErrSlotUnavailable, issuer, issueBody(subject, 0, "bafy-b"))
	// Another owner's blob cannot be issued: it belongs to its record's owner.
	m.put(other)
	m.spends(protocol.ErrAlreadyExists, issuer, issueBody(subject, 1, "bafy-test"))

	// The issuer cannot accept, grant, erase or request access on the subject's record.
	m.spends(protocol.ErrUnauthorized, issuer, &protocol.AcceptIssued{Record: rec})
	m.ok(subject, &protocol.AcceptIssued{Record: rec})
	m.spends(protocol.ErrUnauthorized, issuer, m.grantBody(rec, issuer, 0))
	m.spends(protocol.ErrUnauthorized, issuer, &protocol.EraseRecord{Record: rec})
	gid := subject.GrantID()
	m.ok(subject, m.grantBody(rec, other, 0))
	m.spends(protocol.ErrUnauthorized, issuer, &protocol.Revoke{Grant: gid})
	m.spends(protocol.ErrUnauthorized, issuer, &protocol.RequestAccess{Grant: gid, Purpose: "peek"})

	// Accepting a record that was not issued.
	mine := subject.RecordID()
	m.ok(subject, protocoltest.PutRecord("bafy-mine", 10))
	m.spends(protocol.ErrNotFound, subject, &protocol.AcceptIssued{Record: mine})
	m.spends(protocol.ErrNotFound, subject, &protocol.AcceptIssued{Record: protocol.ID{9}})
}

// TestInboxBounds: slots open from the ledger's next number, and at most MaxOpenSlots are
// open and unused at once; using one frees room for another.
func TestInboxBounds(t *testing.T) {
	m := newMachine(t, 0)
	subject, issuer := m.account(), m.account()
	_, k := protocoltest.Capsule()
	m.spends(protocol.ErrInvalid, subject, &protocol.OpenInbox{FirstSlot: 1, Keys: []protocol.PubKey{k}})
	m.openInbox(subject, protocol.MaxOpenSlots)
	_, k = protocoltest.Capsule()
	m.spends(protocol.ErrQuota, subject, &protocol.OpenInbox{FirstSlot: protocol.MaxOpenSlots, Keys: []protocol.PubKey{k}})
	m.issue(issuer, subject, 5, "bafy-a")
	m.ok(subject, &protocol.OpenInbox{FirstSlot: protocol.MaxOpenSlots, Keys: []protocol.PubKey{k}})
	if in, _ := m.snapshot().Inbox(subject.Key); in.Next != protocol.MaxOpenSlots+1 || in.Open != protocol.MaxOpenSlots {
		t.Fatalf("inbox %+v", in)
	}
}

// TestRefuseIsErase: the subject refuses an issued record by erasing it: it leaves the
// inbox, its grants could never exist, its slot stays used.
func TestRefuseIsErase(t *testing.T) {
	m := newMachine(t, 0)
	subject, issuer := m.account(), m.account()
	m.openInbox(subject, 1)
	rec := m.issue(issuer, subject, 0, "bafy-unwanted")
	x := m.ok(subject, &protocol.EraseRecord{Record: rec})
	if len(x.Commit.Erased) != 1 || x.Commit.Erased[0].Record != rec {
		t.Fatalf("erasure not reported to the blob stores: %+v", x.Commit.Erased)
	}
	s := m.snapshot()
	if p, _ := s.Pending(subject.Key); len(p) != 0 {
		t.Fatalf("an erased record still pending: %v", p)
	}
	if r, _ := s.Record(rec); r.Erased == nil {
		t.Fatal("no tombstone")
	}
	m.spends(protocol.ErrRecordErased, subject, &protocol.AcceptIssued{Record: rec})
	m.spends(protocol.ErrSlotUnavailable, issuer, issueBody(subject, 0, "bafy-again"))
	if got := auditKinds(t, m.snapshot(), rec); !slices.Equal(got, []string{protocol.AuditIssued, protocol.AuditErase}) {
		t.Fatalf("audit %v", got)
	}
}

// TestSlotsForOneIssuer: slots a subject opens for one issuer take that issuer's records
// only; a stranger cannot spend them.
func TestSlotsForOneIssuer(t *testing.T) {
	m := newMachine(t, 0)
	subject, issuer, stranger := m.account(), m.account(), m.account()
	_, k := protocoltest.Capsule()
	m.ok(subject, &protocol.OpenInbox{FirstSlot: 0, Keys: []protocol.PubKey{k}, Issuer: &issuer.Key})
	in, err := m.snapshot().Inbox(subject.Key)
	if err != nil || len(in.Slots) != 1 || in.Slots[0].Issuer == nil || *in.Slots[0].Issuer != issuer.Key ||
		in.Slots[0].Key != k || !in.Slots[0].OpenTo(issuer.Key) || in.Slots[0].OpenTo(stranger.Key) {
		t.Fatalf("inbox: %+v, %v", in, err)
	}
	m.spends(protocol.ErrSlotUnavailable, stranger, issueBody(subject, 0, "bafy-spam"))
	rec := m.issue(issuer, subject, 0, "bafy-summary")
	if r, _ := m.snapshot().Record(rec); r.DelegatingKey != k || r.Issued.Issuer != issuer.Key {
		t.Fatalf("issued record %+v", r)
	}
}
