package protocol

import "time"

// Streams (SPEC.md §20). A stream is an owner's append-only log of time-stamped entries,
// shared by windows of entry time. It has one delegating key and a fixed epoch length; the
// entries of one epoch are sealed under one capsule, so a reader needs one re-encryption
// per epoch. Each appended chunk is also a Record in state (its blob stored, replicated,
// counted and erased as a record's), left out of the owner's list of records.

const (
	TxStreamCreate TxType = 24
	TxStreamAppend TxType = 25
	TxStreamGrant  TxType = 26
	TxStreamErase  TxType = 27
)

// Audit kinds of a stream's own log (its id is the log's key). A stream grant's requests
// and revocation are logged as a record grant's: AuditRequest, AuditRevoke.
const (
	AuditStreamCreate = "stream_create"
	AuditStreamGrant  = "stream_grant"
	AuditStreamErase  = "stream_erase"
)

// Bounds of a stream.
const (
	MinStreamEpoch     = 60        // seconds
	MaxStreamEpoch     = 24 * 3600 // seconds; an epoch divides a day
	DefaultStreamEpoch = 10 * 60   // seconds
	MaxChunkEntries    = 1 << 17   // the stream package's bound on one chunk
)

// StreamCreate opens a stream of the signer's. Label is the owner's keyed hash of the
// stream's name (the ledger never learns the name); DelegatingKey is the stream's one key.
type StreamCreate struct {
	Epoch         uint32 // seconds, MinStreamEpoch..MaxStreamEpoch, dividing a day
	Label         Hash32
	DelegatingKey PubKey
}

// StreamAppend commits one chunk of a stream: a sealed blob of Count entries whose times
// run from First to Last, all in epoch Epoch, sealed under the epoch's capsule.
type StreamAppend struct {
	Stream  ID
	Epoch   int64
	Capsule CapsuleBytes
	CID     []byte
	Size    uint64
	First   int64 // unix ns
	Last    int64 // unix ns
	Count   uint32
}

// StreamGrant lets a recipient read the entries of Grant.Record (the stream's id) whose
// times lie in [From, Until) — Until 0: open-ended, until revoked — through the nodes'
// re-encryption of each epoch wholly inside the window. The rest of Grant is a grant's.
type StreamGrant struct {
	Grant Grant
	From  int64 // unix ns of entry time
	Until int64 // unix ns of entry time; 0 = no end
}

// StreamErase ends every grant of a stream and erases every chunk. Only the owner may.
type StreamErase struct{ Stream ID }

func (*StreamCreate) Type() TxType { return TxStreamCreate }
func (*StreamAppend) Type() TxType { return TxStreamAppend }
func (*StreamGrant) Type() TxType  { return TxStreamGrant }
func (*StreamErase) Type() TxType  { return TxStreamErase }

// StreamID is the id a StreamCreate signed by owner at seq gets on chainID. A chunk's record
// id is RecordID of its StreamAppend, and a stream grant's id GrantID of its StreamGrant.
func StreamID(chainID string, owner PubKey, seq uint64) ID {
	return idFor("resilientrecords/ledger/stream-id/v1\x00", chainID, owner, seq)
}

// ValidStreamEpoch says whether seconds is an allowed epoch length.
func ValidStreamEpoch(seconds uint32) bool {
	return seconds >= MinStreamEpoch && seconds <= MaxStreamEpoch && MaxStreamEpoch%seconds == 0
}

// EpochSpan is the span [start, end) of entry times (unix ns) of epoch e of a stream whose
// epochs last seconds.
func EpochSpan(e int64, seconds uint32) (start, end int64) {
	d := int64(seconds) * int64(time.Second)
	return e * d, (e + 1) * d
}

// EpochOf is the epoch entry time t (unix ns, ≥ 0) falls in.
func EpochOf(t int64, seconds uint32) int64 { return t / (int64(seconds) * int64(time.Second)) }

// maxEpoch bounds an epoch index for the shortest epochs; longer ones are bounded by their
// entry times, which are int64 nanoseconds (Covers checks that a span's end fits).
const maxEpoch = (1<<63 - 1) / int64(MinStreamEpoch*time.Second)

