package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/proxy"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// One 4-validator network, each node serving its proxy API on its
// registered address, carries every subtest below in order.

type pnet struct {
	t     *testing.T
	ctx   context.Context
	nw    *node.LocalNet
	chain string
	nodes []protocol.Node // from the ledger's registry
}

type puser struct {
	id  *identity.Identity
	pk  protocol.PubKey
	seq uint64
}

func newPUser(t *testing.T) *puser {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return &puser{id: id, pk: protocol.PubKeyOf(id.Public().Signing)}
}

// submit commits body signed by u and waits until every running node's
// app has committed it.
func (p *pnet) submit(u *puser, body protocol.Body) protocol.Hash32 {
	p.t.Helper()
	tx := &protocol.Tx{ChainID: p.chain, Sequence: u.seq, Expires: time.Now().Add(10 * time.Minute).UnixNano(), Body: body}
	if err := tx.Sign(u.id.Signer()); err != nil {
		p.t.Fatal(err)
	}
	raw := tx.Encode()
	// Node 3 is never stopped below; a node catching up would refuse the
	// account's next sequence.
	c, err := p.nw.Node(3).RPC().Submit(p.ctx, raw)
	if err != nil {
		p.t.Fatalf("%s: %v", body.Type(), err)
	}
	u.seq++
	p.waitApps(c.Height)
	return protocol.TxHash(raw)
}

// catchUpTimeout bounds waits for a restarted node to catch up. It is generous because a
// restarted in-process node can wait on its peers' redial backoff and pong timeouts (seen at
// well over 30 s on a loaded 2-core host), which says nothing about the proxy under test.
const catchUpTimeout = 2 * time.Minute

