package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/stream"
)

// openChunk opens a fetched chunk with its epoch's key and checks its entries against what
// its StreamAppend committed.
func openChunk(h *envelope.Header, blob []byte, key *envelope.SharedKey, c protocol.StreamChunk) ([]stream.Entry, error) {
	opened, err := h.Unwrap(key)
	if err != nil {
		return nil, err
	}
	if opened.Metadata().Size > stream.MaxChunkSize {
		return nil, fmt.Errorf("%w: a chunk of %d bytes", stream.ErrMalformed, opened.Metadata().Size)
	}
	plain, err := io.ReadAll(opened.NewReader(bytes.NewReader(blob[h.Len():])))
	if err != nil {
		return nil, err
	}
	es, err := stream.Decode(plain)
	if err != nil {
		return nil, err
	}
	if first, last := stream.Span(es); len(es) != int(c.Count) || first != c.First || last != c.Last {
		return nil, fmt.Errorf("%w: its entries are not what its append committed", ErrNodeAnswer)
	}
	return es, nil
}

// maxChunkBlob bounds a chunk's sealed size: its plaintext bound, its header's, and the
// AEAD tags and padding of a sealed file.
const maxChunkBlob = stream.MaxChunkSize*9/8 + maxHeaderLen

// fetchChunk fetches a chunk's blob, checking it against its committed CID; a node that
// serves other bytes is passed over. start spreads the chunks of an epoch over the nodes.
func (s *Session) fetchChunk(ctx context.Context, c protocol.StreamChunk, start int) ([]byte, error) {
	if c.Size > maxChunkBlob {
		return nil, fmt.Errorf("%w: chunk %s of %d bytes", ErrNodeAnswer, c.Record, c.Size)
	}
	want, err := cid.Decode(string(c.CID))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %s has an unreadable CID", ErrNodeAnswer, c.Record)
	}
	buf := bytes.NewBuffer(make([]byte, 0, c.Size))
	nb, ok := s.blobs.(*nodeBlobs)
	if !ok {
		err = s.blobs.Fetch(ctx, want, &capWriter{buf, int(c.Size)})
	} else {
		rec := &protocol.Record{ID: c.Record}
		for first := start; first < start+len(s.nw.Nodes); first++ {
			buf.Reset()
			var served []int
			served, err = nb.fetchRecordFrom(ctx, rec, want, first, &capWriter{buf, int(c.Size)})
			if !errors.Is(err, ErrBlobMismatch) {
				break
			}
			if len(served) == 1 {
				s.l.lie(served[0], "served bytes for chunk %s that do not have its CID", c.Record)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("fetching chunk %s: %w", c.Record, classify(err))
	}
	if buf.Len() != int(c.Size) {
		return nil, fmt.Errorf("%w: chunk %s is %d bytes, its append says %d", ErrNodeAnswer, c.Record, buf.Len(), c.Size)
	}
	return buf.Bytes(), nil
}

// capWriter takes at most max bytes.
type capWriter struct {
	buf *bytes.Buffer
	max int
}

func (w *capWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, fmt.Errorf("%w: more bytes than the chunk's committed size", ErrNodeAnswer)
	}
	return w.buf.Write(p)
}
