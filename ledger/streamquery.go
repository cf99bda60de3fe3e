package ledger

import (
	"encoding/binary"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// Stream returns a committed stream.
func (s *Snapshot) Stream(id protocol.ID) (*protocol.StreamState, error) { return loadStream(s.st, id) }

// StreamsOf lists an owner's streams in the order they were created.
func (s *Snapshot) StreamsOf(owner protocol.PubKey, start uint64, limit int) (*protocol.Page[*protocol.StreamState], error) {
	// With their key generations, as /stream/ID answers: a device that finds its stream in
	// the list opens each epoch with its generation's key.
	return idPage(s, listID(listOwnerStreams, owner[:]), start, limit, s.streamWithGenerations)
}

// StreamGrant returns a stream grant and its window; not_found when id is no stream grant.
func (s *Snapshot) StreamGrant(id protocol.ID) (*protocol.StreamGrantState, error) {
	v, err := s.st.Get(streamKey('w', id[:]))
	if err != nil {
		return nil, err
	}
	if len(v) != 16 {
		return nil, protocol.Errorf(protocol.ErrNotFound, "stream grant %s", id)
	}
	g, err := s.Grant(id)
	if err != nil {
		return nil, err
	}
	gen, err := getU32(s.st, streamKey('v', id[:]))
	if err != nil {
		return nil, err
	}
	return &protocol.StreamGrantState{Grant: g, From: int64(binary.BigEndian.Uint64(v)), Until: int64(binary.BigEndian.Uint64(v[8:])),
		Generation: gen}, nil
}

// StreamGrantsTo lists the stream grants made to a recipient (by signing key).
func (s *Snapshot) StreamGrantsTo(recipient protocol.PubKey, start uint64, limit int) (*protocol.Page[*protocol.StreamGrantState], error) {
	return idPage(s, listID(listRecipientStreams, recipient[:]), start, limit, s.StreamGrant)
}

// StreamChunks lists a stream's chunks in append order, from position start.
func (s *Snapshot) StreamChunks(stream protocol.ID, start uint64, limit int) (*protocol.Page[protocol.StreamChunk], error) {
	st, err := s.Stream(stream)
	if err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	p := &protocol.Page[protocol.StreamChunk]{Next: -1}
	for i := start; i < st.Chunks; i++ {
		if len(p.Items) == limit {
			p.Next = int64(i)
			break
		}
		var c protocol.StreamChunk
		if _, err := getValue(s.st, streamKey('c', stream[:], u64b(i)), &c); err != nil {
			return nil, err
		}
		p.Items = append(p.Items, c)
	}
	return p, nil
}

// EpochOfCapsule is the epoch of stream whose committed capsule is c; ok false when c is
// no committed capsule of the stream.
func (s *Snapshot) EpochOfCapsule(stream protocol.ID, c protocol.CapsuleBytes) (int64, bool, error) {
	v, err := s.st.Get(streamKey('p', stream[:], c[:]))
	if err != nil || len(v) != 8 {
		return 0, false, err
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

// streamQuery answers the stream paths of Query: stream/ID (with its key generations),
// streams/owner/KEY, stream-grant/ID, stream-grants/recipient/KEY, stream-grants/stream/ID,
// stream-chunks/ID.
func (s *Snapshot) streamQuery(parts []string, start uint64, limit int) (any, bool, error) {
	id := func(i int) (protocol.ID, error) { return protocol.ParseHex[protocol.ID](parts[i]) }
	pk := func(i int) (protocol.PubKey, error) { return parsePubKeyHex(parts[i]) }
	var v any
	var err error
	switch {
	case len(parts) == 2 && parts[0] == "stream":
		v, err = with(id(1))(func(x protocol.ID) (any, error) { return s.streamWithGenerations(x) })
	case len(parts) == 3 && parts[0] == "streams" && parts[1] == "owner":
		v, err = with(pk(2))(func(k protocol.PubKey) (any, error) { return s.StreamsOf(k, start, limit) })
	case len(parts) == 2 && parts[0] == "stream-grant":
		v, err = with(id(1))(func(x protocol.ID) (any, error) { return s.StreamGrant(x) })
	case len(parts) == 3 && parts[0] == "stream-grants" && parts[1] == "recipient":
		v, err = with(pk(2))(func(k protocol.PubKey) (any, error) { return s.StreamGrantsTo(k, start, limit) })
	case len(parts) == 3 && parts[0] == "stream-grants" && parts[1] == "stream":
		v, err = with(id(2))(func(x protocol.ID) (any, error) { return s.StreamGrantsOf(x, start, limit) })
	case len(parts) == 2 && parts[0] == "stream-chunks":
		v, err = with(id(1))(func(x protocol.ID) (any, error) { return s.StreamChunks(x, start, limit) })
	default:
		return nil, false, nil
	}
	return v, true, err
}
