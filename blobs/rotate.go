package blobs

import (
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// notRetired refuses an upload signed by a key a committed Rotate retired (protocol/SPEC.md
// §18): the ledger would refuse the record that names it anyway, and the node keeps no
// bytes for a key that is cut off.
func notRetired(snap *ledger.Snapshot, signer protocol.PubKey) *protocol.Error {
	t, err := snap.Retirement(signer)
	if err != nil {
		return protocol.Errorf(protocol.ErrUnavailable, "ledger state unavailable")
	}
	if t != nil {
		return protocol.Errorf(protocol.ErrKeyRetired, "key %s was retired at height %d", signer, t.Height)
	}
	return nil
}
