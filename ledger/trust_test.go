package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// The rules for "no single node is trusted": grants must tolerate f = ⌊(N−1)/3⌋ faulty
// nodes of the registry, transactions expire and spend their sequence in a block whatever
// their outcome, grant nodes report the destruction of their fragments once a grant ended,
// and committed access requests are found by their transaction hash.

// checkTx runs raw through a fresh mempool view of the committed state under the next
// block's rules (block time: the last block's).
func (m *machine) checkTx(raw []byte) error {
	return NewMempool(m.store).Check(m.nextContext(), raw, false)
}

func (m *machine) nextContext() BlockContext {
	return BlockContext{ChainID: testChain, Height: m.height + 1, Time: m.time, Nodes: m.reg}
}

// sealedAt signs body by a at its sequence with an explicit expiry (unix ns, any value:
// Sealed would refuse none, but a time.Time cannot say 0 or −1).
func sealedAt(t testing.TB, a *protocoltest.Account, expires int64, body protocol.Body) []byte {
	t.Helper()
	tx := &protocol.Tx{ChainID: a.Chain, Sequence: a.Seq, Expires: expires, Body: body}
	if err := tx.Sign(a.Signer); err != nil {
		t.Fatal(err)
	}
	return tx.Encode()
}

// TestGrantThresholds: on a registry of N nodes (f = ⌊(N−1)/3⌋) a grant needs threshold
// t > f and n ≥ t + f nodes; the edges for N = 1, 4 and 7. Refusals are the ledger's
// (invalid), in CheckTx and in a block, where they spend the sequence.
func TestGrantThresholds(t *testing.T) {
	for _, c := range []struct{ n, f int }{{1, 0}, {4, 1}, {7, 2}} {
		t.Run(fmt.Sprintf("N=%d", c.n), func(t *testing.T) {
			m := newMachineN(t, c.n, 0)
			owner, doc := m.account(), m.account()
			rec := m.put(owner)
			grant := func(nodes, threshold int) *protocol.Grant {
				g := protocoltest.Grant(rec, doc.Key, m.nodeKeys()[:nodes], 0)
				g.Threshold = uint8(threshold)
				return g
			}
			refused := func(nodes, threshold int) {
				t.Helper()
				g := grant(nodes, threshold)
				if err := m.checkTx(owner.Sign(g)); !errors.Is(err, protocol.ErrInvalid) {
					t.Fatalf("CheckTx of %d of %d nodes: %v", threshold, nodes, err)
				}
				m.spends(protocol.ErrInvalid, owner, g)
			}
			accepted := func(nodes, threshold, stored int) {
				t.Helper()
				gid := owner.GrantID()
				m.ok(owner, grant(nodes, threshold))
				if g, err := m.snapshot().Grant(gid); err != nil || g.Threshold != stored || len(g.Nodes) != nodes {
					t.Fatalf("grant of %d of %d nodes: %+v, %v", threshold, nodes, g, err)
				}
			}
			f := c.f
			if f > 0 { // t = f: f nodes could re-encrypt on their own (for N = 1, t = 0 means the default)
				refused(c.n, f)
				refused(2*f+1, f)
				// n = t + f − 1: f failing nodes would leave fewer than t.
				refused(2*f, f+1)
				// The default threshold (n − f) of 2f nodes is f: refused too.
				refused(2*f, 0)
			}
			// t = f + 1 on n = t + f nodes: the least that is accepted.
			accepted(2*f+1, f+1, f+1)
			// The default threshold on every node is N − f (2f+1 of 3f+1).
			accepted(c.n, 0, c.n-f)
			// Nothing refused left a trace but the spent sequences.
			if p, err := m.snapshot().GrantsOf(rec, 0, 0); err != nil || len(p.Items) != 2 {
				t.Fatalf("grants %+v, %v", p, err)
			}
		})
	}
}

