package ledger

import (
	"crypto/sha256"
	"encoding/binary"
)

// appHashDomain starts every app hash computation (SPEC.md §7).
const appHashDomain = "resilientrecords/ledger/apphash/v2\x00"

// nextAppHash chains the previous app hash with one block's sorted writes:
//
//	H = SHA-256(domain ‖ prev ‖ u64 height ‖ for each write in key order:
//	            u8 op ‖ u32 len(key) ‖ key ‖ u32 len(value) ‖ value)
//
// op is 1 for a put, 0 for a delete (with an empty value). A block with no writes keeps the
// previous hash, so that an idle chain with create_empty_blocks=false does not need "proof"
// blocks forever.
func nextAppHash(prev []byte, height int64, ws []Write) []byte {
	if len(ws) == 0 {
		return prev
	}
	h := sha256.New()
	h.Write([]byte(appHashDomain))
	h.Write(prev)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(height))
	h.Write(n[:])
	for _, w := range ws {
		op := byte(1)
		if w.Value == nil {
			op = 0
		}
		h.Write([]byte{op})
		binary.BigEndian.PutUint32(n[:4], uint32(len(w.Key)))
		h.Write(n[:4])
		h.Write(w.Key)
		binary.BigEndian.PutUint32(n[:4], uint32(len(w.Value)))
		h.Write(n[:4])
		h.Write(w.Value)
	}
	return h.Sum(nil)
}
