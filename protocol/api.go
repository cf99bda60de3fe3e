package protocol

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// Routes of a node's HTTP API (docs/api.md), as Go 1.22 ServeMux patterns.
const (
	RouteSubmitTx  = "POST /v1/tx"
	RouteTx        = "GET /v1/tx/{hash}"
	RouteQuery     = "GET /v1/query/{path...}"
	RouteStatus    = "GET /v1/status"
	RouteDeposit   = "POST /v1/grants/{grant}/fragment"
	RouteReencrypt = "POST /v1/reencrypt"
	RouteUpload    = "POST /v1/blobs"
	RouteBlob      = "GET /v1/blobs/{cid}"
	RouteBlobCAR   = "GET /v1/blobs/{cid}/car"
)

// CommitTimeout bounds how long POST /v1/tx waits for the block: below the API server's
// write timeout, so the answer always gets out. A client that sees commit_timeout asks
// GET /v1/tx/{hash} later.
const CommitTimeout = 7 * time.Second

// RequestWindow is how long, in block time, a committed RequestAccess authorises
// re-encryption: one read, one committed request.
const RequestWindow = 2 * time.Minute

// MaxPage bounds the items of one paged query answer.
const MaxPage = 100

// MaxQueryPath bounds a query path.
const MaxQueryPath = 512

// Nodes sign their ledger answers with their proxy key (SPEC.md §11), so that an answer is
// evidence of what that node said: a client that catches a node lying can show it.
const (
	txResultDomain    = "resilientrecords/api/tx-result/v1\x00"
	queryAnswerDomain = "resilientrecords/api/query-answer/v1\x00"
	statusDomain      = "resilientrecords/api/status/v1\x00"
)

// TxResult is the answer of POST /v1/tx and GET /v1/tx/{hash}: the transaction is in block
// Height with result Code (0 for success), says Node.
type TxResult struct {
	Hash      Hash32 `json:"hash"`
	Height    int64  `json:"height"`
	Code      uint32 `json:"code"`
	CodeName  string `json:"code_name"`
	Log       string `json:"log,omitempty"` // not signed: for people
	Node      PubKey `json:"node"`
	Signature Sig    `json:"signature"`
}

// SignBytes is what the node signs.
func (r *TxResult) SignBytes(chainID string) []byte {
	return signingBytes(txResultDomain, chainID, func(w *writer) {
		w.raw(r.Hash[:])
		w.i64(r.Height)
		w.u64(uint64(r.Code))
	})
}

// Sign sets Node and Signature with the node's proxy key.
func (r *TxResult) Sign(chainID string, s *umbral.Signer) (err error) {
	r.Node = PubKeyOf(s.VerifyingKey())
	r.Signature, err = sign(s, r.SignBytes(chainID))
	return err
}

// Verify checks the signature under Node.
func (r *TxResult) Verify(chainID string) bool {
	return Verify(r.Node, r.SignBytes(chainID), r.Signature)
}

// Err is the result as an error: nil for success, else the ledger's refusal.
func (r *TxResult) Err() error {
	if r.Code == 0 {
		return nil
	}
	return LedgerError(r.Code, r.Log)
}

// QueryResult is the answer of GET /v1/query/{path}: the ledger's JSON answer and the
// committed height it reflects, says Node.
type QueryResult struct {
	Height    int64           `json:"height"`
	Time      int64           `json:"time"` // block time of Height, unix nanoseconds
	Value     json.RawMessage `json:"value"`
	Node      PubKey          `json:"node"`
	Signature Sig             `json:"signature"`
}

// SignBytes is what the node signs for the query path (as requested: the part of the URL
// after /v1/query, with its query string).
func (r *QueryResult) SignBytes(chainID, path string) []byte {
	sum := sha256.Sum256(r.Value)
	return signingBytes(queryAnswerDomain, chainID, func(w *writer) {
		w.str(path)
		w.i64(r.Height)
		w.i64(r.Time)
		w.raw(sum[:])
	})
}