// TestGenesisReplicationTolerance: the replication factor is 0 (every node) or f+1..N.
func TestGenesisReplicationTolerance(t *testing.T) {
	for _, c := range []struct {
		nodes, replication int
		ok                 bool
	}{
		{1, 0, true}, {1, 1, true}, {1, 2, false},
		{4, 0, true}, {4, 1, false}, {4, 2, true}, {4, 4, true}, {4, 5, false},
		{7, 2, false}, {7, 3, true}, {7, 7, true}, {7, -1, false},
	} {
		_, _, err := Genesis(genesisJSON(t, registryOf(c.nodes), c.replication))
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, protocol.ErrInvalid)) {
			t.Errorf("replication %d of %d nodes: %v, want ok %v", c.replication, c.nodes, err, c.ok)
		}
	}
	m := newMachine(t, 2)
	if k, err := m.snapshot().Replication(); err != nil || k != 2 {
		t.Fatalf("replication %d, %v", k, err)
	}
}

// TestTxExpires: a transaction is valid in a block whose time is at most its Expires, and
// Expires may lie at most MaxTxLifetime after the block time.
func TestTxExpires(t *testing.T) {
	m := newMachine(t, 0)
	a := m.account()
	rec := m.put(a)
	body := func() protocol.Body { return &protocol.Revoke{Grant: protocol.ID{9}} } // not_found once it runs
	next := func() int64 { return m.time + int64(time.Second) }                     // the time of the next m.block

	// Zero and negative expiries are stateless refusals: nothing is spent, in CheckTx or
	// in a block.
	for _, exp := range []int64{0, -1, math.MinInt64} {
		raw := sealedAt(t, a, exp, body())
		if err := m.checkTx(raw); !errors.Is(err, protocol.ErrInvalid) {
			t.Fatalf("CheckTx, expires %d: %v", exp, err)
		}
		m.fails(protocol.ErrInvalid, raw)
	}

	// Past: tx_expired, and the sequence is spent.
	expired := sealedAt(t, a, next()-1, body())
	errs, x := m.block(time.Second, expired)
	if !errors.Is(errs[0], protocol.ErrTxExpired) || x.Results[0].Code != 17 || !strings.Contains(x.Results[0].Log, "expired at") {
		t.Fatalf("expired one nanosecond ago: %v, %+v", errs[0], x.Results[0])
	}
	a.Seq++
	m.onlySequence(x, a)
	// Its bytes cannot come back, and the next sequence works.
	m.fails(protocol.ErrBadSequence, expired)
	m.ok(a, m.grantBody(rec, a, 0))

	// Expiring exactly at the block time is still in time.
	errs, _ = m.block(time.Second, sealedAt(t, a, next(), &protocol.HoldsBlob{Record: rec}))
	if !errors.Is(errs[0], protocol.ErrUnknownNode) { // the handler ran: a is no node
		t.Fatalf("expires at the block time: %v", errs[0])
	}
	a.Seq++

	// Too far ahead: invalid, and the sequence is spent too.
	m.spendsRaw(protocol.ErrInvalid, a, sealedAt(t, a, next()+int64(protocol.MaxTxLifetime)+1, body()))
	m.spendsRaw(protocol.ErrInvalid, a, sealedAt(t, a, math.MaxInt64, body()))
	// Exactly MaxTxLifetime ahead is accepted.
	gid := a.GrantID()
	if errs, _ := m.block(time.Second, sealedAt(t, a, next()+int64(protocol.MaxTxLifetime), m.grantBody(rec, a, 0))); errs[0] != nil {
		t.Fatalf("expires MaxTxLifetime after the block time: %v", errs[0])
	}
	a.Seq++
	if _, err := m.snapshot().Grant(gid); err != nil {
		t.Fatal(err)
	}

	// CheckTx runs under the last block's time, and keeps nothing of an expired
	// transaction: the same sequence is free for the next one.
	mp := NewMempool(m.store)
	if err := mp.Check(m.nextContext(), sealedAt(t, a, m.time-1, body()), false); !errors.Is(err, protocol.ErrTxExpired) {
		t.Fatalf("CheckTx of an expired transaction: %v", err)
	}
	if err := mp.Check(m.nextContext(), sealedAt(t, a, m.time+int64(protocol.MaxTxLifetime)+1, body()), false); !errors.Is(err, protocol.ErrInvalid) {
		t.Fatalf("CheckTx of a transaction expiring too far ahead: %v", err)
	}
	if err := mp.Check(m.nextContext(), a.Sign(&protocol.Revoke{Grant: gid}), false); err != nil {
		t.Fatalf("CheckTx at the sequence an expired transaction was refused at: %v", err)
	}
	if seq, err := m.snapshot().Sequence(a.Key); err != nil || seq != a.Seq {
		t.Fatalf("committed sequence %d, want %d: %v", seq, a.Seq, err)
	}
}

