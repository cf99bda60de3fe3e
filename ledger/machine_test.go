package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// These tests run the state machine through its entry points (Genesis, Execute, Mempool)
// over an in-memory store: no network, no disk.

const testChain = "rr-test"

var testT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// machine is a chain in memory: committed state, height, block time and app hash.
type machine struct {
	t       testing.TB
	store   *MemStore
	nodes   []*protocoltest.Account // the registry's nodes; they sign HoldsBlob with their proxy keys
	reg     Registry
	height  int64
	time    int64
	state   *StateHash
	appHash []byte
}

// newMachine starts a chain whose genesis registry has 4 nodes and the given replication
// factor.
func newMachine(t testing.TB, replication int) *machine {
	t.Helper()
	return newMachineN(t, 4, replication)
}

// testAdmission are the default rules with less work per enrolment.
var testAdmission = func() protocol.AdmissionRules {
	r := protocol.DefaultAdmission
	r.EnrolBits = 12
	return r
}()

// newMachineN starts a chain whose genesis registry has n nodes, with testAdmission.
func newMachineN(t testing.TB, n, replication int) *machine {
	t.Helper()
	m := &machine{t: t, store: NewMemStore(), time: testT0.UnixNano()}
	for range n {
		m.nodes = append(m.nodes, m.account())
	}
	gs := GenesisState{Replication: replication, Admission: &testAdmission}
	for i, n := range m.nodes {
		gs.Nodes = append(gs.Nodes, protocol.Node{Name: fmt.Sprintf("node%d", i), API: fmt.Sprintf("http://127.0.0.1:%d", 26680+i),
			ProxyKey: n.Key, ValidatorKey: make([]byte, 32), Power: 10})
	}
	b, err := json.Marshal(gs)
	if err != nil {
		t.Fatal(err)
	}
	ws, hash, err := Genesis(b)
	if err != nil {
		t.Fatal(err)
	}
	m.store.Apply(ws)
	m.state, m.appHash = hash, hash.AppHash()
	if m.reg, err = LoadRegistry(m.store); err != nil || len(m.reg) != n {
		t.Fatalf("registry: %v, %v", m.reg, err)
	}
	return m
}

// account makes an account whose transactions expire protocoltest.Lifetime after the last
// block's time (the block clock, not the wall clock).
// Once the chain has started, the account is admitted (a member) in a block of its own.
func (m *machine) account() *protocoltest.Account {
	a := protocoltest.NewAccount(testChain)
	a.Clock = m.clock
	if m.reg != nil {
		m.admit(protocol.TierMember, a.Key)
	}
	return a
}

// admit admits keys on tier in a block of node 0's.
func (m *machine) admit(tier uint8, keys ...protocol.PubKey) {
	m.t.Helper()
	if errs, _ := m.block(time.Millisecond, m.nodes[0].Next(&protocol.Admit{Tier: tier, Accounts: keys})); errs[0] != nil {
		m.t.Fatalf("admit: %v", errs[0])
	}
}

// clock is the time of the last block.
func (m *machine) clock() time.Time { return time.Unix(0, m.time) }

func (m *machine) nodeKeys() []protocol.PubKey { return protocoltest.Keys(m.nodes) }

