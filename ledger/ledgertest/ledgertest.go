// Package ledgertest runs the ledger's real state machine in memory, one block at a time,
// for the tests of the packages that read committed state (the proxy, the blob service):
// the rules, the state and the app hash are package ledger's; only consensus and the
// database are left out.
package ledgertest

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
)

// Chain is an in-memory chain. It is safe for concurrent use: Committed may be called while
// a block executes.
type Chain struct {
	// OnCommit, if set, runs after each block, as the node's commit hook does.
	OnCommit func(ledger.CommitInfo)

	mu      sync.RWMutex
	st      *ledger.MemStore
	chainID string
	nodes   ledger.Registry
	height  int64
	time    int64
	state   *ledger.StateHash
	appHash []byte
}

// New starts a chain from genesis at time t0.
func New(chainID string, genesis ledger.GenesisState, t0 time.Time) (*Chain, error) {
	b, err := json.Marshal(genesis)
	if err != nil {
		return nil, err
	}
	ws, hash, err := ledger.Genesis(b)
	if err != nil {
		return nil, err
	}
	st := ledger.NewMemStore()
	st.Apply(ws)
	nodes, err := ledger.LoadRegistry(st)
	if err != nil {
		return nil, err
	}
	return &Chain{st: st, chainID: chainID, nodes: nodes, time: t0.UnixNano(), state: hash, appHash: hash.AppHash()}, nil
}

// ChainID is the chain's id.
func (c *Chain) ChainID() string { return c.chainID }

// Block executes txs as the next block at block time t, commits it and runs OnCommit. It
// returns what the block did (each transaction's code in Results).
func (c *Chain) Block(t time.Time, txs ...[]byte) (*ledger.Executed, error) {
	c.mu.Lock()
	x, err := ledger.Execute(c.st, c.chainID, c.nodes, c.state, ledger.Block{Height: c.height + 1, Time: t.UnixNano(), Txs: txs}, nil)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	c.st.Apply(x.Writes)
	c.height, c.time, c.state, c.appHash = c.height+1, t.UnixNano(), x.State, x.AppHash
	c.mu.Unlock()
	if c.OnCommit != nil {
		c.OnCommit(x.Commit)
	}
	return x, nil
}

// Check runs raw against committed state as CheckTx would (without the mempool's other
// transactions).
func (c *Chain) Check(raw []byte) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	bc := ledger.BlockContext{ChainID: c.chainID, Height: c.height + 1, Time: c.time, Nodes: c.nodes}
	return ledger.NewMempool(c.st).Check(bc, raw, false)
}

// Committed returns a snapshot of the committed state: a copy, so that later blocks do not
// change it.
func (c *Chain) Committed() (*ledger.Snapshot, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return ledger.NewSnapshot(c.st.Clone(), nil, c.chainID, c.height, c.time, append([]byte(nil), c.appHash...)), nil
}

// Height is the last committed height.
func (c *Chain) Height() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.height
}
