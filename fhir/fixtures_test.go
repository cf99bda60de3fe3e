package fhir

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

var update = flag.Bool("update", false, "rewrite the expected outputs under testdata/")

// The fixtures are a small network as the ledger would describe it: real keys from fixed
// seeds, so that the expected outputs under testdata/ are stable.

const chainID = "rr-test"

func secret(t testing.TB, b byte) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{b}, identity.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func person(t testing.TB, b byte) identity.Public { return secret(t, b).Public() }

func keyOf(p identity.Public) protocol.PubKey { return protocol.PubKeyOf(p.Signing) }

func ns(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

func hash(b byte) protocol.Hash32 { return protocol.Hash32(bytes.Repeat([]byte{b}, 32)) }
func id32(b byte) protocol.ID     { return protocol.ID(bytes.Repeat([]byte{b}, 32)) }

type fixture struct {
	nw        *protocol.Network
	rec       *protocol.Record
	grant     *protocol.GrantState
	patient   identity.Public
	recipient identity.Public
	log       []protocol.AuditEntry
	// receipts are the signed cfrag receipts of nodes 0, 2 and 3 for the access request
	// of the log, as the recipient's client.Gathered holds them.
	receipts []*protocol.CFragReceipt
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{nw: &protocol.Network{ChainID: chainID}, patient: person(t, 1), recipient: person(t, 2)}
	var nodes []protocol.GrantNode
	for i, name := range []string{"node0", "node1", "node2", "node3"} {
		k := keyOf(person(t, byte(10+i)))
		f.nw.Nodes = append(f.nw.Nodes, protocol.Node{Name: name, API: "http://127.0.0.1:" + string(rune('0'+i)), ProxyKey: k, Power: 1})
		nodes = append(nodes, protocol.GrantNode{Proxy: k, Commitment: hash(byte(0x20 + i))})
	}
	f.rec = &protocol.Record{
		ID: id32(0xaa), Owner: keyOf(f.patient), CID: protocol.CIDText("bafkreitest"), Size: 20_000_000,
		DelegatingKey: keyOf(person(t, 3)), Height: 2, Time: ns("2026-11-28T18:40:38.163Z"), TxHash: hash(0x01),
	}
	f.grant = &protocol.GrantState{
		ID: id32(0xbb), Record: f.rec.ID, Owner: f.rec.Owner, OwnerEnc: protocol.PubKeyOf(f.patient.Receiving),
		RecipientSig: keyOf(f.recipient), RecipientEnc: protocol.PubKeyOf(f.recipient.Receiving),
		Threshold: 3, Nodes: nodes,
		NotBefore: ns("2026-11-28T18:40:39Z"), NotAfter: ns("2026-12-28T18:40:39Z"),
		Purpose: "TREAT", Height: 4, Time: ns("2026-11-28T18:40:39.213Z"), TxHash: hash(0x02),
	}
	owner, recipient := f.rec.Owner, f.grant.RecipientSig
	grant := f.grant.ID
	entry := func(kind string, actor *protocol.PubKey, g *protocol.ID, purpose string, height int64, at string, tx byte) protocol.AuditEntry {
		e := protocol.AuditEntry{Kind: kind, Record: f.rec.ID, Grant: g, Actor: actor, Purpose: purpose, Height: height, Time: ns(at)}
		if tx != 0 {
			h := hash(tx)
			e.TxHash = &h
		}
		return e
	}
	n0, n1 := f.nw.Nodes[0].ProxyKey, f.nw.Nodes[1].ProxyKey
	f.log = []protocol.AuditEntry{
		entry(protocol.AuditPut, &owner, nil, "", 2, "2026-11-28T18:40:38.163Z", 0x01),
		entry(protocol.AuditHolds, &n0, nil, "", 3, "2026-11-28T18:40:38.9Z", 0x03),
		entry(protocol.AuditGrant, &owner, &grant, "TREAT", 4, "2026-11-28T18:40:39.213Z", 0x02),
		entry(protocol.AuditRequest, &recipient, &grant, "treatment", 5, "2026-11-28T18:41:00Z", 0x04),
		entry(protocol.AuditRevoke, &owner, &grant, "", 8, "2026-11-28T18:42:00Z", 0x05),
		entry(protocol.AuditDestroyed, &n1, &grant, "", 9, "2026-11-28T18:42:02Z", 0x06),
		entry(protocol.AuditExpire, nil, &grant, "", 10, "2026-12-28T18:40:40Z", 0),
		entry(protocol.AuditErase, &owner, nil, "", 11, "2027-01-05T09:00:00Z", 0x07),
	}
	for _, i := range []int{0, 2, 3} {
		r := &protocol.CFragReceipt{Node: f.nw.Nodes[i].ProxyKey, Grant: grant, RequestTx: *f.log[3].TxHash, CFragHash: hash(byte(0x30 + i)), Height: 5}
		if err := r.Sign(chainID, secret(t, byte(10+i)).Signer()); err != nil {
			t.Fatal(err)
		}
		f.receipts = append(f.receipts, r)
	}
	return f
}

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the package writes now (run with -update after a deliberate change):\n%s", path, got)
	}
}
