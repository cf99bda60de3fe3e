package client

import (
	"errors"
	"fmt"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// AuditReader reads a record's audit log (a *ledger.Snapshot, or a remote
// query client).
type AuditReader interface {
	Audit(record protocol.ID, start uint64, limit int) (*protocol.Page[protocol.AuditEntry], error)
}

// ErrRequestNotFound: no committed request with that hash in the recent
// part of the record's audit log.
var ErrRequestNotFound = errors.New("client: access request not found in the audit log")

// maxScan bounds how far back FindRequest looks: a request is found right
// after it commits, so it is among the newest entries.
const maxScan = 10 * protocol.MaxPage

// FindRequest returns the audit-log position of the committed
// RequestAccess with hash tx on record. The log is append-only, so it finds
// the end by doubling and bisection and then scans backwards.
func FindRequest(r AuditReader, record protocol.ID, tx protocol.Hash32) (uint64, error) {
	exists := func(i uint64) (bool, error) {
		p, err := r.Audit(record, i, 1)
		if err != nil {
			return false, err
		}
		return len(p.Items) > 0, nil
	}
	// Length n: entry n−1 exists and n does not.
	var lo, hi uint64 = 0, 1 // invariant once found: exists(lo−1) && !exists(hi)
	for {
		ok, err := exists(hi - 1)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo = hi
		if hi > 1<<62 {
			return 0, fmt.Errorf("client: audit log too long")
		}
		hi *= 2
	}
	for lo+1 < hi { // entries [0, lo) exist, entry hi−1 does not
		mid := lo + (hi-lo)/2
		ok, err := exists(mid - 1)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	n := lo
	for end := n; end > 0 && n-end < maxScan; {
		start := uint64(0)
		if end > protocol.MaxPage {
			start = end - protocol.MaxPage
		}
		p, err := r.Audit(record, start, int(end-start))
		if err != nil {
			return 0, err
		}
		for j := len(p.Items) - 1; j >= 0; j-- {
			e := p.Items[j]
			if e.Kind == protocol.AuditRequest && e.TxHash != nil && *e.TxHash == tx {
				return start + uint64(j), nil
			}
		}
		end = start
	}
	return 0, ErrRequestNotFound
}
