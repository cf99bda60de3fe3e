package app

import (
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestEventTextEveryKind: every kind of audit entry the ledger writes reads as words in a
// record's history, never as its raw name.
func TestEventTextEveryKind(t *testing.T) {
	for _, kind := range protocol.AuditKinds() {
		if got := eventText(kind, "node0"); got == kind || got == "" {
			t.Errorf("audit kind %q reads %q", kind, got)
		}
	}
}
