package fhirserve

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/fhir"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// opened remembers what the server learnt by opening records' headers: their media type,
// size and typed summary. A record's content never changes, so this stays true while the
// server runs; it is shown only while a grant of the record is in force, as everything
// about a record is. Keys and plaintext are never kept: each Binary read is an access.
type opened struct {
	mu      sync.Mutex
	content map[protocol.ID]*fhir.Content
	opening sync.Mutex // one record opened at a time: two searches make one access, not two
}

// maxOpened bounds what the server remembers: a summary is at most a few KiB.
const maxOpened = 4096

func (o *opened) get(id protocol.ID) *fhir.Content {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.content[id]
}

func (o *opened) remember(id protocol.ID, meta *envelope.Metadata) *fhir.Content {
	c := &fhir.Content{MediaType: meta.MediaType, Size: meta.Size}
	c.Summary, _ = fhir.SummaryOf(meta)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.content == nil {
		o.content = map[protocol.ID]*fhir.Content{}
	}
	if len(o.content) >= maxOpened {
		for k := range o.content { // forget one, any
			delete(o.content, k)
			break
		}
	}
	o.content[id] = c
	return c
}

// content is what the record's header says, opening it if the server has not yet: an
// audited access with the server's purpose. A record no grant lets this identity read
// now (not valid yet) cannot be opened: nil.
func (s *Server) content(ctx context.Context, r *sharedRecord) (*fhir.Content, *failure) {
	if c := s.opened.get(r.record.ID); c != nil {
		return c, nil
	}
	if r.refusal() != nil {
		return nil, nil
	}
	s.opened.opening.Lock()
	defer s.opened.opening.Unlock()
	if c := s.opened.get(r.record.ID); c != nil {
		return c, nil
	}
	meta, err := s.ledger.Describe(ctx, r.record.ID, client.GetOptions{Purpose: fhir.ParsePurpose(s.cfg.Purpose).String()})
	if err != nil {
		return nil, failureOf(err, "record")
	}
	return s.opened.remember(r.record.ID, meta), nil
}

func (s *Server) documentReference(ctx context.Context, r *sharedRecord) ([]byte, *failure) {
	c, f := s.content(ctx, r)
	if f != nil {
		return nil, f
	}
	b, err := fhir.DocumentReference(s.ledger.Network(), r.record, s.cfg.BaseURL+"/Binary/"+r.record.ID.String(), r.inForce(), c)
	if err != nil {
		return nil, failureOf(err, "record")
	}
	return b, nil
}

// documentSearch is what a DocumentReference search asks: the patient (the owner, on
// the ledger), the put's block time (date), and what only an opened record says: its type
// and clinical date (period).
type documentSearch struct {
	patient *protocol.PubKey
	date    []fhir.DateFilter
	typed   *fhir.Query // nil: nothing asked of the sealed summary
}

func documentParams(q query) (*documentSearch, *failure) {
	if f := q.only("patient", "patient:identifier", "type", "date", "period", "_count", "_offset"); f != nil {
		return nil, f
	}
	ds := &documentSearch{}
	var f *failure
	if ds.patient, f = patientParam(q); f != nil {
		return nil, f
	}
	for _, v := range q["date"] {
		d, err := fhir.ParseDate(v)
		if err != nil {
			return nil, badRequest("date: %v", err)
		}
		ds.date = append(ds.date, d)
	}
	if v, ok := q.get("type"); ok {
		tok, err := fhir.ParseToken(v)
		if err != nil {
			return nil, badRequest("type: %v", err)
		}
		ds.typed = &fhir.Query{Code: tok}
	}
	for _, v := range q["period"] {
		d, err := fhir.ParseDate(v)
		if err != nil {
			return nil, badRequest("period: %v", err)
		}
		if ds.typed == nil {
			ds.typed = &fhir.Query{}
		}
		ds.typed.Date = append(ds.typed.Date, d)
	}
	return ds, nil
}

// searchDocuments answers GET /DocumentReference: one DocumentReference per record this
// identity may read now or later, the matches of the parameters, a page at a time. Records
// whose grants all ended are left out; reading one by id says why. Only the records on the
// page are opened, unless type or period asks what every record's summary says.
func (s *Server) searchDocuments(w http.ResponseWriter, r *http.Request, q query) *failure {
	ds, f := documentParams(q)
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
	var matches []*sharedRecord
	for _, rec := range recs {
		if len(rec.inForce()) == 0 || ds.patient != nil && rec.record.Owner != *ds.patient || !putAt(rec.record, ds.date) {
			continue
		}
		if ds.typed != nil {
			c, f := s.content(r.Context(), rec)
			if f != nil {
				return f
			}
			if c == nil || !ds.typed.Match(c.Summary) {
				continue
			}
		}
		matches = append(matches, rec)
	}
	lo, hi := p.window(len(matches))
	var docs [][]byte
	for _, rec := range matches[lo:hi] {
		b, f := s.documentReference(r.Context(), rec)
		if f != nil {
			return f
		}
		docs = append(docs, b)
	}
	return s.writeSearchset(w, "DocumentReference", q, p, len(matches), docs)
}

// putAt says whether the record's block time meets the date conditions (an instant spans
// its one nanosecond).
func putAt(rec *protocol.Record, date []fhir.DateFilter) bool {
	t := time.Unix(0, rec.Time).UTC()
	for _, d := range date {
		if !d.Match(t, t.Add(time.Nanosecond)) {
			return false
		}
	}
	return true
}

// readDocument answers GET /DocumentReference/{record id}.
func (s *Server) readDocument(w http.ResponseWriter, r *http.Request, q query, idText string) *failure {
	if f := q.only(); f != nil {
		return f
	}
	id, f := recordID("DocumentReference id", idText)
	if f != nil {
		return f
	}
	rec, f := s.sharedRecord(r.Context(), id)
	if f != nil {
		return f
	}
	if len(rec.inForce()) == 0 {
		return failureOf(rec.refusal(), "record")
	}
	b, f := s.documentReference(r.Context(), rec)
	if f != nil {
		return f
	}
	writeResource(w, http.StatusOK, b)
	return nil
}
