// Package node runs the ledger on an in-process CometBFT node, prepares node
// home directories, and runs local multi-validator networks for tests.
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cfg "github.com/cometbft/cometbft/config"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/resilientrecords/resilientrecords/internal/source"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// Options for Open.
type Options struct {
	Logger   *slog.Logger // nil: discard
	OnCommit func(ledger.CommitInfo)
	// NoSigCache: see AppOptions.
	NoSigCache bool
}

// Node is one validator: CometBFT and the ledger app in this process.
type Node struct {
	home     string
	settings Settings
	app      *App
	cmt      *nm.Node
	dbs      *dbTracker
	log      *slog.Logger
	px       *proxyServer
	bl       *blobNode
	rep      *reporter
	sources  *source.Resolver     // where API requests come from, for limits per source
	registry *prometheus.Registry // this node's metrics; nil when it serves none
	walkers  *deferredStart       // the blob service and the reporter, which walk committed state

	mu      sync.Mutex
	stopped bool
	rpc     *RPC
	metrics *metricsServer // the metrics listener, once started

	// Background work (waiting for a node's own transactions to commit) must end before
	// Stop closes the databases it reads.
	bg       context.Context
	bgCancel context.CancelFunc
	bgWork   sync.WaitGroup
}

// Open loads a home directory prepared by Init or GenerateNetwork and
// builds the node, without starting it.
func Open(home string, opts Options) (*Node, error) {
	s, err := ReadSettings(home)
	if err != nil {
		return nil, err
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("node", s.Moniker)
	c := cometConfig(home, s)
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("node: config: %w", err)
	}
	peers, chainID, err := registryPeers(c.GenesisFile())
	if err != nil {
		return nil, err
	}
	sources, err := s.API.resolver()
	if err != nil {
		return nil, err
	}
	if s.Metrics.Listen != "" && s.Metrics.Listen == s.APIAddr {
		return nil, errors.New("node: metrics.listen is the API's address: metrics must not be served to the API's clients")
	}
	// Only the registry's nodes may connect: anyone else could feed the mempool past every
	// limit of the HTTP API.
	c.FilterPeers = peers != nil
	px, err := openVault(home, lg)
	if err != nil {
		return nil, err
	}
	opened := false
	defer func() {
		if !opened {
			px.vault.Close() // its lock would stop a retry in this process
		}
	}()
	reg := newRegistry(s.Metrics)
	px.sources, px.metrics = sources, registerer(reg)
	bl := &blobNode{}
	rep := newReporter()
	walkers := &deferredStart{}
	app, err := OpenApp(filepath.Join(home, ledgerDir), AppOptions{Logger: lg, NoSigCache: opts.NoSigCache,
		OnCommit: walkers.onCommit(px.onCommit(bl.onCommit(rep.onCommit(opts.OnCommit)))), Peers: peers, Metrics: registerer(reg),
		ChainID: chainID, SnapshotDir: filepath.Join(home, snapshotsDir), Snapshots: s.Snapshots, RetainBlocks: s.RetainBlocks})
	if err != nil {
		return nil, err
	}
	if err := px.attach(home, app, s); err != nil {
		app.Close()
		return nil, err
	}
	pv := privval.LoadFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
	nk, err := p2p.LoadNodeKey(c.NodeKeyFile())
	if err != nil {
		app.Close()
		return nil, fmt.Errorf("node: node key: %w", err)
	}
	dbs := &dbTracker{}
	// One mutex per ABCI connection, so that CheckTx floods do not starve
	// consensus; the app is written for that concurrency.
	cmt, err := nm.NewNode(c, pv, nk, proxy.NewConnSyncLocalClientCreator(app),
		nm.DefaultGenesisDocProviderFunc(c), dbs.provide,
		cometMetrics(registerer(reg), c.Instrumentation.Namespace), cometLogger(lg))
	if err != nil {
		dbs.closeAll()
		app.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	n := &Node{home: home, settings: s, app: app, cmt: cmt, dbs: dbs, log: lg, px: px, bl: bl, rep: rep, sources: sources, registry: reg, walkers: walkers}
	rep.n, rep.signer, rep.log = n, px.svc.Signer(), lg
	rep.self = protocol.PubKeyOf(rep.signer.VerifyingKey())
	n.bg, n.bgCancel = context.WithCancel(context.Background())
	if err := n.openBlobs(); err != nil {
		dbs.closeAll()
		app.Close()
		return nil, err
	}
	opened = true
	return n, nil
}

// registryPeers reads the p2p ids of the registry's nodes from genesis (nil if it names
// none), and the chain id.
func registryPeers(genesisPath string) ([]string, string, error) {
	gen, err := types.GenesisDocFromFile(genesisPath)
	if err != nil {
		return nil, "", fmt.Errorf("node: genesis: %w", err)
	}
	var st appState
	if err := json.Unmarshal(gen.AppState, &st); err != nil {
		return nil, "", fmt.Errorf("node: genesis app_state: %w", err)
	}
	return st.P2PIDs, gen.ChainID, nil
}

// cometConfig builds CometBFT's configuration from the node's settings.
func cometConfig(home string, s Settings) *cfg.Config {
	c := cfg.DefaultConfig()
	c.SetRoot(home)
	c.Moniker = s.Moniker
	c.Genesis = genesisFile
	c.PrivValidatorKey = privValKeyFile
	c.PrivValidatorState = privValState
	c.NodeKey = nodeKeyFile
	c.P2P.ListenAddress = s.P2PListen
	c.P2P.ExternalAddress = s.P2PExternal
	c.P2P.PersistentPeers = strings.Join(s.PersistentPeers, ",")
	c.P2P.PexReactor = false
	c.P2P.AddrBookStrict = false
	c.P2P.AllowDuplicateIP = true
	c.P2P.FlushThrottleTimeout = time.Duration(s.Timing.FlushThrottle)
	c.P2P.SendRate, c.P2P.RecvRate = 20<<20, 20<<20
	c.RPC.ListenAddress = s.RPCListen
	c.Instrumentation.Prometheus = false
	c.Consensus.TimeoutPropose = time.Duration(s.Timing.Propose)
	c.Consensus.TimeoutCommit = time.Duration(s.Timing.Commit)
	// The waits for the last prevotes and precommits of a round, and what
	// every further round adds to each timeout, in proportion to the
	// propose timeout, which the Timing sizes for the round trips: for
	// WANTiming that is exactly CometBFT's defaults (1 s and 500 ms), for
	// LoopbackTiming a fifth of them. A round whose proposer is down ends
	// with +2/3 precommits for nil, and even then CometBFT waits out
	// TimeoutPrecommit before the next round (consensus/state.go:2343), so
	// with a validator stopped, a quarter of the heights, and the height
	// under way when a lost quorum comes back, cost a second or more per
	// failed round at the defaults.
	if p := time.Duration(s.Timing.Propose); p > 0 {
		c.Consensus.TimeoutPrevote, c.Consensus.TimeoutPrecommit = p/2, p/2
		c.Consensus.TimeoutProposeDelta = p / 4
		c.Consensus.TimeoutPrevoteDelta, c.Consensus.TimeoutPrecommitDelta = p/4, p/4
	}
	c.Consensus.PeerGossipSleepDuration = time.Duration(s.Timing.GossipSleep)
	c.Consensus.PeerQueryMaj23SleepDuration = 10 * time.Duration(s.Timing.GossipSleep)
	// Blocks only for transactions, plus one empty block per interval.
	c.Consensus.CreateEmptyBlocks = false
	c.Consensus.CreateEmptyBlocksInterval = time.Duration(s.Timing.EmptyBlocksInterval)
	c.Mempool.Size = 20000
	c.Mempool.CacheSize = 40000
	c.Mempool.MaxTxBytes = protocol.MaxTxBytes
	applyStateSync(c, home, s.StateSync)
	return c
}

func stopGrace(t Timing) time.Duration {
	return 4*10*time.Duration(t.GossipSleep) + 100*time.Millisecond
}

// App is the node's ledger application (for the proxy and for tests).
func (n *Node) App() *App { return n.app }

// Home is the node's home directory.
func (n *Node) Home() string { return n.home }

// Settings are the node's settings.
func (n *Node) Settings() Settings { return n.settings }

// ID is the node's p2p id.
func (n *Node) ID() string { return string(n.cmt.NodeInfo().ID()) }

// Height is the height of the last block in the node's block store.
func (n *Node) Height() int64 { return n.cmt.BlockStore().Height() }

// AppHashAt returns the app hash in the header of block h, which commits
// to the state after block h−1.
func (n *Node) AppHashAt(h int64) []byte {
	m := n.cmt.BlockStore().LoadBlockMeta(h)
	if m == nil {
		return nil
	}
	return m.Header.AppHash
}

// RPC returns the node's own CometBFT RPC, in-process.
func (n *Node) RPC() *RPC {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.rpc == nil {
		n.rpc = NewRPC(local.New(n.cmt))
	}
	return n.rpc
}

// Start starts CometBFT (the app was opened by Open).
func (n *Node) Start() error {
	// The blob service and the reporter walk committed state when they start. A node about
	// to restore a snapshot has none yet: they start at its first commit instead.
	h, _, _ := n.app.LastCommit()
	deferWalkers := n.settings.StateSync.Enable && h == 0
	if deferWalkers {
		n.walkers.arm(n.startWalkers)
	}
	if err := n.cmt.Start(); err != nil {
		_ = n.Stop()
		return fmt.Errorf("node: start: %w", err)
	}
	if err := n.px.listen(n.settings.APIAddr, n.apiHandler()); err != nil {
		_ = n.Stop()
		return err
	}
	if n.registry != nil {
		m, err := serveMetrics(n.settings.Metrics.Listen, n.registry, n.log)
		if err != nil {
			_ = n.Stop()
			return err
		}
		n.mu.Lock()
		n.metrics = m
		n.mu.Unlock()
	}
	if !deferWalkers {
		n.startWalkers()
	}
	n.log.Debug("node started", "id", n.ID())
	return nil
}

// startWalkers starts the blob service and the reporter, unless the node stopped.
func (n *Node) startWalkers() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.stopped {
		n.bl.start()
		n.rep.start()
	}
}

