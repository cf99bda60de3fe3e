package protocol

// PutRecord registers a sealed record owned by the signer.
type PutRecord struct {
	CID           []byte // content address of the sealed ciphertext, text form
	Size          uint64 // size of the sealed ciphertext in bytes
	Capsule       CapsuleBytes
	DelegatingKey PubKey // the record's Umbral delegating public key
}

// GrantNode is one proxy of a grant and the commitment (Commitment) of the key fragment the
// owner deposits with it.
type GrantNode struct {
	Proxy      PubKey `json:"proxy"`
	Commitment Hash32 `json:"commitment"`
}

// Grant lets a recipient have a record re-encrypted by Threshold of Nodes.
type Grant struct {
	Record       ID
	OwnerEnc     PubKey // the owner's receiving key: with the signer, the owner's public identity
	RecipientSig PubKey // recipient's signing key: signs RequestAccess
	RecipientEnc PubKey // recipient's receiving (Umbral) key
	Threshold    uint8  // 0 means DefaultThreshold (2f+1 of a grant on the whole registry)
	Nodes        []GrantNode
	NotBefore    int64 // unix nanoseconds of block time; 0 = no lower bound
	NotAfter     int64 // unix nanoseconds of block time; 0 = never expires
	Purpose      string
}

// Revoke ends a grant. Only the record's owner may revoke.
type Revoke struct{ Grant ID }

// RequestAccess records, before any re-encryption, that the grant's recipient asks for the
// record and why.
type RequestAccess struct {
	Grant   ID
	Purpose string
}

// EraseRecord erases a record: every grant of it is revoked, every node deletes the blob,
// and the ledger keeps a tombstone. Only the owner may.
type EraseRecord struct{ Record ID }

// HoldsBlob is a node's report, signed with its proxy key, that its store holds the blob of
// Record (every block, verified).
type HoldsBlob struct{ Record ID }

// FragmentDestroyed is a grant node's report, signed with its proxy key, that it holds no key
// fragment of Grant any more (it deleted it, or never held one) now that the grant ended.
type FragmentDestroyed struct{ Grant ID }

func (*PutRecord) Type() TxType         { return TxPutRecord }
func (*Grant) Type() TxType             { return TxGrant }
func (*Revoke) Type() TxType            { return TxRevoke }
func (*RequestAccess) Type() TxType     { return TxRequestAccess }
func (*EraseRecord) Type() TxType       { return TxEraseRecord }
func (*HoldsBlob) Type() TxType         { return TxHoldsBlob }
func (*FragmentDestroyed) Type() TxType { return TxFragmentDestroyed }

func (b *PutRecord) encode(w *writer) {
	w.bytes(b.CID)
	w.u64(b.Size)
	w.raw(b.Capsule[:])
	w.raw(b.DelegatingKey[:])
}

func (b *PutRecord) decode(r *reader) {
	b.CID = r.bytes(MaxCIDBytes, "cid")
	b.Size = r.u64("size")
	r.fixed(b.Capsule[:], "capsule")
	r.fixed(b.DelegatingKey[:], "delegating key")
}

func (b *PutRecord) validate() error {
	if len(b.CID) == 0 || len(b.CID) > MaxCIDBytes || !printableASCII(b.CID) {
		return Errorf(ErrInvalid, "cid must be the text form of a CID: 1..%d printable ASCII bytes", MaxCIDBytes)
	}
	if !validCapsule(b.Capsule[:]) {
		return Errorf(ErrInvalid, "capsule does not verify")
	}
	if !b.DelegatingKey.Valid() {
		return Errorf(ErrInvalid, "delegating key is not a valid point")
	}
	return nil
}

func (b *Grant) encode(w *writer) {
	w.raw(b.Record[:])
	w.raw(b.OwnerEnc[:])
	w.raw(b.RecipientSig[:])
	w.raw(b.RecipientEnc[:])
	w.u8(b.Threshold)
	writeGrantNodes(w, b.Nodes)
	w.i64(b.NotBefore)
	w.i64(b.NotAfter)
	w.str(b.Purpose)
}

