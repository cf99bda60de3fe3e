package ledger

import (
	"errors"
	"testing"
)

func TestQueryPaths(t *testing.T) {
	m := newMachine(t)
	owner, doc := newAccount(t), newAccount(t)
	rec := m.put(owner)
	m.ok(owner, m.grantBody(rec, doc, 0))
	s := &Snapshot{st: m.store, ChainID: testChain, Height: m.bc.Height}
	for _, p := range []string{"/status", "/nodes", "/account/" + owner.pk.String(), "/record/" + rec.String(),
		"/records/owner/" + owner.pk.String() + "?limit=1", "/grants/record/" + rec.String(),
		"/grants/recipient/" + doc.pk.String() + "?start=0", "/audit/" + rec.String() + "?start=1&limit=5"} {
		if _, err := s.Query(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for p, want := range map[string]error{
		"/nope":                                ErrNotFound,
		"/record/00":                           ErrMalformed,
		"/account/zz":                          ErrMalformed,
		"/audit/" + rec.String() + "?limit=-1": ErrMalformed,
		"/record/" + ID{}.String():             ErrNotFound,
	} {
		if _, err := s.Query(p); !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", p, err, want)
		}
	}
}

// FuzzQueryPath: any path yields an answer or a coded error, never a panic.
func FuzzQueryPath(f *testing.F) {
	for _, p := range []string{"/status", "/nodes", "/record/00", "/grants/record/%zz?start=1", "/audit/x?limit=99999999999999999999"} {
		f.Add(p)
	}
	s := &Snapshot{st: newMemStore()}
	f.Fuzz(func(t *testing.T, path string) {
		if _, err := s.Query(path); err != nil && Code(err) == CodeInternal {
			t.Fatalf("%q: uncoded error %v", path, err)
		}
	})
}
