package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// TestExpiriesPerBlockBounded: a block expires at most MaxExpiriesPerBlock grants, earliest
// not-after first, and carries the rest over; a grant past its not-after and not yet marked
// expired is already refused by time.
func TestExpiriesPerBlockBounded(t *testing.T) {
	m := newMachine(t, 0)
	owner, bob := m.account(), m.account()
	rec := owner.RecordID()
	if errs, _ := m.block(time.Second, owner.Next(protocoltest.PutRecord("bafkrei-many-grants", 10))); errs[0] != nil {
		t.Fatal(errs[0])
	}
	const n = MaxExpiriesPerBlock*2 + 500
	notAfter := m.time + int64(time.Minute)
	var txs [][]byte
	first := owner.GrantID()
	for i := range n { // one not-after each, so that "earliest first" has one meaning
		txs = append(txs, owner.Next(protocoltest.Grant(rec, bob.Key, m.nodeKeys(), notAfter+int64(i))))
	}
	for i, err := range mustBlock(m, time.Second, txs...) {
		if err != nil {
			t.Fatalf("grant %d: %v", i, err)
		}
	}
	used := func() uint64 {
		a, err := account(m.store, owner.Key)
		if err != nil {
			t.Fatal(err)
		}
		return a.Usage.Grants
	}
	if used() != n {
		t.Fatalf("%d live grants counted, want %d", used(), n)
	}
	var total int
	last := protocol.GrantID(testChain, owner.Key, owner.Seq-1)
	for i, want := range []int{MaxExpiriesPerBlock, MaxExpiriesPerBlock, 500, 0} {
		var txs [][]byte
		if i == 1 { // the last grant, past its not-after, is not marked before block 3
			txs = append(txs, bob.Next(&protocol.RequestAccess{Grant: last, Purpose: "late"}))
		}
		errs, x := m.block(time.Minute, txs...)
		if len(x.Commit.Expired) != want {
			t.Fatalf("block %d after the not-after expired %d grants, want %d", i, len(x.Commit.Expired), want)
		}
		if i == 0 && x.Commit.Expired[0].Grant != first {
			t.Fatal("the first expiry is not the earliest grant")
		}
		if i == 1 && !errors.Is(errs[0], protocol.ErrGrantExpired) {
			t.Fatalf("a request on a grant past its not-after, not yet marked expired: %v", errs[0])
		}
		total += len(x.Commit.Expired)
	}
	if total != n || used() != 0 {
		t.Fatalf("%d expired, %d still counted live", total, used())
	}
}

func mustBlock(m *machine, step time.Duration, txs ...[]byte) []error {
	errs, _ := m.block(step, txs...)
	return errs
}

// TestAdmissionInCheckTx: an account that is not admitted is refused before its sequence
// (nothing is spent), and may enrol; an Admit by an account is refused; admission may move
// an account between tiers, keeping its usage.
func TestAdmissionInCheckTx(t *testing.T) {
	m := newMachine(t, 0)
	stranger := protocoltest.NewAccount(testChain)
	stranger.Clock = m.clock
	if err := m.checkTx(stranger.Sign(protocoltest.PutRecord("bafkrei-x", 1))); !errors.Is(err, protocol.ErrNotAdmitted) {
		t.Fatalf("a stranger's put in CheckTx: %v", err)
	}
	forged := stranger.Sign(protocoltest.PutRecord("bafkrei-x", 1))
	forged[len(forged)-1] ^= 1
	if err := m.checkTx(forged); !errors.Is(err, protocol.ErrNotAdmitted) {
		t.Fatalf("a stranger's forged put, refused before its signature is verified: %v", err)
	}
	errs, _ := m.block(time.Second, stranger.Next(protocoltest.PutRecord("bafkrei-x", 1)))
	if !errors.Is(errs[0], protocol.ErrNotAdmitted) {
		t.Fatalf("a stranger's put in a block: %v", errs[0])
	}
	if seq, _ := nextSequence(m.store, stranger.Key); seq != 0 {
		t.Fatalf("a refused stranger spent sequence %d", seq)
	}
	stranger.Seq = 0
	r, err := rules(m.store)
	if err != nil || r == nil || *r != testAdmission {
		t.Fatalf("admission rules from genesis: %+v, %v", r, err)
	}
	nonce, err := protocol.SolveEnrol(t.Context(), testChain, stranger.Key, int(r.EnrolBits))
	if err != nil {
		t.Fatal(err)
	}
	if errs, _ := m.block(time.Second, stranger.Next(&protocol.Enrol{Nonce: nonce}), stranger.Next(protocoltest.PutRecord("bafkrei-x", 1))); errs[0] != nil || errs[1] != nil {
		t.Fatalf("enrol then put: %v", errs)
	}
	a, _ := account(m.store, stranger.Key)
	if a.Tier != protocol.TierSelf || a.By != nil || a.Usage.Records != 1 {
		t.Fatalf("enrolled account %+v", a)
	}
	m.admit(protocol.TierMember, stranger.Key)
	if a, _ = account(m.store, stranger.Key); a.Tier != protocol.TierMember || a.By == nil || *a.By != m.nodes[0].Key || a.Usage.Records != 1 {
		t.Fatalf("promoted account %+v", a)
	}
	// a registry node's key is not an account, by Admit or by Enrol
	nd := m.nodes[1]
	if nonce, err = protocol.SolveEnrol(t.Context(), testChain, nd.Key, int(r.EnrolBits)); err != nil {
		t.Fatal(err)
	}
	if errs, _ := m.block(time.Second, nd.Next(&protocol.Enrol{Nonce: nonce})); !errors.Is(errs[0], protocol.ErrInvalid) {
		t.Fatalf("a registry node's key enrolled: %v", errs[0])
	}
	if a, _ := account(m.store, nd.Key); a != nil {
		t.Fatalf("a registry node's key is an account: %+v", a)
	}
}

// TestOpenNetwork: a genesis without admission rules admits every account, with no
// allowance, and has nothing to enrol.
func TestOpenNetwork(t *testing.T) {
	m := newMachine(t, 0)
	m.store.Apply([]Write{{Key: keyRules}}) // as if genesis had none
	a := protocoltest.NewAccount(testChain)
	a.Clock = m.clock
	errs, _ := m.block(time.Second, a.Next(protocoltest.PutRecord("bafkrei-open", 1<<40)), a.Next(&protocol.Enrol{}))
	if errs[0] != nil || !errors.Is(errs[1], protocol.ErrInvalid) {
		t.Fatalf("put and enrol on an open network: %v", errs)
	}
	snap := NewSnapshot(m.store, nil, testChain, m.height, m.time, m.appHash)
	if _, err := snap.Query("/admission"); !errors.Is(err, protocol.ErrNotFound) {
		t.Fatalf("/admission on an open network: %v", err)
	}
}
