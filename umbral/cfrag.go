package umbral

import (
	"encoding/hex"
	"fmt"

	"gitlab.com/yawning/secp256k1-voi"
)

// Encoded capsule fragment sizes.
const (
	CapsuleFragSize       = 381 // MessagePack
	CapsuleFragSimpleSize = 359 // concatenation, see BytesSimple
)

// CapsuleFrag is one proxy's re-encryption of a capsule, not yet verified.
type CapsuleFrag struct {
	e1, v1    curvePoint // rk·E, rk·V
	id        [KeyFragIDSize]byte
	precursor curvePoint // X

	// Proof of correct re-encryption (a Chaum–Pedersen style proof that E1,
	// V1 and U1 use the same rk), plus the delegator's signature over the
	// key fragment.
	e2, v2, u1, u2 curvePoint // t·E, t·V, rk·U, t·U
	z              *secp256k1.Scalar
	kfragSig       *Signature
}

// VerifiedCapsuleFrag is a CapsuleFrag whose proof and signature were
// checked. It cannot be decoded directly.
type VerifiedCapsuleFrag struct {
	cf CapsuleFrag
}

func (cf *CapsuleFrag) challenge(c *Capsule) *secp256k1.Scalar {
	u, _ := paramU()
	return newScalarDigest(dstCFragVerification).
		add(c.e.b[:]).add(cf.e1.b[:]).add(cf.e2.b[:]).
		add(c.v.b[:]).add(cf.v1.b[:]).add(cf.v2.b[:]).
		add(u.b[:]).add(cf.u1.b[:]).add(cf.u2.b[:]).finalize()
}

// Reencrypt is the proxy's operation: it transforms the capsule with its
// key fragment and proves it did so correctly.
func Reencrypt(c *Capsule, vkf *VerifiedKeyFrag) (*VerifiedCapsuleFrag, error) {
	if err := c.ok(); err != nil {
		return nil, err
	}
	if vkf == nil || vkf.kf.key == nil {
		return nil, fmt.Errorf("%w: nil key fragment", ErrInvalidEncoding)
	}
	kf := &vkf.kf
	t, err := randomScalar()
	if err != nil {
		return nil, err
	}
	cf := CapsuleFrag{id: kf.id, precursor: kf.precursor, u1: kf.commitment, kfragSig: kf.sigForReceiver}
	for _, m := range []struct {
		dst *curvePoint
		k   *secp256k1.Scalar
		p   *secp256k1.Point
	}{{&cf.e1, kf.key, c.e.p}, {&cf.v1, kf.key, c.v.p}, {&cf.e2, t, c.e.p}, {&cf.v2, t, c.v.p}} {
		if *m.dst, err = newCurvePoint(secp256k1.NewIdentityPoint().ScalarMult(m.k, m.p)); err != nil {
			return nil, err
		}
	}
	if cf.u2, err = newCurvePoint(mulU(t)); err != nil {
		return nil, err
	}
	cf.z = secp256k1.NewScalar().Multiply(kf.key, cf.challenge(c))
	cf.z.Add(cf.z, t)
	return &VerifiedCapsuleFrag{cf: cf}, nil
}

// Verify checks that the fragment is a correct re-encryption of c under a
// key fragment signed by verifying for delegating → receiving. A failure
// means the proxy misbehaved: ErrIncorrectKeyFragSignature or
// ErrIncorrectReencryption. All three keys are required.
func (cf *CapsuleFrag) Verify(c *Capsule, verifying, delegating, receiving *PublicKey) (*VerifiedCapsuleFrag, error) {
	if err := c.ok(); err != nil {
		return nil, err
	}
	if cf == nil || cf.z == nil {
		return nil, fmt.Errorf("%w: nil or zero capsule fragment", ErrInvalidEncoding)
	}
	switch {
	case delegating == nil:
		return nil, ErrDelegatingKeyNotProvided
	case receiving == nil:
		return nil, ErrReceivingKeyNotProvided
	case !verifying.usable() || !delegating.usable() || !receiving.usable():
		return nil, fmt.Errorf("cfrag verify: %w", ErrInvalidKey)
	}
	if !cf.kfragSig.Verify(verifying, kfragMessage(&cf.id, &cf.u1, &cf.precursor, delegating, receiving)) {
		return nil, ErrIncorrectKeyFragSignature
	}
	// Everything here is public, so variable-time arithmetic is fine:
	// z·P − h·P1 must equal P2 for P = E, V, U.
	h := cf.challenge(c)
	negH := secp256k1.NewScalar().Negate(h)
	for _, eq := range [][3]*secp256k1.Point{{c.e.p, cf.e1.p, cf.e2.p}, {c.v.p, cf.v1.p, cf.v2.p}} {
		lhs := secp256k1.NewIdentityPoint().MultiScalarMultVartime(
			[]*secp256k1.Scalar{cf.z, negH}, []*secp256k1.Point{eq[0], eq[1]})
		if lhs.Equal(eq[2]) != 1 {
			return nil, ErrIncorrectReencryption
		}
	}
	lhs := mulUVartime(cf.z)
	lhs.Add(lhs, secp256k1.NewIdentityPoint().MultiScalarMultVartime( // GLV, variable time
		[]*secp256k1.Scalar{negH}, []*secp256k1.Point{cf.u1.p}))
	if lhs.Equal(cf.u2.p) != 1 {
		return nil, ErrIncorrectReencryption
	}
	return &VerifiedCapsuleFrag{cf: *cf}, nil
}

