package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// MaxConsentSize bounds the Consent ImportConsent reads: a grant's Consent is a few
// kilobytes, and the bound keeps a hostile file from costing more than that to refuse.
const MaxConsentSize = 64 << 10

// ErrMalformed is the error of input that is not a FHIR R4 Consent in JSON at all.
var ErrMalformed = errors.New("fhir: malformed Consent")

// GrantRequest is what a Consent asks of the network, in the terms of a grant
// (client.GrantOptions and the recipient): the caller checks Patient and Record against
// its own identity and record before it grants.
type GrantRequest struct {
	// Patient is the signing key of the patient the Consent names, nil if it names none.
	Patient *protocol.PubKey
	// Record is the record the Consent's data names, nil if it names none.
	Record    *protocol.ID
	Recipient identity.Public
	// NotBefore and NotAfter bound the grant's window, the end exclusive; zero: unbounded.
	NotBefore time.Time
	NotAfter  time.Time
	Purpose   Purpose
}

// Refusal is one part of a Consent the network cannot enforce: the element, by its FHIR
// path, and why.
type Refusal struct {
	Element string
	Reason  string
}

// RefusedError lists every part of a Consent the network cannot enforce. A Consent is
// imported whole or not at all: granting part of it would give someone access on terms
// the patient did not write.
type RefusedError struct {
	Refusals []Refusal
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	b.WriteString("fhir: this network cannot enforce the Consent as written:")
	for _, r := range e.Refusals {
		fmt.Fprintf(&b, "\n  %s: %s", r.Element, r.Reason)
	}
	return b.String()
}

// ImportConsent reads a FHIR R4 Consent (JSON, at most MaxConsentSize bytes) that permits
// one recipient to access one record, within a period, for a purpose, and returns the
// equivalent grant. Input that is not a Consent wraps ErrMalformed; a Consent that says
// anything the network cannot enforce (SPEC.md §6) is a *RefusedError naming each part.
func ImportConsent(b []byte) (*GrantRequest, error) {
	if len(b) > MaxConsentSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxConsentSize)
	}
	var c consent
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c.ResourceType != "Consent" {
		return nil, fmt.Errorf("%w: resourceType is %q", ErrMalformed, c.ResourceType)
	}
	var im importer
	im.modifiers(b)
	g := im.consent(&c)
	if len(im.refusals) > 0 {
		return nil, &RefusedError{Refusals: im.refusals}
	}
	return g, nil
}

type importer struct{ refusals []Refusal }

func (im *importer) refuse(element, format string, args ...any) {
	im.refusals = append(im.refusals, Refusal{element, fmt.Sprintf(format, args...)})
}

