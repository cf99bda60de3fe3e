package fhirserve

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/fhir"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// sharedRecord is one record shared with this identity and every grant that shares it,
// oldest first.
type sharedRecord struct {
	record *protocol.Record
	grants []client.Shared
}

// inForce lists the grants that are live or will be: what the reader may read now or
// later, as a Consent's status active says.
func (r *sharedRecord) inForce() []protocol.ID {
	var ids []protocol.ID
	for _, g := range r.grants {
		if g.Err == nil || errors.Is(g.Err, client.ErrNotYetValid) {
			ids = append(ids, g.Grant.ID)
		}
	}
	return ids
}

// refusal is why the record cannot be read now: nil when a grant is live, else the
// reason of the newest grant (the one the patient acted on last).
func (r *sharedRecord) refusal() error {
	for _, g := range r.grants {
		if g.Err == nil {
			return nil
		}
	}
	return r.grants[len(r.grants)-1].Err
}

// sharedRecords groups what is shared with this identity by record, in the order the
// records were first shared. Grants whose record the ledger no longer has are left out.
func (s *Server) sharedRecords(ctx context.Context) ([]*sharedRecord, error) {
	shared, err := s.ledger.Shared(ctx)
	if err != nil {
		return nil, err
	}
	var out []*sharedRecord
	byID := map[protocol.ID]*sharedRecord{}
	for _, sh := range shared {
		if sh.Record == nil {
			continue
		}
		r := byID[sh.Record.ID]
		if r == nil {
			r = &sharedRecord{record: sh.Record}
			byID[sh.Record.ID] = r
			out = append(out, r)
		}
		r.grants = append(r.grants, sh)
	}
	return out, nil
}

// sharedRecord finds one record shared with this identity.
func (s *Server) sharedRecord(ctx context.Context, id protocol.ID) (*sharedRecord, *failure) {
	recs, err := s.sharedRecords(ctx)
	if err != nil {
		return nil, failureOf(err, "record")
	}
	for _, r := range recs {
		if r.record.ID == id {
			return r, nil
		}
	}
	return nil, failureOf(client.ErrNotGranted, "record")
}

// readBinary answers GET /Binary/{record id} with the record's plaintext: an ordinary
// audited access, as 'rrec get' makes. A client asking for FHIR JSON (Accept or _format)
// gets a Binary resource; any other gets the content itself, typed as it was sealed.
func (s *Server) readBinary(w http.ResponseWriter, r *http.Request, q query, idText string) *failure {
	if r.Method != http.MethodGet {
		// A HEAD would commit an access request and throw the content away.
		w.Header().Set("Allow", "GET")
		return &failure{http.StatusMethodNotAllowed, "not-supported", "a Binary is read with GET: every read is an audited access"}
	}
	if f := q.only("purpose"); f != nil {
		return f
	}
	id, f := recordID("Binary id", idText)
	if f != nil {
		return f
	}
	purpose, f := s.purposeParam(q)
	if f != nil {
		return f
	}
	rec, f := s.sharedRecord(r.Context(), id)
	if f != nil {
		return f
	}
	if err := rec.refusal(); err != nil {
		return failureOf(err, "record")
	}
	// The sealed size bounds the plaintext: refuse before an access request is committed.
	if rec.record.Size > uint64(s.cfg.MaxBinary) {
		return &failure{http.StatusRequestEntityTooLarge, "too-costly",
			fmt.Sprintf("the record is %d bytes sealed; this server reads at most %d (read it with 'rrec get')", rec.record.Size, s.cfg.MaxBinary)}
	}
	select {
	case s.gets <- struct{}{}:
		defer func() { <-s.gets }()
	case <-r.Context().Done():
		return &failure{http.StatusServiceUnavailable, "transient", "the request ended while waiting for other reads"}
	}
	var buf bytes.Buffer
	meta, err := s.ledger.Get(r.Context(), id, &limitWriter{w: &buf, n: s.cfg.MaxBinary}, client.GetOptions{Purpose: purpose})
	if err != nil {
		return failureOf(err, "record")
	}
	s.opened.remember(id, meta)
	contentType := "application/octet-stream"
	if mt, params, err := mime.ParseMediaType(meta.MediaType); err == nil {
		contentType = mime.FormatMediaType(mt, params)
	}
	if wantsFHIR(r, q) {
		b, err := encode(binaryResource{ResourceType: "Binary", ID: id.String(), ContentType: contentType, Data: base64.StdEncoding.EncodeToString(buf.Bytes())})
		if err != nil {
			return failureOf(err, "record")
		}
		writeResource(w, http.StatusOK, b)
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// The sealed file name is not a safe header value: the attachment goes without one.
	h.Set("Content-Disposition", "attachment")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

type binaryResource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	ContentType  string `json:"contentType"`
	Data         string `json:"data,omitempty"`
}

// wantsFHIR says whether the client asked for the Binary as a FHIR resource rather than
// its content (R4 Binary: "the native content type unless a FHIR format is requested").
func wantsFHIR(r *http.Request, q query) bool {
	if q.has("_format") {
		return true
	}
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(a), ";")
		if mt == "application/fhir+json" || mt == "application/json+fhir" {
			return true
		}
	}
	return false
}

// limitWriter refuses what goes beyond n bytes: the sealed size already bounds the
// plaintext, and this bounds the memory if a record ever claims less than it holds.
type limitWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errors.New("fhirserve: plaintext larger than its bound")
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

// searchConsents answers GET /Consent[?patient=…]: every grant made to this identity,
// live or not, as a Consent whose status says which.
func (s *Server) searchConsents(w http.ResponseWriter, r *http.Request, q query) *failure {
	if f := q.only("patient", "patient:identifier", "_count", "_offset"); f != nil {
		return f
	}
	patient, f := patientParam(q)
	if f != nil {
		return f
	}
	p, f := pagingParams(q)
	if f != nil {
		return f
	}
	recs, err := s.sharedRecords(r.Context())
	if err != nil {
		return failureOf(err, "record")
	}
	// Status is judged by this clock: the ledger's block time trails it by a block at most,
	// and a grant the ledger already marked revoked or expired is inactive either way.
	now := time.Now()
	var consents [][]byte
	for _, rec := range recs {
		if patient != nil && rec.record.Owner != *patient {
			continue
		}
		for _, g := range rec.grants {
			b, err := fhir.Consent(s.ledger.Network(), rec.record, g.Grant, now)
			if err != nil {
				return failureOf(err, "grant")
			}
			consents = append(consents, b)
		}
	}
	return s.writeAll(w, "Consent", q, p, consents)
}

// searchAuditEvents answers GET /AuditEvent?entity=…: the audit log of a record shared
// with this identity (live or not: the log of a revoked grant is what its reader may need
// to show), as AuditEvents in ledger order.
func (s *Server) searchAuditEvents(w http.ResponseWriter, r *http.Request, q query) *failure {
	if f := q.only("entity", "entity:identifier", "_count", "_offset"); f != nil {
		return f
	}
	id, f := entityParam(q)
	if f != nil {
		return f
	}
	p, f := pagingParams(q)
	if f != nil {
		return f
	}
	rec, f := s.sharedRecord(r.Context(), id)
	if f != nil {
		return f
	}
	log, err := s.ledger.Audit(r.Context(), id)
	if err != nil {
		return failureOf(err, "record")
	}
	events, err := fhir.AuditEvents(s.ledger.Network(), rec.record, log)
	if err != nil {
		return failureOf(err, "record")
	}
	return s.writeAll(w, "AuditEvent", q, p, events)
}
