package ledger

import (
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// service is a registered emergency service in a test: its organisation and clinicians,
// who hold no admitted account.
type service struct {
	name       string
	org        *protocoltest.Account
	clinicians []*protocoltest.Account
}

// registerService commits node 0's registration of a service with n clinicians.
func (m *machine) registerService(name string, n int) *service {
	m.t.Helper()
	s := &service{name: name, org: protocoltest.NewAccount(testChain)}
	body := &protocol.RegisterService{Name: name, Org: s.org.Key, OrgEnc: s.org.Key}
	for i := 0; i < n; i++ {
		c := protocoltest.NewAccount(testChain)
		c.Clock = m.clock
		s.clinicians = append(s.clinicians, c)
		body.Clinicians = append(body.Clinicians, protocol.Clinician{Key: c.Key, Name: string(rune('A'+i)) + ". Clinician"})
	}
	m.ok(m.nodes[0], body)
	return s
}

// preauthorise commits owner's grant of rec to the service's organisation and returns it.
func (m *machine) preauthorise(owner *protocoltest.Account, rec protocol.ID, s *service) protocol.ID {
	m.t.Helper()
	gid := owner.GrantID()
	m.ok(owner, m.grantBody(rec, s.org, 0))
	return gid
}

// TestEmergencyRead: a clinician's request co-signed by a second commits an emergency entry
// with both of them and the reason, indexed for the nodes as a request is.
func TestEmergencyRead(t *testing.T) {
	m := newMachine(t, 0)
	owner := m.account()
	rec := m.put(owner)
	ed := m.registerService("City ED", 3)
	gid := m.preauthorise(owner, rec, ed)

	a, b := ed.clinicians[0], ed.clinicians[1]
	raw := a.Emergency(gid, "unconscious on arrival", b)
	errs, _ := m.block(time.Second, raw)
	if errs[0] != nil {
		t.Fatalf("co-signed emergency request: %v", errs[0])
	}
	a.Seq++
	e := m.lastEntry(rec)
	if e.Kind != protocol.AuditEmergency || *e.Actor != a.Key || e.CoSigner == nil || *e.CoSigner != b.Key ||
		e.Purpose != "unconscious on arrival" || *e.Grant != gid {
		t.Fatalf("emergency entry: %+v", e)
	}
	ref, err := m.snapshot().Request(protocol.TxHash(raw))
	if err != nil || ref.Entry.Kind != protocol.AuditEmergency || ref.Record != rec {
		t.Fatalf("the request index: %+v, %v", ref, err)
	}
	svc, err := m.snapshot().Service("City ED")
	if err != nil || svc.Org != ed.org.Key || len(svc.Clinicians) != 3 || svc.By != m.nodes[0].Key {
		t.Fatalf("service: %+v, %v", svc, err)
	}
	g, _ := m.snapshot().Grant(gid)
	if s, err := m.snapshot().EmergencyService(g); err != nil || s == nil || s.Name != "City ED" {
		t.Fatalf("the grant's service: %+v, %v", s, err)
	}
}

// TestEmergencyRefused: each way an emergency read is refused, and that an ordinary request
// never uses a pre-authorisation.
func TestEmergencyRefused(t *testing.T) {
	m := newMachine(t, 0)
	owner, doc := m.account(), m.account()
	rec := m.put(owner)
	ed := m.registerService("City ED", 3)
	other := m.registerService("Harbour ICU", 2)
	gid := m.preauthorise(owner, rec, ed)
	ordinary := owner.GrantID()
	m.ok(owner, m.grantBody(rec, doc, 0))
	a, b := ed.clinicians[0], ed.clinicians[1]

	// Without a pre-authorisation nothing can be read: an ordinary grant is not one.
	m.spendsRaw(protocol.ErrUnauthorized, a, a.Emergency(ordinary, "unconscious", b))
	// Without the co-signature: none (the signer as its own co-signer), or a forged one.
	m.spendsRaw(protocol.ErrUnauthorized, a, a.Emergency(gid, "unconscious", nil))
	forged := a.Emergency(gid, "unconscious", b)
	forged[len(forged)-65-10] ^= 1 // in the co-signature, before the transaction's own
	tx, err := protocol.ParseTx(forged)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Sign(a.Signer); err != nil {
		t.Fatal(err)
	}
	m.spendsRaw(protocol.ErrBadSignature, a, tx.Encode())
	// Co-signed by a clinician of another service.
	m.spendsRaw(protocol.ErrUnauthorized, a, a.Emergency(gid, "unconscious", other.clinicians[0]))
	// By a clinician of another service: registered, but not for this grant's service.
	o := other.clinicians[0]
	m.spendsRaw(protocol.ErrUnauthorized, o, o.Emergency(gid, "unconscious", other.clinicians[1]))
	// By an admitted account that is no clinician, co-signed by a registered one.
	m.spendsRaw(protocol.ErrUnauthorized, doc, doc.Emergency(gid, "unconscious", b))
	// By a stranger: not admitted, not registered, refused before its sequence.
	stranger := protocoltest.NewAccount(testChain)
	stranger.Clock = m.clock
	m.fails(protocol.ErrNotAdmitted, stranger.Emergency(gid, "unconscious", b))
	// The organisation's key may not use its grant as an ordinary recipient.
	m.admit(protocol.TierMember, ed.org.Key)
	ed.org.Clock = m.clock
	m.spends(protocol.ErrUnauthorized, ed.org, &protocol.RequestAccess{Grant: gid, Purpose: "routine"})
	// A revoked pre-authorisation.
	m.ok(owner, &protocol.Revoke{Grant: gid})
	m.spendsRaw(protocol.ErrGrantRevoked, a, a.Emergency(gid, "unconscious", b))
}

// TestRegisterServiceRules: only a registry node registers; a re-registration replaces the
// roster, so a clinician removed from it is refused; keys stay with one service.
func TestRegisterServiceRules(t *testing.T) {
	m := newMachine(t, 0)
	owner := m.account()
	rec := m.put(owner)
	ed := m.registerService("City ED", 3)
	gid := m.preauthorise(owner, rec, ed)
	reg := func(name string, org *protocoltest.Account, cs ...*protocoltest.Account) *protocol.RegisterService {
		b := &protocol.RegisterService{Name: name, Org: org.Key, OrgEnc: org.Key}
		for _, c := range cs {
			b.Clinicians = append(b.Clinicians, protocol.Clinician{Key: c.Key, Name: "Dr " + c.Key.String()[:6]})
		}
		return b
	}
	a, b, c := ed.clinicians[0], ed.clinicians[1], ed.clinicians[2]
	m.spends(protocol.ErrUnauthorized, owner, reg("Owner's own", protocoltest.NewAccount(testChain), a, b))
	m.spends(protocol.ErrAlreadyExists, m.nodes[1], reg("City ED", protocoltest.NewAccount(testChain), a, b))
	m.spends(protocol.ErrAlreadyExists, m.nodes[1], reg("Elsewhere", ed.org, protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)))
	m.spends(protocol.ErrAlreadyExists, m.nodes[1], reg("Elsewhere", protocoltest.NewAccount(testChain), a, protocoltest.NewAccount(testChain)))
	m.spends(protocol.ErrInvalid, m.nodes[1], reg("Elsewhere", protocoltest.NewAccount(testChain), m.nodes[2], protocoltest.NewAccount(testChain)))

	// Another node's operator takes c off the roster: c may no longer ask or co-sign.
	m.ok(m.nodes[1], reg("City ED", ed.org, a, b))
	m.fails(protocol.ErrNotAdmitted, c.Emergency(gid, "unconscious", a))
	m.spendsRaw(protocol.ErrUnauthorized, a, a.Emergency(gid, "unconscious", c))
	if errs, _ := m.block(time.Second, b.Emergency(gid, "unconscious", a)); errs[0] != nil {
		t.Fatalf("a clinician still on the roster: %v", errs[0])
	}
}
