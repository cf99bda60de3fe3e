package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/proxy"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// ask sends a signed re-encryption request for a to node i and returns the
// answer or the refusal.
func ask(t *testing.T, c *chain, i int, a *client.Access, signer *umbral.Signer, edit func(*protocol.ReencryptRequest)) (*protocol.ReencryptResponse, error) {
	t.Helper()
	req := &protocol.ReencryptRequest{RequestTx: a.RequestTx, Grant: a.Grant.ID,
		Capsule: a.Record.Capsule, Node: c.nodes[i].key, NotAfter: c.clock.Now().Add(time.Minute).UnixNano()}
	if edit != nil {
		edit(req)
	}
	if signer != nil {
		if err := req.Sign(chainID, signer); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(c.nodes[i].srv.URL+"/v1/reencrypt", "application/json", bytes.NewReader(mustJSON(t, req)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error protocol.Error `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
			t.Fatalf("status %d with undecodable body", resp.StatusCode)
		}
		eb.Error.Status = resp.StatusCode
		return nil, &eb.Error
	}
	var out protocol.ReencryptResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return &out, nil
}

type scenario struct {
	c       *chain
	owner   *user
	doctor  *user
	rec     *record
	g       *grant
	access  *client.Access
	other   *record // another record of the same owner, granted too
	otherAc *client.Access
}

func newScenario(t *testing.T, tune func(*proxy.Config)) *scenario {
	c := newChain(t, 4, tune)
	s := &scenario{c: c, owner: newUser(t), doctor: newUser(t)}
	s.rec = c.putRecord(s.owner)
	s.other = c.putRecord(s.owner)
	s.g = c.grantTo(s.owner, s.rec, s.doctor, nil, time.Time{})
	og := c.grantTo(s.owner, s.other, s.doctor, nil, time.Time{})
	c.deposit(s.g)
	c.deposit(og)
	s.access = c.request(s.doctor, s.g)
	s.otherAc = c.request(s.doctor, og)
	return s
}

func TestReencryptAcceptedAndReceipt(t *testing.T) {
	s := newScenario(t, nil)
	resp, err := ask(t, s.c, 2, s.access, s.doctor.id.Signer(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rc := resp.Receipt
	h := s.c.nodes[2].app.Height()
	if rc.Node != s.c.nodes[2].key || rc.Grant != s.g.id || rc.RequestTx != s.access.RequestTx || rc.Height != h {
		t.Fatalf("receipt %+v does not describe the request", rc)
	}
	if !rc.Verify(chainID) {
		t.Fatal("receipt signature does not verify")
	}
	rc.Height++
	if rc.Verify(chainID) {
		t.Fatal("receipt verifies after changing its height")
	}
	var cf umbral.CapsuleFrag
	if err := cf.UnmarshalBinary(resp.CFrag[:]); err != nil {
		t.Fatal(err)
	}
	owner := s.owner.id.Public().Signing
	if _, err := cf.Verify(s.rec.capsule, owner, s.rec.delegating.PublicKey(), s.doctor.id.Public().Receiving); err != nil {
		t.Fatal(err)
	}
}

func TestReencryptRefusals(t *testing.T) {
	s := newScenario(t, nil)
	c, doc := s.c, s.doctor.id.Signer()
	cases := []struct {
		name   string
		signer *umbral.Signer
		a      *client.Access
		edit   func(*protocol.ReencryptRequest)
		want   *protocol.Error
	}{
		{"request not committed", doc, s.access, func(r *protocol.ReencryptRequest) { r.RequestTx[0] ^= 1 }, protocol.ErrRequestNotCommitted},
		{"another grant's request", doc, s.access, func(r *protocol.ReencryptRequest) { r.RequestTx = s.otherAc.RequestTx }, protocol.ErrRequestNotCommitted},
		{"replay by another identity", newUser(t).id.Signer(), s.access, nil, protocol.ErrBadSignature},
		{"signed by the owner", s.owner.id.Signer(), s.access, nil, protocol.ErrBadSignature},
		{"another record's capsule", doc, s.access, func(r *protocol.ReencryptRequest) { r.Capsule = s.otherAc.Record.Capsule }, protocol.ErrWrongCapsule},
		{"unknown grant", doc, s.access, func(r *protocol.ReencryptRequest) { r.Grant[0] ^= 1 }, protocol.ErrNotFound},
		{"another node's name", doc, s.access, func(r *protocol.ReencryptRequest) { r.Node = c.nodes[1].key }, protocol.ErrWrongNode},
		{"expired bound", doc, s.access, func(r *protocol.ReencryptRequest) { r.NotAfter = c.clock.Now().UnixNano() - 1 }, protocol.ErrBoundExpired},
		{"bound too far", doc, s.access, func(r *protocol.ReencryptRequest) { r.NotAfter = c.clock.Now().Add(time.Hour).UnixNano() }, protocol.ErrBoundTooFar},
		{"unsigned", nil, s.access, nil, protocol.ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ask(t, c, 0, tc.a, tc.signer, tc.edit)
			wantRefusal(t, err, tc.want)
		})
	}
	t.Run("bad signature", func(t *testing.T) {
		req := &protocol.ReencryptRequest{RequestTx: s.access.RequestTx, Grant: s.g.id,
			Capsule: s.access.Record.Capsule, Node: c.nodes[0].key, NotAfter: c.clock.Now().Add(time.Minute).UnixNano()}
		if err := req.Sign(chainID, doc); err != nil {
			t.Fatal(err)
		}
		req.NotAfter-- // signed over another bound
		status, code := post(t, c.nodes[0], "/v1/reencrypt", mustJSON(t, req))
		if status != 401 || code != "bad_signature" {
			t.Fatalf("%d %s", status, code)
		}
	})
	t.Run("no fragment", func(t *testing.T) {
		g := c.grantTo(s.owner, s.rec, s.doctor, nil, time.Time{}) // never deposited
		_, err := ask(t, c, 0, c.request(s.doctor, g), doc, nil)
		wantRefusal(t, err, protocol.ErrNoFragment)
	})
	t.Run("oversize and malformed", func(t *testing.T) {
		big := `{"request_tx":"` + strings.Repeat("0", protocol.MaxRequestBody) + `"}`
		if status, code := post(t, c.nodes[0], "/v1/reencrypt", []byte(big)); status != 413 || code != "too_large" {
			t.Fatalf("oversize: %d %s", status, code)
		}
		for _, body := range []string{``, `{"grant":"00"}`, `{"not_after":"x"}`, `{"bogus":1}`} {
			if status, code := post(t, c.nodes[0], "/v1/reencrypt", []byte(body)); status != 400 || code != "malformed" {
				t.Errorf("%q: %d %s", body, status, code)
			}
		}
		resp, err := http.Get(c.nodes[0].srv.URL + "/v1/reencrypt")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
	})
	// The honest request still works after all of that.
	if _, err := ask(t, c, 0, s.access, doc, nil); err != nil {
		t.Fatal(err)
	}
	// Revoked, and expired in block time: refused at the next height.
	t.Run("revoked", func(t *testing.T) {
		c.commit(s.owner.tx(t, &protocol.Revoke{Grant: s.g.id}))
		_, err := ask(t, c, 0, s.access, doc, nil)
		wantRefusal(t, err, protocol.ErrGrantRevoked)
	})
	t.Run("expired", func(t *testing.T) {
		g := c.grantTo(s.owner, s.rec, s.doctor, nil, c.clock.Now().Add(3*time.Second))
		c.deposit(g)
		a := c.request(s.doctor, g)
		if _, err := ask(t, c, 0, a, doc, nil); err != nil {
			t.Fatal(err)
		}
		c.clock.Add(4 * time.Second)
		c.block()
		_, err := ask(t, c, 0, a, doc, nil)
		wantRefusal(t, err, protocol.ErrGrantExpired)
	})
}

func TestStaleNodeRefuses(t *testing.T) {
	s := newScenario(t, func(cfg *proxy.Config) { cfg.MaxStaleness = 6 * time.Second })
	c := s.c
	c.nodes[3].frozen = true // falls behind: gets no more blocks
	c.clock.Add(4 * time.Second)
	c.block()
	if _, err := ask(t, c, 3, s.access, s.doctor.id.Signer(), nil); err != nil {
		t.Fatalf("within the bound: %v", err)
	}
	// The owner revokes; node 3 never hears of it, but its state grows old.
	c.commit(s.owner.tx(t, &protocol.Revoke{Grant: s.g.id}))
	c.clock.Add(3 * time.Second)
	c.block()
	_, err := ask(t, c, 3, s.access, s.doctor.id.Signer(), nil)
	wantRefusal(t, err, protocol.ErrStale)
	_, err = ask(t, c, 0, s.access, s.doctor.id.Signer(), nil)
	wantRefusal(t, err, protocol.ErrGrantRevoked)
}

func TestRateLimitPerRequester(t *testing.T) {
	s := newScenario(t, func(cfg *proxy.Config) { cfg.RequesterRate, cfg.RequesterBurst = 0.001, 3 })
	c := s.c
	for i := 0; i < 3; i++ {
		if _, err := ask(t, c, 0, s.access, s.doctor.id.Signer(), nil); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := ask(t, c, 0, s.access, s.doctor.id.Signer(), nil)
	wantRefusal(t, err, protocol.ErrRateLimited)
	// Forged requests naming the same grant do not spend the recipient's
	// budget on another node, and another recipient has its own.
	for i := 0; i < 5; i++ {
		_, err := ask(t, c, 1, s.access, newUser(t).id.Signer(), nil)
		wantRefusal(t, err, protocol.ErrBadSignature)
	}
	if _, err := ask(t, c, 1, s.access, s.doctor.id.Signer(), nil); err != nil {
		t.Fatal(err)
	}
	nurse := newUser(t)
	g := c.grantTo(s.owner, s.rec, nurse, nil, time.Time{})
	c.deposit(g)
	if _, err := ask(t, c, 0, c.request(nurse, g), nurse.id.Signer(), nil); err != nil {
		t.Fatalf("another recipient was limited: %v", err)
	}
}

// TestAnswersPerRequest: a node makes AnswersPerRequest capsule fragments for one committed
// request; replaying it past that buys no more curve work, and a new request is answered.
func TestAnswersPerRequest(t *testing.T) {
	s := newScenario(t, nil)
	for i := range proxy.AnswersPerRequest {
		if _, err := ask(t, s.c, 0, s.access, s.doctor.id.Signer(), nil); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	_, err := ask(t, s.c, 0, s.access, s.doctor.id.Signer(), nil)
	wantRefusal(t, err, protocol.ErrRateLimited)
	if _, err := ask(t, s.c, 1, s.access, s.doctor.id.Signer(), nil); err != nil {
		t.Fatalf("another node counts its own answers: %v", err)
	}
	if _, err := ask(t, s.c, 0, s.c.request(s.doctor, s.g), s.doctor.id.Signer(), nil); err != nil {
		t.Fatalf("a new request: %v", err)
	}
}

// byzantine serves node i's real answers with the cfrag corrupted and the
// receipt re-signed over the corrupted bytes, so only the cfrag's proof
// can give it away.
func byzantine(t *testing.T, nd *testNode) http.Handler {
	real := nd.svc.Handler()
	signer := umbral.NewSigner(nd.sk)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		real.ServeHTTP(rec, r)
		if r.URL.Path != "/v1/reencrypt" || rec.Code != http.StatusOK {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		var resp protocol.ReencryptResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Error(err)
			return
		}
		resp.CFrag = corrupt(t, resp.CFrag)
		resp.Receipt.CFragHash = protocol.Hash32(sha256Sum(resp.CFrag[:]))
		sig, err := signer.Sign(resp.Receipt.SignBytes(chainID))
		if err != nil {
			t.Error(err)
			return
		}
		copy(resp.Receipt.Signature[:], sig.Bytes())
		w.Header().Set("Content-Type", "application/json")
		w.Write(mustJSON(t, resp))
	})
}

// corrupt flips one bit of the cfrag, before the trailing kfrag signature
// (64 bytes and its header), such that it still decodes: the proof fails.
func corrupt(t *testing.T, cf protocol.CFragBytes) protocol.CFragBytes {
	for i := len(cf) - 70; i >= 0; i-- {
		bad := cf
		bad[i] ^= 1
		var x umbral.CapsuleFrag
		if x.UnmarshalBinary(bad[:]) == nil {
			return bad
		}
	}
	t.Fatal("no decodable corruption")
	return cf
}

func TestGatherWithByzantineNode(t *testing.T) {
	s := newScenario(t, nil)
	c := s.c
	c.serveWith(0, byzantine(t, c.nodes[0]))
	got, err := c.testClient().Gather(context.Background(), s.access, s.doctor.id.Signer(), c.clientNodes())
	if err != nil {
		t.Fatal(err)
	}
	if got.Nodes[0].Outcome != client.Lied || !errors.Is(got.Nodes[0].Err, client.ErrLied) ||
		!errors.Is(got.Nodes[0].Err, umbral.ErrIncorrectReencryption) {
		t.Fatalf("node 0: %v %v, want lied (incorrect re-encryption)", got.Nodes[0].Outcome, got.Nodes[0].Err)
	}
	for i := 1; i < 4; i++ {
		if got.Nodes[i].Outcome != client.Verified {
			t.Fatalf("node %d: %v", i, got.Nodes[i].Outcome)
		}
	}
	key, err := umbral.DecryptReencrypted(s.doctor.id.ReceivingKey(), s.rec.delegating.PublicKey(), s.rec.capsule, got.CFrags, s.rec.ciphertext)
	if err != nil || !bytes.Equal(key, s.rec.fileKey) {
		t.Fatalf("decrypt: %v", err)
	}
	// With only the liar and one honest node reachable, the threshold is
	// out of reach and the error says who did what.
	few := c.clientNodes()[:2]
	_, err = c.testClient().Gather(context.Background(), s.access, s.doctor.id.Signer(), few)
	var ge *client.GatherError
	if !errors.As(err, &ge) || ge.Verified != 1 || ge.Count(client.Lied) != 1 || ge.Count(client.Unreachable) != 2 {
		t.Fatalf("got %v", err)
	}
	if !errors.Is(err, client.ErrThreshold) || !strings.Contains(err.Error(), "1 lied") {
		t.Fatalf("error text: %v", err)
	}
}

func TestGatherRejectsReplayedCFrag(t *testing.T) {
	s := newScenario(t, nil)
	c := s.c
	// Node 0 answers with node 1's honest cfrag under its own receipt: the
	// proof verifies, but it is the same key fragment twice.
	signer := umbral.NewSigner(c.nodes[0].sk)
	c.serveWith(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := ask(t, c, 1, s.access, s.doctor.id.Signer(), nil)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Receipt.Node = c.nodes[0].key
		sig, _ := signer.Sign(resp.Receipt.SignBytes(chainID))
		copy(resp.Receipt.Signature[:], sig.Bytes())
		w.Write(mustJSON(t, resp))
	}))
	cl := c.testClient()
	// Ask node 0 first, then node 1 (order of the grant), threshold 3 of 4.
	got, err := cl.Gather(context.Background(), s.access, s.doctor.id.Signer(), c.clientNodes())
	if err != nil {
		t.Fatal(err)
	}
	lied := 0
	for _, n := range got.Nodes {
		if n.Outcome == client.Lied {
			lied++
		}
	}
	if lied != 1 || len(got.CFrags) != 3 {
		t.Fatalf("lied %d, cfrags %d", lied, len(got.CFrags))
	}
	if _, err := umbral.DecryptReencrypted(s.doctor.id.ReceivingKey(), s.rec.delegating.PublicKey(), s.rec.capsule, got.CFrags, s.rec.ciphertext); err != nil {
		t.Fatal(err)
	}
}

// One read, one committed request: a request authorises re-encryption for
// protocol.RequestWindow of block time after its block, then a new one is needed.
func TestRequestWindow(t *testing.T) {
	s := newScenario(t, nil)
	c := s.c
	if _, err := ask(t, c, 0, s.access, s.doctor.id.Signer(), nil); err != nil {
		t.Fatalf("a fresh request: %v", err)
	}
	for step := time.Duration(0); step < protocol.RequestWindow; step += 30 * time.Second {
		c.clock.Add(30 * time.Second)
		c.block()
	}
	c.clock.Add(time.Second)
	c.block()
	_, err := ask(t, c, 0, s.access, s.doctor.id.Signer(), nil)
	wantRefusal(t, err, protocol.ErrRequestExpired)
	fresh := c.request(s.doctor, s.g)
	if _, err := ask(t, c, 0, fresh, s.doctor.id.Signer(), nil); err != nil {
		t.Fatalf("a new request after the window: %v", err)
	}
}

// The commit hook that deletes revoked fragments waits for re-encryptions holding the vault,
// and a re-encryption that starts while the hook waits sees the revocation: no fragment
// serves after the commit that revokes its grant.
func TestRevocationWaitsForHolders(t *testing.T) {
	s := newScenario(t, nil)
	c := s.c
	nd := c.nodes[0]
	release := nd.vault.Hold() // a re-encryption in progress
	revoked := make(chan struct{})
	go func() {
		defer close(revoked)
		c.commit(s.owner.tx(t, &protocol.Revoke{Grant: s.g.id}))
	}()
	select {
	case <-revoked:
		t.Fatal("the commit deleted fragments while a re-encryption held the vault")
	case <-time.After(200 * time.Millisecond):
	}
	if !nd.vault.Has(s.g.id) {
		t.Fatal("the fragment went while the vault was held")
	}
	release()
	<-revoked
	if nd.vault.Has(s.g.id) {
		t.Fatal("the fragment outlived the revoking commit")
	}
	_, err := ask(t, c, 0, s.access, s.doctor.id.Signer(), nil)
	wantRefusal(t, err, protocol.ErrGrantRevoked)
}
