package envelope

import (
	"errors"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// RecipientKey opens a capsule with a recipient's receiving secret key and at least threshold
// verified cfrags of that capsule, re-encrypted by the proxies from the delegating key.
type RecipientKey struct {
	Receiving  *umbral.SecretKey
	Delegating *umbral.PublicKey
	CFrags     []*umbral.VerifiedCapsuleFrag
}

// UnwrapFileKey implements Unwrapper.
func (k RecipientKey) UnwrapFileKey(c *umbral.Capsule, wrapped []byte) ([]byte, error) {
	if k.Receiving == nil || k.Delegating == nil {
		return nil, errors.New("no receiving secret key or delegating public key")
	}
	return umbral.DecryptReencrypted(k.Receiving, k.Delegating, c, k.CFrags, wrapped)
}
