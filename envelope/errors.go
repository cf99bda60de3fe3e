package envelope

import "errors"

// Every error returned for a malformed, tampered or unopenable file wraps exactly one of these
// sentinels, so callers can tell the cases apart with errors.Is. Error texts never contain key
// material or plaintext.
var (
	// ErrNotEnvelope: the input does not start with the envelope magic.
	ErrNotEnvelope = errors.New("envelope: not a sealed envelope")

	// ErrUnsupportedVersion: the magic is right but the format version is unknown to this reader.
	ErrUnsupportedVersion = errors.New("envelope: unsupported format version")

	// ErrTruncated: the input ended before the header, a chunk or the final chunk was complete.
	ErrTruncated = errors.New("envelope: truncated")

	// ErrCorrupt: the bytes are structurally invalid (a field out of range, trailing data after
	// the final chunk, non-zero padding, an invalid capsule).
	ErrCorrupt = errors.New("envelope: malformed")

	// ErrAuthentication: an AEAD tag did not verify: the header or a chunk was modified,
	// reordered, duplicated or moved.
	ErrAuthentication = errors.New("envelope: authentication failed")

	// ErrWrongKey: the unwrapper could not recover the file key from the capsule (wrong secret
	// key, wrong delegating key, cfrags for another capsule or too few of them).
	ErrWrongKey = errors.New("envelope: cannot unwrap the file key")

	// ErrInvalidMetadata: Seal was given metadata that breaks a limit (see Metadata).
	ErrInvalidMetadata = errors.New("envelope: invalid metadata")

	// ErrSizeMismatch: the plaintext written to a sealing Writer is longer or shorter than
	// Metadata.Size.
	ErrSizeMismatch = errors.New("envelope: plaintext length differs from Metadata.Size")
)
