package ledger

import (
	"encoding/hex"
	"fmt"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// PubKey is a compressed secp256k1 public key (33 bytes), the encoding of
// umbral.PublicKey. Accounts, grant recipients and proxies are all named by
// one. It is a value type so that it can key maps.
type PubKey [33]byte

// Sig is an umbral.Signature: ECDSA over SHA-256 of the sign bytes, r ‖ s,
// 32 bytes each, big-endian, low-S.
type Sig [64]byte

func (k PubKey) String() string { return hex.EncodeToString(k[:]) }

// PubKeyOf converts an umbral public key.
func PubKeyOf(pk *umbral.PublicKey) PubKey {
	var k PubKey
	copy(k[:], pk.Bytes())
	return k
}

// ParsePubKey checks that b is a valid compressed secp256k1 point.
func ParsePubKey(b []byte) (PubKey, error) {
	var k PubKey
	if len(b) != len(k) {
		return k, fmt.Errorf("%w: public key is %d bytes, want 33", ErrMalformed, len(b))
	}
	if _, err := umbral.PublicKeyFromBytes(b); err != nil {
		return k, fmt.Errorf("%w: public key is not a valid point", ErrMalformed)
	}
	copy(k[:], b)
	return k, nil
}

// valid reports whether k decodes as a curve point.
func (k PubKey) valid() bool {
	_, err := umbral.PublicKeyFromBytes(k[:])
	return err == nil
}

// Verify checks sig over msg against pk. umbral rejects high-S signatures,
// so a signature (and so a transaction hash) has one encoding.
func Verify(pk PubKey, msg []byte, sig Sig) bool {
	pub, err := umbral.PublicKeyFromBytes(pk[:])
	if err != nil {
		return false
	}
	s, err := umbral.SignatureFromBytes(sig[:])
	if err != nil {
		return false
	}
	return s.Verify(pub, msg)
}

// validCapsule reports whether b is a 105-byte capsule that self-verifies.
func validCapsule(b []byte) bool {
	var c umbral.Capsule
	return c.UnmarshalBinary(b) == nil
}
