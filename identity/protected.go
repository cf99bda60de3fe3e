package identity

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// A protected identity line is "RREC-PROTECTED-IDENTITY-1-" followed by uppercase unpadded
// base32 of log₂N (1) ‖ salt (16) ‖ sealed seed (48). The seed is sealed with
// ChaCha20-Poly1305 under scrypt(passphrase, protectedDomain ‖ salt, N, r = 8, p = 1), with a
// zero nonce (the key is new with every salt) and the line's prefix, log₂N and salt as
// associated data, so that no parameter can be changed without the tag failing. It follows
// age's scrypt recipient; SPEC.md gives the details and testdata the vectors.
const (
	protectedPrefix = "RREC-PROTECTED-IDENTITY-1-"
	protectedDomain = "rrec protected identity v1"
	saltSize        = 16
	sealedSize      = SeedSize + chacha20poly1305.Overhead
	protectedSize   = 1 + saltSize + sealedSize

	// DefaultWorkFactor is log₂N for new protected files: about a second and 256 MiB on a
	// laptop, as age does, so that each guess at a stolen file costs the same.
	DefaultWorkFactor = 18
	// MinWorkFactor and MaxWorkFactor bound what a file may ask of its reader: below, a
	// passphrase is too cheap to guess; above, opening the file would take gigabytes.
	MinWorkFactor = 10
	MaxWorkFactor = 20
)

// ErrProtected is the error of reading a protected identity without its passphrase.
var ErrProtected = errors.New("identity: protected by a passphrase")

// ErrWrongPassphrase is the error of a passphrase that does not open the file (or a file
// damaged in its protected line: the two cannot be told apart).
var ErrWrongPassphrase = errors.New("identity: wrong passphrase")

// MarshalProtected makes the protected identity line: the seed sealed under passphrase, with
// work factor logN (DefaultWorkFactor for new files).
func (id *Identity) MarshalProtected(passphrase []byte, logN int) ([]byte, error) {
	var salt [saltSize]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	return protect(id.seed[:], passphrase, logN, salt[:])
}

func protect(seed, passphrase []byte, logN int, salt []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("identity: an empty passphrase protects nothing")
	}
	if logN < MinWorkFactor || logN > MaxWorkFactor {
		return nil, fmt.Errorf("identity: work factor %d is outside %d–%d", logN, MinWorkFactor, MaxWorkFactor)
	}
	header := append([]byte{byte(logN)}, salt...)
	aead, err := protectionKey(passphrase, logN, salt)
	if err != nil {
		return nil, err
	}
	sealed := aead.Seal(nil, make([]byte, chacha20poly1305.NonceSize), seed, associated(header))
	return []byte(protectedPrefix + b32.EncodeToString(append(header, sealed...))), nil
}

func protectionKey(passphrase []byte, logN int, salt []byte) (interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}, error) {
	key, err := scrypt.Key(passphrase, append([]byte(protectedDomain), salt...), 1<<logN, 8, 1, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.New(key)
}

func associated(header []byte) []byte { return append([]byte(protectedPrefix), header...) }

// protectedLine is a protected identity line's body (after the prefix), checked for form
// before any passphrase is asked for.
type protectedLine struct {
	header []byte // log₂N ‖ salt
	sealed []byte
}

func parseProtected(body []byte) (*protectedLine, error) {
	data, err := b32.DecodeString(string(body))
	if err != nil || len(body) != b32.EncodedLen(protectedSize) || b32.EncodeToString(data) != string(body) {
		return nil, fmt.Errorf("%w identity file: the protected line has the wrong length or characters", ErrMalformed)
	}
	if logN := int(data[0]); logN < MinWorkFactor || logN > MaxWorkFactor {
		return nil, fmt.Errorf("%w identity file: work factor %d is outside %d–%d", ErrMalformed, logN, MinWorkFactor, MaxWorkFactor)
	}
	return &protectedLine{header: data[:1+saltSize], sealed: data[1+saltSize:]}, nil
}

func (p *protectedLine) open(passphrase []byte) (*Identity, error) {
	aead, err := protectionKey(passphrase, int(p.header[0]), p.header[1:])
	if err != nil {
		return nil, err
	}
	seed, err := aead.Open(nil, make([]byte, chacha20poly1305.NonceSize), p.sealed, associated(p.header))
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return FromSeed(seed)
}

// Decode reads an identity file's contents, protected or not: comment lines starting with
// '#', blank lines, and exactly one identity line. passphrase is asked for only when the line
// is protected; nil then gives ErrProtected.
func Decode(text []byte, passphrase func() ([]byte, error)) (*Identity, error) {
	line, err := identityLine(text)
	if err != nil {
		return nil, err
	}
	body, ok := bytes.CutPrefix(line, []byte(protectedPrefix))
	if !ok {
		return parseSecretLine(line)
	}
	p, err := parseProtected(body)
	if err != nil {
		return nil, err
	}
	if passphrase == nil {
		return nil, ErrProtected
	}
	pass, err := passphrase()
	if err != nil {
		return nil, err
	}
	return p.open(pass)
}

// IsProtected reports whether an identity file's contents are protected by a passphrase.
func IsProtected(text []byte) bool {
	line, err := identityLine(text)
	return err == nil && bytes.HasPrefix(line, []byte(protectedPrefix))
}
