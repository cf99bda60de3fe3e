package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Domain strings keep every hash and signature of this package apart from
// each other and from ledger transactions, which the same keys may sign.
const (
	commitmentDomain     = "resilientrecords/proxy/kfrag-commitment/v1\x00"
	depositDomain        = "resilientrecords/proxy/deposit/v1\x00"
	depositReceiptDomain = "resilientrecords/proxy/deposit-receipt/v1\x00"
	requestDomain        = "resilientrecords/proxy/reencrypt-request/v1\x00"
	cfragReceiptDomain   = "resilientrecords/proxy/cfrag-receipt/v1\x00"
)

// Sizes of the deposit envelope. The plaintext is fixed-size once the chain
// id is known, so the bounds below are exact, not guesses.
const (
	maxDepositPlaintext = len(depositDomain) + 1 + ledger.MaxChainID + 32 + 33 + umbral.KeyFragSize
	demOverhead         = 24 + 16 // XChaCha20-Poly1305 nonce and tag
	// MaxDepositCiphertext bounds the ciphertext of a deposit.
	MaxDepositCiphertext = maxDepositPlaintext + demOverhead
)

// Commitment is what a Grant holds for a node: SHA-256 over a domain string
// and the 310-byte MessagePack encoding of the node's key fragment.
func Commitment(kfrag []byte) ledger.Hash32 {
	h := sha256.New()
	h.Write([]byte(commitmentDomain))
	h.Write(kfrag)
	var c ledger.Hash32
	h.Sum(c[:0])
	return c
}

// Signature is a 64-byte umbral signature (r ‖ s, low-S), hex in JSON.
type Signature [umbral.SignatureSize]byte

func (s Signature) MarshalText() ([]byte, error) { return hexText(s[:]), nil }
func (s *Signature) UnmarshalText(b []byte) error {
	return unhexFixed(s[:], b, "signature")
}

// CFragBytes is an encoded capsule fragment (381 bytes), hex in JSON.
type CFragBytes [umbral.CapsuleFragSize]byte

func (c CFragBytes) MarshalText() ([]byte, error) { return hexText(c[:]), nil }
func (c *CFragBytes) UnmarshalText(b []byte) error {
	return unhexFixed(c[:], b, "cfrag")
}

// HexBytes is a variable-length byte string, hex in JSON. Handlers bound
// the body before decoding, which bounds it too.
type HexBytes []byte

func (h HexBytes) MarshalText() ([]byte, error) { return hexText(h), nil }
func (h *HexBytes) UnmarshalText(b []byte) error {
	out := make([]byte, hex.DecodedLen(len(b)))
	if _, err := hex.Decode(out, b); err != nil {
		return fmt.Errorf("proxy: bytes are not hex")
	}
	*h = out
	return nil
}

func hexText(b []byte) []byte { return []byte(hex.EncodeToString(b)) }

func unhexFixed(dst, src []byte, what string) error {
	if hex.DecodedLen(len(src)) != len(dst) {
		return fmt.Errorf("proxy: %s must be %d hex bytes", what, len(dst))
	}
	if _, err := hex.Decode(dst, src); err != nil {
		return fmt.Errorf("proxy: %s is not hex", what)
	}
	return nil
}

// signBytes builds domain ‖ len(chain) ‖ chain ‖ fields ‖ trailing
// integers; every field is fixed-size, so the encoding is unambiguous.
type signBytes struct{ b []byte }

func newSignBytes(domain, chainID string) *signBytes {
	s := &signBytes{b: make([]byte, 0, 512)}
	s.b = append(s.b, domain...)
	s.b = append(s.b, byte(len(chainID)))
	s.b = append(s.b, chainID...)
	return s
}

func (s *signBytes) raw(v []byte) *signBytes { s.b = append(s.b, v...); return s }
func (s *signBytes) u64(v uint64) *signBytes {
	s.b = binary.BigEndian.AppendUint64(s.b, v)
	return s
}

// Deposit is a key fragment sealed to one node's proxy key: an Umbral
// capsule under the node's key and the DEM ciphertext of the deposit
// plaintext (see SPEC.md).
type Deposit struct {
	Capsule    ledger.CapsuleBytes `json:"capsule"`
	Ciphertext HexBytes            `json:"ciphertext"`
}

// SealDeposit encrypts kfrag for node, bound to the chain and grant, so the
// sealed bytes open only at that node and only for that grant.
func SealDeposit(chainID string, grant ledger.ID, node ledger.PubKey, kfrag []byte) (*Deposit, error) {
	if len(chainID) == 0 || len(chainID) > ledger.MaxChainID {
		return nil, fmt.Errorf("proxy: chain id must be 1..%d bytes", ledger.MaxChainID)
	}
	if len(kfrag) != umbral.KeyFragSize {
		return nil, fmt.Errorf("proxy: key fragment must be %d bytes", umbral.KeyFragSize)
	}
	pk, err := umbral.PublicKeyFromBytes(node[:])
	if err != nil {
		return nil, fmt.Errorf("proxy: node key: %w", err)
	}
	c, ct, err := umbral.Encrypt(pk, depositPlaintext(chainID, grant, node, kfrag))
	if err != nil {
		return nil, err
	}
	d := &Deposit{Ciphertext: ct}
	cb, err := c.MarshalBinary()
	if err != nil {
		return nil, err
	}
	copy(d.Capsule[:], cb)
	return d, nil
}

