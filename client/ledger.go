package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// ledgerConn reads and writes the ledger through the nodes' HTTP APIs and believes no single
// node (SPEC.md §3): what it reports as committed, and every answer a decision rests on, is
// confirmed by f+1 nodes of the registry in network.json (f = ⌊(n−1)/3⌋ of its n nodes), so at
// least one honest node vouches for it. Every answer must carry the signature of the node
// the client asked, by the proxy key network.json gives it.
type ledgerConn struct {
	http    *http.Client
	chainID string
	nodes   []protocol.Node
	f       int
	first   atomic.Uint32 // the node that answered last: asked first next time
	lied    func(Lie)     // records a node caught lying
	// seen is the height of this session's last confirmed commit: answers from before it
	// are not counted, so that a read after a write sees the write.
	seen atomic.Int64
}

// maxLedgerAnswer bounds one answer: a page of at most protocol.MaxPage grants with their
// node lists.
const maxLedgerAnswer = 4 << 20

// txWait bounds how long a submission whose outcome is unknown (a node timed out or vanished
// after taking it) is looked for on the nodes. It covers a quorum coming back: a restarted
// validator can take tens of seconds to be redialled by its peers.
const txWait = time.Minute

// confirmWait bounds how long a commit one node reports is awaited on the others before the
// report counts as a lie and the transaction goes through another node. Honest nodes commit
// the same block within moments of each other.
const confirmWait = 10 * time.Second

// firstWait is how long the first confirmation round waits on each node for the block a
// node said it committed: honest nodes commit it within moments of each other.
const firstWait = 2 * time.Second

// agreeWait bounds how long the nodes may take to agree on a read: lagging nodes catch up
// within a block or two.
const agreeWait = 8 * time.Second

// newerWait bounds how long a quorum waits for the nodes behind a newer answer to catch up:
// a Put by one process read by the next must not be not_found because f+1 nodes are a block
// behind, while a lying node claiming a height the others never reach delays a read by no
// more than this.
const newerWait = 2 * time.Second

// perRequest bounds one request to one node, so a node that hangs costs a bounded wait
// before the next is asked: above the node's own commit timeout.
const perRequest = protocol.CommitTimeout + 5*time.Second

// Lie is an answer of a node that the network contradicts, or one it did not sign.
type Lie struct {
	Node string // its name in network.json
	What string
}

func (l Lie) Error() string { return "node " + l.Node + " " + l.What }
func (l Lie) Unwrap() error { return ErrLied }

// ErrNoQuorum: fewer than f+1 nodes gave the same answer in time.
var ErrNoQuorum = errors.New("client: the nodes do not agree")

// nodeFailure is an answer that says nothing about the ledger: the node is down, busy, or
// answered garbage. Another node may do better.
type nodeFailure struct {
	node string
	err  error
}

func (e *nodeFailure) Error() string { return e.node + ": " + e.err.Error() }
func (e *nodeFailure) Unwrap() error { return e.err }

// do sends one request to node i and decodes a 2xx answer into out. A refusal comes back as
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

