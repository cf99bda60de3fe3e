package ledger

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
)

func TestQueryPaths(t *testing.T) {
	m := newMachine(t, 0)
	owner, doc := m.account(), m.account()
	rec := m.put(owner)
	gid := owner.GrantID()
	m.ok(owner, m.grantBody(rec, doc, 0))
	s := m.snapshot()
	for _, p := range []string{"/nodes", "/account/" + owner.Key.String(), "/record/" + rec.String(), "/grant/" + gid.String(),
		"/records/owner/" + owner.Key.String() + "?limit=1", "/grants/record/" + rec.String(),
		"/grants/recipient/" + doc.Key.String() + "?start=0", "/audit/" + rec.String() + "?start=1&limit=5",
		"/records/cid/bafy-test", "/placement/" + rec.String(), "nodes", "/nodes/"} {
		v, err := s.Query(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if _, err := json.Marshal(v); err != nil {
			t.Errorf("%s: answer does not encode: %v", p, err)
		}
	}
	for p, want := range map[string]error{
		"/nope":                                  protocol.ErrUnknownQuery,
		"/status":                                protocol.ErrUnknownQuery, // status is the node's GET /v1/status
		"/":                                      protocol.ErrUnknownQuery,
		"/record":                                protocol.ErrUnknownQuery,
		"/record/" + rec.String() + "/x":         protocol.ErrUnknownQuery,
		"/record/00":                             protocol.ErrMalformed,
		"/account/zz":                            protocol.ErrMalformed,
		"/account/02" + strings.Repeat("11", 32): protocol.ErrMalformed, // not a curve point
		"/audit/" + rec.String() + "?limit=-1":   protocol.ErrMalformed,
		"/audit/" + rec.String() + "?limit=x":    protocol.ErrMalformed,
		"/audit/" + rec.String() + "?start=-1":   protocol.ErrMalformed,
		"/record/" + protocol.ID{}.String():      protocol.ErrNotFound,
		"/grant/" + protocol.ID{}.String():       protocol.ErrNotFound,
		"/tombstone/" + rec.String():             protocol.ErrNotFound, // not erased
		"/request/" + protocol.Hash32{}.String(): protocol.ErrNotFound,
		"/request/00":                            protocol.ErrMalformed,
		"/records/cid/" + strings.Repeat("c", protocol.MaxCIDBytes+1): protocol.ErrMalformed,
		"/nodes?" + strings.Repeat("x", protocol.MaxQueryPath):        protocol.ErrTooLarge,
		"/%zz": protocol.ErrMalformed,
	} {
		if _, err := s.Query(p); !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", p, err, want)
		}
	}

	// /nodes answers the registry as genesis wrote it: []protocol.Node, no index field.
	v, err := s.Query("/nodes")
	if err != nil {
		t.Fatal(err)
	}
	nodes, ok := v.([]protocol.Node)
	if !ok || len(nodes) != 4 {
		t.Fatalf("/nodes answered %T %v", v, v)
	}
	for i, n := range nodes {
		if n.ProxyKey != m.nodes[i].Key || n.Name != "node"+string(rune('0'+i)) || n.Power != 10 || len(n.ValidatorKey) != 32 {
			t.Errorf("node %d: %+v", i, n)
		}
	}
	b, _ := json.Marshal(v)
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, n := range raw {
		if _, ok := n["index"]; ok || len(n) != 5 {
			t.Fatalf("/nodes entry %v: want exactly name, api, proxy_key, validator_key, power", n)
		}
	}

	// Answers are the protocol's values.
	if v, err := s.Query("/account/" + owner.Key.String()); err != nil || !reflect.DeepEqual(v, map[string]uint64{"sequence": 2}) {
		t.Fatalf("/account: %v, %v", v, err)
	}
	if v, err := s.Query("/grant/" + gid.String()); err != nil || v.(*protocol.GrantState).ID != gid {
		t.Fatalf("/grant: %v, %v", v, err)
	}
	if v, err := s.Query("/records/owner/" + owner.Key.String() + "?limit=1"); err != nil ||
		len(v.(*protocol.Page[*protocol.Record]).Items) != 1 || v.(*protocol.Page[*protocol.Record]).Next != -1 {
		t.Fatalf("/records/owner: %+v, %v", v, err)
	}
	if v, err := s.Query("/audit/" + rec.String() + "?start=1&limit=5"); err != nil ||
		len(v.(*protocol.Page[protocol.AuditEntry]).Items) != 1 || v.(*protocol.Page[protocol.AuditEntry]).Items[0].Kind != protocol.AuditGrant {
		t.Fatalf("/audit: %+v, %v", v, err)
	}
	if v, err := s.Query("/placement/" + rec.String()); err != nil || len(v.([]protocol.Node)) != 4 {
		t.Fatalf("/placement: %+v, %v", v, err)
	}
}

// TestQueryPaging pages through a list with start and limit.
func TestQueryPaging(t *testing.T) {
	m := newMachine(t, 0)
	owner := m.account()
	rec := m.put(owner)
	for i := 0; i < 4; i++ {
		m.ok(owner, m.grantBody(rec, owner, 0))
	}
	s := m.snapshot()
	var ids []protocol.ID
	start := int64(0)
	for pages := 0; start != -1; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		p, err := s.GrantsOf(rec, uint64(start), 2)
		if err != nil || len(p.Items) == 0 {
			t.Fatalf("page at %d: %+v, %v", start, p, err)
		}
		for _, g := range p.Items {
			ids = append(ids, g.ID)
		}
		start = p.Next
	}
	if len(ids) != 4 {
		t.Fatalf("paged %d grants, want 4", len(ids))
	}
	if p, err := s.GrantsOf(rec, 10, 2); err != nil || len(p.Items) != 0 || p.Next != -1 {
		t.Fatalf("page past the end: %+v, %v", p, err)
	}
	if p, err := s.GrantsTo(owner.Key, 0, 1000); err != nil || len(p.Items) != 4 {
		t.Fatalf("limit above the maximum: %+v, %v", p, err)
	}
}

// FuzzQueryPath: any path yields an answer that encodes, or a coded error; never a panic.
func FuzzQueryPath(f *testing.F) {
	m := newMachine(f, 0)
	owner := m.account()
	rec := owner.RecordID()
	gid := protocol.GrantID(testChain, owner.Key, 1)
	if errs, _ := m.block(1, owner.Next(protoPut()), owner.Next(m.grantBody(rec, owner, 0))); errs[0] != nil || errs[1] != nil {
		f.Fatal(errs)
	}
	s := m.snapshot()
	for _, p := range []string{"/status", "/nodes", "/record/00", "/grants/record/%zz?start=1", "/audit/x?limit=99999999999999999999",
		"/record/" + rec.String(), "/grant/" + gid.String(), "/records/owner/" + owner.Key.String() + "?start=1&limit=1",
		"/audit/" + rec.String() + "?start=18446744073709551615", "/records/cid/bafy-test", "/placement/" + rec.String(),
		"/tombstone/" + rec.String(), "/request/" + protocol.Hash32{}.String(), "/request/x"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		v, err := s.Query(path)
		if err != nil {
			var e *protocol.Error
			if !errors.As(err, &e) || e.Code == protocol.ErrInternal.Code {
				t.Fatalf("%q: uncoded error %v", path, err)
			}
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("%q: answer does not encode: %v", path, err)
		}
	})
}
