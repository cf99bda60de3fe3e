package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// Hostile clients and strangers, at the node's edges: the mempool's pace per account, the
// API's pace per source, and the peer-to-peer port closed to anyone outside the registry.

// TestCheckTxPace: a new transaction is refused when its account has senderInFlight
// waiting in the mempool, or sends faster than senderRate (junk that fails its checks
// counts); a registry node's reports are never paced.
func TestCheckTxPace(t *testing.T) {
	ctx := context.Background()
	a := openTestApp(t, t.TempDir(), nil)
	defer a.Close()
	nodeAcct := protocoltest.NewAccount(testChain)
	gs, _ := json.Marshal(ledger.GenesisState{Nodes: []protocol.Node{{Name: "n", API: "http://127.0.0.1:1", ProxyKey: nodeAcct.Key}}})
	t0 := time.Now()
	if _, err := a.InitChain(ctx, &abci.RequestInitChain{ChainId: testChain, Time: t0, AppStateBytes: gs}); err != nil {
		t.Fatal(err)
	}
	checkNew := func(raw []byte) *abci.ResponseCheckTx {
		res, err := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: raw, Type: abci.CheckTxType_New})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	clock := func() time.Time { return t0 }
	hoarder := protocoltest.NewAccount(testChain)
	hoarder.Clock = clock
	for i := range senderInFlight {
		if res := checkNew(hoarder.Next(protocoltest.PutRecord(fmt.Sprintf("bafkrei-%d", i), 1))); res.Code != 0 {
			t.Fatalf("put %d: %s", i, res.Log)
		}
	}
	if res := checkNew(hoarder.Next(protocoltest.PutRecord("bafkrei-one-more", 1))); res.Code != protocol.ErrRateLimited.LedgerCode {
		t.Fatalf("put past %d in flight: code %d %s", senderInFlight, res.Code, res.Log)
	}
	// a recheck of what the mempool holds is not paced
	if res, _ := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: hoarder.SignAt(0, protocoltest.PutRecord("bafkrei-0", 1)), Type: abci.CheckTxType_Recheck}); res.Code == protocol.ErrRateLimited.LedgerCode {
		t.Fatal("a recheck was paced")
	}

	flooder := protocoltest.NewAccount(testChain)
	flooder.Clock = clock
	junk := &protocol.Revoke{Grant: protocol.ID{7}} // not_found: nothing enters the mempool
	// junk is paced like anything else: at least a burst passes CheckTx's pace, then refusals
	passed := 0
	for checkNew(flooder.Sign(junk)).Code != protocol.ErrRateLimited.LedgerCode {
		if passed++; passed > 10*senderBurst {
			t.Fatalf("%d junk transactions were never paced", passed)
		}
	}
	if passed < senderBurst {
		t.Fatalf("paced after %d junk transactions, before a burst of %d", passed, senderBurst)
	}
	if res := checkNew(flooder.Sign(protocoltest.PutRecord("bafkrei-flood", 1))); res.Code != protocol.ErrRateLimited.LedgerCode {
		t.Fatalf("a put after a burst of %d: code %d %s", senderBurst, res.Code, res.Log)
	}
	nodeAcct.Clock = clock
	for range senderBurst + senderInFlight {
		if res := checkNew(nodeAcct.Sign(&protocol.HoldsBlob{Record: protocol.ID{1}})); res.Code == protocol.ErrRateLimited.LedgerCode {
			t.Fatal("a registry node's report was paced")
		}
	}
}

// TestCheckTxPaceSelfEnrolled: a self-enrolled account is paced harder than an admitted
// one, and all self-enrolled accounts together share one budget at each node.
func TestCheckTxPaceSelfEnrolled(t *testing.T) {
	ctx := context.Background()
	a := openTestApp(t, t.TempDir(), nil)
	defer a.Close()
	rules := protocol.DefaultAdmission
	rules.EnrolBits = 4
	nodeAcct := protocoltest.NewAccount(testChain)
	gs, _ := json.Marshal(ledger.GenesisState{Nodes: []protocol.Node{{Name: "n", API: "http://127.0.0.1:1", ProxyKey: nodeAcct.Key}}, Admission: &rules})
	t0 := time.Now()
	if _, err := a.InitChain(ctx, &abci.RequestInitChain{ChainId: testChain, Time: t0, AppStateBytes: gs}); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return t0 }
	selfs := make([]*protocoltest.Account, 2*selfPoolBurst/selfBurst)
	var enrol [][]byte
	for i := range selfs {
		selfs[i] = protocoltest.NewAccount(testChain)
		selfs[i].Clock = clock
		nonce, err := protocol.SolveEnrol(ctx, testChain, selfs[i].Key, int(rules.EnrolBits))
		if err != nil {
			t.Fatal(err)
		}
		enrol = append(enrol, selfs[i].Next(&protocol.Enrol{Nonce: nonce}))
	}
	fb, err := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: 1, Time: t0.Add(time.Second), Txs: enrol})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range fb.TxResults {
		if r.Code != 0 {
			t.Fatalf("enrol %d: %s", i, r.Log)
		}
	}
	if _, err := a.Commit(ctx, &abci.RequestCommit{}); err != nil {
		t.Fatal(err)
	}
	junk := &protocol.Revoke{Grant: protocol.ID{7}}
	paced := func(acct *protocoltest.Account) (passed int, log string) {
		for {
			res, err := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: acct.Sign(junk), Type: abci.CheckTxType_New})
			if err != nil {
				t.Fatal(err)
			}
			if res.Code == protocol.ErrRateLimited.LedgerCode {
				return passed, res.Log
			}
			if passed++; passed > senderBurst {
				t.Fatalf("a self-enrolled account passed %d transactions", passed)
			}
		}
	}
	total := 0
	var last string
	for i, acct := range selfs {
		n, log := paced(acct)
		if i == 0 && (n < selfBurst || n > selfBurst+selfRate) {
			t.Fatalf("one self-enrolled account passed %d before %q, want about %d", n, log, selfBurst)
		}
		total, last = total+n, log
	}
	if total > selfPoolBurst+selfPoolRate || !strings.Contains(last, "self-enrolled accounts send") {
		t.Fatalf("%d self-enrolled accounts passed %d together, the last refused with %q", len(selfs), total, last)
	}
}