// block executes txs as the next block, step after the previous one, and commits it. It
// returns each transaction's refusal as a client sees it (rebuilt from the result code and
// log; nil for success) and what the block did.
func (m *machine) block(step time.Duration, txs ...[]byte) ([]error, *Executed) {
	m.t.Helper()
	m.height++
	m.time += int64(step)
	x, err := Execute(m.store, testChain, m.reg, m.state, Block{Height: m.height, Time: m.time, Txs: txs}, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	if len(x.Results) != len(txs) || x.Commit.Height != m.height || x.Commit.Time != m.time || string(x.Commit.AppHash) != string(x.AppHash) {
		m.t.Fatalf("block %d: %d results for %d txs, commit info %+v", m.height, len(x.Results), len(txs), x.Commit)
	}
	m.store.Apply(x.Writes)
	m.state, m.appHash = x.State, x.AppHash
	return resultErrors(x.Results), x
}

func resultErrors(rs []TxOutcome) []error {
	errs := make([]error, len(rs))
	for i, r := range rs {
		if r.Code != 0 {
			errs[i] = protocol.LedgerError(r.Code, r.Log)
		}
	}
	return errs
}

// ok commits body signed by a and advances a's sequence.
func (m *machine) ok(a *protocoltest.Account, body protocol.Body) *Executed {
	m.t.Helper()
	errs, x := m.block(time.Second, a.Sign(body))
	if errs[0] != nil {
		m.t.Fatalf("%s: %v", body.Type(), errs[0])
	}
	a.Seq++
	return x
}

// fails runs raw as a block of its own and wants it refused with want before its signature
// and sequence checked out (it does not parse, is statelessly invalid, is for another chain,
// has a bad signature or the wrong sequence): it changes nothing but the expiries the
// block's time brings.
func (m *machine) fails(want error, raw []byte) {
	m.t.Helper()
	prev := m.appHash
	errs, x := m.block(time.Second, raw)
	if !errors.Is(errs[0], want) {
		m.t.Fatalf("got %v, want %v", errs[0], want)
	}
	if len(x.Commit.Expired) == 0 && len(x.Writes) != 0 {
		m.t.Fatalf("a refused transaction wrote %d keys", len(x.Writes))
	}
	if len(x.Writes) == 0 && string(x.AppHash) != string(prev) {
		m.t.Fatal("a block without writes changed the app hash")
	}
}

// spends signs body by a, runs it as a block of its own and wants it refused with want
// after its signature and sequence checked out: the block spends a's sequence (a.Seq
// advances) and writes nothing else but the expiries the block's time brings.
func (m *machine) spends(want error, a *protocoltest.Account, body protocol.Body) {
	m.t.Helper()
	m.spendsRaw(want, a, a.Sign(body))
}

// spendsRaw is spends for a transaction of a's already signed at a.Seq.
func (m *machine) spendsRaw(want error, a *protocoltest.Account, raw []byte) {
	m.t.Helper()
	errs, x := m.block(time.Second, raw)
	if !errors.Is(errs[0], want) {
		m.t.Fatalf("got %v, want %v", errs[0], want)
	}
	a.Seq++
	m.onlySequence(x, a)
}

// onlySequence checks that block x wrote a's next sequence, a.Seq, and nothing else but
// what expiries write.
func (m *machine) onlySequence(x *Executed, a *protocoltest.Account) {
	m.t.Helper()
	ak, wrote := key(pAccount, a.Key[:]), false
	for _, w := range x.Writes {
		switch {
		case bytes.Equal(w.Key, ak):
			if !bytes.Equal(w.Value, u64b(a.Seq)) {
				m.t.Fatalf("sequence written as %x, want %d", w.Value, a.Seq)
			}
			wrote = true
		case len(x.Commit.Expired) == 0:
			m.t.Fatalf("a refused transaction wrote %q besides its sequence", w.Key)
		}
	}
	if !wrote {
		m.t.Fatal("a transaction refused after its sequence checked out did not spend it")
	}
}

func (m *machine) grantBody(rec protocol.ID, to *protocoltest.Account, notAfter int64) *protocol.Grant {
	g := protocoltest.Grant(rec, to.Key, m.nodeKeys(), notAfter)
	g.Purpose = "care"
	return g
}

func (m *machine) put(owner *protocoltest.Account) protocol.ID {
	m.t.Helper()
	id := owner.RecordID()
	x := m.ok(owner, protocoltest.PutRecord("bafy-test", 10))
	if !slices.Equal(x.Commit.Put, []protocol.ID{id}) {
		m.t.Fatalf("commit info puts %v, want %s", x.Commit.Put, id)
	}
	return id
}

func (m *machine) snapshot() *Snapshot {
	return NewSnapshot(m.store.Clone(), nil, testChain, m.height, m.time, m.appHash)
}

// signedFor signs body as a on another chain.
func signedFor(t testing.TB, a *protocoltest.Account, chain string, body protocol.Body) []byte {
	raw, err := protocol.Sealed(a.Signer, chain, a.Seq, a.Clock().Add(protocoltest.Lifetime), body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func auditKinds(t testing.TB, s *Snapshot, rec protocol.ID) []string {
	t.Helper()
	log, err := s.Audit(rec, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range log.Items {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func TestMachineFlow(t *testing.T) {
	m := newMachine(t, 0)
	owner, doc, stranger := m.account(), m.account(), m.account()
	rec := m.put(owner)

	gid := owner.GrantID()
	m.ok(owner, m.grantBody(rec, doc, 0))
	g, err := m.snapshot().Grant(gid)
	if err != nil || g.Threshold != 3 || len(g.Nodes) != 4 || g.Owner != owner.Key || g.Record != rec {
		t.Fatalf("grant %+v, %v", g, err) // threshold 0 of 4 nodes is stored as the default, 3
	}
	m.ok(doc, &protocol.RequestAccess{Grant: gid, Purpose: "consult"})

	// Authorisation failures: the signer's sequence is spent.
	m.spends(protocol.ErrUnauthorized, stranger, m.grantBody(rec, stranger, 0))
	m.spends(protocol.ErrUnauthorized, stranger, &protocol.Revoke{Grant: gid})
	m.spends(protocol.ErrUnauthorized, owner, &protocol.RequestAccess{Grant: gid})
	// Failures before the signature and the sequence check out spend nothing.
	m.fails(protocol.ErrWrongChain, signedFor(t, doc, "other-chain", &protocol.RequestAccess{Grant: gid}))
	replay := doc.Next(&protocol.RequestAccess{Grant: gid})
	if errs, _ := m.block(time.Second, replay); errs[0] != nil {
		t.Fatal(errs[0])
	}
	m.fails(protocol.ErrBadSequence, replay)
	m.fails(protocol.ErrBadSequence, doc.SignAt(doc.Seq+1, &protocol.RequestAccess{Grant: gid}))
	bad := doc.Sign(&protocol.RequestAccess{Grant: gid})
	bad[len(bad)-1] ^= 1
	m.fails(protocol.ErrBadSignature, bad)
	// The sequence is read before the signature is verified: a forged replay costs a lookup.
	forged := doc.SignAt(doc.Seq-1, &protocol.RequestAccess{Grant: gid})
	forged[len(forged)-1] ^= 1
	m.fails(protocol.ErrBadSequence, forged)
	m.spends(protocol.ErrNotFound, owner, &protocol.Revoke{Grant: protocol.ID{9}})
	m.spends(protocol.ErrNotFound, doc, &protocol.RequestAccess{Grant: protocol.ID{9}})
	m.fails(protocol.ErrMalformed, []byte{1})

	revoked := m.ok(owner, &protocol.Revoke{Grant: gid})
	if !slices.Equal(revoked.Commit.Revoked, []protocol.ID{gid}) {
		t.Fatalf("commit info revoked %v", revoked.Commit.Revoked)
	}
	m.spends(protocol.ErrGrantRevoked, doc, &protocol.RequestAccess{Grant: gid})
	m.spends(protocol.ErrGrantRevoked, owner, &protocol.Revoke{Grant: gid})

	want := []string{protocol.AuditPut, protocol.AuditGrant, protocol.AuditRequest, protocol.AuditRequest, protocol.AuditRevoke}
	if kinds := auditKinds(t, m.snapshot(), rec); !slices.Equal(kinds, want) {
		t.Fatalf("audit kinds %v, want %v", kinds, want)
	}
	// Every transaction that got past its signature and sequence spent one: owner's put,
	// grant and revoke, and three refusals; doc's two requests and two refusals; stranger's
	// two refusals.
	s := m.snapshot()
	for a, seq := range map[*protocoltest.Account]uint64{owner: 6, doc: 4, stranger: 2} {
		if got, err := s.Sequence(a.Key); err != nil || got != seq || a.Seq != seq {
			t.Errorf("sequence %d (account says %d), want %d: %v", got, a.Seq, seq, err)
		}
	}
}

// TestMachineEvents checks the events of a success and a failure (SPEC.md §8).
func TestMachineEvents(t *testing.T) {
	m := newMachine(t, 0)
	owner, doc := m.account(), m.account()
	rec := m.put(owner)
	gid := owner.GrantID()
	grant := owner.Next(m.grantBody(rec, doc, 0))
	dup := owner.SignAt(0, protoPut())
	_, x := m.block(time.Second, grant, dup)
	hash := protocol.TxHash(grant)
	want := []Attr{
		{Key: AttrTxHash, Value: fmt.Sprintf("%X", hash[:]), Index: true},
		{Key: AttrResultCode, Value: "0"},
		{Key: AttrType, Value: "grant", Index: true},
		{Key: AttrSigner, Value: owner.Key.String(), Index: true},
		{Key: AttrRecord, Value: rec.String(), Index: true},
		{Key: AttrGrant, Value: gid.String(), Index: true},
	}
	if r := x.Results[0]; r.Code != 0 || r.Log != "" || len(r.Events) != 1 || r.Events[0].Type != EventTx || !slices.Equal(r.Events[0].Attrs, want) {
		t.Fatalf("grant outcome %+v", r)
	}
	dh := protocol.TxHash(dup)
	if r := x.Results[1]; r.Code != protocol.ErrBadSequence.LedgerCode || r.Log == "" || len(r.Events) != 1 ||
		!slices.Equal(r.Events[0].Attrs, []Attr{{Key: AttrTxHash, Value: fmt.Sprintf("%X", dh[:]), Index: true}, {Key: AttrResultCode, Value: "6"}}) {
		t.Fatalf("refused outcome %+v", r)
	}
	if len(x.Events) != 0 {
		t.Fatalf("block events without expiries: %+v", x.Events)
	}
}

func protoPut() *protocol.PutRecord { return protocoltest.PutRecord("bafy-test", 10) }

func TestMachineExpiry(t *testing.T) {
	m := newMachine(t, 0)
	owner, doc := m.account(), m.account()
	rec := m.put(owner)
	notBefore := m.time + int64(5*time.Second)
	gid := owner.GrantID()
	body := m.grantBody(rec, doc, m.time+int64(10*time.Second))
	body.NotBefore = notBefore
	m.ok(owner, body) // time +1s
	m.spends(protocol.ErrNotYetValid, doc, &protocol.RequestAccess{Grant: gid})
	if errs, _ := m.block(3*time.Second, doc.Next(&protocol.RequestAccess{Grant: gid})); errs[0] != nil {
		t.Fatal(errs[0]) // +5s: inside the window
	}
	if _, err := m.snapshot().LiveGrant(gid); err != nil {
		t.Fatalf("live grant: %v", err)
	}
	_, x := m.block(10 * time.Second)
	if exp := x.Commit.Expired; len(exp) != 1 || exp[0].Grant != gid || exp[0].Record != rec {
		t.Fatalf("expiries %v", exp)
	}
	wantEvent := Event{Type: EventExpire, Attrs: []Attr{{Key: AttrGrant, Value: gid.String(), Index: true}, {Key: AttrRecord, Value: rec.String(), Index: true}}}
	if len(x.Events) != 1 || x.Events[0].Type != wantEvent.Type || !slices.Equal(x.Events[0].Attrs, wantEvent.Attrs) {
		t.Fatalf("expiry events %+v", x.Events)
	}
	g, err := m.snapshot().Grant(gid)
	if err != nil || !g.Expired || g.ExpiredHeight != m.height || g.Revoked {
		t.Fatalf("expired grant %+v, %v", g, err)
	}
	m.spends(protocol.ErrGrantExpired, doc, &protocol.RequestAccess{Grant: gid})
	if _, x := m.block(time.Second); len(x.Commit.Expired) != 0 || len(x.Events) != 0 {
		t.Fatalf("grant expired twice: %v", x.Commit.Expired)
	}
	// A grant whose window is already over is refused.
	m.spends(protocol.ErrGrantExpired, owner, m.grantBody(rec, doc, m.time+int64(time.Second)))
	m.spends(protocol.ErrGrantExpired, owner, m.grantBody(rec, doc, m.time))
	// Revoking an expired grant is allowed and logged; it does not expire again.
	m.ok(owner, &protocol.Revoke{Grant: gid})
	want := []string{protocol.AuditPut, protocol.AuditGrant, protocol.AuditRequest, protocol.AuditExpire, protocol.AuditRevoke}
	if kinds := auditKinds(t, m.snapshot(), rec); !slices.Equal(kinds, want) {
		t.Fatalf("audit kinds %v, want %v", kinds, want)
	}
}

// TestRevokeLeavesExpiryIndex: a revoked grant does not expire later.
func TestRevokeLeavesExpiryIndex(t *testing.T) {
	m := newMachine(t, 0)
	owner, doc := m.account(), m.account()
	rec := m.put(owner)
	gid := owner.GrantID()
	m.ok(owner, m.grantBody(rec, doc, m.time+int64(5*time.Second)))
	m.ok(owner, &protocol.Revoke{Grant: gid})
	if _, x := m.block(time.Minute); len(x.Commit.Expired) != 0 || len(x.Writes) != 0 {
		t.Fatalf("a revoked grant expired: %+v", x.Commit)
	}
}

func TestMachineRejectsBadGrants(t *testing.T) {
	m := newMachine(t, 0)
	owner, doc := m.account(), m.account()
	rec := m.put(owner)
	g := m.grantBody(rec, doc, 0)
	g.Nodes[0].Proxy = doc.Key
	m.spends(protocol.ErrUnknownNode, owner, g)
	// Statelessly invalid: refused before the sequence.
	g = m.grantBody(rec, doc, 0)
	g.Threshold = 5
	m.fails(protocol.ErrInvalid, owner.Sign(g))
	g = m.grantBody(rec, doc, 0)
	g.Nodes[1] = g.Nodes[0]
	m.fails(protocol.ErrInvalid, owner.Sign(g))
	m.spends(protocol.ErrNotFound, owner, m.grantBody(protocol.ID{7}, doc, 0))
	// A grant on fewer nodes than the registry has, with an explicit threshold, is fine as
	// long as it tolerates f = 1 of the 4: 2 of 3 nodes, not 2 of 2 (that is the ledger's
	// refusal, so it spends the sequence).
	g = m.grantBody(rec, doc, 0)
	g.Nodes, g.Threshold = g.Nodes[:2], 2
	m.spends(protocol.ErrInvalid, owner, g)
	g = m.grantBody(rec, doc, 0)
	g.Nodes, g.Threshold = g.Nodes[:3], 2
	gid := owner.GrantID()
	m.ok(owner, g)
	if st, err := m.snapshot().Grant(gid); err != nil || st.Threshold != 2 || len(st.Nodes) != 3 {
		t.Fatalf("grant %+v, %v", st, err)
	}
}

// TestExecuteDeterministic: the same block over the same state gives the same writes,
// results and app hash, and Execute does not touch the store it reads.
func TestExecuteDeterministic(t *testing.T) {
	m := newMachine(t, 2)
	owner, doc := m.account(), m.account()
	rec := owner.RecordID()
	txs := [][]byte{
		owner.Next(protoPut()),
		owner.Next(m.grantBody(rec, doc, m.time+int64(time.Hour))),
		owner.Next(m.grantBody(rec, doc, 0)),
		doc.Next(&protocol.RequestAccess{Grant: protocol.GrantID(testChain, owner.Key, 1), Purpose: "x"}),
		owner.Next(&protocol.EraseRecord{Record: rec}),
		[]byte("junk"),
	}
	before := m.store.Clone()
	b := Block{Height: 1, Time: m.time + 1, Txs: txs}
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
	if string(j1) != string(j2) {
		t.Fatalf("two executions differ:\n%s\n%s", j1, j2)
	}
	for i, r := range x1.Results {
		if (i < 5) != (r.Code == 0) {
			t.Errorf("tx %d: code %d %s", i, r.Code, r.Log)
		}
	}
	if len(m.store.m) != len(before.m) {
		t.Fatal("Execute wrote to the committed store")
	}
	for i := 1; i < len(x1.Writes); i++ {
		if string(x1.Writes[i-1].Key) >= string(x1.Writes[i].Key) {
			t.Fatal("writes are not in strictly ascending key order")
		}
	}
}
