package envelope

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// Options tunes sealing. The zero value (or a nil *Options) is the recommended setting.
type Options struct {
	// ChunkSize is the plaintext size of each chunk: a power of two from 4 KiB to 1 MiB.
	// Zero means 64 KiB. Smaller chunks make range reads cheaper and cost 16 bytes each.
	ChunkSize int

	// NoPadding turns off padding the payload to a size bucket (see paddedLen), so the sealed
	// length reveals the plaintext length to the byte, as with age.
	NoPadding bool
}

// Seal writes a header to dst and returns a Writer that seals exactly meta.Size bytes of
// plaintext into dst. The file key is fresh and random and is wrapped by an Umbral capsule
// under pk, the record's delegating public key. Close must be called: it writes the padding and
// any chunk not yet written, and checks that exactly meta.Size bytes were sealed.
func Seal(dst io.Writer, pk *umbral.PublicKey, meta Metadata, opts *Options) (*Writer, error) {
	if pk == nil {
		return nil, errors.New("envelope: no delegating public key")
	}
	shift, err := chunkShiftFor(opts)
	if err != nil {
		return nil, err
	}
	if err := meta.validate(); err != nil {
		return nil, err
	}
	fileKey := make([]byte, fileKeyLen)
	rand.Read(fileKey)
	defer clear(fileKey)
	capsule, wrapped, err := umbral.Encrypt(pk, fileKey)
	if err != nil {
		return nil, fmt.Errorf("envelope: wrapping the file key: %w", err)
	}
	capsuleBytes, err := capsule.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("envelope: encoding the capsule: %w", err)
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	return seal(dst, sealInputs{
		fileKey: fileKey, salt: salt, capsule: capsuleBytes, wrappedKey: wrapped,
		chunkShift: shift, noPadding: opts != nil && opts.NoPadding,
	}, meta)
}

func chunkShiftFor(opts *Options) (uint8, error) {
	if opts == nil || opts.ChunkSize == 0 {
		return defaultChunkShift, nil
	}
	c := opts.ChunkSize
	if c&(c-1) != 0 || c < 1<<minChunkShift || c > 1<<maxChunkShift {
		return 0, fmt.Errorf("envelope: chunk size %d is not a power of two from %d to %d", c, 1<<minChunkShift, 1<<maxChunkShift)
	}
	return uint8(bits.TrailingZeros(uint(c))), nil
}

// sealInputs is everything random about a sealed file. Seal draws it fresh; the test vectors
// supply it, which makes sealing deterministic.
type sealInputs struct {
	fileKey, salt, capsule, wrappedKey []byte
	chunkShift                         uint8
	noPadding                          bool
}

func seal(dst io.Writer, in sealInputs, meta Metadata) (*Writer, error) {
	var padding int64
	if !in.noPadding {
		padding = paddedLen(meta.Size) - meta.Size
	}
	plainMeta := encodeMetadata(&meta, padding)
	if len(plainMeta) > maxMetaPlain {
		return nil, fmt.Errorf("envelope: internal: metadata block of %d bytes", len(plainMeta))
	}
	h, err := newHeaderPrefix(in.chunkShift, in.capsule, in.wrappedKey, in.salt, len(plainMeta)+tagLen)
	if err != nil {
		return nil, err
	}
	keys, err := deriveKeys(in.fileKey, in.salt)
	if err != nil {
		return nil, err
	}
	h.sealedMeta = keys.header.Seal(nil, headerNonce[:], plainMeta, h.fixed[:])
	hdr, _ := h.MarshalBinary()
	if _, err := dst.Write(hdr); err != nil {
		return nil, fmt.Errorf("envelope: writing header: %w", err)
	}
	return &Writer{
		dst:  dst,
		aead: keys.payload,
		l:    layout{hdrLen: h.Len(), shift: uint(in.chunkShift), size: meta.Size, payload: meta.Size + padding},
		buf:  make([]byte, 1<<in.chunkShift+tagLen),
	}, nil
}

