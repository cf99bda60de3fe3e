package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store"
)

// ensure makes the store hold the blob of record id if it is placed on
// this node, and reports the holding to the ledger.
func (s *Service) ensure(ctx context.Context, id protocol.ID) error {
	snap, err := s.cfg.Ledger.Committed()
	if err != nil {
		return err
	}
	rec, err := snap.Record(id)
	if err != nil {
		snap.Release()
		return err
	}
	placed, err := snap.PlacedNodes(id)
	if err != nil {
		snap.Release()
		return err
	}
	all, err := snap.Nodes()
	snap.Release()
	if err != nil {
		return err
	}
	c, err := cid.Decode(string(rec.CID))
	if err != nil {
		s.log.Debug("blobs: record CID does not parse; nothing to store", "record", id.String())
		return nil
	}
	if rec.Erased != nil {
		s.eraseBlob(ctx, rec.CID)
		return nil
	}
	s.dropMarker(c) // the upload became a record
	has, err := s.cfg.Store.Has(ctx, c)
	if err != nil {
		return err
	}
	if has {
		// Placed here or not (a node that took the upload may not be), a blob of another size
		// than its record declares goes at once; a fetched one is checked once it is here.
		if wrong, err := s.dropWrongSize(ctx, id, c, rec); wrong || err != nil {
			return err
		}
	}
	var mine bool
	for _, n := range placed {
		mine = mine || n.ProxyKey == s.self
	}
	if !mine {
		return s.dropUnplaced(ctx, c, rec, len(placed))
	}
	if !has {
		if err := s.fetch(ctx, c, rec, all); err != nil {
			return err
		}
		// An erasure that committed while the fetch ran found nothing to delete, or deleted
		// what the fetch then completed: the deletion is this side's to finish.
		if live, err := s.liveRecordWith(c); err == nil && !live {
			s.eraseBlob(ctx, rec.CID)
			return nil
		}
		if wrong, err := s.dropWrongSize(ctx, id, c, rec); wrong || err != nil {
			return err
		}
	}
	return s.report(ctx, rec)
}

// dropWrongSize deletes blob c if it is not the size record id declares, and says so. The
// ledger counts a record's declared size against its owner's allowance; a blob of another
// size is not the record's, and keeping it would let an owner store more than the allowance
// by declaring less.
func (s *Service) dropWrongSize(ctx context.Context, id protocol.ID, c cid.Cid, rec *protocol.Record) (bool, error) {
	size, err := s.cfg.Store.Size(ctx, c)
	if err != nil || size == int64(rec.Size) {
		return false, err
	}
	s.log.Warn("blobs: a record declares another size than its blob's; not keeping it",
		"record", id.String(), "cid", c.String(), "declared", rec.Size, "size", size)
	if err := s.cfg.Store.Delete(ctx, c); err != nil && !errors.Is(err, store.ErrNotFound) {
		return true, err
	}
	return true, nil
}

// errNotYet is a record whose work must wait for other nodes: it is retried like a failure,
// but it is none.
var errNotYet = errors.New("blobs: waiting for the placed nodes to report")

// dropUnplaced deletes the copy a node holds of a blob placed elsewhere
// (it took the owner's upload) once every placed node reported holding
// it; until then it keeps serving it and checks again later.
func (s *Service) dropUnplaced(ctx context.Context, c cid.Cid, rec *protocol.Record, placed int) error {
	has, err := s.cfg.Store.Has(ctx, c)
	if err != nil || !has {
		return err
	}
	if len(rec.Holders) < placed {
		return errNotYet
	}
	if err := s.cfg.Store.Delete(ctx, c); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.log.Info("blobs: every placed node holds the blob; dropped this node's copy", "cid", c.String())
	return nil
}

// fetch takes the blob from the store's own network (kubo pin) or, failing
// that, as a CAR from the other nodes of the registry, those the ledger lists as holders
// first: every node is a possible source, since the one the owner uploaded to need not be
// among the placed ones. ImportCAR verifies every block against its CID and checks the DAG
// is complete.
func (s *Service) fetch(ctx context.Context, c cid.Cid, rec *protocol.Record, registry []protocol.Node) error {
	started := time.Now()
	if p, ok := s.cfg.Store.(Pinner); ok {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.PinTimeout)
		err := p.Pin(pctx, c)
		cancel()
		if err == nil {
			s.log.Debug("blobs: pinned", "cid", c.String(), "took", time.Since(started))
			return nil
		}
		s.log.Warn("blobs: pin failed; fetching a CAR from peers", "cid", c.String(), "err", err)
	}
	holders := map[int]bool{}
	for _, h := range rec.Holders {
		holders[h] = true
	}
	ordered := make([]protocol.Node, 0, len(registry))
	for _, first := range []bool{true, false} {
		for i, p := range registry {
			if holders[i] == first && p.ProxyKey != s.self {
				ordered = append(ordered, p)
			}
		}
	}
	var errs []error
	for _, p := range ordered {
		err := s.fetchCAR(ctx, c, p.URL(), int64(rec.Size))
		if err == nil {
			s.log.Debug("blobs: fetched CAR", "cid", c.String(), "from", p.Name, "took", time.Since(started))
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("blobs: no peer gave %s: %w", c, errors.Join(errs...))
}

// fetchCAR fetches blob c from the peer at base; size is the record's declared size.
func (s *Service) fetchCAR(ctx context.Context, c cid.Cid, base string, size int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/blobs/"+c.String()+"/car", nil)
	if err != nil {
		return err
	}
	m := &meter{}
	stop := s.watch(cancel, m)
	defer stop()
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	// The CAR of a blob is its bytes, its internal nodes (about 1/64 more) and framing;
	// anything longer than the record declares, or the store would take, is refused before
	// it fills the spool.
	size = min(max(size, 0), s.cfg.MaxUpload)
	limit := size + size/32 + 4<<20
	m.r = io.LimitReader(resp.Body, limit+1)
	f, n, err := s.spool(m)
	stop()
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, errSpoolDisk) {
			return fmt.Errorf("peer sent under %d bytes in %s: %w", s.cfg.MinRate, s.cfg.IdleTimeout, err)
		}
		return err
	}
	defer s.unspool(f)
	s.m.fetched.Add(float64(n)) // what crossed the network, whether the import keeps it or not
	if n > limit {
		return fmt.Errorf("%w: CAR longer than %d bytes", store.ErrTooLarge, limit)
	}
	roots, err := s.cfg.Store.ImportCAR(ctx, f)
	if err != nil {
		return err
	}
	for _, r := range roots {
		if r.Equals(c) {
			return nil
		}
	}
	for _, r := range roots { // a peer sent something else: do not keep it
		_ = s.cfg.Store.Delete(ctx, r)
	}
	return fmt.Errorf("%w: CAR roots %v, want %s", store.ErrInvalidCAR, roots, c)
}

