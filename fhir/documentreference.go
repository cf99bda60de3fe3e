package fhir

import (
	"errors"
	"fmt"
	"math"
	"mime"
	"strings"

	"github.com/resilientrecords/resilientrecords/protocol"
)

type documentReference struct {
	ResourceType string              `json:"resourceType"`
	ID           string              `json:"id,omitempty"`
	Text         *narrative          `json:"text,omitempty"`
	Identifier   []identifier        `json:"identifier,omitempty"`
	Status       string              `json:"status"`
	Type         *codeableConcept    `json:"type,omitempty"`
	Category     []codeableConcept   `json:"category,omitempty"`
	Subject      *reference          `json:"subject,omitempty"`
	Date         string              `json:"date,omitempty"`
	Custodian    *reference          `json:"custodian,omitempty"`
	Description  string              `json:"description,omitempty"`
	Content      []documentContent   `json:"content"`
	Context      *documentRefContext `json:"context,omitempty"`
}

type documentContent struct {
	Attachment attachment `json:"attachment"`
}

type attachment struct {
	ContentType string `json:"contentType,omitempty"`
	URL         string `json:"url,omitempty"`
	Size        int64  `json:"size,omitempty"`
	Title       string `json:"title,omitempty"`
}

type documentRefContext struct {
	Period            *period     `json:"period,omitempty"`
	SourcePatientInfo *reference  `json:"sourcePatientInfo,omitempty"`
	Related           []reference `json:"related,omitempty"`
}

// Content is what a reader learnt of a record by opening its sealed header (an audited
// access for a recipient): the media type and size of its plaintext, and the Summary of
// a typed record.
type Content struct {
	MediaType string
	Size      int64
	Summary   *Summary // nil: the record is not typed
}

// DocumentReference is record rec on network nw as a FHIR R4 DocumentReference (JSON),
// whose id is the record id and whose attachment is at binaryURL (a server's
// Binary/<record id>). It says what the ledger knows of the record: owner, block time,
// network, and the grants (Consent/<grant id>) that share it with the reader. What is
// sealed inside the record is there only when the reader opened its header (content, else
// nil): the attachment's media type and size, and for a typed record its type, date,
// patient and title.
func DocumentReference(nw *protocol.Network, rec *protocol.Record, binaryURL string, grants []protocol.ID, content *Content) ([]byte, error) {
	if nw == nil || rec == nil || binaryURL == "" {
		return nil, errors.New("fhir: DocumentReference needs the network, the record and the Binary's URL")
	}
	d := &documentReference{ResourceType: "DocumentReference", Status: "current"}
	paragraphs := []string{
		fmt.Sprintf("Record %s of the patient with signing key %s, sealed; its content is at %s.", rec.ID, rec.Owner, binaryURL),
		fmt.Sprintf("Committed on chain %s at height %d.", nw.ChainID, rec.Height),
	}
	if content != nil {
		mediaType := ""
		if mt, params, err := mime.ParseMediaType(content.MediaType); err == nil {
			mediaType = mime.FormatMediaType(mt, params)
		}
		if s := content.Summary; s != nil {
			d = describedDocument(s, mediaType)
			paragraphs = append(paragraphs, summaryText(s))
		} else {
			d.Content = []documentContent{{Attachment: attachment{ContentType: mediaType}}}
		}
		if content.Size > 0 && content.Size <= math.MaxInt32 { // R4 unsignedInt
			d.Content[0].Attachment.Size = content.Size
		}
	} else {
		d.Content = []documentContent{{}}
	}
	d.ID = rec.ID.String()
	d.Text = generated(paragraphs...)
	d.Identifier = []identifier{{Use: "official", System: RecordSystem, Value: rec.ID.String()}}
	d.Subject = &reference{Type: "Patient", Identifier: &identifier{System: SigningKeySystem, Value: rec.Owner.String()}}
	d.Date = instant(rec.Time)
	d.Custodian = ptr(chainReference(nw.ChainID))
	d.Content[0].Attachment.URL = binaryURL
	if len(grants) > 0 {
		if d.Context == nil {
			d.Context = &documentRefContext{}
		}
		for _, g := range grants {
			d.Context.Related = append(d.Context.Related, reference{
				Reference:  "Consent/" + g.String(),
				Identifier: &identifier{System: GrantSystem, Value: g.String()},
			})
		}
	}
	return marshal(d)
}

// summaryText says in words what a typed record is.
func summaryText(s *Summary) string {
	var b strings.Builder
	if s.Attachment {
		b.WriteString("A document described as a FHIR R4 DocumentReference")
	} else {
		fmt.Fprintf(&b, "A FHIR R4 %s", s.ResourceType)
		if s.MainType != s.ResourceType {
			fmt.Fprintf(&b, " (%s)", s.MainType)
		}
	}
	if s.Title != "" {
		fmt.Fprintf(&b, ", %q", s.Title)
	}
	if len(s.Codes) > 0 {
		fmt.Fprintf(&b, ", coded %s", s.Codes[0])
	}
	if s.Text != "" {
		fmt.Fprintf(&b, " (%s)", s.Text)
	}
	if s.Date != "" {
		fmt.Fprintf(&b, ", dated %s", s.Date)
	}
	if s.Patient != "" {
		fmt.Fprintf(&b, ", about %s", s.Patient)
	}
	b.WriteString(".")
	return b.String()
}

func ptr[T any](v T) *T { return &v }
