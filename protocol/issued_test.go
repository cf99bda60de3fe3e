package protocol_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

func TestIssuedStateValues(t *testing.T) {
	issuer := protocoltest.NewAccount(testChain).Key
	for _, v := range []interface {
		MarshalBinary() ([]byte, error)
		UnmarshalBinary([]byte) error
	}{
		&protocol.InboxState{Next: 70, Open: 64},
		&protocol.IssuedState{Issuer: issuer, Slot: 1 << 31, Accepted: true, AcceptedHeight: 9},
	} {
		b, err := v.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(v).Elem()).Interface().(interface{ UnmarshalBinary([]byte) error })
		if err := back.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(back, v) {
			t.Errorf("%T: round trip %+v, %v", v, back, err)
		}
		if err := back.UnmarshalBinary(append(b, 0)); err == nil {
			t.Errorf("%T: trailing byte accepted", v)
		}
		if err := back.UnmarshalBinary(b[:len(b)-1]); err == nil {
			t.Errorf("%T: truncated value accepted", v)
		}
		if err := back.UnmarshalBinary(append([]byte{2}, b[1:]...)); err == nil {
			t.Errorf("%T: version 2 accepted", v)
		}
	}
	// Pinned layouts.
	in, _ := (&protocol.InboxState{Next: 0x01020304, Open: 5}).MarshalBinary()
	if want := []byte{1, 1, 2, 3, 4, 0, 5}; !bytes.Equal(in, want) {
		t.Errorf("inbox state %x, want %x", in, want)
	}
	is, _ := (&protocol.IssuedState{Issuer: issuer, Slot: 7, Accepted: true, AcceptedHeight: 3}).MarshalBinary()
	want := append(append([]byte{1}, issuer[:]...), 0, 0, 0, 7, 1)
	if want = binary.BigEndian.AppendUint64(want, 3); !bytes.Equal(is, want) {
		t.Errorf("issued state %x, want %x", is, want)
	}
	if err := new(protocol.InboxState).UnmarshalBinary([]byte{1, 0, 0, 0, 0, 0, 65}); err == nil {
		t.Error("an inbox with 65 open slots decoded")
	}
}

func TestIssuedAuditKinds(t *testing.T) {
	var actor protocol.PubKey
	for kind, b := range map[string]byte{protocol.AuditIssued: 17, protocol.AuditAccepted: 18} {
		e := &protocol.AuditEntry{Kind: kind, Actor: &actor}
		raw, err := e.MarshalBinary()
		if err != nil || raw[1] != b {
			t.Fatalf("%s: byte %d, %v; want %d", kind, raw[1], err, b)
		}
		var back protocol.AuditEntry
		if err := back.UnmarshalBinary(raw); err != nil || back.Kind != kind {
			t.Fatalf("%s: decoded %q, %v", kind, back.Kind, err)
		}
		// Bytes 15 and 16 are reserved: no entry decodes with them.
		for _, reserved := range []byte{15, 16} {
			raw[1] = reserved
			if err := back.UnmarshalBinary(raw); err == nil {
				t.Errorf("audit kind byte %d decoded as %q", reserved, back.Kind)
			}
		}
	}
	if _, err := (&protocol.AuditEntry{Kind: ""}).MarshalBinary(); err == nil {
		t.Error("an entry without a kind encoded")
	}
}

func TestIssuedBodiesValidate(t *testing.T) {
	a, b := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	put := protocoltest.PutRecord("bafkreiissued", 10)
	var notPoint protocol.PubKey
	notPoint[0] = 9
	many := make([]protocol.PubKey, protocol.MaxOpenSlots+1)
	for i := range many {
		many[i] = protocoltest.NewAccount(testChain).Key
	}
	for _, c := range []struct {
		name string
		body protocol.Body
		want string // "" = valid
	}{
		{"open", &protocol.OpenInbox{FirstSlot: 3, Keys: []protocol.PubKey{a.Key, b.Key}}, ""},
		{"open none", &protocol.OpenInbox{}, "1..64"},
		{"open too many", &protocol.OpenInbox{Keys: many}, "limit 64"},
		{"open twice the same key", &protocol.OpenInbox{Keys: []protocol.PubKey{a.Key, a.Key}}, "twice"},
		{"open past 2^32", &protocol.OpenInbox{FirstSlot: 1<<32 - 1, Keys: []protocol.PubKey{a.Key, b.Key}}, "past"},
		{"open not a point", &protocol.OpenInbox{Keys: []protocol.PubKey{notPoint}}, "valid point"},
		{"issue", &protocol.Issue{Subject: a.Key, Slot: 1, CID: put.CID, Size: 10, Capsule: put.Capsule}, ""},
		{"issue to no point", &protocol.Issue{Subject: notPoint, CID: put.CID, Capsule: put.Capsule}, "subject"},
		{"issue without cid", &protocol.Issue{Subject: a.Key, Capsule: put.Capsule}, "cid"},
		{"issue bad capsule", &protocol.Issue{Subject: a.Key, CID: put.CID}, "capsule"},
		{"accept", &protocol.AcceptIssued{Record: protocol.ID{1}}, ""},
	} {
		signer := b
		if c.name == "issue" || strings.HasPrefix(c.name, "issue ") {
			signer = a
		}
		_, err := protocol.DecodeTx(signer.Next(c.body))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want a refusal saying %q", c.name, err, c.want)
		}
	}
}

func TestIssuedCodes(t *testing.T) {
	for code, e := range map[uint32]*protocol.Error{23: protocol.ErrNotAccepted, 24: protocol.ErrSlotUnavailable} {
		if e.LedgerCode != code || !errors.Is(protocol.LedgerError(code, "x"), e) || e.Status != 409 {
			t.Errorf("%s: %+v", e.Code, e)
		}
	}
}