// TestFailedTxSpendsSequence: in a block, a transaction refused by its handler spends its
// sequence (its bytes can never be replayed, the next one follows); the same transaction
// refused in CheckTx leaves the mempool view as it was.
func TestFailedTxSpendsSequence(t *testing.T) {
	m := newMachine(t, 0)
	a := m.account()
	rec := m.put(a)
	missing := a.Sign(&protocol.Revoke{Grant: protocol.ID{9}})

	mp := NewMempool(m.store)
	if err := mp.Check(m.nextContext(), missing, false); !errors.Is(err, protocol.ErrNotFound) {
		t.Fatalf("CheckTx: %v", err)
	}
	// Not spent in the view: another transaction at the same sequence is admitted.
	if err := mp.Check(m.nextContext(), a.Sign(m.grantBody(rec, a, 0)), false); err != nil {
		t.Fatalf("CheckTx at the refused transaction's sequence: %v", err)
	}

	// In a block it is spent; a grant refused late in its handler (its threshold) writes
	// nothing of the grant either.
	prev := m.appHash
	m.spendsRaw(protocol.ErrNotFound, a, missing)
	if string(m.appHash) == string(prev) {
		t.Fatal("spending a sequence did not change the app hash")
	}
	weak := m.grantBody(rec, a, 0)
	weak.Threshold = 1
	weakID := a.GrantID()
	m.spends(protocol.ErrInvalid, a, weak)
	if _, err := m.snapshot().Grant(weakID); !errors.Is(err, protocol.ErrNotFound) {
		t.Fatalf("the grant refused for its threshold exists: %v", err)
	}
	m.fails(protocol.ErrBadSequence, missing)
	// In one block: a refusal then the signer's next transaction.
	gid := protocol.GrantID(testChain, a.Key, a.Seq+1)
	errs, _ := m.block(time.Second, a.Next(&protocol.EraseRecord{Record: protocol.ID{9}}), a.Next(m.grantBody(rec, a, 0)))
	if !errors.Is(errs[0], protocol.ErrNotFound) || errs[1] != nil {
		t.Fatalf("refusal then success in one block: %v", errs)
	}
	s := m.snapshot()
	if seq, err := s.Sequence(a.Key); err != nil || seq != a.Seq || seq != 5 {
		t.Fatalf("sequence %d, want %d: %v", seq, a.Seq, err)
	}
	if _, err := s.LiveGrant(gid); err != nil {
		t.Fatal(err)
	}
	if kinds := auditKinds(t, s, rec); !slices.Equal(kinds, []string{protocol.AuditPut, protocol.AuditGrant}) {
		t.Fatalf("audit kinds %v", kinds)
	}
}

// destroyedSetup is a 4-node chain with a record of owner's and three grants of it to doc:
// live on nodes 0..2, live on every node, and one on every node that ends a minute from now.
type destroyedSetup struct {
	*machine
	owner, doc              *protocoltest.Account
	rec                     protocol.ID
	gPart, gAll, gExpiring  protocol.ID
	notAfter                int64
	partNodes, outsideNodes []*protocoltest.Account
}

