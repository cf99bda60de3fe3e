package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// RequestLifetime is how long a signed re-encryption request stays valid;
// nodes refuse bounds further away than a few minutes.
const RequestLifetime = 2 * time.Minute

// Access names a committed access request and what the cfrags are checked
// against: the grant and the record as committed.
type Access struct {
	ChainID   string
	Grant     *protocol.GrantState
	Record    *protocol.Record
	RequestTx protocol.Hash32 // the committed RequestAccess transaction
	Height    int64           // the block it committed in (a node behind it waits to catch up)
}

// Outcome classifies one node's part in a gathering.
type Outcome int

const (
	NotAsked    Outcome = iota
	Verified            // answered with a cfrag and receipt that verify
	Refused             // answered with a refusal (*protocol.Error)
	Lied                // answered with a cfrag or receipt that does not verify
	Unreachable         // no usable answer (network error, timeout, garbage)
)

func (o Outcome) String() string {
	return [...]string{"not asked", "verified", "refused", "lied", "unreachable"}[o]
}

// NodeResult is what one node did.
type NodeResult struct {
	Node    protocol.PubKey
	Outcome Outcome
	Err     error                  // why, for Refused, Lied and Unreachable
	Receipt *protocol.CFragReceipt // for Verified
}

// Gathered is the result of a successful gathering: exactly threshold
// verified cfrags, their receipts, and what every node did.
type Gathered struct {
	CFrags   []*umbral.VerifiedCapsuleFrag
	Receipts []*protocol.CFragReceipt
	Nodes    []NodeResult
}

// ErrThreshold is wrapped by *GatherError.
var ErrThreshold = errors.New("client: fewer than threshold verified capsule fragments")

// ErrLied is matched by every lie a node is caught in: an invalid capsule fragment or
// receipt (the Err of a node that Lied), and every Lie a Session records.
var ErrLied = errors.New("client: node lied")

// GatherError reports a gathering that ran out of nodes.
type GatherError struct {
	Threshold int
	Verified  int
	Nodes     []NodeResult
}

func (e *GatherError) Unwrap() error { return ErrThreshold }

// Count returns how many nodes had outcome o.
func (e *GatherError) Count(o Outcome) int {
	n := 0
	for _, r := range e.Nodes {
		if r.Outcome == o {
			n++
		}
	}
	return n
}

func (e *GatherError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: %d of %d capsule fragments: %d verified, %d refused, %d lied, %d unreachable",
		e.Verified, e.Threshold, e.Count(Verified), e.Count(Refused), e.Count(Lied), e.Count(Unreachable))
	for _, r := range e.Nodes {
		if r.Err != nil {
			fmt.Fprintf(&b, "; node %s %s: %v", short(r.Node), r.Outcome, r.Err)
		}
	}
	return b.String()
}

type answer struct {
	i       int
	cf      *umbral.VerifiedCapsuleFrag
	receipt *protocol.CFragReceipt
	outcome Outcome
	err     error
}

// Gather asks the grant's nodes for capsule fragments, threshold of them at
// once in the grant's node order, and verifies each answer: the cfrag's
// proof against the owner's, the record's and the recipient's keys, and
// the node's receipt. A node that refuses, lies or fails is recorded and
// the next untried node asked. It returns as soon as threshold fragments
// verify, or a *GatherError when the nodes run out. signer is the
// recipient's signing key (the grant's RecipientSig).
func (c *API) Gather(ctx context.Context, a *Access, signer *umbral.Signer, nodes []protocol.Node) (*Gathered, error) {
	keys, err := accessKeys(a)
	if err != nil {
		return nil, err
	}
	urls := urlsByKey(nodes)
	t := a.Grant.Threshold
	results := make([]NodeResult, len(a.Grant.Nodes))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan answer, len(results))
	next, inFlight := 0, 0
	launch := func() bool {
		for next < len(results) {
			i := next
			next++
			results[i].Node = a.Grant.Nodes[i].Proxy
			url, ok := urls[results[i].Node]
			if !ok {
				results[i].Outcome, results[i].Err = Unreachable, errors.New("no address for node")
				continue
			}
			inFlight++
			go func() { answers <- c.askOne(ctx, a, keys, signer, i, url) }()
			return true
		}
		return false
	}
	for range t {
		if !launch() {
			break
		}
	}
	g := &Gathered{}
	seen := make(map[string]int)
	for inFlight > 0 {
		an := <-answers
		inFlight--
		r := &results[an.i]
		r.Outcome, r.Err, r.Receipt = an.outcome, an.err, an.receipt
		if an.outcome == Verified {
			// A node that replays another node's honest cfrag would make
			// decryption fail with repeating fragments. Nothing in a cfrag
			// names its node, so the later of the two is dropped as a lie.
			id := string(an.cf.CapsuleFrag().KeyFragID())
			if first, dup := seen[id]; dup {
				r.Outcome, r.Receipt = Lied, nil
				r.Err = fmt.Errorf("%w: same key fragment as node %s's answer (one of the two copied it)", ErrLied, short(results[first].Node))
			} else {
				seen[id] = an.i
				g.CFrags = append(g.CFrags, an.cf)
				g.Receipts = append(g.Receipts, an.receipt)
				if len(g.CFrags) == t {
					g.Nodes = results
					return g, nil
				}
				continue
			}
		}
		launch()
	}
	if ctx.Err() != nil && len(g.CFrags) < t {
		// The caller gave up; say so rather than blame nodes.
		for i := range results {
			if results[i].Outcome == NotAsked && i < next {
				results[i].Outcome, results[i].Err = Unreachable, ctx.Err()
			}
		}
	}
	return nil, &GatherError{Threshold: t, Verified: len(g.CFrags), Nodes: results}
}

