package protocol_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// setupBody is a statelessly valid setup of k of n guardians on nodes, with made-up sealed
// shares of size box.
func setupBody(k, n, nodes, box int) *protocol.RecoverySetup {
	b := &protocol.RecoverySetup{Record: protocol.ID{1}, OwnerEnc: protocoltest.NewAccount(testChain).Key, Delay: int64(time.Hour)}
	for i := 0; i < nodes; i++ {
		b.Nodes = append(b.Nodes, protocol.GrantNode{Proxy: protocoltest.NewAccount(testChain).Key, Commitment: protocol.Hash32{byte(i)}})
	}
	for i := 0; i < n; i++ {
		a := protocoltest.NewAccount(testChain)
		b.Guardians = append(b.Guardians, protocol.Guardian{Signing: a.Key, Receiving: a.Key, Share: bytes.Repeat([]byte{byte(i + 1)}, box)})
	}
	for i := 0; i < k; i++ {
		b.Commitments = append(b.Commitments, protocoltest.NewAccount(testChain).Key)
	}
	return b
}

// TestRecoveryTxRoundTrip: every recovery body decodes to what was encoded.
func TestRecoveryTxRoundTrip(t *testing.T) {
	a := protocoltest.NewAccount(testChain)
	for _, body := range []protocol.Body{
		setupBody(2, 3, 4, 254),
		setupBody(1, 1, 1, 1),
		&protocol.RecoveryStart{Owner: a.Key, DeviceEnc: protocoltest.NewAccount(testChain).Key},
		&protocol.RecoveryApprove{Process: protocol.Hash32{9, 9}, Share: bytes.Repeat([]byte{7}, protocol.MaxShareBox)},
		&protocol.RecoveryCancel{Process: protocol.Hash32{8}},
		&protocol.RecoveryFinish{Process: protocol.Hash32{6}},
	} {
		raw := a.Sign(body)
		tx, err := protocol.DecodeTx(raw)
		if err != nil {
			t.Fatalf("%s: %v", body.Type(), err)
		}
		if !reflect.DeepEqual(tx.Body, body) || !tx.VerifySig() || !bytes.Equal(tx.Encode(), raw) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", body.Type(), tx.Body, body)
		}
	}
}

// TestRecoverySetupFits: the largest setup — every node of a 64-node registry, ten
// guardians, ten commitments, sealed shares at their bound — fits in a transaction, and
// the recovery key is the first commitment.
func TestRecoverySetupFits(t *testing.T) {
	b := setupBody(protocol.MaxGuardians, protocol.MaxGuardians, protocol.MaxGrantNodes, protocol.MaxShareBox)
	raw := protocoltest.NewAccount(strings.Repeat("c", protocol.MaxChainID)).Sign(b)
	if len(raw) > protocol.MaxTxBytes {
		t.Fatalf("largest setup is %d bytes, limit %d", len(raw), protocol.MaxTxBytes)
	}
	if _, err := protocol.DecodeTx(raw); err != nil {
		t.Fatal(err)
	}
	if b.RecoveryKey() != b.Commitments[0] || (&protocol.RecoverySetup{}).RecoveryKey() != (protocol.PubKey{}) {
		t.Fatal("the recovery key is not the first commitment")
	}
}

