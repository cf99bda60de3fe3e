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

	"github.com/cometbft/cometbft/p2p"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// LocalNetOptions configure a local network.
type LocalNetOptions struct {
	Validators int    // default 4
	ChainID    string // default "rr-local"
	Timing     Timing // zero: LoopbackTiming
	Logger     *slog.Logger
	// OnCommit, if set, is called by node i's app on every commit.
	OnCommit func(i int, ci ledger.CommitInfo)
	// NoSigCache: see AppOptions.
	NoSigCache bool
	// Replication is how many nodes hold each record's blob (0: every node).
	Replication int
	// KuboAPIs, if set, gives node i's blob store to the kubo daemon at KuboAPIs[i] ("": the
	// embedded store).
	KuboAPIs []string
	// Admission is the network's admission rules; nil makes an open network, for tests of
	// other things (LocalAdmission are the rules of a local network that shows admission).
	Admission *protocol.AdmissionRules
	// API is every node's API settings (a benchmark trusts a header to tell its clients
	// apart on loopback).
	API APISettings
	// Snapshots and RetainBlocks are every node's (node.json "snapshots", "retain_blocks").
	Snapshots    SnapshotSettings
	RetainBlocks int64
}

// LocalAdmission are the rules of a local network: the defaults, with less work per
// enrolment, so that tests and demonstrations enrol their identities in milliseconds.
var LocalAdmission = func() protocol.AdmissionRules {
	r := protocol.DefaultAdmission
	r.EnrolBits = 14
	return r
}()

// LocalNet is n validators in this process on 127.0.0.1, each with its own
// home directory under one parent, so that nodes and the whole network can
// be stopped and restarted from disk.
type LocalNet struct {
	dir   string
	opts  LocalNetOptions
	homes []string

	mu      sync.Mutex
	nodes   []*Node     // nil while stopped
	started []time.Time // when each node was last started
}

