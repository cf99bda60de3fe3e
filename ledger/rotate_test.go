package ledger

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// fresh is an identity the ledger has never seen: not admitted, no transaction.
func (m *machine) fresh() *protocoltest.Account {
	a := protocoltest.NewAccount(testChain)
	a.Clock = m.clock
	return a
}

// rotate commits old's rotation onto a fresh identity and returns it.
func (m *machine) rotate(old *protocoltest.Account) *protocoltest.Account {
	m.t.Helper()
	next := m.fresh()
	errs, _ := m.block(time.Second, old.Rotate(next))
	if errs[0] != nil {
		m.t.Fatalf("rotate: %v", errs[0])
	}
	return next
}

// TestRotateRetires: after a Rotate, every transaction of the old key is refused key_retired
// in a block and in CheckTx, before its signature, spending nothing; the successor inherits
// the account (tier and usage) and transacts without enrolling.
func TestRotateRetires(t *testing.T) {
	m := newMachine(t, 0)
	alice, bob := m.account(), m.account()
	rec := m.put(alice)
	m.ok(alice, m.grantBody(rec, bob, 0))
	before, _ := account(m.store, alice.Key)

	next := m.rotate(alice)
	r, err := m.snapshot().Retirement(alice.Key)
	if err != nil || r == nil || r.Successor != next.Key || r.SuccessorEnc != next.Key || r.Height != m.height {
		t.Fatalf("retirement %+v, %v", r, err)
	}
	if p, err := m.snapshot().Predecessor(next.Key); err != nil || p == nil || p.Old != alice.Key {
		t.Fatalf("predecessor of the successor: %+v, %v", p, err)
	}
	if a, _ := account(m.store, alice.Key); a != nil {
		t.Fatalf("the retired key is still an account: %+v", a)
	}
	a, _ := account(m.store, next.Key)
	if a == nil || a.Tier != before.Tier || a.Usage != before.Usage {
		t.Fatalf("successor's account %+v, predecessor had %+v", a, before)
	}

	for name, body := range map[string]protocol.Body{
		"put":    protocoltest.PutRecord("bafy-after", 10),
		"revoke": &protocol.Revoke{Grant: protocol.GrantID(testChain, alice.Key, 1)},
		"erase":  &protocol.EraseRecord{Record: rec},
		"rotate": must(protocol.NewRotate(m.fresh().Signer, next.Key, testChain, alice.Key)),
	} {
		raw := alice.Sign(body)
		if err := m.checkTx(raw); !errors.Is(err, protocol.ErrKeyRetired) {
			t.Errorf("%s by the retired key in CheckTx: %v", name, err)
		}
		m.fails(protocol.ErrKeyRetired, raw)
	}
	forged := alice.Sign(protoPut())
	forged[len(forged)-1] ^= 1
	m.fails(protocol.ErrKeyRetired, forged)
	if seq, _ := nextSequence(m.store, alice.Key); seq != alice.Seq {
		t.Fatalf("refused transactions of the retired key spent its sequence: %d, want %d", seq, alice.Seq)
	}
	// The successor is admitted through the inheritance: its first transaction needs no Enrol.
	m.ok(next, protocoltest.PutRecord("bafy-resealed", 10))
	if a, _ := account(m.store, next.Key); a.Usage.Records != before.Usage.Records+1 {
		t.Fatalf("successor's usage after a put: %+v", a.Usage)
	}
}

// TestRotateRefused: a proof by another key, a proof for another key, a successor that is
// the signer, a registry node, already transacted, already admitted, already a successor
// or itself retired: each refused, spending only the signer's sequence.
func TestRotateRefused(t *testing.T) {
	m := newMachine(t, 0)
	alice, carol, used := m.account(), m.account(), m.account()
	m.put(used)
	next := m.fresh()
	body := func(successor *protocoltest.Account) *protocol.Rotate {
		return must(protocol.NewRotate(successor.Signer, successor.Key, testChain, alice.Key))
	}
	stolen := body(next)
	stolen.Successor = m.fresh().Key // a proof by next, naming a key whose holder never consented
	m.spends(protocol.ErrBadSignature, alice, stolen)
	forCarol := must(protocol.NewRotate(next.Signer, next.Key, testChain, carol.Key))
	m.spends(protocol.ErrBadSignature, alice, forCarol)
	m.spends(protocol.ErrInvalid, alice, body(alice))
	m.spends(protocol.ErrInvalid, alice, must(protocol.NewRotate(m.nodes[1].Signer, next.Key, testChain, alice.Key)))
	m.spends(protocol.ErrAlreadyExists, alice, body(used))
	admitted := m.account()
	m.spends(protocol.ErrAlreadyExists, alice, body(admitted))
	taken := m.rotate(carol)
	m.spends(protocol.ErrAlreadyExists, alice, body(taken))
	m.spends(protocol.ErrInvalid, alice, body(carol)) // retired: its Rotate above
	// A registry node's key does not rotate by a transaction.
	node := m.nodes[2]
	errs, _ := m.block(time.Second, node.Next(must(protocol.NewRotate(next.Signer, next.Key, testChain, node.Key))))
	if !errors.Is(errs[0], protocol.ErrUnauthorized) {
		t.Fatalf("a node's rotation: %v", errs[0])
	}
	if r, _ := m.snapshot().Retirement(alice.Key); r != nil {
		t.Fatalf("a refused rotation retired the key: %+v", r)
	}
	m.rotate(alice) // still possible with a good successor
}

