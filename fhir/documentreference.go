package fhir

import (
	"errors"
	"fmt"

	"github.com/resilientrecords/resilientrecords/protocol"
)

type documentReference struct {
	ResourceType string              `json:"resourceType"`
	ID           string              `json:"id"`
	Text         *narrative          `json:"text,omitempty"`
	Identifier   []identifier        `json:"identifier"`
	Status       string              `json:"status"`
	Subject      *reference          `json:"subject"`
	Date         string              `json:"date"`
	Custodian    *reference          `json:"custodian"`
	Content      []documentContent   `json:"content"`
	Context      *documentRefContext `json:"context,omitempty"`
}

type documentContent struct {
	Attachment attachment `json:"attachment"`
}

type attachment struct {
	URL string `json:"url"`
}

type documentRefContext struct {
	Related []reference `json:"related,omitempty"`
}

// DocumentReference is record rec on network nw as a FHIR R4 DocumentReference (JSON),
// whose id is the record id and whose attachment is at binaryURL (a server's
// Binary/<record id>). It says what the ledger knows of the record: owner, block time,
// network, and the grants (Consent/<grant id>) that share it with the reader. The
// record's name and media type are sealed inside it: only reading the Binary, an audited
// access, reveals them, so the attachment has no contentType.
func DocumentReference(nw *protocol.Network, rec *protocol.Record, binaryURL string, grants []protocol.ID) ([]byte, error) {
	if nw == nil || rec == nil || binaryURL == "" {
		return nil, errors.New("fhir: DocumentReference needs the network, the record and the Binary's URL")
	}
	d := documentReference{
		ResourceType: "DocumentReference",
		ID:           rec.ID.String(),
		Text: generated(
			fmt.Sprintf("Record %s of the patient with signing key %s, sealed; its content is at %s.", rec.ID, rec.Owner, binaryURL),
			fmt.Sprintf("Committed on chain %s at height %d.", nw.ChainID, rec.Height),
		),
		Identifier: []identifier{{Use: "official", System: RecordSystem, Value: rec.ID.String()}},
		// The ledger has no superseded records: an erased one is not described at all.
		Status:    "current",
		Subject:   &reference{Type: "Patient", Identifier: &identifier{System: SigningKeySystem, Value: rec.Owner.String()}},
		Date:      instant(rec.Time),
		Custodian: ptr(chainReference(nw.ChainID)),
		Content:   []documentContent{{Attachment: attachment{URL: binaryURL}}},
	}
	if len(grants) > 0 {
		d.Context = &documentRefContext{}
		for _, g := range grants {
			d.Context.Related = append(d.Context.Related, reference{
				Reference:  "Consent/" + g.String(),
				Identifier: &identifier{System: GrantSystem, Value: g.String()},
			})
		}
	}
	return marshal(d)
}

func ptr[T any](v T) *T { return &v }
