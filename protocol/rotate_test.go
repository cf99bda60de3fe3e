package protocol_test

import (
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

func TestRotationProof(t *testing.T) {
	old, next, other := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	raw := old.Rotate(next)
	tx, err := protocol.DecodeTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !tx.VerifySig() || !protocol.VerifyRotation(tx) {
		t.Fatal("a rotation with the successor's proof does not verify")
	}
	if got := tx.Body.(*protocol.Rotate).Successor; got != next.Key {
		t.Fatalf("successor %s, want %s", got, next.Key)
	}
	// The proof names the old key and the chain: it serves no other rotation.
	for name, change := range map[string]func(*protocol.Tx){
		"signer":    func(tx *protocol.Tx) { tx.Signer = other.Key },
		"chain":     func(tx *protocol.Tx) { tx.ChainID = "rr-other" },
		"successor": func(tx *protocol.Tx) { tx.Body.(*protocol.Rotate).Successor = other.Key },
		"proof":     func(tx *protocol.Tx) { tx.Body.(*protocol.Rotate).Proof[5] ^= 1 },
	} {
		tx, _ := protocol.DecodeTx(raw)
		change(tx)
		if protocol.VerifyRotation(tx) {
			t.Errorf("the proof still verifies after changing the %s", name)
		}
	}
	if protocol.VerifyRotation(&protocol.Tx{Body: &protocol.Revoke{}}) {
		t.Fatal("a revoke verified as a rotation")
	}
	// A successor key that is not a point is refused before any state is read.
	bad := &protocol.Rotate{SuccessorEnc: next.Key}
	if _, err := protocol.DecodeTx(old.Next(bad)); err == nil {
		t.Fatal("a rotation onto a non-point decoded")
	}
}

func TestRetirementRoundTrip(t *testing.T) {
	a, b := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	in := protocol.Retirement{Old: a.Key, Successor: b.Key, SuccessorEnc: a.Key, Height: 7, Time: 1_700_000_000_000_000_000, TxHash: protocol.Hash32{9}}
	enc, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var out protocol.Retirement
	if err := out.UnmarshalBinary(enc); err != nil || out != in {
		t.Fatalf("round trip: %v, %+v", err, out)
	}
	for i := range enc {
		if err := out.UnmarshalBinary(enc[:i]); err == nil {
			t.Fatalf("a retirement cut to %d bytes decoded", i)
		}
	}
	if err := out.UnmarshalBinary(append(enc, 0)); err == nil {
		t.Fatal("a retirement with a trailing byte decoded")
	}
}
