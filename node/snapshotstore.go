package node

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/syndtr/goleveldb/leveldb"

	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
)

// The node's snapshots live in its home:
//
//	data/snapshots/<height>/metadata   the snapshot's metadata (snapshot.go)
//	data/snapshots/<height>/<index>    its chunks, 0 to n−1
//	data/snapshots/.<height>.tmp/      a snapshot being written; removed at start
const snapshotsDir = "data/snapshots"

// SnapshotSettings say when the node snapshots its ledger state for nodes that rejoin by
// state sync (config/node.json "snapshots").
type SnapshotSettings struct {
	// Interval: a snapshot at every height that is a multiple of it (0: DefaultSnapshotInterval).
	Interval int64 `json:"interval,omitempty"`
	// Keep is how many of the newest snapshots stay on disk (0: DefaultSnapshotKeep).
	Keep int `json:"keep,omitempty"`
	// Off: the node takes no snapshots and serves none.
	Off bool `json:"off,omitempty"`
}

// Every node snapshots at the same heights by default, so that the snapshots of a height are
// identical and a rejoining node fetches chunks from all of them.
const (
	DefaultSnapshotInterval = 1000
	DefaultSnapshotKeep     = 2
)

func (s SnapshotSettings) check() error {
	if s.Interval < 0 || s.Keep < 0 {
		return fmt.Errorf("node: snapshots.interval %d and snapshots.keep %d cannot be negative (0 means the default)", s.Interval, s.Keep)
	}
	return nil
}

// localSnapshot is one snapshot on disk, as ListSnapshots advertises it.
type localSnapshot struct {
	height uint64
	chunks uint32
	meta   []byte
	hash   []byte
}

// snapshots takes the node's snapshots, one at a time and off the consensus path, keeps the
// newest, and serves their chunks.
type snapshots struct {
	dir      string
	interval int64
	keep     int
	log      *slog.Logger

	mu   sync.Mutex
	list []*localSnapshot // ascending height
	busy bool

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func openSnapshots(dir string, s SnapshotSettings, lg *slog.Logger) (*snapshots, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if s.Interval == 0 {
		s.Interval = DefaultSnapshotInterval
	}
	if s.Keep == 0 {
		s.Keep = DefaultSnapshotKeep
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: snapshots: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("node: snapshots: %w", err)
	}
	ss := &snapshots{dir: dir, interval: s.Interval, keep: s.Keep, log: lg, stop: make(chan struct{})}
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		h, err := strconv.ParseUint(e.Name(), 10, 63)
		if err != nil || h == 0 {
			if strings.HasPrefix(e.Name(), ".") { // a snapshot cut short
				_ = os.RemoveAll(path)
			}
			continue
		}
		ls, err := readLocalSnapshot(path, h)
		if err != nil {
			lg.Warn("node: removing an unreadable snapshot", "height", h, "err", err)
			_ = os.RemoveAll(path)
			continue
		}
		ss.list = append(ss.list, ls)
	}
	slices.SortFunc(ss.list, func(a, b *localSnapshot) int { return cmp.Compare(a.height, b.height) })
	ss.prune()
	return ss, nil
}

func readLocalSnapshot(path string, height uint64) (*localSnapshot, error) {
	meta, err := readBounded(filepath.Join(path, "metadata"), snapshotMetaFixed+sha256.Size*maxSnapshotChunks)
	if err != nil {
		return nil, err
	}
	n := (len(meta) - snapshotMetaFixed) / sha256.Size
	if _, err := decodeSnapshotMeta(meta, uint32(n)); err != nil {
		return nil, err
	}
	return &localSnapshot{height: height, chunks: uint32(n), meta: meta, hash: snapshotHash(height, uint32(n), meta)}, nil
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is over %d bytes", path, max)
	}
	return b, nil
}

// due says whether the block at height is one to snapshot.
func (ss *snapshots) due(height int64) bool {
	return ss != nil && height > 0 && height%ss.interval == 0
}

// take writes a snapshot of db's committed state at height in the background and releases
// snap when done. One snapshot is written at a time: a height that comes due while the last
// one is still being written is skipped.
func (ss *snapshots) take(snap *leveldb.Snapshot, height, blockTime int64) {
	ss.mu.Lock()
	if ss.busy {
		ss.mu.Unlock()
		snap.Release()
		ss.log.Warn("node: skipping a snapshot: the last one is still being written", "height", height)
		return
	}
	ss.busy = true
	ss.mu.Unlock()
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		defer snap.Release()
		ls, err := ss.write(snap, uint64(height), blockTime)
		ss.mu.Lock()
		defer ss.mu.Unlock()
		ss.busy = false
		if err != nil {
			ss.log.Error("node: snapshot", "height", height, "err", err)
			return
		}
		ss.list = append(ss.list, ls)
		ss.prune()
		ss.log.Info("node: snapshot taken", "height", height, "chunks", ls.chunks)
	}()
}

