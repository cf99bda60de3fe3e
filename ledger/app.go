package ledger

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// Event types and attribute keys emitted by FinalizeBlock.
const (
	EventTx        = "rr.tx"
	EventExpire    = "rr.expire"
	AttrType       = "type"
	AttrTxHash     = "tx_hash"
	AttrSigner     = "signer"
	AttrRecord     = "record_id"
	AttrGrant      = "grant_id"
	AttrResultCode = "code"
)

// CommitInfo describes a block once its state is durable. The proxy uses it
// to delete key fragments of grants that stopped being live.
type CommitInfo struct {
	Height  int64
	Time    int64 // block time, unix nanoseconds
	AppHash []byte
	Revoked []ID     // grants revoked in this block, by Revoke or EraseRecord
	Expired []Expiry // grants whose not-after this block's time passed
	Put     []ID     // records put in this block (their blobs are to be replicated)
	Erased  []Erasure
}

// Options configure an App.
type Options struct {
	Logger *slog.Logger // nil: discard
	// OnCommit, if set, runs inside ABCI Commit after the block's state is
	// durable and before CometBFT moves on, so a vault can delete fragments
	// as part of committing. It must not call back into ABCI; it may use
	// App.Committed.
	OnCommit func(CommitInfo)
	// NoSigCache makes FinalizeBlock verify every signature again even when
	// CheckTx on this node already did (for measuring what the cache saves).
	NoSigCache bool
}

// App is the ledger's ABCI application. It is safe for CometBFT's
// connection-synchronised local client, where the mempool connection
// (CheckTx) runs concurrently with the consensus connection (FinalizeBlock,
// Commit) and queries: mu guards the committed-state fields, checkMu the
// mempool view, and the pending block belongs to the consensus connection.
type App struct {
	abci.BaseApplication

	db   *leveldb.DB
	log  *slog.Logger
	hook func(CommitInfo)

	mu        sync.RWMutex
	nodes     Registry
	chainID   string
	height    int64
	appHash   []byte
	blockTime int64

	checkMu sync.Mutex
	check   *overlay // committed state plus mempool transactions; under checkMu
	pending *pendingBlock
	sigs    *sigCache
}

type pendingBlock struct {
	height  int64
	time    int64
	state   *overlay
	appHash []byte
	revoked []ID
	expired []Expiry
	put     []ID
	erased  []Erasure
}

var (
	metaHeight  = []byte{pMeta, 'h'}
	metaAppHash = []byte{pMeta, 'a'}
	metaTime    = []byte{pMeta, 't'}
	metaChainID = []byte{pMeta, 'c'}
)

// Open opens (or creates) the app's state database in dir.
func Open(dir string, opts Options) (*App, error) {
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		return nil, fmt.Errorf("ledger: open state: %w", err)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	a := &App{db: db, log: lg, hook: opts.OnCommit, sigs: newSigCache(1 << 16)}
	if opts.NoSigCache {
		a.sigs.max = 0
	}
	st := dbStore(db)
	h, err := getU64(st, metaHeight)
	if err != nil {
		db.Close()
		return nil, err
	}
	t, err := getU64(st, metaTime)
	if err != nil {
		db.Close()
		return nil, err
	}
	a.height, a.blockTime = int64(h), int64(t)
	a.appHash, _ = st.Get(metaAppHash)
	c, _ := st.Get(metaChainID)
	a.chainID = string(c)
	if a.nodes, err = loadRegistry(st); err != nil {
		db.Close()
		return nil, err
	}
	a.check = newOverlay(st)
	return a, nil
}

// Close closes the state database.
func (a *App) Close() error { return a.db.Close() }

// Info reports the last committed height and app hash so that CometBFT
// replays the blocks this node has not applied yet.
func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return &abci.ResponseInfo{Data: "resilientrecords-ledger", Version: "1", AppVersion: 1,
		LastBlockHeight: a.height, LastBlockAppHash: a.appHash}, nil
}

// GenesisState is the app_state of genesis.json.
type GenesisState struct {
	Nodes []NodeInfo `json:"nodes"`
	// Replication is how many nodes hold each record's blob; 0 means all.
	Replication int `json:"replication,omitempty"`
}

