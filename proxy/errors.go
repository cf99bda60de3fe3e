package proxy

import (
	"fmt"
	"net/http"
)

// Error is a refusal a node sends back: an HTTP status, a stable code that
// clients switch on, and a message for people. errors.Is matches on Code,
// so a refusal decoded from JSON matches the sentinel below.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "proxy: " + e.Code
	}
	return "proxy: " + e.Code + ": " + e.Message
}

// Is matches errors with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func refusal(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// Refusals. Statuses are listed in SPEC.md; codes never change meaning.
var (
	ErrMalformed    = refusal(http.StatusBadRequest, "malformed", "request does not parse")
	ErrTooLarge     = refusal(http.StatusRequestEntityTooLarge, "too_large", "request body too large")
	ErrRateLimited  = refusal(http.StatusTooManyRequests, "rate_limited", "too many requests")
	ErrBadEnvelope  = refusal(http.StatusBadRequest, "bad_envelope", "deposit does not open")
	ErrWrongBinding = refusal(http.StatusBadRequest, "wrong_binding", "deposit sealed for another chain, grant or node")

	ErrUnknownGrant     = refusal(http.StatusNotFound, "unknown_grant", "no such committed grant")
	ErrNotGrantNode     = refusal(http.StatusForbidden, "not_grant_node", "this node is not one of the grant's nodes")
	ErrWrongCommitment  = refusal(http.StatusUnprocessableEntity, "wrong_commitment", "fragment does not match the grant's commitment for this node")
	ErrInvalidKFrag     = refusal(http.StatusBadRequest, "invalid_kfrag", "key fragment does not verify")
	ErrGrantRevoked     = refusal(http.StatusGone, "grant_revoked", "grant revoked")
	ErrGrantExpired     = refusal(http.StatusPreconditionFailed, "grant_expired", "grant expired")
	ErrGrantNotYetValid = refusal(http.StatusTooEarly, "grant_not_yet_valid", "grant not yet valid")
	ErrDuplicate        = refusal(http.StatusConflict, "duplicate", "fragment already deposited")

	ErrWrongNode      = refusal(http.StatusMisdirectedRequest, "wrong_node", "request names another node")
	ErrBadSignature   = refusal(http.StatusUnauthorized, "bad_signature", "signature does not verify under the grant's recipient key")
	ErrBoundExpired   = refusal(http.StatusBadRequest, "bound_expired", "request freshness bound has passed")
	ErrBoundTooFar    = refusal(http.StatusBadRequest, "bound_too_far", "request freshness bound too far in the future")
	ErrUnknownRequest = refusal(http.StatusNotFound, "request_not_committed", "no committed access request matches")
	ErrWrongCapsule   = refusal(http.StatusUnprocessableEntity, "wrong_capsule", "capsule is not the record's committed capsule")
	ErrNoFragment     = refusal(http.StatusNotFound, "no_fragment", "this node holds no fragment for the grant")
	ErrStale          = refusal(http.StatusServiceUnavailable, "node_stale", "node's committed state is too old to serve")
	ErrInternal       = refusal(http.StatusInternalServerError, "internal", "internal error")
)

// errorf returns a copy of sentinel with a specific message.
func errorf(sentinel *Error, format string, args ...any) *Error {
	return &Error{Status: sentinel.Status, Code: sentinel.Code, Message: fmt.Sprintf(format, args...)}
}
