package kubotest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestDaemons starts two online daemons, connects them, moves a block over bitswap, and checks
// that Stop reaps the process and may be called again.
func TestDaemons(t *testing.T) {
	ds := StartAllT(t, 2, Options{MaxProcs: 1})
	a, b := ds[0], ds[1]
	if a.APIAddr() == "" || a.APIAddr() == b.APIAddr() {
		t.Fatalf("API addresses %q, %q", a.APIAddr(), b.APIAddr())
	}
	ctx := t.Context()
	if err := ConnectAll(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("kubotest"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := cid.Decode(a.RunT(t, "add", "-Q", "--cid-version=1", "--raw-leaves", path))
	if err != nil {
		t.Fatal(err)
	}
	if !a.HasBlock(ctx, c) || b.HasBlock(ctx, c) {
		t.Fatalf("before pinning: a has %v, b has %v", a.HasBlock(ctx, c), b.HasBlock(ctx, c))
	}
	b.RunT(t, "pin", "add", c.String())
	if !b.HasBlock(ctx, c) {
		t.Fatal("b lacks the block it pinned")
	}
	a.Stop()
	if a.cmd.ProcessState == nil {
		t.Fatal("Stop returned before the daemon was reaped")
	}
	a.Stop()
}

// TestOffline checks an offline daemon has no swarm.
func TestOffline(t *testing.T) {
	d := StartT(t, Options{Offline: true})
	if a, err := d.SwarmAddr(t.Context()); err == nil {
		t.Fatalf("offline daemon has swarm address %s", a)
	}
}
