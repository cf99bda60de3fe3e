package fhir

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Identifier systems for the network's own names. They are URNs under "rrec", the prefix of
// public identities; a FHIR consumer treats them as opaque systems, and this package both
// writes and reads them.
const (
	// IdentitySystem names a person or organisation by public identity, "rrec1…": both
	// keys, what a grant needs.
	IdentitySystem = "urn:rrec:identity"
	// SigningKeySystem names an account by its signing key, lowercase hex: what the
	// ledger knows of an owner or of the actor of an audit entry. It is the first key of
	// the account's public identity.
	SigningKeySystem = "urn:rrec:signing-key"
	// NodeSystem names a node of the registry by its proxy key, lowercase hex.
	NodeSystem = "urn:rrec:node"
	// ChainSystem names a network by its chain id.
	ChainSystem = "urn:rrec:chain"
	// RecordSystem, GrantSystem and TxSystem name a record, a grant and a ledger
	// transaction by their id or hash, lowercase hex.
	RecordSystem = "urn:rrec:record"
	GrantSystem  = "urn:rrec:grant"
	TxSystem     = "urn:rrec:tx"
)

// Code systems of FHIR R4 and the DICOM and HL7 v3 vocabularies it binds.
const (
	sysConsentScope    = "http://terminology.hl7.org/CodeSystem/consentscope"
	sysLOINC           = "http://loinc.org"
	sysActCode         = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	sysParticipation   = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	sysConsentAction   = "http://terminology.hl7.org/CodeSystem/consentaction"
	sysRoleClass       = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
	sysDICOM           = "http://dicom.nema.org/resources/ontology/DCM"
	sysAuditEventType  = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	sysRestful         = "http://hl7.org/fhir/restful-interaction"
	sysEntityType      = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	sysObjectRole      = "http://terminology.hl7.org/CodeSystem/object-role"
	sysLifecycle       = "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle"
	sysSourceType      = "http://terminology.hl7.org/CodeSystem/security-source-type"
	sysSecurityRole    = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	sysResourceTypes   = "http://hl7.org/fhir/resource-types"
	consentCategoryDoc = "59284-0"
)

// recipientRole is the role of the one actor of a grant, as the R4 Consent examples name a
// recipient of information: a grant lets its recipient read, nothing else.
var recipientRole = coding{System: sysParticipation, Code: "PRCP", Display: "primary information recipient"}

// Consent is grant g of record rec on network nw as a FHIR R4 Consent (JSON), whose id is
// the grant id. Its status is judged at block time at: inactive once the grant is revoked
// or expired, or when at is past its window; otherwise active, even before the window
// opens (R4's active means in force; the period says from when). A zero at judges by the
// ledger's flags alone.
func Consent(nw *protocol.Network, rec *protocol.Record, g *protocol.GrantState, at time.Time) ([]byte, error) {
	c, err := consentOf(nw, rec, g, at)
	if err != nil {
		return nil, err
	}
	return marshal(c)
}

func consentOf(nw *protocol.Network, rec *protocol.Record, g *protocol.GrantState, at time.Time) (*consent, error) {
	if nw == nil || rec == nil || g == nil {
		return nil, errors.New("fhir: Consent needs the network, the record and the grant")
	}
	if g.Record != rec.ID || g.Owner != rec.Owner {
		return nil, fmt.Errorf("fhir: grant %s is not of record %s", g.ID, rec.ID)
	}
	status, state := "active", "live"
	switch {
	case g.Revoked:
		status, state = "inactive", fmt.Sprintf("revoked at height %d", g.RevokedHeight)
	case g.Expired:
		status, state = "inactive", fmt.Sprintf("expired at height %d", g.ExpiredHeight)
	case !at.IsZero() && g.NotAfter != 0 && at.UnixNano() >= g.NotAfter:
		status, state = "inactive", "past its end"
	}
	recipient := recipientOf(g)
	p := &provision{
		Type:   "permit",
		Actor:  []provisionActor{{Role: codeableConcept{Coding: []coding{recipientRole}}, Reference: reference{Identifier: &recipient}}},
		Action: []codeableConcept{{Coding: []coding{{System: sysConsentAction, Code: "access", Display: "Access"}}}},
		Data: []provisionData{{
			Meaning:   "instance",
			Reference: reference{Identifier: &identifier{System: RecordSystem, Value: g.Record.String()}},
		}},
	}
	if g.NotBefore != 0 || g.NotAfter != 0 {
		p.Period = &period{}
		if g.NotBefore != 0 {
			p.Period.Start = instant(g.NotBefore)
		}
		if g.NotAfter != 0 {
			p.Period.End = periodEnd(g.NotAfter)
		}
	}
	purpose := ParsePurpose(g.Purpose)
	if c := purpose.coding(); c != nil {
		p.Purpose = []coding{*c}
	}
	window := "with no time limit"
	if p.Period != nil {
		window = "from " + orNone(p.Period.Start, "the grant's block")
		if g.NotAfter != 0 {
			window += " until just before " + instant(g.NotAfter)
		}
	}
	return &consent{
		ResourceType: "Consent",
		ID:           g.ID.String(),
		Text: generated(
			fmt.Sprintf("Grant %s: %s may read record %s, %s, for purpose: %s.", g.ID, recipient.Value, g.Record, window, orNone(purpose.Display, "none given")),
			fmt.Sprintf("Committed on chain %s at height %d; %s; re-encrypted by %d of %d nodes.", nw.ChainID, g.Height, state, g.Threshold, len(g.Nodes)),
		),
		Identifier: []identifier{{Use: "official", System: GrantSystem, Value: g.ID.String()}},
		Status:     status,
		Scope: codeableConcept{Coding: []coding{{
			System: sysConsentScope, Code: "patient-privacy", Display: "Privacy Consent",
		}}},
		Category: []codeableConcept{{Coding: []coding{{
			System: sysLOINC, Code: consentCategoryDoc, Display: "Patient Consent",
		}}}},
		Patient:      &reference{Identifier: ptr(partyOf(g.Owner, g.OwnerEnc))},
		DateTime:     instant(g.Time),
		Organization: []reference{chainReference(nw.ChainID)},
		SourceReference: &reference{
			Identifier: &identifier{System: TxSystem, Value: g.TxHash.String()},
			Display:    fmt.Sprintf("ledger transaction at height %d of chain %s", g.Height, fhirString(nw.ChainID)),
		},
		PolicyRule: &codeableConcept{Coding: []coding{{System: sysActCode, Code: "OPTIN", Display: "opt-in"}}},
		Provision:  p,
	}, nil
}

