package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ipfs/go-cid"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Shared is a grant made to this identity and the record it opens.
type Shared struct {
	Grant  *protocol.GrantState
	Record *protocol.Record // nil if the record cannot be read (erased records carry their tombstone)
	// Err is nil while the grant is live at the ledger's latest block time,
	// otherwise why not (ErrRevoked, ErrExpired, ErrNotYetValid, ErrErased).
	Err error
}

// Shared lists every grant made to this identity, live or not, oldest
// first, with its record.
func (s *Session) Shared(ctx context.Context) ([]Shared, error) {
	gs, now, err := allAt[*protocol.GrantState](ctx, s, "/grants/recipient/"+s.me.String(), grantPageKey)
	if err != nil {
		return nil, err
	}
	out := make([]Shared, len(gs))
	recs := map[protocol.ID]*protocol.Record{}
	for i, g := range gs {
		out[i].Grant = g
		r, ok := recs[g.Record]
		if !ok {
			if r, err = s.Record(ctx, g.Record); err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			recs[g.Record] = r
		}
		out[i].Record = r
		out[i].Err = grantErr(g, r, now)
	}
	return out, nil
}

// grantErr says why a grant cannot be used at block time now (nil: it can).
func grantErr(g *protocol.GrantState, r *protocol.Record, now int64) error {
	if r != nil && r.Erased != nil {
		return fmt.Errorf("%w at height %d", ErrErased, r.Erased.Height)
	}
	return classify(g.LiveAt(now))
}

// Status is a node's signed status, the earliest of the first f+1 to answer: a block time at
// least one honest node has reached. Grants start and end by block time, which trails the
// wall clock by up to a block interval.
func (s *Session) Status(ctx context.Context) (*protocol.Status, error) {
	st, err := s.l.blockTime(ctx)
	return st, classify(err)
}

// GetOptions shape a Get.
type GetOptions struct {
	// Purpose is recorded with the access request ("" : none).
	Purpose string
}

// Get writes the plaintext of record to w and returns its metadata. The
// owner opens the record with its own key. A recipient commits an access
// request for its live grant, gathers threshold re-encryptions from the
// nodes and opens the record with them. A refusal says why: ErrNotGranted,
// ErrRevoked, ErrExpired, ErrNotYetValid, ErrErased, ErrNotFound.
//
// The sealed blob is fetched whole and verified before any plaintext is
// written; plaintext written to w is authentic once Get returns nil.
func (s *Session) Get(ctx context.Context, record protocol.ID, w io.Writer, o GetOptions, opts ...CallOption) (*envelope.Metadata, error) {
	co := collect(opts)
	rec, err := s.Record(ctx, record)
	if err != nil {
		return nil, err
	}
	u, err := s.unwrapper(ctx, rec, o.Purpose)
	if err != nil {
		return nil, err
	}
	return s.fetchOpen(ctx, rec, u, w, co)
}

// access commits a request under this identity's live grant for rec and gathers the cfrags
// that open it.
// unwrapper is what opens rec for this identity: its own key for its own record, else the
// capsule fragments of an access with purpose (a committed request under a live grant).
func (s *Session) unwrapper(ctx context.Context, rec *protocol.Record, purpose string) (envelope.Unwrapper, error) {
	if rec.Erased != nil {
		return nil, fmt.Errorf("record %s: %w at height %d", rec.ID, ErrErased, rec.Erased.Height)
	}
	if rec.Owner != s.me {
		return s.access(ctx, rec, purpose)
	}
	dk, err := s.ownKey(rec)
	if err != nil {
		return nil, err
	}
	return envelope.OwnerKey{Delegating: dk}, nil
}

func (s *Session) access(ctx context.Context, rec *protocol.Record, purpose string) (envelope.Unwrapper, error) {
	got, err := s.gather(ctx, rec, purpose)
	if err != nil {
		return nil, err
	}
	dpk, err := umbral.PublicKeyFromBytes(rec.DelegatingKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: record delegating key: %v", ErrNodeAnswer, err)
	}
	return envelope.RecipientKey{Receiving: s.id.ReceivingKey(), Delegating: dpk, CFrags: got.CFrags}, nil
}

// Gather is the recipient's side of a read without the blob: it commits an access request
// under this identity's live grant for the record and gathers threshold verified capsule
// fragments, which open the record's capsule with the identity's receiving key
// (umbral.DecryptReencrypted). Get does this and then fetches and opens the blob.
func (s *Session) Gather(ctx context.Context, record protocol.ID, o GetOptions) (*Gathered, error) {
	rec, err := s.Record(ctx, record)
	if err != nil {
		return nil, err
	}
	if rec.Erased != nil {
		return nil, fmt.Errorf("record %s: %w at height %d", record, ErrErased, rec.Erased.Height)
	}
	return s.gather(ctx, rec, o.Purpose)
}

