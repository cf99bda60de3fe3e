package protocol

// Values of the ledger's state. Each has a canonical binary encoding (SPEC.md §5): it is
// what the ledger stores and what the app hash covers, so two versions of the software agree
// on the chain exactly when they agree on these bytes. JSON is their form in query answers
// only.

// MaxNodeName and MaxAPIURL bound a registry entry's text fields.
const (
	MaxNodeName     = 64
	MaxAPIURL       = 256
	MaxValidatorKey = 64
)

// stateVersion leads every encoded state value, so that a later layout can be told apart.
const stateVersion = 1

// grantStateVersion is GrantState's: its layout gained the owner's receiving key (SPEC.md §14.2).
// A grant a caregiver made is written in version 3, which adds the caregiver (SPEC.md §16.2);
// every other grant keeps version 2, so states from before caregivers encode as they did.
const (
	grantStateVersion   = 2
	grantStateVersionBy = 3
)

// auditVersionFor is an AuditEntry's version when a caregiver acted for the record's owner:
// version 1 followed by the owner (SPEC.md §16.2).
const auditVersionFor = 2

// auditVersionCoSigned is an emergency entry's: version 1 followed by the co-signing
// clinician (SPEC.md §17.2).
const auditVersionCoSigned = 3

// Node is one entry of the node registry, fixed at genesis: a validator of the chain, a
// re-encryption proxy and a blob store, reachable at API.
type Node struct {
	Name         string   `json:"name"`
	API          string   `json:"api"`           // base URL of the node's HTTP API
	ProxyKey     PubKey   `json:"proxy_key"`     // secp256k1 re-encryption and report key
	ValidatorKey HexBytes `json:"validator_key"` // CometBFT consensus public key (ed25519)
	Power        int64    `json:"power"`         // voting power at genesis
}

// Record is a committed PutRecord.
type Record struct {
	ID            ID           `json:"id"`
	Owner         PubKey       `json:"owner"`
	CID           CIDText      `json:"cid"`
	Size          uint64       `json:"size"`
	Capsule       CapsuleBytes `json:"capsule"` // zero once erased
	DelegatingKey PubKey       `json:"delegating_key"`
	Height        int64        `json:"height"`
	Time          int64        `json:"time"` // block time, unix nanoseconds
	TxHash        Hash32       `json:"tx_hash"`

	// Filled in by queries from other keys, never encoded.
	Holders  []int      `json:"holders,omitempty"`  // registry indices of nodes that reported holding the blob
	Replicas int        `json:"replicas,omitempty"` // how many nodes should hold it
	Erased   *Tombstone `json:"erased,omitempty"`
	// Issued says who issued the record into its owner's inbox, nil for a record its owner put.
	Issued *IssuedState `json:"issued,omitempty"`
}

// GrantState is a committed grant and what has happened to it since.
type GrantState struct {
	ID            ID          `json:"id"`
	Record        ID          `json:"record"`
	Owner         PubKey      `json:"owner"`
	OwnerEnc      PubKey      `json:"owner_enc"`
	RecipientSig  PubKey      `json:"recipient_sig"`
	RecipientEnc  PubKey      `json:"recipient_enc"`
	Threshold     int         `json:"threshold"`
	Nodes         []GrantNode `json:"nodes"`
	NotBefore     int64       `json:"not_before"`
	NotAfter      int64       `json:"not_after"`
	Purpose       string      `json:"purpose"`
	Height        int64       `json:"height"`
	Time          int64       `json:"time"`
	TxHash        Hash32      `json:"tx_hash"`
	Revoked       bool        `json:"revoked"`
	RevokedHeight int64       `json:"revoked_height,omitempty"`
	Expired       bool        `json:"expired"`
	ExpiredHeight int64       `json:"expired_height,omitempty"`
	// By is the caregiver that made the grant for Owner under a delegation (SPEC.md §16), nil
	// when the owner made it. It signed the grant's key fragments.
	By *PubKey `json:"by,omitempty"`

	// Filled in by queries, never encoded: registry indices of the grant's nodes that
	// reported holding no fragment any more (FragmentDestroyed), ascending.
	Destroyed []int `json:"destroyed,omitempty"`
}

// FragmentSigner is the key the grant's key fragments are signed with: the caregiver's that
// made the grant, else the owner's.
func (g *GrantState) FragmentSigner() PubKey {
	if g.By != nil {
		return *g.By
	}
	return g.Owner
}

