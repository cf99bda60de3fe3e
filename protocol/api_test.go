package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// A node signs its ledger answers (TxResult, QueryResult, Status) with its proxy key: each
// signature verifies after a JSON round trip, and fails once any signed field, the chain or
// the node is changed.

func sampleTxResult() *protocol.TxResult {
	return &protocol.TxResult{Hash: protocol.Hash32{1, 2, 3}, Height: 42, Code: protocol.ErrTxExpired.LedgerCode,
		CodeName: "tx_expired", Log: "expired at …"}
}

// jsonRoundTrip passes v through its JSON form, as a client receives it.
func jsonRoundTrip[T any](t *testing.T, v *T) *T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	back := new(T)
	if err := json.Unmarshal(b, back); err != nil {
		t.Fatal(err)
	}
	return back
}

func TestTxResultSignature(t *testing.T) {
	node, other := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	r := sampleTxResult()
	if err := r.Sign(testChain, node.Signer); err != nil {
		t.Fatal(err)
	}
	if r.Node != node.Key || r.Signature == (protocol.Sig{}) {
		t.Fatalf("Sign did not set the node and the signature: %+v", r)
	}
	back := jsonRoundTrip(t, r)
	if !back.Verify(testChain) {
		t.Fatal("a signed result does not verify after a JSON round trip")
	}
	// The log and the code name are for people: not signed.
	back.Log, back.CodeName = "anything", "ok"
	if !back.Verify(testChain) {
		t.Fatal("the log is signed")
	}
	for name, tamper := range map[string]func(r *protocol.TxResult){
		"hash":      func(r *protocol.TxResult) { r.Hash[31] ^= 1 },
		"height":    func(r *protocol.TxResult) { r.Height++ },
		"code":      func(r *protocol.TxResult) { r.Code = 0 },
		"node":      func(r *protocol.TxResult) { r.Node = other.Key },
		"signature": func(r *protocol.TxResult) { r.Signature[5] ^= 1 },
	} {
		c := *r
		tamper(&c)
		if c.Verify(testChain) {
			t.Errorf("%s changed: still verifies", name)
		}
	}
	if r.Verify("rr-other") {
		t.Error("verifies on another chain")
	}
	// Another node's signature does not pass for this node's.
	forged := *r
	if err := forged.Sign(testChain, other.Signer); err != nil {
		t.Fatal(err)
	}
	forged.Node = node.Key
	if forged.Verify(testChain) {
		t.Error("another node's signature verifies under this node's key")
	}
	if (&protocol.TxResult{}).Verify(testChain) {
		t.Error("an unsigned result verifies")
	}
}

func TestQueryResultSignature(t *testing.T) {
	node, other := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	const path = "/grant/" + "ab?start=1"
	r := &protocol.QueryResult{Height: 9, Value: json.RawMessage(`{"id":"ab","destroyed":[0,2]}`)}
	if err := r.Sign(testChain, path, node.Signer); err != nil {
		t.Fatal(err)
	}
	if r.Node != node.Key {
		t.Fatalf("Sign did not set the node: %+v", r)
	}
	back := jsonRoundTrip(t, r)
	if !back.Verify(testChain, path) {
		t.Fatal("a signed answer does not verify after a JSON round trip")
	}
	for name, tamper := range map[string]func(r *protocol.QueryResult){
		"height":    func(r *protocol.QueryResult) { r.Height-- },
		"value":     func(r *protocol.QueryResult) { r.Value = json.RawMessage(`{"id":"ab","destroyed":[0]}`) },
		"value ws":  func(r *protocol.QueryResult) { r.Value = append(json.RawMessage(" "), r.Value...) }, // the bytes are signed, not their meaning
		"node":      func(r *protocol.QueryResult) { r.Node = other.Key },
		"signature": func(r *protocol.QueryResult) { r.Signature[0] ^= 1 },
	} {
		c := *back
		tamper(&c)
		if c.Verify(testChain, path) {
			t.Errorf("%s changed: still verifies", name)
		}
	}
	for _, p := range []string{"/grant/ab", "/grant/ab?start=2", "/grant/ab?start=1&limit=1", ""} {
		if back.Verify(testChain, p) {
			t.Errorf("verifies for path %q", p)
		}
	}
	if back.Verify("rr-other", path) {
		t.Error("verifies on another chain")
	}
	// Paths are bounded as the node bounds them.
	long := "/nodes?" + strings.Repeat("x", protocol.MaxQueryPath)
	if err := r.Sign(testChain, long, node.Signer); !errors.Is(err, protocol.ErrTooLarge) {
		t.Errorf("signing an over-long path: %v", err)
	}
	if r.Verify(testChain, long) {
		t.Error("an over-long path verifies")
	}
	edge := "/" + strings.Repeat("x", protocol.MaxQueryPath-1)
	if err := r.Sign(testChain, edge, node.Signer); err != nil || !r.Verify(testChain, edge) {
		t.Errorf("a path of the maximum length: %v", err)
	}
}

