// Package identity holds the keys of one Resilient Records user — a patient who owns records,
// a provider who reads them, or both — all derived from a single 32-byte seed.
//
// The seed feeds an Umbral SecretKeyFactory, so the same seed gives the same keys in any
// Umbral implementation:
//
//	signing key      MakeKey("rrec/signing/v1")    signs ledger transactions and requests
//	receiving key    MakeKey("rrec/receiving/v1")  opens records re-encrypted for this user
//	delegating keys  MakeFactory("rrec/records/v1").MakeKey(keyLabel), one per record
//	inbox keys       MakeFactory("rrec/inbox/v1").MakeKey(slot, u32 big-endian), one per issued record
//
// A delegating key per record means the key fragments of one grant can never open another
// record of the same owner.
//
// An identity file holds the seed, plain or sealed under a passphrase (scrypt and
// ChaCha20-Poly1305, as age does); SPEC.md specifies both, and the public identity string.
package identity

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// SeedSize is the size of an identity's only secret.
const SeedSize = umbral.SecretKeyFactorySeedSize

// Derivation labels. Changing one changes every key derived from existing seeds.
var (
	labelSigning   = []byte("rrec/signing/v1")
	labelReceiving = []byte("rrec/receiving/v1")
	labelRecords   = []byte("rrec/records/v1")
	labelInbox     = []byte("rrec/inbox/v1")
)

// Identity is a user's secret: a seed and the keys derived from it.
type Identity struct {
	seed      [SeedSize]byte
	signing   *umbral.SecretKey
	receiving *umbral.SecretKey
	records   *umbral.SecretKeyFactory
	inbox     *umbral.SecretKeyFactory
}

// Generate makes a new identity from fresh randomness.
func Generate() (*Identity, error) {
	var seed [SeedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("identity: reading randomness: %w", err)
	}
	return FromSeed(seed[:])
}

// FromSeed rebuilds the identity of a 32-byte seed.
func FromSeed(seed []byte) (*Identity, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("identity: seed is %d bytes, want %d", len(seed), SeedSize)
	}
	f, err := umbral.NewSecretKeyFactory(seed)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	id := &Identity{
		signing:   f.MakeKey(labelSigning),
		receiving: f.MakeKey(labelReceiving),
		records:   f.MakeFactory(labelRecords),
		inbox:     f.MakeFactory(labelInbox),
	}
	copy(id.seed[:], seed)
	return id, nil
}

// Signer signs transactions and requests as this identity.
func (id *Identity) Signer() *umbral.Signer { return umbral.NewSigner(id.signing) }

// ReceivingKey opens records that nodes re-encrypted for this identity.
func (id *Identity) ReceivingKey() *umbral.SecretKey { return id.receiving }

// DelegatingKey is the key a record is sealed under. keyLabel is chosen by the owner when
// the record is made (it is public: without the seed it opens nothing).
func (id *Identity) DelegatingKey(keyLabel []byte) (*umbral.SecretKey, error) {
	if len(keyLabel) == 0 || len(keyLabel) > MaxKeyLabelSize {
		return nil, fmt.Errorf("identity: record key label must be 1 to %d bytes", MaxKeyLabelSize)
	}
	return id.records.MakeKey(keyLabel), nil
}

// InboxKey is the one-time delegating key of inbox slot number slot: an issuer seals one
// issued record under its public half, and the record keeps it as its delegating key.
func (id *Identity) InboxKey(slot uint32) *umbral.SecretKey {
	return id.inbox.MakeKey(binary.BigEndian.AppendUint32(nil, slot))
}

// MaxKeyLabelSize bounds the per-record label a delegating key is derived from.
const MaxKeyLabelSize = 64

// Public is what an identity hands to others.
func (id *Identity) Public() Public {
	return Public{Signing: id.signing.PublicKey(), Receiving: id.receiving.PublicKey()}
}

// String never prints the secret.
func (id *Identity) String() string { return "Identity:" + id.Public().String() }

// GoString never prints the secret either, so %#v is as safe as %v.
func (id *Identity) GoString() string { return id.String() }

// ErrMalformed reports an identity or public identity that does not parse.
var ErrMalformed = errors.New("identity: malformed")
