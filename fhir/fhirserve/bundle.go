package fhirserve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// searchset is a search's answer: R4 Bundle of type searchset, with the total, a self
// link, and each entry's fullUrl from the server's base URL (which package fhir, knowing
// no server, leaves out).
type searchset struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        int           `json:"total"`
	Link         []bundleLink  `json:"link"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Search   bundleSearch    `json:"search"`
}

type bundleSearch struct {
	Mode string `json:"mode"`
}

// writeSearchset answers a search on resource type typ with resources (JSON, as package
// fhir writes them).
func (s *Server) writeSearchset(w http.ResponseWriter, typ string, q query, resources [][]byte) *failure {
	self := s.cfg.BaseURL + "/" + typ
	if len(q) > 0 {
		vs := url.Values{}
		for k, v := range q {
			vs.Set(k, v)
		}
		self += "?" + vs.Encode()
	}
	b := searchset{ResourceType: "Bundle", Type: "searchset", Total: len(resources), Link: []bundleLink{{"self", self}}}
	for _, r := range resources {
		var head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := json.Unmarshal(r, &head); err != nil || head.ResourceType == "" || head.ID == "" {
			return &failure{http.StatusInternalServerError, "exception", fmt.Sprintf("entry %d of the answer has no type or id", len(b.Entry))}
		}
		b.Entry = append(b.Entry, bundleEntry{
			FullURL:  s.cfg.BaseURL + "/" + head.ResourceType + "/" + head.ID,
			Resource: json.RawMessage(r),
			Search:   bundleSearch{Mode: "match"},
		})
	}
	out, err := encode(b)
	if err != nil {
		return &failure{http.StatusInternalServerError, "exception", "encoding the answer: " + err.Error()}
	}
	writeResource(w, http.StatusOK, out)
	return nil
}
