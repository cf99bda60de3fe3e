package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/stream"
)

// Rotation of streams (SPEC.md §9, step 5): each live stream of the old identity is read
// with the old stream key, its entries appended to a new stream of the new identity (same
// epoch; chunks sealed under the new stream key), its live grants made again, and the old
// stream erased by the new identity. The new stream's first chunk carries RotatedFromLabel
// in its sealed metadata, so a resumed run finds what it began.

// MovedStream is an old stream and the stream of the new identity that replaces it.
type MovedStream struct {
	Old, New protocol.ID
	// Name is the new stream's name: one of RotateOptions.StreamNames, or MovedStreamName;
	// "" when an earlier run named it otherwise.
	Name    string
	Entries int             // entries the new stream holds once moved
	Grants  []ReissuedGrant // stream grants made again by this run
}

// MovedStreamName is the name a moved stream gets when no name in RotateOptions.StreamNames
// is the old stream's: the ledger keeps only a keyed hash of a stream's name, so a name
// nobody gave cannot be carried over.
func MovedStreamName(old protocol.ID) string { return "moved " + old.String() }

// streamMover moves the old identity's (s) streams to the new one (ns).
type streamMover struct {
	s, ns    *Session
	progress func(RotateStep)
	newLive  []*protocol.StreamState // the new identity's live streams
	claimed  map[protocol.ID]bool    // new streams that replace an old one
}

func (s *Session) moveStreams(ctx context.Context, ns *Session, names []string, res *RotateResult, progress func(RotateStep)) error {
	all, err := s.Streams(ctx)
	if err != nil {
		return err
	}
	var live []*protocol.StreamState
	for _, st := range all {
		if st.ErasedHeight == 0 {
			live = append(live, st)
		}
	}
	if len(live) == 0 {
		return nil
	}
	named := s.streamNames(all, names)
	mine, err := ns.Streams(ctx)
	if err != nil {
		return err
	}
	m := &streamMover{s: s, ns: ns, progress: progress, claimed: map[protocol.ID]bool{}}
	for _, st := range mine {
		if st.ErasedHeight == 0 {
			m.newLive = append(m.newLive, st)
		}
	}
	moved, err := m.movedFrom(ctx)
	if err != nil {
		return err
	}
	for i, old := range live {
		ms, err := m.move(ctx, old, moved[old.ID], named[old.ID])
		if err != nil {
			return fmt.Errorf("moving stream %s: %w", old.ID, err)
		}
		progress(RotateStep{What: "move-stream", Done: i + 1, Total: len(live), Old: old.ID, New: ms.New,
			Detail: fmt.Sprintf("%s, %d entries", ms.Name, ms.Entries)})
		if ms.Grants, err = m.reissueGrants(ctx, old.ID, ms.New); err != nil {
			return fmt.Errorf("granting stream %s again: %w", ms.New, err)
		}
		// Last, as for records: a resumed run no longer sees an erased stream.
		if err := ns.EraseStream(ctx, old.ID); err != nil && !errors.Is(err, protocol.ErrStreamErased) {
			return fmt.Errorf("erasing stream %s: %w", old.ID, err)
		}
		progress(RotateStep{What: "erase-old-stream", Done: i + 1, Total: len(live), Old: old.ID, New: ms.New, Detail: ms.Name})
		res.Streams = append(res.Streams, *ms)
	}
	return nil
}

// streamNames gives each stream of all the name its replacement gets: a name of names goes
// to the newest stream, erased ones included, whose label it matches (a set that no later
// run changes, as the retired key creates no stream), every other stream MovedStreamName.
func (s *Session) streamNames(all []*protocol.StreamState, names []string) map[protocol.ID]string {
	out := map[protocol.ID]string{}
	for _, n := range names {
		for i := len(all) - 1; i >= 0; i-- {
			if s.StreamNameMatches(all[i], n) {
				if _, ok := out[all[i].ID]; !ok {
					out[all[i].ID] = n
				}
				break
			}
		}
	}
	for _, st := range all {
		if _, ok := out[st.ID]; !ok {
			out[st.ID] = MovedStreamName(st.ID)
		}
	}
	return out
}

// movedFrom maps each old stream an earlier run began to move to its new stream, by the
// label sealed in the new stream's first chunk.
func (m *streamMover) movedFrom(ctx context.Context) (map[protocol.ID]*protocol.StreamState, error) {
	out := map[protocol.ID]*protocol.StreamState{}
	for _, st := range m.newLive {
		if st.Chunks == 0 {
			continue
		}
		labels, err := m.ns.firstChunkLabels(ctx, st)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", st.ID, err)
		}
		var old protocol.ID
		if v, ok := labels[RotatedFromLabel]; ok && old.UnmarshalText([]byte(v)) == nil {
			out[old] = st
			m.claimed[st.ID] = true
		}
	}
	return out, nil
}

