package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/resilientrecords/resilientrecords/store"
)

// Harness tells the suite how to make and damage stores of one implementation.
type Harness struct {
	// New returns a fresh, empty store that accepts blobs of at most maxSize bytes. The harness
	// closes it in t.Cleanup.
	New func(t *testing.T, maxSize int64) store.Store
	// CorruptBlock overwrites part of the stored block c with other bytes, in place.
	CorruptBlock func(t *testing.T, s store.Store, c cid.Cid)
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Run("Golden", func(t *testing.T) { testGolden(t, h) })
	t.Run("Range", func(t *testing.T) { testRange(t, h) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, h) })
	t.Run("TooLarge", func(t *testing.T) { testTooLarge(t, h) })
	t.Run("FailingReader", func(t *testing.T) { testFailingReader(t, h) })
	t.Run("DeleteShared", func(t *testing.T) { testDeleteShared(t, h) })
	t.Run("CARRoundTrip", func(t *testing.T) { testCARRoundTrip(t, h) })
	t.Run("CARInvalid", func(t *testing.T) { testCARInvalid(t, h) })
	t.Run("Corrupt", func(t *testing.T) { testCorrupt(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, h) })
}

// testConcurrent puts, reads and deletes blobs that share blocks from several goroutines.
func testConcurrent(t *testing.T, h Harness) {
	s := h.New(t, noLimit)
	ctx := context.Background()
	keep := Vec("f1m")
	Put(t, s, keep)
	sizes := []int64{300000, 600000, 900000, 1200000}
	errs := make(chan error, len(sizes))
	for _, n := range sizes {
		go func() {
			// Every blob is a keystream prefix, so all share leading leaves with keep.
			c, _, err := s.Put(ctx, Keystream(n))
			if err == nil {
				var rc io.ReadCloser
				if rc, err = s.Get(ctx, c); err == nil {
					_, err = io.Copy(io.Discard, rc)
					rc.Close()
				}
			}
			if err == nil {
				err = s.Delete(ctx, c)
			}
			errs <- err
		}()
	}
	for range sizes {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	CheckContent(t, s, keep.CID, keep.Size)
	if list, _ := s.List(ctx); !sameCIDs(list, []cid.Cid{keep.CID}) {
		t.Errorf("List = %v; want only %s", list, keep.CID)
	}
}

const noLimit = -1

// Put stores the first n bytes of the keystream and checks the CID and size returned.
func Put(t *testing.T, s store.Store, v Vector) {
	t.Helper()
	c, n, err := s.Put(context.Background(), Keystream(v.Size))
	if err != nil {
		t.Fatalf("Put(%s): %v", v.Name, err)
	}
	if !c.Equals(v.CID) || n != v.Size {
		t.Fatalf("Put(%s) = %s, %d; want %s, %d", v.Name, c, n, v.CID, v.Size)
	}
}

// CheckContent reads c back in full and compares it with the first n keystream bytes.
func CheckContent(t *testing.T, s store.Store, c cid.Cid, n int64) {
	t.Helper()
	rc, err := s.Get(context.Background(), c)
	if err != nil {
		t.Fatalf("Get(%s): %v", c, err)
	}
	defer rc.Close()
	h := sha256.New()
	got, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("reading %s: %v", c, err)
	}
	want := sha256.New()
	io.Copy(want, Keystream(n))
	if got != n || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatalf("Get(%s) returned %d bytes with a different hash; want the %d keystream bytes", c, got, n)
	}
}