func TestRecoveryDecodeRejects(t *testing.T) {
	a := protocoltest.NewAccount(testChain)
	setup := func(edit func(b *protocol.RecoverySetup)) []byte {
		b := setupBody(2, 3, 4, 200)
		edit(b)
		return a.Sign(b)
	}
	bad := protocol.PubKey{0xff}
	cases := map[string]struct {
		raw  []byte
		want error
	}{
		"no guardians":          {setup(func(b *protocol.RecoverySetup) { b.Guardians = nil }), protocol.ErrInvalid},
		"k zero":                {setup(func(b *protocol.RecoverySetup) { b.Commitments = nil }), protocol.ErrInvalid},
		"k above n":             {setup(func(b *protocol.RecoverySetup) { b.Commitments = append(b.Commitments, a.Key, a.Key) }), protocol.ErrInvalid},
		"11 guardians":          {setup(func(b *protocol.RecoverySetup) { b.Guardians = setupBody(1, 11, 1, 1).Guardians }), protocol.ErrMalformed},
		"k 11":                  {setup(func(b *protocol.RecoverySetup) { b.Commitments = setupBody(11, 1, 1, 1).Commitments }), protocol.ErrMalformed},
		"guardian twice":        {setup(func(b *protocol.RecoverySetup) { b.Guardians[1].Signing = b.Guardians[0].Signing }), protocol.ErrInvalid},
		"guardian not a point":  {setup(func(b *protocol.RecoverySetup) { b.Guardians[2].Receiving = bad }), protocol.ErrInvalid},
		"empty share":           {setup(func(b *protocol.RecoverySetup) { b.Guardians[0].Share = nil }), protocol.ErrInvalid},
		"share too long":        {setup(func(b *protocol.RecoverySetup) { b.Guardians[0].Share = make([]byte, protocol.MaxShareBox+1) }), protocol.ErrMalformed},
		"commitment not point":  {setup(func(b *protocol.RecoverySetup) { b.Commitments[1] = bad }), protocol.ErrInvalid},
		"delay too short":       {setup(func(b *protocol.RecoverySetup) { b.Delay = int64(protocol.MinRecoveryDelay) - 1 }), protocol.ErrInvalid},
		"delay too long":        {setup(func(b *protocol.RecoverySetup) { b.Delay = int64(protocol.MaxRecoveryDelay) + 1 }), protocol.ErrInvalid},
		"delay negative":        {setup(func(b *protocol.RecoverySetup) { b.Delay = -1 }), protocol.ErrInvalid},
		"no nodes":              {setup(func(b *protocol.RecoverySetup) { b.Nodes = nil }), protocol.ErrInvalid},
		"node twice":            {setup(func(b *protocol.RecoverySetup) { b.Nodes[1] = b.Nodes[0] }), protocol.ErrInvalid},
		"threshold above n":     {setup(func(b *protocol.RecoverySetup) { b.Threshold = 5 }), protocol.ErrInvalid},
		"owner key not point":   {setup(func(b *protocol.RecoverySetup) { b.OwnerEnc = bad }), protocol.ErrInvalid},
		"start owner not point": {a.Sign(&protocol.RecoveryStart{Owner: bad, DeviceEnc: a.Key}), protocol.ErrInvalid},
		"start device bad":      {a.Sign(&protocol.RecoveryStart{Owner: a.Key, DeviceEnc: bad}), protocol.ErrInvalid},
		"approve empty share":   {a.Sign(&protocol.RecoveryApprove{}), protocol.ErrInvalid},
		"approve long share":    {a.Sign(&protocol.RecoveryApprove{Share: make([]byte, protocol.MaxShareBox+1)}), protocol.ErrMalformed},
	}
	for name, c := range cases {
		if _, err := protocol.DecodeTx(c.raw); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	for _, d := range []time.Duration{protocol.MinRecoveryDelay, protocol.MaxRecoveryDelay} {
		if _, err := protocol.DecodeTx(setup(func(b *protocol.RecoverySetup) { b.Delay = int64(d) })); err != nil {
			t.Errorf("delay %s: %v", d, err)
		}
	}
}

func sampleSetupState(n, k int) *protocol.RecoverySetupState {
	s := &protocol.RecoverySetupState{Delay: int64(48 * time.Hour), Height: 3, Time: 4}
	fill(s.Owner[:], 1)
	fill(s.OwnerEnc[:], 2)
	fill(s.Grant[:], 3)
	fill(s.Record[:], 4)
	fill(s.TxHash[:], 5)
	for i := 0; i < n; i++ {
		var g protocol.Guardian
		fill(g.Signing[:], byte(10+i))
		fill(g.Receiving[:], byte(20+i))
		g.Share = bytes.Repeat([]byte{byte(i)}, protocol.MaxShareBox-i)
		s.Guardians = append(s.Guardians, g)
	}
	for i := 0; i < k; i++ {
		var c protocol.PubKey
		fill(c[:], byte(30+i))
		s.Commitments = append(s.Commitments, c)
	}
	return s
}

func sampleProcess(approvals int, status string) *protocol.RecoveryProcess {
	p := &protocol.RecoveryProcess{Height: 6, Time: 7, Lapses: 8, Ready: 9, Status: status, EndedHeight: 10, EndedTime: 11}
	fill(p.ID[:], 1)
	fill(p.Owner[:], 2)
	fill(p.Grant[:], 3)
	fill(p.Device[:], 4)
	fill(p.DeviceEnc[:], 5)
	for i := 0; i < approvals; i++ {
		p.Approvals = append(p.Approvals, protocol.Approval{Guardian: protocol.MaxGuardians - 1 - i, Share: []byte{byte(i), 1},
			Height: int64(i), Time: int64(i) << 40})
	}
	return p
}

type recoveryValue interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

func recoverySamples() []recoveryValue {
	return []recoveryValue{
		sampleSetupState(1, 1), sampleSetupState(3, 2), sampleSetupState(protocol.MaxGuardians, protocol.MaxGuardians),
		sampleProcess(0, protocol.ProcessOpen), sampleProcess(2, protocol.ProcessCancelled),
		sampleProcess(protocol.MaxGuardians, protocol.ProcessFinished),
	}
}

func newLike(v recoveryValue) recoveryValue {
	if _, ok := v.(*protocol.RecoverySetupState); ok {
		return new(protocol.RecoverySetupState)
	}
	return new(protocol.RecoveryProcess)
}

// TestRecoveryValues: the state values round-trip, are canonical, and their decoders refuse
// every proper prefix, trailing bytes, another version and counts past their bounds.
func TestRecoveryValues(t *testing.T) {
	for i, v := range recoverySamples() {
		b, err := v.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		back := newLike(v)
		if err := back.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("sample %d: %v\n got %+v\nwant %+v", i, err, back, v)
		}
		for n := 0; n < len(b); n++ {
			if err := newLike(v).UnmarshalBinary(b[:n]); !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("sample %d truncated to %d: %v", i, n, err)
			}
		}
		for name, bad := range map[string][]byte{"trailing": append(bytes.Clone(b), 0), "version 2": with(b, 0, 2)} {
			if err := newLike(v).UnmarshalBinary(bad); !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("sample %d %s: %v", i, name, err)
			}
		}
	}
	// Offsets: the setup's guardian threshold and count, the process's approval count, an
	// approval's guardian and the status.
	setup, _ := sampleSetupState(1, 1).MarshalBinary()
	k := 1 + 33 + 33 + 32 + 32 + 8
	proc, _ := sampleProcess(1, protocol.ProcessOpen).MarshalBinary()
	count := 1 + 32 + 33 + 32 + 33 + 33 + 8 + 8 + 8
	status := len(proc) - 17
	for name, c := range map[string]struct {
		v recoveryValue
		b []byte
	}{
		"setup k 11":          {new(protocol.RecoverySetupState), with(setup, k, 11)},
		"setup 11 guardians":  {new(protocol.RecoverySetupState), with(setup, k+1, 11)},
		"process 11 approves": {new(protocol.RecoveryProcess), with(proc, count, 11)},
		"approval guardian":   {new(protocol.RecoveryProcess), with(proc, count+1, protocol.MaxGuardians)},
		"status 3":            {new(protocol.RecoveryProcess), with(proc, status, 3)},
	} {
		if err := c.v.UnmarshalBinary(c.b); !errors.Is(err, protocol.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := new(protocol.RecoveryProcess).UnmarshalBinary(with(proc, status, 2)); err != nil {
		t.Fatalf("the offsets are off: status 2 does not decode: %v", err)
	}
	for name, v := range map[string]recoveryValue{
		"setup 11 guardians": sampleSetupState(11, 1),
		"setup long share": func() recoveryValue {
			s := sampleSetupState(1, 1)
			s.Guardians[0].Share = make([]byte, protocol.MaxShareBox+1)
			return s
		}(),
		"process no status":   sampleProcess(0, ""),
		"process 11 approves": sampleProcess(11, protocol.ProcessOpen),
		"approval guardian -1": func() recoveryValue {
			p := sampleProcess(1, protocol.ProcessOpen)
			p.Approvals[0].Guardian = -1
			return p
		}(),
	} {
		if _, err := v.MarshalBinary(); !errors.Is(err, protocol.ErrInvalid) {
			t.Errorf("%s marshals: %v", name, err)
		}
	}
	s := sampleSetupState(3, 2)
	if s.Threshold() != 2 || s.GuardianIndex(s.Guardians[2].Signing) != 2 || s.GuardianIndex(s.Owner) != -1 {
		t.Fatal("threshold or guardian index")
	}
	p := sampleProcess(2, protocol.ProcessOpen)
	if !p.Approved(protocol.MaxGuardians-2) || p.Approved(0) {
		t.Fatal("Approved")
	}
}

// FuzzRecoveryValues: the recovery state decoders never panic, refuse as malformed, and are
// canonical.
func FuzzRecoveryValues(f *testing.F) {
	for _, v := range recoverySamples() {
		b, err := v.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		_, process := v.(*protocol.RecoveryProcess)
		f.Add(map[bool]uint8{false: 0, true: 1}[process], b)
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		var v recoveryValue = new(protocol.RecoverySetupState)
		if kind%2 == 1 {
			v = new(protocol.RecoveryProcess)
		}
		if err := v.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("refusal is not malformed: %v", err)
			}
			return
		}
		again, err := v.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%T: not canonical: %v\n  in %x\n out %x", v, err, b, again)
		}
	})
}
