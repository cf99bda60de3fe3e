// Package proxy is the node side of threshold proxy re-encryption: it takes
// key fragments that owners deposit after a grant commits, keeps them in a
// node-local encrypted vault, re-encrypts capsules for a grant's recipient
// against the node's latest committed ledger state, and deletes fragments
// when their grant is revoked or expires. SPEC.md describes the formats,
// the checks and the HTTP API.
package proxy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/resilientrecords/resilientrecords/internal/source"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Ledger is the node's view of committed state (the node's ABCI application).
type Ledger interface {
	Committed() (*ledger.Snapshot, error)
}

// Config configures a Service. Zero durations and rates take the defaults.
type Config struct {
	Ledger   Ledger
	ProxyKey *umbral.SecretKey
	Vault    *Vault
	Logger   *slog.Logger

	// MaxStaleness: the node refuses to re-encrypt when its last committed
	// block time is older than this (default 10 s). Set it to about three
	// empty-block intervals, so a node cut off from its peers stops serving
	// grants that may have been revoked meanwhile.
	MaxStaleness time.Duration
	// MaxBound: how far in the future a request's freshness bound may lie
	// (default 5 min).
	MaxBound time.Duration
	// RequesterRate and RequesterBurst limit authenticated re-encryption
	// requests per recipient key (default 50/s, burst 100).
	RequesterRate  rate.Limit
	RequesterBurst int
	// AddrRate and AddrBurst limit re-encryption requests per source (Sources)
	// before any signature is checked (default 1000/s, burst 2000).
	AddrRate  rate.Limit
	AddrBurst int
	// DepositRate and DepositBurst limit deposits per source before the body is
	// read (default 20/s, burst 40): an owner deposits once per grant and node.
	DepositRate  rate.Limit
	DepositBurst int
	// Sources names a request's source for the limits: its IPv4 address or IPv6
	// /64, read from a trusted reverse proxy's header if configured. Nil: the
	// peer's address, no header believed.
	Sources *source.Resolver
	// MaxConcurrent bounds the requests doing curve arithmetic at once
	// (default GOMAXPROCS); deposits take at most half of them. Without it a
	// burst of requests starves the node's own consensus of CPU, its blocks
	// fall behind, and it turns stale.
	MaxConcurrent int
	// MaxQueue bounds the requests waiting for a curve slot (default 4 ×
	// MaxConcurrent; deposits at most half of them), QueueWait how long one
	// waits (default 2 s). Past either, the node answers busy (503).
	MaxQueue  int
	QueueWait time.Duration
	// Now is the wall clock (default time.Now); tests move it.
	Now func() time.Time
	// Metrics, if set, is where the service registers its metrics (metrics.go); nil counts
	// for nobody.
	Metrics prometheus.Registerer
}

// Service is one node's re-encryption proxy.
type Service struct {
	cfg      Config
	signer   *umbral.Signer
	self     protocol.PubKey
	log      *slog.Logger
	limits   *source.Limiter // per recipient key
	addrs    *source.Limiter // re-encryptions per source
	depos    *source.Limiter // deposits per source
	inFlight *source.Gate    // requests holding or waiting for a curve slot, per source
	curve    *curve
	answers  *answers // capsule fragments made per access request
	metrics  *metrics

	capsMu   sync.Mutex
	capsules map[protocol.ID]*umbral.Capsule // decoded committed capsules; records never change
}

