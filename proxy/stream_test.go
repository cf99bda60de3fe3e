package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

const tenMin = 600

// testStream is a committed stream with one chunk in each of some epochs.
type testStream struct {
	id       protocol.ID
	key      *umbral.SecretKey
	capsules map[int64]protocol.CapsuleBytes // by epoch
}

func (c *chain) createStream(owner *user) *testStream {
	c.t.Helper()
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		c.t.Fatal(err)
	}
	s := &testStream{id: protocol.StreamID(chainID, owner.pk, owner.seq), key: sk, capsules: map[int64]protocol.CapsuleBytes{}}
	c.commit(owner.tx(c.t, &protocol.StreamCreate{Epoch: tenMin, DelegatingKey: protocol.PubKeyOf(sk.PublicKey())}))
	return s
}

// appendAt commits a chunk of two entries at t and t+1s under t's epoch's capsule.
func (c *chain) appendAt(owner *user, s *testStream, t time.Time) protocol.CapsuleBytes {
	c.t.Helper()
	e := protocol.EpochOf(t.UnixNano(), tenMin)
	cb, ok := s.capsules[e]
	if !ok {
		capsule, _, err := umbral.Encrypt(s.key.PublicKey(), []byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			c.t.Fatal(err)
		}
		b, _ := capsule.MarshalBinary()
		copy(cb[:], b)
		s.capsules[e] = cb
	}
	c.commit(owner.tx(c.t, &protocol.StreamAppend{Stream: s.id, Epoch: e, Capsule: cb, CID: []byte(fmt.Sprintf("bafy-%x-%d", s.id[:4], t.Unix())),
		Size: 10, First: t.UnixNano(), Last: t.Add(time.Second).UnixNano(), Count: 2}))
	return cb
}

// streamGrant commits a stream grant of s over [from, until) on every node, deposits its
// fragments and commits the recipient's request.
func (c *chain) streamGrant(owner *user, s *testStream, to *user, from, until time.Time) *client.Access {
	t := c.t
	t.Helper()
	f, err := client.MakeFragments(s.key, owner.id.Signer(), to.id.Public().Receiving, c.keys(), 0)
	if err != nil {
		t.Fatal(err)
	}
	gid := protocol.GrantID(chainID, owner.pk, owner.seq)
	b := &protocol.StreamGrant{Grant: protocol.Grant{Record: s.id, OwnerEnc: owner.pk, RecipientSig: to.pk,
		RecipientEnc: protocol.PubKeyOf(to.id.Public().Receiving), Threshold: uint8(f.Threshold), Nodes: f.Nodes}, From: from.UnixNano()}
	if !until.IsZero() {
		b.Until = until.UnixNano()
	}
	c.commit(owner.tx(t, b))
	c.deposit(&grant{id: gid, frags: f})
	raw := to.tx(t, &protocol.RequestAccess{Grant: gid, Purpose: "claim"})
	c.commit(raw)
	gs, err := c.snapshot().Grant(gid)
	if err != nil {
		t.Fatal(err)
	}
	return &client.Access{ChainID: chainID, Grant: gs, Record: &protocol.Record{}, RequestTx: protocol.TxHash(raw)}
}

// TestStreamGrantWindow: the nodes re-encrypt a stream grant's capsule only for an epoch of
// its own stream wholly inside its window — not an earlier or later epoch, not one only
// partly inside, not another stream's — and not at all once it is revoked.
func TestStreamGrantWindow(t *testing.T) {
	c := newChain(t, 4, nil)
	owner, insurer := newUser(t), newUser(t)
	s, other := c.createStream(owner), c.createStream(owner)
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	before := c.appendAt(owner, s, at(8, 55))
	first := c.appendAt(owner, s, at(9, 0))
	last := c.appendAt(owner, s, at(16, 55))
	after := c.appendAt(owner, s, at(17, 0))
	elsewhere := c.appendAt(owner, other, at(12, 0))

	a := c.streamGrant(owner, s, insurer, at(9, 0), at(17, 0))
	partial := c.streamGrant(owner, s, insurer, at(9, 5), at(17, 0))
	ask1 := func(a *client.Access, cb protocol.CapsuleBytes) error {
		_, err := ask(t, c, 0, a, insurer.id.Signer(), func(r *protocol.ReencryptRequest) { r.Capsule = cb })
		return err
	}
	for name, cb := range map[string]protocol.CapsuleBytes{"09:00": first, "16:50": last} {
		if err := ask1(a, cb); err != nil {
			t.Fatalf("epoch %s inside the window: %v", name, err)
		}
	}
	for name, cb := range map[string]protocol.CapsuleBytes{"08:50": before, "17:00": after} {
		if err := ask1(a, cb); !errors.Is(err, protocol.ErrOutsideWindow) {
			t.Fatalf("epoch %s outside the window: %v, want outside_window", name, err)
		}
	}
	if err := ask1(a, elsewhere); !errors.Is(err, protocol.ErrWrongCapsule) {
		t.Fatalf("another stream's capsule: %v, want wrong_capsule", err)
	}
	if err := ask1(partial, first); !errors.Is(err, protocol.ErrOutsideWindow) {
		t.Fatalf("an epoch partly inside the window: %v, want outside_window", err)
	}
	if err := ask1(partial, last); err != nil {
		t.Fatalf("an epoch wholly inside the narrower window: %v", err)
	}

	// Under an open-ended grant, entries appended after it are readable, until the revoke.
	open := c.streamGrant(owner, s, insurer, at(9, 0), time.Time{})
	later := c.appendAt(owner, s, at(17, 10))
	if again := c.appendAt(owner, s, at(17, 15)); again != later {
		t.Fatal("a second chunk of an epoch got another capsule")
	}
	if err := ask1(open, later); err != nil {
		t.Fatalf("an epoch appended after an open-ended grant: %v", err)
	}
	if err := ask1(a, later); !errors.Is(err, protocol.ErrOutsideWindow) {
		t.Fatalf("the same epoch under the closed window: %v, want outside_window", err)
	}
	c.commit(owner.tx(t, &protocol.Revoke{Grant: open.Grant.ID}))
	if err := ask1(open, later); !errors.Is(err, protocol.ErrGrantRevoked) {
		t.Fatalf("after the revoke: %v, want grant_revoked", err)
	}
	if c.nodes[0].vault.Has(open.Grant.ID) {
		t.Fatal("the node kept the revoked stream grant's fragment")
	}
}

