package protocol

import (
	"golang.org/x/crypto/cryptobyte"
)

// The one encoding of everything this package defines (transactions, state values, signed
// messages): fixed-width big-endian integers, fixed-size arrays written raw, variable-length
// byte strings after a u16 length, booleans as one byte 0 or 1, optional values after a
// presence byte 0 or 1. No varints, no tags, no maps: a value has exactly one encoding, and
// the decoders refuse any other (short input, trailing bytes, a presence byte of 2).

// writer appends fields to a cryptobyte.Builder. Callers bound every length first, so a
// builder error is a programming error and Bytes panics.
type writer struct{ b *cryptobyte.Builder }

func newWriter(sizeHint int) *writer {
	return &writer{b: cryptobyte.NewBuilder(make([]byte, 0, sizeHint))}
}

func (w *writer) u8(v uint8)   { w.b.AddUint8(v) }
func (w *writer) u64(v uint64) { w.b.AddUint64(v) }
func (w *writer) i64(v int64)  { w.b.AddUint64(uint64(v)) }
func (w *writer) raw(v []byte) { w.b.AddBytes(v) }
func (w *writer) str(v string) { w.bytes([]byte(v)) }
func (w *writer) bytes(v []byte) {
	w.b.AddUint16LengthPrefixed(func(c *cryptobyte.Builder) { c.AddBytes(v) })
}

func (w *writer) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

// finish returns the encoding; an over-long field is a bug in the caller, which validates.
func (w *writer) finish() []byte { return w.b.BytesOrPanic() }

// reader reads fields back, keeping the first failure with the name of the field, so that a
// refusal says what was wrong.
type reader struct {
	s   cryptobyte.String
	err error
}

func newReader(b []byte) *reader { return &reader{s: cryptobyte.String(b)} }

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = Errorf(ErrMalformed, format, args...)
	}
}

func (r *reader) u8(what string) uint8 {
	var v uint8
	if r.err == nil && !r.s.ReadUint8(&v) {
		r.fail("truncated %s", what)
	}
	return v
}

func (r *reader) u64(what string) uint64 {
	var v uint64
	if r.err == nil && !r.s.ReadUint64(&v) {
		r.fail("truncated %s", what)
	}
	return v
}

func (r *reader) i64(what string) int64 { return int64(r.u64(what)) }

func (r *reader) fixed(dst []byte, what string) {
	if r.err == nil && !r.s.CopyBytes(dst) {
		r.fail("truncated %s", what)
	}
}

// bytes reads a length-prefixed byte string of at most max bytes, copied out of the input.
func (r *reader) bytes(max int, what string) []byte {
	var v cryptobyte.String
	if r.err != nil {
		return nil
	}
	if !r.s.ReadUint16LengthPrefixed(&v) {
		r.fail("truncated %s", what)
		return nil
	}
	if len(v) > max {
		r.fail("%s is %d bytes, limit %d", what, len(v), max)
		return nil
	}
	return append([]byte(nil), v...)
}

func (r *reader) str(max int, what string) string { return string(r.bytes(max, what)) }

func (r *reader) bool(what string) bool {
	switch v := r.u8(what); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail("%s is %d, not 0 or 1", what, v)
		return false
	}
}

// finish reports trailing bytes: a canonical encoding has none.
func (r *reader) finish() error {
	if r.err == nil && !r.s.Empty() {
		r.fail("%d trailing bytes", len(r.s))
	}
	return r.err
}

// signingBytes is what a key signs, for every signed message of the protocol:
//
//	domain ‖ u16 len(chain) ‖ chain ‖ fields
//
// domain is a versioned name ending in NUL ("resilientrecords/<area>/<message>/vN\x00"), so
// a signature made for one kind of message is never valid for another; the chain id keeps it
// from being valid on another chain. Times inside fields are i64 unix nanoseconds.
func signingBytes(domain, chainID string, fields func(w *writer)) []byte {
	w := newWriter(len(domain) + 2 + len(chainID) + 256)
	w.raw([]byte(domain))
	w.str(chainID)
	fields(w)
	return w.finish()
}
