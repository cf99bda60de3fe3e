package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Key generations of a stream (SPEC.md §11; protocol/SPEC.md §20.3): a rekey seals later
// epochs under a new key and re-issues the live grants for it, so the fragments of a revoked
// grant, even kept by t colluding nodes, open no epoch appended after its revocation.

// generationKey is this identity's key of generation gen of stream st, checked against
// the key the ledger committed for it.
func (s *Session) generationKey(st *protocol.StreamState, gen protocol.StreamGeneration) (*umbral.SecretKey, error) {
	dk, err := s.id.StreamKeyOf(st.ID[:], gen.Generation)
	if err != nil {
		return nil, err
	}
	if protocol.PubKeyOf(dk.PublicKey()) != gen.DelegatingKey {
		return nil, fmt.Errorf("client: generation %d of stream %s is not under this identity's key for it", gen.Generation, st.ID)
	}
	return dk, nil
}

// generations is st's key generations, generation 0 alone when the answer listed none.
func generations(st *protocol.StreamState) []protocol.StreamGeneration {
	if len(st.Generations) == 0 {
		return []protocol.StreamGeneration{{DelegatingKey: st.DelegatingKey, Height: st.Height}}
	}
	return st.Generations
}

// epochGeneration is the generation epoch e of st is sealed under.
func epochGeneration(st *protocol.StreamState, e int64) protocol.StreamGeneration {
	gen, _ := protocol.GenerationOf(generations(st), e)
	return gen
}

// StreamGrantsOf lists every grant of one of this identity's streams, of every generation,
// oldest first (/stream-grants/stream/ID).
func (s *Session) StreamGrantsOf(ctx context.Context, id protocol.ID) ([]*protocol.StreamGrantState, error) {
	return all[*protocol.StreamGrantState](ctx, s, "/stream-grants/stream/"+id.String(), streamGrantPageKey)
}

// Reissue is a live grant of the old generation and its grant for the new one.
type Reissue struct {
	Old    protocol.ID
	Result *GrantResult // nil when the re-issue failed before its commit
}

// RekeyResult is a committed StreamRekey and the grants it re-issued.
type RekeyResult struct {
	Generation uint32
	FirstEpoch int64 // the first epoch under the new key
	From       int64 // unix ns: the start of FirstEpoch
	Height     int64
	Reissued   []Reissue
}

// RekeyStream starts a new key generation of one of this identity's streams from the epoch
// after its last chunk (or the current generation's first, if later), and re-issues every
// grant of the current generation still live or yet to begin whose window reaches that
// epoch: same recipient, nodes, threshold, window, not-before, not-after and purpose, with
// fragments of the new key. The old grants stay for the old generation's epochs. On an
// error after the rekey committed, the result lists the grants re-issued before it.
func (s *Session) RekeyStream(ctx context.Context, id protocol.ID) (*RekeyResult, error) {
	st, err := s.liveOwnStream(ctx, id)
	if err != nil {
		return nil, err
	}
	gens := generations(st)
	cur := gens[len(gens)-1]
	first := cur.FirstEpoch
	if st.Chunks > 0 {
		first = max(first, protocol.EpochOf(st.Last, st.Epoch)+1)
	}
	grants, now, err := allAt[*protocol.StreamGrantState](ctx, s, "/stream-grants/stream/"+id.String(), streamGrantPageKey)
	if err != nil {
		return nil, err
	}
	next := cur.Generation + 1
	dk, err := s.id.StreamKeyOf(id[:], next)
	if err != nil {
		return nil, err
	}
	done, err := s.transact(ctx, func(uint64) (protocol.Body, error) {
		return &protocol.StreamRekey{Stream: id, Generation: next, DelegatingKey: protocol.PubKeyOf(dk.PublicKey()), FirstEpoch: first}, nil
	})
	if err != nil {
		return nil, err
	}
	start, _ := protocol.EpochSpan(first, st.Epoch)
	res := &RekeyResult{Generation: next, FirstEpoch: first, From: start, Height: done.height}
	for _, g := range grants {
		if g.Grant == nil || g.Generation != cur.Generation || !reissuable(g, now, start) {
			continue
		}
		r, err := s.reissue(ctx, dk, g)
		res.Reissued = append(res.Reissued, Reissue{Old: g.Grant.ID, Result: r})
		if err != nil {
			return res, fmt.Errorf("re-issuing grant %s for generation %d: %w", g.Grant.ID, next, err)
		}
	}
	return res, nil
}

