package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// TestStateSync: a node of a loaded 4-node network loses its disk — ledger, CometBFT's data,
// vault, blobs, last-signed state; its keys, settings and genesis stay — and comes back by
// state sync from its peers' snapshots while one peer serves tampered chunks. It ends with
// the others' app hash, serves queries, fetches its blobs again, and holds no fragment: a
// grant deposited before goes on with the other three. Then the same wipe is undone by state
// sync and by replaying every block from genesis, a few times each, and both are timed.
//
// RREC_STATESYNC_RECORDS sets how many records load the chain (default 2000);
// RREC_STATESYNC_RUNS how many timed rejoins of each kind (default 3).
func TestStateSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	records, runs := envInt(t, "RREC_STATESYNC_RECORDS", 2000), envInt(t, "RREC_STATESYNC_RUNS", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	// Small chunks at first, so that the snapshot has many and every peer serves some.
	fullChunks := node.SetSnapshotChunkTarget(16 << 10)
	defer fullChunks()
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{ChainID: "rr-statesync",
		Snapshots: node.SnapshotSettings{Interval: 20}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Stop() })
	p := &pnet{t: t, ctx: ctx, nw: nw, chain: nw.ChainID()}
	if p.nodes, err = p.snapshot().Nodes(); err != nil {
		t.Fatal(err)
	}
	const wiped, liar = 1, 2 // node 3 takes the test's transactions (pnet.submit)

	owner, doctor := newPUser(t), newPUser(t)
	data := randomBlob(t)
	c := p.upload(owner, 3, data)
	rec := p.putBlob(owner, c, len(data))
	p.waitHeld([]int{0, 1, 2, 3}, c, data)
	g := p.grant(owner, rec, doctor, time.Time{})
	if res, err := p.deposit(g); err != nil || slices.ContainsFunc(res, func(r client.DepositResult) bool { return r.Err != nil }) {
		t.Fatalf("deposit: %v %v", res, err)
	}
	started := time.Now()
	loadRecords(t, ctx, nw, records, 250)
	loaded := nw.Node(0).Height()
	t.Logf("loaded %d records in %v, height %d", records, time.Since(started).Round(time.Millisecond), loaded)
	waitSnapshots(t, ctx, nw, loaded)

	var tampered atomic.Int64
	node.TamperChunks(nw.Node(liar), func(_ uint64, _ uint32, chunk []byte) []byte {
		tampered.Add(1)
		b := bytes.Clone(chunk)
		b[len(b)/2] ^= 0x20
		return b
	})
	d := rejoin(t, ctx, nw, wiped, true)
	t.Logf("state sync with a lying peer: caught up in %v", d.Round(time.Millisecond))
	n := nw.Node(wiped)

	t.Run("restored by state sync, the lying peer's chunks refused", func(t *testing.T) {
		if base := node.BlockBase(n); base <= 1 {
			t.Fatalf("block store starts at %d: the node replayed from genesis", base)
		}
		if tampered.Load() == 0 {
			t.Fatal("the lying peer was never asked for a chunk") // (2/3)^chunks: never in practice
		}
		s, err := node.ScrapeMetrics(ctx, nil, n.MetricsAddr())
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Sum("rrec_ledger_snapshot_refusals_total", "what", "chunk"); got < 1 {
			t.Fatalf("%v tampered chunks refused, %d served", got, tampered.Load())
		}
	})
	node.TamperChunks(nw.Node(liar), nil)
	// The timed rejoins restore snapshots of the chunk size every node uses.
	fullChunks()
	waitSnapshots(t, ctx, nw, nw.Node(0).Height())

	t.Run("same app hash as the others at a common height", func(t *testing.T) {
		sameAppHash(t, ctx, nw)
	})

	t.Run("serves queries", func(t *testing.T) {
		var got, want protocol.Record
		for i, out := range map[int]*protocol.Record{wiped: &got, 0: &want} {
			if _, err := nw.Node(i).RPC().Query(ctx, "/record/"+rec.id.String(), out); err != nil {
				t.Fatalf("node %d: %v", i, err)
			}
		}
		if string(got.CID) != c.String() || got.ID != want.ID || string(got.CID) != string(want.CID) {
			t.Fatalf("record from the restored node: %+v, want %+v", got, want)
		}
		api := "http://" + n.Settings().APIAddr + "/v1/query/record/" + rec.id.String()
		var res protocol.QueryResult
		if code := apiCall(t, "GET", api, nil, &res); code != 200 || res.Height == 0 {
			t.Fatalf("API query: %d %+v", code, res)
		}
	})

	t.Run("its blobs are fetched again", func(t *testing.T) {
		p.waitHeld([]int{wiped}, c, data)
	})

	t.Run("its vault is empty: the grant goes on with the other three", func(t *testing.T) {
		if n.Vault().Has(g.id) {
			t.Fatal("a wiped node holds a fragment")
		}
		got, err := p.gather(p.request(doctor, g), doctor, p.nodes)
		if err != nil {
			t.Fatal(err)
		}
		w := got.Nodes[wiped]
		if w.Outcome == client.Verified || (w.Outcome == client.Refused && !errors.Is(w.Err, protocol.ErrNoFragment)) || len(got.CFrags) != 3 {
			t.Fatalf("the wiped node: %v %v; %d cfrags", w.Outcome, w.Err, len(got.CFrags))
		}
		p.open(rec, doctor, got)
	})

	t.Run("it tells the ledger it holds no fragment of the live grant", func(t *testing.T) {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			gs, err := p.snapshot().Grant(g.id)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(gs.Destroyed, wiped) && gs.LiveAt(time.Now().UnixNano()) == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the grant's destroyed list is %v, want node %d in it", gs.Destroyed, wiped)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, err := os.Stat(filepath.Join(n.Home(), "data", "fragments_lost")); !os.IsNotExist(err) {
			t.Fatalf("the lost-fragments mark stays after the report: %v", err)
		}
	})

	var bySync, byReplay []time.Duration
	for range runs {
		bySync = append(bySync, rejoin(t, ctx, nw, wiped, true))
		byReplay = append(byReplay, rejoin(t, ctx, nw, wiped, false))
		if base := node.BlockBase(nw.Node(wiped)); base != 1 {
			t.Fatalf("after a replay the block store starts at %d", base)
		}
	}
	sameAppHash(t, ctx, nw)
	t.Logf("STATESYNC records=%d height=%d state_sync_median=%.2fs block_replay_median=%.2fs (runs %v / %v)",
		records, nw.Node(0).Height(), median(bySync).Seconds(), median(byReplay).Seconds(), bySync, byReplay)
}

