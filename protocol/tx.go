package protocol

import (
	"crypto/sha256"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// TxType names a transaction kind; it is the second byte of every encoded transaction.
type TxType uint8

const (
	TxPutRecord     TxType = 1
	TxGrant         TxType = 2
	TxRevoke        TxType = 3
	TxRequestAccess TxType = 4
	TxEraseRecord   TxType = 5
	TxHoldsBlob     TxType = 6
	// TxFragmentDestroyed is a grant node's report that it holds no fragment of a grant that
	// ended: the revocation receipt.
	TxFragmentDestroyed TxType = 7
	// TxAdmit is a registry node operator's admission of accounts.
	TxAdmit TxType = 8
	// TxEnrol is an account's self-service admission, with proof of work.
	TxEnrol TxType = 9
)

var txTypeNames = map[TxType]string{TxPutRecord: "put_record", TxGrant: "grant", TxRevoke: "revoke",
	TxRequestAccess: "request_access", TxEraseRecord: "erase_record", TxHoldsBlob: "holds_blob",
	TxFragmentDestroyed: "fragment_destroyed", TxAdmit: "admit", TxEnrol: "enrol",
	TxRecoverySetup: "recovery_setup", TxRecoveryStart: "recovery_start", TxRecoveryApprove: "recovery_approve",
	TxRecoveryCancel: "recovery_cancel", TxRecoveryFinish: "recovery_finish",
	TxDelegate: "delegate", TxEndDelegation: "end_delegation",
	TxRegisterService: "register_service", TxEmergencyRequest: "emergency_request",
	TxRotate: "rotate", TxOpenInbox: "open_inbox", TxIssue: "issue", TxAcceptIssued: "accept_issued",
	TxStreamCreate: "stream_create", TxStreamAppend: "stream_append", TxStreamGrant: "stream_grant", TxStreamErase: "stream_erase",
	TxStreamRekey: "stream_rekey"}

func (t TxType) String() string {
	if s, ok := txTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("tx_type_%d", uint8(t))
}

// Limits on encoded transactions. They bound what a peer can make a node decode, store and
// replicate.
const (
	TxVersion     = 3
	MaxTxBytes    = 8192
	MaxChainID    = 50
	MaxCIDBytes   = 128
	MaxPurpose    = 256
	MaxGrantNodes = 64
	CapsuleSize   = umbral.CapsuleSize
	// MaxTxLifetime bounds how far past the block time a transaction's Expires may lie, so
	// that signed bytes refused now cannot be kept and submitted much later.
	MaxTxLifetime = time.Hour
)

// txDomain separates transaction signatures from every other message an account key signs.
const txDomain = "resilientrecords/ledger/tx/v2\x00"

// Tx is a decoded, not yet authorised, transaction. It is valid only in a block whose time
// is at most Expires (unix nanoseconds), and Expires may lie at most MaxTxLifetime ahead.
type Tx struct {
	ChainID  string
	Signer   PubKey
	Sequence uint64
	Expires  int64
	Body     Body
	Sig      Sig
}

// Body is the type-specific part of a transaction: one of *PutRecord, *Grant, *Revoke,
// *RequestAccess, *EraseRecord, *HoldsBlob, *FragmentDestroyed, *Admit, *Enrol, and the
// recovery bodies *RecoverySetup, *RecoveryStart, *RecoveryApprove, *RecoveryCancel,
// *RecoveryFinish, the caregivers' *Delegate, *EndDelegation, and break-glass's
// *RegisterService, *EmergencyRequest, rotation's *Rotate, and issued records' *OpenInbox,
// *Issue, *AcceptIssued.
type Body interface {
	Type() TxType
	encode(*writer)
	decode(*reader)
	validate() error
}

func newBody(t TxType) Body {
	switch t {
	case TxPutRecord:
		return new(PutRecord)
	case TxGrant:
		return new(Grant)
	case TxRevoke:
		return new(Revoke)
	case TxRequestAccess:
		return new(RequestAccess)
	case TxEraseRecord:
		return new(EraseRecord)
	case TxHoldsBlob:
		return new(HoldsBlob)
	case TxFragmentDestroyed:
		return new(FragmentDestroyed)
	case TxAdmit:
		return new(Admit)
	case TxEnrol:
		return new(Enrol)
	case TxRecoverySetup:
		return new(RecoverySetup)
	case TxRecoveryStart:
		return new(RecoveryStart)
	case TxRecoveryApprove:
		return new(RecoveryApprove)
	case TxRecoveryCancel:
		return new(RecoveryCancel)
	case TxRecoveryFinish:
		return new(RecoveryFinish)
	case TxDelegate:
		return new(Delegate)
	case TxEndDelegation:
		return new(EndDelegation)
	case TxRegisterService:
		return new(RegisterService)
	case TxEmergencyRequest:
		return new(EmergencyRequest)
	case TxOpenInbox:
		return new(OpenInbox)
	case TxIssue:
		return new(Issue)
	case TxAcceptIssued:
		return new(AcceptIssued)
	case TxRotate:
		return new(Rotate)
	case TxStreamCreate:
		return new(StreamCreate)
	case TxStreamAppend:
		return new(StreamAppend)
	case TxStreamGrant:
		return new(StreamGrant)
	case TxStreamErase:
		return new(StreamErase)
	case TxStreamRekey:
		return new(StreamRekey)
	}
	return nil
}

func (tx *Tx) encodeUnsigned(w *writer) {
	w.u8(TxVersion)
	w.u8(uint8(tx.Body.Type()))
	w.str(tx.ChainID)
	w.raw(tx.Signer[:])
	w.u64(tx.Sequence)
	w.i64(tx.Expires)
	tx.Body.encode(w)
}

// SignBytes is what the signer signs (SPEC.md §2): the signing convention over the encoded
// transaction without its signature.
func (tx *Tx) SignBytes() []byte {
	return signingBytes(txDomain, tx.ChainID, tx.encodeUnsigned)
}

// Encode returns the canonical encoding: the unsigned encoding followed by the signature.
func (tx *Tx) Encode() []byte {
	w := newWriter(256)
	tx.encodeUnsigned(w)
	w.raw(tx.Sig[:])
	return w.finish()
}

// Sign sets Signer and Sig with an account's signer.
func (tx *Tx) Sign(s *umbral.Signer) error {
	tx.Signer = PubKeyOf(s.VerifyingKey())
	sig, err := sign(s, tx.SignBytes())
	tx.Sig = sig
	return err
}

// VerifySig checks the transaction's signature by its signer.
func (tx *Tx) VerifySig() bool { return Verify(tx.Signer, tx.SignBytes(), tx.Sig) }

// TxHash is SHA-256 of the encoded transaction, the hash CometBFT indexes it by.
func TxHash(raw []byte) Hash32 { return sha256.Sum256(raw) }

// DecodeTx parses and statelessly validates an encoded transaction. It does not check the
// signature (VerifySig) or anything that needs state.
func DecodeTx(raw []byte) (*Tx, error) {
	tx, err := ParseTx(raw)
	if err != nil {
		return nil, err
	}
	if err := tx.Validate(); err != nil {
		return nil, err
	}
	return tx, nil
}

// Validate runs the stateless checks, the ones that cost curve arithmetic (points, capsule)
// included.
func (tx *Tx) Validate() error {
	if !tx.Signer.Valid() {
		return Errorf(ErrInvalid, "signer is not a valid point")
	}
	if tx.Expires <= 0 {
		return Errorf(ErrInvalid, "expires must be a positive time")
	}
	return tx.Body.validate()
}

// ParseTx only parses: bounds and structure, no validation.
func ParseTx(raw []byte) (*Tx, error) {
	if len(raw) > MaxTxBytes {
		return nil, Errorf(ErrMalformed, "transaction is %d bytes, limit %d", len(raw), MaxTxBytes)
	}
	r := newReader(raw)
	if v := r.u8("version"); r.err == nil && v != TxVersion {
		return nil, Errorf(ErrMalformed, "version %d, want %d", v, TxVersion)
	}
	typ := TxType(r.u8("type"))
	if r.err != nil {
		return nil, r.err
	}
	body := newBody(typ)
	if body == nil {
		return nil, Errorf(ErrUnsupported, "%s", typ)
	}
	tx := &Tx{Body: body}
	tx.ChainID = r.str(MaxChainID, "chain id")
	r.fixed(tx.Signer[:], "signer")
	tx.Sequence = r.u64("sequence")
	tx.Expires = r.i64("expires")
	body.decode(r)
	r.fixed(tx.Sig[:], "signature")
	if err := r.finish(); err != nil {
		return nil, err
	}
	return tx, nil
}

// Sealed signs body as account s at sequence seq on chainID, valid until expires, and returns
// the encoded transaction.
func Sealed(s *umbral.Signer, chainID string, seq uint64, expires time.Time, body Body) ([]byte, error) {
	tx := &Tx{ChainID: chainID, Sequence: seq, Expires: expires.UnixNano(), Body: body}
	if err := tx.Sign(s); err != nil {
		return nil, err
	}
	return tx.Encode(), nil
}

func idFor(domain, chainID string, signer PubKey, seq uint64) ID {
	return sha256.Sum256(signingBytes(domain, chainID, func(w *writer) {
		w.raw(signer[:])
		w.u64(seq)
	}))
}

// RecordID is the id a PutRecord signed by owner at seq gets on chainID.
func RecordID(chainID string, owner PubKey, seq uint64) ID {
	return idFor("resilientrecords/ledger/record-id/v2\x00", chainID, owner, seq)
}

// GrantID is the id a Grant signed by owner at seq gets on chainID.
func GrantID(chainID string, owner PubKey, seq uint64) ID {
	return idFor("resilientrecords/ledger/grant-id/v2\x00", chainID, owner, seq)
}

func validText(s string) error {
	if len(s) > MaxPurpose || !utf8.ValidString(s) {
		return Errorf(ErrInvalid, "purpose must be valid UTF-8 of at most %d bytes", MaxPurpose)
	}
	return nil
}