// LiveAt reports whether the grant may be used at block time t (unix ns): not revoked, not
// marked expired, and NotBefore ≤ t < NotAfter.
func (g *GrantState) LiveAt(t int64) error {
	switch {
	case g.Revoked:
		return ErrGrantRevoked
	case g.Expired || (g.NotAfter != 0 && t >= g.NotAfter):
		return ErrGrantExpired
	case t < g.NotBefore:
		return ErrNotYetValid
	}
	return nil
}

// Audit entry kinds.
const (
	AuditPut     = "put"
	AuditGrant   = "grant"
	AuditRequest = "request"
	AuditRevoke  = "revoke"
	AuditExpire  = "expire"
	AuditErase   = "erase"
	AuditHolds   = "holds"
	// AuditDestroyed: a grant node reported that it holds no fragment of the grant any more.
	AuditDestroyed = "destroyed"
	// The steps of recovery by guardians (SPEC.md §15), in the log of the record that holds
	// the sealed identity, each with the recovery grant.
	AuditRecoverySetup   = "recovery_setup"
	AuditRecoveryStart   = "recovery_start"
	AuditRecoveryApprove = "recovery_approve"
	AuditRecoveryCancel  = "recovery_cancel"
	// AuditRecoveryFinish is what the nodes look for before they re-encrypt for a recovery,
	// as AuditRequest for a grant.
	AuditRecoveryFinish = "recovery_finish"
	// AuditEmergency is a committed break-glass request (SPEC.md §17): Actor is the
	// requesting clinician, CoSigner the second, Purpose the stated reason. The nodes look
	// for it before they re-encrypt under an emergency grant.
	AuditEmergency = "emergency"
)

// auditKinds fixes each kind's byte in the encoding; the order never changes.
var auditKinds = []string{"", AuditPut, AuditGrant, AuditRequest, AuditRevoke, AuditExpire, AuditErase, AuditHolds, AuditDestroyed,
	AuditRecoverySetup, AuditRecoveryStart, AuditRecoveryApprove, AuditRecoveryCancel, AuditRecoveryFinish, AuditEmergency,
	"", "", AuditIssued, AuditAccepted, // 15 and 16 are reserved
	AuditStreamCreate, AuditStreamGrant, AuditStreamErase}

// AuditKinds lists every kind of audit entry the ledger writes, in the order of their bytes,
// so that what shows an audit log can check it knows them all.
func AuditKinds() []string {
	var out []string
	for _, k := range auditKinds {
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

// AuditEntry is one line of a record's audit log.
type AuditEntry struct {
	Kind    string  `json:"kind"`
	Record  ID      `json:"record"`
	Grant   *ID     `json:"grant,omitempty"`
	Actor   *PubKey `json:"actor,omitempty"` // absent for expiries
	Purpose string  `json:"purpose,omitempty"`
	Height  int64   `json:"height"`
	Time    int64   `json:"time"`
	TxHash  *Hash32 `json:"tx_hash,omitempty"`
	// For is the record's owner when Actor is a caregiver acting for it (SPEC.md §16).
	For *PubKey `json:"for,omitempty"`
	// CoSigner is the second clinician of an emergency entry (SPEC.md §17).
	CoSigner *PubKey `json:"cosigner,omitempty"`
}

// RequestRef is a committed RequestAccess as the /request query finds it: the record, the
// position of its entry in the record's audit log, and the entry.
type RequestRef struct {
	Record ID         `json:"record"`
	Index  uint64     `json:"index"`
	Entry  AuditEntry `json:"entry"`
}

// Tombstone is what the ledger keeps of an erased record: evidence of what was erased and
// when, without the capsule.
type Tombstone struct {
	Record ID      `json:"record"`
	CID    CIDText `json:"cid"`
	Height int64   `json:"height"`
	Time   int64   `json:"time"` // block time, unix nanoseconds
	TxHash Hash32  `json:"tx_hash"`
}

// MarshalBinary encodes the registry entry.
func (n *Node) MarshalBinary() ([]byte, error) {
	if len(n.Name) > MaxNodeName || len(n.API) > MaxAPIURL || len(n.ValidatorKey) > MaxValidatorKey {
		return nil, Errorf(ErrInvalid, "registry entry %q has an over-long field", n.Name)
	}
	w := newWriter(160)
	w.u8(stateVersion)
	w.str(n.Name)
	w.str(n.API)
	w.raw(n.ProxyKey[:])
	w.bytes(n.ValidatorKey)
	w.i64(n.Power)
	return w.finish(), nil
}

func (n *Node) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("node")
	n.Name = r.str(MaxNodeName, "name")
	n.API = r.str(MaxAPIURL, "api")
	r.fixed(n.ProxyKey[:], "proxy key")
	n.ValidatorKey = r.bytes(MaxValidatorKey, "validator key")
	n.Power = r.i64("power")
	return r.finish()
}

// MarshalBinary encodes the stored fields (not Holders, Replicas, Erased).
func (rec *Record) MarshalBinary() ([]byte, error) {
	if len(rec.CID) > MaxCIDBytes {
		return nil, Errorf(ErrInvalid, "cid longer than %d bytes", MaxCIDBytes)
	}
	w := newWriter(300)
	w.u8(stateVersion)
	w.raw(rec.ID[:])
	w.raw(rec.Owner[:])
	w.bytes(rec.CID)
	w.u64(rec.Size)
	w.raw(rec.Capsule[:])
	w.raw(rec.DelegatingKey[:])
	w.i64(rec.Height)
	w.i64(rec.Time)
	w.raw(rec.TxHash[:])
	return w.finish(), nil
}

func (rec *Record) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("record")
	*rec = Record{}
	r.fixed(rec.ID[:], "id")
	r.fixed(rec.Owner[:], "owner")
	rec.CID = r.bytes(MaxCIDBytes, "cid")
	rec.Size = r.u64("size")
	r.fixed(rec.Capsule[:], "capsule")
	r.fixed(rec.DelegatingKey[:], "delegating key")
	rec.Height = r.i64("height")
	rec.Time = r.i64("time")
	r.fixed(rec.TxHash[:], "tx hash")
	return r.finish()
}

