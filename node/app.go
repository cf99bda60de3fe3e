package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"golang.org/x/time/rate"

	"github.com/resilientrecords/resilientrecords/internal/source"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// App is the ledger's ABCI 2.0 application: package ledger's state machine over a goleveldb
// database in the node's home. It is safe for CometBFT's connection-synchronised local
// client, where the mempool connection (CheckTx) runs concurrently with the consensus
// connection (FinalizeBlock, Commit) and queries: mu guards the committed-state fields,
// checkMu the mempool view, and the pending block belongs to the consensus connection.
type App struct {
	abci.BaseApplication

	db     *leveldb.DB
	log    *slog.Logger
	hook   func(ledger.CommitInfo)
	snaps  *snapshots // nil: the node takes no snapshots
	retain int64      // blocks CometBFT keeps (0: all)

	mu        sync.RWMutex
	nodes     ledger.Registry
	chainID   string
	height    int64
	state     *ledger.StateHash // the committed state's hash vector; appHash is its AppHash
	appHash   []byte
	blockTime int64
	// provisional: the state was restored from a snapshot and no block has committed since;
	// its block time is the snapshot's word (restore.go), so nothing is served from it.
	provisional bool

	checkMu sync.Mutex
	check   *ledger.Mempool // committed state plus mempool transactions; under checkMu
	pending *pendingBlock
	sigs    *sigCache
	senders *source.Limiter // CheckTx of new transactions, per signer
	selfs   *source.Limiter // and again per signer, for self-enrolled accounts
	selfAll *rate.Limiter   // all self-enrolled accounts together

	peers map[string]bool // p2p ids this node accepts; nil: any

	metrics *appMetrics

	restore *restoring // a state sync's restore under way (snapshot connection only)
	// tamper, in tests, changes the chunks this node serves: a peer that lies.
	tamper atomic.Pointer[func(height uint64, index uint32, chunk []byte) []byte]
}

// Each account's pace at one node's mempool: a clinic's integration stays well below it, and
// a flood needs many accounts, each admitted. Registry nodes' own reports are not limited.
//
// Self-enrolled accounts cost only proof of work, so they are paced harder — a patient acts
// a few times a minute — and share one budget of the chain's capacity, so that however many
// enrol, the accounts a registry admitted keep the rest (the chain commits over a thousand
// transactions a second on modest hardware).
const (
	senderRate     = 50 // transactions a second
	senderBurst    = 200
	senderInFlight = 64 // transactions waiting in the mempool
	maxSenders     = 1 << 16

	selfRate      = 5
	selfBurst     = 50
	selfPoolRate  = 200
	selfPoolBurst = 400
)

type pendingBlock struct {
	height int64
	time   int64
	x      *ledger.Executed
}

// AppOptions configure an App.
type AppOptions struct {
	Logger *slog.Logger // nil: discard
	// OnCommit, if set, runs inside ABCI Commit after the block's state is durable and
	// before CometBFT moves on, so a vault can delete fragments as part of committing. It
	// must not call back into ABCI; it may use App.Committed.
	OnCommit func(ledger.CommitInfo)
	// NoSigCache makes FinalizeBlock verify every signature again even when CheckTx on this
	// node already did (for measuring what the cache saves).
	NoSigCache bool
	// Peers are the p2p ids of the nodes this node connects with (CometBFT asks through
	// the /p2p/filter/ queries); nil accepts any.
	Peers []string
	// Metrics, if set, is where the App registers the ledger's metrics (metrics.go).
	Metrics prometheus.Registerer
	// ChainID is the chain id of the node's genesis. InitChain refuses another, and a state
	// restored from a snapshot (where InitChain never runs) takes it.
	ChainID string
	// SnapshotDir, if set, is where the App keeps snapshots of its state for nodes that
	// rejoin by state sync, taken as Snapshots says (snapshotstore.go).
	SnapshotDir string
	Snapshots   SnapshotSettings
	// RetainBlocks, if positive, lets CometBFT prune blocks older than the newest
	// RetainBlocks (never past the oldest snapshot on disk); 0 keeps every block.
	RetainBlocks int64
}

