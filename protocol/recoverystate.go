package protocol

// The ledger's state of recovery (SPEC.md §15.2): each owner's current setup and its
// recovery processes.

// RecoverySetupState is an owner's committed RecoverySetup: who guards the identity, with how
// many approvals and what waiting period, and the recovery grant it made.
type RecoverySetupState struct {
	Owner       PubKey     `json:"owner"`
	OwnerEnc    PubKey     `json:"owner_enc"`
	Grant       ID         `json:"grant"`  // the recovery grant
	Record      ID         `json:"record"` // the record holding the sealed identity
	Delay       int64      `json:"delay"`  // waiting period, ns
	Guardians   []Guardian `json:"guardians"`
	Commitments []PubKey   `json:"commitments"` // their count is the guardians' threshold
	Height      int64      `json:"height"`
	Time        int64      `json:"time"`
	TxHash      Hash32     `json:"tx_hash"`
}

// Threshold is how many guardians must approve.
func (s *RecoverySetupState) Threshold() int { return len(s.Commitments) }

// GuardianIndex is the position of the guardian with signing key k, or −1.
func (s *RecoverySetupState) GuardianIndex(k PubKey) int {
	for i, g := range s.Guardians {
		if g.Signing == k {
			return i
		}
	}
	return -1
}

// Recovery process states.
const (
	ProcessOpen      = "open"
	ProcessCancelled = "cancelled"
	ProcessFinished  = "finished"
)

var processStates = []string{ProcessOpen, ProcessCancelled, ProcessFinished}

// Approval is a guardian's committed approval: its position in the setup and its share,
// sealed to the process's device.
type Approval struct {
	Guardian int      `json:"guardian"`
	Share    HexBytes `json:"share"`
	Height   int64    `json:"height"`
	Time     int64    `json:"time"`
}

// RecoveryProcess is one request to recover an owner's identity onto a device, named by its
// RecoveryStart's transaction hash, and what became of it.
type RecoveryProcess struct {
	ID        Hash32     `json:"id"`
	Owner     PubKey     `json:"owner"`
	Grant     ID         `json:"grant"` // the setup's recovery grant when it started
	Device    PubKey     `json:"device"`
	DeviceEnc PubKey     `json:"device_enc"`
	Height    int64      `json:"height"`
	Time      int64      `json:"time"`
	Lapses    int64      `json:"lapses"` // block time from which it takes no approvals
	Approvals []Approval `json:"approvals"`
	// Ready is the block time from which it may finish: the waiting period after the
	// approval that made enough; 0 before.
	Ready       int64  `json:"ready,omitempty"`
	Status      string `json:"status"`
	EndedHeight int64  `json:"ended_height,omitempty"` // cancelled or (first) finished
	EndedTime   int64  `json:"ended_time,omitempty"`
}

// Approved reports whether the guardian at position i approved.
func (p *RecoveryProcess) Approved(i int) bool {
	for _, a := range p.Approvals {
		if a.Guardian == i {
			return true
		}
	}
	return false
}

func (s *RecoverySetupState) MarshalBinary() ([]byte, error) {
	if len(s.Guardians) > MaxGuardians || len(s.Commitments) > MaxGuardians {
		return nil, Errorf(ErrInvalid, "recovery setup out of bounds")
	}
	for _, g := range s.Guardians {
		if len(g.Share) > MaxShareBox {
			return nil, Errorf(ErrInvalid, "sealed share over %d bytes", MaxShareBox)
		}
	}
	w := newWriter(512 + 320*len(s.Guardians))
	w.u8(stateVersion)
	w.raw(s.Owner[:])
	w.raw(s.OwnerEnc[:])
	w.raw(s.Grant[:])
	w.raw(s.Record[:])
	w.i64(s.Delay)
	w.u8(uint8(len(s.Commitments)))
	writeGuardians(w, s.Guardians)
	for _, c := range s.Commitments {
		w.raw(c[:])
	}
	w.i64(s.Height)
	w.i64(s.Time)
	w.raw(s.TxHash[:])
	return w.finish(), nil
}

func (s *RecoverySetupState) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("recovery setup")
	*s = RecoverySetupState{}
	r.fixed(s.Owner[:], "owner")
	r.fixed(s.OwnerEnc[:], "owner receiving key")
	r.fixed(s.Grant[:], "grant")
	r.fixed(s.Record[:], "record")
	s.Delay = r.i64("delay")
	k := int(r.u8("guardian threshold"))
	s.Guardians = readGuardians(r)
	if k > MaxGuardians {
		r.fail("guardian threshold %d, limit %d", k, MaxGuardians)
	}
	for i := 0; i < k && r.err == nil; i++ {
		var c PubKey
		r.fixed(c[:], "commitment")
		s.Commitments = append(s.Commitments, c)
	}
	s.Height = r.i64("height")
	s.Time = r.i64("time")
	r.fixed(s.TxHash[:], "tx hash")
	return r.finish()
}

func (p *RecoveryProcess) MarshalBinary() ([]byte, error) {
	status := indexOf(processStates, p.Status)
	if status < 0 || len(p.Approvals) > MaxGuardians {
		return nil, Errorf(ErrInvalid, "recovery process out of bounds")
	}
	w := newWriter(300 + 280*len(p.Approvals))
	w.u8(stateVersion)
	w.raw(p.ID[:])
	w.raw(p.Owner[:])
	w.raw(p.Grant[:])
	w.raw(p.Device[:])
	w.raw(p.DeviceEnc[:])
	w.i64(p.Height)
	w.i64(p.Time)
	w.i64(p.Lapses)
	w.u8(uint8(len(p.Approvals)))
	for _, a := range p.Approvals {
		if a.Guardian < 0 || a.Guardian >= MaxGuardians || len(a.Share) > MaxShareBox {
			return nil, Errorf(ErrInvalid, "approval out of bounds")
		}
		w.u8(uint8(a.Guardian))
		w.bytes(a.Share)
		w.i64(a.Height)
		w.i64(a.Time)
	}
	w.i64(p.Ready)
	w.u8(uint8(status))
	w.i64(p.EndedHeight)
	w.i64(p.EndedTime)
	return w.finish(), nil
}

func (p *RecoveryProcess) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("recovery process")
	*p = RecoveryProcess{}
	r.fixed(p.ID[:], "id")
	r.fixed(p.Owner[:], "owner")
	r.fixed(p.Grant[:], "grant")
	r.fixed(p.Device[:], "device")
	r.fixed(p.DeviceEnc[:], "device receiving key")
	p.Height = r.i64("height")
	p.Time = r.i64("time")
	p.Lapses = r.i64("lapses")
	n := int(r.u8("approval count"))
	if n > MaxGuardians {
		r.fail("%d approvals, limit %d", n, MaxGuardians)
	}
	for i := 0; i < n && r.err == nil; i++ {
		var a Approval
		a.Guardian = int(r.u8("guardian"))
		if a.Guardian >= MaxGuardians {
			r.fail("guardian %d, limit %d", a.Guardian, MaxGuardians-1)
		}
		a.Share = r.bytes(MaxShareBox, "sealed share")
		a.Height = r.i64("approval height")
		a.Time = r.i64("approval time")
		p.Approvals = append(p.Approvals, a)
	}
	p.Ready = r.i64("ready")
	status := int(r.u8("status"))
	if r.err == nil && status >= len(processStates) {
		r.fail("process status %d", status)
	}
	if r.err == nil {
		p.Status = processStates[status]
	}
	p.EndedHeight = r.i64("ended height")
	p.EndedTime = r.i64("ended time")
	return r.finish()
}
