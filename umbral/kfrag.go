package umbral

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"gitlab.com/yawning/secp256k1-voi"
)

// KeyFragSize is the size of the MessagePack encoding of a (Verified)KeyFrag.
const KeyFragSize = 310

// MaxShares bounds the number of key fragments per GenerateKFrags call. The
// reference has no bound; 255 keeps every allocation small and is far above
// any realistic proxy set.
const MaxShares = 255

// KeyFragIDSize is the size of a key fragment identifier.
const KeyFragIDSize = 32

// KeyFrag is one proxy's share of a re-encryption key, not yet verified.
// Decode it with UnmarshalBinary and call Verify before use.
type KeyFrag struct {
	id         [KeyFragIDSize]byte
	key        *secp256k1.Scalar // rk = f(x_id)
	precursor  curvePoint        // X = x_p·G
	commitment curvePoint        // U1 = rk·U

	sigForProxy, sigForReceiver *Signature

	delegatingKeySigned, receivingKeySigned bool
}

// VerifiedKeyFrag is a KeyFrag whose commitment and proxy signature were
// checked (or whose caller vouched for it with SkipVerification). It cannot
// be decoded directly.
type VerifiedKeyFrag struct {
	kf KeyFrag
}

// kfragMessage is the signed message id ‖ U1 ‖ X ‖ (0x01 ‖ A | 0x00) ‖ (0x01 ‖ B | 0x00).
func kfragMessage(id *[KeyFragIDSize]byte, u1, x *curvePoint, a, b *PublicKey) []byte {
	m := make([]byte, 0, KeyFragIDSize+2*pointSize+2*(1+pointSize))
	m = append(m, id[:]...)
	m = append(m, u1.b[:]...)
	m = append(m, x.b[:]...)
	for _, k := range []*PublicKey{a, b} {
		if k == nil {
			m = append(m, 0)
		} else {
			m = append(m, 1)
			m = append(m, k.pt.b[:]...)
		}
	}
	return m
}

// GenerateKFrags splits the re-encryption key from delegating to receiving
// into shares fragments, any threshold of which suffice. signDelegatingKey and
// signReceivingKey choose whether the proxy signature also binds those keys
// (then KeyFrag.Verify needs them). Unlike the reference, 1 ≤ threshold ≤
// shares ≤ MaxShares is enforced (ErrInvalidThreshold).
func GenerateKFrags(delegating *SecretKey, receiving *PublicKey, signer *Signer,
	threshold, shares int, signDelegatingKey, signReceivingKey bool) ([]*VerifiedKeyFrag, error) {
	if threshold < 1 || shares < threshold || shares > MaxShares {
		return nil, fmt.Errorf("%w: threshold %d, shares %d (need 1 ≤ threshold ≤ shares ≤ %d)",
			ErrInvalidThreshold, threshold, shares, MaxShares)
	}
	if !delegating.usable() || !receiving.usable() || !signer.usable() {
		return nil, fmt.Errorf("generate kfrags: %w", ErrInvalidKey)
	}
	xp, err := randomScalar()
	if err != nil {
		return nil, err
	}
	x, err := newCurvePoint(secp256k1.NewIdentityPoint().ScalarBaseMult(xp))
	if err != nil {
		return nil, err
	}
	dh := secp256k1.NewIdentityPoint().ScalarMult(xp, receiving.pt.p).CompressedBytes()
	d := hashToScalar(dstSharedSecret, x.b[:], receiving.pt.b[:], dh)

	coeffs := make([]*secp256k1.Scalar, threshold)
	coeffs[0] = secp256k1.NewScalar().Invert(d)
	coeffs[0].Multiply(coeffs[0], delegating.s)
	for i := 1; i < threshold; i++ {
		if coeffs[i], err = randomScalar(); err != nil {
			return nil, err
		}
	}

	a := delegating.PublicKey()
	var proxyA, proxyB *PublicKey
	if signDelegatingKey {
		proxyA = a
	}
	if signReceivingKey {
		proxyB = receiving
	}
	out := make([]*VerifiedKeyFrag, shares)
	for i := range out {
		kf := KeyFrag{precursor: x, delegatingKeySigned: signDelegatingKey, receivingKeySigned: signReceivingKey}
		if _, err := rand.Read(kf.id[:]); err != nil {
			return nil, fmt.Errorf("umbral: reading randomness: %w", err)
		}
		arg := newScalarDigest(dstPolynomialArg).add(x.b[:]).add(receiving.pt.b[:]).add(dh).add(kf.id[:]).finalize()
		kf.key = hornerEval(coeffs, arg)
		if kf.commitment, err = newCurvePoint(mulU(kf.key)); err != nil {
			return nil, err
		}
		if kf.sigForReceiver, err = signer.Sign(kfragMessage(&kf.id, &kf.commitment, &x, a, receiving)); err != nil {
			return nil, err
		}
		if signDelegatingKey && signReceivingKey {
			// Same message: one signature serves both purposes.
			kf.sigForProxy = kf.sigForReceiver
		} else if kf.sigForProxy, err = signer.Sign(kfragMessage(&kf.id, &kf.commitment, &x, proxyA, proxyB)); err != nil {
			return nil, err
		}
		out[i] = &VerifiedKeyFrag{kf: kf}
	}
	return out, nil
}

