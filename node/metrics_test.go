package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// TestMetricsAndHealth scrapes the metrics of a running network while a put, a grant and a
// get go through the SDK, and checks that the counters move, that no label names what a
// label must not, and that the health route says 200 while the chain is fresh and 503 once
// the node is cut off.
func TestMetricsAndHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-node network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nw, err := node.StartLocalNet(ctx, t.TempDir(), node.LocalNetOptions{Admission: &node.LocalAdmission})
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Stop()
	desc, err := nw.Description()
	if err != nil {
		t.Fatal(err)
	}
	nodes := nw.Running()
	addrs := map[string]bool{}
	for _, n := range nodes {
		a := n.MetricsAddr()
		if !strings.HasPrefix(a, "127.0.0.1:") || addrs[a] || a == n.Settings().APIAddr {
			t.Fatalf("node %s serves metrics on %q: want its own loopback listener", n.Settings().Moniker, a)
		}
		addrs[a] = true
	}
	scrape := func(n *node.Node) node.Scraped {
		t.Helper()
		s, err := node.ScrapeMetrics(ctx, nil, n.MetricsAddr())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// sum adds a metric up over every node.
	sum := func(name string, labels ...string) float64 {
		var total float64
		for _, n := range nodes {
			total += scrape(n).Sum(name, labels...)
		}
		return total
	}

	first := scrape(nodes[0])
	for _, name := range []string{"cometbft_consensus_height", "cometbft_p2p_peers", "go_goroutines",
		"rrec_ledger_height", "rrec_proxy_vault_fragments", "rrec_blobs_queue_length", "rrec_blobs_replication_lag_records"} {
		if !first.Has(name) {
			t.Errorf("node0 does not export %s", name)
		}
	}
	if got := first.Sum("cometbft_consensus_height", "chain_id", "rr-local"); got < 1 {
		t.Errorf("cometbft_consensus_height{chain_id=rr-local} = %v", got)
	}
	waitHealth(t, ctx, nodes[0].Settings().APIAddr, http.StatusOK, node.HealthOK)

	newSession := func() *client.Session {
		id, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		s, err := client.New(desc, id, &client.Options{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	alice, bob := newSession(), newSession()
	data := bytes.Repeat([]byte("scan "), 40000)
	rec, err := alice.Put(ctx, bytes.NewReader(data), int64(len(data)), envelope.Metadata{Name: "scan.dcm"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := alice.Grant(ctx, rec, bob.Identity(), client.GrantOptions{Duration: time.Hour, Purpose: "treatment"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := bob.Get(ctx, rec, &out, client.GetOptions{Purpose: "treatment"}); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("get: %v", err)
	}

	// Every node executes every block; the proxy and blob figures are of the nodes the
	// clients talked to, and of replication, which goes on after the put returns.
	eventually(t, ctx, func() error {
		s := scrape(nodes[0])
		for _, typ := range []string{"enrol", "put_record", "grant", "request_access", "holds_blob"} {
			if s.Sum("rrec_ledger_txs_total", "type", typ, "code", "ok") < 1 {
				return fmt.Errorf("rrec_ledger_txs_total{type=%q,code=ok} did not move: %v", typ, s.By("rrec_ledger_txs_total", "type"))
			}
		}
		if v := s.Sum("rrec_proxy_vault_fragments"); v != 1 {
			return fmt.Errorf("rrec_proxy_vault_fragments = %v, want 1", v)
		}
		if v := s.Sum("rrec_proxy_deposits_total"); v != 1 {
			return fmt.Errorf("rrec_proxy_deposits_total = %v, want 1", v)
		}
		for _, h := range []string{"rrec_ledger_finalize_block_seconds", "rrec_ledger_commit_seconds"} {
			if sum, n := s.Observed(h); n == 0 || sum <= 0 {
				return fmt.Errorf("%s observed %d blocks in %vs", h, n, sum)
			}
		}
		if _, n := s.Observed("rrec_ledger_checktx_seconds", "kind", "new"); n < 1 {
			return fmt.Errorf("rrec_ledger_checktx_seconds{kind=new} observed nothing")
		}
		if h := s.Sum("rrec_ledger_height"); h < float64(g.Height) {
			return fmt.Errorf("rrec_ledger_height = %v, below the grant's height %d", h, g.Height)
		}
		return nil
	})
	eventually(t, ctx, func() error {
		threshold := float64(protocol.DefaultThreshold(len(nodes), len(nodes)))
		switch {
		case sum("rrec_proxy_reencryptions_total") < threshold:
			return fmt.Errorf("rrec_proxy_reencryptions_total = %v over the network, want at least %v", sum("rrec_proxy_reencryptions_total"), threshold)
		case sum("rrec_blobs_bytes_total", "direction", "uploaded") < float64(len(data)):
			return fmt.Errorf("uploaded bytes did not move")
		case sum("rrec_blobs_bytes_total", "direction", "fetched") < float64(len(data)):
			return fmt.Errorf("fetched bytes did not move: replication has not run")
		case sum("rrec_blobs_bytes_total", "direction", "served") < float64(len(data)):
			return fmt.Errorf("served bytes did not move")
		case sum("rrec_blobs_replication_lag_records") != 0:
			return fmt.Errorf("replication lag %v, want 0 once every node holds the blob", sum("rrec_blobs_replication_lag_records"))
		}
		return nil
	})

	// Refusals are counted by code, the proxy's by route too.
	api := "http://" + nodes[0].Settings().APIAddr
	refused := scrape(nodes[0]).Sum("rrec_ledger_checktx_refusals_total")
	resp, err := http.Post(api+"/v1/grants/not-a-grant/fragment", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Post(api+"/v1/tx", "application/octet-stream", strings.NewReader("not a transaction"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := scrape(nodes[0])
	if v := s.Sum("rrec_proxy_refusals_total", "route", "deposit", "code", "malformed"); v != 1 {
		t.Errorf("rrec_proxy_refusals_total{route=deposit,code=malformed} = %v, want 1", v)
	}
	if v := s.Sum("rrec_ledger_checktx_refusals_total"); v != refused+1 {
		t.Errorf("rrec_ledger_checktx_refusals_total = %v (%v), want %v: the junk transaction's refusal", v,
			s.By("rrec_ledger_checktx_refusals_total", "code"), refused+1)
	}

	// No label value names a record, a grant or a key.
	secrets := []string{rec.String(), g.Grant.String(), bob.Identity().String(), alice.Identity().String()}
	for _, n := range nodes {
		for name, f := range scrape(n) {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					for _, s := range secrets {
						if strings.Contains(l.GetValue(), s) || strings.Contains(l.GetValue(), s[:16]) {
							t.Errorf("%s has label %s=%q", name, l.GetName(), l.GetValue())
						}
					}
				}
			}
		}
	}

	// Cut node0 off: with three of four validators down no block commits, and once its last
	// block is older than the staleness bound (10 s on loopback) it is unhealthy.
	for i := 1; i < nw.Size(); i++ {
		if err := nw.StopNode(i); err != nil {
			t.Fatal(err)
		}
	}
	waitHealth(t, ctx, nodes[0].Settings().APIAddr, http.StatusServiceUnavailable, node.HealthStale)
}

// waitHealth waits until GET /v1/health at api answers code with status.
func waitHealth(t *testing.T, ctx context.Context, api string, code int, status string) {
	t.Helper()
	eventually(t, ctx, func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+api+"/v1/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var h node.Health
		if err := json.Unmarshal(b, &h); err != nil {
			return fmt.Errorf("health body %q: %v", b, err)
		}
		if resp.StatusCode != code || h.Status != status {
			return fmt.Errorf("health: HTTP %d %s, want %d %s", resp.StatusCode, b, code, status)
		}
		return nil
	})
}

// eventually retries check until it passes or ctx ends, and fails the test with its last error.
func eventually(t *testing.T, ctx context.Context, check func() error) {
	t.Helper()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%v (gave up: %v)", err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
