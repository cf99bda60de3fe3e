package fhir

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

func TestPurpose(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Purpose
		str  string
	}{
		{"TREAT", Purpose{"TREAT", "treatment"}, "TREAT"},
		{"etreat", Purpose{"ETREAT", "Emergency Treatment"}, "ETREAT"},
		{" hpaymt ", Purpose{"HPAYMT", "healthcare payment"}, "HPAYMT"},
		{"treatment", Purpose{"TREAT", "treatment"}, "TREAT"},
		{"Public Health", Purpose{"PUBHLTH", "public health"}, "PUBHLTH"},
		{"second opinion before surgery", Purpose{Display: "second opinion before surgery"}, "second opinion before surgery"},
		{"", Purpose{}, ""},
	} {
		got := ParsePurpose(c.in)
		if got != c.want || got.String() != c.str {
			t.Errorf("ParsePurpose(%q) = %+v (%q), want %+v (%q)", c.in, got, got.String(), c.want, c.str)
		}
	}
	for in, want := range map[string]string{"famrqt": "FAMRQT", "Emergency treatment": "ETREAT", " break the glass ": "BTG", "HRESCH": "HRESCH"} {
		if p, ok := LookupPurpose(in); !ok || p.Code != want {
			t.Errorf("LookupPurpose(%q) = %+v, %v, want %s", in, p, ok, want)
		}
	}
	for _, in := range []string{"", "treat me", "second opinion", "referral", "TREAT2"} {
		if p, ok := LookupPurpose(in); ok {
			t.Errorf("LookupPurpose(%q) = %+v: free text taken for a code", in, p)
		}
	}
	seen := map[string]bool{}
	for _, p := range PurposesOfUse() {
		if seen[p.Code] || seen[strings.ToUpper(p.Display)] {
			t.Errorf("%s or its display %q listed twice: parsing would be ambiguous", p.Code, p.Display)
		}
		seen[p.Code], seen[strings.ToUpper(p.Display)] = true, true
	}
	for _, code := range []string{"TREAT", "ETREAT", "HPAYMT", "HRESCH", "PATRQT", "FAMRQT", "HOPERAT", "PUBHLTH"} {
		if !seen[code] {
			t.Errorf("%s missing", code)
		}
	}
}

func TestConsentStatus(t *testing.T) {
	f := newFixture(t)
	during := time.Unix(0, f.grant.NotBefore).Add(time.Hour)
	after := time.Unix(0, f.grant.NotAfter)
	for _, c := range []struct {
		name   string
		edit   func(g *protocol.GrantState)
		at     time.Time
		status string
	}{
		{"live", nil, during, "active"},
		{"not yet valid", nil, time.Unix(0, f.grant.NotBefore-1), "active"},
		{"past its end, not yet marked", nil, after, "inactive"},
		{"revoked", func(g *protocol.GrantState) { g.Revoked, g.RevokedHeight = true, 8 }, during, "inactive"},
		{"expired", func(g *protocol.GrantState) { g.Expired, g.ExpiredHeight = true, 10 }, time.Time{}, "inactive"},
	} {
		g := *f.grant
		if c.edit != nil {
			c.edit(&g)
		}
		b, err := Consent(f.nw, f.rec, &g, c.at)
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Status string }
		if err := json.Unmarshal(b, &got); err != nil || got.Status != c.status {
			t.Errorf("%s: status %q, want %q (%v)", c.name, got.Status, c.status, err)
		}
	}
}

func TestConsentRefusesMismatch(t *testing.T) {
	f := newFixture(t)
	g := *f.grant
	g.Record = id32(0xcc)
	if _, err := Consent(f.nw, f.rec, &g, time.Time{}); err == nil {
		t.Error("a grant of another record became a Consent")
	}
	other := f.log[0]
	other.Record = id32(0xcc)
	if _, err := AuditEvents(f.nw, f.rec, []protocol.AuditEntry{other}); err == nil {
		t.Error("an entry of another record became an AuditEvent of this one")
	}
	bad := f.log[0]
	bad.Kind = "unheard-of"
	if _, err := AuditEvents(f.nw, f.rec, []protocol.AuditEntry{bad}); err == nil {
		t.Error("an unknown kind of entry became an AuditEvent")
	}
}

func TestPeriodEnd(t *testing.T) {
	for _, notAfter := range []string{"2026-12-28T18:40:39Z", "2026-12-28T18:40:39.213Z", "2026-12-28T18:40:39.213456Z", "2026-12-28T18:40:39.213456789Z", "2026-12-29T00:00:00Z"} {
		n := ns(notAfter)
		end := periodEnd(n)
		start, unit, err := parseTime(end)
		if err != nil {
			t.Fatal(err)
		}
		if got := start.Add(unit).UnixNano(); got != n {
			t.Errorf("not_after %s: end %s reads back as %s", notAfter, end, time.Unix(0, got).UTC())
		}
	}
	if _, unit, _ := parseTime("2026-12-28"); unit != 24*time.Hour {
		t.Errorf("a date lasts %v", unit)
	}
}

// TestGolden pins the exported resources: testdata/ holds what the package writes for the
// fixtures (go test ./fhir -run TestGolden -update rewrites it after a deliberate change).
func TestGolden(t *testing.T) {
	f := newFixture(t)
	at := time.Unix(0, f.grant.NotBefore).Add(time.Hour)
	live, err := Consent(f.nw, f.rec, f.grant, at)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "consent-active.json", live)

	revoked := *f.grant
	revoked.Revoked, revoked.RevokedHeight = true, 8
	revoked.Purpose = "second opinion before surgery"
	revoked.NotBefore, revoked.NotAfter = 0, 0
	inactive, err := Consent(f.nw, f.rec, &revoked, at)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "consent-revoked.json", inactive)

	b, err := Bundle(SearchSet, [][]byte{live, inactive})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "consent-bundle.json", b)

	events, err := AuditEvents(f.nw, f.rec, f.log, f.receipts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err = Bundle(Collection, events)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "audit-bundle.json", b)
}

// TestReencryptionReceipts: only receipts that verify, from registry nodes, for the very
// request (transaction and grant), name nodes as having re-encrypted, each once, in
// registry order.
func TestReencryptionReceipts(t *testing.T) {
	f := newFixture(t)
	forged := *f.receipts[0]
	forged.Node = f.nw.Nodes[1].ProxyKey // node1 did not sign this
	otherRequest := *f.receipts[1]
	otherRequest.RequestTx = hash(0x99)
	if err := otherRequest.Sign(chainID, secret(t, 12).Signer()); err != nil {
		t.Fatal(err)
	}
	receipts := []*protocol.CFragReceipt{&forged, f.receipts[2], &otherRequest, nil, f.receipts[0], f.receipts[1], f.receipts[0]}
	events, err := AuditEvents(f.nw, f.rec, f.log, receipts...)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range events {
		var ev struct {
			Agent []struct {
				Name string
				Type struct{ Coding []struct{ Code string } }
			}
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range ev.Agent {
			if a.Type.Coding[0].Code == "dataprocessor" {
				got = append(got, a.Name)
			}
		}
		want := ""
		if f.log[i].Kind == protocol.AuditRequest {
			want = "node0 node2 node3"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("event %d (%s): re-encrypted by %q, want %q", i, f.log[i].Kind, got, want)
		}
	}
}
