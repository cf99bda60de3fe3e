package protocol

import "time"

// Recovery by guardians (SPEC.md §15): an owner names guardians and a waiting period
// (RecoverySetup); a new device asks to recover the owner's identity (RecoveryStart); the
// guardians approve, each handing the device its share of the recovery key (RecoveryApprove);
// the owner may cancel with the old key (RecoveryCancel); once enough guardians approved and
// the waiting period passed, the device commits RecoveryFinish, which the nodes require
// before they re-encrypt the sealed identity for it.

const (
	TxRecoverySetup   TxType = 12
	TxRecoveryStart   TxType = 13
	TxRecoveryApprove TxType = 14
	TxRecoveryCancel  TxType = 15
	TxRecoveryFinish  TxType = 16
)

// Bounds of recovery.
const (
	// MaxGuardians bounds a setup's guardians, so that a setup on the whole of a 64-node
	// registry fits in MaxTxBytes.
	MaxGuardians = 10
	// MaxShareBox bounds a sealed share: a capsule and a DEM ciphertext of a share and what
	// it is bound to (package recovery).
	MaxShareBox = 256
	// MinRecoveryDelay and MaxRecoveryDelay bound a setup's waiting period.
	MinRecoveryDelay = time.Second
	MaxRecoveryDelay = 90 * 24 * time.Hour
	// RecoveryLapse is how long a recovery process takes approvals after its start, and how
	// long its device may finish after the waiting period: a process nobody finishes does
	// not stay a standing threat the owner must watch.
	RecoveryLapse = 7 * 24 * time.Hour
)

// Guardian is one guardian of a setup: its public identity (signing key: its approvals;
// receiving key: what its share is sealed to) and its share, sealed to it.
type Guardian struct {
	Signing   PubKey   `json:"signing"`
	Receiving PubKey   `json:"receiving"`
	Share     HexBytes `json:"share"`
}

// RecoverySetup names the signer's guardians and makes its recovery grant: a grant of Record
// (which holds the owner's sealed identity) to the recovery key, usable only through a
// completed recovery process. It replaces the owner's previous setup.
type RecoverySetup struct {
	Record    ID
	OwnerEnc  PubKey      // the owner's receiving key, as a Grant's
	Threshold uint8       // of nodes, as a Grant's (0: the default)
	Nodes     []GrantNode // the recovery grant's nodes and fragment commitments
	Delay     int64       // the waiting period after the last needed approval, ns
	Guardians []Guardian
	// Commitments are Feldman commitments to the sharing polynomial, one per coefficient:
	// their count is how many guardians must approve, and the first is the recovery key, to
	// which the recovery grant re-encrypts.
	Commitments []PubKey
}

// RecoveryStart asks to recover Owner's identity onto the signer: a new device's fresh
// identity, whose receiving key DeviceEnc the guardians seal their shares to. Its
// transaction hash names the process.
type RecoveryStart struct {
	Owner     PubKey
	DeviceEnc PubKey
}

// RecoveryApprove is a guardian's approval of a process, with its share sealed to the
// process's device.
type RecoveryApprove struct {
	Process Hash32
	Share   []byte
}

// RecoveryCancel is the owner's cancellation of a process.
type RecoveryCancel struct{ Process Hash32 }

// RecoveryFinish is the device's completion of a process: once committed, the recovery
// grant's nodes re-encrypt the sealed identity for it, as for a RequestAccess.
type RecoveryFinish struct{ Process Hash32 }

func (*RecoverySetup) Type() TxType   { return TxRecoverySetup }
func (*RecoveryStart) Type() TxType   { return TxRecoveryStart }
func (*RecoveryApprove) Type() TxType { return TxRecoveryApprove }
func (*RecoveryCancel) Type() TxType  { return TxRecoveryCancel }
func (*RecoveryFinish) Type() TxType  { return TxRecoveryFinish }

// RecoveryKey is the key the recovery grant re-encrypts to: the first commitment.
func (b *RecoverySetup) RecoveryKey() PubKey {
	if len(b.Commitments) == 0 {
		return PubKey{}
	}
	return b.Commitments[0]
}

func (b *RecoverySetup) encode(w *writer) {
	w.raw(b.Record[:])
	w.raw(b.OwnerEnc[:])
	w.u8(b.Threshold)
	writeGrantNodes(w, b.Nodes)
	w.i64(b.Delay)
	w.u8(uint8(len(b.Commitments)))
	writeGuardians(w, b.Guardians)
	for _, c := range b.Commitments {
		w.raw(c[:])
	}
}

func (b *RecoverySetup) decode(r *reader) {
	r.fixed(b.Record[:], "record id")
	r.fixed(b.OwnerEnc[:], "owner receiving key")
	b.Threshold = r.u8("threshold")
	b.Nodes = readGrantNodes(r)
	b.Delay = r.i64("delay")
	k := int(r.u8("guardian threshold"))
	b.Guardians = readGuardians(r)
	if k > MaxGuardians {
		r.fail("guardian threshold %d, limit %d", k, MaxGuardians)
		return
	}
	b.Commitments = make([]PubKey, k)
	for i := 0; i < k && r.err == nil; i++ {
		r.fixed(b.Commitments[i][:], "commitment")
	}
}

