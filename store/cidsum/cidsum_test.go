package cidsum_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	chunk "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"

	"github.com/resilientrecords/resilientrecords/store/cidsum"
	"github.com/resilientrecords/resilientrecords/store/internal/dagio"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/store/storetest"
)

const (
	C = cidsum.ChunkSize
	L = cidsum.MaxLinks
)

func TestProfile(t *testing.T) {
	if C != dagio.ChunkSize || L != dagio.MaxLinks {
		t.Fatalf("cidsum has chunk %d, %d links; dagio has %d, %d", C, L, dagio.ChunkSize, dagio.MaxLinks)
	}
}

// dagioImport imports r with boxo's importer (through dagio) and returns the root, the length
// and the bytes of every dag-pb node, root last.
func dagioImport(t testing.TB, r io.Reader) (cid.Cid, int64, [][]byte) {
	t.Helper()
	var nodes [][]byte
	c, n, err := dagio.Import(context.Background(), r, -1, func(_ context.Context, b blocks.Block) error {
		if b.Cid().Prefix().Codec == cid.DagProtobuf {
			nodes = append(nodes, slices.Clone(b.RawData()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, n, nodes
}

// sumNodes runs h over r and returns the CID, the length and every dag-pb node h encoded.
func sumNodes(t testing.TB, h *cidsum.Hasher, r io.Reader) (cid.Cid, int64, [][]byte) {
	t.Helper()
	var nodes [][]byte
	h.OnNode(func(b []byte) { nodes = append(nodes, slices.Clone(b)) })
	if err := h.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	c, n := h.Sum()
	return c, n, nodes
}

// sameNodes reports whether two sets of dag-pb nodes are equal byte for byte. The roots (last)
// are compared first, so that a failure shows where the encodings part.
func sameNodes(t testing.TB, ours, boxo [][]byte) {
	t.Helper()
	if len(ours) != len(boxo) {
		t.Fatalf("%d dag-pb nodes, boxo made %d", len(ours), len(boxo))
	}
	if len(ours) == 0 {
		return
	}
	a, b := ours[len(ours)-1], boxo[len(boxo)-1]
	if !bytes.Equal(a, b) {
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		lo := max(0, i-16)
		t.Fatalf("root node differs from boxo's at byte %d of %d/%d:\nours %s\nboxo %s",
			i, len(a), len(b), hex.EncodeToString(a[lo:min(len(a), i+32)]), hex.EncodeToString(b[lo:min(len(b), i+32)]))
	}
	ours, boxo = slices.Clone(ours), slices.Clone(boxo)
	slices.SortFunc(ours, bytes.Compare)
	slices.SortFunc(boxo, bytes.Compare)
	for i := range ours {
		if !bytes.Equal(ours[i], boxo[i]) {
			t.Fatalf("dag-pb node sets differ (%d bytes vs %d)", len(ours[i]), len(boxo[i]))
		}
	}
}

// TestAgainstBoxo compares CIDs and every dag-pb node's bytes with boxo's importer at the edges
// of the profile's shape.
func TestAgainstBoxo(t *testing.T) {
	sizes := []int64{0, 1, C - 1, C, C + 1, 2 * C, 2*C + 1, L*C - 1, L * C, L*C + 1, (L+1)*C + 7}
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			want, wn, boxoNodes := dagioImport(t, storetest.Keystream(size))
			got, n, ourNodes := sumNodes(t, cidsum.New(), storetest.Keystream(size))
			sameNodes(t, ourNodes, boxoNodes)
			if got != want || n != wn || n != size {
				t.Fatalf("got %s (%d bytes), boxo %s (%d bytes)", got, n, want, wn)
			}
			// Sum itself.
			c, n, err := cidsum.Sum(storetest.Keystream(size))
			if err != nil || c != want || n != size {
				t.Fatalf("Sum: %s, %d, %v; want %s", c, n, err, want)
			}
		})
	}
}

// TestRandomSizes compares with local.CID for random sizes of random data.
func TestRandomSizes(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	limits := []int64{C, 8 * C, L * C, 2 * L * C}
	if testing.Short() {
		limits = limits[:3]
	}
	for _, limit := range limits {
		size := rng.Int64N(limit) + 1
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(size), byte(size >> 8), byte(seed)}).Read(data)
		want, wn, err := local.CID(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		got, n, err := cidsum.Sum(bytes.NewReader(data))
		if err != nil || got != want || n != wn {
			t.Fatalf("size %d: got %s (%d bytes, %v), local.CID %s (%d bytes)", size, got, n, err, want, wn)
		}
	}
}

// TestGolden compares with the CIDs a real kubo gave the keystream.
func TestGolden(t *testing.T) {
	for _, v := range storetest.Golden() {
		t.Run(v.Name, func(t *testing.T) {
			c, n, err := cidsum.Sum(storetest.Keystream(v.Size))
			if err != nil {
				t.Fatal(err)
			}
			if c != v.CID || n != v.Size {
				t.Fatalf("got %s (%d bytes), kubo %s (%d bytes)", c, n, v.CID, v.Size)
			}
		})
	}
}

// boxoShape imports data with boxo's balanced importer given another chunk size and fan-out,
// and returns the root and the bytes of the dag-pb nodes.
func boxoShape(t testing.TB, data []byte, chunkSize, links int) (cid.Cid, [][]byte) {
	t.Helper()
	dag := &collectDAG{}
	params := helpers.DagBuilderParams{
		Maxlinks:   links,
		RawLeaves:  true,
		CidBuilder: cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: multihash.SHA2_256, MhLength: -1},
		Dagserv:    dag,
	}
	db, err := params.New(chunk.NewSizeSplitter(bytes.NewReader(data), int64(chunkSize)))
	if err != nil {
		t.Fatal(err)
	}
	root, err := balanced.Layout(db)
	if err != nil {
		t.Fatal(err)
	}
	return root.Cid(), dag.nodes
}

