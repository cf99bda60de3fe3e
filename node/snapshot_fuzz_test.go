package node

import (
	"bytes"
	"testing"
)

// FuzzDecodeChunk: any bytes decode or are refused without panicking; what decodes has keys
// in strictly ascending order outside 0x00, within the bounds, and encodes back to the same
// bytes.
func FuzzDecodeChunk(f *testing.F) {
	f.Add(rawEntry(rawEntry(nil, []byte("a"), []byte("1")), []byte("b"), nil))
	f.Add(rawEntry(nil, []byte{0x00, 'h'}, []byte("x")))
	f.Add([]byte{0, 0, 0, 1, 'a', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, chunk []byte) {
		var again []byte
		var prev []byte
		last, err := decodeChunk(chunk, nil, func(k, v []byte) error {
			if len(k) == 0 || k[0] == 0x00 || len(k) > maxSnapshotKey || len(v) > maxSnapshotValue {
				t.Fatalf("decoded an entry out of bounds: key %x (%d bytes), value %d bytes", k, len(k), len(v))
			}
			if prev != nil && bytes.Compare(k, prev) <= 0 {
				t.Fatal("decoded keys out of order")
			}
			prev = bytes.Clone(k)
			var err error
			again, err = appendEntry(again, k, v)
			return err
		})
		if err != nil {
			return
		}
		if !bytes.Equal(again, chunk) || !bytes.Equal(last, prev) {
			t.Fatal("a decoded chunk does not encode back to its bytes")
		}
	})
}

// FuzzDecodeSnapshotMeta: metadata decodes only at its exact length, and back to its bytes.
func FuzzDecodeSnapshotMeta(f *testing.F) {
	f.Add(make([]byte, snapshotMetaFixed+32), uint32(1))
	f.Add(make([]byte, snapshotMetaFixed+64), uint32(1))
	f.Add([]byte{}, uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, chunks uint32) {
		m, err := decodeSnapshotMeta(b, chunks)
		if err != nil {
			return
		}
		if uint32(len(m.chunks)) != chunks || !bytes.Equal(m.encode(), b) {
			t.Fatal("metadata does not round-trip")
		}
	})
}
