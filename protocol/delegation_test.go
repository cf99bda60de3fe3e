package protocol_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

func sampleDelegation(ended bool) *protocol.DelegationState {
	d := &protocol.DelegationState{Rights: protocol.RightGrant | protocol.RightRevoke, NotBefore: 5, NotAfter: 1 << 61,
		Height: 3, Time: 4}
	fill(d.ID[:], 21)
	fill(d.Owner[:], 22)
	fill(d.Caregiver[:], 23)
	fill(d.CaregiverEnc[:], 24)
	fill(d.TxHash[:], 25)
	if ended {
		d.Ended, d.EndedHeight, d.EndedTime = true, 9, 10
		d.EndedBy = new(protocol.PubKey)
		fill(d.EndedBy[:], 26)
	}
	return d
}

func TestDelegationTxRoundTrip(t *testing.T) {
	a, c := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	for _, body := range []protocol.Body{
		&protocol.Delegate{Caregiver: c.Key, CaregiverEnc: c.Key, Rights: protocol.RightGrant | protocol.RightRevoke | protocol.RightRead,
			NotBefore: 0, NotAfter: 1 << 62},
		&protocol.Delegate{Caregiver: c.Key, CaregiverEnc: a.Key, Rights: protocol.RightRevoke, NotBefore: 7, NotAfter: 8},
		&protocol.EndDelegation{Delegation: protocol.ID{4, 2}},
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

func TestDelegateRejects(t *testing.T) {
	a, c := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	ok := protocol.Delegate{Caregiver: c.Key, CaregiverEnc: c.Key, Rights: protocol.RightGrant, NotBefore: 10, NotAfter: 20}
	for name, edit := range map[string]func(*protocol.Delegate){
		"no rights":             func(d *protocol.Delegate) { d.Rights = 0 },
		"unknown right":         func(d *protocol.Delegate) { d.Rights = 8 | protocol.RightGrant },
		"no end":                func(d *protocol.Delegate) { d.NotAfter = 0 },
		"ends before it begins": func(d *protocol.Delegate) { d.NotAfter = d.NotBefore },
		"negative begin":        func(d *protocol.Delegate) { d.NotBefore = -1 },
		"caregiver not a point": func(d *protocol.Delegate) { d.Caregiver = protocol.PubKey{0xff} },
		"receiving not a point": func(d *protocol.Delegate) { d.CaregiverEnc = protocol.PubKey{} },
	} {
		b := ok
		edit(&b)
		if _, err := protocol.DecodeTx(a.Sign(&b)); !errors.Is(err, protocol.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	raw := a.Sign(&protocol.EndDelegation{Delegation: protocol.ID{1}})
	if _, err := protocol.DecodeTx(raw[:len(raw)-65]); !errors.Is(err, protocol.ErrMalformed) {
		t.Errorf("truncated EndDelegation: %v, want malformed", err)
	}
}

func TestRights(t *testing.T) {
	r, err := protocol.ParseRights("grant, read")
	if err != nil || r != protocol.RightGrant|protocol.RightRead || protocol.RightsString(r) != "grant,read" {
		t.Fatalf("ParseRights: %#x %v %q", r, err, protocol.RightsString(r))
	}
	if _, err := protocol.ParseRights("grant,erase"); err == nil {
		t.Fatal("an unknown right was taken")
	}
}

func TestDelegationLiveAt(t *testing.T) {
	d := sampleDelegation(false)
	for _, c := range []struct {
		at   int64
		want error
	}{{d.NotBefore - 1, protocol.ErrNotYetValid}, {d.NotBefore, nil}, {d.NotAfter - 1, nil}, {d.NotAfter, protocol.ErrGrantExpired}} {
		if err := d.LiveAt(c.at); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("at %d: %v, want %v", c.at, err, c.want)
		}
	}
	if err := sampleDelegation(true).LiveAt(d.NotBefore); !errors.Is(err, protocol.ErrGrantRevoked) {
		t.Errorf("ended: %v", err)
	}
}

// TestCaregiverEncodingsVersioned: what a caregiver adds to a grant and an audit entry is
// appended under a new version byte, and values without it keep their old encoding.
func TestCaregiverEncodingsVersioned(t *testing.T) {
	g := sampleGrantState(1)
	plain := mustMarshal(t, g)
	g.By = new(protocol.PubKey)
	fill(g.By[:], 30)
	by := mustMarshal(t, g)
	if plain[0] != 2 || by[0] != 3 || !bytes.Equal(by[1:len(plain)], plain[1:]) || !bytes.Equal(by[len(plain):], g.By[:]) {
		t.Fatalf("grant by a caregiver:\nplain %x\n   by %x", plain, by)
	}
	if g.FragmentSigner() != *g.By || sampleGrantState(1).FragmentSigner() != g.Owner {
		t.Fatal("FragmentSigner is not the caregiver's key when there is one, the owner's else")
	}
	e := sampleAudit(protocol.AuditRevoke, 7)
	plain = mustMarshal(t, e)
	e.For = new(protocol.PubKey)
	fill(e.For[:], 19)
	forb := mustMarshal(t, e)
	if plain[0] != 1 || forb[0] != 2 || !bytes.Equal(forb[1:len(plain)], plain[1:]) || !bytes.Equal(forb[len(plain):], e.For[:]) {
		t.Fatalf("audit for an owner:\nplain %x\n  for %x", plain, forb)
	}
	// A version byte that does not match the tail is refused: 1 with the owner, 2 without.
	for _, b := range [][]byte{with(forb, 0, 1), with(plain, 0, 2), with(by, 0, 2), with(plain, 0, 4)} {
		var x protocol.AuditEntry
		var y protocol.GrantState
		if x.UnmarshalBinary(b) == nil && y.UnmarshalBinary(b) == nil {
			t.Errorf("%x decoded", b[:4])
		}
	}
	d := sampleDelegation(true)
	want := bytes.Join([][]byte{{1}, d.ID[:], d.Owner[:], d.Caregiver[:], d.CaregiverEnc[:], {d.Rights},
		binary.BigEndian.AppendUint64(nil, uint64(d.NotBefore)), binary.BigEndian.AppendUint64(nil, uint64(d.NotAfter)),
		binary.BigEndian.AppendUint64(nil, uint64(d.Height)), binary.BigEndian.AppendUint64(nil, uint64(d.Time)), d.TxHash[:],
		{1}, binary.BigEndian.AppendUint64(nil, uint64(d.EndedHeight)), binary.BigEndian.AppendUint64(nil, uint64(d.EndedTime)),
		{1}, d.EndedBy[:]}, nil)
	if got := mustMarshal(t, d); !bytes.Equal(got, want) {
		t.Fatalf("delegation:\n got %x\nwant %x", got, want)
	}
	half := *d
	half.EndedBy = nil
	if _, err := half.MarshalBinary(); err == nil {
		t.Fatal("an ended delegation without its signer encoded")
	}
}
