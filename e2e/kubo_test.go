package e2e

import (
	"testing"

	"github.com/resilientrecords/resilientrecords/store/kubo"
	"github.com/resilientrecords/resilientrecords/store/kubo/kubotest"
)

// TestStoryKubo: the whole story with every node's blob store a kubo daemon of its own, the
// daemons connected to each other (loopback only, routing off: they find peers only
// through the connects; GOMAXPROCS 1 each, as four of them share the machine with the
// nodes).
func TestStoryKubo(t *testing.T) {
	ds := kubotest.StartAllT(t, 4, kubotest.Options{MaxProcs: 1})
	if err := kubotest.ConnectAll(t.Context(), ds...); err != nil {
		t.Fatal(err)
	}
	var apis []string
	for _, d := range ds {
		apis = append(apis, d.APIAddr())
	}
	w := startWorld(t, apis...)
	for i := range ds {
		if _, ok := w.nw.Node(i).BlobStore().(*kubo.Store); !ok {
			t.Fatalf("node %d does not keep blobs in its kubo daemon", i)
		}
	}
	alice, bob := w.session(newIdentity(t)), w.session(newIdentity(t))
	w.story(alice, bob, 3)
}
