package protocoltest

import "github.com/resilientrecords/resilientrecords/protocol"

// Rotate is the account's Rotate onto successor (its key as the receiving key too), with the
// successor's proof, at the account's next sequence.
func (a *Account) Rotate(successor *Account) []byte {
	b := must(protocol.NewRotate(successor.Signer, successor.Key, a.Chain, a.Key))
	return a.Next(b)
}