func (s *Session) gather(ctx context.Context, rec *protocol.Record, purpose string) (*Gathered, error) {
	g, err := s.liveGrant(ctx, rec)
	if err != nil {
		return nil, err
	}
	done, err := s.transact(ctx, func(uint64) (protocol.Body, error) {
		return &protocol.RequestAccess{Grant: g.ID, Purpose: purpose}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("access request: %w", err)
	}
	// A node serves only a request it has committed: it finds it by its hash, and waits a
	// little for the block if it is behind.
	got, err := s.api.Gather(ctx, &Access{ChainID: s.nw.ChainID, Grant: g, Record: rec, RequestTx: done.hash, Height: done.height},
		s.id.Signer(), s.nw.Nodes)
	if err != nil {
		return nil, classify(err)
	}
	return got, nil
}

// liveGrant finds this identity's live grant for rec, or says why there is
// none: the newest grant's reason, or ErrNotGranted.
func (s *Session) liveGrant(ctx context.Context, rec *protocol.Record) (*protocol.GrantState, error) {
	// The block time the list's quorum answered at says which grants are live (the ledger
	// checks the request against its own).
	gs, now, err := allAt[*protocol.GrantState](ctx, s, "/grants/recipient/"+s.me.String(), grantPageKey)
	if err != nil {
		return nil, err
	}
	var why error
	for i := len(gs) - 1; i >= 0; i-- {
		g := gs[i]
		if g.Record != rec.ID || g.RecipientEnc != protocol.PubKeyOf(s.id.Public().Receiving) {
			continue
		}
		err := grantErr(g, rec, now)
		if err == nil {
			return g, nil
		}
		if why == nil {
			why = fmt.Errorf("grant %s: %w", g.ID, err)
		}
	}
	if why == nil {
		why = fmt.Errorf("record %s: %w", rec.ID, ErrNotGranted)
	}
	return nil, why
}

// fetchOpen fetches the sealed blob into a temporary file, checks its
// size, then opens it with u and streams the plaintext to w.
func (s *Session) fetchOpen(ctx context.Context, rec *protocol.Record, u envelope.Unwrapper, w io.Writer, co *callOpts) (*envelope.Metadata, error) {
	c, err := recordCID(rec)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.tmp, "rrec-get-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if nb, ok := s.blobs.(*nodeBlobs); ok {
		err = s.fetchVerified(ctx, nb, rec, c, f, co)
	} else {
		err = s.blobs.Fetch(ctx, c, &countingWriter{f, &counter{phase: "fetch", total: int64(rec.Size), fn: co.progress}})
	}
	if err != nil {
		return nil, fmt.Errorf("fetching record %s: %w", rec.ID, classify(err))
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	if size != int64(rec.Size) {
		return nil, fmt.Errorf("%w: blob is %d bytes, the record says %d", ErrNodeAnswer, size, rec.Size)
	}
	h, err := envelope.ParseHeader(io.NewSectionReader(f, 0, size))
	if err != nil {
		return nil, err
	}
	hc, err := h.Capsule().MarshalBinary()
	if err != nil || string(hc) != string(rec.Capsule[:]) {
		return nil, fmt.Errorf("%w: the blob's capsule is not the record's", ErrNodeAnswer)
	}
	opened, err := h.Unwrap(u)
	if err != nil {
		return nil, err
	}
	meta := opened.Metadata()
	r := opened.NewReader(io.NewSectionReader(f, h.Len(), size-h.Len()))
	if _, err := io.Copy(&countingWriter{w, &counter{phase: "open", total: meta.Size, fn: co.progress}}, r); err != nil {
		return nil, err
	}
	return &meta, nil
}

// fetchVerified fetches a record's blob into f from the nodes, holders first. Bytes whose CID
// is not the record's are thrown away and fetched again starting at the next node, so f
// lying holders cannot keep a read failing; a node that alone served wrong bytes lied.
func (s *Session) fetchVerified(ctx context.Context, nb *nodeBlobs, rec *protocol.Record, c cid.Cid, f *os.File, co *callOpts) error {
	var err error
	for first := 0; first < len(s.nw.Nodes); first++ {
		if _, err = f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err = f.Truncate(0); err != nil {
			return err
		}
		var served []int
		served, err = nb.fetchRecordFrom(ctx, rec, c, first, &countingWriter{f, &counter{phase: "fetch", total: int64(rec.Size), fn: co.progress}})
		if !errors.Is(err, ErrBlobMismatch) {
			return err
		}
		if len(served) == 1 {
			s.l.lie(served[0], "served bytes for record %s that do not have its CID", rec.ID)
		}
	}
	return err
}
