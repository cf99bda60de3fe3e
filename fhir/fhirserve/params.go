package fhirserve

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/resilientrecords/resilientrecords/fhir"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// maxParams bounds the parameters of one request: every parameter of the route that takes
// most, with two bounds for each of its date ranges.
const maxParams = 10

// query is a request's parameters. Each is given once, but for the date parameters, whose
// repetitions FHIR reads as "and" (date=ge2024-01-01&date=lt2025-01-01, a range).
type query map[string][]string

// repeatable are the parameters a search may give several times.
var repeatable = []string{"date", "period"}

// parseQuery reads the query string. A parameter given twice is refused rather than one of
// its values picked, unless its repetitions can all hold at once.
func parseQuery(raw string) (query, error) {
	vs, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("the query is not URL-encoded: %v", err)
	}
	n := 0
	for k, v := range vs {
		n += len(v)
		if len(v) != 1 && !slices.Contains(repeatable, k) {
			return nil, fmt.Errorf("parameter %q is given %d times; give it once", k, len(v))
		}
	}
	if n > maxParams {
		return nil, fmt.Errorf("%d parameters; no route takes more than %d", n, maxParams)
	}
	return query(vs), nil
}

// get is the value of a parameter given once.
func (q query) get(k string) (string, bool) {
	v, ok := q[k]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func (q query) has(k string) bool {
	_, ok := q[k]
	return ok
}

// only refuses parameters the route does not know. FHIR lets a server ignore them, but a
// search that ignored a filter would answer more than was asked, silently. _format is
// accepted everywhere as long as it asks for JSON, the only format served.
func (q query) only(known ...string) *failure {
	for k := range q {
		if k == "_format" {
			if v, _ := q.get(k); !jsonFormat(v) {
				return &failure{406, "not-supported", fmt.Sprintf("_format %q: this endpoint serves JSON only", clip(v))}
			}
			continue
		}
		if !slices.Contains(known, k) {
			if len(known) == 0 {
				return badRequest("unknown parameter %q: this read takes none", clip(k))
			}
			return badRequest("unknown parameter %q: this read takes %s", clip(k), strings.Join(known, ", "))
		}
	}
	return nil
}

func jsonFormat(v string) bool {
	switch strings.TrimSpace(strings.SplitN(v, ";", 2)[0]) {
	case "json", "application/json", "application/fhir+json":
		return true
	}
	return false
}

// recordID reads a logical id: a record id, 64 lowercase hex digits as put prints it.
func recordID(what, s string) (protocol.ID, *failure) {
	var id protocol.ID
	if len(s) != 64 || strings.ToLower(s) != s || id.UnmarshalText([]byte(s)) != nil {
		return id, badRequest("%s %q: want a record id, 64 lowercase hex digits", what, clip(s))
	}
	return id, nil
}

// patientParam reads the patient a search is restricted to (nil: any), given as patient or
// patient:identifier: "urn:rrec:signing-key|HEX" (or HEX alone), how the ledger knows an
// owner, or "urn:rrec:identity|rrec1…", the public identity people exchange, whose first
// key is the signing key.
func patientParam(q query) (*protocol.PubKey, *failure) {
	name := "patient"
	v, given := q.get("patient")
	if w, ok := q.get("patient:identifier"); ok {
		if given {
			return nil, badRequest("give patient or patient:identifier, not both")
		}
		name, v = "patient:identifier", w
	} else if !given {
		return nil, nil
	}
	want := func() *failure {
		return badRequest("%s %q: want %s|HEX (the patient's signing key) or %s|rrec1…", name, clip(v), fhir.SigningKeySystem, fhir.IdentitySystem)
	}
	sys, val, ok := strings.Cut(v, "|")
	if !ok {
		sys, val = fhir.SigningKeySystem, v
	}
	switch sys {
	case fhir.SigningKeySystem:
		var k protocol.PubKey
		if k.UnmarshalText([]byte(val)) != nil {
			return nil, want()
		}
		return &k, nil
	case fhir.IdentitySystem:
		pub, err := identity.ParsePublic(val)
		if err != nil {
			return nil, want()
		}
		k := protocol.PubKeyOf(pub.Signing)
		return &k, nil
	}
	return nil, want()
}

// entityParam reads the record whose audit log is asked for: entity=DocumentReference/ID
// (or Binary/ID, or ID alone), or entity:identifier=urn:rrec:record|ID.
func entityParam(q query) (protocol.ID, *failure) {
	if v, ok := q.get("entity:identifier"); ok {
		if q.has("entity") {
			return protocol.ID{}, badRequest("give entity or entity:identifier, not both")
		}
		sys, val, _ := strings.Cut(v, "|")
		if sys != fhir.RecordSystem {
			return protocol.ID{}, badRequest("entity:identifier: want %s|ID", fhir.RecordSystem)
		}
		return recordID("entity:identifier", val)
	}
	v, ok := q.get("entity")
	if !ok {
		return protocol.ID{}, badRequest("AuditEvent needs entity=DocumentReference/ID: the audit log is a record's")
	}
	for _, prefix := range []string{"DocumentReference/", "Binary/"} {
		if rest, ok := strings.CutPrefix(v, prefix); ok {
			return recordID("entity", rest)
		}
	}
	return recordID("entity", v)
}

// purposeParam is why a Binary is read: the purpose parameter (a PurposeOfUse code or
// text, at most what the ledger stores), else the server's default.
func (s *Server) purposeParam(q query) (string, *failure) {
	v, ok := q.get("purpose")
	if !ok {
		return fhir.ParsePurpose(s.cfg.Purpose).String(), nil
	}
	p := fhir.ParsePurpose(v).String()
	if p == "" || len(p) > maxPurpose {
		return "", badRequest("purpose: want a PurposeOfUse code (TREAT, ETREAT, …) or text of at most %d bytes", maxPurpose)
	}
	return p, nil
}

// maxPurpose is the ledger's bound on a purpose (protocol/SPEC.md §3).
const maxPurpose = 256

// clip shortens what a client sent before it is echoed in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
