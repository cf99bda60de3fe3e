package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// nodeBlobs moves blobs through the nodes' blob API (blobs.go): an upload
// goes to the first node that takes it, a fetch reads from the nodes that
// reported holding the blob first and falls back to the others.
type nodeBlobs struct{ s *Session }

func newNodeBlobs(s *Session) BlobStore { return &nodeBlobs{s} }

// Upload implements BlobStore.
func (b *nodeBlobs) Upload(ctx context.Context, r io.ReaderAt, size int64) (cid.Cid, error) {
	var errs []error
	for _, n := range b.s.nw.Nodes {
		c, err := b.s.blobAPI.UploadBlob(ctx, n, b.s.nw.ChainID, b.s.id.Signer(), r, size)
		if err == nil {
			return c, nil
		}
		if errors.Is(err, ErrBlobMismatch) {
			return cid.Undef, fmt.Errorf("%w: %w", ErrCIDMismatch, err)
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return cid.Undef, fmt.Errorf("%w: no node took the upload: %w", ErrUnavailable, errors.Join(errs...))
}

// Fetch implements BlobStore, asking every node in registry order.
func (b *nodeBlobs) Fetch(ctx context.Context, c cid.Cid, w io.Writer) error {
	return b.s.blobAPI.FetchBlob(ctx, b.s.nw.Nodes, c, w)
}

// fetchRecord fetches a record's blob, holders first.
func (b *nodeBlobs) fetchRecord(ctx context.Context, rec *protocol.Record, c cid.Cid, w io.Writer) error {
	return b.s.blobAPI.FetchBlob(ctx, HoldersFirst(rec, b.s.nw.Nodes), c, w)
}

// recordCID decodes a record's CID: the ledger holds its text form.
func recordCID(r *protocol.Record) (cid.Cid, error) {
	c, err := cid.Decode(string(r.CID))
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: record %s has an unreadable CID", ErrNodeAnswer, r.ID)
	}
	return c, nil
}