// ledgerRefusal reports whether err is the ledger's refusal (as opposed to the node's own
// trouble, which another node may not have).
func ledgerRefusal(err error) (*protocol.Error, bool) {
	var e *protocol.Error
	return e, errors.As(err, &e) && e.LedgerCode != 0 && e.Status < 500
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

func (l *ledgerConn) lie(i int, format string, args ...any) {
	if l.lied != nil {
		l.lied(Lie{Node: l.nodes[i].Name, What: fmt.Sprintf(format, args...)})
	}
}

// vote is one node's answer to a read: what it says (key: the decisive part of the value,
// or the refusal's code), at which height.
type vote struct {
	node   int
	key    string
	height int64
	time   int64 // block time of height
	value  json.RawMessage
	err    error // the ledger's refusal, when the vote is one
}

// decisive turns a query's value into what must agree across nodes; nil means the whole
// value as the node wrote it.
type decisive func(json.RawMessage) ([]byte, error)

// ask asks node i for path and turns the answer into a vote; ok is false when the node gave
// no usable answer (down, busy, unsigned, not its key).
func (l *ledgerConn) ask(ctx context.Context, i int, path string, key decisive) (vote, bool, error) {
	var res protocol.QueryResult
	err := l.do(ctx, i, http.MethodGet, "/v1/query"+path, nil, &res)
	if e, ok := ledgerRefusal(err); ok {
		return vote{node: i, key: "refused:" + e.Code, height: e.Height, err: e}, true, nil
	}
	if err != nil {
		return vote{}, false, err
	}
	if res.Node != l.nodes[i].ProxyKey || !res.Verify(l.chainID, path) {
		l.lie(i, "answered %s without its signature", path)
		return vote{}, false, fmt.Errorf("%w: %s: answer not signed by the node", ErrNodeAnswer, l.nodes[i].Name)
	}
	k := []byte(res.Value)
	if key != nil {
		if k, err = key(res.Value); err != nil {
			l.lie(i, "answered %s with a value that does not parse: %v", path, err)
			return vote{}, false, fmt.Errorf("%w: %s: %v", ErrNodeAnswer, l.nodes[i].Name, err)
		}
	}
	return vote{node: i, key: "value:" + string(k), height: res.Height, time: res.Time, value: res.Value}, true, nil
}

// answered says when a confirmed answer holds: the height of the quorum member whose value
// is used, and the earliest block time among the quorum's answers — one at least one honest
// node has reached.
type answered struct {
	height int64
	time   int64
}

// confirmed reads path until f+1 nodes answer the same (by key), and returns that answer:
// the value of the quorum member that answered first, or the refusal they agree on. Nodes
// that contradict the quorum at a height one of its members answered at are recorded as
// lying.
func (l *ledgerConn) confirmed(ctx context.Context, path string, key decisive) (json.RawMessage, answered, error) {
	ctx, cancel := context.WithTimeout(ctx, agreeWait)
	defer cancel()
	need := l.f + 1
	votes := map[int]vote{} // the latest vote of each node
	var failures []error
	order := l.order()
	askSome := func(idx []int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, i := range idx {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, ok, err := l.ask(ctx, i, path, key)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case ok && v.height < l.seen.Load():
					delete(votes, i) // behind this session's last commit: asked again
				case ok:
					votes[i] = v
				case err != nil:
					failures = append(failures, err)
				}
			}()
		}
		wg.Wait()
	}
	start := time.Now()
	askSome(order[:min(need, len(order))])
	for round := 0; ; round++ {
		if q, ok := quorum(votes, need); ok && (round > 0 || q[0].err == nil) && (!newer(votes, q) || time.Since(start) > newerWait) {
			l.blame(votes, q, path)
			l.first.Store(uint32(q[0].node))
			if q[0].err != nil {
				return nil, answered{}, q[0].err
			}
			at := answered{height: q[0].height, time: q[0].time}
			for _, v := range q {
				at.time = min(at.time, v.time)
			}
			return q[0].value, at, nil
		}
		if ctx.Err() != nil {
			break
		}
		if round > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(min(round, 5)) * 50 * time.Millisecond):
			}
		}
		askSome(order) // everyone: the ones not asked yet, and the ones whose answer may have moved on
	}
	if len(votes) < need {
		return nil, answered{}, fmt.Errorf("%w: %d nodes answered %s, %d needed: %w", ErrUnavailable, len(votes), path, need, errors.Join(failures...))
	}
	return nil, answered{}, fmt.Errorf("%w on %s: %s", ErrNoQuorum, path, describeVotes(l.nodes, votes))
}

// quorum finds need votes with the same key, in node order of their answers. When two
// groups qualify (nodes on either side of a block), the one answering at the higher height
// is the ledger as it is now.
func quorum(votes map[int]vote, need int) ([]vote, bool) {
	groups := map[string][]vote{}
	for _, v := range votes {
		groups[v.key] = append(groups[v.key], v)
	}
	var best []vote
	for _, g := range groups {
		if len(g) < need {
			continue
		}
		slices.SortFunc(g, func(a, b vote) int { return a.node - b.node })
		if best == nil || top(g) > top(best) || top(g) == top(best) && g[0].node < best[0].node {
			best = g
		}
	}
	return best, best != nil
}

// top is the highest height among votes.
func top(votes []vote) int64 {
	var h int64
	for _, v := range votes {
		h = max(h, v.height)
	}
	return h
}

// newer says whether a node outside the quorum answered from a height above all of it: the
// quorum may be a block behind.
func newer(votes map[int]vote, q []vote) bool {
	h := top(q)
	for _, v := range votes {
		if v.key != q[0].key && v.height > h {
			return true
		}
	}
	return false
}

// blame records the nodes whose signed answer contradicts the quorum at a height a quorum
// member answered at: the ledger's state at one height is one state.
func (l *ledgerConn) blame(votes map[int]vote, q []vote, path string) {
	if q[0].err != nil {
		return // a refusal carries no height
	}
	heights := map[int64]bool{}
	for _, v := range q {
		heights[v.height] = true
	}
	for _, v := range votes {
		if v.key != q[0].key && v.err == nil && heights[v.height] {
			l.lie(v.node, "answered %s at height %d differently from %d other nodes at that height", path, v.height, len(q))
		}
	}
}

