package envelope

import (
	"bytes"
	"io"
	"runtime"
	"testing"
)

const benchSize = 16 << 20

func BenchmarkSeal(b *testing.B) {
	sk, _ := newOwner(b)
	pt := plaintext(1, benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		w, err := Seal(io.Discard, sk.PublicKey(), Metadata{Size: benchSize}, &Options{NoPadding: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(w, bytes.NewReader(pt)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	sk, owner := newOwner(b)
	sealed := sealBytes(b, sk, Metadata{Size: benchSize}, plaintext(1, benchSize), &Options{NoPadding: true}, 0)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		r, err := Open(bytes.NewReader(sealed), owner)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadAt4KiB(b *testing.B) {
	sk, owner := newOwner(b)
	sealed := sealBytes(b, sk, Metadata{Size: benchSize}, plaintext(1, benchSize), nil, 0)
	ra, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), owner)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	off := int64(0)
	for b.Loop() {
		if _, err := ra.ReadAt(buf, off); err != nil {
			b.Fatal(err)
		}
		off = (off + 1<<20 + 12345) % (benchSize - int64(len(buf)))
	}
}

// TestNoAllocationsPerChunk pins the hot paths at zero allocations once a Writer or Reader
// exists: sealing (Write and ReadFrom), streaming reads (Read and WriteTo) and ReadAt.
func TestNoAllocationsPerChunk(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	sk, owner := newOwner(t)
	const c = 64 << 10
	const runs = 8
	chunks := plaintext(3, 4*c)
	size := (runs + 1) * len(chunks) * 3

	w, err := Seal(io.Discard, sk.PublicKey(), Metadata{Size: int64(size)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := bytes.NewReader(chunks)
	if a := testing.AllocsPerRun(runs, func() {
		w.Write(chunks)         // whole chunks, sealed from the caller's buffer
		w.Write(chunks[:c/2+1]) // through the chunk buffer
		w.Write(chunks[c/2+1 : 2*c])
		src.Reset(chunks)
		w.ReadFrom(src)
	}); a != 0 {
		t.Errorf("sealing: %v allocations per run", a)
	}

	sealed := sealBytes(t, sk, Metadata{Size: int64(size)}, plaintext(4, size), nil, 0)
	r, err := Open(bytes.NewReader(sealed), owner)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3*c)
	if a := testing.AllocsPerRun(runs, func() {
		io.ReadFull(r, buf[:c])    // straight into buf
		io.ReadFull(r, buf[:1000]) // through the chunk buffer
		io.ReadFull(r, buf[:c-1000])
	}); a != 0 {
		t.Errorf("Read: %v allocations per run", a)
	}
	ra, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), owner)
	if err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(runs, func() { ra.ReadAt(buf, c/3) }); a != 0 {
		t.Errorf("ReadAt: %v allocations per run", a)
	}
	r, _ = Open(bytes.NewReader(sealed), owner)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := r.WriteTo(io.Discard)
	runtime.ReadMemStats(&after)
	if err != nil || n != int64(size) {
		t.Fatalf("WriteTo = %d, %v", n, err)
	}
	if a := after.Mallocs - before.Mallocs; a != 0 {
		t.Errorf("WriteTo of %d chunks: %d allocations", size/c, a)
	}
}
