package e2e

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/internal/liar"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestLyingNode puts a lying node in front of node 0 of a real 4-node network (f = 1): a proxy
// that forwards to the node and rewrites its answers, signing them with the node's own key.
// The clients' network.json names the liar in node 0's place, first, so that every fresh
// session asks it first. For each lie the SDK gets the truth from the other nodes, or fails;
// never a wrong success, never a grant below the threshold.
func TestLyingNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	w := startWorld(t)
	sk, err := node.LoadProxyKey(w.nw.Homes()[0])
	if err != nil {
		t.Fatal(err)
	}
	honest := w.net.Nodes[0].API
	lr, err := liar.New(honest, sk, w.net.ChainID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lr.Close() })
	lying := *w.net
	lying.Nodes = slices.Clone(w.net.Nodes)
	lying.Nodes[0].API = lr.URL()
	aliceID, bobID := newIdentity(t), newIdentity(t)
	// A fresh session asks the liar first (the SDK starts with the first node of the file).
	session := func(id *identity.Identity) *client.Session {
		s, err := client.New(&lying, id, &client.Options{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	blamed := func(t *testing.T, s *client.Session, what string) {
		t.Helper()
		for _, l := range s.Lies() {
			if l.Node == "node0" && strings.Contains(l.Error(), what) {
				return
			}
		}
		t.Fatalf("the session did not catch node0 lying (%q)", what)
	}
	// the truth, as node i has committed it
	grantOn := func(t *testing.T, i int, id protocol.ID) *protocol.GrantState {
		t.Helper()
		snap, err := w.nw.Node(i).App().Committed()
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Release()
		g, err := snap.Grant(id)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}

	data := []byte("a record a lying node would like to keep")
	put := func(t *testing.T, s *client.Session) protocol.ID {
		t.Helper()
		rec, err := s.Put(w.ctx, bytes.NewReader(data), int64(len(data)), envelope.Metadata{Name: "note.txt"})
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		return rec
	}

	t.Run("registry of one", func(t *testing.T) {
		lr.Tell(liar.RegistryOfOne)
		alice := session(aliceID)
		rec := put(t, alice)
		g, err := alice.Grant(w.ctx, rec, bobID.Public(), client.GrantOptions{Purpose: "care"})
		if err != nil {
			t.Fatal(err)
		}
		st := grantOn(t, 1, g.Grant)
		if len(st.Nodes) != 4 || st.Threshold != 3 {
			t.Fatalf("grant on %d nodes with threshold %d: the registry came from a node, not network.json", len(st.Nodes), st.Threshold)
		}
	})

	// everywhere waits until cond holds in every node's committed state: a commit is
	// confirmed by f+1 nodes, and a node a block behind would answer a fresh session's first
	// read differently, sending its transaction to another node than the liar.
	everywhere := func(t *testing.T, what string, cond func(*ledger.Snapshot) bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			all := true
			for _, n := range w.nw.Running() {
				snap, err := n.App().Committed()
				if err != nil {
					t.Fatal(err)
				}
				all = all && cond(snap)
				snap.Release()
			}
			if all {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 30 s, not every node has %s", what)
			}
		}
	}
	hasRecord := func(id protocol.ID) func(*ledger.Snapshot) bool {
		return func(snap *ledger.Snapshot) bool { _, err := snap.Record(id); return err == nil }
	}

	t.Run("swallowed put grant revoke erase", func(t *testing.T) {
		lr.Tell(liar.Swallow)
		rec := put(t, session(aliceID))
		everywhere(t, "the record", hasRecord(rec))
		alice := session(aliceID)
		g, err := alice.Grant(w.ctx, rec, bobID.Public(), client.GrantOptions{Purpose: "care"})
		if err != nil {
			t.Fatalf("grant: %v", err)
		}
		blamed(t, alice, "no other node confirms")
		lr.Tell()
		var got bytes.Buffer
		if _, err := session(bobID).Get(w.ctx, rec, &got, client.GetOptions{}); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("get before revoke: %v", err)
		}
		lr.Tell(liar.Swallow)
		alice = session(aliceID)
		if _, err := alice.Revoke(w.ctx, g.Grant); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		blamed(t, alice, "no other node confirms")
		everywhere(t, "the revocation", func(snap *ledger.Snapshot) bool {
			st, err := snap.Grant(g.Grant)
			return err == nil && st.Revoked
		})
		if _, err := session(bobID).Get(w.ctx, rec, io.Discard, client.GetOptions{}); !errors.Is(err, client.ErrRevoked) {
			t.Fatalf("get after revoke: %v, want ErrRevoked", err)
		}
		alice = session(aliceID)
		if err := alice.Erase(w.ctx, rec); err != nil {
			t.Fatalf("erase: %v", err)
		}
		blamed(t, alice, "no other node confirms")
		everywhere(t, "the erasure", func(snap *ledger.Snapshot) bool { ts, err := snap.Tombstone(rec); return err == nil && ts != nil })
		if r, err := session(bobID).Record(w.ctx, rec); err != nil || r.Erased == nil {
			t.Fatalf("record after erase: %+v, %v", r, err)
		}
	})

	t.Run("made-up success", func(t *testing.T) {
		lr.Tell()
		rec := put(t, session(aliceID))
		g, err := session(aliceID).Grant(w.ctx, rec, bobID.Public(), client.GrantOptions{Purpose: "care"})
		if err != nil {
			t.Fatal(err)
		}
		lr.Tell(liar.Succeed)
		bob := session(bobID)
		// bob may not revoke alice's grant: every honest node refuses; the liar says done
		if _, err := bob.Revoke(w.ctx, g.Grant); !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("bob's revoke of alice's grant: %v, want ErrUnauthorized", err)
		}
		blamed(t, bob, "no other node confirms")
		if st := grantOn(t, 1, g.Grant); st.Revoked {
			t.Fatal("the grant was revoked")
		}
	})

	t.Run("fabricated grant and request index", func(t *testing.T) {
		lr.Tell()
		rec := put(t, session(aliceID))
		if _, err := session(aliceID).Grant(w.ctx, rec, bobID.Public(), client.GrantOptions{Purpose: "care"}); err != nil {
			t.Fatal(err)
		}
		lr.Tell(liar.FabricateGrant, liar.FakeRequest)
		bob := session(bobID)
		shared, err := bob.Shared(w.ctx)
		if err != nil {
			t.Fatalf("shared: %v", err)
		}
		for _, sh := range shared {
			if sh.Grant.Threshold < 2 || len(sh.Grant.Nodes) < 3 {
				t.Fatalf("a grant below the threshold reached the recipient: %+v", sh.Grant)
			}
			if _, err := session(bobID).Record(w.ctx, sh.Grant.Record); err != nil {
				t.Fatalf("a grant of a record that does not exist: %v", err)
			}
		}
		var got bytes.Buffer
		if _, err := session(bobID).Get(w.ctx, rec, &got, client.GetOptions{}); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("get with a fake request index served: %v", err)
		}
		t.Logf("the liar rewrote %d answers so far", lr.Told())
	})

	t.Run("audit page with a read removed", func(t *testing.T) {
		lr.Tell()
		rec := put(t, session(aliceID))
		if _, err := session(aliceID).Grant(w.ctx, rec, bobID.Public(), client.GrantOptions{Purpose: "care"}); err != nil {
			t.Fatal(err)
		}
		if _, err := session(bobID).Get(w.ctx, rec, io.Discard, client.GetOptions{Purpose: "second opinion"}); err != nil {
			t.Fatal(err)
		}
		lr.Tell(liar.HideReads)
		log, err := session(aliceID).Audit(w.ctx, rec)
		if err != nil {
			t.Fatalf("audit: %v", err)
		}
		if !slices.ContainsFunc(log, func(e protocol.AuditEntry) bool {
			return e.Kind == protocol.AuditRequest && e.Purpose == "second opinion"
		}) {
			t.Fatalf("the read is missing from the audit log: %+v", log)
		}
	})

	t.Run("blob of its choosing", func(t *testing.T) {
		lr.Tell()
		alice := session(aliceID)
		rec := put(t, alice)
		if _, err := alice.Grant(w.ctx, rec, bobID.Public(), client.GrantOptions{Purpose: "care"}); err != nil {
			t.Fatal(err)
		}
		w.t = t
		w.waitHeld(alice, rec) // node 0 holds it, and is asked first
		lr.Tell(liar.WrongBlob)
		bob := session(bobID)
		var got bytes.Buffer
		if _, err := bob.Get(w.ctx, rec, &got, client.GetOptions{}); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("get with a node serving other bytes first: %v", err)
		}
		blamed(t, bob, "do not have its CID")
	})

	// Nodes a block behind are honest; but f+1 of them answering not_found right after a
	// Put must not make the session's own record vanish.
	t.Run("read after write with f+1 nodes behind", func(t *testing.T) {
		lr.Tell(liar.Behind)
		before := lr.Told()
		sk1, err := node.LoadProxyKey(w.nw.Homes()[1])
		if err != nil {
			t.Fatal(err)
		}
		lr1, err := liar.New(w.net.Nodes[1].API, sk1, w.net.ChainID)
		if err != nil {
			t.Fatal(err)
		}
		defer lr1.Close()
		lr1.Tell(liar.Behind)
		behind := lying
		behind.Nodes = slices.Clone(lying.Nodes)
		behind.Nodes[1].API = lr1.URL()
		alice, err := client.New(&behind, aliceID, &client.Options{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		rec := put(t, alice)
		got, err := alice.Record(w.ctx, rec)
		if err != nil || got.ID != rec {
			t.Fatalf("record right after put, nodes 0 and 1 behind: %v", err)
		}
		if lr.Told() == before || lr1.Told() == 0 {
			t.Fatal("the nodes held behind were never asked")
		}
	})

	t.Run("stale height", func(t *testing.T) {
		lr.Tell(liar.Stale)
		rec := put(t, session(aliceID))
		g, err := session(aliceID).Grant(w.ctx, rec, bobID.Public(), client.GrantOptions{Purpose: "care"})
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := session(bobID).Get(w.ctx, rec, &got, client.GetOptions{}); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("get: %v", err)
		}
		if _, err := session(aliceID).Revoke(w.ctx, g.Grant); err != nil {
			t.Fatal(err)
		}
		if _, err := session(bobID).Get(w.ctx, rec, io.Discard, client.GetOptions{}); !errors.Is(err, client.ErrRevoked) {
			t.Fatalf("get after revoke with a stale node first: %v, want ErrRevoked", err)
		}
	})
}
