package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/cidsum"
	"github.com/resilientrecords/resilientrecords/stream"
)

// Streams (SPEC.md §11; protocol/SPEC.md §20): an owner's append-only log of time-stamped
// entries, appended in chunks of one epoch each and shared by windows of entry time.

// ChunkMediaType is the media type sealed in every chunk's metadata.
const ChunkMediaType = "application/x-rrec-stream-chunk"

// Stream is a committed stream as its owner appends to it. It remembers the key of the
// epoch it last appended to, so the chunks that follow in that epoch re-use its capsule.
// A Stream is safe for concurrent use; its appends run one after another.
type Stream struct {
	mu    sync.Mutex
	state protocol.StreamState
	key   *envelope.SharedKey // the file key of epoch keyEp, nil until known
	keyEp int64
	// firstLabels are sealed in the metadata of the stream's first chunk: a rotation's
	// mark of the stream it replaces (rotatestream.go).
	firstLabels map[string]string
}

// State is the stream as this session last saw it committed.
func (st *Stream) State() protocol.StreamState {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.state
}

// ID is the stream's id.
func (st *Stream) ID() protocol.ID { return st.State().ID }

// Epoch is the stream's epoch length.
func (st *Stream) Epoch() time.Duration { return time.Duration(st.State().Epoch) * time.Second }

