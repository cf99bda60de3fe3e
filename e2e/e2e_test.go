// Package e2e runs the product's whole story through the Go SDK against a
// real local network: put, grant, get, revoke, refused get, audit; then the
// same with a node down.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

const fileSize = 20 << 20

type world struct {
	t   *testing.T
	ctx context.Context
	nw  *node.LocalNet
	net *protocol.Network
}

func startWorld(t *testing.T, kuboAPIs ...string) *world {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{Validators: 4, ChainID: "rr-e2e", KuboAPIs: kuboAPIs, Admission: &node.LocalAdmission})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Stop() })
	desc, err := nw.Description()
	if err != nil {
		t.Fatal(err)
	}
	// The CLI hands the network over as a file: go through one.
	path := filepath.Join(t.TempDir(), "network.json")
	if err := node.WriteNetworkFile(path, desc); err != nil {
		t.Fatal(err)
	}
	if desc, err = protocol.LoadNetwork(path); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, nw: nw, net: desc}
}

func (w *world) session(id *identity.Identity) *client.Session {
	s, err := client.New(w.net, id, &client.Options{TempDir: w.t.TempDir()})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func newIdentity(t *testing.T) *identity.Identity {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// story runs put → grant → get → revoke → refused get → audit once.
func (w *world) story(owner, reader *client.Session, seed uint64) {
	t := w.t
	t.Helper()
	data := make([]byte, fileSize)
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	_, _ = rng.Read(data)
	want := sha256.Sum256(data)

	var last client.Progress
	rec, err := owner.Put(w.ctx, bytes.NewReader(data), int64(len(data)),
		envelope.Metadata{Name: "scan.dcm", MediaType: "application/dicom"},
		client.WithProgress(func(p client.Progress) { last = p }))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if last.Phase != "upload" || last.Done != last.Total || last.Total <= fileSize {
		t.Fatalf("last progress %+v, want the whole upload", last)
	}

	g, err := owner.Grant(w.ctx, rec, reader.Identity(), client.GrantOptions{Duration: time.Hour, Purpose: "care"})
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	if up := len(w.nw.Running()); g.Accepted != up || len(g.Deposits) != w.nw.Size() {
		t.Fatalf("grant: %d of %d deposits accepted with %d nodes up", g.Accepted, len(g.Deposits), up)
	}

	var out bytes.Buffer
	meta, err := reader.Get(w.ctx, rec, &out, client.GetOptions{Purpose: "care"},
		client.WithProgress(func(p client.Progress) { last = p }))
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if last.Phase != "open" || last.Done != fileSize || last.Total != fileSize {
		t.Fatalf("last progress %+v, want the whole plaintext", last)
	}
	if sha256.Sum256(out.Bytes()) != want || meta.Name != "scan.dcm" {
		t.Fatalf("get: plaintext or metadata differs (%d bytes, %q)", out.Len(), meta.Name)
	}
	sh, err := reader.Shared(w.ctx)
	if err != nil || len(sh) == 0 || sh[len(sh)-1].Grant.ID != g.Grant || sh[len(sh)-1].Err != nil {
		t.Fatalf("shared: %v %+v", err, sh)
	}

	rv, err := owner.Revoke(w.ctx, g.Grant)
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	_, err = reader.Get(w.ctx, rec, io.Discard, client.GetOptions{})
	if !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("get after revoke: %v, want ErrRevoked", err)
	}
	// Every grant node that is up reports on the ledger that it destroyed its fragment.
	up := len(w.nw.Running())
	wctx, cancel := context.WithTimeout(w.ctx, 2*time.Minute)
	defer cancel()
	if rv, err = owner.WaitDestroyed(wctx, g.Grant, min(up, rv.Nodes)); err != nil || rv.Destroyed < min(up, rv.Nodes) {
		t.Fatalf("%+v, %v: want every one of the %d nodes up to confirm destroying its fragment", rv, err, up)
	}

	// The owner reads with its own key, no request.
	out.Reset()
	if _, err := owner.Get(w.ctx, rec, &out, client.GetOptions{}); err != nil || sha256.Sum256(out.Bytes()) != want {
		t.Fatalf("owner get: %v", err)
	}

	log, err := owner.Audit(w.ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	// Nodes add a "holds" entry as each stores the blob, and a "destroyed" entry as each
	// deletes its fragment after the revocation; the owner's and the recipient's actions
	// come in order around them.
	var kinds []string
	holds, destroyed := 0, 0
	for _, e := range log {
		if e.Height <= 0 || e.Time <= 0 {
			t.Fatalf("audit entry without height or time: %+v", e)
		}
		switch e.Kind {
		case protocol.AuditHolds:
			holds++
			continue
		case protocol.AuditDestroyed:
			destroyed++
			continue
		}
		kinds = append(kinds, e.Kind)
	}
	wantKinds := []string{protocol.AuditPut, protocol.AuditGrant, protocol.AuditRequest, protocol.AuditRevoke}
	if strings.Join(kinds, " ") != strings.Join(wantKinds, " ") || holds < 1 || destroyed < rv.Destroyed {
		t.Fatalf("audit kinds %v with %d holds and %d destroyed, want %v, holds and %d destroyed", kinds, holds, destroyed, wantKinds, rv.Destroyed)
	}
	// Leave no HoldsBlob in flight when the test stops nodes (see waitHeld).
	w.waitHeld(owner, rec)
}

func TestStory(t *testing.T) {
	w := startWorld(t)
	aliceID, bobID := newIdentity(t), newIdentity(t)
	alice, bob := w.session(aliceID), w.session(bobID)

	t.Run("all nodes", func(t *testing.T) { w.t = t; w.story(alice, bob, 1) })

	// Carol was never granted anything.
	carol := w.session(newIdentity(t))
	recs, err := alice.Records(w.ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %v %d", err, len(recs))
	}
	if _, err := carol.Get(w.ctx, recs[0].ID, io.Discard, client.GetOptions{}); !errors.Is(err, client.ErrNotGranted) {
		t.Fatalf("get without grant: %v, want ErrNotGranted", err)
	}

	t.Run("refusals and races", func(t *testing.T) { w.t = t; w.refusals(aliceID, bobID, alice, bob) })

	t.Run("one node down", func(t *testing.T) {
		// Node 0 is the one the clients asked first so far: they must move
		// on. Stop it once it reported holding every live blob, so that no
		// HoldsBlob of it is in flight (a node stopped with one waiting
		// panics in node/blobs.go's broadcastBackground: see the report).
		recs, err := alice.Records(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Erased == nil {
				w.waitHeld(alice, r.ID)
			}
		}
		if err := w.nw.StopNode(0); err != nil {
			t.Fatal(err)
		}
		w.t = t
		w.story(alice, bob, 2)
	})

	// With node 0 still down, node 1 stops too: no quorum. A revoke sent
	// then is taken by a node's mempool but cannot commit; the SDK looks
	// for it on the nodes and returns once a quorum is back and it is in a
	// block.
	t.Run("quorum lost during a revoke", func(t *testing.T) {
		small := []byte("quorum")
		rec, err := alice.Put(w.ctx, bytes.NewReader(small), int64(len(small)), envelope.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		g, err := alice.Grant(w.ctx, rec, bob.Identity(), client.GrantOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w.t = t
		w.waitHeld(alice, rec)
		if err := w.nw.StopNode(1); err != nil {
			t.Fatal(err)
		}
		back := make(chan error, 1)
		go func() {
			time.Sleep(protocol.CommitTimeout + 2*time.Second)
			back <- w.nw.RestartNode(1)
		}()
		if _, err := alice.Revoke(w.ctx, g.Grant); err != nil {
			t.Fatalf("revoke across the outage: %v", err)
		}
		if err := <-back; err != nil {
			t.Fatal(err)
		}
		st, err := alice.GrantState(w.ctx, g.Grant)
		if err != nil || !st.Revoked {
			t.Fatalf("grant after revoke: %+v, %v", st, err)
		}
		if _, err := bob.Get(w.ctx, rec, io.Discard, client.GetOptions{}); !errors.Is(err, client.ErrRevoked) {
			t.Fatalf("get: %v, want ErrRevoked", err)
		}
	})
}

// refusals covers the other reasons a get is refused, and two clients of
// one identity putting at once.
func (w *world) refusals(aliceID, bobID *identity.Identity, alice, bob *client.Session) {
	t := w.t
	small := []byte("a small record")
	put := func(s *client.Session) protocol.ID {
		id, err := s.Put(w.ctx, bytes.NewReader(small), int64(len(small)), envelope.Metadata{Name: "note.txt"})
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		return id
	}

	// Expiry by block time.
	rec := put(alice)
	g, err := alice.Grant(w.ctx, rec, bob.Identity(), client.GrantOptions{Duration: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err := alice.GrantState(w.ctx, g.Grant)
	if err != nil {
		t.Fatal(err)
	}
	// Grants end by block time, which trails the wall clock.
	for deadline := time.Now().Add(15 * time.Second); ; {
		ls, err := bob.Status(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ls.Time >= st.NotAfter {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("block time did not pass the grant's end")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := bob.Get(w.ctx, rec, io.Discard, client.GetOptions{}); !errors.Is(err, client.ErrExpired) {
		t.Fatalf("get after expiry: %v, want ErrExpired", err)
	}

	// Erasure: the recipient and the owner are both told.
	rec = put(alice)
	if _, err := alice.Grant(w.ctx, rec, bob.Identity(), client.GrantOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitHeld(alice, rec)
	if err := alice.Erase(w.ctx, rec); err != nil {
		t.Fatal(err)
	}
	for who, s := range map[string]*client.Session{"recipient": bob, "owner": alice} {
		if _, err := s.Get(w.ctx, rec, io.Discard, client.GetOptions{}); !errors.Is(err, client.ErrErased) {
			t.Fatalf("%s get after erase: %v, want ErrErased", who, err)
		}
	}
	// Nobody can keep an erased blob alive by naming it in a record of theirs: the ledger
	// refuses a record naming another account's blob, and every node keeps refusing to
	// serve it.
	erased, err := alice.Record(w.ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	squat := &protocol.PutRecord{CID: erased.CID, Size: erased.Size, DelegatingKey: erased.DelegatingKey}
	squat.Capsule, squat.DelegatingKey = protocoltest.Capsule()
	if _, err := bob.Submit(w.ctx, squat); !errors.Is(err, protocol.ErrAlreadyExists) {
		t.Fatalf("a record naming an erased record's blob: %v, want already_exists", err)
	}
	c, err := cid.Decode(erased.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	// A node that has not committed the erasure yet still serves it; every node then refuses.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := (&client.API{}).FetchBlob(w.ctx, w.net.Nodes, c, io.Discard)
		if errors.Is(err, client.ErrBlobErased) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fetching the erased blob: %v, want ErrBlobErased", err)
		}
	}

	// A recipient cannot revoke the owner's grant.
	rec = put(alice)
	g, err = alice.Grant(w.ctx, rec, bob.Identity(), client.GrantOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Revoke(w.ctx, g.Grant); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("revoke by the recipient: %v, want ErrUnauthorized", err)
	}

	// A long-lived session keeps working after refused transactions: one refused before
	// its block (bob may not revoke), and one of its identity that failed in its block (it
	// expired between CheckTx and the block), which spends the sequence.
	if _, err := bob.Revoke(w.ctx, g.Grant); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("second refused revoke: %v", err)
	}
	w.failInBlock(bobID, g.Grant)
	if _, err := bob.Get(w.ctx, rec, io.Discard, client.GetOptions{Purpose: "after refusals"}); err != nil {
		t.Fatalf("bob's session after a refused and a failed transaction: %v", err)
	}
	if _, err := alice.Revoke(w.ctx, g.Grant); err != nil {
		t.Fatalf("alice's session after bob's failures: %v", err)
	}

	// Two clients of one identity put at once: the one that loses the
	// sequence seals again under the next record id.
	twin, err := client.New(w.net, aliceID, &client.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ids := make(chan protocol.ID, 2)
	errs := make(chan error, 2)
	for _, s := range []*client.Session{alice, twin} {
		go func() {
			id, err := s.Put(w.ctx, bytes.NewReader(small), int64(len(small)), envelope.Metadata{})
			ids <- id
			errs <- err
		}()
	}
	a, b := <-ids, <-ids
	if err := errors.Join(<-errs, <-errs); err != nil || a == b {
		t.Fatalf("concurrent puts: %v (ids %s, %s)", err, a, b)
	}
	for _, id := range []protocol.ID{a, b} {
		var out bytes.Buffer
		if _, err := twin.Get(w.ctx, id, &out, client.GetOptions{}); err != nil || !bytes.Equal(out.Bytes(), small) {
			t.Fatalf("get %s: %v", id, err)
		}
	}
}

// failInBlock commits, as identity who, a transaction that passes CheckTx but fails in its
// block: a RequestAccess of grant that expires just after the last block's time (block times
// strictly increase). The ledger spends its sequence; the next transaction of who's
// sessions must carry the one after.
func (w *world) failInBlock(who *identity.Identity, grant protocol.ID) {
	t := w.t
	t.Helper()
	n := w.nw.Running()[0]
	me := protocol.PubKeyOf(who.Public().Signing)
	var seq uint64
	// A block may commit between reading the last block time and CheckTx: then CheckTx
	// refuses the transaction as expired already; or it may miss the next block, and the
	// mempool's recheck after that block drops it. Either way it is made again.
	for attempt := 0; ; attempt++ {
		snap, err := n.App().Committed()
		if err != nil {
			t.Fatal(err)
		}
		seq, err = snap.Sequence(me)
		last := snap.Time
		snap.Release()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := protocol.Sealed(who.Signer(), w.net.ChainID, seq, time.Unix(0, last+1), &protocol.RequestAccess{Grant: grant, Purpose: "too late"})
		if err != nil {
			t.Fatal(err)
		}
		actx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
		c, err := n.RPC().Submit(actx, raw)
		cancel()
		if c == nil && (errors.Is(err, protocol.ErrTxExpired) || errors.Is(err, context.DeadlineExceeded)) && attempt < 10 {
			continue
		}
		if !errors.Is(err, protocol.ErrTxExpired) || c == nil {
			t.Fatalf("a transaction expiring before its block: %+v, %v; want it in the block, failed as tx_expired", c, err)
		}
		break
	}
	snap, err := n.App().Committed()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	if after, _ := snap.Sequence(me); after != seq+1 {
		t.Fatalf("sequence %d after the failed transaction at %d: a failure in a block spends it", after, seq)
	}
}

// waitHeld waits until every running node reported holding the record's
// blob.
func (w *world) waitHeld(s *client.Session, id protocol.ID) {
	w.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		r, err := s.Record(w.ctx, id)
		if err != nil {
			w.t.Fatal(err)
		}
		if len(r.Holders) >= len(w.nw.Running()) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("record %s held by %v after 30 s", id, r.Holders)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
