package proxy

import (
	"errors"
	"fmt"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Streams (SPEC.md §4, check 9 for a stream grant): a stream grant's fragments are of the
// key of one generation of the stream, so they would re-encrypt every epoch of that
// generation; the node re-encrypts only the committed capsule of an epoch of the grant's own
// stream and generation whose whole span lies in the grant's window of entry times.

// streamGrant is the window of g when g is a stream grant, nil otherwise.
func (s *Service) streamGrant(snap *ledger.Snapshot, g *protocol.GrantState) (*protocol.StreamGrantState, error) {
	sg, err := snap.StreamGrant(g.ID)
	if errors.Is(err, protocol.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		s.log.Error("proxy: reading a stream grant", "grant", g.ID.String(), "err", err)
		return nil, protocol.ErrInternal
	}
	return sg, nil
}

// grantedCapsule is the capsule r may have re-encrypted under g: the record's committed
// capsule, or for a stream grant an epoch's that the window covers.
func (s *Service) grantedCapsule(snap *ledger.Snapshot, g *protocol.GrantState, b protocol.CapsuleBytes) (*umbral.Capsule, error) {
	sg, err := s.streamGrant(snap, g)
	if err != nil {
		return nil, err
	}
	if sg == nil {
		return s.committedCapsule(snap, g.Record, b)
	}
	st, err := snap.Stream(g.Record)
	if err != nil {
		s.log.Error("proxy: stream grant without stream", "grant", g.ID.String(), "err", err)
		return nil, protocol.ErrInternal
	}
	e, ok, err := snap.EpochOfCapsule(st.ID, b)
	if err != nil {
		return nil, protocol.ErrInternal
	}
	if !ok {
		return nil, protocol.Errorf(protocol.ErrWrongCapsule, "not the committed capsule of an epoch of stream %s", st.ID)
	}
	if !protocol.Covers(sg.From, sg.Until, e, st.Epoch) {
		return nil, protocol.Errorf(protocol.ErrOutsideWindow, "epoch %d of stream %s is not wholly inside the grant's window", e, st.ID)
	}
	// The fragments are of one generation's key; an epoch of another generation is refused
	// even inside the window: after a rekey the old fragments open no new epoch.
	gens, err := snap.StreamGenerations(st.ID)
	if err != nil {
		s.log.Error("proxy: reading a stream's generations", "stream", st.ID.String(), "err", err)
		return nil, protocol.ErrInternal
	}
	if gen, _ := protocol.GenerationOf(gens, e); gen.Generation != sg.Generation {
		return nil, protocol.Errorf(protocol.ErrOutsideWindow, "epoch %d of stream %s is of key generation %d, the grant of generation %d",
			e, st.ID, gen.Generation, sg.Generation)
	}
	c := new(umbral.Capsule)
	if err := c.UnmarshalBinary(b[:]); err != nil {
		return nil, protocol.ErrInternal // the ledger validated it at its StreamAppend
	}
	return c, nil
}

// grantedKey is the record whose delegating key g's fragments are of: the record's, or for
// a stream grant the key of the stream's generation the grant is of, as a record of the
// stream's id.
func (s *Service) grantedKey(snap *ledger.Snapshot, g *protocol.GrantState) (*protocol.Record, error) {
	sg, err := s.streamGrant(snap, g)
	if err != nil {
		return nil, err
	}
	if sg == nil {
		return snap.Record(g.Record)
	}
	st, err := snap.Stream(g.Record)
	if err != nil {
		return nil, err
	}
	gens, err := snap.StreamGenerations(st.ID)
	if err != nil {
		return nil, err
	}
	if int(sg.Generation) >= len(gens) {
		return nil, fmt.Errorf("stream grant %s of generation %d, the stream has %d", g.ID, sg.Generation, len(gens))
	}
	return &protocol.Record{ID: st.ID, Owner: st.Owner, DelegatingKey: gens[sg.Generation].DelegatingKey}, nil
}

// answersFor is how many capsule fragments one access request buys under g: a record's
// AnswersPerRequest, and under a stream grant, one per epoch of a day (twice over, for lost
// answers) on top — a reader makes one re-encryption per epoch, and a day of 10-minute epochs
// read through 4-answer requests would need a committed request per 4 epochs.
func (s *Service) answersFor(snap *ledger.Snapshot, g *protocol.GrantState) (int, error) {
	sg, err := s.streamGrant(snap, g)
	if err != nil || sg == nil {
		return AnswersPerRequest, err
	}
	st, err := snap.Stream(g.Record)
	if err != nil {
		return 0, protocol.ErrInternal
	}
	return AnswersPerRequest + 2*protocol.MaxStreamEpoch/int(st.Epoch), nil
}
