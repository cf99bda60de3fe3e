package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/stream"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// SharedStream is a stream grant made to this identity and the stream it opens.
type SharedStream struct {
	Grant  *protocol.StreamGrantState
	Stream *protocol.StreamState
	// Err is nil while the grant is live at the ledger's latest block time, otherwise why
	// not (ErrRevoked, ErrExpired, ErrNotYetValid, ErrErased).
	Err error
}

// SharedStreams lists every stream grant made to this identity, live or not, oldest first,
// with its stream.
func (s *Session) SharedStreams(ctx context.Context) ([]SharedStream, error) {
	gs, now, err := allAt[*protocol.StreamGrantState](ctx, s, "/stream-grants/recipient/"+s.me.String(), streamGrantPageKey)
	if err != nil {
		return nil, err
	}
	out := make([]SharedStream, len(gs))
	streams := map[protocol.ID]*protocol.StreamState{}
	for i, g := range gs {
		if g.Grant == nil {
			return nil, fmt.Errorf("%w: a stream grant without its grant", ErrNodeAnswer)
		}
		st, ok := streams[g.Grant.Record]
		if !ok {
			if st, err = s.streamState(ctx, g.Grant.Record); err != nil {
				return nil, err
			}
			streams[st.ID] = st
		}
		out[i] = SharedStream{Grant: g, Stream: st, Err: streamGrantErr(g, st, now)}
	}
	return out, nil
}

// streamGrantErr says why a stream grant cannot be used at block time now (nil: it can).
func streamGrantErr(g *protocol.StreamGrantState, st *protocol.StreamState, now int64) error {
	if st.ErasedHeight != 0 {
		return fmt.Errorf("stream %s: %w at height %d", st.ID, ErrErased, st.ErasedHeight)
	}
	return classify(g.Grant.LiveAt(now))
}

// StreamGrant returns a committed stream grant and its window, as f+1 nodes say.
func (s *Session) StreamGrant(ctx context.Context, id protocol.ID) (*protocol.StreamGrantState, error) {
	g, _, err := s.streamGrantAt(ctx, id)
	return g, err
}

func (s *Session) streamGrantAt(ctx context.Context, id protocol.ID) (*protocol.StreamGrantState, int64, error) {
	var g protocol.StreamGrantState
	at, err := s.l.query(ctx, "/stream-grant/"+id.String(), streamGrantKey, &g)
	if err != nil {
		return nil, 0, fmt.Errorf("stream grant %s: %w", id, err)
	}
	if g.Grant == nil || g.Grant.ID != id {
		return nil, 0, fmt.Errorf("%w: answer names another grant", ErrNodeAnswer)
	}
	return &g, at.time, nil
}

// StreamEntries is what ReadStream read.
type StreamEntries struct {
	Entries []stream.Entry // in time order, all inside the window asked
	Epochs  int            // epochs opened
	Chunks  int            // chunks fetched and opened
	// Skipped are the epochs with entries in the window asked that no grant read under
	// wholly covers, or that are of a key generation none of them is of: the nodes
	// re-encrypt no epoch only partly inside a grant's window, nor one of another generation.
	Skipped []int64
	// Grant is the grant read under, the newest generation's when several; nil for the owner.
	Grant *protocol.StreamGrantState
	// Grants are the grants read under, one line of grants re-issued at each rekey: each
	// epoch is read under the grant of its generation.
	Grants []*protocol.StreamGrantState
}

// ReadOptions shape a ReadStream.
type ReadOptions struct {
	// Purpose is recorded with the access request ("": none).
	Purpose string
	// Parallel bounds the epochs read at once (0: 8).
	Parallel int
}

