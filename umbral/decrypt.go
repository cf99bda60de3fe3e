package umbral

import (
	"fmt"

	"gitlab.com/yawning/secp256k1-voi"
)

// DecryptReencrypted opens a capsule with capsule fragments from at least
// threshold proxies (in any order) and decrypts the ciphertext. receiving is
// the receiver's secret key, delegating the original recipient's public key.
//
// Errors: ErrNoCapsuleFrags, ErrMismatchedCapsuleFrags (fragments of
// different key-fragment sets), ErrRepeatingCapsuleFrags (two fragments of
// one key fragment), ErrValidationFailed (too few fragments, fragments of
// another capsule, or wrong keys), then the DEM errors.
func DecryptReencrypted(receiving *SecretKey, delegating *PublicKey, c *Capsule,
	cfrags []*VerifiedCapsuleFrag, ciphertext []byte) ([]byte, error) {
	if err := c.ok(); err != nil {
		return nil, err
	}
	if !receiving.usable() || !delegating.usable() {
		return nil, fmt.Errorf("decrypt reencrypted: %w", ErrInvalidKey)
	}
	if len(cfrags) == 0 {
		return nil, ErrNoCapsuleFrags
	}
	for _, v := range cfrags {
		if v == nil || v.cf.z == nil {
			return nil, fmt.Errorf("%w: nil capsule fragment", ErrInvalidEncoding)
		}
	}
	x := cfrags[0].cf.precursor
	for _, v := range cfrags[1:] {
		if v.cf.precursor.b != x.b {
			return nil, ErrMismatchedCapsuleFrags
		}
	}
	b := receiving.PublicKey()
	dh := secp256k1.NewIdentityPoint().ScalarMult(receiving.s, x.p).CompressedBytes()

	// Lagrange coefficients at 0 over the hashed ids: λ_i = Π_{j≠i} x_j / (x_j − x_i).
	m := len(cfrags)
	xs := make([]*secp256k1.Scalar, m)
	for i, v := range cfrags {
		xs[i] = newScalarDigest(dstPolynomialArg).add(x.b[:]).add(b.pt.b[:]).add(dh).add(v.cf.id[:]).finalize()
	}
	d := hashToScalar(dstSharedSecret, x.b[:], b.pt.b[:], dh)
	mus, err := lagrangeAtZero(xs)
	if err != nil {
		return nil, err
	}
	for _, mu := range mus {
		mu.Multiply(mu, d)
	}

	// With μ_i = d·λ_i: Σ μ_i·E1_i = a·E and Σ μ_i·V1_i = a·V. The reference
	// checks (s/d)·A == h·E' + V' (E' = Σ λ_i·E1_i); multiplied through by d
	// that is h·Σμ_i·E1_i + Σμ_i·V1_i − s·A == O, one constant-time
	// multi-scalar multiplication, and K = Σ μ_i·(E1_i + V1_i) is another.
	h := c.hash()
	checkScalars := make([]*secp256k1.Scalar, 0, 2*m+1)
	checkPoints := make([]*secp256k1.Point, 0, 2*m+1)
	keyPoints := make([]*secp256k1.Point, m)
	for i, v := range cfrags {
		checkScalars = append(checkScalars, secp256k1.NewScalar().Multiply(mus[i], h), mus[i])
		checkPoints = append(checkPoints, v.cf.e1.p, v.cf.v1.p)
		keyPoints[i] = secp256k1.NewIdentityPoint().Add(v.cf.e1.p, v.cf.v1.p)
	}
	checkScalars = append(checkScalars, secp256k1.NewScalar().Negate(c.s))
	checkPoints = append(checkPoints, delegating.pt.p)
	if secp256k1.NewIdentityPoint().MultiScalarMult(checkScalars, checkPoints).IsIdentity() != 1 {
		return nil, ErrValidationFailed
	}
	k := secp256k1.NewIdentityPoint().MultiScalarMult(mus, keyPoints)
	if k.IsIdentity() == 1 {
		return nil, ErrValidationFailed
	}
	return demDecrypt(k.CompressedBytes(), c.BytesSimple(), ciphertext)
}

// lagrangeAtZero returns λ_i = Π_{j≠i} x_j·(x_j − x_i)⁻¹ with a single
// scalar inversion (Montgomery's batch trick over the denominators).
func lagrangeAtZero(xs []*secp256k1.Scalar) ([]*secp256k1.Scalar, error) {
	m := len(xs)
	nums := make([]*secp256k1.Scalar, m)
	dens := make([]*secp256k1.Scalar, m)
	diff := secp256k1.NewScalar()
	for i := range xs {
		nums[i] = secp256k1.NewScalarFromUint64(1)
		dens[i] = secp256k1.NewScalarFromUint64(1)
		for j := range xs {
			if i == j {
				continue
			}
			diff.Subtract(xs[j], xs[i])
			if diff.IsZero() == 1 {
				return nil, ErrRepeatingCapsuleFrags
			}
			nums[i].Multiply(nums[i], xs[j])
			dens[i].Multiply(dens[i], diff)
		}
	}
	// prefix[i] = dens[0]·…·dens[i−1]
	prefix := make([]*secp256k1.Scalar, m+1)
	prefix[0] = secp256k1.NewScalarFromUint64(1)
	for i := range dens {
		prefix[i+1] = secp256k1.NewScalar().Multiply(prefix[i], dens[i])
	}
	inv := secp256k1.NewScalar().Invert(prefix[m]) // 1/(dens[0]·…·dens[m−1])
	for i := m - 1; i >= 0; i-- {
		denInv := secp256k1.NewScalar().Multiply(inv, prefix[i])
		inv.Multiply(inv, dens[i])
		nums[i].Multiply(nums[i], denInv)
	}
	return nums, nil
}
