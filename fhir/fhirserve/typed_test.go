package fhirserve_test

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/fhir"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// typedFile is a FHIR resource put as a typed record.
type typedFile struct {
	name    string // what the test calls it
	path    string
	summary *fhir.Summary
	record  protocol.ID
	body    []byte
}

// typedFiles are the resources the test puts: official R4 examples when they are at hand
// (RREC_FHIR_R4_EXAMPLES, see package fhir's TestOfficialExamples) — a lab Observation, a
// discharge summary as a document Bundle, a DiagnosticReport — else package fhir's own
// vectors of the same kinds.
func typedFiles(t *testing.T) []*typedFile {
	dir, names := "../testdata/typed", []string{"observation.json", "discharge-bundle.json", "diagnosticreport.json"}
	if ex := os.Getenv("RREC_FHIR_R4_EXAMPLES"); ex != "" {
		dir, names = ex, []string{"Observation-f001.json", "Bundle-father.json", "DiagnosticReport-f201.json"}
	} else {
		t.Log("RREC_FHIR_R4_EXAMPLES is not set: typing package fhir's own vectors instead of the official examples")
	}
	var out []*typedFile
	for i, n := range names {
		f := &typedFile{name: []string{"observation", "discharge", "report"}[i], path: filepath.Join(dir, n)}
		var err error
		if f.body, err = os.ReadFile(f.path); err != nil {
			t.Fatal(err)
		}
		if f.summary, err = fhir.Describe(f.body); err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		out = append(out, f)
	}
	return out
}