// InitChain loads the node registry. It persists at once: it is a pure
// function of genesis, so a repeat after a crash writes the same bytes.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	var gs GenesisState
	if err := json.Unmarshal(req.AppStateBytes, &gs); err != nil {
		return nil, fmt.Errorf("ledger: genesis app_state: %w", err)
	}
	if len(req.ChainId) == 0 || len(req.ChainId) > MaxChainID {
		return nil, fmt.Errorf("ledger: chain id must be 1..%d bytes", MaxChainID)
	}
	// Built over an empty store, so that a repeat after a crash before the
	// first block (CometBFT calls InitChain again while the app's height is
	// 0) computes the same writes instead of seeing its own earlier ones.
	o := newOverlay(newMemStore())
	if err := initState(o, gs.Nodes, gs.Replication); err != nil {
		return nil, err
	}
	hash := nextAppHash(nil, 0, o.sortedWrites())
	t := req.Time.UnixNano()
	b := new(leveldb.Batch)
	for _, w := range o.sortedWrites() {
		b.Put(w.key, w.value)
	}
	b.Put(metaAppHash, hash)
	b.Put(metaTime, u64b(uint64(t)))
	b.Put(metaChainID, []byte(req.ChainId))
	if err := a.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		return nil, fmt.Errorf("ledger: persist genesis: %w", err)
	}
	nodes, err := loadRegistry(dbStore(a.db))
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.chainID, a.appHash, a.blockTime, a.nodes = req.ChainId, hash, t, nodes
	a.mu.Unlock()
	a.resetCheck()
	return &abci.ResponseInitChain{AppHash: hash}, nil
}

// CheckTx applies the same rules as FinalizeBlock against committed state
// plus the transactions already admitted to this node's mempool, so an
// account can have several transactions in flight.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	a.mu.RLock()
	bc := BlockContext{ChainID: a.chainID, Height: a.height + 1, Time: a.blockTime, Nodes: a.nodes}
	a.mu.RUnlock()
	if a.log.Enabled(context.Background(), slog.LevelDebug) {
		started := time.Now()
		defer func() {
			a.log.Debug("ledger checktx "+req.Type.String(), "took", time.Since(started))
		}()
	}
	hash := TxHash(req.Tx)
	known := a.sigs.has(hash)
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	scratch := newOverlay(a.check)
	_, err := applyTx(scratch, bc, req.Tx, known)
	if err != nil {
		return &abci.ResponseCheckTx{Code: Code(err), Log: err.Error()}, nil
	}
	if !known {
		a.sigs.add(hash)
	}
	scratch.mergeInto(a.check)
	return &abci.ResponseCheckTx{Code: CodeOK}, nil
}

// ProcessProposal rejects blocks that carry undecodable transactions;
// decodable but unauthorised ones fail individually in FinalizeBlock.
func (a *App) ProcessProposal(_ context.Context, req *abci.RequestProcessProposal) (*abci.ResponseProcessProposal, error) {
	for _, raw := range req.Txs {
		if a.sigs.has(TxHash(raw)) {
			continue // this node's CheckTx already validated these bytes
		}
		if _, err := DecodeTx(raw); err != nil {
			return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_REJECT}, nil
		}
	}
	return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_ACCEPT}, nil
}

// FinalizeBlock executes a block deterministically into a pending overlay
// and returns its app hash; nothing is persisted until Commit.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	a.mu.RLock()
	bc := BlockContext{ChainID: a.chainID, Height: req.Height, Time: req.Time.UnixNano(), Nodes: a.nodes}
	prev := a.appHash
	a.mu.RUnlock()

	started := time.Now()
	defer func() {
		a.log.Debug("ledger finalize block", "height", req.Height, "txs", len(req.Txs), "took", time.Since(started))
	}()
	st := newOverlay(dbStore(a.db))
	expired, err := expireDue(st, bc)
	if err != nil {
		return nil, fmt.Errorf("ledger: expiring grants at height %d: %w", req.Height, err)
	}
	resp := &abci.ResponseFinalizeBlock{TxResults: make([]*abci.ExecTxResult, len(req.Txs))}
	for _, e := range expired {
		resp.Events = append(resp.Events, abci.Event{Type: EventExpire, Attributes: []abci.EventAttribute{
			{Key: AttrGrant, Value: e.Grant.String(), Index: true},
			{Key: AttrRecord, Value: e.Record.String(), Index: true},
		}})
	}
	var revoked, put []ID
	var erased []Erasure
	for i, raw := range req.Txs {
		hash := TxHash(raw)
		res, err := applyTx(st, bc, raw, a.sigs.take(hash))
		resp.TxResults[i] = txResult(hash, res, err)
		if err != nil {
			continue
		}
		switch res.Type {
		case TxRevoke:
			revoked = append(revoked, res.Grant)
		case TxPutRecord:
			put = append(put, res.Record)
		case TxEraseRecord:
			revoked = append(revoked, res.Revoked...)
			erased = append(erased, Erasure{Record: res.Record, CID: res.CID})
		}
	}
	resp.AppHash = nextAppHash(prev, bc.Height, st.sortedWrites())
	a.pending = &pendingBlock{height: bc.Height, time: bc.Time, state: st, appHash: resp.AppHash,
		revoked: revoked, expired: expired, put: put, erased: erased}
	return resp, nil
}