func (p *pnet) waitApps(h int64) {
	p.t.Helper()
	deadline := time.Now().Add(catchUpTimeout)
	for {
		done := true
		for _, n := range p.nw.Running() {
			if got, _, _ := n.App().LastCommit(); got < h {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("nodes did not commit height %d", h)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *pnet) snapshot() *ledger.Snapshot {
	p.t.Helper()
	s, err := p.nw.Running()[0].App().Committed()
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(s.Release)
	return s
}

func (p *pnet) keys() []protocol.PubKey {
	out := make([]protocol.PubKey, len(p.nodes))
	for i, n := range p.nodes {
		out[i] = n.ProxyKey
	}
	return out
}

type precord struct {
	id         protocol.ID
	delegating *umbral.SecretKey
	capsule    *umbral.Capsule
	ciphertext []byte
	fileKey    []byte
}

func (p *pnet) put(owner *puser) *precord {
	p.t.Helper()
	id := protocol.RecordID(p.chain, owner.pk, owner.seq)
	dk, err := owner.id.DelegatingKey(id[:])
	if err != nil {
		p.t.Fatal(err)
	}
	r := &precord{id: id, delegating: dk, fileKey: bytes.Repeat([]byte{0x5a}, 32)}
	if r.capsule, r.ciphertext, err = umbral.Encrypt(dk.PublicKey(), r.fileKey); err != nil {
		p.t.Fatal(err)
	}
	b := &protocol.PutRecord{CID: []byte("bafy-node-test"), Size: 1, DelegatingKey: protocol.PubKeyOf(dk.PublicKey())}
	cb, _ := r.capsule.MarshalBinary()
	copy(b.Capsule[:], cb)
	p.submit(owner, b)
	return r
}

type pgrant struct {
	id    protocol.ID
	frags *client.Fragments
	rec   *precord
}

func (p *pnet) grant(owner *puser, rec *precord, to *puser, notAfter time.Time) *pgrant {
	p.t.Helper()
	f, err := client.MakeFragments(rec.delegating, owner.id.Signer(), to.id.Public().Receiving, p.keys(), 0)
	if err != nil {
		p.t.Fatal(err)
	}
	g := &pgrant{id: protocol.GrantID(p.chain, owner.pk, owner.seq), frags: f, rec: rec}
	b := &protocol.Grant{Record: rec.id, OwnerEnc: to.pk, RecipientSig: to.pk, RecipientEnc: protocol.PubKeyOf(to.id.Public().Receiving), Nodes: f.Nodes}
	if !notAfter.IsZero() {
		b.NotAfter = notAfter.UnixNano()
	}
	p.submit(owner, b)
	return g
}

func (p *pnet) deposit(g *pgrant) ([]client.DepositResult, error) {
	return (&client.API{}).Deposit(p.ctx, p.chain, g.id, 0, g.frags, p.nodes)
}

func (p *pnet) request(to *puser, g *pgrant) *client.Access {
	p.t.Helper()
	hash := p.submit(to, &protocol.RequestAccess{Grant: g.id, Purpose: "care"})
	snap := p.snapshot()
	ref, err := snap.Request(hash)
	if err != nil {
		p.t.Fatal(err)
	}
	gs, err := snap.Grant(g.id)
	if err != nil {
		p.t.Fatal(err)
	}
	rec, err := snap.Record(g.rec.id)
	if err != nil {
		p.t.Fatal(err)
	}
	if ref.Record != rec.ID {
		p.t.Fatalf("request indexed under record %s", ref.Record)
	}
	return &client.Access{ChainID: p.chain, Grant: gs, Record: rec, RequestTx: hash}
}

func (p *pnet) gather(a *client.Access, who *puser, nodes []protocol.Node) (*client.Gathered, error) {
	return (&client.API{}).Gather(p.ctx, a, who.id.Signer(), nodes)
}

func (p *pnet) open(rec *precord, to *puser, got *client.Gathered) {
	p.t.Helper()
	key, err := umbral.DecryptReencrypted(to.id.ReceivingKey(), rec.delegating.PublicKey(), rec.capsule, got.CFrags, rec.ciphertext)
	if err != nil {
		p.t.Fatal(err)
	}
	if !bytes.Equal(key, rec.fileKey) {
		p.t.Fatal("file key differs")
	}
}

func refusedBy(t *testing.T, err error, n int, want *protocol.Error) {
	t.Helper()
	var ge *client.GatherError
	if !errors.As(err, &ge) || ge.Count(client.Refused) != n {
		t.Fatalf("got %v, want %d refusals", err, n)
	}
	for _, r := range ge.Nodes {
		if r.Outcome == client.Refused && !errors.Is(r.Err, want) {
			t.Fatalf("refused with %v, want %s", r.Err, want.Code)
		}
	}
}

// serve runs h on 127.0.0.1 for the rest of the test.
func serve(t *testing.T, h http.Handler) string {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func withURL(nodes []protocol.Node, i int, url string) []protocol.Node {
	out := append([]protocol.Node(nil), nodes...)
	out[i].API = url
	return out
}

// corrupting answers with node's real cfrag, one bit flipped before the
// kfrag signature, under a receipt re-signed by the node's own key: only
// the cfrag's proof gives it away.
func corrupting(t *testing.T, h http.Handler, sk *umbral.SecretKey, chain string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var resp protocol.ReencryptResponse
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &resp) != nil {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		for i := len(resp.CFrag) - 70; i >= 0; i-- {
			bad := resp.CFrag
			bad[i] ^= 1
			var cf umbral.CapsuleFrag
			if cf.UnmarshalBinary(bad[:]) == nil {
				resp.CFrag = bad
				break
			}
		}
		resign(t, &resp, sk, chain)
		json.NewEncoder(w).Encode(&resp)
	})
}

func resign(t *testing.T, resp *protocol.ReencryptResponse, sk *umbral.SecretKey, chain string) {
	resp.Receipt.CFragHash = protocol.Hash32(sha256Sum(resp.CFrag[:]))
	sig, err := umbral.NewSigner(sk).Sign(resp.Receipt.SignBytes(chain))
	if err != nil {
		t.Error(err)
		return
	}
	copy(resp.Receipt.Signature[:], sig.Bytes())
}

// keeper is a Byzantine node that kept its fragment and ignores the
// ledger: it re-encrypts for anyone who asks.
func keeper(t *testing.T, kfrag []byte, capsule *umbral.Capsule, sk *umbral.SecretKey, chain string) http.Handler {
	var kf umbral.KeyFrag
	if err := kf.UnmarshalBinary(kfrag); err != nil {
		t.Fatal(err)
	}
	vkf := kf.SkipVerification()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req protocol.ReencryptRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(400)
			return
		}
		cf, err := umbral.Reencrypt(capsule, vkf)
		if err != nil {
			t.Error(err)
			return
		}
		resp := protocol.ReencryptResponse{Receipt: protocol.CFragReceipt{Node: req.Node, Grant: req.Grant, RequestTx: req.RequestTx, Height: 1}}
		b, _ := cf.MarshalBinary()
		copy(resp.CFrag[:], b)
		resign(t, &resp, sk, chain)
		json.NewEncoder(w).Encode(&resp)
	})
}