type verifyKeys struct {
	owner, delegating, receiving *umbral.PublicKey
	capsule                      *umbral.Capsule
}

func accessKeys(a *Access) (*verifyKeys, error) {
	if a.Grant == nil || a.Record == nil || a.Grant.Record != a.Record.ID {
		return nil, errors.New("client: access needs the grant and its record")
	}
	if a.Grant.Threshold < 1 || a.Grant.Threshold > len(a.Grant.Nodes) {
		return nil, errors.New("client: grant threshold out of range")
	}
	signer := a.Grant.FragmentSigner() // a caregiver's, when one made the grant
	o, err1 := umbral.PublicKeyFromBytes(signer[:])
	d, err2 := umbral.PublicKeyFromBytes(a.Record.DelegatingKey[:])
	r, err3 := umbral.PublicKeyFromBytes(a.Grant.RecipientEnc[:])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("client: grant keys: %w", err)
	}
	c := new(umbral.Capsule)
	if err := c.UnmarshalBinary(a.Record.Capsule[:]); err != nil {
		return nil, fmt.Errorf("client: record capsule: %w", err)
	}
	return &verifyKeys{o, d, r, c}, nil
}

func (c *API) askOne(ctx context.Context, a *Access, k *verifyKeys, signer *umbral.Signer, i int, url string) answer {
	node := a.Grant.Nodes[i].Proxy
	req := &protocol.ReencryptRequest{RequestTx: a.RequestTx, Height: a.Height, Grant: a.Grant.ID,
		Capsule: a.Record.Capsule, Node: node, NotAfter: c.now().Add(RequestLifetime).UnixNano()}
	if err := req.Sign(a.ChainID, signer); err != nil {
		return answer{i: i, outcome: Unreachable, err: err}
	}
	var resp protocol.ReencryptResponse
	if err := c.post(ctx, url+"/v1/reencrypt", req, &resp); err != nil {
		var refusal *protocol.Error
		if errors.As(err, &refusal) {
			return answer{i: i, outcome: Refused, err: err}
		}
		return answer{i: i, outcome: Unreachable, err: err}
	}
	lie := func(format string, args ...any) answer {
		return answer{i: i, outcome: Lied, err: fmt.Errorf("%w: "+format, append([]any{ErrLied}, args...)...)}
	}
	rc := &resp.Receipt
	if rc.Node != node || rc.Grant != a.Grant.ID || rc.RequestTx != a.RequestTx ||
		!bytes.Equal(rc.CFragHash[:], sha256Of(resp.CFrag[:])) || !rc.Verify(a.ChainID) {
		return lie("receipt does not match the cfrag or the request")
	}
	var cf umbral.CapsuleFrag
	if err := cf.UnmarshalBinary(resp.CFrag[:]); err != nil {
		return lie("cfrag does not decode")
	}
	vcf, err := cf.Verify(k.capsule, k.owner, k.delegating, k.receiving)
	if err != nil {
		return lie("%w", err)
	}
	return answer{i: i, cf: vcf, receipt: rc, outcome: Verified}
}

func sha256Of(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
