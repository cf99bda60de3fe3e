package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// The ABCI surface driven directly, without CometBFT: mempool sequencing,
// block execution, persistence and restart.

const testChain = "rr-app-test"

func openTestApp(t *testing.T, dir string, hook func(ledger.CommitInfo)) *App {
	t.Helper()
	a, err := OpenApp(dir, AppOptions{OnCommit: hook})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAppLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var commits []ledger.CommitInfo
	a := openTestApp(t, dir, func(ci ledger.CommitInfo) { commits = append(commits, ci) })
	var nodes []protocol.Node
	for _, a := range protocoltest.NewAccounts(testChain, 4) {
		nodes = append(nodes, protocol.Node{Name: "n", API: "http://127.0.0.1:1", ProxyKey: a.Key})
	}
	gs, _ := json.Marshal(ledger.GenesisState{Nodes: nodes})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ic, err := a.InitChain(ctx, &abci.RequestInitChain{ChainId: testChain, Time: t0, AppStateBytes: gs})
	if err != nil || len(ic.AppHash) != 32 {
		t.Fatalf("InitChain: %v", err)
	}
	// A crash before the first block makes CometBFT call InitChain again.
	again, err := a.InitChain(ctx, &abci.RequestInitChain{ChainId: testChain, Time: t0, AppStateBytes: gs})
	if err != nil || !bytes.Equal(again.AppHash, ic.AppHash) {
		t.Fatalf("repeated InitChain: %v", err)
	}

	owner := protocoltest.NewAccount(testChain)
	owner.Clock = func() time.Time { return t0 }
	rec := owner.RecordID()
	put := owner.Next(protocoltest.PutRecord("c", 1))
	g := &protocol.Grant{Record: rec, OwnerEnc: owner.Key, RecipientSig: owner.Key, RecipientEnc: owner.Key}
	for i, n := range nodes {
		g.Nodes = append(g.Nodes, protocol.GrantNode{Proxy: n.ProxyKey, Commitment: protocol.Hash32{byte(i)}})
	}
	grant := owner.Next(g)
	dup := owner.Sign(&protocol.Revoke{Grant: protocol.ID{1}})   // seq 2 is fine...
	clash := owner.Sign(&protocol.Revoke{Grant: protocol.ID{2}}) // ...but only once

	for i, raw := range [][]byte{put, grant, dup} {
		r, _ := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: raw})
		if i < 2 && r.Code != 0 {
			t.Fatalf("CheckTx %d: %d %s", i, r.Code, r.Log)
		}
		if i == 2 && r.Code != protocol.ErrNotFound.LedgerCode {
			t.Fatalf("revoke of a missing grant: code %d", r.Code)
		}
	}
	if r, _ := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: clash}); r.Code != protocol.ErrNotFound.LedgerCode {
		t.Fatalf("code %d", r.Code) // failed txs do not consume the sequence
	}

	// The block replays put and grant; put is repeated, so its second
	// copy must fail on sequence even though its signature is cached.
	fb, err := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: 1, Time: t0.Add(time.Second), Txs: [][]byte{put, grant, put}})
	if err != nil {
		t.Fatal(err)
	}
	if fb.TxResults[0].Code != 0 || fb.TxResults[1].Code != 0 || fb.TxResults[2].Code != protocol.ErrBadSequence.LedgerCode {
		t.Fatalf("codes %d %d %d", fb.TxResults[0].Code, fb.TxResults[1].Code, fb.TxResults[2].Code)
	}
	h := protocol.TxHash(grant)
	if !hasAttr(fb.TxResults[1].Events, ledger.AttrTxHash, h) {
		t.Fatal("grant result has no tx_hash event attribute")
	}
	if bytes.Equal(fb.AppHash, ic.AppHash) {
		t.Fatal("app hash did not change")
	}
	if _, err := a.Commit(ctx, &abci.RequestCommit{}); err != nil {
		t.Fatal(err)
	}
	if len(commits) != 1 || commits[0].Height != 1 || !bytes.Equal(commits[0].AppHash, fb.AppHash) {
		t.Fatalf("hook saw %+v", commits)
	}
	q, _ := a.Query(ctx, &abci.RequestQuery{Path: "/grants/record/" + rec.String()})
	var page protocol.Page[*protocol.GrantState]
	if err := json.Unmarshal(q.Value, &page); err != nil || len(page.Items) != 1 || q.Height != 1 {
		t.Fatalf("query: %s, %v", q.Value, err)
	}
	// An empty block keeps the app hash.
	fb2, _ := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: 2, Time: t0.Add(2 * time.Second)})
	if !bytes.Equal(fb2.AppHash, fb.AppHash) {
		t.Fatal("empty block changed the app hash")
	}
	if _, err := a.Commit(ctx, &abci.RequestCommit{}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	b := openTestApp(t, dir, nil)
	defer b.Close()
	info, _ := b.Info(ctx, &abci.RequestInfo{})
	if info.LastBlockHeight != 2 || !bytes.Equal(info.LastBlockAppHash, fb.AppHash) || b.ChainID() != testChain {
		t.Fatalf("after reopen: %+v", info)
	}
	s, err := b.Committed()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if _, err := s.Record(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LiveGrant(protocol.GrantID(testChain, owner.Key, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Grant(protocol.ID{5}); !errors.Is(err, protocol.ErrNotFound) {
		t.Fatalf("missing grant: %v", err)
	}
}

func hasAttr(evs []abci.Event, key string, h protocol.Hash32) bool {
	for _, e := range evs {
		for _, a := range e.Attributes {
			if a.Key == key && a.Value == string(bytes.ToUpper([]byte(h.String()))) {
				return true
			}
		}
	}
	return false
}
