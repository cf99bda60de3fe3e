package cidsum

import "io"

// Profile constants, for the tests to compare with store/internal/dagio's.
const (
	ChunkSize = chunkSize
	MaxLinks  = maxLinks
)

// NewShape returns a Hasher with another chunk size and fan-out, so that the tests can build
// deep trees from a few bytes and compare them with boxo's importer given the same shape.
func NewShape(chunk, links int) *Hasher {
	h := &Hasher{chunk: chunk}
	h.t.links = links
	return h
}

// OnNode makes h call f with the bytes of every dag-pb node it encodes. f must not keep them.
func (h *Hasher) OnNode(f func([]byte)) { h.t.onNode = f }

// ReadAll is Sum's reading path, for a Hasher made by NewShape.
func (h *Hasher) ReadAll(r io.Reader) error { return h.readFrom(r) }
