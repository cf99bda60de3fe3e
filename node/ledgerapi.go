package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/resilientrecords/resilientrecords/ledger"
)

// The ledger routes of the node's HTTP API (docs/api.md). Clients talk
// only to node API addresses, never to CometBFT's RPC, so these routes
// carry everything the SDK needs from the ledger: submit a transaction and
// wait for its block, read committed state, and see who the node is.
const (
	RouteSubmitTx = "POST /v1/tx"
	RouteTx       = "GET /v1/tx/{hash}"
	RouteQuery    = "GET /v1/query/{path...}"
	RouteStatus   = "GET /v1/status"
)

// CommitTimeout bounds how long POST /v1/tx waits for the block: below the
// API server's write timeout, so the answer always gets out. A client that
// sees commit_timeout asks GET /v1/tx/{hash} later.
const CommitTimeout = 7 * time.Second

// maxPendingSubmits bounds the submissions waiting for their block at
// once; beyond it a node answers busy rather than hold more goroutines.
const maxPendingSubmits = 256

// TxResult is the answer of POST /v1/tx and GET /v1/tx/{hash}: the
// transaction is in block Height with result Code (0 for success; a failed
// transaction still consumed its sequence number).
type TxResult struct {
	Hash     ledger.Hash32 `json:"hash"`
	Height   int64         `json:"height"`
	Code     uint32        `json:"code"`
	CodeName string        `json:"code_name"`
	Log      string        `json:"log,omitempty"`
}

// QueryResult is the answer of GET /v1/query/...: the ledger's JSON answer
// and the committed height it reflects.
type QueryResult struct {
	Height int64           `json:"height"`
	Value  json.RawMessage `json:"value"`
}

// APIStatus is the answer of GET /v1/status.
type APIStatus struct {
	ChainID  string        `json:"chain_id"`
	Node     string        `json:"node"` // moniker
	ProxyKey ledger.PubKey `json:"proxy_key"`
	Height   int64         `json:"height"` // latest committed height
	Time     int64         `json:"time"`   // its block time, unix nanoseconds
}

// APIError is the error body of every ledger route, shaped like the
// proxy's: {"error": {"code": "...", "message": "..."}}. LedgerCode is the
// ledger's result code when the ledger refused (ledger.CodeError maps it
// back to a sentinel); Hash names the transaction when one was received.
type APIError struct {
	Status     int            `json:"-"`
	Code       string         `json:"code"`
	Message    string         `json:"message"`
	LedgerCode uint32         `json:"ledger_code,omitempty"`
	Hash       *ledger.Hash32 `json:"hash,omitempty"`
}

func (e *APIError) Error() string { return "node API: " + e.Code + ": " + e.Message }

// CodeName is the stable name of a ledger result code, used as the error
// code of a refusal.
func CodeName(code uint32) string {
	switch code {
	case ledger.CodeOK:
		return "ok"
	case ledger.CodeMalformed:
		return "malformed"
	case ledger.CodeUnsupported:
		return "unsupported"
	case ledger.CodeInvalid:
		return "invalid"
	case ledger.CodeWrongChain:
		return "wrong_chain"
	case ledger.CodeBadSignature:
		return "bad_signature"
	case ledger.CodeBadSequence:
		return "bad_sequence"
	case ledger.CodeNotFound:
		return "not_found"
	case ledger.CodeUnauthorized:
		return "unauthorized"
	case ledger.CodeUnknownNode:
		return "unknown_node"
	case ledger.CodeGrantRevoked:
		return "grant_revoked"
	case ledger.CodeGrantExpired:
		return "grant_expired"
	case ledger.CodeNotYetValid:
		return "not_yet_valid"
	case ledger.CodeAlreadyExists:
		return "already_exists"
	default:
		return "internal"
	}
}

// ledgerStatus is the HTTP status of a ledger refusal.
func ledgerStatus(code uint32) int {
	switch code {
	case ledger.CodeNotFound:
		return http.StatusNotFound
	case ledger.CodeUnauthorized, ledger.CodeBadSignature:
		return http.StatusForbidden
	case ledger.CodeBadSequence, ledger.CodeAlreadyExists:
		return http.StatusConflict
	case ledger.CodeGrantRevoked:
		return http.StatusGone
	case ledger.CodeInternal:
		return http.StatusInternalServerError
	case ledger.CodeMalformed, ledger.CodeUnsupported:
		return http.StatusBadRequest
	default:
		return http.StatusUnprocessableEntity
	}
}

func ledgerRefusal(code uint32, log string) *APIError {
	return &APIError{Status: ledgerStatus(code), Code: CodeName(code), Message: log, LedgerCode: code}
}

// ledgerAPI serves the ledger routes of one node.
type ledgerAPI struct {
	n       *Node
	pending chan struct{}
}

func (n *Node) registerLedgerAPI(mux *http.ServeMux) {
	a := &ledgerAPI{n: n, pending: make(chan struct{}, maxPendingSubmits)}
	mux.HandleFunc(RouteSubmitTx, a.serveSubmit)
	mux.HandleFunc(RouteTx, a.serveTx)
	mux.HandleFunc(RouteQuery, a.serveQuery)
	mux.HandleFunc(RouteStatus, a.serveStatus)
}

