package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	"github.com/cometbft/cometbft/types"

	"github.com/resilientrecords/resilientrecords/ledger"
)

// Client submits ledger transactions to a node and waits for them to be
// committed, and queries committed state. It works over any CometBFT RPC
// client: in-process (Node.Client) or HTTP.
type Client struct {
	rpc rpcclient.Client

	mu      sync.Mutex
	waiters map[ledger.Hash32]chan *Committed
	subOn   bool
	cancel  context.CancelFunc
}

// Committed is the outcome of a transaction in a block.
type Committed struct {
	Hash   ledger.Hash32
	Height int64
	Code   uint32
	Log    string
}

// ErrRejected wraps a CheckTx refusal (the transaction never entered the
// mempool); errors.Is also matches the ledger's sentinel for the code.
var ErrRejected = errors.New("node: transaction rejected by the mempool")

// NewClient wraps an RPC client. An HTTP client must be started (Start)
// for its event stream; without one, Wait falls back to polling.
func NewClient(c rpcclient.Client) *Client {
	return &Client{rpc: c, waiters: make(map[ledger.Hash32]chan *Committed)}
}

// Close ends the event subscription.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
}

// subscribe starts one subscription to all committed transactions, shared
// by every waiter, so that many concurrent submitters cost one stream.
func (c *Client) subscribe() {
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
					c.deliver(&Committed{Hash: ledger.TxHash(d.Tx), Height: d.Height,
						Code: d.Result.Code, Log: d.Result.Log})
				}
			}
		}
	}()
}

func (c *Client) deliver(r *Committed) {
	c.mu.Lock()
	w := c.waiters[r.Hash]
	delete(c.waiters, r.Hash)
	c.mu.Unlock()
	if w != nil {
		w <- r
	}
}

// Submit broadcasts raw and waits until it is committed or ctx ends. A
// transaction that commits with a failure code returns the result and the
// ledger's sentinel error for the code.
func (c *Client) Submit(ctx context.Context, raw []byte) (*Committed, error) {
	p, err := c.Broadcast(ctx, raw)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}

// Pending is a transaction admitted to the mempool, not yet committed.
type Pending struct {
	c    *Client
	raw  []byte
	hash ledger.Hash32
	w    chan *Committed
}

// Broadcast submits raw and returns once the node's CheckTx admitted it
// (ErrRejected otherwise). An account may broadcast its next transaction
// as soon as this returns.
func (c *Client) Broadcast(ctx context.Context, raw []byte) (*Pending, error) {
	c.subscribe()
	p := &Pending{c: c, raw: raw, hash: ledger.TxHash(raw), w: make(chan *Committed, 1)}
	c.mu.Lock()
	c.waiters[p.hash] = p.w
	c.mu.Unlock()
	res, err := c.rpc.BroadcastTxSync(ctx, raw)
	if err == nil && res.Code != ledger.CodeOK {
		err = fmt.Errorf("%w: %w: %s", ErrRejected, ledger.CodeError(res.Code), res.Log)
	} else if err != nil {
		err = fmt.Errorf("node: broadcast: %w", err)
	}
	if err != nil {
		p.forget()
		return nil, err
	}
	return p, nil
}

func (p *Pending) forget() {
	p.c.mu.Lock()
	delete(p.c.waiters, p.hash)
	p.c.mu.Unlock()
}

// Hash is the transaction's hash.
func (p *Pending) Hash() ledger.Hash32 { return p.hash }

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
			if tx, err := p.c.rpc.Tx(ctx, p.hash[:], false); err == nil {
				r := &Committed{Hash: p.hash, Height: tx.Height, Code: tx.TxResult.Code, Log: tx.TxResult.Log}
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
	if r.Code == ledger.CodeOK {
		return nil
	}
	return fmt.Errorf("%w: %s", ledger.CodeError(r.Code), r.Log)
}

// Query runs a ledger query (see ledger.App.Query for paths) and decodes
// the JSON answer into out. A failed query returns the ledger's sentinel
// error for its code.
func (c *Client) Query(ctx context.Context, path string, out any) (height int64, err error) {
	res, err := c.rpc.ABCIQuery(ctx, path, nil)
	if err != nil {
		return 0, fmt.Errorf("node: query %s: %w", path, err)
	}
	r := res.Response
	if r.Code != ledger.CodeOK {
		return r.Height, fmt.Errorf("%w: %s", ledger.CodeError(r.Code), r.Log)
	}
	if out != nil {
		if err := json.Unmarshal(r.Value, out); err != nil {
			return r.Height, fmt.Errorf("node: query %s: %w", path, err)
		}
	}
	return r.Height, nil
}

// Status returns CometBFT's view of the node.
func (c *Client) Status(ctx context.Context) (*ctypes.ResultStatus, error) { return c.rpc.Status(ctx) }

// Sequence returns the account's next sequence number in committed state.
func (c *Client) Sequence(ctx context.Context, pk ledger.PubKey) (uint64, error) {
	var v struct {
		Sequence uint64 `json:"sequence"`
	}
	_, err := c.Query(ctx, "/account/"+pk.String(), &v)
	return v.Sequence, err
}