func testGolden(t *testing.T, h Harness) {
	s := h.New(t, noLimit)
	ctx := context.Background()
	var put []cid.Cid
	for _, v := range Golden() {
		if v.Size > 10<<20 {
			continue // the 100 MiB vector runs in the implementations' own tests
		}
		Put(t, s, v)
		put = append(put, v.CID)
		CheckContent(t, s, v.CID, v.Size)
		if n, err := s.Size(ctx, v.CID); err != nil || n != v.Size {
			t.Errorf("Size(%s) = %d, %v; want %d", v.Name, n, err, v.Size)
		}
		if ok, err := s.Has(ctx, v.CID); err != nil || !ok {
			t.Errorf("Has(%s) = %v, %v; want true", v.Name, ok, err)
		}
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sameCIDs(list, put) {
		t.Errorf("List = %v; want %v", list, put)
	}
	// Putting the same bytes again gives the same root and changes nothing.
	Put(t, s, Vec("f1m"))
	if list2, _ := s.List(ctx); !sameCIDs(list2, put) {
		t.Errorf("List after re-put = %v; want %v", list2, put)
	}
}

func testRange(t *testing.T, h Harness) {
	s := h.New(t, noLimit)
	ctx := context.Background()
	v := Vec("f1m")
	Put(t, s, v)
	data := KeystreamBytes(v.Size)
	cases := []struct{ off, n int64 }{
		{0, 0}, {0, 10}, {0, -1}, {5, 262139}, {262143, 2}, {262144, 100}, {300000, 500000},
		{v.Size - 1, 10}, {v.Size, 10}, {v.Size, -1}, {1000, 1 << 30},
	}
	for _, tc := range cases {
		rc, err := s.GetRange(ctx, v.CID, tc.off, tc.n)
		if err != nil {
			t.Fatalf("GetRange(%d, %d): %v", tc.off, tc.n, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("GetRange(%d, %d) read: %v", tc.off, tc.n, err)
		}
		end := v.Size
		if tc.n >= 0 && tc.off+tc.n < end {
			end = tc.off + tc.n
		}
		if !bytes.Equal(got, data[tc.off:end]) {
			t.Errorf("GetRange(%d, %d) returned %d bytes, not bytes [%d:%d] of the blob", tc.off, tc.n, len(got), tc.off, end)
		}
	}
	for _, off := range []int64{-1, v.Size + 1} {
		if _, err := s.GetRange(ctx, v.CID, off, 1); !errors.Is(err, store.ErrRange) {
			t.Errorf("GetRange(%d) error = %v; want ErrRange", off, err)
		}
	}
	// A single-block blob too.
	small := Vec("s100k")
	Put(t, s, small)
	rc, err := s.GetRange(ctx, small.CID, 100, 50)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data[100:150]) {
		t.Errorf("GetRange on a raw block returned the wrong bytes")
	}
}

// absent is a well-formed CID of bytes no test stores.
func absent() cid.Cid {
	mh, _ := multihash.Sum([]byte("never stored"), multihash.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, mh)
}

func testNotFound(t *testing.T, h Harness) {
	s := h.New(t, noLimit)
	ctx := context.Background()
	Put(t, s, Vec("s256k1"))
	for _, c := range []cid.Cid{absent(), Vec("f1m").CID} {
		if _, err := s.Get(ctx, c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%s) error = %v; want ErrNotFound", c, err)
		}
		if _, err := s.GetRange(ctx, c, 0, 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRange(%s) error = %v; want ErrNotFound", c, err)
		}
		if _, err := s.Size(ctx, c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Size(%s) error = %v; want ErrNotFound", c, err)
		}
		if err := s.Delete(ctx, c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Delete(%s) error = %v; want ErrNotFound", c, err)
		}
		if err := s.ExportCAR(ctx, c, io.Discard); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ExportCAR(%s) error = %v; want ErrNotFound", c, err)
		}
		if ok, err := s.Has(ctx, c); err != nil || ok {
			t.Errorf("Has(%s) = %v, %v; want false", c, ok, err)
		}
	}
	// A leaf of a stored blob is not itself a stored blob.
	leaf := cidOfRaw(KeystreamBytes(262144))
	if _, err := s.Get(ctx, leaf); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(leaf) error = %v; want ErrNotFound", err)
	}
	// An identity-hashed CID is refused rather than answered from the CID itself.
	idmh, _ := multihash.Sum([]byte("x"), multihash.IDENTITY, -1)
	if _, err := s.Get(ctx, cid.NewCidV1(cid.Raw, idmh)); err == nil {
		t.Error("Get(identity CID) succeeded")
	}
	CheckContent(t, s, Vec("s256k1").CID, Vec("s256k1").Size)
}

