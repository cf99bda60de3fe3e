package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// TxType names a transaction kind; it is the second byte of every encoded
// transaction.
type TxType uint8

const (
	TxPutRecord     TxType = 1
	TxGrant         TxType = 2
	TxRevoke        TxType = 3
	TxRequestAccess TxType = 4
	// TxEraseRecord and TxHoldsBlob are defined in erase.go.
	TxEraseRecord TxType = 5
	TxHoldsBlob   TxType = 6
)

func (t TxType) String() string {
	switch t {
	case TxPutRecord:
		return "put_record"
	case TxGrant:
		return "grant"
	case TxRevoke:
		return "revoke"
	case TxRequestAccess:
		return "request_access"
	case TxEraseRecord:
		return "erase_record"
	case TxHoldsBlob:
		return "holds_blob"
	}
	return fmt.Sprintf("tx_type_%d", uint8(t))
}

// Limits on encoded transactions. They bound what a peer can make a node
// decode, store and replicate.
const (
	TxVersion     = 1
	MaxTxBytes    = 8192
	MaxChainID    = 50
	MaxCIDBytes   = 128
	MaxPurpose    = 256
	MaxGrantNodes = 64
	CapsuleSize   = 105
)

// signDomain separates ledger sign bytes from every other message an
// account key might sign (Umbral kfrags, receipts).
const signDomain = "resilientrecords/ledger/tx/v1\x00"

var ErrUnsupportedTx = errors.New("ledger: unsupported transaction type")

// ID is a 32-byte record or grant identifier.
type ID [32]byte

// Tx is a decoded, not yet authorised, transaction.
type Tx struct {
	ChainID  string
	Signer   PubKey
	Sequence uint64
	Body     Body
	Sig      Sig
}

// Body is the type-specific part of a transaction: one of *PutRecord,
// *Grant, *Revoke, *RequestAccess, *EraseRecord, *HoldsBlob.
type Body interface {
	Type() TxType
	encode(*encoder)
	decode(*decoder)
	validate() error
}

// PutRecord registers a sealed record owned by the signer.
type PutRecord struct {
	CID           []byte // content address of the sealed ciphertext
	Size          uint64 // size of the sealed ciphertext in bytes
	Capsule       [CapsuleSize]byte
	DelegatingKey PubKey // the record's Umbral delegating public key
}

// GrantNode is one proxy of a grant and the commitment (SHA-256) of the key
// fragment the owner deposits with it.
type GrantNode struct {
	Proxy      PubKey
	Commitment [32]byte
}

// Grant lets a recipient have a record re-encrypted by Threshold of Nodes.
type Grant struct {
	Record       ID
	RecipientSig PubKey // recipient's signing key: signs RequestAccess
	RecipientEnc PubKey // recipient's receiving (Umbral) key
	Threshold    uint8  // 0 means the default 2f+1 of n = 3f+1
	Nodes        []GrantNode
	NotBefore    int64 // unix nanoseconds of block time; 0 = no lower bound
	NotAfter     int64 // unix nanoseconds of block time; 0 = never expires
	Purpose      string
}

// Revoke ends a grant. Only the record's owner may revoke.
type Revoke struct{ Grant ID }

// RequestAccess records, before any re-encryption, that the grant's
// recipient asks for the record and why.
type RequestAccess struct {
	Grant   ID
	Purpose string
}

func (*PutRecord) Type() TxType     { return TxPutRecord }
func (*Grant) Type() TxType         { return TxGrant }
func (*Revoke) Type() TxType        { return TxRevoke }
func (*RequestAccess) Type() TxType { return TxRequestAccess }

func (b *PutRecord) encode(e *encoder) {
	e.bytes(b.CID)
	e.u64(b.Size)
	e.raw(b.Capsule[:])
	e.raw(b.DelegatingKey[:])
}

func (b *PutRecord) decode(d *decoder) {
	b.CID = d.bytes(MaxCIDBytes, "cid")
	b.Size = d.u64("size")
	d.fixed(b.Capsule[:], "capsule")
	d.fixed(b.DelegatingKey[:], "delegating key")
}

func (b *PutRecord) validate() error {
	if len(b.CID) == 0 || len(b.CID) > MaxCIDBytes {
		return fmt.Errorf("%w: cid must be 1..%d bytes", ErrInvalidTx, MaxCIDBytes)
	}
	if !validCapsule(b.Capsule[:]) {
		return fmt.Errorf("%w: capsule does not verify", ErrInvalidTx)
	}
	if !b.DelegatingKey.valid() {
		return fmt.Errorf("%w: delegating key is not a valid point", ErrInvalidTx)
	}
	return nil
}