// TestTypedRecords: a patient puts FHIR resources as typed records and a PDF as an
// attachment, finds them by type, code and date; the provider finds what is shared with it
// the same way, and its FHIR endpoint serves the typed DocumentReferences, searches them by
// type, date and period, and pages through them, for plain HTTP and for fhir-kit-client.
func TestTypedRecords(t *testing.T) {
	w := startNetwork(t, 5*time.Minute)
	files := typedFiles(t)
	put := func(body []byte, meta envelope.Metadata) protocol.ID {
		id, err := w.patient.Put(w.ctx, bytes.NewReader(body), int64(len(body)), meta)
		if err != nil {
			t.Fatalf("put %s: %v", meta.Name, err)
		}
		return id
	}
	for _, f := range files {
		f.record = put(f.body, envelope.Metadata{Name: filepath.Base(f.path), MediaType: "application/fhir+json", Labels: f.summary.Labels()})
	}
	pdf := []byte("%PDF-1.4\n% a laboratory report, as a clinic's system prints it\n%%EOF\n")
	att := fhir.Attachment{Title: "Laboratory report", ContentType: "application/pdf", Code: "http://loinc.org|11502-2", Date: "2025-06-30", Patient: "Patient/p-1001"}
	attSummary, err := att.Describe()
	if err != nil {
		t.Fatal(err)
	}
	attached := put(pdf, envelope.Metadata{Name: "report.pdf", MediaType: att.ContentType, Labels: attSummary.Labels()})
	untyped := put([]byte("a note"), envelope.Metadata{Name: "note.txt", MediaType: "text/plain"})

	// The owner reads each back whole and finds them by what they are.
	for _, f := range files {
		var got bytes.Buffer
		meta, err := w.patient.Get(w.ctx, f.record, &got, client.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		back, ok := fhir.SummaryOf(meta)
		if !bytes.Equal(got.Bytes(), f.body) || !ok || !reflect.DeepEqual(back, f.summary) {
			t.Fatalf("%s: read back %d bytes and %+v, want %d bytes and %+v", f.path, got.Len(), back, len(f.body), f.summary)
		}
	}
	main := files[0].summary.Codes[0].String()
	find := func(s *client.Session, q fhir.Query) []protocol.ID {
		t.Helper()
		var found []client.Described
		if s == w.patient {
			found, err = s.Find(w.ctx, q.MatchMetadata)
		} else {
			found, err = s.FindShared(w.ctx, client.GetOptions{Purpose: "TREAT"}, q.MatchMetadata)
		}
		if err != nil {
			t.Fatal(err)
		}
		var ids []protocol.ID
		for _, d := range found {
			ids = append(ids, d.Record.ID)
		}
		return ids
	}
	token := func(s string) *fhir.Token {
		tok, err := fhir.ParseToken(s)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	since := func(s string) []fhir.DateFilter {
		d, err := fhir.ParseDate("ge" + s)
		if err != nil {
			t.Fatal(err)
		}
		return []fhir.DateFilter{d}
	}
	all := []protocol.ID{files[0].record, files[1].record, files[2].record, attached}
	for _, c := range []struct {
		q    fhir.Query
		want []protocol.ID
	}{
		{fhir.Query{}, all},
		{fhir.Query{Type: "Observation"}, all[:1]},
		{fhir.Query{Type: "Composition"}, all[1:2]},
		{fhir.Query{Code: token(main)}, all[:1]},
		{fhir.Query{Code: token("http://loinc.org|11502-2")}, all[3:]},
		{fhir.Query{Type: "DocumentReference", Date: since("2025-01-01")}, all[3:]},
		{fhir.Query{Date: since("2025-01-01")}, all[3:]},
		{fhir.Query{Type: "Observation", Code: token("http://loinc.org|0-0")}, nil},
	} {
		if got := find(w.patient, c.q); !slices.Equal(got, c.want) {
			t.Errorf("the owner's find %+v: %v, want %v", c.q, got, c.want)
		}
	}

	// Everything is shared with the provider, who finds the same by opening each record:
	// one audited access per record.
	for _, id := range append(slices.Clone(all), untyped) {
		if _, err := w.patient.Grant(w.ctx, id, w.provider.Identity(), client.GrantOptions{Duration: time.Hour, Purpose: "TREAT"}); err != nil {
			t.Fatalf("grant: %v", err)
		}
	}
	if got := find(w.provider, fhir.Query{Type: "Composition"}); !slices.Equal(got, all[1:2]) {
		t.Errorf("the provider's find: %v, want the discharge summary %v", got, all[1])
	}
	log, err := w.patient.Audit(w.ctx, untyped)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRequests(log, "TREAT"); n != 1 {
		t.Errorf("the untyped record's log has %d TREAT accesses after the provider's find, want 1", n)
	}

	// The FHIR endpoint: every record a DocumentReference, the typed ones with their type,
	// clinical date and patient, two a page.
	var docs []map[string]any
	for path := "/DocumentReference?_count=2"; path != ""; {
		b := w.resource(path, http.StatusOK, "Bundle")
		if b["total"] != float64(5) {
			t.Fatalf("GET %s: total %v, want 5", path, b["total"])
		}
		entries := asList(b["entry"])
		if len(entries) > 2 {
			t.Fatalf("GET %s: %d entries on a page of 2", path, len(entries))
		}
		for _, e := range entries {
			docs = append(docs, e.(map[string]any)["resource"].(map[string]any))
		}
		path = ""
		for _, l := range asList(b["link"]) {
			if l := l.(map[string]any); l["relation"] == "next" {
				path = strings.TrimPrefix(l["url"].(string), w.base)
			}
		}
	}
	if len(docs) != 5 {
		t.Fatalf("the pages held %d DocumentReferences, want 5", len(docs))
	}
	byID := map[string]map[string]any{}
	for _, d := range docs {
		byID[d["id"].(string)] = d
	}
	obs := byID[files[0].record.String()]
	if code := obs["type"].(map[string]any)["coding"].([]any)[0].(map[string]any); code["system"].(string)+"|"+code["code"].(string) != main {
		t.Errorf("the Observation's DocumentReference has type %v, want %s", obs["type"], main)
	}
	if c := obs["category"].([]any)[0].(map[string]any)["coding"].([]any)[0].(map[string]any); c["code"] != "Observation" {
		t.Errorf("the Observation's category %v", c)
	}
	if start := obs["context"].(map[string]any)["period"].(map[string]any)["start"]; start != files[0].summary.Date {
		t.Errorf("the Observation's period starts %v, want %s", start, files[0].summary.Date)
	}
	doc := byID[attached.String()]
	a := doc["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)
	if doc["description"] != "Laboratory report" || a["contentType"] != "application/pdf" || a["title"] != "Laboratory report" || a["size"] != float64(len(pdf)) {
		t.Errorf("the attachment's DocumentReference %v", doc)
	}
	if bin := w.get(strings.TrimPrefix(a["url"].(string), w.base), "*/*"); bin.status != http.StatusOK || bin.contentType != "application/pdf" || !bytes.Equal(bin.body, pdf) {
		t.Errorf("the attachment's Binary: %d %q %q", bin.status, bin.contentType, bin.body)
	}
	if _, typed := byID[untyped.String()]["type"]; typed {
		t.Errorf("the untyped record has a type: %v", byID[untyped.String()])
	}

	// Searches by what the sealed summaries say, and by when the records were put.
	ids := func(path string) []string {
		var out []string
		for _, d := range w.searchset(path, "DocumentReference") {
			out = append(out, d["id"].(string))
		}
		slices.Sort(out)
		return out
	}
	sorted := func(rs ...protocol.ID) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.String())
		}
		slices.Sort(out)
		return out
	}
	q := url.QueryEscape
	for path, want := range map[string][]string{
		"/DocumentReference?type=" + q(main):                                                          sorted(files[0].record),
		"/DocumentReference?type=" + q(files[1].summary.Codes[0].String()):                            sorted(files[1].record),
		"/DocumentReference?type=11502-2":                                                             sorted(attached),
		"/DocumentReference?type=" + q("http://loinc.org|"):                                           sorted(files[0].record, files[1].record, attached),
		"/DocumentReference?period=2025-06&type=" + q("http://loinc.org|"):                            sorted(attached),
		"/DocumentReference?period=ge2025-06-01&period=lt2025-07-01":                                  sorted(attached),
		"/DocumentReference?period=ge1900":                                                            sorted(all...),
		"/DocumentReference?period=lt1900":                                                            nil,
		"/DocumentReference?date=ge2020-01-01":                                                        sorted(append(slices.Clone(all), untyped)...),
		"/DocumentReference?date=lt2020-01-01":                                                        nil,
		"/DocumentReference?date=gt" + time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z"): nil,
	} {
		if got := ids(path); !slices.Equal(got, want) {
			t.Errorf("GET %s: %v, want %v", path, got, want)
		}
	}

	// fhir-kit-client pages through the same search, and back.
	var kit struct {
		Total int
		IDs   []string
		Sizes []int
		Back  int
	}
	if w.fhirKit(&kit, "pages", w.base, "2") {
		slices.Sort(kit.IDs)
		if kit.Total != 5 || !slices.Equal(kit.IDs, sorted(append(slices.Clone(all), untyped)...)) || !slices.Equal(kit.Sizes, []int{2, 2, 1}) || kit.Back != 2 {
			t.Errorf("fhir-kit-client paged %+v", kit)
		}
	}
	var typed struct{ Total int }
	if w.fhirKit(&typed, "pages", w.base, "1", files[1].summary.Codes[0].String()) && typed.Total != 1 {
		t.Errorf("fhir-kit-client's search by type found %d", typed.Total)
	}
}

func countRequests(log []protocol.AuditEntry, purpose string) int {
	n := 0
	for _, e := range log {
		if e.Kind == protocol.AuditRequest && e.Purpose == purpose {
			n++
		}
	}
	return n
}
