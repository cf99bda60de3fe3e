package protocol

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// Admission (SPEC.md §13). An account may send transactions once it is admitted: by a
// registry node's operator (Admit, the "member" tier: a clinic enrolling its patients and
// staff) or by itself with proof of work (Enrol, the "self" tier), when the network allows
// it. Each tier has an allowance of live records, their bytes, and live grants.

// Tiers of admitted accounts.
const (
	TierSelf   uint8 = 1
	TierMember uint8 = 2
)

// TierName is the tier's name in query answers.
func TierName(t uint8) string {
	switch t {
	case TierSelf:
		return "self"
	case TierMember:
		return "member"
	}
	return ""
}

// MaxAdmitBatch bounds the accounts of one Admit.
const MaxAdmitBatch = 64

// MaxEnrolBits bounds the proof of work a network may ask for.
const MaxEnrolBits = 40

// Admit admits Accounts on Tier. Only a registry node's proxy key may sign it.
type Admit struct {
	Tier     uint8
	Accounts []PubKey
}

// Enrol admits its signer on the self tier, with proof of work: EnrolWork of the chain, the
// signer and Nonce has at least the network's enrol_bits leading zero bits.
type Enrol struct{ Nonce uint64 }

func (*Admit) Type() TxType { return TxAdmit }
func (*Enrol) Type() TxType { return TxEnrol }

func (b *Admit) encode(w *writer) {
	w.u8(b.Tier)
	w.u8(uint8(len(b.Accounts)))
	for _, a := range b.Accounts {
		w.raw(a[:])
	}
}

func (b *Admit) decode(r *reader) {
	b.Tier = r.u8("tier")
	n := int(r.u8("account count"))
	if n > MaxAdmitBatch {
		r.fail("%d accounts, limit %d", n, MaxAdmitBatch)
		return
	}
	b.Accounts = make([]PubKey, n)
	for i := 0; i < n && r.err == nil; i++ {
		r.fixed(b.Accounts[i][:], "account")
	}
}

func (b *Admit) validate() error {
	if b.Tier != TierSelf && b.Tier != TierMember {
		return Errorf(ErrInvalid, "tier %d: want %d (self) or %d (member)", b.Tier, TierSelf, TierMember)
	}
	if len(b.Accounts) == 0 {
		return Errorf(ErrInvalid, "no accounts to admit")
	}
	seen := make(map[PubKey]bool, len(b.Accounts))
	for _, a := range b.Accounts {
		if !a.Valid() {
			return Errorf(ErrInvalid, "account %s is not a valid point", a)
		}
		if seen[a] {
			return Errorf(ErrInvalid, "account %s listed twice", a)
		}
		seen[a] = true
	}
	return nil
}

func (b *Enrol) encode(w *writer) { w.u64(b.Nonce) }
func (b *Enrol) decode(r *reader) { b.Nonce = r.u64("nonce") }
func (b *Enrol) validate() error  { return nil } // the work's difficulty is state

const enrolDomain = "resilientrecords/ledger/enrol/v1\x00"

// EnrolWork is the hash whose leading zero bits prove an Enrol's work: bound to the chain and
// the signer, so work done for one account or chain serves no other.
func EnrolWork(chainID string, signer PubKey, nonce uint64) Hash32 {
	return sha256.Sum256(signingBytes(enrolDomain, chainID, func(w *writer) {
		w.raw(signer[:])
		w.u64(nonce)
	}))
}

// LeadingZeros counts the leading zero bits of h.
func LeadingZeros(h Hash32) int {
	n := 0
	for i := 0; i < len(h); i += 8 {
		v := binary.BigEndian.Uint64(h[i:])
		n += bits.LeadingZeros64(v)
		if v != 0 {
			break
		}
	}
	return n
}

// SolveEnrol finds a nonce whose EnrolWork has want leading zero bits: about 2^want hashes.
func SolveEnrol(ctx context.Context, chainID string, signer PubKey, want int) (uint64, error) {
	for nonce := uint64(0); ; nonce++ {
		if nonce&0xffff == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if LeadingZeros(EnrolWork(chainID, signer, nonce)) >= want {
			return nonce, nil
		}
	}
}

// Allowance is what one account may keep in the ledger at once, or what it keeps (usage).
type Allowance struct {
	Records uint64 `json:"records"` // live (not erased) records
	Bytes   uint64 `json:"bytes"`   // sealed bytes of those records
	Grants  uint64 `json:"grants"`  // live grants: not revoked, not expired
}

