package fhir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// validator is Google's FHIR R4 JSON parser: it refuses unknown elements, missing required
// ones, wrong cardinalities, malformed primitives (dates, ids, codes) and codes outside
// the value sets R4 binds as required.
func validator(t *testing.T) *jsonformat.Unmarshaller {
	t.Helper()
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func validate(t *testing.T, u *jsonformat.Unmarshaller, what string, b []byte) {
	t.Helper()
	if _, err := u.Unmarshal(b); err != nil {
		t.Errorf("%s is not valid R4: %v\n%s", what, err, b)
	}
}

// emitted is every kind of resource and Bundle the package writes, from the fixtures.
func emitted(t *testing.T) (consents, events, bundles [][]byte) {
	f := newFixture(t)
	at := time.Unix(0, f.grant.NotBefore).Add(time.Hour)
	for _, edit := range []func(g *protocol.GrantState){
		func(g *protocol.GrantState) {},
		func(g *protocol.GrantState) { g.Revoked, g.RevokedHeight = true, 8 },
		func(g *protocol.GrantState) { g.Expired, g.ExpiredHeight = true, 10 },
		func(g *protocol.GrantState) { g.NotBefore, g.NotAfter, g.Purpose = 0, 0, "" },
		func(g *protocol.GrantState) { g.NotBefore, g.Purpose = 0, "a second opinion <before> surgery & more" },
		func(g *protocol.GrantState) { g.NotAfter, g.Purpose = ns("2027-01-01T00:00:00.000000001Z"), "ETREAT" },
		func(g *protocol.GrantState) { g.Purpose = "bell\x07 and tab\t, both \u2603" },
	} {
		g := *f.grant
		edit(&g)
		b, err := Consent(f.nw, f.rec, &g, at)
		if err != nil {
			t.Fatal(err)
		}
		consents = append(consents, b)
	}
	events, err := AuditEvents(f.nw, f.rec, f.log)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []struct {
		typ string
		rs  [][]byte
	}{{SearchSet, consents}, {Collection, consents}, {SearchSet, events}, {Collection, events}, {SearchSet, nil}} {
		b, err := Bundle(set.typ, set.rs)
		if err != nil {
			t.Fatal(err)
		}
		bundles = append(bundles, b)
	}
	return consents, events, bundles
}

func TestValidR4(t *testing.T) {
	u := validator(t)
	consents, events, bundles := emitted(t)
	for i, b := range consents {
		validate(t, u, "Consent "+itoa(int64(i)), b)
	}
	for i, b := range events {
		validate(t, u, "AuditEvent "+itoa(int64(i)), b)
	}
	for i, b := range bundles {
		validate(t, u, "Bundle "+itoa(int64(i)), b)
	}
	// Every resource under testdata/ is valid R4 too: the refused Consent is refused for
	// what R4 allows and the network cannot enforce, not for being malformed.
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ ResourceType string }
		if json.Unmarshal(b, &r) == nil && r.ResourceType != "" {
			validate(t, u, name, b)
		}
	}
}

// TestValidatorRefuses makes sure the validator is not a rubber stamp: each of these
// breaks one R4 rule that matters to what the package writes.
func TestValidatorRefuses(t *testing.T) {
	u := validator(t)
	consents, events, _ := emitted(t)
	for _, c := range []struct {
		name string
		base []byte
		edit func(m map[string]any)
	}{
		{"Consent without status", consents[0], func(m map[string]any) { delete(m, "status") }},
		{"Consent status revoked", consents[0], func(m map[string]any) { m["status"] = "revoked" }},
		{"Consent without category", consents[0], func(m map[string]any) { delete(m, "category") }},
		{"Consent provision type maybe", consents[0], func(m map[string]any) { m["provision"].(map[string]any)["type"] = "maybe" }},
		{"Consent period end not a dateTime", consents[0], func(m map[string]any) {
			m["provision"].(map[string]any)["period"].(map[string]any)["end"] = "28/12/2026"
		}},
		{"Consent unknown element", consents[0], func(m map[string]any) { m["grantee"] = "x" }},
		{"AuditEvent without recorded", events[0], func(m map[string]any) { delete(m, "recorded") }},
		{"AuditEvent agent without requestor", events[0], func(m map[string]any) {
			delete(m["agent"].([]any)[0].(map[string]any), "requestor")
		}},
		{"AuditEvent action Z", events[0], func(m map[string]any) { m["action"] = "Z" }},
		{"AuditEvent outcome 1", events[0], func(m map[string]any) { m["outcome"] = "1" }},
	} {
		var m map[string]any
		if err := json.Unmarshal(c.base, &m); err != nil {
			t.Fatal(err)
		}
		c.edit(m)
		b, _ := json.Marshal(m)
		if _, err := u.Unmarshal(b); err == nil {
			t.Errorf("%s: the validator accepted it", c.name)
		}
	}
}

