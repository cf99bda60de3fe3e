package fhirserve

import (
	"net/http"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/fhir"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestParams: the parameters each route reads, and the refusals, without a network.
func TestParams(t *testing.T) {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	pub := id.Public()
	key := protocol.PubKeyOf(pub.Signing)
	rec := strings.Repeat("ab", 32)

	for _, raw := range []string{
		"patient=" + key.String(),
		"patient=" + fhir.SigningKeySystem + "|" + key.String(),
		"patient:identifier=" + fhir.IdentitySystem + "|" + pub.String(),
	} {
		q, err := parseQuery(strings.ReplaceAll(raw, "|", "%7C"))
		if err != nil {
			t.Fatal(err)
		}
		if k, f := patientParam(q); f != nil || k == nil || *k != key {
			t.Errorf("%s: %v %v, want %s", raw, k, f, key)
		}
	}
	for _, raw := range []string{"patient=Patient/1", "patient=urn:other|" + key.String(), "patient=1&patient:identifier=2", "patient=" + fhir.IdentitySystem + "|rrec1x"} {
		q, _ := parseQuery(raw)
		if _, f := patientParam(q); f == nil || f.Status != http.StatusBadRequest {
			t.Errorf("%s: %v, want 400", raw, f)
		}
	}
	for _, raw := range []string{"entity=" + rec, "entity=DocumentReference/" + rec, "entity=Binary/" + rec, "entity:identifier=" + fhir.RecordSystem + "%7C" + rec} {
		q, _ := parseQuery(raw)
		if got, f := entityParam(q); f != nil || got.String() != rec {
			t.Errorf("%s: %v %v", raw, got, f)
		}
	}
	for _, raw := range []string{"", "entity=Patient/1", "entity=" + strings.ToUpper(rec), "entity:identifier=urn:x%7C" + rec} {
		q, _ := parseQuery(raw)
		if _, f := entityParam(q); f == nil || f.Status != http.StatusBadRequest {
			t.Errorf("%q: %v, want 400", raw, f)
		}
	}
	if _, err := parseQuery("a=1&a=2"); err == nil {
		t.Error("a repeated parameter was accepted")
	}
	if _, err := parseQuery("a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11"); err == nil {
		t.Error("eleven parameters were accepted")
	}
	if _, err := parseQuery("date=ge2024&date=lt2025&period=ge2024&period=lt2025"); err != nil {
		t.Errorf("date ranges: %v", err)
	}
	if _, err := parseQuery(strings.Repeat("date=2024&", 11)); err == nil {
		t.Error("eleven dates were accepted")
	}
	for raw, want := range map[string]paging{"": {0, defaultCount}, "_count=2": {0, 2}, "_count=0&_offset=7": {7, 0}, "_count=100000": {0, maxCount}} {
		q, _ := parseQuery(raw)
		if p, f := pagingParams(q); f != nil || p != want {
			t.Errorf("%q: %+v %v, want %+v", raw, p, f, want)
		}
	}
	for _, raw := range []string{"_count=-1", "_offset=x", "_count=1.5"} {
		q, _ := parseQuery(raw)
		if _, f := pagingParams(q); f == nil || f.Status != http.StatusBadRequest {
			t.Errorf("%q: %v, want 400", raw, f)
		}
	}
	for _, raw := range []string{"type=http://loinc.org%7C18842-5&period=ge2024-01-01&date=lt2030", "type=18842-5"} {
		q, _ := parseQuery(raw)
		if _, f := documentParams(q); f != nil {
			t.Errorf("%q: %v", raw, f)
		}
	}
	for _, raw := range []string{"type=%7C", "period=yesterday", "date=sa2024", "category=x"} {
		q, _ := parseQuery(raw)
		if _, f := documentParams(q); f == nil || f.Status != http.StatusBadRequest {
			t.Errorf("%q: %v, want 400", raw, f)
		}
	}
	q, _ := parseQuery("_format=xml")
	if f := q.only(); f == nil || f.Status != http.StatusNotAcceptable {
		t.Errorf("_format=xml: %v, want 406", f)
	}
	q, _ = parseQuery("_format=json&patient=x")
	if f := q.only("patient"); f != nil {
		t.Errorf("_format=json: %v", f)
	}
	s := New(nil, Config{})
	for raw, want := range map[string]string{"": "TREAT", "purpose=etreat": "ETREAT", "purpose=a+second+opinion": "a second opinion"} {
		q, _ := parseQuery(raw)
		if got, f := s.purposeParam(q); f != nil || got != want {
			t.Errorf("%q: %q %v, want %q", raw, got, f, want)
		}
	}
}