func (a *ledgerAPI) serveSubmit(w http.ResponseWriter, r *http.Request) {
	select {
	case a.pending <- struct{}{}:
		defer func() { <-a.pending }()
	default:
		writeAPIError(w, &APIError{Status: http.StatusServiceUnavailable, Code: "busy", Message: "too many transactions waiting for commit"})
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, ledger.MaxTxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeAPIError(w, &APIError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "transaction longer than ledger.MaxTxBytes"})
			return
		}
		writeAPIError(w, &APIError{Status: http.StatusBadRequest, Code: "malformed", Message: "reading the body failed"})
		return
	}
	if len(raw) == 0 {
		writeAPIError(w, &APIError{Status: http.StatusBadRequest, Code: "malformed", Message: "empty body: send the encoded transaction"})
		return
	}
	hash := ledger.TxHash(raw)
	ctx, cancel := context.WithTimeout(r.Context(), CommitTimeout)
	defer cancel()
	p, err := a.n.Client().Broadcast(ctx, raw)
	if err != nil {
		e := &APIError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "node could not take the transaction", Hash: &hash}
		if errors.Is(err, ErrRejected) {
			// CheckTx refused: the message is the ledger's log, which names
			// the rule broken and never carries secrets (ledger/SPEC.md).
			code := ledger.Code(err)
			e = ledgerRefusal(code, strings.TrimPrefix(err.Error(), ErrRejected.Error()+": "))
			e.Hash = &hash
		}
		writeAPIError(w, e)
		return
	}
	c, _ := p.Wait(ctx) // a failure in the block comes back in c.Code
	if c == nil {
		writeAPIError(w, &APIError{Status: http.StatusGatewayTimeout, Code: "commit_timeout",
			Message: "transaction admitted but not committed in time; ask GET /v1/tx/{hash}", Hash: &hash})
		return
	}
	writeAPIJSON(w, http.StatusOK, txResult(c))
}

func txResult(c *Committed) TxResult {
	return TxResult{Hash: c.Hash, Height: c.Height, Code: c.Code, CodeName: CodeName(c.Code), Log: c.Log}
}

func (a *ledgerAPI) serveTx(w http.ResponseWriter, r *http.Request) {
	var h ledger.Hash32
	if err := h.UnmarshalText([]byte(r.PathValue("hash"))); err != nil {
		writeAPIError(w, &APIError{Status: http.StatusBadRequest, Code: "malformed", Message: "hash must be 64 hex digits"})
		return
	}
	res, err := a.n.Client().rpc.Tx(r.Context(), h[:], false)
	if err != nil {
		// CometBFT answers "not found" as an error; anything else is too.
		writeAPIError(w, &APIError{Status: http.StatusNotFound, Code: "not_found", Message: "no committed transaction with this hash", Hash: &h})
		return
	}
	writeAPIJSON(w, http.StatusOK, txResult(&Committed{Hash: h, Height: res.Height, Code: res.TxResult.Code, Log: res.TxResult.Log}))
}

// queryRoots are the ledger query paths the API passes through.
var queryRoots = map[string]bool{"status": true, "nodes": true, "account": true, "record": true,
	"grant": true, "records": true, "grants": true, "audit": true}

func (a *ledgerAPI) serveQuery(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	root, _, _ := strings.Cut(p, "/")
	if !queryRoots[root] {
		writeAPIError(w, &APIError{Status: http.StatusNotFound, Code: "unknown_query", Message: "no such query path"})
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "start" && k != "limit" {
			writeAPIError(w, &APIError{Status: http.StatusBadRequest, Code: "malformed", Message: "query parameters are start and limit only"})
			return
		}
	}
	path := "/" + p
	if len(q) > 0 {
		path += "?" + url.Values(q).Encode()
	}
	if len(path) > ledger.MaxQueryPath {
		writeAPIError(w, &APIError{Status: http.StatusRequestURITooLong, Code: "too_large", Message: "query path too long"})
		return
	}
	res, err := a.n.app.Query(r.Context(), &abci.RequestQuery{Path: path})
	if err != nil {
		writeAPIError(w, &APIError{Status: http.StatusInternalServerError, Code: "internal", Message: "query failed"})
		return
	}
	if res.Code != ledger.CodeOK {
		writeAPIError(w, ledgerRefusal(res.Code, res.Log))
		return
	}
	writeAPIJSON(w, http.StatusOK, QueryResult{Height: res.Height, Value: res.Value})
}

func (a *ledgerAPI) serveStatus(w http.ResponseWriter, _ *http.Request) {
	h, t, _ := a.n.app.LastCommit()
	var key ledger.PubKey
	if a.n.px != nil && a.n.px.svc != nil {
		key = a.n.px.svc.NodeKey()
	}
	writeAPIJSON(w, http.StatusOK, APIStatus{ChainID: a.n.app.ChainID(), Node: a.n.settings.Moniker,
		ProxyKey: key, Height: h, Time: t})
}

func writeAPIError(w http.ResponseWriter, e *APIError) {
	writeAPIJSON(w, e.Status, struct {
		Error *APIError `json:"error"`
	}{e})
}

func writeAPIJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
