package umbral

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"gitlab.com/yawning/secp256k1-voi"
	"gitlab.com/yawning/secp256k1-voi/secec"
)

// Sizes of the simple encodings.
const (
	SecretKeySize = 32 // big-endian scalar
	PublicKeySize = 33 // SEC 1 compressed point
	scalarSize    = 32
	pointSize     = 33
)

// curvePoint is a non-identity point together with its compressed encoding,
// which every hash, signed message and wire format uses; caching it means
// each point is compressed (one field inversion) at most once.
type curvePoint struct {
	p *secp256k1.Point
	b [pointSize]byte
}

// newCurvePoint compresses p; it fails for the identity, which the
// reference cannot encode either.
func newCurvePoint(p *secp256k1.Point) (curvePoint, error) {
	if p.IsIdentity() == 1 {
		return curvePoint{}, fmt.Errorf("%w: point at infinity", ErrInvalidEncoding)
	}
	cp := curvePoint{p: p}
	copy(cp.b[:], p.CompressedBytes())
	return cp, nil
}

// parsePoint accepts exactly the 33-byte compressed form (the reference also
// takes 65-byte uncompressed points; see SPEC.md "Strictness").
func parsePoint(b []byte) (curvePoint, error) {
	if len(b) != pointSize {
		return curvePoint{}, fmt.Errorf("%w: point must be %d bytes, got %d", ErrInvalidEncoding, pointSize, len(b))
	}
	p, err := secp256k1.NewIdentityPoint().SetCompressedBytes(b)
	if err != nil {
		return curvePoint{}, fmt.Errorf("%w: point: %v", ErrInvalidEncoding, err)
	}
	cp := curvePoint{p: p}
	copy(cp.b[:], b)
	return cp, nil
}

// parseScalar accepts a canonical 32-byte big-endian scalar (< n). Zero is
// left to the caller: a zero proof response is legitimate, a zero key is not.
func parseScalar(b []byte) (*secp256k1.Scalar, error) {
	if len(b) != scalarSize {
		return nil, fmt.Errorf("%w: scalar must be %d bytes, got %d", ErrInvalidEncoding, scalarSize, len(b))
	}
	s, err := secp256k1.NewScalarFromCanonicalBytes((*[scalarSize]byte)(b))
	if err != nil {
		return nil, fmt.Errorf("%w: scalar not below the group order", ErrInvalidEncoding)
	}
	return s, nil
}

// randomScalar samples a uniform non-zero scalar by rejection, like the reference.
func randomScalar() (*secp256k1.Scalar, error) {
	var b [scalarSize]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("umbral: reading randomness: %w", err)
		}
		s, err := secp256k1.NewScalarFromCanonicalBytes(&b)
		if err == nil && s.IsZero() == 0 {
			return s, nil
		}
	}
}

// SecretKey is a non-zero secp256k1 scalar. Its String, GoString and Format
// methods never reveal the value.
type SecretKey struct {
	s *secp256k1.Scalar

	pkOnce sync.Once
	pk     *PublicKey
}

// GenerateSecretKey returns a uniformly random secret key.
func GenerateSecretKey() (*SecretKey, error) {
	s, err := randomScalar()
	if err != nil {
		return nil, err
	}
	return &SecretKey{s: s}, nil
}

// SecretKeyFromBytes decodes a 32-byte big-endian scalar; zero and values ≥ n
// are rejected.
func SecretKeyFromBytes(b []byte) (*SecretKey, error) {
	s, err := parseScalar(b)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if s.IsZero() == 1 {
		return nil, fmt.Errorf("secret key: %w: zero scalar", ErrInvalidEncoding)
	}
	return &SecretKey{s: s}, nil
}

// usable reports whether sk came from a constructor (not nil, not a zero value).
func (sk *SecretKey) usable() bool { return sk != nil && sk.s != nil }

// Bytes returns the 32-byte big-endian encoding. Treat it as a secret.
func (sk *SecretKey) Bytes() []byte {
	if !sk.usable() {
		return nil
	}
	return sk.s.Bytes()
}

// PublicKey returns a·G, computed once and cached. (A zero-value SecretKey
// gives a zero-value PublicKey, which every operation rejects.)
func (sk *SecretKey) PublicKey() *PublicKey {
	if !sk.usable() {
		return &PublicKey{}
	}
	sk.pkOnce.Do(func() {
		cp, err := newCurvePoint(secp256k1.NewIdentityPoint().ScalarBaseMult(sk.s))
		if err != nil {
			panic("umbral: secret key is zero") // unreachable: constructors reject zero
		}
		sk.pk = &PublicKey{pt: cp}
	})
	return sk.pk
}

// String returns "SecretKey:..." and never the key.
func (sk *SecretKey) String() string { return "SecretKey:..." }

// GoString returns "SecretKey:..." so %#v cannot leak the key either.
func (sk *SecretKey) GoString() string { return sk.String() }

// Format prints "SecretKey:..." for every verb.
func (sk *SecretKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(sk.String())) }

// PublicKey is a non-identity secp256k1 point.
type PublicKey struct {
	pt curvePoint

	ecdsaOnce sync.Once
	ecdsa     *secec.PublicKey
}

// PublicKeyFromBytes decodes the 33-byte compressed SEC 1 form.
func PublicKeyFromBytes(b []byte) (*PublicKey, error) {
	cp, err := parsePoint(b)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return &PublicKey{pt: cp}, nil
}

// usable reports whether pk came from a constructor (not nil, not a zero value).
func (pk *PublicKey) usable() bool { return pk != nil && pk.pt.p != nil }

// Bytes returns the 33-byte compressed encoding.
func (pk *PublicKey) Bytes() []byte { return append([]byte(nil), pk.pt.b[:]...) }

// Equal reports whether both keys are the same point.
func (pk *PublicKey) Equal(o *PublicKey) bool {
	if pk == nil || o == nil {
		return pk == o
	}
	return pk.pt.b == o.pt.b
}

// String returns "PublicKey:" and the hex of the first 8 encoded bytes, like the reference.
func (pk *PublicKey) String() string { return "PublicKey:" + hex.EncodeToString(pk.pt.b[:8]) }

// ecdsaKey converts once to the library's ECDSA key type (which costs a
// field inversion), so repeated verifications with one key do not pay it again.
func (pk *PublicKey) ecdsaKey() *secec.PublicKey {
	pk.ecdsaOnce.Do(func() {
		k, err := secec.NewPublicKeyFromPoint(pk.pt.p)
		if err != nil {
			panic("umbral: public key is the identity") // unreachable: constructors reject it
		}
		pk.ecdsa = k
	})
	return pk.ecdsa
}
