package protocol

// Issued records (SPEC.md §19). A subject opens an inbox by publishing one-time delegating
// public keys, one per slot (OpenInbox); an issuer seals a record under one open slot's key
// and registers it for the subject (Issue): the record is the subject's, its delegating key the
// slot's, and it waits in the subject's inbox until the subject accepts it (AcceptIssued) or
// erases it.

const (
	TxOpenInbox    TxType = 21
	TxIssue        TxType = 22
	TxAcceptIssued TxType = 23
)

// MaxOpenSlots bounds the open, unused slots of one subject: how many records others may
// write into its space before it looks.
const MaxOpenSlots = 64

// Audit kinds of issued records.
const (
	// AuditIssued: an issuer registered a record for its subject; Actor is the issuer.
	AuditIssued = "issued"
	// AuditAccepted: the subject took the record out of its inbox.
	AuditAccepted = "accepted"
)

// OpenInbox publishes the delegating public keys of slots FirstSlot, FirstSlot+1, …, one
// per key: MakeFactory("rrec/inbox/v1").MakeKey(slot) of the signer's seed. FirstSlot must be
// the signer's next slot. With Issuer set only that account may issue into these slots;
// without it any admitted account may.
type OpenInbox struct {
	FirstSlot uint32
	Keys      []PubKey
	Issuer    *PubKey
}

// Issue registers a record, sealed under the subject's open slot Slot, owned by Subject.
type Issue struct {
	Subject PubKey // the subject's signing key: its account
	Slot    uint32
	CID     []byte
	Size    uint64
	Capsule CapsuleBytes
}

// AcceptIssued takes an issued record out of its subject's inbox: from then on the subject
// may grant it.
type AcceptIssued struct{ Record ID }

func (*OpenInbox) Type() TxType    { return TxOpenInbox }
func (*Issue) Type() TxType        { return TxIssue }
func (*AcceptIssued) Type() TxType { return TxAcceptIssued }

func (b *OpenInbox) encode(w *writer) {
	w.b.AddUint32(b.FirstSlot)
	w.u8(uint8(len(b.Keys)))
	for _, k := range b.Keys {
		w.raw(k[:])
	}
	optional(w, b.Issuer)
}

func (b *OpenInbox) decode(r *reader) {
	b.FirstSlot = readU32(r, "first slot")
	n := int(r.u8("key count"))
	if n > MaxOpenSlots {
		r.fail("%d keys, limit %d", n, MaxOpenSlots)
		return
	}
	b.Keys = make([]PubKey, n)
	for i := 0; i < n && r.err == nil; i++ {
		r.fixed(b.Keys[i][:], "slot key")
	}
	b.Issuer = readOptional[PubKey](r, "issuer")
}

func (b *OpenInbox) validate() error {
	if len(b.Keys) == 0 || len(b.Keys) > MaxOpenSlots {
		return Errorf(ErrInvalid, "an inbox opens 1..%d slots", MaxOpenSlots)
	}
	if uint64(b.FirstSlot)+uint64(len(b.Keys)) > 1<<32 {
		return Errorf(ErrInvalid, "slot numbers past 2³²−1")
	}
	if b.Issuer != nil && !b.Issuer.Valid() {
		return Errorf(ErrInvalid, "issuer is not a valid point")
	}
	seen := map[PubKey]bool{}
	for _, k := range b.Keys {
		if !k.Valid() {
			return Errorf(ErrInvalid, "a slot key is not a valid point")
		}
		if seen[k] {
			return Errorf(ErrInvalid, "a slot key is listed twice: each opens one record")
		}
		seen[k] = true
	}
	return nil
}

func (b *Issue) encode(w *writer) {
	w.raw(b.Subject[:])
	w.b.AddUint32(b.Slot)
	w.bytes(b.CID)
	w.u64(b.Size)
	w.raw(b.Capsule[:])
}

