package client

import (
	"context"
	"net/http"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// NodeStatus asks the node whose API is at apiURL for its status (GET /v1/status): what that
// one node says of itself, for a display of every node. Session.Status is the status to act
// on: the earliest of f+1 nodes.
func (c *API) NodeStatus(ctx context.Context, apiURL string) (*protocol.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+"/v1/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st protocol.Status
	if err := protocol.ReadAnswer(resp, maxAnswer, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Recipient is the public identity a grant was made to: both of its keys, as the owner gave
// them.
func Recipient(g *protocol.GrantState) (identity.Public, error) {
	return publicIdentity(g.RecipientSig, g.RecipientEnc)
}

// Owner is the public identity of the owner who made a grant: the key that signed it and the
// receiving key the owner stated in it.
func Owner(g *protocol.GrantState) (identity.Public, error) {
	return publicIdentity(g.Owner, g.OwnerEnc)
}

// RecipientString is the grant's recipient as people exchange it, "rrec1…"; its signing
// key in hex if the keys do not decode (never on a ledger, which checks them).
func RecipientString(g *protocol.GrantState) string {
	return identityString(g.RecipientSig, g.RecipientEnc)
}

// OwnerString is the grant's owner as people exchange it, "rrec1…", as RecipientString.
func OwnerString(g *protocol.GrantState) string { return identityString(g.Owner, g.OwnerEnc) }

func identityString(signing, receiving protocol.PubKey) string {
	if pub, err := publicIdentity(signing, receiving); err == nil {
		return pub.String()
	}
	return signing.String()
}

func publicIdentity(signing, receiving protocol.PubKey) (identity.Public, error) {
	s, err := umbral.PublicKeyFromBytes(signing[:])
	if err != nil {
		return identity.Public{}, err
	}
	e, err := umbral.PublicKeyFromBytes(receiving[:])
	if err != nil {
		return identity.Public{}, err
	}
	return identity.Public{Signing: s, Receiving: e}, nil
}
