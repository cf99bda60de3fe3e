package client

import (
	"errors"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store"
)

// Errors a program acts on. Every error of a Session call that falls in one of these cases
// matches it with errors.Is, whichever component said so (the ledger, a proxy, a blob
// store); the original error stays in the chain for details.
var (
	// ErrRevoked: the grant was revoked by the record's owner.
	ErrRevoked = errors.New("client: access revoked")
	// ErrExpired: the grant's time ran out (by block time).
	ErrExpired = errors.New("client: access expired")
	// ErrNotYetValid: the grant starts later.
	ErrNotYetValid = errors.New("client: access not yet valid")
	// ErrNotGranted: this identity holds no grant for the record.
	ErrNotGranted = errors.New("client: record not shared with this identity")
	// ErrErased: the record was erased by its owner; its blob is gone.
	ErrErased = errors.New("client: record erased")
	// ErrNotFound: no such record or grant on the ledger, or no node holds the blob.
	ErrNotFound = errors.New("client: not found")
	// ErrUnauthorized: the identity may not do this (for example revoke a grant of someone
	// else's record).
	ErrUnauthorized = errors.New("client: not authorised")
	// ErrUnavailable: no node gave a usable answer.
	ErrUnavailable = errors.New("client: no node available")
	// ErrCIDMismatch: a node stored the blob under another CID than the one computed locally.
	ErrCIDMismatch = errors.New("client: node answered with another CID")
	// ErrNotAdmitted: the network admits accounts through its nodes' operators, and none has
	// admitted this identity.
	ErrNotAdmitted = errors.New("client: identity not admitted to the network")
	// ErrQuota: the identity keeps all its allowance lets it (records, bytes, live grants),
	// or has that much in uploads waiting for their record; erase or revoke to make room.
	ErrQuota = errors.New("client: over the identity's allowance")
	// ErrBusy: the nodes are refusing work for now (too many requests from this address or
	// in total); try again shortly.
	ErrBusy = errors.New("client: network busy, try again")
)

// Classify adds to err the sentinel above it falls under, if any (for errors a program got
// from the protocol package directly, such as protocol.GrantState.LiveAt).
func Classify(err error) error { return classify(err) }

// kindError marks err as one of the sentinels above.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// classify adds the matching sentinel to err.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var k *kindError
	if errors.As(err, &k) {
		return err
	}
	for _, c := range classes {
		for _, from := range c.from {
			if errors.Is(err, from) {
				return &kindError{c.kind, err}
			}
		}
	}
	var ge *GatherError
	if errors.As(err, &ge) {
		if kind := gatherKind(ge); kind != nil {
			return &kindError{kind, err}
		}
	}
	return err
}

// classes maps the refusals of the network to the SDK's sentinels. The first three are the
// grant's liveness, which a gathering's refusals also report.
var classes = []struct {
	kind error
	from []error
}{
	{ErrRevoked, []error{protocol.ErrGrantRevoked}},
	{ErrExpired, []error{protocol.ErrGrantExpired}},
	{ErrNotYetValid, []error{protocol.ErrNotYetValid}},
	{ErrUnauthorized, []error{protocol.ErrUnauthorized, protocol.ErrBadSignature}},
	{ErrErased, []error{protocol.ErrRecordErased}},
	{ErrNotFound, []error{protocol.ErrNotFound, store.ErrNotFound}},
	{ErrUnavailable, []error{ErrBlobUnavailable}},
	{ErrNotAdmitted, []error{protocol.ErrNotAdmitted}},
	{ErrQuota, []error{protocol.ErrQuota}},
	{ErrBusy, []error{protocol.ErrRateLimited, protocol.ErrBusy}},
}

// gatherKind names why nodes refused, when it is a reason a caller acts on (a grant revoked
// or expired while the request was being made): nodes decide from committed state, so one
// such refusal is enough to say why.
func gatherKind(ge *GatherError) error {
	for _, c := range classes[:3] {
		for _, r := range ge.Nodes {
			if r.Outcome == Refused && errors.Is(r.Err, c.from[0]) {
				return c.kind
			}
		}
	}
	return nil
}