// TestRetainAndRejoin: nodes that keep only their newest blocks (retain_blocks) prune their
// block stores, never past their oldest snapshot, and a wiped node still rejoins them by
// state sync.
func TestRetainAndRejoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const retain, interval = 5, 10
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{ChainID: "rr-retain",
		Snapshots: node.SnapshotSettings{Interval: interval, Keep: 1}, RetainBlocks: retain, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Stop() })
	loadRecords(t, ctx, nw, 40*8, 8) // a block for each 8
	waitSnapshots(t, ctx, nw, 3*interval)
	for i, n := range nw.Running() {
		ls, _ := n.App().ListSnapshots(ctx, &abci.RequestListSnapshots{})
		base, oldest := node.BlockBase(n), int64(ls.Snapshots[len(ls.Snapshots)-1].Height)
		if base <= 1 || base > oldest || base < n.Height()-retain-interval {
			t.Fatalf("node %d at height %d keeps blocks from %d; its oldest snapshot is %d", i, n.Height(), base, oldest)
		}
	}
	d := rejoin(t, ctx, nw, 1, true)
	t.Logf("rejoined pruned peers by state sync in %v", d.Round(time.Millisecond))
	sameAppHash(t, ctx, nw)
}

// waitSnapshots waits until every node has a snapshot above height (all take the same).
func waitSnapshots(t *testing.T, ctx context.Context, nw *node.LocalNet, height int64) {
	t.Helper()
	waitUntil(t, ctx, func() bool {
		for _, n := range nw.Running() {
			ls, _ := n.App().ListSnapshots(ctx, &abci.RequestListSnapshots{})
			if len(ls.Snapshots) == 0 || ls.Snapshots[0].Height <= uint64(height) {
				return false
			}
		}
		return true
	})
}

// loadRecords commits n records with unparsable CIDs (no blob to replicate), in full blocks:
// one transaction of each of many accounts at a time, since a node whose mempool missed an
// account's transaction while it took the next one would propose that one out of order.
func loadRecords(t *testing.T, ctx context.Context, nw *node.LocalNet, n, accountCount int) {
	t.Helper()
	accounts := protocoltest.NewAccounts(nw.ChainID(), accountCount)
	const perRound = 1
	for sent := 0; sent < n; {
		var pending []*node.Pending
		for ai, a := range accounts {
			for k := 0; k < perRound && sent < n; k++ {
				raw := a.Next(protocoltest.PutRecord(fmt.Sprintf("load-%d-%d", ai, a.Seq), 100))
				pd, err := nw.Node(3).RPC().Broadcast(ctx, raw)
				if err != nil {
					t.Fatalf("record %d: %v", sent, err)
				}
				pending = append(pending, pd)
				sent++
			}
		}
		for _, pd := range pending {
			if r, err := pd.Wait(ctx); err != nil || r.Code != 0 {
				t.Fatalf("load: %+v, %v", r, err)
			}
		}
	}
}

// rejoin stops node i, wipes its data and its last-signed state (a lost disk), brings it
// back by state sync or by replay, and returns how long it took to commit the height the
// others had when it restarted, with its state served.
func rejoin(t *testing.T, ctx context.Context, nw *node.LocalNet, i int, stateSync bool) time.Duration {
	t.Helper()
	if err := nw.StopNode(i); err != nil {
		t.Fatal(err)
	}
	home := nw.Homes()[i]
	if err := node.WipeData(home, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(home, "data", "priv_validator_state.json")); err != nil {
		t.Fatal(err)
	}
	var target int64
	for _, o := range nw.Running() {
		target = max(target, o.Height())
	}
	t0 := time.Now()
	if err := nw.Rejoin(ctx, i, stateSync); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		n := nw.Node(i)
		if h, _, _ := n.App().LastCommit(); h >= target && !n.App().Provisional() {
			return time.Since(t0)
		}
		if time.Now().After(deadline) {
			h, _, _ := n.App().LastCommit()
			t.Fatalf("node %d (state sync %v) at height %d, not %d, after %v", i, stateSync, h, target, time.Since(t0))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sameAppHash waits for a moment when every node has committed the same height, and wants
// the same app hash from all of them there.
func sameAppHash(t *testing.T, ctx context.Context, nw *node.LocalNet) {
	t.Helper()
	waitUntil(t, ctx, func() bool {
		var h0 int64
		var hash0 []byte
		for i, n := range nw.Running() {
			h, _, hash := n.App().LastCommit()
			if i == 0 {
				h0, hash0 = h, hash
				continue
			}
			if h != h0 {
				return false // try again
			}
			if !bytes.Equal(hash, hash0) {
				t.Fatalf("height %d: node %d's app hash %x, node 0's %x", h, i, hash, hash0)
			}
		}
		return len(nw.Running()) == nw.Size()
	})
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
