package client

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// Stream grants (SPEC.md §11): made by the owner, and chosen by a recipient's read, one
// for each key generation it reads.

// StreamGrantOptions shape a stream grant: GrantOptions, and the window of entry times it
// covers, [From, Until) (Until zero: open-ended, until revoked). Only epochs wholly inside
// the window are readable.
type StreamGrantOptions struct {
	GrantOptions
	From, Until time.Time
}

// GrantStream lets recipient read the entries of the stream whose times lie in the window:
// fragments of the key of the stream's current generation for every registry node, the
// StreamGrant committed, the fragments deposited, as Grant does. The window covers entries
// appended after the grant too, until it ends or is revoked (RevokeStreamGrant; a rekey
// re-issues it for the new generation).
func (s *Session) GrantStream(ctx context.Context, id protocol.ID, recipient identity.Public, o StreamGrantOptions) (*GrantResult, error) {
	st, err := s.liveOwnStream(ctx, id)
	if err != nil {
		return nil, err
	}
	gens := generations(st)
	dk, err := s.generationKey(st, gens[len(gens)-1])
	if err != nil {
		return nil, err
	}
	frags, g, err := s.makeGrant(id, dk, s.id.Public().Receiving, recipient, o.GrantOptions)
	if err != nil {
		return nil, err
	}
	body := &protocol.StreamGrant{Grant: *g}
	if !o.From.IsZero() {
		body.From = o.From.UnixNano()
	}
	if !o.Until.IsZero() {
		body.Until = o.Until.UnixNano()
	}
	return s.commitGrant(ctx, frags, body)
}

// grantFor is the grant epoch e is read under: the first of grants (newest first) of e's key
// generation whose window wholly covers e; nil when none.
func grantFor(st *protocol.StreamState, grants []*protocol.StreamGrantState, e int64) *protocol.StreamGrantState {
	gen := epochGeneration(st, e).Generation
	for _, g := range grants {
		if g.Generation == gen && protocol.Covers(g.From, g.Until, e, st.Epoch) {
			return g
		}
	}
	return nil
}

// usedGrants lists the distinct grants of under in generation order (one nil for the owner).
func usedGrants(under []*protocol.StreamGrantState) []*protocol.StreamGrantState {
	var out []*protocol.StreamGrantState
	for _, g := range under {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	slices.SortStableFunc(out, func(a, b *protocol.StreamGrantState) int {
		if a == nil || b == nil {
			return 0
		}
		return cmp.Compare(a.Generation, b.Generation)
	})
	return out
}

// streamToRead resolves id to a stream and, for a recipient, the live grants to read under,
// newest first: those of the stream, or the grant id names and its re-issues.
func (s *Session) streamToRead(ctx context.Context, id protocol.ID) (*protocol.StreamState, []*protocol.StreamGrantState, error) {
	st, err := s.streamState(ctx, id)
	var named *protocol.StreamGrantState
	if errors.Is(err, ErrNotFound) {
		g, now, err := s.streamGrantAt(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if g.Grant.RecipientSig != s.me || g.Grant.RecipientEnc != protocol.PubKeyOf(s.id.Public().Receiving) {
			return nil, nil, fmt.Errorf("stream grant %s: %w: it is made to another identity", id, ErrNotGranted)
		}
		if st, err = s.streamState(ctx, g.Grant.Record); err != nil {
			return nil, nil, err
		}
		if err := streamGrantErr(g, st, now); err != nil {
			return nil, nil, fmt.Errorf("stream grant %s: %w", id, err)
		}
		named = g
	} else if err != nil {
		return nil, nil, err
	}
	if st.Owner == s.me {
		return st, nil, nil
	}
	shared, err := s.SharedStreams(ctx)
	if err != nil {
		return nil, nil, err
	}
	var live []*protocol.StreamGrantState
	var why error
	for i := len(shared) - 1; i >= 0; i-- {
		sh := shared[i]
		if sh.Stream.ID != st.ID || sh.Grant.Grant.RecipientEnc != protocol.PubKeyOf(s.id.Public().Receiving) {
			continue
		}
		if named != nil && sh.Grant.Grant.ID != named.Grant.ID && !sameLine(sh.Grant, named) {
			continue
		}
		if sh.Err == nil {
			live = append(live, sh.Grant)
		} else if why == nil {
			why = fmt.Errorf("stream grant %s: %w", sh.Grant.Grant.ID, sh.Err)
		}
	}
	if named != nil && !slices.ContainsFunc(live, func(g *protocol.StreamGrantState) bool { return g.Grant.ID == named.Grant.ID }) {
		live = append([]*protocol.StreamGrantState{named}, live...)
	}
	if len(live) > 0 {
		return st, live, nil
	}
	if why == nil {
		why = fmt.Errorf("stream %s: %w", st.ID, ErrNotGranted)
	}
	return nil, nil, why
}

// streamGrantKey is the decisive part of a stream grant: all but its grant's destroyed list.
func streamGrantKey(raw json.RawMessage) ([]byte, error) {
	var g protocol.StreamGrantState
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, err
	}
	decisiveStreamGrant(&g)
	return json.Marshal(&g)
}

func decisiveStreamGrant(g *protocol.StreamGrantState) {
	if g.Grant != nil {
		decisiveGrant(g.Grant)
	}
}

var streamGrantPageKey = pageKey(decisiveStreamGrant)
