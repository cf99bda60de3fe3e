package fhir

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// The summaries of the resources under testdata/typed (written for these tests) and of
// official R4 examples (TestDescribeOfficial): what a typed record seals.
var typedVectors = []struct {
	file string
	want Summary
}{
	{"testdata/typed/observation.json", Summary{
		ResourceType: "Observation", MainType: "Observation",
		Codes: []Coding{{LOINC, "2339-0"}, {"http://clinic-a.example/lab-codes", "GLU"}},
		Text:  "Blood glucose", Date: "2024-03-05T08:15:00+01:00", Patient: "Patient/p-1001",
	}},
	{"testdata/typed/discharge-bundle.json", Summary{
		ResourceType: "Bundle", MainType: "Composition",
		Codes: []Coding{{LOINC, "18842-5"}}, Text: "Discharge summary", Date: "2024-03-09T15:30:00Z",
		Patient: "urn:uuid:2b7c6a1e-0d1f-4a39-8a5b-5e7f2c9d1a02", Title: "Discharge summary, ward 4",
	}},
	{"testdata/typed/diagnosticreport.json", Summary{
		ResourceType: "DiagnosticReport", MainType: "DiagnosticReport",
		Codes: []Coding{{SNOMEDCT, "429858000"}}, Text: "Computed tomography (CT) of head and neck",
		Date: "2024-02", Patient: "Patient/p-1001",
	}},
}

func TestDescribe(t *testing.T) {
	for _, v := range typedVectors {
		b, err := os.ReadFile(v.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Describe(b)
		if err != nil {
			t.Fatalf("%s: %v", v.file, err)
		}
		if !reflect.DeepEqual(*got, v.want) {
			t.Errorf("%s: summary\n%+v, want\n%+v", v.file, *got, v.want)
		}
		roundTrip(t, v.file, got)
	}
}

// roundTrip seals s's labels in a real envelope, opens it, and reads the same Summary back;
// the DocumentReference a server makes of it is valid R4.
func roundTrip(t *testing.T, what string, s *Summary) {
	t.Helper()
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	var sealed bytes.Buffer
	w, err := envelope.Seal(&sealed, sk.PublicKey(), envelope.Metadata{Name: "r.json", MediaType: "application/fhir+json", Size: 2, Labels: s.Labels()}, nil)
	if err != nil {
		t.Fatalf("%s: sealing the labels: %v", what, err)
	}
	if _, err := io.WriteString(w, "{}"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := envelope.Open(&sealed, envelope.OwnerKey{Delegating: sk})
	if err != nil {
		t.Fatal(err)
	}
	meta := r.Metadata()
	back, ok := SummaryOf(&meta)
	if !ok || !reflect.DeepEqual(back, s) {
		t.Errorf("%s: sealed %+v, read back %+v", what, s, back)
	}
	if !(Query{}).Match(back) || !(Query{}).MatchMetadata(&meta) {
		t.Errorf("%s: the empty query does not match a typed record", what)
	}
	f := newFixture(t)
	doc, err := DocumentReference(f.nw, f.rec, "http://127.0.0.1:8080/Binary/x", nil, &Content{MediaType: meta.MediaType, Size: meta.Size, Summary: back})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, validator(t), what+" as a DocumentReference", doc)
}

// TestDescribeRefuses: input that is not valid R4 is refused with ErrInvalid and an error
// that names where.
func TestDescribeRefuses(t *testing.T) {
	invalid, err := os.ReadFile("testdata/typed/invalid-observation.json")
	if err != nil {
		t.Fatal(err)
	}
	deep := `{"resourceType":"Observation","status":"final","code":{"text":"x"},"extension":[` +
		strings.Repeat(`{"url":"http://x.example","extension":[`, 80) + strings.Repeat(`]}`, 80) + `]}`
	for _, c := range []struct {
		name, input, says string
	}{
		{"the testdata", string(invalid), `Observation.note`},
		{"missing status", `{"resourceType":"Observation","code":{"text":"x"}}`, `missing required field "status"`},
		{"an unknown element", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"colour":"red"}`, `colour`},
		{"a bad code", `{"resourceType":"Observation","status":"done","code":{"text":"x"}}`, `Observation.status`},
		{"a reference to the wrong type", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"performer":[{"reference":"Encounter/1"}]}`, `invalid reference`},
		{"no resource type", `{"status":"final"}`, `resourceType`},
		{"an unknown resource type", `{"resourceType":"Prescription"}`, `Prescription`},
		{"not JSON", `{"resourceType":"Observation",`, `invalid JSON`},
		{"not an object", `["Observation"]`, `invalid JSON`},
		{"too deep", deep, `nesting depth`},
		{"too large", `{"resourceType":"Basic","code":{"text":"` + strings.Repeat("x", MaxResourceSize) + `"}}`, `more than`},
	} {
		_, err := Describe([]byte(c.input))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want ErrInvalid saying %q", c.name, err, c.says)
		}
		if err != nil && strings.Count(err.Error(), ";") > 5 {
			t.Errorf("%s: the error lists more than the first problems: %v", c.name, err)
		}
	}
}

