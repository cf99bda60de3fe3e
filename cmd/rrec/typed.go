package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/fhir"
)

// typedPut is how 'rrec put' types a record: --fhir FILE is a FHIR R4 resource, --fhir-attach
// FILE a file described as a DocumentReference.
type typedPut struct {
	resource, attach           bool
	title, code, date, patient string
}

func (t *typedPut) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&t.resource, "fhir", false, "FILE is a FHIR R4 resource or Bundle in JSON: validate it, and seal its type, code, date and patient with it")
	f.BoolVar(&t.attach, "fhir-attach", false, "FILE is a document (PDF, DICOM, …) to put with a FHIR DocumentReference describing it (--title, --code, --date, --patient)")
	f.StringVar(&t.title, "title", "", "with --fhir-attach: what the document is, in words (`TEXT`, required)")
	f.StringVar(&t.code, "code", "", "with --fhir-attach: the document's type, `SYSTEM|CODE` (such as http://loinc.org|11502-2, a laboratory report)")
	f.StringVar(&t.date, "date", "", "with --fhir-attach: the clinical date the document is about (`DATE`: YYYY-MM-DD, or a date and time with its zone)")
	f.StringVar(&t.patient, "patient", "", "with --fhir-attach: the patient in your records, a `REFERENCE` such as Patient/123")
	cmd.MarkFlagsMutuallyExclusive("fhir", "fhir-attach")
	cmd.MarkFlagsMutuallyExclusive("fhir", "type")
}

// metadata is the sealed metadata of a typed put of f (nil summary: an untyped put), and
// the content to seal: for --fhir, the validated JSON, read whole.
func (t *typedPut) metadata(f *os.File, fi os.FileInfo, mediaType string) (envelope.Metadata, *fhir.Summary, io.Reader, int64, error) {
	meta := envelope.Metadata{Name: filepath.Base(f.Name()), MediaType: mediaType, Created: fi.ModTime()}
	if meta.MediaType == "" {
		meta.MediaType = mediaTypeOf(f.Name())
	}
	if !t.attach && (t.title != "" || t.code != "" || t.date != "" || t.patient != "") {
		return meta, nil, nil, 0, errors.New("--title, --code, --date and --patient describe an attachment: use them with --fhir-attach")
	}
	switch {
	case t.resource:
		if fi.Size() > fhir.MaxResourceSize {
			return meta, nil, nil, 0, fmt.Errorf("%s is %d bytes; a FHIR resource put with --fhir is at most %d", f.Name(), fi.Size(), fhir.MaxResourceSize)
		}
		b, err := io.ReadAll(io.LimitReader(f, fhir.MaxResourceSize+1))
		if err != nil {
			return meta, nil, nil, 0, err
		}
		s, err := fhir.Describe(b)
		if err != nil {
			return meta, nil, nil, 0, fmt.Errorf("%s: %w (nothing was put)", f.Name(), err)
		}
		meta.MediaType, meta.Labels = "application/fhir+json", s.Labels()
		return meta, s, bytes.NewReader(b), int64(len(b)), nil
	case t.attach:
		a := fhir.Attachment{Title: t.title, ContentType: meta.MediaType, Code: t.code, Date: t.date, Patient: t.patient}
		s, err := a.Describe()
		if err != nil {
			return meta, nil, nil, 0, fmt.Errorf("--fhir-attach: %w (nothing was put)", err)
		}
		meta.Labels = s.Labels()
		return meta, s, f, fi.Size(), nil
	}
	return meta, nil, f, fi.Size(), nil
}

// mediaTypeOf guesses a file's media type from its extension, knowing the medical ones the
// system's table may lack.
func mediaTypeOf(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".dcm", ".dicom":
		return "application/dicom"
	case ".pdf":
		return "application/pdf"
	}
	return mime.TypeByExtension(filepath.Ext(name))
}

// typeName is a typed record's kind in a listing: its type, and a Bundle's main resource.
func typeName(s *fhir.Summary) string {
	if s.MainType != s.ResourceType {
		return s.ResourceType + "/" + s.MainType
	}
	return s.ResourceType
}

// lsFilters are the filters of 'rrec ls' over typed records.
type lsFilters struct {
	typ, code, patient, since, until string
	purpose                          purposeFlags
}

func (l *lsFilters) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&l.typ, "type", "", "only typed records of this FHIR resource `TYPE` (a Bundle's main resource counts: Composition finds discharge summaries)")
	f.StringVar(&l.code, "code", "", "only typed records whose main code is `SYSTEM|CODE` (or CODE in any system, or SYSTEM| for any of its codes)")
	f.StringVar(&l.patient, "patient", "", "only typed records about this patient `REFERENCE` (Patient/123, or its id)")
	f.StringVar(&l.since, "since", "", "only typed records whose clinical date is on or after `DATE` (YYYY, YYYY-MM, YYYY-MM-DD, …)")
	f.StringVar(&l.until, "until", "", "only typed records whose clinical date is on or before `DATE`")
	l.purpose.add(cmd, "with --shared and a filter: why you open each shared record")
}

