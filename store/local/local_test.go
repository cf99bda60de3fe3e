package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
	"github.com/multiformats/go-multihash"

	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/store/storetest"
)

func open(t *testing.T, dir string, max int64) *local.Store {
	t.Helper()
	s, err := local.Open(dir, &local.Options{MaxSize: max})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func blocksDir(s store.Store) string { return dirs[s] }

var dirs = map[store.Store]string{}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T, max int64) store.Store {
			dir := t.TempDir()
			s := open(t, dir, max)
			dirs[s] = filepath.Join(dir, "blocks")
			return s
		},
		CorruptBlock: func(t *testing.T, s store.Store, c cid.Cid) {
			corruptFile(t, storetest.BlockPath(blocksDir(s), c))
		},
	})
}

func corruptFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("corrupting block: %v", err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestGoldenCIDs checks every golden vector, the 100 MiB one included (it takes about a second).
func TestGoldenCIDs(t *testing.T) {
	for _, v := range storetest.Golden() {
		c, n, err := local.CID(storetest.Keystream(v.Size))
		if err != nil {
			t.Fatal(err)
		}
		if !c.Equals(v.CID) || n != v.Size {
			t.Errorf("CID(%s) = %s, %d; want %s, %d", v.Name, c, n, v.CID, v.Size)
		}
	}
}

// TestLargeBlob stores and reads back the 100 MiB vector, whose DAG has two levels of internal
// nodes, and checks a range that crosses from one internal subtree into the next.
func TestLargeBlob(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB import skipped in -short mode")
	}
	s := open(t, t.TempDir(), -1)
	v := storetest.Vec("f100m")
	storetest.Put(t, s, v)
	storetest.CheckContent(t, s, v.CID, v.Size)
}

// TestDeleteUnlinksBlocks checks on disk that Delete leaves no block behind and that the layout
// is kubo's: the same shard directory and file name for every block.
func TestDeleteUnlinksBlocks(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, -1)
	ctx := context.Background()
	f1m, f10m := storetest.Vec("f1m"), storetest.Vec("f10m")
	storetest.Put(t, s, f1m)
	storetest.Put(t, s, f10m)
	if got := countBlocks(t, dir); got != 5+41-4 {
		t.Errorf("%d block files after two puts; want 42 (f10m's 41 blocks + f1m's root)", got)
	}
	if _, err := os.Stat(storetest.BlockPath(filepath.Join(dir, "blocks"), f10m.CID)); err != nil {
		t.Errorf("root block not at kubo's path: %v", err)
	}
	if err := s.Delete(ctx, f10m.CID); err != nil {
		t.Fatal(err)
	}
	if got := countBlocks(t, dir); got != 5 {
		t.Errorf("%d block files after deleting f10m; want f1m's 5", got)
	}
	if err := s.Delete(ctx, f1m.CID); err != nil {
		t.Fatal(err)
	}
	if got := countBlocks(t, dir); got != 0 {
		t.Errorf("%d block files after deleting everything; want 0", got)
	}
}

// TestGC removes blocks no root reaches, as a crash between writing blocks and recording the
// root would leave.
func TestGC(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, -1)
	f1m := storetest.Vec("f1m")
	storetest.Put(t, s, storetest.Vec("s256k1"))
	storetest.Put(t, s, f1m)
	if err := os.Remove(filepath.Join(dir, "roots", f1m.CID.String())); err != nil {
		t.Fatal(err)
	}
	n, err := s.GC(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// f1m's root and its leaves 2..4; leaf 1 is s256k1's first leaf.
	if n != 4 {
		t.Errorf("GC removed %d blocks; want 4", n)
	}
	storetest.CheckContent(t, s, storetest.Vec("s256k1").CID, storetest.Vec("s256k1").Size)
}

// TestReopen checks that roots and blocks survive closing and reopening the store.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := local.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := storetest.Vec("s256k1")
	storetest.Put(t, s, v)
	s.Close()
	s = open(t, dir, 0)
	storetest.CheckContent(t, s, v.CID, v.Size)
}

func TestCorruptRootNode(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, -1)
	v := storetest.Vec("f1m")
	storetest.Put(t, s, v)
	corruptFile(t, storetest.BlockPath(filepath.Join(dir, "blocks"), v.CID))
	if _, err := s.Get(context.Background(), v.CID); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Get with a corrupt root node: error = %v; want ErrCorrupt", err)
	}
	if err := s.Delete(context.Background(), v.CID); err != nil {
		t.Fatalf("Delete with a corrupt root node: %v", err)
	}
	if got := countBlocks(t, dir); got != 0 {
		t.Errorf("%d block files left after deleting a blob with a corrupt root", got)
	}
}

func countBlocks(t *testing.T, dir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "blocks", "*", "*.data"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

func BenchmarkPut10MiB(b *testing.B) {
	s, err := local.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := storetest.KeystreamBytes(10 << 20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c, _, err := s.Put(context.Background(), bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Delete(context.Background(), c); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func BenchmarkGet10MiB(b *testing.B) {
	s, err := local.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, n, err := s.Put(context.Background(), storetest.Keystream(10<<20))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	for b.Loop() {
		rc, err := s.Get(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

// TestImportCARStrayBlocks: blocks a CAR carries beyond its roots' DAGs are not kept.
func TestImportCARStrayBlocks(t *testing.T) {
	s := open(t, t.TempDir(), -1)
	ctx := context.Background()
	v := storetest.Vec("s100k")
	junk := []byte("a block no root links to")
	mh, _ := multihash.Sum(junk, multihash.SHA2_256, -1)
	junkCID := cid.NewCidV1(cid.Raw, mh)
	var buf bytes.Buffer
	w, err := carstorage.NewWritable(&buf, []cid.Cid{v.CID}, carv2.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	w.Put(ctx, junkCID.KeyString(), junk)
	w.Put(ctx, v.CID.KeyString(), storetest.KeystreamBytes(v.Size))
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	roots, err := s.ImportCAR(ctx, &buf)
	if err != nil || len(roots) != 1 || !roots[0].Equals(v.CID) {
		t.Fatalf("ImportCAR = %v, %v", roots, err)
	}
	if n, err := s.GC(ctx); err != nil || n != 0 {
		t.Errorf("GC after import removed %d blocks (%v); the stray block was kept", n, err)
	}
	storetest.CheckContent(t, s, v.CID, v.Size)
}
