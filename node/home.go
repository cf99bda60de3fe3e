package node

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"

	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
	"github.com/resilientrecords/resilientrecords/internal/source"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// A node home directory:
//
//	config/node.json               Settings (this package's own file)
//	config/genesis.json            CometBFT genesis with the ledger's app_state
//	config/priv_validator_key.json ed25519 consensus key (0600)
//	config/node_key.json           p2p identity key (0600)
//	config/proxy_key               secp256k1 re-encryption key, hex (0600)
//	data/                          CometBFT block store and state
//	data/ledger/                   the ledger app's goleveldb state
//	data/priv_validator_state.json last signed height/round (double-sign guard)
const (
	settingsFile   = "config/node.json"
	genesisFile    = "config/genesis.json"
	privValKeyFile = "config/priv_validator_key.json"
	nodeKeyFile    = "config/node_key.json"
	proxyKeyFile   = "config/proxy_key"
	privValState   = "data/priv_validator_state.json"
	ledgerDir      = "data/ledger"
)

// validatorPower is every genesis validator's voting power: nodes are peers.
const validatorPower = 10

// MaxBlockBytes bounds a block (about 250 grants).
const MaxBlockBytes = 128 << 10

// ErrHomeExists: a home already has a genesis; initialising it again would
// fork the node off its chain.
var ErrHomeExists = errors.New("node home already initialised")

// Duration is a time.Duration written as text ("10ms") in JSON.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Timing is the consensus pacing. On loopback, 400 ms propose and 10 ms commit timeouts with
// 5 ms gossip commit a transaction in tens of milliseconds; across hosts, timeouts must cover
// the round trips, hence WANTiming.
type Timing struct {
	Propose       Duration `json:"timeout_propose"`
	Commit        Duration `json:"timeout_commit"`
	FlushThrottle Duration `json:"flush_throttle"`
	GossipSleep   Duration `json:"gossip_sleep"`
	// EmptyBlocksInterval: blocks are made only for transactions, plus one
	// empty block after this long so an idle chain still shows it is alive.
	EmptyBlocksInterval Duration `json:"empty_blocks_interval"`
}

// LoopbackTiming commits a transaction in tens of milliseconds when all
// validators share a host.
func LoopbackTiming() Timing {
	return Timing{Propose: Duration(400 * time.Millisecond), Commit: Duration(10 * time.Millisecond),
		FlushThrottle: Duration(5 * time.Millisecond), GossipSleep: Duration(5 * time.Millisecond),
		EmptyBlocksInterval: Duration(2 * time.Second)}
}

// WANTiming suits validators on separate hosts.
func WANTiming() Timing {
	return Timing{Propose: Duration(2 * time.Second), Commit: Duration(200 * time.Millisecond),
		FlushThrottle: Duration(10 * time.Millisecond), GossipSleep: Duration(20 * time.Millisecond),
		EmptyBlocksInterval: Duration(15 * time.Second)}
}

// Settings is config/node.json.
type Settings struct {
	Moniker         string          `json:"moniker"`
	P2PListen       string          `json:"p2p_listen"`             // e.g. tcp://0.0.0.0:26656
	P2PExternal     string          `json:"p2p_external,omitempty"` // host:port peers dial
	RPCListen       string          `json:"rpc_listen"`             // "" disables the RPC server
	APIAddr         string          `json:"api_addr"`               // advertised in the registry
	PersistentPeers []string        `json:"persistent_peers"`       // id@host:port
	Timing          Timing          `json:"timing"`
	Blobs           BlobSettings    `json:"blobs"` // blob store and service (blobs.go)
	API             APISettings     `json:"api"`
	Metrics         MetricsSettings `json:"metrics,omitzero"` // Prometheus metrics (metrics.go)
	// Snapshots of the ledger state for nodes that rejoin (snapshotstore.go); StateSync
	// makes this node one of them (statesync.go).
	Snapshots SnapshotSettings  `json:"snapshots,omitzero"`
	StateSync StateSyncSettings `json:"state_sync,omitzero"`
	// RetainBlocks, if positive, bounds the blocks this node keeps to the newest
	// RetainBlocks (never past its oldest snapshot); 0 keeps the whole chain, the audit trail.
	RetainBlocks int64 `json:"retain_blocks,omitempty"`
}

// APISettings tell the node's HTTP API where requests come from, for its limits per source
// (an IPv4 address or an IPv6 /64).
type APISettings struct {
	// TrustedProxyHeader is the header a reverse proxy in front of the node sets to the
	// client's address (X-Forwarded-For or X-Real-IP); empty: no header is believed.
	TrustedProxyHeader string `json:"trusted_proxy_header,omitempty"`
	// TrustedProxies are the addresses or CIDR prefixes of those reverse proxies.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
}

// resolver builds the request-source resolver the settings describe.
func (a APISettings) resolver() (*source.Resolver, error) {
	proxies, err := source.ParsePrefixes(strings.Join(a.TrustedProxies, ","))
	if err != nil {
		return nil, fmt.Errorf("node: api.trusted_proxies: %w", err)
	}
	if a.TrustedProxyHeader != "" && len(proxies) == 0 {
		return nil, errors.New("node: api.trusted_proxy_header needs api.trusted_proxies: the header is believed only from them")
	}
	return &source.Resolver{Header: a.TrustedProxyHeader, Proxies: proxies}, nil
}

