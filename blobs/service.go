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
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/resilientrecords/resilientrecords/internal/source"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Defaults for Config's zero values.
const (
	DefaultMaxUpload          = 4 << 30
	DefaultGrace              = time.Hour
	DefaultPinTimeout         = time.Minute
	DefaultIdleTimeout        = 30 * time.Second
	DefaultMinRate            = 16 << 10
	DefaultMaxTransfers       = 64
	DefaultMaxSourceTransfers = 8
	DefaultWorkers            = 4
	DefaultRetryMin           = 2 * time.Second
	DefaultRetryMax           = 10 * time.Minute
)

// maxQueued bounds the records the replication queue remembers, waiting or failed (a few
// megabytes); what it forgets, a later walk of the ledger finds again.
const maxQueued = 1 << 16

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
	// SpoolDir holds transfers in progress (default Dir/.spool); see spool.go.
	SpoolDir string
	// MaxUpload bounds one upload in bytes (default DefaultMaxUpload).
	MaxUpload int64
	// MaxPending bounds the bytes one account may have uploaded or be uploading that are
	// not yet part of a committed record (default 2×MaxUpload).
	MaxPending int64
	// MaxSourceInFlight and MaxInFlight bound the signed sizes of the uploads in progress
	// from one source (default 2×MaxUpload) and in all (default 8×MaxUpload): the disk a
	// node may be asked to spool at once.
	MaxSourceInFlight, MaxInFlight int64
	// MaxSourceTransfers and MaxTransfers bound the uploads, blob reads and CAR reads in
	// progress from one source (default DefaultMaxSourceTransfers) and in all (default
	// DefaultMaxTransfers).
	MaxSourceTransfers, MaxTransfers int
	// SelfUploadRate and SelfUploadBurst pace each self-enrolled account's uploads in bytes,
	// SelfPoolUploadRate and SelfPoolUploadBurst all of theirs together (defaults
	// DefaultSelfUploadRate and so on; see budget.go).
	SelfUploadRate, SelfUploadBurst         int64
	SelfPoolUploadRate, SelfPoolUploadBurst int64
	// Sources names a request's source for those bounds (nil: its peer address).
	Sources *source.Resolver
	// IdleTimeout and MinRate: a transfer, either way and peers' included, is cut once an
	// IdleTimeout passes in which fewer than MinRate bytes moved (defaults
	// DefaultIdleTimeout, DefaultMinRate).
	IdleTimeout time.Duration
	MinRate     int64
	// Workers bounds the records being fetched or checked at once (default DefaultWorkers).
	Workers int
	// RetryMin and RetryMax: a record whose blob could not be fetched is tried again after
	// RetryMin, doubling each time it fails again, up to RetryMax (defaults DefaultRetryMin,
	// DefaultRetryMax).
	RetryMin, RetryMax time.Duration
	// Grace is how long an upload may wait for its record (default DefaultGrace).
	Grace time.Duration
	// PinTimeout bounds a kubo pin before falling back to a CAR from peers.
	PinTimeout time.Duration
	HTTP       *http.Client // for peers; default: no overall timeout (a fetch is cut by IdleTimeout)
	Logger     *slog.Logger
	Now        func() time.Time
	// Metrics, if set, is where the service registers its metrics (metrics.go); nil counts
	// for nobody.
	Metrics prometheus.Registerer
}

// Service is one node's blob service. Create with New, then Start.
type Service struct {
	cfg  Config
	self protocol.PubKey
	log  *slog.Logger
	q    *queue
	gate *source.Gate
	m    *metrics

	// putting is held shared by an upload from its store import to its marker, and
	// exclusively by the deletion of stored roots nothing accounts for, which would
	// otherwise take an upload in between for a stray.
	putting sync.RWMutex
	spooled sync.Map // spool files still to remove at unspool

	mu           sync.Mutex
	repair       map[cid.Cid]bool // blobs whose reads failed verification
	erase        []ledger.Erasure
	deletes      chan struct{} // erasures or repairs were queued
	pending      map[cid.Cid]*marker
	pendingBy    map[protocol.PubKey]int64 // sizes of pending, per signer
	inFlightBy   map[protocol.PubKey]int64 // signed sizes of uploads in progress, per signer
	inFlightFrom map[string]int64          // the same per source
	selfBudgets  map[protocol.PubKey]*byteBudget
	selfPool     *byteBudget
	inFlight     int64
	seen         map[protocol.Sig]int64 // upload signatures already used, until their time expires

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks the configuration and loads the upload markers.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Ledger == nil || cfg.Signer == nil || cfg.Report == nil || cfg.Dir == "" {
		return nil, errors.New("blobs: Store, Ledger, Signer, Report and Dir are required")
	}
	orInt64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	orInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	orDuration := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	orInt64(&cfg.MaxUpload, DefaultMaxUpload)
	orInt64(&cfg.MaxPending, 2*cfg.MaxUpload)
	orInt64(&cfg.MaxSourceInFlight, 2*cfg.MaxUpload)
	orInt64(&cfg.MaxInFlight, 8*cfg.MaxUpload)
	orInt64(&cfg.MinRate, DefaultMinRate)
	orInt64(&cfg.SelfUploadRate, DefaultSelfUploadRate)
	orInt64(&cfg.SelfUploadBurst, DefaultSelfUploadBurst)
	orInt64(&cfg.SelfPoolUploadRate, DefaultSelfPoolUploadRate)
	orInt64(&cfg.SelfPoolUploadBurst, DefaultSelfPoolUploadBurst)
	orInt(&cfg.MaxTransfers, DefaultMaxTransfers)
	orInt(&cfg.MaxSourceTransfers, DefaultMaxSourceTransfers)
	orInt(&cfg.Workers, DefaultWorkers)
	orDuration(&cfg.IdleTimeout, DefaultIdleTimeout)
	orDuration(&cfg.RetryMin, DefaultRetryMin)
	orDuration(&cfg.RetryMax, DefaultRetryMax)
	orDuration(&cfg.Grace, DefaultGrace)
	orDuration(&cfg.PinTimeout, DefaultPinTimeout)
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = filepath.Join(cfg.Dir, ".spool")
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
	if err := clearSpool(cfg.SpoolDir); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, self: protocol.PubKeyOf(cfg.Signer.VerifyingKey()), log: cfg.Logger,
		q:      newQueue(cfg.RetryMin, cfg.RetryMax, maxQueued),
		gate:   source.NewGate(cfg.MaxSourceTransfers, cfg.MaxTransfers),
		repair: map[cid.Cid]bool{}, deletes: make(chan struct{}, 1), pendingBy: map[protocol.PubKey]int64{},
		inFlightBy: map[protocol.PubKey]int64{}, inFlightFrom: map[string]int64{}, seen: map[protocol.Sig]int64{},
		selfBudgets: map[protocol.PubKey]*byteBudget{}, selfPool: newByteBudget(cfg.SelfPoolUploadRate, cfg.SelfPoolUploadBurst, cfg.Now())}
	s.m = newMetrics(cfg.Metrics, s.q)
	var err error
	if s.pending, err = loadMarkers(cfg.Dir); err != nil {
		return nil, err
	}
	for _, m := range s.pending {
		s.pendingBy[m.Signer] += m.Size
	}
	return s, nil
}