// firstChunkLabels opens the sealed metadata of one of this identity's streams' first
// chunk, fetched whole and checked against its committed CID.
func (s *Session) firstChunkLabels(ctx context.Context, st *protocol.StreamState) (map[string]string, error) {
	p, _, err := page[protocol.StreamChunk](ctx, s, "/stream-chunks/"+st.ID.String(), nil, 0, 1)
	if err != nil {
		return nil, err
	}
	if len(p.Items) != 1 {
		return nil, fmt.Errorf("%w: stream %s lists no first chunk", ErrNodeAnswer, st.ID)
	}
	blob, err := s.fetchChunk(ctx, p.Items[0], 0)
	if err != nil {
		return nil, err
	}
	h, err := envelope.ParseHeader(bytes.NewReader(blob))
	if err != nil {
		return nil, err
	}
	dk, err := s.id.StreamKey(st.ID[:])
	if err != nil {
		return nil, err
	}
	key, err := h.SharedKey(envelope.OwnerKey{Delegating: dk})
	if err != nil {
		return nil, err
	}
	defer key.Wipe()
	opened, err := h.Unwrap(key)
	if err != nil {
		return nil, err
	}
	return opened.Metadata().Labels, nil
}

// move finds or makes old's new stream (into, when an earlier run marked it) and appends
// the entries it does not hold yet.
func (m *streamMover) move(ctx context.Context, old, into *protocol.StreamState, name string) (*MovedStream, error) {
	var nst *Stream
	if into != nil {
		nst = &Stream{state: *into}
		if !m.ns.StreamNameMatches(into, name) {
			name = ""
			if m.ns.StreamNameMatches(into, MovedStreamName(old.ID)) {
				name = MovedStreamName(old.ID)
			}
		}
	} else {
		var err error
		if nst, name, err = m.streamFor(ctx, old, name); err != nil {
			return nil, err
		}
	}
	m.claimed[nst.ID()] = true
	if nst.State().Epoch != old.Epoch {
		return nil, fmt.Errorf("client: stream %s has epochs of %d s, the old one of %d s", nst.ID(), nst.State().Epoch, old.Epoch)
	}
	nst.firstLabels = map[string]string{RotatedFromLabel: old.ID.String()}
	n, err := m.copyEntries(ctx, old, nst)
	if err != nil {
		return nil, err
	}
	return &MovedStream{Old: old.ID, New: nst.ID(), Name: name, Entries: n}, nil
}

// streamFor is the new stream for old: a live stream of the new identity named name (or,
// when a stream with entries of another origin holds that name, MovedStreamName) that has
// no chunk yet and replaces no other stream — an earlier run created it and stopped before
// the first append — or else a stream created now with that name and old's epoch.
func (m *streamMover) streamFor(ctx context.Context, old *protocol.StreamState, name string) (*Stream, string, error) {
	candidates := []string{name}
	if alt := MovedStreamName(old.ID); alt != name {
		candidates = append(candidates, alt)
	}
	for _, n := range candidates {
		taken := false
		for j := len(m.newLive) - 1; j >= 0; j-- {
			st := m.newLive[j]
			if !m.ns.StreamNameMatches(st, n) {
				continue
			}
			if st.Chunks == 0 && !m.claimed[st.ID] && st.Epoch == old.Epoch {
				return &Stream{state: *st}, n, nil
			}
			taken = true
		}
		if taken {
			continue
		}
		nst, err := m.ns.CreateStream(ctx, n, time.Duration(old.Epoch)*time.Second)
		if err != nil {
			return nil, "", err
		}
		st := nst.State()
		m.newLive = append(m.newLive, &st)
		return nst, n, nil
	}
	return nil, "", fmt.Errorf("client: the new identity has streams named %q already", candidates)
}

