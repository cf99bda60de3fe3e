package protocol_test

import (
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// benchGrant is a signed grant of a record to one recipient on four nodes.
func benchGrant() []byte {
	owner, doc := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	nodes := protocoltest.Keys(protocoltest.NewAccounts(testChain, 4))
	return owner.Sign(protocoltest.Grant(protocol.ID{1}, doc.Key, nodes, 0))
}

func BenchmarkParseGrant(b *testing.B) {
	raw := benchGrant()
	for b.Loop() {
		if _, err := protocol.ParseTx(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGrant(b *testing.B) {
	raw := benchGrant()
	for b.Loop() {
		if _, err := protocol.DecodeTx(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyGrant(b *testing.B) {
	tx, err := protocol.DecodeTx(benchGrant())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !tx.VerifySig() {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkEncodeGrant(b *testing.B) {
	tx, err := protocol.DecodeTx(benchGrant())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_ = tx.Encode()
	}
}
