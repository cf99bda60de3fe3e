package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	"github.com/cometbft/cometbft/types"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// RPC submits ledger transactions through a node's CometBFT RPC and waits for them to be
// committed, and queries committed state. It works over any CometBFT RPC client: in-process
// (Node.RPC) or HTTP.
type RPC struct {
	rpc rpcclient.Client

	mu      sync.Mutex
	waiters map[protocol.Hash32][]chan *Committed
	subOn   bool
	cancel  context.CancelFunc
}

// Committed is the outcome of a transaction in a block.
type Committed struct {
	Hash   protocol.Hash32
	Height int64
	Code   uint32
	Log    string
}

// ErrRejected wraps a CheckTx refusal (the transaction never entered the mempool); the
// *protocol.Error of the ledger's refusal is in the chain too.
var ErrRejected = errors.New("node: transaction rejected by the mempool")

// NewRPC wraps a CometBFT RPC client. An HTTP client must be started (Start)
// for its event stream; without one, Wait falls back to polling.
func NewRPC(c rpcclient.Client) *RPC {
	return &RPC{rpc: c, waiters: make(map[protocol.Hash32][]chan *Committed)}
}

// Close ends the event subscription.
func (c *RPC) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
}

// subscribe starts one subscription to all committed transactions, shared
// by every waiter, so that many concurrent submitters cost one stream.
func (c *RPC) subscribe() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subOn {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := c.rpc.Subscribe(ctx, fmt.Sprintf("ledger-client-%p", c), types.EventQueryTx.String(), 100000)
	if err != nil {
		cancel() // waiters fall back to polling
		return
	}
	c.subOn, c.cancel = true, cancel
	go func() {
		defer func() {
			c.mu.Lock()
			c.subOn = false
			c.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-ch:
				if !ok {
					return
				}
				if d, ok := ev.Data.(types.EventDataTx); ok {
					c.deliver(&Committed{Hash: protocol.TxHash(d.Tx), Height: d.Height,
						Code: d.Result.Code, Log: d.Result.Log})
				}
			}
		}
	}()
}

func (c *RPC) deliver(r *Committed) {
	c.mu.Lock()
	ws := c.waiters[r.Hash]
	delete(c.waiters, r.Hash)
	c.mu.Unlock()
	for _, w := range ws {
		w <- r // buffered: each waiter gets one result
	}
}

// wait registers a waiter for hash's commit event.
func (c *RPC) wait(hash protocol.Hash32) chan *Committed {
	w := make(chan *Committed, 1)
	c.mu.Lock()
	c.waiters[hash] = append(c.waiters[hash], w)
	c.mu.Unlock()
	return w
}

// unwait removes a waiter that no longer listens.
func (c *RPC) unwait(hash protocol.Hash32, w chan *Committed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := slices.DeleteFunc(c.waiters[hash], func(x chan *Committed) bool { return x == w })
	if len(ws) == 0 {
		delete(c.waiters, hash)
	} else {
		c.waiters[hash] = ws
	}
}