// The elements every official R4 example of the resource uses (npm hl7.fhir.r4.examples
// 4.0.1: all 12 Consent examples, all 9 AuditEvent examples; "entity" is in 7 of 9 and in
// all of BALP's). TestOfficialExamples checks these lists against the package when it is
// at hand; TestExampleElements checks that every resource written has them.
var (
	consentElements = []string{"resourceType", "id", "text", "status", "scope", "category", "patient",
		"dateTime", "organization", "policyRule", "provision"}
	auditElements = []string{"resourceType", "id", "text", "type", "subtype", "action", "recorded",
		"outcome", "agent", "source", "entity"}
)

func TestExampleElements(t *testing.T) {
	consents, events, _ := emitted(t)
	check := func(kind string, resources [][]byte, want []string) {
		for i, b := range resources {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, e := range want {
				if _, ok := m[e]; !ok {
					t.Errorf("%s %d lacks %s, which the official examples use", kind, i, e)
				}
			}
		}
	}
	check("Consent", consents, consentElements)
	check("AuditEvent", events, auditElements)
}

// TestOfficialExamples reads the official examples when RREC_FHIR_R4_EXAMPLES names the
// unpacked npm package hl7.fhir.r4.examples@4.0.1: no copy lives in the repository and
// tests use no network. 'make test' installs it, pinned by testdata/r4examples's lock file,
// and sets the variable.
//
// It checks that the element lists above are what the examples use, that the validator
// accepts the examples, and that import refuses them (none is a one-recipient permit
// naming rrec identities).
func TestOfficialExamples(t *testing.T) {
	dir := os.Getenv("RREC_FHIR_R4_EXAMPLES")
	if dir == "" {
		t.Skip("RREC_FHIR_R4_EXAMPLES is not set")
	}
	u := validator(t)
	for _, c := range []struct {
		glob string
		want []string
		min  int
	}{
		{"Consent-*.json", consentElements, 12},
		{"AuditEvent-*.json", auditElements, 9},
	} {
		files, _ := filepath.Glob(filepath.Join(dir, c.glob))
		if len(files) < c.min {
			t.Fatalf("%d files match %s in %s, want %d", len(files), c.glob, dir, c.min)
		}
		count := map[string]int{}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			validate(t, u, filepath.Base(name), b)
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for k := range m {
				count[k]++
			}
			if c.glob == "Consent-*.json" {
				_, err := ImportConsent(b)
				var refused *RefusedError
				if !asRefused(err, &refused) {
					t.Errorf("%s: import gave %v, want a refusal", filepath.Base(name), err)
				} else {
					t.Logf("%s refused: %v", filepath.Base(name), err)
				}
			}
		}
		for _, e := range c.want {
			if count[e] < len(files) && !(e == "entity" && count[e] >= 7) {
				t.Errorf("%s: %s is in %d of %d examples", c.glob, e, count[e], len(files))
			}
		}
		for e, n := range count {
			if n == len(files) && !slices.Contains(c.want, e) {
				t.Errorf("%s: every example uses %s, missing from the list", c.glob, e)
			}
		}
	}
}