func (b *Grant) encode(e *encoder) {
	e.raw(b.Record[:])
	e.raw(b.RecipientSig[:])
	e.raw(b.RecipientEnc[:])
	e.u8(b.Threshold)
	e.u8(uint8(len(b.Nodes)))
	for _, n := range b.Nodes {
		e.raw(n.Proxy[:])
		e.raw(n.Commitment[:])
	}
	e.i64(b.NotBefore)
	e.i64(b.NotAfter)
	e.bytes([]byte(b.Purpose))
}

func (b *Grant) decode(d *decoder) {
	d.fixed(b.Record[:], "record id")
	d.fixed(b.RecipientSig[:], "recipient signing key")
	d.fixed(b.RecipientEnc[:], "recipient receiving key")
	b.Threshold = d.u8("threshold")
	n := int(d.u8("node count"))
	if n > MaxGrantNodes {
		d.fail("%d nodes, limit %d", n, MaxGrantNodes)
		return
	}
	b.Nodes = make([]GrantNode, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		var gn GrantNode
		d.fixed(gn.Proxy[:], "node proxy key")
		d.fixed(gn.Commitment[:], "kfrag commitment")
		b.Nodes = append(b.Nodes, gn)
	}
	b.NotBefore = d.i64("not before")
	b.NotAfter = d.i64("not after")
	b.Purpose = string(d.bytes(MaxPurpose, "purpose"))
}

// DefaultThreshold is 2f+1 for n = 3f+1 nodes (f = ⌊(n−1)/3⌋): f Byzantine
// nodes that keep revoked fragments plus f stale ones cannot reach it.
func DefaultThreshold(n int) int {
	if n <= 0 {
		return 0
	}
	return 2*((n-1)/3) + 1
}

// EffectiveThreshold resolves a zero threshold to the default.
func (b *Grant) EffectiveThreshold() int {
	if b.Threshold == 0 {
		return DefaultThreshold(len(b.Nodes))
	}
	return int(b.Threshold)
}

func (b *Grant) validate() error {
	if len(b.Nodes) == 0 || len(b.Nodes) > MaxGrantNodes {
		return fmt.Errorf("%w: grant needs 1..%d nodes", ErrInvalidTx, MaxGrantNodes)
	}
	if t := b.EffectiveThreshold(); t < 1 || t > len(b.Nodes) {
		return fmt.Errorf("%w: threshold %d outside 1..%d", ErrInvalidTx, t, len(b.Nodes))
	}
	seen := make(map[PubKey]bool, len(b.Nodes))
	for _, n := range b.Nodes {
		if seen[n.Proxy] {
			return fmt.Errorf("%w: node %s listed twice", ErrInvalidTx, n.Proxy)
		}
		seen[n.Proxy] = true
	}
	if !b.RecipientSig.valid() || !b.RecipientEnc.valid() {
		return fmt.Errorf("%w: recipient key is not a valid point", ErrInvalidTx)
	}
	if b.NotBefore < 0 || b.NotAfter < 0 {
		return fmt.Errorf("%w: negative time bound", ErrInvalidTx)
	}
	if b.NotAfter != 0 && b.NotAfter <= b.NotBefore {
		return fmt.Errorf("%w: not-after must be later than not-before", ErrInvalidTx)
	}
	return validText(b.Purpose)
}

func (b *Revoke) encode(e *encoder)      { e.raw(b.Grant[:]) }
func (b *Revoke) decode(d *decoder)      { d.fixed(b.Grant[:], "grant id") }
func (b *Revoke) validate() error        { return nil }
func (b *RequestAccess) validate() error { return validText(b.Purpose) }

func (b *RequestAccess) encode(e *encoder) {
	e.raw(b.Grant[:])
	e.bytes([]byte(b.Purpose))
}

func (b *RequestAccess) decode(d *decoder) {
	d.fixed(b.Grant[:], "grant id")
	b.Purpose = string(d.bytes(MaxPurpose, "purpose"))
}

func validText(s string) error {
	if len(s) > MaxPurpose || !utf8.ValidString(s) {
		return fmt.Errorf("%w: purpose must be valid UTF-8 of at most %d bytes", ErrInvalidTx, MaxPurpose)
	}
	return nil
}

