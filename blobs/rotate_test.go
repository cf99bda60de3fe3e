package blobs

import (
	"net/http"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestUploadByRetiredKeyRefused: once a Rotate retired a key, the node refuses its uploads
// with key_retired, and takes the successor's, which inherited the account.
func TestUploadByRetiredKeyRefused(t *testing.T) {
	n := newAdmittedNode(t, protocol.DefaultAdmission, nil)
	alice, next := newSigner(t), newSigner(t)
	n.admit(0, protocol.TierMember, alice)
	if code, name, _ := n.upload(alice, 100); code != http.StatusCreated {
		t.Fatalf("an upload before the rotation: %d %s", code, name)
	}
	old := protocol.PubKeyOf(alice.VerifyingKey())
	body, err := protocol.NewRotate(next, protocol.PubKeyOf(next.VerifyingKey()), n.chain, old)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := protocol.Sealed(alice, n.chain, 0, n.t0.Add(time.Minute), body)
	if err != nil {
		t.Fatal(err)
	}
	if x, err := n.app.Block(n.t0.Add(2*time.Second), raw); err != nil || x.Results[0].Code != 0 {
		t.Fatalf("rotate: %v %+v", err, x)
	}
	if code, name, _ := n.upload(alice, 100); code != http.StatusForbidden || name != "key_retired" {
		t.Fatalf("an upload by the retired key: %d %s", code, name)
	}
	if code, name, _ := n.upload(next, 100); code != http.StatusCreated {
		t.Fatalf("an upload by the successor: %d %s", code, name)
	}
}
