package umbral

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math/bits"

	"gitlab.com/yawning/secp256k1-voi"
)

// Domain-separation tags of the reference (SPEC.md §1).
const (
	dstCapsulePoints     = "CAPSULE_POINTS"
	dstSharedSecret      = "SHARED_SECRET"
	dstPolynomialArg     = "POLYNOMIAL_ARG"
	dstCFragVerification = "CFRAG_VERIFICATION"
)

// nMinusOne is the group order minus one, as big-endian 64-bit limbs
// (most significant first).
var nMinusOne = [4]uint64{
	0xffffffffffffffff, 0xfffffffffffffffe,
	0xbaaedce6af48a03b, 0xbfd25e8cd0364140,
}

// scalarDigest accumulates the inputs of one hash-to-scalar call.
type scalarDigest struct{ h hash.Hash }

func newScalarDigest(dst string) scalarDigest {
	h := sha256.New()
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(dst)))
	h.Write(l[:])
	h.Write([]byte(dst))
	return scalarDigest{h}
}

func (d scalarDigest) add(b []byte) scalarDigest { d.h.Write(b); return d }

// finalize maps the digest to a non-zero scalar: (digest mod (n−1)) + 1,
// computed as (digest mod n) + 1, plus one more when digest ≥ n−1.
// Branch-free, because the digest may depend on secrets (POLYNOMIAL_ARG).
func (d scalarDigest) finalize() *secp256k1.Scalar {
	var sum [32]byte
	d.h.Sum(sum[:0])
	return reduceNonZero(&sum)
}

func reduceNonZero(sum *[32]byte) *secp256k1.Scalar {
	var borrow uint64
	for i := 3; i >= 0; i-- {
		_, borrow = bits.Sub64(binary.BigEndian.Uint64(sum[8*i:]), nMinusOne[i], borrow)
	}
	geq := borrow ^ 1 // 1 iff digest ≥ n−1
	s, _ := secp256k1.NewScalarFromBytes(sum)
	s.Add(s, secp256k1.NewScalarFromUint64(1+geq))
	return s
}

func hashToScalar(dst string, inputs ...[]byte) *secp256k1.Scalar {
	d := newScalarDigest(dst)
	for _, in := range inputs {
		d.add(in)
	}
	return d.finalize()
}
