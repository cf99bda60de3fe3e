package node_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/umbral"
)

func freeLoopbackPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// With replication factor 2 in genesis, exactly the two nodes the
// placement names take the blob and report it, and in the end only they
// keep it.
func TestBlobReplicationFactor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hosts := make([]node.HostSpec, 4)
	for i := range hosts {
		hosts[i] = node.HostSpec{Name: fmt.Sprintf("node%d", i), Host: "127.0.0.1", Listen: "127.0.0.1",
			P2PPort: freeLoopbackPort(t), APIAddr: fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))}
	}
	homes, err := node.GenerateNetwork(t.TempDir(), node.NetworkSpec{ChainID: "rr-blob-k2", Nodes: hosts,
		Timing: node.LoopbackTiming(), Replication: 2})
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*node.Node, len(homes))
	for i, h := range homes {
		n, err := node.Open(h, node.Options{Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Stop() })
		nodes[i] = n
	}
	waitUntil(t, ctx, func() bool {
		for _, n := range nodes {
			if h, _, _ := n.App().LastCommit(); h < 1 {
				return false
			}
		}
		return true
	})
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
	rec := ledger.RecordID("rr-blob-k2", owner.pk, 0)
	placed := ledger.Placement(rec, reg, 2)
	isPlaced := map[int]bool{placed[0].Index: true, placed[1].Index: true}
	var away int
	for i := range reg {
		if !isPlaced[i] {
			away = i
		}
	}
	data := randomBlob(t)
	apis := client.NodesFromRegistry(reg)
	// Uploaded to a node the placement does not name: the two placed
	// nodes still fetch it from there.
	c, err := (&client.Client{}).UploadBlob(ctx, apis[away], "rr-blob-k2", owner.id.Signer(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := owner.id.DelegatingKey(rec[:])
	capsule, _, err := umbral.Encrypt(dk.PublicKey(), []byte("file key"))
	if err != nil {
		t.Fatal(err)
	}
	body := &ledger.PutRecord{CID: []byte(c.String()), Size: uint64(len(data)), DelegatingKey: ledger.PubKeyOf(dk.PublicKey())}
	cb, _ := capsule.MarshalBinary()
	copy(body.Capsule[:], cb)
	tx := &ledger.Tx{ChainID: "rr-blob-k2", Sequence: 0, Body: body}
	if err := tx.Sign(owner.id.Signer()); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].Client().Submit(ctx, tx.Encode()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, func() bool {
		var r ledger.Record
		_, err := nodes[0].Client().Query(ctx, "/record/"+rec.String(), &r)
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
