package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"sort"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/resilientrecords/resilientrecords/ledger"
)

// State sync, the App's side (SPEC.md, "Snapshots and state sync"): serving the snapshots
// this node took, and restoring an empty node from another's. CometBFT's light client gives
// OfferSnapshot the app hash of the snapshot's height; the App accepts the restored state
// only if the state hash it recomputes from the pairs gives that app hash, so a peer can
// make a restore fail but never make it succeed with other state.

// metaRestoring marks a restore under way: a database that has it holds part of a snapshot,
// which the next open deletes.
var metaRestoring = []byte{0x00, 'r'}

// restoring is a restore under way, between OfferSnapshot and the last chunk.
type restoring struct {
	height  uint64
	appHash []byte // the light client's
	meta    *snapshotMeta
	next    uint32 // the chunk to apply next
	last    []byte // the last key restored
	entries uint64
	state   ledger.StateHash
	senders map[string]bool // who sent the chunks applied so far
}

// ListSnapshots advertises the snapshots on disk.
func (a *App) ListSnapshots(context.Context, *abci.RequestListSnapshots) (*abci.ResponseListSnapshots, error) {
	return &abci.ResponseListSnapshots{Snapshots: a.snaps.advertised()}, nil
}

// LoadSnapshotChunk serves one chunk of a snapshot on disk (none: an empty answer).
func (a *App) LoadSnapshotChunk(_ context.Context, req *abci.RequestLoadSnapshotChunk) (*abci.ResponseLoadSnapshotChunk, error) {
	b := a.snaps.chunk(req.Height, req.Format, req.Chunk)
	if f := a.tamper.Load(); f != nil && b != nil {
		b = (*f)(req.Height, req.Chunk, b)
	}
	return &abci.ResponseLoadSnapshotChunk{Chunk: b}, nil
}

// OfferSnapshot accepts a snapshot whose metadata is well formed, on a node with no state,
// and starts restoring it into an empty database.
func (a *App) OfferSnapshot(_ context.Context, req *abci.RequestOfferSnapshot) (*abci.ResponseOfferSnapshot, error) {
	a.mu.RLock()
	height, chainID := a.height, a.chainID
	a.mu.RUnlock()
	if height > 0 || chainID == "" {
		// State sync runs only on a node without state, and the chain id comes from genesis.
		a.log.Error("node: state sync offered a snapshot to a node that has state or no chain id", "height", height)
		return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_ABORT}, nil
	}
	reject := func(why string, args ...any) (*abci.ResponseOfferSnapshot, error) {
		a.log.Warn("node: refusing a snapshot: "+fmt.Sprintf(why, args...), "height", req.GetSnapshot().GetHeight())
		return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_REJECT}, nil
	}
	s := req.Snapshot
	switch {
	case s == nil:
		return reject("no snapshot")
	case s.Format != snapshotFormat:
		return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_REJECT_FORMAT}, nil
	case s.Height == 0 || s.Height > math.MaxInt64:
		return reject("height out of range")
	case len(req.AppHash) != sha256.Size:
		return reject("app hash of %d bytes", len(req.AppHash))
	}
	meta, err := decodeSnapshotMeta(s.Metadata, s.Chunks)
	if err != nil {
		return reject("metadata: %v", err)
	}
	if !bytes.Equal(s.Hash, snapshotHash(s.Height, s.Chunks, s.Metadata)) {
		return reject("its hash is not that of its metadata")
	}
	if err := a.wipe(true); err != nil {
		return nil, err
	}
	a.restore = &restoring{height: s.Height, appHash: bytes.Clone(req.AppHash), meta: meta, senders: map[string]bool{}}
	a.log.Info("node: restoring a snapshot", "height", s.Height, "chunks", s.Chunks)
	return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_ACCEPT}, nil
}

