package recovery

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Audience says whom a sealed share is for, and so what it is bound to.
type Audience uint8

const (
	// ToGuardian: a share the owner sealed to a guardian at setup, bound to the setup's
	// recovery grant.
	ToGuardian Audience = iota + 1
	// ToDevice: a share a guardian sealed to the new device of a recovery process, bound to
	// the process (the RecoveryStart's transaction hash).
	ToDevice
)

var domains = map[Audience]string{
	ToGuardian: "resilientrecords/recovery/guardian-share/v1\x00",
	ToDevice:   "resilientrecords/recovery/device-share/v1\x00",
}

// boxPlaintext is domain ‖ about:[32] ‖ index:u8 ‖ value:[32].
func boxPlaintext(aud Audience, about [32]byte, s *Share) []byte {
	b := append([]byte(domains[aud]), about[:]...)
	b = append(b, s.Index)
	return append(b, s.Value[:]...)
}

// BoxSize is the length of every sealed share: a capsule, then the sealed plaintext with its
// nonce and tag.
func BoxSize(aud Audience) int {
	return umbral.CapsuleSize + 24 + len(domains[aud]) + 32 + 1 + 32 + 16
}

// ErrBox reports a sealed share that does not open with this key, or that was sealed for
// another audience, grant, process or index.
var ErrBox = errors.New("recovery: sealed share does not open here")

// Seal encrypts s to the receiving key to (umbral's ECIES: a capsule under to, and the DEM
// ciphertext), bound to aud and about.
func Seal(to protocol.PubKey, aud Audience, about [32]byte, s Share) ([]byte, error) {
	if domains[aud] == "" || s.Index == 0 {
		return nil, fmt.Errorf("recovery: nothing to seal (audience %d, index %d)", aud, s.Index)
	}
	pk, err := umbral.PublicKeyFromBytes(to[:])
	if err != nil {
		return nil, fmt.Errorf("recovery: receiving key: %w", err)
	}
	pt := boxPlaintext(aud, about, &s)
	defer clear(pt)
	c, ct, err := umbral.Encrypt(pk, pt)
	if err != nil {
		return nil, err
	}
	cb, err := c.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(cb, ct...), nil
}

// Open decrypts box with the receiving secret key sk and returns the share if it was sealed
// for aud and about, at index. It checks nothing against the commitments: Verify does.
func Open(sk *umbral.SecretKey, aud Audience, about [32]byte, index uint8, box []byte) (Share, error) {
	if domains[aud] == "" || len(box) != BoxSize(aud) {
		return Share{}, ErrBox
	}
	var c umbral.Capsule
	if err := c.UnmarshalBinary(box[:umbral.CapsuleSize]); err != nil {
		return Share{}, ErrBox
	}
	pt, err := umbral.DecryptOriginal(sk, &c, box[umbral.CapsuleSize:])
	if err != nil {
		return Share{}, ErrBox
	}
	defer clear(pt)
	want := boxPlaintext(aud, about, &Share{Index: index})
	prefix := len(want) - 32
	if len(pt) != len(want) || !bytes.Equal(pt[:prefix], want[:prefix]) {
		return Share{}, ErrBox
	}
	s := Share{Index: index}
	copy(s.Value[:], pt[prefix:])
	return s, nil
}
