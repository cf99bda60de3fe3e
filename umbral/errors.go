package umbral

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can tell the failure kinds apart with errors.Is: in
// particular a proxy that returned a bad re-encryption (ErrIncorrectReencryption,
// ErrIncorrectKeyFragSignature) from a caller that used the wrong key
// (ErrValidationFailed, ErrAuthenticationFailed).
var (
	// ErrInvalidEncoding: malformed bytes (wrong length, wrong MessagePack
	// header, trailing data, identity point, scalar out of range...).
	ErrInvalidEncoding = errors.New("umbral: invalid encoding")

	// ErrInvalidKey: a nil or zero-value key or signer was passed.
	ErrInvalidKey = errors.New("umbral: nil or uninitialised key")

	// ErrCapsuleSelfVerification: a decoded capsule fails s·G == V + h·E.
	ErrCapsuleSelfVerification = errors.New("umbral: capsule self-verification failed")

	// ErrCiphertextTooShort: the ciphertext is shorter than the nonce.
	ErrCiphertextTooShort = errors.New("umbral: ciphertext too short")

	// ErrAuthenticationFailed: the AEAD tag did not verify (wrong key, wrong
	// capsule or tampered ciphertext).
	ErrAuthenticationFailed = errors.New("umbral: decryption authentication failed")

	// ErrPlaintextTooLarge: the plaintext exceeds the XChaCha20-Poly1305 limit.
	ErrPlaintextTooLarge = errors.New("umbral: plaintext too large")

	// ErrInvalidThreshold: threshold/shares outside 1 ≤ threshold ≤ shares ≤ MaxShares.
	ErrInvalidThreshold = errors.New("umbral: invalid threshold or shares")

	// ErrIncorrectCommitment: a key fragment's commitment U1 is not rk·U.
	ErrIncorrectCommitment = errors.New("umbral: incorrect key fragment commitment")

	// ErrDelegatingKeyNotProvided: the key fragment signs the delegating key
	// but the caller did not supply it.
	ErrDelegatingKeyNotProvided = errors.New("umbral: delegating key not provided")

	// ErrReceivingKeyNotProvided: the key fragment signs the receiving key
	// but the caller did not supply it.
	ErrReceivingKeyNotProvided = errors.New("umbral: receiving key not provided")

	// ErrIncorrectKeyFragSignature: the key fragment signature (the proxy
	// signature on a KeyFrag, or the receiver signature carried in a
	// CapsuleFrag) does not verify.
	ErrIncorrectKeyFragSignature = errors.New("umbral: incorrect key fragment signature")

	// ErrIncorrectReencryption: the capsule fragment's zero-knowledge proof of
	// correct re-encryption does not verify: the proxy misbehaved.
	ErrIncorrectReencryption = errors.New("umbral: incorrect re-encryption proof")

	// ErrNoCapsuleFrags: DecryptReencrypted was given no fragments.
	ErrNoCapsuleFrags = errors.New("umbral: no capsule fragments")

	// ErrMismatchedCapsuleFrags: the fragments come from different key
	// fragment sets (different precursors).
	ErrMismatchedCapsuleFrags = errors.New("umbral: mismatched capsule fragments")

	// ErrRepeatingCapsuleFrags: two fragments come from the same key fragment.
	ErrRepeatingCapsuleFrags = errors.New("umbral: repeating capsule fragments")

	// ErrValidationFailed: the combined fragments do not open the capsule:
	// fewer than threshold fragments, fragments for another capsule, or the
	// wrong receiving/delegating key.
	ErrValidationFailed = errors.New("umbral: capsule fragment validation failed")
)
