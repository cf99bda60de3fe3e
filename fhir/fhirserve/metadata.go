package fhirserve

import (
	"net/http"
	"time"
)

// started dates the CapabilityStatement: it describes this running server.
var started = time.Now().UTC().Format(time.RFC3339)

type capabilityStatement struct {
	ResourceType   string           `json:"resourceType"`
	Status         string           `json:"status"`
	Date           string           `json:"date"`
	Description    string           `json:"description"`
	Kind           string           `json:"kind"`
	Software       software         `json:"software"`
	Implementation implementation   `json:"implementation"`
	FHIRVersion    string           `json:"fhirVersion"`
	Format         []string         `json:"format"`
	Rest           []capabilityRest `json:"rest"`
}

type software struct {
	Name string `json:"name"`
}

type implementation struct {
	Description string `json:"description"`
	URL         string `json:"url"`
}

type capabilityRest struct {
	Mode          string               `json:"mode"`
	Documentation string               `json:"documentation"`
	Resource      []capabilityResource `json:"resource"`
}

type capabilityResource struct {
	Type        string        `json:"type"`
	Interaction []interaction `json:"interaction"`
	SearchParam []searchParam `json:"searchParam,omitempty"`
}

type interaction struct {
	Code string `json:"code"`
}

type searchParam struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

var (
	read   = interaction{"read"}
	search = interaction{"search-type"}
)

// metadata answers GET /metadata: what this server reads, and that it reads nothing else.
func (s *Server) metadata(w http.ResponseWriter, q query) *failure {
	if f := q.only(); f != nil {
		return f
	}
	patient := searchParam{"patient", "reference", "the owner: urn:rrec:signing-key|HEX or urn:rrec:identity|rrec1…"}
	c := capabilityStatement{
		ResourceType: "CapabilityStatement",
		Status:       "active",
		Date:         started,
		Description:  "Reads over what a Resilient Records network shares with one identity.",
		Kind:         "instance",
		Software:     software{Name: "rrec fhir serve"},
		Implementation: implementation{
			Description: "Resilient Records FHIR read endpoint for " + s.ledger.Identity().String(),
			URL:         s.cfg.BaseURL,
		},
		FHIRVersion: "4.0.1",
		Format:      []string{"json"},
		Rest: []capabilityRest{{
			Mode: "server",
			Documentation: "Unauthenticated: whatever reaches this address reads as the identity above. " +
				"Every Binary read commits an access request to the ledger's audit log, and so does the first " +
				"description of each record, which opens its sealed header. Searches are paged: _count (default 50, " +
				"at most 500) and the links of each page.",
			Resource: []capabilityResource{
				{Type: "DocumentReference", Interaction: []interaction{read, search}, SearchParam: []searchParam{patient,
					{"type", "token", "the type of a typed record: its main code, system|code (LOINC, SNOMED CT, …)"},
					{"date", "date", "when the record was put: the block time of its commit (prefixes eq, ne, gt, lt, ge, le)"},
					{"period", "date", "the clinical date of a typed record (prefixes eq, ne, gt, lt, ge, le)"},
				}},
				{Type: "Binary", Interaction: []interaction{read}},
				{Type: "Consent", Interaction: []interaction{search}, SearchParam: []searchParam{patient}},
				{Type: "AuditEvent", Interaction: []interaction{search}, SearchParam: []searchParam{{"entity", "reference", "DocumentReference/ID: the record whose log is read (required)"}}},
			},
		}},
	}
	b, err := encode(c)
	if err != nil {
		return failureOf(err, "metadata")
	}
	writeResource(w, http.StatusOK, b)
	return nil
}
