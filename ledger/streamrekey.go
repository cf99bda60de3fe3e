package ledger

import (
	"encoding/binary"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// Key generations of a stream (protocol/SPEC.md §20.3), under the stream prefix:
//
//	pStream 'n' ‖ stream id                  -> u32: the current generation, absent while 0
//	pStream 'g' ‖ stream id ‖ u32 generation -> protocol.StreamGeneration, generations ≥ 1
//	pStream 'v' ‖ grant id                   -> u32: a stream grant's generation, absent while 0
//
// Generation 0 is the StreamState's own key from epoch 0, so a stream never rekeyed, and
// its grants, are stored exactly as before generations existed.

// getU32 reads a u32 value; an absent key reads as 0.
func getU32(s Store, k []byte) (uint32, error) {
	v, err := s.Get(k)
	if err != nil || len(v) != 4 {
		return 0, err
	}
	return binary.BigEndian.Uint32(v), nil
}

// currentGeneration is the newest generation of st.
func currentGeneration(s Store, st *protocol.StreamState) (uint32, error) {
	return getU32(s, streamKey('n', st.ID[:]))
}

// generation loads generation g of st; generation 0 is the stream's own key.
func generation(s Store, st *protocol.StreamState, g uint32) (protocol.StreamGeneration, error) {
	if g == 0 {
		return protocol.StreamGeneration{DelegatingKey: st.DelegatingKey, Height: st.Height}, nil
	}
	var gen protocol.StreamGeneration
	if ok, err := getValue(s, streamKey('g', st.ID[:], u32b(g)), &gen); err != nil {
		return gen, err
	} else if !ok {
		return gen, protocol.Errorf(protocol.ErrInternal, "stream %s has no generation %d", st.ID, g)
	}
	return gen, nil
}

// generations lists every generation of st in order, generation 0 first.
func generations(s Store, st *protocol.StreamState) ([]protocol.StreamGeneration, error) {
	n, err := currentGeneration(s, st)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.StreamGeneration, 0, n+1)
	for g := uint32(0); g <= n; g++ {
		gen, err := generation(s, st, g)
		if err != nil {
			return nil, err
		}
		out = append(out, gen)
	}
	return out, nil
}

// generationOfEpoch is the generation epoch e of st falls in: the newest whose first epoch
// is ≤ e. Appends move forward in time, so the search from the newest is short.
func generationOfEpoch(s Store, st *protocol.StreamState, e int64) (protocol.StreamGeneration, error) {
	n, err := currentGeneration(s, st)
	if err != nil {
		return protocol.StreamGeneration{}, err
	}
	for g := n; ; g-- {
		gen, err := generation(s, st, g)
		if err != nil || gen.FirstEpoch <= e || g == 0 {
			return gen, err
		}
	}
}

func applyStreamRekey(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.StreamRekey, res *applied) error {
	st, err := ownStream(o, b.Stream, tx.Signer)
	if err != nil {
		return err
	}
	gens, err := generations(o, st)
	if err != nil {
		return err
	}
	cur := gens[len(gens)-1]
	if b.Generation != cur.Generation+1 {
		return protocol.Errorf(protocol.ErrStreamOrder, "generation %d: the stream's next is %d", b.Generation, cur.Generation+1)
	}
	// No epoch ever has chunks under two keys, and generations follow each other in epochs.
	if last := protocol.EpochOf(st.Last, st.Epoch); st.Chunks > 0 && b.FirstEpoch <= last {
		return protocol.Errorf(protocol.ErrStreamEpoch, "generation %d from epoch %d: the stream's last chunk is of epoch %d", b.Generation, b.FirstEpoch, last)
	}
	if b.FirstEpoch < cur.FirstEpoch {
		return protocol.Errorf(protocol.ErrStreamEpoch, "generation %d from epoch %d: generation %d starts at epoch %d", b.Generation, b.FirstEpoch, cur.Generation, cur.FirstEpoch)
	}
	for _, g := range gens {
		if g.DelegatingKey == b.DelegatingKey {
			return protocol.Errorf(protocol.ErrInvalid, "generation %d of the stream has this key already", g.Generation)
		}
	}
	setValue(o, streamKey('g', st.ID[:], u32b(b.Generation)),
		&protocol.StreamGeneration{Generation: b.Generation, DelegatingKey: b.DelegatingKey, FirstEpoch: b.FirstEpoch, Height: bc.Height})
	o.set(streamKey('n', st.ID[:]), u32b(b.Generation))
	res.record = st.ID
	return nil
}

// StreamGenerations lists a stream's key generations in order, generation 0 first.
func (s *Snapshot) StreamGenerations(id protocol.ID) ([]protocol.StreamGeneration, error) {
	st, err := loadStream(s.st, id)
	if err != nil {
		return nil, err
	}
	return generations(s.st, st)
}

// streamWithGenerations is a committed stream with its generations, as /stream/ID answers.
func (s *Snapshot) streamWithGenerations(id protocol.ID) (*protocol.StreamState, error) {
	st, err := loadStream(s.st, id)
	if err != nil {
		return nil, err
	}
	if st.Generations, err = generations(s.st, st); err != nil {
		return nil, err
	}
	return st, nil
}

// StreamGrantsOf lists a stream's grants, of every generation, in the order they were made.
func (s *Snapshot) StreamGrantsOf(stream protocol.ID, start uint64, limit int) (*protocol.Page[*protocol.StreamGrantState], error) {
	if _, err := loadStream(s.st, stream); err != nil {
		return nil, err
	}
	return idPage(s, listID(listRecordGrants, stream[:]), start, limit, s.StreamGrant)
}
