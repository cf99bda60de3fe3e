package app

import (
	"context"
	"sync"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// names remembers what the ledger does not know of a record: its name, type and plaintext
// size travel encrypted inside the sealed file's header. The app learns them when it uploads
// a record, when it opens one, or — for records its owner put elsewhere — by reading the
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

// metadata returns rec's metadata, reading and opening its header if need be (only the
// owner can, with its own key: no access is logged). ok is false when it is not known.
func (a *App) metadata(ctx context.Context, rec *protocol.Record) (envelope.Metadata, bool) {
	if m, ok := a.names.get(rec.ID); ok {
		return m, true
	}
	if a.id == nil || rec.Erased != nil || rec.Owner != protocol.PubKeyOf(a.s.Identity().Signing) {
		return envelope.Metadata{}, false
	}
	// The header is authenticated by opening it under the record's own key, so a node that
	// served other bytes is passed over (client.Session.DescribeRecord).
	m, err := a.s.DescribeRecord(ctx, rec, client.GetOptions{})
	if err != nil {
		return envelope.Metadata{}, false
	}
	a.names.set(rec.ID, *m)
	return *m, true
}
