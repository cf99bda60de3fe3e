package protocol

// streamStateVersion leads an encoded StreamState.
const streamStateVersion = 1

// StreamState is a committed stream and what it holds.
type StreamState struct {
	ID            ID     `json:"id"`
	Owner         PubKey `json:"owner"`
	Epoch         uint32 `json:"epoch"` // seconds
	Label         Hash32 `json:"label"`
	DelegatingKey PubKey `json:"delegating_key"`
	Height        int64  `json:"height"`
	Time          int64  `json:"time"`
	TxHash        Hash32 `json:"tx_hash"`
	// Last is the latest committed entry time (unix ns), 0 before the first chunk: a chunk's
	// first entry may not be earlier.
	Last   int64  `json:"last"`
	Chunks uint64 `json:"chunks"`
	Bytes  uint64 `json:"bytes"`
	// ErasedHeight is the height of the StreamErase, 0 while the stream lives.
	ErasedHeight int64 `json:"erased_height,omitempty"`
	// Generations are the stream's key generations in order, generation 0 (the key above)
	// first: filled in by queries, left out of the encoding (SPEC.md §20.3).
	Generations []StreamGeneration `json:"generations,omitempty"`
}

// StreamChunk is one committed chunk as a stream's index lists it.
type StreamChunk struct {
	Epoch  int64   `json:"epoch"`
	Record ID      `json:"record"` // the chunk's record: its CID, size and capsule
	CID    CIDText `json:"cid"`
	Size   uint64  `json:"size"`
	First  int64   `json:"first"`
	Last   int64   `json:"last"`
	Count  uint32  `json:"count"`
}

// StreamGrantState is a stream grant: the grant, and the window of entry times it covers.
type StreamGrantState struct {
	Grant *GrantState `json:"grant"`
	From  int64       `json:"from"`
	Until int64       `json:"until"` // 0: open-ended
	// Generation is the stream's key generation the grant's fragments are of: the current
	// one at its commit. Its nodes re-encrypt only that generation's epochs.
	Generation uint32 `json:"generation"`
}

func (s *StreamState) MarshalBinary() ([]byte, error) {
	w := newWriter(200)
	w.u8(streamStateVersion)
	w.raw(s.ID[:])
	w.raw(s.Owner[:])
	w.b.AddUint32(s.Epoch)
	w.raw(s.Label[:])
	w.raw(s.DelegatingKey[:])
	w.i64(s.Height)
	w.i64(s.Time)
	w.raw(s.TxHash[:])
	w.i64(s.Last)
	w.u64(s.Chunks)
	w.u64(s.Bytes)
	w.i64(s.ErasedHeight)
	return w.finish(), nil
}

func (s *StreamState) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.versionOf("stream", streamStateVersion)
	*s = StreamState{}
	r.fixed(s.ID[:], "id")
	r.fixed(s.Owner[:], "owner")
	if r.err == nil && !r.s.ReadUint32(&s.Epoch) {
		r.fail("truncated epoch")
	}
	r.fixed(s.Label[:], "label")
	r.fixed(s.DelegatingKey[:], "delegating key")
	s.Height = r.i64("height")
	s.Time = r.i64("time")
	r.fixed(s.TxHash[:], "tx hash")
	s.Last = r.i64("last")
	s.Chunks = r.u64("chunks")
	s.Bytes = r.u64("bytes")
	s.ErasedHeight = r.i64("erased height")
	return r.finish()
}

func (c *StreamChunk) MarshalBinary() ([]byte, error) {
	if len(c.CID) > MaxCIDBytes {
		return nil, Errorf(ErrInvalid, "cid longer than %d bytes", MaxCIDBytes)
	}
	w := newWriter(200)
	w.u8(streamStateVersion)
	w.i64(c.Epoch)
	w.raw(c.Record[:])
	w.bytes(c.CID)
	w.u64(c.Size)
	w.i64(c.First)
	w.i64(c.Last)
	w.b.AddUint32(c.Count)
	return w.finish(), nil
}

func (c *StreamChunk) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.versionOf("stream chunk", streamStateVersion)
	*c = StreamChunk{}
	c.Epoch = r.i64("epoch")
	r.fixed(c.Record[:], "record")
	c.CID = r.bytes(MaxCIDBytes, "cid")
	c.Size = r.u64("size")
	c.First = r.i64("first")
	c.Last = r.i64("last")
	if r.err == nil && !r.s.ReadUint32(&c.Count) {
		r.fail("truncated count")
	}
	return r.finish()
}
