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

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
)

const fileSize = 20 << 20

type world struct {
	t   *testing.T
	ctx context.Context
	nw  *node.Network
	net *client.Network
}

func startWorld(t *testing.T) *world {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	nw, err := node.StartNetwork(ctx, t.TempDir(), node.NetworkOptions{Validators: 4, ChainID: "rr-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Stop() })
	desc, err := client.NetworkOf(nw)
	if err != nil {
		t.Fatal(err)
	}
	// The CLI hands the network over as a file: go through one.
	path := filepath.Join(t.TempDir(), "network.json")
	if err := desc.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if desc, err = client.LoadNetwork(path); err != nil {
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
	if g.Accepted < 3 {
		t.Fatalf("grant: %d deposits accepted", g.Accepted)
	}

	var out bytes.Buffer
	meta, err := reader.Get(w.ctx, rec, &out, client.GetOptions{Purpose: "care"})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if sha256.Sum256(out.Bytes()) != want || meta.Name != "scan.dcm" {
		t.Fatalf("get: plaintext or metadata differs (%d bytes, %q)", out.Len(), meta.Name)
	}
	sh, err := reader.Shared(w.ctx)
	if err != nil || len(sh) == 0 || sh[len(sh)-1].Grant.ID != g.Grant || sh[len(sh)-1].Err != nil {
		t.Fatalf("shared: %v %+v", err, sh)
	}

	if err := owner.Revoke(w.ctx, g.Grant); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	_, err = reader.Get(w.ctx, rec, io.Discard, client.GetOptions{})
	if !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("get after revoke: %v, want ErrRevoked", err)
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
	// Nodes add a "holds" entry as each stores the blob; the owner's and
	// the recipient's actions come in order around them.
	var kinds []string
	holds := 0
	for _, e := range log {
		if e.Height <= 0 || e.Time <= 0 {
			t.Fatalf("audit entry without height or time: %+v", e)
		}
		if e.Kind == ledger.AuditHolds {
			holds++
			continue
		}
		kinds = append(kinds, e.Kind)
	}
	wantKinds := []string{ledger.AuditPut, ledger.AuditGrant, ledger.AuditRequest, ledger.AuditRevoke}
	if strings.Join(kinds, " ") != strings.Join(wantKinds, " ") || holds < 1 {
		t.Fatalf("audit kinds %v with %d holds, want %v and holds", kinds, holds, wantKinds)
	}
}

func TestStory(t *testing.T) {
	w := startWorld(t)
	alice, bob := w.session(newIdentity(t)), w.session(newIdentity(t))

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

	t.Run("one node down", func(t *testing.T) {
		// Node 0 is the one the clients asked first so far: they must move on.
		if err := w.nw.StopNode(0); err != nil {
			t.Fatal(err)
		}
		w.t = t
		w.story(alice, bob, 2)
	})
}