func asRefused(err error, target **RefusedError) bool { return errors.As(err, target) }

// TestOfficialDisplays checks every coding the package writes, and the PurposeOfUse table,
// against the R4 code systems in the same npm package (RREC_FHIR_R4_EXAMPLES, above): the
// code exists and the display is the official one. LOINC's codes are not in the package.
func TestOfficialDisplays(t *testing.T) {
	dir := os.Getenv("RREC_FHIR_R4_EXAMPLES")
	if dir == "" {
		t.Skip("RREC_FHIR_R4_EXAMPLES is not set")
	}
	type concept struct {
		Code    string
		Display string
		Concept []concept
	}
	systems := map[string]map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "CodeSystem-*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var cs struct {
			URL     string
			Concept []concept
		}
		if err := json.Unmarshal(b, &cs); err != nil {
			t.Fatal(err)
		}
		codes := map[string]string{}
		var walk func([]concept)
		walk = func(cs []concept) {
			for _, c := range cs {
				codes[c.Code] = c.Display
				walk(c.Concept)
			}
		}
		walk(cs.Concept)
		systems[cs.URL] = codes
	}
	check := func(where string, c coding) {
		codes, ok := systems[c.System]
		if !ok {
			if c.System != sysLOINC && c.System != "" {
				t.Errorf("%s: code system %s is not in the package", where, c.System)
			}
			return
		}
		display, ok := codes[c.Code]
		if !ok {
			t.Errorf("%s: %s has no code %q", where, c.System, c.Code)
		} else if display != c.Display {
			t.Errorf("%s: %s %s is %q, officially %q", where, c.System, c.Code, c.Display, display)
		}
	}
	for _, p := range PurposesOfUse() {
		check("PurposesOfUse", *p.coding())
	}
	consents, events, _ := emitted(t)
	n := 0
	for _, b := range append(consents, events...) {
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				if sys, ok := v["system"].(string); ok {
					if code, ok := v["code"].(string); ok {
						display, _ := v["display"].(string)
						check("emitted", coding{System: sys, Code: code, Display: display})
						n++
					}
				}
				for _, x := range v {
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		walk(v)
	}
	t.Logf("checked %d purposes and %d codings", len(PurposesOfUse()), n)
}

// TestCaregiverAuditEvents: a caregiver's grant and revoke for the owner become AuditEvents
// that validate as R4 and name both: the caregiver as the requestor, the owner as the patient.
func TestCaregiverAuditEvents(t *testing.T) {
	f := newFixture(t)
	owner, carer := f.rec.Owner, keyOf(person(t, 42))
	g := f.grant.ID
	var log []protocol.AuditEntry
	for i, kind := range []string{protocol.AuditGrant, protocol.AuditRevoke} {
		h := hash(byte(0x60 + i))
		log = append(log, protocol.AuditEntry{Kind: kind, Record: f.rec.ID, Grant: &g, Actor: &carer, For: &owner,
			Height: int64(30 + i), Time: ns("2026-11-29T10:00:00Z"), TxHash: &h})
	}
	events, err := AuditEvents(f.nw, f.rec, log)
	if err != nil {
		t.Fatal(err)
	}
	u := validator(t)
	for i, b := range events {
		validate(t, u, "AuditEvent of a caregiver's "+log[i].Kind, b)
		if s := string(b); !strings.Contains(s, "caregiver acting for the patient") || !strings.Contains(s, owner.String()) || !strings.Contains(s, carer.String()) {
			t.Errorf("the caregiver's %s event does not name both: %s", log[i].Kind, s)
		}
	}
}