func describeVotes(nodes []protocol.Node, votes map[int]vote) string {
	var parts []string
	for i, v := range votes {
		what := fmt.Sprintf("answered at height %d", v.height)
		if v.err != nil {
			what = "refused: " + v.err.Error()
		}
		parts = append(parts, nodes[i].Name+" "+what)
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// query reads path, confirmed by f+1 nodes on the decisive part of the value, into out.
func (l *ledgerConn) query(ctx context.Context, path string, key decisive, out any) (answered, error) {
	v, at, err := l.confirmed(ctx, path, key)
	if err != nil {
		return at, classify(err)
	}
	if err := json.Unmarshal(v, out); err != nil {
		return at, fmt.Errorf("%w: query %s: %v", ErrNodeAnswer, path, err)
	}
	return at, nil
}

// status asks node i who it is and how far its ledger is; the answer must be signed by the
// key network.json gives the node, for this chain.
func (l *ledgerConn) status(ctx context.Context, i int) (*protocol.Status, error) {
	var st protocol.Status
	if err := l.do(ctx, i, http.MethodGet, "/v1/status", nil, &st); err != nil {
		return nil, err
	}
	if st.ProxyKey != l.nodes[i].ProxyKey || st.ChainID != l.chainID || !st.Verify() {
		l.lie(i, "answered its status without its signature or for another chain")
		return nil, &nodeFailure{l.nodes[i].Name, fmt.Errorf("%w: status not signed by the node", ErrNodeAnswer)}
	}
	return &st, nil
}

// blockTime is a block time at least one honest node has reached: the earliest of the first
// f+1 signed statuses to come, so f nodes claiming a later time change nothing (one claiming
// an earlier time can only make a grant look live that the ledger then refuses).
func (l *ledgerConn) blockTime(ctx context.Context) (*protocol.Status, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan *protocol.Status, len(l.nodes))
	for i := range l.nodes {
		go func() {
			st, _ := l.status(ctx, i)
			answers <- st
		}()
	}
	var got []*protocol.Status
	for range l.nodes {
		if st := <-answers; st != nil {
			if got = append(got, st); len(got) == l.f+1 {
				break
			}
		}
	}
	if len(got) < l.f+1 {
		return nil, fmt.Errorf("%w: %d nodes gave their status, %d needed", ErrUnavailable, len(got), l.f+1)
	}
	return slices.MinFunc(got, func(a, b *protocol.Status) int { return cmp.Compare(a.Time, b.Time) }), nil
}

// txVote is one node's signed word on a transaction: committed at Height with Code.
type txVote struct {
	node int
	res  protocol.TxResult
}

func (v txVote) key() string { return fmt.Sprintf("%d/%d", v.res.Height, v.res.Code) }

// verifyTx checks that res is node i's signed result for hash.
func (l *ledgerConn) verifyTx(i int, hash protocol.Hash32, res *protocol.TxResult) bool {
	return res.Hash == hash && res.Node == l.nodes[i].ProxyKey && res.Verify(l.chainID)
}

// lookTx asks node i whether hash is committed, waiting up to wait for it to commit there:
// (vote, true) when it says so, signed.
func (l *ledgerConn) lookTx(ctx context.Context, i int, hash protocol.Hash32, wait time.Duration) (txVote, bool) {
	path := "/v1/tx/" + hash.String()
	if wait > 0 {
		path += "?wait=" + wait.String()
	}
	var res protocol.TxResult
	if l.do(ctx, i, http.MethodGet, path, nil, &res) != nil {
		return txVote{}, false
	}
	if !l.verifyTx(i, hash, &res) {
		l.lie(i, "answered GET /v1/tx/%s without its signature", hash)
		return txVote{}, false
	}
	return txVote{i, res}, true
}

// confirmTx waits until f+1 nodes say, signed, that hash is committed at the same height
// with the same code, counting known (a node's answer already in hand), for up to wait. It
// returns the agreed result, or nil when no f+1 agree in time — or sooner, once f+1 other
// nodes two blocks past a claimed height still do not have the transaction: then the claim
// is false.
func (l *ledgerConn) confirmTx(ctx context.Context, hash protocol.Hash32, known []txVote, wait time.Duration) *protocol.TxResult {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	votes := map[int]txVote{}
	claimed := int64(-1)
	for _, v := range known {
		votes[v.node] = v
		claimed = max(claimed, v.res.Height)
	}
	type answer struct {
		node  int
		vote  txVote
		ok    bool
		ahead bool // past the claimed height by two blocks, without the transaction
	}
	for round := 0; ; round++ {
		if res := l.agreed(hash, votes); res != nil {
			return res
		}
		if ctx.Err() != nil {
			return nil
		}
		// Ask every node without a vote; count answers as they come, so that f+1 agreeing
		// end the wait whatever the slowest node does.
		rctx, rcancel := context.WithCancel(ctx)
		answers := make(chan answer, len(l.nodes))
		asked := 0
		for i := range l.nodes {
			if _, have := votes[i]; have {
				continue
			}
			asked++
			go func() {
				// The first round waits on the nodes for the block (long poll); later ones
				// look again, and check whether the nodes are past a claimed height.
				var w time.Duration
				if round == 0 && claimed >= 0 {
					w = firstWait
				}
				if v, ok := l.lookTx(rctx, i, hash, w); ok {
					answers <- answer{node: i, vote: v, ok: true}
					return
				}
				ahead := false
				if claimed >= 0 {
					st, err := l.status(rctx, i)
					ahead = err == nil && st.Height >= claimed+2
				}
				answers <- answer{node: i, ahead: ahead}
			}()
		}
		without := 0
		for ; asked > 0; asked-- {
			a := <-answers
			if a.ok {
				votes[a.node] = a.vote
				if res := l.agreed(hash, votes); res != nil {
					rcancel()
					return res
				}
			} else if a.ahead {
				without++
			}
		}
		rcancel()
		if without >= l.f+1 {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(min(round+1, 10)) * 25 * time.Millisecond):
		}
	}
}

