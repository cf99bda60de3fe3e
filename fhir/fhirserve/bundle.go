package fhirserve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// searchset is a search's answer: R4 Bundle of type searchset, with the total, the paging
// links, and each entry's fullUrl from the server's base URL (which package fhir, knowing
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

// Page sizes: _count, as FHIR REST names it, asks for at most that many entries a page.
const (
	defaultCount = 50
	maxCount     = 500
)

// paging is the page a search asks for: count entries from position offset of the
// matches. _offset is this server's own parameter, found in the links it writes; the
// matches are listed anew for every page, so a grant made or ended between two pages
// shifts what the next one holds.
type paging struct {
	offset, count int
}

func pagingParams(q query) (paging, *failure) {
	p := paging{count: defaultCount}
	for _, c := range []struct {
		name string
		to   *int
		max  int
	}{{"_count", &p.count, maxCount}, {"_offset", &p.offset, maxListed}} {
		v, ok := q.get(c.name)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, badRequest("%s %q: want a whole number, 0 or more", c.name, clip(v))
		}
		*c.to = min(n, c.max)
	}
	return p, nil
}

// maxListed bounds an offset: no identity is shared more than the SDK lists.
const maxListed = 1_000_000

// window is the part [lo, hi) of n matches on this page.
func (p paging) window(n int) (lo, hi int) {
	lo = min(p.offset, n)
	return lo, min(lo+p.count, n)
}

// writeSearchset answers a search on resource type typ: page is the resources (JSON, as
// package fhir writes them) from p.offset of total matches. The links are FHIR REST's:
// self, first, previous, next and last, each the same search at another offset.
func (s *Server) writeSearchset(w http.ResponseWriter, typ string, q query, p paging, total int, page [][]byte) *failure {
	link := func(offset int) string {
		vs := url.Values{}
		for k, v := range q {
			if k != "_offset" && k != "_count" {
				vs[k] = v
			}
		}
		vs.Set("_count", strconv.Itoa(p.count))
		if offset > 0 {
			vs.Set("_offset", strconv.Itoa(offset))
		}
		return s.cfg.BaseURL + "/" + typ + "?" + vs.Encode()
	}
	b := searchset{ResourceType: "Bundle", Type: "searchset", Total: total, Link: []bundleLink{{"self", link(p.offset)}}}
	if p.count > 0 {
		last := 0
		if total > 0 {
			last = (total - 1) / p.count * p.count
		}
		b.Link = append(b.Link, bundleLink{"first", link(0)})
		if p.offset > 0 {
			b.Link = append(b.Link, bundleLink{"previous", link(max(0, min(p.offset, total)-p.count))})
		}
		if p.offset+p.count < total {
			b.Link = append(b.Link, bundleLink{"next", link(p.offset + p.count)})
		}
		b.Link = append(b.Link, bundleLink{"last", link(last)})
	}
	for _, r := range page {
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

// writeAll answers a search whose matches are all at hand: it sends the page asked for.
func (s *Server) writeAll(w http.ResponseWriter, typ string, q query, p paging, resources [][]byte) *failure {
	lo, hi := p.window(len(resources))
	return s.writeSearchset(w, typ, q, p, len(resources), resources[lo:hi])
}
