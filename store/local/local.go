// Package local is the embedded blob store: the frozen UnixFS import profile over a flatfs
// blockstore laid out exactly like kubo's blocks/ directory. It needs no daemon.
//
// Layout under the store directory (see ../SPEC.md):
//
//	blocks/   flatfs, shard next-to-last/2, one file per block (kubo's format)
//	roots/    one empty file per stored root, named by the root's CID string
//
// Delete is a targeted mark-and-sweep: the blocks of the deleted root that no other live root
// reaches are unlinked before Delete returns. A Store is meant for one process at a time.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	flatfs "github.com/ipfs/go-ds-flatfs"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/resilientrecords/resilientrecords/store"
	"github.com/resilientrecords/resilientrecords/store/internal/dagio"
)

// DefaultMaxSize is the largest blob Put and ImportCAR accept unless Options.MaxSize says otherwise.
const DefaultMaxSize = 16 << 30

// Options tune a Store. The zero value is the default.
type Options struct {
	// MaxSize is the largest blob accepted, in bytes. 0 means DefaultMaxSize; negative means
	// no limit.
	MaxSize int64
	// Sync makes every block write and root update fsync before it returns. Off by default, as
	// in kubo's flatfs; a crash may then lose the latest puts, never corrupt older ones.
	Sync bool
	// Logger receives warnings (for example a live root that cannot be walked during Delete).
	Logger *slog.Logger
}

// Store is the embedded store. Create one with Open.
type Store struct {
	dir   string
	ds    *flatfs.Datastore
	bs    blockstore.Blockstore
	max   int64
	sync  bool
	log   *slog.Logger
	write sync.Mutex // serialises Put, ImportCAR and Delete so sweeps never race new blocks
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store in dir.
func Open(dir string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{dir: dir, max: opts.MaxSize, sync: opts.Sync, log: opts.Logger}
	if s.max == 0 {
		s.max = DefaultMaxSize
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(dir, "roots"), 0o700); err != nil {
		return nil, fmt.Errorf("local store: %w", err)
	}
	ds, err := flatfs.CreateOrOpen(filepath.Join(dir, "blocks"), flatfs.NextToLast(2), opts.Sync)
	if err != nil {
		return nil, fmt.Errorf("local store: opening blocks: %w", err)
	}
	if err := makeShardDirs(filepath.Join(dir, "blocks"), opts.Sync); err != nil {
		ds.Close()
		return nil, fmt.Errorf("local store: %w", err)
	}
	s.ds = ds
	s.bs = blockstore.NewBlockstore(ds, blockstore.NoPrefix(), blockstore.WriteThrough(true))
	return s, nil
}

// Close closes the block datastore.
func (s *Store) Close() error { return s.ds.Close() }

// getBlock is the dagio.Getter over the flatfs blockstore.
func (s *Store) getBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	n, err := s.bs.GetSize(ctx, c)
	if err == nil && n > dagio.MaxBlockSize {
		return nil, fmt.Errorf("%w: block %s is %d bytes on disk", store.ErrCorrupt, c, n)
	}
	var b blocks.Block
	if err == nil {
		b, err = s.bs.Get(ctx, c)
	}
	if ipld.IsNotFound(err) {
		return nil, fmt.Errorf("%w: block %s", store.ErrNotFound, c)
	}
	if err != nil {
		return nil, fmt.Errorf("reading block %s: %w", c, err)
	}
	return b.RawData(), nil
}

// batchBlocks is how many blocks go to flatfs per PutMany: about 8 MiB of leaves.
const batchBlocks = 32

