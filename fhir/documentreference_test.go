package fhir

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestDocumentReference: a record as the FHIR endpoint describes it is valid R4, names
// the record, its patient and its network, points at its Binary and at the grants that
// share it, and needs what it describes.
func TestDocumentReference(t *testing.T) {
	f := newFixture(t)
	u := validator(t)
	const binary = "http://127.0.0.1:8080/Binary/" + "aaaa"
	for _, grants := range [][]protocol.ID{nil, {f.grant.ID, id32(0xcc)}} {
		b, err := DocumentReference(f.nw, f.rec, binary, grants, nil)
		if err != nil {
			t.Fatal(err)
		}
		validate(t, u, "DocumentReference", b)
		var d struct {
			ID      string
			Subject struct{ Identifier identifier }
			Content []struct{ Attachment struct{ URL string } }
			Context *struct{ Related []reference }
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		if d.ID != f.rec.ID.String() || d.Subject.Identifier != (identifier{System: SigningKeySystem, Value: f.rec.Owner.String()}) || d.Content[0].Attachment.URL != binary {
			t.Errorf("DocumentReference %s", b)
		}
		if n := len(grants); n > 0 && (d.Context == nil || len(d.Context.Related) != n || d.Context.Related[0].Reference != "Consent/"+f.grant.ID.String()) {
			t.Errorf("related %+v, want the %d grants as Consents", d.Context, n)
		}
		if !strings.Contains(string(b), `"date": "2026-11-28T18:40:38.163Z"`) {
			t.Errorf("the block time is not the date:\n%s", b)
		}
	}
	b, err := Bundle(SearchSet, [][]byte{mustDocRef(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, u, "Bundle of DocumentReference", b)
	if _, err := DocumentReference(f.nw, nil, binary, nil, nil); err == nil {
		t.Error("a DocumentReference without its record")
	}
	if _, err := DocumentReference(f.nw, f.rec, "", nil, nil); err == nil {
		t.Error("a DocumentReference without its Binary's URL")
	}
}

func mustDocRef(t *testing.T, f *fixture) []byte {
	b, err := DocumentReference(f.nw, f.rec, "http://example.org/Binary/x", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
