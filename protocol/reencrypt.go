package protocol

import (
	"bytes"
	"crypto/sha256"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// Messages between an owner or recipient and a node's re-encryption proxy (SPEC.md §7).
const (
	commitmentDomain     = "resilientrecords/proxy/kfrag-commitment/v1\x00"
	depositDomain        = "resilientrecords/proxy/deposit/v2\x00"
	depositReceiptDomain = "resilientrecords/proxy/deposit-receipt/v2\x00"
	requestDomain        = "resilientrecords/proxy/reencrypt-request/v2\x00"
	cfragReceiptDomain   = "resilientrecords/proxy/cfrag-receipt/v2\x00"
)

// Sizes of the deposit envelope. The plaintext is fixed-size once the chain id is known, so
// the bounds are exact.
const (
	maxDepositPlaintext = len(depositDomain) + 2 + MaxChainID + 32 + 33 + umbral.KeyFragSize
	demOverhead         = 24 + 16 // XChaCha20-Poly1305 nonce and tag
	// MaxDepositCiphertext bounds the ciphertext of a deposit.
	MaxDepositCiphertext = maxDepositPlaintext + demOverhead
	// MaxDepositBody and MaxRequestBody bound the JSON bodies: hex of the fields, with room
	// for punctuation and whitespace and nothing more.
	MaxDepositBody = 2*(CapsuleSize+MaxDepositCiphertext) + 256
	MaxRequestBody = 2048
)

// Commitment is what a Grant holds for a node: SHA-256 over a domain string and the
// encoded key fragment.
func Commitment(kfrag []byte) Hash32 {
	h := sha256.New()
	h.Write([]byte(commitmentDomain))
	h.Write(kfrag)
	var c Hash32
	h.Sum(c[:0])
	return c
}

// Deposit is a key fragment sealed to one node's proxy key: an Umbral capsule under the
// node's key and the DEM ciphertext of the deposit plaintext. Height is the block the grant
// committed in: a node that has not committed it yet waits for it a little (MaxCatchUp).
type Deposit struct {
	Capsule    CapsuleBytes `json:"capsule"`
	Ciphertext HexBytes     `json:"ciphertext"`
	Height     int64        `json:"height,omitempty"`
}

// MaxCatchUp bounds how many blocks behind a request's or a deposit's height a node waits
// to catch up rather than refuse: a node a block or two behind the one that committed a
// transaction catches up within moments.
const MaxCatchUp = 3

func depositPlaintext(chainID string, grant ID, node PubKey, kfrag []byte) []byte {
	return signingBytes(depositDomain, chainID, func(w *writer) {
		w.raw(grant[:])
		w.raw(node[:])
		w.raw(kfrag)
	})
}

// SealDeposit encrypts kfrag for node, bound to the chain and grant, so the sealed bytes open
// only at that node and only for that grant.
func SealDeposit(chainID string, grant ID, node PubKey, kfrag []byte) (*Deposit, error) {
	if len(chainID) == 0 || len(chainID) > MaxChainID {
		return nil, Errorf(ErrInvalid, "chain id must be 1..%d bytes", MaxChainID)
	}
	if len(kfrag) != umbral.KeyFragSize {
		return nil, Errorf(ErrInvalid, "key fragment must be %d bytes", umbral.KeyFragSize)
	}
	pk, err := umbral.PublicKeyFromBytes(node[:])
	if err != nil {
		return nil, Errorf(ErrInvalid, "node key: %v", err)
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

// OpenDeposit decrypts d with the node's secret key and returns the key fragment if the
// plaintext names this chain, grant and node.
func OpenDeposit(sk *umbral.SecretKey, chainID string, grant ID, node PubKey, d *Deposit) ([]byte, error) {
	if len(d.Ciphertext) > MaxDepositCiphertext {
		return nil, Errorf(ErrMalformed, "deposit ciphertext longer than %d bytes", MaxDepositCiphertext)
	}
	var c umbral.Capsule
	if err := c.UnmarshalBinary(d.Capsule[:]); err != nil {
		return nil, Errorf(ErrBadEnvelope, "deposit capsule does not decode")
	}
	pt, err := umbral.DecryptOriginal(sk, &c, d.Ciphertext)
	if err != nil {
		return nil, ErrBadEnvelope
	}
	want := depositPlaintext(chainID, grant, node, nil)
	if len(pt) != len(want)+umbral.KeyFragSize || !bytes.Equal(pt[:len(want)], want) {
		clear(pt)
		return nil, ErrWrongBinding
	}
	return pt[len(want):], nil
}

// DepositReceipt is a node's signed statement that it holds the fragment committed to by
// Commitment for Grant, as of its committed Height.
type DepositReceipt struct {
	Node       PubKey `json:"node"`
	Grant      ID     `json:"grant"`
	Commitment Hash32 `json:"commitment"`
	Height     int64  `json:"height"`
	Signature  Sig    `json:"signature"`
}

// SignBytes is what the node signs.
func (r *DepositReceipt) SignBytes(chainID string) []byte {
	return signingBytes(depositReceiptDomain, chainID, func(w *writer) {
		w.raw(r.Node[:])
		w.raw(r.Grant[:])
		w.raw(r.Commitment[:])
		w.i64(r.Height)
	})
}

// Sign signs the receipt with the node's proxy key.
func (r *DepositReceipt) Sign(chainID string, s *umbral.Signer) (err error) {
	r.Signature, err = sign(s, r.SignBytes(chainID))
	return err
}

// Verify checks the signature under the receipt's node key.
func (r *DepositReceipt) Verify(chainID string) bool {
	return Verify(r.Node, r.SignBytes(chainID), r.Signature)
}

// ReencryptRequest asks one node for a capsule fragment. RequestTx names the recipient's
// committed RequestAccess transaction, which the node finds by its hash; Height is the block
// it committed in (a node behind it waits a little to catch up). NotAfter (unix
// nanoseconds) bounds how long the signed request may be presented.
type ReencryptRequest struct {
	RequestTx Hash32       `json:"request_tx"`
	Height    int64        `json:"height"`
	Grant     ID           `json:"grant"`
	Capsule   CapsuleBytes `json:"capsule"`
	Node      PubKey       `json:"node"`
	NotAfter  int64        `json:"not_after"`
	Signature Sig          `json:"signature"`
}

// SignBytes is what the recipient signs.
func (r *ReencryptRequest) SignBytes(chainID string) []byte {
	return signingBytes(requestDomain, chainID, func(w *writer) {
		w.raw(r.RequestTx[:])
		w.i64(r.Height)
		w.raw(r.Grant[:])
		w.raw(r.Capsule[:])
		w.raw(r.Node[:])
		w.i64(r.NotAfter)
	})
}

// Sign signs the request with the recipient's signing key.
func (r *ReencryptRequest) Sign(chainID string, s *umbral.Signer) (err error) {
	r.Signature, err = sign(s, r.SignBytes(chainID))
	return err
}

// ReencryptResponse carries a capsule fragment and the node's receipt for it.
type ReencryptResponse struct {
	CFrag   CFragBytes   `json:"cfrag"`
	Receipt CFragReceipt `json:"receipt"`
}

// CFragReceipt is a node's signed statement that it re-encrypted for Grant on the strength
// of RequestTx, producing the fragment with hash CFragHash, against its committed state at
// Height.
type CFragReceipt struct {
	Node      PubKey `json:"node"`
	Grant     ID     `json:"grant"`
	RequestTx Hash32 `json:"request_tx"`
	CFragHash Hash32 `json:"cfrag_sha256"`
	Height    int64  `json:"height"`
	Signature Sig    `json:"signature"`
}

// SignBytes is what the node signs.
func (r *CFragReceipt) SignBytes(chainID string) []byte {
	return signingBytes(cfragReceiptDomain, chainID, func(w *writer) {
		w.raw(r.Node[:])
		w.raw(r.Grant[:])
		w.raw(r.RequestTx[:])
		w.raw(r.CFragHash[:])
		w.i64(r.Height)
	})
}

// Sign signs the receipt with the node's proxy key.
func (r *CFragReceipt) Sign(chainID string, s *umbral.Signer) (err error) {
	r.Signature, err = sign(s, r.SignBytes(chainID))
	return err
}

// Verify checks the signature under the receipt's node key.
func (r *CFragReceipt) Verify(chainID string) bool {
	return Verify(r.Node, r.SignBytes(chainID), r.Signature)
}
