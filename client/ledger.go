package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// ledgerConn reads and writes the ledger through the nodes' HTTP APIs, moving on to the next
// node when one is down or answers with a failure of its own rather than a ledger refusal.
type ledgerConn struct {
	http  *http.Client
	nodes []protocol.Node
	first atomic.Uint32 // the node that answered last: asked first next time
}

// maxLedgerAnswer bounds one answer: a page of at most protocol.MaxPage grants with their
// node lists.
const maxLedgerAnswer = 4 << 20

// txWait bounds how long a submission whose outcome is unknown (a node timed out or vanished
// after taking it) is looked for on the nodes. It covers a quorum coming back: a restarted
// validator can take tens of seconds to be redialled by its peers.
const txWait = time.Minute

// perRequest bounds one request to one node, so a node that hangs costs a bounded wait
// before the next is asked: above the node's own commit timeout.
const perRequest = protocol.CommitTimeout + 5*time.Second

// nodeFailure is an answer that says nothing about the ledger: the node is down, busy, or
// answered garbage. The next node may do better.
type nodeFailure struct {
	node string
	err  error
}

func (e *nodeFailure) Error() string { return e.node + ": " + e.err.Error() }
func (e *nodeFailure) Unwrap() error { return e.err }

// do sends one request to node i and decodes a 200 answer into out. A refusal comes back as
// *protocol.Error, anything else as *nodeFailure.
func (l *ledgerConn) do(ctx context.Context, i int, method, path string, body []byte, out any) error {
	n := l.nodes[i]
	ctx, cancel := context.WithTimeout(ctx, perRequest)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.URL()+path, rd)
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
	err = protocol.ReadAnswer(resp, maxLedgerAnswer, out)
	var refusal *protocol.Error
	if err != nil && !errors.As(err, &refusal) {
		return &nodeFailure{n.Name, err}
	}
	return err
}

// retryable reports whether another node might answer differently: the node failed, or
// refused for a reason of its own (5xx) rather than the ledger's.
func retryable(err error) bool {
	var nf *nodeFailure
	if errors.As(err, &nf) {
		return true
	}
	var e *protocol.Error
	return errors.As(err, &e) && e.LedgerCode == 0 && e.Status >= 500
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

// each calls fn on the nodes in order until one gives an answer that is not a node failure.
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

// query runs a ledger query path (ledger/SPEC.md §9) and decodes the answer's value into out.
func (l *ledgerConn) query(ctx context.Context, path string, out any) (int64, error) {
	var res protocol.QueryResult
	err := l.each(ctx, func(i int) error { return l.do(ctx, i, http.MethodGet, "/v1/query"+path, nil, &res) })
	if err != nil {
		return 0, classify(err)
	}
	if err := json.Unmarshal(res.Value, out); err != nil {
		return 0, fmt.Errorf("%w: query %s: %v", ErrNodeAnswer, path, err)
	}
	return res.Height, nil
}

// status asks node i who it is and how far its ledger is.
func (l *ledgerConn) status(ctx context.Context, i int) (*protocol.Status, error) {
	var st protocol.Status
	if err := l.do(ctx, i, http.MethodGet, "/v1/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// submit sends a signed transaction and waits for its block. A refusal before the block
// (CheckTx) or a failure in it returns the classified ledger error; the result is returned
// with a failure in the block.
func (l *ledgerConn) submit(ctx context.Context, raw []byte) (*protocol.TxResult, error) {
	hash := protocol.TxHash(raw)
	var res protocol.TxResult
	ambiguous := false // a node may hold the transaction: look before resending
	err := l.each(ctx, func(i int) error {
		if ambiguous {
			if l.do(ctx, i, http.MethodGet, "/v1/tx/"+hash.String(), nil, &res) == nil {
				return nil
			}
		}
		err := l.do(ctx, i, http.MethodPost, "/v1/tx", raw, &res)
		var e *protocol.Error
		if err != nil && !(errors.As(err, &e) && e.LedgerCode != 0) {
			ambiguous = true
		}
		return err
	})
	if err != nil && ambiguous && ctx.Err() == nil {
		if r, ok := l.findTx(ctx, hash); ok {
			res, err = *r, nil
		}
	}
	if err != nil {
		return nil, classify(err)
	}
	if res.Hash != hash {
		return nil, fmt.Errorf("%w: answer names another transaction", ErrNodeAnswer)
	}
	if err := res.Err(); err != nil {
		return &res, classify(err)
	}
	return &res, nil
}

// findTx polls the nodes for a transaction that one of them took but did not see committed
// in time.
func (l *ledgerConn) findTx(ctx context.Context, hash protocol.Hash32) (*protocol.TxResult, bool) {
	ctx, cancel := context.WithTimeout(ctx, txWait)
	defer cancel()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		for i := range l.nodes {
			var r protocol.TxResult
			if l.do(ctx, i, http.MethodGet, "/v1/tx/"+hash.String(), nil, &r) == nil && r.Hash == hash {
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

// waitHeight waits, briefly, until every reachable node has committed h, so that a proxy
// asked next already knows what was just committed. Unreachable nodes are skipped: they are
// the gather's problem.
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
