package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestRotationStreams moves an owner's streams on a real 4-node network: alice has a
// location stream with a live grant to bob and a revoked one, and a second stream she does
// not name to the rotation. The first run stops right after the location stream's entries
// are moved; the second finishes it from the mark in the new stream's first chunk, without
// a second stream. Afterwards the new identity reads both streams in full, bob reads his
// window under the re-issued grant, the old streams are erased (logged for alice), the old
// key cannot append, and a third run changes nothing.
func TestRotationStreams(t *testing.T) {
	w := startWorld(t)
	ctx := w.ctx
	aliceID, bobID, nextID := newIdentity(t), newIdentity(t), newIdentity(t)
	alice, bob := w.session(aliceID), w.session(bobID)

	loc, err := alice.CreateStream(ctx, "location", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Two chunks in minute 5's epoch: the move must carry every entry, not every chunk.
	w.appendAll(alice, loc, points(0, 5), points(5, 6)[:5], points(5, 6)[5:], points(6, 10))
	hr, err := alice.CreateStream(ctx, "heart rate", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// A rekey in the middle: the move reads each epoch with its own generation's key.
	w.appendAll(alice, hr, points(0, 1))
	if _, err := alice.RekeyStream(ctx, hr.ID()); err != nil {
		t.Fatal(err)
	}
	w.appendAll(alice, hr, points(1, 3))
	end := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	g, err := alice.GrantStream(ctx, loc.ID(), bob.Identity(), client.StreamGrantOptions{From: minute(2), Until: minute(5),
		GrantOptions: client.GrantOptions{Purpose: "insurance", NotAfter: end}})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := alice.GrantStream(ctx, loc.ID(), bob.Identity(), client.StreamGrantOptions{From: minute(0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Revoke(ctx, gone.Grant); err != nil {
		t.Fatal(err)
	}
	// Bob shares a window of a stream of his with alice: rotation cannot move that grant, and
	// names bob among the owners to ask.
	bobs, err := bob.CreateStream(ctx, "steps", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.GrantStream(ctx, bobs.ID(), alice.Identity(), client.StreamGrantOptions{From: minute(0)}); err != nil {
		t.Fatal(err)
	}

	// The first run stops after three of the location stream's ten epochs were appended.
	stopped, stop := context.WithCancel(ctx)
	opts := client.RotateOptions{StreamNames: []string{"location", "not a stream"}}
	opts.Progress = func(s client.RotateStep) {
		if s.What == "append-stream" && s.Done >= 30 {
			stop()
		}
	}
	if _, err := alice.Rotate(stopped, nextID, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("the interrupted rotation: %v, want context.Canceled", err)
	}
	next := w.session(nextID)
	if part, err := next.StreamNamed(ctx, "location"); err != nil || part.State().Chunks != 3 {
		t.Fatalf("the new location stream after the interruption: %v, want 3 chunks", err)
	}
	var steps []string
	opts.Progress = func(s client.RotateStep) {
		if s.What == "append-stream" && s.Old == loc.ID() && len(steps) > 0 && steps[len(steps)-1] == s.What {
			return
		}
		steps = append(steps, s.What)
	}
	began := time.Now()
	res, err := alice.Rotate(ctx, nextID, opts)
	if err != nil {
		t.Fatalf("the resumed rotation: %v", err)
	}
	t.Logf("the resumed rotation (70 of 100 entries and 30 of 30 moved, 1 grant made again, 2 streams erased) took %v; steps %v",
		time.Since(began), steps)
	if len(res.SharedWithOld) != 1 || res.SharedWithOld[0].Owner != bob.Identity().String() ||
		len(res.SharedWithOld[0].Streams) != 1 || res.SharedWithOld[0].Streams[0] != bobs.ID() {
		t.Fatalf("shared with the old identity: %+v, want bob's stream", res.SharedWithOld)
	}
	if res.Height != 0 || len(res.Streams) != 2 {
		t.Fatalf("result %+v, want two streams moved", res)
	}
	mloc, mhr := res.Streams[0], res.Streams[1]
	if mloc.Old != loc.ID() || mloc.Name != "location" || mloc.Entries != 100 || len(mloc.Grants) != 1 || mloc.Grants[0].Old != g.Grant ||
		mhr.Old != hr.ID() || mhr.Name != client.MovedStreamName(hr.ID()) || mhr.Entries != 30 || len(mhr.Grants) != 0 {
		t.Fatalf("streams moved: %+v", res.Streams)
	}

	mine, err := next.Streams(ctx)
	if err != nil || len(mine) != 2 {
		t.Fatalf("the new identity's streams: %v, %d, want 2 (no second copy after the resume)", err, len(mine))
	}
	byName, err := next.StreamNamed(ctx, "location")
	if err != nil || byName.ID() != mloc.New || byName.Epoch() != time.Minute {
		t.Fatalf("the new location stream by name: %v", err)
	}
	for _, c := range []struct {
		id   protocol.ID
		want int
	}{{mloc.New, 10}, {mhr.New, 3}} {
		got, err := next.ReadStream(ctx, c.id, time.Time{}, time.Time{}, client.ReadOptions{})
		if err != nil || !sameEntries(got.Entries, points(0, c.want)) {
			t.Fatalf("the new identity reads stream %s: %v", c.id, err)
		}
	}
	ng, err := next.StreamGrant(ctx, mloc.Grants[0].New)
	if err != nil || ng.From != minute(2).UnixNano() || ng.Until != minute(5).UnixNano() || ng.Grant.NotAfter != end.UnixNano() ||
		ng.Grant.Purpose != "insurance" || ng.Grant.RecipientSig != protocol.PubKeyOf(bobID.Public().Signing) {
		t.Fatalf("the re-issued grant: %v %+v", err, ng)
	}
	got, err := bob.ReadStream(ctx, mloc.New, minute(0), minute(10), client.ReadOptions{Purpose: "insurance"})
	if err != nil || !sameEntries(got.Entries, points(2, 5)) || got.Grant.Grant.ID != mloc.Grants[0].New {
		t.Fatalf("bob reads his window of the new stream: %v", err)
	}
	if _, err := bob.ReadStream(ctx, g.Grant, time.Time{}, time.Time{}, client.ReadOptions{}); !errors.Is(err, client.ErrErased) {
		t.Fatalf("bob reads under the old grant: %v, want ErrErased", err)
	}

	for _, id := range []protocol.ID{loc.ID(), hr.ID()} {
		st, err := alice.StreamByID(ctx, id)
		if err != nil || st.State().ErasedHeight == 0 {
			t.Fatalf("old stream %s not erased: %v", id, err)
		}
		log, err := alice.Audit(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var erased []protocol.AuditEntry // the grants' nodes' destroyed reports may follow it
		for _, e := range log {
			if e.Kind == protocol.AuditStreamErase {
				erased = append(erased, e)
			}
		}
		if len(erased) != 1 || erased[0].For == nil || *erased[0].For != protocol.PubKeyOf(aliceID.Public().Signing) ||
			erased[0].Actor == nil || *erased[0].Actor != protocol.PubKeyOf(nextID.Public().Signing) {
			t.Fatalf("old stream %s: erasures %+v, want one, by the successor for alice", id, erased)
		}
	}
	if _, err := alice.Append(ctx, loc, points(10, 11)); !errors.Is(err, protocol.ErrKeyRetired) {
		t.Fatalf("the old key appends: %v, want key_retired", err)
	}

	again, err := alice.Rotate(ctx, nextID, opts)
	if err != nil || len(again.Streams) != 0 || len(again.Moved) != 0 {
		t.Fatalf("a third run: %v %+v", err, again)
	}
	if mine, err := next.Streams(ctx); err != nil || len(mine) != 2 {
		t.Fatalf("the new identity's streams after a third run: %v, %d", err, len(mine))
	}
	if gs, err := next.Grants(ctx, mloc.New); err != nil || len(gs) != 1 {
		t.Fatalf("grants of the new stream after a third run: %v, %d", err, len(gs))
	}
}
