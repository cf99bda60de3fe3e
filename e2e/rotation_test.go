package e2e

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestRotation runs a rotation on a real 4-node network: alice puts two records, grants one
// to bob, and moves to a new identity. Afterwards the ledger and every node refuse what her
// old key signs, her records open with the new identity, bob reads the re-issued grant's
// record, the old records are erased, and running the rotation again changes nothing.
func TestRotation(t *testing.T) {
	w := startWorld(t)
	ctx := w.ctx
	aliceID, bobID, nextID := newIdentity(t), newIdentity(t), newIdentity(t)
	alice, bob := w.session(aliceID), w.session(bobID)

	contents := [][]byte{make([]byte, 200<<10), []byte("allergies: penicillin")}
	_, _ = rand.NewChaCha8([32]byte{19}).Read(contents[0])
	var old []protocol.ID
	for i, name := range []string{"scan.dcm", "allergies.txt"} {
		id, err := alice.Put(ctx, bytes.NewReader(contents[i]), int64(len(contents[i])),
			envelope.Metadata{Name: name, Labels: map[string]string{"kind": "test"}})
		if err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
		old = append(old, id)
	}
	// A recovery setup and a caregiver: the sealed identity and the key bundle are erased,
	// not moved, and the delegation ended; its grants are not made again.
	carolID := newIdentity(t)
	if _, err := alice.SetupRecovery(ctx, []identity.Public{carolID.Public()}, client.RecoveryOptions{Threshold: 1}); err != nil {
		t.Fatalf("recovery setup: %v", err)
	}
	del, err := alice.Delegate(ctx, carolID.Public(), protocol.RightGrant|protocol.RightRead, client.DelegateOptions{Duration: time.Hour})
	if err != nil || del.Bundle == nil || len(del.Grants) != 3 {
		t.Fatalf("delegate: %v %+v", err, del)
	}
	end := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	if _, err := alice.Grant(ctx, old[0], bob.Identity(), client.GrantOptions{NotAfter: end, Purpose: "care"}); err != nil {
		t.Fatalf("grant: %v", err)
	}
	// What the old key will sign after its retirement, committed before it: a grant whose
	// fragments are not deposited yet, and an access request under bob's grant to alice.
	pending, frags := w.pendingGrant(aliceID, alice, old[1], bobID.Public())
	bobRec, err := bob.Put(ctx, bytes.NewReader([]byte("bob's note")), 10, envelope.Metadata{Name: "bob.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Grant(ctx, bobRec, alice.Identity(), client.GrantOptions{}); err != nil {
		t.Fatal(err)
	}
	bobGrant, err := alice.Shared(ctx)
	if err != nil || len(bobGrant) != 1 {
		t.Fatalf("alice's shared records: %v %+v", err, bobGrant)
	}
	req, err := alice.Submit(ctx, &protocol.RequestAccess{Grant: bobGrant[0].Grant.ID})
	if err != nil {
		t.Fatal(err)
	}

	// A crash right after the retirement: the Rotate alone, as Rotate sends it first.
	body, err := protocol.NewRotate(nextID.Signer(), protocol.PubKeyOf(nextID.Public().Receiving), w.net.ChainID,
		protocol.PubKeyOf(aliceID.Public().Signing))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := alice.Submit(ctx, body)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	// Each node judges by its own committed state, and f+1 confirmed the Rotate: the nodes'
	// refusals are checked once every node has committed its block (a node stores block h+1
	// only after it applied h).
	if err := w.nw.WaitHeight(ctx, rotated.Height+1); err != nil {
		t.Fatal(err)
	}
	w.oldKeyRefused(aliceID, alice, pending, frags, bobGrant[0], req)

	// Rotating onto another identity now is refused before anything is sent.
	if _, err := alice.Rotate(ctx, newIdentity(t), client.RotateOptions{}); !errors.Is(err, client.ErrRotatedElsewhere) {
		t.Fatalf("rotating a retired key elsewhere: %v, want ErrRotatedElsewhere", err)
	}

	var steps []client.RotateStep
	began := time.Now()
	res, err := alice.Rotate(ctx, nextID, client.RotateOptions{Progress: func(s client.RotateStep) { steps = append(steps, s) }})
	if err != nil {
		t.Fatalf("rotate (resumed after the retirement): %v", err)
	}
	t.Logf("the rotation after the retirement (2 records moved, 2 grants made again, 2 records erased, 1 delegation ended) took %v", time.Since(began))
	if res.Height != 0 || len(res.Moved) != 2 || len(res.Erased) != 2 || !res.RecoveryErased ||
		len(res.DelegationsEnded) != 1 || res.DelegationsEnded[0] != del.Delegation {
		t.Fatalf("result %+v", res)
	}
	if d, err := alice.Delegation(ctx, del.Delegation); err != nil || !d.Ended {
		t.Fatalf("the delegation after the rotation: %v %+v", err, d)
	}
	for _, id := range append(res.Erased, *del.Bundle) {
		if rec, err := alice.Record(ctx, id); err != nil || rec.Erased == nil {
			t.Fatalf("record %s not erased: %v %+v", id, err, rec)
		}
	}
	if len(res.SharedWithOld) != 1 || res.SharedWithOld[0].Owner != bob.Identity().String() ||
		len(res.SharedWithOld[0].Records) != 1 || res.SharedWithOld[0].Records[0] != bobRec {
		t.Fatalf("shared with the old identity: %+v, want bob's record", res.SharedWithOld)
	}
	if steps[0].What != "retire" || steps[len(steps)-1].What != "shared-with-old" {
		t.Fatalf("steps %+v", steps)
	}

	next := w.session(nextID)
	for i, m := range res.Moved {
		if m.Old != old[i] {
			t.Fatalf("moved %d: %s, want %s", i, m.Old, old[i])
		}
		var out bytes.Buffer
		meta, err := next.Get(ctx, m.New, &out, client.GetOptions{})
		if err != nil {
			t.Fatalf("the new identity opens %s: %v", m.New, err)
		}
		if !bytes.Equal(out.Bytes(), contents[i]) || meta.Labels["kind"] != "test" || meta.Labels[client.RotatedFromLabel] != m.Old.String() {
			t.Fatalf("record %s: %d bytes, labels %v", m.New, out.Len(), meta.Labels)
		}
		if len(m.Grants) != 1 {
			t.Fatalf("record %s: %d grants made again, want 1", m.New, len(m.Grants))
		}
		g, err := next.GrantState(ctx, m.Grants[0].New)
		if err != nil {
			t.Fatal(err)
		}
		if g.RecipientSig != protocol.PubKeyOf(bobID.Public().Signing) || (i == 0 && (g.NotAfter != end.UnixNano() || g.Purpose != "care")) {
			t.Fatalf("re-issued grant %+v", g)
		}
		rec, err := next.Record(ctx, m.Old)
		if err != nil || rec.Erased == nil {
			t.Fatalf("old record %s not erased: %v %+v", m.Old, err, rec)
		}
	}
	var out bytes.Buffer
	if _, err := bob.Get(ctx, res.Moved[0].New, &out, client.GetOptions{Purpose: "care"}); err != nil || !bytes.Equal(out.Bytes(), contents[0]) {
		t.Fatalf("bob reads the re-issued grant's record: %v (%d bytes)", err, out.Len())
	}
	if _, err := bob.Get(ctx, old[0], io.Discard, client.GetOptions{}); !errors.Is(err, client.ErrErased) {
		t.Fatalf("bob reads the old record: %v, want ErrErased", err)
	}
	if p, err := next.Predecessor(ctx); err != nil || p == nil || p.Old != protocol.PubKeyOf(aliceID.Public().Signing) {
		t.Fatalf("predecessor of the new identity: %v %+v", err, p)
	}

	// Again: nothing left to do.
	again, err := alice.Rotate(ctx, nextID, client.RotateOptions{})
	if err != nil || again.Height != 0 || len(again.Moved) != 0 || len(again.Erased) != 0 || len(again.DelegationsEnded) != 0 {
		t.Fatalf("a second rotation: %v %+v", err, again)
	}
	recs, err := next.Records(ctx)
	if err != nil || len(recs) != 2 {
		t.Fatalf("the new identity's records after a second run: %v, %d records", err, len(recs))
	}
	for _, m := range res.Moved {
		gs, err := next.Grants(ctx, m.New)
		if err != nil || len(gs) != 1 {
			t.Fatalf("grants of %s after a second run: %v, %d", m.New, err, len(gs))
		}
	}
	// The successor cannot take over another key's history either.
	if _, err := next.Rotate(ctx, aliceID, client.RotateOptions{}); !errors.Is(err, client.ErrSuccessorInUse) {
		t.Fatalf("rotating onto the retired key: %v, want ErrSuccessorInUse", err)
	}
}

// pendingGrant commits a grant of record by owner to recipient without depositing its
// fragments, and returns it with the fragments.
func (w *world) pendingGrant(ownerID *identity.Identity, owner *client.Session, record protocol.ID, to identity.Public) (*protocol.GrantState, *client.Fragments) {
	t := w.t
	dk, err := ownerID.DelegatingKey(record[:])
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]protocol.PubKey, len(w.net.Nodes))
	for i, n := range w.net.Nodes {
		keys[i] = n.ProxyKey
	}
	frags, err := client.MakeFragments(dk, ownerID.Signer(), to.Receiving, keys, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := owner.Submit(w.ctx, &protocol.Grant{Record: record, OwnerEnc: protocol.PubKeyOf(ownerID.Public().Receiving),
		RecipientSig: protocol.PubKeyOf(to.Signing), RecipientEnc: protocol.PubKeyOf(to.Receiving),
		Threshold: uint8(frags.Threshold), Nodes: frags.Nodes, Purpose: "pending"})
	if err != nil {
		t.Fatalf("pending grant: %v", err)
	}
	gs, err := owner.Grants(w.ctx, record)
	if err != nil || len(gs) == 0 || gs[len(gs)-1].Purpose != "pending" || gs[len(gs)-1].Height != res.Height {
		t.Fatalf("the pending grant on the ledger: %v %+v", err, gs)
	}
	return gs[len(gs)-1], frags
}

