package ledger

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

func TestEraseRevokesGrantsAndLeavesTombstone(t *testing.T) {
	m := newMachine(t, 0)
	nodes := m.nodes
	owner, bob, eve := m.account(), m.account(), m.account()
	rec := m.put(owner)
	g1 := owner.GrantID()
	m.ok(owner, m.grantBody(rec, bob, 0))
	g2 := owner.GrantID()
	m.ok(owner, m.grantBody(rec, bob, m.time+int64(time.Hour)))
	for _, n := range nodes[:3] {
		m.ok(n, &protocol.HoldsBlob{Record: rec})
	}
	r, err := m.snapshot().Record(rec)
	if err != nil || len(r.Holders) != 3 || r.Replicas != 4 || r.Erased != nil {
		t.Fatalf("before erase: %+v, %v", r, err)
	}
	m.spends(protocol.ErrUnauthorized, eve, &protocol.EraseRecord{Record: rec})
	m.spends(protocol.ErrNotFound, owner, &protocol.EraseRecord{Record: protocol.ID{9}})

	// A grant made in the same block as the erasure is revoked too.
	late := owner.GrantID()
	g := owner.Next(m.grantBody(rec, bob, 0))
	e := owner.Next(&protocol.EraseRecord{Record: rec})
	errs, x := m.block(time.Second, g, e)
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("grant+erase block: %v", errs)
	}
	// The hooks learn of every revoked grant (the proxies delete their fragments) and of
	// the erasure (every node deletes the blob).
	if !slices.Equal(x.Commit.Revoked, []protocol.ID{g1, g2, late}) {
		t.Fatalf("commit info revoked %v, want %v", x.Commit.Revoked, []protocol.ID{g1, g2, late})
	}
	if len(x.Commit.Erased) != 1 || x.Commit.Erased[0].Record != rec || string(x.Commit.Erased[0].CID) != "bafy-test" {
		t.Fatalf("commit info erased %+v", x.Commit.Erased)
	}
	s := m.snapshot()
	page, err := s.GrantsOf(rec, 0, 0)
	if err != nil || len(page.Items) != 3 {
		t.Fatalf("grants: %v, %v", page, err)
	}
	for _, g := range page.Items {
		if !g.Revoked || g.RevokedHeight != m.height {
			t.Fatalf("grant %s not revoked by erase", g.ID)
		}
	}
	if _, err := s.LiveGrant(late); !errors.Is(err, protocol.ErrGrantRevoked) {
		t.Fatalf("same-block grant: %v", err)
	}
	ts, err := s.Tombstone(rec)
	if err != nil || ts == nil || string(ts.CID) != "bafy-test" || ts.Height != m.height || ts.Time != m.time ||
		ts.TxHash != protocol.TxHash(e) || ts.Record != rec {
		t.Fatalf("tombstone: %+v, %v", ts, err)
	}
	r, err = s.Record(rec)
	if err != nil || r.Erased == nil || r.Capsule != (protocol.CapsuleBytes{}) || len(r.Holders) != 0 || r.Replicas != 0 ||
		r.Owner != owner.Key || string(r.CID) != "bafy-test" || r.Size != 10 {
		t.Fatalf("erased record: %+v, %v", r, err)
	}
	if h, _ := s.Holders(rec); len(h) != 0 {
		t.Fatalf("holders after erase: %v", h)
	}
	// Everything later says the record was erased.
	m.spends(protocol.ErrRecordErased, owner, &protocol.EraseRecord{Record: rec})
	m.spends(protocol.ErrRecordErased, owner, m.grantBody(rec, bob, 0))
	m.spends(protocol.ErrRecordErased, bob, &protocol.RequestAccess{Grant: page.Items[0].ID})
	m.spends(protocol.ErrRecordErased, nodes[3], &protocol.HoldsBlob{Record: rec})
	if protocol.LedgerCode(protocol.ErrRecordErased) != 14 || !errors.Is(protocol.LedgerError(14, ""), protocol.ErrRecordErased) ||
		protocol.CodeName(14) != "record_erased" {
		t.Fatal("erased code does not round-trip")
	}
	// An expiry that falls after the erasure does nothing: erasing took the grant out of
	// the expiry index.
	if _, x := m.block(2 * time.Hour); len(x.Commit.Expired) != 0 {
		t.Fatalf("a grant revoked by erasure expired: %v", x.Commit.Expired)
	}
	want := []string{protocol.AuditPut, protocol.AuditGrant, protocol.AuditGrant, protocol.AuditHolds, protocol.AuditHolds,
		protocol.AuditHolds, protocol.AuditGrant, protocol.AuditErase}
	if kinds := auditKinds(t, m.snapshot(), rec); !slices.Equal(kinds, want) {
		t.Fatalf("audit kinds %v, want %v", kinds, want)
	}
	v, err := s.Query("/tombstone/" + rec.String())
	if err != nil || v.(*protocol.Tombstone).Record != rec {
		t.Fatalf("tombstone query: %v, %v", v, err)
	}
	v, err = s.Query("/records/cid/bafy-test")
	if err != nil || len(v.([]*protocol.Record)) != 1 || v.([]*protocol.Record)[0].Erased == nil {
		t.Fatalf("cid query: %v, %v", v, err)
	}
}

