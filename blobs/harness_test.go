package blobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/ledger/ledgertest"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/local"
	"github.com/resilientrecords/resilientrecords/umbral"
)

const netChain = "rr-blobs-net"

// network is n real blob services over one real ledger state machine (ledgertest: no
// CometBFT), each with its own embedded store and HTTP server, named in the genesis
// registry by their servers' URLs, so that they replicate from each other as nodes do.
type network struct {
	t     *testing.T
	chain *ledgertest.Chain
	nodes []*member
}

type member struct {
	svc *Service
	key protocol.PubKey
	url string
}

// newNetwork starts n services; tune adjusts each one's Config (i is its registry index),
// wrap (may be nil) wraps each one's handler.
func newNetwork(t *testing.T, n int, tune func(i int, c *Config), wrap func(i int, h http.Handler) http.Handler) *network {
	t.Helper()
	return newPlacedNetwork(t, n, 0, tune, wrap)
}

// newPlacedNetwork is newNetwork on a ledger that places each blob on replication nodes
// (0: all).
func newPlacedNetwork(t *testing.T, n, replication int, tune func(i int, c *Config), wrap func(i int, h http.Handler) http.Handler) *network {
	t.Helper()
	nw := &network{t: t}
	srvs := make([]*httptest.Server, n)
	sks := make([]*umbral.SecretKey, n)
	var reg []protocol.Node
	for i := range n {
		srvs[i] = httptest.NewUnstartedServer(nil)
		sks[i], _ = umbral.GenerateSecretKey()
		reg = append(reg, protocol.Node{Name: fmt.Sprint("n", i), API: "http://" + srvs[i].Listener.Addr().String(),
			ProxyKey: protocol.PubKeyOf(sks[i].PublicKey())})
	}
	chain, err := ledgertest.New(netChain, ledger.GenesisState{Nodes: reg, Replication: replication}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nw.chain = chain
	// Made before the cleanup below, so removed after it.
	var storeDirs, dirs []string
	for range n {
		storeDirs, dirs = append(storeDirs, t.TempDir()), append(dirs, t.TempDir())
	}
	// Every service stops before any server (a server's Close waits for the requests in
	// progress, fetches among them), and every server before the stores.
	var svcs []*Service
	var stores []io.Closer
	t.Cleanup(func() {
		for _, s := range svcs {
			s.Close()
		}
		for _, s := range srvs {
			s.Close()
		}
		for _, s := range stores {
			s.Close()
		}
	})
	for i := range n {
		st, err := local.Open(filepath.Join(storeDirs[i], "store"), &local.Options{MaxSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, st)
		cfg := Config{Store: st, Ledger: chain, Signer: umbral.NewSigner(sks[i]), Dir: dirs[i], MaxUpload: 8 << 20,
			Report: func(context.Context, protocol.Body) error { return nil }}
		if tune != nil {
			tune(i, &cfg)
		}
		svc, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var h http.Handler = svc.Handler()
		if wrap != nil {
			h = wrap(i, h)
		}
		srvs[i].Config.Handler = h
		srvs[i].Start()
		svc.Start()
		svcs = append(svcs, svc)
		nw.nodes = append(nw.nodes, &member{svc: svc, key: reg[i].ProxyKey, url: srvs[i].URL})
	}
	chain.OnCommit = func(ci ledger.CommitInfo) {
		for _, m := range nw.nodes {
			m.svc.OnCommit(ci)
		}
	}
	return nw
}

// commit runs txs as one block and fails the test unless every one succeeds.
func (nw *network) commit(txs ...[]byte) {
	nw.t.Helper()
	x, err := nw.chain.Block(time.Now(), txs...)
	if err != nil {
		nw.t.Fatal(err)
	}
	for i, r := range x.Results {
		if r.Code != 0 {
			nw.t.Fatalf("tx %d: code %d: %s", i, r.Code, r.Log)
		}
	}
}

// owner is a patient account that puts records.
type owner struct {
	id      *identity.Identity
	pk      protocol.PubKey
	seq     uint64
	capsule protocol.CapsuleBytes
	dk      protocol.PubKey
}

func newOwner(t *testing.T) *owner {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	o := &owner{id: id, pk: protocol.PubKeyOf(id.Public().Signing)}
	// One capsule serves every record: the ledger checks that it is a valid capsule, and
	// these tests never decrypt.
	dk, err := id.DelegatingKey([]byte("blobs tests"))
	if err != nil {
		t.Fatal(err)
	}
	capsule, _, err := umbral.Encrypt(dk.PublicKey(), []byte("file key"))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := capsule.MarshalBinary()
	copy(o.capsule[:], cb)
	o.dk = protocol.PubKeyOf(dk.PublicKey())
	return o
}

// tx signs body at the owner's next sequence.
func (o *owner) tx(t *testing.T, body protocol.Body) []byte {
	t.Helper()
	tx := &protocol.Tx{ChainID: netChain, Sequence: o.seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: body}
	if err := tx.Sign(o.id.Signer()); err != nil {
		t.Fatal(err)
	}
	o.seq++
	return tx.Encode()
}

// put returns a PutRecord of blob c, declared size bytes long, and the record's id.
func (o *owner) put(t *testing.T, c cid.Cid, size int) ([]byte, protocol.ID) {
	id := protocol.RecordID(netChain, o.pk, o.seq)
	return o.tx(t, &protocol.PutRecord{CID: []byte(c.String()), Size: uint64(size), Capsule: o.capsule, DelegatingKey: o.dk}), id
}

// junkCID names a blob nobody has.
func junkCID() cid.Cid {
	b := make([]byte, 32)
	rand.Read(b)
	h := sha256.Sum256(b)
	mh, _ := multihash.Encode(h[:], multihash.SHA2_256)
	return cid.NewCidV1(cid.Raw, mh)
}

// signedUpload is a POST /v1/blobs of size bytes from body, signed by signer for node on chain.
func signedUpload(t *testing.T, base, chain string, signer *umbral.Signer, node protocol.PubKey, body io.Reader, size int64) *http.Request {
	t.Helper()
	auth, err := protocol.SignUpload(signer, chain, node, size, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/blobs", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	auth.SetHeaders(req.Header)
	return req
}

// upload sends data to m, signed by signer, and returns the CID it answers.
func (m *member) upload(t *testing.T, signer *umbral.Signer, data []byte) cid.Cid {
	t.Helper()
	resp, err := http.DefaultClient.Do(signedUpload(t, m.url, netChain, signer, m.key, bytes.NewReader(data), int64(len(data))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: HTTP %d: %s", resp.StatusCode, b)
	}
	c, _, _ := local.CID(bytes.NewReader(data))
	return c
}

// eventually waits for cond, failing the test after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
