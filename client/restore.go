package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/recovery"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Phase is where a recovery process stands at some block time.
type Phase int

const (
	// Collecting: fewer guardians approved than the setup needs.
	Collecting Phase = iota
	// Waiting: enough approvals; the waiting period runs, and the owner may cancel.
	Waiting
	// Ready: the waiting period passed; the device may finish.
	Ready
	// Finished: the device finished; the identity is restored there.
	Finished
	// Cancelled: the owner cancelled it.
	Cancelled
	// Lapsed: it took no approvals in time, or was not finished in time.
	Lapsed
	// Replaced: the owner's setup changed, or recovery was turned off, since it started.
	Replaced
)

func (p Phase) String() string {
	return [...]string{"collecting", "waiting", "ready", "finished", "cancelled", "lapsed", "replaced"}[p]
}

// PhaseOf says where process p stands at block time now, under the owner's current setup
// (nil: none).
func PhaseOf(setup *protocol.RecoverySetupState, p *protocol.RecoveryProcess, now int64) Phase {
	switch {
	case p.Status == protocol.ProcessFinished:
		return Finished
	case p.Status == protocol.ProcessCancelled:
		return Cancelled
	case setup == nil || setup.Grant != p.Grant:
		return Replaced
	case len(p.Approvals) < setup.Threshold():
		if now >= p.Lapses {
			return Lapsed
		}
		return Collecting
	case now < p.Ready:
		return Waiting
	case now >= p.Ready+int64(protocol.RecoveryLapse):
		return Lapsed
	}
	return Ready
}

// WaitRecoveryReady polls the process until its waiting period has passed by block time
// (phase Ready, or Finished), and returns it; a process that can no longer finish, or ctx
// ending, is an error.
func (s *Session) WaitRecoveryReady(ctx context.Context, process protocol.Hash32) (*protocol.RecoveryProcess, error) {
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		p, now, err := s.recoveryProcess(ctx, process)
		if err != nil {
			return nil, err
		}
		setup, err := s.RecoverySetup(ctx, p.Owner)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		switch ph := PhaseOf(setup, p, now); ph {
		case Ready, Finished:
			return p, nil
		case Cancelled:
			return p, fmt.Errorf("%w: the owner cancelled recovery process %s", ErrRevoked, process)
		case Lapsed:
			return p, fmt.Errorf("%w: recovery process %s lapsed", ErrExpired, process)
		case Replaced:
			return p, fmt.Errorf("%w: the owner's recovery setup changed since process %s started", ErrRevoked, process)
		}
		if err := sleep(ctx, wait); err != nil {
			return p, err
		}
	}
}

// maxSealedIdentity bounds the sealed identity a device fetches: an identity line sealed is a
// few hundred bytes.
const maxSealedIdentity = 64 << 10

// FinishRecovery completes a recovery process this identity (the new device) started, once k
// guardians approved and the waiting period passed: it opens the guardians' shares sealed to
// it, checks each against the setup's commitments and rebuilds the recovery key from k of
// them (before committing anything), commits the RecoveryFinish, gathers the nodes' capsule
// fragments for it, and opens the sealed identity with them and the recovery key. It
// returns the owner's identity: the same seed, so the same keys; write it to a new identity
// file. The ledger logs the finish in the owner's sealed-identity audit log.
func (s *Session) FinishRecovery(ctx context.Context, process protocol.Hash32) (*identity.Identity, error) {
	p, err := s.RecoveryProcess(ctx, process)
	if err != nil {
		return nil, err
	}
	if p.Device != s.me {
		return nil, fmt.Errorf("%w: recovery process %s was started by another identity", ErrUnauthorized, process)
	}
	setup, err := s.RecoverySetup(ctx, p.Owner)
	if err != nil {
		return nil, err
	}
	if setup.Grant != p.Grant {
		return nil, fmt.Errorf("%w: the owner's recovery setup changed since process %s started", ErrRevoked, process)
	}
	var shares []recovery.Share
	for _, a := range p.Approvals {
		if sh, err := recovery.Open(s.id.ReceivingKey(), recovery.ToDevice, p.ID, uint8(a.Guardian+1), a.Share); err == nil {
			shares = append(shares, sh)
		}
	}
	q, err := recovery.Combine(setup.Commitments, shares)
	for i := range shares {
		clear(shares[i].Value[:])
	}
	if err != nil {
		return nil, fmt.Errorf("%d approvals, %d of their shares open here: %w", len(p.Approvals), len(shares), err)
	}
	g, err := s.GrantState(ctx, setup.Grant)
	if err != nil {
		return nil, err
	}
	rec, err := s.Record(ctx, setup.Record)
	if err != nil {
		return nil, err
	}
	if rec.Erased != nil {
		return nil, fmt.Errorf("the sealed identity %s: %w", rec.ID, ErrErased)
	}
	if rec.Size > maxSealedIdentity || g.Record != rec.ID {
		return nil, fmt.Errorf("%w: record %s is no sealed identity", ErrNodeAnswer, rec.ID)
	}
	done, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return &protocol.RecoveryFinish{Process: process}, nil })
	if err != nil {
		return nil, err
	}
	got, err := s.api.Gather(ctx, &Access{ChainID: s.nw.ChainID, Grant: g, Record: rec, RequestTx: done.hash, Height: done.height},
		s.id.Signer(), s.nw.Nodes)
	if err != nil {
		return nil, classify(err)
	}
	dpk, err := umbral.PublicKeyFromBytes(rec.DelegatingKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: record delegating key: %v", ErrNodeAnswer, err)
	}
	line := boundedBuffer{b: make([]byte, 0, 4<<10)} // one allocation: no stray copy of the seed
	defer clear(line.b[:cap(line.b)])
	if _, err := s.fetchOpen(ctx, rec, envelope.RecipientKey{Receiving: q, Delegating: dpk, CFrags: got.CFrags}, &line, collect(nil)); err != nil {
		return nil, err
	}
	id, err := identity.Parse(line.b)
	if err != nil {
		return nil, fmt.Errorf("the sealed identity does not parse: %w", err)
	}
	if protocol.PubKeyOf(id.Public().Signing) != p.Owner {
		return nil, fmt.Errorf("%w: the sealed identity is not %s's", ErrNodeAnswer, p.Owner)
	}
	return id, nil
}

// boundedBuffer keeps what is written to it, refusing more than an identity file's worth.
type boundedBuffer struct{ b []byte }

func (w *boundedBuffer) Write(p []byte) (int, error) {
	if len(w.b)+len(p) > cap(w.b) {
		return 0, errors.New("client: the sealed identity is larger than an identity file")
	}
	w.b = append(w.b, p...)
	return len(p), nil
}
