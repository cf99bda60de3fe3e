package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cfg "github.com/cometbft/cometbft/config"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cometbft/cometbft/types"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
)

// StateSyncSettings make a node without state catch up from a snapshot of the ledger state
// rather than by replaying every block (config/node.json "state_sync"; SPEC.md, "Snapshots
// and state sync"). They are CometBFT's: a node that already has state ignores them.
type StateSyncSettings struct {
	Enable bool `json:"enable,omitempty"`
	// RPCServers are the CometBFT RPC addresses of at least two other nodes, which its light
	// client asks for the headers that prove a snapshot's app hash.
	RPCServers []string `json:"rpc_servers,omitempty"`
	// TrustHeight and TrustHash name a block the light client starts from (PrepareRejoin
	// finds and checks one).
	TrustHeight int64  `json:"trust_height,omitempty"`
	TrustHash   string `json:"trust_hash,omitempty"`
	// TrustPeriod is how old that block may be (0: DefaultTrustPeriod).
	TrustPeriod Duration `json:"trust_period,omitempty"`
	// DiscoveryTime is how long the node gathers snapshots from its peers before it picks
	// one (0: CometBFT's 15 s; at least 5 s).
	DiscoveryTime Duration `json:"discovery_time,omitempty"`
}

// DefaultTrustPeriod is CometBFT's: a week.
const DefaultTrustPeriod = 7 * 24 * time.Hour

// applyStateSync puts the settings into CometBFT's configuration.
func applyStateSync(c *cfg.Config, home string, s StateSyncSettings) {
	c.StateSync.Enable = s.Enable
	c.StateSync.RPCServers = s.RPCServers
	c.StateSync.TrustHeight = s.TrustHeight
	c.StateSync.TrustHash = s.TrustHash
	c.StateSync.TrustPeriod = DefaultTrustPeriod
	if s.TrustPeriod > 0 {
		c.StateSync.TrustPeriod = time.Duration(s.TrustPeriod)
	}
	if s.DiscoveryTime > 0 {
		c.StateSync.DiscoveryTime = time.Duration(s.DiscoveryTime)
	}
	c.StateSync.TempDir = filepath.Join(home, "data")
	// No more chunks than a snapshot of this node's format may have.
	c.StateSync.MaxSnapshotChunks = maxSnapshotChunks
}

// WipeData deletes a stopped node's data — its ledger state, CometBFT's block store and
// state, its vault, its snapshots and, unless keepBlobs, its blobs — and keeps its keys,
// settings and genesis, and its last-signed state (data/priv_validator_state.json), which
// stops it from signing twice at a height. A running node is refused.
func WipeData(home string, keepBlobs bool) error {
	if err := ensureStopped(home); err != nil {
		return err
	}
	data := filepath.Join(home, "data")
	ents, err := os.ReadDir(data)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("node: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == filepath.Base(privValState):
			continue
		case name == "blobs" && keepBlobs:
			// The store stays; uploads not yet in a record and transfers go.
			for _, d := range []string{blobUploadsDir, blobSpoolDir} {
				if err := os.RemoveAll(filepath.Join(home, d)); err != nil {
					return fmt.Errorf("node: %w", err)
				}
			}
			continue
		}
		if err := os.RemoveAll(filepath.Join(data, name)); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	return os.MkdirAll(data, 0o700)
}