// query is the filters as a fhir.Query; nil when none is set.
func (l *lsFilters) query() (*fhir.Query, error) {
	if l.typ == "" && l.code == "" && l.patient == "" && l.since == "" && l.until == "" {
		return nil, nil
	}
	q := &fhir.Query{Type: l.typ, Patient: l.patient}
	if l.code != "" {
		tok, err := fhir.ParseToken(l.code)
		if err != nil {
			return nil, fmt.Errorf("--code: %w", err)
		}
		q.Code = tok
	}
	for _, d := range []struct{ flag, prefix, value string }{{"since", "ge", l.since}, {"until", "le", l.until}} {
		if d.value == "" {
			continue
		}
		f, err := fhir.ParseDate(d.prefix + d.value)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", d.flag, err)
		}
		q.Date = append(q.Date, f)
	}
	return q, nil
}

// typedEntry is one line of a filtered 'rrec ls --json'.
type typedEntry struct {
	Record    string       `json:"record"`
	Grant     string       `json:"grant,omitempty"`
	Owner     string       `json:"owner,omitempty"`
	Name      string       `json:"name"`
	MediaType string       `json:"media_type"`
	Size      int64        `json:"size"`
	Created   time.Time    `json:"created"`
	Summary   typedSummary `json:"fhir"`
}

type typedSummary struct {
	ResourceType string   `json:"resource_type"`
	MainType     string   `json:"main_type"`
	Codes        []string `json:"codes"`
	Text         string   `json:"text,omitempty"`
	Date         string   `json:"date,omitempty"`
	Patient      string   `json:"patient,omitempty"`
	Title        string   `json:"title,omitempty"`
	Attachment   bool     `json:"attachment"`
}

// listTyped lists the typed records that match q: the caller's own, or with shared those
// shared with it (each opened with an audited access).
func listTyped(ctx context.Context, s *client.Session, w io.Writer, q *fhir.Query, shared, jsonOut bool, purpose purposeFlags) error {
	var found []client.Described
	var err error
	if shared {
		why, perr := purpose.value()
		if perr != nil {
			return perr
		}
		found, err = s.FindShared(ctx, client.GetOptions{Purpose: why}, q.MatchMetadata)
	} else {
		found, err = s.Find(ctx, q.MatchMetadata)
	}
	if err != nil {
		return explain(err, "record")
	}
	entries := []typedEntry{}
	for _, d := range found {
		sum, _ := fhir.SummaryOf(d.Meta)
		e := typedEntry{Record: d.Record.ID.String(), Name: d.Meta.Name, MediaType: d.Meta.MediaType, Size: d.Meta.Size, Created: d.Meta.Created.UTC(),
			Summary: typedSummary{ResourceType: sum.ResourceType, MainType: sum.MainType, Codes: []string{}, Text: sum.Text, Date: sum.Date,
				Patient: sum.Patient, Title: sum.Title, Attachment: sum.Attachment}}
		for _, c := range sum.Codes {
			e.Summary.Codes = append(e.Summary.Codes, c.String())
		}
		if d.Grant != nil {
			e.Grant, e.Owner = d.Grant.ID.String(), d.Grant.Owner.String()
		}
		entries = append(entries, e)
	}
	if jsonOut {
		return writeJSON(w, entries)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tTYPE\tCODE\tDATE\tPATIENT\tTITLE")
	for _, e := range entries {
		code, title := "-", e.Summary.Title
		if len(e.Summary.Codes) > 0 {
			code = e.Summary.Codes[0]
		}
		if title == "" {
			title = e.Summary.Text
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Record, typeName(&fhir.Summary{ResourceType: e.Summary.ResourceType, MainType: e.Summary.MainType}),
			code, orDash(e.Summary.Date), orDash(e.Summary.Patient), orDash(title))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// typedNote says on standard error what a typed put sealed, so the user sees what the
// record will be found by.
func typedNote(w io.Writer, s *fhir.Summary) {
	if s == nil {
		return
	}
	var parts []string
	if len(s.Codes) > 0 {
		parts = append(parts, s.Codes[0].String())
	}
	for _, p := range []string{s.Date, s.Patient, s.Title} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	fmt.Fprintf(w, "typed as FHIR R4 %s: %s\n", typeName(s), strings.Join(parts, ", "))
}
