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

// caregiverGrant commits a Grant of owner's rec to recipient signed by carer, with
// fragments signed by signer's key.
func (c *chain) caregiverGrant(owner, carer, signer *user, rec *record, recipient *user) *grant {
	t := c.t
	t.Helper()
	f, err := client.MakeFragments(rec.delegating, signer.id.Signer(), recipient.id.Public().Receiving, c.keys(), 0)
	if err != nil {
		t.Fatal(err)
	}
	g := &grant{id: protocol.GrantID(chainID, carer.pk, carer.seq), frags: f, rec: rec}
	c.commit(carer.tx(t, &protocol.Grant{Record: rec.id, OwnerEnc: protocol.PubKeyOf(owner.id.Public().Receiving),
		RecipientSig: recipient.pk, RecipientEnc: protocol.PubKeyOf(recipient.id.Public().Receiving),
		Threshold: uint8(f.Threshold), Nodes: f.Nodes}))
	return g
}

func TestCaregiverGrantDeposit(t *testing.T) {
	c := newChain(t, 4, nil)
	owner, carer, doctor := newUser(t), newUser(t), newUser(t)
	rec := c.putRecord(owner)
	c.commit(owner.tx(t, &protocol.Delegate{Caregiver: carer.pk, CaregiverEnc: protocol.PubKeyOf(carer.id.Public().Receiving),
		Rights: protocol.RightGrant, NotAfter: c.clock.Now().Add(time.Hour).UnixNano()}))

	// The caregiver holds the record's delegating key (from the owner's key bundle) and
	// signs the fragments with its own key: every node takes them, checked against `by`.
	g := c.caregiverGrant(owner, carer, carer, rec, doctor)
	gs, err := c.snapshot().Grant(g.id)
	if err != nil {
		t.Fatal(err)
	}
	if gs.Owner != owner.pk || gs.By == nil || *gs.By != carer.pk || gs.FragmentSigner() != carer.pk {
		t.Fatalf("grant owner %s by %v", gs.Owner, gs.By)
	}
	for i, r := range c.deposit(g) {
		if r.Err != nil || r.Receipt == nil || r.Receipt.Node != c.nodes[i].key {
			t.Fatalf("node %d: %+v", i, r)
		}
	}
	a := c.request(doctor, g)
	got, err := c.testClient().Gather(context.Background(), a, doctor.id.Signer(), c.clientNodes())
	if err != nil {
		t.Fatal(err)
	}
	key, err := umbral.DecryptReencrypted(doctor.id.ReceivingKey(), rec.delegating.PublicKey(), rec.capsule, got.CFrags, rec.ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, rec.fileKey) {
		t.Fatal("file key differs")
	}

	// Fragments the owner signed, committed in a grant the caregiver made, are not the
	// caregiver's: no node takes them.
	bad := c.caregiverGrant(owner, carer, owner, rec, doctor)
	for i := range c.nodes {
		wantRefusal(t, depositOne(t, c, i, bad.id, bad.frags.KeyFrag(i)), protocol.ErrInvalidKFrag)
	}
}