// CreateStream commits a new stream of this identity named name, whose entries are grouped
// in epochs of the given length (0: protocol.DefaultStreamEpoch; whole seconds, 1 min to a
// day, dividing a day). The ledger sees only a keyed hash of the name (identity.StreamLabel);
// a name this identity already gave a live stream is refused.
func (s *Session) CreateStream(ctx context.Context, name string, epoch time.Duration) (*Stream, error) {
	if epoch == 0 {
		epoch = protocol.DefaultStreamEpoch * time.Second
	}
	secs := uint32(epoch / time.Second)
	if epoch%time.Second != 0 || epoch/time.Second > protocol.MaxStreamEpoch || !protocol.ValidStreamEpoch(secs) {
		return nil, fmt.Errorf("client: an epoch of %s: it must be whole seconds from 1m to 24h, dividing a day", epoch)
	}
	label, err := s.id.StreamLabel(name)
	if err != nil {
		return nil, err
	}
	if old, err := s.StreamNamed(ctx, name); err == nil {
		return nil, fmt.Errorf("client: a stream named %q exists already (%s)", name, old.ID())
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var id protocol.ID
	_, err = s.transact(ctx, func(seq uint64) (protocol.Body, error) {
		id = protocol.StreamID(s.nw.ChainID, s.me, seq)
		k, err := s.id.StreamKey(id[:])
		if err != nil {
			return nil, err
		}
		return &protocol.StreamCreate{Epoch: secs, Label: label, DelegatingKey: protocol.PubKeyOf(k.PublicKey())}, nil
	})
	if err != nil {
		return nil, err
	}
	return s.StreamByID(ctx, id)
}

// StreamByID returns a committed stream, as f+1 nodes say.
func (s *Session) StreamByID(ctx context.Context, id protocol.ID) (*Stream, error) {
	st, err := s.streamState(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Stream{state: *st}, nil
}

func (s *Session) streamState(ctx context.Context, id protocol.ID) (*protocol.StreamState, error) {
	var st protocol.StreamState
	if _, err := s.l.query(ctx, "/stream/"+id.String(), nil, &st); err != nil {
		return nil, fmt.Errorf("stream %s: %w", id, err)
	}
	if st.ID != id {
		return nil, fmt.Errorf("%w: answer names another stream", ErrNodeAnswer)
	}
	return &st, nil
}

// StreamNamed returns this identity's live stream named name, the newest if several:
// ErrNotFound when there is none.
func (s *Session) StreamNamed(ctx context.Context, name string) (*Stream, error) {
	label, err := s.id.StreamLabel(name)
	if err != nil {
		return nil, err
	}
	all, err := s.Streams(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Label == label && all[i].ErasedHeight == 0 {
			return &Stream{state: *all[i]}, nil
		}
	}
	return nil, fmt.Errorf("stream %q: %w", name, ErrNotFound)
}

// Streams lists this identity's streams, oldest first, erased ones included.
func (s *Session) Streams(ctx context.Context) ([]*protocol.StreamState, error) {
	return all[*protocol.StreamState](ctx, s, "/streams/owner/"+s.me.String(), nil)
}

// StreamChunks lists a stream's committed chunks in append order, as f+1 nodes say.
func (s *Session) StreamChunks(ctx context.Context, id protocol.ID) ([]protocol.StreamChunk, error) {
	return all[protocol.StreamChunk](ctx, s, "/stream-chunks/"+id.String(), nil)
}

// StreamNameMatches says whether st is the stream this identity named name.
func (s *Session) StreamNameMatches(st *protocol.StreamState, name string) bool {
	label, err := s.id.StreamLabel(name)
	return err == nil && label == st.Label
}

// AppendResult is what one Append committed.
type AppendResult struct {
	Chunks  int   // chunks committed, one per epoch touched (more for very large epochs)
	Entries int   // entries committed
	Bytes   int64 // sealed bytes uploaded
	Height  int64 // the block of the last chunk
}

// Append seals entries, in time order and none earlier than the stream's last committed
// entry, into one chunk per epoch they touch, and for each uploads the chunk and then
// commits its StreamAppend, one after another. The chunks of an epoch share its capsule:
// the first chunk of an epoch draws its key, later ones re-use it (recovered from the
// committed chunk's header when this Stream did not seal it). On an error the chunks
// before it stay committed; the result counts them.
func (s *Session) Append(ctx context.Context, st *Stream, entries []stream.Entry, opts ...CallOption) (*AppendResult, error) {
	o := collect(opts)
	st.mu.Lock()
	defer st.mu.Unlock()
	res := &AppendResult{}
	if st.state.Owner != s.me {
		return res, fmt.Errorf("%w: the stream belongs to another identity", ErrUnauthorized)
	}
	if st.state.ErasedHeight != 0 {
		return res, fmt.Errorf("stream %s: %w at height %d", st.state.ID, ErrErased, st.state.ErasedHeight)
	}
	if len(entries) == 0 {
		return res, nil
	}
	// Each epoch is sealed under its generation's key: learn of a rekey made elsewhere (a
	// revoke on another device) before sealing under a key that may be retired.
	if fresh, err := s.streamState(ctx, st.state.ID); err != nil {
		return res, err
	} else if len(fresh.Generations) != len(st.state.Generations) {
		// A key drawn for an epoch that did not commit may be of the retired generation.
		st.state.Generations = fresh.Generations
		if st.key != nil {
			st.key.Wipe()
			st.key = nil
		}
	}
	if st.state.Chunks > 0 && entries[0].Time < st.state.Last {
		return res, fmt.Errorf("client: entry at %s is earlier than the stream's last, at %s", entries[0].At().Format(time.RFC3339Nano),
			time.Unix(0, st.state.Last).UTC().Format(time.RFC3339Nano))
	}
	epoch := time.Duration(st.state.Epoch) * time.Second
	for _, chunk := range stream.Split(entries, epoch) {
		n, height, err := s.appendChunk(ctx, st, chunk)
		if err != nil {
			if errors.Is(err, protocol.ErrStreamOrder) || errors.Is(err, protocol.ErrStreamEpoch) {
				// Another device of this identity appended meanwhile: start again from what
				// is committed.
				st.key = nil
				if fresh, err := s.streamState(ctx, st.state.ID); err == nil {
					st.state = *fresh
				}
			}
			return res, err
		}
		res.Chunks++
		res.Entries += len(chunk)
		res.Bytes += n
		res.Height = height
		if o.progress != nil {
			o.progress(Progress{Phase: "append", Done: int64(res.Entries), Total: int64(len(entries))})
		}
	}
	return res, nil
}

// appendChunk seals, uploads and commits one chunk of one epoch; st.mu is held.
func (s *Session) appendChunk(ctx context.Context, st *Stream, chunk []stream.Entry) (int64, int64, error) {
	plain, err := stream.Encode(chunk)
	if err != nil {
		return 0, 0, err
	}
	first, last := stream.Span(chunk)
	e := protocol.EpochOf(first, st.state.Epoch)
	key, err := s.epochKey(ctx, st, e)
	if err != nil {
		return 0, 0, err
	}
	var sealed bytes.Buffer
	meta := envelope.Metadata{MediaType: ChunkMediaType, Size: int64(len(plain))}
	if st.state.Chunks == 0 {
		meta.Labels = st.firstLabels
	}
	w, err := key.Seal(&sealed, meta, nil)
	if err != nil {
		return 0, 0, err
	}
	if _, err := w.Write(plain); err != nil {
		return 0, 0, err
	}
	if err := w.Close(); err != nil {
		return 0, 0, err
	}
	c, n, err := cidsum.Sum(bytes.NewReader(sealed.Bytes()))
	if err != nil {
		return 0, 0, err
	}
	got, err := s.blobs.Upload(ctx, bytes.NewReader(sealed.Bytes()), n)
	if err != nil {
		return 0, 0, fmt.Errorf("client: upload: %w", classify(err))
	}
	if !got.Equals(c) {
		return 0, 0, fmt.Errorf("%w: %s, computed %s", ErrCIDMismatch, got, c)
	}
	body := &protocol.StreamAppend{Stream: st.state.ID, Epoch: e, CID: []byte(c.String()), Size: uint64(n),
		First: first, Last: last, Count: uint32(len(chunk))}
	copy(body.Capsule[:], key.Capsule())
	done, err := s.transactPaced(ctx, body)
	if err != nil {
		return 0, 0, err
	}
	st.state.Last, st.state.Chunks, st.state.Bytes = last, st.state.Chunks+1, st.state.Bytes+uint64(n)
	return n, done.height, nil
}

// maxPacedWait bounds how long an append waits out the nodes' pace of its account.
const maxPacedWait = time.Minute

// transactPaced commits body, coming back while the nodes refuse it for pace (a
// self-enrolled account's few transactions a second): a device appending a backlog of
// epochs is paced, not failed.
func (s *Session) transactPaced(ctx context.Context, body protocol.Body) (*txDone, error) {
	var waited time.Duration
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		done, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return body, nil })
		if done != nil || !errors.Is(err, protocol.ErrRateLimited) || waited+wait > maxPacedWait {
			return done, err
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		waited += wait
	}
}

