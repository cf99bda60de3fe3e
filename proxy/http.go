package proxy

import (
	"errors"
	"net/http"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// Handler serves the proxy's routes of the node's API (protocol.RouteDeposit,
// protocol.RouteReencrypt); the node's mux registers it.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(protocol.RouteDeposit, s.serveDeposit)
	mux.HandleFunc(protocol.RouteReencrypt, s.serveReencrypt)
	return mux
}

func (s *Service) serveDeposit(w http.ResponseWriter, r *http.Request) {
	rc, err := s.depositRequest(w, r)
	s.metrics.outcome(routeDeposit, err)
	if err != nil {
		writeError(w, err)
		return
	}
	protocol.WriteJSON(w, http.StatusCreated, rc)
}

func (s *Service) depositRequest(w http.ResponseWriter, r *http.Request) (*protocol.DepositReceipt, error) {
	// Limited by source before the body is read or the node waits for any block: a refused
	// flood costs the node a map lookup per request.
	src := s.cfg.Sources.Key(r)
	if !s.depos.Allow(src, s.cfg.Now()) {
		return nil, protocol.ErrRateLimited
	}
	grant, err := protocol.ParseHex[protocol.ID](r.PathValue("grant"))
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrMalformed, "grant id in the path must be 64 hex digits")
	}
	var d protocol.Deposit
	if err := protocol.ReadJSON(w, r, protocol.MaxDepositBody, &d); err != nil {
		return nil, err
	}
	return s.deposit(src, grant, &d)
}

func (s *Service) serveReencrypt(w http.ResponseWriter, r *http.Request) {
	resp, err := s.reencryptRequest(w, r)
	s.metrics.outcome(routeReencrypt, err)
	if err != nil {
		writeError(w, err)
		return
	}
	protocol.WriteJSON(w, http.StatusOK, resp)
}

func (s *Service) reencryptRequest(w http.ResponseWriter, r *http.Request) (*protocol.ReencryptResponse, error) {
	// Requests from one source are limited before any signature check, so junk costs the
	// node little; honest requesters are limited by key in Reencrypt.
	src := s.cfg.Sources.Key(r)
	if !s.addrs.Allow(src, s.cfg.Now()) {
		return nil, protocol.ErrRateLimited
	}
	var req protocol.ReencryptRequest
	if err := protocol.ReadJSON(w, r, protocol.MaxRequestBody, &req); err != nil {
		return nil, err
	}
	return s.reencrypt(src, &req)
}

// writeError tells a client refused busy when to come back: the queue it found full drains
// within moments.
func writeError(w http.ResponseWriter, err error) {
	if errors.Is(err, protocol.ErrBusy) {
		w.Header().Set("Retry-After", "1")
	}
	protocol.WriteError(w, err)
}
