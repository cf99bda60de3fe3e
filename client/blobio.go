package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/ledger"
)

// ErrNoBlobService: the nodes' blob API is not available to this SDK build;
// give Options.Blobs.
var ErrNoBlobService = errors.New("client: no blob service: set Options.Blobs")

// nodeBlobs moves blobs through the nodes' blob API (issue 6). It is the
// one place that switches over to client/blobs.go once that lands.
type nodeBlobs struct{ s *Session }

func newNodeBlobs(s *Session) BlobStore { return &nodeBlobs{s} }

func (b *nodeBlobs) Upload(context.Context, io.ReaderAt, int64) (cid.Cid, error) {
	return cid.Undef, ErrNoBlobService
}

func (b *nodeBlobs) Fetch(context.Context, cid.Cid, io.Writer) error { return ErrNoBlobService }

// recordCID decodes a record's CID: the ledger holds its text form.
func recordCID(r *ledger.Record) (cid.Cid, error) {
	c, err := cid.Decode(string(r.CID))
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: record %s has an unreadable CID", ErrNodeAnswer, r.ID)
	}
	return c, nil
}
