package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Caregivers (SPEC.md §7, protocol/SPEC.md §16): an owner delegates granting, revoking and
// reading to a caregiver for a period. The ledger accepts the caregiver's Grants and Revokes
// for the owner while the delegation is live; what the caregiver needs besides — the records'
// delegating keys for the grant right, grants for the read right — the owner's SDK hands over
// as ordinary grants, each marked with the delegation in its purpose.

// Purposes of the grants a delegation makes: the key bundle's, and each read grant's.
const (
	bundlePurpose = "delegation-keys "
	readPurpose   = "delegation "
)

// ErrNoDelegation: this identity holds no live delegation of the owner with the right asked.
var ErrNoDelegation = errors.New("client: no live delegation from the owner")

// DelegateOptions shape a delegation: it starts at NotBefore (zero: now) and lasts Duration.
type DelegateOptions struct {
	NotBefore time.Time
	Duration  time.Duration
}

// DelegateResult is a committed delegation and what was granted to the caregiver with it.
type DelegateResult struct {
	Delegation protocol.ID
	Height     int64
	Scope      int          // the records in scope: every live record but the sealed identity and key bundles
	Bundle     *protocol.ID // the key bundle record (the grant right, and records in scope)
	Grants     []protocol.ID
}

// Delegate delegates rights (protocol.RightGrant, RightRevoke, RightRead) over this
// identity's records to caregiver for o.Duration. With the grant right it puts a key bundle
// of the records in scope and grants it to the caregiver; with the read right it grants the
// caregiver each record in scope; those grants end with the delegation. On an error after
// the Delegate committed the result says what was done: EndDelegation undoes it.
func (s *Session) Delegate(ctx context.Context, caregiver identity.Public, rights uint8, o DelegateOptions) (*DelegateResult, error) {
	if o.Duration <= 0 {
		return nil, errors.New("client: a delegation needs a positive duration")
	}
	start := o.NotBefore
	if start.IsZero() {
		start = time.Now()
	}
	end := start.Add(o.Duration)
	body := &protocol.Delegate{Caregiver: protocol.PubKeyOf(caregiver.Signing), CaregiverEnc: protocol.PubKeyOf(caregiver.Receiving),
		Rights: rights, NotAfter: end.UnixNano()}
	if !o.NotBefore.IsZero() {
		body.NotBefore = o.NotBefore.UnixNano()
	}
	done, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return body, nil })
	if err != nil {
		return nil, err
	}
	res := &DelegateResult{Delegation: protocol.DelegationID(s.nw.ChainID, s.me, done.seq), Height: done.height}
	if rights&(protocol.RightGrant|protocol.RightRead) == 0 {
		return res, nil
	}
	scope, err := s.delegationScope(ctx)
	if err != nil {
		return res, err
	}
	res.Scope = len(scope)
	if len(scope) == 0 {
		return res, nil
	}
	grant := func(record protocol.ID, purpose string) error {
		g, err := s.Grant(ctx, record, caregiver, GrantOptions{NotBefore: o.NotBefore, NotAfter: end, Purpose: purpose + res.Delegation.String()})
		if g != nil {
			res.Grants = append(res.Grants, g.Grant)
		}
		return err
	}
	if rights&protocol.RightGrant != 0 {
		id, err := s.putKeyBundle(ctx, res.Delegation, scope)
		if err != nil {
			return res, err
		}
		res.Bundle = &id
		if err := grant(id, bundlePurpose); err != nil {
			return res, fmt.Errorf("granting the key bundle: %w", err)
		}
	}
	if rights&protocol.RightRead != 0 {
		for _, r := range scope {
			if err := grant(r.ID, readPurpose); err != nil {
				return res, fmt.Errorf("granting record %s: %w", r.ID, err)
			}
		}
	}
	return res, nil
}

