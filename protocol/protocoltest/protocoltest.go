// Package protocoltest makes ledger accounts and the transactions they sign, for tests and
// benchmarks: real keys, real signatures, real capsules, nothing faked.
package protocoltest

import (
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Account is a key pair and the sequence number its next transaction carries.
type Account struct {
	Secret *umbral.SecretKey
	Signer *umbral.Signer
	Key    protocol.PubKey
	Seq    uint64
	Chain  string
	// Clock is the time its transactions expire after (by Lifetime); nil: time.Now. Tests
	// that run the ledger on made-up block times set it to their block clock.
	Clock func() time.Time
}

// Lifetime is how long after the account's clock its transactions expire.
const Lifetime = 10 * time.Minute

func (a *Account) expires() time.Time {
	if a.Clock != nil {
		return a.Clock().Add(Lifetime)
	}
	return time.Now().Add(Lifetime)
}

// NewAccount makes an account with a fresh key on chainID. It panics if the system's
// randomness fails.
func NewAccount(chainID string) *Account {
	sk := must(umbral.GenerateSecretKey())
	s := umbral.NewSigner(sk)
	return &Account{Secret: sk, Signer: s, Key: protocol.PubKeyOf(s.VerifyingKey()), Chain: chainID}
}

// NewAccounts makes n accounts on chainID.
func NewAccounts(chainID string, n int) []*Account {
	out := make([]*Account, n)
	for i := range out {
		out[i] = NewAccount(chainID)
	}
	return out
}

// Keys lists the accounts' public keys.
func Keys(as []*Account) []protocol.PubKey {
	out := make([]protocol.PubKey, len(as))
	for i, a := range as {
		out[i] = a.Key
	}
	return out
}

// Sign encodes body signed at the account's current sequence, without advancing it: the
// caller advances Seq (Next) when the transaction is expected to commit.
func (a *Account) Sign(body protocol.Body) []byte {
	return must(protocol.Sealed(a.Signer, a.Chain, a.Seq, a.expires(), body))
}

// SignAt encodes body signed at sequence seq.
func (a *Account) SignAt(seq uint64, body protocol.Body) []byte {
	return must(protocol.Sealed(a.Signer, a.Chain, seq, a.expires(), body))
}

// Next encodes body signed at the current sequence and advances it.
func (a *Account) Next(body protocol.Body) []byte {
	raw := a.Sign(body)
	a.Seq++
	return raw
}

// RecordID is the id the account's next PutRecord gets.
func (a *Account) RecordID() protocol.ID { return protocol.RecordID(a.Chain, a.Key, a.Seq) }

// GrantID is the id the account's next Grant gets.
func (a *Account) GrantID() protocol.ID { return protocol.GrantID(a.Chain, a.Key, a.Seq) }

// Capsule is a fresh, valid capsule and the delegating public key it is under.
func Capsule() (protocol.CapsuleBytes, protocol.PubKey) {
	sk := must(umbral.GenerateSecretKey())
	c, _ := must2(umbral.Encrypt(sk.PublicKey(), []byte("file key")))
	var out protocol.CapsuleBytes
	copy(out[:], must(c.MarshalBinary()))
	return out, protocol.PubKeyOf(sk.PublicKey())
}

// PutRecord is a PutRecord of a made-up blob with a fresh capsule.
func PutRecord(cid string, size uint64) *protocol.PutRecord {
	c, dk := Capsule()
	return &protocol.PutRecord{CID: []byte(cid), Size: size, Capsule: c, DelegatingKey: dk}
}

// Grant is a grant of record to recipient (both of its keys) on nodes, with made-up
// commitments, the default threshold and no end unless notAfter (unix ns) is set.
func Grant(record protocol.ID, recipient protocol.PubKey, nodes []protocol.PubKey, notAfter int64) *protocol.Grant {
	g := &protocol.Grant{Record: record, OwnerEnc: recipient, RecipientSig: recipient, RecipientEnc: recipient, NotAfter: notAfter, Purpose: "treatment"}
	for i, n := range nodes {
		g.Nodes = append(g.Nodes, protocol.GrantNode{Proxy: n, Commitment: protocol.Hash32{byte(i + 1)}})
	}
	return g
}

func must[T any](v T, err error) T {
	if err != nil {
		panic("protocoltest: " + err.Error())
	}
	return v
}

func must2[T, U any](v T, u U, err error) (T, U) {
	if err != nil {
		panic("protocoltest: " + err.Error())
	}
	return v, u
}