// Fits says whether usage u stays within a.
func (a Allowance) Fits(u Allowance) bool {
	return u.Records <= a.Records && u.Bytes <= a.Bytes && u.Grants <= a.Grants
}

// AdmissionRules are the network's admission parameters, fixed at genesis.
type AdmissionRules struct {
	// EnrolBits is the proof of work of a self-service Enrol; 0 turns self-service off, so
	// only operators admit.
	EnrolBits uint8     `json:"enrol_bits"`
	Self      Allowance `json:"self"`
	Member    Allowance `json:"member"`
	// SelfPool bounds what all self-tier accounts keep together: proof of work makes an
	// account cost something, not nothing, so the pool and not the per-account allowance is
	// what bounds a node's disk against someone with many cores. Members are vetted by
	// operators, one by one.
	SelfPool Allowance `json:"self_pool"`
}

// DefaultAdmission is what the node's tools write into a new genesis: self-service with about
// a million hashes of work (a second or less once per account), room on the self tier for a
// patient's documents and the grants of a few years of care, members (a clinic's staff and
// the patients it enrols, imaging included) with a hundred times that, and a pool that
// bounds the whole self tier.
var DefaultAdmission = AdmissionRules{
	EnrolBits: 20,
	Self:      Allowance{Records: 500, Bytes: 256 << 20, Grants: 2000},
	Member:    Allowance{Records: 50_000, Bytes: 25 << 30, Grants: 200_000},
	SelfPool:  Allowance{Records: 1_000_000, Bytes: 64 << 30, Grants: 4_000_000},
}

// Of is the allowance of a tier.
func (r *AdmissionRules) Of(tier uint8) Allowance {
	if tier == TierMember {
		return r.Member
	}
	return r.Self
}

// Validate checks the rules are usable.
func (r *AdmissionRules) Validate() error {
	if r.EnrolBits > MaxEnrolBits {
		return Errorf(ErrInvalid, "enrol_bits %d above %d", r.EnrolBits, MaxEnrolBits)
	}
	return nil
}

func (a *Allowance) encode(w *writer) {
	w.u64(a.Records)
	w.u64(a.Bytes)
	w.u64(a.Grants)
}

func (a *Allowance) decode(r *reader) {
	a.Records = r.u64("records")
	a.Bytes = r.u64("bytes")
	a.Grants = r.u64("grants")
}

func (r *AdmissionRules) MarshalBinary() ([]byte, error) {
	w := newWriter(64)
	w.u8(stateVersion)
	w.u8(r.EnrolBits)
	r.Self.encode(w)
	r.Member.encode(w)
	r.SelfPool.encode(w)
	return w.finish(), nil
}

func (r *AdmissionRules) UnmarshalBinary(b []byte) error {
	rd := newReader(b)
	rd.version("admission rules")
	r.EnrolBits = rd.u8("enrol bits")
	r.Self.decode(rd)
	r.Member.decode(rd)
	r.SelfPool.decode(rd)
	return rd.finish()
}

// Account is an admitted account: how, and what it keeps. Usage is state; Allowance and
// Tier's name are filled in by queries.
type Account struct {
	Key    PubKey  `json:"key"`
	Tier   uint8   `json:"tier"`
	By     *PubKey `json:"by,omitempty"` // the operator's proxy key; nil for a self enrolment
	Height int64   `json:"height"`       // the block that admitted it

	Usage     Allowance `json:"usage"`
	TierName  string    `json:"tier_name,omitempty"`
	Allowance Allowance `json:"allowance"`
}

func (a *Account) MarshalBinary() ([]byte, error) {
	w := newWriter(96)
	w.u8(stateVersion)
	w.raw(a.Key[:])
	w.u8(a.Tier)
	w.bool(a.By != nil)
	if a.By != nil {
		w.raw(a.By[:])
	}
	w.i64(a.Height)
	a.Usage.encode(w)
	return w.finish(), nil
}

func (a *Account) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("account")
	r.fixed(a.Key[:], "key")
	a.Tier = r.u8("tier")
	a.By = nil
	if r.bool("by present") {
		a.By = new(PubKey)
		r.fixed(a.By[:], "by")
	}
	a.Height = r.i64("height")
	a.Usage.decode(r)
	return r.finish()
}
