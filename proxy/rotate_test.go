package proxy_test

import (
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// rotate commits u's rotation onto a new identity and returns it.
func (c *chain) rotate(u *user) *user {
	c.t.Helper()
	next := newUser(c.t)
	b, err := protocol.NewRotate(next.id.Signer(), protocol.PubKeyOf(next.id.Public().Receiving), chainID, u.pk)
	if err != nil {
		c.t.Fatal(err)
	}
	c.commit(u.tx(c.t, b))
	return next
}

// TestRetiredKeyRefused: once a key is retired on the ledger, every node refuses the
// re-encryption requests it signs (even under a request it committed before) and deposits
// of fragments it signed (even for a grant it made before), with key_retired.
func TestRetiredKeyRefused(t *testing.T) {
	s := newScenario(t, nil)
	c, doc := s.c, s.doctor.id.Signer()
	if _, err := ask(t, c, 0, s.access, doc, nil); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	pending := c.grantTo(s.owner, s.rec, s.doctor, nil, time.Time{}) // committed, not deposited yet

	c.rotate(s.doctor)
	for i := range c.nodes {
		_, err := ask(t, c, i, s.access, doc, nil)
		wantRefusal(t, err, protocol.ErrKeyRetired)
	}

	c.rotate(s.owner)
	for i := range c.nodes {
		wantRefusal(t, depositOne(t, c, i, pending.id, pending.frags.KeyFrag(i)), protocol.ErrKeyRetired)
	}
}
