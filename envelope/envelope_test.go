package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	sk, owner := newOwner(t)
	const c = 4 << 10
	sizes := []int{0, 1, c - 1, c, c + 1, 2 * c, 5*c + 17, 64<<10 - 1, 64 << 10, 64<<10 + 1}
	for _, size := range sizes {
		for _, opts := range []*Options{nil, {ChunkSize: c}, {ChunkSize: c, NoPadding: true}, {NoPadding: true}} {
			for _, step := range []int{0, 1000, 1 << 20} {
				name := fmt.Sprintf("size=%d/opts=%+v/step=%d", size, opts, step)
				if step == 1000 && size > 3*c {
					continue // byte-at-a-time coverage is enough on the small sizes
				}
				t.Run(name, func(t *testing.T) {
					pt := plaintext(uint64(size), size)
					meta := testMetadata(size)
					sealed := sealBytes(t, sk, meta, pt, opts, step)
					got, gotMeta, err := openAll(sealed, owner)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, pt) {
						t.Fatalf("plaintext differs (got %d bytes, want %d)", len(got), len(pt))
					}
					if !gotMeta.Created.Equal(meta.Created) {
						t.Errorf("Created = %v, want %v", gotMeta.Created, meta.Created)
					}
					gotMeta.Created = meta.Created
					if !reflect.DeepEqual(gotMeta, meta) {
						t.Errorf("metadata = %+v, want %+v", gotMeta, meta)
					}
					// WriteTo path.
					r, err := Open(bytes.NewReader(sealed), owner)
					if err != nil {
						t.Fatal(err)
					}
					var buf bytes.Buffer
					if _, err := io.Copy(&buf, r); err != nil || !bytes.Equal(buf.Bytes(), pt) {
						t.Fatalf("WriteTo: %v, equal=%v", err, bytes.Equal(buf.Bytes(), pt))
					}
				})
			}
		}
	}
}

func TestSealedLength(t *testing.T) {
	sk, owner := newOwner(t)
	for _, tc := range []struct {
		size      int
		opts      *Options
		payload   int64
		chunkSize int
	}{
		{0, &Options{NoPadding: true}, 0, 64 << 10},
		{0, nil, 4096, 64 << 10},
		{5000, nil, 5120, 64 << 10}, // Padmé: e=12, s=4, multiple of 256
		{100000, &Options{ChunkSize: 1 << 20}, 100352, 1 << 20},
		{1 << 16, nil, 1 << 16, 64 << 10},
		{1<<16 + 1, nil, 67584, 64 << 10},
		{1<<16 + 1, &Options{NoPadding: true}, 1<<16 + 1, 64 << 10},
	} {
		sealed := sealBytes(t, sk, testMetadata(tc.size), plaintext(1, tc.size), tc.opts, 0)
		h, err := ParseHeader(bytes.NewReader(sealed))
		if err != nil {
			t.Fatal(err)
		}
		if h.ChunkSize() != tc.chunkSize {
			t.Errorf("size %d: chunk size %d, want %d", tc.size, h.ChunkSize(), tc.chunkSize)
		}
		o, err := h.Unwrap(owner)
		if err != nil {
			t.Fatal(err)
		}
		chunks := max(1, (tc.payload+int64(tc.chunkSize)-1)/int64(tc.chunkSize))
		want := h.Len() + tc.payload + 16*chunks
		if int64(len(sealed)) != want || o.SealedLen() != want {
			t.Errorf("size %d: sealed %d bytes, SealedLen %d, want %d", tc.size, len(sealed), o.SealedLen(), want)
		}
		if (h.Len()-207-16)%256 != 0 {
			t.Errorf("metadata block of %d bytes is not padded to 256", h.Len()-207)
		}
	}
}