// Await returns hash's result once the node has committed it, or ctx's error: the event
// when it comes, its tx index otherwise. The index is written just after the event, so a
// commit whose event went out before the waiter was registered shows there within moments:
// it is looked up again soon, then less and less often.
func (c *RPC) Await(ctx context.Context, hash protocol.Hash32) (*Committed, error) {
	c.subscribe()
	w := c.wait(hash)
	defer c.unwait(hash, w)
	for wait := 2 * time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		if r, err := c.Committed(ctx, hash); err == nil {
			return r, nil
		}
		select {
		case r := <-w:
			return r, nil
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Submit broadcasts raw and waits until it is committed or ctx ends. A
// transaction that commits with a failure code returns the result and the
// ledger's sentinel error for the code.
func (c *RPC) Submit(ctx context.Context, raw []byte) (*Committed, error) {
	p, err := c.Broadcast(ctx, raw)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}

// Pending is a transaction admitted to the mempool, not yet committed.
type Pending struct {
	c    *RPC
	raw  []byte
	hash protocol.Hash32
	w    chan *Committed
}

// Broadcast submits raw and returns once the node's CheckTx admitted it
// (ErrRejected otherwise). An account may broadcast its next transaction
// as soon as this returns.
func (c *RPC) Broadcast(ctx context.Context, raw []byte) (*Pending, error) {
	c.subscribe()
	p := &Pending{c: c, raw: raw, hash: protocol.TxHash(raw)}
	p.w = c.wait(p.hash)
	res, err := c.rpc.BroadcastTxSync(ctx, raw)
	if err == nil && res.Code != 0 {
		err = fmt.Errorf("%w: %w", ErrRejected, protocol.LedgerError(res.Code, res.Log))
	} else if err != nil {
		err = fmt.Errorf("node: broadcast: %w", err)
	}
	if err != nil {
		p.forget()
		return nil, err
	}
	return p, nil
}

func (p *Pending) forget() { p.c.unwait(p.hash, p.w) }

// Hash is the transaction's hash.
func (p *Pending) Hash() protocol.Hash32 { return p.hash }

// Wait waits until the transaction is in a committed block.
//
// Events are the fast path. As a fallback it polls the node's tx index
// every second, and every few seconds it broadcasts the transaction again:
// CometBFT's mempool can drop a transaction after CheckTx accepted it (when
// full, or while rechecking), and a resent copy that is already in the
// mempool or committed is simply refused.
func (p *Pending) Wait(ctx context.Context) (*Committed, error) {
	defer p.forget()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	lastSend := time.Now()
	for {
		select {
		case r := <-p.w:
			return r, r.err()
		case <-poll.C:
			if r, err := p.c.Committed(ctx, p.hash); err == nil {
				return r, r.err()
			}
			if time.Since(lastSend) >= resendAfter {
				lastSend = time.Now()
				_, _ = p.c.rpc.BroadcastTxSync(ctx, p.raw)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("node: waiting for commit of %x: %w", p.hash[:8], ctx.Err())
		}
	}
}

// resendAfter is how long Wait lets a transaction go uncommitted before
// broadcasting it again.
const resendAfter = 5 * time.Second

func (r *Committed) err() error {
	if r.Code == 0 {
		return nil
	}
	return protocol.LedgerError(r.Code, r.Log)
}

// result is the outcome as the API answers it.
func (r *Committed) result() protocol.TxResult {
	return protocol.TxResult{Hash: r.Hash, Height: r.Height, Code: r.Code, CodeName: protocol.CodeName(r.Code), Log: r.Log}
}

// Committed looks up a committed transaction by hash in the node's index.
func (c *RPC) Committed(ctx context.Context, hash protocol.Hash32) (*Committed, error) {
	tx, err := c.rpc.Tx(ctx, hash[:], false)
	if err != nil {
		return nil, err
	}
	return &Committed{Hash: hash, Height: tx.Height, Code: tx.TxResult.Code, Log: tx.TxResult.Log}, nil
}

// Status returns CometBFT's view of the node.
func (c *RPC) Status(ctx context.Context) (*ctypes.ResultStatus, error) { return c.rpc.Status(ctx) }

// Query runs a ledger query (ledger/SPEC.md §9) through CometBFT's ABCI query and decodes the
// JSON answer into out. A refusal is the ledger's *protocol.Error.
func (c *RPC) Query(ctx context.Context, path string, out any) (height int64, err error) {
	res, err := c.rpc.ABCIQuery(ctx, path, nil)
	if err != nil {
		return 0, fmt.Errorf("node: query %s: %w", path, err)
	}
	r := res.Response
	if r.Code != 0 {
		return r.Height, protocol.LedgerError(r.Code, r.Log)
	}
	if out != nil {
		if err := json.Unmarshal(r.Value, out); err != nil {
			return r.Height, fmt.Errorf("node: query %s: %w", path, err)
		}
	}
	return r.Height, nil
}