// StartLocalNet generates homes under dir and starts every node. Ports are
// taken from the OS; if another process grabs one before CometBFT binds it,
// the network is regenerated with fresh ports (a few attempts).
func StartLocalNet(ctx context.Context, dir string, opts LocalNetOptions) (*LocalNet, error) {
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
		nw := &LocalNet{dir: fmt.Sprintf("%s/attempt%d", dir, attempt), opts: opts}
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

func (nw *LocalNet) generate() error {
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
	homes, err := GenerateNetwork(nw.dir, NetworkSpec{ChainID: nw.opts.ChainID, Nodes: hosts, Timing: nw.opts.Timing,
		Replication: nw.opts.Replication, Admission: nw.opts.Admission, Open: nw.opts.Admission == nil})
	if err != nil {
		return err
	}
	for i, home := range homes {
		st, err := ReadSettings(home)
		if err != nil {
			return err
		}
		if i < len(nw.opts.KuboAPIs) {
			st.Blobs.KuboAPI = nw.opts.KuboAPIs[i]
		}
		st.API = nw.opts.API
		st.Snapshots, st.RetainBlocks = nw.opts.Snapshots, nw.opts.RetainBlocks
		// Every node of a local network serves its metrics, and CometBFT's RPC (which a
		// node rejoining by state sync asks for headers), on loopback only.
		metrics, err := freePort()
		if err != nil {
			return err
		}
		st.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", metrics)
		rpc, err := freePort()
		if err != nil {
			return err
		}
		st.RPCListen = fmt.Sprintf("tcp://127.0.0.1:%d", rpc)
		if err := WriteSettings(home, st); err != nil {
			return err
		}
	}
	nw.homes = homes
	nw.nodes = make([]*Node, len(homes))
	nw.started = make([]time.Time, len(homes))
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

func (nw *LocalNet) open(i int) (*Node, error) {
	n, err := nw.build(i)
	if err != nil {
		return nil, err
	}
	if err := nw.start(i, n); err != nil {
		return nil, err
	}
	return n, nil
}

// build opens node i's home without starting it.
func (nw *LocalNet) build(i int) (*Node, error) {
	opts := Options{Logger: nw.opts.Logger, NoSigCache: nw.opts.NoSigCache}
	if nw.opts.OnCommit != nil {
		hook := nw.opts.OnCommit
		opts.OnCommit = func(ci ledger.CommitInfo) { hook(i, ci) }
	}
	return Open(nw.homes[i], opts)
}

// start starts node i, built by build, and notes when.
func (nw *LocalNet) start(i int, n *Node) error {
	nw.mu.Lock()
	nw.started[i] = time.Now()
	nw.mu.Unlock()
	return n.Start()
}

func (nw *LocalNet) startAll(ctx context.Context) error {
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
func (nw *LocalNet) Size() int { return len(nw.homes) }

// Homes lists the nodes' home directories.
func (nw *LocalNet) Homes() []string { return append([]string(nil), nw.homes...) }

// ChainID is the network's chain id.
func (nw *LocalNet) ChainID() string { return nw.opts.ChainID }

// Node returns node i, or nil while it is stopped.
func (nw *LocalNet) Node(i int) *Node {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.nodes[i]
}

// Running returns the running nodes.
func (nw *LocalNet) Running() []*Node {
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
func (nw *LocalNet) StopNode(i int) error {
	nw.mu.Lock()
	n := nw.nodes[i]
	nw.nodes[i] = nil
	nw.mu.Unlock()
	if n == nil {
		return nil
	}
	id := p2p.ID(n.ID())
	err := n.Stop()
	nw.dropPeer(id)
	return err
}

// dropPeer makes the running nodes let go of a node that was stopped in
// this process.
//
// CometBFT v0.38's Node.OnStop stops the switch, and with it every peer
// connection, before it closes the p2p listener (node/node.go:600, 604).
// The peers see EOF and redial at once, since Switch.reconnectToPeer's
// first attempt does not sleep (p2p/switch.go:415); a dial that lands in
// those few milliseconds is accepted and handshaken by the still-open
// transport and handed to a switch that no longer runs, where
// Switch.addPeer logs "Won't start a peer - switch is not running" and
// returns nil (p2p/switch.go:825), so nothing closes the connection. When
// a process exits the OS closes it; in-process it stays open, and the
// dialer keeps a peer that looks connected until its ping/pong timeout,
// 60 s + 45 s (p2p/conn/connection.go:46-47; not settable through
// config.P2PConfig), while it refuses the restarted node's connections as
// a "duplicate ID" (p2p/switch.go:787), which makes the restarted node redial
// in a busy loop. With a quorum down that is up to 105 s with no
// consensus.
//
// Once node id has stopped its listener is closed, so any peer entry for it
// on a running node is such a leftover: stopping it for an error closes it
// and starts the switch's usual redial of a persistent peer, which reaches
// the node when it is restarted (and the restarted node dials its peers
// itself).
func (nw *LocalNet) dropPeer(id p2p.ID) {
	for _, o := range nw.Running() {
		sw := o.cmt.Switch()
		if p := sw.Peers().Get(id); p != nil {
			sw.StopPeerForError(p, errors.New("node: peer was stopped in this process"))
		}
	}
}

// RestartNode starts a stopped node i from its home; it catches up with
// the others through block sync and consensus.
func (nw *LocalNet) RestartNode(i int) error {
	if nw.Node(i) != nil {
		return fmt.Errorf("node: node %d is running", i)
	}
	n, err := nw.build(i)
	if err != nil {
		return err
	}
	// The previous instance may still have dialed a peer after StopNode
	// dropped its entries: Switch.DialPeersAsync's goroutines sleep up to
	// 3 s (p2p/switch.go:22, 535) and do not check that the switch still
	// runs. Drop what such a dial left before the new instance dials.
	nw.mu.Lock()
	prev := nw.started[i]
	nw.mu.Unlock()
	if d := time.Until(prev.Add(dialSpread)); d > 0 {
		time.Sleep(d)
	}
	nw.dropPeer(p2p.ID(n.ID()))
	if err := nw.start(i, n); err != nil {
		return err
	}
	nw.dialRunning(n)
	nw.mu.Lock()
	nw.nodes[i] = n
	nw.mu.Unlock()
	return nil
}

// Rejoin starts stopped node i again after its data was wiped (WipeData): by state sync
// from the running nodes' snapshots, with two of them as its RPC servers, or, stateSync
// false, by replaying every block from genesis. It returns once the node is started.
func (nw *LocalNet) Rejoin(ctx context.Context, i int, stateSync bool) error {
	var servers []string
	for j, h := range nw.homes {
		if j != i && nw.Node(j) != nil && len(servers) < 2 {
			st, err := ReadSettings(h)
			if err != nil {
				return err
			}
			servers = append(servers, strings.Replace(st.RPCListen, "tcp://", "http://", 1))
		}
	}
	home := nw.homes[i]
	if _, err := PrepareRejoin(ctx, home, servers, !stateSync); err != nil {
		return err
	}
	st, err := ReadSettings(home)
	if err != nil {
		return err
	}
	// CometBFT's shortest wait for peers' snapshots; on loopback they all answer at once.
	st.StateSync.DiscoveryTime = Duration(5 * time.Second)
	if err := WriteSettings(home, st); err != nil {
		return err
	}
	return nw.RestartNode(i)
}

// dialSpread is CometBFT's dialRandomizerIntervalMilliseconds
// (p2p/switch.go:22): a starting switch dials each persistent peer after a
// random sleep of up to this long.
const dialSpread = 3 * time.Second

// dialRunning makes restarted node n dial the running nodes now rather than
// after DialPeersAsync's random sleep of up to 3 s (p2p/switch.go:535).
// The running nodes' own redials of n wait 5 to 8 s between attempts
// (reconnectInterval plus the same randomizer, p2p/switch.go:27, 424); when
// one comes due it finds the peer connected and stops, and so does n's own
// delayed dial (ErrCurrentlyDialingOrExistingAddress).
func (nw *LocalNet) dialRunning(n *Node) {
	running := map[string]bool{}
	for _, o := range nw.Running() {
		running[o.ID()] = true
	}
	sw := n.cmt.Switch()
	for _, s := range n.settings.PersistentPeers {
		addr, err := p2p.NewNetAddressString(s)
		if err != nil || !running[string(addr.ID)] {
			continue
		}
		go func() { _ = sw.DialPeerWithAddress(addr) }()
	}
}

// Stop stops every running node.
func (nw *LocalNet) Stop() error {
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
func (nw *LocalNet) Restart(ctx context.Context) error {
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

func (nw *LocalNet) maxHeight() int64 {
	var h int64
	for _, n := range nw.Running() {
		h = max(h, n.Height())
	}
	return h
}

// WaitHeight waits until every running node has block h in its store.
func (nw *LocalNet) WaitHeight(ctx context.Context, h int64) error {
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

// RPC returns the CometBFT RPC of the first running node.
func (nw *LocalNet) RPC() *RPC {
	r := nw.Running()
	if len(r) == 0 {
		return nil
	}
	return r[0].RPC()
}

// Description is the network as network.json describes it to clients.
func (nw *LocalNet) Description() (*protocol.Network, error) { return NetworkFile(nw.homes[0]) }