// delegationScope lists the records a delegation covers: every live record of this identity
// except the sealed identity of its recovery setup, which opens the seed itself, and the key
// bundles of its delegations, which hold nothing but keys of its other records.
func (s *Session) delegationScope(ctx context.Context) ([]*protocol.Record, error) {
	skip := map[protocol.ID]bool{}
	switch setup, err := s.RecoverySetup(ctx, s.me); {
	case err == nil:
		skip[setup.Record] = true
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	ds, err := s.Delegations(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[protocol.PubKey]bool{}
	for _, d := range ds {
		if seen[d.Caregiver] {
			continue
		}
		seen[d.Caregiver] = true
		gs, err := s.delegationGrants(ctx, d.Caregiver, d.Owner)
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			if strings.HasPrefix(g.Purpose, bundlePurpose) {
				skip[g.Record] = true
			}
		}
	}
	recs, err := s.Records(ctx)
	if err != nil {
		return nil, err
	}
	var out []*protocol.Record
	for _, r := range recs {
		// An issued record waiting in the inbox is not the owner's to share yet; it joins
		// the delegations when accepted.
		pending := r.Issued != nil && !r.Issued.Accepted
		if r.Erased == nil && !skip[r.ID] && !pending {
			out = append(out, r)
		}
	}
	return out, nil
}

// delegationGrants lists the grants owner made to caregiver for delegations.
func (s *Session) delegationGrants(ctx context.Context, caregiver, owner protocol.PubKey) ([]*protocol.GrantState, error) {
	gs, err := all[*protocol.GrantState](ctx, s, "/grants/recipient/"+caregiver.String(), grantPageKey)
	if err != nil {
		return nil, err
	}
	var out []*protocol.GrantState
	for _, g := range gs {
		if g.Owner == owner && g.By == nil && (strings.HasPrefix(g.Purpose, bundlePurpose) || strings.HasPrefix(g.Purpose, readPurpose)) {
			out = append(out, g)
		}
	}
	return out, nil
}

// EndResult is an ended delegation and the grants the owner's SDK revoked with it.
type EndResult struct {
	Height  int64 // the EndDelegation's block; 0 when it had ended already
	Revoked []protocol.ID
}

// EndDelegation ends a delegation, this identity's as its owner or as its caregiver
// (stepping down). The owner's SDK then revokes the key bundle and read grants the
// delegation made, also when it had ended before (by the caregiver, or by time).
func (s *Session) EndDelegation(ctx context.Context, id protocol.ID) (*EndResult, error) {
	d, err := s.Delegation(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.Owner != s.me && d.Caregiver != s.me {
		return nil, fmt.Errorf("%w: delegation %s is neither this identity's nor to it", ErrUnauthorized, id)
	}
	res := &EndResult{}
	if !d.Ended {
		done, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return &protocol.EndDelegation{Delegation: id}, nil })
		if err != nil {
			return nil, err
		}
		res.Height = done.height
	}
	if d.Owner != s.me {
		return res, nil
	}
	gs, err := s.delegationGrants(ctx, d.Caregiver, s.me)
	if err != nil {
		return res, err
	}
	for _, g := range gs {
		if g.Revoked || g.Expired || (g.Purpose != bundlePurpose+id.String() && g.Purpose != readPurpose+id.String()) {
			continue
		}
		if _, err := s.Revoke(ctx, g.ID); err != nil && !errors.Is(err, protocol.ErrGrantRevoked) && !errors.Is(err, protocol.ErrGrantExpired) {
			return res, fmt.Errorf("revoking grant %s: %w", g.ID, err)
		}
		res.Revoked = append(res.Revoked, g.ID)
	}
	return res, nil
}

// Delegation returns a delegation, as f+1 nodes say.
func (s *Session) Delegation(ctx context.Context, id protocol.ID) (*protocol.DelegationState, error) {
	var d protocol.DelegationState
	if _, err := s.l.query(ctx, "/delegation/"+id.String(), nil, &d); err != nil {
		return nil, classify(err)
	}
	if d.ID != id {
		return nil, fmt.Errorf("%w: answer names another delegation", ErrNodeAnswer)
	}
	return &d, nil
}

// Delegations lists the delegations this identity made, oldest first, ended or not.
func (s *Session) Delegations(ctx context.Context) ([]*protocol.DelegationState, error) {
	ds, err := all[*protocol.DelegationState](ctx, s, "/delegations/owner/"+s.me.String(), nil)
	return ds, classify(err)
}

// CaregiverOf lists the delegations made to this identity, oldest first, ended or not.
func (s *Session) CaregiverOf(ctx context.Context) ([]*protocol.DelegationState, error) {
	ds, err := all[*protocol.DelegationState](ctx, s, "/delegations/caregiver/"+s.me.String(), nil)
	return ds, classify(err)
}

