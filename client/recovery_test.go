package client

import (
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestPhaseOf: where a process stands, from its state, the owner's setup and the block time.
func TestPhaseOf(t *testing.T) {
	const hour = int64(time.Hour)
	lapse := int64(protocol.RecoveryLapse)
	setup := &protocol.RecoverySetupState{Grant: protocol.ID{1}, Commitments: make([]protocol.PubKey, 2)}
	open := func(approvals int, ready int64) *protocol.RecoveryProcess {
		return &protocol.RecoveryProcess{Grant: protocol.ID{1}, Status: protocol.ProcessOpen, Lapses: lapse,
			Approvals: make([]protocol.Approval, approvals), Ready: ready}
	}
	for _, c := range []struct {
		setup *protocol.RecoverySetupState
		p     *protocol.RecoveryProcess
		now   int64
		want  Phase
	}{
		{setup, open(0, 0), 0, Collecting},
		{setup, open(1, 0), lapse - 1, Collecting},
		{setup, open(1, 0), lapse, Lapsed},
		{setup, open(2, 5*hour), 5*hour - 1, Waiting},
		{setup, open(2, 5*hour), 5 * hour, Ready},
		{setup, open(3, 5*hour), 5*hour + lapse - 1, Ready},
		{setup, open(2, 5*hour), 5*hour + lapse, Lapsed},
		{nil, open(2, 5*hour), 5 * hour, Replaced},
		{&protocol.RecoverySetupState{Grant: protocol.ID{2}}, open(2, 5*hour), 5 * hour, Replaced},
		{setup, &protocol.RecoveryProcess{Status: protocol.ProcessCancelled}, 0, Cancelled},
		{nil, &protocol.RecoveryProcess{Status: protocol.ProcessFinished}, 0, Finished},
	} {
		if got := PhaseOf(c.setup, c.p, c.now); got != c.want {
			t.Errorf("%+v at %d: %s, want %s", c.p, c.now, got, c.want)
		}
	}
	if Waiting.String() != "waiting" || Replaced.String() != "replaced" {
		t.Fatal("phase names")
	}
}
