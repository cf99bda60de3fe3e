package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire format is deliberately tiny: fixed-width big-endian integers,
// fixed-size arrays written raw, and variable-length byte strings prefixed
// by a big-endian uint16 length. Fixed widths (rather than varints) make the
// encoding canonical by construction: every value has exactly one encoding,
// so the transaction hash identifies the transaction.

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("ledger: malformed encoding")

type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }
func (e *encoder) raw(v []byte) { e.b = append(e.b, v...) }

// bytes writes a uint16 length prefix; callers validate lengths before
// encoding, so an oversized value is a programming error.
func (e *encoder) bytes(v []byte) {
	if len(v) > 0xffff {
		panic("ledger: byte string too long to encode")
	}
	e.u16(uint16(len(v)))
	e.raw(v)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail("truncated %s", what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(what string) uint8 {
	v := d.take(1, what)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *decoder) u16(what string) uint16 {
	v := d.take(2, what)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint16(v)
}

func (d *decoder) u64(what string) uint64 {
	v := d.take(8, what)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (d *decoder) i64(what string) int64 { return int64(d.u64(what)) }

func (d *decoder) fixed(dst []byte, what string) {
	if v := d.take(len(dst), what); v != nil {
		copy(dst, v)
	}
}

// bytes reads a length-prefixed byte string of at most max bytes.
func (d *decoder) bytes(max int, what string) []byte {
	n := int(d.u16(what + " length"))
	if d.err != nil {
		return nil
	}
	if n > max {
		d.fail("%s is %d bytes, limit %d", what, n, max)
		return nil
	}
	v := d.take(n, what)
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

// finish reports trailing bytes as an error: a canonical encoding has none.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}