// modifiers refuses every modifierExtension, wherever it is: FHIR requires a reader that
// does not understand one to refuse what it is on, and this network understands none.
func (im *importer) modifiers(b []byte) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return
	}
	var paths []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if k == "modifierExtension" {
					paths = append(paths, p)
					continue
				}
				walk(x, p)
			}
		case []any:
			for i, x := range v {
				walk(x, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(v, "Consent")
	sort.Strings(paths)
	for _, p := range paths {
		im.refuse(p, "a modifier extension changes the meaning of what it is on, and this network understands none")
	}
}

func (im *importer) consent(c *consent) *GrantRequest {
	g := &GrantRequest{}
	if c.Status != "active" {
		im.refuse("Consent.status", "is %q: only an active Consent becomes a grant", c.Status)
	}
	if !hasCoding(c.Scope.Coding, sysConsentScope, "patient-privacy") {
		im.refuse("Consent.scope", "a grant is a privacy consent (consentscope patient-privacy); this network keeps no other kind")
	}
	if len(c.Policy) > 0 {
		im.refuse("Consent.policy", "the network cannot enforce the rules of a policy it cannot read")
	}
	optIn := c.PolicyRule != nil && hasCoding(c.PolicyRule.Coding, sysActCode, "OPTIN")
	if c.PolicyRule != nil && !optIn && !hasCoding(c.PolicyRule.Coding, sysActCode, "OPTOUT") {
		im.refuse("Consent.policyRule", "the network knows the base rules opt-in and opt-out (v3 ActCode OPTIN, OPTOUT) only")
	}
	if c.Patient != nil {
		g.Patient = im.patient(c.Patient)
	}
	p := c.Provision
	if p == nil {
		im.refuse("Consent.provision", "names no one to grant access to")
		return g
	}
	switch {
	case p.Type == "permit":
	case p.Type == "" && optIn:
		// An opt-in Consent whose provision has no type permits what the provision names.
	case p.Type == "deny":
		im.refuse("Consent.provision.type", "deny: the network has no deny rules; not granting, or revoking, is how access is denied")
	default:
		im.refuse("Consent.provision.type", "must be permit (or absent under an opt-in policyRule)")
	}
	for _, unenforceable := range []struct {
		element string
		present bool
		reason  string
	}{
		{"Consent.provision.provision", len(p.Provision) > 0, "nested provisions make exceptions within a grant; a grant is all of one record or nothing"},
		{"Consent.provision.securityLabel", len(p.SecurityLabel) > 0, "the network cannot see inside a sealed record to select data by security label"},
		{"Consent.provision.class", len(p.Class) > 0, "the network cannot see inside a sealed record to select data by class"},
		{"Consent.provision.code", len(p.Code) > 0, "the network cannot see inside a sealed record to select data by code"},
		{"Consent.provision.dataPeriod", len(p.DataPeriod) > 0, "the network cannot see inside a sealed record to select data by its clinical dates"},
	} {
		if unenforceable.present {
			im.refuse(unenforceable.element, "%s", unenforceable.reason)
		}
	}
	switch len(p.Actor) {
	case 0:
		im.refuse("Consent.provision.actor", "names no recipient")
	case 1:
		g.Recipient = im.actor(&p.Actor[0])
	default:
		im.refuse("Consent.provision.actor", "names %d actors: a grant has one recipient (make one Consent per recipient)", len(p.Actor))
	}
	for i, a := range p.Action {
		if len(a.Coding) != 1 || !hasCoding(a.Coding, sysConsentAction, "access") {
			im.refuse(fmt.Sprintf("Consent.provision.action[%d]", i), "a grant lets its recipient read (consentaction access), nothing else")
		}
	}
	if p.Period != nil {
		g.NotBefore, g.NotAfter = im.period(p.Period)
	}
	switch len(p.Purpose) {
	case 0:
	case 1:
		g.Purpose = im.purpose(&p.Purpose[0])
	default:
		im.refuse("Consent.provision.purpose", "names %d purposes: a grant has one", len(p.Purpose))
	}
	switch len(p.Data) {
	case 0:
	case 1:
		g.Record = im.data(&p.Data[0])
	default:
		im.refuse("Consent.provision.data", "names %d resources: a grant is for one record (make one Consent per record)", len(p.Data))
	}
	return g
}

func (im *importer) patient(r *reference) *protocol.PubKey {
	if r.Identifier != nil {
		switch r.Identifier.System {
		case SigningKeySystem:
			if k, err := protocol.ParseHex[protocol.PubKey](r.Identifier.Value); err == nil && k.Valid() {
				return &k
			}
		case IdentitySystem:
			if pub, err := identity.ParsePublic(r.Identifier.Value); err == nil {
				k := protocol.PubKeyOf(pub.Signing)
				return &k
			}
		}
	}
	im.refuse("Consent.patient", "must name the owner by identifier, system %s (hex) or %s (rrec1…)", SigningKeySystem, IdentitySystem)
	return nil
}

func (im *importer) actor(a *provisionActor) identity.Public {
	if !hasCoding(a.Role.Coding, sysParticipation, "PRCP") && !hasCoding(a.Role.Coding, sysParticipation, "IRCP") {
		im.refuse("Consent.provision.actor[0].role", "a grant makes its actor a recipient of information (v3 ParticipationType PRCP or IRCP), no other role")
	}
	if id := a.Reference.Identifier; id != nil && id.System == IdentitySystem {
		pub, err := identity.ParsePublic(id.Value)
		if err == nil {
			return pub
		}
		im.refuse("Consent.provision.actor[0].reference", "%q is not a public identity", id.Value)
		return identity.Public{}
	}
	im.refuse("Consent.provision.actor[0].reference", "must name the recipient by public identity (identifier system %s): the network has no directory that resolves other references to keys", IdentitySystem)
	return identity.Public{}
}

// period reads the window. A start is the instant it names; an end includes all of the
// date or time it names (R4 Period), so not_after is one unit of its precision later.
func (im *importer) period(p *period) (notBefore, notAfter time.Time) {
	if p.Start != "" {
		t, _, err := parseTime(p.Start)
		if err != nil {
			im.refuse("Consent.provision.period.start", "%v", err)
		} else if !ledgerTime(t) {
			im.refuse("Consent.provision.period.start", "lies outside the times the ledger can hold (1970 to 2262)")
		} else {
			notBefore = t
		}
	}
	if p.End != "" {
		t, unit, err := parseTime(p.End)
		switch {
		case err != nil:
			im.refuse("Consent.provision.period.end", "%v", err)
		case !ledgerTime(t.Add(unit)):
			im.refuse("Consent.provision.period.end", "lies outside the times the ledger can hold (1970 to 2262)")
		default:
			notAfter = t.Add(unit)
		}
	}
	if !notBefore.IsZero() && !notAfter.IsZero() && !notAfter.After(notBefore) {
		im.refuse("Consent.provision.period", "ends before it starts")
	}
	return notBefore, notAfter
}

// ledgerTime says whether t is a time the ledger's i64 nanoseconds hold, and not the
// zero that means "unbounded".
func ledgerTime(t time.Time) bool {
	return t.After(time.Unix(0, 0)) && t.Before(time.Unix(0, math.MaxInt64))
}

func (im *importer) purpose(c *coding) Purpose {
	var p Purpose
	switch {
	case c.System == PurposeSystem:
		var ok bool
		if p, ok = lookupPurpose(c.Code); !ok || p.Code != c.Code {
			im.refuse("Consent.provision.purpose", "%q is not a v3 PurposeOfUse code", c.Code)
			return Purpose{}
		}
	case c.System == "" && c.Code == "" && strings.TrimSpace(c.Display) != "":
		// Free text that names a code ("treatment") is that code, as it is on the ledger.
		p = ParsePurpose(c.Display)
	default:
		im.refuse("Consent.provision.purpose", "must be a v3 PurposeOfUse code (system %s) or free text (display alone)", PurposeSystem)
		return Purpose{}
	}
	if s := p.String(); len(s) > protocol.MaxPurpose || !utf8.ValidString(s) || strings.IndexFunc(s, controlChar) >= 0 {
		im.refuse("Consent.provision.purpose", "a grant's purpose is at most %d bytes of UTF-8 without control characters", protocol.MaxPurpose)
		return Purpose{}
	}
	return p
}

func (im *importer) data(d *provisionData) *protocol.ID {
	if d.Meaning != "instance" {
		im.refuse("Consent.provision.data[0].meaning", "is %q: a grant covers exactly the record it names (instance), not related or dependent data", d.Meaning)
	}
	if id := d.Reference.Identifier; id != nil && id.System == RecordSystem {
		if rec, err := protocol.ParseHex[protocol.ID](id.Value); err == nil {
			return &rec
		}
	}
	im.refuse("Consent.provision.data[0].reference", "must name a record by its id (identifier system %s)", RecordSystem)
	return nil
}

func hasCoding(cs []coding, system, code string) bool {
	for _, c := range cs {
		if c.System == system && c.Code == code {
			return true
		}
	}
	return false
}
