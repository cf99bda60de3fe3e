// Package blobs is a node's blob service: it takes signed uploads of sealed
// record blobs into the node's store, serves blobs, byte ranges and CARs,
// and keeps the store in line with the ledger: it fetches the blobs of
// committed records placed on the node (from peers, as a verified CAR, or
// through the node's kubo daemon), reports holding them with a HoldsBlob
// transaction, repairs what is missing or corrupt, deletes erased blobs,
// and deletes uploads that never became a record. See SPEC.md.
package blobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Defaults for Config's zero values.
const (
	DefaultMaxUpload  = 4 << 30
	DefaultGrace      = time.Hour
	DefaultPinTimeout = time.Minute
)

// Pinner is a store that can take a replica through its own network (a
// kubo daemon fetching from its peers), as store/kubo does.
type Pinner interface {
	Pin(ctx context.Context, c cid.Cid) error
}

// Ledger is the committed state the service follows (the node's ABCI application).
type Ledger interface {
	Committed() (*ledger.Snapshot, error)
}

// Config of a Service.
type Config struct {
	Store  store.Store
	Ledger Ledger
	// Signer is the node's proxy key: it names the node in the registry.
	Signer *umbral.Signer
	// Report sends one of the node's own transactions (a HoldsBlob report), signed with its
	// proxy key, to the node's mempool.
	Report func(ctx context.Context, body protocol.Body) error
	// Dir holds the markers of uploads not yet part of a record.
	Dir string
	// MaxUpload bounds one upload in bytes (default DefaultMaxUpload).
	MaxUpload int64
	// MaxPending bounds the bytes one account may have uploaded that are
	// not yet part of a committed record (default 2×MaxUpload).
	MaxPending int64
	// Grace is how long an upload may wait for its record (default DefaultGrace).
	Grace time.Duration
	// PinTimeout bounds a kubo pin before falling back to a CAR from peers.
	PinTimeout time.Duration
	HTTP       *http.Client // for peers; default: no overall timeout
	Logger     *slog.Logger
	Now        func() time.Time
}

// Service is one node's blob service. Create with New, then Start.
type Service struct {
	cfg  Config
	self protocol.PubKey
	log  *slog.Logger

	mu      sync.Mutex
	sync    map[protocol.ID]bool // records to fetch or check
	repair  map[cid.Cid]bool     // blobs whose reads failed verification
	erase   []ledger.Erasure
	pending map[cid.Cid]*marker
	seen    map[protocol.Sig]int64 // upload signatures already used, until their time expires
	wake    chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks the configuration and loads the upload markers.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Ledger == nil || cfg.Signer == nil || cfg.Report == nil || cfg.Dir == "" {
		return nil, errors.New("blobs: Store, Ledger, Signer, Report and Dir are required")
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 2 * cfg.MaxUpload
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.PinTimeout <= 0 {
		cfg.PinTimeout = DefaultPinTimeout
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 30 * time.Second, MaxIdleConnsPerHost: 4}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	s := &Service{cfg: cfg, self: protocol.PubKeyOf(cfg.Signer.VerifyingKey()), log: cfg.Logger,
		sync: map[protocol.ID]bool{}, repair: map[cid.Cid]bool{}, seen: map[protocol.Sig]int64{},
		wake: make(chan struct{}, 1)}
	var err error
	if s.pending, err = loadMarkers(cfg.Dir); err != nil {
		return nil, err
	}
	return s, nil
}

// OnCommit queues the blob work of a committed block: fetching the blobs
// of new records and deleting erased ones. It only queues: the ledger
// calls it inside ABCI Commit, where slow I/O would stall consensus.
func (s *Service) OnCommit(ci ledger.CommitInfo) {
	if len(ci.Put) == 0 && len(ci.Erased) == 0 {
		return
	}
	s.mu.Lock()
	for _, id := range ci.Put {
		s.sync[id] = true
	}
	s.erase = append(s.erase, ci.Erased...)
	s.mu.Unlock()
	s.poke()
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start runs the background worker: first a full repair pass over the
// committed records (and erasures, and stray roots), then queued work,
// and the sweep of expired uploads every Grace/4 (at most every minute).
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.RepairAll(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("blobs: repair pass", "err", err)
		}
		tick := time.NewTicker(min(s.cfg.Grace/4, time.Minute))
		defer tick.Stop()
		for {
			s.drain(ctx)
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-tick.C:
				s.sweep(ctx)
			}
		}
	}()
}

// Close stops the worker (the store is the caller's to close).
func (s *Service) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// drain runs queued erasures, repairs and fetches until the queue is empty.
func (s *Service) drain(ctx context.Context) {
	for ctx.Err() == nil {
		s.mu.Lock()
		erase := s.erase
		s.erase = nil
		var rep []cid.Cid
		for c := range s.repair {
			rep = append(rep, c)
		}
		clear(s.repair)
		var ids []protocol.ID
		for id := range s.sync {
			ids = append(ids, id)
		}
		clear(s.sync)
		s.mu.Unlock()
		if len(erase)+len(rep)+len(ids) == 0 {
			return
		}
		for _, e := range erase {
			s.eraseBlob(ctx, e.CID)
		}
		for _, c := range rep {
			s.repairBlob(ctx, c)
		}
		for _, id := range ids {
			if err := s.ensure(ctx, id); err != nil && ctx.Err() == nil {
				s.log.Warn("blobs: replication", "record", id.String(), "err", err)
				s.retryLater(ctx, id)
			}
		}
	}
}

// retryLater queues a failed fetch again after a pause, so a blob whose
// only holders are briefly unreachable is fetched once they are back.
func (s *Service) retryLater(ctx context.Context, id protocol.ID) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
			s.mu.Lock()
			s.sync[id] = true
			s.mu.Unlock()
			s.poke()
		}
	}()
}

// reportCorrupt queues a blob whose read failed verification for repair.
func (s *Service) reportCorrupt(c cid.Cid) {
	s.mu.Lock()
	s.repair[c] = true
	s.mu.Unlock()
	s.poke()
}
