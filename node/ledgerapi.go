package node

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/internal/source"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// The ledger routes of the node's HTTP API (docs/api.md). Clients talk only to node API
// addresses, never to CometBFT's RPC, so these routes carry everything the SDK needs from
// the ledger: submit a transaction and wait for its block, read committed state, and see who
// the node is.

// Submissions waiting for their block are bounded in total, beyond which a node answers
// busy rather than hold more goroutines, and per source, so that one client cannot hold them
// all; each source also has a pace. Checking a transaction costs a signature verification
// before anything tells a stranger's junk apart.
const (
	maxPendingSubmits   = 256
	maxSourceSubmits    = 16
	submitRatePerSource = 50 // a second
	submitBurst         = 100
	maxSubmitSources    = 1 << 16
)

// ledgerAPI serves the ledger routes of one node.
type ledgerAPI struct {
	n       *Node
	sources *source.Resolver
	pending *source.Gate
	pace    *source.Limiter

	statusMu sync.Mutex
	status   protocol.Status // the last one signed: a status changes once a block
}

func (n *Node) registerLedgerAPI(mux *http.ServeMux, sources *source.Resolver) {
	a := &ledgerAPI{n: n, sources: sources, pending: source.NewGate(maxSourceSubmits, maxPendingSubmits),
		pace: source.NewLimiter(submitRatePerSource, submitBurst, maxSubmitSources)}
	mux.HandleFunc(protocol.RouteSubmitTx, a.serveSubmit)
	mux.HandleFunc(protocol.RouteTx, a.serveTx)
	mux.HandleFunc(protocol.RouteQuery, a.serveQuery)
	mux.HandleFunc(protocol.RouteStatus, a.serveStatus)
}

func (a *ledgerAPI) serveSubmit(w http.ResponseWriter, r *http.Request) {
	from := a.sources.Key(r)
	if !a.pace.Allow(from, time.Now()) {
		w.Header().Set("Retry-After", "1")
		protocol.WriteError(w, protocol.Errorf(protocol.ErrRateLimited, "more than %d transactions a second from this address", submitRatePerSource))
		return
	}
	release, full, ok := a.pending.Enter(from)
	if !ok {
		w.Header().Set("Retry-After", "1")
		if full {
			protocol.WriteError(w, protocol.Errorf(protocol.ErrBusy, "too many transactions waiting for commit"))
		} else {
			protocol.WriteError(w, protocol.Errorf(protocol.ErrRateLimited, "%d transactions from this address already wait for commit", maxSourceSubmits))
		}
		return
	}
	defer release()
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, protocol.MaxTxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			protocol.WriteError(w, protocol.Errorf(protocol.ErrTooLarge, "transaction longer than %d bytes", protocol.MaxTxBytes))
			return
		}
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "reading the body failed"))
		return
	}
	if len(raw) == 0 {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "empty body: send the encoded transaction"))
		return
	}
	hash := protocol.TxHash(raw)
	ctx, cancel := context.WithTimeout(r.Context(), protocol.CommitTimeout)
	defer cancel()
	p, err := a.n.RPC().Broadcast(ctx, raw)
	if err != nil {
		e := protocol.Errorf(protocol.ErrUnavailable, "node could not take the transaction")
		var refusal *protocol.Error
		if errors.Is(err, ErrRejected) && errors.As(err, &refusal) {
			// CheckTx refused: the message is the ledger's log, which names the rule broken
			// and never carries secrets (ledger/SPEC.md).
			e = refusal
		}
		e.Hash = &hash
		protocol.WriteError(w, e)
		return
	}
	c, _ := p.Wait(ctx) // a failure in the block comes back in c.Code
	if c == nil {
		e := protocol.Errorf(protocol.ErrCommitTimeout, "transaction admitted but not committed in time; ask GET /v1/tx/{hash}")
		e.Hash = &hash
		protocol.WriteError(w, e)
		return
	}
	a.writeResult(w, c)
}

// writeResult answers a committed transaction's result, signed by the node.
func (a *ledgerAPI) writeResult(w http.ResponseWriter, c *Committed) {
	res := c.result()
	if err := res.Sign(a.n.app.ChainID(), a.n.px.svc.Signer()); err != nil {
		protocol.WriteError(w, err)
		return
	}
	protocol.WriteJSON(w, http.StatusOK, res)
}

func (a *ledgerAPI) serveTx(w http.ResponseWriter, r *http.Request) {
	h, err := protocol.ParseHex[protocol.Hash32](r.PathValue("hash"))
	if err != nil {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "hash must be 64 hex digits"))
		return
	}
	// ?wait=DURATION (at most the commit timeout) answers as soon as the node commits the
	// transaction, so that a client confirming another node's answer need not poll.
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
			protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "wait must be a duration such as 2s"))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(wait, protocol.CommitTimeout))
	defer cancel()
	c, err := a.n.RPC().Committed(r.Context(), h)
	if err != nil && wait > 0 {
		c, err = a.n.RPC().Await(ctx, h)
	}
	if err != nil {
		e := protocol.Errorf(protocol.ErrNotFound, "no committed transaction with this hash")
		e.Hash = &h
		protocol.WriteError(w, e)
		return
	}
	a.writeResult(w, c)
}

func (a *ledgerAPI) serveQuery(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "start" && k != "limit" {
			protocol.WriteError(w, protocol.Errorf(protocol.ErrMalformed, "query parameters are start and limit only"))
			return
		}
	}
	path := "/" + r.PathValue("path")
	if len(q) > 0 {
		path += "?" + url.Values(q).Encode()
	}
	// The answer is signed for the path as the client sent it, which it checks against.
	asked := strings.TrimPrefix(r.URL.EscapedPath(), "/v1/query")
	if r.URL.RawQuery != "" {
		asked += "?" + r.URL.RawQuery
	}
	if len(path) > protocol.MaxQueryPath || len(asked) > protocol.MaxQueryPath {
		e := protocol.Errorf(protocol.ErrTooLarge, "query path longer than %d bytes", protocol.MaxQueryPath)
		e.Status = http.StatusRequestURITooLong
		protocol.WriteError(w, e)
		return
	}
	ans := a.n.app.query(path)
	if ans.err != nil {
		e := *protocol.ErrorOf(ans.err) // a copy: it may be a shared sentinel
		e.Height = ans.height
		protocol.WriteError(w, &e)
		return
	}
	res := protocol.QueryResult{Height: ans.height, Time: ans.time, Value: ans.value}
	if err := res.Sign(a.n.app.ChainID(), asked, a.n.px.svc.Signer()); err != nil {
		protocol.WriteError(w, err)
		return
	}
	protocol.WriteJSON(w, http.StatusOK, res)
}

func (a *ledgerAPI) serveStatus(w http.ResponseWriter, _ *http.Request) {
	if a.n.app.Provisional() {
		protocol.WriteError(w, protocol.Errorf(protocol.ErrUnavailable, "restored from a snapshot; no status is signed before the next block"))
		return
	}
	h, t, hash := a.n.app.LastCommit()
	st := protocol.Status{ChainID: a.n.app.ChainID(), Node: a.n.settings.Moniker, Height: h, Time: t}
	copy(st.AppHash[:], hash)
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	if signed := a.status; signed.Height == st.Height && signed.Time == st.Time && signed.AppHash == st.AppHash && signed.ChainID == st.ChainID {
		st = signed
	} else if err := st.Sign(a.n.px.svc.Signer()); err != nil {
		protocol.WriteError(w, err)
		return
	}
	a.status = st
	protocol.WriteJSON(w, http.StatusOK, st)
}
