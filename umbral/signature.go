package umbral

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"gitlab.com/yawning/secp256k1-voi"
	"gitlab.com/yawning/secp256k1-voi/secec"
)

// SignatureSize is the size of the fixed r‖s encoding.
const SignatureSize = 64

// Signer makes ECDSA signatures over SHA-256(message), as the reference does.
type Signer struct {
	sk   *SecretKey
	priv *secec.PrivateKey
}

// NewSigner wraps a secret key for signing.
// A nil or zero-value key gives a Signer whose Sign fails with ErrInvalidKey.
func NewSigner(sk *SecretKey) *Signer {
	if !sk.usable() {
		return &Signer{sk: sk}
	}
	priv, err := secec.NewPrivateKeyFromScalar(sk.s)
	if err != nil {
		return &Signer{sk: sk}
	}
	return &Signer{sk: sk, priv: priv}
}

func (s *Signer) usable() bool { return s != nil && s.priv != nil }

// Sign signs SHA-256(msg). The nonce is RFC 6979 hedged with fresh
// randomness (like the reference, signatures are not reproducible) and s is
// always low (s ≤ n/2).
func (s *Signer) Sign(msg []byte) (*Signature, error) {
	if !s.usable() {
		return nil, ErrInvalidKey
	}
	digest := sha256.Sum256(msg)
	r, sc, _, err := s.priv.SignRaw(nil, digest[:])
	if err != nil {
		return nil, fmt.Errorf("umbral: signing: %w", err)
	}
	return &Signature{r: r, s: sc}, nil
}

// VerifyingKey returns the public key that verifies this signer's signatures.
func (s *Signer) VerifyingKey() *PublicKey { return s.sk.PublicKey() }

// String never reveals the key.
func (s *Signer) String() string { return "Signer:..." }

// GoString never reveals the key.
func (s *Signer) GoString() string { return s.String() }

// Format prints "Signer:..." for every verb.
func (s *Signer) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// Signature is a low-S ECDSA signature (r, s), 1 ≤ r < n, 1 ≤ s ≤ n/2.
type Signature struct {
	r, s *secp256k1.Scalar
}

func newSignature(r, s *secp256k1.Scalar) (*Signature, error) {
	if r.IsZero() == 1 || s.IsZero() == 1 {
		return nil, fmt.Errorf("signature: %w: zero r or s", ErrInvalidEncoding)
	}
	if s.IsGreaterThanHalfN() == 1 {
		return nil, fmt.Errorf("signature: %w: high s (not normalized)", ErrInvalidEncoding)
	}
	return &Signature{r: r, s: s}, nil
}

// SignatureFromBytes decodes the 64-byte r‖s form. High-S is rejected.
func SignatureFromBytes(b []byte) (*Signature, error) {
	if len(b) != SignatureSize {
		return nil, fmt.Errorf("signature: %w: need %d bytes, got %d", ErrInvalidEncoding, SignatureSize, len(b))
	}
	r, err := parseScalar(b[:32])
	if err != nil {
		return nil, fmt.Errorf("signature r: %w", err)
	}
	s, err := parseScalar(b[32:])
	if err != nil {
		return nil, fmt.Errorf("signature s: %w", err)
	}
	return newSignature(r, s)
}

// SignatureFromDER decodes an ASN.1 DER ECDSA-Sig-Value. High-S is rejected.
func SignatureFromDER(b []byte) (*Signature, error) {
	r, s, err := secec.ParseASN1Signature(b)
	if err != nil {
		return nil, fmt.Errorf("signature: %w: %v", ErrInvalidEncoding, err)
	}
	return newSignature(r, s)
}

// Bytes returns the 64-byte r‖s encoding (nil for a zero-value Signature).
func (sig *Signature) Bytes() []byte {
	if sig == nil || sig.s == nil {
		return nil
	}
	return secec.BuildCompactSignature(sig.r, sig.s)
}

// DER returns the ASN.1 DER encoding (nil for a zero-value Signature).
func (sig *Signature) DER() []byte {
	if sig == nil || sig.s == nil {
		return nil
	}
	return secec.BuildASN1Signature(sig.r, sig.s)
}

// Verify checks the signature over SHA-256(msg) against pk.
func (sig *Signature) Verify(pk *PublicKey, msg []byte) bool {
	if sig == nil || sig.s == nil || !pk.usable() || sig.s.IsGreaterThanHalfN() == 1 {
		return false
	}
	digest := sha256.Sum256(msg)
	return pk.ecdsaKey().VerifyRaw(digest[:], sig.r, sig.s)
}

// Equal reports whether both signatures have the same r and s.
func (sig *Signature) Equal(o *Signature) bool {
	if sig == nil || o == nil || sig.s == nil || o.s == nil {
		return false
	}
	return sig.r.Equal(o.r)&sig.s.Equal(o.s) == 1
}

// String returns "Signature:" and the hex of the first 8 bytes of r‖s.
func (sig *Signature) String() string {
	if sig == nil || sig.s == nil {
		return "Signature:<nil>"
	}
	return "Signature:" + hex.EncodeToString(sig.Bytes()[:8])
}
