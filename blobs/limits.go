package blobs

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// retryAfter is what a refused transfer is told to wait, in seconds: a place frees when
// another transfer ends or is cut, which is a matter of seconds.
const retryAfter = "2"

// refuse answers a refusal the client may simply try again later.
func refuse(w http.ResponseWriter, err *protocol.Error) {
	w.Header().Set("Retry-After", retryAfter)
	protocol.WriteError(w, err)
}

// enter takes a transfer place for r's source, or answers the refusal. Every transfer holds a
// connection and a goroutine for as long as the client cares to keep it going, so without a
// bound a few clients could hold them all.
func (s *Service) enter(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	release, full, ok := s.gate.Enter(s.cfg.Sources.Key(r))
	switch {
	case ok:
		return release, true
	case full:
		refuse(w, protocol.Errorf(protocol.ErrBusy, "this node is serving %d transfers; try again shortly", s.cfg.MaxTransfers))
	default:
		refuse(w, protocol.Errorf(protocol.ErrRateLimited, "at most %d transfers at once from one client", s.cfg.MaxSourceTransfers))
	}
	return nil, false
}

// reserve claims an upload's signed size before its body is read: against the account's
// budget (uploads not yet in a record, finished or not), the source's and the node's. A
// budget that counted only finished uploads would let one key run any number of them in
// parallel. The caller holds s.mu; release gives back what reserve took.
func (s *Service) reserveLocked(signer protocol.PubKey, source string, size, room int64) (release func(), err *protocol.Error) {
	p := s.pendingBy[signer] + s.inFlightBy[signer]
	if p+size > s.cfg.MaxPending {
		return nil, protocol.Errorf(protocol.ErrQuota, "account has %d bytes uploaded or uploading but not yet in a committed record; limit %d", p, s.cfg.MaxPending)
	}
	if p+size > room {
		return nil, protocol.Errorf(protocol.ErrQuota, "account's allowance leaves room for %d more bytes, and it has %d uploaded or uploading: erase records to make room", room, p)
	}
	if b := s.inFlightFrom[source]; b+size > s.cfg.MaxSourceInFlight {
		return nil, protocol.Errorf(protocol.ErrRateLimited, "uploads in progress from this client already total %d bytes; limit %d", b, s.cfg.MaxSourceInFlight)
	}
	if s.inFlight+size > s.cfg.MaxInFlight {
		return nil, protocol.Errorf(protocol.ErrBusy, "uploads in progress already total %d bytes; try again shortly", s.inFlight)
	}
	s.inFlightBy[signer] += size
	s.inFlightFrom[source] += size
	s.inFlight += size
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.inFlight -= size
		if s.inFlightBy[signer] -= size; s.inFlightBy[signer] == 0 {
			delete(s.inFlightBy, signer)
		}
		if s.inFlightFrom[source] -= size; s.inFlightFrom[source] == 0 {
			delete(s.inFlightFrom, source)
		}
	}, nil
}

// progress moves a connection's deadlines forward while a transfer keeps going. The node's
// server has short whole-request deadlines for its small JSON routes; the blob routes replace
// them with a deadline that moves only once MinRate bytes have flowed since it last moved,
// so that a client trickling a byte now and then is cut like one that sends nothing.
type progress struct {
	rc    *http.ResponseController
	idle  time.Duration
	min   int64
	moved time.Time
	since int64 // bytes since the deadlines last moved
}

func (s *Service) newProgress(w http.ResponseWriter) *progress {
	p := &progress{rc: http.NewResponseController(w), idle: s.cfg.IdleTimeout, min: s.cfg.MinRate}
	p.move(time.Now())
	return p
}

func (p *progress) add(n int) {
	p.since += int64(n)
	if p.since < p.min {
		return
	}
	// Each move is a system call; a fast transfer needs few.
	if now := time.Now(); now.Sub(p.moved) >= p.idle/8 {
		p.move(now)
	}
}

func (p *progress) move(now time.Time) {
	p.moved, p.since = now, 0
	_ = p.rc.SetReadDeadline(now.Add(p.idle))
	_ = p.rc.SetWriteDeadline(now.Add(p.idle))
}

// answer gives the response its own deadline: the body is in, and the work after it (the
// store's import) is the node's, not the client's.
func (p *progress) answer() { _ = p.rc.SetWriteDeadline(time.Now().Add(p.idle)) }

type progressReader struct {
	r io.Reader
	p *progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(n)
	return n, err
}

type progressWriter struct {
	w io.Writer
	p *progress
	n int64
}

func (w *progressWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.n += int64(n)
	w.p.add(n)
	return n, err
}

// meter counts the bytes read through it, for a watchdog in another goroutine.
type meter struct {
	r io.Reader
	n atomic.Int64
}

func (m *meter) Read(b []byte) (int, error) {
	n, err := m.r.Read(b)
	m.n.Add(int64(n))
	return n, err
}

// watch cancels a fetch from a peer once an IdleTimeout passes in which fewer than MinRate
// bytes came through m: a stalled or trickling peer would otherwise hold a fetch worker for
// ever. stop ends the watch; it is safe to call twice.
func (s *Service) watch(cancel context.CancelFunc, m *meter) (stop func()) {
	done := make(chan struct{})
	var once atomic.Bool
	go func() {
		t := time.NewTicker(s.cfg.IdleTimeout)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n := m.n.Load()
				if n-last < s.cfg.MinRate {
					cancel()
					return
				}
				last = n
			}
		}
	}()
	return func() {
		if !once.Swap(true) {
			close(done)
		}
	}
}

// accountRoom is how many more sealed bytes the ledger lets an account keep: its tier's
// allowance less what its records keep (no bound on an open network). An account nobody
// admitted may not upload: no record of its could commit. Tier is the account's (0: open network).
func accountRoom(snap *ledger.Snapshot, pk protocol.PubKey) (room int64, tier uint8, err *protocol.Error) {
	if _, err := snap.AdmissionRules(); errors.Is(err, protocol.ErrNotFound) {
		return math.MaxInt64, 0, nil
	} else if err != nil {
		return 0, 0, protocol.Errorf(protocol.ErrUnavailable, "ledger state unavailable")
	}
	acc, aerr := snap.Account(pk)
	switch {
	case errors.Is(aerr, protocol.ErrNotFound):
		return 0, 0, protocol.Errorf(protocol.ErrNotAdmitted, "account %s is not admitted: enrol it, or ask a node's operator to admit it", pk)
	case aerr != nil:
		return 0, 0, protocol.Errorf(protocol.ErrUnavailable, "ledger state unavailable")
	case acc.Usage.Bytes >= acc.Allowance.Bytes:
		return 0, acc.Tier, nil
	}
	return int64(min(acc.Allowance.Bytes-acc.Usage.Bytes, math.MaxInt64)), acc.Tier, nil
}