func (g *GrantState) MarshalBinary() ([]byte, error) {
	if len(g.Nodes) > MaxGrantNodes || g.Threshold < 0 || g.Threshold > MaxGrantNodes || len(g.Purpose) > MaxPurpose {
		return nil, Errorf(ErrInvalid, "grant state out of bounds")
	}
	w := newWriter(300 + 65*len(g.Nodes))
	if g.By != nil {
		w.u8(grantStateVersionBy)
	} else {
		w.u8(grantStateVersion)
	}
	w.raw(g.ID[:])
	w.raw(g.Record[:])
	w.raw(g.Owner[:])
	w.raw(g.OwnerEnc[:])
	w.raw(g.RecipientSig[:])
	w.raw(g.RecipientEnc[:])
	w.u8(uint8(g.Threshold))
	w.u8(uint8(len(g.Nodes)))
	for _, n := range g.Nodes {
		w.raw(n.Proxy[:])
		w.raw(n.Commitment[:])
	}
	w.i64(g.NotBefore)
	w.i64(g.NotAfter)
	w.str(g.Purpose)
	w.i64(g.Height)
	w.i64(g.Time)
	w.raw(g.TxHash[:])
	w.bool(g.Revoked)
	w.i64(g.RevokedHeight)
	w.bool(g.Expired)
	w.i64(g.ExpiredHeight)
	if g.By != nil {
		w.raw(g.By[:])
	}
	return w.finish(), nil
}

func (g *GrantState) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	*g = GrantState{}
	v := r.u8("grant version")
	if r.err == nil && v != grantStateVersion && v != grantStateVersionBy {
		r.fail("grant version %d, want %d or %d", v, grantStateVersion, grantStateVersionBy)
	}
	r.fixed(g.ID[:], "id")
	r.fixed(g.Record[:], "record")
	r.fixed(g.Owner[:], "owner")
	r.fixed(g.OwnerEnc[:], "owner receiving key")
	r.fixed(g.RecipientSig[:], "recipient signing key")
	r.fixed(g.RecipientEnc[:], "recipient receiving key")
	g.Threshold = int(r.u8("threshold"))
	if g.Threshold > MaxGrantNodes {
		r.fail("threshold %d, limit %d", g.Threshold, MaxGrantNodes)
	}
	n := int(r.u8("node count"))
	if n > MaxGrantNodes {
		r.fail("%d nodes, limit %d", n, MaxGrantNodes)
	}
	for i := 0; i < n && r.err == nil; i++ {
		var gn GrantNode
		r.fixed(gn.Proxy[:], "node proxy key")
		r.fixed(gn.Commitment[:], "kfrag commitment")
		g.Nodes = append(g.Nodes, gn)
	}
	g.NotBefore = r.i64("not before")
	g.NotAfter = r.i64("not after")
	g.Purpose = r.str(MaxPurpose, "purpose")
	g.Height = r.i64("height")
	g.Time = r.i64("time")
	r.fixed(g.TxHash[:], "tx hash")
	g.Revoked = r.bool("revoked")
	g.RevokedHeight = r.i64("revoked height")
	g.Expired = r.bool("expired")
	g.ExpiredHeight = r.i64("expired height")
	if v == grantStateVersionBy {
		g.By = new(PubKey)
		r.fixed(g.By[:], "by")
	}
	return r.finish()
}

