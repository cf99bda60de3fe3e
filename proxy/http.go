package proxy

import (
	"net"
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
	grant, err := protocol.ParseHex[protocol.ID](r.PathValue("grant"))
	if err != nil {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "grant id in the path must be 64 hex digits"))
		return
	}
	var d protocol.Deposit
	if err := protocol.ReadJSON(w, r, protocol.MaxDepositBody, &d); err != nil {
		protocol.WriteError(w, err)
		return
	}
	rc, err := s.Deposit(grant, &d)
	if err != nil {
		protocol.WriteError(w, err)
		return
	}
	protocol.WriteJSON(w, http.StatusCreated, rc)
}

func (s *Service) serveReencrypt(w http.ResponseWriter, r *http.Request) {
	// Requests from one address are limited before any signature check, so junk costs the
	// node little; honest requesters are limited by key in Reencrypt.
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && !s.addrs.allow(host, s.cfg.Now()) {
		protocol.WriteError(w, protocol.ErrRateLimited)
		return
	}
	var req protocol.ReencryptRequest
	if err := protocol.ReadJSON(w, r, protocol.MaxRequestBody, &req); err != nil {
		protocol.WriteError(w, err)
		return
	}
	resp, err := s.Reencrypt(&req)
	if err != nil {
		protocol.WriteError(w, err)
		return
	}
	protocol.WriteJSON(w, http.StatusOK, resp)
}
