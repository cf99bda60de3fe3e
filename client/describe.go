package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// A sealed file's header is 207 fixed bytes and a sealed metadata block of at most 65552
// (envelope/SPEC.md §2, §7). The first read takes firstHeaderRead bytes, which hold the
// header of nearly every record; a longer one is read again whole.
const (
	maxHeaderLen    = 207 + 65552
	firstHeaderRead = 8 << 10
)

// Described is a record this identity can open and the metadata sealed in it.
type Described struct {
	Record *protocol.Record
	// Grant is the live grant a recipient opened the record under; nil for the identity's
	// own record.
	Grant *protocol.GrantState
	Meta  *envelope.Metadata
}

// Describe returns the metadata sealed in a record — name, media type, size, creation
// time, labels — reading only the sealed file's header, a byte range of its blob. The
// owner opens it with its own key. A recipient makes an ordinary audited access, as Get
// does (a committed access request with o.Purpose under its live grant, threshold
// re-encryptions), and fetches the header alone.
func (s *Session) Describe(ctx context.Context, record protocol.ID, o GetOptions) (*envelope.Metadata, error) {
	rec, err := s.Record(ctx, record)
	if err != nil {
		return nil, err
	}
	return s.DescribeRecord(ctx, rec, o)
}

// DescribeRecord is Describe for a record the caller has already read from the ledger
// (Records, Shared): it skips reading it again.
func (s *Session) DescribeRecord(ctx context.Context, rec *protocol.Record, o GetOptions) (*envelope.Metadata, error) {
	u, err := s.unwrapper(ctx, rec, o.Purpose)
	if err != nil {
		return nil, err
	}
	return s.openHeader(ctx, rec, u)
}

// openHeader fetches rec's header, holders first, and opens its metadata with u. A header
// is authentic when it opens: its capsule must be the record's, and only the holder of
// that capsule's key could have sealed the metadata under it. So a node whose bytes do not
// open is passed over for the next, as a node whose blob has the wrong CID is.
func (s *Session) openHeader(ctx context.Context, rec *protocol.Record, u envelope.Unwrapper) (*envelope.Metadata, error) {
	c, err := recordCID(rec)
	if err != nil {
		return nil, err
	}
	nb, ok := s.blobs.(*nodeBlobs)
	if !ok {
		// Another store: read the blob from its start, as far as the header goes.
		hw := &headerWriter{max: min(int64(rec.Size), maxHeaderLen)}
		// A store passes on the writer's refusal to take more, wrapped or not.
		if err := s.blobs.Fetch(ctx, c, hw); err != nil && int64(hw.buf.Len()) < hw.max {
			return nil, fmt.Errorf("fetching record %s: %w", rec.ID, classify(err))
		}
		return openMeta(rec, hw.buf.Bytes(), u)
	}
	var errs []error
	for _, n := range HoldersFirst(rec, nb.s.nw.Nodes) {
		meta, err := s.headerFrom(ctx, n, rec, c, u)
		if err == nil {
			return meta, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		if errors.Is(err, ErrBlobErased) || ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("reading the header of record %s: %w", rec.ID, classify(errors.Join(errs...)))
}

// headerFrom reads rec's header from node n and opens it.
func (s *Session) headerFrom(ctx context.Context, n protocol.Node, rec *protocol.Record, want cid.Cid, u envelope.Unwrapper) (*envelope.Metadata, error) {
	size := int64(rec.Size)
	b, err := s.blobAPI.FetchBlobRange(ctx, []protocol.Node{n}, want, 0, min(size, firstHeaderRead))
	if err != nil {
		return nil, err
	}
	meta, err := openMeta(rec, b, u)
	if errors.Is(err, envelope.ErrTruncated) && size > firstHeaderRead {
		if b, err = s.blobAPI.FetchBlobRange(ctx, []protocol.Node{n}, want, 0, min(size, maxHeaderLen)); err != nil {
			return nil, err
		}
		meta, err = openMeta(rec, b, u)
	}
	return meta, err
}

// openMeta parses a header from the start of rec's blob, checks its capsule is the
// record's, and opens its metadata.
func openMeta(rec *protocol.Record, b []byte, u envelope.Unwrapper) (*envelope.Metadata, error) {
	h, err := envelope.ParseHeader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	hc, err := h.Capsule().MarshalBinary()
	if err != nil || !bytes.Equal(hc, rec.Capsule[:]) {
		return nil, fmt.Errorf("%w: the blob's capsule is not the record's", ErrNodeAnswer)
	}
	opened, err := h.Unwrap(u)
	if err != nil {
		return nil, err
	}
	meta := opened.Metadata()
	return &meta, nil
}

// headerWriter keeps the first max bytes written to it, then stops the fetch.
type headerWriter struct {
	buf bytes.Buffer
	max int64
}

var errHeaderRead = errors.New("client: header read")

func (w *headerWriter) Write(p []byte) (int, error) {
	room := w.max - int64(w.buf.Len())
	if int64(len(p)) < room {
		return w.buf.Write(p)
	}
	w.buf.Write(p[:room])
	return int(room), errHeaderRead
}

// Find lists the identity's own records whose sealed metadata match, oldest first. It
// opens every record's header with the identity's key (owners' reads are not audited);
// erased records are left out.
func (s *Session) Find(ctx context.Context, match func(*envelope.Metadata) bool) ([]Described, error) {
	recs, err := s.Records(ctx)
	if err != nil {
		return nil, err
	}
	var out []Described
	for _, r := range recs {
		if r.Erased != nil {
			continue
		}
		dk, err := s.ownKey(r)
		if err != nil {
			return nil, err
		}
		meta, err := s.openHeader(ctx, r, envelope.OwnerKey{Delegating: dk})
		if err != nil {
			return nil, err
		}
		if match(meta) {
			out = append(out, Described{Record: r, Meta: meta})
		}
	}
	return out, nil
}

// FindShared lists the records shared with this identity whose sealed metadata match, in
// the order they were first shared. Only a record with a live grant can be opened: opening
// each one is an ordinary audited access with o.Purpose, so the owner sees one access
// request per record in its log, whether it matched or not. Records whose grants all
// ended, or are not valid yet, are left out.
func (s *Session) FindShared(ctx context.Context, o GetOptions, match func(*envelope.Metadata) bool) ([]Described, error) {
	shared, err := s.Shared(ctx)
	if err != nil {
		return nil, err
	}
	live := map[protocol.ID]Shared{}
	var order []protocol.ID
	for _, sh := range shared {
		if sh.Err != nil || sh.Record == nil {
			continue
		}
		if _, seen := live[sh.Record.ID]; !seen {
			order = append(order, sh.Record.ID)
		}
		live[sh.Record.ID] = sh // the newest live grant, as Get picks it
	}
	var out []Described
	for _, id := range order {
		sh := live[id]
		u, err := s.access(ctx, sh.Record, o.Purpose)
		if err != nil {
			return nil, err
		}
		meta, err := s.openHeader(ctx, sh.Record, u)
		if err != nil {
			return nil, err
		}
		if match(meta) {
			out = append(out, Described{Record: sh.Record, Grant: sh.Grant, Meta: meta})
		}
	}
	return out, nil
}
