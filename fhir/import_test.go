package fhir

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// grantJSON is a GrantRequest as the expected output under testdata/ shows it.
type grantJSON struct {
	Patient   *protocol.PubKey `json:"patient,omitempty"`
	Record    *protocol.ID     `json:"record,omitempty"`
	Recipient string           `json:"recipient"`
	NotBefore string           `json:"not_before,omitempty"`
	NotAfter  string           `json:"not_after,omitempty"`
	Purpose   string           `json:"purpose,omitempty"`
}

func (g *GrantRequest) json() grantJSON {
	out := grantJSON{Patient: g.Patient, Record: g.Record, Recipient: g.Recipient.String(), Purpose: g.Purpose.String()}
	if !g.NotBefore.IsZero() {
		out.NotBefore = g.NotBefore.UTC().Format(time.RFC3339Nano)
	}
	if !g.NotAfter.IsZero() {
		out.NotAfter = g.NotAfter.UTC().Format(time.RFC3339Nano)
	}
	return out
}

// grantFrom is what the ledger would hold after granting r: the request's fields, and the
// ledger's own (id, height, time, transaction) from the fixture's grant.
func grantFrom(f *fixture, r *GrantRequest) *protocol.GrantState {
	g := *f.grant
	g.Owner, g.Record = *r.Patient, *r.Record
	g.RecipientSig, g.RecipientEnc = protocol.PubKeyOf(r.Recipient.Signing), protocol.PubKeyOf(r.Recipient.Receiving)
	g.NotBefore, g.NotAfter = 0, 0
	if !r.NotBefore.IsZero() {
		g.NotBefore = r.NotBefore.UnixNano()
	}
	if !r.NotAfter.IsZero() {
		g.NotAfter = r.NotAfter.UnixNano()
	}
	g.Purpose = r.Purpose.String()
	return &g
}

// kept is what a Consent says that a grant keeps: the rest (id, identifiers, category,
// dateTime, narrative, source, policyRule, organization) is the document's or the
// ledger's own.
func kept(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	p, _ := c["provision"].(map[string]any)
	out := map[string]any{"status": c["status"], "scope": c["scope"]}
	if pat, ok := c["patient"].(map[string]any); ok {
		out["patient"] = pat["identifier"]
	}
	for _, k := range []string{"type", "period", "action", "purpose", "data"} {
		out["provision."+k] = p[k]
	}
	var actors []any
	for _, a := range p["actor"].([]any) {
		a := a.(map[string]any)
		actors = append(actors, []any{a["role"], a["reference"].(map[string]any)["identifier"]})
	}
	out["provision.actor"] = actors
	return out
}