func (b *Grant) decode(r *reader) {
	r.fixed(b.Record[:], "record id")
	r.fixed(b.OwnerEnc[:], "owner receiving key")
	r.fixed(b.RecipientSig[:], "recipient signing key")
	r.fixed(b.RecipientEnc[:], "recipient receiving key")
	b.Threshold = r.u8("threshold")
	b.Nodes = readGrantNodes(r)
	b.NotBefore = r.i64("not before")
	b.NotAfter = r.i64("not after")
	b.Purpose = r.str(MaxPurpose, "purpose")
}

// DefaultThreshold is the threshold of a grant on n nodes of a registry of registry nodes:
// n − f with f = FaultTolerance(registry), the most that f failing nodes still leave — 2f+1
// of n = 3f+1 for a grant on the whole registry, so that f Byzantine nodes that keep revoked
// fragments plus f stale ones cannot reach it. At least 1.
func DefaultThreshold(n, registry int) int {
	return max(1, n-FaultTolerance(registry))
}

// EffectiveThreshold resolves a zero threshold to the default for a registry of registry
// nodes.
func (b *Grant) EffectiveThreshold(registry int) int {
	if b.Threshold == 0 {
		return DefaultThreshold(len(b.Nodes), registry)
	}
	return int(b.Threshold)
}

func (b *Grant) validate() error {
	// The registry's size is state; the ledger checks the threshold against it (Tolerates).
	if err := validateNodes(b.Nodes, b.Threshold); err != nil {
		return err
	}
	if !b.RecipientSig.Valid() || !b.RecipientEnc.Valid() {
		return Errorf(ErrInvalid, "recipient key is not a valid point")
	}
	if !b.OwnerEnc.Valid() {
		return Errorf(ErrInvalid, "owner receiving key is not a valid point")
	}
	if b.NotBefore < 0 || b.NotAfter < 0 {
		return Errorf(ErrInvalid, "negative time bound")
	}
	if b.NotAfter != 0 && b.NotAfter <= b.NotBefore {
		return Errorf(ErrInvalid, "not-after must be later than not-before")
	}
	return validText(b.Purpose)
}

func (b *Revoke) encode(w *writer)            { w.raw(b.Grant[:]) }
func (b *Revoke) decode(r *reader)            { r.fixed(b.Grant[:], "grant id") }
func (b *Revoke) validate() error             { return nil }
func (b *EraseRecord) encode(w *writer)       { w.raw(b.Record[:]) }
func (b *EraseRecord) decode(r *reader)       { r.fixed(b.Record[:], "record id") }
func (b *EraseRecord) validate() error        { return nil }
func (b *HoldsBlob) encode(w *writer)         { w.raw(b.Record[:]) }
func (b *HoldsBlob) decode(r *reader)         { r.fixed(b.Record[:], "record id") }
func (b *HoldsBlob) validate() error          { return nil }
func (b *FragmentDestroyed) encode(w *writer) { w.raw(b.Grant[:]) }
func (b *FragmentDestroyed) decode(r *reader) { r.fixed(b.Grant[:], "grant id") }
func (b *FragmentDestroyed) validate() error  { return nil }

func (b *RequestAccess) encode(w *writer) {
	w.raw(b.Grant[:])
	w.str(b.Purpose)
}

func (b *RequestAccess) decode(r *reader) {
	r.fixed(b.Grant[:], "grant id")
	b.Purpose = r.str(MaxPurpose, "purpose")
}

func (b *RequestAccess) validate() error { return validText(b.Purpose) }

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// FaultTolerance is f = ⌊(n−1)/3⌋: how many of n nodes may fail, or lie, without the network
// losing safety.
func FaultTolerance(n int) int {
	if n <= 0 {
		return 0
	}
	return (n - 1) / 3
}

// Tolerates says whether a grant of threshold t on n of a registry's size nodes survives f
// faulty nodes, f = FaultTolerance(size): f of them cannot re-encrypt alone (t > f), and f
// of them failing still leaves t (n ≥ t + f).
func Tolerates(size, n, t int) error {
	f := FaultTolerance(size)
	switch {
	case t <= f:
		return Errorf(ErrInvalid, "threshold %d does not exceed f = %d of the %d-node registry: %d nodes could re-encrypt on their own", t, f, size, t)
	case n < t+f:
		return Errorf(ErrInvalid, "%d nodes with threshold %d: %d failing nodes (f of the %d-node registry) would leave fewer than %d", n, t, f, size, t)
	}
	return nil
}