func hornerEval(coeffs []*secp256k1.Scalar, x *secp256k1.Scalar) *secp256k1.Scalar {
	r := secp256k1.NewScalarFrom(coeffs[len(coeffs)-1])
	for i := len(coeffs) - 2; i >= 0; i-- {
		r.Multiply(r, x)
		r.Add(r, coeffs[i])
	}
	return r
}

// Verify checks the commitment U1 == rk·U and the proxy signature by
// verifying. delegating and receiving may be nil unless the fragment signs
// them (ErrDelegatingKeyNotProvided, ErrReceivingKeyNotProvided); a key
// supplied for an unsigned slot is ignored, as in the reference.
func (kf *KeyFrag) Verify(verifying, delegating, receiving *PublicKey) (*VerifiedKeyFrag, error) {
	if kf == nil || kf.key == nil {
		return nil, fmt.Errorf("%w: nil or zero key fragment", ErrInvalidEncoding)
	}
	if !verifying.usable() {
		return nil, fmt.Errorf("kfrag verify: verifying %w", ErrInvalidKey)
	}
	// rk is secret: the constant-time table multiplication, then a
	// constant-time comparison.
	if mulU(kf.key).Equal(kf.commitment.p) != 1 {
		return nil, ErrIncorrectCommitment
	}
	var a, b *PublicKey
	if kf.delegatingKeySigned {
		if delegating == nil {
			return nil, ErrDelegatingKeyNotProvided
		}
		a = delegating
	}
	if kf.receivingKeySigned {
		if receiving == nil {
			return nil, ErrReceivingKeyNotProvided
		}
		b = receiving
	}
	if !kf.sigForProxy.Verify(verifying, kfragMessage(&kf.id, &kf.commitment, &kf.precursor, a, b)) {
		return nil, ErrIncorrectKeyFragSignature
	}
	return &VerifiedKeyFrag{kf: *kf}, nil
}

// SkipVerification marks the fragment verified without checking anything.
// Only for fragments this process verified earlier and stored itself (for
// example a proxy reloading its own database); using it on bytes from the
// network lets a forged fragment through and produces undetectably wrong
// capsule fragments.
func (kf *KeyFrag) SkipVerification() *VerifiedKeyFrag { return &VerifiedKeyFrag{kf: *kf} }

// ID returns a copy of the 32-byte fragment identifier.
func (kf *KeyFrag) ID() []byte { return append([]byte(nil), kf.id[:]...) }

