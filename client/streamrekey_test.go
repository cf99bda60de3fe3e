package client

import (
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestGrantForGeneration: a reader's epoch goes to the newest grant of the epoch's key
// generation whose window covers it, and to none when no grant of that generation does.
func TestGrantForGeneration(t *testing.T) {
	const epoch = 60
	st := &protocol.StreamState{Epoch: epoch, Generations: []protocol.StreamGeneration{{}, {Generation: 1, FirstEpoch: 10}}}
	span := func(e int64) int64 { s, _ := protocol.EpochSpan(e, epoch); return s }
	g := func(id byte, gen uint32, from, until int64) *protocol.StreamGrantState {
		return &protocol.StreamGrantState{Grant: &protocol.GrantState{ID: protocol.ID{id}}, Generation: gen, From: from, Until: until}
	}
	old, reissued, narrow := g(1, 0, 0, 0), g(2, 1, 0, 0), g(3, 1, span(12), span(13))
	grants := []*protocol.StreamGrantState{narrow, reissued, old} // newest first
	for e, want := range map[int64]*protocol.StreamGrantState{0: old, 9: old, 10: reissued, 12: narrow, 13: reissued} {
		if got := grantFor(st, grants, e); got != want {
			t.Errorf("epoch %d: grant %v, want %v", e, got.Grant.ID, want.Grant.ID)
		}
	}
	if got := grantFor(st, []*protocol.StreamGrantState{old}, 10); got != nil {
		t.Errorf("epoch of generation 1 under a generation 0 grant alone: %v", got.Grant.ID)
	}
	if used := usedGrants([]*protocol.StreamGrantState{reissued, old, reissued}); len(used) != 2 || used[0] != old || used[1] != reissued {
		t.Errorf("grants used: %v, want the generation 0 grant, then 1's", used)
	}
}

// TestReissuable: a rekey re-issues a grant that can still serve an epoch of the new
// generation, and no other.
func TestReissuable(t *testing.T) {
	const now, start = 1000, 5000
	g := func(f func(*protocol.StreamGrantState)) *protocol.StreamGrantState {
		sg := &protocol.StreamGrantState{Grant: &protocol.GrantState{}}
		f(sg)
		return sg
	}
	for name, c := range map[string]struct {
		g    *protocol.StreamGrantState
		want bool
	}{
		"open-ended":         {g(func(*protocol.StreamGrantState) {}), true},
		"window past start":  {g(func(s *protocol.StreamGrantState) { s.Until = start + 1 }), true},
		"window ends before": {g(func(s *protocol.StreamGrantState) { s.Until = start }), false},
		"revoked":            {g(func(s *protocol.StreamGrantState) { s.Grant.Revoked = true }), false},
		"expired":            {g(func(s *protocol.StreamGrantState) { s.Grant.Expired = true }), false},
		"not after now":      {g(func(s *protocol.StreamGrantState) { s.Grant.NotAfter = now }), false},
		"not yet valid":      {g(func(s *protocol.StreamGrantState) { s.Grant.NotBefore = now + 10 }), true},
		"ends later in time": {g(func(s *protocol.StreamGrantState) { s.Grant.NotAfter = now + 1 }), true},
	} {
		if got := reissuable(c.g, now, start); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}
