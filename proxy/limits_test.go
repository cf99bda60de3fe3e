package proxy_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/internal/source"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/proxy"
)

// answer is a node's answer as a client sees it.
type answer struct {
	status int
	code   string
	header http.Header
}

// postFrom posts body to node nd's path, through a reverse proxy that names the client
// forwardedFor (none if empty).
func postFrom(t *testing.T, nd *testNode, path string, body []byte, forwardedFor string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, nd.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	return answer{resp.StatusCode, eb.Error.Code, resp.Header}
}

// behindLoopbackProxy trusts X-Forwarded-For from 127.0.0.1, where the tests connect from.
func behindLoopbackProxy() *source.Resolver {
	return &source.Resolver{Header: "X-Forwarded-For", Proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func signedRequest(t *testing.T, c *chain, i int, s *scenario) []byte {
	t.Helper()
	req := &protocol.ReencryptRequest{RequestTx: s.access.RequestTx, Grant: s.g.id, Capsule: s.access.Record.Capsule,
		Node: c.nodes[i].key, NotAfter: c.clock.Now().Add(time.Minute).UnixNano()}
	if err := req.Sign(chainID, s.doctor.id.Signer()); err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, req)
}

// Deposits are limited per source, IPv4 address or IPv6 /64, before the body is read: a
// limited source is refused even with a body that does not parse. A forwarding header
// counts only from a trusted proxy.
func TestDepositLimitPerSource(t *testing.T) {
	path := "/v1/grants/" + protocol.ID{9}.String() + "/fragment"
	junk := []byte(`{`)
	tune := func(res *source.Resolver) func(*proxy.Config) {
		return func(cfg *proxy.Config) { cfg.Sources, cfg.DepositRate, cfg.DepositBurst = res, 0.001, 2 }
	}
	nd := newChain(t, 1, tune(behindLoopbackProxy())).nodes[0]
	for _, step := range []struct {
		from string
		want int
	}{
		{"2001:db8:1:2::1", 400}, {"2001:db8:1:2::1", 400}, {"2001:db8:1:2::1", 429},
		{"2001:db8:1:2:ffff::9", 429}, // same /64
		{"2001:db8:1:3::1", 400},      // next /64
		{"198.51.100.1", 400}, {"198.51.100.1", 400}, {"198.51.100.1", 429},
		{"198.51.100.2", 400},
		{"203.0.113.7, 198.51.100.2", 400}, // the client the trusted proxy saw is the last hop
		{"198.51.100.2", 429},
	} {
		if got := postFrom(t, nd, path, junk, step.from); got.status != step.want {
			t.Fatalf("deposit from %s: %d %s, want %d", step.from, got.status, got.code, step.want)
		}
	}
	// Without a trusted proxy the header is the client's word, and ignored.
	nd = newChain(t, 1, tune(nil)).nodes[0]
	for i, from := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		want := map[bool]int{true: 400, false: 429}[i < 2]
		if got := postFrom(t, nd, path, junk, from); got.status != want {
			t.Fatalf("deposit %d claiming %s: %d, want %d", i, from, got.status, want)
		}
	}
}

func TestReencryptLimitPerSource(t *testing.T) {
	nd := newChain(t, 1, func(cfg *proxy.Config) {
		cfg.Sources, cfg.AddrRate, cfg.AddrBurst = behindLoopbackProxy(), 0.001, 2
	}).nodes[0]
	for _, step := range []struct {
		from string
		want int
	}{
		{"2001:db8:7:7::1", 400}, {"2001:db8:7:7::2", 400}, {"2001:db8:7:7::3", 429}, {"2001:db8:7:8::1", 400},
	} {
		if got := postFrom(t, nd, "/v1/reencrypt", []byte(`{`), step.from); got.status != step.want {
			t.Fatalf("request from %s: %d %s, want %d", step.from, got.status, got.code, step.want)
		}
	}
}