// SkipVerification marks the fragment verified without checking it. Only
// for fragments this process verified earlier and stored itself: an
// unverified fragment from a faulty proxy makes decryption fail with
// ErrValidationFailed instead of naming the culprit.
func (cf *CapsuleFrag) SkipVerification() *VerifiedCapsuleFrag { return &VerifiedCapsuleFrag{cf: *cf} }

// KeyFragID returns a copy of the id of the key fragment that produced this fragment.
func (cf *CapsuleFrag) KeyFragID() []byte { return append([]byte(nil), cf.id[:]...) }

func (cf *CapsuleFrag) fields() [][]byte {
	return [][]byte{cf.e1.b[:], cf.v1.b[:], cf.id[:], cf.precursor.b[:],
		cf.e2.b[:], cf.v2.b[:], cf.u1.b[:], cf.u2.b[:], cf.z.Bytes(), cf.kfragSig.Bytes()}
}

// MarshalBinary returns the reference's 381-byte MessagePack encoding.
func (cf *CapsuleFrag) MarshalBinary() ([]byte, error) {
	if cf == nil || cf.z == nil {
		return nil, fmt.Errorf("%w: nil or zero capsule fragment", ErrInvalidEncoding)
	}
	b := make([]byte, 0, CapsuleFragSize)
	b = mpAppendArray(b, 5)
	for i, f := range cf.fields() {
		if i == 4 {
			b = mpAppendArray(b, 6)
		}
		b = mpAppendBin(b, f)
	}
	return b, nil
}

// BytesSimple returns the 359-byte concatenation
// E1 ‖ V1 ‖ id ‖ X ‖ E2 ‖ V2 ‖ U1 ‖ U2 ‖ z ‖ signature (the reference's toBytesSimple).
func (cf *CapsuleFrag) BytesSimple() []byte {
	if cf == nil || cf.z == nil {
		return nil
	}
	b := make([]byte, 0, CapsuleFragSimpleSize)
	for _, f := range cf.fields() {
		b = append(b, f...)
	}
	return b
}

var cfragFieldSizes = [10]int{pointSize, pointSize, KeyFragIDSize, pointSize,
	pointSize, pointSize, pointSize, pointSize, scalarSize, SignatureSize}

// UnmarshalBinary decodes the 381-byte MessagePack encoding.
func (cf *CapsuleFrag) UnmarshalBinary(data []byte) error {
	r := mpReader{b: data}
	var f [10][]byte
	r.array(5)
	for i, n := range cfragFieldSizes {
		if i == 4 {
			r.array(6)
		}
		f[i] = r.bin(n)
	}
	if err := r.done(); err != nil {
		return fmt.Errorf("cfrag: %w", err)
	}
	return cf.set(f)
}

// UnmarshalSimple decodes the 359-byte simple form.
func (cf *CapsuleFrag) UnmarshalSimple(data []byte) error {
	if len(data) != CapsuleFragSimpleSize {
		return fmt.Errorf("cfrag: %w: need %d bytes, got %d", ErrInvalidEncoding, CapsuleFragSimpleSize, len(data))
	}
	var f [10][]byte
	for i, n := range cfragFieldSizes {
		f[i], data = data[:n], data[n:]
	}
	return cf.set(f)
}

func (cf *CapsuleFrag) set(f [10][]byte) error {
	var n CapsuleFrag
	var err error
	for i, dst := range []*curvePoint{&n.e1, &n.v1, nil, &n.precursor, &n.e2, &n.v2, &n.u1, &n.u2} {
		if dst == nil {
			continue
		}
		if *dst, err = parsePoint(f[i]); err != nil {
			return fmt.Errorf("cfrag field %d: %w", i, err)
		}
	}
	copy(n.id[:], f[2])
	if n.z, err = parseScalar(f[8]); err != nil {
		return fmt.Errorf("cfrag proof: %w", err)
	}
	if n.kfragSig, err = SignatureFromBytes(f[9]); err != nil {
		return fmt.Errorf("cfrag kfrag %w", err)
	}
	*cf = n
	return nil
}

// Equal reports whether both fragments encode the same bytes.
func (cf *CapsuleFrag) Equal(o *CapsuleFrag) bool {
	a, errA := cf.MarshalBinary()
	b, errB := o.MarshalBinary()
	return errA == nil && errB == nil && string(a) == string(b)
}

// String returns "CapsuleFrag:" and the hex of the first 8 bytes of the kfrag id.
func (cf *CapsuleFrag) String() string { return "CapsuleFrag:" + hex.EncodeToString(cf.id[:8]) }

// CapsuleFrag returns the plain (unverified) form (the reference's unverify).
func (v *VerifiedCapsuleFrag) CapsuleFrag() *CapsuleFrag { cf := v.cf; return &cf }

// MarshalBinary returns the same 381 bytes as the plain CapsuleFrag.
func (v *VerifiedCapsuleFrag) MarshalBinary() ([]byte, error) { return v.cf.MarshalBinary() }

// BytesSimple returns the same 359 bytes as the plain CapsuleFrag.
func (v *VerifiedCapsuleFrag) BytesSimple() []byte { return v.cf.BytesSimple() }

// Equal reports whether both fragments encode the same bytes.
func (v *VerifiedCapsuleFrag) Equal(o *VerifiedCapsuleFrag) bool { return v.cf.Equal(&o.cf) }

// String returns "VerifiedCapsuleFrag:" and the hex of the first 8 bytes of the kfrag id.
func (v *VerifiedCapsuleFrag) String() string {
	return "VerifiedCapsuleFrag:" + hex.EncodeToString(v.cf.id[:8])
}
