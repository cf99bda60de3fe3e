package fhir

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/resilientrecords/resilientrecords/envelope"
)

// Query selects typed records by what their Summary says, as FHIR search parameters do.
// Every part that is set must match; the zero Query matches every typed record and no
// untyped one.
type Query struct {
	// Type is a resource type: the record's own or its main resource's, so "Composition"
	// finds a document Bundle and "Bundle" finds every Bundle.
	Type string
	// Code is a token of the main code (ParseToken).
	Code *Token
	// Patient is a patient reference: equal to the record's, or the end of it after a
	// "/" ("Patient/123" finds "https://clinic.example/fhir/Patient/123").
	Patient string
	// Date are conditions on the clinical date (ParseDate): a record without a date
	// matches none.
	Date []DateFilter
}

// Match says whether a record with Summary s (nil: an untyped record) matches.
func (q Query) Match(s *Summary) bool {
	switch {
	case s == nil:
		return false
	case q.Type != "" && q.Type != s.ResourceType && q.Type != s.MainType:
		return false
	case q.Code != nil && !q.Code.Match(s.Codes):
		return false
	case q.Patient != "" && s.Patient != q.Patient && !strings.HasSuffix(s.Patient, "/"+q.Patient):
		return false
	}
	if len(q.Date) > 0 {
		start, end, err := dateRange(s.Date)
		if err != nil {
			return false
		}
		for _, d := range q.Date {
			if !d.Match(start, end) {
				return false
			}
		}
	}
	return true
}

// MatchMetadata is Match for a record's sealed metadata: what client.Session's Find and
// FindShared take.
func (q Query) MatchMetadata(m *envelope.Metadata) bool {
	s, ok := SummaryOf(m)
	return ok && q.Match(s)
}

// Token is a FHIR search token: "system|code", "code" (any system), "system|" (any code
// of the system).
type Token struct {
	System, Code string
	AnySystem    bool
}

// ParseToken reads a token as FHIR search writes it. A token without a system ("|code")
// matches nothing here: every code a Summary keeps has its system.
func ParseToken(s string) (*Token, error) {
	sys, code, hasSystem := strings.Cut(s, "|")
	if !hasSystem {
		sys, code = "", s
	}
	if sys == "" && code == "" || len(s) > maxLabel {
		return nil, fmt.Errorf("token %q: want system|code, code, or system|", clipQuery(s))
	}
	return &Token{System: sys, Code: code, AnySystem: !hasSystem}, nil
}

// Match says whether any of the codings matches the token.
func (t *Token) Match(codes []Coding) bool {
	for _, c := range codes {
		if (t.AnySystem || c.System == t.System) && (t.Code == "" || c.Code == t.Code) {
			return true
		}
	}
	return false
}

// DateFilter is one FHIR date search condition: a prefix and a date whose precision makes
// it a range ("2024" is all of that year).
type DateFilter struct {
	Prefix     string // eq, ne, gt, lt, ge, le
	start, end time.Time
}

// ParseDate reads a FHIR date search value: an optional prefix (eq, ne, gt, lt, ge, le;
// none is eq) and a date, dateTime or instant. A time needs its zone.
func ParseDate(s string) (DateFilter, error) {
	f := DateFilter{Prefix: "eq"}
	if len(s) > 2 && s[0] >= 'a' && s[0] <= 'z' {
		f.Prefix, s = s[:2], s[2:]
	}
	switch f.Prefix {
	case "eq", "ne", "gt", "lt", "ge", "le":
	default:
		return f, fmt.Errorf("date prefix %q: this server knows eq, ne, gt, lt, ge and le", f.Prefix)
	}
	var err error
	if f.start, f.end, err = dateRange(s); err != nil {
		return f, err
	}
	return f, nil
}

// Match applies the condition to a target that spans [start, end), as FHIR R4 search
// defines the prefixes over ranges: eq, the target lies within the value's range; gt,
// part of the target lies after it; lt, part of it before; ge and le, either.
func (f DateFilter) Match(start, end time.Time) bool {
	eq := !start.Before(f.start) && !end.After(f.end)
	switch f.Prefix {
	case "eq":
		return eq
	case "ne":
		return !eq
	case "gt":
		return end.After(f.end)
	case "lt":
		return start.Before(f.start)
	case "ge":
		return eq || end.After(f.end)
	case "le":
		return eq || start.Before(f.start)
	}
	return false
}

// fhirDate is R4's date, dateTime and instant, with at most nanoseconds.
var fhirDate = regexp.MustCompile(`^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)

var errDate = errors.New("want a FHIR date: YYYY, YYYY-MM, YYYY-MM-DD, or a date and time with its zone")

// dateRange is the span a FHIR date means: all of the year, month, day or second (or
// finer) that it names. A date without a time has no zone; it is taken in UTC.
func dateRange(s string) (start, end time.Time, err error) {
	if !fhirDate.MatchString(s) {
		return start, end, fmt.Errorf("%q: %w", clipQuery(s), errDate)
	}
	switch len(s) {
	case len("2006"):
		start, err = time.Parse("2006", s)
		return start, start.AddDate(1, 0, 0), err
	case len("2006-01"):
		start, err = time.Parse("2006-01", s)
		return start, start.AddDate(0, 1, 0), err
	}
	t, unit, err := parseTime(strings.Replace(s, ":60", ":59", 1)) // a leap second is in its minute's last second
	if err != nil {
		return start, end, fmt.Errorf("%q: %w", clipQuery(s), errDate)
	}
	return t, t.Add(unit), nil
}

func clipQuery(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
