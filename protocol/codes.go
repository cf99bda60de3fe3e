package protocol

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is every refusal the network gives: a ledger transaction that fails, a query the
// ledger refuses, and every HTTP error answer of a node ({"error": {...}}). Code is a stable
// name that programs switch on; Message is for people and never carries a secret. errors.Is
// matches on Code, so an error decoded from JSON matches the sentinel below.
type Error struct {
	Status     int     `json:"-"` // HTTP status of the answer
	Code       string  `json:"code"`
	Message    string  `json:"message"`
	LedgerCode uint32  `json:"ledger_code,omitempty"` // the ledger's result code, when the ledger refused
	Hash       *Hash32 `json:"hash,omitempty"`        // the transaction, when one was received
	Height     int64   `json:"height,omitempty"`      // the committed height a query's refusal reflects
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Is matches errors with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// codeInfo is one row of the table: the name, the HTTP status a node answers with, and the
// ledger's result code (0 for refusals that never come from the ledger).
type codeInfo struct {
	name   string
	status int
	ledger uint32
	text   string
}

// codes is the one table of refusals (SPEC.md §6). Names and ledger codes never change
// meaning; a new refusal gets a new row.
var codes = []codeInfo{
	// The ledger's result codes, in CheckTx, FinalizeBlock and queries.
	{"malformed", http.StatusBadRequest, 1, "does not parse"},
	{"unsupported", http.StatusBadRequest, 2, "unsupported transaction type"},
	{"invalid", http.StatusUnprocessableEntity, 3, "invalid transaction"},
	{"wrong_chain", http.StatusUnprocessableEntity, 4, "signed for another chain"},
	{"bad_signature", http.StatusUnauthorized, 5, "signature does not verify"},
	{"bad_sequence", http.StatusConflict, 6, "not the account's next sequence number"},
	{"not_found", http.StatusNotFound, 7, "not found"},
	{"unauthorized", http.StatusForbidden, 8, "signer may not do this"},
	{"unknown_node", http.StatusUnprocessableEntity, 9, "node not in the registry"},
	{"grant_revoked", http.StatusGone, 10, "grant revoked"},
	{"grant_expired", http.StatusGone, 11, "grant expired"},
	{"not_yet_valid", http.StatusTooEarly, 12, "grant not yet valid"},
	{"already_exists", http.StatusConflict, 13, "already exists"},
	{"record_erased", http.StatusGone, 14, "record erased"},
	{"unknown_query", http.StatusNotFound, 15, "no such query path"},
	{"too_large", http.StatusRequestEntityTooLarge, 16, "request too large"},
	{"tx_expired", http.StatusUnprocessableEntity, 17, "transaction past its expiry"},
	{"not_admitted", http.StatusForbidden, 18, "account not admitted to this network"},
	{"internal", http.StatusInternalServerError, 99, "internal error"},
	{"key_retired", http.StatusForbidden, 21, "key retired by a rotation"},

	// Refusals of the nodes' HTTP API that never come from the ledger.
	{"busy", http.StatusServiceUnavailable, 0, "too many requests waiting"},
	{"unavailable", http.StatusServiceUnavailable, 0, "node could not do it now"},
	{"commit_timeout", http.StatusGatewayTimeout, 0, "transaction admitted but not committed in time"},
	{"rate_limited", http.StatusTooManyRequests, 20, "too many requests"},
	{"quota", http.StatusTooManyRequests, 19, "account over its quota"},
	{"bad_envelope", http.StatusBadRequest, 0, "deposit does not open with this node's key"},
	{"wrong_binding", http.StatusBadRequest, 0, "deposit sealed for another chain, grant or node"},
	{"invalid_kfrag", http.StatusBadRequest, 0, "key fragment does not verify"},
	{"not_grant_node", http.StatusForbidden, 0, "this node is not one of the grant's nodes"},
	{"wrong_commitment", http.StatusUnprocessableEntity, 0, "fragment does not match the grant's commitment"},
	{"wrong_node", http.StatusMisdirectedRequest, 0, "request names another node"},
	{"bound_expired", http.StatusBadRequest, 0, "request freshness bound has passed"},
	{"bound_too_far", http.StatusBadRequest, 0, "request freshness bound too far ahead"},
	{"request_not_committed", http.StatusNotFound, 0, "no committed access request matches"},
	{"request_expired", http.StatusGone, 0, "access request older than the request window"},
	{"wrong_capsule", http.StatusUnprocessableEntity, 0, "capsule is not the record's committed capsule"},
	{"no_fragment", http.StatusNotFound, 0, "this node holds no fragment for the grant"},
	{"node_stale", http.StatusServiceUnavailable, 0, "node's committed state is too old to serve"},
	{"range", http.StatusRequestedRangeNotSatisfiable, 0, "range outside the blob"},
	{"corrupt", http.StatusInternalServerError, 0, "a block failed verification on this node"},
	{"not_accepted", http.StatusConflict, 23, "issued record not yet accepted by its subject"},
	{"slot_unavailable", http.StatusConflict, 24, "inbox slot not open, or already used"},

	// Streams (SPEC.md §20).
	{"stream_order", http.StatusConflict, 25, "entries earlier than the stream's last committed entry, or a key generation not the next"},
	{"stream_epoch", http.StatusUnprocessableEntity, 26, "chunk does not fit its epoch or its epoch's capsule, or a key generation does not start after the last chunk's epoch"},
	{"stream_erased", http.StatusGone, 27, "stream erased"},
	{"outside_window", http.StatusForbidden, 0, "capsule is not of an epoch the stream grant's window covers, or of another key generation than the grant's"},
}

func sentinel(name string) *Error {
	for _, c := range codes {
		if c.name == name {
			return &Error{Status: c.status, Code: c.name, Message: c.text, LedgerCode: c.ledger}
		}
	}
	panic("protocol: no code " + name)
}

// Sentinels, one per row of the table; test with errors.Is.
var (
	ErrMalformed     = sentinel("malformed")
	ErrUnsupported   = sentinel("unsupported")
	ErrInvalid       = sentinel("invalid")
	ErrWrongChain    = sentinel("wrong_chain")
	ErrBadSignature  = sentinel("bad_signature")
	ErrBadSequence   = sentinel("bad_sequence")
	ErrNotFound      = sentinel("not_found")
	ErrUnauthorized  = sentinel("unauthorized")
	ErrUnknownNode   = sentinel("unknown_node")
	ErrGrantRevoked  = sentinel("grant_revoked")
	ErrGrantExpired  = sentinel("grant_expired")
	ErrNotYetValid   = sentinel("not_yet_valid")
	ErrAlreadyExists = sentinel("already_exists")
	ErrRecordErased  = sentinel("record_erased")
	ErrTxExpired     = sentinel("tx_expired")
	ErrNotAdmitted   = sentinel("not_admitted")
	ErrInternal      = sentinel("internal")

	ErrTooLarge            = sentinel("too_large")
	ErrUnknownQuery        = sentinel("unknown_query")
	ErrBusy                = sentinel("busy")
	ErrUnavailable         = sentinel("unavailable")
	ErrCommitTimeout       = sentinel("commit_timeout")
	ErrRateLimited         = sentinel("rate_limited")
	ErrQuota               = sentinel("quota")
	ErrBadEnvelope         = sentinel("bad_envelope")
	ErrWrongBinding        = sentinel("wrong_binding")
	ErrInvalidKFrag        = sentinel("invalid_kfrag")
	ErrNotGrantNode        = sentinel("not_grant_node")
	ErrWrongCommitment     = sentinel("wrong_commitment")
	ErrWrongNode           = sentinel("wrong_node")
	ErrBoundExpired        = sentinel("bound_expired")
	ErrBoundTooFar         = sentinel("bound_too_far")
	ErrRequestNotCommitted = sentinel("request_not_committed")
	ErrRequestExpired      = sentinel("request_expired")
	ErrWrongCapsule        = sentinel("wrong_capsule")
	ErrNoFragment          = sentinel("no_fragment")
	ErrStale               = sentinel("node_stale")
	ErrRange               = sentinel("range")
	ErrCorrupt             = sentinel("corrupt")
	ErrNotAccepted         = sentinel("not_accepted")
	ErrSlotUnavailable     = sentinel("slot_unavailable")
	ErrKeyRetired          = sentinel("key_retired")

	ErrStreamOrder   = sentinel("stream_order")
	ErrStreamEpoch   = sentinel("stream_epoch")
	ErrStreamErased  = sentinel("stream_erased")
	ErrOutsideWindow = sentinel("outside_window")
)

// Errorf returns a copy of sentinel with a specific message.
func Errorf(sentinel *Error, format string, args ...any) *Error {
	e := *sentinel
	e.Message = fmt.Sprintf(format, args...)
	return &e
}

// LedgerCode is the ledger result code of err: 0 for nil, the code of the *Error it wraps,
// else 99 (internal).
func LedgerCode(err error) uint32 {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) && e.LedgerCode != 0 {
		return e.LedgerCode
	}
	return ErrInternal.LedgerCode
}

// CodeName is the stable name of a ledger result code ("ok" for 0).
func CodeName(code uint32) string {
	if code == 0 {
		return "ok"
	}
	return LedgerError(code, "").Code
}

// LedgerError is the refusal with ledger result code code (not 0) and message msg; a code
// not in the table is internal.
func LedgerError(code uint32, msg string) *Error {
	for _, c := range codes {
		if c.ledger == code && code != 0 {
			return &Error{Status: c.status, Code: c.name, Message: msg, LedgerCode: code}
		}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: msg, LedgerCode: code}
}

// ErrorOf is err as a refusal a node may send: itself if it is an *Error, else internal
// with no details (an unexpected error might carry anything).
func ErrorOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInternal
}
