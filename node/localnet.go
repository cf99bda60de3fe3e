package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
)

// NetworkOptions configure a local network.
type NetworkOptions struct {
	Validators int    // default 4
	ChainID    string // default "rr-local"
	Timing     Timing // zero: LoopbackTiming
	Logger     *slog.Logger
	// OnCommit, if set, is called by node i's app on every commit.
	OnCommit func(i int, ci ledger.CommitInfo)
	// NoSigCache: see ledger.Options.
	NoSigCache bool
}

// Network is n validators in this process on 127.0.0.1, each with its own
// home directory under one parent, so that nodes and the whole network can
// be stopped and restarted from disk.
type Network struct {
	dir   string
	opts  NetworkOptions
	homes []string

	mu    sync.Mutex
	nodes []*Node // nil while stopped
}

// StartNetwork generates homes under dir and starts every node. Ports are
// taken from the OS; if another process grabs one before CometBFT binds it,
// the network is regenerated with fresh ports (a few attempts).
func StartNetwork(ctx context.Context, dir string, opts NetworkOptions) (*Network, error) {
	if opts.Validators == 0 {
		opts.Validators = 4
	}
	if opts.ChainID == "" {
		opts.ChainID = "rr-local"
	}
	if opts.Timing == (Timing{}) {
		opts.Timing = LoopbackTiming()
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		nw := &Network{dir: fmt.Sprintf("%s/attempt%d", dir, attempt), opts: opts}
		if err := nw.generate(); err != nil {
			return nil, err
		}
		err := nw.startAll(ctx)
		if err == nil {
			return nw, nil
		}
		lastErr = err
		_ = nw.Stop()
		if !isAddrInUse(err) {
			break
		}
	}
	return nil, lastErr
}

func isAddrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

func (nw *Network) generate() error {
	hosts := make([]HostSpec, nw.opts.Validators)
	for i := range hosts {
		port, err := freePort()
		if err != nil {
			return err
		}
		api, err := freePort()
		if err != nil {
			return err
		}
		hosts[i] = HostSpec{Name: fmt.Sprintf("node%d", i), Host: "127.0.0.1", Listen: "127.0.0.1",
			P2PPort: port, APIAddr: fmt.Sprintf("127.0.0.1:%d", api)}
	}
	homes, err := GenerateNetwork(nw.dir, NetworkSpec{ChainID: nw.opts.ChainID, Nodes: hosts, Timing: nw.opts.Timing})
	if err != nil {
		return err
	}
	nw.homes = homes
	nw.nodes = make([]*Node, len(homes))
	return nil
}

// freePort asks the OS for an unused port on the loopback interface.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("node: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (nw *Network) open(i int) (*Node, error) {
	opts := Options{Logger: nw.opts.Logger, NoSigCache: nw.opts.NoSigCache}
	if nw.opts.OnCommit != nil {
		hook := nw.opts.OnCommit
		opts.OnCommit = func(ci ledger.CommitInfo) { hook(i, ci) }
	}
	n, err := Open(nw.homes[i], opts)
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		return nil, err
	}
	return n, nil
}

func (nw *Network) startAll(ctx context.Context) error {
	for i := range nw.homes {
		n, err := nw.open(i)
		if err != nil {
			return err
		}
		nw.mu.Lock()
		nw.nodes[i] = n
		nw.mu.Unlock()
	}
	return nw.WaitHeight(ctx, nw.maxHeight()+1)
}

// Size is the number of validators.
func (nw *Network) Size() int { return len(nw.homes) }

// Homes lists the nodes' home directories.
func (nw *Network) Homes() []string { return append([]string(nil), nw.homes...) }

// ChainID is the network's chain id.
func (nw *Network) ChainID() string { return nw.opts.ChainID }

// Node returns node i, or nil while it is stopped.
func (nw *Network) Node(i int) *Node {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.nodes[i]
}

// Running returns the running nodes.
func (nw *Network) Running() []*Node {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var out []*Node
	for _, n := range nw.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// StopNode stops node i (its home stays).
func (nw *Network) StopNode(i int) error {
	nw.mu.Lock()
	n := nw.nodes[i]
	nw.nodes[i] = nil
	nw.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.Stop()
}

// RestartNode starts a stopped node i from its home; it catches up with
// the others through block sync and consensus.
func (nw *Network) RestartNode(i int) error {
	if nw.Node(i) != nil {
		return fmt.Errorf("node: node %d is running", i)
	}
	n, err := nw.open(i)
	if err != nil {
		return err
	}
	nw.mu.Lock()
	nw.nodes[i] = n
	nw.mu.Unlock()
	return nil
}

// Stop stops every running node.
func (nw *Network) Stop() error {
	var errs []error
	for i := range nw.homes {
		if err := nw.StopNode(i); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Restart stops the whole network and starts it again from its homes. It
// returns once every node has caught up to the highest stored height.
func (nw *Network) Restart(ctx context.Context) error {
	if err := nw.Stop(); err != nil {
		return err
	}
	for i := range nw.homes {
		if err := nw.RestartNode(i); err != nil {
			return err
		}
	}
	return nw.WaitHeight(ctx, nw.maxHeight())
}

func (nw *Network) maxHeight() int64 {
	var h int64
	for _, n := range nw.Running() {
		h = max(h, n.Height())
	}
	return h
}

// WaitHeight waits until every running node has block h in its store.
func (nw *Network) WaitHeight(ctx context.Context, h int64) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		done := true
		for _, n := range nw.Running() {
			if n.Height() < h {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("node: waiting for height %d: %w", h, ctx.Err())
		}
	}
}

// Client returns a client of the first running node.
func (nw *Network) Client() *Client {
	r := nw.Running()
	if len(r) == 0 {
		return nil
	}
	return r[0].Client()
}