// oldKeyRefused checks that the ledger refuses a transaction of the retired key and that
// every node refuses a deposit of fragments it signed, a re-encryption request it signs
// (under an access request committed before) and an upload it signs: key_retired.
func (w *world) oldKeyRefused(oldID *identity.Identity, old *client.Session, pending *protocol.GrantState, frags *client.Fragments,
	shared client.Shared, req *protocol.TxResult) {
	t := w.t
	ctx := w.ctx
	if _, err := old.Submit(ctx, &protocol.Revoke{Grant: shared.Grant.ID}); !errors.Is(err, protocol.ErrKeyRetired) {
		t.Fatalf("the ledger took a transaction of the retired key: %v", err)
	}
	api := &client.API{}
	deps, err := api.Deposit(ctx, w.net.ChainID, pending.ID, pending.Height, frags, w.net.Nodes)
	if err == nil || len(deps) != len(w.net.Nodes) {
		t.Fatalf("deposits of the retired key: %v, %d results", err, len(deps))
	}
	for _, d := range deps {
		if !errors.Is(d.Err, protocol.ErrKeyRetired) {
			t.Fatalf("node %s: deposit signed by the retired key: %v, want key_retired", d.Node, d.Err)
		}
	}
	_, err = api.Gather(ctx, &client.Access{ChainID: w.net.ChainID, Grant: shared.Grant, Record: shared.Record,
		RequestTx: req.Hash, Height: req.Height}, oldID.Signer(), w.net.Nodes)
	var ge *client.GatherError
	if !errors.As(err, &ge) || len(ge.Nodes) != len(w.net.Nodes) {
		t.Fatalf("re-encryption for the retired key: %v", err)
	}
	for _, r := range ge.Nodes {
		if !errors.Is(r.Err, protocol.ErrKeyRetired) {
			t.Fatalf("node %s: re-encryption request signed by the retired key: %s %v, want key_retired", r.Node, r.Outcome, r.Err)
		}
	}
	blob := []byte("sealed bytes of a retired key")
	for _, n := range w.net.Nodes {
		if _, err := api.UploadBlob(ctx, n, w.net.ChainID, oldID.Signer(), bytes.NewReader(blob), int64(len(blob))); !errors.Is(err, protocol.ErrKeyRetired) {
			t.Fatalf("node %s: upload signed by the retired key: %v, want key_retired", n.Name, err)
		}
	}
}
