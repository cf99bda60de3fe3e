// Package issued reads and writes issued documents: a file an issuer signs for a subject, a
// short text header followed by the content, which anyone can check offline — who issued
// it, for whom, when, and that the content is unchanged. SPEC.md specifies the format.
package issued

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Bounds of a header. A reader never buffers more than MaxHeader bytes before it knows the
// document is malformed.
const (
	MaxHeader    = 2048
	MaxName      = 255
	MaxMediaType = 127
)

const (
	versionLine = "rrec-issued/v1"
	// sigDomain separates these signatures from every other message an identity's signing
	// key signs (transactions, access requests, uploads).
	sigDomain  = "rrec issued document v1\x00"
	timeLayout = "2006-01-02T15:04:05Z"
)

// ErrInvalid is every reason a document does not verify; the message says which.
var ErrInvalid = errors.New("issued: not a valid issued document")

// Header is what an issued document says about its content.
type Header struct {
	Issuer    identity.Public
	Subject   identity.Public
	Issued    time.Time // whole seconds, UTC
	MediaType string
	Name      string
	SHA256    [sha256.Size]byte // of the content
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// signed is the header's text up to and including the sha256 line: what the issuer signs,
// after the domain.
func (h *Header) signed() ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nissuer: %s\nsubject: %s\nissued: %s\ntype: %s\nname: %s\nsha256: %s\n",
		versionLine, h.Issuer, h.Subject, h.Issued.UTC().Format(timeLayout), h.MediaType, h.Name, hex.EncodeToString(h.SHA256[:]))
	return b.Bytes(), nil
}

func (h *Header) check() error {
	if h.Issuer.Signing == nil || h.Issuer.Receiving == nil || h.Subject.Signing == nil || h.Subject.Receiving == nil {
		return invalid("issuer and subject are required")
	}
	if !h.Issued.Equal(h.Issued.Truncate(time.Second)) || h.Issued.Year() < 1 || h.Issued.UTC().Year() > 9999 {
		return invalid("issued time must be whole seconds between years 1 and 9999")
	}
	if err := checkText(h.MediaType, MaxMediaType, "type"); err != nil {
		return err
	}
	for _, c := range []byte(h.MediaType) {
		if c >= 0x80 {
			return invalid("type must be ASCII")
		}
	}
	if !strings.Contains(h.MediaType, "/") {
		return invalid("type %q is not a media type", h.MediaType)
	}
	return checkText(h.Name, MaxName, "name")
}

// checkText accepts 1..max bytes of UTF-8 without control characters or surrounding space,
// so that a field is one line and prints as what it is.
func checkText(s string, max int, what string) error {
	if s == "" || len(s) > max || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return invalid("%s must be 1..%d bytes of UTF-8 without surrounding space", what, max)
	}
	for _, c := range s {
		if c < 0x20 || (c >= 0x7f && c < 0xa0) || c == '\u2028' || c == '\u2029' {
			return invalid("%s has a control character", what)
		}
	}
	return nil
}

// New makes the issued document of content: the header, signed by issuer, then the content.
// The issued time is truncated to whole seconds.
func New(issuer *identity.Identity, subject identity.Public, issued time.Time, mediaType, name string, content []byte) ([]byte, error) {
	h := &Header{Issuer: issuer.Public(), Subject: subject, Issued: issued.UTC().Truncate(time.Second),
		MediaType: mediaType, Name: name, SHA256: sha256.Sum256(content)}
	text, err := h.signed()
	if err != nil {
		return nil, err
	}
	sig, err := issuer.Signer().Sign(append([]byte(sigDomain), text...))
	if err != nil {
		return nil, err
	}
	out := append(text, "sig: "...)
	out = append(out, base64.RawStdEncoding.EncodeToString(sig.Bytes())...)
	out = append(out, '\n')
	if len(out) > MaxHeader {
		return nil, invalid("header is %d bytes, limit %d", len(out), MaxHeader)
	}
	return append(out, content...), nil
}

