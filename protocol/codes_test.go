package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// allSentinels lists every exported sentinel, so that the table and the variables cannot
// drift apart.
var allSentinels = []*Error{
	ErrMalformed, ErrUnsupported, ErrInvalid, ErrWrongChain, ErrBadSignature, ErrBadSequence, ErrNotFound,
	ErrUnauthorized, ErrUnknownNode, ErrGrantRevoked, ErrGrantExpired, ErrNotYetValid, ErrAlreadyExists,
	ErrRecordErased, ErrTxExpired, ErrNotAdmitted, ErrInternal,
	ErrTooLarge, ErrUnknownQuery, ErrBusy, ErrUnavailable, ErrCommitTimeout, ErrRateLimited, ErrQuota,
	ErrBadEnvelope, ErrWrongBinding, ErrInvalidKFrag, ErrNotGrantNode, ErrWrongCommitment, ErrWrongNode,
	ErrBoundExpired, ErrBoundTooFar, ErrRequestNotCommitted, ErrRequestExpired, ErrWrongCapsule, ErrNoFragment, ErrStale,
	ErrRange, ErrCorrupt, ErrKeyRetired,
	ErrNotAccepted, ErrSlotUnavailable,
	ErrStreamOrder, ErrStreamEpoch, ErrStreamErased, ErrOutsideWindow,
}

func TestCodeTable(t *testing.T) {
	names := map[string]bool{}
	ledgerCodes := map[uint32]string{}
	for _, c := range codes {
		if c.name == "" || c.name == "ok" || names[c.name] {
			t.Errorf("code name %q is empty, reserved or repeated", c.name)
		}
		names[c.name] = true
		if c.status < 400 || c.status > 599 || http.StatusText(c.status) == "" {
			t.Errorf("%s: HTTP status %d is not an error status", c.name, c.status)
		}
		if c.text == "" {
			t.Errorf("%s: no text", c.name)
		}
		if c.ledger == 0 {
			continue
		}
		if other, ok := ledgerCodes[c.ledger]; ok {
			t.Errorf("ledger code %d is both %s and %s", c.ledger, other, c.name)
		}
		ledgerCodes[c.ledger] = c.name
		e := LedgerError(c.ledger, "m")
		if e.LedgerCode != c.ledger || e.Code != c.name || e.Status != c.status || e.Message != "m" {
			t.Errorf("LedgerError(%d) = %+v", c.ledger, e)
		}
		if CodeName(c.ledger) != c.name {
			t.Errorf("CodeName(%d) = %q, want %q", c.ledger, CodeName(c.ledger), c.name)
		}
		if LedgerCode(e) != c.ledger || LedgerCode(fmt.Errorf("wrapped: %w", e)) != c.ledger {
			t.Errorf("LedgerCode of %s is not %d", c.name, c.ledger)
		}
	}
	// The ledger's result codes are fixed forever (ledger/SPEC.md): pin them.
	want := map[uint32]string{1: "malformed", 2: "unsupported", 3: "invalid", 4: "wrong_chain", 5: "bad_signature",
		6: "bad_sequence", 7: "not_found", 8: "unauthorized", 9: "unknown_node", 10: "grant_revoked",
		11: "grant_expired", 12: "not_yet_valid", 13: "already_exists", 14: "record_erased",
		15: "unknown_query", 16: "too_large", 17: "tx_expired", 18: "not_admitted", 19: "quota",
		20: "rate_limited", 21: "key_retired", 99: "internal",
		23: "not_accepted", 24: "slot_unavailable",
		25: "stream_order", 26: "stream_epoch", 27: "stream_erased"}
	if len(ledgerCodes) != len(want) {
		t.Errorf("ledger codes %v, want %v", ledgerCodes, want)
	}
	for code, name := range want {
		if ledgerCodes[code] != name {
			t.Errorf("ledger code %d is %q, want %q", code, ledgerCodes[code], name)
		}
	}

	if len(allSentinels) != len(codes) {
		t.Errorf("%d sentinels for %d codes", len(allSentinels), len(codes))
	}
	seen := map[string]bool{}
	for _, s := range allSentinels {
		if !names[s.Code] || seen[s.Code] {
			t.Errorf("sentinel %s is not in the table or listed twice", s.Code)
		}
		seen[s.Code] = true
	}
}

