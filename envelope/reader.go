package envelope

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// Reader decrypts a sealed payload as a stream, holding one chunk of memory. It returns
// io.EOF only after the final chunk has been authenticated and the input has ended.
type Reader struct {
	o     *Opened
	src   io.Reader
	aead  cipher.AEAD
	l     layout
	buf   []byte // one sealed chunk
	plain []byte // decrypted plaintext of the current chunk not yet returned
	next  int64  // index of the next chunk to read
	nonce [chacha20poly1305.NonceSize]byte
	one   [1]byte // probes for data after the final chunk
	err   error   // sticky; io.EOF after the final chunk
}

// NewReader returns a Reader of the plaintext whose chunks are read from payload, which must be
// positioned just after the header (as ParseHeader leaves it).
func (o *Opened) NewReader(payload io.Reader) *Reader {
	return &Reader{
		o:    o,
		src:  payload,
		aead: o.keys.payload,
		l:    o.layout,
		buf:  make([]byte, 1<<o.layout.shift+tagLen),
	}
}

// Metadata returns the file's authenticated metadata.
func (r *Reader) Metadata() Metadata { return r.o.Metadata() }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		// A whole chunk of plaintext that fits in p is decrypted straight into it.
		if n := r.l.chunkLen(r.next); n > 0 && n == r.l.realLen(r.next) && len(p) >= n {
			out, err := r.nextChunk(p[:0])
			if err != nil {
				r.err = err
				return 0, err
			}
			return len(out), nil
		}
		out, err := r.nextChunk(nil)
		if err != nil {
			r.err = err
			return 0, err
		}
		r.plain = out
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// WriteTo writes the whole plaintext to w, decrypting in place without a further copy. io.Copy
// uses it.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.plain) > 0 {
			n, err := w.Write(r.plain)
			total += int64(n)
			r.plain = r.plain[n:]
			if err != nil {
				return total, err
			}
		}
		if r.err != nil {
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		out, err := r.nextChunk(nil)
		if err != nil {
			r.err = err
			return total, err
		}
		r.plain = out
	}
}

// nextChunk reads, authenticates and decrypts the next chunk into dst (in place in r.buf when
// dst is nil) and returns its plaintext without padding. After the final chunk it checks that
// the input has ended and sets r.err to io.EOF.
func (r *Reader) nextChunk(dst []byte) ([]byte, error) {
	i, n := r.next, r.l.chunks()
	sealed := r.buf[:r.l.chunkLen(i)+tagLen]
	if _, err := io.ReadFull(r.src, sealed); err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("%w: chunk %d of %d is missing or short", ErrTruncated, i, n)
	} else if err != nil {
		return nil, fmt.Errorf("envelope: reading chunk %d: %w", i, err)
	}
	last := i == n-1
	setChunkNonce(&r.nonce, uint64(i), last)
	if dst == nil {
		dst = sealed[:0]
	}
	out, err := r.aead.Open(dst, r.nonce[:], sealed, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d", ErrAuthentication, i)
	}
	real := r.l.realLen(i)
	for _, c := range out[real:] {
		if c != 0 {
			return nil, fmt.Errorf("%w: non-zero padding in chunk %d", ErrCorrupt, i)
		}
	}
	r.next++
	if last {
		if k, err := io.ReadFull(r.src, r.one[:]); k > 0 {
			return nil, fmt.Errorf("%w: data after the final chunk", ErrCorrupt)
		} else if err != io.EOF {
			return nil, fmt.Errorf("envelope: reading after the final chunk: %w", err)
		}
		r.err = io.EOF
	}
	return out[:real], nil
}

// ReaderAt is a random-access reader of the plaintext. Each ReadAt fetches and authenticates
// only the chunks that overlap the requested range. It is safe for concurrent use; wrap it in
// io.NewSectionReader(r, 0, r.Size()) for an io.ReadSeeker.
type ReaderAt struct {
	o    *Opened
	src  io.ReaderAt
	l    layout
	bufs sync.Pool // *chunkBuf
}

// chunkBuf is the scratch space of one ReadAt call. The nonce lives here too, as a local array
// passed to the AEAD interface would escape and cost an allocation per call.
type chunkBuf struct {
	sealed []byte
	nonce  [chacha20poly1305.NonceSize]byte
}

// NewReaderAt returns a random-access reader of the plaintext over src, the whole sealed file
// of size bytes. A size other than SealedLen is reported at once as ErrTruncated or ErrCorrupt.
func (o *Opened) NewReaderAt(src io.ReaderAt, size int64) (*ReaderAt, error) {
	if want := o.SealedLen(); size < want {
		return nil, fmt.Errorf("%w: %d of %d bytes", ErrTruncated, size, want)
	} else if size > want {
		return nil, fmt.Errorf("%w: %d bytes after the final chunk", ErrCorrupt, size-want)
	}
	chunk := 1<<o.layout.shift + tagLen
	return &ReaderAt{o: o, src: src, l: o.layout, bufs: sync.Pool{New: func() any {
		return &chunkBuf{sealed: make([]byte, chunk)}
	}}}, nil
}

// Size returns the plaintext length.
func (r *ReaderAt) Size() int64 { return r.l.size }

// Metadata returns the file's authenticated metadata.
func (r *ReaderAt) Metadata() Metadata { return r.o.Metadata() }

// ReadAt implements io.ReaderAt.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("envelope: negative offset")
	}
	if off >= r.l.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.l.size)
	cb := r.bufs.Get().(*chunkBuf)
	defer r.bufs.Put(cb)
	n := 0
	for pos := off; pos < end; {
		i := pos >> r.l.shift
		sealed := cb.sealed[:r.l.chunkLen(i)+tagLen]
		if k, err := r.src.ReadAt(sealed, r.l.chunkOffset(i)); k < len(sealed) {
			if err == nil || err == io.EOF {
				return n, fmt.Errorf("%w: chunk %d is short", ErrTruncated, i)
			}
			return n, fmt.Errorf("envelope: reading chunk %d: %w", i, err)
		}
		setChunkNonce(&cb.nonce, uint64(i), i == r.l.chunks()-1)
		plain, err := r.o.keys.payload.Open(sealed[:0], cb.nonce[:], sealed, nil)
		if err != nil {
			return n, fmt.Errorf("%w: chunk %d", ErrAuthentication, i)
		}
		k := copy(p[n:end-off], plain[pos-i<<r.l.shift:])
		n += k
		pos += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