func (b *StreamCreate) encode(w *writer) {
	w.b.AddUint32(b.Epoch)
	w.raw(b.Label[:])
	w.raw(b.DelegatingKey[:])
}

func (b *StreamCreate) decode(r *reader) {
	if r.err == nil && !r.s.ReadUint32(&b.Epoch) {
		r.fail("truncated epoch")
	}
	r.fixed(b.Label[:], "label")
	r.fixed(b.DelegatingKey[:], "delegating key")
}

func (b *StreamCreate) validate() error {
	if !ValidStreamEpoch(b.Epoch) {
		return Errorf(ErrInvalid, "epoch of %d s: it must be %d..%d s and divide a day", b.Epoch, MinStreamEpoch, MaxStreamEpoch)
	}
	if !b.DelegatingKey.Valid() {
		return Errorf(ErrInvalid, "delegating key is not a valid point")
	}
	return nil
}

func (b *StreamAppend) encode(w *writer) {
	w.raw(b.Stream[:])
	w.i64(b.Epoch)
	w.raw(b.Capsule[:])
	w.bytes(b.CID)
	w.u64(b.Size)
	w.i64(b.First)
	w.i64(b.Last)
	w.b.AddUint32(b.Count)
}

func (b *StreamAppend) decode(r *reader) {
	r.fixed(b.Stream[:], "stream id")
	b.Epoch = r.i64("epoch")
	r.fixed(b.Capsule[:], "capsule")
	b.CID = r.bytes(MaxCIDBytes, "cid")
	b.Size = r.u64("size")
	b.First = r.i64("first")
	b.Last = r.i64("last")
	if r.err == nil && !r.s.ReadUint32(&b.Count) {
		r.fail("truncated count")
	}
}

func (b *StreamAppend) validate() error {
	switch {
	case b.Epoch < 0 || b.Epoch > maxEpoch:
		return Errorf(ErrInvalid, "epoch %d out of range", b.Epoch)
	case b.First < 0 || b.Last < b.First:
		return Errorf(ErrInvalid, "entry times must satisfy 0 ≤ first ≤ last")
	case b.Count == 0 || b.Count > MaxChunkEntries:
		return Errorf(ErrInvalid, "a chunk holds 1..%d entries", MaxChunkEntries)
	case b.Count == 1 && b.First != b.Last:
		return Errorf(ErrInvalid, "one entry has one time")
	}
	if len(b.CID) == 0 || len(b.CID) > MaxCIDBytes || !printableASCII(b.CID) {
		return Errorf(ErrInvalid, "cid must be the text form of a CID: 1..%d printable ASCII bytes", MaxCIDBytes)
	}
	if !validCapsule(b.Capsule[:]) {
		return Errorf(ErrInvalid, "capsule does not verify")
	}
	return nil
}

func (b *StreamGrant) encode(w *writer) {
	b.Grant.encode(w)
	w.i64(b.From)
	w.i64(b.Until)
}

func (b *StreamGrant) decode(r *reader) {
	b.Grant.decode(r)
	b.From = r.i64("from")
	b.Until = r.i64("until")
}

func (b *StreamGrant) validate() error {
	if err := b.Grant.validate(); err != nil {
		return err
	}
	if b.From < 0 || (b.Until != 0 && b.Until <= b.From) {
		return Errorf(ErrInvalid, "window must satisfy 0 ≤ from < until, or until 0 (open-ended)")
	}
	return nil
}

func (b *StreamErase) encode(w *writer) { w.raw(b.Stream[:]) }
func (b *StreamErase) decode(r *reader) { r.fixed(b.Stream[:], "stream id") }
func (b *StreamErase) validate() error  { return nil }

// Covers says whether a window [from, until) (until 0: no end) holds the whole span of
// epoch e of a stream whose epochs last seconds: the nodes re-encrypt only such epochs.
func Covers(from, until, e int64, seconds uint32) bool {
	d := int64(seconds) * int64(time.Second)
	if e < 0 || d <= 0 || e >= (1<<63-1)/d {
		return false
	}
	start, end := EpochSpan(e, seconds)
	return start >= from && (until == 0 || end <= until)
}
