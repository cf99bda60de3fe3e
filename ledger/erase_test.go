package ledger

import (
	"errors"
	"testing"
	"time"
)

// nodeMachine is a machine whose registry nodes can sign (HoldsBlob).
func nodeMachine(t *testing.T, replication int) (*machine, []*account) {
	m := &machine{t: t, store: newMemStore(), bc: BlockContext{ChainID: testChain, Height: 1, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}}
	var nodes []*account
	var infos []NodeInfo
	for i := 0; i < 4; i++ {
		a := newAccount(t)
		nodes = append(nodes, a)
		m.nodes = append(m.nodes, a.pk)
		infos = append(infos, NodeInfo{Name: "n", ProxyKey: a.pk})
	}
	o := newOverlay(m.store)
	if err := initState(o, infos, replication); err != nil {
		t.Fatal(err)
	}
	m.store.apply(o.sortedWrites())
	reg, err := loadRegistry(m.store)
	if err != nil {
		t.Fatal(err)
	}
	m.bc.Nodes = reg
	return m, nodes
}

func (m *machine) snapshot() *Snapshot {
	return &Snapshot{st: m.store, ChainID: testChain, Time: m.bc.Time}
}

func TestEraseRevokesGrantsAndLeavesTombstone(t *testing.T) {
	m, nodes := nodeMachine(t, 0)
	owner, bob, eve := newAccount(t), newAccount(t), newAccount(t)
	rec := m.put(owner)
	m.ok(owner, m.grantBody(rec, bob, 0))
	m.ok(owner, m.grantBody(rec, bob, m.bc.Time+int64(time.Hour)))
	for _, n := range nodes[:3] {
		m.ok(n, &HoldsBlob{Record: rec})
	}
	r, err := m.snapshot().Record(rec)
	if err != nil || len(r.Holders) != 3 || r.Replicas != 4 || r.Erased != nil {
		t.Fatalf("before erase: %+v, %v", r, err)
	}
	m.fails(ErrUnauthorized, eve.tx(t, testChain, &EraseRecord{Record: rec}))
	m.fails(ErrNotFound, owner.tx(t, testChain, &EraseRecord{Record: ID{9}}))

	// A grant made in the same block as the erasure is revoked too.
	late := GrantID(testChain, owner.pk, owner.seq)
	g := owner.tx(t, testChain, m.grantBody(rec, bob, 0))
	owner.seq++
	e := owner.tx(t, testChain, &EraseRecord{Record: rec})
	owner.seq++
	if errs, _ := m.block(time.Second, g, e); errs[0] != nil || errs[1] != nil {
		t.Fatalf("grant+erase block: %v", errs)
	}
	s := m.snapshot()
	page, err := s.GrantsOf(rec, 0, 0)
	if err != nil || len(page.Items) != 3 {
		t.Fatalf("grants: %v, %v", page, err)
	}
	for _, g := range page.Items {
		if !g.Revoked {
			t.Fatalf("grant %s not revoked by erase", g.ID)
		}
	}
	if _, err := s.LiveGrant(late); !errors.Is(err, ErrGrantRevoked) {
		t.Fatalf("same-block grant: %v", err)
	}
	ts, err := s.Tombstone(rec)
	if err != nil || ts == nil || string(ts.CID) != "bafy-test" || ts.Height != m.bc.Height {
		t.Fatalf("tombstone: %+v, %v", ts, err)
	}
	r, err = s.Record(rec)
	if err != nil || r.Erased == nil || r.Capsule != (CapsuleBytes{}) || len(r.Holders) != 0 {
		t.Fatalf("erased record: %+v, %v", r, err)
	}
	if h, _ := s.Holders(rec); len(h) != 0 {
		t.Fatalf("holders after erase: %v", h)
	}
	// Everything later says the record was erased.
	m.fails(ErrRecordErased, owner.tx(t, testChain, &EraseRecord{Record: rec}))
	m.fails(ErrRecordErased, owner.tx(t, testChain, m.grantBody(rec, bob, 0)))
	m.fails(ErrRecordErased, bob.tx(t, testChain, &RequestAccess{Grant: page.Items[0].ID}))
	m.fails(ErrRecordErased, nodes[3].tx(t, testChain, &HoldsBlob{Record: rec}))
	if Code(ErrRecordErased) != CodeRecordErased || CodeError(CodeRecordErased) != ErrRecordErased {
		t.Fatal("erased code does not round-trip")
	}
	v, err := s.Query("/tombstone/" + rec.String())
	if err != nil || v.(*Tombstone).Record != rec {
		t.Fatalf("tombstone query: %v, %v", v, err)
	}
	v, err = s.Query("/records/cid/bafy-test")
	if err != nil || len(v.([]*Record)) != 1 || v.([]*Record)[0].Erased == nil {
		t.Fatalf("cid query: %v, %v", v, err)
	}
}