// New checks cfg and builds a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Ledger == nil || cfg.ProxyKey == nil || cfg.Vault == nil {
		return nil, errors.New("proxy: Ledger, ProxyKey and Vault are required")
	}
	if cfg.MaxStaleness <= 0 {
		cfg.MaxStaleness = 10 * time.Second
	}
	if cfg.MaxBound <= 0 {
		cfg.MaxBound = 5 * time.Minute
	}
	if cfg.RequesterRate <= 0 {
		cfg.RequesterRate = 50
	}
	if cfg.RequesterBurst <= 0 {
		cfg.RequesterBurst = 100
	}
	if cfg.AddrRate <= 0 {
		cfg.AddrRate = 1000
	}
	if cfg.AddrBurst <= 0 {
		cfg.AddrBurst = 2000
	}
	if cfg.DepositRate <= 0 {
		cfg.DepositRate = 20
	}
	if cfg.DepositBurst <= 0 {
		cfg.DepositBurst = 40
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 4 * cfg.MaxConcurrent
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	s := umbral.NewSigner(cfg.ProxyKey)
	places := cfg.MaxConcurrent + cfg.MaxQueue
	return &Service{cfg: cfg, signer: s, self: protocol.PubKeyOf(s.VerifyingKey()), log: lg,
		limits:   source.NewLimiter(cfg.RequesterRate, cfg.RequesterBurst, maxLimited),
		answers:  newAnswers(maxLimited),
		addrs:    source.NewLimiter(cfg.AddrRate, cfg.AddrBurst, maxSources),
		depos:    source.NewLimiter(cfg.DepositRate, cfg.DepositBurst, maxSources),
		inFlight: source.NewGate(max(1, places/2), places),
		curve:    newCurve(cfg.MaxConcurrent, cfg.MaxQueue, cfg.QueueWait),
		metrics:  newMetrics(cfg.Metrics, cfg.Vault),
		capsules: make(map[protocol.ID]*umbral.Capsule)}, nil
}

// The limiters track at most this many keys, dropping the least recently seen past it (a
// dropped key comes back with a full bucket: the bound costs precision, never
// availability). Sources are cheap to change (an IPv6 /48 holds 65 536 /64s), recipient
// keys are not: each needs a committed grant.
const (
	maxSources = 1 << 16
	maxLimited = 1 << 14
)

// NodeKey is this node's proxy public key, its name in grants.
func (s *Service) NodeKey() protocol.PubKey { return s.self }

// Signer signs with the node's proxy key: its receipts, and the node's answers and reports.
func (s *Service) Signer() *umbral.Signer { return s.signer }

func (s *Service) snapshot() (*ledger.Snapshot, error) {
	snap, err := s.cfg.Ledger.Committed()
	if err != nil {
		s.log.Error("proxy: reading committed state", "err", err)
		return nil, protocol.ErrInternal
	}
	return snap, nil
}

// catchUpWait bounds how long a request waits for the node to commit the block it names.
const catchUpWait = 2 * time.Second

// catchUp waits, briefly, until the node has committed height h when it is behind it by at
// most protocol.MaxCatchUp blocks: the node that answered the client committed h moments
// ago, and this one follows. Further ahead, or not reached in time, the checks that follow
// refuse as they would.
func (s *Service) catchUp(h int64) {
	deadline := time.Now().Add(catchUpWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		snap, err := s.cfg.Ledger.Committed()
		if err != nil {
			return
		}
		have := snap.Height
		snap.Release()
		if have >= h || h-have > protocol.MaxCatchUp || time.Now().After(deadline) {
			return
		}
		time.Sleep(wait)
	}
}

// grantRefusal is a ledger refusal as the proxy's answer: the refusal itself when it is
// about the grant, internal otherwise (a storage error must not reach the client).
func grantRefusal(err error) error {
	for _, e := range []error{protocol.ErrGrantRevoked, protocol.ErrGrantExpired, protocol.ErrNotYetValid, protocol.ErrNotFound} {
		if errors.Is(err, e) {
			return protocol.ErrorOf(err)
		}
	}
	return protocol.ErrInternal
}

func (s *Service) grantNode(g *protocol.GrantState) (protocol.GrantNode, bool) {
	i := slices.IndexFunc(g.Nodes, func(n protocol.GrantNode) bool { return n.Proxy == s.self })
	if i < 0 {
		return protocol.GrantNode{}, false
	}
	return g.Nodes[i], true
}

// Reencrypt serves a capsule fragment for r, or refuses.
func (s *Service) Reencrypt(r *protocol.ReencryptRequest) (*protocol.ReencryptResponse, error) {
	return s.reencrypt("", r)
}

