package umbral

import (
	"encoding/hex"
	"fmt"

	"gitlab.com/yawning/secp256k1-voi"
)

// Encoded capsule sizes.
const (
	CapsuleSize       = 105 // MessagePack
	CapsuleSimpleSize = 98  // E ‖ V ‖ s
)

// Capsule encapsulates the symmetric key of one ciphertext under the
// delegating public key: (E, V, s) with s·G == V + h·E.
type Capsule struct {
	e, v curvePoint
	s    *secp256k1.Scalar
}

// checkCapsule is the capsule's proof of well-formedness. All inputs are
// public, so the variable-time double multiplication is safe here.
func newCapsule(e, v curvePoint, s *secp256k1.Scalar) (*Capsule, error) {
	c := &Capsule{e: e, v: v, s: s}
	negH := secp256k1.NewScalar().Negate(c.hash())
	sGminusHE := secp256k1.NewIdentityPoint().DoubleScalarMultBasepointVartime(s, negH, e.p)
	if sGminusHE.Equal(v.p) != 1 {
		return nil, ErrCapsuleSelfVerification
	}
	return c, nil
}

func (c *Capsule) hash() *secp256k1.Scalar {
	return hashToScalar(dstCapsulePoints, c.e.b[:], c.v.b[:])
}

func (c *Capsule) ok() error {
	if c == nil || c.s == nil {
		return fmt.Errorf("%w: nil or zero capsule", ErrInvalidEncoding)
	}
	return nil
}

// Encrypt encrypts plaintext for the holder of pk's secret key and returns
// the capsule and ciphertext (nonce ‖ XChaCha20-Poly1305 output, 40 bytes
// longer than the plaintext). Both are needed to decrypt.
func Encrypt(pk *PublicKey, plaintext []byte) (*Capsule, []byte, error) {
	if !pk.usable() {
		return nil, nil, fmt.Errorf("encrypt: %w", ErrInvalidKey)
	}
	r, err := randomScalar()
	if err != nil {
		return nil, nil, err
	}
	u, err := randomScalar()
	if err != nil {
		return nil, nil, err
	}
	e, err := newCurvePoint(secp256k1.NewIdentityPoint().ScalarBaseMult(r))
	if err != nil {
		return nil, nil, err
	}
	v, err := newCurvePoint(secp256k1.NewIdentityPoint().ScalarBaseMult(u))
	if err != nil {
		return nil, nil, err
	}
	c := &Capsule{e: e, v: v}
	c.s = secp256k1.NewScalar().Multiply(r, c.hash())
	c.s.Add(c.s, u)

	k := secp256k1.NewIdentityPoint().ScalarMult(secp256k1.NewScalar().Add(r, u), pk.pt.p)
	ct, err := demEncrypt(k.CompressedBytes(), c.BytesSimple(), plaintext)
	if err != nil {
		return nil, nil, err
	}
	return c, ct, nil
}

// DecryptOriginal decrypts with the delegating secret key itself:
// K = a·(E+V).
func DecryptOriginal(sk *SecretKey, c *Capsule, ciphertext []byte) ([]byte, error) {
	if err := c.ok(); err != nil {
		return nil, err
	}
	if !sk.usable() {
		return nil, fmt.Errorf("decrypt: %w", ErrInvalidKey)
	}
	k := secp256k1.NewIdentityPoint().Add(c.e.p, c.v.p)
	k.ScalarMult(sk.s, k)
	return demDecrypt(k.CompressedBytes(), c.BytesSimple(), ciphertext)
}

// MarshalBinary returns the reference's 105-byte MessagePack encoding.
func (c *Capsule) MarshalBinary() ([]byte, error) {
	if err := c.ok(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, CapsuleSize)
	b = mpAppendArray(b, 3)
	b = mpAppendBin(b, c.e.b[:])
	b = mpAppendBin(b, c.v.b[:])
	return mpAppendBin(b, c.s.Bytes()), nil
}

// UnmarshalBinary decodes the 105-byte MessagePack encoding and
// self-verifies the capsule (ErrCapsuleSelfVerification if it fails).
func (c *Capsule) UnmarshalBinary(data []byte) error {
	r := mpReader{b: data}
	r.array(3)
	eb, vb, sb := r.bin(pointSize), r.bin(pointSize), r.bin(scalarSize)
	if err := r.done(); err != nil {
		return fmt.Errorf("capsule: %w", err)
	}
	return c.set(eb, vb, sb)
}

// BytesSimple returns the 98-byte concatenation E ‖ V ‖ s (the
// reference's toBytesSimple, also the AEAD associated data).
func (c *Capsule) BytesSimple() []byte {
	if c.ok() != nil {
		return nil
	}
	b := make([]byte, 0, CapsuleSimpleSize)
	b = append(b, c.e.b[:]...)
	b = append(b, c.v.b[:]...)
	return append(b, c.s.Bytes()...)
}

// UnmarshalSimple decodes the 98-byte simple form and self-verifies the capsule.
func (c *Capsule) UnmarshalSimple(data []byte) error {
	if len(data) != CapsuleSimpleSize {
		return fmt.Errorf("capsule: %w: need %d bytes, got %d", ErrInvalidEncoding, CapsuleSimpleSize, len(data))
	}
	return c.set(data[:33], data[33:66], data[66:])
}

func (c *Capsule) set(eb, vb, sb []byte) error {
	e, err := parsePoint(eb)
	if err != nil {
		return fmt.Errorf("capsule E: %w", err)
	}
	v, err := parsePoint(vb)
	if err != nil {
		return fmt.Errorf("capsule V: %w", err)
	}
	s, err := parseScalar(sb)
	if err != nil {
		return fmt.Errorf("capsule s: %w", err)
	}
	nc, err := newCapsule(e, v, s)
	if err != nil {
		return err
	}
	*c = *nc
	return nil
}

// Equal reports whether both capsules encode the same (E, V, s).
func (c *Capsule) Equal(o *Capsule) bool {
	if c == nil || o == nil || c.s == nil || o.s == nil {
		return c == o
	}
	return c.e.b == o.e.b && c.v.b == o.v.b && c.s.Equal(o.s) == 1
}

// String returns "Capsule:" and the hex of the first 8 bytes of s, like the reference.
func (c *Capsule) String() string {
	if c.ok() != nil {
		return "Capsule:<nil>"
	}
	return "Capsule:" + hex.EncodeToString(c.s.Bytes()[:8])
}