func writeGrantNodes(w *writer, nodes []GrantNode) {
	w.u8(uint8(len(nodes)))
	for _, n := range nodes {
		w.raw(n.Proxy[:])
		w.raw(n.Commitment[:])
	}
}

func readGrantNodes(r *reader) []GrantNode {
	n := int(r.u8("node count"))
	if n > MaxGrantNodes {
		r.fail("%d nodes, limit %d", n, MaxGrantNodes)
		return nil
	}
	nodes := make([]GrantNode, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		var gn GrantNode
		r.fixed(gn.Proxy[:], "node proxy key")
		r.fixed(gn.Commitment[:], "kfrag commitment")
		nodes = append(nodes, gn)
	}
	return nodes
}

func writeGuardians(w *writer, gs []Guardian) {
	w.u8(uint8(len(gs)))
	for _, g := range gs {
		w.raw(g.Signing[:])
		w.raw(g.Receiving[:])
		w.bytes(g.Share)
	}
}

func readGuardians(r *reader) []Guardian {
	n := int(r.u8("guardian count"))
	if n > MaxGuardians {
		r.fail("%d guardians, limit %d", n, MaxGuardians)
		return nil
	}
	gs := make([]Guardian, n)
	for i := 0; i < n && r.err == nil; i++ {
		r.fixed(gs[i].Signing[:], "guardian signing key")
		r.fixed(gs[i].Receiving[:], "guardian receiving key")
		gs[i].Share = r.bytes(MaxShareBox, "sealed share")
	}
	return gs
}

// validateNodes is the stateless part of a grant's node list (a Grant's or a setup's).
func validateNodes(nodes []GrantNode, threshold uint8) error {
	if len(nodes) == 0 || len(nodes) > MaxGrantNodes {
		return Errorf(ErrInvalid, "grant needs 1..%d nodes", MaxGrantNodes)
	}
	if t := int(threshold); t > len(nodes) {
		return Errorf(ErrInvalid, "threshold %d outside 1..%d", t, len(nodes))
	}
	seen := make(map[PubKey]bool, len(nodes))
	for _, n := range nodes {
		if seen[n.Proxy] {
			return Errorf(ErrInvalid, "node %s listed twice", n.Proxy)
		}
		seen[n.Proxy] = true
	}
	return nil
}

func (b *RecoverySetup) validate() error {
	if err := validateNodes(b.Nodes, b.Threshold); err != nil {
		return err
	}
	if !b.OwnerEnc.Valid() {
		return Errorf(ErrInvalid, "owner receiving key is not a valid point")
	}
	if d := time.Duration(b.Delay); d < MinRecoveryDelay || d > MaxRecoveryDelay {
		return Errorf(ErrInvalid, "waiting period %s outside %s..%s", d, MinRecoveryDelay, MaxRecoveryDelay)
	}
	k := len(b.Commitments)
	if k < 1 || k > len(b.Guardians) {
		return Errorf(ErrInvalid, "%d of %d guardians: need 1 ≤ k ≤ n", k, len(b.Guardians))
	}
	seen := make(map[PubKey]bool, len(b.Guardians))
	for _, g := range b.Guardians {
		if !g.Signing.Valid() || !g.Receiving.Valid() {
			return Errorf(ErrInvalid, "guardian %s: a key is not a valid point", g.Signing)
		}
		if seen[g.Signing] {
			return Errorf(ErrInvalid, "guardian %s listed twice", g.Signing)
		}
		seen[g.Signing] = true
		if len(g.Share) == 0 {
			return Errorf(ErrInvalid, "guardian %s has no sealed share", g.Signing)
		}
	}
	for _, c := range b.Commitments {
		if !c.Valid() {
			return Errorf(ErrInvalid, "commitment %s is not a valid point", c)
		}
	}
	return nil
}

func (b *RecoveryStart) encode(w *writer) {
	w.raw(b.Owner[:])
	w.raw(b.DeviceEnc[:])
}

func (b *RecoveryStart) decode(r *reader) {
	r.fixed(b.Owner[:], "owner")
	r.fixed(b.DeviceEnc[:], "device receiving key")
}

func (b *RecoveryStart) validate() error {
	if !b.Owner.Valid() || !b.DeviceEnc.Valid() {
		return Errorf(ErrInvalid, "owner or device receiving key is not a valid point")
	}
	return nil
}

func (b *RecoveryApprove) encode(w *writer) {
	w.raw(b.Process[:])
	w.bytes(b.Share)
}

func (b *RecoveryApprove) decode(r *reader) {
	r.fixed(b.Process[:], "process")
	b.Share = r.bytes(MaxShareBox, "sealed share")
}

func (b *RecoveryApprove) validate() error {
	if len(b.Share) == 0 {
		return Errorf(ErrInvalid, "no sealed share")
	}
	return nil
}

func (b *RecoveryCancel) encode(w *writer) { w.raw(b.Process[:]) }
func (b *RecoveryCancel) decode(r *reader) { r.fixed(b.Process[:], "process") }
func (b *RecoveryCancel) validate() error  { return nil }
func (b *RecoveryFinish) encode(w *writer) { w.raw(b.Process[:]) }
func (b *RecoveryFinish) decode(r *reader) { r.fixed(b.Process[:], "process") }
func (b *RecoveryFinish) validate() error  { return nil }
