package node_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// With replication factor 2 in genesis, exactly the two nodes the
// placement names take the blob and report it, and in the end only they
// keep it.
func TestBlobReplicationFactor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{ChainID: "rr-blob-k2", Replication: 2, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Stop() })
	nodes := nw.Running()
	snap, err := nodes[0].App().Committed()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := snap.Nodes()
	snap.Release()
	if err != nil {
		t.Fatal(err)
	}
	owner := newPUser(t)
	rec := protocol.RecordID("rr-blob-k2", owner.pk, 0)
	placed := protocol.Placement(rec, reg, 2)
	isPlaced := map[int]bool{placed[0]: true, placed[1]: true}
	var away int
	for i := range reg {
		if !isPlaced[i] {
			away = i
		}
	}
	data := randomBlob(t)
	// Uploaded to a node the placement does not name: the two placed
	// nodes still fetch it from there.
	c, err := (&client.API{}).UploadBlob(ctx, reg[away], "rr-blob-k2", owner.id.Signer(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := owner.id.DelegatingKey(rec[:])
	capsule, _, err := umbral.Encrypt(dk.PublicKey(), []byte("file key"))
	if err != nil {
		t.Fatal(err)
	}
	body := &protocol.PutRecord{CID: []byte(c.String()), Size: uint64(len(data)), DelegatingKey: protocol.PubKeyOf(dk.PublicKey())}
	cb, _ := capsule.MarshalBinary()
	copy(body.Capsule[:], cb)
	tx := &protocol.Tx{ChainID: "rr-blob-k2", Sequence: 0, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: body}
	if err := tx.Sign(owner.id.Signer()); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].RPC().Submit(ctx, tx.Encode()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, func() bool {
		var r protocol.Record
		_, err := nodes[0].RPC().Query(ctx, "/record/"+rec.String(), &r)
		return err == nil && len(r.Holders) == 2 && r.Replicas == 2 &&
			isPlaced[r.Holders[0]] && isPlaced[r.Holders[1]]
	})
	// The node that took the upload drops its copy once both placed
	// nodes reported theirs.
	waitUntil(t, ctx, func() bool {
		has, _ := nodes[away].BlobStore().Has(ctx, c)
		return !has
	})
	for i, n := range nodes {
		if has, _ := n.BlobStore().Has(ctx, c); has != isPlaced[i] {
			t.Errorf("node %d holds the blob: %v, want %v", i, has, isPlaced[i])
		}
	}
}