// reencrypt is Reencrypt for a request from src.
func (s *Service) reencrypt(src string, r *protocol.ReencryptRequest) (*protocol.ReencryptResponse, error) {
	now := s.cfg.Now()
	switch {
	case r.NotAfter <= now.UnixNano():
		return nil, protocol.ErrBoundExpired
	case r.NotAfter > now.Add(s.cfg.MaxBound).UnixNano():
		return nil, protocol.ErrBoundTooFar
	case r.Node != s.self:
		return nil, protocol.ErrWrongNode
	}
	// A request's wait for its block holds none of the slots of curve work.
	s.catchUp(r.Height)
	release, err := s.slot(src, false)
	if err != nil {
		return nil, err
	}
	defer release()
	now = s.cfg.Now()
	// The grant is judged live and the fragment used under the vault's gate, which the
	// commit hook takes to delete fragments: a cfrag is made against a committed state in
	// which the grant is live, and none is made once the revoking commit has finished.
	unhold := s.cfg.Vault.Hold()
	defer unhold()
	snap, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	defer snap.Release()
	if age := now.Sub(time.Unix(0, snap.Time)); age > s.cfg.MaxStaleness {
		return nil, protocol.Errorf(protocol.ErrStale, "last committed block is %s old (height %d)", age.Round(time.Millisecond), snap.Height)
	}
	g, err := snap.Grant(r.Grant)
	if err != nil {
		return nil, grantRefusal(err)
	}
	requester, kind, err := s.requester(snap, g, r)
	if err != nil {
		return nil, err
	}
	if !protocol.Verify(requester, r.SignBytes(snap.ChainID), r.Signature) {
		return nil, protocol.ErrBadSignature
	}
	if err := s.notRetired(snap, requester); err != nil {
		return nil, err
	}
	if !s.limits.Allow(string(requester[:]), now) {
		return nil, protocol.ErrRateLimited
	}
	if err := s.checkRequest(snap, g, kind, requester, r); err != nil {
		return nil, err
	}
	limit, err := s.answersFor(snap, g)
	if err != nil {
		return nil, err
	}
	if !s.answers.take(r.RequestTx, limit) {
		return nil, protocol.Errorf(protocol.ErrRateLimited, "this node made %d capsule fragments for access request %s already: commit a new request", limit, r.RequestTx)
	}
	if err := g.LiveAt(snap.Time); err != nil {
		return nil, grantRefusal(err)
	}
	capsule, err := s.grantedCapsule(snap, g, r.Capsule)
	if err != nil {
		return nil, err
	}
	if _, ok := s.grantNode(g); !ok {
		return nil, protocol.ErrNotGrantNode
	}
	kf, err := s.cfg.Vault.Get(r.Grant)
	if errors.Is(err, ErrNotHeld) {
		return nil, protocol.ErrNoFragment
	} else if err != nil {
		s.log.Error("proxy: reading a fragment", "grant", r.Grant.String(), "err", err)
		return nil, protocol.ErrInternal
	}
	cf, err := umbral.Reencrypt(capsule, kf)
	if err != nil {
		s.log.Error("proxy: re-encryption failed", "grant", r.Grant.String(), "err", err)
		return nil, protocol.ErrInternal
	}
	resp := &protocol.ReencryptResponse{}
	cfb, err := cf.MarshalBinary()
	if err != nil {
		return nil, protocol.ErrInternal
	}
	copy(resp.CFrag[:], cfb)
	resp.Receipt = protocol.CFragReceipt{Node: s.self, Grant: r.Grant, RequestTx: r.RequestTx,
		CFragHash: sha256.Sum256(cfb), Height: snap.Height}
	if err := resp.Receipt.Sign(snap.ChainID, s.signer); err != nil {
		return nil, protocol.ErrInternal
	}
	s.log.Info("proxy: re-encrypted", "grant", r.Grant.String(), "request_tx", fmt.Sprintf("%x", r.RequestTx[:]), "height", snap.Height)
	return resp, nil
}

// committedCapsule checks that b is the record's committed capsule and
// returns it decoded (cached: a record's capsule never changes).
func (s *Service) committedCapsule(snap *ledger.Snapshot, record protocol.ID, b protocol.CapsuleBytes) (*umbral.Capsule, error) {
	rec, err := snap.Record(record)
	if err != nil {
		return nil, protocol.ErrInternal
	}
	if !bytes.Equal(rec.Capsule[:], b[:]) {
		return nil, protocol.ErrWrongCapsule
	}
	s.capsMu.Lock()
	defer s.capsMu.Unlock()
	if c, ok := s.capsules[record]; ok {
		return c, nil
	}
	c := new(umbral.Capsule)
	if err := c.UnmarshalBinary(rec.Capsule[:]); err != nil {
		return nil, protocol.ErrInternal // the ledger validated it at PutRecord
	}
	if len(s.capsules) >= maxCached {
		clear(s.capsules)
	}
	s.capsules[record] = c
	return c, nil
}
