package fhirserve

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPagingLinks: a page's links are FHIR REST's, each the same search at another offset.
func TestPagingLinks(t *testing.T) {
	s := New(nil, Config{BaseURL: "http://fhir.example"})
	doc := func(id string) []byte { return []byte(`{"resourceType":"Consent","id":"` + id + `"}`) }
	all := [][]byte{doc("a"), doc("b"), doc("c"), doc("d"), doc("e")}
	for _, c := range []struct {
		raw   string
		ids   string
		links string
	}{
		{"_count=2&_offset=2&patient=x", "c,d",
			"self _count=2&_offset=2&patient=x; first _count=2&patient=x; previous _count=2&patient=x; next _count=2&_offset=4&patient=x; last _count=2&_offset=4&patient=x"},
		{"_count=2", "a,b", "self _count=2; first _count=2; next _count=2&_offset=2; last _count=2&_offset=4"},
		{"_count=2&_offset=4", "e", "self _count=2&_offset=4; first _count=2; previous _count=2&_offset=2; last _count=2&_offset=4"},
		{"_count=2&_offset=9", "", "self _count=2&_offset=9; first _count=2; previous _count=2&_offset=3; last _count=2&_offset=4"},
		{"", "a,b,c,d,e", "self _count=50; first _count=50; last _count=50"},
		{"_count=0", "", "self _count=0"},
	} {
		q, err := parseQuery(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		p, f := pagingParams(q)
		if f != nil {
			t.Fatal(f)
		}
		rec := httptest.NewRecorder()
		if f := s.writeAll(rec, "Consent", q, p, all); f != nil {
			t.Fatal(f)
		}
		var b searchset
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
			t.Fatal(err)
		}
		var ids, links []string
		for _, e := range b.Entry {
			var r struct{ ID string }
			_ = json.Unmarshal(e.Resource, &r)
			ids = append(ids, r.ID)
		}
		for _, l := range b.Link {
			links = append(links, l.Relation+" "+strings.TrimPrefix(l.URL, "http://fhir.example/Consent?"))
		}
		if b.Total != 5 || strings.Join(ids, ",") != c.ids || strings.Join(links, "; ") != c.links {
			t.Errorf("%q: total %d, entries %v, links\n%s\nwant %s\n%s", c.raw, b.Total, ids, strings.Join(links, "; "), c.ids, c.links)
		}
	}
}