func TestImport(t *testing.T) {
	f := newFixture(t)
	in, err := os.ReadFile("testdata/consent-import.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ImportConsent(in)
	if err != nil {
		t.Fatal(err)
	}
	want := grantJSON{
		Patient: &f.rec.Owner, Record: &f.rec.ID, Recipient: f.recipient.String(),
		NotBefore: "2026-12-01T07:00:00Z", NotAfter: "2027-01-01T00:00:00Z", Purpose: "ETREAT",
	}
	if got := r.json(); !reflect.DeepEqual(got, want) {
		t.Errorf("imported %+v, want %+v", got, want)
	}
	b, _ := marshal(r.json())
	golden(t, "consent-import.grant.json", b)

	// Grant, then export: testdata/consent-import.export.json is the Consent the ledger's
	// grant becomes. The period is written in the export's own precision (seconds), so it
	// reads differently from the input's dates but names the same window.
	out, err := Consent(f.nw, f.rec, grantFrom(f, r), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "consent-import.export.json", out)
	again, err := ImportConsent(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.json(), r.json()) {
		t.Errorf("the export imports as %+v, the input as %+v", again.json(), r.json())
	}

	// Free text that names a code is the code, so that it stays one through a round trip.
	var m map[string]any
	if err := json.Unmarshal(in, &m); err != nil {
		t.Fatal(err)
	}
	prov(m)["purpose"] = []any{map[string]any{"display": " Treatment"}}
	b, _ = json.Marshal(m)
	if r, err := ImportConsent(b); err != nil || r.Purpose != (Purpose{"TREAT", "treatment"}) {
		t.Errorf("display-only \"Treatment\": %+v, %v", r, err)
	}
}

// TestRoundTrip: a Consent as this package writes it, imported, granted and exported
// again, is equal to the input on every field a grant keeps.
func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	for _, edit := range []func(g *protocol.GrantState){
		func(g *protocol.GrantState) {},
		func(g *protocol.GrantState) { g.NotBefore, g.NotAfter, g.Purpose = 0, 0, "" },
		func(g *protocol.GrantState) { g.NotBefore, g.Purpose = 0, "a second opinion before surgery" },
		func(g *protocol.GrantState) { g.NotAfter, g.Purpose = ns("2027-01-01T00:00:00.000000001Z"), "PATRQT" },
		func(g *protocol.GrantState) { g.NotAfter = ns("2027-01-01T00:00:00.25Z") },
	} {
		g := *f.grant
		edit(&g)
		in, err := Consent(f.nw, f.rec, &g, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := ImportConsent(in)
		if err != nil {
			t.Fatalf("%v\n%s", err, in)
		}
		out, err := Consent(f.nw, f.rec, grantFrom(f, r), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := kept(t, in), kept(t, out); !reflect.DeepEqual(a, b) {
			t.Errorf("round trip changed a kept field:\n in: %v\nout: %v", a, b)
		}
	}
}

func TestImportRefuses(t *testing.T) {
	in, err := os.ReadFile("testdata/consent-refused.json")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ImportConsent(in)
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("got %v, want a *RefusedError", err)
	}
	golden(t, "consent-refused.txt", []byte(err.Error()+"\n"))
	var elements []string
	for _, r := range refused.Refusals {
		elements = append(elements, r.Element)
	}
	for _, want := range []string{
		"Consent.modifierExtension", "Consent.status", "Consent.scope", "Consent.policy", "Consent.patient",
		"Consent.provision.provision", "Consent.provision.securityLabel", "Consent.provision.class",
		"Consent.provision.code", "Consent.provision.dataPeriod", "Consent.provision.actor",
		"Consent.provision.action[1]", "Consent.provision.period.start", "Consent.provision.period.end",
		"Consent.provision.purpose", "Consent.provision.data[0].meaning", "Consent.provision.data[0].reference",
	} {
		if !strings.Contains(strings.Join(elements, " "), want) {
			t.Errorf("no refusal names %s", want)
		}
	}

	valid, err := os.ReadFile("testdata/consent-import.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		edit    func(c map[string]any)
		element string
	}{
		{"deny", func(c map[string]any) { prov(c)["type"] = "deny" }, "Consent.provision.type"},
		{"no type under opt-out", func(c map[string]any) {
			delete(prov(c), "type")
			c["policyRule"] = map[string]any{"coding": []any{map[string]any{"system": sysActCode, "code": "OPTOUT"}}}
		}, "Consent.provision.type"},
		{"inactive", func(c map[string]any) { c["status"] = "inactive" }, "Consent.status"},
		{"no actor", func(c map[string]any) { delete(prov(c), "actor") }, "Consent.provision.actor"},
		{"not an identity", func(c map[string]any) {
			prov(c)["actor"].([]any)[0].(map[string]any)["reference"] = map[string]any{"identifier": map[string]any{"system": IdentitySystem, "value": "rrec1nope"}}
		}, "Consent.provision.actor[0].reference"},
		{"unknown code", func(c map[string]any) {
			prov(c)["purpose"] = []any{map[string]any{"system": PurposeSystem, "code": "etreat"}}
		}, "Consent.provision.purpose"},
		{"control characters", func(c map[string]any) {
			prov(c)["purpose"] = []any{map[string]any{"display": "bell\x07"}}
		}, "Consent.provision.purpose"},
		{"blank free text", func(c map[string]any) {
			prov(c)["purpose"] = []any{map[string]any{"display": "  "}}
		}, "Consent.provision.purpose"},
		{"other purpose system", func(c map[string]any) {
			prov(c)["purpose"] = []any{map[string]any{"system": "http://example.org", "code": "x"}}
		}, "Consent.provision.purpose"},
		{"long purpose", func(c map[string]any) {
			prov(c)["purpose"] = []any{map[string]any{"display": strings.Repeat("x", protocol.MaxPurpose+1)}}
		}, "Consent.provision.purpose"},
		{"not a time", func(c map[string]any) {
			prov(c)["period"] = map[string]any{"end": "2026-12-31T25:00:00Z"}
		}, "Consent.provision.period.end"},
		{"more precise than the ledger", func(c map[string]any) {
			prov(c)["period"] = map[string]any{"end": "2026-12-31T10:00:00.1234567891Z"}
		}, "Consent.provision.period.end"},
		{"before 1970", func(c map[string]any) {
			prov(c)["period"] = map[string]any{"start": "1964-01-01"}
		}, "Consent.provision.period.start"},
		{"ends before it starts", func(c map[string]any) {
			prov(c)["period"] = map[string]any{"start": "2026-12-31", "end": "2026-12-01"}
		}, "Consent.provision.period"},
		{"two records", func(c map[string]any) {
			d := prov(c)["data"].([]any)
			prov(c)["data"] = append(d, d[0])
		}, "Consent.provision.data"},
		{"nested modifier", func(c map[string]any) {
			prov(c)["actor"].([]any)[0].(map[string]any)["modifierExtension"] = []any{map[string]any{"url": "http://example.org/x"}}
		}, "Consent.provision.actor[0].modifierExtension"},
	} {
		var m map[string]any
		if err := json.Unmarshal(valid, &m); err != nil {
			t.Fatal(err)
		}
		c.edit(m)
		b, _ := json.Marshal(m)
		_, err := ImportConsent(b)
		if !errors.As(err, &refused) || refused.Refusals[0].Element != c.element {
			t.Errorf("%s: got %v, want a refusal of %s", c.name, err, c.element)
		}
	}

	for _, bad := range []string{``, `[]`, `{"resourceType":"Patient"}`, `{"resourceType":"Consent","status":7}`, strings.Repeat(" ", MaxConsentSize+1)} {
		if _, err := ImportConsent([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.40q: got %v, want ErrMalformed", bad, err)
		}
	}
}

func prov(c map[string]any) map[string]any { return c["provision"].(map[string]any) }
