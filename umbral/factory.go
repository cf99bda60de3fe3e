package umbral

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// SecretKeyFactorySeedSize is the size of a SecretKeyFactory seed.
const SecretKeyFactorySeedSize = 32

// SecretKeyFactory deterministically derives secret keys, secrets and
// sub-factories from a 32-byte seed and a label, exactly as the reference
// does, so one seed yields the same keys in both implementations.
type SecretKeyFactory struct {
	seed [SecretKeyFactorySeedSize]byte
}

// NewSecretKeyFactory uses seed, which must be exactly 32 uniformly random
// bytes (the reference's fromSecureRandomness).
func NewSecretKeyFactory(seed []byte) (*SecretKeyFactory, error) {
	if len(seed) != SecretKeyFactorySeedSize {
		return nil, fmt.Errorf("secret key factory: %w: seed must be %d bytes, got %d",
			ErrInvalidEncoding, SecretKeyFactorySeedSize, len(seed))
	}
	f := &SecretKeyFactory{}
	copy(f.seed[:], seed)
	return f, nil
}

// GenerateSecretKeyFactory returns a factory with a fresh random seed.
func GenerateSecretKeyFactory() (*SecretKeyFactory, error) {
	var seed [SecretKeyFactorySeedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("umbral: reading randomness: %w", err)
	}
	return NewSecretKeyFactory(seed[:])
}

func (f *SecretKeyFactory) expand(prefix string, label []byte, n int) []byte {
	out, err := hkdf.Key(sha256.New, f.seed[:], nil, prefix+string(label), n)
	if err != nil {
		panic("umbral: HKDF output length out of range") // unreachable: n ≤ 64
	}
	return out
}

// MakeKey derives the secret key for label:
// info = "KEY_DERIVATION/"‖label, k = HKDF-SHA256(seed, info, 64 bytes),
// key = hash-to-scalar with DST info over k (never zero).
func (f *SecretKeyFactory) MakeKey(label []byte) *SecretKey {
	info := "KEY_DERIVATION/" + string(label)
	k := f.expand("", []byte(info), 64)
	return &SecretKey{s: hashToScalar(info, k)}
}

// MakeSecret derives 64 secret bytes: HKDF-SHA256(seed, "SECRET_DERIVATION/"‖label).
func (f *SecretKeyFactory) MakeSecret(label []byte) []byte {
	return f.expand("SECRET_DERIVATION/", label, 64)
}

// MakeFactory derives a child factory whose seed is
// HKDF-SHA256(seed, "FACTORY_DERIVATION/"‖label, 32 bytes).
func (f *SecretKeyFactory) MakeFactory(label []byte) *SecretKeyFactory {
	child := &SecretKeyFactory{}
	copy(child.seed[:], f.expand("FACTORY_DERIVATION/", label, SecretKeyFactorySeedSize))
	return child
}

// String never reveals the seed.
func (f *SecretKeyFactory) String() string { return "SecretKeyFactory:..." }

// GoString never reveals the seed.
func (f *SecretKeyFactory) GoString() string { return f.String() }

// Format prints "SecretKeyFactory:..." for every verb.
func (f *SecretKeyFactory) Format(s fmt.State, _ rune) { _, _ = s.Write([]byte(f.String())) }