// GrantFor grants, as owner's caregiver, one of owner's records to recipient: it finds the
// owner's live delegation to this identity with the grant right, reads the key bundles
// granted with it (each an audited access) for the record's delegating key, and makes and
// signs the fragments and the Grant with this identity's key. The ledger logs the grant as
// this identity's for the owner. A refusal says why: ErrNoDelegation, or a delegation
// ErrRevoked (ended), ErrExpired or ErrNotYetValid.
func (s *Session) GrantFor(ctx context.Context, owner identity.Public, record protocol.ID, recipient identity.Public, o GrantOptions) (*GrantResult, error) {
	ownerKey := protocol.PubKeyOf(owner.Signing)
	rec, err := s.Record(ctx, record)
	if err != nil {
		return nil, err
	}
	if rec.Owner != ownerKey {
		return nil, fmt.Errorf("%w: record %s is not that owner's", ErrUnauthorized, record)
	}
	if rec.Erased != nil {
		return nil, fmt.Errorf("record %s: %w at height %d", record, ErrErased, rec.Erased.Height)
	}
	d, err := s.liveDelegation(ctx, ownerKey, protocol.RightGrant)
	if err != nil {
		return nil, err
	}
	dk, err := s.bundledKey(ctx, d, rec)
	if err != nil {
		return nil, err
	}
	return s.grantWith(ctx, record, dk, owner.Receiving, recipient, o)
}

// liveDelegation is owner's current delegation to this identity, if it is live by the
// ledger's block time and has right.
func (s *Session) liveDelegation(ctx context.Context, owner protocol.PubKey, right uint8) (*protocol.DelegationState, error) {
	ds, now, err := allAt[*protocol.DelegationState](ctx, s, "/delegations/caregiver/"+s.me.String(), nil)
	if err != nil {
		return nil, classify(err)
	}
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		if d.Owner != owner {
			continue
		}
		if err := d.LiveAt(now); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoDelegation, classify(err))
		}
		if d.Rights&right == 0 {
			return nil, fmt.Errorf("%w: delegation %s gives %s, not %s", ErrNoDelegation, d.ID,
				protocol.RightsString(d.Rights), protocol.RightsString(right))
		}
		return d, nil
	}
	return nil, fmt.Errorf("%w: %s has not delegated to this identity", ErrNoDelegation, owner)
}

// bundledKey finds rec's delegating key in the live key bundles of delegation d, newest
// first, and checks it against the record.
func (s *Session) bundledKey(ctx context.Context, d *protocol.DelegationState, rec *protocol.Record) (*umbral.SecretKey, error) {
	gs, now, err := allAt[*protocol.GrantState](ctx, s, "/grants/recipient/"+s.me.String(), grantPageKey)
	if err != nil {
		return nil, err
	}
	for i := len(gs) - 1; i >= 0; i-- {
		g := gs[i]
		if g.Owner != d.Owner || g.By != nil || g.Purpose != bundlePurpose+d.ID.String() || g.LiveAt(now) != nil {
			continue
		}
		var buf bytes.Buffer
		lw := &limitedWriter{w: &buf, n: int64(len(bundleMagic)) + 36 + MaxBundleKeys*bundleEntry}
		if _, err := s.Get(ctx, g.Record, lw, GetOptions{Purpose: "caregiver keys"}); err != nil {
			return nil, fmt.Errorf("key bundle %s: %w", g.Record, err)
		}
		kb, err := parseKeyBundle(buf.Bytes())
		clear(buf.Bytes())
		if err != nil {
			return nil, fmt.Errorf("key bundle %s: %w", g.Record, err)
		}
		if kb.delegation != d.ID {
			return nil, fmt.Errorf("key bundle %s: %w: made for another delegation", g.Record, errBadBundle)
		}
		if sk, ok := kb.keys[rec.ID]; ok {
			if protocol.PubKeyOf(sk.PublicKey()) != rec.DelegatingKey {
				return nil, fmt.Errorf("key bundle %s: %w: the key of record %s does not match it", g.Record, errBadBundle, rec.ID)
			}
			return sk, nil
		}
	}
	return nil, fmt.Errorf("%w: record %s is not in the scope of delegation %s (no key bundle holds its key)", ErrUnauthorized, rec.ID, d.ID)
}

// limitedWriter refuses to write past n bytes.
type limitedWriter struct {
	w io.Writer
	n int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, fmt.Errorf("%w: too long", errBadBundle)
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}
