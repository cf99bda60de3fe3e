package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// The state sync surface of the App driven directly: snapshots taken at Commit, served,
// and restored into an empty App, honest, tampered with and forged.

// chain drives an App through genesis and blocks, as CometBFT would.
type chain struct {
	t      *testing.T
	a      *App
	t0     time.Time
	height int64
	nodes  []protocol.PubKey
	owners []*protocoltest.Account
	hashes map[int64][]byte // app hash after each height
}

func newChain(t *testing.T, opts AppOptions) *chain {
	t.Helper()
	opts.ChainID = testChain
	a, err := OpenApp(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	c := &chain{t: t, a: a, t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), hashes: map[int64][]byte{}}
	var nodes []protocol.Node
	for _, acct := range protocoltest.NewAccounts(testChain, 4) {
		nodes = append(nodes, protocol.Node{Name: "n", API: "http://127.0.0.1:1", ProxyKey: acct.Key})
		c.nodes = append(c.nodes, acct.Key)
	}
	gs, _ := json.Marshal(ledger.GenesisState{Nodes: nodes})
	ic, err := a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: testChain, Time: c.t0, AppStateBytes: gs})
	if err != nil {
		t.Fatal(err)
	}
	c.hashes[0] = ic.AppHash
	for range 3 {
		o := protocoltest.NewAccount(testChain)
		o.Clock = func() time.Time { return c.t0 }
		c.owners = append(c.owners, o)
	}
	return c
}

// block finalizes and commits the next block with a put and a grant per owner.
func (c *chain) block() *abci.ResponseCommit {
	c.t.Helper()
	var txs [][]byte
	for i, o := range c.owners {
		rec := o.RecordID()
		txs = append(txs, o.Next(protocoltest.PutRecord(fmt.Sprintf("bafy-%d-%d-%d", i, c.height, o.Seq), 10)))
		txs = append(txs, o.Next(protocoltest.Grant(rec, o.Key, c.nodes, 0)))
	}
	return c.run(txs)
}

func (c *chain) run(txs [][]byte) *abci.ResponseCommit {
	c.t.Helper()
	return runBlock(c.t, c.a, c.height+1, c.t0.Add(time.Duration(c.height+1)*time.Second), txs, func(h []byte) {
		c.height++
		c.hashes[c.height] = h
	})
}

func runBlock(t *testing.T, a *App, height int64, at time.Time, txs [][]byte, done func(appHash []byte)) *abci.ResponseCommit {
	t.Helper()
	ctx := context.Background()
	fb, err := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: height, Time: at, Txs: txs})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range fb.TxResults {
		if r.Code != 0 {
			t.Fatalf("block %d tx %d: %d %s", height, i, r.Code, r.Log)
		}
	}
	rc, err := a.Commit(ctx, &abci.RequestCommit{})
	if err != nil {
		t.Fatal(err)
	}
	done(fb.AppHash)
	return rc
}

