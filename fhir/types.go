package fhir

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The FHIR R4 datatypes and the parts of Consent, AuditEvent and Bundle this package
// writes and reads. Field order is the order of the R4 JSON definitions, so the output
// reads like the specification's examples. json.RawMessage fields are elements import
// must notice (to refuse them) but never interprets.

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	Use    string `json:"use,omitempty"`
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type narrative struct {
	Status string `json:"status"`
	Div    string `json:"div"`
}

type consent struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id,omitempty"`
	Meta              json.RawMessage   `json:"meta,omitempty"`
	Text              *narrative        `json:"text,omitempty"`
	ModifierExtension json.RawMessage   `json:"modifierExtension,omitempty"`
	Identifier        []identifier      `json:"identifier,omitempty"`
	Status            string            `json:"status"`
	Scope             codeableConcept   `json:"scope"`
	Category          []codeableConcept `json:"category"`
	Patient           *reference        `json:"patient,omitempty"`
	DateTime          string            `json:"dateTime,omitempty"`
	Organization      []reference       `json:"organization,omitempty"`
	SourceReference   *reference        `json:"sourceReference,omitempty"`
	Policy            json.RawMessage   `json:"policy,omitempty"`
	PolicyRule        *codeableConcept  `json:"policyRule,omitempty"`
	Verification      json.RawMessage   `json:"verification,omitempty"`
	Provision         *provision        `json:"provision,omitempty"`
}

type provision struct {
	ModifierExtension json.RawMessage   `json:"modifierExtension,omitempty"`
	Type              string            `json:"type,omitempty"`
	Period            *period           `json:"period,omitempty"`
	Actor             []provisionActor  `json:"actor,omitempty"`
	Action            []codeableConcept `json:"action,omitempty"`
	SecurityLabel     json.RawMessage   `json:"securityLabel,omitempty"`
	Purpose           []coding          `json:"purpose,omitempty"`
	Class             json.RawMessage   `json:"class,omitempty"`
	Code              json.RawMessage   `json:"code,omitempty"`
	DataPeriod        json.RawMessage   `json:"dataPeriod,omitempty"`
	Data              []provisionData   `json:"data,omitempty"`
	Provision         json.RawMessage   `json:"provision,omitempty"`
}

type provisionActor struct {
	Role      codeableConcept `json:"role"`
	Reference reference       `json:"reference"`
}

type provisionData struct {
	Meaning   string    `json:"meaning"`
	Reference reference `json:"reference"`
}

type auditEvent struct {
	ResourceType   string            `json:"resourceType"`
	ID             string            `json:"id,omitempty"`
	Text           *narrative        `json:"text,omitempty"`
	Type           coding            `json:"type"`
	Subtype        []coding          `json:"subtype,omitempty"`
	Action         string            `json:"action,omitempty"`
	Recorded       string            `json:"recorded"`
	Outcome        string            `json:"outcome,omitempty"`
	PurposeOfEvent []codeableConcept `json:"purposeOfEvent,omitempty"`
	Agent          []auditAgent      `json:"agent"`
	Source         auditSource       `json:"source"`
	Entity         []auditEntity     `json:"entity,omitempty"`
}

type auditAgent struct {
	Type         *codeableConcept  `json:"type,omitempty"`
	Who          *reference        `json:"who,omitempty"`
	Name         string            `json:"name,omitempty"`
	Requestor    bool              `json:"requestor"`
	PurposeOfUse []codeableConcept `json:"purposeOfUse,omitempty"`
}

type auditSource struct {
	Site     string    `json:"site,omitempty"`
	Observer reference `json:"observer"`
	Type     []coding  `json:"type,omitempty"`
}

type auditEntity struct {
	What      *reference    `json:"what,omitempty"`
	Type      *coding       `json:"type,omitempty"`
	Role      *coding       `json:"role,omitempty"`
	Lifecycle *coding       `json:"lifecycle,omitempty"`
	Name      string        `json:"name,omitempty"`
	Detail    []auditDetail `json:"detail,omitempty"`
}

type auditDetail struct {
	Type        string `json:"type"`
	ValueString string `json:"valueString"`
}

type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleEntry struct {
	Resource json.RawMessage `json:"resource"`
	Search   *bundleSearch   `json:"search,omitempty"`
}

type bundleSearch struct {
	Mode string `json:"mode"`
}

// marshal writes v as indented JSON without HTML escaping: narratives hold XHTML, which
// is easier to read, and is the same JSON, unescaped.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// fhirString makes text from the ledger (a free-text purpose, a node's or a chain's name)
// a FHIR string: R4 strings hold no control characters but tab, carriage return and line
// feed, and the ledger's text fields are any UTF-8.
func fhirString(s string) string {
	return strings.Map(func(r rune) rune {
		if controlChar(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func controlChar(r rune) bool { return r < 0x20 && r != '\t' && r != '\r' && r != '\n' || r == 0x7f }

// generated is a narrative of plain paragraphs. Every FHIR example carries one, and a
// reader without a FHIR viewer sees what the resource says.
func generated(paragraphs ...string) *narrative {
	var b strings.Builder
	b.WriteString(`<div xmlns="http://www.w3.org/1999/xhtml">`)
	for _, p := range paragraphs {
		b.WriteString("<p>")
		b.WriteString(xhtmlEscaper.Replace(fhirString(p)))
		b.WriteString("</p>")
	}
	b.WriteString("</div>")
	return &narrative{Status: "generated", Div: b.String()}
}

var xhtmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