// deferredStart runs a function once, at the first commit after it is armed.
type deferredStart struct {
	fn atomic.Pointer[func()]
}

func (d *deferredStart) arm(fn func()) { d.fn.Store(&fn) }

func (d *deferredStart) onCommit(next func(ledger.CommitInfo)) func(ledger.CommitInfo) {
	return func(ci ledger.CommitInfo) {
		if fn := d.fn.Swap(nil); fn != nil {
			(*fn)()
		}
		if next != nil {
			next(ci)
		}
	}
}

// Stop stops CometBFT and closes the ledger state. It is idempotent.
func (n *Node) Stop() error {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return nil
	}
	n.stopped = true
	c, m := n.rpc, n.metrics
	n.mu.Unlock()
	n.rep.stop()
	n.bgCancel()
	n.bgWork.Wait()
	if c != nil {
		c.Close()
	}
	var errs []error
	if err := m.close(); err != nil {
		errs = append(errs, err)
	}
	if err := n.px.close(); err != nil {
		errs = append(errs, err)
	}
	if err := n.bl.stop(); err != nil {
		errs = append(errs, err)
	}
	if n.cmt.IsRunning() {
		if err := n.cmt.Stop(); err != nil {
			errs = append(errs, err)
		}
		n.cmt.Wait()
		// Let peer goroutines that were sleeping notice the stop before
		// their stores close (see dbTracker).
		time.Sleep(stopGrace(n.settings.Timing))
	}
	n.dbs.closeAll()
	if err := n.app.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := n.px.vault.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Run starts the node and stops it when ctx is done.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return n.Stop()
}

// dbTracker remembers every database CometBFT opens so that Stop can close
// them all: v0.38 does not close its indexer stores, and a store left open
// keeps its file lock, which would stop a restart in the same process.
//
// It also defers CometBFT's own Close calls: v0.38's Node.OnStop closes the
// block store while per-peer consensus goroutines may still wake from a
// sleep and read it, which panics ("leveldb: closed"). The real close
// happens in closeAll, after those goroutines have seen the stop.
type dbTracker struct {
	mu  sync.Mutex
	dbs []dbm.DB
}

type deferredCloseDB struct{ dbm.DB }

func (deferredCloseDB) Close() error { return nil }

func (t *dbTracker) provide(ctx *cfg.DBContext) (dbm.DB, error) {
	db, err := cfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.dbs = append(t.dbs, db)
	t.mu.Unlock()
	return deferredCloseDB{db}, nil
}

// closeAll closes every store.
func (t *dbTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, db := range t.dbs {
		_ = db.Close()
	}
	t.dbs = nil
}