// recipientOf names the grant's recipient by public identity.
func recipientOf(g *protocol.GrantState) identifier { return partyOf(g.RecipientSig, g.RecipientEnc) }

// partyOf names a person by public identity when both keys decode (they always do on a
// ledger, which checks them), else by signing key.
func partyOf(signing, receiving protocol.PubKey) identifier {
	sig, err1 := umbral.PublicKeyFromBytes(signing[:])
	enc, err2 := umbral.PublicKeyFromBytes(receiving[:])
	if err1 != nil || err2 != nil {
		return identifier{System: SigningKeySystem, Value: signing.String()}
	}
	return identifier{System: IdentitySystem, Value: identity.Public{Signing: sig, Receiving: enc}.String()}
}

func chainReference(chainID string) reference {
	return reference{
		Identifier: &identifier{System: ChainSystem, Value: fhirString(chainID)},
		Display:    "Resilient Records network " + fhirString(chainID),
	}
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// instant is a block time as a FHIR instant (and dateTime): UTC, as many fractional
// digits as it needs.
func instant(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// periodEnd writes an exclusive end (not_after) as FHIR's inclusive Period.end. R4: "the
// end value includes any matching date/time", so an end of 10:00:00 lasts until 10:00:01.
// The end written is therefore the last unit before not_after, in the coarsest unit that
// divides it (seconds for the grants people make), and parseTime undoes it exactly.
func periodEnd(notAfter int64) string {
	for _, u := range []struct {
		unit   int64
		layout string
	}{
		{1e9, "2006-01-02T15:04:05Z07:00"},
		{1e6, "2006-01-02T15:04:05.000Z07:00"},
		{1e3, "2006-01-02T15:04:05.000000Z07:00"},
		{1, "2006-01-02T15:04:05.000000000Z07:00"},
	} {
		if notAfter%u.unit == 0 {
			return time.Unix(0, notAfter-u.unit).UTC().Format(u.layout)
		}
	}
	panic("unreachable")
}

// parseTime reads a FHIR date or dateTime as the instant it starts at and the length of
// time it names: a day for a date (taken in UTC: a date carries no zone), else one unit of
// its last digit. Years and months alone are too coarse for a grant's window.
func parseTime(s string) (start time.Time, unit time.Duration, err error) {
	if len(s) == len("2006") || len(s) == len("2006-01") {
		return time.Time{}, 0, fmt.Errorf("%q is a year or a month: a grant's window needs a day at least", s)
	}
	if len(s) == len("2006-01-02") {
		t, err := time.Parse("2006-01-02", s)
		return t, 24 * time.Hour, err
	}
	if len(s) < len("2006-01-02T15:04:05Z") || len(s) > len("2006-01-02T15:04:05.000000000+00:00") {
		return time.Time{}, 0, fmt.Errorf("%q is not a date or a date and time with a zone", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("%q is not a date or a date and time with a zone", s)
	}
	unit = time.Second
	if i := len("2006-01-02T15:04:05"); s[i] == '.' {
		digits := 0
		for j := i + 1; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
			digits++
		}
		if digits > 9 {
			return time.Time{}, 0, fmt.Errorf("%q is more precise than nanoseconds", s)
		}
		unit = time.Duration(pow10(9 - digits))
	}
	return t, unit, nil
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}

// itoa writes a height as AuditEvent details carry it.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
