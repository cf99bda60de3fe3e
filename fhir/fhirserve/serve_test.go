package fhirserve_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/fhir"
	"github.com/resilientrecords/resilientrecords/fhir/fhirserve"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// dischargeSummary is what the patient's clinic seals: a FHIR Composition, as a clinic's
// system would export it.
const dischargeSummary = `{"resourceType":"Composition","status":"final","type":{"coding":[{"system":"http://loinc.org","code":"18842-5","display":"Discharge summary"}]},"date":"2026-11-20","author":[{"display":"Clinic A"}],"title":"Discharge summary"}`

// world is a local network with a patient who shared one record with a provider, and the
// provider's FHIR endpoint in front of it.
type world struct {
	t                 *testing.T
	ctx               context.Context
	patient, provider *client.Session
	record, unshared  protocol.ID
	grant             protocol.ID
	base              string
	r4                *jsonformat.Unmarshaller
}

// startNetwork starts a local network with a patient and a provider, and the provider's
// FHIR endpoint in front of it; the caller shares records.
func startNetwork(t *testing.T, timeout time.Duration) *world {
	if testing.Short() {
		t.Skip("starts a 4-node network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{Validators: 4, ChainID: "rr-fhir", Admission: &node.LocalAdmission})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Stop() })
	desc, err := nw.Description()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx}
	w.patient, w.provider = session(t, desc), session(t, desc)
	srv := httptest.NewUnstartedServer(nil)
	w.base = "http://" + srv.Listener.Addr().String()
	srv.Config.Handler = fhirserve.New(w.provider, fhirserve.Config{BaseURL: w.base})
	srv.Start()
	t.Cleanup(srv.Close)
	if w.r4, err = jsonformat.NewUnmarshaller("UTC", fhirversion.R4); err != nil {
		t.Fatal(err)
	}
	return w
}

func startWorld(t *testing.T) *world {
	w := startNetwork(t, 3*time.Minute)
	ctx := w.ctx
	put := func(body, mediaType string) protocol.ID {
		id, err := w.patient.Put(ctx, strings.NewReader(body), int64(len(body)), envelope.Metadata{Name: "discharge.json", MediaType: mediaType})
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		return id
	}
	w.record = put(dischargeSummary, "application/fhir+json")
	w.unshared = put("not for the provider", "text/plain")
	g, err := w.patient.Grant(ctx, w.record, w.provider.Identity(), client.GrantOptions{Duration: time.Hour, Purpose: "TREAT"})
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	w.grant = g.Grant
	return w
}

func session(t *testing.T, nw *protocol.Network) *client.Session {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s, err := client.New(nw, id, &client.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// answer is one HTTP exchange, as a FHIR client sees it.
type answer struct {
	status      int
	contentType string
	body        []byte
}

// get reads path as a FHIR client does (Accept: FHIR JSON unless accept says otherwise).
func (w *world) get(path, accept string) answer {
	w.t.Helper()
	req, err := http.NewRequestWithContext(w.ctx, http.MethodGet, w.base+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if accept == "" {
		accept = "application/fhir+json"
	}
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), body}
}

// resource reads path expecting status and a FHIR resource of type typ, which must be
// valid R4; it returns the resource decoded.
func (w *world) resource(path string, status int, typ string) map[string]any {
	w.t.Helper()
	a := w.get(path, "")
	if a.status != status {
		w.t.Fatalf("GET %s: status %d, want %d\n%s", path, a.status, status, a.body)
	}
	if !strings.HasPrefix(a.contentType, "application/fhir+json") {
		w.t.Fatalf("GET %s: Content-Type %q, want application/fhir+json", path, a.contentType)
	}
	if _, err := w.r4.Unmarshal(a.body); err != nil {
		w.t.Fatalf("GET %s: not valid R4: %v\n%s", path, err, a.body)
	}
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		w.t.Fatal(err)
	}
	if m["resourceType"] != typ {
		w.t.Fatalf("GET %s: a %v, want a %s\n%s", path, m["resourceType"], typ, a.body)
	}
	return m
}

// searchset reads a search, checks its Bundle and returns its resources.
func (w *world) searchset(path, typ string) []map[string]any {
	w.t.Helper()
	b := w.resource(path, http.StatusOK, "Bundle")
	entries, _ := b["entry"].([]any)
	if b["type"] != "searchset" || b["total"] != float64(len(entries)) {
		w.t.Fatalf("GET %s: type %v, total %v for %d entries", path, b["type"], b["total"], len(entries))
	}
	var out []map[string]any
	for _, e := range entries {
		e := e.(map[string]any)
		r := e["resource"].(map[string]any)
		if want := w.base + "/" + typ + "/" + r["id"].(string); e["fullUrl"] != want || r["resourceType"] != typ {
			w.t.Fatalf("GET %s: entry %v at %v, want a %s at %s", path, r["resourceType"], e["fullUrl"], typ, want)
		}
		out = append(out, r)
	}
	return out
}

// outcome reads path expecting an OperationOutcome with status whose diagnostics say why.
func (w *world) outcome(path string, status int, why string) {
	w.t.Helper()
	o := w.resource(path, status, "OperationOutcome")
	issue := o["issue"].([]any)[0].(map[string]any)
	if d, _ := issue["diagnostics"].(string); !strings.Contains(d, why) {
		w.t.Fatalf("GET %s: %q, want it to say %q", path, d, why)
	}
}

func TestServeSharedRecords(t *testing.T) {
	w := startWorld(t)
	rec, owner := w.record.String(), protocol.PubKeyOf(w.patient.Identity().Signing).String()
	patient := "?patient=" + url.QueryEscape(fhir.SigningKeySystem+"|"+owner)

	w.resource("/metadata", http.StatusOK, "CapabilityStatement")

	docs := w.searchset("/DocumentReference"+patient, "DocumentReference")
	if len(docs) != 1 || docs[0]["id"] != rec {
		t.Fatalf("DocumentReferences %v, want record %s alone", docs, rec)
	}
	att := docs[0]["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)
	if att["url"] != w.base+"/Binary/"+rec {
		t.Fatalf("attachment %v, want the Binary's URL", att)
	}
	if other := w.searchset("/DocumentReference?patient="+url.QueryEscape(fhir.SigningKeySystem+"|"+protocol.PubKeyOf(w.provider.Identity().Signing).String()), "DocumentReference"); len(other) != 0 {
		t.Fatalf("another patient's search found %v", other)
	}
	byIdentity := w.searchset("/DocumentReference?patient:identifier="+url.QueryEscape(fhir.IdentitySystem+"|"+w.patient.Identity().String()), "DocumentReference")
	if len(byIdentity) != 1 || byIdentity[0]["id"] != rec {
		t.Fatalf("by the patient's public identity: %v, want record %s", byIdentity, rec)
	}
	w.resource("/DocumentReference/"+rec, http.StatusOK, "DocumentReference")

	// The content, as sealed, then as a FHIR Binary: each read an audited access.
	raw := w.get("/Binary/"+rec+"?purpose=ETREAT", "*/*")
	if raw.status != http.StatusOK || raw.contentType != "application/fhir+json" || string(raw.body) != dischargeSummary {
		t.Fatalf("Binary: %d %q %q", raw.status, raw.contentType, raw.body)
	}
	bin := w.resource("/Binary/"+rec, http.StatusOK, "Binary")
	if data, _ := base64.StdEncoding.DecodeString(bin["data"].(string)); string(data) != dischargeSummary || bin["contentType"] != "application/fhir+json" {
		t.Fatalf("Binary resource %v", bin)
	}

	consents := w.searchset("/Consent", "Consent")
	if len(consents) != 1 || consents[0]["id"] != w.grant.String() || consents[0]["status"] != "active" {
		t.Fatalf("Consents %v, want grant %s active", consents, w.grant)
	}

	// The log shows the three reads with their purposes: the search's, which opened the
	// record's header to describe it (the server's purpose, TREAT), ETREAT asked, TREAT by
	// default.
	events := w.searchset("/AuditEvent?entity=DocumentReference/"+rec, "AuditEvent")
	var purposes []string
	for _, e := range events {
		for _, p := range asList(e["purposeOfEvent"]) {
			if e["type"].(map[string]any)["code"] == "rest" && restfulRead(e) {
				purposes = append(purposes, p.(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string))
			}
		}
	}
	if strings.Join(purposes, ",") != "TREAT,ETREAT,TREAT" {
		t.Fatalf("reads logged with purposes %v, want TREAT, ETREAT, TREAT", purposes)
	}
	w.searchset("/AuditEvent?entity:identifier="+url.QueryEscape(fhir.RecordSystem+"|"+rec), "AuditEvent")

	// A FHIR client from npm reads the same, through its own idea of the REST API.
	var kit struct {
		Capability, Document, Attachment, ContentType, Content string
		Documents, Events                                      int
		FullURLs                                               []string `json:"fullUrls"`
		Consents                                               []string
	}
	if w.fhirKit(&kit, "read", w.base, rec, w.patient.Identity().String()) {
		if kit.Capability != "CapabilityStatement 4.0.1" || kit.Documents != 1 || len(kit.FullURLs) != 1 ||
			kit.FullURLs[0] != w.base+"/DocumentReference/"+rec || kit.Document != rec || kit.Attachment != w.base+"/Binary/"+rec ||
			kit.ContentType != "application/fhir+json" || kit.Content != dischargeSummary ||
			strings.Join(kit.Consents, ",") != "active" || kit.Events < 6 {
			t.Fatalf("fhir-kit-client read %+v", kit)
		}
	}

	// Refusals: unknown, malformed, unsupported.
	w.outcome("/DocumentReference/"+w.unshared.String(), http.StatusNotFound, "no record")
	w.outcome("/Binary/"+w.unshared.String(), http.StatusNotFound, "no record")
	w.outcome("/AuditEvent?entity=DocumentReference/"+w.unshared.String(), http.StatusNotFound, "no record")
	w.outcome("/Binary/xyz", http.StatusBadRequest, "64 lowercase hex")
	w.outcome("/AuditEvent", http.StatusBadRequest, "entity")
	w.outcome("/Consent?status=active", http.StatusBadRequest, `unknown parameter "status"`)
	w.outcome("/DocumentReference?patient=Patient/1", http.StatusBadRequest, "signing key")
	w.outcome("/Binary/"+rec+"?purpose="+strings.Repeat("x", 300), http.StatusBadRequest, "purpose")
	w.outcome("/Patient/1", http.StatusNotFound, "no such route")
	resp, err := http.Post(w.base+"/Consent", "application/fhir+json", bytes.NewReader([]byte("{}")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d, want 405", resp.StatusCode)
	}

	// The patient revokes: the content is refused, and the refusal says why.
	if _, err := w.patient.Revoke(w.ctx, w.grant); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	w.outcome("/Binary/"+rec, http.StatusForbidden, "revoked")
	var refused struct {
		Status  int
		Outcome struct {
			ResourceType string
			Issue        []struct{ Code, Diagnostics string }
		}
	}
	if w.fhirKit(&refused, "refused", w.base, rec) {
		if refused.Status != http.StatusForbidden || refused.Outcome.ResourceType != "OperationOutcome" ||
			len(refused.Outcome.Issue) != 1 || !strings.Contains(refused.Outcome.Issue[0].Diagnostics, "revoked") {
			t.Fatalf("fhir-kit-client after revoke: %+v", refused)
		}
	}
	w.outcome("/DocumentReference/"+rec, http.StatusForbidden, "revoked")
	if docs := w.searchset("/DocumentReference", "DocumentReference"); len(docs) != 0 {
		t.Fatalf("after revoke the search still finds %v", docs)
	}
	if c := w.searchset("/Consent", "Consent"); len(c) != 1 || c[0]["status"] != "inactive" {
		t.Fatalf("after revoke: Consents %v, want the grant inactive", c)
	}
	w.searchset("/AuditEvent?entity=DocumentReference/"+rec, "AuditEvent")
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// restfulRead says whether an AuditEvent records a read (BALP's Read pattern).
func restfulRead(e map[string]any) bool {
	for _, s := range asList(e["subtype"]) {
		if s.(map[string]any)["code"] == "read" {
			return true
		}
	}
	return false
}
