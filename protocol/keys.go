package protocol

import (
	"encoding/hex"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// PubKey is a compressed secp256k1 public key (33 bytes), the encoding of umbral.PublicKey.
// Accounts, grant recipients and proxies are all named by one. It is a value type so that it
// can key maps.
type PubKey [33]byte

// Sig is an umbral.Signature: ECDSA over SHA-256 of the signed bytes, r ‖ s, 32 bytes each,
// big-endian, low-S.
type Sig [umbral.SignatureSize]byte

// ID is a 32-byte record or grant identifier.
type ID [32]byte

// Hash32 is a 32-byte SHA-256 digest (transaction hash, fragment commitment).
type Hash32 [32]byte

// CapsuleBytes is an encoded Umbral capsule.
type CapsuleBytes [umbral.CapsuleSize]byte

// CFragBytes is an encoded Umbral capsule fragment.
type CFragBytes [umbral.CapsuleFragSize]byte

// CIDText is a blob's content address in its text form ("bafy…"), as PutRecord carries it;
// a string in JSON.
type CIDText []byte

func (c CIDText) String() string                { return string(c) }
func (c CIDText) MarshalText() ([]byte, error)  { return c, nil }
func (c *CIDText) UnmarshalText(b []byte) error { *c = append(CIDText(nil), b...); return nil }

// HexBytes is a variable-length byte string, hex in JSON. Handlers bound the body before
// decoding, which bounds it too.
type HexBytes []byte

// Fixed-size values are lowercase hex in JSON and in text.
func (k PubKey) String() string                     { return hex.EncodeToString(k[:]) }
func (k PubKey) MarshalText() ([]byte, error)       { return hexText(k[:]), nil }
func (k *PubKey) UnmarshalText(b []byte) error      { return unhexFixed(k[:], b, "public key") }
func (s Sig) MarshalText() ([]byte, error)          { return hexText(s[:]), nil }
func (s *Sig) UnmarshalText(b []byte) error         { return unhexFixed(s[:], b, "signature") }
func (id ID) String() string                        { return hex.EncodeToString(id[:]) }
func (id ID) MarshalText() ([]byte, error)          { return hexText(id[:]), nil }
func (id *ID) UnmarshalText(b []byte) error         { return unhexFixed(id[:], b, "id") }
func (h Hash32) String() string                     { return hex.EncodeToString(h[:]) }
func (h Hash32) MarshalText() ([]byte, error)       { return hexText(h[:]), nil }
func (h *Hash32) UnmarshalText(b []byte) error      { return unhexFixed(h[:], b, "hash") }
func (c CapsuleBytes) MarshalText() ([]byte, error) { return hexText(c[:]), nil }
func (c *CapsuleBytes) UnmarshalText(b []byte) error {
	return unhexFixed(c[:], b, "capsule")
}
func (c CFragBytes) MarshalText() ([]byte, error)  { return hexText(c[:]), nil }
func (c *CFragBytes) UnmarshalText(b []byte) error { return unhexFixed(c[:], b, "cfrag") }
func (h HexBytes) MarshalText() ([]byte, error)    { return hexText(h), nil }

func (h *HexBytes) UnmarshalText(b []byte) error {
	out := make([]byte, hex.DecodedLen(len(b)))
	if _, err := hex.Decode(out, b); err != nil {
		return Errorf(ErrMalformed, "bytes are not hex")
	}
	*h = out
	return nil
}

func hexText(b []byte) []byte { return []byte(hex.EncodeToString(b)) }

func unhexFixed(dst, src []byte, what string) error {
	if hex.DecodedLen(len(src)) != len(dst) {
		return Errorf(ErrMalformed, "%s must be %d hex bytes", what, len(dst))
	}
	if _, err := hex.Decode(dst, src); err != nil {
		return Errorf(ErrMalformed, "%s is not hex", what)
	}
	return nil
}

// ParseHex reads a fixed-size value (PubKey, ID, Hash32, …) from its hex text.
func ParseHex[T any, P interface {
	*T
	UnmarshalText([]byte) error
}](s string) (T, error) {
	var v T
	err := P(&v).UnmarshalText([]byte(s))
	return v, err
}

// PubKeyOf converts an umbral public key.
func PubKeyOf(pk *umbral.PublicKey) PubKey {
	var k PubKey
	copy(k[:], pk.Bytes())
	return k
}

// ParsePubKey checks that b is a valid compressed secp256k1 point.
func ParsePubKey(b []byte) (PubKey, error) {
	var k PubKey
	if len(b) != len(k) {
		return k, Errorf(ErrMalformed, "public key is %d bytes, want 33", len(b))
	}
	copy(k[:], b)
	if !k.Valid() {
		return k, Errorf(ErrMalformed, "public key is not a valid point")
	}
	return k, nil
}

// Valid reports whether k decodes as a curve point.
func (k PubKey) Valid() bool {
	_, err := umbral.PublicKeyFromBytes(k[:])
	return err == nil
}

// Verify checks sig over msg against pk. umbral rejects high-S signatures, so a signature
// (and so a transaction hash) has one encoding.
func Verify(pk PubKey, msg []byte, sig Sig) bool {
	pub, err := umbral.PublicKeyFromBytes(pk[:])
	if err != nil {
		return false
	}
	s, err := umbral.SignatureFromBytes(sig[:])
	if err != nil {
		return false
	}
	return s.Verify(pub, msg)
}

// sign signs msg with s.
func sign(s *umbral.Signer, msg []byte) (Sig, error) {
	var out Sig
	sig, err := s.Sign(msg)
	if err != nil {
		return out, err
	}
	copy(out[:], sig.Bytes())
	return out, nil
}

// validCapsule reports whether b is a capsule that self-verifies.
func validCapsule(b []byte) bool {
	var c umbral.Capsule
	return c.UnmarshalBinary(b) == nil
}
