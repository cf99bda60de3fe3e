package proxy_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/ledger/ledgertest"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/proxy"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// These tests drive the real ledger state machine (node.App: InitChain,
// FinalizeBlock, Commit on goleveldb) directly, one App per node fed the
// same blocks, as CometBFT would; only consensus is left out. Each node's
// proxy is served over HTTP on 127.0.0.1.

const chainID = "rr-proxy-test"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type testNode struct {
	sk     *umbral.SecretKey
	key    protocol.PubKey
	app    *ledgertest.Chain
	vault  *proxy.Vault
	svc    *proxy.Service
	srv    *httptest.Server
	dir    string
	frozen bool        // not fed blocks: a node that fell behind
	hookOn atomic.Bool // the vault's commit hook is attached
}

type chain struct {
	t      *testing.T
	clock  *clock
	nodes  []*testNode
	height int64
}

func newChain(t *testing.T, n int, tune func(*proxy.Config)) *chain {
	t.Helper()
	c := &chain{t: t, clock: &clock{t: time.Now().Truncate(time.Second)}}
	var infos []protocol.Node
	for i := 0; i < n; i++ {
		sk, err := umbral.GenerateSecretKey()
		if err != nil {
			t.Fatal(err)
		}
		nd := &testNode{sk: sk, key: protocol.PubKeyOf(sk.PublicKey()), dir: t.TempDir()}
		infos = append(infos, protocol.Node{Name: fmt.Sprint("n", i), API: "http://127.0.0.1:1", ProxyKey: nd.key})
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes {
		var err error
		if nd.app, err = ledgertest.New(chainID, ledger.GenesisState{Nodes: infos}, c.clock.Now()); err != nil {
			t.Fatal(err)
		}
		c.open(nd, tune)
	}
	c.block() // height 1
	return c
}

// open opens (or reopens) a node's vault and service from its dir, over its chain.
func (c *chain) open(nd *testNode, tune func(*proxy.Config)) {
	t := c.t
	var err error
	nd.vault, err = proxy.OpenVault(filepath.Join(nd.dir, "vault"), filepath.Join(nd.dir, "vault_key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nd.vault.Close() })
	nd.hookOn.Store(true)
	v := nd.vault
	nd.app.OnCommit = func(ci ledger.CommitInfo) {
		if nd.hookOn.Load() {
			v.OnCommit(ci)
		}
	}
	cfg := proxy.Config{Ledger: nd.app, ProxyKey: nd.sk, Vault: nd.vault, Now: c.clock.Now}
	if tune != nil {
		tune(&cfg)
	}
	nd.svc, err = proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nd.srv = httptest.NewServer(nd.svc.Handler())
	t.Cleanup(nd.srv.Close)
}

// block commits txs as the next block at the clock's time on every node
// that is not frozen, checks the app hashes agree, and returns the tx
// results.
func (c *chain) block(txs ...[]byte) []ledger.TxOutcome {
	c.t.Helper()
	c.height++
	var results []ledger.TxOutcome
	var hash []byte
	for _, nd := range c.nodes {
		if nd.frozen {
			continue
		}
		x, err := nd.app.Block(c.clock.Now(), txs...)
		if err != nil {
			c.t.Fatal(err)
		}
		if hash != nil && string(hash) != string(x.AppHash) {
			c.t.Fatal("nodes disagree on the app hash")
		}
		hash, results = x.AppHash, x.Results
	}
	return results
}

// commit commits one tx and fails the test unless it succeeds.
func (c *chain) commit(raw []byte) {
	c.t.Helper()
	if r := c.block(raw)[0]; r.Code != 0 {
		c.t.Fatalf("tx failed: code %d: %s", r.Code, r.Log)
	}
}

func (c *chain) snapshot() *ledger.Snapshot {
	c.t.Helper()
	for _, nd := range c.nodes {
		if !nd.frozen {
			s, err := nd.app.Committed()
			if err != nil {
				c.t.Fatal(err)
			}
			c.t.Cleanup(s.Release)
			return s
		}
	}
	c.t.Fatal("every node is frozen")
	return nil
}

func (c *chain) clientNodes() []protocol.Node {
	out := make([]protocol.Node, len(c.nodes))
	for i, nd := range c.nodes {
		out[i] = protocol.Node{Name: fmt.Sprint("n", i), ProxyKey: nd.key, API: nd.srv.URL}
	}
	return out
}

func (c *chain) keys() []protocol.PubKey {
	out := make([]protocol.PubKey, len(c.nodes))
	for i, nd := range c.nodes {
		out[i] = nd.key
	}
	return out
}

type user struct {
	id  *identity.Identity
	pk  protocol.PubKey
	seq uint64
}

func newUser(t *testing.T) *user {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return &user{id: id, pk: protocol.PubKeyOf(id.Public().Signing)}
}

// tx signs body at the user's next sequence and advances it.
func (u *user) tx(t *testing.T, body protocol.Body) []byte {
	t.Helper()
	tx := &protocol.Tx{ChainID: chainID, Sequence: u.seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: body}
	if err := tx.Sign(u.id.Signer()); err != nil {
		t.Fatal(err)
	}
	u.seq++
	return tx.Encode()
}

// record is a committed record whose capsule wraps fileKey.
type record struct {
	id         protocol.ID
	capsule    *umbral.Capsule
	ciphertext []byte
	fileKey    []byte
	delegating *umbral.SecretKey
}

func (c *chain) putRecord(owner *user) *record {
	t := c.t
	t.Helper()
	id := protocol.RecordID(chainID, owner.pk, owner.seq)
	dk, err := owner.id.DelegatingKey(id[:])
	if err != nil {
		t.Fatal(err)
	}
	r := &record{id: id, delegating: dk, fileKey: []byte("0123456789abcdef0123456789abcdef")}
	r.capsule, r.ciphertext, err = umbral.Encrypt(dk.PublicKey(), r.fileKey)
	if err != nil {
		t.Fatal(err)
	}
	b := &protocol.PutRecord{CID: []byte("bafy-test"), Size: 1, DelegatingKey: protocol.PubKeyOf(dk.PublicKey())}
	cb, _ := r.capsule.MarshalBinary()
	copy(b.Capsule[:], cb)
	c.commit(owner.tx(t, b))
	return r
}

type grant struct {
	id    protocol.ID
	frags *client.Fragments
	rec   *record
}

// grantTo commits a grant of rec to recipient over the given nodes (all
// when nil); notAfter 0 never expires.
func (c *chain) grantTo(owner *user, rec *record, recipient *user, nodes []protocol.PubKey, notAfter time.Time) *grant {
	c.t.Helper()
	return c.grantThreshold(owner, rec, recipient, nodes, 0, notAfter)
}

// grantThreshold is grantTo with a threshold (0: the default of a grant on every node).
func (c *chain) grantThreshold(owner *user, rec *record, recipient *user, nodes []protocol.PubKey, threshold int, notAfter time.Time) *grant {
	t := c.t
	t.Helper()
	if nodes == nil {
		nodes = c.keys()
	}
	f, err := client.MakeFragments(rec.delegating, owner.id.Signer(), recipient.id.Public().Receiving, nodes, threshold)
	if err != nil {
		t.Fatal(err)
	}
	g := &grant{id: protocol.GrantID(chainID, owner.pk, owner.seq), frags: f, rec: rec}
	b := &protocol.Grant{Record: rec.id, OwnerEnc: recipient.pk, RecipientSig: recipient.pk,
		RecipientEnc: protocol.PubKeyOf(recipient.id.Public().Receiving), Threshold: uint8(f.Threshold), Nodes: f.Nodes}
	if !notAfter.IsZero() {
		b.NotAfter = notAfter.UnixNano()
	}
	c.commit(owner.tx(t, b))
	return g
}

func (c *chain) deposit(g *grant) []client.DepositResult {
	c.t.Helper()
	res, err := (&client.API{}).Deposit(context.Background(), chainID, g.id, 0, g.frags, c.clientNodes())
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

// request commits a RequestAccess by recipient and returns the Access that
// names it.
func (c *chain) request(recipient *user, g *grant) *client.Access {
	t := c.t
	t.Helper()
	raw := recipient.tx(t, &protocol.RequestAccess{Grant: g.id, Purpose: "treatment"})
	c.commit(raw)
	snap := c.snapshot()
	hash := protocol.TxHash(raw)
	ref, err := snap.Request(hash)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := snap.Grant(g.id)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := snap.Record(g.rec.id)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Record != rec.ID {
		t.Fatalf("request indexed under record %s", ref.Record)
	}
	return &client.Access{ChainID: chainID, Grant: gs, Record: rec, RequestTx: hash}
}

func (c *chain) testClient() *client.API { return &client.API{Now: c.clock.Now} }

// serveWith replaces node i's HTTP server with one serving h.
func (c *chain) serveWith(i int, h http.Handler) {
	nd := c.nodes[i]
	nd.srv = httptest.NewServer(h)
	c.t.Cleanup(nd.srv.Close)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
