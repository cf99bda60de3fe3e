package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// FuzzImportConsent: whatever the input, ImportConsent returns a grant, a refusal or
// ErrMalformed, never panics, and a grant it returns is one the ledger can hold and that
// exports and imports again unchanged.
func FuzzImportConsent(f *testing.F) {
	files, _ := filepath.Glob("testdata/consent-*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceType":"Consent","provision":{"provision":[{"provision":[]}]}}`))
	f.Add([]byte(`{"resourceType":"Consent","status":"active","provision":{"period":{"end":"2262-04-11T23:47:16.854775807Z"}}}`))
	if b, err := os.ReadFile("testdata/consent-import.json"); err == nil {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			f.Fatal(err)
		}
		prov(m)["purpose"] = []any{map[string]any{"display": "treatment"}}
		b, _ = json.Marshal(m)
		f.Add(b)
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ImportConsent(b)
		var refused *RefusedError
		switch {
		case err == nil:
		case errors.Is(err, ErrMalformed):
			return
		case errors.As(err, &refused):
			if len(refused.Refusals) == 0 {
				t.Fatal("a refusal that names nothing")
			}
			return
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if len(b) > MaxConsentSize {
			t.Fatal("accepted an input over the bound")
		}
		if r.Recipient.Signing == nil || r.Recipient.Receiving == nil {
			t.Fatal("a grant without a recipient")
		}
		if !r.NotAfter.IsZero() && !r.NotAfter.After(r.NotBefore) {
			t.Fatalf("window %v to %v", r.NotBefore, r.NotAfter)
		}
		if len(r.Purpose.String()) > protocol.MaxPurpose {
			t.Fatal("purpose over the ledger's bound")
		}
		if r.Patient == nil {
			r.Patient = &fx.rec.Owner
		}
		if r.Record == nil {
			r.Record = &fx.rec.ID
		}
		rec := *fx.rec
		rec.ID, rec.Owner = *r.Record, *r.Patient
		out, err := Consent(fx.nw, &rec, grantFrom(fx, r), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		again, err := ImportConsent(out)
		if err != nil {
			t.Fatalf("the export of an imported Consent does not import: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again.json(), r.json()) {
			t.Fatalf("import, export, import changed the grant: %+v, then %+v", r.json(), again.json())
		}
	})
}

// FuzzDescribe: whatever the input, Describe summarises valid R4 or refuses with
// ErrInvalid, never panics; a summary seals as labels the envelope takes, reads back
// unchanged, and makes a valid R4 DocumentReference.
func FuzzDescribe(f *testing.F) {
	files, _ := filepath.Glob("testdata/typed/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"x"}}]}`))
	fx := newFixture(f)
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Describe(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		labels := s.Labels()
		if err := checkLabels(labels); err != nil {
			t.Fatal(err)
		}
		back, ok := SummaryOf(&envelope.Metadata{Labels: labels})
		if !ok || !reflect.DeepEqual(back, s) {
			t.Fatalf("summary %+v read back as %+v", s, back)
		}
		doc, err := DocumentReference(fx.nw, fx.rec, "http://127.0.0.1/Binary/x", nil, &Content{MediaType: "application/fhir+json", Size: int64(len(b)), Summary: s})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Unmarshal(doc); err != nil {
			t.Fatalf("DocumentReference of %+v is not valid R4: %v", s, err)
		}
	})
}

// checkLabels applies envelope.Metadata's limits on labels.
func checkLabels(l map[string]string) error {
	if len(l) > envelope.MaxLabels {
		return fmt.Errorf("%d labels", len(l))
	}
	for k, v := range l {
		if len(k) == 0 || len(k) > envelope.MaxLabelKeyLen || len(v) > envelope.MaxLabelValueLen || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("label %q=%q breaks the envelope's limits", k, v)
		}
	}
	return nil
}

// FuzzSummaryOf: whatever labels a record's owner sealed, a reader's Summary of them makes
// a valid R4 DocumentReference.
func FuzzSummaryOf(f *testing.F) {
	f.Add("Observation", "Observation", "http://loinc.org|2339-0", "2024-03-05", "Patient/1", "Glucose", "resource")
	f.Add("Bundle", "Composition", "x|y z", "2024-02-30T10:00:00Z", "urn:uuid:1", "\x00", "attachment")
	fx := newFixture(f)
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typ, main, code, date, patient, title, content string) {
		m := &envelope.Metadata{Labels: map[string]string{labelVersion: R4Version, labelType: typ, labelMain: main,
			labelCode + "0": code, labelDate: date, labelPatient: patient, labelTitle: title, labelText: title, labelContent: content}}
		s, ok := SummaryOf(m)
		if !ok {
			return
		}
		doc, err := DocumentReference(fx.nw, fx.rec, "http://127.0.0.1/Binary/x", nil, &Content{MediaType: content, Summary: s})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Unmarshal(doc); err != nil {
			t.Fatalf("DocumentReference of %+v is not valid R4: %v\n%s", s, err, doc)
		}
	})
}
