package dagio

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"

	"github.com/resilientrecords/resilientrecords/store"
)

// Walk visits root and every block below it exactly once, depth-first pre-order. dag-pb nodes
// are fetched and verified to find their links; raw leaves are fetched only if fetchRaw is set,
// otherwise visit gets nil data for them.
func Walk(ctx context.Context, get Getter, root cid.Cid, fetchRaw bool, visit func(c cid.Cid, data []byte) error) error {
	seen := make(map[string]struct{})
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[string(c.Hash())]; ok {
			continue
		}
		seen[string(c.Hash())] = struct{}{}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := CheckCID(c); err != nil {
			return err
		}
		var data []byte
		if c.Type() == cid.DagProtobuf || fetchRaw {
			b, err := Fetch(ctx, get, c)
			if err != nil {
				return err
			}
			data = b
		}
		if c.Type() == cid.DagProtobuf {
			pn, err := merkledag.DecodeProtobuf(data)
			if err != nil {
				return fmt.Errorf("%w: node %s: %v", store.ErrCorrupt, c, err)
			}
			links := pn.Links()
			for i := len(links) - 1; i >= 0; i-- {
				stack = append(stack, links[i].Cid)
			}
		}
		if err := visit(c, data); err != nil {
			return err
		}
	}
	return nil
}

// WriteCAR writes the DAG under root to w as a CARv1 with root as its only root and the blocks
// in depth-first pre-order, so a reader can verify and consume it as a stream.
func WriteCAR(ctx context.Context, w io.Writer, get Getter, root cid.Cid) error {
	car, err := storage.NewWritable(w, []cid.Cid{root}, carv2.WriteAsCarV1(true))
	if err != nil {
		return fmt.Errorf("writing CAR header: %w", err)
	}
	err = Walk(ctx, get, root, true, func(c cid.Cid, data []byte) error {
		return car.Put(ctx, c.KeyString(), data)
	})
	if err != nil {
		return err
	}
	return car.Finalize()
}

// Limits on CAR input: a header with more roots than this is not one of ours.
const (
	maxCARRoots      = 64
	maxCARHeaderSize = 64 << 10
)

// ReadCAR reads a CARv1 or CARv2 stream, verifies every block and passes it to put, and returns
// the header's roots. Malformed input is an error wrapping store.ErrInvalidCAR.
func ReadCAR(ctx context.Context, r io.Reader, put func(blocks.Block) error) ([]cid.Cid, error) {
	br, err := carv2.NewBlockReader(r,
		carv2.MaxAllowedHeaderSize(maxCARHeaderSize),
		carv2.MaxAllowedSectionSize(MaxBlockSize+128),
		carv2.WithTrustedCAR(true)) // verified below, with our own error
	if err != nil {
		return nil, fmt.Errorf("%w: %v", store.ErrInvalidCAR, err)
	}
	if len(br.Roots) == 0 || len(br.Roots) > maxCARRoots {
		return nil, fmt.Errorf("%w: %d roots (want 1..%d)", store.ErrInvalidCAR, len(br.Roots), maxCARRoots)
	}
	for _, c := range br.Roots {
		if err := CheckCID(c); err != nil {
			return nil, fmt.Errorf("%w: root: %v", store.ErrInvalidCAR, err)
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", store.ErrInvalidCAR, err)
		}
		if err := CheckCID(b.Cid()); err != nil {
			return nil, fmt.Errorf("%w: %v", store.ErrInvalidCAR, err)
		}
		if err := Verify(b.Cid(), b.RawData()); err != nil {
			return nil, fmt.Errorf("%w: %v", store.ErrInvalidCAR, err)
		}
		if err := put(b); err != nil {
			return nil, err
		}
	}
	return br.Roots, nil
}