func cidOfRaw(b []byte) cid.Cid {
	mh, _ := multihash.Sum(b, multihash.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, mh)
}

func testTooLarge(t *testing.T, h Harness) {
	const max = 1 << 20
	s := h.New(t, max)
	ctx := context.Background()
	Put(t, s, Vec("s256k1"))
	if _, _, err := s.Put(ctx, Keystream(max+1)); !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Put(max+1 bytes) error = %v; want ErrTooLarge", err)
	}
	if list, _ := s.List(ctx); !sameCIDs(list, []cid.Cid{Vec("s256k1").CID}) {
		t.Errorf("List after the refused put = %v", list)
	}
	CheckContent(t, s, Vec("s256k1").CID, Vec("s256k1").Size)
	Put(t, s, Vec("f1m")) // exactly max is fine
	CheckContent(t, s, Vec("f1m").CID, Vec("f1m").Size)

	// A CAR of a blob over the limit is refused too.
	big := h.New(t, noLimit)
	Put(t, big, Vec("s256k1"))
	c, _, err := big.Put(ctx, Keystream(3<<20))
	if err != nil {
		t.Fatal(err)
	}
	var car bytes.Buffer
	if err := big.ExportCAR(ctx, c, &car); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportCAR(ctx, &car); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("ImportCAR(3 MiB blob) error = %v; want ErrTooLarge", err)
	}
	if ok, _ := s.Has(ctx, c); ok {
		t.Error("the refused CAR's root was stored")
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), f.n)
	clear(p[:n])
	f.n -= n
	return n, nil
}

func testFailingReader(t *testing.T, h Harness) {
	s := h.New(t, noLimit)
	ctx := context.Background()
	if _, _, err := s.Put(ctx, &failingReader{n: 700000}); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("List after a failed put = %v, %v; want empty", list, err)
	}
}

func testDeleteShared(t *testing.T, h Harness) {
	s := h.New(t, noLimit)
	ctx := context.Background()
	f1m, f10m := Vec("f1m"), Vec("f10m")
	Put(t, s, f1m)
	Put(t, s, f10m) // its first four leaves are f1m's leaves
	if err := s.Delete(ctx, f10m.CID); err != nil {
		t.Fatalf("Delete(f10m): %v", err)
	}
	if _, err := s.Get(ctx, f10m.CID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(deleted) error = %v; want ErrNotFound", err)
	}
	CheckContent(t, s, f1m.CID, f1m.Size)
	if err := s.Delete(ctx, f10m.CID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Delete error = %v; want ErrNotFound", err)
	}
	if err := s.Delete(ctx, f1m.CID); err != nil {
		t.Fatal(err)
	}
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("List after deleting everything = %v, %v", list, err)
	}
	Put(t, s, f10m) // and it can come back
	CheckContent(t, s, f10m.CID, f10m.Size)
}

