package envelope

import (
	"bytes"
	"io"
	"testing"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// FuzzParseHeader: any input either parses into a header that re-encodes to exactly the bytes
// consumed, or fails with one format sentinel. Never a panic.
func FuzzParseHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(bytes.NewReader(data))
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no single sentinel", err)
			}
			return
		}
		raw, _ := h.MarshalBinary()
		if int64(len(raw)) != h.Len() || !bytes.Equal(raw, data[:len(raw)]) {
			t.Fatal("header does not re-encode to its input")
		}
	})
}

// FuzzOpen opens arbitrary files with the vectors' owner key through both readers: each either
// yields a plaintext of exactly Metadata.Size bytes or fails with a format sentinel, and the
// stream and random-access readers agree.
func FuzzOpen(f *testing.F) {
	owner := &memoUnwrapper{u: OwnerKey{Delegating: vectorSK(f)}, keys: map[string][]byte{}}
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, meta, err := openAll(data, owner)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("Open: %v wraps no single sentinel", err)
			}
		} else if int64(len(pt)) != meta.Size {
			t.Fatalf("read %d bytes, metadata says %d", len(pt), meta.Size)
		}
		ra, raErr := NewReaderAt(bytes.NewReader(data), int64(len(data)), owner)
		if raErr != nil {
			if !isSentinel(raErr) {
				t.Fatalf("NewReaderAt: %v wraps no single sentinel", raErr)
			}
			if err == nil {
				t.Fatalf("stream reader opened a file NewReaderAt rejects: %v", raErr)
			}
			return
		}
		all, raErr := io.ReadAll(io.NewSectionReader(ra, 0, ra.Size()))
		if raErr != nil && !isSentinel(raErr) {
			t.Fatalf("ReadAt: %v wraps no single sentinel", raErr)
		}
		if err == nil && (raErr != nil || !bytes.Equal(all, pt)) {
			t.Fatalf("readers disagree: %v", raErr)
		}
	})
}

// memoUnwrapper caches unwrapped file keys by capsule and wrapped key, so the fuzzer spends its
// time in the envelope's parsers rather than in curve arithmetic for the same capsule.
type memoUnwrapper struct {
	u    Unwrapper
	keys map[string][]byte
}

func (m *memoUnwrapper) UnwrapFileKey(c *umbral.Capsule, wrapped []byte) ([]byte, error) {
	cb, _ := c.MarshalBinary()
	id := string(cb) + string(wrapped)
	if k, ok := m.keys[id]; ok {
		return bytes.Clone(k), nil
	}
	k, err := m.u.UnwrapFileKey(c, wrapped)
	if err != nil {
		return nil, err
	}
	if len(m.keys) < 1024 {
		m.keys[id] = bytes.Clone(k)
	}
	return k, nil
}