// rekey commits the next generation of s from epoch first, under a new key that s's later
// epochs are sealed under.
func (c *chain) rekey(owner *user, s *testStream, gen uint32, first int64) {
	c.t.Helper()
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		c.t.Fatal(err)
	}
	s.key = sk
	c.commit(owner.tx(c.t, &protocol.StreamRekey{Stream: s.id, Generation: gen, DelegatingKey: protocol.PubKeyOf(sk.PublicKey()), FirstEpoch: first}))
}

// TestStreamGrantGeneration: a stream grant's nodes re-encrypt only the epochs of its own key
// generation. A grant of generation 0 is refused an epoch of generation 1 even inside its
// open-ended window; a grant made after the rekey takes fragments of the new key only, and
// is refused the old generation's epochs.
func TestStreamGrantGeneration(t *testing.T) {
	c := newChain(t, 4, nil)
	owner, reader := newUser(t), newUser(t)
	s := c.createStream(owner)
	nine := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	old := c.appendAt(owner, s, nine)
	g0 := c.streamGrant(owner, s, reader, nine, time.Time{})
	oldKey := s.key

	c.rekey(owner, s, 1, protocol.EpochOf(nine.UnixNano(), tenMin)+1)
	fresh := c.appendAt(owner, s, nine.Add(10*time.Minute))
	ask1 := func(a *client.Access, cb protocol.CapsuleBytes) error {
		_, err := ask(t, c, 1, a, reader.id.Signer(), func(r *protocol.ReencryptRequest) { r.Capsule = cb })
		return err
	}
	if err := ask1(g0, old); err != nil {
		t.Fatalf("generation 0's epoch under the generation 0 grant: %v", err)
	}
	if err := ask1(g0, fresh); !errors.Is(err, protocol.ErrOutsideWindow) {
		t.Fatalf("generation 1's epoch under the generation 0 grant: %v, want outside_window", err)
	}

	g1 := c.streamGrant(owner, s, reader, nine, time.Time{})
	if err := ask1(g1, fresh); err != nil {
		t.Fatalf("generation 1's epoch under the generation 1 grant: %v", err)
	}
	if err := ask1(g1, old); !errors.Is(err, protocol.ErrOutsideWindow) {
		t.Fatalf("generation 0's epoch under the generation 1 grant: %v, want outside_window", err)
	}

	// Fragments of the old key for a grant of the new generation: no node takes them.
	f, err := client.MakeFragments(oldKey, owner.id.Signer(), reader.id.Public().Receiving, c.keys(), 0)
	if err != nil {
		t.Fatal(err)
	}
	gid := protocol.GrantID(chainID, owner.pk, owner.seq)
	c.commit(owner.tx(t, &protocol.StreamGrant{Grant: protocol.Grant{Record: s.id, OwnerEnc: owner.pk, RecipientSig: reader.pk,
		RecipientEnc: protocol.PubKeyOf(reader.id.Public().Receiving), Threshold: uint8(f.Threshold), Nodes: f.Nodes}, From: nine.UnixNano()}))
	res, _ := (&client.API{}).Deposit(context.Background(), chainID, gid, 0, f, c.clientNodes())
	for i, d := range res {
		if !errors.Is(d.Err, protocol.ErrInvalidKFrag) {
			t.Fatalf("node %d took a fragment of the old generation's key for a new grant: %v", i, d.Err)
		}
	}
}
