package fhir

import (
	"encoding/json"
	"fmt"
)

// Bundle types this package writes.
const (
	// SearchSet is the answer to a search: every entry a match, with the total.
	SearchSet = "searchset"
	// Collection is a set of resources with no further meaning: what a command prints.
	Collection = "collection"
)

// Bundle wraps resources (each one JSON resource, as Consent and AuditEvents return) in a
// FHIR R4 Bundle of type SearchSet or Collection. A FHIR server answering a search adds
// each entry's fullUrl from its own base URL; this package knows none.
func Bundle(typ string, resources [][]byte) ([]byte, error) {
	b := bundle{ResourceType: "Bundle", Type: typ}
	switch typ {
	case SearchSet:
		n := len(resources)
		b.Total = &n
	case Collection:
	default:
		return nil, fmt.Errorf("fhir: bundle type %q is neither %s nor %s", typ, SearchSet, Collection)
	}
	for _, r := range resources {
		if !json.Valid(r) {
			return nil, fmt.Errorf("fhir: bundle entry %d is not JSON", len(b.Entry))
		}
		e := bundleEntry{Resource: json.RawMessage(r)}
		if typ == SearchSet {
			e.Search = &bundleSearch{Mode: "match"}
		}
		b.Entry = append(b.Entry, e)
	}
	return marshal(b)
}