// TestShapes builds trees several levels deep from a few bytes, with small chunks and few
// links, and compares them with boxo's given the same shape, for every size up to a depth of
// four or more.
func TestShapes(t *testing.T) {
	for _, s := range []struct{ chunk, links int }{{1, 2}, {3, 3}, {16, 3}, {5, 4}, {2, 174}} {
		top := s.chunk
		for range 4 {
			top *= s.links
		}
		top = min(top+2*s.chunk, 3000)
		data := storetest.KeystreamBytes(int64(top))
		t.Run(fmt.Sprintf("chunk=%d,links=%d", s.chunk, s.links), func(t *testing.T) {
			for size := range top + 1 {
				want, boxoNodes := boxoShape(t, data[:size], s.chunk, s.links)
				got, n, ourNodes := sumNodes(t, cidsum.NewShape(s.chunk, s.links), bytes.NewReader(data[:size]))
				sameNodes(t, ourNodes, boxoNodes)
				if got != want || n != int64(size) {
					t.Fatalf("size %d: got %s (%d bytes), boxo %s", size, got, n, want)
				}

				// One byte at a time.
				h := cidsum.NewShape(s.chunk, s.links)
				for i := range size {
					h.Write(data[i : i+1])
				}
				if got, n := h.Sum(); got != want || n != int64(size) {
					t.Fatalf("size %d, 1-byte writes: got %s (%d bytes), boxo %s", size, got, n, want)
				}
			}
		})
	}
}

// TestWrites checks that the CID does not depend on how the stream is split into writes, and
// that Sum in the middle neither changes the state nor differs from the CID of the prefix.
func TestWrites(t *testing.T) {
	t.Run("1-byte", func(t *testing.T) {
		data := storetest.KeystreamBytes(2*C + 1000)
		want, _, err := local.CID(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		h := cidsum.New()
		for i := range data {
			if n, err := h.Write(data[i : i+1]); n != 1 || err != nil {
				t.Fatalf("Write: %d, %v", n, err)
			}
		}
		if got, n := h.Sum(); got != want || n != int64(len(data)) {
			t.Fatalf("got %s (%d bytes), want %s", got, n, want)
		}
	})
	t.Run("random", func(t *testing.T) {
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 2))
		data := storetest.KeystreamBytes((L+3)*C + 77)
		want, _, err := local.CID(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		// Prefixes at which to call Sum midway, and their CIDs.
		checks := map[int]cid.Cid{}
		for _, at := range []int{rng.IntN(C), L*C + rng.IntN(2*C), rng.IntN(len(data))} {
			c, _, err := local.CID(bytes.NewReader(data[:at]))
			if err != nil {
				t.Fatal(err)
			}
			checks[at] = c
		}
		for round := range 3 {
			h := cidsum.New()
			var splits int
			for off := 0; off < len(data); splits++ {
				var k int
				switch rng.IntN(3) {
				case 0:
					k = 1 + rng.IntN(17)
				case 1:
					k = C - 3 + rng.IntN(7)
				default:
					k = 1 + rng.IntN(3*C)
				}
				k = min(k, len(data)-off)
				// Stop at each check point on the way.
				for at := range checks {
					if off < at && at < off+k {
						k = at - off
					}
				}
				h.Write(data[off : off+k])
				off += k
				if c, ok := checks[off]; ok {
					if got, n := h.Sum(); got != c || n != int64(off) {
						t.Fatalf("round %d: Sum after %d bytes: %s (%d bytes), want %s", round, off, got, n, c)
					}
				}
			}
			if got, n := h.Sum(); got != want || n != int64(len(data)) {
				t.Fatalf("round %d, %d writes: got %s (%d bytes), want %s", round, splits, got, n, want)
			}
		}
	})
	t.Run("zero Hasher", func(t *testing.T) {
		var h cidsum.Hasher
		c, n := h.Sum()
		want, _, _ := local.CID(bytes.NewReader(nil))
		if c != want || n != 0 {
			t.Fatalf("empty: got %s, want %s", c, want)
		}
		data := storetest.KeystreamBytes(C + 1)
		h.Write(data)
		want, _, _ = local.CID(bytes.NewReader(data))
		if c, _ := h.Sum(); c != want {
			t.Fatalf("got %s, want %s", c, want)
		}
	})
}

