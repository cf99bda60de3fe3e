package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
)

// problem is every error answer of the JSON routes: a code a program can act on, and a
// sentence for the person in front of the page.
type problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeProblem(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, problem{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// plain is one SDK error as the app tells it: the HTTP status, a code, and a sentence a
// patient understands. The order matters: an error can match several sentinels, and the
// most specific reason comes first.
var plain = []struct {
	err     error
	status  int
	code    string
	message string
}{
	{client.ErrRevoked, http.StatusForbidden, "revoked", "The owner has withdrawn your access to this record, so it can no longer be opened."},
	{client.ErrExpired, http.StatusForbidden, "expired", "Your access to this record has run out: the time the owner allowed is over."},
	{client.ErrNotYetValid, http.StatusForbidden, "not_yet_valid", "Your access to this record has not started yet: try again after the start time the owner set."},
	{client.ErrErased, http.StatusGone, "erased", "The owner has erased this record: it is gone from the network and can no longer be opened."},
	{client.ErrNotGranted, http.StatusForbidden, "not_granted", "This record has not been shared with you."},
	{client.ErrNotAdmitted, http.StatusForbidden, "not_admitted", "This network has not admitted your identity yet: ask one of its operators to admit you."},
	{client.ErrQuota, http.StatusForbidden, "quota", "You have reached the space or number of shares this network allows you: erase a record or withdraw a share to make room."},
	{client.ErrUnauthorized, http.StatusForbidden, "unauthorized", "Only the record's owner can do this."},
	{client.ErrNotFound, http.StatusNotFound, "not_found", "No such record or share exists on this network."},
	{client.ErrBusy, http.StatusServiceUnavailable, "busy", "The network is busy right now. Please try again in a minute."},
	{client.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "Not enough of the network's computers answered. Check your connection, then try again."},
	{client.ErrNoQuorum, http.StatusBadGateway, "no_agreement", "The network's computers gave different answers, so nothing was trusted. Try again later; if it keeps happening, tell the network's operators."},
	{client.ErrSequenceMoved, http.StatusConflict, "try_again", "Another device using your identity made a change at the same moment. Please upload the file again."},
	{client.ErrCIDMismatch, http.StatusBadGateway, "node_lied", "A computer of the network stored your file wrongly, so nothing was saved. Please try again."},
	{envelope.ErrAuthentication, http.StatusBadGateway, "damaged", "The stored copy of this record is damaged, so it could not be opened."},
}

// writeError answers err as a problem, in words.
func (a *App) writeError(w http.ResponseWriter, r *http.Request, err error) {
	for _, p := range plain {
		if errors.Is(err, p.err) {
			a.log.Info("request failed", "path", r.URL.Path, "code", p.code, "err", err)
			writeProblem(w, p.status, p.code, p.message)
			return
		}
	}
	var de *client.DepositError
	if errors.As(err, &de) {
		a.log.Info("request failed", "path", r.URL.Path, "code", "partial_share", "err", err)
		writeProblem(w, http.StatusBadGateway, "partial_share", "The share was recorded, but too few of the network's computers took their part of the key, so it cannot be used yet. Please share the record again later.")
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		writeProblem(w, http.StatusServiceUnavailable, "cancelled", "The request was stopped before it finished. Nothing may have changed; please try again.")
		return
	}
	a.log.Warn("request failed", "path", r.URL.Path, "err", err)
	writeProblem(w, http.StatusInternalServerError, "failed", "Something went wrong and the request did not finish. Please try again; if it keeps happening, run 'rrec status' to check the network.")
}

// badRequest answers a request the page should not have sent, in words.
func badRequest(w http.ResponseWriter, msg string) {
	writeProblem(w, http.StatusBadRequest, "bad_request", msg)
}

// readJSON decodes a small JSON body into v; bodies are bounded, the page sends little.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badRequest(w, "The request could not be read: "+err.Error())
		return false
	}
	return true
}
