package envelope

import (
	"errors"
	"fmt"
	"io"
	"maps"
)

// Opened is a parsed header whose file key has been unwrapped and whose metadata has been
// authenticated. It knows the exact layout of the payload, so it can turn plaintext ranges into
// ciphertext ranges and read any part of the file.
type Opened struct {
	header *Header
	keys   *fileKeys
	meta   Metadata
	layout layout
}

// Unwrap recovers the file key with u, derives the file's keys and authenticates the header.
func (h *Header) Unwrap(u Unwrapper) (*Opened, error) {
	fileKey, err := u.UnwrapFileKey(h.capsule, h.wrappedKey())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongKey, err)
	}
	defer clear(fileKey)
	return h.open(fileKey)
}

func (h *Header) open(fileKey []byte) (*Opened, error) {
	keys, err := deriveKeys(fileKey, h.salt())
	if err != nil {
		return nil, err
	}
	plain, err := keys.header.Open(nil, headerNonce[:], h.sealedMeta, h.fixed[:])
	if err != nil {
		return nil, fmt.Errorf("%w: header", ErrAuthentication)
	}
	meta, padding, err := decodeMetadata(plain)
	if err != nil {
		return nil, err
	}
	return &Opened{
		header: h,
		keys:   keys,
		meta:   meta,
		layout: layout{hdrLen: h.Len(), shift: h.chunkShift(), size: meta.Size, payload: meta.Size + padding},
	}, nil
}

// Metadata returns the authenticated metadata. The Labels map is a copy.
func (o *Opened) Metadata() Metadata {
	m := o.meta
	m.Labels = maps.Clone(o.meta.Labels)
	return m
}

// Header returns the parsed header.
func (o *Opened) Header() *Header { return o.header }

// SealedLen returns the exact length of the whole sealed file, header included.
func (o *Opened) SealedLen() int64 { return o.layout.sealedLen() }

// CiphertextRange returns the byte range [start, end) of the sealed file that holds the
// plaintext range [off, off+n): the whole chunks that cover it. A caller reading from a remote
// store fetches only those bytes and serves them through NewReaderAt. The plaintext range is
// clipped to the file; an empty result has start == end.
func (o *Opened) CiphertextRange(off, n int64) (start, end int64, err error) {
	if off < 0 || n < 0 {
		return 0, 0, errors.New("envelope: negative offset or length")
	}
	l := o.layout
	last := l.size // plaintext end, exclusive; written so that off+n cannot overflow
	if n < l.size-off {
		last = off + n
	}
	if off >= last {
		return l.hdrLen, l.hdrLen, nil
	}
	first, final := off>>l.shift, (last-1)>>l.shift
	return l.chunkOffset(first), l.chunkOffset(final) + int64(l.chunkLen(final)) + tagLen, nil
}

// Open parses the header from src, unwraps the file key with u and returns a Reader of the
// plaintext. Every chunk is authenticated before its bytes are returned; truncation,
// reordering, duplication and appended data are reported as errors, the last of them only when
// the final chunk is reached, so plaintext is trustworthy only once Read has returned io.EOF.
func Open(src io.Reader, u Unwrapper) (*Reader, error) {
	h, err := ParseHeader(src)
	if err != nil {
		return nil, err
	}
	o, err := h.Unwrap(u)
	if err != nil {
		return nil, err
	}
	return o.NewReader(src), nil
}

// NewReaderAt reads the header from src, a sealed file of size bytes, unwraps the file key with
// u and returns a random-access reader of the plaintext that decrypts only the chunks a read
// needs.
func NewReaderAt(src io.ReaderAt, size int64, u Unwrapper) (*ReaderAt, error) {
	h, err := ParseHeader(io.NewSectionReader(src, 0, size))
	if err != nil {
		return nil, err
	}
	o, err := h.Unwrap(u)
	if err != nil {
		return nil, err
	}
	return o.NewReaderAt(src, size)
}

// layout is the geometry of one file's payload: all chunks hold 1<<shift plaintext bytes except
// the final one, which holds the rest (possibly zero bytes when the payload is empty).
type layout struct {
	hdrLen  int64
	shift   uint
	size    int64 // plaintext bytes
	payload int64 // plaintext plus padding
}

func (l layout) chunks() int64 {
	if l.payload == 0 {
		return 1
	}
	return (l.payload + 1<<l.shift - 1) >> l.shift
}

func (l layout) chunkLen(i int64) int {
	n := l.chunks()
	if i < n-1 {
		return 1 << l.shift
	}
	return int(l.payload - (n-1)<<l.shift)
}

// realLen returns how many bytes of chunk i are plaintext rather than padding.
func (l layout) realLen(i int64) int {
	return int(max(0, min(int64(l.chunkLen(i)), l.size-i<<l.shift)))
}

func (l layout) chunkOffset(i int64) int64 { return l.hdrLen + i*(1<<l.shift+tagLen) }

func (l layout) sealedLen() int64 { return l.hdrLen + l.payload + l.chunks()*tagLen }
