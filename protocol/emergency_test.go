package protocol_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

func TestEmergencyCoSignature(t *testing.T) {
	a, b, c := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	raw := a.Emergency(protocol.ID{1}, "unconscious", b)
	tx, err := protocol.DecodeTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !tx.VerifySig() || !protocol.VerifyCoSig(tx) {
		t.Fatal("a co-signed request does not verify")
	}
	if got := tx.Body.(*protocol.EmergencyRequest).CoSigner; got != b.Key {
		t.Fatalf("co-signer %s, want %s", got, b.Key)
	}
	// The co-signature binds the whole request: each change makes it fail.
	for name, change := range map[string]func(*protocol.Tx){
		"reason":   func(tx *protocol.Tx) { tx.Body.(*protocol.EmergencyRequest).Reason = "curious" },
		"grant":    func(tx *protocol.Tx) { tx.Body.(*protocol.EmergencyRequest).Grant = protocol.ID{2} },
		"sequence": func(tx *protocol.Tx) { tx.Sequence++ },
		"expires":  func(tx *protocol.Tx) { tx.Expires++ },
		"signer":   func(tx *protocol.Tx) { tx.Signer = c.Key },
		"chain":    func(tx *protocol.Tx) { tx.ChainID = "rr-other" },
		"co-signer": func(tx *protocol.Tx) {
			tx.Body.(*protocol.EmergencyRequest).CoSigner = c.Key
		},
	} {
		tx, _ := protocol.DecodeTx(raw)
		change(tx)
		if protocol.VerifyCoSig(tx) {
			t.Errorf("co-signature still verifies after changing the %s", name)
		}
	}
	if err := protocol.CoSign(b.Signer, &protocol.Tx{Body: &protocol.Revoke{}}); err == nil {
		t.Fatal("co-signed a revoke")
	}
}

func TestEmergencyBodiesValidate(t *testing.T) {
	a, b, org := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	good := func() *protocol.RegisterService {
		return &protocol.RegisterService{Name: "City ED", Org: org.Key, OrgEnc: org.Key,
			Clinicians: []protocol.Clinician{{Key: a.Key, Name: "Dr A"}, {Key: b.Key, Name: "Dr B"}}}
	}
	if _, err := protocol.DecodeTx(org.Sign(good())); err != nil {
		t.Fatalf("a good registration: %v", err)
	}
	bad := map[string]func(*protocol.RegisterService){
		"empty name":         func(r *protocol.RegisterService) { r.Name = "" },
		"padded name":        func(r *protocol.RegisterService) { r.Name = " City ED" },
		"control in name":    func(r *protocol.RegisterService) { r.Name = "City\nED" },
		"one clinician":      func(r *protocol.RegisterService) { r.Clinicians = r.Clinicians[:1] },
		"clinician twice":    func(r *protocol.RegisterService) { r.Clinicians[1].Key = a.Key },
		"org as a clinician": func(r *protocol.RegisterService) { r.Clinicians[1].Key = org.Key },
		"bad org key":        func(r *protocol.RegisterService) { r.Org = protocol.PubKey{} },
		"unnamed clinician":  func(r *protocol.RegisterService) { r.Clinicians[0].Name = "" },
	}
	for name, f := range bad {
		r := good()
		f(r)
		if _, err := protocol.DecodeTx(org.Sign(r)); !errors.Is(err, protocol.ErrInvalid) {
			t.Errorf("%s: got %v, want invalid", name, err)
		}
	}
	for name, reason := range map[string]string{"no reason": "", "blank reason": "  "} {
		if _, err := protocol.DecodeTx(a.Emergency(protocol.ID{1}, reason, b)); !errors.Is(err, protocol.ErrInvalid) {
			t.Errorf("%s: got %v, want invalid", name, err)
		}
	}
	// Past the bounds the parser refuses before validation.
	r := good()
	r.Name = strings.Repeat("n", protocol.MaxServiceName+1)
	if _, err := protocol.ParseTx(org.Sign(r)); !errors.Is(err, protocol.ErrMalformed) {
		t.Errorf("long name: got %v, want malformed", err)
	}
	r = good()
	for len(r.Clinicians) <= protocol.MaxClinicians {
		r.Clinicians = append(r.Clinicians, protocol.Clinician{Key: a.Key, Name: "x"})
	}
	if _, err := protocol.ParseTx(org.Sign(r)); !errors.Is(err, protocol.ErrMalformed) {
		t.Errorf("too many clinicians: got %v, want malformed", err)
	}
}

func TestAuditEntryCoSignedOnlyForEmergencies(t *testing.T) {
	for name, e := range map[string]*protocol.AuditEntry{
		"co-signed for an owner":      coSigned(protocol.AuditEmergency, 15),
		"emergency without co-signer": sampleAudit(protocol.AuditEmergency, 7),
		"co-signed grant":             coSigned(protocol.AuditGrant, 7),
	} {
		if _, err := e.MarshalBinary(); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}
