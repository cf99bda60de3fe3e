// Package dagio holds the UnixFS DAG code both stores share: the frozen import profile, a
// verifying range reader, DAG walks, and CAR encoding. Every block it reads is hashed and
// compared with its CID before use.
package dagio

import (
	"context"
	"fmt"
	"io"

	chunk "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"

	"github.com/resilientrecords/resilientrecords/store"
)

// The frozen import profile: kubo v0.43.0's defaults for 'ipfs add --cid-version=1 --raw-leaves'.
// Changing any of these changes the CID of every file larger than one chunk, so they are
// constants here rather than read from boxo's mutable package globals.
const (
	ChunkSize = 262144 // chunker size-262144
	MaxLinks  = 174    // links per internal node (Import.UnixFSFileMaxLinks)
	// ProfileID names this profile in records and docs.
	ProfileID = "unixfs-v1-kubo-0.43-default"
)

// MaxBlockSize bounds every block read from disk, a daemon or a CAR. Blocks of the profile are
// at most one chunk or one internal node of 174 links (about 8 KiB); 2 MiB is the largest block
// bitswap moves, so nothing valid is bigger.
const MaxBlockSize = 2 << 20

// cidBuilder gives CIDv1, dag-pb, sha2-256 for internal nodes; raw leaves take their prefix from
// boxo's raw-leaf path (CIDv1, raw, same hash).
var cidBuilder = cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: multihash.SHA2_256, MhLength: -1}

// Sink receives every block the importer creates, leaves first and the root last.
type Sink func(ctx context.Context, b blocks.Block) error

// Import chunks r with the frozen profile, hands every block to sink, and returns the root CID
// and the number of bytes read. If max >= 0 and r yields more than max bytes, Import stops and
// returns an error wrapping store.ErrTooLarge. Memory use is bounded by a few chunks plus one
// internal node per tree level, whatever the length of r.
func Import(ctx context.Context, r io.Reader, max int64, sink Sink) (cid.Cid, int64, error) {
	cr := &countingReader{ctx: ctx, r: r, max: max}
	params := helpers.DagBuilderParams{
		Maxlinks:   MaxLinks,
		RawLeaves:  true,
		CidBuilder: cidBuilder,
		Dagserv:    sinkDAG{ctx: ctx, sink: sink},
	}
	db, err := params.New(chunk.NewSizeSplitter(cr, ChunkSize))
	if err != nil {
		return cid.Undef, 0, err
	}
	root, err := balanced.Layout(db)
	if cr.err != nil {
		// The chunker reports reader errors as its own; return the original for errors.Is.
		return cid.Undef, cr.n, cr.err
	}
	if err != nil {
		return cid.Undef, cr.n, fmt.Errorf("import: %w", err)
	}
	return root.Cid(), cr.n, nil
}

type countingReader struct {
	ctx context.Context
	r   io.Reader
	max int64
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.max >= 0 && c.n > c.max {
		c.err = fmt.Errorf("%w: more than %d bytes", store.ErrTooLarge, c.max)
		return 0, c.err
	}
	if err != nil && err != io.EOF {
		c.err = fmt.Errorf("reading input: %w", err)
		return n, c.err
	}
	return n, err
}

// sinkDAG adapts a Sink to the write half of ipld.DAGService, which is all the importer uses.
type sinkDAG struct {
	ctx  context.Context
	sink Sink
}

func (s sinkDAG) Add(_ context.Context, n ipld.Node) error { return s.sink(s.ctx, n) }

func (s sinkDAG) AddMany(ctx context.Context, ns []ipld.Node) error {
	for _, n := range ns {
		if err := s.Add(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (sinkDAG) Get(context.Context, cid.Cid) (ipld.Node, error) {
	return nil, fmt.Errorf("dagio: the importer sink is write-only")
}

func (sinkDAG) GetMany(context.Context, []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption, 1)
	ch <- &ipld.NodeOption{Err: fmt.Errorf("dagio: the importer sink is write-only")}
	close(ch)
	return ch
}

func (sinkDAG) Remove(context.Context, cid.Cid) error       { return nil }
func (sinkDAG) RemoveMany(context.Context, []cid.Cid) error { return nil }

// CheckCID rejects CIDs the stores never produce or accept: anything but CIDv0/v1 with a
// sha2-256 multihash and the raw or dag-pb codec.
func CheckCID(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("%w: undefined CID", store.ErrNotFound)
	}
	p := c.Prefix()
	if p.MhType != multihash.SHA2_256 || p.MhLength != 32 {
		return fmt.Errorf("%w: CID %s does not use sha2-256", store.ErrUnsupported, c)
	}
	if p.Codec != cid.Raw && p.Codec != cid.DagProtobuf {
		return fmt.Errorf("%w: CID %s is neither raw nor dag-pb", store.ErrUnsupported, c)
	}
	return nil
}