// TestEmergencyAuditEvent: a break-glass read becomes an AuditEvent that validates as R4 and
// names both clinicians and the stated reason, as emergency treatment.
func TestEmergencyAuditEvent(t *testing.T) {
	f := newFixture(t)
	a, b := keyOf(person(t, 43)), keyOf(person(t, 44))
	g := f.grant.ID
	h := hash(0x70)
	e := protocol.AuditEntry{Kind: protocol.AuditEmergency, Record: f.rec.ID, Grant: &g, Actor: &a, CoSigner: &b,
		Purpose: "unconscious on arrival", Height: 40, Time: ns("2026-11-29T11:00:00Z"), TxHash: &h}
	events, err := AuditEvents(f.nw, f.rec, []protocol.AuditEntry{e})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, validator(t), "AuditEvent of an emergency read", events[0])
	s := string(events[0])
	for _, want := range []string{a.String(), b.String(), "unconscious on arrival", "ETREAT", "co-signing clinician"} {
		if !strings.Contains(s, want) {
			t.Errorf("the emergency event does not carry %q: %s", want, s)
		}
	}
}

// TestRecoveryAuditEvents: the entries of a recovery by guardians (recovery/SPEC.md) become
// AuditEvents that validate as R4, naming the guardian and the recovering device.
func TestRecoveryAuditEvents(t *testing.T) {
	f := newFixture(t)
	u := validator(t)
	owner, device, guardian := f.rec.Owner, keyOf(person(t, 40)), keyOf(person(t, 41))
	g := f.grant.ID
	var log []protocol.AuditEntry
	for i, e := range []struct {
		kind  string
		actor protocol.PubKey
	}{{protocol.AuditRecoverySetup, owner}, {protocol.AuditRecoveryStart, device}, {protocol.AuditRecoveryApprove, guardian},
		{protocol.AuditRecoveryCancel, owner}, {protocol.AuditRecoveryFinish, device}} {
		h := hash(byte(0x50 + i))
		log = append(log, protocol.AuditEntry{Kind: e.kind, Record: f.rec.ID, Grant: &g, Actor: &e.actor,
			Height: int64(20 + i), Time: ns("2026-11-29T09:00:00Z"), TxHash: &h})
	}
	events, err := AuditEvents(f.nw, f.rec, log)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range events {
		validate(t, u, "AuditEvent of "+log[i].Kind, b)
	}
	for i, want := range []string{"", "the recovering device", "the guardian", "", "the recovering device"} {
		if want != "" && !strings.Contains(string(events[i]), want) {
			t.Errorf("the event of %s does not name %s", log[i].Kind, want)
		}
	}
}

// TestIssuedAuditEvents: the entries of an issued record (protocol/SPEC.md §19) become
// AuditEvents that validate as R4, the first naming the issuer as its author.
func TestIssuedAuditEvents(t *testing.T) {
	f := newFixture(t)
	u := validator(t)
	subject, issuer := f.rec.Owner, keyOf(person(t, 42))
	var log []protocol.AuditEntry
	for i, e := range []struct {
		kind  string
		actor protocol.PubKey
	}{{protocol.AuditIssued, issuer}, {protocol.AuditAccepted, subject}} {
		h := hash(byte(0x60 + i))
		log = append(log, protocol.AuditEntry{Kind: e.kind, Record: f.rec.ID, Actor: &e.actor,
			Height: int64(30 + i), Time: ns("2026-11-29T10:00:00Z"), TxHash: &h})
	}
	events, err := AuditEvents(f.nw, f.rec, log)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range events {
		validate(t, u, "AuditEvent of "+log[i].Kind, b)
	}
	if !strings.Contains(string(events[0]), "the issuer") || !strings.Contains(string(events[0]), `"AUT"`) {
		t.Errorf("the issued event does not name its issuer as author: %s", events[0])
	}
}

// TestEveryAuditKindHasAShape: an audit entry of any kind the ledger writes becomes an
// AuditEvent; a new kind without a shape here would make a whole log unreadable as FHIR.
func TestEveryAuditKindHasAShape(t *testing.T) {
	for _, k := range protocol.AuditKinds() {
		if _, ok := shapes[k]; !ok {
			t.Errorf("audit kind %q has no AuditEvent shape", k)
		}
	}
}