// ApplySnapshotChunk restores the next chunk. A chunk that is not the one the metadata names
// is refetched from another peer and its sender rejected; a snapshot whose chunks match its
// metadata but whose state is malformed or does not give the trusted app hash was forged
// with its metadata, and every peer that sent part of it is rejected.
func (a *App) ApplySnapshotChunk(_ context.Context, req *abci.RequestApplySnapshotChunk) (*abci.ResponseApplySnapshotChunk, error) {
	r := a.restore
	switch {
	case r == nil:
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ABORT}, nil
	case req.Index != r.next:
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_RETRY_SNAPSHOT}, nil
	}
	if len(req.Chunk) > snapshotChunkLimit || sha256.Sum256(req.Chunk) != r.meta.chunks[req.Index] {
		a.log.Warn("node: a snapshot chunk is not the one its metadata names; fetching it again", "chunk", req.Index, "sender", req.Sender)
		a.metrics.chunkRefused()
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_RETRY,
			RefetchChunks: []uint32{req.Index}, RejectSenders: []string{req.Sender}}, nil
	}
	r.senders[req.Sender] = true
	b := new(leveldb.Batch)
	last, err := decodeChunk(req.Chunk, r.last, func(k, v []byte) error {
		b.Put(k, v)
		r.state.Add(k, v)
		r.entries++
		return nil
	})
	if err != nil {
		return a.forged(fmt.Sprintf("chunk %d: %v", req.Index, err))
	}
	r.last = bytes.Clone(last)
	if err := a.db.Write(b, nil); err != nil {
		return nil, fmt.Errorf("node: restore chunk %d: %w", req.Index, err)
	}
	r.next++
	if int(r.next) < len(r.meta.chunks) {
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ACCEPT}, nil
	}
	if r.entries != r.meta.entries {
		return a.forged(fmt.Sprintf("%d entries, the metadata says %d", r.entries, r.meta.entries))
	}
	if !bytes.Equal(r.state.AppHash(), r.appHash) {
		return a.forged("the restored state's app hash is not the one the light client verified")
	}
	if err := a.finishRestore(r); err != nil {
		return nil, err
	}
	return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ACCEPT}, nil
}

// forged drops a restore whose snapshot lied, and rejects it and everyone who sent part of it.
func (a *App) forged(why string) (*abci.ResponseApplySnapshotChunk, error) {
	r := a.restore
	var senders []string
	for s := range r.senders {
		if s != "" {
			senders = append(senders, s)
		}
	}
	sort.Strings(senders)
	a.log.Warn("node: rejecting a forged snapshot: "+why, "height", r.height, "senders", senders)
	a.metrics.snapshotRefused()
	a.restore = nil
	if err := a.wipe(false); err != nil {
		return nil, err
	}
	return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_REJECT_SNAPSHOT, RejectSenders: senders}, nil
}

// finishRestore writes the application's bookkeeping for the restored state — its height,
// the block time the metadata gives, the app hash, the state hash and the chain id from
// genesis — and makes it the committed state. Until the next block commits, the block time
// is the snapshot's word alone (no hash covers it), so the state is not served (provisional).
func (a *App) finishRestore(r *restoring) error {
	appHash := r.state.AppHash()
	shb, _ := r.state.MarshalBinary()
	a.mu.RLock()
	chainID := a.chainID
	a.mu.RUnlock()
	b := new(leveldb.Batch)
	b.Put(metaHeight, u64b(r.height))
	b.Put(metaTime, u64b(uint64(r.meta.blockTime)))
	b.Put(metaAppHash, appHash)
	b.Put(metaState, shb)
	b.Put(metaChainID, []byte(chainID))
	b.Delete(metaRestoring)
	if err := a.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("node: finish restore: %w", err)
	}
	nodes, err := ledger.LoadRegistry(dbStore(a.db))
	if err != nil {
		return err
	}
	st := r.state
	a.mu.Lock()
	a.height, a.blockTime, a.state, a.appHash, a.nodes = int64(r.height), r.meta.blockTime, &st, appHash, nodes
	a.provisional = true
	a.mu.Unlock()
	a.restore = nil
	a.resetCheck()
	a.log.Info("node: snapshot restored", "height", r.height, "entries", r.entries)
	return nil
}

// wipe deletes every key of the database; marking, it leaves the restore marker.
func (a *App) wipe(marking bool) error {
	it := a.db.NewIterator(nil, nil)
	defer it.Release()
	b := new(leveldb.Batch)
	for it.Next() {
		b.Delete(bytes.Clone(it.Key()))
		if b.Len() >= 10000 {
			if err := a.db.Write(b, nil); err != nil {
				return fmt.Errorf("node: wipe ledger state: %w", err)
			}
			b.Reset()
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("node: wipe ledger state: %w", err)
	}
	if marking {
		b.Put(metaRestoring, []byte{1})
	}
	if err := a.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("node: wipe ledger state: %w", err)
	}
	return nil
}