// agreed returns the result f+1 of the votes agree on, recording the votes that differ as
// lies, or nil.
func (l *ledgerConn) agreed(hash protocol.Hash32, votes map[int]txVote) *protocol.TxResult {
	counts := map[string][]txVote{}
	for _, v := range votes {
		counts[v.key()] = append(counts[v.key()], v)
	}
	for _, g := range counts {
		if len(g) < l.f+1 {
			continue
		}
		for _, v := range votes {
			if v.key() != g[0].key() {
				l.lie(v.node, "said transaction %s committed at height %d with code %d; %d nodes say height %d, code %d",
					hash, v.res.Height, v.res.Code, len(g), g[0].res.Height, g[0].res.Code)
			}
		}
		res := g[0].res
		return &res
	}
	return nil
}

// submit sends a signed transaction and returns its result once f+1 nodes say, signed, that
// it is committed with that result. A node that claims a commit the others do not confirm
// is recorded as lying and the transaction goes through the next node; a refusal before
// the block (CheckTx) is final once f+1 nodes refuse it alike. A failure in the block returns
// the result and the classified error.
func (l *ledgerConn) submit(ctx context.Context, raw []byte) (*protocol.TxResult, error) {
	hash := protocol.TxHash(raw)
	var errs []error
	refusals := map[string]int{}
	ambiguous := false // a node may hold the transaction: look before resending
	for _, i := range l.order() {
		if ambiguous {
			if v, ok := l.lookTx(ctx, i, hash, 0); ok {
				if res := l.confirmTx(ctx, hash, []txVote{v}, confirmWait); res != nil {
					return l.done(res)
				}
			}
		}
		var res protocol.TxResult
		err := l.do(ctx, i, http.MethodPost, "/v1/tx", raw, &res)
		if e, ok := ledgerRefusal(err); ok {
			// Not admitted. A lying node could refuse anything, so the refusal stands only
			// when f+1 nodes give it.
			errs = append(errs, fmt.Errorf("%s: %w", l.nodes[i].Name, e))
			if refusals[e.Code]++; refusals[e.Code] >= l.f+1 {
				return nil, classify(e)
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
			ambiguous = true
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if !l.verifyTx(i, hash, &res) {
			l.lie(i, "answered its commit of %s without its signature", hash)
			errs = append(errs, fmt.Errorf("%w: %s: answer not signed by the node", ErrNodeAnswer, l.nodes[i].Name))
			ambiguous = true
			continue
		}
		if agreed := l.confirmTx(ctx, hash, []txVote{{i, res}}, confirmWait); agreed != nil {
			l.first.Store(uint32(i))
			return l.done(agreed)
		}
		// No other node confirms what node i claims: it swallowed the transaction or made up
		// the result. Send it through the next node.
		l.lie(i, "said transaction %s committed at height %d, which no other node confirms", hash, res.Height)
		errs = append(errs, fmt.Errorf("%s: claimed a commit no other node confirms", l.nodes[i].Name))
		ambiguous = true
	}
	if ambiguous && ctx.Err() == nil {
		if res := l.confirmTx(ctx, hash, nil, txWait); res != nil {
			return l.done(res)
		}
	}
	if len(refusals) > 0 && !ambiguous {
		return nil, fmt.Errorf("%w: the nodes refused alike by fewer than %d: %w", ErrNoQuorum, l.f+1, errors.Join(errs...))
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

// done turns a confirmed result into the caller's answer: the result, and the ledger's
// refusal when the transaction failed in its block.
func (l *ledgerConn) done(res *protocol.TxResult) (*protocol.TxResult, error) {
	for cur := l.seen.Load(); res.Height > cur && !l.seen.CompareAndSwap(cur, res.Height); cur = l.seen.Load() {
	}
	if err := res.Err(); err != nil {
		return res, classify(err)
	}
	return res, nil
}
