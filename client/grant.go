package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Fragments are the key fragments of one grant, one per node, in the
// grant's node order. They are secret until deposited: each opens the
// record together with threshold−1 others.
type Fragments struct {
	Threshold int
	Nodes     []protocol.GrantNode // for the Grant transaction
	kfrags    [][]byte
}

// MakeFragments splits the re-encryption key from the record's delegating
// key to the recipient's receiving key into one fragment per node, any
// threshold of which suffice (0: protocol.DefaultThreshold of a grant on the whole registry,
// when nodes are the registry; a grant on fewer nodes must name its threshold, which the
// ledger checks against the registry's f). The owner's
// signing key signs every fragment and binds both keys, so a node can
// check a fragment against the grant and the record before accepting it.
func MakeFragments(delegating *umbral.SecretKey, owner *umbral.Signer, receiving *umbral.PublicKey,
	nodes []protocol.PubKey, threshold int) (*Fragments, error) {
	if len(nodes) == 0 || len(nodes) > protocol.MaxGrantNodes {
		return nil, fmt.Errorf("client: a grant needs 1..%d nodes", protocol.MaxGrantNodes)
	}
	if threshold == 0 {
		threshold = protocol.DefaultThreshold(len(nodes), len(nodes))
	}
	vkfs, err := umbral.GenerateKFrags(delegating, receiving, owner, threshold, len(nodes), true, true)
	if err != nil {
		return nil, err
	}
	f := &Fragments{Threshold: threshold, Nodes: make([]protocol.GrantNode, len(nodes)), kfrags: make([][]byte, len(nodes))}
	for i, kf := range vkfs {
		b, err := kf.MarshalBinary()
		if err != nil {
			return nil, err
		}
		f.kfrags[i] = b
		f.Nodes[i] = protocol.GrantNode{Proxy: nodes[i], Commitment: protocol.Commitment(b)}
	}
	return f, nil
}

// KeyFrag returns the encoded fragment for the i-th node (for tests and
// for re-sending a deposit).
func (f *Fragments) KeyFrag(i int) []byte { return append([]byte(nil), f.kfrags[i]...) }

// DepositResult is one node's answer to a deposit.
type DepositResult struct {
	Node    protocol.PubKey
	Receipt *protocol.DepositReceipt // nil on error
	Err     error
}

// DepositError reports a deposit that reached fewer than threshold nodes:
// the grant cannot be used until more fragments are deposited.
type DepositError struct {
	Threshold int
	Accepted  int
	Results   []DepositResult
}

func (e *DepositError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: deposit accepted by %d nodes, threshold is %d", e.Accepted, e.Threshold)
	for _, r := range e.Results {
		if r.Err != nil {
			fmt.Fprintf(&b, "; node %s: %v", short(r.Node), r.Err)
		}
	}
	return b.String()
}

func short(k protocol.PubKey) string { return k.String()[:16] }

// Deposit sends every node of the grant, committed at height, its fragment, sealed to the
// node's key, in parallel, and checks each receipt (a node a block or two behind waits for
// the grant's block). nodes must include the grant's nodes (matched by key; others are
// ignored). It returns one result per grant node, and a *DepositError if fewer than
// threshold nodes accepted. A node that was down can be sent its fragment again later.
func (c *API) Deposit(ctx context.Context, chainID string, grant protocol.ID, height int64, f *Fragments, nodes []protocol.Node) ([]DepositResult, error) {
	urls := urlsByKey(nodes)
	res := make([]DepositResult, len(f.Nodes))
	var wg sync.WaitGroup
	for i, gn := range f.Nodes {
		res[i].Node = gn.Proxy
		url, ok := urls[gn.Proxy]
		if !ok {
			res[i].Err = errors.New("client: no address for node")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i].Receipt, res[i].Err = c.depositOne(ctx, chainID, grant, height, gn, f.kfrags[i], url)
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range res {
		if r.Err == nil {
			ok++
		}
	}
	if ok < f.Threshold {
		return res, &DepositError{Threshold: f.Threshold, Accepted: ok, Results: res}
	}
	return res, nil
}

// ErrBadReceipt: a node answered with a receipt that does not verify or
// does not match what was asked.
var ErrBadReceipt = errors.New("client: bad receipt from node")

func (c *API) depositOne(ctx context.Context, chainID string, grant protocol.ID, height int64, gn protocol.GrantNode, kfrag []byte, url string) (*protocol.DepositReceipt, error) {
	d, err := protocol.SealDeposit(chainID, grant, gn.Proxy, kfrag)
	if err != nil {
		return nil, err
	}
	d.Height = height
	var rc protocol.DepositReceipt
	if err := c.post(ctx, url+"/v1/grants/"+grant.String()+"/fragment", d, &rc); err != nil {
		return nil, err
	}
	if rc.Node != gn.Proxy || rc.Grant != grant || rc.Commitment != gn.Commitment || !rc.Verify(chainID) {
		return nil, ErrBadReceipt
	}
	return &rc, nil
}

// urlsByKey maps the nodes' proxy keys to their API base URLs.
func urlsByKey(nodes []protocol.Node) map[protocol.PubKey]string {
	urls := make(map[protocol.PubKey]string, len(nodes))
	for _, n := range nodes {
		urls[n.ProxyKey] = n.URL()
	}
	return urls
}
