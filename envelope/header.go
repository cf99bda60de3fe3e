package envelope

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// Byte layout of a version 1 header (SPEC.md §2). All integers are big-endian.
const (
	magic         = "\x89RRENV\r\n" // 8 bytes; the high byte and CR LF catch 7-bit and text-mode mangling
	version1      = 1
	capsuleLen    = 105          // Umbral capsule, MessagePack (umbral/SPEC.md §7)
	fileKeyLen    = 32           // the random per-file key
	wrappedKeyLen = 24 + 32 + 16 // Umbral DEM output for a 32-byte plaintext: nonce ‖ ciphertext ‖ tag
	saltLen       = 16
	tagLen        = 16 // ChaCha20-Poly1305

	offVersion    = len(magic)
	offChunkShift = offVersion + 1
	offCapsule    = offChunkShift + 1
	offWrapped    = offCapsule + capsuleLen
	offSalt       = offWrapped + wrappedKeyLen
	offMetaLen    = offSalt + saltLen
	fixedLen      = offMetaLen + 4 // 207

	// The encrypted metadata's plaintext is padded to a multiple of metaBlock and is at most
	// maxMetaPlain bytes, so its ciphertext length is bounded before anything is allocated.
	metaBlock    = 256
	maxMetaPlain = 64 << 10

	minChunkShift     = 12 // 4 KiB
	maxChunkShift     = 20 // 1 MiB
	defaultChunkShift = 16 // 64 KiB, as age
)

// Header is the public part of a sealed file: everything before the first chunk. It can be
// parsed without any key, which is how a recipient gets the capsule it must send to the proxies
// before it holds cfrags. Nothing in it is about the record's content: the metadata is encrypted.
type Header struct {
	fixed      [fixedLen]byte // verbatim, authenticated as the metadata AEAD's associated data
	capsule    *umbral.Capsule
	sealedMeta []byte // metadata ciphertext and tag
}

// ParseHeader reads exactly one header from r and leaves r positioned at the first chunk. It
// checks structure only; authenticity is established by Header.Unwrap.
func ParseHeader(r io.Reader) (*Header, error) {
	h := new(Header)
	n, err := io.ReadFull(r, h.fixed[:])
	short := err == io.EOF || err == io.ErrUnexpectedEOF
	switch {
	case err != nil && !short:
		return nil, fmt.Errorf("envelope: reading header: %w", err)
	case n < len(magic) && n > 0 && string(h.fixed[:n]) == magic[:n], n == 0:
		return nil, fmt.Errorf("%w: header ends after %d bytes", ErrTruncated, n)
	case n < len(magic) || string(h.fixed[:len(magic)]) != magic:
		return nil, ErrNotEnvelope
	case n > offVersion && h.fixed[offVersion] != version1:
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedVersion, h.fixed[offVersion])
	case short:
		return nil, fmt.Errorf("%w: header ends after %d bytes", ErrTruncated, n)
	}

	if s := h.fixed[offChunkShift]; s < minChunkShift || s > maxChunkShift {
		return nil, fmt.Errorf("%w: chunk size exponent %d outside [%d, %d]", ErrCorrupt, s, minChunkShift, maxChunkShift)
	}
	capsuleBytes := h.fixed[offCapsule:offWrapped]
	h.capsule = new(umbral.Capsule)
	if err := h.capsule.UnmarshalBinary(capsuleBytes); err != nil {
		return nil, fmt.Errorf("%w: capsule: %v", ErrCorrupt, err)
	}
	// Only the canonical encoding is accepted, so a header has one byte form and re-sealing
	// with the same inputs reproduces it.
	if canon, err := h.capsule.MarshalBinary(); err != nil || !bytes.Equal(canon, capsuleBytes) {
		return nil, fmt.Errorf("%w: capsule is not canonically encoded", ErrCorrupt)
	}
	metaLen := binary.BigEndian.Uint32(h.fixed[offMetaLen:])
	if err := checkSealedMetaLen(metaLen); err != nil {
		return nil, err
	}
	h.sealedMeta = make([]byte, metaLen)
	if _, err := io.ReadFull(r, h.sealedMeta); err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("%w: metadata block", ErrTruncated)
	} else if err != nil {
		return nil, fmt.Errorf("envelope: reading header: %w", err)
	}
	return h, nil
}

func checkSealedMetaLen(n uint32) error {
	if n < metaBlock+tagLen || n > maxMetaPlain+tagLen || (n-tagLen)%metaBlock != 0 {
		return fmt.Errorf("%w: metadata block length %d", ErrCorrupt, n)
	}
	return nil
}

// Capsule returns the Umbral capsule that wraps the file key. The ledger stores it with the
// record, and a recipient sends it to the proxies to obtain cfrags.
func (h *Header) Capsule() *umbral.Capsule { return h.capsule }

// Len returns the header's length in bytes, which is the offset of the first chunk.
func (h *Header) Len() int64 { return int64(fixedLen + len(h.sealedMeta)) }

// ChunkSize returns the plaintext size of every chunk but the last.
func (h *Header) ChunkSize() int { return 1 << h.fixed[offChunkShift] }

func (h *Header) chunkShift() uint   { return uint(h.fixed[offChunkShift]) }
func (h *Header) wrappedKey() []byte { return h.fixed[offWrapped:offSalt] }
func (h *Header) salt() []byte       { return h.fixed[offSalt:offMetaLen] }

// MarshalBinary returns the header's bytes exactly as they appear in the sealed file.
func (h *Header) MarshalBinary() ([]byte, error) {
	out := make([]byte, 0, h.Len())
	out = append(out, h.fixed[:]...)
	return append(out, h.sealedMeta...), nil
}

// newHeaderPrefix lays out the fixed part of a header for sealing.
func newHeaderPrefix(chunkShift uint8, capsule, wrapped, salt []byte, sealedMetaLen int) (*Header, error) {
	if len(capsule) != capsuleLen || len(wrapped) != wrappedKeyLen || len(salt) != saltLen {
		return nil, fmt.Errorf("envelope: internal: capsule %d, wrapped key %d, salt %d bytes", len(capsule), len(wrapped), len(salt))
	}
	h := new(Header)
	copy(h.fixed[:], magic)
	h.fixed[offVersion] = version1
	h.fixed[offChunkShift] = chunkShift
	copy(h.fixed[offCapsule:], capsule)
	copy(h.fixed[offWrapped:], wrapped)
	copy(h.fixed[offSalt:], salt)
	binary.BigEndian.PutUint32(h.fixed[offMetaLen:], uint32(sealedMetaLen))
	return h, nil
}