// OpenApp opens (or creates) the application's state database in dir.
func OpenApp(dir string, opts AppOptions) (*App, error) {
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		return nil, fmt.Errorf("node: open ledger state: %w", err)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if opts.RetainBlocks < 0 {
		db.Close()
		return nil, fmt.Errorf("node: retain_blocks %d cannot be negative (0 keeps every block)", opts.RetainBlocks)
	}
	a := &App{db: db, log: lg, hook: opts.OnCommit, retain: opts.RetainBlocks, sigs: newSigCache(1 << 16),
		senders: source.NewLimiter(senderRate, senderBurst, maxSenders),
		selfs:   source.NewLimiter(selfRate, selfBurst, maxSenders),
		selfAll: rate.NewLimiter(selfPoolRate, selfPoolBurst), metrics: newAppMetrics(opts.Metrics)}
	if opts.Peers != nil {
		a.peers = map[string]bool{}
		for _, id := range opts.Peers {
			a.peers[id] = true
		}
	}
	if opts.NoSigCache {
		a.sigs.max = 0
	}
	if err := a.load(opts.ChainID); err != nil {
		db.Close()
		return nil, err
	}
	if opts.SnapshotDir != "" && !opts.Snapshots.Off {
		if a.snaps, err = openSnapshots(opts.SnapshotDir, opts.Snapshots, lg); err != nil {
			db.Close()
			return nil, err
		}
	}
	a.metrics.committed(a.height, a.blockTime)
	return a, nil
}

func (a *App) load(genesisChainID string) error {
	st := dbStore(a.db)
	if m, err := st.Get(metaRestoring); err != nil {
		return err
	} else if m != nil {
		a.log.Warn("node: deleting the part of a snapshot a restore left unfinished")
		if err := a.wipe(false); err != nil {
			return err
		}
	}
	h, err := st.Get(metaHeight)
	if err != nil {
		return err
	}
	t, err := st.Get(metaTime)
	if err != nil {
		return err
	}
	if (h != nil && len(h) != 8) || (t != nil && len(t) != 8) {
		return errors.New("node: ledger state: corrupt height or time")
	}
	a.height, a.blockTime = int64(u64(h)), int64(u64(t))
	a.appHash, _ = st.Get(metaAppHash)
	c, _ := st.Get(metaChainID)
	a.chainID = string(c)
	if a.chainID == "" {
		a.chainID = genesisChainID
	} else if genesisChainID != "" && genesisChainID != a.chainID {
		return fmt.Errorf("node: ledger state is of chain %q, genesis of %q", a.chainID, genesisChainID)
	}
	if a.state, err = loadStateHash(st, a.appHash); err != nil {
		return err
	}
	if a.nodes, err = ledger.LoadRegistry(st); err != nil {
		return err
	}
	a.check = ledger.NewMempool(st)
	return nil
}

// Close stops a snapshot being written and closes the state database.
func (a *App) Close() error {
	a.snaps.close()
	return a.db.Close()
}

// Info reports the last committed height and app hash so that CometBFT replays the blocks
// this node has not applied yet.
func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return &abci.ResponseInfo{Data: "resilientrecords-ledger", Version: "3", AppVersion: 1,
		LastBlockHeight: a.height, LastBlockAppHash: a.appHash}, nil
}

