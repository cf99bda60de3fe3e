package benchkit

import (
	"context"
	"fmt"
	"time"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// Account signs raw transactions for a benchmark, keeping its own sequence: a load generator
// that skips the SDK's reads and confirmations so that its CPU goes to the nodes.
type Account struct {
	ID  *identity.Identity
	PK  protocol.PubKey
	Seq uint64
}

// NewAccount makes an account with a fresh identity.
func NewAccount() (*Account, error) {
	id, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	return &Account{ID: id, PK: protocol.PubKeyOf(id.Public().Signing)}, nil
}

// Sign signs body as the account's next transaction on chain.
func (a *Account) Sign(chain string, body protocol.Body) ([]byte, error) {
	tx := &protocol.Tx{ChainID: chain, Sequence: a.Seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: body}
	if err := tx.Sign(a.ID.Signer()); err != nil {
		return nil, err
	}
	a.Seq++
	return tx.Encode(), nil
}

// Enrol enrols the account by the self-service path, with the proof of work the network's
// rules ask for, and waits for the commit.
func (a *Account) Enrol(ctx context.Context, rpc *node.RPC, chain string, bits int) error {
	nonce, err := protocol.SolveEnrol(ctx, chain, a.PK, bits)
	if err != nil {
		return err
	}
	raw, err := a.Sign(chain, &protocol.Enrol{Nonce: nonce})
	if err != nil {
		return err
	}
	if _, err := rpc.Submit(ctx, raw); err != nil {
		return fmt.Errorf("enrol %s: %w", a.PK, err)
	}
	return nil
}
