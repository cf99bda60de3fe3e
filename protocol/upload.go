package protocol

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// Upload authorisation headers of POST /v1/blobs (SPEC.md §8).
const (
	HeaderSigner    = "Rrec-Signer"    // account public key, 33 bytes hex
	HeaderTime      = "Rrec-Time"      // unix nanoseconds, decimal
	HeaderSize      = "Rrec-Size"      // exact body length, decimal
	HeaderSignature = "Rrec-Signature" // 64 bytes hex (r‖s, low-S)
)

// UploadFreshness is how far an upload's signed time may be from the node's clock.
const UploadFreshness = 2 * time.Minute

const uploadDomain = "resilientrecords/blobs/upload/v2\x00"

// UploadAuth is the signed statement "this account uploads size bytes to this node of this
// chain, now".
type UploadAuth struct {
	ChainID string
	Node    PubKey // the receiving node's proxy key
	Signer  PubKey
	Time    int64 // unix nanoseconds
	Size    int64
	Sig     Sig
}

// SignBytes is what the account signs.
func (a *UploadAuth) SignBytes() []byte {
	return signingBytes(uploadDomain, a.ChainID, func(w *writer) {
		w.raw(a.Node[:])
		w.i64(a.Time)
		w.i64(a.Size)
	})
}

// SignUpload signs an upload of size bytes to node with the account's signer.
func SignUpload(s *umbral.Signer, chainID string, node PubKey, size int64, now time.Time) (*UploadAuth, error) {
	a := &UploadAuth{ChainID: chainID, Node: node, Signer: PubKeyOf(s.VerifyingKey()), Time: now.UnixNano(), Size: size}
	var err error
	a.Sig, err = sign(s, a.SignBytes())
	return a, err
}

// SetHeaders puts the authorisation on an upload request.
func (a *UploadAuth) SetHeaders(h http.Header) {
	h.Set(HeaderSigner, a.Signer.String())
	h.Set(HeaderTime, strconv.FormatInt(a.Time, 10))
	h.Set(HeaderSize, strconv.FormatInt(a.Size, 10))
	h.Set(HeaderSignature, hex.EncodeToString(a.Sig[:]))
}

// ParseUploadAuth reads the headers and verifies them for this node and chain at time now.
// A refusal is bad_signature with the reason.
func ParseUploadAuth(h http.Header, chainID string, node PubKey, now time.Time) (*UploadAuth, error) {
	a := &UploadAuth{ChainID: chainID, Node: node}
	bad := func(format string, args ...any) (*UploadAuth, error) {
		return nil, Errorf(ErrBadSignature, "upload authorisation: "+format, args...)
	}
	sk, err := hex.DecodeString(h.Get(HeaderSigner))
	if err != nil {
		return bad("%s is not hex", HeaderSigner)
	}
	if a.Signer, err = ParsePubKey(sk); err != nil {
		return bad("%s is not a public key", HeaderSigner)
	}
	if a.Time, err = strconv.ParseInt(h.Get(HeaderTime), 10, 64); err != nil {
		return bad("%s is not an integer", HeaderTime)
	}
	if a.Size, err = strconv.ParseInt(h.Get(HeaderSize), 10, 64); err != nil || a.Size < 0 {
		return bad("%s is not a size", HeaderSize)
	}
	sig, err := hex.DecodeString(h.Get(HeaderSignature))
	if err != nil || len(sig) != len(a.Sig) {
		return bad("%s must be %d hex bytes", HeaderSignature, len(a.Sig))
	}
	copy(a.Sig[:], sig)
	if d := now.Sub(time.Unix(0, a.Time)); d > UploadFreshness || d < -UploadFreshness {
		return bad("signed time is %s away from the node's clock (limit %s)", d.Round(time.Second), UploadFreshness)
	}
	if !Verify(a.Signer, a.SignBytes(), a.Sig) {
		return bad("signature does not verify for this node and chain")
	}
	return a, nil
}
