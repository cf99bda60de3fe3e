package dagio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	unixfspb "github.com/ipfs/boxo/ipld/unixfs/pb"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/resilientrecords/resilientrecords/store"
)

type memBlocks map[string][]byte

func (m memBlocks) get(_ context.Context, c cid.Cid) ([]byte, error) {
	b, ok := m[string(c.Hash())]
	if !ok {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, c)
	}
	return b, nil
}

func (m memBlocks) raw(data []byte) cid.Cid {
	b := blocks.NewBlock(data)
	c := cid.NewCidV1(cid.Raw, b.Multihash())
	m[string(c.Hash())] = data
	return c
}

// file adds a dag-pb UnixFS node with the given type, inline data, children and claimed sizes.
func (m memBlocks) file(t testing.TB, typ unixfspb.Data_DataType, data []byte, children []cid.Cid, sizes []uint64, filesize uint64) cid.Cid {
	t.Helper()
	fs := unixfs.NewFSNode(typ)
	fs.SetData(data)
	for _, s := range sizes {
		fs.AddBlockSize(s)
	}
	fs.UpdateFilesize(int64(filesize) - int64(fs.FileSize()))
	pbData, err := fs.GetBytes()
	if err != nil {
		t.Fatal(err)
	}
	n := merkledag.NodeWithData(pbData)
	n.SetCidBuilder(cidBuilder)
	for i, c := range children {
		if err := n.AddRawLink(fmt.Sprint(i), &ipld.Link{Cid: c}); err != nil {
			t.Fatal(err)
		}
	}
	m[string(n.Cid().Hash())] = n.RawData()
	return n.Cid()
}

func readAll(t *testing.T, m memBlocks, root cid.Cid, off, n int64) ([]byte, error) {
	t.Helper()
	r, err := NewReader(context.Background(), m.get, root, off, n)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestInlineDataAndChildren(t *testing.T) {
	m := memBlocks{}
	a, b := m.raw([]byte("hello ")), m.raw([]byte("world"))
	root := m.file(t, unixfspb.Data_File, []byte(">> "), []cid.Cid{a, b}, []uint64{6, 5}, 14)
	got, err := readAll(t, m, root, 0, -1)
	if err != nil || string(got) != ">> hello world" {
		t.Fatalf("read = %q, %v", got, err)
	}
	got, err = readAll(t, m, root, 2, 6)
	if err != nil || string(got) != " hello" {
		t.Fatalf("range read = %q, %v", got, err)
	}
}

func TestLyingSizes(t *testing.T) {
	m := memBlocks{}
	a := m.raw([]byte("short"))
	// The parent says the child holds 10 bytes; it holds 5.
	root := m.file(t, unixfspb.Data_File, nil, []cid.Cid{a}, []uint64{10}, 10)
	if _, err := readAll(t, m, root, 0, -1); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("child smaller than claimed: error = %v; want ErrCorrupt", err)
	}
	// filesize disagrees with the block sizes.
	bad := m.file(t, unixfspb.Data_File, nil, []cid.Cid{a}, []uint64{5}, 7)
	if _, err := readAll(t, m, bad, 0, -1); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("filesize mismatch: error = %v; want ErrCorrupt", err)
	}
	// More links than block sizes.
	links := m.file(t, unixfspb.Data_File, nil, []cid.Cid{a, a}, []uint64{5}, 5)
	if _, err := readAll(t, m, links, 0, -1); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("links without sizes: error = %v; want ErrCorrupt", err)
	}
}

func TestNotAFile(t *testing.T) {
	m := memBlocks{}
	dir := m.file(t, unixfspb.Data_Directory, nil, nil, nil, 0)
	if _, err := readAll(t, m, dir, 0, -1); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("directory: error = %v; want ErrUnsupported", err)
	}
}

func TestMissingChild(t *testing.T) {
	m := memBlocks{}
	a := m.raw([]byte("gone"))
	root := m.file(t, unixfspb.Data_File, nil, []cid.Cid{a}, []uint64{4}, 4)
	delete(m, string(a.Hash()))
	if _, err := readAll(t, m, root, 0, -1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing child: error = %v; want ErrNotFound", err)
	}
}

func TestImportLimit(t *testing.T) {
	_, _, err := Import(context.Background(), bytes.NewReader(make([]byte, 1001)), 1000, func(context.Context, blocks.Block) error { return nil })
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Import over the limit: error = %v; want ErrTooLarge", err)
	}
}

// FuzzDecodeFile: any bytes under a dag-pb or raw CID decode to an error or a consistent node,
// never a panic.
func FuzzDecodeFile(f *testing.F) {
	m := memBlocks{}
	a := m.raw([]byte("abc"))
	f.Add(m[string(m.file(f, unixfspb.Data_File, []byte("x"), []cid.Cid{a}, []uint64{3}, 4).Hash())])
	f.Add([]byte{0x0a, 0x02, 0x08, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := blocks.NewBlock(data)
		c := cid.NewCidV1(cid.DagProtobuf, b.Multihash())
		items, size, err := decodeFile(c, data)
		if err != nil {
			return
		}
		var sum uint64
		for _, it := range items {
			sum += it.size
		}
		if sum != size {
			t.Fatalf("items add up to %d, size %d", sum, size)
		}
	})
}
