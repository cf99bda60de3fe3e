package protocol

// Key generations of a stream (SPEC.md §20.3). A stream starts at generation 0, whose key is
// StreamCreate's; each StreamRekey starts the next generation, under a new key, from an epoch
// after every committed chunk. An epoch's capsule is under the key of the generation the
// epoch falls in, and a stream grant is of the generation current at its commit: its
// fragments re-encrypt that generation's epochs only.

// TxStreamRekey is the owner's new key for a stream's later epochs.
const TxStreamRekey TxType = 28

// MaxStreamGenerations bounds a stream's generations, so that the list a query answers and a
// node reads stays small. A revoke rekeys once; a stream outlives thousands of them.
const MaxStreamGenerations = 4096

// StreamRekey starts generation Generation of stream Stream: epochs from FirstEpoch on are
// sealed under DelegatingKey.
type StreamRekey struct {
	Stream        ID
	Generation    uint32 // the stream's current generation + 1
	DelegatingKey PubKey
	FirstEpoch    int64 // after the epoch of the stream's last committed chunk
}

func (*StreamRekey) Type() TxType { return TxStreamRekey }

func (b *StreamRekey) encode(w *writer) {
	w.raw(b.Stream[:])
	w.b.AddUint32(b.Generation)
	w.raw(b.DelegatingKey[:])
	w.i64(b.FirstEpoch)
}

func (b *StreamRekey) decode(r *reader) {
	r.fixed(b.Stream[:], "stream id")
	if r.err == nil && !r.s.ReadUint32(&b.Generation) {
		r.fail("truncated generation")
	}
	r.fixed(b.DelegatingKey[:], "delegating key")
	b.FirstEpoch = r.i64("first epoch")
}

func (b *StreamRekey) validate() error {
	switch {
	case b.Generation == 0 || b.Generation >= MaxStreamGenerations:
		return Errorf(ErrInvalid, "generation %d: a rekey starts generation 1..%d", b.Generation, MaxStreamGenerations-1)
	case b.FirstEpoch < 0 || b.FirstEpoch > maxEpoch:
		return Errorf(ErrInvalid, "first epoch %d out of range", b.FirstEpoch)
	case !b.DelegatingKey.Valid():
		return Errorf(ErrInvalid, "delegating key is not a valid point")
	}
	return nil
}

// streamGenerationVersion leads an encoded StreamGeneration.
const streamGenerationVersion = 1

// StreamGeneration is one key generation of a stream: its key, the first epoch under it, and
// the block that started it. Generation 0 is the stream's StreamCreate (its key, epoch 0,
// its height); the ledger stores the later ones.
type StreamGeneration struct {
	Generation    uint32 `json:"generation"`
	DelegatingKey PubKey `json:"delegating_key"`
	FirstEpoch    int64  `json:"first_epoch"`
	Height        int64  `json:"height"`
}

func (g *StreamGeneration) MarshalBinary() ([]byte, error) {
	w := newWriter(60)
	w.u8(streamGenerationVersion)
	w.b.AddUint32(g.Generation)
	w.raw(g.DelegatingKey[:])
	w.i64(g.FirstEpoch)
	w.i64(g.Height)
	return w.finish(), nil
}

func (g *StreamGeneration) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.versionOf("stream generation", streamGenerationVersion)
	*g = StreamGeneration{}
	if r.err == nil && !r.s.ReadUint32(&g.Generation) {
		r.fail("truncated generation")
	}
	r.fixed(g.DelegatingKey[:], "delegating key")
	g.FirstEpoch = r.i64("first epoch")
	g.Height = r.i64("height")
	return r.finish()
}

// GenerationOf is the generation epoch e falls in, given a stream's generations in order
// (as StreamState.Generations lists them): the last one whose first epoch is ≤ e. ok is
// false when gens is empty.
func GenerationOf(gens []StreamGeneration, e int64) (StreamGeneration, bool) {
	for i := len(gens) - 1; i >= 0; i-- {
		if gens[i].FirstEpoch <= e {
			return gens[i], true
		}
	}
	return StreamGeneration{}, false
}
