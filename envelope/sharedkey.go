package envelope

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// SharedKey is one file key wrapped once, under one capsule, for the files of one stream
// epoch (SPEC.md §10): a reader who opens the capsule once opens every file sealed with it.
// Each file still draws its own salt, so no header or payload key is ever used for two files.
// It also opens (as an Unwrapper) the files sealed with it.
type SharedKey struct {
	fileKey []byte
	capsule []byte
	wrapped []byte
}

// NewSharedKey draws a random file key and wraps it under pk.
func NewSharedKey(pk *umbral.PublicKey) (*SharedKey, error) {
	if pk == nil {
		return nil, errors.New("envelope: no delegating public key")
	}
	fileKey := make([]byte, fileKeyLen)
	rand.Read(fileKey)
	capsule, wrapped, err := umbral.Encrypt(pk, fileKey)
	if err != nil {
		return nil, fmt.Errorf("envelope: wrapping the file key: %w", err)
	}
	cb, err := capsule.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("envelope: encoding the capsule: %w", err)
	}
	return &SharedKey{fileKey: fileKey, capsule: cb, wrapped: wrapped}, nil
}

// SharedKey recovers, with u, the file key of the file h heads, to seal more files under
// the same capsule or to open the others sealed with it. The header is authenticated first.
func (h *Header) SharedKey(u Unwrapper) (*SharedKey, error) {
	fileKey, err := u.UnwrapFileKey(h.capsule, h.wrappedKey())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongKey, err)
	}
	if _, err := h.open(fileKey); err != nil {
		clear(fileKey)
		return nil, err
	}
	return &SharedKey{fileKey: fileKey, capsule: bytes.Clone(h.fixed[offCapsule:offWrapped]),
		wrapped: bytes.Clone(h.wrappedKey())}, nil
}

// Capsule is the capsule every file sealed with k carries.
func (k *SharedKey) Capsule() []byte { return bytes.Clone(k.capsule) }

// Seal is envelope.Seal with k's file key and capsule and a fresh salt.
func (k *SharedKey) Seal(dst io.Writer, meta Metadata, opts *Options) (*Writer, error) {
	if k.fileKey == nil {
		return nil, errors.New("envelope: shared key wiped")
	}
	shift, err := chunkShiftFor(opts)
	if err != nil {
		return nil, err
	}
	if err := meta.validate(); err != nil {
		return nil, err
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	return seal(dst, sealInputs{fileKey: k.fileKey, salt: salt, capsule: k.capsule, wrappedKey: k.wrapped,
		chunkShift: shift, noPadding: opts != nil && opts.NoPadding}, meta)
}

// UnwrapFileKey implements Unwrapper for the files sealed with k, and refuses any other.
func (k *SharedKey) UnwrapFileKey(c *umbral.Capsule, wrapped []byte) ([]byte, error) {
	cb, err := c.MarshalBinary()
	if err != nil || k.fileKey == nil || !bytes.Equal(cb, k.capsule) || !bytes.Equal(wrapped, k.wrapped) {
		return nil, errors.New("not a file of this shared key")
	}
	return bytes.Clone(k.fileKey), nil
}

// Wipe clears the file key.
func (k *SharedKey) Wipe() { clear(k.fileKey); k.fileKey = nil }
