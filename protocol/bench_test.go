package ledger

import (
	"testing"
)

func benchGrant(b *testing.B) (raw []byte) {
	owner, doc := newAccount(b), newAccount(b)
	g := &Grant{Record: ID{1}, RecipientSig: doc.pk, RecipientEnc: doc.pk, Purpose: "care"}
	for i := 0; i < 4; i++ {
		g.Nodes = append(g.Nodes, GrantNode{Proxy: newAccount(b).pk})
	}
	return owner.tx(b, testChain, g)
}

func BenchmarkParseGrant(b *testing.B) {
	raw := benchGrant(b)
	for b.Loop() {
		if _, err := parseTx(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGrant(b *testing.B) {
	raw := benchGrant(b)
	for b.Loop() {
		if _, err := DecodeTx(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyGrant(b *testing.B) {
	tx, err := DecodeTx(benchGrant(b))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !tx.VerifySig() {
			b.Fatal("bad signature")
		}
	}
}