// Put imports r with the frozen profile. Hashing and chunking run in this goroutine while a
// second one writes finished batches to flatfs, so the two overlap; at most three batches
// (about 24 MiB) are in memory at once.
func (s *Store) Put(ctx context.Context, r io.Reader) (cid.Cid, int64, error) {
	s.write.Lock()
	defer s.write.Unlock()
	w := s.newBatchWriter(ctx)
	var written []cid.Cid
	pending := make([]blocks.Block, 0, batchBlocks)
	root, n, err := dagio.Import(ctx, r, s.max, func(ctx context.Context, b blocks.Block) error {
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
	if err == nil {
		err = s.addRoot(root)
	}
	if err != nil {
		s.sweep(context.WithoutCancel(ctx), written, nil)
		return cid.Undef, 0, fmt.Errorf("local store: put: %w", err)
	}
	return root, n, nil
}

type batchWriter struct {
	batches chan []blocks.Block
	done    chan struct{}
	err     error // set by the writer goroutine before done closes
	failed  chan struct{}
}

func (s *Store) newBatchWriter(ctx context.Context) *batchWriter {
	w := &batchWriter{batches: make(chan []blocks.Block, 2), done: make(chan struct{}), failed: make(chan struct{})}
	go func() {
		defer close(w.done)
		for b := range w.batches {
			if w.err != nil {
				continue // drain
			}
			if err := s.bs.PutMany(ctx, b); err != nil {
				w.err = fmt.Errorf("writing blocks: %w", err)
				close(w.failed)
			}
		}
	}()
	return w
}

func (w *batchWriter) send(b []blocks.Block) error {
	if len(b) == 0 {
		return nil
	}
	select {
	case w.batches <- b:
		return nil
	case <-w.failed:
		return w.err // written before failed was closed
	}
}

// finish waits for every batch to be written and returns the first write error.
func (w *batchWriter) finish() error {
	close(w.batches)
	<-w.done
	return w.err
}

func (s *Store) rootPath(c cid.Cid) string { return filepath.Join(s.dir, "roots", c.String()) }

func (s *Store) addRoot(c cid.Cid) error {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "roots"), ".tmp-")
	if err != nil {
		return err
	}
	if s.sync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.rootPath(c))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("recording root %s: %w", c, err)
	}
	return nil
}

// Has reports whether c is a stored root.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if !c.Defined() {
		return false, nil
	}
	_, err := os.Stat(s.rootPath(c))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) requireRoot(ctx context.Context, c cid.Cid) error {
	if err := dagio.CheckCID(c); err != nil {
		return err
	}
	ok, err := s.Has(ctx, c)
	if err != nil {
		return fmt.Errorf("local store: %w", err)
	}
	if !ok {
		return fmt.Errorf("%w: %s is not a stored root", store.ErrNotFound, c)
	}
	return nil
}

// Get returns a verifying reader of the whole blob.
func (s *Store) Get(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	return s.GetRange(ctx, c, 0, -1)
}

// GetRange returns a verifying reader of part of the blob that reads only the leaves it needs.
func (s *Store) GetRange(ctx context.Context, c cid.Cid, offset, length int64) (io.ReadCloser, error) {
	if err := s.requireRoot(ctx, c); err != nil {
		return nil, err
	}
	return dagio.NewReader(ctx, s.getBlock, c, offset, length)
}

// Size returns the blob's length.
func (s *Store) Size(ctx context.Context, c cid.Cid) (int64, error) {
	if err := s.requireRoot(ctx, c); err != nil {
		return 0, err
	}
	return dagio.Size(ctx, s.getBlock, c)
}

// List returns the stored roots.
func (s *Store) List(ctx context.Context) ([]cid.Cid, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "roots"))
	if err != nil {
		return nil, fmt.Errorf("local store: listing roots: %w", err)
	}
	roots := make([]cid.Cid, 0, len(entries))
	for _, e := range entries {
		c, err := cid.Decode(e.Name())
		if err != nil {
			continue // a temporary file of an interrupted root update
		}
		roots = append(roots, c)
	}
	return roots, nil
}

// ExportCAR writes the blob as a CARv1.
func (s *Store) ExportCAR(ctx context.Context, c cid.Cid, w io.Writer) error {
	if err := s.requireRoot(ctx, c); err != nil {
		return err
	}
	return dagio.WriteCAR(ctx, w, s.getBlock, c)
}