func (b *Issue) decode(r *reader) {
	r.fixed(b.Subject[:], "subject")
	b.Slot = readU32(r, "slot")
	b.CID = r.bytes(MaxCIDBytes, "cid")
	b.Size = r.u64("size")
	r.fixed(b.Capsule[:], "capsule")
}

func (b *Issue) validate() error {
	if !b.Subject.Valid() {
		return Errorf(ErrInvalid, "subject is not a valid point")
	}
	if len(b.CID) == 0 || len(b.CID) > MaxCIDBytes || !printableASCII(b.CID) {
		return Errorf(ErrInvalid, "cid must be the text form of a CID: 1..%d printable ASCII bytes", MaxCIDBytes)
	}
	if !validCapsule(b.Capsule[:]) {
		return Errorf(ErrInvalid, "capsule does not verify")
	}
	return nil
}

func (b *AcceptIssued) encode(w *writer) { w.raw(b.Record[:]) }
func (b *AcceptIssued) decode(r *reader) { r.fixed(b.Record[:], "record id") }
func (b *AcceptIssued) validate() error  { return nil }

// InboxState is a subject's inbox: the number of its next slot and how many of its slots are
// open and unused. In query answers Slots lists those, in slot order.
type InboxState struct {
	Next  uint32      `json:"next"`
	Open  uint16      `json:"open"`
	Slots []InboxSlot `json:"slots,omitempty"` // filled in by queries, never encoded
}

// InboxSlot is one open, unused slot and its one-time delegating public key, and the one
// account that may issue into it when the subject opened it for one.
type InboxSlot struct {
	Slot   uint32  `json:"slot"`
	Key    PubKey  `json:"key"`
	Issuer *PubKey `json:"issuer,omitempty"`
}

// OpenTo reports whether issuer may issue into the slot.
func (s *InboxSlot) OpenTo(issuer PubKey) bool { return s.Issuer == nil || *s.Issuer == issuer }

// IssuedState marks a record as issued: who issued it into which of its subject's slots, and
// whether the subject accepted it.
type IssuedState struct {
	Issuer         PubKey `json:"issuer"`
	Slot           uint32 `json:"slot"`
	Accepted       bool   `json:"accepted"`
	AcceptedHeight int64  `json:"accepted_height,omitempty"`
}

// InboxEntry is a pending issued record as the inbox query lists it.
type InboxEntry struct {
	Record *Record `json:"record"`
}

func (s *InboxState) MarshalBinary() ([]byte, error) {
	w := newWriter(8)
	w.u8(stateVersion)
	w.b.AddUint32(s.Next)
	w.b.AddUint16(s.Open)
	return w.finish(), nil
}

func (s *InboxState) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("inbox")
	*s = InboxState{Next: readU32(r, "next slot")}
	s.Open = readU16(r, "open slots")
	if r.err == nil && s.Open > MaxOpenSlots {
		r.fail("%d open slots, limit %d", s.Open, MaxOpenSlots)
	}
	return r.finish()
}

func (s *IssuedState) MarshalBinary() ([]byte, error) {
	w := newWriter(56)
	w.u8(stateVersion)
	w.raw(s.Issuer[:])
	w.b.AddUint32(s.Slot)
	w.bool(s.Accepted)
	w.i64(s.AcceptedHeight)
	return w.finish(), nil
}

func (s *IssuedState) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("issued")
	*s = IssuedState{}
	r.fixed(s.Issuer[:], "issuer")
	s.Slot = readU32(r, "slot")
	s.Accepted = r.bool("accepted")
	s.AcceptedHeight = r.i64("accepted height")
	return r.finish()
}

// readU32 and readU16 read the fixed-width integers only issued records use.
func readU32(r *reader, what string) uint32 {
	var v uint32
	if r.err == nil && !r.s.ReadUint32(&v) {
		r.fail("truncated %s", what)
	}
	return v
}

func readU16(r *reader, what string) uint16 {
	var v uint16
	if r.err == nil && !r.s.ReadUint16(&v) {
		r.fail("truncated %s", what)
	}
	return v
}
