package fhir

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/resilientrecords/resilientrecords/envelope"
)

// R4Version is the FHIR version typed records are validated against.
const R4Version = "4.0.1"

// Summary is what a typed record says of itself. It travels in the record's sealed
// metadata (envelope.Metadata labels, Labels and SummaryOf): the ledger and the nodes never
// see it; the owner reads it with its own key, a recipient after an audited access.
type Summary struct {
	// ResourceType is the record's resource type: "Observation", "Bundle", … A file put
	// with a description of its own (Attachment) is a "DocumentReference".
	ResourceType string
	// MainType is the type of the resource the record is about: in a Bundle its
	// Composition, else its first entry; otherwise ResourceType.
	MainType string
	// Codes are the codings of the main resource's main code (Observation.code,
	// Composition.type, …), LOINC first, then SNOMED CT, then the others in their order.
	Codes []Coding
	// Text is that code's text, or the display of its first coding.
	Text string
	// Date is the main resource's clinical date as FHIR writes it: a date, a dateTime or
	// an instant (Observation.effective[x], Composition.date, …).
	Date string
	// Patient is the reference to the patient the main resource is about, as it is
	// written: "Patient/123" or an absolute URL.
	Patient string
	// Title is a Composition's title or a DocumentReference's description.
	Title string
	// Attachment says the record's content is the file a DocumentReference describes,
	// not FHIR JSON.
	Attachment bool
}

// Coding is one code of a code system: the token "system|code" of FHIR search.
type Coding struct {
	System, Code string
}

func (c Coding) String() string { return c.System + "|" + c.Code }

// Code systems a main code is preferably read from, in this order.
const (
	LOINC     = "http://loinc.org"
	SNOMEDCT  = "http://snomed.info/sct"
	maxCodes  = 8
	maxText   = 256 // bytes of Text and Title kept
	maxLabel  = envelope.MaxLabelValueLen
	labelBase = "fhir."
)

// Describe validates b as one FHIR R4 resource in JSON (Validate) and summarises it: what
// a typed record seals in its metadata. A refusal wraps ErrInvalid.
func Describe(b []byte) (*Summary, error) {
	if err := Validate(b); err != nil {
		return nil, err
	}
	return summarize(b)
}

// object is a JSON object whose members are read on demand.
type object map[string]json.RawMessage

func (o object) str(name string) string {
	var s string
	if json.Unmarshal(o[name], &s) != nil {
		return ""
	}
	return s
}

func (o object) obj(name string) object {
	var m object
	if json.Unmarshal(o[name], &m) != nil {
		return nil
	}
	return m
}

func (o object) list(name string) []object {
	var l []object
	if json.Unmarshal(o[name], &l) != nil {
		return nil
	}
	return l
}

func summarize(b []byte) (*Summary, error) {
	var top object
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s := &Summary{ResourceType: top.str("resourceType")}
	main, entries := top, []object(nil)
	if s.ResourceType == "Bundle" {
		entries = top.list("entry")
		if r := bundleMain(entries); r != nil {
			main = r
		}
	}
	s.MainType = main.str("resourceType")
	s.Codes, s.Text = mainCode(main)
	s.Date = clinicalDate(main)
	if s.Date == "" && s.ResourceType == "Bundle" {
		s.Date = top.str("timestamp")
	}
	s.Patient = patientOf(main, entries)
	switch s.MainType {
	case "Composition":
		s.Title = clipText(main.str("title"))
	case "DocumentReference":
		s.Title = clipText(main.str("description"))
	}
	return s, nil
}

// bundleMain is the resource a Bundle is about: its Composition (a document's first
// entry), else its first entry.
func bundleMain(entries []object) object {
	var first object
	for _, e := range entries {
		r := e.obj("resource")
		if r == nil {
			continue
		}
		if r.str("resourceType") == "Composition" {
			return r
		}
		if first == nil {
			first = r
		}
	}
	return first
}

// codeElements are where resources keep their main code, in the order tried: code
// (Observation, DiagnosticReport, Condition, Procedure, …), type (Composition,
// DocumentReference, Encounter), and the codes of immunizations and medications.
var codeElements = []string{"code", "type", "vaccineCode", "medicationCodeableConcept"}

func mainCode(r object) ([]Coding, string) {
	for _, name := range codeElements {
		cc := r.obj(name)
		if cc == nil {
			if l := r.list(name); len(l) > 0 {
				cc = l[0]
			}
		}
		if cc == nil {
			continue
		}
		var codings []object
		if cs := cc.list("coding"); cs != nil {
			codings = cs
		} else if cc.str("code") != "" {
			codings = []object{cc}
		}
		var out []Coding
		display := ""
		for _, c := range codings {
			cd := Coding{System: c.str("system"), Code: c.str("code")}
			// A system holding "|" would not read back from its label.
			if !fhirURI.MatchString(cd.System) || strings.Contains(cd.System, "|") || !fhirCode.MatchString(cd.Code) || len(cd.String()) > maxLabel {
				continue
			}
			out = append(out, cd)
			if display == "" {
				display = c.str("display")
			}
		}
		slices.SortStableFunc(out, func(a, b Coding) int { return systemRank(a.System) - systemRank(b.System) })
		if len(out) > maxCodes {
			out = out[:maxCodes]
		}
		text := cc.str("text")
		if text == "" {
			text = display
		}
		if len(out) > 0 || text != "" {
			return out, clipText(text)
		}
	}
	return nil, ""
}

func systemRank(system string) int {
	switch system {
	case LOINC:
		return 0
	case SNOMEDCT:
		return 1
	}
	return 2
}

