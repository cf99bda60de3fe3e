package node_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/kubo"
	"github.com/resilientrecords/resilientrecords/store/kubo/kubotest"
)

// Nodes 0 and 1 keep blobs in their own kubo daemons, connected to each
// other; nodes 2 and 3 use embedded stores. Node 1 takes its replica by
// pinning (bitswap from node 0's daemon); nodes 2 and 3 by CAR over HTTP.
func TestBlobNetworkKubo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network and two kubo daemons")
	}
	// Loopback only, routing off: the daemons find each other only through the connect.
	ds := kubotest.StartAllT(t, 2, kubotest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := ds[1].Connect(ctx, ds[0]); err != nil {
		t.Fatal(err)
	}
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{ChainID: "rr-blob-kubo", Logger: testLogger(),
		KuboAPIs: []string{ds[0].APIAddr(), ds[1].APIAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Stop() })
	p := &pnet{t: t, ctx: ctx, nw: nw, chain: nw.ChainID()}
	reg, err := p.snapshot().Nodes()
	if err != nil {
		t.Fatal(err)
	}
	p.nodes = reg
	if _, ok := nw.Node(0).BlobStore().(*kubo.Store); !ok {
		t.Fatal("node 0 does not use its kubo daemon")
	}
	owner, bob := newPUser(t), newPUser(t)
	data := randomBlob(t)
	leaves := make([]cid.Cid, 0, 3)
	for _, ch := range chunksOf(data) {
		c, _, err := cidOf(ch)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, c)
	}
	c := p.upload(owner, 0, data)
	rec := p.putBlob(owner, c, len(data))
	p.waitHeld([]int{0, 1, 2, 3}, c, data)
	p.waitHolders(rec.id, 4)
	for _, d := range ds {
		for _, l := range leaves {
			if !d.HasBlock(t.Context(), l) {
				t.Fatalf("daemon %s lacks leaf %s", d.Path(), l)
			}
		}
	}
	var got bytes.Buffer
	if err := (&client.API{}).FetchBlob(ctx, p.nodes[1:2], c, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("fetch from the kubo-backed node 1: %v", err)
	}

	// Node 1's daemon loses the blob while the node is down; it repins on start.
	if err := nw.StopNode(1); err != nil {
		t.Fatal(err)
	}
	ds[1].RunT(t, "pin", "rm", c.String())
	ds[1].RunT(t, "repo", "gc")
	if ds[1].HasBlock(t.Context(), leaves[0]) {
		t.Fatal("gc left the leaf")
	}
	if err := nw.RestartNode(1); err != nil {
		t.Fatal(err)
	}
	p.waitHeld([]int{1}, c, data)

	g := p.grant(owner, rec, bob, time.Time{})
	if _, err := p.deposit(g); err != nil {
		t.Fatal(err)
	}
	p.commit(owner, &protocol.EraseRecord{Record: rec.id})
	waitGone(t, nw, g.id)
	waitUntil(t, ctx, func() bool {
		for i := range 4 {
			if has, _ := nw.Node(i).BlobStore().Has(ctx, c); has {
				return false
			}
		}
		for _, d := range ds {
			for _, l := range leaves {
				if d.HasBlock(t.Context(), l) {
					return false
				}
			}
		}
		return true
	})
	if err := (&client.API{}).FetchBlob(ctx, p.nodes, c, io.Discard); !errors.Is(err, client.ErrBlobErased) {
		t.Fatalf("fetch after erase: %v", err)
	}
	var ts protocol.Tombstone
	if _, err := nw.Node(2).RPC().Query(ctx, "/tombstone/"+rec.id.String(), &ts); err != nil || string(ts.CID) != c.String() {
		t.Fatalf("tombstone: %+v, %v", ts, err)
	}
}
