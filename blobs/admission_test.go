package blobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/ledger/ledgertest"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// admittedNode is one blob service over a ledger with admission rules, and a clock the test
// moves.
type admittedNode struct {
	t     *testing.T
	chain string
	app   *ledgertest.Chain
	node  *umbral.Signer
	srv   *httptest.Server
	t0    time.Time

	mu  sync.Mutex
	now time.Time
}

func newAdmittedNode(t *testing.T, rules protocol.AdmissionRules, tune func(*Config)) *admittedNode {
	n := &admittedNode{t: t, chain: "rr-blobs-adm", t0: time.Now()}
	n.now = n.t0
	sk, _ := umbral.GenerateSecretKey()
	n.node = umbral.NewSigner(sk)
	var err error
	n.app, err = ledgertest.New(n.chain, ledger.GenesisState{Nodes: []protocol.Node{{Name: "solo", API: "http://127.0.0.1:1", ProxyKey: n.nodeKey()}},
		Admission: &rules}, n.t0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := local.Open(filepath.Join(t.TempDir(), "store"), &local.Options{MaxSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{Store: st, Ledger: n.app, Signer: n.node, Dir: t.TempDir(), MaxUpload: 8 << 20,
		Report: func(context.Context, protocol.Body) error { return nil }, Now: n.clock}
	if tune != nil {
		tune(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.srv = httptest.NewServer(svc.Handler())
	t.Cleanup(n.srv.Close)
	return n
}

func (n *admittedNode) nodeKey() protocol.PubKey { return protocol.PubKeyOf(n.node.VerifyingKey()) }

func (n *admittedNode) clock() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.now
}

func (n *admittedNode) advance(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.now = n.now.Add(d)
}

// admit commits the node operator's Admit of accounts on tier, at sequence seq.
func (n *admittedNode) admit(seq uint64, tier uint8, accounts ...*umbral.Signer) {
	var keys []protocol.PubKey
	for _, a := range accounts {
		keys = append(keys, protocol.PubKeyOf(a.VerifyingKey()))
	}
	admit, err := protocol.Sealed(n.node, n.chain, seq, n.t0.Add(time.Minute), &protocol.Admit{Tier: tier, Accounts: keys})
	if err != nil {
		n.t.Fatal(err)
	}
	if x, err := n.app.Block(n.t0.Add(time.Duration(seq+1)*time.Second), admit); err != nil || x.Results[0].Code != 0 {
		n.t.Fatalf("admit: %v %+v", err, x)
	}
}

// upload sends size random bytes as who; it returns the status, the error code and the
// Retry-After header.
func (n *admittedNode) upload(who *umbral.Signer, size int) (status int, code, retry string) {
	data := make([]byte, size)
	rand.Read(data)
	resp, err := http.DefaultClient.Do(signedUpload(n.t, n.srv.URL, n.chain, who, n.nodeKey(), bytes.NewReader(data), int64(size)))
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error protocol.Error `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error.Code, resp.Header.Get("Retry-After")
}

// TestUploadNeedsAdmissionAndRoom: on a network with admission rules an account nobody
// admitted may not upload, and an admitted one only what its allowance leaves, uploads
// waiting for their record included.
func TestUploadNeedsAdmissionAndRoom(t *testing.T) {
	rules := protocol.DefaultAdmission
	rules.Self.Bytes = 1000
	n := newAdmittedNode(t, rules, nil)
	alice := newSigner(t)
	if code, name, _ := n.upload(alice, 100); code != http.StatusForbidden || name != "not_admitted" {
		t.Fatalf("an upload by an account nobody admitted: %d %s", code, name)
	}
	n.admit(0, protocol.TierSelf, alice)
	if code, name, _ := n.upload(alice, 800); code != http.StatusCreated {
		t.Fatalf("an upload within the allowance: %d %s", code, name)
	}
	if code, name, _ := n.upload(alice, 300); code != http.StatusTooManyRequests || name != "quota" {
		t.Fatalf("an upload past the allowance, counting the one waiting for its record: %d %s", code, name)
	}
}

// TestSelfUploadsPaced: a self-enrolled account's uploads are paced in bytes, and all
// self-enrolled accounts share one budget; a large upload is let in and paid for after;
// accounts a registry node admitted are not paced.
func TestSelfUploadsPaced(t *testing.T) {
	n := newAdmittedNode(t, protocol.DefaultAdmission, func(c *Config) {
		c.SelfUploadRate, c.SelfUploadBurst = 1000, 2000
		c.SelfPoolUploadRate, c.SelfPoolUploadBurst = 3000, 3000
	})
	alice, bob, carol, dave := newSigner(t), newSigner(t), newSigner(t), newSigner(t)
	n.admit(0, protocol.TierSelf, alice, bob, carol)
	n.admit(1, protocol.TierMember, dave)
	want := func(who *umbral.Signer, size, status int, code, retry string) {
		t.Helper()
		if s, c, r := n.upload(who, size); s != status || c != code || r != retry {
			t.Fatalf("upload of %d: %d %q Retry-After %q, want %d %q %q", size, s, c, r, status, code, retry)
		}
	}
	want(alice, 1500, http.StatusCreated, "", "")
	want(alice, 1500, http.StatusCreated, "", "") // larger than what is left: let in, in debt
	want(alice, 10, http.StatusTooManyRequests, "rate_limited", "2")
	want(bob, 10, http.StatusCreated, "", "")                   // the pool: 3000 - 3000 - 10
	want(carol, 10, http.StatusServiceUnavailable, "busy", "1") // the pool is in debt
	want(dave, 4000, http.StatusCreated, "", "")                // a member is not paced
	n.advance(1100 * time.Millisecond)                          // alice's debt of 1000 is paid
	want(alice, 10, http.StatusCreated, "", "")                 // and the pool's too
	want(carol, 10, http.StatusCreated, "", "")                 //
	want(alice, 2000, http.StatusCreated, "", "")               // 90 left: let in again, 1910 in debt
	want(alice, 10, http.StatusTooManyRequests, "rate_limited", "2")
	n.advance(1950 * time.Millisecond) // the refusal took nothing
	want(alice, 10, http.StatusCreated, "", "")
}
