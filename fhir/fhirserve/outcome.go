package fhirserve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/resilientrecords/resilientrecords/client"
)

// failure is a read the server could not answer: the HTTP status, the OperationOutcome's
// issue-type code and the human reason.
type failure struct {
	Status int
	Code   string
	Reason string
}

func badRequest(format string, args ...any) *failure {
	return &failure{http.StatusBadRequest, "invalid", fmt.Sprintf(format, args...)}
}

// failureOf says why the SDK refused, in the words 'rrec get' uses. A refusal by the grant
// is 403 with its reason (revoked, expired, not yet valid, erased); a record that does not
// exist or is not shared with this identity is 404, the same answer for both.
func failureOf(err error, what string) *failure {
	switch {
	case errors.Is(err, client.ErrRevoked):
		return &failure{http.StatusForbidden, "forbidden", "access refused: the patient revoked the grant for this record"}
	case errors.Is(err, client.ErrExpired):
		return &failure{http.StatusForbidden, "forbidden", "access refused: the grant for this record has expired"}
	case errors.Is(err, client.ErrNotYetValid):
		return &failure{http.StatusForbidden, "forbidden", "access refused: the grant for this record is not valid yet"}
	case errors.Is(err, client.ErrErased):
		return &failure{http.StatusForbidden, "forbidden", "access refused: the patient erased this record; its content is gone"}
	case errors.Is(err, client.ErrNotGranted), errors.Is(err, client.ErrNotFound):
		return &failure{http.StatusNotFound, "not-found", "no " + what + " with this id is shared with this identity"}
	case errors.Is(err, client.ErrBusy):
		return &failure{http.StatusServiceUnavailable, "transient", "the network is busy; try again shortly"}
	case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrNoQuorum):
		return &failure{http.StatusServiceUnavailable, "transient", "not enough of the network's nodes answered (or agreed); try again"}
	}
	return &failure{http.StatusInternalServerError, "exception", "the read failed: " + err.Error()}
}

// writeOutcome answers with an OperationOutcome.
func writeOutcome(w http.ResponseWriter, f *failure) {
	o := operationOutcome{
		ResourceType: "OperationOutcome",
		Issue:        []issue{{Severity: "error", Code: f.Code, Diagnostics: f.Reason}},
	}
	b, err := encode(o)
	if err != nil {
		http.Error(w, f.Reason, f.Status)
		return
	}
	writeResource(w, f.Status, b)
}

type operationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []issue `json:"issue"`
}

type issue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics,omitempty"`
}

// fhirJSON is the media type of every resource this server writes (R4 §3.1.0.1.5).
const fhirJSON = "application/fhir+json; charset=utf-8"

func writeResource(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", fhirJSON)
	// What is shared is a patient's medical data: no cache keeps a copy.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// encode writes v as indented JSON without HTML escaping, as package fhir does: the
// narratives hold XHTML.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