func TestStatusSignature(t *testing.T) {
	node, other := protocoltest.NewAccount(testChain), protocoltest.NewAccount(testChain)
	st := &protocol.Status{ChainID: testChain, Node: "node0", Height: 7, Time: 1_767_225_600_000_000_000, AppHash: protocol.Hash32{9}}
	if err := st.Sign(node.Signer); err != nil {
		t.Fatal(err)
	}
	if st.ProxyKey != node.Key {
		t.Fatalf("Sign did not set the proxy key: %+v", st)
	}
	back := jsonRoundTrip(t, st)
	if !back.Verify() {
		t.Fatal("a signed status does not verify after a JSON round trip")
	}
	for name, tamper := range map[string]func(s *protocol.Status){
		"chain":     func(s *protocol.Status) { s.ChainID = "rr-other" },
		"proxy key": func(s *protocol.Status) { s.ProxyKey = other.Key },
		"height":    func(s *protocol.Status) { s.Height++ },
		"time":      func(s *protocol.Status) { s.Time++ },
		"app hash":  func(s *protocol.Status) { s.AppHash[0] ^= 1 },
		"signature": func(s *protocol.Status) { s.Signature[63] ^= 1 },
	} {
		c := *back
		tamper(&c)
		if c.Verify() {
			t.Errorf("%s changed: still verifies", name)
		}
	}
	// A chain id longer than any chain's is refused both ways, never signed over.
	long := &protocol.Status{ChainID: strings.Repeat("c", protocol.MaxChainID+1)}
	if err := long.Sign(node.Signer); !errors.Is(err, protocol.ErrInvalid) {
		t.Errorf("signing a status with an over-long chain id: %v", err)
	}
	if long.Verify() {
		t.Error("a status with an over-long chain id verifies")
	}
	huge := *back
	huge.ChainID = strings.Repeat("c", 1<<17) // longer than a u16 length prefix: must not panic
	if huge.Verify() {
		t.Error("a status with a huge chain id verifies")
	}
	edge := &protocol.Status{ChainID: strings.Repeat("c", protocol.MaxChainID)}
	if err := edge.Sign(node.Signer); err != nil || !edge.Verify() {
		t.Errorf("a chain id of the maximum length: %v", err)
	}
}

// TestAnswerDomainsDiffer: one signature never serves as another kind of answer. A status
// and a transaction result over the same chain, height and hash bytes sign different bytes.
func TestAnswerDomainsDiffer(t *testing.T) {
	node := protocoltest.NewAccount(testChain)
	r := sampleTxResult()
	q := &protocol.QueryResult{Height: r.Height, Value: json.RawMessage(`{}`)}
	st := &protocol.Status{ChainID: testChain, ProxyKey: node.Key, Height: r.Height}
	signs := [][]byte{r.SignBytes(testChain), q.SignBytes(testChain, "/nodes"), st.SignBytes(), vectorTxs()["revoke"].SignBytes()}
	for i := range signs {
		for j := range signs {
			if i != j && bytes.Equal(signs[i], signs[j]) {
				t.Errorf("answers %d and %d sign the same bytes", i, j)
			}
		}
	}
	prefixes := []string{"resilientrecords/api/tx-result/v1\x00", "resilientrecords/api/query-answer/v1\x00", "resilientrecords/api/status/v1\x00"}
	for i, p := range prefixes {
		if !bytes.HasPrefix(signs[i], []byte(p)) {
			t.Errorf("answer %d does not start with its domain %q: %q", i, p, signs[i][:min(len(signs[i]), 40)])
		}
	}
	if err := r.Sign(testChain, node.Signer); err != nil {
		t.Fatal(err)
	}
	// The transaction result's signature, moved onto a status of the same node, fails.
	st.Signature = r.Signature
	if st.Verify() {
		t.Error("a transaction result's signature verifies as a status")
	}
}