// TestNewCodes: tx_expired is a ledger refusal (17, 422); request_expired is the proxy's (no
// ledger code, 410); unknown_query and too_large are ledger codes (a query answer carries them).
func TestNewCodes(t *testing.T) {
	for _, c := range []struct {
		e      *Error
		name   string
		status int
		ledger uint32
	}{
		{ErrTxExpired, "tx_expired", http.StatusUnprocessableEntity, 17},
		{ErrRequestExpired, "request_expired", http.StatusGone, 0},
		{ErrUnknownQuery, "unknown_query", http.StatusNotFound, 15},
		{ErrTooLarge, "too_large", http.StatusRequestEntityTooLarge, 16},
	} {
		if c.e.Code != c.name || c.e.Status != c.status || c.e.LedgerCode != c.ledger || c.e.Message == "" {
			t.Errorf("%s: %+v", c.name, c.e)
		}
		if c.ledger == 0 {
			if LedgerCode(c.e) != 99 {
				t.Errorf("%s: a refusal without a ledger code is internal to the ledger, got %d", c.name, LedgerCode(c.e))
			}
			continue
		}
		back := LedgerError(c.ledger, "log")
		if !errors.Is(back, c.e) || back.Status != c.status || CodeName(c.ledger) != c.name || LedgerCode(Errorf(c.e, "x")) != c.ledger {
			t.Errorf("%s: ledger code %d does not round-trip: %+v", c.name, c.ledger, back)
		}
	}
}

func TestCodeNames(t *testing.T) {
	for code, want := range map[uint32]string{0: "ok", 7: "not_found", 13: "already_exists", 14: "record_erased", 17: "tx_expired", 18: "not_admitted", 21: "key_retired", 23: "not_accepted", 40: "internal", 99: "internal", 98: "internal", 1000: "internal"} {
		if got := CodeName(code); got != want {
			t.Errorf("CodeName(%d) = %q, want %q", code, got, want)
		}
	}
	// A code not in the table is internal but keeps its number.
	if e := LedgerError(98, "x"); e.Code != "internal" || e.LedgerCode != 98 || e.Status != http.StatusInternalServerError {
		t.Errorf("LedgerError(98) = %+v", e)
	}
	if LedgerCode(nil) != 0 || LedgerCode(errors.New("disk on fire")) != 99 || LedgerCode(ErrBusy) != 99 {
		t.Error("LedgerCode of nil, an uncoded error or a non-ledger refusal")
	}
}

func TestErrorMatchesByCode(t *testing.T) {
	h := Hash32{1, 2, 3}
	for _, s := range allSentinels {
		e := Errorf(s, "record %d", 7)
		e.Hash = &h
		if e.Code != s.Code || e.Status != s.Status || e.LedgerCode != s.LedgerCode || e.Message != "record 7" {
			t.Errorf("Errorf(%s) = %+v", s.Code, e)
		}
		if s.Message == "" || e.Error() != s.Code+": record 7" {
			t.Errorf("%s: message %q, Error() %q", s.Code, s.Message, e.Error())
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back *Error
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.Status != 0 || back.Code != s.Code || back.Message != e.Message || back.LedgerCode != s.LedgerCode || back.Hash == nil || *back.Hash != h {
			t.Errorf("%s: JSON round trip gave %+v from %s", s.Code, back, b)
		}
		if !errors.Is(back, s) || !errors.Is(fmt.Errorf("via: %w", back), s) {
			t.Errorf("%s: decoded error does not match its sentinel", s.Code)
		}
		for _, o := range allSentinels {
			if o.Code != s.Code && errors.Is(back, o) {
				t.Errorf("%s matches %s", s.Code, o.Code)
			}
		}
		if ErrorOf(fmt.Errorf("via: %w", back)) != back {
			t.Errorf("%s: ErrorOf does not unwrap", s.Code)
		}
	}
	if ErrorOf(errors.New("secret path /home/x")) != ErrInternal {
		t.Error("ErrorOf of an uncoded error is not internal")
	}
	if errors.Is(ErrNotFound, errors.New("not_found")) {
		t.Error("matched an error that is not an *Error")
	}
	if (&Error{Code: "busy"}).Error() != "busy" {
		t.Error("Error() of an error without a message")
	}
}
