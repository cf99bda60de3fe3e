package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ipfs/boxo/datastore/dshelp"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/store/internal/dagio"
)

// Delete removes root c, then unlinks every block of c that no other stored root reaches.
func (s *Store) Delete(ctx context.Context, c cid.Cid) error {
	s.write.Lock()
	defer s.write.Unlock()
	if err := s.requireRoot(ctx, c); err != nil {
		return err
	}
	var candidates []cid.Cid
	walkErr := dagio.Walk(ctx, s.getBlock, c, false, func(c cid.Cid, _ []byte) error {
		candidates = append(candidates, c)
		return nil
	})
	if err := os.Remove(s.rootPath(c)); err != nil {
		return fmt.Errorf("local store: delete %s: %w", c, err)
	}
	if walkErr != nil {
		// Part of the DAG is unreadable, so its lower blocks are unknown: sweep everything.
		s.log.Warn("local store: deleted root has unreadable blocks; sweeping the whole store", "root", c, "err", walkErr)
		_, err := s.gc(ctx)
		return err
	}
	return s.sweep(ctx, candidates, nil)
}

// GC unlinks every block no stored root reaches, such as blocks left by a crash in the middle of
// a Put or Delete. It returns how many blocks it removed.
func (s *Store) GC(ctx context.Context) (int, error) {
	s.write.Lock()
	defer s.write.Unlock()
	return s.gc(ctx)
}

func (s *Store) gc(ctx context.Context) (int, error) {
	live, err := s.mark(ctx)
	if err != nil {
		return 0, err
	}
	res, err := s.ds.Query(ctx, query.Query{KeysOnly: true})
	if err != nil {
		return 0, fmt.Errorf("local store: gc: %w", err)
	}
	defer res.Close()
	removed := 0
	for r := range res.Next() {
		if r.Error != nil {
			return removed, fmt.Errorf("local store: gc: %w", r.Error)
		}
		mh, err := dshelp.DsKeyToMultihash(datastore.NewKey(r.Key))
		if err != nil {
			continue
		}
		if _, ok := live[string(mh)]; ok {
			continue
		}
		if err := s.bs.DeleteBlock(ctx, cid.NewCidV1(cid.Raw, mh)); err != nil {
			return removed, fmt.Errorf("local store: gc: %w", err)
		}
		removed++
	}
	return removed, nil
}

// mark returns the multihashes of every block reachable from a stored root. A root whose DAG
// cannot be read is logged and marked as far as it can be: its readable part is already
// unverifiable as a whole, and refusing to sweep would let one damaged record block every erasure.
func (s *Store) mark(ctx context.Context) (map[string]struct{}, error) {
	roots, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	live := make(map[string]struct{})
	for _, r := range roots {
		err := dagio.Walk(ctx, s.getBlock, r, false, func(c cid.Cid, _ []byte) error {
			live[string(c.Hash())] = struct{}{}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.log.Warn("local store: cannot walk a live root while marking", "root", r, "err", err)
		}
	}
	return live, nil
}

// sweep unlinks the candidate blocks that no stored root reaches. live may be nil, in which case
// it is computed.
func (s *Store) sweep(ctx context.Context, candidates []cid.Cid, live map[string]struct{}) error {
	if len(candidates) == 0 {
		return nil
	}
	if live == nil {
		var err error
		if live, err = s.mark(ctx); err != nil {
			return fmt.Errorf("local store: sweep: %w", err)
		}
	}
	for _, c := range candidates {
		if _, ok := live[string(c.Hash())]; ok {
			continue
		}
		if err := s.bs.DeleteBlock(ctx, c); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("local store: deleting block %s: %w", c, err)
		}
	}
	return nil
}

// ImportCAR stores the DAGs of a CAR stream's roots. Blocks are verified as they arrive, before
// they are written; if the stream is malformed, too large, or a root's DAG is incomplete, every
// block it added is swept again and no root is recorded.
func (s *Store) ImportCAR(ctx context.Context, r io.Reader) ([]cid.Cid, error) {
	s.write.Lock()
	defer s.write.Unlock()
	var written []cid.Cid
	var total int64
	limit := s.max + s.max/64 + dagio.MaxBlockSize // file bytes plus internal nodes
	// As in Put, verified blocks go to flatfs in batches from a second goroutine: reading and
	// hashing the stream overlaps with writing, and a flatfs batch creates its files
	// concurrently, which matters where file creation is slow.
	w := s.newBatchWriter(ctx)
	pending := make([]blocks.Block, 0, batchBlocks)
	roots, err := dagio.ReadCAR(ctx, r, func(b blocks.Block) error {
		total += int64(len(b.RawData()))
		if s.max >= 0 && total > limit {
			return fmt.Errorf("%w: CAR holds more than %d bytes of blocks", store.ErrTooLarge, limit)
		}
		written = append(written, b.Cid())
		pending = append(pending, b)
		if len(pending) < batchBlocks {
			return nil
		}
		err := w.send(pending)
		pending = make([]blocks.Block, 0, batchBlocks)
		return err
	})
	if err == nil {
		err = w.send(pending)
	}
	if werr := w.finish(); err == nil {
		err = werr
	}
	var reached map[string]struct{}
	if err == nil {
		reached, err = s.checkComplete(ctx, roots)
	}
	var added []cid.Cid
	if err == nil {
		for _, c := range roots {
			if ok, _ := s.Has(ctx, c); ok {
				continue
			}
			if err = s.addRoot(c); err != nil {
				break
			}
			added = append(added, c)
		}
	}
	if err != nil {
		for _, c := range added {
			os.Remove(s.rootPath(c))
		}
		s.sweep(context.WithoutCancel(ctx), written, nil)
		return nil, fmt.Errorf("local store: import CAR: %w", err)
	}
	// Blocks the CAR carried that no root reaches must not linger.
	var stray []cid.Cid
	for _, c := range written {
		if _, ok := reached[string(c.Hash())]; !ok {
			stray = append(stray, c)
		}
	}
	if err := s.sweep(ctx, stray, nil); err != nil {
		return nil, err
	}
	return roots, nil
}

// checkComplete makes sure every block under each root is present and the root is a file whose
// size fits the store. It returns the multihashes of the blocks the roots reach.
func (s *Store) checkComplete(ctx context.Context, roots []cid.Cid) (map[string]struct{}, error) {
	reached := make(map[string]struct{})
	for _, root := range roots {
		size, err := dagio.Size(ctx, s.getBlock, root)
		if err != nil {
			return nil, fmt.Errorf("%w: root %s: %v", store.ErrInvalidCAR, root, err)
		}
		if s.max >= 0 && size > s.max {
			return nil, fmt.Errorf("%w: root %s is %d bytes", store.ErrTooLarge, root, size)
		}
		err = dagio.Walk(ctx, s.getBlock, root, false, func(c cid.Cid, data []byte) error {
			reached[string(c.Hash())] = struct{}{}
			if data != nil {
				return nil // a dag-pb node, already fetched and verified
			}
			ok, err := s.bs.Has(ctx, c)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: block %s", store.ErrNotFound, c)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%w: DAG of root %s is incomplete: %v", store.ErrInvalidCAR, root, err)
		}
	}
	return reached, nil
}
