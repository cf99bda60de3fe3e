package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
)

// Snapshot format 1 (SPEC.md, "Snapshots and state sync"): every pair of the committed state
// outside the application's 0x00 keys, in ascending key order, each entry
//
//	u32 len(key) ‖ key ‖ u32 len(value) ‖ value
//
// cut into chunks of whole entries, and metadata that names each chunk by its SHA-256:
//
//	u64 block time (unix ns) ‖ u64 entries ‖ chunks × [32]SHA-256(chunk)
const (
	snapshotFormat     = 1
	snapshotChunkLimit = 4 << 20 // no chunk is longer; checked before it is hashed
	maxSnapshotChunks  = 1 << 16 // 256 GiB of state
	maxSnapshotKey     = 1024
	maxSnapshotValue   = 1 << 20
	snapshotMetaFixed  = 16
	snapshotHashDomain = "resilientrecords/node/snapshot/v1\x00"
)

// snapshotChunkTarget is where a chunk is cut: before the entry that would take it past the
// target. It is the limit, except in tests that want many small chunks.
var snapshotChunkTarget atomic.Int64

func init() { snapshotChunkTarget.Store(snapshotChunkLimit) }

// snapshotMeta is a snapshot's metadata: the block time of its height, how many entries it
// holds, and each chunk's SHA-256.
type snapshotMeta struct {
	blockTime int64
	entries   uint64
	chunks    [][sha256.Size]byte
}

func (m *snapshotMeta) encode() []byte {
	b := make([]byte, 0, snapshotMetaFixed+sha256.Size*len(m.chunks))
	b = binary.BigEndian.AppendUint64(b, uint64(m.blockTime))
	b = binary.BigEndian.AppendUint64(b, m.entries)
	for _, h := range m.chunks {
		b = append(b, h[:]...)
	}
	return b
}

// decodeSnapshotMeta reads the metadata of a snapshot said to have chunks chunks; its length
// must be exactly what that many chunks take.
func decodeSnapshotMeta(b []byte, chunks uint32) (*snapshotMeta, error) {
	if chunks == 0 || chunks > maxSnapshotChunks {
		return nil, fmt.Errorf("a snapshot has 1 to %d chunks, not %d", maxSnapshotChunks, chunks)
	}
	if len(b) != snapshotMetaFixed+sha256.Size*int(chunks) {
		return nil, fmt.Errorf("metadata of %d bytes for %d chunks", len(b), chunks)
	}
	t := binary.BigEndian.Uint64(b)
	if t > 1<<63-1 {
		return nil, errors.New("block time out of range")
	}
	m := &snapshotMeta{blockTime: int64(t), entries: binary.BigEndian.Uint64(b[8:]), chunks: make([][sha256.Size]byte, chunks)}
	for i := range m.chunks {
		copy(m.chunks[i][:], b[snapshotMetaFixed+sha256.Size*i:])
	}
	return m, nil
}

// snapshotHash is the Hash a snapshot is advertised with: it binds the height, the chunk
// count and the metadata, so peers that advertise the same hash advertise the same snapshot.
func snapshotHash(height uint64, chunks uint32, meta []byte) []byte {
	h := sha256.New()
	h.Write([]byte(snapshotHashDomain))
	var n [12]byte
	binary.BigEndian.PutUint64(n[:], height)
	binary.BigEndian.PutUint32(n[8:], chunks)
	h.Write(n[:])
	h.Write(meta)
	return h.Sum(nil)
}

// appendEntry encodes one pair; the pair must fit the format's bounds.
func appendEntry(b, k, v []byte) ([]byte, error) {
	if len(k) == 0 || len(k) > maxSnapshotKey || k[0] == 0x00 || len(v) > maxSnapshotValue {
		return b, fmt.Errorf("node: state pair (key %d bytes, value %d bytes) does not fit snapshot format %d", len(k), len(v), snapshotFormat)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
	b = append(b, k...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...), nil
}

// decodeChunk calls fn with each entry of chunk, in order, after checking it against the
// format's bounds and that its key is above after (the last key of the chunks before; nil at
// the start). It returns the chunk's last key. k and v alias chunk.
func decodeChunk(chunk, after []byte, fn func(k, v []byte) error) ([]byte, error) {
	if len(chunk) > snapshotChunkLimit {
		return nil, fmt.Errorf("chunk of %d bytes, over the limit of %d", len(chunk), snapshotChunkLimit)
	}
	if len(chunk) == 0 {
		return nil, errors.New("empty chunk")
	}
	last := after
	for len(chunk) > 0 {
		k, rest, err := field(chunk, maxSnapshotKey)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		v, rest, err := field(rest, maxSnapshotValue)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		chunk = rest
		switch {
		case len(k) == 0:
			return nil, errors.New("empty key")
		case k[0] == 0x00:
			return nil, errors.New("a key of the application's own (0x00)")
		case last != nil && bytes.Compare(k, last) <= 0:
			return nil, errors.New("keys not in strictly ascending order")
		}
		if err := fn(k, v); err != nil {
			return nil, err
		}
		last = k
	}
	return last, nil
}

// field reads a u32 length and that many bytes, at most max.
func field(b []byte, max int) (f, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, errors.New("truncated length")
	}
	n := binary.BigEndian.Uint32(b)
	if n > uint32(max) {
		return nil, nil, fmt.Errorf("length %d over %d", n, max)
	}
	if uint64(len(b)-4) < uint64(n) {
		return nil, nil, errors.New("truncated")
	}
	return b[4 : 4+n], b[4+n:], nil
}