func TestPaddedLen(t *testing.T) {
	for size := int64(0); size < 1<<22; size += 1 + size/50 {
		p := paddedLen(size)
		if p < size || p < 4096 {
			t.Fatalf("paddedLen(%d) = %d", size, p)
		}
		if size > 4096 && float64(p-size) > 0.12*float64(size) {
			t.Fatalf("paddedLen(%d) = %d: more than 12%% overhead", size, p)
		}
		if paddedLen(p) != p {
			t.Fatalf("paddedLen(%d) = %d is not a fixed point", size, p)
		}
	}
	if got := paddedLen(1 << 30); got != 1<<30 {
		t.Errorf("paddedLen(1 GiB) = %d", got)
	}
}

func TestReaderAtAndRanges(t *testing.T) {
	sk, owner := newOwner(t)
	const c = 4 << 10
	for _, opts := range []*Options{{ChunkSize: c}, {ChunkSize: c, NoPadding: true}} {
		size := 7*c + 123
		pt := plaintext(7, size)
		sealed := sealBytes(t, sk, testMetadata(size), pt, opts, 0)
		h, err := ParseHeader(bytes.NewReader(sealed))
		if err != nil {
			t.Fatal(err)
		}
		o, err := h.Unwrap(owner)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 300 {
			off := rng.Int64N(int64(size) + 10)
			n := rng.Int64N(3 * c)
			start, end, err := o.CiphertextRange(off, n)
			if err != nil {
				t.Fatal(err)
			}
			// A source that holds only [start, end) proves no other byte is needed.
			src := &windowReaderAt{data: sealed, start: start, end: end}
			ra, err := o.NewReaderAt(src, int64(len(sealed)))
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, n)
			k, err := ra.ReadAt(buf, off)
			wantEnd := min(off+n, int64(size))
			wantN := max(0, wantEnd-off)
			if int64(k) != wantN || !bytes.Equal(buf[:k], pt[min(off, int64(size)):wantEnd]) {
				t.Fatalf("ReadAt(%d, %d) = %d bytes, want %d (err %v)", off, n, k, wantN, err)
			}
			if (int64(k) < n) != (err == io.EOF) {
				t.Fatalf("ReadAt(%d, %d) = %d, %v", off, n, k, err)
			}
			if src.outside {
				t.Fatalf("ReadAt(%d, %d) read outside CiphertextRange [%d, %d)", off, n, start, end)
			}
			if wantN > 0 {
				if chunks := (end - start + c + 15) / (c + 16); chunks > (n+c-1)/c+1 {
					t.Fatalf("range [%d, %d) spans %d chunks for %d bytes", start, end, chunks, n)
				}
			}
		}
		s1, e1, _ := o.CiphertextRange(int64(size)-1, 1)
		if start, end, err := o.CiphertextRange(int64(size)-1, math.MaxInt64); err != nil || start != s1 || end != e1 || start >= end {
			t.Errorf("CiphertextRange to infinity = [%d, %d), %v; want [%d, %d)", start, end, err, s1, e1)
		}
		if start, end, err := o.CiphertextRange(math.MaxInt64, math.MaxInt64); err != nil || start != end {
			t.Errorf("CiphertextRange past the end = [%d, %d), %v", start, end, err)
		}
		if _, _, err := o.CiphertextRange(-1, 1); err == nil {
			t.Error("negative offset accepted")
		}
		// The top-level constructor and a section reader over it.
		ra, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), owner)
		if err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(io.NewSectionReader(ra, 0, ra.Size()))
		if err != nil || !bytes.Equal(all, pt) || ra.Metadata().Size != int64(size) {
			t.Fatalf("section reader: %v", err)
		}
		if _, err := NewReaderAt(bytes.NewReader(sealed[:len(sealed)-1]), int64(len(sealed)-1), owner); !errors.Is(err, ErrTruncated) {
			t.Errorf("short file: %v", err)
		}
		if _, err := NewReaderAt(bytes.NewReader(append(sealed, 0)), int64(len(sealed)+1), owner); !errors.Is(err, ErrCorrupt) {
			t.Errorf("long file: %v", err)
		}
	}
}

