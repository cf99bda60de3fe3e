package envelope

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// Limits on Metadata. Together they keep an encoded metadata block under 64 KiB, the bound the
// header parser enforces before allocating.
const (
	MaxNameLen       = 1024    // bytes of UTF-8
	MaxMediaTypeLen  = 255     // bytes of printable ASCII
	MaxLabels        = 64      // label pairs
	MaxLabelKeyLen   = 128     // bytes of UTF-8, at least 1
	MaxLabelValueLen = 768     // bytes of UTF-8
	MaxSize          = 1 << 48 // plaintext bytes (256 TiB)

	maxPayload = 1 << 50 // plaintext plus padding, checked when parsing
)

// Metadata describes the sealed plaintext. It travels encrypted inside the header: without the
// file key nothing of it is visible, though the length of the sealed file bounds Size (see
// Options.NoPadding and SPEC.md §6).
type Metadata struct {
	Name      string            // original file name
	MediaType string            // e.g. "application/fhir+json"
	Size      int64             // exact plaintext length; the sealing Writer enforces it
	Created   time.Time         // stored in UTC with nanosecond precision
	Labels    map[string]string // free key/value labels
}

func (m *Metadata) validate() error {
	switch {
	case m.Size < 0 || m.Size > MaxSize:
		return fmt.Errorf("%w: size %d outside [0, %d]", ErrInvalidMetadata, m.Size, int64(MaxSize))
	case len(m.Name) > MaxNameLen || !utf8.ValidString(m.Name):
		return fmt.Errorf("%w: name must be valid UTF-8 of at most %d bytes", ErrInvalidMetadata, MaxNameLen)
	case len(m.MediaType) > MaxMediaTypeLen || !printableASCII(m.MediaType):
		return fmt.Errorf("%w: media type must be printable ASCII of at most %d bytes", ErrInvalidMetadata, MaxMediaTypeLen)
	case len(m.Labels) > MaxLabels:
		return fmt.Errorf("%w: %d labels, at most %d", ErrInvalidMetadata, len(m.Labels), MaxLabels)
	}
	for k, v := range m.Labels {
		if len(k) == 0 || len(k) > MaxLabelKeyLen || !utf8.ValidString(k) {
			return fmt.Errorf("%w: label keys must be valid UTF-8 of 1 to %d bytes", ErrInvalidMetadata, MaxLabelKeyLen)
		}
		if len(v) > MaxLabelValueLen || !utf8.ValidString(v) {
			return fmt.Errorf("%w: label values must be valid UTF-8 of at most %d bytes", ErrInvalidMetadata, MaxLabelValueLen)
		}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// encodeMetadata returns the metadata plaintext (SPEC.md §3), zero-padded to a multiple of
// metaBlock so the header length reveals only a coarse bound on the names' lengths.
func encodeMetadata(m *Metadata, padding int64) []byte {
	b := make([]byte, 0, metaBlock)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(padding))
	created := m.Created.UTC()
	b = binary.BigEndian.AppendUint64(b, uint64(created.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(created.Nanosecond()))
	b = appendString(b, m.Name)
	b = appendString(b, m.MediaType)
	keys := make([]string, 0, len(m.Labels))
	for k := range m.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys) // one canonical encoding per Metadata
	b = binary.BigEndian.AppendUint16(b, uint16(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, m.Labels[k])
	}
	padded := (len(b) + metaBlock - 1) / metaBlock * metaBlock
	if padded == 0 {
		padded = metaBlock
	}
	return append(b, make([]byte, padded-len(b))...)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// decodeMetadata parses an authenticated metadata plaintext. The bytes were produced by whoever
// held the file key, so they are still checked against every limit.
func decodeMetadata(b []byte) (m Metadata, padding int64, err error) {
	d := decoder{b: b}
	size, pad := d.uint64(), d.uint64()
	sec, nsec := int64(d.uint64()), d.uint32()
	m.Name = d.string(MaxNameLen)
	m.MediaType = d.string(MaxMediaTypeLen)
	n := int(d.uint16())
	if d.err == nil && n > MaxLabels {
		d.fail("%d labels", n)
	}
	if n > 0 && d.err == nil {
		m.Labels = make(map[string]string, n)
	}
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		k, v := d.string(MaxLabelKeyLen), d.string(MaxLabelValueLen)
		if d.err == nil && i > 0 && k <= prev {
			d.fail("labels not in strictly increasing key order")
		}
		m.Labels[k], prev = v, k
	}
	if d.err != nil {
		return Metadata{}, 0, d.err
	}
	for _, c := range d.b {
		if c != 0 {
			return Metadata{}, 0, fmt.Errorf("%w: non-zero metadata padding", ErrCorrupt)
		}
	}
	if nsec >= 1e9 {
		return Metadata{}, 0, fmt.Errorf("%w: creation time nanoseconds %d", ErrCorrupt, nsec)
	}
	if size > MaxSize || pad > maxPayload-size {
		return Metadata{}, 0, fmt.Errorf("%w: size %d with padding %d", ErrCorrupt, size, pad)
	}
	m.Size, m.Created = int64(size), time.Unix(sec, int64(nsec)).UTC()
	if err := m.validate(); err != nil {
		return Metadata{}, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return m, int64(pad), nil
}

// decoder reads big-endian fields and remembers the first error, so decodeMetadata reads as a
// list of fields.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: metadata: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("field runs past the end")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) uint32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) uint16() uint16 {
	if v := d.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) string(limit int) string {
	n := int(d.uint16())
	if d.err == nil && n > limit {
		d.fail("string of %d bytes, limit %d", n, limit)
	}
	return string(d.take(n))
}