// PublicKeys is the public part of a node's keys.
type PublicKeys struct {
	Name         string
	NodeID       string        // p2p id
	ValidatorKey types.Address // consensus address
	ProxyKey     protocol.PubKey
	validator    crypto.PubKey
}

// HostSpec places one node of a network.
type HostSpec struct {
	Name    string // directory and moniker
	Host    string // address peers dial
	P2PPort int
	RPCPort int    // 0: no RPC server
	APIAddr string // proxy API address advertised in the registry
	// Listen overrides the p2p listen host (default 0.0.0.0).
	Listen string
}

// NetworkSpec describes an n-node network.
type NetworkSpec struct {
	ChainID     string
	GenesisTime time.Time // zero: now
	Nodes       []HostSpec
	Timing      Timing
	// Replication is how many nodes hold each record's blob (genesis
	// app_state.replication); 0 means every node.
	Replication int
	// Admission is who may transact and what each account keeps (genesis
	// app_state.admission); nil means protocol.DefaultAdmission.
	Admission *protocol.AdmissionRules
	// Open writes no admission rules: any key transacts, with no allowance (tests of
	// other things).
	Open bool
}

// appState is genesis.json's app_state: the ledger's genesis, and the p2p ids of the
// registry's nodes, the only peers a node accepts (filterPeers).
type appState struct {
	ledger.GenesisState
	P2PIDs []string `json:"p2p_ids,omitempty"`
}

