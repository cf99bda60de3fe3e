package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// TestBlobBelongsToOneOwner: a record naming another account's blob is refused — committed
// or in the same block — so that nobody can keep an owner's ciphertext alive past its
// erasure. The owner may name its own blob again.
func TestBlobBelongsToOneOwner(t *testing.T) {
	m := newMachine(t, 0)
	alice, mallory := m.account(), m.account()
	m.ok(alice, protocoltest.PutRecord("bafkrei-alice", 10))
	m.spends(protocol.ErrAlreadyExists, mallory, protocoltest.PutRecord("bafkrei-alice", 10))
	m.ok(alice, protocoltest.PutRecord("bafkrei-alice", 10))

	// Both in one block: the first wins, the second is refused.
	first := alice.Next(protocoltest.PutRecord("bafkrei-same-block", 10))
	second := mallory.Next(protocoltest.PutRecord("bafkrei-same-block", 10))
	errs, _ := m.block(time.Second, first, second)
	if errs[0] != nil || !errors.Is(errs[1], protocol.ErrAlreadyExists) {
		t.Fatalf("same block: %v, %v; want ok, already_exists", errs[0], errs[1])
	}

	// Erased, the blob is still its owner's.
	rec := alice.RecordID()
	m.ok(alice, protocoltest.PutRecord("bafkrei-erased", 10))
	m.ok(alice, &protocol.EraseRecord{Record: rec})
	m.spends(protocol.ErrAlreadyExists, mallory, protocoltest.PutRecord("bafkrei-erased", 10))
}