// TestNodeEdges runs a 2-node network whose API trusts X-Forwarded-For from loopback.
func TestNodeEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nw, err := StartLocalNet(ctx, t.TempDir(), LocalNetOptions{Validators: 2, ChainID: "rr-edges",
		API: APISettings{TrustedProxyHeader: "X-Forwarded-For", TrustedProxies: []string{"127.0.0.0/8"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Stop()
	if err := nw.WaitHeight(ctx, 2); err != nil {
		t.Fatal(err)
	}

	t.Run("submissions paced per source", func(t *testing.T) {
		api := "http://" + nw.Node(0).Settings().APIAddr
		post := func(from string) int {
			// a fresh account each time, so that the mempool's pace per account stays out of it
			raw := newAcct(t).sign(t, "rr-edges", 0, &protocol.Revoke{Grant: protocol.ID{9}}) // refused at once
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/tx", bytes.NewReader(raw))
			req.Header.Set("X-Forwarded-For", from)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		var limited int
		for range submitBurst + 20 {
			if post("203.0.113.9") == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited == 0 {
			t.Fatalf("%d submissions from one source, none paced", submitBurst+20)
		}
		if code := post("2001:db8:1:2::1"); code == http.StatusTooManyRequests {
			t.Fatal("another source was paced with the first")
		}
		// one IPv6 /64 is one source, whatever address in it
		limited = 0
		for i := range submitBurst + 40 {
			if post(fmt.Sprintf("2001:db8:1:2:%x::1", i+1)) == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited == 0 {
			t.Fatal("a /64 rotating its addresses was never paced")
		}
	})

	t.Run("peers outside the registry are refused", func(t *testing.T) {
		// A full node with the network's genesis and its own key, dialling both validators.
		home := filepath.Join(t.TempDir(), "intruder")
		if _, err := initKeys(home); err != nil {
			t.Fatal(err)
		}
		gen, err := os.ReadFile(filepath.Join(nw.Homes()[0], genesisFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, genesisFile), gen, 0o600); err != nil {
			t.Fatal(err)
		}
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		var peers []string
		for i := range 2 {
			s := nw.Node(i).Settings()
			peers = append(peers, nw.Node(i).ID()+"@"+s.P2PExternal)
		}
		api, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := Settings{Moniker: "intruder", P2PListen: fmt.Sprintf("tcp://127.0.0.1:%d", port), P2PExternal: fmt.Sprintf("127.0.0.1:%d", port),
			APIAddr: fmt.Sprintf("127.0.0.1:%d", api), PersistentPeers: peers, Timing: LoopbackTiming()}
		if err := WriteSettings(home, s); err != nil {
			t.Fatal(err)
		}
		in, err := Open(home, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Start(); err != nil {
			t.Fatal(err)
		}
		defer in.Stop()
		// Long enough for several dials and the network to move on.
		h := nw.Node(0).Height()
		if err := nw.WaitHeight(ctx, h+3); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, func() bool { return nw.Node(0).cmt.Switch().Peers().Size() == 1 })
		if n := in.cmt.Switch().Peers().Size(); n != 0 {
			t.Fatalf("the intruder has %d peers", n)
		}
		if in.Height() > 0 {
			t.Fatalf("the intruder synced %d blocks", in.Height())
		}
		if got, err := nw.Node(0).App().Query(ctx, &abci.RequestQuery{Path: "/p2p/filter/id/" + in.ID()}); err != nil || got.Code == 0 {
			t.Fatalf("filter query for the intruder: %+v, %v", got, err)
		}
		if got, _ := nw.Node(0).App().Query(ctx, &abci.RequestQuery{Path: "/p2p/filter/id/" + nw.Node(1).ID()}); got.Code != 0 {
			t.Fatalf("filter query for a registry node: %+v", got)
		}
	})
}
