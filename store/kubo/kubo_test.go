package kubo_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/store/kubo"
	"github.com/resilientrecords/resilientrecords/store/kubo/kubotest"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/store/storetest"
)

// openStore opens a Store on the daemon, closed in t.Cleanup.
func openStore(t *testing.T, d *kubotest.Daemon, opts *kubo.Options) *kubo.Store {
	t.Helper()
	s, err := kubo.New(d.APIAddr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	repos := map[store.Store]string{}
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T, max int64) store.Store {
			d := kubotest.StartT(t, kubotest.Options{Offline: true})
			s := openStore(t, d, &kubo.Options{MaxSize: max, TempDir: t.TempDir()})
			repos[s] = d.Path()
			return s
		},
		CorruptBlock: func(t *testing.T, s store.Store, c cid.Cid) {
			path := storetest.BlockPath(filepath.Join(repos[s], "blocks"), c)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("corrupting block in the kubo repo: %v", err)
			}
			b[len(b)/2] ^= 0x40
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// TestCIDsMatchKubo compares local CIDs (what `rrec cid` prints) with the kubo binary's own
// `ipfs add --cid-version=1 --raw-leaves --only-hash` for a few files, including ones that are
// not golden vectors.
func TestCIDsMatchKubo(t *testing.T) {
	repo := kubotest.InitT(t, kubotest.Options{Offline: true})
	dir := t.TempDir()
	files := map[string][]byte{
		"empty":    nil,
		"one-byte": {42},
		"s256k":    storetest.KeystreamBytes(262144),
		"odd":      storetest.KeystreamBytes(3<<20 + 7),
		"text":     bytes.Repeat([]byte("patient record\n"), 50000),
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		want := repo.RunT(t, "add", "--cid-version=1", "--raw-leaves", "--only-hash", "-Q", path)
		got, _, err := local.CID(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != want {
			t.Errorf("%s: local CID %s, kubo %s", name, got, want)
		}
	}
}

// TestTwoDaemons shows replication: a blob put through node A is fetched over bitswap and
// pinned by node B once B is connected to A on loopback, and survives A deleting it.
func TestTwoDaemons(t *testing.T) {
	a, b := kubotest.StartT(t, kubotest.Options{}), kubotest.StartT(t, kubotest.Options{})
	ctx := context.Background()
	if err := b.Connect(ctx, a); err != nil {
		t.Fatal(err)
	}
	sa, sb := openStore(t, a, nil), openStore(t, b, nil)
	v := storetest.Vec("f10m")
	storetest.Put(t, sa, v)
	if ok, _ := sb.Has(ctx, v.CID); ok {
		t.Fatal("B has the blob before pinning it")
	}
	if err := sb.Pin(ctx, v.CID); err != nil {
		t.Fatalf("B.Pin: %v", err)
	}
	if err := sa.Delete(ctx, v.CID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := sa.Has(ctx, v.CID); ok {
		t.Error("A still has the blob after Delete")
	}
	storetest.CheckContent(t, sb, v.CID, v.Size)
}

// TestDeleteCollects checks in the kubo repo that Delete removes the blocks from disk.
func TestDeleteCollects(t *testing.T) {
	d := kubotest.StartT(t, kubotest.Options{Offline: true})
	s := openStore(t, d, nil)
	v := storetest.Vec("f1m")
	storetest.Put(t, s, v)
	blocks := filepath.Join(d.Path(), "blocks")
	if _, err := os.Stat(storetest.BlockPath(blocks, v.CID)); err != nil {
		t.Fatalf("root block not in the kubo repo: %v", err)
	}
	if err := s.Delete(context.Background(), v.CID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(storetest.BlockPath(blocks, v.CID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("root block still on disk after Delete: %v", err)
	}
}

// TestUnreachable needs no kubo: a store pointed at a closed port names the address it tried.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "/ip4/127.0.0.1/tcp/" + strings.TrimPrefix(l.Addr().String(), "127.0.0.1:")
	l.Close()
	s, err := kubo.New(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _, err = s.Put(ctx, strings.NewReader("hello"))
	if !errors.Is(err, kubo.ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Errorf("Put error = %v; want ErrUnreachable naming %s", err, addr)
	}
	if _, err := s.Get(ctx, storetest.Vec("f1m").CID); !errors.Is(err, kubo.ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Errorf("Get error = %v; want ErrUnreachable naming %s", err, addr)
	}
	if _, err := kubo.NewFromRepo(t.TempDir(), nil); !errors.Is(err, kubo.ErrUnreachable) {
		t.Errorf("NewFromRepo(empty dir) error = %v; want ErrUnreachable", err)
	}
}
