package fhir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

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