// waitGone waits until no node's vault holds grant's fragment: the commit
// hook runs right after the committed height becomes visible.
func waitGone(t *testing.T, nw *node.LocalNet, grant protocol.ID) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		held := 0
		for i := range nw.Homes() {
			if nw.Node(i).Vault().Has(grant) {
				held++
			}
		}
		if held == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d nodes still hold the fragment", held)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProxyNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{ChainID: "rr-proxy-net"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Stop() })
	p := &pnet{t: t, ctx: ctx, nw: nw, chain: nw.ChainID()}
	reg, err := p.snapshot().Nodes()
	if err != nil {
		t.Fatal(err)
	}
	p.nodes = reg
	proxyKeys := make([]*umbral.SecretKey, len(reg))
	for i, h := range nw.Homes() {
		if proxyKeys[i], err = node.LoadProxyKey(h); err != nil {
			t.Fatal(err)
		}
		if protocol.PubKeyOf(proxyKeys[i].PublicKey()) != reg[i].ProxyKey || nw.Node(i).Proxy().NodeKey() != reg[i].ProxyKey {
			t.Fatalf("node %d serves another key than the registry's", i)
		}
	}

	owner, doctor, stranger := newPUser(t), newPUser(t), newPUser(t)
	rec := p.put(owner)
	other := p.put(owner)
	g := p.grant(owner, rec, doctor, time.Time{})
	var access, g2access *client.Access
	var g2 *pgrant

	t.Run("grant, deposit to all 4, t=3 cfrags open the file key", func(t *testing.T) {
		res, err := p.deposit(g)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("node %d: %v", i, r.Err)
			}
			if !nw.Node(i).Vault().Has(g.id) {
				t.Fatalf("node %d: vault lacks the fragment", i)
			}
		}
		access = p.request(doctor, g)
		got, err := p.gather(access, doctor, p.nodes)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.CFrags) != 3 {
			t.Fatalf("%d cfrags", len(got.CFrags))
		}
		p.open(rec, doctor, got)
	})

	t.Run("replay by another identity or for another record is refused", func(t *testing.T) {
		_, err := p.gather(access, stranger, p.nodes)
		refusedBy(t, err, 4, protocol.ErrBadSignature)
		og := p.grant(owner, other, doctor, time.Time{})
		if _, err := p.deposit(og); err != nil {
			t.Fatal(err)
		}
		oa := p.request(doctor, og)
		// The doctor's request under grant g, with the other record's capsule.
		forged := *access
		forgedRec := *access.Record
		forgedRec.Capsule = oa.Record.Capsule
		forged.Record = &forgedRec
		_, err = p.gather(&forged, doctor, p.nodes)
		refusedBy(t, err, 4, protocol.ErrWrongCapsule)
		// The other grant's request presented under grant g.
		forged = *access
		forged.RequestTx = oa.RequestTx
		_, err = p.gather(&forged, doctor, p.nodes)
		refusedBy(t, err, 4, protocol.ErrRequestNotCommitted)
	})

	t.Run("Byzantine node corrupting its cfrag is caught", func(t *testing.T) {
		bad := serve(t, corrupting(t, nw.Node(0).Proxy().Handler(), proxyKeys[0], p.chain))
		got, err := p.gather(access, doctor, withURL(p.nodes, 0, bad))
		if err != nil {
			t.Fatal(err)
		}
		if got.Nodes[0].Outcome != client.Lied || !errors.Is(got.Nodes[0].Err, umbral.ErrIncorrectReencryption) {
			t.Fatalf("node 0: %v %v", got.Nodes[0].Outcome, got.Nodes[0].Err)
		}
		p.open(rec, doctor, got)
	})

	t.Run("a node down at deposit time; access through the other 3", func(t *testing.T) {
		if err := nw.StopNode(0); err != nil {
			t.Fatal(err)
		}
		g2 = p.grant(owner, rec, doctor, time.Time{})
		res, err := p.deposit(g2)
		if err != nil {
			t.Fatal(err) // 3 accepted is the threshold
		}
		if res[0].Err == nil {
			t.Fatal("stopped node accepted a deposit")
		}
		g2access = p.request(doctor, g2)
		got, err := p.gather(g2access, doctor, p.nodes)
		if err != nil {
			t.Fatal(err)
		}
		if got.Nodes[0].Outcome != client.Unreachable {
			t.Fatalf("node 0: %v", got.Nodes[0].Outcome)
		}
		p.open(rec, doctor, got)
		if err := nw.RestartNode(0); err != nil {
			t.Fatal(err)
		}
		h, _, _ := nw.Node(3).App().LastCommit()
		p.waitApps(h)
	})

	t.Run("revoke: every node refuses and no vault holds the fragment", func(t *testing.T) {
		p.submit(owner, &protocol.Revoke{Grant: g.id})
		waitGone(t, nw, g.id)
		_, err = p.gather(access, doctor, p.nodes)
		refusedBy(t, err, 4, protocol.ErrGrantRevoked)
		// A Byzantine node that kept its fragment serves anyway: alone it
		// is one verified cfrag, never three.
		liar := serve(t, keeper(t, g.frags.KeyFrag(1), rec.capsule, proxyKeys[1], p.chain))
		_, err = p.gather(access, doctor, withURL(p.nodes, 1, liar))
		var ge *client.GatherError
		if !errors.As(err, &ge) || ge.Verified != 1 || ge.Count(client.Refused) != 3 {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("expiry by block time: every node refuses and deletes", func(t *testing.T) {
		ge := p.grant(owner, rec, doctor, time.Now().Add(4*time.Second))
		if _, err := p.deposit(ge); err != nil {
			t.Fatal(err)
		}
		a := p.request(doctor, ge)
		waitGone(t, nw, ge.id)
		_, err := p.gather(a, doctor, p.nodes)
		refusedBy(t, err, 4, protocol.ErrGrantExpired)
	})

	t.Run("a stale node refuses; a restarted node deletes a revoked fragment", func(t *testing.T) {
		home := nw.Homes()[2]
		if err := nw.StopNode(2); err != nil {
			t.Fatal(err)
		}
		// Node 2's proxy keeps running on its ledger state, cut off from
		// consensus, while the others revoke g2.
		p.submit(owner, &protocol.Revoke{Grant: g2.id})
		app, err := node.OpenApp(filepath.Join(home, "data", "ledger"), node.AppOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v, err := proxy.OpenVault(filepath.Join(home, "data", "vault"), filepath.Join(home, "config", "vault_key"), nil)
		if err != nil {
			app.Close()
			t.Fatal(err)
		}
		if !v.Has(g2.id) {
			app.Close()
			t.Fatal("the cut-off node should still hold g2's fragment")
		}
		svc, err := proxy.New(proxy.Config{Ledger: app, ProxyKey: proxyKeys[2], Vault: v, MaxStaleness: 3 * time.Second})
		if err != nil {
			app.Close()
			t.Fatal(err)
		}
		lagging := withURL(p.nodes, 2, serve(t, svc.Handler()))[2:3]
		time.Sleep(3500 * time.Millisecond)
		_, err = p.gather(g2access, doctor, lagging)
		var gerr *client.GatherError
		if !errors.As(err, &gerr) || gerr.Count(client.Verified) != 0 || !errors.Is(gerr.Nodes[2].Err, protocol.ErrStale) {
			t.Fatalf("lagging node: %v", err)
		}
		app.Close()

		// Put the revoked grant g's fragment back, as a vault restored from a backup
		// would have it. The node reported destroying it long ago, so it owes nothing for
		// g: the sweep that starts with the node finds it.
		var kf umbral.KeyFrag
		if err := kf.UnmarshalBinary(g.frags.KeyFrag(2)); err != nil {
			t.Fatal(err)
		}
		err = v.Put(g.id, kf.SkipVerification(), nil)
		if cerr := v.Close(); err != nil || cerr != nil {
			t.Fatal(err, cerr)
		}
		if err := nw.RestartNode(2); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); nw.Node(2).Vault().Has(g.id); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("restarted node still holds the revoked fragment")
			}
		}
		// g2's revocation reaches it by catching up; committing it deletes.
		deadline := time.Now().Add(catchUpTimeout)
		for nw.Node(2).Vault().Has(g2.id) {
			if time.Now().After(deadline) {
				t.Fatal("caught-up node still holds g2's fragment")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	// Last: it spends this host's deposit budget at node 1.
	t.Run("deposits limited per source, forwarding header not believed", func(t *testing.T) {
		url := p.nodes[1].API + "/v1/grants/" + protocol.ID{9}.String() + "/fragment"
		for i := 0; ; i++ {
			if i == 500 {
				t.Fatal("500 junk deposits from one source and none limited")
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{"))
			if err != nil {
				t.Fatal(err)
			}
			// A fresh address per request: believed, it would be a fresh budget each time.
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", i/250, i%250))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				break
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("junk deposit %d: status %d", i, resp.StatusCode)
			}
		}
	})
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