// ensureStopped refuses a home that is not one, or whose node runs: it holds its ledger
// database's lock.
func ensureStopped(home string) error {
	if _, err := os.Stat(filepath.Join(home, genesisFile)); err != nil {
		return fmt.Errorf("node: %s is not a node home: %w", home, err)
	}
	if _, err := os.Stat(filepath.Join(home, ledgerDir)); err == nil {
		db, err := leveldb.OpenFile(filepath.Join(home, ledgerDir), &opt.Options{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("node: %s: the ledger state cannot be opened (is the node running?): %w", home, err)
		}
		db.Close()
	}
	return nil
}

// RejoinPlan is what PrepareRejoin found and wrote.
type RejoinPlan struct {
	StateSync StateSyncSettings
	// Latest is the newest height the RPC servers reported: the node's last-signed height
	// was raised to at least it.
	Latest int64
}

// PrepareRejoin makes a stopped node whose data was wiped (WipeData), or a new machine with
// a node's keys, settings and genesis, catch up by state sync from the nodes whose CometBFT
// RPC servers are given (at least two). It picks a trusted block two snapshot intervals
// behind their newest (so that every snapshot they keep is above it), checks that each
// server gives the same header there and that the genesis validators signed it, writes the
// state_sync settings, and raises the last-signed height to their newest height, so the
// node never signs at a height the network may have seen it sign before. With replay, it
// turns state sync off instead: the node replays every block from genesis.
func PrepareRejoin(ctx context.Context, home string, servers []string, replay bool) (*RejoinPlan, error) {
	if len(servers) < 2 && !replay {
		return nil, errors.New("node: state sync needs the RPC servers of at least two other nodes")
	}
	if len(servers) == 0 {
		return nil, errors.New("node: rejoining needs the RPC server of another node, for the network's height")
	}
	if err := ensureStopped(home); err != nil {
		return nil, err
	}
	s, err := ReadSettings(home)
	if err != nil {
		return nil, err
	}
	gen, err := types.GenesisDocFromFile(filepath.Join(home, genesisFile))
	if err != nil {
		return nil, fmt.Errorf("node: genesis: %w", err)
	}
	servers = slices.Clone(servers)
	clients := make([]*rpchttp.HTTP, len(servers))
	var latest, earliest int64
	for i, srv := range servers {
		if !strings.Contains(srv, "://") {
			srv = "http://" + srv
			servers[i] = srv
		}
		if clients[i], err = rpchttp.New(srv, "/websocket"); err != nil {
			return nil, fmt.Errorf("node: RPC server %s: %w", srv, err)
		}
		st, err := clients[i].Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("node: RPC server %s: %w", srv, err)
		}
		if st.NodeInfo.Network != gen.ChainID {
			return nil, fmt.Errorf("node: RPC server %s is on chain %q, this node's genesis on %q", srv, st.NodeInfo.Network, gen.ChainID)
		}
		if i == 0 || st.SyncInfo.LatestBlockHeight < latest {
			latest = st.SyncInfo.LatestBlockHeight
		}
		earliest = max(earliest, st.SyncInfo.EarliestBlockHeight)
	}
	if err := raiseSignedHeight(home, latest); err != nil {
		return nil, err
	}
	// Whatever the node's vault held is gone: once caught up it says so on the ledger.
	if err := atomicfile.WriteFile(filepath.Join(home, lostFile), []byte(strconv.FormatInt(latest, 10)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("node: marking lost fragments: %w", err)
	}
	if replay {
		s.StateSync.Enable = false
		return &RejoinPlan{StateSync: s.StateSync, Latest: latest}, WriteSettings(home, s)
	}
	interval := s.Snapshots.Interval
	if interval == 0 {
		interval = DefaultSnapshotInterval
	}
	trust := max(1, earliest, latest-2*interval)
	if trust > latest {
		return nil, fmt.Errorf("node: the RPC servers keep no block in common (earliest %d, latest %d)", earliest, latest)
	}
	hash, err := trustedHash(ctx, gen, clients, servers, trust)
	if err != nil {
		return nil, err
	}
	s.StateSync.Enable = true
	s.StateSync.RPCServers = servers
	s.StateSync.TrustHeight, s.StateSync.TrustHash = trust, hash
	if err := WriteSettings(home, s); err != nil {
		return nil, err
	}
	return &RejoinPlan{StateSync: s.StateSync, Latest: latest}, nil
}

// trustedHash asks every server for the signed header at height and returns its hash once
// all give the same one, signed by more than two thirds of the genesis validators (the
// network's validators never change).
func trustedHash(ctx context.Context, gen *types.GenesisDoc, clients []*rpchttp.HTTP, servers []string, height int64) (string, error) {
	vals := make([]*types.Validator, len(gen.Validators))
	for i, v := range gen.Validators {
		vals[i] = types.NewValidator(v.PubKey, v.Power)
	}
	set := types.NewValidatorSet(vals)
	var hash []byte
	for i, c := range clients {
		res, err := c.Commit(ctx, &height)
		if err != nil {
			return "", fmt.Errorf("node: RPC server %s: header %d: %w", servers[i], height, err)
		}
		sh := res.SignedHeader
		if err := sh.ValidateBasic(gen.ChainID); err != nil {
			return "", fmt.Errorf("node: RPC server %s: header %d: %w", servers[i], height, err)
		}
		if err := set.VerifyCommitLight(gen.ChainID, sh.Commit.BlockID, height, sh.Commit); err != nil {
			return "", fmt.Errorf("node: RPC server %s: header %d is not signed by the genesis validators: %w", servers[i], height, err)
		}
		h := sh.Header.Hash()
		if hash != nil && string(h) != string(hash) {
			return "", fmt.Errorf("node: RPC servers %s and %s give different headers at height %d", servers[0], servers[i], height)
		}
		hash = h
	}
	return strings.ToUpper(hex.EncodeToString(hash)), nil
}

// raiseSignedHeight makes the last-signed state at least height (created if missing).
func raiseSignedHeight(home string, height int64) error {
	path := filepath.Join(home, privValState)
	var cur struct {
		Height string `json:"height"`
	}
	if b, err := os.ReadFile(path); err == nil {
		if json.Unmarshal(b, &cur) != nil {
			return fmt.Errorf("node: %s does not parse: fix or remove it", path)
		}
		if h, err := strconv.ParseInt(cur.Height, 10, 64); err == nil && h >= height {
			return nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("node: %w", err)
	}
	b := fmt.Appendf(nil, "{\n  \"height\": \"%d\",\n  \"round\": 0,\n  \"step\": 0\n}\n", height)
	return atomicfile.WriteFile(path, b, 0o600)
}