// GenerateNetwork writes one home directory per node under dir (dir/<name>)
// with fresh keys, a shared genesis naming every node as a validator and in
// the ledger's registry, and every other node as a persistent peer. It
// returns the homes in spec order.
func GenerateNetwork(dir string, spec NetworkSpec) ([]string, error) {
	if spec.ChainID == "" || len(spec.ChainID) > protocol.MaxChainID {
		return nil, fmt.Errorf("node: chain id must be 1..%d bytes", protocol.MaxChainID)
	}
	if len(spec.Nodes) == 0 {
		return nil, errors.New("node: a network needs at least one node")
	}
	homes := make([]string, len(spec.Nodes))
	ids := make([]*PublicKeys, len(spec.Nodes))
	for i, h := range spec.Nodes {
		if h.Name == "" || strings.ContainsAny(h.Name, `/\`) {
			return nil, fmt.Errorf("node: bad node name %q", h.Name)
		}
		homes[i] = filepath.Join(dir, h.Name)
		if _, err := os.Stat(filepath.Join(homes[i], genesisFile)); err == nil {
			return nil, fmt.Errorf("node: %s: %w", homes[i], ErrHomeExists)
		}
		id, err := initKeys(homes[i])
		if err != nil {
			return nil, err
		}
		id.Name = h.Name
		ids[i] = id
	}
	gen, err := genesisDoc(spec, ids)
	if err != nil {
		return nil, err
	}
	for i, h := range spec.Nodes {
		var peers []string
		for j, o := range spec.Nodes {
			if j != i {
				peers = append(peers, fmt.Sprintf("%s@%s:%d", ids[j].NodeID, o.Host, o.P2PPort))
			}
		}
		listen := h.Listen
		if listen == "" {
			listen = "0.0.0.0"
		}
		s := Settings{Moniker: h.Name, P2PListen: fmt.Sprintf("tcp://%s:%d", listen, h.P2PPort),
			P2PExternal: fmt.Sprintf("%s:%d", h.Host, h.P2PPort), APIAddr: h.APIAddr,
			PersistentPeers: peers, Timing: spec.Timing}
		if h.RPCPort != 0 {
			s.RPCListen = fmt.Sprintf("tcp://%s:%d", listen, h.RPCPort)
		}
		if err := WriteSettings(homes[i], s); err != nil {
			return nil, err
		}
		if err := gen.SaveAs(filepath.Join(homes[i], genesisFile)); err != nil {
			return nil, fmt.Errorf("node: write genesis: %w", err)
		}
	}
	return homes, nil
}

// Init prepares a single-node home: keys, settings and a genesis in which
// this node is the only validator. For several hosts use GenerateNetwork.
// adm is the network's admission rules (nil: protocol.DefaultAdmission).
func Init(home, chainID string, h HostSpec, timing Timing, adm *protocol.AdmissionRules) (*PublicKeys, error) {
	home = filepath.Clean(home)
	h.Name = filepath.Base(home)
	if _, err := GenerateNetwork(filepath.Dir(home), NetworkSpec{ChainID: chainID,
		Nodes: []HostSpec{h}, Timing: timing, Admission: adm}); err != nil {
		return nil, err
	}
	id, err := initKeys(home)
	if err == nil {
		id.Name = h.Name
	}
	return id, err
}

func genesisDoc(spec NetworkSpec, ids []*PublicKeys) (*types.GenesisDoc, error) {
	adm := spec.Admission
	if adm == nil && !spec.Open {
		adm = &protocol.DefaultAdmission
	}
	gs := appState{GenesisState: ledger.GenesisState{Replication: spec.Replication, Admission: adm}}
	vals := make([]types.GenesisValidator, len(ids))
	for i, id := range ids {
		gs.P2PIDs = append(gs.P2PIDs, id.NodeID)
		pub := id.validator
		vals[i] = types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: validatorPower, Name: id.Name}
		gs.Nodes = append(gs.Nodes, protocol.Node{Name: id.Name, API: apiURL(spec.Nodes[i].APIAddr),
			ProxyKey: id.ProxyKey, ValidatorKey: pub.Bytes(), Power: validatorPower})
	}
	app, err := json.Marshal(gs)
	if err != nil {
		return nil, err
	}
	t := spec.GenesisTime
	if t.IsZero() {
		t = time.Now().UTC()
	}
	params := types.DefaultConsensusParams()
	// Small blocks: a block must reach every validator and be executed
	// well within timeout_propose, or rounds fail and the backlog grows.
	params.Block.MaxBytes = MaxBlockBytes
	params.Evidence.MaxBytes = MaxBlockBytes / 4
	gen := &types.GenesisDoc{ChainID: spec.ChainID, GenesisTime: t, InitialHeight: 1,
		ConsensusParams: params, Validators: vals, AppState: app}
	if err := gen.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("node: genesis: %w", err)
	}
	return gen, nil
}

// initKeys creates (or loads) the node's three keys.
func initKeys(home string) (*PublicKeys, error) {
	for _, d := range []string{"config", "data"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	pv := privval.LoadOrGenFilePV(filepath.Join(home, privValKeyFile), filepath.Join(home, privValState))
	nk, err := p2p.LoadOrGenNodeKey(filepath.Join(home, nodeKeyFile))
	if err != nil {
		return nil, fmt.Errorf("node: node key: %w", err)
	}
	sk, err := loadOrGenProxyKey(filepath.Join(home, proxyKeyFile))
	if err != nil {
		return nil, err
	}
	return &PublicKeys{NodeID: string(nk.ID()), ValidatorKey: pv.Key.Address,
		validator: pv.Key.PubKey, ProxyKey: protocol.PubKeyOf(sk.PublicKey())}, nil
}

func loadOrGenProxyKey(path string) (*umbral.SecretKey, error) {
	if _, err := os.Stat(path); err == nil {
		return LoadProxyKey(filepath.Dir(filepath.Dir(path)))
	}
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(sk.Bytes())+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("node: write proxy key: %w", err)
	}
	return sk, nil
}

// LoadProxyKey reads the node's re-encryption secret key from its home. A key file others
// can read is refused: the key opens every fragment deposited with the node.
func LoadProxyKey(home string) (*umbral.SecretKey, error) {
	path := filepath.Join(home, proxyKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("node: read proxy key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("node: proxy key %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("node: read proxy key: %w", err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, errors.New("node: proxy key file is not hex")
	}
	sk, err := umbral.SecretKeyFromBytes(raw)
	if err != nil {
		return nil, errors.New("node: proxy key file holds an invalid key")
	}
	return sk, nil
}

// WriteSettings writes config/node.json.
func WriteSettings(home string, s Settings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(home, settingsFile), append(b, '\n'), 0o600)
}

// ReadSettings reads config/node.json.
func ReadSettings(home string) (Settings, error) {
	var s Settings
	b, err := os.ReadFile(filepath.Join(home, settingsFile))
	if err != nil {
		return s, fmt.Errorf("node: read settings: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("node: %s: %w", settingsFile, err)
	}
	if err := s.Blobs.check(); err != nil {
		return s, fmt.Errorf("%w (in %s)", err, settingsFile)
	}
	if err := s.Snapshots.check(); err != nil {
		return s, fmt.Errorf("%w (in %s)", err, settingsFile)
	}
	if s.RetainBlocks < 0 {
		return s, fmt.Errorf("node: retain_blocks is %d: it cannot be negative (0 keeps every block) (in %s)", s.RetainBlocks, settingsFile)
	}
	return s, nil
}

// apiURL is the registry's URL for an API listening address host:port.
func apiURL(addr string) string {
	if addr == "" || strings.Contains(addr, "://") {
		return addr
	}
	return "http://" + addr
}

// NetworkFile describes the network of the node in home, as network.json says it to
// clients: the chain id and the registry fixed in the genesis of its home.
func NetworkFile(home string) (*protocol.Network, error) {
	gen, err := types.GenesisDocFromFile(filepath.Join(home, genesisFile))
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	var gs ledger.GenesisState
	if err := json.Unmarshal(gen.AppState, &gs); err != nil {
		return nil, fmt.Errorf("node: genesis app_state: %w", err)
	}
	nw := &protocol.Network{ChainID: gen.ChainID, Nodes: gs.Nodes}
	return nw, nw.Check()
}

// WriteNetworkFile writes network.json (mode 0644: it is public).
func WriteNetworkFile(path string, nw *protocol.Network) error {
	b, err := nw.JSON()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o644)
}