// epochKey is the file key of epoch e: the one this Stream last used when it is e's, else
// the committed one recovered from the stream's last chunk when that is of e (only the last
// committed epoch can take more chunks: appends are in time order), else a fresh one.
func (s *Session) epochKey(ctx context.Context, st *Stream, e int64) (*envelope.SharedKey, error) {
	if st.key != nil && st.keyEp == e {
		return st.key, nil
	}
	dk, err := s.generationKey(&st.state, epochGeneration(&st.state, e))
	if err != nil {
		return nil, err
	}
	var key *envelope.SharedKey
	if st.state.Chunks > 0 && protocol.EpochOf(st.state.Last, st.state.Epoch) == e {
		key, err = s.committedEpochKey(ctx, &st.state, envelope.OwnerKey{Delegating: dk})
	} else {
		key, err = envelope.NewSharedKey(dk.PublicKey())
	}
	if err != nil {
		return nil, err
	}
	if st.key != nil {
		st.key.Wipe()
	}
	st.key, st.keyEp = key, e
	return key, nil
}

// committedEpochKey recovers the key of the stream's last chunk from its header: the
// chunk's record (its capsule, its holders) as f+1 nodes say, then the header's bytes from
// one node, believed when they open under that capsule with the owner's key.
func (s *Session) committedEpochKey(ctx context.Context, st *protocol.StreamState, u envelope.Unwrapper) (*envelope.SharedKey, error) {
	p, _, err := page[protocol.StreamChunk](ctx, s, "/stream-chunks/"+st.ID.String(), nil, st.Chunks-1, 1)
	if err != nil {
		return nil, err
	}
	if len(p.Items) != 1 {
		return nil, fmt.Errorf("%w: stream %s lists no chunk %d", ErrNodeAnswer, st.ID, st.Chunks-1)
	}
	rec, err := s.Record(ctx, p.Items[0].Record)
	if err != nil {
		return nil, err
	}
	c, err := recordCID(rec)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, n := range HoldersFirst(rec, s.nw.Nodes) {
		b, err := s.blobAPI.FetchBlobRange(ctx, []protocol.Node{n}, c, 0, min(int64(rec.Size), maxHeaderLen))
		if err == nil {
			var h *envelope.Header
			if h, err = envelope.ParseHeader(bytes.NewReader(b)); err == nil {
				if hc, _ := h.Capsule().MarshalBinary(); !bytes.Equal(hc, rec.Capsule[:]) {
					err = fmt.Errorf("%w: the blob's capsule is not the record's", ErrNodeAnswer)
				} else if k, err2 := h.SharedKey(u); err2 == nil {
					return k, nil
				} else {
					err = err2
				}
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("reading the key of stream %s's last epoch: %w", st.ID, classify(errors.Join(errs...)))
}

// EraseStream ends every grant of one of this identity's streams and erases every chunk:
// the nodes delete the blobs; the ledger keeps the stream, marked erased.
func (s *Session) EraseStream(ctx context.Context, id protocol.ID) error {
	_, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return &protocol.StreamErase{Stream: id}, nil })
	return err
}