var errBroken = errors.New("broken reader")

type failingReader struct {
	r io.Reader
}

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errBroken
	}
	return n, err
}

func TestReadError(t *testing.T) {
	c, n, err := cidsum.Sum(failingReader{storetest.Keystream(C + 5)})
	if !errors.Is(err, errBroken) || c.Defined() || n != C+5 {
		t.Fatalf("got %s, %d, %v", c, n, err)
	}
}

// patternReader yields n bytes of a repeating pattern whose length is prime to the chunk size,
// so that leaves differ; it costs a copy per byte.
type patternReader struct {
	pat []byte
	off int
	n   int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	k := 0
	for k < len(b) {
		c := copy(b[k:], p.pat[p.off:])
		k += c
		p.off = (p.off + c) % len(p.pat)
	}
	p.n -= int64(k)
	return k, nil
}

// TestDepth3 compares with boxo's importer for the smallest blob whose tree has three levels
// of dag-pb nodes: 174×174 full chunks and one byte (about 7.9 GB, hashed twice: about 11 s on
// a 2-core AMD EPYC with SHA extensions, so not skipped in short mode).
func TestDepth3(t *testing.T) {
	const size = L*L*C + 1
	pat := storetest.KeystreamBytes(1<<20 + 7)
	start := time.Now()
	got, n, ours := sumNodes(t, cidsum.New(), &patternReader{pat: pat, n: size})
	t.Logf("cidsum: %v", time.Since(start))
	start = time.Now()
	want, wn, boxo := dagioImport(t, &patternReader{pat: pat, n: size})
	t.Logf("dagio.Import: %v", time.Since(start))
	if got != want || n != wn || n != size {
		t.Fatalf("got %s (%d bytes), boxo %s (%d bytes)", got, n, want, wn)
	}
	// 175 nodes over the leaves, 2 over those, and the root.
	if len(ours) != L+1+2+1 {
		t.Fatalf("%d dag-pb nodes, want %d", len(ours), L+4)
	}
	sameNodes(t, ours, boxo)
}

func benchData(b *testing.B) []byte {
	const size = 64 << 20
	b.SetBytes(size)
	b.ReportAllocs()
	return storetest.KeystreamBytes(size)
}

func BenchmarkSum(b *testing.B) {
	data := benchData(b)
	for b.Loop() {
		if _, _, err := cidsum.Sum(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLocalCID(b *testing.B) {
	data := benchData(b)
	for b.Loop() {
		if _, _, err := local.CID(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// collectDAG is the write half of an ipld.DAGService that keeps the dag-pb nodes' bytes.
type collectDAG struct{ nodes [][]byte }

func (d *collectDAG) Add(_ context.Context, n ipld.Node) error {
	if n.Cid().Prefix().Codec == cid.DagProtobuf {
		d.nodes = append(d.nodes, slices.Clone(n.RawData()))
	}
	return nil
}

func (d *collectDAG) AddMany(ctx context.Context, ns []ipld.Node) error {
	for _, n := range ns {
		if err := d.Add(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (*collectDAG) Get(context.Context, cid.Cid) (ipld.Node, error) {
	return nil, errors.New("write-only")
}

func (*collectDAG) GetMany(context.Context, []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption, 1)
	ch <- &ipld.NodeOption{Err: errors.New("write-only")}
	close(ch)
	return ch
}

func (*collectDAG) Remove(context.Context, cid.Cid) error       { return nil }
func (*collectDAG) RemoveMany(context.Context, []cid.Cid) error { return nil }
