package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// sealedFixture is a 4-chunk file (4 KiB chunks, no padding) and what is needed to open it.
func sealedFixture(t *testing.T) (sealed []byte, hdrLen int64, owner OwnerKey) {
	t.Helper()
	sk, owner := newOwner(t)
	const c = 4 << 10
	pt := plaintext(9, 3*c+100)
	sealed = sealBytes(t, sk, testMetadata(len(pt)), pt, &Options{ChunkSize: c, NoPadding: true}, 0)
	h, err := ParseHeader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	return sealed, h.Len(), owner
}

func expectErr(t *testing.T, what string, sealed []byte, u Unwrapper, want ...error) {
	t.Helper()
	_, _, err := openAll(sealed, u)
	if err == nil {
		t.Errorf("%s: opened without error", what)
		return
	}
	if !isSentinel(err) {
		t.Errorf("%s: %v wraps no single sentinel", what, err)
	}
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	t.Errorf("%s: got %v, want one of %v", what, err, want)
}

func TestTruncation(t *testing.T) {
	sealed, hdrLen, owner := sealedFixture(t)
	for n := 0; n < len(sealed); n++ {
		if n > int(hdrLen) && n%61 != 0 && (n-int(hdrLen))%(4096+16) > 1 {
			continue // every header length, every chunk boundary, and a sample in between
		}
		expectErr(t, "truncated", sealed[:n], owner, ErrTruncated)
	}
}

func TestChunkOrderAndExtension(t *testing.T) {
	sealed, hdrLen, owner := sealedFixture(t)
	hdr, payload := sealed[:hdrLen], sealed[hdrLen:]
	const sc = 4096 + 16
	chunk := func(i int) []byte { return payload[i*sc : min((i+1)*sc, len(payload))] }
	join := func(parts ...[]byte) []byte { return bytes.Join(append([][]byte{hdr}, parts...), nil) }

	expectErr(t, "chunks 0 and 1 swapped", join(chunk(1), chunk(0), chunk(2), chunk(3)), owner, ErrAuthentication)
	expectErr(t, "chunk 1 duplicated over 2", join(chunk(0), chunk(1), chunk(1), chunk(3)), owner, ErrAuthentication)
	expectErr(t, "chunk 0 duplicated, then the rest", join(chunk(0), chunk(0), chunk(1), chunk(2), chunk(3)), owner, ErrAuthentication)
	expectErr(t, "final chunk dropped", join(chunk(0), chunk(1), chunk(2)), owner, ErrTruncated)
	expectErr(t, "one byte appended", append(bytes.Clone(sealed), 0), owner, ErrCorrupt)
	expectErr(t, "final chunk repeated", join(chunk(0), chunk(1), chunk(2), chunk(3), chunk(3)), owner, ErrCorrupt)

	// Another file's chunks under this header: same positions, different key.
	other, otherLen, _ := sealedFixture(t)
	expectErr(t, "payload of another file", join(other[otherLen:]), owner, ErrAuthentication)
}

func TestBitFlips(t *testing.T) {
	sealed, hdrLen, owner := sealedFixture(t)
	for i := range int(hdrLen) + 3*(4096+16) {
		if i > int(hdrLen) && i%97 != 0 {
			continue
		}
		var want []error
		switch {
		case i < offVersion:
			want = []error{ErrNotEnvelope}
		case i == offVersion:
			want = []error{ErrUnsupportedVersion}
		case i == offChunkShift:
			want = []error{ErrCorrupt, ErrAuthentication}
		case i < offWrapped:
			want = []error{ErrCorrupt, ErrWrongKey}
		case i < offSalt:
			want = []error{ErrWrongKey}
		case i < offMetaLen:
			want = []error{ErrAuthentication}
		case i < fixedLen:
			want = []error{ErrCorrupt, ErrTruncated}
		default:
			want = []error{ErrAuthentication}
		}
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		expectErr(t, "bit flip", bad, owner, want...)
	}
}

func TestNotEnvelope(t *testing.T) {
	_, owner := newOwner(t)
	for name, tc := range map[string]struct {
		in   string
		want error
	}{
		"empty":        {"", ErrTruncated},
		"magic prefix": {magic[:3], ErrTruncated},
		"magic only":   {magic, ErrTruncated},
		"age file":     {"age-encryption.org/v1\n-> X25519 abc\n", ErrNotEnvelope},
		"one byte":     {"x", ErrNotEnvelope},
		"version 2":    {magic + "\x02" + string(make([]byte, 500)), ErrUnsupportedVersion},
		"version 0":    {magic + "\x00", ErrUnsupportedVersion},
	} {
		expectErr(t, name, []byte(tc.in), owner, tc.want)
		if _, err := ParseHeader(bytes.NewReader([]byte(tc.in))); !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseHeader: %v", name, err)
		}
	}
}

// crafted builds files with a known file key, to reach checks that an attacker without the key
// cannot, but that a buggy or malicious sealer could.
type crafted struct {
	t                *testing.T
	fileKey, salt    []byte
	capsule, wrapped []byte
	owner            OwnerKey
}

func newCrafted(t *testing.T) *crafted {
	sk, owner := newOwner(t)
	fileKey := plaintext(42, fileKeyLen)
	capsule, wrapped, err := umbral.Encrypt(sk.PublicKey(), fileKey)
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := capsule.MarshalBinary()
	return &crafted{t: t, fileKey: fileKey, salt: plaintext(43, saltLen), capsule: cb, wrapped: wrapped, owner: owner}
}