// MarshalBinary returns the reference's 310-byte MessagePack encoding.
func (kf *KeyFrag) MarshalBinary() ([]byte, error) {
	if kf == nil || kf.key == nil {
		return nil, fmt.Errorf("%w: nil or zero key fragment", ErrInvalidEncoding)
	}
	u, _ := paramU()
	b := make([]byte, 0, KeyFragSize)
	b = mpAppendArray(b, 5)
	b = mpAppendArray(b, 1)
	b = mpAppendBin(b, u.b[:])
	b = mpAppendBin(b, kf.id[:])
	b = mpAppendBin(b, kf.key.Bytes())
	b = mpAppendBin(b, kf.precursor.b[:])
	b = mpAppendArray(b, 5)
	b = mpAppendBin(b, kf.commitment.b[:])
	b = mpAppendBin(b, kf.sigForProxy.Bytes())
	b = mpAppendBin(b, kf.sigForReceiver.Bytes())
	b = mpAppendBool(b, kf.delegatingKeySigned)
	return mpAppendBool(b, kf.receivingKeySigned), nil
}

// UnmarshalBinary decodes the 310-byte MessagePack encoding. The embedded
// parameter U must be the standard one (the reference would accept another
// U and verify against it).
func (kf *KeyFrag) UnmarshalBinary(data []byte) error {
	r := mpReader{b: data}
	r.array(5)
	r.array(1)
	ub := r.bin(pointSize)
	id := r.bin(KeyFragIDSize)
	key := r.bin(scalarSize)
	xb := r.bin(pointSize)
	r.array(5)
	u1b := r.bin(pointSize)
	sp := r.bin(SignatureSize)
	sr := r.bin(SignatureSize)
	dks := r.boolean()
	rks := r.boolean()
	if err := r.done(); err != nil {
		return fmt.Errorf("kfrag: %w", err)
	}
	if string(ub) != string(uCompressed[:]) {
		return fmt.Errorf("kfrag: %w: parameter U is not the standard one", ErrInvalidEncoding)
	}
	var n KeyFrag
	var err error
	copy(n.id[:], id)
	if n.key, err = parseScalar(key); err != nil {
		return fmt.Errorf("kfrag key: %w", err)
	}
	if n.precursor, err = parsePoint(xb); err != nil {
		return fmt.Errorf("kfrag precursor: %w", err)
	}
	if n.commitment, err = parsePoint(u1b); err != nil {
		return fmt.Errorf("kfrag commitment: %w", err)
	}
	if n.sigForProxy, err = SignatureFromBytes(sp); err != nil {
		return fmt.Errorf("kfrag proxy %w", err)
	}
	if n.sigForReceiver, err = SignatureFromBytes(sr); err != nil {
		return fmt.Errorf("kfrag receiver %w", err)
	}
	n.delegatingKeySigned, n.receivingKeySigned = dks, rks
	*kf = n
	return nil
}

// Equal reports whether both fragments encode the same bytes.
func (kf *KeyFrag) Equal(o *KeyFrag) bool {
	a, errA := kf.MarshalBinary()
	b, errB := o.MarshalBinary()
	return errA == nil && errB == nil && string(a) == string(b)
}

// String returns "KeyFrag:" and the hex of the first 8 bytes of the id.
func (kf *KeyFrag) String() string { return "KeyFrag:" + hex.EncodeToString(kf.id[:8]) }

// KeyFrag returns the plain (unverified) form, for example to store it.
func (v *VerifiedKeyFrag) KeyFrag() *KeyFrag { kf := v.kf; return &kf }

// MarshalBinary returns the same 310 bytes as the plain KeyFrag.
func (v *VerifiedKeyFrag) MarshalBinary() ([]byte, error) { return v.kf.MarshalBinary() }

// ID returns a copy of the 32-byte fragment identifier.
func (v *VerifiedKeyFrag) ID() []byte { return v.kf.ID() }

// Equal reports whether both fragments encode the same bytes.
func (v *VerifiedKeyFrag) Equal(o *VerifiedKeyFrag) bool { return v.kf.Equal(&o.kf) }

// String returns "VerifiedKeyFrag:" and the hex of the first 8 bytes of the id.
func (v *VerifiedKeyFrag) String() string {
	return "VerifiedKeyFrag:" + hex.EncodeToString(v.kf.id[:8])
}