func newDestroyedSetup(t *testing.T) *destroyedSetup {
	m := newMachine(t, 0)
	d := &destroyedSetup{machine: m, owner: m.account(), doc: m.account(), partNodes: m.nodes[:3], outsideNodes: m.nodes[3:]}
	d.rec = m.put(d.owner)
	part := m.grantBody(d.rec, d.doc, 0)
	part.Nodes, part.Threshold = part.Nodes[:3], 2
	d.gPart = d.owner.GrantID()
	m.ok(d.owner, part)
	d.gAll = d.owner.GrantID()
	m.ok(d.owner, m.grantBody(d.rec, d.doc, 0))
	d.notAfter = m.time + int64(time.Minute)
	d.gExpiring = d.owner.GrantID()
	m.ok(d.owner, m.grantBody(d.rec, d.doc, d.notAfter))
	return d
}

// owed is what each registry node owes, by node index.
func (m *machine) owed(t *testing.T) [][]protocol.ID {
	t.Helper()
	s := m.snapshot()
	out := make([][]protocol.ID, len(m.nodes))
	for i, n := range m.nodes {
		ids, err := s.OwedReports(n.Key, 100)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ids
	}
	return out
}

func sortedIDs(ids ...protocol.ID) []protocol.ID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b protocol.ID) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func wantOwed(t *testing.T, got [][]protocol.ID, want ...[]protocol.ID) {
	t.Helper()
	for i := range got {
		w := sortedIDs(want[i]...)
		if !slices.Equal(got[i], w) && !(len(got[i]) == 0 && len(w) == 0) {
			t.Fatalf("node %d owes %v, want %v", i, got[i], w)
		}
	}
}

func TestFragmentDestroyedRefusals(t *testing.T) {
	d := newDestroyedSetup(t)
	n0, n3 := d.nodes[0], d.nodes[3]
	report := func(g protocol.ID) protocol.Body { return &protocol.FragmentDestroyed{Grant: g} }

	// Nothing is owed while every grant is live.
	wantOwed(t, d.owed(t), nil, nil, nil, nil)
	// Only registry nodes report: anyone else is unknown_node, whatever the grant.
	d.spends(protocol.ErrUnknownNode, d.owner, report(d.gPart))
	d.spends(protocol.ErrUnknownNode, d.doc, report(protocol.ID{9}))
	// A registry node, for a grant that does not exist.
	d.spends(protocol.ErrNotFound, n0, report(protocol.ID{9}))
	// A registry node that is not one of the grant's nodes.
	d.spends(protocol.ErrUnauthorized, n3, report(d.gPart))
	if gs, err := d.snapshot().Grant(d.gAll); err != nil || gs.Destroyed != nil {
		t.Fatalf("grant after refused reports: %+v, %v", gs, err)
	}
	if kinds := auditKinds(t, d.snapshot(), d.rec); slices.Contains(kinds, protocol.AuditDestroyed) {
		t.Fatalf("a refused report was logged: %v", kinds)
	}
}

