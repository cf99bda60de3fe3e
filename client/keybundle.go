package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// A key bundle is the plaintext of a record an owner grants to a caregiver with the grant
// right: the delegating secret keys of the records in scope of one delegation (SPEC.md §7).
//
//	KeyBundle = "rrec-key-bundle/v1\n" ‖ delegation:[32] ‖ n:u32 ‖ (record:[32] ‖ delegating_secret:[32])×n
//
// with the records in strictly ascending order.

// KeyBundleType is the media type of a key bundle record.
const KeyBundleType = "application/x-rrec-key-bundle"

// MaxBundleKeys bounds a bundle: far above any allowance of records, and a bundle of it is
// 6.4 MB, small enough to hold in memory.
const MaxBundleKeys = 100_000

const bundleMagic = "rrec-key-bundle/v1\n"

const bundleEntry = 32 + 32

// keyBundle holds, for one delegation, the delegating secret key of each record in scope.
type keyBundle struct {
	delegation protocol.ID
	keys       map[protocol.ID]*umbral.SecretKey
}

func (b *keyBundle) marshal() ([]byte, error) {
	if len(b.keys) > MaxBundleKeys {
		return nil, fmt.Errorf("client: a key bundle holds at most %d keys", MaxBundleKeys)
	}
	out := make([]byte, 0, len(bundleMagic)+32+4+bundleEntry*len(b.keys))
	out = append(out, bundleMagic...)
	out = append(out, b.delegation[:]...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.keys)))
	// In record order, so that one bundle has one encoding.
	ids := slices.SortedFunc(maps.Keys(b.keys), func(a, b protocol.ID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		out = append(out, id[:]...)
		out = append(out, b.keys[id].Bytes()...)
	}
	return out, nil
}

var errBadBundle = errors.New("client: malformed key bundle")

// parseKeyBundle decodes a bundle; anything but the one encoding — valid keys, records in
// strictly ascending order — is refused.
func parseKeyBundle(b []byte) (*keyBundle, error) {
	head := len(bundleMagic) + 32 + 4
	if len(b) < head || !bytes.Equal(b[:len(bundleMagic)], []byte(bundleMagic)) {
		return nil, fmt.Errorf("%w: not a key bundle", errBadBundle)
	}
	kb := &keyBundle{}
	copy(kb.delegation[:], b[len(bundleMagic):])
	n := binary.BigEndian.Uint32(b[head-4:])
	if n > MaxBundleKeys || uint64(len(b)-head) != uint64(n)*bundleEntry {
		return nil, fmt.Errorf("%w: %d keys do not fit %d bytes", errBadBundle, n, len(b))
	}
	kb.keys = make(map[protocol.ID]*umbral.SecretKey, n)
	var prev []byte
	for p := b[head:]; len(p) > 0; p = p[bundleEntry:] {
		id := protocol.ID(p[:32])
		if prev != nil && bytes.Compare(prev, p[:32]) >= 0 {
			return nil, fmt.Errorf("%w: records out of order, or one twice", errBadBundle)
		}
		prev = p[:32]
		sk, err := umbral.SecretKeyFromBytes(p[32:bundleEntry])
		if err != nil {
			return nil, fmt.Errorf("%w: record %s: %v", errBadBundle, id, err)
		}
		kb.keys[id] = sk
	}
	return kb, nil
}
