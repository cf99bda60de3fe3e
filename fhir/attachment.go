package fhir

import (
	"fmt"
	"mime"
	"strings"
)

// Attachment describes a file (a PDF, a DICOM study, a scan) put as a typed record: the
// record's content is the file, and its sealed metadata the DocumentReference that
// describes it. 'rrec fhir serve' serves that DocumentReference with the file as its
// Binary.
type Attachment struct {
	// Title is what the document is, for a person: DocumentReference.description and the
	// attachment's title. Required.
	Title string
	// ContentType is the file's media type ("application/pdf", "application/dicom").
	ContentType string
	// Code is the document's type, a token "system|code" (LOINC's document types, such
	// as http://loinc.org|11502-2, a laboratory report); optional.
	Code string
	// Date is the clinical date the document is about (a FHIR date or dateTime); optional.
	Date string
	// Patient is the reference to the patient the document is about ("Patient/123");
	// optional.
	Patient string
}

// Describe checks the description, validates the DocumentReference it makes as R4, and
// summarises it (Attachment set). Refusals name the field at fault and wrap ErrInvalid.
func (a Attachment) Describe() (*Summary, error) {
	s := &Summary{ResourceType: "DocumentReference", MainType: "DocumentReference", Attachment: true, Date: a.Date, Patient: a.Patient}
	if s.Title = clipText(a.Title); s.Title == "" {
		return nil, fmt.Errorf("%w: an attachment needs a title", ErrInvalid)
	}
	if a.Code != "" {
		sys, code, ok := strings.Cut(a.Code, "|")
		c := Coding{sys, code}
		if !ok || !fhirURI.MatchString(sys) || !fhirCode.MatchString(code) {
			return nil, fmt.Errorf("%w: the document's type %q: want system|code, such as %s|11502-2", ErrInvalid, clipQuery(a.Code), LOINC)
		}
		s.Codes = []Coding{c}
	}
	if a.Date != "" {
		if _, _, err := dateRange(a.Date); err != nil {
			return nil, fmt.Errorf("%w: the document's date %w", ErrInvalid, err)
		}
	}
	if a.Patient != "" && (!patientShaped(a.Patient) || !patientRef.MatchString(a.Patient)) {
		return nil, fmt.Errorf("%w: the patient %q: want a reference such as Patient/123", ErrInvalid, clipQuery(a.Patient))
	}
	if a.ContentType != "" {
		if _, _, err := mime.ParseMediaType(a.ContentType); err != nil {
			return nil, fmt.Errorf("%w: the media type %q: %v", ErrInvalid, clipQuery(a.ContentType), err)
		}
	}
	b, err := marshal(describedDocument(s, a.ContentType))
	if err != nil {
		return nil, err
	}
	if err := Validate(b); err != nil {
		return nil, err
	}
	return s, nil
}

// describedDocument is the DocumentReference a Summary describes, with what a reader of
// the sealed metadata knows besides: the content's media type.
func describedDocument(s *Summary, contentType string) *documentReference {
	d := &documentReference{ResourceType: "DocumentReference", Status: "current", Description: s.Title}
	if len(s.Codes) > 0 || s.Text != "" {
		d.Type = &codeableConcept{Text: s.Text}
		for _, c := range s.Codes {
			d.Type.Coding = append(d.Type.Coding, coding{System: c.System, Code: c.Code})
		}
	}
	if !s.Attachment {
		// The content is a FHIR resource: its type says which.
		d.Category = []codeableConcept{{Coding: []coding{{System: sysResourceTypes, Code: s.MainType, Display: s.MainType}}}}
	}
	d.Content = []documentContent{{Attachment: attachment{ContentType: contentType, Title: s.Title}}}
	if s.Date != "" || s.Patient != "" {
		d.Context = &documentRefContext{}
		if s.Date != "" {
			d.Context.Period = &period{Start: s.Date}
		}
		if s.Patient != "" {
			d.Context.SourcePatientInfo = &reference{Reference: s.Patient}
		}
	}
	return d
}