// TestFragmentLostWhileLive: a grant node may report holding no fragment of a live grant (it
// lost it, or never received it): the grant shows it, the audit logs it, and when the grant
// ends that node owes no second report.
func TestFragmentLostWhileLive(t *testing.T) {
	d := newDestroyedSetup(t)
	n := d.nodes
	held := func(k protocol.PubKey) []protocol.ID {
		s := d.snapshot()
		ids, err := s.HeldBy(k, s.Height, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if ids := held(n[0].Key); !slices.Contains(ids, d.gPart) || !slices.Contains(ids, d.gAll) {
		t.Fatalf("node 0 should hold fragments of %v", ids)
	}
	d.ok(n[0], &protocol.FragmentDestroyed{Grant: d.gPart})
	if ids := held(n[0].Key); slices.Contains(ids, d.gPart) || !slices.Contains(ids, d.gAll) {
		t.Fatalf("after its loss report node 0 should hold %v without the reported grant", ids)
	}
	if ids := held(d.owner.Key); ids != nil {
		t.Fatalf("a key that is no node holds %v", ids)
	}
	// A grant not valid yet, too: the node holds none of it.
	future := d.owner.GrantID()
	g := d.grantBody(d.rec, d.doc, 0)
	g.NotBefore = d.time + int64(time.Hour)
	d.ok(d.owner, g)
	d.ok(n[1], &protocol.FragmentDestroyed{Grant: future})
	s := d.snapshot()
	if gs, err := s.Grant(d.gPart); err != nil || !slices.Equal(gs.Destroyed, []int{0}) || gs.LiveAt(d.time) != nil {
		t.Fatalf("live grant after a loss report: %+v, %v", gs, err)
	}
	if kinds := auditKinds(t, s, d.rec); !slices.Contains(kinds, protocol.AuditDestroyed) {
		t.Fatalf("the loss was not logged: %v", kinds)
	}
	d.spends(protocol.ErrAlreadyExists, n[0], &protocol.FragmentDestroyed{Grant: d.gPart})
	// Revoking it: the nodes that still held a fragment owe their receipt; node 0 does not.
	d.ok(d.owner, &protocol.Revoke{Grant: d.gPart})
	wantOwed(t, d.owed(t), nil, []protocol.ID{d.gPart}, []protocol.ID{d.gPart}, nil)
}

// TestFragmentDestroyedAfterRevoke: revoking a live grant makes each of its nodes owe a
// report; a node's report clears its entry, is logged, shows in the grant's Destroyed, and
// cannot be made twice.
func TestFragmentDestroyedAfterRevoke(t *testing.T) {
	d := newDestroyedSetup(t)
	n := d.nodes
	d.ok(d.owner, &protocol.Revoke{Grant: d.gPart})
	wantOwed(t, d.owed(t), []protocol.ID{d.gPart}, []protocol.ID{d.gPart}, []protocol.ID{d.gPart}, nil)
	// The node outside the grant still may not report.
	d.spends(protocol.ErrUnauthorized, n[3], &protocol.FragmentDestroyed{Grant: d.gPart})

	raw := n[2].Next(&protocol.FragmentDestroyed{Grant: d.gPart})
	errs, x := d.block(time.Second, raw)
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	hash := protocol.TxHash(raw)
	wantAttrs := []Attr{
		{Key: AttrTxHash, Value: strings.ToUpper(hash.String()), Index: true},
		{Key: AttrResultCode, Value: "0"},
		{Key: AttrType, Value: "fragment_destroyed", Index: true},
		{Key: AttrSigner, Value: n[2].Key.String(), Index: true},
		{Key: AttrRecord, Value: d.rec.String(), Index: true},
		{Key: AttrGrant, Value: d.gPart.String(), Index: true},
	}
	if ev := x.Results[0].Events; len(ev) != 1 || !slices.Equal(ev[0].Attrs, wantAttrs) {
		t.Fatalf("events %+v", ev)
	}
	if len(x.Commit.Revoked) != 0 || len(x.Commit.Put) != 0 || len(x.Commit.Erased) != 0 {
		t.Fatalf("commit info %+v", x.Commit)
	}
	wantOwed(t, d.owed(t), []protocol.ID{d.gPart}, []protocol.ID{d.gPart}, nil, nil)
	s := d.snapshot()
	if g, err := s.Grant(d.gPart); err != nil || !slices.Equal(g.Destroyed, []int{2}) {
		t.Fatalf("grant %+v, %v", g, err)
	}
	log, err := s.Audit(d.rec, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := log.Items[len(log.Items)-1]
	if e.Kind != protocol.AuditDestroyed || e.Grant == nil || *e.Grant != d.gPart || e.Actor == nil || *e.Actor != n[2].Key ||
		e.TxHash == nil || *e.TxHash != hash || e.Height != d.height || e.Time != d.time {
		t.Fatalf("audit entry %+v", e)
	}

	// A second report of the same node is already_exists, in CheckTx and in a block.
	if err := d.checkTx(n[2].Sign(&protocol.FragmentDestroyed{Grant: d.gPart})); !errors.Is(err, protocol.ErrAlreadyExists) {
		t.Fatalf("CheckTx of a second report: %v", err)
	}
	d.spends(protocol.ErrAlreadyExists, n[2], &protocol.FragmentDestroyed{Grant: d.gPart})

	// Node 0 reports in the same block as a revocation of another grant: the revocation's
	// effects are visible to the report.
	errs, _ = d.block(time.Second, d.owner.Next(&protocol.Revoke{Grant: d.gAll}), n[0].Next(&protocol.FragmentDestroyed{Grant: d.gAll}),
		n[0].Next(&protocol.FragmentDestroyed{Grant: d.gPart}))
	if errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("revoke and reports in one block: %v", errs)
	}
	wantOwed(t, d.owed(t), nil, []protocol.ID{d.gPart, d.gAll}, []protocol.ID{d.gAll}, []protocol.ID{d.gAll})

	// Snapshot.Grant, the lists and the /grant/ query answer with Destroyed.
	s = d.snapshot()
	if g, err := s.Grant(d.gPart); err != nil || !slices.Equal(g.Destroyed, []int{0, 2}) {
		t.Fatalf("grant %+v, %v", g, err)
	}
	if g, err := s.Grant(d.gAll); err != nil || !slices.Equal(g.Destroyed, []int{0}) {
		t.Fatalf("grant %+v, %v", g, err)
	}
	if g, err := s.Grant(d.gExpiring); err != nil || g.Destroyed != nil {
		t.Fatalf("live grant %+v, %v", g, err)
	}
	v, err := s.Query("/grant/" + d.gPart.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	if !strings.Contains(string(b), `"destroyed":[0,2]`) {
		t.Fatalf("/grant/ answer %s", b)
	}
	if b, _ := json.Marshal(mustQuery(t, s, "/grant/"+d.gExpiring.String())); strings.Contains(string(b), `"destroyed"`) {
		t.Fatalf("/grant/ answer of a live grant %s", b)
	}
	page := mustQuery(t, s, "/grants/record/"+d.rec.String()).(*protocol.Page[*protocol.GrantState])
	if len(page.Items) != 3 || !slices.Equal(page.Items[0].Destroyed, []int{0, 2}) || !slices.Equal(page.Items[1].Destroyed, []int{0}) {
		t.Fatalf("grants of the record %+v", page.Items)
	}
	// OwedReports pages by limit, in grant id order, and knows nothing of a key that is no
	// registry node.
	if ids, err := s.OwedReports(n[1].Key, 1); err != nil || len(ids) != 1 || ids[0] != sortedIDs(d.gPart, d.gAll)[0] {
		t.Fatalf("owed with limit 1: %v, %v", ids, err)
	}
	if ids, err := s.OwedReports(d.owner.Key, 10); err != nil || ids != nil {
		t.Fatalf("owed by a non-node: %v, %v", ids, err)
	}
}

// TestFragmentDestroyedAfterExpiry: an expiry makes every grant node owe a report; revoking
// the expired grant later does not make the nodes that reported owe one again.
func TestFragmentDestroyedAfterExpiry(t *testing.T) {
	d := newDestroyedSetup(t)
	n := d.nodes
	_, x := d.block(time.Duration(d.notAfter - d.time))
	if len(x.Commit.Expired) != 1 || x.Commit.Expired[0].Grant != d.gExpiring {
		t.Fatalf("expired %v", x.Commit.Expired)
	}
	all := []protocol.ID{d.gExpiring}
	wantOwed(t, d.owed(t), all, all, all, all)
	d.ok(n[1], &protocol.FragmentDestroyed{Grant: d.gExpiring})
	d.ok(n[3], &protocol.FragmentDestroyed{Grant: d.gExpiring})
	wantOwed(t, d.owed(t), all, nil, all, nil)

	// The owner revokes the expired grant: it ended already, nobody owes anything new.
	d.ok(d.owner, &protocol.Revoke{Grant: d.gExpiring})
	wantOwed(t, d.owed(t), all, nil, all, nil)
	d.spends(protocol.ErrAlreadyExists, n[1], &protocol.FragmentDestroyed{Grant: d.gExpiring})
	d.ok(n[0], &protocol.FragmentDestroyed{Grant: d.gExpiring}) // revoked and expired: still ended
	wantOwed(t, d.owed(t), nil, nil, all, nil)
	if g, err := d.snapshot().Grant(d.gExpiring); err != nil || !g.Expired || !g.Revoked || !slices.Equal(g.Destroyed, []int{0, 1, 3}) {
		t.Fatalf("grant %+v, %v", g, err)
	}
	want := []string{protocol.AuditPut, protocol.AuditGrant, protocol.AuditGrant, protocol.AuditGrant, protocol.AuditExpire,
		protocol.AuditDestroyed, protocol.AuditDestroyed, protocol.AuditRevoke, protocol.AuditDestroyed}
	if kinds := auditKinds(t, d.snapshot(), d.rec); !slices.Equal(kinds, want) {
		t.Fatalf("audit kinds %v, want %v", kinds, want)
	}
}

// TestFragmentDestroyedAfterErase: erasing the record revokes its live grants, and their
// nodes owe reports, which the ledger accepts although the record is erased; an expired
// grant that the erasure revokes is not owed again.
func TestFragmentDestroyedAfterErase(t *testing.T) {
	d := newDestroyedSetup(t)
	n := d.nodes
	d.block(time.Duration(d.notAfter - d.time)) // gExpiring expires
	for _, node := range n {
		d.ok(node, &protocol.FragmentDestroyed{Grant: d.gExpiring})
	}
	wantOwed(t, d.owed(t), nil, nil, nil, nil)
	_, x := d.block(time.Second, d.owner.Next(&protocol.EraseRecord{Record: d.rec}))
	if !slices.Equal(x.Commit.Revoked, []protocol.ID{d.gPart, d.gAll, d.gExpiring}) {
		t.Fatalf("revoked by the erasure %v", x.Commit.Revoked)
	}
	part, all := []protocol.ID{d.gPart, d.gAll}, []protocol.ID{d.gAll}
	wantOwed(t, d.owed(t), part, part, part, all)
	d.ok(n[3], &protocol.FragmentDestroyed{Grant: d.gAll})
	d.ok(n[0], &protocol.FragmentDestroyed{Grant: d.gPart})
	wantOwed(t, d.owed(t), all, part, part, nil)
	d.spends(protocol.ErrUnauthorized, n[3], &protocol.FragmentDestroyed{Grant: d.gPart})
	s := d.snapshot()
	if g, err := s.Grant(d.gAll); err != nil || !g.Revoked || !slices.Equal(g.Destroyed, []int{3}) {
		t.Fatalf("grant %+v, %v", g, err)
	}
	if kinds := auditKinds(t, s, d.rec); kinds[len(kinds)-3] != protocol.AuditErase || kinds[len(kinds)-1] != protocol.AuditDestroyed {
		t.Fatalf("audit kinds %v", kinds)
	}
}

func mustQuery(t *testing.T, s *Snapshot, path string) any {
	t.Helper()
	v, err := s.Query(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestRequestIndex: a committed RequestAccess is found by its transaction hash: its record,
// the position of its audit entry and the entry; every other hash is not_found.
func TestRequestIndex(t *testing.T) {
	m := newMachine(t, 0)
	owner, doc := m.account(), m.account()
	recA := m.put(owner) // audit A: put
	recB := m.put(owner) // audit B: put
	gA, gB := owner.GrantID(), protocol.GrantID(testChain, owner.Key, owner.Seq+1)
	m.ok(owner, m.grantBody(recA, doc, 0)) // audit A: grant
	m.ok(owner, m.grantBody(recB, doc, 0)) // audit B: grant
	r1 := doc.Next(&protocol.RequestAccess{Grant: gA, Purpose: "first"})
	r2 := doc.Next(&protocol.RequestAccess{Grant: gA, Purpose: "second"})
	r3 := doc.Next(&protocol.RequestAccess{Grant: gB, Purpose: "third"})
	if errs, _ := m.block(time.Second, r1, r2, r3); errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatal(errs)
	}
	refused := owner.Next(&protocol.RequestAccess{Grant: gA}) // not the recipient: spent, not indexed
	if errs, _ := m.block(time.Second, refused); !errors.Is(errs[0], protocol.ErrUnauthorized) {
		t.Fatal(errs[0])
	}
	m.ok(owner, &protocol.Revoke{Grant: gA})
	s := m.snapshot()
	for _, c := range []struct {
		raw     []byte
		rec     protocol.ID
		index   uint64
		purpose string
	}{{r1, recA, 2, "first"}, {r2, recA, 3, "second"}, {r3, recB, 2, "third"}} {
		h := protocol.TxHash(c.raw)
		ref, err := s.Request(h)
		if err != nil {
			t.Fatalf("%s: %v", c.purpose, err)
		}
		e := ref.Entry
		if ref.Record != c.rec || ref.Index != c.index || e.Kind != protocol.AuditRequest || e.Record != c.rec ||
			e.TxHash == nil || *e.TxHash != h || e.Actor == nil || *e.Actor != doc.Key || e.Purpose != c.purpose {
			t.Fatalf("%s: %+v", c.purpose, ref)
		}
		// The index is the entry's position in the record's audit log.
		page, err := s.Audit(c.rec, c.index, 1)
		if err != nil || len(page.Items) != 1 || *page.Items[0].TxHash != h {
			t.Fatalf("%s: audit at %d: %+v, %v", c.purpose, c.index, page, err)
		}
		v, err := s.Query("/request/" + h.String())
		if err != nil || v.(*protocol.RequestRef).Index != c.index || v.(*protocol.RequestRef).Record != c.rec {
			t.Fatalf("/request/: %+v, %v", v, err)
		}
		b, _ := json.Marshal(v)
		if !strings.Contains(string(b), fmt.Sprintf(`"index":%d`, c.index)) || !strings.Contains(string(b), `"entry":{"kind":"request"`) {
			t.Fatalf("/request/ answer %s", b)
		}
	}
	var grantTx protocol.Hash32
	log, _ := s.Audit(recA, 1, 1)
	grantTx = *log.Items[0].TxHash
	for name, h := range map[string]protocol.Hash32{
		"a grant's hash":    grantTx,
		"a refused request": protocol.TxHash(refused),
		"no transaction":    {1, 2, 3},
	} {
		if _, err := s.Request(h); !errors.Is(err, protocol.ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := s.Query("/request/" + h.String()); !errors.Is(err, protocol.ErrNotFound) {
			t.Errorf("%s by query: %v", name, err)
		}
	}
	for p, want := range map[string]error{
		"/request":                             protocol.ErrUnknownQuery,
		"/request/zz":                          protocol.ErrMalformed,
		"/request/" + strings.Repeat("ab", 31): protocol.ErrMalformed,
		"/request/" + protocol.TxHash(r1).String() + "/x": protocol.ErrUnknownQuery,
	} {
		if _, err := s.Query(p); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", p, err, want)
		}
	}
}
