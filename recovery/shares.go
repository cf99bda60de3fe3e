// Package recovery is the client side of recovery by guardians: the secret of a fresh
// recovery key is split among an identity's guardians with Shamir's secret sharing over the
// secp256k1 scalar field, with Feldman commitments so that each share can be checked on its
// own, and each share travels sealed to one person's receiving key. Package client drives it;
// the ledger and the nodes only ever see the commitments and sealed shares. SPEC.md beside
// this file fixes the arithmetic and the bytes.
package recovery

import (
	"crypto/rand"
	"errors"
	"fmt"

	"gitlab.com/yawning/secp256k1-voi"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Share is one guardian's part of a recovery key's secret: the value of the sharing
// polynomial at Index. Any threshold of them rebuild the secret; fewer tell nothing about it.
type Share struct {
	Index uint8    // the point the polynomial is evaluated at: the guardian's position + 1, never 0
	Value [32]byte // big-endian scalar; secret
}

// String never prints the value.
func (s Share) String() string { return fmt.Sprintf("Share(%d)", s.Index) }

// GoString never prints the value either.
func (s Share) GoString() string { return s.String() }

// ErrBadShare reports a share that does not match the commitments: a guardian, or whoever
// sealed it, gave a wrong value.
var ErrBadShare = errors.New("recovery: share does not match the commitments")

// ErrTooFewShares reports fewer valid shares than the threshold.
var ErrTooFewShares = errors.New("recovery: fewer valid shares than the threshold")

// MaxShares bounds n: indices are one byte and never 0.
const MaxShares = 255

// Split draws a fresh recovery key and splits its secret into n shares, any k of which
// rebuild it. It returns the shares (indices 1..n) and the k commitments to the sharing
// polynomial's coefficients; the first commitment is the recovery key's public key. The
// secret itself is never returned: only the shares hold it.
func Split(k, n int) ([]Share, []protocol.PubKey, error) {
	if k < 1 || n < k || n > MaxShares {
		return nil, nil, fmt.Errorf("recovery: cannot split %d of %d", k, n)
	}
	coeffs := make([]*secp256k1.Scalar, k)
	commitments := make([]protocol.PubKey, k)
	for j := range coeffs {
		c, err := randomScalar()
		if err != nil {
			return nil, nil, err
		}
		coeffs[j] = c
		copy(commitments[j][:], secp256k1.NewIdentityPoint().ScalarBaseMult(c).CompressedBytes())
	}
	shares := make([]Share, n)
	for i := range shares {
		x := secp256k1.NewScalarFromUint64(uint64(i + 1))
		shares[i].Index = uint8(i + 1)
		copy(shares[i].Value[:], horner(coeffs, x).Bytes())
	}
	for _, c := range coeffs {
		c.Zero()
	}
	return shares, commitments, nil
}

// horner evaluates the polynomial with coefficients coeffs (constant first) at x.
func horner(coeffs []*secp256k1.Scalar, x *secp256k1.Scalar) *secp256k1.Scalar {
	acc := secp256k1.NewScalarFrom(coeffs[len(coeffs)-1])
	for j := len(coeffs) - 2; j >= 0; j-- {
		acc.Multiply(acc, x)
		acc.Add(acc, coeffs[j])
	}
	return acc
}

// Verify checks a share against the commitments C_0..C_{k−1}: Value·G = Σ C_j·Index^j.
func Verify(commitments []protocol.PubKey, s Share) error {
	if len(commitments) == 0 || s.Index == 0 {
		return ErrBadShare
	}
	v, err := secp256k1.NewScalarFromCanonicalBytes(&s.Value)
	if err != nil {
		return ErrBadShare
	}
	// The commitments and the powers of the index are public: variable time is safe for
	// their sum, and the secret value is multiplied in constant time.
	x := secp256k1.NewScalarFromUint64(uint64(s.Index))
	powers := make([]*secp256k1.Scalar, len(commitments))
	points := make([]*secp256k1.Point, len(commitments))
	for j, c := range commitments {
		p, err := secp256k1.NewPointFromBytes(c[:])
		if err != nil {
			return ErrBadShare
		}
		points[j] = p
		if j == 0 {
			powers[j] = secp256k1.NewScalar().One()
		} else {
			powers[j] = secp256k1.NewScalar().Multiply(powers[j-1], x)
		}
	}
	want := secp256k1.NewIdentityPoint().MultiScalarMultVartime(powers, points)
	if secp256k1.NewIdentityPoint().ScalarBaseMult(v).Equal(want) != 1 {
		return ErrBadShare
	}
	return nil
}

// Combine rebuilds the recovery key from shares: it keeps the shares that verify against the
// commitments, one per index, and interpolates the first threshold of them at zero, the
// threshold being the number of commitments. It fails with ErrTooFewShares, wrapping the
// indices it had to drop, when fewer than threshold valid shares remain.
func Combine(commitments []protocol.PubKey, shares []Share) (*umbral.SecretKey, error) {
	k := len(commitments)
	if k == 0 {
		return nil, errors.New("recovery: no commitments")
	}
	var good []Share
	var dropped []uint8
	seen := map[uint8]bool{}
	for _, s := range shares {
		if seen[s.Index] {
			continue
		}
		if Verify(commitments, s) != nil {
			dropped = append(dropped, s.Index)
			continue
		}
		seen[s.Index] = true
		good = append(good, s)
		if len(good) == k {
			break
		}
	}
	if len(good) < k {
		return nil, fmt.Errorf("%w: %d of %d (shares that do not verify: %v)", ErrTooFewShares, len(good), k, dropped)
	}
	xs := make([]*secp256k1.Scalar, k)
	for i, s := range good {
		xs[i] = secp256k1.NewScalarFromUint64(uint64(s.Index))
	}
	secret := secp256k1.NewScalar()
	for i, s := range good {
		v, _ := secp256k1.NewScalarFromCanonicalBytes(&s.Value) // verified above
		secret.Add(secret, v.Multiply(v, lagrangeAtZero(xs, i)))
	}
	b := secret.Bytes()
	secret.Zero()
	sk, err := umbral.SecretKeyFromBytes(b)
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("recovery: rebuilt key: %w", err)
	}
	if protocol.PubKeyOf(sk.PublicKey()) != commitments[0] {
		// Unreachable with verified shares of one polynomial; kept as the last word.
		return nil, errors.New("recovery: rebuilt key is not the recovery key")
	}
	return sk, nil
}

// lagrangeAtZero is the weight of point i in interpolating at zero: Π_{j≠i} x_j / (x_j − x_i).
// The indices are distinct and non-zero, so no denominator is zero.
func lagrangeAtZero(xs []*secp256k1.Scalar, i int) *secp256k1.Scalar {
	num, den := secp256k1.NewScalar().One(), secp256k1.NewScalar().One()
	for j, x := range xs {
		if j == i {
			continue
		}
		num.Multiply(num, x)
		den.Multiply(den, secp256k1.NewScalar().Subtract(x, xs[i]))
	}
	return num.Multiply(num, den.Invert(den))
}

// randomScalar draws a uniform non-zero scalar by rejection.
func randomScalar() (*secp256k1.Scalar, error) {
	var b [32]byte
	defer clear(b[:])
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("recovery: reading randomness: %w", err)
		}
		s, err := secp256k1.NewScalarFromCanonicalBytes(&b)
		if err == nil && s.IsZero() == 0 {
			return s, nil
		}
	}
}
