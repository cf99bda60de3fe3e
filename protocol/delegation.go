package protocol

import "strings"

// Caregivers (SPEC.md §16): an owner delegates the management of its records — granting,
// revoking, reading, or a subset — to a caregiver for a period (Delegate); the owner may end
// the delegation at any time and the caregiver may step down (EndDelegation). While it is
// live, the ledger accepts the caregiver's Grants and Revokes on the owner's records as the
// owner's, and logs them as the caregiver's for the owner.

const (
	TxDelegate      TxType = 10
	TxEndDelegation TxType = 11
)

// Rights of a delegation, a bitmask.
const (
	RightGrant  uint8 = 1 << 0
	RightRevoke uint8 = 1 << 1
	RightRead   uint8 = 1 << 2
	allRights         = RightGrant | RightRevoke | RightRead
)

var rightNames = []struct {
	bit  uint8
	name string
}{{RightGrant, "grant"}, {RightRevoke, "revoke"}, {RightRead, "read"}}

// RightsString names the rights of a bitmask, comma-separated, in a fixed order.
func RightsString(r uint8) string {
	var names []string
	for _, n := range rightNames {
		if r&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// ParseRights reads a comma-separated list of rights ("grant,revoke,read").
func ParseRights(s string) (uint8, error) {
	var r uint8
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		found := false
		for _, n := range rightNames {
			if f == n.name {
				r |= n.bit
				found = true
			}
		}
		if !found {
			return 0, Errorf(ErrInvalid, "unknown right %q (grant, revoke, read)", f)
		}
	}
	return r, nil
}

// Delegate delegates rights over the signer's records to a caregiver, for block times
// NotBefore ≤ t < NotAfter. Its id is DelegationID(chain, signer, sequence).
type Delegate struct {
	Caregiver    PubKey // the caregiver's signing key: its transactions
	CaregiverEnc PubKey // the caregiver's receiving key: what the owner's SDK seals to it
	Rights       uint8
	NotBefore    int64
	NotAfter     int64
}

// EndDelegation ends a delegation: signed by its owner, or by its caregiver stepping down.
type EndDelegation struct{ Delegation ID }

func (*Delegate) Type() TxType      { return TxDelegate }
func (*EndDelegation) Type() TxType { return TxEndDelegation }

func (b *Delegate) encode(w *writer) {
	w.raw(b.Caregiver[:])
	w.raw(b.CaregiverEnc[:])
	w.u8(b.Rights)
	w.i64(b.NotBefore)
	w.i64(b.NotAfter)
}

func (b *Delegate) decode(r *reader) {
	r.fixed(b.Caregiver[:], "caregiver")
	r.fixed(b.CaregiverEnc[:], "caregiver receiving key")
	b.Rights = r.u8("rights")
	b.NotBefore = r.i64("not before")
	b.NotAfter = r.i64("not after")
}

func (b *Delegate) validate() error {
	if !b.Caregiver.Valid() || !b.CaregiverEnc.Valid() {
		return Errorf(ErrInvalid, "a caregiver key is not a valid point")
	}
	if b.Rights == 0 || b.Rights&^allRights != 0 {
		return Errorf(ErrInvalid, "rights %#x: need a non-empty subset of grant, revoke, read", b.Rights)
	}
	// A delegation always ends: a caregiver nobody remembers must not keep a standing right.
	if b.NotBefore < 0 || b.NotAfter <= b.NotBefore {
		return Errorf(ErrInvalid, "a delegation needs 0 ≤ not_before < not_after")
	}
	return nil
}

func (b *EndDelegation) encode(w *writer) { w.raw(b.Delegation[:]) }
func (b *EndDelegation) decode(r *reader) { r.fixed(b.Delegation[:], "delegation") }
func (b *EndDelegation) validate() error  { return nil }

// DelegationID is the id a Delegate signed by owner at seq gets on chainID.
func DelegationID(chainID string, owner PubKey, seq uint64) ID {
	return idFor("resilientrecords/ledger/delegation-id/v1\x00", chainID, owner, seq)
}

// DelegationState is a committed Delegate and its end, if it ended.
type DelegationState struct {
	ID           ID     `json:"id"`
	Owner        PubKey `json:"owner"`
	Caregiver    PubKey `json:"caregiver"`
	CaregiverEnc PubKey `json:"caregiver_enc"`
	Rights       uint8  `json:"rights"`
	NotBefore    int64  `json:"not_before"`
	NotAfter     int64  `json:"not_after"`
	Height       int64  `json:"height"`
	Time         int64  `json:"time"`
	TxHash       Hash32 `json:"tx_hash"`
	Ended        bool   `json:"ended"`
	// Set when Ended: the EndDelegation's block and its signer (the owner or the caregiver).
	EndedHeight int64   `json:"ended_height,omitempty"`
	EndedTime   int64   `json:"ended_time,omitempty"`
	EndedBy     *PubKey `json:"ended_by,omitempty"`
}

// LiveAt reports whether the caregiver may act at block time t: not ended, and
// NotBefore ≤ t < NotAfter (the codes of a grant's liveness).
func (d *DelegationState) LiveAt(t int64) error {
	switch {
	case d.Ended:
		return Errorf(ErrGrantRevoked, "delegation %s was ended", d.ID)
	case t >= d.NotAfter:
		return Errorf(ErrGrantExpired, "delegation %s is past its end", d.ID)
	case t < d.NotBefore:
		return Errorf(ErrNotYetValid, "delegation %s has not begun", d.ID)
	}
	return nil
}

func (d *DelegationState) MarshalBinary() ([]byte, error) {
	if d.Ended != (d.EndedBy != nil) {
		return nil, Errorf(ErrInvalid, "delegation state: ended without its signer")
	}
	w := newWriter(260)
	w.u8(stateVersion)
	w.raw(d.ID[:])
	w.raw(d.Owner[:])
	w.raw(d.Caregiver[:])
	w.raw(d.CaregiverEnc[:])
	w.u8(d.Rights)
	w.i64(d.NotBefore)
	w.i64(d.NotAfter)
	w.i64(d.Height)
	w.i64(d.Time)
	w.raw(d.TxHash[:])
	w.bool(d.Ended)
	w.i64(d.EndedHeight)
	w.i64(d.EndedTime)
	optional(w, d.EndedBy)
	return w.finish(), nil
}

func (d *DelegationState) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("delegation")
	*d = DelegationState{}
	r.fixed(d.ID[:], "id")
	r.fixed(d.Owner[:], "owner")
	r.fixed(d.Caregiver[:], "caregiver")
	r.fixed(d.CaregiverEnc[:], "caregiver receiving key")
	d.Rights = r.u8("rights")
	d.NotBefore = r.i64("not before")
	d.NotAfter = r.i64("not after")
	d.Height = r.i64("height")
	d.Time = r.i64("time")
	r.fixed(d.TxHash[:], "tx hash")
	d.Ended = r.bool("ended")
	d.EndedHeight = r.i64("ended height")
	d.EndedTime = r.i64("ended time")
	d.EndedBy = readOptional[PubKey](r, "ended by")
	if r.err == nil && d.Ended != (d.EndedBy != nil) {
		r.fail("delegation ended without its signer, or the reverse")
	}
	return r.finish()
}
