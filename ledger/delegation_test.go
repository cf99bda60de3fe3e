package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// delegate commits owner's delegation of rights to caregiver for the next d of block time
// and returns its id.
func (m *machine) delegate(owner, caregiver *protocoltest.Account, rights uint8, d time.Duration) protocol.ID {
	m.t.Helper()
	id := protocol.DelegationID(testChain, owner.Key, owner.Seq)
	m.ok(owner, &protocol.Delegate{Caregiver: caregiver.Key, CaregiverEnc: caregiver.Key, Rights: rights,
		NotBefore: m.time, NotAfter: m.time + int64(d)})
	return id
}

// lastEntry is the last line of rec's audit log.
func (m *machine) lastEntry(rec protocol.ID) protocol.AuditEntry {
	m.t.Helper()
	log, err := m.snapshot().Audit(rec, 0, 0)
	if err != nil || len(log.Items) == 0 {
		m.t.Fatalf("audit: %v", err)
	}
	return log.Items[len(log.Items)-1]
}

// TestCaregiverGrantsAndRevokes: a live delegate with the grant and revoke rights grants and
// revokes on the owner's record; the grant is the owner's (its allowance, its revocation),
// made by the caregiver; the audit names the caregiver as the actor, for the owner.
func TestCaregiverGrantsAndRevokes(t *testing.T) {
	m := newMachine(t, 0)
	owner, carer, doc := m.account(), m.account(), m.account()
	rec := m.put(owner)
	m.delegate(owner, carer, protocol.RightGrant|protocol.RightRevoke, time.Hour)

	gid := carer.GrantID()
	m.ok(carer, m.grantBody(rec, doc, 0))
	g, err := m.snapshot().Grant(gid)
	if err != nil {
		t.Fatal(err)
	}
	if g.Owner != owner.Key || g.By == nil || *g.By != carer.Key || g.FragmentSigner() != carer.Key {
		t.Fatalf("grant by the caregiver: owner %s, by %v", g.Owner, g.By)
	}
	e := m.lastEntry(rec)
	if e.Kind != protocol.AuditGrant || *e.Actor != carer.Key || e.For == nil || *e.For != owner.Key {
		t.Fatalf("audit of the caregiver's grant: %+v", e)
	}
	if acct, err := m.snapshot().Account(owner.Key); err != nil || acct.Usage.Grants != 1 {
		t.Fatalf("owner's usage: %+v, %v", acct, err)
	}
	if acct, err := m.snapshot().Account(carer.Key); err != nil || acct.Usage.Grants != 0 {
		t.Fatalf("caregiver's usage: %+v, %v", acct, err)
	}

	// The caregiver revokes a grant the owner made.
	own := owner.GrantID()
	m.ok(owner, m.grantBody(rec, doc, 0))
	m.ok(carer, &protocol.Revoke{Grant: own})
	if g, _ := m.snapshot().Grant(own); !g.Revoked {
		t.Fatal("the caregiver's revoke did not revoke")
	}
	if e := m.lastEntry(rec); e.Kind != protocol.AuditRevoke || *e.Actor != carer.Key || *e.For != owner.Key {
		t.Fatalf("audit of the caregiver's revoke: %+v", e)
	}
	// The owner revokes the caregiver's grant: it is the owner's. Its entry has no For.
	m.ok(owner, &protocol.Revoke{Grant: gid})
	if e := m.lastEntry(rec); *e.Actor != owner.Key || e.For != nil {
		t.Fatalf("audit of the owner's revoke: %+v", e)
	}
}