// dateElements are where resources keep their clinical date, in the order tried: when
// it was observed or done, then when it was written.
var dateElements = []string{
	"effectiveDateTime", "effectiveInstant", "effectivePeriod.start",
	"occurrenceDateTime", "occurrencePeriod.start", "performedDateTime", "performedPeriod.start",
	"onsetDateTime", "period.start", "context.period.start", "started", "authoredOn",
	"date", "issued", "recordedDate", "created",
}

func clinicalDate(r object) string {
	for _, path := range dateElements {
		o := r
		parts := strings.Split(path, ".")
		for _, p := range parts[:len(parts)-1] {
			if o = o.obj(p); o == nil {
				break
			}
		}
		if o == nil {
			continue
		}
		if d := o.str(parts[len(parts)-1]); d != "" {
			if _, _, err := dateRange(d); err == nil {
				return d
			}
		}
	}
	return ""
}

// patientRef matches a reference to a Patient: relative, absolute, or versioned.
var patientRef = regexp.MustCompile(`(^|/)Patient/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?$`)

// patientShaped says whether a reference can name a patient: Patient/ID (relative,
// absolute or versioned), or a urn:uuid or urn:oid that a Bundle resolves to a Patient.
func patientShaped(v string) bool {
	if len(v) > maxLabel || strings.Contains(v, "|") {
		return false
	}
	return fhirURI.MatchString(v) && (patientRef.MatchString(v) || strings.HasPrefix(v, "urn:uuid:") || strings.HasPrefix(v, "urn:oid:"))
}

// patientOf is the reference to the patient r is about: its subject or patient when that
// names a Patient (in a Bundle, also an entry that is a Patient by its fullUrl), or r
// itself when it is a Patient.
func patientOf(r object, entries []object) string {
	if r.str("resourceType") == "Patient" && r.str("id") != "" {
		return "Patient/" + r.str("id")
	}
	for _, name := range []string{"subject", "patient"} {
		ref := r.obj(name)
		v := ref.str("reference")
		if !patientShaped(v) {
			continue
		}
		if patientRef.MatchString(v) || ref.str("type") == "Patient" {
			return v
		}
		for _, e := range entries {
			if e.str("fullUrl") == v && e.obj("resource").str("resourceType") == "Patient" {
				return v
			}
		}
	}
	return ""
}

// clipText keeps text to maxText bytes, cut at a character boundary.
func clipText(s string) string {
	s = strings.TrimSpace(fhirString(s))
	if len(s) <= maxText {
		return s
	}
	s = s[:maxText]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Label names under which a Summary is sealed (envelope.Metadata.Labels).
const (
	labelVersion = labelBase + "version"
	labelType    = labelBase + "resource"
	labelMain    = labelBase + "main"
	labelCode    = labelBase + "code." // then the coding's position, 0 to 7
	labelText    = labelBase + "text"
	labelDate    = labelBase + "date"
	labelPatient = labelBase + "patient"
	labelTitle   = labelBase + "title"
	labelContent = labelBase + "content"
)

// Labels is the Summary as sealed metadata labels, all under "fhir.", to add to a record's
// envelope.Metadata.
func (s *Summary) Labels() map[string]string {
	l := map[string]string{labelVersion: R4Version, labelType: s.ResourceType, labelMain: s.MainType, labelContent: "resource"}
	if s.Attachment {
		l[labelContent] = "attachment"
	}
	for i, c := range s.Codes {
		l[labelCode+strconv.Itoa(i)] = c.String()
	}
	for k, v := range map[string]string{labelText: s.Text, labelDate: s.Date, labelPatient: s.Patient, labelTitle: s.Title} {
		if v != "" {
			l[k] = v
		}
	}
	return l
}

// SummaryOf reads the Summary sealed in a record's metadata; false when the record is not
// typed. Whoever sealed the record chose the labels, so every one is checked as FHIR
// would have it, and one that is not is left out: a reader can put them in FHIR output.
func SummaryOf(m *envelope.Metadata) (*Summary, bool) {
	if m == nil || m.Labels[labelVersion] != R4Version || !resourceName.MatchString(m.Labels[labelType]) {
		return nil, false
	}
	l := m.Labels
	s := &Summary{ResourceType: l[labelType], MainType: l[labelMain], Attachment: l[labelContent] == "attachment"}
	if !resourceName.MatchString(s.MainType) {
		s.MainType = s.ResourceType
	}
	for i := range maxCodes {
		sys, code, ok := strings.Cut(l[labelCode+strconv.Itoa(i)], "|")
		if !ok || !fhirURI.MatchString(sys) || !fhirCode.MatchString(code) {
			break
		}
		s.Codes = append(s.Codes, Coding{sys, code})
	}
	if _, _, err := dateRange(l[labelDate]); err == nil {
		s.Date = l[labelDate]
	}
	if p := l[labelPatient]; patientShaped(p) {
		s.Patient = p
	}
	s.Text, s.Title = clipText(l[labelText]), clipText(l[labelTitle])
	return s, true
}

// The shapes R4 gives resource names, uris and codes (R4 datatypes: a uri has no white
// space, a code no leading, trailing or double white space, and neither control
// characters).
var (
	resourceName = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)
	fhirURI      = regexp.MustCompile(`^[^\s\x00-\x1f\x7f]{1,700}$`)
	fhirCode     = regexp.MustCompile(`^[^\s\x00-\x1f\x7f]+( [^\s\x00-\x1f\x7f]+)*$`)
)