// copyEntries appends to nst, in order, the entries of old it does not hold yet, read with
// the old identity's key a day of epochs at a time, and returns how many it holds then.
// What nst holds must be a prefix of old: appends are in order and stop at the first
// failure.
func (m *streamMover) copyEntries(ctx context.Context, old *protocol.StreamState, nst *Stream) (int, error) {
	// The list of streams leaves their key generations out; /stream/ID has them, and each
	// epoch opens only with its generation's key.
	old, err := m.s.streamState(ctx, old.ID)
	if err != nil {
		return 0, err
	}
	chunks, err := all[protocol.StreamChunk](ctx, m.s, "/stream-chunks/"+old.ID.String(), nil)
	if err != nil {
		return 0, err
	}
	have, err := all[protocol.StreamChunk](ctx, m.ns, "/stream-chunks/"+nst.ID().String(), nil)
	if err != nil {
		return 0, err
	}
	done, total := 0, 0
	for _, c := range have {
		done += int(c.Count)
	}
	var epochs [][]protocol.StreamChunk
	for _, c := range chunks {
		total += int(c.Count)
		if n := len(epochs); n > 0 && epochs[n-1][0].Epoch == c.Epoch {
			epochs[n-1] = append(epochs[n-1], c)
		} else {
			epochs = append(epochs, []protocol.StreamChunk{c})
		}
	}
	if done > total {
		return 0, fmt.Errorf("client: stream %s holds %d entries, more than the %d of the stream it replaces", nst.ID(), done, total)
	}
	r := &streamReader{s: m.s, st: old, hi: math.MaxInt64, parallel: 8}
	perBatch := max(1, protocol.MaxStreamEpoch/int(old.Epoch))
	var batch [][]protocol.StreamChunk
	seen, batchStart := 0, 0 // entries of old before the next epoch, before the batch
	flush := func() error {
		got := make([][]stream.Entry, len(batch))
		idx := make([]int, len(batch))
		for i := range idx {
			idx[i] = i
		}
		// The owner's read: each epoch opened with its generation's key.
		if err := r.readBatch(ctx, nil, batch, idx, got, ""); err != nil {
			return err
		}
		var es []stream.Entry
		for _, g := range got {
			es = append(es, g...)
		}
		if skip := done - batchStart; skip > 0 {
			if es[skip-1].Time != nst.State().Last {
				return fmt.Errorf("client: stream %s is not a prefix of the stream it replaces", nst.ID())
			}
			es = es[skip:]
		}
		base, newID := done, nst.ID() // Append holds nst's lock while it reports
		step := func(p Progress) {
			m.progress(RotateStep{What: "append-stream", Done: base + int(p.Done), Total: total, Old: old.ID, New: newID})
		}
		if _, err := m.ns.Append(ctx, nst, es, WithProgress(step)); err != nil {
			return err
		}
		done += len(es)
		batch = batch[:0]
		return nil
	}
	for _, ep := range epochs {
		n := 0
		for _, c := range ep {
			n += int(c.Count)
		}
		if seen+n <= done {
			seen += n
			if seen == done && ep[len(ep)-1].Last != nst.State().Last {
				return 0, fmt.Errorf("client: stream %s is not a prefix of the stream it replaces", nst.ID())
			}
			continue
		}
		if len(batch) == 0 {
			batchStart = seen
		}
		batch = append(batch, ep)
		seen += n
		if len(batch) == perBatch {
			if err := flush(); err != nil {
				return done, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return done, err
		}
	}
	return done, nil
}

// reissueGrants makes again, on stream newID, each grant of stream old that is live or not
// yet valid and that an earlier run did not make again: same recipient, window, purpose,
// end, start (if still ahead) and threshold.
func (m *streamMover) reissueGrants(ctx context.Context, old, newID protocol.ID) ([]ReissuedGrant, error) {
	gs, now, err := allAt[*protocol.GrantState](ctx, m.s, "/grants/record/"+old.String(), grantPageKey)
	if err != nil {
		return nil, err
	}
	made, err := m.ns.Grants(ctx, newID)
	if err != nil {
		return nil, err
	}
	var have []*protocol.StreamGrantState
	for _, g := range made {
		if g.Revoked {
			continue
		}
		sg, err := m.ns.StreamGrant(ctx, g.ID)
		if err != nil {
			return nil, err
		}
		have = append(have, sg)
	}
	var out []ReissuedGrant
	for _, g := range gs {
		if g.Revoked || g.Expired || (g.NotAfter != 0 && now >= g.NotAfter) || delegationPurpose(g.Purpose) {
			continue
		}
		sg, err := m.s.StreamGrant(ctx, g.ID)
		if err != nil {
			return out, err
		}
		if streamMadeAgain(have, sg) {
			continue
		}
		to, err := Recipient(g)
		if err != nil {
			return out, fmt.Errorf("%w: grant %s: %v", ErrNodeAnswer, g.ID, err)
		}
		o := StreamGrantOptions{GrantOptions: GrantOptions{Purpose: g.Purpose, Threshold: g.Threshold}}
		if g.NotAfter != 0 {
			o.NotAfter = time.Unix(0, g.NotAfter)
		}
		if g.NotBefore > now {
			o.NotBefore = time.Unix(0, g.NotBefore)
		}
		if sg.From != 0 {
			o.From = time.Unix(0, sg.From)
		}
		if sg.Until != 0 {
			o.Until = time.Unix(0, sg.Until)
		}
		gr, err := m.ns.GrantStream(ctx, newID, to, o)
		if err != nil {
			return out, fmt.Errorf("stream grant %s to %s: %w", g.ID, to, err)
		}
		r := ReissuedGrant{Old: g.ID, New: gr.Grant, Recipient: to.String()}
		out = append(out, r)
		m.progress(RotateStep{What: "stream-grant", Old: g.ID, New: gr.Grant, Detail: r.Recipient})
	}
	return out, nil
}

// streamMadeAgain reports whether a stream grant like g (recipient, window, purpose, end)
// is already on the new stream and not revoked.
func streamMadeAgain(have []*protocol.StreamGrantState, g *protocol.StreamGrantState) bool {
	for _, h := range have {
		if h.From == g.From && h.Until == g.Until && madeAgain([]*protocol.GrantState{h.Grant}, g.Grant) {
			return true
		}
	}
	return false
}
