package proxy

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/resilientrecords/resilientrecords/ledger"
)

// Body bounds. A deposit is a 105-byte capsule and at most
// MaxDepositCiphertext bytes, both hex; a request is fixed-size. The
// bounds leave room for JSON punctuation and whitespace, nothing more.
const (
	MaxDepositBody = 2*(ledger.CapsuleSize+MaxDepositCiphertext) + 256
	MaxRequestBody = 2048
)

// Routes (Go 1.22 patterns); see SPEC.md for the bodies.
const (
	RouteDeposit   = "POST /v1/grants/{grant}/fragment"
	RouteReencrypt = "POST /v1/reencrypt"
	RouteStatus    = "GET /v1/proxy/status"
)

// Status is the answer of GET /v1/proxy/status: who the node is and how
// fresh its committed state is.
type Status struct {
	Node    ledger.PubKey `json:"node"`
	ChainID string        `json:"chain_id"`
	Height  int64         `json:"height"`
	Time    int64         `json:"time"` // block time, unix nanoseconds
}

// Handler serves the proxy's HTTP API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(RouteDeposit, s.serveDeposit)
	mux.HandleFunc(RouteReencrypt, s.serveReencrypt)
	mux.HandleFunc(RouteStatus, s.serveStatus)
	return mux
}

func (s *Service) serveDeposit(w http.ResponseWriter, r *http.Request) {
	var grant ledger.ID
	if err := grant.UnmarshalText([]byte(r.PathValue("grant"))); err != nil {
		writeError(w, errorf(ErrMalformed, "grant id in the path must be 64 hex digits"))
		return
	}
	var d Deposit
	if err := decodeBody(w, r, MaxDepositBody, &d); err != nil {
		writeError(w, err)
		return
	}
	rc, err := s.Deposit(grant, &d)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rc)
}

func (s *Service) serveReencrypt(w http.ResponseWriter, r *http.Request) {
	// Requests from one address are limited before any signature check,
	// so junk costs the node little; honest requesters are limited by key
	// in Reencrypt.
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && !s.addrs.allow(host, s.cfg.Now()) {
		writeError(w, ErrRateLimited)
		return
	}
	var req Request
	if err := decodeBody(w, r, MaxRequestBody, &req); err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.Reencrypt(&req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Service) serveStatus(w http.ResponseWriter, _ *http.Request) {
	snap, err := s.snapshot()
	if err != nil {
		writeError(w, err)
		return
	}
	defer snap.Release()
	writeJSON(w, http.StatusOK, Status{Node: s.self, ChainID: snap.ChainID, Height: snap.Height, Time: snap.Time})
}

// decodeBody reads one JSON object of at most limit bytes, with no unknown
// fields and nothing after it.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, int64(limit)))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, e := dec.Token(); !errors.Is(e, io.EOF) {
			err = errors.New("trailing data after the JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return ErrTooLarge
	default:
		return errorf(ErrMalformed, "body: %v", err)
	}
}

type errorBody struct {
	Error *Error `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = ErrInternal // never echo an unexpected error: it might carry anything
	}
	writeJSON(w, e.Status, errorBody{Error: e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
