package proxy

import (
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// notRetired refuses what a key retired by a committed Rotate signs (protocol/SPEC.md §18):
// a leaked key stops at the nodes as it stops at the ledger, at the block that retired it.
func (s *Service) notRetired(snap *ledger.Snapshot, signer protocol.PubKey) error {
	t, err := snap.Retirement(signer)
	if err != nil {
		s.log.Error("proxy: reading the retired keys", "err", err)
		return protocol.ErrInternal
	}
	if t != nil {
		return protocol.Errorf(protocol.ErrKeyRetired, "key %s was retired at height %d", signer, t.Height)
	}
	return nil
}