// ReadHeader reads and checks a header from r, signature included, and leaves r at the
// first byte of the content. It does not check the content's hash: Verify does.
func ReadHeader(r *bufio.Reader) (*Header, error) {
	var text []byte
	line := func(key string) (string, error) {
		var l []byte
		for {
			c, err := r.ReadByte()
			if err == io.EOF {
				return "", invalid("header ends before its %s line", key)
			} else if err != nil {
				return "", err
			}
			if len(text)+len(l) >= MaxHeader {
				return "", invalid("header longer than %d bytes", MaxHeader)
			}
			if c == '\n' {
				break
			}
			l = append(l, c)
		}
		if key == "" {
			text = append(append(text, l...), '\n')
			return string(l), nil
		}
		prefix := key + ": "
		if !bytes.HasPrefix(l, []byte(prefix)) {
			return "", invalid("expected the %s line, got %q", key, truncate(l))
		}
		if key != "sig" {
			text = append(append(text, l...), '\n')
		}
		return string(l[len(prefix):]), nil
	}
	v, err := line("")
	if err != nil {
		return nil, err
	}
	if v != versionLine {
		return nil, invalid("first line is %q, want %q", truncate([]byte(v)), versionLine)
	}
	var f [7]string
	for i, k := range []string{"issuer", "subject", "issued", "type", "name", "sha256", "sig"} {
		if f[i], err = line(k); err != nil {
			return nil, err
		}
	}
	h := &Header{MediaType: f[3], Name: f[4]}
	if h.Issuer, err = identity.ParsePublic(f[0]); err != nil || h.Issuer.String() != f[0] {
		return nil, invalid("issuer is not a public identity in its canonical form")
	}
	if h.Subject, err = identity.ParsePublic(f[1]); err != nil || h.Subject.String() != f[1] {
		return nil, invalid("subject is not a public identity in its canonical form")
	}
	if h.Issued, err = time.Parse(timeLayout, f[2]); err != nil || h.Issued.Format(timeLayout) != f[2] {
		return nil, invalid("issued time %q is not RFC 3339 UTC in whole seconds", f[2])
	}
	if len(f[5]) != 2*sha256.Size || strings.ToLower(f[5]) != f[5] {
		return nil, invalid("sha256 must be 64 lowercase hex digits")
	}
	if _, err := hex.Decode(h.SHA256[:], []byte(f[5])); err != nil {
		return nil, invalid("sha256 must be 64 lowercase hex digits")
	}
	// The text is rebuilt from the parsed fields: one header has one encoding, so what was
	// signed is exactly what was read.
	want, err := h.signed()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(want, text) {
		return nil, invalid("header is not in canonical form")
	}
	raw, err := base64.RawStdEncoding.Strict().DecodeString(f[6])
	if err != nil {
		return nil, invalid("sig is not unpadded base64")
	}
	sig, err := umbral.SignatureFromBytes(raw)
	if err != nil {
		return nil, invalid("sig is not a signature")
	}
	if !sig.Verify(h.Issuer.Signing, append([]byte(sigDomain), text...)) {
		return nil, invalid("the issuer's signature does not verify: the header was altered or another key signed it")
	}
	return h, nil
}

// Verify reads a whole issued document from r, checks its header and signature, copies the
// content to content (io.Discard to only check) and then checks its hash. On an error the
// bytes already copied must be thrown away: they are not the signed content.
func Verify(r io.Reader, content io.Writer) (*Header, error) {
	br := bufio.NewReaderSize(r, MaxHeader)
	h, err := ReadHeader(br)
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	if _, err := io.Copy(io.MultiWriter(sum, content), br); err != nil {
		return nil, err
	}
	if !bytes.Equal(sum.Sum(nil), h.SHA256[:]) {
		return nil, invalid("the content was altered: its SHA-256 is not the one the issuer signed")
	}
	return h, nil
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
