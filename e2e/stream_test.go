package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/stream"
)

// The streams' story on a real devnet: a recipient reads exactly the epochs its window
// covers — nothing earlier, later, or of another stream, even asking the nodes directly —
// an open-ended grant reads what is appended after it until the revoke and nothing after,
// and an erased stream leaves nothing readable.

// day0 is a Tuesday, midnight UTC: entry times are the owner's, any day will do.
var day0 = time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)

// points are one entry every 6 s from minute a to minute b of day0.
func points(a, b int) []stream.Entry {
	var out []stream.Entry
	for t := day0.Add(time.Duration(a) * time.Minute); t.Before(day0.Add(time.Duration(b) * time.Minute)); t = t.Add(6 * time.Second) {
		out = append(out, stream.Entry{Time: t.UnixNano(), Data: []byte(fmt.Sprintf(`{"time":%q,"lat":52.1}`, t.Format(time.RFC3339)))})
	}
	return out
}

func minute(m int) time.Time { return day0.Add(time.Duration(m) * time.Minute) }

func TestStreams(t *testing.T) {
	w := startWorld(t)
	bobID := newIdentity(t)
	alice, bob := w.session(newIdentity(t)), w.session(bobID)
	ctx := w.ctx

	loc, err := alice.CreateStream(ctx, "location", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateStream(ctx, "location", time.Minute); err == nil {
		t.Fatal("a second stream of the same name was created")
	}
	other, err := alice.CreateStream(ctx, "heart rate", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Minutes 0–5½ in two calls (minute 5's capsule drawn), then, from a fresh lookup by
	// name, the rest of minute 5 (the same capsule, its key recovered from the committed
	// chunk's header) and minutes 6–10.
	w.appendAll(alice, loc, points(0, 5), points(5, 6)[:5])
	again, err := alice.StreamNamed(ctx, "location")
	if err != nil || again.ID() != loc.ID() {
		t.Fatalf("stream by name: %v", err)
	}
	w.appendAll(alice, again, points(5, 6)[5:], points(6, 10))
	w.appendAll(alice, other, points(0, 10))
	st, err := alice.StreamByID(ctx, loc.ID())
	if err != nil || st.State().Chunks != 11 || st.State().Last != points(9, 10)[9].Time {
		t.Fatalf("stream after appends: %+v, %v (want 11: one per epoch, two for minute 5)", st.State(), err)
	}

	// The owner reads its own stream with its own key, any window.
	got, err := alice.ReadStream(ctx, loc.ID(), minute(0), time.Time{}, client.ReadOptions{})
	if err != nil || !sameEntries(got.Entries, points(0, 10)) {
		t.Fatalf("owner's read: %v, %d entries", err, len(got.Entries))
	}

	// Bob may read minutes 2–5: a window of three epochs.
	g, err := alice.GrantStream(ctx, loc.ID(), bob.Identity(), client.StreamGrantOptions{From: minute(2), Until: minute(5),
		GrantOptions: client.GrantOptions{Purpose: "insurance"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err = bob.ReadStream(ctx, g.Grant, minute(0), minute(10), client.ReadOptions{Purpose: "insurance"})
	if err != nil {
		t.Fatal(err)
	}
	if !sameEntries(got.Entries, points(2, 5)) || got.Epochs != 3 {
		t.Fatalf("bob read %d entries in %d epochs, want minutes 2–5 (30 in 3)", len(got.Entries), got.Epochs)
	}
	if len(got.Skipped) != 7 {
		t.Fatalf("skipped epochs %v, want the 7 outside the window", got.Skipped)
	}
	// The owner sees the read in the stream's audit log: one request, with its purpose.
	log, err := alice.Audit(ctx, loc.ID())
	if err != nil {
		t.Fatal(err)
	}
	requests := 0
	for _, e := range log {
		if e.Kind == protocol.AuditRequest && e.Grant != nil && *e.Grant == g.Grant && e.Purpose == "insurance" {
			requests++
		}
	}
	if requests != 1 {
		t.Fatalf("%d requests with the purpose in the stream's audit, want 1: %+v", requests, log)
	}
	// By the stream's id too, and narrower than the grant.
	got, err = bob.ReadStream(ctx, loc.ID(), minute(3), minute(4), client.ReadOptions{})
	if err != nil || !sameEntries(got.Entries, points(3, 4)) {
		t.Fatalf("narrow read: %v, %d entries", err, len(got.Entries))
	}
	if _, err := bob.ReadStream(ctx, other.ID(), time.Time{}, time.Time{}, client.ReadOptions{}); !errors.Is(err, client.ErrNotGranted) {
		t.Fatalf("another stream: %v, want ErrNotGranted", err)
	}
	// Asked directly, under a committed request, the nodes re-encrypt no capsule of an
	// epoch before or after the window, nor another stream's.
	req := w.request(bob, g.Grant)
	w.refusedCapsule(alice, bob, bobID, g.Grant, req, loc.ID(), loc.ID(), 1, protocol.ErrOutsideWindow)
	w.refusedCapsule(alice, bob, bobID, g.Grant, req, loc.ID(), loc.ID(), 5, protocol.ErrOutsideWindow)
	w.refusedCapsule(alice, bob, bobID, g.Grant, req, loc.ID(), other.ID(), 3, protocol.ErrWrongCapsule)

	// An open-ended grant from minute 10 reads what is appended after it, until the revoke.
	open, err := alice.GrantStream(ctx, loc.ID(), bob.Identity(), client.StreamGrantOptions{From: minute(10)})
	if err != nil {
		t.Fatal(err)
	}
	w.appendAll(alice, again, points(10, 12))
	got, err = bob.ReadStream(ctx, open.Grant, time.Time{}, time.Time{}, client.ReadOptions{})
	if err != nil || !sameEntries(got.Entries, points(10, 12)) {
		t.Fatalf("open-ended read: %v, %d entries", err, len(got.Entries))
	}
	req = w.request(bob, open.Grant) // committed before the revoke
	if _, err := alice.Revoke(ctx, open.Grant); err != nil {
		t.Fatal(err)
	}
	w.appendAll(alice, again, points(12, 13))
	if _, err := bob.ReadStream(ctx, open.Grant, time.Time{}, time.Time{}, client.ReadOptions{}); !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("read after revoke: %v, want ErrRevoked", err)
	}
	// Even under a request committed before the revoke, the nodes refuse the new epoch.
	w.refusedCapsule(alice, bob, bobID, open.Grant, req, loc.ID(), loc.ID(), 12, protocol.ErrGrantRevoked)

	// Erasure: nothing of the stream is readable, by anyone, and every node deletes the blobs.
	chunks := w.chunkCIDs(alice, loc.ID())
	if err := alice.EraseStream(ctx, loc.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ReadStream(ctx, loc.ID(), time.Time{}, time.Time{}, client.ReadOptions{}); !errors.Is(err, client.ErrErased) {
		t.Fatalf("owner's read after erase: %v, want ErrErased", err)
	}
	if _, err := bob.ReadStream(ctx, g.Grant, time.Time{}, time.Time{}, client.ReadOptions{}); err == nil {
		t.Fatal("bob read an erased stream")
	}
	if _, err := alice.Append(ctx, again, points(13, 14)); !errors.Is(err, client.ErrErased) && !errors.Is(err, protocol.ErrStreamErased) {
		t.Fatalf("append after erase: %v", err)
	}
	w.waitBlobsGone(chunks)
	// The other stream is untouched.
	if got, err := alice.ReadStream(ctx, other.ID(), time.Time{}, time.Time{}, client.ReadOptions{}); err != nil || len(got.Entries) != 100 {
		t.Fatalf("other stream after erasing the first: %v", err)
	}
}

func (w *world) appendAll(s *client.Session, st *client.Stream, batches ...[]stream.Entry) {
	w.t.Helper()
	for _, b := range batches {
		if _, err := s.Append(w.ctx, st, b); err != nil {
			w.t.Fatalf("append: %v", err)
		}
	}
}

func sameEntries(a, b []stream.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Time != b[i].Time || string(a[i].Data) != string(b[i].Data) {
			return false
		}
	}
	return true
}

// request commits an access request of reader's under grant.
func (w *world) request(reader *client.Session, grant protocol.ID) *protocol.TxResult {
	res, err := reader.Submit(w.ctx, &protocol.RequestAccess{Grant: grant})
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

// refusedCapsule has reader (identity rid) ask every node, under its committed request
// req on grant, to re-encrypt the capsule of the epoch of minute m of stream of (read by
// its owner), presented as the capsule of the grant's stream: every node must refuse with
// want.
func (w *world) refusedCapsule(owner, reader *client.Session, rid *identity.Identity, grant protocol.ID, req *protocol.TxResult,
	streamID, of protocol.ID, m int, want error) {
	t := w.t
	t.Helper()
	capsule := w.epochCapsule(owner, of, minute(m).Unix()/60)
	st, err := owner.StreamByID(w.ctx, streamID)
	if err != nil {
		t.Fatal(err)
	}
	g, err := reader.GrantState(w.ctx, grant)
	if err != nil {
		t.Fatal(err)
	}
	state := st.State()
	rec := &protocol.Record{ID: streamID, Owner: state.Owner, DelegatingKey: state.DelegatingKey, Capsule: capsule}
	_, err = (&client.API{}).Gather(w.ctx, &client.Access{ChainID: w.net.ChainID, Grant: g, Record: rec, RequestTx: req.Hash, Height: req.Height},
		rid.Signer(), w.net.Nodes)
	var ge *client.GatherError
	if !errors.As(err, &ge) || ge.Count(client.Refused) != len(g.Nodes) {
		t.Fatalf("gather of minute %d's capsule: %v, want every node to refuse", m, err)
	}
	for _, n := range ge.Nodes {
		if !errors.Is(n.Err, want) {
			t.Fatalf("node %s: %v, want %v", n.Node, n.Err, want)
		}
	}
}

// epochCapsule is the committed capsule of epoch e of a stream, from its chunk's record.
func (w *world) epochCapsule(owner *client.Session, id protocol.ID, e int64) protocol.CapsuleBytes {
	for _, c := range w.chunks(owner, id) {
		if c.Epoch == e {
			rec, err := owner.Record(w.ctx, c.Record)
			if err != nil {
				w.t.Fatal(err)
			}
			return rec.Capsule
		}
	}
	w.t.Fatalf("stream %s has no chunk in epoch %d", id, e)
	return protocol.CapsuleBytes{}
}

func (w *world) chunks(s *client.Session, id protocol.ID) []protocol.StreamChunk {
	cs, err := s.StreamChunks(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return cs
}

func (w *world) chunkCIDs(s *client.Session, id protocol.ID) []cid.Cid {
	var out []cid.Cid
	for _, c := range w.chunks(s, id) {
		k, err := cid.Decode(string(c.CID))
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// waitBlobsGone waits until no node serves any of the blobs.
func (w *world) waitBlobsGone(cids []cid.Cid) {
	ctx, cancel := context.WithTimeout(w.ctx, 2*time.Minute)
	defer cancel()
	api := &client.API{}
	for _, c := range cids {
		for _, n := range w.net.Nodes {
			for {
				_, err := api.FetchBlobRange(ctx, []protocol.Node{n}, c, 0, 1)
				if errors.Is(err, client.ErrBlobErased) || errors.Is(err, protocol.ErrNotFound) {
					break
				}
				if ctx.Err() != nil {
					w.t.Fatalf("node %s still serves erased chunk %s: %v", n.Name, c, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}