func depositPlaintext(chainID string, grant ledger.ID, node ledger.PubKey, kfrag []byte) []byte {
	return newSignBytes(depositDomain, chainID).raw(grant[:]).raw(node[:]).raw(kfrag).b
}

// openDeposit decrypts d with the node's key and returns the key fragment
// if the plaintext names this chain, grant and node.
func openDeposit(sk *umbral.SecretKey, chainID string, grant ledger.ID, node ledger.PubKey, d *Deposit) ([]byte, error) {
	if len(d.Ciphertext) > MaxDepositCiphertext {
		return nil, errorf(ErrMalformed, "deposit ciphertext longer than %d bytes", MaxDepositCiphertext)
	}
	var c umbral.Capsule
	if err := c.UnmarshalBinary(d.Capsule[:]); err != nil {
		return nil, errorf(ErrBadEnvelope, "deposit capsule does not decode")
	}
	pt, err := umbral.DecryptOriginal(sk, &c, d.Ciphertext)
	if err != nil {
		return nil, errorf(ErrBadEnvelope, "deposit does not open with this node's key")
	}
	want := depositPlaintext(chainID, grant, node, nil)
	if len(pt) != len(want)+umbral.KeyFragSize || !bytes.Equal(pt[:len(want)], want) {
		return nil, errorf(ErrWrongBinding, "deposit is sealed for another chain, grant or node")
	}
	return pt[len(want):], nil
}

// DepositReceipt is a node's signed statement that it holds the fragment
// committed to by Commitment for Grant, as of its committed Height.
type DepositReceipt struct {
	Node       ledger.PubKey `json:"node"`
	Grant      ledger.ID     `json:"grant"`
	Commitment ledger.Hash32 `json:"commitment"`
	Height     int64         `json:"height"`
	Signature  Signature     `json:"signature"`
}

// SignBytes is what the node signs.
func (r *DepositReceipt) SignBytes(chainID string) []byte {
	return newSignBytes(depositReceiptDomain, chainID).raw(r.Node[:]).raw(r.Grant[:]).
		raw(r.Commitment[:]).u64(uint64(r.Height)).b
}

// Verify checks the signature under the receipt's node key.
func (r *DepositReceipt) Verify(chainID string) bool {
	return verify(r.Node, r.SignBytes(chainID), r.Signature)
}

// Request asks one node for a capsule fragment. RequestTx names the
// recipient's committed RequestAccess transaction; AuditIndex is the
// position of its entry in the record's audit log, where the node finds it
// (see SPEC.md, "Finding the request"). NotAfter (unix seconds) bounds how
// long the signed request may be presented.
type Request struct {
	RequestTx  ledger.Hash32       `json:"request_tx"`
	Grant      ledger.ID           `json:"grant"`
	AuditIndex uint64              `json:"audit_index"`
	Capsule    ledger.CapsuleBytes `json:"capsule"`
	Node       ledger.PubKey       `json:"node"`
	NotAfter   int64               `json:"not_after"`
	Signature  Signature           `json:"signature"`
}

// SignBytes is what the recipient signs.
func (r *Request) SignBytes(chainID string) []byte {
	return newSignBytes(requestDomain, chainID).raw(r.RequestTx[:]).raw(r.Grant[:]).
		u64(r.AuditIndex).raw(r.Capsule[:]).raw(r.Node[:]).u64(uint64(r.NotAfter)).b
}

// Sign signs the request with the recipient's signing key.
func (r *Request) Sign(chainID string, s *umbral.Signer) error {
	sig, err := s.Sign(r.SignBytes(chainID))
	if err != nil {
		return err
	}
	copy(r.Signature[:], sig.Bytes())
	return nil
}

// Response carries a capsule fragment and the node's receipt for it.
type Response struct {
	CFrag   CFragBytes `json:"cfrag"`
	Receipt Receipt    `json:"receipt"`
}

// Receipt is a node's signed statement that it re-encrypted for Grant on
// the strength of RequestTx, producing the fragment with hash CFragHash,
// against its committed state at Height.
type Receipt struct {
	Node      ledger.PubKey `json:"node"`
	Grant     ledger.ID     `json:"grant"`
	RequestTx ledger.Hash32 `json:"request_tx"`
	CFragHash ledger.Hash32 `json:"cfrag_sha256"`
	Height    int64         `json:"height"`
	Signature Signature     `json:"signature"`
}

// SignBytes is what the node signs.
func (r *Receipt) SignBytes(chainID string) []byte {
	return newSignBytes(cfragReceiptDomain, chainID).raw(r.Node[:]).raw(r.Grant[:]).
		raw(r.RequestTx[:]).raw(r.CFragHash[:]).u64(uint64(r.Height)).b
}

// Verify checks the signature under the receipt's node key.
func (r *Receipt) Verify(chainID string) bool {
	return verify(r.Node, r.SignBytes(chainID), r.Signature)
}

func verify(pk ledger.PubKey, msg []byte, sig Signature) bool {
	return ledger.Verify(pk, msg, ledger.Sig(sig))
}

func sign(s *umbral.Signer, msg []byte) (Signature, error) {
	var out Signature
	sig, err := s.Sign(msg)
	if err != nil {
		return out, err
	}
	copy(out[:], sig.Bytes())
	return out, nil
}
