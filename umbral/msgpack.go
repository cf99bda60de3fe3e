package umbral

import "fmt"

// The reference's default encoding is MessagePack as written by rmp-serde:
// structs as fixed arrays in field order, byte strings as bin8, booleans as
// 0xc2/0xc3. The layouts are fixed, so they are written and read by hand.
// The reader accepts only exactly what the reference writes (SPEC.md
// "Strictness"): the same headers, the same lengths, no trailing bytes.

const (
	mpBin8  = 0xc4
	mpFalse = 0xc2
	mpTrue  = 0xc3
)

func mpAppendArray(dst []byte, n int) []byte { return append(dst, 0x90|byte(n)) }

func mpAppendBin(dst, b []byte) []byte {
	dst = append(dst, mpBin8, byte(len(b)))
	return append(dst, b...)
}

func mpAppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, mpTrue)
	}
	return append(dst, mpFalse)
}

// mpReader reads a fixed layout; the first error sticks and later reads
// return zero values, so decoders check once at the end.
type mpReader struct {
	b   []byte
	off int
	err error
}

func (r *mpReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at byte %d: %s", ErrInvalidEncoding, r.off, fmt.Sprintf(format, args...))
	}
}

func (r *mpReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("truncated")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *mpReader) array(n int) {
	if c := r.byte(); r.err == nil && c != 0x90|byte(n) {
		r.fail("want a %d-element array (0x%02x), got 0x%02x", n, 0x90|byte(n), c)
	}
}

func (r *mpReader) bin(n int) []byte {
	if c := r.byte(); r.err == nil && c != mpBin8 {
		r.fail("want bin8 (0xc4), got 0x%02x", c)
	}
	if l := r.byte(); r.err == nil && int(l) != n {
		r.fail("want %d bytes, got length %d", n, l)
	}
	if r.err != nil {
		return nil
	}
	if len(r.b)-r.off < n {
		r.fail("truncated")
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *mpReader) boolean() bool {
	switch c := r.byte(); {
	case r.err != nil:
		return false
	case c == mpTrue:
		return true
	case c == mpFalse:
		return false
	default:
		r.fail("want a boolean, got 0x%02x", c)
		return false
	}
}

// done reports the first error, or trailing bytes.
func (r *mpReader) done() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
	return r.err
}