// InitChain writes the registry. It persists at once: it is a pure function of genesis, so a
// repeat after a crash before the first block writes the same bytes.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	if len(req.ChainId) == 0 || len(req.ChainId) > protocol.MaxChainID {
		return nil, fmt.Errorf("node: chain id must be 1..%d bytes", protocol.MaxChainID)
	}
	if c := a.ChainID(); c != "" && c != req.ChainId {
		return nil, fmt.Errorf("node: InitChain for chain %q, genesis says %q", req.ChainId, c)
	}
	ws, sh, err := ledger.Genesis(req.AppStateBytes)
	if err != nil {
		return nil, err
	}
	hash := sh.AppHash()
	t := req.Time.UnixNano()
	b := new(leveldb.Batch)
	for _, w := range ws {
		b.Put(w.Key, w.Value)
	}
	shb, _ := sh.MarshalBinary()
	b.Put(metaState, shb)
	b.Put(metaAppHash, hash)
	b.Put(metaTime, u64b(uint64(t)))
	b.Put(metaChainID, []byte(req.ChainId))
	if err := a.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		return nil, fmt.Errorf("node: persist genesis: %w", err)
	}
	nodes, err := ledger.LoadRegistry(dbStore(a.db))
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.chainID, a.state, a.appHash, a.blockTime, a.nodes = req.ChainId, sh, hash, t, nodes
	a.mu.Unlock()
	a.resetCheck()
	return &abci.ResponseInitChain{AppHash: hash}, nil
}

// CheckTx applies the same rules as FinalizeBlock against committed state plus the
// transactions already admitted to this node's mempool.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	a.mu.RLock()
	bc := ledger.BlockContext{ChainID: a.chainID, Height: a.height + 1, Time: a.blockTime, Nodes: a.nodes}
	a.mu.RUnlock()
	started := time.Now()
	defer func() {
		took := time.Since(started)
		a.metrics.check.WithLabelValues(checkKind(req.Type)).Observe(took.Seconds())
		if a.log.Enabled(context.Background(), slog.LevelDebug) {
			a.log.Debug("ledger checktx "+req.Type.String(), "took", took)
		}
	}()
	hash := protocol.TxHash(req.Tx)
	known := a.sigs.has(hash)
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	if req.Type == abci.CheckTxType_New {
		if err := a.pace(bc, req.Tx); err != nil {
			return a.refuse(err), nil
		}
	}
	if err := a.check.Check(bc, req.Tx, known); err != nil {
		if req.Type != abci.CheckTxType_New {
			// A recheck evicts what the last block made invalid: no client was refused.
			return &abci.ResponseCheckTx{Code: protocol.LedgerCode(err), Log: err.Error()}, nil
		}
		return a.refuse(err), nil
	}
	if !known {
		a.sigs.add(hash)
	}
	return &abci.ResponseCheckTx{}, nil
}

// refuse answers CheckTx's refusal of a new transaction, and counts it.
func (a *App) refuse(err error) *abci.ResponseCheckTx {
	code := protocol.LedgerCode(err)
	a.metrics.refused.WithLabelValues(protocol.CodeName(code)).Inc()
	return &abci.ResponseCheckTx{Code: code, Log: err.Error()}
}

// pace refuses a new transaction whose signer sends faster than senderRate, or has
// senderInFlight transactions waiting; checkMu is held. A refusal here is this node's alone
// (other nodes may take the transaction): a mempool's limit, not a rule of the ledger.
func (a *App) pace(bc ledger.BlockContext, raw []byte) error {
	tx, err := protocol.ParseTx(raw)
	if err != nil || bc.Nodes[tx.Signer] {
		return nil // Check refuses what does not parse
	}
	if n, err := a.check.InFlight(tx.Signer); err != nil {
		return err
	} else if n >= senderInFlight {
		return protocol.Errorf(protocol.ErrRateLimited, "account %s has %d transactions waiting for a block at this node", tx.Signer, n)
	}
	now := time.Now()
	if !a.senders.Allow(tx.Signer.String(), now) {
		return protocol.Errorf(protocol.ErrRateLimited, "account %s sends more than %d transactions a second to this node", tx.Signer, senderRate)
	}
	if tier, err := a.check.Tier(tx.Signer); err != nil {
		return err
	} else if tier != protocol.TierSelf {
		return nil
	}
	if !a.selfs.Allow(tx.Signer.String(), now) {
		return protocol.Errorf(protocol.ErrRateLimited, "self-enrolled account %s sends more than %d transactions a second to this node", tx.Signer, selfRate)
	}
	if !a.selfAll.AllowN(now, 1) {
		return protocol.Errorf(protocol.ErrRateLimited, "self-enrolled accounts send more than %d transactions a second to this node: try again shortly", selfPoolRate)
	}
	return nil
}