func txResult(hash Hash32, res *TxResult, err error) *abci.ExecTxResult {
	attrs := []abci.EventAttribute{
		{Key: AttrTxHash, Value: strings.ToUpper(hex.EncodeToString(hash[:])), Index: true},
		{Key: AttrResultCode, Value: fmt.Sprint(Code(err)), Index: false},
	}
	out := &abci.ExecTxResult{Code: Code(err)}
	if err != nil {
		out.Log = err.Error()
	} else {
		attrs = append(attrs,
			abci.EventAttribute{Key: AttrType, Value: res.Type.String(), Index: true},
			abci.EventAttribute{Key: AttrSigner, Value: res.Signer.String(), Index: true},
			abci.EventAttribute{Key: AttrRecord, Value: res.Record.String(), Index: true})
		if res.Type == TxGrant || res.Type == TxRevoke || res.Type == TxRequestAccess {
			attrs = append(attrs, abci.EventAttribute{Key: AttrGrant, Value: res.Grant.String(), Index: true})
		}
	}
	out.Events = []abci.Event{{Type: EventTx, Attributes: attrs}}
	return out
}

// Commit persists the pending block atomically (state writes and the new
// height, time and app hash in one synced batch), then runs the hook.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	p := a.pending
	if p == nil {
		return nil, errors.New("ledger: commit without a finalized block")
	}
	b := new(leveldb.Batch)
	for k, v := range p.state.writes {
		if v == nil {
			b.Delete([]byte(k))
		} else {
			b.Put([]byte(k), v)
		}
	}
	b.Put(metaHeight, u64b(uint64(p.height)))
	b.Put(metaTime, u64b(uint64(p.time)))
	b.Put(metaAppHash, p.appHash)
	if err := a.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		return nil, fmt.Errorf("ledger: persist block %d: %w", p.height, err)
	}
	a.mu.Lock()
	a.height, a.blockTime, a.appHash = p.height, p.time, p.appHash
	a.mu.Unlock()
	a.pending = nil
	a.resetCheck() // CometBFT rechecks the mempool next
	if len(p.state.writes) > 0 {
		a.log.Debug("ledger commit", "height", p.height, "writes", len(p.state.writes))
	}
	if a.hook != nil {
		a.hook(CommitInfo{Height: p.height, Time: p.time, AppHash: p.appHash, Revoked: p.revoked, Expired: p.expired,
			Put: p.put, Erased: p.erased})
	}
	return &abci.ResponseCommit{}, nil
}

// resetCheck drops the mempool view. CometBFT holds its mempool lock
// across Commit and the recheck that follows, so no CheckTx of the old view
// interleaves.
func (a *App) resetCheck() {
	a.checkMu.Lock()
	a.check = newOverlay(dbStore(a.db))
	a.checkMu.Unlock()
}

// LastCommit returns the committed height, block time and app hash.
func (a *App) LastCommit() (height int64, blockTime int64, appHash []byte) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.height, a.blockTime, append([]byte(nil), a.appHash...)
}

// ChainID returns the chain id from genesis ("" before InitChain).
func (a *App) ChainID() string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.chainID
}

// sigCache remembers hashes of transactions that passed this node's
// CheckTx (stateless validation and signature), so ProcessProposal and
// FinalizeBlock need not repeat that curve arithmetic. It is safe for
// determinism: both checks are pure functions of the bytes the hash covers
// (the chain id and all stateful rules are still checked), and a miss only
// means checking again. It is bounded; when full it is emptied.
type sigCache struct {
	mu  sync.Mutex
	max int
	m   map[Hash32]struct{}
}

func newSigCache(max int) *sigCache { return &sigCache{max: max, m: make(map[Hash32]struct{})} }

func (c *sigCache) add(h Hash32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max == 0 {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[h] = struct{}{}
}

func (c *sigCache) has(h Hash32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[h]
	return ok
}

func (c *sigCache) take(h Hash32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[h]
	delete(c.m, h)
	return ok
}