// Sign sets Node and Signature with the node's proxy key.
func (r *QueryResult) Sign(chainID, path string, s *umbral.Signer) (err error) {
	if len(path) > MaxQueryPath {
		return Errorf(ErrTooLarge, "query path longer than %d bytes", MaxQueryPath)
	}
	r.Node = PubKeyOf(s.VerifyingKey())
	r.Signature, err = sign(s, r.SignBytes(chainID, path))
	return err
}

// Verify checks the signature under Node.
func (r *QueryResult) Verify(chainID, path string) bool {
	return len(path) <= MaxQueryPath && Verify(r.Node, r.SignBytes(chainID, path), r.Signature)
}

// Status is the answer of GET /v1/status: who the node is and its latest committed block.
type Status struct {
	ChainID   string `json:"chain_id"`
	Node      string `json:"node"` // the node's name in the registry
	ProxyKey  PubKey `json:"proxy_key"`
	Height    int64  `json:"height"`
	Time      int64  `json:"time"`     // block time of Height, unix nanoseconds
	AppHash   Hash32 `json:"app_hash"` // after Height
	Signature Sig    `json:"signature"`
}

// SignBytes is what the node signs.
func (st *Status) SignBytes() []byte {
	return signingBytes(statusDomain, st.ChainID, func(w *writer) {
		w.raw(st.ProxyKey[:])
		w.i64(st.Height)
		w.i64(st.Time)
		w.raw(st.AppHash[:])
	})
}

// Sign sets ProxyKey and Signature with the node's proxy key.
func (st *Status) Sign(s *umbral.Signer) (err error) {
	if len(st.ChainID) > MaxChainID {
		return Errorf(ErrInvalid, "chain id longer than %d bytes", MaxChainID)
	}
	st.ProxyKey = PubKeyOf(s.VerifyingKey())
	st.Signature, err = sign(s, st.SignBytes())
	return err
}

// Verify checks the signature under ProxyKey.
func (st *Status) Verify() bool {
	return len(st.ChainID) <= MaxChainID && Verify(st.ProxyKey, st.SignBytes(), st.Signature)
}

// Page is one page of a list query. Next is the start of the following page, -1 at the end.
type Page[T any] struct {
	Items []T   `json:"items"`
	Next  int64 `json:"next"`
}

// UploadAnswer is the answer of POST /v1/blobs.
type UploadAnswer struct {
	CID  string `json:"cid"`
	Size int64  `json:"size"`
}

// WriteJSON writes v as the answer with status. Every answer of a node is private to the one
// who asked: none may be cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteError writes err as {"error": {...}} with its status; an error that is not an *Error
// becomes internal with no details.
func WriteError(w http.ResponseWriter, err error) {
	e := ErrorOf(err)
	WriteJSON(w, e.Status, struct {
		Error *Error `json:"error"`
	}{e})
}

// ReadJSON decodes one JSON object of at most limit bytes from a request body, with no
// unknown fields and nothing after it.
func ReadJSON(w http.ResponseWriter, r *http.Request, limit int, v any) error {
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
		return Errorf(ErrTooLarge, "body longer than %d bytes", limit)
	default:
		return Errorf(ErrMalformed, "body: %v", err)
	}
}

// ErrBadAnswer wraps an answer from a node that does not parse.
var ErrBadAnswer = errors.New("malformed answer from node")

// ReadAnswer reads a node's answer of at most limit bytes: a 2xx answer is decoded into out
// (unless out is nil), any other comes back as an *Error. An answer that does not parse
// wraps ErrBadAnswer.
func ReadAnswer(resp *http.Response, limit int64, out any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return err
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("%w: longer than %d bytes", ErrBadAnswer, limit)
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error == nil || eb.Error.Code == "" {
			return fmt.Errorf("%w: HTTP %d", ErrBadAnswer, resp.StatusCode)
		}
		eb.Error.Status = resp.StatusCode
		return eb.Error
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	return nil
}