func TestHoldsBlobRules(t *testing.T) {
	m, nodes := nodeMachine(t, 2)
	owner := newAccount(t)
	rec := m.put(owner)
	placed := Placement(rec, m.snapshotNodes(t), 2)
	if len(placed) != 2 {
		t.Fatalf("placement: %v", placed)
	}
	var in, out []*account
	for _, n := range nodes {
		if n.pk == placed[0].ProxyKey || n.pk == placed[1].ProxyKey {
			in = append(in, n)
		} else {
			out = append(out, n)
		}
	}
	m.fails(ErrUnknownNode, owner.tx(t, testChain, &HoldsBlob{Record: rec}))
	m.fails(ErrUnauthorized, out[0].tx(t, testChain, &HoldsBlob{Record: rec}))
	m.fails(ErrNotFound, in[0].tx(t, testChain, &HoldsBlob{Record: ID{1}}))
	m.ok(in[0], &HoldsBlob{Record: rec})
	m.fails(ErrAlreadyExists, in[0].tx(t, testChain, &HoldsBlob{Record: rec}))
	m.ok(in[1], &HoldsBlob{Record: rec})
	r, err := m.snapshot().Record(rec)
	if err != nil || len(r.Holders) != 2 || r.Replicas != 2 {
		t.Fatalf("record: %+v, %v", r, err)
	}
	if ids, err := m.snapshot().Records(nil, 10); err != nil || len(ids) != 1 || ids[0] != rec {
		t.Fatalf("records walk: %v, %v", ids, err)
	}
	if ids, err := m.snapshot().Records(&rec, 10); err != nil || len(ids) != 0 {
		t.Fatalf("records walk after last: %v, %v", ids, err)
	}
}

func (m *machine) snapshotNodes(t *testing.T) []NodeInfo {
	n, err := m.snapshot().Nodes()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPlacementIsStableAndSpread(t *testing.T) {
	m, _ := nodeMachine(t, 0)
	nodes := m.snapshotNodes(t)
	count := map[PubKey]int{}
	for i := 0; i < 400; i++ {
		p := Placement(ID{byte(i), byte(i >> 8)}, nodes, 2)
		q := Placement(ID{byte(i), byte(i >> 8)}, append(nodes[2:], nodes[:2]...), 2)
		if p[0].ProxyKey != q[0].ProxyKey || p[1].ProxyKey != q[1].ProxyKey {
			t.Fatal("placement depends on registry order")
		}
		for _, n := range p {
			count[n.ProxyKey]++
		}
	}
	for pk, c := range count {
		if c < 100 || c > 300 { // expected 200 each
			t.Fatalf("node %s holds %d of 800 placements", pk, c)
		}
	}
	if len(Placement(ID{}, nodes, 0)) != 4 || len(Placement(ID{}, nodes, 9)) != 4 {
		t.Fatal("k=0 or k>n must place on every node")
	}
}
