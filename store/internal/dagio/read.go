package dagio

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	unixfspb "github.com/ipfs/boxo/ipld/unixfs/pb"
	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/store"
)

// Getter returns the bytes of one block. It does not have to verify them: Fetch does. It must
// return an error wrapping store.ErrNotFound for a block it does not hold.
type Getter func(ctx context.Context, c cid.Cid) ([]byte, error)

// maxDepth bounds how deep a reader descends. The profile needs 4 levels for a 4 TiB file.
const maxDepth = 32

// Fetch gets block c and checks that it hashes to c.
func Fetch(ctx context.Context, get Getter, c cid.Cid) ([]byte, error) {
	if err := CheckCID(c); err != nil {
		return nil, err
	}
	b, err := get(ctx, c)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBlockSize {
		return nil, fmt.Errorf("%w: block %s is %d bytes, over the %d-byte limit", store.ErrCorrupt, c, len(b), MaxBlockSize)
	}
	if err := Verify(c, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Verify checks that data hashes to c.
func Verify(c cid.Cid, data []byte) error {
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return fmt.Errorf("%w: hashing block %s: %v", store.ErrCorrupt, c, err)
	}
	if !got.Equals(c) {
		return fmt.Errorf("%w: block %s hashes to %s", store.ErrCorrupt, c, got)
	}
	return nil
}

// item is one piece of a file node's content in order: inline bytes or a child subtree.
type item struct {
	data  []byte
	child cid.Cid
	size  uint64
}

// decodeFile turns a verified block into the ordered pieces of the file it represents and the
// file's total size, checking that the sizes the node claims add up.
func decodeFile(c cid.Cid, b []byte) ([]item, uint64, error) {
	if c.Type() == cid.Raw {
		return []item{{data: b, size: uint64(len(b))}}, uint64(len(b)), nil
	}
	pn, err := merkledag.DecodeProtobuf(b)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: node %s: %v", store.ErrCorrupt, c, err)
	}
	fs, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: node %s: %v", store.ErrCorrupt, c, err)
	}
	switch fs.Type() {
	case unixfspb.Data_File, unixfspb.Data_Raw:
	default:
		return nil, 0, fmt.Errorf("%w: node %s is a UnixFS %s, not a file", store.ErrUnsupported, c, fs.Type())
	}
	links := pn.Links()
	if len(links) != fs.NumChildren() {
		return nil, 0, fmt.Errorf("%w: node %s has %d links but %d block sizes", store.ErrCorrupt, c, len(links), fs.NumChildren())
	}
	items := make([]item, 0, len(links)+1)
	total := uint64(len(fs.Data()))
	if total > 0 {
		items = append(items, item{data: fs.Data(), size: total})
	}
	for i, l := range links {
		if err := CheckCID(l.Cid); err != nil {
			return nil, 0, fmt.Errorf("node %s: %w", c, err)
		}
		s := fs.BlockSize(i)
		if s > math.MaxInt64-total {
			return nil, 0, fmt.Errorf("%w: node %s: sizes overflow", store.ErrCorrupt, c)
		}
		total += s
		items = append(items, item{child: l.Cid, size: s})
	}
	if fs.FileSize() != total {
		return nil, 0, fmt.Errorf("%w: node %s claims %d bytes but its parts hold %d", store.ErrCorrupt, c, fs.FileSize(), total)
	}
	return items, total, nil
}

// Size returns the length of the file whose root is c.
func Size(ctx context.Context, get Getter, c cid.Cid) (int64, error) {
	b, err := Fetch(ctx, get, c)
	if err != nil {
		return 0, err
	}
	_, size, err := decodeFile(c, b)
	return int64(size), err
}

// NewReader returns a reader of length bytes of the file root starting at offset (length < 0:
// to the end). It fetches the root now and then only the blocks that overlap the range, one at a
// time, verifying each.
func NewReader(ctx context.Context, get Getter, root cid.Cid, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("%w: negative offset %d", store.ErrRange, offset)
	}
	b, err := Fetch(ctx, get, root)
	if err != nil {
		return nil, err
	}
	items, size, err := decodeFile(root, b)
	if err != nil {
		return nil, err
	}
	if uint64(offset) > size {
		return nil, fmt.Errorf("%w: offset %d is past the end of %s (%d bytes)", store.ErrRange, offset, root, size)
	}
	left := size - uint64(offset)
	if length >= 0 && uint64(length) < left {
		left = uint64(length)
	}
	return &reader{ctx: ctx, get: get, stack: []frame{{items: items}}, skip: uint64(offset), left: left}, nil
}

type frame struct {
	items []item
	next  int
}

type reader struct {
	ctx   context.Context
	get   Getter
	stack []frame
	buf   []byte
	skip  uint64 // bytes still to skip before the range starts
	left  uint64 // bytes of the range not yet returned
	err   error
}

func (r *reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	for len(r.buf) == 0 {
		if err := r.advance(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := len(r.buf)
	if uint64(n) > r.left {
		n = int(r.left)
	}
	n = copy(p, r.buf[:n])
	r.buf = r.buf[n:]
	r.left -= uint64(n)
	return n, nil
}

// advance moves to the next piece of content, skipping whole subtrees before the range without
// fetching them, until it has bytes in r.buf.
func (r *reader) advance() error {
	if len(r.stack) == 0 {
		return fmt.Errorf("%w: the DAG ends before its claimed size", store.ErrCorrupt)
	}
	top := &r.stack[len(r.stack)-1]
	if top.next == len(top.items) {
		r.stack = r.stack[:len(r.stack)-1]
		return nil
	}
	it := top.items[top.next]
	top.next++
	if it.size <= r.skip {
		r.skip -= it.size
		return nil
	}
	if it.data != nil {
		r.buf = it.data[r.skip:]
		r.skip = 0
		return nil
	}
	if len(r.stack) >= maxDepth {
		return fmt.Errorf("%w: DAG deeper than %d levels", store.ErrCorrupt, maxDepth)
	}
	b, err := Fetch(r.ctx, r.get, it.child)
	if err != nil {
		return err
	}
	items, size, err := decodeFile(it.child, b)
	if err != nil {
		return err
	}
	if size != it.size {
		return fmt.Errorf("%w: child %s holds %d bytes, its parent says %d", store.ErrCorrupt, it.child, size, it.size)
	}
	r.stack = append(r.stack, frame{items: items})
	return nil
}

func (r *reader) Close() error {
	r.err = fmt.Errorf("read after close")
	r.stack, r.buf = nil, nil
	return nil
}
