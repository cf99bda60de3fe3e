// Package stream is the plaintext of a stream chunk: a batch of time-stamped entries, in
// time order, that one sealed envelope carries (SPEC.md). It knows nothing of keys, epochs
// or the ledger; the client seals what Encode returns and opens what Decode reads.
package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Bounds of a chunk. A chunk is read whole into memory, so they bound what a stranger's
// chunk can make a reader allocate.
const (
	// MaxEntryData is the most bytes one entry carries.
	MaxEntryData = 64 << 10
	// MaxChunkEntries is the most entries one chunk holds: a day of one entry a second fits.
	MaxChunkEntries = 1 << 17
	// MaxChunkSize is the most bytes an encoded chunk is.
	MaxChunkSize = 16 << 20
)

const (
	version    = 1
	entryFixed = 8 + 4
)

// ErrMalformed is every refusal of Decode.
var ErrMalformed = errors.New("stream: malformed chunk")

// Entry is one point of a stream: when it happened and its bytes (a JSON line, a reading).
type Entry struct {
	// Time is unix nanoseconds, ≥ 0. It places the entry in its epoch.
	Time int64
	Data []byte
}

// At is the entry's time.
func (e Entry) At() time.Time { return time.Unix(0, e.Time).UTC() }

// Encode returns the chunk plaintext of entries. They must be in time order (equal times
// allowed), each with a time ≥ 0 and at most MaxEntryData bytes, at most MaxChunkEntries of
// them, and at most MaxChunkSize bytes in all.
func Encode(entries []Entry) ([]byte, error) {
	if len(entries) == 0 || len(entries) > MaxChunkEntries {
		return nil, fmt.Errorf("stream: a chunk holds 1..%d entries, not %d", MaxChunkEntries, len(entries))
	}
	n := 1
	for i, e := range entries {
		if err := checkEntry(entries, i); err != nil {
			return nil, err
		}
		n += entryFixed + len(e.Data)
	}
	if n > MaxChunkSize {
		return nil, fmt.Errorf("stream: a chunk of %d bytes, limit %d", n, MaxChunkSize)
	}
	b := make([]byte, 0, n)
	b = append(b, version)
	for _, e := range entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e.Time))
		b = binary.BigEndian.AppendUint32(b, uint32(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b, nil
}

func checkEntry(entries []Entry, i int) error {
	e := entries[i]
	switch {
	case e.Time < 0:
		return fmt.Errorf("stream: entry %d: time before 1970", i)
	case len(e.Data) > MaxEntryData:
		return fmt.Errorf("stream: entry %d: %d bytes, limit %d", i, len(e.Data), MaxEntryData)
	case i > 0 && e.Time < entries[i-1].Time:
		return fmt.Errorf("stream: entry %d is earlier than the one before it", i)
	}
	return nil
}

// Decode parses a chunk plaintext. The entries' Data alias b.
func Decode(b []byte) ([]Entry, error) {
	if len(b) > MaxChunkSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxChunkSize)
	}
	if len(b) == 0 || b[0] != version {
		return nil, fmt.Errorf("%w: not a version %d chunk", ErrMalformed, version)
	}
	b = b[1:]
	var out []Entry
	for len(b) > 0 {
		if len(out) == MaxChunkEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrMalformed, MaxChunkEntries)
		}
		if len(b) < entryFixed {
			return nil, fmt.Errorf("%w: entry %d truncated", ErrMalformed, len(out))
		}
		t := int64(binary.BigEndian.Uint64(b))
		n := binary.BigEndian.Uint32(b[8:])
		b = b[entryFixed:]
		if n > MaxEntryData || int(n) > len(b) {
			return nil, fmt.Errorf("%w: entry %d: %d bytes of data", ErrMalformed, len(out), n)
		}
		out = append(out, Entry{Time: t, Data: b[:n:n]})
		b = b[n:]
		if err := checkEntry(out, len(out)-1); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no entry", ErrMalformed)
	}
	return out, nil
}

// Span is the first and last entry times of a chunk, what its StreamAppend commits.
func Span(entries []Entry) (first, last int64) {
	return entries[0].Time, entries[len(entries)-1].Time
}

// EpochOf is the index of the epoch of length epoch that t (unix ns) falls in: ⌊t / epoch⌋.
func EpochOf(t int64, epoch time.Duration) int64 { return t / int64(epoch) }

// Split cuts entries, in time order, into runs of one epoch each, in order: one chunk per
// epoch touched, more where an epoch's entries pass a chunk's bounds.
func Split(entries []Entry, epoch time.Duration) [][]Entry {
	var out [][]Entry
	for i := 0; i < len(entries); {
		e := EpochOf(entries[i].Time, epoch)
		j, size := i+1, 1+entryFixed+len(entries[i].Data)
		for j < len(entries) && EpochOf(entries[j].Time, epoch) == e && j-i < MaxChunkEntries &&
			size+entryFixed+len(entries[j].Data) <= MaxChunkSize {
			size += entryFixed + len(entries[j].Data)
			j++
		}
		out = append(out, entries[i:j])
		i = j
	}
	return out
}
