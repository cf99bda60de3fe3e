package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// Streams (SPEC.md §1): one delegating key per stream, and a label key that names a stream
// on the ledger by a keyed hash of its name, so the owner finds it from any device and the
// ledger never learns the name.
const (
	labelStreams     = "rrec/streams/v1"
	labelStreamNames = "rrec/stream-names/v1"
)

// StreamKey is the delegating key of generation 0 of the stream whose id is stream: the key
// its StreamCreate commits.
func (id *Identity) StreamKey(stream []byte) (*umbral.SecretKey, error) {
	return id.StreamKeyOf(stream, 0)
}

// StreamKeyOf is the delegating key of a generation of the stream whose id is stream: the
// capsules of the generation's epochs are under it. Generation 0's label is the stream id
// alone (streams made before generations keep their key); a later one's appends the
// generation as u32 big-endian, so the fragments of one generation open no other's epochs.
func (id *Identity) StreamKeyOf(stream []byte, generation uint32) (*umbral.SecretKey, error) {
	if len(stream) == 0 || len(stream)+4 > MaxKeyLabelSize {
		return nil, fmt.Errorf("identity: stream key label must be 1 to %d bytes", MaxKeyLabelSize-4)
	}
	f, err := umbral.NewSecretKeyFactory(id.seed[:])
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	label := stream
	if generation > 0 {
		label = binary.BigEndian.AppendUint32(append([]byte(nil), stream...), generation)
	}
	return f.MakeFactory([]byte(labelStreams)).MakeKey(label), nil
}

// StreamLabel is the label a stream named name carries on the ledger: HMAC-SHA-256 of the
// name under the factory's secret MakeSecret("rrec/stream-names/v1").
func (id *Identity) StreamLabel(name string) ([32]byte, error) {
	f, err := umbral.NewSecretKeyFactory(id.seed[:])
	if err != nil {
		return [32]byte{}, fmt.Errorf("identity: %w", err)
	}
	k := f.MakeSecret([]byte(labelStreamNames))
	defer clear(k)
	m := hmac.New(sha256.New, k)
	m.Write([]byte(name))
	return [32]byte(m.Sum(nil)), nil
}