func testCARRoundTrip(t *testing.T, h Harness) {
	a, b := h.New(t, noLimit), h.New(t, noLimit)
	ctx := context.Background()
	for _, name := range []string{"s256k1", "f1m", "empty"} {
		v := Vec(name)
		Put(t, a, v)
		var car1 bytes.Buffer
		if err := a.ExportCAR(ctx, v.CID, &car1); err != nil {
			t.Fatalf("ExportCAR(%s): %v", name, err)
		}
		exported := slices.Clone(car1.Bytes())
		roots, err := b.ImportCAR(ctx, &car1)
		if err != nil {
			t.Fatalf("ImportCAR(%s): %v", name, err)
		}
		if len(roots) != 1 || !roots[0].Equals(v.CID) {
			t.Fatalf("ImportCAR(%s) roots = %v", name, roots)
		}
		CheckContent(t, b, v.CID, v.Size)
		var car2 bytes.Buffer
		if err := b.ExportCAR(ctx, v.CID, &car2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(exported, car2.Bytes()) {
			t.Errorf("CAR of %s differs between stores: export is not deterministic", name)
		}
	}
}

func testCARInvalid(t *testing.T, h Harness) {
	src, s := h.New(t, noLimit), h.New(t, noLimit)
	ctx := context.Background()
	v := Vec("f1m")
	Put(t, src, v)
	var car bytes.Buffer
	if err := src.ExportCAR(ctx, v.CID, &car); err != nil {
		t.Fatal(err)
	}
	good := car.Bytes()
	tampered := slices.Clone(good)
	tampered[len(tampered)-1000] ^= 1
	// The root node comes first; a CAR of only the header and root lacks every leaf.
	rootEnd := len(good) - 4*(3+36+262144) // each raw section: 3-byte varint, 36-byte CID, data
	cases := map[string][]byte{
		"garbage":   []byte("this is not a CAR file at all"),
		"empty":     nil,
		"truncated": good[:len(good)-100],
		"tampered":  tampered,
		"rootonly":  good[:rootEnd],
	}
	for name, in := range cases {
		_, err := s.ImportCAR(ctx, bytes.NewReader(in))
		if !errors.Is(err, store.ErrInvalidCAR) {
			t.Errorf("ImportCAR(%s) error = %v; want ErrInvalidCAR", name, err)
		}
		if ok, _ := s.Has(ctx, v.CID); ok {
			t.Errorf("ImportCAR(%s) stored the root", name)
		}
	}
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("List after invalid imports = %v, %v", list, err)
	}
	// The good CAR still imports.
	if _, err := s.ImportCAR(ctx, bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	CheckContent(t, s, v.CID, v.Size)
}

func testCorrupt(t *testing.T, h Harness) {
	if h.CorruptBlock == nil {
		t.Skip("the harness cannot corrupt blocks")
	}
	s := h.New(t, noLimit)
	ctx := context.Background()
	v := Vec("f1m")
	Put(t, s, v)
	data := KeystreamBytes(v.Size)
	third := cidOfRaw(data[2*262144 : 3*262144])
	h.CorruptBlock(t, s, third)

	rc, err := s.Get(ctx, v.CID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("reading a blob with a corrupt leaf: error = %v; want ErrCorrupt", err)
	}
	if len(got) > 2*262144 || !bytes.Equal(got, data[:len(got)]) {
		t.Errorf("the reader returned %d bytes before the error, some of them wrong", len(got))
	}
	// Ranges that avoid the corrupt leaf still read, which shows they never fetch it.
	for _, r := range [][2]int64{{0, 2 * 262144}, {3 * 262144, 262144}} {
		rc, err := s.GetRange(ctx, v.CID, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
			t.Errorf("GetRange(%d, %d) around the corrupt leaf: %v", r[0], r[1], err)
		}
	}
	rc, _ = s.GetRange(ctx, v.CID, 2*262144+10, 10)
	if _, err := io.ReadAll(rc); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("GetRange inside the corrupt leaf: error = %v; want ErrCorrupt", err)
	}
	rc.Close()
	if err := s.ExportCAR(ctx, v.CID, io.Discard); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("ExportCAR of a corrupt blob: error = %v; want ErrCorrupt", err)
	}
	// Deleting the damaged blob still works, and it can be stored again intact.
	if err := s.Delete(ctx, v.CID); err != nil {
		t.Fatalf("Delete(corrupt blob): %v", err)
	}
	Put(t, s, v)
	CheckContent(t, s, v.CID, v.Size)
}

func sameCIDs(a, b []cid.Cid) bool {
	if len(a) != len(b) {
		return false
	}
	as := make([]string, len(a))
	bs := make([]string, len(b))
	for i := range a {
		as[i], bs[i] = a[i].KeyString(), b[i].KeyString()
	}
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}