// waitSnapshot waits until a snapshot of height is on disk and returns it.
func waitSnapshot(t *testing.T, a *App, height uint64) *abci.Snapshot {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ls, _ := a.ListSnapshots(context.Background(), &abci.RequestListSnapshots{})
		for _, s := range ls.Snapshots {
			if s.Height == height {
				return s
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no snapshot of height %d", height)
	return nil
}

func chunksOf(t *testing.T, a *App, s *abci.Snapshot) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range s.Chunks {
		r, _ := a.LoadSnapshotChunk(context.Background(), &abci.RequestLoadSnapshotChunk{Height: s.Height, Format: s.Format, Chunk: i})
		if r.Chunk == nil {
			t.Fatalf("chunk %d of %d missing", i, s.Chunks)
		}
		out = append(out, r.Chunk)
	}
	return out
}

// smallChunks cuts snapshots into chunks of about n bytes for the test.
func smallChunks(t *testing.T, n int) {
	old := snapshotChunkTarget.Swap(int64(n))
	t.Cleanup(func() { snapshotChunkTarget.Store(old) })
}

func emptyApp(t *testing.T) (*App, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := OpenApp(dir, AppOptions{ChainID: testChain})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dir
}

func offer(t *testing.T, b *App, s *abci.Snapshot, appHash []byte) abci.ResponseOfferSnapshot_Result {
	t.Helper()
	r, err := b.OfferSnapshot(context.Background(), &abci.RequestOfferSnapshot{Snapshot: s, AppHash: appHash})
	if err != nil {
		t.Fatal(err)
	}
	return r.Result
}

func apply(t *testing.T, b *App, i uint32, chunk []byte, sender string) *abci.ResponseApplySnapshotChunk {
	t.Helper()
	r, err := b.ApplySnapshotChunk(context.Background(), &abci.RequestApplySnapshotChunk{Index: i, Chunk: chunk, Sender: sender})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSnapshotRestore(t *testing.T) {
	smallChunks(t, 600)
	c := newChain(t, AppOptions{SnapshotDir: t.TempDir(), Snapshots: SnapshotSettings{Interval: 2, Keep: 2}})
	for range 4 {
		c.block()
		if c.height == 2 {
			waitSnapshot(t, c.a, 2) // one is written at a time: 4 would be skipped
		}
	}
	s := waitSnapshot(t, c.a, 4)
	if s.Chunks < 3 {
		t.Fatalf("want several chunks, got %d", s.Chunks)
	}
	if ls, _ := c.a.ListSnapshots(context.Background(), &abci.RequestListSnapshots{}); len(ls.Snapshots) != 2 {
		t.Fatalf("%d snapshots kept, want 2", len(ls.Snapshots))
	}
	chunks := chunksOf(t, c.a, s)
	for _, ch := range chunks {
		if len(ch) > 600+400 {
			t.Fatalf("chunk of %d bytes for a target of 600", len(ch))
		}
	}

	b, dir := emptyApp(t)
	if got := offer(t, b, s, c.hashes[4]); got != abci.ResponseOfferSnapshot_ACCEPT {
		t.Fatalf("offer: %v", got)
	}
	for i, ch := range chunks {
		if r := apply(t, b, uint32(i), ch, "peer"); r.Result != abci.ResponseApplySnapshotChunk_ACCEPT {
			t.Fatalf("chunk %d: %v", i, r)
		}
	}
	info, _ := b.Info(context.Background(), &abci.RequestInfo{})
	if info.LastBlockHeight != 4 || !bytes.Equal(info.LastBlockAppHash, c.hashes[4]) || b.ChainID() != testChain {
		t.Fatalf("after restore: %+v", info)
	}
	// The block time is the snapshot's word until a block commits: nothing is served.
	if _, err := b.Committed(); err == nil || !b.Provisional() {
		t.Fatal("a state just restored is served")
	}
	// Block 5 on both gives the same app hash, and the restored App serves again.
	var txs [][]byte
	for i, o := range c.owners {
		txs = append(txs, o.Next(protocoltest.PutRecord(fmt.Sprintf("bafy-after-%d", i), 3)))
	}
	c.run(txs)
	runBlock(t, b, 5, c.t0.Add(5*time.Second), txs, func(h []byte) {
		if !bytes.Equal(h, c.hashes[5]) {
			t.Fatal("the restored App computes another app hash for the next block")
		}
	})
	sn, err := b.Committed()
	if err != nil {
		t.Fatal(err)
	}
	if r, err := sn.RecordsOf(c.owners[0].Key, 0, 10); err != nil || len(r.Items) != 5 {
		t.Fatalf("records of an owner after restore: %v, %v", r, err)
	}
	sn.Release()
	// The state hash kept is the one a reopened App loads, and the state's own.
	b.Close()
	b2, err := OpenApp(dir, AppOptions{ChainID: testChain})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	fresh, err := ledger.HashState(dbStore(b2.db))
	if err != nil || !bytes.Equal(fresh.AppHash(), c.hashes[5]) || *b2.state != *fresh {
		t.Fatalf("reopened: state hash does not match the state (%v)", err)
	}
	if _, err := OpenApp(dir, AppOptions{ChainID: "another-chain"}); err == nil {
		t.Fatal("opened a ledger of another chain")
	}
}

// TestRetainHeight: with retain_blocks, CometBFT may prune all but the newest blocks, never
// past the oldest snapshot on disk, and nothing while snapshots are on and none is on disk.
func TestRetainHeight(t *testing.T) {
	plain := newChain(t, AppOptions{RetainBlocks: 3})
	for h := int64(1); h <= 5; h++ {
		want := max(0, h-2)
		if h <= 3 {
			want = 0
		}
		if r := plain.run(nil); r.RetainHeight != want {
			t.Fatalf("without snapshots, height %d: retain %d, want %d", h, r.RetainHeight, want)
		}
	}
	snap := newChain(t, AppOptions{RetainBlocks: 3, SnapshotDir: t.TempDir(), Snapshots: SnapshotSettings{Interval: 6}})
	for range 6 {
		if r := snap.run(nil); r.RetainHeight != 0 {
			t.Fatalf("with snapshots on and none on disk, height %d: retain %d", snap.height, r.RetainHeight)
		}
	}
	waitSnapshot(t, snap.a, 6)
	if r := snap.run(nil); r.RetainHeight != 5 {
		t.Fatalf("height 7: retain %d, want 5", r.RetainHeight)
	}
	for range 3 {
		snap.run(nil)
	}
	if r := snap.run(nil); r.RetainHeight != 6 {
		t.Fatalf("height %d: retain %d, want the oldest snapshot, 6", snap.height, r.RetainHeight)
	}
	if _, err := OpenApp(t.TempDir(), AppOptions{RetainBlocks: -1}); err == nil {
		t.Fatal("negative retain_blocks accepted")
	}
}

// TestSnapshotFiles: snapshots left half-written are removed at open, the newest Keep stay,
// and only whole chunks are served.
func TestSnapshotFiles(t *testing.T) {
	smallChunks(t, 600)
	dir := t.TempDir()
	c := newChain(t, AppOptions{SnapshotDir: dir, Snapshots: SnapshotSettings{Interval: 1, Keep: 2}})
	for range 3 {
		c.block()
		waitSnapshot(t, c.a, uint64(c.height))
	}
	ls, _ := c.a.ListSnapshots(context.Background(), &abci.RequestListSnapshots{})
	if len(ls.Snapshots) != 2 || ls.Snapshots[0].Height != 3 || ls.Snapshots[1].Height != 2 {
		t.Fatalf("snapshots kept: %v", ls.Snapshots)
	}
	s := ls.Snapshots[0]
	for _, q := range []abci.RequestLoadSnapshotChunk{{Height: 3, Format: 2}, {Height: 1, Format: 1}, {Height: 3, Format: 1, Chunk: s.Chunks}} {
		if r, _ := c.a.LoadSnapshotChunk(context.Background(), &q); r.Chunk != nil {
			t.Fatalf("served a chunk for %+v", q)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, ".9.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "3", "metadata"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.a.snaps.close()
	again, err := openSnapshots(dir, SnapshotSettings{Interval: 1, Keep: 2}, c.a.log)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.advertised(); len(got) != 1 || got[0].Height != 2 {
		t.Fatalf("after reopening: %v", got)
	}
	for _, gone := range []string{".9.tmp", "3", "1"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Fatalf("%s still there: %v", gone, err)
		}
	}
	if _, err := openSnapshots(dir, SnapshotSettings{Interval: -1}, c.a.log); err == nil {
		t.Fatal("a negative interval accepted")
	}
}
