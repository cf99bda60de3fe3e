package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/recovery"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// recoveryScenario is an owner whose record stands for the sealed identity, a recovery
// setup of 2 of 3 guardians over every node with its fragments deposited, and the recovery
// key's secret as k guardians pooling their shares would rebuild it.
type recoveryScenario struct {
	c         *chain
	owner     *user
	guardians []*user
	rec       *record
	grant     protocol.ID
	q         *umbral.SecretKey
}

func newRecoveryScenario(t *testing.T) *recoveryScenario {
	c := newChain(t, 4, nil)
	s := &recoveryScenario{c: c, owner: newUser(t), guardians: []*user{newUser(t), newUser(t), newUser(t)}}
	s.rec = c.putRecord(s.owner)
	shares, commitments, err := recovery.Split(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	q, err := umbral.PublicKeyFromBytes(commitments[0][:])
	if err != nil {
		t.Fatal(err)
	}
	frags, err := client.MakeFragments(s.rec.delegating, s.owner.id.Signer(), q, c.keys(), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.grant = protocol.GrantID(chainID, s.owner.pk, s.owner.seq)
	b := &protocol.RecoverySetup{Record: s.rec.id, OwnerEnc: protocol.PubKeyOf(s.owner.id.Public().Receiving),
		Threshold: uint8(frags.Threshold), Nodes: frags.Nodes, Delay: int64(time.Minute), Commitments: commitments}
	for i, g := range s.guardians {
		to := protocol.PubKeyOf(g.id.Public().Receiving)
		box, err := recovery.Seal(to, recovery.ToGuardian, s.grant, shares[i])
		if err != nil {
			t.Fatal(err)
		}
		b.Guardians = append(b.Guardians, protocol.Guardian{Signing: g.pk, Receiving: to, Share: box})
	}
	c.commit(s.owner.tx(t, b))
	// The nodes take the recovery grant's fragments like any grant's: each checks its
	// fragment against the owner, the record's delegating key and the recovery key.
	if res := c.deposit(&grant{id: s.grant, frags: frags, rec: s.rec}); len(res) != 4 {
		t.Fatalf("%d deposits", len(res))
	}
	if s.q, err = recovery.Combine(commitments, shares[:2]); err != nil {
		t.Fatal(err)
	}
	return s
}

// start, approve (by the first two guardians), wait and finish a recovery onto device; it
// returns the process id and the finish's hash and height.
func (s *recoveryScenario) recover(t *testing.T, device *user, finish bool) (protocol.Hash32, protocol.Hash32) {
	t.Helper()
	c := s.c
	raw := device.tx(t, &protocol.RecoveryStart{Owner: s.owner.pk, DeviceEnc: protocol.PubKeyOf(device.id.Public().Receiving)})
	c.commit(raw)
	p := protocol.TxHash(raw)
	for _, g := range s.guardians[:2] {
		c.commit(g.tx(t, &protocol.RecoveryApprove{Process: p, Share: []byte("sealed to the device")}))
	}
	if !finish {
		return p, protocol.Hash32{}
	}
	c.clock.Add(time.Minute)
	fin := device.tx(t, &protocol.RecoveryFinish{Process: p})
	c.commit(fin)
	return p, protocol.TxHash(fin)
}

// access is what a device gathers with: the recovery grant and the record as committed.
func (s *recoveryScenario) access(t *testing.T, tx protocol.Hash32) *client.Access {
	t.Helper()
	snap := s.c.snapshot()
	g, err := snap.Grant(s.grant)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := snap.Record(s.rec.id)
	if err != nil {
		t.Fatal(err)
	}
	return &client.Access{ChainID: chainID, Grant: g, Record: rec, RequestTx: tx}
}

// TestRecoveryReencryption: after a completed recovery the nodes re-encrypt the sealed
// identity's capsule for the device that finished, and the cfrags with the rebuilt recovery
// key open it; nobody else's signature, and nothing but a committed finish, gets a cfrag.
func TestRecoveryReencryption(t *testing.T) {
	s := newRecoveryScenario(t)
	c := s.c
	device, other := newUser(t), newUser(t)
	_, fin := s.recover(t, device, true)
	a := s.access(t, fin)

	for name, signer := range map[string]*umbral.Signer{"a stranger": other.id.Signer(), "a guardian": s.guardians[0].id.Signer(),
		"the owner": s.owner.id.Signer()} {
		if _, err := ask(t, c, 0, a, signer, nil); !errors.Is(err, protocol.ErrBadSignature) {
			t.Fatalf("finish signed by %s: %v", name, err)
		}
	}
	got, err := c.testClient().Gather(context.Background(), a, device.id.Signer(), c.clientNodes())
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := umbral.PublicKeyFromBytes(a.Record.DelegatingKey[:])
	key, err := umbral.DecryptReencrypted(s.q, dk, s.rec.capsule, got.CFrags, s.rec.ciphertext)
	if err != nil || !bytes.Equal(key, s.rec.fileKey) {
		t.Fatalf("the rebuilt recovery key does not open the capsule: %v", err)
	}
	// The finish authorises one read, for the request window.
	c.clock.Add(protocol.RequestWindow + time.Second)
	c.block()
	if _, err := ask(t, c, 3, s.access(t, fin), device.id.Signer(), nil); !errors.Is(err, protocol.ErrRequestExpired) {
		t.Fatalf("after the request window: %v", err)
	}
}

// TestRecoveryWithoutProcess: the recovery key's holders — k guardians who pooled their
// shares — get no cfrag without a completed process: not with their own request (the ledger
// refuses it), not by naming another grant's request, a start, or a cancelled process.
func TestRecoveryWithoutProcess(t *testing.T) {
	s := newRecoveryScenario(t)
	c := s.c
	holder := newUser(t)
	qSigner := umbral.NewSigner(s.q)

	// Another grant's committed request, named under the recovery grant.
	doctor := newUser(t)
	other := c.putRecord(s.owner)
	og := c.grantTo(s.owner, other, doctor, nil, time.Time{})
	c.deposit(og)
	req := c.request(doctor, og)
	for name, signer := range map[string]*umbral.Signer{"the recovery key": qSigner, "the doctor": doctor.id.Signer()} {
		if _, err := ask(t, c, 0, s.access(t, req.RequestTx), signer, nil); !errors.Is(err, protocol.ErrRequestNotCommitted) {
			t.Fatalf("another grant's request signed by %s: %v", name, err)
		}
	}
	// A process that is started and approved but cancelled: its start is no finish.
	p, _ := s.recover(t, holder, false)
	c.commit(s.owner.tx(t, &protocol.RecoveryCancel{Process: p}))
	if _, err := ask(t, c, 1, s.access(t, p), holder.id.Signer(), nil); !errors.Is(err, protocol.ErrRequestNotCommitted) {
		t.Fatalf("a cancelled process's start: %v", err)
	}
	c.clock.Add(time.Minute)
	if r := c.block(holder.tx(t, &protocol.RecoveryFinish{Process: p}))[0]; r.Code != protocol.ErrGrantRevoked.LedgerCode {
		t.Fatalf("finish of a cancelled process: code %d %s", r.Code, r.Log)
	}
}

// TestRecoveryAfterNewSetup: a new setup revokes the old recovery grant; every node deletes
// its fragment at that commit and refuses the old process's finish.
func TestRecoveryAfterNewSetup(t *testing.T) {
	s := newRecoveryScenario(t)
	c := s.c
	device := newUser(t)
	_, fin := s.recover(t, device, true)
	a := s.access(t, fin)
	old := s.grant
	snap := c.snapshot()
	setup, err := snap.RecoverySetup(s.owner.pk)
	if err != nil {
		t.Fatal(err)
	}
	again := &protocol.RecoverySetup{Record: s.rec.id, OwnerEnc: setup.OwnerEnc, Nodes: a.Grant.Nodes, Delay: setup.Delay,
		Guardians: setup.Guardians, Commitments: setup.Commitments}
	c.commit(s.owner.tx(t, again))
	for i, nd := range c.nodes {
		if nd.vault.Has(old) {
			t.Fatalf("node %d still holds the replaced recovery grant's fragment", i)
		}
		if _, err := ask(t, c, i, a, device.id.Signer(), nil); !errors.Is(err, protocol.ErrGrantRevoked) {
			t.Fatalf("node %d after the new setup: %v", i, err)
		}
	}
}