// TestSuccessorManagesOldRecords: the successor revokes the old key's grants and erases its
// records (its grants end, the usage it freed is the successor's), logged as the
// successor's for the old owner; a stranger may not; and a second rotation still reaches
// the first key's records.
func TestSuccessorManagesOldRecords(t *testing.T) {
	m := newMachine(t, 0)
	alice, bob, eve := m.account(), m.account(), m.account()
	r1, r2 := m.put(alice), m.put(alice)
	g1 := alice.GrantID()
	m.ok(alice, m.grantBody(r1, bob, 0))
	g2 := alice.GrantID()
	m.ok(alice, m.grantBody(r2, bob, 0))
	carerID := m.delegate(alice, m.account(), protocol.RightRevoke, time.Hour)
	next := m.rotate(alice)

	m.spends(protocol.ErrUnauthorized, eve, &protocol.Revoke{Grant: g1})
	// The caregiver alice left is ended by her successor: the retired key cannot sign it.
	m.ok(next, &protocol.EndDelegation{Delegation: carerID})
	if d, err := m.snapshot().Delegation(carerID); err != nil || !d.Ended || *d.EndedBy != next.Key {
		t.Fatalf("delegation after the successor ended it: %+v, %v", d, err)
	}
	m.spends(protocol.ErrUnauthorized, eve, &protocol.EraseRecord{Record: r1})

	m.ok(next, &protocol.Revoke{Grant: g1})
	if e := m.lastEntry(r1); e.Kind != protocol.AuditRevoke || *e.Actor != next.Key || e.For == nil || *e.For != alice.Key {
		t.Fatalf("audit of the successor's revoke: %+v", e)
	}
	x := m.ok(next, &protocol.EraseRecord{Record: r1})
	if len(x.Commit.Erased) != 1 || x.Commit.Erased[0].Record != r1 {
		t.Fatalf("erasure commit info %+v", x.Commit.Erased)
	}
	if e := m.lastEntry(r1); e.Kind != protocol.AuditErase || *e.Actor != next.Key || *e.For != alice.Key {
		t.Fatalf("audit of the successor's erase: %+v", e)
	}
	a, _ := account(m.store, next.Key)
	if a.Usage.Records != 1 || a.Usage.Grants != 1 || a.Usage.Bytes != 10 {
		t.Fatalf("successor's usage after one revoke and one erase: %+v", a.Usage)
	}

	// A second rotation: the newest identity still manages the first key's records.
	third := m.rotate(next)
	m.fails(protocol.ErrKeyRetired, next.Sign(protoPut()))
	x = m.ok(third, &protocol.EraseRecord{Record: r2})
	if len(x.Commit.Revoked) != 1 || x.Commit.Revoked[0] != g2 {
		t.Fatalf("erasing r2 revoked %v, want its grant", x.Commit.Revoked)
	}
	if a, _ := account(m.store, third.Key); a.Usage != (protocol.Allowance{}) {
		t.Fatalf("usage after every old record is erased: %+v", a.Usage)
	}
}

// TestRotateDeterministic: a block that rotates, uses the retired key and erases by the
// successor executes to the same writes, results and app hash twice, checked or not.
func TestRotateDeterministic(t *testing.T) {
	m := newMachine(t, 0)
	alice, bob := m.account(), m.account()
	rec := m.put(alice)
	next := m.fresh()
	txs := [][]byte{
		alice.Next(m.grantBody(rec, bob, 0)),
		alice.Rotate(next),
		alice.Next(protoPut()),
		next.Next(&protocol.EraseRecord{Record: rec}),
	}
	before := m.store.Clone()
	b := Block{Height: m.height + 1, Time: m.time + 1, Txs: txs}
	x1, err := Execute(m.store, testChain, m.reg, m.state, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	x2, err := Execute(before, testChain, m.reg, m.state, b, func(protocol.Hash32) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	j1, _ := json.Marshal(x1)
	j2, _ := json.Marshal(x2)
	if string(j1) != string(j2) || string(x1.AppHash) != string(x2.AppHash) {
		t.Fatalf("two executions differ:\n%s\n%s", j1, j2)
	}
	want := []uint32{0, 0, protocol.ErrKeyRetired.LedgerCode, 0}
	for i, r := range x1.Results {
		if r.Code != want[i] {
			t.Errorf("tx %d: code %d %s, want %d", i, r.Code, r.Log, want[i])
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