// ProcessProposal rejects blocks that carry undecodable transactions; decodable but
// unauthorised ones fail individually in FinalizeBlock.
func (a *App) ProcessProposal(_ context.Context, req *abci.RequestProcessProposal) (*abci.ResponseProcessProposal, error) {
	for _, raw := range req.Txs {
		if a.sigs.has(protocol.TxHash(raw)) {
			continue // this node's CheckTx already validated these bytes
		}
		if _, err := protocol.DecodeTx(raw); err != nil {
			return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_REJECT}, nil
		}
	}
	return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_ACCEPT}, nil
}

// FinalizeBlock executes a block deterministically and returns its app hash; nothing is
// persisted until Commit.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	a.mu.RLock()
	chainID, nodes, prev := a.chainID, a.nodes, a.state
	a.mu.RUnlock()
	started := time.Now()
	b := ledger.Block{Height: req.Height, Time: req.Time.UnixNano(), Txs: req.Txs}
	x, err := ledger.Execute(dbStore(a.db), chainID, nodes, prev, b, a.sigs.take)
	if err != nil {
		return nil, err
	}
	took := time.Since(started)
	a.metrics.finalize.Observe(took.Seconds())
	a.log.Debug("ledger finalize block", "height", req.Height, "txs", len(req.Txs), "took", took)
	resp := &abci.ResponseFinalizeBlock{TxResults: make([]*abci.ExecTxResult, len(x.Results)),
		Events: abciEvents(x.Events), AppHash: x.AppHash}
	for i, r := range x.Results {
		resp.TxResults[i] = &abci.ExecTxResult{Code: r.Code, Log: r.Log, Events: abciEvents(r.Events)}
	}
	a.pending = &pendingBlock{height: b.Height, time: b.Time, x: x}
	a.metrics.finalized(req.Txs, func(i int) uint32 { return x.Results[i].Code })
	return resp, nil
}

func abciEvents(evs []ledger.Event) []abci.Event {
	out := make([]abci.Event, len(evs))
	for i, e := range evs {
		out[i].Type = e.Type
		for _, at := range e.Attrs {
			out[i].Attributes = append(out[i].Attributes, abci.EventAttribute{Key: at.Key, Value: at.Value, Index: at.Index})
		}
	}
	return out
}

// Commit persists the pending block atomically (state writes and the new height, time and
// app hash in one synced batch), then runs the hook.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	p := a.pending
	if p == nil {
		return nil, errors.New("node: commit without a finalized block")
	}
	started := time.Now()
	b := new(leveldb.Batch)
	for _, w := range p.x.Writes {
		if w.Value == nil {
			b.Delete(w.Key)
		} else {
			b.Put(w.Key, w.Value)
		}
	}
	b.Put(metaHeight, u64b(uint64(p.height)))
	b.Put(metaTime, u64b(uint64(p.time)))
	if len(p.x.Writes) > 0 {
		shb, _ := p.x.State.MarshalBinary()
		b.Put(metaState, shb)
	}
	b.Put(metaAppHash, p.x.AppHash)
	if err := a.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		return nil, fmt.Errorf("node: persist block %d: %w", p.height, err)
	}
	a.metrics.commit.Observe(time.Since(started).Seconds())
	a.mu.Lock()
	a.height, a.blockTime, a.state, a.appHash = p.height, p.time, p.x.State, p.x.AppHash
	a.provisional = false
	a.mu.Unlock()
	a.metrics.committed(p.height, p.time)
	a.pending = nil
	a.resetCheck() // CometBFT rechecks the mempool next
	if len(p.x.Writes) > 0 {
		a.log.Debug("ledger commit", "height", p.height, "writes", len(p.x.Writes))
	}
	if a.snaps.due(p.height) {
		if s, err := a.db.GetSnapshot(); err != nil {
			a.log.Error("node: snapshot", "height", p.height, "err", err)
		} else {
			a.snaps.take(s, p.height, p.time)
		}
	}
	if a.hook != nil {
		a.hook(p.x.Commit)
	}
	return &abci.ResponseCommit{RetainHeight: a.retainHeight(p.height)}, nil
}