func TestHoldsBlobRules(t *testing.T) {
	m := newMachine(t, 2)
	owner := m.account()
	rec := m.put(owner)
	placed := protocol.Placement(rec, m.snapshotNodes(t), 2)
	if len(placed) != 2 {
		t.Fatalf("placement: %v", placed)
	}
	var in, out []*protocoltest.Account
	for i, n := range m.nodes {
		if slices.Contains(placed, i) {
			in = append(in, n)
		} else {
			out = append(out, n)
		}
	}
	m.spends(protocol.ErrUnknownNode, owner, &protocol.HoldsBlob{Record: rec})
	m.spends(protocol.ErrUnauthorized, out[0], &protocol.HoldsBlob{Record: rec})
	m.spends(protocol.ErrNotFound, in[0], &protocol.HoldsBlob{Record: protocol.ID{1}})
	m.ok(in[0], &protocol.HoldsBlob{Record: rec})
	m.spends(protocol.ErrAlreadyExists, in[0], &protocol.HoldsBlob{Record: rec})
	m.ok(in[1], &protocol.HoldsBlob{Record: rec})
	s := m.snapshot()
	r, err := s.Record(rec)
	if err != nil || len(r.Holders) != 2 || r.Replicas != 2 || !slices.Equal(r.Holders, []int{min(placed[0], placed[1]), max(placed[0], placed[1])}) {
		t.Fatalf("record: %+v, %v", r, err)
	}
	if pn, err := s.PlacedNodes(rec); err != nil || len(pn) != 2 || pn[0].ProxyKey != m.nodes[placed[0]].Key || pn[1].ProxyKey != m.nodes[placed[1]].Key {
		t.Fatalf("placed nodes: %+v, %v", pn, err)
	}
	if k, err := s.Replication(); err != nil || k != 2 {
		t.Fatalf("replication %d, %v", k, err)
	}
	if ids, err := s.Records(nil, 10); err != nil || len(ids) != 1 || ids[0] != rec {
		t.Fatalf("records walk: %v, %v", ids, err)
	}
	if ids, err := s.Records(&rec, 10); err != nil || len(ids) != 0 {
		t.Fatalf("records walk after last: %v, %v", ids, err)
	}
}

// TestRecordsWalk pages through every record in key order.
func TestRecordsWalk(t *testing.T) {
	m := newMachine(t, 0)
	owner := m.account()
	var ids []protocol.ID
	for i := 0; i < 5; i++ {
		ids = append(ids, m.put(owner))
	}
	slices.SortFunc(ids, func(a, b protocol.ID) int { return slices.Compare(a[:], b[:]) })
	s := m.snapshot()
	var got []protocol.ID
	var after *protocol.ID
	for {
		page, err := s.Records(after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = &page[len(page)-1]
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("walk %v, want %v", got, ids)
	}
}

func (m *machine) snapshotNodes(t *testing.T) []protocol.Node {
	n, err := m.snapshot().Nodes()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPlacementIsStableAndSpread(t *testing.T) {
	m := newMachine(t, 0)
	nodes := m.snapshotNodes(t)
	rotated := append(slices.Clone(nodes[2:]), nodes[:2]...)
	count := map[protocol.PubKey]int{}
	for i := 0; i < 400; i++ {
		id := protocol.ID{byte(i), byte(i >> 8)}
		p := protocol.Placement(id, nodes, 2)
		q := protocol.Placement(id, rotated, 2)
		if nodes[p[0]].ProxyKey != rotated[q[0]].ProxyKey || nodes[p[1]].ProxyKey != rotated[q[1]].ProxyKey {
			t.Fatal("placement depends on registry order")
		}
		// Placing on more nodes keeps the first ones (rendezvous hashing).
		if all := protocol.Placement(id, nodes, 0); all[0] != p[0] || all[1] != p[1] {
			t.Fatal("placement on k nodes is not a prefix of the full ranking")
		}
		for _, n := range p {
			count[nodes[n].ProxyKey]++
		}
	}
	for pk, c := range count {
		if c < 100 || c > 300 { // expected 200 each
			t.Fatalf("node %s holds %d of 800 placements", pk, c)
		}
	}
	if len(protocol.Placement(protocol.ID{}, nodes, 0)) != 4 || len(protocol.Placement(protocol.ID{}, nodes, 9)) != 4 {
		t.Fatal("k=0 or k>n must place on every node")
	}
}