// ReadStream returns a stream's entries whose times lie in [from, until) (until zero: no
// end). id names the stream — the owner's read opens it with its own keys; a recipient's
// uses its live grants of the stream — or names a stream grant of this identity's, read
// with its re-issues of other key generations. Each epoch is read under the newest such
// grant of the epoch's generation that wholly covers it. A recipient commits one access
// request per grant used and day of epochs, and gathers one re-encryption per epoch,
// epochs in parallel; every chunk is checked against its committed CID before it is
// opened, and entries outside the window are dropped.
func (s *Session) ReadStream(ctx context.Context, id protocol.ID, from, until time.Time, o ReadOptions) (*StreamEntries, error) {
	st, grants, err := s.streamToRead(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.ErasedHeight != 0 {
		return nil, fmt.Errorf("stream %s: %w at height %d", st.ID, ErrErased, st.ErasedHeight)
	}
	lo, hi := int64(0), int64(math.MaxInt64)
	if !from.IsZero() {
		lo = max(from.UnixNano(), 0)
	}
	if !until.IsZero() {
		hi = until.UnixNano()
	}
	chunks, err := all[protocol.StreamChunk](ctx, s, "/stream-chunks/"+st.ID.String(), nil)
	if err != nil {
		return nil, err
	}
	out := &StreamEntries{}
	if len(grants) > 0 {
		out.Grant = grants[0]
	}
	var epochs [][]protocol.StreamChunk // the chunks of each readable epoch, in order
	var under []*protocol.StreamGrantState
	for _, c := range chunks {
		if c.Last < lo || c.First >= hi {
			continue
		}
		var g *protocol.StreamGrantState
		if n := len(epochs); n > 0 && epochs[n-1][0].Epoch == c.Epoch {
			epochs[n-1] = append(epochs[n-1], c)
			continue
		}
		if st.Owner != s.me {
			if g = grantFor(st, grants, c.Epoch); g == nil {
				if n := len(out.Skipped); n == 0 || out.Skipped[n-1] != c.Epoch {
					out.Skipped = append(out.Skipped, c.Epoch)
				}
				continue
			}
		}
		epochs = append(epochs, []protocol.StreamChunk{c})
		under = append(under, g)
	}
	r := &streamReader{s: s, st: st, lo: lo, hi: hi, parallel: o.Parallel}
	if r.parallel <= 0 {
		r.parallel = 8
	}
	got := make([][]stream.Entry, len(epochs))
	// One request buys each node a day of epochs' answers (twice over, proxy/SPEC.md §4).
	perRequest := max(1, protocol.MaxStreamEpoch/int(st.Epoch))
	for _, g := range usedGrants(under) {
		var idx []int
		for i, u := range under {
			if u == g {
				idx = append(idx, i)
			}
		}
		for i := 0; i < len(idx); i += perRequest {
			if err := r.readBatch(ctx, g, epochs, idx[i:min(i+perRequest, len(idx))], got, o.Purpose); err != nil {
				return nil, err
			}
		}
		if g != nil {
			out.Grants, out.Grant = append(out.Grants, g), g
		}
	}
	for i, es := range got {
		out.Entries = append(out.Entries, es...)
		out.Chunks += len(epochs[i])
	}
	out.Epochs = len(epochs)
	return out, nil
}

// streamReader reads the epochs of one stream for one reader.
type streamReader struct {
	s        *Session
	st       *protocol.StreamState
	lo, hi   int64
	parallel int
}

// readBatch reads the epochs idx of epochs, in parallel, into got (one slice per epoch):
// the owner with its generation keys, a recipient under grant g and one committed access
// request.
func (r *streamReader) readBatch(ctx context.Context, sg *protocol.StreamGrantState, epochs [][]protocol.StreamChunk, idx []int,
	got [][]stream.Entry, purpose string) error {
	var open opener
	if sg == nil {
		var mu sync.Mutex
		keys := map[uint32]*umbral.SecretKey{}
		open = func(_ context.Context, i int, _ protocol.CapsuleBytes) (envelope.Unwrapper, error) {
			gen := epochGeneration(r.st, epochs[i][0].Epoch)
			mu.Lock()
			defer mu.Unlock()
			dk, ok := keys[gen.Generation]
			if !ok {
				var err error
				if dk, err = r.s.generationKey(r.st, gen); err != nil {
					return nil, err
				}
				keys[gen.Generation] = dk
			}
			return envelope.OwnerKey{Delegating: dk}, nil
		}
	} else {
		g := sg.Grant
		gens := generations(r.st)
		if int(sg.Generation) >= len(gens) {
			return fmt.Errorf("%w: grant %s of generation %d, the stream has %d", ErrNodeAnswer, g.ID, sg.Generation, len(gens))
		}
		key := gens[sg.Generation].DelegatingKey
		dpk, err := umbral.PublicKeyFromBytes(key[:])
		if err != nil {
			return fmt.Errorf("%w: stream delegating key: %v", ErrNodeAnswer, err)
		}
		done, err := r.s.transact(ctx, func(uint64) (protocol.Body, error) {
			return &protocol.RequestAccess{Grant: g.ID, Purpose: purpose}, nil
		})
		if err != nil {
			return fmt.Errorf("access request: %w", err)
		}
		open = func(ctx context.Context, i int, capsule protocol.CapsuleBytes) (envelope.Unwrapper, error) {
			// The epoch's capsule under its generation's key, checked as a record's would be.
			rec := &protocol.Record{ID: r.st.ID, Owner: r.st.Owner, DelegatingKey: key, Capsule: capsule}
			cfrags, err := r.gather(ctx, rotated(g, i), rec, done)
			if err != nil {
				return nil, err
			}
			return envelope.RecipientKey{Receiving: r.s.id.ReceivingKey(), Delegating: dpk, CFrags: cfrags}, nil
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, r.parallel)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, i := range idx {
		sem <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			es, err := r.readEpoch(ctx, i, epochs[i], open)
			if err != nil {
				once.Do(func() { first = fmt.Errorf("epoch %d: %w", epochs[i][0].Epoch, err); cancel() })
				return
			}
			got[i] = es
		}()
	}
	wg.Wait()
	return first
}

// opener is what opens the capsule of the i-th epoch of a read.
type opener func(ctx context.Context, i int, capsule protocol.CapsuleBytes) (envelope.Unwrapper, error)

// gather gathers the cfrags of one epoch's capsule under the committed request done. A
// node limits re-encryptions per recipient (proxy/SPEC.md §6: 50 a second after a burst of
// 100), which a day's read can pass: an epoch whose nodes refused for pace is gathered
// again after a wait, within about 8 s.
func (r *streamReader) gather(ctx context.Context, g *protocol.GrantState, rec *protocol.Record, done *txDone) ([]*umbral.VerifiedCapsuleFrag, error) {
	for attempt := 0; ; attempt++ {
		got, err := r.s.api.Gather(ctx, &Access{ChainID: r.s.nw.ChainID, Grant: g, Record: rec, RequestTx: done.hash, Height: done.height},
			r.s.id.Signer(), r.s.nw.Nodes)
		if err == nil {
			return got.CFrags, nil
		}
		var ge *GatherError
		if !errors.As(err, &ge) || !paced(ge) || attempt == 7 {
			return nil, classify(err)
		}
		if err := sleep(ctx, time.Duration(250<<min(attempt, 2))*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// paced says whether a node refused a gathering for its pace.
func paced(ge *GatherError) bool {
	for _, n := range ge.Nodes {
		if n.Outcome == Refused && errors.Is(n.Err, protocol.ErrRateLimited) {
			return true
		}
	}
	return false
}

// rotated is g with its nodes asked from the i-th on: the epochs of a read spread their
// re-encryptions over all the grant's nodes instead of asking the first t every time.
// Nothing in a request or a cfrag depends on the order.
func rotated(g *protocol.GrantState, i int) *protocol.GrantState {
	c := *g
	k := i % len(g.Nodes)
	c.Nodes = append(append([]protocol.GrantNode(nil), g.Nodes[k:]...), g.Nodes[:k]...)
	return &c
}

// readEpoch fetches an epoch's chunks, opens the first one's capsule with open, and opens
// every chunk with the key it recovers.
func (r *streamReader) readEpoch(ctx context.Context, i int, chunks []protocol.StreamChunk, open opener) ([]stream.Entry, error) {
	var key *envelope.SharedKey
	defer func() {
		if key != nil {
			key.Wipe()
		}
	}()
	var out []stream.Entry
	for j, c := range chunks {
		blob, err := r.s.fetchChunk(ctx, c, i+j)
		if err != nil {
			return nil, err
		}
		h, err := envelope.ParseHeader(bytes.NewReader(blob))
		if err != nil {
			return nil, fmt.Errorf("chunk %s: %w", c.Record, err)
		}
		if key == nil {
			var capsule protocol.CapsuleBytes
			cb, err := h.Capsule().MarshalBinary()
			if err != nil || len(cb) != len(capsule) {
				return nil, fmt.Errorf("chunk %s: %w: unreadable capsule", c.Record, ErrNodeAnswer)
			}
			copy(capsule[:], cb)
			u, err := open(ctx, i, capsule)
			if err != nil {
				return nil, err
			}
			if key, err = h.SharedKey(u); err != nil {
				return nil, fmt.Errorf("chunk %s: %w", c.Record, err)
			}
		}
		es, err := openChunk(h, blob, key, c)
		if err != nil {
			return nil, fmt.Errorf("chunk %s: %w", c.Record, err)
		}
		for _, e := range es {
			if e.Time >= r.lo && e.Time < r.hi {
				out = append(out, e)
			}
		}
	}
	return out, nil
}