// A deposit for a grant that is unknown, ended, elsewhere or already deposited is refused
// on committed state alone, without a curve slot: with every slot taken, the refusals come
// at once, and only the deposit that needs the curve waits for one.
func TestDepositCheapChecksFirst(t *testing.T) {
	c := newChain(t, 4, func(cfg *proxy.Config) { cfg.MaxConcurrent = 1 })
	owner, doctor := newUser(t), newUser(t)
	rec := c.putRecord(owner)
	held := c.grantTo(owner, rec, doctor, nil, time.Time{})
	c.deposit(held)
	revoked := c.grantTo(owner, rec, doctor, nil, time.Time{})
	c.commit(owner.tx(t, &protocol.Revoke{Grant: revoked.id}))
	elsewhere := c.grantThreshold(owner, rec, doctor, c.keys()[:3], 2, time.Time{})
	expired := c.grantTo(owner, rec, doctor, nil, c.clock.Now().Add(2*time.Second))
	fresh := c.grantTo(owner, rec, doctor, nil, time.Time{})
	c.clock.Add(3 * time.Second)
	c.block()

	nd := c.nodes[3]
	release, err := nd.svc.HoldCurve(false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// Sealed for nobody: opening it would be bad_envelope, after curve work.
	garbage := &protocol.Deposit{Ciphertext: bytes.Repeat([]byte{7}, 200)}
	for _, tc := range []struct {
		name  string
		grant protocol.ID
		want  *protocol.Error
	}{
		{"unknown", protocol.ID{9}, protocol.ErrNotFound},
		{"revoked", revoked.id, protocol.ErrGrantRevoked},
		{"expired", expired.id, protocol.ErrGrantExpired},
		{"not a grant node", elsewhere.id, protocol.ErrNotGrantNode},
		{"already held", held.id, protocol.ErrAlreadyExists},
	} {
		wantRefusal(t, postDeposit(t, nd, tc.grant, garbage), tc.want)
		if _, _, waiting := nd.svc.CurveState(); waiting != 0 {
			t.Fatalf("%s: the refusal queued for a curve slot", tc.name)
		}
	}
	done := make(chan error, 1)
	go func() { done <- depositOneErr(c, 3, fresh.id, fresh.frags.KeyFrag(3)) }()
	waitFor(t, "the valid deposit queues for the curve", func() bool { _, _, w := nd.svc.CurveState(); return w == 1 })
	release()
	if err := <-done; err != nil {
		t.Fatalf("the valid deposit, once a slot freed: %v", err)
	}
	if !nd.vault.Has(fresh.id) {
		t.Fatal("the valid deposit was not stored")
	}
}

// depositOneErr is depositOne for another goroutine: it reports instead of failing.
func depositOneErr(c *chain, node int, grant protocol.ID, kfrag []byte) error {
	d, err := protocol.SealDeposit(chainID, grant, c.nodes[node].key, kfrag)
	if err != nil {
		return err
	}
	resp, err := http.Post(c.nodes[node].srv.URL+"/v1/grants/"+grant.String()+"/fragment", "application/json",
		bytes.NewReader(mustJSON(c.t, d)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return &protocol.Error{Status: resp.StatusCode}
	}
	return nil
}

// With the curve slots taken and the queue full, a request is refused at once with 503
// busy and Retry-After; one source cannot take more than half the places.
func TestBusyWhenQueueFull(t *testing.T) {
	s := newScenario(t, func(cfg *proxy.Config) {
		cfg.MaxConcurrent, cfg.MaxQueue, cfg.QueueWait, cfg.Sources = 1, 1, time.Minute, behindLoopbackProxy()
	})
	c, nd := s.c, s.c.nodes[0]
	body := signedRequest(t, c, 0, s)
	release, err := nd.svc.HoldCurve(false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	queued := make(chan answer, 1)
	go func() {
		resp, err := http.Post(nd.srv.URL+"/v1/reencrypt", "application/json", bytes.NewReader(body))
		if err != nil {
			queued <- answer{}
			return
		}
		resp.Body.Close()
		queued <- answer{status: resp.StatusCode}
	}()
	waitFor(t, "a request queues", func() bool { _, _, w := nd.svc.CurveState(); return w == 1 })

	got := postFrom(t, nd, "/v1/reencrypt", body, "198.51.100.1")
	if got.status != http.StatusServiceUnavailable || got.code != "busy" || got.header.Get("Retry-After") != "1" {
		t.Fatalf("with the queue full: %d %s, Retry-After %q; want 503 busy, 1", got.status, got.code, got.header.Get("Retry-After"))
	}
	// The queued request came from 127.0.0.1 itself: that source holds its half already.
	if got := postFrom(t, nd, "/v1/reencrypt", body, ""); got.status != http.StatusTooManyRequests || got.code != "rate_limited" {
		t.Fatalf("a second request in flight from one source: %d %s, want 429 rate_limited", got.status, got.code)
	}
	d, _ := protocol.SealDeposit(chainID, s.g.id, nd.key, s.g.frags.KeyFrag(0))
	if got := postFrom(t, nd, "/v1/grants/"+s.g.id.String()+"/fragment", mustJSON(t, d), "198.51.100.2"); got.code != "already_exists" {
		t.Fatalf("a deposit refused on committed state while busy: %d %s, want already_exists", got.status, got.code)
	}
	release()
	if a := <-queued; a.status != http.StatusOK {
		t.Fatalf("the queued request, once a slot freed: %d", a.status)
	}
}

// Deposits take at most half the curve slots: with deposits holding their share and more
// waiting, a re-encryption is still served.
func TestDepositsLeaveSlotsForReencryption(t *testing.T) {
	s := newScenario(t, func(cfg *proxy.Config) { cfg.MaxConcurrent, cfg.QueueWait = 2, time.Minute })
	nd := s.c.nodes[0]
	first, err := nd.svc.HoldCurve(true)
	if err != nil {
		t.Fatal(err)
	}
	defer first()
	second := make(chan func(), 1)
	go func() {
		release, err := nd.svc.HoldCurve(true)
		if err != nil {
			release = func() {}
		}
		second <- release
	}()
	waitFor(t, "a second deposit waits although a slot is free", func() bool {
		select {
		case r := <-second:
			r()
			t.Fatal("a second deposit took the last curve slot")
		default:
		}
		used, deposits, waiting := nd.svc.CurveState()
		return used == 1 && deposits == 1 && waiting == 1
	})
	if _, err := ask(t, s.c, 0, s.access, s.doctor.id.Signer(), nil); err != nil {
		t.Fatalf("re-encryption while deposits hold their share: %v", err)
	}
	first()
	(<-second)()
}