func (e *AuditEntry) MarshalBinary() ([]byte, error) {
	kind := indexOf(auditKinds, e.Kind)
	if kind <= 0 || len(e.Purpose) > MaxPurpose {
		return nil, Errorf(ErrInvalid, "audit entry of kind %q", e.Kind)
	}
	if e.For != nil && e.CoSigner != nil || (e.CoSigner != nil) != (e.Kind == AuditEmergency) {
		return nil, Errorf(ErrInvalid, "audit entry of kind %q: only an emergency entry is co-signed, and it is never for an owner", e.Kind)
	}
	w := newWriter(240)
	switch {
	case e.For != nil:
		w.u8(auditVersionFor)
	case e.CoSigner != nil:
		w.u8(auditVersionCoSigned)
	default:
		w.u8(stateVersion)
	}
	w.u8(uint8(kind))
	w.raw(e.Record[:])
	optional(w, e.Grant)
	optional(w, e.Actor)
	w.str(e.Purpose)
	w.i64(e.Height)
	w.i64(e.Time)
	optional(w, e.TxHash)
	if e.For != nil {
		w.raw(e.For[:])
	}
	if e.CoSigner != nil {
		w.raw(e.CoSigner[:])
	}
	return w.finish(), nil
}

func (e *AuditEntry) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	*e = AuditEntry{}
	v := r.u8("audit entry version")
	if r.err == nil && v != stateVersion && v != auditVersionFor && v != auditVersionCoSigned {
		r.fail("audit entry version %d, want %d, %d or %d", v, stateVersion, auditVersionFor, auditVersionCoSigned)
	}
	kind := int(r.u8("kind"))
	if r.err == nil && (kind == 0 || kind >= len(auditKinds) || auditKinds[kind] == "") {
		r.fail("audit kind %d", kind)
	}
	if r.err == nil {
		e.Kind = auditKinds[kind]
	}
	r.fixed(e.Record[:], "record")
	e.Grant = readOptional[ID](r, "grant")
	e.Actor = readOptional[PubKey](r, "actor")
	e.Purpose = r.str(MaxPurpose, "purpose")
	e.Height = r.i64("height")
	e.Time = r.i64("time")
	e.TxHash = readOptional[Hash32](r, "tx hash")
	if v == auditVersionFor {
		e.For = new(PubKey)
		r.fixed(e.For[:], "for")
	}
	if v == auditVersionCoSigned {
		e.CoSigner = new(PubKey)
		r.fixed(e.CoSigner[:], "co-signer")
	}
	if r.err == nil && (v == auditVersionCoSigned) != (e.Kind == AuditEmergency) {
		r.fail("audit entry version %d of kind %q: only an emergency entry is co-signed", v, e.Kind)
	}
	return r.finish()
}

func (t *Tombstone) MarshalBinary() ([]byte, error) {
	if len(t.CID) > MaxCIDBytes {
		return nil, Errorf(ErrInvalid, "cid longer than %d bytes", MaxCIDBytes)
	}
	w := newWriter(220)
	w.u8(stateVersion)
	w.raw(t.Record[:])
	w.bytes(t.CID)
	w.i64(t.Height)
	w.i64(t.Time)
	w.raw(t.TxHash[:])
	return w.finish(), nil
}

func (t *Tombstone) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("tombstone")
	*t = Tombstone{}
	r.fixed(t.Record[:], "record")
	t.CID = r.bytes(MaxCIDBytes, "cid")
	t.Height = r.i64("height")
	t.Time = r.i64("time")
	r.fixed(t.TxHash[:], "tx hash")
	return r.finish()
}

func (r *reader) version(what string) { r.versionOf(what, stateVersion) }

func (r *reader) versionOf(what string, want uint8) {
	if v := r.u8(what + " version"); r.err == nil && v != want {
		r.fail("%s version %d, want %d", what, v, want)
	}
}

// optional writes a presence byte and, when present, the fixed-size value.
func optional[T ID | PubKey | Hash32](w *writer, v *T) {
	w.bool(v != nil)
	if v != nil {
		switch x := any(v).(type) {
		case *ID:
			w.raw(x[:])
		case *PubKey:
			w.raw(x[:])
		case *Hash32:
			w.raw(x[:])
		}
	}
}

func readOptional[T ID | PubKey | Hash32](r *reader, what string) *T {
	if !r.bool(what + " present") {
		return nil
	}
	v := new(T)
	switch x := any(v).(type) {
	case *ID:
		r.fixed(x[:], what)
	case *PubKey:
		r.fixed(x[:], what)
	case *Hash32:
		r.fixed(x[:], what)
	}
	return v
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
