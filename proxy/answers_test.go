package proxy

import (
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestAnswersForgetOnlyOldGenerations: a count survives one rotation of the generations and
// is forgotten after two.
func TestAnswersForgetOnlyOldGenerations(t *testing.T) {
	a := newAnswers(2)
	req := func(b byte) protocol.Hash32 { return protocol.Hash32{b} }
	for range AnswersPerRequest {
		if !a.take(req(1), AnswersPerRequest) {
			t.Fatal("refused within the share")
		}
	}
	if a.take(req(1), AnswersPerRequest) {
		t.Fatal("answered past the share")
	}
	a.take(req(2), AnswersPerRequest)
	a.take(req(3), AnswersPerRequest) // rotation: request 1 is in the older generation
	if a.take(req(1), AnswersPerRequest) {
		t.Fatal("a rotation forgot a count")
	}
	a.take(req(4), AnswersPerRequest)
	a.take(req(5), AnswersPerRequest) // a second rotation
	if !a.take(req(1), AnswersPerRequest) {
		t.Fatal("a count outlived two rotations")
	}
}
