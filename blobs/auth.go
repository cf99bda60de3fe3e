package blobs

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Upload authorisation headers (SPEC.md §2).
const (
	HeaderSigner    = "Rrec-Signer"    // account public key, 33 bytes hex
	HeaderTime      = "Rrec-Time"      // unix nanoseconds, decimal
	HeaderSize      = "Rrec-Size"      // exact body length, decimal
	HeaderSignature = "Rrec-Signature" // 64 bytes hex (r‖s, low-S)
)

// Freshness is how far an upload's signed time may be from the node's clock.
const Freshness = 2 * time.Minute

const uploadDomain = "resilientrecords/blobs/upload/v1\x00"

// UploadAuth is the signed statement "this account uploads size bytes to
// this node of this chain, now".
type UploadAuth struct {
	ChainID string
	Node    ledger.PubKey // the receiving node's proxy key
	Signer  ledger.PubKey
	Time    int64 // unix nanoseconds
	Size    int64
	Sig     ledger.Sig
}

// SignBytes is what the account signs.
func (a *UploadAuth) SignBytes() []byte {
	b := []byte(uploadDomain)
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.ChainID)))
	b = append(b, a.ChainID...)
	b = append(b, a.Node[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(a.Time))
	return binary.BigEndian.AppendUint64(b, uint64(a.Size))
}

// SignUpload signs an upload of size bytes to node with the account's signer.
func SignUpload(s *umbral.Signer, chainID string, node ledger.PubKey, size int64, now time.Time) (*UploadAuth, error) {
	a := &UploadAuth{ChainID: chainID, Node: node, Signer: ledger.PubKeyOf(s.VerifyingKey()), Time: now.UnixNano(), Size: size}
	sig, err := s.Sign(a.SignBytes())
	if err != nil {
		return nil, err
	}
	copy(a.Sig[:], sig.Bytes())
	return a, nil
}

// SetHeaders puts the authorisation on an upload request.
func (a *UploadAuth) SetHeaders(h http.Header) {
	h.Set(HeaderSigner, a.Signer.String())
	h.Set(HeaderTime, strconv.FormatInt(a.Time, 10))
	h.Set(HeaderSize, strconv.FormatInt(a.Size, 10))
	h.Set(HeaderSignature, hex.EncodeToString(a.Sig[:]))
}

var errAuth = errors.New("bad upload authorisation")

// parseUploadAuth reads and verifies the headers for this node and chain.
func parseUploadAuth(h http.Header, chainID string, node ledger.PubKey, now time.Time) (*UploadAuth, error) {
	a := &UploadAuth{ChainID: chainID, Node: node}
	sk, err := hex.DecodeString(h.Get(HeaderSigner))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not hex", errAuth, HeaderSigner)
	}
	if a.Signer, err = ledger.ParsePubKey(sk); err != nil {
		return nil, fmt.Errorf("%w: %s is not a public key", errAuth, HeaderSigner)
	}
	if a.Time, err = strconv.ParseInt(h.Get(HeaderTime), 10, 64); err != nil {
		return nil, fmt.Errorf("%w: %s is not an integer", errAuth, HeaderTime)
	}
	if a.Size, err = strconv.ParseInt(h.Get(HeaderSize), 10, 64); err != nil || a.Size < 0 {
		return nil, fmt.Errorf("%w: %s is not a size", errAuth, HeaderSize)
	}
	sig, err := hex.DecodeString(h.Get(HeaderSignature))
	if err != nil || len(sig) != len(a.Sig) {
		return nil, fmt.Errorf("%w: %s must be %d hex bytes", errAuth, HeaderSignature, len(a.Sig))
	}
	copy(a.Sig[:], sig)
	if d := now.Sub(time.Unix(0, a.Time)); d > Freshness || d < -Freshness {
		return nil, fmt.Errorf("%w: signed time is %s away from the node's clock (limit %s)", errAuth, d.Round(time.Second), Freshness)
	}
	if !ledger.Verify(a.Signer, a.SignBytes(), a.Sig) {
		return nil, fmt.Errorf("%w: signature does not verify for this node and chain", errAuth)
	}
	return a, nil
}
