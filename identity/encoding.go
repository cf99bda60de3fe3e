package identity

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// A public identity is "rrec1" followed by lowercase unpadded base32 of
// signing key (33) ‖ receiving key (33) ‖ checksum (4), the checksum being the first four
// bytes of SHA-256(publicChecksumDomain ‖ keys). The checksum catches a mistyped or truncated
// string before it becomes a grant to nobody.
//
// A secret identity line is "RREC-IDENTITY-1-" followed by uppercase unpadded base32 of
// seed (32) ‖ checksum (4), computed the same way under secretChecksumDomain.
const (
	PublicPrefix = "rrec1"
	secretPrefix = "RREC-IDENTITY-1-"

	publicChecksumDomain = "rrec public identity v1"
	secretChecksumDomain = "rrec secret identity v1"
	checksumSize         = 4
	publicKeySize        = 33
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Public is the public half of an identity: the key that signs its transactions and the key
// records are re-encrypted to.
type Public struct {
	Signing   *umbral.PublicKey
	Receiving *umbral.PublicKey
}

// String encodes the public identity, the short string a user hands to others.
func (p Public) String() string {
	data := append(append(make([]byte, 0, 2*publicKeySize+checksumSize), p.Signing.Bytes()...), p.Receiving.Bytes()...)
	data = append(data, checksum(publicChecksumDomain, data)...)
	return PublicPrefix + strings.ToLower(b32.EncodeToString(data))
}

// Equal reports whether both keys match.
func (p Public) Equal(o Public) bool {
	return p.Signing.Equal(o.Signing) && p.Receiving.Equal(o.Receiving)
}

// ParsePublic decodes a public identity string.
func ParsePublic(s string) (Public, error) {
	s = strings.TrimSpace(s)
	body, ok := strings.CutPrefix(strings.ToLower(s), PublicPrefix)
	if !ok {
		return Public{}, fmt.Errorf("%w public identity: it should start with %q", ErrMalformed, PublicPrefix)
	}
	data, err := b32.DecodeString(strings.ToUpper(body))
	if err != nil || len(body) != b32.EncodedLen(2*publicKeySize+checksumSize) {
		return Public{}, fmt.Errorf("%w public identity: wrong length or characters (was it copied whole?)", ErrMalformed)
	}
	keys, sum := data[:2*publicKeySize], data[2*publicKeySize:]
	if subtle.ConstantTimeCompare(sum, checksum(publicChecksumDomain, keys)) != 1 {
		return Public{}, fmt.Errorf("%w public identity: checksum mismatch (a typo?)", ErrMalformed)
	}
	signing, err := umbral.PublicKeyFromBytes(keys[:publicKeySize])
	if err != nil {
		return Public{}, fmt.Errorf("%w public identity: signing key: %v", ErrMalformed, err)
	}
	receiving, err := umbral.PublicKeyFromBytes(keys[publicKeySize:])
	if err != nil {
		return Public{}, fmt.Errorf("%w public identity: receiving key: %v", ErrMalformed, err)
	}
	return Public{Signing: signing, Receiving: receiving}, nil
}

// MarshalText makes the secret identity line. It is secret: write it only to a 0600 file.
func (id *Identity) MarshalText() ([]byte, error) {
	data := append(append(make([]byte, 0, SeedSize+checksumSize), id.seed[:]...), checksum(secretChecksumDomain, id.seed[:])...)
	return []byte(secretPrefix + b32.EncodeToString(data)), nil
}

// Parse reads an identity file's contents that are not protected: comment lines starting
// with '#', blank lines, and exactly one secret identity line. A protected file is
// ErrProtected; Decode reads both.
func Parse(text []byte) (*Identity, error) { return Decode(text, nil) }

// identityLine is the one line of text that is neither blank nor a comment.
func identityLine(text []byte) ([]byte, error) {
	var found []byte
	for _, line := range bytes.Split(text, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w identity file: more than one identity line", ErrMalformed)
		}
		found = line
	}
	if found == nil {
		return nil, fmt.Errorf("%w identity file: no identity line (expected one starting with %q or %q)", ErrMalformed, secretPrefix, protectedPrefix)
	}
	return found, nil
}

// parseSecretLine decodes a secret identity line.
func parseSecretLine(line []byte) (*Identity, error) {
	body, ok := bytes.CutPrefix(line, []byte(secretPrefix))
	if !ok {
		return nil, fmt.Errorf("%w identity file: the identity line should start with %q or %q", ErrMalformed, secretPrefix, protectedPrefix)
	}
	data, err := b32.DecodeString(string(body))
	// The last character carries two unused bits: only the canonical encoding is accepted,
	// so that one seed has exactly one identity line.
	if err != nil || len(body) != b32.EncodedLen(SeedSize+checksumSize) || b32.EncodeToString(data) != string(body) {
		return nil, fmt.Errorf("%w identity file: wrong length or characters", ErrMalformed)
	}
	seed, sum := data[:SeedSize], data[SeedSize:]
	if subtle.ConstantTimeCompare(sum, checksum(secretChecksumDomain, seed)) != 1 {
		return nil, fmt.Errorf("%w identity file: checksum mismatch (the file is damaged)", ErrMalformed)
	}
	return FromSeed(seed)
}

func checksum(domain string, data []byte) []byte {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write(data)
	return h.Sum(nil)[:checksumSize]
}
