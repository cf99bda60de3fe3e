// Package cidsum computes the CID that 'ipfs add --cid-version=1 --raw-leaves' gives a stream of
// bytes under the frozen import profile of store/SPEC.md §1 (kubo v0.43.0 defaults: fixed
// 262,144-byte chunks, balanced layout, 174 links per node, raw leaves, CIDv1, sha2-256), the
// same CID store/local stores a blob under.
//
// It exists for clients that need a blob's CID but have no blockstore. store/local imports with
// boxo's balanced importer, which links boxo's blockstore and blockservice and go-datastore;
// this package only computes. It hashes every chunk as it arrives and keeps, per tree level,
// the links of the node not yet complete, so memory use is one chunk plus at most 174 links per
// level, like a hash. It encodes the dag-pb nodes and their UnixFS Data by hand, byte for byte
// as boxo does, and imports only go-cid, go-multihash and the standard library. Its tests check
// it against boxo's importer and against CIDs a real kubo produced.
package cidsum

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// The frozen import profile (the constants of store/internal/dagio, which this package must
// not import).
const (
	chunkSize = 262144 // chunker size-262144
	maxLinks  = 174    // links per internal node
)

// Sum computes the CID and length of everything read from r, up to io.EOF. A read error is
// returned wrapped, with the number of bytes read before it.
func Sum(r io.Reader) (cid.Cid, int64, error) {
	h := New()
	if err := h.readFrom(r); err != nil {
		return cid.Undef, h.n, fmt.Errorf("cidsum: reading input: %w", err)
	}
	c, n := h.Sum()
	return c, n, nil
}

// Hasher is an io.Writer that computes the CID of the bytes written to it; Sum finishes it.
// Sum does not change the Hasher's state, so writing may go on after it, as with hash.Hash.
// A Hasher is not safe for concurrent use. The zero Hasher is ready to use.
type Hasher struct {
	chunk int    // chunk size; 0 means chunkSize (tests shrink it)
	buf   []byte // the incomplete chunk; len(buf) < chunk
	n     int64  // bytes written
	t     tree
}

// New returns a Hasher for the frozen import profile.
func New() *Hasher { return new(Hasher) }

func (h *Hasher) init() {
	if h.chunk == 0 {
		h.chunk = chunkSize
	}
	if h.t.links == 0 {
		h.t.links = maxLinks
	}
	if h.buf == nil {
		h.buf = make([]byte, 0, h.chunk)
	}
}

// Write adds p to the stream. It never returns an error.
func (h *Hasher) Write(p []byte) (int, error) {
	h.init()
	n := len(p)
	h.n += int64(n)
	for len(p) > 0 {
		if len(h.buf) == 0 && len(p) >= h.chunk {
			// A whole chunk in the caller's slice: hash it in place.
			h.t.add(0, leaf(p[:h.chunk]))
			p = p[h.chunk:]
			continue
		}
		k := copy(h.buf[len(h.buf):h.chunk], p)
		h.buf = h.buf[:len(h.buf)+k]
		p = p[k:]
		if len(h.buf) == h.chunk {
			h.t.add(0, leaf(h.buf))
			h.buf = h.buf[:0]
		}
	}
	return n, nil
}

