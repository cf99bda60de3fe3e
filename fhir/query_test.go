package fhir

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/envelope"
)

// summaries are the typed vectors by file name, and an untyped record (nil).
func summaries(t *testing.T) map[string]*Summary {
	out := map[string]*Summary{"untyped": nil}
	for _, v := range typedVectors {
		b, err := os.ReadFile(v.file)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Describe(b)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(strings.TrimPrefix(v.file, "testdata/typed/"), ".json")] = s
	}
	return out
}

func mustToken(t *testing.T, s string) *Token {
	tok, err := ParseToken(s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func dates(t *testing.T, vs ...string) []DateFilter {
	var out []DateFilter
	for _, v := range vs {
		d, err := ParseDate(v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		out = append(out, d)
	}
	return out
}

func TestQuery(t *testing.T) {
	all := summaries(t)
	for _, c := range []struct {
		name string
		q    Query
		want []string
	}{
		{"everything typed", Query{}, []string{"diagnosticreport", "discharge-bundle", "observation"}},
		{"by resource type", Query{Type: "Observation"}, []string{"observation"}},
		{"a Bundle by its Composition", Query{Type: "Composition"}, []string{"discharge-bundle"}},
		{"a Bundle as a Bundle", Query{Type: "Bundle"}, []string{"discharge-bundle"}},
		{"by LOINC code", Query{Code: mustToken(t, "http://loinc.org|2339-0")}, []string{"observation"}},
		{"by a second coding", Query{Code: mustToken(t, "http://clinic-a.example/lab-codes|GLU")}, []string{"observation"}},
		{"a code in any system", Query{Code: mustToken(t, "429858000")}, []string{"diagnosticreport"}},
		{"any code of a system", Query{Code: mustToken(t, "http://loinc.org|")}, []string{"discharge-bundle", "observation"}},
		{"a code of another system", Query{Code: mustToken(t, "http://snomed.info/sct|2339-0")}, nil},
		{"a code without system", Query{Code: mustToken(t, "|2339-0")}, nil},
		{"by patient", Query{Patient: "Patient/p-1001"}, []string{"diagnosticreport", "observation"}},
		{"by patient id", Query{Patient: "p-1001"}, []string{"diagnosticreport", "observation"}},
		{"not a patient's id prefix", Query{Patient: "1001"}, nil},
		{"since a day", Query{Date: dates(t, "ge2024-03-01")}, []string{"discharge-bundle", "observation"}},
		{"until a day", Query{Date: dates(t, "le2024-03-05")}, []string{"diagnosticreport", "observation"}},
		{"in a month", Query{Date: dates(t, "ge2024-03", "le2024-03")}, []string{"discharge-bundle", "observation"}},
		{"on a day, in its zone", Query{Date: dates(t, "2024-03-05")}, []string{"observation"}},
		{"a month within a day: no", Query{Date: dates(t, "2024-02-20")}, nil},
		{"a month overlapping: ge", Query{Date: dates(t, "ge2024-02-20")}, []string{"diagnosticreport", "discharge-bundle", "observation"}},
		{"after", Query{Date: dates(t, "gt2024-03-05T07:15:00Z")}, []string{"discharge-bundle"}},
		{"before", Query{Date: dates(t, "lt2024-03-05T07:15:00Z")}, []string{"diagnosticreport"}},
		{"not on", Query{Date: dates(t, "ne2024-03-05T07:15:00Z")}, []string{"diagnosticreport", "discharge-bundle"}},
		{"type and code", Query{Type: "Composition", Code: mustToken(t, "http://loinc.org|18842-5"), Date: dates(t, "ge2024-01-01")}, []string{"discharge-bundle"}},
		{"type and another code", Query{Type: "Composition", Code: mustToken(t, "http://loinc.org|2339-0")}, nil},
	} {
		var got []string
		for name, s := range all {
			if c.q.Match(s) {
				got = append(got, name)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: matched %v, want %v", c.name, got, c.want)
		}
	}
	if (Query{}).MatchMetadata(&envelope.Metadata{Name: "scan.dcm"}) {
		t.Error("an untyped record matched")
	}
}

func TestParseDateAndToken(t *testing.T) {
	for _, bad := range []string{"", "24-03-05", "2024-13", "2024-03-05T10:00:00", "2024-03-05T10:00Z", "ap2024", "sa2024-01-01", "2024-03-05T10:00:00.1234567891Z", "gt"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("date %q accepted", bad)
		}
	}
	for _, good := range []string{"2024", "2024-03", "le2024-03-05", "2024-03-05T10:00:00+01:00", "2016-12-31T23:59:60Z", "eq2024-03-05T10:00:00.123456789Z"} {
		if _, err := ParseDate(good); err != nil {
			t.Errorf("date %q: %v", good, err)
		}
	}
	if _, err := ParseToken("|"); err == nil {
		t.Error("token | accepted")
	}
	if _, err := ParseToken(strings.Repeat("x", 1000)); err == nil {
		t.Error("a token longer than a label accepted")
	}
}

// TestSummaryOfHostileLabels: a record's owner chooses its labels; what a reader makes of
// them is still valid R4, whatever they hold.
func TestSummaryOfHostileLabels(t *testing.T) {
	f := newFixture(t)
	u := validator(t)
	for _, labels := range []map[string]string{
		{labelVersion: R4Version, labelType: "Observation", labelCode + "0": "http://loinc.org|2339\x00-0", labelDate: "yesterday",
			labelPatient: "Patient/<script>", labelTitle: "a\x07b", labelText: strings.Repeat("é", 600), labelMain: "observation"},
		{labelVersion: R4Version, labelType: "Bundle", labelCode + "0": "no pipe", labelCode + "1": "http://loinc.org|1-8",
			labelPatient: "urn:uuid:1 2", labelDate: "2024-02-30", labelContent: "attachment"},
		{labelVersion: R4Version, labelType: "Observation", labelCode + "0": " |x", labelDate: "2024-03-05T25:00:00Z", labelPatient: "http://x/Patient/1\x01"},
	} {
		s, ok := SummaryOf(&envelope.Metadata{Labels: labels})
		if !ok {
			t.Fatalf("labels %v: not typed", labels)
		}
		b, err := DocumentReference(f.nw, f.rec, "http://127.0.0.1/Binary/x", nil, &Content{MediaType: "text/plain\x01", Size: 1 << 40, Summary: s})
		if err != nil {
			t.Fatal(err)
		}
		validate(t, u, "a DocumentReference from hostile labels", b)
		if len(s.Text) > maxText || s.Date != "" {
			t.Errorf("kept %+v", s)
		}
	}
	for _, labels := range []map[string]string{nil, {labelVersion: "3.0.2", labelType: "Observation"}, {labelVersion: R4Version, labelType: "observation"}} {
		if _, ok := SummaryOf(&envelope.Metadata{Labels: labels}); ok {
			t.Errorf("labels %v read as typed", labels)
		}
	}
}

func TestAttachment(t *testing.T) {
	good := Attachment{Title: "Laboratory report, 5 March", ContentType: "application/pdf", Code: "http://loinc.org|11502-2", Date: "2024-03-05", Patient: "Patient/p-1001"}
	s, err := good.Describe()
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{ResourceType: "DocumentReference", MainType: "DocumentReference", Codes: []Coding{{LOINC, "11502-2"}},
		Date: "2024-03-05", Patient: "Patient/p-1001", Title: "Laboratory report, 5 March", Attachment: true}
	if s == nil || !slices.Equal(s.Codes, want.Codes) || s.Title != want.Title || s.Date != want.Date || s.Patient != want.Patient || !s.Attachment || s.MainType != want.MainType {
		t.Fatalf("attachment summary %+v, want %+v", s, want)
	}
	roundTrip(t, "an attachment", s)
	if s, err := (Attachment{Title: "a scan"}).Describe(); err != nil || s.Codes != nil || s.Date != "" {
		t.Errorf("a title alone: %+v, %v", s, err)
	}
	for _, c := range []struct {
		a    Attachment
		says string
	}{
		{Attachment{}, "title"},
		{Attachment{Title: "x", Code: "11502-2"}, "system|code"},
		{Attachment{Title: "x", Date: "5 March"}, "date"},
		{Attachment{Title: "x", Patient: "Sam"}, "Patient/123"},
		{Attachment{Title: "x", Patient: "Group/1"}, "Patient/123"},
		{Attachment{Title: "x", ContentType: "pdf file"}, "media type"},
	} {
		if _, err := c.a.Describe(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want it to say %q", c.a, err, c.says)
		}
	}
}
