package client

import (
	"bytes"
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

// Recovery by guardians (SPEC.md §6, protocol/SPEC.md §15): the owner seals its identity in a
// record and grants it to a fresh recovery key whose secret is split among guardians; a new
// device starts a process, the guardians approve it with their shares sealed to the device,
// and after the waiting period the device finishes and opens the sealed identity. The owner
// sees every process and may cancel one with the old key until it finishes.

// DefaultRecoveryDelay is the waiting period a setup gets when none is given: two days for
// the owner to notice a recovery it did not ask for, and cancel it.
const DefaultRecoveryDelay = 48 * time.Hour

// SealedIdentityType is the media type of the record that holds an identity sealed for
// recovery.
const SealedIdentityType = "application/x-rrec-identity"

// RecoveryOptions shape a recovery setup.
type RecoveryOptions struct {
	Threshold int           // how many of the guardians must approve (0: a majority of them)
	Delay     time.Duration // the waiting period after the last needed approval (0: DefaultRecoveryDelay)
}

// RecoverySetupResult is a committed setup and how its fragments were deposited.
type RecoverySetupResult struct {
	Grant    protocol.ID // the recovery grant
	Record   protocol.ID // the record holding the sealed identity
	Height   int64
	Deposits []DepositResult
	Accepted int
}

// SetupRecovery lets any opts.Threshold of guardians restore this identity on a new device:
// it seals the identity in a record (the earlier setup's, if it is still there), splits a
// fresh recovery key among the guardians, each share sealed to one guardian, and commits the
// setup with a grant of the record to the recovery key, whose fragments it deposits on every
// node. A setup replaces the previous one, whose grant the ledger revokes. Like Grant, it
// returns a *DepositError with the result when fewer than threshold nodes took a fragment.
func (s *Session) SetupRecovery(ctx context.Context, guardians []identity.Public, o RecoveryOptions) (*RecoverySetupResult, error) {
	n := len(guardians)
	if n == 0 || n > protocol.MaxGuardians {
		return nil, fmt.Errorf("client: name 1 to %d guardians", protocol.MaxGuardians)
	}
	if o.Threshold == 0 {
		o.Threshold = n/2 + 1
	}
	if o.Threshold < 1 || o.Threshold > n {
		return nil, fmt.Errorf("client: %d of %d guardians cannot be the threshold", o.Threshold, n)
	}
	if o.Delay == 0 {
		o.Delay = DefaultRecoveryDelay
	}
	seen := map[protocol.PubKey]bool{s.me: true}
	for _, g := range guardians {
		k := protocol.PubKeyOf(g.Signing)
		if seen[k] {
			return nil, fmt.Errorf("client: guardian %s is named twice, or is this identity itself", g)
		}
		seen[k] = true
	}
	rec, err := s.sealedIdentity(ctx)
	if err != nil {
		return nil, err
	}
	shares, commitments, err := recovery.Split(o.Threshold, n)
	if err != nil {
		return nil, err
	}
	defer func() {
		for i := range shares {
			clear(shares[i].Value[:])
		}
	}()
	q, err := umbral.PublicKeyFromBytes(commitments[0][:])
	if err != nil {
		return nil, err
	}
	dk, err := s.id.DelegatingKey(rec.ID[:])
	if err != nil {
		return nil, err
	}
	keys := make([]protocol.PubKey, len(s.nw.Nodes))
	for i, nd := range s.nw.Nodes {
		keys[i] = nd.ProxyKey
	}
	frags, err := MakeFragments(dk, s.id.Signer(), q, keys, 0)
	if err != nil {
		return nil, err
	}
	done, err := s.transact(ctx, func(seq uint64) (protocol.Body, error) {
		// The shares are sealed to the grant this setup makes, which its sequence names.
		grant := protocol.GrantID(s.nw.ChainID, s.me, seq)
		b := &protocol.RecoverySetup{Record: rec.ID, OwnerEnc: protocol.PubKeyOf(s.id.Public().Receiving),
			Threshold: uint8(frags.Threshold), Nodes: frags.Nodes, Delay: int64(o.Delay), Commitments: commitments}
		for i, g := range guardians {
			to := protocol.PubKeyOf(g.Receiving)
			box, err := recovery.Seal(to, recovery.ToGuardian, grant, shares[i])
			if err != nil {
				return nil, err
			}
			b.Guardians = append(b.Guardians, protocol.Guardian{Signing: protocol.PubKeyOf(g.Signing), Receiving: to, Share: box})
		}
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	res := &RecoverySetupResult{Grant: protocol.GrantID(s.nw.ChainID, s.me, done.seq), Record: rec.ID, Height: done.height}
	res.Deposits, err = s.api.Deposit(ctx, s.nw.ChainID, res.Grant, done.height, frags, s.nw.Nodes)
	for _, d := range res.Deposits {
		if d.Err == nil {
			res.Accepted++
		}
	}
	return res, err
}

// sealedIdentity is the record holding this identity sealed for recovery: the current
// setup's while it is live, else a new one.
func (s *Session) sealedIdentity(ctx context.Context) (*protocol.Record, error) {
	if st, err := s.RecoverySetup(ctx, s.me); err == nil {
		if rec, err := s.Record(ctx, st.Record); err == nil && rec.Erased == nil && rec.Owner == s.me {
			return rec, nil
		}
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	line, err := s.id.MarshalText()
	if err != nil {
		return nil, err
	}
	defer clear(line)
	id, err := s.Put(ctx, bytes.NewReader(line), int64(len(line)),
		envelope.Metadata{Name: "identity", MediaType: SealedIdentityType, Created: time.Now()})
	if err != nil {
		return nil, fmt.Errorf("sealing the identity: %w", err)
	}
	return s.Record(ctx, id)
}

// StartRecovery asks to recover owner's identity onto this one — a fresh identity of the
// new device — and returns the process id the guardians approve. Nothing happens until k
// guardians approve and the waiting period passes; the owner sees the process meanwhile.
func (s *Session) StartRecovery(ctx context.Context, owner protocol.PubKey) (protocol.Hash32, error) {
	done, err := s.transact(ctx, func(uint64) (protocol.Body, error) {
		return &protocol.RecoveryStart{Owner: owner, DeviceEnc: protocol.PubKeyOf(s.id.Public().Receiving)}, nil
	})
	if err != nil {
		return protocol.Hash32{}, err
	}
	return done.hash, nil
}

// ApproveRecovery approves, as one of owner's guardians, the recovery process: it opens the
// share the owner sealed to this identity, checks it against the setup's commitments, seals
// it to the process's device and commits the approval. Approve only a process whose device
// you know is the owner's: with k approvals and no cancel, that device becomes the owner.
func (s *Session) ApproveRecovery(ctx context.Context, owner protocol.PubKey, process protocol.Hash32) error {
	p, err := s.RecoveryProcess(ctx, process)
	if err != nil {
		return err
	}
	if p.Owner != owner {
		return fmt.Errorf("%w: process %s recovers %s, not the identity named", ErrUnauthorized, process, p.Owner)
	}
	setup, err := s.RecoverySetup(ctx, owner)
	if err != nil {
		return err
	}
	if setup.Grant != p.Grant {
		return fmt.Errorf("%w: the owner replaced the setup process %s belongs to", ErrRevoked, process)
	}
	i := setup.GuardianIndex(s.me)
	if i < 0 {
		return fmt.Errorf("%w: this identity is not one of %s's guardians", ErrUnauthorized, owner)
	}
	share, err := recovery.Open(s.id.ReceivingKey(), recovery.ToGuardian, setup.Grant, uint8(i+1), setup.Guardians[i].Share)
	if err != nil {
		return fmt.Errorf("the share sealed to this guardian: %w", err)
	}
	defer clear(share.Value[:])
	if err := recovery.Verify(setup.Commitments, share); err != nil {
		return fmt.Errorf("the share sealed to this guardian: %w: the setup is broken, ask the owner to set up recovery again", err)
	}
	box, err := recovery.Seal(p.DeviceEnc, recovery.ToDevice, p.ID, share)
	if err != nil {
		return err
	}
	_, err = s.transact(ctx, func(uint64) (protocol.Body, error) {
		return &protocol.RecoveryApprove{Process: process, Share: box}, nil
	})
	return err
}

// CancelRecovery cancels one of this identity's recovery processes: it can never finish. A
// process that already finished cannot be cancelled.
func (s *Session) CancelRecovery(ctx context.Context, process protocol.Hash32) error {
	_, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return &protocol.RecoveryCancel{Process: process}, nil })
	return err
}

// RecoverySetup returns owner's current recovery setup, as f+1 nodes say (ErrNotFound if it
// has none).
func (s *Session) RecoverySetup(ctx context.Context, owner protocol.PubKey) (*protocol.RecoverySetupState, error) {
	var st protocol.RecoverySetupState
	if _, err := s.l.query(ctx, "/recovery/setup/"+owner.String(), nil, &st); err != nil {
		return nil, classify(err)
	}
	if st.Owner != owner {
		return nil, fmt.Errorf("%w: answer names another owner", ErrNodeAnswer)
	}
	return &st, nil
}

// RecoveryProcess returns a recovery process, as f+1 nodes say.
func (s *Session) RecoveryProcess(ctx context.Context, process protocol.Hash32) (*protocol.RecoveryProcess, error) {
	p, _, err := s.recoveryProcess(ctx, process)
	return p, err
}

func (s *Session) recoveryProcess(ctx context.Context, process protocol.Hash32) (*protocol.RecoveryProcess, int64, error) {
	var p protocol.RecoveryProcess
	at, err := s.l.query(ctx, "/recovery/process/"+process.String(), nil, &p)
	if err != nil {
		return nil, 0, classify(err)
	}
	if p.ID != process {
		return nil, 0, fmt.Errorf("%w: answer names another process", ErrNodeAnswer)
	}
	return &p, at.time, nil
}

// RecoveryStatus is an owner's setup and every recovery process started for it, with the block
// time the answers reflect.
type RecoveryStatus struct {
	Setup     *protocol.RecoverySetupState `json:"setup"`     // nil: no setup
	Processes []*protocol.RecoveryProcess  `json:"processes"` // oldest first
	Time      int64                        `json:"time"`      // block time, unix ns
}

// RecoveryStatus reads owner's recovery setup and processes, each confirmed by f+1 nodes: what
// an owner checks for recoveries it did not ask for.
func (s *Session) RecoveryStatus(ctx context.Context, owner protocol.PubKey) (*RecoveryStatus, error) {
	st := &RecoveryStatus{}
	setup, err := s.RecoverySetup(ctx, owner)
	switch {
	case err == nil:
		st.Setup = setup
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	st.Processes, st.Time, err = allAt[*protocol.RecoveryProcess](ctx, s, "/recovery/processes/"+owner.String(), nil)
	return st, classify(err)
}
