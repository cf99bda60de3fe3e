package envelope

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// Labels of the key schedule (SPEC.md §4). Each AEAD key is used for one file only, because the
// file key is fresh and random for every file.
const (
	labelHeader  = "resilientrecords/envelope/v1 header"
	labelPayload = "resilientrecords/envelope/v1 payload"
)

// Unwrapper recovers the 32-byte file key from a header's capsule and the Umbral ciphertext
// of the key. The envelope knows nothing of how cfrags were obtained: OwnerKey and RecipientKey
// cover the two ways to open a capsule.
type Unwrapper interface {
	UnwrapFileKey(capsule *umbral.Capsule, wrappedKey []byte) ([]byte, error)
}

// OwnerKey opens a capsule with the record's delegating secret key.
type OwnerKey struct {
	Delegating *umbral.SecretKey
}

// UnwrapFileKey implements Unwrapper.
func (k OwnerKey) UnwrapFileKey(c *umbral.Capsule, wrapped []byte) ([]byte, error) {
	if k.Delegating == nil {
		return nil, errors.New("no delegating secret key")
	}
	return umbral.DecryptOriginal(k.Delegating, c, wrapped)
}

// fileKeys holds the AEADs derived from one file key and header salt.
type fileKeys struct {
	header  cipher.AEAD // seals the metadata block, with the fixed header as associated data
	payload cipher.AEAD // seals the chunks
}

func deriveKeys(fileKey, salt []byte) (*fileKeys, error) {
	if len(fileKey) != fileKeyLen {
		return nil, fmt.Errorf("%w: file key of %d bytes", ErrCorrupt, len(fileKey))
	}
	var k fileKeys
	for _, d := range []struct {
		label string
		aead  *cipher.AEAD
	}{{labelHeader, &k.header}, {labelPayload, &k.payload}} {
		key, err := hkdf.Key(sha256.New, fileKey, salt, d.label, chacha20poly1305.KeySize)
		if err != nil {
			return nil, err
		}
		if *d.aead, err = chacha20poly1305.New(key); err != nil {
			return nil, err
		}
		clear(key)
	}
	return &k, nil
}

// headerNonce is all zero: the header key seals exactly one message.
var headerNonce [chacha20poly1305.NonceSize]byte

// setChunkNonce writes the STREAM nonce of chunk i: an 11-byte big-endian counter followed by
// 0x01 for the final chunk and 0x00 otherwise, as in age and C2SP STREAM.
func setChunkNonce(nonce *[chacha20poly1305.NonceSize]byte, i uint64, last bool) {
	nonce[0], nonce[1], nonce[2] = 0, 0, 0
	binary.BigEndian.PutUint64(nonce[3:11], i)
	nonce[11] = 0
	if last {
		nonce[11] = 1
	}
}