// paddedLen is the payload length for a plaintext of size bytes: at least 4 KiB, then Padmé
// (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with
// PURBs", PETS 2019), which rounds up to a length whose binary form has at most
// floor(log2 floor(log2 size)) + 1 significant bits: at most 12% overhead, and an observer learns
// O(log log size) bits of the size instead of O(log size).
func paddedLen(size int64) int64 {
	const floor = 4 << 10
	if size <= floor {
		return floor
	}
	e := bits.Len64(uint64(size)) - 1 // floor(log2 size)
	s := bits.Len64(uint64(e))        // floor(log2 e) + 1
	mask := int64(1)<<(e-s) - 1
	return (size + mask) &^ mask
}

// Writer seals plaintext chunk by chunk. It holds one chunk of memory and seals in place, or
// straight from the caller's buffer when a whole chunk is available, so sealing allocates
// nothing per chunk.
type Writer struct {
	dst     io.Writer
	aead    cipher.AEAD
	l       layout
	buf     []byte // one sealed chunk
	n       int    // plaintext bytes buffered in buf for the current chunk
	chunk   int64  // index of the current chunk
	written int64  // plaintext bytes accepted
	nonce   [chacha20poly1305.NonceSize]byte
	one     [1]byte // probes for input beyond Metadata.Size
	err     error   // sticky
}

var errClosed = errors.New("envelope: Writer is closed")

// Write seals p. Writing more than Metadata.Size bytes in total fails with ErrSizeMismatch.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > w.l.size-w.written {
		w.err = fmt.Errorf("%w: more than %d bytes written", ErrSizeMismatch, w.l.size)
		return 0, w.err
	}
	total := len(p)
	for len(p) > 0 {
		need := w.l.chunkLen(w.chunk) - w.n
		if w.n == 0 && len(p) >= need {
			if err := w.sealChunk(p[:need]); err != nil {
				return total - len(p), err
			}
			p = p[need:]
			w.written += int64(need)
			continue
		}
		k := copy(w.buf[w.n:w.n+need], p)
		w.n += k
		w.written += int64(k)
		p = p[k:]
		if k == need {
			if err := w.sealChunk(w.buf[:w.n]); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

// ReadFrom seals everything r yields until io.EOF, reading straight into the chunk buffer.
// io.Copy uses it. It fails with ErrSizeMismatch if r holds more than Metadata.Size bytes.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for w.err == nil && w.written < w.l.size {
		end := w.l.realLen(w.chunk)
		k, err := r.Read(w.buf[w.n:end])
		w.n += k
		w.written += int64(k)
		total += int64(k)
		if w.n == w.l.chunkLen(w.chunk) {
			if err := w.sealChunk(w.buf[:w.n]); err != nil {
				return total, err
			}
		}
		if err == io.EOF {
			return total, nil // short input is reported by Close
		}
		if err != nil {
			return total, err
		}
	}
	if w.err != nil {
		return total, w.err
	}
	if k, err := io.ReadFull(r, w.one[:]); k > 0 {
		w.err = fmt.Errorf("%w: more than %d bytes written", ErrSizeMismatch, w.l.size)
		return total, w.err
	} else if err != io.EOF {
		return total, err
	}
	return total, nil
}

// Close pads and seals the final chunk. It fails with ErrSizeMismatch, leaving the file
// without a final chunk (and so unreadable), if fewer than Metadata.Size bytes were written.
// It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.written != w.l.size {
		w.err = fmt.Errorf("%w: %d of %d bytes written", ErrSizeMismatch, w.written, w.l.size)
		return w.err
	}
	for w.chunk < w.l.chunks() { // padding, or the empty final chunk of an empty payload
		end := w.l.chunkLen(w.chunk)
		clear(w.buf[w.n:end])
		w.n = end
		if err := w.sealChunk(w.buf[:end]); err != nil {
			return err
		}
	}
	w.err = errClosed
	return nil
}

// sealChunk seals plain, which is either w.buf[:len(plain)] (sealed in place) or a whole
// chunk of the caller's buffer, into w.buf and writes it out.
func (w *Writer) sealChunk(plain []byte) error {
	setChunkNonce(&w.nonce, uint64(w.chunk), w.chunk == w.l.chunks()-1)
	sealed := w.aead.Seal(w.buf[:0], w.nonce[:], plain, nil)
	if _, err := w.dst.Write(sealed); err != nil {
		w.err = fmt.Errorf("envelope: writing chunk %d: %w", w.chunk, err)
		return w.err
	}
	w.chunk++
	w.n = 0
	return nil
}