// TestDescribeOfficial summarises official R4 examples (RREC_FHIR_R4_EXAMPLES, see
// TestOfficialExamples): a lab Observation, a document Bundle that is a discharge summary,
// DiagnosticReports; then every Observation, DiagnosticReport, Composition,
// DocumentReference and Bundle example the validator accepts seals and reads back.
func TestDescribeOfficial(t *testing.T) {
	dir := os.Getenv("RREC_FHIR_R4_EXAMPLES")
	if dir == "" {
		t.Skip("RREC_FHIR_R4_EXAMPLES is not set")
	}
	for _, v := range []struct {
		file string
		want Summary
	}{
		{"Observation-example.json", Summary{ResourceType: "Observation", MainType: "Observation",
			Codes: []Coding{{LOINC, "29463-7"}, {LOINC, "3141-9"}, {SNOMEDCT, "27113001"}, {"http://acme.org/devices/clinical-codes", "body-weight"}},
			Text:  "Body Weight", Date: "2016-03-28", Patient: "Patient/example"}},
		{"Bundle-father.json", Summary{ResourceType: "Bundle", MainType: "Composition",
			Codes: []Coding{{LOINC, "28655-9"}}, Text: "Discharge Summary from Responsible Clinician",
			Date: "2013-02-01T12:30:02Z", Patient: "http://fhir.healthintersections.com.au/open/Patient/d1", Title: "Discharge Summary"}},
		{"DiagnosticReport-f201.json", Summary{ResourceType: "DiagnosticReport", MainType: "DiagnosticReport",
			Codes: []Coding{{SNOMEDCT, "429858000"}}, Text: "CT of head-neck", Date: "2012-12-01T12:00:00+01:00", Patient: "Patient/f201"}},
		{"DiagnosticReport-102.json", Summary{ResourceType: "DiagnosticReport", MainType: "DiagnosticReport",
			Codes: []Coding{{LOINC, "38269-7"}}, Text: "DXA BONE DENSITOMETRY", Date: "2008-06-17", Patient: "Patient/pat2"}},
	} {
		b, err := os.ReadFile(filepath.Join(dir, v.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Describe(b)
		if err != nil {
			t.Fatalf("%s: %v", v.file, err)
		}
		if !reflect.DeepEqual(*got, v.want) {
			t.Errorf("%s: summary\n%+v, want\n%+v", v.file, *got, v.want)
		}
	}
	n, refused := 0, 0
	for _, glob := range []string{"Observation-*.json", "DiagnosticReport-*.json", "Composition-*.json", "DocumentReference-*.json", "Bundle-*.json"} {
		files, _ := filepath.Glob(filepath.Join(dir, glob))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Describe(b)
			if err != nil {
				refused++
				t.Logf("%s: %v", filepath.Base(name), err)
				continue
			}
			roundTrip(t, filepath.Base(name), s)
			n++
		}
	}
	t.Logf("%d official examples typed, %d refused as invalid R4", n, refused)
	if n < 100 {
		t.Errorf("only %d examples typed", n)
	}
}

// BenchmarkDescribe: validating and summarising a discharge summary, the official one when
// RREC_FHIR_R4_EXAMPLES is set (Bundle-father, 36 KB), else testdata's.
func BenchmarkDescribe(b *testing.B) {
	path := "testdata/typed/discharge-bundle.json"
	if dir := os.Getenv("RREC_FHIR_R4_EXAMPLES"); dir != "" {
		path = filepath.Join(dir, "Bundle-father.json")
	}
	in, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Describe(in); err != nil {
			b.Fatal(err)
		}
	}
}
