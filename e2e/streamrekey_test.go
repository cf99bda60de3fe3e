package e2e

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// TestStreamRevokeRekeys: the owner revokes one of two open-ended stream grants, which
// rekeys the stream. The other reader goes on reading the entries appended after the revoke,
// under its re-issued grant; the revoked reader's grant, and the other's old-generation
// grant, are refused the new epochs by every node, even under a request committed before
// the revoke; and fragments of the old key — which nodes that kept them against the rules
// would hold — re-encrypt a new epoch's capsule into something that does not open it.
func TestStreamRevokeRekeys(t *testing.T) {
	w := startWorld(t)
	aliceID, bobID, carolID := newIdentity(t), newIdentity(t), newIdentity(t)
	alice, bob, carol := w.session(aliceID), w.session(bobID), w.session(carolID)
	ctx := w.ctx

	loc, err := alice.CreateStream(ctx, "location", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	w.appendAll(alice, loc, points(0, 4))
	grant := func(to *client.Session) protocol.ID {
		g, err := alice.GrantStream(ctx, loc.ID(), to.Identity(), client.StreamGrantOptions{From: minute(0),
			GrantOptions: client.GrantOptions{Purpose: "care"}})
		if err != nil {
			t.Fatal(err)
		}
		return g.Grant
	}
	bobGrant, carolGrant := grant(bob), grant(carol)
	for _, r := range []struct {
		s *client.Session
		g protocol.ID
	}{{bob, bobGrant}, {carol, carolGrant}} {
		if got, err := r.s.ReadStream(ctx, r.g, time.Time{}, time.Time{}, client.ReadOptions{}); err != nil || !sameEntries(got.Entries, points(0, 4)) {
			t.Fatalf("read before the revoke: %v", err)
		}
	}
	bobReq, carolReq := w.request(bob, bobGrant), w.request(carol, carolGrant) // committed before the revoke

	res, err := alice.RevokeStreamGrant(ctx, bobGrant)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Grants) != 1 || res.Grants[0] != bobGrant || res.Rekey.Generation != 1 || res.Rekey.FirstEpoch != minute(4).Unix()/60 {
		t.Fatalf("revoke: grants %v, rekey %+v; want bob's grant, then generation 1 from minute 4", res.Grants, res.Rekey)
	}
	if len(res.Rekey.Reissued) != 1 || res.Rekey.Reissued[0].Old != carolGrant || res.Rekey.Reissued[0].Result == nil {
		t.Fatalf("re-issued %+v, want carol's grant alone", res.Rekey.Reissued)
	}
	carolNew := res.Rekey.Reissued[0].Result.Grant

	// Entries appended after the revoke are sealed under the new generation's key.
	w.appendAll(alice, loc, points(4, 7))
	st, err := alice.StreamByID(ctx, loc.ID())
	if err != nil {
		t.Fatal(err)
	}
	gens := st.State().Generations
	if len(gens) != 2 || gens[1].FirstEpoch != minute(4).Unix()/60 {
		t.Fatalf("generations %+v", gens)
	}
	if rec, err := alice.Record(ctx, w.chunkOf(alice, loc.ID(), 5).Record); err != nil || rec.DelegatingKey != gens[1].DelegatingKey {
		t.Fatalf("minute 5's chunk is not under generation 1's key: %+v, %v", rec, err)
	}

	// Carol reads across the rekey, by her first grant's id or by the stream's: each epoch
	// under the grant of its generation.
	for _, id := range []protocol.ID{carolGrant, loc.ID()} {
		got, err := carol.ReadStream(ctx, id, time.Time{}, time.Time{}, client.ReadOptions{Purpose: "care"})
		if err != nil || !sameEntries(got.Entries, points(0, 7)) || len(got.Skipped) != 0 {
			t.Fatalf("carol's read after the revoke: %v", err)
		}
		if len(got.Grants) != 2 || got.Grants[0].Grant.ID != carolGrant || got.Grants[1].Grant.ID != carolNew {
			t.Fatalf("carol read under %d grants, want her first and its re-issue", len(got.Grants))
		}
	}
	if _, err := bob.ReadStream(ctx, bobGrant, time.Time{}, time.Time{}, client.ReadOptions{}); !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("bob's read after the revoke: %v, want ErrRevoked", err)
	}
	if got, err := alice.ReadStream(ctx, loc.ID(), time.Time{}, time.Time{}, client.ReadOptions{}); err != nil || !sameEntries(got.Entries, points(0, 7)) {
		t.Fatalf("the owner's read across generations: %v", err)
	}

	// Asked directly under requests committed before the revoke, every node refuses a new
	// epoch: to bob's revoked grant, and to carol's grant of the old generation.
	w.refusedCapsule(alice, bob, bobID, bobGrant, bobReq, loc.ID(), loc.ID(), 5, protocol.ErrGrantRevoked)
	w.refusedCapsule(alice, carol, carolID, carolGrant, carolReq, loc.ID(), loc.ID(), 5, protocol.ErrOutsideWindow)

	// The point: t fragments of the old key for bob, as nodes that kept his could use them,
	// open an old epoch and not a new one.
	sid := loc.ID()
	old, err := aliceID.StreamKey(sid[:])
	if err != nil {
		t.Fatal(err)
	}
	kfrags, err := umbral.GenerateKFrags(old, bobID.Public().Receiving, aliceID.Signer(), 3, 4, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.openWith(alice, bobID, old.PublicKey(), kfrags, loc.ID(), 2); err != nil {
		t.Fatalf("the old fragments on an old epoch: %v (the check below would prove nothing)", err)
	}
	if err := w.openWith(alice, bobID, old.PublicKey(), kfrags, loc.ID(), 5); err == nil {
		t.Fatal("fragments of the old key opened an epoch appended after the revoke")
	}
}

// chunkOf is the first chunk of the epoch of minute m of a stream of 1-minute epochs.
func (w *world) chunkOf(owner *client.Session, id protocol.ID, m int) protocol.StreamChunk {
	for _, c := range w.chunks(owner, id) {
		if c.Epoch == minute(m).Unix()/60 {
			return c
		}
	}
	w.t.Fatalf("stream %s has no chunk in minute %d", id, m)
	return protocol.StreamChunk{}
}

// openWith re-encrypts, on this side, the capsule of the chunk of minute m with kfrags
// (made for reader, of delegating's key), and opens the chunk's file key with what comes out.
func (w *world) openWith(owner *client.Session, reader *identity.Identity, delegating *umbral.PublicKey, kfrags []*umbral.VerifiedKeyFrag,
	id protocol.ID, m int) error {
	c := w.chunkOf(owner, id, m)
	k, err := cid.Decode(string(c.CID))
	if err != nil {
		w.t.Fatal(err)
	}
	blob, err := (&client.API{}).FetchBlobRange(w.ctx, w.net.Nodes, k, 0, int64(c.Size))
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := envelope.ParseHeader(bytes.NewReader(blob))
	if err != nil {
		w.t.Fatal(err)
	}
	var cfrags []*umbral.VerifiedCapsuleFrag
	for _, kf := range kfrags[:3] {
		cf, err := umbral.Reencrypt(h.Capsule(), kf)
		if err != nil {
			w.t.Fatal(err)
		}
		cfrags = append(cfrags, cf)
	}
	key, err := h.SharedKey(envelope.RecipientKey{Receiving: reader.ReceivingKey(), Delegating: delegating, CFrags: cfrags})
	if err != nil {
		return err
	}
	key.Wipe()
	return nil
}
