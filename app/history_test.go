package app

import (
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestEventTextEveryKind: every kind of audit entry the ledger writes reads as words in a
// record's history, never as its raw name.
func TestEventTextEveryKind(t *testing.T) {
	for _, kind := range []string{protocol.AuditPut, protocol.AuditGrant, protocol.AuditRequest, protocol.AuditRevoke,
		protocol.AuditExpire, protocol.AuditErase, protocol.AuditHolds, protocol.AuditDestroyed,
		protocol.AuditRecoverySetup, protocol.AuditRecoveryStart, protocol.AuditRecoveryApprove,
		protocol.AuditRecoveryCancel, protocol.AuditRecoveryFinish, protocol.AuditEmergency} {
		if got := eventText(kind, "node0"); got == kind || got == "" {
			t.Errorf("audit kind %q reads %q", kind, got)
		}
	}
}
