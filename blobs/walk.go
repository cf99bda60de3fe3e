package blobs

import (
	"context"
	"errors"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store"
)

// walkPage is how many records a walk reads at once, and how many records may wait in the
// queue before it reads more: a walk over a large ledger must not fill memory with ids, nor
// push ahead of the blocks being committed meanwhile.
const walkPage = 100

// walk queues every committed record for the fetch workers (placed blobs the store lacks are
// fetched, unplaced copies dropped), queues the erasure of erased ones (a node that was down
// during the erasure), then deletes stored roots that belong to no record and to no pending
// upload.
func (s *Service) walk(ctx context.Context) error {
	var after *protocol.ID
	for {
		if err := s.waitRoom(ctx); err != nil {
			return err
		}
		snap, err := s.cfg.Ledger.Committed()
		if err != nil {
			return err
		}
		ids, err := snap.Records(after, walkPage)
		var erased []ledger.Erasure
		var live []protocol.ID
		for _, id := range ids {
			if r, err := snap.Record(id); err == nil && r.Erased != nil {
				erased = append(erased, ledger.Erasure{Record: id, CID: r.CID})
			} else {
				live = append(live, id)
			}
		}
		snap.Release()
		if err != nil {
			return err
		}
		if len(erased) > 0 {
			s.mu.Lock()
			s.erase = append(s.erase, erased...)
			s.mu.Unlock()
			poke(s.deletes)
		}
		for _, id := range live {
			s.q.offer(id)
		}
		if len(ids) < walkPage {
			break
		}
		after = &ids[len(ids)-1]
	}
	return s.deleteStrays(ctx)
}

func (s *Service) waitRoom(ctx context.Context) error {
	for s.q.backlog() >= walkPage {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.q.room:
		}
	}
	return ctx.Err()
}

// deleteStrays deletes stored roots that no committed record names and no pending upload
// marks. Uploads wait meanwhile: one between its import and its marker would look stray.
// A fetched root is safe without that: its record committed before the fetch began.
func (s *Service) deleteStrays(ctx context.Context) error {
	s.putting.Lock()
	defer s.putting.Unlock()
	roots, err := s.cfg.Store.List(ctx)
	if err != nil {
		return err
	}
	snap, err := s.cfg.Ledger.Committed()
	if err != nil {
		return err
	}
	var stray []cid.Cid
	for _, r := range roots {
		if s.hasMarker(r) {
			continue
		}
		ids, err := snap.RecordsWithCID([]byte(r.String()))
		if err != nil {
			snap.Release()
			return err
		}
		if len(ids) == 0 {
			stray = append(stray, r)
		}
	}
	snap.Release()
	for _, r := range stray {
		s.log.Info("blobs: deleting a stored blob no record or upload accounts for", "cid", r.String())
		if err := s.cfg.Store.Delete(ctx, r); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("blobs: delete stray blob", "cid", r.String(), "err", err)
		}
	}
	return nil
}
