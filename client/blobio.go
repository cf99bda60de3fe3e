package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// nodeBlobs moves blobs through the nodes' blob API (blobs.go): an upload goes to f+1 nodes,
// so that one honest node holds the blob before its record is committed; a fetch reads
// from the nodes that reported holding the blob first and falls back to the others.
type nodeBlobs struct{ s *Session }

func newNodeBlobs(s *Session) BlobStore { return &nodeBlobs{s} }

// Upload implements BlobStore: it succeeds once f+1 nodes stored the blob under the CID
// computed here, trying the next node for every one that fails.
func (b *nodeBlobs) Upload(ctx context.Context, r io.ReaderAt, size int64) (cid.Cid, error) {
	want, err := blobCID(r, size)
	if err != nil {
		return cid.Undef, err
	}
	need := b.s.nw.F() + 1
	order := b.s.l.order()
	type result struct {
		node int
		err  error
	}
	results := make(chan result, len(order))
	next, inFlight, stored := 0, 0, 0
	launch := func() {
		i := order[next]
		next++
		inFlight++
		go func() {
			results <- result{i, b.uploadTo(ctx, i, r, size, want)}
		}()
	}
	for next < len(order) && inFlight < need {
		launch()
	}
	var errs []error
	for inFlight > 0 {
		res := <-results
		inFlight--
		switch {
		case res.err == nil:
			stored++
		case errors.Is(res.err, ErrBlobMismatch):
			b.s.l.lie(res.node, "stored the upload under another CID than its bytes have")
			errs = append(errs, fmt.Errorf("%s: %w", b.s.nw.Nodes[res.node].Name, res.err))
		default:
			errs = append(errs, fmt.Errorf("%s: %w", b.s.nw.Nodes[res.node].Name, res.err))
		}
		if stored+inFlight < need && next < len(order) && ctx.Err() == nil {
			launch()
		}
	}
	if stored < need {
		return cid.Undef, fmt.Errorf("%w: %d of the %d nodes needed took the upload: %w", ErrUnavailable, stored, need, errors.Join(errs...))
	}
	return want, nil
}

// uploadTo uploads to node i, coming back when a refusal says when (a self-enrolled
// account's byte pace is a matter of seconds), within maxUploadWait in all.
func (b *nodeBlobs) uploadTo(ctx context.Context, i int, r io.ReaderAt, size int64, want cid.Cid) error {
	var waited time.Duration
	for {
		_, err := b.s.blobAPI.uploadAs(ctx, b.s.nw.Nodes[i], b.s.nw.ChainID, b.s.id.Signer(), r, size, want)
		var w *waitError
		if !errors.As(err, &w) || waited+w.wait > maxUploadWait {
			return err
		}
		b.s.log.Debug("upload refused for now; waiting", "node", b.s.nw.Nodes[i].Name, "wait", w.wait, "err", w.err)
		if sleep(ctx, w.wait) != nil {
			return err
		}
		waited += w.wait
	}
}

// Fetch implements BlobStore, asking every node in registry order.
func (b *nodeBlobs) Fetch(ctx context.Context, c cid.Cid, w io.Writer) error {
	return b.s.blobAPI.FetchBlob(ctx, b.s.nw.Nodes, c, w)
}

// fetchRecordFrom fetches a record's blob starting with the node at position first of the
// holders-first order (a node that served wrong bytes is skipped on the next try), and
// says which nodes (registry positions) served it.
func (b *nodeBlobs) fetchRecordFrom(ctx context.Context, rec *protocol.Record, c cid.Cid, first int, w io.Writer) ([]int, error) {
	order := holdersFirstOrder(rec, len(b.s.nw.Nodes))
	order = append(order[first%len(order):], order[:first%len(order)]...)
	nodes := make([]protocol.Node, len(order))
	for i, j := range order {
		nodes[i] = b.s.nw.Nodes[j]
	}
	served, err := b.s.blobAPI.fetchBlob(ctx, nodes, c, w)
	for i := range served {
		served[i] = order[served[i]]
	}
	return served, err
}

// recordCID decodes a record's CID: the ledger holds its text form.
func recordCID(r *protocol.Record) (cid.Cid, error) {
	c, err := cid.Decode(string(r.CID))
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: record %s has an unreadable CID", ErrNodeAnswer, r.ID)
	}
	return c, nil
}