// reissuable says whether g, at block time now, can still be used for an epoch starting at
// or after start: not revoked, not ended, its window reaching past start.
func reissuable(g *protocol.StreamGrantState, now, start int64) bool {
	gs := g.Grant
	return !gs.Revoked && !gs.Expired && (gs.NotAfter == 0 || gs.NotAfter > now) && (g.Until == 0 || g.Until > start)
}

// reissue commits g again with fragments of dk, the key of the new generation.
func (s *Session) reissue(ctx context.Context, dk *umbral.SecretKey, g *protocol.StreamGrantState) (*GrantResult, error) {
	old := g.Grant
	sig, err1 := umbral.PublicKeyFromBytes(old.RecipientSig[:])
	enc, err2 := umbral.PublicKeyFromBytes(old.RecipientEnc[:])
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%w: grant %s names no valid recipient", ErrNodeAnswer, old.ID)
	}
	keys := make([]protocol.PubKey, len(old.Nodes))
	for i, n := range old.Nodes {
		keys[i] = n.Proxy
	}
	frags, err := MakeFragments(dk, s.id.Signer(), enc, keys, int(old.Threshold))
	if err != nil {
		return nil, err
	}
	to := identity.Public{Signing: sig, Receiving: enc}
	body := &protocol.StreamGrant{Grant: protocol.Grant{Record: old.Record, OwnerEnc: protocol.PubKeyOf(s.id.Public().Receiving),
		RecipientSig: protocol.PubKeyOf(to.Signing), RecipientEnc: protocol.PubKeyOf(to.Receiving), Threshold: uint8(frags.Threshold),
		Nodes: frags.Nodes, NotBefore: old.NotBefore, NotAfter: old.NotAfter, Purpose: old.Purpose}, From: g.From, Until: g.Until}
	return s.commitGrant(ctx, frags, body)
}

// sameLine says whether a and b are one grant in two generations: the same stream,
// recipient, window, not-before, not-after and purpose. A rekey re-issues a grant so.
func sameLine(a, b *protocol.StreamGrantState) bool {
	x, y := a.Grant, b.Grant
	return x.Record == y.Record && x.RecipientSig == y.RecipientSig && x.RecipientEnc == y.RecipientEnc && a.From == b.From &&
		a.Until == b.Until && x.NotBefore == y.NotBefore && x.NotAfter == y.NotAfter && x.Purpose == y.Purpose
}

// StreamRevokeResult is a stream grant's revocation and the rekey that followed it.
type StreamRevokeResult struct {
	Revoked []*RevokeResult // the grant (unless revoked before) and its live re-issues of other generations
	Grants  []protocol.ID   // the grants of Revoked, in order
	Rekey   *RekeyResult
}

// RevokeStreamGrant revokes a grant of one of this identity's streams, and the grant's live
// re-issues of other generations (same recipient, window and purpose), then rekeys the
// stream (RekeyStream): epochs appended from then on are under a key of which the revoked
// grants' nodes hold no fragment, whatever they kept, and every other live grant is
// re-issued for it.
func (s *Session) RevokeStreamGrant(ctx context.Context, grant protocol.ID) (*StreamRevokeResult, error) {
	g, err := s.StreamGrant(ctx, grant)
	if err != nil {
		return nil, err
	}
	if g.Grant.Owner != s.me {
		return nil, fmt.Errorf("%w: the stream belongs to another identity", ErrUnauthorized)
	}
	grants, err := s.StreamGrantsOf(ctx, g.Grant.Record)
	if err != nil {
		return nil, err
	}
	// A grant revoked already is passed over, so that a revoke whose rekey failed can be
	// run again to finish it.
	var targets []protocol.ID
	for _, o := range grants {
		if o.Grant != nil && !o.Grant.Revoked && (o.Grant.ID == grant || sameLine(o, g)) {
			targets = append(targets, o.Grant.ID)
		}
	}
	res := &StreamRevokeResult{}
	for _, id := range targets {
		r, err := s.Revoke(ctx, id)
		if err != nil {
			return res, fmt.Errorf("revoking grant %s: %w", id, err)
		}
		res.Revoked, res.Grants = append(res.Revoked, r), append(res.Grants, id)
	}
	res.Rekey, err = s.RekeyStream(ctx, g.Grant.Record)
	return res, err
}

// liveOwnStream is stream id, with its generations, if it is this identity's and not erased.
func (s *Session) liveOwnStream(ctx context.Context, id protocol.ID) (*protocol.StreamState, error) {
	st, err := s.streamState(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.Owner != s.me {
		return nil, fmt.Errorf("%w: the stream belongs to another identity", ErrUnauthorized)
	}
	if st.ErasedHeight != 0 {
		return nil, fmt.Errorf("stream %s: %w at height %d", id, ErrErased, st.ErasedHeight)
	}
	return st, nil
}
