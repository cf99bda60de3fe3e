package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/ledger"
)

// nodeBlobs moves blobs through the nodes' blob API (blobs.go): an upload
// goes to the first node that takes it, a fetch reads from the nodes that
// reported holding the blob first and falls back to the others.
type nodeBlobs struct{ s *Session }

func newNodeBlobs(s *Session) BlobStore { return &nodeBlobs{s} }

// Upload implements BlobStore.
func (b *nodeBlobs) Upload(ctx context.Context, r io.ReaderAt, size int64) (cid.Cid, error) {
	nodes, err := b.s.proxies(ctx)
	if err != nil {
		return cid.Undef, err
	}
	var errs []error
	for _, n := range nodes {
		c, err := b.s.bx.UploadBlob(ctx, n, b.s.nw.ChainID, b.s.id.Signer(), r, size)
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
	nodes, err := b.s.proxies(ctx)
	if err != nil {
		return err
	}
	return b.s.bx.FetchBlob(ctx, nodes, c, w)
}

// fetchRecord fetches a record's blob, holders first.
func (b *nodeBlobs) fetchRecord(ctx context.Context, rec *ledger.Record, c cid.Cid, w io.Writer) error {
	var reg []ledger.NodeInfo
	if _, err := b.s.l.query(ctx, "/nodes", &reg); err != nil {
		return err
	}
	nodes := HoldersFirst(rec, reg)
	b.s.localURLs(nodes)
	return b.s.bx.FetchBlob(ctx, nodes, c, w)
}

// recordCID decodes a record's CID: the ledger holds its text form.
func recordCID(r *ledger.Record) (cid.Cid, error) {
	c, err := cid.Decode(string(r.CID))
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: record %s has an unreadable CID", ErrNodeAnswer, r.ID)
	}
	return c, nil
}
