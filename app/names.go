package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// names remembers what the ledger does not know of a record: its name, type and plaintext
// size travel encrypted inside the sealed file's header. The app learns them when it uploads
// a record, when it opens one, or — for records its owner put elsewhere — by fetching the
// header alone and opening it with the owner's key.
type names struct {
	mu sync.Mutex
	m  map[protocol.ID]envelope.Metadata
}

func newNames() *names { return &names{m: map[protocol.ID]envelope.Metadata{}} }

func (n *names) set(id protocol.ID, m envelope.Metadata) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m.Labels = nil
	n.m[id] = m
}

func (n *names) get(id protocol.ID) (envelope.Metadata, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m, ok := n.m[id]
	return m, ok
}

// Where the sealed metadata's length sits in a header, and the most a header can take
// (envelope/SPEC.md §2): read here so that a header with many labels is fetched whole.
const (
	headerFixedLen = 207
	headerMetaLen  = headerFixedLen - 4
	maxHeaderLen   = headerFixedLen + 64<<10 + 16
)

// metadata returns rec's metadata, fetching and opening its header if need be (only the
// owner can). ok is false when it is not known.
func (a *App) metadata(ctx context.Context, rec *protocol.Record) (envelope.Metadata, bool) {
	if m, ok := a.names.get(rec.ID); ok {
		return m, true
	}
	if a.id == nil || rec.Erased != nil || rec.Owner != protocol.PubKeyOf(a.s.Identity().Signing) {
		return envelope.Metadata{}, false
	}
	c, err := cid.Decode(string(rec.CID))
	if err != nil {
		return envelope.Metadata{}, false
	}
	api := &client.API{}
	nodes := client.HoldersFirst(rec, a.s.Network().Nodes)
	fetch := func(n int64) ([]byte, error) {
		return api.FetchBlobRange(ctx, nodes, c, 0, min(n, int64(rec.Size)))
	}
	b, err := fetch(4096)
	if err != nil || len(b) < headerFixedLen {
		return envelope.Metadata{}, false
	}
	if need := int64(headerFixedLen) + int64(binary.BigEndian.Uint32(b[headerMetaLen:])); need > int64(len(b)) && need <= maxHeaderLen {
		if b, err = fetch(need); err != nil {
			return envelope.Metadata{}, false
		}
	}
	h, err := envelope.ParseHeader(bytes.NewReader(b))
	if err != nil {
		return envelope.Metadata{}, false
	}
	dk, err := a.id.DelegatingKey(rec.ID[:])
	if err != nil {
		return envelope.Metadata{}, false
	}
	// Unwrap authenticates the header under the record's own key: a node that served other
	// bytes makes it fail, so the range need not be trusted.
	o, err := h.Unwrap(envelope.OwnerKey{Delegating: dk})
	if err != nil {
		return envelope.Metadata{}, false
	}
	m := o.Metadata()
	a.names.set(rec.ID, m)
	return m, true
}
