package client

import (
	"encoding/json"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// The parts of an answer that must agree across f+1 nodes. What moves with every node's
// reports — a record's holders and replica count, the nodes that confirmed destroying a
// grant's fragment — is a hint and stays out; everything a decision rests on is in.

func recordKey(raw json.RawMessage) ([]byte, error) {
	var r protocol.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	decisiveRecord(&r)
	return json.Marshal(&r)
}

func decisiveRecord(r *protocol.Record) { r.Holders, r.Replicas = nil, 0 }

func grantKey(raw json.RawMessage) ([]byte, error) {
	var g protocol.GrantState
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, err
	}
	decisiveGrant(&g)
	return json.Marshal(&g)
}

func decisiveGrant(g *protocol.GrantState) { g.Destroyed = nil }

// pageKey is the key of a page whose items are normalised by item.
func pageKey[T any](item func(*T)) decisive {
	return func(raw json.RawMessage) ([]byte, error) {
		var p protocol.Page[*T]
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		for _, v := range p.Items {
			if v != nil {
				item(v)
			}
		}
		return json.Marshal(&p)
	}
}

var (
	recordPageKey = pageKey(decisiveRecord)
	grantPageKey  = pageKey(decisiveGrant)
)