// OnCommit queues the blob work of a committed block: fetching the blobs
// of new records and deleting erased ones. It only queues: the ledger
// calls it inside ABCI Commit, where slow I/O would stall consensus.
func (s *Service) OnCommit(ci ledger.CommitInfo) {
	for _, id := range ci.Put {
		s.q.add(id)
	}
	if len(ci.Erased) == 0 {
		return
	}
	s.mu.Lock()
	s.erase = append(s.erase, ci.Erased...)
	s.mu.Unlock()
	for _, e := range ci.Erased {
		s.q.forget(e.Record)
	}
	poke(s.deletes)
}

// Start runs the background work, each part in its own goroutine so that none waits behind
// another: erasures and repairs' deletions; fetches, Workers at a time; the walk of every
// committed record (at start, and again when the queue had to forget work); and the sweep of
// expired uploads every Grace/4 (at most every minute).
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, f := range []func(context.Context){s.deleter, s.dispatch, s.walker, s.sweeper} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			f(ctx)
		}()
	}
}

// Close stops the background work (the store is the caller's to close).
func (s *Service) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// deleter runs erasures as they come, and repairs' deletions when no erasure waits. An
// erasure is a promise to the patient, so nothing that waits on a peer runs here.
func (s *Service) deleter(ctx context.Context) {
	for {
		s.mu.Lock()
		erase := s.erase
		s.erase = nil
		var rep []cid.Cid
		if len(erase) == 0 {
			for c := range s.repair {
				rep = append(rep, c)
			}
			clear(s.repair)
		}
		s.mu.Unlock()
		for _, e := range erase {
			s.eraseBlob(ctx, e.CID)
		}
		for _, c := range rep {
			s.repairBlob(ctx, c)
		}
		if len(erase)+len(rep) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.deletes:
		}
	}
}

// dispatch runs queued records, Workers at a time.
func (s *Service) dispatch(ctx context.Context) {
	slots := make(chan struct{}, s.cfg.Workers)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		id, ok := s.take(ctx)
		if !ok {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-slots }()
			err := s.ensure(ctx, id)
			fails := s.q.done(id, err, time.Now())
			switch {
			case err == nil || ctx.Err() != nil:
			case errors.Is(err, errNotYet):
				s.log.Debug("blobs: waiting for the placed nodes before dropping this copy", "record", id.String())
			case fails&(fails-1) == 0: // 1, 2, 4, 8…: a record that keeps failing is not news each time
				s.log.Warn("blobs: replication", "record", id.String(), "failures", fails, "err", err)
			default:
				s.log.Debug("blobs: replication", "record", id.String(), "failures", fails, "err", err)
			}
		}()
	}
}

// take waits for the next record to run.
func (s *Service) take(ctx context.Context) (protocol.ID, bool) {
	for {
		id, ok, wait := s.q.next(time.Now())
		if ok {
			return id, true
		}
		var t *time.Timer
		var due <-chan time.Time
		if wait > 0 {
			t = time.NewTimer(wait)
			due = t.C
		}
		select {
		case <-ctx.Done():
			return id, false
		case <-s.q.wake:
		case <-due:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// walker walks the ledger at start (a node that was down, or lost its disk) and again, no
// more often than RetryMax, whenever the queue had to forget work for want of room or the
// last walk failed.
func (s *Service) walker(ctx context.Context) {
	for {
		err := s.walk(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("blobs: repair walk", "err", err)
		}
		for again := false; !again; again = err != nil || s.q.takeDropped() {
			t := time.NewTimer(s.cfg.RetryMax)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

func (s *Service) sweeper(ctx context.Context) {
	tick := time.NewTicker(min(s.cfg.Grace/4, time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.sweep(ctx)
		}
	}
}

// reportCorrupt queues a blob whose read failed verification for repair.
func (s *Service) reportCorrupt(c cid.Cid) {
	s.mu.Lock()
	s.repair[c] = true
	s.mu.Unlock()
	poke(s.deletes)
}
