package client

import (
	"errors"
	"testing"

	"github.com/resilientrecords/resilientrecords/ledger"
)

// auditLog pages an in-memory log the way ledger.Snapshot.Audit does.
type auditLog struct {
	entries []ledger.AuditEntry
	calls   int
}

func (l *auditLog) Audit(_ ledger.ID, start uint64, limit int) (*ledger.Page[ledger.AuditEntry], error) {
	l.calls++
	if limit <= 0 || limit > ledger.MaxPage {
		limit = ledger.MaxPage
	}
	p := &ledger.Page[ledger.AuditEntry]{Next: -1}
	for i := start; i < uint64(len(l.entries)) && len(p.Items) < limit; i++ {
		p.Items = append(p.Items, l.entries[i])
	}
	if next := start + uint64(len(p.Items)); next < uint64(len(l.entries)) {
		p.Next = int64(next)
	}
	return p, nil
}

func logOf(n int) *auditLog {
	l := &auditLog{}
	for i := 0; i < n; i++ {
		h := ledger.Hash32{byte(i), byte(i >> 8), 1}
		kind := ledger.AuditRequest
		if i%3 == 0 {
			kind = ledger.AuditGrant
		}
		l.entries = append(l.entries, ledger.AuditEntry{Kind: kind, TxHash: &h})
	}
	return l
}

func TestFindRequest(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 64, 65, 100, 101, 257, 1500} {
		l := logOf(n)
		for _, i := range []int{n - 1, n / 2, 1, 0} {
			if i < 0 || i >= n || l.entries[i].Kind != ledger.AuditRequest {
				continue
			}
			if n-i > maxScan {
				continue
			}
			got, err := FindRequest(l, ledger.ID{}, *l.entries[i].TxHash)
			if err != nil || got != uint64(i) {
				t.Fatalf("n=%d i=%d: got %d, %v", n, i, got, err)
			}
		}
	}
	l := logOf(2000)
	if _, err := FindRequest(l, ledger.ID{}, *l.entries[2].TxHash); !errors.Is(err, ErrRequestNotFound) {
		t.Fatalf("entry beyond the scan window: %v", err)
	}
	if _, err := FindRequest(logOf(0), ledger.ID{}, ledger.Hash32{}); !errors.Is(err, ErrRequestNotFound) {
		t.Fatalf("empty log: %v", err)
	}
	// A grant entry with the hash is not a request.
	l = logOf(10)
	if _, err := FindRequest(l, ledger.ID{}, *l.entries[3].TxHash); !errors.Is(err, ErrRequestNotFound) {
		t.Fatalf("grant entry matched: %v", err)
	}
}
