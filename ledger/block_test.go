package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// The entry points the node's ABCI application calls (Genesis for InitChain, Mempool for
// CheckTx, Execute for FinalizeBlock), driven directly. What only the ABCI application does
// (persistence, restart, Info, the commit hook, the ABCI query answer) is tested in node.

func genesisJSON(t testing.TB, nodes []protocol.Node, replication int) []byte {
	t.Helper()
	b, err := json.Marshal(GenesisState{Nodes: nodes, Replication: replication})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func registryOf(n int) []protocol.Node {
	var nodes []protocol.Node
	for i := 0; i < n; i++ {
		nodes = append(nodes, protocol.Node{Name: fmt.Sprintf("n%d", i), API: "http://h", ProxyKey: protocoltest.NewAccount(testChain).Key})
	}
	return nodes
}

func TestGenesis(t *testing.T) {
	nodes := registryOf(4)
	gs := genesisJSON(t, nodes, 0)
	ws, sh, err := Genesis(gs)
	if err != nil {
		t.Fatalf("Genesis: %v", err)
	}
	hash := sh.AppHash()
	// Genesis depends on its input only: InitChain may run again after a crash.
	ws2, sh2, err := Genesis(gs)
	if err != nil || !bytes.Equal(hash, sh2.AppHash()) || len(ws) != len(ws2) {
		t.Fatalf("repeated Genesis: %v", err)
	}
	for i := range ws {
		if !bytes.Equal(ws[i].Key, ws2[i].Key) || !bytes.Equal(ws[i].Value, ws2[i].Value) {
			t.Fatal("repeated Genesis writes differ")
		}
		if i > 0 && bytes.Compare(ws[i-1].Key, ws[i].Key) >= 0 {
			t.Fatal("genesis writes not in key order")
		}
	}
	st := NewMemStore()
	st.Apply(ws)
	s := NewSnapshot(st, nil, testChain, 0, 0, hash)
	got, err := s.Nodes()
	if err != nil || len(got) != 4 {
		t.Fatalf("registry: %+v, %v", got, err)
	}
	for i := range got {
		if got[i].ProxyKey != nodes[i].ProxyKey || got[i].Name != nodes[i].Name {
			t.Fatalf("node %d: %+v", i, got[i])
		}
	}
	if k, err := s.Replication(); err != nil || k != 0 {
		t.Fatalf("replication %d, %v", k, err)
	}
	reg, err := LoadRegistry(st)
	if err != nil || len(reg) != 4 || !reg[nodes[2].ProxyKey] {
		t.Fatalf("LoadRegistry: %v, %v", reg, err)
	}
	// The replication factor is stored only when it is not "every node".
	for k, want := range map[int]int{0: 0, 2: 2, 4: 0} {
		ws, _, err := Genesis(genesisJSON(t, nodes, k))
		if err != nil {
			t.Fatal(err)
		}
		st := NewMemStore()
		st.Apply(ws)
		if got, err := NewSnapshot(st, nil, testChain, 0, 0, nil).Replication(); err != nil || got != want {
			t.Errorf("replication %d stored as %d, %v", k, got, err)
		}
	}
	if _, h, _ := Genesis(genesisJSON(t, nodes, 2)); bytes.Equal(h.AppHash(), hash) {
		t.Fatal("the replication factor is not covered by the genesis app hash")
	}
}

func TestGenesisRejects(t *testing.T) {
	nodes := registryOf(3)
	dup := append(registryOf(2), nodes[0], nodes[0])
	bad := registryOf(2)
	bad[1].ProxyKey = protocol.PubKey{2}
	long := registryOf(1)
	long[0].Name = strings.Repeat("n", protocol.MaxNodeName+1)
	for name, gs := range map[string][]byte{
		"not json":            []byte("{"),
		"no nodes":            genesisJSON(t, nil, 0),
		"too many nodes":      genesisJSON(t, registryOf(protocol.MaxGrantNodes+1), 0),
		"repeated proxy key":  genesisJSON(t, dup, 0),
		"proxy key not point": genesisJSON(t, bad, 0),
		"long name":           genesisJSON(t, long, 0),
		"negative replicas":   genesisJSON(t, nodes, -1),
		"replicas > n":        genesisJSON(t, nodes, 4),
		"replicas 1 of 4":     genesisJSON(t, registryOf(4), 1), // ≤ f = 1: one faulty node could lose a blob
		"replicas 2 of 7":     genesisJSON(t, registryOf(7), 2),
	} {
		if _, _, err := Genesis(gs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestMempoolSequencing: the mempool view keeps the writes of admitted transactions, so one
// account can have several in flight; refused transactions consume no sequence number in the
// view (in a block they do: TestFailedTxSpendsSequence).
func TestMempoolSequencing(t *testing.T) {
	m := newMachine(t, 0)
	owner := m.account()
	rec := owner.RecordID()
	put := owner.Next(protoPut())
	grant := owner.Next(protoGrant(rec, owner.Key, m.nodeKeys()))
	missing := owner.Sign(&protocol.Revoke{Grant: protocol.ID{1}}) // seq 2 is fine...
	clash := owner.Sign(&protocol.Revoke{Grant: protocol.ID{2}})   // ...but it is not consumed by a failure
	after := owner.SignAt(3, &protocol.Revoke{Grant: protocol.ID{3}})

	mp := NewMempool(m.store)
	bc := BlockContext{ChainID: testChain, Height: m.height + 1, Time: m.time, Nodes: m.reg}
	for i, c := range []struct {
		raw  []byte
		want error
	}{
		{put, nil}, {grant, nil}, {missing, protocol.ErrNotFound}, {clash, protocol.ErrNotFound},
		{after, protocol.ErrBadSequence}, {put, protocol.ErrBadSequence},
		{signedFor(t, owner, "other", &protocol.Revoke{}), protocol.ErrWrongChain},
		{[]byte{}, protocol.ErrMalformed},
	} {
		err := mp.Check(bc, c.raw, false)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Fatalf("Check %d: %v, want %v", i, err, c.want)
		}
	}
	// The view is not committed state.
	if seq, err := m.snapshot().Sequence(owner.Key); err != nil || seq != 0 {
		t.Fatalf("committed sequence %d after CheckTx, %v", seq, err)
	}
	// A fresh view (after Commit) starts from committed state again.
	if err := NewMempool(m.store).Check(bc, grant, false); !errors.Is(err, protocol.ErrBadSequence) {
		t.Fatalf("grant before its put in a fresh view: %v", err)
	}
}

func protoGrant(rec protocol.ID, to protocol.PubKey, nodes []protocol.PubKey) *protocol.Grant {
	return protocoltest.Grant(rec, to, nodes, 0)
}

// TestExecuteBlock: a block replays the mempool's transactions; a repeated transaction fails
// on its sequence even though its signature is cached; an empty block keeps the app hash.
func TestExecuteBlock(t *testing.T) {
	m := newMachine(t, 0)
	genesisHash := m.appHash
	owner := m.account()
	rec := owner.RecordID()
	put := owner.Next(protoPut())
	grant := owner.Next(protoGrant(rec, owner.Key, m.nodeKeys()))
	cached := map[protocol.Hash32]bool{protocol.TxHash(put): true, protocol.TxHash(grant): true}
	m.height++
	m.time += int64(time.Second)
	x, err := Execute(m.store, testChain, m.reg, m.state, Block{Height: m.height, Time: m.time, Txs: [][]byte{put, grant, put}},
		func(h protocol.Hash32) bool { return cached[h] })
	if err != nil {
		t.Fatal(err)
	}
	if x.Results[0].Code != 0 || x.Results[1].Code != 0 || x.Results[2].Code != protocol.ErrBadSequence.LedgerCode {
		t.Fatalf("codes %d %d %d", x.Results[0].Code, x.Results[1].Code, x.Results[2].Code)
	}
	h := protocol.TxHash(grant)
	if a := x.Results[1].Events[0].Attrs[0]; a.Key != AttrTxHash || a.Value != strings.ToUpper(h.String()) || !a.Index {
		t.Fatalf("grant result has no tx_hash event attribute: %+v", a)
	}
	if bytes.Equal(x.AppHash, genesisHash) || len(x.AppHash) != 32 {
		t.Fatal("app hash did not change")
	}
	m.store.Apply(x.Writes)
	m.state, m.appHash = x.State, x.AppHash
	s := m.snapshot()
	v, err := s.Query("/grants/record/" + rec.String())
	if err != nil || len(v.(*protocol.Page[*protocol.GrantState]).Items) != 1 {
		t.Fatalf("query: %v, %v", v, err)
	}
	if _, err := s.Record(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LiveGrant(protocol.GrantID(testChain, owner.Key, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(protocol.ID{5}); !errors.Is(err, protocol.ErrNotFound) {
		t.Fatalf("missing grant: %v", err)
	}
	// An empty block keeps the app hash.
	_, x2 := m.block(time.Second)
	if !bytes.Equal(x2.AppHash, x.AppHash) || len(x2.Writes) != 0 {
		t.Fatal("empty block changed the app hash")
	}
	// The signature cache skips verification, never the chain id or the sequence.
	wrong := signedFor(t, owner, "other", &protocol.Revoke{Grant: protocol.ID{1}})
	x3, err := Execute(m.store, testChain, m.reg, m.state, Block{Height: m.height + 1, Time: m.time, Txs: [][]byte{wrong}},
		func(protocol.Hash32) bool { return true })
	if err != nil || x3.Results[0].Code != protocol.ErrWrongChain.LedgerCode {
		t.Fatalf("cached tx of another chain: %+v, %v", x3.Results, err)
	}
}