func (tx *Tx) encodeUnsigned() []byte {
	e := &encoder{b: make([]byte, 0, 256)}
	e.u8(TxVersion)
	e.u8(uint8(tx.Body.Type()))
	e.bytes([]byte(tx.ChainID))
	e.raw(tx.Signer[:])
	e.u64(tx.Sequence)
	tx.Body.encode(e)
	return e.b
}

// SignBytes is what the signer signs: a domain string followed by the
// encoded transaction without its signature. The chain ID is inside, so a
// transaction cannot be replayed on another chain.
func (tx *Tx) SignBytes() []byte {
	return append([]byte(signDomain), tx.encodeUnsigned()...)
}

// Encode returns the canonical encoding: the unsigned encoding followed by
// the 64-byte signature.
func (tx *Tx) Encode() []byte { return append(tx.encodeUnsigned(), tx.Sig[:]...) }

// Sign sets Signer and Sig with an account's umbral signer.
func (tx *Tx) Sign(s *umbral.Signer) error {
	tx.Signer = PubKeyOf(s.VerifyingKey())
	sig, err := s.Sign(tx.SignBytes())
	if err != nil {
		return err
	}
	copy(tx.Sig[:], sig.Bytes())
	return nil
}

// TxHash is SHA-256 of the encoded transaction, the same hash CometBFT uses
// to index it.
func TxHash(raw []byte) Hash32 { return sha256.Sum256(raw) }

// DecodeTx parses and statelessly validates an encoded transaction. It does
// not check the signature (see VerifySig) or anything that needs state.
func DecodeTx(raw []byte) (*Tx, error) {
	tx, err := parseTx(raw)
	if err != nil {
		return nil, err
	}
	if err := tx.validate(); err != nil {
		return nil, err
	}
	return tx, nil
}

// validate runs the stateless checks that cost curve arithmetic (points,
// capsule) along with the cheap ones.
func (tx *Tx) validate() error {
	if !tx.Signer.valid() {
		return fmt.Errorf("%w: signer is not a valid point", ErrInvalidTx)
	}
	return tx.Body.validate()
}

// parseTx only parses: bounds and structure, no validation.
func parseTx(raw []byte) (*Tx, error) {
	if len(raw) > MaxTxBytes {
		return nil, fmt.Errorf("%w: transaction is %d bytes, limit %d", ErrMalformed, len(raw), MaxTxBytes)
	}
	d := &decoder{b: raw}
	if v := d.u8("version"); d.err == nil && v != TxVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, v, TxVersion)
	}
	typ := TxType(d.u8("type"))
	if d.err != nil {
		return nil, d.err
	}
	var body Body
	switch typ {
	case TxPutRecord:
		body = new(PutRecord)
	case TxGrant:
		body = new(Grant)
	case TxRevoke:
		body = new(Revoke)
	case TxRequestAccess:
		body = new(RequestAccess)
	case TxEraseRecord:
		body = new(EraseRecord)
	case TxHoldsBlob:
		body = new(HoldsBlob)
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedTx, typ)
	}
	tx := &Tx{Body: body}
	tx.ChainID = string(d.bytes(MaxChainID, "chain id"))
	d.fixed(tx.Signer[:], "signer")
	tx.Sequence = d.u64("sequence")
	body.decode(d)
	d.fixed(tx.Sig[:], "signature")
	if err := d.finish(); err != nil {
		return nil, err
	}
	return tx, nil
}

// VerifySig checks the transaction's signature by its signer.
func (tx *Tx) VerifySig() bool { return Verify(tx.Signer, tx.SignBytes(), tx.Sig) }

func idFor(domain, chainID string, signer PubKey, seq uint64) ID {
	e := &encoder{}
	e.raw([]byte(domain))
	e.bytes([]byte(chainID))
	e.raw(signer[:])
	e.u64(seq)
	return sha256.Sum256(e.b)
}

// RecordID is the id a PutRecord signed by owner at seq gets on chainID.
func RecordID(chainID string, owner PubKey, seq uint64) ID {
	return idFor("resilientrecords/record-id/v1\x00", chainID, owner, seq)
}

// GrantID is the id a Grant signed by owner at seq gets on chainID.
func GrantID(chainID string, owner PubKey, seq uint64) ID {
	return idFor("resilientrecords/grant-id/v1\x00", chainID, owner, seq)
}