var errStopped = errors.New("node: stopping")

// write streams the state into a temporary directory, one chunk file at a time, then
// renames it into place.
func (ss *snapshots) write(snap *leveldb.Snapshot, height uint64, blockTime int64) (*localSnapshot, error) {
	tmp := filepath.Join(ss.dir, fmt.Sprintf(".%d.tmp", height))
	_ = os.RemoveAll(tmp)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // nothing left once renamed
	m := &snapshotMeta{blockTime: blockTime}
	var buf []byte
	flush := func() error {
		select {
		case <-ss.stop:
			return errStopped
		default:
		}
		if err := writeSynced(filepath.Join(tmp, strconv.Itoa(len(m.chunks))), buf); err != nil {
			return err
		}
		m.chunks = append(m.chunks, sha256.Sum256(buf))
		buf = buf[:0]
		return nil
	}
	var err error
	target := int(snapshotChunkTarget.Load())
	iterErr := snapStore(snap).Iterate(nil, []byte{0x01}, func(k, v []byte) bool {
		entry := 8 + len(k) + len(v)
		if len(buf) > 0 && len(buf)+entry > target {
			if err = flush(); err != nil {
				return false
			}
		}
		if buf, err = appendEntry(buf, k, v); err != nil {
			return false
		}
		m.entries++
		return len(m.chunks) < maxSnapshotChunks
	})
	if err == nil && iterErr != nil {
		err = iterErr
	}
	if err == nil && len(buf) > 0 {
		err = flush()
	}
	switch {
	case err != nil:
		return nil, err
	case m.entries == 0:
		return nil, errors.New("node: no state to snapshot")
	case len(m.chunks) > maxSnapshotChunks:
		return nil, fmt.Errorf("node: state needs more than %d chunks", maxSnapshotChunks)
	}
	meta := m.encode()
	if err := writeSynced(filepath.Join(tmp, "metadata"), meta); err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(tmp); err != nil {
		return nil, err
	}
	final := filepath.Join(ss.dir, strconv.FormatUint(height, 10))
	_ = os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(ss.dir); err != nil {
		return nil, err
	}
	n := uint32(len(m.chunks))
	return &localSnapshot{height: height, chunks: n, meta: meta, hash: snapshotHash(height, n, meta)}, nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// prune deletes all but the newest keep snapshots; ss.mu is held.
func (ss *snapshots) prune() {
	for len(ss.list) > ss.keep {
		old := ss.list[0]
		ss.list = ss.list[1:]
		if err := os.RemoveAll(filepath.Join(ss.dir, strconv.FormatUint(old.height, 10))); err != nil {
			ss.log.Warn("node: removing an old snapshot", "height", old.height, "err", err)
		}
	}
}

// advertised lists the snapshots on disk for ListSnapshots, newest first.
func (ss *snapshots) advertised() []*abci.Snapshot {
	if ss == nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]*abci.Snapshot, 0, len(ss.list))
	for i := len(ss.list) - 1; i >= 0; i-- {
		ls := ss.list[i]
		out = append(out, &abci.Snapshot{Height: ls.height, Format: snapshotFormat, Chunks: ls.chunks, Hash: ls.hash, Metadata: ls.meta})
	}
	return out
}

// chunk reads chunk index of the snapshot at height; nil if there is no such chunk.
func (ss *snapshots) chunk(height uint64, format, index uint32) []byte {
	if ss == nil || format != snapshotFormat {
		return nil
	}
	ss.mu.Lock()
	i := slices.IndexFunc(ss.list, func(ls *localSnapshot) bool { return ls.height == height })
	ok := i >= 0 && index < ss.list[i].chunks
	ss.mu.Unlock()
	if !ok {
		return nil
	}
	b, err := readBounded(filepath.Join(ss.dir, strconv.FormatUint(height, 10), strconv.FormatUint(uint64(index), 10)), snapshotChunkLimit)
	if err != nil {
		ss.log.Warn("node: reading a snapshot chunk", "height", height, "chunk", index, "err", err)
		return nil
	}
	return b
}

// oldest is the height of the oldest snapshot on disk (0: none).
func (ss *snapshots) oldest() int64 {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.list) == 0 {
		return 0
	}
	return int64(ss.list[0].height)
}

// close stops a snapshot being written and waits for it.
func (ss *snapshots) close() {
	if ss == nil {
		return
	}
	ss.stopOnce.Do(func() { close(ss.stop) })
	ss.wg.Wait()
}
