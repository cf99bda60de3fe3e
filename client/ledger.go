package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
)

// ledgerConn reads and writes the ledger through the nodes' HTTP APIs
// (node/ledgerapi.go), moving on to the next node when one is down or
// answers with a failure of its own rather than a ledger refusal.
type ledgerConn struct {
	http  *http.Client
	nodes []NetworkNode
	first atomic.Uint32 // the node that answered last: asked first next time
}

// maxLedgerAnswer bounds one answer: a page of at most ledger.MaxPage
// grants with their node lists.
const maxLedgerAnswer = 4 << 20

// txWait bounds how long a submission whose outcome is unknown (a node
// timed out or vanished after taking it) is looked for on the nodes. It
// covers a quorum coming back: a restarted validator can take tens of
// seconds to be redialled by its peers.
const txWait = time.Minute

// perRequest bounds one request to one node, so a node that hangs costs
// a bounded wait before the next is asked: above the node's own commit
// timeout (node.CommitTimeout).
const perRequest = node.CommitTimeout + 5*time.Second

// nodeFailure is an answer that says nothing about the ledger: the node is
// down, busy, or answered garbage. The next node may do better.
type nodeFailure struct {
	node string
	err  error
}

func (e *nodeFailure) Error() string { return e.node + ": " + e.err.Error() }
func (e *nodeFailure) Unwrap() error { return e.err }

// do sends one request to node i and decodes a 200 answer into out. A
// refusal comes back as *node.APIError, anything else as *nodeFailure.
func (l *ledgerConn) do(ctx context.Context, i int, method, path string, body []byte, out any) error {
	n := l.nodes[i]
	ctx, cancel := context.WithTimeout(ctx, perRequest)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(n.API, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return &nodeFailure{n.Name, err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLedgerAnswer+1))
	if err != nil {
		return &nodeFailure{n.Name, err}
	}
	if len(b) > maxLedgerAnswer {
		return &nodeFailure{n.Name, fmt.Errorf("%w: answer too long", ErrNodeAnswer)}
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error *node.APIError `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error == nil || eb.Error.Code == "" {
			return &nodeFailure{n.Name, fmt.Errorf("%w: HTTP %d", ErrNodeAnswer, resp.StatusCode)}
		}
		eb.Error.Status = resp.StatusCode
		return eb.Error
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &nodeFailure{n.Name, fmt.Errorf("%w: %v", ErrNodeAnswer, err)}
	}
	return nil
}

// ledgerErr turns a ledger refusal into the ledger's sentinel, classified
// for SDK callers (see errors.go).
func ledgerErr(e *node.APIError) error {
	if e.LedgerCode != 0 {
		return classify(fmt.Errorf("%w: %s", ledger.CodeError(e.LedgerCode), e.Message))
	}
	return e
}

// retryable reports whether another node might answer differently.
func retryable(err error) bool {
	var nf *nodeFailure
	if errors.As(err, &nf) {
		return true
	}
	var ae *node.APIError
	return errors.As(err, &ae) && ae.LedgerCode == 0 && ae.Status >= 500
}

// order lists node indexes starting with the one that answered last.
func (l *ledgerConn) order() []int {
	n := len(l.nodes)
	f := int(l.first.Load()) % n
	out := make([]int, n)
	for i := range out {
		out[i] = (f + i) % n
	}
	return out
}

// each calls fn on the nodes in order until one gives an answer that is
// not a node failure.
func (l *ledgerConn) each(ctx context.Context, fn func(i int) error) error {
	var errs []error
	for _, i := range l.order() {
		err := fn(i)
		if err == nil || !retryable(err) {
			if err == nil {
				l.first.Store(uint32(i))
			}
			return err
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

// query runs a ledger query path (see ledger.App.Query) and decodes the
// answer's value into out.
func (l *ledgerConn) query(ctx context.Context, path string, out any) (int64, error) {
	var res node.QueryResult
	err := l.each(ctx, func(i int) error { return l.do(ctx, i, http.MethodGet, "/v1/query"+path, nil, &res) })
	var ae *node.APIError
	if errors.As(err, &ae) {
		return 0, ledgerErr(ae)
	}
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(res.Value, out); err != nil {
		return 0, fmt.Errorf("%w: query %s: %v", ErrNodeAnswer, path, err)
	}
	return res.Height, nil
}

// status asks node i who it is and how far its ledger is.
func (l *ledgerConn) status(ctx context.Context, i int) (*node.APIStatus, error) {
	var st node.APIStatus
	if err := l.do(ctx, i, http.MethodGet, "/v1/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// submit sends a signed transaction and waits for its block. A refusal
// before the block (CheckTx) or a failure in it returns the classified
// ledger error; the result is returned with a failure in the block.
func (l *ledgerConn) submit(ctx context.Context, raw []byte) (*node.TxResult, error) {
	hash := ledger.TxHash(raw)
	var res node.TxResult
	ambiguous := false // a node may hold the transaction: look before resending
	err := l.each(ctx, func(i int) error {
		if ambiguous {
			if l.do(ctx, i, http.MethodGet, "/v1/tx/"+hex.EncodeToString(hash[:]), nil, &res) == nil {
				return nil
			}
		}
		err := l.do(ctx, i, http.MethodPost, "/v1/tx", raw, &res)
		var ae *node.APIError
		if err != nil && !(errors.As(err, &ae) && ae.LedgerCode != 0) {
			ambiguous = true
		}
		return err
	})
	if err != nil && ambiguous && ctx.Err() == nil {
		if r, ok := l.findTx(ctx, hash); ok {
			res, err = *r, nil
		}
	}
	var ae *node.APIError
	if errors.As(err, &ae) {
		return nil, ledgerErr(ae)
	}
	if err != nil {
		return nil, err
	}
	if res.Hash != hash {
		return nil, fmt.Errorf("%w: answer names another transaction", ErrNodeAnswer)
	}
	if res.Code != ledger.CodeOK {
		return &res, classify(fmt.Errorf("%w: %s", ledger.CodeError(res.Code), res.Log))
	}
	return &res, nil
}

// findTx polls the nodes for a transaction that one of them took but did
// not see committed in time.
func (l *ledgerConn) findTx(ctx context.Context, hash ledger.Hash32) (*node.TxResult, bool) {
	ctx, cancel := context.WithTimeout(ctx, txWait)
	defer cancel()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		for i := range l.nodes {
			var r node.TxResult
			if l.do(ctx, i, http.MethodGet, "/v1/tx/"+hex.EncodeToString(hash[:]), nil, &r) == nil && r.Hash == hash {
				return &r, true
			}
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-t.C:
		}
	}
}

// waitHeight waits, briefly, until every reachable node has committed h,
// so that a proxy asked next already knows what was just committed.
// Unreachable nodes are skipped: they are the gather's problem.
func (l *ledgerConn) waitHeight(ctx context.Context, h int64, within time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for i := range l.nodes {
		for ctx.Err() == nil {
			st, err := l.status(ctx, i)
			if err != nil || st.Height >= h {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}