// TestCaregiverRefused: outside its rights, before its start, after its end, once ended by
// the owner or by itself, on another owner's record, and on the owner's recovery grant or
// sealed identity, a caregiver's transaction is refused and spends only its sequence.
func TestCaregiverRefused(t *testing.T) {
	m := newMachine(t, 0)
	owner, carer, doc, other := m.account(), m.account(), m.account(), m.account()
	rec, otherRec := m.put(owner), other.RecordID()
	m.ok(other, protocoltest.PutRecord("bafy-other", 10))
	own := owner.GrantID()
	m.ok(owner, m.grantBody(rec, doc, 0))

	// No delegation at all.
	m.spends(protocol.ErrUnauthorized, carer, m.grantBody(rec, doc, 0))
	m.spends(protocol.ErrUnauthorized, carer, &protocol.Revoke{Grant: own})

	// Revoke only: no grant.
	d := m.delegate(owner, carer, protocol.RightRevoke, time.Hour)
	m.spends(protocol.ErrUnauthorized, carer, m.grantBody(rec, doc, 0))
	// One delegation in force per caregiver.
	m.spends(protocol.ErrAlreadyExists, owner, &protocol.Delegate{Caregiver: carer.Key, CaregiverEnc: carer.Key,
		Rights: protocol.RightGrant, NotBefore: 0, NotAfter: m.time + int64(time.Hour)})
	// Not on another owner's record.
	otherGrant := other.GrantID()
	m.ok(other, m.grantBody(otherRec, doc, 0))
	m.spends(protocol.ErrUnauthorized, carer, &protocol.Revoke{Grant: otherGrant})
	// A stranger cannot end it; the owner can.
	m.spends(protocol.ErrUnauthorized, doc, &protocol.EndDelegation{Delegation: d})
	m.ok(owner, &protocol.EndDelegation{Delegation: d})
	m.spends(protocol.ErrGrantRevoked, carer, &protocol.Revoke{Grant: own})
	m.spends(protocol.ErrGrantRevoked, carer, &protocol.EndDelegation{Delegation: d})
	st, err := m.snapshot().Delegation(d)
	if err != nil || !st.Ended || *st.EndedBy != owner.Key || st.EndedHeight == 0 {
		t.Fatalf("ended delegation: %+v, %v", st, err)
	}

	// After not_after, without anyone ending it.
	m.delegate(owner, carer, protocol.RightGrant|protocol.RightRevoke, 10*time.Second)
	m.block(10 * time.Second)
	m.spends(protocol.ErrGrantExpired, carer, m.grantBody(rec, doc, 0))
	m.spends(protocol.ErrGrantExpired, carer, &protocol.Revoke{Grant: own})

	// Not before not_before.
	m.ok(owner, &protocol.Delegate{Caregiver: carer.Key, CaregiverEnc: carer.Key, Rights: protocol.RightGrant | protocol.RightRevoke,
		NotBefore: m.time + int64(time.Hour), NotAfter: m.time + int64(2*time.Hour)})
	m.spends(protocol.ErrNotYetValid, carer, &protocol.Revoke{Grant: own})

	// The caregiver steps down.
	m.block(time.Hour)
	d = protocol.DelegationID(testChain, owner.Key, owner.Seq-1)
	m.ok(carer, &protocol.Revoke{Grant: own})
	m.ok(carer, &protocol.EndDelegation{Delegation: d})
	m.spends(protocol.ErrGrantRevoked, carer, m.grantBody(rec, doc, 0))
	if st, _ := m.snapshot().Delegation(d); *st.EndedBy != carer.Key {
		t.Fatalf("stepped down: %+v", st)
	}
}

// TestCaregiverKeepsOffRecovery: a caregiver with every right may neither grant the record
// of the owner's sealed identity nor revoke the owner's recovery grant.
func TestCaregiverKeepsOffRecovery(t *testing.T) {
	w := newRecoveryWorld(t)
	carer, doc := w.account(), w.account()
	rgrant := w.setup()
	w.delegate(w.owner, carer, protocol.RightGrant|protocol.RightRevoke|protocol.RightRead, time.Hour)
	w.spends(protocol.ErrUnauthorized, carer, w.grantBody(w.rec, doc, 0))
	w.spends(protocol.ErrUnauthorized, carer, &protocol.Revoke{Grant: rgrant})
}

func TestDelegateRefusals(t *testing.T) {
	m := newMachine(t, 0)
	owner, carer := m.account(), m.account()
	body := func(edit func(*protocol.Delegate)) *protocol.Delegate {
		b := &protocol.Delegate{Caregiver: carer.Key, CaregiverEnc: carer.Key, Rights: protocol.RightRevoke,
			NotAfter: m.time + int64(time.Hour)}
		edit(b)
		return b
	}
	m.spends(protocol.ErrInvalid, owner, body(func(b *protocol.Delegate) { b.Caregiver = owner.Key }))
	m.spends(protocol.ErrInvalid, owner, body(func(b *protocol.Delegate) { b.Caregiver = m.nodes[1].Key }))
	m.spends(protocol.ErrGrantExpired, owner, body(func(b *protocol.Delegate) { b.NotAfter = m.time }))
	m.spends(protocol.ErrNotFound, owner, &protocol.EndDelegation{Delegation: protocol.ID{9}})
}

// TestDelegationQueries: an owner's delegations and a caregiver's, through the query paths.
func TestDelegationQueries(t *testing.T) {
	m := newMachine(t, 0)
	owner, a, b := m.account(), m.account(), m.account()
	da := m.delegate(owner, a, protocol.RightGrant, time.Hour)
	db := m.delegate(owner, b, protocol.RightRead, time.Hour)
	m.ok(b, &protocol.EndDelegation{Delegation: db})
	s := m.snapshot()
	v, err := s.Query("/delegations/owner/" + owner.Key.String())
	if err != nil {
		t.Fatal(err)
	}
	page := v.(*protocol.Page[*protocol.DelegationState])
	if len(page.Items) != 2 || page.Items[0].ID != da || page.Items[1].ID != db || !page.Items[1].Ended {
		t.Fatalf("owner's delegations: %+v", page.Items)
	}
	v, err = s.Query("/delegations/caregiver/" + a.Key.String())
	if err != nil {
		t.Fatal(err)
	}
	if page := v.(*protocol.Page[*protocol.DelegationState]); len(page.Items) != 1 || page.Items[0].ID != da ||
		page.Items[0].Rights != protocol.RightGrant || page.Items[0].Owner != owner.Key {
		t.Fatalf("caregiver's delegations: %+v", page.Items)
	}
	if _, err := s.Query("/delegation/" + protocol.ID{1}.String()); !errors.Is(err, protocol.ErrNotFound) {
		t.Fatalf("absent delegation: %v", err)
	}
	if v, err := s.Query("/delegation/" + da.String()); err != nil || v.(*protocol.DelegationState).Caregiver != a.Key {
		t.Fatalf("delegation: %v %v", v, err)
	}
}
