package protocol

import "github.com/resilientrecords/resilientrecords/umbral"

// Rotation (SPEC.md §18): an owner moves to a new identity after a recovery or a suspected
// leak. Rotate, signed by the old key, names the successor and carries the successor's
// signature over the old key, so nobody can rotate onto a key they do not hold. From the next
// transaction on the ledger refuses everything the old key signs (key_retired), and nodes
// refuse its deposits, re-encryption requests and uploads. Moving the records is the SDK's
// work; the ledger only lets the successor revoke and erase what the old key owned.

const TxRotate TxType = 19

// MaxSuccession bounds how far the ledger follows a chain of rotations (old → successor →
// its successor …) when a successor acts on a retired key's records: every check stays a few
// reads, whatever an account did.
const MaxSuccession = 8

// Rotate retires its signer in favour of Successor.
type Rotate struct {
	Successor    PubKey // the new identity's signing key
	SuccessorEnc PubKey // the new identity's receiving key
	Proof        Sig    // the successor's signature of RotationProofBytes(chain, signer)
}

func (*Rotate) Type() TxType { return TxRotate }

func (b *Rotate) encode(w *writer) {
	w.raw(b.Successor[:])
	w.raw(b.SuccessorEnc[:])
	w.raw(b.Proof[:])
}

func (b *Rotate) decode(r *reader) {
	r.fixed(b.Successor[:], "successor")
	r.fixed(b.SuccessorEnc[:], "successor receiving key")
	r.fixed(b.Proof[:], "proof")
}

func (b *Rotate) validate() error {
	if !b.Successor.Valid() || !b.SuccessorEnc.Valid() {
		return Errorf(ErrInvalid, "a successor key is not a valid point")
	}
	return nil
}

const rotateDomain = "resilientrecords/ledger/rotate/v1\x00"

// RotationProofBytes is what a successor signs to accept the succession of old on chainID.
// It names the old key and the chain only: the successor's consent does not depend on the
// sequence or expiry the old key picks, and is worthless for any other key or network.
func RotationProofBytes(chainID string, old PubKey) []byte {
	return signingBytes(rotateDomain, chainID, func(w *writer) { w.raw(old[:]) })
}

// NewRotate makes the body of a rotation of old onto the identity whose signer is successor
// and whose receiving key is successorEnc.
func NewRotate(successor *umbral.Signer, successorEnc PubKey, chainID string, old PubKey) (*Rotate, error) {
	proof, err := sign(successor, RotationProofBytes(chainID, old))
	if err != nil {
		return nil, err
	}
	return &Rotate{Successor: PubKeyOf(successor.VerifyingKey()), SuccessorEnc: successorEnc, Proof: proof}, nil
}

// VerifyRotation checks a Rotate's proof: the successor consented to succeed tx's signer.
func VerifyRotation(tx *Tx) bool {
	b, ok := tx.Body.(*Rotate)
	return ok && Verify(b.Successor, RotationProofBytes(tx.ChainID, tx.Signer), b.Proof)
}

// Retirement is a committed Rotate: Old signs nothing from the next transaction on.
type Retirement struct {
	Old          PubKey `json:"old"`
	Successor    PubKey `json:"successor"`
	SuccessorEnc PubKey `json:"successor_enc"`
	Height       int64  `json:"height"`
	Time         int64  `json:"time"`
	TxHash       Hash32 `json:"tx_hash"`
}

func (t *Retirement) MarshalBinary() ([]byte, error) {
	w := newWriter(1 + 3*33 + 8 + 8 + 32)
	w.u8(stateVersion)
	w.raw(t.Old[:])
	w.raw(t.Successor[:])
	w.raw(t.SuccessorEnc[:])
	w.i64(t.Height)
	w.i64(t.Time)
	w.raw(t.TxHash[:])
	return w.finish(), nil
}

func (t *Retirement) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("retirement")
	*t = Retirement{}
	r.fixed(t.Old[:], "old key")
	r.fixed(t.Successor[:], "successor")
	r.fixed(t.SuccessorEnc[:], "successor receiving key")
	t.Height = r.i64("height")
	t.Time = r.i64("time")
	r.fixed(t.TxHash[:], "tx hash")
	return r.finish()
}