// windowReaderAt serves only the bytes in [start, end) and records any attempt to read others.
type windowReaderAt struct {
	data       []byte
	start, end int64
	outside    bool
}

func (w *windowReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < w.start || off+int64(len(p)) > w.end {
		w.outside = true
		return 0, errors.New("outside the fetched window")
	}
	return copy(p, w.data[off:]), nil
}

func TestRangeReadDetectsTampering(t *testing.T) {
	sk, owner := newOwner(t)
	const c = 4 << 10
	pt := plaintext(3, 3*c)
	sealed := sealBytes(t, sk, testMetadata(len(pt)), pt, &Options{ChunkSize: c, NoPadding: true}, 0)
	h, _ := ParseHeader(bytes.NewReader(sealed))
	bad := bytes.Clone(sealed)
	bad[h.Len()+c+16+5] ^= 1 // inside chunk 1
	ra, err := NewReaderAt(bytes.NewReader(bad), int64(len(bad)), owner)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := ra.ReadAt(buf, 0); err != nil {
		t.Errorf("chunk 0 is intact: %v", err)
	}
	if _, err := ra.ReadAt(buf, c+1); !errors.Is(err, ErrAuthentication) {
		t.Errorf("chunk 1: %v", err)
	}
	// Swapping two whole chunks fails at both positions.
	swapped := bytes.Clone(sealed)
	a, b := swapped[h.Len():h.Len()+c+16], swapped[h.Len()+c+16:h.Len()+2*(c+16)]
	tmp := bytes.Clone(a)
	copy(a, b)
	copy(b, tmp)
	ra, _ = NewReaderAt(bytes.NewReader(swapped), int64(len(swapped)), owner)
	for _, off := range []int64{0, c} {
		if _, err := ra.ReadAt(buf, off); !errors.Is(err, ErrAuthentication) {
			t.Errorf("swapped chunk at %d: %v", off, err)
		}
	}
}

func TestWrongKey(t *testing.T) {
	sk, _ := newOwner(t)
	_, other := newOwner(t)
	sealed := sealBytes(t, sk, testMetadata(10), plaintext(1, 10), nil, 0)
	if _, _, err := openAll(sealed, other); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("other owner key: %v", err)
	}
	if _, _, err := openAll(sealed, OwnerKey{}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("empty owner key: %v", err)
	}
}