// readFrom reads r to io.EOF straight into the chunk buffer.
func (h *Hasher) readFrom(r io.Reader) error {
	h.init()
	for {
		free := h.buf[len(h.buf):h.chunk]
		k, err := r.Read(free)
		if k < 0 || k > len(free) {
			return fmt.Errorf("invalid count %d from Read", k)
		}
		h.buf = h.buf[:len(h.buf)+k]
		h.n += int64(k)
		if len(h.buf) == h.chunk {
			h.t.add(0, leaf(h.buf))
			h.buf = h.buf[:0]
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Sum returns the CID and length of the bytes written so far.
func (h *Hasher) Sum() (cid.Cid, int64) {
	if h.n == 0 {
		// boxo's importer makes the empty raw block for an empty stream.
		return leaf(nil).cid(), 0
	}
	t := h.t.clone()
	if len(h.buf) > 0 {
		t.add(0, leaf(h.buf))
	}
	return t.root().cid(), h.n
}

// link is a child of a dag-pb node.
type link struct {
	codec  byte     // cid.Raw or cid.DagProtobuf; both are one-byte varints
	digest [32]byte // sha2-256 of the block
	tsize  uint64   // the block's size plus its descendants' (dag-pb Tsize)
	fsize  uint64   // file bytes under the block (UnixFS blocksizes entry)
}

func leaf(b []byte) link {
	n := uint64(len(b))
	return link{codec: cid.Raw, digest: sha256.Sum256(b), tsize: n, fsize: n}
}

func (l link) cid() cid.Cid {
	mh, err := multihash.Encode(l.digest[:], multihash.SHA2_256)
	if err != nil {
		panic(err) // a 32-byte sha2-256 digest always encodes
	}
	return cid.NewCidV1(uint64(l.codec), mh)
}

// tree holds the pending links of each level: levels[0] are leaves, levels[i+1] the nodes
// made from levels[i]. A level is made into a node only when a further child arrives for it
// (or at the end), as boxo's balanced layout extends the tree only while data remains, so a
// full level at the end of the stream is not followed by an empty sibling.
type tree struct {
	links  int // maximum links per node
	levels [][]link
	enc    []byte       // scratch for encoding a node
	onNode func([]byte) // test hook: sees every dag-pb node's bytes
}

func (t *tree) clone() tree {
	c := *t
	c.levels = make([][]link, len(t.levels))
	for i, ls := range t.levels {
		c.levels[i] = append(make([]link, 0, t.links), ls...)
	}
	return c
}

// add appends l to level i, first making that level's links into a node on level i+1 if the
// level is full.
func (t *tree) add(i int, l link) {
	if i == len(t.levels) {
		t.levels = append(t.levels, make([]link, 0, t.links))
	}
	if len(t.levels[i]) == t.links {
		t.add(i+1, t.node(t.levels[i]))
		t.levels[i] = t.levels[i][:0]
	}
	t.levels[i] = append(t.levels[i], l)
}

// root completes the tree. Every level below the top holds at least one link (a level is
// emptied only to take a new one), so each becomes a node, possibly of one child, which keeps
// all leaves at the same depth as in boxo's layout. A single leaf is its own root.
func (t *tree) root() link {
	for i := 0; ; i++ {
		if i == len(t.levels)-1 && len(t.levels[i]) == 1 {
			return t.levels[i][0]
		}
		nd := t.node(t.levels[i])
		t.levels[i] = t.levels[i][:0]
		t.add(i+1, nd)
	}
}

// node encodes a dag-pb node over ls exactly as boxo does, and returns the link to it.
//
//	PBNode  { repeated PBLink Links = 2; optional bytes Data = 1 }  Links first, then Data
//	PBLink  { Hash = 1 (CID bytes); Name = 2 (always present, empty); Tsize = 3 }
//	UnixFS Data { Type = 1 (File = 2); filesize = 3; repeated blocksizes = 4 (not packed) }
func (t *tree) node(ls []link) link {
	var fsize, tsize uint64
	for _, l := range ls {
		fsize += l.fsize
		tsize += l.tsize
	}
	b := t.enc[:0]
	for _, l := range ls {
		// Hash: 0x0a, 36, CID {version 1, codec, sha2-256, 32, digest}; Name: 0x12 0x00;
		// Tsize: 0x18 varint.
		b = append(b, 0x12) // PBNode.Links
		b = binary.AppendUvarint(b, uint64(2+36+2+1+uvarintLen(l.tsize)))
		b = append(b, 0x0a, 36, 0x01, l.codec, 0x12, 32)
		b = append(b, l.digest[:]...)
		b = append(b, 0x12, 0x00, 0x18)
		b = binary.AppendUvarint(b, l.tsize)
	}
	data := 2 + 1 + uvarintLen(fsize)
	for _, l := range ls {
		data += 1 + uvarintLen(l.fsize)
	}
	b = append(b, 0x0a) // PBNode.Data
	b = binary.AppendUvarint(b, uint64(data))
	b = append(b, 0x08, 0x02, 0x18) // Type: File; filesize
	b = binary.AppendUvarint(b, fsize)
	for _, l := range ls {
		b = append(b, 0x20) // one blocksizes entry
		b = binary.AppendUvarint(b, l.fsize)
	}
	t.enc = b
	if t.onNode != nil {
		t.onNode(b)
	}
	return link{codec: cid.DagProtobuf, digest: sha256.Sum256(b), tsize: uint64(len(b)) + tsize, fsize: fsize}
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }
