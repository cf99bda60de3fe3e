package client

import (
	"errors"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// auditLog pages an in-memory log the way ledger.Snapshot.Audit does.
type auditLog struct {
	entries []protocol.AuditEntry
	calls   int
}

func (l *auditLog) Audit(_ protocol.ID, start uint64, limit int) (*protocol.Page[protocol.AuditEntry], error) {
	l.calls++
	if limit <= 0 || limit > protocol.MaxPage {
		limit = protocol.MaxPage
	}
	p := &protocol.Page[protocol.AuditEntry]{Next: -1}
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
		h := protocol.Hash32{byte(i), byte(i >> 8), 1}
		kind := protocol.AuditRequest
		if i%3 == 0 {
			kind = protocol.AuditGrant
		}
		l.entries = append(l.entries, protocol.AuditEntry{Kind: kind, TxHash: &h})
	}
	return l
}

func TestFindRequest(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 64, 65, 100, 101, 257, 1500} {
		l := logOf(n)
		for _, i := range []int{n - 1, n / 2, 1, 0} {
			if i < 0 || i >= n || l.entries[i].Kind != protocol.AuditRequest {
				continue
			}
			if n-i > maxScan {
				continue
			}
			got, err := FindRequest(l, protocol.ID{}, *l.entries[i].TxHash)
			if err != nil || got != uint64(i) {
				t.Fatalf("n=%d i=%d: got %d, %v", n, i, got, err)
			}
		}
	}
	l := logOf(2000)
	if _, err := FindRequest(l, protocol.ID{}, *l.entries[2].TxHash); !errors.Is(err, ErrRequestNotFound) {
		t.Fatalf("entry beyond the scan window: %v", err)
	}
	if _, err := FindRequest(logOf(0), protocol.ID{}, protocol.Hash32{}); !errors.Is(err, ErrRequestNotFound) {
		t.Fatalf("empty log: %v", err)
	}
	// A grant entry with the hash is not a request.
	l = logOf(10)
	if _, err := FindRequest(l, protocol.ID{}, *l.entries[3].TxHash); !errors.Is(err, ErrRequestNotFound) {
		t.Fatalf("grant entry matched: %v", err)
	}
}