// file returns a header over plainMeta followed by chunks sealed with the given last flags.
func (c *crafted) file(shift uint8, plainMeta []byte, chunks [][]byte, lastFlags []bool) []byte {
	h, err := newHeaderPrefix(shift, c.capsule, c.wrapped, c.salt, len(plainMeta)+tagLen)
	if err != nil {
		c.t.Fatal(err)
	}
	keys, _ := deriveKeys(c.fileKey, c.salt)
	h.sealedMeta = keys.header.Seal(nil, headerNonce[:], plainMeta, h.fixed[:])
	out, _ := h.MarshalBinary()
	var nonce [12]byte
	for i, ch := range chunks {
		setChunkNonce(&nonce, uint64(i), lastFlags[i])
		out = keys.payload.Seal(out, nonce[:], ch, nil)
	}
	return out
}

func TestCraftedStream(t *testing.T) {
	c := newCrafted(t)
	const shift = minChunkShift
	full := make([]byte, 1<<shift)
	meta := func(size, pad int64) []byte { return encodeMetadata(&Metadata{Size: size}, pad) }

	good := c.file(shift, meta(1<<shift+5, 0), [][]byte{full, make([]byte, 5)}, []bool{false, true})
	if _, _, err := openAll(good, c.owner); err != nil {
		t.Fatalf("control file: %v", err)
	}
	expectErr(t, "final chunk not flagged last", c.file(shift, meta(1<<shift+5, 0), [][]byte{full, make([]byte, 5)}, []bool{false, false}), c.owner, ErrAuthentication)
	expectErr(t, "first chunk flagged last", c.file(shift, meta(1<<shift+5, 0), [][]byte{full, make([]byte, 5)}, []bool{true, true}), c.owner, ErrAuthentication)
	expectErr(t, "short non-final chunk", c.file(shift, meta(1<<shift+5, 0), [][]byte{full[:100], make([]byte, 5)}, []bool{false, true}), c.owner, ErrAuthentication, ErrTruncated)
	expectErr(t, "empty payload without its chunk", c.file(shift, meta(0, 0), nil, nil), c.owner, ErrTruncated)

	padded := append(make([]byte, 5), 0, 0, 1) // padding must be zero
	expectErr(t, "non-zero payload padding", c.file(shift, meta(5, 3), [][]byte{padded}, []bool{true}), c.owner, ErrCorrupt)
	okPad := c.file(shift, meta(5, 3), [][]byte{make([]byte, 8)}, []bool{true})
	if pt, _, err := openAll(okPad, c.owner); err != nil || len(pt) != 5 {
		t.Fatalf("zero padding: %d bytes, %v", len(pt), err)
	}
}

func TestCraftedMetadata(t *testing.T) {
	c := newCrafted(t)
	base := encodeMetadata(&Metadata{Size: 0, Labels: map[string]string{"a": "1", "b": "2"}}, 0)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(base)) }
	for name, m := range map[string][]byte{
		"non-zero metadata padding": mutate(func(b []byte) []byte { b[len(b)-1] = 1; return b }),
		"nanoseconds out of range":  mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[24:], 1e9); return b }),
		"size over the limit":       mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[0:], MaxSize+1); return b }),
		"padding overflow":          mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[8:], 1<<63); return b }),
		"name past the end":         mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[28:], 300); return b }),
		"name over the limit":       mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[28:], MaxNameLen+1); return b }),
		"labels out of order":       mutate(func(b []byte) []byte { b[36], b[42] = 'b', 'a'; return b }),
		"too many labels":           mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[32:], MaxLabels+1); return b }),
		"invalid UTF-8 name": func() []byte {
			b := encodeMetadata(&Metadata{Name: "ab"}, 0)
			b[30] = 0xff
			return b
		}(),
	} {
		if len(m)%metaBlock != 0 {
			t.Fatalf("%s: bad test block", name)
		}
		expectErr(t, name, c.file(minChunkShift, m, [][]byte{{}}, []bool{true}), c.owner, ErrCorrupt)
	}
}

func TestUnwrapperErrorsAreWrapped(t *testing.T) {
	sealed, _, _ := sealedFixture(t)
	boom := errors.New("proxy said no")
	_, err := Open(bytes.NewReader(sealed), unwrapFunc(func(*umbral.Capsule, []byte) ([]byte, error) { return nil, boom }))
	if !errors.Is(err, ErrWrongKey) || !errors.Is(err, boom) {
		t.Errorf("got %v", err)
	}
	_, err = Open(bytes.NewReader(sealed), unwrapFunc(func(*umbral.Capsule, []byte) ([]byte, error) { return make([]byte, 31), nil }))
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("short key: %v", err)
	}
	_, err = Open(bytes.NewReader(sealed), unwrapFunc(func(*umbral.Capsule, []byte) ([]byte, error) { return make([]byte, 32), nil }))
	if !errors.Is(err, ErrAuthentication) {
		t.Errorf("wrong 32-byte key: %v", err)
	}
}

type unwrapFunc func(*umbral.Capsule, []byte) ([]byte, error)

func (f unwrapFunc) UnwrapFileKey(c *umbral.Capsule, w []byte) ([]byte, error) { return f(c, w) }

// errReader fails after its data, to check that I/O errors are passed through, not disguised.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestIOErrorsPassThrough(t *testing.T) {
	sealed, hdrLen, owner := sealedFixture(t)
	boom := errors.New("disk on fire")
	for _, n := range []int{0, 5, int(hdrLen) - 1, int(hdrLen) + 100, len(sealed)} {
		r, err := Open(&errReader{data: sealed[:n], err: boom}, owner)
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if !errors.Is(err, boom) {
			t.Errorf("cut at %d: %v", n, err)
		}
	}
}
