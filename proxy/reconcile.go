package proxy

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// Reconcile brings the vault in line with committed state at start, before the node serves.
// It deletes the fragment of every grant this node owes a FragmentDestroyed report for:
// ended grants whose destruction it has not reported, among them every grant whose deletion
// a crash between the ending commit and the commit hook left undone (the node reports a
// grant only once its vault no longer holds it). So its cost is that of the node's owed
// reports, not of the vault. It then starts a sweep of the whole vault in the background
// (stopped by Vault.Close), which deletes the fragments of grants that are unknown or ended
// however they got there: a vault restored from a backup, a grant expired by time whose
// expiry the ledger carried over.
func (s *Service) Reconcile() (deleted int, err error) {
	v, l := s.cfg.Vault, s.cfg.Ledger
	snap, err := l.Committed()
	if err != nil {
		return 0, fmt.Errorf("proxy: reconcile: %w", err)
	}
	owed, err := snap.OwedReports(s.self, math.MaxInt)
	snap.Release()
	if err != nil {
		return 0, fmt.Errorf("proxy: reconcile: %w", err)
	}
	var held []protocol.ID
	for _, id := range owed {
		if v.Has(id) {
			held = append(held, id)
		}
	}
	if len(held) > 0 {
		v.mu.Lock()
		deleted, err = v.deleteLocked(held)
		v.mu.Unlock()
	}
	v.background(func(quit <-chan struct{}) {
		start := time.Now()
		n, err := sweepVault(v, l, quit, true)
		select {
		case <-quit:
			return // closed under it: its errors say nothing
		default:
		}
		if err != nil {
			s.log.Error("vault: sweep against committed state failed", "deleted", n, "err", err)
			return
		}
		s.log.Info("vault: swept against committed state", "held", v.Len(), "deleted", n, "took", time.Since(start).Round(time.Millisecond))
	})
	return deleted, err
}

// ReconcileVault deletes, before it returns, every fragment whose grant is unknown, revoked
// or expired in committed state: Reconcile's sweep, for a vault whose Service does not exist.
// It reads every fragment's grant, so its cost grows with the vault.
func ReconcileVault(v *Vault, l Ledger) (deleted int, err error) {
	return sweepVault(v, l, nil, false)
}

// sweepPage is how many grants the sweep looks up against one snapshot of committed state.
const sweepPage = 1024

// sweepVault walks the vault in key order, a page at a time, and deletes the fragments whose
// grant committed state does not know or has ended. Each page's snapshot is taken after the
// page is read, so a fragment in the page was deposited against committed state that the
// snapshot includes: a grant the snapshot does not know was never committed, not committed
// too late. Paced, it rests after each page as long as the page took: at most half a core
// and half the disk's attention, beside the node's work. It stops when quit is closed.
func sweepVault(v *Vault, l Ledger, quit <-chan struct{}, paced bool) (deleted int, err error) {
	for from := fragPrefix; ; {
		select {
		case <-quit:
			return deleted, nil
		default:
		}
		start := time.Now()
		ids, next, err := v.page(from, sweepPage)
		if err != nil || len(ids) == 0 {
			return deleted, err
		}
		from = next
		snap, err := l.Committed()
		if err != nil {
			return deleted, fmt.Errorf("proxy: reconcile: %w", err)
		}
		var dead []protocol.ID
		for _, id := range ids {
			g, err := snap.Grant(id)
			switch {
			case errors.Is(err, protocol.ErrNotFound):
				dead = append(dead, id)
			case err != nil:
				snap.Release()
				return deleted, fmt.Errorf("proxy: reconcile: %w", err)
			case depositLive(g, snap.Time) != nil:
				dead = append(dead, id)
			}
		}
		snap.Release()
		if len(dead) > 0 {
			v.mu.Lock()
			n, err := v.deleteLocked(dead)
			v.mu.Unlock()
			deleted += n
			if err != nil {
				return deleted, err
			}
		}
		if paced {
			select {
			case <-quit:
				return deleted, nil
			case <-time.After(time.Since(start)):
			}
		}
	}
}
