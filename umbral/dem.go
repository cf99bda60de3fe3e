package umbral

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// maxPlaintext keeps XChaCha20-Poly1305 below its 2^38-byte message limit,
// where the library would panic instead of returning an error.
const maxPlaintext = 1<<38 - 64

// demAEAD derives the data-encapsulation key from the compressed shared
// point: HKDF-SHA256 with no salt and empty info, 32 bytes.
func demAEAD(keySeed []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, keySeed, nil, "", chacha20poly1305.KeySize)
}

// demEncrypt returns nonce(24) ‖ ciphertext ‖ tag(16).
func demEncrypt(keySeed, aad, plaintext []byte) ([]byte, error) {
	if uint64(len(plaintext)) > maxPlaintext {
		return nil, ErrPlaintextTooLarge
	}
	key, err := demAEAD(keySeed)
	if err != nil {
		return nil, fmt.Errorf("umbral: deriving key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("umbral: %w", err)
	}
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("umbral: reading randomness: %w", err)
	}
	return aead.Seal(out, out, plaintext, aad), nil
}

func demDecrypt(keySeed, aad, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < chacha20poly1305.NonceSizeX {
		return nil, ErrCiphertextTooShort
	}
	key, err := demAEAD(keySeed)
	if err != nil {
		return nil, fmt.Errorf("umbral: deriving key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("umbral: %w", err)
	}
	nonce, body := ciphertext[:chacha20poly1305.NonceSizeX], ciphertext[chacha20poly1305.NonceSizeX:]
	pt, err := aead.Open(nil, nonce, body, aad)
	if err != nil {
		return nil, ErrAuthenticationFailed
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}