// retainHeight is the lowest block CometBFT must keep after committing height: the newest
// RetainBlocks, and never a block past the oldest snapshot on disk, whose headers a node
// restoring it verifies; with snapshots on and none taken yet, every block.
func (a *App) retainHeight(height int64) int64 {
	if a.retain <= 0 || height <= a.retain {
		return 0
	}
	r := height - a.retain + 1
	if a.snaps != nil {
		r = min(r, a.snaps.oldest())
	}
	return r
}

// resetCheck drops the mempool view. CometBFT holds its mempool lock across Commit and the
// recheck that follows, so no CheckTx of the old view interleaves.
func (a *App) resetCheck() {
	a.checkMu.Lock()
	a.check = ledger.NewMempool(dbStore(a.db))
	a.checkMu.Unlock()
}

// Query answers ABCI queries (CometBFT's RPC, and its peer filter); the node's HTTP API calls
// Committed directly.
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	if id, ok := strings.CutPrefix(req.Path, "/p2p/filter/id/"); ok {
		if a.peers != nil && !a.peers[id] {
			return &abci.ResponseQuery{Code: protocol.ErrUnauthorized.LedgerCode, Log: "peer " + id + " is not a node of the registry"}, nil
		}
		return &abci.ResponseQuery{}, nil
	}
	if strings.HasPrefix(req.Path, "/p2p/filter/addr/") {
		return &abci.ResponseQuery{}, nil // peers are known by id, whatever their address
	}
	res := a.query(req.Path)
	return &abci.ResponseQuery{Code: protocol.LedgerCode(res.err), Log: errLog(res.err), Value: res.value, Height: res.height}, nil
}

type queryAnswer struct {
	value  []byte
	height int64
	time   int64 // block time of height
	err    error
}

// query runs a ledger query path against the committed state, answering JSON.
func (a *App) query(path string) queryAnswer {
	s, err := a.Committed()
	if err != nil {
		return queryAnswer{err: err}
	}
	defer s.Release()
	v, err := s.Query(path)
	if err != nil {
		return queryAnswer{height: s.Height, time: s.Time, err: err}
	}
	b, err := jsonValue(v)
	return queryAnswer{value: b, height: s.Height, time: s.Time, err: err}
}

func errLog(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Committed returns a snapshot of the last committed state. A state just restored from a
// snapshot is not served until the next block commits (restore.go).
func (a *App) Committed() (*ledger.Snapshot, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.provisional {
		return nil, protocol.Errorf(protocol.ErrUnavailable, "restored from a snapshot at height %d; serving from the next block", a.height)
	}
	s, err := a.db.GetSnapshot()
	if err != nil {
		return nil, fmt.Errorf("node: snapshot: %w", err)
	}
	return ledger.NewSnapshot(snapStore(s), s.Release, a.chainID, a.height, a.blockTime, append([]byte(nil), a.appHash...)), nil
}

// LastCommit returns the committed height, block time and app hash.
func (a *App) LastCommit() (height int64, blockTime int64, appHash []byte) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.height, a.blockTime, append([]byte(nil), a.appHash...)
}

// Provisional says the state was restored from a snapshot and no block has committed since:
// its block time is unproven, so nothing is signed or served from it.
func (a *App) Provisional() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.provisional
}

// ChainID returns the chain id from genesis ("" before InitChain).
func (a *App) ChainID() string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.chainID
}