// report sends HoldsBlob unless the ledger already lists this node.
func (s *Service) report(ctx context.Context, rec *protocol.Record) error {
	snap, err := s.cfg.Ledger.Committed()
	if err != nil {
		return err
	}
	nodes, err := snap.Nodes()
	snap.Release()
	if err != nil {
		return err
	}
	for i, n := range nodes {
		if n.ProxyKey == s.self && slices.Contains(rec.Holders, i) {
			return nil
		}
	}
	err = s.cfg.Report(ctx, &protocol.HoldsBlob{Record: rec.ID})
	if errors.Is(err, protocol.ErrAlreadyExists) || errors.Is(err, protocol.ErrRecordErased) {
		return nil
	}
	return err
}

// eraseBlob deletes an erased record's blob unless a live record shares it.
func (s *Service) eraseBlob(ctx context.Context, cidText []byte) {
	c, err := cid.Decode(string(cidText))
	if err != nil {
		return
	}
	if live, err := s.liveRecordWith(c); err != nil || live {
		return
	}
	s.dropMarker(c)
	if err := s.cfg.Store.Delete(ctx, c); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("blobs: deleting an erased blob failed", "cid", c.String(), "err", err)
		return
	}
	s.log.Info("blobs: erased blob deleted", "cid", c.String())
}

// liveRecordWith reports whether a committed, non-erased record has this blob.
func (s *Service) liveRecordWith(c cid.Cid) (bool, error) {
	snap, err := s.cfg.Ledger.Committed()
	if err != nil {
		return false, err
	}
	defer snap.Release()
	ids, err := snap.RecordsWithCID([]byte(c.String()))
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		t, err := snap.Tombstone(id)
		if err != nil {
			return false, err
		}
		if t == nil {
			return true, nil
		}
	}
	return false, nil
}

// recordsWith returns the ids of records with this blob, and whether all
// of them (at least one) are erased.
func (s *Service) recordsWith(c cid.Cid) (ids []protocol.ID, allErased bool, err error) {
	snap, err := s.cfg.Ledger.Committed()
	if err != nil {
		return nil, false, err
	}
	defer snap.Release()
	if ids, err = snap.RecordsWithCID([]byte(c.String())); err != nil {
		return nil, false, err
	}
	allErased = len(ids) > 0
	for _, id := range ids {
		if t, err := snap.Tombstone(id); err != nil {
			return nil, false, err
		} else if t == nil {
			allErased = false
		}
	}
	return ids, allErased, nil
}

// repairBlob replaces a blob whose read failed verification: the store
// keeps an existing block rather than overwrite it, so the blob is deleted
// and its records queued to fetch it again from peers.
func (s *Service) repairBlob(ctx context.Context, c cid.Cid) {
	ids, _, err := s.recordsWith(c)
	if err != nil || len(ids) == 0 {
		return
	}
	s.log.Warn("blobs: repairing a blob that failed verification", "cid", c.String())
	if err := s.cfg.Store.Delete(ctx, c); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("blobs: repair could not delete the damaged blob", "cid", c.String(), "err", err)
	}
	for _, id := range ids {
		s.q.add(id)
	}
}

// sweep deletes uploads older than the grace period that no committed
// record took.
func (s *Service) sweep(ctx context.Context) { s.sweepAt(ctx, s.cfg.Now()) }

func (s *Service) sweepAt(ctx context.Context, now time.Time) {
	s.mu.Lock()
	var due []cid.Cid
	for c, m := range s.pending {
		if now.Sub(time.Unix(0, m.Time)) >= s.cfg.Grace {
			due = append(due, c)
		}
	}
	for sig, t := range s.seen {
		if now.Sub(time.Unix(0, t)) > protocol.UploadFreshness {
			delete(s.seen, sig)
		}
	}
	s.mu.Unlock()
	for _, c := range due {
		ids, _, err := s.recordsWith(c)
		if err != nil {
			continue
		}
		s.dropMarker(c)
		if len(ids) > 0 {
			continue
		}
		if err := s.cfg.Store.Delete(ctx, c); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("blobs: deleting an expired upload", "cid", c.String(), "err", err)
			continue
		}
		s.log.Info("blobs: upload never became a record; deleted", "cid", c.String())
	}
}

// Sweep deletes, now, the uploads that are older than the grace period at
// time now and that no committed record took (the worker does this
// periodically with the wall clock).
func (s *Service) Sweep(ctx context.Context, now time.Time) { s.sweepAt(ctx, now) }