func TestWriterSizeEnforced(t *testing.T) {
	sk, owner := newOwner(t)
	for _, tc := range []struct {
		name  string
		size  int
		write int
		copy  bool
	}{{"long write", 10, 11, false}, {"long copy", 10, 11, true}, {"short write", 10, 9, false}, {"short copy", 10, 9, true}, {"nothing", 1, 0, false}} {
		var out bytes.Buffer
		w, err := Seal(&out, sk.PublicKey(), testMetadata(tc.size), nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.copy {
			_, err = io.Copy(w, bytes.NewReader(make([]byte, tc.write)))
		} else {
			_, err = w.Write(make([]byte, tc.write))
		}
		if err == nil {
			err = w.Close()
		}
		if !errors.Is(err, ErrSizeMismatch) {
			t.Errorf("%s: %v", tc.name, err)
		}
		// What was written is not a complete file.
		if _, _, err := openAll(out.Bytes(), owner); !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: opening the incomplete file: %v", tc.name, err)
		}
	}
	var out bytes.Buffer
	w, _ := Seal(&out, sk.PublicKey(), testMetadata(0), nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{1}); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestInvalidMetadataAndOptions(t *testing.T) {
	sk, _ := newOwner(t)
	pk := sk.PublicKey()
	tooMany := map[string]string{}
	for i := range MaxLabels + 1 {
		tooMany[fmt.Sprint(i)] = ""
	}
	for name, m := range map[string]Metadata{
		"negative size": {Size: -1},
		"huge size":     {Size: MaxSize + 1},
		"long name":     {Name: strings.Repeat("a", MaxNameLen+1)},
		"invalid UTF-8": {Name: "\xff"},
		"media type":    {MediaType: "text/plain\n"},
		"too many":      {Labels: tooMany},
		"empty key":     {Labels: map[string]string{"": "v"}},
		"long key":      {Labels: map[string]string{strings.Repeat("k", MaxLabelKeyLen+1): ""}},
		"long value":    {Labels: map[string]string{"k": strings.Repeat("v", MaxLabelValueLen+1)}},
		"invalid value": {Labels: map[string]string{"k": "\xc3"}},
	} {
		if _, err := Seal(io.Discard, pk, m, nil); !errors.Is(err, ErrInvalidMetadata) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, c := range []int{1, 2048, 3 << 12, 2 << 20} {
		if _, err := Seal(io.Discard, pk, Metadata{}, &Options{ChunkSize: c}); err == nil {
			t.Errorf("chunk size %d accepted", c)
		}
	}
	if _, err := Seal(io.Discard, nil, Metadata{}, nil); err == nil {
		t.Error("nil public key accepted")
	}
}

func TestLargestMetadataFits(t *testing.T) {
	sk, owner := newOwner(t)
	labels := map[string]string{}
	for i := range MaxLabels {
		labels[fmt.Sprintf("%0*d", MaxLabelKeyLen, i)] = strings.Repeat("é", MaxLabelValueLen/2)
	}
	m := Metadata{
		Name: strings.Repeat("n", MaxNameLen), MediaType: strings.Repeat("m", MaxMediaTypeLen),
		Size: 3, Created: time.Unix(-1e11, 999999999).UTC(), Labels: labels,
	}
	sealed := sealBytes(t, sk, m, []byte("abc"), nil, 0)
	_, got, err := openAll(sealed, owner)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(m.Created) || !reflect.DeepEqual(got.Labels, m.Labels) || got.Name != m.Name {
		t.Error("largest metadata did not round-trip")
	}
	// The zero time round-trips as the zero time.
	_, got, err = openAll(sealBytes(t, sk, Metadata{}, nil, nil, 0), owner)
	if err != nil || !got.Created.IsZero() || got.Labels != nil {
		t.Errorf("zero metadata: %+v, %v", got, err)
	}
}

func TestHeaderWithoutKey(t *testing.T) {
	sk, owner := newOwner(t)
	sealed := sealBytes(t, sk, testMetadata(100), plaintext(2, 100), nil, 0)
	h, err := ParseHeader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := h.MarshalBinary()
	if !bytes.Equal(raw, sealed[:h.Len()]) {
		t.Error("MarshalBinary differs from the sealed header")
	}
	// Nothing of the metadata is visible in the clear.
	for _, s := range []string{"scan-2026", "dicom", "encounter", "E-1042"} {
		if bytes.Contains(sealed, []byte(s)) {
			t.Errorf("%q visible in the sealed file", s)
		}
	}
	// The capsule alone opens the wrapped key (what the ledger stores).
	c := h.Capsule()
	if _, err := owner.UnwrapFileKey(c, h.wrappedKey()); err != nil {
		t.Fatal(err)
	}
	capsuleBytes, _ := c.MarshalBinary()
	if !bytes.Equal(capsuleBytes, sealed[10:115]) {
		t.Error("capsule is not at bytes 10..115")
	}
}

func TestReaderAtConcurrent(t *testing.T) {
	sk, owner := newOwner(t)
	const size = 300000
	pt := plaintext(8, size)
	sealed := sealBytes(t, sk, testMetadata(size), pt, &Options{ChunkSize: 4 << 10}, 0)
	ra, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), owner)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(g), 0))
			buf := make([]byte, 20000)
			for range 50 {
				off := rng.Int64N(size)
				n, err := ra.ReadAt(buf, off)
				if err != nil && err != io.EOF || !bytes.Equal(buf[:n], pt[off:min(off+int64(len(buf)), size)]) {
					errs <- fmt.Errorf("ReadAt(%d) = %d, %v", off, n, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
