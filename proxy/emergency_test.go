package proxy_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// TestEmergencyReencrypt: nodes re-encrypt a pre-authorised record for the service's
// organisation only under a committed, co-signed emergency request, and only within
// protocol.EmergencyWindow of block time.
func TestEmergencyReencrypt(t *testing.T) {
	c := newChain(t, 4, nil)
	owner, org, a, b := newUser(t), newUser(t), newUser(t), newUser(t)
	rec := c.putRecord(owner)

	nd := c.nodes[3]
	seq, err := c.snapshot().Sequence(nd.key)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := protocol.Sealed(umbral.NewSigner(nd.sk), chainID, seq, time.Now().Add(time.Minute), &protocol.RegisterService{
		Name: "City ED", Org: org.pk, OrgEnc: protocol.PubKeyOf(org.id.Public().Receiving),
		Clinicians: []protocol.Clinician{{Key: a.pk, Name: "Dr A"}, {Key: b.pk, Name: "Dr B"}}})
	if err != nil {
		t.Fatal(err)
	}
	c.commit(reg)
	g := c.grantTo(owner, rec, org, nil, time.Time{})
	for i, r := range c.deposit(g) {
		if r.Err != nil {
			t.Fatalf("deposit on node %d: %v", i, r.Err)
		}
	}
	snap := c.snapshot()
	gs, _ := snap.Grant(g.id)
	record, _ := snap.Record(rec.id)

	// No committed emergency request: an ordinary one is refused by the ledger, and naming
	// any transaction that is not an emergency request is refused by the nodes.
	if r := c.block(org.tx(t, &protocol.RequestAccess{Grant: g.id, Purpose: "routine"}))[0]; r.Code == 0 {
		t.Fatal("an ordinary request used a pre-authorisation")
	}
	access := &client.Access{ChainID: chainID, Grant: gs, Record: record, RequestTx: gs.TxHash}
	_, err = ask(t, c, 0, access, org.id.Signer(), nil)
	wantRefusal(t, err, protocol.ErrRequestNotCommitted)

	// A co-signed emergency request: the organisation gathers and opens the file key.
	tx := &protocol.Tx{ChainID: chainID, Sequence: a.seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(),
		Body: &protocol.EmergencyRequest{Grant: g.id, Reason: "unconscious on arrival"}}
	tx.Signer = a.pk
	if err := protocol.CoSign(b.id.Signer(), tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Sign(a.id.Signer()); err != nil {
		t.Fatal(err)
	}
	a.seq++
	raw := tx.Encode()
	c.commit(raw)
	access.RequestTx = protocol.TxHash(raw)
	// The clinician's key is not the organisation's: the nodes answer only the organisation.
	_, err = ask(t, c, 0, access, a.id.Signer(), nil)
	wantRefusal(t, err, protocol.ErrBadSignature)
	got, err := c.testClient().Gather(context.Background(), access, org.id.Signer(), c.clientNodes())
	if err != nil {
		t.Fatal(err)
	}
	key, err := umbral.DecryptReencrypted(org.id.ReceivingKey(), rec.delegating.PublicKey(), rec.capsule, got.CFrags, rec.ciphertext)
	if err != nil || !bytes.Equal(key, rec.fileKey) {
		t.Fatalf("the station does not open the record: %v", err)
	}

	// Past the window of block time the request no longer serves.
	c.clock.Add(protocol.EmergencyWindow + time.Second)
	c.block()
	_, err = ask(t, c, 1, access, org.id.Signer(), nil)
	wantRefusal(t, err, protocol.ErrRequestExpired)
}
